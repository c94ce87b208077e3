// gw_util.c: see gw_util.h.
#include "gw_util.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <cmocka.h>

void
gw_req(gw_resp *r, ct_env *e, const char *method, const char *path,
    const char *token, const char *ctype, const char *body, const char *extra)
{
	char  cmd[4096], auth[512] = "", type[256] = "";
	char *out = NULL, *sep;

	memset(r, 0, sizeof(*r));
	if (token != NULL) {
		snprintf(auth, sizeof(auth), "-H 'Authorization: Bearer %s'",
		    token);
	}
	if (ctype != NULL) {
		snprintf(type, sizeof(type), "-H 'Content-Type: %s'", ctype);
	}
	// -i: the head, then the body; the status from -w after a marker.
	snprintf(cmd, sizeof(cmd),
	    "curl -s -i -X %s %s %s %s %s -w '\\n@@%%{http_code}' '%s%s'",
	    method, auth, type, body != NULL ? "--data-binary @-" : "",
	    extra != NULL ? extra : "", e->ce_srv.ts_http, path);
	th_run(cmd, body, &out, NULL);
	if (out == NULL) {
		return;
	}
	if ((sep = strstr(out, "\n@@")) != NULL) {
		r->gr_code = atoi(sep + 3);
		*sep       = '\0';
	}
	if ((sep = strstr(out, "\r\n\r\n")) != NULL) {
		*sep          = '\0';
		r->gr_headers = strdup(out);
		r->gr_body    = strdup(sep + 4);
	} else {
		r->gr_headers = strdup(out);
		r->gr_body    = strdup("");
	}
	free(out);
	r->gr_json = json_loads(r->gr_body, 0, NULL);
}

void
gw_resp_fini(gw_resp *r)
{
	free(r->gr_headers);
	free(r->gr_body);
	json_decref(r->gr_json);
	memset(r, 0, sizeof(*r));
}

const char *
gw_header(const gw_resp *r, const char *name)
{
	static char value[512];
	size_t      n = strlen(name);

	for (const char *p = r->gr_headers; p != NULL && *p != '\0';) {
		const char *eol = strstr(p, "\r\n");
		size_t      len = eol != NULL ? (size_t) (eol - p) : strlen(p);
		if (len > n + 1 && strncasecmp(p, name, n) == 0
		    && p[n] == ':') {
			const char *v = p + n + 1;
			while (*v == ' ') {
				v++;
			}
			snprintf(value, sizeof(value), "%.*s",
			    (int) (len - (size_t) (v - p)), v);
			return (value);
		}
		p = eol != NULL ? eol + 2 : NULL;
	}
	return (NULL);
}

static const char *
str_of(const json_t *j, const char *key)
{
	const char *s = json_string_value(json_object_get(j, key));
	return (s != NULL ? s : "");
}

void
gw_status_ok(const gw_resp *r, int code, const char *reason)
{
	const json_t *j = r->gr_json;
	if (r->gr_code != code || j == NULL
	    || strcmp(str_of(j, "kind"), "Status") != 0
	    || json_integer_value(json_object_get(j, "code")) != code
	    || (reason != NULL && strcmp(str_of(j, "reason"), reason) != 0)) {
		fail_msg("want a Status %d %s, got HTTP %d:\n%s\n%s", code,
		    reason ? reason : "", r->gr_code, r->gr_headers,
		    r->gr_body);
	}
}

char *
gw_token(ct_env *e, const char *user, const char *role, const char *cluster,
    const char *ns)
{
	char *tok               = ct_ok(e, "token create %s", user);
	tok[strcspn(tok, "\n")] = '\0';
	if (role != NULL) {
		free(ct_ok(e, "rbac grant --user %s %s --cluster %s%s%s", user,
		    role, cluster, ns != NULL ? " -n " : "", ns ? ns : ""));
	}
	return (tok);
}
