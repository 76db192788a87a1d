/*
 * api.c - the public API of include/dsm.h for nodes, and the dispatch of
 * range locks to the right segment (or to this process's own master).
 *
 * Segments are kept in a list guarded by a read-write lock: every API call
 * holds it shared for its duration, destroy_slave holds it exclusively, so a
 * segment is never freed under a call that uses it.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "api.h"
#include "dsm.h"
#include "dsm_log.h"
#include "dsm_master.h"
#include "node.h"

static pthread_rwlock_t segs_lock = PTHREAD_RWLOCK_INITIALIZER;
static struct segment *segs;
static __thread int last_error;
static pthread_once_t init_once = PTHREAD_ONCE_INIT;
static pthread_once_t atexit_once = PTHREAD_ONCE_INIT;

/*
 * In a child of fork() the segment is no longer served: the child's mapping
 * lost the userfaultfd registration and an unfetched page would read as
 * zeros.  Unmap it so any use faults loudly, and forget the segments (their
 * service threads do not exist here; the sockets stay the parent's).  The
 * registry lock may have been held by another thread at fork: start afresh.
 */
static void api_atfork_child(void)
{
	struct segment *s = segs;

	segs = NULL;
	segs_lock = (pthread_rwlock_t)PTHREAD_RWLOCK_INITIALIZER;
	for (; s; s = s->next) {
		munmap(s->base, s->size);
		close(s->sock);
		close(s->uffd);
		close(s->wakefd);
	}
	api_master_forget();
}

static void api_init(void)
{
	pthread_atfork(NULL, NULL, api_atfork_child);
	const char *lvl = getenv("DSM_LOG");

	if (lvl && *lvl) {
		int l = dsm_log_parse_level(lvl);

		if (l < 0)
			dsm_warn("DSM_LOG='%s' is not error|warn|info|debug; "
				 "using warn", lvl);
		else
			dsm_log_level = l;
	}
}

void api_init_once(void)
{
	pthread_once(&init_once, api_init);
}

void api_set_error(int code)
{
	last_error = code;
}

int dsm_last_error(void)
{
	return last_error;
}

static void api_atexit(void)
{
	pthread_rwlock_rdlock(&segs_lock);
	int attached = segs != NULL;
	pthread_rwlock_unlock(&segs_lock);

	if (attached)
		destroy_slave();
	destroy_master();
}

static void api_atexit_install(void)
{
	atexit(api_atexit);
}

void api_register_atexit(void)
{
	pthread_once(&atexit_once, api_atexit_install);
}

const char *dsm_strerror(int code)
{
	switch (code) {
	case DSM_OK:		return "success";
	case DSM_EINVAL:	return "invalid argument";
	case DSM_ERANGE:	return "address range not inside one segment";
	case DSM_ENOTLOCKED:	return "range not locked in that mode";
	case DSM_ENOTINIT:	return "not initialised";
	case DSM_ELOST:		return "the master went away";
	case DSM_EPROTO:	return "refused or protocol error";
	case DSM_ESYS:		return "system call failed";
	case DSM_ENOMEM:	return "out of memory";
	case DSM_EBUSY:		return "already initialised or address range taken";
	default:		return "unknown error";
	}
}

void *init_slave(char *host_master, uint16_t port)
{
	struct segment *s;
	int err;

	api_init_once();
	if (!host_master || !*host_master || port == 0) {
		api_set_error(DSM_EINVAL);
		return NULL;
	}
	s = seg_attach(host_master, port, &err);
	if (!s) {
		api_set_error(err);
		return NULL;
	}
	pthread_rwlock_wrlock(&segs_lock);
	s->next = segs;
	segs = s;
	pthread_rwlock_unlock(&segs_lock);
	api_register_atexit();
	api_set_error(DSM_OK);
	return s->base;
}

int destroy_slave(void)
{
	int rc = DSM_OK;

	pthread_rwlock_wrlock(&segs_lock);
	if (!segs)
		rc = DSM_ENOTINIT;
	while (segs) {
		struct segment *s = segs;
		int r;

		segs = s->next;
		r = seg_detach(s);
		if (rc == DSM_OK)
			rc = r;
	}
	pthread_rwlock_unlock(&segs_lock);
	return rc;
}

/* Count this node's holds on pages [first, last] (hold_lock). */
static void holds_add(struct segment *s, size_t first, size_t last, int write)
{
	uint32_t *h = write ? s->write_holds : s->read_holds;

	pthread_mutex_lock(&s->hold_lock);
	for (size_t p = first; p <= last; p++)
		h[p]++;
	pthread_mutex_unlock(&s->hold_lock);
}

/* Take back one hold on every page of [first, last]; 0 if all were held. */
static int holds_take(struct segment *s, size_t first, size_t last, int write)
{
	uint32_t *h = write ? s->write_holds : s->read_holds;
	int rc = 0;

	pthread_mutex_lock(&s->hold_lock);
	for (size_t p = first; p <= last && rc == 0; p++)
		if (h[p] == 0)
			rc = DSM_ENOTLOCKED;
	if (rc == 0)
		for (size_t p = first; p <= last; p++)
			h[p]--;
	pthread_mutex_unlock(&s->hold_lock);
	return rc;
}

/*
 * One lock or unlock on segment s for the byte range [off, off+len).
 * Lock: send LOCKR/LOCKW and wait for OKLOC.  Unlock: release (diffs then
 * UNLOR/UNLOW) and wait until the master completed it.
 */
static int node_range_op(struct segment *s, enum dsm_kind op, size_t off,
			 size_t len)
{
	size_t first = off / s->page_size;
	size_t last = (off + len - 1) / s->page_size;
	int write = (op == K_LOCKW || op == K_UNLOW);
	struct waiter w;
	int rc;

	if (op == K_UNLOR || op == K_UNLOW) {
		rc = holds_take(s, first, last, write);
		if (rc != 0)
			return rc;
		req_begin(s, &w);
		if (atomic_load(&w.done) == 0 &&
		    coh_release(s, op, w.id, off, len) < 0)
			svc_lost(s, strerror(errno));
		rc = req_wait(s, &w);
		if (rc == 0 && w.reply != K_OKUNL)
			rc = DSM_EPROTO;
		return rc;
	}
	req_begin(s, &w);
	if (atomic_load(&w.done) == 0) {
		uint8_t pl[2 * sizeof(CONFIG_LEN)];

		put_len(pl, (CONFIG_LEN)off);
		put_len(pl + DSM_LEN_BYTES, (CONFIG_LEN)len);
		pthread_mutex_lock(&s->send_lock);
		if (seg_send(s, op, w.id, pl, 2 * DSM_LEN_BYTES) < 0)
			svc_lost(s, strerror(errno));
		pthread_mutex_unlock(&s->send_lock);
	}
	rc = req_wait(s, &w);
	if (rc == 0 && w.reply != K_OKLOC)
		rc = DSM_EPROTO;
	if (rc == 0)
		holds_add(s, first, last, write);
	return rc;
}

/* The same on this process's own master (its home copy). */
static int master_range_op(struct master *m, enum dsm_kind op, size_t off,
			   size_t len)
{
	int write = (op == K_LOCKW || op == K_UNLOW);

	if (op == K_LOCKR || op == K_LOCKW)
		return master_local_lock(m, off, len, write);
	return master_local_unlock(m, off, len, write);
}

static int range_op(void *adr, size_t size, enum dsm_kind op)
{
	struct master *m;
	int rc = DSM_ENOTINIT;
	size_t off;

	if (!adr || size == 0)
		return DSM_EINVAL;
	pthread_rwlock_rdlock(&segs_lock);
	for (struct segment *s = segs; s; s = s->next) {
		if (seg_range(s, adr, size, &off) == 0) {
			rc = node_range_op(s, op, off, size);
			pthread_rwlock_unlock(&segs_lock);
			return rc;
		}
	}
	if (segs)
		rc = DSM_ERANGE;
	pthread_rwlock_unlock(&segs_lock);

	m = api_master_hold();
	if (m) {
		uintptr_t a = (uintptr_t)adr, b = (uintptr_t)master_store(m);
		size_t msize = master_size(m);

		if (a >= b && a - b < msize && size <= msize - (a - b))
			rc = master_range_op(m, op, (size_t)(a - b), size);
		else
			rc = DSM_ERANGE;
		api_master_unhold();
	}
	return rc;
}

int lock_read(void *adr, size_t size)
{
	return range_op(adr, size, K_LOCKR);
}

int lock_write(void *adr, size_t size)
{
	return range_op(adr, size, K_LOCKW);
}

int unlock_read(void *adr, size_t size)
{
	return range_op(adr, size, K_UNLOR);
}

int unlock_write(void *adr, size_t size)
{
	return range_op(adr, size, K_UNLOW);
}

void size_dsm(size_t *size, void *ptr, uint8_t who)
{
	size_t off;

	if (!size)
		return;
	*size = 0;
	if (who == SLAVE) {
		pthread_rwlock_rdlock(&segs_lock);
		for (struct segment *s = segs; s; s = s->next)
			if (seg_range(s, ptr, 1, &off) == 0)
				*size = s->size;
		pthread_rwlock_unlock(&segs_lock);
	} else if (who == MASTER) {
		struct master *m = api_master_hold();

		if (m) {
			uintptr_t a = (uintptr_t)ptr, b = (uintptr_t)master_store(m);

			if (a >= b && a - b < master_size(m))
				*size = master_size(m);
			api_master_unhold();
		}
	}
}
