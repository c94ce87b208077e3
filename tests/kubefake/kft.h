// kft.h: test support for kubefake — start one on a free port in its own
// temporary directory, and talk to it over HTTPS with libcurl (verifying
// its generated CA).
#ifndef KFT_H
#define KFT_H

#include <curl/curl.h>
#include <jansson.h>
#include <stdbool.h>
#include <sys/types.h>

#define KFT_TOKEN    "kft-admin-token"
#define KFT_RO_TOKEN "kft-readonly-token"

typedef struct kft {
	pid_t k_pid;
	int   k_port;
	char  k_dir[256];   // temporary directory (removed by kft_cleanup)
	char  k_state[300]; // k_dir/state
	char  k_url[128];   // https://127.0.0.1:PORT
	char  k_ca[320];    // k_state/ca.crt
	char  k_kubeconfig[320];
} kft;

// kft_start runs kubefake with --state-dir, both test tokens and a
// kubeconfig, plus extra (NULL-terminated, may be NULL). Reuses k_dir
// when it is already set (a restart). Returns 0 or -1.
int kft_start(kft *k, const char *const *extra);
// kft_stop sends SIGTERM and waits; returns the exit status (0 clean).
int kft_stop(kft *k);
// kft_kill sends SIGKILL and waits (a crash: nothing is flushed).
void kft_kill(kft *k);
// kft_cleanup removes the temporary directory.
void kft_cleanup(kft *k);

typedef struct kft_resp {
	long     r_code;
	char    *r_body;
	json_t  *r_json; // NULL when the body is not JSON
	char     r_retry_after[32];
	char     r_warning[1024];
	CURLcode r_curl; // transport result
} kft_resp;

void kft_resp_fini(kft_resp *r);

// kft_http_version: the CURLOPT_HTTP_VERSION kft's handles use — HTTP/2 by
// ALPN (CURL_HTTP_VERSION_2TLS), or HTTP/1.1 when KFT_HTTP=1.1 is set in
// the environment, so that one test runs over either protocol.
long kft_http_version(void);

// kft_req performs one request with token (NULL: none). ctype may be
// NULL (application/json when body is set). Returns r->r_curl.
CURLcode kft_req(kft *k, CURL *h, const char *token, const char *method,
    const char *path, const char *ctype, const char *body, kft_resp *r);
// kft_do: kft_req with the admin token on a fresh handle.
CURLcode kft_do(kft *k, const char *method, const char *path,
    const char *ctype, const char *body, kft_resp *r);
// kft_faults posts a faults JSON document.
int kft_faults(kft *k, const char *json);
// kft_stat reads a number from /_kubefake/stats by dotted path.
long long kft_stat(kft *k, const char *path);

// kft_watch collects the lines of a watch stream until it ends (use
// timeoutSeconds in path). Returns them as a JSON array of events.
json_t *kft_watch(kft *k, const char *path, const char *accept);

// kft_jstr: dotted-path string lookup ("metadata.name"), NULL if absent.
const char *kft_jstr(json_t *o, const char *path);
json_t     *kft_jget(json_t *o, const char *path);

#endif // KFT_H
