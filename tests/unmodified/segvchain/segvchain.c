/*
 * segvchain.c - a program with SIGSEGV handlers and signal masks of its
 * own, next to a shared counter: under the shim with the SIGSEGV fault
 * backend, its handlers must run for its own faults (and only those), the
 * dispositions it reads back must be its own, blocking SIGSEGV must not
 * kill it when it touches shared memory, and a real crash must still
 * crash.  See README.txt.
 *
 *   segvchain [-s NAME] [-t SECS] [-k] ITERS [crash]
 */
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "unmod.h"

#define PAGE 4096
#define THREADS 3

struct shared {
	uint32_t ready;
	pthread_barrier_t bar;
	pthread_mutex_t lock;
	_Alignas(PAGE) uint64_t counter;
	/* Per rank: a page each thread fills, a page SIGUSR1's handler
	 * writes. */
	_Alignas(PAGE) uint8_t fill[UNMOD_MAX_NODES][THREADS][PAGE];
	uint8_t sig[UNMOD_MAX_NODES][PAGE];
};

#define SIZE (sizeof(struct shared))

/* Exported by glibc, no longer declared by its headers. */
sighandler_t bsd_signal(int sig, sighandler_t handler);

static struct shared *sh;
static unsigned long long iters;
static uint8_t *trap;			/* a private page of ours */
static volatile sig_atomic_t count_a, count_b, count_c, jumps, sigusr1;
static sigjmp_buf jump;
static volatile sig_atomic_t jump_armed;
static int *volatile bad_pointer = (int *)16;

/* A: opens the trap page, or jumps out of any other fault. */
static void handler_a(int sig, siginfo_t *si, void *ctx)
{
	uint8_t *a = si->si_addr;

	(void)sig;
	(void)ctx;
	count_a++;
	if (a >= trap && a < trap + PAGE) {
		mprotect(trap, PAGE, PROT_READ | PROT_WRITE);
		return;
	}
	if (jump_armed) {
		jump_armed = 0;
		siglongjmp(jump, 1);
	}
	signal(SIGSEGV, SIG_DFL);
}

/* B (installed with signal()): opens the trap page. */
static void handler_b(int sig)
{
	(void)sig;
	count_b++;
	mprotect(trap, PAGE, PROT_READ | PROT_WRITE);
}

/* C (installed with sysv_signal(): reset to SIG_DFL when it runs): opens
 * the trap page. */
static void handler_c(int sig)
{
	(void)sig;
	count_c++;
	mprotect(trap, PAGE, PROT_READ | PROT_WRITE);
}

/* Fault on the trap page again: the current handler must open it. */
static void fault_trap(void)
{
	volatile uint8_t v;

	mprotect(trap, PAGE, PROT_NONE);
	v = trap[0];
	(void)v;
}

/* SIGUSR1: writes into a page of the object nobody touched yet. */
static void on_usr1(int sig)
{
	(void)sig;
	memset(sh->sig[unmod.rank], 0x5a, PAGE);
	sigusr1++;
}

static void *worker(void *arg)
{
	long which = (long)arg;
	sigset_t set;
	int rc;

	/* The usual ways to keep signals away from worker threads, and
	 * the legacy ones (BSD's sigblock, System V's sighold: bit
	 * SIGSEGV - 1 is glibc's sigmask(SIGSEGV)). */
	if (which == 0) {
		sigfillset(&set);
		rc = pthread_sigmask(SIG_BLOCK, &set, NULL);
	} else if (which == 1) {
		sigemptyset(&set);
		sigaddset(&set, SIGSEGV);
		rc = sigprocmask(SIG_BLOCK, &set, NULL) < 0 ? errno : 0;
	} else {
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
		sigblock(1 << (SIGSEGV - 1));
		rc = sighold(SIGSEGV) < 0 ? errno : 0;
#pragma GCC diagnostic pop
	}
	if (rc)
		unmod_die("blocking signals in a thread: %s", strerror(rc));
	memset(sh->fill[unmod.rank][which], (int)(0x10 + which), PAGE);
	for (unsigned long long i = 0; i < iters; i++) {
		unmod_lock(&sh->lock);
		sh->counter++;
		unmod_unlock(&sh->lock);
	}
	return NULL;
}

static int page_is(const uint8_t *p, uint8_t v)
{
	for (size_t i = 0; i < PAGE; i++)
		if (p[i] != v)
			return 0;
	return 1;
}

int main(int argc, char **argv)
{
	int first = unmod_init("segvchain", argc, argv, "ITERS [crash]");
	struct sigaction a, old, usr;
	unsigned long long expected;
	int crash = 0, old_default, prev_is_a, legacy, pages_ok;
	sighandler_t prev;
	pthread_t tid[THREADS];
	volatile uint8_t v;
	int rc;

	if (argc - first < 1 || argc - first > 2)
		unmod_usage("expected ITERS [crash]");
	iters = unmod_number(argv[first], "ITERS", 0, 10000000);
	if (argc - first == 2) {
		if (strcmp(argv[first + 1], "crash") != 0)
			unmod_usage("expected 'crash', not '%s'", argv[first + 1]);
		crash = 1;
	}
	trap = mmap(NULL, PAGE, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (trap == MAP_FAILED)
		unmod_die("mmap: %s", strerror(errno));

	sh = unmod_attach(SIZE);
	unmod_start(&sh->ready, &sh->bar, &sh->lock);

	memset(&a, 0, sizeof(a));
	a.sa_sigaction = handler_a;
	a.sa_flags = SA_SIGINFO;
	sigemptyset(&a.sa_mask);
	if (sigaction(SIGSEGV, &a, &old) < 0)
		unmod_die("sigaction(SIGSEGV): %s", strerror(errno));
	old_default = old.sa_handler == SIG_DFL && !(old.sa_flags & SA_SIGINFO);

	v = trap[0];		/* A opens it */
	(void)v;
	if (sigsetjmp(jump, 1) == 0) {
		jump_armed = 1;
		*bad_pointer = 1;	/* A jumps out */
		unmod_die("the write at address 16 did not fault");
	}
	jumps++;

	for (long t = 0; t < THREADS; t++) {
		rc = pthread_create(&tid[t], NULL, worker, (void *)t);
		if (rc)
			unmod_die("pthread_create: %s", strerror(rc));
	}
	for (int t = 0; t < THREADS; t++)
		pthread_join(tid[t], NULL);

	prev = signal(SIGSEGV, handler_b);
	prev_is_a = (void *)prev == (void *)handler_a;
	fault_trap();		/* B opens it */

	/* The legacy ways to set a disposition: bsd_signal (B again),
	 * sysv_signal (C, once: then SIG_DFL), sigset (B). */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
	legacy = bsd_signal(SIGSEGV, handler_b) == handler_b;
	fault_trap();		/* B */
	legacy &= sysv_signal(SIGSEGV, handler_c) == handler_b;
	fault_trap();		/* C, and SIGSEGV is SIG_DFL again */
	legacy &= sigset(SIGSEGV, handler_b) == SIG_DFL;
	fault_trap();		/* B */
#pragma GCC diagnostic pop

	memset(&usr, 0, sizeof(usr));
	usr.sa_handler = on_usr1;
	sigfillset(&usr.sa_mask);
	if (sigaction(SIGUSR1, &usr, NULL) < 0)
		unmod_die("sigaction(SIGUSR1): %s", strerror(errno));
	raise(SIGUSR1);

	unmod_barrier(&sh->bar);
	expected = (unsigned long long)unmod.nodes * THREADS * iters;
	pages_ok = page_is(sh->sig[unmod.rank], 0x5a);
	for (int t = 0; t < THREADS; t++)
		pages_ok &= page_is(sh->fill[unmod.rank][t], (uint8_t)(0x10 + t));
	unmod_result("total %llu expected %llu handlers A=%d B=%d C=%d "
		     "jumps %d old-default %d signal-returns-A %d legacy %d "
		     "sigusr1 %d pages %s",
		     (unsigned long long)sh->counter, expected, (int)count_a,
		     (int)count_b, (int)count_c, (int)jumps, old_default,
		     prev_is_a, legacy, (int)sigusr1, pages_ok ? "ok" : "WRONG");
	if (sh->counter != expected || !pages_ok)
		unmod_die("wrong shared data");
	unmod_barrier(&sh->bar);
	if (crash) {
		const char *ro = "a string literal";

		signal(SIGSEGV, SIG_DFL);
		unmod_info("crashing now");
		*(volatile char *)ro = 'A';
		unmod_die("a write to a string literal did not crash");
	}
	unmod_finish(sh, SIZE);
	return 0;
}
