/*
 * bank.c - accounts with one process-shared mutex each; every rank makes
 * TRANSFERS pseudo-random transfers (seeded by its rank), always locking the
 * two accounts in ascending order, and every 50 transfers audits the bank by
 * locking all accounts in ascending order.  Money is conserved: the total
 * never changes, and every audit must see exactly the initial total.
 *
 *   bank [-s NAME] [-t SECS] [-k] ACCOUNTS TRANSFERS
 *
 * Balances depend on the interleaving; the total, the number of transfers
 * and of audits do not.  Every rank prints
 *   "bank: result accounts A total T transfers X audits Y bad 0".
 */
#include <stdio.h>

#include "unmod.h"

#define MAX_ACCOUNTS 256
#define INITIAL 1000
#define AUDIT_EVERY 50

struct account {
	pthread_mutex_t m;
	int64_t balance;
};

struct shared {
	uint32_t ready;
	uint32_t accounts;
	pthread_barrier_t bar;
	pthread_mutex_t stats;
	uint64_t transfers, audits, bad_audits;
	struct account acc[MAX_ACCOUNTS];
};

#define SIZE 65536

static struct shared *sh;

/* Sum of all balances, every account locked (ascending) while summing. */
static int64_t audit(void)
{
	int64_t sum = 0;
	int i;

	for (i = 0; i < (int)sh->accounts; i++)
		unmod_lock(&sh->acc[i].m);
	for (i = 0; i < (int)sh->accounts; i++)
		sum += sh->acc[i].balance;
	for (i = (int)sh->accounts - 1; i >= 0; i--)
		unmod_unlock(&sh->acc[i].m);
	return sum;
}

int main(int argc, char **argv)
{
	int first = unmod_init("bank", argc, argv, "ACCOUNTS TRANSFERS");
	unsigned long long accounts, transfers, i, audits = 0, bad = 0;
	uint64_t seed;
	int64_t want, total = 0;
	int k;

	if (argc - first != 2)
		unmod_usage("expected ACCOUNTS TRANSFERS");
	accounts = unmod_number(argv[first], "ACCOUNTS", 2, MAX_ACCOUNTS);
	transfers = unmod_number(argv[first + 1], "TRANSFERS", 0, 10000000);
	_Static_assert(sizeof(struct shared) <= SIZE, "struct shared too big");
	want = (int64_t)accounts * INITIAL;

	sh = unmod_attach(SIZE);
	if (unmod.rank == 0) {
		sh->accounts = (uint32_t)accounts;
		unmod_barrier_init(&sh->bar, (unsigned)unmod.nodes);
		unmod_mutex_init(&sh->stats, PTHREAD_MUTEX_NORMAL);
		for (k = 0; k < (int)accounts; k++) {
			unmod_mutex_init(&sh->acc[k].m, PTHREAD_MUTEX_NORMAL);
			sh->acc[k].balance = INITIAL;
		}
		unmod_publish(&sh->ready);
	} else {
		unmod_wait_ready(&sh->ready);
	}
	unmod_barrier(&sh->bar);
	if (sh->accounts != accounts)
		unmod_die("rank 0 set up %u accounts, this rank was told %llu",
			  sh->accounts, accounts);
	unmod_info("started: %llu transfers between %llu accounts", transfers,
		   accounts);

	seed = ((uint64_t)unmod.rank + 1) * 0x9E3779B97F4A7C15ull;
	for (i = 0; i < transfers; i++) {
		uint64_t r = unmod_rand(&seed);
		unsigned a = (unsigned)(r % accounts);
		unsigned b = (unsigned)((r >> 20) % (accounts - 1));
		int64_t amount = (int64_t)((r >> 40) % 100) + 1;
		unsigned lo, hi;

		if (b >= a)
			b++;
		lo = a < b ? a : b;
		hi = a < b ? b : a;
		unmod_lock(&sh->acc[lo].m);
		unmod_lock(&sh->acc[hi].m);
		sh->acc[a].balance -= amount;
		sh->acc[b].balance += amount;
		unmod_unlock(&sh->acc[hi].m);
		unmod_unlock(&sh->acc[lo].m);
		if ((i + 1) % AUDIT_EVERY == 0) {
			int64_t sum = audit();

			audits++;
			if (sum != want) {
				bad++;
				fprintf(stderr, "bank: rank %d: audit after %llu "
					"transfers: total %lld, expected %lld\n",
					unmod.rank, i + 1, (long long)sum,
					(long long)want);
			}
		}
	}
	unmod_lock(&sh->stats);
	sh->transfers += transfers;
	sh->audits += audits;
	sh->bad_audits += bad;
	unmod_unlock(&sh->stats);

	unmod_barrier(&sh->bar);
	for (k = 0; k < (int)accounts; k++)
		total += sh->acc[k].balance;
	unmod_result("accounts %llu total %lld transfers %llu audits %llu bad %llu",
		     accounts, (long long)total,
		     (unsigned long long)sh->transfers,
		     (unsigned long long)sh->audits,
		     (unsigned long long)sh->bad_audits);
	if (total != want)
		unmod_die("total %lld, expected %lld: money was created or lost",
			  (long long)total, (long long)want);
	if (sh->bad_audits)
		unmod_die("%llu audits saw a wrong total",
			  (unsigned long long)sh->bad_audits);
	unmod_barrier(&sh->bar);
	unmod_finish(sh, SIZE);
	return 0;
}
