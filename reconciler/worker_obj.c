// worker_obj.c: a worker's objects (worker.h) — what the cluster says of
// them (observe, gone), what to do about them (decide), the requests that
// do it (apply, delete), the reports and body fetches that go to
// svcfleetd through the reporters, and the completions of applies and
// deletes.
//
// Every decision about an object is made in sf__recon_decide(), from its
// flags and hashes; everything else only updates them and marks the
// object dirty.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

#include "hash.h"
#include "worker.h"
#include "str.h"

// i19: reports a drift found in the cluster (below).
static void drift_report(
    sf__recon_worker *w, sf__recon_obj *o, const json_t *obj);

#define MSG_UNOWNED                                                          \
	"service exists in the cluster and is not managed by svcfleet; set " \
	"allow_adoption to take it over"

// i19-edit: drift policy Report.
#define MSG_DRIFT_KEPT                                                       \
	"changed in the cluster and kept there (drift policy Report): see "  \
	"`svcfleet drift`; apply a new spec or set the policy to Revert to " \
	"restore it"
#define MSG_DRIFT_KEPT_DELETED                                               \
	"deleted in the cluster and kept so (drift policy Report): see "     \
	"`svcfleet drift`; apply a new spec or set the policy to Revert to " \
	"restore it"

// ------------------------------------------------------------ helpers

static void
set_str(char **dst, const char *s)
{
	if (*dst != NULL && s != NULL && strcmp(*dst, s) == 0) {
		return;
	}
	free(*dst);
	*dst = s != NULL ? strdup(s) : NULL;
}

// ------------------------------------------------------------ requests

// Splits "ns/name" into the path of the Service.
static void
service_path(sf_buf *b, const char *key)
{
	const char *slash = strchr(key, '/');
	sf_buf_printf(b, "/api/v1/namespaces/%.*s/services/%s",
	    (int) (slash - key), key, slash + 1);
}

// The apply body, built from the packed Service when it is sent (a
// body is five times the size of the packed Service it comes from, and
// only a few are needed at once). NULL when out of memory or undecodable.
// i19-ssd: keep_ports: the Service is not in the cluster (deleted there):
// ask for the node ports its stored status recorded.
static char *
make_body(sf__recon_worker *w, sf__recon_obj *o, bool keep_ports)
{
	sf_service *svc;
	char       *body = NULL;

	if (o->o_pb == NULL) {
		return (NULL);
	}
	if (o->o_body != NULL) {
		// i21-cpu3: built with o_want at digest (worker.c
		// body_keepable: the re-create body is the plain one then).
		body = o->o_body;
		w->w_body_bytes -= o->o_bodylen;
		o->o_body    = NULL;
		o->o_bodylen = 0;
		return (body);
	}
	svc = svcfleet__v1__service__unpack(
	    sf_arena_pbc(&w->w_unpack), o->o_pblen, o->o_pb);
	if (svc != NULL
	    && (keep_ports ? sf_kube_body_recreate(svc, w->w_r->r_owner, &body)
	                   : sf_kube_body(svc, w->w_r->r_owner, &body, NULL))
	        != 0) {
		body = NULL;
	}
	sf_arena_reset(&w->w_unpack);
	return (body);
}

// claim_headers says who writes, with which claim (issue 16): kubefake
// records them, and a real API server's audit log can too.
static int
claim_headers(sf__recon_worker *w, sf__recon_req *q)
{
	char     line[300];
	uint64_t tok = sf__recon_claim_token(w->w_r, w->w_c->c_name);
	snprintf(line, sizeof(line), "X-Svcfleet-Reconciler: %s",
	    sf_reconciler_id(w->w_r));
	if (sf_kube_req_add_header(&q->q_kr, line) != 0) {
		return (SF_RESOURCE_EXHAUSTED);
	}
	snprintf(line, sizeof(line), "X-Svcfleet-Claim-Token: %llu",
	    (unsigned long long) tok);
	return (sf_kube_req_add_header(&q->q_kr, line));
}

static void
start_apply(sf__recon_worker *w, sf__recon_obj *o)
{
	sf_buf         path = SF_BUF_INIT;
	sf__recon_req *q;
	char          *body;
	// i19-ssd: a re-create keeps the node ports the Service had (the
	// desired hash is the plain body's: the ports the cluster then
	// shows as ours are the apply's own, taken as in sync by o_alias).
	bool keep = !(o->o_flags & (O_EXISTS | O_NO_KEEP_PORTS));

	if ((body = make_body(w, o, keep)) == NULL) {
		// Undecodable or out of memory: read the Service again.
		sf__recon_drop_pb(w, o);
		sf__recon_fetch(w, o);
		return;
	}
	if ((q = sf__recon_req_get(w, R_APPLY)) == NULL) {
		free(body);
		return;
	}
	service_path(&path, o->o_key);
	sf_buf_puts(
	    &path, "?fieldManager=" SF_KUBE_FIELD_MANAGER "&force=true");
	if (path.b_oom
	    || sf_kube_req_setup(&q->q_kr, w->w_cfg, "PATCH", path.b_data,
	           "application/apply-patch+yaml", body,
	           sf__recon_timeout_ms(w))
	        != 0
	    || claim_headers(w, q) != 0) {
		sf_buf_fini(&path);
		free(body);
		sf__recon_req_put(w, q);
		return;
	}
	sf_buf_fini(&path);
	free(body);
	q->q_obj        = o;
	q->q_want       = o->o_want;
	q->q_kept_ports = keep;
	if (sf__recon_req_start(w, q) == 0) {
		o->o_flags |= O_INFLIGHT;
		atomic_fetch_add(&w->w_r->r_applies, 1);
		SF_DEBUG("recon", "cluster=%s apply %s gen=%lld",
		    w->w_c->c_name, o->o_key, (long long) o->o_gen);
	}
}

static void
start_delete(sf__recon_worker *w, sf__recon_obj *o)
{
	sf_buf         path = SF_BUF_INIT;
	sf__recon_req *q    = sf__recon_req_get(w, R_DELETE);
	char           body[160], uid[37];

	if (q == NULL) {
		return;
	}
	service_path(&path, o->o_key);
	body[0] = '\0';
	if (o->o_flags & O_HAS_UID) {
		// Only the object we saw: a same-name object made since by
		// someone else is not ours to delete.
		sf_kube_uid_format(o->o_uid, uid);
		snprintf(body, sizeof(body),
		    "{\"apiVersion\":\"v1\",\"kind\":\"DeleteOptions\","
		    "\"preconditions\":{\"uid\":\"%s\"}}",
		    uid);
	}
	if (path.b_oom
	    || sf_kube_req_setup(&q->q_kr, w->w_cfg, "DELETE", path.b_data,
	           body[0] ? "application/json" : NULL, body[0] ? body : NULL,
	           sf__recon_timeout_ms(w))
	        != 0
	    || claim_headers(w, q) != 0) {
		sf_buf_fini(&path);
		sf__recon_req_put(w, q);
		return;
	}
	sf_buf_fini(&path);
	q->q_obj = o;
	if (sf__recon_req_start(w, q) == 0) {
		o->o_flags |= O_INFLIGHT;
		atomic_fetch_add(&w->w_r->r_deletes, 1);
		SF_INFO("recon", "cluster=%s delete %s (%s)", w->w_c->c_name,
		    o->o_key,
		    (o->o_flags & D_PRESENT) ? "deleted in svcfleet"
		                             : "garbage: no longer stored");
	}
}

// ------------------------------------------------------------ objects

bool
sf__recon_in_sync(const sf__recon_obj *o)
{
	return ((o->o_flags & O_EXISTS) && o->o_have != 0 && o->o_want != 0
	    && (o->o_have == o->o_want
	        || (o->o_alias != 0
	            && (o->o_have ^ o->o_want) == o->o_alias)));
}

// i19-edit: drift policy Report holds a change made in the cluster (not
// reverted) while the desired state is the one it drifted from: a new
// desired state (spec, labels or annotations, the policy itself) is
// applied. A drift is held once this worker saw it, or (i19-ssd) once
// the store says it is kept (DRIFTED, with the body hash it drifted from)
// and desired state still builds that body: a reconciler that starts or
// takes the cluster over keeps it too (sf__recon_decide).
bool
sf__recon_drift_held(const sf__recon_obj *o)
{
	uint32_t f = o->o_flags;
	return ((f & D_REPORT) && (f & D_PRESENT) && !(f & D_DELETING)
	    && o->o_drift_ms != 0 && o->o_drift_want == o->o_want
	    && !sf__recon_in_sync(o));
}

static bool
wants_drift_watch(const sf__recon_obj *o)
{
	return ((o->o_flags & D_PRESENT) && !(o->o_flags & D_DELETING)
	    && o->o_drift_ms == 0 && !(o->o_flags & O_INFLIGHT));
}

void
sf__recon_observe(sf__recon_worker *w, const json_t *obj, int64_t now)
{
	sf_kube_meta   m;
	sf_kube_obs    ob;
	sf__recon_obj *o;
	bool           before;
	uint64_t       rv;

	sf__recon_touched(w);
	sf_kube_meta_read(obj, &m);
	if (!m.km_has_key) {
		return;
	}
	if ((o = sf__recon_objtab_add(&w->w_objs, m.km_key)) == NULL) {
		return;
	}
	o->o_seen = w->w_list_epoch;
	rv        = m.km_rv_num;
	if (rv != 0 && rv <= o->o_rv && (o->o_flags & O_EXISTS)) {
		// Not newer than what we know (a list page behind the watch,
		// or the watch echoing our own apply): nothing to compute.
		return;
	}
	if (sf_kube_observe(obj, w->w_r->r_owner, w->w_c->c_name, &ob) != 0) {
		sf_kube_obs_fini(&ob);
		return;
	}
	before            = sf__recon_in_sync(o);
	bool     held     = sf__recon_drift_held(o);
	uint64_t old_have = o->o_have;
	if ((o->o_flags & O_HAS_UID) && ob.ob_has_uid
	    && memcmp(o->o_uid, ob.ob_uid, sizeof(o->o_uid)) != 0) {
		// Another object of that name (deleted and made again while
		// we did not watch): not the one we applied.
		o->o_flags &= ~O_APPLIED;
	}
	o->o_rv = rv;
	o->o_flags |= O_EXISTS;
	o->o_flags
	    &= ~(O_OWNED | O_OBS_LB | O_INGRESS | O_HAS_UID | O_NO_KEEP_PORTS);
	o->o_flags |= (ob.ob_owned ? O_OWNED : 0) | (ob.ob_lb ? O_OBS_LB : 0)
	    | (ob.ob_has_ingress ? O_INGRESS : 0)
	    | (ob.ob_has_uid ? O_HAS_UID : 0);
	memcpy(o->o_uid, ob.ob_uid, sizeof(o->o_uid));
	o->o_have    = ob.ob_hash;
	o->o_obs_gen = ob.ob_gen;
	free(o->o_facts);
	o->o_facts  = ob.ob_facts;
	ob.ob_facts = NULL;
	if (before && !sf__recon_in_sync(o) && wants_drift_watch(o)) {
		o->o_drift_ms   = now;
		o->o_drift_want = o->o_want;
		SF_INFO("recon",
		    "cluster=%s drift on %s: changed in the cluster",
		    w->w_c->c_name, o->o_key);
		drift_report(w, o, obj);
	} else if (held && o->o_have != old_have && !sf__recon_in_sync(o)) {
		// i19-edit: kept by drift policy Report and changed again
		// there: each change is a drift event of its own.
		SF_INFO("recon",
		    "cluster=%s drift on %s: changed again in the cluster "
		    "(drift policy Report)",
		    w->w_c->c_name, o->o_key);
		drift_report(w, o, obj);
	}
	sf__recon_mark_dirty(w, o);
	sf_kube_obs_fini(&ob);
}

// ------------------------------------------------------ i19: drift events

#define DRIFT_FIELDS_MAX 32
#define DRIFT_VALUE_MAX  256

// The value at a fieldsV1 path of obj when every step is a plain field
// ("f:"), as compact JSON (strings bare), cut to DRIFT_VALUE_MAX; NULL
// when it cannot be followed.
static json_t *
drift_value(const json_t *obj, const char *const *segs, size_t n)
{
	const json_t *v = obj;
	char         *s;
	json_t       *out;

	for (size_t i = 0; i < n && v != NULL; i++) {
		if (strncmp(segs[i], "f:", 2) != 0) {
			return (NULL);
		}
		v = json_object_get(v, segs[i] + 2);
	}
	if (v == NULL) {
		return (json_string(""));
	}
	if (json_is_string(v)) {
		s = strdup(json_string_value(v));
	} else {
		s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
	}
	if (s == NULL) {
		return (NULL);
	}
	if (strlen(s) > DRIFT_VALUE_MAX) {
		s[DRIFT_VALUE_MAX] = '\0';
	}
	out = json_string(s);
	free(s);
	return (out);
}

// Flattens a managedFields fieldsV1 tree into {"path", "new"} entries of
// out: "f:spec" "f:ports" "k:{...}" "f:port" -> spec.ports[{...}].port.
static void
drift_paths(const json_t *obj, const json_t *tree, const char **segs, size_t n,
    json_t *out)
{
	const char *k;
	json_t     *v;

	if (json_object_size(tree) == 0 || n >= 16) {
		char   path[1024] = "";
		size_t len        = 0;
		for (size_t i = 0; i < n && len < sizeof(path); i++) {
			const char *s = segs[i];
			bool        f = strncmp(s, "f:", 2) == 0;
			len += (size_t) snprintf(path + len,
			    sizeof(path) - len, f ? "%s%s" : "[%s]",
			    f && i > 0 ? "." : "", f ? s + 2 : s + 2);
		}
		json_t *e = json_object();
		json_object_set_new(e, "path", json_string(path));
		json_t *val = drift_value(obj, segs, n);
		if (val != NULL) {
			json_object_set_new(e, "new", val);
		}
		json_array_append_new(out, e);
		return;
	}
	json_object_foreach((json_t *) tree, k, v)
	{
		if (json_array_size(out) >= DRIFT_FIELDS_MAX) {
			return;
		}
		if (strcmp(k, ".") == 0) {
			continue;
		}
		segs[n] = k;
		drift_paths(obj, v, segs, n + 1, out);
	}
}

// drift_json describes the out-of-band write that made obj drift: the
// latest managedFields entry of a manager other than svcfleet (manager,
// operation) and the fields it owns there with their values now. A
// malloc'd JSON string, or NULL.
static char *
drift_json(const json_t *obj, const char *op, const char *action)
{
	json_t       *d = json_object(), *fields = json_array();
	json_t       *mgrs = json_array();
	const json_t *mf   = json_object_get(
	      json_object_get(obj, "metadata"), "managedFields");
	const json_t *best = NULL;
	size_t        i;
	json_t       *e;
	char         *s;

	json_array_foreach(mf, i, e)
	{
		const char *m
		    = json_string_value(json_object_get(e, "manager"));
		const char *t = json_string_value(json_object_get(e, "time"));
		if (m == NULL || strcmp(m, SF_KUBE_FIELD_MANAGER) == 0) {
			continue;
		}
		const char *bt = best != NULL
		    ? json_string_value(json_object_get(best, "time"))
		    : NULL;
		if (best == NULL
		    || (t != NULL && (bt == NULL || strcmp(t, bt) >= 0))) {
			best = e;
		}
	}
	if (best != NULL) {
		const char *segs[16];
		char        who[200];
		const char *bop
		    = json_string_value(json_object_get(best, "operation"));
		snprintf(who, sizeof(who), "%s (%s)",
		    json_string_value(json_object_get(best, "manager")),
		    bop != NULL ? bop : "?");
		json_array_append_new(mgrs, json_string(who));
		if (op == NULL) {
			op = bop;
		}
		drift_paths(
		    obj, json_object_get(best, "fieldsV1"), segs, 0, fields);
	}
	json_object_set_new(d, "op", json_string(op != NULL ? op : ""));
	json_object_set_new(d, "action", json_string(action));
	json_object_set_new(d, "managers", mgrs);
	json_object_set_new(d, "fields", fields);
	s = json_dumps(d, JSON_COMPACT);
	json_decref(d);
	return (s);
}

// drift_report queues the report of a drift of o (obj: the cluster's
// object, NULL when it was deleted).
static void
drift_report(sf__recon_worker *w, sf__recon_obj *o, const json_t *obj)
{
	sf__recon_job *j;

	if ((j = sf__recon_job_new(J_DRIFT, w->w_c->c_name, o->o_key))
	    == NULL) {
		return;
	}
	// i19-edit: drift policy Report keeps the change, Revert heals it.
	const char *action = (o->o_flags & D_REPORT)
	    ? "kept (drift policy Report)"
	    : "reverted";
	j->j_msg = drift_json(obj, obj != NULL ? NULL : "deleted", action);
	if (j->j_msg == NULL) {
		sf__recon_job_free(j);
		return;
	}
	sf__recon_submit(w->w_r, j);
}

void
sf__recon_gone(sf__recon_worker *w, sf__recon_obj *o, uint64_t rv, int64_t now)
{
	bool before = sf__recon_in_sync(o);

	sf__recon_touched(w);
	// What we applied is gone: a same-name object made later by someone
	// else is not ours.
	o->o_flags &= ~(
	    O_EXISTS | O_OWNED | O_OBS_LB | O_INGRESS | O_HAS_UID | O_APPLIED);
	o->o_have = 0;
	free(o->o_facts);
	o->o_facts = NULL;
	if (rv != 0) {
		o->o_rv = rv;
	}
	if (before && wants_drift_watch(o)) {
		o->o_drift_ms   = now;
		o->o_drift_want = o->o_want;
		SF_INFO("recon",
		    "cluster=%s drift on %s: deleted in the cluster",
		    w->w_c->c_name, o->o_key);
		drift_report(w, o, NULL);
	}
	sf__recon_mark_dirty(w, o);
}

// report sends o's status for this cluster to svcfleetd, unless it says
// what the last report or the store says already; fin (FIN_*) asks for a
// change of the stored Service's finalizer as well.
static void
report(sf__recon_worker *w, sf__recon_obj *o, int state, int64_t gen,
    const char *msg, const char *facts, unsigned fin)
{
	uint64_t       h;
	sf__recon_job *j;

	if (!(o->o_flags & D_PRESENT)) {
		return;
	}
	msg   = sf_nz(msg);
	facts = facts != NULL ? facts : "||";
	h     = sf_kube_status_hash(state, gen, msg, facts);
	if (fin == FIN_NONE && (h == o->o_reported || h == o->o_stored)) {
		return;
	}
	if (o->o_flags & O_REPORTING) {
		return; // decided again when the report in flight finishes
	}
	if ((j = sf__recon_job_new(J_STATUS, w->w_c->c_name, o->o_key))
	    == NULL) {
		return;
	}
	j->j_hash  = h;
	j->j_state = state;
	j->j_gen   = gen;
	j->j_msg   = strdup(msg);
	j->j_facts = strdup(facts);
	j->j_fin   = fin & ~FIN_REFRESH;
	if (state == SVCFLEET__V1__SYNC_STATE__SYNC_STATE_DRIFTED) {
		j->j_drift_want = o->o_drift_want;
	}
	if (j->j_msg == NULL || j->j_facts == NULL) {
		sf__recon_job_free(j);
		return;
	}
	o->o_flags |= O_REPORTING;
	o->o_reported = h;
	sf__recon_submit(w->w_r, j);
}

void
sf__recon_fetch(sf__recon_worker *w, sf__recon_obj *o)
{
	sf__recon_job *j;

	if (o->o_flags & O_FETCHING) {
		return;
	}
	if ((j = sf__recon_job_new(J_FETCH, w->w_c->c_name, o->o_key))
	    == NULL) {
		return;
	}
	if (++w->w_fetch_seq == 0) {
		w->w_fetch_seq = 1; // 0 is no fetch
	}
	o->o_fetch = j->j_fetch = w->w_fetch_seq;
	o->o_flags |= O_FETCHING;
	sf__recon_submit(w->w_r, j);
}

// slot_ok is true when a request may start now; otherwise o waits for
// one.
static bool
slot_ok(sf__recon_worker *w, sf__recon_obj *o)
{
	if (w->w_inflight < w->w_r->r_opts.ro_max_inflight) {
		return (true);
	}
	sf__recon_push_wait(w, o);
	return (false);
}

static bool
backoff_ok(sf__recon_worker *w, sf__recon_obj *o, int64_t now)
{
	if (now < o->o_next_ms) {
		sf__recon_heap_arm(&w->w_timers, o);
		return (false);
	}
	return (true);
}

static void
down_message(const sf__recon_worker *w, char *buf, size_t cap)
{
	char tmp[sizeof(w->w_health_msg) + 200];
	snprintf(tmp, sizeof(tmp), "cluster \"%s\" is %s: %s", w->w_c->c_name,
	    w->w_health
	            == SVCFLEET__V1__CLUSTER_HEALTH_STATE__CLUSTER_HEALTH_UNAUTHORIZED
	        ? "refusing svcfleet's credentials"
	        : "unreachable",
	    w->w_health_msg);
	sf_kube_one_line(buf, cap, tmp);
}

enum {
	ST_SYNCED   = SVCFLEET__V1__SYNC_STATE__SYNC_STATE_SYNCED,
	ST_ERROR    = SVCFLEET__V1__SYNC_STATE__SYNC_STATE_ERROR,
	ST_DELETING = SVCFLEET__V1__SYNC_STATE__SYNC_STATE_DELETING,
	ST_WAITING  = SVCFLEET__V1__SYNC_STATE__SYNC_STATE_WAITING_ADDRESS,
	ST_DRIFTED  = SVCFLEET__V1__SYNC_STATE__SYNC_STATE_DRIFTED,
};

void
sf__recon_decide(sf__recon_worker *w, sf__recon_obj *o, int64_t now)
{
	uint32_t f    = o->o_flags;
	bool     ours = (f & (O_OWNED | O_APPLIED)) != 0;
	int64_t  gen  = (f & O_OWNED) ? o->o_obs_gen : 0;
	char     msg[512];

	sf__recon_touched(w);
	if ((f & O_INFLIGHT) || (w->w_conn != C_UP && w->w_conn != C_DOWN)) {
		// In flight: decided when it finishes. Not listed yet: every
		// object is decided once the first list is complete.
		return;
	}
	if (!sf__recon_claim_ok(w->w_r, w->w_c->c_name, NULL)) {
		// Our claim on the cluster cannot be proved (issue 16): write
		// nothing and report nothing; look again in a while (the
		// watcher stops this worker if the claim has moved).
		o->o_next_ms = now + 500;
		sf__recon_heap_arm(&w->w_timers, o);
		return;
	}
	if (!(f & D_PRESENT)) {
		if (f & O_REPORTING) {
			return;
		}
		if ((f & O_EXISTS) && (f & O_OWNED)) {
			// Ours in the cluster, not in the store: garbage, once
			// the store's whole list has been seen.
			if (w->w_desired_done && w->w_conn == C_UP
			    && backoff_ok(w, o, now) && slot_ok(w, o)) {
				start_delete(w, o);
			}
			return;
		}
		if (!(f & O_EXISTS) && !(f & O_FETCHING)) {
			sf__recon_heap_remove(&w->w_timers, o);
			sf__recon_objtab_del(&w->w_objs, o);
		}
		return;
	}
	if (f & D_DELETING) {
		if ((f & O_EXISTS) && ours) {
			if (w->w_conn == C_DOWN) {
				down_message(w, msg, sizeof(msg));
				report(w, o, ST_ERROR, gen, msg, o->o_facts,
				    FIN_NONE);
				return;
			}
			if (o->o_msg != NULL) {
				report(w, o, ST_ERROR, gen, o->o_msg,
				    o->o_facts, FIN_NONE);
			}
			if (backoff_ok(w, o, now) && slot_ok(w, o)) {
				start_delete(w, o);
			}
			return;
		}
		// Gone from the cluster (or never ours there): the store may
		// let the Service go.
		if (!(f & O_UNFIN_SENT)) {
			report(w, o, ST_DELETING, gen, "", NULL,
			    (f & D_HAS_FIN) ? FIN_REMOVE : FIN_NONE);
		}
		return;
	}
	if ((f & O_EXISTS) && !ours && !(f & D_ADOPT)) {
		report(w, o, ST_ERROR, 0, MSG_UNOWNED, NULL, FIN_NONE);
		return;
	}
	if (sf__recon_in_sync(o)) {
		int state
		    = (f & D_LB) && !(f & O_INGRESS) ? ST_WAITING : ST_SYNCED;
		// In the cluster: the store keeps the Service until it is
		// gone from there (the finalizer, asked for once).
		unsigned fin
		    = (f & (D_HAS_FIN | O_FIN_SENT)) ? FIN_NONE : FIN_ADD;
		sf__recon_drop_pb(w, o);
		free(o->o_msg);
		o->o_msg      = NULL;
		o->o_attempts = 0;
		o->o_flags &= ~O_PERM;
		if (o->o_drift_ms != 0) {
			sf__recon_heal_record(w->w_r, now - o->o_drift_ms);
			SF_INFO("recon", "cluster=%s healed %s in %lld ms",
			    w->w_c->c_name, o->o_key,
			    (long long) (now - o->o_drift_ms));
			o->o_drift_ms = 0;
			fin |= FIN_REFRESH;
		}
		report(w, o, state, o->o_gen, "", o->o_facts, fin);
		return;
	}
	if ((f & D_REPORT) && !(f & D_DELETING) && o->o_drift_ms == 0
	    && o->o_stored_drift != 0 && o->o_stored_drift == o->o_want) {
		// i19-ssd: a drift the store says is kept (found by the
		// reconciler that held the cluster before, or by this one
		// before it restarted), desired state unchanged since: kept.
		o->o_drift_ms   = now;
		o->o_drift_want = o->o_want;
	}
	if (sf__recon_drift_held(o)) {
		// i19-edit: drift policy Report: the cluster's change stays;
		// the drift event says what changed and who wrote it.
		// i19-ssd: a state of its own, stored with the Service.
		report(w, o, ST_DRIFTED, gen,
		    (f & O_EXISTS) ? MSG_DRIFT_KEPT : MSG_DRIFT_KEPT_DELETED,
		    o->o_facts, FIN_NONE);
		return;
	}
	if (f & O_PERM) {
		// The cluster rejected this spec; only a new spec is retried.
		report(w, o, ST_ERROR, gen, o->o_msg, o->o_facts, FIN_NONE);
		return;
	}
	if (w->w_conn == C_DOWN) {
		down_message(w, msg, sizeof(msg));
		report(w, o, ST_ERROR, gen, msg, o->o_facts, FIN_NONE);
		return;
	}
	if (o->o_msg != NULL) {
		report(w, o, ST_ERROR, gen, o->o_msg, o->o_facts, FIN_NONE);
	}
	if (!backoff_ok(w, o, now)) {
		return;
	}
	if (now < w->w_paused_until) {
		o->o_next_ms = w->w_paused_until;
		sf__recon_heap_arm(&w->w_timers, o);
		return;
	}
	if (o->o_pb == NULL) {
		sf__recon_fetch(w, o);
		return;
	}
	if (slot_ok(w, o)) {
		start_apply(w, o);
	}
}

// retry_later counts a failure of o and schedules the next try.
static void
retry_later(
    sf__recon_worker *w, sf__recon_obj *o, const char *msg, int64_t now)
{
	const sf_reconciler_opts *ro = &w->w_r->r_opts;
	if (o->o_attempts < 1000) {
		o->o_attempts++;
	}
	o->o_next_ms = now
	    + sf__recon_backoff_ms(
	        o->o_attempts, ro->ro_backoff_min_ms, ro->ro_backoff_max_ms);
	set_str(&o->o_msg, msg);
}

// ------------------------------------------------------------ echoes

// A cluster sends every object this worker applies twice: as the
// apply's answer and as a MODIFIED or ADDED watch event, byte for byte
// the same (both are the stored object, encoded alike), in either order.
// Parsing the second copy cost a fifth of the reconciler's time and told
// nothing new, so objects parsed from either are remembered by a hash of
// their bytes (a direct-mapped table: a slot taken by another object
// only means a parse) and the copy that carries exactly those bytes is
// only counted, not parsed. resourceVersion is in the bytes, so any
// other change to the object is parsed.
#define ECHO_SLOTS 4096
struct sf__recon_echo {
	uint64_t e_hash; // 0: empty
	char     e_rv[24];
};

uint64_t
sf__recon_echo_hash(const char *p, size_t n)
{
	uint64_t h;

	while (n > 0
	    && (p[n - 1] == '\n' || p[n - 1] == '\r' || p[n - 1] == ' ')) {
		n--;
	}
	h = sf_hash_bytes(SF_HASH_INIT, p, n);
	return (h != 0 ? h : 1);
}

void
sf__recon_echo_put(sf__recon_worker *w, uint64_t h, const char *rv)
{
	struct sf__recon_echo *e;

	if (w->w_echo == NULL
	    && (w->w_echo = calloc(ECHO_SLOTS, sizeof(*w->w_echo))) == NULL) {
		return;
	}
	e = &w->w_echo[h % ECHO_SLOTS];
	if (rv == NULL || strlen(rv) >= sizeof(e->e_rv)) {
		e->e_hash = 0;
		return;
	}
	e->e_hash = h;
	snprintf(e->e_rv, sizeof(e->e_rv), "%s", rv);
}

bool
sf__recon_echo_take(sf__recon_worker *w, uint64_t h, char *rv, size_t cap)
{
	struct sf__recon_echo *e;

	if (w->w_echo == NULL
	    || (e = &w->w_echo[h % ECHO_SLOTS])->e_hash != h) {
		return (false);
	}
	e->e_hash = 0;
	if (rv != NULL) {
		snprintf(rv, cap, "%s", e->e_rv);
	}
	atomic_fetch_add(&w->w_r->r_echoes, 1);
	return (true);
}

// ------------------------------------------------------------ completions

static void
apply_done(sf__recon_worker *w, sf__recon_req *q, sf__recon_obj *o, int cls,
    const char *msg, int64_t now)
{
	switch (cls) {
	case SF_KUBE_OK: {
		uint64_t h = sf__recon_echo_hash(
		    q->q_kr.kr_body.b_data, q->q_kr.kr_body.b_len);
		bool    seen = sf__recon_echo_take(w, h, NULL, 0);
		json_t *obj  = NULL;
		if (!seen
		    && (obj = sf_kube_json_parse(
		            q->q_kr.kr_body.b_data, q->q_kr.kr_body.b_len))
		        != NULL) {
			// The answer is the object as stored: as good as a
			// watch event, and often earlier.
			sf__recon_observe(w, obj, now);
			sf__recon_echo_put(w, h,
			    json_string_value(json_object_get(
			        json_object_get(obj, "metadata"),
			        "resourceVersion")));
			json_decref(obj);
		}
		if ((seen || obj != NULL) && q->q_want == o->o_want) {
			o->o_alias = o->o_have != o->o_want
			    ? o->o_have ^ o->o_want
			    : 0;
		}
		o->o_flags |= O_APPLIED;
		o->o_flags &= ~O_PERM;
		o->o_attempts = 0;
		free(o->o_msg);
		o->o_msg = NULL;
		return;
	}
	case SF_KUBE_INVALID:
		atomic_fetch_add(&w->w_r->r_apply_errors, 1);
		if (q->q_kept_ports && !(o->o_flags & O_NO_KEEP_PORTS)) {
			// i19-ssd: the node ports it had are not free any
			// more (or not in range): made again without them.
			o->o_flags |= O_NO_KEEP_PORTS;
			SF_INFO("recon",
			    "cluster=%s %s: cannot have its node ports "
			    "back (%s); letting the cluster choose",
			    w->w_c->c_name, o->o_key, msg);
			return;
		}
		// The cluster refuses this spec: an error until it changes.
		if (q->q_want == o->o_want) {
			o->o_flags |= O_PERM;
		}
		set_str(&o->o_msg, msg);
		SF_WARN("recon", "cluster=%s rejected %s: %s", w->w_c->c_name,
		    o->o_key, msg);
		return;
	case SF_KUBE_THROTTLED:
		if (now + sf__recon_retry_after_ms(q) > w->w_paused_until) {
			w->w_paused_until = now + sf__recon_retry_after_ms(q);
		}
		o->o_next_ms = w->w_paused_until;
		return;
	default:
		atomic_fetch_add(&w->w_r->r_apply_errors, 1);
		if (sf__recon_cluster_failure(
		        w, cls, q->q_kr.kr_code, msg, now)) {
			return;
		}
		retry_later(w, o, msg, now);
		return;
	}
}

static void
delete_done(sf__recon_worker *w, sf__recon_req *q, sf__recon_obj *o, int cls,
    const char *msg, int64_t now)
{
	switch (cls) {
	case SF_KUBE_OK:
	case SF_KUBE_NOT_FOUND:
		// 404 counts: it is gone either way.
		sf__recon_gone(w, o, 0, now);
		o->o_attempts = 0;
		free(o->o_msg);
		o->o_msg = NULL;
		return;
	case SF_KUBE_CONFLICT:
		// The uid precondition failed: another object of that name
		// stands there now; the watch tells us what it is.
		retry_later(w, o, msg, now);
		return;
	case SF_KUBE_THROTTLED:
		w->w_paused_until = now + sf__recon_retry_after_ms(q);
		o->o_next_ms      = w->w_paused_until;
		return;
	default:
		if (!sf__recon_cluster_failure(
		        w, cls, q->q_kr.kr_code, msg, now)) {
			retry_later(w, o, msg, now);
		}
		return;
	}
}

void
sf__recon_obj_done(sf__recon_worker *w, sf__recon_req *q, int cls,
    const char *msg, int64_t now)
{
	sf__recon_obj *o = q->q_obj;

	sf__recon_touched(w);
	// Whatever the outcome, the object is decided again.
	o->o_flags &= ~O_INFLIGHT;
	sf__recon_mark_dirty(w, o);
	if (q->q_kind == R_APPLY) {
		apply_done(w, q, o, cls, msg, now);
	} else {
		delete_done(w, q, o, cls, msg, now);
	}
}
