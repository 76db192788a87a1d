/*
 * node.h - private to preload/: one attached segment and the node runtime.
 *
 * Threads and locks of a segment:
 *   - the service thread (service.c) polls the master socket, the userfaultfd
 *     and a wake-up eventfd; it serves faults, installs pages, handles INVAL
 *     and routes replies to waiting application threads (with the SIGSEGV
 *     backend a faulting thread serves its own fault: fault_sigsegv.c);
 *   - application threads send requests (lock, unlock, release) themselves
 *     and sleep until the service thread posts the reply (request.c).
 * A thread that waits for a reply reads the socket itself while nobody else
 * does (rx_lock), which saves the hand-off from the service thread.
 * Lock order: rx_lock -> send_lock -> state_lock; req_lock -> lc.mu.
 * obj_lock is a leaf; nothing is sent while lc.mu is held.
 * Nothing that holds state_lock or send_lock may touch a segment page that is
 * not present (it would fault and wait for the service thread).  Runtime
 * code reads and writes page bytes through fault_page() (the runtime's
 * view, fault.h), never through the application's view at base.
 */
#ifndef DSM_NODE_H
#define DSM_NODE_H

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "dsm_crypto.h"
#include "dsm_wire.h"

/* Page states on a node (DESIGN.md section 3). */
enum page_state {
	PG_INVALID = 0,	/* not present: the next access faults */
	PG_FETCHING,	/* GETPG sent, PAGES not yet installed */
	PG_READ,	/* present, write-protected */
	PG_DIRTY,	/* present, writable, twin holds the pre-write copy */
};

/* Flag bits kept next to the state in segment.pflags. */
#define PF_FETCH_WRITE 0x01u	/* a write is waiting for the page in flight */
#define PF_LISTED      0x02u	/* the page is in segment.dirty[] */
#define PF_FLUSHED     0x04u	/* flushed at an INVAL, not fetched since */
#define PF_WROTE       0x08u	/* its last diff was not empty */

struct waiter;
struct mutex_rec;
struct twin_chunk;

struct segment {
	/* Immutable after attach. */
	char host[256];			/* master, as given (re-attach at fork) */
	uint16_t port;
	char peer[80];			/* "host:port" for messages */
	uint8_t *base;
	size_t size, page_size, npages;
	uint32_t node_id;
	int sock, uffd, wakefd, epfd;
	int fault;			/* FAULT_UFFD or FAULT_SIGSEGV (fault.h) */
	int memfd;			/* SIGSEGV backend: the pages; else -1 */
	uint8_t *rt;			/* the runtime's view of the pages */
	pthread_t thread;
	struct dsm_secret secret;	/* len 0: none (auth.c) */
	int64_t timeout_ms;		/* master silent this long: lost */
	/* When bytes last came from the master (service.c, heartbeat). */
	_Atomic int64_t last_rx_ms;

	/* state_lock: page states, twins, dirty list. */
	pthread_mutex_t state_lock;
	uint8_t *pstate;		/* enum page_state, per page */
	uint8_t *pflags;		/* PF_* per page */
	uint8_t **twin;			/* per page, non-NULL iff PG_DIRTY */
	void *twin_free;		/* twins.c: free list and chunks */
	struct twin_chunk *twin_chunks;
	size_t seq_next;		/* page after the last fetch (prefetch) */
	size_t prefetch_max;		/* pages fetched at once when sequential */
	uint32_t *dirty;		/* pages that went dirty since last release */
	uint32_t *dirty_spare;		/* the other list, swapped in at a release */
	size_t ndirty;

	/* send_lock: one frame at a time on the socket, and the order of
	 * releases and flushes (a diff computed first is sent first). */
	pthread_mutex_t send_lock;
	uint8_t *obuf;			/* DSM_HDR_LEN + DSM_MAX_PAYLOAD, under send_lock */

	/* req_lock: waiting requests. */
	pthread_mutex_t req_lock;
	struct waiter *waiters;
	uint32_t next_id;

	/* obj_lock: which thread owns which mutex (sync.c). */
	pthread_mutex_t obj_lock;
	struct mutex_rec **mrecs;

	/* Page-range locks of this node, cached between uses (lockcache.c). */
	struct {
		pthread_mutex_t mu;
		pthread_cond_t cv;
		uint8_t *mh, *lw, *pending, *recall, *hot;
		uint32_t *lr;
	} lc;

	/* Set once (svc_lost) when the master is gone; lost_claimed first. */
	atomic_int lost_claimed;
	atomic_int lost;
	char lost_why[160];
	atomic_int stopping;		/* service thread: exit at next wake-up */
	atomic_int detaching;		/* DECO? sent: the close is expected */

	/* rx_lock: reading the socket and handling its frames, in order.
	 * Held by the service thread or by a thread waiting for a reply. */
	pthread_mutex_t rx_lock;
	/* Under rx_lock: received bytes (rbuf[0..rlen)). */
	uint8_t *rbuf;
	size_t rlen, rcap;

	struct segment *next;		/* registry list (api.c) */
};

/* A request waiting for its reply (request.c). */
struct waiter {
	uint32_t id;
	atomic_uint done;		/* futex word: 0 waiting, 1 answered */
	enum dsm_kind reply;		/* kind of the answer */
	int code;			/* 0 or DSM_E* */
	uint32_t result;		/* OBJOK: OR_* */
	uint64_t value;			/* OBJOK: op-specific value */
	size_t lc_first, lc_last;	/* LOCKR/LOCKW: the pages asked for */
	int lc_write;
	struct waiter *next;
};

/* auth.c */
int auth_load(struct segment *s);
int auth_answer(struct segment *s, uint32_t id, const uint8_t *nn,
		const uint8_t *p, uint32_t len);
int auth_check_unchallenged(struct segment *s);

/* segment.c */
struct segment *seg_attach(const char *host, uint16_t port, int *err);
int seg_join(struct segment *s, uint64_t *base);
int seg_push(struct segment *s);
int seg_detach(struct segment *s, int teardown);
/* Segment offset of [adr, adr+len) if inside s, else -1. */
int seg_range(const struct segment *s, const void *adr, size_t len,
	      size_t *off);

/* fork.c */
void seg_fork_prepare(struct segment *s);
void seg_fork_parent(struct segment *s);
int seg_reattach(struct segment *s);

/* net.c */
int net_connect(const char *host, uint16_t port, char *peer, size_t peerlen);
int net_write_full(int fd, const void *buf, size_t len);
int net_read_full(int fd, void *buf, size_t len, int timeout_ms);
/* Send one frame; caller holds send_lock.  0 or -1 (errno). */
int seg_send(struct segment *s, enum dsm_kind kind, uint32_t id,
	     const uint8_t *payload, uint32_t len);

/* uffd.c (through fault.h) */
int uffd_open(const char **step, const char **hint);
int uffd_register(int uffd, void *base, size_t len);
int uffd_copy(int uffd, void *dst, const void *src, size_t len, int wp);
int uffd_protect(int uffd, void *addr, size_t len, int wp);
int uffd_wake(int uffd, void *addr, size_t len);
int uffd_drop(void *addr, size_t len);
int uffd_resident(void *addr);

/* request.c */
void req_begin(struct segment *s, struct waiter *w);
uint32_t req_new_id(struct segment *s);
/* Pages [first, last] whose copies a release drops (coh_release). */
struct coh_drop {
	size_t first, last;
};
int req_send_release(struct segment *s, enum dsm_kind closing,
		     const uint8_t *payload, uint32_t plen,
		     const struct coh_drop *drop);
void req_cancel(struct segment *s, struct waiter *w);
int req_wait(struct segment *s, struct waiter *w);
int req_wait_until(struct segment *s, struct waiter *w,
		   const struct timespec *abstime, clockid_t clk);
void req_post(struct segment *s, uint32_t id, enum dsm_kind reply, int code);
void req_post_grant(struct segment *s, uint32_t id);
void req_post_obj(struct segment *s, uint32_t id, uint32_t result,
		  uint64_t value);
void req_fail_all(struct segment *s, int code);

/* coherence.c */
/* access: FA_* (fault.h).  1 if the page is on its way (the caller waits
 * for its install: SIGSEGV backend), else 0. */
int coh_fault(struct segment *s, uintptr_t addr, int access);
int coh_install(struct segment *s, size_t first, size_t count,
		const uint8_t *data);
void coh_install_pushed(struct segment *s, size_t first, size_t count,
			const uint8_t *data, int write);
int req_is_write_lock(struct segment *s, uint32_t id);
int coh_invalidate(struct segment *s, uint32_t id, const uint8_t *pages,
		   size_t count);
void coh_write_ahead(struct segment *s, size_t first, size_t last);
int coh_release(struct segment *s, enum dsm_kind closing, uint32_t id,
		const uint8_t *payload, uint32_t plen,
		const struct coh_drop *drop);
void coh_free(struct segment *s);
void coh_lost(struct segment *s);
int coh_has_dirty(struct segment *s);

/* twins.c (under state_lock) */
uint8_t *twin_alloc(struct segment *s);
void twin_free(struct segment *s, uint8_t *t);
void twin_pool_free(struct segment *s);

/* lockcache.c */
int lc_init(struct segment *s);
void lc_free(struct segment *s);
void lc_reset(struct segment *s);
int lc_lock(struct segment *s, size_t first, size_t last, int write);
int lc_unlock(struct segment *s, size_t first, size_t last, int write);
void lc_granted(struct segment *s, const struct waiter *w);
void lc_recall(struct segment *s, size_t first, size_t last);
void lc_lost(struct segment *s);

/* service.c */
/* Set by the shim: a lost master ends the process with one line, since
 * unmodified programs cannot handle an error (they would go on wrongly). */
extern int node_exit_on_lost;
/* Non-zero while this thread runs node-runtime code (the service thread
 * always): the shim's interposers then go straight to libc. */
extern __thread int node_internal;
/* End the process now (exit_group): no atexit, no interposed _exit. */
__attribute__((noreturn)) void node_exit_now(int code);
int svc_start(struct segment *s);
void svc_stop(struct segment *s);
int svc_wait_reply(struct segment *s, struct waiter *w);
void svc_lost(struct segment *s, const char *why);

#endif
