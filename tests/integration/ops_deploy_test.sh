#!/bin/sh
# ops_deploy_test.sh BUILD SRC: what deploy/ promises, checked with the
# tools at hand — each part skips (and says so) when its tool is missing:
#   systemd units: `systemd-analyze verify` finds nothing to say, and
#     `systemd-analyze security` rates them OK (exposure <= 2.0);
#   container image: multi-stage, Debian bookworm-slim, a non-root user,
#     and every package it installs exists in Debian bookworm (apt-cache);
#   Kubernetes manifests: every document parses (kubectl, offline) and has
#     what deploy/README.md says (StatefulSet with a volume for the store,
#     probes on /healthz and /readyz, Secret, reconciler Deployment with
#     --shard, non-root), and the ConfigMap's svcfleetd.conf passes
#     svcfleetd --check-config;
#   example configuration: svcfleetd --check-config and
#     svcfleet-reconciler --check-config accept theirs.
set -eu
BUILD=$1
SRC=$2
D=$SRC/deploy
T=$(mktemp -d "${TMPDIR:-/tmp}/sf-deploy-XXXXXX")
trap 'rm -rf "$T"' EXIT
SVCFLEETD=$BUILD/cmd/svcfleetd/svcfleetd
checked=0
fail() {
	echo "FAIL: $*" >&2
	exit 1
}
skip() { echo "skip: $*"; }
# SF_DEPLOY_PARTS (default all): the parts to check, of systemd container
# config kubernetes (tests/security/sec_17_test.sh checks kubernetes).
want() {
	case " ${SF_DEPLOY_PARTS:-systemd container config kubernetes} " in
	*" $1 "*) return 0 ;;
	esac
	return 1
}

# ------------------------------------------------------------- systemd
if ! want systemd; then
	:
elif command -v systemd-analyze >/dev/null 2>&1; then
	for unit in svcfleetd svcfleet-reconciler; do
		bin=$BUILD/cmd/$unit/$unit
		if [ ! -x "$bin" ]; then
			# Not built on this tree: the unit's other lines are
			# still checked.
			echo "note: $unit not built; verifying its unit with /bin/true"
			bin=/bin/true
		fi
		sed "s|@CMAKE_INSTALL_FULL_BINDIR@/$unit|$bin|" \
			"$D/systemd/$unit.service.in" >"$T/$unit.service"
		grep -q '@[A-Z_]*@' "$T/$unit.service" && fail "$unit.service has unreplaced @VARS@"
		out=$(systemd-analyze verify --man=no "$T/$unit.service" 2>&1) ||
			fail "systemd-analyze verify $unit.service: $out"
		[ -z "$out" ] || fail "systemd-analyze verify $unit.service says: $out"
		for key in User=svcfleet NoNewPrivileges=yes ProtectSystem=strict; do
			grep -q "^$key" "$T/$unit.service" || fail "$unit.service lacks $key"
		done
		if systemd-analyze security --help 2>/dev/null | grep -q -- --offline; then
			level=$(systemd-analyze security --offline=true \
				"$T/$unit.service" 2>/dev/null |
				sed -n 's/.*Overall exposure level for [^:]*: \([0-9.]*\).*/\1/p')
			[ -n "$level" ] || fail "no exposure level for $unit"
			awk "BEGIN { exit !($level <= 2.0) }" ||
				fail "$unit.service exposure $level > 2.0"
			echo "ok: $unit.service verified, exposure $level"
		fi
	done
	grep -q '^StateDirectory=svcfleet' "$T/svcfleetd.service" ||
		fail "svcfleetd.service lacks StateDirectory"
	checked=$((checked + 1))
else
	skip "systemd-analyze not installed"
fi

# ------------------------------------------------------- container image
DF=$D/container/Dockerfile
if want container; then
[ "$(grep -c '^FROM ' "$DF")" -ge 2 ] || fail "Dockerfile is not multi-stage"
grep '^FROM ' "$DF" | grep -v -q 'debian:bookworm-slim' &&
	fail "a Dockerfile stage is not debian:bookworm-slim"
user=$(sed -n 's/^USER \([^ ]*\).*/\1/p' "$DF" | tail -n 1)
case $user in
"" | root | 0 | 0:*) fail "the image runs as root (USER '$user')" ;;
esac
grep -q '^COPY --from=build' "$DF" || fail "the final stage copies nothing from the build"
# The packages of every apt-get install (continuation lines joined).
pkgs=$(sed -e ':a' -e '/\\$/N; s/\\\n//; ta' "$DF" |
	sed -n 's/.*apt-get install[^&]*--no-install-recommends\([^&]*\).*/\1/p' |
	tr ' ' '\n' | grep -v '^$' | sort -u)
[ -n "$pkgs" ] || fail "found no packages in the Dockerfile"
if command -v apt-cache >/dev/null 2>&1 && apt-cache show --no-all-versions bash >/dev/null 2>&1; then
	codename=$(. /etc/os-release 2>/dev/null && echo "${VERSION_CODENAME:-}")
	# One look-up for all (each apt-cache run costs a second); it skips
	# names it does not know without a word, so compare what it found.
	# shellcheck disable=SC2086
	apt-cache show --no-all-versions $pkgs 2>/dev/null |
		sed -n 's/^Package: //p' | sort -u >"$T/found"
	echo "$pkgs" >"$T/wanted"
	miss=$(comm -23 "$T/wanted" "$T/found" | tr '\n' ' ')
	[ -z "$miss" ] || fail "Dockerfile installs packages apt-cache does not know: $miss"
	[ "$codename" = bookworm ] ||
		echo "note: package lists are $codename's, not bookworm's"
	echo "ok: Dockerfile's $(echo "$pkgs" | wc -l) packages exist"
	checked=$((checked + 1))
else
	skip "apt-cache has no package lists"
fi

fi # want container

# --------------------------------------------------- example configuration
if want config; then
"$SVCFLEETD" --check-config --config "$D/config/svcfleetd.conf.example" \
	>"$T/check.out" 2>&1 || fail "svcfleetd.conf.example: $(cat "$T/check.out")"
RECONCILER=$BUILD/cmd/svcfleet-reconciler/svcfleet-reconciler
if [ -x "$RECONCILER" ]; then
	"$RECONCILER" --check-config \
		--config "$D/config/svcfleet-reconciler.conf.example" \
		>"$T/check.out" 2>&1 ||
		fail "svcfleet-reconciler.conf.example: $(cat "$T/check.out")"
	# The environment file's variables, uncommented (but the file it
	# names), are the reconciler's, and none is a former name.
	vars=$(sed -n 's/^#\(SVCFLEET_[A-Z_]*=[^ ]*\)$/\1/p' \
		"$D/config/svcfleet-reconciler.env.example" | grep -v _CONFIG=)
	[ -n "$vars" ] || fail "svcfleet-reconciler.env.example has no variables"
	# shellcheck disable=SC2086
	env $vars "$RECONCILER" --check-config --token-file /dev/null \
		>"$T/check.out" 2>&1 ||
		fail "svcfleet-reconciler.env.example: $(cat "$T/check.out")"
	grep -q 'warning' "$T/check.out" &&
		fail "svcfleet-reconciler.env.example: $(cat "$T/check.out")"
	for v in $vars; do
		grep -q "# ${v%%=*}\$" "$T/check.out" ||
			fail "svcfleet-reconciler does not read ${v%%=*}"
	done
fi
# Issue 20: svcfleetd's variables in deploy/ (the environment files and
# the unit's Environment= lines) are SVCFLEETD_* it reads, none a former
# name (that would warn) and none the CLI's SVCFLEET_*; its example
# configuration names no former option either.
"$SVCFLEETD" --check-config --config "$D/config/svcfleetd.conf.example" \
	>"$T/check.out" 2>&1
grep -q 'warning' "$T/check.out" &&
	fail "svcfleetd.conf.example: $(cat "$T/check.out")"
for f in config/svcfleetd.env.example systemd/svcfleetd-etcd.env.example \
	systemd/svcfleetd.service.in; do
	vars=$(sed -n 's/^#\{0,1\}\(Environment=\)\{0,1\}\(SVCFLEETD\{0,1\}_[A-Z_]*=[^ ]*\)$/\2/p' \
		"$D/$f" | grep -v _CONFIG=)
	[ -n "$vars" ] || fail "$f has no variables"
	for v in $vars; do
		case $v in
		SVCFLEETD_*) ;;
		*) fail "$f sets ${v%%=*}: svcfleetd reads SVCFLEETD_*" ;;
		esac
	done
	# shellcheck disable=SC2086
	env $vars "$SVCFLEETD" --check-config >"$T/check.out" 2>&1 ||
		fail "$f: $(cat "$T/check.out")"
	grep -q 'warning' "$T/check.out" && fail "$f: $(cat "$T/check.out")"
	for v in $vars; do
		grep -q "# ${v%%=*}\$" "$T/check.out" ||
			fail "svcfleetd does not read ${v%%=*} ($f)"
	done
done

fi # want config

# ----------------------------------------------------- Kubernetes manifests
if ! want kubernetes; then
	:
elif command -v kubectl >/dev/null 2>&1 && command -v jq >/dev/null 2>&1; then
	K=$D/kubernetes
	: >"$T/all.json"
	for f in "$K"/*.yaml; do
		# --local parses offline; its JSON output is one object per
		# document.
		KUBECONFIG=/dev/null kubectl label --local -f "$f" \
			svcfleet.io/checked=yes -o json >"$T/one.json" 2>"$T/err" ||
			fail "$f does not parse: $(cat "$T/err")"
		jq -e -s 'all(.[]; (.apiVersion|type)=="string" and
			(.kind|type)=="string" and (.metadata.name|type)=="string")' \
			"$T/one.json" >/dev/null ||
			fail "$f: a document lacks apiVersion, kind or metadata.name"
		cat "$T/one.json" >>"$T/all.json"
	done
	q() { # q JQ-EXPRESSION MESSAGE: the expression holds over all documents
		jq -e -s "$1" "$T/all.json" >/dev/null || fail "manifests: $2"
	}
	q 'all(.[]; .kind == "Namespace" or .metadata.namespace == "svcfleet")' \
		"an object outside the svcfleet namespace"
	STS='.[] | select(.kind=="StatefulSet" and .metadata.name=="svcfleetd")'
	q "[$STS] | length == 1" "no svcfleetd StatefulSet"
	q "[$STS | .spec.replicas] == [1]" "svcfleetd must run one replica (one LMDB writer)"
	q "[$STS | .spec.volumeClaimTemplates[].metadata.name] | index(\"data\") != null" \
		"no volume claim for the store"
	q "[$STS | .spec.template.spec.containers[0].volumeMounts[] | select(.name==\"data\") | .mountPath] == [\"/var/lib/svcfleet\"]" \
		"the store's volume is not mounted at /var/lib/svcfleet"
	q "[$STS | .spec.template.spec.containers[0].livenessProbe.httpGet.path] == [\"/healthz\"]" \
		"liveness probe is not /healthz"
	q "[$STS | .spec.template.spec.containers[0].readinessProbe.httpGet.path] == [\"/readyz\"]" \
		"readiness probe is not /readyz"
	q "[$STS | .spec.template.spec.securityContext.runAsNonRoot] == [true]" \
		"svcfleetd may run as root"
	q '[.[] | select(.kind=="Service" and .metadata.name=="svcfleetd") | .spec.ports[].port] | sort == [7070, 7071]' \
		"the svcfleetd Service does not expose 7070 and 7071"
	q '[.[] | select(.kind=="Secret")] | length >= 1' "no Secret"
	q '[.[] | select(.kind=="Secret") | .stringData | keys[]] | (index("tokens.csv") != null and index("reconciler.token") != null and index("secret.key") != null)' \
		"the Secret lacks tokens.csv, reconciler.token or secret.key"
	DEP='.[] | select(.kind=="Deployment")'
	q "[$DEP | .spec.template.spec.containers[0].args[] | select(startswith(\"--shard=\"))] | length >= 1" \
		"no reconciler Deployment with --shard"
	q "[$DEP | .spec.template.spec.securityContext.runAsNonRoot] | all" \
		"a reconciler may run as root"
	# The configuration svcfleetd reads in the cluster is valid.
	jq -r -s '.[] | select(.kind=="ConfigMap") | .data["svcfleetd.conf"]' \
		"$T/all.json" >"$T/svcfleetd.conf"
	[ -s "$T/svcfleetd.conf" ] || fail "no svcfleetd.conf in a ConfigMap"
	"$SVCFLEETD" --check-config --config "$T/svcfleetd.conf" >"$T/check.out" 2>&1 ||
		fail "the ConfigMap's svcfleetd.conf: $(cat "$T/check.out")"
	# (Issue 20: no former option name, such as token-file.)
	grep -q 'warning' "$T/check.out" &&
		fail "the ConfigMap's svcfleetd.conf: $(cat "$T/check.out")"
	# Issue 17: TLS on by default, the sealing key from the Secret (in the
	# format svcfleetd reads), /metrics apart, a NetworkPolicy.
	grep -Eq '^ *listen *= *tcp://' "$T/svcfleetd.conf" &&
		fail "svcfleetd.conf has a plaintext RPC listener"
	grep -Eq '^ *http *= *https://' "$T/svcfleetd.conf" ||
		fail "svcfleetd.conf does not serve HTTPS"
	grep -Eq '^ *tls-cert *= *' "$T/svcfleetd.conf" ||
		fail "svcfleetd.conf has no tls-cert"
	grep -Eq '^ *secret-key-file *= */etc/svcfleet/secret/secret.key' "$T/svcfleetd.conf" ||
		fail "the sealing key is not read from the Secret"
	grep -Eq '^ *metrics *= *(token|(https?://)?[0-9.]+:[0-9]+)' "$T/svcfleetd.conf" ||
		fail "/metrics is public on the HTTPS listener"
	q "[$STS | .spec.template.spec.volumes[] | select(.secret.secretName==\"svcfleetd-tls\")] | length == 1" \
		"svcfleetd does not mount the svcfleetd-tls Secret"
	q "[$DEP | .spec.template.spec.containers[0].args[] | select(startswith(\"--server=\"))] | all(startswith(\"--server=tls+tcp://\"))" \
		"a reconciler talks to svcfleetd without TLS"
	q '[.[] | select(.kind=="NetworkPolicy" and (.spec.podSelector.matchLabels["app.kubernetes.io/name"]=="svcfleetd"))] | length == 1' \
		"no NetworkPolicy for svcfleetd"
	q '[.[] | select(.kind=="NetworkPolicy" and .spec.podSelector == {} and (.spec.policyTypes | index("Ingress") != null))] | length == 1' \
		"no default-deny ingress NetworkPolicy"
	# The key made as secret.yaml says is one svcfleetd takes; its
	# placeholder is refused.
	gen=$(sed -n 's/^#  *secret.key: *//p' "$K/secret.yaml")
	[ -n "$gen" ] || fail "secret.yaml does not say how to make secret.key"
	sh -c "$gen" >"$T/secret.key" || fail "secret.yaml's command failed: $gen"
	chmod 600 "$T/secret.key"
	key_starts() { # key_starts FILE: svcfleetd serves with that key
		# The last call's log goes first: the daemon's redirect opens
		# the file in the child, after this shell may already grep it.
		rm -rf "$T/kd" "$T/kd.log" && mkdir -m 700 "$T/kd"
		"$SVCFLEETD" --data-dir "$T/kd" --listen "ipc://$T/kd/s.sock" \
			--http off --no-reconciler --secret-key-file "$1" \
			>"$T/kd.log" 2>&1 &
		pid=$!
		i=0
		while [ $i -lt 100 ] && kill -0 $pid 2>/dev/null &&
			! grep -q 'serving data-dir' "$T/kd.log"; do
			sleep 0.1 # polling the daemon's log with a deadline
			i=$((i + 1))
		done
		ok=1
		grep -q 'serving data-dir' "$T/kd.log" && ok=0
		kill $pid 2>/dev/null
		wait $pid 2>/dev/null
		return $ok
	}
	key_starts "$T/secret.key" ||
		fail "svcfleetd rejects a key made as secret.yaml says: $(cat "$T/kd.log")"
	jq -r -s '.[] | select(.kind=="Secret") | .stringData["secret.key"] // empty' \
		"$T/all.json" >"$T/placeholder.key"
	chmod 600 "$T/placeholder.key"
	key_starts "$T/placeholder.key" &&
		fail "svcfleetd starts with secret.yaml's placeholder key"
	echo "ok: $(jq -s length "$T/all.json") Kubernetes objects parse and hold together"
	checked=$((checked + 1))
else
	skip "kubectl or jq not installed"
fi

# ------------------------------------ HA manifests and env (issue 15)
if command -v kubectl >/dev/null 2>&1 && command -v jq >/dev/null 2>&1; then
	H=$D/kubernetes/ha/svcfleet-ha.yaml
	KUBECONFIG=/dev/null kubectl label --local -f "$H" \
		svcfleet.io/checked=yes -o json >"$T/ha.json" 2>"$T/err" ||
		fail "$H does not parse: $(cat "$T/err")"
	hq() {
		jq -e -s "$1" "$T/ha.json" >/dev/null || fail "HA manifests: $2"
	}
	HSTS='.[] | select(.kind=="StatefulSet" and .metadata.name=="svcfleetd-ha")'
	hq "[$HSTS | .spec.replicas] == [3]" "svcfleetd-ha must run 3 replicas"
	hq "[$HSTS | .spec.template.spec.containers[0].readinessProbe.httpGet.path] == [\"/readyz\"]" \
		"readiness probe is not /readyz"
	hq "[$HSTS | .spec.template.spec.securityContext.runAsNonRoot] == [true]" \
		"svcfleetd-ha may run as root"
	hq '[.[] | select(.kind=="Deployment") | .spec.template.spec.containers[0].args[] | select(startswith("--server=")) | split(",") | length] == [3]' \
		"the reconciler is not given the 3 replicas"
	jq -r -s '.[] | select(.kind=="ConfigMap") | .data["svcfleetd.conf"]' \
		"$T/ha.json" >"$T/ha.conf"
	grep -q '^store = etcd' "$T/ha.conf" || fail "svcfleetd-ha is not on etcd"
	grep -q '^etcd-cert-file' "$T/ha.conf" || fail "svcfleetd-ha has no etcd client certificate"
	"$SVCFLEETD" --check-config --config "$T/ha.conf" >"$T/check.out" 2>&1 ||
		fail "the HA ConfigMap's svcfleetd.conf: $(cat "$T/check.out")"
	grep -q 'warning' "$T/check.out" &&
		fail "the HA ConfigMap's svcfleetd.conf: $(cat "$T/check.out")"
	(set -a && . "$D/systemd/svcfleetd-etcd.env.example" && set +a &&
		"$SVCFLEETD" --check-config) >"$T/check.out" 2>&1 ||
		fail "svcfleetd-etcd.env.example: $(cat "$T/check.out")"
	echo "ok: the HA manifests and env example hold together"
fi

if [ "$checked" -eq 0 ]; then
	echo "nothing could be checked"
	exit 77
fi
echo "ok: deploy/ ($checked of 3 checks ran)"
