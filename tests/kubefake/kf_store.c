// kf_store.c: the resources served, stored objects, the resourceVersion
// counter and the bounded watch history.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kf.h"
#include "log.h"

kf_state kf_st;

const kf_resource kf_resources[KF_R_COUNT] = {
    [KF_R_NAMESPACES] = {"", "v1", "v1", "namespaces", "namespace",
        "Namespace", "ns", false, true, false, &kf_type_any},
    [KF_R_SERVICES] = {"", "v1", "v1", "services", "service", "Service", "svc",
        true, true, false, &kf_type_service},
    [KF_R_EVENTS]   = {"", "v1", "v1", "events", "event", "Event", "ev", true,
          false, false, &kf_type_any},
    [KF_R_DEPLOYMENTS] = {"apps", "v1", "apps/v1", "deployments", "deployment",
        "Deployment", "deploy", true, true, false, &kf_type_any},
    [KF_R_STATEFULSETS] = {"apps", "v1", "apps/v1", "statefulsets",
        "statefulset", "StatefulSet", "sts", true, true, false, &kf_type_any},
    [KF_R_DAEMONSETS]   = {"apps", "v1", "apps/v1", "daemonsets", "daemonset",
          "DaemonSet", "ds", true, true, false, &kf_type_any},
};

kf_obj *
kf_obj_new(json_t *j, uint64_t rv)
{
	kf_obj *o = calloc(1, sizeof(*o));
	if (o == NULL) {
		json_decref(j);
		return NULL;
	}
	atomic_init(&o->o_ref, 1);
	o->o_json = j;
	o->o_text = kf_json_dump(j, &o->o_len);
	o->o_rv   = rv;
	// Lists carry items without their type meta, as kube-apiserver does.
	const char *kind = kf_jstr(j, "kind");
	const char *av   = kf_jstr(j, "apiVersion");
	if (o->o_text && kind && av) {
		char prefix[160];
		int  n = snprintf(prefix, sizeof(prefix),
		     "{\"kind\":\"%s\",\"apiVersion\":\"%s\",", kind, av);
		if (n > 0 && (size_t) n < sizeof(prefix)
		    && strncmp(o->o_text, prefix, (size_t) n) == 0) {
			o->o_items_off = (size_t) n;
		}
	}
	return o;
}

kf_obj *
kf_obj_ref(kf_obj *o)
{
	if (o != NULL) {
		atomic_fetch_add(&o->o_ref, 1);
	}
	return o;
}

void
kf_obj_unref(kf_obj *o)
{
	if (o != NULL && atomic_fetch_sub(&o->o_ref, 1) == 1) {
		json_decref(o->o_json);
		free(o->o_text);
		free(o);
	}
}

static void
obj_unref_cb(void *p)
{
	kf_obj_unref(p);
}

const char *
kf_key(int res, const char *ns, const char *name, char *buf, size_t cap)
{
	if (kf_resources[res].rs_namespaced) {
		snprintf(buf, cap, "%s/%s", ns ? ns : "", name ? name : "");
	} else {
		snprintf(buf, cap, "%s", name ? name : "");
	}
	return buf;
}

kf_obj *
kf_lookup(int res, const char *key)
{
	return kf_tree_get(kf_st.st_objs[res], key);
}

kf_obj *
kf_commit(int res, const char *key, json_t *j, int type)
{
	kf_state *st = &kf_st;
	uint64_t  rv = ++st->st_rv;
	char      rvs[32];
	snprintf(rvs, sizeof(rvs), "%llu", (unsigned long long) rv);
	json_object_set_new(
	    kf_jobj(j, "metadata"), "resourceVersion", json_string(rvs));
	kf_obj *o = kf_obj_new(j, rv);
	kf_obj *old;
	if (type == KF_EV_DELETED) {
		old = kf_tree_del(st->st_objs[res], key);
	} else {
		old = kf_tree_put(st->st_objs[res], key, kf_obj_ref(o));
	}
	// History: evict the oldest entry when the ring is full.
	if (rv - st->st_hfirst + 1 > st->st_hcap) {
		kf_event *ev = &st->st_hist[st->st_hfirst % st->st_hcap];
		kf_obj_unref(ev->ev_new);
		kf_obj_unref(ev->ev_old);
		memset(ev, 0, sizeof(*ev));
		st->st_hfirst++;
	}
	// Durable before anyone can learn of it (a reply, a watch event).
	kf_persist_append(res, o, type);
	kf_event *ev = &st->st_hist[rv % st->st_hcap];
	ev->ev_rv    = rv;
	ev->ev_type  = type;
	ev->ev_res   = res;
	ev->ev_new   = o; // the history holds the creation reference
	ev->ev_old   = old;
	kf_watch_notify();
	return o;
}

int
kf_state_init(const kf_opts *o)
{
	kf_state *st = &kf_st;
	memset(st, 0, sizeof(*st));
	pthread_mutex_init(&st->st_mu, NULL);
	pthread_mutex_init(&st->st_fmu, NULL);
	pthread_cond_init(&st->st_pcond, NULL);
	st->st_opts = *o;
	for (int i = 0; i < KF_R_COUNT; i++) {
		st->st_objs[i] = kf_tree_new();
	}
	st->st_hcap
	    = (size_t) (o->o_watch_history > 0 ? o->o_watch_history : 1);
	st->st_hist                   = calloc(st->st_hcap, sizeof(kf_event));
	st->st_hfirst                 = 1;
	st->st_faults.f_error_status  = 500;
	st->st_faults.f_retry_after_s = 1;
	// i19-diff: the admission webhook (off until it has a message).
	st->st_faults.f_admission_status = 400;
	snprintf(st->st_faults.f_admission_webhook,
	    sizeof(st->st_faults.f_admission_webhook), "%s",
	    "deny.kubefake.test");

	kf_alloc_state *a = &st->st_alloc;
	if (kf_cidr_parse(o->o_service_cidr, &a->a_cidr) != 0
	    || a->a_cidr.c_size < 4) {
		SF_ERROR("kubefake",
		    "bad --service-cidr %s (an IPv4 CIDR, /8 to "
		    "/30)",
		    o->o_service_cidr);
		return -1;
	}
	// Network and broadcast addresses are never handed out; the lower
	// band (min(max(16, size/16), 256)) is kept for requested IPs.
	uint32_t usable = a->a_cidr.c_size - 2;
	uint32_t band   = a->a_cidr.c_size / 16;
	band            = band < 16 ? 16 : band > 256 ? 256 : band;
	if (band >= usable) {
		band = 0;
	}
	if (kf_bitmap_init(&a->a_ips, usable, band) != 0) {
		return -1;
	}
	unsigned lo, hi;
	if (sscanf(o->o_node_ports, "%u-%u", &lo, &hi) != 2 || lo < 1
	    || hi > 65535 || hi < lo) {
		SF_ERROR("kubefake", "bad --node-port-range %s (want LO-HI)",
		    o->o_node_ports);
		return -1;
	}
	a->a_np_base    = lo;
	a->a_np_size    = hi - lo + 1;
	uint32_t npband = a->a_np_size / 32;
	npband          = npband < 16 ? 16 : npband > 128 ? 128 : npband;
	if (npband >= a->a_np_size) {
		npband = 0;
	}
	if (kf_bitmap_init(&a->a_ports, a->a_np_size, npband) != 0) {
		return -1;
	}
	for (int i = 0; i < o->o_npools; i++) {
		const char *eq = strchr(o->o_pools[i], '=');
		kf_pool    *p  = &st->st_pools[st->st_npools];
		if (eq == NULL || eq == o->o_pools[i]
		    || (size_t) (eq - o->o_pools[i]) >= sizeof(p->p_name)
		    || kf_cidr_parse(eq + 1, &p->p_cidr) != 0) {
			SF_ERROR("kubefake",
			    "bad --metallb-pool %s (want NAME=CIDR)",
			    o->o_pools[i]);
			return -1;
		}
		memcpy(
		    p->p_name, o->o_pools[i], (size_t) (eq - o->o_pools[i]));
		p->p_name[eq - o->o_pools[i]] = '\0';
		kf_bitmap_init(&p->p_used, p->p_cidr.c_size, 0);
		p->p_owner = calloc(p->p_cidr.c_size, sizeof(char *));
		st->st_npools++;
	}
	return 0;
}

void
kf_state_fini(void)
{
	kf_state *st = &kf_st;
	for (int i = 0; i < KF_R_COUNT; i++) {
		kf_tree_free(st->st_objs[i], obj_unref_cb);
	}
	for (uint64_t rv = st->st_hfirst; rv <= st->st_rv && st->st_hist;
	     rv++) {
		kf_event *ev = &st->st_hist[rv % st->st_hcap];
		kf_obj_unref(ev->ev_new);
		kf_obj_unref(ev->ev_old);
	}
	free(st->st_hist);
	kf_bitmap_fini(&st->st_alloc.a_ips);
	kf_bitmap_fini(&st->st_alloc.a_ports);
	for (int i = 0; i < st->st_npools; i++) {
		for (uint32_t k = 0; k < st->st_pools[i].p_cidr.c_size; k++) {
			free(st->st_pools[i].p_owner[k]);
		}
		free(st->st_pools[i].p_owner);
		kf_bitmap_fini(&st->st_pools[i].p_used);
	}
	pthread_mutex_destroy(&st->st_mu);
	pthread_mutex_destroy(&st->st_fmu);
	pthread_cond_destroy(&st->st_pcond);
}
