#!/usr/bin/env bats
# Unmodified programs (tests/unmodified): plain POSIX programs - shm_open,
# ftruncate, mmap, process-shared pthread mutexes, rwlocks, barriers,
# condition variables, semaphores, fork - run twice: natively, as 4
# processes on real shared memory, and under libdsm_preload.so, as 4 nodes
# of one master on loopback (scripts/dsm-run).  Both runs must print the same
# result lines, and those must be the expected ones.  The DSM half of each
# test skips, saying why, when the shim is not built.

load helpers

BATS_TEST_TIMEOUT=$((240 * DSM_SLOW))

@test "counter: 4 processes x 2 threads x 300 increments under a mutex = 2400" {
	run_native counter 4 300 2
	assert_results "$NATIVE_RESULT" 4 "counter: result total 2400 expected 2400"
	run_shim counter 4 300 2
	assert_equal "$SHIM_RESULT" "$NATIVE_RESULT"
}

@test "bank: transfers between 64 accounts, a mutex each, ascending order: money conserved" {
	run_native bank 4 64 400
	assert_results "$NATIVE_RESULT" 4 \
		"bank: result accounts 64 total 64000 transfers 1600 audits 32 bad 0"
	run_shim bank 4 64 400
	assert_equal "$SHIM_RESULT" "$NATIVE_RESULT"
}

@test "jacobi: heat stencil, a barrier per iteration: bit-identical grid" {
	run_native jacobi 4 130 130 60
	local line
	line=$(sed -n '1s/^\[0\] //p' <<<"$NATIVE_RESULT")
	assert_regex "$line" '^jacobi: result grid 130x130 iters 60 sum [0-9.e+]+ fnv [0-9a-f]{16}$'
	assert_results "$NATIVE_RESULT" 4 "$line"
	run_shim jacobi 4 130 130 60
	assert_equal "$SHIM_RESULT" "$NATIVE_RESULT"
}

@test "jacobi: the grid does not depend on the number of processes (1, 3, 4; DSM with 3)" {
	local one three four
	run_native jacobi 1 100 70 40
	one=$(sed 's/^\[[0-9]*\] //' <<<"$NATIVE_RESULT" | sort -u)
	run_native jacobi 3 100 70 40
	three=$(sed 's/^\[[0-9]*\] //' <<<"$NATIVE_RESULT" | sort -u)
	run_native jacobi 4 100 70 40
	four=$(sed 's/^\[[0-9]*\] //' <<<"$NATIVE_RESULT" | sort -u)
	assert_equal "$three" "$one"
	assert_equal "$four" "$one"
	run_shim jacobi 3 100 70 40
	assert_results "$SHIM_RESULT" 3 "$one"
}

@test "prodcons: bounded buffer, mutex and two condition variables: sum consumed = sum produced" {
	run_native prodcons 4 400 4
	assert_results "$NATIVE_RESULT" 4 \
		"prodcons: result producers 2 consumers 2 items 800 sum 320400 produced 320400"
	run_shim prodcons 4 400 4
	assert_equal "$SHIM_RESULT" "$NATIVE_RESULT"
}

@test "prodcons: 2 producers, 3 consumers, a buffer of 1: every wait and wake-up path" {
	run_native prodcons 5 150 1
	assert_results "$NATIVE_RESULT" 5 \
		"prodcons: result producers 2 consumers 3 items 300 sum 45150 produced 45150"
	run_shim prodcons 5 150 1
	assert_equal "$SHIM_RESULT" "$NATIVE_RESULT"
}

@test "semseq: a semaphore as a lock, trywait tokens, timedwait, post/wait ordering" {
	run_native semseq 4 300
	assert_results "$NATIVE_RESULT" 4 "semseq: result seq 1200 tokens 2 lock 1 done 0 bad 0"
	run_shim semseq 4 300
	assert_equal "$SHIM_RESULT" "$NATIVE_RESULT"
}

@test "rwlock: readers never see a half-written array (2 threads per process)" {
	run_native rwlock 4 60 5 2
	assert_results "$NATIVE_RESULT" 4 \
		"rwlock: result version 480 writes 480 reads 2400 violations 0"
	run_shim rwlock 4 60 5 2
	assert_equal "$SHIM_RESULT" "$NATIVE_RESULT"
}

@test "linkedlist: a sorted list linked with real pointers, walked by every process" {
	run_native linkedlist 4 200
	local line
	line=$(sed -n '1s/^\[0\] //p' <<<"$NATIVE_RESULT")
	assert_regex "$line" '^linkedlist: result nodes 800 sum [0-9a-f]{16} fnv [0-9a-f]{16}$'
	assert_results "$NATIVE_RESULT" 4 "$line"
	run_shim linkedlist 4 200
	assert_equal "$SHIM_RESULT" "$NATIVE_RESULT"
	# Under the shim every node has the object at the segment's address.
	run -0 grep -c 'linkedlist: rank [0-9]: started: 200 nodes, object at ' <<<"$SHIM_OUT"
	assert_output 4
	run -0 bash -c "grep -o 'object at 0x[0-9a-f]*' | sort -u" <<<"$SHIM_OUT"
	assert_equal "${#lines[@]}" 1
}

@test "forkworkers: one process forks 4 workers (exit and _exit) that count under its mutex" {
	run_native forkworkers 1 4 300
	assert_results "$NATIVE_RESULT" 1 "forkworkers: result workers 4 total 1200 marks 4"
	run_shim forkworkers 1 4 300
	assert_equal "$SHIM_RESULT" "$NATIVE_RESULT"
}

@test "mutextypes: normal, recursive and errorcheck mutexes, timed waits, barrier serial thread" {
	run_native mutextypes 4
	# Ranks 0 and 1 make the cross-process checks on top of their own.
	assert_equal "$NATIVE_RESULT" "$(printf '%s\n' \
		"[0] mutextypes: result barrier rounds 16 serial-once 16" \
		"[0] mutextypes: result rank 0 checks 72 failed 0" \
		"[1] mutextypes: result barrier rounds 16 serial-once 16" \
		"[1] mutextypes: result rank 1 checks 81 failed 0" \
		"[2] mutextypes: result barrier rounds 16 serial-once 16" \
		"[2] mutextypes: result rank 2 checks 65 failed 0" \
		"[3] mutextypes: result barrier rounds 16 serial-once 16" \
		"[3] mutextypes: result rank 3 checks 65 failed 0")"
	run_shim mutextypes 4
	assert_equal "$SHIM_RESULT" "$NATIVE_RESULT"
}
