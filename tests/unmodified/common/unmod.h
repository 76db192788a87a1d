/*
 * unmod.h - start-up and checking helpers shared by the programs in
 * tests/unmodified/.  Plain POSIX and libc only: these programs are written
 * for several processes on ONE machine (shm_open + mmap + process-shared
 * pthread objects) and know nothing about dsm.  Run natively they share
 * /dev/shm memory; run under libdsm_preload.so they share the DSM segment.
 *
 * Every program is one of DSM_NODES processes (default 1), number DSM_RANK
 * (default 0), and takes the common options
 *     -s NAME   POSIX shared memory object name (default /unmod-PROG-UID)
 *     -t SECS   bound of the whole run (default 60): a watchdog ends the
 *               process with a message, and every bounded wait uses it
 *     -k        keep the object: no shm_unlink at the end
 * then its own positional arguments.
 *
 * Start-up (unmod_attach + unmod_publish / unmod_wait_ready): rank 0 creates
 * the object (O_CREAT|O_EXCL), sizes it, maps it, initialises what lives in
 * it and sets a ready flag; the other ranks retry shm_open until the object
 * exists, wait until it has its size, map it and poll the flag.  Then
 * everybody meets at a barrier in the object.  Under the shim the flag
 * becomes visible after rank 0's next release (entering that barrier); the
 * barrier is the real acquire.
 *
 * Output: "PROG: result ..." lines are the deterministic results the tests
 * compare between native and DSM runs; "PROG: rank R: ..." lines are
 * information; errors go to stderr as "PROG: rank R: ..." and the process
 * exits 1 (2 for bad usage).
 */
#ifndef UNMOD_H
#define UNMOD_H

#include <pthread.h>
#include <semaphore.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#define UNMOD_MAX_NODES 64
#define UNMOD_READY 0x52454459u /* "REDY" */

struct unmod {
	const char *prog;
	const char *shm;   /* object name */
	int rank, nodes;   /* DSM_RANK, DSM_NODES */
	double timeout;    /* seconds */
	int keep;          /* -k */
	int created;       /* this process created the object: it unlinks it */
	int fd;            /* the object's descriptor while attached */
	double start;      /* unmod_now() at unmod_init */
};

extern struct unmod unmod;

/*
 * Parses the common options and DSM_RANK / DSM_NODES into `unmod`, makes
 * stdout line-buffered and arms the watchdog.  Returns the index of the
 * first positional argument.  `args` is the usage text of the positional
 * arguments.
 */
int unmod_init(const char *prog, int argc, char **argv, const char *args);

void unmod_usage(const char *fmt, ...) __attribute__((noreturn, format(printf, 1, 2)));
void unmod_die(const char *fmt, ...) __attribute__((noreturn, format(printf, 1, 2)));
void unmod_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void unmod_result(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

unsigned long long unmod_number(const char *s, const char *what,
				unsigned long long min, unsigned long long max);

/* Rank 0 creates (unmod_create), the others open (unmod_open). */
void *unmod_attach(size_t size);
void *unmod_create(size_t size);
void *unmod_open(size_t size);
/* Maps the object again at `want` (after unmapping `old`); dies if the
 * mapping lands elsewhere.  For programs that store pointers in it. */
void *unmod_remap(void *old, size_t size, void *want);
/* munmap, close, and shm_unlink when this process created it (not -k). */
void unmod_finish(void *base, size_t size);

void unmod_publish(uint32_t *flag);
void unmod_wait_ready(const uint32_t *flag);
/* The common start: rank 0 makes `bar` a barrier of every process and `lock`
 * a normal mutex, then publishes `ready`; the others wait for it; everyone
 * then passes the barrier. */
void unmod_start(uint32_t *ready, pthread_barrier_t *bar,
		 pthread_mutex_t *lock);

/* Initialisers with PTHREAD_PROCESS_SHARED; they die on error. */
void unmod_mutex_init(pthread_mutex_t *m, int type);
void unmod_cond_init(pthread_cond_t *c);
void unmod_barrier_init(pthread_barrier_t *b, unsigned count);
void unmod_rwlock_init(pthread_rwlock_t *rw);
void unmod_sem_init(sem_t *s, unsigned value);

/* Checked wrappers: they die with the call and the reason on error. */
void unmod_lock(pthread_mutex_t *m);
void unmod_unlock(pthread_mutex_t *m);
int unmod_barrier(pthread_barrier_t *b); /* 1 for the serial thread */

double unmod_now(void);                 /* CLOCK_MONOTONIC seconds */
struct timespec unmod_deadline(double secs); /* CLOCK_REALTIME now + secs */
double unmod_left(void);                /* seconds left of -t */
void unmod_sleep_ms(long ms);

uint64_t unmod_rand(uint64_t *state);   /* xorshift64*, state != 0 */
uint64_t unmod_fnv(uint64_t h, const void *p, size_t n);
#define UNMOD_FNV_INIT 0xcbf29ce484222325ull

const char *unmod_errname(int err);     /* "ETIMEDOUT", ... or "E?" */

#endif
