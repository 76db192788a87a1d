/*
 * semseq.c - unnamed process-shared POSIX semaphores (sem_init pshared=1)
 * in shared memory:
 *   - `lock` (value 1) used as a mutex around a sequence-number increment,
 *     ITERS times per rank; sem_getvalue inside the critical section must
 *     say 0;
 *   - `tokens` (value 2): every rank tries sem_trywait once, so exactly
 *     min(2, NODES) ranks get one and the others see EAGAIN;
 *   - `empty` (value 0): sem_timedwait must fail with ETIMEDOUT;
 *   - `done` (value 0): every rank posts it when finished; rank 0 waits for
 *     NODES posts (sem_timedwait) and must then see the whole sequence: a
 *     sem_post/sem_wait pair orders memory like unlock/lock.
 *
 *   semseq [-s NAME] [-t SECS] [-k] ITERS
 *
 * Every rank prints, after the final barrier,
 *   "semseq: result seq S tokens T lock 1 done 0 bad 0"
 * with S = NODES x ITERS and T = min(2, NODES).
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "unmod.h"

struct shared {
	uint32_t ready;
	pthread_barrier_t bar;
	sem_t lock, tokens, empty, done;
	uint64_t seq;
	uint32_t tokens_taken;
	uint32_t bad;
};

#define SIZE 65536

static struct shared *sh;

static int value(sem_t *s, const char *name)
{
	int v;

	if (sem_getvalue(s, &v) == -1)
		unmod_die("sem_getvalue(%s): %s", name, strerror(errno));
	return v;
}

static void take(sem_t *s, const char *name)
{
	while (sem_wait(s) == -1) {
		if (errno != EINTR)
			unmod_die("sem_wait(%s): %s", name, strerror(errno));
	}
}

static void give(sem_t *s, const char *name)
{
	if (sem_post(s) == -1)
		unmod_die("sem_post(%s): %s", name, strerror(errno));
}

static void bad(const char *what, long long got)
{
	fprintf(stderr, "semseq: rank %d: FAIL %s: got %lld\n", unmod.rank,
		what, got);
	take(&sh->lock, "lock");
	sh->bad++;
	give(&sh->lock, "lock");
}

int main(int argc, char **argv)
{
	int first = unmod_init("semseq", argc, argv, "ITERS");
	unsigned long long iters, i, want;
	struct timespec ts;
	int got_token, rc, v, n, tokens_want;

	if (argc - first != 1)
		unmod_usage("expected ITERS");
	iters = unmod_number(argv[first], "ITERS", 0, 100000000);
	want = (unsigned long long)unmod.nodes * iters;
	tokens_want = unmod.nodes < 2 ? unmod.nodes : 2;

	sh = unmod_attach(SIZE);
	if (unmod.rank == 0) {
		unmod_barrier_init(&sh->bar, (unsigned)unmod.nodes);
		unmod_sem_init(&sh->lock, 1);
		unmod_sem_init(&sh->tokens, 2);
		unmod_sem_init(&sh->empty, 0);
		unmod_sem_init(&sh->done, 0);
		if (value(&sh->lock, "lock") != 1 || value(&sh->tokens, "tokens") != 2)
			unmod_die("sem_getvalue right after sem_init: lock %d "
				  "tokens %d, expected 1 and 2",
				  value(&sh->lock, "lock"), value(&sh->tokens, "tokens"));
		unmod_publish(&sh->ready);
	} else {
		unmod_wait_ready(&sh->ready);
	}
	unmod_barrier(&sh->bar);
	unmod_info("started: %llu increments", iters);

	got_token = sem_trywait(&sh->tokens) == 0;
	if (!got_token && errno != EAGAIN)
		unmod_die("sem_trywait(tokens): %s, expected 0 or EAGAIN",
			  strerror(errno));

	ts = unmod_deadline(0.1);
	rc = sem_timedwait(&sh->empty, &ts);
	if (rc == 0 || errno != ETIMEDOUT)
		bad("sem_timedwait(empty) should fail with ETIMEDOUT; errno",
		    rc == 0 ? 0 : errno);
	rc = sem_trywait(&sh->empty);
	if (rc == 0 || errno != EAGAIN)
		bad("sem_trywait(empty) should fail with EAGAIN; errno",
		    rc == 0 ? 0 : errno);

	take(&sh->lock, "lock");
	sh->tokens_taken += (uint32_t)got_token;
	give(&sh->lock, "lock");

	for (i = 0; i < iters; i++) {
		take(&sh->lock, "lock");
		v = value(&sh->lock, "lock");
		sh->seq++;
		give(&sh->lock, "lock");
		if (v != 0)
			bad("sem_getvalue(lock) while this rank holds it", v);
	}
	give(&sh->done, "done");

	if (unmod.rank == 0) {
		ts = unmod_deadline(unmod_left());
		for (n = 0; n < unmod.nodes; n++) {
			while ((rc = sem_timedwait(&sh->done, &ts)) == -1 &&
			       errno == EINTR)
				;
			if (rc == -1)
				unmod_die("sem_timedwait(done) %d of %d: %s", n + 1,
					  unmod.nodes, strerror(errno));
		}
		/* Every rank posted `done` after its last increment. */
		if (sh->seq != want)
			unmod_die("after all %d posts of done: seq %llu, expected "
				  "%llu", unmod.nodes,
				  (unsigned long long)sh->seq, want);
	}

	unmod_barrier(&sh->bar);
	unmod_result("seq %llu tokens %u lock %d done %d bad %u",
		     (unsigned long long)sh->seq, sh->tokens_taken,
		     value(&sh->lock, "lock"), value(&sh->done, "done"), sh->bad);
	if (sh->seq != want)
		unmod_die("seq %llu, expected %llu", (unsigned long long)sh->seq,
			  want);
	if ((int)sh->tokens_taken != tokens_want)
		unmod_die("%u ranks got a token, expected %d", sh->tokens_taken,
			  tokens_want);
	if (value(&sh->tokens, "tokens") != 2 - tokens_want)
		unmod_die("tokens value %d, expected %d",
			  value(&sh->tokens, "tokens"), 2 - tokens_want);
	if (sh->bad)
		unmod_die("%u checks failed", sh->bad);
	unmod_barrier(&sh->bar);
	unmod_finish(sh, SIZE);
	return 0;
}
