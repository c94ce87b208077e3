#!/bin/sh
# chaos-long.sh: the long run of chaos_test (faults between svcfleet and
# its kubefake clusters while Services change), 5 minutes by default.
#
#   tests/reliability/chaos-long.sh [SECONDS] [BUILD-DIR]
set -eu
cd "$(dirname "$0")/../.."
secs=${1:-300}
dir=${2:-build}
cmake --build "$dir" --target chaos_test svcfleetd svcfleet kubefake \
    -- --no-print-directory >/dev/null
export SF_BIN_DIR="$PWD/$dir" SF_SRC_DIR="$PWD" SF_CHAOS_SECONDS="$secs"
# The harness's hang guard (540 s, for the suite) would cut a long run:
# it gets the run's length and the suite's margin on top.
export SF_TEST_WATCHDOG_S="${SF_TEST_WATCHDOG_S:-$((secs + 540))}"
exec "$dir/tests/reliability/chaos_test"
