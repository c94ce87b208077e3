// kubeconfig.c: read a cluster's address, trust and credentials from a
// kubeconfig, as kubectl does (sf_kube_kubeconfig_load, kube.h), for
// `svcfleet cluster add --kubeconfig`.
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

#include "base64.h"
#include "file.h"
#include "kube.h"
#include "model.h"

// The largest kubeconfig, or file it names, that is read.
#define FILE_MAX (4u << 20)

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

// Reads a file named in the kubeconfig (relative to its directory); NULL
// with errno set when it cannot. The caller frees it.
static char *
read_rel(const char *kcpath, const char *file, size_t *len)
{
	char dir[4096], path[8192];

	if (file[0] == '/') {
		return (sf_file_read(file, FILE_MAX, len));
	}
	snprintf(dir, sizeof(dir), "%s", kcpath);
	snprintf(path, sizeof(path), "%s/%s", dirname(dir), file);
	return (sf_file_read(path, FILE_MAX, len));
}

static const char *
str(json_t *o, const char *key)
{
	return (json_string_value(json_object_get(o, key)));
}

// Sets *data from KEY-data (base64) or KEY (a file), memory from a;
// returns 0 or an SF_* code with st set.
static int
pem(const char *kcpath, json_t *o, const char *key, const char *what,
    sf_arena *a, ProtobufCBinaryData *data, sf_status *st)
{
	char        dkey[80];
	const char *b64, *file;
	char       *text;
	size_t      len;

	snprintf(dkey, sizeof(dkey), "%s-data", key);
	if ((b64 = str(o, dkey)) != NULL) {
		size_t   n   = strlen(b64);
		uint8_t *out = sf_arena_alloc(a, n / 4 * 3 + 3);
		ssize_t  got;
		if (out == NULL) {
			return (
			    sf_status_set(st, SF_RESOURCE_EXHAUSTED, NULL));
		}
		if ((got = sf_base64_decode(
		         out, n / 4 * 3 + 3, b64, n, SF_B64_SPACE))
		    < 0) {
			return (sf_status_set(st, SF_INVALID_ARGUMENT,
			    "%s: %s is not valid base64", kcpath, dkey));
		}
		data->data = out;
		data->len  = (size_t) got;
		return (0);
	}
	if ((file = str(o, key)) == NULL) {
		return (0);
	}
	if ((text = read_rel(kcpath, file, &len)) == NULL) {
		return (sf_status_set(st, SF_INVALID_ARGUMENT,
		    "%s: cannot read the %s file %s: %s", kcpath, what, file,
		    strerror(errno)));
	}
	data->len  = len;
	data->data = sf_arena_alloc(a, len + 1);
	if (data->data != NULL && len > 0) {
		memcpy(data->data, text, len);
	}
	free(text);
	return (data->data == NULL
	        ? sf_status_set(st, SF_RESOURCE_EXHAUSTED, NULL)
	        : 0);
}

// Sets cl->token from the user's token or tokenFile (blanks at its end
// trimmed), memory from a.
static int
token(const char *kcpath, json_t *user, sf_arena *a, Svcfleet__V1__Cluster *cl,
    sf_status *st)
{
	const char *v;
	char       *t;
	size_t      n;

	if ((v = str(user, "token")) != NULL) {
		cl->token = sf_arena_strdup(a, v);
	} else if ((v = str(user, "tokenFile")) != NULL) {
		if ((t = read_rel(kcpath, v, &n)) == NULL) {
			return (sf_status_set(st, SF_INVALID_ARGUMENT,
			    "%s: cannot read tokenFile %s: %s", kcpath, v,
			    strerror(errno)));
		}
		while (n > 0 && strchr(" \t\r\n", t[n - 1]) != NULL) {
			t[--n] = '\0';
		}
		cl->token = sf_arena_strdup(a, t);
		free(t);
	} else {
		return (0);
	}
	return (cl->token == NULL
	        ? sf_status_set(st, SF_RESOURCE_EXHAUSTED, NULL)
	        : 0);
}

int
sf_kube_kubeconfig_load(const char *path, const char *context,
    bool allow_insecure, sf_arena *a, Svcfleet__V1__Cluster *cl, sf_status *st)
{
	sf_manifest_set set = {0};
	json_t         *kc, *ctx, *cluster, *user;
	const char     *cname, *uname, *v;
	char           *text;
	size_t          len;
	int             rv = 0;

	if ((text = sf_file_read(path, FILE_MAX, &len)) == NULL) {
		return (sf_status_set(st, SF_INVALID_ARGUMENT,
		    "cannot read the kubeconfig %s: %s", path,
		    strerror(errno)));
	}
	if ((rv = sf_manifest_parse(text, len, path, &set, st)) != 0) {
		goto out;
	}
	if (set.ms_ndocs == 0 || !json_is_object(set.ms_docs[0].md_obj)) {
		rv = sf_status_set(
		    st, SF_INVALID_ARGUMENT, "%s is not a kubeconfig", path);
		goto out;
	}
	kc = set.ms_docs[0].md_obj;
	if (context == NULL
	    && (context = str(kc, "current-context")) == NULL) {
		rv = sf_status_set(st, SF_INVALID_ARGUMENT,
		    "%s has no current-context: give --context", path);
		goto out;
	}
	if ((ctx = named(json_object_get(kc, "contexts"), context, "context"))
	    == NULL) {
		rv = sf_status_set(st, SF_NOT_FOUND,
		    "%s has no context \"%s\"", path, context);
		goto out;
	}
	cname   = str(ctx, "cluster");
	uname   = str(ctx, "user");
	cluster = cname
	    ? named(json_object_get(kc, "clusters"), cname, "cluster")
	    : NULL;
	if (cluster == NULL || (v = str(cluster, "server")) == NULL) {
		rv = sf_status_set(st, SF_INVALID_ARGUMENT,
		    "%s: context \"%s\" names no cluster with a server", path,
		    context);
		goto out;
	}
	if ((cl->api_server = sf_arena_strdup(a, v)) == NULL) {
		rv = sf_status_set(st, SF_RESOURCE_EXHAUSTED, NULL);
		goto out;
	}
	if ((rv = pem(path, cluster, "certificate-authority",
	         "certificate authority", a, &cl->ca_data, st))
	    != 0) {
		goto out;
	}
	if (json_is_true(
	        json_object_get(cluster, "insecure-skip-tls-verify"))) {
		if (!allow_insecure) {
			rv = sf_status_set(st, SF_INVALID_ARGUMENT,
			    "%s: cluster \"%s\" skips TLS verification "
			    "(insecure-skip-tls-verify); svcfleet verifies "
			    "API servers unless --insecure-skip-tls-verify is "
			    "given",
			    path, cname);
			goto out;
		}
		cl->insecure_skip_verify = true;
	}
	user = uname ? named(json_object_get(kc, "users"), uname, "user")
	             : NULL;
	if (user == NULL) {
		rv = sf_status_set(st, SF_INVALID_ARGUMENT,
		    "%s: context \"%s\" names no user", path, context);
		goto out;
	}
	if (json_object_get(user, "exec") != NULL
	    || json_object_get(user, "auth-provider") != NULL
	    || json_object_get(user, "username") != NULL) {
		rv = sf_status_set(st, SF_INVALID_ARGUMENT,
		    "%s: user \"%s\" authenticates with an exec plugin, auth "
		    "provider or password, which svcfleet cannot store; use a "
		    "kubeconfig with a token or a client certificate",
		    path, uname);
		goto out;
	}
	if ((rv = token(path, user, a, cl, st)) != 0
	    || (rv = pem(path, user, "client-certificate",
	            "client certificate", a, &cl->client_cert, st))
	        != 0
	    || (rv = pem(path, user, "client-key", "client key", a,
	            &cl->client_key, st))
	        != 0) {
		goto out;
	}
	if ((cl->token == NULL || cl->token[0] == '\0')
	    && cl->client_cert.len == 0) {
		rv = sf_status_set(st, SF_INVALID_ARGUMENT,
		    "%s: user \"%s\" has neither a token nor a client "
		    "certificate",
		    path, uname);
	}
out:
	sf_manifest_set_fini(&set);
	free(text);
	return (rv);
}
