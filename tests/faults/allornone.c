/*
 * allornone.c - a writer fills a multi-page region with one byte value per
 * release; nobody may ever see two values in it at once.  The release test
 * of tests/130-faults.bats: a release cut half-way must be applied whole or
 * not at all.
 *
 *   allornone HOST PORT writer ROUNDS [--pages P] [--offset BYTES]
 *   allornone HOST PORT reader [--until FILE] [--timeout SECS] [--pages P] [--offset BYTES]
 *   allornone HOST PORT check VALUE [--pages P] [--offset BYTES]
 *
 * The region is P pages (default 400) at a page-aligned offset (default 0).
 * The writer does, for r = 1 .. ROUNDS (at most 255): lock_write(region),
 * every byte of the region = r, unlock_write, and prints "allornone: wrote
 * round r".  Every byte of every page changes, so each page is one diff run
 * and a release of P pages is a fixed number of UPDAT frames (2 for the
 * default 400 pages: a frame carries a little under 256 whole pages).
 * The reader, under lock_read, checks that every byte of the region has
 * the value of its first byte and that the value never goes back, again and
 * again until FILE exists (one more check after that), at most SECS seconds
 * (default 60); it prints "allornone: reader did N checks, saw G values, last
 * V".  `check` reads once and requires every byte to be VALUE: "allornone: OK,
 * value V over P pages".
 *
 * Errors go to stderr: "allornone: torn region: ..." for a mixed region,
 * "allornone: CALL: REASON (CODE)" for a failed call.  Exit 0 ok, 1 on a
 * violation or an error, 2 on bad usage.
 */
#include <errno.h>
#include <stdint.h>
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
		"usage: allornone HOST PORT writer ROUNDS [--pages P] [--offset BYTES]\n"
		"       allornone HOST PORT reader [--until FILE] [--timeout SECS] "
		"[--pages P] [--offset BYTES]\n"
		"       allornone HOST PORT check VALUE [--pages P] [--offset BYTES]\n");
	exit(2);
}

/*
 * Read the region under lock_read; its value, or exit 1 if it is not
 * uniform (naming the first page that differs from the first byte).
 */
static unsigned read_region(const uint8_t *r, size_t len, size_t psize)
{
	unsigned v;
	int rc;

	if ((rc = lock_read((void *)r, len)) != 0)
		fail("lock_read", rc);
	v = r[0];
	for (size_t i = 0; i < len; i++) {
		if (r[i] != v) {
			fprintf(stderr, "allornone: torn region: byte %zu (page "
				"%zu) is %u, byte 0 is %u\n", i, i / psize,
				r[i], v);
			exit(1);
		}
	}
	if ((rc = unlock_read((void *)r, len)) != 0)
		fail("unlock_read", rc);
	return v;
}

int main(int argc, char **argv)
{
	unsigned long long port, arg = 0, pages = 400, offset = 0, timeout = 60;
	size_t psize = (size_t)sysconf(_SC_PAGESIZE), size, len;
	const char *mode, *until = NULL;
	uint8_t *r;
	char *seg;
	int rc, i = 4;

	if (argc < 4)
		usage();
	port = number(argv[2], "PORT");
	mode = argv[3];
	if (strcmp(mode, "writer") == 0 || strcmp(mode, "check") == 0) {
		if (argc < 5)
			usage();
		arg = number(argv[4], strcmp(mode, "writer") ? "VALUE" : "ROUNDS");
		i = 5;
	} else if (strcmp(mode, "reader") != 0) {
		usage();
	}
	for (; i < argc; i++) {
		if (i + 1 >= argc)
			usage();
		if (strcmp(argv[i], "--pages") == 0)
			pages = number(argv[++i], "--pages");
		else if (strcmp(argv[i], "--offset") == 0)
			offset = number(argv[++i], "--offset");
		else if (strcmp(argv[i], "--until") == 0 && mode[0] == 'r')
			until = argv[++i];
		else if (strcmp(argv[i], "--timeout") == 0 && mode[0] == 'r')
			timeout = number(argv[++i], "--timeout");
		else
			usage();
	}
	if (port == 0 || port > 65535 || pages == 0 || arg > 255 ||
	    offset % psize)
		usage();
	setvbuf(stdout, NULL, _IOLBF, 0);

	seg = init_slave(argv[1], (uint16_t)port);
	if (!seg)
		fail("init_slave", dsm_last_error());
	size_dsm(&size, seg, SLAVE);
	len = (size_t)pages * psize;
	if (offset > size || size - offset < len) {
		fprintf(stderr, "allornone: the segment has %zu bytes, %llu pages "
			"at offset %llu do not fit\n", size, pages, offset);
		return 1;
	}
	r = (uint8_t *)seg + offset;

	if (mode[0] == 'w') {
		for (unsigned long long k = 1; k <= arg; k++) {
			if ((rc = lock_write(r, len)) != 0)
				fail("lock_write", rc);
			memset(r, (int)k, len);
			if ((rc = unlock_write(r, len)) != 0)
				fail("unlock_write", rc);
			printf("allornone: wrote round %llu\n", k);
		}
	} else if (mode[0] == 'c') {
		unsigned v = read_region(r, len, psize);

		if (v != arg) {
			fprintf(stderr, "allornone: check: value %u, expected "
				"%llu\n", v, arg);
			return 1;
		}
		printf("allornone: OK, value %u over %llu pages\n", v, pages);
	} else {
		double deadline = now() + (double)timeout;
		unsigned long long checks = 0, seen = 0;
		unsigned v, last = 0;
		int last_round = 0;

		while (!last_round) {
			last_round = !until || access(until, F_OK) == 0;
			if (!last_round && now() > deadline) {
				fprintf(stderr, "allornone: reader: %s still missing "
					"after %llu s\n", until, timeout);
				return 1;
			}
			v = read_region(r, len, psize);
			if (v < last) {
				fprintf(stderr, "allornone: reader: the value went "
					"back from %u to %u\n", last, v);
				return 1;
			}
			if (v != last || checks == 0)
				seen++;
			last = v;
			checks++;
		}
		printf("allornone: reader did %llu checks, saw %llu values, last "
		       "%u\n", checks, seen, last);
	}
	if ((rc = destroy_slave()) != 0)
		fail("destroy_slave", rc);
	return 0;
}
