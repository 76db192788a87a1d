/*
 * service.c - the service thread of one segment.
 *
 * It waits (epoll) on the wake-up eventfd, the userfaultfd and the master
 * socket, and does all the work itself (no hand-off to another thread:
 * every hop costs a wake-up, DESIGN.md section 5): a page fault becomes a
 * GETPG, a PAGES frame becomes a UFFDIO_COPY that wakes the faulting
 * thread, an INVAL is handled in place, replies are posted to the waiting
 * application threads.  A thread that waits for a reply takes over the
 * socket meanwhile (svc_wait_reply), so its reply wakes it directly.
 * Whoever reads, frames from the master are handled strictly in arrival
 * order (rx_lock): an INVAL is always processed before a later OKLOC, which
 * is what makes an acquire see every invalidation that preceded it.
 */
#include <errno.h>
#include <linux/userfaultfd.h>
#include <semaphore.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "dsm.h"
#include "dsm_log.h"
#include "fault.h"
#include "node.h"

/* The service thread looks at the master's silence at least this often. */
#define SVC_BEAT_CHECK_MS 500

int node_exit_on_lost;
__thread int node_internal;

void node_exit_now(int code)
{
	for (;;)
		syscall(SYS_exit_group, code);
}

/*
 * Mark the master lost, once; any thread may call it.  Under the shim
 * (node_exit_on_lost) the process ends here with one line, before any
 * waiting thread can see the loss and hand an error to a program that
 * cannot handle it.  Otherwise: shut the socket so blocked senders fail,
 * fail every waiting request, end the process if a thread is stuck waiting
 * for a page, else log why (unless we are detaching).
 */
void svc_lost(struct segment *s, const char *why)
{
	int expected = 0;

	if (!atomic_compare_exchange_strong(&s->lost_claimed, &expected, 1))
		return;
	snprintf(s->lost_why, sizeof(s->lost_why), "%s", why);
	if (node_exit_on_lost && !atomic_load(&s->detaching)) {
		coh_lost(s);	/* a thread waiting for a page: its own line */
		dsm_err("lost the master %s: %s; exiting", s->peer, why);
		node_exit_now(1);
	}
	atomic_store(&s->lost, 1);
	shutdown(s->sock, SHUT_RDWR);
	req_fail_all(s, DSM_ELOST);
	lc_lost(s);
	/* A thread stuck on a page ends the process with its own line, which
	 * names the cause; otherwise say it once here. */
	coh_lost(s);
	if (!atomic_load(&s->detaching))
		dsm_err("lost the master %s: %s", s->peer, why);
}

static int bad_frame(struct segment *s, enum dsm_kind kind)
{
	char why[96];

	snprintf(why, sizeof(why), "protocol error: malformed or unexpected "
		 "%s frame from the master", dsm_kind_name(kind));
	svc_lost(s, why);
	return -1;
}

/* ERROR frame: a failed request (id != 0) or a connection-level error. */
static int on_error(struct segment *s, uint32_t id, const uint8_t *p,
		    uint32_t len)
{
	uint32_t code;
	int msglen;

	if (len < 4)
		return bad_frame(s, K_ERROR);
	code = get_u32(p);
	msglen = (int)(len - 4 > DSM_MAX_ERRMSG ? DSM_MAX_ERRMSG : len - 4);
	if (code == 0 || code > (uint32_t)-DSM_EAUTH)
		code = (uint32_t)-DSM_EPROTO;
	if (id == 0) {
		char why[DSM_MAX_ERRMSG + 16];

		snprintf(why, sizeof(why), "%.*s", msglen, (const char *)p + 4);
		svc_lost(s, why);
		return -1;
	}
	if (code == (uint32_t)-DSM_EPROTO)
		dsm_err("master %s rejected a request: %.*s", s->peer, msglen,
			(const char *)p + 4);
	req_post(s, id, K_ERROR, -(int)code);
	return 0;
}

static int on_pages(struct segment *s, uint32_t id, const uint8_t *p,
		    uint32_t len)
{
	struct dsm_rd r;
	CONFIG_LEN off, count;

	dsm_rd_init(&r, p, len);
	off = dsm_rd_len(&r);
	count = dsm_rd_len(&r);
	if (r.bad || off % s->page_size != 0 || count == 0 ||
	    off / s->page_size >= s->npages ||
	    count > s->npages - off / s->page_size ||
	    len - r.pos != (size_t)count * s->page_size)
		return bad_frame(s, K_PAGES);
	if (id != 0) {
		/* Pushed with the grant of lock request `id`. */
		coh_install_pushed(s, (size_t)(off / s->page_size),
				   (size_t)count, p + r.pos,
				   req_is_write_lock(s, id));
		return 0;
	}
	return coh_install(s, (size_t)(off / s->page_size), (size_t)count,
			   p + r.pos);
}

static int on_inval(struct segment *s, uint32_t id, const uint8_t *p,
		    uint32_t len)
{
	struct dsm_rd r;
	CONFIG_LEN count;

	dsm_rd_init(&r, p, len);
	count = dsm_rd_len(&r);
	/* Divide, not multiply: a huge count must not wrap to a match. */
	if (r.bad || (len - r.pos) % DSM_LEN_BYTES != 0 ||
	    count != (len - r.pos) / DSM_LEN_BYTES)
		return bad_frame(s, K_INVAL);
	for (CONFIG_LEN k = 0; k < count; k++) {
		CONFIG_LEN off = get_len(p + r.pos + k * DSM_LEN_BYTES);

		if (off % s->page_size != 0 || off >= s->size)
			return bad_frame(s, K_INVAL);
	}
	if (coh_invalidate(s, id, p + r.pos, (size_t)count) < 0) {
		svc_lost(s, strerror(errno));
		return -1;
	}
	return 0;
}

static int on_recal(struct segment *s, const uint8_t *p, uint32_t len)
{
	struct dsm_rd r;
	CONFIG_LEN off, n;

	dsm_rd_init(&r, p, len);
	off = dsm_rd_len(&r);
	n = dsm_rd_len(&r);
	if (!dsm_rd_done(&r) || off % s->page_size != 0 || n == 0 ||
	    n % s->page_size != 0 || off >= s->size || n > s->size - off)
		return bad_frame(s, K_RECAL);
	lc_recall(s, (size_t)(off / s->page_size),
		  (size_t)((off + n) / s->page_size - 1));
	return 0;
}

static int on_objok(struct segment *s, uint32_t id, const uint8_t *p,
		    uint32_t len)
{
	if (len != DSM_OBJOK_LEN)
		return bad_frame(s, K_OBJOK);
	req_post_obj(s, id, get_u32(p), (uint64_t)get_len(p + 4));
	return 0;
}

/* Handle one frame; -1 when the connection is finished. */
static int svc_frame(struct segment *s, enum dsm_kind kind, uint32_t id,
		     const uint8_t *p, uint32_t len)
{
	int rc;

	switch (kind) {
	case K_OKLOC:
		if (len != 0)
			return bad_frame(s, kind);
		req_post_grant(s, id);
		return 0;
	case K_RECAL:
		return on_recal(s, p, len);
	case K_OKUNL:
	case K_PUSHA:
		if (len != 0)
			return bad_frame(s, kind);
		req_post(s, id, kind, 0);
		return 0;
	case K_DECOA:
		/* Only the answer to our DECO? (seg_detach sets detaching
		 * first): a stray one must not end us silently. */
		if (len != 0 || !atomic_load(&s->detaching))
			return bad_frame(s, kind);
		atomic_store(&s->detaching, 1);
		req_post(s, id, kind, 0);
		svc_lost(s, "detached");
		return -1;
	case K_ERROR:
		return on_error(s, id, p, len);
	case K_PAGES:
		return on_pages(s, id, p, len);
	case K_INVAL:
		return on_inval(s, id, p, len);
	case K_OBJOK:
		return on_objok(s, id, p, len);
	case K_RELEA:
		svc_lost(s, "the master shut down");
		return -1;
	case K_PINGQ:
		if (len != 0)
			return bad_frame(s, kind);
		/* Never inside another frame: under send_lock.  If a sender
		 * has it, its bytes already show the master we are alive. */
		if (pthread_mutex_trylock(&s->send_lock) != 0)
			return 0;
		rc = seg_send(s, K_PINGA, id, NULL, 0);
		pthread_mutex_unlock(&s->send_lock);
		if (rc < 0)
			svc_lost(s, strerror(errno));
		return 0;
	case K_PINGA:
		return len != 0 ? bad_frame(s, kind) : 0;
	default:
		return bad_frame(s, kind);
	}
}

static int svc_frames(struct segment *s);

/* Monotonic milliseconds, for the heartbeat. */
static int64_t svc_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/*
 * The master pings every DSM_PING_INTERVAL_MS (docs/PROTOCOL.md
 * "Heartbeat"): nothing at all from it for s->timeout_ms means it is
 * stopped, hung or cut off, which TCP does not tell.  The service thread
 * judges on a round without a socket event (`idle`: nothing is waiting to
 * be read, unless a waiting thread has the socket, and that one reads as
 * soon as it runs; page faults may keep the thread busy meanwhile), at
 * least every SVC_BEAT_CHECK_MS, and not on a round that
 * comes late: then this process was starved or stopped, not the master,
 * and bytes may be queued unread.  svc_lost shuts the socket, which also
 * ends a waiting thread's recv.
 */
static void svc_check_silence(struct segment *s, int idle, int64_t *checked)
{
	int64_t now = svc_now_ms(), quiet, late = now - *checked;
	char why[96];

	*checked = now;
	if (!idle || late > 2 * SVC_BEAT_CHECK_MS || atomic_load(&s->lost))
		return;
	quiet = now - atomic_load_explicit(&s->last_rx_ms,
					   memory_order_relaxed);
	if (quiet < s->timeout_ms)
		return;
	snprintf(why, sizeof(why), "no message from it for %lld ms "
		 "(DSM_TIMEOUT=%lld s)", (long long)quiet,
		 (long long)(s->timeout_ms / 1000));
	svc_lost(s, why);
}

/*
 * Read what the socket has and handle every complete frame (`block`: wait
 * for the first bytes in recv, saving a poll).  Reads until
 * the socket is empty (at most a few frames' worth, so that faults are not
 * kept waiting; poll brings us back for the rest): a prefetch arrives as
 * megabyte frames.
 */
static void svc_sock(struct segment *s, int block)
{
	for (int round = 0; round < 8; round++) {
		ssize_t n = recv(s->sock, s->rbuf + s->rlen, s->rcap - s->rlen,
				 round == 0 && block ? 0 : MSG_DONTWAIT);

		if (n == 0) {
			svc_lost(s, "connection closed by the master");
			return;
		}
		if (n < 0) {
			if (errno != EAGAIN && errno != EINTR)
				svc_lost(s, strerror(errno));
			return;
		}
		s->rlen += (size_t)n;
		atomic_store_explicit(&s->last_rx_ms, svc_now_ms(),
				      memory_order_relaxed);
		if (svc_frames(s) < 0)
			return;
	}
}

/* Handle every complete frame in rbuf; -1 once the connection is over. */
static int svc_frames(struct segment *s)
{
	size_t pos = 0;

	while (s->rlen - pos >= DSM_HDR_LEN) {
		const uint8_t *h = s->rbuf + pos;
		enum dsm_kind kind = dsm_kind_parse(h);
		uint32_t id = get_u32(h + 5), len = get_u32(h + 9);

		if (kind == K_UNKNOWN || len > DSM_MAX_PAYLOAD) {
			svc_lost(s, "protocol error: bad frame header from the master");
			return -1;
		}
		if (s->rlen - pos < DSM_HDR_LEN + (size_t)len) {
			if (DSM_HDR_LEN + (size_t)len > s->rcap) {
				size_t cap = DSM_HDR_LEN + DSM_MAX_PAYLOAD;
				uint8_t *nb = malloc(cap);

				if (!nb) {
					svc_lost(s, "out of memory for a frame");
					return -1;
				}
				memcpy(nb, s->rbuf + pos, s->rlen - pos);
				free(s->rbuf);
				s->rbuf = nb;
				s->rcap = cap;
				s->rlen -= pos;
				pos = 0;
			}
			break;
		}
		if (svc_frame(s, kind, id, h + DSM_HDR_LEN, len) < 0)
			return -1;
		pos += DSM_HDR_LEN + len;
	}
	memmove(s->rbuf, s->rbuf + pos, s->rlen - pos);
	s->rlen -= pos;
	return 0;
}

/* Read and serve pending userfaultfd events (the SIGSEGV backend has no
 * events here: a faulting thread serves its own fault). */
static void svc_uffd(struct segment *s)
{
	struct uffd_msg msgs[16];
	ssize_t n = read(s->uffd, msgs, sizeof(msgs));

	if (n < 0) {
		if (errno != EAGAIN && errno != EINTR)
			dsm_err("read(userfaultfd): %s", strerror(errno));
		return;
	}
	for (size_t i = 0; i < (size_t)n / sizeof(msgs[0]); i++) {
		switch (msgs[i].event) {
		case UFFD_EVENT_PAGEFAULT: {
			uint64_t f = msgs[i].arg.pagefault.flags;

			coh_fault(s, (uintptr_t)msgs[i].arg.pagefault.address,
				  (f & UFFD_PAGEFAULT_FLAG_WP) ? FA_WP :
				  (f & UFFD_PAGEFAULT_FLAG_WRITE) ? FA_WRITE :
				  FA_READ);
			break;
		}
		default:
			dsm_warn("unexpected userfaultfd event %u",
				 (unsigned int)msgs[i].event);
			break;
		}
	}
}

struct svc_boot {
	struct segment *s;
	sem_t ready;
};

enum { EV_WAKE, EV_UFFD, EV_SOCK };

/* Let the service thread watch the socket (on) or not (off: a waiting
 * thread reads it, or the master is gone). */
static void sock_watch(struct segment *s, int on)
{
	struct epoll_event ev = { .events = on ? EPOLLIN : 0,
				  .data.u32 = EV_SOCK };

	epoll_ctl(s->epfd, EPOLL_CTL_MOD, s->sock, &ev);
}

static void *svc_main(void *arg)
{
	struct svc_boot *boot = arg;
	struct segment *s = boot->s;

	int64_t checked = svc_now_ms();
	int sock_ev;

	node_internal = 1;	/* everything this thread does is runtime work */
	sem_post(&boot->ready);	/* boot is gone after this */
	for (;;) {
		struct epoll_event evs[3];
		int n = epoll_wait(s->epfd, evs, 3, SVC_BEAT_CHECK_MS);

		/* Idle for the heartbeat: nothing from the socket this
		 * round, though faults may keep the thread busy. */
		sock_ev = 0;
		for (int i = 0; i < n; i++)
			sock_ev |= evs[i].data.u32 == EV_SOCK;
		svc_check_silence(s, n >= 0 && !sock_ev, &checked);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			dsm_err("epoll_wait in the service thread: %s",
				strerror(errno));
			break;
		}
		for (int i = 0; i < n; i++) {
			switch (evs[i].data.u32) {
			case EV_WAKE: {
				uint64_t v;

				(void)!read(s->wakefd, &v, sizeof(v));
				if (atomic_load(&s->stopping))
					return NULL;
				break;
			}
			case EV_UFFD:
				svc_uffd(s);
				break;
			case EV_SOCK:
				/* A waiting thread may be the reader now. */
				if (atomic_load(&s->lost)) {
					/* Shut down: epoll would report the hang-up
					 * whatever the mask; stop watching it. */
					epoll_ctl(s->epfd, EPOLL_CTL_DEL, s->sock, NULL);
				} else if (pthread_mutex_trylock(&s->rx_lock) == 0) {
					svc_sock(s, 0);
					pthread_mutex_unlock(&s->rx_lock);
				}
				break;
			}
		}
	}
	return NULL;
}

/*
 * Wait for the answer to w (registered and sent).  If nobody reads the
 * socket, this thread does, handling every frame that comes in order (as
 * the service thread would), until its own answer is there: the reply then
 * wakes this thread directly, with no hand-off.  Otherwise it sleeps until
 * the reader posts the answer.  Returns w's code.
 */
int svc_wait_reply(struct segment *s, struct waiter *w)
{
	while (atomic_load_explicit(&w->done, memory_order_acquire) == 0) {
		if (atomic_load(&s->lost) ||
		    pthread_mutex_trylock(&s->rx_lock) != 0)
			return req_wait(s, w);
		node_internal++;
		sock_watch(s, 0);
		/* A lost master shuts the socket: the recv returns then. */
		while (atomic_load_explicit(&w->done, memory_order_acquire) == 0 &&
		       !atomic_load(&s->lost))
			svc_sock(s, 1);
		if (!atomic_load(&s->lost))
			sock_watch(s, 1);
		pthread_mutex_unlock(&s->rx_lock);
		node_internal--;
	}
	return w->code;
}

/*
 * Start the service thread (with its eventfd and epoll set) and wait until
 * it runs, before any memory is registered.  It inherits a fully blocked
 * signal mask, so process signals go to application threads.  0, or -1
 * with errno; the caller closes the descriptors.
 */
int svc_start(struct segment *s)
{
	struct svc_boot boot = { .s = s };
	sigset_t all, old;
	int rc;

	struct epoll_event ev = { .events = EPOLLIN };

	atomic_store(&s->last_rx_ms, svc_now_ms());
	s->wakefd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (s->wakefd < 0) {
		dsm_err("eventfd: %s", strerror(errno));
		return -1;
	}
	s->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (s->epfd < 0) {
		dsm_err("epoll_create1: %s", strerror(errno));
		return -1;
	}
	ev.data.u32 = EV_WAKE;
	if (epoll_ctl(s->epfd, EPOLL_CTL_ADD, s->wakefd, &ev) < 0)
		goto ctl;
	ev.data.u32 = EV_UFFD;
	if (s->uffd >= 0 && epoll_ctl(s->epfd, EPOLL_CTL_ADD, s->uffd, &ev) < 0)
		goto ctl;
	ev.data.u32 = EV_SOCK;
	if (epoll_ctl(s->epfd, EPOLL_CTL_ADD, s->sock, &ev) < 0)
		goto ctl;
	sem_init(&boot.ready, 0, 0);
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	rc = pthread_create(&s->thread, NULL, svc_main, &boot);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (rc != 0) {
		dsm_err("pthread_create(service thread): %s", strerror(rc));
		sem_destroy(&boot.ready);
		errno = rc;
		return -1;
	}
	while (sem_wait(&boot.ready) < 0 && errno == EINTR)
		;
	sem_destroy(&boot.ready);
	return 0;
ctl:
	dsm_err("epoll_ctl(ADD) in the service thread: %s", strerror(errno));
	return -1;
}

/* Stop the service thread and wait for it. */
void svc_stop(struct segment *s)
{
	uint64_t one = 1;

	atomic_store(&s->stopping, 1);
	(void)!write(s->wakefd, &one, sizeof(one));
	pthread_join(s->thread, NULL);
}
