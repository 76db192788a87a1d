/*
 * fuzz_master.c - libFuzzer target: everything a master does with the bytes
 * of one node connection (docs/FUZZING.md).
 *
 * Contract of an input: the raw byte stream one node sends to the master,
 * from its first byte (normally a JOIN?) to its end of file.  Nothing else:
 * the corpus files are the same streams dsm-noise sends over TCP.
 *
 * One master is created once (master_create: 4 pages, loopback, port 0)
 * and driven by hand in this thread, without master_run: for each input,
 *   - a fresh connection "A" whose socket is one end of a socketpair
 *     (mconn_new, as net.c does for an accepted socket);
 *   - a scripted, well-behaved node "B" (the bystander, below) on a second
 *     socketpair: it joins, copies every page, and between chunks of A's
 *     stream locks a page for writing, modifies it and unlocks it.  So
 *     A's frames meet contention (RECAL, queued requests), its copies get
 *     INVALs whose ids it can acknowledge, and its death has to release
 *     what B waits for;
 *   - A's stream is written in chunks (4 frames as their headers claim;
 *     every other chunk ends 5 bytes into the next frame, so headers and
 *     payloads also arrive split), each followed by one pass of the loop;
 *   - then A's end of file, which goes through the master's own
 *     disconnect path (mio_process -> mconn_lost or the CLOSING drain ->
 *     MC_DEAD -> node-death cleanup), then B leaves (DECO? or end of file,
 *     alternately) the same way;
 *   - then the master-wide state an input can leave behind (objects, the
 *     shared memory object, id counters) is reset, so inputs replay alike.
 * Inputs whose length is 1 modulo 3 go to a second master, created with a
 * secret: the fuzzed node then faces the AUTH?/AUTH! handshake (it cannot
 * forge the proof, so it meets the refusals: wrong or short AUTH!, other
 * frames while the proof is awaited), the bystander authenticates.
 *
 * pass() below is master.c's pass() for our two connections: read (one
 * recv per connection, like a level-triggered wake-up), mio_process, then
 * the loop's own mmaster_flush_all and mmaster_reap; no heartbeat and no
 * deadlines (time plays no part).  The internals used (master_int.h):
 * mconn_new, mconn_on_event, mio_process, mmaster_flush_all, mmaster_reap,
 * the conns list, and the fields reset between inputs.
 *
 * A connection that does not end within MAX_PASSES passes is a hang: the
 * target aborts with a message (a finding, like a crash).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "dsm_crypto.h"
#include "dsm_log.h"
#include "master_int.h"

/* Small: a GETPG of the whole segment is 16 KiB, not a burden per exec. */
#define SEG_PAGES 4
#define FRAMES_PER_CHUNK 4
#define MAX_PASSES 20000
/* B's receive buffer: its largest frame is PAGES of the whole segment. */
#define B_BUF (DSM_HDR_LEN + 2 * 8 + SEG_PAGES * 65536)

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The master of this input: M_open (no secret) or M_auth (a secret). */
static struct master *M, *M_open, *M_auth;
static struct dsm_secret secret;

/* One side of a connection: our end of the socketpair, the master's conn. */
struct peer {
	int fd;
	struct mconn *c;	/* NULL once the master freed it */
	int eof;		/* the master closed its side */
};

/* The scripted node B: a tiny state machine fed by the master's frames. */
enum b_state { B_JOINING, B_IDLE, B_WAIT_LOCK, B_HOLD, B_LEAVING };

static struct {
	struct peer p;
	enum b_state st;
	uint32_t next_id, lock_id;
	unsigned round;
	size_t page;		/* page locked in this round */
	int joined, have_pages;
	uint8_t *in;		/* frames from the master, in[0..inlen) */
	size_t inlen;
} B;

/* The fuzzed node. */
static struct peer A;

static void die(const char *what)
{
	fprintf(stderr, "fuzz_master: %s\n", what);
	abort();
}

/* One pass of the event loop over every connection (see the top). */
static void pass(void)
{
	struct mconn *c;

	M->busy = 0;
	for (c = M->conns; c; c = c->next)
		if (c->state != MC_DEAD)
			mconn_on_event(M, c, EPOLLIN | EPOLLOUT);
	for (c = M->conns; c; c = c->next)
		if (c->state != MC_DEAD)
			mio_process(M, c);
	mmaster_flush_all(M);
	/* Forget our connections that died: mmaster_reap frees them. */
	if (A.c && A.c->state == MC_DEAD)
		A.c = NULL;
	if (B.p.c && B.p.c->state == MC_DEAD)
		B.p.c = NULL;
	mmaster_reap(M);
}

static int peer_open(struct peer *p, const char *name)
{
	int sv[2];

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0,
		       sv) < 0)
		die("socketpair failed");
	p->c = mconn_new(M, sv[0], name);
	if (!p->c)
		die("mconn_new failed");
	p->fd = sv[1];
	p->eof = 0;
	return 0;
}

/* Write what the socket takes of buf[0..len); returns the bytes written. */
static size_t peer_write(struct peer *p, const uint8_t *buf, size_t len)
{
	ssize_t n;

	if (len == 0)
		return 0;
	n = send(p->fd, buf, len, MSG_NOSIGNAL | MSG_DONTWAIT);
	return n > 0 ? (size_t)n : 0;
}

/* Read everything the master sent; into `keep` (B) or nowhere (A). */
static void peer_read(struct peer *p, uint8_t *keep, size_t *klen,
		      size_t kcap)
{
	static uint8_t sink[65536];

	for (;;) {
		uint8_t *dst = keep ? keep + *klen : sink;
		size_t room = keep ? kcap - *klen : sizeof(sink);
		ssize_t n;

		if (room == 0)
			die("the master sent B a frame larger than the segment");
		n = recv(p->fd, dst, room, MSG_DONTWAIT);
		if (n > 0) {
			if (keep)
				*klen += (size_t)n;
			continue;
		}
		if (n == 0)
			p->eof = 1;
		return;
	}
}

/* B sends one frame (small: the socket always takes it whole). */
static void b_send(enum dsm_kind kind, uint32_t id, const uint8_t *pl,
		   size_t len)
{
	uint8_t f[DSM_HDR_LEN + 64];

	dsm_hdr_put(f, kind, id, (uint32_t)len);
	if (len)
		memcpy(f + DSM_HDR_LEN, pl, len);
	if (B.p.c && peer_write(&B.p, f, DSM_HDR_LEN + len) !=
	    DSM_HDR_LEN + len)
		die("B's frame did not fit in its socket");
}

static void b_range(enum dsm_kind kind, uint32_t id, size_t page,
		    size_t npages)
{
	uint8_t pl[2 * sizeof(CONFIG_LEN)];

	put_len(pl, (CONFIG_LEN)(page * M->page_size));
	put_len(pl + DSM_LEN_BYTES, (CONFIG_LEN)(npages * M->page_size));
	b_send(kind, id, pl, 2 * DSM_LEN_BYTES);
}

/* B's release of its round's page: one modified byte, then UNLOW. */
static void b_release(void)
{
	uint8_t pl[DSM_LEN_BYTES + 4 + 4 + 1];
	uint32_t id = ++B.next_id;

	put_len(pl, (CONFIG_LEN)(B.page * M->page_size));
	put_u32(pl + DSM_LEN_BYTES, 1);
	put_u16(pl + DSM_LEN_BYTES + 4, (uint16_t)(B.round * 8 % 4096));
	put_u16(pl + DSM_LEN_BYTES + 6, 1);
	pl[DSM_LEN_BYTES + 8] = (uint8_t)B.round;
	b_send(K_UPDAT, id, pl, sizeof(pl));
	b_range(K_UNLOW, id, B.page, 1);
	B.st = B_IDLE;
}

/* B's nonce in its JOIN? (any fixed bytes will do). */
static void b_nonce(uint8_t nn[DSM_NONCE_LEN])
{
	for (unsigned i = 0; i < DSM_NONCE_LEN; i++)
		nn[i] = (uint8_t)(i * 7 + 1);
}

/* Handle the frames B received, as a correct node would. */
static void b_frames(void)
{
	size_t pos = 0;

	while (B.inlen - pos >= DSM_HDR_LEN) {
		const uint8_t *h = B.in + pos;
		enum dsm_kind kind = dsm_kind_parse(h);
		uint32_t id = get_u32(h + 5), len = get_u32(h + 9);

		if (B.inlen - pos - DSM_HDR_LEN < len)
			break;
		switch (kind) {
		case K_AUTHQ:
			/* The master's nonce is the first half: prove we
			 * know the secret (its own proof is not checked). */
			if (len == DSM_NONCE_LEN + DSM_MAC_LEN) {
				uint8_t nn[DSM_NONCE_LEN], mac[DSM_MAC_LEN];

				b_nonce(nn);
				dsm_auth_proof(&secret, DSM_AUTH_LABEL_NODE,
					       h + DSM_HDR_LEN, nn, mac);
				b_send(K_AUTHA, id, mac, sizeof(mac));
			}
			break;
		case K_JOINA:
			B.joined = 1;
			break;
		case K_PAGES:
			B.have_pages = 1;
			break;
		case K_INVAL:
			/* B's modifications always leave with its unlock:
			 * nothing to flush. */
			b_send(K_OKINV, id, NULL, 0);
			break;
		case K_OKLOC:
			if (B.st == B_WAIT_LOCK && id == B.lock_id)
				B.st = B_HOLD;
			break;
		case K_PINGQ:
			b_send(K_PINGA, id, NULL, 0);
			break;
		default:
			/* OKUNL, RECAL (B unlocks at its next round anyway),
			 * DECO!, ERROR: nothing to do. */
			break;
		}
		pos += DSM_HDR_LEN + len;
	}
	memmove(B.in, B.in + pos, B.inlen - pos);
	B.inlen -= pos;
}

/* Run one pass of the master and read what it sent to A and B. */
static void step(void)
{
	pass();
	if (A.c)
		peer_read(&A, NULL, NULL, 0);
	if (B.p.c) {
		peer_read(&B.p, B.in, &B.inlen, B_BUF);
		b_frames();
	}
}

/* Between chunks of A's stream: B releases what it holds, or asks anew. */
static void b_round(void)
{
	if (!B.p.c)
		return;
	if (B.st == B_HOLD) {
		b_release();
	} else if (B.st == B_IDLE) {
		B.round++;
		B.page = B.round % SEG_PAGES;
		B.lock_id = ++B.next_id;
		b_range(K_LOCKW, B.lock_id, B.page, 1);
		B.st = B_WAIT_LOCK;
	}
}

/* B joins and copies every page; bounded. */
static void b_start(void)
{
	uint8_t pl[10 + DSM_NONCE_LEN];
	uint8_t g[2 * sizeof(CONFIG_LEN) + 1];

	memset(&B.p, 0, sizeof(B.p));
	B.st = B_JOINING;
	B.next_id = 0;
	B.round = 0;
	B.joined = B.have_pages = 0;
	B.inlen = 0;
	peer_open(&B.p, "bystander");
	put_u32(pl, DSM_PROTO_VERSION);
	put_u8(pl + 4, (uint8_t)DSM_LEN_BYTES);
	put_u8(pl + 5, 0);
	put_u32(pl + 6, (uint32_t)M->page_size);
	b_nonce(pl + 10);
	b_send(K_JOINQ, 1, pl, sizeof(pl));
	for (int i = 0; !B.joined; i++) {
		if (i == 100 || !B.p.c)
			die("the bystander node could not join");
		step();
	}
	put_len(g, 0);
	put_len(g + DSM_LEN_BYTES, SEG_PAGES);
	put_u8(g + 2 * DSM_LEN_BYTES, 0);
	b_send(K_GETPG, 0, g, 2 * DSM_LEN_BYTES + 1);
	for (int i = 0; !B.have_pages; i++) {
		if (i == 100 || !B.p.c)
			die("the bystander node got no pages");
		step();
	}
	B.st = B_IDLE;
}

/*
 * End of chunk `k` starting at off: FRAMES_PER_CHUNK frames as their
 * headers claim (clamped to the input), plus 5 bytes of the next frame for
 * odd k.
 */
static size_t chunk_end(const uint8_t *d, size_t size, size_t off,
			unsigned k)
{
	size_t end = off;

	for (int f = 0; f < FRAMES_PER_CHUNK && end < size; f++) {
		size_t len = size - end >= DSM_HDR_LEN ?
			DSM_HDR_LEN + (size_t)get_u32(d + end + 9) : size - end;

		end = len > size - end ? size : end + len;
	}
	if (k % 2 == 1)
		end = size - end > 5 ? end + 5 : size;
	return end;
}

/* Step until `p`'s connection is freed by the master; bounded. */
static void wait_gone(struct peer *p, const char *who)
{
	for (int i = 0; p->c; i++) {
		char why[96];

		if (i == MAX_PASSES) {
			snprintf(why, sizeof(why), "%s's connection did not end "
				 "within %d passes after its end of file", who,
				 MAX_PASSES);
			die(why);
		}
		step();
		if (p == &B.p && B.st == B_HOLD)
			b_release();
	}
}

/* Reset what one input may leave in the master for the next one. */
static void master_reset(void)
{
	if (M->conns)
		die("a connection outlived its input");
	mobj_free_all(M);
	M->shm_exists = 0;
	M->shm_size = 0;
	M->next_inval = 0;
	M->next_node_id = 0;
}

/*
 * A second master that requires the secret (docs/PROTOCOL.md
 * "Authentication"), from a temporary 0600 file; the bystander proves it
 * knows it.  NULL if this build cannot (its inputs then go to M_open).
 */
static struct master *auth_master(struct master_config *cfg)
{
	static const char key[] = "fuzz-master-secret-0123456789";
	char path[] = "/tmp/fuzz_master_secret.XXXXXX";
	char why[256];
	struct master *m;
	int fd = mkstemp(path), err = 0;

	if (fd < 0 || write(fd, key, sizeof(key) - 1) != sizeof(key) - 1)
		die("cannot write the secret file");
	close(fd);
	cfg->secret_file = path;
	m = master_create(cfg, &err);
	cfg->secret_file = NULL;
	if (m && dsm_secret_load(path, &secret, why, sizeof(why)) < 0)
		die(why);
	unlink(path);
	return m;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	struct master_config cfg;
	const char *lvl = getenv("FUZZ_LOG");
	int err = 0;

	(void)argc;
	(void)argv;
	/* Silent unless asked: every rejected input logs a line. */
	dsm_log_level = lvl ? dsm_log_parse_level(lvl) : -1;
	memset(&cfg, 0, sizeof(cfg));
	cfg.size = SEG_PAGES * (size_t)sysconf(_SC_PAGESIZE);
	cfg.listen_addr = "127.0.0.1";
	M_open = master_create(&cfg, &err);
	if (!M_open)
		die("master_create failed");
	M_auth = auth_master(&cfg);
	B.in = malloc(B_BUF);
	if (!B.in)
		die("out of memory");
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t off = 0, end = 0;
	unsigned k = 0;

	if (!M_open)
		LLVMFuzzerInitialize(NULL, NULL);
	/* One input in three meets the master with a secret. */
	M = M_auth && size % 3 == 1 ? M_auth : M_open;
	b_start();
	peer_open(&A, "fuzzed");
	while (off < size && A.c && A.c->state != MC_CLOSING) {
		int guard = 0;

		end = chunk_end(data, size, off, k++);
		/* A frame larger than the socket buffer goes in pieces. */
		while (off < end && A.c && A.c->state != MC_CLOSING) {
			off += peer_write(&A, data + off, end - off);
			step();
			if (++guard == MAX_PASSES)
				die("the master stopped reading the fuzzed node");
		}
		b_round();
		step();
	}
	b_round();
	step();
	shutdown(A.fd, SHUT_WR);
	wait_gone(&A, "the fuzzed node");
	close(A.fd);

	/* B leaves: DECO? (after its DECO! the master closes) or just EOF. */
	if (B.st == B_HOLD)
		b_release();
	if (size % 2 == 0)
		b_send(K_DECOQ, ++B.next_id, NULL, 0);
	else
		shutdown(B.p.fd, SHUT_WR);
	for (int i = 0; B.p.c && !B.p.eof; i++) {
		if (i == MAX_PASSES)
			die("the bystander's DECO? got no answer");
		step();
		if (B.st == B_HOLD)
			b_release();
	}
	shutdown(B.p.fd, SHUT_WR);
	wait_gone(&B.p, "the bystander");
	close(B.p.fd);
	master_reset();
	return 0;
}
