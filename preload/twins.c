/*
 * twins.c - memory for twins (the copy of a page taken at its first write).
 *
 * Taking a twin is on the write-fault path, so its memory must not fault
 * itself: on a VM every first touch of fresh anonymous memory is a page
 * fault (and zeroing).  Twins come from chunks mapped with MAP_POPULATE
 * (the kernel fills them in one go) and go back to a free list when the
 * page is released, so the steady state allocates nothing.  Chunks live as
 * long as the segment.  All under state_lock.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "dsm_log.h"
#include "node.h"

/* Pages per chunk: 1 MiB of 4 KiB pages. */
#define TWIN_CHUNK_PAGES 256

struct twin_chunk {
	struct twin_chunk *next;
	void *mem;
};

static int twin_grow(struct segment *s)
{
	size_t len = TWIN_CHUNK_PAGES * s->page_size;
	struct twin_chunk *c = malloc(sizeof(*c));
	uint8_t *mem;

	if (!c)
		return -1;
	mem = mmap(NULL, len, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
	if (mem == MAP_FAILED) {
		free(c);
		return -1;
	}
	c->mem = mem;
	c->next = s->twin_chunks;
	s->twin_chunks = c;
	for (size_t i = 0; i < TWIN_CHUNK_PAGES; i++) {
		void **t = (void **)(mem + i * s->page_size);

		*t = s->twin_free;
		s->twin_free = t;
	}
	return 0;
}

/* A page-sized twin buffer, or NULL when out of memory. */
uint8_t *twin_alloc(struct segment *s)
{
	void **t;

	if (!s->twin_free && twin_grow(s) < 0)
		return NULL;
	t = s->twin_free;
	s->twin_free = *t;
	return (uint8_t *)t;
}

void twin_free(struct segment *s, uint8_t *t)
{
	if (!t)
		return;
	*(void **)t = s->twin_free;
	s->twin_free = t;
}

/* Unmap every chunk (segment freed). */
void twin_pool_free(struct segment *s)
{
	while (s->twin_chunks) {
		struct twin_chunk *c = s->twin_chunks;

		s->twin_chunks = c->next;
		munmap(c->mem, TWIN_CHUNK_PAGES * s->page_size);
		free(c);
	}
	s->twin_free = NULL;
}
