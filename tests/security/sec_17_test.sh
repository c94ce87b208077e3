#!/bin/sh
# sec_17_test.sh BUILD SRC (issue 17, finding 17): deploy/kubernetes has
# no plaintext listener, reads the sealing key from its Secret in the
# format svcfleetd takes (a key made as secret.yaml says starts svcfleetd;
# its placeholder does not), keeps /metrics off the HTTPS listener, and
# has a NetworkPolicy. The checks live with the other deploy/ checks in
# tests/integration/ops_deploy_test.sh; this runs its Kubernetes part.
SF_DEPLOY_PARTS=kubernetes exec sh "$2/tests/integration/ops_deploy_test.sh" "$1" "$2"
