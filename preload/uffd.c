/*
 * uffd.c - the userfaultfd backend (fault.h): open, register, the three
 * ioctls the node needs (COPY, WRITEPROTECT, WAKE), and dropping pages.
 *
 * The segment is registered in MISSING|WP mode: a missing page faults to the
 * service thread, which fetches it and installs it with UFFDIO_COPY
 * (write-protected unless the fault was a write); a write to a protected
 * page faults again, locally, to start a twin.  Kernel-mode accesses (a
 * read(2) into the segment) fault the same way because the descriptor is not
 * opened with UFFD_USER_MODE_ONLY.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/userfaultfd.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "dsm_log.h"
#include "node.h"

#ifndef USERFAULTFD_IOC_NEW
#define USERFAULTFD_IOC_NEW _IO(0xAA, 0x00)
#endif

/*
 * A userfaultfd with write-protect fault reporting, O_CLOEXEC|O_NONBLOCK.
 * Tries the syscall first, then /dev/userfaultfd (which unprivileged users
 * may be allowed to open even when vm.unprivileged_userfaultfd is 0).
 * Returns the fd, or -1 with errno, *step naming the call that failed and
 * *hint what would make it work; nothing is logged, since the caller may
 * fall back to the SIGSEGV backend (fault.c).  EPERM, EACCES and ENOSYS
 * mean userfaultfd is not allowed here; EINVAL from UFFDIO_API, that the
 * kernel has no write-protect faults.
 */
int uffd_open(const char **step, const char **hint)
{
	struct uffdio_api api = { .api = UFFD_API,
				  .features = UFFD_FEATURE_PAGEFAULT_FLAG_WP };
	int fd, saved;

	fd = (int)syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK);
	if (fd < 0) {
		saved = errno;
		int dev = open("/dev/userfaultfd", O_RDWR | O_CLOEXEC);

		if (dev >= 0) {
			fd = ioctl(dev, USERFAULTFD_IOC_NEW, O_CLOEXEC | O_NONBLOCK);
			if (fd < 0)
				saved = errno;
			close(dev);
		}
		if (fd < 0) {
			*step = "userfaultfd";
			*hint = "needs root, CAP_SYS_PTRACE, "
				"vm.unprivileged_userfaultfd=1 or access to "
				"/dev/userfaultfd";
			errno = saved;
			return -1;
		}
	}
	if (ioctl(fd, UFFDIO_API, &api) < 0) {
		saved = errno;
		*step = "ioctl(UFFDIO_API) with write-protect faults";
		*hint = "kernel too old? need Linux 5.7 or later";
		close(fd);
		errno = saved;
		return -1;
	}
	return fd;
}

/* Register [base, base+len) in MISSING|WP mode and check the ioctls. */
int uffd_register(int uffd, void *base, size_t len)
{
	struct uffdio_register reg = {
		.range = { .start = (uintptr_t)base, .len = len },
		.mode = UFFDIO_REGISTER_MODE_MISSING | UFFDIO_REGISTER_MODE_WP,
	};
	const uint64_t need = (1ull << _UFFDIO_COPY) |
			      (1ull << _UFFDIO_WRITEPROTECT) |
			      (1ull << _UFFDIO_WAKE);

	if (ioctl(uffd, UFFDIO_REGISTER, &reg) < 0) {
		int saved = errno;

		dsm_err("ioctl(UFFDIO_REGISTER, MISSING|WP) at %p: %s", base,
			strerror(saved));
		errno = saved;
		return -1;
	}
	if ((reg.ioctls & need) != need) {
		dsm_err("userfaultfd on %p lacks COPY/WRITEPROTECT/WAKE "
			"(ioctls 0x%llx)", base, (unsigned long long)reg.ioctls);
		errno = ENOTSUP;
		return -1;
	}
	return 0;
}

/*
 * Install len bytes at dst (not present) from src and wake the threads
 * waiting on that range.  wp: install write-protected.  Returns 0, or -1
 * with errno after a line; EEXIST means another path filled the page first
 * (the caller wakes the range instead), and is not logged.
 */
int uffd_copy(int uffd, void *dst, const void *src, size_t len, int wp)
{
	struct uffdio_copy c = {
		.dst = (uintptr_t)dst,
		.src = (uintptr_t)src,
		.len = len,
		.mode = wp ? UFFDIO_COPY_MODE_WP : 0,
	};

	while (ioctl(uffd, UFFDIO_COPY, &c) < 0) {
		if (errno == EAGAIN && c.copy > 0) {
			/* Partial copy (mapping changed under us): go on. */
			c.dst += (uint64_t)c.copy;
			c.src += (uint64_t)c.copy;
			c.len -= (uint64_t)c.copy;
			c.copy = 0;
			continue;
		}
		if (errno == EINTR || errno == EAGAIN)
			continue;
		if (errno != EEXIST) {
			int saved = errno;

			dsm_err("ioctl(UFFDIO_COPY) at %p: %s", dst,
				strerror(saved));
			errno = saved;
		}
		return -1;
	}
	return 0;
}

/* Set (wp=1) or clear (wp=0, also wakes waiters) write protection.  0, or
 * -1 with errno after a line. */
int uffd_protect(int uffd, void *addr, size_t len, int wp)
{
	struct uffdio_writeprotect w = {
		.range = { .start = (uintptr_t)addr, .len = len },
		.mode = wp ? UFFDIO_WRITEPROTECT_MODE_WP : 0,
	};

	while (ioctl(uffd, UFFDIO_WRITEPROTECT, &w) < 0) {
		if (errno == EINTR || errno == EAGAIN)
			continue;
		int saved = errno;

		dsm_err("ioctl(UFFDIO_WRITEPROTECT, %s) at %p: %s",
			wp ? "on" : "off", addr, strerror(saved));
		errno = saved;
		return -1;
	}
	return 0;
}

/* Wake threads faulting in the range; they retry their access. */
int uffd_wake(int uffd, void *addr, size_t len)
{
	struct uffdio_range r = { .start = (uintptr_t)addr, .len = len };

	if (ioctl(uffd, UFFDIO_WAKE, &r) < 0 && errno != ENOENT)
		return -1;
	return 0;
}

/* Drop the pages of [addr, addr+len): the next access faults as missing.
 * 0, or -1 with errno after a line. */
int uffd_drop(void *addr, size_t len)
{
	if (madvise(addr, len, MADV_DONTNEED) < 0) {
		int saved = errno;

		dsm_err("madvise(MADV_DONTNEED) at %p: %s", addr,
			strerror(saved));
		errno = saved;
		return -1;
	}
	return 0;
}

/* Is the page at addr mapped in memory (mincore)?  Errors count as
 * resident. */
int uffd_resident(void *addr)
{
	unsigned char vec = 1;

	if (mincore(addr, 1, &vec) < 0)
		return 1;
	return vec & 1;
}
