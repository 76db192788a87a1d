/*
 * api.h - private to preload/: glue between the public API (api.c) and the
 * in-process master (api_master.c).
 */
#ifndef DSM_API_H
#define DSM_API_H

#include <stdint.h>

struct master;

/* Read DSM_LOG once per process. */
void api_init_once(void);

/* Record the failure code of init_master/init_slave for dsm_last_error(). */
void api_set_error(int code);

struct segment;

/* Attach to a master and register the segment (init_slave, the shim). */
struct segment *api_attach(const char *host, uint16_t port, int *err);

/* Release and detach every segment without unmapping (process exit). */
void api_detach_all_at_exit(void);

/* Leave every master before exec; come back if the exec failed. */
void api_before_exec(void);
void api_exec_failed(void);

/*
 * The master of this process, kept alive (not destroyed) until
 * api_master_unhold().  NULL (and nothing to undo) if there is none.
 */
struct master *api_master_hold(void);
void api_master_unhold(void);

/* In a fork child: the master thread is the parent's; drop the reference. */
void api_master_forget(void);

/*
 * The secret file this process uses (auth.c): dsm_set_secret_file()'s,
 * else $DSM_SECRET_FILE, copied into out (PATH_MAX bytes).  0 if there is
 * one, -1 if none.
 */
int auth_secret_path(char *out);

#endif
