/* NEON twin of the direct convolution rows for convs with few input taps (conv_avx2.c, isa.h conv_rows):
 * 4 outputs x 8 output channels in 8 q accumulators (fits armv7's 16 q registers); conv.c has already split
 * the input into unit-stride zero-padded phase rows, so each tap's input is one load used by all 8 channels. */
#include "kernels/isa.h"

#include <arm_neon.h>
#include <math.h>

#define INLINE static inline __attribute__((always_inline))

INLINE float32x4_t fma4(float32x4_t acc, float32x4_t a, float32x4_t b) { /* acc + a*b */
#if defined(__aarch64__) || defined(__ARM_FEATURE_FMA)
    return vfmaq_f32(acc, a, b);
#else
    return vmlaq_f32(acc, a, b);
#endif
}

/* min(max(v, lo), hi) with NaN kept (the comparisons are false for NaN). */
INLINE float32x4_t clamp4(float32x4_t v, float32x4_t lo, float32x4_t hi) {
    v = vbslq_f32(vcltq_f32(v, lo), lo, v);
    return vbslq_f32(vcgtq_f32(v, hi), hi, v);
}

INLINE void block4(float *out, int64_t ldo, int64_t noc, const float *w8, const float *const *rows, int64_t ntaps,
                   int64_t x, const float *b8, float32x4_t lo, float32x4_t hi) {
    float32x4_t a0 = vdupq_n_f32(b8[0]), a1 = vdupq_n_f32(b8[1]), a2 = vdupq_n_f32(b8[2]), a3 = vdupq_n_f32(b8[3]),
                a4 = vdupq_n_f32(b8[4]), a5 = vdupq_n_f32(b8[5]), a6 = vdupq_n_f32(b8[6]), a7 = vdupq_n_f32(b8[7]);
    for (int64_t t = 0; t < ntaps; t++, w8 += 8) {
        float32x4_t u = vld1q_f32(rows[t] + x);
        a0 = fma4(a0, u, vdupq_n_f32(w8[0]));
        a1 = fma4(a1, u, vdupq_n_f32(w8[1]));
        a2 = fma4(a2, u, vdupq_n_f32(w8[2]));
        a3 = fma4(a3, u, vdupq_n_f32(w8[3]));
        a4 = fma4(a4, u, vdupq_n_f32(w8[4]));
        a5 = fma4(a5, u, vdupq_n_f32(w8[5]));
        a6 = fma4(a6, u, vdupq_n_f32(w8[6]));
        a7 = fma4(a7, u, vdupq_n_f32(w8[7]));
    }
    float32x4_t a[8] = {a0, a1, a2, a3, a4, a5, a6, a7};
    for (int o = 0; o < noc; o++) vst1q_f32(out + o * ldo + x, clamp4(a[o], lo, hi));
}

/* Blocks of 4 over [0, n), a ragged end covered by one more block ending at n (recomputing a few outputs);
 * rows under 4 take the scalar reference. */
static void conv_rows_neon(float *out, int64_t ldo, int64_t noc, const float *w8, const float *const *rows,
                           int64_t ntaps, int64_t n, const ember_ukernel_post *post) {
    if (n < 4) {
        ember_conv_rows_ref(out, ldo, noc, w8, rows, ntaps, n, post);
        return;
    }
    float b8[8] = {0};
    for (int64_t o = 0; o < noc; o++) b8[o] = post && post->rbias ? post->rbias[o] : 0.0f;
    float32x4_t lo = vdupq_n_f32(post ? post->lo : -INFINITY), hi = vdupq_n_f32(post ? post->hi : INFINITY);
    for (int64_t x = 0;; x += 4) {
        if (x + 4 > n) x = n - 4;
        block4(out, ldo, noc, w8, rows, ntaps, x, b8, lo, hi);
        if (x + 4 >= n) return;
    }
}

void ember_conv_init_neon(ember_kernel_table *t) { t->conv_rows = conv_rows_neon; }
