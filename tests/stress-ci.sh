#!/bin/sh
# stress-ci.sh: the test command, again and again, on a busy machine.
#
#   tests/stress-ci.sh [RUNS] [LOAD]
#
# Clones the committed tree RUNS times (default 5) into fresh directories
# and runs `CI=true ./dev.sh test` in each, one after the other, while
# stress-ng keeps LOAD CPU workers busy beside it (default: one per CPU),
# so that every timing assumption a test makes meets a slow machine (LOAD
# 0: no stress-ng, for a machine already busy with other builds). It
# stops at the first failing run and leaves that clone (and its logs) in
# place; passing clones are removed. A summary line per run goes to
# standard output; each run's whole output to its log file.
#
# Uncommitted changes are not tested: commit first.
set -eu
cd "$(dirname "$0")/.."
runs=${1:-5}
load=${2:-$(nproc 2>/dev/null || echo 2)}
src=$PWD
head=$(git rev-parse --short HEAD)
top=$(mktemp -d "${TMPDIR:-/tmp}/svcfleet-stress-XXXXXX")

stress=""
if [ "$load" -gt 0 ]; then
	command -v stress-ng >/dev/null 2>&1 || {
		echo "stress-ng is missing: ./dev.sh deps installs it" >&2
		exit 2
	}
	stress-ng --cpu "$load" --cpu-method all --quiet &
	stress=$!
	trap 'kill $stress 2>/dev/null || true' EXIT INT TERM
fi

echo "stress-ci: $runs runs of ./dev.sh test at $head beside stress-ng --cpu $load (load average $(cut -d' ' -f1-3 /proc/loadavg)); work in $top"
i=1
while [ "$i" -le "$runs" ]; do
	dir=$top/run$i
	git clone -q "$src" "$dir"
	git -C "$dir" checkout -q "$head"
	start=$(date +%s)
	if (cd "$dir" && CI=true ./dev.sh test) >"$top/run$i.log" 2>&1; then
		echo "run $i: passed in $(($(date +%s) - start)) s (load average at its end $(cut -d' ' -f1-3 /proc/loadavg))"
		rm -rf "$dir"
	else
		echo "run $i: FAILED after $(($(date +%s) - start)) s; log $top/run$i.log, tree $dir"
		grep -E '\*\*\*Failed|Test #.*Failed|FAIL' "$top/run$i.log" | head -20 || true
		exit 1
	fi
	i=$((i + 1))
done
echo "stress-ci: all $runs runs passed"
