/*
 * driver.c - one run of dsm-bench: how much (--quick or full), which
 * figures and metrics, in which order, and the output.
 *
 * Baselines first (baselines.c), then the DSM metrics (metrics.c), each
 * against a dsm-master of its own so no metric inherits another's state.
 * A metric whose run fails (a child failed, a check did not hold) gets no
 * RESULT line and makes the bench exit 1; the others still run.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "driver.h"

static const struct sizes quick_sizes = {
	.rtt_n = 2000, .rtt_warm = 200,
	.stream_bytes = 32 * MIB, .stream_reps = 3,
	.tput_n = 200, .tput_warm = 10,
	.mutex_batches = 200, .mutex_per = 1000,
	.fault_n = 2000, .warm = 50,
	.lock_n = 2000, .relock_n = 2000, .handoff_n = 1000,
	.scan_bytes = 32 * MIB,
};

static const struct sizes full_sizes = {
	.rtt_n = 20000, .rtt_warm = 1000,
	.stream_bytes = 256 * MIB, .stream_reps = 5,
	.tput_n = 2000, .tput_warm = 50,
	.mutex_batches = 5000, .mutex_per = 1000,
	.fault_n = 10000, .warm = 100,
	.lock_n = 10000, .relock_n = 10000, .handoff_n = 5000,
	.scan_bytes = 256 * MIB,
};

struct figure b_rtt32 = { .key = "tcp_rtt_32",
	.label = "raw TCP round trip 32 B -> 32 B",
	.unit = "us", .sunit = "us" };
struct figure b_rtt4k = { .key = "tcp_rtt_4k",
	.label = "raw TCP round trip 32 B -> 4 KiB",
	.unit = "us", .sunit = "us" };
struct figure b_stream = { .key = "tcp_stream",
	.label = "raw TCP stream, one connection",
	.unit = "MB/s", .sunit = "us" };
struct figure b_tput = { .key = "tcp_server_16",
	.label = "raw epoll server, 16 clients, 4 KiB", .unit = "replies/s",
	.sunit = "us" };
struct figure b_mutex = { .key = "mutex_pair",
	.label = "glibc mutex lock+unlock", .unit = "ns", .sunit = "ns" };
struct figure b_uffd = { .key = "uffd_wp_fault",
	.label = "local uffd write-protect fault",
	.unit = "us", .sunit = "us" };
struct figure b_segv = { .key = "segv_wp_fault",
	.label = "local SIGSEGV write fault (mprotect)",
	.unit = "us", .sunit = "us" };

static struct figure *bases[] = { &b_rtt32, &b_rtt4k, &b_stream, &b_tput,
				  &b_mutex, &b_uffd, &b_segv };

struct metric m_read_miss = { .f = { .key = "read_miss",
	.unit = "us", .sunit = "us" }, .base = &b_rtt4k, .target = 1.3 };
struct metric m_write_fault = { .f = { .key = "write_fault",
	.unit = "us", .sunit = "us" }, .base = &b_uffd, .target = 1.5,
	.cond = "no network bytes but heartbeats" };
struct metric m_lock_unlock = { .f = { .key = "lock_unlock",
	.unit = "us", .sunit = "us" }, .base = &b_rtt32, .target = 1.2 };
struct metric m_relock = { .f = { .key = "relock",
	.unit = "ns", .sunit = "ns" }, .base = &b_mutex, .target = 20 };
struct metric m_handoff = { .f = { .key = "handoff",
	.unit = "us", .sunit = "us" }, .base = &b_rtt32, .target = 1.5,
	.cond = "value = wall/acquisition; median, p99 = lock_write" };
struct metric m_scan = { .f = { .key = "scan",
	.unit = "MB/s", .sunit = "us" }, .base = &b_stream, .target = 0.5,
	.ge = 1, .cond = "median, p99 = us per MiB" };
struct metric m_tput = { .f = { .key = "master_tput",
	.unit = "pages/s", .sunit = "us" }, .base = &b_tput, .target = 0.7,
	.ge = 1, .cond = "median, p99 = us per fault" };
struct metric m_shim = { .f = { .key = "shim_private_mutex",
	.unit = "ns", .sunit = "ns" }, .base = &b_mutex, .target = 1.3 };
/* read_miss and write_fault again with the SIGSEGV fault backend
 * (DSM_FAULT=sigsegv): extra lines, after the others. */
struct metric m_read_miss_segv = { .f = { .key = "read_miss_sigsegv",
	.unit = "us", .sunit = "us" }, .base = &b_rtt4k, .target = 1.3 };
struct metric m_write_fault_segv = { .f = { .key = "write_fault_sigsegv",
	.unit = "us", .sunit = "us" }, .base = &b_segv, .target = 1.5,
	.cond = "no network bytes but heartbeats" };

static struct metric *metrics[] = { &m_read_miss, &m_write_fault,
	&m_lock_unlock, &m_relock, &m_handoff, &m_scan, &m_tput, &m_shim,
	&m_read_miss_segv, &m_write_fault_segv };

#define NB ((int)(sizeof(bases) / sizeof(bases[0])))
#define NM ((int)(sizeof(metrics) / sizeof(metrics[0])))

/* A role command line: self --role WORDS... (words split on spaces). */
char *const *drv_cmd(struct cmd *c, const struct bench_cfg *cfg,
		     const char *fmt, ...)
{
	va_list ap;
	char *save = NULL, *tok;
	int n = 0;

	va_start(ap, fmt);
	vsnprintf(c->buf, sizeof(c->buf), fmt, ap);
	va_end(ap);
	c->v[n++] = (char *)cfg->self;
	c->v[n++] = "--role";
	for (tok = strtok_r(c->buf, " ", &save); tok && n < 23;
	     tok = strtok_r(NULL, " ", &save))
		c->v[n++] = tok;
	c->v[n] = NULL;
	return c->v;
}

static int wanted(const struct bench_cfg *cfg, const char *key)
{
	const char *p = cfg->only;
	size_t k = strlen(key);

	if (!p)
		return 1;
	while (*p) {
		size_t l = strcspn(p, ",");

		if (l == k && strncmp(p, key, k) == 0)
			return 1;
		p += l + (p[l] == ',');
	}
	return 0;
}

/* A baseline is run when a wanted metric compares against it. */
int drv_base_wanted(const struct bench_cfg *cfg, const struct figure *b)
{
	for (int i = 0; i < NM; i++)
		if (metrics[i]->base == b && wanted(cfg, metrics[i]->f.key))
			return 1;
	return 0;
}

void drv_say(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "dsm-bench: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\n");
}

/* The master of the DSM metric being run (with_master sets it). */
pid_t drv_master_pid;

void drv_free_results(struct result *rs, int n)
{
	for (int i = 0; i < n; i++)
		free(rs[i].s);
}

/*
 * One DSM metric: its own master (segment of `size` bytes), the run, the
 * master stopped.  A master that does not end cleanly fails the metric.
 */
static int with_master(const struct bench_cfg *cfg, const struct sizes *z,
		       uint64_t size, dsm_run_fn fn, struct metric *m,
		       struct metric *m2)
{
	struct child mc;
	char spec[64];
	uint16_t port;
	int rc;

	fprintf(stderr, "dsm-bench: %s%s%s...\n", m->f.key, m2 ? " + " : "",
		m2 ? m2->f.key : "");
	if (proc_master_start(cfg, &mc, size, &port) < 0)
		rc = -1;
	else {
		snprintf(spec, sizeof(spec), "%s:%u", BENCH_HOST, port);
		drv_master_pid = mc.pid;
		rc = fn(cfg, z, spec);
		drv_master_pid = 0;
		if (proc_master_stop(&mc, 10) < 0)
			rc = -1;
		fig_extra(&m->f, "master_cpu_s", mc.cpu_s);
		if (m2)
			fig_extra(&m2->f, "master_cpu_s", mc.cpu_s);
	}
	if (rc < 0) {
		drv_say("%s: failed, no result", m->f.key);
		m->f.have = 0;
		if (m2)
			m2->f.have = 0;
	}
	return rc;
}

/* Every name in --only is a metric?  Else a message and 0. */
static int only_valid(const struct bench_cfg *cfg)
{
	const char *p = cfg->only;

	while (p && *p) {
		size_t l = strcspn(p, ",");
		int known = 0;

		for (int i = 0; i < NM; i++)
			known |= strlen(metrics[i]->f.key) == l &&
				 strncmp(p, metrics[i]->f.key, l) == 0;
		if (!known) {
			drv_say("--only: no metric named '%.*s'", (int)l, p);
			return 0;
		}
		p += l + (p[l] == ',');
	}
	return 1;
}

int driver_run(const struct bench_cfg *cfg)
{
	const struct sizes *z = cfg->quick ? &quick_sizes : &full_sizes;
	uint64_t ps = (uint64_t)sysconf(_SC_PAGESIZE), tput_pages;
	int failed = 0, nm = 0;

	if (!only_valid(cfg))
		return 2;
	for (int i = 0; i < NM; i++)
		metrics[i]->f.label = metrics[i]->f.key;
	for (int i = 0; i < NM; i++)
		metrics[i]->cond_ok = metrics[i] != &m_write_fault &&
				      metrics[i] != &m_write_fault_segv;
	fprintf(stderr, "dsm-bench: baselines...\n");
	if ((run_tcp(cfg, z) | run_local(cfg, z)) < 0) {
		drv_say("a baseline failed: the metrics compared with it get "
			"no RESULT line");
		failed = 1;
	}
	if (wanted(cfg, "read_miss") || wanted(cfg, "write_fault"))
		failed |= with_master(cfg, z, (z->fault_n + z->warm) * ps,
				      run_faults, &m_read_miss,
				      &m_write_fault) < 0;
	if (wanted(cfg, "read_miss_sigsegv") ||
	    wanted(cfg, "write_fault_sigsegv"))
		failed |= with_master(cfg, z, (z->fault_n + z->warm) * ps,
				      run_faults_sigsegv, &m_read_miss_segv,
				      &m_write_fault_segv) < 0;
	if (wanted(cfg, "lock_unlock"))
		failed |= with_master(cfg, z, (z->lock_n + z->warm) * ps,
				      run_lockunlock, &m_lock_unlock, NULL) < 0;
	if (wanted(cfg, "relock"))
		failed |= with_master(cfg, z, MIB, run_relock, &m_relock,
				      NULL) < 0;
	if (wanted(cfg, "handoff"))
		failed |= with_master(cfg, z, MIB, run_handoff, &m_handoff,
				      NULL) < 0;
	if (wanted(cfg, "scan"))
		failed |= with_master(cfg, z, z->scan_bytes, run_scan, &m_scan,
				      NULL) < 0;
	tput_pages = (uint64_t)TPUT_NODES * (z->tput_n + z->tput_warm);
	if (wanted(cfg, "master_tput"))
		failed |= with_master(cfg, z, tput_pages * ps, run_tput,
				      &m_tput, NULL) < 0;
	if (wanted(cfg, "shim_private_mutex"))
		failed |= with_master(cfg, z, MIB, run_shim, &m_shim, NULL) < 0;
	run_tcp_recheck(cfg, z);

	for (int i = 0; i < NM; i++) {
		if (!wanted(cfg, metrics[i]->f.key))
			metrics[i]->f.have = 0;
		metric_judge(metrics[i]);
		nm += metrics[i]->f.have;
	}
	out_table(cfg, bases, NB, metrics, NM);
	if (cfg->json && out_json(cfg, bases, NB, metrics, NM) < 0)
		failed = 1;
	out_results(metrics, NM);
	if (nm == 0)
		failed = 1;
	return failed ? 1 : 0;
}
