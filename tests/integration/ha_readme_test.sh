#!/bin/sh
# ha_readme_test.sh BUILD SRC: runs the commands of README.md's "High
# availability" section exactly as written (the block between the
# ha-readme:begin and ha-readme:end markers), on loopback in a fresh
# directory, with the built svcfleetd and svcfleet first on the PATH, and
# checks what they print. Exit 77 (skipped) without etcd or curl.
set -eu
BUILD=$1
SRC=$2
for tool in etcd curl; do
	if ! command -v $tool >/dev/null 2>&1; then
		echo "skip: $tool is not installed"
		exit 77
	fi
done
# The README's ports are fixed: ctest's RESOURCE_LOCK keeps this test
# alone within one suite, this lock across suites run side by side on one
# machine (a stress-ci lane beside another failed to bind them). etcdfix never
# picks ports in 21000-23999.
exec 9>"${TMPDIR:-/tmp}/svcfleet-ha-readme.lock"
flock 9
T=$(mktemp -d "${TMPDIR:-/tmp}/sf-hareadme-XXXXXX")
cleanup() {
	for f in "$T"/ha/*.pid; do
		[ -f "$f" ] && kill -9 "$(cat "$f")" 2>/dev/null || true
	done
	if [ "${KEEP:-0}" = 1 ]; then echo "kept $T"; else rm -rf "$T"; fi
}
trap cleanup EXIT
sed -n '/<!-- ha-readme:begin -->/,/<!-- ha-readme:end -->/p' "$SRC/README.md" |
	grep -v '^<!--' | grep -v '^```' >"$T/readme.sh"
[ -s "$T/readme.sh" ] || { echo "FAIL: no ha-readme block in README.md"; exit 1; }
cd "$T"
export PATH="$BUILD/cmd/svcfleetd:$BUILD/client/cli:$PATH"
if ! timeout 120 sh -eu readme.sh >out.txt 2>err.txt; then
	echo "FAIL: the README's commands failed:"
	cat out.txt err.txt
	for f in ha/*.log; do echo "== $f"; tail -20 "$f"; done
	exit 1
fi
cat out.txt
# Exactly one replica bootstrapped the admin token.
n=$(ls ha/r1/admin.token ha/r2/admin.token 2>/dev/null | wc -l)
[ "$n" = 1 ] || { echo "FAIL: $n admin.token files, want 1"; exit 1; }
# Both Services were created and read back through the surviving replica.
grep -q 'web-front' out.txt || { echo "FAIL: web-front not listed"; exit 1; }
grep -q 'api-back' out.txt || { echo "FAIL: api-back not listed"; exit 1; }
grep -q '^svcfleet_etcd_up 1' out.txt || { echo "FAIL: svcfleet_etcd_up is not 1"; exit 1; }
echo "ha_readme_test: passed"
