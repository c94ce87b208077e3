// gw_api_test: the JSON gateway's semantics with curl — Services through
// their whole life (JSON and YAML bodies, resourceVersion preconditions,
// label selectors, pages, server-side apply, dry run, delete), watches,
// the audit log of gateway writes, identity (whoami, rules review, tokens,
// role bindings), cluster registration, HTTPS, and the console's files.
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "gw_util.h"

#define DEV GW_API "/clusters/east/namespaces/dev/services"

static ct_env env;

static const char *
admin(void)
{
	return (env.ce_srv.ts_token);
}

static const char *
str_at(const json_t *j, const char *path)
{
	// "a.b.c" through objects.
	char        key[128];
	const char *p = path;
	while (j != NULL) {
		const char *dot = strchr(p, '.');
		size_t      n   = dot != NULL ? (size_t) (dot - p) : strlen(p);
		snprintf(key, sizeof(key), "%.*s", (int) n, p);
		j = json_object_get(j, key);
		if (dot == NULL) {
			break;
		}
		p = dot + 1;
	}
	return (json_string_value(j));
}

// Sends and checks the HTTP status; returns the answer (fini it).
static gw_resp
must(int code, const char *method, const char *path, const char *token,
    const char *ctype, const char *body, const char *extra)
{
	gw_resp r;
	gw_req(&r, &env, method, path, token, ctype, body, extra);
	if (r.gr_code != code) {
		fail_msg("%s %s: want %d, got %d\n%s", method, path, code,
		    r.gr_code, r.gr_body);
	}
	return (r);
}

static const char *
svc_json(char *buf, size_t cap, const char *name, const char *labels,
    const char *rv)
{
	snprintf(buf, cap,
	    "{\"apiVersion\":\"v1\",\"kind\":\"Service\",\"metadata\":{"
	    "\"name\":\"%s\",\"labels\":{%s}%s%s%s},\"spec\":{\"selector\":"
	    "{\"app\":\"web\"},\"ports\":[{\"port\":80}]}}",
	    name, labels, rv ? ",\"resourceVersion\":\"" : "", rv ? rv : "",
	    rv ? "\"" : "");
	return (buf);
}

static int
setup(void **state)
{
	(void) state;
	ct_start(&env, NULL);
	ct_add_cluster(&env, "east");
	return (0);
}

static int
teardown(void **state)
{
	(void) state;
	ct_stop(&env);
	return (0);
}

static void
test_service_life(void **state)
{
	char    b[1024], rv[32], path[256];
	gw_resp r;
	(void) state;

	r = must(201, "POST", DEV, admin(), "application/json",
	    svc_json(b, sizeof(b), "alpha", "\"tier\":\"front\"", NULL), NULL);
	snprintf(rv, sizeof(rv), "%s",
	    str_at(r.gr_json, "metadata.resourceVersion"));
	assert_string_equal(str_at(r.gr_json, "metadata.namespace"), "dev");
	assert_non_null(str_at(r.gr_json, "metadata.uid"));
	assert_string_equal(str_at(r.gr_json, "status.createdBy"), "admin");
	gw_resp_fini(&r);
	r = must(201, "POST", DEV, admin(), "application/json",
	    svc_json(b, sizeof(b), "bravo", "\"tier\":\"back\"", NULL), NULL);
	gw_resp_fini(&r);

	// GET, as JSON and as YAML.
	r = must(200, "GET", DEV "/alpha", admin(), NULL, NULL, NULL);
	assert_string_equal(str_at(r.gr_json, "metadata.resourceVersion"), rv);
	assert_string_equal(str_at(r.gr_json, "spec.type"), "ClusterIP");
	gw_resp_fini(&r);
	r = must(200, "GET", DEV "/alpha", admin(), NULL, NULL,
	    "-H 'Accept: application/yaml'");
	assert_non_null(strstr(r.gr_body, "kind: Service\n"));
	assert_non_null(strstr(gw_header(&r, "Content-Type"), "yaml"));
	gw_resp_fini(&r);

	// Lists: a label selector; pages of one with continue.
	r = must(200, "GET", DEV "?labelSelector=tier%3Dback", admin(), NULL,
	    NULL, NULL);
	assert_int_equal(
	    json_array_size(json_object_get(r.gr_json, "items")), 1);
	assert_string_equal(
	    str_at(json_array_get(json_object_get(r.gr_json, "items"), 0),
	        "metadata.name"),
	    "bravo");
	gw_resp_fini(&r);
	r = must(200, "GET", DEV "?limit=1", admin(), NULL, NULL, NULL);
	assert_int_equal(
	    json_array_size(json_object_get(r.gr_json, "items")), 1);
	const char *cont = str_at(r.gr_json, "metadata.continue");
	assert_non_null(cont);
	snprintf(path, sizeof(path), DEV "?limit=1&continue=%s", cont);
	gw_resp_fini(&r);
	r = must(200, "GET", path, admin(), NULL, NULL, NULL);
	assert_string_equal(
	    str_at(json_array_get(json_object_get(r.gr_json, "items"), 0),
	        "metadata.name"),
	    "bravo");
	gw_resp_fini(&r);
	// Across namespaces of the cluster, and across clusters.
	r = must(200, "GET", GW_API "/clusters/east/services", admin(), NULL,
	    NULL, NULL);
	assert_int_equal(
	    json_array_size(json_object_get(r.gr_json, "items")), 2);
	gw_resp_fini(&r);
	r = must(200, "GET", GW_API "/services", admin(), NULL, NULL, NULL);
	assert_int_equal(
	    json_array_size(json_object_get(r.gr_json, "items")), 2);
	gw_resp_fini(&r);

	// PUT with the current resourceVersion: 200 and a new version; the
	// old version again: 409.
	r = must(200, "PUT", DEV "/alpha", admin(), "application/json",
	    svc_json(b, sizeof(b), "alpha", "\"tier\":\"edge\"", rv), NULL);
	assert_string_not_equal(
	    str_at(r.gr_json, "metadata.resourceVersion"), rv);
	assert_string_equal(str_at(r.gr_json, "metadata.labels.tier"), "edge");
	gw_resp_fini(&r);
	r = must(409, "PUT", DEV "/alpha", admin(), "application/json",
	    svc_json(b, sizeof(b), "alpha", "\"tier\":\"x\"", rv), NULL);
	gw_resp_fini(&r);
	// Without one: updates whatever is stored, as kubectl replace.
	r = must(200, "PUT", DEV "/alpha", admin(), "application/json",
	    svc_json(b, sizeof(b), "alpha", "\"tier\":\"edge2\"", NULL), NULL);
	gw_resp_fini(&r);

	// YAML body: each violation says its line.
	const char *yaml = "apiVersion: v1\n"
	                   "kind: Service\n"
	                   "metadata:\n"
	                   "  name: charlie\n"
	                   "spec:\n"
	                   "  selector:\n"
	                   "    app: web\n"
	                   "  ports:\n"
	                   "  - port: 80\n"
	                   "    nodePort: 30001\n";
	r = must(422, "POST", DEV, admin(), "application/yaml", yaml, NULL);
	json_t *c0 = json_array_get(
	    json_object_get(json_object_get(r.gr_json, "details"), "causes"),
	    0);
	assert_string_equal(str_at(c0, "field"), "spec.ports[0].nodePort");
	assert_int_equal(json_integer_value(json_object_get(c0, "line")), 10);
	gw_resp_fini(&r);
	// A YAML syntax error: 400 naming the line.
	r = must(400, "POST", DEV, admin(), "application/yaml",
	    "metadata:\n  name: [x\n", NULL);
	assert_non_null(strstr(str_at(r.gr_json, "message"), "line"));
	gw_resp_fini(&r);

	// Dry run: answered as a create, nothing stored.
	r = must(201, "POST", DEV "?dryRun=All", admin(), "application/json",
	    svc_json(b, sizeof(b), "delta", "", NULL), NULL);
	gw_resp_fini(&r);
	r = must(404, "GET", DEV "/delta", admin(), NULL, NULL, NULL);
	gw_resp_fini(&r);
	r = must(400, "POST", DEV "?dryRun=Some", admin(), "application/json",
	    svc_json(b, sizeof(b), "delta", "", NULL), NULL);
	gw_resp_fini(&r);

	// Server-side apply: creates, then updates, then changes nothing.
	const char *apply = "apiVersion: v1\nkind: Service\nmetadata:\n"
	                    "  name: echo\nspec:\n  selector:\n    app: web\n"
	                    "  ports:\n  - port: 80\n";
	r                 = must(201, "PATCH", DEV "/echo", admin(),
	                    "application/apply-patch+yaml", apply, NULL);
	gw_resp_fini(&r);
	r = must(200, "PATCH", DEV "/echo", admin(),
	    "application/apply-patch+yaml", apply, NULL);
	gw_resp_fini(&r);

	// DELETE: a stale precondition is refused, then it goes.
	r = must(409, "DELETE", DEV "/bravo?resourceVersion=1", admin(), NULL,
	    NULL, NULL);
	gw_resp_fini(&r);
	r = must(200, "DELETE", DEV "/bravo", admin(), "application/json",
	    "{\"kind\":\"DeleteOptions\",\"apiVersion\":\"v1\"}", NULL);
	assert_string_equal(str_at(r.gr_json, "metadata.name"), "bravo");
	gw_resp_fini(&r);
	r = must(404, "GET", DEV "/bravo", admin(), NULL, NULL, NULL);
	gw_resp_fini(&r);
}

static void
test_watch(void **state)
{
	char    b[1024], path[256];
	gw_resp r;
	(void) state;

	// Without a resourceVersion: the current objects, then a bookmark.
	r = must(200, "GET", DEV "?watch=true&timeoutSeconds=1", admin(), NULL,
	    NULL, NULL);
	assert_non_null(strstr(r.gr_body, "{\"type\":\"ADDED\""));
	assert_non_null(strstr(r.gr_body, "{\"type\":\"BOOKMARK\""));
	gw_resp_fini(&r);

	r = must(200, "GET", DEV, admin(), NULL, NULL, NULL);
	snprintf(path, sizeof(path),
	    "%s" DEV "?watch=1&timeoutSeconds=10&resourceVersion=%s",
	    env.ce_srv.ts_http, str_at(r.gr_json, "metadata.resourceVersion"));
	gw_resp_fini(&r);
	// A long poll that a create ends early. (Its own process, with no
	// pipe of th_run's to keep open.)
	char file[400], auth[300];
	snprintf(file, sizeof(file), "%s/watch.out", env.ce_srv.ts_dir);
	snprintf(auth, sizeof(auth), "Authorization: Bearer %s", admin());
	pid_t pid = fork();
	if (pid == 0) {
		int fd = open(file, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		int dn = open("/dev/null", O_RDWR);
		dup2(fd, 1);
		dup2(dn, 0);
		dup2(dn, 2);
		execlp("curl", "curl", "-s", "-H", auth, path, (char *) NULL);
		_exit(127);
	}
	assert_true(pid > 0);
	usleep(300 * 1000);
	r = must(201, "POST", DEV, admin(), "application/json",
	    svc_json(b, sizeof(b), "foxtrot", "", NULL), NULL);
	gw_resp_fini(&r);
	char *w = NULL;
	for (int i = 0; i < 50; i++) {
		free(w);
		w = th_read_file(file, NULL);
		if (w != NULL && strstr(w, "BOOKMARK") != NULL) {
			break;
		}
		usleep(100 * 1000);
	}
	assert_non_null(w);
	if (strstr(w, "\"type\":\"ADDED\"") == NULL) {
		char *log = th_read_file(env.ce_srv.ts_log, NULL);
		fprintf(stderr, "%s\n", log);
		fail_msg("watch answered:\n%s", w);
	}
	assert_non_null(strstr(w, "\"name\":\"foxtrot\""));
	assert_non_null(strstr(w, "\"type\":\"BOOKMARK\""));
	free(w);
	// The answer ended the request.
	assert_int_equal(waitpid(pid, NULL, 0), pid);

	// A revision the server no longer has: an ERROR event with 410.
	r = must(200, "GET",
	    DEV "?watch=1&timeoutSeconds=1&resourceVersion=999999", admin(),
	    NULL, NULL, NULL);
	assert_non_null(strstr(r.gr_body, "\"type\":\"ERROR\""));
	assert_non_null(strstr(r.gr_body, "\"code\":410"));
	gw_resp_fini(&r);
}

static void
test_identity_and_audit(void **state)
{
	char    b[1024], path[256];
	gw_resp r;
	(void) state;

	char *viewer = gw_token(&env, "vera", "ns-view", "east", "dev");
	r = must(200, "GET", GW_API "/whoami", viewer, NULL, NULL, NULL);
	assert_string_equal(
	    str_at(r.gr_json, "status.userInfo.username"), "vera");
	json_t *bs = json_object_get(
	    json_object_get(r.gr_json, "status"), "bindings");
	assert_int_equal(json_array_size(bs), 1);
	assert_string_equal(str_at(json_array_get(bs, 0), "role"), "ns-view");
	gw_resp_fini(&r);

	// The rules review: ns-view reads dev, writes nothing, sees nothing
	// of prod.
	r = must(201, "POST", GW_API "/selfsubjectrulesreviews", viewer,
	    "application/json",
	    "{\"spec\":{\"cluster\":\"east\",\"namespace\":\"dev\","
	    "\"namespaces\":[\"dev\",\"prod\"]}}",
	    NULL);
	char *rules
	    = json_dumps(json_object_get(r.gr_json, "status"), JSON_COMPACT);
	assert_non_null(strstr(rules,
	    "{\"verbs\":[\"get\",\"list\",\"watch\"],\"resources\":["
	    "\"services\"]}"));
	assert_null(strstr(rules, "\"create\""));
	free(rules);
	// Of prod only what is cluster-wide (its clusters, namespaces and
	// pools), no Services.
	rules = json_dumps(
	    json_object_get(
	        json_object_get(
	            json_object_get(r.gr_json, "status"), "namespaces"),
	        "prod"),
	    JSON_COMPACT);
	assert_non_null(rules);
	assert_null(strstr(rules, "services"));
	free(rules);
	gw_resp_fini(&r);

	// Writes through the gateway are audited with the caller and the
	// request id it sent.
	r = must(201, "POST", DEV, admin(), "application/json",
	    svc_json(b, sizeof(b), "golf", "", NULL),
	    "-H 'X-Request-Id: gw-audit-1'");
	assert_string_equal(gw_header(&r, "X-Request-Id"), "gw-audit-1");
	gw_resp_fini(&r);
	r = must(403, "POST", DEV, viewer, "application/json",
	    svc_json(b, sizeof(b), "hotel", "", NULL), NULL);
	gw_resp_fini(&r);
	snprintf(path, sizeof(path),
	    GW_API "/audit?cluster=east&namespace=dev&name=golf&limit=5");
	r          = must(200, "GET", path, admin(), NULL, NULL, NULL);
	json_t *ev = json_array_get(json_object_get(r.gr_json, "items"), 0);
	assert_string_equal(str_at(ev, "verb"), "CreateService");
	assert_string_equal(str_at(ev, "user.username"), "admin");
	assert_string_equal(str_at(ev, "requestID"), "gw-audit-1");
	assert_string_equal(str_at(ev, "responseStatus.status"), "OK");
	gw_resp_fini(&r);
	r = must(
	    200, "GET", GW_API "/audit?name=hotel", admin(), NULL, NULL, NULL);
	ev = json_array_get(json_object_get(r.gr_json, "items"), 0);
	assert_string_equal(str_at(ev, "user.username"), "vera");
	assert_string_equal(
	    str_at(ev, "responseStatus.status"), "PERMISSION_DENIED");
	gw_resp_fini(&r);
	r = must(400, "GET", GW_API "/audit?since=yesterdayish", admin(), NULL,
	    NULL, NULL);
	gw_resp_fini(&r);

	// Tokens: made through the gateway, shown once, revoked.
	r = must(201, "POST", GW_API "/tokens", admin(), "application/json",
	    "{\"user\":\"tom\",\"groups\":[\"ops\"],\"ttl\":\"1h\"}", NULL);
	char secret[256], id[64];
	snprintf(secret, sizeof(secret), "%s", str_at(r.gr_json, "secret"));
	snprintf(id, sizeof(id), "%s", str_at(r.gr_json, "metadata.name"));
	assert_non_null(str_at(r.gr_json, "expirationTimestamp"));
	gw_resp_fini(&r);
	r = must(200, "GET", GW_API "/whoami", secret, NULL, NULL, NULL);
	assert_string_equal(
	    str_at(r.gr_json, "status.userInfo.username"), "tom");
	gw_resp_fini(&r);
	snprintf(path, sizeof(path), GW_API "/tokens/%s", id);
	r = must(200, "DELETE", path, admin(), NULL, NULL, NULL);
	gw_resp_fini(&r);
	r = must(401, "GET", GW_API "/whoami", secret, NULL, NULL, NULL);
	gw_resp_fini(&r);

	// Role bindings: granted to a group, listed, revoked.
	r = must(201, "POST", GW_API "/rolebindings", admin(),
	    "application/json",
	    "{\"role\":\"ns-edit\",\"subject\":{\"kind\":\"Group\",\"name\":"
	    "\"devs\"},\"cluster\":\"east\",\"namespace\":\"dev\"}",
	    NULL);
	snprintf(id, sizeof(id), "%s", str_at(r.gr_json, "metadata.name"));
	assert_string_equal(str_at(r.gr_json, "subject.kind"), "Group");
	gw_resp_fini(&r);
	r = must(200, "GET", GW_API "/rolebindings?cluster=east", admin(),
	    NULL, NULL, NULL);
	assert_non_null(strstr(r.gr_body, "\"devs\""));
	gw_resp_fini(&r);
	snprintf(path, sizeof(path), GW_API "/rolebindings/%s", id);
	r = must(200, "DELETE", path, admin(), NULL, NULL, NULL);
	gw_resp_fini(&r);
	// ns-view may not grant.
	r = must(403, "POST", GW_API "/rolebindings", viewer,
	    "application/json",
	    "{\"role\":\"ns-edit\",\"subject\":{\"kind\":\"User\",\"name\":"
	    "\"x\"},\"cluster\":\"east\",\"namespace\":\"dev\"}",
	    NULL);
	gw_resp_fini(&r);
	free(viewer);
}

static void
test_clusters(void **state)
{
	char    body[8192], *ca_b64 = NULL;
	gw_resp r;
	(void) state;

	r = must(200, "GET", GW_API "/clusters", admin(), NULL, NULL, NULL);
	json_t *east = json_array_get(json_object_get(r.gr_json, "items"), 0);
	assert_string_equal(str_at(east, "metadata.name"), "east");
	assert_string_equal(str_at(east, "spec.nodePortRange"), "30000-32767");
	assert_non_null(str_at(east, "status.health"));
	gw_resp_fini(&r);

	assert_int_equal(
	    th_runf(&ca_b64, NULL, "base64 -w0 %s", env.ce_ca), 0);
	snprintf(body, sizeof(body),
	    "{\"metadata\":{\"name\":\"west\",\"labels\":{\"region\":\"w\"}},"
	    "\"spec\":{\"apiServer\":\"https://"
	    "127.0.0.1:1\",\"caData\":\"%s\","
	    "\"token\":\"t0k3n\",\"nodePortRange\":\"31000-31999\"}}",
	    ca_b64);
	free(ca_b64);
	r = must(201, "POST", GW_API "/clusters", admin(), "application/json",
	    body, NULL);
	assert_string_equal(
	    str_at(r.gr_json, "spec.nodePortRange"), "31000-31999");
	assert_string_equal(str_at(r.gr_json, "metadata.labels.region"), "w");
	gw_resp_fini(&r);
	r = must(422, "POST", GW_API "/clusters", admin(), "application/json",
	    "{\"metadata\":{\"name\":\"north\"},\"spec\":{\"apiServer\":"
	    "\"https://x:1\",\"caData\":\"%%%\",\"nodePortRange\":\"9-\"}}",
	    NULL);
	assert_non_null(strstr(r.gr_body, "\"field\":\"spec.caData\""));
	assert_non_null(strstr(r.gr_body, "\"field\":\"spec.nodePortRange\""));
	gw_resp_fini(&r);
	// Update: the resourceVersion must match; credentials left out stay.
	r = must(
	    200, "GET", GW_API "/clusters/west", admin(), NULL, NULL, NULL);
	char rv[32];
	snprintf(rv, sizeof(rv), "%s",
	    str_at(r.gr_json, "metadata.resourceVersion"));
	gw_resp_fini(&r);
	snprintf(body, sizeof(body),
	    "{\"metadata\":{\"resourceVersion\":\"%s\"},\"spec\":{"
	    "\"apiServer\":\"https://127.0.0.1:2\",\"nodePortRange\":"
	    "\"32000-32100\"}}",
	    rv);
	r = must(200, "PUT", GW_API "/clusters/west", admin(),
	    "application/json", body, NULL);
	assert_string_equal(
	    str_at(r.gr_json, "spec.nodePortRange"), "32000-32100");
	assert_true(json_is_true(json_object_get(
	    json_object_get(r.gr_json, "spec"), "hasCredentials")));
	gw_resp_fini(&r);
	r = must(409, "PUT", GW_API "/clusters/west", admin(),
	    "application/json", body, NULL);
	gw_resp_fini(&r);
	// Version needs no token.
	r = must(200, "GET", GW_API "/version", NULL, NULL, NULL, NULL);
	assert_string_equal(str_at(r.gr_json, "api"), "svcfleet.v1");
	gw_resp_fini(&r);
	// Live reads from a cluster nobody can reach: 503 with its words.
	r = must(503, "GET", GW_API "/clusters/west/namespaces", admin(), NULL,
	    NULL, NULL);
	assert_non_null(strstr(str_at(r.gr_json, "message"), "west"));
	gw_resp_fini(&r);
	r = must(
	    200, "DELETE", GW_API "/clusters/west", admin(), NULL, NULL, NULL);
	gw_resp_fini(&r);
	r = must(
	    404, "GET", GW_API "/clusters/west", admin(), NULL, NULL, NULL);
	gw_resp_fini(&r);
}

static void
test_console_files(void **state)
{
	gw_resp r;
	(void) state;
	r = must(200, "GET", "/", NULL, NULL, NULL, NULL);
	assert_non_null(
	    strstr(r.gr_body, "<script type=\"module\" src=\"/ui/app.js\">"));
	assert_non_null(strstr(gw_header(&r, "Content-Type"), "text/html"));
	assert_non_null(strstr(
	    gw_header(&r, "Content-Security-Policy"), "default-src 'self'"));
	gw_resp_fini(&r);
	r = must(200, "GET", "/ui/app.js", NULL, NULL, NULL, NULL);
	assert_non_null(
	    strstr(gw_header(&r, "Content-Type"), "text/javascript"));
	gw_resp_fini(&r);
	r = must(404, "GET", "/ui/nothing.js", NULL, NULL, NULL, NULL);
	gw_resp_fini(&r);
}

static void
test_https(void **state)
{
	char    dir[256], cert[300], key[300], f0[400], f1[400], extra[400];
	ct_env  tls;
	gw_resp r;
	const char *flags[] = {f0, f1, NULL};
	(void) state;

	if (th_runf(NULL, NULL, "command -v openssl >/dev/null") != 0) {
		skip();
	}
	th_tmpdir(dir, sizeof(dir), "gw-tls");
	snprintf(cert, sizeof(cert), "%s/cert.pem", dir);
	snprintf(key, sizeof(key), "%s/key.pem", dir);
	assert_int_equal(th_runf(NULL, NULL,
	                     "openssl req -x509 -newkey ec -pkeyopt "
	                     "ec_paramgen_curve:P-256 -nodes -days 1 "
	                     "-subj /CN=127.0.0.1 -addext "
	                     "subjectAltName=IP:127.0.0.1 -keyout %s -out %s "
	                     ">/dev/null 2>&1",
	                     key, cert),
	    0);
	snprintf(f0, sizeof(f0), "--tls-cert=%s", cert);
	snprintf(f1, sizeof(f1), "--tls-key=%s", key);
	ct_start(&tls, flags);
	assert_int_equal(strncmp(tls.ce_srv.ts_http, "https://", 8), 0);
	snprintf(extra, sizeof(extra), "--cacert %s", cert);
	gw_req(&r, &tls, "GET", GW_API "/whoami", tls.ce_srv.ts_token, NULL,
	    NULL, extra);
	assert_int_equal(r.gr_code, 200);
	assert_string_equal(
	    str_at(r.gr_json, "status.userInfo.username"), "admin");
	gw_resp_fini(&r);
	// Not trusting the certificate: no answer at all.
	gw_req(&r, &tls, "GET", GW_API "/whoami", tls.ce_srv.ts_token, NULL,
	    NULL, NULL);
	assert_int_equal(r.gr_code, 0);
	gw_resp_fini(&r);
	ct_stop(&tls);
	th_runf(NULL, NULL, "rm -rf %s", dir);
}

// console: a Service's drift events (GET .../services/NAME/drift) — a
// list (empty while nothing drifted), its limit checked before any work.
static void
test_drift_route(void **state)
{
	gw_resp r;
	(void) state;

	r = must(
	    200, "GET", DEV "/web-drift/drift", admin(), NULL, NULL, NULL);
	assert_string_equal(str_at(r.gr_json, "kind"), "DriftEventList");
	assert_int_equal(
	    json_array_size(json_object_get(r.gr_json, "items")), 0);
	gw_resp_fini(&r);
	r = must(400, "GET", DEV "/web-drift/drift?limit=abc", admin(), NULL,
	    NULL, NULL);
	assert_non_null(strstr(r.gr_body, "limit"));
	gw_resp_fini(&r);
	r = must(405, "POST", DEV "/web-drift/drift", admin(),
	    "application/json", "{}", NULL);
	gw_resp_fini(&r);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_service_life),
	    cmocka_unit_test(test_watch),
	    cmocka_unit_test(test_identity_and_audit),
	    cmocka_unit_test(test_clusters),
	    cmocka_unit_test(test_console_files),
	    cmocka_unit_test(test_https),
	    cmocka_unit_test(test_drift_route),
	};
	return (cmocka_run_group_tests(tests, setup, teardown));
}
