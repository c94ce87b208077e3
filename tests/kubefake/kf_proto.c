// kf_proto.c: decoding application/vnd.kubernetes.protobuf bodies.
//
// kubectl's typed clients (`kubectl create deployment|service|namespace`)
// send protobuf: "k8s\0" then a runtime.Unknown whose raw bytes are the
// object. This decoder knows the fields those commands fill (field numbers
// from the generated.proto files of core/v1, apps/v1 and meta/v1) and
// turns them into the JSON the rest of kubefake works on. Fields it does
// not know are skipped.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "kf.h"

enum ptype {
	P_STR,
	P_INT,
	P_BOOL,
	P_MSG,
	P_MAP_SS,  // map<string,string>
	P_MAP_QTY, // map<string,Quantity>
	P_TIME,    // metav1.Time {seconds, nanos}
	P_INTSTR,  // intstr.IntOrString {type, intVal, strVal}
	P_QTY,     // resource.Quantity {string}
};

typedef struct pfield pfield;
struct pfield {
	int           pf_num;
	const char   *pf_name;
	int           pf_type;
	bool          pf_rep;
	const pfield *pf_msg;
};

#define END                             \
	{                               \
		0, NULL, 0, false, NULL \
	}

static const pfield m_ownerref[]
    = {{1, "kind", P_STR, false, NULL}, {3, "name", P_STR, false, NULL},
        {4, "uid", P_STR, false, NULL}, {5, "apiVersion", P_STR, false, NULL},
        {6, "controller", P_BOOL, false, NULL},
        {7, "blockOwnerDeletion", P_BOOL, false, NULL}, END};
static const pfield m_meta[] = {{1, "name", P_STR, false, NULL},
    {2, "generateName", P_STR, false, NULL},
    {3, "namespace", P_STR, false, NULL}, {5, "uid", P_STR, false, NULL},
    {6, "resourceVersion", P_STR, false, NULL},
    {7, "generation", P_INT, false, NULL},
    {11, "labels", P_MAP_SS, false, NULL},
    {12, "annotations", P_MAP_SS, false, NULL},
    {13, "ownerReferences", P_MSG, true, m_ownerref},
    {14, "finalizers", P_STR, true, NULL}, END};
static const pfield m_selreq[]
    = {{1, "key", P_STR, false, NULL}, {2, "operator", P_STR, false, NULL},
        {3, "values", P_STR, true, NULL}, END};
static const pfield m_selector[] = {{1, "matchLabels", P_MAP_SS, false, NULL},
    {2, "matchExpressions", P_MSG, true, m_selreq}, END};
static const pfield m_cport[]
    = {{1, "name", P_STR, false, NULL}, {2, "hostPort", P_INT, false, NULL},
        {3, "containerPort", P_INT, false, NULL},
        {4, "protocol", P_STR, false, NULL}, {5, "hostIP", P_STR, false, NULL},
        END};
static const pfield m_env[]
    = {{1, "name", P_STR, false, NULL}, {2, "value", P_STR, false, NULL}, END};
static const pfield m_resources[] = {{1, "limits", P_MAP_QTY, false, NULL},
    {2, "requests", P_MAP_QTY, false, NULL}, END};
static const pfield m_container[] = {{1, "name", P_STR, false, NULL},
    {2, "image", P_STR, false, NULL}, {3, "command", P_STR, true, NULL},
    {4, "args", P_STR, true, NULL}, {5, "workingDir", P_STR, false, NULL},
    {6, "ports", P_MSG, true, m_cport}, {7, "env", P_MSG, true, m_env},
    {8, "resources", P_MSG, false, m_resources},
    {13, "terminationMessagePath", P_STR, false, NULL},
    {14, "imagePullPolicy", P_STR, false, NULL},
    {20, "terminationMessagePolicy", P_STR, false, NULL}, END};
static const pfield m_podspec[] = {{2, "containers", P_MSG, true, m_container},
    {3, "restartPolicy", P_STR, false, NULL},
    {4, "terminationGracePeriodSeconds", P_INT, false, NULL},
    {6, "dnsPolicy", P_STR, false, NULL},
    {7, "nodeSelector", P_MAP_SS, false, NULL},
    {8, "serviceAccountName", P_STR, false, NULL},
    {19, "schedulerName", P_STR, false, NULL},
    {20, "initContainers", P_MSG, true, m_container}, END};
static const pfield m_template[] = {{1, "metadata", P_MSG, false, m_meta},
    {2, "spec", P_MSG, false, m_podspec}, END};
static const pfield m_rolling[]
    = {{1, "maxUnavailable", P_INTSTR, false, NULL},
        {2, "maxSurge", P_INTSTR, false, NULL}, END};
static const pfield m_strategy[]   = {{1, "type", P_STR, false, NULL},
      {2, "rollingUpdate", P_MSG, false, m_rolling}, END};
static const pfield m_deployspec[] = {{1, "replicas", P_INT, false, NULL},
    {2, "selector", P_MSG, false, m_selector},
    {3, "template", P_MSG, false, m_template},
    {4, "strategy", P_MSG, false, m_strategy},
    {5, "minReadySeconds", P_INT, false, NULL},
    {6, "revisionHistoryLimit", P_INT, false, NULL},
    {7, "paused", P_BOOL, false, NULL},
    {9, "progressDeadlineSeconds", P_INT, false, NULL}, END};
static const pfield m_stsspec[]    = {{1, "replicas", P_INT, false, NULL},
       {2, "selector", P_MSG, false, m_selector},
       {3, "template", P_MSG, false, m_template},
       {5, "serviceName", P_STR, false, NULL}, END};
static const pfield m_dsspec[]  = {{1, "selector", P_MSG, false, m_selector},
     {2, "template", P_MSG, false, m_template}, END};
static const pfield m_empty[]   = {END};
static const pfield m_deploy[]  = {{1, "metadata", P_MSG, false, m_meta},
     {2, "spec", P_MSG, false, m_deployspec},
     {3, "status", P_MSG, false, m_empty}, END};
static const pfield m_sts[]     = {{1, "metadata", P_MSG, false, m_meta},
        {2, "spec", P_MSG, false, m_stsspec}, {3, "status", P_MSG, false, m_empty},
        END};
static const pfield m_ds[]      = {{1, "metadata", P_MSG, false, m_meta},
         {2, "spec", P_MSG, false, m_dsspec}, {3, "status", P_MSG, false, m_empty},
         END};
static const pfield m_nsspec[]  = {{1, "finalizers", P_STR, true, NULL}, END};
static const pfield m_ns[]      = {{1, "metadata", P_MSG, false, m_meta},
         {2, "spec", P_MSG, false, m_nsspec}, END};
static const pfield m_svcport[] = {{1, "name", P_STR, false, NULL},
    {2, "protocol", P_STR, false, NULL}, {3, "port", P_INT, false, NULL},
    {4, "targetPort", P_INTSTR, false, NULL},
    {5, "nodePort", P_INT, false, NULL},
    {6, "appProtocol", P_STR, false, NULL}, END};
static const pfield m_clientip[]
    = {{1, "timeoutSeconds", P_INT, false, NULL}, END};
static const pfield m_affcfg[]
    = {{1, "clientIP", P_MSG, false, m_clientip}, END};
static const pfield m_svcspec[] = {{1, "ports", P_MSG, true, m_svcport},
    {2, "selector", P_MAP_SS, false, NULL},
    {3, "clusterIP", P_STR, false, NULL}, {4, "type", P_STR, false, NULL},
    {5, "externalIPs", P_STR, true, NULL},
    {7, "sessionAffinity", P_STR, false, NULL},
    {8, "loadBalancerIP", P_STR, false, NULL},
    {9, "loadBalancerSourceRanges", P_STR, true, NULL},
    {10, "externalName", P_STR, false, NULL},
    {11, "externalTrafficPolicy", P_STR, false, NULL},
    {12, "healthCheckNodePort", P_INT, false, NULL},
    {13, "publishNotReadyAddresses", P_BOOL, false, NULL},
    {14, "sessionAffinityConfig", P_MSG, false, m_affcfg},
    {17, "ipFamilyPolicy", P_STR, false, NULL},
    {18, "clusterIPs", P_STR, true, NULL},
    {19, "ipFamilies", P_STR, true, NULL},
    {20, "allocateLoadBalancerNodePorts", P_BOOL, false, NULL},
    {21, "loadBalancerClass", P_STR, false, NULL},
    {22, "internalTrafficPolicy", P_STR, false, NULL},
    {23, "trafficDistribution", P_STR, false, NULL}, END};
static const pfield m_svc[]     = {{1, "metadata", P_MSG, false, m_meta},
        {2, "spec", P_MSG, false, m_svcspec}, {3, "status", P_MSG, false, m_empty},
        END};

typedef struct rd {
	const unsigned char *r_p;
	const unsigned char *r_end;
	bool                 r_bad;
} rd;

static uint64_t
varint(rd *r)
{
	uint64_t v = 0;
	for (int shift = 0; shift < 64; shift += 7) {
		if (r->r_p >= r->r_end) {
			r->r_bad = true;
			return 0;
		}
		unsigned char b = *r->r_p++;
		v |= (uint64_t) (b & 0x7f) << shift;
		if ((b & 0x80) == 0) {
			return v;
		}
	}
	r->r_bad = true;
	return 0;
}

static bool
bytes(rd *r, const unsigned char **p, size_t *n)
{
	uint64_t len = varint(r);
	if (r->r_bad || len > (uint64_t) (r->r_end - r->r_p)) {
		r->r_bad = true;
		return false;
	}
	*p = r->r_p;
	*n = (size_t) len;
	r->r_p += len;
	return true;
}

static void
skip(rd *r, int wt)
{
	const unsigned char *p;
	size_t               n;
	switch (wt) {
	case 0:
		varint(r);
		break;
	case 1:
		r->r_p += 8;
		break;
	case 2:
		bytes(r, &p, &n);
		break;
	case 5:
		r->r_p += 4;
		break;
	default:
		r->r_bad = true;
	}
	if (r->r_p > r->r_end) {
		r->r_bad = true;
	}
}

static json_t *decode_msg(const pfield *m, const unsigned char *p, size_t n);

// decode_small reads a nested message into up to 3 (field -> value)
// slots: strings for wire type 2, integers for wire type 0.
typedef struct small {
	uint64_t s_int[4];
	char    *s_str[4];
	bool     s_has[4];
} small;

static void
decode_small(const unsigned char *p, size_t n, small *s)
{
	memset(s, 0, sizeof(*s));
	rd r = {p, p + n, false};
	while (r.r_p < r.r_end && !r.r_bad) {
		uint64_t key = varint(&r);
		int      num = (int) (key >> 3), wt = (int) (key & 7);
		if (num < 1 || num > 3) {
			skip(&r, wt);
			continue;
		}
		if (wt == 0) {
			s->s_int[num] = varint(&r);
			s->s_has[num] = true;
		} else if (wt == 2) {
			const unsigned char *q;
			size_t               qn;
			if (bytes(&r, &q, &qn)) {
				free(s->s_str[num]);
				s->s_str[num] = strndup((const char *) q, qn);
				s->s_has[num] = true;
			}
		} else {
			skip(&r, wt);
		}
	}
}

static void
small_fini(small *s)
{
	for (int i = 0; i < 4; i++) {
		free(s->s_str[i]);
	}
}

static json_t *
decode_value(const pfield *f, rd *r, int wt)
{
	const unsigned char *p;
	size_t               n;
	switch (f->pf_type) {
	case P_STR:
		return wt == 2 && bytes(r, &p, &n)
		    ? json_stringn((const char *) p, n)
		    : NULL;
	case P_INT:
		return wt == 0 ? json_integer((json_int_t) (int64_t) varint(r))
		               : NULL;
	case P_BOOL:
		return wt == 0 ? json_boolean(varint(r) != 0) : NULL;
	case P_MSG:
		return wt == 2 && bytes(r, &p, &n)
		    ? decode_msg(f->pf_msg, p, n)
		    : NULL;
	case P_TIME: {
		if (wt != 2 || !bytes(r, &p, &n)) {
			return NULL;
		}
		small s;
		decode_small(p, n, &s);
		time_t    t = (time_t) (int64_t) s.s_int[1];
		struct tm tm;
		char      buf[32];
		gmtime_r(&t, &tm);
		strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm);
		small_fini(&s);
		return json_string(buf);
	}
	case P_INTSTR: {
		if (wt != 2 || !bytes(r, &p, &n)) {
			return NULL;
		}
		small   s;
		json_t *v;
		decode_small(p, n, &s);
		if (s.s_int[1] == 1) {
			v = json_string(s.s_str[3] ? s.s_str[3] : "");
		} else {
			v = json_integer((json_int_t) (int32_t) s.s_int[2]);
		}
		small_fini(&s);
		return v;
	}
	case P_QTY: {
		if (wt != 2 || !bytes(r, &p, &n)) {
			return NULL;
		}
		small s;
		decode_small(p, n, &s);
		json_t *v = json_string(s.s_str[1] ? s.s_str[1] : "0");
		small_fini(&s);
		return v;
	}
	default:
		return NULL;
	}
}

static json_t *
decode_msg(const pfield *m, const unsigned char *p, size_t n)
{
	json_t *o = json_object();
	rd      r = {p, p + n, false};
	while (r.r_p < r.r_end && !r.r_bad) {
		uint64_t      key = varint(&r);
		int           num = (int) (key >> 3), wt = (int) (key & 7);
		const pfield *f = NULL;
		for (const pfield *x = m; x->pf_name; x++) {
			if (x->pf_num == num) {
				f = x;
				break;
			}
		}
		if (f == NULL) {
			skip(&r, wt);
			continue;
		}
		if (f->pf_type == P_MAP_SS || f->pf_type == P_MAP_QTY) {
			const unsigned char *q;
			size_t               qn;
			if (wt != 2 || !bytes(&r, &q, &qn)) {
				break;
			}
			small s;
			decode_small(q, qn, &s);
			json_t *map = json_object_get(o, f->pf_name);
			if (map == NULL) {
				map = json_object();
				json_object_set_new(o, f->pf_name, map);
			}
			if (f->pf_type == P_MAP_SS) {
				json_object_set_new(map,
				    s.s_str[1] ? s.s_str[1] : "",
				    json_string(s.s_str[2] ? s.s_str[2] : ""));
			} else {
				small       qs;
				const char *raw = s.s_str[2] ? s.s_str[2] : "";
				decode_small((const unsigned char *) raw,
				    strlen(raw), &qs);
				json_object_set_new(map,
				    s.s_str[1] ? s.s_str[1] : "",
				    json_string(
				        qs.s_str[1] ? qs.s_str[1] : "0"));
				small_fini(&qs);
			}
			small_fini(&s);
			continue;
		}
		json_t *v = decode_value(f, &r, wt);
		if (v == NULL) {
			if (!r.r_bad) {
				skip(&r, wt);
			}
			continue;
		}
		// proto2 carries Go's zero values; JSON omits them
		// (omitempty).
		if (!f->pf_rep && strcmp(f->pf_name, "replicas") != 0
		    && ((json_is_string(v) && json_string_length(v) == 0)
		        || json_is_false(v)
		        || (json_is_integer(v)
		            && json_integer_value(v) == 0))) {
			json_decref(v);
			continue;
		}
		if (f->pf_rep) {
			json_t *a = json_object_get(o, f->pf_name);
			if (a == NULL) {
				a = json_array();
				json_object_set_new(o, f->pf_name, a);
			}
			json_array_append_new(a, v);
		} else {
			json_object_set_new(o, f->pf_name, v);
		}
	}
	if (r.r_bad) {
		json_decref(o);
		return NULL;
	}
	return o;
}

json_t *
kf_proto_decode(const char *body, size_t n, char *err, size_t cap)
{
	if (n < 4 || memcmp(body, "k8s\0", 4) != 0) {
		snprintf(err, cap,
		    "provided data does not appear to be a protobuf "
		    "message, expected prefix [107 56 115 0]");
		return NULL;
	}
	static const pfield m_typemeta[]
	    = {{1, "apiVersion", P_STR, false, NULL},
	        {2, "kind", P_STR, false, NULL}, END};
	static const pfield m_unknown[]
	    = {{1, "typeMeta", P_MSG, false, m_typemeta}, END};
	const unsigned char *p = (const unsigned char *) body + 4;
	json_t              *u = decode_msg(m_unknown, p, n - 4);
	// Find the raw bytes (field 2) by hand: they are decoded by kind.
	rd                   r   = {p, p + n - 4, false};
	const unsigned char *raw = NULL;
	size_t               rn  = 0;
	while (r.r_p < r.r_end && !r.r_bad) {
		uint64_t key = varint(&r);
		if ((key >> 3) == 2 && (key & 7) == 2) {
			bytes(&r, &raw, &rn);
		} else {
			skip(&r, (int) (key & 7));
		}
	}
	const char   *kind = kf_jstr(u, "typeMeta.kind");
	const char   *av   = kf_jstr(u, "typeMeta.apiVersion");
	const pfield *m    = NULL;
	if (kind && strcmp(kind, "Deployment") == 0) {
		m = m_deploy;
	} else if (kind && strcmp(kind, "StatefulSet") == 0) {
		m = m_sts;
	} else if (kind && strcmp(kind, "DaemonSet") == 0) {
		m = m_ds;
	} else if (kind && strcmp(kind, "Namespace") == 0) {
		m = m_ns;
	} else if (kind && strcmp(kind, "Service") == 0) {
		m = m_svc;
	}
	if (m == NULL || raw == NULL || r.r_bad) {
		snprintf(err, cap, "kubefake cannot decode protobuf %s %s",
		    av ? av : "", kind ? kind : "(unknown kind)");
		json_decref(u);
		return NULL;
	}
	json_t *o = decode_msg(m, raw, rn);
	if (o == NULL) {
		snprintf(err, cap, "malformed protobuf %s", kind);
		json_decref(u);
		return NULL;
	}
	json_t *out = json_object();
	json_object_set_new(out, "kind", json_string(kind));
	json_object_set_new(out, "apiVersion", json_string(av ? av : "v1"));
	json_object_update(out, o);
	json_decref(o);
	json_decref(u);
	return out;
}
