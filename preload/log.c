/*
 * log.c - the logging helpers declared in include/dsm_log.h.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "dsm_log.h"

int dsm_log_level = DSM_LOG_WARN;
static const char *log_prefix = "dsm";

static const char *const level_names[] = { "error", "warn", "info", "debug" };

void dsm_log_set_prefix(const char *prefix)
{
	log_prefix = prefix;
}

int dsm_log_parse_level(const char *name)
{
	for (int i = 0; i < 4; i++)
		if (name && strcmp(name, level_names[i]) == 0)
			return i;
	return -1;
}

void dsm_log(int level, const char *fmt, ...)
{
	char line[1024];
	va_list ap;
	int n;

	if (level > dsm_log_level)
		return;
	if (level < DSM_LOG_ERROR)
		level = DSM_LOG_ERROR;
	if (level > DSM_LOG_DEBUG)
		level = DSM_LOG_DEBUG;
	n = snprintf(line, sizeof(line), "%s: %s: ", log_prefix,
		     level_names[level]);
	va_start(ap, fmt);
	n += vsnprintf(line + n, sizeof(line) - (size_t)n - 1, fmt, ap);
	va_end(ap);
	if (n > (int)sizeof(line) - 2)
		n = (int)sizeof(line) - 2;
	line[n++] = '\n';
	/* One write so lines from several threads and processes never mix. */
	while (write(STDERR_FILENO, line, (size_t)n) < 0 && errno == EINTR)
		;
}
