/*
 * local.c - the baselines that need no network: an uncontended glibc mutex
 * pair (also run under the preload shim: shim_private_mutex) and a local
 * userfaultfd write-protect fault.
 */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/userfaultfd.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "bench.h"

#ifndef USERFAULTFD_IOC_NEW
#define USERFAULTFD_IOC_NEW _IO(0xAA, 0x00)
#endif

/* Outside any DSM segment: a process-private object. */
static pthread_mutex_t private_mu = PTHREAD_MUTEX_INITIALIZER;

/* Blocks until the process ends: it only makes the process multi-threaded. */
static void *idle_thread(void *arg)
{
	int fd = *(int *)arg;
	char c;

	while (read(fd, &c, 1) < 0 && errno == EINTR)
		;
	return NULL;
}

/* Does pthread_mutex_lock resolve into the preload shim in this process? */
static int shim_in_use(void)
{
	void *f = dlsym(RTLD_DEFAULT, "pthread_mutex_lock");
	Dl_info info;

	return f && dladdr(f, &info) && info.dli_fname &&
	       strstr(info.dli_fname, "libdsm_preload") != NULL;
}

/*
 * Role mutex BATCHES PER_BATCH SHM_NAME: the program a user would run.  It
 * opens and maps a POSIX shared memory object (under the shim with
 * DSM_MASTER set, that is the DSM segment and this process becomes a node),
 * touches it, then times lock/unlock pairs of a private mutex.  Samples: ns
 * per pair, each the mean of a batch (a pair is a few ns, too short to time
 * alone).  v[0] batch size, v[1] 1 if the shim is in use, v[2] address the
 * object was mapped at.
 *
 * The process always has a second (idle) thread: glibc's x86 mutexes skip
 * the atomic instruction while a process is single-threaded, and a node
 * always has its service thread.  Without it, the comparison would measure
 * that, not the shim.
 */
int role_mutex(char **args)
{
	uint64_t batches = strtoull(args[0], NULL, 0);
	uint64_t per = strtoull(args[1], NULL, 0);
	const char *name = args[2];
	struct report h = { 0 };
	volatile uint8_t *p;
	pthread_t idle;
	double *s;
	int fd, stop[2];

	if (pipe(stop) < 0 ||
	    pthread_create(&idle, NULL, idle_thread, &stop[0]) != 0)
		child_fail("pipe/pthread_create for the idle thread failed");
	fd = shm_open(name, O_CREAT | O_RDWR, 0600);
	if (fd < 0)
		child_fail("shm_open(%s): %s", name, strerror(errno));
	if (ftruncate(fd, 4096) < 0)
		child_fail("ftruncate(%s): %s", name, strerror(errno));
	p = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED)
		child_fail("mmap(%s): %s", name, strerror(errno));
	p[0] = (uint8_t)(p[1] + 1);
	s = calloc(batches + 1, sizeof(*s));
	if (!s)
		child_fail("out of memory");
	for (uint64_t b = 0; b < 20 * per; b++) {
		pthread_mutex_lock(&private_mu);
		pthread_mutex_unlock(&private_mu);
	}
	h.v[0] = (double)per;
	h.v[1] = shim_in_use();
	h.v[2] = (double)(uintptr_t)p;
	h.v[3] = timer_overhead_ns();
	child_ready(0);
	h.t0 = now_ns();
	for (uint64_t i = 0; i < batches; i++) {
		double t = now_ns();

		for (uint64_t b = 0; b < per; b++) {
			pthread_mutex_lock(&private_mu);
			pthread_mutex_unlock(&private_mu);
		}
		s[i] = (now_ns() - t) / (double)per;
	}
	h.t1 = now_ns();
	close(stop[1]);
	pthread_join(idle, NULL);
	munmap((void *)p, 4096);
	close(fd);
	shm_unlink(name);
	h.n = (uint32_t)batches;
	child_report(&h, s);
	free(s);
	return 0;
}

struct wp_ctx {
	int uffd, stopfd;
	size_t page;
	uint8_t *zero;
};

/*
 * The fault thread, as the node's service thread does it: poll the uffd
 * and a stop eventfd; a write-protect fault is answered by lifting the
 * protection (which wakes the writer); a missing page gets a
 * write-protected zero page.
 */
static void *wp_thread(void *arg)
{
	struct wp_ctx *c = arg;

	for (;;) {
		struct pollfd fds[2] = { { .fd = c->stopfd, .events = POLLIN },
					 { .fd = c->uffd, .events = POLLIN } };
		struct uffd_msg msg[16];
		ssize_t n;

		if (poll(fds, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			child_fail("poll: %s", strerror(errno));
		}
		if (fds[0].revents)
			return NULL;
		n = read(c->uffd, msg, sizeof(msg));
		if (n < 0) {
			if (errno == EAGAIN || errno == EINTR)
				continue;
			child_fail("read(userfaultfd): %s", strerror(errno));
		}
		for (size_t i = 0; i < (size_t)n / sizeof(msg[0]); i++) {
			uintptr_t a;

			if (msg[i].event != UFFD_EVENT_PAGEFAULT)
				child_fail("unexpected uffd event %u",
					   (unsigned)msg[i].event);
			a = (uintptr_t)msg[i].arg.pagefault.address &
			    ~(uintptr_t)(c->page - 1);
			if (msg[i].arg.pagefault.flags &
			    UFFD_PAGEFAULT_FLAG_WP) {
				struct uffdio_writeprotect w = {
					.range = { .start = a, .len = c->page },
					.mode = 0 };

				if (ioctl(c->uffd, UFFDIO_WRITEPROTECT, &w) < 0)
					child_fail(
						"ioctl(UFFDIO_WRITEPROTECT, off): %s",
						strerror(errno));
			} else {
				struct uffdio_copy cp = {
					.dst = a, .src = (uintptr_t)c->zero,
					.len = c->page,
					.mode = UFFDIO_COPY_MODE_WP };

				if (ioctl(c->uffd, UFFDIO_COPY, &cp) < 0 &&
				    errno != EEXIST)
					child_fail("ioctl(UFFDIO_COPY): %s",
						   strerror(errno));
			}
		}
	}
}

static int wp_open(void)
{
	struct uffdio_api api = { .api = UFFD_API,
				  .features = UFFD_FEATURE_PAGEFAULT_FLAG_WP };
	int fd = (int)syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK);

	if (fd < 0) {
		int dev = open("/dev/userfaultfd", O_RDWR | O_CLOEXEC);

		if (dev >= 0) {
			fd = ioctl(dev, USERFAULTFD_IOC_NEW,
				   O_CLOEXEC | O_NONBLOCK);
			close(dev);
		}
		if (fd < 0)
			child_fail("userfaultfd: %s", strerror(errno));
	}
	if (ioctl(fd, UFFDIO_API, &api) < 0)
		child_fail("ioctl(UFFDIO_API, WP): %s", strerror(errno));
	return fd;
}

/*
 * Role uffdwp NPAGES WARM: a region registered MISSING|WP whose pages are
 * present and write-protected (installed with UFFDIO_COPY_MODE_WP, as a
 * node installs a page it read); time the first write to each page, in a
 * random order, after WARM untimed ones.  Then, for reference, the first
 * read of NPAGES missing pages, which the thread fills with UFFDIO_COPY: a
 * read miss with no network.  Samples: us per write (NPAGES), then us per
 * missing read (NPAGES).
 */
int role_uffdwp(char **args)
{
	uint64_t n = strtoull(args[0], NULL, 0),
		 warm = strtoull(args[1], NULL, 0);
	struct wp_ctx c = { .page = (size_t)sysconf(_SC_PAGESIZE) };
	size_t total = (size_t)(2 * n + warm), *order, *order2;
	struct uffdio_register reg = { .mode = UFFDIO_REGISTER_MODE_MISSING |
					       UFFDIO_REGISTER_MODE_WP };
	struct report h = { 0 };
	pthread_t th;
	uint8_t *base, *missing;
	double *s;
	uint64_t one = 1;
	unsigned sink = 0;

	base = mmap(NULL, total * c.page, PROT_READ | PROT_WRITE,
		    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	c.zero = aligned_alloc(c.page, c.page);
	s = calloc(2 * n + 1, sizeof(*s));
	order = order_random((size_t)n, 0x5eed0001);
	order2 = order_random((size_t)n, 0x5eed0004);
	if (base == MAP_FAILED || !c.zero || !s || !order || !order2)
		child_fail("out of memory");
	missing = base + (n + warm) * c.page;
	memset(c.zero, 0, c.page);
	c.uffd = wp_open();
	c.stopfd = eventfd(0, EFD_CLOEXEC);
	if (c.stopfd < 0)
		child_fail("eventfd: %s", strerror(errno));
	if (pthread_create(&th, NULL, wp_thread, &c) != 0)
		child_fail("pthread_create failed");
	reg.range.start = (uintptr_t)base;
	reg.range.len = total * c.page;
	if (ioctl(c.uffd, UFFDIO_REGISTER, &reg) < 0)
		child_fail("ioctl(UFFDIO_REGISTER, MISSING|WP): %s",
			   strerror(errno));
	for (size_t i = 0; i < (size_t)(n + warm); i++) {
		struct uffdio_copy cp = { .dst = (uintptr_t)(base + i * c.page),
					  .src = (uintptr_t)c.zero,
					  .len = c.page,
					  .mode = UFFDIO_COPY_MODE_WP };

		if (ioctl(c.uffd, UFFDIO_COPY, &cp) < 0)
			child_fail("ioctl(UFFDIO_COPY, WP): %s",
				   strerror(errno));
	}
	for (size_t i = 0; i < (size_t)warm; i++)
		((volatile uint8_t *)base)[(n + i) * c.page] = 1;
	h.v[3] = timer_overhead_ns();
	child_ready(0);
	h.t0 = now_ns();
	for (size_t i = 0; i < (size_t)n; i++) {
		volatile uint8_t *p = base + order[i] * c.page;
		double t = now_ns();

		*p = 1;
		s[i] = (now_ns() - t) / 1e3;
	}
	h.t1 = now_ns();
	for (size_t i = 0; i < (size_t)n; i++) {
		volatile uint8_t *p = missing + order2[i] * c.page;
		double t = now_ns();

		sink += *p;
		s[n + i] = (now_ns() - t) / 1e3;
	}
	if (write(c.stopfd, &one, sizeof(one)) != sizeof(one))
		child_fail("write(eventfd): %s", strerror(errno));
	pthread_join(th, NULL);
	h.v[4] = sink;
	h.n = (uint32_t)(2 * n);
	child_report(&h, s);
	munmap(base, total * c.page);
	free(c.zero);
	free(s);
	free(order);
	free(order2);
	return 0;
}
