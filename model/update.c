// update.c: Kubernetes' update rules for Services (notes B 13, F 57, F 60)
// where svcfleet's fields are concerned.
//
// The stored desired state holds only requested nodePorts, so F 59 (copy
// allocated values forward) has nothing to copy: a resubmitted manifest
// already carries exactly what was requested.
#include <string.h>

#include "internal.h"

static bool
needs_node_ports(const sf_service_spec *sp)
{
	return (sf__model_streq(sp->type, "NodePort")
	    || sf__model_streq(sp->type, "LoadBalancer"));
}

static bool
is_lb(const sf_service_spec *sp)
{
	return (sf__model_streq(sp->type, "LoadBalancer"));
}

// new_ports_subset: every nonzero nodePort of nw is one of old's
// (Kubernetes' sameNodePorts; an empty set is always a subset).
static bool
new_ports_subset(const sf_service_spec *old, const sf_service_spec *nw)
{
	for (size_t i = 0; i < nw->n_ports; i++) {
		bool found = false;
		if (nw->ports[i] == NULL || nw->ports[i]->node_port == 0) {
			continue;
		}
		for (size_t j = 0; j < old->n_ports && !found; j++) {
			found = old->ports[j] != NULL
			    && old->ports[j]->node_port
			        == nw->ports[i]->node_port;
		}
		if (!found) {
			return (false);
		}
	}
	return (true);
}

static void
clear_if_same(char **nw, const char *old)
{
	if (!sf__model_empty(*nw) && sf__model_streq(*nw, old)) {
		*nw = (char *) protobuf_c_empty_string;
	}
}

// drop_type_dependent_fields is Kubernetes' dropTypeDependentFields (F 60)
// extended to svcfleet's load-balancer fields.
static void
drop_type_dependent_fields(const sf_service_spec *old, sf_service_spec *nw)
{
	if (needs_node_ports(old) && !needs_node_ports(nw)
	    && new_ports_subset(old, nw)) {
		for (size_t i = 0; i < nw->n_ports; i++) {
			if (nw->ports[i] != NULL) {
				nw->ports[i]->node_port = 0;
			}
		}
	}
	if (needs_node_ports(old) && !needs_node_ports(nw)) {
		clear_if_same(&nw->external_traffic_policy,
		    old->external_traffic_policy);
	}
	if (is_lb(old) && !is_lb(nw)) {
		clear_if_same(
		    &nw->load_balancer_class, old->load_balancer_class);
		clear_if_same(&nw->lb_pool, old->lb_pool);
		clear_if_same(&nw->lb_address, old->lb_address);
		// The type only goes when nothing it qualifies is left.
		if (sf__model_empty(nw->lb_pool)
		    && sf__model_empty(nw->lb_address)
		    && sf__model_empty(nw->load_balancer_class)) {
			clear_if_same(&nw->lb_type, old->lb_type);
		}
	}
}

static void
immutable(
    sf__model_vctx *vc, const char *field, const char *nv, const char *ov)
{
	if (!sf__model_streq(nv, ov)) {
		sf__model_v_invalid_str(
		    vc, field, sf_nz(nv), "field is immutable");
	}
}

int
sf_model_service_prepare_update(const sf_service *old, sf_service *nw,
    const sf_model_limits *lim, sf_arena *a, sf_status *st)
{
	static const sf_object_meta empty_meta
	    = SVCFLEET__V1__OBJECT_META__INIT;
	static const sf_service_spec empty_spec
	    = SVCFLEET__V1__SERVICE_SPEC__INIT;
	const sf_object_meta  *om, *nm;
	const sf_service_spec *os;
	sf__model_vctx         vc;
	int                    rv;

	// Defaulting is idempotent; it also gives nw the sub-messages the
	// rules below touch.
	if ((rv = sf_model_service_defaults(nw, a)) != 0) {
		return (sf_status_set(st, rv, "out of memory"));
	}
	om = old->metadata != NULL ? old->metadata : &empty_meta;
	os = old->spec != NULL ? old->spec : &empty_spec;
	nm = nw->metadata;

	drop_type_dependent_fields(os, nw->spec);

	sf__model_vctx_init(&vc, st);
	immutable(&vc, "metadata.cluster", nm->cluster, om->cluster);
	immutable(&vc, "metadata.namespace", nm->namespace_, om->namespace_);
	immutable(&vc, "metadata.name", nm->name, om->name);
	if (is_lb(os) && is_lb(nw->spec)
	    && !sf__model_streq(
	        os->load_balancer_class, nw->spec->load_balancer_class)) {
		// An unset class is a nil pointer, which Kubernetes prints as
		// the quoted string "null".
		const char *v = nw->spec->load_balancer_class;
		sf__model_v_invalid_str(&vc, "spec.loadBalancerClass",
		    sf__model_empty(v) ? "null" : v,
		    "may not change once set");
	}
	sf__model_validate_service(&vc, nw, lim);
	return (
	    sf__model_vctx_finish(&vc, "Service", sf__model_service_name(nw)));
}
