// kubeconfig.c: read a cluster's address, trust and credentials from a
// kubeconfig, as kubectl does, for `svcfleet cluster add --kubeconfig`.
//
// Supported: certificate-authority-data or certificate-authority (a file,
// relative to the kubeconfig), token or tokenFile, client-certificate-data
// and client-key-data or their file forms. Exec plugins, auth providers
// and basic auth are refused with a reason: svcfleet needs a credential it
// can store. insecure-skip-tls-verify is honoured only when the caller
// says so explicitly.
#include <errno.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "model.h"

// Decodes standard base64 (whitespace ignored) into the arena; NULL when
// malformed.
static uint8_t *
base64_decode(sf_arena *a, const char *in, size_t *outlen)
{
	static const char tbl[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopq"
	                          "rstuvwxyz0123456789+/";
	size_t            n     = strlen(in);
	uint8_t          *out   = sf_arena_alloc(a, n / 4 * 3 + 4);
	uint32_t          acc   = 0;
	int               bits = 0, pad = 0;
	size_t            o = 0;

	if (out == NULL) {
		return (NULL);
	}
	for (const char *p = in; *p != '\0'; p++) {
		const char *q;
		if (*p == ' ' || *p == '\n' || *p == '\r' || *p == '\t') {
			continue;
		}
		if (*p == '=') {
			pad++;
			continue;
		}
		if (pad > 0 || (q = strchr(tbl, *p)) == NULL) {
			return (NULL);
		}
		acc = acc << 6 | (uint32_t) (q - tbl);
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			out[o++] = (uint8_t) (acc >> bits);
		}
	}
	*outlen = o;
	return (out);
}

static json_t *
named(json_t *list, const char *name, const char *inner)
{
	for (size_t i = 0; i < json_array_size(list); i++) {
		json_t     *e = json_array_get(list, i);
		const char *n = json_string_value(json_object_get(e, "name"));
		if (n != NULL && strcmp(n, name) == 0) {
			return (json_object_get(e, inner));
		}
	}
	return (NULL);
}

// Reads a file named in the kubeconfig (relative to its directory).
static int
read_rel(cli *c, const char *kcpath, const char *file, sf_buf *out)
{
	char  dir[4096], path[8192];
	char *copy;

	if (file[0] == '/') {
		return (cli_read_file(file, out));
	}
	snprintf(dir, sizeof(dir), "%s", kcpath);
	copy = dirname(dir);
	snprintf(path, sizeof(path), "%s/%s", copy, file);
	(void) c;
	return (cli_read_file(path, out));
}

static const char *
str(json_t *o, const char *key)
{
	return (json_string_value(json_object_get(o, key)));
}

// Sets *data from KEY-data (base64) or KEY (a file); returns 0 or an exit
// code with the error printed.
static int
pem(cli *c, const char *kcpath, json_t *o, const char *key, const char *what,
    ProtobufCBinaryData *data)
{
	char        dkey[80];
	const char *b64, *file;
	sf_buf      b = SF_BUF_INIT;

	snprintf(dkey, sizeof(dkey), "%s-data", key);
	if ((b64 = str(o, dkey)) != NULL) {
		data->data = base64_decode(&c->c_arena, b64, &data->len);
		if (data->data == NULL) {
			return (cli_fail(SF_INVALID_ARGUMENT,
			    "%s: %s is not valid base64", kcpath, dkey));
		}
		return (0);
	}
	if ((file = str(o, key)) == NULL) {
		return (0);
	}
	if (read_rel(c, kcpath, file, &b) != 0) {
		int rv = cli_fail(SF_INVALID_ARGUMENT,
		    "%s: cannot read the %s file %s: %s", kcpath, what, file,
		    strerror(errno));
		sf_buf_fini(&b);
		return (rv);
	}
	data->len  = b.b_len;
	data->data = sf_arena_alloc(&c->c_arena, b.b_len + 1);
	if (data->data != NULL && b.b_len > 0) {
		memcpy(data->data, b.b_data, b.b_len);
	}
	sf_buf_fini(&b);
	return (data->data == NULL
	        ? cli_fail(SF_RESOURCE_EXHAUSTED, "out of memory")
	        : 0);
}

int
cli_kubeconfig_load(cli *c, const char *path, const char *context,
    bool allow_insecure, Svcfleet__V1__Cluster *cl)
{
	sf_buf          text = SF_BUF_INIT;
	sf_manifest_set set  = {0};
	sf_status       st;
	json_t         *kc, *ctx, *cluster, *user;
	const char     *cname, *uname, *v;
	int             rv = 0;

	if (cli_read_file(path, &text) != 0) {
		rv = cli_fail(SF_INVALID_ARGUMENT,
		    "cannot read --kubeconfig %s: %s", path, strerror(errno));
		sf_buf_fini(&text);
		return (rv);
	}
	sf_status_init(&st);
	if (sf_manifest_parse(sf_buf_cstr(&text), text.b_len, path, &set, &st)
	    != 0) {
		rv = cli_fail_sf(&st, NULL);
		goto out;
	}
	if (set.ms_ndocs == 0 || !json_is_object(set.ms_docs[0].md_obj)) {
		rv = cli_fail(
		    SF_INVALID_ARGUMENT, "%s is not a kubeconfig", path);
		goto out;
	}
	kc = set.ms_docs[0].md_obj;
	if (context == NULL
	    && (context = str(kc, "current-context")) == NULL) {
		rv = cli_fail(SF_INVALID_ARGUMENT,
		    "%s has no current-context: give --context", path);
		goto out;
	}
	if ((ctx = named(json_object_get(kc, "contexts"), context, "context"))
	    == NULL) {
		rv = cli_fail(
		    SF_NOT_FOUND, "%s has no context \"%s\"", path, context);
		goto out;
	}
	cname   = str(ctx, "cluster");
	uname   = str(ctx, "user");
	cluster = cname
	    ? named(json_object_get(kc, "clusters"), cname, "cluster")
	    : NULL;
	if (cluster == NULL || (v = str(cluster, "server")) == NULL) {
		rv = cli_fail(SF_INVALID_ARGUMENT,
		    "%s: context \"%s\" names no cluster with a server", path,
		    context);
		goto out;
	}
	cl->api_server = sf_arena_strdup(&c->c_arena, v);
	if ((rv = pem(c, path, cluster, "certificate-authority",
	         "certificate authority", &cl->ca_data))
	    != 0) {
		goto out;
	}
	if (json_is_true(
	        json_object_get(cluster, "insecure-skip-tls-verify"))) {
		if (!allow_insecure) {
			rv = cli_fail(SF_INVALID_ARGUMENT,
			    "%s: cluster \"%s\" skips TLS verification "
			    "(insecure-skip-tls-verify); svcfleet verifies "
			    "API "
			    "servers unless --insecure-skip-tls-verify is "
			    "given",
			    path, cname);
			goto out;
		}
		cl->insecure_skip_verify = true;
	}
	user = uname ? named(json_object_get(kc, "users"), uname, "user")
	             : NULL;
	if (user == NULL) {
		rv = cli_fail(SF_INVALID_ARGUMENT,
		    "%s: context \"%s\" names no user", path, context);
		goto out;
	}
	if (json_object_get(user, "exec") != NULL
	    || json_object_get(user, "auth-provider") != NULL
	    || json_object_get(user, "username") != NULL) {
		rv = cli_fail(SF_INVALID_ARGUMENT,
		    "%s: user \"%s\" authenticates with an exec plugin, auth "
		    "provider or password, which svcfleet cannot store; use a "
		    "kubeconfig with a token or a client certificate",
		    path, uname);
		goto out;
	}
	if ((v = str(user, "token")) != NULL) {
		cl->token = sf_arena_strdup(&c->c_arena, v);
	} else if ((v = str(user, "tokenFile")) != NULL) {
		sf_buf t = SF_BUF_INIT;
		if (read_rel(c, path, v, &t) != 0) {
			rv = cli_fail(SF_INVALID_ARGUMENT,
			    "%s: cannot read tokenFile %s: %s", path, v,
			    strerror(errno));
			sf_buf_fini(&t);
			goto out;
		}
		while (t.b_len > 0
		    && strchr(" \t\r\n", t.b_data[t.b_len - 1]) != NULL) {
			t.b_data[--t.b_len] = '\0';
		}
		cl->token = sf_arena_strdup(&c->c_arena, sf_buf_cstr(&t));
		sf_buf_fini(&t);
	}
	if ((rv = pem(c, path, user, "client-certificate",
	         "client certificate", &cl->client_cert))
	        != 0
	    || (rv = pem(c, path, user, "client-key", "client key",
	            &cl->client_key))
	        != 0) {
		goto out;
	}
	if ((cl->token == NULL || cl->token[0] == '\0')
	    && cl->client_cert.len == 0) {
		rv = cli_fail(SF_INVALID_ARGUMENT,
		    "%s: user \"%s\" has neither a token nor a client "
		    "certificate",
		    path, uname);
	}
out:
	sf_manifest_set_fini(&set);
	sf_status_fini(&st);
	sf_buf_fini(&text);
	return (rv);
}
