/*
 * counter.c - DSM_NODES processes, THREADS threads each, increment one
 * shared counter ITERS times each under a process-shared pthread mutex.
 * No increment may be lost: the total is NODES x THREADS x ITERS.
 *
 *   counter [-s NAME] [-t SECS] [-k] ITERS [THREADS]
 *
 * The counter and the per-rank tallies live in the second page of the
 * object, away from the mutex and barrier.  Every rank prints
 *   "counter: result total T expected E"
 * after the final barrier, and fails if T != E or a rank's tally is wrong.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "unmod.h"

struct shared {
	uint32_t ready;
	pthread_barrier_t bar;
	pthread_mutex_t lock;
	_Alignas(4096) uint64_t counter;
	uint64_t per_rank[UNMOD_MAX_NODES];
};

#define SIZE 65536

static struct shared *sh;
static unsigned long long iters;

static void *worker(void *arg)
{
	unsigned long long i;

	(void)arg;
	for (i = 0; i < iters; i++) {
		unmod_lock(&sh->lock);
		sh->counter++;
		sh->per_rank[unmod.rank]++;
		unmod_unlock(&sh->lock);
	}
	return NULL;
}

int main(int argc, char **argv)
{
	int first = unmod_init("counter", argc, argv, "ITERS [THREADS]");
	unsigned long long threads = 1, expected, total;
	pthread_t tid[16];
	unsigned long long t;
	int r, rc;

	if (argc - first < 1 || argc - first > 2)
		unmod_usage("expected ITERS [THREADS]");
	iters = unmod_number(argv[first], "ITERS", 0, 100000000);
	if (argc - first == 2)
		threads = unmod_number(argv[first + 1], "THREADS", 1, 16);
	_Static_assert(sizeof(struct shared) <= SIZE, "struct shared too big");

	sh = unmod_attach(SIZE);
	if (unmod.rank == 0) {
		unmod_barrier_init(&sh->bar, (unsigned)unmod.nodes);
		unmod_mutex_init(&sh->lock, PTHREAD_MUTEX_NORMAL);
		sh->counter = 0;
		unmod_publish(&sh->ready);
	} else {
		unmod_wait_ready(&sh->ready);
	}
	unmod_info("waiting for %d process(es) at the start barrier", unmod.nodes);
	unmod_barrier(&sh->bar);
	unmod_info("started: %llu thread(s) x %llu increments", threads, iters);

	for (t = 0; t < threads; t++) {
		rc = pthread_create(&tid[t], NULL, worker, NULL);
		if (rc)
			unmod_die("pthread_create: %s", strerror(rc));
	}
	for (t = 0; t < threads; t++)
		pthread_join(tid[t], NULL);

	unmod_barrier(&sh->bar);
	expected = (unsigned long long)unmod.nodes * threads * iters;
	total = sh->counter;
	unmod_result("total %llu expected %llu", total, expected);
	for (r = 0; r < unmod.nodes; r++)
		if (sh->per_rank[r] != threads * iters)
			unmod_die("rank %d's tally is %llu, expected %llu", r,
				  (unsigned long long)sh->per_rank[r],
				  threads * iters);
	if (total != expected)
		unmod_die("total %llu, expected %llu: increments were lost",
			  total, expected);
	unmod_barrier(&sh->bar);
	if (unmod.rank == 0) {
		/* Everybody has left the barrier and nobody holds the mutex. */
		rc = pthread_mutex_destroy(&sh->lock);
		if (rc)
			unmod_die("pthread_mutex_destroy: %s", strerror(rc));
	}
	unmod_finish(sh, SIZE);
	return 0;
}
