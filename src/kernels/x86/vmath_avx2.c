/* AVX2+FMA vector math: exp/tanh/sigmoid/erf/SiLU/GELU by range reduction, polynomials and
 * rational approximations, binary ops,
 * reductions, F16C conversion and the depthwise-conv block kernel. Tails use masked loads/stores. */
#include "kernels/isa.h"
#include "kernels/x86/avx2.h"

#include "ember/tensor.h"

#include <immintrin.h>
#include <math.h>

#define C8(v) _mm256_set1_ps(v)

/* Stores lanes [0, n) of v, n < 8, by SSE pieces (a masked store is microcoded and slow on AMD cores). */
static inline void store_part(float *p, __m256 v, int64_t n) {
    __m128 h = _mm256_castps256_ps128(v);
    if (n >= 4) {
        _mm_storeu_ps(p, h);
        h = _mm256_extractf128_ps(v, 1), p += 4, n -= 4;
    }
    if (n >= 2) {
        _mm_storel_pi((__m64 *)(void *)p, h);
        h = _mm_movehl_ps(h, h), p += 2, n -= 2;
    }
    if (n) _mm_store_ss(p, h);
}

#define EXP_LO (-87.3365478515625f) /* ln FLT_MIN */
#define EXP_HI 88.3762626647949f    /* ln FLT_MAX */

/* exp of xc in [EXP_LO, EXP_HI]: xc = n ln2 + r, |r| <= ln2/2; e^r by its degree-7 Taylor polynomial (error
 * < 1e-8); 2^n in the exponent bits. */
static inline __m256 exp8_in_range(__m256 xc) {
    __m256 n = _mm256_round_ps(_mm256_mul_ps(xc, C8(1.44269504088896341f)),
                               _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m256 r = _mm256_fnmadd_ps(n, C8(0.693359375f), xc);
    r = _mm256_fnmadd_ps(n, C8(-2.12194440e-4f), r);
    __m256 p = C8(1.0f / 5040);
    p = _mm256_fmadd_ps(p, r, C8(1.0f / 720));
    p = _mm256_fmadd_ps(p, r, C8(1.0f / 120));
    p = _mm256_fmadd_ps(p, r, C8(1.0f / 24));
    p = _mm256_fmadd_ps(p, r, C8(1.0f / 6));
    p = _mm256_fmadd_ps(p, r, C8(0.5f));
    p = _mm256_fmadd_ps(p, r, C8(1.0f));
    p = _mm256_fmadd_ps(p, r, C8(1.0f));
    __m256i e = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
    return _mm256_mul_ps(p, _mm256_castsi256_ps(e));
}

/* exp: results below FLT_MIN flush to 0, above FLT_MAX give +inf, NaN stays NaN. */
static inline __m256 exp8(__m256 x) {
    const __m256 hi = C8(EXP_HI), lo = C8(EXP_LO);
    __m256 y = exp8_in_range(_mm256_min_ps(_mm256_max_ps(x, lo), hi));
    y = _mm256_blendv_ps(y, _mm256_setzero_ps(), _mm256_cmp_ps(x, lo, _CMP_LT_OQ));
    y = _mm256_blendv_ps(y, C8(INFINITY), _mm256_cmp_ps(x, hi, _CMP_GT_OQ));
    return _mm256_blendv_ps(y, x, _mm256_cmp_ps(x, x, _CMP_UNORD_Q));
}

static inline __m256 sigmoid8(__m256 x) {
    return _mm256_div_ps(C8(1.0f), _mm256_add_ps(C8(1.0f), exp8(_mm256_sub_ps(_mm256_setzero_ps(), x))));
}

static inline __m256 abs8(__m256 x) { return _mm256_andnot_ps(C8(-0.0f), x); }
static inline __m256 copysign8(__m256 mag, __m256 sgn) {
    return _mm256_or_ps(abs8(mag), _mm256_and_ps(C8(-0.0f), sgn));
}

/* tanh: odd Taylor series below 0.4 (7 terms), 1 - 2 / (e^2|x| + 1) above. */
static inline __m256 tanh8(__m256 x) {
    __m256 ax = abs8(x), x2 = _mm256_mul_ps(x, x);
    __m256 p = C8(21844.0f / 6081075);
    p = _mm256_fmadd_ps(p, x2, C8(-1382.0f / 155925));
    p = _mm256_fmadd_ps(p, x2, C8(62.0f / 2835));
    p = _mm256_fmadd_ps(p, x2, C8(-17.0f / 315));
    p = _mm256_fmadd_ps(p, x2, C8(2.0f / 15));
    p = _mm256_fmadd_ps(p, x2, C8(-1.0f / 3));
    __m256 small = _mm256_fmadd_ps(_mm256_mul_ps(p, x2), x, x);
    __m256 e = exp8(_mm256_add_ps(ax, ax));
    __m256 big = _mm256_sub_ps(C8(1.0f), _mm256_div_ps(C8(2.0f), _mm256_add_ps(e, C8(1.0f))));
    big = copysign8(big, x);
    big = _mm256_blendv_ps(big, x, _mm256_cmp_ps(x, x, _CMP_UNORD_Q));
    return _mm256_blendv_ps(big, small, _mm256_cmp_ps(ax, C8(0.4f), _CMP_LT_OQ));
}

/* erfc for z >= 0: t exp(-z^2 + P(t)), t = 1 / (1 + z/2) (Numerical Recipes' erfcc, relative error
 * below 1.2e-7 everywhere, so it stays accurate deep in the tail). The exponent is at most 1e-7, so exp needs
 * no special cases: below EXP_LO it is clamped (erfc < 1e-37 becomes about that times t), NaN comes through
 * t. */
static inline __m256 erfc_pos8(__m256 z) {
    static const float c[10] = {-1.26551223f, 1.00002368f, 0.37409196f, 0.09678418f, -0.18628806f,
                                0.27886807f,  -1.13520398f, 1.48851587f, -0.82215223f, 0.17087277f};
    __m256 t = _mm256_div_ps(C8(1.0f), _mm256_fmadd_ps(C8(0.5f), z, C8(1.0f)));
    __m256 p = C8(c[9]);
    for (int i = 8; i >= 0; i--) p = _mm256_fmadd_ps(p, t, C8(c[i]));
    return _mm256_mul_ps(t, exp8_in_range(_mm256_max_ps(_mm256_fnmadd_ps(z, z, p), C8(EXP_LO))));
}

/* erf(x) for |x| < 1: odd Taylor series (11 terms, error < 1e-8). */
static inline __m256 erf_small8(__m256 x) {
    static const float taylor[11] = {1.1283791670955126f,   -0.37612638903183754f, 0.11283791670955126f,
                                     -0.026866170645131252f, 0.0052239776254421878f, -8.5483270234508529e-4f,
                                     1.2055332981789664e-4f, -1.4925650358406251e-5f, 1.6462114365889247e-6f,
                                     -1.6365844691234924e-7f, 1.4807192815879218e-8f};
    __m256 x2 = _mm256_mul_ps(x, x), p = C8(taylor[10]);
    for (int i = 9; i >= 0; i--) p = _mm256_fmadd_ps(p, x2, C8(taylor[i]));
    return _mm256_mul_ps(p, x);
}

/* Each branch is computed only when some lane needs it (lanes that take a branch get the same value
 * either way; a NaN lane is never "small", so it always takes the big branch). */
static inline __m256 erf8(__m256 x) {
    __m256 ax = abs8(x), is_small = _mm256_cmp_ps(ax, C8(1.0f), _CMP_LT_OQ);
    int small = _mm256_movemask_ps(is_small);
    if (small == 0xff) return erf_small8(x);
    __m256 big = copysign8(_mm256_sub_ps(C8(1.0f), erfc_pos8(ax)), x);
    big = _mm256_blendv_ps(big, x, _mm256_cmp_ps(x, x, _CMP_UNORD_Q));
    return small ? _mm256_blendv_ps(big, erf_small8(x), is_small) : big;
}

static inline __m256 silu8(__m256 x) { return _mm256_mul_ps(x, sigmoid8(x)); }

/* 0.5 x (1 + erf(z)), z = x / sqrt 2. The bracket is 2 - erfc(|z|) for z >= 0 and erfc(|z|) below, both
 * with erfc's relative error, small |z| included (the bracket is near 1 there, unlike erf), so a vector
 * with any lane from |z| >= 1 on takes that form for every lane: no second polynomial, no blend (MiniLM's
 * GELU inputs, about normal: 1.73 -> 1.17 ns per value). All lanes under 1 take erf's cheaper series. */
static inline __m256 gelu_erf8(__m256 x) {
    __m256 z = _mm256_mul_ps(x, C8(0.70710678118654752f)), az = abs8(z), bracket;
    if (_mm256_movemask_ps(_mm256_cmp_ps(az, C8(1.0f), _CMP_LT_OQ)) == 0xff) {
        bracket = _mm256_add_ps(C8(1.0f), erf_small8(z));
    } else {
        __m256 e = erfc_pos8(az);
        bracket = _mm256_blendv_ps(_mm256_sub_ps(C8(2.0f), e), e, z); /* sign bit of z selects */
    }
    return _mm256_mul_ps(_mm256_mul_ps(C8(0.5f), x), bracket);
}

static inline __m256 gelu_tanh8(__m256 x) {
    __m256 x3 = _mm256_mul_ps(_mm256_mul_ps(x, x), x);
    __m256 u = _mm256_mul_ps(C8(2.0f * 0.7978845608028654f), _mm256_fmadd_ps(C8(0.044715f), x3, x));
    return _mm256_mul_ps(x, sigmoid8(u));
}

#define AVX2_UNARY(name, f)                                                                                  \
    static void name(float *y, const float *x, int64_t n) {                                                  \
        int64_t i = 0;                                                                                       \
        for (; i + 8 <= n; i += 8) _mm256_storeu_ps(y + i, f(_mm256_loadu_ps(x + i)));                       \
        if (i < n) {                                                                                         \
            __m256i m = tail_mask(n - i);                                                                    \
            _mm256_maskstore_ps(y + i, m, f(_mm256_maskload_ps(x + i, m)));                                  \
        }                                                                                                    \
    }
AVX2_UNARY(exp_avx2, exp8)
AVX2_UNARY(tanh_avx2, tanh8)
AVX2_UNARY(sigmoid_avx2, sigmoid8)
AVX2_UNARY(erf_avx2, erf8)
AVX2_UNARY(silu_avx2, silu8)
AVX2_UNARY(gelu_erf_avx2, gelu_erf8)
AVX2_UNARY(gelu_tanh_avx2, gelu_tanh8)

/* One activation on 8 lanes. epilogue_avx2 inlines it with a constant kind, so the switch folds and each
 * activation's constants can stay in registers across the loop. NaN propagates through ReLU/Clip like the
 * scalar definitions (the input is the second max/min operand). */
static inline __attribute__((always_inline)) __m256 act8(ember_act_kind kind, const ember_act *a, __m256 v) {
    switch (kind) {
    case EMBER_ACT_NONE: return v;
    case EMBER_ACT_RELU: return _mm256_max_ps(_mm256_setzero_ps(), v);
    case EMBER_ACT_CLIP: return _mm256_min_ps(C8(a->p1), _mm256_max_ps(C8(a->p0), v));
    case EMBER_ACT_LEAKY_RELU:
        return _mm256_blendv_ps(v, _mm256_mul_ps(v, C8(a->p0)), _mm256_cmp_ps(v, _mm256_setzero_ps(), _CMP_LT_OQ));
    case EMBER_ACT_SILU: return silu8(v);
    case EMBER_ACT_GELU_ERF: return gelu_erf8(v);
    case EMBER_ACT_GELU_TANH: return gelu_tanh8(v);
    case EMBER_ACT_SIGMOID: return sigmoid8(v);
    case EMBER_ACT_TANH: return tanh8(v);
    case EMBER_ACT_HARD_SIGMOID:
        return _mm256_min_ps(C8(1.0f), _mm256_max_ps(_mm256_setzero_ps(), _mm256_fmadd_ps(v, C8(a->p0), C8(a->p1))));
    case EMBER_ACT_HARD_SWISH: {
        __m256 h = _mm256_fmadd_ps(v, C8(1.0f / 6.0f), C8(0.5f));
        return _mm256_mul_ps(v, _mm256_min_ps(C8(1.0f), _mm256_max_ps(_mm256_setzero_ps(), h)));
    }
    case EMBER_ACT_PRELU: /* ember_epilogue_apply gives rows of LEAKY_RELU; row 0's slope as in the scalar act */
        return _mm256_blendv_ps(v, _mm256_mul_ps(v, C8(a->slope[0])), _mm256_cmp_ps(v, _mm256_setzero_ps(), _CMP_LT_OQ));
    case EMBER_ACT_COUNT: break;
    }
    return v;
}

static inline __attribute__((always_inline)) __m256 epi8(const ember_epilogue *ep, ember_act_kind kind,
                                                         __m256 v, __m256 bias, __m256 res) {
    if (!ep->residual_after_act) v = _mm256_add_ps(v, res);
    v = act8(kind, &ep->act, _mm256_add_ps(v, bias));
    return ep->residual_after_act ? _mm256_add_ps(v, res) : v;
}

/* bias, residual, activation, residual: one load and one store per element (masked only in the tail). */
static inline __attribute__((always_inline)) void epilogue_rows(const ember_epilogue *ep, ember_act_kind kind,
                                                                float *c, int64_t ldc, int64_t row0,
                                                                int64_t col0, int64_t m, int64_t n) {
    const float *cb = ep->bias && ep->bias_kind == EMBER_BIAS_COL ? ep->bias + col0 : NULL;
    __m256 zero = _mm256_setzero_ps();
    for (int64_t i = 0; i < m; i++) {
        float *row = c + i * ldc;
        const float *res = ep->residual ? ep->residual + (row0 + i) * ep->ldr + col0 : NULL;
        __m256 rb = _mm256_set1_ps(ep->bias && ep->bias_kind == EMBER_BIAS_ROW ? ep->bias[row0 + i] : 0.0f);
        int64_t j = 0;
        for (; j + 8 <= n; j += 8) {
            __m256 v = epi8(ep, kind, _mm256_loadu_ps(row + j), cb ? _mm256_loadu_ps(cb + j) : rb,
                            res ? _mm256_loadu_ps(res + j) : zero);
            _mm256_storeu_ps(row + j, v);
        }
        if (j < n) {
            __m256i mask = tail_mask(n - j);
            __m256 v =
                epi8(ep, kind, _mm256_maskload_ps(row + j, mask), cb ? _mm256_maskload_ps(cb + j, mask) : rb,
                     res ? _mm256_maskload_ps(res + j, mask) : zero);
            _mm256_maskstore_ps(row + j, mask, v);
        }
    }
}

#define EPILOGUE_CASE(k)                                                                                     \
    case k:                                                                                                  \
        epilogue_rows(ep, k, c, ldc, row0, col0, m, n);                                                      \
        return;

static void epilogue_avx2(const ember_epilogue *ep, float *c, int64_t ldc, int64_t row0, int64_t col0,
                          int64_t m, int64_t n) {
    EMBER_ACT_SWITCH(ep->act.kind, EPILOGUE_CASE) /* one loop per activation (act8) */
}

static inline __m256 binop8(ember_binop op, __m256 a, __m256 b) {
    switch (op) {
    case EMBER_BINOP_ADD: return _mm256_add_ps(a, b);
    case EMBER_BINOP_SUB: return _mm256_sub_ps(a, b);
    case EMBER_BINOP_MUL: return _mm256_mul_ps(a, b);
    case EMBER_BINOP_DIV: return _mm256_div_ps(a, b);
    }
    return a;
}

static void binary_avx2(ember_binop op, float *y, const float *a, const float *b, float s, int64_t n) {
    int64_t i = 0;
    __m256 vs = _mm256_set1_ps(s);
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(y + i, binop8(op, _mm256_loadu_ps(a + i), b ? _mm256_loadu_ps(b + i) : vs));
    for (; i < n; i++) y[i] = ember_scalar_binop(op, a[i], b ? b[i] : s);
}

static float hsum8(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

static float sum_avx2(const float *x, int64_t n) {
    __m256 s0 = _mm256_setzero_ps(), s1 = s0;
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        s0 = _mm256_add_ps(s0, _mm256_loadu_ps(x + i));
        s1 = _mm256_add_ps(s1, _mm256_loadu_ps(x + i + 8));
    }
    float s = hsum8(_mm256_add_ps(s0, s1));
    for (; i < n; i++) s += x[i];
    return s;
}

static float max_avx2(const float *x, int64_t n) {
    __m256 m = _mm256_set1_ps(-INFINITY), nan = _mm256_setzero_ps();
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256 v = _mm256_loadu_ps(x + i);
        m = _mm256_max_ps(m, v);
        nan = _mm256_or_ps(nan, _mm256_cmp_ps(v, v, _CMP_UNORD_Q));
    }
    float r[8], out = -INFINITY;
    _mm256_storeu_ps(r, m);
    for (int j = 0; j < 8; j++) out = r[j] > out ? r[j] : out;
    for (; i < n; i++) out = x[i] > out || isnan(x[i]) ? x[i] : out;
    return _mm256_movemask_ps(nan) ? NAN : out;
}

/* exp of v <= 0 or NaN (softmax's x - max): only the underflow needs its case (NaN comes through the
 * arithmetic, max taking it as its second operand). */
static inline __m256 exp8_nonpos(__m256 v) {
    __m256 y = exp8_in_range(_mm256_max_ps(C8(EXP_LO), v));
    return _mm256_blendv_ps(y, _mm256_setzero_ps(), _mm256_cmp_ps(v, C8(EXP_LO), _CMP_LT_OQ));
}

/* The exponentials first, then their sum from y (in L1): summed in the same loop, the two sums had no
 * register left beside two exp8 pipelines and went through the stack every iteration. */
static float exp_sum_avx2(float *y, const float *x, float shift, int64_t n) {
    __m256 sh = _mm256_set1_ps(shift), s0 = _mm256_setzero_ps(), s1 = s0;
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        __m256 a = exp8_nonpos(_mm256_sub_ps(_mm256_loadu_ps(x + i), sh)),
               b = exp8_nonpos(_mm256_sub_ps(_mm256_loadu_ps(x + i + 8), sh));
        _mm256_storeu_ps(y + i, a);
        _mm256_storeu_ps(y + i + 8, b);
    }
    for (int64_t k = 0; k < i; k += 16) {
        s0 = _mm256_add_ps(s0, _mm256_loadu_ps(y + k));
        s1 = _mm256_add_ps(s1, _mm256_loadu_ps(y + k + 8));
    }
    for (; i < n; i += 8) { /* the tail: lanes past n load 0 and are masked out of the sum */
        __m256i m = tail_mask(n - i < 8 ? n - i : 8);
        __m256 a = _mm256_and_ps(exp8_nonpos(_mm256_sub_ps(_mm256_maskload_ps(x + i, m), sh)),
                                 _mm256_castsi256_ps(m));
        if (n - i >= 8)
            _mm256_storeu_ps(y + i, a);
        else
            store_part(y + i, a, n - i);
        s0 = _mm256_add_ps(s0, a);
    }
    return hsum8(_mm256_add_ps(s0, s1));
}

static float sum_sq_dev_avx2(const float *x, int64_t n, float mean) {
    __m256 m = _mm256_set1_ps(mean), s0 = _mm256_setzero_ps(), s1 = s0;
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        __m256 d0 = _mm256_sub_ps(_mm256_loadu_ps(x + i), m),
               d1 = _mm256_sub_ps(_mm256_loadu_ps(x + i + 8), m);
        s0 = _mm256_fmadd_ps(d0, d0, s0);
        s1 = _mm256_fmadd_ps(d1, d1, s1);
    }
    if (i + 8 <= n) {
        __m256 d = _mm256_sub_ps(_mm256_loadu_ps(x + i), m);
        s0 = _mm256_fmadd_ps(d, d, s0);
        i += 8;
    }
    float s = hsum8(_mm256_add_ps(s0, s1));
    for (; i < n; i++) s += (x[i] - mean) * (x[i] - mean);
    return s;
}

/* (x - shift) * mul, then times scale and plus bias where given, as the scalar twin does (no fused
 * multiply-add: the same results); one loop per case. */
#define NORM_LOOP(SCALE, BIAS)                                                                               \
    for (; i + 8 <= n; i += 8) {                                                                             \
        __m256 v = _mm256_mul_ps(_mm256_sub_ps(_mm256_loadu_ps(x + i), sh), mu);                             \
        if (SCALE) v = _mm256_mul_ps(v, _mm256_loadu_ps(scale + i));                                         \
        if (BIAS) v = _mm256_add_ps(v, _mm256_loadu_ps(bias + i));                                           \
        _mm256_storeu_ps(y + i, v);                                                                          \
    }

static void normalize_avx2(float *y, const float *x, const float *scale, const float *bias, int64_t n,
                           float shift, float mul) {
    __m256 sh = _mm256_set1_ps(shift), mu = _mm256_set1_ps(mul);
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

static void f16_to_f32_avx2(float *y, const uint16_t *x, int64_t n) {
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) _mm256_storeu_ps(y + i, _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(x + i))));
    for (; i < n; i++) y[i] = ember_f16_to_f32(x[i]);
}

static void f32_to_f16_avx2(uint16_t *y, const float *x, int64_t n) {
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm_storeu_si128((__m128i *)(y + i), _mm256_cvtps_ph(_mm256_loadu_ps(x + i), _MM_FROUND_TO_NEAREST_INT));
    for (; i < n; i++) y[i] = ember_f32_to_f16(x[i]);
}

/* Eight consecutive outputs of a pooling row or gather: stride 1 loads directly; stride 2 takes the even
 * elements of p[0..14] from two overlapping loads (never touching p[15], which may lie past the row). */
static inline __m256 load_strided(const float *p, int64_t sw) {
    if (sw == 1) return _mm256_loadu_ps(p);
    __m256 a = _mm256_loadu_ps(p), b = _mm256_loadu_ps(p + 7);
    __m256 even = _mm256_shuffle_ps(a, b, 0xd8); /* p0 p2 p8 p10 | p4 p6 p12 p14 */
    return _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(even), 0xd8));
}

/* --- depthwise block (see isa.h) ------------------------------------------------------------------------ */

/* bias + clamp; max/min return the second operand, v, when it is NaN */
static inline __m256 dw_post8(__m256 v, __m256 rb, __m256 lo, __m256 hi) {
    return _mm256_min_ps(hi, _mm256_max_ps(lo, _mm256_add_ps(v, rb)));
}

#define INLINE static inline __attribute__((always_inline))

/* Eight outputs from the nine tap vectors v0..v8 (row by row) with the weights w0..w8 in registers: three
 * partial sums (three FMA chains). */
#define DW9_SUM(v0, v1, v2, v3, v4, v5, v6, v7, v8)                                                          \
    _mm256_add_ps(_mm256_add_ps(_mm256_fmadd_ps(v2, w2, _mm256_fmadd_ps(v1, w1, _mm256_mul_ps(v0, w0))),     \
                                _mm256_fmadd_ps(v5, w5, _mm256_fmadd_ps(v4, w4, _mm256_mul_ps(v3, w3)))),    \
                  _mm256_fmadd_ps(v8, w8, _mm256_fmadd_ps(v7, w7, _mm256_mul_ps(v6, w6))))
/* Eight outputs at offset o of the nine taps p0..p8; LD is the load (plain, or masked for rows under 8). */
#define DW9_8(LD, o)                                                                                         \
    DW9_SUM(LD(p0 + (o)), LD(p1 + (o)), LD(p2 + (o)), LD(p3 + (o)), LD(p4 + (o)), LD(p5 + (o)),              \
            LD(p6 + (o)), LD(p7 + (o)), LD(p8 + (o)))
/* The nine weights w0..w8 broadcast into registers. */
#define DW9_WEIGHTS(w)                                                                                       \
    const __m256 w0 = _mm256_broadcast_ss(w), w1 = _mm256_broadcast_ss(w + 1),                               \
                 w2 = _mm256_broadcast_ss(w + 2), w3 = _mm256_broadcast_ss(w + 3),                           \
                 w4 = _mm256_broadcast_ss(w + 4), w5 = _mm256_broadcast_ss(w + 5),                           \
                 w6 = _mm256_broadcast_ss(w + 6), w7 = _mm256_broadcast_ss(w + 7),                           \
                 w8 = _mm256_broadcast_ss(w + 8)
#define DW_LDU(p) _mm256_loadu_ps(p)
#define DW_LDM(p) _mm256_maskload_ps(p, m)

/* Two such vectors at offsets oa and ob, their FMAs interleaved in program order: one vector's three chains
 * (about 25 cycles to the clamped result) left the FP scheduler full of waiting uops, so that only about
 * two vectors were in flight. */
#define DW9_8X2(LDA, LDB, oa, ob, va, vb)                                                                    \
    do {                                                                                                     \
        __m256 a0 = _mm256_mul_ps(LDA(p0 + (oa)), w0), b0 = _mm256_mul_ps(LDB(p0 + (ob)), w0);               \
        __m256 a1 = _mm256_mul_ps(LDA(p3 + (oa)), w3), b1 = _mm256_mul_ps(LDB(p3 + (ob)), w3);               \
        __m256 a2 = _mm256_mul_ps(LDA(p6 + (oa)), w6), b2 = _mm256_mul_ps(LDB(p6 + (ob)), w6);               \
        a0 = _mm256_fmadd_ps(LDA(p1 + (oa)), w1, a0), b0 = _mm256_fmadd_ps(LDB(p1 + (ob)), w1, b0);          \
        a1 = _mm256_fmadd_ps(LDA(p4 + (oa)), w4, a1), b1 = _mm256_fmadd_ps(LDB(p4 + (ob)), w4, b1);          \
        a2 = _mm256_fmadd_ps(LDA(p7 + (oa)), w7, a2), b2 = _mm256_fmadd_ps(LDB(p7 + (ob)), w7, b2);          \
        a0 = _mm256_fmadd_ps(LDA(p2 + (oa)), w2, a0), b0 = _mm256_fmadd_ps(LDB(p2 + (ob)), w2, b0);          \
        a1 = _mm256_fmadd_ps(LDA(p5 + (oa)), w5, a1), b1 = _mm256_fmadd_ps(LDB(p5 + (ob)), w5, b1);          \
        a2 = _mm256_fmadd_ps(LDA(p8 + (oa)), w8, a2), b2 = _mm256_fmadd_ps(LDB(p8 + (ob)), w8, b2);          \
        va = dw_post8(_mm256_add_ps(_mm256_add_ps(a0, a1), a2), rb, lo, hi);                                 \
        vb = dw_post8(_mm256_add_ps(_mm256_add_ps(b0, b1), b2), rb, lo, hi);                                 \
    } while (0)

/* The nine-tap block (3x3 windows inside the input, every phase-copied plane): pointers and weights in
 * registers for the whole block; a row in pairs of 8-output vectors, its ragged end as one more vector ending
 * at n (recomputing a few outputs); rows under 8 in pairs of rows, masked loads only where a plain one would
 * pass the end of the tap region, stores by pieces where a whole vector would reach past its block. */
static void dw9_block(float *out, int64_t ldo, const float *const *taps, const float *w, int64_t ldi,
                      int64_t rows, int64_t n, __m256 rb, __m256 lo, __m256 hi) {
    DW9_WEIGHTS(w);
    const float *p0 = taps[0], *p1 = taps[1], *p2 = taps[2], *p3 = taps[3], *p4 = taps[4], *p5 = taps[5],
                *p6 = taps[6], *p7 = taps[7], *p8 = taps[8];
    __m256 va, vb;
    if (n < 8) {
        __m256i m = tail_mask(n);
        int64_t r = 0, span = (rows - 1) * ldi + n,
                r_plain = (span - 8) / ldi + 1; /* rows r < r_plain: plain */
        if (span < 8) r_plain = 0;
        for (; r + 2 <= rows && r + 2 <= r_plain; r += 2) {
            DW9_8X2(DW_LDU, DW_LDU, r * ldi, r * ldi + ldi, va, vb);
            float *o = out + r * ldo;
            if (ldo == n && (r + 1) * n + 8 <= rows * n) { /* later rows overwrite the spill */
                _mm256_storeu_ps(o, va);
                _mm256_storeu_ps(o + ldo, vb);
            } else {
                store_part(o, va, n);
                store_part(o + ldo, vb, n);
            }
        }
        for (; r < rows; r++) {
            int64_t o = r * ldi;
            __m256 v = dw_post8(r < r_plain ? DW9_8(DW_LDU, o) : DW9_8(DW_LDM, o), rb, lo, hi);
            if (ldo == n && r * n + 8 <= rows * n)
                _mm256_storeu_ps(out + r * ldo, v);
            else
                store_part(out + r * ldo, v, n);
        }
        return;
    }
    for (int64_t r = 0; r < rows; r++, out += ldo) {
        int64_t o = r * ldi, x = 0;
        for (; x + 16 <= n; x += 16) {
            DW9_8X2(DW_LDU, DW_LDU, o + x, o + x + 8, va, vb);
            _mm256_storeu_ps(out + x, va);
            _mm256_storeu_ps(out + x + 8, vb);
        }
        if (n - x > 8) { /* two more vectors, the second ending at n */
            DW9_8X2(DW_LDU, DW_LDU, o + x, o + n - 8, va, vb);
            _mm256_storeu_ps(out + x, va);
            _mm256_storeu_ps(out + n - 8, vb);
        } else if (x < n) {
            _mm256_storeu_ps(out + n - 8, dw_post8(DW9_8(DW_LDU, o + n - 8), rb, lo, hi));
        }
    }
}

/* Eight outputs at offset o of any number of taps (weights broadcast from memory), two partial sums. */
INLINE __m256 dwn_8(const float *const *taps, const float *w, int64_t nt, int64_t o, bool masked, __m256i m) {
    __m256 a0 = _mm256_setzero_ps(), a1 = a0;
    int64_t t = 0;
#define DWN_LD(p) (masked ? _mm256_maskload_ps(p, m) : _mm256_loadu_ps(p))
    for (; t + 2 <= nt; t += 2) {
        a0 = _mm256_fmadd_ps(DWN_LD(taps[t] + o), _mm256_broadcast_ss(w + t), a0);
        a1 = _mm256_fmadd_ps(DWN_LD(taps[t + 1] + o), _mm256_broadcast_ss(w + t + 1), a1);
    }
    if (t < nt) a0 = _mm256_fmadd_ps(DWN_LD(taps[t] + o), _mm256_broadcast_ss(w + t), a0);
#undef DWN_LD
    return _mm256_add_ps(a0, a1);
}

/* Any tap count (border rectangles, other kernel sizes): the same blocking, taps reloaded per vector. */
static void dwn_block(float *out, int64_t ldo, const float *const *taps, const float *w, int64_t nt,
                      int64_t ldi, int64_t rows, int64_t n, __m256 rb, __m256 lo, __m256 hi) {
    __m256i m = tail_mask(n < 8 ? n : 8);
    for (int64_t r = 0; r < rows; r++, out += ldo) {
        int64_t o = r * ldi, x = 0;
        if (n < 8) {
            bool masked = o + 8 > (rows - 1) * ldi + n;
            store_part(out, dw_post8(dwn_8(taps, w, nt, o, masked, m), rb, lo, hi), n);
            continue;
        }
        for (; x + 8 <= n; x += 8)
            _mm256_storeu_ps(out + x, dw_post8(dwn_8(taps, w, nt, o + x, false, m), rb, lo, hi));
        if (x < n)
            _mm256_storeu_ps(out + n - 8, dw_post8(dwn_8(taps, w, nt, o + n - 8, false, m), rb, lo, hi));
    }
}

static void dw_block_avx2(float *out, int64_t ldo, const float *const *taps, const float *w, int64_t ntaps,
                          int64_t ldi, int64_t rows, int64_t n, const ember_ukernel_post *post) {
    if (n <= 0) return;
    __m256 rb = _mm256_set1_ps(post && post->rbias ? *post->rbias : 0.0f);
    __m256 lo = _mm256_set1_ps(post ? post->lo : -INFINITY), hi = _mm256_set1_ps(post ? post->hi : INFINITY);
    if (ntaps == 9)
        dw9_block(out, ldo, taps, w, ldi, rows, n, rb, lo, hi);
    else
        dwn_block(out, ldo, taps, w, ntaps, ldi, rows, n, rb, lo, hi);
}

/* p[-1..6] with p[-1] read as 0 (a row's first vector, one column of padding before it), and p[1..8] with
 * p[8] read as 0 (its last): the row's own vector moved one lane, a zero put in the lane left empty. */
INLINE __m256 dw3_from_left(const float *p) {
    __m256 v = _mm256_permutevar8x32_ps(_mm256_loadu_ps(p), _mm256_setr_epi32(0, 0, 1, 2, 3, 4, 5, 6));
    return _mm256_blend_ps(v, _mm256_setzero_ps(), 0x01);
}
INLINE __m256 dw3_from_right(const float *p) {
    __m256 v = _mm256_permutevar8x32_ps(_mm256_loadu_ps(p), _mm256_setr_epi32(1, 2, 3, 4, 5, 6, 7, 7));
    return _mm256_blend_ps(v, _mm256_setzero_ps(), 0x80);
}

/* Tap column kx (0 or 2) of the vector at p: the column before (kx 0) or after (kx 2) the vector, read as 0
 * when `left` / `right` says it is padding, else loaded. */
INLINE __m256 dw3_tap(const float *p, int kx, bool left, bool right) {
    if (kx == 0) return left ? dw3_from_left(p) : _mm256_loadu_ps(p - 1);
    return right ? dw3_from_right(p) : _mm256_loadu_ps(p + 1);
}

/* 3x3 stride-1 rows in place (see isa.h): per row the first vector takes its left column from
 * dw3_from_left, the last (ending at n, overlapping the one before) its right column from dw3_from_right,
 * and the vectors between are dw9_block's, in pairs, reading the rows directly. Rows under 8: the twin. */
static void dw3_avx2(float *out, int64_t ldo, const float *in, int64_t ldi, const float *above,
                     const float *below, int64_t rows, int64_t n, const float *w,
                     const ember_ukernel_post *post) {
    if (n < 8) {
        ember_dw3_ref(out, ldo, in, ldi, above, below, rows, n, w, post);
        return;
    }
    __m256 rb = _mm256_set1_ps(post && post->rbias ? *post->rbias : 0.0f);
    __m256 lo = _mm256_set1_ps(post ? post->lo : -INFINITY), hi = _mm256_set1_ps(post ? post->hi : INFINITY);
    DW9_WEIGHTS(w);
/* the vector at column `at` of rows a, b, c; L / R: the column before / after reads as 0 */
#define DW3_EDGE(at, L, R)                                                                                   \
    DW9_SUM(dw3_tap(a + (at), 0, L, R), DW_LDU(a + (at)), dw3_tap(a + (at), 2, L, R),                        \
            dw3_tap(b + (at), 0, L, R), DW_LDU(b + (at)), dw3_tap(b + (at), 2, L, R),                        \
            dw3_tap(c + (at), 0, L, R), DW_LDU(c + (at)), dw3_tap(c + (at), 2, L, R))
    for (int64_t r = 0; r < rows; r++, out += ldo) {
        const float *a = r ? in + (r - 1) * ldi : above, *b = in + r * ldi,
                    *c = r + 1 < rows ? in + (r + 1) * ldi : below;
        _mm256_storeu_ps(out, dw_post8(DW3_EDGE(0, true, n == 8), rb, lo, hi));
        if (n == 8) continue;
        /* the vectors between read columns x - 1 .. x + 8 of each row: offset x - 1 from p0 = a */
        const float *p0 = a, *p1 = a + 1, *p2 = a + 2, *p3 = b, *p4 = b + 1, *p5 = b + 2, *p6 = c,
                    *p7 = c + 1, *p8 = c + 2;
        int64_t x = 8;
        for (; x + 17 <= n; x += 16) {
            __m256 va, vb;
            DW9_8X2(DW_LDU, DW_LDU, x - 1, x + 7, va, vb);
            _mm256_storeu_ps(out + x, va);
            _mm256_storeu_ps(out + x + 8, vb);
        }
        if (x + 9 <= n) _mm256_storeu_ps(out + x, dw_post8(DW9_8(DW_LDU, x - 1), rb, lo, hi));
        _mm256_storeu_ps(out + n - 8, dw_post8(DW3_EDGE(n - 8, false, true), rb, lo, hi));
    }
#undef DW3_EDGE
}

/* max(a, b) with NaN winning: max_ps gives b when either is NaN, and or-ing the unordered mask (all ones,
 * itself a NaN) turns those lanes into NaN. */
static inline __m256 nanmax8(__m256 a, __m256 b) {
    return _mm256_or_ps(_mm256_max_ps(a, b), _mm256_cmp_ps(a, b, _CMP_UNORD_Q));
}

/* Max over stride-2 windows of 2 or 3 adjacent columns (the usual 2x2 / 3x3 stride-2 MaxPool), 8 outputs
 * per block: the kh rows are reduced first (16 columns p[0..15], and p[1..16] for 3 wide), then the even /
 * odd columns are split with one shuffle and reduced; one permute puts the 8 outputs in order. Reads
 * p[0..15 + kw - 2] of each block: the windows' columns. */
static void max_row_s2(float *out, const float *const *rows, int64_t kh, int64_t kw, int64_t x0, int64_t x1,
                       int64_t pad_l) {
    for (int64_t x = x0;; x += 8) {
        if (x + 8 > x1) x = x1 - 8;
        int64_t ix = 2 * x - pad_l;
        const float *p = rows[0] + ix;
        __m256 a = _mm256_loadu_ps(p), b = _mm256_loadu_ps(p + 8), c = a, d = b;
        if (kw == 3) c = _mm256_loadu_ps(p + 1), d = _mm256_loadu_ps(p + 9);
        for (int64_t ky = 1; ky < kh; ky++) {
            p = rows[ky] + ix;
            a = nanmax8(a, _mm256_loadu_ps(p)), b = nanmax8(b, _mm256_loadu_ps(p + 8));
            if (kw == 3) c = nanmax8(c, _mm256_loadu_ps(p + 1)), d = nanmax8(d, _mm256_loadu_ps(p + 9));
        }
        /* per 128-bit half: evens a0 a2 b0 b2 | a4 a6 b4 b6, odds a1 a3 b1 b3 | a5 a7 b5 b7 */
        __m256 m = nanmax8(_mm256_shuffle_ps(a, b, 0x88), _mm256_shuffle_ps(a, b, 0xdd));
        if (kw == 3) m = nanmax8(m, _mm256_shuffle_ps(c, d, 0xdd)); /* odd columns of p+1: the third */
        _mm256_storeu_ps(out + x, _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(m), 0xd8)));
        if (x + 8 >= x1) return;
    }
}

/* Max / average pooling row (see isa.h): 8 outputs per vector for strides 1 and 2, the taps in the scalar
 * order so that averages match the reference bit for bit; max keeps NaN like the scalar version. */
static void pool_row_avx2(float *out, const float *const *rows, int64_t kh, int64_t kw, int64_t x0,
                          int64_t x1, int64_t sw, int64_t dw, int64_t pad_l, bool max, float div) {
    int64_t x = x0;
    if (max && sw == 2 && dw == 1 && (kw == 2 || kw == 3) && x1 - x0 >= 8) {
        max_row_s2(out, rows, kh, kw, x0, x1, pad_l);
        return;
    }
    if (sw <= 2 && x1 - x0 >= 8) {
        __m256 vdiv = _mm256_set1_ps(div);
        for (;; x += 8) {
            if (x + 8 > x1) x = x1 - 8;
            int64_t ix = x * sw - pad_l;
            __m256 acc = _mm256_set1_ps(max ? -INFINITY : 0.0f);
            for (int64_t ky = 0; ky < kh; ky++)
                for (int64_t kx = 0; kx < kw; kx++) {
                    __m256 v = load_strided(rows[ky] + ix + kx * dw, sw);
                    acc = max ? nanmax8(acc, v) : _mm256_add_ps(acc, v);
                }
            _mm256_storeu_ps(out + x, max ? acc : _mm256_div_ps(acc, vdiv));
            if (x + 8 >= x1) return;
        }
    }
    ember_pool_row_ref(out, rows, kh, kw, x, x1, sw, dw, pad_l, max, div);
}

/* Strided copy (im2col of stride-2 convs): 8 per vector for stride 2 (load_strided reads p[0..14] of each
 * block, and the last block ends at the last element), scalar otherwise. */
static void gather_avx2(float *d, const float *src, int64_t n, int64_t stride) {
    if (stride == 2 && n >= 8) {
        for (int64_t j = 0;; j += 8) {
            if (j + 8 > n) j = n - 8;
            _mm256_storeu_ps(d + j, load_strided(src + 2 * j, 2));
            if (j + 8 >= n) return;
        }
    }
    ember_gather_ref(d, src, n, stride);
}

/* Nearest upsampling row (see isa.h): x2 duplicates each lane (unpacklo/hi, then the 128-bit halves in
 * order), 8 inputs -> 16 outputs per step; other factors and the tail are scalar. */
static void upsample_row_avx2(float *d, const float *s, int64_t n, int64_t f) {
    int64_t i = 0;
    if (f == 2)
        for (; i + 16 <= n; i += 16) {
            __m256 v = _mm256_loadu_ps(s + i / 2);
            __m256 lo = _mm256_unpacklo_ps(v, v), hi = _mm256_unpackhi_ps(v, v); /* s0 s0 s1 s1 | s4 s4 s5 s5 */
            _mm256_storeu_ps(d + i, _mm256_permute2f128_ps(lo, hi, 0x20));
            _mm256_storeu_ps(d + i + 8, _mm256_permute2f128_ps(lo, hi, 0x31));
        }
    ember_upsample_row_ref(d + i, s + i / f, n - i, f);
}

/* Rows of a strided copy: stride 1 and 2 by vectors of 8, the ragged end as one more vector ending at n, rows
 * under 8 with masked loads (stride 2: two cover p[0..2n-2], nothing past it) and stores by pieces. */
static void gather_rows_avx2(float *d, int64_t ldd, const float *src, int64_t lds, int64_t rows, int64_t n,
                             int64_t stride) {
    if (stride > 2 || n <= 0) {
        ember_gather_rows_ref(d, ldd, src, lds, rows, n, stride);
        return;
    }
    if (n < 8) {
        __m256i m = tail_mask(n);
        int64_t span = 2 * n - 1; /* stride 2: elements p[0..span) */
        __m256i ma = tail_mask(span < 8 ? span : 8), mb = tail_mask(span > 7 ? span - 7 : 0);
        for (int64_t r = 0; r < rows; r++, d += ldd, src += lds) {
            __m256 v;
            bool room = r * lds + 8 * stride <= (rows - 1) * lds + (n - 1) * stride + 1; /* plain loads */
            if (stride == 1) {
                v = room ? _mm256_and_ps(_mm256_loadu_ps(src), _mm256_castsi256_ps(m))
                         : _mm256_maskload_ps(src, m);
            } else if (room) {
                v = _mm256_and_ps(load_strided(src, 2), _mm256_castsi256_ps(m));
            } else {
                __m256 a = _mm256_maskload_ps(src, ma), b = _mm256_maskload_ps(src + 7, mb);
                __m256 even = _mm256_shuffle_ps(a, b, 0xd8);
                v = _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(even), 0xd8));
            }
            if (r * ldd + 8 <= (rows - 1) * ldd + n) /* zeros before the last row's end: allowed (isa.h) */
                _mm256_storeu_ps(d, v);
            else
                store_part(d, v, n);
        }
        return;
    }
    for (int64_t r = 0; r < rows; r++, d += ldd, src += lds)
        for (int64_t j = 0;; j += 8) {
            if (j + 8 > n) j = n - 8;
            _mm256_storeu_ps(d + j, load_strided(src + stride * j, stride));
            if (j + 8 >= n) break;
        }
}

/* 16 inputs -> 8 even + 8 odd per step: shuffle_ps picks the pairs within each 128-bit half, permute4x64
 * puts the halves in order; the tails (under 8 of either) scalar. */
static void deinterleave_rows_avx2(float *d0, float *d1, int64_t ldd, const float *src, int64_t lds,
                                   int64_t rows, int64_t n0, int64_t n1) {
    int64_t nv = (n0 < n1 ? n0 : n1) / 8 * 8; /* src[2j + 15] <= src[2 n1 - 1]: inside the row */
    for (int64_t r = 0; r < rows; r++, d0 += ldd, d1 += ldd, src += lds) {
        for (int64_t j = 0; j < nv; j += 8) {
            __m256 a = _mm256_loadu_ps(src + 2 * j), b = _mm256_loadu_ps(src + 2 * j + 8);
            __m256d e = _mm256_castps_pd(_mm256_shuffle_ps(a, b, 0x88)),
                    o = _mm256_castps_pd(_mm256_shuffle_ps(a, b, 0xDD));
            _mm256_storeu_ps(d0 + j, _mm256_castpd_ps(_mm256_permute4x64_pd(e, 0xD8)));
            _mm256_storeu_ps(d1 + j, _mm256_castpd_ps(_mm256_permute4x64_pd(o, 0xD8)));
        }
        for (int64_t j = nv; j < n0; j++) d0[j] = src[2 * j];
        for (int64_t j = nv; j < n1; j++) d1[j] = src[2 * j + 1];
    }
}

void ember_vmath_init_avx2(ember_kernel_table *t) {
    t->exp = exp_avx2;
    t->tanh = tanh_avx2;
    t->sigmoid = sigmoid_avx2;
    t->erf = erf_avx2;
    t->silu = silu_avx2;
    t->gelu_erf = gelu_erf_avx2;
    t->gelu_tanh = gelu_tanh_avx2;
    t->binary = binary_avx2;
    t->epilogue = epilogue_avx2;
    t->sum = sum_avx2;
    t->max = max_avx2;
    t->exp_sum = exp_sum_avx2;
    t->sum_sq_dev = sum_sq_dev_avx2;
    t->normalize = normalize_avx2;
    t->f16_to_f32 = f16_to_f32_avx2;
    t->f32_to_f16 = f32_to_f16_avx2;
    t->dw_block = dw_block_avx2;
    t->dw3 = dw3_avx2;
    t->pool_row = pool_row_avx2;
    t->gather = gather_avx2;
    t->upsample_row = upsample_row_avx2;
    t->gather_rows = gather_rows_avx2;
    t->deinterleave_rows = deinterleave_rows_avx2;
}
