/* NEON twins (aarch64 and armv7) of the Winograd F(4x4, 3x3) transforms (winograd.h): 4 tiles per vector,
 * scalar lane tail. */
#include "kernels/isa.h"

#include "kernels/winograd.h"

#include <arm_neon.h>
#include <string.h>

#define W_T float32x4_t
#define W_ADD(a, b) vaddq_f32(a, b)
#define W_SUB(a, b) vsubq_f32(a, b)
#define W_MUL(c, a) vmulq_f32(c, a)
#define W_K(x) vdupq_n_f32(x)
#define W_LOAD(p) vld1q_f32(p)
#define W_STORE(p, x) vst1q_f32(p, x)

static void wino_in_neon(float *v, int64_t vs, const float *d, int64_t L) {
    int64_t l = 0;
    for (; l + 4 <= L; l += 4) EMBER_WINO_IN(v, vs, d, L, l);
    if (l < L) ember_wino_in_tail(v, vs, d, L, l);
}

static void wino_out_neon(float *y, const float *m, int64_t ms, int64_t L) {
    int64_t l = 0;
    for (; l + 4 <= L; l += 4) EMBER_WINO_OUT(y, m, ms, L, l);
    if (l < L) ember_wino_out_tail(y, m, ms, L, l);
}

/* 4 tiles' patches (isa.h): per input row, vld4q splits p[0..16) by 4 into columns x = 0..3 of the 4
 * tiles, and p[4..20) into columns 4 and 5. */
static void wino_gather4_neon(float *d, int64_t L, const float *p, int64_t pitch) {
    for (int i = 0; i < 6; i++, p += pitch, d += 6 * L) {
        float32x4x4_t a = vld4q_f32(p), b = vld4q_f32(p + 4);
        vst1q_f32(d, a.val[0]);
        vst1q_f32(d + L, a.val[1]);
        vst1q_f32(d + 2 * L, a.val[2]);
        vst1q_f32(d + 3 * L, a.val[3]);
        vst1q_f32(d + 4 * L, b.val[0]);
        vst1q_f32(d + 5 * L, b.val[1]);
    }
}

/* Up to 4 output tiles (isa.h): per output row, vst4q interleaves the tiles' 4 columns into each tile's
 * row; a row cut by the right edge goes through a buffer. */
static void wino_scatter4_neon(float *o, int64_t ow, const float *y, int64_t L, int rows, int cols,
                               float bias, float lo, float hi) {
    float32x4_t b = vdupq_n_f32(bias), vlo = vdupq_n_f32(lo), vhi = vdupq_n_f32(hi);
    for (int a = 0; a < rows; a++, o += ow, y += 4 * L) {
        float32x4x4_t c;
        for (int k = 0; k < 4; k++) {
            float32x4_t v = vaddq_f32(vld1q_f32(y + k * L), b);
            v = vbslq_f32(vcltq_f32(v, vlo), vlo, v); /* NaN fails both comparisons and stays */
            c.val[k] = vbslq_f32(vcgtq_f32(v, vhi), vhi, v);
        }
        if (cols == 16) {
            vst4q_f32(o, c);
        } else {
            float row[16];
            vst4q_f32(row, c);
            memcpy(o, row, (size_t)cols * sizeof *o);
        }
    }
}

void ember_winograd_init_neon(ember_kernel_table *t) {
    t->wino_scatter4 = wino_scatter4_neon;
    t->wino_in = wino_in_neon;
    t->wino_out = wino_out_neon;
    t->wino_gather4 = wino_gather4_neon;
    ember_conv_init_neon(t); /* the other conv kernels ride along with the Winograd ones */
}
