# dsm - distributed shared memory.  `make`, `make demo`, `make test`,
# `make install PREFIX=... DESTDIR=...`.
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
SHIM_SRCS := $(wildcard preload/shim*.c)
LIB_SRCS := $(filter-out $(MASTER_MAIN) $(SHIM_SRCS),$(wildcard master/*.c preload/*.c))
LIB_OBJS := $(LIB_SRCS:%.c=$(BUILD)/%.o)
UNIT_SRCS := $(wildcard tests/unit/*.c)
UNIT_BINS := $(UNIT_SRCS:tests/unit/%.c=$(BUILD)/tests/%)
TOOL_SRCS := $(wildcard tests/tools/*.c)
TOOL_BINS := $(TOOL_SRCS:tests/tools/%.c=$(BUILD)/tests/%)
SCENARIOS := $(patsubst %/Makefile,%,$(wildcard tests/*/Makefile))
BENCH_SRCS := $(wildcard tests/bench/*.c)
BENCH_OBJS := $(BENCH_SRCS:%.c=$(BUILD)/%.o)

SHIM_OBJS := $(SHIM_SRCS:%.c=$(BUILD)/%.o)

LIBDSM := $(BUILD)/libdsm.so
PRELOAD := $(BUILD)/libdsm_preload.so
MASTER := $(BUILD)/dsm-master
BENCH := $(BUILD)/dsm-bench

.PHONY: all clean demo test check-tests scenarios install uninstall bench

all: $(MASTER) $(LIBDSM) $(PRELOAD)

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(DSM_CFLAGS) -c $< -o $@

$(LIBDSM): $(LIB_OBJS) preload/libdsm.map
	$(CC) -shared -Wl,-soname,libdsm.so -Wl,--version-script=preload/libdsm.map \
		-o $@ $(LIB_OBJS) $(DSM_LDFLAGS)

# The shim: the same runtime plus the interposers; it exports only the
# interposed functions (preload/shim.map).
$(PRELOAD): $(LIB_OBJS) $(SHIM_OBJS) preload/shim.map
	$(CC) -shared -Wl,-soname,libdsm_preload.so -Wl,--version-script=preload/shim.map \
		-o $@ $(LIB_OBJS) $(SHIM_OBJS) -ldl $(DSM_LDFLAGS)

$(MASTER): $(BUILD)/$(MASTER_MAIN:.c=.o) $(LIB_OBJS)
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

install: all
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/lib $(DESTDIR)$(PREFIX)/include
	install -m 755 $(MASTER) $(DESTDIR)$(PREFIX)/bin/dsm-master
	install -m 755 $(LIBDSM) $(DESTDIR)$(PREFIX)/lib/libdsm.so
	install -m 755 $(PRELOAD) $(DESTDIR)$(PREFIX)/lib/libdsm_preload.so
	install -m 644 include/dsm.h $(DESTDIR)$(PREFIX)/include/dsm.h

uninstall:
	rm -f $(DESTDIR)$(PREFIX)/bin/dsm-master $(DESTDIR)$(PREFIX)/lib/libdsm.so \
		$(DESTDIR)$(PREFIX)/lib/libdsm_preload.so \
		$(DESTDIR)$(PREFIX)/include/dsm.h

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
