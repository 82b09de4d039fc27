/* NEON twin of the direct convolution rows for convs with few input taps (conv_avx2.c, isa.h conv_rows):
 * conv.c has already split the input into unit-stride zero-padded phase rows, so each tap's input is plain
 * loads used by all 8 channels. aarch64: 8 outputs x 8 channels in 16 q accumulators, the tap's 8 weights
 * in 2 q registers feeding lane FMAs (4 loads per 16 FMAs); armv7 (16 q registers): 4 outputs x 8 channels,
 * one dup load per multiply-add. */
#include "kernels/isa.h"
#include "kernels/arm/neon.h"

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
    /* channel by channel, not from an array of the accumulators (which the compiler keeps on the stack) */
    out += x;
    vst1q_f32(out, clamp4(a0, lo, hi));
    if (noc > 1) vst1q_f32(out + ldo, clamp4(a1, lo, hi));
    if (noc > 2) vst1q_f32(out + 2 * ldo, clamp4(a2, lo, hi));
    if (noc > 3) vst1q_f32(out + 3 * ldo, clamp4(a3, lo, hi));
    if (noc > 4) vst1q_f32(out + 4 * ldo, clamp4(a4, lo, hi));
    if (noc > 5) vst1q_f32(out + 5 * ldo, clamp4(a5, lo, hi));
    if (noc > 6) vst1q_f32(out + 6 * ldo, clamp4(a6, lo, hi));
    if (noc > 7) vst1q_f32(out + 7 * ldo, clamp4(a7, lo, hi));
}

#if defined(__aarch64__)
INLINE void store8(float *o, float32x4_t v0, float32x4_t v1, float32x4_t lo, float32x4_t hi) {
    vst1q_f32(o, clamp4(v0, lo, hi)), vst1q_f32(o + 4, clamp4(v1, lo, hi));
}

#define LANE_FMA(i, v, l) a##i##0 = vfmaq_laneq_f32(a##i##0, u0, v, l), a##i##1 = vfmaq_laneq_f32(a##i##1, u1, v, l)

INLINE void block8(float *out, int64_t ldo, int64_t noc, const float *w8, const float *const *rows, int64_t ntaps,
                   int64_t x, const float *b8, float32x4_t lo, float32x4_t hi) {
    float32x4_t a00 = vdupq_n_f32(b8[0]), a10 = vdupq_n_f32(b8[1]), a20 = vdupq_n_f32(b8[2]),
                a30 = vdupq_n_f32(b8[3]), a40 = vdupq_n_f32(b8[4]), a50 = vdupq_n_f32(b8[5]),
                a60 = vdupq_n_f32(b8[6]), a70 = vdupq_n_f32(b8[7]);
    float32x4_t a01 = a00, a11 = a10, a21 = a20, a31 = a30, a41 = a40, a51 = a50, a61 = a60, a71 = a70;
    for (int64_t t = 0; t < ntaps; t++, w8 += 8) {
        const float *r = rows[t] + x;
        float32x4_t u0 = vld1q_f32(r), u1 = vld1q_f32(r + 4), wl = vld1q_f32(w8), wh = vld1q_f32(w8 + 4);
        LANE_FMA(0, wl, 0), LANE_FMA(1, wl, 1), LANE_FMA(2, wl, 2), LANE_FMA(3, wl, 3);
        LANE_FMA(4, wh, 0), LANE_FMA(5, wh, 1), LANE_FMA(6, wh, 2), LANE_FMA(7, wh, 3);
    }
    out += x;
    store8(out, a00, a01, lo, hi);
    if (noc > 1) store8(out + ldo, a10, a11, lo, hi);
    if (noc > 2) store8(out + 2 * ldo, a20, a21, lo, hi);
    if (noc > 3) store8(out + 3 * ldo, a30, a31, lo, hi);
    if (noc > 4) store8(out + 4 * ldo, a40, a41, lo, hi);
    if (noc > 5) store8(out + 5 * ldo, a50, a51, lo, hi);
    if (noc > 6) store8(out + 6 * ldo, a60, a61, lo, hi);
    if (noc > 7) store8(out + 7 * ldo, a70, a71, lo, hi);
}
#endif

/* Blocks of 8 (aarch64) or 4 over [0, n), a ragged end covered by one more block ending at n (recomputing a
 * few outputs); rows under 4 take the scalar reference. */
static void conv_rows_neon(float *out, int64_t ldo, int64_t noc, const float *w8, const float *const *rows,
                           int64_t ntaps, int64_t n, const ember_ukernel_post *post) {
    if (n < 4) {
        ember_conv_rows_ref(out, ldo, noc, w8, rows, ntaps, n, post);
        return;
    }
    float b8[8] = {0};
    for (int64_t o = 0; o < noc; o++) b8[o] = post && post->rbias ? post->rbias[o] : 0.0f;
    float32x4_t lo = vdupq_n_f32(post ? post->lo : -INFINITY), hi = vdupq_n_f32(post ? post->hi : INFINITY);
#if defined(__aarch64__)
    if (n >= 8) {
        for (int64_t x = 0;; x += 8) {
            if (x + 8 > n) x = n - 8;
            block8(out, ldo, noc, w8, rows, ntaps, x, b8, lo, hi);
            if (x + 8 >= n) return;
        }
    }
#endif
    for (int64_t x = 0;; x += 4) {
        if (x + 4 > n) x = n - 4;
        block4(out, ldo, noc, w8, rows, ntaps, x, b8, lo, hi);
        if (x + 4 >= n) return;
    }
}

/* --- depthwise over 8 interleaved channels (isa.h interleave_rows, dw_interleaved) ------------------ */

/* 4 columns of 8 channel rows at a time: two 4 x 4 transposes (channels 0-3 and 4-7); the last 1..3 columns
 * one by one. */
static void interleave_rows_neon(float *dst, const float *const *src, int64_t nc, int64_t n) {
    int64_t x = 0;
    float32x4_t z = vdupq_n_f32(0.0f);
    for (; x + 4 <= n; x += 4)
        for (int h = 0; h < 8; h += 4) {
            float32x4_t v[4];
            for (int c = 0; c < 4; c++) v[c] = h + c < nc ? vld1q_f32(src[h + c] + x) : z;
            transpose4(v);
            for (int i = 0; i < 4; i++) vst1q_f32(dst + (x + i) * 8 + h, v[i]);
        }
    for (; x < n; x++)
        for (int64_t c = 0; c < 8; c++) dst[x * 8 + c] = c < nc ? src[c][x] : 0.0f;
}

#define DWI_TAP(i)                                                                                               \
    a##i##l = fma4(a##i##l, vld1q_f32(q[i] + o), wl), a##i##h = fma4(a##i##h, vld1q_f32(q[i] + o + 4), wh)

/* 4 pixels at a time (aarch64 and armv7 alike), two q accumulators each (channels 0-3, 4-7): every tap two
 * loads and two multiply-adds per pixel; then two 4 x 4 transposes give each channel its 4 outputs. Pixels
 * run on across rows (q: each pixel's position, the last one repeated past n); a panel holds whole blocks
 * when np is a multiple of 4 (other widths go to the scalar twin). */
static void dw_interleaved_neon(float *out, int64_t ldo, int64_t nc, const float *in, int64_t n, int64_t ow,
                                int64_t sx, int64_t sy, const int64_t *tap, int64_t ntaps, const float *w,
                                const float *bias, float lo, float hi, const float *slope, int64_t np,
                                int64_t ldp) {
    if (np % 4) {
        ember_dw_interleaved_ref(out, ldo, nc, in, n, ow, sx, sy, tap, ntaps, w, bias, lo, hi, slope, np,
                                 ldp);
        return;
    }
    float32x4_t bl = vld1q_f32(bias), bh = vld1q_f32(bias + 4), vlo = vdupq_n_f32(lo), vhi = vdupq_n_f32(hi);
    float32x4_t sl = slope ? vld1q_f32(slope) : bl, sh = slope ? vld1q_f32(slope + 4) : bh;
    int64_t x = 0, y = 0, at = 0; /* at: the block's place in its panel */
    for (int64_t p = 0; p < n; p += 4, at += 4) {
        int m = n - p < 4 ? (int)(n - p) : 4;
        if (np && at == np) out += ldp, at = 0;
        const float *q[4];
        for (int i = 0; i < 4; i++) {
            if (i >= m) {
                q[i] = q[m - 1];
                continue;
            }
            q[i] = in + y * sy + x * sx;
            if (++x == ow) x = 0, y++;
        }
        float32x4_t a0l = bl, a0h = bh, a1l = bl, a1h = bh, a2l = bl, a2h = bh, a3l = bl, a3h = bh;
        for (int64_t t = 0; t < ntaps; t++) {
            float32x4_t wl = vld1q_f32(w + t * 8), wh = vld1q_f32(w + t * 8 + 4);
            int64_t o = tap[t];
            DWI_TAP(0), DWI_TAP(1), DWI_TAP(2), DWI_TAP(3);
        }
        float32x4_t l[4] = {clamp4(a0l, vlo, vhi), clamp4(a1l, vlo, vhi), clamp4(a2l, vlo, vhi),
                            clamp4(a3l, vlo, vhi)};
        float32x4_t h[4] = {clamp4(a0h, vlo, vhi), clamp4(a1h, vlo, vhi), clamp4(a2h, vlo, vhi),
                            clamp4(a3h, vlo, vhi)};
        /* PRelu: the lanes with the sign bit set (-0 * s is -0, NaN stays) times the slope */
        for (int i = 0; slope && i < 4; i++) {
            uint32x4_t nl = vcltq_s32(vreinterpretq_s32_f32(l[i]), vdupq_n_s32(0));
            uint32x4_t nh = vcltq_s32(vreinterpretq_s32_f32(h[i]), vdupq_n_s32(0));
            l[i] = vbslq_f32(nl, vmulq_f32(l[i], sl), l[i]);
            h[i] = vbslq_f32(nh, vmulq_f32(h[i], sh), h[i]);
        }
        transpose4(l), transpose4(h);
        for (int64_t c = 0; c < nc; c++)
            store_first4(out + c * ldo + (np ? at : p), c < 4 ? l[c] : h[c - 4], m);
    }
}

void ember_conv_init_neon(ember_kernel_table *t) {
    t->conv_rows = conv_rows_neon;
    t->interleave_rows = interleave_rows_neon;
    t->dw_interleaved = dw_interleaved_neon;
}
