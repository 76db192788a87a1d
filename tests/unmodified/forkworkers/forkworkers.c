/*
 * forkworkers.c - ONE process creates the object, initialises a mutex and a
 * barrier in it, writes a few values, then fork()s WORKERS children.  Each
 * child checks it sees the values the parent wrote before fork, does ITERS
 * increments under the mutex, meets the parent at a barrier, writes its exit
 * mark and ends with exit(0) (odd workers) or _exit(0) (even workers).  The
 * parent leaves the barrier, checks the total, reaps the children (bounded),
 * then locks the mutex and checks every exit mark: what a process wrote
 * before exiting is released by its exit.
 *
 *   forkworkers [-s NAME] [-t SECS] [-k] WORKERS ITERS
 *
 * Run it as one process (DSM_NODES unset or 1).  Prints
 *   "forkworkers: result workers W total T marks W"
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "unmod.h"

#define MAX_WORKERS 32
#define MAGIC 0x466f726b65644f4bull /* "ForkedOK" */

struct shared {
	uint64_t magic;            /* written by the parent just before fork */
	char *self;                /* the parent's address of this object */
	pthread_barrier_t bar;
	pthread_mutex_t lock;
	_Alignas(4096) uint64_t counter;
	uint64_t per_worker[MAX_WORKERS];
	_Alignas(4096) uint32_t exit_mark[MAX_WORKERS];
};

#define SIZE 65536

static struct shared *sh;

static void child(unsigned w, unsigned long long iters)
{
	unsigned long long i;

	/* A fresh watchdog: alarms are not inherited across fork. */
	alarm((unsigned)unmod_left() + 1);
	unmod.rank = (int)w + 1;
	unmod.created = 0;
	if (sh->magic != MAGIC || sh->self != (char *)sh) {
		fprintf(stderr, "forkworkers: worker %u: sees magic %llx self %p "
			"after fork, expected %llx %p\n", w,
			(unsigned long long)sh->magic, (void *)sh->self, MAGIC,
			(void *)sh);
		_exit(3);
	}
	unmod_barrier(&sh->bar);
	for (i = 0; i < iters; i++) {
		unmod_lock(&sh->lock);
		sh->counter++;
		sh->per_worker[w]++;
		unmod_unlock(&sh->lock);
	}
	unmod_barrier(&sh->bar);
	/* Released by the exit itself. */
	sh->exit_mark[w] = w + 1;
	if (w % 2)
		exit(0);
	_exit(0);
}

int main(int argc, char **argv)
{
	int first = unmod_init("forkworkers", argc, argv, "WORKERS ITERS");
	unsigned long long workers, iters, marks = 0, expected;
	pid_t pids[MAX_WORKERS];
	int status[MAX_WORKERS], reaped = 0, failed = 0;
	double deadline;
	unsigned w;

	if (argc - first != 2)
		unmod_usage("expected WORKERS ITERS");
	workers = unmod_number(argv[first], "WORKERS", 1, MAX_WORKERS);
	iters = unmod_number(argv[first + 1], "ITERS", 0, 100000000);
	if (unmod.nodes != 1)
		unmod_usage("run it as ONE process (DSM_NODES=%d): it forks its "
			    "own workers", unmod.nodes);
	_Static_assert(sizeof(struct shared) <= SIZE, "struct shared too big");

	sh = unmod_create(SIZE);
	unmod_barrier_init(&sh->bar, (unsigned)workers + 1);
	unmod_mutex_init(&sh->lock, PTHREAD_MUTEX_NORMAL);
	sh->counter = 0;
	sh->self = (char *)sh;
	sh->magic = MAGIC;
	unmod_info("forking %llu workers x %llu increments", workers, iters);
	fflush(stdout);

	for (w = 0; w < workers; w++) {
		pids[w] = fork();
		if (pids[w] == -1)
			unmod_die("fork: %s", strerror(errno));
		if (pids[w] == 0)
			child(w, iters);
		status[w] = -1;
	}

	unmod_barrier(&sh->bar);
	unmod_barrier(&sh->bar);
	expected = workers * iters;
	if (sh->counter != expected)
		unmod_die("after the workers' barrier the counter is %llu, expected "
			  "%llu", (unsigned long long)sh->counter, expected);
	for (w = 0; w < workers; w++)
		if (sh->per_worker[w] != iters)
			unmod_die("worker %u's tally is %llu, expected %llu", w,
				  (unsigned long long)sh->per_worker[w], iters);

	deadline = unmod.start + unmod.timeout;
	while (reaped < (int)workers) {
		int st;
		pid_t pid = waitpid(-1, &st, WNOHANG);

		if (pid == -1 && errno != EINTR)
			unmod_die("waitpid: %s", strerror(errno));
		if (pid > 0) {
			for (w = 0; w < workers; w++)
				if (pids[w] == pid)
					status[w] = st;
			reaped++;
			continue;
		}
		if (unmod_now() > deadline) {
			for (w = 0; w < workers; w++)
				if (status[w] == -1)
					kill(pids[w], SIGKILL);
			unmod_die("%d of %llu workers still running after %g s",
				  (int)workers - reaped, workers, unmod.timeout);
		}
		unmod_sleep_ms(2);
	}
	for (w = 0; w < workers; w++) {
		if (WIFEXITED(status[w]) && WEXITSTATUS(status[w]) == 0)
			continue;
		failed++;
		if (WIFEXITED(status[w]))
			fprintf(stderr, "forkworkers: worker %u exited with status %d\n",
				w, WEXITSTATUS(status[w]));
		else
			fprintf(stderr, "forkworkers: worker %u killed by signal %d\n",
				w, WIFSIGNALED(status[w]) ? WTERMSIG(status[w]) : 0);
	}
	if (failed)
		unmod_die("%d workers failed", failed);

	/* Every worker exited after writing its mark: lock (an acquire) and
	 * look. */
	unmod_lock(&sh->lock);
	for (w = 0; w < workers; w++) {
		if (sh->exit_mark[w] == w + 1)
			marks++;
		else
			fprintf(stderr, "forkworkers: worker %u's exit mark is %u, "
				"expected %u\n", w, sh->exit_mark[w], w + 1);
	}
	unmod_unlock(&sh->lock);

	unmod_result("workers %llu total %llu marks %llu", workers,
		     (unsigned long long)sh->counter, marks);
	if (marks != workers)
		unmod_die("%llu of %llu exit marks missing: a worker's last writes "
			  "before exit were lost", workers - marks, workers);
	unmod_finish(sh, SIZE);
	return 0;
}
