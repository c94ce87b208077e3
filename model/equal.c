// equal.c: comparisons of specs and key/value lists, sync state names.
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "internal.h"

const char *
sf_model_kv_get(sf_kv *const *kvs, size_t n, const char *key)
{
	for (size_t i = 0; i < n; i++) {
		if (kvs[i] != NULL && sf__model_streq(kvs[i]->key, key)) {
			return (sf_nz(kvs[i]->value));
		}
	}
	return (NULL);
}

// A map view of a key/value list: its first value per key, sorted by key
// (n log n, issue 17: lists of a thousand pairs are compared on the
// store's writer thread).
typedef struct kv_ent {
	const char *e_key;
	const char *e_value;
	size_t      e_i;
} kv_ent;

static int
kv_ent_cmp(const void *a, const void *b)
{
	const kv_ent *x = a, *y = b;
	int           c = strcmp(x->e_key, y->e_key);
	return (c != 0 ? c : (x->e_i > y->e_i) - (x->e_i < y->e_i));
}

// kv_map returns the sorted first-value entries of kvs (malloc'd) and their
// number in *m; NULL when out of memory.
static kv_ent *
kv_map(sf_kv *const *kvs, size_t n, size_t *m)
{
	kv_ent *e = calloc(n + 1, sizeof(*e));
	size_t  k = 0, out = 0;

	if (e == NULL) {
		return (NULL);
	}
	for (size_t i = 0; i < n; i++) {
		if (kvs[i] != NULL) {
			e[k++] = (kv_ent) {
			    sf_nz(kvs[i]->key), sf_nz(kvs[i]->value), i};
		}
	}
	qsort(e, k, sizeof(*e), kv_ent_cmp);
	for (size_t i = 0; i < k; i++) {
		if (out == 0 || strcmp(e[out - 1].e_key, e[i].e_key) != 0) {
			e[out++] = e[i];
		}
	}
	*m = out;
	return (e);
}

bool
sf_model_kvs_equal(sf_kv *const *x, size_t nx, sf_kv *const *y, size_t ny)
{
	size_t  mx = 0, my = 0;
	kv_ent *ex = kv_map(x, nx, &mx);
	kv_ent *ey = kv_map(y, ny, &my);
	bool    eq = ex != NULL && ey != NULL && mx == my;

	for (size_t i = 0; eq && i < mx; i++) {
		eq = strcmp(ex[i].e_key, ey[i].e_key) == 0
		    && strcmp(ex[i].e_value, ey[i].e_value) == 0;
	}
	free(ex);
	free(ey);
	return (eq);
}

static bool
port_equal(const sf_service_port *p, const sf_service_port *q)
{
	if (p == NULL || q == NULL) {
		return (p == q);
	}
	return (sf__model_streq(p->name, q->name)
	    && sf__model_streq(p->protocol, q->protocol) && p->port == q->port
	    && p->target_port == q->target_port
	    && sf__model_streq(p->target_port_name, q->target_port_name)
	    && p->node_port == q->node_port
	    && sf__model_streq(p->app_protocol, q->app_protocol));
}

bool
sf_model_spec_equal(const sf_service_spec *x, const sf_service_spec *y)
{
	if (x == NULL || y == NULL) {
		return (x == y);
	}
	if (!sf__model_streq(x->type, y->type)
	    || !sf_model_kvs_equal(
	        x->selector, x->n_selector, y->selector, y->n_selector)
	    || x->n_ports != y->n_ports
	    || !sf__model_streq(x->session_affinity, y->session_affinity)
	    || x->session_timeout_seconds != y->session_timeout_seconds
	    || !sf__model_streq(
	        x->external_traffic_policy, y->external_traffic_policy)
	    || !sf__model_streq(x->lb_type, y->lb_type)
	    || !sf__model_streq(x->lb_pool, y->lb_pool)
	    || !sf__model_streq(x->lb_address, y->lb_address)
	    || !sf__model_streq(x->load_balancer_class, y->load_balancer_class)
	    || x->n_load_balancer_source_ranges
	        != y->n_load_balancer_source_ranges
	    || !x->allow_adoption != !y->allow_adoption
	    || !sf__model_streq(x->selector_from, y->selector_from)) {
		return (false);
	}
	for (size_t i = 0; i < x->n_ports; i++) {
		if (!port_equal(x->ports[i], y->ports[i])) {
			return (false);
		}
	}
	for (size_t i = 0; i < x->n_load_balancer_source_ranges; i++) {
		if (!sf__model_streq(x->load_balancer_source_ranges[i],
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
    [SVCFLEET__V1__SYNC_STATE__SYNC_STATE_DRIFTED]         = "DRIFTED",
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
