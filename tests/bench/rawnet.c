/*
 * rawnet.c - the raw TCP baselines: a server built like the master (one
 * process, one epoll loop, level-triggered, non-blocking sockets with the
 * master's options, per-connection buffers) and the clients that measure
 * against it.
 *
 * Every request is BENCH_REQ_LEN (32) bytes: byte 0 says what to answer,
 *   'S'  a 32-byte reply                      (raw 32 B round trip)
 *   'P'  DSM_HDR_LEN + 4096 bytes             (a frame header and a page)
 *   'T'  the u64 at bytes 8..15, as a stream  (bandwidth)
 * and a client has at most one request outstanding, like a node faulting
 * one page.
 */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "bench.h"
#include "dsm_wire.h"

#define PAGE_REPLY (DSM_HDR_LEN + 4096u)
#define STREAM_BUF (1u << 20)
#define MAX_CONNS 64

struct rconn {
	int fd;
	uint8_t req[BENCH_REQ_LEN];
	size_t rlen;		/* bytes of req received */
	const uint8_t *src;	/* reply bytes (page or small: fixed buffers) */
	size_t srclen;		/* length of src; a stream cycles over it */
	size_t spos;		/* position in src */
	uint64_t left;		/* reply bytes still to send */
	int want_out;		/* EPOLLOUT registered */
};

static uint8_t reply_buf[STREAM_BUF];

/* The master's options on an accepted socket (master/net.c). */
static void server_tune(int fd)
{
	int one = 1, idle = 2, intvl = 1, cnt = 3;
	unsigned int user_timeout = 10000;

	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof(one));
	setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &idle, sizeof(idle));
	setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &intvl, sizeof(intvl));
	setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &cnt, sizeof(cnt));
	setsockopt(fd, IPPROTO_TCP, TCP_USER_TIMEOUT, &user_timeout,
		   sizeof(user_timeout));
}

static void conn_events(int ep, struct rconn *c, int out)
{
	struct epoll_event e = { .events = out ? EPOLLOUT : EPOLLIN,
				 .data.ptr = c };

	if (c->want_out == out)
		return;
	if (epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &e) < 0)
		child_fail("epoll_ctl(MOD): %s", strerror(errno));
	c->want_out = out;
}

/* Send what is pending until done or EAGAIN.  -1: the peer is gone. */
static int conn_flush(struct rconn *c)
{
	while (c->left > 0) {
		size_t chunk = c->srclen - c->spos;
		ssize_t n;

		if (chunk > c->left)
			chunk = (size_t)c->left;
		n = send(c->fd, c->src + c->spos, chunk, MSG_NOSIGNAL);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return (errno == EAGAIN || errno == EWOULDBLOCK) ? 0
									 : -1;
		}
		c->left -= (uint64_t)n;
		c->spos = (c->spos + (size_t)n) % c->srclen;
	}
	return 0;
}

/* A whole request arrived: set up its reply. -1 on a bad request. */
static int conn_request(struct rconn *c)
{
	c->src = reply_buf;
	c->spos = 0;
	switch (c->req[0]) {
	case 'S':
		c->srclen = c->left = BENCH_REQ_LEN;
		break;
	case 'P':
		c->srclen = c->left = PAGE_REPLY;
		break;
	case 'T':
		c->srclen = STREAM_BUF;
		memcpy(&c->left, c->req + 8, sizeof(c->left));
		break;
	default:
		return -1;
	}
	c->rlen = 0;
	return 0;
}

static void conn_close(int ep, struct rconn *c)
{
	epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
	close(c->fd);
	free(c);
}

/* Readable (or writable) connection: serve it. */
static void conn_serve(int ep, struct rconn *c)
{
	if (c->left == 0) {
		ssize_t n = recv(c->fd, c->req + c->rlen,
				 BENCH_REQ_LEN - c->rlen, 0);

		if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
			conn_close(ep, c);
			return;
		}
		if (n < 0)
			return;
		c->rlen += (size_t)n;
		if (c->rlen < BENCH_REQ_LEN)
			return;
		if (conn_request(c) < 0) {
			conn_close(ep, c);
			return;
		}
	}
	if (conn_flush(c) < 0) {
		conn_close(ep, c);
		return;
	}
	conn_events(ep, c, c->left > 0);
}

static void server_accept(int ep, int lfd)
{
	for (;;) {
		int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		struct rconn *c;
		struct epoll_event e = { .events = EPOLLIN };

		if (fd < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			return;
		}
		server_tune(fd);
		c = calloc(1, sizeof(*c));
		if (!c)
			child_fail("out of memory for a connection");
		c->fd = fd;
		e.data.ptr = c;
		if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &e) < 0)
			child_fail("epoll_ctl(ADD): %s", strerror(errno));
	}
}

/*
 * Role rawserver (no arguments): listen on 127.0.0.1, port 0; ready with
 * the port; serve until stdin closes (the driver is done), exit 0.
 */
int role_rawserver(char **args)
{
	struct sockaddr_in sa = { .sin_family = AF_INET,
				  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t sl = sizeof(sa);
	struct epoll_event e = { .events = EPOLLIN };
	int one = 1, lfd, ep, stdin_tag;

	(void)args;
	for (size_t i = 0; i < sizeof(reply_buf); i++)
		reply_buf[i] = (uint8_t)(i * 7 + 1);
	lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (lfd < 0)
		child_fail("socket: %s", strerror(errno));
	setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(lfd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    listen(lfd, SOMAXCONN) < 0 ||
	    getsockname(lfd, (struct sockaddr *)&sa, &sl) < 0)
		child_fail("bind/listen: %s", strerror(errno));
	ep = epoll_create1(EPOLL_CLOEXEC);
	if (ep < 0)
		child_fail("epoll_create1: %s", strerror(errno));
	e.data.ptr = &lfd;
	if (epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &e) < 0)
		child_fail("epoll_ctl(ADD listen): %s", strerror(errno));
	child_ready(ntohs(sa.sin_port));
	e.data.ptr = &stdin_tag;
	if (epoll_ctl(ep, EPOLL_CTL_ADD, STDIN_FILENO, &e) < 0)
		child_fail("epoll_ctl(ADD stdin): %s", strerror(errno));
	for (;;) {
		struct epoll_event ev[MAX_CONNS];
		int n = epoll_wait(ep, ev, MAX_CONNS, -1);

		if (n < 0 && errno != EINTR)
			child_fail("epoll_wait: %s", strerror(errno));
		for (int i = 0; i < n; i++) {
			if (ev[i].data.ptr == &lfd)
				server_accept(ep, lfd);
			else if (ev[i].data.ptr == &stdin_tag)
				exit(0);
			else
				conn_serve(ep, ev[i].data.ptr);
		}
	}
}

/* Send one request; receive `len` reply bytes into buf (size bufsize,
 * reused cyclically). */
static void rpc(int fd, uint8_t *req, uint8_t *buf, size_t bufsize,
		uint64_t len)
{
	if (write_full(fd, req, BENCH_REQ_LEN) < 0)
		child_fail("send: %s", strerror(errno));
	while (len > 0) {
		size_t want = len < bufsize ? (size_t)len : bufsize;
		ssize_t n = recv(fd, buf, want, 0);

		if (n <= 0) {
			if (n < 0 && errno == EINTR)
				continue;
			child_fail("recv: %s", n == 0 ? "connection closed"
				   : strerror(errno));
		}
		len -= (uint64_t)n;
	}
}

/* Stream `bytes` from the server; per-MiB receive times (us) to s. */
static double stream_once(int fd, uint64_t bytes, double *s, size_t *ns)
{
	static uint8_t buf[STREAM_BUF];
	uint8_t req[BENCH_REQ_LEN] = { 'T' };
	double t0, tc;
	uint64_t got = 0, mark = STREAM_BUF;

	memcpy(req + 8, &bytes, sizeof(bytes));
	t0 = tc = now_ns();
	if (write_full(fd, req, sizeof(req)) < 0)
		child_fail("send: %s", strerror(errno));
	while (got < bytes) {
		size_t want = bytes - got < STREAM_BUF ? (size_t)(bytes - got)
						       : STREAM_BUF;
		ssize_t n = recv(fd, buf, want, 0);

		if (n <= 0) {
			if (n < 0 && errno == EINTR)
				continue;
			child_fail("recv (stream): %s", n == 0 ? "closed"
				   : strerror(errno));
		}
		got += (uint64_t)n;
		if (got >= mark) {
			double t = now_ns();

			s[(*ns)++] = (t - tc) / 1e3;
			tc = t;
			mark += STREAM_BUF;
		}
	}
	return now_ns() - t0;
}

/*
 * Role rawclient HOST PORT MODE N WARM.
 *   rtt32, rtt4k: WARM untimed round trips, then N timed; samples: us each.
 *   tput: the same as rtt4k, t0/t1 the window (for the aggregate rate),
 *         v[5] CPU time (s) used in it.
 *   stream: WARM transfers of N bytes; samples: us per MiB received;
 *           v[0] bytes, v[1] ns spent in transfers.
 * v[2] = clock overhead (ns).
 */
int role_rawclient(char **args)
{
	const char *mode = args[2];
	uint64_t n = strtoull(args[3], NULL, 0),
		 warm = strtoull(args[4], NULL, 0);
	uint16_t port = (uint16_t)atoi(args[1]);
	struct report h = { 0 };
	static uint8_t buf[PAGE_REPLY];
	uint8_t req[BENCH_REQ_LEN] = { 0 };
	struct timeval tv = { .tv_sec = 30 };
	uint64_t reply;
	double *s;
	int fd;

	fd = child_connect(args[0], port);
	/* Every wait is bounded: a lost server fails the child. */
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	if (strcmp(mode, "stream") == 0) {
		size_t ns = 0, cap = (size_t)(warm * (n / STREAM_BUF + 1));

		s = calloc(cap + 1, sizeof(*s));
		if (!s)
			child_fail("out of memory");
		stream_once(fd, STREAM_BUF, s, &ns);	/* warm-up */
		ns = 0;
		h.v[2] = timer_overhead_ns();
		child_ready(0);
		h.t0 = now_ns();
		for (uint64_t r = 0; r < warm; r++)
			h.v[1] += stream_once(fd, n, s, &ns);
		h.t1 = now_ns();
		h.v[0] = (double)(n * warm);
		h.n = (uint32_t)ns;
		child_report(&h, s);
		free(s);
		close(fd);
		return 0;
	}
	if (strcmp(mode, "rtt32") == 0) {
		req[0] = 'S';
		reply = BENCH_REQ_LEN;
	} else if (strcmp(mode, "rtt4k") == 0 || strcmp(mode, "tput") == 0) {
		req[0] = 'P';
		reply = PAGE_REPLY;
	} else {
		child_fail("unknown mode '%s'", mode);
	}
	s = calloc(n + 1, sizeof(*s));
	if (!s)
		child_fail("out of memory");
	for (uint64_t i = 0; i < warm; i++)
		rpc(fd, req, buf, sizeof(buf), reply);
	h.v[2] = timer_overhead_ns();
	child_ready(0);
	h.v[5] = cpu_self_s();
	h.t0 = now_ns();
	for (uint64_t i = 0; i < n; i++) {
		double t = now_ns();

		rpc(fd, req, buf, sizeof(buf), reply);
		s[i] = (now_ns() - t) / 1e3;
	}
	h.t1 = now_ns();
	h.v[5] = cpu_self_s() - h.v[5];
	h.n = (uint32_t)n;
	child_report(&h, s);
	free(s);
	close(fd);
	return 0;
}
