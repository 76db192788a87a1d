/*
 * local.c - the process that runs the master as one more participant
 * (lock_read/lock_write on the pointer init_master returned), and
 * master_wait_idle.
 *
 * Callers run in other threads.  They put a request on their own stack into
 * a mailbox (mutex + list), poke an eventfd that is in the loop's epoll set,
 * and sleep on a condition variable until the loop says done.  The loop
 * treats the local participant as a connection without a socket that never
 * holds page copies: it reads and writes the home copy directly.
 *
 * Locking: m->mu protects the mailbox, every request's done/result, and the
 * joined/stopped state; the loop takes it only briefly and never while it
 * waits for anything.
 */
#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#include "dsm_log.h"
#include "master_int.h"

/* Hand r to the loop and wait until it is done. */
static int local_call(struct master *m, struct mlocal_req *r)
{
	uint64_t one = 1;
	ssize_t n;

	pthread_mutex_lock(&m->mu);
	if (m->stopped) {
		pthread_mutex_unlock(&m->mu);
		return DSM_ENOTINIT;
	}
	r->next = NULL;
	if (m->mbox_tail)
		m->mbox_tail->next = r;
	else
		m->mbox_head = r;
	m->mbox_tail = r;
	pthread_mutex_unlock(&m->mu);

	do
		n = write(m->localfd, &one, sizeof(one));
	while (n < 0 && errno == EINTR);
	if (n < 0)
		dsm_err("write(local eventfd): %s", strerror(errno));

	pthread_mutex_lock(&m->mu);
	while (!r->done)
		pthread_cond_wait(&m->local_cv, &m->mu);
	pthread_mutex_unlock(&m->mu);
	return r->result;
}

static int local_request(struct master *m, size_t off, size_t len, int write,
			 int unlock)
{
	struct mlocal_req r;

	if (!m)
		return DSM_ENOTINIT;
	if (len == 0 || off >= m->size || len > m->size - off)
		return DSM_ERANGE;
	memset(&r, 0, sizeof(r));
	r.unlock = unlock;
	r.write = write;
	r.off = off;
	r.len = len;
	return local_call(m, &r);
}

/*
 * Lock [off, off+len) of the segment for this process: a normal FIFO lock
 * request of the local participant.  Blocks until granted.
 */
int master_local_lock(struct master *m, size_t off, size_t len, int write)
{
	return local_request(m, off, len, write, 0);
}

/*
 * Unlock: a release of the local participant.  unlock_write touches every
 * page of the range (every other copy is invalidated), unlock_read none.
 * Returns once the release is complete and the lock dropped, or
 * DSM_ENOTLOCKED if this process did not hold the range in that mode.
 */
int master_local_unlock(struct master *m, size_t off, size_t len, int write)
{
	return local_request(m, off, len, write, 1);
}

/* Block until nodes came and all went, or the master stopped. */
int master_wait_idle(struct master *m)
{
	if (!m)
		return DSM_ENOTINIT;
	pthread_mutex_lock(&m->mu);
	while (!m->stopped && !(m->ever_joined && m->joined == 0))
		pthread_cond_wait(&m->idle_cv, &m->mu);
	pthread_mutex_unlock(&m->mu);
	return 0;
}

/* Loop side: the request is finished; wake its caller. */
void mlocal_done(struct master *m, struct mlocal_req *r, int result)
{
	pthread_mutex_lock(&m->mu);
	r->result = result;
	r->done = 1;
	pthread_cond_broadcast(&m->local_cv);
	pthread_mutex_unlock(&m->mu);
}

/*
 * Loop side: the local eventfd fired.  Take every queued request and start
 * it.  Lock requests complete through mpart_granted, unlocks through the
 * release machinery; only failures to start are answered here.
 */
void mlocal_drain(struct master *m)
{
	struct mlocal_req *r, *next;
	uint64_t v;
	size_t first, last;

	while (read(m->localfd, &v, sizeof(v)) < 0 && errno == EINTR)
		;
	pthread_mutex_lock(&m->mu);
	r = m->mbox_head;
	m->mbox_head = m->mbox_tail = NULL;
	pthread_mutex_unlock(&m->mu);

	for (; r; r = next) {
		next = r->next;
		if (mstore_range(m, r->off, r->len, &first, &last) < 0) {
			mlocal_done(m, r, DSM_ERANGE);
		} else if (!r->unlock) {
			if (mlock_request(m, &m->local, 0, first, last,
					  r->write, r) < 0)
				mlocal_done(m, r, DSM_ENOMEM);
		} else if (mrel_close(m, &m->local,
				      r->write ? MREL_UNLOW : MREL_UNLOR, 0,
				      r->off, r->len, r) < 0) {
			mlocal_done(m, r, DSM_ENOMEM);
		}
	}
}

/*
 * Loop side, master stopping: no new local requests; queued ones, pending
 * lock requests and unfinished releases return DSM_ENOTINIT; wait_idle
 * callers wake up.
 */
void mlocal_shutdown(struct master *m)
{
	struct mlocal_req *r, *next;

	pthread_mutex_lock(&m->mu);
	m->stopped = 1;
	r = m->mbox_head;
	m->mbox_head = m->mbox_tail = NULL;
	pthread_cond_broadcast(&m->idle_cv);
	pthread_mutex_unlock(&m->mu);
	for (; r; r = next) {
		next = r->next;
		mlocal_done(m, r, DSM_ENOTINIT);
	}
	mpart_cleanup(m, &m->local);
}

void mlocal_node_joined(struct master *m)
{
	pthread_mutex_lock(&m->mu);
	m->joined++;
	m->ever_joined = 1;
	pthread_mutex_unlock(&m->mu);
}

void mlocal_node_left(struct master *m)
{
	pthread_mutex_lock(&m->mu);
	if (m->joined > 0)
		m->joined--;
	if (m->joined == 0)
		pthread_cond_broadcast(&m->idle_cv);
	pthread_mutex_unlock(&m->mu);
}
