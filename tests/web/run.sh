#!/bin/sh
# run.sh BUILD_DIR SOURCE_DIR: ctest's entry to the console's browser test.
# Installs playwright-core from package-lock.json (npm ci) into the build
# tree once, then runs console_test.mjs with Debian's chromium. Exits 77
# (skipped) when node, npm or chromium is missing, or npm cannot fetch.
# Screenshots go to BUILD_DIR/tests/web/screenshots.
set -eu
build=$(cd "$1" && pwd)
src=$(cd "$2" && pwd)
chromium=${CHROMIUM:-/usr/bin/chromium}

skip() {
	echo "skipped: $*"
	exit 77
}
command -v node >/dev/null 2>&1 || skip "node is not installed (./dev.sh deps)"
command -v npm >/dev/null 2>&1 || skip "npm is not installed (./dev.sh deps)"
major=$(node -p 'process.versions.node.split(".")[0]')
[ "$major" -ge 18 ] || skip "node $major is too old for playwright-core (18 or later)"
[ -x "$chromium" ] || skip "$chromium is not installed (apt-get install chromium)"

work=$build/tests/web
mkdir -p "$work"
# ESM resolves packages from the importing file's directory: the test runs
# from its copy beside node_modules.
cp "$src/tests/web/package.json" "$src/tests/web/package-lock.json" \
    "$src/tests/web/console_test.mjs" "$src/tests/web/env.mjs" "$work/"
if ! cmp -s "$work/package-lock.json" "$work/node_modules/.svcfleet-lock" 2>/dev/null; then
	(cd "$work" && npm ci --no-audit --no-fund --loglevel=error) ||
	    skip "npm ci failed (is the npm registry reachable?)"
	cp "$work/package-lock.json" "$work/node_modules/.svcfleet-lock"
fi
rm -rf "$work/screenshots"
cd "$work"
SVCFLEET_BUILD=$build SVCFLEET_WEB_OUT=$work/screenshots CHROMIUM=$chromium \
    exec node console_test.mjs
