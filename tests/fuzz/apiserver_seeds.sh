#!/bin/sh
# apiserver_seeds.sh KUBEFAKE CORPUS-DIR: writes fuzz_apiserver's seeds
# from what kubefake actually answers (tests/fuzz/README.md). Each file is
# the selector byte of fuzz_apiserver.c, its parameters, then a response
# body as the reconciler receives it:
#   w<seed>BODY   a watch stream (seed: how it is cut into chunks)
#   lBODY         a list page of Services
#   oBODY         a Service as an apply or get answers it
#   eCODEBODY     an error answer with its HTTP code (three digits)
#   vBODY  /version;  nBODY  namespaces;  dBODY  a workload list;
#   pBODY  MetalLB IPAddressPools;  kBODY  kubefake's simulated pools
# MetalLB's own IPAddressPool list (p) is not something kubefake serves:
# that seed is written by hand after MetalLB's documented objects.
set -eu
KUBEFAKE=${1:?usage: apiserver_seeds.sh path/to/kubefake corpus-dir}
out=${2:?usage: apiserver_seeds.sh path/to/kubefake corpus-dir}
mkdir -p "$out"
dir=$(mktemp -d /tmp/sf-apiseeds-XXXXXX)
pid=
cleanup() {
	[ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
	rm -rf "$dir"
}
trap cleanup EXIT

"$KUBEFAKE" --listen 127.0.0.1:0 --token tok --token-readonly ro \
	--metallb-pool default=192.168.10.0/29 \
	--metallb-pool extra=192.168.20.0/30 --lb-delay-ms 50 \
	--watch-history 8 --bookmark-interval-ms 1000 --log-level warn \
	>"$dir/ready" 2>"$dir/err" &
pid=$!
for _ in $(seq 100); do grep -q '^ready ' "$dir/ready" && break; sleep 0.05; done
url=$(awk '/^ready /{print $2}' "$dir/ready")
[ -n "$url" ] || { cat "$dir/err"; echo "kubefake did not start" >&2; exit 1; }

# seed NAME PREFIX: stdin (a body) goes to NAME after PREFIX.
seed() { { printf '%s' "$2"; cat; } >"$out/$1"; }
# get PATH [curl args]: the body, whatever the status.
get() { p=$1; shift; curl -sk -H 'Authorization: Bearer tok' "$@" "$url$p"; }
# code PATH [curl args]: the HTTP status only.
code() { p=$1; shift; curl -sk -o /dev/null -w '%{http_code}' \
	-H 'Authorization: Bearer tok' "$@" "$url$p"; }
apply() { # apply NAME JSON [manager [force]]: server-side apply as svcfleet
	get "/api/v1/namespaces/default/services/$1?fieldManager=${3:-svcfleet}&force=${4:-true}" \
	    -X PATCH -H 'Content-Type: application/apply-patch+yaml' --data-binary "$2"
}
# An apply body as kube/kube_body.c builds it.
body() { # body NAME TYPE PORTS [extra annotations]
	printf '{"apiVersion":"v1","kind":"Service","metadata":{"name":"%s","namespace":"default","labels":{"app":"%s","app.kubernetes.io/managed-by":"svcfleet"},"annotations":{%s"svcfleet.io/owner":"inst-7f3a","svcfleet.io/generation":"2","svcfleet.io/cluster":"east"}},"spec":{"type":"%s","selector":{"app":"%s"},"ports":%s}}' \
	    "$1" "$1" "${4:-}" "$2" "$1" "$3"
}

get /version | seed version v

# A watch from the start (ADDED for what exists), kept open while
# Services are applied, changed out of band and deleted.
curl -sNk -H 'Authorization: Bearer tok' --max-time 4 \
    "$url/api/v1/services?watch=1&allowWatchBookmarks=true&timeoutSeconds=3" \
    >"$dir/watch" 2>/dev/null &
wpid=$!
sleep 0.3

apply web "$(body web NodePort '[{"name":"http","port":80,"targetPort":8080,"protocol":"TCP"},{"name":"dns","port":53,"protocol":"UDP"}]')" |
    seed object-nodeport o
apply lb "$(body lb LoadBalancer '[{"name":"http","port":80,"targetPort":8080,"protocol":"TCP"}]' '"metallb.io/address-pool":"extra",')" |
    seed object-lb-pending o
apply db "$(body db ClusterIP '[{"port":5432,"protocol":"TCP"}]')" >/dev/null
sleep 0.4
get /api/v1/namespaces/default/services/lb | seed object-lb-ingress o
# Out of band: kubectl-edit takes a field svcfleet applied (drift).
get '/api/v1/namespaces/default/services/db?fieldManager=kubectl-edit' \
    -X PATCH -H 'Content-Type: application/merge-patch+json' \
    --data-binary '{"metadata":{"annotations":{"svcfleet.io/generation":"9"}},"spec":{"sessionAffinity":"ClientIP"}}' |
    seed object-drift o
# A finalizer (a set: "v:" in fieldsV1) and fields that are not strings.
apply fin '{"apiVersion":"v1","kind":"Service","metadata":{"name":"fin","namespace":"default","finalizers":["svcfleet.io/cleanup"],"annotations":{"svcfleet.io/owner":"inst-7f3a","svcfleet.io/cluster":"east"}},"spec":{"type":"ClusterIP","publishNotReadyAddresses":true,"externalIPs":["192.0.2.10","192.0.2.11"],"sessionAffinity":"ClientIP","sessionAffinityConfig":{"clientIP":{"timeoutSeconds":300}},"ports":[{"port":80,"protocol":"TCP"}],"selector":{"app":"fin"}}}' |
    seed object-finalizer o
# Someone else's Service: no svcfleet manager, no owner.
get /api/v1/namespaces/default/services -X POST \
    -H 'Content-Type: application/json' \
    --data-binary '{"apiVersion":"v1","kind":"Service","metadata":{"name":"theirs","labels":{"team":"a"}},"spec":{"selector":{"app":"x"},"ports":[{"port":8443,"targetPort":"https"}]}}' |
    seed object-unowned o
get /api/v1/namespaces/default/services/theirs -X DELETE | seed object-deleted o

get '/api/v1/services?limit=250' | seed list-all l
get '/api/v1/services?limit=2' >"$dir/page1"
seed list-page1 l <"$dir/page1"
cont=$(sed -n 's/.*"continue":"\([^"]*\)".*/\1/p' "$dir/page1")
get "/api/v1/services?limit=2&continue=$cont" | seed list-page2 l
get '/api/v1/namespaces/kube-system/services' | seed list-empty l
wait "$wpid" || true
seed watch-events w0 <"$dir/watch"
seed watch-chunked w7 <"$dir/watch"

# Errors, each as the cluster words it.
get /api/v1/namespaces/default/services/nope | seed error-404 e404
apply bad "$(body bad NodePort '[{"name":"http","port":70000,"protocol":"TCP","nodePort":80},{"name":"http","port":0,"protocol":"SCTP"}]')" |
    seed error-422 e422
apply web '{"apiVersion":"v1","kind":"Service","metadata":{"name":"web"},"spec":{"selector":{"app":"other"}}}' other false |
    seed error-409 e409
curl -sk "$url/api/v1/services" | seed error-401 e401
curl -sk -H 'Authorization: Bearer ro' -X DELETE \
    "$url/api/v1/namespaces/default/services/web" | seed error-403 e403
get /api/v1/namespaces/default/services/web -X PATCH \
    -H 'Content-Type: text/plain' --data-binary x | seed error-415 e415
get /api/v1/namespaces/default/services -X POST \
    -H 'Content-Type: application/json' --data-binary '{"kind":' |
    seed error-400 e400
# Enough writes to push the list's continue token and an old
# resourceVersion out of the watch history: 410 both ways.
for i in 1 2 3 4 5 6 7 8 9; do
	apply web "$(body web NodePort "[{\"name\":\"http\",\"port\":8$i,\"protocol\":\"TCP\"}]")" >/dev/null
done
get "/api/v1/services?limit=2&continue=$cont" | seed error-410 e410
curl -sNk -H 'Authorization: Bearer tok' --max-time 2 \
    "$url/api/v1/services?watch=1&resourceVersion=2&timeoutSeconds=1" |
    seed watch-expired w3 || true
for s in 429 500 503; do
	get /_kubefake/faults -X POST -H 'Content-Type: application/json' \
	    --data-binary "{\"error_rate\":1,\"error_status\":$s,\"retry_after_s\":2}" >/dev/null
	get /api/v1/services | seed "error-$s" "e$s"
done
get /_kubefake/faults -X DELETE >/dev/null

get /api/v1/namespaces | seed namespaces n
get /apis/apps/v1/namespaces/default/deployments -X POST \
    -H 'Content-Type: application/json' \
    --data-binary '{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"web"},"spec":{"replicas":2,"selector":{"matchLabels":{"app":"web"}},"template":{"metadata":{"labels":{"app":"web","tier":"front"}},"spec":{"containers":[{"name":"web","image":"nginx"}]}}}}' \
    >/dev/null
get /apis/apps/v1/namespaces/default/deployments | seed workloads-deployments d
get /apis/apps/v1/namespaces/default/daemonsets | seed workloads-empty d
get /_kubefake/metallb/pools | seed pools-kubefake k
# kubefake serves no metallb.io API: the 404 the reconciler falls back on.
[ "$(code /apis/metallb.io/v1beta1/ipaddresspools)" = 404 ]
get /apis/metallb.io/v1beta1/ipaddresspools | seed error-404-metallb e404
cat <<'J' | seed pools-metallb p
{"apiVersion":"metallb.io/v1beta1","items":[{"apiVersion":"metallb.io/v1beta1","kind":"IPAddressPool","metadata":{"name":"default","namespace":"metallb-system","resourceVersion":"1201","uid":"5b1e2f8a-3c44-4f0e-9a51-2b8c6d7e9f10"},"spec":{"addresses":["192.168.10.0/24","fc00:f853:ccd:e799::/124"],"autoAssign":true,"avoidBuggyIPs":false}},{"apiVersion":"metallb.io/v1beta1","kind":"IPAddressPool","metadata":{"name":"reserved","namespace":"metallb-system"},"spec":{"addresses":["192.168.9.1-192.168.9.5"],"autoAssign":false}}],"kind":"IPAddressPoolList","metadata":{"continue":"","resourceVersion":"1250"}}
J
ls "$out" | wc -l
