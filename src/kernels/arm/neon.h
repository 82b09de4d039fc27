/* NEON helpers shared by the arm kernel files (aarch64 and armv7 alike). */
#ifndef EMBER_KERNELS_ARM_NEON_H
#define EMBER_KERNELS_ARM_NEON_H

#include <arm_neon.h>

/* In-register 4 x 4 transpose by two zip stages: v[i][k] -> v[k][i]. */
static inline void transpose4(float32x4_t v[4]) {
    float32x4x2_t t0 = vzipq_f32(v[0], v[2]), t1 = vzipq_f32(v[1], v[3]);
    float32x4x2_t u0 = vzipq_f32(t0.val[0], t1.val[0]), u1 = vzipq_f32(t0.val[1], t1.val[1]);
    v[0] = u0.val[0], v[1] = u0.val[1], v[2] = u1.val[0], v[3] = u1.val[1];
}

/* Stores the first w (1..4) lanes of v. */
static inline void store_first4(float *d, float32x4_t v, int w) {
    if (w == 4) {
        vst1q_f32(d, v);
    } else if (w == 2) {
        vst1_f32(d, vget_low_f32(v));
    } else {
        float t[4];
        vst1q_f32(t, v);
        for (int i = 0; i < w; i++) d[i] = t[i];
    }
}

#endif
