# etcd3.sh: sourced by bench/etcd/*.sh. Starts 3 etcd members on loopback
# with their data in $W, appends their pids to pids and EPIDS, sets EP (the
# client endpoints, comma-separated), and returns once every member sees a
# leader (at most 60 s).
port() { python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])'; }
P=(); for i in 0 1 2 3 4 5; do P+=("$(port)"); done
IC="m0=http://127.0.0.1:${P[3]},m1=http://127.0.0.1:${P[4]},m2=http://127.0.0.1:${P[5]}"
for i in 0 1 2; do
	etcd --name m$i --data-dir "$W/e$i" --listen-client-urls http://127.0.0.1:${P[$i]} \
		--advertise-client-urls http://127.0.0.1:${P[$i]} \
		--listen-peer-urls http://127.0.0.1:${P[$((i + 3))]} \
		--initial-advertise-peer-urls http://127.0.0.1:${P[$((i + 3))]} \
		--initial-cluster "$IC" --initial-cluster-token b >"$W/e$i.log" 2>&1 &
	pids+=($!)
	EPIDS+=($!)
done
EP="http://127.0.0.1:${P[0]},http://127.0.0.1:${P[1]},http://127.0.0.1:${P[2]}"
# A leader, as every member sees it (at most 60 s).
for i in $(seq 300); do
	n=0
	for e in ${EP//,/ }; do
		curl -sf -m 2 -X POST "$e/v3/maintenance/status" -d '{}' 2>/dev/null |
			grep -q '"leader":"[1-9]' && n=$((n + 1))
	done
	[ $n = 3 ] && break
	sleep 0.2
done
