// authfail.c: failed authentications (issue 17, finding 4).
//
// Every unauthenticated call used to be a durable audit record, so anyone
// who could reach the port could push the real records (of authenticated
// actions) out of the bounded audit log: 1.04 M calls without a token in
// 99 s did. Now a failed authentication is:
//   counted    always (svcfleet_auth_failures_total);
//   audited    once per source per AUDIT_INTERVAL_MS, the record saying how
//              many failures of that source it stands for, and at most
//              AUDIT_GLOBAL_MAX records per interval from all sources
//              together, so failures alone add at most
//              AUDIT_GLOBAL_MAX records a minute (86,400 a day against
//              the 1,000,000 kept by default);
//   logged     with the audit record only (a sampled line, not one per
//              call);
//   limited    per source: beyond a burst of FAIL_BURST failures, at
//              FAIL_RATE a second, a failure is answered RESOURCE_EXHAUSTED
//              (svcfleet_auth_limited_total). A valid token from the same
//              source is never refused by this.
// A source is the peer's IP address; local peers (ipc://, the in-process
// gateway and reconciler) are one source. Sources are kept in a small
// table; when it is full the least recently seen one is forgotten.
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "internal.h"
#include "log.h"

#define SOURCES_MAX       256
#define AUDIT_INTERVAL_MS (60 * 1000)
#define AUDIT_GLOBAL_MAX  60
#define FAIL_BURST        50.0
#define FAIL_RATE         20.0 // per second, refilled continuously

typedef struct af_source {
	uint64_t s_key;
	bool     s_used;
	double   s_tokens; // the bucket: failures still allowed now
	int64_t  s_seen_ms;
	int64_t  s_audit_ms;   // of its last record, 0: none yet
	uint64_t s_unrecorded; // failures since its last record
} af_source;

struct sf__srv_authfail {
	pthread_mutex_t a_mtx;
	af_source       a_src[SOURCES_MAX];
	int64_t         a_window_ms; // start of the global window
	unsigned        a_window_records;
};

int
sf__srv_authfail_init(sf_server *srv)
{
	struct sf__srv_authfail *a = calloc(1, sizeof(*a));
	if (a == NULL) {
		return (SF_RESOURCE_EXHAUSTED);
	}
	pthread_mutex_init(&a->a_mtx, NULL);
	srv->s_authfail = a;
	return (0);
}

void
sf__srv_authfail_fini(sf_server *srv)
{
	if (srv->s_authfail != NULL) {
		pthread_mutex_destroy(&srv->s_authfail->a_mtx);
		free(srv->s_authfail);
		srv->s_authfail = NULL;
	}
}

static af_source *
source_of(struct sf__srv_authfail *a, uint64_t key, int64_t now)
{
	af_source *old = &a->a_src[0];
	for (size_t i = 0; i < SOURCES_MAX; i++) {
		af_source *s = &a->a_src[i];
		if (s->s_used && s->s_key == key) {
			return (s);
		}
		if (!s->s_used
		    || (old->s_used && s->s_seen_ms < old->s_seen_ms)) {
			old = s;
		}
	}
	memset(old, 0, sizeof(*old));
	old->s_used    = true;
	old->s_key     = key;
	old->s_tokens  = FAIL_BURST;
	old->s_seen_ms = now;
	return (old);
}

enum af_verdict { AF_QUIET, AF_AUDIT, AF_LIMITED };

void
sf__srv_authfail(sf__srv_call *c)
{
	sf_server               *srv        = c->c_srv;
	struct sf__srv_authfail *a          = srv->s_authfail;
	int64_t                  now        = sf_clock_mono_ms();
	enum af_verdict          v          = AF_QUIET;
	uint64_t                 unrecorded = 0;
	af_source               *s;

	atomic_fetch_add(&srv->s_auth_failures, 1);
	pthread_mutex_lock(&a->a_mtx);
	s = source_of(a, c->c_peer, now);
	s->s_tokens += (double) (now - s->s_seen_ms) * FAIL_RATE / 1000.0;
	if (s->s_tokens > FAIL_BURST) {
		s->s_tokens = FAIL_BURST;
	}
	s->s_seen_ms = now;
	if (s->s_tokens < 1.0) {
		v = AF_LIMITED;
	} else {
		s->s_tokens -= 1.0;
	}
	if (now - a->a_window_ms >= AUDIT_INTERVAL_MS) {
		a->a_window_ms      = now;
		a->a_window_records = 0;
	}
	if (v != AF_LIMITED
	    && (s->s_audit_ms == 0 || now - s->s_audit_ms >= AUDIT_INTERVAL_MS)
	    && a->a_window_records < AUDIT_GLOBAL_MAX) {
		v               = AF_AUDIT;
		unrecorded      = s->s_unrecorded;
		s->s_audit_ms   = now;
		s->s_unrecorded = 0;
		a->a_window_records++;
	} else {
		s->s_unrecorded++;
	}
	pthread_mutex_unlock(&a->a_mtx);

	switch (v) {
	case AF_LIMITED:
		atomic_fetch_add(&srv->s_auth_limited, 1);
		sf_status_reset(&c->c_status);
		sf__srv_call_fail(c, SF_RESOURCE_EXHAUSTED,
		    "too many failed authentications from %s; retry later",
		    c->c_peer_text);
		return;
	case AF_AUDIT:
		atomic_fetch_add(&srv->s_auth_audited, 1);
		if (unrecorded > 0) {
			char why[SF_STATUS_MSG_MAX];
			snprintf(why, sizeof(why), "%s", c->c_status.st_msg);
			sf_status_reset(&c->c_status);
			sf_status_set(&c->c_status, SF_UNAUTHENTICATED,
			    "%s (from %s; and %llu more failed "
			    "authentications from there since the last "
			    "record)",
			    why, c->c_peer_text,
			    (unsigned long long) unrecorded);
		}
		sf__srv_call_deny(c); // logs and audits
		return;
	case AF_QUIET:
		// Counted; the next record of this source says how many.
		sf__srv_call_finish(c, NULL);
		return;
	}
}
