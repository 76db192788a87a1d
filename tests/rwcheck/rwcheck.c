/*
 * rwcheck.c - readers and writers of a multi-page region; a reader under
 * lock_read must never see a half-done update.
 *
 *   rwcheck HOST PORT writer ITERS [--pages P]
 *   rwcheck HOST PORT reader ITERS [--pages P]
 *   rwcheck HOST PORT check GENERATION [--pages P]
 *
 * The region starts half-way into page 0 and is P pages long (default 3), so
 * it touches P + 1 pages and no lock covers it by accident of alignment.  It
 * holds 64-bit words with the invariant
 *
 *     word[i] == gen * (2 * i + 1)      (mod 2^64, gen = word[0])
 *
 * which the zero-filled segment satisfies with gen 0.  A writer does ITERS
 * times: lock_write(region), check the invariant, write generation gen + 1,
 * unlock_write.  A reader does ITERS times: lock_read(region), check the
 * invariant and that gen never goes backwards, unlock_read.  A stale page, a
 * torn update or a lost release breaks the invariant somewhere.  `check`
 * verifies the invariant once and that the generation is GENERATION (the
 * writers' iterations added up).
 *
 * Exit 0 on success, 1 on a violation or a DSM error, 2 on bad usage.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dsm.h"
#include "scenario.h"

static void usage(void)
{
	fprintf(stderr,
		"usage: rwcheck HOST PORT writer|reader ITERS [--pages P]\n"
		"       rwcheck HOST PORT check GENERATION [--pages P]\n");
	exit(2);
}

/* 0 if the region satisfies the invariant; else print the first bad word. */
static int verify(const char *who, const uint64_t *w, size_t n, uint64_t *gen)
{
	*gen = w[0];
	for (size_t i = 1; i < n; i++) {
		uint64_t want = *gen * (2 * (uint64_t)i + 1);

		if (w[i] != want) {
			fprintf(stderr, "rwcheck: %s: violation: word %zu (page "
				"boundary every %zu words) is %#" PRIx64 ", "
				"generation %" PRIu64 " expects %#" PRIx64 "\n",
				who, i, (size_t)sysconf(_SC_PAGESIZE) / 8, w[i],
				*gen, want);
			return 1;
		}
	}
	return 0;
}

int main(int argc, char **argv)
{
	unsigned long long port, iters, pages = 3;
	size_t psize = (size_t)sysconf(_SC_PAGESIZE), size, len, n;
	uint64_t *w, gen = 0, last = 0, seen = 0;
	const char *mode;
	char *seg;
	int rc;

	if (argc < 5)
		usage();
	port = number(argv[2], "PORT");
	mode = argv[3];
	iters = number(argv[4], "ITERS");
	for (int i = 5; i < argc; i++) {
		if (strcmp(argv[i], "--pages") == 0 && i + 1 < argc)
			pages = number(argv[++i], "--pages");
		else
			usage();
	}
	if (port == 0 || port > 65535 || pages == 0 ||
	    (strcmp(mode, "writer") && strcmp(mode, "reader") &&
	     strcmp(mode, "check")))
		usage();
	setvbuf(stdout, NULL, _IOLBF, 0);

	seg = init_slave(argv[1], (uint16_t)port);
	if (!seg)
		fail("init_slave", dsm_last_error());
	size_dsm(&size, seg, SLAVE);
	len = (size_t)pages * psize;
	if (size < len + psize) {
		fprintf(stderr, "rwcheck: the segment has %zu bytes, %llu pages "
			"need %zu\n", size, pages, len + psize);
		return 1;
	}
	w = (uint64_t *)(seg + psize / 2);
	n = len / sizeof(*w);

	if (strcmp(mode, "check") == 0) {
		if ((rc = lock_read(w, len)) != 0)
			fail("lock_read", rc);
		if (verify("check", w, n, &gen))
			return 1;
		if ((rc = unlock_read(w, len)) != 0)
			fail("unlock_read", rc);
		if (gen != iters) {
			fprintf(stderr, "rwcheck: check: generation %" PRIu64
				", expected %llu\n", gen, iters);
			return 1;
		}
		printf("rwcheck: OK, generation %" PRIu64 " over %llu pages\n",
		       gen, pages);
	} else if (strcmp(mode, "writer") == 0) {
		for (unsigned long long k = 0; k < iters; k++) {
			if ((rc = lock_write(w, len)) != 0)
				fail("lock_write", rc);
			if (verify("writer", w, n, &gen))
				return 1;
			gen++;
			/* Last word first: a reader that could see a partial
			 * update would find word[0] disagreeing with the rest. */
			for (size_t i = n; i-- > 0;)
				w[i] = gen * (2 * (uint64_t)i + 1);
			if ((rc = unlock_write(w, len)) != 0)
				fail("unlock_write", rc);
		}
		printf("rwcheck: writer wrote %llu generations, last %" PRIu64 "\n",
		       iters, gen);
	} else {
		for (unsigned long long k = 0; k < iters; k++) {
			if ((rc = lock_read(w, len)) != 0)
				fail("lock_read", rc);
			if (verify("reader", w, n, &gen))
				return 1;
			if ((rc = unlock_read(w, len)) != 0)
				fail("unlock_read", rc);
			if (gen < last) {
				fprintf(stderr, "rwcheck: reader: generation went "
					"back from %" PRIu64 " to %" PRIu64 "\n",
					last, gen);
				return 1;
			}
			if (gen != last || k == 0)
				seen++;
			last = gen;
		}
		printf("rwcheck: reader did %llu checks, saw %" PRIu64
		       " generations, last %" PRIu64 "\n", iters, seen, last);
	}
	if ((rc = destroy_slave()) != 0)
		fail("destroy_slave", rc);
	return 0;
}
