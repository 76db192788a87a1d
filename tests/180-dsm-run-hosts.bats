#!/usr/bin/env bats
# scripts/dsm-run --hosts: the copies started on other hosts through --rsh,
# the same code path users take with ssh.  The hosts are network namespaces
# (scripts/dsm-netns); --rsh is "ip netns exec", or a stand-in for ssh that
# joins its arguments into one command line for a shell in a fresh
# environment, as ssh does.  dsm-run itself, and so its master, runs on host
# 0.  Root only (network namespaces): the tests skip with the reason
# elsewhere, or when the shim is not built.

load helpers

BATS_TEST_TIMEOUT=$((120 * DSM_SLOW))

DSM_RUN=$DSM_ROOT/scripts/dsm-run

# hosts_up N: hosts 0..N (dsm-run runs on host 0, the copies on 1..N) and a
# secret.  Sets SECRET, HOSTS (the names of hosts 1..N, comma-separated) and
# RUN0 (the command that runs dsm-run on host 0 with the build's master and
# shim).
hosts_up() {
	local k
	require_shim
	dsm_netns_up $(($1 + 1))
	dsm_secret_file SECRET
	HOSTS=${DSM_NS}1
	for ((k = 2; k <= $1; k++)); do
		HOSTS+=,$DSM_NS$k
	done
	_dsm_shim_env
	RUN0=(ip netns exec "${DSM_NS}0" env "${_DSM_SHIM_ENV[@]}"
		DSM_PRELOAD="$DSM_PRELOAD_LIB" DSM_MASTER_BIN="$DSM_BUILD/dsm-master"
		"$DSM_RUN")
}

# fake_ssh: a --rsh command named like ssh (so dsm-run quotes for a shell)
# that does what ssh does with its arguments: joins the words after HOST
# with spaces and gives the line to a shell on HOST, in a fresh environment.
# Sets FAKE_SSH.
fake_ssh() {
	FAKE_SSH=$BATS_TEST_TMPDIR/bin/fakessh
	mkdir -p "${FAKE_SSH%/*}"
	cat >"$FAKE_SSH" <<'EOF'
#!/bin/sh
host=$1
shift
exec env -i PATH="$PATH" ${ASAN_OPTIONS:+ASAN_OPTIONS="$ASAN_OPTIONS"} \
	ip netns exec "$host" sh -c "$*"
EOF
	chmod +x "$FAKE_SSH"
}

@test "dsm-run --hosts: bad usage exits 2 before starting anything" {
	run -2 "$DSM_RUN" --hosts a,b -- true
	assert_output --partial '--hosts needs --listen ADDR'
	run -2 "$DSM_RUN" --hosts a,,b --listen 10.0.0.1 -- true
	assert_output --partial "--hosts 'a,,b': expected HOST,HOST,..."
	run -2 "$DSM_RUN" --hosts a,-oProxyCommand=x --listen 10.0.0.1 -- true
	assert_output --partial "starts with '-'"
	run -2 "$DSM_RUN" -n 2 --rsh "ip netns exec" -- true
	assert_output --partial '--rsh is for --hosts'
	run -2 "$DSM_RUN" -n 2 --master 127.0.0.1:7000 --listen 10.0.0.1 -- true
	assert_output --partial 'not with --master'
	run -2 "$DSM_RUN" --hosts a --listen 10.0.0.1 --port 70000 -- true
	assert_output --partial "--port '70000'"
	run -0 "$DSM_RUN" --help
	assert_output --partial '--hosts H1,H2,...'
	assert_output --partial 'CMD HOST env DSM_MASTER=ADDR:PORT'
}

@test "dsm-run --hosts with ip netns exec: counter on 4 copies, a host named twice, equals the native run" {
	hosts_up 3
	local shm t=${UNMOD_TIMEOUT:-$((60 * DSM_SLOW))} k
	run_native counter 4 300 2
	dsm_shm_name shm hosts
	# No -n: one copy per host named, ${DSM_NS}1 twice (ranks 0 and 3).
	start_node dr "${RUN0[@]}" -v --listen "${NS_ADDR[0]}" --secret-file "$SECRET" \
		--hosts "$HOSTS,${DSM_NS}1" --rsh "ip netns exec" --size 16M \
		--shm "$shm" --timeout $((t + 10)) -- \
		"$(unmodified counter)" -s "$shm" -t "$t" 300 2
	wait_node dr $((t + 30))
	run -0 cat "$(log_of dr)"
	assert_equal "$(_dsm_results <<<"$output")" "$NATIVE_RESULT"
	assert_results "$(_dsm_results <<<"$output")" 4 "counter: result total 2400 expected 2400"
	for k in 0 1 2; do
		assert_line --regexp "^dsm-run: rank $k: pid [0-9]+, host ${DSM_NS}$((k + 1))\$"
	done
	assert_line --regexp "^dsm-run: rank 3: pid [0-9]+, host ${DSM_NS}1\$"
	assert_line --regexp "^dsm-run: the copies connect to ${NS_ADDR[0]//./\\.}:[0-9]+\$"
}

@test "dsm-run --hosts with an ssh-like --rsh: placement, environment, words quoted for the remote shell, exit status" {
	hosts_up 3
	fake_ssh
	# shellcheck disable=SC2016 # expanded by the copies
	start_node dr "${RUN0[@]}" -n 5 --listen "${NS_ADDR[0]}" --secret-file "$SECRET" \
		--hosts "$HOSTS" --rsh "$FAKE_SSH" --shm /hosts-env -- \
		sh -c 'printf "<%s>" "$@"; echo " rank $DSM_RANK of $DSM_NODES on $(ip netns identify) shm $DSM_SHM secret $DSM_SECRET_FILE log $DSM_LOG preload $LD_PRELOAD master $DSM_MASTER"; [ "$DSM_RANK" != 4 ] || exit 3' \
		sh "a b" "it's" '$HOME `id`' '*' ''
	wait_node dr $((30 * DSM_SLOW)) 3
	run -0 cat "$(log_of dr)"
	local k host re
	for k in 0 1 2 3 4; do
		host=$DSM_NS$((k % 3 + 1))
		re="^\\[$k\\] <a b><it's><\\\$HOME \`id\`><\\*><> rank $k of 5 on $host shm /hosts-env"
		re+=" secret ${SECRET//./\\.} log warn preload ${DSM_PRELOAD_LIB//./\\.} master ${NS_ADDR[0]//./\\.}:[0-9]+\$"
		assert_line --regexp "$re"
	done
	assert_line --regexp "^dsm-run: rank 4 \\(pid [0-9]+, host ${DSM_NS}2\\) exited with status 3\$"
}

@test "dsm-run --hosts: a missing host, a failing or unknown --rsh, a missing file on a host: one clear line, exit 125" {
	hosts_up 1
	local args=(--listen "${NS_ADDR[0]}" --secret-file "$SECRET")
	run -125 "${RUN0[@]}" "${args[@]}" --hosts "$HOSTS,${DSM_NS}9" --rsh "ip netns exec" -- true
	assert_line --regexp "^dsm-run: cannot run a command on host '${DSM_NS}9' with 'ip netns exec' \\(status [0-9]+\\): .*${DSM_NS}9"
	refute_output --partial '[master]'
	refute_output --regexp '^\[[0-9]+\]'

	run -125 "${RUN0[@]}" "${args[@]}" --hosts "$HOSTS" --rsh "no-such-rsh-command -x" -- true
	assert_output "dsm-run: --rsh 'no-such-rsh-command -x': no-such-rsh-command: command not found"

	run -125 "${RUN0[@]}" "${args[@]}" --hosts "$HOSTS" --rsh false -- true
	assert_output "dsm-run: cannot run a command on host '${DSM_NS}1' with 'false' (status 1)"

	run -125 "${RUN0[@]}" "${args[@]}" --hosts "$HOSTS" --rsh "ip netns exec" \
		--preload /nonexistent/libdsm_preload.so -- true
	assert_output "dsm-run: host '${DSM_NS}1': no readable preload library /nonexistent/libdsm_preload.so"

	run -125 "${RUN0[@]}" "${args[@]}" --hosts "$HOSTS" --rsh "ip netns exec" -- /nonexistent/prog
	assert_output "dsm-run: host '${DSM_NS}1': no executable /nonexistent/prog"
}

@test "dsm-run --hosts: protected mode refuses a non-loopback --listen without --secret-file (125); --insecure runs" {
	hosts_up 1
	run -125 "${RUN0[@]}" --listen "${NS_ADDR[0]}" --hosts "$HOSTS" --rsh "ip netns exec" -- true
	assert_line --partial "[master] dsm-master: error: refusing to listen on ${NS_ADDR[0]} without a secret"
	assert_line --regexp "^dsm-run: dsm-master refused to listen on ${NS_ADDR[0]//./\\.} without a secret \\(protected mode\\): give dsm-run --secret-file FILE"
	refute_output --regexp '^\[[0-9]+\]'

	run -0 "${RUN0[@]}" --listen "${NS_ADDR[0]}" --insecure --hosts "$HOSTS" \
		--rsh "ip netns exec" -- sh -c 'echo "master $DSM_MASTER secret ${DSM_SECRET_FILE-none}"'
	assert_line --regexp "^\\[0\\] master ${NS_ADDR[0]//./\\.}:[0-9]+ secret none\$"
	assert_line --partial '[master] dsm-master: warn: listening on'

	# A wildcard address: the copies are told this machine's name.
	run -0 "${RUN0[@]}" --listen 0.0.0.0 --insecure --hosts "$HOSTS" \
		--rsh "ip netns exec" -- sh -c 'echo "master $DSM_MASTER"'
	assert_line --regexp "^\\[0\\] master $(uname -n):[0-9]+\$"
}

# A program for the copies that writes its pid and the pid of a child
# (sleep) into files under $1, then waits.
SLEEPER='echo $$ >"$1/copy.$DSM_RANK"; sleep 60 & echo $! >"$1/child.$DSM_RANK"; wait'

# assert_gone FILE...: the process whose pid each FILE holds has exited (a
# zombie counts as gone).
assert_gone() {
	local f pid
	for f in "$@"; do
		pid=$(cat "$f")
		wait_for $((5 * DSM_SLOW)) "process $pid (from $f) to exit" \
			eval "! _dsm_alive $pid"
	done
}

@test "dsm-run --hosts: --timeout (124) and SIGTERM (143) stop the copies on the hosts and the master" {
	hosts_up 2
	fake_ssh
	local d=$BATS_TEST_TMPDIR
	start_node dr "${RUN0[@]}" --timeout $((4 * DSM_SLOW)) --listen "${NS_ADDR[0]}" \
		--secret-file "$SECRET" --hosts "$HOSTS" --rsh "ip netns exec" -- \
		sh -c "$SLEEPER" sh "$d"
	wait_file "$d/child.0"
	wait_file "$d/child.1"
	wait_node dr $((20 * DSM_SLOW)) 124
	run -0 cat "$(log_of dr)"
	assert_line "dsm-run: timed out after $((4 * DSM_SLOW)) s: stopping the copies and the master"
	assert_gone "$d"/copy.{0,1} "$d"/child.{0,1}
	rm -f "$d"/copy.* "$d"/child.*

	start_node dr2 "${RUN0[@]}" -v --listen "${NS_ADDR[0]}" --secret-file "$SECRET" \
		--hosts "$HOSTS" --rsh "$FAKE_SSH" -- sh -c "$SLEEPER" sh "$d"
	wait_file "$d/child.0"
	wait_file "$d/child.1"
	kill -TERM "$(pid_of dr2)"
	wait_node dr2 $((15 * DSM_SLOW)) 143
	assert_gone "$d"/copy.{0,1} "$d"/child.{0,1}
	run -0 cat "$(log_of dr2)"
	assert_line --regexp '^dsm-run: dsm-master \(pid [0-9]+\) stopped \(status 0\)$'
}
