// recon_cli_test.c: the commands that need the reconciler or a live
// cluster, end to end — cluster add --kubeconfig, cluster list with
// health, live namespaces/workloads/pools, create --from-workload, wait,
// describe, delete --wait, and a MetalLB address checked against the pool
// the cluster has.
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
#define READY  SVCFLEET__V1__CLUSTER_HEALTH_STATE__CLUSTER_HEALTH_READY

// Runs the CLI expecting failure; returns stderr (malloc'd).
static char *
cli_fails(rt_env *e, int want, const char *args)
{
	char *out = NULL, *err = NULL;
	int   rc = th_runf(&out, &err, "%s --server %s --token %s %s",
	      th_bin("client/cli/svcfleet"), e->re_srv.ts_url,
	      e->re_srv.ts_token, args);
	if (rc != want) {
		fail_msg("`svcfleet %s` exited %d, not %d:\n%s%s", args, rc,
		    want, out, err);
	}
	free(out);
	return (err);
}

static void
test_kubeconfig_and_live_reads(void **state)
{
	rt_env            e;
	char             *out, *err, args[1200], kc2[600], *text;
	const char *const kf[]
	    = {"--metallb-pool", "pool-a=192.168.50.0/28", NULL};
	(void) state;

	rt_start(&e, true);
	assert_int_equal(kft_start(&e.re_kf[0], kf), 0);
	e.re_nkf = 1;
	snprintf(args, sizeof(args), "cluster add alpha --kubeconfig %s",
	    e.re_kf[0].k_kubeconfig);
	out = rt_cli(&e, NULL, "%s", args);
	assert_string_equal(out, "cluster/alpha registered\n");
	free(out);
	rt_wait_health(&e, "alpha", READY, 10000);
	out = rt_cli(&e, NULL, "cluster list");
	assert_non_null(strstr(out, "READY"));
	assert_non_null(strstr(out, "kubefake"));
	free(out);

	// A kubeconfig that skips TLS verification needs the flag.
	text = th_read_file(e.re_kf[0].k_kubeconfig, NULL);
	assert_non_null(text);
	char *ca = strstr(text, "certificate-authority-data:");
	assert_non_null(ca);
	char *eol = strchr(ca, '\n');
	char  insecure[8192];
	snprintf(insecure, sizeof(insecure),
	    "%.*sinsecure-skip-tls-verify: true%s", (int) (ca - text), text,
	    eol);
	snprintf(kc2, sizeof(kc2), "%s/insecure.kubeconfig", e.re_srv.ts_dir);
	assert_int_equal(th_write_file(kc2, insecure), 0);
	free(text);
	snprintf(args, sizeof(args), "cluster add beta --kubeconfig %s", kc2);
	err = cli_fails(&e, 1, args);
	assert_non_null(strstr(err, "insecure-skip-tls-verify"));
	free(err);
	snprintf(args, sizeof(args),
	    "cluster add beta --kubeconfig %s --insecure-skip-tls-verify",
	    kc2);
	free(rt_cli(&e, NULL, "%s", args));
	rt_wait_health(&e, "beta", READY, 10000);

	// Live reads.
	out = rt_cli(&e, NULL, "cluster namespaces alpha");
	assert_non_null(strstr(out, "kube-system"));
	free(out);
	free(rt_kubectl(&e, 0, NULL, "create deployment web --image=nginx"));
	out = rt_cli(&e, NULL, "cluster workloads alpha -n default");
	assert_non_null(strstr(out, "Deployment"));
	assert_non_null(strstr(out, "app=web"));
	free(out);
	Svcfleet__V1__ListPoolsRequest preq
	    = SVCFLEET__V1__LIST_POOLS_REQUEST__INIT;
	Svcfleet__V1__ListPoolsReply *prep = NULL;
	preq.cluster                       = "alpha";
	assert_int_equal(
	    svcfleet_list_pools(e.re_cli, &preq, &prep, &e.re_st), 0);
	assert_int_equal(prep->n_pools, 1);
	assert_string_equal(prep->pools[0]->name, "pool-a");
	assert_string_equal(prep->pools[0]->addresses[0], "192.168.50.0/28");
	svcfleet_free(prep);

	// The pools the reconciler reported check a MetalLB address.
	for (int t = 0;; t += 100) {
		Svcfleet__V1__GetClusterRequest g
		    = SVCFLEET__V1__GET_CLUSTER_REQUEST__INIT;
		Svcfleet__V1__Cluster *cl = NULL;
		g.name                    = "alpha";
		assert_int_equal(
		    svcfleet_get_cluster(e.re_cli, &g, &cl, &e.re_st), 0);
		bool known = cl->health != NULL && cl->health->pools_known;
		svcfleet_free(cl);
		if (known) {
			break;
		}
		assert_true(t < 10000);
		rt_sleep_ms(100);
	}
	err = cli_fails(&e, 1,
	    "create service lb-out --cluster alpha --type loadbalancer "
	    "--lb-pool pool-a --lb-address 10.1.2.3 --selector app=x --port "
	    "80");
	assert_non_null(strstr(err, "pool-a"));
	free(err);
	out = rt_cli(&e, NULL,
	    "create service lb-in --cluster alpha --type loadbalancer "
	    "--lb-pool pool-a --lb-address 192.168.50.5 --selector app=x "
	    "--port 80");
	free(out);
	out = rt_cli(
	    &e, NULL, "wait service lb-in --cluster alpha --for synced");
	assert_string_equal(out, "service/lb-in synced\n");
	free(out);
	Svcfleet__V1__Service *s = rt_get(&e, "alpha", "default", "lb-in");
	assert_string_equal(rt_status(s)->ingress[0], "192.168.50.5");
	svcfleet_free(s);
	rt_stop(&e);
}

static void
test_from_workload_wait_describe_delete(void **state)
{
	rt_env                 e;
	Svcfleet__V1__Service *s;
	char                  *out, *err;
	(void) state;

	rt_start(&e, true);
	rt_cluster(&e, 0, "alpha", NULL);
	free(rt_kubectl(
	    &e, 0, NULL, "create deployment shop --image=nginx -n default"));
	out = rt_cli(&e, NULL,
	    "create service shop-front --cluster alpha --from-workload "
	    "deployment/shop --port http:80:8080");
	free(out);
	out = rt_cli(
	    &e, NULL, "wait service shop-front --cluster alpha --for synced");
	assert_string_equal(out, "service/shop-front synced\n");
	free(out);
	s = rt_get(&e, "alpha", "default", "shop-front");
	assert_int_equal(s->spec->n_selector, 1);
	assert_string_equal(s->spec->selector[0]->key, "app");
	assert_string_equal(s->spec->selector[0]->value, "shop");
	assert_string_equal(s->spec->selector_from, "deployment/shop");
	out = rt_cli(&e, NULL, "describe service shop-front --cluster alpha");
	assert_non_null(
	    strstr(out, "Selector From:            deployment/shop"));
	assert_non_null(strstr(out, "Cluster Status:"));
	assert_non_null(strstr(out, "SYNCED"));
	assert_non_null(strstr(out, rt_status(s)->cluster_ip));
	assert_non_null(strstr(out, "Recent Audit:"));
	assert_non_null(
	    strstr(out, "Finalizers:               svcfleet.io/cluster"));
	free(out);
	svcfleet_free(s);

	err = cli_fails(&e, 1,
	    "create service nothing --cluster alpha --from-workload "
	    "deployment/missing --port 80");
	assert_non_null(strstr(err, "NOT_FOUND"));
	free(err);

	// A Service that never syncs: wait gives up with the last state.
	free(rt_kubectl(
	    &e, 0, NULL, "create service clusterip not-ours --tcp=80:8080"));
	free(rt_cli(&e, NULL,
	    "create service not-ours --cluster alpha --selector app=x "
	    "--port 80"));
	err = cli_fails(&e, 1,
	    "wait service not-ours --cluster alpha --for synced --timeout 2s");
	assert_non_null(strstr(err, "DEADLINE_EXCEEDED"));
	assert_non_null(strstr(err, "not managed by svcfleet"));
	free(err);

	out = rt_cli(
	    &e, NULL, "delete service shop-front --cluster alpha --wait");
	assert_non_null(strstr(out, "service/shop-front deleted"));
	free(out);
	assert_null(rt_get(&e, "alpha", "default", "shop-front"));
	assert_null(rt_kget(&e, 0, "default", "shop-front"));
	rt_stop(&e);
}

// i20-cli: create warns when the namespace does not exist in a READY
// cluster, and says nothing when it does (issue 20, item 9).
static void
test_create_warns_missing_namespace(void **state)
{
	rt_env e;
	char  *out = NULL, *err = NULL, cmd[1200];
	(void) state;

	rt_start(&e, true);
	rt_cluster(&e, 0, "alpha", NULL);
	rt_wait_health(&e, "alpha", READY, 10000);
	snprintf(cmd, sizeof(cmd),
	    "%s --server %s --token %s create service web-front --cluster "
	    "alpha -n ghost --selector app=web --port 80",
	    th_bin("client/cli/svcfleet"), e.re_srv.ts_url, e.re_srv.ts_token);
	assert_int_equal(th_run(cmd, NULL, &out, &err), 0);
	assert_string_equal(out, "service/web-front created\n");
	assert_string_equal(err,
	    "warning: namespace \"ghost\" does not exist in cluster "
	    "\"alpha\": the cluster will refuse the Service until it is "
	    "created (see `svcfleet cluster namespaces alpha`)\n");
	free(out);
	free(err);
	snprintf(cmd, sizeof(cmd),
	    "%s --server %s --token %s create service web-front --cluster "
	    "alpha -n default --selector app=web --port 80",
	    th_bin("client/cli/svcfleet"), e.re_srv.ts_url, e.re_srv.ts_token);
	assert_int_equal(th_run(cmd, NULL, &out, &err), 0);
	assert_string_equal(err, "");
	free(out);
	free(err);
	rt_stop(&e);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_teardown(
	        test_kubeconfig_and_live_reads, rt_teardown),
	    cmocka_unit_test_teardown(
	        test_from_workload_wait_describe_delete, rt_teardown),
	    cmocka_unit_test_teardown(
	        test_create_warns_missing_namespace, rt_teardown),
	};
	if (access("/usr/bin/kubectl", X_OK) != 0) {
		fprintf(stderr, "kubectl not found: skipped\n");
		return (77);
	}
	return (cmocka_run_group_tests(tests, NULL, NULL));
}
