#!/usr/bin/env bats
# Failures: a node killed while it holds a lock, hostile input while nodes
# work, the master killed under blocked nodes, and builds with different
# ARCHI refusing each other.

load helpers

BATS_TEST_TIMEOUT=$((180 * DSM_SLOW))

# The ARCHI test needs the other ARCHI's build (dsm-master, libdsm.so,
# scenarios).  It is built once here; the test skips when that fails.
setup_file() {
	local other args=()
	case ${DSM_BUILD##*/} in
	*archi32*) other='build'; args=(ARCHI=64) ;;
	*) other='build-archi32'; args=(ARCHI=32) ;;
	esac
	export OTHER_BUILD=$DSM_ROOT/$other
	export OTHER_ARCHI=${args[0]#ARCHI=}
	# A clean make environment: the outer `make test` passes its own
	# variables (SANITIZER=..., BUILD=...) down through MAKEFLAGS.
	if env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL -u MAKEOVERRIDES \
		make -C "$DSM_ROOT" -j2 "${args[@]}" BUILD="$other" all scenarios \
		>"$BATS_FILE_TMPDIR/other-build.log" 2>&1; then
		export OTHER_BUILD_OK=1
	else
		export OTHER_BUILD_OK=
	fi
}

teardown_file() { dsm_teardown_file; }

setup() {
	dsm_setup
	COUNTER=$(scenario counter)
}

counter_value() { # NAME -> the value it printed last
	local line
	line=$(grep '^counter: value ' "$(log_of "$1")" | tail -n1)
	echo "${line#counter: value }"
}

@test "a node killed while holding lock_write: the others finish with every committed increment" {
	start_master
	# The holder commits 500 increments, then takes the lock, adds one
	# more (never released) and blocks.
	start_node holder "$COUNTER" 127.0.0.1 "$MASTER_PORT" 500 --hold "$BATS_TEST_TMPDIR/held"
	wait_file "$BATS_TEST_TMPDIR/held" $((30 * DSM_SLOW))
	local k
	for k in 1 2 3; do
		start_node "node$k" "$COUNTER" 127.0.0.1 "$MASTER_PORT" 1000 \
			--wait-total 3500 --timeout $((120 * DSM_SLOW))
	done
	for k in 1 2 3; do
		wait_log "node$k" '^counter: attached'
	done
	# They queue behind the holder; nothing can finish while it lives.
	run -1 grep -q '^counter: did' "$(log_of node1)" "$(log_of node2)" "$(log_of node3)"

	kill -KILL "$(pid_of holder)"
	wait_node holder 10 137
	for k in 1 2 3; do
		wait_node "node$k" $((150 * DSM_SLOW))
		assert_equal "$(counter_value "node$k")" 3500
	done
	start_node checker "$COUNTER" 127.0.0.1 "$MASTER_PORT" 0 --print
	wait_node checker
	assert_equal "$(counter_value checker)" 3500
	_dsm_alive "$MASTER_PID" || fail "the master died"
}

@test "garbage and truncated frames while 3 nodes count: exact result" {
	start_master
	local k i
	for k in 1 2 3; do
		start_node "node$k" "$COUNTER" 127.0.0.1 "$MASTER_PORT" 2000 \
			--wait-total 6000 --timeout $((120 * DSM_SLOW))
	done
	wait_log node1 '^counter: attached'
	for ((i = 0; i < 30; i++)); do
		wire_open 127.0.0.1 "$MASTER_PORT"
		case $((i % 5)) in
		0) wire_send "$(head -c 200 /dev/urandom | od -An -v -tx1)" ;;
		1) wire_send "$(wire_hdr 'JOIN?' 1 10 | cut -c1-16)" ;;
		2) wire_send "$(wire_join)$(wire_hdr LOCKW 2 $((DSM_ARCHI / 4)))$(wire_len 0)" ;;
		3) wire_send "$(wire_join)$(wire_hdr UPDAT 2 $((0x100000 + 1)))00" ;;
		4) wire_send "$(wire_join)$(wire_hdr UPDAT 2 5)0000000000" ;;
		esac
		wire_close
	done
	for k in 1 2 3; do
		wait_node "node$k" $((150 * DSM_SLOW))
		assert_equal "$(counter_value "node$k")" 6000
	done
	_dsm_alive "$MASTER_PID" || fail "the master died"
}

@test "master killed while nodes block on a lock: they fail with DSM_ELOST within 5 s" {
	start_master
	start_node holder "$COUNTER" 127.0.0.1 "$MASTER_PORT" 0 --hold "$BATS_TEST_TMPDIR/held"
	wait_file "$BATS_TEST_TMPDIR/held" $((30 * DSM_SLOW))
	start_node node1 "$COUNTER" 127.0.0.1 "$MASTER_PORT" 100
	start_node node2 "$COUNTER" 127.0.0.1 "$MASTER_PORT" 100
	wait_log node1 '^counter: attached'
	wait_log node2 '^counter: attached'

	kill -KILL "$MASTER_PID"
	# 5 s is the contract; 2 s more for a loaded machine.
	wait_node node1 7 1
	wait_node node2 7 1
	local k
	for k in 1 2; do
		run -0 cat "$(log_of "node$k")"
		assert_line --regexp '^counter: lock_write: .+ \(-5\)$'
	done
}

@test "master stopped with SIGTERM while nodes block on a lock: DSM_ELOST within 5 s" {
	start_master
	start_node holder "$COUNTER" 127.0.0.1 "$MASTER_PORT" 0 --hold "$BATS_TEST_TMPDIR/held"
	wait_file "$BATS_TEST_TMPDIR/held" $((30 * DSM_SLOW))
	start_node node1 "$COUNTER" 127.0.0.1 "$MASTER_PORT" 100
	wait_log node1 '^counter: attached'
	kill -TERM "$MASTER_PID"
	wait_node master 5 0
	wait_node node1 7 1
	run -0 cat "$(log_of node1)"
	assert_line --regexp '^counter: lock_write: .+ \(-5\)$'
}

@test "a page fault with the master gone ends the node with one clear line" {
	start_master --size 1M
	# The node touches the segment's last word, a page it never had,
	# after the master is dead.
	start_node toucher "$COUNTER" 127.0.0.1 "$MASTER_PORT" 0 \
		--offset $((1048576 - 8)) --touch-after "$BATS_TEST_TMPDIR/go"
	wait_log toucher '^counter: attached'
	kill -KILL "$MASTER_PID"
	wait_node master 5 137
	touch "$BATS_TEST_TMPDIR/go"
	wait_node toucher 7 '!'
	run -0 cat "$(log_of toucher)"
	refute_line --partial 'without a lock'
	assert_line --regexp '^dsm: '
}

@test "different ARCHI: the master refuses the node, both say why" {
	[[ -n $OTHER_BUILD_OK ]] ||
		skip "could not build the ARCHI=$OTHER_ARCHI variant: $(tail -n 3 "$BATS_FILE_TMPDIR/other-build.log" | tr '\n' ' ')"
	start_master
	start_node node "$OTHER_BUILD/scenarios/counter/counter" 127.0.0.1 "$MASTER_PORT" 1
	wait_node node 10 1
	run -0 cat "$(log_of node)"
	assert_line --regexp '^counter: init_slave: .+ \(-6\)$'
	assert_line --regexp '^dsm: .*ARCHI=32'
	wait_for 5 "the refusal in the master's log" grep -q 'refusing node' "$MASTER_LOG"
	run -0 grep 'refusing node' "$MASTER_LOG"
	assert_output --partial ARCHI=32
	assert_output --partial ARCHI=64
	_dsm_alive "$MASTER_PID" || fail "the master died"
}

@test "different ARCHI the other way round: node of this build, master of the other" {
	[[ -n $OTHER_BUILD_OK ]] ||
		skip "could not build the ARCHI=$OTHER_ARCHI variant: $(tail -n 3 "$BATS_FILE_TMPDIR/other-build.log" | tr '\n' ' ')"
	local build=$DSM_BUILD
	DSM_BUILD=$OTHER_BUILD start_master
	DSM_BUILD=$build
	start_node node "$COUNTER" 127.0.0.1 "$MASTER_PORT" 1
	wait_node node 10 1
	run -0 cat "$(log_of node)"
	assert_line --regexp '^counter: init_slave: .+ \(-6\)$'
	assert_line --regexp '^dsm: .*ARCHI=32'
	wait_for 5 "the refusal in the master's log" grep -q 'refusing node' "$MASTER_LOG"
	run -0 grep 'refusing node' "$MASTER_LOG"
	assert_output --partial ARCHI=32
	assert_output --partial ARCHI=64
}
