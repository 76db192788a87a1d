/*
 * dsm-proxy - a TCP proxy that injects faults between dsm nodes and their
 * master, for tests (docs/FAULTS.md).  Standalone: only include/
 * headers.
 *
 *   dsm-proxy --listen [ADDR:]PORT --to HOST:PORT [options]
 *
 * Nodes connect to the proxy instead of the master; each accepted
 * connection gets its own connection to HOST:PORT.  "up" is node -> master,
 * "down" master -> node.  Once listening it prints one line on stdout,
 *     dsm-proxy: listening on 127.0.0.1:PORT
 * and from then on logs on stderr what it does (accepts, closes, faults).
 * Connections are numbered from 1 in the order they are accepted.
 *
 * Options (each applies to every connection, or only to the K-th with
 * --conn K):
 *   --delay MS            hold every chunk of bytes MS ms in both directions
 *                         (order is kept: the delay is the same for all)
 *   --delay-up MS, --delay-down MS   the same for one direction
 *   --rate-up BYTES, --rate-down BYTES   a slow link: pass on at most BYTES
 *                         bytes a second in that direction; the proxy then
 *                         reads no further ahead than it writes and keeps
 *                         its socket buffers small, so the sender really
 *                         blocks (a release takes long to send)
 *   --cut-after BYTES     close both sides once BYTES bytes went through in
 *                         one direction (whichever gets there first)
 *   --cut-after-up BYTES, --cut-after-down BYTES   the same, one direction
 *   --cut-at KIND[:N]     close both sides when the N-th (default 1st)
 *                         frame of KIND (five letters, e.g. UPDAT, PAGES,
 *                         UNLOW, "PUSH?") of the connection arrives, in
 *                         either direction; no byte of that frame is passed
 *                         on, unless
 *     --cut-mid           its header and half its payload are passed on
 *     --cut-end           the whole frame is passed on (the cut falls
 *                         between it and the next frame)
 *   --stall-at KIND[:N]   at that frame stop forwarding in both directions
 *                         and stop reading, but keep both sockets open (a
 *                         peer that went silent, a partition TCP does not
 *                         see); nothing of that frame is passed on
 *   --conn K              all of the above only for the K-th accepted
 *                         connection; the others pass through untouched
 *   --trace               log every frame header seen ("conn 1 up LOCKW
 *                         id=3 len=16")
 * Signals: SIGUSR1 stalls, SIGUSR2 cuts every (faulty) connection at once;
 * SIGTERM and SIGINT end the proxy (exit 0).
 *
 * Frames are parsed (13-byte header: kind, u32 id, u32 len, big-endian) so
 * that faults fall on frame boundaries; the bytes of a header are held back
 * until the header is complete.  The proxy does not check frames: garbage
 * is passed on as it is.
 *
 * Log lines (stderr), for tests to wait for:
 *   dsm-proxy: conn K from ADDR:PORT
 *   dsm-proxy: cut conn K at KIND #N after B bytes DIR
 *   dsm-proxy: cut conn K at KIND #N (13 + H of its L payload bytes sent)
 *              after B bytes DIR                      (--cut-mid, --cut-end)
 *   dsm-proxy: cut conn K after B bytes DIR           (--cut-after)
 *   dsm-proxy: stalled conn K at KIND #N after B bytes DIR
 *   dsm-proxy: stalled|cut conn K on SIGUSR1|SIGUSR2 after U bytes up, D down
 *   dsm-proxy: conn K closed by the node|master (U bytes up, D down)
 * DIR is the direction of the frame (up, down); B counts the bytes passed
 * on in that direction.
 * Exit status: 0 after SIGTERM/SIGINT, 1 on a start-up failure, 2 on bad
 * usage.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "dsm_wire.h"

#define MAX_PAIRS 256
#define CHUNK 65536
/* Stop reading a side while this much waits to be written to the other. */
#define QUEUE_CAP (8u << 20)
/* The same, and the socket buffers, for a rate-limited direction. */
#define RATE_QUEUE_CAP (64u << 10)
#define NO_STOP UINT64_MAX

enum fault_kind { F_NONE, F_CUT, F_STALL };
enum cut_where { CUT_BEFORE, CUT_MID, CUT_END };

static struct {
	const char *listen_addr;
	uint16_t listen_port;
	struct sockaddr_storage to;
	socklen_t to_len;
	char to_name[300];
	int64_t delay[2];		/* ms, [UP], [DOWN] */
	uint64_t rate[2];		/* bytes/s, 0: no limit */
	uint64_t cut_after[2];		/* bytes, NO_STOP: none */
	enum fault_kind at_fault;	/* --cut-at / --stall-at */
	enum dsm_kind at_kind;
	unsigned at_n;
	enum cut_where cut_where;
	unsigned only_conn;		/* 0: all */
	int trace;
} opt;

enum { UP = 0, DOWN = 1 };
static const char *const dir_name[2] = { "up", "down" };

/* Bytes read from one side, waiting to be written to the other. */
struct chunk {
	struct chunk *next;
	int64_t due;		/* CLOCK_MONOTONIC ms */
	size_t len, pos;	/* data[pos..len) still to write */
	uint8_t data[];
};

/*
 * One direction of a connection: bytes read from `from` go through the
 * frame parser into the queue and are written to `to` when due.
 */
struct dir {
	int from, to;
	struct chunk *head, *tail;
	size_t queued;		/* bytes in the queue */
	uint64_t emitted;	/* stream offset of the next byte queued */
	uint64_t fwd;		/* bytes written to `to` */
	uint64_t stop;		/* pass on no byte at offset >= stop */
	uint8_t hdr[DSM_HDR_LEN];
	size_t hlen;		/* header bytes held back */
	uint64_t payload_left;	/* of the current frame */
	int eof;		/* `from` said EOF (nothing more to read) */
	int shut;		/* `to` shut down for writing */
	int want_out;		/* last write would block: poll POLLOUT */
	int64_t delay;		/* ms (--delay, for this connection) */
	uint64_t rate;		/* bytes/s (--rate), 0: no limit */
	double tokens;		/* --rate: bytes that may go out now */
	int64_t refilled;	/* --rate: when tokens were last added (ms) */
	int64_t next_ok;	/* --rate: no tokens before (ms); 0: any time */
};

enum pair_state { P_OPEN, P_CUTTING, P_STALLING, P_STALLED, P_DEAD };

struct pair {
	unsigned id;
	int faulty;
	enum pair_state state;
	struct dir d[2];
	unsigned nkind[K_NKINDS];	/* frames seen, both directions */
	char why[200];			/* the pending fault, for the log */
	int why_dir;
	int eof_first;			/* direction that saw EOF first, -1 */
};

static struct pair *pairs[MAX_PAIRS];
static int npairs;
static unsigned nconns;

static void logmsg(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void logmsg(const char *fmt, ...)
{
	va_list ap;
	char line[600];
	int n = snprintf(line, sizeof(line), "dsm-proxy: ");

	va_start(ap, fmt);
	vsnprintf(line + n, sizeof(line) - (size_t)n, fmt, ap);
	va_end(ap);
	fprintf(stderr, "%s\n", line);
}

static void usage_exit(const char *fmt, ...)
	__attribute__((format(printf, 1, 2), noreturn));
static void usage_exit(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "dsm-proxy: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\nusage: dsm-proxy --listen [ADDR:]PORT --to HOST:PORT "
		"[--delay MS] [--delay-up MS] [--delay-down MS]\n"
		"         [--rate-up BYTES] [--rate-down BYTES]\n"
		"         [--cut-after BYTES] [--cut-after-up BYTES] "
		"[--cut-after-down BYTES]\n"
		"         [--cut-at KIND[:N] [--cut-mid|--cut-end]] "
		"[--stall-at KIND[:N]] [--conn K] [--trace]\n"
		"(see the top of tests/tools/dsm-proxy.c)\n");
	exit(2);
}

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static uint64_t number(const char *s, const char *what, uint64_t max)
{
	char *end;
	unsigned long long v;

	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || end == s || *end || s[0] == '-' || v > max)
		usage_exit("%s '%s': expected a number from 0 to %llu", what, s,
			   (unsigned long long)max);
	return v;
}

/* KIND[:N] of --cut-at / --stall-at. */
static void parse_at(const char *arg, const char *what)
{
	const char *colon = strchr(arg, ':');
	size_t klen = colon ? (size_t)(colon - arg) : strlen(arg);

	opt.at_kind = klen == 5 ? dsm_kind_parse((const uint8_t *)arg)
				: K_UNKNOWN;
	if (opt.at_kind == K_UNKNOWN)
		usage_exit("%s '%s': unknown frame kind (five letters as in "
			   "docs/PROTOCOL.md, e.g. UPDAT)", what, arg);
	opt.at_n = 1;
	if (colon) {
		opt.at_n = (unsigned)number(colon + 1, what, UINT32_MAX);
		if (opt.at_n == 0)
			usage_exit("%s '%s': frames count from 1", what, arg);
	}
}

/* HOST:PORT of --to, resolved once. */
static void parse_to(const char *arg)
{
	const char *colon = strrchr(arg, ':');
	struct addrinfo hints, *res;
	char host[256];
	int rc;

	if (!colon || colon == arg || (size_t)(colon - arg) >= sizeof(host))
		usage_exit("--to '%s': expected HOST:PORT", arg);
	memcpy(host, arg, (size_t)(colon - arg));
	host[colon - arg] = '\0';
	number(colon + 1, "--to port", 65535);
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	rc = getaddrinfo(host, colon + 1, &hints, &res);
	if (rc != 0)
		usage_exit("--to '%s': %s", arg, gai_strerror(rc));
	memcpy(&opt.to, res->ai_addr, res->ai_addrlen);
	opt.to_len = res->ai_addrlen;
	freeaddrinfo(res);
	snprintf(opt.to_name, sizeof(opt.to_name), "%s", arg);
}

static void parse_args(int argc, char **argv)
{
	int have_listen = 0, have_to = 0, where_set = 0;

	opt.listen_addr = "127.0.0.1";
	opt.cut_after[UP] = opt.cut_after[DOWN] = NO_STOP;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		const char *v = i + 1 < argc ? argv[i + 1] : NULL;

		if (!strcmp(a, "--cut-mid") || !strcmp(a, "--cut-end")) {
			opt.cut_where = a[6] == 'm' ? CUT_MID : CUT_END;
			where_set = 1;
			continue;
		}
		if (strcmp(a, "--trace") == 0) {
			opt.trace = 1;
			continue;
		}
		if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
			printf("usage: dsm-proxy --listen [ADDR:]PORT --to "
			       "HOST:PORT [options]\n(see the top of "
			       "tests/tools/dsm-proxy.c and docs/FAULTS.md)\n");
			exit(0);
		}
		if (!v)
			usage_exit("%s needs a value", a);
		if (strcmp(a, "--listen") == 0) {
			static char addr[64];
			const char *colon = strrchr(v, ':');

			if (colon) {
				if ((size_t)(colon - v) >= sizeof(addr))
					usage_exit("--listen '%s': address too "
						   "long", v);
				memcpy(addr, v, (size_t)(colon - v));
				addr[colon - v] = '\0';
				opt.listen_addr = addr;
				v = colon + 1;
			}
			opt.listen_port = (uint16_t)number(v, "--listen port",
							   65535);
			have_listen = 1;
		} else if (strcmp(a, "--to") == 0) {
			parse_to(v);
			have_to = 1;
		} else if (strcmp(a, "--delay") == 0) {
			opt.delay[UP] = opt.delay[DOWN] =
				(int64_t)number(v, a, 600000);
		} else if (strcmp(a, "--delay-up") == 0) {
			opt.delay[UP] = (int64_t)number(v, a, 600000);
		} else if (strcmp(a, "--delay-down") == 0) {
			opt.delay[DOWN] = (int64_t)number(v, a, 600000);
		} else if (strcmp(a, "--rate-up") == 0 ||
			   strcmp(a, "--rate-down") == 0) {
			uint64_t r = number(v, a, UINT32_MAX);

			if (r == 0)
				usage_exit("%s: expected at least 1 byte/s", a);
			opt.rate[a[7] == 'u' ? UP : DOWN] = r;
		} else if (strcmp(a, "--cut-after") == 0) {
			opt.cut_after[UP] = opt.cut_after[DOWN] =
				number(v, a, NO_STOP - 1);
		} else if (strcmp(a, "--cut-after-up") == 0) {
			opt.cut_after[UP] = number(v, a, NO_STOP - 1);
		} else if (strcmp(a, "--cut-after-down") == 0) {
			opt.cut_after[DOWN] = number(v, a, NO_STOP - 1);
		} else if (strcmp(a, "--cut-at") == 0) {
			if (opt.at_fault)
				usage_exit("one of --cut-at, --stall-at");
			parse_at(v, a);
			opt.at_fault = F_CUT;
		} else if (strcmp(a, "--stall-at") == 0) {
			if (opt.at_fault)
				usage_exit("one of --cut-at, --stall-at");
			parse_at(v, a);
			opt.at_fault = F_STALL;
		} else if (strcmp(a, "--conn") == 0) {
			opt.only_conn = (unsigned)number(v, a, UINT32_MAX);
			if (opt.only_conn == 0)
				usage_exit("--conn: connections count from 1");
		} else {
			usage_exit("unknown option '%s'", a);
		}
		i++;
	}
	if (!have_listen || !have_to)
		usage_exit("--listen and --to are required");
	if (where_set && opt.at_fault != F_CUT)
		usage_exit("--cut-mid and --cut-end go with --cut-at");
}

static void set_nonblock(int fd)
{
	int fl = fcntl(fd, F_GETFL);

	if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0) {
		logmsg("fcntl(O_NONBLOCK): %s", strerror(errno));
		exit(1);
	}
}

static void queue_free(struct dir *d)
{
	struct chunk *c;

	while ((c = d->head) != NULL) {
		d->head = c->next;
		free(c);
	}
	d->tail = NULL;
	d->queued = 0;
}

/* Close both sockets; the pair is freed after the poll pass. */
static void pair_kill(struct pair *p)
{
	if (p->state == P_DEAD)
		return;
	close(p->d[UP].from);
	close(p->d[DOWN].from);
	queue_free(&p->d[UP]);
	queue_free(&p->d[DOWN]);
	p->state = P_DEAD;
}

/* Append bytes at the stream offsets [emitted, emitted + n), dropping
 * those at or past the direction's stop offset. */
static void emit(struct pair *p, int dn, const uint8_t *b, size_t n)
{
	struct dir *d = &p->d[dn];
	struct chunk *c;

	if (d->emitted >= d->stop) {
		d->emitted += n;
		return;
	}
	if (d->stop - d->emitted < n) {
		uint64_t keep = d->stop - d->emitted;

		d->emitted += n - keep;
		n = (size_t)keep;
	}
	if (n == 0)
		return;
	c = malloc(sizeof(*c) + n);
	if (!c) {
		logmsg("out of memory");
		exit(1);
	}
	c->next = NULL;
	c->due = now_ms() + d->delay;
	c->len = n;
	c->pos = 0;
	memcpy(c->data, b, n);
	if (d->tail)
		d->tail->next = c;
	else
		d->head = c;
	d->tail = c;
	d->queued += n;
	d->emitted += n;
}

/*
 * The fault of --cut-at/--stall-at fires on a frame of direction dn whose
 * header starts at stream offset `start`: set where its bytes stop and
 * stop everything else.  The log line is written once the bytes before
 * the stop have gone out.
 */
static void fault_fire(struct pair *p, int dn, uint64_t start, uint32_t len,
		       const char *kname, unsigned n)
{
	struct dir *d = &p->d[dn];
	uint64_t keep = 0;

	if (opt.at_fault == F_CUT && opt.cut_where == CUT_MID)
		keep = DSM_HDR_LEN + len / 2;
	else if (opt.at_fault == F_CUT && opt.cut_where == CUT_END)
		keep = DSM_HDR_LEN + (uint64_t)len;
	if (start + keep < d->stop)
		d->stop = start + keep;
	snprintf(p->why, sizeof(p->why), "at %s #%u", kname, n);
	if (opt.at_fault == F_CUT && opt.cut_where != CUT_BEFORE) {
		size_t w = strlen(p->why);

		snprintf(p->why + w, sizeof(p->why) - w,
			 " (13 + %llu of its %u payload bytes sent)",
			 (unsigned long long)(keep - DSM_HDR_LEN), len);
	}
	p->why_dir = dn;
	/* The other direction stops at once: a cut drops what it had. */
	queue_free(&p->d[!dn]);
	p->d[!dn].stop = p->d[!dn].emitted;
	p->state = opt.at_fault == F_CUT ? P_CUTTING : P_STALLING;
}

/* A complete frame header of direction dn at stream offset `start`. */
static void on_header(struct pair *p, int dn, uint64_t start)
{
	const uint8_t *h = p->d[dn].hdr;
	enum dsm_kind k = dsm_kind_parse(h);
	uint32_t id = get_u32(h + 5), len = get_u32(h + 9);
	char kname[6];

	memcpy(kname, h, 5);
	for (int i = 0; i < 5; i++)
		if (kname[i] < 0x20 || kname[i] > 0x7e)
			kname[i] = '.';
	kname[5] = '\0';
	if (opt.trace)
		logmsg("conn %u %s %s id=%u len=%u", p->id, dir_name[dn], kname,
		       id, len);
	p->nkind[k]++;
	if (p->faulty && p->state == P_OPEN && opt.at_fault != F_NONE &&
	    k == opt.at_kind && p->nkind[k] == opt.at_n)
		fault_fire(p, dn, start, len, kname, opt.at_n);
}

/*
 * Feed n bytes read in direction dn through the frame parser into the
 * queue.  Header bytes are held back until the header is complete, so a
 * fault decided on a header never comes after part of it was sent.
 */
static void parse(struct pair *p, int dn, const uint8_t *b, size_t n)
{
	struct dir *d = &p->d[dn];

	while (n > 0) {
		if (d->payload_left > 0) {
			size_t k = d->payload_left < n ?
				   (size_t)d->payload_left : n;

			emit(p, dn, b, k);
			d->payload_left -= k;
			b += k;
			n -= k;
			continue;
		}
		size_t k = DSM_HDR_LEN - d->hlen;

		if (k > n)
			k = n;
		memcpy(d->hdr + d->hlen, b, k);
		d->hlen += k;
		b += k;
		n -= k;
		if (d->hlen == DSM_HDR_LEN) {
			uint64_t start = d->emitted;

			d->payload_left = get_u32(d->hdr + 9);
			on_header(p, dn, start);
			emit(p, dn, d->hdr, DSM_HDR_LEN);
			d->hlen = 0;
		}
	}
}

/* Read what `from` has for direction dn.  -1 if the pair died. */
static int pair_read(struct pair *p, int dn)
{
	struct dir *d = &p->d[dn];
	uint8_t buf[CHUNK];
	ssize_t n = recv(d->from, buf, sizeof(buf), 0);

	if (n < 0) {
		if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
			return 0;
		logmsg("conn %u closed: %s by the %s (%llu bytes up, %llu "
		       "down)", p->id, strerror(errno),
		       dn == UP ? "node" : "master",
		       (unsigned long long)p->d[UP].fwd,
		       (unsigned long long)p->d[DOWN].fwd);
		pair_kill(p);
		return -1;
	}
	if (n == 0) {
		/* Held-back bytes of a truncated header go as they are. */
		if (d->hlen > 0)
			emit(p, dn, d->hdr, d->hlen);
		d->hlen = 0;
		d->eof = 1;
		if (p->eof_first < 0)
			p->eof_first = dn;
		return 0;
	}
	parse(p, dn, buf, (size_t)n);
	return 0;
}

/* Write the due chunks of direction dn.  -1 if the pair died. */
static int pair_write(struct pair *p, int dn, int64_t now)
{
	struct dir *d = &p->d[dn];
	struct chunk *c;

	d->want_out = 0;
	d->next_ok = 0;
	while ((c = d->head) != NULL && c->due <= now) {
		size_t len = c->len - c->pos;
		ssize_t n;

		if (d->rate) {
			/* Token bucket: at most a tenth of a second's worth
			 * saved up, so the link stays slow at any scale. */
			double cap = (double)d->rate / 10 + 1;

			d->tokens += (double)d->rate *
				     (double)(now - d->refilled) / 1000;
			if (d->tokens > cap)
				d->tokens = cap;
			d->refilled = now;
			if (d->tokens < 1) {
				d->next_ok = now + 1 + (int64_t)((1 - d->tokens) *
						1000 / (double)d->rate);
				return 0;
			}
			if ((double)len > d->tokens)
				len = (size_t)d->tokens;
		}
		n = send(d->to, c->data + c->pos, len, MSG_NOSIGNAL);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK) {
				d->want_out = 1;
				return 0;
			}
			logmsg("conn %u closed: send to the %s: %s (%llu bytes "
			       "up, %llu down)", p->id,
			       dn == UP ? "master" : "node", strerror(errno),
			       (unsigned long long)p->d[UP].fwd,
			       (unsigned long long)p->d[DOWN].fwd);
			pair_kill(p);
			return -1;
		}
		if (d->rate)
			d->tokens -= (double)n;
		c->pos += (size_t)n;
		d->fwd += (uint64_t)n;
		d->queued -= (size_t)n;
		if (c->pos == c->len) {
			d->head = c->next;
			if (!d->head)
				d->tail = NULL;
			free(c);
		}
	}
	return 0;
}

/*
 * After reads and writes: carry out a pending fault whose bytes have gone
 * out, half-close after EOF, and close a pair whose both directions ended.
 */
static void pair_settle(struct pair *p)
{
	struct dir *u = &p->d[UP], *dn = &p->d[DOWN];

	if (p->state == P_DEAD || p->state == P_STALLED)
		return;
	for (int i = 0; i < 2 && p->state == P_OPEN; i++) {
		struct dir *d = &p->d[i];

		if (d->stop != NO_STOP && d->fwd >= d->stop && !d->head) {
			snprintf(p->why, sizeof(p->why), "%s", "");
			p->why_dir = i;
			p->state = P_CUTTING;
		}
	}
	if (p->state == P_CUTTING || p->state == P_STALLING) {
		struct dir *d = &p->d[p->why_dir];

		/* Wait for the bytes before the stop (a --cut-mid may still
		 * need to read the rest of its half frame). */
		if (d->head || (d->fwd < d->stop && !d->eof))
			return;
		if (p->state == P_CUTTING) {
			logmsg("cut conn %u%s%s after %llu bytes %s", p->id,
			       p->why[0] ? " " : "", p->why,
			       (unsigned long long)d->fwd,
			       dir_name[p->why_dir]);
			pair_kill(p);
		} else {
			logmsg("stalled conn %u %s after %llu bytes %s", p->id,
			       p->why, (unsigned long long)d->fwd,
			       dir_name[p->why_dir]);
			p->state = P_STALLED;
		}
		return;
	}
	for (int i = 0; i < 2; i++) {
		struct dir *d = &p->d[i];

		if (d->eof && !d->head && !d->shut) {
			shutdown(d->to, SHUT_WR);
			d->shut = 1;
		}
	}
	if (u->shut && dn->shut) {
		logmsg("conn %u closed by the %s (%llu bytes up, %llu down)",
		       p->id, p->eof_first == DOWN ? "master" : "node",
		       (unsigned long long)u->fwd, (unsigned long long)dn->fwd);
		pair_kill(p);
	}
}

/* SIGUSR1 (stall) / SIGUSR2 (cut) on every faulty connection now. */
static void fault_now(int stall)
{
	for (int i = 0; i < npairs; i++) {
		struct pair *p = pairs[i];

		if (!p->faulty || (p->state != P_OPEN))
			continue;
		if (stall) {
			queue_free(&p->d[UP]);
			queue_free(&p->d[DOWN]);
			p->state = P_STALLED;
			logmsg("stalled conn %u on SIGUSR1 after %llu bytes up, "
			       "%llu down", p->id,
			       (unsigned long long)p->d[UP].fwd,
			       (unsigned long long)p->d[DOWN].fwd);
		} else {
			logmsg("cut conn %u on SIGUSR2 after %llu bytes up, "
			       "%llu down", p->id,
			       (unsigned long long)p->d[UP].fwd,
			       (unsigned long long)p->d[DOWN].fwd);
			pair_kill(p);
		}
	}
}

/*
 * A rate-limited direction keeps small socket buffers on both of its
 * sockets, so that the sender blocks instead of the kernels holding
 * megabytes for it (the receive buffer of the accepted socket is set on
 * the listening one, before the handshake, in listen_on).
 */
static void small_buffers(int cfd, int sfd)
{
	int sz = (int)RATE_QUEUE_CAP;

	if (opt.rate[UP])
		setsockopt(sfd, SOL_SOCKET, SO_SNDBUF, &sz, sizeof(sz));
	if (opt.rate[DOWN]) {
		setsockopt(cfd, SOL_SOCKET, SO_SNDBUF, &sz, sizeof(sz));
		setsockopt(sfd, SOL_SOCKET, SO_RCVBUF, &sz, sizeof(sz));
	}
}

static void accept_one(int lfd)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	char host[INET6_ADDRSTRLEN] = "?", serv[8] = "?";
	int cfd = accept4(lfd, (struct sockaddr *)&ss, &sl, SOCK_CLOEXEC);
	int sfd, one = 1, faulty;
	struct pair *p;

	if (cfd < 0) {
		if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED)
			logmsg("accept: %s", strerror(errno));
		return;
	}
	getnameinfo((struct sockaddr *)&ss, sl, host, sizeof(host), serv,
		    sizeof(serv), NI_NUMERICHOST | NI_NUMERICSERV);
	nconns++;
	faulty = opt.only_conn == 0 || opt.only_conn == nconns;
	logmsg("conn %u from %s:%s", nconns, host, serv);
	if (npairs == MAX_PAIRS) {
		logmsg("conn %u: too many connections (%d); closing it",
		       nconns, MAX_PAIRS);
		close(cfd);
		return;
	}
	/* A blocking connect: the master is near (loopback or a test host). */
	sfd = socket(opt.to.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (sfd < 0 ||
	    connect(sfd, (struct sockaddr *)&opt.to, opt.to_len) < 0) {
		logmsg("conn %u: connect(%s): %s; closing it", nconns,
		       opt.to_name, strerror(errno));
		if (sfd >= 0)
			close(sfd);
		close(cfd);
		return;
	}
	setsockopt(cfd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	setsockopt(sfd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (faulty)
		small_buffers(cfd, sfd);
	set_nonblock(cfd);
	set_nonblock(sfd);
	p = calloc(1, sizeof(*p));
	if (!p) {
		logmsg("out of memory");
		exit(1);
	}
	p->id = nconns;
	p->faulty = faulty;
	p->state = P_OPEN;
	p->eof_first = -1;
	p->d[UP].from = cfd;
	p->d[UP].to = sfd;
	p->d[DOWN].from = sfd;
	p->d[DOWN].to = cfd;
	for (int i = 0; i < 2; i++) {
		p->d[i].stop = p->faulty ? opt.cut_after[i] : NO_STOP;
		p->d[i].refilled = now_ms();
		p->d[i].delay = p->faulty ? opt.delay[i] : 0;
		p->d[i].rate = p->faulty ? opt.rate[i] : 0;
	}
	pairs[npairs++] = p;
}

static int listen_on(void)
{
	struct sockaddr_in sa;
	socklen_t sl = sizeof(sa);
	int one = 1, fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_port = htons(opt.listen_port);
	if (inet_pton(AF_INET, opt.listen_addr, &sa.sin_addr) != 1)
		usage_exit("--listen: '%s' is not an IPv4 address",
			   opt.listen_addr);
	if (fd < 0) {
		logmsg("socket: %s", strerror(errno));
		exit(1);
	}
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (opt.rate[UP]) {
		int sz = (int)RATE_QUEUE_CAP;

		setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &sz, sizeof(sz));
	}
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    listen(fd, 64) < 0 ||
	    getsockname(fd, (struct sockaddr *)&sa, &sl) < 0) {
		logmsg("listen on %s:%u: %s", opt.listen_addr,
		       (unsigned)opt.listen_port, strerror(errno));
		exit(1);
	}
	set_nonblock(fd);
	printf("dsm-proxy: listening on %s:%u\n", opt.listen_addr,
	       (unsigned)ntohs(sa.sin_port));
	fflush(stdout);
	return fd;
}

/* Free the pairs that died in this pass (never inside their handlers). */
static void reap(void)
{
	int j = 0;

	for (int i = 0; i < npairs; i++) {
		if (pairs[i]->state == P_DEAD)
			free(pairs[i]);
		else
			pairs[j++] = pairs[i];
	}
	npairs = j;
}

/* What the main loop polls: the signalfd, the listening socket, then one
 * entry per side of each live pair (owner/owner_dir say which). */
struct pollset {
	struct pollfd pfd[2 + 2 * MAX_PAIRS];
	struct pair *owner[2 + 2 * MAX_PAIRS];
	int owner_dir[2 + 2 * MAX_PAIRS];
	int n;
};

/* Fill ps for this pass; returns the poll timeout in ms (-1: none). */
static int pollset_build(struct pollset *ps, int sfd, int lfd, int64_t now)
{
	int64_t next = -1;

	ps->n = 0;
	ps->pfd[ps->n++] = (struct pollfd){ .fd = sfd, .events = POLLIN };
	ps->pfd[ps->n++] = (struct pollfd){ .fd = lfd, .events = POLLIN };
	for (int i = 0; i < npairs; i++) {
		struct pair *p = pairs[i];

		if (p->state == P_STALLED)
			continue;
		for (int dn = 0; dn < 2; dn++) {
			struct dir *d = &p->d[dn], *o = &p->d[!dn];
			size_t cap = d->rate ? RATE_QUEUE_CAP : QUEUE_CAP;
			short ev = 0;

			/* Read while the bytes can still go somewhere (a cut
			 * half-way through a frame needs the rest of its
			 * half). */
			if (!d->eof && d->queued < cap &&
			    (p->state == P_OPEN || d->emitted < d->stop))
				ev |= POLLIN;
			/* d->from is o->to. */
			if (o->head && o->want_out)
				ev |= POLLOUT;
			if (o->head && !o->want_out) {
				int64_t t = o->head->due > o->next_ok ?
					    o->head->due : o->next_ok;

				if (next < 0 || t < next)
					next = t;
			}
			ps->owner[ps->n] = p;
			ps->owner_dir[ps->n] = dn;
			ps->pfd[ps->n++] = (struct pollfd){
				.fd = ev ? d->from : -1, .events = ev };
		}
	}
	return next < 0 ? -1 : next <= now ? 0 : (int)(next - now);
}

/* Handle the queued signals; 1 when the proxy must stop. */
static int on_signals(int sfd)
{
	struct signalfd_siginfo si;

	while (read(sfd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
		if (si.ssi_signo == SIGUSR1 || si.ssi_signo == SIGUSR2) {
			fault_now(si.ssi_signo == SIGUSR1);
			continue;
		}
		logmsg("stopping on signal %u", si.ssi_signo);
		return 1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	static struct pollset ps;
	sigset_t mask;
	int lfd, sfd;

	parse_args(argc, argv);
	setvbuf(stderr, NULL, _IOLBF, 0);
	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGUSR1);
	sigaddset(&mask, SIGUSR2);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	signal(SIGPIPE, SIG_IGN);
	sfd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
	if (sfd < 0) {
		logmsg("signalfd: %s", strerror(errno));
		return 1;
	}
	lfd = listen_on();

	for (;;) {
		int timeout = pollset_build(&ps, sfd, lfd, now_ms());
		int64_t now;

		if (poll(ps.pfd, (nfds_t)ps.n, timeout) < 0) {
			if (errno == EINTR)
				continue;
			logmsg("poll: %s", strerror(errno));
			return 1;
		}
		if (ps.pfd[0].revents && on_signals(sfd))
			return 0;
		if (ps.pfd[1].revents & POLLIN)
			accept_one(lfd);
		for (int i = 2; i < ps.n; i++) {
			struct pair *p = ps.owner[i];

			if (p->state == P_DEAD || p->state == P_STALLED)
				continue;
			if ((ps.pfd[i].events & POLLIN) &&
			    (ps.pfd[i].revents & (POLLIN | POLLHUP | POLLERR)))
				pair_read(p, ps.owner_dir[i]);
		}
		now = now_ms();
		for (int i = 0; i < npairs; i++) {
			struct pair *p = pairs[i];

			for (int dn = 0; dn < 2; dn++)
				if (p->state != P_DEAD && p->state != P_STALLED &&
				    p->d[dn].head)
					pair_write(p, dn, now);
			pair_settle(p);
		}
		reap();
	}
}
