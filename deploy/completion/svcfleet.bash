# bash completion for svcfleet, svcfleetd and svcfleet-reconciler.
# Installed as share/bash-completion/completions/{svcfleet,svcfleetd,
# svcfleet-reconciler}; bash-completion loads it on first use of each.

_svcfleet_words() { # the words of a command line, as compgen wants them
	local IFS=$' \t\n'
	COMPREPLY=($(compgen -W "$1" -- "$2"))
}

_svcfleet() {
	local cur prev cmd sub i
	cur=${COMP_WORDS[COMP_CWORD]}
	prev=${COMP_WORDS[COMP_CWORD-1]}
	local global="--server --token --token-file -o --output --help -v --verbose"
	for ((i = 1; i < COMP_CWORD; i++)); do
		case ${COMP_WORDS[i]} in
		--server | --token | --token-file | -o | --output) ((i++)) ;;
		-*) ;;
		*)
			if [[ -z $cmd ]]; then
				cmd=${COMP_WORDS[i]}
			elif [[ -z $sub ]]; then
				sub=${COMP_WORDS[i]}
			fi
			;;
		esac
	done
	case $prev in
	-o | --output)
		_svcfleet_words "table wide json yaml" "$cur"
		return
		;;
	-f | --token-file | --kubeconfig | --ca-file)
		COMPREPLY=($(compgen -f -- "$cur"))
		return
		;;
	--type)
		_svcfleet_words "clusterip nodeport loadbalancer" "$cur"
		return
		;;
	--traffic-policy)
		_svcfleet_words "cluster local" "$cur"
		return
		;;
	--lb-type)
		_svcfleet_words "metallb other" "$cur"
		return
		;;
	--for)
		_svcfleet_words "synced deleted" "$cur"
		return
		;;
	esac
	if [[ -z $cmd ]]; then
		_svcfleet_words "apply create get describe delete wait cluster rbac token whoami audit version $global" "$cur"
		return
	fi
	local svcopts="--cluster -n --namespace"
	case $cmd in
	apply) _svcfleet_words "-f --cluster --dry-run $global" "$cur" ;;
	create)
		if [[ -z $sub ]]; then
			_svcfleet_words "service" "$cur"
		else
			_svcfleet_words "$svcopts --type --selector --from-workload --port --session-affinity --session-timeout --annotation --label --traffic-policy --lb-type --lb-pool --lb-address --lb-class --dry-run $global" "$cur"
		fi
		;;
	get)
		if [[ -z $sub ]]; then
			_svcfleet_words "services service" "$cur"
		else
			_svcfleet_words "$svcopts -A --all-namespaces -l --selector --limit $global" "$cur"
		fi
		;;
	describe | delete | wait)
		if [[ -z $sub ]]; then
			_svcfleet_words "service" "$cur"
		else
			_svcfleet_words "$svcopts --wait --for --timeout $global" "$cur"
		fi
		;;
	cluster)
		if [[ -z $sub ]]; then
			_svcfleet_words "add list get remove namespaces workloads" "$cur"
		else
			_svcfleet_words "--kubeconfig --context --api-server --ca-file --token-file -n $global" "$cur"
		fi
		;;
	rbac)
		if [[ -z $sub ]]; then
			_svcfleet_words "grant revoke list" "$cur"
		else
			_svcfleet_words "--user --group --cluster -n admin cluster-admin ns-admin ns-edit ns-view reconciler $global" "$cur"
		fi
		;;
	token)
		if [[ -z $sub ]]; then
			_svcfleet_words "create revoke list" "$cur"
		else
			_svcfleet_words "--groups --ttl $global" "$cur"
		fi
		;;
	audit) _svcfleet_words "--cluster -n --user --since --limit $global" "$cur" ;;
	*) _svcfleet_words "$global" "$cur" ;;
	esac
}

# The daemons: their flags come from their own --help, so completion never
# falls behind the option table.
_svcfleet_daemon() {
	local cur=${COMP_WORDS[COMP_CWORD]} prev=${COMP_WORDS[COMP_CWORD-1]}
	local prog=${COMP_WORDS[0]} words
	case $prev in
	--config | --data-dir | --token-file | --token-auth-file | --tls-cert | --tls-key | --out | --in | --ca-file)
		COMPREPLY=($(compgen -f -- "$cur"))
		return
		;;
	--log-level)
		_svcfleet_words "debug info warn error" "$cur"
		return
		;;
	esac
	# (Not the renamed flags --help lists last.)
	words=$("$prog" --help 2>/dev/null | sed -n '/^Renamed/q; s/^  \(--[a-z0-9-]*\).*/\1/p')
	if [[ ${COMP_WORDS[0]##*/} == svcfleetd && $COMP_CWORD -eq 1 ]]; then
		words="backup restore $words"
	fi
	if [[ ${COMP_WORDS[1]} == backup || ${COMP_WORDS[1]} == restore ]]; then
		words=$("$prog" "${COMP_WORDS[1]}" --help 2>/dev/null | sed -n 's/^  \(--[a-z0-9-]*\).*/\1/p')
	fi
	_svcfleet_words "$words" "$cur"
}

complete -F _svcfleet svcfleet
complete -F _svcfleet_daemon svcfleetd svcfleet-reconciler
