#!/usr/bin/env bats
# The preload shim's single cases - what stays untouched (private objects,
# other mappings, programs that never use shared memory, no DSM_MASTER), the
# shared memory calls themselves, exec, errors (no master, a segment too
# small, the master lost) - and the launcher scripts/dsm-run.  The launcher
# tests use a do-nothing preload library, so they run whether or not the
# shim is built; the others skip, saying why, when it is not.

load helpers

BATS_TEST_TIMEOUT=$((120 * DSM_SLOW))

DSM_RUN=$DSM_ROOT/scripts/dsm-run

# A preload library that defines nothing the shim would: the launcher
# tests see what dsm-run does, not what the shim does.  Sets DUMMY_PRELOAD.
dummy_preload() {
	DUMMY_PRELOAD=$BATS_FILE_TMPDIR/dummy_preload.so
	[[ -f $DUMMY_PRELOAD ]] && return 0
	command -v cc >/dev/null || skip "no C compiler (cc) to build a dummy preload library"
	printf 'int dsm_run_test_dummy;\n' |
		cc -shared -fPIC -x c -o "$DUMMY_PRELOAD" - ||
		fail "could not build $DUMMY_PRELOAD"
}

# start_dsm_run NAME DSM-RUN-ARGS...: dsm-run in the background (tracked
# like any node) with the dummy preload library and the build's master.
start_dsm_run() {
	local name=$1
	shift
	dummy_preload
	start_node "$name" env -u LD_PRELOAD DSM_PRELOAD="$DUMMY_PRELOAD" \
		DSM_MASTER_BIN="$DSM_BUILD/dsm-master" "$DSM_RUN" "$@"
}

# The master dsm-run NAME started, from its -v line: sets RUN_MASTER_PID
# and RUN_MASTER_PORT.
run_master_of() {
	local line re='dsm-run: dsm-master \(pid ([0-9]+)\) listening on 127\.0\.0\.1:([0-9]+),'
	line=$(grep -m1 -E "$re" "$(log_of "$1")") ||
		fail "no 'dsm-master (pid ...) listening on' line from $1"
	[[ $line =~ $re ]]
	RUN_MASTER_PID=${BASH_REMATCH[1]}
	RUN_MASTER_PORT=${BASH_REMATCH[2]}
}

# A program for dsm-run copies that writes its pid and the pid of a child
# (sleep) into files under $1, then waits.
SLEEPER='echo $$ >"$1/copy.$DSM_RANK"; sleep 60 & echo $! >"$1/child.$DSM_RANK"; wait'

# assert_gone FILE...: the process whose pid each FILE holds has exited.
assert_gone() {
	local f pid
	for f in "$@"; do
		pid=$(cat "$f")
		wait_for $((5 * DSM_SLOW)) "process $pid (from $f) to exit" \
			eval "! _dsm_alive $pid"
	done
}

@test "privmutex: private mutexes, semaphores, barriers and mappings work next to the segment" {
	run_native privmutex 4 1000 4
	assert_results "$NATIVE_RESULT" 4 \
		"privmutex: result private 4000 recursive 4000 heap 4000 sem 4000 stripes ok shared 1600"
	run_shim privmutex 4 1000 4
	assert_equal "$SHIM_RESULT" "$NATIVE_RESULT"
}

@test "outside: other shm objects, anonymous and file mappings keep their semantics; DSM_SHM picks the segment" {
	# Each process opens an object of its own before the shared one: under
	# the shim only DSM_SHM (run_shim sets it) tells them apart.
	run_native outside 4 200
	assert_results "$NATIVE_RESULT" 4 \
		"outside: result local 400 private ok shared ok file ok apart ok dsm 1600"
	run_shim outside 4 200
	assert_equal "$SHIM_RESULT" "$NATIVE_RESULT"
	run -0 ls /dev/shm
	refute_output --partial "${SHIM_SHM#/}-local-"
}

@test "shmops: O_CREAT|O_EXCL race, fstat, a second descriptor, munmap and mmap again, shm_unlink" {
	run_native shmops 4
	assert_results "$NATIVE_RESULT" 4 "shmops: result winners 1 failed 0"
	run_shim shmops 4
	assert_equal "$SHIM_RESULT" "$NATIVE_RESULT"
}

@test "execself: processes that run system() and popen() and exec themselves keep their data" {
	run_native execself 3 100 200
	assert_results "$NATIVE_RESULT" 3 \
		"execself: result total 900 expected 900 system 7 popen ok"
	run_shim execself 3 100 200
	assert_equal "$SHIM_RESULT" "$NATIVE_RESULT"
}

@test "ftruncate beyond the master's segment fails with EFBIG and a dsm: line naming --size" {
	run_native shmops 1 truncate 2097152
	assert_results "$NATIVE_RESULT" 1 "shmops: result ftruncate 2097152: 0" \
		"shmops: result ftruncate 65536 then: 0"
	SHIM_SIZE=1M run_shim shmops 1 truncate 2097152
	assert_results "$SHIM_RESULT" 1 "shmops: result ftruncate 2097152: EFBIG" \
		"shmops: result ftruncate 65536 then: 0"
	run -0 grep -E '^\[0\] dsm: .*--size' <<<"$SHIM_OUT"
	run -0 grep -F 'shmops: ftruncate' <<<"$SHIM_OUT"
	assert_output --partial 'File too large'
}

@test "without DSM_MASTER the shim is inert: real POSIX shared memory" {
	require_shim
	# -k: rank 0 leaves the object in /dev/shm, where only glibc puts it.
	NATIVE_ENV=("LD_PRELOAD=$DSM_PRELOAD_LIB")
	run_native counter 2 -k 200
	assert_results "$NATIVE_RESULT" 2 "counter: result total 400 expected 400"
	[[ -f /dev/shm$NATIVE_SHM ]] || fail "/dev/shm$NATIVE_SHM does not exist: the object was not a real one"
	run -1 grep -E '^\[[0-9]+\] dsm:' <<<"$NATIVE_OUT"
}

@test "a program that never opens shared memory is untouched with DSM_MASTER set" {
	require_shim
	# Port 1 (tcpmux) has no listener on a test machine.
	start_node sh env LD_PRELOAD="$DSM_PRELOAD_LIB" DSM_MASTER=127.0.0.1:1 \
		sh -c 'echo hello; (echo from a subshell); exit 5'
	wait_node sh $((10 * DSM_SLOW)) 5
	run -0 cat "$(log_of sh)"
	assert_output "$(printf 'hello\nfrom a subshell')"
}

@test "DSM_MASTER pointing at nothing: one dsm: line and a non-zero exit, at once" {
	require_shim
	local shm
	dsm_shm_name shm nomaster
	start_node c env LD_PRELOAD="$DSM_PRELOAD_LIB" DSM_MASTER=127.0.0.1:1 \
		DSM_RANK=0 DSM_NODES=1 "$(unmodified counter)" -s "$shm" -t 60 10
	wait_node c $((10 * DSM_SLOW)) '!'
	run -0 grep -c '^dsm: ' "$(log_of c)"
	assert_output 1
	run -0 cat "$(log_of c)"
	assert_line --regexp '^dsm: .*127\.0\.0\.1:1'
	refute_output --partial 'started'
	refute_output --partial 'watchdog'
}

@test "DSM_MASTER without a port: one dsm: line naming it and a non-zero exit" {
	require_shim
	local shm
	dsm_shm_name shm badmaster
	start_node c env LD_PRELOAD="$DSM_PRELOAD_LIB" DSM_MASTER=localhost \
		DSM_RANK=0 DSM_NODES=1 "$(unmodified counter)" -s "$shm" -t 60 10
	wait_node c $((10 * DSM_SLOW)) '!'
	run -0 cat "$(log_of c)"
	assert_line --regexp '^dsm: .*DSM_MASTER'
	refute_output --partial 'started'
	refute_output --partial 'watchdog'
}

@test "DSM_BASE: the master's --base is where every node maps; a different DSM_BASE is refused clearly" {
	require_shim
	local shm k
	dsm_shm_name shm base
	start_master --size 16M --base 0x300000000000
	for k in 0 1; do
		start_node "node$k" env LD_PRELOAD="$DSM_PRELOAD_LIB" \
			DSM_MASTER="127.0.0.1:$MASTER_PORT" DSM_BASE=0x300000000000 \
			DSM_RANK=$k DSM_NODES=2 "$(unmodified linkedlist)" -s "$shm" -t 60 50
	done
	for k in 0 1; do
		wait_node "node$k" $((60 * DSM_SLOW))
		run -0 cat "$(log_of "node$k")"
		assert_line "linkedlist: rank $k: started: 50 nodes, object at 0x300000000000"
		assert_line --regexp '^linkedlist: result nodes 100 '
	done
	start_node wrong env LD_PRELOAD="$DSM_PRELOAD_LIB" \
		DSM_MASTER="127.0.0.1:$MASTER_PORT" DSM_BASE=0x200000000000 \
		DSM_RANK=0 DSM_NODES=1 "$(unmodified counter)" -s "${shm}-wrong" -t 60 10
	wait_node wrong $((10 * DSM_SLOW)) '!'
	run -0 cat "$(log_of wrong)"
	assert_line --regexp '^dsm: .*DSM_BASE'
	refute_output --partial 'started'
}

@test "the master killed under 3 busy nodes: each exits non-zero with a dsm: line within 5 s" {
	require_shim
	local shm k
	dsm_shm_name shm killed
	start_master --size 16M
	for k in 0 1 2; do
		start_node "node$k" env LD_PRELOAD="$DSM_PRELOAD_LIB" \
			DSM_MASTER="127.0.0.1:$MASTER_PORT" DSM_RANK=$k DSM_NODES=3 \
			"$(unmodified counter)" -s "$shm" -t $((120 * DSM_SLOW)) 10000000 2
	done
	for k in 0 1 2; do
		wait_log "node$k" '^counter: rank [0-9]: started' $((30 * DSM_SLOW))
	done
	kill -KILL "$MASTER_PID"
	for k in 0 1 2; do
		wait_node "node$k" $((5 * DSM_SLOW)) '!'
		run -0 grep -c '^dsm: ' "$(log_of "node$k")"
		assert_output 1
		run -0 cat "$(log_of "node$k")"
		refute_output --partial 'watchdog'
		refute_output --partial 'result'
		# The program never saw an error from a call: the shim ended it.
		refute_line --regexp '^counter: rank [0-9]: (pthread_|shm_|fstat|mmap)'
	done
}

@test "the master stopped (SIGTERM) under a node waiting at a barrier: it exits non-zero with a dsm: line" {
	require_shim
	local shm
	dsm_shm_name shm stopped
	start_master --size 16M
	# Two processes expected, one started: rank 0 waits at the barrier.
	start_node node0 env LD_PRELOAD="$DSM_PRELOAD_LIB" \
		DSM_MASTER="127.0.0.1:$MASTER_PORT" DSM_RANK=0 DSM_NODES=2 \
		"$(unmodified counter)" -s "$shm" -t $((120 * DSM_SLOW)) 10
	wait_log node0 'waiting for 2 process\(es\) at the start barrier' $((30 * DSM_SLOW))
	kill -TERM "$MASTER_PID"
	wait_node node0 $((5 * DSM_SLOW)) '!'
	run -0 cat "$(log_of node0)"
	assert_line --regexp '^dsm: '
	refute_output --partial 'watchdog'
	refute_output --partial 'started'
	wait_node master $((5 * DSM_SLOW)) 0
}

@test "dsm-run --help, and bad usage exits 2 before starting anything" {
	run -0 "$DSM_RUN" --help
	assert_output --partial 'dsm-run -n N'
	assert_output --partial '--timeout SECS'
	assert_output --partial 'Exit status'
	run -2 "$DSM_RUN" -- true
	assert_output --partial '-n N is required'
	run -2 "$DSM_RUN" -n 2 --frobnicate -- true
	assert_output --partial "unknown option '--frobnicate'"
	run -2 "$DSM_RUN" -n 0 -- true
	run -2 "$DSM_RUN" -n 2
	assert_output --partial 'no PROGRAM'
	run -2 "$DSM_RUN" -n 2 --shm noslash -- true
	run -2 "$DSM_RUN" -n 2 --timeout soon -- true
}

@test "dsm-run: a missing preload library or master binary exits 125 and says so" {
	run -125 env DSM_PRELOAD=/nonexistent/libdsm_preload.so "$DSM_RUN" -n 1 -- true
	assert_output --partial 'DSM_PRELOAD=/nonexistent/libdsm_preload.so'
	dummy_preload
	run -125 env DSM_PRELOAD="$DUMMY_PRELOAD" DSM_MASTER_BIN=/nonexistent/dsm-master \
		"$DSM_RUN" -n 1 -- true
	assert_output --partial 'DSM_MASTER_BIN=/nonexistent/dsm-master'
	run -125 env DSM_PRELOAD="$DUMMY_PRELOAD" DSM_MASTER_BIN=/bin/false \
		"$DSM_RUN" -n 1 -- true
	assert_output --partial 'before it was ready'
}

@test "dsm-run: a master on a free port, the environment of each copy, [rank] prefixes, master stopped" {
	start_dsm_run dr -v -n 3 --size 2M --shm /dsmrun-env -- sh -c \
		'echo "rank $DSM_RANK of $DSM_NODES shm $DSM_SHM master $DSM_MASTER preload $LD_PRELOAD"; echo "stderr of $DSM_RANK" >&2'
	wait_node dr $((30 * DSM_SLOW))
	run_master_of dr
	run -0 cat "$(log_of dr)"
	local k
	for k in 0 1 2; do
		assert_line "[$k] rank $k of 3 shm /dsmrun-env master 127.0.0.1:$RUN_MASTER_PORT preload $DUMMY_PRELOAD"
		assert_line "[$k] stderr of $k"
	done
	assert_line --regexp "^dsm-run: dsm-master \\(pid $RUN_MASTER_PID\\) listening on 127\\.0\\.0\\.1:$RUN_MASTER_PORT, size 2097152 bytes\$"
	assert_line "dsm-run: dsm-master (pid $RUN_MASTER_PID) stopped (status 0)"
	! _dsm_alive "$RUN_MASTER_PID" || fail "dsm-master $RUN_MASTER_PID is still running"
}

@test "dsm-run: the exit status is the first failing copy's; the others run to their end" {
	start_dsm_run dr -n 3 -- sh -c \
		'[ "$DSM_RANK" = 1 ] && { echo "rank 1 fails"; exit 3; }; sleep 0.3; echo "rank $DSM_RANK done"'
	wait_node dr $((30 * DSM_SLOW)) 3
	run -0 cat "$(log_of dr)"
	assert_line '[1] rank 1 fails'
	assert_line '[0] rank 0 done'
	assert_line '[2] rank 2 done'
	assert_line --regexp '^dsm-run: rank 1 \(pid [0-9]+\) exited with status 3$'

	start_dsm_run dr2 -n 2 -- sh -c '[ "$DSM_RANK" = 0 ] && kill -KILL $$; exit 0'
	wait_node dr2 $((30 * DSM_SLOW)) 137
}

@test "dsm-run: rank 0 gets the standard input, the others /dev/null" {
	dummy_preload
	printf 'a line\n' >"$BATS_TEST_TMPDIR/input"
	start_node dr sh -c 'exec "$@" <"$0"' "$BATS_TEST_TMPDIR/input" \
		env -u LD_PRELOAD DSM_PRELOAD="$DUMMY_PRELOAD" \
		DSM_MASTER_BIN="$DSM_BUILD/dsm-master" "$DSM_RUN" -n 2 -- \
		sh -c 'read -r l; echo "read: $l"'
	wait_node dr $((30 * DSM_SLOW))
	run -0 cat "$(log_of dr)"
	assert_line '[0] read: a line'
	assert_line '[1] read: '
}

@test "dsm-run --timeout stops the copies, their children and the master, and exits 124" {
	# Long enough for both copies to be running (and have children) when
	# it fires, even on a loaded machine.
	local t=$((5 * DSM_SLOW)) k
	start_dsm_run dr -v -n 2 --timeout "$t" -- sh -c "$SLEEPER" sh "$BATS_TEST_TMPDIR"
	for k in 0 1; do
		wait_file "$BATS_TEST_TMPDIR/child.$k" "$t"
	done
	wait_node dr $((15 * DSM_SLOW)) 124
	run_master_of dr
	run -0 cat "$(log_of dr)"
	assert_line "dsm-run: timed out after $t s: stopping the copies and the master"
	assert_gone "$BATS_TEST_TMPDIR"/copy.{0,1} "$BATS_TEST_TMPDIR"/child.{0,1}
	! _dsm_alive "$RUN_MASTER_PID" || fail "dsm-master $RUN_MASTER_PID is still running"
}

@test "dsm-run: SIGTERM stops the copies, their children and the master, and exits 143" {
	start_dsm_run dr -v -n 3 -- sh -c "$SLEEPER" sh "$BATS_TEST_TMPDIR"
	local k
	for k in 0 1 2; do
		wait_file "$BATS_TEST_TMPDIR/child.$k"
	done
	run_master_of dr
	kill -TERM "$(pid_of dr)"
	wait_node dr $((15 * DSM_SLOW)) 143
	assert_gone "$BATS_TEST_TMPDIR"/copy.{0,1,2} "$BATS_TEST_TMPDIR"/child.{0,1,2}
	! _dsm_alive "$RUN_MASTER_PID" || fail "dsm-master $RUN_MASTER_PID is still running"
}

@test "dsm-run: SIGINT (Ctrl-C) stops everything and exits 130" {
	env --default-signal=INT true 2>/dev/null ||
		skip "env --default-signal is missing (coreutils < 8.31): background jobs ignore SIGINT"
	dummy_preload
	# A background job starts with SIGINT ignored: give dsm-run the default back.
	start_node dr env --default-signal=INT env -u LD_PRELOAD DSM_PRELOAD="$DUMMY_PRELOAD" \
		DSM_MASTER_BIN="$DSM_BUILD/dsm-master" "$DSM_RUN" -v -n 2 -- \
		sh -c "$SLEEPER" sh "$BATS_TEST_TMPDIR"
	wait_file "$BATS_TEST_TMPDIR/child.0"
	wait_file "$BATS_TEST_TMPDIR/child.1"
	run_master_of dr
	kill -INT "$(pid_of dr)"
	wait_node dr $((15 * DSM_SLOW)) 130
	assert_gone "$BATS_TEST_TMPDIR"/copy.{0,1} "$BATS_TEST_TMPDIR"/child.{0,1}
	! _dsm_alive "$RUN_MASTER_PID" || fail "dsm-master $RUN_MASTER_PID is still running"
}

@test "dsm-run --master uses a running master, starts none and leaves it running" {
	start_master --size 1M
	start_dsm_run dr -v -n 2 --master "127.0.0.1:$MASTER_PORT" -- sh -c 'echo "master $DSM_MASTER"'
	wait_node dr $((30 * DSM_SLOW))
	run -0 cat "$(log_of dr)"
	assert_line "[0] master 127.0.0.1:$MASTER_PORT"
	assert_line "[1] master 127.0.0.1:$MASTER_PORT"
	refute_output --partial 'dsm-master (pid'
	_dsm_alive "$MASTER_PID" || fail "the master is gone"
}

@test "dsm-run under the shim: the master killed mid-run makes every copy and dsm-run exit non-zero" {
	require_shim
	local shm
	dsm_shm_name shm runkill
	_dsm_shim_env
	start_node dr env "${_DSM_SHIM_ENV[@]}" DSM_PRELOAD="$DSM_PRELOAD_LIB" \
		DSM_MASTER_BIN="$DSM_BUILD/dsm-master" "$DSM_RUN" -v -n 3 --size 16M \
		--shm "$shm" --timeout $((120 * DSM_SLOW)) -- \
		"$(unmodified counter)" -s "$shm" -t $((100 * DSM_SLOW)) 10000000
	local k
	for k in 0 1 2; do
		wait_log dr "^\\[$k\\] counter: rank $k: started" $((30 * DSM_SLOW))
	done
	run_master_of dr
	kill -KILL "$RUN_MASTER_PID"
	wait_node dr $((10 * DSM_SLOW)) '!'
	run -0 cat "$(log_of dr)"
	for k in 0 1 2; do
		assert_line --regexp "^\\[$k\\] dsm: "
		assert_line --regexp "^dsm-run: rank $k \\(pid [0-9]+\\) exited with status [1-9][0-9]*\$"
	done
	assert_line --regexp "^dsm-run: dsm-master \\(pid $RUN_MASTER_PID\\) exited during the run"
	refute_output --partial 'watchdog'
	# The program never saw an error from a call: the shim ended it.
	refute_line --regexp '^\[[0-9]\] counter: rank [0-9]: (pthread_|shm_|fstat|mmap)'
}
