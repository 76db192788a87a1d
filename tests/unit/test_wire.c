/*
 * test_wire.c - unit tests of include/dsm_wire.h: the big-endian put/get
 * helpers, frame headers, kind names, and the bounded payload reader.
 *
 * The reader tests decode from buffers that end right before a PROT_NONE
 * page (check.h's guarded_alloc), so reading one byte too far crashes here
 * instead of slipping through.
 */
#include <stdint.h>
#include <string.h>

#include "check.h"
#include "dsm_wire.h"

/* Bytes after the field written are left alone: the guard stays 0xAA. */
static int guard_ok(const uint8_t *p, size_t from, size_t to)
{
	for (size_t i = from; i < to; i++)
		if (p[i] != 0xAA)
			return 0;
	return 1;
}

static void test_put_get(void)
{
	uint8_t b[16];

	memset(b, 0xAA, sizeof(b));
	put_u8(b, 0x5C);
	CHECK(b[0] == 0x5C && guard_ok(b, 1, sizeof(b)));
	CHECK(get_u8(b) == 0x5C);

	memset(b, 0xAA, sizeof(b));
	put_u16(b, 0x0102);
	CHECK(b[0] == 0x01 && b[1] == 0x02 && guard_ok(b, 2, sizeof(b)));
	CHECK(get_u16(b) == 0x0102);

	memset(b, 0xAA, sizeof(b));
	put_u32(b, 0x01020304u);
	CHECK(b[0] == 1 && b[1] == 2 && b[2] == 3 && b[3] == 4);
	CHECK(guard_ok(b, 4, sizeof(b)));
	CHECK(get_u32(b) == 0x01020304u);

	memset(b, 0xAA, sizeof(b));
	put_u64(b, 0x0102030405060708ull);
	for (int i = 0; i < 8; i++)
		CHECKF(b[i] == i + 1, "byte %d is %#x", i, b[i]);
	CHECK(guard_ok(b, 8, sizeof(b)));
	CHECK(get_u64(b) == 0x0102030405060708ull);

	/* Extremes and sign-bit patterns survive the round trip. */
	static const uint64_t v64[] = {
		0, 1, 0x7F, 0x80, 0xFF, 0x100, 0x7FFF, 0x8000, 0xFFFF,
		0x7FFFFFFFull, 0x80000000ull, 0xFFFFFFFFull, 0x100000000ull,
		0x8000000000000000ull, 0xFFFFFFFFFFFFFFFFull,
		0xDEADBEEFCAFEF00Dull,
	};
	for (size_t i = 0; i < sizeof(v64) / sizeof(v64[0]); i++) {
		uint64_t v = v64[i];

		put_u8(b, (uint8_t)v);
		CHECKF(get_u8(b) == (uint8_t)v, "u8 %#llx", (unsigned long long)v);
		put_u16(b, (uint16_t)v);
		CHECKF(get_u16(b) == (uint16_t)v, "u16 %#llx", (unsigned long long)v);
		put_u32(b, (uint32_t)v);
		CHECKF(get_u32(b) == (uint32_t)v, "u32 %#llx", (unsigned long long)v);
		put_u64(b, v);
		CHECKF(get_u64(b) == v, "u64 %#llx", (unsigned long long)v);
		/* The most significant byte comes first. */
		CHECKF(b[0] == (uint8_t)(v >> 56) && b[7] == (uint8_t)v,
		       "u64 byte order %#llx", (unsigned long long)v);
	}

	/* Unaligned positions work the same. */
	for (size_t off = 0; off < 8; off++) {
		memset(b, 0xAA, sizeof(b));
		put_u64(b + off, 0x1122334455667788ull);
		CHECKF(get_u64(b + off) == 0x1122334455667788ull, "off %zu", off);
		CHECKF(guard_ok(b, 0, off) && guard_ok(b, off + 8, sizeof(b)),
		       "u64 at offset %zu wrote outside its 8 bytes", off);
	}
}

static void test_len(void)
{
	uint8_t b[16];
	CONFIG_LEN v = (CONFIG_LEN)0x0102030405060708ull;

	CHECK(DSM_LEN_BYTES == sizeof(CONFIG_LEN));
	CHECK(DSM_LEN_BYTES == (DSM_ARCHI == 32 ? 4u : 8u));

	memset(b, 0xAA, sizeof(b));
	put_len(b, v);
	CHECK(guard_ok(b, DSM_LEN_BYTES, sizeof(b)));
	CHECK(get_len(b) == v);
	if (DSM_LEN_BYTES == 8) {
		CHECK(b[0] == 0x01 && b[7] == 0x08);
	} else {
		CHECK(b[0] == 0x05 && b[3] == 0x08);
	}

	put_len(b, (CONFIG_LEN)-1);
	CHECK(get_len(b) == (CONFIG_LEN)-1);
	for (unsigned i = 0; i < DSM_LEN_BYTES; i++)
		CHECK(b[i] == 0xFF);
	put_len(b, 0);
	CHECK(get_len(b) == 0);
}

static void test_hdr(void)
{
	uint8_t b[DSM_HDR_LEN + 4];

	CHECK(DSM_HDR_LEN == 13);
	for (int k = 1; k < K_NKINDS; k++) {
		memset(b, 0xAA, sizeof(b));
		dsm_hdr_put(b, (enum dsm_kind)k, 0x01020304u, 0x00100000u);
		CHECKF(memcmp(b, dsm_kind_name((enum dsm_kind)k), 5) == 0,
		       "kind %d", k);
		CHECK(dsm_kind_parse(b) == (enum dsm_kind)k);
		CHECK(b[5] == 1 && b[6] == 2 && b[7] == 3 && b[8] == 4);
		CHECK(get_u32(b + 5) == 0x01020304u);
		CHECK(get_u32(b + 9) == DSM_MAX_PAYLOAD);
		CHECKF(guard_ok(b, DSM_HDR_LEN, sizeof(b)),
		       "header of kind %d is longer than DSM_HDR_LEN", k);
	}
	dsm_hdr_put(b, K_OKLOC, 0, 0);
	CHECK(get_u32(b + 5) == 0 && get_u32(b + 9) == 0);
	dsm_hdr_put(b, K_ERROR, 0xFFFFFFFFu, 0xFFFFFFFFu);
	CHECK(get_u32(b + 5) == 0xFFFFFFFFu && get_u32(b + 9) == 0xFFFFFFFFu);
}

/* Every kind docs/PROTOCOL.md names, spelled as on the wire. */
static const char *const documented_kinds[] = {
	"JOIN?", "JOIN!", "ERROR", "LOCKR", "LOCKW", "OKLOC", "UNLOR",
	"UNLOW", "OKUNL", "PUSH?", "PUSH!", "UPDAT", "GETPG", "PAGES",
	"INVAL", "OKINV", "DECO?", "DECO!", "RELEA", "OBJOP", "OBJOK",
	"OBJCN", "RECAL", "AUTH?", "AUTH!", "PING?", "PING!", "STAT?",
	"STAT!",
};

static void test_kinds(void)
{
	size_t ndoc = sizeof(documented_kinds) / sizeof(documented_kinds[0]);

	CHECKF((size_t)K_NKINDS - 1 == ndoc, "%d kinds in dsm_wire.h, %zu documented",
	       K_NKINDS - 1, ndoc);
	for (size_t i = 0; i < ndoc; i++) {
		enum dsm_kind k = dsm_kind_parse((const uint8_t *)documented_kinds[i]);

		CHECKF(k != K_UNKNOWN, "%s does not parse", documented_kinds[i]);
		CHECKF(strcmp(dsm_kind_name(k), documented_kinds[i]) == 0,
		       "%s parses to %s", documented_kinds[i], dsm_kind_name(k));
	}

	for (int k = 1; k < K_NKINDS; k++) {
		const char *name = dsm_kind_name((enum dsm_kind)k);
		uint8_t w[5];

		CHECKF(strlen(name) == 5, "kind %d name '%s'", k, name);
		CHECKF(dsm_kind_parse((const uint8_t *)name) == (enum dsm_kind)k,
		       "%s", name);
		for (int j = 1; j < K_NKINDS; j++)
			if (j != k)
				CHECKF(strcmp(name, dsm_kind_name((enum dsm_kind)j)) != 0,
				       "kinds %d and %d share the name %s", k, j, name);

		/* Any one byte changed is another kind or none, never this one. */
		for (int pos = 0; pos < 5; pos++) {
			static const uint8_t subst[] = { 0, ' ', 'a', 'z', 0x80, 0xFF };

			for (size_t s = 0; s < sizeof(subst); s++) {
				memcpy(w, name, 5);
				if (w[pos] == subst[s])
					continue;
				w[pos] = subst[s];
				enum dsm_kind got = dsm_kind_parse(w);
				CHECKF(got != (enum dsm_kind)k, "%s with byte %d = %#x",
				       name, pos, subst[s]);
				if (got != K_UNKNOWN)
					CHECK(memcmp(dsm_kind_name(got), w, 5) == 0);
			}
		}
		/* Lower case is not the same kind. */
		memcpy(w, name, 5);
		for (int pos = 0; pos < 5; pos++)
			if (w[pos] >= 'A' && w[pos] <= 'Z')
				w[pos] = (uint8_t)(w[pos] - 'A' + 'a');
		CHECKF(dsm_kind_parse(w) == K_UNKNOWN, "lower-case %s", name);
	}

	static const char *const unknown[] = {
		"?????", "HELLO", "JOIN ", "JOIN.", "join?", "LOCK?", "OKLOK",
		"\0\0\0\0\0", "GET /", "\xff\xff\xff\xff\xff", "UPDA\0",
	};
	for (size_t i = 0; i < sizeof(unknown) / sizeof(unknown[0]); i++)
		CHECKF(dsm_kind_parse((const uint8_t *)unknown[i]) == K_UNKNOWN,
		       "unknown kind #%zu parsed as %s", i,
		       dsm_kind_name(dsm_kind_parse((const uint8_t *)unknown[i])));

	/* Out-of-range kinds have a printable placeholder name. */
	CHECK(strcmp(dsm_kind_name(K_UNKNOWN), "?????") == 0);
	CHECK(strcmp(dsm_kind_name(K_NKINDS), "?????") == 0);
	CHECK(strcmp(dsm_kind_name((enum dsm_kind)1000), "?????") == 0);

	/* dsm_kind_parse reads exactly 5 bytes: a name right at a buffer end. */
	for (int k = 1; k < K_NKINDS; k++) {
		uint8_t *g = guarded_alloc(5);

		memcpy(g, dsm_kind_name((enum dsm_kind)k), 5);
		CHECK(dsm_kind_parse(g) == (enum dsm_kind)k);
		guarded_free(g, 5);
	}
}

/* A payload "u8 u32 u64 L" read field by field. */
struct sample {
	uint8_t a;
	uint32_t b;
	uint64_t c;
	CONFIG_LEN d;
};

static size_t sample_put(uint8_t *p, const struct sample *s)
{
	put_u8(p, s->a);
	put_u32(p + 1, s->b);
	put_u64(p + 5, s->c);
	put_len(p + 13, s->d);
	return 13 + DSM_LEN_BYTES;
}

static void sample_get(struct dsm_rd *r, struct sample *s)
{
	s->a = dsm_rd_u8(r);
	s->b = dsm_rd_u32(r);
	s->c = dsm_rd_u64(r);
	s->d = dsm_rd_len(r);
}

static void test_reader(void)
{
	const struct sample in = { 0x9A, 0xA1B2C3D4u, 0x0102030405060708ull,
				   (CONFIG_LEN)0xF1F2F3F4F5F6F7F8ull };
	uint8_t tmp[64];
	size_t full = sample_put(tmp, &in);
	struct dsm_rd r;
	struct sample out;

	/* Exact payload: every field comes back and the reader is done. */
	uint8_t *g = guarded_alloc(full);
	memcpy(g, tmp, full);
	dsm_rd_init(&r, g, full);
	sample_get(&r, &out);
	CHECK(!r.bad);
	CHECK(r.pos == full);
	CHECK(dsm_rd_done(&r));
	CHECK(out.a == in.a && out.b == in.b && out.c == in.c && out.d == in.d);
	/* One read too many: bad, nothing read past the end, pos unchanged. */
	CHECK(dsm_rd_u8(&r) == 0);
	CHECK(r.bad && r.pos == full);
	CHECK(!dsm_rd_done(&r));
	guarded_free(g, full);

	/* Every truncation: bad is set, pos never passes len, later fields 0. */
	for (size_t len = 0; len < full; len++) {
		g = guarded_alloc(len);
		memcpy(g, tmp, len);
		dsm_rd_init(&r, len ? g : NULL, len);
		sample_get(&r, &out);
		CHECKF(r.bad, "truncated to %zu bytes not flagged", len);
		CHECKF(r.pos <= r.len, "pos %zu > len %zu", r.pos, r.len);
		CHECKF(!dsm_rd_done(&r), "truncated to %zu is done", len);
		if (len < 1)
			CHECK(out.a == 0);
		if (len < 5)
			CHECK(out.b == 0);
		if (len < 13)
			CHECK(out.c == 0);
		CHECK(out.d == 0);
		/* The fields that fit before the cut were still read right. */
		if (len >= 1)
			CHECK(out.a == in.a);
		if (len >= 5)
			CHECK(out.b == in.b);
		if (len >= 13)
			CHECK(out.c == in.c);
		guarded_free(g, len);
	}

	/* bad is sticky: after a failed read, even a fitting one fails. */
	g = guarded_alloc(4);
	memcpy(g, "\x01\x02\x03\x04", 4);
	dsm_rd_init(&r, g, 4);
	CHECK(dsm_rd_u64(&r) == 0 && r.bad && r.pos == 0);
	CHECK(dsm_rd_u8(&r) == 0);
	CHECK(dsm_rd_u32(&r) == 0);
	CHECK(r.pos == 0);

	/* Leftover bytes: not bad, but not done either. */
	dsm_rd_init(&r, g, 4);
	CHECK(dsm_rd_u8(&r) == 1);
	CHECK(!r.bad && !dsm_rd_done(&r));
	CHECK(dsm_rd_take(&r, 3) == g + 1);
	CHECK(dsm_rd_done(&r));
	CHECK(dsm_rd_take(&r, 0) != NULL && dsm_rd_done(&r));

	/* Huge take sizes do not wrap around. */
	dsm_rd_init(&r, g, 4);
	dsm_rd_u8(&r);
	CHECK(dsm_rd_take(&r, SIZE_MAX) == NULL && r.bad && r.pos == 1);
	dsm_rd_init(&r, g, 4);
	CHECK(dsm_rd_take(&r, (size_t)-3) == NULL && r.bad);
	dsm_rd_init(&r, g, 4);
	CHECK(dsm_rd_take(&r, 5) == NULL && r.bad && r.pos == 0);
	guarded_free(g, 4);

	/* A length field read from the wire is only a number: reading it
	 * does not advance past the payload. */
	g = guarded_alloc(DSM_LEN_BYTES);
	put_len(g, (CONFIG_LEN)-1);
	dsm_rd_init(&r, g, DSM_LEN_BYTES);
	CONFIG_LEN n = dsm_rd_len(&r);
	CHECK(n == (CONFIG_LEN)-1 && dsm_rd_done(&r));
	CHECK(dsm_rd_take(&r, (size_t)n) == NULL && r.bad);
	guarded_free(g, DSM_LEN_BYTES);
}

/* The JOIN? payload has the fixed layout both ARCHI builds understand. */
static void test_join_layout(void)
{
	uint8_t p[10];
	struct dsm_rd r;

	put_u32(p, DSM_PROTO_VERSION);
	put_u8(p + 4, (uint8_t)DSM_LEN_BYTES);
	put_u8(p + 5, 0);
	put_u32(p + 6, 4096);
	dsm_rd_init(&r, p, sizeof(p));
	CHECK(dsm_rd_u32(&r) == DSM_PROTO_VERSION);
	CHECK(dsm_rd_u8(&r) == DSM_LEN_BYTES);
	CHECK(dsm_rd_u8(&r) == 0);
	CHECK(dsm_rd_u32(&r) == 4096);
	CHECK(dsm_rd_done(&r));
	CHECK(DSM_MAX_PAYLOAD == 1u << 20);
	CHECK(DSM_MAX_ERRMSG == 512u);
}

int main(void)
{
	test_put_get();
	test_len();
	test_hdr();
	test_kinds();
	test_reader();
	test_join_layout();
	return check_summary("test_wire");
}
