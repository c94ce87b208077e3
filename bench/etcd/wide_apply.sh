#!/bin/sh
# wide_apply.sh: one FleetService applied onto 20 and onto 50 clusters on
# the etcd store, each copy asking for an address of its own (i18-wide:
# a write that does not fit one etcd transaction is split in parts).
#
#   SF_BENCH_ETCD=http://127.0.0.1:2379 bench/etcd/wide_apply.sh [BUILD] [ROUNDS]
#
# Starts svcfleetd (no reconciler: the copies are written, not synced) on
# the etcd at SF_BENCH_ETCD under a prefix of its own, registers 50
# clusters (API servers that are never called), then ROUNDS times (default
# 5), alternately, applies FleetService wide-20 onto 20 clusters and
# wide-50 onto 50 with `svcfleet apply`, changing an annotation of the
# template each round so every copy is written again, and prints each
# apply's wall time, the clusters its status says are placed and the
# copies that carry this round's annotation (read back one by one).
set -eu
B=${1:-build}
R=${2:-5}
E=${SF_BENCH_ETCD:?set SF_BENCH_ETCD to etcd client URLs}
D=$(mktemp -d)
CLI=${SF_CLI:-$B/client/cli/svcfleet}
"$B/cmd/svcfleetd/svcfleetd" --data-dir "$D/data" --listen "ipc://$D/sock" \
    --http off --no-reconciler --store etcd --etcd-endpoints "$E" \
    --etcd-prefix "/wide-apply/$$/" >"$D/svcfleetd.log" 2>&1 &
P=$!
trap 'kill $P 2>/dev/null; wait $P 2>/dev/null; rm -rf "$D"' EXIT
i=0
while [ ! -s "$D/data/admin.token" ] && [ $i -lt 100 ]; do
	sleep 0.1
	i=$((i + 1))
done
export SVCFLEET_SERVER="ipc://$D/sock" SVCFLEET_TOKEN_FILE="$D/data/admin.token"
echo cluster-token >"$D/ct"
for c in $(seq 0 49); do
	"$CLI" cluster add "w-$c" --api-server https://127.0.0.1:1 \
	    --cluster-token-file "$D/ct" >/dev/null
done
manifest() { # manifest N GEN
	printf 'apiVersion: svcfleet.io/v1\nkind: FleetService\n'
	printf 'metadata: {name: wide-%s, namespace: bench}\nspec:\n' "$1"
	printf '  placement:\n    clusters: ['
	for c in $(seq 0 $(($1 - 1))); do
		[ "$c" -gt 0 ] && printf ', '
		printf 'w-%s' "$c"
	done
	printf ']\n  template:\n    metadata: {annotations: {gen: "%s"}}\n' "$2"
	printf '    spec: {type: LoadBalancer, selector: {app: web}, ports: [{port: 80}]}\n'
	printf '  overrides:\n'
	for c in $(seq 0 $(($1 - 1))); do
		printf '  - clusters: [w-%s]\n' "$c"
		printf '    patch: {spec: {loadBalancerIP: 10.%s.0.%s}}\n' "$1" $((c + 1))
	done
}
for r in $(seq 1 "$R"); do
	for n in 20 50; do
		manifest "$n" "$r" >"$D/m.yaml"
		t0=$(date +%s%N)
		"$CLI" apply -f "$D/m.yaml" >"$D/out" 2>&1 || {
			cat "$D/out"
			exit 1
		}
		t1=$(date +%s%N)
		placed=$("$CLI" get fleetservice "wide-$n" -n bench -o json |
		    grep -o '"placement": *"Placed"' | wc -l)
		# Every copy of this round, read back one by one.
		copies=0
		for c in $(seq 0 $((n - 1))); do
			if "$CLI" get service "wide-$n" --cluster "w-$c" -n bench \
			    -o json | grep -q "\"gen\": *\"$r\""; then
				copies=$((copies + 1))
			fi
		done
		echo "round $r: $n clusters: apply $(((t1 - t0) / 1000000)) ms," \
		    "$placed placed, $copies copies of this round"
	done
done
