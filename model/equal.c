// equal.c: comparisons of specs and key/value lists, sync state names.
#include <string.h>
#include <strings.h>

#include "internal.h"

const char *
sf_model_kv_get(sf_kv *const *kvs, size_t n, const char *key)
{
	for (size_t i = 0; i < n; i++) {
		if (kvs[i] != NULL && sf__streq(kvs[i]->key, key)) {
			return (sf_nz(kvs[i]->value));
		}
	}
	return (NULL);
}

// subset: every key of x is in y with the same (first) value.
static bool
kvs_subset(sf_kv *const *x, size_t nx, sf_kv *const *y, size_t ny)
{
	for (size_t i = 0; i < nx; i++) {
		if (x[i] == NULL) {
			continue;
		}
		const char *v = sf_model_kv_get(y, ny, x[i]->key);
		const char *w = sf_model_kv_get(x, nx, x[i]->key);
		if (v == NULL || strcmp(v, w) != 0) {
			return (false);
		}
	}
	return (true);
}

bool
sf_model_kvs_equal(sf_kv *const *x, size_t nx, sf_kv *const *y, size_t ny)
{
	return (kvs_subset(x, nx, y, ny) && kvs_subset(y, ny, x, nx));
}

static bool
port_equal(const sf_service_port *p, const sf_service_port *q)
{
	if (p == NULL || q == NULL) {
		return (p == q);
	}
	return (sf__streq(p->name, q->name)
	    && sf__streq(p->protocol, q->protocol) && p->port == q->port
	    && p->target_port == q->target_port
	    && sf__streq(p->target_port_name, q->target_port_name)
	    && p->node_port == q->node_port
	    && sf__streq(p->app_protocol, q->app_protocol));
}

bool
sf_model_spec_equal(const sf_service_spec *x, const sf_service_spec *y)
{
	if (x == NULL || y == NULL) {
		return (x == y);
	}
	if (!sf__streq(x->type, y->type)
	    || !sf_model_kvs_equal(
	        x->selector, x->n_selector, y->selector, y->n_selector)
	    || x->n_ports != y->n_ports
	    || !sf__streq(x->session_affinity, y->session_affinity)
	    || x->session_timeout_seconds != y->session_timeout_seconds
	    || !sf__streq(
	        x->external_traffic_policy, y->external_traffic_policy)
	    || !sf__streq(x->lb_type, y->lb_type)
	    || !sf__streq(x->lb_pool, y->lb_pool)
	    || !sf__streq(x->lb_address, y->lb_address)
	    || !sf__streq(x->load_balancer_class, y->load_balancer_class)
	    || x->n_load_balancer_source_ranges
	        != y->n_load_balancer_source_ranges
	    || !x->allow_adoption != !y->allow_adoption
	    || !sf__streq(x->selector_from, y->selector_from)) {
		return (false);
	}
	for (size_t i = 0; i < x->n_ports; i++) {
		if (!port_equal(x->ports[i], y->ports[i])) {
			return (false);
		}
	}
	for (size_t i = 0; i < x->n_load_balancer_source_ranges; i++) {
		if (!sf__streq(x->load_balancer_source_ranges[i],
		        y->load_balancer_source_ranges[i])) {
			return (false);
		}
	}
	return (true);
}

static const char *const sync_names[] = {
    [SVCFLEET__V1__SYNC_STATE__SYNC_STATE_UNSPECIFIED]     = "UNSPECIFIED",
    [SVCFLEET__V1__SYNC_STATE__SYNC_STATE_PENDING]         = "PENDING",
    [SVCFLEET__V1__SYNC_STATE__SYNC_STATE_SYNCED]          = "SYNCED",
    [SVCFLEET__V1__SYNC_STATE__SYNC_STATE_ERROR]           = "ERROR",
    [SVCFLEET__V1__SYNC_STATE__SYNC_STATE_DELETING]        = "DELETING",
    [SVCFLEET__V1__SYNC_STATE__SYNC_STATE_WAITING_ADDRESS] = "WAITING_ADDRESS",
    [SVCFLEET__V1__SYNC_STATE__SYNC_STATE_UNKNOWN]         = "UNKNOWN",
};
#define N_SYNC (sizeof(sync_names) / sizeof(sync_names[0]))

const char *
sf_model_sync_state_name(Svcfleet__V1__SyncState s)
{
	if ((unsigned) s < N_SYNC && sync_names[s] != NULL) {
		return (sync_names[s]);
	}
	return ("UNSPECIFIED");
}

int
sf_model_sync_state_parse(const char *s)
{
	s = sf_nz(s);
	if (strncasecmp(s, "SYNC_STATE_", 11) == 0) {
		s += 11;
	}
	for (size_t i = 0; i < N_SYNC; i++) {
		if (sync_names[i] != NULL
		    && strcasecmp(s, sync_names[i]) == 0) {
			return ((int) i);
		}
	}
	return (-1);
}
