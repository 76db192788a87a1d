/*
 * check.h - the few assertion macros the C unit tests share.
 *
 * A failed CHECK prints the file, line and condition (plus an optional
 * printf-style detail) and counts the failure; the test goes on, so one run
 * shows every broken case.  check_summary() prints "<name>: N checks, N
 * failed" and gives the exit status of the test program.
 */
#ifndef DSM_TEST_CHECK_H
#define DSM_TEST_CHECK_H

#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

static unsigned long check_count, check_failed;

#define CHECK(cond) CHECKF(cond, "%s", "")

#define CHECKF(cond, ...)                                                   \
	do {                                                                \
		check_count++;                                              \
		if (!(cond)) {                                              \
			check_failed++;                                     \
			fprintf(stderr, "%s:%d: check failed: %s ",         \
				__FILE__, __LINE__, #cond);                 \
			fprintf(stderr, __VA_ARGS__);                       \
			fputc('\n', stderr);                                \
		}                                                           \
	} while (0)

/* Like CHECKF, but stops the enclosing function (which returns void). */
#define REQUIRE(cond, ...)                                                  \
	do {                                                                \
		unsigned long before_ = check_failed;                       \
		CHECKF(cond, __VA_ARGS__);                                  \
		if (check_failed != before_)                                \
			return;                                             \
	} while (0)

static inline int check_summary(const char *name)
{
	printf("%s: %lu checks, %lu failed\n", name, check_count, check_failed);
	return check_failed ? 1 : 0;
}

/*
 * A buffer of `len` bytes whose last byte is immediately followed by a
 * PROT_NONE page, so a read one byte past the end crashes the test instead of
 * passing unnoticed.  Free with guarded_free(p, len).
 */
static inline unsigned char *guarded_alloc(size_t len)
{
	size_t pg = (size_t)sysconf(_SC_PAGESIZE);
	size_t data = (len + pg - 1) / pg * pg;
	unsigned char *m;

	if (data == 0)
		data = pg;
	m = mmap(NULL, data + pg, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (m == MAP_FAILED) {
		perror("mmap");
		exit(2);
	}
	if (mprotect(m + data, pg, PROT_NONE) != 0) {
		perror("mprotect");
		exit(2);
	}
	return m + data - len;
}

static inline void guarded_free(unsigned char *p, size_t len)
{
	size_t pg = (size_t)sysconf(_SC_PAGESIZE);
	size_t data = (len + pg - 1) / pg * pg;

	if (data == 0)
		data = pg;
	munmap(p + len - data, data + pg);
}

#endif
