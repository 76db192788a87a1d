/*
 * net.c - the node's TCP connection to its master.
 *
 * The socket stays blocking: application threads and the service thread
 * write whole frames under send_lock; the service thread reads only after
 * poll() said the socket is readable (with MSG_DONTWAIT).  Keepalive and
 * TCP_USER_TIMEOUT make a vanished master show up as an error within about
 * four seconds, so no call waits forever on a dead peer.
 */
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "dsm_log.h"
#include "node.h"

#define CONNECT_TIMEOUT_MS 5000

static void net_tune(int fd)
{
	int one = 1, idle = 1, intvl = 1, cnt = 3;
	unsigned int user_timeout = 4000;

	/* Failures here only cost latency or detection time: not fatal. */
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof(one));
	setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &idle, sizeof(idle));
	setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &intvl, sizeof(intvl));
	setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &cnt, sizeof(cnt));
	setsockopt(fd, IPPROTO_TCP, TCP_USER_TIMEOUT, &user_timeout,
		   sizeof(user_timeout));
}

/*
 * Connect with a bounded wait.  Linux applies SO_SNDTIMEO to a blocking
 * connect() and reports expiry as EINPROGRESS; the timeout is removed again
 * afterwards (TCP_USER_TIMEOUT bounds later writes).
 */
static int connect_bounded(int fd, const struct sockaddr *sa, socklen_t salen)
{
	struct timeval tv = { .tv_sec = CONNECT_TIMEOUT_MS / 1000 };
	int rc;

	if (setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) < 0)
		return -1;
	rc = connect(fd, sa, salen);
	if (rc < 0) {
		if (errno == EINPROGRESS)
			errno = ETIMEDOUT;
		return -1;
	}
	tv.tv_sec = 0;
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	return 0;
}

/*
 * Resolve host and connect to the first address that answers.  Returns the
 * socket, or -1 with errno set and one error line logged.  `peer` receives
 * "host:port" for later messages.
 */
int net_connect(const char *host, uint16_t port, char *peer, size_t peerlen)
{
	struct addrinfo hints = { .ai_family = AF_UNSPEC,
				  .ai_socktype = SOCK_STREAM };
	struct addrinfo *res, *ai;
	char portstr[8];
	int fd = -1, rc, saved = 0;

	snprintf(peer, peerlen, "%s:%u", host, port);
	snprintf(portstr, sizeof(portstr), "%u", port);
	rc = getaddrinfo(host, portstr, &hints, &res);
	if (rc != 0) {
		dsm_err("cannot resolve master host '%s': %s", host,
			gai_strerror(rc));
		errno = EHOSTUNREACH;
		return -1;
	}
	for (ai = res; ai; ai = ai->ai_next) {
		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC,
			    ai->ai_protocol);
		if (fd < 0) {
			saved = errno;
			continue;
		}
		if (connect_bounded(fd, ai->ai_addr, ai->ai_addrlen) == 0)
			break;
		saved = errno;
		close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	if (fd < 0) {
		dsm_err("connect to master %s: %s", peer, strerror(saved));
		errno = saved;
		return -1;
	}
	net_tune(fd);
	return fd;
}

/* Write all of buf; EINTR retried.  0, or -1 with errno. */
int net_write_full(int fd, const void *buf, size_t len)
{
	const uint8_t *p = buf;

	while (len > 0) {
		ssize_t n = send(fd, p, len, MSG_NOSIGNAL);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/*
 * Read exactly len bytes, waiting at most timeout_ms for each chunk.
 * 0, or -1 with errno (ETIMEDOUT, ECONNRESET on EOF, ...).
 */
int net_read_full(int fd, void *buf, size_t len, int timeout_ms)
{
	uint8_t *p = buf;

	while (len > 0) {
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		int r = poll(&pfd, 1, timeout_ms);
		ssize_t n;

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -1;
		if (r == 0) {
			errno = ETIMEDOUT;
			return -1;
		}
		n = recv(fd, p, len, MSG_DONTWAIT);
		if (n < 0) {
			if (errno == EINTR || errno == EAGAIN)
				continue;
			return -1;
		}
		if (n == 0) {
			errno = ECONNRESET;
			return -1;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/*
 * Send one frame (header + payload) in one sendmsg where possible.  Caller
 * holds s->send_lock.  0, or -1 with errno; the caller reports the loss.
 */
int seg_send(struct segment *s, enum dsm_kind kind, uint32_t id,
	     const uint8_t *payload, uint32_t len)
{
	uint8_t hdr[DSM_HDR_LEN];
	struct iovec iov[2] = {
		{ .iov_base = hdr, .iov_len = DSM_HDR_LEN },
		{ .iov_base = (void *)payload, .iov_len = len },
	};
	struct msghdr msg = { .msg_iov = iov, .msg_iovlen = len ? 2 : 1 };
	size_t left = DSM_HDR_LEN + (size_t)len;

	dsm_hdr_put(hdr, kind, id, len);
	while (left > 0) {
		ssize_t n = sendmsg(s->sock, &msg, MSG_NOSIGNAL);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		left -= (size_t)n;
		/* Short write: advance the iovecs past what went out. */
		while (n > 0 && msg.msg_iovlen > 0) {
			size_t take = (size_t)n < msg.msg_iov->iov_len
					      ? (size_t)n
					      : msg.msg_iov->iov_len;
			msg.msg_iov->iov_base = (uint8_t *)msg.msg_iov->iov_base + take;
			msg.msg_iov->iov_len -= take;
			n -= (ssize_t)take;
			if (msg.msg_iov->iov_len == 0) {
				msg.msg_iov++;
				msg.msg_iovlen--;
			}
		}
	}
	return 0;
}
