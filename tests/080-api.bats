#!/usr/bin/env bats
# tests/api: the master side of the original API (init_master, the master
# process as a participant, loop_master, destroy_master) and misuse of the
# node API.

load helpers

BATS_TEST_TIMEOUT=$((120 * DSM_SLOW))

@test "init_master: the master process and 3 nodes count to 4 x 1500" {
	start_node apimaster "$(scenario api/apimaster)" 1500 3 "$(scenario counter)"
	wait_node apimaster $((100 * DSM_SLOW))
	run -0 cat "$(log_of apimaster)"
	assert_line "apimaster: total 6000 (expected 6000) OK"
}

@test "wrong node calls return their error codes and the node keeps working" {
	start_master --size 1M
	start_node misuse "$(scenario api/misuse)" 127.0.0.1 "$MASTER_PORT"
	wait_node misuse
	run -0 cat "$(log_of misuse)"
	assert_line --regexp '^misuse: all [0-9]+ checks OK'
}

@test "init_slave with no master listening fails with DSM_ELOST and a clear line" {
	# Port 1 (tcpmux) has no listener on a test machine.
	local port=1
	start_node refused "$(scenario api/misuse)" 127.0.0.1 "$port" --refused
	wait_node refused
	run -0 cat "$(log_of refused)"
	assert_line --regexp '^misuse: all [0-9]+ checks OK'
	assert_line --regexp "^dsm: error: connect to master 127.0.0.1:$port: Connection refused"
}
