/*
 * coherence.c - page states on a node: faults, installs, invalidations and
 * the diffs of a release (DESIGN.md section 3, docs/CONSISTENCY.md).
 *
 *   invalid --read fault--> fetching --PAGES--> read (write-protected)
 *   invalid --write fault-> fetching --PAGES--> dirty (writable, twin = page)
 *   read --write fault (WP)--> dirty (twin = copy, no network message)
 *   dirty --release--> read (diff sent, write-protected again)
 *   read/dirty --INVAL--> invalid (dirty: diff sent first, as a flush)
 *
 * A dirty page is write-protected *before* it is diffed: a thread writing
 * concurrently then takes a WP fault and starts a fresh twin from the page
 * as diffed, instead of racing with the diff.  Every state change happens
 * under state_lock together with the matching call of the fault backend
 * (fault.h: userfaultfd, or mprotect with the SIGSEGV backend), so the
 * state always says what the page tables say.  Page bytes are read and
 * written through the runtime's view (fault_page), never the application's.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dsm.h"
#include "dsm_diff.h"
#include "dsm_log.h"
#include "fault.h"
#include "node.h"

static inline uint8_t *page_addr(const struct segment *s, size_t p)
{
	return s->base + p * s->page_size;
}

/*
 * A fault that can never be served (master gone, or no memory for a twin):
 * the faulting thread cannot be given an error, so the process ends with one
 * clear line rather than hang or read zeros.  write(2) only: we may be deep
 * in the fault path.
 */
static __attribute__((noreturn)) void coh_fatal(struct segment *s, size_t p,
						 const char *why)
{
	char line[512];
	int n = snprintf(line, sizeof(line),
			 "dsm: cannot serve the page fault at %p: %s; exiting\n",
			 (void *)page_addr(s, p), why);

	if (n > 0)
		(void)!write(STDERR_FILENO, line,
			     (size_t)n < sizeof(line) ? (size_t)n : sizeof(line) - 1);
	node_exit_now(1);
}

/* Put page p on the dirty list once (state_lock held). */
static void dirty_list_add(struct segment *s, size_t p)
{
	if (s->pflags[p] & PF_LISTED)
		return;
	s->pflags[p] |= PF_LISTED;
	s->dirty[s->ndirty++] = (uint32_t)p;
}

/* Copy of page p's current bytes, or NULL (state_lock held, p present). */
static uint8_t *twin_make(struct segment *s, const uint8_t *src)
{
	uint8_t *t = twin_alloc(s);

	if (t)
		memcpy(t, src, s->page_size);
	return t;
}

static void lost_fatal(struct segment *s, size_t p)
{
	char why[sizeof(s->peer) + sizeof(s->lost_why) + 32];

	snprintf(why, sizeof(why), "lost the master %s (%s)", s->peer,
		 s->lost_why);
	coh_fatal(s, p, why);
}

/*
 * Ask for pages [p, p+n) in GETPG frames of at most what one PAGES frame
 * can carry, sent together so they travel as one stream.  0 or -1.
 */
static int fetch_pages(struct segment *s, size_t p, size_t n, int write)
{
	size_t per_frame = (DSM_MAX_PAYLOAD - 2 * DSM_LEN_BYTES) / s->page_size;
	uint8_t pl[2 * sizeof(CONFIG_LEN) + 1];
	int rc = 0;

	pthread_mutex_lock(&s->send_lock);
	while (n > 0 && rc == 0) {
		size_t k = n < per_frame ? n : per_frame;

		put_len(pl, (CONFIG_LEN)(p * s->page_size));
		put_len(pl + DSM_LEN_BYTES, (CONFIG_LEN)k);
		put_u8(pl + 2 * DSM_LEN_BYTES, write ? DSM_GETPG_WRITE : 0);
		rc = seg_send(s, K_GETPG, 0, pl, 2 * DSM_LEN_BYTES + 1);
		write = 0;
		p += k;
		n -= k;
	}
	pthread_mutex_unlock(&s->send_lock);
	return rc;
}

/*
 * Serve one page fault: in the service thread (userfaultfd), or in the
 * faulting thread itself (SIGSEGV backend).  Missing page: ask the master
 * for it; its install wakes the thread.  A write to a read page (the
 * userfaultfd write-protect fault; with the SIGSEGV backend, any fault on a
 * readable page that was not a known read): start a twin and make it
 * writable, locally.  Any other case is a fault that raced with a state
 * change: let the thread retry and fault again for what the page is now.
 * Returns 1 when the page is on its way (the SIGSEGV handler waits for it),
 * else 0.
 */
int coh_fault(struct segment *s, uintptr_t addr, int access)
{
	size_t p;
	uint8_t *page;

	if (addr < (uintptr_t)s->base || addr >= (uintptr_t)s->base + s->size) {
		dsm_warn("page fault at %p outside the segment", (void *)addr);
		return 0;
	}
	p = (addr - (uintptr_t)s->base) / s->page_size;
	page = page_addr(s, p);
	pthread_mutex_lock(&s->state_lock);
	if (s->pstate[p] == PG_READ &&
	    (access == FA_WP ||
	     (access != FA_READ && s->fault == FAULT_SIGSEGV))) {
		uint8_t *t = twin_make(s, fault_page(s, p));

		if (!t)
			coh_fatal(s, p, "out of memory for a twin page");
		s->twin[p] = t;
		s->pstate[p] = PG_DIRTY;
		dirty_list_add(s, p);
		/* Unprotect under state_lock: a release must not see the
		 * page dirty while it is still protected and then lose
		 * writes made after we unprotect it. */
		fault_protect(s, p, 0);
		pthread_mutex_unlock(&s->state_lock);
		return 0;
	}
	if (access == FA_WP) {
		pthread_mutex_unlock(&s->state_lock);
		fault_wake(s, p);
		return 0;
	}
	switch (s->pstate[p]) {
	case PG_INVALID: {
		size_t n = 1;

		if (atomic_load(&s->lost))
			lost_fatal(s, p);
		/* A miss right where the last fetch ended: a sequential
		 * reader.  Fetch ahead, as far as pages are missing. */
		if (p == s->seq_next)
			while (n < s->prefetch_max && p + n < s->npages &&
			       s->pstate[p + n] == PG_INVALID)
				n++;
		memset(s->pstate + p, PG_FETCHING, n);
		/* A read of a page this node holds the write lock on will
		 * most likely be followed by a write: install it writable,
		 * sparing the write-protect fault. */
		if (access == FA_WRITE || s->lc.lw[p])
			s->pflags[p] |= PF_FETCH_WRITE;
		s->seq_next = p + n;
		pthread_mutex_unlock(&s->state_lock);
		if (fetch_pages(s, p, n, access == FA_WRITE) < 0)
			svc_lost(s, strerror(errno));
		return 1;
	}
	case PG_FETCHING:
		/* Already on its way; a write makes the install writable. */
		if (access == FA_WRITE)
			s->pflags[p] |= PF_FETCH_WRITE;
		pthread_mutex_unlock(&s->state_lock);
		return 1;
	default:
		/* Present by our books.  Usually the page was installed after
		 * the fault was raised, and a retry is enough; but if it is
		 * not in memory, something dropped it behind our back (a
		 * madvise we did not see): fetch it again rather than send
		 * the thread into the same fault forever. */
		if (fault_retry(s, p) == 0) {
			pthread_mutex_unlock(&s->state_lock);
			return 0;
		}
		dsm_warn("page %p vanished while cached; fetching it again",
			 (void *)page);
		twin_free(s, s->twin[p]);
		s->twin[p] = NULL;
		s->pstate[p] = PG_INVALID;
		pthread_mutex_unlock(&s->state_lock);
		return coh_fault(s, addr, access);
	}
}

/* Pages made writable ahead of a write lock's first write, at most. */
#define WRITE_AHEAD_MAX 16

/*
 * A write lock on pages [first, last] was just taken (application thread).
 * Those of its pages that this node has read-only and wrote before (their
 * last diff was not empty) will most likely be written again: twin them
 * and make them writable now, as coh_fault would at the first write, but
 * without the write-protect fault, which stops the thread until the
 * service thread has run.  Best effort: a page left out (no memory for a
 * twin, beyond WRITE_AHEAD_MAX) faults as usual.
 */
void coh_write_ahead(struct segment *s, size_t first, size_t last)
{
	size_t made = 0;

	pthread_mutex_lock(&s->state_lock);
	for (size_t p = first; p <= last && made < WRITE_AHEAD_MAX; p++) {
		uint8_t *t;

		if (s->pstate[p] != PG_READ || !(s->pflags[p] & PF_WROTE))
			continue;
		t = twin_make(s, fault_page(s, p));
		if (!t)
			break;
		s->twin[p] = t;
		s->pstate[p] = PG_DIRTY;
		dirty_list_add(s, p);
		fault_protect(s, p, 0);
		made++;
	}
	pthread_mutex_unlock(&s->state_lock);
}

/*
 * Install one fetched page p from src (state_lock held, p PG_FETCHING): a
 * write miss gets a writable copy at once with the page as sent as its
 * twin; a read miss a write-protected one.
 */
static void install_one(struct segment *s, size_t p, const uint8_t *src)
{
	uint8_t *page = page_addr(s, p);
	int writable = (s->pflags[p] & PF_FETCH_WRITE) != 0;

	s->pflags[p] &= (uint8_t)~(PF_FETCH_WRITE | PF_FLUSHED);
	if (writable) {
		uint8_t *t = twin_make(s, src);

		if (!t)
			coh_fatal(s, p, "out of memory for a twin page");
		s->twin[p] = t;
	}
	if (fault_install(s, p, 1, src, writable) < 0) {
		if (errno != EEXIST)
			coh_fatal(s, p, "cannot install the page");
		/* Something filled the page behind our back: it is not data
		 * we can trust; drop it and let the thread fault again. */
		dsm_warn("page %p was already present at install", (void *)page);
		twin_free(s, s->twin[p]);
		s->twin[p] = NULL;
		fault_drop(s, p);
		s->pstate[p] = PG_INVALID;
		fault_wake(s, p);
		return;
	}
	if (writable) {
		s->pstate[p] = PG_DIRTY;
		dirty_list_add(s, p);
	} else {
		s->pstate[p] = PG_READ;
	}
}

/*
 * Install `count` pages from the master starting at page `first` (service
 * thread).  Pages nobody is waiting for (not PG_FETCHING) are ignored.  A
 * run of pages fetched for reading (a prefetch) goes in with one
 * fault_install; if that fails half way, page by page.
 */
int coh_install(struct segment *s, size_t first, size_t count,
		const uint8_t *data)
{
	size_t k = 0;

	while (k < count) {
		size_t p = first + k, n = 1;

		pthread_mutex_lock(&s->state_lock);
		if (s->pstate[p] != PG_FETCHING) {
			pthread_mutex_unlock(&s->state_lock);
			k++;
			continue;
		}
		if (!(s->pflags[p] & PF_FETCH_WRITE)) {
			while (k + n < count && s->pstate[p + n] == PG_FETCHING &&
			       !(s->pflags[p + n] & PF_FETCH_WRITE))
				n++;
		}
		if (n > 1 && fault_install(s, p, n, data + k * s->page_size,
					   0) == 0) {
			memset(s->pstate + p, PG_READ, n);
			for (size_t i = 0; i < n; i++)
				s->pflags[p + i] &= (uint8_t)~PF_FLUSHED;
		} else {
			for (size_t i = 0; i < n; i++)
				if (s->pstate[p + i] == PG_FETCHING)
					install_one(s, p + i,
						    data + (k + i) * s->page_size);
		}
		pthread_mutex_unlock(&s->state_lock);
		k += n;
	}
	return 0;
}

/*
 * Pages the master pushed with the grant of a lock (PAGES with the lock
 * request's id, before its OKLOC; see master/store.c mstore_push): install
 * those we do not have, writable if the lock is exclusive (the holder is
 * about to write).  Refused for a page we flushed at an INVAL and have not
 * fetched since: the push left the master before our flush reached it, so
 * it lacks our own bytes; that page is fetched on its next access instead.
 */
void coh_install_pushed(struct segment *s, size_t first, size_t count,
			const uint8_t *data, int write)
{
	for (size_t k = 0; k < count; k++) {
		size_t p = first + k;

		pthread_mutex_lock(&s->state_lock);
		if ((s->pstate[p] == PG_INVALID || s->pstate[p] == PG_FETCHING) &&
		    !(s->pflags[p] & PF_FLUSHED)) {
			s->pstate[p] = PG_FETCHING;
			if (write)
				s->pflags[p] |= PF_FETCH_WRITE;
			install_one(s, p, data + k * s->page_size);
		}
		pthread_mutex_unlock(&s->state_lock);
	}
}

/*
 * Write-protect dirty page p, append its diff to s->obuf at *used, free the
 * twin.  state_lock and send_lock held; p is PG_DIRTY.  The caller sets the
 * new state.  Room for DSM_DIFF_MAX bytes must be free.
 */
static void diff_page(struct segment *s, size_t p, size_t *used)
{
	ssize_t n;

	fault_protect(s, p, 1);
	n = dsm_diff_encode(s->obuf + *used, DSM_MAX_PAYLOAD - *used,
			    (CONFIG_LEN)(p * s->page_size), fault_page(s, p),
			    s->twin[p], s->page_size);
	if (n > 0) {
		*used += (size_t)n;
		s->pflags[p] |= PF_WROTE;
	} else {
		s->pflags[p] &= (uint8_t)~PF_WROTE;
	}
	twin_free(s, s->twin[p]);
	s->twin[p] = NULL;
}

/* Send the UPDAT frame collected in s->obuf if it is (nearly) full. */
static int flush_if_full(struct segment *s, uint32_t id, size_t *used,
			 int force)
{
	if (*used == 0)
		return 0;
	if (!force && DSM_MAX_PAYLOAD - *used >= DSM_DIFF_MAX(s->page_size))
		return 0;
	if (seg_send(s, K_UPDAT, id, s->obuf, (uint32_t)*used) < 0)
		return -1;
	*used = 0;
	return 0;
}

/*
 * Handle INVAL `id` for `count` pages listed (L each) at `pages` (service
 * thread): flush the diff of every dirty one as UPDAT frames with the same
 * id, drop them all, then acknowledge with OKINV.  Returns 0, or -1 if the
 * connection failed (the caller reports the loss).
 */
int coh_invalidate(struct segment *s, uint32_t id, const uint8_t *pages,
		   size_t count)
{
	size_t used = 0;
	int rc = 0;

	pthread_mutex_lock(&s->send_lock);
	for (size_t k = 0; k < count && rc == 0; k++) {
		size_t p = (size_t)get_len(pages + k * DSM_LEN_BYTES) / s->page_size;

		rc = flush_if_full(s, id, &used, 0);
		pthread_mutex_lock(&s->state_lock);
		switch (s->pstate[p]) {
		case PG_DIRTY:
			diff_page(s, p, &used);
			/* Its bytes reach the master with our OKINV: a page
			 * pushed to us before then would lack them. */
			s->pflags[p] |= PF_FLUSHED;
			/* fall through */
		case PG_READ:
			fault_drop(s, p);
			s->pstate[p] = PG_INVALID;
			break;
		default:
			/* Not present (or on its way: the PAGES that follows
			 * on the stream is newer than this INVAL). */
			break;
		}
		pthread_mutex_unlock(&s->state_lock);
	}
	if (rc == 0)
		rc = flush_if_full(s, id, &used, 1);
	if (rc == 0)
		rc = seg_send(s, K_OKINV, id, NULL, 0);
	pthread_mutex_unlock(&s->send_lock);
	return rc;
}

/*
 * Drop this node's copies of pages [d->first, d->last] (state_lock held,
 * after the release's diffs): 1 if none is left, 0 if a page is still on
 * its way or was written again since (it stays; the master invalidates it
 * later as usual).
 */
static int drop_copies(struct segment *s, const struct coh_drop *d)
{
	int none_left = 1;

	for (size_t p = d->first; p <= d->last; p++) {
		if (s->pstate[p] == PG_READ) {
			fault_drop(s, p);
			s->pstate[p] = PG_INVALID;
		} else if (s->pstate[p] != PG_INVALID) {
			none_left = 0;
		}
	}
	return none_left;
}

/*
 * Release (application thread): send the diffs of every page this node
 * modified since its last release as UPDAT frames of request `id`, then the
 * closing frame `closing` with its payload (UNLOR/UNLOW range, OBJOP, or
 * nothing for PUSH?/DECO?).  The caller has registered a waiter for `id`.
 *
 * drop (UNLOR/UNLOW only, else NULL): the lock goes to another node that
 * will write those pages, so our copies would only wait for its INVAL.
 * They are dropped after the diffs, and if none is left the closing frame
 * says so (DSM_UNLO_DROPPED): the master then forgets them without an
 * INVAL, and its acknowledgement, at the next release.  Sent under
 * send_lock, so a fetch of those pages by another thread follows the
 * closing frame on the stream.
 *
 * Returns 0, or -1 with errno if the connection failed.
 */
int coh_release(struct segment *s, enum dsm_kind closing, uint32_t id,
		const uint8_t *payload, uint32_t plen,
		const struct coh_drop *drop)
{
	uint8_t closing_pl[2 * sizeof(CONFIG_LEN) + 1];
	size_t used = 0, n;
	uint32_t *snap;
	int rc = 0;

	pthread_mutex_lock(&s->send_lock);
	/* Take the list; pages dirtied from now on start a new one.  INVALs
	 * cannot run meanwhile (they need send_lock), so every page taken is
	 * either still dirty or was written back by an earlier flush. */
	pthread_mutex_lock(&s->state_lock);
	snap = s->dirty;
	n = s->ndirty;
	s->dirty = s->dirty_spare;
	s->dirty_spare = snap;
	s->ndirty = 0;
	for (size_t i = 0; i < n; i++)
		s->pflags[snap[i]] &= (uint8_t)~PF_LISTED;
	pthread_mutex_unlock(&s->state_lock);

	for (size_t i = 0; i < n && rc == 0; i++) {
		size_t p = snap[i];

		rc = flush_if_full(s, id, &used, 0);
		pthread_mutex_lock(&s->state_lock);
		if (s->pstate[p] == PG_DIRTY) {
			diff_page(s, p, &used);
			s->pstate[p] = PG_READ;
		}
		pthread_mutex_unlock(&s->state_lock);
	}
	if (rc == 0)
		rc = flush_if_full(s, id, &used, 1);
	if (rc == 0 && drop && plen + 1 <= sizeof(closing_pl)) {
		int none_left;

		pthread_mutex_lock(&s->state_lock);
		none_left = drop_copies(s, drop);
		pthread_mutex_unlock(&s->state_lock);
		if (none_left) {
			memcpy(closing_pl, payload, plen);
			closing_pl[plen++] = DSM_UNLO_DROPPED;
			payload = closing_pl;
		}
	}
	if (rc == 0)
		rc = seg_send(s, closing, id, payload, plen);
	pthread_mutex_unlock(&s->send_lock);
	return rc;
}

/*
 * An asynchronous release: send it and return.  Nobody waits for the
 * master's answer: the master completes a node's releases in order and
 * grants no conflicting lock before, so the releasing node need not wait,
 * and anything it sends later is ordered after it on the stream.  0, or
 * DSM_ELOST.
 */
int req_send_release(struct segment *s, enum dsm_kind closing,
		     const uint8_t *payload, uint32_t plen,
		     const struct coh_drop *drop)
{
	if (atomic_load(&s->lost))
		return DSM_ELOST;
	if (coh_release(s, closing, req_new_id(s), payload, plen, drop) < 0) {
		svc_lost(s, strerror(errno));
		return DSM_ELOST;
	}
	return 0;
}

/* Has this node modified anything since its last release? */
int coh_has_dirty(struct segment *s)
{
	int dirty;

	pthread_mutex_lock(&s->state_lock);
	dirty = s->ndirty > 0;
	pthread_mutex_unlock(&s->state_lock);
	return dirty;
}

/* Free every twin (segment being detached; no thread uses it any more). */
void coh_free(struct segment *s)
{
	for (size_t p = 0; p < s->npages; p++) {
		twin_free(s, s->twin[p]);
		s->twin[p] = NULL;
	}
}

/*
 * The master is gone: a thread already waiting for a page can never get it.
 * Called once by svc_lost.
 */
void coh_lost(struct segment *s)
{
	pthread_mutex_lock(&s->state_lock);
	for (size_t p = 0; p < s->npages; p++)
		if (s->pstate[p] == PG_FETCHING)
			lost_fatal(s, p);
	pthread_mutex_unlock(&s->state_lock);
}
