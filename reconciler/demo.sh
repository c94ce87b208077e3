#!/bin/sh
# demo.sh: svcfleetd with two kubefake "clusters" (east, west) registered,
# so Services created with svcfleet appear in them and can be poked with
# kubectl. Run through `./dev.sh demo` (which builds first). Everything
# lives in ./svcfleet-demo; Ctrl-C stops it all.
#
# Knobs (environment): DEMO_PORT_EAST, DEMO_PORT_WEST (the clusters' API
# servers, 16443 and 16444), DEMO_HTTP_PORT (svcfleetd's HTTP endpoint:
# the web console, 7071), DEMO_DIR (./svcfleet-demo).
set -eu
cd "$(dirname "$0")/.."
B=${SF_BIN_DIR:-$PWD/build}
D=${DEMO_DIR:-$PWD/svcfleet-demo}
HTTP_PORT=${DEMO_HTTP_PORT:-7071}
KUBEFAKE=$B/tests/kubefake/kubefake
SVCFLEETD=$B/cmd/svcfleetd/svcfleetd
SVCFLEET=$B/client/cli/svcfleet

for b in "$KUBEFAKE" "$SVCFLEETD" "$SVCFLEET"; do
	[ -x "$b" ] || { echo "demo: $b is not built (./dev.sh build)" >&2; exit 1; }
done
mkdir -p "$D"
pids=""
cleanup() {
	for p in $pids; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
}
trap cleanup EXIT INT TERM

# Two clusters, each with a MetalLB pool of its own, on fixed ports so that
# their state (objects, CA, token) and svcfleet's records of them survive
# restarts of the demo.
start_cluster() { # name port pool
	rm -f "$D/$1.out"
	"$KUBEFAKE" --listen "127.0.0.1:$2" --state-dir "$D/$1" \
	    --write-kubeconfig "$D/$1.kubeconfig" --metallb-pool "$3" \
	    --lb-delay-ms 1500 --log-level warn >"$D/$1.out" 2>"$D/$1.log" &
	pids="$pids $!"
	for _ in $(seq 100); do
		grep -q '^ready ' "$D/$1.out" 2>/dev/null && return 0
		sleep 0.1
	done
	echo "demo: kubefake $1 did not start:" >&2
	cat "$D/$1.log" >&2
	exit 1
}
start_cluster east "${DEMO_PORT_EAST:-16443}" default=192.168.10.0/28
start_cluster west "${DEMO_PORT_WEST:-16444}" default=192.168.20.0/28

"$SVCFLEETD" --data-dir "$D/data" --listen "ipc://$D/svcfleet.sock" \
    --http "127.0.0.1:$HTTP_PORT" 2>"$D/svcfleetd.log" &
daemon=$!
pids="$pids $daemon"
export SVCFLEET_SERVER="ipc://$D/svcfleet.sock"
export SVCFLEET_TOKEN_FILE="$D/data/admin.token"
# Until svcfleetd answers; when it stops instead (a port in use, ...), its
# own words, not the CLI's "Connection refused".
up=
for _ in $(seq 200); do
	if ! kill -0 "$daemon" 2>/dev/null; then
		break
	fi
	if [ -s "$D/data/admin.token" ] && "$SVCFLEET" version >/dev/null 2>&1; then
		up=1
		break
	fi
	sleep 0.1
done
if [ -z "$up" ]; then
	echo "demo: svcfleetd did not start (log: $D/svcfleetd.log):" >&2
	grep -v ' level=info ' "$D/svcfleetd.log" >&2 || cat "$D/svcfleetd.log" >&2
	case $(cat "$D/svcfleetd.log") in
	*"cannot serve HTTP"*)
		echo "demo: choose another HTTP port with DEMO_HTTP_PORT=PORT ./dev.sh demo" >&2 ;;
	esac
	exit 1
fi
for c in east west; do
	"$SVCFLEET" cluster get "$c" >/dev/null 2>&1 ||
	    "$SVCFLEET" cluster add "$c" --kubeconfig "$D/$c.kubeconfig" >/dev/null
done

cat <<EOF
svcfleet demo: svcfleetd with clusters "east" and "west" (kubefake), all in
$D.

Web console: http://127.0.0.1:$HTTP_PORT/ (sign in with the token in
$SVCFLEET_TOKEN_FILE)

In another terminal:

  export PATH=$B/client/cli:\$PATH
  export SVCFLEET_SERVER=$SVCFLEET_SERVER SVCFLEET_TOKEN_FILE=$SVCFLEET_TOKEN_FILE
  svcfleet cluster list
  svcfleet create service web-front --cluster east --type nodeport --selector app=web --port http:80:8080
  svcfleet create service edge --cluster west --type loadbalancer --lb-pool default --selector app=edge --port 443
  svcfleet wait service edge --cluster west --for synced
  svcfleet get services -A -o wide
  kubectl --kubeconfig $D/east.kubeconfig get services -o wide
  kubectl --kubeconfig $D/east.kubeconfig delete service web-front    # svcfleet puts it back
  svcfleet describe service web-front --cluster east
  svcfleet delete service web-front --cluster east --wait

Ctrl-C stops everything (logs: $D/*.log).
EOF
wait
