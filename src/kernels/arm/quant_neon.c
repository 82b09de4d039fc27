/* NEON dot kernels for the GGUF weight formats (the scalar references are in kernels/quant.c).
 * Built for aarch64 and for armv7 with -mfpu=neon-vfpv4; selected at run time when the CPU has NEON. The integer
 * dots (quant_neon_impl.h) multiply bytes with vmull_s8 and add pairs with vpadalq_s16; quant_dotprod.c has
 * the same kernels over the dot-product instructions. */
#include <arm_neon.h>
#include <string.h>

static inline int32x4_t dot16_neon(int32x4_t acc, int8x16_t a, int8x16_t b) {
    acc = vpadalq_s16(acc, vmull_s8(vget_low_s8(a), vget_low_s8(b)));
    return vpadalq_s16(acc, vmull_s8(vget_high_s8(a), vget_high_s8(b)));
}
#define DOT16(acc, a, b) dot16_neon(acc, a, b)
#include "kernels/arm/quant_neon_impl.h"

static float dot_f32(int64_t n, const void *w, const void *a) {
    const float *x = w, *y = a;
    float32x4_t s0 = vdupq_n_f32(0), s1 = vdupq_n_f32(0);
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        s0 = vmlaq_f32(s0, vld1q_f32(x + i), vld1q_f32(y + i));
        s1 = vmlaq_f32(s1, vld1q_f32(x + i + 4), vld1q_f32(y + i + 4));
    }
    float sum = hsum_f32(vaddq_f32(s0, s1));
    for (; i < n; i++) sum += x[i] * y[i];
    return sum;
}

#if defined(__aarch64__)
static float dot_f16(int64_t n, const void *w, const void *a) {
    const uint16_t *x = w;
    const float *y = a;
    float32x4_t s0 = vdupq_n_f32(0), s1 = vdupq_n_f32(0);
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        uint16x8_t h = vld1q_u16(x + i);
        s0 = vmlaq_f32(s0, vcvt_f32_f16(vreinterpret_f16_u16(vget_low_u16(h))), vld1q_f32(y + i));
        s1 = vmlaq_f32(s1, vcvt_f32_f16(vreinterpret_f16_u16(vget_high_u16(h))), vld1q_f32(y + i + 4));
    }
    float sum = hsum_f32(vaddq_f32(s0, s1));
    for (; i < n; i++) sum += h2f(x[i]) * y[i];
    return sum;
}

static void axpy_f16(int64_t n, float a, const void *x, float *y) {
    const uint16_t *v = x;
    int64_t i = 0;
    for (; i + 4 <= n; i += 4)
        vst1q_f32(y + i, vmlaq_n_f32(vld1q_f32(y + i), vcvt_f32_f16(vreinterpret_f16_u16(vld1_u16(v + i))), a));
    for (; i < n; i++) y[i] += a * h2f(v[i]);
}
#endif

#if defined(__aarch64__)
/* Activation quantizers: the references' arithmetic (x * (1/d), round to nearest even). */
static float absmax(const float *x, int n) {
    float32x4_t m = vdupq_n_f32(0);
    for (int j = 0; j < n; j += 4) m = vmaxq_f32(m, vabsq_f32(vld1q_f32(x + j)));
    return vmaxvq_f32(m);
}

/* 16 floats times id, rounded, to 16 int8. */
static inline int8x16_t quant16(const float *x, float id) {
    int32x4_t i0 = vcvtnq_s32_f32(vmulq_n_f32(vld1q_f32(x), id)), i1 = vcvtnq_s32_f32(vmulq_n_f32(vld1q_f32(x + 4), id));
    int32x4_t i2 = vcvtnq_s32_f32(vmulq_n_f32(vld1q_f32(x + 8), id)), i3 = vcvtnq_s32_f32(vmulq_n_f32(vld1q_f32(x + 12), id));
    int16x8_t a = vcombine_s16(vqmovn_s32(i0), vqmovn_s32(i1)), b = vcombine_s16(vqmovn_s32(i2), vqmovn_s32(i3));
    return vcombine_s8(vqmovn_s16(a), vqmovn_s16(b));
}

static void quant_act_q8(const float *x, void *yv, int64_t n) {
    act_q8 *b = yv;
    for (int64_t i = 0; i < n / QK; i++, b++, x += QK) {
        float d = absmax(x, QK) / 127, id = d ? 1 / d : 0;
        int8x16_t q0 = quant16(x, id), q1 = quant16(x + 16, id);
        vst1q_s8(b->qs, q0);
        vst1q_s8(b->qs + 16, q1);
        int sum = vaddlvq_s8(q0) + vaddlvq_s8(q1);
        b->d = vgetq_lane_f32(vcvt_f32_f16(vcvt_f16_f32(vdupq_n_f32(d))), 0);
        b->s = b->d * (float)sum;
    }
}

static void quant_act_q8k(const float *x, void *yv, int64_t n) {
    act_q8k *b = yv;
    for (int64_t i = 0; i < n / QK_K; i++, b++, x += QK_K) {
        float d = absmax(x, QK_K) / 127, id = d ? 1 / d : 0;
        for (int g = 0; g < 16; g++) {
            int8x16_t q = quant16(x + 16 * g, id);
            vst1q_s8(b->qs + 16 * g, q);
            b->bsums[g] = (int16_t)vaddlvq_s8(q);
        }
        b->d = d;
    }
}
#endif

/* Q8_0 rows interleaved 8 at a time (blk_q8_0x8): 4 activation bytes, repeated, times 4 values of each of 2 rows
 * per vmull_s8; two steps add up in 16 bits (|sum| <= 2 * 128 * 127), then pairs widen into one int32x4 per 2 rows
 * ([r, r, r+1, r+1]) and a pairwise add per block gives the rows' sums, 4 to a vector. */
static inline int8x8_t bcast4(const int8_t *p) {
    int32_t v;
    memcpy(&v, p, 4);
    return vreinterpret_s8_s32(vdup_n_s32(v));
}

static inline int32x4_t padd_rows(int32x4_t p01, int32x4_t p23) {
#if defined(__aarch64__)
    return vpaddq_s32(p01, p23);
#else
    return vcombine_s32(vpadd_s32(vget_low_s32(p01), vget_high_s32(p01)), vpadd_s32(vget_low_s32(p23), vget_high_s32(p23)));
#endif
}

static void dot8_q8_0(int64_t n, const void *packed, const void *a, float *out) {
    const blk_q8_0x8 *b = packed;
    const act_q8 *y = a;
    float32x4_t acc0 = vdupq_n_f32(0), acc1 = acc0;
    for (int64_t i = 0; i < n / QK; i++, b++, y++) {
        int32x4_t p01 = vdupq_n_s32(0), p23 = p01, p45 = p01, p67 = p01;
        for (int k = 0; k < 8; k += 2) {
            int8x8_t a0 = bcast4(y->qs + 4 * k), a1 = bcast4(y->qs + 4 * k + 4);
            int8x16_t w0 = ld8(b->q[k]), w1 = ld8(b->q[k + 1]), v0 = ld8(b->q[k] + 16), v1 = ld8(b->q[k + 1] + 16);
            p01 = vpadalq_s16(p01, vmlal_s8(vmull_s8(vget_low_s8(w0), a0), vget_low_s8(w1), a1));
            p23 = vpadalq_s16(p23, vmlal_s8(vmull_s8(vget_high_s8(w0), a0), vget_high_s8(w1), a1));
            p45 = vpadalq_s16(p45, vmlal_s8(vmull_s8(vget_low_s8(v0), a0), vget_low_s8(v1), a1));
            p67 = vpadalq_s16(p67, vmlal_s8(vmull_s8(vget_high_s8(v0), a0), vget_high_s8(v1), a1));
        }
        float32x4_t d0, d1;
        scales8(b->d, y->d, &d0, &d1);
        acc0 = vmlaq_f32(acc0, vcvtq_f32_s32(padd_rows(p01, p23)), d0);
        acc1 = vmlaq_f32(acc1, vcvtq_f32_s32(padd_rows(p45, p67)), d1);
    }
    vst1q_f32(out, acc0);
    vst1q_f32(out + 4, acc1);
}

/* Q6_K rows interleaved 8 at a time: per 4 rows and 16-element group, 4 steps of vmull/vmlal (|sum| <= 4 * 32 *
 * 127) per pair of rows and stream, widened pairwise, added per row and scaled by the group's scales. */
static void dot8_q6_K(int64_t n, const void *packed, const void *a, float *out) {
    const blk_q6_Kx8 *b = packed;
    const act_q8k *y = a;
    float32x4_t acc[2] = {vdupq_n_f32(0), vdupq_n_f32(0)};
    for (int64_t i = 0; i < n / QK_K; i++, b++, y++)
        for (int rh = 0; rh < 2; rh++) {
            int32x4_t isum = vdupq_n_s32(0);
            for (int h = 0; h < 2; h++)
                for (int gq = 0; gq < 2; gq++) {
                    int16x8_t t[4][2];
                    for (int kk = 0; kk < 4; kk++) {
                        int k = 4 * gq + kk;
                        int8x16_t v[4];
                        q6x8_values(b, h, k, rh, v);
                        for (int s = 0; s < 4; s++) {
                            int8x8_t av = bcast4(y->qs + 128 * h + 32 * s + 4 * k);
                            if (kk == 0) {
                                t[s][0] = vmull_s8(vget_low_s8(v[s]), av);
                                t[s][1] = vmull_s8(vget_high_s8(v[s]), av);
                            } else {
                                t[s][0] = vmlal_s8(t[s][0], vget_low_s8(v[s]), av);
                                t[s][1] = vmlal_s8(t[s][1], vget_high_s8(v[s]), av);
                            }
                        }
                    }
                    for (int s = 0; s < 4; s++)
                        isum = vmlaq_s32(isum, padd_rows(vpaddlq_s16(t[s][0]), vpaddlq_s16(t[s][1])),
                                         q6x8_scales(b, 8 * h + 2 * s + gq, rh));
                }
            float32x4_t d[2];
            scales8(b->d, y->d, &d[0], &d[1]);
            acc[rh] = vmlaq_f32(acc[rh], vcvtq_f32_s32(isum), d[rh]);
        }
    vst1q_f32(out, acc[0]);
    vst1q_f32(out + 4, acc[1]);
}

void quant_isa_neon(quant_isa *isa) {
    isa->dot[EMBER_GGML_F32] = dot_f32;
    set_int_dots(isa);
    isa->dot8[EMBER_GGML_Q8_0] = dot8_q8_0;
    isa->dot8[EMBER_GGML_Q6_K] = dot8_q6_K;
#if defined(__aarch64__)
    isa->dot[EMBER_GGML_F16] = dot_f16;
    isa->axpy[EMBER_GGML_F16] = axpy_f16;
    isa->act[ACT_Q8] = quant_act_q8;
    isa->act[ACT_Q8K] = quant_act_q8k;
#endif
}
