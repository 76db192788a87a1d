/*
 * outside.c - mappings and objects outside the shared object keep their
 * ordinary semantics.  Each rank, BEFORE it opens the shared object:
 *   - creates a POSIX shared memory object of its own, NAME-local-RANK, with
 *     a process-shared mutex in it (so under the preload shim it must be
 *     run with DSM_SHM=NAME: the first object it opens is not the one to
 *     share);
 *   - maps a private anonymous region, a shared anonymous region, and a
 *     temporary file (MAP_SHARED);
 * then joins the others on the shared object and forks one child.  The
 * child checks it sees the parent's pre-fork writes in the private region,
 * overwrites them (the parent must not see it), writes the shared anonymous
 * region (the parent must see it), opens the local object by name and
 * counts ITERS times under its mutex while the parent does the same, and
 * increments the counter of the shared object ITERS times too.
 *
 *   outside [-s NAME] [-t SECS] [-k] ITERS
 *
 * Every rank prints, after the final barrier,
 *   "outside: result local L private ok shared ok file ok apart ok dsm D"
 * with L = 2 x ITERS and D = NODES x 2 x ITERS.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "unmod.h"

struct shared {
	uint32_t ready;
	pthread_barrier_t bar;
	pthread_mutex_t lock;
	_Alignas(4096) uint64_t counter;
};

struct local {
	pthread_mutex_t m;
	uint64_t count;
	_Alignas(4096) unsigned char pattern[4096];
};

#define SIZE 65536
#define LOCAL_SIZE 65536
#define ANON 65536
#define FILE_SIZE 8192

static struct shared *sh;
static char local_name[256];

static int overlaps(const void *a, size_t an, const void *b, size_t bn)
{
	const char *x = a, *y = b;

	return x < y + bn && y < x + an;
}

static struct local *map_local(int flags)
{
	struct local *l;
	int fd = shm_open(local_name, flags, 0600);

	if (fd < 0)
		unmod_die("shm_open(%s): %s", local_name, strerror(errno));
	if ((flags & O_CREAT) && ftruncate(fd, LOCAL_SIZE) == -1)
		unmod_die("ftruncate(%s): %s", local_name, strerror(errno));
	l = mmap(NULL, LOCAL_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (l == MAP_FAILED)
		unmod_die("mmap(%s): %s", local_name, strerror(errno));
	close(fd);
	return l;
}

static void count(struct local *l, unsigned long long iters)
{
	unsigned long long i;

	for (i = 0; i < iters; i++) {
		unmod_lock(&l->m);
		l->count++;
		unmod_unlock(&l->m);
		unmod_lock(&sh->lock);
		sh->counter++;
		unmod_unlock(&sh->lock);
	}
}

static void child(unsigned char *priv, unsigned char *anon, unsigned long long iters)
{
	struct local *l;

	alarm((unsigned)unmod_left() + 1);
	unmod.created = 0;
	if (priv[0] != 0x11 || priv[ANON - 1] != 0x11) {
		fprintf(stderr, "outside: rank %d: child: private region reads "
			"%02x, expected the parent's 11\n", unmod.rank, priv[0]);
		_exit(4);
	}
	memset(priv, 0x33, ANON);
	memset(anon, 0x44, ANON);
	l = map_local(O_RDWR);
	count(l, iters);
	munmap(l, LOCAL_SIZE);
	_exit(0);
}

int main(int argc, char **argv)
{
	int first = unmod_init("outside", argc, argv, "ITERS");
	unsigned long long iters, total;
	unsigned char *priv, *anon, *file;
	char tmpl[] = "/tmp/unmod-outside-XXXXXX", buf[6];
	struct local *l;
	int fd, st, priv_ok, anon_ok, file_ok, apart_ok = 1, pattern_ok = 1;
	double deadline;
	size_t j;
	pid_t pid, w;

	if (argc - first != 1)
		unmod_usage("expected ITERS");
	iters = unmod_number(argv[first], "ITERS", 0, 10000000);
	snprintf(local_name, sizeof(local_name), "%s-local-%d", unmod.shm,
		 unmod.rank);

	/* Everything outside the shared object first. */
	shm_unlink(local_name);
	l = map_local(O_CREAT | O_EXCL | O_RDWR);
	unmod_mutex_init(&l->m, PTHREAD_MUTEX_NORMAL);
	l->count = 0;
	memset(l->pattern, 0xab, sizeof(l->pattern));
	priv = mmap(NULL, ANON, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
		    -1, 0);
	anon = mmap(NULL, ANON, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS,
		    -1, 0);
	if (priv == MAP_FAILED || anon == MAP_FAILED)
		unmod_die("mmap(anonymous): %s", strerror(errno));
	memset(priv, 0x11, ANON);
	memset(anon, 0x22, ANON);
	fd = mkstemp(tmpl);
	if (fd < 0)
		unmod_die("mkstemp(%s): %s", tmpl, strerror(errno));
	if (ftruncate(fd, FILE_SIZE) == -1)
		unmod_die("ftruncate(%s): %s", tmpl, strerror(errno));
	file = mmap(NULL, FILE_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (file == MAP_FAILED)
		unmod_die("mmap(%s): %s", tmpl, strerror(errno));

	sh = unmod_attach(SIZE);
	unmod_start(&sh->ready, &sh->bar, &sh->lock);
	unmod_info("started: object %p, local %p, private %p, shared %p, file %p",
		   (void *)sh, (void *)l, (void *)priv, (void *)anon, (void *)file);
	if (overlaps(sh, SIZE, l, LOCAL_SIZE) || overlaps(sh, SIZE, priv, ANON) ||
	    overlaps(sh, SIZE, anon, ANON) || overlaps(sh, SIZE, file, FILE_SIZE)) {
		apart_ok = 0;
		fprintf(stderr, "outside: rank %d: a mapping overlaps the shared "
			"object\n", unmod.rank);
	}

	/* The file mapping: a write through it is what read() returns. */
	memcpy(file + 4096, "hello", 5);
	if (msync(file, FILE_SIZE, MS_SYNC) == -1)
		unmod_die("msync(%s): %s", tmpl, strerror(errno));
	file_ok = pread(fd, buf, 5, 4096) == 5 && memcmp(buf, "hello", 5) == 0;

	fflush(stdout);
	pid = fork();
	if (pid == -1)
		unmod_die("fork: %s", strerror(errno));
	if (pid == 0)
		child(priv, anon, iters);
	count(l, iters);
	deadline = unmod.start + unmod.timeout;
	while ((w = waitpid(pid, &st, WNOHANG)) == 0) {
		if (unmod_now() > deadline) {
			kill(pid, SIGKILL);
			unmod_die("the child is still running after %g s",
				  unmod.timeout);
		}
		unmod_sleep_ms(2);
	}
	if (w == -1)
		unmod_die("waitpid: %s", strerror(errno));
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
		unmod_die("the child failed (wait status %#x)", st);

	priv_ok = 1;
	anon_ok = 1;
	for (j = 0; j < ANON; j += 512) {
		priv_ok &= priv[j] == 0x11;
		anon_ok &= anon[j] == 0x44;
	}
	for (j = 0; j < sizeof(l->pattern); j++)
		pattern_ok &= l->pattern[j] == 0xab;
	unmod_lock(&l->m);
	total = l->count;
	unmod_unlock(&l->m);

	munmap(l, LOCAL_SIZE);
	if (shm_unlink(local_name) == -1)
		unmod_die("shm_unlink(%s): %s", local_name, strerror(errno));
	munmap(file, FILE_SIZE);
	close(fd);
	unlink(tmpl);
	munmap(priv, ANON);
	munmap(anon, ANON);

	unmod_barrier(&sh->bar);
	unmod_result("local %llu private %s shared %s file %s apart %s dsm %llu",
		     total, priv_ok ? "ok" : "BAD",
		     anon_ok && pattern_ok ? "ok" : "BAD", file_ok ? "ok" : "BAD",
		     apart_ok ? "ok" : "BAD", (unsigned long long)sh->counter);
	if (total != 2 * iters || !priv_ok || !anon_ok || !pattern_ok ||
	    !file_ok || !apart_ok ||
	    sh->counter != (unsigned long long)unmod.nodes * 2 * iters)
		unmod_die("a check failed (see the result line)");
	unmod_barrier(&sh->bar);
	unmod_finish(sh, SIZE);
	return 0;
}
