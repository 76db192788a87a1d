/*
 * privmutex.c - process-private synchronisation and unrelated mappings
 * next to the shared object: THREADS threads per process, ITERS iterations
 * each, count under
 *   - a static PTHREAD_MUTEX_INITIALIZER mutex,
 *   - a malloc'd mutex (default attributes) and a private recursive mutex,
 *   - a private semaphore (sem_init pshared=0) used as a lock,
 * meet at a private barrier every 100 iterations, write their own stripe of
 * a private anonymous mapping, map and unmap a scratch anonymous mapping
 * every 50 iterations, and every 10th iteration also increment a counter in
 * the shared object under its process-shared mutex.
 *
 *   privmutex [-s NAME] [-t SECS] [-k] ITERS THREADS
 *
 * The private counts are per process and the shared one is the sum over the
 * processes.  Every rank prints, after the final barrier,
 *   "privmutex: result private P recursive P heap P sem P stripes ok shared S"
 * with P = THREADS x ITERS and S = NODES x THREADS x ceil(ITERS / 10).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "unmod.h"

#define MAX_THREADS 16
#define STRIPE 65536

struct shared {
	uint32_t ready;
	pthread_barrier_t bar;
	pthread_mutex_t lock;
	_Alignas(4096) uint64_t counter;
};

#define SIZE 65536

static struct shared *sh;
static unsigned long long iters, threads;

static pthread_mutex_t static_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_mutex_t *heap_lock;
static pthread_mutex_t rec_lock;
static sem_t sem_lock;
static pthread_barrier_t priv_bar;
static unsigned long long static_count, heap_count, rec_count, sem_count;
static unsigned char *stripes;     /* private anonymous mapping */
static int stripe_errors;

static void check(int rc, const char *what)
{
	if (rc)
		unmod_die("%s: %s", what, strerror(rc));
}

static void *worker(void *arg)
{
	unsigned t = (unsigned)(uintptr_t)arg;
	unsigned char *mine = stripes + (size_t)t * STRIPE;
	unsigned long long i;
	size_t j;

	for (i = 0; i < iters; i++) {
		check(pthread_mutex_lock(&static_lock), "lock(static)");
		static_count++;
		check(pthread_mutex_unlock(&static_lock), "unlock(static)");

		check(pthread_mutex_lock(heap_lock), "lock(heap)");
		heap_count++;
		check(pthread_mutex_unlock(heap_lock), "unlock(heap)");

		check(pthread_mutex_lock(&rec_lock), "lock(recursive)");
		check(pthread_mutex_lock(&rec_lock), "relock(recursive)");
		rec_count++;
		check(pthread_mutex_unlock(&rec_lock), "unlock(recursive)");
		check(pthread_mutex_unlock(&rec_lock), "unlock(recursive)");

		while (sem_wait(&sem_lock) == -1)
			if (errno != EINTR)
				unmod_die("sem_wait(private): %s", strerror(errno));
		sem_count++;
		if (sem_post(&sem_lock) == -1)
			unmod_die("sem_post(private): %s", strerror(errno));

		mine[i % STRIPE] = (unsigned char)(t + 1);

		if (i % 10 == 0) {
			unmod_lock(&sh->lock);
			sh->counter++;
			unmod_unlock(&sh->lock);
		}
		if (i % 50 == 0) {
			unsigned char *scratch = mmap(NULL, 65536,
				PROT_READ | PROT_WRITE,
				MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

			if (scratch == MAP_FAILED)
				unmod_die("mmap(scratch): %s", strerror(errno));
			memset(scratch, (int)t, 65536);
			for (j = 0; j < 65536; j += 4096)
				if (scratch[j] != (unsigned char)t)
					unmod_die("scratch mapping lost a write");
			if (munmap(scratch, 65536) == -1)
				unmod_die("munmap(scratch): %s", strerror(errno));
		}
		if (i % 100 == 99) {
			int rc = pthread_barrier_wait(&priv_bar);

			if (rc && rc != PTHREAD_BARRIER_SERIAL_THREAD)
				unmod_die("pthread_barrier_wait(private): %s",
					  strerror(rc));
		}
	}
	return NULL;
}

int main(int argc, char **argv)
{
	int first = unmod_init("privmutex", argc, argv, "ITERS THREADS");
	unsigned long long t, p, shared_want;
	pthread_mutexattr_t a;
	pthread_t tid[MAX_THREADS];
	size_t j;
	int rc;

	if (argc - first != 2)
		unmod_usage("expected ITERS THREADS");
	iters = unmod_number(argv[first], "ITERS", 0, 10000000);
	threads = unmod_number(argv[first + 1], "THREADS", 1, MAX_THREADS);
	p = threads * iters;
	shared_want = (unsigned long long)unmod.nodes * threads * ((iters + 9) / 10);

	heap_lock = malloc(sizeof(*heap_lock));
	if (!heap_lock)
		unmod_die("malloc: out of memory");
	check(pthread_mutex_init(heap_lock, NULL), "pthread_mutex_init(heap)");
	check(pthread_mutexattr_init(&a), "pthread_mutexattr_init");
	check(pthread_mutexattr_settype(&a, PTHREAD_MUTEX_RECURSIVE),
	      "pthread_mutexattr_settype");
	check(pthread_mutex_init(&rec_lock, &a), "pthread_mutex_init(recursive)");
	pthread_mutexattr_destroy(&a);
	if (sem_init(&sem_lock, 0, 1) == -1)
		unmod_die("sem_init(pshared=0): %s", strerror(errno));
	check(pthread_barrier_init(&priv_bar, NULL, (unsigned)threads),
	      "pthread_barrier_init(private)");
	stripes = mmap(NULL, (size_t)threads * STRIPE, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (stripes == MAP_FAILED)
		unmod_die("mmap(private anonymous): %s", strerror(errno));

	sh = unmod_attach(SIZE);
	unmod_start(&sh->ready, &sh->bar, &sh->lock);
	unmod_info("started: %llu threads x %llu iterations", threads, iters);
	if ((unsigned char *)sh < stripes + threads * STRIPE &&
	    stripes < (unsigned char *)sh + SIZE)
		unmod_die("the private mapping %p overlaps the shared object %p",
			  (void *)stripes, (void *)sh);

	for (t = 0; t < threads; t++) {
		rc = pthread_create(&tid[t], NULL, worker, (void *)(uintptr_t)t);
		if (rc)
			unmod_die("pthread_create: %s", strerror(rc));
	}
	for (t = 0; t < threads; t++)
		pthread_join(tid[t], NULL);
	for (t = 0; t < threads; t++)
		for (j = 0; j < (iters < STRIPE ? iters : STRIPE); j++)
			if (stripes[t * STRIPE + j] != (unsigned char)(t + 1))
				stripe_errors++;

	unmod_barrier(&sh->bar);
	unmod_result("private %llu recursive %llu heap %llu sem %llu stripes %s "
		     "shared %llu", static_count, rec_count, heap_count,
		     sem_count, stripe_errors ? "BAD" : "ok",
		     (unsigned long long)sh->counter);
	if (static_count != p || rec_count != p || heap_count != p ||
	    sem_count != p || stripe_errors)
		unmod_die("private counts %llu %llu %llu %llu (expected %llu), "
			  "%d bad stripe bytes", static_count, rec_count,
			  heap_count, sem_count, p, stripe_errors);
	if (sh->counter != shared_want)
		unmod_die("shared counter %llu, expected %llu",
			  (unsigned long long)sh->counter, shared_want);
	unmod_barrier(&sh->bar);
	unmod_finish(sh, SIZE);
	return 0;
}
