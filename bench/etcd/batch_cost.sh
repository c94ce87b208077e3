#!/bin/bash
# batch_cost.sh BUILD [SECONDS] [ROUNDS] [CLIENTS]: what etcd's CPU costs
# per durable create when creates go one per transaction and when several
# share one (i15-batch: the store's group commit). bench/etcd/etcd_create
# sends the store's create transaction straight to a 3-member etcd on
# loopback (data on tmpfs when /dev/shm exists), with CLIENTS (8) closed-
# loop clients and 1, 4 or 16 creates per transaction, the cells
# interleaved for ROUNDS (3) rounds of SECONDS (3) each. Prints one line
# per cell (rate, latency of a transaction, the 3 members' CPU per create)
# and the medians, and each batch size's CPU per create as a ratio to one
# per transaction in the same round.
set -eu
BUILD=$(cd "${1:-build}" && pwd)
SECS=${2:-3}
ROUNDS=${3:-3}
CLIENTS=${4:-8}
X=$BUILD/bench/etcd/etcd_create
command -v etcd >/dev/null || { echo "skip: no etcd"; exit 77; }
base=/dev/shm
[ -w $base ] || base=${TMPDIR:-/tmp}
W=$(mktemp -d "$base/sf-batchcost-XXXXXX")
pids=()
EPIDS=()
cleanup() { for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null || true; done; rm -rf "$W"; }
trap cleanup EXIT
. "$(dirname "$0")/etcd3.sh"
ticks() { local t=0 p; for p in "$@"; do t=$((t + $(awk '{print $14 + $15}' /proc/$p/stat))); done; echo $t; }
hz=$(getconf CLK_TCK)
RAW=$W/raw.txt
: >"$RAW"
for r in $(seq "$ROUNDS"); do
	for b in 1 4 16; do
		e0=$(ticks "${EPIDS[@]}")
		out=$("$X" "$EP" "$CLIENTS" "$SECS" /svcfleet-bench/ "$b")
		e1=$(ticks "${EPIDS[@]}")
		calls=$(sed -n 's/.*calls=\([0-9]*\).*/\1/p' <<<"$out")
		us=$(((e1 - e0) * 1000000 / hz / (calls > 0 ? calls : 1)))
		echo "round $r, $b per txn: $out etcd_us_per_create=$us"
		echo "$r $b $(sed -n 's/.*rate=\([^ ]*\).*/\1/p' <<<"$out") $us" >>"$RAW"
	done
done
python3 - "$RAW" <<'PY'
import sys, collections
c = collections.defaultdict(dict)
for line in open(sys.argv[1]):
    r, b, rate, us = line.split()
    c[int(b)][int(r)] = (float(rate), float(us))
def med(xs):
    xs = sorted(xs)
    return xs[(len(xs) - 1) // 2]
print()
print("| creates per transaction | rate/s (median) | etcd CPU per create, µs (median) | CPU per create / one per txn, per round; median |")
print("| --- | --- | --- | --- |")
for b in sorted(c):
    rs = [round(c[b][r][1] / c[1][r][1], 2) for r in sorted(c[b]) if r in c[1]]
    print(f"| {b} | {med([x[0] for x in c[b].values()]):.0f} | {med([x[1] for x in c[b].values()]):.0f} | {' '.join(map(str, rs))}; **{med(rs)}** |")
PY
