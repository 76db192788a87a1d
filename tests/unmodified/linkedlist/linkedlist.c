/*
 * linkedlist.c - a sorted singly linked list in shared memory, linked with
 * real pointers (struct node *next).  Nodes come from a bump allocator in
 * the object (under `alloc_lock`, sizes 24 to 40 bytes so nodes straddle
 * pages); each rank inserts PER_RANK nodes with distinct pseudo-random
 * values at their sorted place (under `list_lock`).  Pointers stored by one
 * process are followed by the others, so every process maps the object at
 * the address rank 0 got (it publishes it; the others map there too).
 *
 *   linkedlist [-s NAME] [-t SECS] [-k] PER_RANK
 *
 * After the final barrier every rank walks the list through the pointers,
 * checks that it is sorted, that every pointer is inside the arena and that
 * each rank has PER_RANK nodes, and prints
 *   "linkedlist: result nodes N sum S fnv H"
 * with S the sum of the values (mod 2^64) and H the FNV-1a hash of the
 * values in list order.
 */
#include <stdio.h>

#include "unmod.h"

struct node {
	struct node *next;
	uint64_t value;
	uint32_t rank;
	uint32_t extra; /* bytes of payload after the node, 0 to 16 */
};

struct shared {
	uint32_t ready;
	void *base;                /* where rank 0 mapped the object */
	pthread_barrier_t bar;
	pthread_mutex_t alloc_lock, list_lock;
	char *bump, *limit;        /* arena: [arena start, bump) is in use */
	struct node *head;
	uint64_t allocated;
};

#define HEADER 4096

static struct shared *sh;

static struct node *alloc_node(size_t extra)
{
	size_t n = (sizeof(struct node) + extra + 7) & ~(size_t)7;
	char *p;

	unmod_lock(&sh->alloc_lock);
	if (sh->bump + n > sh->limit) {
		unmod_unlock(&sh->alloc_lock);
		unmod_die("the arena is full after %llu nodes",
			  (unsigned long long)sh->allocated);
	}
	p = sh->bump;
	sh->bump += n;
	sh->allocated++;
	unmod_unlock(&sh->alloc_lock);
	return (struct node *)p;
}

static void insert(struct node *n)
{
	struct node **pp;

	unmod_lock(&sh->list_lock);
	for (pp = &sh->head; *pp && (*pp)->value < n->value; pp = &(*pp)->next)
		;
	n->next = *pp;
	*pp = n;
	unmod_unlock(&sh->list_lock);
}

int main(int argc, char **argv)
{
	int first = unmod_init("linkedlist", argc, argv, "PER_RANK");
	unsigned long long per_rank, i, count = 0, per[UNMOD_MAX_NODES] = { 0 };
	uint64_t sum = 0, fnv = UNMOD_FNV_INIT, prev = 0;
	char *arena, *arena_end;
	struct node *n;
	size_t size;
	int r;

	if (argc - first != 1)
		unmod_usage("expected PER_RANK");
	per_rank = unmod_number(argv[first], "PER_RANK", 0, 100000);
	size = HEADER + (size_t)unmod.nodes * per_rank * 48;
	size = (size + 65535) & ~(size_t)65535;

	sh = unmod_attach(size);
	if (unmod.rank == 0) {
		sh->base = sh;
		unmod_barrier_init(&sh->bar, (unsigned)unmod.nodes);
		unmod_mutex_init(&sh->alloc_lock, PTHREAD_MUTEX_NORMAL);
		unmod_mutex_init(&sh->list_lock, PTHREAD_MUTEX_NORMAL);
		sh->bump = (char *)sh + HEADER;
		sh->limit = (char *)sh + size;
		sh->head = NULL;
		unmod_publish(&sh->ready);
	} else {
		unmod_wait_ready(&sh->ready);
	}
	unmod_barrier(&sh->bar);
	/* The barrier is the acquire that makes sh->base readable here. */
	if (unmod.rank != 0)
		sh = unmod_remap(sh, size, sh->base);
	unmod_info("started: %llu nodes, object at %p", per_rank, (void *)sh);
	arena = (char *)sh + HEADER;
	arena_end = (char *)sh + size;

	for (i = 0; i < per_rank; i++) {
		uint64_t v = ((i << 8) | (uint64_t)unmod.rank) * 0x9E3779B97F4A7C15ull;
		size_t extra = (size_t)(v >> 60) % 3 * 8;

		n = alloc_node(extra);
		n->value = v;
		n->rank = (uint32_t)unmod.rank;
		n->extra = (uint32_t)extra;
		insert(n);
	}

	unmod_barrier(&sh->bar);
	for (n = sh->head; n; n = n->next) {
		if ((char *)n < arena || (char *)n + sizeof(*n) > arena_end ||
		    (char *)n >= sh->bump)
			unmod_die("node %llu of the list is at %p, outside the "
				  "arena [%p, %p)", count, (void *)n, (void *)arena,
				  (void *)sh->bump);
		if (count > 0 && n->value <= prev)
			unmod_die("node %llu: value %llx after %llx: not sorted",
				  count, (unsigned long long)n->value,
				  (unsigned long long)prev);
		if (n->rank >= (uint32_t)unmod.nodes)
			unmod_die("node %llu: rank %u", count, n->rank);
		prev = n->value;
		per[n->rank]++;
		sum += n->value;
		fnv = unmod_fnv(fnv, &n->value, sizeof(n->value));
		count++;
		if (count > sh->allocated)
			unmod_die("the list is longer than the %llu nodes allocated "
				  "(a cycle?)", (unsigned long long)sh->allocated);
	}
	unmod_result("nodes %llu sum %016llx fnv %016llx", count,
		     (unsigned long long)sum, (unsigned long long)fnv);
	for (r = 0; r < unmod.nodes; r++)
		if (per[r] != per_rank)
			unmod_die("rank %d has %llu nodes in the list, expected %llu",
				  r, per[r], per_rank);
	unmod_barrier(&sh->bar);
	unmod_finish(sh, size);
	return 0;
}
