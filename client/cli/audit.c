// audit.c: `svcfleet audit` — the audit log: every write and every denial,
// who made it, on what, and the outcome, newest first.
//
// The server pages the log (newest first); this follows the page tokens
// until --limit events (default 50) are in hand or the log ends, asking
// for no more than it still needs.
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "model.h"
#include "clock.h"

#define AUDIT_LIMIT_DEFAULT 50
// Events asked for per call: the server's default page, so a long listing
// is many short read transactions rather than one long one.
#define AUDIT_PAGE 100

// --since 1h (a duration back from now) or an RFC 3339 time.
static int
parse_since(cli *c, int64_t *since_ms)
{
	const char *v = sf__cli_value(c, F_SINCE, NULL);
	int64_t     ms;

	*since_ms = 0;
	if (v == NULL) {
		return (0);
	}
	if (sf_duration_parse(v, &ms) == 0) {
		*since_ms = sf_clock_now_ms() - ms;
		return (0);
	}
	if (sf_clock_parse_rfc3339(v, &ms) == 0) {
		*since_ms = ms;
		return (0);
	}
	return (sf__cli_usage(c,
	    "invalid value \"%s\" for --since: want a duration such as 1h "
	    "or 30m, or an RFC 3339 time such as 2026-01-02T15:04:05Z",
	    v));
}

// "/svcfleet.v1.ServiceManager/CreateService" -> "CreateService".
static const char *
short_method(const char *m)
{
	const char *slash = strrchr(sf_nz(m), '/');
	return (slash != NULL ? slash + 1 : sf_nz(m));
}

// cluster/namespace/name, leaving out what the call did not name.
static void
object_cell(const Svcfleet__V1__AuditEvent *ev, sf_buf *b)
{
	const char *parts[] = {ev->cluster, ev->namespace_, ev->name};
	for (size_t i = 0; i < 3; i++) {
		if (sf_nz(parts[i])[0] != '\0') {
			sf_buf_printf(
			    b, "%s%s", b->b_len > 0 ? "/" : "", parts[i]);
		}
	}
	if (b->b_len == 0) {
		sf_buf_puts(b, "<none>");
	}
}

// A row of every column; a table of fewer (not -o wide) takes the first.
static int
event_row(cli_table *t, const Svcfleet__V1__AuditEvent *ev)
{
	sf_buf obj = SF_BUF_INIT, groups = SF_BUF_INIT;
	char   when[48], at[40], rev[24], age[32];
	int    rv;

	object_cell(ev, &obj);
	for (size_t i = 0; i < ev->n_groups; i++) {
		sf_buf_printf(
		    &groups, "%s%s", i > 0 ? "," : "", sf_nz(ev->groups[i]));
	}
	sf_duration_age(sf_clock_now_ms() - ev->time_ms, age, sizeof(age));
	snprintf(when, sizeof(when), "%s ago", age);
	sf_clock_format_rfc3339_ms(ev->time_ms, at, sizeof(at));
	snprintf(rev, sizeof(rev), "%llu", (unsigned long long) ev->revision);
	const char *row[] = {when, sf_nz(ev->user)[0] ? ev->user : "<none>",
	    short_method(ev->method), sf_buf_cstr(&obj),
	    svcfleet_code_name(ev->code),
	    sf_nz(ev->message)[0] != '\0' ? ev->message : "<none>", at,
	    ev->n_groups > 0 ? sf_buf_cstr(&groups) : "<none>",
	    ev->revision != 0 ? rev : "<none>",
	    sf_nz(ev->request_id)[0] != '\0' ? ev->request_id : "<none>"};
	rv = obj.b_oom || groups.b_oom ? -1 : sf__cli_table_add(t, row);
	sf_buf_fini(&obj);
	sf_buf_fini(&groups);
	return (rv);
}

typedef struct audit_pages {
	Svcfleet__V1__ListAuditEventsReply **ap_replies;
	size_t                               ap_n;
	Svcfleet__V1__AuditEvent           **ap_events;
	size_t                               ap_nevents;
} audit_pages;

static void
pages_fini(audit_pages *p)
{
	for (size_t i = 0; i < p->ap_n; i++) {
		svcfleet_free(p->ap_replies[i]);
	}
	free(p->ap_replies);
	free(p->ap_events);
}

// Keeps page r (taking ownership, also on failure) and its events.
static int
pages_add(audit_pages *p, Svcfleet__V1__ListAuditEventsReply *r)
{
	void *rs
	    = realloc(p->ap_replies, (p->ap_n + 1) * sizeof(*p->ap_replies));
	if (rs == NULL) {
		svcfleet_free(r);
		return (-1);
	}
	p->ap_replies            = rs;
	p->ap_replies[p->ap_n++] = r;
	void *es                 = realloc(p->ap_events,
	                    (p->ap_nevents + r->n_events + 1) * sizeof(*p->ap_events));
	if (es == NULL) {
		return (-1);
	}
	p->ap_events = es;
	for (size_t i = 0; i < r->n_events; i++) {
		if (r->events[i] != NULL) {
			p->ap_events[p->ap_nevents++] = r->events[i];
		}
	}
	return (0);
}

static int
print_events(cli *c, Svcfleet__V1__AuditEvent **evs, size_t n)
{
	int rv = 0;

	if (c->c_output == OUT_JSON || c->c_output == OUT_YAML) {
		return (
		    sf__cli_print_list(c, sf_model_audit_events_json(evs, n)));
	}
	if (n == 0) {
		fprintf(stderr, "No events found\n");
		return (0);
	}
	if (c->c_output == OUT_NAME) {
		for (size_t i = 0; i < n; i++) {
			printf("auditevent/%llu\n",
			    (unsigned long long) evs[i]->id);
		}
		return (0);
	}
	bool      wide = c->c_output == OUT_WIDE;
	cli_table t;
	sf__cli_table_init(&t, wide ? 10 : 6);
	const char *hdr[] = {"TIME", "USER", "METHOD", "OBJECT", "RESULT",
	    "MESSAGE", "AT", "GROUPS", "REVISION", "REQUEST-ID"};
	rv                = sf__cli_table_add(&t, hdr);
	for (size_t i = 0; i < n && rv == 0; i++) {
		rv = event_row(&t, evs[i]);
	}
	return (sf__cli_table_done(&t, rv));
}

// i19: drift events as a table: when, where, what changed, who wrote it.
static int
print_drift(cli *c, Svcfleet__V1__AuditEvent **evs, size_t n)
{
	cli_table t;
	int       rv;

	if (c->c_output == OUT_JSON || c->c_output == OUT_YAML
	    || c->c_output == OUT_NAME) {
		return (print_events(c, evs, n));
	}
	if (n == 0) {
		fprintf(stderr, "No drift found\n");
		return (0);
	}
	sf__cli_table_init(&t, 6);
	const char *hdr[] = {
	    "TIME", "OBJECT", "OPERATION", "WRITTEN-BY", "ACTION", "FIELDS"};
	rv = sf__cli_table_add(&t, hdr);
	for (size_t i = 0; i < n && rv == 0; i++) {
		const Svcfleet__V1__AuditEvent *ev = evs[i];
		sf_buf obj = SF_BUF_INIT, by = SF_BUF_INIT, f = SF_BUF_INIT;
		char   age[32], when[48];
		object_cell(ev, &obj);
		for (size_t k = 0; k < ev->n_drift_managers; k++) {
			sf_buf_printf(&by, "%s%s", k > 0 ? "," : "",
			    ev->drift_managers[k]);
		}
		for (size_t k = 0; k < ev->n_drift_fields; k++) {
			const Svcfleet__V1__DriftField *df
			    = ev->drift_fields[k];
			sf_buf_printf(&f, "%s%s=%s", k > 0 ? " " : "",
			    sf_nz(df->path), sf_nz(df->new_value));
		}
		sf_duration_age(
		    sf_clock_now_ms() - ev->time_ms, age, sizeof(age));
		snprintf(when, sizeof(when), "%s ago", age);
		const char *row[] = {when, sf_buf_cstr(&obj),
		    sf_nz(ev->drift_operation)[0] ? ev->drift_operation
		                                  : "<unknown>",
		    by.b_len > 0 ? sf_buf_cstr(&by) : "<unknown>",
		    sf_nz(ev->drift_action)[0] ? ev->drift_action : "<none>",
		    f.b_len > 0 ? sf_buf_cstr(&f) : "<none>"};
		rv                = obj.b_oom || by.b_oom || f.b_oom
		                   ? -1
		                   : sf__cli_table_add(&t, row);
		sf_buf_fini(&obj);
		sf_buf_fini(&by);
		sf_buf_fini(&f);
	}
	return (sf__cli_table_done(&t, rv));
}

static int audit_run(cli *c, bool drift);

int
sf__cli_cmd_audit(cli *c)
{
	return (audit_run(c, false));
}

int
sf__cli_cmd_drift(cli *c)
{
	return (audit_run(c, true));
}

static int
audit_run(cli *c, bool drift)
{
	Svcfleet__V1__ListAuditEventsRequest req
	    = SVCFLEET__V1__LIST_AUDIT_EVENTS_REQUEST__INIT;
	audit_pages p;
	uint32_t    limit;
	int         rv;

	if ((rv = sf__cli_parse_limit(c, AUDIT_LIMIT_DEFAULT, &limit)) != 0
	    || (rv = parse_since(c, &req.since_ms)) != 0
	    || (rv = sf__cli_connect(c)) != 0) {
		return (rv);
	}
	memset(&p, 0, sizeof(p));
	req.cluster        = (char *) sf__cli_value(c, F_CLUSTER, "");
	req.namespace_     = (char *) sf__cli_value(c, F_NAMESPACE, "");
	req.user           = (char *) sf__cli_value(c, F_USER, "");
	req.name           = (char *) sf__cli_value(c, F_NAME, "");
	req.include_system = sf__cli_flag(c, F_INCLUDE_SYSTEM);
	req.drift_only     = drift;
	while (p.ap_nevents < limit) {
		Svcfleet__V1__ListAuditEventsReply *r = NULL;
		req.page_size = limit - (uint32_t) p.ap_nevents < AUDIT_PAGE
		    ? limit - (uint32_t) p.ap_nevents
		    : AUDIT_PAGE;
		if (svcfleet_list_audit_events(c->c_client, &req, &r, &c->c_st)
		    != 0) {
			pages_fini(&p);
			return (sf__cli_fail_status(&c->c_st, NULL));
		}
		if (pages_add(&p, r) != 0) {
			pages_fini(&p);
			return (sf__cli_fail(
			    SF_RESOURCE_EXHAUSTED, "out of memory"));
		}
		// The cursor only moves back in time; one that does not
		// move would loop for ever.
		if (sf_nz(r->next_page_token)[0] == '\0'
		    || strcmp(r->next_page_token, sf_nz(req.page_token))
		        == 0) {
			break;
		}
		req.page_token = r->next_page_token;
	}
	if (p.ap_nevents > limit) {
		p.ap_nevents = limit; // a server that sent more than asked
	}
	rv = drift ? print_drift(c, p.ap_events, p.ap_nevents)
	           : print_events(c, p.ap_events, p.ap_nevents);
	pages_fini(&p);
	return (rv);
}
