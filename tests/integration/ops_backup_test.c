// ops_backup_test.c: svcfleetd backup while svcfleetd runs under write
// load, restore into a fresh directory, and a daemon on the restored store
// has every Service acknowledged before the backup began (and nothing that
// was never written). Restore refuses an existing store without --force, a
// directory a daemon is using, and a file that is not a store — changing
// nothing in each case.
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cmocka.h>
#include <jansson.h>
#include <pthread.h>
#include <unistd.h>

#include "cli_util.h"
#include "svcfleet/svcfleet.h"

#define WRITERS 4
#define MAXSVC  20000

typedef struct load {
	ct_env         *l_env;
	pthread_mutex_t l_mtx;
	char (*l_acked)[32]; // names in acknowledgement order
	size_t l_nacked;
	bool   l_stop;
	int    l_errors;
} load;

typedef struct writer {
	load *w_load;
	int   w_id;
} writer;

static void *
write_loop(void *arg)
{
	writer          *w = arg;
	load            *l = w->w_load;
	svcfleet_client *c = NULL;
	svcfleet_status  st;
	svcfleet_options o = {.url = l->l_env->ce_srv.ts_url,
	    .token                 = l->l_env->ce_srv.ts_token,
	    .timeout_ms            = 20000,
	    .connect_now           = true};

	svcfleet_status_init(&st);
	if (svcfleet_open(&c, &o, &st) != 0) {
		l->l_errors++;
		return (NULL);
	}
	for (int n = 0;; n++) {
		char name[32];
		pthread_mutex_lock(&l->l_mtx);
		bool stop = l->l_stop || l->l_nacked >= MAXSVC - WRITERS;
		pthread_mutex_unlock(&l->l_mtx);
		if (stop) {
			break;
		}
		snprintf(name, sizeof(name), "svc-%d-%d", w->w_id, n);
		Svcfleet__V1__KeyValue    sel = SVCFLEET__V1__KEY_VALUE__INIT;
		Svcfleet__V1__KeyValue   *sels[] = {&sel};
		Svcfleet__V1__ServicePort port
		    = SVCFLEET__V1__SERVICE_PORT__INIT;
		Svcfleet__V1__ServicePort *ports[] = {&port};
		Svcfleet__V1__ObjectMeta   meta
		    = SVCFLEET__V1__OBJECT_META__INIT;
		Svcfleet__V1__ServiceSpec spec
		    = SVCFLEET__V1__SERVICE_SPEC__INIT;
		Svcfleet__V1__Service svc = SVCFLEET__V1__SERVICE__INIT;
		Svcfleet__V1__CreateServiceRequest req
		    = SVCFLEET__V1__CREATE_SERVICE_REQUEST__INIT;
		Svcfleet__V1__Service *out = NULL;
		sel.key                    = "app";
		sel.value                  = "load";
		port.port                  = 80;
		spec.selector              = sels;
		spec.n_selector            = 1;
		spec.ports                 = ports;
		spec.n_ports               = 1;
		meta.cluster               = "east";
		meta.namespace_            = "load";
		meta.name                  = name;
		svc.metadata               = &meta;
		svc.spec                   = &spec;
		req.service                = &svc;
		if (svcfleet_create_service(c, &req, &out, &st) != 0) {
			fprintf(stderr, "create %s: %s\n", name, st.message);
			pthread_mutex_lock(&l->l_mtx);
			l->l_errors++;
			pthread_mutex_unlock(&l->l_mtx);
			break;
		}
		svcfleet_free(out);
		pthread_mutex_lock(&l->l_mtx);
		snprintf(l->l_acked[l->l_nacked++], 32, "%s", name);
		pthread_mutex_unlock(&l->l_mtx);
	}
	svcfleet_status_fini(&st);
	svcfleet_close(c);
	return (NULL);
}

static size_t
acked(load *l)
{
	pthread_mutex_lock(&l->l_mtx);
	size_t n = l->l_nacked;
	pthread_mutex_unlock(&l->l_mtx);
	return (n);
}

// The names of every Service in cluster east, via the CLI against url.
static json_t *
list_names(const char *url, const char *token)
{
	char *out = NULL, *err = NULL;
	int   rc = th_runf(&out, &err,
	      "%s --server %s --token %s get services --cluster east -A -o json",
	      th_bin("client/cli/svcfleet"), url, token);
	if (rc != 0) {
		fail_msg("list failed: %s", err);
	}
	json_t *list = json_loads(out, 0, NULL), *names = json_object();
	assert_non_null(list);
	json_t *item;
	size_t  i;
	json_array_foreach(json_object_get(list, "items"), i, item)
	{
		json_object_set_new(names,
		    json_string_value(json_object_get(
		        json_object_get(item, "metadata"), "name")),
		    json_true());
	}
	json_decref(list);
	free(out);
	free(err);
	return (names);
}

static void
test_backup_under_load_restore(void **state)
{
	ct_env    e;
	load      l = {0};
	writer    w[WRITERS];
	pthread_t th[WRITERS];
	char      file[400], *err = NULL;
	(void) state;

	ct_start(&e, NULL);
	ct_add_cluster(&e, "east");
	l.l_env   = &e;
	l.l_acked = calloc(MAXSVC, sizeof(*l.l_acked));
	pthread_mutex_init(&l.l_mtx, NULL);
	for (int i = 0; i < WRITERS; i++) {
		w[i] = (writer) {&l, i};
		pthread_create(&th[i], NULL, write_loop, &w[i]);
	}
	// Let the load build up, then back up while it goes on.
	while (acked(&l) < 200) {
		usleep(10000);
	}
	size_t before = acked(&l);
	snprintf(file, sizeof(file), "%s/backup.mdb", e.ce_srv.ts_dir);
	int rc = th_runf(NULL, &err, "%s backup --data-dir %s --out %s",
	    th_bin("cmd/svcfleetd/svcfleetd"), e.ce_srv.ts_data, file);
	if (rc != 0) {
		fail_msg("backup failed: %s", err);
	}
	assert_non_null(strstr(err, "svcfleetd backup: wrote "));
	free(err);
	size_t during = acked(&l);
	// Writes went on while the backup ran (it is online).
	usleep(200000);
	pthread_mutex_lock(&l.l_mtx);
	l.l_stop = true;
	pthread_mutex_unlock(&l.l_mtx);
	for (int i = 0; i < WRITERS; i++) {
		pthread_join(th[i], NULL);
	}
	assert_int_equal(l.l_errors, 0);
	assert_true(acked(&l) > during);

	// Restore into a directory of a second daemon, then start it there.
	th_server s2 = {0};
	assert_int_equal(th_server_start(&s2, NULL, NULL), 0);
	assert_int_equal(th_server_stop(&s2), 0);
	char fresh[400];
	snprintf(fresh, sizeof(fresh), "%s/restored", s2.ts_dir);
	rc = th_runf(NULL, &err, "%s restore --in %s --data-dir %s",
	    th_bin("cmd/svcfleetd/svcfleetd"), file, fresh);
	if (rc != 0) {
		fail_msg("restore failed: %s", err);
	}
	assert_non_null(strstr(err, "svcfleetd restore: restored revision "));
	free(err);
	// --force puts it in place of the second daemon's (stopped) store,
	// and the second daemon runs on it.
	rc = th_runf(NULL, &err, "%s restore --force --in %s --data-dir %s",
	    th_bin("cmd/svcfleetd/svcfleetd"), file, s2.ts_data);
	if (rc != 0) {
		fail_msg("restore --force failed: %s", err);
	}
	free(err);
	// The backup holds cluster credentials sealed with the first
	// daemon's secret key, never the key: with its own key the second
	// daemon refuses the store, with the first one's it runs.
	assert_int_equal(th_server_start(&s2, s2.ts_dir, NULL), -1);
	assert_true(th_server_log_contains(&s2, "is not the one"));
	char key_from[400], key_to[400], *key;
	snprintf(
	    key_from, sizeof(key_from), "%s/secret.key", e.ce_srv.ts_data);
	snprintf(key_to, sizeof(key_to), "%s/secret.key", s2.ts_data);
	assert_non_null(key = th_read_file(key_from, NULL));
	assert_int_equal(th_write_file(key_to, key), 0);
	free(key);
	assert_int_equal(th_server_start(&s2, s2.ts_dir, NULL), 0);

	// Every Service acknowledged before the backup began is there, and
	// everything there was acknowledged (by the time the load ended).
	json_t *names = list_names(s2.ts_url, e.ce_srv.ts_token);
	size_t  n     = json_object_size(names);
	assert_true(n >= before);
	assert_true(n <= acked(&l));
	for (size_t i = 0; i < before; i++) {
		if (json_object_get(names, l.l_acked[i]) == NULL) {
			fail_msg("%s (acknowledged before the backup) is "
			         "missing",
			    l.l_acked[i]);
		}
	}
	json_t     *v;
	const char *k;
	json_object_foreach(names, k, v)
	{
		bool found = false;
		for (size_t i = 0; i < acked(&l) && !found; i++) {
			found = strcmp(l.l_acked[i], k) == 0;
		}
		if (!found) {
			fail_msg("%s restored but never acknowledged", k);
		}
	}
	json_decref(names);
	fprintf(stderr,
	    "backup under load: %zu acked before, %zu when it ended, %zu in "
	    "the backup, %zu in all\n",
	    before, during, n, acked(&l));

	// Refusals that change nothing.
	err = NULL;
	rc  = th_runf(NULL, &err, "%s restore --in %s --data-dir %s",
	     th_bin("cmd/svcfleetd/svcfleetd"), file, s2.ts_data);
	assert_int_equal(rc, 1);
	assert_non_null(strstr(err, "in use by a running svcfleetd"));
	free(err);
	assert_int_equal(th_server_stop(&s2), 0);
	rc = th_runf(NULL, &err, "%s restore --in %s --data-dir %s",
	    th_bin("cmd/svcfleetd/svcfleetd"), file, fresh);
	assert_int_equal(rc, 1);
	assert_non_null(strstr(err, "already holds a store"));
	free(err);
	char junk[400], empty[400];
	snprintf(junk, sizeof(junk), "%s/junk", e.ce_srv.ts_dir);
	snprintf(empty, sizeof(empty), "%s/empty", e.ce_srv.ts_dir);
	assert_int_equal(th_write_file(junk, "not a store\n"), 0);
	rc = th_runf(NULL, &err, "%s restore --in %s --data-dir %s",
	    th_bin("cmd/svcfleetd/svcfleetd"), junk, empty);
	assert_int_equal(rc, 1);
	assert_non_null(strstr(err, "is not a usable svcfleet backup"));
	free(err);
	struct stat sb;
	char        p[500];
	snprintf(p, sizeof(p), "%s/data.mdb", empty);
	assert_int_not_equal(stat(p, &sb), 0);
	// Usage errors.
	rc = th_runf(NULL, &err, "%s backup --data-dir %s",
	    th_bin("cmd/svcfleetd/svcfleetd"), e.ce_srv.ts_data);
	assert_int_equal(rc, 2);
	assert_non_null(strstr(err, "--out FILE is required"));
	free(err);
	rc = th_runf(NULL, &err, "%s backup --data-dir %s/nothing --out x",
	    th_bin("cmd/svcfleetd/svcfleetd"), e.ce_srv.ts_dir);
	assert_int_equal(rc, 1);
	assert_non_null(strstr(err, "no store in"));
	free(err);

	th_runf(NULL, NULL, "rm -rf '%s'", s2.ts_dir);
	ct_stop(&e);
	pthread_mutex_destroy(&l.l_mtx);
	free(l.l_acked);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_teardown(
	        test_backup_under_load_restore, ct_cleanup),
	};
	return (cmocka_run_group_tests(tests, NULL, NULL));
}
