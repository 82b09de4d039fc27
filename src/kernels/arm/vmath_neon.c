/* NEON vector math (aarch64 and armv7): the same range reductions and polynomials as the AVX2 twins
 * (see x86/vmath_avx2.c), binary ops, reductions, f16 conversion and the depthwise-conv block kernel. */
#include "kernels/isa.h"

#include "ember/tensor.h"

#include <arm_neon.h>
#include <math.h>
#include <stdbool.h>

#define C4(v) vdupq_n_f32(v)

/* --- helpers that differ between aarch64 and armv7 ------------------------------------------------ */

static inline float32x4_t fma4(float32x4_t acc, float32x4_t a, float32x4_t b) { /* acc + a*b */
#if defined(__aarch64__) || defined(__ARM_FEATURE_FMA)
    return vfmaq_f32(acc, a, b);
#else
    return vmlaq_f32(acc, a, b);
#endif
}

static inline float32x4_t div4(float32x4_t a, float32x4_t b) {
#if defined(__aarch64__)
    return vdivq_f32(a, b);
#else /* reciprocal estimate + two Newton steps (about 1 ulp) */
    float32x4_t r = vrecpeq_f32(b);
    r = vmulq_f32(r, vrecpsq_f32(b, r));
    r = vmulq_f32(r, vrecpsq_f32(b, r));
    return vmulq_f32(a, r);
#endif
}

static inline float32x4_t round4(float32x4_t x) { /* to nearest, |x| < 2^22 */
#if defined(__aarch64__)
    return vrndnq_f32(x);
#else
    float32x4_t magic = C4(12582912.0f); /* 1.5 * 2^23 */
    return vsubq_f32(vaddq_f32(x, magic), magic);
#endif
}

static inline float hsum4(float32x4_t v) {
#if defined(__aarch64__)
    return vaddvq_f32(v);
#else
    float32x2_t s = vadd_f32(vget_low_f32(v), vget_high_f32(v));
    return vget_lane_f32(vpadd_f32(s, s), 0);
#endif
}

static inline bool all4(uint32x4_t m) { /* every lane of a mask set */
#if defined(__aarch64__)
    return vminvq_u32(m) != 0;
#else
    uint32x2_t h = vand_u32(vget_low_u32(m), vget_high_u32(m));
    return (vget_lane_u32(h, 0) & vget_lane_u32(h, 1)) != 0;
#endif
}

static inline float32x4_t select4(uint32x4_t m, float32x4_t a, float32x4_t b) { return vbslq_f32(m, a, b); }
static inline uint32x4_t isnan4(float32x4_t x) { return vmvnq_u32(vceqq_f32(x, x)); }
static inline float32x4_t copysign4(float32x4_t mag, float32x4_t sgn) {
    return vbslq_f32(vdupq_n_u32(0x80000000u), sgn, vabsq_f32(mag));
}

/* --- element functions ------------------------------------------------------------------------------ */

#define EXP_LO (-87.3365478515625f) /* ln FLT_MIN */
#define EXP_HI 88.3762626647949f    /* ln FLT_MAX */

/* exp of xc in [EXP_LO, EXP_HI] (vmath_avx2.c's exp8_in_range). */
static inline float32x4_t exp4_in_range(float32x4_t xc) {
    float32x4_t n = round4(vmulq_f32(xc, C4(1.44269504088896341f)));
    float32x4_t r = vmlsq_f32(xc, n, C4(0.693359375f));
    r = vmlsq_f32(r, n, C4(-2.12194440e-4f));
    float32x4_t p = C4(1.0f / 5040);
    p = fma4(C4(1.0f / 720), p, r);
    p = fma4(C4(1.0f / 120), p, r);
    p = fma4(C4(1.0f / 24), p, r);
    p = fma4(C4(1.0f / 6), p, r);
    p = fma4(C4(0.5f), p, r);
    p = fma4(C4(1.0f), p, r);
    p = fma4(C4(1.0f), p, r);
    int32x4_t e = vshlq_n_s32(vaddq_s32(vcvtq_s32_f32(n), vdupq_n_s32(127)), 23);
    return vmulq_f32(p, vreinterpretq_f32_s32(e));
}

static inline float32x4_t exp4(float32x4_t x) {
    const float32x4_t hi = C4(EXP_HI), lo = C4(EXP_LO);
    float32x4_t y = exp4_in_range(vminq_f32(vmaxq_f32(x, lo), hi));
    y = select4(vcltq_f32(x, lo), C4(0.0f), y);
    y = select4(vcgtq_f32(x, hi), C4(INFINITY), y);
    return select4(isnan4(x), x, y);
}

static inline float32x4_t sigmoid4(float32x4_t x) {
    return div4(C4(1.0f), vaddq_f32(C4(1.0f), exp4(vnegq_f32(x))));
}

static inline float32x4_t tanh4(float32x4_t x) {
    float32x4_t ax = vabsq_f32(x), x2 = vmulq_f32(x, x);
    float32x4_t p = C4(21844.0f / 6081075);
    p = fma4(C4(-1382.0f / 155925), p, x2);
    p = fma4(C4(62.0f / 2835), p, x2);
    p = fma4(C4(-17.0f / 315), p, x2);
    p = fma4(C4(2.0f / 15), p, x2);
    p = fma4(C4(-1.0f / 3), p, x2);
    float32x4_t small = fma4(x, vmulq_f32(p, x2), x);
    float32x4_t e = exp4(vaddq_f32(ax, ax));
    float32x4_t big = vsubq_f32(C4(1.0f), div4(C4(2.0f), vaddq_f32(e, C4(1.0f))));
    big = select4(isnan4(x), x, copysign4(big, x));
    return select4(vcltq_f32(ax, C4(0.4f)), small, big);
}

static inline float32x4_t erfc_pos4(float32x4_t z) {
    static const float c[10] = {-1.26551223f, 1.00002368f, 0.37409196f, 0.09678418f, -0.18628806f,
                                0.27886807f,  -1.13520398f, 1.48851587f, -0.82215223f, 0.17087277f};
    float32x4_t t = div4(C4(1.0f), fma4(C4(1.0f), C4(0.5f), z));
    float32x4_t p = C4(c[9]);
    for (int i = 8; i >= 0; i--) p = fma4(C4(c[i]), p, t);
    return vmulq_f32(t, exp4_in_range(vmaxq_f32(vmlsq_f32(p, z, z), C4(EXP_LO)))); /* as erfc_pos8 */
}

static inline float32x4_t erf_small4(float32x4_t x) {
    static const float taylor[11] = {1.1283791670955126f,   -0.37612638903183754f, 0.11283791670955126f,
                                     -0.026866170645131252f, 0.0052239776254421878f, -8.5483270234508529e-4f,
                                     1.2055332981789664e-4f, -1.4925650358406251e-5f, 1.6462114365889247e-6f,
                                     -1.6365844691234924e-7f, 1.4807192815879218e-8f};
    float32x4_t x2 = vmulq_f32(x, x), p = C4(taylor[10]);
    for (int i = 9; i >= 0; i--) p = fma4(C4(taylor[i]), p, x2);
    return vmulq_f32(p, x);
}

static inline float32x4_t erf4(float32x4_t x) {
    float32x4_t ax = vabsq_f32(x);
    float32x4_t big = copysign4(vsubq_f32(C4(1.0f), erfc_pos4(ax)), x);
    big = select4(isnan4(x), x, big);
    return select4(vcltq_f32(ax, C4(1.0f)), erf_small4(x), big);
}

static inline float32x4_t silu4(float32x4_t x) { return vmulq_f32(x, sigmoid4(x)); }

/* As gelu_erf8: the bracket from erfc for every lane unless all are under 1. */
static inline float32x4_t gelu_erf4(float32x4_t x) {
    float32x4_t z = vmulq_f32(x, C4(0.70710678118654752f)), az = vabsq_f32(z), bracket;
    if (all4(vcltq_f32(az, C4(1.0f)))) {
        bracket = vaddq_f32(C4(1.0f), erf_small4(z));
    } else {
        float32x4_t e = erfc_pos4(az);
        bracket = select4(vcltq_f32(z, C4(0.0f)), e, vsubq_f32(C4(2.0f), e));
    }
    return vmulq_f32(vmulq_f32(C4(0.5f), x), bracket);
}

static inline float32x4_t gelu_tanh4(float32x4_t x) {
    float32x4_t x3 = vmulq_f32(vmulq_f32(x, x), x);
    float32x4_t u = vmulq_f32(C4(2.0f * 0.7978845608028654f), fma4(x, C4(0.044715f), x3));
    return vmulq_f32(x, sigmoid4(u));
}

#define NEON_UNARY(name, f)                                                                                  \
    static void name(float *y, const float *x, int64_t n) {                                                  \
        int64_t i = 0;                                                                                       \
        for (; i + 4 <= n; i += 4) vst1q_f32(y + i, f(vld1q_f32(x + i)));                                    \
        if (i < n) {                                                                                         \
            float t[4] = {0, 0, 0, 0};                                                                       \
            for (int64_t j = i; j < n; j++) t[j - i] = x[j];                                                 \
            vst1q_f32(t, f(vld1q_f32(t)));                                                                   \
            for (int64_t j = i; j < n; j++) y[j] = t[j - i];                                                 \
        }                                                                                                    \
    }
NEON_UNARY(exp_neon, exp4)
NEON_UNARY(tanh_neon, tanh4)
NEON_UNARY(sigmoid_neon, sigmoid4)
NEON_UNARY(erf_neon, erf4)
NEON_UNARY(silu_neon, silu4)
NEON_UNARY(gelu_erf_neon, gelu_erf4)
NEON_UNARY(gelu_tanh_neon, gelu_tanh4)

/* One activation on 4 lanes, inlined with a constant kind as act8 (x86/vmath_avx2.c). ReLU/Clip propagate NaN
 * like the scalar definitions. */
static inline __attribute__((always_inline)) float32x4_t act4(ember_act_kind kind, const ember_act *a,
                                                              float32x4_t v) {
    float32x4_t zero = vdupq_n_f32(0.0f);
    switch (kind) {
    case EMBER_ACT_NONE: return v;
    case EMBER_ACT_RELU: return select4(vcltq_f32(v, zero), zero, v);
    case EMBER_ACT_CLIP: {
        v = select4(vcltq_f32(v, C4(a->p0)), C4(a->p0), v);
        return select4(vcgtq_f32(v, C4(a->p1)), C4(a->p1), v);
    }
    case EMBER_ACT_LEAKY_RELU: return select4(vcltq_f32(v, zero), vmulq_f32(v, C4(a->p0)), v);
    case EMBER_ACT_SILU: return silu4(v);
    case EMBER_ACT_GELU_ERF: return gelu_erf4(v);
    case EMBER_ACT_GELU_TANH: return gelu_tanh4(v);
    case EMBER_ACT_SIGMOID: return sigmoid4(v);
    case EMBER_ACT_TANH: return tanh4(v);
    case EMBER_ACT_HARD_SIGMOID:
        return vminq_f32(C4(1.0f), vmaxq_f32(zero, fma4(C4(a->p1), v, C4(a->p0))));
    case EMBER_ACT_HARD_SWISH:
        return vmulq_f32(v, vminq_f32(C4(1.0f), vmaxq_f32(zero, fma4(C4(0.5f), v, C4(1.0f / 6.0f)))));
    case EMBER_ACT_PRELU: /* ember_epilogue_apply gives rows of LEAKY_RELU; row 0's slope as in the scalar act */
        return select4(vcltq_f32(v, zero), vmulq_f32(v, C4(a->slope[0])), v);
    case EMBER_ACT_COUNT: break;
    }
    return v;
}

static inline __attribute__((always_inline)) float32x4_t
epi4(const ember_epilogue *ep, ember_act_kind kind, float32x4_t v, float32x4_t bias, float32x4_t res) {
    if (!ep->residual_after_act) v = vaddq_f32(v, res);
    v = act4(kind, &ep->act, vaddq_f32(v, bias));
    return ep->residual_after_act ? vaddq_f32(v, res) : v;
}

static inline __attribute__((always_inline)) void epilogue_rows(const ember_epilogue *ep, ember_act_kind kind,
                                                                float *c, int64_t ldc, int64_t row0,
                                                                int64_t col0, int64_t m, int64_t n) {
    const float *cb = ep->bias && ep->bias_kind == EMBER_BIAS_COL ? ep->bias + col0 : NULL;
    float32x4_t zero = vdupq_n_f32(0.0f);
    for (int64_t i = 0; i < m; i++) {
        float *row = c + i * ldc;
        const float *res = ep->residual ? ep->residual + (row0 + i) * ep->ldr + col0 : NULL;
        float32x4_t rb = vdupq_n_f32(ep->bias && ep->bias_kind == EMBER_BIAS_ROW ? ep->bias[row0 + i] : 0.0f);
        int64_t j = 0;
        for (; j + 4 <= n; j += 4)
            vst1q_f32(row + j, epi4(ep, kind, vld1q_f32(row + j), cb ? vld1q_f32(cb + j) : rb,
                                    res ? vld1q_f32(res + j) : zero));
        if (j < n) { /* tail through a small buffer */
            float t[3][4] = {{0}};
            for (int64_t q = j; q < n; q++) {
                t[0][q - j] = row[q];
                t[1][q - j] = cb ? cb[q] : vgetq_lane_f32(rb, 0);
                t[2][q - j] = res ? res[q] : 0.0f;
            }
            vst1q_f32(t[0], epi4(ep, kind, vld1q_f32(t[0]), vld1q_f32(t[1]), vld1q_f32(t[2])));
            for (int64_t q = j; q < n; q++) row[q] = t[0][q - j];
        }
    }
}

#define EPILOGUE_CASE(k)                                                                                     \
    case k:                                                                                                  \
        epilogue_rows(ep, k, c, ldc, row0, col0, m, n);                                                      \
        return;

static void epilogue_neon(const ember_epilogue *ep, float *c, int64_t ldc, int64_t row0, int64_t col0,
                          int64_t m, int64_t n) {
    EMBER_ACT_SWITCH(ep->act.kind, EPILOGUE_CASE) /* one loop per activation (act4) */
}

static inline float32x4_t binop4(ember_binop op, float32x4_t a, float32x4_t b) {
    switch (op) {
    case EMBER_BINOP_ADD: return vaddq_f32(a, b);
    case EMBER_BINOP_SUB: return vsubq_f32(a, b);
    case EMBER_BINOP_MUL: return vmulq_f32(a, b);
    case EMBER_BINOP_DIV: break;
    }
    return a;
}

static void binary_neon(ember_binop op, float *y, const float *a, const float *b, float s, int64_t n) {
    int64_t i = 0;
    float32x4_t vs = vdupq_n_f32(s);
    if (op != EMBER_BINOP_DIV) {
        for (; i + 4 <= n; i += 4) vst1q_f32(y + i, binop4(op, vld1q_f32(a + i), b ? vld1q_f32(b + i) : vs));
    } else { /* armv7 has no exact vector divide: it takes the scalar loop */
#if defined(__aarch64__)
        for (; i + 4 <= n; i += 4) vst1q_f32(y + i, vdivq_f32(vld1q_f32(a + i), b ? vld1q_f32(b + i) : vs));
#endif
    }
    for (; i < n; i++) y[i] = ember_scalar_binop(op, a[i], b ? b[i] : s);
}

static float sum_neon(const float *x, int64_t n) {
    float32x4_t s0 = vdupq_n_f32(0.0f), s1 = s0;
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        s0 = vaddq_f32(s0, vld1q_f32(x + i));
        s1 = vaddq_f32(s1, vld1q_f32(x + i + 4));
    }
    float s = hsum4(vaddq_f32(s0, s1));
    for (; i < n; i++) s += x[i];
    return s;
}

static float sum_sq_dev_neon(const float *x, int64_t n, float mean) {
    float32x4_t m = vdupq_n_f32(mean), s0 = vdupq_n_f32(0.0f), s1 = s0;
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        float32x4_t d0 = vsubq_f32(vld1q_f32(x + i), m), d1 = vsubq_f32(vld1q_f32(x + i + 4), m);
        s0 = fma4(s0, d0, d0);
        s1 = fma4(s1, d1, d1);
    }
    float s = hsum4(vaddq_f32(s0, s1));
    for (; i < n; i++) s += (x[i] - mean) * (x[i] - mean);
    return s;
}

/* As normalize_avx2: one loop per case, the scalar order (no fused multiply-add). */
#define NORM_LOOP(SCALE, BIAS)                                                                               \
    for (; i + 4 <= n; i += 4) {                                                                             \
        float32x4_t v = vmulq_f32(vsubq_f32(vld1q_f32(x + i), sh), mu);                                      \
        if (SCALE) v = vmulq_f32(v, vld1q_f32(scale + i));                                                   \
        if (BIAS) v = vaddq_f32(v, vld1q_f32(bias + i));                                                     \
        vst1q_f32(y + i, v);                                                                                 \
    }

static void normalize_neon(float *y, const float *x, const float *scale, const float *bias, int64_t n,
                           float shift, float mul) {
    float32x4_t sh = vdupq_n_f32(shift), mu = vdupq_n_f32(mul);
    int64_t i = 0;
    if (scale && bias)
        NORM_LOOP(1, 1)
    else if (scale)
        NORM_LOOP(1, 0)
    else if (bias)
        NORM_LOOP(0, 1)
    else
        NORM_LOOP(0, 0)
    ember_normalize_ref(y + i, x + i, scale ? scale + i : NULL, bias ? bias + i : NULL, n - i, shift, mul);
}

/* exp of v <= 0 or NaN (exp8_nonpos in x86/vmath_avx2.c; vmaxq returns NaN when either is). */
static inline float32x4_t exp4_nonpos(float32x4_t v) {
    return select4(vcltq_f32(v, C4(EXP_LO)), C4(0.0f), exp4_in_range(vmaxq_f32(v, C4(EXP_LO))));
}

static float exp_sum_neon(float *y, const float *x, float shift, int64_t n) {
    float32x4_t sh = vdupq_n_f32(shift), s0 = vdupq_n_f32(0.0f), s1 = s0;
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        float32x4_t a = exp4_nonpos(vsubq_f32(vld1q_f32(x + i), sh)),
                    b = exp4_nonpos(vsubq_f32(vld1q_f32(x + i + 4), sh));
        vst1q_f32(y + i, a);
        vst1q_f32(y + i + 4, b);
        s0 = vaddq_f32(s0, a);
        s1 = vaddq_f32(s1, b);
    }
    float s = hsum4(vaddq_f32(s0, s1));
    if (i < n) { /* the tail through a buffer: lanes past n are exp(0 - shift), never summed */
        float t[8] = {0};
        for (int64_t j = i; j < n; j++) t[j - i] = x[j];
        for (int h = 0; h < 8; h += 4) vst1q_f32(t + h, exp4_nonpos(vsubq_f32(vld1q_f32(t + h), sh)));
        for (int64_t j = i; j < n; j++) s += y[j] = t[j - i];
    }
    return s;
}

static float max_neon(const float *x, int64_t n) {
    float32x4_t m = vdupq_n_f32(-INFINITY); /* vmaxq propagates NaN */
    int64_t i = 0;
    for (; i + 4 <= n; i += 4) m = vmaxq_f32(m, vld1q_f32(x + i));
    float r[4], out = -INFINITY;
    vst1q_f32(r, m);
    for (int j = 0; j < 4; j++) out = r[j] > out || isnan(r[j]) ? r[j] : out;
    for (; i < n; i++)
        if (x[i] > out || isnan(x[i])) out = x[i];
    return out;
}

#if defined(__aarch64__) || (defined(__ARM_FP16_FORMAT_IEEE) && defined(__ARM_FP) && (__ARM_FP & 2))
#define HAVE_F16_CONVERT 1
static void f16_to_f32_neon(float *y, const uint16_t *x, int64_t n) {
    int64_t i = 0;
    for (; i + 4 <= n; i += 4) vst1q_f32(y + i, vcvt_f32_f16(vreinterpret_f16_u16(vld1_u16(x + i))));
    for (; i < n; i++) y[i] = ember_f16_to_f32(x[i]);
}

static void f32_to_f16_neon(uint16_t *y, const float *x, int64_t n) {
    int64_t i = 0;
    for (; i + 4 <= n; i += 4) vst1_u16(y + i, vreinterpret_u16_f16(vcvt_f16_f32(vld1q_f32(x + i))));
    for (; i < n; i++) y[i] = ember_f32_to_f16(x[i]);
}
#endif

/* Four consecutive outputs of a pooling row: stride 1 loads directly; stride 2 takes the even elements
 * of p[0..6] from two overlapping loads (never touching p[7], which may lie past the row). */
static inline float32x4_t load_strided(const float *p, int64_t sw) {
    if (sw == 1) return vld1q_f32(p);
    float32x4x2_t u = vuzpq_f32(vld1q_f32(p), vld1q_f32(p + 3)); /* evens: p0 p2 p3 p5, odds: p1 p3 p4 p6 */
    return vcombine_f32(vget_low_f32(u.val[0]), vget_high_f32(u.val[1]));
}

/* --- depthwise block (see isa.h) ------------------------------------------------------------------------ */

/* bias + clamp; NaN stays NaN (the compares are false for it) */
static inline float32x4_t dw_post4(float32x4_t v, float32x4_t rb, float32x4_t lo, float32x4_t hi) {
    v = vaddq_f32(v, rb);
    v = vbslq_f32(vcltq_f32(v, lo), lo, v);
    return vbslq_f32(vcgtq_f32(v, hi), hi, v);
}

/* Four outputs from the nine tap vectors v[0..8] (row by row) with the weights in registers: three partial
 * sums. */
static inline float32x4_t dw9_sum4(const float32x4_t *v, const float32x4_t *wv) {
    float32x4_t a0 = vmulq_f32(v[0], wv[0]), a1 = vmulq_f32(v[3], wv[3]), a2 = vmulq_f32(v[6], wv[6]);
    a0 = fma4(a0, v[1], wv[1]);
    a1 = fma4(a1, v[4], wv[4]);
    a2 = fma4(a2, v[7], wv[7]);
    a0 = fma4(a0, v[2], wv[2]);
    a1 = fma4(a1, v[5], wv[5]);
    a2 = fma4(a2, v[8], wv[8]);
    return vaddq_f32(vaddq_f32(a0, a1), a2);
}

/* Four outputs at offset o of the nine taps. */
static inline float32x4_t dw9_4(const float *const *p, int64_t o, const float32x4_t *wv) {
    float32x4_t v[9];
    for (int t = 0; t < 9; t++) v[t] = vld1q_f32(p[t] + o);
    return dw9_sum4(v, wv);
}

/* Four outputs at offset o of any number of taps, two partial sums. */
static inline float32x4_t dwn_4(const float *const *p, const float *w, int64_t nt, int64_t o) {
    float32x4_t a0 = vdupq_n_f32(0.0f), a1 = a0;
    int64_t t = 0;
    for (; t + 2 <= nt; t += 2) {
        a0 = fma4(a0, vld1q_f32(p[t] + o), vdupq_n_f32(w[t]));
        a1 = fma4(a1, vld1q_f32(p[t + 1] + o), vdupq_n_f32(w[t + 1]));
    }
    if (t < nt) a0 = fma4(a0, vld1q_f32(p[t] + o), vdupq_n_f32(w[t]));
    return vaddq_f32(a0, a1);
}

/* One row at a time: blocks of 8 and 4 outputs, the ragged end as one more block ending at n. The tap
 * count is a constant after inlining. */
static inline void dw_block_rows(float *out, int64_t ldo, const float *const *taps, const float *w,
                                 int64_t nt, int64_t ldi, int64_t rows, int64_t n,
                                 const ember_ukernel_post *post) {
    float32x4_t rb = vdupq_n_f32(post && post->rbias ? *post->rbias : 0.0f);
    float32x4_t lo = vdupq_n_f32(post ? post->lo : -INFINITY), hi = vdupq_n_f32(post ? post->hi : INFINITY);
    float32x4_t wv[9];
    for (int t = 0; t < 9; t++) wv[t] = vdupq_n_f32(t < nt ? w[t] : 0.0f);
    const float *p[EMBER_DW_MAX_TAPS];
    for (int64_t r = 0; r < rows; r++, out += ldo) {
        for (int64_t t = 0; t < nt; t++) p[t] = taps[t] + r * ldi;
#define DW_AT(o) (nt == 9 ? dw9_4(p, o, wv) : dwn_4(p, w, nt, o))
        int64_t x = 0;
        for (; x + 8 <= n; x += 8) {
            float32x4_t v0 = DW_AT(x), v1 = DW_AT(x + 4);
            vst1q_f32(out + x, dw_post4(v0, rb, lo, hi));
            vst1q_f32(out + x + 4, dw_post4(v1, rb, lo, hi));
        }
        if (x + 4 <= n) {
            vst1q_f32(out + x, dw_post4(DW_AT(x), rb, lo, hi));
            x += 4;
        }
        if (x < n) vst1q_f32(out + n - 4, dw_post4(DW_AT(n - 4), rb, lo, hi));
#undef DW_AT
    }
}

static void dw_block_neon(float *out, int64_t ldo, const float *const *taps, const float *w, int64_t ntaps,
                          int64_t ldi, int64_t rows, int64_t n, const ember_ukernel_post *post) {
    if (n < 4) /* rows under one vector */
        ember_dw_block_ref(out, ldo, taps, w, ntaps, ldi, rows, n, post);
    else if (ntaps == 9)
        dw_block_rows(out, ldo, taps, w, 9, ldi, rows, n, post);
    else
        dw_block_rows(out, ldo, taps, w, ntaps, ldi, rows, n, post);
}

/* Four outputs of dw3 at column `at` of the three rows: with `left` the column before reads as 0 (the row's
 * vector moved up a lane behind a zero), with `right` the column after (moved down, a zero after it); else
 * those columns are loaded. */
static inline float32x4_t dw3_edge4(const float *const *row, int64_t at, bool left, bool right,
                                    const float32x4_t *wv) {
    float32x4_t v[9], z = vdupq_n_f32(0.0f);
    for (int k = 0; k < 3; k++) {
        const float *p = row[k] + at;
        float32x4_t m = vld1q_f32(p);
        v[3 * k] = left ? vextq_f32(z, m, 3) : vld1q_f32(p - 1), v[3 * k + 1] = m;
        v[3 * k + 2] = right ? vextq_f32(m, z, 1) : vld1q_f32(p + 1);
    }
    return dw9_sum4(v, wv);
}

/* 3x3 stride-1 rows in place (see isa.h): per row the first vector takes its left column as the row's own
 * vector moved up a lane behind a zero (vext), the last (ending at n) its right column moved down with a
 * zero after it, and the vectors between are dw_block's, two at a time, reading the rows directly. Rows
 * under 4: the twin. */
static void dw3_neon(float *out, int64_t ldo, const float *in, int64_t ldi, const float *above,
                     const float *below, int64_t rows, int64_t n, const float *w,
                     const ember_ukernel_post *post) {
    if (n < 4) {
        ember_dw3_ref(out, ldo, in, ldi, above, below, rows, n, w, post);
        return;
    }
    float32x4_t rb = vdupq_n_f32(post && post->rbias ? *post->rbias : 0.0f);
    float32x4_t lo = vdupq_n_f32(post ? post->lo : -INFINITY), hi = vdupq_n_f32(post ? post->hi : INFINITY);
    float32x4_t wv[9];
    for (int t = 0; t < 9; t++) wv[t] = vdupq_n_f32(w[t]);
    for (int64_t r = 0; r < rows; r++, out += ldo) {
        const float *row[3] = {r ? in + (r - 1) * ldi : above, in + r * ldi,
                               r + 1 < rows ? in + (r + 1) * ldi : below};
        vst1q_f32(out, dw_post4(dw3_edge4(row, 0, true, n == 4, wv), rb, lo, hi));
        if (n == 4) continue;
        /* the vectors between read columns x - 1 .. x + 4 of each row: offset x - 1 from p[3k] = row[k] */
        const float *p[9];
        for (int t = 0; t < 9; t++) p[t] = row[t / 3] + t % 3;
        int64_t x = 4;
        for (; x + 9 <= n; x += 8) {
            float32x4_t v0 = dw9_4(p, x - 1, wv), v1 = dw9_4(p, x + 3, wv);
            vst1q_f32(out + x, dw_post4(v0, rb, lo, hi));
            vst1q_f32(out + x + 4, dw_post4(v1, rb, lo, hi));
        }
        if (x + 5 <= n) vst1q_f32(out + x, dw_post4(dw9_4(p, x - 1, wv), rb, lo, hi));
        vst1q_f32(out + n - 4, dw_post4(dw3_edge4(row, n - 4, false, true, wv), rb, lo, hi));
    }
}

/* Max over stride-2 windows of 2 or 3 adjacent columns (the usual 2x2 / 3x3 stride-2 MaxPool), 4 outputs
 * per block: vld2 splits p[0..7] into the even and odd columns, and the odd columns of p[1..8] are the
 * third (vmax gives NaN when either is NaN). Reads p[0..6 + kw - 1] of each block: the windows' columns. */
static void max_row_s2(float *out, const float *const *rows, int64_t kh, int64_t kw, int64_t x0, int64_t x1,
                       int64_t pad_l) {
    for (int64_t x = x0;; x += 4) {
        if (x + 4 > x1) x = x1 - 4;
        int64_t ix = 2 * x - pad_l;
        float32x4_t m = vdupq_n_f32(-INFINITY);
        for (int64_t ky = 0; ky < kh; ky++) {
            float32x4x2_t v = vld2q_f32(rows[ky] + ix);
            m = vmaxq_f32(m, vmaxq_f32(v.val[0], v.val[1]));
            if (kw == 3) m = vmaxq_f32(m, vld2q_f32(rows[ky] + ix + 1).val[1]);
        }
        vst1q_f32(out + x, m);
        if (x + 4 >= x1) return;
    }
}

/* Max / average pooling row (see isa.h): 4 outputs per vector for strides 1 and 2, the taps in the scalar
 * order so that averages match the reference bit for bit; max keeps NaN like the scalar version. */
static void pool_row_neon(float *out, const float *const *rows, int64_t kh, int64_t kw, int64_t x0,
                          int64_t x1, int64_t sw, int64_t dw, int64_t pad_l, bool max, float div) {
    int64_t x = x0;
    if (max && sw == 2 && dw == 1 && (kw == 2 || kw == 3) && x1 - x0 >= 4) {
        max_row_s2(out, rows, kh, kw, x0, x1, pad_l);
        return;
    }
    if (sw <= 2 && x1 - x0 >= 4) {
        for (;; x += 4) {
            if (x + 4 > x1) x = x1 - 4;
            int64_t ix = x * sw - pad_l;
            float32x4_t acc = vdupq_n_f32(max ? -INFINITY : 0.0f);
            for (int64_t ky = 0; ky < kh; ky++)
                for (int64_t kx = 0; kx < kw; kx++) {
                    float32x4_t v = load_strided(rows[ky] + ix + kx * dw, sw);
                    if (max) /* take v where v > acc or v is NaN (NaN != NaN) */
                        acc = vbslq_f32(vorrq_u32(vcgtq_f32(v, acc), vmvnq_u32(vceqq_f32(v, v))), v, acc);
                    else
                        acc = vaddq_f32(acc, v);
                }
            if (!max) { /* divide exactly (armv7 NEON has no vector division) */
                float t[4];
                vst1q_f32(t, acc);
                for (int i = 0; i < 4; i++) t[i] /= div;
                acc = vld1q_f32(t);
            }
            vst1q_f32(out + x, acc);
            if (x + 4 >= x1) return;
        }
    }
    ember_pool_row_ref(out, rows, kh, kw, x, x1, sw, dw, pad_l, max, div);
}

/* Strided copy (im2col of stride-2 convs): 4 per vector for stride 2 (load_strided reads p[0..6] of each
 * block, and the last block ends at the last element), scalar otherwise. */
static void gather_neon(float *d, const float *src, int64_t n, int64_t stride) {
    if (stride == 2 && n >= 4) {
        for (int64_t j = 0;; j += 4) {
            if (j + 4 > n) j = n - 4;
            vst1q_f32(d + j, load_strided(src + 2 * j, 2));
            if (j + 4 >= n) return;
        }
    }
    ember_gather_ref(d, src, n, stride);
}

/* Nearest upsampling row (see isa.h): x2 stores each vector interleaved with itself (vst2q), 4 inputs -> 8
 * outputs per step; other factors and the tail are scalar. */
static void upsample_row_neon(float *d, const float *s, int64_t n, int64_t f) {
    int64_t i = 0;
    if (f == 2)
        for (; i + 8 <= n; i += 8) {
            float32x4_t v = vld1q_f32(s + i / 2);
            float32x4x2_t vv = {{v, v}};
            vst2q_f32(d + i, vv);
        }
    ember_upsample_row_ref(d + i, s + i / f, n - i, f);
}

/* 8 inputs -> 4 even + 4 odd per step (vld2q); the tails scalar. */
static void deinterleave_rows_neon(float *d0, float *d1, int64_t ldd, const float *src, int64_t lds,
                                   int64_t rows, int64_t n0, int64_t n1) {
    int64_t nv = (n0 < n1 ? n0 : n1) / 4 * 4; /* src[2j + 7] <= src[2 n1 - 1]: inside the row */
    for (int64_t r = 0; r < rows; r++, d0 += ldd, d1 += ldd, src += lds) {
        for (int64_t j = 0; j < nv; j += 4) {
            float32x4x2_t v = vld2q_f32(src + 2 * j);
            vst1q_f32(d0 + j, v.val[0]);
            vst1q_f32(d1 + j, v.val[1]);
        }
        for (int64_t j = nv; j < n0; j++) d0[j] = src[2 * j];
        for (int64_t j = nv; j < n1; j++) d1[j] = src[2 * j + 1];
    }
}

/* Rows of a strided copy: stride 1 and 2 by vectors of 4, the ragged end as one more vector ending at n;
 * rows under 4 scalar. */
static void gather_rows_neon(float *d, int64_t ldd, const float *src, int64_t lds, int64_t rows, int64_t n,
                             int64_t stride) {
    if (stride > 2 || n < 4) {
        ember_gather_rows_ref(d, ldd, src, lds, rows, n, stride);
        return;
    }
    for (int64_t r = 0; r < rows; r++, d += ldd, src += lds)
        for (int64_t j = 0;; j += 4) {
            if (j + 4 > n) j = n - 4;
            vst1q_f32(d + j, load_strided(src + stride * j, stride));
            if (j + 4 >= n) break;
        }
}

void ember_vmath_init_neon(ember_kernel_table *t) {
    t->exp = exp_neon;
    t->tanh = tanh_neon;
    t->sigmoid = sigmoid_neon;
    t->erf = erf_neon;
    t->silu = silu_neon;
    t->gelu_erf = gelu_erf_neon;
    t->gelu_tanh = gelu_tanh_neon;
    t->binary = binary_neon;
    t->epilogue = epilogue_neon;
    t->sum = sum_neon;
    t->max = max_neon;
    t->exp_sum = exp_sum_neon;
    t->sum_sq_dev = sum_sq_dev_neon;
    t->normalize = normalize_neon;
#if HAVE_F16_CONVERT
    t->f16_to_f32 = f16_to_f32_neon;
    t->f32_to_f16 = f32_to_f16_neon;
#endif
    t->dw_block = dw_block_neon;
    t->dw3 = dw3_neon;
    t->pool_row = pool_row_neon;
    t->gather = gather_neon;
    t->upsample_row = upsample_row_neon;
    t->gather_rows = gather_rows_neon;
    t->deinterleave_rows = deinterleave_rows_neon;
}
