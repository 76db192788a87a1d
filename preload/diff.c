/*
 * diff.c - encode a dirty page against its twin as byte-exact runs.
 *
 * The format is in include/dsm_diff.h.  Equal stretches are skipped a word at
 * a time; run boundaries are then found byte by byte, because a run must not
 * include a single unchanged byte (see the false-sharing note there).
 */
#include <errno.h>
#include <string.h>

#include "dsm_diff.h"

static inline uint64_t load64(const uint8_t *p)
{
	uint64_t v;

	memcpy(&v, p, sizeof(v));
	return v;
}

ssize_t dsm_diff_encode(uint8_t *out, size_t cap, CONFIG_LEN page_off,
			const uint8_t *cur, const uint8_t *twin,
			size_t page_size)
{
	size_t w = DSM_DIFF_REC_HDR, i = 0;
	uint32_t nruns = 0;

	if (cap < DSM_DIFF_REC_HDR)
		goto nobufs;
	while (i < page_size) {
		while (i + 8 <= page_size && load64(cur + i) == load64(twin + i))
			i += 8;
		while (i < page_size && cur[i] == twin[i])
			i++;
		if (i >= page_size)
			break;
		size_t start = i;
		while (i < page_size && cur[i] != twin[i] && i - start < 0xFFFF)
			i++;
		size_t n = i - start;
		if (cap - w < DSM_DIFF_RUN_HDR + n)
			goto nobufs;
		put_u16(out + w, (uint16_t)start);
		put_u16(out + w + 2, (uint16_t)n);
		memcpy(out + w + DSM_DIFF_RUN_HDR, cur + start, n);
		w += DSM_DIFF_RUN_HDR + n;
		nruns++;
	}
	if (nruns == 0)
		return 0;
	put_len(out, page_off);
	put_u32(out + DSM_LEN_BYTES, nruns);
	return (ssize_t)w;
nobufs:
	errno = ENOBUFS;
	return -1;
}
