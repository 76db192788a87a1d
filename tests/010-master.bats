#!/usr/bin/env bats
# dsm-master on its own: command line, ready line, signals, and input that
# is not the protocol (garbage, truncated and oversized frames) - the master
# logs, stays up, and a real node still works afterwards.

load helpers

BATS_TEST_TIMEOUT=$((60 * DSM_SLOW))

master_bin() {
	[[ -x $DSM_BUILD/dsm-master ]] || fail "$DSM_BUILD/dsm-master is not built"
	echo "$DSM_BUILD/dsm-master"
}

# A counter node does a few increments against the running master.
assert_node_works() {
	local name=check counter
	counter=$(scenario counter)
	start_node "$name" "$counter" 127.0.0.1 "$MASTER_PORT" 10 --wait-total 10
	wait_node "$name"
	run -0 cat "$(log_of "$name")"
	assert_line "counter: value 10"
}

assert_master_alive() {
	_dsm_alive "$MASTER_PID" || fail "dsm-master (pid $MASTER_PID) died"
}

@test "dsm-master --help prints usage and exits 0" {
	run -0 timeout 10 "$(master_bin)" --help
	assert_output --partial --size
	assert_output --partial --port
}

@test "dsm-master --version prints the version and exits 0" {
	run -0 timeout 10 "$(master_bin)" --version
	assert_output --regexp 'dsm-master'
}

@test "dsm-master rejects bad arguments with exit status 2" {
	local bin args
	bin=$(master_bin)
	while IFS= read -r args; do
		# shellcheck disable=SC2086 # the words of each case
		run -2 timeout 10 "$bin" $args
		assert_line --regexp '^dsm-master: '
		refute_line --regexp '^dsm-master: listening on '
	done <<'EOF'
--bogus
--size 1M --port 0 --bogus
--size 1M --port 0 extra-argument
--size
--size 1M --port
--size abc --port 0
--size 12Q --port 0
--size -4096 --port 0
--size 0 --port 0
--size 1M --port 70000
--size 1M --port -1
--size 1M --port http
--size 1M --port 0 --log-level loud
EOF
}

@test "the ready line is one line: address, port and size" {
	start_master --size 1M
	run -0 cat "$MASTER_OUT"
	assert_equal "${#lines[@]}" 1
	assert_output --regexp '^dsm-master: listening on 127\.0\.0\.1:[0-9]+ size 1048576$'
	assert_equal "$MASTER_ADDR" 127.0.0.1
	((MASTER_PORT > 0 && MASTER_PORT < 65536))
	wait_port "$MASTER_PORT"
	assert_node_works
}

@test "--listen picks the address" {
	start_master --listen 127.0.0.2
	assert_equal "$MASTER_ADDR" 127.0.0.2
	run -0 ss -Hltn "sport = :$MASTER_PORT"
	assert_output --partial "127.0.0.2:$MASTER_PORT"
}

@test "size suffixes K, M, G and rounding up to whole pages" {
	local pg=$DSM_PAGE_SIZE i=0 spec want
	while read -r spec want; do
		i=$((i + 1))
		start_master_named "m$i" --size "$spec"
		assert_equal "$MASTER_SIZE" "$want"
		kill -TERM "$MASTER_PID"
		wait_pid "$MASTER_PID" 10 || fail "dsm-master --size $spec: exit status $? after SIGTERM"
	done <<EOF
4K 4096
64K 65536
1M 1048576
3M 3145728
1G 1073741824
$pg $pg
$((2 * pg)) $((2 * pg))
$((pg + 1)) $((2 * pg))
10000 $(((10000 + pg - 1) / pg * pg))
EOF
}

@test "SIGTERM and SIGINT stop the master with exit status 0" {
	local sig
	for sig in TERM INT; do
		start_master_named "m$sig"
		kill -"$sig" "$MASTER_PID"
		wait_pid "$MASTER_PID" 10 || fail "dsm-master exited with status $? on SIG$sig"
	done
}

@test "SIGTERM with nodes attached still exits 0 within 5 s" {
	local counter
	counter=$(scenario counter)
	start_master
	start_node holder "$counter" 127.0.0.1 "$MASTER_PORT" 0 --hold "$BATS_TEST_TMPDIR/held"
	wait_file "$BATS_TEST_TMPDIR/held"
	start_node waiter "$counter" 127.0.0.1 "$MASTER_PORT" 5
	wait_log waiter '^counter: attached'
	kill -TERM "$MASTER_PID"
	wait_pid "$MASTER_PID" 5 || fail "dsm-master exited with status $? after SIGTERM"
}

@test "a port already in use is an error" {
	start_master
	local first=$MASTER_PORT
	run timeout 10 "$(master_bin)" --size 1M --port "$first"
	assert_failure
	refute [ "$status" -eq 124 ]
	assert_line --regexp '^dsm-master: '
	refute_line --partial 'listening on'
}

@test "garbage bytes get ERROR and a disconnect; the master stays up" {
	start_master
	wire_open 127.0.0.1 "$MASTER_PORT"
	wire_send "$(printf 'GARBAGE GARBAGE GARBAGE GARBAGE\r\n\r\n' | od -An -v -tx1)"
	run -0 wire_recv 5
	assert_output "$(printf ERROR | od -An -v -tx1 | tr -d ' \n')"
	wire_wait_eof 5 || fail "the master did not close the connection"
	wire_close
	wait_for 5 "a log line from the master" grep -q '^dsm-master: ' "$MASTER_LOG"
	assert_master_alive
	assert_node_works
}

@test "an HTTP request and binary noise are refused the same way" {
	start_master
	wire_open 127.0.0.1 "$MASTER_PORT"
	wire_send "$(printf 'GET / HTTP/1.1\r\nHost: x\r\n\r\n' | od -An -v -tx1)"
	wire_wait_eof 5 || fail "the master did not close the connection"
	wire_close
	wire_open 127.0.0.1 "$MASTER_PORT"
	wire_send "$(head -c 4096 /dev/urandom | od -An -v -tx1)"
	wire_wait_eof 5 || fail "the master did not close the connection"
	wire_close
	assert_master_alive
	assert_node_works
}

@test "truncated frames and early disconnects do not hurt the master" {
	start_master
	# A header cut short, then the peer goes away.
	wire_open 127.0.0.1 "$MASTER_PORT"
	wire_send "$(wire_hdr 'JOIN?' 1 10 | cut -c1-14)"
	wire_close
	# A JOIN? announcing 10 payload bytes that sends 4 and goes away.
	wire_open 127.0.0.1 "$MASTER_PORT"
	wire_send "$(wire_hdr 'JOIN?' 1 10)00000001"
	wire_close
	# A good JOIN?, then a LOCKW cut in the middle of its payload.
	wire_open 127.0.0.1 "$MASTER_PORT"
	wire_send "$(wire_join)"
	run -0 wire_recv 5
	assert_output "$(printf 'JOIN!' | od -An -v -tx1 | tr -d ' \n')"
	wire_send "$(wire_hdr LOCKW 2 $((2 * DSM_ARCHI / 8)))$(wire_len 0)"
	wire_close
	# Connect and close without a byte.
	wire_open 127.0.0.1 "$MASTER_PORT"
	wire_close
	assert_master_alive
	assert_node_works
}

@test "an oversized frame length gets ERROR and a disconnect" {
	start_master
	wire_open 127.0.0.1 "$MASTER_PORT"
	wire_send "$(wire_join)"
	wire_frame
	assert_equal "${WIRE_FRAME:0:10}" "$(printf 'JOIN!' | od -An -v -tx1 | tr -d ' \n')"
	wire_send "$(wire_hdr LOCKW 2 $((0x7fffffff)))"
	wire_frame
	assert_equal "${WIRE_FRAME:0:10}" "$(printf ERROR | od -An -v -tx1 | tr -d ' \n')"
	wire_wait_eof 5 || fail "the master did not close the connection"
	wire_close
	assert_master_alive
	assert_node_works
}

@test "raw protocol: JOIN?, a refused lock, a lock, an unlock, DECO?" {
	local size=1048576 h len
	start_master --size "$size"
	wire_open 127.0.0.1 "$MASTER_PORT"
	wire_send "$(wire_join)"

	# JOIN! id 1: u32 node_id, u32 page_size, u64 base, L size.  (Reads
	# skip the master's PING? beats, which may come at any time.)
	wire_frame
	h=$WIRE_FRAME
	assert_equal "${h:0:26}" "$(wire_hdr 'JOIN!' 1 $((16 + DSM_ARCHI / 8)))"
	assert_equal "$((16#${h:34:8}))" "$DSM_PAGE_SIZE"
	assert_equal "${h:42:16}" 0000200000000000
	assert_equal "$((16#${h:58}))" "$size"

	# A lock outside the segment: ERROR id 2, code DSM_ERANGE (2); the
	# connection stays usable.
	wire_send "$(wire_hdr LOCKW 2 $((2 * DSM_ARCHI / 8)))$(wire_len "$size")$(wire_len 8)"
	wire_frame
	h=$WIRE_FRAME
	assert_equal "${h:0:18}" "$(wire_hdr ERROR 2 0 | cut -c1-18)"
	len=$((16#${h:18:8}))
	((len >= 4 && len <= 4 + 512))
	assert_equal "${WIRE_PAYLOAD:0:8}" 00000002

	# LOCKW id 3 granted, UNLOW id 4 (no modifications) completes.
	wire_send "$(wire_hdr LOCKW 3 $((2 * DSM_ARCHI / 8)))$(wire_len 0)$(wire_len 8)"
	wire_frame
	assert_equal "$WIRE_FRAME" "$(wire_hdr OKLOC 3 0)"
	wire_send "$(wire_hdr UNLOW 4 $((2 * DSM_ARCHI / 8)))$(wire_len 0)$(wire_len 8)"
	wire_frame
	assert_equal "$WIRE_FRAME" "$(wire_hdr OKUNL 4 0)"

	# DECO? id 5: DECO!, then the master closes.
	wire_send "$(wire_hdr 'DECO?' 5 0)"
	wire_frame
	assert_equal "$WIRE_FRAME" "$(wire_hdr 'DECO!' 5 0)"
	wire_wait_eof 5 || fail "the master did not close after DECO!"
	wire_close
	assert_master_alive
	assert_node_works
}

# A peer that asks for ~100 MiB of pages and never reads them: the master
# never holds more than its output cap (64 MiB + the segment) for it.
# Either it stops reading a connection whose answers do not leave and drops
# the peer once it has been silent for --timeout (it answers no PING?), or,
# when the requests were all read before that, it drops the peer as soon as
# the answers would exceed the cap; everyone else is served meanwhile.
@test "a node that never reads its pages: bounded output, others served, the peer dropped" {
	local lb=$((DSM_ARCHI / 8)) n count getpg req= rss
	count=$(((1048576 - 2 * lb) / DSM_PAGE_SIZE))
	start_master --size 1M --timeout 3
	wire_open 127.0.0.1 "$MASTER_PORT"
	wire_send "$(wire_join)"
	wire_frame
	getpg="$(wire_hdr GETPG 0 $((2 * lb + 1)))$(wire_len 0)$(wire_len "$count")00"
	for ((n = 0; n < 100; n++)); do
		req+=$getpg
	done
	wire_send "$req"
	assert_node_works
	wait_for $((20 * DSM_SLOW)) "the master to drop the peer" \
		grep -Eq 'lost without DECO\?: (silent for|its pending output would exceed)' "$MASTER_LOG"
	# Its peak resident size: the cap and the segment, not ~100 MiB.  (Not
	# under a sanitizer, whose shadow and quarantine of freed memory count
	# too: realloc there keeps the old buffer.)
	case ${DSM_BUILD##*/} in
	*-address* | *-thread*) ;;
	*)
		rss=$(awk '/^VmHWM:/ { print $2 }' "/proc/$MASTER_PID/status")
		((rss < 80 * 1024)) ||
			fail "the master held up to $rss kB for a peer that does not read"
		;;
	esac
	assert_master_alive
	wire_close
}

# A node that gives a contended exclusive lock back drops its copies of the
# range and says so (UNLOW with flag DSM_UNLO_DROPPED, docs/PROTOCOL.md): the
# master must not invalidate them at the next writer's release, and pushes
# them back with the node's next grant.  Unknown flags end the connection.
@test "raw protocol: UNLOW that drops its copies gets no INVAL and the page pushed back" {
	local lb=$((DSM_ARCHI / 8)) counter
	counter=$(scenario counter)
	start_master
	wire_open 127.0.0.1 "$MASTER_PORT"
	wire_send "$(wire_join)"
	wire_frame
	assert_equal "${WIRE_FRAME:0:10}" "$(printf 'JOIN!' | od -An -v -tx1 | tr -d ' \n')"

	# A copy of page 0 (GETPG id 2: PAGES id 2), the lock (no push: the
	# node has the page), and its release with the flag.
	wire_send "$(wire_hdr GETPG 2 $((2 * lb + 1)))$(wire_len 0)$(wire_len 1)00"
	wire_frame
	assert_equal "${WIRE_FRAME:0:26}" "$(wire_hdr PAGES 2 $((2 * lb + DSM_PAGE_SIZE)))"
	wire_send "$(wire_hdr LOCKW 3 $((2 * lb)))$(wire_len 0)$(wire_len 8)"
	wire_frame
	assert_equal "$WIRE_FRAME" "$(wire_hdr OKLOC 3 0)"
	wire_send "$(wire_hdr UNLOW 4 $((2 * lb + 1)))$(wire_len 0)$(wire_len 8)01"
	wire_frame
	assert_equal "$WIRE_FRAME" "$(wire_hdr OKUNL 4 0)"

	# Another node writes page 0 under the lock: 1 increment.
	start_node writer "$counter" 127.0.0.1 "$MASTER_PORT" 1
	wait_node writer

	# Our next grant: the page pushed first (no INVAL before it), with the
	# writer's increment in its first 8 bytes (little-endian), then OKLOC.
	wire_send "$(wire_hdr LOCKW 5 $((2 * lb)))$(wire_len 0)$(wire_len 8)"
	wire_frame
	assert_equal "${WIRE_FRAME:0:26}" "$(wire_hdr PAGES 5 $((2 * lb + DSM_PAGE_SIZE)))"
	assert_equal "${WIRE_PAYLOAD:0:$((4 * lb))}" "$(wire_len 0)$(wire_len 1)"
	assert_equal "${WIRE_PAYLOAD:$((4 * lb)):16}" 0100000000000000
	wire_frame
	assert_equal "$WIRE_FRAME" "$(wire_hdr OKLOC 5 0)"

	# Flags other than DSM_UNLO_DROPPED: ERROR DSM_EPROTO (6), then close.
	wire_send "$(wire_hdr UNLOW 6 $((2 * lb + 1)))$(wire_len 0)$(wire_len 8)02"
	wire_frame
	assert_equal "${WIRE_FRAME:0:10}" "$(printf 'ERROR' | od -An -v -tx1 | tr -d ' \n')"
	assert_equal "${WIRE_PAYLOAD:0:8}" 00000006
	wire_wait_eof 5 || fail "the master did not close after unknown UNLOW flags"
	wire_close
	assert_master_alive
	grep -q 'UNLOW 6 with unknown flags 0x02' "$MASTER_LOG" ||
		fail "no log line about the unknown flags: $(cat "$MASTER_LOG")"
}
