/*
 * shim_sync.c - pthread mutexes, rwlocks, barriers, condition variables and
 * unnamed semaphores that live inside the segment become distributed
 * objects (sync.c); all others go to glibc after one compare.
 *
 * The objects' bytes are not used: futexes do not cross machines.  The
 * master keeps their state by offset.  Attributes that matter are passed on
 * (mutex type, barrier count, semaphore value, condition clock); robust and
 * priority-protocol mutexes behave as normal ones.
 */
#include <errno.h>
#include <pthread.h>
#include <semaphore.h>
#include <time.h>

#include "node.h"
#include "shim.h"
#include "sync.h"

#define IN_SEG(obj, off) (shim_obj((obj), sizeof(*(obj)), &(off)))

static __typeof__(&pthread_mutex_init) real_pthread_mutex_init;
static __typeof__(&pthread_mutex_destroy) real_pthread_mutex_destroy;
static __typeof__(&pthread_mutex_lock) real_pthread_mutex_lock;
static __typeof__(&pthread_mutex_trylock) real_pthread_mutex_trylock;
static __typeof__(&pthread_mutex_timedlock) real_pthread_mutex_timedlock;
static __typeof__(&pthread_mutex_clocklock) real_pthread_mutex_clocklock;
static __typeof__(&pthread_mutex_unlock) real_pthread_mutex_unlock;
static __typeof__(&pthread_rwlock_init) real_pthread_rwlock_init;
static __typeof__(&pthread_rwlock_destroy) real_pthread_rwlock_destroy;
static __typeof__(&pthread_rwlock_rdlock) real_pthread_rwlock_rdlock;
static __typeof__(&pthread_rwlock_tryrdlock) real_pthread_rwlock_tryrdlock;
static __typeof__(&pthread_rwlock_timedrdlock) real_pthread_rwlock_timedrdlock;
static __typeof__(&pthread_rwlock_clockrdlock) real_pthread_rwlock_clockrdlock;
static __typeof__(&pthread_rwlock_wrlock) real_pthread_rwlock_wrlock;
static __typeof__(&pthread_rwlock_trywrlock) real_pthread_rwlock_trywrlock;
static __typeof__(&pthread_rwlock_timedwrlock) real_pthread_rwlock_timedwrlock;
static __typeof__(&pthread_rwlock_clockwrlock) real_pthread_rwlock_clockwrlock;
static __typeof__(&pthread_rwlock_unlock) real_pthread_rwlock_unlock;
static __typeof__(&pthread_barrier_init) real_pthread_barrier_init;
static __typeof__(&pthread_barrier_destroy) real_pthread_barrier_destroy;
static __typeof__(&pthread_barrier_wait) real_pthread_barrier_wait;
static __typeof__(&pthread_cond_init) real_pthread_cond_init;
static __typeof__(&pthread_cond_destroy) real_pthread_cond_destroy;
static __typeof__(&pthread_cond_signal) real_pthread_cond_signal;
static __typeof__(&pthread_cond_broadcast) real_pthread_cond_broadcast;
static __typeof__(&pthread_cond_wait) real_pthread_cond_wait;
static __typeof__(&pthread_cond_timedwait) real_pthread_cond_timedwait;
static __typeof__(&pthread_cond_clockwait) real_pthread_cond_clockwait;
static __typeof__(&sem_init) real_sem_init;
static __typeof__(&sem_destroy) real_sem_destroy;
static __typeof__(&sem_wait) real_sem_wait;
static __typeof__(&sem_trywait) real_sem_trywait;
static __typeof__(&sem_timedwait) real_sem_timedwait;
static __typeof__(&sem_clockwait) real_sem_clockwait;
static __typeof__(&sem_post) real_sem_post;
static __typeof__(&sem_getvalue) real_sem_getvalue;

/* glibc keeps an old ABI of the condition variable functions; the default
 * (current) one is this version. */
#define COND_VER "GLIBC_2.3.2"

/* Semaphore calls report errors through errno and -1. */
static int sem_result(int rc)
{
	if (rc == 0)
		return 0;
	errno = rc;
	return -1;
}

int pthread_mutex_init(pthread_mutex_t *m, const pthread_mutexattr_t *attr)
{
	size_t off;
	int type = PTHREAD_MUTEX_NORMAL;

	if (!IN_SEG(m, off))
		return REAL(pthread_mutex_init)(m, attr);
	if (attr)
		pthread_mutexattr_gettype(attr, &type);
	return sync_mutex_init(shim_seg, off,
			       type == PTHREAD_MUTEX_RECURSIVE ? DSM_MUTEX_RECURSIVE :
			       type == PTHREAD_MUTEX_ERRORCHECK ? DSM_MUTEX_ERRORCHECK :
			       DSM_MUTEX_NORMAL);
}

int pthread_mutex_destroy(pthread_mutex_t *m)
{
	size_t off;

	if (!IN_SEG(m, off))
		return REAL(pthread_mutex_destroy)(m);
	return sync_mutex_destroy(shim_seg, off);
}

int pthread_mutex_lock(pthread_mutex_t *m)
{
	size_t off;

	if (!IN_SEG(m, off))
		return REAL(pthread_mutex_lock)(m);
	return sync_mutex_lock(shim_seg, off, SYNC_BLOCK, NULL, 0);
}

int pthread_mutex_trylock(pthread_mutex_t *m)
{
	size_t off;

	if (!IN_SEG(m, off))
		return REAL(pthread_mutex_trylock)(m);
	return sync_mutex_lock(shim_seg, off, SYNC_TRY, NULL, 0);
}

int pthread_mutex_timedlock(pthread_mutex_t *m, const struct timespec *t)
{
	size_t off;

	if (!IN_SEG(m, off))
		return REAL(pthread_mutex_timedlock)(m, t);
	return sync_mutex_lock(shim_seg, off, SYNC_UNTIL, t, CLOCK_REALTIME);
}

int pthread_mutex_clocklock(pthread_mutex_t *m, clockid_t clk,
			    const struct timespec *t)
{
	size_t off;

	if (!IN_SEG(m, off))
		return REAL(pthread_mutex_clocklock)(m, clk, t);
	if (clk != CLOCK_REALTIME && clk != CLOCK_MONOTONIC)
		return EINVAL;
	return sync_mutex_lock(shim_seg, off, SYNC_UNTIL, t, clk);
}

int pthread_mutex_unlock(pthread_mutex_t *m)
{
	size_t off;

	if (!IN_SEG(m, off))
		return REAL(pthread_mutex_unlock)(m);
	return sync_mutex_unlock(shim_seg, off);
}

/* One rwlock operation, possibly bounded by t on clock clk. */
static int rw(size_t off, enum dsm_objop op, const struct timespec *t,
	      clockid_t clk)
{
	return sync_obj(shim_seg, op, off, 0, 0, t, clk, NULL);
}

int pthread_rwlock_init(pthread_rwlock_t *l, const pthread_rwlockattr_t *a)
{
	size_t off;

	if (!IN_SEG(l, off))
		return REAL(pthread_rwlock_init)(l, a);
	return rw(off, OP_RW_INIT, NULL, 0);
}

int pthread_rwlock_destroy(pthread_rwlock_t *l)
{
	size_t off;

	if (!IN_SEG(l, off))
		return REAL(pthread_rwlock_destroy)(l);
	return rw(off, OP_DESTROY, NULL, 0);
}

int pthread_rwlock_rdlock(pthread_rwlock_t *l)
{
	size_t off;

	if (!IN_SEG(l, off))
		return REAL(pthread_rwlock_rdlock)(l);
	return rw(off, OP_RW_RDLOCK, NULL, 0);
}

int pthread_rwlock_tryrdlock(pthread_rwlock_t *l)
{
	size_t off;

	if (!IN_SEG(l, off))
		return REAL(pthread_rwlock_tryrdlock)(l);
	return rw(off, OP_RW_TRYRDLOCK, NULL, 0);
}

int pthread_rwlock_timedrdlock(pthread_rwlock_t *l, const struct timespec *t)
{
	size_t off;

	if (!IN_SEG(l, off))
		return REAL(pthread_rwlock_timedrdlock)(l, t);
	return rw(off, OP_RW_RDLOCK, t, CLOCK_REALTIME);
}

int pthread_rwlock_clockrdlock(pthread_rwlock_t *l, clockid_t clk,
			       const struct timespec *t)
{
	size_t off;

	if (!IN_SEG(l, off))
		return REAL(pthread_rwlock_clockrdlock)(l, clk, t);
	return rw(off, OP_RW_RDLOCK, t, clk);
}

int pthread_rwlock_wrlock(pthread_rwlock_t *l)
{
	size_t off;

	if (!IN_SEG(l, off))
		return REAL(pthread_rwlock_wrlock)(l);
	return rw(off, OP_RW_WRLOCK, NULL, 0);
}

int pthread_rwlock_trywrlock(pthread_rwlock_t *l)
{
	size_t off;

	if (!IN_SEG(l, off))
		return REAL(pthread_rwlock_trywrlock)(l);
	return rw(off, OP_RW_TRYWRLOCK, NULL, 0);
}

int pthread_rwlock_timedwrlock(pthread_rwlock_t *l, const struct timespec *t)
{
	size_t off;

	if (!IN_SEG(l, off))
		return REAL(pthread_rwlock_timedwrlock)(l, t);
	return rw(off, OP_RW_WRLOCK, t, CLOCK_REALTIME);
}

int pthread_rwlock_clockwrlock(pthread_rwlock_t *l, clockid_t clk,
			       const struct timespec *t)
{
	size_t off;

	if (!IN_SEG(l, off))
		return REAL(pthread_rwlock_clockwrlock)(l, clk, t);
	return rw(off, OP_RW_WRLOCK, t, clk);
}

int pthread_rwlock_unlock(pthread_rwlock_t *l)
{
	size_t off;

	if (!IN_SEG(l, off))
		return REAL(pthread_rwlock_unlock)(l);
	return sync_release_async(shim_seg, OP_RW_UNLOCK, off);
}

int pthread_barrier_init(pthread_barrier_t *b,
			 const pthread_barrierattr_t *a, unsigned int count)
{
	size_t off;

	if (!IN_SEG(b, off))
		return REAL(pthread_barrier_init)(b, a, count);
	if (count == 0)
		return EINVAL;
	return sync_obj(shim_seg, OP_BARRIER_INIT, off, 0, count, NULL, 0, NULL);
}

int pthread_barrier_destroy(pthread_barrier_t *b)
{
	size_t off;

	if (!IN_SEG(b, off))
		return REAL(pthread_barrier_destroy)(b);
	return sync_obj(shim_seg, OP_DESTROY, off, 0, 0, NULL, 0, NULL);
}

int pthread_barrier_wait(pthread_barrier_t *b)
{
	uint64_t serial = 0;
	size_t off;
	int rc;

	if (!IN_SEG(b, off))
		return REAL(pthread_barrier_wait)(b);
	rc = sync_obj(shim_seg, OP_BARRIER_WAIT, off, 0, 0, NULL, 0, &serial);
	if (rc != 0)
		return rc;
	return serial ? PTHREAD_BARRIER_SERIAL_THREAD : 0;
}

int pthread_cond_init(pthread_cond_t *c, const pthread_condattr_t *a)
{
	clockid_t clk = CLOCK_REALTIME;
	size_t off;
	int rc;

	if (!IN_SEG(c, off))
		return REALV(pthread_cond_init, COND_VER)(c, a);
	if (a)
		pthread_condattr_getclock(a, &clk);
	rc = sync_obj(shim_seg, OP_COND_INIT, off, 0, 0, NULL, 0, NULL);
	if (rc == 0)
		sync_cond_set_clock(shim_seg, off, clk);
	return rc;
}

int pthread_cond_destroy(pthread_cond_t *c)
{
	size_t off;

	if (!IN_SEG(c, off))
		return REALV(pthread_cond_destroy, COND_VER)(c);
	return sync_obj(shim_seg, OP_DESTROY, off, 0, 0, NULL, 0, NULL);
}

int pthread_cond_signal(pthread_cond_t *c)
{
	size_t off;

	if (!IN_SEG(c, off))
		return REALV(pthread_cond_signal, COND_VER)(c);
	return sync_release_async(shim_seg, OP_COND_SIGNAL, off);
}

int pthread_cond_broadcast(pthread_cond_t *c)
{
	size_t off;

	if (!IN_SEG(c, off))
		return REALV(pthread_cond_broadcast, COND_VER)(c);
	return sync_release_async(shim_seg, OP_COND_BROADCAST, off);
}

/* Both objects must be in the segment: a distributed condition cannot
 * release a local mutex atomically, nor the other way round. */
static int cond_wait(size_t coff, pthread_mutex_t *m,
		     const struct timespec *t, clockid_t clk)
{
	size_t moff;

	if (!IN_SEG(m, moff))
		return EINVAL;
	return sync_cond_wait(shim_seg, coff, moff, t, clk);
}

int pthread_cond_wait(pthread_cond_t *c, pthread_mutex_t *m)
{
	size_t off;

	if (!IN_SEG(c, off))
		return REALV(pthread_cond_wait, COND_VER)(c, m);
	return cond_wait(off, m, NULL, 0);
}

int pthread_cond_timedwait(pthread_cond_t *c, pthread_mutex_t *m,
			   const struct timespec *t)
{
	size_t off;

	if (!IN_SEG(c, off))
		return REALV(pthread_cond_timedwait, COND_VER)(c, m, t);
	return cond_wait(off, m, t, sync_cond_clock(shim_seg, off));
}

int pthread_cond_clockwait(pthread_cond_t *c, pthread_mutex_t *m,
			   clockid_t clk, const struct timespec *t)
{
	size_t off;

	if (!IN_SEG(c, off))
		return REAL(pthread_cond_clockwait)(c, m, clk, t);
	if (clk != CLOCK_REALTIME && clk != CLOCK_MONOTONIC)
		return EINVAL;
	return cond_wait(off, m, t, clk);
}

int sem_init(sem_t *sem, int pshared, unsigned int value)
{
	size_t off;

	if (!IN_SEG(sem, off))
		return REAL(sem_init)(sem, pshared, value);
	if (value > DSM_SEM_MAX)
		return sem_result(EINVAL);
	return sem_result(sync_obj(shim_seg, OP_SEM_INIT, off, 0, value, NULL,
				   0, NULL));
}

int sem_destroy(sem_t *sem)
{
	size_t off;

	if (!IN_SEG(sem, off))
		return REAL(sem_destroy)(sem);
	return sem_result(sync_obj(shim_seg, OP_DESTROY, off, 0, 0, NULL, 0,
				   NULL));
}

int sem_wait(sem_t *sem)
{
	size_t off;

	if (!IN_SEG(sem, off))
		return REAL(sem_wait)(sem);
	return sem_result(sync_obj(shim_seg, OP_SEM_WAIT, off, 0, 0, NULL, 0,
				   NULL));
}

int sem_trywait(sem_t *sem)
{
	size_t off;

	if (!IN_SEG(sem, off))
		return REAL(sem_trywait)(sem);
	return sem_result(sync_obj(shim_seg, OP_SEM_TRYWAIT, off, 0, 0, NULL, 0,
				   NULL));
}

int sem_timedwait(sem_t *sem, const struct timespec *t)
{
	size_t off;

	if (!IN_SEG(sem, off))
		return REAL(sem_timedwait)(sem, t);
	return sem_result(sync_obj(shim_seg, OP_SEM_WAIT, off, 0, 0, t,
				   CLOCK_REALTIME, NULL));
}

int sem_clockwait(sem_t *sem, clockid_t clk, const struct timespec *t)
{
	size_t off;

	if (!IN_SEG(sem, off))
		return REAL(sem_clockwait)(sem, clk, t);
	if (clk != CLOCK_REALTIME && clk != CLOCK_MONOTONIC)
		return sem_result(EINVAL);
	return sem_result(sync_obj(shim_seg, OP_SEM_WAIT, off, 0, 0, t, clk,
				   NULL));
}

int sem_post(sem_t *sem)
{
	size_t off;

	if (!IN_SEG(sem, off))
		return REAL(sem_post)(sem);
	return sem_result(sync_release_async(shim_seg, OP_SEM_POST, off));
}

int sem_getvalue(sem_t *restrict sem, int *restrict sval)
{
	uint64_t v = 0;
	size_t off;
	int rc;

	if (!IN_SEG(sem, off))
		return REAL(sem_getvalue)(sem, sval);
	rc = sync_obj(shim_seg, OP_SEM_GETVALUE, off, 0, 0, NULL, 0, &v);
	if (rc == 0)
		*sval = (int)v;
	return sem_result(rc);
}
