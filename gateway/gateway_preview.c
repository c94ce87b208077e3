// gateway_preview.c: the server-side preview over HTTP (i19-diff; issue 19
// item 4, issue 18 item 8) — what `svcfleet diff --server-side` shows, for
// the console and any HTTP client:
//
//   POST clusters/{c}/namespaces/{ns}/services/{name}/preview
//   POST namespaces/{ns}/fleetservices/{name}/preview
//
// The body is the object as for PUT (JSON or YAML). svcfleetd dry-runs the
// apply (nothing is stored) and asks each target cluster's API server for
// a dry run (dryRun=All) of the apply the reconciler would send. The
// answer (200 whatever the clusters said; svcfleetd's own refusals are
// the usual Status) has, per cluster: the object the cluster holds
// ("live"), the one its API server answers ("dryRun"), the fields that
// differ ("changes": path, live and dryRun value), or the API server's
// refusal (admission, validation: "code" and "message") or why there is
// no answer. The handlers are beside their objects' (gateway_services.c,
// gateway_fleet.c); what they share is here.
#include <stdio.h>
#include <string.h>

#include "gateway_internal.h"
#include "str.h"

// At most this many changed fields per cluster ("changesTruncated" says
// there were more), and this deep: a difference below it is shown as the
// whole value at that depth.
#define CHANGES_MAX 200
#define DEPTH_MAX   32
#define PATH_MAX_   512

typedef struct changes {
	json_t *c_arr;
	bool    c_more;
	char    c_path[PATH_MAX_];
} changes;

// A key as a field path names it: "spec", or "[app.kubernetes.io/name]"
// for a key a dot would break (labels, annotations), as the server's
// violations name them.
static size_t
path_push(changes *c, size_t len, const char *key, long idx)
{
	size_t cap = sizeof(c->c_path);
	int    n;

	if (key == NULL) {
		n = snprintf(c->c_path + len, cap - len, "[%ld]", idx);
	} else if (key[0] == '\0' || strpbrk(key, "./[]") != NULL) {
		n = snprintf(c->c_path + len, cap - len, "[%s]", key);
	} else {
		n = snprintf(c->c_path + len, cap - len, "%s%s",
		    len > 0 ? "." : "", key);
	}
	// A path longer than the buffer stays cut (the value is still
	// shown); snprintf wrote what fitted.
	return (n < 0 || (size_t) n >= cap - len ? cap - 1 : len + (size_t) n);
}

static void
changes_of(changes *c, size_t len, int depth, json_t *a, json_t *b)
{
	if (c->c_more) {
		return;
	}
	if (depth < DEPTH_MAX && json_is_object(a) && json_is_object(b)) {
		const char *k;
		json_t     *v;
		json_object_foreach(a, k, v)
		{
			size_t l = path_push(c, len, k, 0);
			changes_of(c, l, depth + 1, v, json_object_get(b, k));
			c->c_path[len] = '\0';
		}
		json_object_foreach(b, k, v)
		{
			if (json_object_get(a, k) == NULL) {
				size_t l = path_push(c, len, k, 0);
				changes_of(c, l, depth + 1, NULL, v);
				c->c_path[len] = '\0';
			}
		}
		return;
	}
	if (depth < DEPTH_MAX && json_is_array(a) && json_is_array(b)) {
		size_t n = json_array_size(a) > json_array_size(b)
		    ? json_array_size(a)
		    : json_array_size(b);
		for (size_t i = 0; i < n; i++) {
			size_t l = path_push(c, len, NULL, (long) i);
			changes_of(c, l, depth + 1, json_array_get(a, i),
			    json_array_get(b, i));
			c->c_path[len] = '\0';
		}
		return;
	}
	if (a != NULL && b != NULL && json_equal(a, b)) {
		return;
	}
	if (json_array_size(c->c_arr) >= CHANGES_MAX) {
		c->c_more = true;
		return;
	}
	json_t *e = json_object();
	sf_model_json_set(e, "path", json_string(c->c_path));
	// Absent on one side: the field is added or removed there.
	if (a != NULL) {
		sf_model_json_set(e, "live", json_incref(a));
	}
	if (b != NULL) {
		sf_model_json_set(e, "dryRun", json_incref(b));
	}
	json_array_append_new(c->c_arr, e);
}

// A cluster's object as compared, less what kubectl diff leaves out too
// (managedFields) and the server's bookkeeping a dry run need not repeat
// (resourceVersion); NULL when there is none or it is not JSON.
static json_t *
cluster_object(const char *text)
{
	json_t *o, *md;

	if (text == NULL || text[0] == '\0'
	    || (o = json_loads(text, 0, NULL)) == NULL) {
		return (NULL);
	}
	if (!json_is_object(o)) {
		json_decref(o);
		return (NULL);
	}
	md = json_object_get(o, "metadata");
	json_object_del(md, "managedFields");
	json_object_del(md, "resourceVersion");
	return (o);
}

json_t *
sf__gw_dry_run_json(const Svcfleet__V1__ServerDryRun *d)
{
	json_t     *o      = json_object();
	json_t     *live   = cluster_object(d->live);
	json_t     *dry    = NULL;
	const char *result = "Unanswered";

	sf_model_json_set_str(o, "cluster", d->cluster);
	sf_model_json_set_str(o, "namespace", d->namespace_);
	sf_model_json_set_str(o, "name", d->name);
	if (d->code != 0) {
		sf_model_json_set(o, "code", json_integer(d->code));
	}
	if (d->code >= 200 && d->code <= 299) {
		if ((dry = cluster_object(d->dry_run)) != NULL) {
			changes c;
			memset(&c, 0, sizeof(c));
			c.c_arr = json_array();
			// No object in the cluster: every field is new.
			json_t *base
			    = live != NULL ? json_incref(live) : json_object();
			changes_of(&c, 0, 0, base, dry);
			json_decref(base);
			result = json_array_size(c.c_arr) == 0 ? "Unchanged"
			                                       : "Changed";
			sf_model_json_set(o, "changes", c.c_arr);
			if (c.c_more) {
				sf_model_json_set(
				    o, "changesTruncated", json_true());
			}
		} else {
			sf_model_json_set_str(o, "message",
			    "the API server's answer is not a JSON object");
		}
	} else if (d->code != 0) {
		result = "Refused"; // the API server's own words follow
	}
	sf_model_json_set_str(o, "result", result);
	sf_model_json_set_str(o, "message", d->message);
	sf_model_json_set(o, "live", live);
	sf_model_json_set(o, "dryRun", dry);
	return (o);
}

json_t *
sf__gw_preview_new(
    const char *kind, const char *ns, const char *name, int action)
{
	static const char *const actions[] = {
	    [SVCFLEET__V1__APPLY_ACTION__APPLY_ACTION_UNSPECIFIED] = "",
	    [SVCFLEET__V1__APPLY_ACTION__APPLY_ACTION_CREATED]     = "created",
	    [SVCFLEET__V1__APPLY_ACTION__APPLY_ACTION_CONFIGURED]
	    = "configured",
	    [SVCFLEET__V1__APPLY_ACTION__APPLY_ACTION_UNCHANGED] = "unchanged",
	};
	json_t *o  = json_object();
	json_t *md = json_object();

	sf_model_json_set(o, "apiVersion", json_string(SF__GW_API_GROUP));
	sf_model_json_set(o, "kind", json_string(kind));
	sf_model_json_set_str(md, "namespace", ns);
	sf_model_json_set_str(md, "name", name);
	sf_model_json_set(o, "metadata", md);
	if (action > 0
	    && (size_t) action < sizeof(actions) / sizeof(actions[0])) {
		sf_model_json_set_str(o, "action", actions[action]);
	}
	return (o);
}

// i18-console: whose the cluster's object is, from the owner annotations
// the reconciler writes (svcfleet.io/owner: the installation id, and
// svcfleet.io/cluster), as the reconciler itself decides it.
void
sf__gw_preview_owners(sf__gw_ctx *x, json_t *clusters)
{
	Svcfleet__V1__Empty         req = SVCFLEET__V1__EMPTY__INIT;
	Svcfleet__V1__VersionReply *rep = NULL;
	size_t                      i;
	json_t                     *e;

	if (json_array_size(clusters) == 0) {
		return;
	}
	if (SF__GW_CALL(x, version, &req, &rep) != 0) {
		rep = NULL; // the preview is shown without it
	}
	json_array_foreach(clusters, i, e)
	{
		json_t *live = json_object_get(e, "live");
		json_t *ann  = json_object_get(
		     json_object_get(live, "metadata"), "annotations");
		const char *owner
		    = json_string_value(json_object_get(ann, SF_ANN_OWNER));
		const char *cl
		    = json_string_value(json_object_get(ann, SF_ANN_CLUSTER));
		const char *want
		    = json_string_value(json_object_get(e, "cluster"));
		const char *who = "none";

		if (!json_is_object(live)) {
			continue;
		}
		if (owner != NULL && owner[0] != '\0') {
			who = rep != NULL
			        && sf_nz(rep->installation_id)[0] != '\0'
			        && strcmp(owner, rep->installation_id) == 0
			        && cl != NULL && want != NULL
			        && strcmp(cl, want) == 0
			    ? "svcfleet"
			    : "other";
		}
		if (rep == NULL && strcmp(who, "other") == 0) {
			continue; // not known without the installation id
		}
		sf_model_json_set_str(e, "liveOwner", who);
	}
}
