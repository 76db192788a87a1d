#!/usr/bin/env bats
# dsm-master --store FILE [--sync none|release|interval]: the home copy in a
# file (master/storefile.c, docs/DURABILITY.md).  Released data survives a
# SIGKILL of the master under every policy, a clean stop marks the file
# closed, a crash leaves it marked open (the restart warns), what the master
# cannot safely serve is refused with one message, and --sync release
# really writes every completed release back (no dirty page left).
#
# Layout used in the 1 MiB segment: the counter at offset 0 (tests/counter),
# region A (with 4 KiB pages: pages 2-7, unaligned ends) and region B (74
# pages) written with tests/pattern, zero bytes everywhere else.

load helpers

BATS_TEST_TIMEOUT=$((180 * DSM_SLOW))

A_OFF=8292 A_LEN=21480 # [8292, 29772)
B_OFF=600000 B_LEN=300000 # [600000, 900000)
C_OFF=12000 C_LEN=5000 # inside A, written after the first restart
SEG=1048576

setup() {
	dsm_setup
	COUNTER=$(scenario counter)
	PATTERN=$(scenario pattern)
	STORE=$BATS_TEST_TMPDIR/segment.store
}

counter_value() { # NAME -> the value it printed last
	local line
	line=$(grep '^counter: value ' "$(log_of "$1")" | tail -n1)
	echo "${line#counter: value }"
}

# counters TAG NODES ITERS TOTAL [ARGS...]: NODES counter nodes of ITERS
# increments on the current master; each must see TOTAL (every node's
# increments done).  ARGS go to each node (--offset BYTES).
counters() {
	local tag=$1 n=$2 iters=$3 total=$4 k
	shift 4
	for ((k = 1; k <= n; k++)); do
		start_node "$tag$k" "$COUNTER" 127.0.0.1 "$MASTER_PORT" "$iters" \
			--wait-total "$total" --timeout $((60 * DSM_SLOW)) "$@"
	done
	for ((k = 1; k <= n; k++)); do
		wait_node "$tag$k" $((90 * DSM_SLOW))
		assert_equal "$(counter_value "$tag$k")" "$total"
	done
}

# assert_counter TAG VALUE [ARGS...]: a new node reads VALUE under
# lock_read (ARGS: --offset BYTES).
assert_counter() {
	start_node "$1" "$COUNTER" 127.0.0.1 "$MASTER_PORT" 0 --print "${@:3}"
	wait_node "$1"
	assert_equal "$(counter_value "$1")" "$2"
}

# pattern TAG write|check OFFSET LEN SEED [OFFSET LEN SEED]...: a node of
# tests/pattern on the current master (SEED 0: zero bytes); for check,
# every byte of every range must be right.
pattern() {
	local tag=$1 mode=$2
	shift 2
	start_node "$tag" "$PATTERN" 127.0.0.1 "$MASTER_PORT" "$mode" "$@"
	wait_node "$tag" $((30 * DSM_SLOW))
	if [[ $mode == check ]]; then
		run tail -n1 "$(log_of "$tag")"
		assert_output "pattern: 0 wrong byte(s) in $(($# / 3)) range(s)"
	fi
}

# The whole segment but the counter after phase 1 (A with seed 7, B with
# seed 9) and after phase 2 (C with seed 11 over the middle of A), checked
# byte by byte by a new node: the gaps must still be zero.
check_phase1() {
	pattern "$1" check 8 $((A_OFF - 8)) 0 \
		"$A_OFF" "$A_LEN" 7 \
		$((A_OFF + A_LEN)) $((B_OFF - A_OFF - A_LEN)) 0 \
		"$B_OFF" "$B_LEN" 9 \
		$((B_OFF + B_LEN)) $((SEG - B_OFF - B_LEN)) 0
}
check_phase2() {
	pattern "$1" check 8 $((A_OFF - 8)) 0 \
		"$A_OFF" $((C_OFF - A_OFF)) 7 \
		"$C_OFF" "$C_LEN" 11 \
		$((C_OFF + C_LEN)) $((A_OFF + A_LEN - C_OFF - C_LEN)) 7 \
		$((A_OFF + A_LEN)) $((B_OFF - A_OFF - A_LEN)) 0 \
		"$B_OFF" "$B_LEN" 9 \
		$((B_OFF + B_LEN)) $((SEG - B_OFF - B_LEN)) 0
}

# kill_master NAME: SIGKILL the master NAME and reap it.
kill_master() {
	local pid rc=0
	pid=$(pid_of "$1")
	kill -KILL "$pid"
	wait_pid "$pid" $((10 * DSM_SLOW)) || rc=$?
	assert_equal "$rc" 137
}

# stop_master NAME: SIGTERM; it must exit 0 in time.
stop_master() {
	local pid rc=0
	pid=$(pid_of "$1")
	kill -TERM "$pid"
	wait_pid "$pid" $((10 * DSM_SLOW)) || rc=$?
	assert_equal "$rc" 0
}

# store_flags [FILE]: the header's flags field as hex (00000001: a master
# has it open or was killed; 00000000: closed cleanly).
store_flags() {
	od -An -v -tx1 -j28 -N4 "${1:-$STORE}" | tr -d ' \n'
}

# store_dirty_kb PID FILE: kB of FILE's mapping in process PID that are
# dirty (modified in the page cache, not yet written to the disk); fails if
# PID does not map FILE.
store_dirty_kb() {
	awk -v f="$(realpath "$2")" '
		/^[0-9a-f]+-[0-9a-f]+ / { m = ($NF == f); if (m) found = 1; next }
		m && /^(Shared|Private)_Dirty:/ { kb += $2 }
		END { if (!found) exit 1; print kb + 0 }' "/proc/$1/smaps"
}

# run_refused ARGS...: dsm-master ARGS... must exit 1 at once with exactly
# one error line, never becoming ready.
run_refused() {
	run -1 timeout $((10 * DSM_SLOW)) "$DSM_BUILD/dsm-master" "$@"
	refute_output --partial 'listening on'
	assert_equal "$(grep -c 'error:' <<<"$output")" 1
}

# Phase 1 (counter and patterns), SIGKILL, restart: everything released is
# there; phase 2 on the reopened file, SIGKILL, restart: both phases are.
survives_kill() {
	local sync=("$@")

	start_master_named m1 --store "$STORE" "${sync[@]}"
	counters a 2 300 600
	pattern w1 write "$A_OFF" "$A_LEN" 7 "$B_OFF" "$B_LEN" 9
	# Released = the release completed: a node's lock_read sees it.
	check_phase1 live
	kill_master m1
	assert_equal "$(store_flags)" 00000001

	start_master_named m2 --store "$STORE" "${sync[@]}"
	assert_equal "$MASTER_SIZE" "$SEG"
	run grep -c 'was not closed cleanly' "$M2_LOG"
	assert_output 1
	assert_counter r1 600
	check_phase1 p1

	counters b 2 300 1200
	pattern w2 write "$C_OFF" "$C_LEN" 11
	check_phase2 live2
	kill_master m2

	start_master_named m3 --store "$STORE" "${sync[@]}"
	run grep -c 'was not closed cleanly' "$M3_LOG"
	assert_output 1
	assert_counter r2 1200
	check_phase2 p2
}

@test "store: released data survives SIGKILL of the master, twice (--sync none)" {
	survives_kill --sync none
}

@test "store: released data survives SIGKILL of the master, twice (--sync release)" {
	survives_kill --sync release
}

@test "store: released data survives SIGKILL of the master, twice (--sync interval)" {
	survives_kill --sync interval
}

@test "store: SIGTERM writes it back and marks it closed; the restart does not warn" {
	start_master_named m1 --store "$STORE"
	assert_equal "$(store_flags)" 00000001
	counters a 2 200 400
	pattern wb write "$B_OFF" "$B_LEN" 9
	stop_master m1
	assert_equal "$(store_flags)" 00000000

	# The warning would be logged before the ready line start_master waits for.
	start_master_named m2 --store "$STORE"
	run -1 grep 'not closed cleanly' "$M2_LOG"
	assert_equal "$(store_flags)" 00000001
	assert_counter r 400
	pattern rb check "$B_OFF" "$B_LEN" 9 $((B_OFF + B_LEN)) $((SEG - B_OFF - B_LEN)) 0
	stop_master m2
	assert_equal "$(store_flags)" 00000000
}

@test "store: a lock held at the crash is gone, its unreleased write is not in the store" {
	start_master_named m1 --store "$STORE" --sync release
	counters a 2 50 100
	# A node takes lock_write on a counter of page 1, increments it and
	# blocks without unlocking: that write was never released.
	start_node holder "$COUNTER" 127.0.0.1 "$MASTER_PORT" 0 --offset "$DSM_PAGE_SIZE" \
		--hold "$BATS_TEST_TMPDIR/held"
	wait_file "$BATS_TEST_TMPDIR/held" $((30 * DSM_SLOW))
	kill_master m1

	start_master_named m2 --store "$STORE" --sync release
	assert_counter r0 100
	assert_counter r1 0 --offset "$DSM_PAGE_SIZE"
	# Nobody holds its lock any more: new nodes take it.
	counters b 2 10 20 --offset "$DSM_PAGE_SIZE"
}

@test "store: --sync release leaves no dirty page once a release completed (none does)" {
	# Control: without a sync the released pages are still dirty (the
	# kernel writes them back after vm.dirty_expire_centisecs, 30 s).
	start_master_named m1 --store "$STORE" --sync none
	pattern w1 write "$B_OFF" "$B_LEN" 9
	pattern c1 check "$B_OFF" "$B_LEN" 9
	local kb
	kb=$(store_dirty_kb "$M1_PID" "$STORE") || fail "the master does not map $STORE"
	((kb > 0)) || fail "control: --sync none left no dirty page ($kb kB)"

	start_master_named m2 --store "$STORE.2" --sync release
	pattern w2 write "$B_OFF" "$B_LEN" 9
	pattern c2 check "$B_OFF" "$B_LEN" 9
	counters a 2 100 200
	kb=$(store_dirty_kb "$M2_PID" "$STORE.2") || fail "the master does not map $STORE.2"
	assert_equal "$kb" 0
}

# Is nothing of the store dirty in the page cache any more?
_store_clean() {
	[[ $(store_dirty_kb "$M1_PID" "$STORE") == 0 ]]
}

@test "store: --sync interval writes releases back within a second, with no later release" {
	start_master_named m1 --store "$STORE" --sync interval
	pattern w write "$B_OFF" "$B_LEN" 9
	pattern c check "$B_OFF" "$B_LEN" 9
	# No release after these: the master's own timer must write them.
	wait_for $((5 * DSM_SLOW)) "the store written back" _store_clean
}

@test "store: a fresh file is created with mode 0600, its full size and an open header" {
	umask 022
	start_master_named m1 --store "$STORE"
	assert_equal "$(stat -c %a "$STORE")" 600
	assert_equal "$(stat -c %s "$STORE")" $((65536 + SEG))
	assert_equal "$(head -c 8 "$STORE")" DSMSTORE
	# version 1, header 65536 bytes, segment 1 MiB, page size, flags open
	assert_equal "$(od -An -v -tx1 -j8 -N16 "$STORE" | tr -d ' \n')" \
		"0000000100010000$(printf %016x "$SEG")"
	assert_equal "$(store_flags)" 00000001
	# An empty file given as the store is used like a new one.
	: >"$STORE.empty"
	start_master_named m2 --store "$STORE.empty"
	assert_equal "$(stat -c %s "$STORE.empty")" $((65536 + SEG))
	assert_counter r 0
}

@test "store: another --size than the file's is refused, the file untouched" {
	start_master_named m1 --store "$STORE"
	counters a 1 10 10
	stop_master m1
	local sum
	sum=$(cksum <"$STORE")

	run_refused --size 2M --port 0 --store "$STORE"
	assert_line --partial "holds a segment of $SEG bytes, but this master's segment is 2097152 bytes"
	assert_line --partial "start with --size $SEG"
	assert_equal "$(cksum <"$STORE")" "$sum"

	start_master_named m2 --store "$STORE"
	assert_counter r 10
}

@test "store: a file that is not a store, or a truncated one, is refused and untouched" {
	local sum
	# Random bytes of exactly a store's size: the magic is what tells.
	head -c $((65536 + SEG)) /dev/urandom >"$STORE"
	sum=$(cksum <"$STORE")
	run_refused --size 1M --port 0 --store "$STORE"
	assert_line --partial "not a dsm store file ($((65536 + SEG)) bytes, no DSMSTORE header)"
	assert_equal "$(cksum <"$STORE")" "$sum"

	echo hello >"$STORE.txt"
	run_refused --size 1M --port 0 --store "$STORE.txt"
	assert_line --partial "not a dsm store file (6 bytes"
	assert_equal "$(cat "$STORE.txt")" hello

	start_master_named m1 --store "$STORE.ok"
	stop_master m1
	truncate -s 100000 "$STORE.ok"
	run_refused --size 1M --port 0 --store "$STORE.ok"
	assert_line --partial "truncated or damaged"
	assert_equal "$(stat -c %s "$STORE.ok")" 100000

	mkfifo "$STORE.fifo"
	run_refused --size 1M --port 0 --store "$STORE.fifo"
	assert_line --partial "is not a regular file"

	run_refused --size 1M --port 0 --store "$BATS_TEST_TMPDIR/no/such/dir/store"
	assert_line --partial "open(store $BATS_TEST_TMPDIR/no/such/dir/store): No such file or directory"
}

@test "store: a second master on a store in use is refused (one store, one master)" {
	start_master_named m1 --store "$STORE"
	run_refused --size 1M --port 0 --store "$STORE"
	assert_line --partial "store $STORE is in use by another dsm-master"
	# The first one still serves it, and the file is still its.
	assert_equal "$(store_flags)" 00000001
	MASTER_PORT=$M1_PORT counters a 2 100 200
	stop_master m1
	assert_equal "$(store_flags)" 00000000
}

@test "store: --sync without --store, or a bad policy, is bad usage (exit 2), no file made" {
	run -2 timeout $((10 * DSM_SLOW)) "$DSM_BUILD/dsm-master" --size 1M --port 0 --sync release
	assert_line "dsm-master: --sync needs --store"
	run -2 timeout $((10 * DSM_SLOW)) "$DSM_BUILD/dsm-master" --size 1M --port 0 \
		--store "$STORE" --sync sometimes
	assert_line "dsm-master: --sync 'sometimes': expected none, release or interval"
	run -2 timeout $((10 * DSM_SLOW)) "$DSM_BUILD/dsm-master" --size 1M --port 0 --store ''
	assert_line --partial "--store '': empty path"
	[[ ! -e $STORE ]] || fail "bad usage created $STORE"
}

@test "store: a failed start leaves the file as it was (removed, empty, or flags kept)" {
	case ${DSM_BUILD##*/} in
	*-address* | *-thread*) skip "the sanitizer runtime does not run under ulimit -v" ;;
	esac
	# A 256 MiB segment cannot be mapped in a 64 MiB address space: the
	# start fails at mmap, after the file was created or marked open.
	local big=(--size 256M --port 0)
	run -1 timeout $((10 * DSM_SLOW)) bash -c 'ulimit -v 65536 && exec "$@"' _ "$DSM_BUILD/dsm-master" "${big[@]}" --store "$STORE"
	assert_line --partial "mmap(store $STORE"
	[[ ! -e $STORE ]] || fail "the file the failed start created is still there"

	: >"$STORE.empty"
	run -1 timeout $((10 * DSM_SLOW)) bash -c 'ulimit -v 65536 && exec "$@"' _ "$DSM_BUILD/dsm-master" "${big[@]}" --store "$STORE.empty"
	assert_line --partial "mmap(store $STORE.empty"
	assert_equal "$(stat -c %s "$STORE.empty")" 0

	start_master_named m1 "${big[@]}" --store "$STORE.ok"
	stop_master m1
	dsm_on_teardown rm -f "$STORE.ok"
	run -1 timeout $((10 * DSM_SLOW)) bash -c 'ulimit -v 65536 && exec "$@"' _ "$DSM_BUILD/dsm-master" "${big[@]}" --store "$STORE.ok"
	assert_equal "$(store_flags "$STORE.ok")" 00000000
	start_master_named m2 "${big[@]}" --store "$STORE.ok"
	run -1 grep 'not closed cleanly' "$M2_LOG"
}
