/*
 * output.c - what the bench prints: the table for people, the RESULT
 * lines for tools (the last lines of stdout, one per metric, format fixed
 * by docs/BENCHMARKS.md), and the same figures as JSON (--json FILE).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"

/* Three significant digits, never an exponent: 61.2, 0.0131, 123456. */
void out_fmt(char *buf, size_t len, double v)
{
	double a = v < 0 ? -v : v;
	int dec = 2;

	if (isnan(v)) {
		snprintf(buf, len, "nan");
		return;
	}
	if (a >= 100)
		dec = 0;
	else if (a >= 10)
		dec = 1;
	else
		for (double lim = 1; a < lim && a > 0 && dec < 8; lim /= 10)
			dec++;
	snprintf(buf, len, "%.*f", dec, v);
}

static const char *F(char *buf, double v)
{
	out_fmt(buf, 24, v);
	return buf;
}

static void cpu_model(char *out, size_t len)
{
	FILE *f = fopen("/proc/cpuinfo", "r");
	char line[512];

	snprintf(out, len, "unknown");
	if (!f)
		return;
	while (fgets(line, sizeof(line), f)) {
		char *c = strchr(line, ':');

		if (strncmp(line, "model name", 10) == 0 && c) {
			c += 2;
			c[strcspn(c, "\n")] = '\0';
			snprintf(out, len, "%s", c);
			break;
		}
	}
	fclose(f);
}

struct machine {
	char cpu[256], kernel[200], date[32];
	long cores;
};

static void machine(struct machine *m)
{
	struct utsname u;
	time_t t = time(NULL);

	cpu_model(m->cpu, sizeof(m->cpu));
	m->cores = sysconf(_SC_NPROCESSORS_ONLN);
	if (uname(&u) == 0)
		snprintf(m->kernel, sizeof(m->kernel), "%s %s %s", u.sysname,
			 u.release, u.machine);
	else
		snprintf(m->kernel, sizeof(m->kernel), "unknown");
	strftime(m->date, sizeof(m->date), "%Y-%m-%dT%H:%M:%SZ", gmtime(&t));
}

static const char *target_text(const struct metric *m, char *buf)
{
	snprintf(buf, 32, "target%s%g", m->ge ? ">=" : "<=", m->target);
	return buf;
}

/*
 * PASS or MISS, judged on the ratio as printed (three significant
 * digits), so that a tool reading "ratio=1.20 target<=1.2" agrees.
 */
static int passes(const struct metric *m)
{
	char buf[24];
	double r;

	if (isnan(m->ratio) || !m->cond_ok)
		return 0;
	out_fmt(buf, sizeof(buf), m->ratio);
	r = strtod(buf, NULL);
	return m->ge ? r >= m->target : r <= m->target;
}

void out_table(const struct bench_cfg *cfg, struct figure **bases, int nb,
	       struct metric **ms, int nm)
{
	struct machine mc;
	char a[24], b[24], c[24], t[32];

	machine(&mc);
	printf("\ndsm-bench%s: %s, %ld cores, %s, %s\n",
	       cfg->quick ? " --quick" : "", mc.cpu, mc.cores, mc.kernel,
	       mc.date);
	printf("\n%-14s %-36s %19s %12s %12s %8s\n", "baseline", "", "value",
	       "median", "p99", "n");
	for (int i = 0; i < nb; i++) {
		const struct figure *f = bases[i];

		if (!f->have)
			continue;
		printf("%-14s %-36s %9s %-9s %9s %-2s %9s %-2s %8zu\n", f->key,
		       f->label, F(a, f->value), f->unit, F(b, f->median),
		       f->sunit, F(c, f->p99), f->sunit, f->count);
	}
	printf("\n%-19s %19s %12s %12s %8s %8s %-11s %s\n", "metric", "value",
	       "median", "p99", "n", "ratio", "target", "vs baseline");
	for (int i = 0; i < nm; i++) {
		const struct metric *m = ms[i];
		const struct figure *f = &m->f;
		char r[24];

		if (!f->have)
			continue;
		printf("%-19s %9s %-9s %9s %-2s %9s %-2s %8zu %8s %-11s %s%s%s\n",
		       f->key, F(a, f->value), f->unit, F(b, f->median),
		       f->sunit, F(c, f->p99), f->sunit, f->count,
		       F(r, m->ratio), target_text(m, t) + 6,
		       m->base ? m->base->key : "-", m->cond ? ", " : "",
		       m->cond ? m->cond : "");
	}
	printf("\n");
}

void out_results(struct metric **ms, int nm)
{
	for (int i = 0; i < nm; i++) {
		const struct metric *m = ms[i];
		char v[24], r[24], t[32];

		/* No figure or no baseline: no line (the run fails anyway). */
		if (!m->f.have || isnan(m->ratio))
			continue;
		printf("RESULT %s %s %s ratio=%s %s %s\n", m->f.key,
		       F(v, m->f.value), m->f.unit, F(r, m->ratio),
		       target_text(m, t), passes(m) ? "PASS" : "MISS");
	}
	fflush(stdout);
}

static void json_str(FILE *f, const char *s)
{
	fputc('"', f);
	for (; *s; s++) {
		if (*s == '"' || *s == '\\')
			fprintf(f, "\\%c", *s);
		else if ((unsigned char)*s < 0x20)
			fprintf(f, "\\u%04x", (unsigned char)*s);
		else
			fputc(*s, f);
	}
	fputc('"', f);
}

/* JSON has no NaN: null. */
static void json_num(FILE *f, double v)
{
	if (isnan(v) || isinf(v))
		fprintf(f, "null");
	else
		fprintf(f, "%.10g", v);
}

static void json_fig(FILE *f, const struct figure *x)
{
	fprintf(f, "\"label\": ");
	json_str(f, x->label);
	fprintf(f, ", \"value\": ");
	json_num(f, x->value);
	fprintf(f, ", \"unit\": \"%s\", \"median\": ", x->unit);
	json_num(f, x->median);
	fprintf(f, ", \"p99\": ");
	json_num(f, x->p99);
	fprintf(f, ", \"sample_unit\": \"%s\", \"count\": %zu", x->sunit,
		x->count);
	if (x->nx) {
		fprintf(f, ", \"extra\": {");
		for (int i = 0; i < x->nx; i++) {
			fprintf(f, "%s\"%s\": ", i ? ", " : "", x->x[i].k);
			json_num(f, x->x[i].v);
		}
		fprintf(f, "}");
	}
}

int out_json(const struct bench_cfg *cfg, struct figure **bases, int nb,
	     struct metric **ms, int nm)
{
	FILE *f = fopen(cfg->json, "w");
	struct machine mc;
	int first = 1;

	if (!f) {
		perror(cfg->json);
		return -1;
	}
	machine(&mc);
	fprintf(f,
		"{\n  \"date\": \"%s\",\n  \"machine\": {\"cpu\": ", mc.date);
	json_str(f, mc.cpu);
	fprintf(f, ", \"cores\": %ld, \"kernel\": ", mc.cores);
	json_str(f, mc.kernel);
	fprintf(f, "},\n  \"command\": ");
	json_str(f, cfg->command);
	fprintf(f, ",\n  \"quick\": %s,\n  \"baselines\": {",
		cfg->quick ? "true" : "false");
	for (int i = 0; i < nb; i++) {
		if (!bases[i]->have)
			continue;
		fprintf(f, "%s\n    \"%s\": {", first ? "" : ",",
			bases[i]->key);
		json_fig(f, bases[i]);
		fprintf(f, "}");
		first = 0;
	}
	fprintf(f, "\n  },\n  \"metrics\": {");
	first = 1;
	for (int i = 0; i < nm; i++) {
		const struct metric *m = ms[i];

		if (!m->f.have)
			continue;
		fprintf(f, "%s\n    \"%s\": {", first ? "" : ",", m->f.key);
		json_fig(f, &m->f);
		fprintf(f, ", \"baseline\": \"%s\", \"baseline_value\": ",
			m->base ? m->base->key : "");
		json_num(f, m->base ? m->base->value : NAN);
		fprintf(f, ", \"ratio\": ");
		json_num(f, m->ratio);
		fprintf(f, ", \"target\": \"%s", m->ge ? ">=" : "<=");
		json_num(f, m->target);
		fprintf(f, "\", \"pass\": %s}", passes(m) ? "true" : "false");
		first = 0;
	}
	fprintf(f, "\n  }\n}\n");
	if (fclose(f) != 0) {
		perror(cfg->json);
		return -1;
	}
	return 0;
}
