/*
 * role.c - `dsm-bench --role NAME ARGS...`: what a child of the driver
 * runs.  The driver builds these command lines (driver.c); each role's
 * arguments and report are documented at the role.
 */
#include <stdio.h>
#include <string.h>

#include "bench.h"

static const struct {
	const char *name;
	int nargs;
	int (*fn)(char **args);
} roles[] = {
	{ "rawserver", 0, role_rawserver },
	{ "rawclient", 5, role_rawclient },
	{ "mutex", 3, role_mutex },
	{ "uffdwp", 2, role_uffdwp },
	{ "segvwp", 2, role_segvwp },
	{ "faults", 3, role_faults },
	{ "lockunlock", 3, role_lockunlock },
	{ "relock", 2, role_relock },
	{ "handoff", 2, role_handoff },
	{ "peek", 2, role_peek },
	{ "fill", 3, role_fill },
	{ "scan", 3, role_scan },
	{ "tputnode", 4, role_tputnode },
};

/* argv[0] is the role's name, the rest its arguments. */
int role_main(int argc, char **argv)
{
	for (size_t i = 0; i < sizeof(roles) / sizeof(roles[0]); i++) {
		if (strcmp(argv[0], roles[i].name) != 0)
			continue;
		child_role = roles[i].name;
		if (argc - 1 != roles[i].nargs)
			child_fail("takes %d arguments, got %d", roles[i].nargs,
				   argc - 1);
		return roles[i].fn(argv + 1);
	}
	fprintf(stderr, "dsm-bench: unknown role '%s'\n", argv[0]);
	return 2;
}
