/*
 * sync.c - distributed synchronisation objects, node side (see sync.h).
 *
 * Every operation is one OBJOP request; the release-type ones (unlock, post,
 * barrier, condition wait and signal) first send this node's modifications,
 * with the OBJOP as the release's closing frame, so the master performs them
 * only after every other copy of the modified pages is invalidated.  A timed
 * wait that expires sends OBJCN and then still waits for the final answer,
 * which is either the grant (the timeout lost the race) or TIMEDOUT: the
 * master's state and ours never disagree.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dsm.h"
#include "dsm_log.h"
#include "node.h"
#include "sync.h"

/* Pages remembered per mutex for writing ahead. */
#define MREC_AHEAD 4

/* What this node knows of one object.  A mutex: the thread that owns it,
 * how many times it locked it, and its type (learnt from init or a grant).
 * A condition: the clock its timed waits use (from the attribute given to
 * pthread_cond_init on this node; CLOCK_REALTIME otherwise). */
struct mutex_rec {
	size_t off;
	pid_t owner;		/* 0: no thread of this node owns it */
	uint32_t count;
	uint8_t type;
	clockid_t clock;
	/* Pages this node had modified when it last unlocked the mutex: the
	 * next lock makes them writable at once (see mutex_write_ahead). */
	uint32_t ahead[MREC_AHEAD];
	uint8_t nahead;
	struct mutex_rec *next;
};

#define MREC_BUCKETS 256

static inline size_t mrec_bucket(size_t off)
{
	return (off / 8) % MREC_BUCKETS;
}

/* The record for off (obj_lock held); created when `create`.  NULL if
 * absent, or out of memory. */
static struct mutex_rec *mrec_get(struct segment *s, size_t off, int create)
{
	struct mutex_rec **b, *r;

	if (!s->mrecs) {
		if (!create)
			return NULL;
		s->mrecs = calloc(MREC_BUCKETS, sizeof(*s->mrecs));
		if (!s->mrecs)
			return NULL;
	}
	b = &s->mrecs[mrec_bucket(off)];
	for (r = *b; r; r = r->next)
		if (r->off == off)
			return r;
	if (!create)
		return NULL;
	r = calloc(1, sizeof(*r));
	if (!r)
		return NULL;
	r->off = off;
	r->clock = CLOCK_REALTIME;
	r->next = *b;
	*b = r;
	return r;
}

static void mrec_remove(struct segment *s, size_t off)
{
	if (!s->mrecs)
		return;
	for (struct mutex_rec **pp = &s->mrecs[mrec_bucket(off)]; *pp;
	     pp = &(*pp)->next) {
		if ((*pp)->off == off) {
			struct mutex_rec *r = *pp;

			*pp = r->next;
			free(r);
			return;
		}
	}
}

/* Record that thread `me` owns mutex off, `count` times (type: as learnt
 * from the master, -1 to keep).  0 if out of memory. */
static int mrec_own(struct segment *s, size_t off, pid_t me, uint32_t count,
		    int type)
{
	struct mutex_rec *r;

	pthread_mutex_lock(&s->obj_lock);
	r = mrec_get(s, off, 1);
	if (r) {
		r->owner = me;
		r->count = count;
		if (type >= 0)
			r->type = (uint8_t)type;
	}
	pthread_mutex_unlock(&s->obj_lock);
	return r != NULL;
}

void sync_free(struct segment *s)
{
	if (!s->mrecs)
		return;
	for (size_t i = 0; i < MREC_BUCKETS; i++) {
		while (s->mrecs[i]) {
			struct mutex_rec *r = s->mrecs[i];

			s->mrecs[i] = r->next;
			free(r);
		}
	}
	free(s->mrecs);
	s->mrecs = NULL;
}

void sync_reset(struct segment *s)
{
	sync_free(s);
}

/* errno value for an OBJOK result. */
static int result_errno(struct segment *s, uint32_t result, size_t off)
{
	switch (result) {
	case OR_OK:		return 0;
	case OR_BUSY:		return EBUSY;
	case OR_TIMEDOUT:	return ETIMEDOUT;
	case OR_AGAIN:		return EAGAIN;
	case OR_PERM:		return EPERM;
	case OR_INVAL:		return EINVAL;
	case OR_EXIST:		return EEXIST;
	case OR_NOENT:		return ENOENT;
	case OR_FBIG:		return EFBIG;
	case OR_OVERFLOW:	return EOVERFLOW;
	case OR_BROKEN:
		/* The round can never complete: waiting would hang. */
		dsm_err("the barrier at %p is broken: a node that waited on it "
			"is gone; exiting", (void *)(s->base + off));
		node_exit_now(1);
	default:
		dsm_err("master %s answered with unknown result %u", s->peer,
			result);
		return EIO;
	}
}

static int valid_abstime(const struct timespec *t)
{
	return t->tv_nsec >= 0 && t->tv_nsec < 1000000000L && t->tv_sec >= 0;
}

static void objop_encode(uint8_t *pl, enum dsm_objop op, size_t off,
			 uint8_t arg8, uint64_t arg)
{
	put_u8(pl, (uint8_t)op);
	put_u8(pl + 1, arg8);
	put_u16(pl + 2, 0);
	put_len(pl + 4, (CONFIG_LEN)off);
	put_len(pl + 4 + DSM_LEN_BYTES, (CONFIG_LEN)arg);
}

/*
 * A release-type operation whose answer the caller does not need, sent
 * without waiting (see req_send_release): only for operations the node
 * knows to be valid or whose failure POSIX leaves undefined (unlocking a
 * rwlock one does not hold); a semaphore's overflow at 2^31-1 is not
 * reported this way.
 */
int sync_release_async(struct segment *s, enum dsm_objop op, size_t off)
{
	uint8_t pl[DSM_OBJOP_LEN];

	objop_encode(pl, op, off, 0, 0);
	return req_send_release(s, K_OBJOP, pl, DSM_OBJOP_LEN, NULL) ? EIO : 0;
}

int sync_obj(struct segment *s, enum dsm_objop op, size_t off, uint8_t arg8,
	     uint64_t arg, const struct timespec *abstime, clockid_t clk,
	     uint64_t *value)
{
	uint8_t pl[DSM_OBJOP_LEN];
	struct waiter w;
	int rc;

	if (abstime && !valid_abstime(abstime))
		return EINVAL;
	if (value)
		*value = 0;
	objop_encode(pl, op, off, arg8, arg);
	req_begin(s, &w);
	if (atomic_load(&w.done) == 0) {
		if (dsm_objop_is_release(op)) {
			rc = coh_release(s, K_OBJOP, w.id, pl, DSM_OBJOP_LEN, NULL);
		} else {
			pthread_mutex_lock(&s->send_lock);
			rc = seg_send(s, K_OBJOP, w.id, pl, DSM_OBJOP_LEN);
			pthread_mutex_unlock(&s->send_lock);
		}
		if (rc < 0)
			svc_lost(s, strerror(errno));
	}
	if (abstime && req_wait_until(s, &w, abstime, clk) == ETIMEDOUT) {
		pthread_mutex_lock(&s->send_lock);
		rc = seg_send(s, K_OBJCN, w.id, NULL, 0);
		pthread_mutex_unlock(&s->send_lock);
		if (rc < 0)
			svc_lost(s, strerror(errno));
	}
	rc = abstime ? req_wait(s, &w) : svc_wait_reply(s, &w);
	if (rc != 0)
		return EIO;	/* master lost (and not configured to exit) */
	if (w.reply != K_OBJOK)
		return EIO;
	if (value)
		*value = w.value;
	return result_errno(s, w.result, off);
}

int sync_mutex_init(struct segment *s, size_t off, int type)
{
	int rc = sync_obj(s, OP_MUTEX_INIT, off, (uint8_t)type, 0, NULL, 0,
			  NULL);

	if (rc == 0) {
		struct mutex_rec *r;

		pthread_mutex_lock(&s->obj_lock);
		r = mrec_get(s, off, 1);
		if (r) {
			r->type = (uint8_t)type;
			r->owner = 0;
			r->count = 0;
		}
		pthread_mutex_unlock(&s->obj_lock);
	}
	return rc;
}

/*
 * Up to `max` pages of this node's dirty list (modified since its last
 * release) into out[]; how many.  At a mutex's unlock they are most likely
 * what the mutex protects.
 */
static size_t dirty_pages(struct segment *s, uint32_t *out, size_t max)
{
	size_t n;

	pthread_mutex_lock(&s->state_lock);
	n = s->ndirty < max ? s->ndirty : max;
	memcpy(out, s->dirty, n * sizeof(*out));
	pthread_mutex_unlock(&s->state_lock);
	return n;
}

/*
 * Mutex off was just locked by this node: make the pages it had modified
 * at its last unlock here writable now (coh_write_ahead: only those still
 * read-only whose last diff was not empty), sparing the critical section
 * a write-protect fault per page.
 */
static void mutex_write_ahead(struct segment *s, size_t off)
{
	uint32_t pages[MREC_AHEAD];
	struct mutex_rec *r;
	size_t n = 0;

	pthread_mutex_lock(&s->obj_lock);
	r = mrec_get(s, off, 0);
	if (r) {
		n = r->nahead;
		memcpy(pages, r->ahead, n * sizeof(*pages));
	}
	pthread_mutex_unlock(&s->obj_lock);
	for (size_t i = 0; i < n; i++)
		coh_write_ahead(s, pages[i], pages[i]);
}

/*
 * Lock a mutex.  A thread that already owns it is answered here, as POSIX
 * says for its type: recursive counts, errorcheck refuses (EDEADLK, or
 * EBUSY for trylock), normal deadlocks like glibc's (the request queues
 * behind this node's own hold) except that trylock says EBUSY.
 */
int sync_mutex_lock(struct segment *s, size_t off, enum sync_wait how,
		    const struct timespec *abstime, clockid_t clk)
{
	pid_t me = gettid();
	struct mutex_rec *r;
	uint64_t type = 0;
	int rc;

	pthread_mutex_lock(&s->obj_lock);
	r = mrec_get(s, off, 0);
	if (r && r->owner == me) {
		rc = -1;
		if (r->type == DSM_MUTEX_RECURSIVE)
			rc = r->count == UINT32_MAX ? EAGAIN : (r->count++, 0);
		else if (r->type == DSM_MUTEX_ERRORCHECK)
			rc = how == SYNC_TRY ? EBUSY : EDEADLK;
		else if (how == SYNC_TRY)
			rc = EBUSY;
		if (rc >= 0) {
			pthread_mutex_unlock(&s->obj_lock);
			return rc;
		}
	}
	pthread_mutex_unlock(&s->obj_lock);

	rc = sync_obj(s, how == SYNC_TRY ? OP_MUTEX_TRYLOCK : OP_MUTEX_LOCK,
		      off, 0, 0, how == SYNC_UNTIL ? abstime : NULL, clk,
		      &type);
	if (rc != 0)
		return rc;
	if (!mrec_own(s, off, me, 1, (int)type))
		return ENOMEM;
	mutex_write_ahead(s, off);
	return 0;
}

/*
 * Unlock a mutex: EPERM if a typed (recursive, errorcheck) mutex is not
 * owned by the calling thread; a recursive one only counts down until its
 * last unlock, which is the release.
 */
int sync_mutex_unlock(struct segment *s, size_t off)
{
	pid_t me = gettid();
	struct mutex_rec *r;
	uint32_t ahead[MREC_AHEAD];
	size_t nahead = dirty_pages(s, ahead, MREC_AHEAD);
	int mine = 0;

	pthread_mutex_lock(&s->obj_lock);
	r = mrec_get(s, off, 0);
	if (r) {
		if (r->type != DSM_MUTEX_NORMAL && r->owner != me) {
			pthread_mutex_unlock(&s->obj_lock);
			return EPERM;
		}
		if (r->type == DSM_MUTEX_RECURSIVE && r->count > 1) {
			r->count--;
			pthread_mutex_unlock(&s->obj_lock);
			return 0;
		}
		mine = r->owner == me;
		r->owner = 0;
		r->count = 0;
		r->nahead = (uint8_t)nahead;
		memcpy(r->ahead, ahead, nahead * sizeof(*ahead));
	}
	pthread_mutex_unlock(&s->obj_lock);
	/* Our own lock: nothing to learn from the answer.  Otherwise ask
	 * the master, which says EPERM if this node does not hold it. */
	if (mine)
		return sync_release_async(s, OP_MUTEX_UNLOCK, off);
	return sync_obj(s, OP_MUTEX_UNLOCK, off, 0, 0, NULL, 0, NULL);
}

int sync_mutex_destroy(struct segment *s, size_t off)
{
	int rc = sync_obj(s, OP_DESTROY, off, 0, 0, NULL, 0, NULL);

	if (rc == 0) {
		pthread_mutex_lock(&s->obj_lock);
		mrec_remove(s, off);
		pthread_mutex_unlock(&s->obj_lock);
	}
	return rc;
}

void sync_cond_set_clock(struct segment *s, size_t off, clockid_t clk)
{
	struct mutex_rec *r;

	pthread_mutex_lock(&s->obj_lock);
	r = mrec_get(s, off, 1);
	if (r)
		r->clock = clk;
	pthread_mutex_unlock(&s->obj_lock);
}

clockid_t sync_cond_clock(struct segment *s, size_t off)
{
	clockid_t clk = CLOCK_REALTIME;
	struct mutex_rec *r;

	pthread_mutex_lock(&s->obj_lock);
	r = mrec_get(s, off, 0);
	if (r)
		clk = r->clock;
	pthread_mutex_unlock(&s->obj_lock);
	return clk;
}

/*
 * Wait on condition `cond` with mutex `mutex` held by the calling thread.
 * The master unlocks the mutex and queues us in one step (no lost wake-up)
 * and answers once we hold the mutex again, also after a timeout.
 */
int sync_cond_wait(struct segment *s, size_t cond, size_t mutex,
		   const struct timespec *abstime, clockid_t clk)
{
	pid_t me = gettid();
	struct mutex_rec *r;
	uint32_t saved = 1;
	int rc;

	pthread_mutex_lock(&s->obj_lock);
	r = mrec_get(s, mutex, 0);
	if (r) {
		if (r->type != DSM_MUTEX_NORMAL && r->owner != me) {
			pthread_mutex_unlock(&s->obj_lock);
			return EPERM;
		}
		saved = r->count ? r->count : 1;
		r->owner = 0;
		r->count = 0;
	}
	pthread_mutex_unlock(&s->obj_lock);

	rc = sync_obj(s, OP_COND_WAIT, cond, 0, mutex, abstime, clk, NULL);
	/* We hold the mutex again (OK, TIMEDOUT) or the master never let it
	 * go (any refusal); only a lost master leaves it. */
	if (rc != EIO)
		mrec_own(s, mutex, me, saved, -1);
	return rc;
}
