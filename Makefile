# dsm - distributed shared memory.  `make`, `make demo`, `make test`,
# `make install PREFIX=... DESTDIR=...`, `make uninstall` (the same).
#   ARCHI=32|64     width of sizes and offsets on the wire (CONFIG_LEN), default 64
#   BUFFER=N        socket read buffer size in bytes, default 65536
#   SANITIZER=address|undefined|thread
#   WERROR=1        treat warnings as errors (CI does)

PREFIX ?= /usr/local
DESTDIR ?=
ARCHI ?= 64
BUFFER ?= 65536
SANITIZER ?=
CC ?= cc

ifneq ($(ARCHI),32)
ifneq ($(ARCHI),64)
$(warning ARCHI=$(ARCHI) is neither 32 nor 64; building with ARCHI=64)
override ARCHI := 64
endif
endif

ifeq ($(SANITIZER),)
SAN_FLAGS :=
else ifeq ($(SANITIZER),address)
SAN_FLAGS := -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
else ifeq ($(SANITIZER),undefined)
SAN_FLAGS := -fsanitize=undefined -fno-sanitize-recover=all
else ifeq ($(SANITIZER),thread)
SAN_FLAGS := -fsanitize=thread
else
$(error SANITIZER must be address, undefined or thread, not '$(SANITIZER)')
endif

# Each configuration builds into its own folder, so builds never mix.
BUILD ?= build$(if $(filter 32,$(ARCHI)),-archi32)$(if $(SANITIZER),-$(SANITIZER))

DSM_CFLAGS = -std=c11 -D_GNU_SOURCE -O2 -g -fPIC -pthread \
	-Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes \
	-Wno-unused-parameter $(if $(WERROR),-Werror) \
	-Iinclude -DDSM_ARCHI=$(ARCHI) -DDSM_BUFFER=$(BUFFER) \
	$(SAN_FLAGS) -MMD -MP $(CFLAGS)
DSM_LDFLAGS = -pthread $(SAN_FLAGS) $(LDFLAGS)

MASTER_MAIN := master/main.c
STAT_MAIN := master/stat_main.c
SHIM_SRCS := $(wildcard preload/shim*.c)
LIB_SRCS := $(filter-out $(MASTER_MAIN) $(STAT_MAIN) $(SHIM_SRCS),$(wildcard master/*.c preload/*.c))
LIB_OBJS := $(LIB_SRCS:%.c=$(BUILD)/%.o)
UNIT_SRCS := $(wildcard tests/unit/*.c)
UNIT_BINS := $(UNIT_SRCS:tests/unit/%.c=$(BUILD)/tests/%)
TOOL_SRCS := $(wildcard tests/tools/*.c)
TOOL_BINS := $(TOOL_SRCS:tests/tools/%.c=$(BUILD)/tests/%)
SCENARIOS := $(patsubst %/Makefile,%,$(wildcard tests/*/Makefile))
BENCH_SRCS := $(wildcard tests/bench/*.c)
BENCH_OBJS := $(BENCH_SRCS:%.c=$(BUILD)/%.o)

SHIM_OBJS := $(SHIM_SRCS:%.c=$(BUILD)/%.o)

# The version is the one dsm-master --version prints (master/main.c).
# libdsm.so.VERSION is the library, its soname libdsm.so.MAJOR (bump the
# major on any ABI break); libdsm.so is the name -ldsm links with.  Both
# names are symlinks, in the build folder as once installed.
VERSION := $(shell sed -n 's/^\#define VERSION "\([^"]*\)"$$/\1/p' $(MASTER_MAIN))
ifeq ($(VERSION),)
$(error cannot read the version (define VERSION "X.Y.Z") from $(MASTER_MAIN))
endif
LIBDSM_SONAME := libdsm.so.$(firstword $(subst ., ,$(VERSION)))
LIBDSM_REAL := $(BUILD)/libdsm.so.$(VERSION)
LIBDSM := $(BUILD)/libdsm.so
PRELOAD := $(BUILD)/libdsm_preload.so
MASTER := $(BUILD)/dsm-master
STAT := $(BUILD)/dsm-stat
BENCH := $(BUILD)/dsm-bench

.PHONY: all clean demo test check-tests scenarios install uninstall bench

all: $(MASTER) $(STAT) $(LIBDSM) $(PRELOAD)

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(DSM_CFLAGS) -c $< -o $@

$(LIBDSM_REAL): $(LIB_OBJS) preload/libdsm.map
	$(CC) -shared -Wl,-soname,$(LIBDSM_SONAME) -Wl,--version-script=preload/libdsm.map \
		-o $@ $(LIB_OBJS) $(DSM_LDFLAGS)

$(BUILD)/$(LIBDSM_SONAME): $(LIBDSM_REAL)
	ln -sfn $(notdir $<) $@

$(LIBDSM): $(BUILD)/$(LIBDSM_SONAME)
	ln -sfn $(LIBDSM_SONAME) $@

# The shim: the same runtime plus the interposers; it exports only the
# interposed functions (preload/shim.map).
$(PRELOAD): $(LIB_OBJS) $(SHIM_OBJS) preload/shim.map
	$(CC) -shared -Wl,-soname,libdsm_preload.so -Wl,--version-script=preload/shim.map \
		-o $@ $(LIB_OBJS) $(SHIM_OBJS) -ldl $(DSM_LDFLAGS)

$(MASTER): $(BUILD)/$(MASTER_MAIN:.c=.o) $(LIB_OBJS)
	$(CC) -o $@ $^ $(DSM_LDFLAGS)

# dsm-stat: a protocol client of its own; only the handshake's crypto.
$(STAT): $(BUILD)/$(STAT_MAIN:.c=.o) $(BUILD)/preload/secret.o $(BUILD)/preload/sha256.o
	$(CC) -o $@ $^ $(DSM_LDFLAGS)

$(BUILD)/tests/%: tests/unit/%.c $(LIB_OBJS)
	@mkdir -p $(dir $@)
	$(CC) $(DSM_CFLAGS) -o $@ $< $(LIB_OBJS) $(DSM_LDFLAGS)

# The benchmark (docs/BENCHMARKS.md): its own sources plus the node
# runtime, like the unit tests.
$(BENCH): $(BENCH_OBJS) $(LIB_OBJS)
	$(CC) -o $@ $(BENCH_OBJS) $(LIB_OBJS) $(DSM_LDFLAGS)

$(BUILD)/tests/%: tests/tools/%.c
	@mkdir -p $(dir $@)
	$(CC) $(DSM_CFLAGS) -o $@ $< $(DSM_LDFLAGS)

# Scenario folders have their own Makefile (tests/<name>/Makefile); they
# build against this configuration's libdsm.so.
scenarios: $(LIBDSM)
	@for d in $(SCENARIOS); do \
		$(MAKE) -C $$d DSM_ROOT=$(CURDIR) DSM_BUILD=$(CURDIR)/$(BUILD) \
			CFLAGS="$(SAN_FLAGS) $(if $(WERROR),-Werror)" || exit 1; \
	done

check-tests: all $(UNIT_BINS) $(TOOL_BINS) $(BENCH) scenarios

demo: all scenarios
	scripts/demo.sh $(BUILD)

# `make bench BENCH_ARGS='--quick --json out.json'` passes options on.
bench: all $(BENCH)
	$(BENCH) --build $(BUILD) $(BENCH_ARGS)

test: check-tests
	DSM_BUILD=$(CURDIR)/$(BUILD) tests/run

clean:
	rm -rf build build-*
	@for d in $(SCENARIOS); do $(MAKE) -C $$d clean >/dev/null; done

# Where `make install` puts things (GNU names; dsm-run finds dsm-master
# next to itself and libdsm_preload.so in ../lib: with another LIBDIR, set
# DSM_PRELOAD).  libdsm_preload.so is only ever named in LD_PRELOAD: no
# versioned names.  dsm.pc is written at install time, for this PREFIX.
BINDIR ?= $(PREFIX)/bin
LIBDIR ?= $(PREFIX)/lib
INCLUDEDIR ?= $(PREFIX)/include
MANDIR ?= $(PREFIX)/share/man
PKGCONFIGDIR ?= $(LIBDIR)/pkgconfig
MAN_PAGES := $(wildcard docs/man/*.[1-8])
# docs/man/NAME.S -> $(MANDIR)/manS/NAME.S
man_dest = $(DESTDIR)$(MANDIR)/man$(patsubst .%,%,$(suffix $(1)))/$(notdir $(1))
PC_SUBST := -e 's|@VERSION@|$(VERSION)|' -e 's|@PREFIX@|$(PREFIX)|' \
	-e 's|@LIBDIR@|$(patsubst $(PREFIX)/%,$${prefix}/%,$(LIBDIR))|' \
	-e 's|@INCLUDEDIR@|$(patsubst $(PREFIX)/%,$${prefix}/%,$(INCLUDEDIR))|'

install: all
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(LIBDIR) $(DESTDIR)$(INCLUDEDIR) \
		$(DESTDIR)$(PKGCONFIGDIR) $(sort $(dir $(foreach p,$(MAN_PAGES),$(call man_dest,$(p)))))
	install -m 755 $(MASTER) $(DESTDIR)$(BINDIR)/dsm-master
	install -m 755 $(STAT) $(DESTDIR)$(BINDIR)/dsm-stat
	install -m 755 scripts/dsm-run $(DESTDIR)$(BINDIR)/dsm-run
	install -m 644 $(LIBDSM_REAL) $(DESTDIR)$(LIBDIR)/
	ln -sfn $(notdir $(LIBDSM_REAL)) $(DESTDIR)$(LIBDIR)/$(LIBDSM_SONAME)
	ln -sfn $(LIBDSM_SONAME) $(DESTDIR)$(LIBDIR)/libdsm.so
	install -m 644 $(PRELOAD) $(DESTDIR)$(LIBDIR)/libdsm_preload.so
	install -m 644 include/dsm.h $(DESTDIR)$(INCLUDEDIR)/dsm.h
	sed $(PC_SUBST) preload/dsm.pc.in >$(DESTDIR)$(PKGCONFIGDIR)/dsm.pc
	chmod 644 $(DESTDIR)$(PKGCONFIGDIR)/dsm.pc
	for p in $(MAN_PAGES); do \
		install -m 644 $$p $(DESTDIR)$(MANDIR)/man$${p##*.}/ || exit 1; done
	@if [ -z "$(DESTDIR)" ] && [ "$$(id -u)" = 0 ] && command -v ldconfig >/dev/null; then \
		echo ldconfig; ldconfig; fi

uninstall:
	rm -f $(DESTDIR)$(BINDIR)/dsm-master $(DESTDIR)$(BINDIR)/dsm-stat \
		$(DESTDIR)$(BINDIR)/dsm-run \
		$(DESTDIR)$(LIBDIR)/$(notdir $(LIBDSM_REAL)) \
		$(DESTDIR)$(LIBDIR)/$(LIBDSM_SONAME) $(DESTDIR)$(LIBDIR)/libdsm.so \
		$(DESTDIR)$(LIBDIR)/libdsm_preload.so $(DESTDIR)$(INCLUDEDIR)/dsm.h \
		$(DESTDIR)$(PKGCONFIGDIR)/dsm.pc \
		$(foreach p,$(MAN_PAGES),$(call man_dest,$(p)))

include tests/fuzz/fuzz.mk
-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
