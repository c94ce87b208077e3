// kf_table.c: meta.k8s.io/v1 Table output (server-side printing), which is
// what `kubectl get` asks for. Columns and cell formats follow
// pkg/printers/internalversion/printers.go.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "kf.h"

bool
kf_table_wanted(const char *accept)
{
	return accept && strstr(accept, "as=Table") != NULL;
}

typedef struct col {
	const char *c_name;
	const char *c_type;
	const char *c_format;
	int         c_priority;
} col;

static const col svc_cols[] = {
    {"Name", "string", "name", 0},
    {"Type", "string", "", 0},
    {"Cluster-IP", "string", "", 0},
    {"External-IP", "string", "", 0},
    {"Port(s)", "string", "", 0},
    {"Age", "string", "", 0},
    {"Selector", "string", "", 1},
    {NULL, NULL, NULL, 0},
};
static const col ns_cols[] = {
    {"Name", "string", "name", 0},
    {"Status", "string", "", 0},
    {"Age", "string", "", 0},
    {NULL, NULL, NULL, 0},
};
static const col deploy_cols[] = {
    {"Name", "string", "name", 0},
    {"Ready", "string", "", 0},
    {"Up-to-date", "integer", "", 0},
    {"Available", "integer", "", 0},
    {"Age", "string", "", 0},
    {"Containers", "string", "", 1},
    {"Images", "string", "", 1},
    {"Selector", "string", "", 1},
    {NULL, NULL, NULL, 0},
};
static const col sts_cols[] = {
    {"Name", "string", "name", 0},
    {"Ready", "string", "", 0},
    {"Age", "string", "", 0},
    {"Containers", "string", "", 1},
    {"Images", "string", "", 1},
    {NULL, NULL, NULL, 0},
};
static const col ds_cols[] = {
    {"Name", "string", "name", 0},
    {"Desired", "integer", "", 0},
    {"Current", "integer", "", 0},
    {"Ready", "integer", "", 0},
    {"Up-to-date", "integer", "", 0},
    {"Available", "integer", "", 0},
    {"Node Selector", "string", "", 0},
    {"Age", "string", "", 0},
    {"Containers", "string", "", 1},
    {"Images", "string", "", 1},
    {"Selector", "string", "", 1},
    {NULL, NULL, NULL, 0},
};
static const col ev_cols[] = {
    {"Last Seen", "string", "", 0},
    {"Type", "string", "", 0},
    {"Reason", "string", "", 0},
    {"Object", "string", "", 0},
    {"Message", "string", "", 0},
    {NULL, NULL, NULL, 0},
};

static const col *
cols_for(int res)
{
	switch (res) {
	case KF_R_SERVICES:
		return svc_cols;
	case KF_R_NAMESPACES:
		return ns_cols;
	case KF_R_DEPLOYMENTS:
		return deploy_cols;
	case KF_R_STATEFULSETS:
		return sts_cols;
	case KF_R_DAEMONSETS:
		return ds_cols;
	default:
		return ev_cols;
	}
}

static json_t *
age(json_t *o, const char *path)
{
	const char *ts = kf_jstr(o, path);
	int64_t     ms;
	if (ts == NULL || sf_clock_parse_rfc3339(ts, &ms) != 0) {
		return json_string("<unknown>");
	}
	char buf[32];
	sf_duration_age(sf_clock_now_ms() - ms, buf, sizeof(buf));
	return json_string(buf);
}

static void
join_strings(sf_buf *b, json_t *arr, const char *empty)
{
	size_t  i;
	json_t *v;
	json_array_foreach(arr, i, v)
	{
		sf_buf_printf(b, "%s%s", i ? "," : "",
		    json_string_value(v) ? json_string_value(v) : "");
	}
	if (b->b_len == 0) {
		sf_buf_puts(b, empty);
	}
}

static int
key_cmp(const void *a, const void *b)
{
	return strcmp(*(const char *const *) a, *(const char *const *) b);
}

static json_t *
format_labels(json_t *m)
{
	size_t n = json_object_size(m);
	if (n == 0) {
		return json_string("<none>");
	}
	const char **keys = calloc(n, sizeof(char *));
	size_t       i    = 0;
	const char  *k;
	json_t      *v;
	json_object_foreach(m, k, v)
	{
		keys[i++] = k;
	}
	qsort(keys, n, sizeof(char *), key_cmp);
	sf_buf b = SF_BUF_INIT;
	for (i = 0; i < n; i++) {
		sf_buf_printf(&b, "%s%s=%s", i ? "," : "", keys[i],
		    json_string_value(json_object_get(m, keys[i])));
	}
	free(keys);
	json_t *s = json_string(sf_buf_cstr(&b));
	sf_buf_fini(&b);
	return s;
}

static json_t *
svc_cells(json_t *o)
{
	json_t     *cells = json_array();
	const char *type  = kf_jstr(o, "spec.type");
	type              = type ? type : "";
	json_array_append_new(cells, json_string(kf_jstr(o, "metadata.name")));
	json_array_append_new(cells, json_string(type));
	json_t *ips = kf_jget(o, "spec.clusterIPs");
	json_array_append_new(cells,
	    json_array_size(ips) ? json_incref(json_array_get(ips, 0))
	                         : json_string("<none>"));
	sf_buf b = SF_BUF_INIT;
	if (strcmp(type, "ExternalName") == 0) {
		const char *en = kf_jstr(o, "spec.externalName");
		sf_buf_puts(&b, en ? en : "");
	} else if (strcmp(type, "LoadBalancer") == 0) {
		json_t *ing = kf_jget(o, "status.loadBalancer.ingress");
		size_t  i;
		json_t *g;
		json_array_foreach(ing, i, g)
		{
			const char *ip = kf_jstr(g, "ip");
			const char *hn = kf_jstr(g, "hostname");
			if ((ip && *ip) || (hn && *hn)) {
				sf_buf_printf(&b, "%s%s", b.b_len ? "," : "",
				    ip && *ip ? ip : hn);
			}
		}
		if (b.b_len > 16) {
			b.b_len      = 13;
			b.b_data[13] = '\0';
			sf_buf_puts(&b, "...");
		}
		json_t *ext = kf_jget(o, "spec.externalIPs");
		json_array_foreach(ext, i, g)
		{
			sf_buf_printf(&b, "%s%s", b.b_len ? "," : "",
			    json_string_value(g));
		}
		if (b.b_len == 0) {
			sf_buf_puts(&b, "<pending>");
		}
	} else {
		join_strings(&b, kf_jget(o, "spec.externalIPs"), "<none>");
	}
	json_array_append_new(cells, json_string(sf_buf_cstr(&b)));
	sf_buf_reset(&b);
	size_t  i;
	json_t *p;
	json_array_foreach(kf_jget(o, "spec.ports"), i, p)
	{
		json_t     *np    = json_object_get(p, "nodePort");
		const char *proto = kf_jstr(p, "protocol");
		if (json_integer_value(np) > 0) {
			sf_buf_printf(&b, "%s%lld:%lld/%s", i ? "," : "",
			    json_integer_value(json_object_get(p, "port")),
			    json_integer_value(np), proto ? proto : "");
		} else {
			sf_buf_printf(&b, "%s%lld/%s", i ? "," : "",
			    json_integer_value(json_object_get(p, "port")),
			    proto ? proto : "");
		}
	}
	if (b.b_len == 0) {
		sf_buf_puts(&b, "<none>");
	}
	json_array_append_new(cells, json_string(sf_buf_cstr(&b)));
	sf_buf_fini(&b);
	json_array_append_new(cells, age(o, "metadata.creationTimestamp"));
	json_array_append_new(
	    cells, format_labels(kf_jget(o, "spec.selector")));
	return cells;
}

static json_t *
containers(json_t *o, const char *field)
{
	sf_buf  b = SF_BUF_INIT;
	size_t  i;
	json_t *c;
	json_array_foreach(kf_jget(o, "spec.template.spec.containers"), i, c)
	{
		const char *v = kf_jstr(c, field);
		sf_buf_printf(&b, "%s%s", i ? "," : "", v ? v : "");
	}
	json_t *s = json_string(sf_buf_cstr(&b));
	sf_buf_fini(&b);
	return s;
}

static long long
ival(json_t *o, const char *path)
{
	return json_integer_value(kf_jget(o, path));
}

static json_t *
workload_cells(int res, json_t *o)
{
	json_t *cells = json_array();
	json_array_append_new(cells, json_string(kf_jstr(o, "metadata.name")));
	char ready[64];
	if (res == KF_R_DEPLOYMENTS || res == KF_R_STATEFULSETS) {
		snprintf(ready, sizeof(ready), "%lld/%lld",
		    ival(o, "status.readyReplicas"), ival(o, "spec.replicas"));
		json_array_append_new(cells, json_string(ready));
		if (res == KF_R_DEPLOYMENTS) {
			json_array_append_new(cells,
			    json_integer(ival(o, "status.updatedReplicas")));
			json_array_append_new(cells,
			    json_integer(ival(o, "status.availableReplicas")));
		}
		json_array_append_new(
		    cells, age(o, "metadata.creationTimestamp"));
		json_array_append_new(cells, containers(o, "name"));
		json_array_append_new(cells, containers(o, "image"));
		if (res == KF_R_DEPLOYMENTS) {
			json_array_append_new(cells,
			    format_labels(
			        kf_jget(o, "spec.selector.matchLabels")));
		}
		return cells;
	}
	static const char *ds[] = {"status.desiredNumberScheduled",
	    "status.currentNumberScheduled", "status.numberReady",
	    "status.updatedNumberScheduled", "status.numberAvailable", NULL};
	for (int i = 0; ds[i]; i++) {
		json_array_append_new(cells, json_integer(ival(o, ds[i])));
	}
	json_array_append_new(cells,
	    format_labels(kf_jget(o, "spec.template.spec.nodeSelector")));
	json_array_append_new(cells, age(o, "metadata.creationTimestamp"));
	json_array_append_new(cells, containers(o, "name"));
	json_array_append_new(cells, containers(o, "image"));
	json_array_append_new(
	    cells, format_labels(kf_jget(o, "spec.selector.matchLabels")));
	return cells;
}

static json_t *
row_cells(int res, json_t *o)
{
	switch (res) {
	case KF_R_SERVICES:
		return svc_cells(o);
	case KF_R_NAMESPACES: {
		const char *ph = kf_jstr(o, "status.phase");
		return json_pack("[s,s,o]", kf_jstr(o, "metadata.name"),
		    ph ? ph : "", age(o, "metadata.creationTimestamp"));
	}
	case KF_R_EVENTS: {
		char        obj[300];
		const char *k = kf_jstr(o, "involvedObject.kind");
		const char *n = kf_jstr(o, "involvedObject.name");
		snprintf(obj, sizeof(obj), "%s/%s", k ? k : "", n ? n : "");
		for (char *p = obj; *p && *p != '/'; p++) {
			if (*p >= 'A' && *p <= 'Z') {
				*p = (char) (*p - 'A' + 'a');
			}
		}
		const char *t = kf_jstr(o, "type");
		const char *r = kf_jstr(o, "reason");
		const char *m = kf_jstr(o, "message");
		return json_pack("[o,s,s,s,s]", age(o, "lastTimestamp"),
		    t ? t : "", r ? r : "", obj, m ? m : "");
	}
	default:
		return workload_cells(res, o);
	}
}

json_t *
kf_table_new(int res, kf_obj *const *objs, size_t n, const char *rv,
    const char *cont, bool with_columns)
{
	json_t *t = json_object();
	json_object_set_new(t, "kind", json_string("Table"));
	json_object_set_new(t, "apiVersion", json_string("meta.k8s.io/v1"));
	json_t *meta = json_object();
	json_object_set_new(
	    meta, "resourceVersion", json_string(rv ? rv : ""));
	if (cont) {
		json_object_set_new(meta, "continue", json_string(cont));
	}
	json_object_set_new(t, "metadata", meta);
	json_t *cols = json_array();
	if (with_columns) {
		for (const col *c = cols_for(res); c->c_name; c++) {
			json_t *cd = json_object();
			json_object_set_new(
			    cd, "name", json_string(c->c_name));
			json_object_set_new(
			    cd, "type", json_string(c->c_type));
			json_object_set_new(
			    cd, "format", json_string(c->c_format));
			json_object_set_new(
			    cd, "description", json_string(""));
			json_object_set_new(
			    cd, "priority", json_integer(c->c_priority));
			json_array_append_new(cols, cd);
		}
	}
	json_object_set_new(t, "columnDefinitions", cols);
	json_t *rows = json_array();
	for (size_t i = 0; i < n; i++) {
		json_t *o   = objs[i]->o_json;
		json_t *row = json_object();
		json_object_set_new(row, "cells", row_cells(res, o));
		json_t *pm = json_object();
		json_object_set_new(
		    pm, "kind", json_string("PartialObjectMetadata"));
		json_object_set_new(
		    pm, "apiVersion", json_string("meta.k8s.io/v1"));
		json_t *md = json_deep_copy(kf_jget(o, "metadata"));
		json_object_del(md, "managedFields");
		json_object_set_new(pm, "metadata", md ? md : json_object());
		json_object_set_new(row, "object", pm);
		json_array_append_new(rows, row);
	}
	json_object_set_new(t, "rows", rows);
	return t;
}
