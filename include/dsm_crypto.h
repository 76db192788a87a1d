/*
 * dsm_crypto.h - what node authentication is built from (docs/SECURITY.md,
 * docs/PROTOCOL.md "Authentication"): SHA-256 (FIPS 180-4) and
 * HMAC-SHA256 (RFC 2104), a constant-time comparison, fresh random bytes
 * from getrandom(2), and the shared secret read from its file.
 *
 * The product depends on glibc only, so the hash lives in the tree
 * (preload/sha256.c); the rest is in preload/secret.c.  The master and the
 * nodes both link them (libdsm.so, dsm-master).
 */
#ifndef DSM_CRYPTO_H
#define DSM_CRYPTO_H

#include <stddef.h>
#include <stdint.h>

#define DSM_SHA256_LEN 32u	/* digest bytes */
#define DSM_SHA256_BLOCK 64u	/* block bytes (also HMAC's key block) */

/* A secret shorter than this is refused (it could be guessed). */
#define DSM_SECRET_MIN 16u
/* A secret file longer than this is refused (not a key file). */
#define DSM_SECRET_MAX 4096u

/* Labels of the two proofs (their ASCII bytes, no NUL, come first). */
#define DSM_AUTH_LABEL_MASTER "dsm-auth-master"
#define DSM_AUTH_LABEL_NODE "dsm-auth-node"

/* Running SHA-256: init, update any number of times, final once. */
struct dsm_sha256 {
	uint32_t h[8];			/* chaining value */
	uint64_t nbytes;		/* message bytes so far */
	uint8_t buf[DSM_SHA256_BLOCK];	/* partial block: buf[0..nbuf) */
	size_t nbuf;
};

void dsm_sha256_init(struct dsm_sha256 *c);
void dsm_sha256_update(struct dsm_sha256 *c, const void *data, size_t len);
/* Write the digest; c is wiped afterwards (init it again to reuse it). */
void dsm_sha256_final(struct dsm_sha256 *c, uint8_t out[DSM_SHA256_LEN]);
/* One-shot digest of data[0..len). */
void dsm_sha256(const void *data, size_t len, uint8_t out[DSM_SHA256_LEN]);

/* Running HMAC-SHA256 with a key of any length (RFC 2104). */
struct dsm_hmac {
	struct dsm_sha256 inner, outer;
};

void dsm_hmac_init(struct dsm_hmac *h, const void *key, size_t keylen);
void dsm_hmac_update(struct dsm_hmac *h, const void *data, size_t len);
/* Write the MAC; h is wiped afterwards. */
void dsm_hmac_final(struct dsm_hmac *h, uint8_t out[DSM_SHA256_LEN]);
/* One-shot HMAC-SHA256(key, data). */
void dsm_hmac_sha256(const void *key, size_t keylen, const void *data,
		     size_t len, uint8_t out[DSM_SHA256_LEN]);

/*
 * 1 if a[0..n) equals b[0..n), else 0, in a time that depends on n only
 * (never on where the first difference is): for comparing MACs.
 */
int dsm_ct_equal(const void *a, const void *b, size_t n);

/* Fill buf with n bytes from getrandom(2).  0, or -1 with errno. */
int dsm_random(void *buf, size_t n);

/* A shared secret in memory: key[0..len); len 0 = none. */
struct dsm_secret {
	uint8_t *key;
	size_t len;
};

/*
 * Read the secret from `path`: its bytes are the key, one trailing newline
 * stripped.  Refused, with the reason in why[0..whylen) (one line that names
 * the file): a file that cannot be opened or read, is not a regular file,
 * is readable or writable by group or others ("permissions 0644 for F are
 * too open; chmod 600 F", as ssh says of keys), holds fewer than
 * DSM_SECRET_MIN bytes or more than DSM_SECRET_MAX.  Returns 0 and fills
 * *s (free with dsm_secret_free), or -1 with *s empty.
 */
int dsm_secret_load(const char *path, struct dsm_secret *s, char *why,
		    size_t whylen);

/* Wipe the key (explicit_bzero) and free it; *s is empty afterwards. */
void dsm_secret_free(struct dsm_secret *s);

/*
 * The proofs of the handshake: HMAC-SHA256(key, label || first || second)
 * with DSM_AUTH_LABEL_MASTER and (nonce of the node, nonce of the master)
 * for the master, DSM_AUTH_LABEL_NODE and (master's, node's) for the node.
 * Nonces are DSM_NONCE_LEN (32) bytes.
 */
void dsm_auth_proof(const struct dsm_secret *s, const char *label,
		    const uint8_t *first, const uint8_t *second,
		    uint8_t out[DSM_SHA256_LEN]);

#endif
