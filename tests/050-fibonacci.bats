#!/usr/bin/env bats
# tests/fibonacci: nodes advance one shared Fibonacci sequence step by step
# under lock_write; the result equals the sequential computation.

load helpers

BATS_TEST_TIMEOUT=$((180 * DSM_SLOW))

setup() {
	dsm_setup
	FIBONACCI=$(scenario fibonacci)
	start_master --size 64K
}

# run_fibonacci NODES N
run_fibonacci() {
	local nodes=$1 n=$2 k want steps=0 line
	run -0 "$FIBONACCI" --sequential "$n"
	want=$output
	[[ $want =~ ^fibonacci:\ F\($n\)\ =\ [0-9]+$ ]] || fail "sequential: '$want'"
	for ((k = 1; k <= nodes; k++)); do
		start_node "node$k" "$FIBONACCI" 127.0.0.1 "$MASTER_PORT" "$n"
	done
	for ((k = 1; k <= nodes; k++)); do
		wait_node "node$k" $((150 * DSM_SLOW))
		line=$(grep -m1 '^fibonacci: ' "$(log_of "node$k")" || true)
		[[ $line =~ ^"$want (this node did "[0-9]+" of $n steps)"$ ]] ||
			fail "node$k printed '$line', expected '$want (this node did K of $n steps)'"
		line=${line##*did }
		steps=$((steps + ${line%% of*}))
	done
	# Every step was done exactly once, by some node.
	assert_equal "$steps" "$n"
}

@test "sequential F(10) = 55 and F(93) = 12200160415121876738" {
	run -0 "$FIBONACCI" --sequential 10
	assert_output "fibonacci: F(10) = 55"
	run -0 "$FIBONACCI" --sequential 93
	assert_output "fibonacci: F(93) = 12200160415121876738"
}

@test "one node computes F(90) like the sequential program" {
	run_fibonacci 1 90
}

@test "3 nodes compute F(3000) mod 2^64 like the sequential program" {
	run_fibonacci 3 3000
}
