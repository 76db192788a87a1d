/*
 * stats.c - live statistics (docs/PROTOCOL.md "Statistics"): what each node
 * and each page cost the master, the STAT! answer that dsm-stat
 * (master/stat_main.c) prints, and the summary line of --stats-interval.
 *
 * Counting is done by hooks in the modules that do the work (store.c: pages
 * sent; release.c: invalidations, releases, applied diffs; locks.c: lock
 * requests and queueing; dispatch.c: UPDAT bytes), each a few increments:
 * per node into its connection (struct mstat_node), per page into an array
 * of npages entries that is an anonymous MAP_NORESERVE mapping like the
 * page table of store.c, so untouched pages cost no memory.  A bitmap of
 * the pages that have a counter lets STAT? walk only those.  When a node
 * leaves, its counters are folded into m->stats.departed, so totals stay
 * right.  Statistics clients (JOIN? flag DSM_JOIN_MONITOR) are never
 * counted.
 *
 * Distinct writers of a page are a bitmap of node ids modulo 64: exact as
 * long as the writers' ids differ modulo 64 (fewer than 65 nodes joined
 * over the master's life), otherwise an undercount.  A page counts as
 * falsely shared when at least two nodes wrote it and at least one of its
 * diffs was flushed: a node still had it dirty when another node's release
 * invalidated it.  In a program without data races two nodes can only have
 * one page dirty at the same time if they write different bytes of it,
 * which is what false sharing is; pages shared truly (a counter under a
 * lock) are written by one node at a time and are only "hot".
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "dsm_log.h"
#include "master_int.h"

/* Bytes of a node's counters and of a page entry in STAT!. */
#define NODE_COUNTERS_LEN (8u * DSM_STAT_NODE_COUNTERS)
#define PAGE_ENTRY_LEN (DSM_LEN_BYTES + 4u * 8u + 4u)

/*
 * Map the per-page counters and the bitmap of active pages; remember
 * cfg->stats_interval_s.  Called from mstore_init (m->npages set).  0, or
 * -1 with errno ENOMEM after one log line; mstats_free undoes a partial
 * init.
 */
int mstats_init(struct master *m, const struct master_config *cfg)
{
	void *p;

	m->stats.start_ms = mmaster_now_ms();
	m->stats.interval_ms = cfg ? (int64_t)cfg->stats_interval_s * 1000 : 0;
	m->stats.next_ms = m->stats.start_ms + m->stats.interval_ms;
	m->stats.pages_bytes = m->npages * sizeof(struct mstat_page);
	p = mmap(NULL, m->stats.pages_bytes, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (p == MAP_FAILED) {
		dsm_err("mmap(%zu bytes) for the page statistics: %s",
			m->stats.pages_bytes, strerror(errno));
		errno = ENOMEM;
		return -1;
	}
	m->stats.pages = p;
	m->stats.active = calloc(bitmap_words(m->npages), sizeof(uint64_t));
	if (!m->stats.active) {
		dsm_err("calloc for the page statistics bitmap: %s",
			strerror(errno));
		errno = ENOMEM;
		return -1;
	}
	return 0;
}

void mstats_free(struct master *m)
{
	if (m->stats.pages)
		munmap(m->stats.pages, m->stats.pages_bytes);
	free(m->stats.active);
	m->stats.pages = NULL;
	m->stats.active = NULL;
}

/*
 * Node c's diffs u are being applied (flush: at an INVAL): per page, the
 * changed bytes, c as a writer, and whether it was a flush.  The records
 * were checked when they arrived (dsm_diff_check); only their headers are
 * read here.
 */
void mstats_diffs(struct master *m, struct mconn *c, const struct mupd *u,
		  int flush)
{
	uint64_t wbit = (uint64_t)1 << (c->node_id % 64);

	for (const struct mupd_chunk *ch = u->head; ch; ch = ch->next) {
		const uint8_t *p = ch->data;
		size_t pos = 0;

		while (pos + DSM_LEN_BYTES + 4 <= ch->len) {
			size_t page = (size_t)(get_len(p + pos) / m->page_size);
			uint32_t nruns = get_u32(p + pos + DSM_LEN_BYTES);
			struct mstat_page *ps = &m->stats.pages[page];
			uint64_t bytes = 0;

			pos += DSM_LEN_BYTES + 4;
			for (uint32_t k = 0; k < nruns; k++) {
				size_t n = get_u16(p + pos + 2);

				bytes += n;
				pos += 4 + n;
			}
			ps->diff_bytes += bytes;
			ps->writers |= wbit;
			ps->flushes += (uint64_t)flush;
			bit_set(m->stats.active, page);
		}
	}
}

static int64_t now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* Lock request r has to wait at a page: remember since when. */
void mstats_lock_queued(struct mlock_req *r)
{
	if (r->queued_us < 0)
		r->queued_us = now_us();
}

/* A lock request of c that waited since `since` (now_us) is granted. */
static void count_wait(struct mconn *c, int64_t since)
{
	int64_t waited = now_us() - since;

	c->st.lock_waits++;
	c->st.wait_us += waited > 0 ? (uint64_t)waited : 0;
}

/* Lock request r is granted: count its wait, if it had one. */
void mstats_lock_granted(struct mlock_req *r)
{
	struct mconn *c = r->owner->conn;

	if (c && r->queued_us >= 0)
		count_wait(c, r->queued_us);
}

/*
 * A lock request of participant p on a mutex or rwlock (OBJOP, trylocks
 * included), counted with its LOCKR/LOCKW; `queued`: its record, which
 * waits in the object's queue from now on, or NULL (answered at once).
 */
void mstats_obj_lock(struct mpart *p, struct mobj_req *queued)
{
	if (queued)
		queued->queued_us = now_us();
	if (p->conn)
		p->conn->st.lock_reqs++;
}

/* Waiting mutex or rwlock request r is granted: count its wait.  A
 * condition waiter taking its mutex back is not a lock request. */
void mstats_obj_granted(struct mobj_req *r)
{
	struct mconn *c = r->owner->conn;

	if (c && r->queued_us >= 0 &&
	    (r->kind == MR_LOCK || r->kind == MR_RDLOCK || r->kind == MR_WRLOCK))
		count_wait(c, r->queued_us);
}

static void node_add(struct mstat_node *sum, const struct mstat_node *n)
{
	sum->pages += n->pages;
	sum->invals += n->invals;
	sum->diff_bytes += n->diff_bytes;
	sum->lock_reqs += n->lock_reqs;
	sum->lock_waits += n->lock_waits;
	sum->wait_us += n->wait_us;
	sum->releases += n->releases;
}

/* Node c leaves (JOINED to CLOSING or DEAD): keep what it did. */
void mstats_node_left(struct master *m, struct mconn *c)
{
	node_add(&m->stats.departed, &c->st);
	m->stats.ndeparted++;
	memset(&c->st, 0, sizeof(c->st));
}

static int is_node(const struct mconn *c)
{
	return c->state == MC_JOINED && !c->monitor;
}

/* Totals over every node, joined or departed; *njoined: joined now. */
static void totals(const struct master *m, struct mstat_node *t,
		   uint32_t *njoined)
{
	*t = m->stats.departed;
	*njoined = 0;
	for (const struct mconn *c = m->conns; c; c = c->next) {
		if (!is_node(c))
			continue;
		node_add(t, &c->st);
		(*njoined)++;
	}
}

static int popcount64(uint64_t v)
{
	return __builtin_popcountll(v);
}

/* The two page rankings. */
enum rank { RANK_HOT, RANK_FALSE };

static int page_counts(const struct mstat_page *ps, enum rank r)
{
	if (r == RANK_HOT)
		return ps->fetches + ps->invals > 0;
	return popcount64(ps->writers) >= 2 && ps->flushes > 0;
}

/* True if page a ranks before page b (ties: lower page first). */
static int page_before(const struct master *m, size_t a, size_t b,
		       enum rank r)
{
	const struct mstat_page *x = &m->stats.pages[a];
	const struct mstat_page *y = &m->stats.pages[b];
	uint64_t kx, ky, lx, ly;

	if (r == RANK_HOT) {
		kx = x->fetches + x->invals;
		ky = y->fetches + y->invals;
		lx = x->invals;
		ly = y->invals;
	} else {
		kx = x->invals;
		ky = y->invals;
		lx = x->flushes;
		ly = y->flushes;
	}
	if (kx != ky)
		return kx > ky;
	if (lx != ly)
		return lx > ly;
	return a < b;
}

/*
 * The first `cap` pages of ranking r, best first, into top[]; returns how
 * many.  Walks only the pages that have a counter; insertion into a sorted
 * array of at most cap entries (cap is small: DSM_STAT_TOP_MAX).
 */
static size_t page_top(const struct master *m, enum rank r, size_t *top,
		       size_t cap)
{
	size_t n = 0, words = bitmap_words(m->npages);

	if (cap == 0)
		return 0;
	for (size_t w = 0; w < words; w++) {
		uint64_t bits = m->stats.active[w];

		while (bits) {
			size_t page = w * 64 + (size_t)__builtin_ctzll(bits);
			size_t k;

			bits &= bits - 1;
			if (page >= m->npages ||
			    !page_counts(&m->stats.pages[page], r))
				continue;
			if (n == cap && !page_before(m, page, top[n - 1], r))
				continue;
			k = n < cap ? n++ : n - 1;
			while (k > 0 && page_before(m, page, top[k - 1], r)) {
				top[k] = top[k - 1];
				k--;
			}
			top[k] = page;
		}
	}
	return n;
}

/* A write cursor over a STAT! payload whose size was computed first. */
struct wcur {
	uint8_t *p;
};

static void w_u8(struct wcur *w, uint8_t v)
{
	put_u8(w->p, v);
	w->p += 1;
}
static void w_u32(struct wcur *w, uint32_t v)
{
	put_u32(w->p, v);
	w->p += 4;
}
static void w_u64(struct wcur *w, uint64_t v)
{
	put_u64(w->p, v);
	w->p += 8;
}
static void w_len(struct wcur *w, uint64_t v)
{
	put_len(w->p, (CONFIG_LEN)v);
	w->p += DSM_LEN_BYTES;
}
static void w_node(struct wcur *w, const struct mstat_node *n)
{
	w_u64(w, n->pages);
	w_u64(w, n->invals);
	w_u64(w, n->diff_bytes);
	w_u64(w, n->lock_reqs);
	w_u64(w, n->lock_waits);
	w_u64(w, n->wait_us);
	w_u64(w, n->releases);
}
static void w_pages(struct wcur *w, const struct master *m,
		    const size_t *top, size_t n)
{
	w_u32(w, (uint32_t)n);
	for (size_t i = 0; i < n; i++) {
		const struct mstat_page *ps = &m->stats.pages[top[i]];

		w_len(w, (uint64_t)top[i] * m->page_size);
		w_u64(w, ps->fetches);
		w_u64(w, ps->invals);
		w_u64(w, ps->diff_bytes);
		w_u64(w, ps->flushes);
		w_u32(w, (uint32_t)popcount64(ps->writers));
	}
}

static size_t peer_len(const struct mconn *c)
{
	size_t n = strlen(c->peer);

	return n > 255 ? 255 : n;
}

/*
 * Answer STAT? `id` of c (top: pages per list) with STAT! (layout in
 * docs/PROTOCOL.md).  The per-node list is cut where the frame would pass
 * DSM_MAX_PAYLOAD (thousands of nodes); the totals always cover everyone.
 */
void mstats_reply(struct master *m, struct mconn *c, uint32_t id,
		  uint32_t top)
{
	size_t *hot = NULL, *fls = NULL, nhot, nfls, len, budget;
	uint32_t njoined, nlisted = 0;
	struct mstat_node tot;
	struct wcur w;
	uint8_t *p;

	if (top > DSM_STAT_TOP_MAX)
		top = DSM_STAT_TOP_MAX;
	if (top) {
		hot = malloc(top * sizeof(*hot));
		fls = malloc(top * sizeof(*fls));
		if (!hot || !fls) {
			free(hot);
			free(fls);
			mio_send_error(m, c, id, -DSM_ENOMEM,
				       "out of memory for the statistics");
			return;
		}
	}
	nhot = page_top(m, RANK_HOT, hot, top);
	nfls = page_top(m, RANK_FALSE, fls, top);
	totals(m, &tot, &njoined);

	len = 4 + 4 + DSM_LEN_BYTES + 8 + 4 + 4 + 8 + 2 * NODE_COUNTERS_LEN +
	      4 + nhot * PAGE_ENTRY_LEN + 4 + nfls * PAGE_ENTRY_LEN;
	budget = DSM_MAX_PAYLOAD - len;
	for (const struct mconn *n = m->conns; n; n = n->next) {
		size_t e;

		if (!is_node(n))
			continue;
		e = 4 + 1 + peer_len(n) + NODE_COUNTERS_LEN;
		if (e > budget)
			break;
		budget -= e;
		len += e;
		nlisted++;
	}

	p = mio_frame(m, c, K_STATA, id, len);
	if (p) {
		w.p = p;
		w_u32(&w, DSM_STAT_FORMAT);
		w_u32(&w, (uint32_t)m->page_size);
		w_len(&w, m->size);
		w_u64(&w, (uint64_t)(mmaster_now_ms() - m->stats.start_ms));
		w_u32(&w, njoined);
		w_u32(&w, nlisted);
		w_u64(&w, m->stats.ndeparted);
		w_node(&w, &m->stats.departed);
		w_node(&w, &tot);
		for (const struct mconn *n = m->conns; n && nlisted; n = n->next) {
			size_t pl;

			if (!is_node(n))
				continue;
			pl = peer_len(n);
			w_u32(&w, n->node_id);
			w_u8(&w, (uint8_t)pl);
			memcpy(w.p, n->peer, pl);
			w.p += pl;
			w_node(&w, &n->st);
			nlisted--;
		}
		w_pages(&w, m, hot, nhot);
		w_pages(&w, m, fls, nfls);
	}
	free(hot);
	free(fls);
}

/*
 * --stats-interval: once per interval, one line on stderr whatever the log
 * level (it was asked for): totals, the hottest page and the page most
 * falsely shared.  Called by every loop pass; the loop wakes at least once
 * a second (heartbeat), which is the resolution.
 */
void mstats_tick(struct master *m, int64_t now)
{
	struct mstat_node t;
	uint32_t njoined;
	size_t hot, fls;
	char line[1024];
	int n;

	if (m->stats.interval_ms <= 0 || now < m->stats.next_ms)
		return;
	m->stats.next_ms = now + m->stats.interval_ms;
	totals(m, &t, &njoined);
	n = snprintf(line, sizeof(line), "dsm-master: stats: nodes %u "
		     "joined, %llu departed; pages served %llu, invalidations "
		     "%llu, diff bytes %llu, lock requests %llu (%llu waited, "
		     "%llu ms), releases %llu", njoined,
		     (unsigned long long)m->stats.ndeparted,
		     (unsigned long long)t.pages, (unsigned long long)t.invals,
		     (unsigned long long)t.diff_bytes,
		     (unsigned long long)t.lock_reqs,
		     (unsigned long long)t.lock_waits,
		     (unsigned long long)(t.wait_us / 1000),
		     (unsigned long long)t.releases);
	if (page_top(m, RANK_HOT, &hot, 1) == 1 && n < (int)sizeof(line)) {
		const struct mstat_page *ps = &m->stats.pages[hot];

		n += snprintf(line + n, sizeof(line) - (size_t)n,
			      "; hottest page %zu (offset 0x%zx): %llu fetches, "
			      "%llu invalidations", hot, hot * m->page_size,
			      (unsigned long long)ps->fetches,
			      (unsigned long long)ps->invals);
	}
	if (page_top(m, RANK_FALSE, &fls, 1) == 1 && n < (int)sizeof(line)) {
		const struct mstat_page *ps = &m->stats.pages[fls];

		n += snprintf(line + n, sizeof(line) - (size_t)n,
			      "; false sharing: page %zu (offset 0x%zx), %d "
			      "writers, %llu flushes", fls, fls * m->page_size,
			      popcount64(ps->writers),
			      (unsigned long long)ps->flushes);
	}
	if (n > (int)sizeof(line) - 2)
		n = (int)sizeof(line) - 2;
	line[n++] = '\n';
	/* One write, like dsm_log: lines never mix with other output. */
	while (write(STDERR_FILENO, line, (size_t)n) < 0 && errno == EINTR)
		;
}
