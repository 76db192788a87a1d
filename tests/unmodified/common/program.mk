# common/program.mk - the build rules every program folder of
# tests/unmodified includes after setting NAME (its folder and program
# name).  The programs are plain POSIX: no dsm header and no libdsm; only
# common/unmod.c, the start-up helpers they share.  The program goes to
# $(DSM_BUILD)/scenarios/unmodified/$(NAME), never into the source folder,
# so builds of several configurations (ARCHI, SANITIZER) do not collide.

DSM_ROOT ?= ../../..
DSM_BUILD ?= $(DSM_ROOT)/build
CC ?= cc

COMMON := $(abspath ../common)
BUILD_DIR := $(abspath $(DSM_BUILD))
OUT := $(BUILD_DIR)/scenarios/unmodified

UNMOD_CFLAGS = -std=c11 -D_GNU_SOURCE -O2 -g -pthread -Wall -Wextra \
	-I$(COMMON) $(CFLAGS)
UNMOD_LDFLAGS = -pthread $(LDFLAGS)
UNMOD_LDLIBS = -lrt

.PHONY: all clean

all: $(OUT)/$(NAME)

$(OUT)/$(NAME): $(NAME).c $(COMMON)/unmod.c $(COMMON)/unmod.h
	@mkdir -p $(OUT)
	$(CC) $(UNMOD_CFLAGS) -o $@ $(NAME).c $(COMMON)/unmod.c \
		$(UNMOD_LDFLAGS) $(UNMOD_LDLIBS)

clean:
	rm -f $(OUT)/$(NAME)
