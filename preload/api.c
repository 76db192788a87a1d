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
#include <time.h>
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

/*
 * fork(): the parent releases and holds the runtime locks across the fork;
 * the child re-attaches every segment as a new node before fork() returns
 * in it (fork.c).  A child that cannot attach is no node: in a program run
 * under the shim it ends with the error line (it could only compute wrong
 * results), otherwise its copy of the segment is unmapped so that any use
 * faults loudly instead of reading stale bytes.
 */
static void api_fork_prepare(void)
{
	node_internal++;
	pthread_rwlock_rdlock(&segs_lock);
	for (struct segment *s = segs; s; s = s->next)
		seg_fork_prepare(s);
}

static void api_fork_parent(void)
{
	for (struct segment *s = segs; s; s = s->next)
		seg_fork_parent(s);
	pthread_rwlock_unlock(&segs_lock);
	node_internal--;
}

/* Re-attach every segment (fork child, failed exec); see above for one
 * that cannot. */
static void api_reattach_all(void)
{
	struct segment **pp = &segs;

	while (*pp) {
		struct segment *s = *pp;

		if (seg_reattach(s) == 0) {
			pp = &s->next;
			continue;
		}
		if (node_exit_on_lost) {
			dsm_err("could not attach to master %s again; exiting",
				s->peer);
			node_exit_now(1);
		}
		munmap(s->base, s->size);
		*pp = s->next;
	}
}

static void api_fork_child(void)
{
	segs_lock = (pthread_rwlock_t)PTHREAD_RWLOCK_INITIALIZER;
	api_master_forget();
	api_reattach_all();
	node_internal--;
}

static void api_init(void)
{
	const char *lvl = getenv("DSM_LOG");

	pthread_atfork(api_fork_prepare, api_fork_parent, api_fork_child);
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

/*
 * Process exit: release and detach every segment, then stop this process's
 * master.  A destructor, not atexit: it runs after the program's own atexit
 * handlers and destructors, which may still use the segment.  Segments stay
 * mapped (other threads may still read them until the process is gone).  A
 * thread blocked in a DSM call holds the registry; after 5 s we give up
 * rather than hang the exit.
 */
__attribute__((destructor)) static void api_fini(void)
{
	api_detach_all_at_exit();
	destroy_master();
}

void api_detach_all_at_exit(void)
{
	struct timespec until;

	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += 5;
	if (pthread_rwlock_timedwrlock(&segs_lock, &until) != 0) {
		dsm_warn("exiting while a thread still waits in a DSM call: "
			 "this process's last modifications are not released");
		return;
	}
	while (segs) {
		struct segment *s = segs;

		segs = s->next;
		seg_detach(s, 0);
	}
	pthread_rwlock_unlock(&segs_lock);
}

/*
 * exec replaces the address space: release and leave every master cleanly
 * (DECO?), keeping the mappings; the new image attaches again if it uses
 * the segment.  If exec fails, api_exec_failed() makes this process a node
 * again, at the same addresses.
 */
void api_before_exec(void)
{
	pthread_rwlock_rdlock(&segs_lock);
	for (struct segment *s = segs; s; s = s->next)
		seg_detach(s, 0);
	pthread_rwlock_unlock(&segs_lock);
}

void api_exec_failed(void)
{
	pthread_rwlock_wrlock(&segs_lock);
	api_reattach_all();
	pthread_rwlock_unlock(&segs_lock);
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
	case DSM_EAUTH:		return "authentication failed or missing";
	default:		return "unknown error";
	}
}

struct segment *api_attach(const char *host, uint16_t port, int *err)
{
	struct segment *s;

	api_init_once();
	s = seg_attach(host, port, err);
	if (!s)
		return NULL;
	pthread_rwlock_wrlock(&segs_lock);
	s->next = segs;
	segs = s;
	pthread_rwlock_unlock(&segs_lock);
	return s;
}

void *init_slave(char *host_master, uint16_t port)
{
	struct segment *s;
	int err;

	if (!host_master || !*host_master || port == 0) {
		api_set_error(DSM_EINVAL);
		return NULL;
	}
	s = api_attach(host_master, port, &err);
	if (!s) {
		api_set_error(err);
		return NULL;
	}
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
		r = seg_detach(s, 1);
		if (rc == DSM_OK)
			rc = r;
	}
	pthread_rwlock_unlock(&segs_lock);
	return rc;
}

/* One lock or unlock on segment s for the byte range [off, off+len). */
static int node_range_op(struct segment *s, enum dsm_kind op, size_t off,
			 size_t len)
{
	size_t first = off / s->page_size;
	size_t last = (off + len - 1) / s->page_size;
	int write = (op == K_LOCKW || op == K_UNLOW), rc;

	if (op == K_UNLOR || op == K_UNLOW)
		return lc_unlock(s, first, last, write);
	rc = lc_lock(s, first, last, write);
	if (rc == 0 && write)
		coh_write_ahead(s, first, last);
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
