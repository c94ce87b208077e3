// defaults.c: what the "Create Service" form fills in when left empty.
//
// Kubernetes' own defaults (SetDefaults_Service) differ in two places on
// purpose: the ClientIP session timeout is the form's 30 s, and a missing
// service port is taken from a numeric container port (Kubernetes would
// reject port 0).
#include <string.h>

#include "internal.h"

static bool
needs_node_ports(const char *type)
{
	return (sf__model_streq(type, "NodePort")
	    || sf__model_streq(type, "LoadBalancer"));
}

// set replaces *field with value when *field is empty.
static int
set_default(char **field, const char *value, sf_arena *a)
{
	if (!sf__model_empty(*field)) {
		return (0);
	}
	if ((*field = sf_arena_strdup(a, value)) == NULL) {
		return (SF_RESOURCE_EXHAUSTED);
	}
	return (0);
}

static int
port_defaults(sf_service_port *p, sf_arena *a)
{
	int rv;

	if ((rv = set_default(&p->protocol, "TCP", a)) != 0) {
		return (rv);
	}
	if (p->port == 0 && p->target_port != 0
	    && sf__model_empty(p->target_port_name)) {
		p->port = p->target_port;
	}
	if (p->target_port == 0 && sf__model_empty(p->target_port_name)) {
		p->target_port = p->port;
	}
	return (0);
}

int
sf_model_service_defaults(sf_service *svc, sf_arena *a)
{
	sf_service_spec *sp;
	int              rv;

	if (svc->metadata == NULL) {
		sf_object_meta *m = sf_arena_alloc(a, sizeof(*m));
		if (m == NULL) {
			return (SF_RESOURCE_EXHAUSTED);
		}
		*m = (sf_object_meta) SVCFLEET__V1__OBJECT_META__INIT;
		svc->metadata = m;
	}
	if (svc->spec == NULL) {
		sp = sf_arena_alloc(a, sizeof(*sp));
		if (sp == NULL) {
			return (SF_RESOURCE_EXHAUSTED);
		}
		*sp       = (sf_service_spec) SVCFLEET__V1__SERVICE_SPEC__INIT;
		svc->spec = sp;
	}
	sp = svc->spec;

	if ((rv = set_default(&sp->type, "ClusterIP", a)) != 0) {
		return (rv);
	}
	for (size_t i = 0; i < sp->n_ports; i++) {
		if (sp->ports[i] != NULL
		    && (rv = port_defaults(sp->ports[i], a)) != 0) {
			return (rv);
		}
	}
	if ((rv = set_default(&sp->session_affinity, "None", a)) != 0) {
		return (rv);
	}
	if (sf__model_streq(sp->session_affinity, "ClientIP")
	    && sp->session_timeout_seconds == 0) {
		sp->session_timeout_seconds = SF_MODEL_SESSION_TIMEOUT_DEFAULT;
	}
	if (needs_node_ports(sp->type)
	    && (rv = set_default(&sp->external_traffic_policy, "Cluster", a))
	        != 0) {
		return (rv);
	}
	if (sf__model_streq(sp->type, "LoadBalancer")) {
		// A pool only means something to MetalLB; everything else
		// (a bare LoadBalancer, an address, a class) is a cloud or
		// other controller's business.
		const char *lbt
		    = sf__model_empty(sp->lb_pool) ? "other" : "metallb";
		if ((rv = set_default(&sp->lb_type, lbt, a)) != 0) {
			return (rv);
		}
	}
	return (0);
}
