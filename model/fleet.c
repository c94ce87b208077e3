// fleet.c: the FleetService (DESIGN §10, issue 18) — its manifest in and
// out, the cluster selector, the JSON merge patch of overrides, and the
// rendering of one cluster's copy.
//
// A copy is rendered through the Service's own manifest: the template
// becomes a v1 Service manifest (sf_model_service_to_manifest), each
// override that selects the cluster is merged into it (RFC 7386) in
// order, and the result is read back with sf_model_service_from_manifest,
// so an override meets exactly the checks a hand-written manifest meets
// and a field the Service does not have is a violation, not a no-op.
//
// It is one file of about 1,150 lines because it is the whole of one
// object, the FleetService: reading and writing its manifest, selection,
// overrides and rendering share the static helpers of its fields
// (selectors, key-value lists, violations with their paths), which are
// the FleetService's own and nothing else's.
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

#define FIELD_MAX 512

// ------------------------------------------------------ small helpers

static void viol(sf_status *st, const char *type, const char *field,
    const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static void
viol(sf_status *st, const char *type, const char *field, const char *fmt, ...)
{
	char    msg[FIELD_MAX];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	sf_status_violation(st, type, field, "%s", msg);
}

static int
oom(sf_status *st)
{
	return (sf_status_set(st, SF_RESOURCE_EXHAUSTED, "out of memory"));
}

// Copies the violations of src into dst with prefix before each field:
// "spec.template." + "spec.ports[0].port".
static void
viol_move(sf_status *dst, const sf_status *src, const char *prefix)
{
	for (size_t i = 0; i < src->st_nviol; i++) {
		char f[FIELD_MAX];
		snprintf(
		    f, sizeof(f), "%s%s", prefix, src->st_viol[i].v_field);
		sf_status_violation(dst, src->st_viol[i].v_type, f, "%s",
		    src->st_viol[i].v_reason);
	}
}

// A JSON object of strings into KeyValues (from a).
static int
kvs_from(const json_t *o, const char *field, sf_arena *a, sf_kv ***out,
    size_t *n, sf_status *st)
{
	const char *k;
	json_t     *v;
	size_t      i = 0;

	*out = NULL;
	*n   = 0;
	if (o == NULL || json_is_null(o)) {
		return (0);
	}
	if (!json_is_object(o)) {
		viol(st, SF_V_INVALID, field,
		    "Invalid value: %s: must be a map",
		    sf__model_json_type_name(o));
		return (0);
	}
	*out = sf_arena_zalloc(a, (json_object_size(o) + 1) * sizeof(**out));
	if (*out == NULL) {
		return (oom(st));
	}
	json_object_foreach((json_t *) o, k, v)
	{
		sf_kv *kv = sf_arena_zalloc(a, sizeof(*kv));
		if (kv == NULL) {
			return (oom(st));
		}
		svcfleet__v1__key_value__init(kv);
		if (!json_is_string(v)) {
			char f[FIELD_MAX];
			snprintf(f, sizeof(f), "%s[%s]", field, k);
			viol(st, SF_V_INVALID, f,
			    "Invalid value: %s: must be a string",
			    sf__model_json_type_name(v));
			continue;
		}
		kv->key     = sf__model_adup(a, k);
		kv->value   = sf__model_adup(a, json_string_value(v));
		(*out)[i++] = kv;
	}
	*n = i;
	return (0);
}

static json_t *
kvs_json(sf_kv *const *kvs, size_t n)
{
	json_t *o = json_object();
	for (size_t i = 0; o != NULL && i < n; i++) {
		json_object_set_new(
		    o, sf_nz(kvs[i]->key), json_string(sf_nz(kvs[i]->value)));
	}
	return (o);
}

static int
strings_from(const json_t *arr, const char *field, sf_arena *a, char ***out,
    size_t *n, sf_status *st)
{
	*out = NULL;
	*n   = 0;
	if (arr == NULL || json_is_null(arr)) {
		return (0);
	}
	if (!json_is_array(arr)) {
		viol(st, SF_V_INVALID, field,
		    "Invalid value: %s: must be a list of strings",
		    sf__model_json_type_name(arr));
		return (0);
	}
	*out = sf_arena_zalloc(a, (json_array_size(arr) + 1) * sizeof(**out));
	if (*out == NULL) {
		return (oom(st));
	}
	for (size_t i = 0; i < json_array_size(arr); i++) {
		json_t *v = json_array_get(arr, i);
		if (!json_is_string(v)) {
			char f[FIELD_MAX];
			snprintf(f, sizeof(f), "%s[%zu]", field, i);
			viol(st, SF_V_INVALID, f,
			    "Invalid value: %s: must be a string",
			    sf__model_json_type_name(v));
			continue;
		}
		(*out)[(*n)++] = sf__model_adup(a, json_string_value(v));
	}
	return (0);
}

static json_t *
strings_json(char *const *v, size_t n)
{
	json_t *arr = json_array();
	for (size_t i = 0; arr != NULL && i < n; i++) {
		json_array_append_new(arr, json_string(sf_nz(v[i])));
	}
	return (arr);
}

// Unknown keys of o (not in known, NULL-terminated) are violations.
static void
unknown_fields(const json_t *o, const char *const *known, const char *field,
    sf_status *st)
{
	const char *k;
	json_t     *v;
	json_object_foreach((json_t *) o, k, v)
	{
		size_t i;
		for (i = 0; known[i] != NULL; i++) {
			if (strcmp(known[i], k) == 0) {
				break;
			}
		}
		if (known[i] == NULL) {
			char f[FIELD_MAX];
			snprintf(f, sizeof(f), "%s%s%s", field,
			    field[0] != '\0' ? "." : "", k);
			viol(st, SF_V_NOT_SUPPORTED, f,
			    "Unsupported value: field is not declared in "
			    "schema");
		}
	}
}

// --------------------------------------------------- cluster selector

static int
selector_from(const json_t *o, const char *field, sf_arena *a,
    Svcfleet__V1__ClusterSelector **out, sf_status *st)
{
	static const char *const known[]
	    = {"matchLabels", "matchExpressions", NULL};
	static const char *const ops[]
	    = {"In", "NotIn", "Exists", "DoesNotExist", NULL};
	Svcfleet__V1__ClusterSelector *sel;
	char                           f[FIELD_MAX];
	const json_t                  *ex;

	*out = NULL;
	if (o == NULL || json_is_null(o)) {
		return (0);
	}
	if (!json_is_object(o)) {
		viol(st, SF_V_INVALID, field,
		    "Invalid value: %s: must be a LabelSelector",
		    sf__model_json_type_name(o));
		return (0);
	}
	unknown_fields(o, known, field, st);
	if ((sel = sf_arena_zalloc(a, sizeof(*sel))) == NULL) {
		return (oom(st));
	}
	svcfleet__v1__cluster_selector__init(sel);
	snprintf(f, sizeof(f), "%s.matchLabels", field);
	if (kvs_from(json_object_get(o, "matchLabels"), f, a,
	        &sel->match_labels, &sel->n_match_labels, st)
	    != 0) {
		return (st->st_code);
	}
	ex = json_object_get(o, "matchExpressions");
	if (ex != NULL && !json_is_null(ex)) {
		if (!json_is_array(ex)) {
			snprintf(f, sizeof(f), "%s.matchExpressions", field);
			viol(st, SF_V_INVALID, f,
			    "Invalid value: %s: must be a list",
			    sf__model_json_type_name(ex));
		} else {
			size_t n = json_array_size(ex);
			sel->match_expressions
			    = sf_arena_zalloc(a, (n + 1) * sizeof(void *));
			if (sel->match_expressions == NULL) {
				return (oom(st));
			}
			for (size_t i = 0; i < n; i++) {
				static const char *const rk[]
				    = {"key", "operator", "values", NULL};
				const json_t *e = json_array_get(ex, i);
				Svcfleet__V1__LabelSelectorRequirement *r;
				const char                             *op;
				snprintf(f, sizeof(f),
				    "%s.matchExpressions[%zu]", field, i);
				if (!json_is_object(e)) {
					viol(st, SF_V_INVALID, f,
					    "Invalid value: %s: must be an "
					    "object",
					    sf__model_json_type_name(e));
					continue;
				}
				unknown_fields(e, rk, f, st);
				r = sf_arena_zalloc(a, sizeof(*r));
				if (r == NULL) {
					return (oom(st));
				}
				svcfleet__v1__label_selector_requirement__init(
				    r);
				r->key = sf__model_adup(a,
				    json_string_value(
				        json_object_get(e, "key")));
				op     = json_string_value(
				        json_object_get(e, "operator"));
				r->operator_ = sf__model_adup(a, op);
				if (sf__model_empty(r->key)) {
					char g[FIELD_MAX + 8];
					snprintf(g, sizeof(g), "%s.key", f);
					viol(st, SF_V_REQUIRED, g,
					    "Required value");
				}
				size_t k;
				for (k = 0; ops[k] != NULL; k++) {
					if (op != NULL
					    && strcmp(op, ops[k]) == 0) {
						break;
					}
				}
				if (ops[k] == NULL) {
					char g[FIELD_MAX + 12];
					snprintf(
					    g, sizeof(g), "%s.operator", f);
					viol(st, SF_V_NOT_SUPPORTED, g,
					    "Unsupported value: \"%s\": "
					    "supported values: \"In\", "
					    "\"NotIn\", \"Exists\", "
					    "\"DoesNotExist\"",
					    op != NULL ? op : "");
				}
				char g[FIELD_MAX + 10];
				snprintf(g, sizeof(g), "%s.values", f);
				if (strings_from(json_object_get(e, "values"),
				        g, a, &r->values, &r->n_values, st)
				    != 0) {
					return (st->st_code);
				}
				bool set_op = op != NULL
				    && (strcmp(op, "In") == 0
				        || strcmp(op, "NotIn") == 0);
				if (set_op && r->n_values == 0) {
					viol(st, SF_V_REQUIRED, g,
					    "Required value: must be "
					    "specified "
					    "when `operator` is 'In' or "
					    "'NotIn'");
				} else if (!set_op && ops[k] != NULL
				    && r->n_values > 0) {
					viol(st, SF_V_FORBIDDEN, g,
					    "Forbidden: may not be specified "
					    "when `operator` is 'Exists' or "
					    "'DoesNotExist'");
				}
				sel->match_expressions
				    [sel->n_match_expressions++]
				    = r;
			}
		}
	}
	*out = sel;
	return (0);
}

static json_t *
selector_json(const Svcfleet__V1__ClusterSelector *sel)
{
	json_t *o = json_object();
	if (o == NULL) {
		return (NULL);
	}
	if (sel->n_match_labels > 0) {
		json_object_set_new(o, "matchLabels",
		    kvs_json(sel->match_labels, sel->n_match_labels));
	}
	if (sel->n_match_expressions > 0) {
		json_t *arr = json_array();
		for (size_t i = 0; i < sel->n_match_expressions; i++) {
			const Svcfleet__V1__LabelSelectorRequirement *r
			    = sel->match_expressions[i];
			json_t *e = json_object();
			json_object_set_new(
			    e, "key", json_string(sf_nz(r->key)));
			json_object_set_new(
			    e, "operator", json_string(sf_nz(r->operator_)));
			if (r->n_values > 0) {
				json_object_set_new(e, "values",
				    strings_json(r->values, r->n_values));
			}
			json_array_append_new(arr, e);
		}
		json_object_set_new(o, "matchExpressions", arr);
	}
	return (o);
}

bool
sf_model_cluster_selected(
    const Svcfleet__V1__ClusterSelector *sel, const sf_cluster *cl)
{
	if (sel == NULL) {
		return (false);
	}
	for (size_t i = 0; i < sel->n_match_labels; i++) {
		const char *v = sf_model_kv_get(
		    cl->labels, cl->n_labels, sel->match_labels[i]->key);
		if (v == NULL
		    || strcmp(v, sf_nz(sel->match_labels[i]->value)) != 0) {
			return (false);
		}
	}
	for (size_t i = 0; i < sel->n_match_expressions; i++) {
		const Svcfleet__V1__LabelSelectorRequirement *r
		    = sel->match_expressions[i];
		const char *v
		    = sf_model_kv_get(cl->labels, cl->n_labels, r->key);
		const char *op = sf_nz(r->operator_);
		bool        in = false;
		for (size_t k = 0; v != NULL && k < r->n_values; k++) {
			in = in || strcmp(v, sf_nz(r->values[k])) == 0;
		}
		if ((strcmp(op, "In") == 0 && !in)
		    || (strcmp(op, "NotIn") == 0 && in)
		    || (strcmp(op, "Exists") == 0 && v == NULL)
		    || (strcmp(op, "DoesNotExist") == 0 && v != NULL)) {
			return (false);
		}
	}
	// An empty selector ({}) selects every cluster, as in Kubernetes.
	return (true);
}

static bool
names_cluster(char *const *names, size_t n, const char *cluster)
{
	for (size_t i = 0; i < n; i++) {
		if (strcmp(sf_nz(names[i]), cluster) == 0) {
			return (true);
		}
	}
	return (false);
}

bool
sf_model_fleet_places(const sf_fleet *fs, const sf_cluster *cl)
{
	const Svcfleet__V1__FleetPlacement *p
	    = fs->spec != NULL ? fs->spec->placement : NULL;
	if (p == NULL) {
		return (false);
	}
	return (names_cluster(p->clusters, p->n_clusters, sf_nz(cl->name))
	    || sf_model_cluster_selected(p->cluster_selector, cl));
}

bool
sf_model_fleet_override_selects(
    const Svcfleet__V1__FleetOverride *ov, const sf_cluster *cl)
{
	return (names_cluster(ov->clusters, ov->n_clusters, sf_nz(cl->name))
	    || sf_model_cluster_selected(ov->cluster_selector, cl));
}

// ---------------------------------------------------------- merge patch

// RFC 7386 on target (changed in place). A null deleting a key the
// target does not have patches a field that does not exist: a violation
// at path, as is a patch that is not an object where one is merged.
static int
merge_patch(
    json_t *target, const json_t *patch, const char *path, sf_status *st)
{
	const char *k;
	json_t     *v;

	json_object_foreach((json_t *) patch, k, v)
	{
		char    f[FIELD_MAX];
		json_t *cur = json_object_get(target, k);
		snprintf(f, sizeof(f), "%s%s%s", path,
		    path[0] != '\0' ? "." : "", k);
		if (json_is_null(v)) {
			if (cur == NULL) {
				viol(st, SF_V_NOT_FOUND, f,
				    "Not found: the override removes a field "
				    "the rendered Service does not have");
			} else {
				json_object_del(target, k);
			}
			continue;
		}
		if (json_is_object(v)) {
			if (cur == NULL || !json_is_object(cur)) {
				cur = json_object();
				if (cur == NULL
				    || json_object_set_new(target, k, cur)
				        != 0) {
					return (oom(st));
				}
			}
			if (merge_patch(cur, v, f, st) != 0) {
				return (st->st_code);
			}
			continue;
		}
		if (json_object_set(target, k, v) != 0) {
			return (oom(st));
		}
	}
	return (0);
}

int
sf_model_json_merge_patch(
    json_t *target, const json_t *patch, const char *path, sf_status *st)
{
	if (!json_is_object(target) || !json_is_object(patch)) {
		viol(st, SF_V_INVALID, path,
		    "Invalid value: %s: a merge patch of a Service must be "
		    "an object",
		    sf__model_json_type_name(patch));
		return (0);
	}
	return (merge_patch(target, patch, path, st));
}

// ----------------------------------------------------- manifest in

static const char *
json_str(const json_t *o, const char *k)
{
	return (json_string_value(json_object_get(o, k)));
}

// The template (metadata labels/annotations + spec) through the Service's
// own conversion; violations land under spec.template.
static int
template_from(const json_t *tpl, const char *ns, const char *name, sf_arena *a,
    sf_service **out, sf_status *st)
{
	static const char *const known[]  = {"metadata", "spec", NULL};
	static const char *const mknown[] = {"labels", "annotations", NULL};
	json_t                  *obj      = NULL, *md, *tmd;
	sf_status                sub;
	int                      rv = 0;

	*out = NULL;
	if (tpl == NULL || json_is_null(tpl)) {
		viol(st, SF_V_REQUIRED, "spec.template", "Required value");
		return (0);
	}
	if (!json_is_object(tpl)) {
		viol(st, SF_V_INVALID, "spec.template",
		    "Invalid value: %s: must be an object",
		    sf__model_json_type_name(tpl));
		return (0);
	}
	unknown_fields(tpl, known, "spec.template", st);
	tmd = json_object_get(tpl, "metadata");
	if (tmd != NULL && json_is_object(tmd)) {
		unknown_fields(tmd, mknown, "spec.template.metadata", st);
	}
	obj = json_pack("{s:s, s:s, s:{s:s, s:s}}", "apiVersion", "v1", "kind",
	    "Service", "metadata", "name", name, "namespace", ns);
	if (obj == NULL) {
		return (oom(st));
	}
	md = json_object_get(obj, "metadata");
	if (tmd != NULL && json_is_object(tmd)) {
		json_t *l = json_object_get(tmd, "labels");
		json_t *n = json_object_get(tmd, "annotations");
		if (l != NULL) {
			json_object_set(md, "labels", l);
		}
		if (n != NULL) {
			json_object_set(md, "annotations", n);
		}
	}
	if (json_object_get(tpl, "spec") != NULL) {
		json_object_set(obj, "spec", json_object_get(tpl, "spec"));
	}
	sf_status_init(&sub);
	// The cluster is the placement's; a placeholder satisfies the
	// conversion and is cleared below.
	rv = sf_model_service_from_manifest(obj, "fleet", a, out, &sub);
	if (rv == SF_RESOURCE_EXHAUSTED) {
		sf_status_fini(&sub);
		json_decref(obj);
		return (oom(st));
	}
	for (size_t i = 0; i < sub.st_nviol; i++) {
		const char *f = sub.st_viol[i].v_field;
		char        g[FIELD_MAX];
		if (strcmp(f, "metadata.name") == 0
		    || strcmp(f, "metadata.namespace") == 0) {
			// Reported on the FleetService's own metadata.
			continue;
		}
		snprintf(g, sizeof(g), "spec.template.%s", f);
		sf_status_violation(st, sub.st_viol[i].v_type, g, "%s",
		    sub.st_viol[i].v_reason);
	}
	sf_status_fini(&sub);
	json_decref(obj);
	if (*out != NULL) {
		(*out)->metadata->cluster          = "";
		(*out)->metadata->resource_version = 0;
	}
	return (0);
}

bool
sf_model_fleet_is_manifest(const json_t *obj)
{
	const char *k = json_str(obj, "kind");
	return (k != NULL && strcmp(k, SF_MODEL_KIND_FLEET) == 0);
}

static int
override_from(const json_t *o, size_t i, sf_arena *a,
    Svcfleet__V1__FleetOverride **out, sf_status *st)
{
	static const char *const known[]
	    = {"clusters", "clusterSelector", "patch", NULL};
	Svcfleet__V1__FleetOverride *ov;
	char                         f[FIELD_MAX], g[FIELD_MAX + 20];
	const json_t                *patch;
	char                        *text;

	*out = NULL;
	snprintf(f, sizeof(f), "spec.overrides[%zu]", i);
	if (!json_is_object(o)) {
		viol(st, SF_V_INVALID, f,
		    "Invalid value: %s: must be an object",
		    sf__model_json_type_name(o));
		return (0);
	}
	unknown_fields(o, known, f, st);
	if ((ov = sf_arena_zalloc(a, sizeof(*ov))) == NULL) {
		return (oom(st));
	}
	svcfleet__v1__fleet_override__init(ov);
	snprintf(g, sizeof(g), "%s.clusters", f);
	if (strings_from(json_object_get(o, "clusters"), g, a, &ov->clusters,
	        &ov->n_clusters, st)
	    != 0) {
		return (st->st_code);
	}
	snprintf(g, sizeof(g), "%s.clusterSelector", f);
	if (selector_from(json_object_get(o, "clusterSelector"), g, a,
	        &ov->cluster_selector, st)
	    != 0) {
		return (st->st_code);
	}
	if (ov->n_clusters == 0 && ov->cluster_selector == NULL) {
		viol(st, SF_V_REQUIRED, f,
		    "Required value: name clusters or give a "
		    "clusterSelector");
	}
	patch = json_object_get(o, "patch");
	snprintf(g, sizeof(g), "%s.patch", f);
	if (patch == NULL || !json_is_object(patch)) {
		viol(st, patch == NULL ? SF_V_REQUIRED : SF_V_INVALID, g,
		    patch == NULL ? "Required value"
		                  : "Invalid value: must be an object (a JSON "
		                    "merge patch of the Service)");
		ov->patch_json = "{}";
	} else {
		text = json_dumps(patch, JSON_COMPACT | JSON_SORT_KEYS);
		if (text == NULL) {
			return (oom(st));
		}
		ov->patch_json = sf__model_adup(a, text);
		free(text);
	}
	*out = ov;
	return (0);
}

int
sf_model_fleet_from_manifest(
    const json_t *obj, sf_arena *a, sf_fleet **out, sf_status *st)
{
	static const char *const known[]
	    = {"apiVersion", "kind", "metadata", "spec", "status", NULL};
	static const char *const mknown[]
	    = {"name", "namespace", "resourceVersion", "labels", "annotations",
	        "uid", "creationTimestamp", "generation", NULL};
	static const char *const sknown[] = {"placement", "template",
	    "nodePorts", "overrides", "adopt", "shareAddresses", NULL};
	static const char *const pknown[]
	    = {"clusters", "clusterSelector", NULL};
	sf_fleet                       *fs;
	Svcfleet__V1__FleetServiceSpec *sp;
	const json_t                   *md, *spec, *pl, *ovs, *v;
	const char                     *name, *ns, *why;

	*out = NULL;
	if (!json_is_object(obj)) {
		return (sf_status_set(st, SF_INVALID_ARGUMENT,
		    "a FleetService must be an object"));
	}
	fs = sf_arena_zalloc(a, sizeof(*fs));
	sp = sf_arena_zalloc(a, sizeof(*sp));
	if (fs == NULL || sp == NULL) {
		return (oom(st));
	}
	svcfleet__v1__fleet_service__init(fs);
	svcfleet__v1__fleet_service_spec__init(sp);
	if ((fs->metadata = sf_arena_zalloc(a, sizeof(*fs->metadata))) == NULL
	    || (sp->placement = sf_arena_zalloc(a, sizeof(*sp->placement)))
	        == NULL) {
		return (oom(st));
	}
	svcfleet__v1__object_meta__init(fs->metadata);
	svcfleet__v1__fleet_placement__init(sp->placement);
	fs->spec = sp;
	unknown_fields(obj, known, "", st);
	if (!sf__model_streq(
	        json_str(obj, "apiVersion"), SF_MODEL_API_GROUP)) {
		viol(st, SF_V_NOT_SUPPORTED, "apiVersion",
		    "Unsupported value: \"%s\": supported values: \"%s\"",
		    sf_nz(json_str(obj, "apiVersion")), SF_MODEL_API_GROUP);
	}
	md = json_object_get(obj, "metadata");
	if (md != NULL && !json_is_object(md)) {
		viol(st, SF_V_INVALID, "metadata",
		    "Invalid value: must be an object");
		md = NULL;
	}
	if (md != NULL) {
		unknown_fields(md, mknown, "metadata", st);
	}
	name = json_str(md, "name");
	ns   = json_str(md, "namespace");
	if (ns == NULL) {
		ns = "default";
	}
	if (sf__model_empty(name)) {
		viol(st, SF_V_REQUIRED, "metadata.name", "Required value");
		name = "";
	} else if ((why = sf_model_check_dns1123_label(name)) != NULL) {
		viol(st, SF_V_INVALID, "metadata.name",
		    "Invalid value: \"%s\": %s", name, why);
	}
	if ((why = sf_model_check_dns1123_label(ns)) != NULL) {
		viol(st, SF_V_INVALID, "metadata.namespace",
		    "Invalid value: \"%s\": %s", ns, why);
	}
	fs->metadata->name       = sf__model_adup(a, name);
	fs->metadata->namespace_ = sf__model_adup(a, ns);
	v                        = json_object_get(md, "resourceVersion");
	if (json_is_string(v)) {
		char *end;
		fs->metadata->resource_version
		    = strtoull(json_string_value(v), &end, 10);
		if (*end != '\0' || json_string_value(v)[0] == '\0') {
			viol(st, SF_V_INVALID, "metadata.resourceVersion",
			    "Invalid value: \"%s\": must be a number",
			    json_string_value(v));
		}
	} else if (json_is_integer(v) && json_integer_value(v) >= 0) {
		fs->metadata->resource_version
		    = (uint64_t) json_integer_value(v);
	}
	if (kvs_from(json_object_get(md, "labels"), "metadata.labels", a,
	        &fs->metadata->labels, &fs->metadata->n_labels, st)
	        != 0
	    || kvs_from(json_object_get(md, "annotations"),
	           "metadata.annotations", a, &fs->metadata->annotations,
	           &fs->metadata->n_annotations, st)
	        != 0) {
		return (st->st_code);
	}
	spec = json_object_get(obj, "spec");
	if (spec == NULL || !json_is_object(spec)) {
		viol(st, spec == NULL ? SF_V_REQUIRED : SF_V_INVALID, "spec",
		    spec == NULL ? "Required value"
		                 : "Invalid value: must be an object");
		return (sf_status_set(st, SF_INVALID_ARGUMENT,
		    "FleetService \"%s\" is invalid", name));
	}
	unknown_fields(spec, sknown, "spec", st);
	pl = json_object_get(spec, "placement");
	if (pl == NULL || !json_is_object(pl)) {
		viol(st, pl == NULL ? SF_V_REQUIRED : SF_V_INVALID,
		    "spec.placement",
		    pl == NULL ? "Required value: name clusters or give a "
		                 "clusterSelector"
		               : "Invalid value: must be an object");
	} else {
		unknown_fields(pl, pknown, "spec.placement", st);
		if (strings_from(json_object_get(pl, "clusters"),
		        "spec.placement.clusters", a, &sp->placement->clusters,
		        &sp->placement->n_clusters, st)
		        != 0
		    || selector_from(json_object_get(pl, "clusterSelector"),
		           "spec.placement.clusterSelector", a,
		           &sp->placement->cluster_selector, st)
		        != 0) {
			return (st->st_code);
		}
	}
	if (template_from(json_object_get(spec, "template"), ns, name, a,
	        &sp->template_, st)
	    != 0) {
		return (st->st_code);
	}
	v = json_object_get(spec, "nodePorts");
	if (v != NULL && !json_is_string(v)) {
		viol(st, SF_V_INVALID, "spec.nodePorts",
		    "Invalid value: must be \"PerCluster\" or \"Same\"");
	}
	sp->node_ports = sf__model_adup(
	    a, json_is_string(v) ? json_string_value(v) : "PerCluster");
	v = json_object_get(spec, "adopt");
	if (v != NULL && !json_is_boolean(v)) {
		viol(st, SF_V_INVALID, "spec.adopt",
		    "Invalid value: must be true or false");
	}
	sp->adopt = json_is_true(v);
	v         = json_object_get(spec, "shareAddresses");
	if (v != NULL && !json_is_boolean(v)) {
		viol(st, SF_V_INVALID, "spec.shareAddresses",
		    "Invalid value: must be true or false");
	}
	sp->share_addresses = json_is_true(v);
	ovs                 = json_object_get(spec, "overrides");
	if (ovs != NULL && !json_is_null(ovs)) {
		if (!json_is_array(ovs)) {
			viol(st, SF_V_INVALID, "spec.overrides",
			    "Invalid value: must be a list");
		} else {
			size_t n = json_array_size(ovs);
			sp->overrides
			    = sf_arena_zalloc(a, (n + 1) * sizeof(void *));
			if (sp->overrides == NULL) {
				return (oom(st));
			}
			for (size_t i = 0; i < n; i++) {
				Svcfleet__V1__FleetOverride *ov;
				if (override_from(
				        json_array_get(ovs, i), i, a, &ov, st)
				    != 0) {
					return (st->st_code);
				}
				if (ov != NULL) {
					sp->overrides[sp->n_overrides++] = ov;
				}
			}
		}
	}
	*out = fs;
	if (sf_model_fleet_validate(fs, st) != 0 || st->st_nviol > 0) {
		char first[300] = "";
		if (st->st_nviol > 0) {
			snprintf(first, sizeof(first), ": %s: %s",
			    st->st_viol[0].v_field, st->st_viol[0].v_reason);
		}
		st->st_code = 0;
		return (sf_status_set(st, SF_INVALID_ARGUMENT,
		    "FleetService \"%s\" is invalid%s", name, first));
	}
	return (0);
}

int
sf_model_fleet_validate(const sf_fleet *fs, sf_status *st)
{
	const Svcfleet__V1__FleetServiceSpec *sp = fs->spec;
	const char                           *why;

	if (sp == NULL || sp->template_ == NULL || sp->placement == NULL) {
		viol(st, SF_V_REQUIRED, sp == NULL ? "spec" : "spec.template",
		    "Required value");
		return (0);
	}
	if (sp->placement->n_clusters == 0
	    && sp->placement->cluster_selector == NULL) {
		viol(st, SF_V_REQUIRED, "spec.placement",
		    "Required value: name clusters or give a "
		    "clusterSelector");
	}
	for (size_t i = 0; i < sp->placement->n_clusters; i++) {
		if ((why = sf_model_check_dns1123_label(
		         sf_nz(sp->placement->clusters[i])))
		    != NULL) {
			char f[64];
			snprintf(
			    f, sizeof(f), "spec.placement.clusters[%zu]", i);
			viol(st, SF_V_INVALID, f, "Invalid value: \"%s\": %s",
			    sf_nz(sp->placement->clusters[i]), why);
		}
	}
	if (!sf__model_empty(sp->node_ports)
	    && strcmp(sp->node_ports, "Same") != 0
	    && strcmp(sp->node_ports, "PerCluster") != 0) {
		viol(st, SF_V_NOT_SUPPORTED, "spec.nodePorts",
		    "Unsupported value: \"%s\": supported values: "
		    "\"PerCluster\", \"Same\"",
		    sp->node_ports);
	}
	for (size_t i = 0; i < sp->n_overrides; i++) {
		json_t      *p;
		json_error_t je;
		p = json_loads(sf_nz(sp->overrides[i]->patch_json), 0, &je);
		if (p == NULL || !json_is_object(p)) {
			char f[64];
			snprintf(f, sizeof(f), "spec.overrides[%zu].patch", i);
			viol(st, SF_V_INVALID, f,
			    "Invalid value: must be a JSON object (%s)",
			    p == NULL ? je.text : "not an object");
		}
		json_decref(p);
	}
	return (0);
}

// ----------------------------------------------------- manifest out

json_t *
sf_model_fleet_to_manifest(const sf_fleet *fs)
{
	const Svcfleet__V1__FleetServiceSpec *sp = fs->spec;
	const sf_object_meta                 *m  = fs->metadata;
	json_t *o = json_object(), *md = json_object(), *spec = json_object();
	char    num[32];

	if (o == NULL || md == NULL || spec == NULL) {
		json_decref(o);
		json_decref(md);
		json_decref(spec);
		return (NULL);
	}
	json_object_set_new(o, "apiVersion", json_string(SF_MODEL_API_GROUP));
	json_object_set_new(o, "kind", json_string(SF_MODEL_KIND_FLEET));
	if (m != NULL) {
		json_object_set_new(md, "name", json_string(sf_nz(m->name)));
		json_object_set_new(
		    md, "namespace", json_string(sf_nz(m->namespace_)));
		if (!sf__model_empty(m->uid)) {
			json_object_set_new(md, "uid", json_string(m->uid));
		}
		if (m->resource_version != 0) {
			snprintf(
			    num, sizeof(num), "%" PRIu64, m->resource_version);
			json_object_set_new(
			    md, "resourceVersion", json_string(num));
		}
		if (m->generation != 0) {
			json_object_set_new(
			    md, "generation", json_integer(m->generation));
		}
		if (m->n_labels > 0) {
			json_object_set_new(
			    md, "labels", kvs_json(m->labels, m->n_labels));
		}
		if (m->n_annotations > 0) {
			json_object_set_new(md, "annotations",
			    kvs_json(m->annotations, m->n_annotations));
		}
	}
	json_object_set_new(o, "metadata", md);
	if (sp != NULL) {
		json_t *pl = json_object();
		if (sp->placement != NULL) {
			if (sp->placement->n_clusters > 0) {
				json_object_set_new(pl, "clusters",
				    strings_json(sp->placement->clusters,
				        sp->placement->n_clusters));
			}
			if (sp->placement->cluster_selector != NULL) {
				json_object_set_new(pl, "clusterSelector",
				    selector_json(
				        sp->placement->cluster_selector));
			}
		}
		json_object_set_new(spec, "placement", pl);
		if (sp->template_ != NULL) {
			json_t *svc
			    = sf_model_service_to_manifest(sp->template_);
			json_t *t   = json_object();
			json_t *tm  = json_object();
			json_t *smd = json_object_get(svc, "metadata");
			json_t *ann = json_object_get(smd, "annotations");
			if (json_object_get(smd, "labels") != NULL) {
				json_object_set(tm, "labels",
				    json_object_get(smd, "labels"));
			}
			if (ann != NULL) {
				// Facts of a stored Service do not belong in
				// a template.
				json_object_del(ann, SF_ANN_CLUSTER);
				json_object_del(ann, SF_ANN_RESOURCE_VERSION);
				json_object_del(ann, SF_ANN_SYNC_STATE);
				if (json_object_size(ann) > 0) {
					json_object_set(
					    tm, "annotations", ann);
				}
			}
			if (json_object_size(tm) > 0) {
				json_object_set(t, "metadata", tm);
			}
			json_decref(tm);
			if (json_object_get(svc, "spec") != NULL) {
				json_object_set(
				    t, "spec", json_object_get(svc, "spec"));
			}
			json_decref(svc);
			json_object_set_new(spec, "template", t);
		}
		json_object_set_new(spec, "nodePorts",
		    json_string(sf__model_empty(sp->node_ports)
		            ? "PerCluster"
		            : sp->node_ports));
		if (sp->adopt) {
			json_object_set_new(spec, "adopt", json_true());
		}
		if (sp->share_addresses) {
			json_object_set_new(
			    spec, "shareAddresses", json_true());
		}
		if (sp->n_overrides > 0) {
			json_t *arr = json_array();
			for (size_t i = 0; i < sp->n_overrides; i++) {
				const Svcfleet__V1__FleetOverride *ov
				    = sp->overrides[i];
				json_t *e = json_object();
				if (ov->n_clusters > 0) {
					json_object_set_new(e, "clusters",
					    strings_json(
					        ov->clusters, ov->n_clusters));
				}
				if (ov->cluster_selector != NULL) {
					json_object_set_new(e,
					    "clusterSelector",
					    selector_json(
					        ov->cluster_selector));
				}
				json_object_set_new(e, "patch",
				    json_loads(
				        sf_nz(ov->patch_json), 0, NULL));
				json_array_append_new(arr, e);
			}
			json_object_set_new(spec, "overrides", arr);
		}
	}
	json_object_set_new(o, "spec", spec);
	if (fs->n_status > 0 || !sf__model_empty(fs->summary)) {
		json_t *s  = json_object();
		json_t *cs = json_array();
		json_object_set_new(
		    s, "summary", json_string(sf_nz(fs->summary)));
		json_object_set_new(s, "placed", json_integer(fs->placed));
		json_object_set_new(s, "synced", json_integer(fs->synced));
		for (size_t i = 0; i < fs->n_status; i++) {
			const Svcfleet__V1__FleetClusterStatus *c
			    = fs->status[i];
			json_t *e = json_object();
			json_object_set_new(
			    e, "cluster", json_string(sf_nz(c->cluster)));
			json_object_set_new(
			    e, "placement", json_string(sf_nz(c->placement)));
			if (!sf__model_empty(c->placement)
			    && strcmp(c->placement, "Placed") == 0) {
				json_object_set_new(e, "state",
				    json_string(
				        sf_model_sync_state_name(c->state)));
			}
			if (!sf__model_empty(c->message)) {
				json_object_set_new(
				    e, "message", json_string(c->message));
			}
			if (!sf__model_empty(c->lb_address)) {
				json_object_set_new(e, "loadBalancerAddress",
				    json_string(c->lb_address));
			}
			if (c->n_node_ports > 0) {
				json_t *np = json_array();
				for (size_t k = 0; k < c->n_node_ports; k++) {
					json_array_append_new(np,
					    json_pack("{s:s, s:i, s:i}",
					        "name",
					        sf_nz(c->node_ports[k]->name),
					        "port", c->node_ports[k]->port,
					        "nodePort",
					        c->node_ports[k]->node_port));
				}
				json_object_set_new(e, "nodePorts", np);
			}
			if (c->n_ingress > 0) {
				json_object_set_new(e, "ingress",
				    strings_json(c->ingress, c->n_ingress));
			}
			json_array_append_new(cs, e);
		}
		json_object_set_new(s, "clusters", cs);
		json_object_set_new(o, "status", s);
	}
	// i18-console: who last changed desired state and when (issue 19:
	// a conflict names them), as a Service's status says it.
	if (m != NULL && !sf__model_empty(m->spec_updated_by)) {
		json_t *s = json_object_get(o, "status");
		if (s == NULL) {
			s = json_object();
			json_object_set_new(o, "status", s);
		}
		sf_model_json_set_str(s, "specUpdatedBy", m->spec_updated_by);
		sf_model_json_set_time(
		    s, "specUpdateTime", m->spec_update_time_ms);
	}
	return (o);
}

// ---------------------------------------------------------- rendering

// The MetalLB annotations come in two spellings, and the new one wins
// when a manifest has both; an override naming one spelling means both.
static void
patch_both_spellings(json_t *patch)
{
	static const char *const pairs[][2] = {
	    {SF_ANN_METALLB_POOL, SF_ANN_METALLB_POOL_OLD},
	    {SF_ANN_METALLB_IPS, SF_ANN_METALLB_IPS_OLD},
	};
	json_t *ann = json_object_get(
	    json_object_get(patch, "metadata"), "annotations");
	if (!json_is_object(ann)) {
		return;
	}
	for (size_t i = 0; i < 2; i++) {
		json_t *a = json_object_get(ann, pairs[i][0]);
		json_t *b = json_object_get(ann, pairs[i][1]);
		if (a != NULL && b == NULL) {
			json_object_set(ann, pairs[i][1], a);
		} else if (b != NULL && a == NULL) {
			json_object_set(ann, pairs[i][0], b);
		}
	}
}

int
sf_model_fleet_render(const sf_fleet *fs, const sf_cluster *cl, sf_arena *a,
    sf_service **out, sf_status *st)
{
	const Svcfleet__V1__FleetServiceSpec *sp = fs->spec;
	sf_service                            tpl;
	sf_object_meta                        md;
	json_t                               *obj;
	sf_status                             sub;
	int                                   rv;

	*out = NULL;
	if (sp == NULL || sp->template_ == NULL
	    || sp->template_->metadata == NULL) {
		viol(st, SF_V_REQUIRED, "spec.template", "Required value");
		return (0);
	}
	tpl                 = *sp->template_;
	md                  = *sp->template_->metadata;
	md.cluster          = cl->name;
	md.namespace_       = fs->metadata->namespace_;
	md.name             = fs->metadata->name;
	md.resource_version = 0;
	tpl.metadata        = &md;
	tpl.status          = NULL;
	tpl.n_status        = 0;
	if ((obj = sf_model_service_to_manifest(&tpl)) == NULL) {
		return (oom(st));
	}
	sf_status_init(&sub);
	for (size_t i = 0; i < sp->n_overrides; i++) {
		const Svcfleet__V1__FleetOverride *ov = sp->overrides[i];
		json_t                            *p;
		char                               f[64];
		if (!sf_model_fleet_override_selects(ov, cl)) {
			continue;
		}
		snprintf(f, sizeof(f), "spec.overrides[%zu].patch", i);
		p = json_loads(sf_nz(ov->patch_json), 0, NULL);
		if (p == NULL || !json_is_object(p)) {
			viol(&sub, SF_V_INVALID, f,
			    "Invalid value: must be a JSON object");
			json_decref(p);
			continue;
		}
		patch_both_spellings(p);
		rv = sf_model_json_merge_patch(obj, p, f, &sub);
		json_decref(p);
		if (rv != 0) {
			sf_status_fini(&sub);
			json_decref(obj);
			return (oom(st));
		}
	}
	if (sub.st_nviol == 0) {
		rv = sf_model_service_from_manifest(
		    obj, cl->name, a, out, &sub);
		if (rv == SF_RESOURCE_EXHAUSTED) {
			sf_status_fini(&sub);
			json_decref(obj);
			return (oom(st));
		}
	}
	json_decref(obj);
	viol_move(st, &sub, "");
	sf_status_fini(&sub);
	if (st->st_nviol > 0) {
		*out = NULL;
		return (0);
	}
	if (sf_model_service_defaults(*out, a) != 0) {
		return (oom(st));
	}
	(*out)->metadata->owner = sf_arena_printf(
	    a, "%s/%s", SF_MODEL_KIND_FLEET, sf_nz(fs->metadata->name));
	if ((*out)->metadata->owner == NULL) {
		return (oom(st));
	}
	(*out)->metadata->resource_version = 0;
	if (sp->adopt) {
		(*out)->spec->allow_adoption = true;
	}
	return (0);
}
