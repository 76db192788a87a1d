/*
 * shim_signal.c - SIGSEGV and the program, when a segment uses the SIGSEGV
 * fault backend (fault_sigsegv.c, docs/FAULT-BACKENDS.md).
 *
 * The runtime's handler must stay installed, and SIGSEGV must never be
 * blocked in a thread that may touch the segment (the kernel kills a
 * process whose fault signal is blocked).  So, once the handler is
 * installed:
 *   - sigaction(SIGSEGV) and signal(SIGSEGV) record the program's
 *     disposition, which the handler chains to for every fault outside the
 *     segment, and report the one the program set before, as if the
 *     runtime's handler were not there;
 *   - sigprocmask, pthread_sigmask and the sa_mask of sigaction leave
 *     SIGSEGV out of what they block;
 *   - the same for the legacy interfaces, which glibc builds on its
 *     internal calls, out of the reach of the wrappers above: bsd_signal,
 *     sysv_signal (and __sysv_signal, which is signal() in programs built
 *     without _DEFAULT_SOURCE), sigset and sigignore set the program's
 *     disposition;
 *     sighold, sigset(SIG_HOLD), sigblock and sigsetmask do not block
 *     SIGSEGV.
 * With the userfaultfd backend, before the segment is attached, and for the
 * runtime's own calls, everything goes straight to glibc.
 */
#include <signal.h>
#include <string.h>

#include "fault.h"
#include "node.h"
#include "shim.h"

static int (*real_sigaction)(int, const struct sigaction *,
			     struct sigaction *);
static sighandler_t (*real_signal)(int, sighandler_t);
static int (*real_sigprocmask)(int, const sigset_t *, sigset_t *);
static int (*real_pthread_sigmask)(int, const sigset_t *, sigset_t *);
static sighandler_t (*real_bsd_signal)(int, sighandler_t);
static sighandler_t (*real_sysv_signal)(int, sighandler_t);
static sighandler_t (*real_sigset)(int, sighandler_t);
static int (*real_sigignore)(int);
static int (*real_sighold)(int);
static int (*real_sigblock)(int);
static int (*real_sigsetmask)(int);

static inline int segv_ours(void)
{
	return shim_active && !node_internal && segv_handler_active();
}

/* set, or a copy of it without SIGSEGV when it would block SIGSEGV. */
static const sigset_t *keep_segv(int how, const sigset_t *set, sigset_t *copy)
{
	if (!set || how == SIG_UNBLOCK || !sigismember(set, SIGSEGV) ||
	    !segv_ours())
		return set;
	*copy = *set;
	sigdelset(copy, SIGSEGV);
	return copy;
}

int sigaction(int sig, const struct sigaction *act, struct sigaction *old)
{
	struct sigaction copy;

	if (!segv_ours())
		return REAL(sigaction)(sig, act, old);
	if (sig == SIGSEGV) {
		segv_app_action(act, old);
		return 0;
	}
	if (act && sigismember(&act->sa_mask, SIGSEGV)) {
		copy = *act;
		sigdelset(&copy.sa_mask, SIGSEGV);
		act = &copy;
	}
	return REAL(sigaction)(sig, act, old);
}

/* The program sets SIGSEGV's disposition to `handler` with `flags` (the
 * runtime's handler stays, and chains to it); the one it had set before. */
static sighandler_t app_segv_handler(sighandler_t handler, int flags)
{
	struct sigaction act, old;

	memset(&act, 0, sizeof(act));
	act.sa_handler = handler;
	act.sa_flags = flags;
	sigemptyset(&act.sa_mask);
	segv_app_action(&act, &old);
	return old.sa_handler;
}

/* glibc's signal() has BSD semantics: SA_RESTART, the signal held while
 * its handler runs. */
sighandler_t signal(int sig, sighandler_t handler)
{
	if (sig != SIGSEGV || !segv_ours())
		return REAL(signal)(sig, handler);
	return app_segv_handler(handler, SA_RESTART);
}

/* Exported by glibc, no longer declared by its headers. */
sighandler_t bsd_signal(int sig, sighandler_t handler);

sighandler_t bsd_signal(int sig, sighandler_t handler)
{
	if (sig != SIGSEGV || !segv_ours())
		return REAL(bsd_signal)(sig, handler);
	return app_segv_handler(handler, SA_RESTART);
}

/* System V semantics: reset to SIG_DFL when delivered, not held.  A
 * program built without _DEFAULT_SOURCE (gcc -std=c11, say) calls it for
 * signal(), as __sysv_signal. */
sighandler_t sysv_signal(int sig, sighandler_t handler)
{
	if (sig != SIGSEGV || !segv_ours())
		return REAL(sysv_signal)(sig, handler);
	return app_segv_handler(handler, SA_RESETHAND | SA_NODEFER);
}

sighandler_t __sysv_signal(int sig, sighandler_t handler);

sighandler_t __sysv_signal(int sig, sighandler_t handler)
{
	return sysv_signal(sig, handler);
}

/* Deprecated in glibc's headers, still exported and still used. */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"

/* SIG_HOLD would block SIGSEGV: refused as the masks are (SIGSEGV was not
 * blocked, so the old disposition is what it returns). */
sighandler_t sigset(int sig, sighandler_t disp)
{
	struct sigaction old;

	if (sig != SIGSEGV || !segv_ours())
		return REAL(sigset)(sig, disp);
	if (disp == SIG_HOLD) {
		segv_app_action(NULL, &old);
		return old.sa_handler;
	}
	return app_segv_handler(disp, 0);
}

int sigignore(int sig)
{
	if (sig != SIGSEGV || !segv_ours())
		return REAL(sigignore)(sig);
	app_segv_handler(SIG_IGN, 0);
	return 0;
}

int sighold(int sig)
{
	if (sig != SIGSEGV || !segv_ours())
		return REAL(sighold)(sig);
	return 0;
}

/* BSD masks: bit sig - 1 per signal (glibc's sigmask(), whose use its
 * headers warn about). */
#define SEGV_BIT (1 << (SIGSEGV - 1))

int sigblock(int mask)
{
	if (segv_ours())
		mask &= ~SEGV_BIT;
	return REAL(sigblock)(mask);
}

int sigsetmask(int mask)
{
	if (segv_ours())
		mask &= ~SEGV_BIT;
	return REAL(sigsetmask)(mask);
}

#pragma GCC diagnostic pop

int sigprocmask(int how, const sigset_t *set, sigset_t *old)
{
	sigset_t copy;

	return REAL(sigprocmask)(how, keep_segv(how, set, &copy), old);
}

int pthread_sigmask(int how, const sigset_t *set, sigset_t *old)
{
	sigset_t copy;

	return REAL(pthread_sigmask)(how, keep_segv(how, set, &copy), old);
}
