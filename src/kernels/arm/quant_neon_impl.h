/* The NEON integer dot kernels, written once over one primitive, DOT16(acc, a, b): acc (int32x4) += the products of
 * 16 signed byte pairs, grouped so that the sum of the four lanes is the dot. quant_neon.c defines it with
 * vmull_s8 + vpadalq_s16 (aarch64 and armv7), quant_dotprod.c with vdotq_s32 (Armv8.2 dot product); each then
 * defines its quant_isa_* from the functions made here. Weights are unpacked to signed bytes (the offsets of
 * Q4_0/Q5_0/Q3_K/Q6_K applied in the unpacking), so only the min of the affine formats needs a correction. */
#include "kernels/quant.h"

#include <arm_neon.h>
#include <string.h>

#define INLINE static inline __attribute__((always_inline))

INLINE float hsum_f32(float32x4_t v) {
#if defined(__aarch64__)
    return vaddvq_f32(v);
#else
    float32x2_t s = vadd_f32(vget_low_f32(v), vget_high_f32(v));
    return vget_lane_f32(vpadd_f32(s, s), 0);
#endif
}

INLINE int32_t hsum_s32(int32x4_t v) {
#if defined(__aarch64__)
    return vaddvq_s32(v);
#else
    int32x2_t s = vadd_s32(vget_low_s32(v), vget_high_s32(v));
    return vget_lane_s32(vpadd_s32(s, s), 0);
#endif
}

#if defined(__aarch64__)
INLINE float h2f(uint16_t h) { return vgetq_lane_f32(vcvt_f32_f16(vreinterpret_f16_u16(vdup_n_u16(h))), 0); }
#else /* armv7: half-precision intrinsics need -mfp16-format; the scalar conversion is fine for block scales */
#include "ember/tensor.h"
INLINE float h2f(uint16_t h) { return ember_f16_to_f32(h); }
#endif

INLINE int8x16_t ld8(const void *p) { return vld1q_s8((const int8_t *)p); }

/* The 8 half-precision row scales of an 8-row packed block times the activation scale, rows 0-3 and 4-7. */
INLINE void scales8(const uint16_t *d, float da, float32x4_t *d0, float32x4_t *d1) {
#if defined(__aarch64__)
    uint16x8_t h = vld1q_u16(d);
    *d0 = vmulq_n_f32(vcvt_f32_f16(vreinterpret_f16_u16(vget_low_u16(h))), da);
    *d1 = vmulq_n_f32(vcvt_f32_f16(vreinterpret_f16_u16(vget_high_u16(h))), da);
#else
    float f[8];
    for (int r = 0; r < 8; r++) f[r] = h2f(d[r]);
    *d0 = vmulq_n_f32(vld1q_f32(f), da);
    *d1 = vmulq_n_f32(vld1q_f32(f + 4), da);
#endif
}

/* Q6_K 8-row blocks (blk_q6_Kx8): the values (-32..31) of rows 4rh..4rh+3 at step k of half h, for the 4 streams
 * (elements 128h + 32s + 4k + i); and the int32 scales of group g for those rows. */
INLINE void q6x8_values(const blk_q6_Kx8 *b, int h, int k, int rh, int8x16_t v[4]) {
    const uint8x16_t low = vdupq_n_u8(15), m30 = vdupq_n_u8(0x30);
    const int8x16_t off = vdupq_n_s8(32);
    uint8x16_t A = vld1q_u8(b->q[h][k][0] + 16 * rh), B = vld1q_u8(b->q[h][k][1] + 16 * rh);
    uint8x16_t H = vld1q_u8(b->q[h][k][2] + 16 * rh);
    v[0] = vsubq_s8(vreinterpretq_s8_u8(vorrq_u8(vandq_u8(A, low), vandq_u8(vshlq_n_u8(H, 4), m30))), off);
    v[1] = vsubq_s8(vreinterpretq_s8_u8(vorrq_u8(vandq_u8(B, low), vandq_u8(vshlq_n_u8(H, 2), m30))), off);
    v[2] = vsubq_s8(vreinterpretq_s8_u8(vorrq_u8(vshrq_n_u8(A, 4), vandq_u8(H, m30))), off);
    v[3] = vsubq_s8(vreinterpretq_s8_u8(vorrq_u8(vshrq_n_u8(B, 4), vandq_u8(vshrq_n_u8(H, 2), m30))), off);
}

INLINE int32x4_t q6x8_scales(const blk_q6_Kx8 *b, int g, int rh) {
    int16x8_t s = vmovl_s8(vld1_s8(b->sc[g]));
    return vmovl_s16(rh ? vget_high_s16(s) : vget_low_s16(s));
}

/* --- 32-element blocks: the block's integer dot as int32x4 ------------------------------------------------- */
INLINE int32x4_t q4_dot(const uint8_t *qs, int8_t off, const act_q8 *y) {
    uint8x16_t b = vld1q_u8(qs);
    int8x16_t lo = vsubq_s8(vreinterpretq_s8_u8(vandq_u8(b, vdupq_n_u8(15))), vdupq_n_s8(off));
    int8x16_t hi = vsubq_s8(vreinterpretq_s8_u8(vshrq_n_u8(b, 4)), vdupq_n_s8(off));
    int32x4_t acc = vdupq_n_s32(0);
    acc = DOT16(acc, lo, ld8(y->qs));
    return DOT16(acc, hi, ld8(y->qs + 16));
}

/* Fifth bits of a Q5 block as 0x10 bytes: low 16 elements and high 16. */
INLINE void q5_high(const uint8_t *qh8, uint8x16_t *lo, uint8x16_t *hi) {
    static const uint8_t bits[16] = {1, 2, 4, 8, 16, 32, 64, 128, 1, 2, 4, 8, 16, 32, 64, 128};
    uint8x16_t m = vld1q_u8(bits);
    uint8x16_t b0 = vcombine_u8(vdup_n_u8(qh8[0]), vdup_n_u8(qh8[1]));
    uint8x16_t b1 = vcombine_u8(vdup_n_u8(qh8[2]), vdup_n_u8(qh8[3]));
    *lo = vandq_u8(vtstq_u8(b0, m), vdupq_n_u8(0x10));
    *hi = vandq_u8(vtstq_u8(b1, m), vdupq_n_u8(0x10));
}

INLINE int32x4_t q5_dot(const uint8_t *qs, const uint8_t *qh, int8_t off, const act_q8 *y) {
    uint8x16_t b = vld1q_u8(qs), h0, h1;
    q5_high(qh, &h0, &h1);
    int8x16_t lo = vsubq_s8(vreinterpretq_s8_u8(vorrq_u8(vandq_u8(b, vdupq_n_u8(15)), h0)), vdupq_n_s8(off));
    int8x16_t hi = vsubq_s8(vreinterpretq_s8_u8(vorrq_u8(vshrq_n_u8(b, 4), h1)), vdupq_n_s8(off));
    int32x4_t acc = vdupq_n_s32(0);
    acc = DOT16(acc, lo, ld8(y->qs));
    return DOT16(acc, hi, ld8(y->qs + 16));
}

INLINE void blk_q4_0_dot(const blk_q4_0 *x, const act_q8 *y, float32x4_t *acc, float *corr) {
    (void)corr;
    *acc = vmlaq_n_f32(*acc, vcvtq_f32_s32(q4_dot(x->qs, 8, y)), h2f(x->d) * y->d);
}

INLINE void blk_q4_1_dot(const blk_q4_1 *x, const act_q8 *y, float32x4_t *acc, float *corr) {
    *acc = vmlaq_n_f32(*acc, vcvtq_f32_s32(q4_dot(x->qs, 0, y)), h2f(x->d) * y->d);
    *corr += h2f(x->m) * y->s;
}

INLINE void blk_q5_0_dot(const blk_q5_0 *x, const act_q8 *y, float32x4_t *acc, float *corr) {
    (void)corr;
    *acc = vmlaq_n_f32(*acc, vcvtq_f32_s32(q5_dot(x->qs, x->qh, 16, y)), h2f(x->d) * y->d);
}

INLINE void blk_q5_1_dot(const blk_q5_1 *x, const act_q8 *y, float32x4_t *acc, float *corr) {
    *acc = vmlaq_n_f32(*acc, vcvtq_f32_s32(q5_dot(x->qs, x->qh, 0, y)), h2f(x->d) * y->d);
    *corr += h2f(x->m) * y->s;
}

INLINE void blk_q8_0_dot(const blk_q8_0 *x, const act_q8 *y, float32x4_t *acc, float *corr) {
    (void)corr;
    int32x4_t s = DOT16(vdupq_n_s32(0), ld8(x->qs), ld8(y->qs));
    s = DOT16(s, ld8(x->qs + 16), ld8(y->qs + 16));
    *acc = vmlaq_n_f32(*acc, vcvtq_f32_s32(s), h2f(x->d) * y->d);
}

/* --- k-quants: integer sum of scale * group dot over the block ------------------------------------------- */
INLINE void k4_scales(const uint8_t *q, int *sc, int *m) {
    for (int j = 0; j < 4; j++) {
        sc[j] = q[j] & 63;
        m[j] = q[j + 4] & 63;
        sc[j + 4] = (q[j + 8] & 15) | ((q[j] >> 6) << 4);
        m[j + 4] = (q[j + 8] >> 4) | ((q[j + 4] >> 6) << 4);
    }
}

INLINE int k4_minsum(const int *m, const act_q8k *y) {
    int s = 0;
    for (int j = 0; j < 8; j++) s += m[j] * (y->bsums[2 * j] + y->bsums[2 * j + 1]);
    return s;
}

INLINE void blk_q4_K_dot(const blk_q4_K *x, const act_q8k *y, float32x4_t *acc, float *corr) {
    int sc[8], m[8];
    k4_scales(x->scales, sc, m);
    int32x4_t isum = vdupq_n_s32(0);
    for (int p = 0; p < 4; p++) {
        uint8x16_t q0 = vld1q_u8(x->qs + 32 * p), q1 = vld1q_u8(x->qs + 32 * p + 16);
        const int8_t *a = y->qs + 64 * p;
        int32x4_t lo = DOT16(vdupq_n_s32(0), vreinterpretq_s8_u8(vandq_u8(q0, vdupq_n_u8(15))), ld8(a));
        lo = DOT16(lo, vreinterpretq_s8_u8(vandq_u8(q1, vdupq_n_u8(15))), ld8(a + 16));
        int32x4_t hi = DOT16(vdupq_n_s32(0), vreinterpretq_s8_u8(vshrq_n_u8(q0, 4)), ld8(a + 32));
        hi = DOT16(hi, vreinterpretq_s8_u8(vshrq_n_u8(q1, 4)), ld8(a + 48));
        isum = vmlaq_n_s32(isum, lo, sc[2 * p]);
        isum = vmlaq_n_s32(isum, hi, sc[2 * p + 1]);
    }
    *acc = vmlaq_n_f32(*acc, vcvtq_f32_s32(isum), h2f(x->d) * y->d);
    *corr -= h2f(x->dmin) * y->d * (float)k4_minsum(m, y);
}

INLINE void blk_q5_K_dot(const blk_q5_K *x, const act_q8k *y, float32x4_t *acc, float *corr) {
    int sc[8], m[8];
    k4_scales(x->scales, sc, m);
    uint8x16_t h0 = vld1q_u8(x->qh), h1 = vld1q_u8(x->qh + 16);
    const uint8x16_t one = vdupq_n_u8(1), low = vdupq_n_u8(15);
    int32x4_t isum = vdupq_n_s32(0);
    for (int p = 0; p < 4; p++) {
        uint8x16_t q0 = vld1q_u8(x->qs + 32 * p), q1 = vld1q_u8(x->qs + 32 * p + 16);
        const int8_t *a = y->qs + 64 * p;
        uint8x16_t l0 = vorrq_u8(vandq_u8(q0, low), vshlq_n_u8(vandq_u8(h0, one), 4));
        uint8x16_t l1 = vorrq_u8(vandq_u8(q1, low), vshlq_n_u8(vandq_u8(h1, one), 4));
        uint8x16_t u0 = vorrq_u8(vshrq_n_u8(q0, 4), vshlq_n_u8(vandq_u8(vshrq_n_u8(h0, 1), one), 4));
        uint8x16_t u1 = vorrq_u8(vshrq_n_u8(q1, 4), vshlq_n_u8(vandq_u8(vshrq_n_u8(h1, 1), one), 4));
        h0 = vshrq_n_u8(h0, 2);
        h1 = vshrq_n_u8(h1, 2);
        int32x4_t lo = DOT16(vdupq_n_s32(0), vreinterpretq_s8_u8(l0), ld8(a));
        lo = DOT16(lo, vreinterpretq_s8_u8(l1), ld8(a + 16));
        int32x4_t hi = DOT16(vdupq_n_s32(0), vreinterpretq_s8_u8(u0), ld8(a + 32));
        hi = DOT16(hi, vreinterpretq_s8_u8(u1), ld8(a + 48));
        isum = vmlaq_n_s32(isum, lo, sc[2 * p]);
        isum = vmlaq_n_s32(isum, hi, sc[2 * p + 1]);
    }
    *acc = vmlaq_n_f32(*acc, vcvtq_f32_s32(isum), h2f(x->d) * y->d);
    *corr -= h2f(x->dmin) * y->d * (float)k4_minsum(m, y);
}

INLINE void blk_q6_K_dot(const blk_q6_K *x, const act_q8k *y, float32x4_t *acc, float *corr) {
    (void)corr;
    const uint8x16_t low = vdupq_n_u8(15), three = vdupq_n_u8(3);
    const int8x16_t off = vdupq_n_s8(32);
    int32x4_t isum = vdupq_n_s32(0);
    for (int h = 0; h < 2; h++)
        for (int part = 0; part < 2; part++) { /* 16 of the 32 positions l of each quarter */
            int o = 16 * part;
            uint8x16_t l0 = vld1q_u8(x->ql + 64 * h + o), l1 = vld1q_u8(x->ql + 64 * h + 32 + o);
            uint8x16_t qh = vld1q_u8(x->qh + 32 * h + o);
            uint8x16_t v[4];
            v[0] = vorrq_u8(vandq_u8(l0, low), vshlq_n_u8(vandq_u8(qh, three), 4));
            v[1] = vorrq_u8(vandq_u8(l1, low), vshlq_n_u8(vandq_u8(vshrq_n_u8(qh, 2), three), 4));
            v[2] = vorrq_u8(vshrq_n_u8(l0, 4), vshlq_n_u8(vandq_u8(vshrq_n_u8(qh, 4), three), 4));
            v[3] = vorrq_u8(vshrq_n_u8(l1, 4), vshlq_n_u8(vshrq_n_u8(qh, 6), 4));
            for (int k = 0; k < 4; k++) {
                int g = 8 * h + 2 * k + part; /* elements 128h + 32k + o .. +16 */
                int8x16_t w = vsubq_s8(vreinterpretq_s8_u8(v[k]), off);
                int32x4_t d = DOT16(vdupq_n_s32(0), w, ld8(y->qs + 128 * h + 32 * k + o));
                isum = vmlaq_n_s32(isum, d, x->scales[g]);
            }
        }
    *acc = vmlaq_n_f32(*acc, vcvtq_f32_s32(isum), h2f(x->d) * y->d);
}

INLINE void q3k_scales(const uint8_t *s, int *out) {
    for (int j = 0; j < 16; j++) {
        int lo = j < 8 ? s[j] & 15 : s[j - 8] >> 4;
        int hi = (s[8 + j % 4] >> (2 * (j / 4))) & 3;
        out[j] = (lo | (hi << 4)) - 32;
    }
}

INLINE void blk_q3_K_dot(const blk_q3_K *x, const act_q8k *y, float32x4_t *acc, float *corr) {
    (void)corr;
    int sc[16];
    q3k_scales(x->scales, sc);
    const uint8x16_t three = vdupq_n_u8(3), one = vdupq_n_u8(1);
    int32x4_t isum = vdupq_n_s32(0);
    for (int part = 0; part < 2; part++) {
        uint8x16_t hm = vld1q_u8(x->hmask + 16 * part);
        for (int half = 0; half < 2; half++) {
            uint8x16_t q = vld1q_u8(x->qs + 32 * half + 16 * part);
            for (int k = 0; k < 4; k++) {
                int c = 4 * half + k; /* chunk of 32: groups 2c (part 0) and 2c + 1 (part 1) */
                uint8x16_t u = vorrq_u8(vandq_u8(q, three), vshlq_n_u8(vandq_u8(hm, one), 2));
                q = vshrq_n_u8(q, 2);
                hm = vshrq_n_u8(hm, 1);
                int8x16_t w = vsubq_s8(vreinterpretq_s8_u8(u), vdupq_n_s8(4));
                int32x4_t d = DOT16(vdupq_n_s32(0), w, ld8(y->qs + 32 * c + 16 * part));
                isum = vmlaq_n_s32(isum, d, sc[2 * c + part]);
            }
        }
    }
    *acc = vmlaq_n_f32(*acc, vcvtq_f32_s32(isum), h2f(x->d) * y->d);
}

INLINE void blk_q2_K_dot(const blk_q2_K *x, const act_q8k *y, float32x4_t *acc, float *corr) {
    const uint8x16_t three = vdupq_n_u8(3);
    int32x4_t isum = vdupq_n_s32(0);
    int msum = 0;
    for (int g = 0; g < 16; g++) msum += (x->scales[g] >> 4) * y->bsums[g];
    for (int part = 0; part < 2; part++)
        for (int half = 0; half < 2; half++) {
            uint8x16_t q = vld1q_u8(x->qs + 32 * half + 16 * part);
            for (int k = 0; k < 4; k++) {
                int c = 4 * half + k;
                int8x16_t w = vreinterpretq_s8_u8(vandq_u8(q, three));
                q = vshrq_n_u8(q, 2);
                int32x4_t d = DOT16(vdupq_n_s32(0), w, ld8(y->qs + 32 * c + 16 * part));
                isum = vmlaq_n_s32(isum, d, x->scales[2 * c + part] & 15);
            }
        }
    *acc = vmlaq_n_f32(*acc, vcvtq_f32_s32(isum), h2f(x->d) * y->d);
    *corr -= h2f(x->dmin) * y->d * (float)msum;
}

/* --- dot, dotn (4 weight rows, one activation row), dotm (one weight row, 4 activation rows) -------------- */
#define DOTS(name, WT, AT, BLOCK)                                                                            \
    static float dot_##name(int64_t n, const void *w, const void *a) {                                       \
        const WT *x = w;                                                                                     \
        const AT *y = a;                                                                                     \
        float32x4_t acc = vdupq_n_f32(0);                                                                    \
        float corr = 0;                                                                                      \
        for (int64_t i = 0; i < n / BLOCK; i++) blk_##name##_dot(x + i, y + i, &acc, &corr);                 \
        return hsum_f32(acc) + corr;                                                                         \
    }                                                                                                        \
    static void dotn_##name(int64_t n, const void *w, size_t stride, int nr, const void *a, float *out) {    \
        const AT *y = a;                                                                                     \
        int r = 0;                                                                                           \
        for (; r + 4 <= nr; r += 4) {                                                                        \
            const WT *x0 = (const WT *)((const uint8_t *)w + (size_t)r * stride);                            \
            const WT *x1 = (const WT *)((const uint8_t *)x0 + stride);                                       \
            const WT *x2 = (const WT *)((const uint8_t *)x1 + stride);                                       \
            const WT *x3 = (const WT *)((const uint8_t *)x2 + stride);                                       \
            float32x4_t a0 = vdupq_n_f32(0), a1 = a0, a2 = a0, a3 = a0;                                      \
            float c0 = 0, c1 = 0, c2 = 0, c3 = 0;                                                            \
            for (int64_t i = 0; i < n / BLOCK; i++) {                                                        \
                blk_##name##_dot(x0 + i, y + i, &a0, &c0);                                                   \
                blk_##name##_dot(x1 + i, y + i, &a1, &c1);                                                   \
                blk_##name##_dot(x2 + i, y + i, &a2, &c2);                                                   \
                blk_##name##_dot(x3 + i, y + i, &a3, &c3);                                                   \
            }                                                                                                \
            out[r] = hsum_f32(a0) + c0;                                                                      \
            out[r + 1] = hsum_f32(a1) + c1;                                                                  \
            out[r + 2] = hsum_f32(a2) + c2;                                                                  \
            out[r + 3] = hsum_f32(a3) + c3;                                                                  \
        }                                                                                                    \
        for (; r < nr; r++) out[r] = dot_##name(n, (const uint8_t *)w + (size_t)r * stride, a);              \
    }                                                                                                        \
    static void dotm_##name(int64_t n, const void *w, const void *a, size_t astride, int na, float *out) {   \
        const WT *x = w;                                                                                     \
        int c = 0;                                                                                           \
        for (; c + 4 <= na; c += 4) {                                                                        \
            const AT *y0 = (const AT *)((const uint8_t *)a + (size_t)c * astride);                           \
            const AT *y1 = (const AT *)((const uint8_t *)y0 + astride);                                      \
            const AT *y2 = (const AT *)((const uint8_t *)y1 + astride);                                      \
            const AT *y3 = (const AT *)((const uint8_t *)y2 + astride);                                      \
            float32x4_t a0 = vdupq_n_f32(0), a1 = a0, a2 = a0, a3 = a0;                                      \
            float c0 = 0, c1 = 0, c2 = 0, c3 = 0;                                                            \
            for (int64_t i = 0; i < n / BLOCK; i++) {                                                        \
                blk_##name##_dot(x + i, y0 + i, &a0, &c0);                                                   \
                blk_##name##_dot(x + i, y1 + i, &a1, &c1);                                                   \
                blk_##name##_dot(x + i, y2 + i, &a2, &c2);                                                   \
                blk_##name##_dot(x + i, y3 + i, &a3, &c3);                                                   \
            }                                                                                                \
            out[c] = hsum_f32(a0) + c0;                                                                      \
            out[c + 1] = hsum_f32(a1) + c1;                                                                  \
            out[c + 2] = hsum_f32(a2) + c2;                                                                  \
            out[c + 3] = hsum_f32(a3) + c3;                                                                  \
        }                                                                                                    \
        for (; c < na; c++) out[c] = dot_##name(n, w, (const uint8_t *)a + (size_t)c * astride);             \
    }

DOTS(q4_0, blk_q4_0, act_q8, QK)
DOTS(q4_1, blk_q4_1, act_q8, QK)
DOTS(q5_0, blk_q5_0, act_q8, QK)
DOTS(q5_1, blk_q5_1, act_q8, QK)
DOTS(q8_0, blk_q8_0, act_q8, QK)
DOTS(q2_K, blk_q2_K, act_q8k, QK_K)
DOTS(q3_K, blk_q3_K, act_q8k, QK_K)
DOTS(q4_K, blk_q4_K, act_q8k, QK_K)
DOTS(q5_K, blk_q5_K, act_q8k, QK_K)
DOTS(q6_K, blk_q6_K, act_q8k, QK_K)

/* Fill the integer-dot entries of a table with this file's kernels. */
INLINE void set_int_dots(quant_isa *isa) {
#define SET(T, name)                                                                                         \
    isa->dot[EMBER_GGML_##T] = dot_##name;                                                                   \
    isa->dotn[EMBER_GGML_##T] = dotn_##name;                                                                 \
    isa->dotm[EMBER_GGML_##T] = dotm_##name;
    SET(Q4_0, q4_0)
    SET(Q4_1, q4_1)
    SET(Q5_0, q5_0)
    SET(Q5_1, q5_1)
    SET(Q8_0, q8_0)
    SET(Q2_K, q2_K)
    SET(Q3_K, q3_K)
    SET(Q4_K, q4_K)
    SET(Q5_K, q5_K)
    SET(Q6_K, q6_K)
#undef SET
}
