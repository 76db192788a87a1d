/*
 * locks.c - the page-range lock manager (docs/PROTOCOL.md, "Locks").
 *
 * Every page has a FIFO of waiting requests and a list of holds.  A range
 * request takes its pages one at a time in ascending order; on each page it
 * is granted only when no earlier request waits there and the holds are
 * compatible (shared with shared, exclusive with nothing).  Ascending order
 * means two range requests never deadlock; strict FIFO per page means no
 * request starves.  Holds belong to participants (a node connection or the
 * local participant), not to threads.
 *
 * Granting never allocates: a request reserves one hold record per page of
 * its range when it is made (the only point where it can fail, with ENOMEM),
 * so releasing locks and granting waiters always runs to the end.
 */
#include <assert.h>
#include <errno.h>
#include <stdlib.h>

#include "master_int.h"

/* Spare hold records kept beyond the reservations. */
#define HOLD_SPARES 1024

static int compatible(const struct mpage *pg, int write)
{
	if (write)
		return pg->writer == NULL && pg->nreaders == 0;
	return pg->writer == NULL;
}

static struct mhold *hold_find(const struct mpage *pg, const struct mpart *p)
{
	for (struct mhold *h = pg->holds; h; h = h->pnext)
		if (h->owner == p)
			return h;
	return NULL;
}

/* Make sure n more hold records can be taken without allocating. */
static int hold_reserve(struct master *m, size_t n)
{
	while (m->hold_nfree < m->hold_reserved + n) {
		struct mhold *h = malloc(sizeof(*h));

		if (!h)
			return -1;
		h->pnext = m->hold_free;
		m->hold_free = h;
		m->hold_nfree++;
	}
	m->hold_reserved += n;
	return 0;
}

static void hold_release_record(struct master *m, struct mhold *h)
{
	if (m->hold_nfree >= m->hold_reserved + HOLD_SPARES) {
		free(h);
		return;
	}
	h->pnext = m->hold_free;
	m->hold_free = h;
	m->hold_nfree++;
}

/* Give request r page `page` (compatible, at the head or queue empty). */
static void hold_grant(struct master *m, struct mlock_req *r, size_t page)
{
	struct mpage *pg = &m->pages[page];
	struct mhold *h = hold_find(pg, r->owner);

	assert(r->reserved > 0 && m->hold_reserved > 0);
	if (!h) {
		h = m->hold_free;
		assert(h);
		m->hold_free = h->pnext;
		m->hold_nfree--;
		h->owner = r->owner;
		h->page = page;
		h->nread = 0;
		h->write = 0;
		h->recalled = 0;
		h->pnext = pg->holds;
		pg->holds = h;
		h->oprev = NULL;
		h->onext = r->owner->holds;
		if (h->onext)
			h->onext->oprev = h;
		r->owner->holds = h;
	}
	if (r->write) {
		h->write = 1;
		pg->writer = r->owner;
	} else {
		h->nread++;
		pg->nreaders++;
	}
	r->reserved--;
	m->hold_reserved--;
}

/* Unlink hold h from its page and its owner and recycle it. */
static void hold_remove(struct master *m, struct mhold *h)
{
	struct mpage *pg = &m->pages[h->page];
	struct mhold **pp = &pg->holds;

	while (*pp != h)
		pp = &(*pp)->pnext;
	*pp = h->pnext;
	if (h->oprev)
		h->oprev->onext = h->onext;
	else
		h->owner->holds = h->onext;
	if (h->onext)
		h->onext->oprev = h->oprev;
	hold_release_record(m, h);
}

static void req_unlink_owner(struct mlock_req *r)
{
	if (r->oprev)
		r->oprev->onext = r->onext;
	else
		r->owner->reqs = r->onext;
	if (r->onext)
		r->onext->oprev = r->oprev;
}

/*
 * The request at the head of page's queue waits: ask every node whose hold
 * stands in its way to give the page back (RECAL), once per hold.  A node
 * may keep a lock after unlocking it (lock caching); this is how it learns
 * that someone else wants it.  A node is not recalled for its own request.
 */
static void lock_recall(struct master *m, size_t page)
{
	struct mpage *pg = &m->pages[page];
	struct mlock_req *head = pg->qhead;

	if (!head)
		return;
	for (struct mhold *h = pg->holds; h; h = h->pnext) {
		uint8_t *p;

		if (h->recalled || !h->owner->conn || h->owner == head->owner ||
		    (!head->write && !h->write))
			continue;
		p = mio_frame(m, h->owner->conn, K_RECAL, 0, 2 * DSM_LEN_BYTES);
		if (!p)
			continue;
		put_len(p, (CONFIG_LEN)(page * m->page_size));
		put_len(p + DSM_LEN_BYTES, (CONFIG_LEN)m->page_size);
		h->recalled = 1;
	}
}

/*
 * Take r's pages from r->next on while each is free and nobody waits there;
 * queue r at the first page where it must wait.  When r has every page, the
 * owner is told (OKLOC or local wake-up) and r is freed.  Only takes holds,
 * never drops one, so it cannot make anyone else grantable.
 */
static void lock_advance(struct master *m, struct mlock_req *r)
{
	while (r->next <= r->last) {
		struct mpage *pg = &m->pages[r->next];

		if (pg->qhead == NULL && compatible(pg, r->write)) {
			hold_grant(m, r, r->next);
			r->next++;
			continue;
		}
		r->qnext = NULL;
		if (pg->qtail)
			pg->qtail->qnext = r;
		else
			pg->qhead = r;
		pg->qtail = r;
		mstats_lock_queued(r);
		lock_recall(m, r->next);
		return;
	}
	req_unlink_owner(r);
	m->hold_reserved -= r->reserved;
	mstats_lock_granted(r);
	mpart_granted(m, r);
	free(r);
}

/* Grant the waiters at the head of page's queue while they fit. */
static void lock_pump(struct master *m, size_t page)
{
	struct mpage *pg = &m->pages[page];
	struct mlock_req *r;

	while ((r = pg->qhead) != NULL && compatible(pg, r->write)) {
		pg->qhead = r->qnext;
		if (!pg->qhead)
			pg->qtail = NULL;
		hold_grant(m, r, page);
		r->next++;
		lock_advance(m, r);
	}
	/* Whoever heads the queue now waits for the holds just granted. */
	lock_recall(m, page);
}

/*
 * Queue a lock request of participant p for pages [first, last] (already
 * validated).  The grant may happen at once, inside this call.  Returns -1
 * with errno ENOMEM if the request could not be recorded; nothing changed.
 */
int mlock_request(struct master *m, struct mpart *p, uint32_t id,
		  size_t first, size_t last, int write,
		  struct mlocal_req *lreq)
{
	size_t n = last - first + 1;
	struct mlock_req *r;

	if (hold_reserve(m, n) < 0) {
		errno = ENOMEM;
		return -1;
	}
	r = malloc(sizeof(*r));
	if (!r) {
		m->hold_reserved -= n;
		errno = ENOMEM;
		return -1;
	}
	r->owner = p;
	r->id = id;
	r->write = write;
	r->first = first;
	r->last = last;
	r->next = first;
	r->reserved = n;
	r->lreq = lreq;
	r->queued_us = -1;
	r->qnext = NULL;
	r->oprev = NULL;
	r->onext = p->reqs;
	if (r->onext)
		r->onext->oprev = r;
	p->reqs = r;
	if (p->conn)
		p->conn->st.lock_reqs++;
	lock_advance(m, r);
	return 0;
}

/* True if p holds every page of [first, last] in that mode. */
int mlock_held(struct master *m, struct mpart *p, size_t first, size_t last,
	       int write)
{
	for (size_t i = first; i <= last; i++) {
		struct mhold *h = hold_find(&m->pages[i], p);

		if (!h || (write ? !h->write : h->nread == 0))
			return 0;
	}
	return 1;
}

/*
 * Drop one hold of p in that mode on every page of [first, last] (the caller
 * checked mlock_held) and grant the waiters, page by page in ascending order.
 */
void mlock_drop(struct master *m, struct mpart *p, size_t first, size_t last,
		int write)
{
	for (size_t i = first; i <= last; i++) {
		struct mpage *pg = &m->pages[i];
		struct mhold *h = hold_find(pg, p);

		assert(h);
		if (write) {
			assert(h->write && pg->writer == p);
			h->write = 0;
			pg->writer = NULL;
		} else {
			assert(h->nread > 0 && pg->nreaders > 0);
			h->nread--;
			pg->nreaders--;
		}
		if (!h->write && h->nread == 0)
			hold_remove(m, h);
		lock_pump(m, i);
	}
}

/*
 * p is going away: cancel its queued requests (local callers get
 * DSM_ENOTINIT), free every hold it has, including pages a partly granted
 * request already took, and grant whoever waited behind.  All of p's
 * requests leave their queues before any page is pumped, so nothing can be
 * granted to p while it is being torn down.
 */
void mlock_part_cleanup(struct master *m, struct mpart *p)
{
	struct mlock_req *cancelled = NULL, *r;

	while ((r = p->reqs) != NULL) {
		struct mpage *pg = &m->pages[r->next];
		struct mlock_req **pp = &pg->qhead, *prev = NULL;

		while (*pp != r) {
			prev = *pp;
			pp = &(*pp)->qnext;
		}
		*pp = r->qnext;
		if (pg->qtail == r)
			pg->qtail = prev;
		req_unlink_owner(r);
		r->qnext = cancelled;
		cancelled = r;
	}
	while ((r = cancelled) != NULL) {
		cancelled = r->qnext;
		m->hold_reserved -= r->reserved;
		if (r->lreq)
			mlocal_done(m, r->lreq, DSM_ENOTINIT);
		lock_pump(m, r->next);
		free(r);
	}
	while (p->holds) {
		struct mhold *h = p->holds;
		struct mpage *pg = &m->pages[h->page];
		size_t page = h->page;

		if (h->write)
			pg->writer = NULL;
		pg->nreaders -= h->nread;
		hold_remove(m, h);
		lock_pump(m, page);
	}
}

/* Free the spare hold records (master_destroy; no holds remain). */
void mlock_free_spares(struct master *m)
{
	while (m->hold_free) {
		struct mhold *h = m->hold_free;

		m->hold_free = h->pnext;
		free(h);
	}
	m->hold_nfree = 0;
}
