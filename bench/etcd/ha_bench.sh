#!/bin/bash
# ha_bench.sh BUILD [SECONDS] [ROUNDS]: svcfleetd on a 3-member etcd beside
# svcfleetd on LMDB, same machine, measured in interleaved rounds with
# bench/rpc_bench (issue 15): GetService p50 (1 and 8 clients), a page of
# ListServices p50, and durable CreateService with 8 and 32 clients, the
# latter also beside its baseline: the store's create transaction sent
# straight to the same etcd by bench/etcd/etcd_create (target: svcfleetd
# >= 70 % of it), run right after each svcfleetd-on-etcd create cell and
# compared with it. etcd's
# data is on tmpfs when /dev/shm exists (etcd 3.4 has no "no fsync"), the
# LMDB store on the build's disk: read the create rows with that in mind.
# Prints one line per measurement and a Markdown table of medians.
# HA_BENCH_FILL: Services stored in each before measuring (2000; run-all
# --quick stores fewer).
# HA_BENCH_BASE=BUILD2 (i15-perf3): a second build measured in the same
# run, before/after: its svcfleetd on the same etcd (key prefix
# /svcfleet-base/) and on LMDB of its own, its cells interleaved with
# BUILD's (the order swapped every round). Then two more tables: each
# build's ratios round by round (their spread) and their medians.
# Every svcfleetd and etcd_create talk to the first endpoint: the script
# waits for etcd to elect a leader before starting them, so none of them
# moves to another member at start (a follower forwards each write to the
# leader: which member a client talks to changes its rate).
set -eu
BUILD=$(cd "${1:-build}" && pwd)
SECS=${2:-4}
ROUNDS=${3:-3}
FILL=${HA_BENCH_FILL:-2000}
BASE=${HA_BENCH_BASE:-}
[ -z "$BASE" ] || BASE=$(cd "$BASE" && pwd)
X=$BUILD/bench/etcd/etcd_create
command -v etcd >/dev/null || { echo "skip: no etcd"; exit 77; }
base=/dev/shm
[ -w $base ] || base=${TMPDIR:-/tmp}
W=$(mktemp -d "$base/sf-habench-XXXXXX")
L=$(mktemp -d "${TMPDIR:-/tmp}/sf-habench-lmdb-XXXXXX")
pids=()
EPIDS=()
declare -A DPID
cleanup() { for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null || true; done; rm -rf "$W" "$L"; }
trap cleanup EXIT
. "$(dirname "$0")/etcd3.sh"
# Variants: "new" is BUILD, "base" is HA_BENCH_BASE.
VARS=(new)
[ -z "$BASE" ] || VARS+=(base)
declare -A BIN PREFIX
BIN[new]=$BUILD
BIN[base]=$BASE
PREFIX[new]=/svcfleet/
PREFIX[base]=/svcfleet-base/
for v in "${VARS[@]}"; do
	D=${BIN[$v]}/cmd/svcfleetd/svcfleetd
	mkdir -p "$W/$v" "$L/$v"
	"$D" --store etcd --etcd-endpoints "$EP" --etcd-prefix "${PREFIX[$v]}" \
		--data-dir "$W/$v/d" --listen "ipc://$W/$v/e.sock" \
		--http off --no-reconciler >"$W/$v/d.log" 2>&1 &
	pids+=($!)
	DPID[$v/etcd]=$!
	"$D" --data-dir "$L/$v/d" --listen "ipc://$L/$v/l.sock" --http off \
		--no-reconciler >"$L/$v/d.log" 2>&1 &
	pids+=($!)
	DPID[$v/lmdb]=$!
done
for v in "${VARS[@]}"; do
	CLI=${BIN[$v]}/client/cli/svcfleet
	for pair in "ipc://$W/$v/e.sock $W/$v/d" "ipc://$L/$v/l.sock $L/$v/d"; do
		url=${pair% *}
		dir=${pair#* }
		until [ -s "$dir/admin.token" ] && "$CLI" --server "$url" --token "$(cat "$dir/admin.token")" version >/dev/null 2>&1; do sleep 0.2; done
		echo tok >"$dir/c.token"
		"$CLI" --server "$url" --token "$(cat "$dir/admin.token")" cluster add east \
			--api-server https://127.0.0.1:6443 --cluster-token-file "$dir/c.token" >/dev/null
		"$CLI" --server "$url" --token "$(cat "$dir/admin.token")" create service bench-svc \
			--cluster east -n bench --selector app=bench --port http:80:8080 >/dev/null
		"${BIN[$v]}/bench/rpc_bench" fill "$url" "$(cat "$dir/admin.token")" "$FILL" 8 >/dev/null
	done
done
RAW=$W/raw.txt
: >"$RAW"
# CPU ticks (user + system) of the processes given.
ticks() { local t=0 p; for p in "$@"; do t=$((t + $(awk '{print $14 + $15}' /proc/$p/stat))); done; echo $t; }
run() { # run NAME VARIANT BACKEND ROUND CMD...
	local out d=${DPID[$2/$3]:-} d0=0 d1=0 e0 e1
	[ -z "$d" ] || d0=$(ticks $d)
	e0=$(ticks "${EPIDS[@]}")
	out=$("${@:5}")
	e1=$(ticks "${EPIDS[@]}")
	[ -z "$d" ] || d1=$(ticks $d)
	echo "$1 $2 $3: $out"
	# Raw: name variant backend round rate p50 calls svcfleetd-ticks etcd-ticks
	echo "$1 $2 $3 $4 $(sed -n 's/.*rate=\([^ ]*\) p50_us=\([^ ]*\).*calls=\([^ ]*\).*/\1 \2 \3/p' <<<"$out") $((d1 - d0)) $((e1 - e0))" >>"$RAW"
}
start=0
for r in $(seq "$ROUNDS"); do
	order=("${VARS[@]}")
	if [ $((r % 2)) = 0 ] && [ ${#VARS[@]} = 2 ]; then order=(base new); fi
	for v in "${order[@]}"; do
		B=${BIN[$v]}/bench/rpc_bench
		for be in etcd lmdb; do
			if [ $be = etcd ]; then url="ipc://$W/$v/e.sock"; tok=$(cat "$W/$v/d/admin.token");
			else url="ipc://$L/$v/l.sock"; tok=$(cat "$L/$v/d/admin.token"); fi
			run get1 $v $be $r "$B" get "$url" "$tok" 1 "$SECS"
			run get8 $v $be $r "$B" get "$url" "$tok" 8 "$SECS"
			run list $v $be $r "$B" list "$url" "$tok" "$SECS"
			for c in 8 32; do
				start=$((start + 1000000))
				run create$c $v $be $r "$B" create "$url" "$tok" $c "$SECS" $start
				# The baseline right after each svcfleetd-on-etcd
				# cell: the load of a shared machine moves within a
				# round (i15-perf3).
				[ $be = lmdb ] || run create$c direct $v $r "$X" "$EP" $c "$SECS" /svcfleet-bench/
			done
		done
	done
done
python3 - "$RAW" "${#VARS[@]}" <<'EOF'
import os, sys, collections
raw, nvars = sys.argv[1], int(sys.argv[2])
# v[(m, variant, backend)] = {round: (rate, p50)}
v = collections.defaultdict(dict)
hz = os.sysconf("SC_CLK_TCK")
for line in open(raw):
    f = line.split()
    if len(f) == 9:
        calls = max(float(f[6]), 1)
        # rate, p50, svcfleetd CPU µs per call, etcd CPU µs per call
        v[(f[0], f[1], f[2])][int(f[3])] = (float(f[4]), float(f[5]),
            round(float(f[7]) * 1e6 / hz / calls), round(float(f[8]) * 1e6 / hz / calls))
def med(xs):
    xs = sorted(xs)
    return xs[(len(xs) - 1) // 2] if xs else float('nan')
def col(m, var, be, i):
    return [x[i] for x in v[(m, var, be)].values()]
def fmt(x):
    return str(int(x)) if x == int(x) else str(x)
def ratios(m, var, num_be, den_var, den_be, i):
    a, b = v[(m, var, num_be)], v[(m, den_var, den_be)]
    return [round(a[r][i] / b[r][i], 2) for r in sorted(a) if r in b and b[r][i]]
print()
print("| measurement | etcd (3 members) p50 µs | LMDB p50 µs | ratio | etcd rate/s | LMDB rate/s |")
print("| --- | --- | --- | --- | --- | --- |")
for m in ["get1", "get8", "list", "create8", "create32"]:
    e, l = med(col(m, "new", "etcd", 1)), med(col(m, "new", "lmdb", 1))
    er, lr = med(col(m, "new", "etcd", 0)), med(col(m, "new", "lmdb", 0))
    print(f"| {m} | {fmt(e)} | {fmt(l)} | {round(e / l, 2)} | {fmt(er)} | {fmt(lr)} |")
print()
print("| measurement | svcfleetd on etcd rate/s | the same txn straight to etcd rate/s | ratio (target >= 0.7) | svcfleetd p50 µs | direct p50 µs |")
print("| --- | --- | --- | --- | --- | --- |")
for m in ["create8", "create32"]:
    er, dr = med(col(m, "new", "etcd", 0)), med(col(m, "direct", "new", 0))
    e, d = med(col(m, "new", "etcd", 1)), med(col(m, "direct", "new", 1))
    print(f"| {m} | {fmt(er)} | {fmt(dr)} | {round(er / dr, 2)} | {fmt(e)} | {fmt(d)} |")
if nvars < 2:
    sys.exit(0)
# Before/after in one run: each build's ratios, round by round.
print()
print("| ratio (per round; median) | base (HA_BENCH_BASE) | new (BUILD) | target |")
print("| --- | --- | --- | --- |")
rows = [("GetService p50, 1 client: etcd / LMDB", "get1", "p50", "≤ 1.5×"),
        ("GetService p50, 8 clients: etcd / LMDB", "get8", "p50", ""),
        ("ListServices page of 100 p50: etcd / LMDB", "list", "p50", "≤ 1.5×"),
        ("CreateService, 8 clients: svcfleetd on etcd / direct txn", "create8", "rate", "≥ 0.7"),
        ("CreateService, 32 clients: svcfleetd on etcd / direct txn", "create32", "rate", "≥ 0.7")]
for name, m, kind, target in rows:
    cells = []
    for var in ["base", "new"]:
        if kind == "p50":
            rs = ratios(m, var, "etcd", var, "lmdb", 1)
        else:
            rs = ratios(m, var, "etcd", "direct", var, 0)
        cells.append(" ".join(map(str, rs)) + f"; **{med(rs)}**")
    print(f"| {name} | {cells[0]} | {cells[1]} | {target} |")
print()
print("| median | base etcd | new etcd | base LMDB | new LMDB | direct |")
print("| --- | --- | --- | --- | --- | --- |")
for m in ["get1", "get8", "list", "create8", "create32"]:
    i = 1 if m in ("get1", "get8", "list") else 0
    unit = " µs" if i == 1 else "/s"
    c = [med(col(m, var, be, i)) for var, be in
         [("base", "etcd"), ("new", "etcd"), ("base", "lmdb"), ("new", "lmdb")]]
    d = med(col(m, "direct", "new", i) + col(m, "direct", "base", i)) if m.startswith("create") else None
    print(f"| {m} ({'p50' if i else 'rate'}) | " + " | ".join(fmt(x) + unit for x in c)
          + f" | {fmt(d) + unit if d is not None else '-'} |")
# CPU per call (medians; µs of user + system time over the cell, all
# threads): svcfleetd's own, and the 3 etcd members' together.
print()
print("| CPU per call, median µs | base svcfleetd | new svcfleetd | base: its etcd | new: its etcd | direct: its etcd |")
print("| --- | --- | --- | --- | --- | --- |")
for m in ["list", "create8", "create32"]:
    for be in ["etcd", "lmdb"]:
        c = [med(col(m, var, be, 2)) for var in ["base", "new"]]
        e = [med(col(m, var, be, 3)) for var in ["base", "new"]] if be == "etcd" else ["-", "-"]
        d = med(col(m, "direct", "new", 3) + col(m, "direct", "base", 3)) if be == "etcd" and m.startswith("create") else "-"
        print(f"| {m} on {be} | {c[0]} | {c[1]} | {e[0]} | {e[1]} | {d} |")
EOF
