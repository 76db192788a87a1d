/*
 * dsm.h - public API of libdsm, a page-based distributed shared memory.
 *
 * A master (dsm-master, or a process that calls init_master) holds the home
 * copy of one memory segment.  Every process that calls init_slave is a node:
 * it sees the segment at the same virtual address as every other node, and
 * pages move on demand.  Coherence is release consistency with multiple
 * writers: what a node wrote before an unlock is visible to every node that
 * takes a lock afterwards (see docs/CONSISTENCY.md).
 *
 * Return codes: functions returning int give 0 on success or one of the
 * negative DSM_E* codes below; init_master and init_slave return NULL on
 * failure and dsm_last_error() tells why.  No function calls exit().
 */
#ifndef DSM_H
#define DSM_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* `who` argument of size_dsm(). */
#define MASTER 0
#define SLAVE  1

/* Error codes (negative; 0 is success). */
#define DSM_OK         0
#define DSM_EINVAL    -1  /* bad argument: NULL, size 0, unknown `who` */
#define DSM_ERANGE    -2  /* address range not inside one segment */
#define DSM_ENOTLOCKED -3 /* unlock of a range this process does not hold in that mode */
#define DSM_ENOTINIT  -4  /* no master / no segment (not initialised, or destroyed) */
#define DSM_ELOST     -5  /* the master went away (closed, killed, unreachable) */
#define DSM_EPROTO    -6  /* peer refused us or broke the protocol (version, ARCHI) */
#define DSM_ESYS      -7  /* a system call failed; errno tells which */
#define DSM_ENOMEM    -8  /* out of memory */
#define DSM_EBUSY     -9  /* already initialised, or the segment's address range is taken */
#define DSM_EAUTH    -10  /* authentication failed or is missing (docs/SECURITY.md) */

/*
 * Start a master whose segment is `size` bytes (rounded up to whole pages),
 * listening on TCP `port` (0 picks a free one; see dsm_master_port()).  The
 * address it listens on is $DSM_LISTEN (default 127.0.0.1) and the virtual
 * address nodes map the segment at is $DSM_BASE (default 0x200000000000).
 * The master serves nodes from a background thread as soon as this returns.
 * Returns the master's own pointer to the home copy of the segment (not at
 * DSM_BASE); this process may lock ranges of it with lock_read/lock_write and
 * is then one more participant.  NULL on error (DSM_EBUSY if this process is
 * already a master).
 */
void *init_master(size_t size, uint16_t port);

/*
 * Attach this process as a node of the master at host_master:port and return
 * the segment's address, which is the same on every node.  Calling it again
 * with another master attaches another segment.  NULL on error.
 */
void *init_slave(char *host_master, uint16_t port);

/*
 * Store in *size the size of the segment that contains `ptr`: the master's
 * own pointer (who == MASTER) or a node's segment (who == SLAVE).  *size is 0
 * when ptr is not inside such a segment.
 */
void size_dsm(size_t *size, void *ptr, uint8_t who);

/*
 * Page-range locks, shared (read) or exclusive (write).  The range
 * [adr, adr+size) is rounded out to whole pages and must lie inside one
 * segment.  Locks are granted in FIFO order per page, pages in ascending
 * order, so two range locks never deadlock each other.  Locks belong to the
 * process (node), not to a thread.  Taking a lock is an acquire; unlocking is
 * a release: every byte this process modified in the segment since its last
 * release is sent to the master.  Unlock returns as soon as the release is
 * sent; the master applies it and invalidates every other copy of those pages
 * before it grants any conflicting lock, so whoever locks next sees it.
 */
int lock_read(void *adr, size_t size);
int lock_write(void *adr, size_t size);
int unlock_read(void *adr, size_t size);
int unlock_write(void *adr, size_t size);

/*
 * Block until the master started by init_master has had at least one node and
 * all nodes have detached again, or until destroy_master() is called from
 * another thread.  Returns 0, or DSM_ENOTINIT without a master.
 */
int loop_master(void);

/*
 * Stop the master: every node gets RELEA (master shutting down) and is
 * disconnected, the segment is freed.  0 or DSM_ENOTINIT.
 */
int destroy_master(void);

/*
 * Detach from every master this process is a node of: modifications are
 * released, the master is told, the segments are unmapped.  0, DSM_ENOTINIT,
 * or DSM_ELOST if a master was already gone (the segment is unmapped anyway).
 */
int destroy_slave(void);

/* Extensions. */

/* Code (DSM_E*) of the last failure of init_master/init_slave in this thread. */
int dsm_last_error(void);

/* Static English text for a DSM_E* code. */
const char *dsm_strerror(int code);

/* TCP port the master of this process listens on (useful with port 0), or 0. */
uint16_t dsm_master_port(void);

/*
 * Use the shared secret in file `path` (NULL: none) for the next
 * init_master and init_slave calls of this process; overrides
 * $DSM_SECRET_FILE; "" or NULL means none.  The file is read when those
 * calls run (docs/SECURITY.md).  Returns 0, or DSM_EINVAL if the path is
 * longer than PATH_MAX.
 */
int dsm_set_secret_file(const char *path);

#ifdef __cplusplus
}
#endif

#endif
