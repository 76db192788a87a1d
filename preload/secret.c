/*
 * secret.c - the shared secret and what the handshake computes from it
 * (include/dsm_crypto.h, docs/SECURITY.md): reading the secret file with
 * ssh-like permission checks, fresh nonces from getrandom(2), the proofs,
 * and the constant-time comparison they are checked with.  Used by both
 * sides: master/auth.c and preload/auth.c.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "dsm_crypto.h"
#include "dsm_wire.h"

_Static_assert(DSM_MAC_LEN == DSM_SHA256_LEN, "a MAC is one SHA-256 digest");

int dsm_ct_equal(const void *a, const void *b, size_t n)
{
	const volatile uint8_t *x = a, *y = b;
	uint8_t diff = 0;

	for (size_t i = 0; i < n; i++)
		diff |= (uint8_t)(x[i] ^ y[i]);
	/* 1 iff diff == 0, without a branch on the secret-dependent value. */
	return (int)(1 & (((unsigned)diff - 1) >> 8));
}

int dsm_random(void *buf, size_t n)
{
	uint8_t *p = buf;

	while (n > 0) {
		ssize_t k = getrandom(p, n, 0);

		if (k < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += k;
		n -= (size_t)k;
	}
	return 0;
}

/* Read all of fd into buf[0..cap); returns the bytes read (cap + 1 never:
 * stops at cap), or -1 with errno. */
static ssize_t read_upto(int fd, uint8_t *buf, size_t cap)
{
	size_t got = 0;

	while (got < cap) {
		ssize_t k = read(fd, buf + got, cap - got);

		if (k < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		if (k == 0)
			break;
		got += (size_t)k;
	}
	return (ssize_t)got;
}

/*
 * See dsm_crypto.h.  The permissions are checked on the open descriptor
 * (no race with a rename), before a byte is read.  The file may hold one
 * more byte than DSM_SECRET_MAX when that byte is the trailing newline.
 */
int dsm_secret_load(const char *path, struct dsm_secret *s, char *why,
		    size_t whylen)
{
	uint8_t buf[DSM_SECRET_MAX + 2];
	struct stat st;
	ssize_t n;
	int fd;

	s->key = NULL;
	s->len = 0;
	if (!path || !*path) {
		snprintf(why, whylen, "empty secret file name");
		return -1;
	}
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0) {
		snprintf(why, whylen, "cannot open secret file %s: %s", path,
			 strerror(errno));
		return -1;
	}
	if (fstat(fd, &st) < 0) {
		snprintf(why, whylen, "fstat(secret file %s): %s", path,
			 strerror(errno));
		close(fd);
		return -1;
	}
	if (!S_ISREG(st.st_mode)) {
		snprintf(why, whylen, "secret file %s is not a regular file",
			 path);
		close(fd);
		return -1;
	}
	if (st.st_mode & (S_IRWXG | S_IRWXO)) {
		snprintf(why, whylen, "permissions %04o for secret file %s are "
			 "too open (group or others may read or change it); "
			 "chmod 600 %s", (unsigned)(st.st_mode & 07777), path,
			 path);
		close(fd);
		return -1;
	}
	n = read_upto(fd, buf, sizeof(buf));
	if (n < 0) {
		snprintf(why, whylen, "read(secret file %s): %s", path,
			 strerror(errno));
		close(fd);
		return -1;
	}
	close(fd);
	if (n > 0 && buf[n - 1] == '\n')
		n--;
	if ((size_t)n > DSM_SECRET_MAX) {
		snprintf(why, whylen, "secret file %s is longer than %u bytes: "
			 "is it the right file?", path, DSM_SECRET_MAX);
		explicit_bzero(buf, sizeof(buf));
		return -1;
	}
	if ((size_t)n < DSM_SECRET_MIN) {
		snprintf(why, whylen, "secret file %s holds %zd byte(s), at "
			 "least %u are needed (e.g. head -c 32 /dev/urandom | "
			 "base64 > %s; chmod 600 %s)", path, n, DSM_SECRET_MIN,
			 path, path);
		explicit_bzero(buf, sizeof(buf));
		return -1;
	}
	s->key = malloc((size_t)n);
	if (!s->key) {
		snprintf(why, whylen, "out of memory for the secret of %s",
			 path);
		explicit_bzero(buf, sizeof(buf));
		return -1;
	}
	memcpy(s->key, buf, (size_t)n);
	s->len = (size_t)n;
	explicit_bzero(buf, sizeof(buf));
	return 0;
}

void dsm_secret_free(struct dsm_secret *s)
{
	if (s->key) {
		explicit_bzero(s->key, s->len);
		free(s->key);
	}
	s->key = NULL;
	s->len = 0;
}

void dsm_auth_proof(const struct dsm_secret *s, const char *label,
		    const uint8_t *first, const uint8_t *second,
		    uint8_t out[DSM_SHA256_LEN])
{
	struct dsm_hmac h;

	dsm_hmac_init(&h, s->key, s->len);
	dsm_hmac_update(&h, label, strlen(label));
	dsm_hmac_update(&h, first, DSM_NONCE_LEN);
	dsm_hmac_update(&h, second, DSM_NONCE_LEN);
	dsm_hmac_final(&h, out);
}
