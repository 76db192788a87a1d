/*
 * pattern.c - write a deterministic byte pattern over a range of the
 * segment under one write lock, or check that a range holds it: a release
 * of many pages whose every byte can be verified later, for instance by a
 * node of a master restarted from its --store file (tests/150-store.bats).
 *
 *   pattern HOST PORT write OFFSET LEN SEED [OFFSET LEN SEED]...
 *   pattern HOST PORT check OFFSET LEN SEED [OFFSET LEN SEED]...
 *
 * The byte at segment offset o for SEED s is byte o % 8 of
 * splitmix64(s * golden ^ o / 8): it depends on the absolute offset, so a
 * part of a written range can be checked on its own, and ranges written with
 * different seeds next to each other are told apart.  SEED 0 is all zero
 * bytes (what an untouched segment holds).
 *
 * Ranges are handled in the order given, each under a lock of its own:
 * write: lock_write(OFFSET, LEN), fill, unlock_write;
 * check: lock_read(OFFSET, LEN), compare every byte, unlock_read;
 * then destroy_slave.  Each range prints "pattern: LEN bytes at OFFSET seed
 * SEED sum HEX" (HEX: FNV-1a 64 of the range's bytes after the call), check
 * adds ": N wrong byte(s)" to it and the first wrong byte of the range on
 * stderr, and ends with "pattern: N wrong byte(s) in R range(s)".  Errors
 * go to stderr as "pattern: CALL: REASON (CODE)".  Exit 0 ok, 1 a wrong
 * byte or a DSM error, 2 bad usage.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dsm.h"
#include "scenario.h"

static void usage(void)
{
	fprintf(stderr, "usage: pattern HOST PORT write|check OFFSET LEN SEED "
		"[OFFSET LEN SEED]...\n");
	exit(2);
}

static uint64_t splitmix64(uint64_t x)
{
	x += 0x9E3779B97F4A7C15ull;
	x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
	x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
	return x ^ (x >> 31);
}

/* The pattern byte at segment offset o for seed s (0: zero). */
static uint8_t pattern_byte(uint64_t s, uint64_t o)
{
	if (s == 0)
		return 0;
	return (uint8_t)(splitmix64(s * 0x9E3779B97F4A7C15ull ^ (o >> 3)) >>
			 (8 * (o & 7)));
}

static uint64_t fnv1a(const volatile uint8_t *p, size_t len)
{
	uint64_t h = 0xCBF29CE484222325ull;

	for (size_t i = 0; i < len; i++) {
		h ^= p[i];
		h *= 0x100000001B3ull;
	}
	return h;
}

/*
 * Write (or check) the pattern of seed over [off, off+len) of seg under a
 * lock of its own; returns the number of wrong bytes found (0 for write).
 * Exits on a DSM error.
 */
static uint64_t do_range(char *seg, int writing, unsigned long long off,
			 unsigned long long len, unsigned long long seed)
{
	volatile uint8_t *p = (volatile uint8_t *)seg + off;
	uint64_t wrong = 0, first = 0;
	int rc;

	if (writing) {
		if ((rc = lock_write(seg + off, (size_t)len)) != 0)
			fail("lock_write", rc);
		for (uint64_t i = 0; i < len; i++)
			p[i] = pattern_byte(seed, off + i);
		printf("pattern: %llu bytes at %llu seed %llu sum %016" PRIx64
		       "\n", len, off, seed, fnv1a(p, (size_t)len));
		if ((rc = unlock_write(seg + off, (size_t)len)) != 0)
			fail("unlock_write", rc);
		return 0;
	}
	if ((rc = lock_read(seg + off, (size_t)len)) != 0)
		fail("lock_read", rc);
	for (uint64_t i = 0; i < len; i++) {
		if (p[i] != pattern_byte(seed, off + i) && wrong++ == 0)
			first = i;
	}
	printf("pattern: %llu bytes at %llu seed %llu sum %016" PRIx64
	       ": %" PRIu64 " wrong byte(s)\n", len, off, seed,
	       fnv1a(p, (size_t)len), wrong);
	if (wrong)
		fprintf(stderr, "pattern: first wrong byte at offset %llu: "
			"0x%02x, expected 0x%02x\n", off + first, p[first],
			pattern_byte(seed, off + first));
	if ((rc = unlock_read(seg + off, (size_t)len)) != 0)
		fail("unlock_read", rc);
	return wrong;
}

int main(int argc, char **argv)
{
	unsigned long long port;
	uint64_t wrong = 0;
	int writing, rc;
	size_t size;
	char *seg;

	if (argc < 7 || (argc - 4) % 3 != 0)
		usage();
	port = number(argv[2], "PORT");
	if (port == 0 || port > 65535)
		usage();
	if (strcmp(argv[3], "write") == 0)
		writing = 1;
	else if (strcmp(argv[3], "check") == 0)
		writing = 0;
	else
		usage();
	for (int i = 4; i < argc; i++)
		number(argv[i], (i - 4) % 3 == 0 ? "OFFSET" :
		       (i - 4) % 3 == 1 ? "LEN" : "SEED");
	setvbuf(stdout, NULL, _IOLBF, 0);

	seg = init_slave(argv[1], (uint16_t)port);
	if (!seg)
		fail("init_slave", dsm_last_error());
	size_dsm(&size, seg, SLAVE);
	for (int i = 4; i < argc; i += 3) {
		unsigned long long off = number(argv[i], "OFFSET");
		unsigned long long len = number(argv[i + 1], "LEN");
		unsigned long long seed = number(argv[i + 2], "SEED");

		if (len == 0 || off >= size || len > size - off) {
			fprintf(stderr, "pattern: %llu bytes at %llu: not a "
				"range of the %zu-byte segment\n", len, off,
				size);
			return 1;
		}
		wrong += do_range(seg, writing, off, len, seed);
	}
	if (!writing)
		printf("pattern: %" PRIu64 " wrong byte(s) in %d range(s)\n",
		       wrong, (argc - 4) / 3);
	if ((rc = destroy_slave()) != 0)
		fail("destroy_slave", rc);
	return wrong ? 1 : 0;
}
