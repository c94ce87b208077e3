// gw_preview_test.c: the gateway's server-side preview (i19-diff) over
// HTTP with curl, against svcfleetd and two kubefake clusters, one of
// which has an admission webhook that refuses NodePort Services:
//   * POST .../services/{name}/preview: per cluster, the object the
//     cluster holds, its API server's dry run and the fields that differ
//     (a node port only the cluster allocates), or its refusal with the
//     webhook's words and code; unchanged, and a new Service;
//   * POST .../fleetservices/{name}/preview: each placed cluster's answer,
//     one refused while the other is previewed;
//   * svcfleetd's own refusals (422 with causes, 403), token before body
//     (401 before a 2 MiB body is read; 413 with a token), 405, a bad
//     dryRun; and nothing is written to any cluster or to the store;
//   * (i18-console) whose the cluster's object is ("liveOwner": svcfleet's,
//     or "none" for a Service made in the cluster directly), and a
//     FleetService conflict: a status write since the version an apply
//     started from is none; another user's change is, named with its time.
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "recon_util.h"

#define SYNCED SVCFLEET__V1__SYNC_STATE__SYNC_STATE_SYNCED
#define API    "/apis/svcfleet.io/v1"

static char *
write_file(rt_env *e, const char *name, const char *text)
{
	static char path[600];
	snprintf(path, sizeof(path), "%s/%s", e->re_srv.ts_dir, name);
	assert_int_equal(th_write_file(path, text), 0);
	return (path);
}

// One request with curl: the body from file (NULL: none), token (NULL:
// none). Returns the HTTP code; *out gets the answer as JSON (NULL when
// it is not), and *raw (may be NULL) the head and body.
static int
http(rt_env *e, const char *method, const char *path, const char *token,
    const char *file, json_t **out, char **raw)
{
	char  auth[200] = "", data[700] = "";
	char *text = NULL, *body;
	int   code = 0;

	if (token != NULL) {
		snprintf(auth, sizeof(auth), "-H 'Authorization: Bearer %s' ",
		    token);
	}
	if (file != NULL) {
		snprintf(data, sizeof(data),
		    "-H 'Content-Type: application/yaml' --data-binary @%s ",
		    file);
	}
	assert_int_equal(th_runf(&text, NULL, "curl -s -i -X %s %s%s'%s%s%s'",
	                     method, auth, data, e->re_srv.ts_http, API, path),
	    0);
	// Past a "100 Continue" (curl asks for one before a large body).
	char *head = text;
	while (strncmp(head, "HTTP/1.1 100", 12) == 0
	    && (body = strstr(head, "\r\n\r\n")) != NULL) {
		head = body + 4;
	}
	sscanf(head, "HTTP/%*s %d", &code);
	body = strstr(head, "\r\n\r\n");
	*out = body != NULL ? json_loads(body + 4, 0, NULL) : NULL;
	if (raw != NULL) {
		*raw = text;
	} else {
		free(text);
	}
	return (code);
}

static json_t *
at(json_t *o, const char *a, const char *b)
{
	json_t *v = json_object_get(o, a);
	return (b != NULL ? json_object_get(v, b) : v);
}

static const char *
str(json_t *o, const char *a, const char *b)
{
	return (json_string_value(at(o, a, b)));
}

// The one change at path in a cluster's answer, or NULL.
static json_t *
change(json_t *cl, const char *path)
{
	size_t  i;
	json_t *c;
	json_array_foreach(json_object_get(cl, "changes"), i, c)
	{
		if (strcmp(json_string_value(json_object_get(c, "path")), path)
		    == 0) {
			return (c);
		}
	}
	return (NULL);
}

static void
dump_fail(json_t *o, const char *what)
{
	char *s = o != NULL ? json_dumps(o, JSON_INDENT(1)) : NULL;
	fail_msg("%s:\n%s", what, s != NULL ? s : "(not JSON)");
}

#define WEB(name, type)                                    \
	"apiVersion: v1\n"                                 \
	"kind: Service\n"                                  \
	"metadata: {name: " name ", namespace: default}\n" \
	"spec:\n"                                          \
	"  type: " type "\n"                               \
	"  selector: {app: web}\n"                         \
	"  ports: [{name: http, port: 80, targetPort: 8080}]\n"

static void
test_preview(void **state)
{
	rt_env                 e;
	json_t                *o, *cl, *c;
	char                  *raw, *tok;
	uint64_t               rv[2];
	long long              krv[2];
	const char            *names[2] = {"east", "west"};
	Svcfleet__V1__Service *s;
	int                    code;
	(void) state;

	rt_start(&e, true);
	rt_cluster(&e, 0, "east", NULL);
	rt_cluster(&e, 1, "west", NULL);
	for (int i = 0; i < 2; i++) {
		free(rt_cli(&e, NULL, "apply --cluster %s -f %s", names[i],
		    write_file(&e, "web.yaml", WEB("webapp", "ClusterIP"))));
		s = rt_wait(&e, names[i], "default", "webapp", SYNCED, 15000);
		rv[i] = s->metadata->resource_version;
		svcfleet_free(s);
		free(rt_kubectl(&e, i, NULL, "create namespace dev"));
	}
	// i18-console: a Service made in west directly, svcfleet's nothing.
	free(rt_kubectl(
	    &e, 1, NULL, "create service clusterip unowned --tcp=80:8080"));
	// east's admission webhook refuses NodePort Services (dry runs only,
	// so that a write would get through and show below).
	assert_int_equal(kft_faults(&e.re_kf[0],
	                     "{\"admission_deny\":\"NodePort Services are "
	                     "not allowed\",\"admission_status\":403,"
	                     "\"admission_webhook\":\"policy.example.com\","
	                     "\"admission_dry_run_only\":true}"),
	    0);
	for (int i = 0; i < 2; i++) {
		krv[i] = kft_stat(&e.re_kf[i], "resourceVersion");
	}
	char *np
	    = strdup(write_file(&e, "np.yaml", WEB("webapp", "NodePort")));

	// west: the change, with the node port only its API server picks.
	code = http(&e, "POST",
	    "/clusters/west/namespaces/default/services/webapp/preview",
	    e.re_srv.ts_token, np, &o, NULL);
	if (code != 200) {
		dump_fail(o, "preview of west's change");
	}
	assert_string_equal(str(o, "kind", NULL), "ServicePreview");
	assert_string_equal(str(o, "action", NULL), "configured");
	assert_string_equal(str(o, "metadata", "cluster"), "west");
	assert_string_equal(
	    json_string_value(json_object_get(
	        json_object_get(at(o, "service", NULL), "spec"), "type")),
	    "NodePort");
	assert_int_equal(json_array_size(at(o, "clusters", NULL)), 1);
	cl = json_array_get(at(o, "clusters", NULL), 0);
	assert_string_equal(str(cl, "cluster", NULL), "west");
	assert_string_equal(str(cl, "result", NULL), "Changed");
	assert_int_equal(json_integer_value(at(cl, "code", NULL)), 200);
	if ((c = change(cl, "spec.type")) == NULL) {
		dump_fail(cl, "no change of spec.type");
	}
	assert_string_equal(str(c, "live", NULL), "ClusterIP");
	assert_string_equal(str(c, "dryRun", NULL), "NodePort");
	if ((c = change(cl, "spec.ports[0].nodePort")) == NULL) {
		dump_fail(cl, "no node port allocated");
	}
	assert_null(at(c, "live", NULL));
	assert_in_range(
	    json_integer_value(at(c, "dryRun", NULL)), 30000, 32767);
	assert_string_equal(
	    json_string_value(json_object_get(
	        json_object_get(at(cl, "live", NULL), "spec"), "type")),
	    "ClusterIP");
	assert_null(
	    json_object_get(json_object_get(at(cl, "live", NULL), "metadata"),
	        "managedFields"));
	assert_non_null(at(cl, "dryRun", NULL));
	assert_string_equal(str(cl, "liveOwner", NULL), "svcfleet");
	json_decref(o);

	// i18-console: a name west holds, made there directly: the preview
	// says nobody's svcfleet owns it.
	code = http(&e, "POST",
	    "/clusters/west/namespaces/default/services/unowned/preview",
	    e.re_srv.ts_token,
	    write_file(&e, "unowned.json",
	        "{\"metadata\":{\"name\":\"unowned\"},\"spec\":{"
	        "\"selector\":{\"app\":\"web\"},\"ports\":[{\"port\":80}]}}"),
	    &o, NULL);
	assert_int_equal(code, 200);
	assert_string_equal(str(o, "action", NULL), "created");
	cl = json_array_get(at(o, "clusters", NULL), 0);
	assert_non_null(at(cl, "live", NULL));
	if (str(cl, "liveOwner", NULL) == NULL
	    || strcmp(str(cl, "liveOwner", NULL), "none") != 0) {
		dump_fail(cl, "liveOwner is not none");
	}
	json_decref(o);

	// east: its webhook's refusal, in its words, with its code.
	code = http(&e, "POST",
	    "/clusters/east/namespaces/default/services/webapp/preview",
	    e.re_srv.ts_token, np, &o, NULL);
	if (code != 200) {
		dump_fail(o, "preview of east's change");
	}
	cl = json_array_get(at(o, "clusters", NULL), 0);
	assert_string_equal(str(cl, "result", NULL), "Refused");
	assert_int_equal(json_integer_value(at(cl, "code", NULL)), 403);
	assert_string_equal(str(cl, "message", NULL),
	    "admission webhook \"policy.example.com\" denied the request: "
	    "NodePort Services are not allowed");
	assert_null(at(cl, "dryRun", NULL));
	assert_null(at(cl, "changes", NULL));
	assert_non_null(at(cl, "live", NULL));
	json_decref(o);
	assert_int_equal(kft_stat(&e.re_kf[0], "faults.admission"), 1);

	// The same manifest: nothing changes in west.
	code = http(&e, "POST",
	    "/clusters/west/namespaces/default/services/webapp/preview",
	    e.re_srv.ts_token,
	    write_file(&e, "same.yaml", WEB("webapp", "ClusterIP")), &o, NULL);
	assert_int_equal(code, 200);
	assert_string_equal(str(o, "action", NULL), "unchanged");
	cl = json_array_get(at(o, "clusters", NULL), 0);
	if (strcmp(str(cl, "result", NULL), "Unchanged") != 0) {
		dump_fail(cl, "not unchanged");
	}
	assert_int_equal(json_array_size(at(cl, "changes", NULL)), 0);
	json_decref(o);

	// A new Service: no live object, everything new; as JSON, with
	// ?dryRun=All (said or not, a preview is a dry run).
	code = http(&e, "POST",
	    "/clusters/west/namespaces/default/services/newapp/"
	    "preview?dryRun=All",
	    e.re_srv.ts_token,
	    write_file(&e, "new.json",
	        "{\"metadata\":{\"name\":\"newapp\"},\"spec\":{\"selector\":"
	        "{\"app\":\"new\"},\"ports\":[{\"port\":80}]}}"),
	    &o, NULL);
	assert_int_equal(code, 200);
	assert_string_equal(str(o, "action", NULL), "created");
	cl = json_array_get(at(o, "clusters", NULL), 0);
	assert_string_equal(str(cl, "result", NULL), "Changed");
	assert_int_equal(json_integer_value(at(cl, "code", NULL)), 201);
	assert_null(at(cl, "live", NULL));
	assert_non_null(change(cl, "spec"));
	// The cluster IP the API server would allocate.
	assert_non_null(json_object_get(
	    json_object_get(at(cl, "dryRun", NULL), "spec"), "clusterIP"));
	json_decref(o);

	// A FleetService on both: east refused, west previewed.
	code = http(&e, "POST",
	    "/namespaces/dev/fleetservices/fleetweb/preview",
	    e.re_srv.ts_token,
	    write_file(&e, "fleet.yaml",
	        "apiVersion: svcfleet.io/v1\n"
	        "kind: FleetService\n"
	        "metadata: {name: fleetweb, namespace: dev}\n"
	        "spec:\n"
	        "  placement: {clusters: [east, west]}\n"
	        "  template:\n"
	        "    spec:\n"
	        "      type: NodePort\n"
	        "      selector: {app: web}\n"
	        "      ports: [{name: http, port: 80}]\n"),
	    &o, NULL);
	if (code != 200) {
		dump_fail(o, "preview of the FleetService");
	}
	assert_string_equal(str(o, "kind", NULL), "FleetServicePreview");
	assert_string_equal(str(o, "action", NULL), "created");
	assert_string_equal(str(o, "fleetService", "kind"), "FleetService");
	assert_int_equal(json_array_size(at(o, "clusters", NULL)), 2);
	for (size_t i = 0; i < 2; i++) {
		cl = json_array_get(at(o, "clusters", NULL), i);
		assert_string_equal(str(cl, "action", NULL), "create");
		assert_non_null(at(cl, "service", NULL));
		if (strcmp(str(cl, "cluster", NULL), "east") == 0) {
			assert_string_equal(
			    str(cl, "result", NULL), "Refused");
			assert_int_equal(
			    json_integer_value(at(cl, "code", NULL)), 403);
			assert_non_null(strstr(str(cl, "message", NULL),
			    "denied the request: NodePort Services"));
		} else {
			assert_string_equal(str(cl, "cluster", NULL), "west");
			assert_string_equal(
			    str(cl, "result", NULL), "Changed");
			assert_int_equal(
			    json_integer_value(at(cl, "code", NULL)), 201);
			assert_non_null(change(cl, "spec"));
		}
	}
	json_decref(o);
	assert_int_equal(kft_stat(&e.re_kf[0], "faults.admission"), 2);

	// svcfleetd's own refusal: 422 with the field, no cluster asked.
	code = http(&e, "POST",
	    "/clusters/east/namespaces/default/services/webapp/preview",
	    e.re_srv.ts_token,
	    write_file(&e, "bad.yaml",
	        "metadata: {name: webapp}\n"
	        "spec: {type: NodePort, ports: [{port: 0}]}\n"),
	    &o, NULL);
	assert_int_equal(code, 422);
	assert_string_equal(str(o, "reason", NULL), "Invalid");
	assert_string_equal(
	    json_string_value(json_object_get(
	        json_array_get(at(o, "details", "causes"), 0), "field")),
	    "spec.ports[0].port");
	json_decref(o);
	assert_int_equal(kft_stat(&e.re_kf[0], "faults.admission"), 2);
	// One who may only read: 403, no cluster asked.
	tok                     = rt_cli(&e, NULL, "token create viewer");
	tok[strcspn(tok, "\n")] = '\0';
	free(rt_cli(&e, NULL,
	    "rbac grant ns-view --user viewer --cluster east -n default"));
	code = http(&e, "POST",
	    "/clusters/east/namespaces/default/services/webapp/preview", tok,
	    np, &o, NULL);
	assert_int_equal(code, 403);
	json_decref(o);
	free(tok);
	assert_int_equal(kft_stat(&e.re_kf[0], "faults.admission"), 2);
	// The token is checked before the body is read: without one, 2 MiB
	// get 401, not 413 (which is what a token holder gets).
	{
		char *big = malloc((2u << 20) + 1);
		char  path[600];
		memset(big, 'a', 2u << 20);
		big[2u << 20] = '\0';
		snprintf(path, sizeof(path), "%s/big.yaml", e.re_srv.ts_dir);
		assert_int_equal(th_write_file(path, big), 0);
		free(big);
		code = http(&e, "POST",
		    "/clusters/east/namespaces/default/services/webapp/"
		    "preview",
		    NULL, path, &o, NULL);
		assert_int_equal(code, 401);
		json_decref(o);
		code = http(&e, "POST",
		    "/clusters/east/namespaces/default/services/webapp/"
		    "preview",
		    e.re_srv.ts_token, path, &o, NULL);
		assert_int_equal(code, 413);
		json_decref(o);
	}
	// Only POST; only dryRun=All.
	code = http(&e, "GET",
	    "/clusters/east/namespaces/default/services/webapp/preview",
	    e.re_srv.ts_token, NULL, &o, &raw);
	assert_int_equal(code, 405);
	assert_non_null(strstr(raw, "Allow: POST"));
	free(raw);
	json_decref(o);
	code = http(&e, "POST",
	    "/namespaces/dev/fleetservices/fleetweb/preview?dryRun=Some",
	    e.re_srv.ts_token, np, &o, NULL);
	assert_int_equal(code, 400);
	json_decref(o);

	// Nothing was written: the clusters' resourceVersion has not moved,
	// the store holds what it held.
	for (int i = 0; i < 2; i++) {
		assert_int_equal(
		    kft_stat(&e.re_kf[i], "resourceVersion"), krv[i]);
		s = rt_get(&e, names[i], "default", "webapp");
		assert_int_equal(s->metadata->resource_version, rv[i]);
		assert_string_equal(s->spec->type, "ClusterIP");
		svcfleet_free(s);
	}
	assert_null(rt_get(&e, "west", "default", "newapp"));
	assert_null(rt_get(&e, "west", "default", "unowned"));
	assert_null(rt_get(&e, "west", "dev", "fleetweb"));
	code = http(&e, "GET", "/namespaces/dev/fleetservices/fleetweb",
	    e.re_srv.ts_token, NULL, &o, NULL);
	assert_int_equal(code, 404);
	json_decref(o);

	free(np);
	rt_stop(&e);
}

// i18-console (issue 19 item 1 for FleetServices): the placement loop's
// status writes never make an apply fail; another user's change does, and
// the conflict names them, as the stored object's status does (with when).
#define FLEET(rv, ann)                                                  \
	"apiVersion: svcfleet.io/v1\n"                                  \
	"kind: FleetService\n"                                          \
	"metadata: {name: fweb, namespace: dev, resourceVersion: \"" rv \
	"\"}\n"                                                         \
	"spec:\n"                                                       \
	"  placement: {clusterSelector: {matchLabels: {env: prod}}}\n"  \
	"  template:\n"                                                 \
	"    metadata: {annotations: {note: " ann "}}\n"                \
	"    spec: {selector: {app: web}, ports: [{port: 80}]}\n"

static void
fleet_put(rt_env *e, const char *token, const char *rv, const char *ann,
    int want, json_t **out)
{
	char text[1024];
	char name[64];
	int  code;

	snprintf(text, sizeof(text), FLEET("%s", "%s"), rv, ann);
	snprintf(name, sizeof(name), "fw-%s-%s.yaml", rv, ann);
	code = http(e, rv[0] == '0' ? "POST" : "PUT",
	    rv[0] == '0' ? "/namespaces/dev/fleetservices"
	                 : "/namespaces/dev/fleetservices/fweb",
	    token, write_file(e, name, text), out, NULL);
	if (code != want) {
		dump_fail(*out, "unexpected answer to a FleetService write");
	}
}

// Polls (with a deadline) until the stored FleetService's resourceVersion
// is no longer rv: the placement loop wrote its status.
static void
wait_moved(rt_env *e, const char *rv)
{
	for (int i = 0;; i++) {
		json_t *o = NULL;
		assert_true(i < 150); // 15 s at 100 ms, at least
		assert_int_equal(
		    http(e, "GET", "/namespaces/dev/fleetservices/fweb",
		        e->re_srv.ts_token, NULL, &o, NULL),
		    200);
		bool moved
		    = strcmp(str(o, "metadata", "resourceVersion"), rv) != 0;
		json_decref(o);
		if (moved) {
			return;
		}
		rt_sleep_ms(100);
	}
}

static void
test_fleet_conflict(void **state)
{
	rt_env      e;
	json_t     *o = NULL;
	char       *tok;
	char        rv0[32], rv1[32], rv2[32], now[32];
	const char *msg;
	(void) state;

	rt_start(&e, true);
	rt_cluster(&e, 0, "east", NULL);
	free(rt_kubectl(&e, 0, NULL, "create namespace dev"));
	free(rt_cli(&e, NULL, "cluster label east env=prod"));
	tok                     = rt_cli(&e, NULL, "token create carol");
	tok[strcspn(tok, "\n")] = '\0';
	free(rt_cli(&e, NULL,
	    "rbac grant ns-edit --user carol --cluster east -n dev"));

	fleet_put(&e, e.re_srv.ts_token, "0", "one", 201, &o);
	snprintf(
	    rv0, sizeof(rv0), "%s", str(o, "metadata", "resourceVersion"));
	assert_string_equal(str(o, "status", "specUpdatedBy"), "admin");
	json_decref(o);
	// east stops matching, then matches again: the placement loop prunes
	// its copy and places it again, writing the status each time.
	free(rt_cli(&e, NULL, "cluster label east env-"));
	wait_moved(&e, rv0);
	assert_int_equal(http(&e, "GET", "/namespaces/dev/fleetservices/fweb",
	                     e.re_srv.ts_token, NULL, &o, NULL),
	    200);
	snprintf(
	    now, sizeof(now), "%s", str(o, "metadata", "resourceVersion"));
	json_decref(o);
	free(rt_cli(&e, NULL, "cluster label east env=prod"));
	wait_moved(&e, now);
	// Based on rv0: only status changed since, so no conflict.
	fleet_put(&e, e.re_srv.ts_token, rv0, "two", 200, &o);
	snprintf(
	    rv1, sizeof(rv1), "%s", str(o, "metadata", "resourceVersion"));
	json_decref(o);
	// carol changes it; admin's apply based on rv1 now conflicts, naming
	// her.
	fleet_put(&e, tok, rv1, "carol", 200, &o);
	snprintf(
	    rv2, sizeof(rv2), "%s", str(o, "metadata", "resourceVersion"));
	assert_string_equal(str(o, "status", "specUpdatedBy"), "carol");
	assert_non_null(str(o, "status", "specUpdateTime"));
	json_decref(o);
	fleet_put(&e, e.re_srv.ts_token, rv1, "three", 409, &o);
	assert_string_equal(str(o, "reason", NULL), "Conflict");
	msg = str(o, "message", NULL);
	if (strstr(msg, "changed by carol ") == NULL
	    || strstr(msg, "saving would silently undo their change")
	        == NULL) {
		dump_fail(o, "the conflict does not name carol");
	}
	json_decref(o);
	// Based on the version carol made: saved, by admin.
	fleet_put(&e, e.re_srv.ts_token, rv2, "four", 200, &o);
	assert_string_equal(str(o, "status", "specUpdatedBy"), "admin");
	char rv3[32], path[128];
	snprintf(
	    rv3, sizeof(rv3), "%s", str(o, "metadata", "resourceVersion"));
	json_decref(o);
	// A delete follows the same rule: status writes since its version
	// do not stop it, another writer's change does, named.
	free(rt_cli(&e, NULL, "cluster label east env-"));
	wait_moved(&e, rv3);
	snprintf(path, sizeof(path),
	    "/namespaces/dev/fleetservices/fweb?resourceVersion=%s", rv2);
	assert_int_equal(http(&e, "DELETE", path, tok, NULL, &o, NULL), 409);
	msg = str(o, "message", NULL);
	if (strstr(msg, "changed by admin ") == NULL) {
		dump_fail(o, "the delete's conflict does not name admin");
	}
	json_decref(o);
	snprintf(path, sizeof(path),
	    "/namespaces/dev/fleetservices/fweb?resourceVersion=%s", rv3);
	assert_int_equal(http(&e, "DELETE", path, tok, NULL, &o, NULL), 200);
	json_decref(o);
	assert_int_equal(http(&e, "GET", "/namespaces/dev/fleetservices/fweb",
	                     e.re_srv.ts_token, NULL, &o, NULL),
	    404);
	json_decref(o);
	free(tok);
	rt_stop(&e);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_teardown(test_preview, rt_teardown),
	    cmocka_unit_test_teardown(test_fleet_conflict, rt_teardown),
	};
	return (cmocka_run_group_tests(tests, NULL, NULL));
}
