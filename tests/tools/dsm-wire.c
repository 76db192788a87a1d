/*
 * dsm-wire - speak the dsm wire protocol by hand, to test a master without
 * the node runtime.  Standalone: only include/ headers.
 *
 *   dsm-wire [-t SECONDS] HOST PORT CMD...
 *
 * Commands run in order over one connection; every frame received is printed
 * on stdout, one per line ("< OKLOC id=3", "< ERROR id=0 code=6 text").
 * Request commands wait for their answer (see "nowait").  While waiting, an
 * INVAL is answered at once with OKINV (after an UPDAT flush of the bytes set
 * with "dirty" in those pages), unless "noack" is in force.
 *
 *   join                 JOIN? as this build (version 1, its ARCHI, page size)
 *   join32               JOIN? claiming config_len 4 (ARCHI=32)
 *   joinraw V CLEN PS    JOIN? with the given version, config_len, page size
 *   lockr OFF LEN        LOCKR, wait for OKLOC
 *   lockw OFF LEN        LOCKW, wait for OKLOC
 *   write OFF BYTE       UPDAT: one byte at OFF, part of the current release
 *   unlockr OFF LEN      UNLOR closing the current release, wait for OKUNL
 *   unlockw OFF LEN      UNLOW closing the current release, wait for OKUNL
 *   push                 PUSH? closing the current release, wait for PUSH!
 *   deco                 DECO? closing the current release, wait for DECO!
 *   getpg OFF [COUNT]    GETPG, wait for PAGES
 *   read OFF             GETPG of OFF's page, print "read OFF = BYTE"
 *   dirty OFF BYTE       remember BYTE at OFF as modified: flushed (UPDAT with
 *                        the INVAL's id) when an INVAL names its page
 *   nowait               the next request command does not wait
 *   noack                stop answering INVALs (they are kept)
 *   ack                  answer the kept INVALs now, and from then on
 *   okinv ID             send OKINV with that id
 *   garbage N            send N random bytes
 *   rawhdr KIND LEN      send a header KIND/LEN and LEN zero bytes
 *   expect KIND          read frames until KIND arrives (KIND may be EOF)
 *   sleep MS             pause (INVALs are still answered)
 *   stamp LABEL          print "stamp LABEL MS", MS from CLOCK_MONOTONIC (the
 *                        same clock in every process of the machine)
 *   obj OP OFF [ARG [ARG8]]
 *                        OBJOP: operation OP (name as in PROTOCOL.md, e.g.
 *                        MUTEX_LOCK, or its number) on the object at OFF;
 *                        release-type operations close the current release
 *                        (after "write").  Waits for its OBJOK, printed as
 *                        "< OBJOK id=N result=NAME value=V", unless "nowait"
 *   expectobj RES [VALUE]
 *                        check an OBJOK: the answer of the last waiting "obj"
 *                        if not checked yet, else the next OBJOK to arrive
 *                        (OBJOKs that arrive while waiting for something else
 *                        are kept for it, in order); RES is a result name
 *                        (OK, BUSY, ...) or number, VALUE a number.  A
 *                        mismatch exits 1
 *   objcancel [ID]       OBJCN for request ID (default: the last OBJOP sent)
 *
 * Exit status: 0 all commands done; 1 an ERROR for a request we wait for
 * (or any ERROR during expect, unless expecting ERROR), EOF, timeout (5 s by
 * default, -t) or a failed connection; 2 bad usage.
 */
#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "dsm_wire.h"
#include "dsm_diff.h"

#define MAX_DIRTY 256
#define MAX_KEPT 1024

static const char *const objop_names[OP_NOPS] = {
	"?", "MUTEX_INIT", "MUTEX_LOCK", "MUTEX_TRYLOCK", "MUTEX_UNLOCK",
	"RW_INIT", "RW_RDLOCK", "RW_WRLOCK", "RW_TRYRDLOCK", "RW_TRYWRLOCK",
	"RW_UNLOCK", "BARRIER_INIT", "BARRIER_WAIT", "COND_INIT", "COND_WAIT",
	"COND_SIGNAL", "COND_BROADCAST", "SEM_INIT", "SEM_WAIT",
	"SEM_TRYWAIT", "SEM_POST", "SEM_GETVALUE", "DESTROY", "SHM_OPEN",
	"SHM_TRUNCATE", "SHM_STAT", "SHM_UNLINK",
};

static const char *const objres_names[] = {
	"OK", "BUSY", "TIMEDOUT", "AGAIN", "PERM", "INVAL", "EXIST", "NOENT",
	"FBIG", "OVERFLOW", "BROKEN",
};
#define NOBJRES (sizeof(objres_names) / sizeof(objres_names[0]))

struct frame {
	enum dsm_kind kind;
	char kname[6];
	uint32_t id, len;
	uint8_t *p;
};

static int sock = -1;
static int timeout_ms = 5000;
static uint32_t next_id = 1;
static uint32_t release_id;	/* id of the open release, 0 if none */
static size_t page_size;
static int no_wait, no_ack;
static struct {
	uint64_t off;
	uint8_t byte;
} dirty[MAX_DIRTY];
static int ndirty;
static struct frame kept[MAX_KEPT];
static int nkept;
/* OBJOKs received while waiting for something else, oldest first. */
static struct frame objoks[MAX_KEPT];
static int nobjoks;
/* Answer of the last waiting "obj" (valid if has_last), for expectobj. */
static uint32_t last_result;
static uint64_t last_value;
static int has_last;
static uint32_t last_obj_id;

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2),
						      noreturn));
static void die(const char *fmt, ...)
{
	va_list ap;

	fflush(stdout);
	fprintf(stderr, "dsm-wire: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(1);
}

static void usage_exit(const char *why)
{
	fprintf(stderr, "dsm-wire: %s\nusage: dsm-wire [-t SECONDS] HOST PORT "
		"CMD...  (see the top of tests/tools/dsm-wire.c)\n", why);
	exit(2);
}

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static uint64_t num(const char *s)
{
	char *end;
	unsigned long long v;

	if (!s)
		usage_exit("missing number");
	errno = 0;
	v = strtoull(s, &end, 0);
	if (errno || end == s || *end)
		usage_exit("bad number");
	return v;
}

/* Send all of p[0..n); errors are fatal unless `lenient`. */
static int send_all(const void *p, size_t n, int lenient)
{
	const uint8_t *b = p;

	while (n > 0) {
		ssize_t k = send(sock, b, n, MSG_NOSIGNAL);

		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0) {
			if (lenient)
				return -1;
			die("send: %s", strerror(errno));
		}
		b += k;
		n -= (size_t)k;
	}
	return 0;
}

static void send_frame(enum dsm_kind kind, uint32_t id, const uint8_t *p,
		       uint32_t len)
{
	uint8_t h[DSM_HDR_LEN];

	dsm_hdr_put(h, kind, id, len);
	send_all(h, sizeof(h), 0);
	if (len)
		send_all(p, len, 0);
}

/* Read exactly n bytes before `deadline`; 0 ok, -1 EOF, -2 timeout. */
static int read_full(uint8_t *p, size_t n, int64_t deadline)
{
	while (n > 0) {
		struct pollfd pfd = { .fd = sock, .events = POLLIN };
		int64_t left = deadline - now_ms();
		ssize_t k;

		if (left <= 0)
			return -2;
		if (poll(&pfd, 1, (int)left) == 0)
			return -2;
		k = recv(sock, p, n, 0);
		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0 && errno == ECONNRESET)
			return -1;
		if (k < 0)
			die("recv: %s", strerror(errno));
		if (k == 0)
			return -1;
		p += k;
		n -= (size_t)k;
	}
	return 0;
}

/* Next frame, or -1 on EOF, -2 on timeout.  f->p is malloc'ed. */
static int read_frame(struct frame *f, int64_t deadline)
{
	uint8_t h[DSM_HDR_LEN];
	int rc = read_full(h, sizeof(h), deadline);

	if (rc < 0)
		return rc;
	memcpy(f->kname, h, 5);
	f->kname[5] = '\0';
	f->kind = dsm_kind_parse(h);
	f->id = get_u32(h + 5);
	f->len = get_u32(h + 9);
	if (f->len > DSM_MAX_PAYLOAD)
		die("frame %s of %u bytes is above the limit", f->kname,
		    f->len);
	f->p = malloc(f->len ? f->len : 1);
	if (!f->p)
		die("out of memory");
	rc = read_full(f->p, f->len, deadline);
	if (rc < 0) {
		free(f->p);
		return rc;
	}
	return 0;
}

static void print_frame(const struct frame *f)
{
	struct dsm_rd r;

	dsm_rd_init(&r, f->p, f->len);
	printf("< %s id=%u", f->kname, f->id);
	switch (f->kind) {
	case K_ERROR: {
		uint32_t code = dsm_rd_u32(&r);

		printf(" code=%u %.*s", code, (int)(f->len > 4 ? f->len - 4 : 0),
		       (const char *)f->p + 4);
		break;
	}
	case K_JOINA: {
		uint32_t node = dsm_rd_u32(&r), ps = dsm_rd_u32(&r);
		uint64_t base = dsm_rd_u64(&r);
		uint64_t size = dsm_rd_len(&r);

		printf(" node=%u page_size=%u base=0x%llx size=%llu", node, ps,
		       (unsigned long long)base, (unsigned long long)size);
		break;
	}
	case K_PAGES: {
		uint64_t off = dsm_rd_len(&r), count = dsm_rd_len(&r);

		printf(" off=%llu count=%llu", (unsigned long long)off,
		       (unsigned long long)count);
		break;
	}
	case K_OBJOK: {
		uint32_t res = dsm_rd_u32(&r);
		uint64_t value = dsm_rd_len(&r);

		if (res < NOBJRES)
			printf(" result=%s", objres_names[res]);
		else
			printf(" result=%u", res);
		printf(" value=%llu%s", (unsigned long long)value,
		       dsm_rd_done(&r) ? "" : " (bad length)");
		break;
	}
	case K_INVAL: {
		uint64_t count = dsm_rd_len(&r);

		printf(" count=%llu pages=", (unsigned long long)count);
		for (uint64_t i = 0; i < count && !r.bad; i++) {
			uint64_t off = dsm_rd_len(&r);

			printf("%s%llu", i ? "," : "", (unsigned long long)off);
		}
		break;
	}
	default:
		if (f->len)
			printf(" len=%u", f->len);
		break;
	}
	printf("\n");
	fflush(stdout);
}

/* One UPDAT with a single-byte run at segment offset off. */
static void send_byte_updat(uint32_t id, uint64_t off, uint8_t byte)
{
	uint8_t p[DSM_DIFF_REC_HDR + DSM_DIFF_RUN_HDR + 1];
	uint64_t page = off / page_size * page_size;

	put_len(p, (CONFIG_LEN)page);
	put_u32(p + DSM_LEN_BYTES, 1);
	put_u16(p + DSM_DIFF_REC_HDR, (uint16_t)(off - page));
	put_u16(p + DSM_DIFF_REC_HDR + 2, 1);
	p[DSM_DIFF_REC_HDR + DSM_DIFF_RUN_HDR] = byte;
	send_frame(K_UPDAT, id, p, sizeof(p));
}

/* Flush the dirty bytes of the INVAL's pages, then OKINV. */
static void answer_inval(const struct frame *f)
{
	struct dsm_rd r;
	uint64_t count;

	dsm_rd_init(&r, f->p, f->len);
	count = dsm_rd_len(&r);
	for (uint64_t i = 0; i < count && !r.bad; i++) {
		uint64_t page = dsm_rd_len(&r);

		for (int k = 0; k < ndirty; k++) {
			if (dirty[k].off / page_size * page_size != page)
				continue;
			send_byte_updat(f->id, dirty[k].off, dirty[k].byte);
			printf("> UPDAT id=%u flush off=%llu\n", f->id,
			       (unsigned long long)dirty[k].off);
			dirty[k--] = dirty[--ndirty];
		}
	}
	send_frame(K_OKINV, f->id, NULL, 0);
	printf("> OKINV id=%u\n", f->id);
	fflush(stdout);
}

/* Keep an OBJOK nobody waits for yet (expectobj takes it later). */
static void keep_objok(struct frame *f)
{
	if (nobjoks == MAX_KEPT)
		die("too many unchecked OBJOKs");
	objoks[nobjoks++] = *f;
}

/* The oldest kept OBJOK with that id (any if UINT32_MAX); 0 if none. */
static int take_objok(uint32_t id, struct frame *out)
{
	for (int k = 0; k < nobjoks; k++) {
		if (id != UINT32_MAX && objoks[k].id != id)
			continue;
		*out = objoks[k];
		memmove(&objoks[k], &objoks[k + 1],
			(size_t)(nobjoks - k - 1) * sizeof(objoks[0]));
		nobjoks--;
		return 1;
	}
	return 0;
}

static void take_inval(struct frame *f)
{
	if (!no_ack) {
		answer_inval(f);
		free(f->p);
		return;
	}
	if (nkept == MAX_KEPT)
		die("too many kept INVALs");
	kept[nkept++] = *f;
}

/*
 * Read frames until one of `kind` arrives (with id `id` unless id is
 * UINT32_MAX).  kind K_UNKNOWN with want_eof: until EOF.  An ERROR for
 * that id (or id 0) fails, unless ERROR is what we wait for.  Copies the
 * matching frame to *out if out is not NULL (caller frees out->p).
 */
static void wait_for(enum dsm_kind kind, uint32_t id, int want_eof,
		     struct frame *out, const char *what)
{
	int64_t deadline = now_ms() + timeout_ms;

	for (;;) {
		struct frame f;
		int rc = read_frame(&f, deadline);

		if (rc == -1) {
			if (want_eof) {
				printf("< EOF\n");
				fflush(stdout);
				return;
			}
			die("%s: connection closed by the master", what);
		}
		if (rc == -2)
			die("%s: timeout after %d ms", what, timeout_ms);
		print_frame(&f);
		if (f.kind == K_INVAL) {
			take_inval(&f);
			if (kind == K_INVAL)
				return;
			continue;
		}
		if (!want_eof && f.kind == kind &&
		    (id == UINT32_MAX || f.id == id)) {
			if (out)
				*out = f;
			else
				free(f.p);
			return;
		}
		if (f.kind == K_ERROR && kind != K_ERROR &&
		    (id == UINT32_MAX || f.id == id || f.id == 0))
			die("%s: master answered ERROR", what);
		if (f.kind == K_OBJOK) {
			keep_objok(&f);
			continue;
		}
		free(f.p);
	}
}

/* Answer INVALs while sleeping ms milliseconds. */
static void idle_for(int ms)
{
	int64_t end = now_ms() + ms;

	for (;;) {
		struct pollfd pfd = { .fd = sock, .events = POLLIN };
		int64_t left = end - now_ms();
		struct frame f;

		if (left <= 0)
			return;
		if (poll(&pfd, 1, (int)left) <= 0)
			continue;
		if (read_frame(&f, now_ms() + timeout_ms) < 0)
			die("sleep: connection closed by the master");
		print_frame(&f);
		if (f.kind == K_INVAL)
			take_inval(&f);
		else if (f.kind == K_OBJOK)
			keep_objok(&f);
		else
			free(f.p);
	}
}

/* Send a request and, unless "nowait" was given, wait for its answer. */
static void request(enum dsm_kind kind, uint32_t id, const uint8_t *p,
		    uint32_t len, enum dsm_kind answer)
{
	send_frame(kind, id, p, len);
	if (no_wait) {
		no_wait = 0;
		return;
	}
	wait_for(answer, id, 0, NULL, dsm_kind_name(kind));
}

static void range_request(enum dsm_kind kind, const char *a, const char *b,
			  uint32_t id, enum dsm_kind answer)
{
	uint8_t p[2 * sizeof(CONFIG_LEN)];

	put_len(p, (CONFIG_LEN)num(a));
	put_len(p + DSM_LEN_BYTES, (CONFIG_LEN)num(b));
	request(kind, id, p, 2 * DSM_LEN_BYTES, answer);
}

static uint32_t take_release_id(void)
{
	uint32_t id = release_id ? release_id : next_id++;

	release_id = 0;
	return id;
}

static void join_raw(uint32_t version, uint8_t clen, uint32_t ps)
{
	uint8_t p[10];
	struct frame f;
	uint32_t id = next_id++;
	struct dsm_rd r;

	put_u32(p, version);
	put_u8(p + 4, clen);
	put_u8(p + 5, 0);
	put_u32(p + 6, ps);
	send_frame(K_JOINQ, id, p, sizeof(p));
	if (no_wait) {
		no_wait = 0;
		return;
	}
	wait_for(K_JOINA, id, 0, &f, "JOIN?");
	dsm_rd_init(&r, f.p, f.len);
	(void)dsm_rd_u32(&r);
	page_size = dsm_rd_u32(&r);
	free(f.p);
}

static void getpg(uint64_t off, uint64_t count, int print_byte, uint64_t at)
{
	uint8_t p[2 * sizeof(CONFIG_LEN) + 1];
	uint32_t id = next_id++;
	size_t hdr = 2 * DSM_LEN_BYTES;
	struct frame f;

	put_len(p, (CONFIG_LEN)off);
	put_len(p + DSM_LEN_BYTES, (CONFIG_LEN)count);
	p[hdr] = 0;
	send_frame(K_GETPG, id, p, (uint32_t)hdr + 1);
	if (no_wait && !print_byte) {
		no_wait = 0;
		return;
	}
	wait_for(K_PAGES, id, 0, &f, "GETPG");
	if (print_byte) {
		if (f.len < hdr + (at - off) + 1)
			die("read: PAGES too short");
		printf("read %llu = %u\n", (unsigned long long)at,
		       f.p[hdr + (at - off)]);
		fflush(stdout);
	}
	free(f.p);
}

static void send_raw_header(const char *kind, uint64_t len)
{
	uint8_t h[DSM_HDR_LEN], zeros[65536];
	size_t k = strlen(kind);

	memset(h, ' ', 5);
	memcpy(h, kind, k < 5 ? k : 5);
	put_u32(h + 5, next_id++);
	put_u32(h + 9, (uint32_t)len);
	if (send_all(h, sizeof(h), 1) < 0)
		return;
	memset(zeros, 0, sizeof(zeros));
	/* The master may close after the header: sending more can fail. */
	for (uint64_t sent = 0; sent < len && sent < (8u << 20);) {
		size_t n = len - sent < sizeof(zeros) ? (size_t)(len - sent)
						      : sizeof(zeros);

		if (send_all(zeros, n, 1) < 0)
			return;
		sent += n;
	}
}

static void send_garbage(uint64_t n)
{
	uint8_t buf[4096];

	srand((unsigned)(time(NULL) ^ getpid()));
	while (n > 0) {
		size_t k = n < sizeof(buf) ? (size_t)n : sizeof(buf);

		for (size_t i = 0; i < k; i++)
			buf[i] = (uint8_t)(rand() & 0xff);
		/* never a valid kind: first byte outside 'A'..'Z' */
		if (buf[0] >= 'A' && buf[0] <= 'Z')
			buf[0] = 0;
		if (send_all(buf, k, 1) < 0)
			return;
		n -= k;
	}
}

static enum dsm_kind kind_arg(const char *s)
{
	uint8_t b[5] = { ' ', ' ', ' ', ' ', ' ' };
	size_t n = strlen(s);

	memcpy(b, s, n < 5 ? n : 5);
	if (n != 5 || dsm_kind_parse(b) == K_UNKNOWN)
		usage_exit("expect: unknown frame kind");
	return dsm_kind_parse(b);
}

static int is_num(const char *s)
{
	return s && s[0] >= '0' && s[0] <= '9';
}

static unsigned objop_arg(const char *s)
{
	if (!s)
		usage_exit("obj: missing OP");
	if (is_num(s))
		return (unsigned)num(s);
	if (!strncasecmp(s, "OP_", 3))
		s += 3;
	for (unsigned k = 1; k < OP_NOPS; k++)
		if (!strcasecmp(s, objop_names[k]))
			return k;
	usage_exit("obj: unknown operation");
	return 0;
}

static uint32_t objres_arg(const char *s)
{
	if (!s)
		usage_exit("expectobj: missing RESULT");
	if (is_num(s))
		return (uint32_t)num(s);
	if (!strncasecmp(s, "OR_", 3))
		s += 3;
	for (uint32_t k = 0; k < NOBJRES; k++)
		if (!strcasecmp(s, objres_names[k]))
			return k;
	usage_exit("expectobj: unknown result");
	return 0;
}

/* Result and value of an OBJOK frame (freed). */
static void objok_decode(struct frame *f, uint32_t *res, uint64_t *value)
{
	struct dsm_rd r;

	dsm_rd_init(&r, f->p, f->len);
	*res = dsm_rd_u32(&r);
	*value = dsm_rd_len(&r);
	if (!dsm_rd_done(&r))
		die("OBJOK id=%u with a %u-byte payload, expected %u", f->id,
		    f->len, DSM_OBJOK_LEN);
	free(f->p);
}

/*
 * obj OP OFF [ARG [ARG8]]: returns the index of the next command.  A
 * release-type op takes the open release's id (or a fresh one).
 */
static int obj_command(int argc, char **argv, int i)
{
	unsigned op = objop_arg(i + 1 < argc ? argv[i + 1] : NULL);
	const char *a = i + 2 < argc ? argv[i + 2] : NULL;
	uint64_t off = num(a), arg = 0, arg8 = 0;
	uint8_t p[DSM_OBJOP_LEN];
	uint32_t id;
	struct frame f;
	int next = i + 3;

	if (next < argc && is_num(argv[next]))
		arg = num(argv[next++]);
	if (next < argc && is_num(argv[next]))
		arg8 = num(argv[next++]);
	id = (op < OP_NOPS && dsm_objop_is_release(op)) ? take_release_id()
							 : next_id++;
	put_u8(p, (uint8_t)op);
	put_u8(p + 1, (uint8_t)arg8);
	put_u16(p + 2, 0);
	put_len(p + 4, (CONFIG_LEN)off);
	put_len(p + 4 + DSM_LEN_BYTES, (CONFIG_LEN)arg);
	send_frame(K_OBJOP, id, p, DSM_OBJOP_LEN);
	printf("> OBJOP id=%u %s off=%llu arg=%llu arg8=%llu\n", id,
	       op < OP_NOPS ? objop_names[op] : "?", (unsigned long long)off,
	       (unsigned long long)arg, (unsigned long long)arg8);
	fflush(stdout);
	last_obj_id = id;
	if (no_wait) {
		no_wait = 0;
		return next;
	}
	if (!take_objok(id, &f))
		wait_for(K_OBJOK, id, 0, &f, "OBJOP");
	objok_decode(&f, &last_result, &last_value);
	has_last = 1;
	return next;
}

/* expectobj RES [VALUE]: returns the index of the next command. */
static int expectobj_command(int argc, char **argv, int i)
{
	uint32_t want = objres_arg(i + 1 < argc ? argv[i + 1] : NULL);
	int has_value = i + 2 < argc && is_num(argv[i + 2]);
	uint64_t want_value = has_value ? num(argv[i + 2]) : 0;
	uint32_t res;
	uint64_t value;
	struct frame f;

	if (has_last) {
		res = last_result;
		value = last_value;
		has_last = 0;
	} else {
		if (!take_objok(UINT32_MAX, &f))
			wait_for(K_OBJOK, UINT32_MAX, 0, &f, "expectobj");
		objok_decode(&f, &res, &value);
	}
	if (res != want || (has_value && value != want_value)) {
		char wv[32] = "";

		if (has_value)
			snprintf(wv, sizeof(wv), " value %llu",
				 (unsigned long long)want_value);
		die("expectobj: got result %s value %llu, expected %s%s",
		    res < NOBJRES ? objres_names[res] : "?",
		    (unsigned long long)value,
		    want < NOBJRES ? objres_names[want] : "?", wv);
	}
	printf("expectobj %s ok\n", objres_names[want < NOBJRES ? want : 0]);
	fflush(stdout);
	return i + (has_value ? 3 : 2);
}

static void connect_to(const char *host, const char *port)
{
	struct addrinfo hints, *res, *ai;
	int rc;

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	rc = getaddrinfo(host, port, &hints, &res);
	if (rc)
		die("getaddrinfo(%s, %s): %s", host, port, gai_strerror(rc));
	for (ai = res; ai; ai = ai->ai_next) {
		sock = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC,
			      ai->ai_protocol);
		if (sock < 0)
			continue;
		if (connect(sock, ai->ai_addr, ai->ai_addrlen) == 0)
			break;
		close(sock);
		sock = -1;
	}
	freeaddrinfo(res);
	if (sock < 0)
		die("connect(%s:%s): %s", host, port, strerror(errno));
}

/* Run the command at argv[i]; returns the index of the next one. */
static int run_command(int argc, char **argv, int i)
{
	const char *c = argv[i];
	const char *a = i + 1 < argc ? argv[i + 1] : NULL;
	const char *b = i + 2 < argc ? argv[i + 2] : NULL;

	if (!strcmp(c, "join")) {
		join_raw(DSM_PROTO_VERSION, (uint8_t)DSM_LEN_BYTES,
			 (uint32_t)page_size);
		return i + 1;
	}
	if (!strcmp(c, "join32")) {
		join_raw(DSM_PROTO_VERSION, 4, (uint32_t)page_size);
		return i + 1;
	}
	if (!strcmp(c, "joinraw")) {
		const char *d = i + 3 < argc ? argv[i + 3] : NULL;

		join_raw((uint32_t)num(a), (uint8_t)num(b), (uint32_t)num(d));
		return i + 4;
	}
	if (!strcmp(c, "lockr") || !strcmp(c, "lockw")) {
		range_request(c[4] == 'w' ? K_LOCKW : K_LOCKR, a, b, next_id++,
			      K_OKLOC);
		return i + 3;
	}
	if (!strcmp(c, "unlockr") || !strcmp(c, "unlockw")) {
		range_request(c[6] == 'w' ? K_UNLOW : K_UNLOR, a, b,
			      take_release_id(), K_OKUNL);
		return i + 3;
	}
	if (!strcmp(c, "push")) {
		request(K_PUSHQ, take_release_id(), NULL, 0, K_PUSHA);
		return i + 1;
	}
	if (!strcmp(c, "deco")) {
		request(K_DECOQ, take_release_id(), NULL, 0, K_DECOA);
		return i + 1;
	}
	if (!strcmp(c, "write")) {
		if (!release_id)
			release_id = next_id++;
		send_byte_updat(release_id, num(a), (uint8_t)num(b));
		return i + 3;
	}
	if (!strcmp(c, "dirty")) {
		if (ndirty == MAX_DIRTY)
			die("too many dirty bytes");
		dirty[ndirty].off = num(a);
		dirty[ndirty++].byte = (uint8_t)num(b);
		return i + 3;
	}
	if (!strcmp(c, "getpg")) {
		int has_count = b && b[0] >= '0' && b[0] <= '9';

		getpg(num(a), has_count ? num(b) : 1, 0, 0);
		return i + (has_count ? 3 : 2);
	}
	if (!strcmp(c, "read")) {
		uint64_t at = num(a);

		no_wait = 0;
		getpg(at / page_size * page_size, 1, 1, at);
		return i + 2;
	}
	if (!strcmp(c, "nowait")) {
		no_wait = 1;
		return i + 1;
	}
	if (!strcmp(c, "noack")) {
		no_ack = 1;
		return i + 1;
	}
	if (!strcmp(c, "ack")) {
		no_ack = 0;
		for (int k = 0; k < nkept; k++) {
			answer_inval(&kept[k]);
			free(kept[k].p);
		}
		nkept = 0;
		return i + 1;
	}
	if (!strcmp(c, "okinv")) {
		send_frame(K_OKINV, (uint32_t)num(a), NULL, 0);
		return i + 2;
	}
	if (!strcmp(c, "garbage")) {
		send_garbage(num(a));
		return i + 2;
	}
	if (!strcmp(c, "rawhdr")) {
		if (!a)
			usage_exit("rawhdr: missing KIND");
		send_raw_header(a, num(b));
		return i + 3;
	}
	if (!strcmp(c, "expect")) {
		if (!a)
			usage_exit("expect: missing KIND");
		if (!strcmp(a, "EOF"))
			wait_for(K_UNKNOWN, UINT32_MAX, 1, NULL, "expect EOF");
		else
			wait_for(kind_arg(a), UINT32_MAX, 0, NULL, "expect");
		return i + 2;
	}
	if (!strcmp(c, "sleep")) {
		idle_for((int)num(a));
		return i + 2;
	}
	if (!strcmp(c, "stamp")) {
		if (!a)
			usage_exit("stamp: missing LABEL");
		printf("stamp %s %lld\n", a, (long long)now_ms());
		fflush(stdout);
		return i + 2;
	}
	if (!strcmp(c, "obj"))
		return obj_command(argc, argv, i);
	if (!strcmp(c, "expectobj"))
		return expectobj_command(argc, argv, i);
	if (!strcmp(c, "objcancel")) {
		uint32_t id = is_num(a) ? (uint32_t)num(a) : last_obj_id;

		send_frame(K_OBJCN, id, NULL, 0);
		printf("> OBJCN id=%u\n", id);
		fflush(stdout);
		return i + (is_num(a) ? 2 : 1);
	}
	fprintf(stderr, "dsm-wire: unknown command '%s'\n", c);
	exit(2);
}

int main(int argc, char **argv)
{
	int i = 1;

	if (argc > 2 && !strcmp(argv[1], "-t")) {
		timeout_ms = (int)(num(argv[2]) * 1000);
		i = 3;
	}
	if (argc - i < 3)
		usage_exit("need HOST PORT and at least one command");
	setvbuf(stdout, NULL, _IOLBF, 0);
	page_size = (size_t)sysconf(_SC_PAGESIZE);
	connect_to(argv[i], argv[i + 1]);
	for (i += 2; i < argc;)
		i = run_command(argc, argv, i);
	close(sock);
	return 0;
}
