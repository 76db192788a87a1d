/*
 * fault.h - private to preload/: how a node catches the accesses to pages it
 * does not hold, and changes what the application may do with a page.  Two
 * backends (docs/FAULT-BACKENDS.md), chosen per segment at attach (fault.c):
 *
 *   FAULT_UFFD     userfaultfd in MISSING|WP mode (uffd.c): the kernel
 *                  holds the faulting thread and tells the service thread,
 *                  which installs pages with UFFDIO_COPY.  The segment is
 *                  one anonymous mapping; the runtime's view is the same
 *                  memory (rt == base).
 *   FAULT_SIGSEGV  mprotect + SIGSEGV (fault_sigsegv.c), where userfaultfd
 *                  is not allowed: the pages live in a memfd mapped twice,
 *                  the application's view at base (its protection is the
 *                  page's state) and the runtime's view at rt (always
 *                  writable), and a faulting thread serves its own fault
 *                  in the signal handler.
 *
 * The page operations below are called with state_lock held, together with
 * the state change they carry out, and log their own failures (naming the
 * call).  They are inline switches on s->fault: the userfaultfd path costs
 * one predictable branch over calling uffd.c directly.
 */
#ifndef DSM_FAULT_H
#define DSM_FAULT_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>

#include "node.h"

enum fault_kind { FAULT_UFFD = 0, FAULT_SIGSEGV };

/* What a faulting access was (coh_fault). */
enum fault_access {
	FA_READ,	/* a read (of a page that is not present) */
	FA_WRITE,	/* a write: to a missing page (uffd), to any page (sigsegv) */
	FA_WP,		/* uffd: a write to a present, write-protected page */
	FA_UNKNOWN,	/* sigsegv on an architecture that does not say */
};

/* fault.c: the life of a segment's backend (each 0 or a DSM_E* code after
 * one line, unless said otherwise). */
int fault_open(struct segment *s);
int fault_map(struct segment *s, uint64_t base);
int fault_map_error(const struct segment *s, uint64_t base, int e);
int fault_arm(struct segment *s);
int fault_reattach(struct segment *s);
void fault_forget(struct segment *s);
void fault_close(struct segment *s);

/* fault_sigsegv.c */
int segv_map(struct segment *s, uint64_t base, int fixed);
int segv_register(struct segment *s);
void segv_unregister(struct segment *s);
int segv_install(struct segment *s, size_t p, size_t n, const uint8_t *src,
		 int writable);
int segv_protect(struct segment *s, size_t p, int wp);
int segv_drop(struct segment *s, size_t p);
void segv_wake(struct segment *s, size_t p, size_t n);
void segv_retry(struct segment *s, size_t p);
/* The shim's side (shim_signal.c): is our SIGSEGV handler installed, and
 * the disposition the program sees for SIGSEGV. */
int segv_handler_active(void);
void segv_app_action(const struct sigaction *act, struct sigaction *old);

/* The runtime's view of page p: where its bytes are read and written. */
static inline uint8_t *fault_page(const struct segment *s, size_t p)
{
	return s->rt + p * s->page_size;
}

/*
 * Make n fetched pages from p present with src's bytes, writable or
 * read-only, and wake the threads waiting for them.  0, or -1 with errno;
 * EEXIST (userfaultfd: something filled a page first) is not logged.
 */
static inline int fault_install(struct segment *s, size_t p, size_t n,
				const uint8_t *src, int writable)
{
	if (__builtin_expect(s->fault == FAULT_UFFD, 1))
		return uffd_copy(s->uffd, s->base + p * s->page_size, src,
				 n * s->page_size, !writable);
	return segv_install(s, p, n, src, writable);
}

/* Write-protect present page p (wp = 1) or make it writable (wp = 0).
 * 0, or -1 with errno. */
static inline int fault_protect(struct segment *s, size_t p, int wp)
{
	if (__builtin_expect(s->fault == FAULT_UFFD, 1))
		return uffd_protect(s->uffd, s->base + p * s->page_size,
				    s->page_size, wp);
	return segv_protect(s, p, wp);
}

/* Drop page p: its memory is freed and the next access faults as missing.
 * 0, or -1 with errno. */
static inline int fault_drop(struct segment *s, size_t p)
{
	if (__builtin_expect(s->fault == FAULT_UFFD, 1))
		return uffd_drop(s->base + p * s->page_size, s->page_size);
	return segv_drop(s, p);
}

/* Let the threads that fault on page p try their access again. */
static inline void fault_wake(struct segment *s, size_t p)
{
	if (__builtin_expect(s->fault == FAULT_UFFD, 1))
		uffd_wake(s->uffd, s->base + p * s->page_size, s->page_size);
	else
		segv_wake(s, p, 1);
}

/*
 * A thread faulted on page p, which is present by our books: usually the
 * page was installed after the fault was raised, and retrying is enough.
 * Returns 0 when the thread will retry, -1 when the page is not in memory
 * (something dropped it behind our back: the caller fetches it again).
 */
static inline int fault_retry(struct segment *s, size_t p)
{
	uint8_t *page = s->base + p * s->page_size;

	if (__builtin_expect(s->fault == FAULT_UFFD, 1)) {
		if (!uffd_resident(page))
			return -1;
		uffd_wake(s->uffd, page, s->page_size);
		return 0;
	}
	segv_retry(s, p);
	return 0;
}

#endif
