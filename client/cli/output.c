// output.c: printing in the -o formats — kubectl-style tables (widths from
// the content, three spaces between columns), JSON with kubectl's 4-space
// indent, YAML, and TYPE/NAME lines. Services print as Kubernetes v1
// Service manifests through model; cluster records as svcfleet.io/v1
// Cluster objects with their credentials masked.
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "clock.h"
#include "model.h"

// kubectl's tabwriter: minimum cell width 6, padding 3.
#define TABLE_MINWIDTH 6
#define TABLE_PADDING  3

// ------------------------------------------------------------- tables

void
sf__cli_table_init(cli_table *t, size_t ncols)
{
	memset(t, 0, sizeof(*t));
	t->t_ncols = ncols;
}

void
sf__cli_table_fini(cli_table *t)
{
	for (size_t i = 0; i < t->t_nrows * t->t_ncols; i++) {
		free(t->t_cells[i]);
	}
	free(t->t_cells);
	memset(t, 0, sizeof(*t));
}

int
sf__cli_table_add(cli_table *t, const char *const *cells)
{
	if (t->t_nrows == t->t_cap) {
		size_t cap   = t->t_cap ? 2 * t->t_cap : 16;
		char **grown = realloc(
		    t->t_cells, cap * t->t_ncols * sizeof(*t->t_cells));
		if (grown == NULL) {
			return (-1);
		}
		t->t_cells = grown;
		t->t_cap   = cap;
	}
	char **row = t->t_cells + t->t_nrows * t->t_ncols;
	for (size_t i = 0; i < t->t_ncols; i++) {
		if ((row[i] = strdup(cells[i] != NULL ? cells[i] : ""))
		    == NULL) {
			while (i-- > 0) {
				free(row[i]);
			}
			return (-1);
		}
		// A cluster's error text may span lines; a row may not.
		for (char *p = row[i]; *p != '\0'; p++) {
			if (*p == '\n' || *p == '\r' || *p == '\t') {
				*p = ' ';
			}
		}
	}
	t->t_nrows++;
	return (0);
}

// Display width: UTF-8 code points (continuation bytes do not count).
static size_t
width(const char *s)
{
	size_t n = 0;
	for (; *s != '\0'; s++) {
		n += ((unsigned char) *s & 0xC0) != 0x80;
	}
	return (n);
}

int
sf__cli_table_done(cli_table *t, int rv)
{
	if (rv == 0) {
		sf__cli_table_print(t, stdout);
	}
	sf__cli_table_fini(t);
	return (rv == 0 ? 0
	                : sf__cli_fail(SF_RESOURCE_EXHAUSTED,
	                    "out of memory building the table"));
}

void
sf__cli_table_print(const cli_table *t, FILE *f)
{
	size_t *w = calloc(t->t_ncols, sizeof(*w));
	if (w == NULL) {
		return;
	}
	for (size_t r = 0; r < t->t_nrows; r++) {
		for (size_t col = 0; col < t->t_ncols; col++) {
			size_t cw = width(t->t_cells[r * t->t_ncols + col])
			    + TABLE_PADDING;
			if (cw > w[col]) {
				w[col] = cw;
			}
		}
	}
	for (size_t r = 0; r < t->t_nrows; r++) {
		for (size_t col = 0; col < t->t_ncols; col++) {
			const char *cell = t->t_cells[r * t->t_ncols + col];
			fputs(cell, f);
			if (col + 1 == t->t_ncols) {
				break;
			}
			size_t cw = w[col] < TABLE_MINWIDTH ? TABLE_MINWIDTH
			                                    : w[col];
			for (size_t k = width(cell); k < cw; k++) {
				fputc(' ', f);
			}
		}
		fputc('\n', f);
	}
	free(w);
}

void
sf__cli_print_service_name(
    const char *cluster, const char *ns, const char *name)
{
	printf("service/%s/%s/%s\n", sf_nz(cluster), sf_nz(ns), sf_nz(name));
}

void
sf__cli_age(int64_t ms, char *buf, size_t cap)
{
	if (ms <= 0) {
		snprintf(buf, cap, "<unknown>");
		return;
	}
	sf_duration_age(sf_clock_now_ms() - ms, buf, cap);
}

// ------------------------------------------------------ JSON and YAML

int
sf__cli_print_object(const cli *c, const json_t *obj)
{
	if (obj == NULL) {
		return (sf__cli_fail(SF_RESOURCE_EXHAUSTED,
		    "out of memory building the output"));
	}
	if (c->c_output == OUT_YAML) {
		sf_buf b = SF_BUF_INIT;
		if (sf_model_json_to_yaml(obj, &b) != 0) {
			sf_buf_fini(&b);
			return (sf__cli_fail(SF_RESOURCE_EXHAUSTED,
			    "out of memory building the YAML output"));
		}
		fputs(sf_buf_cstr(&b), stdout);
		sf_buf_fini(&b);
		return (0);
	}
	if (json_dumpf(obj, stdout, JSON_INDENT(4)) != 0) {
		return (sf__cli_fail(SF_INTERNAL, "writing JSON failed"));
	}
	fputc('\n', stdout);
	return (0);
}

int
sf__cli_print_list(const cli *c, json_t *items)
{
	json_t *l  = sf_model_json_list("v1", "List", items);
	int     rv = sf__cli_print_object(c, l);
	json_decref(l);
	return (rv);
}

// ------------------------------------------------------------ services

// The status the Service's own cluster reported, or NULL.
static const Svcfleet__V1__ClusterStatus *
own_status(const Svcfleet__V1__Service *svc)
{
	const char *cl
	    = svc->metadata != NULL ? sf_nz(svc->metadata->cluster) : "";
	for (size_t i = 0; i < svc->n_status; i++) {
		if (strcmp(sf_nz(svc->status[i]->cluster), cl) == 0) {
			return (svc->status[i]);
		}
	}
	return (svc->n_status > 0 ? svc->status[0] : NULL);
}

static const char *
sync_state(
    const Svcfleet__V1__Service *svc, const Svcfleet__V1__ClusterStatus *st)
{
	if (st == NULL
	    || st->state == SVCFLEET__V1__SYNC_STATE__SYNC_STATE_UNSPECIFIED) {
		return (svc->metadata->deleting ? "DELETING" : "PENDING");
	}
	return (sf_model_sync_state_name(st->state));
}

static const char *
proto_of(const char *p)
{
	return (p != NULL && p[0] != '\0' ? p : "TCP");
}

// The nodePort of port p: requested, else what the cluster assigned.
static int32_t
node_port_of(const Svcfleet__V1__ServicePort *p,
    const Svcfleet__V1__ClusterStatus *st, int32_t port)
{
	if (p->node_port != 0 || st == NULL) {
		return (p->node_port);
	}
	for (size_t i = 0; i < st->n_node_ports; i++) {
		const Svcfleet__V1__AssignedPort *a = st->node_ports[i];
		bool same_name                      = sf_nz(p->name)[0] != '\0'
		    && strcmp(sf_nz(p->name), sf_nz(a->name)) == 0;
		if ((same_name || a->port == port)
		    && strcmp(proto_of(p->protocol), proto_of(a->protocol))
		        == 0) {
			return (a->node_port);
		}
	}
	return (0);
}

// PORT(S) as kubectl prints it: 80:30080/TCP,53/UDP.
static void
ports_cell(const Svcfleet__V1__Service *svc,
    const Svcfleet__V1__ClusterStatus *st, sf_buf *b)
{
	const Svcfleet__V1__ServiceSpec *sp = svc->spec;
	bool external = strcmp(sf_nz(sp->type), "NodePort") == 0
	    || strcmp(sf_nz(sp->type), "LoadBalancer") == 0;
	for (size_t i = 0; i < sp->n_ports; i++) {
		const Svcfleet__V1__ServicePort *p = sp->ports[i];
		int32_t port = p->port != 0 ? p->port : p->target_port;
		int32_t np   = external ? node_port_of(p, st, port) : 0;
		sf_buf_printf(b, "%s%d", i > 0 ? "," : "", port);
		if (np != 0) {
			sf_buf_printf(b, ":%d", np);
		}
		sf_buf_printf(b, "/%s", proto_of(p->protocol));
	}
	if (sp->n_ports == 0) {
		sf_buf_puts(b, "<none>");
	}
}

static void
external_ip_cell(const Svcfleet__V1__Service *svc,
    const Svcfleet__V1__ClusterStatus *st, sf_buf *b)
{
	if (strcmp(sf_nz(svc->spec->type), "LoadBalancer") != 0) {
		sf_buf_puts(b, "<none>");
		return;
	}
	if (st == NULL || st->n_ingress == 0) {
		sf_buf_puts(b, "<pending>");
		return;
	}
	for (size_t i = 0; i < st->n_ingress; i++) {
		sf_buf_printf(b, "%s%s", i > 0 ? "," : "", st->ingress[i]);
	}
}

static void
selector_cell(const Svcfleet__V1__ServiceSpec *sp, sf_buf *b)
{
	for (size_t i = 0; i < sp->n_selector; i++) {
		sf_buf_printf(b, "%s%s=%s", i > 0 ? "," : "",
		    sf_nz(sp->selector[i]->key),
		    sf_nz(sp->selector[i]->value));
	}
	if (sp->n_selector == 0) {
		sf_buf_puts(b, "<none>");
	}
}

enum svc_col {
	SC_NAME,
	SC_CLUSTER,
	SC_NAMESPACE,
	SC_TYPE,
	SC_CLUSTER_IP,
	SC_EXTERNAL_IP,
	SC_PORTS,
	SC_STATUS,
	SC_AGE,
	SC_SELECTOR,
	SC_LAST_SYNC,
	SC_MESSAGE,
	SC_COUNT
};

static const char *const svc_headers[SC_COUNT]
    = {"NAME", "CLUSTER", "NAMESPACE", "TYPE", "CLUSTER-IP", "EXTERNAL-IP",
        "PORT(S)", "STATUS", "AGE", "SELECTOR", "LAST-SYNC", "MESSAGE"};

static bool
col_shown(int col, bool wide, bool all_ns)
{
	if (col == SC_NAMESPACE) {
		return (all_ns);
	}
	return (col < SC_SELECTOR || wide);
}

// Adds the visible cells of row to t.
static int
add_row(cli_table *t, const char *const *row, bool wide, bool all_ns)
{
	const char *cells[SC_COUNT];
	size_t      n = 0;
	for (int col = 0; col < SC_COUNT; col++) {
		if (col_shown(col, wide, all_ns)) {
			cells[n++] = row[col];
		}
	}
	return (sf__cli_table_add(t, cells));
}

static int
service_row(
    cli_table *t, const Svcfleet__V1__Service *svc, bool wide, bool all_ns)
{
	const Svcfleet__V1__ClusterStatus *st = own_status(svc);
	const Svcfleet__V1__ObjectMeta    *m  = svc->metadata;
	sf_buf      ports = SF_BUF_INIT, ext = SF_BUF_INIT, sel = SF_BUF_INIT;
	char        age[32], synced[32];
	const char *row[SC_COUNT];
	int         rv;

	ports_cell(svc, st, &ports);
	external_ip_cell(svc, st, &ext);
	selector_cell(svc->spec, &sel);
	sf__cli_age(m->create_time_ms, age, sizeof(age));
	if (st != NULL && st->last_sync_time_ms > 0) {
		sf__cli_age(st->last_sync_time_ms, synced, sizeof(synced));
	} else {
		snprintf(synced, sizeof(synced), "<never>");
	}
	row[SC_NAME]      = sf_nz(m->name);
	row[SC_CLUSTER]   = sf_nz(m->cluster);
	row[SC_NAMESPACE] = sf_nz(m->namespace_);
	row[SC_TYPE]
	    = sf_nz(svc->spec->type)[0] ? svc->spec->type : "ClusterIP";
	row[SC_CLUSTER_IP]  = st != NULL && sf_nz(st->cluster_ip)[0] != '\0'
	     ? st->cluster_ip
	     : "<pending>";
	row[SC_EXTERNAL_IP] = sf_buf_cstr(&ext);
	row[SC_PORTS]       = sf_buf_cstr(&ports);
	row[SC_STATUS]      = sync_state(svc, st);
	// Honest status (issue 19): UNKNOWN says when it was last confirmed.
	char unknown[64];
	if (st != NULL
	    && st->state == SVCFLEET__V1__SYNC_STATE__SYNC_STATE_UNKNOWN) {
		snprintf(unknown, sizeof(unknown), "UNKNOWN(synced %s ago)",
		    synced);
		if (st->last_sync_time_ms == 0) {
			snprintf(
			    unknown, sizeof(unknown), "UNKNOWN(never synced)");
		}
		row[SC_STATUS] = unknown;
	}
	row[SC_AGE]       = age;
	row[SC_SELECTOR]  = sf_buf_cstr(&sel);
	row[SC_LAST_SYNC] = synced;
	row[SC_MESSAGE]   = st != NULL && sf_nz(st->message)[0] != '\0'
	      ? st->message
	      : "<none>";
	rv                = add_row(t, row, wide, all_ns);
	if (ports.b_oom || ext.b_oom || sel.b_oom) {
		rv = -1;
	}
	sf_buf_fini(&ports);
	sf_buf_fini(&ext);
	sf_buf_fini(&sel);
	return (rv);
}

static int
print_complete(const cli *c, Svcfleet__V1__Service *const *svcs, size_t n,
    bool list, bool all_ns)
{
	int rv = 0;

	switch (c->c_output) {
	case OUT_JSON:
	case OUT_YAML: {
		json_t *obj = list || n != 1
		    ? sf_model_services_to_list(svcs, n)
		    : sf_model_service_to_manifest(svcs[0]);
		rv          = sf__cli_print_object(c, obj);
		json_decref(obj);
		return (rv);
	}
	case OUT_NAME:
		for (size_t i = 0; i < n; i++) {
			sf__cli_print_service_name(svcs[i]->metadata->cluster,
			    svcs[i]->metadata->namespace_,
			    svcs[i]->metadata->name);
		}
		return (0);
	default: {
		bool      wide = c->c_output == OUT_WIDE;
		cli_table t;
		sf__cli_table_init(&t,
		    SC_COUNT - (all_ns ? 0 : 1)
		        - (wide ? 0 : SC_COUNT - SC_SELECTOR));
		rv = add_row(&t, svc_headers, wide, all_ns);
		for (size_t i = 0; i < n && rv == 0; i++) {
			rv = service_row(&t, svcs[i], wide, all_ns);
		}
		return (sf__cli_table_done(&t, rv));
	}
	}
}

int
sf__cli_print_services(const cli *c, Svcfleet__V1__Service *const *svcs,
    size_t n, bool list, bool all_ns)
{
	static const Svcfleet__V1__ObjectMeta m0
	    = SVCFLEET__V1__OBJECT_META__INIT;
	static const Svcfleet__V1__ServiceSpec s0
	    = SVCFLEET__V1__SERVICE_SPEC__INIT;
	Svcfleet__V1__Service  *copies = NULL;
	Svcfleet__V1__Service **ptrs   = NULL;
	int                     rv;

	// A reply without metadata or spec (an odd server) prints through
	// shallow copies with empty ones, so the replies stay the library's
	// to free.
	for (size_t i = 0; i < n; i++) {
		if (svcs[i]->metadata != NULL && svcs[i]->spec != NULL) {
			continue;
		}
		copies = calloc(n, sizeof(*copies));
		ptrs   = calloc(n, sizeof(*ptrs));
		if (copies == NULL || ptrs == NULL) {
			free(copies);
			free(ptrs);
			return (sf__cli_fail(
			    SF_RESOURCE_EXHAUSTED, "out of memory"));
		}
		for (size_t k = 0; k < n; k++) {
			copies[k] = *svcs[k];
			if (copies[k].metadata == NULL) {
				copies[k].metadata
				    = (Svcfleet__V1__ObjectMeta *) &m0;
			}
			if (copies[k].spec == NULL) {
				copies[k].spec
				    = (Svcfleet__V1__ServiceSpec *) &s0;
			}
			ptrs[k] = &copies[k];
		}
		break;
	}
	rv = print_complete(c, ptrs != NULL ? ptrs : svcs, n, list, all_ns);
	free(copies);
	free(ptrs);
	return (rv);
}

// ------------------------------------------------------------ clusters

int
sf__cli_print_clusters(
    const cli *c, Svcfleet__V1__Cluster *const *cls, size_t n, bool list)
{
	// Credentials are masked unless --show-credentials.
	int flags
	    = sf__cli_flag(c, F_SHOW_CREDENTIALS) ? 0 : SF_MODEL_JSON_REDACT;
	int rv = 0;

	switch (c->c_output) {
	case OUT_JSON:
	case OUT_YAML: {
		json_t *obj;
		if (list || n != 1) {
			return (sf__cli_print_list(
			    c, sf_model_clusters_json(cls, n, flags)));
		}
		obj = sf_model_cluster_json(cls[0], flags);
		rv  = sf__cli_print_object(c, obj);
		json_decref(obj);
		return (rv);
	}
	case OUT_NAME:
		for (size_t i = 0; i < n; i++) {
			printf("cluster/%s\n", sf_nz(cls[i]->name));
		}
		return (0);
	default: {
		bool      wide = c->c_output == OUT_WIDE;
		cli_table t;
		sf__cli_table_init(&t, wide ? 11 : 8);
		// OWNER and LAST-SYNC: the reconciler holding the cluster and
		// the age of its last successful contact (issue 16).
		const char *hdr[] = {"NAME", "API-SERVER", "HEALTH", "VERSION",
		    "NODE-PORTS", "AGE", "OWNER", "LAST-SYNC", "LABELS",
		    "LAST-CONTACT", "MESSAGE"};
		rv                = sf__cli_table_add(&t, hdr);
		for (size_t i = 0; i < n && rv == 0; i++) {
			const Svcfleet__V1__Cluster       *cl = cls[i];
			const Svcfleet__V1__ClusterHealth *h  = cl->health;
			char   range[32], age[32], contact[32], sync[32];
			char   owner[128];
			sf_buf labels = SF_BUF_INIT;
			for (size_t k = 0; k < cl->n_labels; k++) {
				sf_buf_printf(&labels, "%s%s=%s",
				    k > 0 ? "," : "",
				    sf_nz(cl->labels[k]->key),
				    sf_nz(cl->labels[k]->value));
			}
			snprintf(range, sizeof(range), "%d-%d",
			    cl->node_port_min, cl->node_port_max);
			sf__cli_age(cl->create_time_ms, age, sizeof(age));
			if (h != NULL && h->last_contact_ms > 0) {
				sf__cli_age(h->last_contact_ms, contact,
				    sizeof(contact));
			} else {
				snprintf(contact, sizeof(contact), "<never>");
			}
			if (cl->last_sync_ms > 0) {
				sf__cli_age(
				    cl->last_sync_ms, sync, sizeof(sync));
			} else {
				snprintf(sync, sizeof(sync), "<never>");
			}
			if (sf_nz(cl->owner)[0] != '\0') {
				snprintf(
				    owner, sizeof(owner), "%s", cl->owner);
			} else if (cl->unowned_since_ms > 0) {
				char since[32];
				sf__cli_age(cl->unowned_since_ms, since,
				    sizeof(since));
				snprintf(owner, sizeof(owner), "<none for %s>",
				    since);
			} else {
				snprintf(owner, sizeof(owner), "<none>");
			}
			const char *row[] = {sf_nz(cl->name),
			    sf_nz(cl->api_server),
			    sf_model_cluster_health_name(
			        h != NULL ? h->state : 0),
			    h != NULL && sf_nz(h->server_version)[0] != '\0'
			        ? h->server_version
			        : "<unknown>",
			    range, age, owner, sync,
			    cl->n_labels > 0 ? sf_buf_cstr(&labels) : "<none>",
			    contact,
			    h != NULL && sf_nz(h->message)[0] != '\0'
			        ? h->message
			        : "<none>"};
			rv                = sf__cli_table_add(&t, row);
			sf_buf_fini(&labels);
		}
		return (sf__cli_table_done(&t, rv));
	}
	}
}
