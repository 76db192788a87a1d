/*
 * release.c - releases and invalidations (docs/PROTOCOL.md, "Releases" and
 * "Pages and invalidations").
 *
 * Closing a release applies its buffered diffs in one step, then sends INVAL
 * for every touched page to every other node that holds a copy.  The release
 * is a state with a counter of INVAL frames not yet acknowledged: the loop
 * never waits.  A participant's closed releases finish in the order they
 * were closed, each once it and all earlier ones are complete; finishing is
 * done from the ready list at a safe point (mmaster_settle), never inside
 * the handler that made it complete.
 */
#include <stdlib.h>

#include "dsm_log.h"
#include "master_int.h"

/* Put p on the ready list so that mmaster_settle runs its releases. */
static void rel_schedule(struct master *m, struct mpart *p)
{
	if (p->on_ready || !p->alive)
		return;
	p->on_ready = 1;
	p->ready_next = NULL;
	if (m->ready_tail)
		m->ready_tail->ready_next = p;
	else
		m->ready_head = p;
	m->ready_tail = p;
}

/* Take p off the ready list (p is going away). */
void mrel_unschedule(struct master *m, struct mpart *p)
{
	struct mpart *prev = NULL;

	if (!p->on_ready)
		return;
	for (struct mpart *q = m->ready_head; q; prev = q, q = q->ready_next) {
		if (q != p)
			continue;
		if (prev)
			prev->ready_next = q->ready_next;
		else
			m->ready_head = q->ready_next;
		if (m->ready_tail == q)
			m->ready_tail = prev;
		break;
	}
	p->on_ready = 0;
	p->ready_next = NULL;
}

/* Free release r with the object records it set aside. */
static void rel_free(struct mrel *r)
{
	mobj_free_spares(r);
	free(r);
}

/* One INVAL frame of r acknowledged (OKINV, or its target went away).
 * r is NULL for an INVAL nobody waits for (ack_exempt). */
static void rel_ack(struct master *m, struct mrel *r)
{
	if (!r || --r->pending > 0)
		return;
	if (!r->owner)
		rel_free(r);
	else
		rel_schedule(m, r->owner);
}

static uint32_t rel_next_inval_id(struct master *m)
{
	m->next_inval = (m->next_inval + 1) & ~MASTER_INVAL_ID_BIT;
	if (m->next_inval == 0)
		m->next_inval = 1;
	return m->next_inval | MASTER_INVAL_ID_BIT;
}

static int batch_push(struct mconn *c, size_t page)
{
	if (c->nbatch == c->batch_cap) {
		size_t ncap = c->batch_cap ? c->batch_cap * 2 : 64;
		size_t *n = realloc(c->batch, ncap * sizeof(*n));

		if (!n)
			return -1;
		c->batch = n;
		c->batch_cap = ncap;
	}
	c->batch[c->nbatch++] = page;
	return 0;
}

/*
 * Send c's INVAL batch as frames of at most the frame limit, each with a
 * fresh id recorded in c's outstanding FIFO and counted in r->pending.  If c
 * cannot take them (output cap, memory) it is doomed: a connection that goes
 * away counts as having acknowledged, and its copies go with it.
 */
static void rel_send_batch(struct master *m, struct mconn *c, struct mrel *r)
{
	size_t maxn = (DSM_MAX_PAYLOAD - DSM_LEN_BYTES) / DSM_LEN_BYTES;

	for (size_t done = 0; done < c->nbatch && !c->doomed;) {
		size_t n = c->nbatch - done < maxn ? c->nbatch - done : maxn;
		uint32_t id = rel_next_inval_id(m);
		struct minv *inv = malloc(sizeof(*inv));
		uint8_t *p;

		if (!inv) {
			mconn_doom(m, c, "out of memory for an INVAL");
			break;
		}
		p = mio_frame(m, c, K_INVAL, id, DSM_LEN_BYTES * (n + 1));
		if (!p) {
			free(inv);
			break;
		}
		put_len(p, (CONFIG_LEN)n);
		for (size_t i = 0; i < n; i++)
			put_len(p + DSM_LEN_BYTES * (i + 1),
				(CONFIG_LEN)(c->batch[done + i] * m->page_size));
		inv->id = id;
		inv->rel = c->ack_exempt ? NULL : r;
		inv->next = NULL;
		if (c->inv_tail)
			c->inv_tail->next = inv;
		else
			c->inv_head = inv;
		c->inv_tail = inv;
		if (!c->ack_exempt)
			r->pending++;
		done += n;
	}
	c->nbatch = 0;
}

/*
 * For every page in m->touched and every other joined node with a copy:
 * clear the copy bit and invalidate.  Empties the touched set.
 */
static void rel_invalidate(struct master *m, struct mpart *owner,
			   struct mrel *r)
{
	for (size_t i = 0; i < m->ntouched; i++) {
		size_t page = m->touched[i];

		for (struct mconn *c = m->conns; c; c = c->next) {
			if (c->state != MC_JOINED || &c->part == owner ||
			    c->doomed || c->monitor ||
			    !bit_test(c->copyset, page))
				continue;
			bit_clear(c->copyset, page);
			bit_set(c->lost, page);
			mstats_inval(m, c, page);
			if (batch_push(c, page) < 0)
				mconn_doom(m, c, "out of memory for an INVAL");
		}
	}
	mstore_touched_reset(m);
	for (struct mconn *c = m->conns; c; c = c->next)
		if (c->nbatch > 0)
			rel_send_batch(m, c, r);
}

/*
 * Mark (on) or unmark the nodes that head the queue of a page of the byte
 * range an unlock frees: they are the next to get it.  An INVAL to such a
 * node needs no acknowledgement before the release completes: the node
 * handles it before the grant that follows it on the same stream, which is
 * all the acknowledgement would guarantee (docs/PROTOCOL.md).  Saves a
 * round trip per lock hand-off.
 */
static void rel_exempt_waiters(struct master *m, uint64_t off, uint64_t len,
			       int on)
{
	size_t first, last;

	if (mstore_range(m, off, len, &first, &last) < 0)
		return;
	for (size_t i = first; i <= last; i++) {
		struct mlock_req *q = m->pages[i].qhead;

		if (q && q->owner->conn)
			q->owner->conn->ack_exempt = on;
	}
}

static void rel_touch_cb(void *ctx, size_t page)
{
	mstore_touch(ctx, page);
}

/*
 * Close release r (filled in by the caller) of participant p.  Applies the
 * buffered UPDATs of r->id, then invalidates the touched pages: the pages of
 * the diffs, p's flushed-but-unreleased pages, and for a local unlock_write
 * every page of the range (the master cannot see which bytes local code
 * changed).  With a --store file, those pages are written back first as
 * its sync policy says.  Cannot fail.
 */
static void rel_close(struct master *m, struct mpart *p, struct mrel *r)
{
	struct mupd *u;
	size_t first, last;

	u = mupd_take(p, r->id);
	if (u) {
		if (p->conn)
			mstats_diffs(m, p->conn, u, 0);
		mupd_apply(m, u, rel_touch_cb, m);
		mupd_free(p, u);
	}
	if (p->conn)
		p->conn->st.releases++;
	if (!p->conn && r->kind == MREL_UNLOW &&
	    mstore_range(m, r->off, r->len, &first, &last) == 0)
		for (size_t i = first; i <= last; i++)
			mstore_touch(m, i);
	if (p->conn)
		mstore_flushed_take(m, p->conn);
	mfile_released(m);
	if (m->ntouched)
		dsm_debug("release %u of %s touches %zu page(s)", r->id,
			  p->conn ? p->conn->name : "the local participant",
			  m->ntouched);
	if (r->kind == MREL_UNLOR || r->kind == MREL_UNLOW)
		rel_exempt_waiters(m, r->off, r->len, 1);
	rel_invalidate(m, p, r);
	rel_exempt_waiters(m, r->off, r->len, 0);

	if (p->rel_tail)
		p->rel_tail->next = r;
	else
		p->rel_head = r;
	p->rel_tail = r;
	if (r->pending == 0)
		rel_schedule(m, p);
}

/*
 * Close release `id` of participant p with a frame of `kind` (off/len: the
 * UNLO* range, checked when the release finishes).  Returns -1 (ENOMEM)
 * without changing anything if the release cannot be recorded.
 */
int mrel_close(struct master *m, struct mpart *p, enum mrel_kind kind,
	       uint32_t id, uint64_t off, uint64_t len,
	       struct mlocal_req *lreq)
{
	struct mrel *r = calloc(1, sizeof(*r));

	if (!r)
		return -1;
	r->owner = p;
	r->id = id;
	r->kind = kind;
	r->off = off;
	r->len = len;
	r->lreq = lreq;
	rel_close(m, p, r);
	return 0;
}

/*
 * Close release `id` of p with a release-type OBJOP: the operation `a` is
 * performed when the release finishes (mobj_finish).  The release takes
 * over spare[] (records set aside for the operation, or NULL) on success;
 * returns -1 (ENOMEM) without changing anything, spare[] still the
 * caller's.
 */
int mrel_close_obj(struct master *m, struct mpart *p, uint32_t id,
		   const struct mobj_args *a, struct mobj_req *spare[2])
{
	struct mrel *r = calloc(1, sizeof(*r));

	if (!r)
		return -1;
	r->owner = p;
	r->id = id;
	r->kind = MREL_OBJ;
	r->obj = *a;
	r->spare[0] = spare[0];
	r->spare[1] = spare[1];
	rel_close(m, p, r);
	return 0;
}

struct rel_flush_ctx {
	struct master *m;
	struct mconn *c;
	int failed;
};

static void rel_flush_cb(void *ctx, size_t page)
{
	struct rel_flush_ctx *f = ctx;

	if (mstore_flushed_add(f->m, f->c, page) < 0)
		f->failed = 1;
}

/*
 * OKINV `id` from c: it must acknowledge c's oldest outstanding INVAL (nodes
 * answer in order), else the stream cannot be trusted.  Applies the flush
 * that id closes and remembers its pages as flushed by c: they are
 * invalidated elsewhere at c's next release.
 */
void mrel_okinv(struct master *m, struct mconn *c, uint32_t id)
{
	struct minv *inv = c->inv_head;
	struct mupd *u;

	if (!inv || inv->id != id) {
		if (inv)
			mconn_fail(m, c, DSM_EPROTO,
				   "OKINV %u does not acknowledge the oldest "
				   "unacknowledged INVAL (%u)", id, inv->id);
		else
			mconn_fail(m, c, DSM_EPROTO,
				   "OKINV %u with no INVAL outstanding", id);
		return;
	}
	c->inv_head = inv->next;
	if (!c->inv_head)
		c->inv_tail = NULL;

	u = mupd_take(&c->part, id);
	if (u) {
		struct rel_flush_ctx f = { m, c, 0 };

		mstats_diffs(m, c, u, 1);
		mupd_apply(m, u, rel_flush_cb, &f);
		mupd_free(&c->part, u);
		if (f.failed)
			mconn_doom(m, c, "out of memory for its flushed pages");
	}
	rel_ack(m, inv->rel);
	free(inv);
}

/*
 * Finish complete release r, already taken off p's FIFO: drop the lock it
 * unlocks (or perform its object operation) and answer.  An UNLO* of a
 * range p does not hold in that mode on every page still released its
 * data, and is answered DSM_ENOTLOCKED (or DSM_ERANGE for a range outside
 * the segment).  DECO? ends the connection.
 */
static void rel_finish(struct master *m, struct mpart *p, struct mrel *r)
{
	size_t first, last;
	int code = 0;

	switch (r->kind) {
	case MREL_UNLOR:
	case MREL_UNLOW:
		if (mstore_range(m, r->off, r->len, &first, &last) < 0)
			code = DSM_ERANGE;
		else if (!mlock_held(m, p, first, last, r->kind == MREL_UNLOW))
			code = DSM_ENOTLOCKED;
		else
			mlock_drop(m, p, first, last, r->kind == MREL_UNLOW);
		mpart_reply(m, p, K_OKUNL, r->id, code, r->lreq);
		break;
	case MREL_PUSH:
		mpart_reply(m, p, K_PUSHA, r->id, 0, r->lreq);
		break;
	case MREL_DECO:
		mpart_reply(m, p, K_DECOA, r->id, 0, r->lreq);
		p->left = 1;
		if (p->conn)
			mconn_leave(m, p->conn);
		break;
	case MREL_OBJ:
		mobj_finish(m, p, r);
		break;
	default:
		dsm_err("release %u: unknown kind %d", r->id, (int)r->kind);
		break;
	}
}

/*
 * Finish p's releases from the head of its FIFO while they are complete.
 * Called from mmaster_settle only (a safe point: finishing grants locks and
 * may end the connection).
 */
void mrel_run(struct master *m, struct mpart *p)
{
	struct mrel *r;

	while (p->alive && (r = p->rel_head) != NULL && r->pending == 0) {
		p->rel_head = r->next;
		if (!p->rel_head)
			p->rel_tail = NULL;
		rel_finish(m, p, r);
		rel_free(r);
	}
}

/*
 * p is going away: its closed releases stay applied and complete silently
 * (an object operation they close is dropped with p's other object state).
 * Those still waiting for acknowledgements become orphans, freed by the last
 * one; local callers waiting on them get DSM_ENOTINIT.
 */
void mrel_part_cleanup(struct master *m, struct mpart *p)
{
	struct mrel *r;

	mrel_unschedule(m, p);
	while ((r = p->rel_head) != NULL) {
		p->rel_head = r->next;
		if (r->lreq)
			mlocal_done(m, r->lreq, DSM_ENOTINIT);
		r->lreq = NULL;
		r->owner = NULL;
		r->next = NULL;
		if (r->pending == 0)
			rel_free(r);
	}
	p->rel_tail = NULL;
}

/* c is going away: every INVAL it did not acknowledge counts as done. */
void mrel_conn_cleanup(struct master *m, struct mconn *c)
{
	struct minv *inv;

	while ((inv = c->inv_head) != NULL) {
		c->inv_head = inv->next;
		rel_ack(m, inv->rel);
		free(inv);
	}
	c->inv_tail = NULL;
	c->nbatch = 0;
}
