/*
 * rwlock.c - a process-shared pthread rwlock guarding an invariant over an
 * array that spans three pages: entry i is always version * NENT + i.  Each
 * thread of each rank, ROUNDS times: one write (wrlock, version++, rewrite
 * every entry) then READS reads (rdlock, check every entry against the
 * version read).  The lock calls alternate between the plain, timed (-t
 * deadline) and try (falling back to plain) forms.  A reader that sees a
 * mix of two versions counts a violation.
 *
 *   rwlock [-s NAME] [-t SECS] [-k] ROUNDS READS [THREADS]
 *
 * Every rank prints, after the final barrier,
 *   "rwlock: result version V writes W reads R violations 0"
 * with V = W = NODES x THREADS x ROUNDS and R = V x READS.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "unmod.h"

#define NENT 1024

struct shared {
	uint32_t ready;
	pthread_barrier_t bar;
	pthread_rwlock_t rw;
	pthread_mutex_t stats;
	uint64_t writes, reads, violations;
	uint64_t version;
	/* Starts half-way into the second page: NENT entries (8 KiB) touch
	 * three pages. */
	_Alignas(4096) char pad[2048];
	uint64_t ent[NENT];
};

#define SIZE 65536

static struct shared *sh;
static unsigned long long rounds, reads;

static void rw_call(int rc, const char *what)
{
	if (rc)
		unmod_die("%s: %s", what, strerror(rc));
}

static void write_lock(unsigned long long n)
{
	struct timespec ts;
	int rc;

	switch (n % 3) {
	case 0:
		rw_call(pthread_rwlock_wrlock(&sh->rw), "pthread_rwlock_wrlock");
		break;
	case 1:
		ts = unmod_deadline(unmod_left());
		rc = pthread_rwlock_timedwrlock(&sh->rw, &ts);
		rw_call(rc, "pthread_rwlock_timedwrlock");
		break;
	default:
		rc = pthread_rwlock_trywrlock(&sh->rw);
		if (rc == EBUSY)
			rc = pthread_rwlock_wrlock(&sh->rw);
		rw_call(rc, "pthread_rwlock_trywrlock/wrlock");
	}
}

static void read_lock(unsigned long long n)
{
	struct timespec ts;
	int rc;

	switch (n % 3) {
	case 0:
		rw_call(pthread_rwlock_rdlock(&sh->rw), "pthread_rwlock_rdlock");
		break;
	case 1:
		ts = unmod_deadline(unmod_left());
		rc = pthread_rwlock_timedrdlock(&sh->rw, &ts);
		rw_call(rc, "pthread_rwlock_timedrdlock");
		break;
	default:
		rc = pthread_rwlock_tryrdlock(&sh->rw);
		if (rc == EBUSY)
			rc = pthread_rwlock_rdlock(&sh->rw);
		rw_call(rc, "pthread_rwlock_tryrdlock/rdlock");
	}
}

static void *worker(void *arg)
{
	unsigned long long r, i, w = 0, rd = 0, bad = 0;
	uint64_t v;
	size_t e;

	(void)arg;
	for (r = 0; r < rounds; r++) {
		write_lock(r);
		v = ++sh->version;
		for (e = 0; e < NENT; e++)
			sh->ent[e] = v * NENT + e;
		rw_call(pthread_rwlock_unlock(&sh->rw), "pthread_rwlock_unlock");
		w++;
		for (i = 0; i < reads; i++) {
			read_lock(r + i);
			v = sh->ent[0] / NENT;
			for (e = 0; e < NENT; e++)
				if (sh->ent[e] != v * NENT + e)
					break;
			if (e < NENT || v > sh->version) {
				if (bad < 5)
					fprintf(stderr, "rwlock: rank %d: entry %zu "
						"is %llu, entry 0 says version %llu "
						"(version field %llu)\n", unmod.rank,
						e, e < NENT ?
						(unsigned long long)sh->ent[e] : 0ULL,
						(unsigned long long)v,
						(unsigned long long)sh->version);
				bad++;
			}
			rw_call(pthread_rwlock_unlock(&sh->rw),
				"pthread_rwlock_unlock");
			rd++;
		}
	}
	unmod_lock(&sh->stats);
	sh->writes += w;
	sh->reads += rd;
	sh->violations += bad;
	unmod_unlock(&sh->stats);
	return NULL;
}

int main(int argc, char **argv)
{
	int first = unmod_init("rwlock", argc, argv, "ROUNDS READS [THREADS]");
	unsigned long long threads = 1, want, t;
	pthread_t tid[16];
	size_t e;
	int rc;

	if (argc - first < 2 || argc - first > 3)
		unmod_usage("expected ROUNDS READS [THREADS]");
	rounds = unmod_number(argv[first], "ROUNDS", 0, 10000000);
	reads = unmod_number(argv[first + 1], "READS", 0, 10000000);
	if (argc - first == 3)
		threads = unmod_number(argv[first + 2], "THREADS", 1, 16);
	_Static_assert(sizeof(struct shared) <= SIZE, "struct shared too big");
	want = (unsigned long long)unmod.nodes * threads * rounds;

	sh = unmod_attach(SIZE);
	if (unmod.rank == 0) {
		unmod_barrier_init(&sh->bar, (unsigned)unmod.nodes);
		unmod_rwlock_init(&sh->rw);
		unmod_mutex_init(&sh->stats, PTHREAD_MUTEX_NORMAL);
		for (e = 0; e < NENT; e++)
			sh->ent[e] = e;
		unmod_publish(&sh->ready);
	} else {
		unmod_wait_ready(&sh->ready);
	}
	unmod_barrier(&sh->bar);
	unmod_info("started: %llu thread(s) x %llu rounds of 1 write + %llu reads",
		   threads, rounds, reads);

	for (t = 0; t < threads; t++) {
		rc = pthread_create(&tid[t], NULL, worker, NULL);
		if (rc)
			unmod_die("pthread_create: %s", strerror(rc));
	}
	for (t = 0; t < threads; t++)
		pthread_join(tid[t], NULL);

	unmod_barrier(&sh->bar);
	unmod_result("version %llu writes %llu reads %llu violations %llu",
		     (unsigned long long)sh->version,
		     (unsigned long long)sh->writes,
		     (unsigned long long)sh->reads,
		     (unsigned long long)sh->violations);
	if (sh->version != want || sh->writes != want || sh->reads != want * reads)
		unmod_die("version %llu writes %llu reads %llu, expected %llu, "
			  "%llu, %llu", (unsigned long long)sh->version,
			  (unsigned long long)sh->writes,
			  (unsigned long long)sh->reads, want, want, want * reads);
	if (sh->violations)
		unmod_die("%llu reads saw a broken invariant",
			  (unsigned long long)sh->violations);
	for (e = 0; e < NENT; e++)
		if (sh->ent[e] != sh->version * NENT + e)
			unmod_die("final entry %zu is %llu, expected %llu", e,
				  (unsigned long long)sh->ent[e],
				  (unsigned long long)(sh->version * NENT + e));
	unmod_barrier(&sh->bar);
	unmod_finish(sh, SIZE);
	return 0;
}
