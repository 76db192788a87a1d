#!/usr/bin/env bats
# The man pages of docs/man/: they render without a warning, and they say what
# the code has: every option of dsm-master and dsm-run, every function and
# error code of dsm.h, every function libdsm_preload.so interposes, every
# DSM_* environment variable the runtime reads.  Needs no build.

load helpers

BATS_TEST_TIMEOUT=60

MAN_DIR=$DSM_ROOT/docs/man

# The C files of preload/ but those whose name matches the extended
# regular expression $1.
preload_sources_but() {
	local f
	for f in "$DSM_ROOT"/preload/*.c; do
		[[ ${f##*/} =~ $1 ]] || printf '%s\n' "$f"
	done
}

# The DSM_* variables read with getenv() in the files given.
env_vars_read() {
	grep -ohE 'getenv\("DSM_[A-Z_]+"\)' "$@" | sed -E 's/getenv\("(.*)"\)/\1/' | sort -u
}

# assert_documented PAGE WHAT WORD...: every WORD appears as a whole word in
# the roff source of PAGE (docs/man/PAGE); the failure lists the missing ones.
assert_documented() {
	local page=$MAN_DIR/$1 what=$2 w missing=()
	shift 2
	[[ $# -gt 0 ]] || fail "no $what found in the sources: the test's extraction is broken"
	for w in "$@"; do
		grep -qE -- "(^|[^A-Za-z0-9_])${w//-/\\\\-}([^A-Za-z0-9_]|$)" "$page" || missing+=("$w")
	done
	[[ ${#missing[@]} -eq 0 ]] || fail "docs/man/${page##*/} does not document these $what: ${missing[*]}"
}

@test "every man page renders without a warning" {
	local f pages=("$MAN_DIR"/*.[1-8]) out
	[[ ${#pages[@]} -ge 4 && -f ${pages[0]} ]] || fail "expected at least 4 man pages in docs/man/"
	if command -v man >/dev/null; then
		for f in "${pages[@]}"; do
			# Warnings go to stderr; the page itself must not be empty.
			out=$(MANWIDTH=80 man --warnings -l -E UTF-8 "$f" 2>&1 >/dev/null) ||
				fail "man -l ${f##*/} failed: $out"
			[[ -z $out ]] || fail "man --warnings -l ${f##*/}: $out"
			run -0 env MANWIDTH=80 man -l -E UTF-8 "$f"
			assert_line --regexp '^NAME$'
		done
	elif command -v groff >/dev/null; then
		for f in "${pages[@]}"; do
			run -0 --separate-stderr groff -man -ww -z "$f"
			[[ -z $stderr ]] || fail "groff -man -ww ${f##*/}: $stderr"
		done
	else
		skip "neither man nor groff is installed (Debian packages man-db, groff-base)"
	fi
}

@test "dsm-master(1) documents every option and environment variable of dsm-master" {
	local opts
	# The long options of main()'s getopt_long table: { "name", ...
	mapfile -t opts < <(sed -n 's/^[[:space:]]*{ "\([a-z-]*\)", .*_argument.*/--\1/p' \
		"$DSM_ROOT/master/main.c")
	assert_documented dsm-master.1 options "${opts[@]}"
	mapfile -t opts < <(env_vars_read "$DSM_ROOT/master/main.c")
	assert_documented dsm-master.1 "environment variables" "${opts[@]}"
}

@test "dsm-run(1) documents every option of dsm-run" {
	local opts
	# Every option word in the case patterns of dsm-run's option loop (the
	# lines that start with an option).
	mapfile -t opts < <(awk '/^while \[\[ \$# -gt 0 \]\]; do$/ { on = 1 } on && /^done/ { exit } on' \
		"$DSM_ROOT/scripts/dsm-run" | grep -E '^[[:space:]]*-' |
		grep -oE '(^|[[:space:]|])--?[a-z][a-z-]*' | tr -d ' \t|' | sort -u)
	[[ ${#opts[@]} -ge 8 ]] || fail "found only ${#opts[@]} options in scripts/dsm-run: ${opts[*]}"
	assert_documented dsm-run.1 options "${opts[@]}"
}

@test "libdsm(3) documents every function and error code of dsm.h and the library's environment" {
	local words codes files c v
	# Function names of the prototypes in dsm.h.
	mapfile -t words < <(grep -oE '^[a-z][a-z0-9_ ]*[ *]([a-z_][a-z0-9_]*)\(' "$DSM_ROOT/include/dsm.h" |
		grep -oE '[a-z_][a-z0-9_]*\($' | tr -d '(')
	[[ ${#words[@]} -ge 14 ]] || fail "found only ${#words[@]} functions in dsm.h: ${words[*]}"
	assert_documented libdsm.3 functions "${words[@]}"
	# Every function is in the NAME line and the SYNOPSIS too.
	for c in "${words[@]}"; do
		sed -n '/^\.SH NAME/,/^\.SH SYNOPSIS/p' "$MAN_DIR/libdsm.3" | grep -qw "$c" ||
			fail "$c is not in libdsm(3)'s NAME section"
		sed -n '/^\.SH SYNOPSIS/,/^\.SH DESCRIPTION/p' "$MAN_DIR/libdsm.3" | grep -q "[ *]$c(" ||
			fail "$c is not in libdsm(3)'s SYNOPSIS"
	done
	# Error codes, with their values in RETURN VALUE.
	mapfile -t codes < <(sed -n 's/^#define \(DSM_E[A-Z]*\) *\(-[0-9]*\).*/\1 \2/p' "$DSM_ROOT/include/dsm.h")
	[[ ${#codes[@]} -ge 10 ]] || fail "found only ${#codes[@]} DSM_E codes in dsm.h"
	for c in "${codes[@]}"; do
		v=${c#* }
		grep -qF ".BR ${c% *} \" (\\-${v#-})\"" "$MAN_DIR/libdsm.3" ||
			fail "libdsm(3) RETURN VALUE has no entry '${c% *} (${v})'"
	done
	# The node runtime's and init_master's variables (the shim's own are
	# in libdsm_preload(7)), and the fault backend choice.
	mapfile -t files < <(preload_sources_but '^shim.*\.c$')
	mapfile -t words < <({
		env_vars_read "${files[@]}"
		echo DSM_FAULT
	} | sort -u)
	assert_documented libdsm.3 "environment variables" "${words[@]}"
}

@test "libdsm_preload(7) documents every interposed function and the shim's environment" {
	local words files
	# The exported (interposed) functions of preload/shim.map.
	mapfile -t words < <(sed -n '/global:/,/local:/p' "$DSM_ROOT/preload/shim.map" |
		grep -v -e 'global:' -e 'local:' | tr ';' '\n' | tr -d ' \t' | grep -v '^$')
	[[ ${#words[@]} -ge 40 ]] || fail "found only ${#words[@]} symbols in shim.map"
	assert_documented libdsm_preload.7 "interposed functions" "${words[@]}"
	# Everything a node reads, except what only init_master reads.
	mapfile -t files < <(preload_sources_but '^api_master\.c$')
	mapfile -t words < <({
		env_vars_read "${files[@]}"
		echo DSM_FAULT
	} | sort -u)
	assert_documented libdsm_preload.7 "environment variables" "${words[@]}"
}

@test "the README points to the man pages and says how to install" {
	run -0 sed -n '/^## Install/,/^## /p' "$DSM_ROOT/README.md"
	assert_output --partial 'make install PREFIX='
	assert_output --partial 'pkg-config --cflags --libs dsm'
	local f
	for f in "$MAN_DIR"/*.[1-8]; do
		f=${f##*/}
		assert_output --partial "${f%.*}(${f##*.})"
	done
}
