/*
 * request.c - application threads waiting for the master's replies.
 *
 * A thread registers a waiter (on its own stack) with a fresh request id
 * before sending the request, so a reply can never arrive unclaimed; the
 * service thread posts the reply by id and wakes the thread through a futex
 * on `done`.  When the master is lost every waiter is failed at once and
 * later registrations fail immediately, so nothing waits on a dead master.
 */
#include <errno.h>
#include <time.h>
#include <linux/futex.h>
#include <stddef.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "dsm.h"
#include "node.h"

static void futex_wait(atomic_uint *word, unsigned int val)
{
	syscall(SYS_futex, word, FUTEX_WAIT_PRIVATE, val, NULL, NULL, 0);
}

/* Wait on word until woken or the absolute time on clock clk; ETIMEDOUT. */
static int futex_wait_until(atomic_uint *word, unsigned int val,
			    const struct timespec *abstime, clockid_t clk)
{
	int op = FUTEX_WAIT_BITSET_PRIVATE |
		 (clk == CLOCK_REALTIME ? FUTEX_CLOCK_REALTIME : 0);

	if (syscall(SYS_futex, word, op, val, abstime, NULL,
		    FUTEX_BITSET_MATCH_ANY) < 0 && errno == ETIMEDOUT)
		return ETIMEDOUT;
	return 0;
}

static void futex_wake(atomic_uint *word)
{
	syscall(SYS_futex, word, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
}

/*
 * Give w a fresh id and queue it.  If the master is already lost, w is
 * completed at once with DSM_ELOST (req_wait returns it without waiting).
 */
void req_begin(struct segment *s, struct waiter *w)
{
	atomic_store(&w->done, 0);
	w->reply = K_UNKNOWN;
	w->code = 0;
	w->lc_first = 1;	/* no pages: not a lock request */
	w->lc_last = 0;
	pthread_mutex_lock(&s->req_lock);
	/* Ids with bit 31 set are the master's (INVAL): stay below. */
	if (++s->next_id >= 0x80000000u)
		s->next_id = 1;
	w->id = s->next_id;
	if (atomic_load(&s->lost)) {
		w->code = DSM_ELOST;
		atomic_store(&w->done, 1);
	} else {
		w->next = s->waiters;
		s->waiters = w;
	}
	pthread_mutex_unlock(&s->req_lock);
}

/*
 * A fresh id for a request whose answer nobody waits for (an asynchronous
 * release): the reply finds no waiter and is dropped.
 */
uint32_t req_new_id(struct segment *s)
{
	uint32_t id;

	pthread_mutex_lock(&s->req_lock);
	if (++s->next_id >= 0x80000000u)
		s->next_id = 1;
	id = s->next_id;
	pthread_mutex_unlock(&s->req_lock);
	return id;
}

/* Remove w without waiting (its request could not be sent). */
void req_cancel(struct segment *s, struct waiter *w)
{
	pthread_mutex_lock(&s->req_lock);
	for (struct waiter **pp = &s->waiters; *pp; pp = &(*pp)->next) {
		if (*pp == w) {
			*pp = w->next;
			break;
		}
	}
	pthread_mutex_unlock(&s->req_lock);
}

/* Sleep until w is answered; returns its code (0 or DSM_E*). */
int req_wait(struct segment *s, struct waiter *w)
{
	(void)s;
	while (atomic_load_explicit(&w->done, memory_order_acquire) == 0)
		futex_wait(&w->done, 0);
	return w->code;
}

/*
 * Sleep until w is answered or abstime (on clock clk, REALTIME or
 * MONOTONIC) passes.  0 when answered (see w->code), ETIMEDOUT otherwise:
 * w stays registered and the caller cancels the request, then req_wait()s
 * for the final answer.
 */
int req_wait_until(struct segment *s, struct waiter *w,
		   const struct timespec *abstime, clockid_t clk)
{
	(void)s;
	while (atomic_load_explicit(&w->done, memory_order_acquire) == 0)
		if (futex_wait_until(&w->done, 0, abstime, clk) == ETIMEDOUT &&
		    atomic_load_explicit(&w->done, memory_order_acquire) == 0)
			return ETIMEDOUT;
	return 0;
}

/* Unlink the waiter with this id (req_lock held); NULL if none. */
static struct waiter *req_take(struct segment *s, uint32_t id)
{
	for (struct waiter **pp = &s->waiters; *pp; pp = &(*pp)->next) {
		if ((*pp)->id == id) {
			struct waiter *w = *pp;

			*pp = w->next;
			return w;
		}
	}
	return NULL;
}

/* Mark w answered and wake it (req_lock held).  After the store the waiter
 * may return and free its stack; a futex wake on a stale address is
 * harmless. */
static void req_complete(struct waiter *w)
{
	atomic_store_explicit(&w->done, 1, memory_order_release);
	futex_wake(&w->done);
}

/*
 * Complete the waiter with this id (service thread).  A reply nobody waits
 * for is ignored: it can only follow a request whose sender gave up.
 */
void req_post(struct segment *s, uint32_t id, enum dsm_kind reply, int code)
{
	struct waiter *w;

	pthread_mutex_lock(&s->req_lock);
	w = req_take(s, id);
	if (w) {
		w->reply = reply;
		w->code = code;
		req_complete(w);
	}
	pthread_mutex_unlock(&s->req_lock);
}

/*
 * Post an OKLOC: record the grant in the lock cache first, in stream order
 * (lockcache.c), then wake the requester.
 */
void req_post_grant(struct segment *s, uint32_t id)
{
	struct waiter *w;

	pthread_mutex_lock(&s->req_lock);
	w = req_take(s, id);
	if (w) {
		if (w->lc_first <= w->lc_last)
			lc_granted(s, w);
		w->reply = K_OKLOC;
		w->code = 0;
		req_complete(w);
	}
	pthread_mutex_unlock(&s->req_lock);
}

/* Is `id` a waiting request for an exclusive page lock?  (PAGES pushed
 * with its grant are installed writable.) */
int req_is_write_lock(struct segment *s, uint32_t id)
{
	int write = 0;

	pthread_mutex_lock(&s->req_lock);
	for (struct waiter *w = s->waiters; w; w = w->next)
		if (w->id == id)
			write = w->lc_first <= w->lc_last && w->lc_write;
	pthread_mutex_unlock(&s->req_lock);
	return write;
}

/* Post an OBJOK answer (service thread). */
void req_post_obj(struct segment *s, uint32_t id, uint32_t result,
		  uint64_t value)
{
	struct waiter *w;

	pthread_mutex_lock(&s->req_lock);
	w = req_take(s, id);
	if (w) {
		w->reply = K_OBJOK;
		w->code = 0;
		w->result = result;
		w->value = value;
		req_complete(w);
	}
	pthread_mutex_unlock(&s->req_lock);
}

/* Complete every waiter with `code` (the master is gone). */
void req_fail_all(struct segment *s, int code)
{
	pthread_mutex_lock(&s->req_lock);
	while (s->waiters) {
		struct waiter *w = s->waiters;

		s->waiters = w->next;
		w->code = code;
		w->reply = K_ERROR;
		req_complete(w);
	}
	pthread_mutex_unlock(&s->req_lock);
}
