/*
 * dsm-noise - hostile input for a live master: many short connections that
 * send random and mutated frames (tests/120-noise.bats, docs/FUZZING.md).
 * Standalone: only include/ headers.
 *
 *   dsm-noise [-s SEED] [-c CONNECTIONS] [-f FRAMES] [-p OFF:LEN]
 *             [-t SECONDS] HOST PORT
 *
 *   -s SEED   seed of the generator (default 1); the same seed builds the
 *             same streams for a master of the same segment and page size
 *             (how much of each the master reads before it closes varies)
 *   -c N      connections (default 300), one after the other
 *   -f N      at most N frames per connection (default 40)
 *   -p OFF:LEN  bytes of the segment that must not change: no UPDAT the
 *             master could accept ever touches their pages (so that a test
 *             can check its own data while the noise runs; see below)
 *   -t SECS   stop starting connections after SECS seconds (default 60)
 *
 * The first connection is a well-behaved node: JOIN?, then DECO?; its
 * JOIN! gives the segment and page size the rest aims at.  Each of the
 * others builds one byte stream of a kind drawn at random:
 *   random bytes; a valid JOIN? then frames of random kinds, ids and
 *   lengths; a valid JOIN? then valid frames (locks, releases, UPDAT,
 *   GETPG, OBJOP, ...) mutated (bit flips, len fields made wrong, huge or
 *   over the 1 MiB limit, frames cut short); a bad JOIN? (version, ARCHI,
 *   page size, length); a header announcing a large payload that never
 *   comes,
 * sends it in pieces of random size while reading whatever the master
 * answers, shuts its side and reads until the master closes (2 s at most).
 *
 * The protected range: the stream is framed exactly as the master frames
 * it, and the first UPDAT whose diff records would touch a protected page
 * gets an unknown kind instead (the master closes there).  A node with a
 * lock may legitimately write anything; this keeps the noise from doing so.
 *
 * Output: one summary line, "dsm-noise: seed S: C connections, F frames,
 * B bytes; closed by the master: X, reset: R, still open after 2 s: T"
 * (F frames built, B bytes the master took).
 * Exit status 0; 1 if the master could not be reached or refused the
 * well-behaved node (it died, or never answered); 2 on bad usage.
 */
#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "dsm_wire.h"

#define MAX_STREAM (256u * 1024u)
#define IO_MS 2000

static uint64_t rng_state;
static size_t seg_size, page_size;
static uint64_t prot_first = 1, prot_last;	/* pages; empty if first > last */
static unsigned long nframes, nbytes, nclosed, nreset, nopen;

static uint8_t stream[MAX_STREAM];
static size_t slen;

/* xorshift64*: small, fast, reproducible everywhere. */
static uint64_t rnd(void)
{
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * 0x2545F4914F6CDD1Dull;
}

static uint64_t below(uint64_t n)
{
	return n ? rnd() % n : 0;
}

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void usage(void)
{
	fprintf(stderr, "usage: dsm-noise [-s SEED] [-c CONNECTIONS] [-f FRAMES] "
		"[-p OFF:LEN] [-t SECONDS] HOST PORT\n");
	exit(2);
}

static unsigned long long number(const char *s)
{
	char *end;
	unsigned long long v;

	errno = 0;
	v = strtoull(s, &end, 0);
	if (errno || end == s || *end || s[0] == '-')
		usage();
	return v;
}

static int dial(const char *host, const char *port)
{
	struct addrinfo hints = { .ai_family = AF_UNSPEC,
				  .ai_socktype = SOCK_STREAM };
	struct addrinfo *res, *ai;
	int fd = -1;

	if (getaddrinfo(host, port, &hints, &res) != 0)
		return -1;
	for (ai = res; ai; ai = ai->ai_next) {
		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC,
			    ai->ai_protocol);
		if (fd < 0)
			continue;
		if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0)
			break;
		close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	return fd;
}

/* Room for n more bytes of the stream, or NULL when it is full. */
static uint8_t *room(size_t n)
{
	uint8_t *p;

	if (n > MAX_STREAM - slen)
		return NULL;
	p = stream + slen;
	slen += n;
	return p;
}

static void frame(enum dsm_kind kind, uint32_t id, const uint8_t *pl,
		  size_t len)
{
	uint8_t *p = room(DSM_HDR_LEN + len);

	if (!p)
		return;
	dsm_hdr_put(p, kind, id, (uint32_t)len);
	if (len)
		memcpy(p + DSM_HDR_LEN, pl, len);
	nframes++;
}

static void join_payload(uint8_t *pl, uint32_t version, unsigned clen,
			 uint32_t ps)
{
	put_u32(pl, version);
	put_u8(pl + 4, (uint8_t)clen);
	put_u8(pl + 5, 0);
	put_u32(pl + 6, ps);
	for (unsigned i = 0; i < DSM_NONCE_LEN; i++)
		pl[10 + i] = (uint8_t)rnd();
}

static void valid_join(void)
{
	uint8_t pl[10 + DSM_NONCE_LEN];

	join_payload(pl, DSM_PROTO_VERSION, DSM_LEN_BYTES, (uint32_t)page_size);
	frame(K_JOINQ, 1, pl, below(2) ? sizeof(pl) : 10);
}

/* An offset that is usually interesting: page-aligned, in or near range. */
static uint64_t some_offset(void)
{
	switch (below(6)) {
	case 0:
		return rnd();
	case 1:
		return seg_size + below(3) * page_size;
	case 2:
		return below(seg_size + 1);
	default:
		return below(seg_size / page_size) * page_size;
	}
}

static uint64_t some_length(void)
{
	switch (below(5)) {
	case 0:
		return rnd();
	case 1:
		return 0;
	case 2:
		return below(seg_size + 2);
	default:
		return (1 + below(4)) * page_size;
	}
}

/* One valid frame a node may send (its arguments may still be out of
 * range); ids small, sometimes with the INVAL bit. */
static void valid_frame(void)
{
	uint8_t pl[4 + 2 * 8 + 4 + 64 * 5];
	uint32_t id = (uint32_t)below(8) + (below(4) ? 0 : 0x80000000u);
	size_t n;

	/* Mostly frames a node sends all the time; the ones that end the
	 * connection (ERROR, AUTH!, stray OKINV) rarely. */
	switch (below(16)) {
	case 0:
	case 1:
	case 2:
	case 3:
		put_len(pl, (CONFIG_LEN)some_offset());
		put_len(pl + DSM_LEN_BYTES, (CONFIG_LEN)some_length());
		frame(below(2) ? K_LOCKW : K_LOCKR, id, pl, 2 * DSM_LEN_BYTES);
		break;
	case 4:
	case 5:
		put_len(pl, (CONFIG_LEN)some_offset());
		put_len(pl + DSM_LEN_BYTES, (CONFIG_LEN)some_length());
		frame(below(2) ? K_UNLOW : K_UNLOR, id, pl, 2 * DSM_LEN_BYTES);
		break;
	case 6:
	case 7:
		put_len(pl, (CONFIG_LEN)some_offset());
		put_len(pl + DSM_LEN_BYTES, (CONFIG_LEN)below(4));
		put_u8(pl + 2 * DSM_LEN_BYTES, (uint8_t)below(2));
		frame(K_GETPG, id, pl, 2 * DSM_LEN_BYTES + 1);
		break;
	case 8:
	case 9:
	case 10: {
		/* One record of up to 8 runs, ascending. */
		unsigned runs = (unsigned)below(8) + 1, at = 0;

		put_len(pl, (CONFIG_LEN)some_offset());
		n = DSM_LEN_BYTES + 4;
		for (unsigned r = 0; r < runs; r++) {
			unsigned len = (unsigned)below(4) + 1;

			at += (unsigned)below(64);
			put_u16(pl + n, (uint16_t)at);
			put_u16(pl + n + 2, (uint16_t)len);
			n += 4;
			for (unsigned i = 0; i < len; i++)
				pl[n++] = (uint8_t)rnd();
			at += len;
		}
		put_u32(pl + DSM_LEN_BYTES, runs);
		frame(K_UPDAT, id, pl, n);
		break;
	}
	case 11:
	case 12:
	case 13:
		put_u8(pl, (uint8_t)below(OP_NOPS + 2));
		put_u8(pl + 1, (uint8_t)below(4));
		put_u16(pl + 2, 0);
		put_len(pl + 4, (CONFIG_LEN)(below(4) ? below(64) * 8 :
					     some_offset()));
		put_len(pl + 4 + DSM_LEN_BYTES, (CONFIG_LEN)below(4));
		frame(K_OBJOP, id, pl, DSM_OBJOP_LEN);
		break;
	case 14: {
		static const enum dsm_kind empty[] = {
			K_OKINV, K_PUSHQ, K_OBJCN, K_DECOQ, K_PINGA, K_PINGQ
		};

		frame(empty[below(sizeof(empty) / sizeof(empty[0]))], id,
		      NULL, 0);
		break;
	}
	default:
		if (below(2)) {
			put_u32(pl, (uint32_t)below(12));
			memcpy(pl + 4, "noise", 5);
			frame(K_ERROR, id, pl, 9);
			break;
		}
		for (n = 0; n < 32; n++)
			pl[n] = (uint8_t)rnd();
		frame(K_AUTHA, id, pl, 32);
		break;
	}
}

/* A frame of any kind, random id and random payload of a random length. */
static void random_frame(void)
{
	uint8_t pl[512];
	size_t len = below(4) ? below(40) : below(sizeof(pl));
	enum dsm_kind kind = (enum dsm_kind)(1 + below(K_NKINDS - 1));

	for (size_t i = 0; i < len; i++)
		pl[i] = (uint8_t)rnd();
	size_t at = slen;

	frame(kind, (uint32_t)rnd(), pl, len);
	if (slen > at && below(8) == 0)	/* five random kind bytes */
		for (int i = 0; i < 5; i++)
			stream[at + (size_t)i] = (uint8_t)rnd();
}

/* Damage the frame that starts at `at` (ends at slen). */
static void mutate(size_t at)
{
	size_t flen = slen - at;

	switch (below(6)) {
	case 0:
	case 1:
		for (uint64_t k = below(4) + 1; k > 0; k--)
			stream[at + below(flen)] ^= (uint8_t)(1u << below(8));
		break;
	case 2: {
		static const uint32_t lens[] = {
			0, 1, 0xffffffffu, DSM_MAX_PAYLOAD + 1, 0x7fffffffu,
			DSM_MAX_PAYLOAD
		};
		uint32_t len = get_u32(stream + at + 9);

		if (below(2))
			len = lens[below(sizeof(lens) / sizeof(lens[0]))];
		else
			len += (uint32_t)below(5) - 2u;
		put_u32(stream + at + 9, len);
		break;
	}
	case 3:
		/* Cut short: what follows is read as the rest of it. */
		slen = at + below(flen);
		break;
	default:
		break;			/* left valid */
	}
}

static void build_random_bytes(void)
{
	size_t n = (size_t)below(2048) + 1;
	uint8_t *p = room(n);

	for (size_t i = 0; p && i < n; i++)
		p[i] = (uint8_t)rnd();
}

static void build_bad_join(unsigned frames)
{
	uint8_t pl[10 + DSM_NONCE_LEN];
	size_t len = 10;

	join_payload(pl, DSM_PROTO_VERSION, DSM_LEN_BYTES, (uint32_t)page_size);
	switch (below(5)) {
	case 0:
		put_u32(pl, (uint32_t)below(4) + 2);
		break;
	case 1:
		put_u8(pl + 4, DSM_LEN_BYTES == 8 ? 4 : 8);
		break;
	case 2:
		put_u32(pl + 6, (uint32_t)page_size * 2);
		break;
	case 3:
		len = (size_t)below(sizeof(pl) + 1);
		break;
	default:
		put_u8(pl + 4, (uint8_t)below(256));
		break;
	}
	frame(K_JOINQ, (uint32_t)rnd(), pl, len);
	while (frames-- > 0)
		valid_frame();
}

/* A header announcing a big payload, of which only a little comes. */
static void build_big_header(void)
{
	uint8_t *p;
	uint32_t len = below(2) ? DSM_MAX_PAYLOAD : (uint32_t)below(1u << 19);
	size_t n = (size_t)below(4096);

	valid_join();
	p = room(DSM_HDR_LEN + n);
	if (!p)
		return;
	dsm_hdr_put(p, below(2) ? K_UPDAT : K_LOCKW, 2, len);
	for (size_t i = 0; i < n; i++)
		p[DSM_HDR_LEN + i] = (uint8_t)rnd();
	nframes++;
}

/*
 * Frame the stream as the master does; the first UPDAT that could touch a
 * protected page gets the kind "NOISE" (unknown: the master closes there).
 */
static void protect(void)
{
	size_t pos = 0;

	while (prot_first <= prot_last && slen - pos >= DSM_HDR_LEN) {
		uint8_t *h = stream + pos;
		enum dsm_kind kind = dsm_kind_parse(h);
		uint32_t len = get_u32(h + 9);
		size_t r = 0, end;

		if (kind == K_UNKNOWN || len > DSM_MAX_PAYLOAD)
			return;
		end = slen - pos - DSM_HDR_LEN < len ? slen - pos - DSM_HDR_LEN : len;
		while (kind == K_UPDAT && end - r >= DSM_LEN_BYTES + 4) {
			const uint8_t *rec = h + DSM_HDR_LEN + r;
			uint64_t page = (uint64_t)get_len(rec) / page_size;
			uint32_t runs = get_u32(rec + DSM_LEN_BYTES);

			if (page >= prot_first && page <= prot_last) {
				memcpy(h, "NOISE", 5);
				return;
			}
			r += DSM_LEN_BYTES + 4;
			for (uint32_t k = 0; k < runs && r <= end &&
			     end - r >= 4; k++)
				r += 4 + (size_t)get_u16(h + DSM_HDR_LEN + r + 2);
			if (r > end)
				break;
		}
		pos += DSM_HDR_LEN + (size_t)len;
		if (pos > slen)
			return;
	}
}

/*
 * Send the stream in pieces of random size, reading (and dropping) what
 * the master sends; then shut our side and read until it closes.  The
 * piece sizes come from their own generator (seeded from the main one), so
 * that how the socket takes them never changes the streams that follow.
 */
static void play(int fd)
{
	static uint8_t sink[65536];
	uint64_t saved = rnd(), pieces = saved | 1;
	size_t off = 0;
	int64_t until = now_ms() + IO_MS;

	for (;;) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		int left = (int)(until - now_ms());
		ssize_t n;

		if (off < slen)
			p.events |= POLLOUT;
		if (left <= 0 || poll(&p, 1, left) <= 0) {
			nopen++;
			return;
		}
		if (p.revents & (POLLIN | POLLHUP | POLLERR)) {
			n = recv(fd, sink, sizeof(sink), MSG_DONTWAIT);
			if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
				if (n < 0)
					nreset++;
				else
					nclosed++;
				return;
			}
		}
		if ((p.revents & POLLOUT) && off < slen) {
			size_t piece = slen - off;

			/* Swap generators for this draw only. */
			saved = rng_state;
			rng_state = pieces;
			if (below(4) == 0)
				piece = (size_t)below(slen - off) + 1;
			pieces = rng_state;
			rng_state = saved;

			n = send(fd, stream + off, piece, MSG_NOSIGNAL | MSG_DONTWAIT);
			if (n < 0 && errno != EAGAIN && errno != EINTR) {
				nreset++;
				return;
			}
			if (n > 0) {
				off += (size_t)n;
				nbytes += (size_t)n;
			}
			if (off == slen)
				shutdown(fd, SHUT_WR);
		}
	}
}

/* One connection of a random kind (see the top). */
static void noise_connection(const char *host, const char *port,
			     unsigned max_frames)
{
	unsigned frames = (unsigned)below(max_frames) + 1;
	int fd;

	slen = 0;
	switch (below(8)) {
	case 0:
		build_random_bytes();
		break;
	case 1:
		build_bad_join(frames % 4);
		break;
	case 2:
		build_big_header();
		break;
	case 3:
	case 4:
		valid_join();
		while (frames-- > 0)
			random_frame();
		break;
	default:
		valid_join();
		while (frames-- > 0 && slen < MAX_STREAM - 2048) {
			size_t at = slen;

			valid_frame();
			if (slen > at && below(4) == 0) {
				mutate(at);
				if (slen - at < DSM_HDR_LEN)
					break;	/* cut short */
			}
		}
		break;
	}
	protect();
	fd = dial(host, port);
	if (fd < 0) {
		fprintf(stderr, "dsm-noise: cannot connect to %s:%s: %s\n",
			host, port, strerror(errno));
		exit(1);
	}
	play(fd);
	close(fd);
}

/* Read one frame (header and up to 64 KiB payload) with a deadline. */
static int read_frame(int fd, uint8_t *hdr, uint8_t *pl, size_t cap,
		      int64_t until)
{
	size_t need = DSM_HDR_LEN, got = 0;
	uint8_t *dst = hdr;

	for (int part = 0; part < 2; part++) {
		while (got < need) {
			struct pollfd p = { .fd = fd, .events = POLLIN };
			int left = (int)(until - now_ms());
			ssize_t n;

			if (left <= 0 || poll(&p, 1, left) <= 0)
				return -1;
			n = recv(fd, dst + got, need - got, 0);
			if (n <= 0)
				return -1;
			got += (size_t)n;
		}
		if (part == 0) {
			need = get_u32(hdr + 9);
			if (need > cap)
				return -1;
			dst = pl;
			got = 0;
		}
	}
	return 0;
}

/* The well-behaved first node: learn the segment, leave cleanly. */
static void learn(const char *host, const char *port)
{
	uint8_t hdr[DSM_HDR_LEN], pl[600];
	int64_t until = now_ms() + 5000;
	int fd = dial(host, port);
	struct dsm_rd r;

	if (fd < 0) {
		fprintf(stderr, "dsm-noise: cannot connect to %s:%s: %s\n",
			host, port, strerror(errno));
		exit(1);
	}
	slen = 0;
	page_size = (size_t)sysconf(_SC_PAGESIZE);
	valid_join();
	if (send(fd, stream, slen, MSG_NOSIGNAL) != (ssize_t)slen ||
	    read_frame(fd, hdr, pl, sizeof(pl), until) < 0 ||
	    dsm_kind_parse(hdr) != K_JOINA) {
		fprintf(stderr, "dsm-noise: the master at %s:%s did not "
			"accept a valid JOIN?\n", host, port);
		exit(1);
	}
	dsm_rd_init(&r, pl, get_u32(hdr + 9));
	(void)dsm_rd_u32(&r);
	page_size = dsm_rd_u32(&r);
	(void)dsm_rd_u64(&r);
	seg_size = (size_t)dsm_rd_len(&r);
	if (!dsm_rd_done(&r) || page_size == 0 || seg_size < page_size) {
		fprintf(stderr, "dsm-noise: malformed JOIN! from the master\n");
		exit(1);
	}
	slen = 0;
	frame(K_DECOQ, 2, NULL, 0);
	(void)!send(fd, stream, slen, MSG_NOSIGNAL);
	while (read_frame(fd, hdr, pl, sizeof(pl), until) == 0 &&
	       dsm_kind_parse(hdr) != K_DECOA)
		;
	close(fd);
}

int main(int argc, char **argv)
{
	unsigned long long seed = 1, conns = 300, frames = 40, secs = 60;
	unsigned long long poff = 0, plen = 0;
	unsigned long done = 0;
	int64_t end;
	int opt;

	while ((opt = getopt(argc, argv, "s:c:f:p:t:")) != -1) {
		switch (opt) {
		case 's':
			seed = number(optarg);
			break;
		case 'c':
			conns = number(optarg);
			break;
		case 'f':
			frames = number(optarg);
			if (frames == 0)
				usage();
			break;
		case 'p': {
			char *colon = strchr(optarg, ':');

			if (!colon)
				usage();
			*colon = '\0';
			poff = number(optarg);
			plen = number(colon + 1);
			break;
		}
		case 't':
			secs = number(optarg);
			break;
		default:
			usage();
		}
	}
	if (argc - optind != 2)
		usage();
	rng_state = seed * 0x9E3779B97F4A7C15ull + 1;
	learn(argv[optind], argv[optind + 1]);
	if (plen > 0) {
		prot_first = poff / page_size;
		prot_last = (poff + plen - 1) / page_size;
	}
	end = now_ms() + (int64_t)secs * 1000;
	for (; done < conns && now_ms() < end; done++)
		noise_connection(argv[optind], argv[optind + 1],
				 (unsigned)frames);
	printf("dsm-noise: seed %llu: %lu connections, %lu frames, %lu bytes; "
	       "closed by the master: %lu, reset: %lu, still open after 2 s: "
	       "%lu\n", seed, done, nframes, nbytes, nclosed, nreset, nopen);
	return 0;
}
