/*
 * storefile.c - the home copy kept in a file (dsm-master --store FILE), so
 * that a restarted master serves every byte released before it stopped
 * (docs/DURABILITY.md says what is guaranteed for each --sync policy).
 *
 * The file is a header of MFILE_HDR bytes, then the segment's bytes, which
 * are mapped MAP_SHARED as the home copy: the master writes releases into
 * the page cache like into anonymous memory, and the kernel (or msync, per
 * the sync policy) writes them to the file.  The header is big-endian:
 *
 *   offset  bytes  field
 *        0      8  magic "DSMSTORE"
 *        8      4  format version (MFILE_VERSION)
 *       12      4  header bytes (MFILE_HDR): where the segment starts
 *       16      8  segment bytes
 *       24      4  page size of the master that wrote it (information)
 *       28      4  flags: MFILE_F_OPEN while a master serves the file
 *
 * MFILE_HDR is 64 KiB, a multiple of every page size Linux uses, so the
 * segment is page-aligned in the file on any machine.  The base address is
 * not stored: nodes get it from the master at join.  An flock(LOCK_EX) held
 * as long as the file is open keeps a second master away.
 */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "dsm_log.h"
#include "master_int.h"

#define MFILE_HDR ((size_t)65536)
#define MFILE_VERSION 1u
#define MFILE_F_OPEN 1u
#define MFILE_HDR_USED 32
/* Release-time sync policy "interval": at most this often. */
#define MFILE_INTERVAL_MS 1000
/* A failing msync is logged at most this often. */
#define MFILE_ERR_LOG_MS 10000

static const char mfile_magic[8] = { 'D', 'S', 'M', 'S', 'T', 'O', 'R', 'E' };

static void put32(uint8_t *p, uint32_t v)
{
	for (int i = 3; i >= 0; i--, v >>= 8)
		p[i] = (uint8_t)v;
}

static void put64(uint8_t *p, uint64_t v)
{
	for (int i = 7; i >= 0; i--, v >>= 8)
		p[i] = (uint8_t)v;
}

static uint32_t get32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	       (uint32_t)p[2] << 8 | p[3];
}

static uint64_t get64(const uint8_t *p)
{
	return (uint64_t)get32(p) << 32 | get32(p + 4);
}

/* Write the header (flags as given) and make it durable. */
static int hdr_write(struct master *m, uint32_t flags)
{
	uint8_t h[MFILE_HDR_USED];
	ssize_t n;

	memset(h, 0, sizeof(h));
	memcpy(h, mfile_magic, sizeof(mfile_magic));
	put32(h + 8, MFILE_VERSION);
	put32(h + 12, (uint32_t)MFILE_HDR);
	put64(h + 16, (uint64_t)m->size);
	put32(h + 24, (uint32_t)m->page_size);
	put32(h + 28, flags);
	do
		n = pwrite(m->file.fd, h, sizeof(h), 0);
	while (n < 0 && errno == EINTR);
	if (n != (ssize_t)sizeof(h)) {
		if (n >= 0)
			errno = EIO;
		dsm_err("pwrite(header of store %s): %s", m->file.path,
			strerror(errno));
		return -1;
	}
	if (fdatasync(m->file.fd) < 0) {
		dsm_err("fdatasync(store %s): %s", m->file.path,
			strerror(errno));
		return -1;
	}
	return 0;
}

/*
 * Check the header of an existing, non-empty store file of st_size bytes
 * against this master's segment; *flags gets the header's flags.  -1 with
 * errno EINVAL (or the read's) and one error line saying what is wrong and
 * what to do.
 */
static int hdr_check(struct master *m, off_t st_size, uint32_t *flags)
{
	uint8_t h[MFILE_HDR_USED];
	const char *path = m->file.path;
	uint64_t seg;
	ssize_t n;

	do
		n = pread(m->file.fd, h, sizeof(h), 0);
	while (n < 0 && errno == EINTR);
	if (n < 0) {
		dsm_err("pread(store %s): %s", path, strerror(errno));
		return -1;
	}
	if (n < (ssize_t)sizeof(h) ||
	    memcmp(h, mfile_magic, sizeof(mfile_magic)) != 0) {
		dsm_err("store %s: not a dsm store file (%lld bytes, no "
			"DSMSTORE header): refusing to overwrite it; give "
			"a new or empty file", path, (long long)st_size);
		errno = EINVAL;
		return -1;
	}
	if (get32(h + 8) != MFILE_VERSION || get32(h + 12) != MFILE_HDR) {
		dsm_err("store %s: format version %u with a %u-byte header; "
			"this build reads version %u with %zu bytes",
			path, get32(h + 8), get32(h + 12), MFILE_VERSION,
			MFILE_HDR);
		errno = EINVAL;
		return -1;
	}
	seg = get64(h + 16);
	if (seg != (uint64_t)m->size) {
		dsm_err("store %s holds a segment of %llu bytes, but this "
			"master's segment is %zu bytes: refusing to resize "
			"it (start with --size %llu, or use another file)",
			path, (unsigned long long)seg, m->size,
			(unsigned long long)seg);
		errno = EINVAL;
		return -1;
	}
	if ((uint64_t)st_size != MFILE_HDR + seg) {
		dsm_err("store %s is %lld bytes, but a store of a %llu-byte "
			"segment is %llu bytes: truncated or damaged, refusing "
			"it", path, (long long)st_size, (unsigned long long)seg,
			(unsigned long long)(MFILE_HDR + seg));
		errno = EINVAL;
		return -1;
	}
	*flags = get32(h + 28);
	if (*flags & MFILE_F_OPEN)
		dsm_warn("store %s was not closed cleanly (its master was "
			 "killed or the machine crashed): serving what was "
			 "written to it; a release being applied at that "
			 "moment may be in it only in part",
			 path);
	return 0;
}

/* Make a new file's directory entry durable (fsync of its directory). */
static void sync_dir(const char *path)
{
	char *copy = strdup(path);
	int fd;

	if (!copy)
		return;
	fd = open(dirname(copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd >= 0) {
		if (fsync(fd) < 0)
			dsm_warn("fsync(directory of store %s): %s", path,
				 strerror(errno));
		close(fd);
	}
	free(copy);
}

/*
 * Open (creating it if missing), lock and check the store file, reserve its
 * blocks, mark it open and map the segment's part as m->store.  m->size and
 * m->page_size must be set.  Returns 0, or -1 with errno EINVAL (not a
 * store, wrong size, bad policy), EBUSY (another master has it) or a system
 * call's errno, after one error line; nothing is left open or mapped then,
 * and the file is left as it was found: one created here is removed, an
 * empty one given is emptied again (else the next start would refuse it as
 * "not a dsm store file"), and an existing store gets its header's flags
 * back (else the next start would warn of a crash that did not happen).
 */
int mfile_open(struct master *m, const char *path, int policy)
{
	struct stat st;
	int fd = -1, created = 0, grown = 0, marked = 0, saved;
	uint32_t old_flags = 0;
	void *p;

	if (policy != MASTER_SYNC_NONE && policy != MASTER_SYNC_RELEASE &&
	    policy != MASTER_SYNC_INTERVAL) {
		dsm_err("store %s: unknown sync policy %d", path, policy);
		errno = EINVAL;
		return -1;
	}
	if (m->size > (size_t)INT64_MAX - MFILE_HDR) {
		dsm_err("store %s: a %zu-byte segment is too large for a file",
			path, m->size);
		errno = EINVAL;
		return -1;
	}
	m->file.path = strdup(path);
	if (!m->file.path) {
		dsm_err("strdup(store path): %s", strerror(errno));
		return -1;
	}
	m->file.sync = policy;
	for (int tries = 0; fd < 0 && tries < 2; tries++) {
		fd = open(path, O_RDWR | O_CLOEXEC);
		if (fd >= 0 || errno != ENOENT)
			break;
		fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
		if (fd >= 0)
			created = 1;
		else if (errno != EEXIST)
			break;
	}
	if (fd < 0) {
		dsm_err("open(store %s): %s", path, strerror(errno));
		goto err;
	}
	m->file.fd = fd;
	if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		if (errno == EWOULDBLOCK) {
			dsm_err("store %s is in use by another dsm-master "
				"(it holds the file's lock): one store, one "
				"master", path);
			errno = EBUSY;
		} else {
			dsm_err("flock(store %s): %s", path, strerror(errno));
		}
		created = 0;	/* not ours to remove */
		goto err;
	}
	if (fstat(fd, &st) < 0) {
		dsm_err("fstat(store %s): %s", path, strerror(errno));
		goto err;
	}
	if (!S_ISREG(st.st_mode)) {
		dsm_err("store %s is not a regular file", path);
		errno = EINVAL;
		goto err;
	}
	if (st.st_size != 0 && hdr_check(m, st.st_size, &old_flags) < 0)
		goto err;
	if (st.st_size == 0) {
		grown = 1;
		if (ftruncate(fd, (off_t)(MFILE_HDR + m->size)) < 0) {
			dsm_err("ftruncate(store %s, %zu bytes): %s", path,
				MFILE_HDR + m->size, strerror(errno));
			goto err;
		}
	}
	/* Reserve every block now: writing a page of the mapping that has
	 * no block on a full file system would kill the master (SIGBUS). */
	if (fallocate(fd, 0, 0, (off_t)(MFILE_HDR + m->size)) < 0) {
		if (errno != EOPNOTSUPP && errno != ENOSYS) {
			dsm_err("fallocate(store %s, %zu bytes): %s", path,
				MFILE_HDR + m->size, strerror(errno));
			goto err;
		}
		dsm_warn("store %s: the file system cannot reserve its blocks "
			 "(fallocate: %s); if it fills up, the master dies",
			 path, strerror(errno));
	}
	marked = 1;
	if (hdr_write(m, MFILE_F_OPEN) < 0)
		goto err;
	if (created)
		sync_dir(path);
	p = mmap(NULL, m->size, PROT_READ | PROT_WRITE, MAP_SHARED, fd,
		 (off_t)MFILE_HDR);
	if (p == MAP_FAILED) {
		dsm_err("mmap(store %s, %zu bytes): %s", path, m->size,
			strerror(errno));
		goto err;
	}
	m->store = p;
	m->file.open = 1;
	m->file.synced_ms = mmaster_now_ms();
	dsm_info("store %s: %s, %zu-byte segment, sync %s", path,
		 grown ? "created" : "reopened", m->size,
		 policy == MASTER_SYNC_RELEASE ? "release" :
		 policy == MASTER_SYNC_INTERVAL ? "interval" : "none");
	return 0;
err:
	saved = errno;
	if (created) {
		unlink(path);
	} else if (grown) {
		if (ftruncate(fd, 0) < 0)
			dsm_warn("ftruncate(store %s, 0 bytes) after the "
				 "failure: %s", path, strerror(errno));
	} else if (marked) {
		hdr_write(m, old_flags);
	}
	if (fd >= 0)
		close(fd);
	m->file.fd = -1;
	free(m->file.path);
	m->file.path = NULL;
	errno = saved;
	return -1;
}

/* msync a range of the home copy; a failure is logged (rate-limited). */
static void sync_range(struct master *m, size_t off, size_t len)
{
	int64_t now;

	if (msync(m->store + off, len, MS_SYNC) == 0)
		return;
	now = mmaster_now_ms();
	if (m->file.err_ms == 0 || now - m->file.err_ms >= MFILE_ERR_LOG_MS) {
		m->file.err_ms = now;
		dsm_err("msync(store %s, %zu bytes at %zu): %s: released data "
			"may not be on disk", m->file.path, len, off,
			strerror(errno));
	}
}

/*
 * A release was just applied to the home copy and its pages are in
 * m->touched (before rel_invalidate empties the set): write them back as
 * the policy says.  "release": one msync over the span of the touched
 * pages, so that one release costs one flush to the disk, whatever the
 * number of its pages (the other pages of the span are written only if
 * dirty).  "interval": only noted here; mfile_tick writes the whole home
 * copy back once a second while releases came in since the last sync.
 * Runs in the loop, before any reply to the release can go out.
 */
void mfile_released(struct master *m)
{
	size_t lo, hi;
	int64_t now;

	if (!m->file.open || m->ntouched == 0)
		return;
	switch (m->file.sync) {
	case MASTER_SYNC_RELEASE:
		lo = hi = m->touched[0];
		for (size_t i = 1; i < m->ntouched; i++) {
			if (m->touched[i] < lo)
				lo = m->touched[i];
			if (m->touched[i] > hi)
				hi = m->touched[i];
		}
		sync_range(m, lo * m->page_size,
			   (hi - lo + 1) * m->page_size);
		break;
	case MASTER_SYNC_INTERVAL:
		if (!m->file.pending) {
			m->file.pending = 1;
			/* A sync a second after the last one, or now if
			 * that is past: releases are never older than a
			 * second when they reach the disk. */
			now = mmaster_now_ms();
			if (m->file.synced_ms + MFILE_INTERVAL_MS < now)
				m->file.synced_ms = now - MFILE_INTERVAL_MS;
		}
		break;
	default:
		break;
	}
}

/*
 * When the loop must next call mfile_tick (-1: no sync pending).  With
 * --sync interval and releases not yet on disk: a second after the last
 * sync.
 */
int64_t mfile_deadline(const struct master *m)
{
	if (!m->file.open || !m->file.pending)
		return -1;
	return m->file.synced_ms + MFILE_INTERVAL_MS;
}

/* Called by every loop pass: the interval sync, when it is due. */
void mfile_tick(struct master *m, int64_t now)
{
	int64_t due = mfile_deadline(m);

	if (due < 0 || now < due)
		return;
	sync_range(m, 0, m->size);
	m->file.synced_ms = mmaster_now_ms();
	m->file.pending = 0;
}

/*
 * Close the store: write the whole home copy back, unmap it, mark the file
 * closed cleanly (only if everything reached it) and drop the lock.  Every
 * applied release is whole at this point, since the loop is not running.
 */
void mfile_close(struct master *m)
{
	int ok;

	if (!m->file.open)
		return;
	ok = msync(m->store, m->size, MS_SYNC) == 0;
	if (!ok)
		dsm_err("msync(store %s) at close: %s", m->file.path,
			strerror(errno));
	munmap(m->store, m->size);
	m->store = NULL;
	if (ok)
		hdr_write(m, 0);
	close(m->file.fd);
	m->file.fd = -1;
	m->file.open = 0;
	free(m->file.path);
	m->file.path = NULL;
}
