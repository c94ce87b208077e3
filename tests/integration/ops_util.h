// ops_util.h: what the operations tests share — HTTP requests with libcurl
// and reading values out of a Prometheus text exposition.
#ifndef SF_TEST_OPS_UTIL_H
#define SF_TEST_OPS_UTIL_H

#include <stdbool.h>

// ot_http does method on url (ca_file: PEM to verify HTTPS with, or NULL).
// Returns the HTTP status (0 when the request failed) and, when body is
// not NULL, the body (malloc'd); ctype (may be NULL) gets the
// Content-Type, malloc'd.
long ot_http(const char *method, const char *url, const char *ca_file,
    char **body, char **ctype);

// ot_get is ot_http("GET", url, NULL, ...) that must answer 200; returns
// the body.
char *ot_get(const char *url);

// ot_metric returns the value of the sample whose name and labels are
// exactly series (`svcfleet_store_services` or
// `x_total{a="1",b="2"}`), or -1 when there is none.
double ot_metric(const char *text, const char *series);

// ot_check_exposition fails the test unless every line of text is a
// HELP, TYPE or sample line of the Prometheus text format, every sample
// belongs to a family declared by TYPE before it, and each histogram's
// buckets are cumulative and end in +Inf equal to _count.
void ot_check_exposition(const char *text);

// ot_have reports whether a program is on PATH.
bool ot_have(const char *prog);

#endif // SF_TEST_OPS_UTIL_H
