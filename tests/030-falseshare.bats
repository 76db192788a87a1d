#!/usr/bin/env bats
# tests/falseshare: nodes write disjoint, interleaved bytes of one page
# without locking it; after everyone released, no node's bytes are missing
# (multiple-writer diffs, flush on invalidation).

load helpers

BATS_TEST_TIMEOUT=$((180 * DSM_SLOW))

setup() {
	dsm_setup
	FALSESHARE=$(scenario falseshare)
	start_master --size 64K
}

# run_falseshare NRANKS ROUNDS: the writers, then the checker.
run_falseshare() {
	local n=$1 rounds=$2 r
	for ((r = 0; r < n; r++)); do
		start_node "rank$r" "$FALSESHARE" 127.0.0.1 "$MASTER_PORT" "$r" "$n" --rounds "$rounds"
	done
	for ((r = 0; r < n; r++)); do
		wait_node "rank$r" $((150 * DSM_SLOW))
		run -0 cat "$(log_of "rank$r")"
		assert_line "falseshare: rank $r wrote $rounds rounds"
	done
	start_node checker "$FALSESHARE" 127.0.0.1 "$MASTER_PORT" --check "$n" --rounds "$rounds"
	wait_node checker
	run -0 cat "$(log_of checker)"
	assert_line --regexp "^falseshare: OK, $n ranks x $rounds rounds"
}

@test "2 nodes share every other byte of a page, 300 rounds" {
	run_falseshare 2 300
}

@test "4 nodes share every fourth byte of a page, 200 rounds" {
	run_falseshare 4 200
}

@test "3 nodes: byte owners do not line up with words" {
	run_falseshare 3 200
}

@test "the checker notices bytes nobody wrote" {
	# Nothing ran: every byte is 0, which no round writes.
	start_node checker "$FALSESHARE" 127.0.0.1 "$MASTER_PORT" --check 2 --rounds 5
	wait_node checker 30 1
	run -0 cat "$(log_of checker)"
	assert_line --regexp '^falseshare: rank 0: [0-9]+ bytes wrong'
	assert_line --regexp '^falseshare: rank 1: [0-9]+ bytes wrong'
}
