/*
 * objlock.c - mutexes, rwlocks and condition variables kept by the master
 * (docs/PROTOCOL.md, "Synchronisation objects").
 *
 * Holds belong to participants (nodes), not threads: the node tracks its
 * threads, recursion and error checking.  Every object grants in strict
 * FIFO order: a request waits behind every earlier waiter, even a
 * compatible one (a reader behind a waiting writer), so nobody starves.
 * One exception: a node that already holds a read lock of a rwlock gets
 * another at once (recursive read locks must not wait for a writer that
 * waits for them).
 *
 * A mutex has one holder record and a queue of MUTEX_LOCK requests and of
 * condition waiters coming back to it (wait morphing: a signal does not
 * wake a waiter to fight for the mutex, it moves it to the mutex's queue,
 * and the waiter is answered once it holds the mutex).  A rwlock has one
 * write hold or any number of read holds, one record per participant with
 * a count.  A condition has a FIFO of waiters, each knowing its mutex; the
 * mutex counts them in `refs` and stays busy meanwhile, so it can be
 * neither destroyed nor retyped while a waiter still has to come back to
 * it, and moving a waiter there never allocates.
 *
 * The grant paths (mobjlock_pump, mobjlock_drop) never allocate: a waiting
 * record becomes the hold record.
 */
#include "dsm_log.h"
#include "master_int.h"

/* p's read hold record on rwlock o, NULL if none. */
static struct mobj_req *rw_read_hold(const struct mobj *o,
				     const struct mpart *p)
{
	for (struct mobj_req *h = o->lhead; h; h = h->qnext)
		if (h->owner == p)
			return h;
	return NULL;
}

/* Give waiting read request r of rwlock o its hold (merged into the
 * owner's existing read hold, if any). */
static void rw_grant_read(struct mobj *o, struct mobj_req *r)
{
	struct mobj_req *h = rw_read_hold(o, r->owner);

	o->u.rw.nreaders++;
	if (h) {
		h->count++;
		mobj_rec_free(r);
		return;
	}
	r->kind = MR_HOLD_READ;
	r->count = 1;
	mobj_list_add(&o->lhead, &o->ltail, r);
}

/*
 * Grant o's waiters from the head of its queue while they fit: a mutex to
 * its first waiter when free (a condition waiter coming back is answered OK,
 * or TIMEDOUT if its wait was cancelled), a rwlock to consecutive readers
 * or one writer.  Never allocates.
 */
void mobjlock_pump(struct master *m, struct mobj *o)
{
	struct mobj_req *r;

	if (o->type == MOBJ_MUTEX) {
		if (o->u.mx.holder || !(r = o->qhead))
			return;
		mobj_list_del(&o->qhead, &o->qtail, r);
		mstats_obj_granted(r);
		if (r->kind == MR_REACQ)
			o->u.mx.refs--;
		r->kind = MR_HOLD_MUTEX;
		o->u.mx.holder = r;
		mobj_reply(m, r->owner, r->id,
			   r->cancelled ? OR_TIMEDOUT : OR_OK, o->u.mx.type);
		return;
	}
	if (o->type != MOBJ_RW)
		return;
	while ((r = o->qhead) != NULL) {
		struct mpart *owner = r->owner;
		uint32_t id = r->id;

		if (o->u.rw.writer ||
		    (r->kind == MR_WRLOCK && o->u.rw.nreaders))
			return;
		mobj_list_del(&o->qhead, &o->qtail, r);
		mstats_obj_granted(r);
		if (r->kind == MR_WRLOCK) {
			r->kind = MR_HOLD_WRITE;
			o->u.rw.writer = r;
		} else {
			rw_grant_read(o, r);
		}
		mobj_reply(m, owner, id, OR_OK, 0);
	}
}

/* Take waiting record r (lock, rwlock, condition) off its object's queue. */
void mobjlock_unqueue(struct mobj_req *r)
{
	struct mobj *o = r->obj;

	mobj_list_del(&o->qhead, &o->qtail, r);
	if (r->kind == MR_COND)
		r->mutex->u.mx.refs--;
	else if (r->kind == MR_REACQ)
		o->u.mx.refs--;
}

/* Drop hold h (its owner is going away) and grant the next waiters. */
void mobjlock_drop(struct master *m, struct mobj_req *h)
{
	struct mobj *o = h->obj;

	switch (h->kind) {
	case MR_HOLD_MUTEX:
		o->u.mx.holder = NULL;
		break;
	case MR_HOLD_WRITE:
		o->u.rw.writer = NULL;
		break;
	case MR_HOLD_READ:
		o->u.rw.nreaders -= h->count;
		mobj_list_del(&o->lhead, &o->ltail, h);
		break;
	default:
		return;
	}
	dsm_debug("%s: hold on the %s at offset %llu dropped",
		  mobj_where(h->owner), o->type == MOBJ_MUTEX ? "mutex" :
		  "rwlock", (unsigned long long)o->off);
	mobj_rec_free(h);
	mobjlock_pump(m, o);
}

/*
 * Move condition waiter r to the queue of its mutex (signalled, or with
 * `cancelled` its timed wait expired) and grant the mutex if it is free.
 * r stays counted in the mutex's refs until it holds the mutex.
 */
static void cond_morph(struct master *m, struct mobj_req *r, int cancelled)
{
	struct mobj *c = r->obj, *mx = r->mutex;

	mobj_list_del(&c->qhead, &c->qtail, r);
	r->kind = MR_REACQ;
	r->cancelled = (uint8_t)cancelled;
	r->obj = mx;
	r->mutex = NULL;
	mobj_list_add(&mx->qhead, &mx->qtail, r);
	mobjlock_pump(m, mx);
}

void mobjlock_cond_cancel(struct master *m, struct mobj_req *r)
{
	cond_morph(m, r, 1);
}

/* True if p holds the mutex at off. */
int mobjlock_holds(const struct master *m, const struct mpart *p,
		   uint64_t off)
{
	const struct mobj *mx = mobj_find(m, off);

	return mx && mx->type == MOBJ_MUTEX && mx->u.mx.holder &&
	       mx->u.mx.holder->owner == p;
}

static void mutex_init(struct mobj_ctx *x)
{
	struct mobj *o;

	if (x->a.arg8 > DSM_MUTEX_ERRORCHECK) {
		x->result = OR_INVAL;
		return;
	}
	o = mobj_init_obj(x, MOBJ_MUTEX);
	if (o)
		o->u.mx.type = x->a.arg8;
}

static void mutex_lock(struct mobj_ctx *x, int try)
{
	struct mobj *o;
	struct mobj_req *r;

	if (mobj_lookup(x, MOBJ_MUTEX, 1, &o) < 0)
		return;
	x->value = o->u.mx.type;
	if (!o->u.mx.holder && !o->qhead) {
		r = mobj_rec_new(x, 0, MR_HOLD_MUTEX, o);
		if (r)
			o->u.mx.holder = r;
	} else if (try) {
		x->result = OR_BUSY;
	} else if ((r = mobj_rec_new(x, 0, MR_LOCK, o)) != NULL) {
		mobj_list_add(&o->qhead, &o->qtail, r);
		x->queued = 1;
		mstats_obj_lock(x->p, r);
		return;
	}
	mstats_obj_lock(x->p, NULL);
}

/* Give up p's hold on mutex o (the caller checked it) and grant. */
static void mutex_release(struct master *m, struct mobj *o)
{
	struct mobj_req *h = o->u.mx.holder;

	o->u.mx.holder = NULL;
	mobj_rec_free(h);
	mobjlock_pump(m, o);
}

static void mutex_unlock(struct mobj_ctx *x)
{
	struct mobj *o;

	if (mobj_lookup(x, MOBJ_MUTEX, 0, &o) < 0)
		return;
	if (!o || !o->u.mx.holder || o->u.mx.holder->owner != x->p) {
		x->result = OR_PERM;
		return;
	}
	mutex_release(x->m, o);
}

static void rw_lock(struct mobj_ctx *x, int write, int try)
{
	struct mobj *o;
	struct mobj_req *r, *h;

	if (mobj_lookup(x, MOBJ_RW, 1, &o) < 0)
		return;
	/* A node that already holds a read lock gets another at once, even
	 * behind a waiting writer: POSIX lets a thread hold several read
	 * locks, and queueing it behind the writer, which waits for that
	 * very hold, would deadlock. */
	if (!write && !o->u.rw.writer && (h = rw_read_hold(o, x->p)) != NULL) {
		h->count++;
		o->u.rw.nreaders++;
		mstats_obj_lock(x->p, NULL);
		return;
	}
	if (!o->qhead && !o->u.rw.writer && (!write || !o->u.rw.nreaders)) {
		if (!write && (h = rw_read_hold(o, x->p)) != NULL) {
			h->count++;
			o->u.rw.nreaders++;
		} else if ((r = mobj_rec_new(x, 0, write ? MR_HOLD_WRITE :
					     MR_HOLD_READ, o)) != NULL) {
			if (write) {
				o->u.rw.writer = r;
			} else {
				r->count = 1;
				o->u.rw.nreaders++;
				mobj_list_add(&o->lhead, &o->ltail, r);
			}
		}
	} else if (try) {
		x->result = OR_BUSY;
	} else if ((r = mobj_rec_new(x, 0, write ? MR_WRLOCK : MR_RDLOCK,
				     o)) != NULL) {
		mobj_list_add(&o->qhead, &o->qtail, r);
		x->queued = 1;
		mstats_obj_lock(x->p, r);
		return;
	}
	mstats_obj_lock(x->p, NULL);
}

/* RW_UNLOCK: this participant's write hold, else one of its read holds. */
static void rw_unlock(struct mobj_ctx *x)
{
	struct mobj *o;
	struct mobj_req *h;

	if (mobj_lookup(x, MOBJ_RW, 0, &o) < 0)
		return;
	if (!o) {
		x->result = OR_PERM;
		return;
	}
	if (o->u.rw.writer && o->u.rw.writer->owner == x->p) {
		h = o->u.rw.writer;
		o->u.rw.writer = NULL;
		mobj_rec_free(h);
	} else if ((h = rw_read_hold(o, x->p)) != NULL) {
		o->u.rw.nreaders--;
		if (--h->count == 0) {
			mobj_list_del(&o->lhead, &o->ltail, h);
			mobj_rec_free(h);
		}
	} else {
		x->result = OR_PERM;
		return;
	}
	mobjlock_pump(x->m, o);
}

/*
 * COND_WAIT (performed when its release finished): p must hold the mutex
 * at arg.  Everything that can fail is checked before the mutex is let go,
 * so an answer other than OK/TIMEDOUT means p still holds it.  Then, in one
 * step, the mutex is released (its next waiter granted) and the request
 * waits on the condition.
 */
static void cond_wait(struct mobj_ctx *x)
{
	struct mobj *mx, *o;
	struct mobj_req *r;

	if (x->a.arg >= x->m->size) {
		x->range = 1;
		return;
	}
	if (!mobjlock_holds(x->m, x->p, x->a.arg)) {
		x->result = OR_PERM;
		return;
	}
	mx = mobj_find(x->m, x->a.arg);
	if (mobj_lookup(x, MOBJ_COND, 1, &o) < 0)
		return;
	r = mobj_rec_new(x, 0, MR_COND, o);
	if (!r)
		return;
	r->mutex = mx;
	mx->u.mx.refs++;
	mobj_list_add(&o->qhead, &o->qtail, r);
	x->queued = 1;
	mutex_release(x->m, mx);
}

/* COND_SIGNAL / COND_BROADCAST: the oldest waiter, or all in order, move
 * to their mutex's queue. */
static void cond_signal(struct mobj_ctx *x, int all)
{
	struct mobj *o;
	unsigned long n = 0;

	if (mobj_lookup(x, MOBJ_COND, 0, &o) < 0 || !o)
		return;
	while (o->qhead) {
		cond_morph(x->m, o->qhead, 0);
		n++;
		if (!all)
			break;
	}
	x->value = 0;
	if (n)
		dsm_debug("condition at offset %llu: %lu waiter(s) moved to "
			  "their mutex", (unsigned long long)o->off, n);
}

/* Perform a mutex, rwlock or condition operation (see objects.c). */
void mobjlock_exec(struct mobj_ctx *x)
{
	switch (x->a.op) {
	case OP_MUTEX_INIT:
		mutex_init(x);
		break;
	case OP_MUTEX_LOCK:
	case OP_MUTEX_TRYLOCK:
		mutex_lock(x, x->a.op == OP_MUTEX_TRYLOCK);
		break;
	case OP_MUTEX_UNLOCK:
		mutex_unlock(x);
		break;
	case OP_RW_INIT:
		mobj_init_obj(x, MOBJ_RW);
		break;
	case OP_RW_RDLOCK:
	case OP_RW_TRYRDLOCK:
		rw_lock(x, 0, x->a.op == OP_RW_TRYRDLOCK);
		break;
	case OP_RW_WRLOCK:
	case OP_RW_TRYWRLOCK:
		rw_lock(x, 1, x->a.op == OP_RW_TRYWRLOCK);
		break;
	case OP_RW_UNLOCK:
		rw_unlock(x);
		break;
	case OP_COND_INIT:
		mobj_init_obj(x, MOBJ_COND);
		break;
	case OP_COND_WAIT:
		cond_wait(x);
		break;
	case OP_COND_SIGNAL:
	case OP_COND_BROADCAST:
		cond_signal(x, x->a.op == OP_COND_BROADCAST);
		break;
	default:
		x->result = OR_INVAL;
		break;
	}
}
