/*
 * master_int.h - private structures of the master (master/ only).
 *
 * Everything below is owned by the thread that runs master_run(), except the
 * fields marked "under mu", which the local participant's callers and
 * master_wait_idle() share with it.  Modules and their prefixes:
 *
 *   master.c   mmaster_  lifecycle, event loop, settling deferred work
 *   net.c      mnet_     listening socket, accept, socket options
 *   conn.c     mconn_    connection lifecycle and state machine
 *   io.c       mio_      input framing, output buffers
 *   dispatch.c mdisp_    frame validation and handlers
 *   store.c    mstore_   home copy, copysets, touched/flushed page sets
 *   storefile.c mfile_   the home copy in a --store file, its sync policy
 *   auth.c     mauth_    the secret, protected mode, the AUTH handshake
 *   beat.c     mbeat_    heartbeat: PING? to every node, silent nodes lost
 *   locks.c    mlock_    page-range lock manager
 *   updat.c    mupd_     buffered UPDAT diffs per (participant, id)
 *   release.c  mrel_     releases, invalidations, completion
 *   part.c     mpart_    what connections and the local participant share
 *   local.c    mlocal_   the local participant and master_wait_idle
 *   objects.c  mobj_     synchronisation objects: table, records, ops, cancel
 *   objlock.c  mobjlock_ mutexes, rwlocks, condition variables
 *   objwait.c  mobjwait_ barriers, semaphores, the shared memory object
 *   stats.c    mstats_   live statistics: counters, STAT!, --stats-interval
 */
#ifndef MASTER_INT_H
#define MASTER_INT_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "dsm.h"
#include "dsm_crypto.h"
#include "dsm_master.h"
#include "dsm_wire.h"

/* Frames handled per connection per wake-up (fairness between nodes). */
#define MASTER_FRAMES_PER_WAKE 64
/* A closing connection is read (and discarded) until EOF or this long. */
#define MASTER_LINGER_MS 2000
/* A connection that has not sent JOIN? by then is dropped. */
#define MASTER_JOIN_TIMEOUT_MS 30000
/* Output flush budget when the master stops. */
#define MASTER_STOP_FLUSH_MS 1000
/* Pause of the listening socket after accept() ran out of descriptors. */
#define MASTER_ACCEPT_PAUSE_MS 100
/*
 * INVAL ids carry this bit so that they never collide with the ids nodes give
 * their own requests (numbered from 1): UPDATs of a flush and of a release are
 * buffered by id in the same table.
 */
#define MASTER_INVAL_ID_BIT 0x80000000u

struct master;
struct mconn;
struct mpart;
struct mlocal_req;
struct mobj;
struct mobj_req;

/*
 * stats.c: live statistics (docs/PROTOCOL.md "Statistics").  What one node
 * did, counted in its connection and folded into m->stats.departed when it
 * leaves, so that totals stay right.  The order is the wire order of STAT!.
 */
struct mstat_node {
	uint64_t pages;			/* pages sent: GETPG answers and pushes */
	uint64_t invals;		/* pages invalidated at it (INVAL) */
	uint64_t diff_bytes;		/* UPDAT payload bytes received */
	uint64_t lock_reqs;		/* LOCKR/LOCKW, mutex/rwlock OBJOPs */
	uint64_t lock_waits;		/* of those, granted after queueing */
	uint64_t wait_us;		/* their time from queueing to grant */
	uint64_t releases;		/* releases closed */
};

/* stats.c: what happened to one page (m->stats.pages[page]). */
struct mstat_page {
	uint64_t fetches;		/* copies sent: GETPG answers, pushes */
	uint64_t invals;		/* copies invalidated */
	uint64_t diff_bytes;		/* changed bytes applied (diff runs) */
	uint64_t writers;		/* bit (node id % 64) per node whose
					   diffs touched it: approximate */
	uint64_t flushes;		/* diffs of it flushed at an INVAL */
};

/* stats.c: the master's statistics state. */
struct mstats {
	struct mstat_page *pages;	/* npages entries, MAP_NORESERVE */
	size_t pages_bytes;
	uint64_t *active;		/* bit per page with a counter */
	struct mstat_node departed;	/* nodes that left, summed */
	uint64_t ndeparted;
	int64_t start_ms;
	int64_t interval_ms, next_ms;	/* --stats-interval; 0: off */
};

/* What an epoll event's data.ptr points at. */
enum mwatch_kind { MW_LISTEN, MW_STOP, MW_LOCAL, MW_CONN };
struct mwatch {
	enum mwatch_kind kind;
};

/*
 * One participant's hold on one page: exclusive (write) or shared with a
 * count (two threads of a node may both hold a read lock).  Linked into the
 * page's list and the owner's list, so that both "who holds page p" and
 * "what does this node hold" are cheap.
 */
struct mhold {
	struct mpart *owner;
	size_t page;
	uint32_t nread;
	uint8_t write;
	uint8_t recalled;		/* RECAL sent for this hold */
	struct mhold *pnext;		/* page's holds */
	struct mhold *oprev, *onext;	/* owner's holds */
};

/*
 * A LOCKR/LOCKW (or local lock) in progress: pages [first, next) are held,
 * the request waits in the queue of page `next`; granted when next > last.
 * `reserved` hold records are set aside so that granting never allocates.
 */
struct mlock_req {
	struct mpart *owner;
	uint32_t id;
	int write;
	size_t first, last, next;
	size_t reserved;
	struct mlocal_req *lreq;	/* local caller to wake, or NULL */
	int64_t queued_us;		/* stats.c: first had to wait; -1 never */
	struct mlock_req *qnext;	/* queue of page `next` */
	struct mlock_req *oprev, *onext;	/* owner's pending requests */
};

/* Lock state of one page. */
struct mpage {
	struct mlock_req *qhead, *qtail;	/* FIFO of waiting requests */
	struct mhold *holds;
	struct mpart *writer;		/* exclusive holder or NULL */
	uint32_t nreaders;		/* shared holds, summed over owners */
};

enum mrel_kind { MREL_UNLOR, MREL_UNLOW, MREL_PUSH, MREL_DECO, MREL_OBJ };

/* The arguments of an OBJOP (docs/PROTOCOL.md, "Synchronisation objects"). */
struct mobj_args {
	uint8_t op, arg8;
	uint64_t off, arg;
};

/*
 * A closed release: its diffs are applied, its INVALs sent; it is complete
 * when `pending` (unacknowledged INVAL frames) reaches 0.  It sits in its
 * owner's FIFO until it and every earlier release are complete.  If the owner
 * goes away first, owner becomes NULL and the last acknowledgement frees it.
 */
struct mrel {
	struct mpart *owner;
	uint32_t id;
	enum mrel_kind kind;
	uint64_t off, len;		/* UNLO* byte range as requested */
	uint32_t pending;
	struct mlocal_req *lreq;
	struct mrel *next;
	/* MREL_OBJ: the operation performed when the release finishes, the
	 * records set aside for it (waiter, barrier membership; NULL if they
	 * could not be allocated) and whether OBJCN cancelled it meanwhile. */
	struct mobj_args obj;
	struct mobj_req *spare[2];
	int cancelled;
};

/* One INVAL frame sent to a connection and not yet acknowledged. */
struct minv {
	uint32_t id;
	struct mrel *rel;
	struct minv *next;
};

/* Buffered UPDAT payloads of one (participant, id), in arrival order. */
struct mupd_chunk {
	struct mupd_chunk *next;
	size_t len;
	uint8_t data[];
};
struct mupd {
	struct mupd *next;
	uint32_t id;
	struct mupd_chunk *head, *tail;
};

/*
 * What a node connection and the local participant have in common: they
 * hold locks, queue lock requests, close releases.
 */
struct mpart {
	struct mconn *conn;		/* NULL for the local participant */
	int alive;			/* cleared by mpart_cleanup */
	int left;			/* went away through DECO? */
	struct mhold *holds;
	struct mlock_req *reqs;
	struct mrel *rel_head, *rel_tail;	/* closed releases, FIFO */
	int on_ready;
	struct mpart *ready_next;
	struct mupd *upd;
	size_t upd_bytes;		/* buffered UPDAT bytes, capped */
	struct mobj_req *objrecs;	/* object holds, waits, memberships */
	size_t nobjrecs;		/* capped at m->objs.rec_cap */
};

enum mconn_state { MC_AWAIT_JOIN, MC_JOINED, MC_CLOSING, MC_DEAD };

struct mconn {
	struct mwatch w;
	struct mpart part;
	int fd;
	enum mconn_state state;
	uint32_t node_id;
	char name[112];			/* "node 3 (127.0.0.1:40112)" for logs */
	char peer[80];			/* "127.0.0.1:40112" */

	/* Input: rbuf[0..rcap); rbuf[rpos..rlen) received, not yet parsed. */
	uint8_t *rbuf;
	size_t rcap, rlen, rpos;
	/* Output: wbuf[0..wcap); wbuf[wpos..wlen) queued, not yet sent. */
	uint8_t *wbuf;
	size_t wcap, wlen, wpos;
	uint32_t ep_events;		/* what epoll watches now */

	int eof;			/* no more input: peer closed or error */
	char eof_why[96];
	int doomed;			/* to be killed at the next safe point */
	char doom_why[128];
	struct mconn *doom_next;
	int shut_wr;			/* shutdown(SHUT_WR) done (CLOSING) */
	int64_t deadline_ms;		/* AWAIT_JOIN / CLOSING time limit */
	int64_t last_rx_ms;		/* when bytes last came in (beat.c) */

	/* auth.c: AUTH? sent, AUTH! awaited (still AWAIT_JOIN). */
	int auth_pending;
	uint32_t join_id;
	uint8_t nonce_node[DSM_NONCE_LEN], nonce_master[DSM_NONCE_LEN];

	uint64_t *copyset;		/* bit per page: this node has a copy */
	uint64_t *lost;			/* bit per page: copy lost to an INVAL */
	int ack_exempt;			/* release.c: its INVALs need no ack */
	uint64_t *flushed_bits;		/* flushed but not yet released */
	size_t *flushed;
	size_t nflushed, flushed_cap;
	struct minv *inv_head, *inv_tail;	/* outstanding INVALs, FIFO */
	size_t *batch;			/* pages for the INVAL being built */
	size_t nbatch, batch_cap;

	/* stats.c */
	int monitor;			/* a statistics client (JOIN? flag), not
					   a node: no copyset, never counted */
	struct mstat_node st;		/* what this node did */

	struct mconn *prev, *next;	/* every connection */
	struct mconn *dead_next;
};

/* Types of synchronisation objects (MOBJ_NONE only while being made). */
enum mobj_type { MOBJ_NONE = 0, MOBJ_MUTEX, MOBJ_RW, MOBJ_BARRIER, MOBJ_COND,
		 MOBJ_SEM };

/* What a participant's object record stands for. */
enum mobj_rkind {
	MR_LOCK,		/* waits for a mutex (MUTEX_LOCK) */
	MR_REACQ,		/* condition waiter, signalled or cancelled,
				   waits to get its mutex back */
	MR_RDLOCK,		/* waits for a rwlock, shared */
	MR_WRLOCK,		/* waits for a rwlock, exclusive */
	MR_COND,		/* waits on a condition */
	MR_SEM,			/* waits on a semaphore */
	MR_BARRIER,		/* waits for a barrier's round to complete */
	MR_HOLD_MUTEX,		/* holds a mutex */
	MR_HOLD_READ,		/* holds a rwlock shared, `count` times */
	MR_HOLD_WRITE,		/* holds a rwlock exclusive */
	MR_MEMBER		/* waited on this barrier since its last init */
};

/*
 * One participant's hold on, wait for, or membership of one object.  A
 * waiting record becomes the hold record when it is granted, so granting
 * never allocates.  Linked into its object's queue (waits) or hold list
 * (rwlock read holds, barrier members; a mutex or write hold is pointed at
 * by the object), and into its owner's list.
 */
struct mobj_req {
	struct mpart *owner;
	struct mobj *obj;
	uint32_t id;			/* request to answer (waits) */
	uint8_t kind;			/* enum mobj_rkind */
	uint8_t cancelled;		/* MR_REACQ: answer TIMEDOUT */
	uint64_t count;			/* MR_HOLD_READ */
	struct mobj *mutex;		/* MR_COND: mutex to take back */
	struct mobj_req *qprev, *qnext;	/* object's queue or hold list */
	struct mobj_req *oprev, *onext;	/* owner's records */
	int64_t queued_us;		/* stats.c: a lock request queued at */
};

/*
 * A synchronisation object, keyed by its offset in the segment.  `refs`
 * counts the condition waiters that will come back to a mutex: such a mutex
 * is busy (cannot be destroyed or retyped), so moving a waiter to it never
 * needs to create it.
 */
struct mobj {
	uint64_t off;
	struct mobj *hnext;		/* hash chain */
	uint8_t type;			/* enum mobj_type */
	struct mobj_req *qhead, *qtail;	/* FIFO of waiting records */
	struct mobj_req *lhead, *ltail;	/* read holds / barrier members */
	union {
		struct {
			struct mobj_req *holder;
			size_t refs;
			uint8_t type;	/* enum dsm_mutex_type */
		} mx;
		struct {
			struct mobj_req *writer;
			uint64_t nreaders;	/* read holds of every owner */
		} rw;
		struct {
			uint32_t count, arrived;
			uint64_t rounds;
			uint8_t init, broken;
		} bar;
		struct {
			uint32_t value;
		} sem;
	} u;
};

/* Objects by offset: chained hash, power-of-two buckets, capped count. */
struct mobj_table {
	struct mobj **buckets;
	size_t nbuckets, count;
	size_t cap;			/* objects per segment */
	size_t rec_cap;			/* object records per participant */
};

/* A call of master_local_lock/unlock, on its caller's stack. */
struct mlocal_req {
	struct mlocal_req *next;
	int unlock, write;
	size_t off, len;
	int done, result;		/* under mu */
};

/* The --store file behind the home copy (storefile.c). */
struct mfile {
	int open;			/* the home copy is this file's mapping */
	int fd;				/* open and flock'ed while open */
	char *path;
	int sync;			/* enum master_sync */
	int64_t synced_ms;		/* last whole-copy sync (interval) */
	int pending;			/* releases since then (interval) */
	int64_t err_ms;			/* last msync failure logged */
};

struct master {
	size_t size, page_size, npages;
	uint64_t base;
	uint16_t port;
	char listen_addr[64];
	size_t out_cap;			/* pending output per connection */
	size_t upd_cap;			/* buffered UPDAT bytes per connection */

	uint8_t *store;			/* home copy */
	struct mfile file;		/* its file, with --store */
	struct dsm_secret secret;	/* len 0: nodes are not authenticated */
	int listen_loopback;		/* the listening address is loopback */
	int64_t timeout_ms;		/* a node silent this long is lost */
	int64_t next_beat_ms;		/* next PING? round */
	struct mpage *pages;
	size_t pages_bytes;
	uint64_t *mark;			/* dedup of `touched` */
	size_t *touched;		/* pages of the release being closed */
	size_t ntouched, touched_bytes;

	struct mhold *hold_free;	/* spare hold records */
	size_t hold_nfree, hold_reserved;

	int epfd, lfd, stopfd, localfd;
	struct mwatch w_listen, w_stop, w_local;
	int accept_paused;
	int spare_fd;			/* /dev/null, given up to refuse a node
					 * when out of descriptors (net.c) */
	int64_t accept_resume_ms, accept_logged_ms;

	struct mconn *conns;
	struct mconn *dead;		/* freed after the poll pass */
	struct mconn *doomed;		/* killed at the next safe point */
	struct mpart *ready_head, *ready_tail;	/* releases to finish */
	struct mobj_table objs;		/* synchronisation objects */
	int shm_exists;			/* the segment's shm object */
	uint64_t shm_size;
	uint32_t next_node_id, next_inval;
	int stopping, ran, busy;
	struct mstats stats;		/* stats.c */

	struct mpart local;
	pthread_mutex_t mu;
	pthread_cond_t local_cv, idle_cv;
	int sync_init;
	struct mlocal_req *mbox_head, *mbox_tail;	/* under mu */
	int stopped;			/* under mu */
	unsigned joined;		/* under mu */
	int ever_joined;		/* under mu */
};

static inline int bit_test(const uint64_t *b, size_t i)
{
	return (int)((b[i / 64] >> (i % 64)) & 1u);
}
static inline void bit_set(uint64_t *b, size_t i)
{
	b[i / 64] |= (uint64_t)1 << (i % 64);
}
static inline void bit_clear(uint64_t *b, size_t i)
{
	b[i / 64] &= ~((uint64_t)1 << (i % 64));
}
static inline size_t bitmap_words(size_t nbits)
{
	return nbits / 64 + 1;
}

/* master.c */
int64_t mmaster_now_ms(void);
void mmaster_settle(struct master *m);
/* Write every connection's pending output, settling what that dooms. */
void mmaster_flush_all(struct master *m);
/* Free the connections that died (MC_DEAD) during this pass. */
void mmaster_reap(struct master *m);

/* net.c */
int mnet_listen(struct master *m, const char *addr, uint16_t port);
void mnet_accept(struct master *m);
void mnet_accept_resume(struct master *m);

/* conn.c */
struct mconn *mconn_new(struct master *m, int fd, const char *peer);
void mconn_free(struct master *m, struct mconn *c);
void mconn_set_state(struct master *m, struct mconn *c,
		     enum mconn_state st);
void mconn_fail(struct master *m, struct mconn *c, int code,
		const char *fmt, ...) __attribute__((format(printf, 4, 5)));
void mconn_lost(struct master *m, struct mconn *c, const char *why);
void mconn_doom(struct master *m, struct mconn *c, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
void mconn_leave(struct master *m, struct mconn *c);
void mconn_on_event(struct master *m, struct mconn *c, uint32_t events);
void mconn_check_deadline(struct master *m, struct mconn *c, int64_t now);

/* io.c */
void mio_read(struct master *m, struct mconn *c);
void mio_drain(struct master *m, struct mconn *c);
void mio_process(struct master *m, struct mconn *c);
void mio_flush(struct master *m, struct mconn *c);
void mio_update_events(struct master *m, struct mconn *c);
uint8_t *mio_frame(struct master *m, struct mconn *c, enum dsm_kind kind,
		   uint32_t id, size_t len);
void mio_send(struct master *m, struct mconn *c, enum dsm_kind kind,
	      uint32_t id, const void *payload, size_t len);
void mio_send_bulk(struct master *m, struct mconn *c, enum dsm_kind kind,
		   uint32_t id, const void *head, size_t hlen,
		   const void *bulk, size_t blen);
void mio_send_error(struct master *m, struct mconn *c, uint32_t id,
		    int code, const char *text);

/* dispatch.c */
int mdisp_check_header(const struct mconn *c, const uint8_t *hdr,
		       char *why, size_t whylen);
void mdisp_frame(struct master *m, struct mconn *c, enum dsm_kind kind,
		 uint32_t id, const uint8_t *p, size_t len);
void mdisp_admit(struct master *m, struct mconn *c, uint32_t id);

/* store.c */
int mstore_init(struct master *m, const struct master_config *cfg);
void mstore_free(struct master *m);
int mstore_range(const struct master *m, uint64_t off, uint64_t len,
		 size_t *first, size_t *last);
int mstore_copyset_alloc(struct master *m, struct mconn *c);
void mstore_getpg(struct master *m, struct mconn *c, uint32_t id,
		  uint64_t off, uint64_t count);
void mstore_dropped(struct master *m, struct mconn *c, uint64_t off,
		    uint64_t len);
void mstore_push(struct master *m, struct mconn *c, uint32_t id,
		 size_t first, size_t last);
void mstore_touch(struct master *m, size_t page);
void mstore_touched_reset(struct master *m);
int mstore_flushed_add(struct master *m, struct mconn *c, size_t page);
void mstore_flushed_take(struct master *m, struct mconn *c);

/* auth.c */
int mauth_configure(struct master *m, const struct master_config *cfg);
void mauth_free(struct master *m);
void mauth_challenge(struct master *m, struct mconn *c, uint32_t id,
		     const uint8_t *nonce);
void mauth_answer(struct master *m, struct mconn *c, const uint8_t *mac);

/* beat.c */
void mbeat_init(struct master *m, unsigned timeout_s);
void mbeat_tick(struct master *m, int64_t now);

/* storefile.c */
int mfile_open(struct master *m, const char *path, int policy);
void mfile_released(struct master *m);
int64_t mfile_deadline(const struct master *m);
void mfile_tick(struct master *m, int64_t now);
void mfile_close(struct master *m);

/* locks.c */
int mlock_request(struct master *m, struct mpart *p, uint32_t id,
		  size_t first, size_t last, int write,
		  struct mlocal_req *lreq);
int mlock_held(struct master *m, struct mpart *p, size_t first, size_t last,
	       int write);
void mlock_drop(struct master *m, struct mpart *p, size_t first, size_t last,
		int write);
void mlock_part_cleanup(struct master *m, struct mpart *p);
void mlock_free_spares(struct master *m);

/* updat.c */
int mupd_add(struct master *m, struct mpart *p, uint32_t id,
	     const uint8_t *data, size_t len, const char **why);
struct mupd *mupd_take(struct mpart *p, uint32_t id);
void mupd_apply(struct master *m, const struct mupd *u,
		void (*on_page)(void *ctx, size_t page), void *ctx);
void mupd_free(struct mpart *p, struct mupd *u);
void mupd_discard_all(struct mpart *p);

/* release.c */
int mrel_close(struct master *m, struct mpart *p, enum mrel_kind kind,
	       uint32_t id, uint64_t off, uint64_t len,
	       struct mlocal_req *lreq);
int mrel_close_obj(struct master *m, struct mpart *p, uint32_t id,
		   const struct mobj_args *a, struct mobj_req *spare[2]);
void mrel_okinv(struct master *m, struct mconn *c, uint32_t id);
void mrel_run(struct master *m, struct mpart *p);
void mrel_part_cleanup(struct master *m, struct mpart *p);
void mrel_conn_cleanup(struct master *m, struct mconn *c);
void mrel_unschedule(struct master *m, struct mpart *p);

/* part.c */
void mpart_init(struct mpart *p, struct mconn *c);
void mpart_granted(struct master *m, struct mlock_req *r);
void mpart_reply(struct master *m, struct mpart *p, enum dsm_kind kind,
		 uint32_t id, int code, struct mlocal_req *lreq);
void mpart_cleanup(struct master *m, struct mpart *p);

/* local.c */
void mlocal_drain(struct master *m);
void mlocal_done(struct master *m, struct mlocal_req *r, int result);
void mlocal_shutdown(struct master *m);
void mlocal_node_joined(struct master *m);
void mlocal_node_left(struct master *m);

/*
 * An object operation being performed: its request, and what it answers.
 * Handlers set result/value, or `queued` when the request now waits (it is
 * answered when granted).  spare[] are records set aside for a release-type
 * operation; a handler that uses one sets it to NULL.
 */
struct mobj_ctx {
	struct master *m;
	struct mpart *p;
	uint32_t id;
	struct mobj_args a;
	struct mobj_req *spare[2];
	int cancelled;			/* OBJCN came before it was performed */
	uint32_t result;		/* enum dsm_objres */
	uint64_t value;
	int queued;
	int range;			/* answer ERROR DSM_ERANGE instead */
};

/* objects.c */
void mobj_init(struct master *m);
void mobj_op(struct master *m, struct mconn *c, uint32_t id,
	     const struct mobj_args *a);
void mobj_close(struct master *m, struct mconn *c, uint32_t id,
		const struct mobj_args *a);
void mobj_finish(struct master *m, struct mpart *p, struct mrel *r);
void mobj_free_spares(struct mrel *r);
void mobj_cancel(struct master *m, struct mconn *c, uint32_t id);
void mobj_part_cleanup(struct master *m, struct mpart *p);
void mobj_free_all(struct master *m);
struct mobj *mobj_find(const struct master *m, uint64_t off);
int mobj_lookup(struct mobj_ctx *x, enum mobj_type type, int create,
		struct mobj **out);
int mobj_busy(const struct mobj *o);
struct mobj *mobj_init_obj(struct mobj_ctx *x, enum mobj_type type);
void mobj_forget(struct master *m, struct mobj *o);
struct mobj_req *mobj_rec_new(struct mobj_ctx *x, int slot,
			      enum mobj_rkind kind, struct mobj *o);
void mobj_rec_free(struct mobj_req *r);
void mobj_list_add(struct mobj_req **head, struct mobj_req **tail,
		   struct mobj_req *r);
void mobj_list_del(struct mobj_req **head, struct mobj_req **tail,
		   struct mobj_req *r);
void mobj_reply(struct master *m, struct mpart *p, uint32_t id,
		uint32_t result, uint64_t value);
const char *mobj_where(const struct mpart *p);

/* objlock.c */
void mobjlock_exec(struct mobj_ctx *x);
void mobjlock_pump(struct master *m, struct mobj *o);
void mobjlock_drop(struct master *m, struct mobj_req *h);
void mobjlock_cond_cancel(struct master *m, struct mobj_req *r);
void mobjlock_unqueue(struct mobj_req *r);
int mobjlock_holds(const struct master *m, const struct mpart *p,
		   uint64_t off);

/* objwait.c */
void mobjwait_exec(struct mobj_ctx *x);
void mobjwait_unqueue(struct mobj_req *r);
void mobjwait_break(struct master *m, struct mobj *o, const char *who);
void mobjwait_forget_members(struct mobj *o);

/*
 * stats.c - live statistics.  The hooks below run on hot paths: a few
 * increments each, no allocation, no clock read (only a lock request that
 * has to queue reads the clock, twice).
 */
int mstats_init(struct master *m, const struct master_config *cfg);
void mstats_free(struct master *m);
void mstats_diffs(struct master *m, struct mconn *c, const struct mupd *u,
		  int flush);
void mstats_lock_queued(struct mlock_req *r);
void mstats_lock_granted(struct mlock_req *r);
void mstats_obj_lock(struct mpart *p, struct mobj_req *queued);
void mstats_obj_granted(struct mobj_req *r);
void mstats_node_left(struct master *m, struct mconn *c);
void mstats_reply(struct master *m, struct mconn *c, uint32_t id,
		  uint32_t top);
void mstats_tick(struct master *m, int64_t now);

/* `count` copies of pages [first, first+count) sent to c. */
static inline void mstats_sent(struct master *m, struct mconn *c,
			       size_t first, size_t count)
{
	c->st.pages += count;
	for (size_t i = first; i < first + count; i++) {
		m->stats.pages[i].fetches++;
		bit_set(m->stats.active, i);
	}
}

/* c's copy of `page` invalidated. */
static inline void mstats_inval(struct master *m, struct mconn *c,
				size_t page)
{
	c->st.invals++;
	m->stats.pages[page].invals++;
	bit_set(m->stats.active, page);
}

#endif
