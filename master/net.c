/*
 * net.c - the listening socket and accepting nodes (Redis anet style:
 * every failing call is named in the log line).
 */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "dsm_log.h"
#include "master_int.h"

/* Accepts per wake-up of the listening socket. */
#define ACCEPT_BATCH 16
/* At most one "out of descriptors" line per this many milliseconds. */
#define ACCEPT_LOG_EVERY_MS 5000

/* "ADDR:PORT" (IPv4) or "[ADDR]:PORT" (IPv6); `host` gets ADDR alone. */
static void addr_text(const struct sockaddr *sa, socklen_t len, char *out,
		      size_t outlen, char *host, size_t hostlen,
		      uint16_t *port)
{
	char h[64], s[8];
	int rc = getnameinfo(sa, len, h, sizeof(h), s, sizeof(s),
			     NI_NUMERICHOST | NI_NUMERICSERV);

	if (rc != 0) {
		snprintf(h, sizeof(h), "?");
		snprintf(s, sizeof(s), "0");
	}
	if (sa->sa_family == AF_INET6)
		snprintf(out, outlen, "[%s]:%s", h, s);
	else
		snprintf(out, outlen, "%s:%s", h, s);
	if (host)
		snprintf(host, hostlen, "%s", h);
	if (port)
		*port = (uint16_t)atoi(s);
}

/* 1 if sa is a loopback address (127.0.0.0/8, ::1, ::ffff:127.x.y.z). */
static int is_loopback(const struct sockaddr *sa)
{
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *in = (const void *)sa;

		return (ntohl(in->sin_addr.s_addr) >> 24) == 127;
	}
	if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const void *)sa;
		const uint8_t *b = in6->sin6_addr.s6_addr;

		return IN6_IS_ADDR_LOOPBACK(&in6->sin6_addr) ||
		       (IN6_IS_ADDR_V4MAPPED(&in6->sin6_addr) && b[12] == 127);
	}
	return 0;
}

/*
 * Bind and listen on addr:port (addr: numeric or a host name; port 0 picks
 * one).  Sets m->lfd, m->port, m->listen_addr and m->listen_loopback.  -1
 * with errno on failure, after one log line naming the call.
 */
int mnet_listen(struct master *m, const char *addr, uint16_t port)
{
	struct addrinfo hints, *res = NULL, *ai;
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	char portstr[8], full[128];
	int rc, fd = -1, err = 0;
	const char *failed = "socket";

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE;
	snprintf(portstr, sizeof(portstr), "%u", port);
	rc = getaddrinfo(addr, portstr, &hints, &res);
	if (rc != 0) {
		dsm_err("getaddrinfo(%s): %s", addr, gai_strerror(rc));
		errno = EINVAL;
		return -1;
	}
	for (ai = res; ai; ai = ai->ai_next) {
		int one = 1;

		fd = socket(ai->ai_family,
			    ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC,
			    ai->ai_protocol);
		if (fd < 0) {
			failed = "socket";
			err = errno;
			continue;
		}
		if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one,
			       sizeof(one)) < 0) {
			failed = "setsockopt(SO_REUSEADDR)";
		} else if (bind(fd, ai->ai_addr, ai->ai_addrlen) < 0) {
			failed = "bind";
		} else if (listen(fd, SOMAXCONN) < 0) {
			failed = "listen";
		} else {
			break;
		}
		err = errno;
		close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	if (fd < 0) {
		dsm_err("%s(%s port %u): %s", failed, addr, port,
			strerror(err));
		errno = err;
		return -1;
	}
	if (getsockname(fd, (struct sockaddr *)&ss, &sl) < 0) {
		err = errno;
		dsm_err("getsockname(listening socket): %s", strerror(err));
		close(fd);
		errno = err;
		return -1;
	}
	addr_text((struct sockaddr *)&ss, sl, full, sizeof(full),
		  m->listen_addr, sizeof(m->listen_addr), &m->port);
	m->listen_loopback = is_loopback((struct sockaddr *)&ss);
	m->lfd = fd;
	return 0;
}

/*
 * Options of an accepted node socket: no Nagle delay (every frame is a
 * request or answer someone waits for), and keepalive probes so that a node
 * that vanished without a FIN (power loss, cable) is noticed in ~5 s, also
 * while data to it is unacknowledged.
 */
static void net_tune(int fd, const char *peer)
{
	static const struct {
		int level, name, value;
		const char *text;
	} opts[] = {
		{ IPPROTO_TCP, TCP_NODELAY, 1, "TCP_NODELAY" },
		{ SOL_SOCKET, SO_KEEPALIVE, 1, "SO_KEEPALIVE" },
		{ IPPROTO_TCP, TCP_KEEPIDLE, 2, "TCP_KEEPIDLE" },
		{ IPPROTO_TCP, TCP_KEEPINTVL, 1, "TCP_KEEPINTVL" },
		{ IPPROTO_TCP, TCP_KEEPCNT, 3, "TCP_KEEPCNT" },
		/* Unacknowledged output: give up on the node after 10 s. */
		{ IPPROTO_TCP, TCP_USER_TIMEOUT, 10000, "TCP_USER_TIMEOUT" },
	};

	for (size_t i = 0; i < sizeof(opts) / sizeof(opts[0]); i++)
		if (setsockopt(fd, opts[i].level, opts[i].name,
			       &opts[i].value, sizeof(opts[i].value)) < 0)
			dsm_warn("setsockopt(%s) for %s: %s", opts[i].text,
				 peer, strerror(errno));
}

/* Stop watching the listening socket for a moment (out of descriptors). */
static void accept_pause(struct master *m)
{
	struct epoll_event e;
	int64_t now = mmaster_now_ms();

	memset(&e, 0, sizeof(e));
	e.data.ptr = &m->w_listen;
	if (epoll_ctl(m->epfd, EPOLL_CTL_MOD, m->lfd, &e) < 0)
		dsm_warn("epoll_ctl(MOD) for the listening socket: %s",
			 strerror(errno));
	m->accept_paused = 1;
	m->accept_resume_ms = now + MASTER_ACCEPT_PAUSE_MS;
}

/* Watch the listening socket again once the pause is over. */
void mnet_accept_resume(struct master *m)
{
	struct epoll_event e;

	if (!m->accept_paused || mmaster_now_ms() < m->accept_resume_ms)
		return;
	memset(&e, 0, sizeof(e));
	e.events = EPOLLIN;
	e.data.ptr = &m->w_listen;
	if (epoll_ctl(m->epfd, EPOLL_CTL_MOD, m->lfd, &e) < 0)
		dsm_warn("epoll_ctl(MOD) for the listening socket: %s",
			 strerror(errno));
	m->accept_paused = 0;
}

/*
 * Out of descriptors: give the spare one back to accept one waiting
 * connection, tell it why in an ERROR (DSM_EBUSY) and close it, so that a
 * node fails at once with the reason instead of timing out at join; then
 * take the spare again.  The frame is tiny: one send on a fresh socket.
 */
static void accept_refuse_one(struct master *m)
{
	static const char why[] = "the master is out of file descriptors "
				  "(Too many open files): try later, or raise "
				  "its limit (ulimit -n)";
	uint8_t f[DSM_HDR_LEN + 4 + sizeof(why) - 1];
	int fd;

	if (m->spare_fd < 0)
		return;
	close(m->spare_fd);
	fd = accept4(m->lfd, NULL, NULL, SOCK_CLOEXEC);
	if (fd >= 0) {
		dsm_hdr_put(f, K_ERROR, 0, 4 + sizeof(why) - 1);
		put_u32(f + DSM_HDR_LEN, (uint32_t)-DSM_EBUSY);
		memcpy(f + DSM_HDR_LEN + 4, why, sizeof(why) - 1);
		uint8_t sink[256];

		(void)!send(fd, f, sizeof(f), MSG_NOSIGNAL | MSG_DONTWAIT);
		/* FIN after the frame; unread input (its JOIN?) would make
		 * close() send RST, which may destroy the frame unread. */
		shutdown(fd, SHUT_WR);
		while (recv(fd, sink, sizeof(sink), MSG_DONTWAIT) > 0)
			;
		close(fd);
	}
	m->spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
}

/*
 * Accept waiting connections (a bounded batch).  Running out of file
 * descriptors is logged at most every few seconds, refuses one waiting
 * node with the reason (accept_refuse_one) and pauses accepting briefly
 * (the level-triggered listening socket would otherwise spin); the nodes
 * already connected are served meanwhile.
 */
void mnet_accept(struct master *m)
{
	for (int i = 0; i < ACCEPT_BATCH; i++) {
		struct sockaddr_storage ss;
		socklen_t sl = sizeof(ss);
		char peer[80];
		int fd = accept4(m->lfd, (struct sockaddr *)&ss, &sl,
				 SOCK_NONBLOCK | SOCK_CLOEXEC);

		if (fd < 0) {
			int64_t now;

			switch (errno) {
			case EINTR:
			case ECONNABORTED:
			case EPROTO:
				continue;
			case EAGAIN:
#if EAGAIN != EWOULDBLOCK
			case EWOULDBLOCK:
#endif
				return;
			case EMFILE:
			case ENFILE:
			case ENOBUFS:
			case ENOMEM:
				now = mmaster_now_ms();
				if (m->accept_logged_ms == 0 ||
				    now - m->accept_logged_ms >=
				    ACCEPT_LOG_EVERY_MS) {
					dsm_err("accept: %s: new nodes are "
						"refused until connections close "
						"(raise the limit with ulimit -n)",
						strerror(errno));
					m->accept_logged_ms = now;
				}
				if (errno == EMFILE || errno == ENFILE)
					accept_refuse_one(m);
				accept_pause(m);
				return;
			default:
				dsm_err("accept: %s", strerror(errno));
				accept_pause(m);
				return;
			}
		}
		addr_text((struct sockaddr *)&ss, sl, peer, sizeof(peer),
			  NULL, 0, NULL);
		net_tune(fd, peer);
		if (!mconn_new(m, fd, peer)) {
			close(fd);
			continue;
		}
		dsm_debug("connection from %s", peer);
	}
}
