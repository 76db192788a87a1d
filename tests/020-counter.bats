#!/usr/bin/env bats
# tests/counter: nodes increment one shared counter under lock_write; no
# increment may be lost (release consistency, exclusive locks).

load helpers

BATS_TEST_TIMEOUT=$((180 * DSM_SLOW))

setup() {
	dsm_setup
	COUNTER=$(scenario counter)
	start_master --size 1M
}

# run_counters NODES ITERS [OPTIONS...]: NODES counter nodes of ITERS
# increments each, all waiting for the total; each must print it exactly.
run_counters() {
	local nodes=$1 iters=$2 k total
	shift 2
	total=$((nodes * iters))
	for ((k = 1; k <= nodes; k++)); do
		start_node "node$k" "$COUNTER" 127.0.0.1 "$MASTER_PORT" "$iters" \
			--wait-total "$total" --timeout $((120 * DSM_SLOW)) "$@"
	done
	for ((k = 1; k <= nodes; k++)); do
		wait_node "node$k" $((150 * DSM_SLOW))
		run -0 cat "$(log_of "node$k")"
		assert_line "counter: did $iters increments"
		assert_line "counter: value $total"
	done
}

# assert_total VALUE [OPTIONS...]: a late checker node reads the counter
# under lock_read.
assert_total() {
	local want=$1
	shift
	start_node checker "$COUNTER" 127.0.0.1 "$MASTER_PORT" 0 --print "$@"
	wait_node checker
	run -0 cat "$(log_of checker)"
	assert_line "counter: value $want"
}

@test "one node counts to 1000" {
	run_counters 1 1000
	assert_total 1000
}

@test "4 nodes x 2000 increments give exactly 8000" {
	run_counters 4 2000
	assert_total 8000
}

@test "a counter in a later page, at an offset that is not page-aligned" {
	local off=$((3 * DSM_PAGE_SIZE + 40))
	run_counters 2 500 --offset "$off"
	start_node checker "$COUNTER" 127.0.0.1 "$MASTER_PORT" 0 --print --offset "$off"
	wait_node checker
	run -0 cat "$(log_of checker)"
	assert_line "counter: value 1000"
	# The word at offset 0 was never written.
	start_node zero "$COUNTER" 127.0.0.1 "$MASTER_PORT" 0 --print
	wait_node zero
	run -0 cat "$(log_of zero)"
	assert_line "counter: value 0"
}

@test "nodes that join while others are counting" {
	start_node early "$COUNTER" 127.0.0.1 "$MASTER_PORT" 1500 --wait-total 3000
	wait_log early '^counter: attached'
	start_node late1 "$COUNTER" 127.0.0.1 "$MASTER_PORT" 1000 --wait-total 3000
	start_node late2 "$COUNTER" 127.0.0.1 "$MASTER_PORT" 500 --wait-total 3000
	local n
	for n in early late1 late2; do
		wait_node "$n" $((150 * DSM_SLOW))
		run -0 cat "$(log_of "$n")"
		assert_line "counter: value 3000"
	done
}
