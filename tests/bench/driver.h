/*
 * driver.h - private to the driver's files (driver.c, baselines.c,
 * metrics.c): the run's sizes, the figures and metrics, and the helpers
 * they share.
 */
#ifndef DSM_BENCH_DRIVER_H
#define DSM_BENCH_DRIVER_H

#include "bench.h"

#define MIB (1024ull * 1024)
#define TPUT_NODES 16

/* How much of everything: --quick (under 30 s) or the full run. */
struct sizes {
	size_t rtt_n, rtt_warm;
	uint64_t stream_bytes;
	size_t stream_reps;
	size_t tput_n, tput_warm;
	size_t mutex_batches, mutex_per;
	size_t fault_n, warm;
	size_t lock_n, relock_n, handoff_n;
	uint64_t scan_bytes;
};

/* The baselines and the metrics (driver.c). */
extern struct figure b_rtt32, b_rtt4k, b_stream, b_tput, b_mutex, b_uffd,
	b_segv;
extern struct metric m_read_miss, m_write_fault, m_lock_unlock, m_relock,
	m_handoff, m_scan, m_tput, m_shim, m_read_miss_segv,
	m_write_fault_segv;

/* A role command line: self --role WORDS... (words split on spaces). */
struct cmd {
	char buf[512];
	char *v[24];
};

char *const *drv_cmd(struct cmd *c, const struct bench_cfg *cfg,
		     const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
void drv_say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
int drv_base_wanted(const struct bench_cfg *cfg, const struct figure *b);
void drv_free_results(struct result *rs, int n);
/* The dsm-master of the DSM metric being run, while it runs. */
extern pid_t drv_master_pid;

/* baselines.c */
int run_tcp(const struct bench_cfg *cfg, const struct sizes *z);
int run_local(const struct bench_cfg *cfg, const struct sizes *z);
void drv_shm_name(char *buf, size_t len, const char *tag);
void run_tcp_recheck(const struct bench_cfg *cfg, const struct sizes *z);

/* metrics.c: each runs against the master at spec ("host:port") */
typedef int (*dsm_run_fn)(const struct bench_cfg *, const struct sizes *,
			  const char *);
int run_faults(const struct bench_cfg *cfg, const struct sizes *z,
	       const char *spec);
int run_faults_sigsegv(const struct bench_cfg *cfg, const struct sizes *z,
		       const char *spec);
int run_lockunlock(const struct bench_cfg *cfg, const struct sizes *z,
		   const char *spec);
int run_relock(const struct bench_cfg *cfg, const struct sizes *z,
	       const char *spec);
int run_handoff(const struct bench_cfg *cfg, const struct sizes *z,
		const char *spec);
int run_scan(const struct bench_cfg *cfg, const struct sizes *z,
	     const char *spec);
int run_tput(const struct bench_cfg *cfg, const struct sizes *z,
	     const char *spec);
int run_shim(const struct bench_cfg *cfg, const struct sizes *z,
	     const char *spec);

#endif
