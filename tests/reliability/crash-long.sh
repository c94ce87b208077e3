#!/bin/sh
# crash-long.sh: the long crash-safety run (not in CI): SIGKILL svcfleetd
# at random moments under concurrent load, 25 times by default, and check
# every acknowledged write after each restart (see crash_test.c).
#
#   tests/reliability/crash-long.sh [BUILD-DIR] [crash_test options...]
#   e.g. tests/reliability/crash-long.sh build --cycles 50 --threads 8
set -eu
cd "$(dirname "$0")/../.."
dir=${1:-build}
[ $# -gt 0 ] && shift
[ -x "$dir/tests/reliability/crash_test" ] ||
    cmake --build "$dir" --target crash_test svcfleetd
export SF_BIN_DIR="$PWD/$dir"
# The harness's hang guard (540 s, for the suite) would cut a long run.
export SF_TEST_WATCHDOG_S="${SF_TEST_WATCHDOG_S:-7200}"
[ $# -gt 0 ] || set -- --cycles 25 --threads 8 --services 96 --min-ms 300 \
    --max-ms 3000
exec "$dir/tests/reliability/crash_test" "$@"
