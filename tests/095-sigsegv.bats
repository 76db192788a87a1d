#!/usr/bin/env bats
# The SIGSEGV fault backend (docs/FAULT-BACKENDS.md): representative cases
# of the core and shim suites again with DSM_FAULT=sigsegv, the program's
# own SIGSEGV handlers and masks next to the runtime's, a real crash that
# must still crash, a bad DSM_FAULT, and the automatic choice for an
# unprivileged user without userfaultfd.
#
# Every suite can run with this backend as a whole too:
#     DSM_FAULT=sigsegv tests/run 020 030 040 050 080 090 092
# (the nodes the tests start inherit DSM_FAULT).

load helpers

BATS_TEST_TIMEOUT=$((120 * DSM_SLOW))

export DSM_FAULT=sigsegv

# assert_backend LOG WHY: the node whose log is LOG (DSM_LOG=info) used
# the SIGSEGV backend, for reason WHY.
assert_backend() {
	run -0 grep -F "dsm: info: fault backend: sigsegv ($2)" "$1"
}

@test "sigsegv: counter, 3 nodes x 1000 increments = 3000; DSM_LOG=info names the backend" {
	local counter k
	counter=$(scenario counter)
	start_master --size 1M
	for k in 1 2 3; do
		start_node "node$k" env DSM_LOG=info "$counter" 127.0.0.1 \
			"$MASTER_PORT" 1000 --wait-total 3000 --timeout $((60 * DSM_SLOW))
	done
	for k in 1 2 3; do
		wait_node "node$k" $((90 * DSM_SLOW))
		run -0 cat "$(log_of "node$k")"
		assert_line "counter: value 3000"
		assert_backend "$(log_of "node$k")" "DSM_FAULT=sigsegv"
	done
}

@test "sigsegv: falseshare, 3 nodes write every third byte of a page" {
	local fs r
	fs=$(scenario falseshare)
	start_master --size 64K
	for r in 0 1 2; do
		start_node "rank$r" "$fs" 127.0.0.1 "$MASTER_PORT" "$r" 3 --rounds 100
	done
	for r in 0 1 2; do
		wait_node "rank$r" $((90 * DSM_SLOW))
	done
	start_node checker "$fs" 127.0.0.1 "$MASTER_PORT" --check 3 --rounds 100
	wait_node checker
	run -0 cat "$(log_of checker)"
	assert_line --regexp "^falseshare: OK, 3 ranks x 100 rounds"
}

@test "sigsegv: rwcheck, 2 writers and 2 readers over 3 pages" {
	local rw k
	rw=$(scenario rwcheck)
	start_master --size 256K
	for k in 1 2; do
		start_node "writer$k" "$rw" 127.0.0.1 "$MASTER_PORT" writer 100 --pages 3
		start_node "reader$k" "$rw" 127.0.0.1 "$MASTER_PORT" reader 150 --pages 3
	done
	for k in 1 2; do
		wait_node "writer$k" $((90 * DSM_SLOW))
		wait_node "reader$k" $((90 * DSM_SLOW))
		run -0 cat "$(log_of "reader$k")"
		assert_line --regexp "^rwcheck: reader did 150 checks"
	done
	start_node check "$rw" 127.0.0.1 "$MASTER_PORT" check 200 --pages 3
	wait_node check
	run -0 cat "$(log_of check)"
	assert_line "rwcheck: OK, generation 200 over 3 pages"
}

@test "sigsegv: fibonacci, 3 nodes compute F(1500) like the sequential program" {
	local fib k want line steps=0
	fib=$(scenario fibonacci)
	run -0 "$fib" --sequential 1500
	want=$output
	start_master --size 64K
	for k in 1 2 3; do
		start_node "node$k" "$fib" 127.0.0.1 "$MASTER_PORT" 1500
	done
	for k in 1 2 3; do
		wait_node "node$k" $((90 * DSM_SLOW))
		line=$(grep -m1 '^fibonacci: ' "$(log_of "node$k")" || true)
		[[ $line == "$want (this node did "* ]] ||
			fail "node$k printed '$line', expected '$want (...)'"
		line=${line##*did }
		steps=$((steps + ${line%% of*}))
	done
	assert_equal "$steps" 1500
}

@test "sigsegv: api, init_master and 3 nodes count to 4 x 500" {
	start_node apimaster "$(scenario api/apimaster)" 500 3 "$(scenario counter)"
	wait_node apimaster $((90 * DSM_SLOW))
	run -0 cat "$(log_of apimaster)"
	assert_line "apimaster: total 2000 (expected 2000) OK"
}

@test "sigsegv, shim: counter, jacobi, linkedlist and prodcons give the native results" {
	run_shim counter 3 200 2
	assert_results "$SHIM_RESULT" 3 "counter: result total 1200 expected 1200"
	run_shim jacobi 3 100 70 20
	local line
	line=$(sed -n '1s/^\[0\] //p' <<<"$SHIM_RESULT")
	run_native jacobi 1 100 70 20
	assert_results "$NATIVE_RESULT" 1 "$line"
	run_shim linkedlist 3 100
	line=$(sed -n '1s/^\[0\] //p' <<<"$SHIM_RESULT")
	run_native linkedlist 3 100
	assert_results "$NATIVE_RESULT" 3 "$line"
	run_shim prodcons 4 200 2
	assert_results "$SHIM_RESULT" 4 \
		"prodcons: result producers 2 consumers 2 items 400 sum 80200 produced 80200"
}

@test "sigsegv, shim: fork (each child its own memfd) and exec keep every increment" {
	run_shim forkworkers 1 4 200
	assert_results "$SHIM_RESULT" 1 "forkworkers: result workers 4 total 800 marks 4"
	run_shim execself 2 50 100
	assert_results "$SHIM_RESULT" 2 \
		"execself: result total 300 expected 300 system 7 popen ok"
}

@test "sigsegv, shim: the program's SIGSEGV handlers, masks and a real crash behave as natively" {
	local line
	run_native segvchain 2 200
	# old-default: SIG_DFL before the program's first sigaction, unless a
	# sanitizer runtime installed its own handler (then 0, natively too).
	line=$(sed -n '1s/^\[0\] //p' <<<"$NATIVE_RESULT")
	assert_regex "$line" '^segvchain: result total 1200 expected 1200 handlers A=2 B=3 C=1 jumps 1 old-default [01] signal-returns-A 1 legacy 1 sigusr1 1 pages ok$'
	assert_results "$NATIVE_RESULT" 2 "$line"
	DSM_LOG=info run_shim segvchain 2 200
	assert_equal "$SHIM_RESULT" "$NATIVE_RESULT"
	run -0 grep -c 'dsm: info: fault backend: sigsegv (DSM_FAULT=sigsegv)' <<<"$SHIM_OUT"
	assert_output 2
	# A write to a string literal, with SIGSEGV back at SIG_DFL: killed
	# by SIGSEGV (128 + 11), not served as a DSM fault.
	SHIM_STATUS=139 run_shim segvchain 1 100 crash
	assert_results "$SHIM_RESULT" 1 "${line/total 1200 expected 1200/total 300 expected 300}"
	run -0 grep -F 'crashing now' <<<"$SHIM_OUT"
}

@test "a bad DSM_FAULT is refused with one clear line (library and shim)" {
	local shm
	start_master --size 1M
	start_node lib env DSM_FAULT=mprotect "$(scenario counter)" 127.0.0.1 "$MASTER_PORT" 10
	wait_node lib $((10 * DSM_SLOW)) '!'
	run -0 cat "$(log_of lib)"
	assert_line "dsm: error: DSM_FAULT='mprotect': expected uffd or sigsegv (unset: userfaultfd where it is allowed, else sigsegv)"
	require_shim
	dsm_shm_name shm badfault
	_dsm_shim_env
	start_node shim env "${_DSM_SHIM_ENV[@]}" DSM_FAULT=mprotect LD_PRELOAD="$DSM_PRELOAD_LIB" \
		DSM_MASTER="127.0.0.1:$MASTER_PORT" DSM_SHM="$shm" DSM_RANK=0 DSM_NODES=1 \
		"$(unmodified counter)" -s "$shm" -t 60 10
	wait_node shim $((10 * DSM_SLOW)) 1
	run -0 grep -c '^dsm: ' "$(log_of shim)"
	assert_output 1
	run -0 grep -F "DSM_FAULT='mprotect'" "$(log_of shim)"
}

# The build's files a node needs, where `nobody` can read them: in place if
# it can already, else copied into a folder of this test.  Sets NOBODY_BIN
# (the counter scenario) and NOBODY_LIBDIR.
nobody_files() {
	local bin lib dir
	bin=$(scenario counter)
	lib=$DSM_BUILD/libdsm.so
	if setpriv --reuid=nobody --regid=nogroup --clear-groups \
		test -x "$bin" -a -r "$lib" 2>/dev/null; then
		NOBODY_BIN=$bin
		NOBODY_LIBDIR=$DSM_BUILD
		return 0
	fi
	dir=$(mktemp -d /tmp/dsm-nobody.XXXXXX)
	dsm_on_teardown rm -rf "$dir"
	cp "$bin" "$lib" "$dir/"
	chmod 755 "$dir" "$dir/counter" "$dir/libdsm.so"
	NOBODY_BIN=$dir/counter
	NOBODY_LIBDIR=$dir
}

@test "unprivileged, without userfaultfd: the node picks the sigsegv backend by itself and counts exactly" {
	[[ $EUID -eq 0 ]] || skip "needs root (to run as nobody and set vm.unprivileged_userfaultfd)"
	command -v setpriv >/dev/null || skip "setpriv (util-linux) is not installed"
	id nobody >/dev/null 2>&1 && getent group nogroup >/dev/null ||
		skip "no user nobody / group nogroup here"
	local old k
	old=$(sysctl -n vm.unprivileged_userfaultfd 2>/dev/null) ||
		skip "this kernel has no vm.unprivileged_userfaultfd"
	dsm_on_teardown sysctl -q -w "vm.unprivileged_userfaultfd=$old"
	sysctl -q -w vm.unprivileged_userfaultfd=0 ||
		skip "cannot set vm.unprivileged_userfaultfd (read-only /proc/sys?)"
	if [[ -e /dev/userfaultfd ]] && setpriv --reuid=nobody --regid=nogroup \
		--clear-groups test -r /dev/userfaultfd -a -w /dev/userfaultfd; then
		skip "/dev/userfaultfd is open to nobody here: userfaultfd is allowed"
	fi
	nobody_files
	start_master --size 1M
	for k in 1 2; do
		start_node "nobody$k" env -u DSM_FAULT DSM_LOG=info \
			LD_LIBRARY_PATH="$NOBODY_LIBDIR" setpriv --reuid=nobody \
			--regid=nogroup --clear-groups "$NOBODY_BIN" 127.0.0.1 \
			"$MASTER_PORT" 500 --wait-total 1000 --timeout $((60 * DSM_SLOW))
	done
	for k in 1 2; do
		wait_node "nobody$k" $((90 * DSM_SLOW))
		run -0 cat "$(log_of "nobody$k")"
		assert_line "counter: value 1000"
		assert_backend "$(log_of "nobody$k")" "userfaultfd: Operation not permitted"
	done
	# Forced, userfaultfd fails with a line that names the way out.
	start_node forced env DSM_FAULT=uffd LD_LIBRARY_PATH="$NOBODY_LIBDIR" \
		setpriv --reuid=nobody --regid=nogroup --clear-groups \
		"$NOBODY_BIN" 127.0.0.1 "$MASTER_PORT" 10
	wait_node forced $((10 * DSM_SLOW)) '!'
	run -0 cat "$(log_of forced)"
	assert_line --partial "dsm: error: userfaultfd: Operation not permitted"
	assert_line --partial "DSM_FAULT=sigsegv does without it"
}
