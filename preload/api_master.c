/*
 * api_master.c - init_master, loop_master, destroy_master: the master of
 * the original API, run in a background thread of the calling process so
 * that the process can go on and use its own pointer (as one more
 * participant, through lock_read/lock_write).
 *
 * master_lock (read-write) keeps the master alive while a call uses it;
 * destroy_master stops the loop first (which makes blocked calls return)
 * and only then takes it exclusively to free the master.
 */
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "dsm.h"
#include "dsm_log.h"
#include "dsm_master.h"

static pthread_mutex_t master_mu = PTHREAD_MUTEX_INITIALIZER; /* create/destroy */
static pthread_rwlock_t master_lock = PTHREAD_RWLOCK_INITIALIZER;
static struct master *the_master;
static pthread_t master_thread;

static void *master_thread_main(void *arg)
{
	int rc = master_run(arg);

	if (rc != 0)
		dsm_err("master loop ended: %s", dsm_strerror(rc));
	return NULL;
}

/* $DSM_BASE as the segment address, 0 for the default, -1 if malformed. */
static int base_from_env(uint64_t *base)
{
	const char *env = getenv("DSM_BASE");
	char *end;

	*base = 0;
	if (!env || !*env)
		return 0;
	errno = 0;
	*base = strtoull(env, &end, 0);
	if (errno || *end || *base == 0) {
		dsm_err("DSM_BASE='%s' is not a non-zero address", env);
		return -1;
	}
	return 0;
}

/*
 * The rest of the configuration from the environment (docs/SECURITY.md):
 * the secret (dsm_set_secret_file, else $DSM_SECRET_FILE) into path,
 * $DSM_INSECURE=1 for a non-loopback $DSM_LISTEN without one, $DSM_TIMEOUT
 * for silent nodes.  0, or -1 after one error line.
 */
static int master_env(struct master_config *cfg, char *path)
{
	const char *ins = getenv("DSM_INSECURE"), *t = getenv("DSM_TIMEOUT");
	char *end;
	long v;

	if (auth_secret_path(path) == 0)
		cfg->secret_file = path;
	cfg->insecure = ins && strcmp(ins, "1") == 0;
	if (t && *t) {
		errno = 0;
		v = strtol(t, &end, 10);
		if (errno || *end || v < 1 || v > 86400) {
			dsm_err("DSM_TIMEOUT='%s': expected 1 to 86400 seconds",
				t);
			return -1;
		}
		cfg->timeout_s = (unsigned)v;
	}
	return 0;
}

void *init_master(size_t size, uint16_t port)
{
	struct master_config cfg = { .size = size, .port = port };
	char secret[PATH_MAX];
	struct master *m;
	sigset_t all, old;
	int err, rc;

	api_init_once();
	if (size == 0 || base_from_env(&cfg.base) < 0) {
		api_set_error(DSM_EINVAL);
		return NULL;
	}
	cfg.listen_addr = getenv("DSM_LISTEN");
	if (master_env(&cfg, secret) < 0) {
		api_set_error(DSM_EINVAL);
		return NULL;
	}
	pthread_mutex_lock(&master_mu);
	if (the_master) {
		pthread_mutex_unlock(&master_mu);
		api_set_error(DSM_EBUSY);
		return NULL;
	}
	m = master_create(&cfg, &err);
	if (!m) {
		pthread_mutex_unlock(&master_mu);
		api_set_error(err);
		return NULL;
	}
	/* The loop thread takes no process signals: they belong to the
	 * program. */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	rc = pthread_create(&master_thread, NULL, master_thread_main, m);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (rc != 0) {
		dsm_err("pthread_create(master loop): %s", strerror(rc));
		master_destroy(m);
		pthread_mutex_unlock(&master_mu);
		api_set_error(DSM_ESYS);
		return NULL;
	}
	pthread_rwlock_wrlock(&master_lock);
	the_master = m;
	pthread_rwlock_unlock(&master_lock);
	pthread_mutex_unlock(&master_mu);
	api_set_error(DSM_OK);
	return master_store(m);
}

struct master *api_master_hold(void)
{
	pthread_rwlock_rdlock(&master_lock);
	if (!the_master) {
		pthread_rwlock_unlock(&master_lock);
		return NULL;
	}
	return the_master;
}

void api_master_unhold(void)
{
	pthread_rwlock_unlock(&master_lock);
}

int loop_master(void)
{
	struct master *m = api_master_hold();
	int rc;

	if (!m)
		return DSM_ENOTINIT;
	rc = master_wait_idle(m);
	api_master_unhold();
	return rc;
}

uint16_t dsm_master_port(void)
{
	struct master *m = api_master_hold();
	uint16_t port = 0;

	if (m) {
		port = master_port(m);
		api_master_unhold();
	}
	return port;
}

int destroy_master(void)
{
	struct master *m;

	pthread_mutex_lock(&master_mu);
	m = the_master;	/* stable: only changed under master_mu */
	if (!m) {
		pthread_mutex_unlock(&master_mu);
		return DSM_ENOTINIT;
	}
	/* Stop first: loop_master and blocked local locks return, so the
	 * exclusive lock below cannot wait for them forever. */
	master_stop(m);
	pthread_join(master_thread, NULL);
	pthread_rwlock_wrlock(&master_lock);
	the_master = NULL;
	pthread_rwlock_unlock(&master_lock);
	master_destroy(m);
	pthread_mutex_unlock(&master_mu);
	return DSM_OK;
}

void api_master_forget(void)
{
	master_mu = (pthread_mutex_t)PTHREAD_MUTEX_INITIALIZER;
	master_lock = (pthread_rwlock_t)PTHREAD_RWLOCK_INITIALIZER;
	the_master = NULL;
}
