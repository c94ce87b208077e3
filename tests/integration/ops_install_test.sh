#!/bin/sh
# ops_install_test.sh BUILD SRC: `cmake --install` into a temporary prefix
# puts every promised file in place; a small client compiled against the
# installed libsvcfleet with pkg-config (shared and static) talks to the
# installed svcfleetd; the man page lists every flag svcfleetd --help does.
set -eu
BUILD=$1
SRC=$2
T=$(mktemp -d "${TMPDIR:-/tmp}/sf-install-XXXXXX")
PID=
cleanup() {
	[ -n "$PID" ] && kill "$PID" 2>/dev/null && wait "$PID" 2>/dev/null
	rm -rf "$T"
}
trap cleanup EXIT
fail() {
	echo "FAIL: $*" >&2
	exit 1
}

P=$T/prefix
cmake --install "$BUILD" --prefix "$P" >"$T/install.log" 2>&1 ||
	{ cat "$T/install.log"; fail "cmake --install"; }

# Every promised file.
PC=$(find "$P" -name svcfleet.pc | head -n 1)
[ -n "$PC" ] || fail "no svcfleet.pc installed"
LIBDIR=$(dirname "$(dirname "$PC")")
for f in bin/svcfleetd bin/svcfleet include/svcfleet/svcfleet.h \
	include/svcfleet/svcfleet.pb-c.h \
	share/man/man1/svcfleetd.1 share/man/man1/svcfleet.1 \
	share/man/man1/svcfleet-reconciler.1 \
	share/bash-completion/completions/svcfleet \
	share/bash-completion/completions/svcfleetd \
	share/bash-completion/completions/svcfleet-reconciler \
	lib/systemd/system/svcfleetd.service \
	lib/systemd/system/svcfleet-reconciler.service \
	lib/sysusers.d/svcfleet.conf \
	share/doc/svcfleet/examples/svcfleetd.conf.example \
	share/doc/svcfleet/examples/kubernetes/svcfleetd.yaml; do
	[ -e "$P/$f" ] || fail "$f not installed"
done
[ -e "$LIBDIR/libsvcfleet.a" ] || fail "libsvcfleet.a not installed"
ls "$LIBDIR"/libsvcfleet.so.* >/dev/null 2>&1 || fail "libsvcfleet.so not installed"
"$P/bin/svcfleetd" --version | grep -q "^svcfleetd " || fail "svcfleetd --version"

# A client built against the install only.
cat >"$T/client.c" <<'C'
#include <stdio.h>
#include <string.h>
#include <svcfleet/svcfleet.h>

int
main(int argc, char **argv)
{
	svcfleet_client           *c;
	svcfleet_status            st;
	svcfleet_options           o = {.url = argv[1], .connect_now = true};
	Svcfleet__V1__Empty        e = SVCFLEET__V1__EMPTY__INIT;
	Svcfleet__V1__HealthReply *h = NULL;
	(void) argc;
	svcfleet_status_init(&st);
	if (svcfleet_open(&c, &o, &st) != 0 ||
	    svcfleet_health(c, &e, &h, &st) != 0) {
		fprintf(stderr, "client: %s: %s\n", svcfleet_code_name(st.code),
		    st.message);
		return (1);
	}
	printf("health %s\n", h->ok ? "serving" : "not serving");
	svcfleet_free(h);
	svcfleet_close(c);
	svcfleet_status_fini(&st);
	return (0);
}
C
export PKG_CONFIG_PATH="$LIBDIR/pkgconfig"
# svcfleet.pc derives its prefix from where it lies (${pcfiledir}), not
# from the configure-time prefix: no --define-prefix needed.
grep -q '^prefix=${pcfiledir}/' "$PC" || fail "svcfleet.pc's prefix is not relative to its place"
CFLAGS=$(pkg-config --cflags svcfleet) || fail "pkg-config --cflags"
SAN=
[ -z "${SF_SANITIZE:-}" ] || SAN="-fsanitize=$SF_SANITIZE"
LIBS=$(pkg-config --libs svcfleet) || fail "pkg-config --libs"
case $CFLAGS in *"$P"*) ;; *) fail "pkg-config cflags do not point into $P: $CFLAGS" ;; esac
cc -std=c11 -Wall -Werror $SAN -o "$T/client" "$T/client.c" $CFLAGS $LIBS ||
	fail "building the client against the installed shared library"
STATIC=$(pkg-config --static --libs svcfleet | sed 's/-lsvcfleet//')
cc -std=c11 -Wall -Werror $SAN -o "$T/client_static" "$T/client.c" $CFLAGS \
	"$LIBDIR/libsvcfleet.a" $STATIC ||
	fail "building the client against the installed static library"

# Both talk to the installed daemon.
D=$T/data
"$P/bin/svcfleetd" --data-dir "$D" --listen "ipc://$T/s.sock" --http off \
	>"$T/d.log" 2>&1 &
PID=$!
i=0
until [ -S "$T/s.sock" ]; do
	i=$((i + 1))
	[ $i -lt 200 ] || { cat "$T/d.log"; fail "svcfleetd did not start"; }
	sleep 0.05
done
out=$(LD_LIBRARY_PATH="$LIBDIR" "$T/client" "ipc://$T/s.sock") || fail "client: $out"
[ "$out" = "health serving" ] || fail "client said: $out"
ldd "$T/client" | grep -q "$LIBDIR/libsvcfleet.so" 2>/dev/null ||
	LD_LIBRARY_PATH="$LIBDIR" ldd "$T/client" | grep -q "$LIBDIR/libsvcfleet.so" ||
	fail "client is not linked to the installed libsvcfleet.so"
out=$("$T/client_static" "ipc://$T/s.sock") || fail "static client: $out"
[ "$out" = "health serving" ] || fail "static client said: $out"
kill "$PID"
wait "$PID" || fail "svcfleetd did not stop cleanly"
PID=

# The man page documents every flag --help lists.
for flag in $("$P/bin/svcfleetd" --help | sed -n 's/^  \(--[a-z0-9-]*\).*/\1/p'); do
	esc=$(printf '%s' "$flag" | sed 's/-/\\\\-/g')
	grep -q -- "$esc" "$P/share/man/man1/svcfleetd.1" ||
		fail "svcfleetd.1 does not document $flag"
done
if command -v man >/dev/null 2>&1; then
	for m in svcfleetd svcfleet svcfleet-reconciler; do
		w=$(MANWIDTH=80 man --warnings -l "$P/share/man/man1/$m.1" 2>&1 >/dev/null)
		[ -z "$w" ] || fail "$m.1: $w"
	done
fi
# The completion script loads and completes.
if command -v bash >/dev/null 2>&1; then
	got=$(bash -c ". '$P/share/bash-completion/completions/svcfleet'; COMP_WORDS=('$P/bin/svcfleet' cre); COMP_CWORD=1; _svcfleet; echo \"\${COMPREPLY[*]}\"")
	[ "$got" = "create" ] || fail "completion of 'svcfleet cre' gave '$got'"
fi
echo "ok: installed to $P, client built with pkg-config (shared and static)"
