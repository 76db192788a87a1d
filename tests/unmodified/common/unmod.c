/*
 * unmod.c - see unmod.h.  POSIX and libc only.
 */
#include "unmod.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

struct unmod unmod = { .prog = "unmod", .nodes = 1, .timeout = 60, .fd = -1 };

static char usage_args[256];
static char default_name[64];
static char watchdog_msg[160];
static size_t watchdog_len;
static char dev_shm_path[256];

/* The watchdog: one line with write(2), the object's /dev/shm file removed
 * with unlink(2) if this process created it (a native run must not leave
 * it behind; both calls are async-signal-safe), then the default action of
 * SIGALRM ends the process. */
static void on_alarm(int sig)
{
	ssize_t rc = write(2, watchdog_msg, watchdog_len);

	(void)rc;
	if (unmod.created && !unmod.keep)
		unlink(dev_shm_path);
	signal(sig, SIG_DFL);
	raise(sig);
}

static void prefix(FILE *f)
{
	if (unmod.nodes > 1 || unmod.rank > 0)
		fprintf(f, "%s: rank %d: ", unmod.prog, unmod.rank);
	else
		fprintf(f, "%s: ", unmod.prog);
}

void unmod_usage(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s: ", unmod.prog);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\nusage: %s [-s NAME] [-t SECS] [-k] %s\n", unmod.prog,
		usage_args);
	exit(2);
}

void unmod_die(const char *fmt, ...)
{
	va_list ap;
	int saved = errno;

	fflush(stdout);
	prefix(stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	/* A native run must not leave the object behind. */
	if (unmod.created && !unmod.keep)
		shm_unlink(unmod.shm);
	errno = saved;
	exit(1);
}

void unmod_info(const char *fmt, ...)
{
	va_list ap;

	fprintf(stdout, "%s: rank %d: ", unmod.prog, unmod.rank);
	va_start(ap, fmt);
	vfprintf(stdout, fmt, ap);
	va_end(ap);
	fputc('\n', stdout);
	fflush(stdout);
}

void unmod_result(const char *fmt, ...)
{
	va_list ap;

	fprintf(stdout, "%s: result ", unmod.prog);
	va_start(ap, fmt);
	vfprintf(stdout, fmt, ap);
	va_end(ap);
	fputc('\n', stdout);
	fflush(stdout);
}

unsigned long long unmod_number(const char *s, const char *what,
				unsigned long long min, unsigned long long max)
{
	char *end;
	unsigned long long v;

	errno = 0;
	v = strtoull(s, &end, 0);
	if (errno || end == s || *end || s[0] == '-' || v < min || v > max)
		unmod_usage("%s: expected a number from %llu to %llu, not '%s'",
			    what, min, max, s);
	return v;
}

static int env_int(const char *name, int def, int min, int max)
{
	const char *s = getenv(name);
	char *end;
	long v;

	if (!s || !*s)
		return def;
	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || *end || v < min || v > max)
		unmod_usage("%s='%s': expected a number from %d to %d", name, s,
			    min, max);
	return (int)v;
}

int unmod_init(const char *prog, int argc, char **argv, const char *args)
{
	int opt;
	char *end;
	struct sigaction sa;

	unmod.prog = prog;
	unmod.start = unmod_now();
	snprintf(usage_args, sizeof(usage_args), "%s", args);
	snprintf(default_name, sizeof(default_name), "/unmod-%s-%u", prog,
		 (unsigned)getuid());
	unmod.shm = default_name;
	setvbuf(stdout, NULL, _IOLBF, 0);

	while ((opt = getopt(argc, argv, "+s:t:kh")) != -1) {
		switch (opt) {
		case 's':
			if (optarg[0] != '/' || strlen(optarg) > 200 ||
			    strchr(optarg + 1, '/'))
				unmod_usage("-s '%s': expected /NAME (one slash, "
					    "at the start)", optarg);
			unmod.shm = optarg;
			break;
		case 't':
			errno = 0;
			unmod.timeout = strtod(optarg, &end);
			if (errno || *end || !(unmod.timeout > 0) ||
			    unmod.timeout > 86400)
				unmod_usage("-t '%s': expected seconds (0 < T <= "
					    "86400)", optarg);
			break;
		case 'k':
			unmod.keep = 1;
			break;
		case 'h':
			printf("usage: %s [-s NAME] [-t SECS] [-k] %s\n"
			       "See tests/unmodified/README.txt.\n", prog, args);
			exit(0);
		default:
			unmod_usage("bad option");
		}
	}
	unmod.nodes = env_int("DSM_NODES", 1, 1, UNMOD_MAX_NODES);
	unmod.rank = env_int("DSM_RANK", 0, 0, UNMOD_MAX_NODES - 1);
	if (unmod.rank >= unmod.nodes)
		unmod_usage("DSM_RANK=%d: expected less than DSM_NODES=%d",
			    unmod.rank, unmod.nodes);

	snprintf(dev_shm_path, sizeof(dev_shm_path), "/dev/shm%s", unmod.shm);
	watchdog_len = (size_t)snprintf(watchdog_msg, sizeof(watchdog_msg),
		"%s: rank %d: watchdog: still running after %g s; giving up\n",
		prog, unmod.rank, unmod.timeout);
	if (watchdog_len >= sizeof(watchdog_msg))
		watchdog_len = sizeof(watchdog_msg) - 1;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_alarm;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGALRM, &sa, NULL);
	alarm((unsigned)unmod.timeout + 1);
	return optind;
}

double unmod_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

double unmod_left(void)
{
	double left = unmod.timeout - (unmod_now() - unmod.start);

	return left > 0 ? left : 0;
}

struct timespec unmod_deadline(double secs)
{
	struct timespec ts;
	long long ns;

	clock_gettime(CLOCK_REALTIME, &ts);
	ns = (long long)(secs * 1e9);
	ts.tv_sec += (time_t)(ns / 1000000000LL);
	ts.tv_nsec += (long)(ns % 1000000000LL);
	if (ts.tv_nsec >= 1000000000L) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000L;
	}
	return ts;
}

void unmod_sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
		;
}

void *unmod_create(size_t size)
{
	struct stat st;
	void *p;
	int fd;

	fd = shm_open(unmod.shm, O_CREAT | O_EXCL | O_RDWR, 0600);
	if (fd < 0) {
		int err = errno;

		unmod_die("shm_open(%s, O_CREAT|O_EXCL|O_RDWR): %s%s", unmod.shm,
			  strerror(err), err == EEXIST ?
			  " (left over from an earlier run? remove it from /dev/shm)" : "");
	}
	unmod.created = 1;
	unmod.fd = fd;
	if (ftruncate(fd, (off_t)size) == -1)
		unmod_die("ftruncate(%s, %zu): %s", unmod.shm, size, strerror(errno));
	if (fstat(fd, &st) == -1)
		unmod_die("fstat(%s): %s", unmod.shm, strerror(errno));
	if ((size_t)st.st_size != size)
		unmod_die("fstat(%s): size %lld after ftruncate to %zu", unmod.shm,
			  (long long)st.st_size, size);
	p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED)
		unmod_die("mmap(%s, %zu): %s", unmod.shm, size, strerror(errno));
	return p;
}

void *unmod_open(size_t size)
{
	double deadline = unmod.start + unmod.timeout;
	struct stat st;
	void *p;
	int fd;

	for (;;) {
		fd = shm_open(unmod.shm, O_RDWR, 0);
		if (fd >= 0)
			break;
		if (errno != ENOENT)
			unmod_die("shm_open(%s, O_RDWR): %s", unmod.shm,
				  strerror(errno));
		if (unmod_now() > deadline)
			unmod_die("shm_open(%s): still no such object after %g s "
				  "(rank 0 did not create it)", unmod.shm,
				  unmod.timeout);
		unmod_sleep_ms(2);
	}
	unmod.fd = fd;
	/* The creator may not have sized it yet. */
	for (;;) {
		if (fstat(fd, &st) == -1)
			unmod_die("fstat(%s): %s", unmod.shm, strerror(errno));
		if ((size_t)st.st_size >= size)
			break;
		if (unmod_now() > deadline)
			unmod_die("fstat(%s): size %lld after %g s, expected %zu",
				  unmod.shm, (long long)st.st_size, unmod.timeout,
				  size);
		unmod_sleep_ms(2);
	}
	if ((size_t)st.st_size != size)
		unmod_die("fstat(%s): size %lld, expected %zu", unmod.shm,
			  (long long)st.st_size, size);
	p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED)
		unmod_die("mmap(%s, %zu): %s", unmod.shm, size, strerror(errno));
	return p;
}

void *unmod_attach(size_t size)
{
	return unmod.rank == 0 ? unmod_create(size) : unmod_open(size);
}

void *unmod_remap(void *old, size_t size, void *want)
{
	void *p;

	if (old == want)
		return old;
	if (munmap(old, size) == -1)
		unmod_die("munmap(%p, %zu): %s", old, size, strerror(errno));
	p = mmap(want, size, PROT_READ | PROT_WRITE, MAP_SHARED, unmod.fd, 0);
	if (p == MAP_FAILED)
		unmod_die("mmap(%p, %zu): %s", want, size, strerror(errno));
	if (p != want)
		unmod_die("mmap at %p landed at %p: this program stores pointers "
			  "in shared memory and needs the same address in every "
			  "process", want, p);
	return p;
}

void unmod_finish(void *base, size_t size)
{
	if (munmap(base, size) == -1)
		unmod_die("munmap(%p, %zu): %s", base, size, strerror(errno));
	if (unmod.fd >= 0 && close(unmod.fd) == -1)
		unmod_die("close(%s): %s", unmod.shm, strerror(errno));
	unmod.fd = -1;
	if (unmod.created && !unmod.keep) {
		unmod.created = 0;
		if (shm_unlink(unmod.shm) == -1)
			unmod_die("shm_unlink(%s): %s", unmod.shm, strerror(errno));
	}
}

void unmod_publish(uint32_t *flag)
{
	__atomic_store_n(flag, UNMOD_READY, __ATOMIC_RELEASE);
}

void unmod_wait_ready(const uint32_t *flag)
{
	double deadline = unmod.start + unmod.timeout;

	while (__atomic_load_n(flag, __ATOMIC_ACQUIRE) != UNMOD_READY) {
		if (unmod_now() > deadline)
			unmod_die("rank 0 did not set the ready flag within %g s",
				  unmod.timeout);
		unmod_sleep_ms(1);
	}
}

void unmod_start(uint32_t *ready, pthread_barrier_t *bar,
		 pthread_mutex_t *lock)
{
	if (unmod.rank == 0) {
		unmod_barrier_init(bar, (unsigned)unmod.nodes);
		unmod_mutex_init(lock, PTHREAD_MUTEX_NORMAL);
		unmod_publish(ready);
	} else {
		unmod_wait_ready(ready);
	}
	unmod_barrier(bar);
}

#define CHECK(call, what)                                                      \
	do {                                                                   \
		int rc_ = (call);                                              \
		if (rc_)                                                       \
			unmod_die("%s: %s", what, strerror(rc_));              \
	} while (0)

void unmod_mutex_init(pthread_mutex_t *m, int type)
{
	pthread_mutexattr_t a;

	CHECK(pthread_mutexattr_init(&a), "pthread_mutexattr_init");
	CHECK(pthread_mutexattr_setpshared(&a, PTHREAD_PROCESS_SHARED),
	      "pthread_mutexattr_setpshared");
	CHECK(pthread_mutexattr_settype(&a, type), "pthread_mutexattr_settype");
	CHECK(pthread_mutex_init(m, &a), "pthread_mutex_init");
	pthread_mutexattr_destroy(&a);
}

void unmod_cond_init(pthread_cond_t *c)
{
	pthread_condattr_t a;

	CHECK(pthread_condattr_init(&a), "pthread_condattr_init");
	CHECK(pthread_condattr_setpshared(&a, PTHREAD_PROCESS_SHARED),
	      "pthread_condattr_setpshared");
	CHECK(pthread_cond_init(c, &a), "pthread_cond_init");
	pthread_condattr_destroy(&a);
}

void unmod_barrier_init(pthread_barrier_t *b, unsigned count)
{
	pthread_barrierattr_t a;

	CHECK(pthread_barrierattr_init(&a), "pthread_barrierattr_init");
	CHECK(pthread_barrierattr_setpshared(&a, PTHREAD_PROCESS_SHARED),
	      "pthread_barrierattr_setpshared");
	CHECK(pthread_barrier_init(b, &a, count), "pthread_barrier_init");
	pthread_barrierattr_destroy(&a);
}

void unmod_rwlock_init(pthread_rwlock_t *rw)
{
	pthread_rwlockattr_t a;

	CHECK(pthread_rwlockattr_init(&a), "pthread_rwlockattr_init");
	CHECK(pthread_rwlockattr_setpshared(&a, PTHREAD_PROCESS_SHARED),
	      "pthread_rwlockattr_setpshared");
	CHECK(pthread_rwlock_init(rw, &a), "pthread_rwlock_init");
	pthread_rwlockattr_destroy(&a);
}

void unmod_sem_init(sem_t *s, unsigned value)
{
	if (sem_init(s, 1, value) == -1)
		unmod_die("sem_init(pshared=1, %u): %s", value, strerror(errno));
}

void unmod_lock(pthread_mutex_t *m)
{
	CHECK(pthread_mutex_lock(m), "pthread_mutex_lock");
}

void unmod_unlock(pthread_mutex_t *m)
{
	CHECK(pthread_mutex_unlock(m), "pthread_mutex_unlock");
}

int unmod_barrier(pthread_barrier_t *b)
{
	int rc = pthread_barrier_wait(b);

	if (rc == PTHREAD_BARRIER_SERIAL_THREAD)
		return 1;
	if (rc)
		unmod_die("pthread_barrier_wait: %s", strerror(rc));
	return 0;
}

uint64_t unmod_rand(uint64_t *state)
{
	uint64_t x = *state;

	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	*state = x;
	return x * 0x2545F4914F6CDD1Dull;
}

uint64_t unmod_fnv(uint64_t h, const void *p, size_t n)
{
	const unsigned char *b = p;

	while (n--) {
		h ^= *b++;
		h *= 0x100000001b3ull;
	}
	return h;
}

const char *unmod_errname(int err)
{
	switch (err) {
	case 0: return "0";
	case EAGAIN: return "EAGAIN";
	case EBUSY: return "EBUSY";
	case EDEADLK: return "EDEADLK";
	case EEXIST: return "EEXIST";
	case EFBIG: return "EFBIG";
	case EINTR: return "EINTR";
	case EINVAL: return "EINVAL";
	case ENOENT: return "ENOENT";
	case ENOMEM: return "ENOMEM";
	case ENOSPC: return "ENOSPC";
	case EPERM: return "EPERM";
	case ETIMEDOUT: return "ETIMEDOUT";
	default: return "E?";
	}
}
