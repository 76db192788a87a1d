/*
 * scan.c - the DSM node roles of the throughput metrics: filling the
 * segment with a known pattern, a cold sequential scan of it, and one of
 * the sixteen nodes of master_tput.
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench.h"
#include "dsm.h"

#define CHUNK (1u << 20)

/* The known content: word i of the segment. */
static inline uint64_t pattern(uint64_t i, uint64_t seed)
{
	return (i + 1) * 0x9e3779b97f4a7c15ull ^ seed;
}

static void check(int rc, const char *call)
{
	if (rc != 0)
		child_fail("%s: %s", call, dsm_strerror(rc));
}

/*
 * Role fill MASTER BYTES SEED: under lock_write of the whole range, write
 * pattern() to every u64 of the first BYTES, then unlock_write (the
 * release sends it all to the master).  v[0] ns writing, v[1] ns in
 * unlock_write.
 */
int role_fill(char **args)
{
	size_t bytes = strtoull(args[1], NULL, 0);
	uint64_t seed = strtoull(args[2], NULL, 0);
	struct report h = { 0 };
	uint64_t *w;
	double t;

	w = (uint64_t *)bnode_attach(args[0], bytes);
	child_ready(0);
	h.t0 = now_ns();
	check(lock_write(w, bytes), "lock_write");
	t = now_ns();
	for (size_t i = 0; i < bytes / sizeof(*w); i++)
		w[i] = pattern(i, seed);
	h.v[0] = now_ns() - t;
	t = now_ns();
	check(unlock_write(w, bytes), "unlock_write");
	h.v[1] = now_ns() - t;
	h.t1 = now_ns();
	child_report(&h, NULL);
	bnode_detach();
	return 0;
}

/*
 * Role scan MASTER BYTES SEED: a fresh node (nothing cached) takes
 * lock_read of the range, sums every u64 of it in order, timing each MiB,
 * and unlocks.  The whole scan (v[2]) includes lock_read, so that pages a
 * lock grant might bring along are not left out of the time.  Samples: us
 * per MiB.  v[0] 1 if the sum is the pattern's, v[1] BYTES, v[2] ns from
 * lock_read called to the last word read.
 */
int role_scan(char **args)
{
	size_t bytes = strtoull(args[1], NULL, 0);
	uint64_t seed = strtoull(args[2], NULL, 0), sum = 0, want = 0;
	size_t chunks = bytes / CHUNK, words = CHUNK / sizeof(uint64_t);
	double *s = calloc(chunks + 1, sizeof(*s));
	struct report h = { 0 };
	const uint64_t *w;

	if (!s || bytes % CHUNK)
		child_fail("bad size or out of memory");
	w = (const uint64_t *)bnode_attach(args[0], bytes);
	h.v[3] = timer_overhead_ns();
	child_ready(0);
	h.t0 = now_ns();
	check(lock_read((void *)w, bytes), "lock_read");
	for (size_t c = 0; c < chunks; c++) {
		const uint64_t *p = w + c * words;
		double t = now_ns();

		for (size_t i = 0; i < words; i++)
			sum += p[i];
		s[c] = (now_ns() - t) / 1e3;
	}
	h.t1 = now_ns();
	check(unlock_read((void *)w, bytes), "unlock_read");
	for (size_t i = 0; i < bytes / sizeof(uint64_t); i++)
		want += pattern(i, seed);
	h.v[0] = sum == want;
	h.v[1] = (double)bytes;
	h.v[2] = h.t1 - h.t0;
	h.n = (uint32_t)chunks;
	child_report(&h, s);
	free(s);
	bnode_detach();
	return 0;
}

/*
 * Role tputnode MASTER FIRST NPAGES WARM: one of master_tput's nodes.  Its
 * region is pages FIRST..FIRST+WARM+NPAGES-1 of the segment, nobody
 * else's.  WARM pages are read before ready; then one byte of each of the
 * NPAGES others, in a random order (one fault, one page).  Samples: us per
 * fault; t0/t1 the node's window; v[5] CPU time (s) the node used in it.
 */
int role_tputnode(char **args)
{
	size_t first = strtoull(args[1], NULL, 0),
	       n = strtoull(args[2], NULL, 0);
	size_t warm = strtoull(args[3], NULL, 0);
	size_t ps = (size_t)sysconf(_SC_PAGESIZE);
	size_t *order = order_random(n, 0x5eed0100 + first);
	double *s = calloc(n + 1, sizeof(*s));
	struct report h = { 0 };
	unsigned sink = 0;
	uint8_t *region;

	if (!order || !s)
		child_fail("out of memory");
	region = bnode_attach(args[0], (first + warm + n) * ps) + first * ps;
	for (size_t i = 0; i < warm; i++)
		sink += ((volatile uint8_t *)region)[(n + i) * ps];
	child_ready(0);
	h.v[5] = cpu_self_s();
	h.t0 = now_ns();
	for (size_t i = 0; i < n; i++) {
		volatile uint8_t *p = region + order[i] * ps;
		double t = now_ns();

		sink += *p;
		s[i] = (now_ns() - t) / 1e3;
	}
	h.t1 = now_ns();
	h.v[5] = cpu_self_s() - h.v[5];
	h.v[4] = sink;
	h.n = (uint32_t)n;
	child_report(&h, s);
	free(s);
	free(order);
	bnode_detach();
	return 0;
}
