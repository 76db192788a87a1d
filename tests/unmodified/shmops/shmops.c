/*
 * shmops.c - the POSIX shared memory calls themselves, as several processes
 * on one machine see them.
 *
 *   shmops [-s NAME] [-t SECS] [-k]            the checks below
 *   shmops [-s NAME] [-t SECS] truncate BYTES  one process: create, ftruncate
 *                                              to BYTES, then to 64 KiB
 *
 * Checks (every rank):
 *   - all ranks race shm_open(O_CREAT|O_EXCL): exactly one wins, the
 *     others get EEXIST and open it normally; the winner sizes and
 *     initialises it;
 *   - fstat gives the size the winner set, on a second descriptor too; a
 *     second O_CREAT|O_EXCL gets EEXIST;
 *   - munmap then mmap with the old address as hint gives the same address
 *     and the same contents;
 *   - after the winner's shm_unlink, shm_open gets ENOENT, a second unlink
 *     ENOENT, and the existing mappings still work (ranks exchange values
 *     through them, with barriers in them);
 *   - munmap and close succeed.
 * Every failed check prints "shmops: rank R: FAIL WHAT: ..." on stderr.
 * Every rank prints "shmops: result winners 1 failed 0".
 *
 * truncate prints "shmops: result ftruncate BYTES: ERR" (0 or the errno
 * name, e.g. EFBIG when BYTES exceeds what the system can hold) and
 * "shmops: result ftruncate 65536 then: 0"; exit 0 if the second one worked.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "unmod.h"

#define MAGIC 0x73686d6f70734f4bull /* "shmopsOK" */

struct shared {
	uint32_t ready;
	uint64_t magic;
	pthread_barrier_t bar;
	pthread_mutex_t lock;
	uint32_t winners;
	_Alignas(4096) uint32_t slot[UNMOD_MAX_NODES];
	_Alignas(4096) uint32_t slot2[UNMOD_MAX_NODES];
};

#define SIZE 65536

static unsigned failures;

static void fail(const char *what, long long got, long long want)
{
	failures++;
	fprintf(stderr, "shmops: rank %d: FAIL %s: got %lld (%#llx), expected "
		"%lld (%#llx)\n", unmod.rank, what, got, (unsigned long long)got,
		want, (unsigned long long)want);
}

static void expect_err(const char *what, int rc, int want)
{
	int got = rc == -1 ? errno : 0;

	if (got != want) {
		failures++;
		fprintf(stderr, "shmops: rank %d: FAIL %s: got %s (%s), expected "
			"%s\n", unmod.rank, what, unmod_errname(got),
			got ? strerror(got) : "success", unmod_errname(want));
	}
}

static void expect_size(const char *what, int fd)
{
	struct stat st;

	if (fstat(fd, &st) == -1)
		fail("fstat: errno", errno, 0);
	else if (st.st_size != SIZE)
		fail(what, (long long)st.st_size, SIZE);
}

static int truncate_mode(unsigned long long bytes)
{
	int fd, rc, err;
	void *p;

	fd = shm_open(unmod.shm, O_CREAT | O_EXCL | O_RDWR, 0600);
	if (fd < 0)
		unmod_die("shm_open(%s, O_CREAT|O_EXCL|O_RDWR): %s", unmod.shm,
			  strerror(errno));
	unmod.created = 1;
	rc = ftruncate(fd, (off_t)bytes);
	err = rc == -1 ? errno : 0;
	if (rc == -1)
		fprintf(stderr, "shmops: ftruncate(%s, %llu): %s\n", unmod.shm,
			bytes, strerror(err));
	unmod_result("ftruncate %llu: %s", bytes, unmod_errname(err));
	rc = ftruncate(fd, SIZE);
	err = rc == -1 ? errno : 0;
	unmod_result("ftruncate %d then: %s", SIZE, unmod_errname(err));
	if (rc == -1)
		unmod_die("ftruncate(%s, %d): %s", unmod.shm, SIZE, strerror(err));
	p = mmap(NULL, SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED)
		unmod_die("mmap(%s, %d): %s", unmod.shm, SIZE, strerror(errno));
	memset(p, 1, SIZE);
	unmod_finish(p, SIZE);
	return 0;
}

int main(int argc, char **argv)
{
	int first = unmod_init("shmops", argc, argv, "[truncate BYTES]");
	struct shared *sh;
	void *old;
	int fd, fd2, winner = 0, r;

	if (argc - first == 2 && strcmp(argv[first], "truncate") == 0) {
		if (unmod.nodes != 1)
			unmod_usage("truncate: run it as one process");
		return truncate_mode(unmod_number(argv[first + 1], "BYTES", 1,
						  1ULL << 50));
	}
	if (argc - first != 0)
		unmod_usage("expected no argument, or truncate BYTES");
	_Static_assert(sizeof(struct shared) <= SIZE, "struct shared too big");

	fd = shm_open(unmod.shm, O_CREAT | O_EXCL | O_RDWR, 0600);
	if (fd >= 0) {
		winner = 1;
		unmod.created = 1;
		unmod.fd = fd;
		if (ftruncate(fd, SIZE) == -1)
			unmod_die("ftruncate(%s, %d): %s", unmod.shm, SIZE,
				  strerror(errno));
		sh = mmap(NULL, SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
		if (sh == MAP_FAILED)
			unmod_die("mmap(%s): %s", unmod.shm, strerror(errno));
		sh->magic = MAGIC;
		unmod_barrier_init(&sh->bar, (unsigned)unmod.nodes);
		unmod_mutex_init(&sh->lock, PTHREAD_MUTEX_NORMAL);
		unmod_publish(&sh->ready);
	} else {
		if (errno != EEXIST)
			unmod_die("shm_open(%s, O_CREAT|O_EXCL|O_RDWR): %s, "
				  "expected success or EEXIST", unmod.shm,
				  strerror(errno));
		sh = unmod_open(SIZE);
		fd = unmod.fd;
		unmod_wait_ready(&sh->ready);
	}
	unmod_barrier(&sh->bar);
	unmod_info("started: %s, object at %p", winner ? "created it" : "opened it",
		   (void *)sh);
	if (winner) {
		unmod_lock(&sh->lock);
		sh->winners++;
		unmod_unlock(&sh->lock);
	}

	expect_size("fstat after start-up", fd);
	expect_err("a second O_CREAT|O_EXCL", shm_open(unmod.shm,
		   O_CREAT | O_EXCL | O_RDWR, 0600), EEXIST);
	fd2 = shm_open(unmod.shm, O_RDWR, 0);
	expect_err("shm_open(O_RDWR) again", fd2 < 0 ? -1 : 0, 0);
	if (fd2 >= 0) {
		expect_size("fstat of the second descriptor", fd2);
		expect_err("close(second descriptor)", close(fd2), 0);
	}
	if (sh->magic != MAGIC)
		fail("magic", (long long)sh->magic, (long long)MAGIC);

	old = sh;
	expect_err("munmap", munmap(sh, SIZE), 0);
	sh = mmap(old, SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (sh == MAP_FAILED)
		unmod_die("mmap(%p, %s) again: %s", old, unmod.shm, strerror(errno));
	if ((void *)sh != old)
		fail("mmap again with the old address as hint: address",
		     (long long)(uintptr_t)sh, (long long)(uintptr_t)old);
	if (sh->magic != MAGIC)
		fail("magic after mapping again", (long long)sh->magic,
		     (long long)MAGIC);
	sh->slot[unmod.rank] = (uint32_t)unmod.rank + 100;
	unmod_barrier(&sh->bar);
	for (r = 0; r < unmod.nodes; r++)
		if (sh->slot[r] != (uint32_t)r + 100)
			fail("slot", sh->slot[r], r + 100);

	if (winner) {
		expect_err("shm_unlink", shm_unlink(unmod.shm), 0);
		unmod.created = 0;
	}
	unmod_barrier(&sh->bar);
	expect_err("shm_open after shm_unlink", shm_open(unmod.shm, O_RDWR, 0),
		   ENOENT);
	sh->slot2[unmod.rank] = (uint32_t)unmod.rank + 200;
	unmod_barrier(&sh->bar);
	for (r = 0; r < unmod.nodes; r++)
		if (sh->slot2[r] != (uint32_t)r + 200)
			fail("slot after unlink", sh->slot2[r], r + 200);
	if (winner)
		expect_err("a second shm_unlink", shm_unlink(unmod.shm), ENOENT);

	unmod_result("winners %u failed %u", sh->winners, failures);
	r = sh->winners == 1 && failures == 0;
	unmod_barrier(&sh->bar);
	expect_err("munmap at the end", munmap(sh, SIZE), 0);
	expect_err("close at the end", close(fd), 0);
	unmod.fd = -1;
	if (!r || failures)
		unmod_die("%u checks failed", failures);
	return 0;
}
