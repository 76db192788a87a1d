/*
 * stats.c - statistics of per-operation samples, and the figures and
 * metrics they feed.
 *
 * Median: the middle sample (mean of the two middle ones for an even
 * count).  p99: the nearest-rank 99th percentile, the smallest sample with
 * at least 99 % of the samples at or below it.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench.h"

int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

/* Sorts s in place. */
void stats_of(double *s, size_t n, double *median, double *p99)
{
	size_t k;

	if (n == 0) {
		*median = *p99 = NAN;
		return;
	}
	qsort(s, n, sizeof(*s), cmp_double);
	*median = n % 2 ? s[n / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
	k = (99 * n + 99) / 100;	/* ceil(0.99 n) */
	*p99 = s[(k ? k : 1) - 1];
}

/* Median, p99 and count of f from samples s (sorted in place). */
void fig_samples(struct figure *f, double *s, size_t n)
{
	stats_of(s, n, &f->median, &f->p99);
	f->count = n;
}

void fig_extra(struct figure *f, const char *k, double v)
{
	for (int i = 0; i < f->nx; i++)
		if (strcmp(f->x[i].k, k) == 0) {
			f->x[i].v = v;
			return;
		}
	if (f->nx < FIG_MAX_EXTRA) {
		f->x[f->nx].k = k;
		f->x[f->nx++].v = v;
	}
}

/* An extra's value, NAN if absent. */
double fig_get(const struct figure *f, const char *k)
{
	for (int i = 0; i < f->nx; i++)
		if (strcmp(f->x[i].k, k) == 0)
			return f->x[i].v;
	return NAN;
}

/* Latency figure from one report: value = median of the samples. */
void fig_latency(struct figure *f, struct result *r, size_t n)
{
	fig_samples(f, r->s, n);
	f->value = f->median;
	f->have = 1;
}

/*
 * Aggregate rate of n children that worked at once: all their operations
 * over the union of their windows (first start to last end); the samples
 * (us per operation) pooled.
 */
int fig_aggregate(struct figure *f, struct result *rs, int n)
{
	double t0 = rs[0].h.t0, t1 = rs[0].h.t1, *all, cpu = 0;
	size_t total = 0, k = 0;

	for (int i = 0; i < n; i++) {
		total += rs[i].h.n;
		if (rs[i].h.t0 < t0)
			t0 = rs[i].h.t0;
		if (rs[i].h.t1 > t1)
			t1 = rs[i].h.t1;
	}
	all = malloc((total ? total : 1) * sizeof(*all));
	if (!all)
		return -1;
	for (int i = 0; i < n; i++) {
		memcpy(all + k, rs[i].s, rs[i].h.n * sizeof(*all));
		k += rs[i].h.n;
	}
	fig_samples(f, all, total);
	free(all);
	f->value = (double)total / ((t1 - t0) / 1e9);
	fig_extra(f, "window_s", (t1 - t0) / 1e9);
	fig_extra(f, "processes", n);
	for (int i = 0; i < n; i++)
		cpu += rs[i].h.v[5];
	fig_extra(f, "processes_cpu_window_s", cpu);
	f->have = 1;
	return 0;
}

/*
 * Fraction of samples under `us`: page faults that cost less than any real
 * miss (the page was already there: prefetched).  A read_miss figure with
 * many of them would not be measuring misses.
 */
double frac_under(const double *s, size_t n, double us)
{
	size_t k = 0;

	for (size_t i = 0; i < n; i++)
		k += s[i] < us;
	return n ? (double)k / (double)n : 0;
}

/*
 * Where a throughput run's CPU went: the server's (or master's) CPU time
 * in the window, and how busy all CPUs were (1 = every CPU busy the whole
 * window: the run was CPU-bound, not waiting).
 */
void fig_cpu_busy(struct figure *f, double server_cpu, const char *key)
{
	double win = fig_get(f, "window_s");
	double procs = fig_get(f, "processes_cpu_window_s");
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);

	if (server_cpu < 0 || !f->have)
		return;
	fig_extra(f, key, server_cpu);
	fig_extra(f, "cpu_busy", (server_cpu + procs) / (win * (double)ncpu));
}


/* ratio = DSM figure / baseline figure. */
void metric_judge(struct metric *m)
{
	if (!m->f.have || !m->base || !m->base->have || m->base->value <= 0) {
		m->ratio = NAN;
		return;
	}
	m->ratio = m->f.value / m->base->value;
}
