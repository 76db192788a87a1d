/*
 * dispatch.c - checking and handling the frames a node sends
 * (docs/PROTOCOL.md, "Messages" and "Validation").
 *
 * mdisp_check_header runs as soon as a header is in: unknown kind, oversized
 * frame, a kind a node may not send (or sends before JOIN?), or a payload
 * length that does not fit the kind all close the connection with ERROR
 * DSM_EPROTO before a byte of the payload is waited for.  Handlers decode
 * payloads with the bounded reader only.  Well-formed requests with bad
 * arguments get ERROR with their id and the connection stays.
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "dsm_log.h"
#include "master_int.h"

/* JOIN? without and with the node's nonce (docs/PROTOCOL.md). */
#define JOINQ_LEN 10u
#define JOINQ_NONCE_LEN (JOINQ_LEN + DSM_NONCE_LEN)

/* Printable form of 5 kind bytes that may be anything. */
static void kind_text(const uint8_t *p, char out[6])
{
	for (int i = 0; i < 5; i++)
		out[i] = isprint(p[i]) ? (char)p[i] : '?';
	out[5] = '\0';
}

/*
 * Check a frame header from c against the protocol before its payload is
 * read.  Returns 0, or -1 with the reason in why.
 */
int mdisp_check_header(const struct mconn *c, const uint8_t *hdr,
		       char *why, size_t whylen)
{
	enum dsm_kind kind = dsm_kind_parse(hdr);
	uint32_t len = get_u32(hdr + 9);
	uint32_t lb = DSM_LEN_BYTES, min, max;
	char kt[6];

	kind_text(hdr, kt);
	if (kind == K_UNKNOWN) {
		snprintf(why, whylen, "unknown frame kind '%s'", kt);
		return -1;
	}
	if (len > DSM_MAX_PAYLOAD) {
		snprintf(why, whylen, "%s frame of %u bytes, above the "
			 "%u-byte limit", kt, len, DSM_MAX_PAYLOAD);
		return -1;
	}
	switch (kind) {
	case K_JOINQ:
		min = 4;
		max = 64;
		break;
	case K_ERROR:
		min = 4;
		max = 4 + DSM_MAX_ERRMSG;
		break;
	case K_LOCKR:
	case K_LOCKW:
		min = max = 2 * lb;
		break;
	case K_UNLOR:
	case K_UNLOW:
		min = 2 * lb;
		max = 2 * lb + 1;	/* optional flags (DSM_UNLO_*) */
		break;
	case K_GETPG:
		min = max = 2 * lb + 1;
		break;
	case K_OKINV:
	case K_PUSHQ:
	case K_DECOQ:
	case K_OBJCN:
		min = max = 0;
		break;
	case K_OBJOP:
		min = max = DSM_OBJOP_LEN;
		break;
	case K_AUTHA:
		min = max = DSM_MAC_LEN;
		break;
	case K_PINGQ:
	case K_PINGA:
		min = max = 0;
		break;
	case K_STATQ:
		min = max = 4;
		break;
	case K_UPDAT:
		min = 1;
		max = DSM_MAX_PAYLOAD;
		break;
	default:
		snprintf(why, whylen, "%s is not a frame a node may send", kt);
		return -1;
	}
	if (c->state == MC_AWAIT_JOIN && c->auth_pending && kind != K_AUTHA &&
	    kind != K_ERROR) {
		snprintf(why, whylen, "%s instead of AUTH!", kt);
		return -1;
	}
	if (c->state == MC_AWAIT_JOIN && !c->auth_pending && kind != K_JOINQ) {
		snprintf(why, whylen, "%s before JOIN?", kt);
		return -1;
	}
	if (c->state == MC_JOINED && (kind == K_JOINQ || kind == K_AUTHA)) {
		snprintf(why, whylen, "%s on a joined connection", kt);
		return -1;
	}
	if (c->state == MC_JOINED && c->monitor && kind != K_STATQ &&
	    kind != K_PINGQ && kind != K_PINGA && kind != K_DECOQ &&
	    kind != K_ERROR) {
		snprintf(why, whylen, "%s is not a frame a statistics client "
			 "may send", kt);
		return -1;
	}
	if (len < min || len > max) {
		if (min == max)
			snprintf(why, whylen, "%s payload of %u bytes, expected "
				 "%u (with %u-byte lengths)", kt, len, min, lb);
		else
			snprintf(why, whylen, "%s payload of %u bytes, expected "
				 "%u to %u", kt, len, min, max);
		return -1;
	}
	return 0;
}

/* Refuse a joining node: one log line, ERROR with the same text, close. */
static void disp_refuse(struct master *m, struct mconn *c, const char *reason)
{
	char text[DSM_MAX_ERRMSG + 1];

	snprintf(text, sizeof(text), "refusing node %s: %s", c->peer, reason);
	dsm_warn("%s", text);
	mio_send_error(m, c, 0, -DSM_EPROTO, text);
	mconn_set_state(m, c, MC_CLOSING);
}

/*
 * Admit c as a statistics client (JOIN? flag DSM_JOIN_MONITOR): JOIN! with
 * node id 0, no copyset, not counted as a node anywhere (stats.c).
 */
static void disp_admit_monitor(struct master *m, struct mconn *c,
			       uint32_t id)
{
	uint8_t *p;

	snprintf(c->name, sizeof(c->name), "stat client (%s)", c->peer);
	mconn_set_state(m, c, MC_JOINED);
	p = mio_frame(m, c, K_JOINA, id, 16 + DSM_LEN_BYTES);
	if (p) {
		put_u32(p, 0);
		put_u32(p + 4, (uint32_t)m->page_size);
		put_u64(p + 8, m->base);
		put_len(p + 16, (CONFIG_LEN)m->size);
	}
	dsm_debug("%s joined%s", c->name,
		  m->secret.len ? " (authenticated)" : "");
}

/*
 * Admit c as a node: JOIN! = u32 node_id, u32 page_size, u64 base, L size,
 * answering request id.  After the JOIN? checks, and after AUTH! when the
 * master has a secret.
 */
void mdisp_admit(struct master *m, struct mconn *c, uint32_t id)
{
	uint8_t *p;

	if (c->monitor) {
		disp_admit_monitor(m, c, id);
		return;
	}
	if (mstore_copyset_alloc(m, c) < 0) {
		mconn_fail(m, c, DSM_ENOMEM, "out of memory for its copyset");
		return;
	}
	if (++m->next_node_id == 0)
		m->next_node_id = 1;
	c->node_id = m->next_node_id;
	snprintf(c->name, sizeof(c->name), "node %u (%s)", c->node_id,
		 c->peer);
	mconn_set_state(m, c, MC_JOINED);
	p = mio_frame(m, c, K_JOINA, id, 16 + DSM_LEN_BYTES);
	if (p) {
		put_u32(p, c->node_id);
		put_u32(p + 4, (uint32_t)m->page_size);
		put_u64(p + 8, m->base);
		put_len(p + 16, (CONFIG_LEN)m->size);
	}
	dsm_info("node %u joined from %s%s", c->node_id, c->peer,
		 m->secret.len ? " (authenticated)" : "");
}

/*
 * JOIN?: u32 version, u8 config_len, u8 flags, u32 page_size, and
 * optionally the node's nonce.  The version is read first so that a future,
 * longer JOIN? is still refused by version.  Flag DSM_JOIN_MONITOR makes c
 * a statistics client (stats.c).  Accepted: mdisp_admit, or with a secret
 * the AUTH? challenge first (auth.c).
 */
static void disp_join(struct master *m, struct mconn *c, uint32_t id,
		      struct dsm_rd *r)
{
	uint32_t version = dsm_rd_u32(r), page_size;
	unsigned clen, flags;
	char reason[256];
	const uint8_t *nonce = NULL;

	if (version != DSM_PROTO_VERSION) {
		snprintf(reason, sizeof(reason), "it speaks protocol version "
			 "%u, this master version %u", version,
			 DSM_PROTO_VERSION);
		disp_refuse(m, c, reason);
		return;
	}
	if (r->len != JOINQ_LEN && r->len != JOINQ_NONCE_LEN) {
		mconn_fail(m, c, DSM_EPROTO, "JOIN? payload of %zu bytes, "
			   "expected %u or %u", r->len, JOINQ_LEN,
			   JOINQ_NONCE_LEN);
		return;
	}
	clen = dsm_rd_u8(r);
	flags = dsm_rd_u8(r);
	page_size = dsm_rd_u32(r);
	if (clen != DSM_LEN_BYTES) {
		if (clen == 4 || clen == 8)
			snprintf(reason, sizeof(reason), "it was built with "
				 "ARCHI=%u (%u-byte lengths), this master with "
				 "ARCHI=%u (%u-byte lengths)", clen * 8, clen,
				 DSM_LEN_BYTES * 8, DSM_LEN_BYTES);
		else
			snprintf(reason, sizeof(reason), "it uses %u-byte "
				 "lengths, this master %u-byte lengths "
				 "(ARCHI=%u)", clen, DSM_LEN_BYTES,
				 DSM_LEN_BYTES * 8);
		disp_refuse(m, c, reason);
		return;
	}
	if (flags & ~DSM_JOIN_MONITOR) {
		snprintf(reason, sizeof(reason), "unknown JOIN? flags 0x%02x "
			 "(a newer build?)", flags);
		disp_refuse(m, c, reason);
		return;
	}
	c->monitor = (flags & DSM_JOIN_MONITOR) != 0;
	/* A statistics client maps no page: its own page size is no matter. */
	if (page_size != m->page_size && !c->monitor) {
		snprintf(reason, sizeof(reason), "its page size is %u bytes, "
			 "this master's is %zu bytes", page_size, m->page_size);
		disp_refuse(m, c, reason);
		return;
	}
	if (r->len == JOINQ_NONCE_LEN)
		nonce = dsm_rd_take(r, DSM_NONCE_LEN);
	if (m->secret.len)
		mauth_challenge(m, c, id, nonce);
	else
		mdisp_admit(m, c, id);
}

/* ERROR from a node: it gave up on us; log its text and close. */
static void disp_error(struct master *m, struct mconn *c, uint32_t id,
		       struct dsm_rd *r)
{
	uint32_t code = dsm_rd_u32(r);
	size_t n = r->len - r->pos;
	const uint8_t *t = dsm_rd_take(r, n);
	char text[DSM_MAX_ERRMSG + 1];

	for (size_t i = 0; i < n; i++)
		text[i] = isprint(t[i]) ? (char)t[i] : '?';
	text[n] = '\0';
	dsm_warn("%s reported error %u (request %u): %s; closing the "
		 "connection", c->name, code, id, text);
	mconn_set_state(m, c, MC_CLOSING);
}

/* LOCKR/LOCKW: L offset, L length. */
static void disp_lock(struct master *m, struct mconn *c, enum dsm_kind kind,
		      uint32_t id, struct dsm_rd *r)
{
	uint64_t off = dsm_rd_len(r), len = dsm_rd_len(r);
	size_t first, last;
	char why[160];

	if (mstore_range(m, off, len, &first, &last) < 0) {
		snprintf(why, sizeof(why), "%s of [%llu, +%llu): empty or "
			 "outside the %zu-byte segment", dsm_kind_name(kind),
			 (unsigned long long)off, (unsigned long long)len,
			 m->size);
		mio_send_error(m, c, id, -DSM_ERANGE, why);
		return;
	}
	if (mlock_request(m, &c->part, id, first, last, kind == K_LOCKW,
			  NULL) < 0)
		mio_send_error(m, c, id, -DSM_ENOMEM,
			       "out of memory on the master for this lock");
}

/* UNLOR/UNLOW/PUSH?/DECO?: close release id. */
static void disp_close(struct master *m, struct mconn *c, enum mrel_kind kind,
		       uint32_t id, uint64_t off, uint64_t len)
{
	if (mrel_close(m, &c->part, kind, id, off, len, NULL) < 0)
		mconn_fail(m, c, DSM_ENOMEM, "out of memory for release %u",
			   id);
}

/*
 * UNLOR/UNLOW: L offset, L length [, u8 flags].  Unknown flags cannot be
 * trusted: ERROR DSM_EPROTO and close (nothing of the release is applied).
 * DSM_UNLO_DROPPED: the node has dropped its copies of the range's pages,
 * so they leave its copyset now (stream order: any fetch of them it makes
 * later comes after this frame).
 */
static void disp_unlock(struct master *m, struct mconn *c,
			enum dsm_kind kind, uint32_t id, struct dsm_rd *r)
{
	uint64_t off = dsm_rd_len(r), len = dsm_rd_len(r);
	unsigned flags = r->pos < r->len ? dsm_rd_u8(r) : 0;

	if (flags & ~DSM_UNLO_DROPPED) {
		mconn_fail(m, c, DSM_EPROTO, "%s %u with unknown flags 0x%02x",
			   dsm_kind_name(kind), id, flags);
		return;
	}
	if (flags & DSM_UNLO_DROPPED)
		mstore_dropped(m, c, off, len);
	disp_close(m, c, kind == K_UNLOW ? MREL_UNLOW : MREL_UNLOR, id, off,
		   len);
}

/* UPDAT: diff records of release or flush id, checked, then buffered. */
static void disp_updat(struct master *m, struct mconn *c, uint32_t id,
		       const uint8_t *p, size_t len)
{
	const char *why = "?";

	if (mupd_add(m, &c->part, id, p, len, &why) == 0) {
		c->st.diff_bytes += len;
		return;
	}
	if (errno == EPROTO)
		mconn_fail(m, c, DSM_EPROTO, "bad UPDAT %u: %s", id, why);
	else if (errno == ENOBUFS)
		mconn_fail(m, c, DSM_ENOMEM, "UPDAT %u: %s of %zu bytes", id,
			   why, m->upd_cap);
	else
		mconn_fail(m, c, DSM_ENOMEM, "UPDAT %u: %s", id, why);
}

/*
 * OBJOP: u8 op, u8 arg8, u16 0, L offset, L arg (the length was checked
 * with the header).  An unknown op cannot be trusted: ERROR DSM_EPROTO and
 * close.  A release-type op closes release id and is performed when the
 * release finishes; the others at once.  An offset outside the segment is
 * answered ERROR DSM_ERANGE with the id (for a release, once the release
 * is complete: its data is never dropped because the op was wrong).
 */
static void disp_objop(struct master *m, struct mconn *c, uint32_t id,
		       struct dsm_rd *r)
{
	struct mobj_args a;

	a.op = dsm_rd_u8(r);
	a.arg8 = dsm_rd_u8(r);
	(void)dsm_rd_take(r, 2);	/* reserved */
	a.off = dsm_rd_len(r);
	a.arg = dsm_rd_len(r);
	if (a.op == 0 || a.op >= OP_NOPS) {
		mconn_fail(m, c, DSM_EPROTO, "OBJOP %u with unknown operation "
			   "%u", id, a.op);
		return;
	}
	if (dsm_objop_is_release(a.op))
		mobj_close(m, c, id, &a);
	else
		mobj_op(m, c, id, &a);
}

/*
 * Handle one complete frame from c whose header mdisp_check_header
 * accepted.  p[0..len) stays valid for the duration of the call.
 */
void mdisp_frame(struct master *m, struct mconn *c, enum dsm_kind kind,
		 uint32_t id, const uint8_t *p, size_t len)
{
	struct dsm_rd r;
	uint64_t a, b;

	dsm_rd_init(&r, p, len);
	dsm_debug("%s: %s id=%u len=%zu", c->name, dsm_kind_name(kind), id,
		  len);
	switch (kind) {
	case K_JOINQ:
		disp_join(m, c, id, &r);
		break;
	case K_ERROR:
		disp_error(m, c, id, &r);
		break;
	case K_LOCKR:
	case K_LOCKW:
		disp_lock(m, c, kind, id, &r);
		break;
	case K_UNLOR:
	case K_UNLOW:
		disp_unlock(m, c, kind, id, &r);
		break;
	case K_PUSHQ:
		disp_close(m, c, MREL_PUSH, id, 0, 0);
		break;
	case K_DECOQ:
		if (c->monitor) {
			/* Nothing to release: a statistics client leaves. */
			mio_send(m, c, K_DECOA, id, NULL, 0);
			dsm_debug("%s left", c->name);
			mconn_set_state(m, c, MC_CLOSING);
			break;
		}
		disp_close(m, c, MREL_DECO, id, 0, 0);
		break;
	case K_UPDAT:
		disp_updat(m, c, id, p, len);
		break;
	case K_OKINV:
		mrel_okinv(m, c, id);
		break;
	case K_OBJOP:
		disp_objop(m, c, id, &r);
		break;
	case K_OBJCN:
		mobj_cancel(m, c, id);
		break;
	case K_AUTHA:
		mauth_answer(m, c, p);
		break;
	case K_PINGQ:
		mio_send(m, c, K_PINGA, id, NULL, 0);
		break;
	case K_PINGA:
		break;		/* receiving it was the point (mio_read) */
	case K_STATQ:
		mstats_reply(m, c, id, dsm_rd_u32(&r));
		break;
	case K_GETPG:
		a = dsm_rd_len(&r);
		b = dsm_rd_len(&r);
		(void)dsm_rd_u8(&r);	/* flags: informational */
		mstore_getpg(m, c, id, a, b);
		break;
	default:
		mconn_fail(m, c, DSM_EPROTO, "unexpected %s",
			   dsm_kind_name(kind));
		break;
	}
}
