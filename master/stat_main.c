/*
 * stat_main.c - dsm-stat, the statistics client of a dsm master.
 *
 *   dsm-stat HOST:PORT [--json] [--top N]
 *
 * Joins the master as a statistics client (JOIN? flag DSM_JOIN_MONITOR: not
 * a node, never counted, no copyset, no locks), going through the AUTH
 * exchange when the master has a secret (DSM_SECRET_FILE, as for nodes),
 * asks STAT?, prints the answer as tables or JSON, and leaves (DECO?).  It
 * answers the master's PING? while it waits.  Exit 0, 1 when the master
 * cannot be reached, refuses or breaks the protocol, 2 on bad usage.
 *
 * The frame layouts are in docs/PROTOCOL.md ("Statistics"); this is its own
 * small blocking client and links only the crypto of the handshake
 * (preload/secret.c, preload/sha256.c), not the node runtime.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "dsm.h"
#include "dsm_crypto.h"
#include "dsm_wire.h"

/* Bound of the whole exchange, and of leaving once the answer is in. */
#define STAT_TIMEOUT_MS 10000
#define STAT_LEAVE_MS 2000
#define STAT_DEFAULT_TOP 5u

#define ID_JOIN 1u
#define ID_STAT 2u
#define ID_DECO 3u

static const char *const counter_keys[DSM_STAT_NODE_COUNTERS] = {
	"pages_served", "invalidations", "diff_bytes", "lock_requests",
	"lock_waits", "lock_wait_us", "releases",
};
/* The wait time: microseconds on the wire, milliseconds in the table. */
#define WAIT_COUNTER 5

static const char *const counter_heads[DSM_STAT_NODE_COUNTERS] = {
	"PAGES", "INVALS", "DIFF_BYTES", "LOCK_REQS", "WAITS", "WAIT_MS",
	"RELEASES",
};

struct node_row {
	uint32_t id;
	char peer[256];
	uint64_t c[DSM_STAT_NODE_COUNTERS];
};

struct page_row {
	uint64_t off, fetches, invals, diff_bytes, flushes;
	uint32_t writers;
};

struct stats {
	uint32_t page_size, njoined, nlisted, nhot, nfalse;
	uint64_t size, uptime_ms, ndeparted;
	uint64_t departed[DSM_STAT_NODE_COUNTERS];
	uint64_t total[DSM_STAT_NODE_COUNTERS];
	struct node_row *nodes;
	struct page_row *hot, *fls;
};

/* The connection to the master. */
struct client {
	int fd;
	char addr[300];		/* HOST:PORT as given, for messages */
	int64_t deadline_ms;
	struct dsm_secret secret;
};

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2),
						      noreturn));
static void die(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "dsm-stat: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(1);
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage: dsm-stat HOST:PORT [--json] [--top N]\n"
		"\n"
		"Show the live statistics of a dsm master: per node, pages "
		"served,\n"
		"invalidations, diff bytes, lock requests and waits, releases; "
		"the\n"
		"hottest pages and the falsely shared ones (written by several "
		"nodes\n"
		"at once: lay their data out in different pages).\n"
		"\n"
		"  HOST:PORT   the master (an IPv6 address as [ADDR]:PORT)\n"
		"  --json      one JSON object instead of tables\n"
		"  --top N     pages per list, 0 to %u (default %u)\n"
		"  --help      this text\n"
		"\n"
		"With a master started with --secret-file, set "
		"DSM_SECRET_FILE=FILE\n"
		"as for nodes.  dsm-stat is not a node: it is not counted.\n"
		"Exit status: 0, 1 on failure, 2 on bad usage.\n",
		DSM_STAT_TOP_MAX, STAT_DEFAULT_TOP);
}

static void bad_usage(const char *fmt, const char *arg)
{
	fprintf(stderr, "dsm-stat: ");
	fprintf(stderr, fmt, arg);
	fprintf(stderr, "\nTry 'dsm-stat --help'.\n");
	exit(2);
}

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Split "host:port" or "[v6]:port"; bad usage otherwise. */
static void parse_addr(const char *arg, char *host, size_t hostlen,
		       char *port, size_t portlen)
{
	const char *colon, *h = arg;
	size_t n;
	char *end;
	unsigned long v;

	if (arg[0] == '[') {
		const char *close = strchr(arg, ']');

		if (!close || close[1] != ':')
			bad_usage("'%s': expected [ADDR]:PORT", arg);
		h = arg + 1;
		n = (size_t)(close - h);
		colon = close + 1;
	} else {
		colon = strrchr(arg, ':');
		if (!colon || strchr(arg, ':') != colon)
			bad_usage("'%s': expected HOST:PORT (an IPv6 address "
				  "as [ADDR]:PORT)", arg);
		n = (size_t)(colon - arg);
	}
	if (n == 0 || n >= hostlen)
		bad_usage("'%s': bad host", arg);
	memcpy(host, h, n);
	host[n] = '\0';
	errno = 0;
	v = strtoul(colon + 1, &end, 10);
	if (errno || end == colon + 1 || *end || v == 0 || v > 65535 ||
	    colon[1] == '-' || colon[1] == '+')
		bad_usage("'%s': the port must be 1 to 65535", arg);
	snprintf(port, portlen, "%lu", v);
}

static void set_timeout(int fd, int ms)
{
	struct timeval tv = { .tv_sec = ms / 1000,
			      .tv_usec = (ms % 1000) * 1000 };

	/* On Linux SO_SNDTIMEO also bounds connect(2). */
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
}

static void cl_connect(struct client *cl, const char *host, const char *port)
{
	struct addrinfo hints, *res, *ai;
	int rc, one = 1, err = 0;

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	rc = getaddrinfo(host, port, &hints, &res);
	if (rc != 0)
		die("%s: %s", cl->addr, gai_strerror(rc));
	cl->fd = -1;
	for (ai = res; ai; ai = ai->ai_next) {
		int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC,
				ai->ai_protocol);

		if (fd < 0) {
			err = errno;
			continue;
		}
		set_timeout(fd, STAT_TIMEOUT_MS);
		if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0) {
			cl->fd = fd;
			break;
		}
		err = errno;
		close(fd);
	}
	freeaddrinfo(res);
	if (cl->fd < 0)
		die("connect to %s: %s", cl->addr, strerror(err));
	setsockopt(cl->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

/* Read exactly n bytes before the deadline; dies on EOF, error, timeout. */
static void cl_read(struct client *cl, uint8_t *buf, size_t n)
{
	while (n > 0) {
		struct pollfd pfd = { .fd = cl->fd, .events = POLLIN };
		int64_t left = cl->deadline_ms - now_ms();
		ssize_t k;
		int rc;

		if (left <= 0)
			die("%s: no answer from the master within %d s",
			    cl->addr, STAT_TIMEOUT_MS / 1000);
		rc = poll(&pfd, 1, (int)left);
		if (rc < 0 && errno == EINTR)
			continue;
		if (rc < 0)
			die("poll: %s", strerror(errno));
		if (rc == 0)
			continue;
		k = read(cl->fd, buf, n);
		if (k < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (k < 0)
			die("%s: read: %s", cl->addr, strerror(errno));
		if (k == 0)
			die("%s: the master closed the connection", cl->addr);
		buf += k;
		n -= (size_t)k;
	}
}

/* Send one frame; dies on error. */
static void cl_send(struct client *cl, enum dsm_kind kind, uint32_t id,
		    const void *payload, uint32_t len)
{
	uint8_t hdr[DSM_HDR_LEN];
	const uint8_t *parts[2] = { hdr, payload };
	size_t lens[2] = { DSM_HDR_LEN, len };

	dsm_hdr_put(hdr, kind, id, len);
	for (int i = 0; i < 2; i++) {
		size_t done = 0;

		while (done < lens[i]) {
			ssize_t k = send(cl->fd, parts[i] + done,
					 lens[i] - done, MSG_NOSIGNAL);

			if (k < 0 && errno == EINTR)
				continue;
			if (k < 0)
				die("%s: send: %s", cl->addr, strerror(errno));
			done += (size_t)k;
		}
	}
}

/*
 * Read the next frame; its payload is malloc'ed (free it).  A PING? is
 * answered and skipped; ERROR and RELEA end the program with the master's
 * reason.
 */
static void cl_frame(struct client *cl, enum dsm_kind *kind, uint32_t *id,
		     uint8_t **body, uint32_t *len)
{
	for (;;) {
		uint8_t hdr[DSM_HDR_LEN];

		cl_read(cl, hdr, sizeof(hdr));
		*kind = dsm_kind_parse(hdr);
		*id = get_u32(hdr + 5);
		*len = get_u32(hdr + 9);
		if (*kind == K_UNKNOWN || *len > DSM_MAX_PAYLOAD)
			die("%s: the peer does not speak the dsm protocol",
			    cl->addr);
		*body = malloc(*len ? *len : 1);
		if (!*body)
			die("out of memory for a %u-byte frame", *len);
		cl_read(cl, *body, *len);
		if (*kind == K_PINGQ) {
			cl_send(cl, K_PINGA, *id, NULL, 0);
		} else if (*kind == K_ERROR && *len >= 4) {
			int n = (int)(*len - 4 > DSM_MAX_ERRMSG ?
				      DSM_MAX_ERRMSG : *len - 4);
			const char *t = (const char *)*body + 4;

			if (memmem(t, (size_t)n, "'STAT?'", 7))
				die("master %s: %.*s (a master without "
				    "statistics: an older version?)",
				    cl->addr, n, t);
			die("master %s refused: %.*s", cl->addr, n, t);
		} else if (*kind == K_RELEA) {
			die("master %s is shutting down", cl->addr);
		} else if (*kind != K_PINGA) {
			return;
		}
		free(*body);
	}
}

/* Tell the master why we give up (best effort: we exit anyway). */
static void cl_tell(struct client *cl, int code, const char *why)
{
	uint8_t pl[4 + DSM_MAX_ERRMSG];
	size_t n = strlen(why);

	if (n > DSM_MAX_ERRMSG)
		n = DSM_MAX_ERRMSG;
	put_u32(pl, (uint32_t)-code);
	memcpy(pl + 4, why, n);
	cl_send(cl, K_ERROR, 0, pl, (uint32_t)(4 + n));
}

/*
 * JOIN? as a statistics client, the AUTH exchange if the master asks for
 * it (the node's rules: with a secret, a master that does not ask is
 * refused), JOIN!.
 */
static void cl_join(struct client *cl)
{
	uint8_t pl[10 + DSM_NONCE_LEN], *body;
	enum dsm_kind kind;
	uint32_t id, len;

	put_u32(pl, DSM_PROTO_VERSION);
	put_u8(pl + 4, (uint8_t)DSM_LEN_BYTES);
	put_u8(pl + 5, DSM_JOIN_MONITOR);
	put_u32(pl + 6, (uint32_t)sysconf(_SC_PAGESIZE));
	if (dsm_random(pl + 10, DSM_NONCE_LEN) < 0)
		die("getrandom: %s", strerror(errno));
	cl_send(cl, K_JOINQ, ID_JOIN, pl, sizeof(pl));
	cl_frame(cl, &kind, &id, &body, &len);
	if (kind == K_AUTHQ) {
		uint8_t want[DSM_MAC_LEN], mine[DSM_MAC_LEN];

		if (len != DSM_NONCE_LEN + DSM_MAC_LEN)
			die("%s: malformed AUTH? (%u bytes)", cl->addr, len);
		if (!cl->secret.len) {
			cl_tell(cl, DSM_EAUTH, "this statistics client has no "
				"secret (DSM_SECRET_FILE unset)");
			die("master %s requires authentication: give dsm-stat "
			    "its secret with DSM_SECRET_FILE=FILE", cl->addr);
		}
		dsm_auth_proof(&cl->secret, DSM_AUTH_LABEL_MASTER, pl + 10,
			       body, want);
		if (!dsm_ct_equal(want, body + DSM_NONCE_LEN, DSM_MAC_LEN)) {
			cl_tell(cl, DSM_EAUTH, "the master's proof of the "
				"secret is wrong");
			die("master %s does not know this secret (the secret "
			    "files differ, or it is not the real master)",
			    cl->addr);
		}
		dsm_auth_proof(&cl->secret, DSM_AUTH_LABEL_NODE, body, pl + 10,
			       mine);
		cl_send(cl, K_AUTHA, id, mine, DSM_MAC_LEN);
		explicit_bzero(want, sizeof(want));
		explicit_bzero(mine, sizeof(mine));
		free(body);
		cl_frame(cl, &kind, &id, &body, &len);
	} else if (kind == K_JOINA && cl->secret.len) {
		die("master %s admitted dsm-stat without asking for the secret "
		    "(DSM_SECRET_FILE is set): refusing it; unset "
		    "DSM_SECRET_FILE if the master has no secret", cl->addr);
	}
	if (kind != K_JOINA || len != 16 + DSM_LEN_BYTES)
		die("%s: expected JOIN!, got %s (%u bytes)", cl->addr,
		    dsm_kind_name(kind), len);
	free(body);
}

static void rd_counters(struct dsm_rd *r, uint64_t *c)
{
	for (unsigned i = 0; i < DSM_STAT_NODE_COUNTERS; i++)
		c[i] = dsm_rd_u64(r);
}

/* A list of page entries of STAT!; NULL (n 0) when empty. */
static struct page_row *rd_pages(struct dsm_rd *r, uint32_t *n)
{
	size_t entry = DSM_LEN_BYTES + 4 * 8 + 4;
	struct page_row *rows;

	*n = dsm_rd_u32(r);
	if (r->bad || *n > (r->len - r->pos) / entry) {
		r->bad = 1;
		*n = 0;
		return NULL;
	}
	rows = calloc(*n ? *n : 1, sizeof(*rows));
	if (!rows)
		die("out of memory");
	for (uint32_t i = 0; i < *n; i++) {
		rows[i].off = dsm_rd_len(r);
		rows[i].fetches = dsm_rd_u64(r);
		rows[i].invals = dsm_rd_u64(r);
		rows[i].diff_bytes = dsm_rd_u64(r);
		rows[i].flushes = dsm_rd_u64(r);
		rows[i].writers = dsm_rd_u32(r);
	}
	return rows;
}

/* Decode STAT! p[0..len) (docs/PROTOCOL.md); dies when malformed. */
static void decode(struct client *cl, const uint8_t *p, uint32_t len,
		   struct stats *s)
{
	struct dsm_rd r;
	uint32_t format;

	memset(s, 0, sizeof(*s));
	dsm_rd_init(&r, p, len);
	format = dsm_rd_u32(&r);
	if (!r.bad && format != DSM_STAT_FORMAT)
		die("master %s: statistics format %u, this dsm-stat reads %u "
		    "(another version?)", cl->addr, format, DSM_STAT_FORMAT);
	s->page_size = dsm_rd_u32(&r);
	s->size = dsm_rd_len(&r);
	s->uptime_ms = dsm_rd_u64(&r);
	s->njoined = dsm_rd_u32(&r);
	s->nlisted = dsm_rd_u32(&r);
	s->ndeparted = dsm_rd_u64(&r);
	rd_counters(&r, s->departed);
	rd_counters(&r, s->total);
	if (r.bad || s->nlisted > (r.len - r.pos) / (4 + 1 + 8 *
			DSM_STAT_NODE_COUNTERS) || s->page_size == 0)
		die("master %s: malformed STAT!", cl->addr);
	s->nodes = calloc(s->nlisted ? s->nlisted : 1, sizeof(*s->nodes));
	if (!s->nodes)
		die("out of memory");
	for (uint32_t i = 0; i < s->nlisted; i++) {
		struct node_row *n = &s->nodes[i];
		uint8_t plen;
		const uint8_t *peer;

		n->id = dsm_rd_u32(&r);
		plen = dsm_rd_u8(&r);
		peer = dsm_rd_take(&r, plen);
		if (peer) {
			for (size_t k = 0; k < plen; k++)
				n->peer[k] = peer[k] >= 0x20 && peer[k] < 0x7f ?
					(char)peer[k] : '?';
			n->peer[plen] = '\0';
		}
		rd_counters(&r, n->c);
	}
	s->hot = rd_pages(&r, &s->nhot);
	s->fls = rd_pages(&r, &s->nfalse);
	if (!dsm_rd_done(&r))
		die("master %s: malformed STAT!", cl->addr);
}

static void print_counters(const uint64_t *c)
{
	static const int w[DSM_STAT_NODE_COUNTERS] = { 10, 10, 12, 10, 8,
						       10, 10 };

	for (unsigned i = 0; i < DSM_STAT_NODE_COUNTERS; i++)
		if (i == WAIT_COUNTER)
			printf(" %*.1f", w[i], (double)c[i] / 1000.0);
		else
			printf(" %*" PRIu64, w[i], c[i]);
	printf("\n");
}

static void print_pages(const struct stats *s, const struct page_row *rows,
			uint32_t n)
{
	if (n == 0) {
		printf("  (none)\n");
		return;
	}
	printf("  %-8s %-14s %10s %10s %8s %12s %8s\n", "PAGE", "OFFSET",
	       "FETCHES", "INVALS", "WRITERS", "DIFF_BYTES", "FLUSHES");
	for (uint32_t i = 0; i < n; i++) {
		char off[24];

		snprintf(off, sizeof(off), "0x%" PRIx64, rows[i].off);
		printf("  %-8" PRIu64 " %-14s %10" PRIu64 " %10" PRIu64
		       " %8u %12" PRIu64 " %8" PRIu64 "\n",
		       rows[i].off / s->page_size, off, rows[i].fetches,
		       rows[i].invals, rows[i].writers, rows[i].diff_bytes,
		       rows[i].flushes);
	}
}

static void print_table(const struct client *cl, const struct stats *s,
			unsigned top)
{
	static const int w[DSM_STAT_NODE_COUNTERS] = { 10, 10, 12, 10, 8,
						       10, 10 };
	int pw = 21;
	char label[64];

	for (uint32_t i = 0; i < s->nlisted; i++)
		if ((int)strlen(s->nodes[i].peer) > pw)
			pw = (int)strlen(s->nodes[i].peer);
	printf("master %s: %" PRIu64 "-byte segment, %" PRIu64 " pages of %u "
	       "bytes, up %.1f s\n", cl->addr, s->size, s->size / s->page_size,
	       s->page_size, (double)s->uptime_ms / 1000.0);
	printf("nodes: %u joined, %" PRIu64 " departed\n\n", s->njoined,
	       s->ndeparted);
	printf("%-6s %-*s", "NODE", pw, "PEER");
	for (unsigned i = 0; i < DSM_STAT_NODE_COUNTERS; i++)
		printf(" %*s", w[i], counter_heads[i]);
	printf("\n");
	for (uint32_t i = 0; i < s->nlisted; i++) {
		printf("%-6u %-*s", s->nodes[i].id, pw, s->nodes[i].peer);
		print_counters(s->nodes[i].c);
	}
	if (s->nlisted < s->njoined)
		printf("(%u more nodes not listed: the answer is cut at one "
		       "frame)\n", s->njoined - s->nlisted);
	snprintf(label, sizeof(label), "departed (%" PRIu64 ")", s->ndeparted);
	printf("%-*s", 7 + pw, label);
	print_counters(s->departed);
	snprintf(label, sizeof(label), "total (%" PRIu64 " nodes)",
		 s->njoined + s->ndeparted);
	printf("%-*s", 7 + pw, label);
	print_counters(s->total);

	printf("\nhot pages (fetches + invalidations), top %u:\n", top);
	print_pages(s, s->hot, s->nhot);
	printf("\nfalsely shared pages (written by >= 2 nodes at the same "
	       "time; by invalidations), top %u:\n", top);
	print_pages(s, s->fls, s->nfalse);
	if (s->nfalse)
		printf("  Different nodes write different bytes of these pages "
		       "at once, and each\n  release makes the others drop "
		       "and fetch the page again: put data that\n  different "
		       "nodes write in different pages (%u bytes each).\n",
		       s->page_size);
}

static void json_string(const char *t)
{
	putchar('"');
	for (; *t; t++) {
		if (*t == '"' || *t == '\\')
			printf("\\%c", *t);
		else if ((unsigned char)*t < 0x20)
			printf("\\u%04x", (unsigned char)*t);
		else
			putchar(*t);
	}
	putchar('"');
}

static void json_counters(const uint64_t *c)
{
	for (unsigned i = 0; i < DSM_STAT_NODE_COUNTERS; i++)
		printf("%s\"%s\": %" PRIu64, i ? ", " : "", counter_keys[i],
		       c[i]);
}

static void json_pages(const char *key, const struct stats *s,
		       const struct page_row *rows, uint32_t n, int last)
{
	printf("  \"%s\": [", key);
	for (uint32_t i = 0; i < n; i++)
		printf("%s\n    {\"page\": %" PRIu64 ", \"offset\": %" PRIu64
		       ", \"fetches\": %" PRIu64 ", \"invalidations\": %"
		       PRIu64 ", \"writers\": %u, \"diff_bytes\": %" PRIu64
		       ", \"flushes\": %" PRIu64 "}", i ? "," : "",
		       rows[i].off / s->page_size, rows[i].off,
		       rows[i].fetches, rows[i].invals, rows[i].writers,
		       rows[i].diff_bytes, rows[i].flushes);
	printf("%s]%s\n", n ? "\n  " : "", last ? "" : ",");
}

static void print_json(const struct client *cl, const struct stats *s)
{
	printf("{\n  \"master\": ");
	json_string(cl->addr);
	printf(",\n  \"segment_size\": %" PRIu64 ",\n  \"page_size\": %u,\n"
	       "  \"uptime_ms\": %" PRIu64 ",\n  \"nodes_joined\": %u,\n"
	       "  \"nodes_departed\": %" PRIu64 ",\n  \"nodes\": [",
	       s->size, s->page_size, s->uptime_ms, s->njoined, s->ndeparted);
	for (uint32_t i = 0; i < s->nlisted; i++) {
		printf("%s\n    {\"id\": %u, \"peer\": ", i ? "," : "",
		       s->nodes[i].id);
		json_string(s->nodes[i].peer);
		printf(", ");
		json_counters(s->nodes[i].c);
		printf("}");
	}
	printf("%s],\n  \"nodes_listed\": %u,\n  \"departed\": {",
	       s->nlisted ? "\n  " : "", s->nlisted);
	json_counters(s->departed);
	printf("},\n  \"totals\": {");
	json_counters(s->total);
	printf("},\n");
	json_pages("hot_pages", s, s->hot, s->nhot, 0);
	json_pages("false_sharing", s, s->fls, s->nfalse, 1);
	printf("}\n");
}

/*
 * DECO?, then wait briefly for DECO!, answering a PING? that crosses it.
 * Best effort and never fatal: the statistics are in already.
 */
static void cl_leave(struct client *cl)
{
	uint8_t hdr[DSM_HDR_LEN];
	int64_t end = now_ms() + STAT_LEAVE_MS;

	cl_send(cl, K_DECOQ, ID_DECO, NULL, 0);
	for (;;) {
		struct pollfd pfd = { .fd = cl->fd, .events = POLLIN };
		int64_t left = end - now_ms();
		ssize_t k;

		if (left <= 0 || poll(&pfd, 1, (int)left) <= 0)
			return;
		k = recv(cl->fd, hdr, sizeof(hdr), MSG_PEEK);
		if (k <= 0)
			return;		/* closed: we are out */
		if (k < (ssize_t)sizeof(hdr))
			continue;	/* the rest of the header is coming */
		if (memcmp(hdr, "PING?", 5) != 0 || get_u32(hdr + 9) != 0)
			return;		/* DECO!, or anything else: done */
		if (recv(cl->fd, hdr, sizeof(hdr), 0) != (ssize_t)sizeof(hdr))
			return;
		cl_send(cl, K_PINGA, get_u32(hdr + 5), NULL, 0);
	}
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "top", required_argument, NULL, 't' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct client cl;
	struct stats s;
	char host[256], port[8], why[512];
	const char *secret_path;
	unsigned long top = STAT_DEFAULT_TOP;
	uint8_t req[4], *body;
	enum dsm_kind kind;
	uint32_t id, len;
	int json = 0, opt;

	memset(&cl, 0, sizeof(cl));
	opterr = 0;
	while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		char *end;

		switch (opt) {
		case 'j':
			json = 1;
			break;
		case 't':
			errno = 0;
			top = strtoul(optarg, &end, 10);
			if (errno || end == optarg || *end || optarg[0] == '-' ||
			    optarg[0] == '+' || top > DSM_STAT_TOP_MAX)
				bad_usage("--top '%s': expected 0 to "
					  "1000", optarg);
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			bad_usage("unknown or incomplete option '%s'",
				  argv[optind - 1]);
		}
	}
	if (optind >= argc)
		bad_usage("%sthe master's HOST:PORT is required", "");
	if (optind + 1 < argc)
		bad_usage("unexpected argument '%s'", argv[optind + 1]);
	parse_addr(argv[optind], host, sizeof(host), port, sizeof(port));
	snprintf(cl.addr, sizeof(cl.addr), "%s", argv[optind]);

	secret_path = getenv("DSM_SECRET_FILE");
	if (secret_path && *secret_path &&
	    dsm_secret_load(secret_path, &cl.secret, why, sizeof(why)) < 0)
		die("%s", why);

	cl.deadline_ms = now_ms() + STAT_TIMEOUT_MS;
	cl_connect(&cl, host, port);
	cl_join(&cl);
	dsm_secret_free(&cl.secret);

	put_u32(req, (uint32_t)top);
	cl_send(&cl, K_STATQ, ID_STAT, req, sizeof(req));
	for (;;) {
		cl_frame(&cl, &kind, &id, &body, &len);
		if (kind == K_STATA && id == ID_STAT)
			break;
		die("%s: unexpected %s while waiting for STAT!", cl.addr,
		    dsm_kind_name(kind));
	}
	decode(&cl, body, len, &s);
	free(body);
	cl_leave(&cl);
	close(cl.fd);

	if (json)
		print_json(&cl, &s);
	else
		print_table(&cl, &s, (unsigned)top);
	free(s.nodes);
	free(s.hot);
	free(s.fls);
	return fflush(stdout) == 0 ? 0 : 1;
}
