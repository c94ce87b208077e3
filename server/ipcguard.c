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
#include <nng/nng.h>
#include <nng/protocol/reqrep0/req.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "internal.h"
#include "log.h"

#define PROBE_INTERVAL_MS 1000
#define PROBE_TIMEOUT_MS  3000
// Consecutive failed probes before a listener is reopened: a daemon that
// is merely slow (a loaded machine, a sanitizer build) must not have its
// listener torn down under its clients.
#define PROBE_FAILURES 3

// Asks the listener for Health over a fresh connection, as a client would.
// The transport may still complete its handshake when the bug has struck
// (the socket core no longer takes the new pipe), so only a reply proves
// the listener works.
static bool
probe(const char *url)
{
	Svcfleet__V1__RequestEnvelope env
	    = SVCFLEET__V1__REQUEST_ENVELOPE__INIT;
	uint8_t    buf[128];
	nng_socket s;
	nng_msg   *m = NULL;
	bool       ok;

	env.method     = "/svcfleet.v1.System/Health";
	env.request_id = "";
	if (svcfleet__v1__request_envelope__get_packed_size(&env)
	    > sizeof(buf)) {
		return (true);
	}
	size_t n = svcfleet__v1__request_envelope__pack(&env, buf);
	if (nng_req0_open(&s) != 0) {
		return (true); // out of resources: not the listener's fault
	}
	nng_socket_set_ms(s, NNG_OPT_RECVTIMEO, PROBE_TIMEOUT_MS);
	nng_socket_set_ms(s, NNG_OPT_SENDTIMEO, PROBE_TIMEOUT_MS);
	ok = nng_dial(s, url, NULL, 0) == 0 && nng_send(s, buf, n, 0) == 0
	    && nng_recvmsg(s, &m, 0) == 0;
	if (m != NULL) {
		nng_msg_free(m);
	}
	nng_close(s);
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
