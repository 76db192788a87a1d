#!/usr/bin/env bats
# The C unit tests (tests/unit/*.c), built by `make check-tests` into
# $DSM_BUILD/tests/<name>: each binary is one test and prints its summary.

load helpers

BATS_TEST_TIMEOUT=$((60 * DSM_SLOW))

run_unit() {
	local bin=$DSM_BUILD/tests/$1
	[[ -x $bin ]] || fail "$bin is not built: run 'make check-tests'"
	run "$bin"
	echo "$output"
	assert_success
	assert_output --regexp "^$1: [0-9]+ checks, 0 failed\$"
}

@test "unit: wire format helpers (test_wire)" {
	run_unit test_wire
}

@test "unit: diff encode, check and apply (test_diff)" {
	run_unit test_diff
}

@test "unit: every other tests/unit/*.c" {
	local src name ran=0
	for src in "$DSM_ROOT"/tests/unit/*.c; do
		name=$(basename "$src" .c)
		case $name in test_wire | test_diff) continue ;; esac
		run_unit "$name"
		ran=$((ran + 1))
	done
	echo "$ran more unit test programs"
}
