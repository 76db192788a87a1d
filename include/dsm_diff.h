/*
 * dsm_diff.h - the diff records carried by UPDAT frames.
 *
 * A node that wrote to a page keeps a twin (the page as it was before the
 * first write).  At a release it sends, per dirty page, the runs of bytes that
 * differ from the twin, exactly: never an unchanged byte, because another node
 * may have changed that byte of the same page (false sharing) and the master
 * must not overwrite it with this node's stale copy.  The node encodes
 * (preload/diff.c); the master validates and applies (master/diff_apply.c).
 *
 * Record: L page offset, u32 nruns, nruns x { u16 offset, u16 length, bytes }.
 * Runs longer than 65535 bytes are split, so pages up to 64 KiB work.
 */
#ifndef DSM_DIFF_H
#define DSM_DIFF_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "dsm_wire.h"

/* Header bytes of one record, and the per-run overhead. */
#define DSM_DIFF_REC_HDR (DSM_LEN_BYTES + 4u)
#define DSM_DIFF_RUN_HDR 4u
/* Worst case size of one record: every other byte changed. */
#define DSM_DIFF_MAX(page_size) \
	(DSM_DIFF_REC_HDR + ((page_size) / 2 + 1) * (DSM_DIFF_RUN_HDR + 1))

/*
 * Append the record for page `cur` (at segment offset `page_off`) against
 * `twin` to out[0..cap).  Returns the bytes written, 0 if the page equals its
 * twin (nothing written), or -1 with errno = ENOBUFS if cap is too small
 * (cap >= DSM_DIFF_MAX(page_size) always suffices).
 */
ssize_t dsm_diff_encode(uint8_t *out, size_t cap, CONFIG_LEN page_off,
			const uint8_t *cur, const uint8_t *twin,
			size_t page_size);

/*
 * Check that p[0..len) is a sequence of well-formed records for a segment of
 * `seg_size` bytes with `page_size` pages: offsets page-aligned and inside the
 * segment, runs non-empty, ascending, non-overlapping and inside the page, the
 * buffer consumed exactly.  Returns the number of records, or -1 with a static
 * reason in *why.
 */
long dsm_diff_check(const uint8_t *p, size_t len, size_t seg_size,
		    size_t page_size, const char **why);

/*
 * Apply records already accepted by dsm_diff_check to the segment at `base`.
 * For each record, calls on_page(ctx, page_index) if on_page is not NULL.
 */
void dsm_diff_apply(uint8_t *base, const uint8_t *p, size_t len,
		    size_t page_size,
		    void (*on_page)(void *ctx, size_t page_index), void *ctx);

#endif
