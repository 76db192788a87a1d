/*
 * fault.c - a segment's fault backend (fault.h): which one (DSM_FAULT, and
 * whether userfaultfd is allowed here), mapping the segment, arming the
 * backend once the service thread runs, starting again after fork, and
 * teardown.  The page operations are in fault.h; the backends in uffd.c
 * and fault_sigsegv.c.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "dsm.h"
#include "dsm_log.h"
#include "fault.h"
#include "node.h"

#define WANT_AUTO (-1)
#define WANT_BAD (-2)

/* $DSM_FAULT: WANT_AUTO (unset), FAULT_UFFD or FAULT_SIGSEGV; WANT_BAD
 * after one line. */
static int fault_wanted(void)
{
	const char *env = getenv("DSM_FAULT");

	if (!env || !*env || strcmp(env, "auto") == 0)
		return WANT_AUTO;
	if (strcmp(env, "uffd") == 0 || strcmp(env, "userfaultfd") == 0)
		return FAULT_UFFD;
	if (strcmp(env, "sigsegv") == 0)
		return FAULT_SIGSEGV;
	dsm_err("DSM_FAULT='%s': expected uffd or sigsegv (unset: userfaultfd "
		"where it is allowed, else sigsegv)", env);
	return WANT_BAD;
}

/*
 * userfaultfd failed with errno e: not allowed or not there (seccomp,
 * vm.unprivileged_userfaultfd=0 without /dev/userfaultfd, no syscall, no
 * write-protect faults), where the SIGSEGV backend does the job; anything
 * else (out of descriptors or memory) is an error to report.
 */
static int uffd_unavailable(int e)
{
	return e == EPERM || e == EACCES || e == ENOSYS || e == EINVAL;
}

/*
 * Choose s's backend, before the segment is mapped, and open its
 * userfaultfd if that is the one.  DSM_FAULT=uffd or sigsegv forces one;
 * unset, userfaultfd is tried and the SIGSEGV backend taken where it is not
 * allowed.  Says which at DSM_LOG=info.  0, or DSM_EINVAL / DSM_ESYS after
 * one line.
 */
int fault_open(struct segment *s)
{
	int want = fault_wanted(), e;
	const char *step = "", *hint = "";
	char why[160];

	s->uffd = s->memfd = -1;
	if (want == WANT_BAD)
		return DSM_EINVAL;
	if (want == FAULT_SIGSEGV) {
		snprintf(why, sizeof(why), "DSM_FAULT=sigsegv");
	} else {
		s->uffd = uffd_open(&step, &hint);
		if (s->uffd >= 0) {
			s->fault = FAULT_UFFD;
			dsm_info("fault backend: userfaultfd");
			return 0;
		}
		e = errno;
		if (want == FAULT_UFFD || !uffd_unavailable(e)) {
			if (uffd_unavailable(e))
				dsm_err("%s: %s (%s; DSM_FAULT=sigsegv does "
					"without it)", step, strerror(e), hint);
			else
				dsm_err("%s: %s", step, strerror(e));
			return DSM_ESYS;
		}
		snprintf(why, sizeof(why), "%s: %s", step, strerror(e));
	}
	s->fault = FAULT_SIGSEGV;
	dsm_info("fault backend: sigsegv (%s)", why);
	return 0;
}

/*
 * The mapping of the segment at base failed with errno e: one line naming
 * the way out (DESIGN.md section 5), and the DSM_E* code.
 */
int fault_map_error(const struct segment *s, uint64_t base, int e)
{
	dsm_err("mmap of the segment at 0x%" PRIx64 "-0x%" PRIx64 ": %s; the "
		"range is taken in this process, choose another address with "
		"dsm-master --base (and DSM_BASE)", base, base + s->size,
		strerror(e));
	return e == ENOMEM ? DSM_ENOMEM : DSM_EBUSY;
}

/*
 * Map the segment at base, the same address on every node
 * (MAP_FIXED_NOREPLACE: a range already used in this process is an error),
 * with nothing present, and set the runtime's view.  0, or a DSM_E* code
 * after one line.
 */
int fault_map(struct segment *s, uint64_t base)
{
	void *want = (void *)(uintptr_t)base, *p;
	int rc, e;

	node_internal++;	/* the shim's mmap must not see this */
	if (s->fault == FAULT_SIGSEGV) {
		rc = segv_map(s, base, 0);
		node_internal--;
		return rc;
	}
	p = mmap(want, s->size, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE |
			 MAP_FIXED_NOREPLACE, -1, 0);
	if (p == want) {
		s->base = s->rt = p;
		node_internal--;
		return 0;
	}
	e = p == MAP_FAILED ? errno : EEXIST;
	if (p != MAP_FAILED)
		munmap(p, s->size);
	node_internal--;
	return fault_map_error(s, base, e);
}

/*
 * From here on, accesses to the segment fault to the runtime: register it
 * with the userfaultfd, or with the SIGSEGV handler.  The service thread
 * must run already.  0, or DSM_ESYS after one line.
 */
int fault_arm(struct segment *s)
{
	if (s->fault == FAULT_UFFD)
		return uffd_register(s->uffd, s->base, s->size) < 0 ? DSM_ESYS : 0;
	return segv_register(s) < 0 ? DSM_ESYS : 0;
}

/*
 * Start again with nothing cached, at the same address, with the same
 * backend: the child of a fork (its copy of the mapping lost the
 * userfaultfd registration, or shares the parent's memfd), or a process
 * whose exec failed after it detached.  The descriptors are the parent's
 * (closed here: our copies only).  0, or a DSM_E* code after one line.
 */
int fault_reattach(struct segment *s)
{
	const char *step = "", *hint = "";
	int rc = 0;

	node_internal++;
	if (s->fault == FAULT_SIGSEGV) {
		/* A fresh memfd over the whole view: the parent's pages stay
		 * the parent's, and everything is absent (PROT_NONE). */
		rc = segv_map(s, (uint64_t)(uintptr_t)s->base, 1);
		node_internal--;
		return rc;
	}
	if (s->uffd >= 0)
		close(s->uffd);
	s->uffd = uffd_open(&step, &hint);
	if (s->uffd < 0) {
		dsm_err("%s: %s (%s)", step, strerror(errno), hint);
		rc = DSM_ESYS;
	} else if (uffd_register(s->uffd, s->base, s->size) < 0) {
		rc = DSM_ESYS;
	} else if (madvise(s->base, s->size, MADV_DONTNEED) < 0) {
		/* Registered first, then dropped: from here every access
		 * faults to us. */
		dsm_err("madvise(MADV_DONTNEED) of the segment: %s",
			strerror(errno));
		rc = DSM_ESYS;
	}
	node_internal--;
	return rc;
}

/*
 * Give the backend up but leave the application's view mapped (the caller
 * unmaps it): unregister, unmap the runtime's view, close the descriptors.
 */
void fault_forget(struct segment *s)
{
	node_internal++;
	if (s->fault == FAULT_SIGSEGV)
		segv_unregister(s);
	if (s->rt && s->rt != s->base)
		munmap(s->rt, s->size);
	s->rt = NULL;
	if (s->uffd >= 0)
		close(s->uffd);
	if (s->memfd >= 0)
		close(s->memfd);
	s->uffd = s->memfd = -1;
	node_internal--;
}

/* Everything fault_map and fault_open set up, gone. */
void fault_close(struct segment *s)
{
	fault_forget(s);
	node_internal++;
	if (s->base)
		munmap(s->base, s->size);
	s->base = NULL;
	node_internal--;
}
