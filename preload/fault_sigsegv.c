/*
 * fault_sigsegv.c - the mprotect + SIGSEGV fault backend (fault.h,
 * docs/FAULT-BACKENDS.md), for hosts where userfaultfd is not allowed
 * (a container's seccomp profile, an unprivileged user with
 * vm.unprivileged_userfaultfd=0 and no access to /dev/userfaultfd).
 *
 * The segment's pages live in a memfd mapped twice: the application's view
 * at the segment's base, whose protection is the page's state (PROT_NONE:
 * invalid or fetching; PROT_READ: read; PROT_READ|PROT_WRITE: dirty), and
 * the runtime's view (s->rt), always readable and writable, where twins
 * and diffs are read (pages are written into the memfd with pwrite).
 * Runtime code never touches the application's view, so it never faults
 * itself.
 *
 * An access the protection forbids raises SIGSEGV in the thread that made
 * it, and the handler serves the fault in that thread (coh_fault): a write
 * to a read page starts a twin and unprotects the page, with no message; a
 * missing page is asked for with GETPG, and the thread sleeps (futex) until
 * whoever reads the master's socket - the service thread, or a thread
 * waiting for a reply - has installed it; then the handler returns and the
 * access runs again.  That is one wake-up less than with userfaultfd, where
 * the fault must first wake the service thread to send the GETPG.
 *
 * A SIGSEGV that is not ours (another address, or sent with kill) goes to
 * what the program asked for: the handler it had before the segment was
 * attached, or set afterwards through the shim's sigaction/signal
 * (shim_signal.c), or the default action, which the fault, run again, then
 * takes: a real crash still crashes with SIGSEGV.
 *
 * Async-signal safety.  The handler runs in application code that faulted
 * on the segment, so it may take the runtime's locks (state_lock,
 * send_lock): the interrupted code cannot hold them, since runtime code
 * never faults.  It allocates nothing itself and logs with one write(2)
 * (dsm_log); the twin pool, when it must grow (once per 256 twins), calls
 * malloc.  Every other signal is held while a fault is served (a fetch takes
 * a round trip), so that a signal handler of the program that touches the
 * segment does not fault inside our handler with SIGSEGV blocked - which
 * the kernel would turn into a kill.  For the same reason the shim keeps
 * SIGSEGV out of the masks the program blocks (shim_signal.c).
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/futex.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <ucontext.h>
#include <unistd.h>

#include "dsm.h"
#include "dsm_log.h"
#include "fault.h"
#include "node.h"

/* Segments with this backend, for the handler (which must not lock). */
#define SEGV_MAX_SEGS 16
static struct segment *_Atomic segv_segs[SEGV_MAX_SEGS];
static pthread_mutex_t segv_reg_mu = PTHREAD_MUTEX_INITIALIZER;

/*
 * A thread waiting for a page sleeps on the futex of the page's bucket; an
 * install bumps the bucket's sequence and wakes it if anyone sleeps there.
 */
#define SEGV_BUCKETS 64
struct segv_wq {
	atomic_uint seq;	/* futex word */
	atomic_uint sleepers;
};
static struct segv_wq segv_wq[SEGV_BUCKETS];

/*
 * The program's disposition of SIGSEGV, chained to for faults that are not
 * ours.  Two copies: the handler reads the one segv_app_cur names while the
 * program may be changing the other (segv_app_mu orders the changes).
 */
static struct sigaction segv_app[2];
static atomic_int segv_app_cur;
static pthread_mutex_t segv_app_mu = PTHREAD_MUTEX_INITIALIZER;
static atomic_int segv_on;	/* our handler is installed */

static inline uint8_t *app_page(const struct segment *s, size_t p)
{
	return s->base + p * s->page_size;
}

static inline struct segv_wq *segv_bucket(const struct segment *s, size_t p)
{
	return &segv_wq[((uintptr_t)s->base / s->page_size + p) % SEGV_BUCKETS];
}

static struct segment *segv_lookup(const void *addr)
{
	uintptr_t a = (uintptr_t)addr;

	for (int i = 0; i < SEGV_MAX_SEGS; i++) {
		struct segment *s = atomic_load_explicit(&segv_segs[i],
							 memory_order_acquire);

		if (s && a - (uintptr_t)s->base < s->size)
			return s;
	}
	return NULL;
}

/* Sleep on bucket b while its sequence is still seq, one second at most. */
static void segv_sleep(struct segv_wq *b, unsigned int seq)
{
	struct timespec tmo = { .tv_sec = 1 };

	atomic_fetch_add(&b->sleepers, 1);
	syscall(SYS_futex, &b->seq, FUTEX_WAIT_PRIVATE, seq, &tmo, NULL, 0);
	atomic_fetch_sub(&b->sleepers, 1);
}

static void segv_wake_bucket(struct segv_wq *b)
{
	atomic_fetch_add(&b->seq, 1);
	if (atomic_load(&b->sleepers))
		syscall(SYS_futex, &b->seq, FUTEX_WAKE_PRIVATE, INT_MAX, NULL,
			NULL, 0);
}

/* Threads waiting for pages [p, p+n) look at them again. */
void segv_wake(struct segment *s, size_t p, size_t n)
{
	if (n >= SEGV_BUCKETS) {
		for (size_t i = 0; i < SEGV_BUCKETS; i++)
			segv_wake_bucket(&segv_wq[i]);
		return;
	}
	for (size_t i = 0; i < n; i++)
		segv_wake_bucket(segv_bucket(s, p + i));
}

/* mprotect of pages [p, p+n) of the application's view.  0, or -1 with
 * errno after a line. */
static int segv_mprotect(struct segment *s, size_t p, size_t n, int prot)
{
	if (mprotect(app_page(s, p), n * s->page_size, prot) == 0)
		return 0;
	int e = errno;

	/* Every run of pages with one protection is a mapping of its own. */
	dsm_err("mprotect(%s) at %p: %s%s",
		prot == PROT_NONE ? "PROT_NONE" :
		prot == PROT_READ ? "PROT_READ" : "PROT_READ|PROT_WRITE",
		(void *)app_page(s, p), strerror(e),
		e == ENOMEM ? " (too many mappings: raise vm.max_map_count)" : "");
	errno = e;
	return -1;
}

/*
 * Create a memfd for s's pages and map it twice: the application's view at
 * base, with nothing accessible, MAP_FIXED_NOREPLACE at attach or MAP_FIXED
 * over the view inherited from the parent (fixed: after fork, or a failed
 * exec); and the runtime's view, anywhere.  Views and memfd of before are
 * let go, and any thread waiting in a fault wakes up to look again.  0, or a
 * DSM_E* code after one line.
 */
int segv_map(struct segment *s, uint64_t base, int fixed)
{
	void *want = (void *)(uintptr_t)base, *app, *rt;
	int fd, e;

	fd = memfd_create("dsm-segment", MFD_CLOEXEC);
	if (fd < 0) {
		dsm_err("memfd_create for the segment: %s", strerror(errno));
		return DSM_ESYS;
	}
	if (ftruncate(fd, (off_t)s->size) < 0) {
		dsm_err("ftruncate of the segment's memfd to %zu bytes: %s",
			s->size, strerror(errno));
		close(fd);
		return DSM_ESYS;
	}
	rt = mmap(NULL, s->size, PROT_READ | PROT_WRITE,
		  MAP_SHARED | MAP_NORESERVE, fd, 0);
	if (rt == MAP_FAILED) {
		e = errno;
		dsm_err("mmap of the segment's runtime view (%zu bytes): %s",
			s->size, strerror(e));
		close(fd);
		return e == ENOMEM ? DSM_ENOMEM : DSM_ESYS;
	}
	app = mmap(want, s->size, PROT_NONE,
		   MAP_SHARED | MAP_NORESERVE |
			   (fixed ? MAP_FIXED : MAP_FIXED_NOREPLACE), fd, 0);
	if (app != want) {
		e = app == MAP_FAILED ? errno : EEXIST;
		if (app != MAP_FAILED)
			munmap(app, s->size);
		munmap(rt, s->size);
		close(fd);
		return fault_map_error(s, base, e);
	}
	if (fixed) {
		if (s->rt && s->rt != s->base)
			munmap(s->rt, s->size);
		if (s->memfd >= 0)
			close(s->memfd);
	}
	s->memfd = fd;
	s->base = app;
	s->rt = rt;
	if (fixed)
		segv_wake(s, 0, s->npages);
	return 0;
}

/* Copy the page state's protection onto the application's view of page p
 * (state_lock held). */
void segv_retry(struct segment *s, size_t p)
{
	int prot = s->pstate[p] == PG_DIRTY ? PROT_READ | PROT_WRITE :
		   s->pstate[p] == PG_READ  ? PROT_READ : PROT_NONE;

	segv_mprotect(s, p, 1, prot);
}

/*
 * Install n pages from p: write them into the memfd, open the
 * application's view, wake whoever waits for them.  0, or -1 with errno.
 * pwrite rather than a memcpy through the runtime's view: it fills the
 * hole without first faulting in a zeroed page (about 3x cheaper).
 */
int segv_install(struct segment *s, size_t p, size_t n, const uint8_t *src,
		 int writable)
{
	size_t len = n * s->page_size, done = 0;
	off_t off = (off_t)(p * s->page_size);

	while (done < len) {
		ssize_t w = pwrite(s->memfd, src + done, len - done,
				   off + (off_t)done);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			int e = w < 0 ? errno : EIO;

			dsm_err("pwrite of page %p into the segment's memfd: %s",
				(void *)app_page(s, p), strerror(e));
			errno = e;
			return -1;
		}
		done += (size_t)w;
	}
	if (segv_mprotect(s, p, n, writable ? PROT_READ | PROT_WRITE :
						PROT_READ) < 0)
		return -1;
	segv_wake(s, p, n);
	return 0;
}

int segv_protect(struct segment *s, size_t p, int wp)
{
	return segv_mprotect(s, p, 1, wp ? PROT_READ : PROT_READ | PROT_WRITE);
}

/* Close page p and free its memory (a hole in the memfd reads as zeros
 * through the runtime's view until the next install). */
int segv_drop(struct segment *s, size_t p)
{
	if (segv_mprotect(s, p, 1, PROT_NONE) < 0)
		return -1;
	if (fallocate(s->memfd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
		      (off_t)(p * s->page_size), (off_t)s->page_size) < 0) {
		int e = errno;

		dsm_err("fallocate(PUNCH_HOLE) of page %p in the segment's "
			"memfd: %s", (void *)app_page(s, p), strerror(e));
		errno = e;
		return -1;
	}
	return 0;
}

/*
 * Read or write, from the faulting context: FA_*, or -1 for an instruction
 * fetch (the segment is never executable: not a fault to serve).  x86: bits
 * 1 (write) and 4 (instruction fetch) of the page-fault error code.
 * Elsewhere we cannot tell: a miss is then fetched for reading and, if it
 * was a write, the access faults once more on the read page (coh_fault: any
 * fault on a readable page is a write).
 */
static int segv_access(const void *ctx)
{
#if defined(__x86_64__) || defined(__i386__)
	const ucontext_t *uc = ctx;
	greg_t err = uc->uc_mcontext.gregs[REG_ERR];

	if (err & 0x10)
		return -1;
	return (err & 2) ? FA_WRITE : FA_READ;
#else
	(void)ctx;
	return FA_UNKNOWN;
#endif
}

/*
 * Wait until page p, which this thread or another asked for, is no longer
 * on its way (installed, or dropped again): the access is then retried.  A
 * lost master ends the process (coh_lost: a page fault cannot fail); we
 * look at least once a second in case that has not happened yet.
 */
static void segv_wait(struct segment *s, size_t p)
{
	struct segv_wq *b = segv_bucket(s, p);

	for (;;) {
		unsigned int seq = atomic_load(&b->seq);
		int fetching;

		pthread_mutex_lock(&s->state_lock);
		fetching = s->pstate[p] == PG_FETCHING;
		pthread_mutex_unlock(&s->state_lock);
		if (!fetching)
			return;
		if (atomic_load(&s->lost))
			coh_lost(s);
		segv_sleep(b, seq);
	}
}

/*
 * A fault while the segment is being detached (exit, exec): wait, as a
 * thread blocked in a userfaultfd fault would - the process is ending, or
 * its exec failed and it attaches again (segv_map wakes us) and the access
 * is served then.  Stop waiting when the segment is gone (destroy_slave):
 * the access then crashes, as it should.
 */
static void segv_park(struct segment *s, size_t p, const void *addr)
{
	struct segv_wq *b = segv_bucket(s, p);

	for (;;) {
		unsigned int seq = atomic_load(&b->seq);

		if (segv_lookup(addr) != s || !atomic_load(&s->detaching))
			return;
		segv_sleep(b, seq);
	}
}

/* Raw rt_sigprocmask: the shim interposes glibc's (shim_signal.c). */
static void segv_setmask(const sigset_t *set, sigset_t *old)
{
	syscall(SYS_rt_sigprocmask, SIG_SETMASK, set, old, _NSIG / 8);
}

/*
 * A SIGSEGV that is not a fault on a segment: do what the program asked.
 * Its handler runs with the signal mask it asked for (sa_mask, and SIGSEGV
 * unless SA_NODEFER, on top of the interrupted code's).  SIG_DFL, or
 * SIG_IGN, which the kernel does not honour for a fault: the default
 * disposition is put back and the faulting access, run again when we
 * return, kills the process with SIGSEGV as it would have without us; a
 * SIGSEGV sent with kill() is sent again (ignored if SIG_IGN).
 */
static void segv_chain(int sig, siginfo_t *si, void *ctx)
{
	struct sigaction a = segv_app[atomic_load(&segv_app_cur)];
	const ucontext_t *uc = ctx;
	sigset_t mask, old;

	if (a.sa_handler == SIG_IGN && si->si_code <= 0)
		return;
	if (a.sa_handler == SIG_DFL || a.sa_handler == SIG_IGN) {
		struct sigaction dfl;

		memset(&dfl, 0, sizeof(dfl));
		dfl.sa_handler = SIG_DFL;
		sigemptyset(&dfl.sa_mask);
		node_internal++;
		sigaction(sig, &dfl, NULL);
		node_internal--;
		atomic_store(&segv_on, 0);
		if (si->si_code <= 0)
			raise(sig);
		return;
	}
	if (a.sa_flags & SA_RESETHAND) {
		int next = !atomic_load(&segv_app_cur);

		memset(&segv_app[next], 0, sizeof(segv_app[next]));
		segv_app[next].sa_handler = SIG_DFL;
		atomic_store(&segv_app_cur, next);
	}
	sigorset(&mask, &uc->uc_sigmask, &a.sa_mask);
	if (!(a.sa_flags & SA_NODEFER))
		sigaddset(&mask, sig);
	segv_setmask(&mask, &old);
	if (a.sa_flags & SA_SIGINFO)
		a.sa_sigaction(sig, si, ctx);
	else
		a.sa_handler(sig);
	segv_setmask(&old, NULL);
}

static void segv_handler(int sig, siginfo_t *si, void *ctx)
{
	int saved = errno, access = -1;
	struct segment *s = NULL;

	/* SEGV_ACCERR: a protection fault (not MAPERR; not kill()). */
	if (si->si_code == SEGV_ACCERR)
		s = segv_lookup(si->si_addr);
	if (s)
		access = segv_access(ctx);
	if (!s || access < 0) {
		segv_chain(sig, si, ctx);
	} else {
		uintptr_t a = (uintptr_t)si->si_addr;
		size_t p = (a - (uintptr_t)s->base) / s->page_size;

		node_internal++;
		if (atomic_load(&s->detaching))
			segv_park(s, p, si->si_addr);
		else if (coh_fault(s, a, access))
			segv_wait(s, p);
		node_internal--;
	}
	errno = saved;
}

/*
 * Install the handler, once per process.  It runs on the thread's
 * alternate stack if it has one (SA_ONSTACK: a program's stack-overflow
 * handler still gets its overflows), with every asynchronous signal held.
 * What was installed before becomes the program's disposition.  segv_reg_mu
 * held.  0, or -1 after a line.
 */
static int segv_install_handler(void)
{
	static const int sync_sigs[] = { SIGBUS, SIGFPE, SIGILL, SIGTRAP,
					 SIGSYS };
	struct sigaction sa, old;
	int rc;

	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = segv_handler;
	sa.sa_flags = SA_SIGINFO | SA_ONSTACK | SA_RESTART;
	sigfillset(&sa.sa_mask);
	for (size_t i = 0; i < sizeof(sync_sigs) / sizeof(sync_sigs[0]); i++)
		sigdelset(&sa.sa_mask, sync_sigs[i]);
	pthread_mutex_lock(&segv_app_mu);
	node_internal++;
	rc = sigaction(SIGSEGV, &sa, &old);
	node_internal--;
	if (rc == 0) {
		segv_app[0] = old;
		atomic_store(&segv_app_cur, 0);
		atomic_store(&segv_on, 1);
	}
	pthread_mutex_unlock(&segv_app_mu);
	if (rc < 0)
		dsm_err("sigaction(SIGSEGV): %s", strerror(errno));
	return rc;
}

/* Let s's faults reach the handler (installing it if needed).  0, or -1
 * with errno after a line. */
int segv_register(struct segment *s)
{
	int rc = -1;

	pthread_mutex_lock(&segv_reg_mu);
	if (atomic_load(&segv_on) || segv_install_handler() == 0) {
		for (int i = 0; i < SEGV_MAX_SEGS && rc < 0; i++) {
			struct segment *none = NULL;

			if (atomic_compare_exchange_strong(&segv_segs[i], &none,
							   s))
				rc = 0;
		}
		if (rc < 0) {
			dsm_err("more than %d segments with the SIGSEGV fault "
				"backend in one process", SEGV_MAX_SEGS);
			errno = ENOSPC;
		}
	}
	pthread_mutex_unlock(&segv_reg_mu);
	return rc;
}

/* s's faults are no longer ours (the handler stays, for other segments). */
void segv_unregister(struct segment *s)
{
	for (int i = 0; i < SEGV_MAX_SEGS; i++) {
		struct segment *me = s;

		atomic_compare_exchange_strong(&segv_segs[i], &me, NULL);
	}
	segv_wake(s, 0, s->npages);	/* parked threads look again */
}

int segv_handler_active(void)
{
	return atomic_load(&segv_on);
}

/*
 * sigaction(SIGSEGV) by the program while our handler is installed (the
 * shim): record what it asks for, to chain to, and give back what it asked
 * for last - not our handler.
 */
void segv_app_action(const struct sigaction *act, struct sigaction *old)
{
	int cur;

	pthread_mutex_lock(&segv_app_mu);
	cur = atomic_load(&segv_app_cur);
	if (old)
		*old = segv_app[cur];
	if (act) {
		segv_app[!cur] = *act;
		atomic_store(&segv_app_cur, !cur);
	}
	pthread_mutex_unlock(&segv_app_mu);
}
