// hostile_net_test.c: hostile peers on svcfleetd's RPC port (TCP) and its
// HTTP endpoint while a well-behaved client keeps calling, and measures
// what it gets: random bytes, truncated frames, many idle connections,
// slow senders, oversized messages and headers. Every call of the
// well-behaved client must be answered, and quickly; svcfleetd must stop
// cleanly afterwards (under ASan, with no leak).
//
// The attackers connect from 127.0.0.2, the well-behaved client from
// 127.0.0.1: limits per peer address are what keep one hostile host from
// using up what the others need.
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"
#include "svcfleet/svcfleet.h"

#define ATTACKER "127.0.0.2"

typedef struct fixture {
	th_fixture fx; // first: th_teardown frees the fixture
	int        rpc_port;
	int        http_port;
} fixture;

static int64_t
now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ((int64_t) ts.tv_sec * 1000000 + ts.tv_nsec / 1000);
}

// ------------------------------------------------------- the good client

typedef struct probe {
	pthread_t   p_thread;
	atomic_bool p_stop;
	char        p_url[128];
	char        p_http[128];
	const char *p_token;
	// Results.
	int     p_calls, p_failed, p_http_calls, p_http_failed;
	int64_t p_max_us, p_http_max_us;
	int64_t p_lat[100000];
	int64_t p_http_lat[10000];
	char    p_last_error[700];
} probe;

// One HTTP GET /healthz from 127.0.0.1; true on "200".
static bool
http_healthz(const char *hostport, int timeout_ms)
{
	struct sockaddr_in sa = {.sin_family = AF_INET};
	char               req[128], buf[256];
	const char        *colon = strrchr(hostport, ':');
	int                fd    = socket(AF_INET, SOCK_STREAM, 0);
	ssize_t            n     = 0;
	bool               ok    = false;

	sa.sin_port = htons((uint16_t) atoi(colon + 1));
	inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
	struct timeval tv = {timeout_ms / 1000, (timeout_ms % 1000) * 1000};
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	if (connect(fd, (struct sockaddr *) &sa, sizeof(sa)) == 0) {
		snprintf(req, sizeof(req),
		    "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: "
		    "close\r\n\r\n");
		if (write(fd, req, strlen(req)) == (ssize_t) strlen(req)) {
			n = read(fd, buf, sizeof(buf) - 1);
		}
		if (n > 12) {
			buf[n] = '\0';
			ok     = strncmp(buf + 9, "200", 3) == 0;
		}
	}
	close(fd);
	return (ok);
}

static void *
probe_main(void *arg)
{
	probe           *p = arg;
	svcfleet_client *c = NULL;
	svcfleet_status  st;
	svcfleet_options o = {.url = p->p_url,
	    .token                 = p->p_token,
	    .timeout_ms            = 5000,
	    .connect_now           = true};

	svcfleet_status_init(&st);
	if (svcfleet_open(&c, &o, &st) != 0) {
		snprintf(p->p_last_error, sizeof(p->p_last_error), "open: %s",
		    st.message);
		p->p_failed++;
		return (NULL);
	}
	while (!atomic_load(&p->p_stop)) {
		Svcfleet__V1__ServiceKey k = SVCFLEET__V1__SERVICE_KEY__INIT;
		Svcfleet__V1__GetServiceRequest g
		    = SVCFLEET__V1__GET_SERVICE_REQUEST__INIT;
		Svcfleet__V1__Service *out = NULL;
		k.cluster                  = "east";
		k.namespace_               = "default";
		k.name                     = "missing";
		g.key                      = &k;
		int64_t t0                 = now_us();
		int     rv = svcfleet_get_service(c, &g, &out, &st);
		int64_t dt = now_us() - t0;
		svcfleet_free(out);
		if (rv != SVCFLEET_NOT_FOUND) {
			p->p_failed++;
			snprintf(p->p_last_error, sizeof(p->p_last_error),
			    "GetService: %s: %s", svcfleet_code_name(rv),
			    st.message);
		}
		if (p->p_calls
		    < (int) (sizeof(p->p_lat) / sizeof(p->p_lat[0]))) {
			p->p_lat[p->p_calls] = dt;
		}
		p->p_calls++;
		if (dt > p->p_max_us) {
			p->p_max_us = dt;
		}
		if (p->p_calls % 50 == 0) {
			// A new client: connections are still accepted.
			svcfleet_client    *c2 = NULL;
			Svcfleet__V1__Empty e  = SVCFLEET__V1__EMPTY__INIT;
			Svcfleet__V1__HealthReply *h = NULL;
			if (svcfleet_open(&c2, &o, &st) != 0
			    || svcfleet_health(c2, &e, &h, &st) != 0) {
				p->p_failed++;
				snprintf(p->p_last_error,
				    sizeof(p->p_last_error),
				    "new connection: %s", st.message);
			}
			svcfleet_free(h);
			svcfleet_close(c2);
		}
		if (p->p_calls % 20 == 0) {
			t0 = now_us();
			p->p_http_calls++;
			if (!http_healthz(p->p_http, 5000)) {
				p->p_http_failed++;
			}
			dt = now_us() - t0;
			if (p->p_http_calls <= (int) (sizeof(p->p_http_lat)
			        / sizeof(p->p_http_lat[0]))) {
				p->p_http_lat[p->p_http_calls - 1] = dt;
			}
			if (dt > p->p_http_max_us) {
				p->p_http_max_us = dt;
			}
		}
		usleep(2000);
	}
	svcfleet_close(c);
	svcfleet_status_fini(&st);
	return (NULL);
}

static int
cmp64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *) a, y = *(const int64_t *) b;
	return (x < y ? -1 : x > y);
}

// ------------------------------------------------------------ attackers

// A TCP connection from the attacker address to port; -1 when refused.
static int
attacker_connect(int port, bool nonblock)
{
	struct sockaddr_in src = {.sin_family = AF_INET};
	struct sockaddr_in dst = {.sin_family = AF_INET};
	int                fd  = socket(AF_INET, SOCK_STREAM, 0);

	inet_pton(AF_INET, ATTACKER, &src.sin_addr);
	inet_pton(AF_INET, "127.0.0.1", &dst.sin_addr);
	dst.sin_port = htons((uint16_t) port);
	if (fd < 0 || bind(fd, (struct sockaddr *) &src, sizeof(src)) != 0
	    || connect(fd, (struct sockaddr *) &dst, sizeof(dst)) != 0) {
		if (fd >= 0) {
			close(fd);
		}
		return (-1);
	}
	if (nonblock) {
		fcntl(fd, F_SETFL, O_NONBLOCK);
	}
	return (fd);
}

// The SP header a REQ peer sends on TCP (protocol REQ = 0x30, expecting
// REP = 0x31).
static const uint8_t sp_req_header[8] = {0, 'S', 'P', 0, 0, 0x30, 0, 0};

static void
put_be64(uint8_t *p, uint64_t v)
{
	for (int i = 7; i >= 0; i--) {
		p[i] = (uint8_t) v;
		v >>= 8;
	}
}

static void
write_all(int fd, const void *buf, size_t n)
{
	const uint8_t *p = buf;
	while (n > 0) {
		ssize_t w = write(fd, p, n);
		if (w <= 0) {
			return; // the server closed it: fine
		}
		p += w;
		n -= (size_t) w;
	}
}

typedef struct phase {
	const char *name;
	void (*run)(fixture *f, int seconds);
} phase;

static void
random_bytes(fixture *f, int seconds)
{
	int64_t until = now_us() + (int64_t) seconds * 1000000;
	uint8_t buf[4096];
	int     k = 0;
	while (now_us() < until) {
		int fd = attacker_connect(f->rpc_port, false);
		if (fd < 0) {
			usleep(10000);
			continue;
		}
		for (size_t i = 0; i < sizeof(buf); i++) {
			buf[i] = (uint8_t) rand();
		}
		if (k++ % 2 == 0) {
			// A valid SP header, then junk.
			memcpy(buf, sp_req_header, 8);
		}
		write_all(fd, buf, sizeof(buf));
		close(fd);
		fd = attacker_connect(f->http_port, false);
		if (fd >= 0) {
			write_all(fd, buf, 1024);
			close(fd);
		}
		usleep(5000);
	}
}

// Frames that announce more than they carry, then linger or leave.
static void
truncated_frames(fixture *f, int seconds)
{
	int     fds[64], n = 0;
	int64_t until = now_us() + (int64_t) seconds * 1000000;
	while (now_us() < until && n < 64) {
		int     fd = attacker_connect(f->rpc_port, false);
		uint8_t hdr[8 + 8 + 16];
		if (fd < 0) {
			usleep(10000);
			continue;
		}
		memcpy(hdr, sp_req_header, 8);
		put_be64(hdr + 8, 1000 + (uint64_t) n); // announced length
		memset(hdr + 16, 'x', 16);              // 16 of them sent
		write_all(fd, hdr, sizeof(hdr));
		if (n % 2 == 0) {
			close(fd); // and gone
		} else {
			fds[n] = fd; // or lingering
		}
		n++;
		usleep(20000);
	}
	while (now_us() < until) {
		usleep(50000);
	}
	for (int i = 1; i < n; i += 2) {
		close(fds[i]);
	}
}

// Many idle connections, half with a finished SP handshake (pipes the
// server counts), half that never say anything; on the HTTP endpoint too.
static void
idle_connections(fixture *f, int seconds)
{
	// More than --max-connections-per-peer (a quarter of 1024) finish
	// the handshake: the rest of the server's connections stay for
	// others, and the probe keeps opening new ones.
	enum { N = 800 };
	static int fds[N * 2];
	int        n = 0;
	for (int i = 0; i < N; i++) {
		int fd = attacker_connect(f->rpc_port, true);
		if (fd >= 0) {
			if (i % 4 != 3) {
				write_all(fd, sp_req_header, 8);
			}
			fds[n++] = fd;
		}
		if (i % 4 == 0
		    && (fd = attacker_connect(f->http_port, true)) >= 0) {
			fds[n++] = fd;
		}
	}
	usleep((useconds_t) seconds * 1000000);
	for (int i = 0; i < n; i++) {
		close(fds[i]);
	}
}

// A request trickled a byte at a time; and an HTTP request whose headers
// never end.
static void
slow_senders(fixture *f, int seconds)
{
	enum { N = 24 };
	int     fds[N], hfds[N];
	uint8_t msg[8 + 8 + 64];
	memcpy(msg, sp_req_header, 8);
	put_be64(msg + 8, 64 + 4);
	memset(msg + 16, 0x0a, sizeof(msg) - 16);
	for (int i = 0; i < N; i++) {
		fds[i]  = attacker_connect(f->rpc_port, true);
		hfds[i] = attacker_connect(f->http_port, true);
	}
	int64_t until = now_us() + (int64_t) seconds * 1000000;
	size_t  at    = 0;
	while (now_us() < until) {
		for (int i = 0; i < N; i++) {
			if (fds[i] >= 0 && at < sizeof(msg)) {
				ssize_t w = write(fds[i], msg + at, 1);
				(void) w;
			}
			if (hfds[i] >= 0) {
				const char *h = at == 0
				    ? "GET /healthz HTTP/1.1\r\n"
				    : "X-Slow: a\r\n";
				ssize_t     w = write(hfds[i], h, strlen(h));
				(void) w;
			}
		}
		at++;
		usleep(100000);
	}
	for (int i = 0; i < N; i++) {
		if (fds[i] >= 0) {
			close(fds[i]);
		}
		if (hfds[i] >= 0) {
			close(hfds[i]);
		}
	}
}

// A frame announcing 1 GiB (over the wire limit), a real request of 6 MiB
// (over --max-message-size), HTTP headers of 1 MiB and a 16 MiB body.
static void
oversized(fixture *f, int seconds)
{
	int64_t  until = now_us() + (int64_t) seconds * 1000000;
	size_t   big   = 6u << 20;
	uint8_t *buf   = malloc(big + 16);
	memset(buf, 'z', big + 16);
	while (now_us() < until) {
		int fd = attacker_connect(f->rpc_port, false);
		if (fd >= 0) {
			uint8_t hdr[16];
			memcpy(hdr, sp_req_header, 8);
			put_be64(hdr + 8, 1ull << 30);
			write_all(fd, hdr, sizeof(hdr));
			write_all(fd, buf, 65536);
			close(fd);
		}
		fd = attacker_connect(f->rpc_port, false);
		if (fd >= 0) {
			memcpy(buf, sp_req_header, 8);
			put_be64(buf + 8, big);
			write_all(fd, buf, 16 + big);
			close(fd);
		}
		fd = attacker_connect(f->http_port, false);
		if (fd >= 0) {
			const char *h = "GET /healthz HTTP/1.1\r\nX-Big: ";
			write_all(fd, h, strlen(h));
			write_all(fd, buf + 16, 1u << 20);
			close(fd);
		}
		fd = attacker_connect(f->http_port, false);
		if (fd >= 0) {
			const char *h = "POST /metrics HTTP/1.1\r\nHost: x\r\n"
			                "Content-Length: 16777216\r\n\r\n";
			write_all(fd, h, strlen(h));
			write_all(fd, buf + 16, big);
			close(fd);
		}
	}
	free(buf);
}

// ----------------------------------------------------------------- test

// What a phase measured for the well-behaved client: its RPC p99 and
// its median /healthz time.
typedef struct phase_result {
	int64_t r_p99_us;
	int64_t r_http_p50_us;
} phase_result;

// A phase's own time is over this bound when it is more than 5 times the
// quiet phase's plus 250 ms. Every call must still be answered within its
// 5 s deadline; beyond that, what shows an attacker slowing everyone is
// many slow calls (a p99 or a median), not one late call, which a busy
// machine makes now and then (one /healthz took 2.5 s under TSan at load
// 18 with no attack to blame; issue 13).
static int64_t
slow_bound(int64_t quiet_us)
{
	return (quiet_us * 5 + 250000);
}

static phase_result
run_phase(fixture *f, const phase *ph, int seconds, const phase_result *quiet)
{
	probe *p = calloc(1, sizeof(*p));
	snprintf(
	    p->p_url, sizeof(p->p_url), "tcp://127.0.0.1:%d", f->rpc_port);
	snprintf(p->p_http, sizeof(p->p_http), "127.0.0.1:%d", f->http_port);
	p->p_token = f->fx.tf_srv.ts_token;
	assert_int_equal(pthread_create(&p->p_thread, NULL, probe_main, p), 0);
	usleep(200000);
	ph->run(f, seconds);
	atomic_store(&p->p_stop, true);
	pthread_join(p->p_thread, NULL);

	int n = p->p_calls < 100000 ? p->p_calls : 100000;
	qsort(p->p_lat, (size_t) n, sizeof(int64_t), cmp64);
	// The p99 is never the slowest call alone: a phase in which the
	// attacker's own work starves the probe of the CPU makes few calls
	// (89 in a loaded ASan run, where n * 99 / 100 is the last), and one
	// late call is what a busy machine makes now and then.
	int     i99 = n * 99 / 100 < n - 2 ? n * 99 / 100 : n - 2;
	int64_t p50 = n ? p->p_lat[n / 2] : 0,
	        p99 = n ? p->p_lat[i99 > 0 ? i99 : 0] : 0;
	int hn      = p->p_http_calls < 10000 ? p->p_http_calls : 10000;
	qsort(p->p_http_lat, (size_t) hn, sizeof(int64_t), cmp64);
	int64_t hp50 = hn ? p->p_http_lat[hn / 2] : 0;
	printf("%-17s RPC: %5d calls, %d failed, p50 %6.2f ms, p99 %7.2f ms, "
	       "max %7.2f ms; HTTP /healthz: %3d calls, %d failed, p50 %6.2f "
	       "ms, max %7.2f ms\n",
	    ph->name, p->p_calls, p->p_failed, (double) p50 / 1000,
	    (double) p99 / 1000, (double) p->p_max_us / 1000, p->p_http_calls,
	    p->p_http_failed, (double) hp50 / 1000,
	    (double) p->p_http_max_us / 1000);
	fflush(stdout);
	if (p->p_failed > 0) {
		fail_msg(
		    "%s: the well-behaved client failed %d of %d calls: %s",
		    ph->name, p->p_failed, p->p_calls, p->p_last_error);
	}
	assert_true(p->p_calls > 10);
	assert_true(p->p_http_calls > 0);
	assert_int_equal(p->p_http_failed, 0);
	phase_result r = {p99, hp50};
	free(p);
	if (quiet != NULL) {
		// Answered in time, compared with the quiet phase of this run.
		if (r.r_p99_us > slow_bound(quiet->r_p99_us)) {
			fail_msg("%s: RPC p99 %.2f ms, over 5 x the quiet "
			         "phase's %.2f ms + 250 ms",
			    ph->name, (double) r.r_p99_us / 1000,
			    (double) quiet->r_p99_us / 1000);
		}
		if (r.r_http_p50_us > slow_bound(quiet->r_http_p50_us)) {
			fail_msg("%s: /healthz median %.2f ms, over 5 x the "
			         "quiet phase's %.2f ms + 250 ms",
			    ph->name, (double) r.r_http_p50_us / 1000,
			    (double) quiet->r_http_p50_us / 1000);
		}
	}
	return (r);
}

// The quiet phase: no attacker, the baseline the others are held to.
static void
no_attack(fixture *f, int seconds)
{
	(void) f;
	usleep((useconds_t) seconds * 1000000);
}

static void
test_hostile_peers(void **state)
{
	fixture           *f        = *state;
	static const phase phases[] = {
	    {"random bytes", random_bytes},
	    {"truncated frames", truncated_frames},
	    {"idle connections", idle_connections},
	    {"slow senders", slow_senders},
	    {"oversized", oversized},
	};
	int seconds = getenv("SF_HOSTILE_SECONDS")
	    ? atoi(getenv("SF_HOSTILE_SECONDS"))
	    : 3;

	static const phase quiet_phase = {"no attack", no_attack};
	phase_result       quiet = run_phase(f, &quiet_phase, seconds, NULL);
	for (size_t i = 0; i < sizeof(phases) / sizeof(phases[0]); i++) {
		run_phase(f, &phases[i], seconds, &quiet);
	}
}

// Finds "listening on tcp://127.0.0.1:PORT" in the daemon's log.
static int
find_tcp_port(th_server *s)
{
	char *log  = th_read_file(s->ts_log, NULL), *p;
	int   port = 0;
	if (log != NULL
	    && (p = strstr(log, "listening on tcp://127.0.0.1:")) != NULL) {
		port = atoi(p + strlen("listening on tcp://127.0.0.1:"));
	}
	free(log);
	return (port);
}

static int
setup(void **state)
{
	fixture    *f       = calloc(1, sizeof(*f));
	const char *extra[] = {"--listen", "tcp://127.0.0.1:0", NULL};

	// Only the attackers' address may be refused by a per-peer limit:
	// check the loopback alias exists (it does on Linux).
	int fd = attacker_connect(1, false);
	if (fd >= 0) {
		close(fd);
	}
	if (th_fixture_setup(&f->fx, extra) != 0) {
		return (-1);
	}
	f->rpc_port       = find_tcp_port(&f->fx.tf_srv);
	const char *colon = strrchr(f->fx.tf_srv.ts_http, ':');
	f->http_port      = colon != NULL ? atoi(colon + 1) : 0;
	if (f->rpc_port == 0 || f->http_port == 0) {
		fprintf(stderr, "no tcp port (%d) or http port (%s)\n",
		    f->rpc_port, f->fx.tf_srv.ts_http);
		return (-1);
	}
	*state = f;
	return (0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_hostile_peers),
	};
	signal(SIGPIPE, SIG_IGN);
	return (cmocka_run_group_tests(tests, setup, th_teardown));
}
