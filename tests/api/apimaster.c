/*
 * apimaster - the original API's master side: init_master in this process,
 * which then counts as one more participant on its own pointer while node
 * processes (the counter scenario) increment the same counter.
 *
 *   apimaster ITERS NODES COUNTER_PROGRAM
 *
 * Starts a master (port 0), runs NODES copies of COUNTER_PROGRAM against it
 * (each ITERS increments), increments ITERS times itself under lock_write on
 * the master's pointer, waits with loop_master() until every node has left,
 * and checks the total is ITERS x (NODES + 1).  Also checks size_dsm, the
 * local error codes, and that calls after destroy_master fail cleanly.
 * Prints "apimaster: total T (expected E) OK"; exit 0 ok, 1 failure, 2 usage.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include "dsm.h"

#define SEG_SIZE (1u << 20)

static int failures;

static void expect(int got, int want, const char *what)
{
	if (got != want) {
		fprintf(stderr, "apimaster: %s returned %d (%s), expected %d\n",
			what, got, dsm_strerror(got), want);
		failures++;
	}
}

int main(int argc, char **argv)
{
	unsigned long iters, nodes;
	uint64_t *counter, total;
	size_t size;
	pid_t *pids;
	char portstr[8], itstr[24];

	if (argc != 4)
		return fprintf(stderr, "usage: apimaster ITERS NODES COUNTER_PROGRAM\n"), 2;
	iters = strtoul(argv[1], NULL, 10);
	nodes = strtoul(argv[2], NULL, 10);
	counter = init_master(SEG_SIZE, 0);
	if (!counter) {
		fprintf(stderr, "apimaster: init_master: %s\n",
			dsm_strerror(dsm_last_error()));
		return 1;
	}
	expect(init_master(SEG_SIZE, 0) == NULL ? dsm_last_error() : 0,
	       DSM_EBUSY, "a second init_master");
	size_dsm(&size, counter, MASTER);
	expect((int)(size == SEG_SIZE), 1, "size_dsm(MASTER) == segment size");
	size_dsm(&size, &size, MASTER);
	expect((int)size, 0, "size_dsm of a pointer outside the segment");
	expect(lock_write(counter, 0), DSM_EINVAL, "lock_write(size 0)");
	expect(lock_write((char *)counter + SEG_SIZE - 4, 8), DSM_ERANGE,
	       "lock_write past the end");
	expect(unlock_write(counter, 8), DSM_ENOTLOCKED, "unlock_write not held");

	snprintf(portstr, sizeof(portstr), "%u", dsm_master_port());
	snprintf(itstr, sizeof(itstr), "%lu", iters);
	pids = calloc(nodes, sizeof(*pids));
	for (unsigned long i = 0; i < nodes; i++) {
		pids[i] = fork();
		if (pids[i] == 0) {
			execl(argv[3], argv[3], "127.0.0.1", portstr, itstr,
			      (char *)NULL);
			perror("apimaster: exec");
			_exit(127);
		}
	}
	for (unsigned long i = 0; i < iters; i++) {
		int rc = lock_write(counter, sizeof(*counter));

		if (rc == 0) {
			(*counter)++;
			rc = unlock_write(counter, sizeof(*counter));
		}
		if (rc != 0) {
			fprintf(stderr, "apimaster: lock/unlock: %s\n",
				dsm_strerror(rc));
			return 1;
		}
	}
	if (nodes > 0)
		expect(loop_master(), 0, "loop_master");
	for (unsigned long i = 0; i < nodes; i++) {
		int st;

		waitpid(pids[i], &st, 0);
		expect(WIFEXITED(st) ? WEXITSTATUS(st) : 128, 0, "a counter node");
	}
	expect(lock_read(counter, sizeof(*counter)), 0, "lock_read");
	total = *counter;
	expect(unlock_read(counter, sizeof(*counter)), 0, "unlock_read");
	expect(destroy_master(), 0, "destroy_master");
	expect(destroy_master(), DSM_ENOTINIT, "a second destroy_master");
	expect(lock_write(counter, 8), DSM_ENOTINIT, "lock_write after destroy");
	expect(loop_master(), DSM_ENOTINIT, "loop_master after destroy");
	free(pids);
	if (total != (uint64_t)iters * (nodes + 1))
		failures++;
	printf("apimaster: total %" PRIu64 " (expected %lu) %s\n", total,
	       iters * (nodes + 1), failures ? "FAILED" : "OK");
	return failures ? 1 : 0;
}
