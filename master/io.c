/*
 * io.c - a connection's bytes: reading and framing input, queueing and
 * writing output.  Sockets are non-blocking; nothing here ever waits.
 *
 * Input: rbuf starts at DSM_BUFFER bytes and grows, only when a frame whose
 * header was already checked needs it, up to DSM_HDR_LEN + DSM_MAX_PAYLOAD.
 * Output: frames are appended to wbuf (growable, capped at m->out_cap bytes
 * pending) and written as soon as the loop gets to it; epoll watches
 * EPOLLOUT only while something is pending.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>

#include "dsm_log.h"
#include "master_int.h"

#define OUT_MIN_CAP 65536u
#define OUT_KEEP_CAP (4u << 20)

static size_t in_initial_cap(void)
{
	return DSM_BUFFER > DSM_HDR_LEN ? DSM_BUFFER : DSM_HDR_LEN;
}

/*
 * Make room for `need` bytes from rpos on: move the unparsed bytes to the
 * front, grow if still too small.  -1 (ENOMEM) if growing fails.
 */
static int in_reserve(struct mconn *c, size_t need)
{
	if (c->rpos > 0 && c->rcap - c->rpos < need) {
		memmove(c->rbuf, c->rbuf + c->rpos, c->rlen - c->rpos);
		c->rlen -= c->rpos;
		c->rpos = 0;
	}
	if (c->rcap < need || !c->rbuf) {
		size_t ncap = need > in_initial_cap() ? need : in_initial_cap();
		uint8_t *n = realloc(c->rbuf, ncap);

		if (!n)
			return -1;
		c->rbuf = n;
		c->rcap = ncap;
	}
	return 0;
}

/* epoll interest: input until EOF, output while some is pending. */
void mio_update_events(struct master *m, struct mconn *c)
{
	uint32_t ev = 0;
	struct epoll_event e;

	if (c->state == MC_DEAD || c->fd < 0)
		return;
	if (!c->eof)
		ev |= EPOLLIN;
	if (c->wpos < c->wlen)
		ev |= EPOLLOUT;
	if (ev == c->ep_events)
		return;
	memset(&e, 0, sizeof(e));
	e.events = ev;
	e.data.ptr = &c->w;
	if (epoll_ctl(m->epfd, EPOLL_CTL_MOD, c->fd, &e) < 0) {
		mconn_doom(m, c, "epoll_ctl(MOD): %s", strerror(errno));
		return;
	}
	c->ep_events = ev;
}

static void in_eof(struct master *m, struct mconn *c, const char *why)
{
	c->eof = 1;
	snprintf(c->eof_why, sizeof(c->eof_why), "%s", why);
	mio_update_events(m, c);
}

/*
 * One recv into the free end of rbuf (level-triggered epoll calls again if
 * more is waiting).  EOF or an error is recorded, not acted upon: frames
 * already received are still handled first (mio_process).
 */
void mio_read(struct master *m, struct mconn *c)
{
	ssize_t n;

	if (c->eof)
		return;
	if (!c->rbuf && in_reserve(c, in_initial_cap()) < 0) {
		mconn_doom(m, c, "out of memory for its input buffer");
		return;
	}
	if (c->rpos == c->rlen) {
		c->rpos = 0;
		c->rlen = 0;
	} else if (c->rlen == c->rcap && c->rpos > 0) {
		memmove(c->rbuf, c->rbuf + c->rpos, c->rlen - c->rpos);
		c->rlen -= c->rpos;
		c->rpos = 0;
	}
	if (c->rlen == c->rcap)
		return;		/* full of frames waiting for their turn */
	n = recv(c->fd, c->rbuf + c->rlen, c->rcap - c->rlen, 0);
	if (n > 0) {
		c->rlen += (size_t)n;
		c->last_rx_ms = mmaster_now_ms();	/* alive: beat.c */
	} else if (n == 0) {
		in_eof(m, c, "connection closed by the peer");
	} else if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
		char why[96];

		snprintf(why, sizeof(why), "recv: %s", strerror(errno));
		in_eof(m, c, why);
	}
}

/*
 * A CLOSING connection: its input is no longer trusted or wanted, but is
 * read and discarded until EOF so that closing does not reset the
 * connection before the peer has read our last frames (ERROR, DECO!).
 */
void mio_drain(struct master *m, struct mconn *c)
{
	uint8_t sink[4096];

	for (int i = 0; i < 16; i++) {
		ssize_t n = recv(c->fd, sink, sizeof(sink), 0);

		if (n > 0)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return;
		if (n < 0 && errno == EINTR)
			continue;
		mconn_set_state(m, c, MC_DEAD);
		return;
	}
}

static int frame_complete(const struct mconn *c)
{
	size_t avail = c->rlen - c->rpos;

	return avail >= DSM_HDR_LEN &&
	       avail - DSM_HDR_LEN >= get_u32(c->rbuf + c->rpos + 9);
}

static int conn_active(const struct mconn *c)
{
	return (c->state == MC_AWAIT_JOIN || c->state == MC_JOINED) &&
	       !c->doomed;
}

/*
 * Handle up to MASTER_FRAMES_PER_WAKE complete frames of c.  Each header is
 * checked (kind, length, allowed in this state) before its payload is waited
 * for or room is made for it.  Deferred work is settled after every frame,
 * so replies leave in a natural order.  Sets m->busy if complete frames are
 * left for the next pass; ends the connection once input hit EOF and no
 * complete frame remains.
 */
void mio_process(struct master *m, struct mconn *c)
{
	for (int n = 0; n < MASTER_FRAMES_PER_WAKE && conn_active(c); n++) {
		size_t avail = c->rlen - c->rpos;
		const uint8_t *h = c->rbuf + c->rpos;
		char why[160];
		uint32_t len;

		if (avail < DSM_HDR_LEN)
			break;
		if (mdisp_check_header(c, h, why, sizeof(why)) < 0) {
			mconn_fail(m, c, DSM_EPROTO, "%s", why);
			break;
		}
		len = get_u32(h + 9);
		if (avail - DSM_HDR_LEN < len) {
			if (in_reserve(c, DSM_HDR_LEN + (size_t)len) < 0)
				mconn_fail(m, c, DSM_ENOMEM,
					   "out of memory for a %u-byte frame",
					   len);
			break;
		}
		c->rpos += DSM_HDR_LEN + (size_t)len;
		mdisp_frame(m, c, dsm_kind_parse(h), get_u32(h + 5),
			    h + DSM_HDR_LEN, len);
		mmaster_settle(m);
	}
	if (!conn_active(c))
		return;
	if (c->rpos == c->rlen) {
		c->rpos = 0;
		c->rlen = 0;
	}
	if (frame_complete(c)) {
		m->busy = 1;
	} else if (c->eof) {
		if (c->rlen > c->rpos)
			strncat(c->eof_why, " in the middle of a frame",
				sizeof(c->eof_why) - strlen(c->eof_why) - 1);
		mconn_lost(m, c, c->eof_why);
	}
}

/*
 * Write what is pending, until the socket would block.  A send error dooms
 * the connection.  A CLOSING connection whose output is all out gets
 * shutdown(SHUT_WR), so the peer sees EOF right after our last frame, or is
 * closed at once if its input already ended.
 */
void mio_flush(struct master *m, struct mconn *c)
{
	if (c->state == MC_DEAD || c->doomed)
		return;
	while (c->wpos < c->wlen) {
		ssize_t n = send(c->fd, c->wbuf + c->wpos, c->wlen - c->wpos,
				 MSG_NOSIGNAL | MSG_DONTWAIT);

		if (n > 0) {
			c->wpos += (size_t)n;
		} else if (n < 0 && errno == EINTR) {
			continue;
		} else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			break;
		} else {
			mconn_doom(m, c, "send: %s",
				   n < 0 ? strerror(errno) : "no progress");
			return;
		}
	}
	if (c->wpos == c->wlen) {
		c->wpos = 0;
		c->wlen = 0;
		if (c->wcap > OUT_KEEP_CAP) {
			free(c->wbuf);
			c->wbuf = NULL;
			c->wcap = 0;
		}
		if (c->state == MC_CLOSING && c->eof) {
			mconn_set_state(m, c, MC_DEAD);
			return;
		}
		if (c->state == MC_CLOSING && !c->shut_wr) {
			shutdown(c->fd, SHUT_WR);
			c->shut_wr = 1;
		}
	}
	mio_update_events(m, c);
}

/*
 * Reserve `need` bytes at the end of c's output and return them.  NULL
 * when c takes no more output: not active, doomed, or over its cap or out
 * of memory (then it is doomed).
 */
static uint8_t *out_reserve(struct master *m, struct mconn *c, size_t need)
{
	uint8_t *p;

	if (!conn_active(c))
		return NULL;
	if (c->wlen - c->wpos > m->out_cap ||
	    need > m->out_cap - (c->wlen - c->wpos)) {
		mconn_doom(m, c, "its pending output would exceed %zu bytes "
			   "(it does not read)", m->out_cap);
		return NULL;
	}
	/* Compact only when the bytes already sent are at least as many as
	 * those still pending (or the buffer is already twice the cap):
	 * moving the pending bytes each time a node that reads slowly frees
	 * a little would cost O(pending) per frame.  Otherwise grow. */
	if (c->wcap - c->wlen < need && c->wpos > 0 &&
	    (c->wpos >= c->wlen - c->wpos || c->wcap >= 2 * m->out_cap)) {
		memmove(c->wbuf, c->wbuf + c->wpos, c->wlen - c->wpos);
		c->wlen -= c->wpos;
		c->wpos = 0;
	}
	if (c->wcap - c->wlen < need) {
		size_t ncap = c->wcap ? c->wcap : OUT_MIN_CAP;
		uint8_t *n;

		while (ncap - c->wlen < need)
			ncap *= 2;
		n = realloc(c->wbuf, ncap);
		if (!n) {
			mconn_doom(m, c, "out of memory for its output");
			return NULL;
		}
		c->wbuf = n;
		c->wcap = ncap;
	}
	p = c->wbuf + c->wlen;
	c->wlen += need;
	return p;
}

/*
 * Append a frame header for `kind`/`id` with a `len`-byte payload to c's
 * output and return where the payload goes (the caller fills it before
 * anything else is queued on c).  NULL when c takes no more output (see
 * out_reserve).
 */
uint8_t *mio_frame(struct master *m, struct mconn *c, enum dsm_kind kind,
		   uint32_t id, size_t len)
{
	uint8_t *p = out_reserve(m, c, DSM_HDR_LEN + len);

	if (!p)
		return NULL;
	dsm_hdr_put(p, kind, id, (uint32_t)len);
	return p + DSM_HDR_LEN;
}

/*
 * Queue a frame whose payload is `head` (a few bytes) then `bulk` (pages of
 * the home copy).  When nothing else is waiting to go out, it is sent at
 * once with one writev straight from the home copy, and only what the
 * socket does not take is copied into the output buffer: serving pages
 * then costs no copy of our own.  (Bytes of a page that change before they
 * are sent are harmless: the release that changes them invalidates this
 * node's copy, on the same stream, after these pages.)
 */
void mio_send_bulk(struct master *m, struct mconn *c, enum dsm_kind kind,
		   uint32_t id, const void *head, size_t hlen,
		   const void *bulk, size_t blen)
{
	uint8_t hdr[DSM_HDR_LEN], *p;
	size_t total = DSM_HDR_LEN + hlen + blen, sent = 0;

	if (!conn_active(c))
		return;
	dsm_hdr_put(hdr, kind, id, (uint32_t)(hlen + blen));
	if (c->wpos == c->wlen) {
		struct iovec iov[3] = {
			{ .iov_base = hdr, .iov_len = DSM_HDR_LEN },
			{ .iov_base = (void *)head, .iov_len = hlen },
			{ .iov_base = (void *)bulk, .iov_len = blen },
		};
		struct msghdr msg = { .msg_iov = iov, .msg_iovlen = 3 };
		ssize_t n;

		do
			n = sendmsg(c->fd, &msg, MSG_NOSIGNAL | MSG_DONTWAIT);
		while (n < 0 && errno == EINTR);
		if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK) {
			mconn_doom(m, c, "send: %s", strerror(errno));
			return;
		}
		sent = n > 0 ? (size_t)n : 0;
		if (sent == total)
			return;
	}
	p = out_reserve(m, c, total - sent);
	if (!p)
		return;
	/* Copy bytes [sent, total) of hdr | head | bulk. */
	for (int part = 0; part < 3; part++) {
		const uint8_t *src = part == 0 ? hdr : part == 1 ? head : bulk;
		size_t len = part == 0 ? DSM_HDR_LEN : part == 1 ? hlen : blen;

		if (sent >= len) {
			sent -= len;
			continue;
		}
		memcpy(p, src + sent, len - sent);
		p += len - sent;
		sent = 0;
	}
	mio_update_events(m, c);
}

void mio_send(struct master *m, struct mconn *c, enum dsm_kind kind,
	      uint32_t id, const void *payload, size_t len)
{
	uint8_t *p = mio_frame(m, c, kind, id, len);

	if (p && len)
		memcpy(p, payload, len);
}

/* ERROR `id` with positive `code` and text (cut at DSM_MAX_ERRMSG bytes). */
void mio_send_error(struct master *m, struct mconn *c, uint32_t id,
		    int code, const char *text)
{
	size_t n = strlen(text);
	uint8_t *p;

	if (n > DSM_MAX_ERRMSG)
		n = DSM_MAX_ERRMSG;
	p = mio_frame(m, c, K_ERROR, id, 4 + n);
	if (!p)
		return;
	put_u32(p, (uint32_t)code);
	memcpy(p + 4, text, n);
}
