/*
 * sigsegv.c - the baseline of the SIGSEGV fault backend: local faults
 * served by mprotect in a SIGSEGV handler, on a memfd mapped twice, as a
 * node with that backend maps its segment (preload/fault_sigsegv.c).
 */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "bench.h"

/* The region, for the handler. */
static struct {
	uint8_t *app;		/* the view the accesses go through */
	uint8_t *rt;		/* the always-writable view pages are filled in */
	uint8_t *zero;
	uint8_t *state;		/* per page: 0 inaccessible, 1 read, 2 writable */
	size_t page, len;
} sv;

/*
 * A write to a read page makes it writable; an access to an inaccessible
 * page fills it through the other view and makes it readable (a read miss
 * with no network).  No twin, no lock, as the uffd baseline.  A fault
 * anywhere else is a bug of this role: crash.
 */
static void segvwp_handler(int sig, siginfo_t *si, void *ctx)
{
	uintptr_t off = (uintptr_t)si->si_addr - (uintptr_t)sv.app;
	size_t p = off / sv.page;

	(void)ctx;
	if (off >= sv.len) {
		signal(sig, SIG_DFL);
		return;
	}
	if (sv.state[p] == 1) {
		if (mprotect(sv.app + p * sv.page, sv.page,
			     PROT_READ | PROT_WRITE) == 0)
			sv.state[p] = 2;
		return;
	}
	memcpy(sv.rt + p * sv.page, sv.zero, sv.page);
	if (mprotect(sv.app + p * sv.page, sv.page, PROT_READ) == 0)
		sv.state[p] = 1;
}

/*
 * Role segvwp NPAGES WARM: the same measurement as uffdwp with mprotect and
 * SIGSEGV.  NPAGES + WARM pages present and read-only; time the first write
 * to each of the NPAGES, in a random order, after WARM untimed ones.  Then
 * the first read of NPAGES inaccessible pages.  Samples: us per write
 * (NPAGES), then us per missing read (NPAGES).  v[3] clock overhead.
 */
int role_segvwp(char **args)
{
	uint64_t n = strtoull(args[0], NULL, 0),
		 warm = strtoull(args[1], NULL, 0);
	size_t total = (size_t)(2 * n + warm), *order, *order2;
	struct sigaction sa;
	struct report h = { 0 };
	uint8_t *missing;
	double *s;
	unsigned sink = 0;
	int fd;

	sv.page = (size_t)sysconf(_SC_PAGESIZE);
	sv.len = total * sv.page;
	fd = memfd_create("dsm-bench-segv", MFD_CLOEXEC);
	if (fd < 0 || ftruncate(fd, (off_t)sv.len) < 0)
		child_fail("memfd: %s", strerror(errno));
	sv.rt = mmap(NULL, sv.len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	sv.app = mmap(NULL, sv.len, PROT_NONE, MAP_SHARED, fd, 0);
	sv.zero = aligned_alloc(sv.page, sv.page);
	sv.state = calloc(total, 1);
	s = calloc(2 * n + 1, sizeof(*s));
	order = order_random((size_t)n, 0x5eed0001);
	order2 = order_random((size_t)n, 0x5eed0004);
	if (sv.rt == MAP_FAILED || sv.app == MAP_FAILED || !sv.zero ||
	    !sv.state || !s || !order || !order2)
		child_fail("out of memory");
	memset(sv.zero, 0, sv.page);
	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = segvwp_handler;
	sa.sa_flags = SA_SIGINFO;
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGSEGV, &sa, NULL) < 0)
		child_fail("sigaction(SIGSEGV): %s", strerror(errno));
	/* Present and read-only, as a node installs a page it read. */
	for (size_t i = 0; i < (size_t)(n + warm); i++) {
		memcpy(sv.rt + i * sv.page, sv.zero, sv.page);
		if (mprotect(sv.app + i * sv.page, sv.page, PROT_READ) < 0)
			child_fail("mprotect: %s", strerror(errno));
		sv.state[i] = 1;
	}
	missing = sv.app + (n + warm) * sv.page;
	for (size_t i = 0; i < (size_t)warm; i++)
		((volatile uint8_t *)sv.app)[(n + i) * sv.page] = 1;
	h.v[3] = timer_overhead_ns();
	child_ready(0);
	h.t0 = now_ns();
	for (size_t i = 0; i < (size_t)n; i++) {
		volatile uint8_t *p = sv.app + order[i] * sv.page;
		double t = now_ns();

		*p = 1;
		s[i] = (now_ns() - t) / 1e3;
	}
	h.t1 = now_ns();
	for (size_t i = 0; i < (size_t)n; i++) {
		volatile uint8_t *p = missing + order2[i] * sv.page;
		double t = now_ns();

		sink += *p;
		s[n + i] = (now_ns() - t) / 1e3;
	}
	h.v[4] = sink;
	h.n = (uint32_t)(2 * n);
	child_report(&h, s);
	munmap(sv.app, sv.len);
	munmap(sv.rt, sv.len);
	close(fd);
	free(sv.zero);
	free(sv.state);
	free(s);
	free(order);
	free(order2);
	return 0;
}
