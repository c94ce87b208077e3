// manifest_out.c: a Service as the Kubernetes v1 Service manifest kubectl
// would accept, with svcfleet's facts as svcfleet.io/* annotations.
//
// Keys follow the order of Kubernetes' Go structs (what `kubectl get -o
// json` prints): apiVersion, kind, metadata, spec, status. No uid and no
// metadata.resourceVersion: they would make `| kubectl apply -f -` fail
// against a real cluster; svcfleet's resource version is an annotation.
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "internal.h"

typedef struct out {
	int o_fail;
} out;

static void
put(out *o, json_t *obj, const char *key, json_t *v)
{
	if (v == NULL || json_object_set_new(obj, key, v) != 0) {
		o->o_fail = 1;
	}
}

static void
put_str(out *o, json_t *obj, const char *key, const char *s)
{
	put(o, obj, key, json_string(sf_nz(s)));
}

static void
append(out *o, json_t *arr, json_t *v)
{
	if (v == NULL || json_array_append_new(arr, v) != 0) {
		o->o_fail = 1;
	}
}

static json_t *
kv_object(out *o, sf_kv *const *kvs, size_t n)
{
	json_t *obj = json_object();

	if (obj == NULL) {
		o->o_fail = 1;
		return (NULL);
	}
	for (size_t i = 0; i < n; i++) {
		if (kvs[i] != NULL) {
			put_str(o, obj, sf_nz(kvs[i]->key), kvs[i]->value);
		}
	}
	return (obj);
}

static const sf_cluster_status *
first_status(const sf_service *svc)
{
	return (svc->n_status > 0 ? svc->status[0] : NULL);
}

static char *
node_ports_fact(const sf_cluster_status *cs)
{
	sf_buf b = SF_BUF_INIT;

	for (size_t i = 0; i < cs->n_node_ports; i++) {
		const Svcfleet__V1__AssignedPort *p = cs->node_ports[i];
		if (p == NULL) {
			continue;
		}
		if (b.b_len > 0) {
			sf_buf_putc(&b, ',');
		}
		if (!sf__model_empty(p->name)) {
			sf_buf_printf(&b, "%s:", p->name);
		}
		sf_buf_printf(&b, "%d/%s=%d", p->port,
		    sf__model_empty(p->protocol) ? "TCP" : p->protocol,
		    p->node_port);
	}
	return (sf_buf_take(&b));
}

static json_t *
annotations(out *o, const sf_service *svc)
{
	const sf_object_meta    *m  = svc->metadata;
	const sf_service_spec   *sp = svc->spec;
	const sf_cluster_status *cs = first_status(svc);
	json_t *a = kv_object(o, m->annotations, m->n_annotations);
	char    num[32];

	if (a == NULL) {
		return (NULL);
	}
	if (sp != NULL && sf__model_streq(sp->lb_type, "metallb")) {
		// Both spellings: MetalLB before 0.13 reads only the old one.
		if (!sf__model_empty(sp->lb_pool)) {
			put_str(o, a, SF_ANN_METALLB_POOL, sp->lb_pool);
			put_str(o, a, SF_ANN_METALLB_POOL_OLD, sp->lb_pool);
		}
		if (!sf__model_empty(sp->lb_address)) {
			put_str(o, a, SF_ANN_METALLB_IPS, sp->lb_address);
			put_str(o, a, SF_ANN_METALLB_IPS_OLD, sp->lb_address);
		}
	}
	if (sp != NULL && sp->allow_adoption) {
		put_str(o, a, SF_ANN_ALLOW_ADOPTION, "true");
	}
	if (sp != NULL && !sf__model_empty(sp->selector_from)) {
		put_str(o, a, SF_ANN_SELECTOR_FROM, sp->selector_from);
	}
	// Facts: dropped again when the manifest is read back.
	if (!sf__model_empty(m->cluster)) {
		put_str(o, a, SF_ANN_CLUSTER, m->cluster);
	}
	if (m->resource_version != 0) {
		snprintf(num, sizeof(num), "%" PRIu64, m->resource_version);
		put_str(o, a, SF_ANN_RESOURCE_VERSION, num);
	}
	if (cs != NULL) {
		put_str(o, a, SF_ANN_SYNC_STATE,
		    sf_model_sync_state_name(cs->state));
		if (!sf__model_empty(cs->message)) {
			put_str(o, a, SF_ANN_SYNC_MESSAGE, cs->message);
		}
		if (!sf__model_empty(cs->cluster_ip)) {
			put_str(o, a, SF_ANN_CLUSTER_IP, cs->cluster_ip);
		}
		if (cs->n_node_ports > 0) {
			char *np = node_ports_fact(cs);
			if (np == NULL) {
				o->o_fail = 1;
			} else {
				put_str(o, a, SF_ANN_NODE_PORTS, np);
			}
			free(np);
		}
	}
	return (a);
}

static json_t *
metadata(out *o, const sf_service *svc)
{
	const sf_object_meta *m  = svc->metadata;
	json_t               *md = json_object();
	json_t               *ann;
	char                  ts[40];

	if (md == NULL) {
		o->o_fail = 1;
		return (NULL);
	}
	put_str(o, md, "name", m->name);
	put_str(o, md, "namespace",
	    sf__model_empty(m->namespace_) ? "default" : m->namespace_);
	if (m->generation != 0) {
		put(o, md, "generation", json_integer(m->generation));
	}
	if (m->create_time_ms != 0) {
		sf_model_json_format_time(m->create_time_ms, ts, sizeof(ts));
		put_str(o, md, "creationTimestamp", ts);
	}
	if (m->n_labels > 0) {
		put(o, md, "labels", kv_object(o, m->labels, m->n_labels));
	}
	ann = annotations(o, svc);
	if (ann != NULL && json_object_size(ann) > 0) {
		put(o, md, "annotations", ann);
	} else {
		json_decref(ann);
	}
	return (md);
}

static json_t *
port(out *o, const sf_service_port *p)
{
	json_t *po = json_object();

	if (po == NULL) {
		o->o_fail = 1;
		return (NULL);
	}
	if (!sf__model_empty(p->name)) {
		put_str(o, po, "name", p->name);
	}
	put_str(o, po, "protocol",
	    sf__model_empty(p->protocol) ? "TCP" : p->protocol);
	if (!sf__model_empty(p->app_protocol)) {
		put_str(o, po, "appProtocol", p->app_protocol);
	}
	put(o, po, "port", json_integer(p->port));
	if (!sf__model_empty(p->target_port_name)) {
		put_str(o, po, "targetPort", p->target_port_name);
	} else if (p->target_port != 0) {
		put(o, po, "targetPort", json_integer(p->target_port));
	}
	if (p->node_port != 0) {
		put(o, po, "nodePort", json_integer(p->node_port));
	}
	return (po);
}

static json_t *
spec(out *o, const sf_service_spec *sp)
{
	json_t *so = json_object(), *arr;

	if (so == NULL) {
		o->o_fail = 1;
		return (NULL);
	}
	if ((arr = json_array()) == NULL) {
		o->o_fail = 1;
		return (so);
	}
	for (size_t i = 0; i < sp->n_ports; i++) {
		if (sp->ports[i] != NULL) {
			append(o, arr, port(o, sp->ports[i]));
		}
	}
	put(o, so, "ports", arr);
	if (sp->n_selector > 0) {
		put(o, so, "selector",
		    kv_object(o, sp->selector, sp->n_selector));
	}
	put_str(
	    o, so, "type", sf__model_empty(sp->type) ? "ClusterIP" : sp->type);
	if (!sf__model_empty(sp->session_affinity)) {
		put_str(o, so, "sessionAffinity", sp->session_affinity);
	}
	if (!sf__model_empty(sp->lb_address)
	    && !sf__model_streq(sp->lb_type, "metallb")) {
		put_str(o, so, "loadBalancerIP", sp->lb_address);
	}
	if (sp->n_load_balancer_source_ranges > 0
	    && (arr = json_array()) != NULL) {
		for (size_t i = 0; i < sp->n_load_balancer_source_ranges;
		     i++) {
			append(o, arr,
			    json_string(
			        sf_nz(sp->load_balancer_source_ranges[i])));
		}
		put(o, so, "loadBalancerSourceRanges", arr);
	}
	if (!sf__model_empty(sp->external_traffic_policy)) {
		put_str(o, so, "externalTrafficPolicy",
		    sp->external_traffic_policy);
	}
	if (sp->session_timeout_seconds != 0) {
		json_t *t = json_pack("{s:{s:i}}", "clientIP",
		    "timeoutSeconds", (int) sp->session_timeout_seconds);
		put(o, so, "sessionAffinityConfig", t);
	}
	if (!sf__model_empty(sp->load_balancer_class)) {
		put_str(o, so, "loadBalancerClass", sp->load_balancer_class);
	}
	return (so);
}

static json_t *
status(out *o, const sf_service *svc)
{
	const sf_cluster_status *cs = first_status(svc);
	json_t                  *ingress;
	sf__model_ip             ip;

	if ((ingress = json_array()) == NULL) {
		o->o_fail = 1;
		return (NULL);
	}
	for (size_t i = 0; cs != NULL && i < cs->n_ingress; i++) {
		const char *s = sf_nz(cs->ingress[i]);
		append(o, ingress,
		    json_pack("{s:s}",
		        sf__model_ip_parse(s, &ip) ? "ip" : "hostname", s));
	}
	if (json_array_size(ingress) == 0) {
		json_decref(ingress);
		return (json_pack("{s:{}}", "loadBalancer"));
	}
	return (json_pack("{s:{s:o}}", "loadBalancer", "ingress", ingress));
}

json_t *
sf_model_service_to_manifest(const sf_service *svc)
{
	static const sf_object_meta empty_meta
	    = SVCFLEET__V1__OBJECT_META__INIT;
	static const sf_service_spec empty_spec
	    = SVCFLEET__V1__SERVICE_SPEC__INIT;
	sf_service view = *svc;
	out        o    = {0};
	json_t    *m    = json_object();

	if (m == NULL) {
		return (NULL);
	}
	if (view.metadata == NULL) {
		view.metadata = (sf_object_meta *) &empty_meta;
	}
	if (view.spec == NULL) {
		view.spec = (sf_service_spec *) &empty_spec;
	}
	put_str(&o, m, "apiVersion", "v1");
	put_str(&o, m, "kind", "Service");
	put(&o, m, "metadata", metadata(&o, &view));
	put(&o, m, "spec", spec(&o, view.spec));
	put(&o, m, "status", status(&o, &view));
	if (o.o_fail) {
		json_decref(m);
		return (NULL);
	}
	return (m);
}

json_t *
sf_model_services_to_list(sf_service *const *svcs, size_t n)
{
	json_t *items = json_array();

	for (size_t i = 0; i < n && items != NULL; i++) {
		json_t *it = sf_model_service_to_manifest(svcs[i]);
		if (it == NULL || json_array_append_new(items, it) != 0) {
			json_decref(items);
			items = NULL;
		}
	}
	return (sf_model_json_list("v1", "List", items));
}
