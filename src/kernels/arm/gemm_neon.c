/* NEON GEMM micro-kernels: aarch64 8 x 12 (24 q accumulators, lane FMAs), armv7 6 x 8 (12 accumulators). */
#include "kernels/isa.h"
#include "kernels/arm/neon.h"

#include <arm_neon.h>

/* alpha * acc (+ beta * C), then the fused bias / residual / clamp / leaky slope (isa.h) when `post` is set. */
typedef struct {
    float32x4_t alpha, beta, lo, hi;
    int read;
    const ember_ukernel_post *p; /* NULL: no post */
} finish;

static inline float32x4_t scale_acc(float32x4_t acc, float *c, const finish *f, int row, int col) {
    float32x4_t v = vmulq_f32(acc, f->alpha);
    v = f->read ? vmlaq_f32(v, vld1q_f32(c), f->beta) : v;
    const ember_ukernel_post *p = f->p;
    if (p) {
        if (p->rbias) v = vaddq_f32(v, vdupq_n_f32(p->rbias[row]));
        if (p->cbias) v = vaddq_f32(v, vld1q_f32(p->cbias + col));
        const float *r = p->res ? p->res + row * p->ldr + col : NULL;
        if (r && !p->res_after) v = vaddq_f32(v, vld1q_f32(r));
        /* NaN must stay NaN: keep v where the comparison fails */
        v = vbslq_f32(vcltq_f32(v, f->lo), f->lo, v);
        v = vbslq_f32(vcgtq_f32(v, f->hi), f->hi, v);
        if (p->leaky) /* v < 0: v * slope (NaN compares false and stays) */
            v = vbslq_f32(vcltq_f32(v, vdupq_n_f32(0.0f)), vmulq_f32(v, vdupq_n_f32(p->slope ? p->slope[row] : p->alpha)), v);
        if (r && p->res_after) v = vaddq_f32(v, vld1q_f32(r));
    }
    return v;
}

static inline finish make_finish(float alpha, float beta, const ember_ukernel_post *post) {
    finish f = {.alpha = vdupq_n_f32(alpha), .beta = vdupq_n_f32(beta), .read = beta != 0.0f, .p = post};
    if (post) {
        f.lo = vdupq_n_f32(post->lo);
        f.hi = vdupq_n_f32(post->hi);
    }
    return f;
}

#if defined(__aarch64__)
#define MR 8
#define NR 12

#define ROW(r, av, lane)                                                                                     \
    c##r##0 = vfmaq_laneq_f32(c##r##0, b0, av, lane);                                                        \
    c##r##1 = vfmaq_laneq_f32(c##r##1, b1, av, lane);                                                        \
    c##r##2 = vfmaq_laneq_f32(c##r##2, b2, av, lane);

#define STORE_ROW(r)                                                                                         \
    vst1q_f32(c + r * ldc, scale_acc(c##r##0, c + r * ldc, &f, r, 0));                                       \
    vst1q_f32(c + r * ldc + 4, scale_acc(c##r##1, c + r * ldc + 4, &f, r, 4));                               \
    vst1q_f32(c + r * ldc + 8, scale_acc(c##r##2, c + r * ldc + 8, &f, r, 8));

static void ukernel_neon(int64_t k, const float *a, const float *b, float *c, int64_t ldc, float alpha,
                         float beta, const ember_ukernel_post *post) {
    float32x4_t z = vdupq_n_f32(0.0f);
    float32x4_t c00 = z, c01 = z, c02 = z, c10 = z, c11 = z, c12 = z, c20 = z, c21 = z, c22 = z, c30 = z,
                c31 = z, c32 = z, c40 = z, c41 = z, c42 = z, c50 = z, c51 = z, c52 = z, c60 = z, c61 = z,
                c62 = z, c70 = z, c71 = z, c72 = z;
    for (int64_t p = 0; p < k; p++, a += MR, b += NR) {
        float32x4_t a0 = vld1q_f32(a), a1 = vld1q_f32(a + 4);
        float32x4_t b0 = vld1q_f32(b), b1 = vld1q_f32(b + 4), b2 = vld1q_f32(b + 8);
        ROW(0, a0, 0) ROW(1, a0, 1) ROW(2, a0, 2) ROW(3, a0, 3)
        ROW(4, a1, 0) ROW(5, a1, 1) ROW(6, a1, 2) ROW(7, a1, 3)
    }
    finish f = make_finish(alpha, beta, post);
    STORE_ROW(0) STORE_ROW(1) STORE_ROW(2) STORE_ROW(3) STORE_ROW(4) STORE_ROW(5) STORE_ROW(6) STORE_ROW(7)
}
#else /* armv7 NEON: 16 q registers */
#define MR 6
#define NR 8

#define ROW(r, av, lane)                                                                                     \
    c##r##0 = vmlaq_lane_f32(c##r##0, b0, av, lane);                                                         \
    c##r##1 = vmlaq_lane_f32(c##r##1, b1, av, lane);

#define STORE_ROW(r)                                                                                         \
    vst1q_f32(c + r * ldc, scale_acc(c##r##0, c + r * ldc, &f, r, 0));                                       \
    vst1q_f32(c + r * ldc + 4, scale_acc(c##r##1, c + r * ldc + 4, &f, r, 4));

static void ukernel_neon(int64_t k, const float *a, const float *b, float *c, int64_t ldc, float alpha,
                         float beta, const ember_ukernel_post *post) {
    float32x4_t z = vdupq_n_f32(0.0f);
    float32x4_t c00 = z, c01 = z, c10 = z, c11 = z, c20 = z, c21 = z, c30 = z, c31 = z, c40 = z, c41 = z,
                c50 = z, c51 = z;
    for (int64_t p = 0; p < k; p++, a += MR, b += NR) {
        float32x2_t a0 = vld1_f32(a), a1 = vld1_f32(a + 2), a2 = vld1_f32(a + 4);
        float32x4_t b0 = vld1q_f32(b), b1 = vld1q_f32(b + 4);
        ROW(0, a0, 0) ROW(1, a0, 1) ROW(2, a1, 0) ROW(3, a1, 1) ROW(4, a2, 0) ROW(5, a2, 1)
    }
    finish f = make_finish(alpha, beta, post);
    STORE_ROW(0) STORE_ROW(1) STORE_ROW(2) STORE_ROW(3) STORE_ROW(4) STORE_ROW(5)
}
#endif

/* ukernel_rows (isa.h): m < MR rows of the tile, the full kernel's FMAs (aarch64 fused, armv7 vmla) by
 * scalar, stored through scale_acc. Inlined per m so that the accumulators stay in registers. */
static inline __attribute__((always_inline)) void rows_m(const int m, int64_t k, const float *a,
                                                         const float *b, int64_t ldb, float *c, int64_t ldc,
                                                         float alpha, float beta,
                                                         const ember_ukernel_post *post) {
    enum { V = NR / 4 };
    float32x4_t acc[MR - 1][V];
#pragma GCC unroll 8
    for (int r = 0; r < m; r++)
#pragma GCC unroll 3
        for (int v = 0; v < V; v++) acc[r][v] = vdupq_n_f32(0.0f);
    for (int64_t p = 0; p < k; p++, a += MR, b += ldb) {
        float32x4_t bv[V];
#pragma GCC unroll 3
        for (int v = 0; v < V; v++) bv[v] = vld1q_f32(b + 4 * v);
#pragma GCC unroll 8
        for (int r = 0; r < m; r++)
#pragma GCC unroll 3
            for (int v = 0; v < V; v++)
#if defined(__aarch64__)
                acc[r][v] = vfmaq_n_f32(acc[r][v], bv[v], a[r]);
#else
                acc[r][v] = vmlaq_n_f32(acc[r][v], bv[v], a[r]);
#endif
    }
    finish f = make_finish(alpha, beta, post);
#pragma GCC unroll 8
    for (int r = 0; r < m; r++)
#pragma GCC unroll 3
        for (int v = 0; v < V; v++) {
            float *o = c + r * ldc + 4 * v;
            vst1q_f32(o, scale_acc(acc[r][v], o, &f, r, 4 * v));
        }
}

static void rows_neon(int m, int64_t k, const float *a, const float *b, int64_t ldb, float *c, int64_t ldc,
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
#if MR == 8
    case 5:
        rows_m(5, k, a, b, ldb, c, ldc, alpha, beta, post);
        break;
    case 6:
        rows_m(6, k, a, b, ldb, c, ldc, alpha, beta, post);
        break;
    default:
        rows_m(7, k, a, b, ldb, c, ldc, alpha, beta, post);
        break;
#else
    default:
        rows_m(5, k, a, b, ldb, c, ldc, alpha, beta, post);
        break;
#endif
    }
}

/* pack_rows (see isa.h) by 4 x 4 transposes (two zip stages, same on aarch64 and armv7): 4 k at a time
 * from 4 rows, then the k tail one by one. */
static void pack_rows_neon(float *dst, const float *p, int64_t rs, int64_t n, int64_t K, int r) {
    int64_t k = 0;
    float32x4_t z = vdupq_n_f32(0.0f);
    for (; k + 4 <= K; k += 4)
        for (int i0 = 0; i0 < r; i0 += 4) {
            float32x4_t r0 = i0 < n ? vld1q_f32(p + i0 * rs + k) : z;
            float32x4_t r1 = i0 + 1 < n ? vld1q_f32(p + (i0 + 1) * rs + k) : z;
            float32x4_t r2 = i0 + 2 < n ? vld1q_f32(p + (i0 + 2) * rs + k) : z;
            float32x4_t r3 = i0 + 3 < n ? vld1q_f32(p + (i0 + 3) * rs + k) : z;
            float32x4_t col[4] = {r0, r1, r2, r3};
            transpose4(col);
            int w = r - i0 < 4 ? r - i0 : 4;
            for (int j = 0; j < 4; j++) store_first4(dst + (k + j) * r + i0, col[j], w);
        }
    for (; k < K; k++) {
        int64_t i = 0;
        for (; i < n; i++) dst[k * r + i] = p[i * rs + k];
        for (; i < r; i++) dst[k * r + i] = 0.0f;
    }
}

/* ukernel_narrow (isa.h): the mr rows of A as vectors (aarch64 two q, armv7 a q and a d), n <= 4 columns of B
 * multiplied in by scalar; inlined per n so that the accumulators stay in registers. */
static inline __attribute__((always_inline)) void narrow_n(int64_t k, const float *a, const float *b, int64_t ldb,
                                                           const int n, float *c, int64_t ldc) {
    float32x4_t lo[4], hi[4];
    for (int j = 0; j < n; j++) lo[j] = hi[j] = vdupq_n_f32(0.0f);
    for (int64_t p = 0; p < k; p++, a += MR, b += ldb) {
#if MR == 8
        float32x4_t a0 = vld1q_f32(a), a1 = vld1q_f32(a + 4);
#else
        float32x4_t a0 = vld1q_f32(a), a1 = vcombine_f32(vld1_f32(a + 4), vdup_n_f32(0.0f));
#endif
        for (int j = 0; j < n; j++) {
            lo[j] = vmlaq_n_f32(lo[j], a0, b[j]);
            hi[j] = vmlaq_n_f32(hi[j], a1, b[j]);
        }
    }
    for (int j = 0; j < n; j++) {
        float v[8];
        vst1q_f32(v, lo[j]);
        vst1q_f32(v + 4, hi[j]);
        for (int r = 0; r < MR; r++) c[r * ldc + j] = v[r];
    }
}

static void narrow_neon(int64_t k, const float *a, const float *b, int64_t ldb, int64_t n, float *c, int64_t ldc) {
    switch (n) {
    case 1: narrow_n(k, a, b, ldb, 1, c, ldc); break;
    case 2: narrow_n(k, a, b, ldb, 2, c, ldc); break;
    case 3: narrow_n(k, a, b, ldb, 3, c, ldc); break;
    default: narrow_n(k, a, b, ldb, 4, c, ldc); break;
    }
}

void ember_kernels_init_neon(ember_kernel_table *t) {
#if defined(__aarch64__)
    t->name = "neon";
#else
    t->name = "neon-armv7";
#endif
    t->mr = MR;
    t->nr = NR;
    t->ukernel = ukernel_neon;
    t->ukernel_narrow = narrow_neon;
    t->ukernel_rows = rows_neon;
    t->pack_rows = pack_rows_neon;
    ember_vmath_init_neon(t);
    ember_winograd_init_neon(t);
}
