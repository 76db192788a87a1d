# tests/fuzz/fuzz.mk - fuzzing the master's and the node's frame handling
# (docs/FUZZING.md).  Included from the top Makefile, whose LIB_SRCS (the
# master and node runtime without main.c and the shim) it reuses.
#
#   make fuzz [FUZZ_SECONDS=60]   build with clang + libFuzzer, ASan, UBSan,
#                                 run each target FUZZ_SECONDS seconds from
#                                 the seeds (new inputs are kept in
#                                 FUZZ_BUILD/corpus/); fails on a finding
#   make fuzz-build               only build the libFuzzer binaries
#   make fuzz-replay              build the gcc replay drivers and run the
#                                 seeds and the regression inputs through them
#   make fuzz-replay-bins         only build the replay drivers
#   make fuzz-corpus              regenerate tests/fuzz/corpus/ (mkcorpus.c)
#
#   FUZZ_CC       clang with libFuzzer (default clang-14; Debian 12: packages
#                 clang-14 and libclang-rt-14-dev)
#   FUZZ_BUILD    output folder (default build-fuzz); ARCHI 64 only
#   FUZZ_TARGETS  which targets `make fuzz` runs (default: master node)
#   FUZZ_ARGS     more libFuzzer options, e.g. FUZZ_ARGS=-runs=1000000

FUZZ_CC ?= clang-14
FUZZ_BUILD ?= build-fuzz
FUZZ_SECONDS ?= 60
FUZZ_TARGETS ?= master node
FUZZ_MAX_LEN ?= 16384
FUZZ_ARGS ?=

FUZZ_SAN := -fsanitize=address,undefined -fno-sanitize-recover=all \
	-fno-omit-frame-pointer
FUZZ_CFLAGS = -std=c11 -D_GNU_SOURCE -O1 -g -pthread \
	-Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes \
	-Wno-unused-parameter $(if $(WERROR),-Werror) \
	-Iinclude -Imaster -Ipreload -DDSM_ARCHI=64 -DDSM_BUFFER=65536 \
	$(FUZZ_SAN) -MMD -MP

FUZZ_SRC := tests/fuzz
# Absolute, however FUZZ_BUILD is given: the dependency files name their
# objects the way they were built, and must match the next time.
FUZZ_DIR := $(abspath $(FUZZ_BUILD))
FUZZ_OBJ := $(FUZZ_DIR)/obj
REPLAY_OBJ := $(FUZZ_DIR)/replay-obj
FUZZ_LIB_OBJS := $(LIB_SRCS:%.c=$(FUZZ_OBJ)/%.o)
REPLAY_LIB_OBJS := $(LIB_SRCS:%.c=$(REPLAY_OBJ)/%.o)
FUZZ_BINS := $(FUZZ_TARGETS:%=$(FUZZ_DIR)/fuzz_%)
REPLAY_BINS := $(FUZZ_TARGETS:%=$(FUZZ_DIR)/replay_%)

.PHONY: fuzz fuzz-build fuzz-replay fuzz-replay-bins fuzz-corpus
# Objects built through the pattern rules below are kept between runs.
.SECONDARY: $(FUZZ_LIB_OBJS) $(REPLAY_LIB_OBJS) \
	$(FUZZ_TARGETS:%=$(FUZZ_OBJ)/$(FUZZ_SRC)/fuzz_%.o) \
	$(FUZZ_TARGETS:%=$(REPLAY_OBJ)/$(FUZZ_SRC)/fuzz_%.o) \
	$(REPLAY_OBJ)/$(FUZZ_SRC)/replay.o

# libFuzzer instruments every object for coverage (fuzzer-no-link); only
# the final link brings in its main().
$(FUZZ_OBJ)/%.o: %.c
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link -c $< -o $@

$(FUZZ_DIR)/fuzz_%: $(FUZZ_OBJ)/$(FUZZ_SRC)/fuzz_%.o $(FUZZ_LIB_OBJS)
	$(FUZZ_CC) -o $@ $^ -pthread $(FUZZ_SAN) -fsanitize=fuzzer

# The replay drivers: gcc, the same sanitizers, replay.c as main().
$(REPLAY_OBJ)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(FUZZ_CFLAGS) -c $< -o $@

$(FUZZ_DIR)/replay_%: $(REPLAY_OBJ)/$(FUZZ_SRC)/fuzz_%.o \
		$(REPLAY_OBJ)/$(FUZZ_SRC)/replay.o $(REPLAY_LIB_OBJS)
	$(CC) -o $@ $^ -pthread $(FUZZ_SAN)

$(FUZZ_DIR)/mkcorpus: $(FUZZ_SRC)/mkcorpus.c include/dsm_wire.h
	@mkdir -p $(dir $@)
	$(CC) -std=c11 -D_GNU_SOURCE -O1 -g -Wall -Wextra -Iinclude -o $@ $<

fuzz-build: $(FUZZ_BINS)

# Each target: new inputs go to $(FUZZ_BUILD)/corpus/T (the first folder),
# the committed seeds and regression inputs are read only.  A crash, leak,
# sanitizer report or timeout makes libFuzzer exit non-zero: make stops
# with the artifact in $(FUZZ_BUILD)/artifacts/.
fuzz: $(FUZZ_BINS)
	@mkdir -p $(FUZZ_BUILD)/artifacts
	@for t in $(FUZZ_TARGETS); do \
		mkdir -p $(FUZZ_BUILD)/corpus/$$t || exit 1; \
		echo "fuzz: $$t for $(FUZZ_SECONDS) s"; \
		$(FUZZ_BUILD)/fuzz_$$t -max_total_time=$(FUZZ_SECONDS) \
			-timeout=30 -rss_limit_mb=4096 -max_len=$(FUZZ_MAX_LEN) \
			-dict=$(FUZZ_SRC)/dsm.dict -print_final_stats=1 \
			-artifact_prefix=$(FUZZ_BUILD)/artifacts/$$t- $(FUZZ_ARGS) \
			$(FUZZ_BUILD)/corpus/$$t $(FUZZ_SRC)/corpus/$$t \
			$(FUZZ_SRC)/regress/$$t || \
			{ echo "fuzz: $$t found a problem; see $(FUZZ_BUILD)/artifacts/"; exit 1; }; \
	done

fuzz-replay-bins: $(REPLAY_BINS)

fuzz-replay: $(REPLAY_BINS)
	@for t in $(FUZZ_TARGETS); do \
		echo "fuzz-replay: $$t"; \
		$(FUZZ_BUILD)/replay_$$t $(FUZZ_SRC)/corpus/$$t \
			$(FUZZ_SRC)/regress/$$t || exit 1; \
	done

fuzz-corpus: $(FUZZ_DIR)/mkcorpus
	$(FUZZ_DIR)/mkcorpus $(FUZZ_SRC)/corpus

-include $(shell find $(FUZZ_DIR) -name '*.d' 2>/dev/null)
