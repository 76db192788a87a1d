/*
 * metrics.c - the DSM metrics: which nodes run for each, and how their
 * reports become the metric's figure and diagnostics.  Each runs against a
 * dsm-master of its own (driver.c starts and stops it).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "driver.h"
#include "dsm_wire.h"

/*
 * True if `bytes` moved during `secs` seconds can only be heartbeats: the
 * master's PING? and the node's PING! (one bare header each, once a second
 * plus one for the phase's edges), and no request or reply.
 */
static int heartbeats_only(double bytes, double secs)
{
	double beats = (double)(long)secs + 2;

	return bytes >= 0 && (long)bytes % DSM_HDR_LEN == 0 &&
	       bytes <= beats * DSM_HDR_LEN;
}

/*
 * A read miss and a write fault metric: one node, one master; env: the
 * node's extra environment (the fault backend).
 */
static int faults_of(const struct bench_cfg *cfg, const struct sizes *z,
		     const char *spec, char *const env[], struct metric *rm,
		     struct metric *wf)
{
	struct cmd c;
	struct result r;
	size_t n = z->fault_n;

	if (proc_run(cfg, "faults",
		     drv_cmd(&c, cfg, "faults %s %zu %zu", spec, n, z->warm),
		     env, &r) < 0)
		return -1;
	fig_extra(&rm->f, "under_5us", frac_under(r.s, n, 5));
	fig_latency(&rm->f, &r, n);
	r.s += n;
	fig_latency(&wf->f, &r, n);
	r.s -= n;
	fig_extra(&wf->f, "net_bytes_sent", r.h.v[1]);
	fig_extra(&wf->f, "net_bytes_received", r.h.v[2]);
	fig_extra(&rm->f, "clock_overhead_ns", r.h.v[3]);
	wf->cond_ok = heartbeats_only(r.h.v[1], r.h.v[5]) &&
		      heartbeats_only(r.h.v[2], r.h.v[5]);
	if (r.h.v[1] < 0)
		drv_say("%s: cannot tell whether it used the network "
		    "(TCP_INFO): counted as MISS", wf->f.key);
	free(r.s);
	return 0;
}

/* read_miss and write_fault, with the node's default fault backend. */
int run_faults(const struct bench_cfg *cfg, const struct sizes *z,
	       const char *spec)
{
	return faults_of(cfg, z, spec, NULL, &m_read_miss, &m_write_fault);
}

/* read_miss_sigsegv and write_fault_sigsegv: the same, DSM_FAULT=sigsegv. */
int run_faults_sigsegv(const struct bench_cfg *cfg, const struct sizes *z,
		       const char *spec)
{
	char e_fault[] = "DSM_FAULT=sigsegv";
	char *env[] = { e_fault, NULL };

	return faults_of(cfg, z, spec, env, &m_read_miss_segv,
			 &m_write_fault_segv);
}

int run_lockunlock(const struct bench_cfg *cfg, const struct sizes *z,
		   const char *spec)
{
	struct cmd c;
	struct result r;

	if (proc_run(cfg, "lockunlock",
		     drv_cmd(&c, cfg, "lockunlock %s %zu %zu", spec, z->lock_n,
			     z->warm),
		     NULL, &r) < 0)
		return -1;
	fig_latency(&m_lock_unlock.f, &r, r.h.n);
	free(r.s);
	return 0;
}

int run_relock(const struct bench_cfg *cfg, const struct sizes *z,
	       const char *spec)
{
	struct cmd c;
	struct result r;

	if (proc_run(cfg, "relock", drv_cmd(&c, cfg, "relock %s %zu", spec,
		     z->relock_n), NULL, &r) < 0)
		return -1;
	fig_latency(&m_relock.f, &r, r.h.n);
	fig_extra(&m_relock.f, "batch", r.h.v[0]);
	free(r.s);
	return 0;
}

struct acq {
	/* lock_write called, returned; unlock_write called, returned */
	double call, got, rel, done;
	int node;
};

static int acq_cmp(const void *a, const void *b)
{
	const struct acq *x = a, *y = b;

	return (x->got > y->got) - (x->got < y->got);
}

/*
 * handoff: two nodes, each N x (lock_write, counter++, unlock_write) on the
 * same page, then a third node reads the counter (it must be 2N).  Value:
 * wall time / acquisitions.  Median/p99: lock_write call to return.  The
 * extras split a handoff: gap (one node's unlock_write called -> the
 * other's lock_write returned), in-lock time (the counter's page fault) and
 * unlock_write.
 */
int run_handoff(const struct bench_cfg *cfg, const struct sizes *z,
		const char *spec)
{
	struct cmd c[3];
	struct result rs[2], peek;
	char *const *argvs[2];
	size_t n = z->handoff_n, total = 2 * n, alt = 0, ng = 0;
	struct acq *a;
	double *lk, *gap, *cs, *ul, t0, t1, med, p99;

	argvs[0] = drv_cmd(&c[0], cfg, "handoff %s %zu", spec, n);
	argvs[1] = drv_cmd(&c[1], cfg, "handoff %s %zu", spec, n);
	if (proc_run_many(cfg, "handoff", 2, argvs, rs, 0, NULL) < 0)
		return -1;
	if (proc_run(cfg, "peek", drv_cmd(&c[2], cfg, "peek %s 0", spec), NULL,
		     &peek) < 0) {
		drv_free_results(rs, 2);
		return -1;
	}
	free(peek.s);
	if (peek.h.v[0] != (double)total) {
		drv_say("handoff: the counter is %.0f after 2 x %zu increments: "
			"lost updates",
			peek.h.v[0], n);
		drv_free_results(rs, 2);
		return -1;
	}
	a = calloc(total, sizeof(*a));
	lk = calloc(total, sizeof(*lk));
	gap = calloc(total, sizeof(*gap));
	cs = calloc(total, sizeof(*cs));
	ul = calloc(total, sizeof(*ul));
	if (!a || !lk || !gap || !cs || !ul) {
		drv_free_results(rs, 2);
		free(a), free(lk), free(gap), free(cs), free(ul);
		return -1;
	}
	for (int k = 0; k < 2; k++)
		for (size_t i = 0; i < n; i++) {
			const double *s = rs[k].s + 4 * i;

			a[k * n + i] =
				(struct acq){ s[0], s[1], s[2], s[3], k };
		}
	qsort(a, total, sizeof(*a), acq_cmp);
	t0 = a[0].call;
	t1 = a[0].done;
	for (size_t i = 0; i < total; i++) {
		if (a[i].call < t0)
			t0 = a[i].call;
		if (a[i].done > t1)
			t1 = a[i].done;
		lk[i] = (a[i].got - a[i].call) / 1e3;
		cs[i] = (a[i].rel - a[i].got) / 1e3;
		ul[i] = (a[i].done - a[i].rel) / 1e3;
		if (i > 0 && a[i].node != a[i - 1].node) {
			alt++;
			gap[ng++] = (a[i].got - a[i - 1].rel) / 1e3;
		}
	}
	fig_samples(&m_handoff.f, lk, total);
	m_handoff.f.value = (t1 - t0) / 1e3 / (double)total;
	m_handoff.f.have = 1;
	fig_extra(&m_handoff.f, "wall_s", (t1 - t0) / 1e9);
	fig_extra(&m_handoff.f, "counter", peek.h.v[0]);
	fig_extra(&m_handoff.f, "alternation",
		  (double)alt / (double)(total - 1));
	stats_of(gap, ng, &med, &p99);
	fig_extra(&m_handoff.f, "gap_median_us", med);
	fig_extra(&m_handoff.f, "gap_p99_us", p99);
	stats_of(cs, total, &med, &p99);
	fig_extra(&m_handoff.f, "in_lock_median_us", med);
	stats_of(ul, total, &med, &p99);
	fig_extra(&m_handoff.f, "unlock_median_us", med);
	drv_free_results(rs, 2);
	free(a), free(lk), free(gap), free(cs), free(ul);
	return 0;
}

/* scan: a writer fills the segment, then a fresh node reads it all. */
int run_scan(const struct bench_cfg *cfg, const struct sizes *z,
	     const char *spec)
{
	struct cmd c;
	struct result r;
	unsigned long long bytes = z->scan_bytes, seed = 0x5ca9;

	if (proc_run(cfg, "fill",
		     drv_cmd(&c, cfg, "fill %s %llu %llu", spec, bytes, seed),
		     NULL, &r) < 0)
		return -1;
	free(r.s);
	fig_extra(&m_scan.f, "fill_write_s", r.h.v[0] / 1e9);
	fig_extra(&m_scan.f, "fill_unlock_s", r.h.v[1] / 1e9);
	if (proc_run(cfg, "scan",
		     drv_cmd(&c, cfg, "scan %s %llu %llu", spec, bytes, seed),
		     NULL, &r) < 0)
		return -1;
	if (r.h.v[0] != 1) {
		drv_say("scan: the sum of the scanned words is not the pattern's: "
			"the node read wrong data");
		free(r.s);
		return -1;
	}
	fig_samples(&m_scan.f, r.s, r.h.n);
	m_scan.f.value = (double)bytes / r.h.v[2] * 1e3;
	m_scan.f.have = 1;
	fig_extra(&m_scan.f, "bytes", (double)bytes);
	free(r.s);
	return 0;
}

int run_tput(const struct bench_cfg *cfg, const struct sizes *z,
	     const char *spec)
{
	struct cmd c[TPUT_NODES];
	struct result rs[TPUT_NODES];
	char *const *argvs[TPUT_NODES];
	size_t per = z->tput_n + z->tput_warm;
	double under = 0, cpu = -1;
	int rc;

	for (int i = 0; i < TPUT_NODES; i++)
		argvs[i] = drv_cmd(&c[i], cfg, "tputnode %s %zu %zu %zu",
				   spec, (size_t)i * per, z->tput_n,
				   z->tput_warm);
	if (proc_run_many(cfg, "tputnode", TPUT_NODES, argvs, rs,
			  drv_master_pid, &cpu) < 0)
		return -1;
	for (int i = 0; i < TPUT_NODES; i++)
		under += frac_under(rs[i].s, rs[i].h.n, 5) / TPUT_NODES;
	rc = fig_aggregate(&m_tput.f, rs, TPUT_NODES);
	fig_extra(&m_tput.f, "under_5us", under);
	fig_cpu_busy(&m_tput.f, cpu, "master_cpu_window_s");
	drv_free_results(rs, TPUT_NODES);
	return rc;
}

/* The mutex loop again, now under the shim with a segment attached. */
int run_shim(const struct bench_cfg *cfg, const struct sizes *z,
	     const char *spec)
{
	struct cmd c;
	struct result r;
	char name[64], e_pre[4200], e_master[300], e_shm[96], e_asan[600];
	const char *asan = getenv("ASAN_OPTIONS");
	char *env[] = { e_pre, e_master, e_shm, e_asan, NULL };
	int rc = 0;

	drv_shm_name(name, sizeof(name), "shim");
	snprintf(e_pre, sizeof(e_pre), "LD_PRELOAD=%s", cfg->preload);
	snprintf(e_master, sizeof(e_master), "DSM_MASTER=%s", spec);
	snprintf(e_shm, sizeof(e_shm), "DSM_SHM=%s", name);
	/* Sanitizer builds: the preloaded shim comes before their runtime. */
	snprintf(e_asan, sizeof(e_asan),
		 "ASAN_OPTIONS=verify_asan_link_order=0%s%s", asan ? ":" : "",
		 asan ? asan : "");
	if (proc_run(cfg, "mutex-shim", drv_cmd(&c, cfg, "mutex %zu %zu %s",
		     z->mutex_batches, z->mutex_per, name), env, &r) < 0)
		return -1;
	if (r.h.v[1] != 1 || r.h.v[2] != (double)DSM_DEFAULT_BASE) {
		drv_say("shim_private_mutex: not measured under the shim "
			"(pthread_mutex_lock %s the shim, object mapped at "
			"%#llx, segment at %#llx)",
			r.h.v[1] ? "from" : "not from",
			(unsigned long long)r.h.v[2], DSM_DEFAULT_BASE);
		rc = -1;
	} else {
		fig_latency(&m_shim.f, &r, r.h.n);
		fig_extra(&m_shim.f, "batch", r.h.v[0]);
	}
	free(r.s);
	return rc;
}
