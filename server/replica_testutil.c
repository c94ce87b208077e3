// replica_testutil.c: see replica_testutil.h.
#include "replica_testutil.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "log.h"
#include "status.h"

bool
sf_replfix_etcd_asked(void)
{
	const char *b = getenv("SF_STORE_BACKEND");
	return (b != NULL && strcmp(b, "etcd") == 0);
}

int
sf_replfix_setup(
    sf_replfix *f, const char *tag, const char *token, bool etcd, int n)
{
	char  tokfile[128];
	FILE *fp;

	if (etcd && !sf_etcdfix_available()) {
		fprintf(stderr, "no etcd binary: the etcd test is skipped\n");
		exit(77);
	}
	f->rf_etcd  = etcd;
	f->rf_token = token;
	f->rf_n     = etcd ? n : 1;
	if (f->rf_n > SF_REPLFIX_MAX) {
		return (-1);
	}
	snprintf(f->rf_dir, sizeof(f->rf_dir), "%s/sf-%s-XXXXXX",
	    access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp", tag);
	if (mkdtemp(f->rf_dir) == NULL) {
		return (-1);
	}
	snprintf(tokfile, sizeof(tokfile), "%s/tokens.csv", f->rf_dir);
	if ((fp = fopen(tokfile, "w")) == NULL) {
		return (-1);
	}
	fprintf(fp, "%s,admin,1\n", token);
	fclose(fp);
	chmod(tokfile, 0600); // svcfleetd refuses a file others may read
	sf_log_set_level(SF_LOG_NONE);
	if (etcd && sf_etcdfix_start(&f->rf_fix, NULL) != 0) {
		return (-1);
	}
	snprintf(f->rf_prefix, sizeof(f->rf_prefix), "/%s/%d/", tag,
	    (int) getpid());
	for (int i = 0; i < f->rf_n; i++) {
		snprintf(f->rf_url[i], sizeof(f->rf_url[i]),
		    "inproc://sf-%s-%d-%d", tag, (int) getpid(), i);
		sf_replfix_start(f, i);
	}
	return (0);
}

void
sf_replfix_start(sf_replfix *f, int i)
{
	sf_server_opts o = {0};
	const char    *ls[1];
	char           tokfile[128], data[128], key[128];
	sf_status      st;

	snprintf(tokfile, sizeof(tokfile), "%s/tokens.csv", f->rf_dir);
	snprintf(data, sizeof(data), "%s/data%d", f->rf_dir, i);
	snprintf(key, sizeof(key), "%s/secret.key", f->rf_dir);
	ls[0]                = f->rf_url[i];
	o.so_data_dir        = data;
	o.so_listen          = ls;
	o.so_nlisten         = 1;
	o.so_nosync          = true;
	o.so_token_file      = tokfile;
	o.so_contexts        = f->rf_contexts != 0 ? f->rf_contexts : 32;
	o.so_workers         = f->rf_workers != 0 ? f->rf_workers : 4;
	o.so_secret_key_file = key; // one key for every replica
	o.so_feed_keep       = f->rf_feed_keep;
	if (f->rf_etcd) {
		o.so_store          = "etcd";
		o.so_etcd_endpoints = sf_etcdfix_endpoints(f->rf_fix);
		o.so_etcd_prefix    = f->rf_prefix;
	}
	sf_status_init(&st);
	if (sf_server_start(&f->rf_srv[i], &o, &st) != 0) {
		fail_msg("replica %d did not start: %s", i, st.st_msg);
	}
	sf_status_fini(&st);
}

void
sf_replfix_stop(sf_replfix *f, int i)
{
	sf_server_stop(f->rf_srv[i]);
	f->rf_srv[i] = NULL;
}

svcfleet_client *
sf_replfix_client(const sf_replfix *f, int i, int timeout_ms)
{
	svcfleet_options o = {0};
	svcfleet_client *c = NULL;
	svcfleet_status  st;

	o.url         = f->rf_url[i];
	o.token       = f->rf_token;
	o.timeout_ms  = timeout_ms;
	o.connect_now = true;
	svcfleet_status_init(&st);
	if (svcfleet_open(&c, &o, &st) != 0) {
		fail_msg("open: %s", st.message);
	}
	svcfleet_status_fini(&st);
	return (c);
}

void
sf_replfix_register(const sf_replfix *f, const char *name)
{
	svcfleet_client      *c  = sf_replfix_client(f, 0, 20000);
	Svcfleet__V1__Cluster cl = SVCFLEET__V1__CLUSTER__INIT;
	Svcfleet__V1__RegisterClusterRequest rq
	    = SVCFLEET__V1__REGISTER_CLUSTER_REQUEST__INIT;
	Svcfleet__V1__Cluster *out = NULL;
	svcfleet_status        st;

	svcfleet_status_init(&st);
	cl.name       = (char *) name;
	cl.api_server = "https://127.0.0.1:1";
	cl.token      = "cluster-token";
	rq.cluster    = &cl;
	if (svcfleet_register_cluster(c, &rq, &out, &st) != 0) {
		fail_msg("register %s: %s", name, st.message);
	}
	svcfleet_free(out);
	svcfleet_status_fini(&st);
	svcfleet_close(c);
}

void
sf_replfix_teardown(sf_replfix *f)
{
	char cmd[160];

	for (int i = 0; i < f->rf_n; i++) {
		sf_replfix_stop(f, i);
	}
	sf_etcdfix_stop(f->rf_fix);
	f->rf_fix = NULL;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->rf_dir);
	if (system(cmd) != 0) {
		fprintf(stderr, "could not remove %s\n", f->rf_dir);
	}
}
