#!/usr/bin/env bats
# make install / make uninstall: what lands under DESTDIR/PREFIX (programs,
# libdsm with its soname, the preload library, dsm.h, dsm.pc, the man
# pages), that a program built with pkg-config against the install runs
# against the installed dsm-master, that the installed dsm-run finds the
# installed master and preload library, and that uninstall removes it all.
# The install is made from the build under test (make BUILD=$DSM_BUILD),
# which must be up to date: the tests never rebuild it.

load helpers

BATS_TEST_TIMEOUT=$((120 * DSM_SLOW))

# Where the tests install: an unusual PREFIX, so nothing can come from a
# real installation by accident.
PREFIX=/opt/dsm-test

setup() {
	dsm_setup
	case ${DSM_BUILD##*/} in
	*-address* | *-undefined* | *-thread*)
		skip "install is tested on a normal build: programs linked with a sanitizer build's libdsm need its -fsanitize flags too"
		;;
	esac
	command -v make >/dev/null || skip "make is not installed"
	DEST=$BATS_TEST_TMPDIR/root
	INST=$DEST$PREFIX
}

# dsm_make TARGET...: the top Makefile with the build under test, DESTDIR
# and PREFIX, without the make flags of a `make test` that may have run us.
# A build folder of the tree is named as `make BUILD=...` names it, since
# its dependency files name the objects that way.
dsm_make() {
	local build=$DSM_BUILD
	[[ ${build%/*} != "$DSM_ROOT" ]] || build=${build##*/}
	env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL make --no-print-directory \
		-C "$DSM_ROOT" BUILD="$build" ARCHI="$DSM_ARCHI" \
		DESTDIR="$DEST" PREFIX="$PREFIX" "$@"
}

# require_up_to_date: fail unless the build under test is up to date with
# the sources, so that installing it compiles nothing.
require_up_to_date() {
	dsm_make -q all ||
		fail "$DSM_BUILD is older than the sources: run 'make BUILD=$DSM_BUILD check-tests' first (the install tests do not rebuild the build under test)"
}

# install_dsm: make install into $DEST; sets VERSION (what the installed
# dsm-master says) and MAJOR.
install_dsm() {
	require_up_to_date
	run -0 dsm_make install
	run -0 "$INST/bin/dsm-master" --version
	[[ $output =~ ^dsm-master\ ([0-9]+)\.([0-9]+)\.([0-9]+)\  ]] ||
		fail "unexpected dsm-master --version output: '$output'"
	VERSION=${BASH_REMATCH[1]}.${BASH_REMATCH[2]}.${BASH_REMATCH[3]}
	MAJOR=${BASH_REMATCH[1]}
}

# Files and symbolic links under $DEST, relative, sorted.
installed_files() {
	(cd "$DEST" && find . \( -type f -o -type l \) -printf '%P\n' | sort)
}

# The man pages of docs/man/ as installed: share/man/manS/NAME.S.
man_pages_installed() {
	local f
	for f in "$DSM_ROOT"/docs/man/*.[1-8]; do
		printf '%s\n' "${PREFIX#/}/share/man/man${f##*.}/${f##*/}"
	done
}

@test "make install puts programs, libdsm with its soname, dsm.h, dsm.pc and the man pages under DESTDIR/PREFIX" {
	install_dsm
	local p=${PREFIX#/} want
	want=$({
		# dsm-stat where this build has it (master/stat_main.c).
		[[ ! -x $DSM_BUILD/dsm-stat ]] || echo "$p/bin/dsm-stat"
		printf '%s\n' "$p/bin/dsm-master" "$p/bin/dsm-run" \
			"$p/include/dsm.h" "$p/lib/libdsm.so" "$p/lib/libdsm.so.$MAJOR" \
			"$p/lib/libdsm.so.$VERSION" "$p/lib/libdsm_preload.so" \
			"$p/lib/pkgconfig/dsm.pc"
		man_pages_installed
	} | sort)
	[[ $(man_pages_installed | wc -l) -ge 4 ]] || fail "fewer than 4 man pages in docs/man/"
	assert_equal "$(installed_files)" "$want"

	# The real file, its soname link, the link-time name.
	[[ -f $INST/lib/libdsm.so.$VERSION && ! -L $INST/lib/libdsm.so.$VERSION ]] ||
		fail "libdsm.so.$VERSION is not a regular file"
	assert_equal "$(readlink "$INST/lib/libdsm.so.$MAJOR")" "libdsm.so.$VERSION"
	assert_equal "$(readlink "$INST/lib/libdsm.so")" "libdsm.so.$MAJOR"
	run -0 readelf -d "$INST/lib/libdsm.so.$VERSION"
	assert_line --regexp "\(SONAME\) +Library soname: \[libdsm\.so\.$MAJOR\]$"
	# The preload library is named in LD_PRELOAD only: one plain file.
	[[ -f $INST/lib/libdsm_preload.so && ! -L $INST/lib/libdsm_preload.so ]] ||
		fail "libdsm_preload.so is not a regular file"
	run -0 readelf -d "$INST/lib/libdsm_preload.so"
	assert_line --regexp '\(SONAME\) +Library soname: \[libdsm_preload\.so\]$'

	# Modes: programs executable, the rest not.
	assert_equal "$(stat -c %a "$INST/bin/dsm-master" "$INST/bin/dsm-run")" $'755\n755'
	assert_equal "$(stat -c %a "$INST/include/dsm.h" "$INST/lib/pkgconfig/dsm.pc" \
		"$INST/lib/libdsm.so.$VERSION" "$INST/lib/libdsm_preload.so" | sort -u)" 644
	cmp "$DSM_ROOT/include/dsm.h" "$INST/include/dsm.h"

	# dsm.pc is written for this PREFIX, with the version of the binaries.
	run -0 cat "$INST/lib/pkgconfig/dsm.pc"
	assert_line "prefix=$PREFIX"
	# shellcheck disable=SC2016 # pkg-config's variables, literally
	assert_line 'libdir=${prefix}/lib'
	# shellcheck disable=SC2016
	assert_line 'includedir=${prefix}/include'
	assert_line "Version: $VERSION"
}

@test "make uninstall with the same DESTDIR and PREFIX removes every installed file and nothing else" {
	mkdir -p "$INST/lib" "$INST/bin"
	echo keep >"$INST/lib/libother.so.1"
	echo keep >"$INST/bin/other-tool"
	install_dsm
	run -0 installed_files
	assert_line "${PREFIX#/}/lib/libdsm.so.$VERSION"
	run -0 dsm_make uninstall
	run -0 installed_files
	assert_output "$(printf '%s\n' "${PREFIX#/}/bin/other-tool" "${PREFIX#/}/lib/libother.so.1")"
	# Uninstalling what is not there is not an error.
	run -0 dsm_make uninstall
}

@test "make install of an up-to-date build compiles and links nothing" {
	require_up_to_date
	run -0 dsm_make -n install
	assert_line --regexp "^install -m 755 [^ ]*dsm-master $INST/bin/dsm-master\$"
	refute_output --regexp ' -c [^ ]+\.c '
	refute_output --partial ' -shared '
	refute_line --regexp "^ln -sfn [^ ]+ [^ ]*${DSM_BUILD##*/}/"
}

# The C program of libdsm(3)'s EXAMPLES section, as the reader sees it.
man_example() {
	sed -n '/^\.SH EXAMPLES/,/^\.SH /{/^\.EX/,/^\.EE/p}' "$DSM_ROOT/docs/man/libdsm.3" |
		sed -e '/^\.EX$/d' -e '/^\.EE$/d' -e 's/\\e/\\/g' -e 's/\\-/-/g'
}

@test "libdsm(3)'s example, built with pkg-config against the install, counts with the installed dsm-master" {
	command -v pkg-config >/dev/null ||
		skip "pkg-config is not installed (Debian package pkg-config)"
	command -v cc >/dev/null || skip "no C compiler (cc)"
	install_dsm
	# Only this install's dsm.pc, with its paths under DESTDIR.
	export PKG_CONFIG_LIBDIR=$INST/lib/pkgconfig PKG_CONFIG_PATH='' PKG_CONFIG_SYSROOT_DIR=$DEST
	run -0 pkg-config --modversion dsm
	assert_output "$VERSION"
	run -0 pkg-config --cflags --libs dsm
	local flags=${output%"${output##*[![:space:]]}"} src=$BATS_TEST_TMPDIR/count.c bin=$BATS_TEST_TMPDIR/count k
	assert_equal "$flags" "-I$INST/include -L$INST/lib -ldsm"
	man_example >"$src"
	grep -q 'init_slave' "$src" || fail "no example program in docs/man/libdsm.3"
	# shellcheck disable=SC2086 # pkg-config's words
	run -0 cc -std=gnu11 -Wall -Wextra -Werror -o "$bin" "$src" $flags
	run -0 readelf -d "$bin"
	assert_line --regexp "\(NEEDED\) +Shared library: \[libdsm\.so\.$MAJOR\]$"
	run -0 env LD_LIBRARY_PATH="$INST/lib" ldd "$bin"
	assert_line --regexp "^[[:space:]]+libdsm\.so\.$MAJOR => $INST/lib/libdsm\.so\.$MAJOR "

	start_node master "$INST/bin/dsm-master" --size 1M --port 0
	wait_log master '^dsm-master: listening on 127\.0\.0\.1:[0-9]+ '
	local port
	port=$(sed -n 's/^dsm-master: listening on 127\.0\.0\.1:\([0-9]*\) .*/\1/p' "$(log_of master)")
	for k in 1 2; do
		start_node "count$k" env LD_LIBRARY_PATH="$INST/lib" "$bin" 127.0.0.1 "$port"
	done
	for k in 1 2; do
		wait_node "count$k" $((60 * DSM_SLOW))
		run -0 cat "$(log_of "count$k")"
		assert_output --regexp '^count: (1[0-9]{3}|2000)$'
	done
	# Started once both are done: it sees all 2000 increments, plus its own.
	start_node count3 env LD_LIBRARY_PATH="$INST/lib" "$bin" 127.0.0.1 "$port"
	wait_node count3 $((60 * DSM_SLOW))
	run -0 cat "$(log_of count3)"
	assert_output 'count: 3000'
}

@test "the installed dsm-run finds the installed dsm-master and libdsm_preload.so" {
	require_shim
	local prog shm t=$((30 * DSM_SLOW)) fake=$BATS_TEST_TMPDIR/fakebin
	prog=$(unmodified counter)
	install_dsm
	# A dsm-master in PATH that must not be used: the one next to dsm-run
	# comes first.
	mkdir -p "$fake"
	printf '#!/bin/sh\necho "the dsm-master in PATH was used" >&2\nexit 3\n' >"$fake/dsm-master"
	chmod 755 "$fake/dsm-master"
	dsm_shm_name shm run
	start_node run env -u DSM_BUILD -u DSM_PRELOAD -u DSM_MASTER_BIN -u LD_PRELOAD \
		PATH="$fake:$PATH" "$INST/bin/dsm-run" -n 2 --size 1M --shm "$shm" \
		--timeout $((t + 10)) -- "$prog" -s "$shm" -t "$t" 200
	wait_node run $((t + 30))
	run -0 cat "$(log_of run)"
	assert_line '[0] counter: result total 400 expected 400'
	assert_line '[1] counter: result total 400 expected 400'
	refute_output --partial 'in PATH was used'

	# Which preload library the copies got: the installed one.
	# shellcheck disable=SC2016 # awk's $6
	start_node maps env -u DSM_BUILD -u DSM_PRELOAD -u DSM_MASTER_BIN -u LD_PRELOAD \
		PATH="$fake:$PATH" "$INST/bin/dsm-run" -n 1 --size 1M --timeout "$t" -- \
		awk '/libdsm_preload/ { print "preload:", $6; exit }' /proc/self/maps
	wait_node maps $((t + 30))
	run -0 cat "$(log_of maps)"
	assert_output "[0] preload: $(readlink -f "$INST/lib/libdsm_preload.so")"
}
