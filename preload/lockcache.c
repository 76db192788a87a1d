/*
 * lockcache.c - page-range locks on a node, with lock caching.
 *
 * A node keeps the master's hold on a page after the last local unlock, so
 * that locking it again costs no message, until the master recalls it
 * (RECAL: another node waits for it).  Per page the node knows:
 *   mh        the master's hold of this node: none, shared or exclusive;
 *   lr, lw    local holds (threads of this process): readers, one writer;
 *   pending   a request for the page is on its way to the master;
 *   recall    the master wants the hold back (release at the last unlock);
 *   hot       recently recalled: release eagerly at the next unlocks, so a
 *             lock that moves between nodes does not pay a recall each time.
 *
 * Lock: wait while local holds conflict; if the master's holds already cover
 * the range and nothing is recalled, take it locally.  Otherwise give back
 * whatever cached holds the range has (so a node never waits for itself,
 * and pages are still taken in ascending order as one request), then ask
 * the master for the whole range.  Unlock: a release.  What the node
 * modified goes to the master at once (asynchronously), with the hold if
 * it goes back, else alone (PUSH?), so that a node that crashes later loses
 * nothing it unlocked; an unlock with nothing modified and a hold that
 * stays cached sends nothing at all.  An exclusive hold that goes back
 * because another node wants it takes the node's copies of its pages along
 * (see give_back).
 *
 * Grants are recorded when the OKLOC frame is handled, in stream order, not
 * when the waiting thread wakes: a RECAL that follows the grant on the
 * stream then always finds the hold in place.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "dsm.h"
#include "dsm_log.h"
#include "node.h"

enum { MH_NONE = 0, MH_READ, MH_WRITE };

/* Eager releases after a recall. */
#define LC_HOT_ROUNDS 2

int lc_init(struct segment *s)
{
	s->lc.mh = calloc(s->npages, 1);
	s->lc.lw = calloc(s->npages, 1);
	s->lc.pending = calloc(s->npages, 1);
	s->lc.recall = calloc(s->npages, 1);
	s->lc.hot = calloc(s->npages, 1);
	s->lc.lr = calloc(s->npages, sizeof(*s->lc.lr));
	pthread_mutex_init(&s->lc.mu, NULL);
	pthread_cond_init(&s->lc.cv, NULL);
	if (!s->lc.mh || !s->lc.lw || !s->lc.pending || !s->lc.recall ||
	    !s->lc.hot || !s->lc.lr)
		return -1;
	return 0;
}

void lc_free(struct segment *s)
{
	free(s->lc.mh);
	free(s->lc.lw);
	free(s->lc.pending);
	free(s->lc.recall);
	free(s->lc.hot);
	free(s->lc.lr);
	pthread_mutex_destroy(&s->lc.mu);
	pthread_cond_destroy(&s->lc.cv);
}

/* A fork child holds nothing at the master: forget everything. */
void lc_reset(struct segment *s)
{
	memset(s->lc.mh, 0, s->npages);
	memset(s->lc.lw, 0, s->npages);
	memset(s->lc.pending, 0, s->npages);
	memset(s->lc.recall, 0, s->npages);
	memset(s->lc.hot, 0, s->npages);
	memset(s->lc.lr, 0, s->npages * sizeof(*s->lc.lr));
	pthread_mutex_init(&s->lc.mu, NULL);
	pthread_cond_init(&s->lc.cv, NULL);
}

/*
 * Pages of [first, last] marked in `give` (lc.mu held by the caller before,
 * not during): send them back to the master as releases, one UNLOR/UNLOW
 * per run of pages with the same mode.  The first release carries every
 * page this node modified.  contended: another node wants these pages
 * (recalled, or recently so), so the copies of exclusive holds are dropped
 * with the release (coh_release): the next writer would invalidate them
 * anyway, and that INVAL and its acknowledgement would delay its grant.
 * Asynchronous; 0 or DSM_ELOST.
 */
static int give_back(struct segment *s, size_t first, size_t last,
		     const uint8_t *mode, int contended)
{
	uint8_t pl[2 * sizeof(CONFIG_LEN)];
	int rc = 0;

	for (size_t p = first; p <= last && rc == 0;) {
		size_t q = p;
		struct coh_drop drop;
		int write = mode[p - first] == MH_WRITE;

		if (mode[p - first] == MH_NONE) {
			p++;
			continue;
		}
		while (q + 1 <= last && mode[q + 1 - first] == mode[p - first])
			q++;
		drop.first = p;
		drop.last = q;
		put_len(pl, (CONFIG_LEN)(p * s->page_size));
		put_len(pl + DSM_LEN_BYTES,
			(CONFIG_LEN)((q - p + 1) * s->page_size));
		rc = req_send_release(s, write ? K_UNLOW : K_UNLOR, pl,
				      2 * DSM_LEN_BYTES,
				      write && contended ? &drop : NULL);
		p = q + 1;
	}
	return rc;
}

/* Room for the give-back modes of [first, last]; NULL on no memory. */
static uint8_t *modes_alloc(size_t first, size_t last)
{
	return calloc(last - first + 1, 1);
}

/* Do local holds or a request in flight keep us from taking [first,last]? */
static int busy_locally(const struct segment *s, size_t first, size_t last,
			int write)
{
	for (size_t p = first; p <= last; p++)
		if (s->lc.pending[p] || s->lc.lw[p] || s->lc.recall[p] ||
		    (write && s->lc.lr[p]))
			return 1;
	return 0;
}

static int covered(const struct segment *s, size_t first, size_t last,
		   int write)
{
	for (size_t p = first; p <= last; p++)
		if (s->lc.mh[p] < (write ? MH_WRITE : MH_READ))
			return 0;
	return 1;
}

/*
 * Lock pages [first, last] of s shared or exclusive for this process.
 * 0, or DSM_ELOST / DSM_ENOMEM / an error of the master.
 */
int lc_lock(struct segment *s, size_t first, size_t last, int write)
{
	uint8_t pl[2 * sizeof(CONFIG_LEN)];
	uint8_t *mode = modes_alloc(first, last);
	struct waiter w;
	int rc;

	if (!mode)
		return DSM_ENOMEM;
	pthread_mutex_lock(&s->lc.mu);
	for (;;) {
		/* Local readers on some pages are fine for a shared lock
		 * only if the master's holds cover it all: otherwise we
		 * must give those pages back first, so wait for them. */
		int cov = covered(s, first, last, write);

		if (!busy_locally(s, first, last, write || !cov))
			break;
		if (atomic_load(&s->lost)) {
			pthread_mutex_unlock(&s->lc.mu);
			free(mode);
			return DSM_ELOST;
		}
		pthread_cond_wait(&s->lc.cv, &s->lc.mu);
	}
	if (covered(s, first, last, write)) {
		for (size_t p = first; p <= last; p++) {
			if (write)
				s->lc.lw[p] = 1;
			else
				s->lc.lr[p]++;
		}
		pthread_mutex_unlock(&s->lc.mu);
		free(mode);
		return 0;
	}
	for (size_t p = first; p <= last; p++) {
		mode[p - first] = s->lc.mh[p];
		s->lc.mh[p] = MH_NONE;
		s->lc.pending[p] = 1;
	}
	pthread_mutex_unlock(&s->lc.mu);

	rc = give_back(s, first, last, mode, 0);
	free(mode);
	req_begin(s, &w);
	w.lc_first = first;
	w.lc_last = last;
	w.lc_write = write;
	if (rc == 0 && atomic_load(&w.done) == 0) {
		put_len(pl, (CONFIG_LEN)(first * s->page_size));
		put_len(pl + DSM_LEN_BYTES,
			(CONFIG_LEN)((last - first + 1) * s->page_size));
		pthread_mutex_lock(&s->send_lock);
		if (seg_send(s, write ? K_LOCKW : K_LOCKR, w.id, pl,
			     2 * DSM_LEN_BYTES) < 0)
			svc_lost(s, strerror(errno));
		pthread_mutex_unlock(&s->send_lock);
	}
	rc = svc_wait_reply(s, &w);
	if (rc == 0 && w.reply != K_OKLOC)
		rc = DSM_EPROTO;
	if (rc != 0) {
		/* Not granted: nothing is pending any more. */
		pthread_mutex_lock(&s->lc.mu);
		for (size_t p = first; p <= last; p++)
			s->lc.pending[p] = 0;
		pthread_cond_broadcast(&s->lc.cv);
		pthread_mutex_unlock(&s->lc.mu);
	}
	return rc;
}

/*
 * OKLOC for request w (frame handler, in stream order, before w's thread
 * wakes): the node now holds the range at the master, and w's thread holds
 * it locally.
 */
void lc_granted(struct segment *s, const struct waiter *w)
{
	pthread_mutex_lock(&s->lc.mu);
	for (size_t p = w->lc_first; p <= w->lc_last; p++) {
		s->lc.mh[p] = w->lc_write ? MH_WRITE : MH_READ;
		s->lc.pending[p] = 0;
		if (w->lc_write)
			s->lc.lw[p] = 1;
		else
			s->lc.lr[p]++;
	}
	pthread_mutex_unlock(&s->lc.mu);
}

/*
 * Unlock pages [first, last]: DSM_ENOTLOCKED unless this process holds
 * them all in that mode.  Pages recalled or hot go back to the master now;
 * the others stay cached.
 */
int lc_unlock(struct segment *s, size_t first, size_t last, int write)
{
	uint8_t *mode = modes_alloc(first, last);
	int give = 0, rc = 0;

	if (!mode)
		return DSM_ENOMEM;
	pthread_mutex_lock(&s->lc.mu);
	for (size_t p = first; p <= last; p++) {
		if (write ? !s->lc.lw[p] : !s->lc.lr[p]) {
			pthread_mutex_unlock(&s->lc.mu);
			free(mode);
			return DSM_ENOTLOCKED;
		}
	}
	for (size_t p = first; p <= last; p++) {
		if (write)
			s->lc.lw[p] = 0;
		else
			s->lc.lr[p]--;
		if (s->lc.lw[p] || s->lc.lr[p])
			continue;
		if (s->lc.recall[p] || s->lc.hot[p]) {
			mode[p - first] = s->lc.mh[p];
			s->lc.mh[p] = MH_NONE;
			s->lc.recall[p] = 0;
			if (s->lc.hot[p])
				s->lc.hot[p]--;
			give = 1;
		}
	}
	pthread_cond_broadcast(&s->lc.cv);
	pthread_mutex_unlock(&s->lc.mu);
	if (give)
		rc = give_back(s, first, last, mode, 1);
	else if (coh_has_dirty(s))
		rc = req_send_release(s, K_PUSHQ, NULL, 0, NULL);
	free(mode);
	return rc;
}

/*
 * RECAL for pages [first, last] (frame handler): holds not in local use go
 * back now; the others at their last unlock.  A recall for a hold already
 * given back crossed our release on the wire: nothing to do.
 */
void lc_recall(struct segment *s, size_t first, size_t last)
{
	uint8_t *mode = modes_alloc(first, last);
	int give = 0;

	if (!mode) {
		dsm_err("out of memory handling a recall; exiting");
		node_exit_now(1);
	}
	pthread_mutex_lock(&s->lc.mu);
	for (size_t p = first; p <= last; p++) {
		if (s->lc.mh[p] == MH_NONE)
			continue;
		s->lc.hot[p] = LC_HOT_ROUNDS;
		if (s->lc.lw[p] || s->lc.lr[p]) {
			s->lc.recall[p] = 1;
			continue;
		}
		mode[p - first] = s->lc.mh[p];
		s->lc.mh[p] = MH_NONE;
		give = 1;
	}
	pthread_mutex_unlock(&s->lc.mu);
	if (give && give_back(s, first, last, mode, 1) != 0)
		dsm_debug("recall of pages %zu-%zu: master lost", first, last);
	free(mode);
}

/* The master is gone: wake local waiters so they see it. */
void lc_lost(struct segment *s)
{
	pthread_mutex_lock(&s->lc.mu);
	pthread_cond_broadcast(&s->lc.cv);
	pthread_mutex_unlock(&s->lc.mu);
}
