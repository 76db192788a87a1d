# Common rules of the scenario folders.  A folder's Makefile sets FOLDER
# (its name) and, when it has several programs, NAMES (default: FOLDER),
# then includes this file.  Each program NAME is built from NAME.c against
# libdsm into $(DSM_BUILD)/scenarios/FOLDER/, never into the source folder,
# so builds of several configurations (ARCHI, SANITIZER) do not collide.
# From the top folder `make check-tests` runs it with DSM_ROOT and DSM_BUILD
# set; alone: make -C tests/FOLDER [DSM_BUILD=/abs/path/to/build]

DSM_ROOT ?= ../..
DSM_BUILD ?= $(DSM_ROOT)/build
CC ?= cc

NAMES ?= $(FOLDER)
BUILD_DIR := $(abspath $(DSM_BUILD))
OUT := $(BUILD_DIR)/scenarios/$(FOLDER)

SCENARIO_CFLAGS = -std=c11 -D_GNU_SOURCE -O2 -g -Wall -Wextra \
	-I$(DSM_ROOT)/include -I$(DSM_ROOT)/tests $(CFLAGS)
SCENARIO_LDFLAGS = -L$(BUILD_DIR) -ldsm -Wl,-rpath,$(BUILD_DIR) $(LDFLAGS)

.PHONY: all clean

all: $(NAMES:%=$(OUT)/%)

$(OUT)/%: %.c $(DSM_ROOT)/include/dsm.h $(DSM_ROOT)/tests/scenario.h $(BUILD_DIR)/libdsm.so
	@mkdir -p $(OUT)
	$(CC) $(SCENARIO_CFLAGS) -o $@ $< $(SCENARIO_LDFLAGS)

clean:
	rm -rf $(OUT)
