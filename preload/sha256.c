/*
 * sha256.c - SHA-256 (FIPS 180-4, section 6.2) and HMAC-SHA256 (RFC 2104),
 * for node authentication (include/dsm_crypto.h).
 *
 * Written for clarity, not speed: a handshake hashes a few hundred bytes.
 * Words are read and written big-endian byte by byte, so the code does not
 * depend on the host's byte order or alignment.  tests/unit/test_crypto.c
 * checks it against the FIPS 180-4 examples and the RFC 4231 test cases.
 */
#include <string.h>

#include "dsm_crypto.h"

/* First 32 bits of the fractional parts of the cube roots of the first 64
 * primes (FIPS 180-4, 4.2.2). */
static const uint32_t K[64] = {
	0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1,
	0x923f82a4, 0xab1c5ed5, 0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3,
	0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786,
	0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
	0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147,
	0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13,
	0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85, 0xa2bfe8a1, 0xa81a664b,
	0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
	0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a,
	0x5b9cca4f, 0x682e6ff3, 0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208,
	0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
};

/* Initial hash value: square roots of the first 8 primes (5.3.3). */
static const uint32_t H0[8] = {
	0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
	0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19,
};

static inline uint32_t rotr(uint32_t x, unsigned n)
{
	return (x >> n) | (x << (32 - n));
}

/* The six logical functions of 4.1.2. */
static inline uint32_t ch(uint32_t x, uint32_t y, uint32_t z)
{
	return (x & y) ^ (~x & z);
}
static inline uint32_t maj(uint32_t x, uint32_t y, uint32_t z)
{
	return (x & y) ^ (x & z) ^ (y & z);
}
static inline uint32_t big_sigma0(uint32_t x)
{
	return rotr(x, 2) ^ rotr(x, 13) ^ rotr(x, 22);
}
static inline uint32_t big_sigma1(uint32_t x)
{
	return rotr(x, 6) ^ rotr(x, 11) ^ rotr(x, 25);
}
static inline uint32_t small_sigma0(uint32_t x)
{
	return rotr(x, 7) ^ rotr(x, 18) ^ (x >> 3);
}
static inline uint32_t small_sigma1(uint32_t x)
{
	return rotr(x, 17) ^ rotr(x, 19) ^ (x >> 10);
}

/* Hash one 64-byte block into c->h (6.2.2, steps 1 to 4). */
static void compress(struct dsm_sha256 *c, const uint8_t *blk)
{
	uint32_t w[64], a, b, cc, d, e, f, g, h;

	for (int t = 0; t < 16; t++)
		w[t] = (uint32_t)blk[4 * t] << 24 |
		       (uint32_t)blk[4 * t + 1] << 16 |
		       (uint32_t)blk[4 * t + 2] << 8 | (uint32_t)blk[4 * t + 3];
	for (int t = 16; t < 64; t++)
		w[t] = small_sigma1(w[t - 2]) + w[t - 7] +
		       small_sigma0(w[t - 15]) + w[t - 16];
	a = c->h[0];
	b = c->h[1];
	cc = c->h[2];
	d = c->h[3];
	e = c->h[4];
	f = c->h[5];
	g = c->h[6];
	h = c->h[7];
	for (int t = 0; t < 64; t++) {
		uint32_t t1 = h + big_sigma1(e) + ch(e, f, g) + K[t] + w[t];
		uint32_t t2 = big_sigma0(a) + maj(a, b, cc);

		h = g;
		g = f;
		f = e;
		e = d + t1;
		d = cc;
		cc = b;
		b = a;
		a = t1 + t2;
	}
	c->h[0] += a;
	c->h[1] += b;
	c->h[2] += cc;
	c->h[3] += d;
	c->h[4] += e;
	c->h[5] += f;
	c->h[6] += g;
	c->h[7] += h;
	explicit_bzero(w, sizeof(w));
}

void dsm_sha256_init(struct dsm_sha256 *c)
{
	memcpy(c->h, H0, sizeof(c->h));
	c->nbytes = 0;
	c->nbuf = 0;
}

void dsm_sha256_update(struct dsm_sha256 *c, const void *data, size_t len)
{
	const uint8_t *p = data;

	if (len == 0)
		return;		/* data may be NULL */
	c->nbytes += len;
	if (c->nbuf > 0) {
		size_t take = DSM_SHA256_BLOCK - c->nbuf;

		if (take > len)
			take = len;
		memcpy(c->buf + c->nbuf, p, take);
		c->nbuf += take;
		p += take;
		len -= take;
		if (c->nbuf < DSM_SHA256_BLOCK)
			return;
		compress(c, c->buf);
		c->nbuf = 0;
	}
	for (; len >= DSM_SHA256_BLOCK; p += DSM_SHA256_BLOCK,
	     len -= DSM_SHA256_BLOCK)
		compress(c, p);
	memcpy(c->buf, p, len);
	c->nbuf = len;
}

/*
 * Padding (5.1.1): a 1 bit, zeros up to 56 bytes mod 64, then the message
 * length in bits as a 64-bit big-endian integer.
 */
void dsm_sha256_final(struct dsm_sha256 *c, uint8_t out[DSM_SHA256_LEN])
{
	uint64_t bits = c->nbytes * 8;

	c->buf[c->nbuf++] = 0x80;
	if (c->nbuf > DSM_SHA256_BLOCK - 8) {
		memset(c->buf + c->nbuf, 0, DSM_SHA256_BLOCK - c->nbuf);
		compress(c, c->buf);
		c->nbuf = 0;
	}
	memset(c->buf + c->nbuf, 0, DSM_SHA256_BLOCK - 8 - c->nbuf);
	for (int i = 0; i < 8; i++)
		c->buf[DSM_SHA256_BLOCK - 1 - i] = (uint8_t)(bits >> (8 * i));
	compress(c, c->buf);
	for (int i = 0; i < 8; i++) {
		out[4 * i] = (uint8_t)(c->h[i] >> 24);
		out[4 * i + 1] = (uint8_t)(c->h[i] >> 16);
		out[4 * i + 2] = (uint8_t)(c->h[i] >> 8);
		out[4 * i + 3] = (uint8_t)c->h[i];
	}
	explicit_bzero(c, sizeof(*c));
}

void dsm_sha256(const void *data, size_t len, uint8_t out[DSM_SHA256_LEN])
{
	struct dsm_sha256 c;

	dsm_sha256_init(&c);
	dsm_sha256_update(&c, data, len);
	dsm_sha256_final(&c, out);
}

/*
 * HMAC (RFC 2104): H((K0 ^ opad) || H((K0 ^ ipad) || text)), K0 the key
 * padded with zeros to the block size, or its hash if it is longer.  Both
 * inner and outer hashes are started here with their padded key block, so
 * update and final only continue them.
 */
void dsm_hmac_init(struct dsm_hmac *h, const void *key, size_t keylen)
{
	uint8_t k0[DSM_SHA256_BLOCK], pad[DSM_SHA256_BLOCK];

	memset(k0, 0, sizeof(k0));
	if (keylen > DSM_SHA256_BLOCK)
		dsm_sha256(key, keylen, k0);
	else if (keylen > 0)
		memcpy(k0, key, keylen);
	for (size_t i = 0; i < sizeof(pad); i++)
		pad[i] = k0[i] ^ 0x36;
	dsm_sha256_init(&h->inner);
	dsm_sha256_update(&h->inner, pad, sizeof(pad));
	for (size_t i = 0; i < sizeof(pad); i++)
		pad[i] = k0[i] ^ 0x5c;
	dsm_sha256_init(&h->outer);
	dsm_sha256_update(&h->outer, pad, sizeof(pad));
	explicit_bzero(k0, sizeof(k0));
	explicit_bzero(pad, sizeof(pad));
}

void dsm_hmac_update(struct dsm_hmac *h, const void *data, size_t len)
{
	dsm_sha256_update(&h->inner, data, len);
}

void dsm_hmac_final(struct dsm_hmac *h, uint8_t out[DSM_SHA256_LEN])
{
	uint8_t inner[DSM_SHA256_LEN];

	dsm_sha256_final(&h->inner, inner);
	dsm_sha256_update(&h->outer, inner, sizeof(inner));
	dsm_sha256_final(&h->outer, out);
	explicit_bzero(inner, sizeof(inner));
}

void dsm_hmac_sha256(const void *key, size_t keylen, const void *data,
		     size_t len, uint8_t out[DSM_SHA256_LEN])
{
	struct dsm_hmac h;

	dsm_hmac_init(&h, key, keylen);
	dsm_hmac_update(&h, data, len);
	dsm_hmac_final(&h, out);
}
