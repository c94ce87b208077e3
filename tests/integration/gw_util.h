// gw_util.h: what the JSON gateway's tests share — HTTP requests made with
// the curl program against a private svcfleetd, answers split into
// status, headers and (JSON) body.
#ifndef SF_TEST_GW_UTIL_H
#define SF_TEST_GW_UTIL_H

#include <jansson.h>

#include "cli_util.h"

#define GW_API "/apis/svcfleet.io/v1"

typedef struct gw_resp {
	int     gr_code;    // HTTP status, 0 when curl failed
	char   *gr_headers; // the response head, "\r\n"-separated
	char   *gr_body;
	json_t *gr_json; // NULL when the body is not JSON
} gw_resp;

// gw_req runs curl: method on e's HTTP endpoint + path, with "Bearer
// token" (NULL: no Authorization header), Content-Type ctype (NULL: none)
// and body (NULL: none), plus extra curl words (NULL: none, e.g. "-H
// 'X-Request-Id: r1'" or "--cacert F"). Fills r; free with gw_resp_fini.
void gw_req(gw_resp *r, ct_env *e, const char *method, const char *path,
    const char *token, const char *ctype, const char *body, const char *extra);
void gw_resp_fini(gw_resp *r);

// gw_header returns a response header's value (static buffer) or NULL.
const char *gw_header(const gw_resp *r, const char *name);

// gw_status_ok checks r is a Kubernetes Status with code and reason (NULL:
// any) and fails the test with the answer otherwise.
void gw_status_ok(const gw_resp *r, int code, const char *reason);

// gw_token creates a token for user (via the CLI) and returns it
// (malloc'd); role/ns (may be NULL) grant that role in cluster/ns.
char *gw_token(ct_env *e, const char *user, const char *role,
    const char *cluster, const char *ns);

#endif // SF_TEST_GW_UTIL_H
