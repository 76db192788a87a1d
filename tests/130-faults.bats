#!/usr/bin/env bats
# Injected faults (docs/FAULTS.md): connections cut half-way through a
# release or a page fetch by tests/tools/dsm-proxy, nodes killed inside a
# mutex, a barrier or a condition wait (through the preload shim), delay on
# every message, a slow link, and peers that go silent without closing
# anything (SIGSTOP, a stalled connection), which only the heartbeat
# (docs/PROTOCOL.md, "Heartbeat") can detect.

load helpers

BATS_TEST_TIMEOUT=$((90 * DSM_SLOW))

setup() {
	dsm_setup
	COUNTER=$(scenario counter)
	ALLORNONE=$(scenario faults/allornone)
	PROXY=$DSM_BUILD/tests/dsm-proxy
	[[ -x $PROXY ]] || fail "$PROXY is not built: run 'make check-tests'"
}

# A test may leave processes stopped (SIGSTOP): continue them first, so
# that teardown's SIGTERM reaches them.
teardown() {
	local pid _
	if [[ -f ${DSM_PROCS-} ]]; then
		while IFS=$'\t' read -r pid _; do
			kill -CONT "$pid" 2>/dev/null || true
		done <"$DSM_PROCS"
	fi
	dsm_teardown
}

# start_proxy [OPTIONS...]: dsm-proxy in front of the master, as process
# "proxy"; sets PROXY_PORT.
start_proxy() {
	start_node proxy "$PROXY" --listen 0 --to "127.0.0.1:$MASTER_PORT" "$@"
	wait_log proxy '^dsm-proxy: listening on ' $((5 * DSM_SLOW))
	PROXY_PORT=$(sed -n 's/^dsm-proxy: listening on 127\.0\.0\.1:\([0-9]*\)$/\1/p' \
		"$(log_of proxy)")
	[[ -n $PROXY_PORT ]] || fail "no port in the proxy's ready line"
}

# start_shim NAME RANK NODES PORT SHM ARGS...: crashsync (tests/faults) as
# rank RANK of NODES under the shim, attached to the master on
# 127.0.0.1:PORT, with the extra environment SHIM_ENV (VAR=VALUE...).
start_shim() {
	local name=$1 rank=$2 nodes=$3 port=$4 shm=$5
	shift 5
	_dsm_shim_env
	start_node "$name" env "${_DSM_SHIM_ENV[@]}" LD_PRELOAD="$DSM_PRELOAD_LIB" \
		DSM_MASTER="127.0.0.1:$port" DSM_SHM="$shm" DSM_RANK="$rank" \
		DSM_NODES="$nodes" ${SHIM_ENV[@]+"${SHIM_ENV[@]}"} \
		"$CRASHSYNC" -s "$shm" -t $((60 * DSM_SLOW)) "$@"
}

# start_ranks SHM_TAG ARGS...: a master and crashsync ranks 0..3 of 4
# under the shim, each with ARGS; returns once rank 0 has printed the
# offsets of its objects.
start_ranks() {
	local shm k tag=$1
	shift
	require_shim
	CRASHSYNC=$(scenario faults/crashsync)
	dsm_shm_name shm "$tag"
	start_master --size 16M --log-level debug
	for k in 0 1 2 3; do
		start_shim "rank$k" "$k" 4 "$MASTER_PORT" "$shm" "$@"
	done
	wait_log rank0 '^crashsync: rank 0: offsets '
}

# kill_rank K: the victim of a crashsync case, rank K, dies by SIGKILL.
kill_rank() {
	kill -KILL "$(pid_of "rank$1")"
	wait_node "rank$1" 10 137
}

# survivors_done LINE RANK...: each RANK finishes with LINE and no dsm:
# line; the master is up.
survivors_done() {
	local line=$1 k
	shift
	for k in "$@"; do
		wait_node "rank$k" $((60 * DSM_SLOW))
		run -0 cat "$(log_of "rank$k")"
		assert_line "$line"
		refute_line --regexp '^dsm: '
	done
	_dsm_alive "$MASTER_PID" || fail "the master died"
}

# others_exact VALUE: straight to the master, an allornone checker finds
# every word of the region at VALUE; counters count1 and count2 (through the
# proxy) end at 600; the master is up.
others_exact() {
	local k
	start_node check "$ALLORNONE" 127.0.0.1 "$MASTER_PORT" check "$1" \
		--pages "$TWO_FRAMES"
	wait_node check
	for k in 1 2; do
		wait_node "count$k" $((60 * DSM_SLOW))
		assert_equal "$(counter_value "count$k")" 600
	done
	_dsm_alive "$MASTER_PID" || fail "the master died"
}

counter_value() { # NAME -> the value it printed last
	local line
	line=$(grep '^counter: value ' "$(log_of "$1")" | tail -n1)
	echo "${line#counter: value }"
}

# The offset of object OBJ (mutex, cond, barrier2) that crashsync's rank 0
# (process NAME) printed.
crashsync_offset() {
	sed -n "s/^crashsync: rank 0: offsets .*$2 \\([0-9]*\\).*/\\1/p" "$(log_of "$1")"
}

# master_waits OP OFFSET COUNT: until the master's debug log says COUNT
# operations OP on the object at OFFSET wait there (are queued).
master_waits() {
	wait_for $((20 * DSM_SLOW)) "$3 x $1 waiting at offset $2 in the master's log" \
		_master_waits "$@"
}
_master_waits() {
	local n
	n=$(grep -cE ": $1 id=[0-9]+ off=$2 .*: waits\$" "$MASTER_LOG" || true)
	[[ $n -ge $3 ]]
}

# cpu_ticks_at_least PID N: process PID has used N clock ticks of CPU
# time (user + system, /proc/PID/stat fields 14 and 15).
cpu_ticks_at_least() {
	local stat
	read -r stat <"/proc/$1/stat" || return 1
	stat=${stat##*) }
	read -ra stat <<<"$stat"
	((stat[11] + stat[12] >= $2))
}

# Only line of NAME's log starting with "dsm: " must match REGEX.
assert_one_dsm_line() {
	run -0 grep -c '^dsm: ' "$(log_of "$1")"
	assert_output 1
	run -0 grep '^dsm: ' "$(log_of "$1")"
	assert_output --regexp "$2"
}

# Pages of a region whose release (every byte changed) is exactly two UPDAT
# frames: a frame carries a little under 1 MiB of whole pages.
TWO_FRAMES=$((3 * 1048576 / 2 / DSM_PAGE_SIZE))

# release_cut mid|end: a writer's second release (two UPDAT frames, then
# PUSH? or UNLOW) is cut by the proxy at UPDAT #4, its second frame, with
# --cut-mid or --cut-end, while two counters work through the same proxy
# and a reader checks the region directly.  Only release 1 may count.
release_cut() {
	local cut=$1
	start_master --size 4M
	start_proxy --conn 3 --cut-at UPDAT:4 "--cut-$cut"
	local k
	for k in 1 2; do
		start_node "count$k" "$COUNTER" 127.0.0.1 "$PROXY_PORT" 300 \
			--offset $((3 * 1048576)) --wait-total 600 --timeout $((60 * DSM_SLOW))
		wait_log "count$k" '^counter: attached'
	done
	start_node reader "$ALLORNONE" 127.0.0.1 "$MASTER_PORT" reader \
		--pages "$TWO_FRAMES" --until "$BATS_TEST_TMPDIR/stop" \
		--timeout $((60 * DSM_SLOW))
	start_node writer "$ALLORNONE" 127.0.0.1 "$PROXY_PORT" writer 5 \
		--pages "$TWO_FRAMES"
	wait_node writer $((30 * DSM_SLOW)) 1
	run -0 cat "$(log_of writer)"
	assert_line 'allornone: wrote round 1'
	assert_line --regexp '^allornone: (lock_write|unlock_write|destroy_slave): .+ \(-5\)$'
	run -0 grep '^dsm-proxy: cut ' "$(log_of proxy)"
	local re='^dsm-proxy: cut conn 3 at UPDAT #4 \(13 \+ ([0-9]+) of its ([0-9]+) payload bytes sent\) after [0-9]+ bytes up$'
	[[ $output =~ $re ]] || fail "unexpected cut line: $output"
	if [[ $cut == mid ]]; then
		assert_equal "${BASH_REMATCH[1]}" $((BASH_REMATCH[2] / 2))
	else
		assert_equal "${BASH_REMATCH[1]}" "${BASH_REMATCH[2]}"
	fi

	touch "$BATS_TEST_TMPDIR/stop"
	wait_node reader $((30 * DSM_SLOW))
	run -0 cat "$(log_of reader)"
	assert_line --regexp '^allornone: reader did [0-9]+ checks, saw [0-9]+ values, last 1$'
	others_exact 1
}

@test "a release cut half-way through its second UPDAT frame is not applied at all; the others count exactly" {
	release_cut mid
}

@test "a release cut after its last UPDAT, before its closing frame, is not applied at all" {
	release_cut end
}

@test "a page fetch cut half-way: that node exits with one clear line, the others finish exactly" {
	start_master --size 4M
	start_proxy --conn 1 --cut-at PAGES:2 --cut-mid
	# The victim reads the 1.5 MiB region once: several GETPG/PAGES.
	start_node victim "$ALLORNONE" 127.0.0.1 "$PROXY_PORT" reader --pages "$TWO_FRAMES"
	wait_log proxy '^dsm-proxy: conn 1 from '
	local k
	for k in 1 2; do
		start_node "count$k" "$COUNTER" 127.0.0.1 "$PROXY_PORT" 300 \
			--offset $((3 * 1048576)) --wait-total 600 --timeout $((60 * DSM_SLOW))
	done
	start_node writer "$ALLORNONE" 127.0.0.1 "$MASTER_PORT" writer 20 --pages "$TWO_FRAMES"
	wait_node victim $((20 * DSM_SLOW)) 1
	assert_one_dsm_line victim '^dsm: cannot serve the page fault at 0x[0-9a-f]+: lost the master '
	run -0 grep '^dsm-proxy: cut ' "$(log_of proxy)"
	assert_output --regexp '^dsm-proxy: cut conn 1 at PAGES #2 \(13 \+ [0-9]+ of its [0-9]+ payload bytes sent\) after [0-9]+ bytes down$'
	run -1 grep -q '^allornone: reader did' "$(log_of victim)"

	wait_node writer $((30 * DSM_SLOW))
	others_exact 20
}

@test "shim: a node killed while holding a pthread mutex: the others get it and count exactly" {
	require_shim
	CRASHSYNC=$(scenario faults/crashsync)
	local shm k
	dsm_shm_name shm mutex
	start_master --size 16M
	for k in 0 1 2; do
		start_shim "rank$k" "$k" 3 "$MASTER_PORT" "$shm" mutex 200
	done
	wait_log rank2 '^crashsync: rank 2: holding the mutex' $((30 * DSM_SLOW))
	wait_log rank0 '^crashsync: rank 0: started'
	wait_log rank1 '^crashsync: rank 1: started'
	# Nothing can finish while the victim holds the mutex.
	run -1 grep -q 'result' "$(log_of rank0)" "$(log_of rank1)"

	kill_rank 2
	# The victim's unreleased +1000 does not count.
	survivors_done 'crashsync: result mutex total 400 expected 400' 0 1
}

@test "shim: a node killed inside a barrier: its fellow waiters and a late one exit with one clear line, nobody hangs" {
	local k off
	start_ranks barrier barrier "$BATS_TEST_TMPDIR/go"
	off=$(crashsync_offset rank0 barrier2)
	# Ranks 1, 2 and the victim (3) wait at barrier 2, rank 0 not yet.
	master_waits BARRIER_WAIT "$off" 3

	kill_rank 3
	# What the product does (docs/PROTOCOL.md): a lost node breaks every
	# barrier it waited on; each waiter, now or later, gets BROKEN and
	# the shim ends the process with one line rather than hang.
	for k in 1 2; do
		wait_node "rank$k" $((5 * DSM_SLOW)) 1
		assert_one_dsm_line "rank$k" '^dsm: (error: )?the barrier at 0x[0-9a-f]+ is broken: '
	done
	touch "$BATS_TEST_TMPDIR/go"
	wait_node rank0 $((5 * DSM_SLOW)) 1
	assert_one_dsm_line rank0 '^dsm: (error: )?the barrier at 0x[0-9a-f]+ is broken: '
	for k in 0 1 2; do
		run -0 cat "$(log_of "rank$k")"
		refute_output --partial 'result'
		refute_output --partial 'watchdog'
	done
	run -0 grep -F "barrier at offset $off is broken" "$MASTER_LOG"
	_dsm_alive "$MASTER_PID" || fail "the master died"
}

@test "shim: a node killed while waiting on a condition variable: the broadcast wakes exactly the others" {
	local off
	start_ranks cond cond "$BATS_TEST_TMPDIR/go"
	off=$(crashsync_offset rank0 cond)
	# Ranks 1, 2 and the victim (3) wait on the condition.
	master_waits COND_WAIT "$off" 3

	kill_rank 3
	touch "$BATS_TEST_TMPDIR/go"
	survivors_done 'crashsync: result cond woken 2 expected 2' 0 1 2
}

@test "shim: a node killed after a broadcast, while it waits to get the mutex back: the others do, exact count" {
	local off
	start_ranks reacq cond "$BATS_TEST_TMPDIR/go" "$BATS_TEST_TMPDIR/unlock"
	off=$(crashsync_offset rank0 cond)
	master_waits COND_WAIT "$off" 3
	touch "$BATS_TEST_TMPDIR/go"
	# Rank 0 broadcast and still holds the mutex: ranks 1, 2 and the
	# victim wait in the mutex's queue to get it back.
	wait_log rank0 '^crashsync: rank 0: broadcast, holding the mutex'

	kill_rank 3
	touch "$BATS_TEST_TMPDIR/unlock"
	survivors_done 'crashsync: result cond woken 2 expected 2' 0 1 2
}

@test "5 ms delay on every message both ways: 4 counter nodes count exactly" {
	start_master
	start_proxy --delay 5
	local k start
	start=$EPOCHREALTIME
	for k in 1 2 3 4; do
		start_node "node$k" "$COUNTER" 127.0.0.1 "$PROXY_PORT" 40 \
			--wait-total 160 --timeout $((60 * DSM_SLOW))
	done
	for k in 1 2 3 4; do
		wait_node "node$k" $((60 * DSM_SLOW))
		assert_equal "$(counter_value "node$k")" 160
	done
	# The delay was there: 40 lock round trips alone take 40 x 10 ms.
	run -0 awk -v a="$start" -v b="$EPOCHREALTIME" 'BEGIN { exit !(b - a >= 0.4) }'
	start_node checker "$COUNTER" 127.0.0.1 "$MASTER_PORT" 0 --print
	wait_node checker
	assert_equal "$(counter_value checker)" 160
}

# Library nodes blocked on a lock behind a holder, and shim nodes blocked at
# a barrier and in a condition wait; sets up everything but the fault.
# Extra environment for every node: NODE_ENV.
blocked_nodes() {
	require_shim
	CRASHSYNC=$(scenario faults/crashsync)
	local shm k
	start_node holder env ${NODE_ENV[@]+"${NODE_ENV[@]}"} "$COUNTER" \
		127.0.0.1 "$MASTER_PORT" 0 --hold "$BATS_TEST_TMPDIR/held" --offset 8388608
	wait_file "$BATS_TEST_TMPDIR/held" $((30 * DSM_SLOW))
	for k in 1 2; do
		start_node "node$k" env ${NODE_ENV[@]+"${NODE_ENV[@]}"} "$COUNTER" \
			127.0.0.1 "$MASTER_PORT" 100 --offset 8388608
		wait_log "node$k" '^counter: attached'
	done
	dsm_shm_name shm blocked
	SHIM_ENV=(${NODE_ENV[@]+"${NODE_ENV[@]}"})
	# Ranks 0 and 1 of 3 at the start barrier (rank 2 never comes).
	for k in 0 1; do
		start_shim "shim$k" "$k" 3 "$MASTER_PORT" "$shm" cond "$BATS_TEST_TMPDIR/never"
		wait_log "shim$k" 'at the start barrier' $((30 * DSM_SLOW))
	done
}

# Every blocked node ended within SECS seconds (all of them together) with
# one clear error.
assert_blocked_nodes_failed() {
	local secs=$1 start=$EPOCHREALTIME k
	# First wait for them all, then look at what they said: the bound is
	# for the nodes, not for the assertions.
	for k in 1 2; do
		wait_node "node$k" "$secs" 1
	done
	for k in 0 1; do
		wait_node "shim$k" "$secs" '!'
	done
	run -0 awk -v a="$start" -v b="$EPOCHREALTIME" -v s="$secs" \
		'BEGIN { printf "%.2f s\n", b - a; exit !(b - a <= s) }'
	for k in 1 2; do
		run -0 cat "$(log_of "node$k")"
		assert_line --regexp '^counter: lock_write: .+ \(-5\)$'
	done
	for k in 0 1; do
		assert_one_dsm_line "shim$k" '^dsm: '
		run -0 cat "$(log_of "shim$k")"
		refute_output --partial 'watchdog'
	done
}

@test "master killed under nodes blocked on a lock, a barrier and a condition: each fails clearly within 5 s" {
	start_master --size 16M
	blocked_nodes
	kill -KILL "$MASTER_PID"
	assert_blocked_nodes_failed $((5 * DSM_SLOW))
	wait_node master 5 137
}

# Needs the heartbeat: the stopped master's sockets stay open.
@test "master stopped with SIGSTOP under blocked nodes: with DSM_TIMEOUT=2 each fails clearly within 5 s" {
	start_master --size 16M
	NODE_ENV=(DSM_TIMEOUT=2)
	blocked_nodes
	kill -STOP "$MASTER_PID"
	# 2 s of silence, up to 1 s since the last ping before the stop, and
	# 2 s for a loaded machine.
	assert_blocked_nodes_failed $((5 * DSM_SLOW))
}

# Needs the heartbeat: a stopped node's socket stays open.
@test "a node stopped with SIGSTOP while holding lock_write is dropped after --timeout 2; the others finish exactly" {
	start_master --timeout 2
	start_node holder "$COUNTER" 127.0.0.1 "$MASTER_PORT" 500 --hold "$BATS_TEST_TMPDIR/held"
	wait_file "$BATS_TEST_TMPDIR/held" $((30 * DSM_SLOW))
	kill -STOP "$(pid_of holder)"
	local k
	for k in 1 2; do
		start_node "node$k" "$COUNTER" 127.0.0.1 "$MASTER_PORT" 100 \
			--wait-total 700 --timeout $((20 * DSM_SLOW))
	done
	for k in 1 2; do
		wait_node "node$k" $((20 * DSM_SLOW))
		assert_equal "$(counter_value "node$k")" 700
	done
	_dsm_alive "$MASTER_PID" || fail "the master died"
}

# Needs the heartbeat: a stalled connection is open at both ends.
@test "a connection stalled at a release (a silent partition): the node fails within DSM_TIMEOUT, the master drops it, the others finish exactly" {
	start_master --timeout 2
	# The victim increments alone, keeping the lock cached: each release
	# is UPDAT + PUSH?.  Its third PUSH? and all after it never arrive,
	# and nothing from the master reaches it any more.
	start_proxy --conn 1 --stall-at 'PUSH?:3'
	start_node victim env DSM_TIMEOUT=2 "$COUNTER" 127.0.0.1 "$PROXY_PORT" 1000
	wait_log proxy '^dsm-proxy: stalled conn 1 at PUSH\? #3 after [0-9]+ bytes up$'
	local k
	for k in 1 2; do
		start_node "node$k" "$COUNTER" 127.0.0.1 "$MASTER_PORT" 100 \
			--wait-total 202 --timeout $((20 * DSM_SLOW))
	done
	wait_node victim $((5 * DSM_SLOW)) 1
	run -0 cat "$(log_of victim)"
	assert_line --regexp '^counter: [a-z_]+: .+ \(-5\)$'
	# Two releases of the victim arrived, the rest never did.
	for k in 1 2; do
		wait_node "node$k" $((20 * DSM_SLOW))
		assert_equal "$(counter_value "node$k")" 202
	done
	_dsm_alive "$MASTER_PID" || fail "the master died"
}

# Needs the heartbeat, judged also while faults keep the node busy.
@test "master stopped with SIGSTOP under a busy node (lock cached, a write fault per increment): it fails within 4 s" {
	start_master
	start_node busy env DSM_TIMEOUT=2 "$COUNTER" 127.0.0.1 "$MASTER_PORT" 1000000000
	wait_log busy '^counter: attached'
	# It is counting (the lock cached, no message needed) once it has
	# used some CPU time.
	wait_for $((10 * DSM_SLOW)) "0.3 s of CPU time in the busy node" \
		cpu_ticks_at_least "$(pid_of busy)" 30
	kill -STOP "$MASTER_PID"
	# 2 s of silence and up to 1 s since the last ping; TCP alone (the
	# 4 s TCP_USER_TIMEOUT once the unsent data piles up) takes longer.
	wait_node busy $((4 * DSM_SLOW)) 1
	run -0 cat "$(log_of busy)"
	assert_line --regexp '^counter: [a-z_]+: .+ \(-5\)$'
}

# PING! answers must never land inside a frame being sent.
@test "a slow link (4 MB/s up) under large releases while the master pings: every release arrives intact" {
	start_master --size 4M
	start_proxy --rate-up 4000000
	# 12 releases of 1.5 MiB: the node's 4 MiB socket buffer fills at
	# once, then it sends for 4 s, blocked in sendmsg most of the time.
	start_node writer "$ALLORNONE" 127.0.0.1 "$PROXY_PORT" writer 12 --pages "$TWO_FRAMES"
	wait_node writer $((30 * DSM_SLOW))
	start_node check "$ALLORNONE" 127.0.0.1 "$MASTER_PORT" check 12 --pages "$TWO_FRAMES"
	wait_node check
	run -1 grep -E 'bad|malformed|protocol' "$MASTER_LOG"
}
