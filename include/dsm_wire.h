/*
 * dsm_wire.h - the wire protocol shared by the master and the nodes.
 *
 * docs/PROTOCOL.md is the prose version of this file.  Every frame is
 *
 *     kind[5]   five ASCII letters ("JOIN?", "LOCKW", ...)
 *     id        u32, request id chosen by the sender of a request and echoed
 *               in its reply (0 where none is needed); node request ids
 *               stay below 2^31, master INVAL ids have bit 31 set
 *     len       u32, payload length in bytes, at most DSM_MAX_PAYLOAD
 *     payload   len bytes
 *
 * All integers are big-endian.  The header and the JOIN?/ERROR payloads have
 * fixed widths so that builds with different ARCHI can still tell each other
 * why they refuse; every other size, offset and count in a payload is a
 * CONFIG_LEN-wide integer ("L" in the comments), 4 bytes with ARCHI=32, 8 with
 * ARCHI=64.  Integers go through the put/get helpers below, byte by byte;
 * never cast a buffer to a struct.
 */
#ifndef DSM_WIRE_H
#define DSM_WIRE_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#ifndef DSM_ARCHI
#define DSM_ARCHI 64
#endif
#if DSM_ARCHI == 32
#define CONFIG_LEN uint32_t
#elif DSM_ARCHI == 64
#define CONFIG_LEN uint64_t
#else
#error "DSM_ARCHI must be 32 or 64"
#endif
#define DSM_LEN_BYTES ((uint32_t)sizeof(CONFIG_LEN))

/* Size of the socket read buffer; the Makefile's BUFFER=N sets it. */
#ifndef DSM_BUFFER
#define DSM_BUFFER 65536
#endif

/* 2: UNLOR/UNLOW may end with a flags byte (DSM_UNLO_DROPPED). */
#define DSM_PROTO_VERSION 2u
#define DSM_HDR_LEN 13u
/* Largest payload of any frame (1 MiB): PAGES carry up to 255 pages of 4 KiB. */
#define DSM_MAX_PAYLOAD (1u << 20)
/* Longest ERROR message text. */
#define DSM_MAX_ERRMSG 512u
/* Authentication (docs/SECURITY.md): nonce and HMAC-SHA256 sizes. */
#define DSM_NONCE_LEN 32u
#define DSM_MAC_LEN 32u
/* Heartbeat: the master pings every node this often when idle. */
#define DSM_PING_INTERVAL_MS 1000u
/* Default silence after which a peer counts as lost (DSM_TIMEOUT, s). */
#define DSM_DEFAULT_TIMEOUT_S 5u

/* Default virtual address of a segment on every node. */
#define DSM_DEFAULT_BASE 0x200000000000ull

enum dsm_kind {
	K_UNKNOWN = 0,
	K_JOINQ,	/* JOIN? n->m  u32 version, u8 config_len, u8 flags, u32 page_size */
	K_JOINA,	/* JOIN! m->n  u32 node_id, u32 page_size, u64 base, L size */
	K_ERROR,	/* ERROR both  u32 code (-DSM_E*), message bytes (no NUL) */
	K_DECOQ,	/* DECO? n->m  (none); closes release `id` like PUSH? */
	K_DECOA,	/* DECO! m->n  (none); master closes after sending it */
	K_RELEA,	/* RELEA m->n  (none); master is shutting down */
	K_LOCKR,	/* LOCKR n->m  L offset, L length */
	K_LOCKW,	/* LOCKW n->m  L offset, L length */
	K_OKLOC,	/* OKLOC m->n  (none); lock `id` granted */
	K_UNLOR,	/* UNLOR n->m  L offset, L length; closes release `id` */
	K_UNLOW,	/* UNLOW n->m  L offset, L length; closes release `id` */
	K_OKUNL,	/* OKUNL m->n  (none); release `id` complete, lock dropped */
	K_INVAL,	/* INVAL m->n  L count, count x L page offset */
	K_OKINV,	/* OKINV n->m  (none); INVAL `id` done; closes flush `id` */
	K_GETPG,	/* GETPG n->m  L page offset, L count, u8 flags */
	K_PAGES,	/* PAGES m->n  L page offset, L count, count x page bytes */
	K_UPDAT,	/* UPDAT n->m  diff records (below) of release/flush `id` */
	K_PUSHQ,	/* PUSH? n->m  (none); closes release `id`, no unlock */
	K_PUSHA,	/* PUSH! m->n  (none); release `id` complete */
	K_OBJOP,	/* OBJOP n->m  u8 op, u8 arg8, u16 0, L offset, L arg */
	K_OBJOK,	/* OBJOK m->n  u32 result, L value */
	K_OBJCN,	/* OBJCN n->m  (none); cancel waiting request `id` */
	K_RECAL,	/* RECAL m->n  L offset, L length; give those pages back */
	K_AUTHQ,	/* AUTH? m->n  32 B master nonce, 32 B HMAC (master's proof) */
	K_AUTHA,	/* AUTH! n->m  32 B HMAC (node's proof) */
	K_PINGQ,	/* PING? both  (none); answer with PING! */
	K_PINGA,	/* PING! both  (none) */
	K_STATQ,	/* STAT? n->m  u32 top: pages per list (statistics) */
	K_STATA,	/* STAT! m->n  the statistics (docs/PROTOCOL.md) */
	K_NKINDS
};

/* OBJOP payload length. */
#define DSM_OBJOP_LEN (4u + 2u * DSM_LEN_BYTES)
#define DSM_OBJOK_LEN (4u + DSM_LEN_BYTES)

/*
 * Operations on synchronisation objects (docs/PROTOCOL.md, "Synchronisation
 * objects").  Those marked release close release `id`.
 */
enum dsm_objop {
	OP_MUTEX_INIT = 1,	/* arg8 = type */
	OP_MUTEX_LOCK,
	OP_MUTEX_TRYLOCK,
	OP_MUTEX_UNLOCK,	/* release */
	OP_RW_INIT,
	OP_RW_RDLOCK,
	OP_RW_WRLOCK,
	OP_RW_TRYRDLOCK,
	OP_RW_TRYWRLOCK,
	OP_RW_UNLOCK,		/* release */
	OP_BARRIER_INIT,	/* arg = count */
	OP_BARRIER_WAIT,	/* release */
	OP_COND_INIT,
	OP_COND_WAIT,		/* release; arg = mutex offset */
	OP_COND_SIGNAL,		/* release */
	OP_COND_BROADCAST,	/* release */
	OP_SEM_INIT,		/* arg = value */
	OP_SEM_WAIT,
	OP_SEM_TRYWAIT,
	OP_SEM_POST,		/* release */
	OP_SEM_GETVALUE,
	OP_DESTROY,
	OP_SHM_OPEN,		/* arg8 = DSM_SHM_CREATE | DSM_SHM_EXCL */
	OP_SHM_TRUNCATE,	/* arg = size */
	OP_SHM_STAT,
	OP_SHM_UNLINK,
	OP_NOPS
};

/* Mutex types (arg8 of OP_MUTEX_INIT, value of lock replies). */
enum dsm_mutex_type { DSM_MUTEX_NORMAL = 0, DSM_MUTEX_RECURSIVE = 1,
		      DSM_MUTEX_ERRORCHECK = 2 };

#define DSM_SHM_CREATE 0x01u
#define DSM_SHM_EXCL   0x02u
#define DSM_SEM_MAX    0x7fffffffu

/* Results carried by OBJOK. */
enum dsm_objres {
	OR_OK = 0, OR_BUSY, OR_TIMEDOUT, OR_AGAIN, OR_PERM, OR_INVAL, OR_EXIST,
	OR_NOENT, OR_FBIG, OR_OVERFLOW, OR_BROKEN
};

static const char *const dsm_objop_names[OP_NOPS] = {
	"?", "MUTEX_INIT", "MUTEX_LOCK", "MUTEX_TRYLOCK", "MUTEX_UNLOCK",
	"RW_INIT", "RW_RDLOCK", "RW_WRLOCK", "RW_TRYRDLOCK", "RW_TRYWRLOCK",
	"RW_UNLOCK", "BARRIER_INIT", "BARRIER_WAIT", "COND_INIT", "COND_WAIT",
	"COND_SIGNAL", "COND_BROADCAST", "SEM_INIT", "SEM_WAIT",
	"SEM_TRYWAIT", "SEM_POST", "SEM_GETVALUE", "DESTROY", "SHM_OPEN",
	"SHM_TRUNCATE", "SHM_STAT", "SHM_UNLINK",
};

static const char *const dsm_objres_names[] = {
	"OK", "BUSY", "TIMEDOUT", "AGAIN", "PERM", "INVAL", "EXIST", "NOENT",
	"FBIG", "OVERFLOW", "BROKEN",
};
#define DSM_NOBJRES (sizeof(dsm_objres_names) / sizeof(dsm_objres_names[0]))

static inline const char *dsm_objop_name(unsigned int op)
{
	return op < OP_NOPS ? dsm_objop_names[op] : "?";
}

static inline const char *dsm_objres_name(unsigned int res)
{
	return res < DSM_NOBJRES ? dsm_objres_names[res] : "?";
}

/* True for the operations that close a release. */
static inline int dsm_objop_is_release(unsigned int op)
{
	return op == OP_MUTEX_UNLOCK || op == OP_RW_UNLOCK ||
	       op == OP_BARRIER_WAIT || op == OP_COND_WAIT ||
	       op == OP_COND_SIGNAL || op == OP_COND_BROADCAST ||
	       op == OP_SEM_POST;
}

/*
 * JOIN? flags (the byte after config_len).  DSM_JOIN_MONITOR: a statistics
 * client (dsm-stat), not a node: it gets no copyset and no node id, is not
 * counted in the statistics, and may only send STAT?, PING?/PING!, DECO?
 * and ERROR.
 */
#define DSM_JOIN_MONITOR 0x01u

/* STAT?/STAT! (docs/PROTOCOL.md "Statistics"). */
#define DSM_STAT_FORMAT 1u	/* first u32 of STAT! */
#define DSM_STAT_TOP_MAX 1000u	/* pages per list, at most */
#define DSM_STAT_NODE_COUNTERS 7u	/* u64 counters per node */

/* GETPG flags */
#define DSM_GETPG_WRITE 0x01u	/* the fault was a write (informational) */
/* Optional u8 after the range of UNLOR/UNLOW: */
#define DSM_UNLO_DROPPED 0x01u	/* the node holds no copy of any page of
				   the range any more (docs/PROTOCOL.md) */

/*
 * UPDAT payload: one or more diff records, each
 *     L page offset, u32 nruns, nruns x { u16 offset, u16 length, bytes }
 * Runs are byte-exact (only changed bytes), non-empty, inside the page, in
 * ascending order and non-overlapping.  See dsm_diff.h.
 */

static const char dsm_kind_names[K_NKINDS][6] = {
	"?????", "JOIN?", "JOIN!", "ERROR", "DECO?", "DECO!", "RELEA",
	"LOCKR", "LOCKW", "OKLOC", "UNLOR", "UNLOW", "OKUNL", "INVAL",
	"OKINV", "GETPG", "PAGES", "UPDAT", "PUSH?", "PUSH!", "OBJOP",
	"OBJOK", "OBJCN", "RECAL", "AUTH?", "AUTH!", "PING?", "PING!",
	"STAT?", "STAT!",
};

/* Kind of the five bytes at p, K_UNKNOWN if none. */
static inline enum dsm_kind dsm_kind_parse(const uint8_t *p)
{
	for (int k = 1; k < K_NKINDS; k++)
		if (memcmp(p, dsm_kind_names[k], 5) == 0)
			return (enum dsm_kind)k;
	return K_UNKNOWN;
}

static inline const char *dsm_kind_name(enum dsm_kind k)
{
	return (k > K_UNKNOWN && k < K_NKINDS) ? dsm_kind_names[k] : "?????";
}

static inline void put_u8(uint8_t *p, uint8_t v) { p[0] = v; }
static inline void put_u16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}
static inline void put_u32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}
static inline void put_u64(uint8_t *p, uint64_t v)
{
	put_u32(p, (uint32_t)(v >> 32));
	put_u32(p + 4, (uint32_t)v);
}
static inline uint8_t get_u8(const uint8_t *p) { return p[0]; }
static inline uint16_t get_u16(const uint8_t *p)
{
	return (uint16_t)((uint16_t)p[0] << 8 | p[1]);
}
static inline uint32_t get_u32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	       (uint32_t)p[2] << 8 | (uint32_t)p[3];
}
static inline uint64_t get_u64(const uint8_t *p)
{
	return (uint64_t)get_u32(p) << 32 | get_u32(p + 4);
}
/* A CONFIG_LEN-wide integer ("L"). */
static inline void put_len(uint8_t *p, CONFIG_LEN v)
{
	if (DSM_LEN_BYTES == 8)
		put_u64(p, (uint64_t)v);
	else
		put_u32(p, (uint32_t)v);
}
static inline CONFIG_LEN get_len(const uint8_t *p)
{
	return DSM_LEN_BYTES == 8 ? (CONFIG_LEN)get_u64(p)
				  : (CONFIG_LEN)get_u32(p);
}

/* Write a frame header for `kind` with request `id` and payload length. */
static inline void dsm_hdr_put(uint8_t *p, enum dsm_kind kind, uint32_t id,
			       uint32_t len)
{
	memcpy(p, dsm_kind_names[kind], 5);
	put_u32(p + 5, id);
	put_u32(p + 9, len);
}

/*
 * A bounded reader over a received payload (OpenSSH sshbuf style): every get
 * checks the remaining length first and sets `bad` instead of reading past
 * the end; callers check `bad` (and `len == pos` where the payload must be
 * consumed exactly) once after decoding.
 */
struct dsm_rd {
	const uint8_t *p;
	size_t len, pos;
	int bad;
};

static inline void dsm_rd_init(struct dsm_rd *r, const uint8_t *p, size_t len)
{
	r->p = p;
	r->len = len;
	r->pos = 0;
	r->bad = 0;
}
static inline const uint8_t *dsm_rd_take(struct dsm_rd *r, size_t n)
{
	if (r->bad || r->len - r->pos < n) {
		r->bad = 1;
		return NULL;
	}
	r->pos += n;
	return r->p + r->pos - n;
}
static inline uint8_t dsm_rd_u8(struct dsm_rd *r)
{
	const uint8_t *p = dsm_rd_take(r, 1);
	return p ? get_u8(p) : 0;
}
static inline uint32_t dsm_rd_u32(struct dsm_rd *r)
{
	const uint8_t *p = dsm_rd_take(r, 4);
	return p ? get_u32(p) : 0;
}
static inline uint64_t dsm_rd_u64(struct dsm_rd *r)
{
	const uint8_t *p = dsm_rd_take(r, 8);
	return p ? get_u64(p) : 0;
}
static inline CONFIG_LEN dsm_rd_len(struct dsm_rd *r)
{
	const uint8_t *p = dsm_rd_take(r, DSM_LEN_BYTES);
	return p ? get_len(p) : 0;
}
/* True when the payload was well-formed and consumed exactly. */
static inline int dsm_rd_done(const struct dsm_rd *r)
{
	return !r->bad && r->pos == r->len;
}

#endif
