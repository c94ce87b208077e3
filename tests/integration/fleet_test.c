// fleet_test.c: FleetService end to end (issue 18) with three and four
// kubefake clusters — apply of a file mixing a Service and a
// FleetService, placement by name and by cluster labels re-evaluated on
// relabel, overrides rendered per cluster, an override breaking one
// cluster (nothing written anywhere), direct writes to an owned copy
// refused, "Same" node ports around a port taken in one cluster, the
// address plan, permissions in every placed cluster, preview, convert.
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

// Runs the CLI (token given) expecting exit code want; returns stderr.
static char *
cli_fails(rt_env *e, const char *token, int want, const char *fmt, ...)
{
	char    args[4096], *out = NULL, *err = NULL;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(args, sizeof(args), fmt, ap);
	va_end(ap);
	int rc = th_runf(&out, &err, "%s --server %s --token %s %s",
	    th_bin("client/cli/svcfleet"), e->re_srv.ts_url,
	    token != NULL ? token : e->re_srv.ts_token, args);
	if (rc != want) {
		fail_msg("`svcfleet %s` exited %d, not %d:\n%s%s", args, rc,
		    want, out, err);
	}
	free(out);
	return (err);
}

static const char *
write_file(rt_env *e, const char *name, const char *text)
{
	static char path[600];
	snprintf(path, sizeof(path), "%s/%s", e->re_srv.ts_dir, name);
	assert_int_equal(th_write_file(path, text), 0);
	return (path);
}

// Waits until the Service is (present) or is not in svcfleetd.
static void
wait_copy(
    rt_env *e, const char *cluster, const char *name, bool present, int ms)
{
	for (int t = 0;; t += 50) {
		Svcfleet__V1__Service *s    = rt_get(e, cluster, "dev", name);
		bool                   have = s != NULL;
		svcfleet_free(s);
		if (have == present) {
			return;
		}
		if (t >= ms) {
			fail_msg("copy %s in %s still %s after %d ms", name,
			    cluster, have ? "present" : "absent", ms);
		}
		rt_sleep_ms(50);
	}
}

static Svcfleet__V1__FleetService *
get_fleet(rt_env *e, const char *name)
{
	Svcfleet__V1__GetFleetServiceRequest r
	    = SVCFLEET__V1__GET_FLEET_SERVICE_REQUEST__INIT;
	Svcfleet__V1__FleetServiceKey k
	    = SVCFLEET__V1__FLEET_SERVICE_KEY__INIT;
	Svcfleet__V1__FleetService *fs = NULL;
	k.namespace_                   = "dev";
	k.name                         = (char *) name;
	r.key                          = &k;
	if (svcfleet_get_fleet_service(e->re_cli, &r, &fs, &e->re_st) != 0) {
		return (NULL);
	}
	return (fs);
}

// How many lines of svcfleetd's log contain needle.
static int
log_count(rt_env *e, const char *needle)
{
	FILE *f = fopen(e->re_srv.ts_log, "r");
	char  line[4096];
	int   n = 0;
	assert_non_null(f);
	while (fgets(line, sizeof(line), f) != NULL) {
		n += strstr(line, needle) != NULL ? 1 : 0;
	}
	fclose(f);
	return (n);
}

// i18-console: waits until cluster's entry in the FleetService's status
// has placement and a message containing msg; returns that message.
static char *
wait_placement(rt_env *e, const char *name, const char *cluster,
    const char *placement, const char *msg, int ms)
{
	for (int t = 0;; t += 50) {
		Svcfleet__V1__FleetService *fs = get_fleet(e, name);
		char                       *m  = NULL;
		for (size_t i = 0; fs != NULL && i < fs->n_status; i++) {
			if (strcmp(fs->status[i]->cluster, cluster) == 0
			    && strcmp(fs->status[i]->placement, placement) == 0
			    && strstr(fs->status[i]->message, msg) != NULL) {
				m = strdup(fs->status[i]->message);
			}
		}
		svcfleet_free(fs);
		if (m != NULL) {
			return (m);
		}
		if (t >= ms) {
			fail_msg(
			    "%s in cluster %s not %s (\"%s\") after %d ms",
			    name, cluster, placement, msg, ms);
		}
		rt_sleep_ms(50);
	}
}

static const char MIXED[]
    = "apiVersion: v1\n"
      "kind: Service\n"
      "metadata:\n"
      "  name: single\n"
      "  namespace: dev\n"
      "  annotations: {svcfleet.io/cluster: north}\n"
      "spec:\n"
      "  selector: {app: single}\n"
      "  ports: [{port: 80}]\n"
      "---\n"
      "apiVersion: svcfleet.io/v1\n"
      "kind: FleetService\n"
      "metadata: {name: webfs, namespace: dev}\n"
      "spec:\n"
      "  placement:\n"
      "    clusterSelector: {matchLabels: {env: prod}}\n"
      "  template:\n"
      "    metadata: {annotations: {team: web}}\n"
      "    spec:\n"
      "      type: NodePort\n"
      "      selector: {app: web}\n"
      "      ports: [{name: http, port: 80, targetPort: 8080}]\n"
      "  overrides:\n"
      "  - clusters: [west]\n"
      "    patch: {metadata: {annotations: {tier: edge}}}\n";

static void
test_placement_overrides_ownership(void **state)
{
	rt_env e;
	char  *out, *err;
	(void) state;

	rt_start(&e, true);
	rt_cluster(&e, 0, "east", NULL);
	rt_cluster(&e, 1, "west", NULL);
	rt_cluster(&e, 2, "north", NULL);
	for (int i = 0; i < 3; i++) {
		free(rt_kubectl(&e, i, NULL, "create namespace dev"));
	}
	free(rt_cli(&e, NULL, "cluster label east env=prod"));
	free(rt_cli(&e, NULL, "cluster label west env=prod region=eu"));
	free(rt_cli(&e, NULL, "cluster label north env=dev"));

	// One file, both kinds.
	out = rt_cli(&e, NULL, "apply -f %s", write_file(&e, "m.yaml", MIXED));
	assert_string_equal(
	    out, "service/single created\nfleetservice/webfs created\n");
	free(out);
	wait_copy(&e, "east", "webfs", true, 0);
	wait_copy(&e, "west", "webfs", true, 0);
	wait_copy(&e, "north", "webfs", false, 0);
	Svcfleet__V1__Service *w = rt_get(&e, "west", "dev", "webfs");
	assert_string_equal(w->metadata->owner, "FleetService/webfs");
	bool edge = false;
	for (size_t i = 0; i < w->metadata->n_annotations; i++) {
		edge = edge
		    || (strcmp(w->metadata->annotations[i]->key, "tier") == 0
		        && strcmp(w->metadata->annotations[i]->value, "edge")
		            == 0);
	}
	assert_true(edge);
	svcfleet_free(w);
	svcfleet_free(rt_wait(&e, "east", "dev", "webfs", SYNCED, 15000));
	svcfleet_free(rt_wait(&e, "west", "dev", "webfs", SYNCED, 15000));
	json_t *k = rt_kget(&e, 1, "dev", "webfs");
	assert_non_null(k);
	assert_string_equal(
	    json_string_value(json_object_get(
	        json_object_get(json_object_get(k, "metadata"), "annotations"),
	        "tier")),
	    "edge");
	json_decref(k);
	out = rt_cli(&e, NULL, "get fleetservices -n dev");
	assert_non_null(strstr(out, "2/2"));
	free(out);
	out = rt_cli(&e, NULL, "apply -f %s", write_file(&e, "m.yaml", MIXED));
	assert_string_equal(
	    out, "service/single unchanged\nfleetservice/webfs unchanged\n");
	free(out);

	// A copy changes only through its FleetService.
	err = cli_fails(
	    &e, NULL, 1, "delete service webfs --cluster east -n dev");
	assert_non_null(strstr(err, "FAILED_PRECONDITION"));
	assert_non_null(strstr(err, "FleetService/webfs"));
	free(err);
	// An unowned Service of the name in north, which is not placed yet.
	free(rt_cli(&e, NULL,
	    "create service webfs --cluster north -n dev --selector app=x "
	    "--port 80"));

	// Relabel: north joins within 2 s, but its Service is reported, not
	// taken over; once it is gone the copy is placed there.
	free(rt_cli(&e, NULL, "cluster label north env=prod"));
	for (int t = 0;; t += 50) {
		Svcfleet__V1__FleetService *fs       = get_fleet(&e, "webfs");
		bool                        conflict = false;
		for (size_t i = 0; i < fs->n_status; i++) {
			conflict = conflict
			    || (strcmp(fs->status[i]->cluster, "north") == 0
			        && strcmp(fs->status[i]->placement, "Conflict")
			            == 0
			        && strstr(fs->status[i]->message, "spec.adopt")
			            != NULL);
		}
		svcfleet_free(fs);
		if (conflict) {
			break;
		}
		assert_true(t < 2000);
		rt_sleep_ms(50);
	}
	w = rt_get(&e, "north", "dev", "webfs");
	assert_string_equal(w->metadata->owner, "");
	svcfleet_free(w);
	free(rt_cli(&e, NULL, "delete service webfs --cluster north -n dev"));
	rt_wait_gone(&e, "north", "dev", "webfs", 15000);
	wait_copy(&e, "north", "webfs", true, 8000);
	w = rt_get(&e, "north", "dev", "webfs");
	assert_string_equal(w->metadata->owner, "FleetService/webfs");
	svcfleet_free(w);
	svcfleet_free(rt_wait(&e, "north", "dev", "webfs", SYNCED, 15000));

	// east leaves: its copy is pruned through the finalizer path (the
	// cluster deletes it, then the record goes).
	free(rt_cli(&e, NULL, "cluster label east env-"));
	rt_wait_gone(&e, "east", "dev", "webfs", 15000);
	for (int t = 0;; t += 100) {
		json_t *gone = rt_kget(&e, 0, "dev", "webfs");
		json_decref(gone);
		if (gone == NULL) {
			break;
		}
		assert_true(t < 10000);
		rt_sleep_ms(100);
	}

	// An override that breaks west only: nothing is written anywhere.
	Svcfleet__V1__FleetService *before = get_fleet(&e, "webfs");
	assert_non_null(before);
	uint64_t rv0 = before->metadata->resource_version;
	svcfleet_free(before);
	static const char BAD[]
	    = "apiVersion: svcfleet.io/v1\n"
	      "kind: FleetService\n"
	      "metadata: {name: webfs, namespace: dev}\n"
	      "spec:\n"
	      "  placement:\n"
	      "    clusterSelector: {matchLabels: {env: prod}}\n"
	      "  template:\n"
	      "    metadata: {annotations: {team: web2}}\n"
	      "    spec:\n"
	      "      type: NodePort\n"
	      "      selector: {app: web}\n"
	      "      ports: [{name: http, port: 80, targetPort: 8080}]\n"
	      "  overrides:\n"
	      "  - clusters: [west]\n"
	      "    patch: {spec: {ports: [{name: http, port: 80, nodePort: "
	      "99999}]}}\n"
	      "  - clusters: [nowhere]\n"
	      "    patch: {metadata: {annotations: {x: y}}}\n"
	      "  - clusterSelector: {matchExpressions: [{key: region, "
	      "operator: DoesNotExist}]}\n"
	      "    patch: {spec: {nodePortz: 1}}\n";
	err = cli_fails(
	    &e, NULL, 1, "apply -f %s", write_file(&e, "bad.yaml", BAD));
	assert_non_null(strstr(err, "INVALID_ARGUMENT"));
	assert_non_null(strstr(err, "clusters[west].spec.ports[0].nodePort"));
	assert_non_null(strstr(err, "spec.overrides[1]"));
	assert_non_null(strstr(err, "clusters[north].spec.nodePortz"));
	free(err);
	Svcfleet__V1__FleetService *after = get_fleet(&e, "webfs");
	assert_int_equal(after->metadata->resource_version, rv0);
	svcfleet_free(after);
	w = rt_get(&e, "north", "dev", "webfs");
	for (size_t i = 0; i < w->metadata->n_annotations; i++) {
		assert_string_not_equal(
		    w->metadata->annotations[i]->value, "web2");
	}
	svcfleet_free(w);

	// Preview: each cluster's rendering, nothing written.
	static const char NEXT[]
	    = "apiVersion: svcfleet.io/v1\n"
	      "kind: FleetService\n"
	      "metadata: {name: webfs, namespace: dev}\n"
	      "spec:\n"
	      "  placement:\n"
	      "    clusterSelector: {matchLabels: {env: prod}}\n"
	      "  template:\n"
	      "    spec:\n"
	      "      type: NodePort\n"
	      "      selector: {app: web}\n"
	      "      ports: [{name: http, port: 80, targetPort: 9090}]\n";
	out = rt_cli(&e, NULL, "fleetservice preview -f %s",
	    write_file(&e, "next.yaml", NEXT));
	assert_non_null(strstr(out, "# cluster west: update"));
	assert_non_null(strstr(out, "# cluster north: update"));
	assert_non_null(strstr(out, "targetPort: 9090"));
	free(out);
	after = get_fleet(&e, "webfs");
	assert_int_equal(after->metadata->resource_version, rv0);
	assert_string_equal(after->summary, "2/2 synced");
	svcfleet_free(after);

	// The gateway: get with status, list, a dry-run apply with each
	// cluster's rendering, and a bad one refused with the cluster named.
	char *body = NULL;
	assert_int_equal(th_runf(&body, NULL,
	                     "curl -s -H 'Authorization: Bearer %s' "
	                     "'%s/apis/svcfleet.io/v1/namespaces/dev/"
	                     "fleetservices/webfs'",
	                     e.re_srv.ts_token, e.re_srv.ts_http),
	    0);
	json_t *g = json_loads(body, 0, NULL);
	free(body);
	assert_non_null(g);
	assert_string_equal(json_string_value(json_object_get(
	                        json_object_get(g, "status"), "summary")),
	    "2/2 synced");
	json_decref(g);
	assert_int_equal(th_runf(&body, NULL,
	                     "curl -s -H 'Authorization: Bearer %s' "
	                     "'%s/apis/svcfleet.io/v1/namespaces/dev/"
	                     "fleetservices'",
	                     e.re_srv.ts_token, e.re_srv.ts_http),
	    0);
	assert_non_null(strstr(body, "\"FleetServiceList\""));
	free(body);
	assert_int_equal(
	    th_runf(&body, NULL,
	        "curl -s -X PATCH -H 'Authorization: Bearer %s' "
	        "-H 'Content-Type: application/apply-patch+yaml' "
	        "--data-binary @%s "
	        "'%s/apis/svcfleet.io/v1/namespaces/dev/"
	        "fleetservices/webfs?dryRun=All'",
	        e.re_srv.ts_token, write_file(&e, "next2.yaml", NEXT),
	        e.re_srv.ts_http),
	    0);
	g = json_loads(body, 0, NULL);
	free(body);
	assert_non_null(g);
	assert_int_equal(json_array_size(json_object_get(
	                     json_object_get(g, "status"), "rendered")),
	    2);
	json_decref(g);
	assert_int_equal(
	    th_runf(&body, NULL,
	        "curl -s -X PUT -H 'Authorization: Bearer %s' "
	        "-H 'Content-Type: application/yaml' "
	        "--data-binary @%s "
	        "'%s/apis/svcfleet.io/v1/namespaces/dev/"
	        "fleetservices/webfs'",
	        e.re_srv.ts_token, write_file(&e, "bad2.yaml", BAD),
	        e.re_srv.ts_http),
	    0);
	if (strstr(body, "clusters[west].spec.ports[0].nodePort") == NULL) {
		fail_msg("PUT of the bad FleetService answered: %s", body);
	}
	free(body);
	after = get_fleet(&e, "webfs");
	assert_int_equal(after->metadata->resource_version, rv0);
	svcfleet_free(after);

	// Delete: the copies go through the finalizer path.
	free(rt_cli(&e, NULL, "delete fleetservice webfs -n dev"));
	rt_wait_gone(&e, "west", "dev", "webfs", 15000);
	rt_wait_gone(&e, "north", "dev", "webfs", 15000);
	assert_null(get_fleet(&e, "webfs"));
	rt_stop(&e);
}

static void
test_same_ports_addresses_rbac(void **state)
{
	rt_env            e;
	char             *out, *err;
	const char *const pool[]
	    = {"--metallb-pool", "pool-a=192.168.50.0/28", NULL};
	(void) state;

	rt_start(&e, true);
	rt_cluster(&e, 0, "a", pool);
	rt_cluster(&e, 1, "b", pool);
	rt_cluster(&e, 2, "c", pool);
	for (int i = 0; i < 3; i++) {
		free(rt_kubectl(&e, i, NULL, "create namespace dev"));
	}

	// A Service svcfleet knows in b holds the lowest node port.
	free(rt_cli(&e, NULL,
	    "create service holder --cluster b -n dev --type nodeport "
	    "--selector app=h --port 80@30000"));
	static const char SAME[] = "apiVersion: svcfleet.io/v1\n"
	                           "kind: FleetService\n"
	                           "metadata: {name: nport, namespace: dev}\n"
	                           "spec:\n"
	                           "  placement: {clusters: [a, b, c]}\n"
	                           "  nodePorts: Same\n"
	                           "  template:\n"
	                           "    spec:\n"
	                           "      type: NodePort\n"
	                           "      selector: {app: np}\n"
	                           "      ports: [{port: 80}]\n";
	free(rt_cli(&e, NULL, "apply -f %s", write_file(&e, "s.yaml", SAME)));
	int32_t port = 0;
	for (int i = 0; i < 3; i++) {
		const char            *cn[] = {"a", "b", "c"};
		Svcfleet__V1__Service *s = rt_get(&e, cn[i], "dev", "nport");
		assert_non_null(s);
		if (port == 0) {
			port = s->spec->ports[0]->node_port;
		}
		assert_int_equal(s->spec->ports[0]->node_port, port);
		svcfleet_free(s);
	}
	assert_int_equal(port, 30001);
	// Stable across an update.
	free(rt_cli(&e, NULL, "delete service holder --cluster b -n dev"));
	rt_wait_gone(&e, "b", "dev", "holder", 15000);
	free(rt_cli(&e, NULL, "apply -f %s", write_file(&e, "s.yaml", SAME)));
	Svcfleet__V1__Service *s = rt_get(&e, "a", "dev", "nport");
	assert_int_equal(s->spec->ports[0]->node_port, 30001);
	svcfleet_free(s);
	// A port asked for explicitly but taken: the blocking cluster named.
	free(rt_cli(&e, NULL,
	    "create service holder2 --cluster c -n dev --type nodeport "
	    "--selector app=h --port 80@30500"));
	static const char TAKEN[]
	    = "apiVersion: svcfleet.io/v1\n"
	      "kind: FleetService\n"
	      "metadata: {name: nport2, namespace: dev}\n"
	      "spec:\n"
	      "  placement: {clusters: [a, b, c]}\n"
	      "  nodePorts: Same\n"
	      "  template:\n"
	      "    spec:\n"
	      "      type: NodePort\n"
	      "      selector: {app: np}\n"
	      "      ports: [{port: 80, nodePort: 30500}]\n";
	err = cli_fails(
	    &e, NULL, 1, "apply -f %s", write_file(&e, "t.yaml", TAKEN));
	assert_non_null(strstr(err, "FAILED_PRECONDITION"));
	assert_non_null(strstr(err, "c: 30500"));
	free(err);

	// One address plan: a second FleetService asking for the address
	// is refused, in another cluster too.
	static const char LB1[]
	    = "apiVersion: svcfleet.io/v1\n"
	      "kind: FleetService\n"
	      "metadata: {name: lbone, namespace: dev}\n"
	      "spec:\n"
	      "  placement: {clusters: [a]}\n"
	      "  template:\n"
	      "    metadata:\n"
	      "      annotations: {metallb.io/address-pool: pool-a,\n"
	      "        metallb.io/loadBalancerIPs: 192.168.50.5}\n"
	      "    spec: {type: LoadBalancer, selector: {app: lb}, ports: "
	      "[{port: 80}]}\n";
	// The plan shows overlaps of the pools the clusters reported: the
	// reconciler reads them after a cluster is registered, on its own
	// schedule.
	rt_wait_pools(&e, "a", 15000);
	rt_wait_pools(&e, "b", 15000);
	free(rt_cli(&e, NULL, "apply -f %s", write_file(&e, "l1.yaml", LB1)));
	char lb2[sizeof(LB1) + 8];
	snprintf(lb2, sizeof(lb2), "%s", LB1);
	memcpy(strstr(lb2, "lbone"), "lbtwo", 5);
	memcpy(strstr(lb2, "[a]"), "[b]", 3);
	err = cli_fails(
	    &e, NULL, 1, "apply -f %s", write_file(&e, "l2.yaml", lb2));
	assert_non_null(strstr(err, "192.168.50.5"));
	assert_non_null(strstr(err, "FleetService dev/lbone in cluster a"));
	free(err);
	out = rt_cli(&e, NULL, "addresses");
	assert_non_null(strstr(out, "192.168.50.5"));
	assert_non_null(strstr(out, "FleetService/lbone"));
	assert_non_null(strstr(out, "pool-a overlaps"));
	free(out);
	// i18-console: the address plan's index follows every write. Once
	// lbone is deleted its address is free for lbtwo; then lbone asking
	// for it again is refused, naming lbtwo.
	free(rt_cli(&e, NULL, "delete fleetservice lbone -n dev"));
	free(rt_cli(&e, NULL, "apply -f %s", write_file(&e, "l2.yaml", lb2)));
	rt_wait_gone(&e, "a", "dev", "lbone", 15000);
	err = cli_fails(
	    &e, NULL, 1, "apply -f %s", write_file(&e, "l1.yaml", LB1));
	assert_non_null(strstr(err, "FleetService dev/lbtwo in cluster b"));
	free(err);
	// Twelve more in one file, none asking for an address.
	{
		static char many[8192];
		size_t      len = 0;
		for (int i = 0; i < 12; i++) {
			len += (size_t) snprintf(many + len,
			    sizeof(many) - len,
			    "---\napiVersion: svcfleet.io/v1\n"
			    "kind: FleetService\n"
			    "metadata: {name: many%d, namespace: dev}\n"
			    "spec:\n"
			    "  placement: {clusters: [a]}\n"
			    "  template:\n"
			    "    spec: {selector: {app: m}, ports: [{port: "
			    "80}]}\n",
			    i);
			assert_true(len < sizeof(many));
		}
		free(rt_cli(&e, NULL, "apply -f %s",
		    write_file(&e, "many.yaml", many)));
	}

	// i18-addr: the claims are in the store: after a restart lbtwo's
	// address is still taken, and nothing had to be claimed again at
	// start (only a store from before the claims needs that).
	rt_restart(&e, false);
	err = cli_fails(
	    &e, NULL, 1, "apply -f %s", write_file(&e, "l1.yaml", LB1));
	assert_non_null(strstr(err, "FleetService dev/lbtwo in cluster b"));
	free(err);
	assert_int_equal(log_count(&e, "claimed the addresses of"), 0);

	// i18-console: a cluster joining where the kept "Same" port is
	// taken reports the conflict; the clusters placed keep the port.
	static const char JOIN[] = "apiVersion: svcfleet.io/v1\n"
	                           "kind: FleetService\n"
	                           "metadata: {name: joiner, namespace: dev}\n"
	                           "spec:\n"
	                           "  placement:\n"
	                           "    clusterSelector: {matchLabels: "
	                           "{same: \"yes\"}}\n"
	                           "  nodePorts: Same\n"
	                           "  template:\n"
	                           "    spec:\n"
	                           "      type: NodePort\n"
	                           "      selector: {app: j}\n"
	                           "      ports: [{port: 80}]\n";
	free(rt_cli(&e, NULL, "cluster label a same=yes"));
	free(rt_cli(&e, NULL, "cluster label b same=yes"));
	free(rt_cli(&e, NULL, "apply -f %s", write_file(&e, "j.yaml", JOIN)));
	s = rt_get(&e, "a", "dev", "joiner");
	assert_non_null(s);
	int32_t kept = s->spec->ports[0]->node_port;
	svcfleet_free(s);
	free(rt_cli(&e, NULL,
	    "create service holder3 --cluster c -n dev --type nodeport "
	    "--selector app=h --port 80@%d",
	    kept));
	free(rt_cli(&e, NULL, "cluster label c same=yes"));
	char want[64];
	snprintf(want, sizeof(want), "node port %d (TCP) is taken", kept);
	free(wait_placement(&e, "joiner", "c", "Conflict", want, 5000));
	for (int i = 0; i < 2; i++) {
		s = rt_get(&e, i == 0 ? "a" : "b", "dev", "joiner");
		assert_int_equal(s->spec->ports[0]->node_port, kept);
		svcfleet_free(s);
	}
	assert_null(rt_get(&e, "c", "dev", "joiner"));

	// Permissions in every placed cluster: ns-edit in a and b only.
	char *tok               = rt_cli(&e, NULL, "token create bob");
	tok[strcspn(tok, "\n")] = '\0';
	free(rt_cli(
	    &e, NULL, "rbac grant ns-edit --user bob --cluster a -n dev"));
	free(rt_cli(
	    &e, NULL, "rbac grant ns-edit --user bob --cluster b -n dev"));
	static const char BOB[]
	    = "apiVersion: svcfleet.io/v1\n"
	      "kind: FleetService\n"
	      "metadata: {name: bobs, namespace: dev}\n"
	      "spec:\n"
	      "  placement: {clusters: [a, b, c]}\n"
	      "  template:\n"
	      "    spec: {selector: {app: bob}, ports: [{port: 80}]}\n";
	err = cli_fails(
	    &e, tok, 1, "apply -f %s", write_file(&e, "b.yaml", BOB));
	assert_non_null(strstr(err, "PERMISSION_DENIED"));
	assert_non_null(strstr(err, "cluster \"c\""));
	free(err);
	assert_null(get_fleet(&e, "bobs"));
	char bob2[sizeof(BOB)];
	snprintf(bob2, sizeof(bob2), "%s", BOB);
	memcpy(strstr(bob2, "[a, b, c]"), "[a, b]   ", 9);
	free(cli_fails(
	    &e, tok, 0, "apply -f %s", write_file(&e, "b2.yaml", bob2)));
	free(tok);

	// Convert: a Service of one cluster becomes a FleetService, its node
	// port kept.
	free(rt_cli(&e, NULL,
	    "create service legacy --cluster a -n dev --type nodeport "
	    "--selector app=o --port 80@31234"));
	out = rt_cli(
	    &e, NULL, "fleetservice convert legacy --cluster a -n dev");
	assert_non_null(strstr(out, "converted"));
	free(out);
	s = rt_get(&e, "a", "dev", "legacy");
	assert_string_equal(s->metadata->owner, "FleetService/legacy");
	assert_int_equal(s->spec->ports[0]->node_port, 31234);
	svcfleet_free(s);

	// i18-console: convert through the gateway (the console's button):
	// the dry run previews and writes nothing, then the Service is the
	// copy, its status naming the owner; a stale resourceVersion on a
	// FleetService PUT is a 409 Conflict.
	free(rt_cli(&e, NULL,
	    "create service legacy2 --cluster b -n dev --type nodeport "
	    "--selector app=o --port 80@31235"));
	char *body = NULL;
	assert_int_equal(th_runf(&body, NULL,
	                     "curl -s -X POST -H 'Authorization: Bearer %s' "
	                     "'%s/apis/svcfleet.io/v1/clusters/b/namespaces/"
	                     "dev/services/legacy2/convert?dryRun=All'",
	                     e.re_srv.ts_token, e.re_srv.ts_http),
	    0);
	json_t *g = json_loads(body, 0, NULL);
	if (g == NULL
	    || strcmp(json_string_value(json_object_get(
	                  json_array_get(
	                      json_object_get(
	                          json_object_get(g, "status"), "rendered"),
	                      0),
	                  "cluster")),
	           "b")
	        != 0) {
		fail_msg("convert dry run answered: %s", body);
	}
	json_decref(g);
	free(body);
	assert_null(get_fleet(&e, "legacy2"));
	assert_int_equal(th_runf(&body, NULL,
	                     "curl -s -o /dev/null -w '%%{http_code}' -X POST "
	                     "-H 'Authorization: Bearer %s' "
	                     "'%s/apis/svcfleet.io/v1/clusters/b/namespaces/"
	                     "dev/services/legacy2/convert'",
	                     e.re_srv.ts_token, e.re_srv.ts_http),
	    0);
	assert_string_equal(body, "201");
	free(body);
	assert_int_equal(th_runf(&body, NULL,
	                     "curl -s -H 'Authorization: Bearer %s' "
	                     "'%s/apis/svcfleet.io/v1/clusters/b/namespaces/"
	                     "dev/services/legacy2'",
	                     e.re_srv.ts_token, e.re_srv.ts_http),
	    0);
	assert_non_null(strstr(body, "\"owner\":\"FleetService/legacy2\""));
	free(body);
	static const char STALE[]
	    = "apiVersion: svcfleet.io/v1\n"
	      "kind: FleetService\n"
	      "metadata: {name: legacy2, namespace: dev, resourceVersion: "
	      "\"1\"}\n"
	      "spec:\n"
	      "  placement: {clusters: [b]}\n"
	      "  template:\n"
	      "    spec: {type: NodePort, selector: {app: o}, ports: [{port: "
	      "80}]}\n";
	assert_int_equal(
	    th_runf(&body, NULL,
	        "curl -s -w ' %%{http_code}' -X PUT "
	        "-H 'Authorization: Bearer %s' "
	        "-H 'Content-Type: application/yaml' --data-binary @%s "
	        "'%s/apis/svcfleet.io/v1/namespaces/dev/fleetservices/"
	        "legacy2'",
	        e.re_srv.ts_token, write_file(&e, "stale.yaml", STALE),
	        e.re_srv.ts_http),
	    0);
	if (strstr(body, "\"Conflict\"") == NULL
	    || strstr(body, " 409") == NULL) {
		fail_msg(
		    "PUT with a stale resourceVersion answered: %s", body);
	}
	free(body);
	rt_stop(&e);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_teardown(
	        test_placement_overrides_ownership, rt_teardown),
	    cmocka_unit_test_teardown(
	        test_same_ports_addresses_rbac, rt_teardown),
	};
	return (cmocka_run_group_tests(tests, NULL, NULL));
}
