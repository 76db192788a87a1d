/*
 * nodes.c - the DSM node roles of the latency metrics: page faults (read
 * miss, write fault), locks (lock_unlock, relock, handoff) and a peek at a
 * counter.  Each role is one node: it attaches with init_slave, sets up,
 * says ready, measures on go, reports, detaches.
 *
 * Every access is timed with CLOCK_MONOTONIC around the single operation;
 * a sample is in us unless said otherwise.
 */
#include <dirent.h>
#include <errno.h>
#include <linux/tcp.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bench.h"
#include "dsm.h"

/*
 * Attach to the master at spec ("host:port"); the segment must hold at
 * least `need` bytes.  Returns its base; fails the child otherwise.
 */
uint8_t *bnode_attach(const char *spec, size_t need)
{
	char host[256];
	uint16_t port;
	uint8_t *base;
	size_t size = 0;

	child_parse_master(spec, host, sizeof(host), &port);
	base = init_slave(host, port);
	if (!base)
		child_fail("init_slave(%s): %s", spec,
			   dsm_strerror(dsm_last_error()));
	size_dsm(&size, base, SLAVE);
	if (size < need)
		child_fail("segment of %zu bytes, need %zu", size, need);
	return base;
}

/* Detach; a failure here is a failure of the run. */
void bnode_detach(void)
{
	int rc = destroy_slave();

	if (rc != 0)
		child_fail("destroy_slave: %s", dsm_strerror(rc));
}

static void check(int rc, const char *call)
{
	if (rc != 0)
		child_fail("%s: %s", call, dsm_strerror(rc));
}

/*
 * TCP payload bytes this process has sent and received on all its TCP
 * sockets (TCP_INFO; keepalive probes carry none).  A node has one: its
 * master connection.  -1 if the kernel does not say.
 */
static int net_bytes(uint64_t *sent, uint64_t *received)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	int found = 0;

	*sent = *received = 0;
	if (!d)
		return -1;
	while ((e = readdir(d)) != NULL) {
		int fd = atoi(e->d_name);
		struct tcp_info ti;
		socklen_t len = sizeof(ti);
		struct stat st;

		if (e->d_name[0] == '.' || fstat(fd, &st) < 0 ||
		    !S_ISSOCK(st.st_mode))
			continue;
		memset(&ti, 0, sizeof(ti));
		if (getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &len) < 0 ||
		    len < offsetof(struct tcp_info, tcpi_bytes_sent) +
				    sizeof(uint64_t))
			continue;
		*sent += ti.tcpi_bytes_sent;
		*received += ti.tcpi_bytes_received;
		found = 1;
	}
	closedir(d);
	return found ? 0 : -1;
}

/*
 * Role faults MASTER NPAGES WARM: read_miss then write_fault on one node.
 * The segment holds NPAGES measured pages and WARM untimed ones after
 * them.  Phase 1: read one byte of each measured page, in a random order
 * (sequential prefetch cannot help).  Phase 2: every page is now cached
 * clean; write one byte of each, in another random order.  Samples: NPAGES
 * read times, then NPAGES write times.  v[0] NPAGES; v[1], v[2] TCP bytes
 * sent and received during phase 2 (-1 unknown); v[3] clock overhead;
 * v[5] phase 2's length in seconds.
 */
int role_faults(char **args)
{
	size_t n = strtoull(args[1], NULL, 0),
	       warm = strtoull(args[2], NULL, 0);
	size_t ps = (size_t)sysconf(_SC_PAGESIZE);
	size_t *rd = order_random(n, 0x5eed0002),
	       *wr = order_random(n, 0x5eed0003);
	double *s = calloc(2 * n + 1, sizeof(*s));
	struct report h = { 0 };
	uint64_t s0, r0, s1, r1;
	unsigned sink = 0;
	uint8_t *base;

	if (!rd || !wr || !s)
		child_fail("out of memory");
	base = bnode_attach(args[0], (n + warm) * ps);
	for (size_t i = 0; i < warm; i++)
		sink += ((volatile uint8_t *)base)[(n + i) * ps];
	for (size_t i = 0; i < warm; i++)
		((volatile uint8_t *)base)[(n + i) * ps] = 1;
	h.v[3] = timer_overhead_ns();
	child_ready(0);
	h.t0 = now_ns();
	for (size_t i = 0; i < n; i++) {
		volatile uint8_t *p = base + rd[i] * ps;
		double t = now_ns();

		sink += *p;
		s[i] = (now_ns() - t) / 1e3;
	}
	if (net_bytes(&s0, &r0) < 0)
		s0 = r0 = UINT64_MAX;
	h.v[5] = now_ns();
	for (size_t i = 0; i < n; i++) {
		volatile uint8_t *p = base + wr[i] * ps;
		double t = now_ns();

		*p = 1;
		s[n + i] = (now_ns() - t) / 1e3;
	}
	h.t1 = now_ns();
	h.v[5] = (h.t1 - h.v[5]) / 1e9;	/* phase 2, seconds */
	if (s0 == UINT64_MAX || net_bytes(&s1, &r1) < 0) {
		h.v[1] = h.v[2] = -1;
	} else {
		h.v[1] = (double)(s1 - s0);
		h.v[2] = (double)(r1 - r0);
	}
	h.v[0] = (double)n;
	h.v[4] = sink;		/* keeps the reads */
	h.n = (uint32_t)(2 * n);
	child_report(&h, s);
	free(s);
	free(rd);
	free(wr);
	bnode_detach();
	return 0;
}

/*
 * Role lockunlock MASTER N WARM: lock_write + unlock_write of one page
 * this node never locked before, N times (pages 0..N-1, after WARM untimed
 * ones on pages N..N+WARM-1).  Nothing is ever written: nothing dirty.
 * Samples: us per pair.
 */
int role_lockunlock(char **args)
{
	size_t n = strtoull(args[1], NULL, 0),
	       warm = strtoull(args[2], NULL, 0);
	size_t ps = (size_t)sysconf(_SC_PAGESIZE);
	double *s = calloc(n + 1, sizeof(*s));
	struct report h = { 0 };
	uint8_t *base;

	if (!s)
		child_fail("out of memory");
	base = bnode_attach(args[0], (n + warm) * ps);
	for (size_t i = 0; i < warm; i++) {
		check(lock_write(base + (n + i) * ps, ps), "lock_write");
		check(unlock_write(base + (n + i) * ps, ps), "unlock_write");
	}
	h.v[3] = timer_overhead_ns();
	child_ready(0);
	h.t0 = now_ns();
	for (size_t i = 0; i < n; i++) {
		uint8_t *p = base + i * ps;
		double t = now_ns();

		check(lock_write(p, ps), "lock_write");
		check(unlock_write(p, ps), "unlock_write");
		s[i] = (now_ns() - t) / 1e3;
	}
	h.t1 = now_ns();
	h.n = (uint32_t)n;
	child_report(&h, s);
	free(s);
	bnode_detach();
	return 0;
}

/*
 * Role relock MASTER N: lock_write + unlock_write of the same page again
 * and again, nobody else around.  Samples: ns per pair, each the mean of a
 * batch sized so a batch lasts >= 2 us (clock overhead < 2 %; a batch of 1
 * while a pair needs the master).  v[0] batch size.
 */
int role_relock(char **args)
{
	size_t n = strtoull(args[1], NULL, 0), batch;
	size_t ps = (size_t)sysconf(_SC_PAGESIZE);
	double *s = calloc(n + 1, sizeof(*s)), cal[101];
	struct report h = { 0 };
	uint8_t *base;

	if (!s)
		child_fail("out of memory");
	base = bnode_attach(args[0], ps);
	for (int i = 0; i < 101; i++) {
		double t = now_ns();

		check(lock_write(base, ps), "lock_write");
		check(unlock_write(base, ps), "unlock_write");
		cal[i] = now_ns() - t;
	}
	qsort(cal, 101, sizeof(cal[0]), cmp_double);
	batch = cal[50] >= 2000 ? 1 : (size_t)(2000 / (cal[50] + 1)) + 1;
	if (batch > 1024)
		batch = 1024;
	h.v[0] = (double)batch;
	h.v[3] = timer_overhead_ns();
	child_ready(0);
	h.t0 = now_ns();
	for (size_t i = 0; i < n; i++) {
		double t = now_ns();

		for (size_t b = 0; b < batch; b++) {
			check(lock_write(base, ps), "lock_write");
			check(unlock_write(base, ps), "unlock_write");
		}
		s[i] = (now_ns() - t) / (double)batch;
	}
	h.t1 = now_ns();
	h.n = (uint32_t)n;
	child_report(&h, s);
	free(s);
	bnode_detach();
	return 0;
}

/*
 * Role handoff MASTER N: N times lock_write(page 0); increment the u64
 * counter at its start (one dirty page); unlock_write(page 0).  Run on two
 * nodes at once, FIFO granting makes the lock alternate.  Samples: four
 * CLOCK_MONOTONIC stamps (ns) per iteration: lock called, lock returned,
 * unlock called, unlock returned; the driver matches the two nodes'.
 */
int role_handoff(char **args)
{
	size_t n = strtoull(args[1], NULL, 0);
	size_t ps = (size_t)sysconf(_SC_PAGESIZE);
	double *s = calloc(4 * n + 1, sizeof(*s));
	struct report h = { 0 };
	volatile uint64_t *counter;
	uint8_t *base;

	if (!s)
		child_fail("out of memory");
	base = bnode_attach(args[0], ps);
	counter = (volatile uint64_t *)base;
	h.v[3] = timer_overhead_ns();
	child_ready(0);
	h.t0 = now_ns();
	for (size_t i = 0; i < n; i++) {
		s[4 * i] = now_ns();
		check(lock_write(base, ps), "lock_write");
		s[4 * i + 1] = now_ns();
		*counter = *counter + 1;
		s[4 * i + 2] = now_ns();
		check(unlock_write(base, ps), "unlock_write");
		s[4 * i + 3] = now_ns();
	}
	h.t1 = now_ns();
	h.n = (uint32_t)(4 * n);
	child_report(&h, s);
	free(s);
	bnode_detach();
	return 0;
}

/* Role peek MASTER OFFSET: v[0] = the u64 at OFFSET, read under lock_read. */
int role_peek(char **args)
{
	size_t off = strtoull(args[1], NULL, 0);
	struct report h = { 0 };
	uint8_t *base = bnode_attach(args[0], off + sizeof(uint64_t));

	child_ready(0);
	check(lock_read(base + off, sizeof(uint64_t)), "lock_read");
	h.v[0] = (double)*(volatile uint64_t *)(base + off);
	check(unlock_read(base + off, sizeof(uint64_t)), "unlock_read");
	child_report(&h, NULL);
	bnode_detach();
	return 0;
}
