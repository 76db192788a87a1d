/*
 * test_crypto.c - unit tests of include/dsm_crypto.h: SHA-256 against the
 * FIPS 180-4 examples (and digests around the padding boundaries), the
 * incremental interface split at every offset, HMAC-SHA256 against RFC 4231
 * test cases 1-7, the constant-time comparison, the handshake proof, and
 * dsm_secret_load's refusals and success on files made in a temporary
 * folder.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "dsm_crypto.h"
#include "dsm_wire.h"

/* hex (64 or 32 digits) -> bytes; returns the number of bytes. */
static size_t unhex(const char *hex, uint8_t *out, size_t cap)
{
	size_t n = 0;

	for (; hex[0] && hex[1] && n < cap; hex += 2) {
		unsigned v;

		if (sscanf(hex, "%2x", &v) != 1)
			break;
		out[n++] = (uint8_t)v;
	}
	return n;
}

static void tohex(const uint8_t *p, size_t n, char *out)
{
	for (size_t i = 0; i < n; i++)
		sprintf(out + 2 * i, "%02x", p[i]);
	out[2 * n] = '\0';
}

/* The digest of msg[0..len) equals hex (one-shot and init/update/final). */
static int sha_is(const void *msg, size_t len, const char *hex)
{
	uint8_t want[DSM_SHA256_LEN], got[DSM_SHA256_LEN], got2[DSM_SHA256_LEN];
	struct dsm_sha256 c;

	if (unhex(hex, want, sizeof(want)) != DSM_SHA256_LEN)
		return 0;
	dsm_sha256(msg, len, got);
	dsm_sha256_init(&c);
	dsm_sha256_update(&c, msg, len);
	dsm_sha256_final(&c, got2);
	return memcmp(got, want, sizeof(want)) == 0 &&
	       memcmp(got2, want, sizeof(want)) == 0;
}

static const char msg448[] =
	"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
static const char msg896[] =
	"abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmno"
	"ijklmnopjklmnopqklmnopqrlmnopqrsmnopqrstnopqrstu";

/* FIPS 180-4 examples (NIST "SHA256.pdf", "SHA2_Additional.pdf"). */
static void test_sha256_fips(void)
{
	char *million;

	CHECK(sha_is("abc", 3, "ba7816bf8f01cfea414140de5dae2223"
			       "b00361a396177a9cb410ff61f20015ad"));
	CHECK(sha_is("", 0, "e3b0c44298fc1c149afbf4c8996fb924"
			    "27ae41e4649b934ca495991b7852b855"));
	CHECK(sha_is(NULL, 0, "e3b0c44298fc1c149afbf4c8996fb924"
			      "27ae41e4649b934ca495991b7852b855"));
	CHECK(strlen(msg448) == 56);
	CHECK(sha_is(msg448, 56, "248d6a61d20638b8e5c026930c3e6039"
				 "a33ce45964ff2167f6ecedd419db06c1"));
	CHECK(strlen(msg896) == 112);
	CHECK(sha_is(msg896, 112, "cf5b16a778af8380036ce59e7b049237"
				  "0b249b11e8f07a51afac45037afee9d1"));

	million = malloc(1000000);
	REQUIRE(million, "malloc");
	memset(million, 'a', 1000000);
	CHECK(sha_is(million, 1000000, "cdc76e5c9914fb9281a1c7e284d73e67"
				       "f1809a48a497200e046d39ccc7112cd0"));
	free(million);
}

/* Lengths around the padding boundaries (a 1 bit and the 8-byte length
 * must fit in 56..64 bytes of the last block, or spill into one more);
 * digests from another implementation (Python's hashlib). */
static void test_sha256_padding(void)
{
	static const struct {
		size_t n;
		const char *hex;
	} v[] = {
		{ 55, "9f4390f8d30c2dd92ec9f095b65e2b9ae9b0a925a5258e241c9f1e910f734318" },
		{ 56, "b35439a4ac6f0948b6d6f9e3c6af0f5f590ce20f1bde7090ef7970686ec6738a" },
		{ 57, "f13b2d724659eb3bf47f2dd6af1accc87b81f09f59f2b75e5c0bed6589dfe8c6" },
		{ 63, "7d3e74a05d7db15bce4ad9ec0658ea98e3f06eeecf16b4c6fff2da457ddc2f34" },
		{ 64, "ffe054fe7ae0cb6dc65c3af9b61d5209f439851db43d0ba5997337df154668eb" },
		{ 65, "635361c48bb9eab14198e76ea8ab7f1a41685d6ad62aa9146d301d4f17eb0ae0" },
		{ 119, "31eba51c313a5c08226adf18d4a359cfdfd8d2e816b13f4af952f7ea6584dcfb" },
		{ 120, "2f3d335432c70b580af0e8e1b3674a7c020d683aa5f73aaaedfdc55af904c21c" },
		{ 127, "c57e9278af78fa3cab38667bef4ce29d783787a2f731d4e12200270f0c32320a" },
		{ 128, "6836cf13bac400e9105071cd6af47084dfacad4e5e302c94bfed24e013afb73e" },
	};
	char a[128];

	memset(a, 'a', sizeof(a));
	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++)
		CHECKF(sha_is(a, v[i].n, v[i].hex), "%zu x 'a'", v[i].n);
}

/* Digest of msg fed as msg[0..i), msg[i..j), msg[j..len). */
static void sha_split3(const uint8_t *msg, size_t len, size_t i, size_t j,
		       uint8_t out[DSM_SHA256_LEN])
{
	struct dsm_sha256 c;

	dsm_sha256_init(&c);
	dsm_sha256_update(&c, msg, i);
	dsm_sha256_update(&c, msg + i, j - i);
	dsm_sha256_update(&c, msg + j, len - j);
	dsm_sha256_final(&c, out);
}

/*
 * Incremental updates give the one-shot digest wherever the message is
 * cut: every pair of cut points of the FIPS messages (each piece read from
 * a buffer that ends at a PROT_NONE page, so no update reads past its
 * piece), and the million 'a' in chunks of awkward sizes.
 */
static void test_sha256_incremental(void)
{
	static const char *const msgs[] = { "abc", "", msg448, msg896 };
	uint8_t want[DSM_SHA256_LEN], got[DSM_SHA256_LEN];
	static const size_t chunks[] = { 1, 3, 55, 56, 63, 64, 65, 127, 1000,
					 4103, 65536, 999999, 1000000 };
	struct dsm_sha256 c;
	unsigned long bad;
	uint8_t *million;

	for (size_t m = 0; m < sizeof(msgs) / sizeof(msgs[0]); m++) {
		size_t len = strlen(msgs[m]);
		unsigned char *g = guarded_alloc(len);

		memcpy(g, msgs[m], len);
		dsm_sha256(g, len, want);
		bad = 0;
		for (size_t i = 0; i <= len; i++)
			for (size_t j = i; j <= len; j++) {
				sha_split3(g, len, i, j, got);
				if (memcmp(got, want, sizeof(got)) != 0 &&
				    bad++ == 0)
					CHECKF(0, "message %zu cut at %zu and "
					       "%zu", m, i, j);
			}
		CHECKF(bad == 0, "message %zu (%zu bytes): %lu cuts wrong", m,
		       len, bad);
		guarded_free(g, len);
	}

	million = malloc(1000000);
	REQUIRE(million, "malloc");
	memset(million, 'a', 1000000);
	unhex("cdc76e5c9914fb9281a1c7e284d73e67"
	      "f1809a48a497200e046d39ccc7112cd0", want, sizeof(want));
	for (size_t k = 0; k < sizeof(chunks) / sizeof(chunks[0]); k++) {
		dsm_sha256_init(&c);
		for (size_t off = 0; off < 1000000; off += chunks[k]) {
			size_t n = 1000000 - off < chunks[k] ?
				   1000000 - off : chunks[k];

			dsm_sha256_update(&c, million + off, n);
			dsm_sha256_update(&c, NULL, 0);
		}
		dsm_sha256_final(&c, got);
		CHECKF(memcmp(got, want, sizeof(got)) == 0,
		       "million 'a' in chunks of %zu", chunks[k]);
	}
	free(million);

	/* final wipes the context (it held message bytes). */
	dsm_sha256_init(&c);
	dsm_sha256_update(&c, "secret", 6);
	dsm_sha256_final(&c, got);
	{
		static const struct dsm_sha256 zero;

		CHECK(memcmp(&c, &zero, sizeof(c)) == 0);
	}
	/* ... and init makes it usable again. */
	dsm_sha256_init(&c);
	dsm_sha256_update(&c, "abc", 3);
	dsm_sha256_final(&c, got);
	dsm_sha256("abc", 3, want);
	CHECK(memcmp(got, want, sizeof(got)) == 0);
}

/* RFC 4231, section 4: test cases 1-7 for HMAC-SHA-256. */
static const struct hmac_case {
	const char *key_hex;	/* or NULL: key_rep x key_byte */
	size_t key_rep;
	uint8_t key_byte;
	const char *data;	/* or NULL: data_rep x data_byte */
	size_t data_rep;
	uint8_t data_byte;
	const char *mac_hex;
	size_t mac_len;		/* bytes compared (case 5: 16) */
} hmac_cases[] = {
	{ NULL, 20, 0x0b, "Hi There", 0, 0,
	  "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7", 32 },
	{ "4a656665", 0, 0, "what do ya want for nothing?", 0, 0,
	  "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843", 32 },
	{ NULL, 20, 0xaa, NULL, 50, 0xdd,
	  "773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe", 32 },
	{ "0102030405060708090a0b0c0d0e0f10111213141516171819", 0, 0, NULL, 50, 0xcd,
	  "82558a389a443c0ea4cc819899f2083a85f0faa3e578f8077a2e3ff46729665b", 32 },
	{ NULL, 20, 0x0c, "Test With Truncation", 0, 0,
	  "a3b6167473100ee06e0c796c2955552b", 16 },
	{ NULL, 131, 0xaa, "Test Using Larger Than Block-Size Key - Hash Key First", 0, 0,
	  "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54", 32 },
	{ NULL, 131, 0xaa,
	  "This is a test using a larger than block-size key and a larger "
	  "than block-size data. The key needs to be hashed before being "
	  "used by the HMAC algorithm.", 0, 0,
	  "9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2", 32 },
};

static void test_hmac_rfc4231(void)
{
	for (size_t t = 0; t < sizeof(hmac_cases) / sizeof(hmac_cases[0]); t++) {
		const struct hmac_case *hc = &hmac_cases[t];
		uint8_t key[200], data[200], want[DSM_SHA256_LEN];
		uint8_t got[DSM_SHA256_LEN];
		char hex[2 * DSM_SHA256_LEN + 1];
		size_t keylen, datalen, bad = 0;
		struct dsm_hmac h;

		if (hc->key_hex) {
			keylen = unhex(hc->key_hex, key, sizeof(key));
		} else {
			keylen = hc->key_rep;
			memset(key, hc->key_byte, keylen);
		}
		if (hc->data) {
			datalen = strlen(hc->data);
			memcpy(data, hc->data, datalen);
		} else {
			datalen = hc->data_rep;
			memset(data, hc->data_byte, datalen);
		}
		REQUIRE(unhex(hc->mac_hex, want, sizeof(want)) == hc->mac_len,
			"case %zu: bad expected MAC", t + 1);

		dsm_hmac_sha256(key, keylen, data, datalen, got);
		tohex(got, hc->mac_len, hex);
		CHECKF(memcmp(got, want, hc->mac_len) == 0,
		       "RFC 4231 case %zu: got %s", t + 1, hex);

		/* The same MAC wherever the data is cut. */
		for (size_t i = 0; i <= datalen; i++) {
			dsm_hmac_init(&h, key, keylen);
			dsm_hmac_update(&h, data, i);
			dsm_hmac_update(&h, data + i, datalen - i);
			dsm_hmac_final(&h, got);
			if (memcmp(got, want, hc->mac_len) != 0 && bad++ == 0)
				CHECKF(0, "case %zu cut at %zu", t + 1, i);
		}
		CHECKF(bad == 0, "case %zu: %zu cuts wrong", t + 1, bad);
	}
}

/* Properties of RFC 2104 the cases above touch only once each. */
static void test_hmac_keys(void)
{
	uint8_t key[200], k0[DSM_SHA256_LEN], a[DSM_SHA256_LEN], b[DSM_SHA256_LEN];
	static const struct dsm_hmac zero;
	struct dsm_hmac h;

	for (size_t i = 0; i < sizeof(key); i++)
		key[i] = (uint8_t)(i * 7 + 1);
	/* A key longer than a block is replaced by its digest. */
	for (size_t len = DSM_SHA256_BLOCK + 1; len <= sizeof(key); len += 17) {
		dsm_sha256(key, len, k0);
		dsm_hmac_sha256(key, len, "data", 4, a);
		dsm_hmac_sha256(k0, sizeof(k0), "data", 4, b);
		CHECKF(memcmp(a, b, sizeof(a)) == 0, "key of %zu bytes", len);
	}
	/* A key up to a block is zero-padded: trailing zero bytes do not
	 * change the MAC; any other byte does. */
	memset(key, 0, sizeof(key));
	memcpy(key, "short key", 9);
	dsm_hmac_sha256(key, 9, "data", 4, a);
	dsm_hmac_sha256(key, DSM_SHA256_BLOCK, "data", 4, b);
	CHECK(memcmp(a, b, sizeof(a)) == 0);
	key[DSM_SHA256_BLOCK - 1] = 1;
	dsm_hmac_sha256(key, DSM_SHA256_BLOCK, "data", 4, b);
	CHECK(memcmp(a, b, sizeof(a)) != 0);
	/* An empty key is a key of zeros. */
	dsm_hmac_sha256(NULL, 0, "data", 4, a);
	memset(key, 0, sizeof(key));
	dsm_hmac_sha256(key, 32, "data", 4, b);
	CHECK(memcmp(a, b, sizeof(a)) == 0);
	/* final wipes the state (it derives from the key). */
	dsm_hmac_init(&h, "key", 3);
	dsm_hmac_update(&h, "data", 4);
	dsm_hmac_final(&h, a);
	CHECK(memcmp(&h, &zero, sizeof(h)) == 0);
}

static void test_ct_equal(void)
{
	uint8_t a[64], b[64];

	for (size_t i = 0; i < sizeof(a); i++)
		a[i] = b[i] = (uint8_t)(0xA5 ^ i);
	CHECK(dsm_ct_equal(a, b, sizeof(a)) == 1);
	CHECK(dsm_ct_equal(a, a, sizeof(a)) == 1);
	CHECK(dsm_ct_equal(a, b, 0) == 1);
	CHECK(dsm_ct_equal(NULL, NULL, 0) == 1);
	/* Every single-bit difference at every position, including the
	 * first and the last byte, and the sign bit. */
	for (size_t i = 0; i < sizeof(a); i++)
		for (int bit = 0; bit < 8; bit++) {
			int r;

			b[i] ^= (uint8_t)(1u << bit);
			r = dsm_ct_equal(a, b, sizeof(a));
			CHECKF(r == 0, "byte %zu bit %d: %d", i, bit, r);
			/* Only the first i bytes compared: still equal. */
			r = dsm_ct_equal(a, b, i);
			CHECKF(r == 1, "first %zu bytes: %d", i, r);
			b[i] ^= (uint8_t)(1u << bit);
		}
	/* All bytes different. */
	for (size_t i = 0; i < sizeof(b); i++)
		b[i] = (uint8_t)~a[i];
	CHECK(dsm_ct_equal(a, b, sizeof(a)) == 0);
	CHECK(dsm_ct_equal(a, b, 1) == 0);
}

/* The proof is HMAC(key, label || first || second), and each input counts. */
static void test_auth_proof(void)
{
	uint8_t keyb[32], n1[DSM_NONCE_LEN], n2[DSM_NONCE_LEN];
	uint8_t msg[64 + 2 * DSM_NONCE_LEN], want[DSM_SHA256_LEN];
	uint8_t got[DSM_SHA256_LEN], other[DSM_SHA256_LEN];
	struct dsm_secret s = { keyb, sizeof(keyb) };
	size_t ll = strlen(DSM_AUTH_LABEL_MASTER);

	memset(keyb, 0x42, sizeof(keyb));
	CHECK(dsm_random(n1, sizeof(n1)) == 0);
	CHECK(dsm_random(n2, sizeof(n2)) == 0);
	CHECK(memcmp(n1, n2, sizeof(n1)) != 0);

	memcpy(msg, DSM_AUTH_LABEL_MASTER, ll);
	memcpy(msg + ll, n1, sizeof(n1));
	memcpy(msg + ll + sizeof(n1), n2, sizeof(n2));
	dsm_hmac_sha256(keyb, sizeof(keyb), msg, ll + 2 * DSM_NONCE_LEN, want);
	dsm_auth_proof(&s, DSM_AUTH_LABEL_MASTER, n1, n2, got);
	CHECK(memcmp(got, want, sizeof(got)) == 0);

	dsm_auth_proof(&s, DSM_AUTH_LABEL_NODE, n1, n2, other);
	CHECK(memcmp(got, other, sizeof(got)) != 0);
	dsm_auth_proof(&s, DSM_AUTH_LABEL_MASTER, n2, n1, other);
	CHECK(memcmp(got, other, sizeof(got)) != 0);
	keyb[31] ^= 1;
	dsm_auth_proof(&s, DSM_AUTH_LABEL_MASTER, n1, n2, other);
	CHECK(memcmp(got, other, sizeof(got)) != 0);
}

static char tmpdir[] = "/tmp/test_crypto.XXXXXX";

/* Create tmpdir/name holding data[0..len) with exactly `mode`. */
static const char *make_file(const char *name, const void *data, size_t len,
			     mode_t mode)
{
	static char path[4][256];
	static int slot;
	char *p = path[slot++ % 4];
	int fd;

	snprintf(p, sizeof(path[0]), "%s/%s", tmpdir, name);
	unlink(p);
	fd = open(p, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0 || (len && write(fd, data, len) != (ssize_t)len) ||
	    fchmod(fd, mode) != 0 || close(fd) != 0) {
		fprintf(stderr, "test_crypto: cannot make %s: %s\n", p,
			strerror(errno));
		exit(2);
	}
	return p;
}

/*
 * dsm_secret_load(path) fails with a message that contains each of the
 * NULL-terminated strings, and leaves the secret empty.
 */
static int load_refused(const char *path, const char *const *says)
{
	struct dsm_secret s = { (uint8_t *)"junk", 4 };
	char why[512];
	int ok = 1;

	memset(why, 0, sizeof(why));
	if (dsm_secret_load(path, &s, why, sizeof(why)) != -1) {
		fprintf(stderr, "  %s was accepted\n", path);
		dsm_secret_free(&s);
		return 0;
	}
	if (s.key != NULL || s.len != 0) {
		fprintf(stderr, "  %s: the secret is not empty after a refusal\n",
			path);
		ok = 0;
	}
	for (; *says; says++)
		if (!strstr(why, *says)) {
			fprintf(stderr, "  %s: \"%s\" does not say \"%s\"\n",
				path, why, *says);
			ok = 0;
		}
	if (strchr(why, '\n')) {
		fprintf(stderr, "  %s: \"%s\" is not one line\n", path, why);
		ok = 0;
	}
	return ok;
}

/* dsm_secret_load(path) accepts it with exactly key[0..len). */
static int load_ok(const char *path, const void *key, size_t len)
{
	struct dsm_secret s;
	char why[512] = "";
	int ok;

	if (dsm_secret_load(path, &s, why, sizeof(why)) != 0) {
		fprintf(stderr, "  %s refused: %s\n", path, why);
		return 0;
	}
	ok = s.len == len && s.key && memcmp(s.key, key, len) == 0;
	if (!ok)
		fprintf(stderr, "  %s: got %zu bytes, expected %zu\n", path,
			s.len, len);
	dsm_secret_free(&s);
	ok = ok && s.key == NULL && s.len == 0;
	dsm_secret_free(&s);	/* twice is harmless */
	return ok;
}

static void test_secret_load(void)
{
	char key[DSM_SECRET_MAX + 8], hint[600], msg[1024];
	const char *p;

	memset(key, 'k', sizeof(key));
	memcpy(key, "0123456789abcdef", 16);

	/* Permissions: any group or other bit is refused, ssh style. */
	static const mode_t open_modes[] = { 0644, 0640, 0604, 0660, 0602,
					     0620, 0610, 0601, 0777 };
	for (size_t i = 0; i < sizeof(open_modes) / sizeof(open_modes[0]); i++) {
		char perm[32];

		p = make_file("open", key, 32, open_modes[i]);
		snprintf(perm, sizeof(perm), "permissions %04o", open_modes[i]);
		snprintf(hint, sizeof(hint), "chmod 600 %s", p);
		CHECKF(load_refused(p, (const char *const[]){ perm, p,
			"too open", hint, NULL }), "mode %04o", open_modes[i]);
	}
	p = make_file("mode600", key, 32, 0600);
	CHECK(load_ok(p, key, 32));
	p = make_file("mode400", key, 32, 0400);
	CHECK(load_ok(p, key, 32));

	/* Length: at least DSM_SECRET_MIN bytes after the newline is
	 * stripped, at most DSM_SECRET_MAX. */
	snprintf(msg, sizeof(msg), "at least %u", DSM_SECRET_MIN);
	p = make_file("short", key, DSM_SECRET_MIN - 1, 0600);
	CHECK(load_refused(p, (const char *const[]){ p, msg, "15 byte", NULL }));
	p = make_file("empty", "", 0, 0600);
	CHECK(load_refused(p, (const char *const[]){ p, msg, "0 byte", NULL }));
	memcpy(hint, key, DSM_SECRET_MIN - 1);
	hint[DSM_SECRET_MIN - 1] = '\n';
	p = make_file("short-nl", hint, DSM_SECRET_MIN, 0600);
	CHECK(load_refused(p, (const char *const[]){ p, msg, NULL }));
	p = make_file("min", key, DSM_SECRET_MIN, 0600);
	CHECK(load_ok(p, key, DSM_SECRET_MIN));

	snprintf(msg, sizeof(msg), "longer than %u bytes", DSM_SECRET_MAX);
	p = make_file("max", key, DSM_SECRET_MAX, 0600);
	CHECK(load_ok(p, key, DSM_SECRET_MAX));
	key[DSM_SECRET_MAX] = '\n';
	p = make_file("max-nl", key, DSM_SECRET_MAX + 1, 0600);
	CHECK(load_ok(p, key, DSM_SECRET_MAX));
	key[DSM_SECRET_MAX] = 'k';
	p = make_file("max+1", key, DSM_SECRET_MAX + 1, 0600);
	CHECK(load_refused(p, (const char *const[]){ p, msg, NULL }));
	key[DSM_SECRET_MAX + 1] = '\n';
	p = make_file("max+1-nl", key, DSM_SECRET_MAX + 2, 0600);
	CHECK(load_refused(p, (const char *const[]){ p, msg, NULL }));
	key[DSM_SECRET_MAX + 1] = 'k';
	{
		size_t big = 100000;
		char *b = malloc(big);

		REQUIRE(b, "malloc");
		memset(b, 'x', big);
		p = make_file("big", b, big, 0600);
		CHECK(load_refused(p, (const char *const[]){ p, msg, NULL }));
		free(b);
	}

	/* One trailing newline is stripped, nothing else: inner bytes,
	 * NULs, a CR and a second newline are part of the key. */
	p = make_file("nl", "0123456789abcdef\n", 17, 0600);
	CHECK(load_ok(p, "0123456789abcdef", 16));
	p = make_file("nl2", "0123456789abcdef\n\n", 18, 0600);
	CHECK(load_ok(p, "0123456789abcdef\n", 17));
	p = make_file("crlf", "0123456789abcdef\r\n", 18, 0600);
	CHECK(load_ok(p, "0123456789abcdef\r", 17));
	p = make_file("bin", "\0\1\2\n\0 key with\tbytes\0\n", 22, 0600);
	CHECK(load_ok(p, "\0\1\2\n\0 key with\tbytes\0", 21));

	/* Not a regular file, missing, no name. */
	snprintf(msg, sizeof(msg), "%s is not a regular file", tmpdir);
	CHECK(load_refused(tmpdir, (const char *const[]){ msg, NULL }));
	CHECK(load_refused("/dev/null", (const char *const[]){
		"/dev/null is not a regular file", NULL }));
	snprintf(hint, sizeof(hint), "%s/missing", tmpdir);
	snprintf(msg, sizeof(msg), "%s: %s", hint, strerror(ENOENT));
	CHECK(load_refused(hint, (const char *const[]){ "cannot open", msg,
		NULL }));
	CHECK(load_refused("", (const char *const[]){ "empty", NULL }));
	CHECK(load_refused(NULL, (const char *const[]){ "empty", NULL }));

	/* A short message buffer is filled, never overrun, NUL-terminated. */
	{
		struct dsm_secret s;
		char small[24 + 8];

		memset(small, '#', sizeof(small));
		p = make_file("open2", key, 32, 0644);
		CHECK(dsm_secret_load(p, &s, small, 24) == -1);
		CHECK(strlen(small) == 23);
		CHECK(small[24] == '#' && small[24 + 7] == '#');
	}
}

static void cleanup_tmpdir(void)
{
	static const char *const names[] = {
		"open", "open2", "mode600", "mode400", "short", "empty",
		"short-nl", "min", "max", "max-nl", "max+1", "max+1-nl", "big",
		"nl", "nl2", "crlf", "bin",
	};
	char p[256];

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		snprintf(p, sizeof(p), "%s/%s", tmpdir, names[i]);
		unlink(p);
	}
	if (rmdir(tmpdir) != 0)
		fprintf(stderr, "test_crypto: rmdir(%s): %s\n", tmpdir,
			strerror(errno));
}

int main(void)
{
	test_sha256_fips();
	test_sha256_padding();
	test_sha256_incremental();
	test_hmac_rfc4231();
	test_hmac_keys();
	test_ct_equal();
	test_auth_proof();
	if (!mkdtemp(tmpdir)) {
		perror("test_crypto: mkdtemp");
		return 2;
	}
	test_secret_load();
	cleanup_tmpdir();
	return check_summary("test_crypto");
}
