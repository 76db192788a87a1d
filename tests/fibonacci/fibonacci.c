/*
 * fibonacci.c - several nodes advance one shared Fibonacci sequence (the
 * original spec's example): the result must equal the sequential one.
 *
 *   fibonacci HOST PORT N        take part: advance the sequence until N steps
 *   fibonacci --sequential N     compute F(N) alone, without DSM
 *
 * The segment starts with struct fib { step, n, a, b }.  Under lock_write,
 * the first node to find n == 0 sets n = N, a = F(0) = 0, b = F(1) = 1; then
 * every node repeats "lock_write; if step < n: (a, b) = (b, a + b), step++;
 * unlock_write" until step reaches n.  After that a == F(N) (mod 2^64: the
 * arithmetic wraps, so any N works).  Every node prints
 *     fibonacci: F(N) = VALUE (this node did K of N steps)
 * and --sequential prints "fibonacci: F(N) = VALUE", so the two can be
 * compared directly.  Exit 0 on success, 1 on a DSM error or a mismatch in
 * N between nodes, 2 on bad usage.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dsm.h"
#include "scenario.h"

struct fib {
	uint64_t step;	/* steps done so far */
	uint64_t n;	/* steps to do; 0 until the first node sets it */
	uint64_t a;	/* F(step) */
	uint64_t b;	/* F(step + 1) */
};

static void usage(void)
{
	fprintf(stderr, "usage: fibonacci HOST PORT N\n"
			"       fibonacci --sequential N\n");
	exit(2);
}

int main(int argc, char **argv)
{
	unsigned long long n, port, mine = 0;
	struct fib *f;
	uint64_t result;
	int rc;

	if (argc == 3 && strcmp(argv[1], "--sequential") == 0) {
		uint64_t a = 0, b = 1;

		n = number(argv[2], "N");
		for (unsigned long long k = 0; k < n; k++) {
			uint64_t t = a + b;

			a = b;
			b = t;
		}
		printf("fibonacci: F(%llu) = %" PRIu64 "\n", n, a);
		return 0;
	}
	if (argc != 4)
		usage();
	port = number(argv[2], "PORT");
	n = number(argv[3], "N");
	if (port == 0 || port > 65535 || n == 0)
		usage();
	setvbuf(stdout, NULL, _IOLBF, 0);

	f = init_slave(argv[1], (uint16_t)port);
	if (!f)
		fail("init_slave", dsm_last_error());
	for (;;) {
		int done = 0;

		if ((rc = lock_write(f, sizeof(*f))) != 0)
			fail("lock_write", rc);
		if (f->n == 0) {
			f->n = n;
			f->step = 0;
			f->a = 0;
			f->b = 1;
		}
		if (f->n != n) {
			fprintf(stderr, "fibonacci: another node computes F(%" PRIu64
				"), not F(%llu)\n", f->n, n);
			return 1;
		}
		if (f->step < f->n) {
			uint64_t t = f->a + f->b;

			f->a = f->b;
			f->b = t;
			f->step++;
			mine++;
		} else {
			done = 1;
		}
		if ((rc = unlock_write(f, sizeof(*f))) != 0)
			fail("unlock_write", rc);
		if (done)
			break;
	}

	if ((rc = lock_read(f, sizeof(*f))) != 0)
		fail("lock_read", rc);
	result = f->a;
	if (f->step != n) {
		fprintf(stderr, "fibonacci: finished at step %" PRIu64 " of %llu\n",
			f->step, n);
		return 1;
	}
	if ((rc = unlock_read(f, sizeof(*f))) != 0)
		fail("unlock_read", rc);
	printf("fibonacci: F(%llu) = %" PRIu64 " (this node did %llu of %llu steps)\n",
	       n, result, mine, n);
	if ((rc = destroy_slave()) != 0)
		fail("destroy_slave", rc);
	return 0;
}
