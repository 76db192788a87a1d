/*
 * test_diff.c - unit tests of the diff records (include/dsm_diff.h): the
 * node's encoder (preload/diff.c) and the master's checker and applier
 * (master/diff_apply.c), separately and end to end.
 *
 * The property everything hangs on is exactness: a record carries the bytes
 * that differ from the twin and no other, so two nodes writing neighbouring
 * bytes of one page (false sharing) never overwrite each other.
 */
#include <errno.h>
#include <stdint.h>
#include <string.h>

#include "check.h"
#include "dsm_diff.h"

#define P 4096u			/* page size of most cases */
#define SEG_PAGES 8u
#define SEG (SEG_PAGES * P)

static uint64_t rng_state;

static uint32_t rnd(void)
{
	/* xorshift64*: deterministic per seed, good enough for test data */
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return (uint32_t)((rng_state * 0x2545F4914F6CDD1Dull) >> 32);
}

static void fill_random(uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)rnd();
}

/* Encode with a buffer of exactly DSM_DIFF_MAX(page) bytes followed by a guard. */
static ssize_t encode(uint8_t **out, CONFIG_LEN off, const uint8_t *cur,
		      const uint8_t *twin, size_t page)
{
	size_t cap = DSM_DIFF_MAX(page);

	*out = guarded_alloc(cap);
	memset(*out, 0xAA, cap);
	return dsm_diff_encode(*out, cap, off, cur, twin, page);
}

static long check(const uint8_t *p, size_t len, size_t seg, size_t page,
		  const char **why)
{
	/* Copy into a guarded buffer: the checker must not read past len. */
	uint8_t *g = guarded_alloc(len);
	long n;

	memcpy(g, p, len);
	*why = NULL;
	n = dsm_diff_check(len ? g : NULL, len, seg, page, why);
	guarded_free(g, len);
	return n;
}

/*
 * Walk one record by hand and verify it is exact against twin/cur: every run
 * byte differs from the twin, every differing byte is in a run, runs ascend.
 * Returns the number of runs, -1 if the record is malformed.
 */
static long runs_exact(const uint8_t *rec, size_t len, const uint8_t *cur,
		       const uint8_t *twin, size_t page, CONFIG_LEN want_off)
{
	size_t pos = DSM_DIFF_REC_HDR, prev_end = 0;
	size_t unchanged = 0, wrong = 0, missed = 0;
	uint32_t nruns;
	uint8_t *seen = calloc(page, 1);

	if (!seen || len < DSM_DIFF_REC_HDR)
		goto bad;
	CHECK(get_len(rec) == want_off);
	nruns = get_u32(rec + DSM_LEN_BYTES);
	for (uint32_t k = 0; k < nruns; k++) {
		if (len - pos < DSM_DIFF_RUN_HDR)
			goto bad;
		size_t o = get_u16(rec + pos), n = get_u16(rec + pos + 2);

		pos += DSM_DIFF_RUN_HDR;
		if (n == 0 || o + n > page || o < prev_end || len - pos < n)
			goto bad;
		for (size_t i = 0; i < n; i++) {
			if (cur[o + i] == twin[o + i])
				unchanged++;
			if (rec[pos + i] != cur[o + i])
				wrong++;
			seen[o + i] = 1;
		}
		pos += n;
		prev_end = o + n;
	}
	CHECKF(pos == len, "record is %zu bytes, runs end at %zu", len, pos);
	for (size_t i = 0; i < page; i++)
		if (cur[i] != twin[i] && !seen[i])
			missed++;
	CHECKF(unchanged == 0, "runs carry %zu unchanged bytes", unchanged);
	CHECKF(wrong == 0, "runs carry %zu bytes that are not the page's", wrong);
	CHECKF(missed == 0, "%zu changed bytes are in no run", missed);
	free(seen);
	return (long)nruns;
bad:
	free(seen);
	CHECK(!"record malformed");
	return -1;
}

static void test_identical(void)
{
	uint8_t twin[P], cur[P], *out;

	fill_random(twin, P);
	memcpy(cur, twin, P);
	CHECK(encode(&out, 0, cur, twin, P) == 0);
	/* Nothing written at all. */
	for (size_t i = 0; i < DSM_DIFF_MAX(P); i++)
		if (out[i] != 0xAA) {
			CHECKF(0, "identical page wrote byte %zu", i);
			break;
		}
	guarded_free(out, DSM_DIFF_MAX(P));

	/* Even with no room at all an unchanged page is not an error. */
	uint8_t one;
	errno = 0;
	ssize_t n = dsm_diff_encode(&one, 0, 0, cur, twin, P);
	CHECKF(n == 0 || (n == -1 && errno == ENOBUFS), "n=%zd", n);
}

/* One changed byte at `at`: a record with one run of length 1. */
static void one_byte(size_t at)
{
	uint8_t twin[P], cur[P], *out;
	const char *why;
	ssize_t n;

	memset(twin, 0x11, P);
	memcpy(cur, twin, P);
	cur[at] = 0x22;
	n = encode(&out, 3 * P, cur, twin, P);
	REQUIRE(n == (ssize_t)(DSM_DIFF_REC_HDR + DSM_DIFF_RUN_HDR + 1),
		"byte %zu: %zd bytes", at, n);
	CHECK(get_len(out) == 3 * P);
	CHECK(get_u32(out + DSM_LEN_BYTES) == 1);
	CHECK(get_u16(out + DSM_DIFF_REC_HDR) == at);
	CHECK(get_u16(out + DSM_DIFF_REC_HDR + 2) == 1);
	CHECK(out[DSM_DIFF_REC_HDR + DSM_DIFF_RUN_HDR] == 0x22);
	CHECK(out[n] == 0xAA);
	CHECK(check(out, (size_t)n, SEG, P, &why) == 1);

	uint8_t *seg = malloc(SEG);
	memset(seg, 0x11, SEG);
	dsm_diff_apply(seg, out, (size_t)n, P, NULL, NULL);
	for (size_t i = 0; i < SEG; i++)
		if (seg[i] != (i == 3 * P + at ? 0x22 : 0x11)) {
			CHECKF(0, "byte %zu: applied diff changed segment byte %zu",
			       at, i);
			break;
		}
	free(seg);
	guarded_free(out, DSM_DIFF_MAX(P));
}

static void test_single_bytes(void)
{
	one_byte(0);
	one_byte(1);
	one_byte(7);
	one_byte(8);
	one_byte(100);
	one_byte(P / 2);
	one_byte(P - 9);
	one_byte(P - 8);
	one_byte(P - 2);
	one_byte(P - 1);
}

static void record_page(void *ctx, size_t page_index)
{
	size_t *log = ctx;

	log[++log[0]] = page_index;
}

/*
 * Two writers with the same twin change neighbouring bytes (the same word,
 * interleaved bytes); the home copy gets both diffs, in either order, and
 * must end up with both writers' bytes.
 */
static void test_two_writers(void)
{
	uint8_t twin[P], a[P], b[P], want[P], home[SEG];
	uint8_t *da, *db;
	ssize_t na, nb;
	const char *why;

	for (int pattern = 0; pattern < 4; pattern++) {
		fill_random(twin, P);
		memcpy(a, twin, P);
		memcpy(b, twin, P);
		memcpy(want, twin, P);
		for (size_t i = 0; i < P; i++) {
			int mine;

			switch (pattern) {
			case 0:	/* two adjacent bytes only */
				mine = i == 10 ? 0 : i == 11 ? 1 : -1;
				break;
			case 1:	/* interleaved bytes over the whole page */
				mine = (int)(i % 2);
				break;
			case 2:	/* halves of every 8-byte word */
				mine = (int)(i % 8 / 4);
				break;
			default: /* random owner, some bytes untouched */
				mine = (int)(rnd() % 3) - 1;
				break;
			}
			if (mine < 0)
				continue;
			uint8_t v = (uint8_t)(twin[i] + 1 + rnd() % 255);
			(mine ? b : a)[i] = v;
			want[i] = v;
		}
		na = encode(&da, P, a, twin, P);
		nb = encode(&db, P, b, twin, P);
		REQUIRE(na > 0 && nb > 0, "pattern %d: %zd %zd", pattern, na, nb);
		CHECK(runs_exact(da, (size_t)na, a, twin, P, P) > 0);
		CHECK(runs_exact(db, (size_t)nb, b, twin, P, P) > 0);
		CHECK(check(da, (size_t)na, SEG, P, &why) == 1);
		CHECK(check(db, (size_t)nb, SEG, P, &why) == 1);

		for (int order = 0; order < 2; order++) {
			size_t log[4] = { 0 };

			memset(home, 0, sizeof(home));
			memcpy(home + P, twin, P);
			if (order == 0) {
				dsm_diff_apply(home, da, (size_t)na, P, record_page, log);
				dsm_diff_apply(home, db, (size_t)nb, P, record_page, log);
			} else {
				dsm_diff_apply(home, db, (size_t)nb, P, record_page, log);
				dsm_diff_apply(home, da, (size_t)na, P, record_page, log);
			}
			CHECKF(memcmp(home + P, want, P) == 0,
			       "pattern %d order %d lost a writer's bytes", pattern, order);
			CHECK(log[0] == 2 && log[1] == 1 && log[2] == 1);
			/* Neighbouring pages untouched. */
			for (size_t i = 0; i < P; i++)
				if (home[i] || home[2 * P + i]) {
					CHECKF(0, "pattern %d: wrote outside the page", pattern);
					break;
				}
		}
		guarded_free(da, DSM_DIFF_MAX(P));
		guarded_free(db, DSM_DIFF_MAX(P));
	}
}

/* Every other byte changed: the largest record, and it fits DSM_DIFF_MAX. */
static void test_alternating(void)
{
	for (size_t page = 64; page <= 65536; page *= 4) {
		for (size_t phase = 0; phase < 2; phase++) {
			uint8_t *twin = calloc(page, 1), *cur = calloc(page, 1), *out;
			uint8_t *home = calloc(page, 1);
			const char *why;
			ssize_t n;

			for (size_t i = phase; i < page; i += 2)
				cur[i] = 0xFF;
			n = encode(&out, 0, cur, twin, page);
			CHECKF(n == (ssize_t)(DSM_DIFF_REC_HDR +
					      page / 2 * (DSM_DIFF_RUN_HDR + 1)),
			       "page %zu phase %zu: %zd bytes", page, phase, n);
			CHECK(n <= (ssize_t)DSM_DIFF_MAX(page));
			if (n > 0) {
				CHECK(get_u32(out + DSM_LEN_BYTES) == page / 2);
				CHECK(check(out, (size_t)n, page, page, &why) == 1);
				dsm_diff_apply(home, out, (size_t)n, page, NULL, NULL);
				CHECK(memcmp(home, cur, page) == 0);
			}
			guarded_free(out, DSM_DIFF_MAX(page));
			free(twin);
			free(cur);
			free(home);
		}
	}
}

/* A cap too small fails with ENOBUFS and writes nothing beyond the cap. */
static void test_enobufs(void)
{
	uint8_t twin[P], cur[P];
	uint8_t *out;
	ssize_t need;

	memset(twin, 0, P);
	memcpy(cur, twin, P);
	cur[5] = 1;
	cur[600] = 2;
	cur[601] = 3;
	need = encode(&out, 0, cur, twin, P);
	CHECK(need == (ssize_t)(DSM_DIFF_REC_HDR + 2 * DSM_DIFF_RUN_HDR + 3));
	guarded_free(out, DSM_DIFF_MAX(P));

	for (size_t cap = 0; cap < (size_t)need; cap++) {
		uint8_t *g = guarded_alloc(cap);

		errno = 0;
		ssize_t n = dsm_diff_encode(cap ? g : NULL, cap, 0, cur, twin, P);
		CHECKF(n == -1 && errno == ENOBUFS, "cap %zu: %zd errno %d",
		       cap, n, errno);
		guarded_free(g, cap);
	}
	out = guarded_alloc((size_t)need);
	CHECK(dsm_diff_encode(out, (size_t)need, 0, cur, twin, P) == need);
	guarded_free(out, (size_t)need);

	/* The full change needs the whole page: half a page is not enough. */
	memset(cur, 0x5A, P);
	out = guarded_alloc(P / 2);
	errno = 0;
	CHECK(dsm_diff_encode(out, P / 2, 0, cur, twin, P) == -1 && errno == ENOBUFS);
	guarded_free(out, P / 2);
}

static void test_full_page(void)
{
	uint8_t twin[P], cur[P], *out;
	const char *why;
	ssize_t n;

	memset(twin, 0, P);
	memset(cur, 0xC3, P);
	n = encode(&out, 0, cur, twin, P);
	REQUIRE(n == (ssize_t)(DSM_DIFF_REC_HDR + DSM_DIFF_RUN_HDR + P), "%zd", n);
	CHECK(get_u32(out + DSM_LEN_BYTES) == 1);
	CHECK(get_u16(out + DSM_DIFF_REC_HDR) == 0);
	CHECK(get_u16(out + DSM_DIFF_REC_HDR + 2) == P);
	CHECK(check(out, (size_t)n, P, P, &why) == 1);
	guarded_free(out, DSM_DIFF_MAX(P));

	/* 64 KiB pages: a full change is split into runs of at most 65535. */
	size_t big = 65536;
	uint8_t *t = calloc(big, 1), *c = malloc(big), *home = calloc(big, 1);

	memset(c, 0x77, big);
	n = encode(&out, 0, c, t, big);
	CHECK(n > 0 && n <= (ssize_t)DSM_DIFF_MAX(big));
	if (n > 0) {
		CHECK(get_u32(out + DSM_LEN_BYTES) == 2);
		CHECK(runs_exact(out, (size_t)n, c, t, big, 0) == 2);
		CHECK(check(out, (size_t)n, big, big, &why) == 1);
		dsm_diff_apply(home, out, (size_t)n, big, NULL, NULL);
		CHECK(memcmp(home, c, big) == 0);
	}
	guarded_free(out, DSM_DIFF_MAX(big));
	free(t);
	free(c);
	free(home);
}

/*
 * Random twins and random modifications (runs of random length, single
 * bytes, bytes "changed" to their old value): encode, check, apply to a copy
 * of the twin inside a segment, and the page must equal cur, nothing else
 * touched.
 */
static void test_random(void)
{
	static uint8_t seg[SEG], want[SEG];
	uint8_t twin[P], cur[P];
	const char *why;

	for (uint64_t seed = 1; seed <= 3000; seed++) {
		rng_state = seed * 0x9E3779B97F4A7C15ull + 1;
		fill_random(twin, P);
		memcpy(cur, twin, P);
		unsigned nmods = rnd() % 40;
		for (unsigned m = 0; m < nmods; m++) {
			size_t at = rnd() % P, len;

			switch (rnd() % 4) {
			case 0: len = 1; break;
			case 1: len = rnd() % 16 + 1; break;
			case 2: len = rnd() % 512 + 1; break;
			default: len = rnd() % P + 1; break;
			}
			if (at + len > P)
				len = P - at;
			for (size_t i = at; i < at + len; i++)
				cur[i] = rnd() % 3 == 0 ? twin[i] : (uint8_t)rnd();
		}
		CONFIG_LEN off = (CONFIG_LEN)(rnd() % SEG_PAGES * P);
		uint8_t *out;
		ssize_t n = encode(&out, off, cur, twin, P);

		if (memcmp(cur, twin, P) == 0) {
			CHECKF(n == 0, "seed %llu: unchanged page gave %zd",
			       (unsigned long long)seed, n);
			guarded_free(out, DSM_DIFF_MAX(P));
			continue;
		}
		if (n <= 0 || n > (ssize_t)DSM_DIFF_MAX(P)) {
			CHECKF(0, "seed %llu: encode gave %zd", (unsigned long long)seed, n);
			guarded_free(out, DSM_DIFF_MAX(P));
			continue;
		}
		CHECKF(runs_exact(out, (size_t)n, cur, twin, P, off) > 0, "seed %llu",
		       (unsigned long long)seed);
		CHECKF(check(out, (size_t)n, SEG, P, &why) == 1, "seed %llu: %s",
		       (unsigned long long)seed, why ? why : "");

		fill_random(seg, SEG);
		memcpy(seg + off, twin, P);
		memcpy(want, seg, SEG);
		memcpy(want + off, cur, P);
		size_t log[4] = { 0 };
		dsm_diff_apply(seg, out, (size_t)n, P, record_page, log);
		CHECKF(memcmp(seg, want, SEG) == 0, "seed %llu: apply differs",
		       (unsigned long long)seed);
		CHECK(log[0] == 1 && log[1] == off / P);
		guarded_free(out, DSM_DIFF_MAX(P));
	}
}

/* Several records back to back in one UPDAT payload. */
static void test_multi_record(void)
{
	uint8_t twin[3][P], cur[3][P], buf[3 * DSM_DIFF_MAX(P)];
	static uint8_t seg[SEG];
	size_t len = 0, ends[3];
	const char *why;
	static const CONFIG_LEN offs[3] = { 0, 5 * P, (SEG_PAGES - 1) * P };

	rng_state = 42;
	memset(seg, 0, SEG);
	for (int k = 0; k < 3; k++) {
		fill_random(twin[k], P);
		memcpy(cur[k], twin[k], P);
		for (int m = 0; m < 20; m++)
			cur[k][rnd() % P] ^= 0x40;
		memcpy(seg + offs[k], twin[k], P);
		ssize_t n = dsm_diff_encode(buf + len, sizeof(buf) - len, offs[k],
					    cur[k], twin[k], P);
		REQUIRE(n > 0, "record %d: %zd", k, n);
		len += (size_t)n;
		ends[k] = len;
	}
	CHECK(check(buf, len, SEG, P, &why) == 3);
	size_t log[8] = { 0 };
	dsm_diff_apply(seg, buf, len, P, record_page, log);
	CHECK(log[0] == 3);
	for (int k = 0; k < 3; k++) {
		CHECK(memcmp(seg + offs[k], cur[k], P) == 0);
		CHECK(log[k + 1] == offs[k] / P);
	}

	/* Cutting the payload anywhere but at a record boundary is refused. */
	CHECK(check(buf, 0, SEG, P, &why) == 0);
	for (size_t cut = 1; cut < len; cut++) {
		long want = cut == ends[0] ? 1 : cut == ends[1] ? 2 : -1;
		long got = check(buf, cut, SEG, P, &why);

		CHECKF(got == want, "cut at %zu of %zu: %ld, want %ld", cut, len,
		       got, want);
		if (got == -1)
			CHECKF(why != NULL && *why, "cut at %zu: no reason", cut);
	}
}

/* Build one record by hand: offset, declared nruns, then (o, n) pairs. */
struct run { unsigned o, n; };

static size_t make_record(uint8_t *p, CONFIG_LEN off, uint32_t nruns,
			  const struct run *runs, size_t count)
{
	size_t w = DSM_DIFF_REC_HDR;

	put_len(p, off);
	put_u32(p + DSM_LEN_BYTES, nruns);
	for (size_t k = 0; k < count; k++) {
		put_u16(p + w, (uint16_t)runs[k].o);
		put_u16(p + w + 2, (uint16_t)runs[k].n);
		w += DSM_DIFF_RUN_HDR;
		memset(p + w, 0xEE, runs[k].n);
		w += runs[k].n;
	}
	return w;
}

static void expect_reject(const char *what, const uint8_t *p, size_t len)
{
	const char *why;
	long n = check(p, len, SEG, P, &why);

	CHECKF(n == -1, "%s: accepted (%ld records)", what, n);
	if (n == -1)
		CHECKF(why != NULL && *why, "%s: rejected without a reason", what);
}

static void expect_accept(const char *what, const uint8_t *p, size_t len,
			  long records)
{
	const char *why;
	long n = check(p, len, SEG, P, &why);

	CHECKF(n == records, "%s: %ld records, want %ld (%s)", what, n, records,
	       n < 0 && why ? why : "");
}

static void test_check_rejects(void)
{
	uint8_t p[2 * P + 256];
	size_t len;
	const struct run one = { 10, 4 };

	len = make_record(p, 0, 1, &one, 1);
	expect_accept("baseline", p, len, 1);
	len = make_record(p, (SEG_PAGES - 1) * P, 1, &one, 1);
	expect_accept("last page", p, len, 1);

	/* Offsets outside the segment or not page-aligned. */
	len = make_record(p, SEG, 1, &one, 1);
	expect_reject("offset == segment size", p, len);
	len = make_record(p, SEG + P, 1, &one, 1);
	expect_reject("offset past segment", p, len);
	len = make_record(p, (CONFIG_LEN)-1 - (P - 1), 1, &one, 1);
	expect_reject("offset near the top of CONFIG_LEN", p, len);
	len = make_record(p, 1, 1, &one, 1);
	expect_reject("offset 1", p, len);
	len = make_record(p, P + 8, 1, &one, 1);
	expect_reject("offset P+8", p, len);
	len = make_record(p, P / 2, 1, &one, 1);
	expect_reject("offset P/2", p, len);

	/* Runs past the end of the page. */
	const struct run past1[] = { { P - 1, 2 } };
	len = make_record(p, 0, 1, past1, 1);
	expect_reject("run P-1+2", p, len);
	const struct run past2[] = { { P, 1 } };
	len = make_record(p, 0, 1, past2, 1);
	expect_reject("run at P", p, len);
	const struct run past3[] = { { 0, P + 1 } };
	len = make_record(p, 0, 1, past3, 1);
	expect_reject("run of P+1", p, len);
	/* A run header claiming 0xFFFF bytes at 0xFFFF, with no data. */
	len = make_record(p, 0, 1, NULL, 0);
	put_u16(p + len, 0xFFFF);
	put_u16(p + len + 2, 0xFFFF);
	expect_reject("run 0xFFFF+0xFFFF, data missing", p, len + 4);
	const struct run edge[] = { { P - 1, 1 } };
	len = make_record(p, 0, 1, edge, 1);
	expect_accept("run ending at the page end", p, len, 1);

	/* Zero-length run, first or later. */
	const struct run zero1[] = { { 10, 0 } };
	len = make_record(p, 0, 1, zero1, 1);
	expect_reject("zero-length run", p, len);
	const struct run zero2[] = { { 10, 1 }, { 20, 0 } };
	len = make_record(p, 0, 2, zero2, 2);
	expect_reject("zero-length second run", p, len);

	/* Overlapping, repeated and descending runs. */
	const struct run ov[] = { { 10, 5 }, { 12, 3 } };
	len = make_record(p, 0, 2, ov, 2);
	expect_reject("overlapping runs", p, len);
	const struct run dup[] = { { 10, 1 }, { 10, 1 } };
	len = make_record(p, 0, 2, dup, 2);
	expect_reject("repeated run", p, len);
	const struct run desc[] = { { 100, 1 }, { 50, 1 } };
	len = make_record(p, 0, 2, desc, 2);
	expect_reject("descending runs", p, len);
	const struct run inner[] = { { 10, 20 }, { 15, 2 } };
	len = make_record(p, 0, 2, inner, 2);
	expect_reject("run inside another", p, len);
	/* Adjacent runs do not overlap (a 64 KiB page's split run is two). */
	const struct run adj[] = { { 10, 5 }, { 15, 1 } };
	len = make_record(p, 0, 2, adj, 2);
	expect_accept("adjacent runs", p, len, 1);

	/* nruns 0, and nruns larger than the runs present. */
	len = make_record(p, 0, 0, NULL, 0);
	expect_reject("nruns 0", p, len);
	len = make_record(p, 0, 2, &one, 1);
	expect_reject("nruns 2 with one run", p, len);
	len = make_record(p, 0, 0xFFFFFFFFu, &one, 1);
	expect_reject("nruns 0xFFFFFFFF", p, len);
	/* nruns smaller than the runs present: the rest is a bad record. */
	const struct run two[] = { { 10, 1 }, { 20, 1 } };
	len = make_record(p, 0, 1, two, 2);
	expect_reject("nruns 1 with two runs", p, len);

	/* Truncation inside the header, a run header, or run data. */
	len = make_record(p, 0, 1, &one, 1);
	for (size_t cut = 1; cut < len; cut++) {
		char what[64];

		snprintf(what, sizeof(what), "record cut to %zu of %zu", cut, len);
		expect_reject(what, p, cut);
	}

	/* A good record followed by a bad one: the whole payload is refused. */
	len = make_record(p, 0, 1, &one, 1);
	size_t len2 = make_record(p + len, 1, 1, &one, 1);
	expect_reject("good record then unaligned one", p, len + len2);
	len2 = make_record(p + len, P, 1, &one, 1);
	expect_accept("two good records", p, len + len2, 2);
	p[len + len2] = 0;
	expect_reject("two good records and one stray byte", p, len + len2 + 1);
}

int main(void)
{
	rng_state = 1;
	test_identical();
	test_single_bytes();
	test_two_writers();
	test_alternating();
	test_enobufs();
	test_full_page();
	test_random();
	test_multi_record();
	test_check_rejects();
	return check_summary("test_diff");
}
