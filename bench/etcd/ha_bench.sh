#!/bin/bash
# ha_bench.sh BUILD [SECONDS] [ROUNDS]: svcfleetd on a 3-member etcd beside
# svcfleetd on LMDB, same machine, measured in interleaved rounds with
# bench/rpc_bench (issue 15): GetService p50 (1 and 8 clients), a page of
# ListServices p50, and durable CreateService with 8 and 32 clients, the
# latter also beside its baseline: the store's create transaction sent
# straight to the same etcd by bench/etcd/etcd_create (target: svcfleetd
# >= 70 % of it). etcd's
# data is on tmpfs when /dev/shm exists (etcd 3.4 has no "no fsync"), the
# LMDB store on the build's disk: read the create rows with that in mind.
# Prints one line per measurement and a Markdown table of medians.
# HA_BENCH_FILL: Services stored in each before measuring (2000; run-all
# --quick stores fewer).
set -eu
BUILD=$(cd "${1:-build}" && pwd)
SECS=${2:-4}
ROUNDS=${3:-3}
FILL=${HA_BENCH_FILL:-2000}
B=$BUILD/bench/rpc_bench
D=$BUILD/cmd/svcfleetd/svcfleetd
CLI=$BUILD/client/cli/svcfleet
X=$BUILD/bench/etcd/etcd_create
command -v etcd >/dev/null || { echo "skip: no etcd"; exit 77; }
base=/dev/shm
[ -w $base ] || base=${TMPDIR:-/tmp}
W=$(mktemp -d "$base/sf-habench-XXXXXX")
L=$(mktemp -d "${TMPDIR:-/tmp}/sf-habench-lmdb-XXXXXX")
pids=()
cleanup() { for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null || true; done; rm -rf "$W" "$L"; }
trap cleanup EXIT
port() { python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])'; }
P=(); for i in 0 1 2 3 4 5; do P+=("$(port)"); done
IC="m0=http://127.0.0.1:${P[3]},m1=http://127.0.0.1:${P[4]},m2=http://127.0.0.1:${P[5]}"
for i in 0 1 2; do
	etcd --name m$i --data-dir "$W/e$i" --listen-client-urls http://127.0.0.1:${P[$i]} \
		--advertise-client-urls http://127.0.0.1:${P[$i]} \
		--listen-peer-urls http://127.0.0.1:${P[$((i + 3))]} \
		--initial-advertise-peer-urls http://127.0.0.1:${P[$((i + 3))]} \
		--initial-cluster "$IC" --initial-cluster-token b >"$W/e$i.log" 2>&1 &
	pids+=($!)
done
EP="http://127.0.0.1:${P[0]},http://127.0.0.1:${P[1]},http://127.0.0.1:${P[2]}"
"$D" --store etcd --etcd-endpoints "$EP" --data-dir "$W/d" --listen "ipc://$W/e.sock" \
	--http off --no-reconciler >"$W/d.log" 2>&1 &
pids+=($!)
"$D" --data-dir "$L/d" --listen "ipc://$L/l.sock" --http off --no-reconciler >"$L/d.log" 2>&1 &
pids+=($!)
for pair in "ipc://$W/e.sock $W/d" "ipc://$L/l.sock $L/d"; do
	url=${pair% *}
	dir=${pair#* }
	until [ -s "$dir/admin.token" ] && "$CLI" --server "$url" --token "$(cat "$dir/admin.token")" version >/dev/null 2>&1; do sleep 0.2; done
	echo tok >"$dir/c.token"
	"$CLI" --server "$url" --token "$(cat "$dir/admin.token")" cluster add east \
		--api-server https://127.0.0.1:6443 --cluster-token-file "$dir/c.token" >/dev/null
	"$CLI" --server "$url" --token "$(cat "$dir/admin.token")" create service bench-svc \
		--cluster east -n bench --selector app=bench --port http:80:8080 >/dev/null
	"$B" fill "$url" "$(cat "$dir/admin.token")" "$FILL" 8 >/dev/null
done
declare -A R
run() { # run NAME BACKEND CMD...
	local out
	out=$("${@:3}")
	echo "$1 $2: $out"
	R["$1/$2"]+="$(sed -n 's/.*p50_us=\([^ ]*\).*/\1/p' <<<"$out") "
	R["$1/$2/rate"]+="$(sed -n 's/.*rate=\([^ ]*\).*/\1/p' <<<"$out") "
}
start=0
for r in $(seq "$ROUNDS"); do
	for be in etcd lmdb; do
		if [ $be = etcd ]; then url="ipc://$W/e.sock"; tok=$(cat "$W/d/admin.token");
		else url="ipc://$L/l.sock"; tok=$(cat "$L/d/admin.token"); fi
		run get1 $be "$B" get "$url" "$tok" 1 "$SECS"
		run get8 $be "$B" get "$url" "$tok" 8 "$SECS"
		run list $be "$B" list "$url" "$tok" "$SECS"
		start=$((start + 1000000))
		run create8 $be "$B" create "$url" "$tok" 8 "$SECS" $start
		start=$((start + 1000000))
		run create32 $be "$B" create "$url" "$tok" 32 "$SECS" $start
	done
	run create8 direct "$X" "$EP" 8 "$SECS" /svcfleet-bench/
	run create32 direct "$X" "$EP" 32 "$SECS" /svcfleet-bench/
done
med() { tr ' ' '\n' | grep -v '^$' | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
echo
echo "| measurement | etcd (3 members) p50 µs | LMDB p50 µs | ratio | etcd rate/s | LMDB rate/s |"
echo "| --- | --- | --- | --- | --- | --- |"
for m in get1 get8 list create8 create32; do
	e=$(med <<<"${R[$m/etcd]}"); l=$(med <<<"${R[$m/lmdb]}")
	er=$(med <<<"${R[$m/etcd/rate]}"); lr=$(med <<<"${R[$m/lmdb/rate]}")
	echo "| $m | $e | $l | $(python3 -c "print(round($e/$l,2))") | $er | $lr |"
done
echo
echo "| measurement | svcfleetd on etcd rate/s | the same txn straight to etcd rate/s | ratio (target >= 0.7) | svcfleetd p50 µs | direct p50 µs |"
echo "| --- | --- | --- | --- | --- | --- |"
for m in create8 create32; do
	er=$(med <<<"${R[$m/etcd/rate]}"); dr=$(med <<<"${R[$m/direct/rate]}")
	e=$(med <<<"${R[$m/etcd]}"); d=$(med <<<"${R[$m/direct]}")
	echo "| $m | $er | $dr | $(python3 -c "print(round($er/$dr,2))") | $e | $d |"
done
