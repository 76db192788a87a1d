/*
 * mutextypes.c - the return codes of process-shared synchronisation objects
 * in shared memory, in every case a program may rely on:
 *   - per rank, on objects of its own (one thread, plus helper threads for
 *     "another thread" cases): normal mutex (trylock by the owner EBUSY,
 *     timedlock by another thread ETIMEDOUT), recursive mutex (relock,
 *     unlock by a non-owner thread EPERM, unlock when unlocked EPERM),
 *     errorcheck mutex (relock EDEADLK, unlock by a non-owner EPERM),
 *     condition timedwait ETIMEDOUT with the mutex re-acquired, semaphore
 *     trywait EAGAIN / timedwait ETIMEDOUT / bad timeout EINVAL, rwlock try
 *     and timed forms against readers and writers;
 *   - across ranks 0 and 1: a mutex, an errorcheck mutex and a read lock held
 *     by rank 0 give rank 1 EBUSY, ETIMEDOUT, EPERM, a shared read lock,
 *     and succeed once rank 0 released them; a condition signalled by rank 0
 *     wakes rank 1; a token passed round every rank with a broadcast;
 *   - a barrier used ROUNDS times returns PTHREAD_BARRIER_SERIAL_THREAD to
 *     exactly one process per round.
 *
 *   mutextypes [-s NAME] [-t SECS] [-k] [ROUNDS]
 *
 * Every failed check prints "mutextypes: rank R: FAIL WHAT: got X, expected
 * Y" on stderr.  Every rank prints, after the final barrier,
 *   "mutextypes: result rank R checks K failed 0"
 *   "mutextypes: result barrier rounds N serial-once N"
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "unmod.h"

#define MAX_ROUNDS 256

struct per_rank {
	pthread_mutex_t normal, recursive, errorcheck, condm;
	pthread_cond_t cond;
	sem_t zero;
	pthread_rwlock_t rw;
};

struct shared {
	uint32_t ready;
	pthread_barrier_t bar;
	pthread_mutex_t stats;
	pthread_mutex_t held;          /* normal, held by rank 0 in phase 1 */
	pthread_mutex_t cross;         /* errorcheck, held by rank 0 in phase 1 */
	pthread_rwlock_t rw;           /* read-held by rank 0 in phase 1 */
	pthread_mutex_t flagm;
	pthread_cond_t flagc;          /* rank 0 signals rank 1 */
	pthread_cond_t ringc;          /* the token goes round, broadcast */
	uint32_t flag, turn, ring;
	uint32_t serial[MAX_ROUNDS];
	struct per_rank per[UNMOD_MAX_NODES];
};

#define SIZE 65536

static struct shared *sh;
static unsigned checks, failures;

static void expect(const char *what, int got, int want)
{
	checks++;
	if (got == want)
		return;
	failures++;
	fprintf(stderr, "mutextypes: rank %d: FAIL %s: got %s (%d), expected %s\n",
		unmod.rank, what, unmod_errname(got), got, unmod_errname(want));
}

/* errno of a -1 return, 0 otherwise: for the sem_* calls. */
static int sem_rc(int rc)
{
	return rc == -1 ? errno : 0;
}

struct call {
	int (*fn)(void *);
	void *arg;
	int rc;
};

static void *call_thread(void *p)
{
	struct call *c = p;

	c->rc = c->fn(c->arg);
	return NULL;
}

/* fn(arg) in another thread of this process; its result. */
static int in_thread(int (*fn)(void *), void *arg)
{
	struct call c = { fn, arg, -1 };
	pthread_t t;
	int rc = pthread_create(&t, NULL, call_thread, &c);

	if (rc)
		unmod_die("pthread_create: %s", strerror(rc));
	pthread_join(t, NULL);
	return c.rc;
}

static int th_unlock(void *m) { return pthread_mutex_unlock(m); }
static int th_trylock(void *m) { return pthread_mutex_trylock(m); }

/* The th_timed* helpers unlock again when they got the lock: a thread must
 * not end holding it. */
static int th_timedlock(void *m)
{
	struct timespec ts = unmod_deadline(0.05);
	int rc = pthread_mutex_timedlock(m, &ts);

	return rc ? rc : pthread_mutex_unlock(m);
}

static int th_lock_unlock(void *m)
{
	int rc = pthread_mutex_lock(m);

	return rc ? rc : pthread_mutex_unlock(m);
}

static int th_timedrdlock(void *rw)
{
	struct timespec ts = unmod_deadline(0.05);
	int rc = pthread_rwlock_timedrdlock(rw, &ts);

	return rc ? rc : pthread_rwlock_unlock(rw);
}

static int th_timedwrlock(void *rw)
{
	struct timespec ts = unmod_deadline(0.05);
	int rc = pthread_rwlock_timedwrlock(rw, &ts);

	return rc ? rc : pthread_rwlock_unlock(rw);
}

static int th_tryrdlock(void *rw)
{
	int rc = pthread_rwlock_tryrdlock(rw);

	return rc ? rc : pthread_rwlock_unlock(rw);
}

static void local_mutexes(struct per_rank *p)
{
	struct timespec ts;

	expect("normal: lock", pthread_mutex_lock(&p->normal), 0);
	expect("normal: trylock by the owner", pthread_mutex_trylock(&p->normal), EBUSY);
	expect("normal: trylock by another thread", in_thread(th_trylock, &p->normal), EBUSY);
	expect("normal: timedlock by another thread", in_thread(th_timedlock, &p->normal), ETIMEDOUT);
	expect("normal: unlock", pthread_mutex_unlock(&p->normal), 0);
	expect("normal: trylock when free", pthread_mutex_trylock(&p->normal), 0);
	expect("normal: unlock after trylock", pthread_mutex_unlock(&p->normal), 0);
	expect("normal: lock+unlock by another thread", in_thread(th_lock_unlock, &p->normal), 0);

	expect("recursive: lock 1", pthread_mutex_lock(&p->recursive), 0);
	expect("recursive: lock 2", pthread_mutex_lock(&p->recursive), 0);
	expect("recursive: lock 3", pthread_mutex_lock(&p->recursive), 0);
	expect("recursive: trylock by the owner", pthread_mutex_trylock(&p->recursive), 0);
	expect("recursive: unlock by another thread", in_thread(th_unlock, &p->recursive), EPERM);
	expect("recursive: trylock by another thread", in_thread(th_trylock, &p->recursive), EBUSY);
	expect("recursive: timedlock by another thread", in_thread(th_timedlock, &p->recursive), ETIMEDOUT);
	expect("recursive: unlock 4", pthread_mutex_unlock(&p->recursive), 0);
	expect("recursive: unlock 3", pthread_mutex_unlock(&p->recursive), 0);
	expect("recursive: unlock 2", pthread_mutex_unlock(&p->recursive), 0);
	expect("recursive: still held after 3 of 4 unlocks", in_thread(th_trylock, &p->recursive), EBUSY);
	expect("recursive: unlock 1", pthread_mutex_unlock(&p->recursive), 0);
	expect("recursive: unlock when unlocked", pthread_mutex_unlock(&p->recursive), EPERM);
	expect("recursive: lock+unlock by another thread", in_thread(th_lock_unlock, &p->recursive), 0);

	expect("errorcheck: lock", pthread_mutex_lock(&p->errorcheck), 0);
	expect("errorcheck: relock by the owner", pthread_mutex_lock(&p->errorcheck), EDEADLK);
	expect("errorcheck: trylock by the owner", pthread_mutex_trylock(&p->errorcheck), EBUSY);
	expect("errorcheck: unlock by another thread", in_thread(th_unlock, &p->errorcheck), EPERM);
	expect("errorcheck: timedlock by another thread", in_thread(th_timedlock, &p->errorcheck), ETIMEDOUT);
	expect("errorcheck: unlock", pthread_mutex_unlock(&p->errorcheck), 0);
	expect("errorcheck: unlock when unlocked", pthread_mutex_unlock(&p->errorcheck), EPERM);
	ts = unmod_deadline(1.0);
	expect("errorcheck: timedlock when free", pthread_mutex_timedlock(&p->errorcheck, &ts), 0);
	expect("errorcheck: unlock after timedlock", pthread_mutex_unlock(&p->errorcheck), 0);
}

static void local_cond_sem_rwlock(struct per_rank *p)
{
	struct timespec ts;
	int v = -1;

	expect("cond: lock its errorcheck mutex", pthread_mutex_lock(&p->condm), 0);
	ts = unmod_deadline(0.1);
	expect("cond: timedwait with nobody signalling", pthread_cond_timedwait(&p->cond, &p->condm, &ts), ETIMEDOUT);
	ts = unmod_deadline(-1.0);
	expect("cond: timedwait with a past deadline", pthread_cond_timedwait(&p->cond, &p->condm, &ts), ETIMEDOUT);
	expect("cond: the mutex is held again after the timeout", pthread_mutex_unlock(&p->condm), 0);
	expect("cond: and unlocked now", pthread_mutex_unlock(&p->condm), EPERM);
	expect("cond: signal without waiters", pthread_cond_signal(&p->cond), 0);
	expect("cond: broadcast without waiters", pthread_cond_broadcast(&p->cond), 0);

	expect("sem: trywait at 0", sem_rc(sem_trywait(&p->zero)), EAGAIN);
	ts = unmod_deadline(0.1);
	expect("sem: timedwait at 0", sem_rc(sem_timedwait(&p->zero, &ts)), ETIMEDOUT);
	ts = unmod_deadline(1.0);
	ts.tv_nsec = 1000000000L;
	expect("sem: timedwait at 0 with tv_nsec 1e9", sem_rc(sem_timedwait(&p->zero, &ts)), EINVAL);
	expect("sem: post", sem_rc(sem_post(&p->zero)), 0);
	expect("sem: getvalue", sem_rc(sem_getvalue(&p->zero, &v)), 0);
	expect("sem: value after a post", v, 1);
	ts = unmod_deadline(1.0);
	expect("sem: timedwait at 1", sem_rc(sem_timedwait(&p->zero, &ts)), 0);
	expect("sem: getvalue", sem_rc(sem_getvalue(&p->zero, &v)), 0);
	expect("sem: value after the wait", v, 0);

	expect("rwlock: rdlock", pthread_rwlock_rdlock(&p->rw), 0);
	expect("rwlock: second rdlock by the reader", pthread_rwlock_tryrdlock(&p->rw), 0);
	expect("rwlock: trywrlock while read-locked", pthread_rwlock_trywrlock(&p->rw), EBUSY);
	expect("rwlock: timedwrlock by another thread", in_thread(th_timedwrlock, &p->rw), ETIMEDOUT);
	expect("rwlock: tryrdlock by another thread", in_thread(th_tryrdlock, &p->rw), 0);
	expect("rwlock: unlock 2", pthread_rwlock_unlock(&p->rw), 0);
	expect("rwlock: unlock 1", pthread_rwlock_unlock(&p->rw), 0);
	expect("rwlock: wrlock", pthread_rwlock_wrlock(&p->rw), 0);
	expect("rwlock: tryrdlock by the writer", pthread_rwlock_tryrdlock(&p->rw), EBUSY);
	expect("rwlock: trywrlock by the writer", pthread_rwlock_trywrlock(&p->rw), EBUSY);
	expect("rwlock: timedrdlock by another thread", in_thread(th_timedrdlock, &p->rw), ETIMEDOUT);
	expect("rwlock: tryrdlock by another thread", in_thread(th_tryrdlock, &p->rw), EBUSY);
	expect("rwlock: unlock the write lock", pthread_rwlock_unlock(&p->rw), 0);
	expect("rwlock: timedwrlock when free", in_thread(th_timedwrlock, &p->rw), 0);
}

/* Ranks 0 and 1; the other ranks only take part in the barriers. */
static void cross_rank(void)
{
	struct timespec ts;
	int rc;

	if (unmod.rank == 0) {
		expect("cross: rank 0 locks held", pthread_mutex_lock(&sh->held), 0);
		expect("cross: rank 0 locks cross", pthread_mutex_lock(&sh->cross), 0);
		expect("cross: rank 0 read-locks rw", pthread_rwlock_rdlock(&sh->rw), 0);
	}
	unmod_barrier(&sh->bar);
	if (unmod.rank == 1) {
		expect("cross: trylock of a mutex rank 0 holds", pthread_mutex_trylock(&sh->held), EBUSY);
		ts = unmod_deadline(0.2);
		expect("cross: timedlock of a mutex rank 0 holds", pthread_mutex_timedlock(&sh->held, &ts), ETIMEDOUT);
		expect("cross: unlock of an errorcheck mutex rank 0 holds", pthread_mutex_unlock(&sh->cross), EPERM);
		expect("cross: trylock of an errorcheck mutex rank 0 holds", pthread_mutex_trylock(&sh->cross), EBUSY);
		expect("cross: trywrlock while rank 0 reads", pthread_rwlock_trywrlock(&sh->rw), EBUSY);
		ts = unmod_deadline(0.2);
		expect("cross: timedwrlock while rank 0 reads", pthread_rwlock_timedwrlock(&sh->rw, &ts), ETIMEDOUT);
		expect("cross: tryrdlock while rank 0 reads", pthread_rwlock_tryrdlock(&sh->rw), 0);
		expect("cross: unlock that read lock", pthread_rwlock_unlock(&sh->rw), 0);
	}
	unmod_barrier(&sh->bar);
	if (unmod.rank == 0) {
		expect("cross: rank 0 unlocks held", pthread_mutex_unlock(&sh->held), 0);
		expect("cross: rank 0 unlocks cross", pthread_mutex_unlock(&sh->cross), 0);
		expect("cross: rank 0 unlocks rw", pthread_rwlock_unlock(&sh->rw), 0);
	}
	unmod_barrier(&sh->bar);
	if (unmod.rank == 1) {
		expect("cross: trylock after rank 0 unlocked", pthread_mutex_trylock(&sh->held), 0);
		expect("cross: unlock it", pthread_mutex_unlock(&sh->held), 0);
		ts = unmod_deadline(5.0);
		expect("cross: timedlock of the errorcheck mutex", pthread_mutex_timedlock(&sh->cross, &ts), 0);
		expect("cross: unlock it", pthread_mutex_unlock(&sh->cross), 0);
		expect("cross: trywrlock after rank 0 unlocked", pthread_rwlock_trywrlock(&sh->rw), 0);
		expect("cross: unlock it", pthread_rwlock_unlock(&sh->rw), 0);
	}
	unmod_barrier(&sh->bar);

	/* A condition signalled by rank 0 wakes rank 1. */
	ts = unmod_deadline(unmod_left());
	if (unmod.rank == 0) {
		unmod_sleep_ms(50);
		unmod_lock(&sh->flagm);
		sh->flag = 1;
		expect("cross: signal", pthread_cond_signal(&sh->flagc), 0);
		unmod_unlock(&sh->flagm);
	} else if (unmod.rank == 1) {
		rc = 0;
		unmod_lock(&sh->flagm);
		while (!sh->flag && rc == 0)
			rc = pthread_cond_timedwait(&sh->flagc, &sh->flagm, &ts);
		expect("cross: timedwait woken by rank 0's signal", rc, 0);
		expect("cross: flag seen after the wake-up", (int)sh->flag, 1);
		unmod_unlock(&sh->flagm);
	}

	/* A token round every rank, with a broadcast each time. */
	rc = 0;
	unmod_lock(&sh->flagm);
	while (sh->turn != (uint32_t)unmod.rank && rc == 0)
		rc = pthread_cond_timedwait(&sh->ringc, &sh->flagm, &ts);
	expect("ring: my turn came", rc, 0);
	expect("ring: count when my turn came", (int)sh->ring, unmod.rank);
	sh->ring++;
	sh->turn++;
	expect("ring: broadcast", pthread_cond_broadcast(&sh->ringc), 0);
	unmod_unlock(&sh->flagm);
	unmod_barrier(&sh->bar);
	expect("ring: every rank had its turn", (int)sh->ring, unmod.nodes);
}

int main(int argc, char **argv)
{
	int first = unmod_init("mutextypes", argc, argv, "[ROUNDS]");
	unsigned long long rounds = 16, i, once = 0;
	struct per_rank *p;
	int r;

	if (argc - first > 1)
		unmod_usage("expected [ROUNDS]");
	if (argc - first == 1)
		rounds = unmod_number(argv[first], "ROUNDS", 1, MAX_ROUNDS);
	_Static_assert(sizeof(struct shared) <= SIZE, "struct shared too big");

	sh = unmod_attach(SIZE);
	if (unmod.rank == 0) {
		unmod_barrier_init(&sh->bar, (unsigned)unmod.nodes);
		unmod_mutex_init(&sh->stats, PTHREAD_MUTEX_NORMAL);
		unmod_mutex_init(&sh->held, PTHREAD_MUTEX_NORMAL);
		unmod_mutex_init(&sh->cross, PTHREAD_MUTEX_ERRORCHECK);
		unmod_rwlock_init(&sh->rw);
		unmod_mutex_init(&sh->flagm, PTHREAD_MUTEX_NORMAL);
		unmod_cond_init(&sh->flagc);
		unmod_cond_init(&sh->ringc);
		for (r = 0; r < unmod.nodes; r++) {
			p = &sh->per[r];
			unmod_mutex_init(&p->normal, PTHREAD_MUTEX_NORMAL);
			unmod_mutex_init(&p->recursive, PTHREAD_MUTEX_RECURSIVE);
			unmod_mutex_init(&p->errorcheck, PTHREAD_MUTEX_ERRORCHECK);
			unmod_mutex_init(&p->condm, PTHREAD_MUTEX_ERRORCHECK);
			unmod_cond_init(&p->cond);
			unmod_sem_init(&p->zero, 0);
			unmod_rwlock_init(&p->rw);
		}
		unmod_publish(&sh->ready);
	} else {
		unmod_wait_ready(&sh->ready);
	}
	unmod_barrier(&sh->bar);
	unmod_info("started");

	p = &sh->per[unmod.rank];
	local_mutexes(p);
	local_cond_sem_rwlock(p);
	unmod_barrier(&sh->bar);
	cross_rank();

	for (i = 0; i < rounds; i++) {
		if (unmod_barrier(&sh->bar)) {
			unmod_lock(&sh->stats);
			sh->serial[i]++;
			unmod_unlock(&sh->stats);
		}
	}
	unmod_barrier(&sh->bar);
	for (i = 0; i < rounds; i++) {
		if (sh->serial[i] == 1)
			once++;
		else
			fprintf(stderr, "mutextypes: rank %d: FAIL barrier round "
				"%llu had %u serial threads\n", unmod.rank, i,
				sh->serial[i]);
	}
	unmod_result("rank %d checks %u failed %u", unmod.rank, checks, failures);
	unmod_result("barrier rounds %llu serial-once %llu", rounds, once);
	if (failures || once != rounds)
		unmod_die("%u of %u checks failed, %llu of %llu barrier rounds "
			  "had exactly one serial thread", failures, checks, once,
			  rounds);
	unmod_barrier(&sh->bar);
	unmod_finish(sh, SIZE);
	return 0;
}
