// ipcguard.c: keeps ipc:// listeners accepting.
//
// nng 1.5.2 (Debian bookworm's libnng) has a bug in its IPC transport: a
// peer that disconnects during the SP handshake makes the listener stop
// accepting for good (nanomsg/nng#1518, fixed upstream in 1.6.0), so one
// `nc -U` against the socket would lock every new client out while
// existing connections keep working. Until the distribution's nng has the
// fix, a guard thread calls Health through each ipc listener every
// second; when the listener does not answer, it is closed and
// opened again. Clients caught in between see their connection reset and
// reconnect (nng dialers do so by themselves).
//
// A probe that gets no answer is not proof on its own: on a loaded machine
// (or under a sanitizer) Health may take longer than the probe waits. A
// wedged listener takes no new pipe at all, so a probe during which the
// socket took a local pipe (the probe's own, or another local client's)
// shows the listener accepts: it is not counted as a failure. Tearing a
// working listener down would refuse every local client meanwhile.
#include <errno.h>
#include <nng/nng.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "internal.h"
#include "log.h"

#define PROBE_INTERVAL_MS 1000
#define PROBE_TIMEOUT_MS  3000
// Consecutive failed probes before a listener is reopened: a daemon that
// is merely slow (a loaded machine, a sanitizer build) must not have its
// listener torn down under its clients.
#define PROBE_FAILURES 3

// The probe speaks nng's wire protocol itself (i21-idle) over a plain
// Unix socket: the SP header ("\0SP\0", protocol, two zero bytes; REQ is
// 0x30, REP 0x31), then one message framed as nng's IPC transport frames
// it (type 1, 64-bit big-endian length), whose body starts with the REQ
// request id (high bit set), which the reply carries back. An nng REQ
// socket opened, dialled and closed every second cost about as much CPU
// as the rest of an idle svcfleetd: its own socket, dialer, pipe and
// reaper, and its dialer's socket in nng's poller before connect().
#define SP_PROTO_REQ 0x30
#define SP_PROTO_REP 0x31
#define PROBE_ID     0x80000001u

// io_full reads (want_read) or writes n bytes of buf by the deadline
// (mono ms).
static bool
io_full(int fd, void *buf, size_t n, bool want_read, int64_t deadline)
{
	uint8_t *p = buf;
	while (n > 0) {
		struct pollfd pfd  = {fd, want_read ? POLLIN : POLLOUT, 0};
		int64_t       left = deadline - sf_clock_mono_ms();
		ssize_t       r;
		if (left <= 0) {
			return (false);
		}
		r = poll(&pfd, 1, (int) left);
		if (r < 0 && errno == EINTR) {
			continue;
		}
		if (r <= 0) {
			return (false);
		}
		r = want_read ? read(fd, p, n) : send(fd, p, n, MSG_NOSIGNAL);
		if (r < 0 && (errno == EINTR || errno == EAGAIN)) {
			continue;
		}
		if (r <= 0) {
			return (false);
		}
		p += r;
		n -= (size_t) r;
	}
	return (true);
}

static void
put_be(uint8_t *p, uint64_t v, int n)
{
	for (int i = n - 1; i >= 0; i--) {
		p[i] = (uint8_t) (v & 0xff);
		v >>= 8;
	}
}

static uint64_t
get_be(const uint8_t *p, int n)
{
	uint64_t v = 0;
	for (int i = 0; i < n; i++) {
		v = (v << 8) | p[i];
	}
	return (v);
}

// Asks the listener for Health over a fresh connection, as a client would.
// The transport may still complete its handshake when the bug has struck
// (the socket core no longer takes the new pipe), so only a reply proves
// the listener works.
static bool
probe(const char *url)
{
	Svcfleet__V1__RequestEnvelope env
	    = SVCFLEET__V1__REQUEST_ENVELOPE__INIT;
	uint8_t            out[8 + 9 + 4 + 128], in[9 + 4];
	struct sockaddr_un sa   = {.sun_family = AF_UNIX};
	const char        *path = url + 6; // after "ipc://"
	int64_t            deadline;
	int                fd;
	bool               ok;

	env.method     = "/svcfleet.v1.System/Health";
	env.request_id = "";
	if (svcfleet__v1__request_envelope__get_packed_size(&env) > 128
	    || strlen(path) >= sizeof(sa.sun_path)) {
		return (true); // not something this probe can ask
	}
	size_t n = svcfleet__v1__request_envelope__pack(&env, out + 21);
	memcpy(out, "\0SP\0", 4);
	put_be(out + 4, SP_PROTO_REQ, 2);
	put_be(out + 6, 0, 2);
	out[8] = 1;
	put_be(out + 9, 4 + n, 8);
	put_be(out + 17, PROBE_ID, 4);
	memcpy(sa.sun_path, path, strlen(path));
	if ((fd = socket(
	         AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0))
	    < 0) {
		return (true); // out of resources: not the listener's fault
	}
	deadline = sf_clock_mono_ms() + PROBE_TIMEOUT_MS;
	// A Unix socket connects at once or not at all (EAGAIN: the
	// listener's backlog is full, it is not accepting).
	ok = connect(fd, (struct sockaddr *) &sa, sizeof(sa)) == 0
	    && io_full(fd, out, 21 + n, false, deadline)
	    && io_full(fd, in, 8, true, deadline)
	    && memcmp(in, "\0SP\0", 4) == 0
	    && get_be(in + 4, 2) == SP_PROTO_REP && get_be(in + 6, 2) == 0
	    && io_full(fd, in, 9 + 4, true, deadline) && in[0] == 1
	    && get_be(in + 1, 8) >= 4 && get_be(in + 9, 4) == PROBE_ID;
	close(fd);
	return (ok);
}

static void *
guard_main(void *arg)
{
	sf_server *srv       = arg;
	int        fails[64] = {0};

	pthread_mutex_lock(&srv->s_guard_mtx);
	while (!srv->s_guard_stop) {
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_sec += PROBE_INTERVAL_MS / 1000;
		pthread_cond_timedwait(
		    &srv->s_guard_cv, &srv->s_guard_mtx, &ts);
		if (srv->s_guard_stop) {
			break;
		}
		for (size_t i = 0; i < srv->s_nlisteners && i < 64; i++) {
			const char *url = srv->s_urls[i];
			if (strncmp(url, "ipc://", 6) != 0) {
				continue;
			}
			uint64_t before = atomic_load(&srv->s_local_pipes);
			pthread_mutex_unlock(&srv->s_guard_mtx);
			bool ok = probe(url)
			    || atomic_load(&srv->s_local_pipes) != before;
			pthread_mutex_lock(&srv->s_guard_mtx);
			fails[i] = ok ? 0 : fails[i] + 1;
			if (fails[i] < PROBE_FAILURES || srv->s_guard_stop) {
				continue;
			}
			fails[i] = 0;
			SF_WARN("server",
			    "%s stopped accepting connections (nng 1.5.2 "
			    "IPC bug, nanomsg/nng#1518); reopening it",
			    url);
			nng_listener_close(srv->s_listeners[i]);
			sf_status st;
			sf_status_init(&st);
			if (sf__srv_listener_open(
			        srv, url, &srv->s_listeners[i], &st)
			    != 0) {
				SF_ERROR("server", "reopening %s failed: %s",
				    url, st.st_msg);
			}
			sf_status_fini(&st);
		}
	}
	pthread_mutex_unlock(&srv->s_guard_mtx);
	return (NULL);
}

int
sf__srv_ipcguard_start(sf_server *srv)
{
	bool any = false;
	for (size_t i = 0; i < srv->s_nlisteners; i++) {
		any = any || strncmp(srv->s_urls[i], "ipc://", 6) == 0;
	}
	if (!any) {
		return (0);
	}
	pthread_mutex_init(&srv->s_guard_mtx, NULL);
	pthread_cond_init(&srv->s_guard_cv, NULL);
	if (pthread_create(&srv->s_guard, NULL, guard_main, srv) != 0) {
		pthread_mutex_destroy(&srv->s_guard_mtx);
		pthread_cond_destroy(&srv->s_guard_cv);
		return (SF_RESOURCE_EXHAUSTED);
	}
	srv->s_guard_running = true;
	return (0);
}

void
sf__srv_ipcguard_stop(sf_server *srv)
{
	if (!srv->s_guard_running) {
		return;
	}
	pthread_mutex_lock(&srv->s_guard_mtx);
	srv->s_guard_stop = true;
	pthread_cond_signal(&srv->s_guard_cv);
	pthread_mutex_unlock(&srv->s_guard_mtx);
	pthread_join(srv->s_guard, NULL);
	pthread_mutex_destroy(&srv->s_guard_mtx);
	pthread_cond_destroy(&srv->s_guard_cv);
	srv->s_guard_running = false;
}
