/* AVX2+FMA GEMM micro-kernel: 6 x 16 register block (12 ymm accumulators, 2 B loads, 1 A broadcast). */
#include "kernels/isa.h"
#include "kernels/x86/avx2.h"

#include <immintrin.h>

#define MR 6
#define NR 16

/* LeakyRelu / PRelu on 8 lanes: v < 0 ? v * s : v (NaN compares false and stays). */
static inline __m256 leaky8(__m256 v, __m256 s) {
    return _mm256_blendv_ps(v, _mm256_mul_ps(v, s), _mm256_cmp_ps(v, _mm256_setzero_ps(), _CMP_LT_OQ));
}

/* The clamp to [lo, hi] and then, when p says so, LeakyRelu / PRelu, on one row of 16 (v[0], v[1]). */
static inline __attribute__((always_inline)) void clamp_leaky(__m256 v[2], __m256 lo, __m256 hi,
                                                              const ember_ukernel_post *p, int row) {
    v[0] = _mm256_min_ps(hi, _mm256_max_ps(lo, v[0])); /* max / min return v when it is NaN */
    v[1] = _mm256_min_ps(hi, _mm256_max_ps(lo, v[1]));
    if (p->leaky) {
        __m256 s = _mm256_set1_ps(p->slope ? p->slope[row] : p->alpha);
        v[0] = leaky8(v[0], s), v[1] = leaky8(v[1], s);
    }
}

/* alpha * acc (+ beta * C) for one row of 16, then the fused bias / clamp when pv says so. */
typedef struct {
    __m256 alpha, beta, cb0, cb1, lo, hi;
    int read;
    const ember_ukernel_post *p; /* NULL: no post */
} finish;

/* The vector constants once per tile; the rest is read through p. */
static inline finish make_finish(float alpha, float beta, const ember_ukernel_post *post) {
    finish f = {
        .alpha = _mm256_set1_ps(alpha), .beta = _mm256_set1_ps(beta), .read = beta != 0.0f, .p = post};
    if (post) {
        f.cb0 = post->cbias ? _mm256_loadu_ps(post->cbias) : _mm256_setzero_ps();
        f.cb1 = post->cbias ? _mm256_loadu_ps(post->cbias + 8) : _mm256_setzero_ps();
        f.lo = _mm256_set1_ps(post->lo);
        f.hi = _mm256_set1_ps(post->hi);
    }
    return f;
}

/* Inlined by force: gcc had made it a call from rows_m, and a 2-row tile then took 1.4x a full one's time. */
static inline __attribute__((always_inline)) void store_row(float *c, __m256 lo, __m256 hi, const finish *f,
                                                            int row) {
    if (f->read) {
        lo = _mm256_fmadd_ps(f->beta, _mm256_loadu_ps(c), _mm256_mul_ps(f->alpha, lo));
        hi = _mm256_fmadd_ps(f->beta, _mm256_loadu_ps(c + 8), _mm256_mul_ps(f->alpha, hi));
    } else {
        lo = _mm256_mul_ps(f->alpha, lo);
        hi = _mm256_mul_ps(f->alpha, hi);
    }
    const ember_ukernel_post *p = f->p;
    if (p) {
        __m256 rb = p->rbias ? _mm256_broadcast_ss(p->rbias + row) : _mm256_setzero_ps();
        lo = _mm256_add_ps(lo, _mm256_add_ps(rb, f->cb0));
        hi = _mm256_add_ps(hi, _mm256_add_ps(rb, f->cb1));
        const float *r = p->res ? p->res + row * p->ldr : NULL;
        if (r && !p->res_after) {
            lo = _mm256_add_ps(lo, _mm256_loadu_ps(r));
            hi = _mm256_add_ps(hi, _mm256_loadu_ps(r + 8));
        }
        __m256 v[2] = {lo, hi};
        clamp_leaky(v, f->lo, f->hi, p, row);
        lo = v[0], hi = v[1];
        if (r && p->res_after) {
            lo = _mm256_add_ps(lo, _mm256_loadu_ps(r));
            hi = _mm256_add_ps(hi, _mm256_loadu_ps(r + 8));
        }
    }
    _mm256_storeu_ps(c, lo);
    _mm256_storeu_ps(c + 8, hi);
}

/* The store of a plain tile (ukernel_body): the sums already hold the row bias. */
static inline void plain_row(float *c, __m256 v0, __m256 v1, __m256 lo, __m256 hi, const ember_ukernel_post *p,
                             int row) {
    __m256 v[2] = {v0, v1};
    clamp_leaky(v, lo, hi, p, row);
    _mm256_storeu_ps(c, v[0]);
    _mm256_storeu_ps(c + 8, v[1]);
}

#define STEP(a, b)                                                                                            \
    do {                                                                                                      \
        __m256 b0 = _mm256_loadu_ps(b), b1 = _mm256_loadu_ps((b) + 8), av;                                    \
        av = _mm256_broadcast_ss((a) + 0);                                                                    \
        c00 = _mm256_fmadd_ps(av, b0, c00);                                                                   \
        c01 = _mm256_fmadd_ps(av, b1, c01);                                                                   \
        av = _mm256_broadcast_ss((a) + 1);                                                                    \
        c10 = _mm256_fmadd_ps(av, b0, c10);                                                                   \
        c11 = _mm256_fmadd_ps(av, b1, c11);                                                                   \
        av = _mm256_broadcast_ss((a) + 2);                                                                    \
        c20 = _mm256_fmadd_ps(av, b0, c20);                                                                   \
        c21 = _mm256_fmadd_ps(av, b1, c21);                                                                   \
        av = _mm256_broadcast_ss((a) + 3);                                                                    \
        c30 = _mm256_fmadd_ps(av, b0, c30);                                                                   \
        c31 = _mm256_fmadd_ps(av, b1, c31);                                                                   \
        av = _mm256_broadcast_ss((a) + 4);                                                                    \
        c40 = _mm256_fmadd_ps(av, b0, c40);                                                                   \
        c41 = _mm256_fmadd_ps(av, b1, c41);                                                                   \
        av = _mm256_broadcast_ss((a) + 5);                                                                    \
        c50 = _mm256_fmadd_ps(av, b0, c50);                                                                   \
        c51 = _mm256_fmadd_ps(av, b1, c51);                                                                   \
    } while (0)

/* One step with A in place: value q of each of the 6 rows a0 + r * lda. */
#define STEP_SA(a0, lda, q, b)                                                                                \
    do {                                                                                                      \
        __m256 b0 = _mm256_loadu_ps(b), b1 = _mm256_loadu_ps((b) + 8), av;                                    \
        av = _mm256_broadcast_ss((a0) + (q));                                                                 \
        c00 = _mm256_fmadd_ps(av, b0, c00), c01 = _mm256_fmadd_ps(av, b1, c01);                               \
        av = _mm256_broadcast_ss((a0) + (lda) + (q));                                                         \
        c10 = _mm256_fmadd_ps(av, b0, c10), c11 = _mm256_fmadd_ps(av, b1, c11);                               \
        av = _mm256_broadcast_ss((a0) + 2 * (lda) + (q));                                                     \
        c20 = _mm256_fmadd_ps(av, b0, c20), c21 = _mm256_fmadd_ps(av, b1, c21);                               \
        av = _mm256_broadcast_ss((a0) + 3 * (lda) + (q));                                                     \
        c30 = _mm256_fmadd_ps(av, b0, c30), c31 = _mm256_fmadd_ps(av, b1, c31);                               \
        av = _mm256_broadcast_ss((a0) + 4 * (lda) + (q));                                                     \
        c40 = _mm256_fmadd_ps(av, b0, c40), c41 = _mm256_fmadd_ps(av, b1, c41);                               \
        av = _mm256_broadcast_ss((a0) + 5 * (lda) + (q));                                                     \
        c50 = _mm256_fmadd_ps(av, b0, c50), c51 = _mm256_fmadd_ps(av, b1, c51);                               \
    } while (0)

#if defined(__x86_64__) && defined(__GNUC__)
/* The 4-step body as assembly: with intrinsics, gcc 12 hoisted loads of later steps and spilled 4 of the
 * 12 accumulators to the stack every 4 steps (their FMA chains then ran through store forwarding); here
 * the accumulators stay in 12 registers and ymm13-15 hold the two B vectors and the A broadcast. */
#define ASM_ROW(S, I, R0, R1)                                                                                 \
    "vbroadcastss " #S "*24+" #I "*4(%[a]), %%ymm15\n\t"                                                   \
    "vfmadd231ps %%ymm13, %%ymm15, %[" #R0 "]\n\t"                                                          \
    "vfmadd231ps %%ymm14, %%ymm15, %[" #R1 "]\n\t"
#define ASM_STEP(S)                                                                                           \
    "vmovups " #S "*64(%[b]), %%ymm13\n\t"                                                                  \
    "vmovups " #S "*64+32(%[b]), %%ymm14\n\t"                                                               \
    ASM_ROW(S, 0, c00, c01) ASM_ROW(S, 1, c10, c11) ASM_ROW(S, 2, c20, c21) ASM_ROW(S, 3, c30, c31)          \
    ASM_ROW(S, 4, c40, c41) ASM_ROW(S, 5, c50, c51)
#define ACCS                                                                                                  \
    [c00] "+x"(c00), [c01] "+x"(c01), [c10] "+x"(c10), [c11] "+x"(c11), [c20] "+x"(c20), [c21] "+x"(c21),     \
        [c30] "+x"(c30), [c31] "+x"(c31), [c40] "+x"(c40), [c41] "+x"(c41), [c50] "+x"(c50), [c51] "+x"(c51)
#define STEP4(a, b)                                                                                           \
    __asm__(ASM_STEP(0) ASM_STEP(1) ASM_STEP(2) ASM_STEP(3)                                                   \
            : ACCS                                                                                            \
            : [a] "r"(a), [b] "r"(b), "m"(*(const float(*)[4 * MR])(a)), "m"(*(const float(*)[4 * NR])(b))     \
            : "xmm13", "xmm14", "xmm15")
/* The same 4 steps with B rows ldb bytes apart in memory (an unpacked B; b is advanced past them). */
#define ASM_STEP_SB(S)                                                                                        \
    "vmovups (%[b]), %%ymm13\n\t"                                                                            \
    "vmovups 32(%[b]), %%ymm14\n\t"                                                                          \
    "add %[ldb], %[b]\n\t"                                                                                   \
    ASM_ROW(S, 0, c00, c01) ASM_ROW(S, 1, c10, c11) ASM_ROW(S, 2, c20, c21) ASM_ROW(S, 3, c30, c31)          \
    ASM_ROW(S, 4, c40, c41) ASM_ROW(S, 5, c50, c51)
#define STEP4_SB(a, b, ldb)                                                                                   \
    __asm__(ASM_STEP_SB(0) ASM_STEP_SB(1) ASM_STEP_SB(2) ASM_STEP_SB(3)                                       \
            : ACCS, [b] "+r"(b)                                                                               \
            : [a] "r"(a), [ldb] "r"((ldb) * (int64_t)sizeof(float)), "m"(*(const float(*)[4 * MR])(a))        \
            : "xmm13", "xmm14", "xmm15", "memory")
/* The same 4 steps with A read in place too: row r's next 4 values at a0 + r * L (L = lda in bytes; rows 3
 * and 5 from a3 = a0 + 3 L, as x86 addresses scale an index by 1, 2, 4 or 8 only); the caller advances a0
 * and a3. */
#define ASM_ROW_SA(S, ADDR, R0, R1)                                                                           \
    "vbroadcastss " #S "*4" ADDR ", %%ymm15\n\t"                                                            \
    "vfmadd231ps %%ymm13, %%ymm15, %[" #R0 "]\n\t"                                                          \
    "vfmadd231ps %%ymm14, %%ymm15, %[" #R1 "]\n\t"
#define ASM_STEP_SA(S)                                                                                        \
    "vmovups (%[b]), %%ymm13\n\t"                                                                            \
    "vmovups 32(%[b]), %%ymm14\n\t"                                                                          \
    "add %[ldb], %[b]\n\t"                                                                                   \
    ASM_ROW_SA(S, "(%[a0])", c00, c01) ASM_ROW_SA(S, "(%[a0],%[L],1)", c10, c11)                             \
    ASM_ROW_SA(S, "(%[a0],%[L],2)", c20, c21) ASM_ROW_SA(S, "(%[a3])", c30, c31)                             \
    ASM_ROW_SA(S, "(%[a0],%[L],4)", c40, c41) ASM_ROW_SA(S, "(%[a3],%[L],2)", c50, c51)
#define STEP4_SA(pa0, pa3, lbytes, b, ldb)                                                                    \
    __asm__(ASM_STEP_SA(0) ASM_STEP_SA(1) ASM_STEP_SA(2) ASM_STEP_SA(3)                                       \
            : ACCS, [b] "+r"(b)                                                                               \
            : [a0] "r"(pa0), [a3] "r"(pa3), [L] "r"(lbytes), [ldb] "r"((ldb) * (int64_t)sizeof(float))        \
            : "xmm13", "xmm14", "xmm15", "memory")
#else
#define STEP4_SA(pa0, pa3, lbytes, b, ldb)                                                                    \
    do {                                                                                                      \
        for (int s_ = 0; s_ < 4; s_++, (b) += (ldb)) STEP_SA(pa0, (lbytes) / (int64_t)sizeof(float), s_, b); \
    } while (0)
#define STEP4_SB(a, b, ldb)                                                                                   \
    do {                                                                                                      \
        for (int s_ = 0; s_ < 4; s_++, (b) += (ldb)) STEP((a) + s_ * MR, b);                                  \
    } while (0)
#define STEP4(a, b)                                                                                           \
    do {                                                                                                      \
        STEP(a, b);                                                                                           \
        STEP((a) + MR, (b) + NR);                                                                             \
        STEP((a) + 2 * MR, (b) + 2 * NR);                                                                     \
        STEP((a) + 3 * MR, (b) + 3 * NR);                                                                     \
    } while (0)
#endif

/* ldb: the distance between B rows, NR for a packed sliver (then the steps use fixed offsets); lda: 0 for a
 * packed A sliver, else A's 6 rows in place, lda apart. The compiler makes one copy per caller below. */
static inline __attribute__((always_inline)) void
ukernel_body(int64_t k, const float *a, int64_t lda, const float *b, int64_t ldb, float *c, int64_t ldc,
             float alpha, float beta, const ember_ukernel_post *post) {
    /* bias + clamp (+ LeakyRelu / PRelu) only, a conv's usual epilogue, alpha 1, C not read: the row bias
     * starts the sums and the store only clamps, so the 12 sums and the constants fit the registers (short-K
     * tiles, e.g. 1x1 convs over 32-64 channels, spent a fifth of their time around the loop) */
    bool plain = post && !post->cbias && !post->res && alpha == 1.0f && beta == 0.0f;
    const float *rb = plain ? post->rbias : NULL;
    __m256 c00 = rb ? _mm256_broadcast_ss(rb) : _mm256_setzero_ps(), c01 = c00;
    __m256 c10 = rb ? _mm256_broadcast_ss(rb + 1) : c00, c11 = c10;
    __m256 c20 = rb ? _mm256_broadcast_ss(rb + 2) : c00, c21 = c20;
    __m256 c30 = rb ? _mm256_broadcast_ss(rb + 3) : c00, c31 = c30;
    __m256 c40 = rb ? _mm256_broadcast_ss(rb + 4) : c00, c41 = c40;
    __m256 c50 = rb ? _mm256_broadcast_ss(rb + 5) : c00, c51 = c50;
    for (int i = 0; i < MR; i++) _mm_prefetch((const char *)(c + i * ldc + 4 * NR), _MM_HINT_T0);
    int64_t p = 0;
    if (lda) {
        const float *a3 = a + 3 * lda;
        int64_t L = lda * (int64_t)sizeof(float);
        for (; p + 4 <= k; p += 4, a += 4, a3 += 4) STEP4_SA(a, a3, L, b, ldb);
        for (; p < k; p++, a++, b += ldb) STEP_SA(a, lda, 0, b);
    } else if (ldb == NR) {
        for (; p + 4 <= k; p += 4, a += 4 * MR, b += 4 * NR) {
            /* A streams from L2 (the B sliver sits in L1): fetch 32 steps ahead, one line per 1.5 used */
            _mm_prefetch((const char *)(a + 32 * MR), _MM_HINT_T0);
            STEP4(a, b);
        }
    } else {
        for (; p + 4 <= k; p += 4, a += 4 * MR) {
            _mm_prefetch((const char *)(a + 32 * MR), _MM_HINT_T0);
            STEP4_SB(a, b, ldb);
        }
    }
    if (!lda)
        for (; p < k; p++, a += MR, b += ldb) STEP(a, b);
    if (plain) {
        __m256 lo = _mm256_set1_ps(post->lo), hi = _mm256_set1_ps(post->hi);
        plain_row(c + 0 * ldc, c00, c01, lo, hi, post, 0);
        plain_row(c + 1 * ldc, c10, c11, lo, hi, post, 1);
        plain_row(c + 2 * ldc, c20, c21, lo, hi, post, 2);
        plain_row(c + 3 * ldc, c30, c31, lo, hi, post, 3);
        plain_row(c + 4 * ldc, c40, c41, lo, hi, post, 4);
        plain_row(c + 5 * ldc, c50, c51, lo, hi, post, 5);
        return;
    }
    finish f = make_finish(alpha, beta, post);
    store_row(c + 0 * ldc, c00, c01, &f, 0);
    store_row(c + 1 * ldc, c10, c11, &f, 1);
    store_row(c + 2 * ldc, c20, c21, &f, 2);
    store_row(c + 3 * ldc, c30, c31, &f, 3);
    store_row(c + 4 * ldc, c40, c41, &f, 4);
    store_row(c + 5 * ldc, c50, c51, &f, 5);
}

/* The packed entry, B read in place (row p of the sliver at b + p * ldb, ldb > NR), and A read in place too
 * (its 6 rows lda apart; B packed or in place). */
EMBER_UKERNEL_ENTRIES(ukernel_6x16, ukernel_body, NR)

/* ukernel_rows (isa.h): m < 6 rows of the tile, stored through the full tile's store_row. In k phases, one
 * FMA chain each per accumulator (2 for up to 3 rows): 8 or more chains keep both FMA pipes busy. Inlined
 * per m so that the accumulators stay in registers (at most 12, as the 6 x 16 kernel's). */
static inline __attribute__((always_inline)) void rows_m(const int m, int64_t k, const float *a,
                                                         const float *b, int64_t ldb, float *c, int64_t ldc,
                                                         float alpha, float beta,
                                                         const ember_ukernel_post *post) {
    const int ph = m <= 3 ? 2 : 1;
    __m256 acc[2][MR - 1][2];
#pragma GCC unroll 2
    for (int q = 0; q < ph; q++)
#pragma GCC unroll 5
        for (int r = 0; r < m; r++) acc[q][r][0] = acc[q][r][1] = _mm256_setzero_ps();
    int64_t p = 0;
#pragma GCC unroll 4
    for (; p + ph <= k; p += ph, a += ph * MR, b += ph * ldb)
#pragma GCC unroll 2
        for (int q = 0; q < ph; q++) {
            __m256 b0 = _mm256_loadu_ps(b + q * ldb), b1 = _mm256_loadu_ps(b + q * ldb + 8);
#pragma GCC unroll 5
            for (int r = 0; r < m; r++) {
                __m256 av = _mm256_broadcast_ss(a + q * MR + r);
                acc[q][r][0] = _mm256_fmadd_ps(av, b0, acc[q][r][0]);
                acc[q][r][1] = _mm256_fmadd_ps(av, b1, acc[q][r][1]);
            }
        }
    for (; p < k; p++, a += MR, b += ldb) {
        __m256 b0 = _mm256_loadu_ps(b), b1 = _mm256_loadu_ps(b + 8);
#pragma GCC unroll 5
        for (int r = 0; r < m; r++) {
            __m256 av = _mm256_broadcast_ss(a + r);
            acc[0][r][0] = _mm256_fmadd_ps(av, b0, acc[0][r][0]);
            acc[0][r][1] = _mm256_fmadd_ps(av, b1, acc[0][r][1]);
        }
    }
    finish f = make_finish(alpha, beta, post);
#pragma GCC unroll 5
    for (int r = 0; r < m; r++) {
        __m256 lo = acc[0][r][0], hi = acc[0][r][1];
        if (ph == 2) lo = _mm256_add_ps(lo, acc[1][r][0]), hi = _mm256_add_ps(hi, acc[1][r][1]);
        store_row(c + r * ldc, lo, hi, &f, r);
    }
}

static void rows_6x16(int m, int64_t k, const float *a, const float *b, int64_t ldb, float *c, int64_t ldc,
                      float alpha, float beta, const ember_ukernel_post *post) {
    switch (m) {
    case 1:
        rows_m(1, k, a, b, ldb, c, ldc, alpha, beta, post);
        break;
    case 2:
        rows_m(2, k, a, b, ldb, c, ldc, alpha, beta, post);
        break;
    case 3:
        rows_m(3, k, a, b, ldb, c, ldc, alpha, beta, post);
        break;
    case 4:
        rows_m(4, k, a, b, ldb, c, ldc, alpha, beta, post);
        break;
    default:
        rows_m(5, k, a, b, ldb, c, ldc, alpha, beta, post);
        break;
    }
}

/* pack_rows (see isa.h) by 8 x 8 transposes: 8 k at a time from 8 rows, then the k tail one by one. Rows past
 * n load row n - 1 again and are masked to zero, so the 8 loads are unconditional and stay in registers (a
 * conditional load per row had kept the vectors on the stack: MiniLM's activations, packed as A for every
 * MatMul, took ~2 ns per float). */
static void pack_rows_avx2(float *dst, const float *p, int64_t rs, int64_t n, int64_t K, int r) {
    int64_t k = 0;
    for (int i0 = 0; i0 < r; i0 += 8) {
        int w = r - i0 < 8 ? r - i0 : 8;
        int64_t nv = n - i0 < 0 ? 0 : n - i0 > 8 ? 8 : n - i0;
        if (nv == 0) { /* zero rows only */
            for (int64_t kk = 0; kk + 8 <= K; kk += 8)
                for (int j = 0; j < 8; j++) store_first(dst + (kk + j) * r + i0, _mm256_setzero_ps(), w);
            continue;
        }
        const float *q[8];
        __m256 keep[8];
        for (int i = 0; i < 8; i++) {
            q[i] = p + (i0 + (i < nv ? i : nv - 1)) * rs;
            keep[i] = _mm256_castsi256_ps(_mm256_set1_epi32(i < nv ? -1 : 0));
        }
        for (k = 0; k + 8 <= K; k += 8) {
            __m256 v[8];
            v[0] = _mm256_and_ps(_mm256_loadu_ps(q[0] + k), keep[0]);
            v[1] = _mm256_and_ps(_mm256_loadu_ps(q[1] + k), keep[1]);
            v[2] = _mm256_and_ps(_mm256_loadu_ps(q[2] + k), keep[2]);
            v[3] = _mm256_and_ps(_mm256_loadu_ps(q[3] + k), keep[3]);
            v[4] = _mm256_and_ps(_mm256_loadu_ps(q[4] + k), keep[4]);
            v[5] = _mm256_and_ps(_mm256_loadu_ps(q[5] + k), keep[5]);
            v[6] = _mm256_and_ps(_mm256_loadu_ps(q[6] + k), keep[6]);
            v[7] = _mm256_and_ps(_mm256_loadu_ps(q[7] + k), keep[7]);
            transpose8(v);
            float *d = dst + k * r + i0;
#pragma GCC unroll 8
            for (int j = 0; j < 8; j++) store_first(d + j * r, v[j], w);
        }
    }
    for (k = K / 8 * 8; k < K; k++) {
        int64_t i = 0;
        for (; i < n; i++) dst[k * r + i] = p[i * rs + k];
        for (; i < r; i++) dst[k * r + i] = 0.0f;
    }
}

/* ukernel_narrow: the 6 rows of A in one vector (lanes 6, 7 hold the next row's first floats and are never
 * stored; the last row of the sliver has 6 floats, so its load is masked), n <= 4 columns of B broadcast.
 * Several k phases, one FMA chain each per column (4 for 1-2 columns, 2 for 3-4 within the registers):
 * with fewer the tile waits on FMA latency (N = 49: 1 column cost a third of a 16-column tile). Inlined
 * per n so that the accumulators stay in registers. */
static inline __attribute__((always_inline)) void narrow_n(int64_t k, const float *a, const float *b, int64_t ldb,
                                                           const int n, float *c, int64_t ldc) {
    enum { MAX_PH = 4 };
    const int ph = n <= 2 ? 4 : 2;
    __m256i m6 = _mm256_setr_epi32(-1, -1, -1, -1, -1, -1, 0, 0);
    __m256 acc[MAX_PH][4];
    #pragma GCC unroll 4
    for (int q = 0; q < ph; q++)
        #pragma GCC unroll 4
        for (int j = 0; j < n; j++) acc[q][j] = _mm256_setzero_ps();
    int64_t p = 0;
    for (; p + ph <= k; p += ph, a += ph * MR, b += ph * ldb)
        #pragma GCC unroll 4
        for (int q = 0; q < ph; q++) {
            __m256 av = q + 1 < ph ? _mm256_loadu_ps(a + q * MR) : _mm256_maskload_ps(a + q * MR, m6);
            #pragma GCC unroll 4
            for (int j = 0; j < n; j++)
                acc[q][j] = _mm256_fmadd_ps(av, _mm256_broadcast_ss(b + q * ldb + j), acc[q][j]);
        }
    for (; p < k; p++, a += MR, b += ldb) {
        __m256 av = _mm256_maskload_ps(a, m6);
        #pragma GCC unroll 4
        for (int j = 0; j < n; j++) acc[0][j] = _mm256_fmadd_ps(av, _mm256_broadcast_ss(b + j), acc[0][j]);
    }
    #pragma GCC unroll 4
    for (int j = 0; j < n; j++) {
        __m256 sum = acc[0][j];
        #pragma GCC unroll 4
        for (int q = 1; q < ph; q++) sum = _mm256_add_ps(sum, acc[q][j]);
        float v[8];
        _mm256_storeu_ps(v, sum);
        #pragma GCC unroll 6
        for (int r = 0; r < MR; r++) c[r * ldc + j] = v[r];
    }
}

static void narrow_6(int64_t k, const float *a, const float *b, int64_t ldb, int64_t n, float *c, int64_t ldc) {
    switch (n) {
    case 1: narrow_n(k, a, b, ldb, 1, c, ldc); break;
    case 2: narrow_n(k, a, b, ldb, 2, c, ldc); break;
    case 3: narrow_n(k, a, b, ldb, 3, c, ldc); break;
    default: narrow_n(k, a, b, ldb, 4, c, ldc); break;
    }
}

void ember_kernels_init_avx2(ember_kernel_table *t) {
    t->name = "avx2";
    t->mr = MR;
    t->nr = NR;
    t->ukernel = ukernel_6x16;
    t->ukernel_sb = ukernel_6x16_sb;
    t->ukernel_sa = ukernel_6x16_sa;
    t->ukernel_narrow = narrow_6;
    t->ukernel_rows = rows_6x16;
    t->pack_rows = pack_rows_avx2;
    ember_vmath_init_avx2(t);
    ember_winograd_init_avx2(t);
}
