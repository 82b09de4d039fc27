/* NEON twin of the direct convolution rows for convs with few input taps (conv_avx2.c, isa.h conv_rows8):
 * 4 outputs x 8 output channels in 8 q accumulators (fits armv7's 16 q registers); each tap's input is
 * loaded once (stride 2 deinterleaved in registers) and used by all 8 channels. */
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

/* Four consecutive outputs' inputs: stride 1 loads directly; stride 2 takes p0 p2 from p[0..3] and p4 p6
 * from p[3..6] (never touching p[7]). */
INLINE float32x4_t load_s(const float *p, int64_t sw) {
    if (sw == 1) return vld1q_f32(p);
    float32x4x2_t u = vuzpq_f32(vld1q_f32(p), vld1q_f32(p + 3)); /* evens: p0 p2 p3 p5, odds: p1 p3 p4 p6 */
    return vcombine_f32(vget_low_f32(u.val[0]), vget_high_f32(u.val[1]));
}

/* min(max(v, lo), hi) with NaN kept (the comparisons are false for NaN). */
INLINE float32x4_t clamp4(float32x4_t v, float32x4_t lo, float32x4_t hi) {
    v = vbslq_f32(vcltq_f32(v, lo), lo, v);
    return vbslq_f32(vcgtq_f32(v, hi), hi, v);
}

INLINE void block4(float *out, int64_t ldo, int64_t noc, const float *w8, const float *const *taps, int64_t ntaps,
                   int64_t x, int64_t sw, const float *b8, float32x4_t lo, float32x4_t hi) {
    float32x4_t a0 = vdupq_n_f32(b8[0]), a1 = vdupq_n_f32(b8[1]), a2 = vdupq_n_f32(b8[2]), a3 = vdupq_n_f32(b8[3]),
                a4 = vdupq_n_f32(b8[4]), a5 = vdupq_n_f32(b8[5]), a6 = vdupq_n_f32(b8[6]), a7 = vdupq_n_f32(b8[7]);
    for (int64_t t = 0; t < ntaps; t++, w8 += 8) {
        float32x4_t u = load_s(taps[t] + x * sw, sw);
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

/* Blocks of 4 over [x0, x1), a ragged end covered by one more block ending at x1 (recomputing a few
 * outputs); rows under 4 (and strides over 2) take the scalar loop. */
INLINE void rows8(float *out, int64_t ldo, int64_t noc, const float *w8, const float *const *taps, int64_t ntaps,
                  int64_t x0, int64_t x1, int64_t sw, const ember_ukernel_post *post) {
    float b8[8] = {0};
    for (int64_t o = 0; o < noc; o++) b8[o] = post && post->rbias ? post->rbias[o] : 0.0f;
    float flo = post ? post->lo : -INFINITY, fhi = post ? post->hi : INFINITY;
    float32x4_t lo = vdupq_n_f32(flo), hi = vdupq_n_f32(fhi);
    if (sw <= 2 && x1 - x0 >= 4) {
        for (int64_t x = x0;; x += 4) {
            if (x + 4 > x1) x = x1 - 4;
            block4(out, ldo, noc, w8, taps, ntaps, x, sw, b8, lo, hi);
            if (x + 4 >= x1) return;
        }
    }
    for (int64_t x = x0; x < x1; x++)
        for (int64_t o = 0; o < noc; o++) {
            float acc = b8[o];
            for (int64_t t = 0; t < ntaps; t++) acc += taps[t][x * sw] * w8[t * 8 + o];
            acc = acc < flo ? flo : acc; /* NaN stays */
            out[o * ldo + x] = acc > fhi ? fhi : acc;
        }
}

static void conv_rows8_neon(float *out, int64_t ldo, int64_t noc, const float *w8, const float *const *taps,
                            int64_t ntaps, int64_t x0, int64_t x1, int64_t sw, const ember_ukernel_post *post) {
    if (sw == 1)
        rows8(out, ldo, noc, w8, taps, ntaps, x0, x1, 1, post);
    else if (sw == 2)
        rows8(out, ldo, noc, w8, taps, ntaps, x0, x1, 2, post);
    else
        rows8(out, ldo, noc, w8, taps, ntaps, x0, x1, sw, post); /* scalar */
}

void ember_conv_init_neon(ember_kernel_table *t) { t->conv_rows8 = conv_rows8_neon; }
