/*
 * sync.h - private to preload/: distributed synchronisation objects for the
 * shim (process-shared pthread objects and semaphores inside the segment).
 *
 * The master keeps each object's state (docs/PROTOCOL.md, "Synchronisation
 * objects"); this side sends the operations, turns releases into closing
 * frames, cancels timed waits, and keeps what only the node can know: which
 * of its threads owns a mutex and how often it locked it recursively.
 * Functions return 0 or a positive errno value, like pthread_*.  If the
 * master is lost the process ends (node_exit_on_lost) or they return EIO.
 */
#ifndef DSM_SYNC_H
#define DSM_SYNC_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "dsm_wire.h"

struct segment;

/* How a lock call may wait. */
enum sync_wait { SYNC_BLOCK, SYNC_TRY, SYNC_UNTIL };

/*
 * One operation on the object at segment offset `off`.  abstime (clock clk)
 * bounds the wait when not NULL.  *value receives the reply's value when
 * value is not NULL.
 */
int sync_obj(struct segment *s, enum dsm_objop op, size_t off, uint8_t arg8,
	     uint64_t arg, const struct timespec *abstime, clockid_t clk,
	     uint64_t *value);

int sync_release_async(struct segment *s, enum dsm_objop op, size_t off);

int sync_mutex_init(struct segment *s, size_t off, int type);
int sync_mutex_lock(struct segment *s, size_t off, enum sync_wait how,
		    const struct timespec *abstime, clockid_t clk);
int sync_mutex_unlock(struct segment *s, size_t off);
int sync_mutex_destroy(struct segment *s, size_t off);
int sync_cond_wait(struct segment *s, size_t cond, size_t mutex,
		   const struct timespec *abstime, clockid_t clk);

/* The clock of a condition's timed waits (pthread_condattr_setclock). */
void sync_cond_set_clock(struct segment *s, size_t off, clockid_t clk);
clockid_t sync_cond_clock(struct segment *s, size_t off);

/* Forget every mutex owner record (fork child: it holds nothing). */
void sync_reset(struct segment *s);
void sync_free(struct segment *s);

#endif
