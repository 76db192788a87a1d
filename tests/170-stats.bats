#!/usr/bin/env bats
# Live statistics (README "Statistics", docs/PROTOCOL.md "Statistics"):
# dsm-stat's tables and JSON after false sharing and counter traffic, the
# falsely shared page named, a statistics client that is no node, the
# secret, dsm-master --stats-interval, and bad usage.

load helpers

BATS_TEST_TIMEOUT=$((180 * DSM_SLOW))

setup() {
	dsm_setup
	DSM_STAT=$DSM_BUILD/dsm-stat
	[[ -x $DSM_STAT ]] || fail "dsm-stat is not built ($DSM_STAT): run 'make check-tests'"
	FALSESHARE=$(scenario falseshare)
	COUNTER=$(scenario counter)
	P=$DSM_PAGE_SIZE
}

# joined N: dsm-stat says N nodes are joined now.
joined() {
	"$DSM_STAT" "127.0.0.1:$MASTER_PORT" | grep -q "^nodes: $1 joined"
}

# traffic ROUNDS: 3 falseshare writers (their bytes of page 0, a lock word
# in page 1) and 2 counter nodes (300 increments each of a counter in page
# 4), on the master started last; all must succeed.  Alone, a writer is
# done before the next one has started: a gate node holds the writers'
# lock word until all three are in, and is then killed (6 nodes in all,
# all departed at the end).
traffic() {
	local rounds=$1 r k
	start_node gate "$COUNTER" 127.0.0.1 "$MASTER_PORT" 1 --offset "$P" \
		--hold "$BATS_TEST_TMPDIR/gate.held"
	wait_file "$BATS_TEST_TMPDIR/gate.held"
	for r in 0 1 2; do
		start_node "rank$r" "$FALSESHARE" 127.0.0.1 "$MASTER_PORT" "$r" 3 --rounds "$rounds"
	done
	wait_for $((20 * DSM_SLOW)) "the writers to join" joined 4
	kill -TERM "$(pid_of gate)"
	wait_node gate 20 '!'
	for k in 1 2; do
		start_node "count$k" "$COUNTER" 127.0.0.1 "$MASTER_PORT" 300 \
			--offset $((4 * P)) --wait-total 600 --timeout $((120 * DSM_SLOW))
	done
	for r in 0 1 2; do
		wait_node "rank$r" $((150 * DSM_SLOW))
	done
	for k in 1 2; do
		wait_node "count$k" $((150 * DSM_SLOW))
	done
}

# hold NAME: a node that stays joined, holding a lock on page 8.
hold() {
	start_node "$1" "$COUNTER" 127.0.0.1 "$MASTER_PORT" 1 --offset $((8 * P)) \
		--hold "$BATS_TEST_TMPDIR/$1.held"
	wait_file "$BATS_TEST_TMPDIR/$1.held"
}

# json_check PY...: the JSON in $output parses, and every Python
# expression PY (on `d`, the document) is true; one python3 run for all
# (it is slow to start on a loaded machine).  Without python3, jq checks the
# syntax only; without either the assertion is skipped, saying so.
json_check() {
	if command -v python3 >/dev/null; then
		python3 -c 'import json, sys
d = json.load(sys.stdin)
bad = [e for e in sys.argv[1:] if not eval(e)]
sys.exit("JSON checks failed: " + "; ".join(bad) if bad else 0)' \
			"$@" <<<"$output"
	elif command -v jq >/dev/null; then
		jq -e . >/dev/null <<<"$output"
	else
		skip "neither python3 nor jq is installed to check the JSON"
	fi
}

# section_rows REGEX: the rows of a table of dsm-stat's output in
# $STAT_OUT (after the line matching REGEX, up to the next empty line),
# header excluded.
section_rows() {
	awk -v re="$1" '$0 ~ re { on = 1; next } on && /^$/ { exit }
		on && !/PAGE/ { print }' <<<"$STAT_OUT"
}

@test "dsm-stat: nodes, counters, and the falsely shared page first" {
	start_master --size 64K --log-level info
	traffic 150
	hold holder
	run -0 "$DSM_STAT" "127.0.0.1:$MASTER_PORT"
	STAT_OUT=$output
	assert_line --regexp "^master 127\.0\.0\.1:$MASTER_PORT: 65536-byte segment, 16 pages of $P bytes"
	# 6 nodes came and went, the holder is still there; dsm-stat itself
	# is not a node.
	assert_line "nodes: 1 joined, 6 departed"
	assert_line --regexp "^[0-9]+ +127\.0\.0\.1:[0-9]+ +[0-9]"
	# Totals: pages, invalidations, diff bytes, lock requests, waits,
	# wait ms, releases, all non-zero (the counters waited for each other).
	assert_line --regexp '^total \(7 nodes\) +[1-9][0-9]* +[1-9][0-9]* +[1-9][0-9]* +[1-9][0-9]* +[1-9][0-9]* +[0-9.]+ +[1-9][0-9]*$'
	# Page 0 is written by all three writers at once: falsely shared, and
	# first.  Page 4 (the counter, one writer at a time under its lock)
	# is hot, but not falsely shared.
	run -0 section_rows '^falsely shared pages'
	assert_line --index 0 --regexp "^  0 +0x0 +[1-9][0-9]* +[1-9][0-9]* +3 +[1-9][0-9]* +[1-9][0-9]*$"
	refute_line --regexp "^  4 +0x$(printf %x $((4 * P))) "
	run -0 section_rows '^hot pages'
	assert_line --regexp "^  4 +0x$(printf %x $((4 * P))) +[1-9]"
	assert_line --regexp "^  0 +0x0 +[1-9]"
	# Asking again changes nothing about the nodes: no client is counted.
	run -0 "$DSM_STAT" "127.0.0.1:$MASTER_PORT"
	assert_line "nodes: 1 joined, 6 departed"
	run -0 grep -c 'joined from' "$MASTER_LOG"
	assert_output 7
}

@test "dsm-stat --json: parses, same facts" {
	start_master --size 64K
	traffic 100
	hold holder
	run -0 "$DSM_STAT" --json --top 3 "127.0.0.1:$MASTER_PORT"
	json_check 'd["nodes_joined"] == 1 and d["nodes_departed"] == 6 and len(d["nodes"]) == 1' \
		'all(d["totals"][k] > 0 for k in ("pages_served", "invalidations", "diff_bytes", "lock_requests", "lock_waits", "releases"))' \
		'd["totals"]["lock_requests"] == d["departed"]["lock_requests"] + d["nodes"][0]["lock_requests"]' \
		'd["false_sharing"][0]["page"] == 0 and d["false_sharing"][0]["offset"] == 0 and d["false_sharing"][0]["writers"] == 3' \
		'all(p["page"] != 4 for p in d["false_sharing"])' \
		'len(d["hot_pages"]) <= 3 and d["page_size"] == '"$P"
	# --top 0: no page lists, still valid JSON.
	run -0 "$DSM_STAT" "127.0.0.1:$MASTER_PORT" --json --top 0
	json_check 'd["hot_pages"] == [] and d["false_sharing"] == []'
}

# Locks of process-shared pthread mutexes (OBJOP, through the preload
# library) count like LOCKR/LOCKW: 2 processes x 2 threads x 200 increments
# under one mutex are 800 lock requests at least (plus the program's own
# set-up locks), and two threads of a process contend, so some waited.
@test "dsm-stat: mutex locks of an unmodified program are lock requests, with their waits" {
	require_shim
	local shm k
	dsm_shm_name shm stats
	start_master --size 16M
	for k in 0 1; do
		start_node "node$k" env LD_PRELOAD="$DSM_PRELOAD_LIB" \
			DSM_MASTER="127.0.0.1:$MASTER_PORT" DSM_RANK=$k DSM_NODES=2 \
			"$(unmodified counter)" -s "$shm" -t $((60 * DSM_SLOW)) 200 2
	done
	for k in 0 1; do
		wait_node "node$k" $((90 * DSM_SLOW))
		run -0 cat "$(log_of "node$k")"
		assert_line --regexp '^counter: result total 800 expected 800$'
	done
	run -0 "$DSM_STAT" --json "127.0.0.1:$MASTER_PORT"
	json_check 'd["nodes_departed"] == 2' \
		'd["totals"]["lock_requests"] >= 800' \
		'0 < d["totals"]["lock_waits"] <= d["totals"]["lock_requests"]' \
		'd["totals"]["lock_wait_us"] > 0'
}

@test "a statistics client is not a node: monitor join, frames it may send" {
	start_master --size 64K
	# JOIN? with flag DSM_JOIN_MONITOR: JOIN! with node id 0.
	wire_open 127.0.0.1 "$MASTER_PORT"
	wire_send "$(wire_hdr 'JOIN?' 1 10)$(printf '%08x%02x01%08x' "$DSM_PROTO_VERSION" $((DSM_ARCHI / 8)) "$DSM_PAGE_SIZE")"
	wire_frame
	assert_equal "${WIRE_FRAME:0:10}" "$(printf 'JOIN!' | od -An -tx1 | tr -d ' \n')"
	assert_equal "${WIRE_PAYLOAD:0:8}" 00000000
	# STAT? (top 2) is answered with STAT! (format 1).
	wire_send "$(wire_hdr 'STAT?' 7 4)00000002"
	wire_frame
	assert_equal "${WIRE_FRAME:0:26}" "$(wire_hdr 'STAT!' 7 $((${#WIRE_PAYLOAD} / 2)))"
	assert_equal "${WIRE_PAYLOAD:0:8}" 00000001
	# A lock request is not something it may send: refused, closed.
	wire_send "$(wire_hdr LOCKW 8 $((2 * DSM_ARCHI / 8)))$(wire_len 0)$(wire_len 8)"
	wire_frame
	assert_equal "${WIRE_FRAME:0:10}" "$(printf 'ERROR' | od -An -tx1 | tr -d ' \n')"
	wire_wait_eof
	wire_close
	wait_log master 'LOCKW is not a frame a statistics client may send'
	# Unknown JOIN? flags are refused.
	wire_open 127.0.0.1 "$MASTER_PORT"
	wire_send "$(wire_hdr 'JOIN?' 1 10)$(printf '%08x%02x02%08x' "$DSM_PROTO_VERSION" $((DSM_ARCHI / 8)) "$DSM_PAGE_SIZE")"
	wire_frame
	assert_equal "${WIRE_FRAME:0:10}" "$(printf 'ERROR' | od -An -tx1 | tr -d ' \n')"
	wire_close
	wait_log master 'unknown JOIN\? flags 0x02'
	# None of this counts as a node.
	run -0 "$DSM_STAT" "127.0.0.1:$MASTER_PORT"
	assert_line "nodes: 0 joined, 0 departed"
}

@test "with a secret: refused clearly without it, works with it" {
	local secret other
	dsm_secret_file secret
	dsm_secret_file other
	start_master --size 64K --secret-file "$secret"
	run -1 env -u DSM_SECRET_FILE "$DSM_STAT" "127.0.0.1:$MASTER_PORT"
	assert_output --partial "requires authentication: give dsm-stat its secret with DSM_SECRET_FILE=FILE"
	wait_log master 'has no secret'
	run -1 env DSM_SECRET_FILE="$other" "$DSM_STAT" "127.0.0.1:$MASTER_PORT"
	assert_output --partial "does not know this secret"
	DSM_SECRET_FILE=$secret start_node node "$COUNTER" 127.0.0.1 "$MASTER_PORT" 20
	wait_node node
	run -0 env DSM_SECRET_FILE="$secret" "$DSM_STAT" "127.0.0.1:$MASTER_PORT"
	assert_line "nodes: 0 joined, 1 departed"
	# A client with a secret refuses a master that does not ask for it.
	start_master_named open --size 64K
	run -1 env DSM_SECRET_FILE="$secret" "$DSM_STAT" "127.0.0.1:$OPEN_PORT"
	assert_output --partial "admitted dsm-stat without asking for the secret"
}

@test "dsm-master --stats-interval 1 logs a summary line, whatever the log level" {
	start_master --size 64K --stats-interval 1
	start_node node "$COUNTER" 127.0.0.1 "$MASTER_PORT" 50
	wait_node node
	wait_log master '^dsm-master: stats: nodes 0 joined, 1 departed; pages served [1-9][0-9]*, .*lock requests [1-9]' $((5 * DSM_SLOW))
}

@test "bad usage: exit 2 with a message" {
	run -2 "$DSM_STAT"
	assert_output --partial "the master's HOST:PORT is required"
	run -2 "$DSM_STAT" localhost
	assert_output --partial "expected HOST:PORT"
	run -2 "$DSM_STAT" 127.0.0.1:0
	assert_output --partial "the port must be 1 to 65535"
	run -2 "$DSM_STAT" 127.0.0.1:7000 --top x
	assert_output --partial "--top 'x': expected 0 to 1000"
	run -2 "$DSM_STAT" 127.0.0.1:7000 --bogus
	assert_output --partial "unknown or incomplete option '--bogus'"
	run -2 "$DSM_STAT" 127.0.0.1:7000 extra
	assert_output --partial "unexpected argument 'extra'"
	run -0 "$DSM_STAT" --help
	assert_line --partial "usage: dsm-stat HOST:PORT"
	run -2 "$DSM_BUILD/dsm-master" --size 64K --port 0 --stats-interval 0
	assert_output --partial "--stats-interval '0': expected 1 to 86400 seconds"
	# Nothing listens: exit 1, saying so.
	start_master --size 64K
	local port=$MASTER_PORT
	kill -TERM "$MASTER_PID"
	wait_pid "$MASTER_PID"
	run -1 "$DSM_STAT" "127.0.0.1:$port"
	assert_output --partial "connect to 127.0.0.1:$port"
}
