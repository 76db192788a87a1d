/*
 * scenario.h - what every scenario program (tests/<name>/<name>.c) needs
 * besides the DSM API: a strict number parser and the error exits, with
 * the messages the tests match ("NAME: WHAT: not a number: 'S'", exit 2;
 * "NAME: CALL: REASON (CODE)", exit 1), and a monotonic clock.  NAME is the
 * program's name (program_invocation_short_name).  Header-only: each
 * program is one file built by tests/scenario.mk.
 */
#ifndef DSM_SCENARIO_H
#define DSM_SCENARIO_H

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "dsm.h"

/* s as an unsigned number (decimal, 0x hex, 0 octal), or exit 2. */
static inline unsigned long long number(const char *s, const char *what)
{
	char *end;
	unsigned long long v;

	errno = 0;
	v = strtoull(s, &end, 0);
	if (errno || end == s || *end || s[0] == '-') {
		fprintf(stderr, "%s: %s: not a number: '%s'\n",
			program_invocation_short_name, what, s);
		exit(2);
	}
	return v;
}

/* A DSM call failed with code: one line, exit 1. */
static inline void fail(const char *call, int code)
{
	fprintf(stderr, "%s: %s: %s (%d)\n", program_invocation_short_name,
		call, dsm_strerror(code), code);
	exit(1);
}

/* Monotonic seconds. */
static inline double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

#endif
