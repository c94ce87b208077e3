// kf_service.c: core/v1 Service strategy — SetDefaults_Service, the create
// and update flows (allocation in kf_svc_alloc.c, validation in
// kf_svc_validate.c), the update rules (patchAllocatedValues,
// dropTypeDependentFields), /status writes, and release/reserve of
// allocations. Rule numbers refer to notes/k8s-service-rules.md.
#include <arpa/inet.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kf.h"
#include "kf_svc.h"

// ---- helpers over the JSON Service --------------------------------------

const char *
kf__stype(json_t *svc)
{
	const char *t = kf_jstr(svc, "spec.type");
	return t ? t : "";
}

bool
kf__is_type(json_t *svc, const char *t)
{
	return strcmp(kf__stype(svc), t) == 0;
}

bool
kf__is_headless(json_t *svc)
{
	json_t *ips = kf_jget(svc, "spec.clusterIPs");
	if (json_array_size(ips) > 0) {
		const char *ip0 = json_string_value(json_array_get(ips, 0));
		return ip0 && strcmp(ip0, "None") == 0;
	}
	const char *ip = kf_jstr(svc, "spec.clusterIP");
	return ip && strcmp(ip, "None") == 0;
}

bool
kf__needs_cluster_ip(json_t *svc)
{
	return !kf__is_type(svc, "ExternalName");
}

bool
kf__alloc_lb_nodeports(json_t *svc)
{
	json_t *a = kf_jget(svc, "spec.allocateLoadBalancerNodePorts");
	return a == NULL || json_is_true(a);
}

bool
kf__needs_node_port(json_t *svc)
{
	return kf__is_type(svc, "NodePort")
	    || (kf__is_type(svc, "LoadBalancer")
	        && kf__alloc_lb_nodeports(svc));
}

bool
kf__externally_accessible(json_t *svc)
{
	return kf__is_type(svc, "LoadBalancer") || kf__is_type(svc, "NodePort")
	    || (kf__is_type(svc, "ClusterIP")
	        && json_array_size(kf_jget(svc, "spec.externalIPs")) > 0);
}

bool
kf__needs_hc_node_port(json_t *svc)
{
	const char *etp = kf_jstr(svc, "spec.externalTrafficPolicy");
	return kf__is_type(svc, "LoadBalancer") && etp
	    && strcmp(etp, "Local") == 0;
}

long long
kf__jint(json_t *o, const char *key)
{
	json_t *v = json_object_get(o, key);
	return json_is_integer(v) ? json_integer_value(v) : 0;
}

json_t *
kf__ports(json_t *svc)
{
	json_t *p = kf_jget(svc, "spec.ports");
	return json_is_array(p) ? p : NULL;
}

// go_strings renders a []string like Go's %#v.
char *
kf__go_strings(json_t *arr)
{
	sf_buf b = SF_BUF_INIT;
	sf_buf_puts(&b, "[]string{");
	size_t  i;
	json_t *v;
	json_array_foreach(arr, i, v)
	{
		char *q = kf_goquote(
		    json_is_string(v) ? json_string_value(v) : "");
		sf_buf_printf(&b, "%s%s", i ? ", " : "", q);
		free(q);
	}
	sf_buf_putc(&b, '}');
	return sf_buf_take(&b);
}

bool
kf__is_ipv6(const char *s)
{
	unsigned char b[16];
	return inet_pton(AF_INET6, s, b) == 1;
}

// ---- defaults (rule 14-21) ----------------------------------------------

void
kf_service_default(json_t *svc)
{
	json_t *spec = kf_jobj(svc, "spec");
	if (kf__stype(svc)[0] == '\0') {
		json_object_set_new(spec, "type", json_string("ClusterIP"));
	}
	const char *aff = kf_jstr(spec, "sessionAffinity");
	if (aff == NULL || *aff == '\0') {
		json_object_set_new(
		    spec, "sessionAffinity", json_string("None"));
		aff = "None";
	}
	if (strcmp(aff, "None") == 0) {
		json_object_del(spec, "sessionAffinityConfig");
	} else if (strcmp(aff, "ClientIP") == 0
	    && kf_jget(spec, "sessionAffinityConfig.clientIP.timeoutSeconds")
	        == NULL) {
		json_t *cfg = json_pack(
		    "{s:{s:i}}", "clientIP", "timeoutSeconds", 10800);
		json_object_set_new(spec, "sessionAffinityConfig", cfg);
	}
	json_t *p = kf__ports(svc);
	size_t  i;
	json_t *port;
	json_array_foreach(p, i, port)
	{
		const char *proto = kf_jstr(port, "protocol");
		if (proto == NULL || *proto == '\0') {
			json_object_set_new(
			    port, "protocol", json_string("TCP"));
		}
		json_t *tp = json_object_get(port, "targetPort");
		if (tp == NULL
		    || (json_is_integer(tp) && json_integer_value(tp) == 0)
		    || (json_is_string(tp) && json_string_length(tp) == 0)) {
			json_object_set_new(port, "targetPort",
			    json_integer(kf__jint(port, "port")));
		}
	}
	const char *etp = kf_jstr(spec, "externalTrafficPolicy");
	if ((etp == NULL || *etp == '\0') && kf__externally_accessible(svc)) {
		json_object_set_new(
		    spec, "externalTrafficPolicy", json_string("Cluster"));
	}
	if (json_object_get(spec, "internalTrafficPolicy") == NULL
	    && (kf__is_type(svc, "ClusterIP") || kf__is_type(svc, "NodePort")
	        || kf__is_type(svc, "LoadBalancer"))) {
		json_object_set_new(
		    spec, "internalTrafficPolicy", json_string("Cluster"));
	}
	if (kf__is_type(svc, "LoadBalancer")
	    && json_object_get(spec, "allocateLoadBalancerNodePorts")
	        == NULL) {
		json_object_set_new(
		    spec, "allocateLoadBalancerNodePorts", json_true());
	}
	json_t *ing = kf_jget(svc, "status.loadBalancer.ingress");
	json_array_foreach(ing, i, port)
	{
		if (kf_jstr(port, "ip")
		    && json_object_get(port, "ipMode") == NULL) {
			json_object_set_new(
			    port, "ipMode", json_string("VIP"));
		}
	}
}

static void
stamp_create(json_t *svc)
{
	json_t *meta = kf_jobj(svc, "metadata");
	char    uid[37], now[32];
	kf_uuid(uid);
	kf_now_rfc3339(now);
	json_object_set_new(meta, "uid", json_string(uid));
	json_object_set_new(meta, "creationTimestamp", json_string(now));
	json_object_set_new(meta, "generation", json_integer(1));
}

int
kf_service_create(json_t *svc, bool dry_run, kf_resp *r)
{
	txn t;
	kf__txn_init(&t);
	kf__normalize_cluster_ips(svc);
	if (kf__init_ip_families(svc, NULL, r) != 0) {
		return -1;
	}
	if (kf__needs_cluster_ip(svc) && !kf__is_headless(svc)
	    && kf__alloc_cluster_ip(svc, &t, r) != 0) {
		return -1;
	}
	if (kf__alloc_node_ports(svc, NULL, &t, r) != 0
	    || kf__alloc_hc_node_port(svc, NULL, &t, r) != 0) {
		kf__txn_rollback(&t);
		return -1;
	}
	json_object_set_new(
	    svc, "status", json_pack("{s:{}}", "loadBalancer"));
	kf_errs e = {0};
	kf__validate_service(svc, &e);
	if (e.e_n > 0) {
		kf_status_invalid(
		    r, "", "Service", kf_jstr(svc, "metadata.name"), &e);
		kf_errs_fini(&e);
		kf__txn_rollback(&t);
		return -1;
	}
	// i19-diff: a validating admission webhook, after validation.
	if (kf_admission_check(dry_run, r) != 0) {
		kf__txn_rollback(&t);
		return -1;
	}
	if (dry_run) {
		kf__txn_rollback(&t);
	} else {
		kf__txn_commit(&t);
	}
	stamp_create(svc);
	return 0;
}

// patch_allocated_values (rule 59).
static void
patch_allocated_values(json_t *svc, json_t *old)
{
	json_t *spec = kf_jobj(svc, "spec");
	if (kf__needs_cluster_ip(old) && kf__needs_cluster_ip(svc)) {
		const char *ip = kf_jstr(spec, "clusterIP");
		if (ip == NULL || *ip == '\0') {
			json_t *oip = kf_jget(old, "spec.clusterIP");
			if (oip) {
				json_object_set(spec, "clusterIP", oip);
			}
		}
		if (json_array_size(json_object_get(spec, "clusterIPs"))
		    == 0) {
			json_t *oips = kf_jget(old, "spec.clusterIPs");
			if (json_array_size(oips) > 0) {
				json_object_set_new(
				    spec, "clusterIPs", json_deep_copy(oips));
			}
		}
	}
	if (kf__needs_node_port(old) && kf__needs_node_port(svc)) {
		json_t *np = kf__ports(svc), *op = kf__ports(old);
		size_t  i;
		json_t *p;
		json_array_foreach(np, i, p)
		{
			if (kf__jint(p, "nodePort") != 0) {
				continue;
			}
			const char *name = kf_jstr(p, "name");
			size_t      j;
			json_t     *q;
			json_array_foreach(op, j, q)
			{
				const char *on = kf_jstr(q, "name");
				if (strcmp(on ? on : "", name ? name : "")
				    != 0) {
					continue;
				}
				long long oldv = kf__jint(q, "nodePort");
				// Not if the new object uses that value
				// elsewhere.
				if (oldv != 0
				    && !kf__new_has_node_port(svc, oldv)) {
					json_object_set_new(
					    p, "nodePort", json_integer(oldv));
				}
				break;
			}
		}
	}
	if (kf__needs_hc_node_port(old) && kf__needs_hc_node_port(svc)
	    && kf__jint(spec, "healthCheckNodePort") == 0) {
		json_t *hc = kf_jget(old, "spec.healthCheckNodePort");
		if (hc) {
			json_object_set(spec, "healthCheckNodePort", hc);
		}
	}
}

bool
kf__same_json(json_t *a, json_t *b)
{
	if (a == NULL || b == NULL) {
		return a == b;
	}
	return json_equal(a, b);
}

// drop_type_dependent_fields (rule 60).
static void
drop_type_dependent_fields(json_t *svc, json_t *old)
{
	json_t *spec  = kf_jobj(svc, "spec");
	json_t *ospec = kf_jget(old, "spec");
	if (kf__needs_cluster_ip(old) && !kf__needs_cluster_ip(svc)) {
		if (kf__same_json(json_object_get(spec, "clusterIPs"),
		        json_object_get(ospec, "clusterIPs"))
		    && kf__same_json(json_object_get(spec, "clusterIP"),
		        json_object_get(ospec, "clusterIP"))) {
			json_object_del(spec, "clusterIP");
			json_object_del(spec, "clusterIPs");
		}
		if (kf__same_json(json_object_get(spec, "ipFamilies"),
		        json_object_get(ospec, "ipFamilies"))) {
			json_object_del(spec, "ipFamilies");
		}
		if (kf__same_json(json_object_get(spec, "ipFamilyPolicy"),
		        json_object_get(ospec, "ipFamilyPolicy"))) {
			json_object_del(spec, "ipFamilyPolicy");
		}
	}
	if (kf__needs_node_port(old) && !kf__needs_node_port(svc)) {
		bool    subset = true;
		size_t  i;
		json_t *p;
		json_array_foreach(kf__ports(svc), i, p)
		{
			long long np = kf__jint(p, "nodePort");
			if (np != 0) {
				bool    found = false;
				size_t  j;
				json_t *q;
				json_array_foreach(kf__ports(old), j, q)
				{
					if (kf__jint(q, "nodePort") == np) {
						found = true;
					}
				}
				subset = subset && found;
			}
		}
		if (subset) {
			json_array_foreach(kf__ports(svc), i, p)
			{
				json_object_del(p, "nodePort");
			}
		}
	}
	if (kf__needs_hc_node_port(old) && !kf__needs_hc_node_port(svc)
	    && kf__jint(spec, "healthCheckNodePort")
	        == kf__jint(ospec, "healthCheckNodePort")) {
		json_object_del(spec, "healthCheckNodePort");
	}
	if (kf__is_type(old, "LoadBalancer")
	    && !kf__is_type(svc, "LoadBalancer")) {
		json_t *a
		    = json_object_get(spec, "allocateLoadBalancerNodePorts");
		json_t *b
		    = json_object_get(ospec, "allocateLoadBalancerNodePorts");
		if (a && b && json_equal(a, b)) {
			json_object_del(spec, "allocateLoadBalancerNodePorts");
		}
		if (kf__same_json(json_object_get(spec, "loadBalancerClass"),
		        json_object_get(ospec, "loadBalancerClass"))) {
			json_object_del(spec, "loadBalancerClass");
		}
	}
	if (kf__externally_accessible(old) && !kf__externally_accessible(svc)
	    && kf__same_json(json_object_get(spec, "externalTrafficPolicy"),
	        json_object_get(ospec, "externalTrafficPolicy"))) {
		json_object_del(spec, "externalTrafficPolicy");
	}
	if (!kf__is_type(svc, "LoadBalancer")) {
		json_object_set_new(
		    kf_jobj(svc, "status"), "loadBalancer", json_object());
	}
}

int
kf_service_update(json_t *svc, json_t *old, bool dry_run, kf_resp *r)
{
	txn t;
	kf__txn_init(&t);
	patch_allocated_values(svc, old);
	kf__normalize_cluster_ips(svc);
	// Status is not writable through the main resource.
	json_t *ost = json_object_get(old, "status");
	json_object_set_new(svc, "status",
	    ost ? json_deep_copy(ost) : json_pack("{s:{}}", "loadBalancer"));
	drop_type_dependent_fields(svc, old);
	if (kf__init_ip_families(svc, old, r) != 0) {
		return -1;
	}
	if (kf__needs_cluster_ip(svc) && !kf__is_headless(svc)
	    && (!kf__needs_cluster_ip(old) || kf__is_headless(old))) {
		if (kf__alloc_cluster_ip(svc, &t, r) != 0) {
			return -1;
		}
	}
	if (kf__alloc_node_ports(svc, old, &t, r) != 0
	    || kf__alloc_hc_node_port(svc, old, &t, r) != 0) {
		kf__txn_rollback(&t);
		return -1;
	}
	kf_errs e = {0};
	kf__validate_update(svc, old, &e);
	if (e.e_n > 0) {
		kf_status_invalid(
		    r, "", "Service", kf_jstr(svc, "metadata.name"), &e);
		kf_errs_fini(&e);
		kf__txn_rollback(&t);
		return -1;
	}
	// i19-diff: a validating admission webhook, after validation.
	if (kf_admission_check(dry_run, r) != 0) {
		kf__txn_rollback(&t);
		return -1;
	}
	// Release what the old object held and the new one does not.
	if (kf__needs_cluster_ip(old) && !kf__is_headless(old)
	    && (!kf__needs_cluster_ip(svc) || kf__is_headless(svc))) {
		const char *oip = kf_jstr(old, "spec.clusterIP");
		t.t_release_ip  = oip ? kf__ip_offset(oip) : -1;
	}
	kf_alloc_state *a = &kf_st.st_alloc;
	size_t          i;
	json_t         *p;
	json_array_foreach(kf__ports(old), i, p)
	{
		long long np = kf__jint(p, "nodePort");
		if (np && !kf__new_has_node_port(svc, np)
		    && kf__np_in_range(np) && t.t_nrelease < 128) {
			t.t_release[t.t_nrelease++]
			    = (uint32_t) (np - a->a_np_base);
		}
	}
	long long ohc = kf__jint(kf_jget(old, "spec"), "healthCheckNodePort");
	if (ohc && !kf__new_has_node_port(svc, ohc) && kf__np_in_range(ohc)
	    && t.t_nrelease < 128) {
		t.t_release[t.t_nrelease++] = (uint32_t) (ohc - a->a_np_base);
	}
	if (dry_run) {
		kf__txn_rollback(&t);
	} else {
		kf__txn_commit(&t);
	}
	// Generation moves when the spec does.
	json_t   *meta = kf_jobj(svc, "metadata");
	long long gen  = kf__jint(kf_jget(old, "metadata"), "generation");
	if (!kf__same_json(kf_jget(old, "spec"), kf_jget(svc, "spec"))) {
		gen++;
	}
	json_object_set_new(meta, "generation", json_integer(gen ? gen : 1));
	return 0;
}

int
kf_service_status_update(json_t *svc, json_t *old, kf_resp *r)
{
	json_object_set_new(svc, "spec", json_deep_copy(kf_jget(old, "spec")));
	kf_errs e   = {0};
	json_t *ing = kf_jget(svc, "status.loadBalancer.ingress");
	size_t  i;
	json_t *g;
	json_array_foreach(ing, i, g)
	{
		char        field[64];
		const char *ip = kf_jstr(g, "ip");
		const char *hn = kf_jstr(g, "hostname");
		if (ip && *ip && !kf_ip_valid(ip)) {
			snprintf(field, sizeof(field),
			    "status.loadBalancer.ingress[%zu].ip", i);
			kf_err_invalid_str(
			    &e, field, ip, "must be a valid IP address");
		}
		if (hn && *hn) {
			snprintf(field, sizeof(field),
			    "status.loadBalancer.ingress[%zu].hostname", i);
			if (!kf_is_dns1123_subdomain(hn)) {
				kf_err_invalid_str(
				    &e, field, hn, MSG_DNS1123_SUBDOMAIN);
			}
			if (kf_ip_valid(hn)) {
				kf_err_invalid_str(&e, field, hn,
				    "must be a DNS name, not an IP address");
			}
		}
	}
	if (e.e_n > 0) {
		kf_status_invalid(
		    r, "", "Service", kf_jstr(svc, "metadata.name"), &e);
		kf_errs_fini(&e);
		return -1;
	}
	json_object_set(kf_jobj(svc, "metadata"), "generation",
	    kf_jget(old, "metadata.generation"));
	return 0;
}

void
kf_service_release(json_t *svc)
{
	kf__mark(svc, false);
}

void
kf_service_reserve(json_t *svc)
{
	kf__mark(svc, true);
}
