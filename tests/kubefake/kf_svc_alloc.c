// kf_svc_alloc.c: the registry's allocation for Services — cluster IPs,
// node ports, health-check node ports and IP families, in a transaction
// rolled back on failure (rules 50-54), and marking allocations used or
// free (storage/alloc.go, ipallocator, portallocator upstream).
#include <arpa/inet.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kf.h"
#include "kf_svc.h"

// ---- allocation (rules 50-54) -------------------------------------------

void
kf__txn_init(txn *t)
{
	memset(t, 0, sizeof(*t));
	t->t_ip         = -1;
	t->t_release_ip = -1;
}

void
kf__txn_rollback(txn *t)
{
	kf_alloc_state *a = &kf_st.st_alloc;
	if (t->t_ip >= 0) {
		kf_bitmap_clear(&a->a_ips, (uint32_t) t->t_ip);
	}
	for (int i = 0; i < t->t_nports; i++) {
		kf_bitmap_clear(&a->a_ports, t->t_ports[i]);
	}
	kf__txn_init(t);
}

void
kf__txn_commit(txn *t)
{
	kf_alloc_state *a = &kf_st.st_alloc;
	if (t->t_release_ip >= 0) {
		kf_bitmap_clear(&a->a_ips, (uint32_t) t->t_release_ip);
	}
	for (int i = 0; i < t->t_nrelease; i++) {
		kf_bitmap_clear(&a->a_ports, t->t_release[i]);
	}
	kf__txn_init(t);
}

// ip_offset maps an IP to its slot; -1 outside the usable range.
long
kf__ip_offset(const char *ip)
{
	kf_alloc_state *a = &kf_st.st_alloc;
	uint32_t        v;
	if (kf_ip4_parse(ip, &v) != 0) {
		return -1;
	}
	if (v <= a->a_cidr.c_base
	    || v >= a->a_cidr.c_base + a->a_cidr.c_size - 1) {
		return -1;
	}
	return (long) (v - a->a_cidr.c_base - 1);
}

static void
one_cause(kf_resp *r, json_t *svc, const char *field, const char *value,
    const char *detail)
{
	kf_errs e = {0};
	kf_err_invalid(&e, field, value, detail);
	kf_status_invalid(r, "", "Service", kf_jstr(svc, "metadata.name"), &e);
	kf_errs_fini(&e);
}

// alloc_cluster_ip allocates the requested or a random cluster IP.
int
kf__alloc_cluster_ip(json_t *svc, txn *t, kf_resp *r)
{
	kf_alloc_state *a    = &kf_st.st_alloc;
	json_t         *spec = kf_jobj(svc, "spec");
	json_t         *ips  = json_object_get(spec, "clusterIPs");
	const char     *want = json_string_value(json_array_get(ips, 0));
	if (want && *want) {
		long  off = kf__ip_offset(want);
		char  det[256];
		char *gs = kf__go_strings(ips);
		if (off < 0) {
			snprintf(det, sizeof(det),
			    "failed to allocate IP %s: the provided IP (%s) "
			    "is not in "
			    "the valid range. The range of valid IPs is %s",
			    want, want, a->a_cidr.c_text);
			one_cause(r, svc, "spec.clusterIPs", gs, det);
			free(gs);
			return -1;
		}
		if (kf_bitmap_test(&a->a_ips, (uint32_t) off)) {
			snprintf(det, sizeof(det),
			    "failed to allocate IP %s: provided IP is already "
			    "allocated",
			    want);
			one_cause(r, svc, "spec.clusterIPs", gs, det);
			free(gs);
			return -1;
		}
		free(gs);
		kf_bitmap_set(&a->a_ips, (uint32_t) off);
		t->t_ip = off;
		return 0;
	}
	long off = kf_bitmap_alloc(&a->a_ips);
	if (off < 0) {
		kf_status_internal(
		    r, "failed to allocate a serviceIP: range is full");
		return -1;
	}
	t->t_ip = off;
	char ip[16];
	kf_ip4_format(a->a_cidr.c_base + 1 + (uint32_t) off, ip);
	json_object_set_new(spec, "clusterIP", json_string(ip));
	json_t *arr = json_array();
	json_array_append_new(arr, json_string(ip));
	json_object_set_new(spec, "clusterIPs", arr);
	return 0;
}

bool
kf__np_in_range(long long p)
{
	kf_alloc_state *a = &kf_st.st_alloc;
	return p >= a->a_np_base
	    && p < (long long) a->a_np_base + a->a_np_size;
}

static int
alloc_node_port(
    long long want, txn *t, kf_resp *r, json_t *svc, const char *field)
{
	kf_alloc_state *a = &kf_st.st_alloc;
	char            det[160];
	if (!kf__np_in_range(want)) {
		snprintf(det, sizeof(det),
		    "provided port is not in the valid range. The range of "
		    "valid "
		    "ports is %u-%u",
		    a->a_np_base, a->a_np_base + a->a_np_size - 1);
		char v[32];
		snprintf(v, sizeof(v), "%lld", want);
		one_cause(r, svc, field, v, det);
		return -1;
	}
	uint32_t off = (uint32_t) (want - a->a_np_base);
	if (kf_bitmap_test(&a->a_ports, off)) {
		char v[32];
		snprintf(v, sizeof(v), "%lld", want);
		one_cause(
		    r, svc, field, v, "provided port is already allocated");
		return -1;
	}
	kf_bitmap_set(&a->a_ports, off);
	if (t->t_nports < 128) {
		t->t_ports[t->t_nports++] = off;
	}
	return 0;
}

static long long
alloc_random_port(txn *t, kf_resp *r)
{
	kf_alloc_state *a   = &kf_st.st_alloc;
	long            off = kf_bitmap_alloc(&a->a_ports);
	if (off < 0) {
		kf_status_internal(
		    r, "failed to allocate a nodePort: range is full");
		return -1;
	}
	if (t->t_nports < 128) {
		t->t_ports[t->t_nports++] = (uint32_t) off;
	}
	return (long long) a->a_np_base + off;
}

static bool
old_has_node_port(json_t *old, long long np)
{
	if (old == NULL || np == 0) {
		return false;
	}
	size_t  i;
	json_t *p;
	json_array_foreach(kf__ports(old), i, p)
	{
		if (kf__jint(p, "nodePort") == np) {
			return true;
		}
	}
	return kf__jint(kf_jget(old, "spec"), "healthCheckNodePort") == np;
}

bool
kf__new_has_node_port(json_t *svc, long long np)
{
	size_t  i;
	json_t *p;
	json_array_foreach(kf__ports(svc), i, p)
	{
		if (kf__jint(p, "nodePort") == np) {
			return true;
		}
	}
	return kf__jint(kf_jget(svc, "spec"), "healthCheckNodePort") == np;
}

// alloc_node_ports allocates what svc needs; ports already held by old
// (an update) are kept without allocating again.
int
kf__alloc_node_ports(json_t *svc, json_t *old, txn *t, kf_resp *r)
{
	json_t *p = kf__ports(svc);
	size_t  i;
	json_t *port;
	bool    need = kf__needs_node_port(svc);
	bool    explicit_only
	    = kf__is_type(svc, "LoadBalancer") && !kf__alloc_lb_nodeports(svc);
	if (!need && !explicit_only) {
		return 0;
	}
	// Explicit requests first.
	json_array_foreach(p, i, port)
	{
		long long np = kf__jint(port, "nodePort");
		if (np == 0 || old_has_node_port(old, np)) {
			continue;
		}
		// Two ports may share a node port (53/TCP and 53/UDP).
		bool seen = false;
		for (size_t j = 0; j < i; j++) {
			if (kf__jint(json_array_get(p, j), "nodePort") == np) {
				seen = true;
			}
		}
		if (seen) {
			continue;
		}
		char field[64];
		snprintf(field, sizeof(field), "spec.ports[%zu].nodePort", i);
		if (alloc_node_port(np, t, r, svc, field) != 0) {
			return -1;
		}
	}
	if (!need) {
		return 0;
	}
	json_array_foreach(p, i, port)
	{
		if (kf__jint(port, "nodePort") != 0) {
			continue;
		}
		long long pn    = kf__jint(port, "port");
		long long share = 0;
		for (size_t j = 0; j < json_array_size(p); j++) {
			json_t *o = json_array_get(p, j);
			if (j != i && kf__jint(o, "port") == pn
			    && kf__jint(o, "nodePort")) {
				share = kf__jint(o, "nodePort");
				break;
			}
		}
		if (share == 0) {
			share = alloc_random_port(t, r);
			if (share < 0) {
				return -1;
			}
		}
		json_object_set_new(port, "nodePort", json_integer(share));
	}
	return 0;
}

int
kf__alloc_hc_node_port(json_t *svc, json_t *old, txn *t, kf_resp *r)
{
	if (!kf__needs_hc_node_port(svc)) {
		return 0;
	}
	json_t   *spec = kf_jobj(svc, "spec");
	long long hc   = kf__jint(spec, "healthCheckNodePort");
	if (hc != 0) {
		if (old_has_node_port(old, hc)
		    && kf__jint(kf_jget(old, "spec"), "healthCheckNodePort")
		        == hc) {
			return 0;
		}
		kf_resp tmp = {0};
		if (alloc_node_port(
		        hc, t, &tmp, svc, "spec.healthCheckNodePort")
		    != 0) {
			kf_resp_fini(&tmp);
			kf_status_internal(r,
			    "failed to allocate requested HealthCheck "
			    "NodePort %lld: "
			    "provided port is already allocated",
			    hc);
			return -1;
		}
		kf_resp_fini(&tmp);
		return 0;
	}
	long long np = alloc_random_port(t, r);
	if (np < 0) {
		return -1;
	}
	json_object_set_new(spec, "healthCheckNodePort", json_integer(np));
	return 0;
}

// init_ip_families sets ipFamilyPolicy / ipFamilies (alloc.go
// initIPFamilyFields) on a single-stack IPv4 cluster.
int
kf__init_ip_families(json_t *svc, json_t *old, kf_resp *r)
{
	if (!kf__needs_cluster_ip(svc)) {
		return 0;
	}
	kf_errs e = {0};
	kf__validate_cluster_ips(svc, &e);
	if (e.e_n > 0) {
		kf_status_invalid(
		    r, "", "Service", kf_jstr(svc, "metadata.name"), &e);
		kf_errs_fini(&e);
		return -1;
	}
	json_t *spec = kf_jobj(svc, "spec");
	if (json_object_get(spec, "ipFamilyPolicy") == NULL) {
		json_t *op = old ? kf_jget(old, "spec.ipFamilyPolicy") : NULL;
		if (op && kf__needs_cluster_ip(old)) {
			json_object_set(spec, "ipFamilyPolicy", op);
		} else if (kf__is_headless(svc)
		    && json_object_size(kf_jget(svc, "spec.selector")) == 0) {
			json_object_set_new(spec, "ipFamilyPolicy",
			    json_string("RequireDualStack"));
		} else {
			json_object_set_new(spec, "ipFamilyPolicy",
			    json_string("SingleStack"));
		}
	}
	const char *pol  = kf_jstr(spec, "ipFamilyPolicy");
	json_t     *fams = json_object_get(spec, "ipFamilies");
	json_t     *ips  = json_object_get(spec, "clusterIPs");
	if (!kf__is_headless(svc)) {
		if (pol && strcmp(pol, "RequireDualStack") == 0) {
			kf_err_invalid_str(&e, "spec.ipFamilyPolicy", pol,
			    "this cluster is not configured for dual-stack "
			    "services");
		}
		if (pol && strcmp(pol, "SingleStack") == 0
		    && (json_array_size(ips) > 1
		        || json_array_size(fams) > 1)) {
			kf_err_invalid_str(&e, "spec.ipFamilyPolicy", pol,
			    json_array_size(ips) > 1
			        ? "must be 'RequireDualStack' or "
			          "'PreferDualStack' "
			          "when multiple cluster IPs are specified"
			        : "must be 'RequireDualStack' or "
			          "'PreferDualStack' "
			          "when multiple IP families are specified");
		}
		size_t  i;
		json_t *f;
		json_array_foreach(fams, i, f)
		{
			const char *fv = json_string_value(f);
			if (fv && strcmp(fv, "IPv6") == 0) {
				char field[48];
				snprintf(field, sizeof(field),
				    "spec.ipFamilies[%zu]", i);
				kf_err_invalid_str(&e, field, fv,
				    "not configured on this cluster");
			}
		}
		json_array_foreach(ips, i, f)
		{
			const char *v = json_string_value(f);
			if (v && kf__is_ipv6(v)) {
				char field[48];
				snprintf(field, sizeof(field),
				    "spec.clusterIPs[%zu]", i);
				kf_err_invalid_str(&e, field, v,
				    "IPv6 is not configured on this cluster");
			}
		}
	}
	if (e.e_n > 0) {
		kf_status_invalid(
		    r, "", "Service", kf_jstr(svc, "metadata.name"), &e);
		kf_errs_fini(&e);
		return -1;
	}
	if (json_array_size(fams) == 0) {
		json_t *arr = json_array();
		json_array_append_new(arr, json_string("IPv4"));
		json_object_set_new(spec, "ipFamilies", arr);
	}
	return 0;
}

void
kf__normalize_cluster_ips(json_t *svc)
{
	json_t     *spec = kf_jobj(svc, "spec");
	const char *ip   = kf_jstr(spec, "clusterIP");
	json_t     *ips  = json_object_get(spec, "clusterIPs");
	if (ip && *ip && json_array_size(ips) == 0) {
		json_t *arr = json_array();
		json_array_append_new(arr, json_string(ip));
		json_object_set_new(spec, "clusterIPs", arr);
	}
}

void
kf__mark(json_t *svc, bool used)
{
	kf_alloc_state *a  = &kf_st.st_alloc;
	const char     *ip = kf_jstr(svc, "spec.clusterIP");
	if (ip && kf__needs_cluster_ip(svc)) {
		long off = kf__ip_offset(ip);
		if (off >= 0) {
			if (used) {
				kf_bitmap_set(&a->a_ips, (uint32_t) off);
			} else {
				kf_bitmap_clear(&a->a_ips, (uint32_t) off);
			}
		}
	}
	size_t  i;
	json_t *p;
	json_array_foreach(kf__ports(svc), i, p)
	{
		long long np = kf__jint(p, "nodePort");
		if (np && kf__np_in_range(np)) {
			if (used) {
				kf_bitmap_set(&a->a_ports,
				    (uint32_t) (np - a->a_np_base));
			} else {
				kf_bitmap_clear(&a->a_ports,
				    (uint32_t) (np - a->a_np_base));
			}
		}
	}
	long long hc = kf__jint(kf_jget(svc, "spec"), "healthCheckNodePort");
	if (hc && kf__np_in_range(hc)) {
		if (used) {
			kf_bitmap_set(
			    &a->a_ports, (uint32_t) (hc - a->a_np_base));
		} else {
			kf_bitmap_clear(
			    &a->a_ports, (uint32_t) (hc - a->a_np_base));
		}
	}
}
