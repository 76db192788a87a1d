/*
 * prodcons.c - a bounded buffer with one process-shared mutex and two
 * condition variables (not_full, not_empty).  Ranks 0 .. P-1 produce
 * (P = DSM_NODES / 2), the others consume; with one process a producer
 * thread and the main thread play both roles.  Producer p puts p*K + 1 ..
 * p*K + K; consumers take items until all P*K are consumed.  Every wait is a
 * pthread_cond_timedwait bounded by -t.
 *
 *   prodcons [-s NAME] [-t SECS] [-k] K CAPACITY
 *
 * Every rank prints, after the final barrier,
 *   "prodcons: result producers P consumers C items N sum S produced S2"
 * and fails unless N = P*K and S = S2 = the expected sum.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "unmod.h"

#define MAX_CAP 256

struct shared {
	uint32_t ready;
	pthread_barrier_t bar;
	pthread_mutex_t m;
	pthread_cond_t not_full, not_empty;
	uint32_t cap, head, tail, count;
	uint64_t total;            /* items to be consumed in all */
	uint64_t produced_items, produced_sum;
	uint64_t consumed_items, consumed_sum;
	uint64_t buf[MAX_CAP];
};

#define SIZE 65536

static struct shared *sh;
static unsigned long long k;
static struct timespec deadline;

static void wait_on(pthread_cond_t *c, const char *what)
{
	int rc = pthread_cond_timedwait(c, &sh->m, &deadline);

	if (rc == ETIMEDOUT)
		unmod_die("pthread_cond_timedwait(%s): no progress before the "
			  "-t deadline (buffer holds %u, consumed %llu of %llu)",
			  what, sh->count, (unsigned long long)sh->consumed_items,
			  (unsigned long long)sh->total);
	if (rc)
		unmod_die("pthread_cond_timedwait(%s): %s", what, strerror(rc));
}

static void produce(unsigned p)
{
	unsigned long long i;

	for (i = 1; i <= k; i++) {
		uint64_t v = (uint64_t)p * k + i;

		unmod_lock(&sh->m);
		while (sh->count == sh->cap)
			wait_on(&sh->not_full, "not_full");
		sh->buf[sh->tail] = v;
		sh->tail = (sh->tail + 1) % sh->cap;
		sh->count++;
		sh->produced_items++;
		sh->produced_sum += v;
		pthread_cond_signal(&sh->not_empty);
		unmod_unlock(&sh->m);
	}
}

static unsigned long long consume(void)
{
	unsigned long long mine = 0;

	for (;;) {
		uint64_t v;

		unmod_lock(&sh->m);
		while (sh->count == 0 && sh->consumed_items < sh->total)
			wait_on(&sh->not_empty, "not_empty");
		if (sh->count == 0) {
			/* Everything was consumed. */
			unmod_unlock(&sh->m);
			return mine;
		}
		v = sh->buf[sh->head];
		sh->head = (sh->head + 1) % sh->cap;
		sh->count--;
		sh->consumed_items++;
		sh->consumed_sum += v;
		mine++;
		pthread_cond_signal(&sh->not_full);
		if (sh->consumed_items == sh->total)
			pthread_cond_broadcast(&sh->not_empty);
		unmod_unlock(&sh->m);
	}
}

static void *producer_thread(void *arg)
{
	(void)arg;
	produce(0);
	return NULL;
}

int main(int argc, char **argv)
{
	int first = unmod_init("prodcons", argc, argv, "K CAPACITY");
	unsigned long long cap, producers, consumers, want_sum = 0, p, mine = 0;
	pthread_t tid;
	int rc;

	if (argc - first != 2)
		unmod_usage("expected K CAPACITY");
	k = unmod_number(argv[first], "K", 1, 10000000);
	cap = unmod_number(argv[first + 1], "CAPACITY", 1, MAX_CAP);
	_Static_assert(sizeof(struct shared) <= SIZE, "struct shared too big");
	producers = unmod.nodes == 1 ? 1 : (unsigned long long)unmod.nodes / 2;
	consumers = unmod.nodes == 1 ? 1 : (unsigned long long)unmod.nodes - producers;
	for (p = 0; p < producers; p++)
		want_sum += p * k * k + k * (k + 1) / 2;

	sh = unmod_attach(SIZE);
	if (unmod.rank == 0) {
		unmod_barrier_init(&sh->bar, (unsigned)unmod.nodes);
		unmod_mutex_init(&sh->m, PTHREAD_MUTEX_NORMAL);
		unmod_cond_init(&sh->not_full);
		unmod_cond_init(&sh->not_empty);
		sh->cap = (uint32_t)cap;
		sh->total = producers * k;
		unmod_publish(&sh->ready);
	} else {
		unmod_wait_ready(&sh->ready);
	}
	unmod_barrier(&sh->bar);
	if (sh->cap != cap || sh->total != producers * k)
		unmod_die("rank 0 set up capacity %u for %llu items, this rank was "
			  "told %llu for %llu", sh->cap,
			  (unsigned long long)sh->total, cap, producers * k);
	deadline = unmod_deadline(unmod_left());

	if (unmod.nodes == 1) {
		unmod_info("started: producer thread and consumer");
		rc = pthread_create(&tid, NULL, producer_thread, NULL);
		if (rc)
			unmod_die("pthread_create: %s", strerror(rc));
		mine = consume();
		pthread_join(tid, NULL);
	} else if ((unsigned long long)unmod.rank < producers) {
		unmod_info("started: producer %d of %llu", unmod.rank, producers);
		produce((unsigned)unmod.rank);
	} else {
		unmod_info("started: consumer");
		mine = consume();
	}
	if (mine)
		unmod_info("consumed %llu items", mine);

	unmod_barrier(&sh->bar);
	unmod_result("producers %llu consumers %llu items %llu sum %llu produced %llu",
		     producers, consumers,
		     (unsigned long long)sh->consumed_items,
		     (unsigned long long)sh->consumed_sum,
		     (unsigned long long)sh->produced_sum);
	if (sh->consumed_items != producers * k || sh->count != 0)
		unmod_die("consumed %llu items (%u left in the buffer), expected %llu",
			  (unsigned long long)sh->consumed_items, sh->count,
			  producers * k);
	if (sh->consumed_sum != want_sum || sh->produced_sum != want_sum)
		unmod_die("consumed sum %llu, produced sum %llu, expected %llu",
			  (unsigned long long)sh->consumed_sum,
			  (unsigned long long)sh->produced_sum, want_sum);
	unmod_barrier(&sh->bar);
	unmod_finish(sh, SIZE);
	return 0;
}
