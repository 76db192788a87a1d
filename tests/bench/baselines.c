/*
 * baselines.c - the figures the DSM is compared with: raw TCP against
 * rawnet.c's server (each baseline a server of its own, each client a
 * process of its own), the glibc mutex pair and local uffd faults
 * (local.c), local SIGSEGV faults (sigsegv.c).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "driver.h"
#include "dsm_wire.h"

/* A raw TCP server of its own for one baseline; 0 with *port, or -1. */
static int server_start(const struct bench_cfg *cfg, struct child *srv,
			uint16_t *port)
{
	struct cmd c;

	if (proc_spawn(srv, "rawserver", drv_cmd(&c, cfg, "rawserver"), NULL,
		       0) < 0)
		return -1;
	if (proc_ready_all(srv, 1, cfg->timeout_s) < 0 ||
	    proc_go_all(srv, 1) < 0) {
		proc_stop(srv, 2);
		free(srv->buf);
		return -1;
	}
	*port = (uint16_t)srv->ready_value;
	return 0;
}

/* Stop it; its CPU time becomes an extra of f. */
static void server_stop(struct child *srv, struct figure *f)
{
	proc_stop(srv, 2);
	free(srv->buf);
	if (f->have)
		fig_extra(f, "server_cpu_s", srv->cpu_s);
}

/*
 * One raw TCP client process against a fresh server: mode rtt32, rtt4k or
 * stream.  The figure is set from its report.
 */
static int run_tcp_one(const struct bench_cfg *cfg, struct figure *f,
		       const char *mode, unsigned long long n, size_t warm)
{
	struct child srv;
	struct cmd c;
	struct result r;
	char name[40];
	uint16_t port;

	if (server_start(cfg, &srv, &port) < 0)
		return -1;
	snprintf(name, sizeof(name), "rawclient-%s", mode);
	if (proc_run(cfg, name, drv_cmd(&c, cfg, "rawclient %s %u %s %llu %zu",
		     BENCH_HOST, port, mode, n, warm), NULL, &r) < 0) {
		server_stop(&srv, f);
		return -1;
	}
	if (strcmp(mode, "stream") == 0) {
		fig_samples(f, r.s, r.h.n);
		f->value = r.h.v[0] / r.h.v[1] * 1e3;
		fig_extra(f, "bytes", r.h.v[0]);
		f->have = 1;
	} else {
		fig_latency(f, &r, r.h.n);
		fig_extra(f, "clock_overhead_ns", r.h.v[2]);
	}
	fig_extra(f, "client_cpu_s", r.cpu_s);
	free(r.s);
	server_stop(&srv, f);
	return 0;
}

/* Raw TCP: each baseline its own server process, each client its own. */
int run_tcp(const struct bench_cfg *cfg, const struct sizes *z)
{
	struct child srv;
	struct cmd c[TPUT_NODES];
	struct result rs[TPUT_NODES];
	char *const *argvs[TPUT_NODES];
	uint16_t port;
	double cpu = -1;
	int rc = 0;

	if (drv_base_wanted(cfg, &b_rtt32))
		rc |= run_tcp_one(cfg, &b_rtt32, "rtt32", z->rtt_n,
				  z->rtt_warm);
	if (drv_base_wanted(cfg, &b_rtt4k)) {
		rc |= run_tcp_one(cfg, &b_rtt4k, "rtt4k", z->rtt_n,
				  z->rtt_warm);
		fig_extra(&b_rtt4k, "reply_bytes", DSM_HDR_LEN + 4096);
	}
	if (drv_base_wanted(cfg, &b_stream))
		rc |= run_tcp_one(cfg, &b_stream, "stream", z->stream_bytes,
				  z->stream_reps);
	if (!drv_base_wanted(cfg, &b_tput))
		return rc;
	if (server_start(cfg, &srv, &port) < 0)
		return -1;
	for (int i = 0; i < TPUT_NODES; i++)
		argvs[i] = drv_cmd(&c[i], cfg, "rawclient %s %u tput %zu %zu",
			      BENCH_HOST, port, z->tput_n, z->tput_warm);
	if (proc_run_many(cfg, "rawclient-tput", TPUT_NODES, argvs, rs, srv.pid,
			  &cpu) == 0) {
		if (fig_aggregate(&b_tput, rs, TPUT_NODES) < 0)
			rc = -1;
		fig_cpu_busy(&b_tput, cpu, "server_cpu_window_s");
		drv_free_results(rs, TPUT_NODES);
	} else {
		rc = -1;
	}
	server_stop(&srv, &b_tput);
	return rc;
}

/* A POSIX shared memory name of this run, for the mutex programs. */
void drv_shm_name(char *buf, size_t len, const char *tag)
{
	snprintf(buf, len, "/dsm-bench-%d-%s", (int)getpid(), tag);
}

/*
 * A local write-fault baseline f, if wanted: child program `prog`
 * (uffdwp or segvwp) gives the write faults' times, then as many missing
 * faults' (kept as extras).  0, or -1 if it failed.
 */
static int run_wp_fault(const struct bench_cfg *cfg, const struct sizes *z,
			struct figure *f, const char *prog)
{
	struct cmd c;
	struct result r;
	size_t n;
	double med, p99;

	if (!drv_base_wanted(cfg, f))
		return 0;
	if (proc_run(cfg, prog, drv_cmd(&c, cfg, "%s %zu %zu", prog,
					z->fault_n, z->warm), NULL, &r) != 0)
		return -1;
	n = r.h.n / 2;
	fig_latency(f, &r, n);
	fig_extra(f, "clock_overhead_ns", r.h.v[3]);
	stats_of(r.s + n, n, &med, &p99);
	fig_extra(f, "missing_fault_median_us", med);
	fig_extra(f, "missing_fault_p99_us", p99);
	free(r.s);
	return 0;
}

int run_local(const struct bench_cfg *cfg, const struct sizes *z)
{
	struct cmd c;
	struct result r;
	char name[64];
	int rc = 0;

	if (drv_base_wanted(cfg, &b_mutex)) {
		drv_shm_name(name, sizeof(name), "native");
		if (proc_run(cfg, "mutex",
			     drv_cmd(&c, cfg, "mutex %zu %zu %s",
				     z->mutex_batches, z->mutex_per, name),
			     NULL, &r) == 0) {
			fig_latency(&b_mutex, &r, r.h.n);
			fig_extra(&b_mutex, "batch", r.h.v[0]);
			if (r.h.v[1] != 0) {
				drv_say("the mutex baseline ran under the shim");
				b_mutex.have = 0;
				rc = -1;
			}
			free(r.s);
		} else {
			rc = -1;
		}
		shm_unlink(name);
	}
	if (run_wp_fault(cfg, z, &b_uffd, "uffdwp") < 0)
		rc = -1;
	if (run_wp_fault(cfg, z, &b_segv, "segvwp") < 0)
		rc = -1;
	return rc;
}

/*
 * The 32-byte round trip measured again after the DSM metrics.  On a small
 * VM it depends on where the scheduler puts client and server (30 us across
 * two vCPUs here, about 20 us on one: after heavy ping-pong, or when
 * something else keeps the other vCPU busy), and so do the DSM's own
 * round trips.  A change during the run is said, so that the ratios are
 * read with that uncertainty in mind.
 */
void run_tcp_recheck(const struct bench_cfg *cfg, const struct sizes *z)
{
	struct figure again = { .key = "tcp_rtt_32", .unit = "us" };
	double first = b_rtt32.value, drift;

	if (!b_rtt32.have ||
	    run_tcp_one(cfg, &again, "rtt32", z->rtt_n, z->rtt_warm) < 0)
		return;
	drift = again.value / first - 1;
	fig_extra(&b_rtt32, "median_at_end_us", again.value);
	if (drift > 0.2 || drift < -0.2)
		drv_say("warning: tcp_rtt_32 was %.1f us at the start and %.1f us "
			"at the end of the run (thread placement or load "
			"changed): read the ratios with that margin "
			"(docs/BENCHMARKS.md)", first, again.value);
}
