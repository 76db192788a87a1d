/*
 * counter.c - a shared counter incremented by several nodes under a write
 * lock; the classic lost-update test for a DSM.
 *
 *   counter HOST PORT ITERS [--offset BYTES] [--wait-total N] [--timeout SECS]
 *                           [--hold FILE] [--touch-after FILE] [--print]
 *
 * Each node attaches to the master at HOST:PORT and does ITERS times
 * lock_write(counter) / ++ / unlock_write.  Then:
 *   --wait-total N   polls the counter under lock_read until it reaches N
 *                    (every node has finished), at most --timeout seconds
 *                    (default 60); a value above N is an error too;
 *   --hold FILE      takes lock_write, increments once, creates FILE and
 *                    then blocks forever holding the lock (to be killed);
 *   --touch-after FILE  waits (at most --timeout seconds) until FILE exists,
 *                    then reads the counter without any lock: a page fault
 *                    the test arranges to be unservable (master gone); if
 *                    the read returns anyway it prints "counter: read V
 *                    without a lock" and exits 0;
 * and finally prints "counter: value V", V read under lock_read, and
 * detaches.  ITERS = 0 (with --print, for readability) makes a checker that
 * only prints the value.
 *
 * stdout: "counter: attached at ADDR" once attached, "counter: did N
 * increments", "counter: value V".  Errors go to stderr as "counter: CALL:
 * REASON (CODE)"; exit status 0 on success, 1 on any failure, 2 on bad usage.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "dsm.h"
#include "scenario.h"

static void usage(void)
{
	fprintf(stderr,
		"usage: counter HOST PORT ITERS [--offset BYTES] [--wait-total N]\n"
		"               [--timeout SECS] [--hold FILE] [--touch-after FILE]\n"
		"               [--print]\n");
	exit(2);
}

static uint64_t read_value(uint64_t *counter)
{
	uint64_t v;
	int rc;

	if ((rc = lock_read(counter, sizeof(*counter))) != 0)
		fail("lock_read", rc);
	v = *counter;
	if ((rc = unlock_read(counter, sizeof(*counter))) != 0)
		fail("unlock_read", rc);
	return v;
}

int main(int argc, char **argv)
{
	unsigned long long iters, offset = 0, wait_total = 0, timeout = 60;
	const char *hold = NULL, *touch = NULL;
	int have_wait = 0, rc;
	unsigned long long port;
	size_t size;
	uint64_t *counter;
	char *seg;

	if (argc < 4)
		usage();
	port = number(argv[2], "PORT");
	iters = number(argv[3], "ITERS");
	if (port == 0 || port > 65535)
		usage();
	for (int i = 4; i < argc; i++) {
		if (strcmp(argv[i], "--print") == 0) {
			continue;
		} else if (i + 1 >= argc) {
			usage();
		} else if (strcmp(argv[i], "--offset") == 0) {
			offset = number(argv[++i], "--offset");
		} else if (strcmp(argv[i], "--wait-total") == 0) {
			wait_total = number(argv[++i], "--wait-total");
			have_wait = 1;
		} else if (strcmp(argv[i], "--timeout") == 0) {
			timeout = number(argv[++i], "--timeout");
		} else if (strcmp(argv[i], "--hold") == 0) {
			hold = argv[++i];
		} else if (strcmp(argv[i], "--touch-after") == 0) {
			touch = argv[++i];
		} else {
			usage();
		}
	}
	setvbuf(stdout, NULL, _IOLBF, 0);

	seg = init_slave(argv[1], (uint16_t)port);
	if (!seg)
		fail("init_slave", dsm_last_error());
	size_dsm(&size, seg, SLAVE);
	if (offset % sizeof(uint64_t) || offset + sizeof(uint64_t) > size) {
		fprintf(stderr, "counter: --offset %llu: not an aligned offset "
			"inside the %zu-byte segment\n", offset, size);
		return 1;
	}
	counter = (uint64_t *)(seg + offset);
	printf("counter: attached at %p\n", (void *)seg);

	for (unsigned long long n = 0; n < iters; n++) {
		if ((rc = lock_write(counter, sizeof(*counter))) != 0)
			fail("lock_write", rc);
		(*counter)++;
		if ((rc = unlock_write(counter, sizeof(*counter))) != 0)
			fail("unlock_write", rc);
	}
	printf("counter: did %llu increments\n", iters);

	if (hold) {
		int fd;

		if ((rc = lock_write(counter, sizeof(*counter))) != 0)
			fail("lock_write", rc);
		(*counter)++;
		fd = open(hold, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
		if (fd < 0 || close(fd) != 0) {
			fprintf(stderr, "counter: open(%s): %s\n", hold, strerror(errno));
			return 1;
		}
		printf("counter: holding the lock\n");
		for (;;)
			pause();
	}

	if (touch) {
		double deadline = now() + (double)timeout;

		while (access(touch, F_OK) != 0) {
			struct timespec ts = { 0, 10 * 1000 * 1000 };

			if (now() > deadline) {
				fprintf(stderr, "counter: timed out after %llu s waiting "
					"for %s\n", timeout, touch);
				return 1;
			}
			nanosleep(&ts, NULL);
		}
		printf("counter: read %" PRIu64 " without a lock\n",
		       *(volatile uint64_t *)counter);
		return 0;
	}

	if (have_wait) {
		double deadline = now() + (double)timeout;
		uint64_t v;

		while ((v = read_value(counter)) < wait_total) {
			struct timespec ts = { 0, 10 * 1000 * 1000 };

			if (now() > deadline) {
				fprintf(stderr, "counter: timed out after %llu s waiting "
					"for the total %llu (value %" PRIu64 ")\n",
					timeout, wait_total, v);
				return 1;
			}
			nanosleep(&ts, NULL);
		}
		if (v > wait_total) {
			fprintf(stderr, "counter: value %" PRIu64 " is above the "
				"expected total %llu\n", v, wait_total);
			printf("counter: value %" PRIu64 "\n", v);
			return 1;
		}
	}

	printf("counter: value %" PRIu64 "\n", read_value(counter));
	if ((rc = destroy_slave()) != 0)
		fail("destroy_slave", rc);
	return 0;
}
