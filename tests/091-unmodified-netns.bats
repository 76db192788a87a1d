#!/usr/bin/env bats
# Unmodified programs (tests/unmodified) across hosts: the master and each
# node in a network namespace of its own (scripts/dsm-netns), every node a
# copy of the program under libdsm_preload.so with DSM_MASTER pointing at
# the master's host.  Each result must equal the native run's (processes on
# one machine, real shared memory).  Root only (network namespaces); the
# tests skip with the reason elsewhere, or when the shim is not built.

load helpers

BATS_TEST_TIMEOUT=$((300 * DSM_SLOW))

# compare NAME N ARGS...: native run, then the same on N+1 hosts.
compare() {
	run_native "$@"
	run_shim_netns "$@"
	assert_equal "$NETNS_RESULT" "$NATIVE_RESULT"
}

@test "netns: counter, 4 hosts x 2 threads x 300 increments = 2400" {
	compare counter 4 300 2
	assert_results "$NETNS_RESULT" 4 "counter: result total 2400 expected 2400"
}

@test "netns: bank, money conserved across hosts" {
	compare bank 4 64 400
	assert_results "$NETNS_RESULT" 4 \
		"bank: result accounts 64 total 64000 transfers 1600 audits 32 bad 0"
}

@test "netns: jacobi, bit-identical grid" {
	compare jacobi 4 130 130 60
}

@test "netns: prodcons, condition variables across hosts" {
	compare prodcons 4 400 4
	assert_results "$NETNS_RESULT" 4 \
		"prodcons: result producers 2 consumers 2 items 800 sum 320400 produced 320400"
}

@test "netns: semseq, semaphores across hosts" {
	compare semseq 4 300
	assert_results "$NETNS_RESULT" 4 "semseq: result seq 1200 tokens 2 lock 1 done 0 bad 0"
}

@test "netns: rwlock, no reader sees a half-written array" {
	compare rwlock 4 60 5 2
	assert_results "$NETNS_RESULT" 4 \
		"rwlock: result version 480 writes 480 reads 2400 violations 0"
}

@test "netns: linkedlist, real pointers followed on every host" {
	compare linkedlist 4 200
}

@test "netns: forkworkers, a process on one host forks 4 workers" {
	compare forkworkers 1 4 300
	assert_results "$NETNS_RESULT" 1 "forkworkers: result workers 4 total 1200 marks 4"
}

@test "netns: mutextypes, return codes of every object type across hosts" {
	compare mutextypes 4
}
