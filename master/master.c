/*
 * master.c - the master's lifecycle and its one event loop.
 *
 * master_run owns every piece of master state.  One pass of the loop:
 * epoll_wait (level-triggered); accept, read, drain the local mailbox;
 * handle up to MASTER_FRAMES_PER_WAKE frames per connection; settle deferred
 * work (connections doomed deep inside other work, participants whose
 * releases became complete); write pending output; enforce time limits;
 * free the connections that died during the pass.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "dsm_log.h"
#include "master_int.h"

#define EVENTS_PER_WAIT 64

int64_t mmaster_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/*
 * Run deferred work until there is none: kill doomed connections, finish
 * complete releases.  Each may create more of the other (a kill acknowledges
 * INVALs, finishing a release grants locks and queues output that may hit a
 * cap), and each connection dies at most once, so this ends.  Called only
 * where no handler is in the middle of walking master state.
 */
void mmaster_settle(struct master *m)
{
	for (;;) {
		if (m->doomed) {
			struct mconn *c = m->doomed;

			m->doomed = c->doom_next;
			c->doom_next = NULL;
			mconn_lost(m, c, c->doom_why);
			continue;
		}
		if (m->ready_head) {
			struct mpart *p = m->ready_head;

			m->ready_head = p->ready_next;
			if (!m->ready_head)
				m->ready_tail = NULL;
			p->ready_next = NULL;
			p->on_ready = 0;
			mrel_run(m, p);
			continue;
		}
		break;
	}
}

static int add_watch(struct master *m, int fd, struct mwatch *w,
		     enum mwatch_kind kind, const char *what)
{
	struct epoll_event e;

	w->kind = kind;
	memset(&e, 0, sizeof(e));
	e.events = EPOLLIN;
	e.data.ptr = w;
	if (epoll_ctl(m->epfd, EPOLL_CTL_ADD, fd, &e) < 0) {
		dsm_err("epoll_ctl(ADD) for the %s: %s", what, strerror(errno));
		return -1;
	}
	return 0;
}

/*
 * Create the master (see dsm_master.h).  One err: path; master_destroy
 * copes with a half-built master.
 */
struct master *master_create(const struct master_config *cfg, int *err)
{
	struct master *m;
	long ps = sysconf(_SC_PAGESIZE);
	int code = DSM_ESYS;

	m = calloc(1, sizeof(*m));
	if (!m) {
		dsm_err("calloc(struct master): %s", strerror(errno));
		if (err)
			*err = DSM_ENOMEM;
		return NULL;
	}
	m->epfd = m->lfd = m->stopfd = m->localfd = m->spare_fd = -1;
	mpart_init(&m->local, NULL);
	if (ps <= 0 || ps > 65536) {
		dsm_err("sysconf(_SC_PAGESIZE): unusable page size %ld", ps);
		goto err;
	}
	m->page_size = (size_t)ps;
	code = DSM_EINVAL;
	if (!cfg || cfg->size == 0) {
		dsm_err("master_create: the segment size must not be 0");
		goto err;
	}
	if (cfg->size > SIZE_MAX - m->page_size) {
		dsm_err("master_create: segment size %zu too large", cfg->size);
		goto err;
	}
	m->size = (cfg->size + m->page_size - 1) / m->page_size * m->page_size;
	if (DSM_LEN_BYTES == 4 && (uint64_t)m->size > UINT32_MAX) {
		dsm_err("master_create: a %zu-byte segment does not fit the "
			"4-byte lengths of this ARCHI=32 build (at most %llu "
			"bytes); rebuild with ARCHI=64", m->size,
			(unsigned long long)(UINT32_MAX / m->page_size *
					     m->page_size));
		goto err;
	}
	m->npages = m->size / m->page_size;
	m->base = cfg->base ? cfg->base : DSM_DEFAULT_BASE;
	if (m->base % m->page_size != 0 || m->base > UINT64_MAX - m->size) {
		dsm_err("master_create: base address 0x%llx is not page-aligned "
			"or the segment would wrap around",
			(unsigned long long)m->base);
		goto err;
	}
	mobj_init(m);
	m->out_cap = ((size_t)64 << 20) + m->size;
	m->upd_cap = m->size > (SIZE_MAX - (1u << 20)) / 2 ?
		SIZE_MAX : 2 * m->size + (1u << 20);

	if (mstore_init(m, cfg) < 0) {
		code = errno == ENOMEM ? DSM_ENOMEM : errno == EINVAL ?
			DSM_EINVAL : errno == EBUSY ? DSM_EBUSY : DSM_ESYS;
		goto err;
	}

	code = DSM_ESYS;
	if (pthread_mutex_init(&m->mu, NULL) != 0)
		goto err;
	if (pthread_cond_init(&m->local_cv, NULL) != 0) {
		pthread_mutex_destroy(&m->mu);
		goto err;
	}
	if (pthread_cond_init(&m->idle_cv, NULL) != 0) {
		pthread_cond_destroy(&m->local_cv);
		pthread_mutex_destroy(&m->mu);
		goto err;
	}
	m->sync_init = 1;

	m->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (m->epfd < 0) {
		dsm_err("epoll_create1: %s", strerror(errno));
		goto err;
	}
	m->stopfd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	m->localfd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (m->stopfd < 0 || m->localfd < 0) {
		dsm_err("eventfd: %s", strerror(errno));
		goto err;
	}
	if (mnet_listen(m, cfg->listen_addr ? cfg->listen_addr : "127.0.0.1",
			cfg->port) < 0) {
		code = errno == EINVAL ? DSM_EINVAL : DSM_ESYS;
		goto err;
	}
	m->spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	code = DSM_EINVAL;
	if (mauth_configure(m, cfg) < 0)
		goto err;
	mbeat_init(m, cfg->timeout_s);
	code = DSM_ESYS;
	if (add_watch(m, m->lfd, &m->w_listen, MW_LISTEN, "listening socket") ||
	    add_watch(m, m->stopfd, &m->w_stop, MW_STOP, "stop eventfd") ||
	    add_watch(m, m->localfd, &m->w_local, MW_LOCAL, "local eventfd"))
		goto err;
	dsm_info("segment of %zu bytes (%zu pages of %zu), base 0x%llx, "
		 "listening on %s port %u", m->size, m->npages, m->page_size,
		 (unsigned long long)m->base, m->listen_addr, m->port);
	return m;
err:
	master_destroy(m);
	if (err)
		*err = code;
	return NULL;
}

/* Async-signal-safe: one write(2) to an eventfd; errno is preserved. */
void master_stop(struct master *m)
{
	int saved = errno;
	uint64_t one = 1;
	ssize_t n;

	if (!m || m->stopfd < 0)
		return;
	do
		n = write(m->stopfd, &one, sizeof(one));
	while (n < 0 && errno == EINTR);
	(void)n;
	errno = saved;
}

/* Milliseconds epoll_wait may sleep: 0 with frames waiting, else deadlines. */
static int loop_timeout(struct master *m)
{
	int64_t now = mmaster_now_ms(), next = -1, sync_at;

	if (m->busy)
		return 0;
	if (m->accept_paused)
		next = m->accept_resume_ms;
	if (next < 0 || m->next_beat_ms < next)
		next = m->next_beat_ms;
	sync_at = mfile_deadline(m);
	if (sync_at >= 0 && sync_at < next)
		next = sync_at;
	for (struct mconn *c = m->conns; c; c = c->next)
		if (c->deadline_ms && c->state != MC_DEAD &&
		    (next < 0 || c->deadline_ms < next))
			next = c->deadline_ms;
	if (next < 0)
		return -1;
	if (next <= now)
		return 0;
	return next - now > 60000 ? 60000 : (int)(next - now);
}

/* Write every connection's pending output; settle what that dooms. */
void mmaster_flush_all(struct master *m)
{
	do {
		mmaster_settle(m);
		for (struct mconn *c = m->conns; c; c = c->next)
			if (c->state != MC_DEAD)
				mio_flush(m, c);
	} while (m->doomed || m->ready_head);
}

/* Free the connections that died during this pass. */
void mmaster_reap(struct master *m)
{
	while (m->dead) {
		struct mconn *c = m->dead;

		m->dead = c->dead_next;
		if (c->prev)
			c->prev->next = c->next;
		else
			m->conns = c->next;
		if (c->next)
			c->next->prev = c->prev;
		mconn_free(m, c);
	}
}

static void handle_event(struct master *m, struct epoll_event *e)
{
	struct mwatch *w = e->data.ptr;
	uint64_t v;

	switch (w->kind) {
	case MW_LISTEN:
		mnet_accept(m);
		break;
	case MW_STOP:
		while (read(m->stopfd, &v, sizeof(v)) < 0 && errno == EINTR)
			;
		m->stopping = 1;
		break;
	case MW_LOCAL:
		if (!m->stopping)	/* else shutdown_all fails them */
			mlocal_drain(m);
		break;
	case MW_CONN:
		mconn_on_event(m, (struct mconn *)((char *)w -
				offsetof(struct mconn, w)), e->events);
		break;
	default:
		dsm_err("epoll event for unknown watch kind %d", (int)w->kind);
		break;
	}
}

/* One pass after epoll_wait: frames, deferred work, output, time limits. */
static void pass(struct master *m)
{
	int64_t now;

	m->busy = 0;
	for (struct mconn *c = m->conns; c; c = c->next)
		if (c->state == MC_AWAIT_JOIN || c->state == MC_JOINED)
			mio_process(m, c);
	mmaster_flush_all(m);
	now = mmaster_now_ms();
	for (struct mconn *c = m->conns; c; c = c->next)
		if (c->state != MC_DEAD)
			mconn_check_deadline(m, c, now);
	mbeat_tick(m, now);
	mfile_tick(m, now);
	mstats_tick(m, now);
	mmaster_flush_all(m);
	mnet_accept_resume(m);
	mmaster_reap(m);
}

/*
 * Stopping: the local participant's callers are told DSM_ENOTINIT first (so
 * that closing the nodes cannot grant them a lock any more; what its locks
 * grant to nodes goes out before RELEA), then RELEA to every joined node, up
 * to MASTER_STOP_FLUSH_MS to get output out, and every connection is closed.
 */
static void shutdown_all(struct master *m)
{
	struct epoll_event ev[EVENTS_PER_WAIT];
	int64_t end = mmaster_now_ms() + MASTER_STOP_FLUSH_MS;

	dsm_info("stopping: telling every node (RELEA) and closing");
	mlocal_shutdown(m);
	mmaster_settle(m);
	/* From here on only connection output matters to epoll. */
	epoll_ctl(m->epfd, EPOLL_CTL_DEL, m->stopfd, NULL);
	epoll_ctl(m->epfd, EPOLL_CTL_DEL, m->localfd, NULL);
	epoll_ctl(m->epfd, EPOLL_CTL_DEL, m->lfd, NULL);
	close(m->lfd);
	m->lfd = -1;
	for (struct mconn *c = m->conns; c; c = c->next) {
		if (c->state == MC_JOINED)
			mio_send(m, c, K_RELEA, 0, NULL, 0);
		if (c->state != MC_DEAD)
			c->eof = 1;	/* input no longer wanted */
	}
	for (;;) {
		int64_t now;
		int pending = 0, n;

		mmaster_flush_all(m);
		for (struct mconn *c = m->conns; c; c = c->next)
			if (c->state != MC_DEAD && !c->doomed &&
			    c->wpos < c->wlen)
				pending = 1;
		now = mmaster_now_ms();
		if (!pending || now >= end)
			break;
		n = epoll_wait(m->epfd, ev, EVENTS_PER_WAIT, (int)(end - now));
		for (int i = 0; i < n; i++) {
			struct mwatch *w = ev[i].data.ptr;

			if (w->kind == MW_CONN && (ev[i].events & EPOLLOUT))
				mio_flush(m, (struct mconn *)((char *)w -
					  offsetof(struct mconn, w)));
		}
	}
	for (struct mconn *c = m->conns; c; c = c->next) {
		if (c->state == MC_DEAD)
			continue;
		if (c->state == MC_JOINED)
			dsm_info("%s: closed (master stopping)", c->name);
		mconn_set_state(m, c, MC_DEAD);
	}
	mmaster_settle(m);
	mmaster_reap(m);
}

/* The event loop (see the top of this file and dsm_master.h). */
int master_run(struct master *m)
{
	struct epoll_event ev[EVENTS_PER_WAIT];
	int rc = 0;

	if (!m)
		return DSM_ENOTINIT;
	if (m->ran) {
		dsm_err("master_run: the loop already ran");
		return DSM_EINVAL;
	}
	m->ran = 1;
	while (!m->stopping) {
		int n = epoll_wait(m->epfd, ev, EVENTS_PER_WAIT,
				   loop_timeout(m));

		if (n < 0) {
			if (errno == EINTR)
				continue;
			dsm_err("epoll_wait: %s", strerror(errno));
			rc = DSM_ESYS;
			break;
		}
		for (int i = 0; i < n; i++)
			handle_event(m, &ev[i]);
		pass(m);
	}
	shutdown_all(m);
	return rc;
}

/*
 * Free everything.  The loop must not be running.  Also tears down what a
 * loop that never ran leaves: queued local requests get DSM_ENOTINIT.
 */
void master_destroy(struct master *m)
{
	if (!m)
		return;
	while (m->conns) {
		struct mconn *c = m->conns;

		if (c->state != MC_DEAD)
			mconn_set_state(m, c, MC_DEAD);
		mmaster_settle(m);
		mmaster_reap(m);
	}
	if (m->sync_init) {
		mlocal_shutdown(m);
		mmaster_settle(m);
	} else {
		mpart_cleanup(m, &m->local);
	}
	mlock_free_spares(m);
	mobj_free_all(m);
	if (m->lfd >= 0)
		close(m->lfd);
	if (m->spare_fd >= 0)
		close(m->spare_fd);
	if (m->stopfd >= 0)
		close(m->stopfd);
	if (m->localfd >= 0)
		close(m->localfd);
	if (m->epfd >= 0)
		close(m->epfd);
	mstore_free(m);
	mauth_free(m);
	if (m->sync_init) {
		pthread_cond_destroy(&m->idle_cv);
		pthread_cond_destroy(&m->local_cv);
		pthread_mutex_destroy(&m->mu);
	}
	free(m);
}

uint16_t master_port(const struct master *m)
{
	return m ? m->port : 0;
}

const char *master_listen_addr(const struct master *m)
{
	return m ? m->listen_addr : NULL;
}

size_t master_size(const struct master *m)
{
	return m ? m->size : 0;
}

uint64_t master_base(const struct master *m)
{
	return m ? m->base : 0;
}

void *master_store(const struct master *m)
{
	return m ? m->store : NULL;
}
