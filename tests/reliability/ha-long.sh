#!/bin/sh
# ha-long.sh: the long run of ha_test (not in CI): 25 cycles by default of
# 3 etcd members, 2 svcfleetd replicas, writers with both URLs, a follower
# per replica and 2 kubefake clusters; each cycle kills -9 the etcd leader
# and a replica (whose reconciler holds a cluster) under writes, restarts
# both, and checks every acknowledged write, one audit event per request
# id, the reconciler takeover, the followers and convergence (see
# tests/integration/ha_test.c). Prints the failover and takeover times of
# each cycle.
#
#   tests/reliability/ha-long.sh [BUILD-DIR] [CYCLES] [SECONDS-AFTER-CHAOS]
set -eu
cd "$(dirname "$0")/../.."
dir=${1:-build}
cycles=${2:-25}
extra=${3:-2}
[ -x "$dir/tests/integration/ha_test" ] ||
	cmake --build "$dir" --target ha_test svcfleetd kubefake
export SF_BIN_DIR="$PWD/$dir"
log=$(mktemp "${TMPDIR:-/tmp}/sf-ha-long-XXXXXX")
failed=0
i=1
while [ "$i" -le "$cycles" ]; do
	if "$dir/tests/integration/ha_test" "$extra" >"$log" 2>&1; then
		r=passed
	else
		r=FAILED
		failed=$((failed + 1))
		cp "$log" "$log.cycle$i"
	fi
	fo=$(grep 'failover' "$log" | sed 's/.*writer): //')
	to=$(grep 'reconciler takeover' "$log" | sed 's/.*): //')
	echo "cycle $i: $r; $fo; reconciler takeover ${to:-none}"
	i=$((i + 1))
done
rm -f "$log"
echo "ha-long: $cycles cycles, $failed failed"
[ "$failed" -eq 0 ]
