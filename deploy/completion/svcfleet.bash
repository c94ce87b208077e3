# bash completion for svcfleet, svcfleetd and svcfleet-reconciler.
# Installed as share/bash-completion/completions/{svcfleet,svcfleetd,
# svcfleet-reconciler}; bash-completion loads it on first use of each.

_svcfleet_words() { # the words of a command line, as compgen wants them
	local IFS=$' \t\n'
	COMPREPLY=($(compgen -W "$1" -- "$2"))
}

# svcfleet completes itself: `svcfleet __complete WORDS...` prints the
# candidates for the last word from the CLI's own command and flag tables
# (each command's flags only; -o's formats; cluster, namespace and Service
# names from the server, cached for a few seconds), or "__files__" where a
# file name goes.
_svcfleet() {
	local cur=${COMP_WORDS[COMP_CWORD]} out
	out=$("${COMP_WORDS[0]}" __complete "${COMP_WORDS[@]:1:COMP_CWORD}" 2>/dev/null) || return
	if [[ $cur == "=" ]]; then
		cur=""
	fi
	if [[ $out == __files__ ]]; then
		COMPREPLY=($(compgen -f -- "$cur"))
		return
	fi
	_svcfleet_words "$out" "$cur"
}

# The daemons: their flags come from their own --help, so completion never
# falls behind the option table.
_svcfleet_daemon() {
	local cur=${COMP_WORDS[COMP_CWORD]} prev=${COMP_WORDS[COMP_CWORD-1]}
	local prog=${COMP_WORDS[0]} words
	case $prev in
	--config | --data-dir | --token-file | --tls-cert | --tls-key | --out | --in | --ca-file)
		COMPREPLY=($(compgen -f -- "$cur"))
		return
		;;
	--log-level)
		_svcfleet_words "debug info warn error" "$cur"
		return
		;;
	esac
	words=$("$prog" --help 2>/dev/null | sed -n 's/^  \(--[a-z0-9-]*\).*/\1/p')
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
