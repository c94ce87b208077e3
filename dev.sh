#!/bin/sh
# dev.sh: the README's commands. Installs what is missing (Debian bookworm),
# builds, then runs svcfleetd or the whole test suite.
#
#   ./dev.sh run [svcfleetd flags]   build and run svcfleetd (./svcfleet-data)
#   ./dev.sh test                    build plain + ASan/UBSan, run every test;
#                                    then valgrind, TSan and a brief fuzz run
#   ./dev.sh deps                    only install the packages
#   ./dev.sh build                   only build ./build
#   ./dev.sh demo                    build, then svcfleetd with two kubefake
#                                    clusters (reconciler/demo.sh)
set -eu
cd "$(dirname "$0")"

# Build and test dependencies, all from Debian bookworm.
PACKAGES="build-essential cmake pkg-config git \
 libnng-dev libprotobuf-c-dev protobuf-c-compiler liblmdb-dev lmdb-utils \
 libcurl4-openssl-dev libjansson-dev libyaml-dev libssl-dev openssl \
 libmicrohttpd-dev libcmocka-dev clang clang-format libclang-rt-14-dev \
 curl ca-certificates valgrind gdb procps python3 \
 etcd-server hey wrk jq systemd chromium stress-ng \
 libnghttp2-dev nghttp2-client"

JOBS=$(nproc 2>/dev/null || echo 2)
# Tests mostly wait (for daemons, clusters, timeouts): one more at a time
# than there are CPUs keeps the CPUs busy and the suite near 15 minutes on
# two. Every test must pass on a loaded machine anyway (issue 13).
TEST_JOBS=$((JOBS + 1))

# Every step says when it started, in seconds since dev.sh did, so a slow
# CI run shows where its time went.
T0=${SF_T0:-$(date +%s)}
say() {
	t=$(($(date +%s) - T0))
	if [ -t 2 ]; then
		printf '\033[1m==> [%4ds] %s\033[0m\n' "$t" "$*" >&2
	else
		printf '==> [%4ds] %s\n' "$t" "$*" >&2
	fi
}

deps() {
	missing=""
	for p in $PACKAGES; do
		if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null |
		    grep -q "install ok installed"; then
			missing="$missing $p"
		fi
	done
	# The console's browser test needs Node.js (20 or later is what it is
	# tested with); Debian's nodejs is installed only when there is none.
	command -v node >/dev/null 2>&1 || missing="$missing nodejs npm"
	[ -z "$missing" ] && return 0
	say "installing:$missing"
	SUDO=""
	[ "$(id -u)" -eq 0 ] || SUDO=sudo
	$SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -qq
	# shellcheck disable=SC2086
	$SUDO env DEBIAN_FRONTEND=noninteractive \
	    apt-get install -y -qq --no-install-recommends $missing >/dev/null
}

build() { # build DIR [cmake args...]
	dir=$1
	shift
	say "building $dir"
	cmake -S . -B "$dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSF_WERROR=ON \
	    "$@" >/dev/null
	cmake --build "$dir" -j "$JOBS" -- --no-print-directory >/dev/null ||
	    cmake --build "$dir" -j 1
}

check_format() {
	say "checking clang-format"
	files=$(git ls-files '*.c' '*.h' 2>/dev/null || true)
	[ -n "$files" ] || return 0
	# shellcheck disable=SC2086
	clang-format --dry-run -Werror $files
}

# What packagers build must build too, warning-free: Debian's hardening
# flags from dpkg-buildflags with Release's -O3 -DNDEBUG (CMake puts the
# build type's flags after CFLAGS, so -O3 wins over dpkg's -O2; the -O2
# builds are build/ and build-asan/), and clang. Built only, in
# build-variants/, and without the tests (they are built warning-free in
# build/ and build-asan/; a packager builds the product), which keeps the
# suite's time down.
variant_builds() {
	say "building the packagers' variants (Release with dpkg-buildflags, clang)"
	v=build-variants
	(
		export DEB_BUILD_MAINT_OPTIONS=hardening=+all
		CFLAGS="$(dpkg-buildflags --get CPPFLAGS) $(dpkg-buildflags --get CFLAGS)" \
		LDFLAGS="$(dpkg-buildflags --get LDFLAGS)" \
		    cmake -S . -B $v/release -DCMAKE_BUILD_TYPE=Release \
		    -DSF_WERROR=ON -DSF_TESTS=OFF >/dev/null
	)
	cmake --build $v/release -j "$JOBS" -- --no-print-directory >/dev/null ||
	    cmake --build $v/release -j 1
	CC=clang cmake -S . -B $v/clang -DCMAKE_BUILD_TYPE=RelWithDebInfo \
	    -DSF_WERROR=ON -DSF_TESTS=OFF >/dev/null
	cmake --build $v/clang -j "$JOBS" -- --no-print-directory >/dev/null ||
	    cmake --build $v/clang -j 1
}

# Builds run in the background while tests run: the tests mostly wait
# (for daemons, clusters, timeouts) and leave about half of the CPUs idle.
# Background work runs at nice 19, so a test never waits for a CPU a build
# holds; its output goes to build/bg-NAME.log, shown if it fails.
#   bg_start NAME FUNCTION ARGS...   run FUNCTION (of this file) in the
#                                    background: ./dev.sh bg FUNCTION ARGS
#   bg_wait NAME               wait for it; stop the suite if it failed
bg_pids=""
bg_start() {
	name=$1
	shift
	# Its own session (setsid execs in place: $! is the group), so that
	# bg_kill stops cmake and the compilers under it too.
	SF_T0=$T0 setsid nice -n 19 ./dev.sh bg "$@" >"build/bg-$name.log" 2>&1 &
	eval "bg_pid_$name=$!"
	bg_pids="$bg_pids $!"
	trap bg_kill EXIT
	trap 'bg_kill; exit 130' INT TERM
}
# Stops what still runs in the background (dev.sh failed or was stopped).
bg_kill() {
	for p in $bg_pids; do
		kill -TERM "-$p" 2>/dev/null || true
	done
}
bg_wait() {
	eval "pid=\$bg_pid_$1"
	if wait "$pid"; then
		bg_pids=$(echo "$bg_pids" | sed "s/ $pid\b//")
		grep '^==>' "build/bg-$1.log" >&2 || true
	else
		cat "build/bg-$1.log" >&2
		say "$1 failed (build/bg-$1.log)"
		exit 1
	fi
}

run_tests() { # run_tests DIR
	say "testing $1"
	(cd "$1" && ctest --output-on-failure -j "$TEST_JOBS" --timeout 600 \
	    ${CTEST_EXCLUDE:+-E "^(${CTEST_EXCLUDE})\$"})
}

# ThreadSanitizer on the tests that exercise concurrency: the store's
# group-commit writer, svcfleetd's workers, writer, watch thread and nng
# callbacks under concurrent clients, and the reconciler's workers against
# kubefake clusters (TSAN_TESTS names ctest tests; their build targets are
# the same names plus the programs they run). gcc: clang's
# -Wformat-nonliteral also flags vprintf-style helpers kubefake has.
TSAN_TESTS="store_concurrency_test rpc_test watch_test limits_test retry_test \
 crash_test hostile_test hostile_net_test recon_sync_test chaos_test \
 kubefake_shutdown_test sec_3_fair_test"

tsan_build() {
	say "building build-tsan (only what the TSan tests need)"
	cmake -S . -B build-tsan -DCMAKE_BUILD_TYPE=RelWithDebInfo \
	    -DSF_WERROR=ON -DSF_SANITIZE=thread >/dev/null
	# shellcheck disable=SC2086
	cmake --build build-tsan -j "$JOBS" --target svcfleetd svcfleet \
	    svcfleet-reconciler kubefake $TSAN_TESTS \
	    -- --no-print-directory >/dev/null
}

tsan_tests() {
	say "testing build-tsan"
	re=$(echo $TSAN_TESTS | sed 's/ /|/g')
	(cd build-tsan && TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1 \
	    ctest --output-on-failure -j "$JOBS" --timeout 600 -R "^($re)\$")
}

# A brief libFuzzer run of every target (tests/fuzz/README.md); the
# committed corpora are also replayed by ctest in every build.
fuzz_build() {
	say "building build-fuzz"
	tests/fuzz/run 0
}

fuzz_brief() {
	say "fuzzing (build-fuzz, ${FUZZ_SECONDS:-6} s per target)"
	tests/fuzz/run "${FUZZ_SECONDS:-6}"
}

# The builds the sanitizer stage's tests leave room for, one after another.
later_builds() {
	tsan_build
	variant_builds
	fuzz_build
}

# The end-to-end tests with svcfleetd under valgrind's memcheck: any error
# or leak fails the test (tests/integration/harness.c). Tests that time
# things tightly, or provoke nng's own leak (hostile_test), are left out.
VALGRIND_TESTS="rpc_test watch_test identity_test rbac_test \
 validation_rpc_test cli_services_test secrets_test ops_http_test \
 ops_backup_test"

valgrind_tests() {
	say "testing build with svcfleetd under valgrind"
	re=$(echo $VALGRIND_TESTS | sed 's/ /|/g')
	(cd build && SF_VALGRIND=1 ctest --output-on-failure -j "$JOBS" \
	    --timeout 900 -R "^($re)\$")
}

cmd=${1:-}
[ $# -gt 0 ] && shift
case "$cmd" in
run)
	deps
	build build
	say "starting svcfleetd (Ctrl-C stops it)"
	exec ./build/cmd/svcfleetd/svcfleetd "$@"
	;;
test)
	deps
	check_format
	build build
	bg_start asan build build-asan -DSF_SANITIZE=address,undefined
	run_tests build
	bg_wait asan
	bg_start later later_builds
	# Under the sanitizers without bench_quick: it proves the benchmark
	# programs run and print their rows (the plain run does that) and took
	# 160 s under ASan; the daemons it drives are the ones every other test
	# runs under ASan.
	LSAN_OPTIONS=suppressions=$PWD/tests/lsan.supp \
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
	UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	    CTEST_EXCLUDE=bench_quick run_tests build-asan
	valgrind_tests
	bg_wait later
	tsan_tests
	fuzz_brief
	say "all tests passed"
	;;
bg)
	# ./dev.sh bg FUNCTION ARGS: one of the functions above, for bg_start.
	"$@"
	;;
demo)
	deps
	build build
	exec reconciler/demo.sh
	;;
deps) deps ;;
build)
	deps
	build build
	;;
*)
	echo "usage: ./dev.sh run [svcfleetd flags] | test | demo | deps | build" >&2
	exit 2
	;;
esac
