#!/bin/sh
# cli_docs_test.sh BUILD SRC: what svcfleet ships beside the binary reads
# right (issue 20, item 12): the man page keeps the spaces between flags
# and their arguments, and bash completion offers each command's own flags
# and -o name. Exit 77 (skipped) when groff or bash is missing.
set -eu
build=$1
src=$2
command -v groff >/dev/null 2>&1 || exit 77
command -v bash >/dev/null 2>&1 || exit 77
fail() {
	echo "FAIL: $*" >&2
	exit 1
}

page=$(groff -man -Tascii -rLL=250n "$src/deploy/man/svcfleet.1" 2>/dev/null | col -b)
for want in \
	'get services [--cluster C] [-n NS | -A] [-l SELECTOR] [--limit N]' \
	'cluster add NAME (--kubeconfig F [--context X] | --api-server URL [--ca-file F] --cluster-token-file F)' \
	'rbac grant (--user U | --group G) ROLE --cluster C [-n NS]' \
	'audit [--cluster C] [-n NS] [--user U] [--since 1h] [--limit N]' \
	'-o table|wide|json|yaml|name'; do
	printf '%s\n' "$page" | grep -qF -- "$want" || fail "man page lacks: $want"
done

# Completion: COMPREPLY for a command line, one word a line.
complete_line() {
	bash -c '. "$1"; shift; COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1));
		_svcfleet; printf "%s\n" "${COMPREPLY[@]}"' \
		_ "$src/deploy/completion/svcfleet.bash" "$build/client/cli/svcfleet" "$@"
}
[ "$(complete_line get svc -o n)" = name ] || fail "-o does not offer name"
out=$(complete_line create service web --)
printf '%s\n' "$out" | grep -qx -- --selector || fail "create lacks --selector"
printf '%s\n' "$out" | grep -qx -- --kubeconfig && fail "create offers cluster add's --kubeconfig"
out=$(complete_line cluster add east --)
printf '%s\n' "$out" | grep -qx -- --cluster-token-file || fail "cluster add lacks --cluster-token-file"
printf '%s\n' "$out" | grep -qx -- --port && fail "cluster add offers --port"
[ "$(complete_line creat)" = create ] || fail "no command completion"
echo ok
