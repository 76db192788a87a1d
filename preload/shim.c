/*
 * shim.c - activation of libdsm_preload.so, the lazy attach, and the points
 * of a process's life the runtime must see: exec (release first) and _exit
 * (release and detach; exit() is covered by the library's destructor).
 *
 * Inert unless DSM_MASTER=host:port is set.  The segment is attached on
 * first use, not at start-up, so that the helper processes of a program
 * (a shell from system(), a pager) that never touch the shared object do
 * not become nodes.
 */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "api.h"
#include "dsm.h"
#include "dsm_log.h"
#include "dsm_wire.h"
#include "node.h"
#include "shim.h"

int shim_active;
struct segment *shim_seg;
uintptr_t shim_base;
size_t shim_size;

static char master_host[256];
static uint16_t master_port;
static uintptr_t expected_base = DSM_DEFAULT_BASE;
static char shm_name[256];	/* without leading '/'; "" = first one wins */
static pthread_mutex_t attach_mu = PTHREAD_MUTEX_INITIALIZER;

/* How far above the expected base an mmap hint makes us attach to look. */
#define SHIM_CLAIM_WINDOW (1ull << 40)

void *shim_real(const char *name, const char *version)
{
	void *f = version ? dlvsym(RTLD_NEXT, name, version) : NULL;

	if (!f)
		f = dlsym(RTLD_NEXT, name);
	if (!f) {
		dsm_err("libdsm_preload: %s not found in the C library", name);
		node_exit_now(127);
	}
	return f;
}

/* Parse "host:port" or "[v6addr]:port" from DSM_MASTER; 0 or -1. */
static int parse_master(const char *spec)
{
	const char *colon = strrchr(spec, ':');
	char *end;
	unsigned long port;
	size_t hlen;

	if (!colon || colon == spec)
		return -1;
	port = strtoul(colon + 1, &end, 10);
	if (*end || port == 0 || port > 65535)
		return -1;
	hlen = (size_t)(colon - spec);
	if (spec[0] == '[' && hlen >= 2 && spec[hlen - 1] == ']') {
		spec++;
		hlen -= 2;
	}
	if (hlen == 0 || hlen >= sizeof(master_host))
		return -1;
	memcpy(master_host, spec, hlen);
	master_host[hlen] = '\0';
	master_port = (uint16_t)port;
	return 0;
}

__attribute__((constructor)) static void shim_init(void)
{
	const char *m = getenv("DSM_MASTER");
	const char *shm = getenv("DSM_SHM");
	const char *base = getenv("DSM_BASE");

	if (!m || !*m)
		return;
	api_init_once();
	if (parse_master(m) < 0) {
		dsm_err("DSM_MASTER='%s' is not host:port", m);
		exit(2);
	}
	if (shm && *shm) {
		while (*shm == '/')
			shm++;
		snprintf(shm_name, sizeof(shm_name), "%s", shm);
	}
	if (base && *base)
		expected_base = (uintptr_t)strtoull(base, NULL, 0);
	node_exit_on_lost = 1;
	shim_active = 1;
}

void shim_attach(void)
{
	struct segment *s;
	int err;

	pthread_mutex_lock(&attach_mu);
	if (shim_seg) {
		pthread_mutex_unlock(&attach_mu);
		return;
	}
	node_internal++;
	s = api_attach(master_host, master_port, &err);
	node_internal--;
	if (!s)
		exit(1);	/* the runtime said why, in one line */
	shim_base = (uintptr_t)s->base;
	shim_size = s->size;
	shim_seg = s;
	pthread_mutex_unlock(&attach_mu);
}

int shim_range_claims(const void *addr)
{
	uintptr_t a = (uintptr_t)addr;

	if (!shim_seg) {
		if (a < expected_base || a - expected_base >= SHIM_CLAIM_WINDOW)
			return 0;
		shim_attach();
	}
	return a - shim_base < shim_size;
}

int shim_name_is_segment(const char *name)
{
	int match;

	if (!name)
		return 0;
	while (*name == '/')
		name++;
	pthread_mutex_lock(&attach_mu);
	if (!shm_name[0])
		snprintf(shm_name, sizeof(shm_name), "%s", name);
	match = strcmp(shm_name, name) == 0;
	pthread_mutex_unlock(&attach_mu);
	return match;
}

/*
 * exec replaces the address space: leave the master cleanly first (every
 * modification released), and come back if exec fails.  The new image
 * attaches again if it uses the segment and DSM_MASTER is still set.
 */
static int before_exec(void)
{
	if (!shim_active || !shim_seg || node_internal)
		return 0;
	node_internal++;
	api_before_exec();
	node_internal--;
	return 1;
}

/* exec returned: it failed.  Keep its errno across the re-attach. */
static int exec_failed(int detached, int rc)
{
	int e = errno;

	if (detached) {
		node_internal++;
		api_exec_failed();
		node_internal--;
	}
	errno = e;
	return rc;
}

static int (*real_execve)(const char *, char *const[], char *const[]);
static int (*real_execv)(const char *, char *const[]);
static int (*real_execvp)(const char *, char *const[]);
static int (*real_execvpe)(const char *, char *const[], char *const[]);
static int (*real_fexecve)(int, char *const[], char *const[]);
static void (*real__exit)(int);
static void (*real__Exit)(int);

int execve(const char *path, char *const argv[], char *const envp[])
{
	int d = before_exec();

	return exec_failed(d, REAL(execve)(path, argv, envp));
}

int execv(const char *path, char *const argv[])
{
	int d = before_exec();

	return exec_failed(d, REAL(execv)(path, argv));
}

int execvp(const char *file, char *const argv[])
{
	int d = before_exec();

	return exec_failed(d, REAL(execvp)(file, argv));
}

int execvpe(const char *file, char *const argv[], char *const envp[])
{
	int d = before_exec();

	return exec_failed(d, REAL(execvpe)(file, argv, envp));
}

int fexecve(int fd, char *const argv[], char *const envp[])
{
	int d = before_exec();

	return exec_failed(d, REAL(fexecve)(fd, argv, envp));
}

/* The variadic exec functions call glibc's internal execve, which we cannot
 * see: collect their arguments and go through the ones above. */
#define EXEC_MAX_ARGS 4096

static int collect_args(const char *arg0, va_list ap, char **argv,
			char ***envp)
{
	int n = 0;

	argv[n++] = (char *)arg0;
	while (arg0 && (argv[n] = va_arg(ap, char *)) != NULL) {
		if (++n == EXEC_MAX_ARGS) {
			errno = E2BIG;
			return -1;
		}
	}
	if (envp)
		*envp = va_arg(ap, char **);
	return 0;
}

int execl(const char *path, const char *arg, ...)
{
	char *argv[EXEC_MAX_ARGS];
	va_list ap;
	int rc;

	va_start(ap, arg);
	rc = collect_args(arg, ap, argv, NULL);
	va_end(ap);
	return rc < 0 ? -1 : execv(path, argv);
}

int execlp(const char *file, const char *arg, ...)
{
	char *argv[EXEC_MAX_ARGS];
	va_list ap;
	int rc;

	va_start(ap, arg);
	rc = collect_args(arg, ap, argv, NULL);
	va_end(ap);
	return rc < 0 ? -1 : execvp(file, argv);
}

int execle(const char *path, const char *arg, ...)
{
	char *argv[EXEC_MAX_ARGS], **envp = NULL;
	va_list ap;
	int rc;

	va_start(ap, arg);
	rc = collect_args(arg, ap, argv, &envp);
	va_end(ap);
	return rc < 0 ? -1 : execve(path, argv, envp);
}

/* _exit skips atexit and destructors: release and detach here, or a worker
 * that ends with _exit would lose what it wrote since its last release. */
static void before_quick_exit(void)
{
	if (shim_active && shim_seg && !node_internal) {
		node_internal++;
		api_detach_all_at_exit();
	}
}

void _exit(int status)
{
	before_quick_exit();
	REAL(_exit)(status);
	node_exit_now(status);
}

void _Exit(int status)
{
	before_quick_exit();
	REAL(_Exit)(status);
	node_exit_now(status);
}
