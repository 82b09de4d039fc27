/* GEMM micro-benchmark: GFLOP/s and % of peak of ember_sgemm for square sizes at 1 and 2 threads.
 * Usage: gemm [--peak GFLOPS_PER_CORE] [--threads 1,2] [--max N] [--size N] [--sizes 512,1024,2048]
 * [--packed] Peak per core defaults to 117 (AVX2 FMA: 2 x 8-wide FMA per cycle at ~3.65 GHz, this dev
 * machine). The live peak is measured too, by a register-only loop of independent FMAs on one core: on a
 * shared VM the clock and the share of the core vary, so %live (CPU-time GFLOP/s over the live peak) is the
 * fair ratio. */
#include "kernels/kernels.h"

#include "ember/cpu.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double clock_s(clockid_t id) {
    struct timespec ts;
    clock_gettime(id, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}
static double now(void) { return clock_s(CLOCK_MONOTONIC); }
/* CPU time of the whole process: on a shared machine it excludes the time other jobs held our cores. */
static double cpu_now(void) { return clock_s(CLOCK_PROCESS_CPUTIME_ID); }

#if defined(__x86_64__)
#include <immintrin.h>
/* GFLOP/s of 12 independent FMA chains on one core for ~20 ms: the best any GEMM could do now. */
__attribute__((target("avx2,fma"))) static double live_peak(void) {
    /* distinct starting values, or the compiler merges the identical chains into one */
    __m256 c0 = _mm256_set1_ps(0.0f), c1 = _mm256_set1_ps(1.0f), c2 = _mm256_set1_ps(2.0f), c3 = _mm256_set1_ps(3.0f),
           c4 = _mm256_set1_ps(4.0f), c5 = _mm256_set1_ps(5.0f), c6 = _mm256_set1_ps(6.0f), c7 = _mm256_set1_ps(7.0f),
           c8 = _mm256_set1_ps(8.0f), c9 = _mm256_set1_ps(9.0f), c10 = _mm256_set1_ps(10.0f),
           c11 = _mm256_set1_ps(11.0f), a = _mm256_set1_ps(0.999f), b = _mm256_set1_ps(1e-3f);
    long n = 0;
    double t0 = cpu_now(), t;
    do {
        for (int i = 0; i < 10000; i++) {
            c0 = _mm256_fmadd_ps(c0, a, b), c1 = _mm256_fmadd_ps(c1, a, b), c2 = _mm256_fmadd_ps(c2, a, b);
            c3 = _mm256_fmadd_ps(c3, a, b), c4 = _mm256_fmadd_ps(c4, a, b), c5 = _mm256_fmadd_ps(c5, a, b);
            c6 = _mm256_fmadd_ps(c6, a, b), c7 = _mm256_fmadd_ps(c7, a, b), c8 = _mm256_fmadd_ps(c8, a, b);
            c9 = _mm256_fmadd_ps(c9, a, b), c10 = _mm256_fmadd_ps(c10, a, b), c11 = _mm256_fmadd_ps(c11, a, b);
        }
        n += 10000;
    } while ((t = cpu_now() - t0) < 0.05);
    __m256 s = _mm256_add_ps(_mm256_add_ps(_mm256_add_ps(c0, c1), _mm256_add_ps(c2, c3)),
                             _mm256_add_ps(_mm256_add_ps(c4, c5), _mm256_add_ps(c6, c7)));
    s = _mm256_add_ps(s, _mm256_add_ps(_mm256_add_ps(c8, c9), _mm256_add_ps(c10, c11)));
    volatile float sink = _mm256_cvtss_f32(s);
    (void)sink;
    return (double)n * 12 * 16 / t * 1e-9;
}
#else
static double live_peak(void) { return 0.0; }
#endif

static float *rand_matrix(int64_t n) {
    float *p = ember_malloc_aligned((size_t)n * sizeof *p);
    for (int64_t i = 0; i < n; i++) p[i] = (float)rand() / (float)RAND_MAX - 0.5f;
    return p;
}

/* Best wall time and best CPU time of repeated runs, for at least ~0.25 s (and at least 3 runs). */
static void time_gemm(ember_pool *pool, int64_t n, const float *A, const float *B, const void *pb, float *C,
                      double *wall, double *cpu) {
    double start = now();
    *wall = *cpu = 1e30;
    ember_gemm_operand oa = {.data = A, .ld = n}, ob = {.data = B, .ld = n}, opb = {.packed = pb};
    for (int r = 0; r < 3 || now() - start < 0.25; r++) {
        double t0 = now(), c0 = cpu_now();
        ember_sgemm_packed(pool, n, n, n, 1.0f, &oa, pb ? &opb : &ob, 0.0f, C, n, NULL);
        double t = now() - t0, c = cpu_now() - c0;
        if (t < *wall) *wall = t;
        if (c < *cpu) *cpu = c;
    }
}

int main(int argc, char **argv) {
    double peak = 117.0;
    int64_t maxn = 2048;
    bool packed = false;
    int64_t only = 0;
    const char *sizes_arg = NULL;
    int threads[4] = {1, 2}, nthreads = 2;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--peak") && i + 1 < argc) peak = atof(argv[++i]);
        else if (!strcmp(argv[i], "--max") && i + 1 < argc) maxn = atoll(argv[++i]);
        else if (!strcmp(argv[i], "--packed")) packed = true;
        else if (!strcmp(argv[i], "--size") && i + 1 < argc) only = atoll(argv[++i]);
        else if (!strcmp(argv[i], "--sizes") && i + 1 < argc)
            sizes_arg = argv[++i];
        else if (!strcmp(argv[i], "--threads") && i + 1 < argc) {
            nthreads = sscanf(argv[++i], "%d,%d,%d,%d", &threads[0], &threads[1], &threads[2], &threads[3]);
        } else {
            fprintf(stderr,
                    "usage: %s [--peak GFLOPS_PER_CORE] [--threads 1,2] [--max N] [--size N] [--sizes N,N..] "
                    "[--packed]\n",
                    argv[0]);
            return 1;
        }
    }
    char desc[256];
    ember_cpu_describe(desc, sizeof desc);
    printf("# %s; kernels %s; peak %.1f GFLOP/s per core; B %s\n", desc, ember_kernels_isa(), peak,
           packed ? "pre-packed" : "packed per call");
    printf("# GFLOP/s and %%peak use wall time; cpu-GF/s uses process CPU time per thread, live = FMA-loop peak\n");
    double live0 = live_peak();
    live0 = live0 > live_peak() ? live0 : live_peak();
    printf("# FMA-loop peak now: %.1f GFLOP/s per core (nominal %.1f)\n", live0, peak);
    printf("%6s %7s %9s %8s %7s %9s %9s %7s\n", "size", "threads", "ms", "GFLOP/s", "%peak", "cpu-GF/s", "live-GF/s",
           "%live");
    int64_t sizes[16] = {64, 128, 256, 384, 512, 768, 1024, 1536, 2048};
    size_t nsizes = 9;
    if (only) {
        sizes[0] = maxn = only;
        nsizes = 1;
    } else if (sizes_arg) {
        nsizes = 0;
        for (const char *p = sizes_arg; *p && nsizes < 16; p = strchr(p, ',') ? strchr(p, ',') + 1 : "") {
            sizes[nsizes] = atoll(p);
            if (sizes[nsizes] > 0) nsizes++;
        }
        maxn = INT64_MAX;
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
            double live = live_peak(), wall, cpu, flop = 2.0 * (double)n * n * n;
            time_gemm(pool, n, A, B, pb, C, &wall, &cpu);
            live = (live + live_peak()) / 2;
            double gf = flop / wall * 1e-9, cgf = flop / (cpu / threads[t]) * 1e-9 / threads[t];
            printf("%6lld %7d %9.3f %8.1f %6.1f%% %9.1f %9.1f %6.1f%%\n", (long long)n, threads[t], wall * 1e3, gf,
                   100.0 * gf / (peak * threads[t]), cgf, live, live > 0 ? 100.0 * cgf / live : 0.0);
            fflush(stdout);
            ember_free_aligned(A), ember_free_aligned(B), ember_free_aligned(C), ember_free_aligned(pb);
        }
        ember_pool_destroy(pool);
    }
    return 0;
}
