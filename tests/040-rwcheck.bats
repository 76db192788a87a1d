#!/usr/bin/env bats
# tests/rwcheck: writers update a multi-page region under lock_write; readers
# under lock_read must always see a whole generation, never a torn one.

load helpers

BATS_TEST_TIMEOUT=$((180 * DSM_SLOW))

setup() {
	dsm_setup
	RWCHECK=$(scenario rwcheck)
	start_master --size 256K
}

# run_rwcheck WRITERS WITERS READERS RITERS PAGES
run_rwcheck() {
	local writers=$1 witers=$2 readers=$3 riters=$4 pages=$5 k
	for ((k = 1; k <= writers; k++)); do
		start_node "writer$k" "$RWCHECK" 127.0.0.1 "$MASTER_PORT" writer "$witers" --pages "$pages"
	done
	for ((k = 1; k <= readers; k++)); do
		start_node "reader$k" "$RWCHECK" 127.0.0.1 "$MASTER_PORT" reader "$riters" --pages "$pages"
	done
	for ((k = 1; k <= writers; k++)); do
		wait_node "writer$k" $((150 * DSM_SLOW))
	done
	for ((k = 1; k <= readers; k++)); do
		wait_node "reader$k" $((150 * DSM_SLOW))
		run -0 cat "$(log_of "reader$k")"
		assert_line --regexp "^rwcheck: reader did $riters checks"
	done
	start_node check "$RWCHECK" 127.0.0.1 "$MASTER_PORT" check $((writers * witers)) --pages "$pages"
	wait_node check
	run -0 cat "$(log_of check)"
	assert_line "rwcheck: OK, generation $((writers * witers)) over $pages pages"
}

@test "2 writers and 3 readers over 3 pages" {
	run_rwcheck 2 200 3 300 3
}

@test "3 writers and 2 readers over 1 page straddling two" {
	run_rwcheck 3 150 2 300 1
}

@test "readers alone see generation 0 of the zero-filled segment" {
	run_rwcheck 0 0 2 50 3
}
