/*
 * shim_mem.c - the segment as a POSIX shared memory object.
 *
 * shm_open of the segment's name returns a descriptor of our own (a memfd,
 * so there is no file in /dev/shm); ftruncate, fstat, mmap and close of that
 * descriptor, shm_unlink of that name, and mmap/munmap/madvise inside the
 * segment's range are served here.  The object's existence and size are kept
 * by the master, so O_CREAT|O_EXCL and fstat agree on every node.  Every
 * other call goes to glibc untouched.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "dsm_log.h"
#include "node.h"
#include "shim.h"
#include "sync.h"

static int (*real_shm_open)(const char *, int, mode_t);
static int (*real_shm_unlink)(const char *);
static int (*real_ftruncate)(int, off_t);
static int (*real_ftruncate64)(int, off64_t);
static int (*real_fstat)(int, struct stat *);
static int (*real_fstat64)(int, struct stat64 *);
static void *(*real_mmap)(void *, size_t, int, int, int, off_t);
static void *(*real_mmap64)(void *, size_t, int, int, int, off64_t);
static int (*real_munmap)(void *, size_t);
static int (*real_madvise)(void *, size_t, int);
static int (*real_close)(int);

/* Descriptors returned by shm_open for the segment. */
#define SHIM_MAX_FDS 64
static int seg_fds[SHIM_MAX_FDS];
static int nseg_fds;
static pthread_mutex_t fds_mu = PTHREAD_MUTEX_INITIALIZER;

static int fd_is_segment(int fd)
{
	if (__builtin_expect(nseg_fds == 0, 1) || fd < 0)
		return 0;
	for (int i = 0; i < nseg_fds; i++)
		if (seg_fds[i] == fd)
			return 1;
	return 0;
}

static int fd_add(int fd)
{
	int ok = 0;

	pthread_mutex_lock(&fds_mu);
	if (nseg_fds < SHIM_MAX_FDS) {
		seg_fds[nseg_fds++] = fd;
		ok = 1;
	}
	pthread_mutex_unlock(&fds_mu);
	return ok;
}

static void fd_remove(int fd)
{
	pthread_mutex_lock(&fds_mu);
	for (int i = 0; i < nseg_fds; i++) {
		if (seg_fds[i] == fd) {
			seg_fds[i] = seg_fds[--nseg_fds];
			break;
		}
	}
	pthread_mutex_unlock(&fds_mu);
}

static inline int shim_on(void)
{
	return shim_active && !node_internal;
}

int shm_open(const char *name, int oflag, mode_t mode)
{
	uint8_t flags = 0;
	int rc, fd;

	if (!shim_on() || !shim_name_is_segment(name))
		return REAL(shm_open)(name, oflag, mode);
	shim_attach();
	if (oflag & O_CREAT)
		flags |= DSM_SHM_CREATE;
	if (oflag & O_EXCL)
		flags |= DSM_SHM_EXCL;
	rc = sync_obj(shim_seg, OP_SHM_OPEN, 0, flags, 0, NULL, 0, NULL);
	if (rc == 0 && (oflag & O_TRUNC) && (oflag & O_ACCMODE) != O_RDONLY)
		rc = sync_obj(shim_seg, OP_SHM_TRUNCATE, 0, 0, 0, NULL, 0, NULL);
	if (rc != 0) {
		errno = rc;
		return -1;
	}
	fd = memfd_create("dsm-segment", MFD_CLOEXEC);
	if (fd < 0)
		return -1;
	if (!fd_add(fd)) {
		REAL(close)(fd);
		errno = EMFILE;
		return -1;
	}
	return fd;
}

int shm_unlink(const char *name)
{
	int rc;

	if (!shim_on() || !shim_name_is_segment(name))
		return REAL(shm_unlink)(name);
	shim_attach();
	rc = sync_obj(shim_seg, OP_SHM_UNLINK, 0, 0, 0, NULL, 0, NULL);
	if (rc != 0) {
		errno = rc;
		return -1;
	}
	return 0;
}

static int seg_truncate(long long len)
{
	int rc;

	if (len < 0) {
		errno = EINVAL;
		return -1;
	}
	rc = sync_obj(shim_seg, OP_SHM_TRUNCATE, 0, 0, (uint64_t)len, NULL, 0,
		      NULL);
	if (rc == EFBIG)
		dsm_err("ftruncate of the shared memory object to %lld bytes: "
			"larger than the DSM segment (%zu bytes); start "
			"dsm-master with a larger --size", len, shim_size);
	if (rc != 0) {
		errno = rc;
		return -1;
	}
	return 0;
}

int ftruncate(int fd, off_t len)
{
	if (!shim_on() || !fd_is_segment(fd))
		return REAL(ftruncate)(fd, len);
	return seg_truncate((long long)len);
}

int ftruncate64(int fd, off64_t len)
{
	if (!shim_on() || !fd_is_segment(fd))
		return REAL(ftruncate64)(fd, len);
	return seg_truncate((long long)len);
}

/* The object's size as the master knows it (0 once unlinked). */
static off_t seg_stat_size(void)
{
	uint64_t size = 0;

	if (sync_obj(shim_seg, OP_SHM_STAT, 0, 0, 0, NULL, 0, &size) != 0)
		size = 0;
	return (off_t)size;
}

int fstat(int fd, struct stat *st)
{
	int rc = REAL(fstat)(fd, st);

	if (rc == 0 && shim_on() && fd_is_segment(fd)) {
		st->st_size = seg_stat_size();
		st->st_blocks = (st->st_size + 511) / 512;
	}
	return rc;
}

int fstat64(int fd, struct stat64 *st)
{
	int rc = REAL(fstat64)(fd, st);

	if (rc == 0 && shim_on() && fd_is_segment(fd)) {
		st->st_size = seg_stat_size();
		st->st_blocks = (st->st_size + 511) / 512;
	}
	return rc;
}

/*
 * mmap of the segment's descriptor.  MAP_SHARED gives the segment itself,
 * at its fixed address whatever the hint (pointers stored in it must be
 * valid on every node).  MAP_PRIVATE gives a private snapshot.
 */
static void *map_segment_fd(void *addr, size_t len, int prot, int flags,
			    long long off)
{
	int type = flags & MAP_TYPE;
	uint8_t *want;

	if (off < 0 || (size_t)off >= shim_size || len == 0 ||
	    len > shim_size - (size_t)off || off % (long long)getpagesize()) {
		dsm_err("mmap of the shared memory object: offset %lld + length "
			"%zu is outside the DSM segment (%zu bytes)", off, len,
			shim_size);
		errno = EINVAL;
		return MAP_FAILED;
	}
	want = (uint8_t *)shim_base + off;
	if (type != MAP_SHARED && type != MAP_SHARED_VALIDATE) {
		void *p = REAL(mmap)(addr, len, PROT_READ | PROT_WRITE,
				     (flags & ~MAP_TYPE) | MAP_PRIVATE | MAP_ANONYMOUS,
				     -1, 0);

		if (p == MAP_FAILED)
			return p;
		memcpy(p, want, len);
		if (prot != (PROT_READ | PROT_WRITE))
			mprotect(p, len, prot);
		return p;
	}
	if ((flags & (MAP_FIXED | MAP_FIXED_NOREPLACE)) && addr != want) {
		dsm_err("mmap of the shared memory object at %p: the DSM segment "
			"lives at %p on every node", addr, (void *)want);
		errno = EINVAL;
		return MAP_FAILED;
	}
	return want;
}

/*
 * An address inside the segment's range: the segment is already mapped
 * there.  A fixed mapping that would only partly cover it is refused
 * rather than allowed to destroy part of the segment.  Returns NULL when
 * the call is not ours.
 */
static void *map_in_range(void *addr, size_t len, int flags, int *handled)
{
	uintptr_t a = (uintptr_t)addr;

	*handled = 0;
	if (!addr || !shim_range_claims(addr)) {
		if (!shim_seg || !(flags & (MAP_FIXED | MAP_FIXED_NOREPLACE)) ||
		    a + len <= shim_base || a >= shim_base + shim_size)
			return NULL;
		*handled = 1;
		errno = (flags & MAP_FIXED_NOREPLACE) ? EEXIST : EINVAL;
		return MAP_FAILED;
	}
	*handled = 1;
	if (len > shim_size - (a - shim_base)) {
		errno = (flags & MAP_FIXED_NOREPLACE) ? EEXIST : EINVAL;
		return MAP_FAILED;
	}
	return addr;
}

static void *shim_mmap(void *addr, size_t len, int prot, int flags, int fd,
		       long long off, int *handled)
{
	*handled = 0;
	if (!shim_on())
		return NULL;
	if (fd >= 0 && fd_is_segment(fd)) {
		*handled = 1;
		return map_segment_fd(addr, len, prot, flags, off);
	}
	return map_in_range(addr, len, flags, handled);
}

void *mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off)
{
	int handled;
	void *p = shim_mmap(addr, len, prot, flags, fd, (long long)off, &handled);

	return handled ? p : REAL(mmap)(addr, len, prot, flags, fd, off);
}

void *mmap64(void *addr, size_t len, int prot, int flags, int fd, off64_t off)
{
	int handled;
	void *p = shim_mmap(addr, len, prot, flags, fd, (long long)off, &handled);

	return handled ? p : REAL(mmap64)(addr, len, prot, flags, fd, off);
}

/* Ranges inside the segment stay mapped (it lives until the process ends);
 * a range that cuts into it is refused. */
static int seg_overlap(void *addr, size_t len, int *inside)
{
	uintptr_t a = (uintptr_t)addr;

	*inside = 0;
	if (!shim_seg || a + len <= shim_base || a >= shim_base + shim_size)
		return 0;
	*inside = a >= shim_base && len <= shim_size - (a - shim_base);
	return 1;
}

int munmap(void *addr, size_t len)
{
	int inside;

	if (!shim_on() || !seg_overlap(addr, len, &inside))
		return REAL(munmap)(addr, len);
	if (inside)
		return 0;
	errno = EINVAL;
	return -1;
}

/* Advice on the segment is ignored: MADV_DONTNEED would drop pages behind
 * the runtime's back (shared memory keeps its contents natively). */
int madvise(void *addr, size_t len, int advice)
{
	int inside;

	if (!shim_on() || !seg_overlap(addr, len, &inside))
		return REAL(madvise)(addr, len, advice);
	return 0;
}

int close(int fd)
{
	if (shim_active && fd_is_segment(fd))
		fd_remove(fd);
	return REAL(close)(fd);
}
