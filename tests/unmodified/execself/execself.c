/*
 * execself.c - processes that exec: each rank counts ITERS1 times under the
 * shared mutex, runs two commands through the shell (system() and popen(),
 * which fork or spawn and exec /bin/sh), then execs itself for a second
 * phase.  The new image opens the object again by name (no O_CREAT), checks
 * what the first image left in it, counts ITERS2 more times, and meets the
 * others at the final barriers.
 *
 *   execself [-s NAME] [-t SECS] [-k] ITERS1 ITERS2 [2]
 *
 * (The trailing 2 marks the second phase; the program adds it when it
 * execs itself.)  Every rank prints, after the final barrier,
 *   "execself: result total T expected T system 7 popen ok"
 * with T = NODES x (ITERS1 + ITERS2).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "unmod.h"

#define MAGIC 0x4578656353656c66ull /* "ExecSelf" */

struct shared {
	uint32_t ready;
	uint64_t magic;
	pthread_barrier_t bar;
	pthread_mutex_t lock;
	_Alignas(4096) uint64_t counter;
	uint64_t phase1[UNMOD_MAX_NODES];
	uint32_t shell_ok[UNMOD_MAX_NODES];
};

#define SIZE 65536

static void count(struct shared *sh, unsigned long long iters)
{
	unsigned long long i;

	for (i = 0; i < iters; i++) {
		unmod_lock(&sh->lock);
		sh->counter++;
		unmod_unlock(&sh->lock);
	}
}

/* system() and popen() work, with their status and output. */
static int shell_commands(void)
{
	char line[64] = "";
	FILE *f;
	int st = system("exit 7");

	if (st == -1 || !WIFEXITED(st) || WEXITSTATUS(st) != 7) {
		fprintf(stderr, "execself: rank %d: system(\"exit 7\") gave %#x\n",
			unmod.rank, st);
		return 0;
	}
	f = popen("echo popen-ok", "r");
	if (!f) {
		fprintf(stderr, "execself: rank %d: popen: %s\n", unmod.rank,
			strerror(errno));
		return 0;
	}
	if (!fgets(line, sizeof(line), f))
		line[0] = 0;
	st = pclose(f);
	if (strcmp(line, "popen-ok\n") != 0 || st == -1 || !WIFEXITED(st) ||
	    WEXITSTATUS(st) != 0) {
		fprintf(stderr, "execself: rank %d: popen read '%s', status %#x\n",
			unmod.rank, line, st);
		return 0;
	}
	return 1;
}

int main(int argc, char **argv)
{
	int first = unmod_init("execself", argc, argv, "ITERS1 ITERS2 [2]");
	unsigned long long iters1, iters2, expected;
	struct shared *sh;
	char **nargv;
	int phase = 1, i, ok = 1, r;

	if (argc - first < 2 || argc - first > 3)
		unmod_usage("expected ITERS1 ITERS2 [2]");
	iters1 = unmod_number(argv[first], "ITERS1", 0, 100000000);
	iters2 = unmod_number(argv[first + 1], "ITERS2", 0, 100000000);
	if (argc - first == 3)
		phase = (int)unmod_number(argv[first + 2], "PHASE", 2, 2);
	expected = (unsigned long long)unmod.nodes * (iters1 + iters2);

	if (phase == 1) {
		sh = unmod_attach(SIZE);
		if (unmod.rank == 0) {
			sh->magic = MAGIC;
			unmod_barrier_init(&sh->bar, (unsigned)unmod.nodes);
			unmod_mutex_init(&sh->lock, PTHREAD_MUTEX_NORMAL);
			unmod_publish(&sh->ready);
		} else {
			unmod_wait_ready(&sh->ready);
		}
		unmod_barrier(&sh->bar);
		unmod_info("started: phase 1, pid %d", (int)getpid());
		count(sh, iters1);
		ok = shell_commands();
		unmod_lock(&sh->lock);
		sh->phase1[unmod.rank] = iters1;
		sh->shell_ok[unmod.rank] = (uint32_t)ok;
		unmod_unlock(&sh->lock);

		/* Same options, plus the phase. */
		nargv = calloc((size_t)argc + 2, sizeof(*nargv));
		if (!nargv)
			unmod_die("calloc: out of memory");
		for (i = 0; i < argc; i++)
			nargv[i] = argv[i];
		nargv[argc] = "2";
		fflush(stdout);
		execv("/proc/self/exe", nargv);
		unmod_die("execv(/proc/self/exe): %s", strerror(errno));
	}

	/* Phase 2: a new image.  The object exists; rank 0 removes it at the
	 * end as the creator would have. */
	sh = unmod_open(SIZE);
	unmod.created = unmod.rank == 0;
	unmod_lock(&sh->lock);
	if (sh->magic != MAGIC || sh->phase1[unmod.rank] != iters1 ||
	    !sh->shell_ok[unmod.rank])
		unmod_die("after exec: magic %llx, this rank's phase-1 count %llu, "
			  "shell %u; expected %llx, %llu, 1",
			  (unsigned long long)sh->magic,
			  (unsigned long long)sh->phase1[unmod.rank],
			  sh->shell_ok[unmod.rank], MAGIC, iters1);
	unmod_unlock(&sh->lock);
	unmod_info("started: phase 2, pid %d", (int)getpid());
	count(sh, iters2);

	unmod_barrier(&sh->bar);
	for (r = 0; r < unmod.nodes; r++)
		ok &= sh->shell_ok[r] == 1;
	unmod_result("total %llu expected %llu system 7 popen %s",
		     (unsigned long long)sh->counter, expected, ok ? "ok" : "BAD");
	if (sh->counter != expected || !ok)
		unmod_die("total %llu, expected %llu; shell commands %s",
			  (unsigned long long)sh->counter, expected,
			  ok ? "ok" : "failed");
	unmod_barrier(&sh->bar);
	unmod_finish(sh, SIZE);
	return 0;
}
