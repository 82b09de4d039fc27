/* GEMM micro-benchmark: GFLOP/s and % of peak of ember_sgemm for square sizes at 1 and 2 threads.
 * Usage: gemm [--peak GFLOPS_PER_CORE] [--threads 1,2] [--max N] [--size N] [--packed]
 * Peak per core defaults to 117 (AVX2 FMA: 2 x 8-wide FMA per cycle at ~3.65 GHz, this dev machine). */
#include "kernels/kernels.h"

#include "ember/cpu.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static float *rand_matrix(int64_t n) {
    float *p = ember_malloc_aligned((size_t)n * sizeof *p);
    for (int64_t i = 0; i < n; i++) p[i] = (float)rand() / (float)RAND_MAX - 0.5f;
    return p;
}

/* Best time of repeated runs, repeating for at least ~0.25 s (and at least 3 runs). */
static double time_gemm(ember_pool *pool, int64_t n, const float *A, const float *B, const void *pb, float *C) {
    double best = 1e30, start = now();
    ember_gemm_operand oa = {.data = A, .ld = n}, ob = {.data = B, .ld = n}, opb = {.packed = pb};
    for (int r = 0; r < 3 || now() - start < 0.25; r++) {
        double t0 = now();
        ember_sgemm_packed(pool, n, n, n, 1.0f, &oa, pb ? &opb : &ob, 0.0f, C, n, NULL);
        double t = now() - t0;
        if (t < best) best = t;
    }
    return best;
}

int main(int argc, char **argv) {
    double peak = 117.0;
    int64_t maxn = 2048;
    bool packed = false;
    int64_t only = 0;
    int threads[4] = {1, 2}, nthreads = 2;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--peak") && i + 1 < argc) peak = atof(argv[++i]);
        else if (!strcmp(argv[i], "--max") && i + 1 < argc) maxn = atoll(argv[++i]);
        else if (!strcmp(argv[i], "--packed")) packed = true;
        else if (!strcmp(argv[i], "--size") && i + 1 < argc) only = atoll(argv[++i]);
        else if (!strcmp(argv[i], "--threads") && i + 1 < argc) {
            nthreads = sscanf(argv[++i], "%d,%d,%d,%d", &threads[0], &threads[1], &threads[2], &threads[3]);
        } else {
            fprintf(stderr, "usage: %s [--peak GFLOPS_PER_CORE] [--threads 1,2] [--max N] [--size N] [--packed]\n", argv[0]);
            return 1;
        }
    }
    char cpu[256];
    ember_cpu_describe(cpu, sizeof cpu);
    printf("# %s; kernels %s; peak %.1f GFLOP/s per core; B %s\n", cpu, ember_kernels_isa(), peak,
           packed ? "pre-packed" : "packed per call");
    printf("%6s %8s %10s %10s %8s\n", "size", "threads", "ms", "GFLOP/s", "%peak");
    int64_t sizes[] = {64, 128, 256, 384, 512, 768, 1024, 1536, 2048};
    size_t nsizes = sizeof sizes / sizeof sizes[0];
    if (only) {
        sizes[0] = maxn = only;
        nsizes = 1;
    }
    for (int t = 0; t < nthreads; t++) {
        ember_pool *pool = NULL;
        if (ember_pool_create(threads[t], &pool) != EMBER_OK) return 3;
        for (size_t s = 0; s < nsizes && sizes[s] <= maxn; s++) {
            int64_t n = sizes[s];
            float *A = rand_matrix(n * n), *B = rand_matrix(n * n), *C = rand_matrix(n * n);
            void *pb = NULL;
            if (packed) {
                pb = ember_malloc_aligned(ember_sgemm_pack_b_size(n, n));
                ember_sgemm_pack_b(false, n, n, B, n, pb);
            }
            double sec = time_gemm(pool, n, A, B, pb, C), gf = 2.0 * (double)n * n * n / sec * 1e-9;
            printf("%6lld %8d %10.3f %10.1f %7.1f%%\n", (long long)n, threads[t], sec * 1e3, gf,
                   100.0 * gf / (peak * threads[t]));
            fflush(stdout);
            ember_free_aligned(A), ember_free_aligned(B), ember_free_aligned(C), ember_free_aligned(pb);
        }
        ember_pool_destroy(pool);
    }
    return 0;
}
