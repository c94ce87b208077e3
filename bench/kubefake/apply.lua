-- apply.lua: wrk script for bench/kubefake/apply-rate. Each request is a
-- server-side apply (PATCH application/apply-patch+yaml, force) of a
-- Service with a name of its own, the way svcfleet's reconciler applies:
-- the first round creates, later rounds (ROUND > 1) update a label.
-- PREFIX names the Services, NS is their namespace (default: default).
local threads = {}
local token = os.getenv("KF_TOKEN")
local round = os.getenv("ROUND") or "1"
local prefix = os.getenv("PREFIX") or "bench"
local ns = os.getenv("NS") or "default"

function setup(thread)
	thread:set("id", #threads)
	table.insert(threads, thread)
end

function init(args)
	n = 0
end

function request()
	n = n + 1
	local name = string.format("%s-%d-%d", prefix, id, n)
	local body = string.format(
		'{"apiVersion":"v1","kind":"Service","metadata":{"name":"%s",' ..
		'"labels":{"app.kubernetes.io/managed-by":"svcfleet","round":"%s"},' ..
		'"annotations":{"svcfleet.io/owner":"bench"}},"spec":{"type":"ClusterIP",' ..
		'"selector":{"app":"%s"},"ports":[{"name":"http","port":80,' ..
		'"targetPort":8080,"protocol":"TCP"}]}}', name, round, name)
	return wrk.format("PATCH",
		"/api/v1/namespaces/" .. ns .. "/services/" .. name ..
		"?fieldManager=svcfleet&force=true",
		{["Content-Type"] = "application/apply-patch+yaml",
		 ["Authorization"] = "Bearer " .. token}, body)
end
