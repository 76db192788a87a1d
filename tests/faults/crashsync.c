/*
 * crashsync.c - a plain POSIX program (no dsm header, no libdsm, like
 * tests/unmodified) in which one process is killed while it is inside a
 * process-shared synchronisation object; run under libdsm_preload.so by
 * tests/130-faults.bats to see what the others get.
 *
 *   crashsync [-s NAME] [-t SECS] [-k] mutex ITERS
 *   crashsync [-s NAME] [-t SECS] [-k] barrier GOFILE
 *   crashsync [-s NAME] [-t SECS] [-k] cond GOFILE [HOLDFILE]
 *
 * DSM_NODES processes (at least 2 for mutex, 3 for the others), number
 * DSM_RANK; the last rank is the victim, which the test kills with SIGKILL
 * at the point described below; the others are the survivors.  Start-up as
 * in tests/unmodified/common/unmod.h (rank 0 creates and initialises the
 * object), then everybody meets at the start barrier.  Rank 0 prints the
 * objects' offsets in the object ("crashsync: rank 0: offsets mutex M cond
 * C barrier2 B") so that a test can find them in the master's debug log.
 *
 *   mutex    The victim locks the mutex before the start barrier, then adds
 *            1000 to the counter (never released), says "holding the
 *            mutex" and waits to be killed.  The survivors each add 1 to
 *            the counter ITERS times under the mutex (blocked until the
 *            victim is gone), meet at a barrier of their own and print
 *            "crashsync: result mutex total T expected E", E = survivors x
 *            ITERS: the victim's unreleased write must not count.
 *   barrier  The victim and ranks 1 .. N-2 say "entering barrier 2" and
 *            wait at barrier 2 (count N); rank 0 waits until GOFILE exists,
 *            then waits there too.  Nobody should pass: a survivor that
 *            does prints "crashsync: result barrier passed".  Under the
 *            shim the master breaks the barrier when the victim dies, and
 *            each waiter, present or late, exits 1 with one "dsm:" line.
 *   cond     The victim and ranks 1 .. N-2 lock the mutex and wait on the
 *            condition until a flag is set ("waiting on the condition");
 *            rank 0 waits until GOFILE exists, then sets the flag and
 *            broadcasts ("broadcast").  With HOLDFILE it keeps the mutex
 *            after the broadcast ("broadcast, holding the mutex") until
 *            HOLDFILE exists: the woken waiters queue for the mutex
 *            meanwhile, and the victim can be killed there.  Each woken
 *            process counts itself under the mutex; the survivors meet at
 *            their barrier and print "crashsync: result cond woken W
 *            expected E", E = N - 2.
 *
 * Errors go to stderr and exit 1 (2 for bad usage; 142 when the -t
 * watchdog fires).
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "unmod.h"

struct shared {
	uint32_t ready;
	pthread_barrier_t start;	/* every rank */
	pthread_barrier_t survivors;	/* every rank but the victim */
	pthread_barrier_t bar2;		/* every rank: the one the victim dies in */
	pthread_mutex_t mutex;
	pthread_cond_t cond;
	_Alignas(4096) uint64_t counter;
	uint32_t flag;
	uint32_t woken;
};

#define SIZE 65536

static struct shared *sh;

/* Poll (1 ms) until `path` exists, within the -t bound. */
static void wait_file(const char *path)
{
	while (access(path, F_OK) != 0) {
		if (unmod_left() <= 0)
			unmod_die("%s did not appear within %g s", path,
				  unmod.timeout);
		unmod_sleep_ms(1);
	}
}

/* The victim's end: wait for SIGKILL (the -t watchdog bounds it). */
static void __attribute__((noreturn)) await_kill(const char *what)
{
	unmod_info("%s", what);
	for (;;)
		pause();
}

static void run_mutex(unsigned long long iters, int victim)
{
	unsigned long long i, expected;

	if (victim) {
		sh->counter += 1000;
		await_kill("holding the mutex");
	}
	unmod_info("started: %llu increments", iters);
	for (i = 0; i < iters; i++) {
		unmod_lock(&sh->mutex);
		sh->counter++;
		unmod_unlock(&sh->mutex);
	}
	unmod_barrier(&sh->survivors);
	expected = (unsigned long long)(unmod.nodes - 1) * iters;
	unmod_result("mutex total %llu expected %llu",
		     (unsigned long long)sh->counter, expected);
	if (sh->counter != expected)
		unmod_die("total %llu, expected %llu",
			  (unsigned long long)sh->counter, expected);
}

static void run_barrier(const char *gofile)
{
	if (unmod.rank == 0)
		wait_file(gofile);
	unmod_info("entering barrier 2");
	unmod_barrier(&sh->bar2);
	unmod_result("barrier passed");
}

static void run_cond(const char *gofile, const char *holdfile, int victim)
{
	unsigned expected = (unsigned)unmod.nodes - 2;
	int rc;

	if (unmod.rank == 0) {
		wait_file(gofile);
		unmod_lock(&sh->mutex);
		sh->flag = 1;
		rc = pthread_cond_broadcast(&sh->cond);
		if (rc)
			unmod_die("pthread_cond_broadcast: %s", strerror(rc));
		if (holdfile) {
			unmod_info("broadcast, holding the mutex");
			wait_file(holdfile);
		}
		unmod_unlock(&sh->mutex);
		unmod_info("broadcast");
	} else {
		unmod_lock(&sh->mutex);
		unmod_info("waiting on the condition");
		while (!sh->flag) {
			rc = pthread_cond_wait(&sh->cond, &sh->mutex);
			if (rc)
				unmod_die("pthread_cond_wait: %s", strerror(rc));
		}
		sh->woken++;
		unmod_unlock(&sh->mutex);
		if (victim)
			await_kill("woken: the victim should be dead");
	}
	unmod_barrier(&sh->survivors);
	unmod_result("cond woken %u expected %u", sh->woken, expected);
	if (sh->woken != expected)
		unmod_die("woken %u, expected %u", sh->woken, expected);
}

int main(int argc, char **argv)
{
	int first = unmod_init("crashsync", argc, argv,
			       "mutex ITERS | barrier GOFILE | cond GOFILE [HOLDFILE]");
	unsigned long long iters = 0;
	const char *mode, *gofile = NULL, *holdfile = NULL;
	int victim;

	if (argc - first < 2)
		unmod_usage("expected MODE and its argument(s)");
	mode = argv[first];
	if (argc - first > (strcmp(mode, "cond") == 0 ? 3 : 2))
		unmod_usage("too many arguments for mode %s", mode);
	if (argc - first == 3)
		holdfile = argv[first + 2];
	if (strcmp(mode, "mutex") == 0)
		iters = unmod_number(argv[first + 1], "ITERS", 0, 100000000);
	else if (strcmp(mode, "barrier") == 0 || strcmp(mode, "cond") == 0)
		gofile = argv[first + 1];
	else
		unmod_usage("unknown mode '%s'", mode);
	if (unmod.nodes < (mode[0] == 'm' ? 2 : 3))
		unmod_usage("mode %s needs DSM_NODES >= %d", mode,
			    mode[0] == 'm' ? 2 : 3);
	victim = unmod.rank == unmod.nodes - 1;

	sh = unmod_attach(SIZE);
	if (unmod.rank == 0) {
		unmod_barrier_init(&sh->start, (unsigned)unmod.nodes);
		unmod_barrier_init(&sh->survivors, (unsigned)unmod.nodes - 1);
		unmod_barrier_init(&sh->bar2, (unsigned)unmod.nodes);
		unmod_mutex_init(&sh->mutex, PTHREAD_MUTEX_NORMAL);
		unmod_cond_init(&sh->cond);
		unmod_info("offsets mutex %zu cond %zu barrier2 %zu",
			   (size_t)((char *)&sh->mutex - (char *)sh),
			   (size_t)((char *)&sh->cond - (char *)sh),
			   (size_t)((char *)&sh->bar2 - (char *)sh));
		unmod_publish(&sh->ready);
	} else {
		unmod_wait_ready(&sh->ready);
	}
	if (victim && mode[0] == 'm')
		unmod_lock(&sh->mutex);
	unmod_info("waiting for %d process(es) at the start barrier", unmod.nodes);
	unmod_barrier(&sh->start);

	switch (mode[0]) {
	case 'm':
		run_mutex(iters, victim);
		break;
	case 'b':
		run_barrier(gofile);
		break;
	default:
		run_cond(gofile, holdfile, victim);
		break;
	}
	unmod_barrier(&sh->survivors);
	unmod_finish(sh, SIZE);
	return 0;
}
