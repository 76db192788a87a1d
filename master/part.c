/*
 * part.c - what node connections and the local participant share: how a
 * grant or a finished release reaches its owner, and tearing a participant
 * down.
 */
#include <string.h>

#include "master_int.h"

void mpart_init(struct mpart *p, struct mconn *c)
{
	memset(p, 0, sizeof(*p));
	p->conn = c;
	p->alive = 1;
}

/* Lock request r has every page: OKLOC to a node (after the pages it will
 * want back, mstore_push), wake a local caller. */
void mpart_granted(struct master *m, struct mlock_req *r)
{
	if (r->owner->conn) {
		mstore_push(m, r->owner->conn, r->id, r->first, r->last);
		mio_send(m, r->owner->conn, K_OKLOC, r->id, NULL, 0);
	} else if (r->lreq) {
		mlocal_done(m, r->lreq, DSM_OK);
	}
}

static const char *reply_text(int code)
{
	switch (code) {
	case DSM_ENOTLOCKED:
		return "unlock of a range not held in that mode on every page";
	case DSM_ERANGE:
		return "range empty or outside the segment";
	case DSM_ENOMEM:
		return "out of memory on the master";
	default:
		return "request failed";
	}
}

/*
 * Answer request `id` of p: frame `kind` when code is 0, else ERROR with
 * -code; a local caller gets the code itself.
 */
void mpart_reply(struct master *m, struct mpart *p, enum dsm_kind kind,
		 uint32_t id, int code, struct mlocal_req *lreq)
{
	if (!p->conn) {
		if (lreq)
			mlocal_done(m, lreq, code);
		return;
	}
	if (code)
		mio_send_error(m, p->conn, id, -code, reply_text(code));
	else
		mio_send(m, p->conn, kind, id, NULL, 0);
}

/*
 * Tear p down (connection closed or lost, or the master stopping): unclosed
 * UPDATs are discarded (a half-sent release is never applied), lock requests
 * cancelled, holds freed and waiters granted, object requests dropped and
 * holds freed (barriers broken, see mobj_part_cleanup), closed releases left
 * to complete silently.  A connection's outstanding INVALs are handled by
 * mrel_conn_cleanup.
 */
void mpart_cleanup(struct master *m, struct mpart *p)
{
	if (!p->alive)
		return;
	p->alive = 0;
	mupd_discard_all(p);
	mlock_part_cleanup(m, p);
	mobj_part_cleanup(m, p);
	mrel_part_cleanup(m, p);
}
