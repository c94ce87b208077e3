// kf_schema.c: the shape of core/v1 Service, as its Go types and their
// +listType/+mapType markers define it, and decoding against it.
//
// The schema drives four things: decoding (field order, unknown fields,
// omitempty), server-side apply (which lists are maps keyed by what, which
// maps are atomic), strategic merge patch (merge keys) and type errors.
#include <stdio.h>
#include <string.h>

#include "kf.h"

static const kf_type t_string    = {.t_kind = KF_T_STRING};
static const kf_type t_int       = {.t_kind = KF_T_INT};
static const kf_type t_bool      = {.t_kind = KF_T_BOOL};
static const kf_type t_intstr    = {.t_kind = KF_T_INTSTR};
const kf_type        kf_type_any = {.t_kind = KF_T_ANY};
static const kf_type t_atomic    = {.t_kind = KF_T_ATOMIC};
static const kf_type t_strmap    = {.t_kind = KF_T_MAP, .t_elem = &t_string};
static const kf_type t_strlist_atomic
    = {.t_kind = KF_T_ATOMIC, .t_elem = &t_string};
static const kf_type t_strset = {.t_kind = KF_T_LISTSET, .t_elem = &t_string};

static const kf_field f_ownerref[] = {
    {"apiVersion", &t_string, KF_F_OMITEMPTY},
    {"kind", &t_string, KF_F_OMITEMPTY},
    {"name", &t_string, KF_F_OMITEMPTY},
    {"uid", &t_string, KF_F_OMITEMPTY},
    {"controller", &t_bool, KF_F_PTR},
    {"blockOwnerDeletion", &t_bool, KF_F_PTR},
    {NULL, NULL, 0},
};
static const kf_type t_ownerref  = {.t_kind = KF_T_STRUCT,
     .t_fields                              = f_ownerref,
     .t_goname                              = "OwnerReference"};
static const kf_type t_ownerrefs = {.t_kind = KF_T_LISTMAP,
    .t_elem                                 = &t_ownerref,
    .t_keys                                 = {"uid"},
    .t_mergekey                             = "uid"};

static const kf_field f_meta[] = {
    {"name", &t_string, KF_F_OMITEMPTY},
    {"generateName", &t_string, KF_F_OMITEMPTY},
    {"namespace", &t_string, KF_F_OMITEMPTY},
    {"selfLink", &t_string, KF_F_OMITEMPTY},
    {"uid", &t_string, KF_F_OMITEMPTY},
    {"resourceVersion", &t_string, KF_F_OMITEMPTY},
    {"generation", &t_int, KF_F_OMITEMPTY},
    {"creationTimestamp", &t_string, KF_F_OMITEMPTY},
    {"deletionTimestamp", &t_string, KF_F_PTR},
    {"deletionGracePeriodSeconds", &t_int, KF_F_PTR},
    {"labels", &t_strmap, KF_F_OMITEMPTY},
    {"annotations", &t_strmap, KF_F_OMITEMPTY},
    {"ownerReferences", &t_ownerrefs, KF_F_OMITEMPTY},
    {"finalizers", &t_strset, KF_F_OMITEMPTY},
    {"managedFields", &t_atomic, KF_F_OMITEMPTY},
    {NULL, NULL, 0},
};
static const kf_type t_meta
    = {.t_kind = KF_T_STRUCT, .t_fields = f_meta, .t_goname = "ObjectMeta"};

static const kf_field f_port[] = {
    {"name", &t_string, KF_F_OMITEMPTY},
    {"protocol", &t_string, KF_F_OMITEMPTY},
    {"appProtocol", &t_string, KF_F_PTR},
    {"port", &t_int, 0},
    {"targetPort", &t_intstr, KF_F_OMITEMPTY},
    {"nodePort", &t_int, KF_F_OMITEMPTY},
    {NULL, NULL, 0},
};
static const kf_type t_port
    = {.t_kind = KF_T_STRUCT, .t_fields = f_port, .t_goname = "ServicePort"};
static const kf_type t_ports = {.t_kind = KF_T_LISTMAP,
    .t_elem                             = &t_port,
    .t_keys                             = {"port", "protocol"},
    .t_mergekey                         = "port"};

static const kf_field f_clientip[] = {
    {"timeoutSeconds", &t_int, KF_F_PTR},
    {NULL, NULL, 0},
};
static const kf_type  t_clientip = {.t_kind = KF_T_STRUCT,
     .t_fields                              = f_clientip,
     .t_goname                              = "ClientIPConfig"};
static const kf_field f_affcfg[] = {
    {"clientIP", &t_clientip, KF_F_PTR},
    {NULL, NULL, 0},
};
static const kf_type t_affcfg = {.t_kind = KF_T_STRUCT,
    .t_fields                            = f_affcfg,
    .t_goname                            = "SessionAffinityConfig"};

static const kf_field f_spec[] = {
    {"ports", &t_ports, KF_F_OMITEMPTY},
    {"selector", &t_strmap, KF_F_OMITEMPTY | KF_F_ATOMIC},
    {"clusterIP", &t_string, KF_F_OMITEMPTY},
    {"clusterIPs", &t_strlist_atomic, KF_F_OMITEMPTY},
    {"type", &t_string, KF_F_OMITEMPTY},
    {"externalIPs", &t_strlist_atomic, KF_F_OMITEMPTY},
    {"sessionAffinity", &t_string, KF_F_OMITEMPTY},
    {"loadBalancerIP", &t_string, KF_F_OMITEMPTY},
    {"loadBalancerSourceRanges", &t_strlist_atomic, KF_F_OMITEMPTY},
    {"externalName", &t_string, KF_F_OMITEMPTY},
    {"externalTrafficPolicy", &t_string, KF_F_OMITEMPTY},
    {"healthCheckNodePort", &t_int, KF_F_OMITEMPTY},
    {"publishNotReadyAddresses", &t_bool, KF_F_OMITEMPTY},
    {"sessionAffinityConfig", &t_affcfg, KF_F_PTR},
    {"ipFamilies", &t_strlist_atomic, KF_F_OMITEMPTY},
    {"ipFamilyPolicy", &t_string, KF_F_PTR},
    {"allocateLoadBalancerNodePorts", &t_bool, KF_F_PTR},
    {"loadBalancerClass", &t_string, KF_F_PTR},
    {"internalTrafficPolicy", &t_string, KF_F_PTR},
    {"trafficDistribution", &t_string, KF_F_PTR},
    {NULL, NULL, 0},
};
static const kf_type t_spec
    = {.t_kind = KF_T_STRUCT, .t_fields = f_spec, .t_goname = "ServiceSpec"};

static const kf_field f_portstatus[] = {
    {"port", &t_int, 0},
    {"protocol", &t_string, 0},
    {"error", &t_string, KF_F_PTR},
    {NULL, NULL, 0},
};
static const kf_type t_portstatus = {
    .t_kind = KF_T_STRUCT, .t_fields = f_portstatus, .t_goname = "PortStatus"};
static const kf_type t_portstatuses
    = {.t_kind = KF_T_ATOMIC, .t_elem = &t_portstatus};
static const kf_field f_ingress[] = {
    {"ip", &t_string, KF_F_OMITEMPTY},
    {"hostname", &t_string, KF_F_OMITEMPTY},
    {"ipMode", &t_string, KF_F_PTR},
    {"ports", &t_portstatuses, KF_F_OMITEMPTY},
    {NULL, NULL, 0},
};
static const kf_type t_ingress = {.t_kind = KF_T_STRUCT,
    .t_fields                             = f_ingress,
    .t_goname                             = "LoadBalancerIngress"};
static const kf_type t_ingresses
    = {.t_kind = KF_T_ATOMIC, .t_elem = &t_ingress};
static const kf_field f_lbstatus[] = {
    {"ingress", &t_ingresses, KF_F_OMITEMPTY},
    {NULL, NULL, 0},
};
static const kf_type  t_lbstatus   = {.t_kind = KF_T_STRUCT,
       .t_fields                              = f_lbstatus,
       .t_goname                              = "LoadBalancerStatus"};
static const kf_type  t_conditions = {.t_kind = KF_T_LISTMAP,
     .t_elem                                  = &kf_type_any,
     .t_keys                                  = {"type"},
     .t_mergekey                              = "type"};
static const kf_field f_status[]   = {
      {"loadBalancer", &t_lbstatus, KF_F_ALWAYS},
      {"conditions", &t_conditions, KF_F_OMITEMPTY},
      {NULL, NULL, 0},
};
static const kf_type t_status = {
    .t_kind = KF_T_STRUCT, .t_fields = f_status, .t_goname = "ServiceStatus"};

static const kf_field f_service[] = {
    {"kind", &t_string, KF_F_OMITEMPTY},
    {"apiVersion", &t_string, KF_F_OMITEMPTY},
    {"metadata", &t_meta, KF_F_ALWAYS},
    {"spec", &t_spec, KF_F_ALWAYS},
    {"status", &t_status, KF_F_ALWAYS},
    {NULL, NULL, 0},
};
const kf_type kf_type_service
    = {.t_kind = KF_T_STRUCT, .t_fields = f_service, .t_goname = "Service"};

const kf_field *
kf_schema_field(const kf_type *t, const char *name)
{
	if (t == NULL || t->t_kind != KF_T_STRUCT) {
		return NULL;
	}
	for (const kf_field *f = t->t_fields; f->f_name; f++) {
		if (strcmp(f->f_name, name) == 0) {
			return f;
		}
	}
	return NULL;
}

static const char *
json_kind(const json_t *v)
{
	switch (json_typeof(v)) {
	case JSON_OBJECT:
		return "object";
	case JSON_ARRAY:
		return "array";
	case JSON_STRING:
		return "string";
	case JSON_INTEGER:
	case JSON_REAL:
		return "number";
	case JSON_TRUE:
	case JSON_FALSE:
		return "bool";
	default:
		return "null";
	}
}

static bool
is_zero(const json_t *v)
{
	switch (json_typeof(v)) {
	case JSON_NULL:
		return true;
	case JSON_STRING:
		return json_string_length(v) == 0;
	case JSON_INTEGER:
		return json_integer_value(v) == 0;
	case JSON_REAL:
		return json_real_value(v) == 0;
	case JSON_FALSE:
		return true;
	case JSON_OBJECT:
		return json_object_size(v) == 0;
	case JSON_ARRAY:
		return json_array_size(v) == 0;
	default:
		return false;
	}
}

typedef struct norm {
	bool        n_check;
	sf_buf     *n_unknown;
	char       *n_err;
	size_t      n_cap;
	const char *n_gostruct; // enclosing Go struct, for errors
	// The path being walked, rendered only when a message needs it.
	const char *n_seg[64];
	long        n_idx[64]; // >= 0: an index into a list
	int         n_nseg;
} norm;

static void
push(norm *n, const char *name, long idx)
{
	if (n->n_nseg < 64) {
		n->n_seg[n->n_nseg] = name;
		n->n_idx[n->n_nseg] = idx;
	}
	n->n_nseg++;
}

static void
pop(norm *n)
{
	n->n_nseg--;
}

// render writes "spec.ports[0].port" (indexes) or "spec.ports.port".
static void
render(const norm *n, char *buf, size_t cap, bool indexes)
{
	size_t len = 0;
	buf[0]     = '\0';
	for (int i = 0; i < n->n_nseg && i < 64 && len < cap; i++) {
		int w;
		if (n->n_idx[i] >= 0) {
			if (!indexes) {
				continue;
			}
			w = snprintf(
			    buf + len, cap - len, "[%ld]", n->n_idx[i]);
		} else {
			w = snprintf(buf + len, cap - len, "%s%s",
			    len ? "." : "", n->n_seg[i]);
		}
		if (w < 0) {
			break;
		}
		len += (size_t) w;
	}
}

static int
type_error(norm *n, const json_t *v, const char *gotype)
{
	char path[512];
	render(n, path, sizeof(path), false);
	snprintf(n->n_err, n->n_cap,
	    "json: cannot unmarshal %s into Go struct field %s.%s of type %s",
	    json_kind(v), n->n_gostruct ? n->n_gostruct : "Object", path,
	    gotype);
	return -1;
}

static int norm_value(norm *n, const kf_type *t, json_t **vp);

static void
add_unknown(norm *n, const char *key)
{
	if (n->n_unknown == NULL) {
		return;
	}
	char path[512], full[600];
	render(n, path, sizeof(path), true);
	snprintf(full, sizeof(full), "%s%s%s", path, *path ? "." : "", key);
	char *q = kf_goquote(full);
	sf_buf_printf(n->n_unknown, "%sunknown field %s",
	    n->n_unknown->b_len ? ", " : "", q);
	free(q);
}

// norm_field normalizes one field value in place in v.
static int
norm_field(norm *n, const kf_field *f, json_t *v, const char *key, json_t *val)
{
	push(n, key, -1);
	json_t *fv = json_incref(val);
	int     rc = norm_value(n, f->f_type, &fv);
	pop(n);
	if (rc == 0 && fv != val) {
		json_object_set(v, key, fv);
	}
	json_decref(fv);
	return rc;
}

static int
check_struct(norm *n, const kf_type *t, json_t *v)
{
	const char *key;
	json_t     *val;
	void       *tmp;
	json_object_foreach_safe(v, tmp, key, val)
	{
		const kf_field *f = kf_schema_field(t, key);
		if (f == NULL) {
			add_unknown(n, key);
			continue;
		}
		if (!json_is_null(val) && norm_field(n, f, v, key, val) != 0) {
			return -1;
		}
	}
	return 0;
}

static bool
droppable(const kf_field *f, const json_t *fv)
{
	return json_is_null(fv)
	    || ((f->f_flags & KF_F_OMITEMPTY) && is_zero(fv)
	        && f->f_type->t_kind != KF_T_STRUCT);
}

// canonical tells whether v already has its keys in declaration order,
// no unknown or droppable field and every always-encoded struct.
static bool
canonical(const kf_type *t, json_t *v)
{
	const kf_field *f = t->t_fields;
	const char     *key;
	json_t         *val;
	json_object_foreach(v, key, val)
	{
		while (f->f_name && strcmp(f->f_name, key) != 0) {
			if (f->f_flags & KF_F_ALWAYS) {
				return false;
			}
			f++;
		}
		if (f->f_name == NULL || droppable(f, val)) {
			return false;
		}
		f++;
	}
	for (; f->f_name; f++) {
		if (f->f_flags & KF_F_ALWAYS) {
			return false;
		}
	}
	return true;
}

static int
norm_struct(norm *n, const kf_type *t, json_t *v)
{
	const char *saved = n->n_gostruct;
	n->n_gostruct     = t->t_goname ? t->t_goname : saved;
	int rc            = 0;
	if (n->n_check) {
		rc            = check_struct(n, t, v);
		n->n_gostruct = saved;
		return rc;
	}
	if (canonical(t, v)) {
		// Already in shape: only the values need a look.
		const char *key;
		json_t     *val;
		void       *tmp;
		json_object_foreach_safe(v, tmp, key, val)
		{
			const kf_field *f = kf_schema_field(t, key);
			if ((rc = norm_field(n, f, v, key, val)) != 0) {
				break;
			}
			json_t *nv = json_object_get(v, key);
			if (droppable(f, nv)) {
				json_object_del(v, key);
			}
		}
		n->n_gostruct = saved;
		return rc;
	}
	json_t *out = json_object();
	for (const kf_field *f = t->t_fields; f->f_name; f++) {
		json_t *fv = json_object_get(v, f->f_name);
		if (fv == NULL || json_is_null(fv)) {
			if (f->f_flags & KF_F_ALWAYS) {
				json_object_set_new(
				    out, f->f_name, json_object());
				fv = json_object_get(out, f->f_name);
				push(n, f->f_name, -1);
				json_incref(fv);
				rc = norm_value(n, f->f_type, &fv);
				pop(n);
				json_decref(fv);
				if (rc != 0) {
					break;
				}
			}
			continue;
		}
		push(n, f->f_name, -1);
		json_incref(fv);
		rc = norm_value(n, f->f_type, &fv);
		pop(n);
		if (rc != 0) {
			json_decref(fv);
			break;
		}
		if (droppable(f, fv)) {
			json_decref(fv);
			continue;
		}
		json_object_set_new(out, f->f_name, fv);
	}
	if (rc == 0) {
		const char *key;
		json_t     *val;
		json_object_foreach(v, key, val)
		{
			if (kf_schema_field(t, key) == NULL) {
				add_unknown(n, key);
			}
		}
		json_object_clear(v);
		json_object_update(v, out);
	}
	json_decref(out);
	n->n_gostruct = saved;
	return rc;
}

static int
norm_value(norm *n, const kf_type *t, json_t **vp)
{
	json_t *v = *vp;
	switch (t->t_kind) {
	case KF_T_STRING:
		return json_is_string(v) ? 0 : type_error(n, v, "string");
	case KF_T_INT:
		if (json_is_real(v)) {
			double d = json_real_value(v);
			if (d != (double) (long long) d) {
				return type_error(n, v, "int32");
			}
			*vp = json_integer((long long) d);
			json_decref(v);
			return 0;
		}
		return json_is_integer(v) ? 0 : type_error(n, v, "int32");
	case KF_T_BOOL:
		return json_is_boolean(v) ? 0 : type_error(n, v, "bool");
	case KF_T_INTSTR:
		if (json_is_real(v)) {
			*vp = json_integer((long long) json_real_value(v));
			json_decref(v);
			return 0;
		}
		return json_is_integer(v) || json_is_string(v)
		    ? 0
		    : type_error(n, v, "intstr.IntOrString");
	case KF_T_STRUCT:
		if (!json_is_object(v)) {
			return type_error(
			    n, v, t->t_goname ? t->t_goname : "struct");
		}
		return norm_struct(n, t, v);
	case KF_T_MAP: {
		if (!json_is_object(v)) {
			return type_error(n, v, "map[string]string");
		}
		const char *key;
		json_t     *val;
		void       *tmp;
		json_object_foreach_safe(v, tmp, key, val)
		{
			if (json_is_null(val)) {
				// A null value decodes as "" in a Go map.
				json_object_set_new(v, key, json_string(""));
				continue;
			}
			if (!json_is_string(val)) {
				push(n, key, -1);
				int rc = type_error(n, val, "string");
				pop(n);
				return rc;
			}
		}
		return 0;
	}
	case KF_T_LISTMAP:
	case KF_T_LISTSET:
	case KF_T_ATOMIC: {
		if (t->t_elem == NULL) {
			return 0;
		}
		if (!json_is_array(v)) {
			return type_error(n, v, "[]");
		}
		size_t  i;
		json_t *it;
		json_array_foreach(v, i, it)
		{
			json_t *c = json_incref(it);
			push(n, NULL, (long) i);
			int rc = norm_value(n, t->t_elem, &c);
			pop(n);
			if (rc != 0) {
				json_decref(c);
				return -1;
			}
			if (c != it) {
				json_array_set(v, i, c);
			}
			json_decref(c);
		}
		return 0;
	}
	case KF_T_ANY:
		return 0;
	}
	return 0;
}

int
kf_schema_normalize(const kf_type *t, json_t *v, sf_buf *unknown,
    bool check_only, char *err, size_t cap)
{
	norm n;
	memset(&n, 0, sizeof(n));
	n.n_check   = check_only;
	n.n_unknown = unknown;
	n.n_err     = err;
	n.n_cap     = cap;
	if (t->t_kind == KF_T_ANY) {
		return json_is_object(v) ? 0 : -1;
	}
	json_incref(v);
	json_t *vv = v;
	int     rv = norm_value(&n, t, &vv);
	json_decref(vv);
	return rv;
}

void
kf_schema_drop_unknown(const kf_type *t, json_t *v)
{
	if (t == NULL) {
		return;
	}
	switch (t->t_kind) {
	case KF_T_STRUCT: {
		if (!json_is_object(v)) {
			return;
		}
		const char *key;
		json_t     *val;
		void       *tmp;
		json_object_foreach_safe(v, tmp, key, val)
		{
			const kf_field *f = kf_schema_field(t, key);
			if (f == NULL) {
				json_object_del(v, key);
			} else {
				kf_schema_drop_unknown(f->f_type, val);
			}
		}
		return;
	}
	case KF_T_LISTMAP:
	case KF_T_ATOMIC: {
		size_t  i;
		json_t *it;
		json_array_foreach(v, i, it)
		{
			kf_schema_drop_unknown(t->t_elem, it);
		}
		return;
	}
	default:
		return;
	}
}
