#!/bin/bash
# kubectl_test.sh KUBEFAKE: the real kubectl against kubefake, unmodified
# and without --validate=false: get -A, client-side apply, server-side
# apply (twice, and a second manager with and without --force-conflicts),
# merge and strategic patch, replace (and a stale replace), delete,
# get -w, create deployment, and -o yaml with allocated values.
# PROTO (h2, the default, or http/1.1) is the protocol kubectl must use:
# client-go offers h2 by ALPN unless DISABLE_HTTP2 is set; kubefake's
# connection counters prove which one served.
set -uo pipefail
KUBEFAKE=${1:?usage: kubectl_test.sh path/to/kubefake [h2|http/1.1]}
PROTO=${2:-h2}
case $PROTO in
h2) ;;
http/1.1) export DISABLE_HTTP2=1 ;;
*) echo "unknown protocol $PROTO"; exit 2 ;;
esac
command -v kubectl >/dev/null || { echo "kubectl not installed: skipped"; exit 77; }

dir=$(mktemp -d /tmp/kubefake-kubectl-XXXXXX)
pid=
fails=0
passes=0
cleanup() {
	[ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
	rm -rf "$dir"
}
trap cleanup EXIT

ok() { passes=$((passes + 1)); echo "ok   $*"; }
bad() { fails=$((fails + 1)); echo "FAIL $*"; }
# expect DESC PATTERN TEXT: TEXT must match the extended regex PATTERN.
expect() {
	# A here-string, not a pipe: under pipefail, grep -q leaving at the
	# first matching line made printf's next write fail (SIGPIPE), and a
	# match counted as a mismatch whenever the text had lines after it.
	if grep -Eq -- "$2" <<<"$3"; then ok "$1"; else
		bad "$1: /$2/ not in:"; printf '%s\n' "$3" | sed 's/^/     /'; fi
}

"$KUBEFAKE" --listen 127.0.0.1:0 --state-dir "$dir/state" \
	--write-kubeconfig "$dir/kubeconfig" --lb-delay-ms 50 \
	--metallb-pool default=192.168.70.0/29 >"$dir/out" 2>"$dir/err" &
pid=$!
for _ in $(seq 600); do grep -q '^ready ' "$dir/out" && break; sleep 0.05; done
grep -q '^ready https://127.0.0.1:' "$dir/out" || { cat "$dir/err"; echo "FAIL kubefake did not start"; exit 1; }

# (client-go logs a line when DISABLE_HTTP2 is set: not part of any output)
K() { kubectl --kubeconfig "$dir/kubeconfig" --cache-dir "$dir/cache" "$@" 2>&1 | sed "/HTTP2 has been explicitly disabled/d"; }

# get svc -A: the default Service, printed as a server-side Table.
out=$(K get svc -A)
expect "get svc -A" '^NAMESPACE +NAME +TYPE +CLUSTER-IP +EXTERNAL-IP +PORT\(S\) +AGE' "$out"
expect "get svc -A row" '^default +kubernetes +ClusterIP +10\.96\.0\.1 +<none> +443/TCP' "$out"

# Client-side apply: create, then a three-way strategic patch.
cat >"$dir/web.yaml" <<'Y'
apiVersion: v1
kind: Service
metadata:
  name: web
  labels: {app: web}
spec:
  type: NodePort
  selector: {app: web}
  ports:
  - {name: http, port: 80, targetPort: 8080}
  - {name: https, port: 443, targetPort: 8443}
Y
expect "apply -f creates" 'service/web created' "$(K apply -f "$dir/web.yaml")"
sed -i 's/8080/9090/' "$dir/web.yaml"
expect "apply -f configures" 'service/web configured' "$(K apply -f "$dir/web.yaml")"
expect "apply -f changed targetPort" '^9090 8443$' \
	"$(K get svc web -o jsonpath='{.spec.ports[0].targetPort} {.spec.ports[1].targetPort}')"
expect "client-side apply manager" 'kubectl-client-side-apply' \
	"$(K get svc web -o yaml --show-managed-fields)"

# Moving an object from client-side to server-side apply: kubectl first
# rewrites managedFields with a JSON patch (test + replace).
expect "client- to server-side apply" 'service/web serverside-applied' "$(K apply --server-side -f "$dir/web.yaml")"
expect "migrated manager" 'manager: kubectl-last-applied' "$(K get svc web -o yaml --show-managed-fields)"

# Server-side apply twice: the second is a no-op (same resourceVersion).
cat >"$dir/api.yaml" <<'Y'
apiVersion: v1
kind: Service
metadata:
  name: api
spec:
  selector: {app: api}
  ports:
  - {name: http, port: 80, targetPort: 8080}
Y
expect "apply --server-side" 'service/api serverside-applied' "$(K apply --server-side -f "$dir/api.yaml")"
rv1=$(K get svc api -o jsonpath='{.metadata.resourceVersion}')
expect "apply --server-side again" 'service/api serverside-applied' "$(K apply --server-side -f "$dir/api.yaml")"
rv2=$(K get svc api -o jsonpath='{.metadata.resourceVersion}')
[ "$rv1" = "$rv2" ] && ok "second server-side apply wrote nothing ($rv1)" || bad "rv moved $rv1 -> $rv2"
expect "Apply manager kubectl" 'manager: kubectl$' "$(K get svc api -o yaml --show-managed-fields)"

# A second manager conflicts, then forces.
sed 's/8080/7070/' "$dir/api.yaml" >"$dir/api2.yaml"
out=$(K apply --server-side --field-manager=other -f "$dir/api2.yaml"); rc=$?
[ $rc -ne 0 ] && ok "conflicting apply fails" || bad "conflicting apply succeeded"
expect "conflict message" 'Apply failed with 1 conflict: conflict with "kubectl": \.spec\.ports\[port=80,protocol="TCP"\]\.targetPort' "$out"
expect "force-conflicts" 'serverside-applied' "$(K apply --server-side --field-manager=other --force-conflicts -f "$dir/api2.yaml")"
expect "forced value" '^7070$' "$(K get svc api -o jsonpath='{.spec.ports[0].targetPort}')"

# Patches: merge and strategic (ports merge by port).
expect "patch merge" 'patched' "$(K patch svc web --type=merge -p '{"metadata":{"labels":{"tier":"front"}}}')"
expect "merge result" '^front$' "$(K get svc web -o jsonpath='{.metadata.labels.tier}')"
expect "patch strategic" 'patched' "$(K patch svc web -p '{"spec":{"ports":[{"port":443,"targetPort":9443}]}}')"
expect "strategic kept the other port" '^9090 9443$' \
	"$(K get svc web -o jsonpath='{.spec.ports[0].targetPort} {.spec.ports[1].targetPort}')"

# Replace, then replace with a stale copy.
K get svc web -o yaml >"$dir/edit.yaml"
sed -i 's/tier: front/tier: back/' "$dir/edit.yaml"
expect "replace" 'service/web replaced' "$(K replace -f "$dir/edit.yaml")"
expect "replace result" '^back$' "$(K get svc web -o jsonpath='{.metadata.labels.tier}')"
expect "stale replace conflicts" 'the object has been modified; please apply your changes to the latest version' \
	"$(K replace -f "$dir/edit.yaml")"

# get -w receives a change. The label is set only once the watch has
# shown its initial ADDED (kubectl may take seconds to start on a busy
# machine), and the watch is stopped once the MODIFIED has arrived.
( timeout 60 kubectl --kubeconfig "$dir/kubeconfig" --cache-dir "$dir/cache" \
	get svc web -w --output-watch-events >"$dir/watch" 2>&1 ) &
wpid=$!
for _ in $(seq 600); do grep -q 'ADDED' "$dir/watch" && break; sleep 0.05; done
K label svc web watched=yes >/dev/null
for _ in $(seq 600); do grep -q '^MODIFIED' "$dir/watch" && break; sleep 0.05; done
kill "$wpid" 2>/dev/null; wait "$wpid" 2>/dev/null
expect "get -w initial" '^(EVENT +)?ADDED +web ' "$(cat "$dir/watch")"
expect "get -w change" '^MODIFIED +web +NodePort' "$(cat "$dir/watch")"

# Delete.
expect "delete" 'service "web" deleted' "$(K delete svc web)"
expect "deleted" 'NotFound' "$(K get svc web)"

# A workload's pod-template labels.
expect "create deployment" 'deployment.apps/nginx created' "$(K create deployment nginx --image=nginx:1.27)"
expect "deployment labels" '^\{"app":"nginx"\}$' "$(K get deployment nginx -o jsonpath='{.spec.template.metadata.labels}')"

# -o yaml shows the allocated cluster IP, node port and MetalLB address.
cat >"$dir/lb.yaml" <<'Y'
apiVersion: v1
kind: Service
metadata:
  name: lb
spec:
  type: LoadBalancer
  selector: {app: lb}
  ports:
  - {port: 80, targetPort: 8080}
Y
K apply --server-side -f "$dir/lb.yaml" >/dev/null
for _ in $(seq 600); do
	ip=$(K get svc lb -o jsonpath='{.status.loadBalancer.ingress[0].ip}')
	[ -n "$ip" ] && break; sleep 0.05
done
out=$(K get svc lb -o yaml)
expect "describe" 'LoadBalancer Ingress: +192\.168\.70\.0' "$(K describe svc lb)"
expect "events" 'IPAllocated +service/lb +Assigned IP \["192\.168\.70\.0"\]' "$(K get events)"
expect "yaml clusterIP" '^  clusterIP: 10\.(9[6-9]|1[01][0-9])\.[0-9]+\.[0-9]+$' "$out"
expect "yaml nodePort" '^  (- |  )nodePort: 3[0-2][0-9]{3}$' "$out"
expect "yaml ingress ip" '^    - ip: 192\.168\.70\.0$' "$out"
expect "yaml ipMode" '^      ipMode: VIP$' "$out"
expect "get shows external IP" '^lb +LoadBalancer +10\.[0-9.]+ +192\.168\.70\.0 +80:3[0-9]+/TCP' "$(K get svc lb)"

# OpenAPI (issue 21): client-side validation from /openapi/v2 (protobuf),
# also of a List's items, as `svcfleet get services -A -o yaml` prints
# them; `explain` from /openapi/v3.
cat >"$dir/list.yaml" <<'Y'
apiVersion: v1
kind: List
items:
- apiVersion: v1
  kind: Service
  metadata: {name: listed, namespace: default}
  spec: {ports: [{port: 80, targetPort: 8080}]}
Y
expect "apply --dry-run=client of a List" 'service/listed created \(dry run\)' "$(K apply --dry-run=client -f "$dir/list.yaml")"
expect "dry run wrote nothing" 'NotFound' "$(K get svc listed)"
expect "apply of a List" 'service/listed created' "$(K apply -f "$dir/list.yaml")"
sed -i 's/port: 80,/port: "x80", bogus: 1,/' "$dir/list.yaml"
expect "client-side validation" 'unknown field "bogus" in io\.k8s\.api\.core\.v1\.ServicePort.*invalid type for io\.k8s\.api\.core\.v1\.ServicePort\.port: got "string", expected "integer"' "$(K apply --dry-run=client -f "$dir/list.yaml")"
expect "explain service" '^FIELD: ports <\[\]ServicePort>' "$(K explain service.spec.ports)"

# Every kubectl connection used PROTO (issue 21).
stats=$(K get --raw /_kubefake/stats)
h2=$(jq -r .connections.h2 <<<"$stats"); h1=$(jq -r .connections.http1 <<<"$stats")
if [ "$PROTO" = h2 ]; then
	[ "$h2" -gt 0 ] && [ "$h1" -eq 0 ] && ok "all over h2 ($h2 connections, $(jq -r .h2_streams <<<"$stats") streams)" || bad "protocol: h2=$h2 http1=$h1"
else
	[ "$h1" -gt 0 ] && [ "$h2" -eq 0 ] && ok "all over http/1.1 ($h1 connections)" || bad "protocol: h2=$h2 http1=$h1"
fi

kill "$pid"; wait "$pid"; rc=$?; pid=
[ $rc -eq 0 ] && ok "clean shutdown" || { bad "kubefake exited $rc"; cat "$dir/err"; }
echo "$passes passed, $fails failed"
[ $fails -eq 0 ]
