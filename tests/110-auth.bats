#!/usr/bin/env bats
# Authentication (docs/SECURITY.md, docs/PROTOCOL.md "Authentication"):
# mutual HMAC-SHA256 challenge-response at join with --secret-file /
# DSM_SECRET_FILE, the refusals on every side, protected mode, and the
# checks on the secret file.

load helpers

BATS_TEST_TIMEOUT=$((120 * DSM_SLOW))

setup() {
	dsm_setup
	COUNTER=$(scenario counter)
	dsm_secret_file SECRET
}

counter_value() { # NAME -> the value it printed last
	local line
	line=$(grep '^counter: value ' "$(log_of "$1")" | tail -n1)
	echo "${line#counter: value }"
}

# Hex of a JOIN? with a nonce (42-byte payload) for the build under test.
wire_join_nonce() {
	wire_hdr 'JOIN?' 1 42
	printf '%08x%02x00%08x' "$DSM_PROTO_VERSION" $((DSM_ARCHI / 8)) "$DSM_PAGE_SIZE"
	head -c 32 /dev/urandom | od -An -v -tx1 | tr -d ' \n'
}

@test "nodes holding the secret join a master that has it: 3 x 1000 = 3000" {
	start_master --secret-file "$SECRET" --log-level info
	local k
	for k in 1 2 3; do
		DSM_SECRET_FILE=$SECRET start_node "node$k" "$COUNTER" 127.0.0.1 \
			"$MASTER_PORT" 1000 --wait-total 3000 --timeout $((100 * DSM_SLOW))
	done
	for k in 1 2 3; do
		wait_node "node$k" $((110 * DSM_SLOW))
		assert_equal "$(counter_value "node$k")" 3000
	done
	run -0 grep -c 'joined from .* (authenticated)' "$MASTER_LOG"
	assert_output 3
	# The secret itself never travels: it is not in anything logged.
	run -1 grep -qF "$(cat "$SECRET")" "$MASTER_LOG" "$MASTER_OUT" \
		"$(log_of node1)"
}

@test "a node with another secret is refused, and refuses the master" {
	local other
	dsm_secret_file other
	start_master --secret-file "$SECRET"
	DSM_SECRET_FILE=$other start_node intruder "$COUNTER" 127.0.0.1 "$MASTER_PORT" 10
	wait_node intruder 20 1
	run -0 cat "$(log_of intruder)"
	assert_output --partial "does not know this node's secret"
	assert_line 'counter: init_slave: authentication failed or missing (-10)'
	# The master is fine and still admits the right node.
	DSM_SECRET_FILE=$SECRET start_node good "$COUNTER" 127.0.0.1 "$MASTER_PORT" 5
	wait_node good 20
	assert_equal "$(counter_value good)" 5
}

@test "a node without a secret is told the master requires one" {
	start_master --secret-file "$SECRET"
	env -u DSM_SECRET_FILE "$COUNTER" 127.0.0.1 "$MASTER_PORT" 1 \
		>"$BATS_TEST_TMPDIR/out" 2>&1 </dev/null 3>&- && fail "the node got in"
	run -0 cat "$BATS_TEST_TMPDIR/out"
	assert_output --partial "requires authentication: give this node its secret with DSM_SECRET_FILE"
	wait_log master 'has no secret'
}

@test "a node with a secret refuses a master that does not ask for it" {
	start_master
	DSM_SECRET_FILE=$SECRET start_node node "$COUNTER" 127.0.0.1 "$MASTER_PORT" 1
	wait_node node 20 1
	run -0 cat "$(log_of node)"
	assert_output --partial "admitted this node without asking for the secret"
}

@test "raw protocol: no nonce, a wrong proof, another frame instead of AUTH!" {
	start_master --secret-file "$SECRET"
	local hdr reply

	# JOIN? without the nonce: ERROR DSM_EAUTH (10), then the close.
	wire_open 127.0.0.1 "$MASTER_PORT"
	wire_send "$(wire_join)"
	reply=$(wire_recv 17)
	assert_equal "${reply:0:10}" "$(printf 'ERROR' | od -An -tx1 | tr -d ' \n')"
	assert_equal "${reply:26:8}" 0000000a
	wire_wait_eof
	wire_close

	# With a nonce: AUTH? (64 bytes: nonce and proof); a zero proof back.
	wire_open 127.0.0.1 "$MASTER_PORT"
	wire_send "$(wire_join_nonce)"
	hdr=$(wire_recv 77)
	assert_equal "${hdr:0:26}" "$(wire_hdr 'AUTH?' 1 64)"
	wire_send "$(wire_hdr 'AUTH!' 1 32)$(printf '%064d' 0)"
	reply=$(wire_recv 17)
	assert_equal "${reply:26:8}" 0000000a
	wire_wait_eof
	wire_close
	wait_log master 'wrong proof of the secret'

	# Anything but AUTH! after AUTH?: a protocol error and the close.
	wire_open 127.0.0.1 "$MASTER_PORT"
	wire_send "$(wire_join_nonce)"
	hdr=$(wire_recv 77)
	wire_send "$(wire_hdr 'LOCKW' 2 $((2 * DSM_ARCHI / 8)))$(wire_len 0)$(wire_len 4096)"
	wire_wait_eof
	wire_close
	wait_log master 'LOCKW instead of AUTH!'
	_dsm_alive "$MASTER_PID" || fail "the master died"
}

@test "protected mode: no other address than loopback without a secret" {
	run -1 "$DSM_BUILD/dsm-master" --size 1M --port 0 --listen 0.0.0.0
	assert_output --partial "refusing to listen on 0.0.0.0 without a secret"
	assert_output --partial "--secret-file FILE"
	assert_output --partial "--insecure"
	start_master_named open --listen 0.0.0.0 --insecure
	run -0 cat "$OPEN_LOG"
	assert_output --partial "without a secret (--insecure)"
	start_master_named guarded --listen 0.0.0.0 --secret-file "$SECRET"
	# Loopback without a secret stays the default.
	start_master_named plain
	assert_equal "$MASTER_ADDR" 127.0.0.1
}

@test "secret files that are too open, too short or missing are refused" {
	chmod 644 "$SECRET"
	run -1 "$DSM_BUILD/dsm-master" --size 1M --port 0 --secret-file "$SECRET"
	assert_output --partial "permissions 0644 for secret file $SECRET are too open"
	assert_output --partial "chmod 600 $SECRET"
	chmod 600 "$SECRET"

	printf 'short\n' >"$BATS_TEST_TMPDIR/short"
	chmod 600 "$BATS_TEST_TMPDIR/short"
	run -1 "$DSM_BUILD/dsm-master" --size 1M --port 0 --secret-file "$BATS_TEST_TMPDIR/short"
	assert_output --partial "holds 5 byte(s), at least 16 are needed"

	run -1 "$DSM_BUILD/dsm-master" --size 1M --port 0 --secret-file "$BATS_TEST_TMPDIR/none"
	assert_output --partial "cannot open secret file $BATS_TEST_TMPDIR/none"

	# A node's unusable secret is its own clear error, before connecting.
	start_master --secret-file "$SECRET"
	chmod 640 "$SECRET"
	DSM_SECRET_FILE=$SECRET start_node node "$COUNTER" 127.0.0.1 "$MASTER_PORT" 1
	wait_node node 20 1
	run -0 cat "$(log_of node)"
	assert_output --partial "too open"
}

@test "init_master reads DSM_SECRET_FILE too: the library master and its nodes" {
	local apimaster
	apimaster=$(scenario api/apimaster)
	DSM_SECRET_FILE=$SECRET start_node apimaster "$apimaster" 500 2 "$COUNTER"
	wait_node apimaster $((60 * DSM_SLOW))
	run -0 cat "$(log_of apimaster)"
	assert_output --partial 'apimaster: total 1500 (expected 1500) OK'
}
