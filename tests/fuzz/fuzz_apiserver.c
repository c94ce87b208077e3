// fuzz_apiserver.c: what a Kubernetes API server answers, through the
// functions the reconciler's workers and svcfleetd's live reads use to read
// it (kube/kube.h "reading answers", and its "apply bodies" projection of a
// Service onto what svcfleet applied). Byte 0 picks what the rest is:
//
//   'w' SEED BODY   a watch stream, cut into chunks as SEED says and fed
//                   through sf_kube_lines_feed, each line an event
//   'l' BODY        a list page of Services, each item observed
//   'o' BODY        a Service as an apply or get answers it, observed
//   'e' DDD BODY    an error answer with HTTP status DDD (three digits)
//   'v' BODY        /version
//   'p' BODY        MetalLB IPAddressPools;  'k' BODY  kubefake's pools
//   'n' BODY        namespaces;  'd' BODY  Deployments (or any workloads)
//
// (any other byte picks one of them by its value). Beyond no crash, leak
// or undefined behaviour:
//   - cutting a stream into chunks never changes the lines it holds, which
//     are exactly its non-empty '\n'-separated pieces, up to the first
//     ERROR event (where the worker stops reading);
//   - an event has a known type; an object's key is "namespace/name"
//     exactly as the cluster named it, both names Kubernetes could give
//     (the worker builds request paths from it); a resourceVersion the
//     worker keeps fits where it keeps it;
//   - observing a Service is deterministic, does not depend on the order
//     of keys in the JSON, has a projection hash exactly when svcfleet's
//     Apply entry is in managedFields, and its facts (cluster IP, node ports,
//     ingress) read back as written, with ports in 1..65535;
//   - every message or version for a human or for svcfleetd is one line
//     of valid UTF-8 within its buffer (svcfleetd stores them as protobuf
//     strings);
//   - a list page is a list (taken as an empty one, anything else would
//     make the worker sweep every object away); pools, namespaces and
//     workloads come out in the shape their consumers read.
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arena.h"
#include "kube.h"
#include "buf.h"
#include "kube.h"
#include "model.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define OWNER   "inst-7f3a"
#define CLUSTER "east"

// Where the worker keeps what it reads (reconciler/worker.c).
#define WORKER_MSG_MAX     512
#define WORKER_VERSION_MAX 64

static void fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void
fail(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fputs("fuzz: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	abort();
}

// utf8_ok: s[0..n) is valid UTF-8 as JSON (and protobuf) require it: no
// overlong forms, no surrogates, nothing above U+10FFFF.
static bool
utf8_ok(const unsigned char *s, size_t n)
{
	size_t i = 0;
	while (i < n) {
		unsigned c = s[i], need, cp, min;
		if (c < 0x80) {
			i++;
			continue;
		} else if ((c & 0xe0) == 0xc0) {
			need = 1, cp = c & 0x1f, min = 0x80;
		} else if ((c & 0xf0) == 0xe0) {
			need = 2, cp = c & 0x0f, min = 0x800;
		} else if ((c & 0xf8) == 0xf0) {
			need = 3, cp = c & 0x07, min = 0x10000;
		} else {
			return (false);
		}
		for (unsigned k = 1; k <= need; k++) {
			if (i + k >= n || (s[i + k] & 0xc0) != 0x80) {
				return (false);
			}
			cp = cp << 6 | (s[i + k] & 0x3f);
		}
		if (cp < min || cp > 0x10ffff
		    || (cp >= 0xd800 && cp <= 0xdfff)) {
			return (false);
		}
		i += need + 1;
	}
	return (true);
}

// A line for a human or for svcfleetd: within cap, one line, UTF-8.
static void
check_line(const char *what, const char *s, size_t cap)
{
	size_t n = strnlen(s, cap);
	if (n == cap) {
		fail("%s is not terminated within its %zu bytes", what, cap);
	}
	if (memchr(s, '\n', n) != NULL || memchr(s, '\r', n) != NULL) {
		fail("%s is more than one line: \"%s\"", what, s);
	}
	if (!utf8_ok((const unsigned char *) s, n)) {
		fail("%s is not valid UTF-8: \"%s\"", what, s);
	}
}

// A name Kubernetes could give a namespace or a Service (DNS labels and
// subdomains: lower-case letters, digits, '-' and '.').
static bool
kube_name_ok(const char *s)
{
	size_t n = strlen(s);
	if (n == 0 || n > 253) {
		return (false);
	}
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')
		        || c == '-' || c == '.')) {
			return (false);
		}
	}
	return (true);
}

static void
check_meta(const sf_kube_meta *m)
{
	char key[2 * SF_KUBE_KEY_MAX];

	if (m->km_rv != NULL && m->km_rv[0] != '\0'
	    && strlen(m->km_rv) >= SF_KUBE_RV_MAX) {
		fail("resourceVersion \"%s\" does not fit the worker's %d "
		     "bytes",
		    m->km_rv, SF_KUBE_RV_MAX);
	}
	if (!m->km_has_key) {
		if (m->km_key[0] != '\0') {
			fail("a key \"%s\" without a name", m->km_key);
		}
		return;
	}
	if (m->km_ns == NULL || m->km_name == NULL) {
		fail("a key without namespace or name");
	}
	if (!kube_name_ok(m->km_ns) || !kube_name_ok(m->km_name)) {
		fail("an object named \"%s\"/\"%s\" is taken in", m->km_ns,
		    m->km_name);
	}
	snprintf(key, sizeof(key), "%s/%s", m->km_ns, m->km_name);
	if (strnlen(m->km_key, SF_KUBE_KEY_MAX) == SF_KUBE_KEY_MAX
	    || strcmp(key, m->km_key) != 0) {
		fail(
		    "key \"%s\" is not namespace/name \"%s\"", m->km_key, key);
	}
}

// Reads facts back into a ClusterStatus and writes them again: the format
// (kube.h) must say what it was given, ports in range.
static void
check_facts(const char *facts)
{
	sf_arena          a;
	sf_cluster_status cs;
	char             *again;

	sf_arena_init(&a);
	svcfleet__v1__cluster_status__init(&cs);
	if (sf_kube_facts_fill(facts, &cs, &a) != 0) {
		fail("facts \"%s\" do not read back", facts);
	}
	for (size_t i = 0; i < cs.n_node_ports; i++) {
		const Svcfleet__V1__AssignedPort *p = cs.node_ports[i];
		if (p->port < 1 || p->port > 65535 || p->node_port < 1
		    || p->node_port > 65535) {
			fail("facts \"%s\": port %d, node port %d", facts,
			    p->port, p->node_port);
		}
	}
	if ((again = sf_kube_facts_of_status(&cs)) == NULL) {
		fail("out of memory");
	}
	if (strcmp(again, facts) != 0) {
		fail("facts \"%s\" read back as \"%s\"", facts, again);
	}
	free(again);
	sf_arena_fini(&a);
}

static void
same_obs(const sf_kube_obs *a, const sf_kube_obs *b, const char *how)
{
	if (a->ob_hash != b->ob_hash || a->ob_owned != b->ob_owned
	    || a->ob_gen != b->ob_gen || a->ob_has_uid != b->ob_has_uid
	    || (a->ob_has_uid
	        && memcmp(a->ob_uid, b->ob_uid, sizeof(a->ob_uid)) != 0)
	    || a->ob_lb != b->ob_lb || a->ob_has_ingress != b->ob_has_ingress
	    || strcmp(a->ob_facts, b->ob_facts) != 0) {
		fail("observed differently %s: hash %016llx/%016llx facts "
		     "\"%s\"/\"%s\"",
		    how, (unsigned long long) a->ob_hash,
		    (unsigned long long) b->ob_hash, a->ob_facts, b->ob_facts);
	}
}

// Whether obj has managedFields entry of svcfleet's applies (a plain
// reading of kube.h's rule, to hold the projection hash against).
static bool
applied_by_svcfleet(const json_t *obj)
{
	json_t *mf = json_object_get(
	    json_object_get(obj, "metadata"), "managedFields");
	for (size_t i = 0; i < json_array_size(mf); i++) {
		json_t     *e = json_array_get(mf, i);
		const char *mg
		    = json_string_value(json_object_get(e, "manager"));
		const char *op
		    = json_string_value(json_object_get(e, "operation"));
		if (mg != NULL && op != NULL && strcmp(mg, "svcfleet") == 0
		    && strcmp(op, "Apply") == 0) {
			return (json_object_get(e, "fieldsV1") != NULL);
		}
	}
	return (false);
}

// A Service as the worker's observe() reads it.
static void
check_object(const json_t *obj)
{
	sf_kube_meta m;
	sf_kube_obs  a, b;
	int          ra, rb;

	sf_kube_meta_read(obj, &m);
	check_meta(&m);
	if (!m.km_has_key) {
		return; // the worker ignores it
	}
	ra = sf_kube_observe(obj, OWNER, CLUSTER, &a);
	rb = sf_kube_observe(obj, OWNER, CLUSTER, &b);
	if (ra != rb) {
		fail("observe returned %d, then %d", ra, rb);
	}
	if (ra == 0) {
		same_obs(&a, &b, "twice");
		if ((a.ob_hash != 0) != applied_by_svcfleet(obj)) {
			fail("projection hash %016llx, svcfleet's entry %s",
			    (unsigned long long) a.ob_hash,
			    applied_by_svcfleet(obj) ? "there" : "absent");
		}
		check_facts(a.ob_facts);
		// Key order is not part of a JSON object's value.
		char *sorted = json_dumps(obj, JSON_SORT_KEYS | JSON_COMPACT);
		json_t *again
		    = sorted != NULL ? json_loads(sorted, 0, NULL) : NULL;
		if (sorted != NULL && again == NULL) {
			fail(
			    "jansson's own output does not parse: %s", sorted);
		}
		if (again != NULL) {
			sf_kube_obs_fini(&b);
			if (sf_kube_observe(again, OWNER, CLUSTER, &b) != 0) {
				fail("observe fails once keys are sorted");
			}
			same_obs(&a, &b, "with sorted keys");
		}
		json_decref(again);
		free(sorted);
	}
	sf_kube_obs_fini(&a);
	sf_kube_obs_fini(&b);
}

// ------------------------------------------------------------ watch

typedef struct stream {
	uint64_t s_hash;  // of the lines delivered, in order
	size_t   s_lines; // delivered
	bool     s_check; // parse and check each line
	bool     s_ended; // an ERROR event ended the watch
} stream;

static uint64_t
hash_bytes(uint64_t h, const void *p, size_t n)
{
	const unsigned char *b = p;
	for (size_t i = 0; i < n; i++) {
		h = (h ^ b[i]) * UINT64_C(0x100000001b3);
	}
	return ((h ^ n) * UINT64_C(0x100000001b3));
}

// The worker's on_watch_line: parse, act on the type, stop at ERROR.
static bool
on_line(void *arg, const char *line, size_t len)
{
	stream       *s = arg;
	sf_kube_event ev;
	bool          go = true;

	if (len == 0 || memchr(line, '\n', len) != NULL || line[len] != '\0') {
		fail("a line of %zu bytes that is empty, not one line or "
		     "not terminated",
		    len);
	}
	s->s_hash = hash_bytes(s->s_hash, line, len);
	s->s_lines++;
	if (sf_kube_event_parse(&ev, line, len) != 0) {
		if (ev.ev_doc != NULL || ev.ev_object != NULL) {
			fail("a rejected line left an event behind");
		}
		sf_kube_event_fini(&ev);
		return (true);
	}
	if (ev.ev_type < SF_KUBE_EV_NONE || ev.ev_type > SF_KUBE_EV_UNKNOWN) {
		fail("event type %d", ev.ev_type);
	}
	if (s->s_check) {
		check_meta(&ev.ev_meta);
		switch (ev.ev_type) {
		case SF_KUBE_EV_ADDED:
		case SF_KUBE_EV_MODIFIED:
			check_object(ev.ev_object);
			break;
		default:
			break;
		}
	}
	if (ev.ev_type == SF_KUBE_EV_ERROR) {
		s->s_ended = true;
		go         = false;
	}
	sf_kube_event_fini(&ev);
	return (go);
}

// What a stream holds, computed without sf_kube_lines_feed: its non-empty
// '\n'-terminated pieces up to the first ERROR event.
static void
reference_lines(const char *p, size_t n, stream *s)
{
	size_t start = 0;
	for (size_t i = 0; i < n; i++) {
		if (p[i] != '\n') {
			continue;
		}
		if (i > start) {
			char *line = malloc(i - start + 1);
			memcpy(line, p + start, i - start);
			line[i - start] = '\0';
			bool go         = on_line(s, line, i - start);
			free(line);
			if (!go) {
				return;
			}
		}
		start = i + 1;
	}
}

// Feeds p[0..n) in chunks whose sizes follow from seed (0: all at once).
static void
feed(const char *p, size_t n, unsigned seed, stream *s)
{
	sf_buf   partial = SF_BUF_INIT;
	uint32_t x       = seed * 2654435761u + 1;
	size_t   at      = 0;
	bool     go      = true;

	while (go && at < n) {
		size_t k = n - at;
		if (seed != 0) {
			x = x * 1103515245u + 12345u;
			k = 1 + (x >> 16) % (seed % 2 ? 7 : 97);
			k = k < n - at ? k : n - at;
		}
		go = sf_kube_lines_feed(&partial, p + at, k, on_line, s);
		at += k;
	}
	sf_buf_fini(&partial);
}

static void
fuzz_watch(const char *p, size_t n, unsigned seed)
{
	stream whole = {.s_check = true}, cut = {0}, ref = {0};

	feed(p, n, 0, &whole);
	feed(p, n, seed == 0 ? 1 : seed, &cut);
	reference_lines(p, n, &ref);
	if (whole.s_hash != cut.s_hash || whole.s_lines != cut.s_lines
	    || whole.s_ended != cut.s_ended) {
		fail("cut into chunks (seed %u) the stream gave %zu lines, "
		     "whole %zu",
		    seed, cut.s_lines, whole.s_lines);
	}
	if (whole.s_hash != ref.s_hash || whole.s_lines != ref.s_lines) {
		fail("the stream gave %zu lines, it holds %zu", whole.s_lines,
		    ref.s_lines);
	}
}

// ------------------------------------------------------------ the rest

static void
fuzz_list(const char *p, size_t n)
{
	sf_kube_list l;

	if (sf_kube_list_parse(&l, p, n) != 0) {
		if (l.li_doc != NULL || l.li_items != NULL) {
			fail("a rejected page left a list behind");
		}
		sf_kube_list_fini(&l);
		return;
	}
	if (!json_is_array(l.li_items) && !json_is_null(l.li_items)) {
		// The worker would sweep every object as gone.
		fail("a page without a list of items is taken as a list");
	}
	if (l.li_rv != NULL && l.li_rv[0] != '\0'
	    && strlen(l.li_rv) >= SF_KUBE_RV_MAX) {
		fail("list resourceVersion \"%s\" does not fit", l.li_rv);
	}
	if (l.li_continue != NULL) {
		(void) strlen(l.li_continue);
	}
	for (size_t i = 0; i < json_array_size(l.li_items); i++) {
		check_object(json_array_get(l.li_items, i));
	}
	sf_kube_list_fini(&l);
}

static void
fuzz_object(const char *p, size_t n)
{
	json_t *obj = sf_kube_json_parse(p, n);
	if (obj != NULL) {
		check_object(obj);
	}
	json_decref(obj);
}

static void
fuzz_error(const char *p, size_t n)
{
	static const size_t caps[] = {WORKER_MSG_MAX, 400, 17, 1};
	long                code   = 0;
	char                msg[WORKER_MSG_MAX], again[WORKER_MSG_MAX];
	int                 cls;

	for (size_t i = 0; i < 3; i++) {
		code = code * 10
		    + (i < n ? (long) ((unsigned char) (p[i] - '0') % 10) : 0);
	}
	p += n < 3 ? n : 3;
	n -= n < 3 ? n : 3;
	cls = sf_kube_code_class(code);
	if (cls < SF_KUBE_OK || cls > SF_KUBE_SERVER
	    || (cls == SF_KUBE_OK) != (code >= 200 && code < 300)) {
		fail("HTTP %ld is class %d", code, cls);
	}
	for (size_t i = 0; i < sizeof(caps) / sizeof(caps[0]); i++) {
		sf_kube_error_message(code, p, n, msg, caps[i]);
		check_line("an error message", msg, caps[i]);
		if (caps[i] > 1 && msg[0] == '\0') {
			fail("HTTP %ld: an empty message", code);
		}
		sf_kube_error_message(code, p, n, again, caps[i]);
		if (strcmp(msg, again) != 0) {
			fail("error message \"%s\", then \"%s\"", msg, again);
		}
	}
}

static void
fuzz_version(const char *p, size_t n)
{
	char v[WORKER_VERSION_MAX], small[8];
	int  rv = sf_kube_version_parse(p, n, v, sizeof(v));
	if (rv != 0 && rv != SF_INVALID_ARGUMENT) {
		fail("version: %d", rv);
	}
	check_line("the version", v, sizeof(v));
	sf_kube_version_parse(p, n, small, sizeof(small));
	check_line("the version", small, sizeof(small));
}

static void
fuzz_pools(const char *p, size_t n, bool kubefake)
{
	json_t *a = NULL, *b = NULL;
	int     ra = sf_kube_pools_parse(p, n, kubefake, &a);
	int     rb = sf_kube_pools_parse(p, n, kubefake, &b);

	if (ra != rb
	    || (ra == 0 ? a == NULL || b == NULL || !json_equal(a, b)
	                : a != NULL || b != NULL)) {
		fail("pools read differently twice (%d, %d)", ra, rb);
	}
	for (size_t i = 0; i < json_array_size(a); i++) {
		json_t *pool = json_array_get(a, i);
		json_t *ad   = json_object_get(pool, "addresses");
		if (!json_is_string(json_object_get(pool, "name"))
		    || !json_is_array(ad)) {
			fail("a pool without a name or addresses");
		}
		for (size_t k = 0; k < json_array_size(ad); k++) {
			if (!json_is_string(json_array_get(ad, k))) {
				fail("a pool address that is not a string");
			}
		}
	}
	if (a != NULL) {
		char *s = json_dumps(a, JSON_COMPACT);
		if (s == NULL) {
			fail("pools do not serialise");
		}
		free(s);
	}
	json_decref(a);
	json_decref(b);
}

static void
fuzz_namespaces(const char *p, size_t n)
{
	char **names = NULL;
	int    rv    = sf_kube_namespaces_parse(p, n, &names);

	if ((rv == 0) != (names != NULL)) {
		fail("namespaces: %d with %p", rv, (void *) names);
	}
	for (size_t i = 0; names != NULL && names[i] != NULL; i++) {
		(void) strlen(names[i]);
	}
	sf_kube_strv_free(names);
}

static void
fuzz_workloads(const char *p, size_t n)
{
	json_t *all = json_array();
	int     rv  = sf_kube_workloads_parse(p, n, "Deployment", all);

	if (rv != 0 && json_array_size(all) != 0) {
		fail("workloads from an answer that is not JSON");
	}
	for (size_t i = 0; i < json_array_size(all); i++) {
		json_t     *w = json_array_get(all, i);
		const char *kind
		    = json_string_value(json_object_get(w, "kind"));
		if (kind == NULL || strcmp(kind, "Deployment") != 0
		    || !json_is_object(json_object_get(w, "labels"))) {
			fail("a workload without its kind or labels");
		}
	}
	json_decref(all);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char which[] = "wloevpknd";
	const char       *body    = (const char *) data + 1;
	size_t            n       = size - 1;
	const char       *at;
	char              c;

	if (size == 0) {
		return (0);
	}
	c = (at = memchr(which, data[0], sizeof(which) - 1)) != NULL
	    ? *at
	    : which[data[0] % (sizeof(which) - 1)];
	switch (c) {
	case 'w':
		if (n == 0) {
			return (0);
		}
		fuzz_watch(body + 1, n - 1, (unsigned char) body[0]);
		break;
	case 'l':
		fuzz_list(body, n);
		break;
	case 'o':
		fuzz_object(body, n);
		break;
	case 'e':
		fuzz_error(body, n);
		break;
	case 'v':
		fuzz_version(body, n);
		break;
	case 'p':
	case 'k':
		fuzz_pools(body, n, c == 'k');
		break;
	case 'n':
		fuzz_namespaces(body, n);
		break;
	case 'd':
		fuzz_workloads(body, n);
		break;
	}
	return (0);
}
