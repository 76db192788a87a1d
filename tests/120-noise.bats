#!/usr/bin/env bats
# Hostile input (issue 5): thousands of random and mutated frames from
# dsm-noise against a master that is serving real nodes, and the fuzz
# targets' seeds and regression inputs replayed through gcc-built drivers
# (docs/FUZZING.md).

load helpers

BATS_TEST_TIMEOUT=$((240 * DSM_SLOW))

setup() {
	dsm_setup
	COUNTER=$(scenario counter)
	NOISE=$DSM_BUILD/tests/dsm-noise
	[[ -x $NOISE ]] || fail "$NOISE is not built: run 'make check-tests'"
}

counter_value() { # NAME -> the value it printed last
	local line
	line=$(grep '^counter: value ' "$(log_of "$1")" | tail -n1)
	echo "${line#counter: value }"
}

@test "dsm-noise while 4 nodes count: the master stays up, the total is exact" {
	# DSM_NOISE_SEED replays a failure; the seed is in the noise's output.
	local seed=${DSM_NOISE_SEED:-$((RANDOM * 32768 + RANDOM))} k
	start_master
	for k in 1 2 3 4; do
		start_node "node$k" "$COUNTER" 127.0.0.1 "$MASTER_PORT" 1500 \
			--wait-total 6000 --timeout $((150 * DSM_SLOW))
	done
	for k in 1 2 3 4; do
		wait_log "node$k" '^counter: attached'
	done
	# Two noise makers at once, so that the master also interleaves
	# their frames; up to 20000 connections each, for at most 10 s, so
	# that they overlap the counting.  The counter lives at offset 0:
	# page 0 is protected (no UPDAT the master could accept touches it).
	start_node noise1 "$NOISE" -s "$seed" -c 20000 -p 0:8 -t $((10 * DSM_SLOW)) \
		127.0.0.1 "$MASTER_PORT"
	start_node noise2 "$NOISE" -s $((seed + 1)) -c 20000 -p 0:8 -t $((10 * DSM_SLOW)) \
		127.0.0.1 "$MASTER_PORT"
	wait_node noise1 $((40 * DSM_SLOW))
	wait_node noise2 $((40 * DSM_SLOW))
	for k in 1 2; do
		run -0 cat "$(log_of "noise$k")"
		assert_output --regexp "^dsm-noise: seed [0-9]+: [0-9]+ connections, [0-9]{4,} frames"
	done
	_dsm_alive "$MASTER_PID" || fail "the master died under the noise"

	for k in 1 2 3 4; do
		wait_node "node$k" $((180 * DSM_SLOW))
		assert_equal "$(counter_value "node$k")" 6000
	done
	start_node checker "$COUNTER" 127.0.0.1 "$MASTER_PORT" 0 --print
	wait_node checker
	assert_equal "$(counter_value checker)" 6000
	# The noise was refused, one log line per connection it broke, and
	# nothing went wrong inside the master.
	run -0 grep -c 'closing the connection\|refusing node' "$MASTER_LOG"
	((output >= 100)) || fail "only $output refusals in the master's log"
	run -1 grep -E 'dsm-master: error|AddressSanitizer|runtime error' "$MASTER_LOG"
	_dsm_alive "$MASTER_PID" || fail "the master died"
}

@test "fuzz seeds and regression inputs replay cleanly (gcc, ASan + UBSan)" {
	local log=$BATS_TEST_TMPDIR/replay-build.log fb=$DSM_ROOT/build-fuzz t
	command -v "${CC:-cc}" >/dev/null || skip "no C compiler"
	# A clean make environment: an outer `make test` passes its own
	# variables (SANITIZER=..., BUILD=...) down through MAKEFLAGS.
	if ! env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL -u MAKEOVERRIDES \
		timeout $((150 * DSM_SLOW)) make -C "$DSM_ROOT" -j2 \
		fuzz-replay-bins >"$log" 2>&1; then
		tail -n 30 "$log" >&2
		fail "building the replay drivers failed"
	fi
	for t in master node; do
		run timeout $((60 * DSM_SLOW)) env REPLAY_VERBOSE=1 "$fb/replay_$t" \
			"$DSM_ROOT/tests/fuzz/corpus/$t" "$DSM_ROOT/tests/fuzz/regress/$t"
		if ((status != 0)); then
			# The input that failed, then the sanitizer's report.
			grep -E '^replay: ' <<<"$output" | tail -n 1 >&2
			grep -E -A 14 'ERROR: |runtime error|fuzz_(master|node): ' \
				<<<"$output" | head -n 40 >&2
			fail "replay_$t failed (status $status): a bug, or an input of tests/fuzz/regress/$t that is not fixed yet"
		fi
		output=$(grep -v '^replay: .* bytes)$' <<<"$output")
		assert_output --regexp '^replay: [0-9]+ inputs, 0 failed$'
		local n=${output##*replay: }
		n=${n%% inputs*}
		((n >= 5)) || fail "replay_$t ran only $n inputs"
	done
}
