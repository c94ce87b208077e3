// kube_body.c: the apply body, canonical hashes and the managed-fields
// projection. See kube.h ("apply bodies").
#include "kube.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

#include "hash.h"
#include "str.h"

// ----------------------------------------------------------- canonical
//
// The canonical form is a byte string that is never parsed again, only
// hashed: objects with their keys sorted, arrays with their items sorted
// (list order the API server may keep differently does not count), empty
// objects and arrays left out, every string length-prefixed so nothing is
// ambiguous.

// put_num appends tag, the decimal digits of v (with its sign) and end:
// printf's cost, paid for every string of every object hashed, was a
// tenth of the reconciler's time.
static void
put_num(sf_buf *b, char tag, long long v, char end)
{
	char               d[24], *p = d + sizeof(d);
	unsigned long long u
	    = v < 0 ? 0ULL - (unsigned long long) v : (unsigned long long) v;

	*--p = end;
	do {
		*--p = (char) ('0' + u % 10);
		u /= 10;
	} while (u != 0);
	if (v < 0) {
		*--p = '-';
	}
	*--p = tag;
	sf_buf_put(b, p, (size_t) (d + sizeof(d) - p));
}

static void
put_bytes(sf_buf *b, char tag, const char *s, size_t n)
{
	put_num(b, tag, (long long) n, ':');
	sf_buf_put(b, s, n);
}

// One array item's canonical form inside a scratch buffer (ser_items):
// its offset while the buffer still grows, then its address.
typedef struct canon_span {
	size_t      cs_off;
	const char *cs_p;
	size_t      cs_len;
} canon_span;

static int
cmp_span(const void *a, const void *b)
{
	const canon_span *x = a, *y = b;
	size_t            n = x->cs_len < y->cs_len ? x->cs_len : y->cs_len;
	int               c = memcmp(x->cs_p, y->cs_p, n);
	return (
	    c != 0 ? c : (x->cs_len > y->cs_len) - (x->cs_len < y->cs_len));
}

// Few keys and items are the rule (a Service's metadata, spec, ports):
// their arrays live on the stack, and an array's items share one scratch
// buffer (issue 21: a malloc and free per object and per item were a
// large part of hashing).
#define CANON_STACK 16

// ser_items appends an array's canonical form to b: the forms of its n
// items (item(ctx, i, scratch) appends the ith one's) sorted, the empty
// ones left out, nothing when all are empty.
static void
ser_items(
    sf_buf *b, size_t n, void (*item)(void *, size_t, sf_buf *), void *ctx)
{
	sf_buf     sc = SF_BUF_INIT;
	canon_span stk[CANON_STACK], *sp;
	size_t     m = 0;

	if (n == 0) {
		return;
	}
	sp = n <= CANON_STACK ? stk : malloc(n * sizeof(*sp));
	if (sp == NULL) {
		return;
	}
	for (size_t i = 0; i < n; i++) {
		size_t at = sc.b_len;
		item(ctx, i, &sc);
		if (sc.b_len > at) {
			sp[m].cs_off = at;
			sp[m].cs_len = sc.b_len - at;
			m++;
		}
	}
	for (size_t i = 0; i < m; i++) {
		sp[i].cs_p = sc.b_data + sp[i].cs_off;
	}
	qsort(sp, m, sizeof(*sp), cmp_span);
	if (m > 0) {
		sf_buf_putc(b, '[');
		for (size_t i = 0; i < m; i++) {
			put_bytes(b, 'e', sp[i].cs_p, sp[i].cs_len);
		}
		sf_buf_putc(b, ']');
	}
	if (sp != stk) {
		free(sp);
	}
	sf_buf_fini(&sc);
}

// One key of an object's canonical form: the key, then how to append
// its value's form (ser_fields).
typedef struct canon_field {
	const char   *cf_key;
	const json_t *cf_fs; // the FieldsV1 set projecting the value, or NULL
	const json_t *cf_v;
} canon_field;

static int
cmp_field(const void *a, const void *b)
{
	return (strcmp(((const canon_field *) a)->cf_key,
	    ((const canon_field *) b)->cf_key));
}

static void ser(sf_buf *b, const json_t *v);
static void ser_proj(sf_buf *b, const json_t *fs, const json_t *v);

// ser_fields appends an object's canonical form to b from its n fields
// (sorted here): keys whose value's form is empty left out, nothing when
// all are.
static void
ser_fields(sf_buf *b, canon_field *f, size_t n)
{
	size_t mark = b->b_len;

	qsort(f, n, sizeof(*f), cmp_field);
	sf_buf_putc(b, '{');
	for (size_t i = 0; i < n; i++) {
		size_t at = b->b_len;
		put_bytes(b, 'k', f[i].cf_key, strlen(f[i].cf_key));
		size_t body = b->b_len;
		if (f[i].cf_fs != NULL) {
			ser_proj(b, f[i].cf_fs, f[i].cf_v);
		} else {
			ser(b, f[i].cf_v);
		}
		if (b->b_len == body) {
			b->b_len = at; // an empty child: leave the key out
		}
	}
	if (b->b_len == mark + 1) {
		b->b_len = mark;
	} else {
		sf_buf_putc(b, '}');
	}
}

static void
ser_item(void *ctx, size_t i, sf_buf *sc)
{
	ser(sc, json_array_get((const json_t *) ctx, i));
}

// ser appends v's canonical form to b; nothing for an empty object or
// array (so an absent field and an empty one compare equal).
static void
ser(sf_buf *b, const json_t *v)
{
	switch (json_typeof(v)) {
	case JSON_OBJECT: {
		size_t      n = json_object_size(v), k = 0;
		canon_field stk[CANON_STACK], *f;
		const char *key;
		json_t     *x;
		if (n == 0
		    || (f = n <= CANON_STACK ? stk : malloc(n * sizeof(*f)))
		        == NULL) {
			return;
		}
		json_object_foreach((json_t *) v, key, x)
		{
			f[k].cf_key = key;
			f[k].cf_fs  = NULL;
			f[k].cf_v   = x;
			k++;
		}
		ser_fields(b, f, k);
		if (f != stk) {
			free(f);
		}
		return;
	}
	case JSON_ARRAY:
		ser_items(b, json_array_size(v), ser_item, (void *) v);
		return;
	case JSON_STRING:
		put_bytes(b, 's', json_string_value(v), json_string_length(v));
		return;
	case JSON_INTEGER:
		put_num(b, 'i', (long long) json_integer_value(v), ';');
		return;
	case JSON_REAL:
		sf_buf_printf(b, "r%.17g;", json_real_value(v));
		return;
	case JSON_TRUE:
		sf_buf_putc(b, 't');
		return;
	case JSON_FALSE:
		sf_buf_putc(b, 'f');
		return;
	case JSON_NULL:
		sf_buf_putc(b, 'n');
		return;
	}
}

// Hash of v's canonical form; never 0 (0 means "nothing applied").
static uint64_t
canon_hash(const json_t *v)
{
	sf_buf   b = SF_BUF_INIT;
	uint64_t h;
	ser(&b, v);
	h = sf_hash_bytes(SF_HASH_INIT, b.b_data, b.b_len);
	h = sf_hash_u64(h, b.b_oom ? 1 : 0);
	sf_buf_fini(&b);
	return (h != 0 ? h : 1);
}

// Hash of the canonical form of v's part that fs names (ser_proj);
// never 0.
static uint64_t
proj_hash(const json_t *fs, const json_t *v)
{
	sf_buf   b = SF_BUF_INIT;
	uint64_t h;
	ser_proj(&b, fs, v);
	h = sf_hash_bytes(SF_HASH_INIT, b.b_data, b.b_len);
	h = sf_hash_u64(h, b.b_oom ? 1 : 0);
	sf_buf_fini(&b);
	return (h != 0 ? h : 1);
}

// ----------------------------------------------------------------- body

static void
kvs_put(json_t *obj, sf_kv *const *kvs, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (kvs[i] != NULL && kvs[i]->key != NULL) {
			json_object_set_new(obj, kvs[i]->key,
			    json_string(sf_nz(kvs[i]->value)));
		}
	}
}

int
sf_kube_body(
    const sf_service *svc, const char *owner, char **json, uint64_t *want)
{
	static const sf_object_meta empty_meta
	    = SVCFLEET__V1__OBJECT_META__INIT;
	static const sf_service_spec empty_spec
	    = SVCFLEET__V1__SERVICE_SPEC__INIT;
	sf_service     view = *svc;
	sf_object_meta md
	    = svc->metadata != NULL ? *svc->metadata : empty_meta;
	sf_service_spec sp = svc->spec != NULL ? *svc->spec : empty_spec;
	json_t         *m, *meta, *ann, *labels;
	char            gen[32];

	if (json != NULL) {
		*json = NULL;
	}
	if (want != NULL) {
		*want = 0;
	}
	// Only what the cluster should hold: no svcfleet bookkeeping, no
	// status, no svcfleet-only spec fields.
	md.cluster          = "";
	md.resource_version = 0;
	md.generation       = 0;
	md.create_time_ms   = 0;
	md.n_labels         = 0;
	md.n_annotations    = 0;
	sp.allow_adoption   = false;
	sp.selector_from    = "";
	view.metadata       = &md;
	view.spec           = &sp;
	view.status         = NULL;
	view.n_status       = 0;
	if ((m = sf_model_service_to_manifest(&view)) == NULL) {
		return (SF_RESOURCE_EXHAUSTED);
	}
	json_object_del(m, "status");
	meta = json_object_get(m, "metadata");
	json_object_del(meta, "creationTimestamp");
	json_object_del(meta, "generation");
	// Labels: the user's, then ours (ours win).
	labels = json_object();
	if (labels == NULL) {
		json_decref(m);
		return (SF_RESOURCE_EXHAUSTED);
	}
	if (svc->metadata != NULL) {
		kvs_put(
		    labels, svc->metadata->labels, svc->metadata->n_labels);
	}
	json_object_set_new(
	    labels, SF_LABEL_MANAGED_BY, json_string(SF_KUBE_FIELD_MANAGER));
	json_object_set_new(meta, "labels", labels);
	// Annotations: the MetalLB ones the manifest already has, the
	// user's, then ownership.
	ann = json_object_get(meta, "annotations");
	if (ann == NULL) {
		ann = json_object();
		json_object_set_new(meta, "annotations", ann);
	}
	if (svc->metadata != NULL) {
		kvs_put(ann, svc->metadata->annotations,
		    svc->metadata->n_annotations);
	}
	snprintf(gen, sizeof(gen), "%lld",
	    (long long) (svc->metadata != NULL ? svc->metadata->generation
	                                       : 0));
	json_object_set_new(ann, SF_ANN_OWNER, json_string(sf_nz(owner)));
	json_object_set_new(ann, SF_ANN_GENERATION, json_string(gen));
	// Which of this installation's cluster records the object belongs
	// to: two records naming one physical cluster must not take each
	// other's Services for garbage.
	json_object_set_new(ann, SF_ANN_CLUSTER,
	    json_string(svc->metadata != NULL && svc->metadata->cluster != NULL
	            ? svc->metadata->cluster
	            : ""));

	if (json != NULL && (*json = json_dumps(m, JSON_COMPACT)) == NULL) {
		json_decref(m);
		return (SF_RESOURCE_EXHAUSTED);
	}
	if (want != NULL) {
		// The hash covers what the cluster tracks as applied fields:
		// identity (apiVersion, kind, name, namespace) is not among
		// them. m is not needed any more: it becomes the canonical
		// form.
		json_object_del(m, "apiVersion");
		json_object_del(m, "kind");
		json_t *cm = json_object_get(m, "metadata");
		json_object_del(cm, "name");
		json_object_del(cm, "namespace");
		*want = canon_hash(m);
	}
	json_decref(m);
	if (want != NULL && *want == 0) {
		if (json != NULL) {
			free(*json);
			*json = NULL;
		}
		return (SF_RESOURCE_EXHAUSTED);
	}
	return (0);
}

// i19-ssd: the node port the cluster had assigned to port p, from the
// stored status cs (0 when it recorded none). Ports are matched on
// (port, protocol), as the API server keys them.
static int32_t
recorded_node_port(const sf_cluster_status *cs, const sf_service_port *p)
{
	const char *proto = p->protocol != NULL && p->protocol[0] != '\0'
	    ? p->protocol
	    : "TCP";
	for (size_t i = 0; i < cs->n_node_ports; i++) {
		const Svcfleet__V1__AssignedPort *a = cs->node_ports[i];
		const char *ap = a->protocol != NULL && a->protocol[0] != '\0'
		    ? a->protocol
		    : "TCP";
		if (a->port == p->port && strcmp(ap, proto) == 0
		    && a->node_port > 0 && a->node_port <= 65535) {
			return (a->node_port);
		}
	}
	return (0);
}

// The cluster IP the cluster had assigned (the stored status cs), asked
// for again in the body *json of a re-create: kube-apiserver allocates a
// requested clusterIP when it is free and in range, and refuses it (422)
// otherwise, when the caller makes the body again without it. svcfleet
// never sets clusterIP itself, so later applies leave it out and the API
// server keeps the allocated one (its patchAllocatedValues).
static int
keep_cluster_ip(const sf_cluster_status *cs, char **json)
{
	const char *ip = sf_nz(cs->cluster_ip);
	json_t     *b, *spec;
	char       *out;

	if (ip[0] == '\0' || strcmp(ip, "None") == 0 || *json == NULL) {
		return (0);
	}
	if ((b = json_loads(*json, 0, NULL)) == NULL
	    || (spec = json_object_get(b, "spec")) == NULL
	    || json_object_set_new(spec, "clusterIP", json_string(ip)) != 0
	    || (out = json_dumps(b, JSON_COMPACT)) == NULL) {
		json_decref(b);
		free(*json);
		*json = NULL;
		return (SF_RESOURCE_EXHAUSTED);
	}
	json_decref(b);
	free(*json);
	*json = out;
	return (0);
}

int
sf_kube_body_recreate(const sf_service *svc, const char *owner, char **json)
{
	const sf_cluster_status *cs = NULL;
	const sf_service_spec   *sp = svc->spec;
	const char              *cluster
	    = svc->metadata != NULL ? sf_nz(svc->metadata->cluster) : "";
	sf_service        view;
	sf_service_spec   vsp;
	sf_service_port **ports;
	sf_service_port  *each;
	int               rv;

	for (size_t i = 0; i < svc->n_status; i++) {
		if (svc->status[i] != NULL
		    && strcmp(sf_nz(svc->status[i]->cluster), cluster) == 0) {
			cs = svc->status[i];
		}
	}
	if (cs == NULL || sp == NULL) {
		return (sf_kube_body(svc, owner, json, NULL));
	}
	if (cs->n_node_ports == 0 || sp->n_ports == 0 || sp->type == NULL
	    || (strcmp(sp->type, "NodePort") != 0
	        && strcmp(sp->type, "LoadBalancer") != 0)) {
		if ((rv = sf_kube_body(svc, owner, json, NULL)) != 0) {
			return (rv);
		}
		return (keep_cluster_ip(cs, json));
	}
	ports = calloc(sp->n_ports, sizeof(*ports));
	each  = calloc(sp->n_ports, sizeof(*each));
	if (ports == NULL || each == NULL) {
		free(ports);
		free(each);
		return (SF_RESOURCE_EXHAUSTED);
	}
	for (size_t i = 0; i < sp->n_ports; i++) {
		each[i]  = *sp->ports[i];
		ports[i] = &each[i];
		if (each[i].node_port == 0) {
			each[i].node_port = recorded_node_port(cs, &each[i]);
		}
	}
	vsp       = *sp;
	vsp.ports = ports;
	view      = *svc;
	view.spec = &vsp;
	rv        = sf_kube_body(&view, owner, json, NULL);
	free(ports);
	free(each);
	return (rv != 0 ? rv : keep_cluster_ip(cs, json));
}

// ------------------------------------------------------------ projection

static bool
has_children(const json_t *fs)
{
	const char *k;
	json_t     *x;
	json_object_foreach((json_t *) fs, k, x)
	{
		if (strcmp(k, ".") != 0) {
			return (true);
		}
	}
	return (false);
}

// True when item matches every key of keys ({"port":80,"protocol":"TCP"}).
static bool
item_matches(const json_t *item, const json_t *keys)
{
	const char *k;
	json_t     *x;
	if (!json_is_object(item)) {
		return (false);
	}
	json_object_foreach((json_t *) keys, k, x)
	{
		if (!json_equal(json_object_get(item, k), x)) {
			return (false);
		}
	}
	return (true);
}

// ser_proj appends to b the canonical form of the part of v that the
// FieldsV1 set fs names. A field without children in fs is owned as a
// whole (a scalar, or an atomic map or list such as spec.selector).
// Issue 21: the projection is not made as a JSON value first (its deep
// copies were most of the cost of hashing what a cluster holds); the
// bytes, and so the hashes, are those of ser over that value.
typedef struct proj_items {
	const json_t *pi_v;
	const json_t *pi_fs;
	void         *pi_it; // the next key of pi_fs
} proj_items;

static void
proj_item(void *ctx, size_t i, sf_buf *sc)
{
	proj_items   *pi  = ctx;
	const json_t *v   = pi->pi_v;
	const char   *k   = json_object_iter_key(pi->pi_it);
	const json_t *sub = json_object_iter_value(pi->pi_it);

	(void) i;
	pi->pi_it = json_object_iter_next((json_t *) pi->pi_fs, pi->pi_it);
	if (strncmp(k, "k:", 2) == 0) {
		json_t *keys = json_loads(k + 2, 0, NULL);
		for (size_t j = 0; keys != NULL && j < json_array_size(v);
		     j++) {
			const json_t *it = json_array_get(v, j);
			if (item_matches(it, keys)) {
				ser_proj(sc, sub, it);
				break;
			}
		}
		json_decref(keys);
	} else if (strncmp(k, "v:", 2) == 0) {
		json_t *val = json_loads(k + 2, JSON_DECODE_ANY, NULL);
		for (size_t j = 0; val != NULL && j < json_array_size(v);
		     j++) {
			if (json_equal(json_array_get(v, j), val)) {
				ser(sc, val);
				break;
			}
		}
		json_decref(val);
	} else if (strncmp(k, "i:", 2) == 0) {
		size_t        idx = strtoul(k + 2, NULL, 10);
		const json_t *it  = json_array_get(v, idx);
		if (it != NULL) {
			ser_proj(sc, sub, it);
		}
	}
}

static void
ser_proj(sf_buf *b, const json_t *fs, const json_t *v)
{
	if (!json_is_object(fs) || !has_children(fs)) {
		ser(b, v);
		return;
	}
	if (json_is_object(v)) {
		size_t      n = json_object_size(fs), m = 0;
		canon_field stk[CANON_STACK], *f;
		const char *k;
		json_t     *sub;
		if ((f = n <= CANON_STACK ? stk : malloc(n * sizeof(*f)))
		    == NULL) {
			return;
		}
		json_object_foreach((json_t *) fs, k, sub)
		{
			json_t *x;
			if (strncmp(k, "f:", 2) != 0
			    || (x = json_object_get(v, k + 2)) == NULL) {
				continue;
			}
			f[m].cf_key = k + 2;
			f[m].cf_fs  = sub;
			f[m].cf_v   = x;
			m++;
		}
		if (m > 0) {
			ser_fields(b, f, m);
		}
		if (f != stk) {
			free(f);
		}
		return;
	}
	if (json_is_array(v)) {
		proj_items pi = {
		    .pi_v  = v,
		    .pi_fs = fs,
		    .pi_it = json_object_iter((json_t *) fs),
		};
		ser_items(b, json_object_size(fs), proj_item, &pi);
		return;
	}
	ser(b, v);
}

static const json_t *
applied_fields(const json_t *md)
{
	const json_t *mf = json_object_get(md, "managedFields");
	for (size_t i = 0; i < json_array_size(mf); i++) {
		const json_t *e = json_array_get(mf, i);
		const char   *mg
		    = json_string_value(json_object_get(e, "manager"));
		const char *op
		    = json_string_value(json_object_get(e, "operation"));
		if (mg != NULL && op != NULL
		    && strcmp(mg, SF_KUBE_FIELD_MANAGER) == 0
		    && strcmp(op, "Apply") == 0) {
			return (json_object_get(e, "fieldsV1"));
		}
	}
	return (NULL);
}

// ----------------------------------------------------------------- facts

// Facts are one string split at '|', ',', ':', '/' and '='
// (sf_kube_facts_fill): a value holding the separator that ends it would
// read back as something else. A cluster never sends such values (IPs,
// hostnames, port names and protocols do not have them), so one that
// does is left out rather than escaped.
static bool
fact_ok(const char *s, const char *seps)
{
	return (strpbrk(s, seps) == NULL);
}

static bool
port_ok(json_int_t v)
{
	return (v >= 1 && v <= 65535);
}

static void
facts_ports(sf_buf *b, const json_t *ports)
{
	bool first = true;
	for (size_t i = 0; i < json_array_size(ports); i++) {
		const json_t *p = json_array_get(ports, i);
		json_int_t    np
		    = json_integer_value(json_object_get(p, "nodePort"));
		json_int_t port
		    = json_integer_value(json_object_get(p, "port"));
		const char *nm = json_string_value(json_object_get(p, "name"));
		const char *pr
		    = json_string_value(json_object_get(p, "protocol"));
		nm = sf_nz(nm);
		pr = pr != NULL && pr[0] != '\0' ? pr : "TCP";
		if (np == 0 || !port_ok(np) || !port_ok(port)
		    || !fact_ok(nm, "|,:") || !fact_ok(pr, "|,=")) {
			continue;
		}
		sf_buf_printf(b, "%s%s:%lld/%s=%lld", first ? "" : ",", nm,
		    (long long) port, pr, (long long) np);
		first = false;
	}
}

int
sf_kube_observe(
    const json_t *obj, const char *owner, const char *cluster, sf_kube_obs *ob)
{
	const json_t *md   = json_object_get(obj, "metadata");
	const json_t *spec = json_object_get(obj, "spec");
	const json_t *ann  = json_object_get(md, "annotations");
	const json_t *ing  = json_object_get(
	     json_object_get(json_object_get(obj, "status"), "loadBalancer"),
	     "ingress");
	const json_t *fs;
	const char   *s;
	sf_buf        b = SF_BUF_INIT;

	memset(ob, 0, sizeof(*ob));
	ob->ob_ns   = json_string_value(json_object_get(md, "namespace"));
	ob->ob_name = json_string_value(json_object_get(md, "name"));
	if (ob->ob_ns == NULL || ob->ob_name == NULL) {
		return (SF_INVALID_ARGUMENT);
	}
	s            = json_string_value(json_object_get(ann, SF_ANN_OWNER));
	ob->ob_owned = owner != NULL && owner[0] != '\0' && s != NULL
	    && strcmp(s, owner) == 0;
	s            = json_string_value(json_object_get(ann, SF_ANN_CLUSTER));
	ob->ob_owned = ob->ob_owned && cluster != NULL && s != NULL
	    && strcmp(s, cluster) == 0;
	s = json_string_value(json_object_get(ann, SF_ANN_GENERATION));
	ob->ob_gen         = s != NULL ? strtoll(s, NULL, 10) : 0;
	s                  = json_string_value(json_object_get(md, "uid"));
	ob->ob_has_uid     = s != NULL && sf_kube_uid_parse(s, ob->ob_uid);
	s                  = json_string_value(json_object_get(spec, "type"));
	ob->ob_lb          = s != NULL && strcmp(s, "LoadBalancer") == 0;
	ob->ob_has_ingress = json_array_size(ing) > 0;
	if ((fs = applied_fields(md)) != NULL) {
		ob->ob_hash = proj_hash(fs, obj);
	}
	s = json_string_value(json_object_get(spec, "clusterIP"));
	sf_buf_puts(&b, s != NULL && fact_ok(s, "|") ? s : "");
	sf_buf_putc(&b, '|');
	facts_ports(&b, json_object_get(spec, "ports"));
	sf_buf_putc(&b, '|');
	bool first = true;
	for (size_t i = 0; i < json_array_size(ing); i++) {
		const json_t *e = json_array_get(ing, i);
		s               = json_string_value(json_object_get(e, "ip"));
		if (s == NULL) {
			s = json_string_value(json_object_get(e, "hostname"));
		}
		if (s != NULL && s[0] != '\0' && fact_ok(s, "|,")) {
			sf_buf_printf(&b, "%s%s", first ? "" : ",", s);
			first = false;
		}
	}
	if ((ob->ob_facts = sf_buf_take(&b)) == NULL) {
		return (SF_RESOURCE_EXHAUSTED);
	}
	return (0);
}

void
sf_kube_obs_fini(sf_kube_obs *ob)
{
	free(ob->ob_facts);
	ob->ob_facts = NULL;
}

char *
sf_kube_facts_of_status(const sf_cluster_status *cs)
{
	sf_buf b = SF_BUF_INIT;

	sf_buf_puts(&b, sf_nz(cs->cluster_ip));
	sf_buf_putc(&b, '|');
	for (size_t i = 0; i < cs->n_node_ports; i++) {
		const Svcfleet__V1__AssignedPort *p = cs->node_ports[i];
		sf_buf_printf(&b, "%s%s:%d/%s=%d", i > 0 ? "," : "",
		    sf_nz(p->name), p->port,
		    p->protocol != NULL && p->protocol[0] != '\0' ? p->protocol
		                                                  : "TCP",
		    p->node_port);
	}
	sf_buf_putc(&b, '|');
	for (size_t i = 0; i < cs->n_ingress; i++) {
		sf_buf_printf(&b, "%s%s", i > 0 ? "," : "", cs->ingress[i]);
	}
	return (sf_buf_take(&b));
}

// Splits s on sep in place into *parts (memory from a); returns the
// count, or -1 when out of memory.
static ssize_t
split(char *s, char sep, char ***parts, sf_arena *a)
{
	size_t n = 1;
	if (*s == '\0') {
		return (0);
	}
	for (const char *p = s; (p = strchr(p, sep)) != NULL; p++) {
		n++;
	}
	if ((*parts = sf_arena_alloc(a, n * sizeof(char *))) == NULL) {
		return (-1);
	}
	for (size_t i = 0; i < n; i++) {
		char *p     = strchr(s, sep);
		(*parts)[i] = s;
		if (p != NULL) {
			*p = '\0';
			s  = p + 1;
		}
	}
	return ((ssize_t) n);
}

int
sf_kube_facts_fill(const char *facts, sf_cluster_status *cs, sf_arena *a)
{
	char   *copy, *sect[3] = {NULL, NULL, NULL};
	char  **items;
	ssize_t n;

	if (facts == NULL) {
		return (0);
	}
	if ((copy = sf_arena_strdup(a, facts)) == NULL) {
		return (SF_RESOURCE_EXHAUSTED);
	}
	sect[0] = copy;
	if ((sect[1] = strchr(copy, '|')) != NULL) {
		*sect[1]++ = '\0';
		if ((sect[2] = strchr(sect[1], '|')) != NULL) {
			*sect[2]++ = '\0';
		}
	}
	cs->cluster_ip = sect[0];
	if (sect[1] != NULL && (n = split(sect[1], ',', &items, a)) != 0) {
		if (n < 0) {
			return (SF_RESOURCE_EXHAUSTED);
		}
		cs->node_ports
		    = sf_arena_alloc(a, (size_t) n * sizeof(*cs->node_ports));
		if (cs->node_ports == NULL) {
			return (SF_RESOURCE_EXHAUSTED);
		}
		for (size_t i = 0; i < (size_t) n; i++) {
			Svcfleet__V1__AssignedPort *p
			    = sf_arena_alloc(a, sizeof(*p));
			char *colon = strchr(items[i], ':');
			char *slash = colon ? strchr(colon, '/') : NULL;
			char *eq    = slash ? strchr(slash, '=') : NULL;
			if (p == NULL) {
				return (SF_RESOURCE_EXHAUSTED);
			}
			svcfleet__v1__assigned_port__init(p);
			if (colon == NULL || slash == NULL || eq == NULL) {
				continue;
			}
			*colon = *slash = *eq              = '\0';
			p->name                            = items[i];
			p->port                            = atoi(colon + 1);
			p->protocol                        = slash + 1;
			p->node_port                       = atoi(eq + 1);
			cs->node_ports[cs->n_node_ports++] = p;
		}
	}
	if (sect[2] != NULL && (n = split(sect[2], ',', &items, a)) != 0) {
		if (n < 0) {
			return (SF_RESOURCE_EXHAUSTED);
		}
		cs->ingress = sf_arena_alloc(a, (size_t) n * sizeof(char *));
		if (cs->ingress == NULL) {
			return (SF_RESOURCE_EXHAUSTED);
		}
		for (size_t i = 0; i < (size_t) n; i++) {
			cs->ingress[cs->n_ingress++] = items[i];
		}
	}
	return (0);
}

uint64_t
sf_kube_status_hash(
    int state, int64_t observed_generation, const char *msg, const char *facts)
{
	uint64_t h = SF_HASH_INIT;
	h          = sf_hash_u64(h, (uint64_t) state);
	h          = sf_hash_u64(h, (uint64_t) observed_generation);
	h          = sf_hash_str(h, msg);
	h          = sf_hash_str(h, facts);
	return (h != 0 ? h : 1);
}

uint64_t
sf_kube_stored_status_hash(const sf_service *svc, const char *cluster)
{
	for (size_t i = 0; i < svc->n_status; i++) {
		const sf_cluster_status *cs = svc->status[i];
		char                    *facts;
		uint64_t                 h;
		if (cs == NULL || cs->cluster == NULL
		    || strcmp(cs->cluster, cluster) != 0) {
			continue;
		}
		if ((facts = sf_kube_facts_of_status(cs)) == NULL) {
			return (0);
		}
		h = sf_kube_status_hash((int) cs->state,
		    cs->observed_generation, cs->message, facts);
		free(facts);
		return (h);
	}
	return (0);
}

// --------------------------------------------------------------- uids

static int
hexval(char c)
{
	if (c >= '0' && c <= '9') {
		return (c - '0');
	}
	if (c >= 'a' && c <= 'f') {
		return (c - 'a' + 10);
	}
	if (c >= 'A' && c <= 'F') {
		return (c - 'A' + 10);
	}
	return (-1);
}

bool
sf_kube_uid_parse(const char *s, unsigned char out[16])
{
	size_t n = 0;
	for (; *s != '\0'; s++) {
		int hi, lo;
		if (*s == '-') {
			continue;
		}
		if (n == 16 || (hi = hexval(s[0])) < 0 || s[1] == '\0'
		    || (lo = hexval(s[1])) < 0) {
			return (false);
		}
		out[n++] = (unsigned char) (hi << 4 | lo);
		s++;
	}
	return (n == 16);
}

void
sf_kube_uid_format(const unsigned char u[16], char out[37])
{
	snprintf(out, 37,
	    "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x"
	    "%02x",
	    u[0], u[1], u[2], u[3], u[4], u[5], u[6], u[7], u[8], u[9], u[10],
	    u[11], u[12], u[13], u[14], u[15]);
}
