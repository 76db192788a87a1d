/*
 * diff_apply.c - validate and apply the diff records of UPDAT frames.
 *
 * The master checks a whole UPDAT payload when it arrives and only buffers it
 * if every record is sound, so that applying a release later cannot fail half
 * way (releases are atomic) and nothing is ever written outside the segment.
 */
#include <string.h>

#include "dsm_diff.h"

long dsm_diff_check(const uint8_t *p, size_t len, size_t seg_size,
		    size_t page_size, const char **why)
{
	struct dsm_rd r;
	long nrec = 0;

	dsm_rd_init(&r, p, len);
	while (r.pos < r.len) {
		CONFIG_LEN off = dsm_rd_len(&r);
		uint32_t nruns = dsm_rd_u32(&r);
		size_t end = 0;

		if (r.bad) {
			*why = "truncated diff record header";
			return -1;
		}
		if (off % page_size != 0 || off >= seg_size) {
			*why = "diff page offset not page-aligned or outside the segment";
			return -1;
		}
		if (nruns == 0 || nruns > page_size) {
			*why = "diff record run count out of range";
			return -1;
		}
		for (uint32_t k = 0; k < nruns; k++) {
			const uint8_t *h = dsm_rd_take(&r, DSM_DIFF_RUN_HDR);
			size_t o, n;

			if (!h) {
				*why = "truncated diff run header";
				return -1;
			}
			o = get_u16(h);
			n = get_u16(h + 2);
			if (n == 0) {
				*why = "empty diff run";
				return -1;
			}
			if (o < end) {
				*why = "diff runs overlap or are not ascending";
				return -1;
			}
			if (o + n > page_size) {
				*why = "diff run goes past the end of the page";
				return -1;
			}
			if (!dsm_rd_take(&r, n)) {
				*why = "truncated diff run data";
				return -1;
			}
			end = o + n;
		}
		nrec++;
	}
	return nrec;
}

void dsm_diff_apply(uint8_t *base, const uint8_t *p, size_t len,
		    size_t page_size,
		    void (*on_page)(void *ctx, size_t page_index), void *ctx)
{
	size_t pos = 0;

	while (pos < len) {
		CONFIG_LEN off = get_len(p + pos);
		uint32_t nruns = get_u32(p + pos + DSM_LEN_BYTES);
		uint8_t *page = base + off;

		pos += DSM_DIFF_REC_HDR;
		for (uint32_t k = 0; k < nruns; k++) {
			size_t o = get_u16(p + pos), n = get_u16(p + pos + 2);

			memcpy(page + o, p + pos + DSM_DIFF_RUN_HDR, n);
			pos += DSM_DIFF_RUN_HDR + n;
		}
		if (on_page)
			on_page(ctx, (size_t)off / page_size);
	}
}
