#!/bin/sh
# soak.sh: svcfleetd under steady mixed load for a long while (30 minutes
# by default; not in CI), its memory sampled all along. The daemon's
# anonymous memory (heap: what a leak grows) must stay flat once warm: the
# sample at the end may exceed the one at the end of the warm-up (a fifth
# of the run, when the dedupe cache and LMDB's working set are full) by at
# most 10 %. File-backed memory (LMDB's map) is reported too; it follows
# the size of the store, which the load keeps steady except for the
# audit log.
#
#   tests/reliability/soak.sh [MINUTES] [BUILD-DIR]
#
# Writes the samples to BUILD-DIR/soak/samples.csv and prints a summary.
set -eu
cd "$(dirname "$0")/../.."
minutes=${1:-30}
dir=${2:-build}
cmake --build "$dir" --target svcfleetd soak -- --no-print-directory \
    >/dev/null
out="$dir/soak"
rm -rf "$out"
mkdir -p "$out"
data="$out/data"
sock="ipc://$PWD/$out/svcfleet.sock"

"$dir/cmd/svcfleetd/svcfleetd" --data-dir "$data" --listen "$sock" --http off \
    >"$out/svcfleetd.log" 2>&1 &
pid=$!
trap 'kill "$pid" 2>/dev/null || true' EXIT
i=0
until [ -s "$data/admin.token" ] && [ -S "$out/svcfleet.sock" ]; do
	i=$((i + 1))
	[ $i -lt 200 ] || { cat "$out/svcfleetd.log"; exit 1; }
	sleep 0.1
done
sleep 0.5

secs=$((minutes * 60))
"$dir/tests/reliability/soak" --url "$sock" \
    --token "$(cat "$data/admin.token")" --seconds "$secs" \
    >"$out/load.log" 2>&1 &
load=$!

kb() { # kb FIELD: a /proc/PID/status value in KiB
	awk -v f="$1:" '$1 == f { print $2 }' "/proc/$pid/status"
}
echo "seconds,rss_kib,anon_kib,file_kib,threads,fds" >"$out/samples.csv"
every=$((secs / 60))
[ "$every" -ge 5 ] || every=5
t=0
while kill -0 "$load" 2>/dev/null; do
	echo "$t,$(kb VmRSS),$(kb RssAnon),$(kb RssFile),$(kb Threads)," \
	    "$(ls "/proc/$pid/fd" | wc -l)" | tr -d ' ' >>"$out/samples.csv"
	sleep "$every"
	t=$((t + every))
done
wait "$load" && load_ok=1 || load_ok=0
kill -TERM "$pid"
wait "$pid" && stop_ok=1 || stop_ok=0
trap - EXIT

warm=$((secs / 5))
status=0
awk -F, -v warm="$warm" -v load_ok="$load_ok" -v stop_ok="$stop_ok" '
NR == 1 { next }
{ n++; s[n] = $1; anon[n] = $3; file[n] = $4; rss[n] = $2; fds[n] = $6
  if ($1 <= warm) w = n }
END {
	if (w == 0) w = 1
	growth = anon[w] > 0 ? (anon[n] - anon[w]) * 100.0 / anon[w] : 0
	maxa = 0; for (i = w; i <= n; i++) if (anon[i] > maxa) maxa = anon[i]
	printf "samples %d over %d s\n", n, s[n]
	printf "anon KiB: start %d, after warm-up (%d s) %d, max after %d, end %d (%+.1f %%)\n",
	    anon[1], s[w], anon[w], maxa, anon[n], growth
	printf "file KiB: start %d, after warm-up %d, end %d\n", file[1], file[w], file[n]
	printf "RSS KiB: start %d, end %d; fds: start %d, end %d\n", rss[1], rss[n], fds[1], fds[n]
	ok = growth <= 10 && load_ok && stop_ok
	printf "load %s, clean stop %s: %s\n", load_ok ? "ok" : "FAILED",
	    stop_ok ? "yes" : "NO", ok ? "FLAT" : "NOT FLAT"
	exit ok ? 0 : 1
}' "$out/samples.csv" || status=$?
cat "$out/load.log"
exit $status
