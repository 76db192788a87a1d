/*
 * dsm_log.h - one logging convention for the master and the nodes.
 *
 * Lines go to stderr as "<prefix>: <level>: <message>\n" in a single
 * write(2), so they never interleave and are safe in the fault-handling
 * paths (no stdio, no malloc).  The level comes from DSM_LOG on nodes and
 * from --log-level in dsm-master; the default is "warn".
 */
#ifndef DSM_LOG_H
#define DSM_LOG_H

enum dsm_log_level {
	DSM_LOG_ERROR = 0,
	DSM_LOG_WARN,
	DSM_LOG_INFO,
	DSM_LOG_DEBUG,
};

extern int dsm_log_level;

/* Program name put in front of every line ("dsm", "dsm-master"). */
void dsm_log_set_prefix(const char *prefix);

/* Level for "error", "warn", "info", "debug"; -1 for anything else. */
int dsm_log_parse_level(const char *name);

void dsm_log(int level, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

#define dsm_err(...)   dsm_log(DSM_LOG_ERROR, __VA_ARGS__)
#define dsm_warn(...)  dsm_log(DSM_LOG_WARN, __VA_ARGS__)
#define dsm_info(...)  do { if (dsm_log_level >= DSM_LOG_INFO) dsm_log(DSM_LOG_INFO, __VA_ARGS__); } while (0)
#define dsm_debug(...) do { if (dsm_log_level >= DSM_LOG_DEBUG) dsm_log(DSM_LOG_DEBUG, __VA_ARGS__); } while (0)

#endif
