#!/usr/bin/env bats
# Load on one master: 64 counter nodes at once, every increment accounted
# for; and a master that runs out of file descriptors while nodes keep
# coming: it says so, keeps serving the nodes it has, does not spin, and
# the nodes it cannot take fail in bounded time instead of hanging.

load helpers

# Pairs per node of the load test (see there).
LOAD_ITERS=${DSM_LOAD_ITERS:-10000}
# The load test is bounded by its size: at worst 1500 pairs a second.
BATS_TEST_TIMEOUT=$((120 * DSM_SLOW + 64 * LOAD_ITERS / 1500))

setup() {
	dsm_setup
	COUNTER=$(scenario counter)
}

# CPU time (user + system) of process $1 in milliseconds.
cpu_ms() {
	local stat f
	read -r stat <"/proc/$1/stat" || return 1
	stat=${stat##*) }
	read -ra f <<<"$stat"
	# Fields 14 and 15 of stat(5); f[0] is field 3.
	echo $(((f[11] + f[12]) * 1000 / $(getconf CLK_TCK)))
}

# The RLIMIT_NOFILE that leaves process $1 exactly $2 free descriptors: the
# kernel hands out the lowest free number, and fails with EMFILE once that
# is not below the limit.
fd_limit_for() {
	local pid=$1 want=$2 fd free=0
	local -A used=()
	for fd in "/proc/$pid/fd/"*; do
		used[${fd##*/}]=1
	done
	for ((fd = 0; fd < 65536; fd++)); do
		[[ -n ${used[$fd]-} ]] && continue
		if ((++free == want)); then
			echo $((fd + 1))
			return 0
		fi
	done
	return 1
}

# 64 nodes on one master, each doing lock_write / ++ / unlock_write in a
# loop, spread over 16 counters (each on a page of its own, 4 nodes a
# counter: every lock is contended and every page changes hands), then every
# counter and their sum must be exact: no lost update, no lost node.
#
# Size: 64 x 10 000 = 640 000 pairs, as the issue asks.  On the 2-vCPU CI
# machine the master and the 64 nodes share two CPUs: ~50 s here (13 000
# pairs/s).  Most pairs run on a lock the node still holds from its last
# unlock; since lock_write makes the pages written under the previous lock
# writable at once (docs/CONSISTENCY.md), such a pair costs no fault and no
# thread switch, and the test went from ~170 s to ~50 s (dropping the copies
# at a contended unlock, docs/PROTOCOL.md, saves another ~10%).
# DSM_LOAD_ITERS=N runs another size.
@test "64 nodes hammer 16 counters on one master: every increment is there" {
	local nodes=64 counters=16 iters=$LOAD_ITERS
	local per=$((nodes / counters)) k g v sum=0 start ms missing
	start_master --size 1M
	start=$EPOCHREALTIME
	for ((k = 0; k < nodes; k++)); do
		g=$((k % counters))
		start_node "node$k" "$COUNTER" 127.0.0.1 "$MASTER_PORT" "$iters" \
			--offset $((g * DSM_PAGE_SIZE))
	done
	for ((k = 0; k < nodes; k++)); do
		wait_node "node$k" $((60 * DSM_SLOW + nodes * iters / 1500))
	done
	ms=$(((${EPOCHREALTIME/[.,]/} - ${start/[.,]/}) / 1000))
	echo "# load: $nodes nodes x $iters pairs on $counters counters:" \
		"$((nodes * iters)) pairs in $ms ms" \
		"($((nodes * iters * 1000 / (ms ? ms : 1))) pairs/s)" >&3
	missing=$(grep -L -x "counter: did $iters increments" "$BATS_TEST_TMPDIR"/node*.log)
	[[ -z $missing ]] || fail "nodes without 'did $iters increments': $missing"

	for ((g = 0; g < counters; g++)); do
		start_node "check$g" "$COUNTER" 127.0.0.1 "$MASTER_PORT" 0 --print \
			--offset $((g * DSM_PAGE_SIZE))
	done
	for ((g = 0; g < counters; g++)); do
		wait_node "check$g"
		run -0 grep '^counter: value ' "$(log_of "check$g")"
		v=${output#counter: value }
		assert_equal "counter $g: $v" "counter $g: $((per * iters))"
		sum=$((sum + v))
	done
	assert_equal "$sum" "$((nodes * iters))"
	_dsm_alive "$MASTER_PID" || fail "the master died"
}

# The master is left 4 free descriptors (prlimit on the running process):
# 4 nodes attach and count, then 4 more connect.  The kernel completes
# their TCP handshake (the listen backlog), but accept() fails with EMFILE:
# the master must log it (without flooding the log), keep serving the 4,
# not spin on the level-triggered listening socket, and the 4 extra nodes
# must fail at once with the reason (the master gives up a spare
# descriptor to accept each and answer ERROR DSM_EBUSY) instead of hanging.  Once the 4 leave, a checker gets in and
# finds every increment of the 4.
@test "master out of file descriptors: logs it, serves its nodes, does not spin, others fail in time" {
	local served=4 refused=4 iters=500 limit k fd cpu0 cpu1 t0 t1 window used lines
	local gate=$BATS_TEST_TMPDIR/gate
	command -v prlimit >/dev/null || skip "prlimit (util-linux) is not installed"
	start_master --size 1M
	limit=$(fd_limit_for "$MASTER_PID" "$served")
	run -0 prlimit --pid "$MASTER_PID" --nofile="$limit:$limit"

	for ((k = 1; k <= served; k++)); do
		start_node "served$k" "$COUNTER" 127.0.0.1 "$MASTER_PORT" "$iters" \
			--touch-after "$gate" --timeout $((90 * DSM_SLOW))
	done
	for ((k = 1; k <= served; k++)); do
		wait_log "served$k" "^counter: did $iters increments" $((60 * DSM_SLOW))
	done
	# Every descriptor the limit allows is in use now.
	used=0
	for fd in "/proc/$MASTER_PID/fd/"*; do
		((${fd##*/} >= limit)) || used=$((used + 1))
	done
	assert_equal "$used" "$limit"

	cpu0=$(cpu_ms "$MASTER_PID")
	t0=${EPOCHREALTIME/[.,]/}
	for ((k = 1; k <= refused; k++)); do
		start_node "refused$k" "$COUNTER" 127.0.0.1 "$MASTER_PORT" 10
	done
	wait_for $((10 * DSM_SLOW)) "a log line about file descriptors" \
		grep -Eqi 'too many open files|file descriptor' "$MASTER_LOG"
	for ((k = 1; k <= refused; k++)); do
		wait_node "refused$k" $((20 * DSM_SLOW)) '!'
		run -0 cat "$(log_of "refused$k")"
		assert_line --regexp '^counter: init_slave: .+ \(-9\)$'
		assert_output --partial 'out of file descriptors'
		refute_line --partial 'increments'
	done
	cpu1=$(cpu_ms "$MASTER_PID")
	t1=${EPOCHREALTIME/[.,]/}
	window=$(((t1 - t0) / 1000))
	echo "# EMFILE: refused nodes done after $window ms;" \
		"master CPU meanwhile $((cpu1 - cpu0)) ms" >&3
	# Idle but for its backlog, the master must not burn CPU (a loop
	# spinning on the listening socket takes a CPU, or over a second of
	# this window on a machine busy with other work; the master that pauses
	# accepting takes ~10 ms), nor log every attempt.
	((10 * (cpu1 - cpu0) < window + 2000)) ||
		fail "the master used $((cpu1 - cpu0)) ms of CPU in $window ms while out of descriptors"
	lines=$(grep -Eci 'too many open files|file descriptor' "$MASTER_LOG")
	((lines <= window / 1000 + 2)) ||
		fail "$lines log lines about descriptors in $window ms: $(head -n 3 "$MASTER_LOG")"
	_dsm_alive "$MASTER_PID" || fail "the master died"

	# The 4 are still served (their unlocked reads may fault and fetch).
	touch "$gate"
	for ((k = 1; k <= served; k++)); do
		wait_node "served$k" $((30 * DSM_SLOW))
		run -0 cat "$(log_of "served$k")"
		assert_line --regexp '^counter: read [0-9]+ without a lock$'
	done
	start_node checker "$COUNTER" 127.0.0.1 "$MASTER_PORT" 0 --print
	wait_node checker $((30 * DSM_SLOW))
	run -0 cat "$(log_of checker)"
	assert_line "counter: value $((served * iters))"
	_dsm_alive "$MASTER_PID" || fail "the master died"
}
