// secrets_test.c: cluster credentials at rest, end to end. svcfleetd
// makes its secret key file (0600) on first start; credentials registered
// through the API come back intact to an admin, but the raw LMDB file (and
// the log) never holds their text; API tokens are kept as hashes only; a
// wrong key is refused at start; `svcfleetd rotate-secret-key` re-seals
// with a new key and leaves nothing sealed with the old one in the file.
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "harness.h"
#include "svcfleet/svcfleet.h"

#define TOKEN1 "canary-token-6f1c0a9e3b7d4d21a8e5"
#define TOKEN2 "canary-token-second-91ab77e0c3"
#define TOKEN3 "canary-token-updated-5c2d8f"

typedef struct fixture {
	th_fixture fx; // first: th_teardown frees the fixture
	char       cert_pem[8192];
	char       key_pem[8192];
} fixture;

// A client of its own: the tests restart the daemon under the fixture's.
static svcfleet_client *
connect_admin(fixture *f)
{
	return (th_client(f->fx.tf_srv.ts_url, f->fx.tf_srv.ts_token, 0));
}

// memmem over the whole file; true when needle occurs.
static bool
file_has(const char *path, const void *needle, size_t n)
{
	size_t len = 0;
	char  *buf = th_read_file(path, &len);
	bool   yes;
	assert_non_null(buf);
	yes = memmem(buf, len, needle, n) != NULL;
	free(buf);
	return (yes);
}

static bool
file_has_str(const char *path, const char *s)
{
	return (file_has(path, s, strlen(s)));
}

// A line of the PEM body (base64), distinctive enough to search for.
static void
pem_line(const char *pem, int which, char *out, size_t cap)
{
	const char *p = pem;
	for (int i = 0; i <= which; i++) {
		p = strchr(p, '\n');
		assert_non_null(p);
		p++;
	}
	size_t n = strcspn(p, "\n");
	assert_true(n > 20 && n < cap);
	memcpy(out, p, n);
	out[n] = '\0';
}

static void
assert_no_secret_text(fixture *f, const char *extra)
{
	char path[400], line[128];
	snprintf(path, sizeof(path), "%s/data.mdb", f->fx.tf_srv.ts_data);
	assert_false(file_has_str(path, TOKEN1));
	assert_false(file_has_str(path, TOKEN2));
	assert_false(file_has_str(path, TOKEN3));
	assert_false(file_has_str(path, "PRIVATE KEY"));
	for (int i = 0; i < 2; i++) {
		pem_line(f->key_pem, i, line, sizeof(line));
		assert_false(file_has_str(path, line));
		pem_line(f->cert_pem, i, line, sizeof(line));
		assert_false(file_has_str(path, line));
	}
	if (extra != NULL) {
		assert_false(file_has_str(path, extra));
	}
	// Nor in svcfleetd's log (debug level).
	assert_false(th_server_log_contains(&f->fx.tf_srv, TOKEN1));
	assert_false(th_server_log_contains(&f->fx.tf_srv, TOKEN3));
}

static void
register_cluster(svcfleet_client *c, const char *name, const char *token,
    const char *cert, const char *key)
{
	Svcfleet__V1__Cluster                cl = SVCFLEET__V1__CLUSTER__INIT;
	Svcfleet__V1__RegisterClusterRequest req
	    = SVCFLEET__V1__REGISTER_CLUSTER_REQUEST__INIT;
	Svcfleet__V1__Cluster *out = NULL;
	svcfleet_status        st  = {0};

	cl.name       = (char *) name;
	cl.api_server = "https://127.0.0.1:6443";
	cl.token      = (char *) (token != NULL ? token : "");
	if (cert != NULL) {
		cl.client_cert.data = (uint8_t *) cert;
		cl.client_cert.len  = strlen(cert);
		cl.client_key.data  = (uint8_t *) key;
		cl.client_key.len   = strlen(key);
	}
	req.cluster = &cl;
	assert_int_equal(svcfleet_register_cluster(c, &req, &out, &st), 0);
	svcfleet_free(out);
	svcfleet_status_fini(&st);
}

// The admin reads the credentials back exactly.
static void
check_credentials(svcfleet_client *c, const char *name, const char *token,
    const char *cert, const char *key)
{
	Svcfleet__V1__GetClusterRequest req
	    = SVCFLEET__V1__GET_CLUSTER_REQUEST__INIT;
	Svcfleet__V1__Cluster *out = NULL;
	svcfleet_status        st  = {0};

	req.name             = (char *) name;
	req.with_credentials = true; // (issue 17: only when asked)
	assert_int_equal(svcfleet_get_cluster(c, &req, &out, &st), 0);
	assert_string_equal(out->token, token != NULL ? token : "");
	if (cert != NULL) {
		assert_int_equal(out->client_cert.len, strlen(cert));
		assert_memory_equal(out->client_cert.data, cert, strlen(cert));
		assert_int_equal(out->client_key.len, strlen(key));
		assert_memory_equal(out->client_key.data, key, strlen(key));
	} else {
		assert_int_equal(out->client_key.len, 0);
	}
	assert_true(out->has_credentials);
	svcfleet_free(out);
	svcfleet_status_fini(&st);
}

static void
check_all(fixture *f)
{
	svcfleet_client *c = connect_admin(f);
	check_credentials(c, "certs", TOKEN1, f->cert_pem, f->key_pem);
	check_credentials(c, "plain", TOKEN3, NULL, NULL);
	svcfleet_close(c);
}

static void
test_credentials_sealed(void **state)
{
	fixture         *f = *state;
	char             path[400];
	struct stat      sb;
	svcfleet_client *c;

	// The key file was made on first start, private to the owner.
	snprintf(path, sizeof(path), "%s/secret.key", f->fx.tf_srv.ts_data);
	assert_int_equal(stat(path, &sb), 0);
	assert_int_equal(sb.st_mode & 0777, 0600);
	assert_true(
	    th_server_log_contains(&f->fx.tf_srv, "created secret key file"));

	c = connect_admin(f);
	register_cluster(c, "certs", TOKEN1, f->cert_pem, f->key_pem);
	register_cluster(c, "plain", TOKEN2, NULL, NULL);
	// A new token replaces the old one.
	Svcfleet__V1__Cluster              cl = SVCFLEET__V1__CLUSTER__INIT;
	Svcfleet__V1__UpdateClusterRequest ur
	    = SVCFLEET__V1__UPDATE_CLUSTER_REQUEST__INIT;
	Svcfleet__V1__Cluster *out = NULL;
	svcfleet_status        st  = {0};
	cl.name                    = "plain";
	cl.api_server              = "https://127.0.0.1:6444";
	cl.token                   = TOKEN3;
	ur.cluster                 = &cl;
	assert_int_equal(svcfleet_update_cluster(c, &ur, &out, &st), 0);
	svcfleet_free(out);

	// An API token: only its hash is stored.
	Svcfleet__V1__CreateTokenRequest tr
	    = SVCFLEET__V1__CREATE_TOKEN_REQUEST__INIT;
	Svcfleet__V1__CreateTokenReply *tok = NULL;
	char                            secret[256];
	tr.user = "someone";
	assert_int_equal(svcfleet_create_token(c, &tr, &tok, &st), 0);
	snprintf(secret, sizeof(secret), "%s", tok->secret);
	svcfleet_free(tok);
	svcfleet_status_fini(&st);
	check_all(f);
	svcfleet_close(c);

	// The raw file, with the daemon stopped (everything synced).
	assert_int_equal(th_server_stop(&f->fx.tf_srv), 0);
	assert_no_secret_text(f, secret);
	assert_false(file_has_str(path, TOKEN1)); // (the key file either)
	// The admin token (written to admin.token) is not in the store.
	snprintf(path, sizeof(path), "%s/data.mdb", f->fx.tf_srv.ts_data);
	assert_false(file_has_str(path, f->fx.tf_srv.ts_token));
	// The credentials survive a restart.
	assert_int_equal(
	    th_server_start(&f->fx.tf_srv, f->fx.tf_srv.ts_dir, NULL), 0);
	check_all(f);
}

static void
test_wrong_key_refused(void **state)
{
	fixture *f = *state;
	char     other[400], *err = NULL;

	assert_int_equal(th_server_stop(&f->fx.tf_srv), 0);
	snprintf(other, sizeof(other), "%s/other.key", f->fx.tf_srv.ts_dir);
	// A key file that does not exist yet is made, found not to match,
	// and removed again; svcfleetd does not start.
	int rc = th_runf(NULL, &err,
	    "timeout 30 %s --data-dir %s --listen ipc://%s/x.sock "
	    "--secret-key-file %s",
	    th_bin("cmd/svcfleetd/svcfleetd"), f->fx.tf_srv.ts_data,
	    f->fx.tf_srv.ts_dir, other);
	assert_int_equal(rc, 1);
	assert_non_null(strstr(err, "FAILED_PRECONDITION"));
	assert_non_null(strstr(err, "is not the one"));
	free(err);
	assert_null(th_read_file(other, NULL));
	// A key file that is not 32 bytes of base64.
	th_write_file(other, "c2hvcnQ=\n");
	rc = th_runf(NULL, &err,
	    "timeout 30 %s --data-dir %s --listen ipc://%s/x.sock "
	    "--secret-key-file %s",
	    th_bin("cmd/svcfleetd/svcfleetd"), f->fx.tf_srv.ts_data,
	    f->fx.tf_srv.ts_dir, other);
	assert_int_equal(rc, 1);
	assert_non_null(strstr(err, "32 bytes in base64"));
	free(err);
	assert_int_equal(
	    th_server_start(&f->fx.tf_srv, f->fx.tf_srv.ts_dir, NULL), 0);
	check_all(f);
}

// The sealed blobs as mdb_dump prints them (hex lines of the values).
static char *
dump_secrets(fixture *f)
{
	char *out = NULL;
	assert_int_equal(th_runf(&out, NULL, "mdb_dump -s secrets %s",
	                     f->fx.tf_srv.ts_data),
	    0);
	return (out);
}

// Decodes mdb_dump's value lines (every second data line) and reports
// whether any 24-byte piece of any old blob's ciphertext is in path.
static bool
any_old_blob_in(const char *dump, const char *path)
{
	const char *p     = strstr(dump, "HEADER=END\n");
	bool        found = false;
	int         line  = 0;
	assert_non_null(p);
	p = strchr(p, '\n') + 1;
	while (*p == ' ' && !found) {
		size_t  n = strcspn(p + 1, "\n");
		uint8_t bin[24];
		// Values: the second line of each pair. Skip the 21-byte
		// header (version, key id, nonce) and take 24 bytes.
		if (line++ % 2 == 1 && n >= 2 * (21 + 24)) {
			for (int i = 0; i < 24; i++) {
				unsigned v;
				sscanf(p + 1 + 2 * (21 + i), "%2x", &v);
				bin[i] = (uint8_t) v;
			}
			found = file_has(path, bin, sizeof(bin));
		}
		p += n + 2;
	}
	return (found);
}

static void
test_rotation(void **state)
{
	fixture    *f = *state;
	char        newkey[400], data[400], *err = NULL, *out = NULL;
	struct stat sb;
	int         rc;

	snprintf(
	    newkey, sizeof(newkey), "%s/keys/new.key", f->fx.tf_srv.ts_dir);
	snprintf(data, sizeof(data), "%s/data.mdb", f->fx.tf_srv.ts_data);
	// Refused while svcfleetd runs (it holds the store).
	rc = th_runf(NULL, &err,
	    "%s rotate-secret-key --data-dir %s "
	    "--new-key-file %s",
	    th_bin("cmd/svcfleetd/svcfleetd"), f->fx.tf_srv.ts_data, newkey);
	assert_int_equal(rc, 1);
	assert_non_null(strstr(err, "in use"));
	assert_null(th_read_file(newkey, NULL));
	free(err);

	assert_int_equal(th_server_stop(&f->fx.tf_srv), 0);
	char *before = dump_secrets(f);
	assert_true(any_old_blob_in(before, data)); // (the check works)
	rc = th_runf(&out, &err,
	    "%s rotate-secret-key --data-dir %s "
	    "--new-key-file %s",
	    th_bin("cmd/svcfleetd/svcfleetd"), f->fx.tf_srv.ts_data, newkey);
	if (rc != 0) {
		fprintf(stderr, "%s%s", out, err);
	}
	assert_int_equal(rc, 0);
	assert_non_null(strstr(out, "re-sealed the credentials of 2"));
	free(out);
	free(err);
	assert_int_equal(stat(newkey, &sb), 0);
	assert_int_equal(sb.st_mode & 0777, 0600);
	// Nothing sealed with the old key is left anywhere in the file.
	assert_false(any_old_blob_in(before, data));
	free(before);
	assert_no_secret_text(f, NULL);

	// The old key no longer opens the store; the new one does.
	rc = th_runf(NULL, &err,
	    "timeout 30 %s --data-dir %s --listen ipc://%s/x.sock",
	    th_bin("cmd/svcfleetd/svcfleetd"), f->fx.tf_srv.ts_data,
	    f->fx.tf_srv.ts_dir);
	assert_int_equal(rc, 1);
	assert_non_null(strstr(err, "is not the one"));
	free(err);
	const char *extra[] = {"--secret-key-file", newkey, NULL};
	assert_int_equal(
	    th_server_start(&f->fx.tf_srv, f->fx.tf_srv.ts_dir, extra), 0);
	check_all(f);
	// Rotation without the right current key changes nothing.
	assert_int_equal(th_server_stop(&f->fx.tf_srv), 0);
	rc = th_runf(NULL, &err,
	    "%s rotate-secret-key --data-dir %s "
	    "--new-key-file %s/third.key",
	    th_bin("cmd/svcfleetd/svcfleetd"), f->fx.tf_srv.ts_data,
	    f->fx.tf_srv.ts_dir);
	assert_int_equal(rc, 1);
	assert_non_null(strstr(err, "is not the one"));
	free(err);
	assert_int_equal(
	    th_server_start(&f->fx.tf_srv, f->fx.tf_srv.ts_dir, extra), 0);
	check_all(f);
}

static int
setup(void **state)
{
	fixture *f = calloc(1, sizeof(*f));
	char     k[400], c[400], *s;

	if (th_fixture_setup(&f->fx, NULL) != 0) {
		return (-1);
	}
	snprintf(k, sizeof(k), "%s/client.key", f->fx.tf_srv.ts_dir);
	snprintf(c, sizeof(c), "%s/client.crt", f->fx.tf_srv.ts_dir);
	if (th_runf(NULL, NULL,
	        "openssl req -x509 -newkey ec -pkeyopt "
	        "ec_paramgen_curve:prime256v1 -nodes -keyout %s -out %s "
	        "-subj /CN=svcfleet-test -days 2",
	        k, c)
	    != 0) {
		return (-1);
	}
	s = th_read_file(k, NULL);
	snprintf(f->key_pem, sizeof(f->key_pem), "%s", s);
	free(s);
	s = th_read_file(c, NULL);
	snprintf(f->cert_pem, sizeof(f->cert_pem), "%s", s);
	free(s);
	*state = f;
	return (0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_credentials_sealed),
	    cmocka_unit_test(test_wrong_key_refused),
	    cmocka_unit_test(test_rotation),
	};
	return (cmocka_run_group_tests(tests, setup, th_teardown));
}
