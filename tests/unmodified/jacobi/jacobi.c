/*
 * jacobi.c - a 2-D heat stencil (Jacobi iteration), double-buffered, the
 * interior rows split in blocks between the ranks, one pthread barrier per
 * iteration.  Every cell is computed by the same expression from the same
 * inputs whatever the number of ranks, so the final grid is bit-identical
 * for any DSM_NODES, natively or not.
 *
 *   jacobi [-s NAME] [-t SECS] [-k] ROWS COLS ITERS
 *
 * Fixed boundaries (top 100, bottom 10, left 25 + row, right row / 2),
 * interior 0 at the start.  Every rank prints, after the last iteration,
 *   "jacobi: result grid RxC iters I sum S fnv H"
 * with S the sum of the final grid in row-major order (%.17g) and H the
 * FNV-1a hash of its bytes.
 */
#include <stdio.h>

#include "unmod.h"

struct header {
	uint32_t ready;
	uint32_t rows, cols, iters;
	pthread_barrier_t bar;
};

#define HEADER 4096
#define MAX_DIM 2048

static size_t rows, cols;

static double *cell(double *grid, size_t i, size_t j)
{
	return &grid[i * cols + j];
}

static void init_grid(double *g)
{
	size_t i, j;

	for (i = 0; i < rows; i++)
		for (j = 0; j < cols; j++) {
			double v = 0.0;

			if (i == 0)
				v = 100.0;
			else if (i == rows - 1)
				v = 10.0;
			else if (j == 0)
				v = 25.0 + (double)i;
			else if (j == cols - 1)
				v = (double)i / 2.0;
			*cell(g, i, j) = v;
		}
}

int main(int argc, char **argv)
{
	int first = unmod_init("jacobi", argc, argv, "ROWS COLS ITERS");
	unsigned long long iters, it;
	size_t size, lo, hi, i, j, interior;
	struct header *h;
	double *grid[2], *fin, sum = 0.0;
	uint64_t fnv = UNMOD_FNV_INIT;
	char *base;

	if (argc - first != 3)
		unmod_usage("expected ROWS COLS ITERS");
	rows = unmod_number(argv[first], "ROWS", 3, MAX_DIM);
	cols = unmod_number(argv[first + 1], "COLS", 3, MAX_DIM);
	iters = unmod_number(argv[first + 2], "ITERS", 0, 1000000);
	size = HEADER + 2 * rows * cols * sizeof(double);
	size = (size + 65535) & ~(size_t)65535;

	base = unmod_attach(size);
	h = (struct header *)base;
	grid[0] = (double *)(base + HEADER);
	grid[1] = grid[0] + rows * cols;
	if (unmod.rank == 0) {
		h->rows = (uint32_t)rows;
		h->cols = (uint32_t)cols;
		h->iters = (uint32_t)iters;
		unmod_barrier_init(&h->bar, (unsigned)unmod.nodes);
		init_grid(grid[0]);
		init_grid(grid[1]);
		unmod_publish(&h->ready);
	} else {
		unmod_wait_ready(&h->ready);
	}
	unmod_barrier(&h->bar);
	if (h->rows != rows || h->cols != cols || h->iters != iters)
		unmod_die("rank 0 runs %ux%u x %u iterations, this rank was told "
			  "%zux%zu x %llu", h->rows, h->cols, h->iters, rows, cols,
			  iters);

	interior = rows - 2;
	lo = 1 + interior * (size_t)unmod.rank / (size_t)unmod.nodes;
	hi = 1 + interior * (size_t)(unmod.rank + 1) / (size_t)unmod.nodes;
	unmod_info("started: rows %zu..%zu of %zux%zu, %llu iterations", lo,
		   hi - 1, rows, cols, iters);

	for (it = 0; it < iters; it++) {
		double *src = grid[it % 2], *dst = grid[(it + 1) % 2];

		for (i = lo; i < hi; i++)
			for (j = 1; j < cols - 1; j++)
				*cell(dst, i, j) = 0.25 * (*cell(src, i - 1, j) +
							   *cell(src, i + 1, j) +
							   *cell(src, i, j - 1) +
							   *cell(src, i, j + 1));
		unmod_barrier(&h->bar);
	}

	fin = grid[iters % 2];
	for (i = 0; i < rows; i++)
		for (j = 0; j < cols; j++)
			sum += *cell(fin, i, j);
	fnv = unmod_fnv(fnv, fin, rows * cols * sizeof(double));
	unmod_result("grid %zux%zu iters %llu sum %.17g fnv %016llx", rows, cols,
		     iters, sum, (unsigned long long)fnv);
	unmod_barrier(&h->bar);
	unmod_finish(base, size);
	return 0;
}
