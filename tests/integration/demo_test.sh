#!/bin/sh
# demo_test.sh BUILD SRC: reconciler/demo.sh as a new user meets it (issue
# 20 items 14-16). With its HTTP port taken, the demo stops with
# svcfleetd's own words (the address, the knob to change it), not the
# CLI's "Connection refused", and svcfleetd created nothing; on a free port
# its banner names the web console, which answers there.
set -eu
BUILD=$1
SRC=$2
[ -x "$BUILD/tests/kubefake/kubefake" ] || exit 77
command -v python3 >/dev/null 2>&1 || exit 77
T=$(mktemp -d "${TMPDIR:-/tmp}/sf-demo-XXXXXX")
PID=
cleanup() {
	if [ -n "$PID" ]; then
		kill "$PID" 2>/dev/null || true
		wait "$PID" 2>/dev/null || true
	fi
	rm -rf "$T"
}
trap cleanup EXIT
fail() {
	echo "FAIL: $*" >&2
	for f in "$T"/*.out "$T"/*.err; do
		[ -e "$f" ] && { echo "--- $f"; cat "$f"; } >&2
	done
	exit 1
}
# A free loopback port below the kernel's ephemeral range (32768 and up on
# Debian): a port the kernel handed out and this test released could be
# handed out again, to another test's listener or to any outgoing
# connection, before the demo binds it (a fresh-clone run met exactly
# that). Below the range only another test picking at random can clash.
port() {
	python3 -c 'import random, socket
while True:
    p = random.randrange(20000, 32000)
    s = socket.socket()
    try:
        s.bind(("127.0.0.1", p))
    except OSError:
        continue
    print(p)
    break'
}
E=$(port)
W=$(port)
H=$(port)
export SF_BIN_DIR="$BUILD" DEMO_PORT_EAST="$E" DEMO_PORT_WEST="$W"

# 1. The HTTP port is taken (by cluster east's API server, started first).
if DEMO_DIR="$T/a" DEMO_HTTP_PORT="$E" timeout 60 sh "$SRC/reconciler/demo.sh" \
	>"$T/a.out" 2>"$T/a.err"; then
	fail "the demo started with its HTTP port taken"
fi
grep -qF "svcfleetd: --http: INVALID_ARGUMENT: cannot serve HTTP on 127.0.0.1:$E: Address already in use" "$T/a.err" ||
	fail "svcfleetd's error is not shown"
grep -q 'DEMO_HTTP_PORT=PORT' "$T/a.err" || fail "the HTTP port knob is not named"
! grep -q 'Connection refused' "$T/a.err" || fail "the CLI's error hides svcfleetd's"
[ ! -e "$T/a/data" ] || fail "svcfleetd created its data directory before failing"

# 2. A free port: the banner names the console, which serves there.
DEMO_DIR="$T/b" DEMO_HTTP_PORT="$H" sh "$SRC/reconciler/demo.sh" \
	>"$T/b.out" 2>"$T/b.err" &
PID=$!
i=0
until grep -q 'Ctrl-C stops everything' "$T/b.out"; do
	kill -0 "$PID" 2>/dev/null || fail "the demo stopped"
	i=$((i + 1))
	[ $i -lt 600 ] || fail "the demo did not start within 60 s"
	sleep 0.1
done
grep -qF "Web console: http://127.0.0.1:$H/ (sign in with the token in" "$T/b.out" ||
	fail "the banner does not name the web console"
curl -sf "http://127.0.0.1:$H/healthz" >/dev/null || fail "nothing serves on the console's port"
grep -qF "web console http://127.0.0.1:$H/" "$T/b/svcfleetd.log" ||
	fail "svcfleetd's log does not name the web console"
kill "$PID"
wait "$PID" 2>/dev/null || true
PID=
echo "ok: demo fails with svcfleetd's words on a taken port and names its console"
