/*
 * clock.c - time stamps, the random access orders, and small I/O helpers
 * shared by the driver and the roles.
 */
#include <errno.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"

/* CLOCK_MONOTONIC in ns: one clock for every process of a run. */
double now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

/* splitmix64: small, fast, and the same sequence on every machine. */
uint64_t rng_next(uint64_t *state)
{
	uint64_t z = (*state += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

/* Fisher-Yates with a fixed seed: runs are comparable with each other. */
void shuffle(size_t *v, size_t n, uint64_t seed)
{
	uint64_t st = seed;

	for (size_t i = n; i > 1; i--) {
		size_t j = (size_t)(rng_next(&st) % i);
		size_t t = v[i - 1];

		v[i - 1] = v[j];
		v[j] = t;
	}
}

/* 0..n-1 in a random order (malloc'd; NULL if out of memory). */
size_t *order_random(size_t n, uint64_t seed)
{
	size_t *v = malloc((n ? n : 1) * sizeof(*v));

	if (!v)
		return NULL;
	for (size_t i = 0; i < n; i++)
		v[i] = i;
	shuffle(v, n, seed);
	return v;
}

/* Write all of buf; EINTR retried.  0, or -1 with errno. */
int write_full(int fd, const void *buf, size_t len)
{
	const uint8_t *p = buf;

	while (len > 0) {
		ssize_t n = write(fd, p, len);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/*
 * What two back-to-back clock reads cost (median of many): the error
 * included in every per-operation sample.  Reported with the results so a
 * reader can judge the smallest figures.
 */
double timer_overhead_ns(void)
{
	enum { N = 2001 };
	double d[N];

	for (int i = 0; i < N; i++) {
		double a = now_ns();
		double b = now_ns();

		d[i] = b - a;
	}
	qsort(d, N, sizeof(d[0]), cmp_double);
	return d[N / 2];
}

/* CPU time (user + system) of this whole process so far, in seconds. */
double cpu_self_s(void)
{
	struct rusage ru;

	if (getrusage(RUSAGE_SELF, &ru) < 0)
		return -1;
	return (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 +
	       (double)ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
}
