#!/usr/bin/env bats
# dsm-bench --quick still works: it starts its own master and nodes, and
# ends with one well-formed RESULT line per metric and a JSON file with the
# same figures.  Whether the targets are met is not tested here
# (docs/BENCHMARKS.md).

load helpers

BATS_TEST_TIMEOUT=$((150 * DSM_SLOW))

METRICS=(read_miss write_fault lock_unlock relock handoff scan master_tput
	shim_private_mutex read_miss_sigsegv write_fault_sigsegv)

@test "dsm-bench --quick prints a well-formed RESULT line for every metric" {
	local bench=$DSM_BUILD/dsm-bench json=$BATS_TEST_TMPDIR/bench.json m n
	[[ -x $bench ]] || fail "$bench is missing: run 'make check-tests'"
	require_shim
	_dsm_shim_env
	start_node bench env "${_DSM_SHIM_ENV[@]}" "$bench" --quick \
		--build "$DSM_BUILD" --json "$json" --timeout $((60 * DSM_SLOW))
	wait_node bench $((120 * DSM_SLOW))
	run -0 grep '^RESULT ' "$(log_of bench)"
	local num='[0-9]+(\.[0-9]+)?'
	for m in "${METRICS[@]}"; do
		assert_line --regexp "^RESULT $m $num (us|ns|MB/s|pages/s) ratio=$num target(<=|>=)$num (PASS|MISS)\$"
	done
	n=$(grep -c '^RESULT ' "$(log_of bench)")
	assert_equal "$n" "${#METRICS[@]}"
	# The RESULT lines end the output.
	run -0 tail -n "${#METRICS[@]}" "$(log_of bench)"
	refute_line --regexp '^[^R]'

	[[ -s $json ]] || fail "no JSON written to $json"
	run -0 cat "$json"
	for m in "${METRICS[@]}"; do
		assert_output --partial "\"$m\": {"
	done
	for m in tcp_rtt_32 tcp_rtt_4k tcp_stream tcp_server_16 mutex_pair uffd_wp_fault \
		segv_wp_fault; do
		assert_output --partial "\"$m\": {"
	done
	if command -v python3 >/dev/null; then
		run -0 python3 -c 'import json, sys; d = json.load(open(sys.argv[1])); assert len(d["metrics"]) == 10 and len(d["baselines"]) == 7' "$json"
	fi
}

@test "dsm-bench refuses bad options and an unknown metric" {
	local bench=$DSM_BUILD/dsm-bench
	[[ -x $bench ]] || fail "$bench is missing: run 'make check-tests'"
	run -2 "$bench" --no-such-option
	assert_output --partial "usage: dsm-bench"
	run -2 "$bench" --build "$DSM_BUILD" --only read_miss,no_such_metric
	assert_output --partial "no metric named 'no_such_metric'"
	run -2 "$bench" --build "$BATS_TEST_TMPDIR/nowhere"
	assert_output --partial "dsm-master"
}
