/*
 * falseshare.c - several nodes write disjoint bytes of one shared page
 * without locking it; no node may lose another's bytes.
 *
 *   falseshare HOST PORT RANK NRANKS [--rounds R]    a writer
 *   falseshare HOST PORT --check NRANKS [--rounds R] the checker
 *
 * Page 0 of the segment is the shared page: rank r owns every byte i with
 * i % NRANKS == r, so each 8-byte word has bytes of several writers (the
 * densest false sharing there is).  Each round, a writer stores its round
 * value into all of its bytes, then takes and releases a write lock on an
 * unrelated word in page 1 (the release sends its diff), and reads its own
 * bytes back: they must still hold its value, whatever invalidations and
 * flushes the other writers caused meanwhile.
 *
 * After every writer has exited, the checker attaches, takes lock_read on the
 * shared page and verifies that every byte holds its owner's last round
 * value.  It prints "falseshare: OK ..." or one line per rank with wrong
 * bytes.  Exit 0 on success, 1 on a wrong byte or a DSM error, 2 on bad usage.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dsm.h"

static void usage(void)
{
	fprintf(stderr,
		"usage: falseshare HOST PORT RANK NRANKS [--rounds R]\n"
		"       falseshare HOST PORT --check NRANKS [--rounds R]\n");
	exit(2);
}

static unsigned long number(const char *s, const char *what)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, 0);
	if (errno || end == s || *end || s[0] == '-') {
		fprintf(stderr, "falseshare: %s: not a number: '%s'\n", what, s);
		exit(2);
	}
	return v;
}

static void fail(const char *call, int code)
{
	fprintf(stderr, "falseshare: %s: %s (%d)\n", call, dsm_strerror(code), code);
	exit(1);
}

/* What rank r writes in round `round` (1-based): never 0, which is what a
 * byte nobody wrote reads as, and different from the previous round's. */
static uint8_t value(unsigned long r, unsigned long round)
{
	return (uint8_t)(1 + (r * 37 + round * 11) % 251);
}

static int writer(uint8_t *page, uint64_t *lockword, size_t psize,
		  unsigned long rank, unsigned long nranks, unsigned long rounds)
{
	int rc;

	for (unsigned long round = 1; round <= rounds; round++) {
		uint8_t v = value(rank, round);
		size_t lost = 0;

		for (size_t i = rank; i < psize; i += nranks)
			page[i] = v;
		if ((rc = lock_write(lockword, sizeof(*lockword))) != 0)
			fail("lock_write", rc);
		(*lockword)++;
		if ((rc = unlock_write(lockword, sizeof(*lockword))) != 0)
			fail("unlock_write", rc);
		for (size_t i = rank; i < psize; i += nranks)
			if (page[i] != v)
				lost++;
		if (lost) {
			fprintf(stderr, "falseshare: rank %lu lost %zu of its bytes "
				"in round %lu\n", rank, lost, round);
			return 1;
		}
	}
	printf("falseshare: rank %lu wrote %lu rounds\n", rank, rounds);
	return 0;
}

static int checker(uint8_t *page, size_t psize, unsigned long nranks,
		   unsigned long rounds)
{
	size_t *wrong = calloc(nranks, sizeof(*wrong));
	size_t *first = calloc(nranks, sizeof(*first));
	int rc, bad = 0;

	if (!wrong || !first) {
		fprintf(stderr, "falseshare: out of memory\n");
		return 1;
	}
	if ((rc = lock_read(page, psize)) != 0)
		fail("lock_read", rc);
	for (size_t i = 0; i < psize; i++) {
		unsigned long r = i % nranks;

		if (page[i] != value(r, rounds) && wrong[r]++ == 0)
			first[r] = i;
	}
	for (unsigned long r = 0; r < nranks; r++) {
		if (!wrong[r])
			continue;
		bad = 1;
		printf("falseshare: rank %lu: %zu bytes wrong, first at offset "
		       "%zu: got %u, want %u\n", r, wrong[r], first[r],
		       page[first[r]], value(r, rounds));
	}
	if ((rc = unlock_read(page, psize)) != 0)
		fail("unlock_read", rc);
	if (!bad)
		printf("falseshare: OK, %lu ranks x %lu rounds on one %zu-byte page\n",
		       nranks, rounds, psize);
	free(wrong);
	free(first);
	return bad;
}

int main(int argc, char **argv)
{
	unsigned long port, rank = 0, nranks, rounds = 200;
	int check = 0, rc;
	size_t psize = (size_t)sysconf(_SC_PAGESIZE), size;
	uint8_t *seg;

	if (argc < 5)
		usage();
	port = number(argv[2], "PORT");
	if (strcmp(argv[3], "--check") == 0)
		check = 1;
	else
		rank = number(argv[3], "RANK");
	nranks = number(argv[4], "NRANKS");
	for (int i = 5; i < argc; i++) {
		if (strcmp(argv[i], "--rounds") == 0 && i + 1 < argc)
			rounds = number(argv[++i], "--rounds");
		else
			usage();
	}
	if (port == 0 || port > 65535 || nranks == 0 || nranks > psize ||
	    rank >= nranks || rounds == 0)
		usage();
	setvbuf(stdout, NULL, _IOLBF, 0);

	seg = init_slave(argv[1], (uint16_t)port);
	if (!seg)
		fail("init_slave", dsm_last_error());
	size_dsm(&size, seg, SLAVE);
	if (size < 2 * psize) {
		fprintf(stderr, "falseshare: the segment has %zu bytes, it needs "
			"two pages (%zu)\n", size, 2 * psize);
		return 1;
	}
	if (check)
		rc = checker(seg, psize, nranks, rounds);
	else
		rc = writer(seg, (uint64_t *)(seg + psize), psize, rank, nranks,
			    rounds);
	if (rc)
		return rc;
	if ((rc = destroy_slave()) != 0)
		fail("destroy_slave", rc);
	return 0;
}
