# helpers.bash - shared by every tests/*.bats file (`load helpers`).
#
# Environment:
#   DSM_BUILD   absolute build folder to test (default <repo>/build): its
#               dsm-master, libdsm.so, tests/ and scenarios/<name>/<name>
#   DSM_BATS_LIB  folder holding bats-support/ and bats-assert/ (tests/run
#               sets it; otherwise the usual places are searched)
#   DSM_SLOW    factor for every timeout (default 1; 3 for sanitizer builds)
#   DSM_NODE_BUILD  absolute build folder of the node side (scenarios/,
#               libdsm_preload.so) when it is not DSM_BUILD: a ThreadSanitizer
#               dsm-master is tested with nodes of a normal build, since TSan
#               cannot map the segment at its fixed base (default DSM_BUILD)
#
# Rules the helpers implement (STYLE.md, "Tests"):
#   - every process is started in the background with `3>&-` (bats' fd 3
#     would otherwise keep the test open), its pid and log in
#     $BATS_TEST_TMPDIR, and teardown stops it: TERM, KILL after a timeout,
#     then wait;
#   - no sleep as synchronisation: waits poll for a line, a file, a port or an
#     exit, always with a timeout;
#   - a failed test prints the logs of everything it started.
# Start processes from the test body or setup, never inside `run` or $(...):
# a subshell's children cannot be waited for or stopped by the test.

bats_require_minimum_version 1.5.0

DSM_ROOT=$(cd "$BATS_TEST_DIRNAME/.." && pwd)
: "${DSM_BUILD:=$DSM_ROOT/build}"
export DSM_ROOT DSM_BUILD
: "${DSM_NODE_BUILD:=$DSM_BUILD}"
export DSM_NODE_BUILD
SCENARIOS=$DSM_NODE_BUILD/scenarios

# Sanitizer builds run several times slower: scale the timeouts.
if [[ -z ${DSM_SLOW-} ]]; then
	case ${DSM_BUILD##*/} in
	*-address* | *-thread* | *-undefined*) DSM_SLOW=3 ;;
	*) DSM_SLOW=1 ;;
	esac
fi
export DSM_SLOW

# Width of "L" integers on the wire in the build under test.
case ${DSM_BUILD##*/} in
*archi32*) DSM_ARCHI=32 ;;
*) DSM_ARCHI=64 ;;
esac
export DSM_ARCHI
DSM_PAGE_SIZE=$(getconf PAGESIZE)
# Protocol version of the tree under test (the JOIN? frames of raw tests).
DSM_PROTO_VERSION=$(sed -n 's/^#define DSM_PROTO_VERSION \([0-9]*\)u$/\1/p' \
	"$DSM_ROOT/include/dsm_wire.h")

dsm_bats_lib() {
	local d
	for d in "${DSM_BATS_LIB-}" /usr/lib/bats /usr/local/lib/bats \
		/usr/share/bats "$DSM_ROOT/tests/.tools/node_modules"; do
		if [[ -n $d && -f $d/bats-support/load.bash &&
			-f $d/bats-assert/load.bash ]]; then
			printf '%s\n' "$d"
			return 0
		fi
	done
	return 1
}

if ! _dsm_lib=$(dsm_bats_lib); then
	echo "helpers.bash: bats-support and bats-assert not found;" \
		"tests/run installs them" >&2
	return 1
fi
load "$_dsm_lib/bats-support/load"
load "$_dsm_lib/bats-assert/load"
unset _dsm_lib

setup() { dsm_setup; }
teardown() { dsm_teardown; }
teardown_file() { dsm_teardown_file; }

dsm_setup() {
	DSM_PROCS=$BATS_TEST_TMPDIR/.procs
	DSM_CLEANUPS=()
	: >"$DSM_PROCS"
	export DSM_LOG=${DSM_LOG:-warn}
}

# Run "$@" (a command, as words) in teardown, after the processes are gone,
# even when the test failed.  Later registrations run first.
dsm_on_teardown() {
	DSM_CLEANUPS+=("$(printf '%q ' "$@")")
}

dsm_teardown() {
	local pid name log i
	local -a pids=() names=() logs=()

	if [[ -f ${DSM_PROCS-} ]]; then
		while IFS=$'\t' read -r pid name log; do
			pids+=("$pid")
			names+=("$name")
			logs+=("$log")
		done <"$DSM_PROCS"
	fi
	for pid in "${pids[@]}"; do
		if _dsm_alive "$pid"; then
			kill -TERM "$pid" 2>/dev/null || true
		fi
	done
	_dsm_deadline 5
	for i in "${!pids[@]}"; do
		while _dsm_alive "${pids[i]}" && ! _dsm_expired; do
			sleep 0.05
		done
		if _dsm_alive "${pids[i]}"; then
			echo "teardown: ${names[i]} (pid ${pids[i]}) ignored SIGTERM; SIGKILL" >&2
			kill -KILL "${pids[i]}" 2>/dev/null || true
		fi
	done
	for pid in "${pids[@]}"; do
		wait "$pid" 2>/dev/null || true
	done

	for ((i = ${#DSM_CLEANUPS[@]} - 1; i >= 0; i--)); do
		eval "${DSM_CLEANUPS[i]}" || true
	done
	DSM_CLEANUPS=()

	if [[ -z ${BATS_TEST_COMPLETED-} ]]; then
		for i in "${!pids[@]}"; do
			for log in ${logs[i]}; do
				echo "----- ${names[i]} (pid ${pids[i]}): $log" >&2
				tail -n 100 "$log" >&2 2>/dev/null || true
			done
		done
		[[ ${#pids[@]} -eq 0 ]] || echo "----- end of logs" >&2
	fi
	return 0
}

# Safety net for processes a test left behind when bats itself aborted it:
# every process a test of this file started that is still the same process
# (same pid and start time).
dsm_teardown_file() {
	local pid name log start
	[[ -f $BATS_FILE_TMPDIR/.procs-all ]] || return 0
	while IFS=$'\t' read -r pid name log start; do
		[[ -n $start && $(_dsm_starttime "$pid") == "$start" ]] || continue
		kill -KILL "$pid" 2>/dev/null || true
	done <"$BATS_FILE_TMPDIR/.procs-all"
	return 0
}

_dsm_track() { # pid name "logs..."
	printf '%s\t%s\t%s\n' "$1" "$2" "$3" >>"$DSM_PROCS"
	printf '%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "$(_dsm_starttime "$1")" \
		>>"$BATS_FILE_TMPDIR/.procs-all"
}

# Start time of process $1 (field 22 of /proc/PID/stat), empty if gone.
_dsm_starttime() {
	local stat
	{ read -r stat <"/proc/$1/stat"; } 2>/dev/null || return 0
	stat=${stat##*) }
	read -ra stat <<<"$stat"
	printf '%s' "${stat[19]}"
}

# True while process $1 exists and is not a zombie.
_dsm_alive() {
	local stat
	{ read -r stat <"/proc/$1/stat"; } 2>/dev/null || return 1
	stat=${stat##*) }
	[[ ${stat%% *} != Z ]]
}

# Deadline handling with sub-second resolution: _dsm_deadline SECONDS starts
# one (integer or decimal seconds), _dsm_expired tells whether it passed.
_dsm_now_ms() {
	local t=${EPOCHREALTIME/[.,]/}
	_DSM_NOW_MS=$((10#$t / 1000))
}
_dsm_deadline() {
	local s=$1 ms
	if [[ $s == *.* ]]; then
		ms=$((10#${s%.*} * 1000 + 10#$(printf '%-3.3s' "${s#*.}" | tr ' ' 0)))
	else
		ms=$((s * 1000))
	fi
	_dsm_now_ms
	_DSM_DEADLINE_MS=$((_DSM_NOW_MS + ms))
}
_dsm_expired() {
	_dsm_now_ms
	((_DSM_NOW_MS >= _DSM_DEADLINE_MS))
}

# wait_for TIMEOUT DESCRIPTION CMD...: poll CMD until it succeeds; fail
# (return 1, with DESCRIPTION on stderr) after TIMEOUT seconds.
wait_for() {
	local timeout=$1 what=$2
	shift 2
	_dsm_deadline "$timeout"
	until "$@"; do
		if _dsm_expired; then
			echo "timed out after ${timeout}s waiting for $what" >&2
			return 1
		fi
		sleep 0.05
	done
}

# wait_file FILE [TIMEOUT]: until FILE exists.
wait_file() {
	wait_for "${2:-$((10 * DSM_SLOW))}" "file $1" test -e "$1"
}

# wait_log NAME REGEX [TIMEOUT]: until the log of process NAME has a line
# matching the extended REGEX.  Fails at once if the process exited without
# writing it.
wait_log() {
	local name=$1 re=$2 timeout=${3:-$((10 * DSM_SLOW))} pid log
	pid=$(pid_of "$name") && log=$(log_of "$name") || return 1
	_dsm_deadline "$timeout"
	# $log may be two files (a master's stdout and stderr): unquoted.
	# shellcheck disable=SC2086
	while ! grep -Eq -- "$re" $log 2>/dev/null; do
		if ! _dsm_alive "$pid"; then
			# shellcheck disable=SC2086
			grep -Eq -- "$re" $log 2>/dev/null && return 0
			echo "$name exited before logging /$re/" >&2
			return 1
		fi
		if _dsm_expired; then
			echo "timed out after ${timeout}s waiting for /$re/ in $name's log" >&2
			return 1
		fi
		sleep 0.05
	done
}

# wait_port PORT [TIMEOUT] [NETNS]: until something listens on TCP PORT.
wait_port() {
	local ns=()
	[[ -z ${3-} ]] || ns=(ip netns exec "$3")
	wait_for "${2:-$((10 * DSM_SLOW))}" "a listener on port $1" \
		_dsm_listening "$1" "${ns[@]}"
}
_dsm_listening() {
	local port=$1
	shift
	[[ -n $("$@" ss -Hltn "sport = :$port" 2>/dev/null) ]]
}

# wait_pid PID [TIMEOUT]: wait (polling, bounded) for PID, a child of the
# test shell, to exit; returns its exit status, or 124 with a message if it
# is still running after TIMEOUT seconds (it is left running for teardown).
wait_pid() {
	local pid=$1 timeout=${2:-$((10 * DSM_SLOW))} rc=0
	_dsm_deadline "$timeout"
	while _dsm_alive "$pid"; do
		if _dsm_expired; then
			echo "wait_pid: process $pid still running after ${timeout}s" >&2
			return 124
		fi
		sleep 0.02
	done
	wait "$pid" 2>/dev/null || rc=$?
	return "$rc"
}

# start_node NAME CMD...: run CMD in the background, stdout and stderr to
# $BATS_TEST_TMPDIR/NAME.log.  Sets NODE_PID; see pid_of, log_of.
start_node() {
	local name=$1 log
	shift
	if [[ -z $name || $name == */* ]] || pid_of "$name" >/dev/null 2>&1; then
		echo "start_node: bad or duplicate name '$name'" >&2
		return 1
	fi
	log=$BATS_TEST_TMPDIR/$name.log
	"$@" >"$log" 2>&1 </dev/null 3>&- &
	NODE_PID=$!
	_dsm_track "$NODE_PID" "$name" "$log"
}

pid_of() {
	local pid name log
	while IFS=$'\t' read -r pid name log; do
		[[ $name == "$1" ]] && { echo "$pid"; return 0; }
	done <"$DSM_PROCS"
	echo "no process named '$1'" >&2
	return 1
}

log_of() {
	local pid name log
	while IFS=$'\t' read -r pid name log; do
		[[ $name == "$1" ]] && { echo "$log"; return 0; }
	done <"$DSM_PROCS"
	echo "no process named '$1'" >&2
	return 1
}

# wait_node NAME [TIMEOUT] [STATUS]: wait for process NAME to exit and check
# its exit status: STATUS (default 0), or `!` for any non-zero status.  On a
# mismatch or a timeout the test fails and shows the log.  Sets NODE_STATUS.
wait_node() {
	local name=$1 timeout=${2:-$((30 * DSM_SLOW))} want=${3:-0} pid
	pid=$(pid_of "$name") || return 1
	NODE_STATUS=0
	wait_pid "$pid" "$timeout" || NODE_STATUS=$?
	if [[ $NODE_STATUS == 124 ]] && _dsm_alive "$pid"; then
		echo "$name (pid $pid) did not exit within ${timeout}s" >&2
		return 1
	fi
	if [[ $want == '!' && $NODE_STATUS != 0 ]] || [[ $want == "$NODE_STATUS" ]]; then
		return 0
	fi
	echo "$name exited with status $NODE_STATUS, expected $want; its log:" >&2
	local f
	for f in $(log_of "$name"); do
		sed 's/^/  | /' "$f" >&2
	done
	return 1
}

# start_master [ARGS...]: start dsm-master (default --size 1M --port 0), wait
# up to 10 s for its ready line and export MASTER_PID, MASTER_ADDR,
# MASTER_PORT, MASTER_SIZE, MASTER_OUT (stdout), MASTER_LOG (stderr).  With
# MASTER_NETNS set, it runs in that network namespace.
start_master() {
	start_master_named master "$@"
}

# start_master_named NAME [ARGS...]: the same for a second master: exports
# NAME_PID, ... in upper case as well as MASTER_* (of the last one started).
start_master_named() {
	local name=$1 a has_size='' has_port='' out log wrap=() line re
	shift
	for a in "$@"; do
		case $a in
		--size | --size=*) has_size=1 ;;
		--port | --port=*) has_port=1 ;;
		esac
	done
	local args=("$@")
	[[ -n $has_size ]] || args=(--size 1M "${args[@]}")
	[[ -n $has_port ]] || args=(--port 0 "${args[@]}")
	[[ -z ${MASTER_NETNS-} ]] || wrap=(ip netns exec "$MASTER_NETNS")
	if [[ ! -x $DSM_BUILD/dsm-master ]]; then
		echo "start_master: $DSM_BUILD/dsm-master is missing: run 'make check-tests'" >&2
		return 1
	fi

	out=$BATS_TEST_TMPDIR/$name.out
	log=$BATS_TEST_TMPDIR/$name.log
	"${wrap[@]}" "$DSM_BUILD/dsm-master" "${args[@]}" >"$out" 2>"$log" </dev/null 3>&- &
	MASTER_PID=$!
	_dsm_track "$MASTER_PID" "$name" "$out $log"

	re='^dsm-master: listening on (.+):([0-9]+) size ([0-9]+)$'
	_dsm_deadline $((10 * DSM_SLOW))
	while :; do
		line=$(grep -m1 '^dsm-master: listening on ' "$out" 2>/dev/null || true)
		[[ -z $line ]] || break
		if ! _dsm_alive "$MASTER_PID"; then
			echo "start_master: dsm-master exited before it was ready:" >&2
			cat "$out" "$log" >&2
			return 1
		fi
		if _dsm_expired; then
			echo "start_master: no ready line from dsm-master after $((10 * DSM_SLOW))s" >&2
			cat "$out" "$log" >&2
			return 1
		fi
		sleep 0.02
	done
	if [[ ! $line =~ $re ]]; then
		echo "start_master: unexpected ready line: '$line'" >&2
		return 1
	fi
	MASTER_ADDR=${BASH_REMATCH[1]}
	MASTER_PORT=${BASH_REMATCH[2]}
	MASTER_SIZE=${BASH_REMATCH[3]}
	MASTER_OUT=$out
	MASTER_LOG=$log
	export MASTER_PID MASTER_ADDR MASTER_PORT MASTER_SIZE MASTER_OUT MASTER_LOG
	local up=${name^^}
	up=${up//[^A-Z0-9_]/_}
	printf -v "${up}_PID" %s "$MASTER_PID"
	printf -v "${up}_ADDR" %s "$MASTER_ADDR"
	printf -v "${up}_PORT" %s "$MASTER_PORT"
	printf -v "${up}_LOG" %s "$MASTER_LOG"
}

# Path of a scenario program of the build under test; fails if not built.
# `scenario NAME` is folder NAME's program NAME; `scenario DIR/PROG` names a
# program of a folder that builds several.
scenario() {
	local p=$SCENARIOS/$1/$1
	[[ $1 == */* ]] && p=$SCENARIOS/$1
	if [[ ! -x $p ]]; then
		echo "scenario $1 is not built ($p): run 'make check-tests'" >&2
		return 1
	fi
	echo "$p"
}

# dsm_secret_file VAR: write a fresh secret (32 random bytes, base64) to a
# new file of this test, mode 600, and store its path in VAR.
dsm_secret_file() {
	local -n _path=$1
	_path=$(mktemp "$BATS_TEST_TMPDIR/secret.XXXXXX")
	head -c 32 /dev/urandom | base64 >"$_path"
	chmod 600 "$_path"
}

# Raw protocol access with bash's /dev/tcp, for malformed-input tests.
# wire_open HOST PORT: opens a connection on fd $WIRE_FD.
wire_open() {
	exec {WIRE_FD}<>"/dev/tcp/$1/$2"
}
wire_close() {
	[[ -z ${WIRE_FD-} ]] || exec {WIRE_FD}>&-
	WIRE_FD=
}
# wire_send HEX: send the bytes written as hex digits (white space allowed,
# so `od -An -tx1` output works).  Sending to a peer that already closed is
# not an error here.
wire_send() {
	local hex=${1//[[:space:]]/}
	[[ $hex =~ ^([0-9a-fA-F]{2})*$ ]] || { echo "wire_send: bad hex '$hex'" >&2; return 1; }
	# In a subshell that ignores SIGPIPE: writing to a peer that reset the
	# connection must not kill the test.
	# shellcheck disable=SC2001,SC2059 # the format is only \xNN escapes
	(
		trap '' PIPE
		printf "$(sed 's/../\\x&/g' <<<"$hex")" >&"$WIRE_FD"
	) 2>/dev/null || true
}
# wire_recv N [TIMEOUT]: print (as lower-case hex) up to N bytes received
# within TIMEOUT seconds (default 5); fewer if the peer closes.
wire_recv() {
	timeout "${2:-5}" head -c "$1" <&"$WIRE_FD" | od -An -v -tx1 | tr -d ' \n'
}
# wire_frame [TIMEOUT]: read the next frame the master sends, skipping its
# PING? heartbeats (docs/PROTOCOL.md "Heartbeat"), into WIRE_FRAME (hex of
# header and payload) and WIRE_PAYLOAD (hex of the payload).  Fails on a
# short read.  Not inside `run`: the variables must reach the test.
wire_frame() {
	local hdr len
	while :; do
		hdr=$(wire_recv 13 "${1:-5}")
		[[ ${#hdr} == 26 ]] || { WIRE_FRAME=$hdr; return 1; }
		len=$((16#${hdr:18:8}))
		# "PING?" with no payload: answer nothing, it is only a beat.
		[[ ${hdr:0:10} == 50494e473f && $len == 0 ]] || break
	done
	WIRE_PAYLOAD=
	((len == 0)) || WIRE_PAYLOAD=$(wire_recv "$len" "${1:-5}")
	WIRE_FRAME=$hdr$WIRE_PAYLOAD
	[[ ${#WIRE_PAYLOAD} == $((2 * len)) ]]
}
# wire_wait_eof [TIMEOUT]: succeed once the peer has closed the connection
# (reading whatever it still sends), fail after TIMEOUT seconds (default 5).
wire_wait_eof() {
	timeout "${1:-5}" cat <&"$WIRE_FD" >/dev/null
}
# Hex of a frame header: wire_hdr KIND ID LEN (KIND five ASCII letters).
wire_hdr() {
	printf '%s%08x%08x' "$(printf '%s' "$1" | od -An -v -tx1 | tr -d ' \n')" "$2" "$3"
}
# Hex of a CONFIG_LEN integer of the build under test.
wire_len() {
	if [[ $DSM_ARCHI == 32 ]]; then printf '%08x' "$1"; else printf '%016x' "$1"; fi
}
# Hex of a valid JOIN? frame for the build under test.
wire_join() {
	wire_hdr 'JOIN?' 1 10
	printf '%08x%02x00%08x' "$DSM_PROTO_VERSION" $((DSM_ARCHI / 8)) "$DSM_PAGE_SIZE"
}

# Network namespaces (root only).  dsm_netns_up N: creates namespaces
# ${DSM_NS}0 .. ${DSM_NS}N-1 on one private bridge (scripts/dsm-netns), with
# a prefix unique to this test, removed again in teardown.  Skips the test
# with the reason when that is not possible here.  Sets DSM_NS and NS_ADDR[k].
dsm_netns_up() {
	local n=$1 addr
	[[ $EUID -eq 0 ]] || skip "network namespaces need root (ip netns)"
	command -v ip >/dev/null || skip "the ip command (iproute2) is not installed"
	DSM_NS=dsmt$$x${RANDOM}x
	if ! ip netns add "${DSM_NS}probe" 2>"$BATS_TEST_TMPDIR/netns.err"; then
		skip "cannot create network namespaces here: $(head -n1 "$BATS_TEST_TMPDIR/netns.err")"
	fi
	ip netns del "${DSM_NS}probe"
	dsm_on_teardown "$DSM_ROOT/scripts/dsm-netns" down "$DSM_NS" "$n"
	NS_ADDR=()
	run "$DSM_ROOT/scripts/dsm-netns" up "$DSM_NS" "$n"
	assert_success
	while read -r _ addr; do
		NS_ADDR+=("$addr")
	done <<<"$output"
	[[ ${#NS_ADDR[@]} -eq $n ]] || fail "dsm-netns up printed ${#NS_ADDR[@]} hosts, expected $n"
}

# Unmodified programs (tests/unmodified) natively and under the preload
# shim.  Each program is N processes (DSM_RANK, DSM_NODES) on a POSIX shared
# memory object; its deterministic results are its "PROG: result ..." lines.
# The runners below collect them as "[RANK] PROG: result ..." lines, sorted
# by rank, so a native run and a DSM run can be compared with assert_equal.
#   UNMOD_TIMEOUT  bound of one program run in seconds (its -t; default
#                  60 x DSM_SLOW); the runners wait a little longer
#   SHIM_SIZE      segment size of the masters the shim runners start (16M)

# unmodified NAME: path of program NAME of tests/unmodified; fails if not
# built.
unmodified() {
	scenario "unmodified/$1"
}

# require_shim: skip the test, saying why, unless the preload shim and the
# master of the build under test exist.  Sets DSM_PRELOAD_LIB.
require_shim() {
	DSM_PRELOAD_LIB=$DSM_NODE_BUILD/libdsm_preload.so
	[[ -f $DSM_PRELOAD_LIB ]] ||
		skip "the preload shim is not built ($DSM_PRELOAD_LIB): run 'make'"
	[[ -x $DSM_BUILD/dsm-master ]] ||
		skip "dsm-master is not built ($DSM_BUILD/dsm-master): run 'make'"
}

# dsm_shm_name VAR TAG: sets VAR to a POSIX shared memory object name unique
# to this test and TAG; its /dev/shm files (NAME and NAME-*) are removed in
# teardown, whatever the test did.
dsm_shm_name() {
	local name="/dsmt-${BATS_SUITE_TEST_NUMBER:-$BATS_TEST_NUMBER}-$$-$2"
	printf -v "$1" %s "$name"
	dsm_on_teardown _dsm_rm_shm "$name"
}
_dsm_rm_shm() {
	rm -f "/dev/shm$1" "/dev/shm$1"-*
}

# Extra environment for processes that load the shim: sanitizer builds link
# their runtime into the programs, which then is not first in the library
# list once the shim is preloaded.
_dsm_shim_env() {
	_DSM_SHIM_ENV=()
	case ${DSM_NODE_BUILD##*/} in
	*-address*)
		_DSM_SHIM_ENV=("ASAN_OPTIONS=verify_asan_link_order=0${ASAN_OPTIONS:+:$ASAN_OPTIONS}")
		;;
	esac
}

# The result lines of program output with "[RANK] " prefixes, sorted.
_dsm_results() {
	grep -E '^\[[0-9]+\] [A-Za-z0-9_-]+: result ' | sort -V || true
}

_dsm_next_run() {
	_DSM_RUNS=$((${_DSM_RUNS:-0} + 1))
	printf -v "$1" '%s%s' "$2" "$_DSM_RUNS"
}

# run_native NAME N [ARGS...]: N copies of program NAME on this machine,
# DSM_RANK 0..N-1, on real POSIX shared memory (an object name of their
# own), without the shim; every copy must exit 0 in time.  ARGS come after
# the common options (-s NAME -t SECS).  NATIVE_ENV (an array of VAR=VALUE)
# is added to their environment.  Sets NATIVE_OUT (every line, prefixed
# "[RANK] "), NATIVE_RESULT (the result lines) and NATIVE_SHM.
run_native() {
	local name=$1 n=$2 prog tag shm k t=${UNMOD_TIMEOUT:-$((60 * DSM_SLOW))}
	shift 2
	prog=$(unmodified "$name") || return 1
	_dsm_next_run tag native
	dsm_shm_name shm "$tag"
	for ((k = 0; k < n; k++)); do
		start_node "$tag-$k" env -u LD_PRELOAD -u DSM_MASTER -u DSM_SHM \
			${NATIVE_ENV[@]+"${NATIVE_ENV[@]}"} "DSM_RANK=$k" "DSM_NODES=$n" \
			"$prog" -s "$shm" -t "$t" "$@"
	done
	for ((k = 0; k < n; k++)); do
		wait_node "$tag-$k" $((t + 20)) || return 1
	done
	NATIVE_OUT=$(for ((k = 0; k < n; k++)); do
		sed "s/^/[$k] /" "$(log_of "$tag-$k")"
	done)
	NATIVE_RESULT=$(_dsm_results <<<"$NATIVE_OUT")
	NATIVE_SHM=$shm
	[[ -n $NATIVE_RESULT ]] || { echo "run_native $name: no result line" >&2; return 1; }
}

# run_shim NAME N [ARGS...]: program NAME as N nodes under the shim with
# scripts/dsm-run (its own master on loopback, SHIM_SIZE, DSM_SHM set to a
# name of its own, which the program uses too); dsm-run must exit with
# status SHIM_STATUS (default 0) in time.  Skips the test if the shim is not
# built.  Sets SHIM_OUT (dsm-run's output: "[RANK] " lines, "[master] "
# lines, its own "dsm-run: " lines), SHIM_RESULT and SHIM_SHM.
run_shim() {
	local name=$1 n=$2 prog tag shm t=${UNMOD_TIMEOUT:-$((60 * DSM_SLOW))}
	shift 2
	require_shim
	prog=$(unmodified "$name") || return 1
	_dsm_next_run tag shim
	dsm_shm_name shm "$tag"
	_dsm_shim_env
	start_node "$tag" env "${_DSM_SHIM_ENV[@]}" DSM_PRELOAD="$DSM_PRELOAD_LIB" \
		DSM_MASTER_BIN="$DSM_BUILD/dsm-master" \
		"$DSM_ROOT/scripts/dsm-run" -n "$n" --size "${SHIM_SIZE:-16M}" \
		--shm "$shm" --timeout $((t + 10)) -- "$prog" -s "$shm" -t "$t" "$@"
	wait_node "$tag" $((t + 30)) "${SHIM_STATUS:-0}" || return 1
	SHIM_OUT=$(cat "$(log_of "$tag")")
	SHIM_RESULT=$(_dsm_results <<<"$SHIM_OUT")
	SHIM_SHM=$shm
	[[ -n $SHIM_RESULT || ${SHIM_STATUS:-0} != 0 ]] ||
		{ echo "run_shim $name: no result line" >&2; return 1; }
}

# run_shim_netns NAME N [ARGS...]: like run_shim, but the master and each
# of the N nodes on a host of its own (network namespaces, root only: skips
# otherwise), started here with ip netns exec, LD_PRELOAD, DSM_MASTER,
# DSM_SHM, DSM_RANK and DSM_NODES.  Sets NETNS_OUT, NETNS_RESULT.
run_shim_netns() {
	local name=$1 n=$2 prog tag shm k secret t=${UNMOD_TIMEOUT:-$((60 * DSM_SLOW))}
	shift 2
	require_shim
	prog=$(unmodified "$name") || return 1
	dsm_netns_up $((n + 1))
	_dsm_next_run tag netns
	dsm_shm_name shm "$tag"
	_dsm_shim_env
	# Not on loopback: the master needs a secret (protected mode).
	dsm_secret_file secret
	MASTER_NETNS=${DSM_NS}0 start_master_named "$tag-master" \
		--size "${SHIM_SIZE:-16M}" --listen "${NS_ADDR[0]}" \
		--secret-file "$secret"
	for ((k = 0; k < n; k++)); do
		start_node "$tag-$k" ip netns exec "$DSM_NS$((k + 1))" \
			env "${_DSM_SHIM_ENV[@]}" LD_PRELOAD="$DSM_PRELOAD_LIB" \
			DSM_SECRET_FILE="$secret" \
			DSM_MASTER="${NS_ADDR[0]}:$MASTER_PORT" DSM_SHM="$shm" \
			"DSM_RANK=$k" "DSM_NODES=$n" "$prog" -s "$shm" -t "$t" "$@"
	done
	for ((k = 0; k < n; k++)); do
		wait_node "$tag-$k" $((t + 20)) || return 1
	done
	NETNS_OUT=$(for ((k = 0; k < n; k++)); do
		sed "s/^/[$k] /" "$(log_of "$tag-$k")"
	done)
	NETNS_RESULT=$(_dsm_results <<<"$NETNS_OUT")
	[[ -n $NETNS_RESULT ]] || { echo "run_shim_netns $name: no result line" >&2; return 1; }
}

# assert_results RESULT N LINE...: RESULT (from a runner) is exactly LINE...
# printed by every rank 0..N-1.
assert_results() {
	local result=$1 n=$2 k line want
	shift 2
	want=$(for ((k = 0; k < n; k++)); do
		for line in "$@"; do
			printf '[%d] %s\n' "$k" "$line"
		done
	done | sort -V)
	assert_equal "$result" "$want"
}
