/*
 * mkcorpus.c - write the seed corpus of the fuzz targets (`make
 * fuzz-corpus`): valid sessions, one file each, under DIR/master/ (what a
 * node sends to the master, for fuzz_master) and DIR/node/ (what a master
 * sends to a node after its first request, for fuzz_node).
 *
 *   mkcorpus DIR
 *
 * Seeds are for an ARCHI=64 build with this machine's page size and the
 * targets' segments (4 pages for fuzz_master, 16 for fuzz_node).  They
 * follow the scripts of the targets: in fuzz_master the bystander node
 * takes page 1 in its first round (after the first 4 frames) and releases
 * it in its second (after 4 more and 5 bytes), which sends an INVAL with id
 * 0x80000001 to a node holding a copy, and a seed's length picks the master
 * (route()); in fuzz_node the first request is LOCKW id 1 of pages 0-1,
 * then PUSH? or UNLOW id 2, LOCKR id 3 of page 2, DECO? 4 at the end.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "dsm_wire.h"

#define MASTER_PAGES 4
#define NODE_PAGES 16
#define INVAL1 (0x80000000u | 1u)

static uint8_t buf[1 << 20];
static size_t used;
static size_t ps;
static const char *dir;

static void frame(enum dsm_kind kind, uint32_t id, const uint8_t *pl,
		  size_t len)
{
	if (used + DSM_HDR_LEN + len > sizeof(buf)) {
		fprintf(stderr, "mkcorpus: seed too large\n");
		exit(1);
	}
	dsm_hdr_put(buf + used, kind, id, (uint32_t)len);
	if (len)
		memcpy(buf + used + DSM_HDR_LEN, pl, len);
	used += DSM_HDR_LEN + len;
}

/*
 * fuzz_master sends an input whose length is 1 modulo 3 to its master with
 * a secret: `secret` says which one this seed is for.  Trailing zero bytes
 * (an unfinished header, harmless at the end) adjust the length.
 */
static void route(int secret)
{
	while ((used % 3 == 1) != secret)
		buf[used++] = 0;
}

static void save(const char *sub, const char *name)
{
	char path[4096];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s/%s", dir, sub, name);
	f = fopen(path, "wb");
	if (!f || fwrite(buf, 1, used, f) != used || fclose(f) != 0) {
		fprintf(stderr, "mkcorpus: writing %s: %s\n", path,
			strerror(errno));
		exit(1);
	}
	used = 0;
}

static void join(int nonce)
{
	uint8_t pl[10 + DSM_NONCE_LEN];

	put_u32(pl, DSM_PROTO_VERSION);
	put_u8(pl + 4, (uint8_t)DSM_LEN_BYTES);
	put_u8(pl + 5, 0);
	put_u32(pl + 6, (uint32_t)ps);
	for (unsigned i = 0; i < DSM_NONCE_LEN; i++)
		pl[10 + i] = (uint8_t)(i * 37 + 11);
	frame(K_JOINQ, 1, pl, nonce ? sizeof(pl) : 10);
}

/* A frame whose payload is two L integers (LOCK*, UNLO*, RECAL). */
static void range(enum dsm_kind kind, uint32_t id, uint64_t off, uint64_t len)
{
	uint8_t pl[16];

	put_len(pl, (CONFIG_LEN)off);
	put_len(pl + DSM_LEN_BYTES, (CONFIG_LEN)len);
	frame(kind, id, pl, 2 * DSM_LEN_BYTES);
}

/* UNLOW id with flags DSM_UNLO_DROPPED: the node dropped its copies. */
static void unlow_dropped(uint32_t id, uint64_t off, uint64_t len)
{
	uint8_t pl[2 * sizeof(CONFIG_LEN) + 1];

	put_len(pl, (CONFIG_LEN)off);
	put_len(pl + DSM_LEN_BYTES, (CONFIG_LEN)len);
	put_u8(pl + 2 * DSM_LEN_BYTES, DSM_UNLO_DROPPED);
	frame(K_UNLOW, id, pl, sizeof(pl));
}

static void getpg(uint64_t page, uint64_t count, uint8_t flags)
{
	uint8_t pl[17];

	put_len(pl, (CONFIG_LEN)(page * ps));
	put_len(pl + DSM_LEN_BYTES, (CONFIG_LEN)count);
	put_u8(pl + 2 * DSM_LEN_BYTES, flags);
	frame(K_GETPG, 0, pl, 2 * DSM_LEN_BYTES + 1);
}

/* UPDAT id: `nruns` runs of 2 bytes in page `page`. */
static void updat(uint32_t id, uint64_t page, unsigned nruns)
{
	uint8_t pl[256];
	size_t n = DSM_LEN_BYTES + 4;

	put_len(pl, (CONFIG_LEN)(page * ps));
	put_u32(pl + DSM_LEN_BYTES, nruns);
	for (unsigned r = 0; r < nruns; r++) {
		put_u16(pl + n, (uint16_t)(r * 16));
		put_u16(pl + n + 2, 2);
		pl[n + 4] = (uint8_t)(0x40 + r);
		pl[n + 5] = (uint8_t)(0x60 + r);
		n += 6;
	}
	frame(K_UPDAT, id, pl, n);
}

static void objop(uint32_t id, unsigned op, unsigned arg8, uint64_t off,
		  uint64_t arg)
{
	uint8_t pl[DSM_OBJOP_LEN];

	put_u8(pl, (uint8_t)op);
	put_u8(pl + 1, (uint8_t)arg8);
	put_u16(pl + 2, 0);
	put_len(pl + 4, (CONFIG_LEN)off);
	put_len(pl + 4 + DSM_LEN_BYTES, (CONFIG_LEN)arg);
	frame(K_OBJOP, id, pl, sizeof(pl));
}

static void error(uint32_t id, uint32_t code, const char *text)
{
	uint8_t pl[4 + 64];
	size_t n = strlen(text);

	put_u32(pl, code);
	memcpy(pl + 4, text, n);
	frame(K_ERROR, id, pl, 4 + n);
}

static void master_seeds(void)
{
	uint8_t pl[DSM_MAC_LEN];

	join(0);
	route(0);
	save("master", "join");
	join(1);
	route(0);
	save("master", "join-nonce");

	join(1);
	range(K_LOCKW, 1, 0, ps);
	updat(2, 0, 3);
	range(K_UNLOW, 2, 0, ps);
	range(K_LOCKR, 3, 0, 3 * ps);
	range(K_UNLOR, 4, 0, 3 * ps);
	frame(K_DECOQ, 5, NULL, 0);
	route(0);
	save("master", "lock-write-release-leave");

	/* Copies of everything, so that the bystander's release of page 1
	 * (after chunk 2) sends INVAL 0x80000001 here; acknowledged in
	 * chunk 3 after a flush of our own bytes of page 1. */
	join(1);
	getpg(0, MASTER_PAGES, 0);
	objop(2, OP_SHM_STAT, 0, 0, 0);
	objop(3, OP_SEM_GETVALUE, 0, 64, 0);
	objop(4, OP_SEM_GETVALUE, 0, 64, 0);
	objop(5, OP_SEM_GETVALUE, 0, 64, 0);
	objop(6, OP_SEM_GETVALUE, 0, 64, 0);
	objop(7, OP_SEM_GETVALUE, 0, 64, 0);
	updat(INVAL1, 1, 1);
	frame(K_OKINV, INVAL1, NULL, 0);
	getpg(1, 1, DSM_GETPG_WRITE);
	frame(K_PUSHQ, 8, NULL, 0);
	route(0);
	save("master", "copies-inval-flush-okinv");

	/* A contended unlock drops the copy (no INVAL for it when the
	 * bystander writes page 1), the next grant pushes it back. */
	join(1);
	getpg(1, 1, 0);
	range(K_LOCKW, 1, ps, ps);
	updat(2, 1, 1);
	unlow_dropped(2, ps, ps);
	range(K_LOCKW, 3, ps, ps);
	range(K_UNLOW, 4, ps, ps);
	route(0);
	save("master", "unlock-dropped");

	/* Contention with the bystander on page 1, and waiting for ourselves. */
	join(1);
	range(K_LOCKW, 1, ps, 2 * ps);
	range(K_LOCKR, 2, 3 * ps, ps);
	range(K_LOCKW, 3, ps, ps);
	range(K_UNLOW, 4, ps, 2 * ps);
	range(K_UNLOR, 5, 3 * ps, ps);
	route(0);
	save("master", "contention");

	join(1);
	objop(1, OP_MUTEX_INIT, DSM_MUTEX_RECURSIVE, 64, 0);
	objop(2, OP_MUTEX_LOCK, 0, 64, 0);
	objop(3, OP_MUTEX_TRYLOCK, 0, 64, 0);
	objop(4, OP_MUTEX_UNLOCK, 0, 64, 0);
	objop(5, OP_RW_RDLOCK, 0, 128, 0);
	objop(6, OP_RW_TRYWRLOCK, 0, 128, 0);
	objop(7, OP_RW_UNLOCK, 0, 128, 0);
	objop(8, OP_COND_INIT, 0, 192, 0);
	objop(9, OP_MUTEX_LOCK, 0, 64, 0);
	objop(10, OP_COND_WAIT, 0, 192, 64);
	frame(K_OBJCN, 10, NULL, 0);
	objop(11, OP_SEM_INIT, 0, 256, 1);
	objop(12, OP_SEM_WAIT, 0, 256, 0);
	objop(13, OP_SEM_POST, 0, 256, 0);
	objop(14, OP_SEM_TRYWAIT, 0, 256, 0);
	objop(15, OP_BARRIER_INIT, 0, 320, 2);
	objop(16, OP_BARRIER_WAIT, 0, 320, 0);
	route(0);
	save("master", "objects");

	join(1);
	objop(1, OP_SHM_OPEN, DSM_SHM_CREATE | DSM_SHM_EXCL, 0, 0);
	objop(2, OP_SHM_TRUNCATE, 0, 0, 8 * ps);
	objop(3, OP_SHM_STAT, 0, 0, 0);
	objop(4, OP_COND_BROADCAST, 0, 192, 0);
	objop(5, OP_COND_SIGNAL, 0, 192, 0);
	objop(6, OP_RW_WRLOCK, 0, 128, 0);
	objop(7, OP_DESTROY, 0, 128, 0);
	objop(8, OP_SHM_UNLINK, 0, 0, 0);
	route(0);
	save("master", "objects-shm");

	/* Well-formed requests with bad arguments: the connection stays. */
	join(1);
	range(K_LOCKW, 1, 0, 0);
	range(K_LOCKR, 2, MASTER_PAGES * ps, 1);
	getpg(MASTER_PAGES, 1, 0);
	range(K_UNLOW, 3, 0, ps);
	objop(4, OP_MUTEX_LOCK, 0, MASTER_PAGES * ps, 0);
	frame(K_OKINV, 5, NULL, 0);
	route(0);
	save("master", "bad-arguments");

	join(1);
	error(0, 6, "node gives up");
	route(0);
	save("master", "node-error");

	put_u32(pl, 2);
	put_u8(pl + 4, 8);
	put_u8(pl + 5, 0);
	put_u32(pl + 6, (uint32_t)ps);
	frame(K_JOINQ, 1, pl, 10);
	route(0);
	save("master", "join-version-2");
	put_u32(pl, DSM_PROTO_VERSION);
	put_u8(pl + 4, 4);
	frame(K_JOINQ, 1, pl, 10);
	route(0);
	save("master", "join-archi32");

	join(1);
	updat(1, 2, 4);
	updat(1, 3, 1);
	range(K_LOCKW, 2, 2 * ps, ps);
	frame(K_PUSHQ, 1, NULL, 0);
	updat(3, 2, 2);
	frame(K_DECOQ, 3, NULL, 0);
	route(0);
	save("master", "release-without-lock");

	join(1);
	range(K_LOCKW, 1, 0, MASTER_PAGES * ps);
	updat(2, 5, 2);
	route(0);
	save("master", "dies-holding-everything");

	/* Statistics, with a sane and an absurd number of pages per list. */
	join(1);
	range(K_LOCKW, 1, 0, ps);
	updat(2, 0, 2);
	range(K_UNLOW, 2, 0, ps);
	put_u32(pl, 3);
	frame(K_STATQ, 3, pl, 4);
	put_u32(pl, 0xffffffffu);
	frame(K_STATQ, 4, pl, 4);
	route(0);
	save("master", "stats");

	/* For the master with a secret: it cannot be proven, so refusals. */
	join(1);
	memset(pl, 0x5a, sizeof(pl));
	frame(K_AUTHA, 1, pl, DSM_MAC_LEN);
	range(K_LOCKW, 2, 0, ps);
	route(1);
	save("master", "auth-wrong-proof");
	join(0);
	route(1);
	save("master", "auth-no-nonce");
	join(1);
	range(K_LOCKW, 2, 0, ps);
	route(1);
	save("master", "auth-frame-instead-of-proof");
	join(1);
	frame(K_AUTHA, 1, pl, 8);
	route(1);
	save("master", "auth-short-proof");
}

/* PAGES id: `count` pages from page `first`, filled with `fill`. */
static void pages(uint32_t id, uint64_t first, uint64_t count, uint8_t fill)
{
	static uint8_t pl[2 * 8 + NODE_PAGES * 65536];
	size_t n = 2 * DSM_LEN_BYTES + count * ps;

	put_len(pl, (CONFIG_LEN)(first * ps));
	put_len(pl + DSM_LEN_BYTES, (CONFIG_LEN)count);
	memset(pl + 2 * DSM_LEN_BYTES, fill, count * ps);
	frame(K_PAGES, id, pl, n);
}

static void inval(uint32_t id, uint64_t first, uint64_t count)
{
	uint8_t pl[8 + NODE_PAGES * 8];

	put_len(pl, (CONFIG_LEN)count);
	for (uint64_t k = 0; k < count; k++)
		put_len(pl + DSM_LEN_BYTES * (1 + k), (CONFIG_LEN)((first + k) * ps));
	frame(K_INVAL, id, pl, DSM_LEN_BYTES * (1 + count));
}

static void objok(uint32_t id, uint32_t result, uint64_t value)
{
	uint8_t pl[DSM_OBJOK_LEN];

	put_u32(pl, result);
	put_len(pl + 4, (CONFIG_LEN)value);
	frame(K_OBJOK, id, pl, sizeof(pl));
}

static void node_seeds(void)
{
	/* The whole program: pages pushed writable with the grant, its
	 * writes released with PUSH? 2, LOCKR 3 granted, DECO? 4. */
	pages(1, 0, 2, 0x11);
	frame(K_OKLOC, 1, NULL, 0);
	frame(K_PUSHA, 2, NULL, 0);
	frame(K_OKLOC, 3, NULL, 0);
	frame(K_DECOA, 4, NULL, 0);
	save("node", "grant-with-pages");

	/* Recalled while held: the unlock gives the pages back (UNLOW 2). */
	pages(1, 0, 2, 0x12);
	frame(K_OKLOC, 1, NULL, 0);
	range(K_RECAL, 0, 0, 2 * ps);
	frame(K_OKUNL, 2, NULL, 0);
	frame(K_OKLOC, 3, NULL, 0);
	frame(K_DECOA, 4, NULL, 0);
	save("node", "grant-recall-session");

	/* A dirty page invalidated before the unlock: flushed with OKINV. */
	pages(1, 0, 2, 0x13);
	frame(K_OKLOC, 1, NULL, 0);
	frame(K_PUSHA, 2, NULL, 0);
	inval(INVAL1, 0, 1);
	frame(K_OKLOC, 3, NULL, 0);
	frame(K_DECOA, 4, NULL, 0);
	save("node", "grant-inval-dirty");

	frame(K_OKLOC, 1, NULL, 0);
	range(K_RECAL, 0, 0, 2 * ps);
	save("node", "grant-recall");

	pages(1, 0, 1, 0x22);
	frame(K_OKLOC, 1, NULL, 0);
	inval(INVAL1, 0, 2);
	inval(INVAL1 + 1, 3, 4);
	save("node", "grant-inval");

	frame(K_PINGQ, 0, NULL, 0);
	pages(0, 4, 3, 0x33);
	frame(K_PINGA, 0, NULL, 0);
	frame(K_OKLOC, 1, NULL, 0);
	save("node", "ping-unrequested-pages");

	error(1, 2, "LOCKW of [0, +8192): outside the segment");
	save("node", "lock-refused");

	error(0, 6, "protocol error");
	save("node", "connection-error");

	frame(K_RELEA, 0, NULL, 0);
	save("node", "master-shutdown");

	objok(1, OR_OK, 0);
	objok(7, OR_BUSY, 1);
	frame(K_DECOA, 1, NULL, 0);
	save("node", "stray-replies");

	frame(K_OKLOC, 1, NULL, 0);
	range(K_RECAL, 0, ps, ps);
	inval(INVAL1, 1, 1);
	range(K_RECAL, 0, 0, NODE_PAGES * ps);
	frame(K_OKLOC, 3, NULL, 0);
	save("node", "grant-recall-inval");
}

int main(int argc, char **argv)
{
	char sub[4096];

	if (argc != 2) {
		fprintf(stderr, "usage: mkcorpus DIR\n");
		return 2;
	}
	dir = argv[1];
	ps = (size_t)sysconf(_SC_PAGESIZE);
	snprintf(sub, sizeof(sub), "%s/master", dir);
	mkdir(dir, 0755);
	mkdir(sub, 0755);
	snprintf(sub, sizeof(sub), "%s/node", dir);
	mkdir(sub, 0755);
	master_seeds();
	node_seeds();
	printf("mkcorpus: seeds written to %s/master and %s/node\n", dir, dir);
	return 0;
}
