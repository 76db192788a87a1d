/*
 * dsm_master.h - the master as an embeddable object.
 *
 * dsm-master's main() and libdsm's init_master() both drive the master
 * through these functions; nothing else of master/ is visible outside it.
 * One event loop (master_run) owns every piece of master state.  The other
 * functions that may be called from other threads say so.
 */
#ifndef DSM_MASTER_H
#define DSM_MASTER_H

#include <stddef.h>
#include <stdint.h>

struct master;

struct master_config {
	size_t size;		/* segment bytes; rounded up to whole pages */
	uint16_t port;		/* 0 = any free port */
	const char *listen_addr;	/* IPv4 address or host name; NULL = 127.0.0.1 */
	uint64_t base;		/* virtual address announced to nodes; 0 = default */
	const char *secret_file;	/* shared secret for node authentication
					 * (docs/SECURITY.md); NULL = none */
	int insecure;		/* allow a non-loopback listen address without
				 * a secret */
	unsigned timeout_s;	/* a node silent this long is lost; 0 = default
				 * DSM_DEFAULT_TIMEOUT_S */
	const char *store_path;	/* home copy kept in this file (survives a
				 * restart); NULL = memory only */
	int sync_policy;	/* enum master_sync, for store_path */
	unsigned stats_interval_s;	/* log a statistics summary this often
					 * (docs/PROTOCOL.md "Statistics");
					 * 0 = never */
};

/* When the home copy is written back to its store file. */
enum master_sync {
	MASTER_SYNC_NONE = 0,	/* the kernel writes it back when it likes */
	MASTER_SYNC_RELEASE,	/* msync after every applied release */
	MASTER_SYNC_INTERVAL,	/* msync once a second */
};

/*
 * Create the master: home copy (zero-filled), listening socket bound and
 * listening (so the port is known and connections queue up before
 * master_run).  Returns NULL and sets *err to a DSM_E* code on failure, with
 * one log line naming the failing call.
 */
struct master *master_create(const struct master_config *cfg, int *err);

/*
 * Run the event loop in the calling thread until master_stop().  On stop,
 * every node gets RELEA, pending output is flushed for at most one second,
 * and all connections are closed.  Returns 0, or a DSM_E* code if the loop
 * itself failed.
 */
int master_run(struct master *m);

/* Ask master_run to return.  Async-signal-safe; callable from any thread. */
void master_stop(struct master *m);

/* Free everything; master_run must have returned (or never been called). */
void master_destroy(struct master *m);

uint16_t master_port(const struct master *m);
const char *master_listen_addr(const struct master *m);
size_t master_size(const struct master *m);
uint64_t master_base(const struct master *m);
/* The home copy: master_size() bytes, page-aligned, not at master_base(). */
void *master_store(const struct master *m);

/*
 * This process as one more participant, for lock_*() on the master's own
 * pointer.  Callable from any thread except the loop's; they block until the
 * loop has granted the lock or completed the release.  `off`/`len` are a
 * byte range of the segment (rounded out to pages, like LOCKR/LOCKW).  An
 * unlock_write makes every node's copy of the range's pages invalid, since
 * the master cannot tell which bytes the local code changed.  Return 0 or a
 * DSM_E* code (DSM_ERANGE, DSM_ENOTLOCKED, DSM_ENOTINIT after stop).
 */
int master_local_lock(struct master *m, size_t off, size_t len, int write);
int master_local_unlock(struct master *m, size_t off, size_t len, int write);

/*
 * Block until at least one node has joined and then every node has left, or
 * until the master is stopped.  Callable from any thread but the loop's.
 * Returns 0.
 */
int master_wait_idle(struct master *m);

#endif
