/*
 * dgemm.c - the plain C side of bench/compute: C = A*B with OpenBLAS's cblas_dgemm for n x n
 * double matrices, each call timed alone with clock_gettime, GFLOP/s (2n^3 / time) printed one
 * per line. The code between the CELL markers is also what bench/compute/run sends to the
 * notebook as a cell, so both sides run exactly the same C.
 *
 * Usage: dgemm N REPS THREADS   (prints REPS lines of GFLOP/s)
 *        dgemm --config         (prints openblas_get_config())
 * Built by bench/compute/run with `cc -O2 dgemm.c -lopenblas`.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* BEGIN CELL */
#include <time.h>

#include <cblas.h>

double bench_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* reps timed calls of C = A*B (n x n, row-major) after untimed warm-up calls */
void bench_dgemm(int n, int reps)
{
    size_t nn = (size_t)n * (size_t)n;
    double *a = malloc(nn * sizeof *a), *b = malloc(nn * sizeof *b), *c = malloc(nn * sizeof *c);
    if (!a || !b || !c) {
        printf("out of memory\n");
        free(a);
        free(b);
        free(c);
        return;
    }
    for (size_t i = 0; i < nn; i++) {
        a[i] = (double)((i * 7 + 3) % 101) / 101.0 - 0.5;
        b[i] = (double)((i * 13 + 5) % 97) / 97.0 - 0.5;
        c[i] = 0;
    }
    /* warm up for a quarter of a second: a fresh process's thread pool and caches too */
    double w0 = bench_now();
    do
        cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1.0, a, n, b, n, 0.0, c, n);
    while (bench_now() - w0 < 0.25);
    for (int r = 0; r < reps; r++) {
        double t0 = bench_now();
        cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1.0, a, n, b, n, 0.0, c, n);
        double t1 = bench_now();
        printf("gflops=%.3f\n", 2.0 * n * n * (double)n / (t1 - t0) * 1e-9);
    }
    free(a);
    free(b);
    free(c);
}
/* END CELL */

int main(int argc, char **argv)
{
    if (argc == 2 && strcmp(argv[1], "--config") == 0) {
        printf("%s\n", openblas_get_config());
        return 0;
    }
    if (argc != 4) {
        fprintf(stderr, "usage: dgemm N REPS THREADS | dgemm --config\n");
        return 2;
    }
    int n = (int)strtol(argv[1], NULL, 10), reps = (int)strtol(argv[2], NULL, 10);
    int threads = (int)strtol(argv[3], NULL, 10);
    if (n < 1 || reps < 1 || threads < 1) {
        fprintf(stderr, "dgemm: N, REPS and THREADS must be positive\n");
        return 2;
    }
    openblas_set_num_threads(threads);
    bench_dgemm(n, reps);
    return 0;
}
