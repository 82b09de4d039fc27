/* AVX-512 GEMM micro-kernels: an 8 x 16 register block, one zmm accumulator per row, one B load per k step
 * and each A value broadcast straight from memory into its FMA ({1to16}). On Zen 4 a 512-bit FMA takes
 * both 256-bit pipes, so the peak is the AVX2 kernel's; what the block saves is work around the FMAs: a B
 * row serves 8 rows instead of 6, a tile's store and epilogue cover 1.33x the products with 8 stores
 * instead of 12, and fewer instructions issue per product. Measured (1x1-conv-shaped products, warm, B
 * read in place, best of 200, 1 thread): 105-116 GFLOP/s for the AVX2 6 x 16 kernel, 116-118 for this one.
 * 12 x 16 ran the same in isolation, but M = 128 (a 128-token encoder) left 8 rows to the row kernel and
 * MiniLM's MatMuls took 1.05x the AVX2 time; 8 divides nearly every channel and token count.
 * The conv and 3x3 depthwise rows of the table are in conv_avx512.c; packing, vector math, pooling, the
 * Winograd transforms and the channel-interleaved depthwise kernel are the AVX2 table's. */
#include "kernels/isa.h"

#include <immintrin.h>

#define MR 8
#define NR 16

/* The epilogue of one row (isa.h's ember_ukernel_post), with alpha and beta: v = alpha v (+ beta C) +
 * rbias + cbias, + res (before the clamp unless res_after), clamp, LeakyRelu / PRelu, + res (after). */
typedef struct {
    __m512 alpha, beta, cb, lo, hi;
    bool scale, read;
    const ember_ukernel_post *p; /* NULL: no post */
} finish;

static inline finish make_finish(float alpha, float beta, const ember_ukernel_post *post) {
    finish f = {.alpha = _mm512_set1_ps(alpha),
                .beta = _mm512_set1_ps(beta),
                .scale = alpha != 1.0f,
                .read = beta != 0.0f,
                .p = post};
    if (post) {
        f.cb = post->cbias ? _mm512_loadu_ps(post->cbias) : _mm512_setzero_ps();
        f.lo = _mm512_set1_ps(post->lo);
        f.hi = _mm512_set1_ps(post->hi);
    }
    return f;
}

/* The clamp (max / min return v when it is NaN) and then LeakyRelu / PRelu when p says so. */
static inline __m512 clamp_leaky(__m512 v, __m512 lo, __m512 hi, const ember_ukernel_post *p, int row) {
    v = _mm512_min_ps(hi, _mm512_max_ps(lo, v));
    if (p->leaky) {
        __m512 s = _mm512_set1_ps(p->slope ? p->slope[row] : p->alpha);
        v = _mm512_mask_mul_ps(v, _mm512_cmp_ps_mask(v, _mm512_setzero_ps(), _CMP_LT_OQ), v, s);
    }
    return v;
}

static inline __attribute__((always_inline)) void store_row(float *c, __m512 v, const finish *f, int row) {
    if (f->scale) v = _mm512_mul_ps(f->alpha, v);
    if (f->read) v = _mm512_fmadd_ps(f->beta, _mm512_loadu_ps(c), v);
    const ember_ukernel_post *p = f->p;
    if (p) {
        if (p->rbias) v = _mm512_add_ps(v, _mm512_set1_ps(p->rbias[row]));
        v = _mm512_add_ps(v, f->cb);
        const float *r = p->res ? p->res + row * p->ldr : NULL;
        if (r && !p->res_after) v = _mm512_add_ps(v, _mm512_loadu_ps(r));
        v = clamp_leaky(v, f->lo, f->hi, p, row);
        if (r && p->res_after) v = _mm512_add_ps(v, _mm512_loadu_ps(r));
    }
    _mm512_storeu_ps(c, v);
}

/* One k step: B's row at b against A's 8 values a[r * lda] (lda 1: a packed step), each broadcast from
 * memory into its FMA. Inlined by force, so that acc stays in registers. */
static inline __attribute__((always_inline)) void k_step(__m512 acc[MR], const float *a, int64_t lda,
                                                         const float *b) {
    __m512 bv = _mm512_loadu_ps(b);
#pragma GCC unroll 8
    for (int r = 0; r < MR; r++) acc[r] = _mm512_fmadd_ps(_mm512_set1_ps(a[r * lda]), bv, acc[r]);
}

/* ldb: the distance between B rows (NR for a packed sliver); lda: 0 for a packed A sliver ([k][MR]), else
 * A's 8 rows in place, lda apart. Inlined into one copy per caller below, so the packed cases keep fixed
 * offsets. */
static inline __attribute__((always_inline)) void ukernel_body(int64_t k, const float *a, int64_t lda,
                                                               const float *b, int64_t ldb, float *c,
                                                               int64_t ldc, float alpha, float beta,
                                                               const ember_ukernel_post *post) {
    /* a conv's usual epilogue (bias + clamp, maybe PRelu; alpha 1, C not read): the row bias starts the
     * sums and the store only clamps */
    bool plain = post && !post->cbias && !post->res && alpha == 1.0f && beta == 0.0f;
    const float *rb = plain ? post->rbias : NULL;
    __m512 acc[MR];
#pragma GCC unroll 8
    for (int r = 0; r < MR; r++) acc[r] = rb ? _mm512_set1_ps(rb[r]) : _mm512_setzero_ps();
#pragma GCC unroll 8
    for (int r = 0; r < MR; r++) _mm_prefetch((const char *)(c + r * ldc), _MM_HINT_T0);
    int64_t p = 0;
    if (lda) {
        for (; p < k; p++, a++, b += ldb) k_step(acc, a, lda, b);
    } else {
        for (; p + 4 <= k; p += 4) {
            /* A streams from L2 (the B sliver sits in L1): its lines 32 steps ahead, 2 per 4 steps used */
            const char *ahead = (const char *)(a + 32 * MR);
            _mm_prefetch(ahead, _MM_HINT_T0);
            _mm_prefetch(ahead + 64, _MM_HINT_T0);
#pragma GCC unroll 4
            for (int q = 0; q < 4; q++, a += MR, b += ldb) k_step(acc, a, 1, b);
        }
        for (; p < k; p++, a += MR, b += ldb) k_step(acc, a, 1, b);
    }
    if (plain) {
        __m512 lo = _mm512_set1_ps(post->lo), hi = _mm512_set1_ps(post->hi);
#pragma GCC unroll 8
        for (int r = 0; r < MR; r++) _mm512_storeu_ps(c + r * ldc, clamp_leaky(acc[r], lo, hi, post, r));
        return;
    }
    finish f = make_finish(alpha, beta, post);
#pragma GCC unroll 8
    for (int r = 0; r < MR; r++) store_row(c + r * ldc, acc[r], &f, r);
}

/* The packed entry, B read in place (row p of the sliver at b + p * ldb, ldb > NR), and A read in place too
 * (its 8 rows lda apart; B packed or in place). */
EMBER_UKERNEL_ENTRIES(ukernel_8x16, ukernel_body, NR)

/* ukernel_rows (isa.h): m < 8 rows, straight into C. A 512-bit FMA has 4 cycles of latency and issues one
 * per cycle, so fewer than 4 rows take k phases of their own chains (4 for 1 row, 2 for 2-3). Inlined per
 * m so that the accumulators stay in registers. */
static inline __attribute__((always_inline)) void rows_m(const int m, int64_t k, const float *a,
                                                         const float *b, int64_t ldb, float *c, int64_t ldc,
                                                         float alpha, float beta,
                                                         const ember_ukernel_post *post) {
    enum { MAX_PH = 4 };
    const int ph = m == 1 ? 4 : m <= 3 ? 2 : 1;
    __m512 acc[MAX_PH][MR - 1];
#pragma GCC unroll 4
    for (int q = 0; q < ph; q++)
#pragma GCC unroll 7
        for (int r = 0; r < m; r++) acc[q][r] = _mm512_setzero_ps();
    int64_t p = 0;
    for (; p + ph <= k; p += ph, a += ph * MR, b += ph * ldb)
#pragma GCC unroll 4
        for (int q = 0; q < ph; q++) {
            __m512 bv = _mm512_loadu_ps(b + q * ldb);
#pragma GCC unroll 7
            for (int r = 0; r < m; r++)
                acc[q][r] = _mm512_fmadd_ps(_mm512_set1_ps(a[q * MR + r]), bv, acc[q][r]);
        }
    for (; p < k; p++, a += MR, b += ldb) {
        __m512 bv = _mm512_loadu_ps(b);
#pragma GCC unroll 7
        for (int r = 0; r < m; r++) acc[0][r] = _mm512_fmadd_ps(_mm512_set1_ps(a[r]), bv, acc[0][r]);
    }
    finish f = make_finish(alpha, beta, post);
#pragma GCC unroll 7
    for (int r = 0; r < m; r++) {
        __m512 v = acc[0][r];
#pragma GCC unroll 4
        for (int q = 1; q < ph; q++) v = _mm512_add_ps(v, acc[q][r]);
        store_row(c + r * ldc, v, &f, r);
    }
}

#define ROWS_CASE(M)                                                                                         \
    case M:                                                                                                  \
        rows_m(M, k, a, b, ldb, c, ldc, alpha, beta, post);                                                  \
        break;

static void rows_8x16(int m, int64_t k, const float *a, const float *b, int64_t ldb, float *c, int64_t ldc,
                      float alpha, float beta, const ember_ukernel_post *post) {
    switch (m) {
        ROWS_CASE(1)
        ROWS_CASE(2)
        ROWS_CASE(3)
        ROWS_CASE(4)
        ROWS_CASE(5)
        ROWS_CASE(6)
    default:
        rows_m(7, k, a, b, ldb, c, ldc, alpha, beta, post);
        break;
    }
}

/* ukernel_narrow: the 8 rows of an A step in one 256-bit vector, n <= 4 columns of B broadcast, k phases of
 * their own chains (8, 4, 3, 2 for 1-4 columns) so that the FMAs do not wait on each other. 256-bit: this
 * core runs two such FMAs per cycle and one of 512 bits, which had computed these 8 rows in a masked half
 * (the 4-column edge of every 14x14 conv, N = 196, had been 2% of MobileFaceNet at 1 thread). Inlined per n.
 */
static inline __attribute__((always_inline)) void narrow_n(int64_t k, const float *a, const float *b,
                                                           int64_t ldb, const int n, float *c, int64_t ldc) {
    enum { MAX_PH = 8 };
    const int ph = n == 1 ? 8 : n == 2 ? 4 : n == 3 ? 3 : 2;
    __m256 acc[MAX_PH][4];
#pragma GCC unroll 8
    for (int q = 0; q < ph; q++)
#pragma GCC unroll 4
        for (int j = 0; j < n; j++) acc[q][j] = _mm256_setzero_ps();
    int64_t p = 0;
    for (; p + ph <= k; p += ph, a += ph * MR, b += ph * ldb)
#pragma GCC unroll 8
        for (int q = 0; q < ph; q++) {
            __m256 av = _mm256_loadu_ps(a + q * MR);
#pragma GCC unroll 4
            for (int j = 0; j < n; j++)
                acc[q][j] = _mm256_fmadd_ps(av, _mm256_broadcast_ss(b + q * ldb + j), acc[q][j]);
        }
    for (; p < k; p++, a += MR, b += ldb) {
        __m256 av = _mm256_loadu_ps(a);
#pragma GCC unroll 4
        for (int j = 0; j < n; j++) acc[0][j] = _mm256_fmadd_ps(av, _mm256_broadcast_ss(b + j), acc[0][j]);
    }
#pragma GCC unroll 4
    for (int j = 0; j < n; j++) {
        __m256 sum = acc[0][j];
#pragma GCC unroll 8
        for (int q = 1; q < ph; q++) sum = _mm256_add_ps(sum, acc[q][j]);
        float v[8];
        _mm256_storeu_ps(v, sum);
#pragma GCC unroll 8
        for (int r = 0; r < MR; r++) c[r * ldc + j] = v[r];
    }
}

static void narrow_8(int64_t k, const float *a, const float *b, int64_t ldb, int64_t n, float *c,
                     int64_t ldc) {
    switch (n) {
    case 1:
        narrow_n(k, a, b, ldb, 1, c, ldc);
        break;
    case 2:
        narrow_n(k, a, b, ldb, 2, c, ldc);
        break;
    case 3:
        narrow_n(k, a, b, ldb, 3, c, ldc);
        break;
    default:
        narrow_n(k, a, b, ldb, 4, c, ldc);
        break;
    }
}

void ember_kernels_init_avx512(ember_kernel_table *t) {
    ember_kernels_init_avx2(t);
    t->name = "avx512";
    t->mr = MR;
    t->nr = NR;
    t->ukernel = ukernel_8x16;
    t->ukernel_sb = ukernel_8x16_sb;
    t->ukernel_sa = ukernel_8x16_sa;
    t->ukernel_narrow = narrow_8;
    t->ukernel_rows = rows_8x16;
    ember_conv_init_avx512(t);
    ember_winograd_init_avx512(t);
}
