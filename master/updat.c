/*
 * updat.c - UPDAT payloads buffered until the frame that closes their id.
 *
 * A release (closed by UNLOR/UNLOW/PUSH?/DECO?) or a flush (closed by OKINV)
 * arrives as any number of UPDAT frames with its id.  Each payload is checked
 * with dsm_diff_check when it arrives, so that applying the whole id later
 * cannot fail half way: that is what makes a release atomic.  Per
 * participant the buffered bytes (payloads plus bookkeeping) are capped at
 * m->upd_cap.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "dsm_diff.h"
#include "master_int.h"

static size_t chunk_cost(size_t len)
{
	return sizeof(struct mupd_chunk) + len;
}

/*
 * Check and buffer one UPDAT payload of id `id`.  Returns 0; -1 with *why set
 * and errno EPROTO for bad diff records; -1 with errno ENOBUFS when the cap
 * would be exceeded; -1 with errno ENOMEM.  Nothing is buffered on failure.
 */
int mupd_add(struct master *m, struct mpart *p, uint32_t id,
	     const uint8_t *data, size_t len, const char **why)
{
	struct mupd *u;
	struct mupd_chunk *ch;
	size_t cost = chunk_cost(len);

	if (dsm_diff_check(data, len, m->size, m->page_size, why) < 0) {
		errno = EPROTO;
		return -1;
	}
	for (u = p->upd; u; u = u->next)
		if (u->id == id)
			break;
	if (!u)
		cost += sizeof(*u);
	if (p->upd_bytes > m->upd_cap || cost > m->upd_cap - p->upd_bytes) {
		*why = "buffered release data above the cap";
		errno = ENOBUFS;
		return -1;
	}
	ch = malloc(sizeof(*ch) + len);
	if (!ch) {
		*why = "out of memory";
		errno = ENOMEM;
		return -1;
	}
	if (!u) {
		u = malloc(sizeof(*u));
		if (!u) {
			free(ch);
			*why = "out of memory";
			errno = ENOMEM;
			return -1;
		}
		u->id = id;
		u->head = u->tail = NULL;
		u->next = p->upd;
		p->upd = u;
	}
	ch->next = NULL;
	ch->len = len;
	memcpy(ch->data, data, len);
	if (u->tail)
		u->tail->next = ch;
	else
		u->head = ch;
	u->tail = ch;
	p->upd_bytes += cost;
	return 0;
}

/*
 * Unlink and return the buffered diffs of id (NULL if none).  The caller
 * applies them and gives them back to mupd_free.
 */
struct mupd *mupd_take(struct mpart *p, uint32_t id)
{
	for (struct mupd **pp = &p->upd; *pp; pp = &(*pp)->next) {
		struct mupd *u = *pp;

		if (u->id == id) {
			*pp = u->next;
			u->next = NULL;
			return u;
		}
	}
	return NULL;
}

/* Apply every chunk of u to the home copy, in arrival order. */
void mupd_apply(struct master *m, const struct mupd *u,
		void (*on_page)(void *ctx, size_t page), void *ctx)
{
	for (const struct mupd_chunk *ch = u->head; ch; ch = ch->next)
		dsm_diff_apply(m->store, ch->data, ch->len, m->page_size,
			       on_page, ctx);
}

/* Free u (taken from p) and give its bytes back to p's cap. */
void mupd_free(struct mpart *p, struct mupd *u)
{
	size_t cost = sizeof(*u);

	while (u->head) {
		struct mupd_chunk *ch = u->head;

		u->head = ch->next;
		cost += chunk_cost(ch->len);
		free(ch);
	}
	p->upd_bytes -= cost < p->upd_bytes ? cost : p->upd_bytes;
	free(u);
}

/* Discard every unclosed id of p (the node died or broke the protocol). */
void mupd_discard_all(struct mpart *p)
{
	while (p->upd) {
		struct mupd *u = p->upd;

		p->upd = u->next;
		mupd_free(p, u);
	}
	p->upd_bytes = 0;
}
