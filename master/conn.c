/*
 * conn.c - node connections: creation, the state machine, and the ways a
 * connection ends.
 *
 *   AWAIT_JOIN --JOIN? accepted--> JOINED --DECO! sent / protocol error--> CLOSING
 *        |                            |                                     |
 *        +---- refused: CLOSING       +---- EOF, error, kill ------------> DEAD
 *        +---- EOF, error, timeout -----------------------------------> DEAD
 *
 * Leaving AWAIT_JOIN or JOINED tears the participant down at once (locks,
 * queued requests, unfinished releases, outstanding INVALs), so everyone
 * else goes on; CLOSING only lingers to deliver the last frames.  DEAD
 * closes the socket and queues the connection, which is freed after the
 * poll pass, never inside its own handler.
 */
#include <assert.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "dsm_log.h"
#include "master_int.h"

/*
 * New connection on accepted socket fd (non-blocking, options set), in
 * AWAIT_JOIN and watched for input.  NULL on failure; the caller closes fd.
 */
struct mconn *mconn_new(struct master *m, int fd, const char *peer)
{
	struct mconn *c = calloc(1, sizeof(*c));
	struct epoll_event e;

	if (!c) {
		dsm_err("calloc for connection %s: %s", peer, strerror(errno));
		return NULL;
	}
	c->w.kind = MW_CONN;
	c->fd = fd;
	c->state = MC_AWAIT_JOIN;
	snprintf(c->peer, sizeof(c->peer), "%s", peer);
	snprintf(c->name, sizeof(c->name), "%s", peer);
	mpart_init(&c->part, c);
	c->last_rx_ms = mmaster_now_ms();
	c->deadline_ms = c->last_rx_ms + MASTER_JOIN_TIMEOUT_MS;
	memset(&e, 0, sizeof(e));
	e.events = EPOLLIN;
	e.data.ptr = &c->w;
	if (epoll_ctl(m->epfd, EPOLL_CTL_ADD, fd, &e) < 0) {
		dsm_err("epoll_ctl(ADD) for connection %s: %s", peer,
			strerror(errno));
		free(c);
		return NULL;
	}
	c->ep_events = EPOLLIN;
	c->next = m->conns;
	if (c->next)
		c->next->prev = c;
	m->conns = c;
	return c;
}

/* Free a DEAD connection (already unlinked from m->conns by the caller). */
void mconn_free(struct master *m, struct mconn *c)
{
	assert(c->state == MC_DEAD && c->fd < 0);
	assert(!c->part.holds && !c->part.reqs && !c->part.rel_head &&
	       !c->part.objrecs);
	free(c->rbuf);
	free(c->wbuf);
	free(c->copyset);
	free(c->lost);
	free(c->flushed_bits);
	free(c->flushed);
	free(c->batch);
	free(c);
}

static int transition_ok(enum mconn_state from, enum mconn_state to)
{
	switch (from) {
	case MC_AWAIT_JOIN:
		return to == MC_JOINED || to == MC_CLOSING || to == MC_DEAD;
	case MC_JOINED:
		return to == MC_CLOSING || to == MC_DEAD;
	case MC_CLOSING:
		return to == MC_DEAD;
	default:
		return 0;
	}
}

/*
 * The only place a connection changes state.  Side effects: JOINED counts
 * the node for master_wait_idle (a statistics client is no node); leaving
 * JOINED keeps its statistics (stats.c); leaving AWAIT_JOIN/JOINED tears
 * the participant down; CLOSING starts the linger timer; DEAD closes the
 * socket and queues c for freeing.
 */
void mconn_set_state(struct master *m, struct mconn *c, enum mconn_state st)
{
	enum mconn_state old = c->state;

	assert(transition_ok(old, st));
	c->state = st;
	if ((old == MC_AWAIT_JOIN || old == MC_JOINED) &&
	    (st == MC_CLOSING || st == MC_DEAD)) {
		mpart_cleanup(m, &c->part);
		mrel_conn_cleanup(m, c);
		if (c->flushed_bits)
			memset(c->flushed_bits, 0,
			       bitmap_words(m->npages) * sizeof(uint64_t));
		c->nflushed = 0;
	}
	if (old == MC_JOINED && !c->monitor) {
		mstats_node_left(m, c);
		mlocal_node_left(m);
	}
	switch (st) {
	case MC_JOINED:
		c->deadline_ms = 0;
		if (!c->monitor)
			mlocal_node_joined(m);
		break;
	case MC_CLOSING:
		c->deadline_ms = mmaster_now_ms() + MASTER_LINGER_MS;
		break;
	case MC_DEAD:
		if (epoll_ctl(m->epfd, EPOLL_CTL_DEL, c->fd, NULL) < 0)
			dsm_warn("epoll_ctl(DEL) for %s: %s", c->name,
				 strerror(errno));
		close(c->fd);
		c->fd = -1;
		c->dead_next = m->dead;
		m->dead = c;
		break;
	default:
		break;
	}
}

/*
 * The stream from c cannot be trusted any more (or c asked for something we
 * cannot do): log, send ERROR (id 0) with the reason, close after it is
 * delivered.  Call from frame handlers only.
 */
void mconn_fail(struct master *m, struct mconn *c, int code,
		const char *fmt, ...)
{
	char why[DSM_MAX_ERRMSG + 1];
	va_list ap;

	if (c->state != MC_AWAIT_JOIN && c->state != MC_JOINED)
		return;
	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	dsm_warn("%s: %s; closing the connection", c->name, why);
	mio_send_error(m, c, 0, -code, why);
	mconn_set_state(m, c, MC_CLOSING);
}

/*
 * c's socket is gone (EOF, error, keepalive failure, timeout): tear down
 * and close.  A joined node that did not say DECO? gets one warning.
 */
void mconn_lost(struct master *m, struct mconn *c, const char *why)
{
	switch (c->state) {
	case MC_JOINED:
		if (c->monitor)
			dsm_info("%s closed without DECO?: %s", c->name, why);
		else
			dsm_warn("%s lost without DECO?: %s; its locks are "
				 "released", c->name, why);
		break;
	case MC_AWAIT_JOIN:
		dsm_info("%s: %s before JOIN?", c->name, why);
		break;
	case MC_CLOSING:
		dsm_debug("%s: closed (%s)", c->name, why);
		break;
	default:
		return;
	}
	mconn_set_state(m, c, MC_DEAD);
}

/*
 * Kill c at the next safe point (mmaster_settle).  For conditions found deep
 * inside other work (output cap while granting a lock, send errors), where
 * tearing c down on the spot would pull state from under the caller.
 */
void mconn_doom(struct master *m, struct mconn *c, const char *fmt, ...)
{
	va_list ap;

	if (c->doomed || c->state == MC_DEAD)
		return;
	va_start(ap, fmt);
	vsnprintf(c->doom_why, sizeof(c->doom_why), fmt, ap);
	va_end(ap);
	c->doomed = 1;
	c->doom_next = m->doomed;
	m->doomed = c;
}

/* c's DECO? completed and DECO! is queued: it leaves in good order. */
void mconn_leave(struct master *m, struct mconn *c)
{
	dsm_info("%s left", c->name);
	mconn_set_state(m, c, MC_CLOSING);
}

/* epoll reported events on c. */
void mconn_on_event(struct master *m, struct mconn *c, uint32_t events)
{
	if (c->state == MC_DEAD)
		return;
	if (events & EPOLLOUT)
		mio_flush(m, c);
	if (!(events & (EPOLLIN | EPOLLHUP | EPOLLERR)) || c->state == MC_DEAD)
		return;
	if (c->state == MC_CLOSING)
		mio_drain(m, c);
	else
		mio_read(m, c);
}

/* Time limits: JOIN? within MASTER_JOIN_TIMEOUT_MS, CLOSING lingers. */
void mconn_check_deadline(struct master *m, struct mconn *c, int64_t now)
{
	if (c->deadline_ms == 0 || now < c->deadline_ms)
		return;
	if (c->state == MC_AWAIT_JOIN)
		mconn_lost(m, c, c->auth_pending ? "no AUTH! in time" :
			   "no JOIN? in time");
	else if (c->state == MC_CLOSING)
		mconn_set_state(m, c, MC_DEAD);
}
