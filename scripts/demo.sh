#!/usr/bin/env bash
# demo.sh - a dsm run on this machine: one dsm-master on a free loopback
# port, 3 counter nodes of 1000 increments each, and the checked total.
#
#   scripts/demo.sh [BUILD_DIR]      (`make demo` runs it; default: build)
#
# BUILD_DIR holds dsm-master and scenarios/counter/counter (`make demo`
# builds both).  Prints "demo: 3 nodes x 1000 increments = 3000 (expected
# 3000) OK" and exits 0, or says what went wrong and exits 1.
set -euo pipefail

NODES=3
ITERS=1000
TIMEOUT=60

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=${1:-build}
[[ $build == /* ]] || build=$PWD/$build
master=$build/dsm-master
counter=$build/scenarios/counter/counter
for f in "$master" "$counter"; do
	[[ -x $f ]] || { echo "demo: $f is missing: run 'make demo' from $root" >&2; exit 1; }
done

tmp=$(mktemp -d "${TMPDIR:-/tmp}/dsm-demo.XXXXXX")
pids=()
cleanup() {
	local pid
	for pid in "${pids[@]}"; do
		kill -TERM "$pid" 2>/dev/null || true
	done
	for pid in "${pids[@]}"; do
		wait "$pid" 2>/dev/null || true
	done
	rm -rf "$tmp"
}
trap cleanup EXIT

fail() {
	local f
	echo "demo: $*" >&2
	for f in "$tmp"/*.log; do
		[[ -s $f ]] && { echo "--- ${f##*/}" >&2; tail -n 20 "$f" >&2; }
	done
	exit 1
}

# Poll until process $1 has exited (at most $2 seconds); 0 if it did.
await_exit() {
	local pid=$1 i
	for ((i = 0; i < $2 * 20; i++)); do
		kill -0 "$pid" 2>/dev/null || return 0
		sleep 0.05
	done
	return 1
}

total=$((NODES * ITERS))
"$master" --size 1M --port 0 >"$tmp/master.out" 2>"$tmp/master.log" </dev/null &
master_pid=$!
pids+=("$master_pid")
port=
for ((i = 0; i < 200; i++)); do
	line=$(grep -m1 '^dsm-master: listening on ' "$tmp/master.out" || true)
	if [[ $line =~ :([0-9]+)\ size\ [0-9]+$ ]]; then
		port=${BASH_REMATCH[1]}
		break
	fi
	kill -0 "$master_pid" 2>/dev/null || fail "dsm-master exited at start"
	sleep 0.05
done
[[ -n $port ]] || fail "dsm-master was not ready within 10 s"
echo "demo: dsm-master listening on 127.0.0.1:$port"

node_pids=()
for ((k = 1; k <= NODES; k++)); do
	"$counter" 127.0.0.1 "$port" "$ITERS" --wait-total "$total" --timeout "$TIMEOUT" \
		>"$tmp/node$k.log" 2>&1 </dev/null &
	node_pids+=("$!")
	pids+=("$!")
done
echo "demo: $NODES counter nodes started, $ITERS increments each"

values=()
for ((k = 1; k <= NODES; k++)); do
	pid=${node_pids[k - 1]}
	await_exit "$pid" $((TIMEOUT + 10)) || fail "node $k did not finish within $((TIMEOUT + 10)) s"
	rc=0
	wait "$pid" || rc=$?
	((rc == 0)) || fail "node $k exited with status $rc"
	v=$(sed -n 's/^counter: value //p' "$tmp/node$k.log" | tail -n1)
	[[ -n $v ]] || fail "node $k printed no value"
	values+=("$v")
done

kill -TERM "$master_pid"
await_exit "$master_pid" 5 || fail "dsm-master did not stop on SIGTERM"
rc=0
wait "$master_pid" || rc=$?
((rc == 0)) || fail "dsm-master exited with status $rc"

for v in "${values[@]}"; do
	if [[ $v != "$total" ]]; then
		echo "demo: $NODES nodes x $ITERS increments = $v (expected $total) MISMATCH"
		exit 1
	fi
done
echo "demo: $NODES nodes x $ITERS increments = ${values[0]} (expected $total) OK"
