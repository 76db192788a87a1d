/*
 * fork.c - a node that forks: the child becomes a new node.
 *
 * Before fork the parent releases (PUSH?) so the master holds everything it
 * wrote, then takes the segment's runtime locks so the child inherits them
 * in a consistent state.  The child's copy of the mapping lost the
 * userfaultfd registration (the kernel does not carry it over without
 * UFFD_FEATURE_EVENT_FORK), so an unfetched page would read as zeros; with
 * the SIGSEGV backend it shares the parent's memfd.  So the child starts
 * its backend afresh with nothing cached (fault_reattach: a new
 * userfaultfd, or a memfd of its own), opens its own connection (JOIN?, a
 * new node id) and starts its own service thread, all before fork()
 * returns in it (DESIGN.md section 5).  A process whose exec failed after
 * detaching re-attaches the same way.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dsm.h"
#include "dsm_log.h"
#include "fault.h"
#include "node.h"
#include "sync.h"

void seg_fork_prepare(struct segment *s)
{
	if (seg_push(s) != 0 && !atomic_load(&s->detaching))
		dsm_warn("fork: could not release to master %s before forking",
			 s->peer);
	/* In lock order (node.h). */
	pthread_mutex_lock(&s->rx_lock);
	pthread_mutex_lock(&s->send_lock);
	pthread_mutex_lock(&s->state_lock);
	pthread_mutex_lock(&s->req_lock);
	pthread_mutex_lock(&s->lc.mu);
	pthread_mutex_lock(&s->obj_lock);
}

void seg_fork_parent(struct segment *s)
{
	pthread_mutex_unlock(&s->obj_lock);
	pthread_mutex_unlock(&s->lc.mu);
	pthread_mutex_unlock(&s->req_lock);
	pthread_mutex_unlock(&s->state_lock);
	pthread_mutex_unlock(&s->send_lock);
	pthread_mutex_unlock(&s->rx_lock);
}

/*
 * The child's view: nothing cached, nothing held, nobody waiting.  It stays
 * `detaching` until seg_reattach is done: with the SIGSEGV backend, a
 * thread that faults meanwhile (a failed exec: other threads run) waits.
 */
static void child_reset(struct segment *s)
{
	pthread_mutex_init(&s->send_lock, NULL);
	pthread_mutex_init(&s->state_lock, NULL);
	pthread_mutex_init(&s->req_lock, NULL);
	pthread_mutex_init(&s->obj_lock, NULL);
	pthread_mutex_init(&s->rx_lock, NULL);
	coh_free(s);
	memset(s->pstate, PG_INVALID, s->npages);
	memset(s->pflags, 0, s->npages);
	lc_reset(s);
	s->ndirty = 0;
	sync_reset(s);
	s->waiters = NULL;
	s->rlen = 0;
	atomic_store(&s->lost, 0);
	atomic_store(&s->lost_claimed, 0);
	atomic_store(&s->stopping, 0);
	atomic_store(&s->detaching, 1);
	/* The parent's descriptors: close our copies only (no shutdown).
	 * fault_reattach replaces the backend's. */
	close(s->sock);
	close(s->wakefd);
	close(s->epfd);
	s->sock = s->wakefd = s->epfd = -1;
}

/*
 * Make this process a new node of the segment it is mapped to: the child of
 * a fork, or a process whose exec failed after it detached.  Returns 0, or
 * a DSM_E* code after one error line; the caller decides what a process
 * that could not attach does.
 */
int seg_reattach(struct segment *s)
{
	uint8_t *base = s->base;
	size_t size = s->size;
	uint64_t newbase = 0;
	int code;

	child_reset(s);
	code = fault_reattach(s);
	if (code == 0) {
		s->sock = net_connect(s->host, s->port, s->peer,
				      sizeof(s->peer));
		if (s->sock < 0)
			code = DSM_ELOST;
	}
	if (code == 0)
		code = seg_join(s, &newbase);
	if (code == 0 &&
	    ((uint8_t *)(uintptr_t)newbase != base || s->size != size)) {
		dsm_err("re-attaching, master %s announces a different segment "
			"(0x%" PRIx64 ", %zu bytes)", s->peer, newbase, s->size);
		code = DSM_EPROTO;
	}
	if (code == 0 && svc_start(s) < 0)
		code = DSM_ESYS;
	if (code != 0) {
		/* The caller unmaps the segment: no fault may reach us. */
		fault_forget(s);
		return code;
	}
	atomic_store(&s->detaching, 0);
	dsm_info("re-attached to master %s as node %u", s->peer, s->node_id);
	return 0;
}
