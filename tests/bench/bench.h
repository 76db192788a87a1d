/*
 * bench.h - dsm-bench, the benchmark of dsm (docs/BENCHMARKS.md).
 *
 * One program, two kinds of process.  The driver (main.c, driver.c) starts
 * a master and child processes, collects their samples and prints the
 * table.  Every measurement runs in a child: the same executable run again
 * with `--role NAME` (role.c dispatches), so each node is a fresh process
 * with its own node runtime, and the baselines run under the same
 * conditions as the nodes.
 *
 * A child talks to the driver over two pipes (proc.c): it writes a ready
 * message on fd 3 (BENCH_REPORT_FD) once set up, waits for the go byte on
 * stdin (EOF there means the driver is gone: the child exits), measures,
 * writes one report (struct report + samples) on fd 3 and closes it.
 */
#ifndef DSM_BENCH_H
#define DSM_BENCH_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define BENCH_REPORT_FD 3
#define BENCH_MAGIC 0x44534d42u	/* "DSMB" */
/* Ready message: 'R' then a u32 (a server's port, else 0). */
#define BENCH_READY_LEN 5
#define BENCH_MAX_CHILDREN 40
#define BENCH_HOST "127.0.0.1"
/* Request of the raw TCP baselines, and the header of the DSM's frames. */
#define BENCH_REQ_LEN 32u

/* Per role: what v[] and the samples mean is documented in the role. */
struct report {
	uint32_t magic;
	uint32_t n;		/* samples (double) following this header */
	double t0, t1;		/* CLOCK_MONOTONIC ns: the measured window */
	double v[6];
};

/* A report as received by the driver. */
struct result {
	struct report h;
	double *s;		/* h.n samples, malloc'd */
	double cpu_s;		/* the child's user + system CPU time */
};

/* A child process of the driver. */
struct child {
	char name[32];
	pid_t pid;		/* 0 once reaped */
	int go_fd;		/* driver -> child (its stdin), -1: closed */
	int out_fd;		/* child's fd 3 (or stdout for dsm-master) */
	uint32_t ready_value;
	int ready, eof, status;
	double cpu_s;		/* user + system CPU time, once reaped */
	uint8_t *buf;		/* bytes received after the ready message */
	size_t len, cap;
};

/* Where the programs are, what to run (main.c fills it). */
struct bench_cfg {
	const char *self;	/* this executable */
	const char *master_bin;
	const char *preload;
	const char *json;
	const char *command;	/* the command line, for the record */
	const char *only;	/* comma-separated metric names, or NULL */
	int quick;
	double timeout_s;	/* bound of every wait of one phase */
};

/* clock.c: time, numbers, random order */
double now_ns(void);
uint64_t rng_next(uint64_t *state);
void shuffle(size_t *v, size_t n, uint64_t seed);
size_t *order_random(size_t n, uint64_t seed);
int write_full(int fd, const void *buf, size_t len);
double timer_overhead_ns(void);
double cpu_self_s(void);

/* child.c: the child side of the pipes */
extern const char *child_role;
void child_ready(uint32_t value);
void child_report(const struct report *h, const double *s);
void child_fail(const char *fmt, ...)
	__attribute__((format(printf, 1, 2), noreturn));
int child_connect(const char *host, uint16_t port);
void child_tune_socket(int fd);
void child_parse_master(const char *spec, char *host, size_t hostlen,
			uint16_t *port);

/* proc.c: the driver side */
int proc_spawn(struct child *c, const char *name, char *const argv[],
	       char *const env[], int is_master);
int proc_ready_all(struct child *cs, int n, double timeout_s);
int proc_go_all(struct child *cs, int n);
int proc_collect_all(struct child *cs, int n, double timeout_s);
int proc_reap_all(struct child *cs, int n, double timeout_s);
void proc_stop(struct child *c, double timeout_s);
void proc_kill_everything(void);
int proc_result(const struct child *c, struct result *r);
int proc_run(const struct bench_cfg *cfg, const char *name, char *const argv[],
	     char *const env[], struct result *r);
int proc_run_many(const struct bench_cfg *cfg, const char *name, int n,
		  char *const *argvs[], struct result *rs, pid_t watch,
		  double *watch_cpu);
double proc_cpu_s(pid_t pid);
int proc_master_start(const struct bench_cfg *cfg, struct child *m,
		      uint64_t size, uint16_t *port);
int proc_master_stop(struct child *m, double timeout_s);

/* stats.c: figures (one measured quantity each) and their statistics */
#define FIG_MAX_EXTRA 12
struct figure {
	const char *key;	/* "tcp_rtt_32", "read_miss", ... */
	const char *label;	/* what it is, for the table */
	const char *unit;	/* unit of value */
	double value;		/* the headline figure */
	double median, p99;	/* of the per-operation samples */
	const char *sunit;	/* unit of median and p99 */
	size_t count;		/* samples */
	int have;		/* measured */
	int nx;
	struct {
		const char *k;
		double v;
	} x[FIG_MAX_EXTRA];	/* diagnostics, for JSON and the docs */
};

struct metric {
	struct figure f;
	struct figure *base;	/* its baseline */
	double target;
	int ge;			/* pass when ratio >= target (else <=) */
	int cond_ok;		/* other conditions of PASS hold */
	const char *cond;	/* what they are, for the table */
	double ratio;
};

int cmp_double(const void *a, const void *b);
void stats_of(double *s, size_t n, double *median, double *p99);
void fig_samples(struct figure *f, double *s, size_t n);
void fig_extra(struct figure *f, const char *k, double v);
double fig_get(const struct figure *f, const char *k);
void fig_latency(struct figure *f, struct result *r, size_t n);
int fig_aggregate(struct figure *f, struct result *rs, int n);
void fig_cpu_busy(struct figure *f, double server_cpu, const char *key);
double frac_under(const double *s, size_t n, double us);
void metric_judge(struct metric *m);

/* output.c: the table, the RESULT lines, the JSON file */
void out_table(const struct bench_cfg *cfg, struct figure **bases, int nb,
	       struct metric **ms, int nm);
void out_results(struct metric **ms, int nm);
int out_json(const struct bench_cfg *cfg, struct figure **bases, int nb,
	     struct metric **ms, int nm);
void out_fmt(char *buf, size_t len, double v);

/* roles (role.c dispatches `--role NAME args...`) */
int role_main(int argc, char **argv);
uint8_t *bnode_attach(const char *spec, size_t need);
void bnode_detach(void);
int role_rawserver(char **args);
int role_rawclient(char **args);
int role_mutex(char **args);
int role_uffdwp(char **args);
int role_segvwp(char **args);
int role_faults(char **args);
int role_lockunlock(char **args);
int role_relock(char **args);
int role_handoff(char **args);
int role_peek(char **args);
int role_fill(char **args);
int role_scan(char **args);
int role_tputnode(char **args);

/* driver.c */
int driver_run(const struct bench_cfg *cfg);

#endif
