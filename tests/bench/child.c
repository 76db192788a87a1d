/*
 * child.c - the child side of the driver's pipes, and the socket helpers of
 * the roles.
 *
 * A child never waits forever: the go byte is awaited with a timeout, and
 * EOF on stdin (the driver died or gave up) ends it.  Its fatal errors are
 * one line on stderr naming the role and the failing call, then exit 1.
 */
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "bench.h"

/* How long a ready child waits for the go byte. */
#define GO_TIMEOUT_MS 300000

const char *child_role = "?";

void child_fail(const char *fmt, ...)
{
	char line[512];
	va_list ap;
	int n;

	n = snprintf(line, sizeof(line), "dsm-bench[%s]: ", child_role);
	va_start(ap, fmt);
	vsnprintf(line + n, sizeof(line) - (size_t)n, fmt, ap);
	va_end(ap);
	fprintf(stderr, "%s\n", line);
	exit(1);
}

/*
 * Tell the driver we are set up, then block until it says go.  `value` is
 * passed along (a server's port).
 */
void child_ready(uint32_t value)
{
	uint8_t msg[BENCH_READY_LEN] = { 'R' };
	struct pollfd pfd = { .fd = STDIN_FILENO, .events = POLLIN };
	char go;
	ssize_t n;
	int r;

	memcpy(msg + 1, &value, sizeof(value));
	if (write_full(BENCH_REPORT_FD, msg, sizeof(msg)) < 0)
		child_fail("write(ready): %s", strerror(errno));
	do
		r = poll(&pfd, 1, GO_TIMEOUT_MS);
	while (r < 0 && errno == EINTR);
	if (r <= 0)
		child_fail("no go from the driver within %d s",
			   GO_TIMEOUT_MS / 1000);
	do
		n = read(STDIN_FILENO, &go, 1);
	while (n < 0 && errno == EINTR);
	if (n != 1 || go != 'G')
		child_fail("the driver went away before go");
}

/* Send the report (header + h->n samples) and close the report pipe. */
void child_report(const struct report *h, const double *s)
{
	struct report r = *h;

	r.magic = BENCH_MAGIC;
	if (write_full(BENCH_REPORT_FD, &r, sizeof(r)) < 0 ||
	    (r.n && write_full(BENCH_REPORT_FD, s, r.n * sizeof(*s)) < 0))
		child_fail("write(report): %s", strerror(errno));
	close(BENCH_REPORT_FD);
}

/*
 * The socket options the DSM's node uses (preload/net.c): no Nagle delay,
 * keepalive.  The keepalive settings cost nothing while data flows; they
 * are here so that the baseline sockets are the nodes' sockets.
 */
void child_tune_socket(int fd)
{
	int one = 1, idle = 1, intvl = 1, cnt = 3;
	unsigned int user_timeout = 4000;

	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof(one));
	setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &idle, sizeof(idle));
	setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &intvl, sizeof(intvl));
	setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &cnt, sizeof(cnt));
	setsockopt(fd, IPPROTO_TCP, TCP_USER_TIMEOUT, &user_timeout,
		   sizeof(user_timeout));
}

/* A blocking, tuned TCP connection to host:port; fails the child. */
int child_connect(const char *host, uint16_t port)
{
	struct addrinfo hints = { .ai_family = AF_UNSPEC,
				  .ai_socktype = SOCK_STREAM };
	struct addrinfo *res;
	char ps[8];
	int fd, rc;

	snprintf(ps, sizeof(ps), "%u", port);
	rc = getaddrinfo(host, ps, &hints, &res);
	if (rc != 0)
		child_fail("getaddrinfo(%s): %s", host, gai_strerror(rc));
	fd = socket(res->ai_family, res->ai_socktype | SOCK_CLOEXEC,
		    res->ai_protocol);
	if (fd < 0)
		child_fail("socket: %s", strerror(errno));
	if (connect(fd, res->ai_addr, res->ai_addrlen) < 0)
		child_fail("connect(%s:%u): %s", host, port, strerror(errno));
	freeaddrinfo(res);
	child_tune_socket(fd);
	return fd;
}

/* "host:port" -> host, port; fails the child on a bad spec. */
void child_parse_master(const char *spec, char *host, size_t hostlen,
			uint16_t *port)
{
	const char *colon = strrchr(spec, ':');
	unsigned long p;
	char *end;

	if (!colon || colon == spec || (size_t)(colon - spec) >= hostlen)
		child_fail("bad master address '%s'", spec);
	p = strtoul(colon + 1, &end, 10);
	if (*end || p == 0 || p > 65535)
		child_fail("bad master port in '%s'", spec);
	memcpy(host, spec, (size_t)(colon - spec));
	host[colon - spec] = '\0';
	*port = (uint16_t)p;
}
