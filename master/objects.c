/*
 * objects.c - synchronisation objects kept by the master (docs/PROTOCOL.md,
 * "Synchronisation objects"): the table of objects by offset, the records
 * participants have in them, performing OBJOPs, OBJCN, and what a
 * participant that goes away leaves behind.  The objects themselves are in
 * objlock.c (mutex, rwlock, condition) and objwait.c (barrier, semaphore,
 * shared memory object).
 *
 * An object is made on first use with its type's default state and keyed by
 * its offset in a chained hash table.  The table is bounded: at most
 * min(1,000,000, segment size / 8) objects (at least 16), so an operation
 * that would make one more is answered AGAIN (so is one that runs out of
 * memory).  A participant's records (holds, waits, barrier memberships) are
 * capped at the object cap plus 65,536 waits, beyond that AGAIN as well.
 *
 * Operations that are not releases are performed when their frame arrives.
 * A release-type OBJOP closes release `id`: mobj_close sets aside the
 * records it may need and closes the release (release.c); mobj_finish
 * performs it when the release finishes, in order with the participant's
 * other releases, from mmaster_settle (a safe point).
 *
 * Granting never allocates: a request gets its record when it is made (the
 * only point where it can fail, with AGAIN), and that record becomes the
 * hold when the request is granted.  Freeing records and objects is fine
 * anywhere.
 */
#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "dsm_log.h"
#include "master_int.h"

#define MOBJ_MAX 1000000u
#define MOBJ_MIN 16u
#define MOBJ_WAITS 65536u
#define MOBJ_BUCKETS0 64u



/* Set the caps from the segment size (master_create, before any node). */
void mobj_init(struct master *m)
{
	size_t cap = m->size / 8;

	if (cap > MOBJ_MAX)
		cap = MOBJ_MAX;
	if (cap < MOBJ_MIN)
		cap = MOBJ_MIN;
	m->objs.cap = cap;
	m->objs.rec_cap = cap + MOBJ_WAITS;
}

const char *mobj_where(const struct mpart *p)
{
	return p->conn ? p->conn->name : "the local participant";
}

static size_t obj_bucket(uint64_t off, size_t nbuckets)
{
	uint64_t h = off * 0x9e3779b97f4a7c15ull;

	return (size_t)(h ^ (h >> 32)) & (nbuckets - 1);
}

struct mobj *mobj_find(const struct master *m, uint64_t off)
{
	if (!m->objs.nbuckets)
		return NULL;
	for (struct mobj *o = m->objs.buckets[obj_bucket(off,
			m->objs.nbuckets)]; o; o = o->hnext)
		if (o->off == off)
			return o;
	return NULL;
}

/*
 * Double the bucket array.  If that fails the old one stays (chains get
 * longer, nothing is lost); only the very first array is a must.
 */
static int table_grow(struct mobj_table *t)
{
	size_t n = t->nbuckets ? t->nbuckets * 2 : MOBJ_BUCKETS0;
	struct mobj **b = calloc(n, sizeof(*b));

	if (!b)
		return t->nbuckets ? 0 : -1;
	for (size_t i = 0; i < t->nbuckets; i++) {
		while (t->buckets[i]) {
			struct mobj *o = t->buckets[i];
			size_t k = obj_bucket(o->off, n);

			t->buckets[i] = o->hnext;
			o->hnext = b[k];
			b[k] = o;
		}
	}
	free(t->buckets);
	t->buckets = b;
	t->nbuckets = n;
	return 0;
}

/* A new object at off of no type yet; NULL at the cap or out of memory. */
static struct mobj *obj_new(struct master *m, uint64_t off)
{
	struct mobj_table *t = &m->objs;
	struct mobj *o;
	size_t k;

	if (t->count >= t->cap) {
		dsm_warn("object at offset %llu: the table is full (%zu "
			 "objects); answering AGAIN", (unsigned long long)off,
			 t->cap);
		return NULL;
	}
	if (t->count >= t->nbuckets && table_grow(t) < 0)
		return NULL;
	o = calloc(1, sizeof(*o));
	if (!o)
		return NULL;
	o->off = off;
	k = obj_bucket(off, t->nbuckets);
	o->hnext = t->buckets[k];
	t->buckets[k] = o;
	t->count++;
	return o;
}

/* True if o is held or waited for (then it cannot be reset or retyped). */
int mobj_busy(const struct mobj *o)
{
	if (o->qhead)
		return 1;
	switch (o->type) {
	case MOBJ_MUTEX:
		return o->u.mx.holder || o->u.mx.refs;
	case MOBJ_RW:
		return o->u.rw.writer || o->u.rw.nreaders;
	default:
		return 0;
	}
}

/* Give free object o type `type` in its default state. */
static void obj_reset(struct mobj *o, enum mobj_type type)
{
	if (o->type == MOBJ_BARRIER)
		mobjwait_forget_members(o);
	memset(&o->u, 0, sizeof(o->u));
	o->type = (uint8_t)type;
}

/* Remove free object o from the table and free it. */
void mobj_forget(struct master *m, struct mobj *o)
{
	struct mobj **pp = &m->objs.buckets[obj_bucket(o->off,
						       m->objs.nbuckets)];

	obj_reset(o, MOBJ_NONE);
	while (*pp != o)
		pp = &(*pp)->hnext;
	*pp = o->hnext;
	m->objs.count--;
	free(o);
}

/*
 * The object of `type` at x's offset, in *out.  Another type's free object
 * is retyped, a missing one made, when `create`; otherwise *out is NULL for
 * them.  Returns -1 with x->result set if the object is busy with another
 * type (INVAL) or cannot be made (AGAIN).
 */
int mobj_lookup(struct mobj_ctx *x, enum mobj_type type, int create,
		struct mobj **out)
{
	struct mobj *o = mobj_find(x->m, x->a.off);

	*out = NULL;
	if (o && o->type == type) {
		*out = o;
		return 0;
	}
	if (o && mobj_busy(o)) {
		x->result = OR_INVAL;
		return -1;
	}
	if (!create)
		return 0;
	if (!o) {
		o = obj_new(x->m, x->a.off);
		if (!o) {
			x->result = OR_AGAIN;
			return -1;
		}
	} else {
		dsm_debug("object at offset %llu: retyped",
			  (unsigned long long)o->off);
	}
	obj_reset(o, type);
	*out = o;
	return 0;
}

/*
 * For an _INIT: the object at x's offset, made or reset to `type` in its
 * default state.  NULL with x->result BUSY if it is held or waited for,
 * AGAIN if it cannot be made.
 */
struct mobj *mobj_init_obj(struct mobj_ctx *x, enum mobj_type type)
{
	struct mobj *o = mobj_find(x->m, x->a.off);

	if (o && mobj_busy(o)) {
		x->result = OR_BUSY;
		return NULL;
	}
	if (!o && mobj_lookup(x, type, 1, &o) < 0)
		return NULL;
	obj_reset(o, type);
	return o;
}

/*
 * A record of x's participant in object o, linked into the owner's list
 * (the caller puts it on the object).  Uses x->spare[slot] when there is
 * one.  NULL with x->result AGAIN at the participant's cap or out of memory.
 */
struct mobj_req *mobj_rec_new(struct mobj_ctx *x, int slot,
			      enum mobj_rkind kind, struct mobj *o)
{
	struct mpart *p = x->p;
	struct mobj_req *r;

	if (p->nobjrecs >= x->m->objs.rec_cap) {
		dsm_warn("%s has %zu object records, the limit; answering "
			 "AGAIN", mobj_where(p), p->nobjrecs);
		x->result = OR_AGAIN;
		return NULL;
	}
	if (x->spare[slot]) {
		r = x->spare[slot];
		x->spare[slot] = NULL;
	} else {
		r = malloc(sizeof(*r));
		if (!r) {
			x->result = OR_AGAIN;
			return NULL;
		}
	}
	memset(r, 0, sizeof(*r));
	r->queued_us = -1;
	r->owner = p;
	r->obj = o;
	r->id = x->id;
	r->kind = (uint8_t)kind;
	r->onext = p->objrecs;
	if (r->onext)
		r->onext->oprev = r;
	p->objrecs = r;
	p->nobjrecs++;
	return r;
}

/* Unlink r from its owner and free it (it is on no object list any more). */
void mobj_rec_free(struct mobj_req *r)
{
	struct mpart *p = r->owner;

	if (r->oprev)
		r->oprev->onext = r->onext;
	else
		p->objrecs = r->onext;
	if (r->onext)
		r->onext->oprev = r->oprev;
	p->nobjrecs--;
	free(r);
}

/* Append r to the list head/tail (a FIFO queue or a hold list). */
void mobj_list_add(struct mobj_req **head, struct mobj_req **tail,
		   struct mobj_req *r)
{
	r->qnext = NULL;
	r->qprev = *tail;
	if (*tail)
		(*tail)->qnext = r;
	else
		*head = r;
	*tail = r;
}

void mobj_list_del(struct mobj_req **head, struct mobj_req **tail,
		   struct mobj_req *r)
{
	if (r->qprev)
		r->qprev->qnext = r->qnext;
	else
		*head = r->qnext;
	if (r->qnext)
		r->qnext->qprev = r->qprev;
	else
		*tail = r->qprev;
	r->qprev = r->qnext = NULL;
}

/* OBJOK `id` to p (u32 result, L value); the local participant has none. */
void mobj_reply(struct master *m, struct mpart *p, uint32_t id,
		uint32_t result, uint64_t value)
{
	uint8_t *f;

	if (!p->conn)
		return;
	dsm_debug("%s: OBJOK id=%u %s value=%llu", p->conn->name, id,
		  dsm_objres_name(result), (unsigned long long)value);
	f = mio_frame(m, p->conn, K_OBJOK, id, DSM_OBJOK_LEN);
	if (!f)
		return;
	put_u32(f, result);
	put_len(f + 4, (CONFIG_LEN)value);
}

/* DESTROY: forget a free object; a missing one is fine. */
static void obj_destroy(struct mobj_ctx *x)
{
	struct mobj *o = mobj_find(x->m, x->a.off);

	if (!o)
		return;
	if (mobj_busy(o)) {
		x->result = OR_BUSY;
		return;
	}
	mobj_forget(x->m, o);
}

/*
 * Perform x and answer it unless it now waits.  An offset outside the
 * segment (or a condition wait's mutex outside it) is answered ERROR
 * DSM_ERANGE with the request's id.
 */
static void obj_run(struct mobj_ctx *x)
{
	struct mpart *p = x->p;

	x->result = OR_OK;
	x->value = 0;
	x->queued = 0;
	if (!x->range) {
		switch (x->a.op) {
		case OP_MUTEX_INIT: case OP_MUTEX_LOCK: case OP_MUTEX_TRYLOCK:
		case OP_MUTEX_UNLOCK: case OP_RW_INIT: case OP_RW_RDLOCK:
		case OP_RW_WRLOCK: case OP_RW_TRYRDLOCK: case OP_RW_TRYWRLOCK:
		case OP_RW_UNLOCK: case OP_COND_INIT: case OP_COND_WAIT:
		case OP_COND_SIGNAL: case OP_COND_BROADCAST:
			mobjlock_exec(x);
			break;
		case OP_DESTROY:
			obj_destroy(x);
			break;
		default:
			mobjwait_exec(x);
			break;
		}
	}
	if (x->range) {
		dsm_debug("%s: %s id=%u offset %llu arg %llu: outside the "
			  "segment", mobj_where(p), dsm_objop_name(x->a.op), x->id,
			  (unsigned long long)x->a.off,
			  (unsigned long long)x->a.arg);
		if (p->conn)
			mio_send_error(x->m, p->conn, x->id, -DSM_ERANGE,
				       "object offset outside the segment");
		return;
	}
	dsm_debug("%s: %s id=%u off=%llu arg=%llu arg8=%u: %s", mobj_where(p),
		  dsm_objop_name(x->a.op), x->id, (unsigned long long)x->a.off,
		  (unsigned long long)x->a.arg, x->a.arg8,
		  x->queued ? "waits" : dsm_objres_name(x->result));
	if (!x->queued)
		mobj_reply(x->m, p, x->id, x->result, x->value);
}

static int op_is_shm(unsigned op)
{
	return op >= OP_SHM_OPEN && op <= OP_SHM_UNLINK;
}

static void ctx_init(struct mobj_ctx *x, struct master *m, struct mpart *p,
		     uint32_t id, const struct mobj_args *a)
{
	memset(x, 0, sizeof(*x));
	x->m = m;
	x->p = p;
	x->id = id;
	x->a = *a;
	x->range = !op_is_shm(a->op) && a->off >= m->size;
}

/* An OBJOP that is not a release (dispatch checked op): perform it now. */
void mobj_op(struct master *m, struct mconn *c, uint32_t id,
	     const struct mobj_args *a)
{
	struct mobj_ctx x;

	ctx_init(&x, m, &c->part, id, a);
	obj_run(&x);
}

/*
 * A release-type OBJOP closes release `id`.  A condition or barrier wait
 * gets its records set aside now (a failure only means AGAIN later); the op
 * itself runs in mobj_finish.  Out of memory for the release itself fails
 * the connection, as for any closing frame.
 */
void mobj_close(struct master *m, struct mconn *c, uint32_t id,
		const struct mobj_args *a)
{
	struct mobj_req *spare[2] = { NULL, NULL };

	if (a->op == OP_COND_WAIT || a->op == OP_BARRIER_WAIT)
		spare[0] = malloc(sizeof(struct mobj_req));
	if (a->op == OP_BARRIER_WAIT)
		spare[1] = malloc(sizeof(struct mobj_req));
	if (mrel_close_obj(m, &c->part, id, a, spare) < 0) {
		free(spare[0]);
		free(spare[1]);
		mconn_fail(m, c, DSM_ENOMEM, "out of memory for release %u",
			   id);
	}
}

void mobj_free_spares(struct mrel *r)
{
	free(r->spare[0]);
	free(r->spare[1]);
	r->spare[0] = r->spare[1] = NULL;
}

/*
 * Release r of p (MREL_OBJ) is complete: perform its operation.  A wait
 * cancelled before this point is answered TIMEDOUT without waiting; a
 * condition wait then never let its mutex go, as pthread_cond_timedwait
 * requires (one whose mutex p does not hold runs, to be answered PERM).
 */
void mobj_finish(struct master *m, struct mpart *p, struct mrel *r)
{
	struct mobj_ctx x;

	ctx_init(&x, m, p, r->id, &r->obj);
	x.spare[0] = r->spare[0];
	x.spare[1] = r->spare[1];
	r->spare[0] = r->spare[1] = NULL;
	x.cancelled = r->cancelled;
	if (x.cancelled && x.a.op == OP_COND_WAIT &&
	    !mobjlock_holds(m, p, x.a.arg))
		x.cancelled = 0;
	if (x.cancelled && !x.range) {
		dsm_debug("%s: %s id=%u cancelled before it was performed",
			  mobj_where(p), dsm_objop_name(x.a.op), x.id);
		mobj_reply(m, p, x.id, OR_TIMEDOUT, 0);
	} else {
		obj_run(&x);
	}
	free(x.spare[0]);
	free(x.spare[1]);
}

static int rec_waits(const struct mobj_req *r)
{
	switch (r->kind) {
	case MR_LOCK: case MR_RDLOCK: case MR_WRLOCK: case MR_COND:
	case MR_SEM: case MR_BARRIER:
		return 1;
	default:
		return 0;
	}
}

/*
 * OBJCN `id` from c: a timed wait expired.  A request still waiting leaves
 * its queue and is answered TIMEDOUT; a condition waiter moves to its
 * mutex's queue instead (answered TIMEDOUT once it holds the mutex).  A
 * wait whose release is not finished yet is marked, and answered TIMEDOUT
 * when it finishes.  Anything else (answered already, a condition waiter
 * already signalled, an unknown id) is ignored.
 */
void mobj_cancel(struct master *m, struct mconn *c, uint32_t id)
{
	struct mpart *p = &c->part;

	for (struct mobj_req *r = p->objrecs; r; r = r->onext) {
		struct mobj *o = r->obj;

		if (r->id != id || !rec_waits(r))
			continue;
		dsm_debug("%s: OBJCN id=%u: cancelled while waiting", c->name,
			  id);
		if (r->kind == MR_COND) {
			mobjlock_cond_cancel(m, r);
			return;
		}
		if (r->kind == MR_SEM || r->kind == MR_BARRIER)
			mobjwait_unqueue(r);
		else
			mobjlock_unqueue(r);
		mobj_reply(m, p, id, OR_TIMEDOUT, 0);
		mobj_rec_free(r);
		if (o->type == MOBJ_MUTEX || o->type == MOBJ_RW)
			mobjlock_pump(m, o);
		return;
	}
	for (struct mrel *r = p->rel_head; r; r = r->next) {
		if (r->kind == MREL_OBJ && r->id == id &&
		    (r->obj.op == OP_COND_WAIT ||
		     r->obj.op == OP_BARRIER_WAIT)) {
			dsm_debug("%s: OBJCN id=%u: cancelled before its "
				  "release finished", c->name, id);
			r->cancelled = 1;
			return;
		}
	}
	dsm_debug("%s: OBJCN id=%u: nothing waits (answered already)",
		  c->name, id);
}

/*
 * p is going away: its waits leave every queue (all of them before any
 * object is pumped, so nothing is granted to p meanwhile), its mutex and
 * rwlock holds are dropped and the next waiters granted.  A barrier it was
 * waiting on is broken (that round can never complete).  If p was lost
 * (no DECO?: crash, kill, network), so is every barrier it waited on since
 * that barrier's init: the others would wait for it at the next round
 * forever.  A node that left with DECO? has finished with its barriers, as
 * a process that exits has; its memberships just go (later processes, an
 * exec'd image, forked workers, may take its place).  Nothing is broken
 * when the master is stopping: every node is told RELEA anyway.
 */
void mobj_part_cleanup(struct master *m, struct mpart *p)
{
	struct mobj_req *gone = NULL, *r, *next;

	for (r = p->objrecs; r; r = next) {
		next = r->onext;
		if (!rec_waits(r) && r->kind != MR_REACQ)
			continue;
		if (r->kind == MR_SEM || r->kind == MR_BARRIER)
			mobjwait_unqueue(r);
		else
			mobjlock_unqueue(r);
		if (r->oprev)
			r->oprev->onext = r->onext;
		else
			p->objrecs = r->onext;
		if (r->onext)
			r->onext->oprev = r->oprev;
		p->nobjrecs--;
		r->qnext = gone;
		gone = r;
	}
	while ((r = gone) != NULL) {
		gone = r->qnext;
		if (r->obj->type == MOBJ_MUTEX || r->obj->type == MOBJ_RW)
			mobjlock_pump(m, r->obj);
		else if (r->kind == MR_BARRIER && !m->stopping)
			mobjwait_break(m, r->obj, mobj_where(p));
		free(r);
	}
	for (r = p->objrecs; r; r = next) {
		next = r->onext;
		if (r->kind == MR_HOLD_MUTEX || r->kind == MR_HOLD_READ ||
		    r->kind == MR_HOLD_WRITE)
			mobjlock_drop(m, r);
	}
	while ((r = p->objrecs) != NULL) {
		struct mobj *o = r->obj;

		assert(r->kind == MR_MEMBER);	/* all that is left */
		mobj_list_del(&o->lhead, &o->ltail, r);
		mobj_rec_free(r);
		if (!p->left && !m->stopping)
			mobjwait_break(m, o, mobj_where(p));
	}
}

/* Free every object (master_destroy: every participant is gone). */
void mobj_free_all(struct master *m)
{
	struct mobj_table *t = &m->objs;

	for (size_t i = 0; i < t->nbuckets; i++) {
		while (t->buckets[i]) {
			struct mobj *o = t->buckets[i];

			t->buckets[i] = o->hnext;
			free(o);
		}
	}
	free(t->buckets);
	t->buckets = NULL;
	t->nbuckets = 0;
	t->count = 0;
}
