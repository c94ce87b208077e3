// kube_testutil.h: what tests of kube/ and reconciler/ share (test-only).
#ifndef SF_KUBE_TESTUTIL_H
#define SF_KUBE_TESTUTIL_H

#include <jansson.h>

// sf_kube_test_applied turns o, an apply body, into what an API server
// holds after applying it as manager: a uid, resourceVersion rv,
// managedFields with the body's FieldsV1 as structured-merge-diff records
// them (selector atomic, ports a map keyed by port and protocol), and a
// clusterIP.
void sf_kube_test_applied(json_t *o, const char *manager, const char *rv);

#endif
