// kf_metallb.c: a simulated MetalLB controller (metallb/metallb
// controller/service.go). A LoadBalancer Service without
// spec.loadBalancerClass gets status.loadBalancer.ingress after
// --lb-delay-ms, from the requested address or the requested pool (the
// metallb.io/ annotation wins over metallb.universe.tf/), else the first
// pool. Failures leave it pending and record an AllocationFailed Event;
// pending Services are retried whenever an address is released.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kf.h"
#include "log.h"

static kf_tree *held;    // "ns/name" -> "ip" (malloc'd)
static kf_tree *pending; // "ns/name" -> non-NULL marker
static kf_tree *evnames; // "ns/name|reason|message" -> event name

static void
lazy_init(void)
{
	if (held == NULL) {
		held    = kf_tree_new();
		pending = kf_tree_new();
		evnames = kf_tree_new();
	}
}

static bool
eligible(json_t *svc)
{
	const char *t = kf_jstr(svc, "spec.type");
	return svc && t && strcmp(t, "LoadBalancer") == 0
	    && kf_jget(svc, "spec.loadBalancerClass") == NULL;
}

static kf_pool *
pool_by_name(const char *name)
{
	for (int i = 0; i < kf_st.st_npools; i++) {
		if (strcmp(kf_st.st_pools[i].p_name, name) == 0) {
			return &kf_st.st_pools[i];
		}
	}
	return NULL;
}

static kf_pool *
pool_of_ip(const char *ip, uint32_t *off)
{
	uint32_t v;
	if (kf_ip4_parse(ip, &v) != 0) {
		return NULL;
	}
	for (int i = 0; i < kf_st.st_npools; i++) {
		kf_pool *p = &kf_st.st_pools[i];
		if (v >= p->p_cidr.c_base
		    && v - p->p_cidr.c_base < p->p_cidr.c_size) {
			*off = v - p->p_cidr.c_base;
			return p;
		}
	}
	return NULL;
}

static void
release(const char *key)
{
	char *ip = kf_tree_del(held, key);
	if (ip == NULL) {
		return;
	}
	uint32_t off;
	kf_pool *p = pool_of_ip(ip, &off);
	if (p && p->p_owner[off] && strcmp(p->p_owner[off], key) == 0) {
		free(p->p_owner[off]);
		p->p_owner[off] = NULL;
		kf_bitmap_clear(&p->p_used, off);
	}
	free(ip);
}

static void
take(kf_pool *p, uint32_t off, const char *key)
{
	kf_bitmap_set(&p->p_used, off);
	free(p->p_owner[off]);
	p->p_owner[off] = strdup(key);
	char ip[16];
	kf_ip4_format(p->p_cidr.c_base + off, ip);
	free(kf_tree_put(held, key, strdup(ip)));
}

// record_event creates or bumps (count, lastTimestamp) an Event about svc.
static void
record_event(
    json_t *svc, const char *type, const char *reason, const char *msg)
{
	const char *ns   = kf_jstr(svc, "metadata.namespace");
	const char *name = kf_jstr(svc, "metadata.name");
	char        dkey[1024], key[512], now[32];
	snprintf(dkey, sizeof(dkey), "%s/%s|%s|%s", ns, name, reason, msg);
	kf_now_rfc3339(now);
	const char *evname = kf_tree_get(evnames, dkey);
	if (evname) {
		kf_key(KF_R_EVENTS, ns, evname, key, sizeof(key));
		kf_obj *old = kf_lookup(KF_R_EVENTS, key);
		if (old) {
			json_t   *ev = json_deep_copy(old->o_json);
			long long c
			    = json_integer_value(json_object_get(ev, "count"));
			json_object_set_new(ev, "count", json_integer(c + 1));
			json_object_set_new(
			    ev, "lastTimestamp", json_string(now));
			kf_commit(KF_R_EVENTS, key, ev, KF_EV_MODIFIED);
			return;
		}
	}
	char name2[300];
	snprintf(name2, sizeof(name2), "%s.%016llx", name,
	    (unsigned long long) (kf_rand_u64() >> 1));
	free(kf_tree_put(evnames, dkey, strdup(name2)));
	char uid[37];
	kf_uuid(uid);
	json_t *ev = json_pack(
	    "{s:s,s:s,s:{s:s,s:s,s:s,s:s},s:{s:s,s:s,s:s,s:O,s:s,s:O},s:s,s:s,"
	    "s:{s:s},s:s,s:s,s:i,s:s,s:n,s:s,s:s}",
	    "kind", "Event", "apiVersion", "v1", "metadata", "name", name2,
	    "namespace", ns, "uid", uid, "creationTimestamp", now,
	    "involvedObject", "kind", "Service", "namespace", ns, "name", name,
	    "uid", kf_jget(svc, "metadata.uid"), "apiVersion", "v1",
	    "resourceVersion", kf_jget(svc, "metadata.resourceVersion"),
	    "reason", reason, "message", msg, "source", "component",
	    "metallb-controller", "firstTimestamp", now, "lastTimestamp", now,
	    "count", 1, "type", type, "eventTime", "reportingComponent",
	    "metallb-controller", "reportingInstance", "");
	kf_key(KF_R_EVENTS, ns, name2, key, sizeof(key));
	kf_commit(KF_R_EVENTS, key, ev, KF_EV_ADDED);
}

// requested_ip returns the address asked for, or sets err.
static const char *
requested_ip(json_t *svc, char *err, size_t cap)
{
	json_t     *ann = kf_jget(svc, "metadata.annotations");
	const char *a   = kf_jkey(ann, "metallb.io/loadBalancerIPs");
	if (a == NULL) {
		a = kf_jkey(ann, "metallb.universe.tf/loadBalancerIPs");
	}
	const char *s = kf_jstr(svc, "spec.loadBalancerIP");
	if (a && *a && s && *s) {
		snprintf(err, cap,
		    "service can not have both "
		    "metallb.io/loadBalancerIPs and "
		    "svc.Spec.LoadBalancerIP");
		return NULL;
	}
	return a && *a ? a : s && *s ? s : NULL;
}

static const char *
requested_pool(json_t *svc)
{
	json_t     *ann = kf_jget(svc, "metadata.annotations");
	const char *p   = kf_jkey(ann, "metallb.io/address-pool");
	if (p == NULL) {
		p = kf_jkey(ann, "metallb.universe.tf/address-pool");
	}
	return p && *p ? p : NULL;
}

// allocate picks the address for key; returns the pool or NULL with err.
static kf_pool *
allocate(const char *key, json_t *svc, char *err, size_t cap)
{
	err[0]           = '\0';
	const char *want = requested_ip(svc, err, cap);
	if (err[0]) {
		return NULL;
	}
	const char *pname = requested_pool(svc);
	if (want) {
		char ip[64];
		snprintf(ip, sizeof(ip), "%s", want);
		char *comma = strchr(ip, ',');
		if (comma) {
			*comma = '\0';
		}
		char *s = ip;
		while (*s == ' ') {
			s++;
		}
		uint32_t off;
		kf_pool *p = pool_of_ip(s, &off);
		if (p == NULL) {
			snprintf(
			    err, cap, "[\"%s\"] is not allowed in config", s);
			return NULL;
		}
		if (pname && strcmp(pname, p->p_name) != 0) {
			snprintf(err, cap,
			    "requested loadBalancer IP(s) \"%s\" is not "
			    "compatible "
			    "with requested address pool %s",
			    s, pname);
			return NULL;
		}
		if (kf_bitmap_test(&p->p_used, off)
		    && strcmp(p->p_owner[off] ? p->p_owner[off] : "", key)
		        != 0) {
			snprintf(err, cap, "\"%s\" is already in use", s);
			return NULL;
		}
		take(p, off, key);
		return p;
	}
	if (pname) {
		kf_pool *p = pool_by_name(pname);
		if (p == NULL) {
			snprintf(err, cap, "unknown pool \"%s\"", pname);
			return NULL;
		}
		long off = kf_bitmap_alloc(&p->p_used);
		if (off < 0) {
			snprintf(err, cap, "no available IPs in pool \"%s\"",
			    pname);
			return NULL;
		}
		kf_bitmap_clear(&p->p_used, (uint32_t) off);
		// MetalLB hands out addresses in order, lowest first.
		for (uint32_t i = 0; i < p->p_cidr.c_size; i++) {
			if (!kf_bitmap_test(&p->p_used, i)) {
				take(p, i, key);
				return p;
			}
		}
		return NULL;
	}
	for (int k = 0; k < kf_st.st_npools; k++) {
		kf_pool *p = &kf_st.st_pools[k];
		for (uint32_t i = 0; i < p->p_cidr.c_size; i++) {
			if (!kf_bitmap_test(&p->p_used, i)) {
				take(p, i, key);
				return p;
			}
		}
	}
	snprintf(err, cap, "no available IPs");
	return NULL;
}

static void
schedule(const char *key, int64_t delay)
{
	char *k = strdup(key);
	if (k != NULL && kf_timer_add(delay, kf_metallb_reconcile, k) != 0) {
		free(k); // shutting down: a restart schedules it again
	}
}

// set_status writes the allocation: the ip-allocated-from-pool
// annotation (an Update by metallb-controller) and the ingress (an
// Update of the status subresource), in one new version.
static void
set_status(const char *key, kf_obj *cur, const char *pool, const char *ip)
{
	char now[32];
	kf_now_rfc3339(now);
	kf_ssa_ctx x
	    = {&kf_type_service, "v1", NULL, "metallb-controller", now};
	json_t *mid = json_deep_copy(cur->o_json);
	json_object_set_new(kf_jobj(kf_jobj(mid, "metadata"), "annotations"),
	    "metallb.io/ip-allocated-from-pool", json_string(pool));
	kf_managers mg = {0};
	kf_managers_decode(&mg, cur->o_json);
	kf_ssa_update(&x, cur->o_json, mid, &mg);
	json_t *fin = json_deep_copy(mid);
	json_object_set_new(kf_jobj(fin, "status"), "loadBalancer",
	    json_pack(
	        "{s:[{s:s,s:s}]}", "ingress", "ip", ip, "ipMode", "VIP"));
	x.x_subresource = "status";
	kf_ssa_update(&x, mid, fin, &mg);
	kf_managers_encode(&mg, fin);
	kf_managers_fini(&mg);
	json_decref(mid);
	char err[64];
	kf_schema_normalize(
	    &kf_type_service, fin, NULL, false, err, sizeof(err));
	kf_commit(KF_R_SERVICES, key, fin, KF_EV_MODIFIED);
}

void
kf_metallb_reconcile(void *arg)
{
	char *key = arg;
	if (atomic_load(&kf_st.st_stopping)) {
		// The timers are being drained: no more changes. A Service
		// still pending is scheduled again when its state is loaded.
		free(key);
		return;
	}
	pthread_mutex_lock(&kf_st.st_mu);
	lazy_init();
	kf_obj *cur = kf_lookup(KF_R_SERVICES, key);
	if (cur == NULL || !eligible(cur->o_json) || kf_st.st_npools == 0) {
		if (cur == NULL || !eligible(cur->o_json)) {
			release(key);
			kf_tree_del(pending, key);
		}
		pthread_mutex_unlock(&kf_st.st_mu);
		free(key);
		return;
	}
	json_t     *svc  = cur->o_json;
	const char *have = kf_jstr(
	    json_array_get(kf_jget(svc, "status.loadBalancer.ingress"), 0),
	    "ip");
	const char *mine     = kf_tree_get(held, key);
	char        err[256] = "";
	const char *want     = requested_ip(svc, err, sizeof(err));
	const char *pname    = requested_pool(svc);
	// Keep a current address that still satisfies the request.
	if (have && mine && strcmp(have, mine) == 0 && err[0] == '\0') {
		uint32_t off;
		kf_pool *p  = pool_of_ip(have, &off);
		bool     ok = p != NULL;
		if (ok && want) {
			ok = strncmp(want, have, strlen(have)) == 0;
		}
		if (ok && pname) {
			ok = strcmp(pname, p->p_name) == 0;
		}
		if (ok) {
			kf_tree_del(pending, key);
			pthread_mutex_unlock(&kf_st.st_mu);
			free(key);
			return;
		}
	}
	release(key);
	kf_pool *p = allocate(key, svc, err, sizeof(err));
	if (p == NULL) {
		char msg[512];
		snprintf(msg, sizeof(msg),
		    "Failed to allocate IP for \"%s\": %s", key, err);
		free(kf_tree_put(pending, key, strdup("1")));
		json_t *copy = json_incref(svc);
		// A Service that had an address and lost it goes back to
		// pending.
		if (have) {
			json_t *fin = json_deep_copy(svc);
			json_object_set_new(kf_jobj(fin, "status"),
			    "loadBalancer", json_object());
			kf_commit(KF_R_SERVICES, key, fin, KF_EV_MODIFIED);
		}
		record_event(copy, "Warning", "AllocationFailed", msg);
		json_decref(copy);
		pthread_mutex_unlock(&kf_st.st_mu);
		free(key);
		return;
	}
	kf_tree_del(pending, key);
	const char *ip = kf_tree_get(held, key);
	char        ipbuf[16];
	snprintf(ipbuf, sizeof(ipbuf), "%s", ip);
	json_t *copy = json_incref(svc);
	set_status(key, cur, p->p_name, ipbuf);
	char msg[128];
	snprintf(msg, sizeof(msg), "Assigned IP [\"%s\"]", ipbuf);
	record_event(copy, "Normal", "IPAllocated", msg);
	json_decref(copy);
	pthread_mutex_unlock(&kf_st.st_mu);
	free(key);
}

typedef struct pctx {
	char **p_keys;
	size_t p_n;
} pctx;

static int
pending_cb(void *arg, const char *key, void *val)
{
	pctx *c = arg;
	(void) val;
	char **v = realloc(c->p_keys, (c->p_n + 1) * sizeof(char *));
	if (v == NULL) {
		return 1;
	}
	c->p_keys           = v;
	c->p_keys[c->p_n++] = strdup(key);
	return 0;
}

void
kf_metallb_changed(const char *key, json_t *svc, json_t *old)
{
	lazy_init();
	bool was = old && eligible(old);
	bool is  = svc && eligible(svc);
	if (was && !is) {
		bool had = kf_tree_get(held, key) != NULL;
		release(key);
		kf_tree_del(pending, key);
		if (had) {
			pctx c = {NULL, 0};
			kf_tree_walk(pending, NULL, NULL, pending_cb, &c);
			for (size_t i = 0; i < c.p_n; i++) {
				schedule(
				    c.p_keys[i], kf_st.st_opts.o_lb_delay_ms);
				free(c.p_keys[i]);
			}
			free(c.p_keys);
		}
		return;
	}
	if (!is) {
		return;
	}
	// Only what MetalLB reads matters: skip our own status writes.
	if (was && json_equal(kf_jget(svc, "spec"), kf_jget(old, "spec"))
	    && json_equal(kf_jget(svc, "metadata.annotations")
	            ? kf_jget(svc, "metadata.annotations")
	            : json_null(),
	        kf_jget(old, "metadata.annotations")
	            ? kf_jget(old, "metadata.annotations")
	            : json_null())
	    && kf_tree_get(held, key) != NULL) {
		return;
	}
	if (was) {
		json_t *na
		    = json_deep_copy(kf_jget(svc, "metadata.annotations"));
		json_t *oa
		    = json_deep_copy(kf_jget(old, "metadata.annotations"));
		if (na) {
			json_object_del(
			    na, "metallb.io/ip-allocated-from-pool");
		}
		if (oa) {
			json_object_del(
			    oa, "metallb.io/ip-allocated-from-pool");
		}
		bool same
		    = json_equal(kf_jget(svc, "spec"), kf_jget(old, "spec"))
		    && (na == oa || (na && oa && json_equal(na, oa))
		        || (json_object_size(na) == 0
		            && json_object_size(oa) == 0));
		json_decref(na);
		json_decref(oa);
		if (same
		    && (kf_tree_get(held, key) || kf_tree_get(pending, key))) {
			return;
		}
	}
	schedule(key, kf_st.st_opts.o_lb_delay_ms);
}

void
kf_metallb_reserve(const char *key, json_t *svc)
{
	lazy_init();
	if (!eligible(svc)) {
		return;
	}
	const char *ip = kf_jstr(
	    json_array_get(kf_jget(svc, "status.loadBalancer.ingress"), 0),
	    "ip");
	uint32_t off;
	kf_pool *p = ip ? pool_of_ip(ip, &off) : NULL;
	if (p) {
		take(p, off, key);
	}
	// Checked again, as MetalLB's controller does when it starts: a
	// change may have been waiting for the controller at shutdown.
	schedule(key, kf_st.st_opts.o_lb_delay_ms);
}

json_t *
kf_metallb_pools_json(void)
{
	json_t *a = json_array();
	for (int i = 0; i < kf_st.st_npools; i++) {
		kf_pool *p = &kf_st.st_pools[i];
		json_array_append_new(a,
		    json_pack("{s:s,s:[s],s:I,s:I}", "name", p->p_name,
		        "addresses", p->p_cidr.c_text, "size",
		        (json_int_t) p->p_cidr.c_size, "used",
		        (json_int_t) p->p_used.bm_used));
	}
	return a;
}

void
kf_metallb_fini(void)
{
	kf_tree_free(held, free);
	kf_tree_free(pending, free);
	kf_tree_free(evnames, free);
	held = pending = evnames = NULL;
}
