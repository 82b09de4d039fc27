/* NEON dot kernels for the GGUF weight formats (the scalar references are in kernels/quant.c).
 * Built for aarch64 and for armv7 with -mfpu=neon-vfpv4; selected at run time when the CPU has NEON. */
#include "kernels/quant.h"

#include <arm_neon.h>

static inline float hsum(float32x4_t v) {
#if defined(__aarch64__)
    return vaddvq_f32(v);
#else
    float32x2_t s = vadd_f32(vget_low_f32(v), vget_high_f32(v));
    return vget_lane_f32(vpadd_f32(s, s), 0);
#endif
}

static float dot_f32(int64_t n, const void *w, const void *a) {
    const float *x = w, *y = a;
    float32x4_t s0 = vdupq_n_f32(0), s1 = vdupq_n_f32(0);
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        s0 = vfmaq_f32(s0, vld1q_f32(x + i), vld1q_f32(y + i));
        s1 = vfmaq_f32(s1, vld1q_f32(x + i + 4), vld1q_f32(y + i + 4));
    }
    float sum = hsum(vaddq_f32(s0, s1));
    for (; i < n; i++) sum += x[i] * y[i];
    return sum;
}

void quant_isa_neon(quant_isa *isa) {
    isa->dot[EMBER_GGML_F32] = dot_f32;
}
