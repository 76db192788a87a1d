/*
 * store.c - the home copy of the segment and the per-page bookkeeping that
 * goes with it: who holds a copy (copysets), which pages the release being
 * closed touched, which pages a node flushed but has not released yet.
 *
 * Large per-page arrays are anonymous MAP_NORESERVE mappings: the kernel
 * hands out zero pages lazily, so a big segment costs memory only where it
 * is used.  So is the home copy, unless it lives in a --store file
 * (storefile.c).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "dsm_log.h"
#include "master_int.h"

static void *store_map(size_t bytes, const char *what)
{
	void *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);

	if (p == MAP_FAILED) {
		dsm_err("mmap(%zu bytes) for the %s: %s", bytes, what,
			strerror(errno));
		errno = ENOMEM;
		return NULL;
	}
	return p;
}

/*
 * Map the home copy (zero-filled; with cfg->store_path, the file's
 * contents: storefile.c), the page lock table, the release scratch sets and
 * the page statistics (stats.c).  m->size, m->page_size and m->npages must
 * be set.  On failure returns -1 with errno set; mstore_free() undoes a
 * partial init.
 */
int mstore_init(struct master *m, const struct master_config *cfg)
{
	if (cfg->store_path) {
		if (mfile_open(m, cfg->store_path, cfg->sync_policy) < 0)
			return -1;
	} else {
		m->store = store_map(m->size, "home copy of the segment");
		if (!m->store)
			return -1;
	}
	m->pages_bytes = m->npages * sizeof(struct mpage);
	m->pages = store_map(m->pages_bytes, "page lock table");
	if (!m->pages)
		return -1;
	m->touched_bytes = m->npages * sizeof(size_t);
	m->touched = store_map(m->touched_bytes, "release page set");
	if (!m->touched)
		return -1;
	m->mark = calloc(bitmap_words(m->npages), sizeof(uint64_t));
	if (!m->mark) {
		dsm_err("calloc for the release page bitmap: %s",
			strerror(errno));
		return -1;
	}
	return mstats_init(m, cfg);
}

/* Unmap everything; a store file is written back and closed first. */
void mstore_free(struct master *m)
{
	mfile_close(m);
	mstats_free(m);
	if (m->store)
		munmap(m->store, m->size);
	if (m->pages)
		munmap(m->pages, m->pages_bytes);
	if (m->touched)
		munmap(m->touched, m->touched_bytes);
	free(m->mark);
	m->store = NULL;
	m->pages = NULL;
	m->touched = NULL;
	m->mark = NULL;
}

/*
 * Pages of the byte range [off, off+len), rounded out.  -1 if the range is
 * empty or not inside the segment (careful about overflow: both come from
 * the wire).
 */
int mstore_range(const struct master *m, uint64_t off, uint64_t len,
		 size_t *first, size_t *last)
{
	if (len == 0 || off >= m->size || len > m->size - off)
		return -1;
	*first = (size_t)(off / m->page_size);
	*last = (size_t)((off + len - 1) / m->page_size);
	return 0;
}

/* Copyset bitmap of a joining node; -1 (ENOMEM) on failure. */
int mstore_copyset_alloc(struct master *m, struct mconn *c)
{
	c->copyset = calloc(bitmap_words(m->npages), sizeof(uint64_t));
	c->lost = calloc(bitmap_words(m->npages), sizeof(uint64_t));
	return c->copyset && c->lost ? 0 : -1;
}

/*
 * Serve GETPG: `count` pages from page-aligned `off`, checked against the
 * segment and the frame limit (ERROR DSM_ERANGE with the request id
 * otherwise).  The PAGES payload is a copy of the home copy as it is now;
 * the node is recorded as holding those pages.
 */
void mstore_getpg(struct master *m, struct mconn *c, uint32_t id,
		  uint64_t off, uint64_t count)
{
	size_t hdr = 2 * (size_t)DSM_LEN_BYTES;
	size_t maxcount = (DSM_MAX_PAYLOAD - hdr) / m->page_size;
	size_t first, bytes;
	uint8_t head[2 * sizeof(CONFIG_LEN)];

	if (off % m->page_size != 0 || count == 0 || off >= m->size ||
	    count > (m->size - off) / m->page_size || count > maxcount) {
		char why[160];

		snprintf(why, sizeof(why),
			 "GETPG offset %llu count %llu: not page-aligned, "
			 "outside the segment or above %zu pages",
			 (unsigned long long)off, (unsigned long long)count,
			 maxcount);
		mio_send_error(m, c, id, -DSM_ERANGE, why);
		return;
	}
	bytes = (size_t)count * m->page_size;
	put_len(head, (CONFIG_LEN)off);
	put_len(head + DSM_LEN_BYTES, (CONFIG_LEN)count);
	mio_send_bulk(m, c, K_PAGES, id, head, hdr, m->store + off, bytes);
	first = (size_t)(off / m->page_size);
	for (size_t i = 0; i < count; i++) {
		bit_set(c->copyset, first + i);
		bit_clear(c->lost, first + i);
	}
	mstats_sent(m, c, first, (size_t)count);
}

/*
 * Node c says it no longer holds a copy of any page of [off, off+len)
 * (UNLOR/UNLOW with DSM_UNLO_DROPPED): those it had leave its copyset as if
 * invalidated, and are pushed with its next grant like them (mstore_push).
 * A range outside the segment is ignored here: the release reports it.
 */
void mstore_dropped(struct master *m, struct mconn *c, uint64_t off,
		    uint64_t len)
{
	size_t first, last;

	if (mstore_range(m, off, len, &first, &last) < 0)
		return;
	for (size_t p = first; p <= last; p++) {
		if (!bit_test(c->copyset, p))
			continue;
		bit_clear(c->copyset, p);
		bit_set(c->lost, p);
	}
}

/* Pages pushed with one grant, at most: a push saves a miss right after
 * the lock, it is not a way to copy large ranges. */
#define PUSH_MAX_PAGES 32

/*
 * Node c was just granted a lock on pages [first, last] (request id): send
 * it, ahead of the OKLOC, the pages of the range it lost to an invalidation
 * since it last had them, which it will most likely touch again at once.
 * The node installs them unless it has written to them meanwhile (see
 * preload/coherence.c); they are in its copyset like fetched pages.
 */
void mstore_push(struct master *m, struct mconn *c, uint32_t id,
		 size_t first, size_t last)
{
	size_t hdr = 2 * (size_t)DSM_LEN_BYTES, budget = PUSH_MAX_PAGES;

	for (size_t p = first; p <= last && budget > 0;) {
		size_t n = 0;
		uint8_t head[2 * sizeof(CONFIG_LEN)];

		while (p + n <= last && n < budget && bit_test(c->lost, p + n) &&
		       !bit_test(c->copyset, p + n))
			n++;
		if (n == 0) {
			p++;
			continue;
		}
		put_len(head, (CONFIG_LEN)(p * m->page_size));
		put_len(head + DSM_LEN_BYTES, (CONFIG_LEN)n);
		mio_send_bulk(m, c, K_PAGES, id, head, hdr,
			      m->store + p * m->page_size, n * m->page_size);
		for (size_t i = 0; i < n; i++) {
			bit_set(c->copyset, p + i);
			bit_clear(c->lost, p + i);
		}
		mstats_sent(m, c, p, n);
		budget -= n;
		p += n;
	}
}

/*
 * Add a page to the set touched by the release being closed (deduplicated
 * through m->mark; the set never exceeds npages entries, which the mapping
 * behind m->touched holds).
 */
void mstore_touch(struct master *m, size_t page)
{
	if (bit_test(m->mark, page))
		return;
	bit_set(m->mark, page);
	m->touched[m->ntouched++] = page;
}

/* Empty the touched set again (clears only the marks that were set). */
void mstore_touched_reset(struct master *m)
{
	for (size_t i = 0; i < m->ntouched; i++)
		bit_clear(m->mark, m->touched[i]);
	m->ntouched = 0;
}

/*
 * Remember that c flushed `page` (its diff is in the home copy, its other
 * copies are invalidated at c's next release).  -1 (ENOMEM) if the set cannot
 * grow; the caller then drops the connection.
 */
int mstore_flushed_add(struct master *m, struct mconn *c, size_t page)
{
	if (!c->flushed_bits) {
		c->flushed_bits = calloc(bitmap_words(m->npages),
					 sizeof(uint64_t));
		if (!c->flushed_bits)
			return -1;
	}
	if (bit_test(c->flushed_bits, page))
		return 0;
	if (c->nflushed == c->flushed_cap) {
		size_t ncap = c->flushed_cap ? c->flushed_cap * 2 : 64;
		size_t *n;

		if (ncap > m->npages)
			ncap = m->npages;
		n = realloc(c->flushed, ncap * sizeof(*n));
		if (!n)
			return -1;
		c->flushed = n;
		c->flushed_cap = ncap;
	}
	bit_set(c->flushed_bits, page);
	c->flushed[c->nflushed++] = page;
	return 0;
}

/* Move c's flushed pages into the touched set of the release being closed. */
void mstore_flushed_take(struct master *m, struct mconn *c)
{
	for (size_t i = 0; i < c->nflushed; i++) {
		mstore_touch(m, c->flushed[i]);
		bit_clear(c->flushed_bits, c->flushed[i]);
	}
	c->nflushed = 0;
}
