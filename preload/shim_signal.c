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
 *     SIGSEGV out of what they block.
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

/* glibc's signal() has BSD semantics: SA_RESTART, the signal held while
 * its handler runs. */
sighandler_t signal(int sig, sighandler_t handler)
{
	struct sigaction act, old;

	if (sig != SIGSEGV || !segv_ours())
		return REAL(signal)(sig, handler);
	memset(&act, 0, sizeof(act));
	act.sa_handler = handler;
	act.sa_flags = SA_RESTART;
	sigemptyset(&act.sa_mask);
	segv_app_action(&act, &old);
	return old.sa_handler;
}

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
