/*
 * objwait.c - barriers, semaphores and the segment's shared memory object,
 * kept by the master (docs/PROTOCOL.md, "Synchronisation objects").
 *
 * A barrier counts the waiters of its current round (`arrived`, the length
 * of its queue); the one whose arrival completes the round is answered
 * value 1, the queued ones value 0, all at once, and the next round starts
 * empty.  Every participant that waited on it since its last init has a
 * membership record: if one is lost (gone without DECO?), or goes away
 * while it waits, the barrier is *broken* (a round can never complete
 * without it): its current and later waiters get BROKEN until BARRIER_INIT
 * resets it.
 *
 * A semaphore has a value and a FIFO of waiters; the value stays 0 while
 * anyone waits, and SEM_POST hands the unit straight to the oldest waiter,
 * so a later SEM_TRYWAIT cannot overtake it.
 *
 * The shared memory object is one per segment: whether it exists and its
 * size, for the shim's shm_open/ftruncate/fstat/shm_unlink.
 */
#include <stdint.h>

#include "dsm_log.h"
#include "master_int.h"

/* Take waiting record r (semaphore, barrier) off its object's queue. */
void mobjwait_unqueue(struct mobj_req *r)
{
	struct mobj *o = r->obj;

	mobj_list_del(&o->qhead, &o->qtail, r);
	if (r->kind == MR_BARRIER && o->u.bar.arrived > 0)
		o->u.bar.arrived--;
}

/* Free the membership records of barrier o (init, retype, destroy). */
void mobjwait_forget_members(struct mobj *o)
{
	struct mobj_req *r;

	while ((r = o->lhead) != NULL) {
		mobj_list_del(&o->lhead, &o->ltail, r);
		mobj_rec_free(r);
	}
}

/* Answer every waiter of barrier o with `result` (value) and free them. */
static void bar_release_all(struct master *m, struct mobj *o,
			    uint32_t result)
{
	struct mobj_req *r;

	while ((r = o->qhead) != NULL) {
		mobj_list_del(&o->qhead, &o->qtail, r);
		mobj_reply(m, r->owner, r->id, result, 0);
		mobj_rec_free(r);
	}
	o->u.bar.arrived = 0;
}

/*
 * Barrier o lost a member (`who`): break it, answer its waiters BROKEN.
 * Stays broken until BARRIER_INIT.
 */
void mobjwait_break(struct master *m, struct mobj *o, const char *who)
{
	if (o->type != MOBJ_BARRIER)
		return;
	if (!o->u.bar.broken)
		dsm_info("barrier at offset %llu is broken: %s, which waited "
			 "on it, is gone (%u waiter(s) told)",
			 (unsigned long long)o->off, who, o->u.bar.arrived);
	o->u.bar.broken = 1;
	bar_release_all(m, o, OR_BROKEN);
}

static void bar_init(struct mobj_ctx *x)
{
	struct mobj *o;

	if (x->a.arg == 0 || x->a.arg > UINT32_MAX) {
		x->result = OR_INVAL;
		return;
	}
	o = mobj_init_obj(x, MOBJ_BARRIER);
	if (!o)
		return;
	o->u.bar.init = 1;
	o->u.bar.count = (uint32_t)x->a.arg;
}

/*
 * BARRIER_WAIT (performed when its release finished): INVAL unless
 * initialised, BROKEN if broken; otherwise the participant becomes a member
 * and arrives.  The last arrival of a round is answered value 1 at once
 * and every queued waiter value 0.
 */
static void bar_wait(struct mobj_ctx *x)
{
	struct mobj *o;
	struct mobj_req *r;

	if (mobj_lookup(x, MOBJ_BARRIER, 0, &o) < 0)
		return;
	if (!o || !o->u.bar.init) {
		x->result = OR_INVAL;
		return;
	}
	if (o->u.bar.broken) {
		x->result = OR_BROKEN;
		return;
	}
	for (r = o->lhead; r && r->owner != x->p; r = r->qnext)
		;
	if (!r) {
		r = mobj_rec_new(x, 1, MR_MEMBER, o);
		if (!r)
			return;
		mobj_list_add(&o->lhead, &o->ltail, r);
	}
	if (o->u.bar.arrived + 1 >= o->u.bar.count) {
		dsm_debug("barrier at offset %llu: round %llu complete (%u "
			  "waiters)", (unsigned long long)o->off,
			  (unsigned long long)o->u.bar.rounds,
			  o->u.bar.count);
		o->u.bar.rounds++;
		bar_release_all(x->m, o, OR_OK);
		x->value = 1;
		return;
	}
	r = mobj_rec_new(x, 0, MR_BARRIER, o);
	if (!r)
		return;
	mobj_list_add(&o->qhead, &o->qtail, r);
	o->u.bar.arrived++;
	x->queued = 1;
}

static void sem_init(struct mobj_ctx *x)
{
	struct mobj *o;

	if (x->a.arg > DSM_SEM_MAX) {
		x->result = OR_INVAL;
		return;
	}
	o = mobj_init_obj(x, MOBJ_SEM);
	if (o)
		o->u.sem.value = (uint32_t)x->a.arg;
}

/* SEM_WAIT / SEM_TRYWAIT; value = the semaphore's value afterwards. */
static void sem_wait(struct mobj_ctx *x, int try)
{
	struct mobj *o;
	struct mobj_req *r;

	if (mobj_lookup(x, MOBJ_SEM, !try, &o) < 0)
		return;
	if (o && o->u.sem.value > 0 && !o->qhead) {
		x->value = --o->u.sem.value;
	} else if (try) {
		x->result = OR_AGAIN;
	} else if ((r = mobj_rec_new(x, 0, MR_SEM, o)) != NULL) {
		mobj_list_add(&o->qhead, &o->qtail, r);
		x->queued = 1;
	}
}

/* SEM_POST (performed when its release finished). */
static void sem_post(struct mobj_ctx *x)
{
	struct mobj *o;
	struct mobj_req *r;

	if (mobj_lookup(x, MOBJ_SEM, 1, &o) < 0)
		return;
	if ((r = o->qhead) != NULL) {
		mobj_list_del(&o->qhead, &o->qtail, r);
		mobj_reply(x->m, r->owner, r->id, OR_OK, 0);
		mobj_rec_free(r);
	} else if (o->u.sem.value >= DSM_SEM_MAX) {
		x->result = OR_OVERFLOW;
	} else {
		o->u.sem.value++;
	}
	x->value = o->u.sem.value;
}

static void sem_getvalue(struct mobj_ctx *x)
{
	struct mobj *o;

	if (mobj_lookup(x, MOBJ_SEM, 0, &o) < 0)
		return;
	x->value = o ? o->u.sem.value : 0;
}

/*
 * The shared memory object: SHM_OPEN (value = its size), SHM_TRUNCATE (up
 * to the segment size), SHM_STAT, SHM_UNLINK.  Made by SHM_OPEN with the
 * create bit, at size 0.
 */
static void shm_op(struct mobj_ctx *x)
{
	struct master *m = x->m;

	switch (x->a.op) {
	case OP_SHM_OPEN:
		if (m->shm_exists) {
			if ((x->a.arg8 & DSM_SHM_CREATE) &&
			    (x->a.arg8 & DSM_SHM_EXCL))
				x->result = OR_EXIST;
		} else if (!(x->a.arg8 & DSM_SHM_CREATE)) {
			x->result = OR_NOENT;
		} else {
			m->shm_exists = 1;
			m->shm_size = 0;
		}
		break;
	case OP_SHM_TRUNCATE:
		if (x->a.arg > m->size)
			x->result = OR_FBIG;
		else
			m->shm_size = x->a.arg;
		break;
	case OP_SHM_STAT:
		if (!m->shm_exists)
			x->result = OR_NOENT;
		break;
	default:	/* OP_SHM_UNLINK */
		if (!m->shm_exists)
			x->result = OR_NOENT;
		m->shm_exists = 0;
		break;
	}
	if (x->result == OR_OK)
		x->value = m->shm_size;
}

/* Perform a barrier, semaphore or shared memory operation. */
void mobjwait_exec(struct mobj_ctx *x)
{
	switch (x->a.op) {
	case OP_BARRIER_INIT:
		bar_init(x);
		break;
	case OP_BARRIER_WAIT:
		bar_wait(x);
		break;
	case OP_SEM_INIT:
		sem_init(x);
		break;
	case OP_SEM_WAIT:
	case OP_SEM_TRYWAIT:
		sem_wait(x, x->a.op == OP_SEM_TRYWAIT);
		break;
	case OP_SEM_POST:
		sem_post(x);
		break;
	case OP_SEM_GETVALUE:
		sem_getvalue(x);
		break;
	case OP_SHM_OPEN:
	case OP_SHM_TRUNCATE:
	case OP_SHM_STAT:
	case OP_SHM_UNLINK:
		shm_op(x);
		break;
	default:
		x->result = OR_INVAL;
		break;
	}
}
