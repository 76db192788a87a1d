/*
 * fuzz_node.c - libFuzzer target: a node's handling of what its master
 * sends (preload/service.c svc_frames/svc_frame and everything they call:
 * page installs, invalidations, recalls, replies; docs/FUZZING.md).
 *
 * Contract of an input: the raw byte stream a master sends to a node after
 * the join, from the moment the node's first request (LOCKW id 1 of pages
 * 0-1) has arrived, to the master's end of file.
 *
 * Per input, a fake master in a thread of this process (one loopback
 * listening socket, made once) accepts the node, reads its JOIN? (10 bytes,
 * or 42 with the nonce), answers a valid JOIN! (16 pages at the default
 * base), waits for the node's first frame, then writes the input frame by
 * frame while reading whatever the node sends, shuts its side and reads
 * until the node closes.  A reply whose id is just above the highest
 * request id the node has sent is held until that request comes (at most
 * HOLD_MS), so that the input can answer the program's later requests too
 * (ids 2, 3, ...: a release, LOCKR, DECO?).  FUZZ_LOG=debug shows what the
 * node sends.
 *
 * Meanwhile this thread is the node's program: it attaches (api_attach, as
 * init_slave does), asks lock_write for pages 0-1 (the frame the fake
 * master waits for), writes to those pages that are present if it got the
 * lock, unlocks, asks lock_read of page 2, unlocks, and detaches with
 * destroy_slave.  Any call may fail: the stream decides.
 *
 * The program never touches a page that is not present: a fault that
 * cannot be served ends the process by design (coherence.c coh_fatal),
 * which would be reported as a crash.  It looks at the page states under
 * rx_lock, so no frame is handled (no INVAL can drop a page) meanwhile.
 *
 * Everything is bounded: the fake master gives up on each step after
 * STEP_MS, and a node that has not closed its connection IDLE_MS after the
 * master closed its side is a hang (abort with a message: a finding).  An
 * attach that fails with DSM_ELOST before any input is sent skips the
 * input (see LLVMFuzzerTestOneInput), three in a row abort.
 * Internals used (preload/node.h, api.h): api_attach, struct segment's
 * base, page_size, pstate and rx_lock.
 */
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "api.h"
#include "dsm.h"
#include "dsm_log.h"
#include "node.h"

#define SEG_PAGES 16
#define STEP_MS 5000
#define IDLE_MS 10000
/*
 * How long a reply waits for the request it answers (see pour).  A node
 * that will send it does so within a millisecond on a quiet machine; an
 * input that never draws it pays the whole wait, which set the pace of the
 * whole run when this was 100 ms.
 */
#define HOLD_MS 10
#define MASTER_ID_BIT 0x80000000u

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int lfd = -1;
static int attach_lost;		/* attaches failed with DSM_ELOST in a row */
static uint16_t lport;
static size_t page_size;

struct fake {
	const uint8_t *data;
	size_t size;
};

static void die(const char *what)
{
	fprintf(stderr, "fuzz_node: %s\n", what);
	abort();
}

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Wait up to ms for `events` on fd; 1 ready, 0 timed out. */
static int wait_fd(int fd, short events, int ms)
{
	struct pollfd p = { .fd = fd, .events = events };
	int n;

	do
		n = poll(&p, 1, ms);
	while (n < 0 && errno == EINTR);
	return n > 0;
}

/* Read exactly len bytes within STEP_MS; 0, or -1 (EOF, error, time). */
static int read_exact(int fd, uint8_t *buf, size_t len)
{
	while (len > 0) {
		ssize_t n;

		if (!wait_fd(fd, POLLIN, STEP_MS))
			return -1;
		n = recv(fd, buf, len, MSG_DONTWAIT);
		if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR))
			return -1;
		if (n > 0) {
			buf += n;
			len -= (size_t)n;
		}
	}
	return 0;
}

/* Read one frame from the node; its payload is dropped. */
static int read_frame(int fd, uint8_t hdr[DSM_HDR_LEN])
{
	static uint8_t skip[65536];
	uint32_t len;

	if (read_exact(fd, hdr, DSM_HDR_LEN) < 0)
		return -1;
	len = get_u32(hdr + 9);
	while (len > 0) {
		size_t n = len < sizeof(skip) ? len : sizeof(skip);

		if (read_exact(fd, skip, n) < 0)
			return -1;
		len -= (uint32_t)n;
	}
	return 0;
}

/*
 * What the node sends, framed as it arrives (payloads skipped): the
 * highest request id seen so far, and whether it has closed.
 */
struct from_node {
	uint8_t hdr[DSM_HDR_LEN];
	size_t have;		/* header bytes in hdr */
	uint32_t skip;		/* payload bytes still to drop */
	uint32_t max_id;
	int eof;
};

static void parse_node(struct from_node *n, const uint8_t *p, size_t len)
{
	while (len > 0) {
		size_t k;

		if (n->skip > 0) {
			k = len < n->skip ? len : n->skip;
			n->skip -= (uint32_t)k;
		} else {
			k = DSM_HDR_LEN - n->have < len ? DSM_HDR_LEN - n->have
							: len;
			memcpy(n->hdr + n->have, p, k);
			n->have += k;
			if (n->have == DSM_HDR_LEN) {
				uint32_t id = get_u32(n->hdr + 5);

				dsm_debug("fake master: the node sent %s id=%u "
					  "len=%u", dsm_kind_name(dsm_kind_parse(
					  n->hdr)), id, get_u32(n->hdr + 9));
				/* Request ids of nodes stay below 2^31. */
				if (id < MASTER_ID_BIT && id > n->max_id)
					n->max_id = id;
				n->skip = get_u32(n->hdr + 9);
				n->have = 0;
			}
		}
		p += k;
		len -= k;
	}
}

/* Read what the node sent, waiting up to ms for the first bytes. */
static void from_node_read(int fd, struct from_node *n, int ms)
{
	static uint8_t buf[65536];

	while (!n->eof && wait_fd(fd, POLLIN, ms)) {
		ssize_t r = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);

		if (r == 0 || (r < 0 && errno != EAGAIN && errno != EINTR))
			n->eof = 1;
		if (r <= 0)
			return;
		parse_node(n, buf, (size_t)r);
		ms = 0;
	}
}

/* The request id that the frame at h answers, or 0 (not a reply). */
static uint32_t reply_to(const uint8_t *h)
{
	uint32_t id = get_u32(h + 5);

	switch (dsm_kind_parse(h)) {
	case K_OKLOC:
	case K_OKUNL:
	case K_PUSHA:
	case K_DECOA:
	case K_OBJOK:
	case K_ERROR:
	case K_PAGES:	/* pushed with the grant of lock request id */
		return id < MASTER_ID_BIT ? id : 0;
	default:
		return 0;
	}
}

/*
 * Write data[0..size) to the node frame by frame (as the headers claim)
 * while reading what it sends, so that neither side blocks on a full
 * socket.  A reply to a request the node is about to send (an id just above
 * the highest it sent) is held until that request has come, so that the
 * node's later requests can be answered too: at most HOLD_MS per frame, in
 * case it never comes (the node waits for something else).  Stops early if
 * the node closes or resets.
 */
static void pour(int fd, struct from_node *n, const uint8_t *data,
		 size_t size)
{
	size_t off = 0, end = 0;

	while (off < size) {
		struct pollfd p = { .fd = fd, .events = POLLIN | POLLOUT };
		ssize_t r;

		if (off == end) {
			uint32_t want = size - off >= DSM_HDR_LEN ?
				reply_to(data + off) : 0;
			int64_t until = now_ms() + HOLD_MS;

			end = size - off >= DSM_HDR_LEN &&
			      get_u32(data + off + 9) <= size - off - DSM_HDR_LEN ?
				off + DSM_HDR_LEN + get_u32(data + off + 9) : size;
			while (want > n->max_id && want <= n->max_id + 3 &&
			       !n->eof && now_ms() < until)
				from_node_read(fd, n, 5);
			if (want > n->max_id && want <= n->max_id + 3)
				dsm_debug("fake master: no request %u within "
					  "%d ms, sending its reply anyway",
					  want, HOLD_MS);
		}
		if (n->eof)
			return;
		if (poll(&p, 1, STEP_MS) <= 0)
			die("HANG: the node neither reads nor writes for 5 s");
		if (p.revents & POLLIN)
			from_node_read(fd, n, 0);
		if (p.revents & (POLLERR | POLLHUP))
			return;
		if (p.revents & POLLOUT) {
			r = send(fd, data + off, end - off,
				 MSG_NOSIGNAL | MSG_DONTWAIT);
			if (r < 0 && errno != EAGAIN && errno != EINTR)
				return;
			if (r > 0)
				off += (size_t)r;
		}
	}
}

/* After our end of file: read until the node closes, at most IDLE_MS. */
static void drain(int fd)
{
	static uint8_t sink[65536];
	int64_t end = now_ms() + IDLE_MS;

	for (;;) {
		int64_t left = end - now_ms();
		ssize_t n;

		if (left <= 0 || !wait_fd(fd, POLLIN, (int)left))
			die("HANG: the node did not close its connection within "
			    "10 s of the master's end of file");
		n = recv(fd, sink, sizeof(sink), MSG_DONTWAIT);
		if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR))
			return;
	}
}

/*
 * The node's connection: the first one accepted within STEP_MS whose first
 * bytes are a JOIN? header (left unread).  Any other connection (another
 * program of the machine that found our port) is closed.  -1 if none.
 */
static int accept_node(void)
{
	struct pollfd p[9];
	int64_t end = now_ms() + STEP_MS;
	int n = 1, found = -1;

	p[0].fd = lfd;
	p[0].events = POLLIN;
	while (found < 0 && now_ms() < end) {
		if (poll(p, (nfds_t)n, (int)(end - now_ms())) <= 0)
			continue;
		for (int i = n - 1; i >= 1; i--) {
			uint8_t h[DSM_HDR_LEN];
			ssize_t r;

			if (!p[i].revents)
				continue;
			r = recv(p[i].fd, h, sizeof(h), MSG_PEEK | MSG_DONTWAIT);
			if (r == (ssize_t)sizeof(h) && dsm_kind_parse(h) == K_JOINQ &&
			    found < 0) {
				found = p[i].fd;
			} else if (r >= (ssize_t)sizeof(h) || r == 0 ||
				   (r < 0 && errno != EAGAIN && errno != EINTR)) {
				dsm_debug("fake master: closing a connection "
					  "that is not the node's");
				close(p[i].fd);
			} else {
				continue;	/* a header on its way */
			}
			p[i] = p[--n];
		}
		if ((p[0].revents & POLLIN) && n < 9) {
			int fd = accept(lfd, NULL, NULL);

			if (fd >= 0) {
				p[n].fd = fd;
				p[n].events = POLLIN;
				p[n].revents = 0;
				n++;
			}
		}
	}
	for (int i = 1; i < n; i++)
		close(p[i].fd);
	return found;
}

/* The fake master of one input (see the top). */
static void *fake_master(void *arg)
{
	const struct fake *f = arg;
	uint8_t hdr[DSM_HDR_LEN], pl[64], ans[DSM_HDR_LEN + 16 + 8];
	uint32_t len;
	int fd;

	fd = accept_node();
	if (fd < 0)
		return NULL;	/* the node could not attach: see below */
	if (read_exact(fd, hdr, DSM_HDR_LEN) < 0)
		die("the node's JOIN? is cut short");
	len = get_u32(hdr + 9);
	if (dsm_kind_parse(hdr) != K_JOINQ || len < 10 || len > sizeof(pl) ||
	    read_exact(fd, pl, len) < 0)
		die("the node's JOIN? is not one");
	dsm_hdr_put(ans, K_JOINA, get_u32(hdr + 5), 16 + DSM_LEN_BYTES);
	put_u32(ans + DSM_HDR_LEN, 1);
	put_u32(ans + DSM_HDR_LEN + 4, (uint32_t)page_size);
	put_u64(ans + DSM_HDR_LEN + 8, DSM_DEFAULT_BASE);
	put_len(ans + DSM_HDR_LEN + 16, (CONFIG_LEN)(SEG_PAGES * page_size));
	if (send(fd, ans, sizeof(ans), MSG_NOSIGNAL) != (ssize_t)sizeof(ans))
		die("sending JOIN! failed");
	/* The node's first request: the input answers it. */
	if (read_frame(fd, hdr) == 0) {
		struct from_node n = { .max_id = get_u32(hdr + 5) };

		pour(fd, &n, f->data, f->size);
	}
	shutdown(fd, SHUT_WR);
	drain(fd);
	close(fd);
	return NULL;
}

/*
 * Write one byte to every page of [first, last] that is present, under
 * rx_lock (no frame is handled meanwhile).  A read-only page takes a
 * write-protect fault, which the service thread serves locally.
 */
static void touch_present(struct segment *s, size_t first, size_t last)
{
	pthread_mutex_lock(&s->rx_lock);
	for (size_t p = first; p <= last; p++) {
		uint8_t st;

		pthread_mutex_lock(&s->state_lock);
		st = s->pstate[p];
		pthread_mutex_unlock(&s->state_lock);
		if (st == PG_READ || st == PG_DIRTY)
			((volatile uint8_t *)s->base)[p * s->page_size + p] ^= 1;
	}
	pthread_mutex_unlock(&s->rx_lock);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	struct sockaddr_in a;
	socklen_t alen = sizeof(a);
	const char *lvl = getenv("FUZZ_LOG");

	(void)argc;
	(void)argv;
	dsm_log_level = lvl ? dsm_log_parse_level(lvl) : -1;
	/* The fake master has no secret and places the segment itself. */
	unsetenv("DSM_SECRET_FILE");
	unsetenv("DSM_BASE");
	unsetenv("DSM_TIMEOUT");
	api_init_once();	/* reads DSM_LOG: keep ours */
	dsm_log_level = lvl ? dsm_log_parse_level(lvl) : -1;
	page_size = (size_t)sysconf(_SC_PAGESIZE);
	lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (lfd < 0 || bind(lfd, (struct sockaddr *)&a, sizeof(a)) < 0 ||
	    listen(lfd, 4) < 0 ||
	    getsockname(lfd, (struct sockaddr *)&a, &alen) < 0)
		die("cannot listen on loopback");
	lport = ntohs(a.sin_port);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fake f = { .data = data, .size = size };
	struct segment *s;
	pthread_attr_t small;
	pthread_t t;
	int err = 0;

	if (lfd < 0)
		LLVMFuzzerInitialize(NULL, NULL);
	/*
	 * A small stack: ASan clears the shadow of a thread's whole stack when
	 * it ends, 1 MB for the default 8 MB, a good part of each input's time.
	 */
	pthread_attr_init(&small);
	pthread_attr_setstacksize(&small, 256 * 1024);
	if (pthread_create(&t, &small, fake_master, &f) != 0)
		die("pthread_create failed");
	pthread_attr_destroy(&small);
	s = api_attach("127.0.0.1", lport, &err);
	if (!s) {
		char why[128];

		/*
		 * Now and then (about once in 50,000 inputs on a busy
		 * machine) the loopback connection fails, DSM_ELOST, with
		 * no input sent yet: not what the input is about.  Skip it,
		 * unless it keeps happening; any other error is a finding.
		 */
		snprintf(why, sizeof(why), "the node could not attach to the "
			 "fake master: %s (%d)", dsm_strerror(err), err);
		if (err != DSM_ELOST || ++attach_lost == 3)
			die(why);
		fprintf(stderr, "fuzz_node: %s; input skipped\n", why);
		pthread_join(t, NULL);
		return 0;
	}
	attach_lost = 0;
	if (lock_write(s->base, 2 * page_size) == 0) {
		touch_present(s, 0, 1);
		unlock_write(s->base, 2 * page_size);
	}
	if (lock_read(s->base + 2 * page_size, 1) == 0)
		unlock_read(s->base + 2 * page_size, 1);
	destroy_slave();
	pthread_join(t, NULL);
	return 0;
}
