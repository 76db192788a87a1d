/*
 * misuse - a node's API calls that are wrong must return their documented
 * error code, never crash, and leave the node working.
 *
 *   misuse HOST PORT            (a master must run there)
 *   misuse HOST PORT --refused  (nothing listens there: init_slave fails)
 *
 * Prints "misuse: all N checks OK"; exit 0 ok, 1 failure, 2 usage.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dsm.h"

static int checks, failures;

static void expect(int got, int want, const char *what)
{
	checks++;
	if (got != want) {
		fprintf(stderr, "misuse: %s returned %d (%s), expected %d (%s)\n",
			what, got, dsm_strerror(got), want, dsm_strerror(want));
		failures++;
	}
}

int main(int argc, char **argv)
{
	uint8_t *seg;
	uint16_t port;
	size_t size = 0;
	int local = 0;

	if (argc < 3)
		return fprintf(stderr, "usage: misuse HOST PORT [--refused]\n"), 2;
	port = (uint16_t)atoi(argv[2]);
	expect(lock_write(&local, 4), DSM_ENOTINIT, "lock_write before init");
	expect(destroy_slave(), DSM_ENOTINIT, "destroy_slave before init");
	expect(init_slave(NULL, port) == NULL ? dsm_last_error() : 0,
	       DSM_EINVAL, "init_slave(NULL host)");
	if (argc > 3 && strcmp(argv[3], "--refused") == 0) {
		expect(init_slave(argv[1], port) == NULL ? dsm_last_error() : 0,
		       DSM_ELOST, "init_slave with no master");
		goto out;
	}
	seg = init_slave(argv[1], port);
	if (!seg) {
		fprintf(stderr, "misuse: init_slave: %s\n",
			dsm_strerror(dsm_last_error()));
		return 1;
	}
	size_dsm(&size, seg + 10, SLAVE);
	expect(size > 0, 1, "size_dsm(SLAVE) inside the segment");
	size_dsm(&size, &local, SLAVE);
	expect((int)size, 0, "size_dsm(SLAVE) outside");
	size_dsm(NULL, seg, SLAVE);	/* must not crash */

	expect(lock_write(NULL, 8), DSM_EINVAL, "lock_write(NULL)");
	expect(lock_write(seg, 0), DSM_EINVAL, "lock_write(size 0)");
	expect(lock_read(&local, 4), DSM_ERANGE, "lock_read outside the segment");
	size_dsm(&size, seg, SLAVE);
	expect(lock_write(seg + size - 4, 8), DSM_ERANGE, "lock_write across the end");
	expect(unlock_write(seg, 8), DSM_ENOTLOCKED, "unlock_write never locked");
	expect(lock_write(seg, 8), 0, "lock_write");
	expect(unlock_read(seg, 8), DSM_ENOTLOCKED, "unlock_read of a write lock");
	expect(unlock_write(seg + 8192, 8), DSM_ENOTLOCKED, "unlock_write other page");
	seg[0] = 42;
	expect(unlock_write(seg, 8), 0, "unlock_write");
	expect(unlock_write(seg, 8), DSM_ENOTLOCKED, "unlock_write twice");
	expect(lock_read(seg, 8), 0, "lock_read");
	expect(lock_read(seg, 8), 0, "lock_read again (shared)");
	expect(seg[0], 42, "the byte written");
	expect(unlock_read(seg, 8), 0, "unlock_read");
	expect(unlock_read(seg, 8), 0, "unlock_read second hold");
	expect(destroy_slave(), 0, "destroy_slave");
	expect(destroy_slave(), DSM_ENOTINIT, "destroy_slave twice");
	expect(lock_write(seg, 8), DSM_ENOTINIT, "lock_write after destroy");
out:
	printf("misuse: %s %d checks %s\n", failures ? "FAILED" : "all", checks,
	       failures ? "" : "OK");
	return failures ? 1 : 0;
}
