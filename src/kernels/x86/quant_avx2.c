/* AVX2/FMA/F16C dot kernels for the GGUF weight formats (the scalar references are in kernels/quant.c).
 *
 * Integer dots: weights are unpacked to bytes and multiplied with the 8-bit activations by maddubs (unsigned x
 * signed bytes -> 16-bit pair sums), widened by madd, scaled in float per block. Symmetric 32-blocks use the
 * sign trick (|w| x sign(a, w)) so the sums stay exact; k-quants take unsigned values and subtract the offset
 * (or min) through the activation block's 16-element sums. Each format has one inlined block routine; the
 * single, multi-row (dotn) and multi-activation (dotm) forms are made from it, so a weight block is decoded
 * once per group of activation rows and an activation block is loaded once per group of weight rows. */
#include "kernels/quant.h"

#include <immintrin.h>
#include <string.h>

#define INLINE static inline __attribute__((always_inline))

INLINE float hsum(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

INLINE float h2f(uint16_t h) { return _cvtsh_ss(h); }

/* 16-bit pair products of unsigned u and signed s bytes, summed to 8 int32. */
INLINE __m256i dot_us(__m256i u, __m256i s) { return _mm256_madd_epi16(_mm256_maddubs_epi16(u, s), _mm256_set1_epi16(1)); }
/* Same for signed w and signed a (|w| x sign(a, w)). */
INLINE __m256i dot_ss(__m256i w, __m256i a) { return dot_us(_mm256_sign_epi8(w, w), _mm256_sign_epi8(a, w)); }

/* 32 4-bit values of 16 bytes: low nibbles first, then high nibbles (the Q4_0/Q4_1/Q5 layout). */
INLINE __m256i nibbles32(const uint8_t *qs) {
    __m128i b = _mm_loadu_si128((const __m128i *)qs);
    __m256i v = _mm256_set_m128i(_mm_srli_epi16(b, 4), b);
    return _mm256_and_si256(v, _mm256_set1_epi8(15));
}

/* The fifth bits of a Q5 block, as 0x10 in each byte whose bit is set. */
INLINE __m256i q5_high(const uint8_t *qh8) {
    uint32_t qh;
    memcpy(&qh, qh8, 4);
    const __m256i shuf = _mm256_set_epi64x(0x0303030303030303, 0x0202020202020202, 0x0101010101010101, 0);
    __m256i v = _mm256_shuffle_epi8(_mm256_set1_epi32((int)qh), shuf);
    const __m256i bit = _mm256_set1_epi64x((long long)0x8040201008040201ull);
    v = _mm256_cmpeq_epi8(_mm256_and_si256(v, bit), bit);
    return _mm256_and_si256(v, _mm256_set1_epi8(0x10));
}

INLINE __m256i load32(const void *p) { return _mm256_loadu_si256((const __m256i *)p); }

/* --- block routines: acc += block product (float vector), corr += scalar part --------------------------- */
/* The block scale times the activation scale, in all lanes. */
INLINE __m256 scale8(uint16_t d, float da) {
    return _mm256_mul_ps(_mm256_cvtph_ps(_mm_set1_epi16((short)d)), _mm256_set1_ps(da));
}

/* Q4_0: unsigned nibbles x activations minus 8 x activations, in 16 bits (|values| < 4096); the second product
 * depends only on the activations, so the multi-row forms compute it once for all rows. */
INLINE void blk_q4_0_dot(const blk_q4_0 *x, const act_q8 *y, __m256 *acc, float *corr) {
    (void)corr;
    __m256i a = load32(y->qs);
    __m256i p = _mm256_sub_epi16(_mm256_maddubs_epi16(nibbles32(x->qs), a), _mm256_maddubs_epi16(_mm256_set1_epi8(8), a));
    *acc = _mm256_fmadd_ps(scale8(x->d, y->d), _mm256_cvtepi32_ps(_mm256_madd_epi16(p, _mm256_set1_epi16(1))), *acc);
}

INLINE void blk_q4_1_dot(const blk_q4_1 *x, const act_q8 *y, __m256 *acc, float *corr) {
    *acc = _mm256_fmadd_ps(_mm256_set1_ps(h2f(x->d) * y->d), _mm256_cvtepi32_ps(dot_us(nibbles32(x->qs), load32(y->qs))),
                           *acc);
    *corr += h2f(x->m) * y->s;
}

INLINE void blk_q5_0_dot(const blk_q5_0 *x, const act_q8 *y, __m256 *acc, float *corr) {
    (void)corr;
    __m256i w = _mm256_sub_epi8(_mm256_or_si256(nibbles32(x->qs), q5_high(x->qh)), _mm256_set1_epi8(16));
    *acc = _mm256_fmadd_ps(_mm256_set1_ps(h2f(x->d) * y->d), _mm256_cvtepi32_ps(dot_ss(w, load32(y->qs))), *acc);
}

INLINE void blk_q5_1_dot(const blk_q5_1 *x, const act_q8 *y, __m256 *acc, float *corr) {
    __m256i w = _mm256_or_si256(nibbles32(x->qs), q5_high(x->qh));
    *acc = _mm256_fmadd_ps(_mm256_set1_ps(h2f(x->d) * y->d), _mm256_cvtepi32_ps(dot_us(w, load32(y->qs))), *acc);
    *corr += h2f(x->m) * y->s;
}

INLINE void blk_q8_0_dot(const blk_q8_0 *x, const act_q8 *y, __m256 *acc, float *corr) {
    (void)corr;
    *acc = _mm256_fmadd_ps(scale8(x->d, y->d), _mm256_cvtepi32_ps(dot_ss(load32(x->qs), load32(y->qs))), *acc);
}

/* Scales of the two 16-element groups of a 32-element chunk, as 16-bit lanes (8 of each). */
INLINE __m256i sc2(int a, int b) { return _mm256_set_m128i(_mm_set1_epi16((short)b), _mm_set1_epi16((short)a)); }
INLINE __m256i bsums(const act_q8k *y) { return load32(y->bsums); }
INLINE int hsum_i32(__m256i v) {
    __m128i s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0x4e));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0xb1));
    return _mm_cvtsi128_si32(s);
}

/* Q4_K / Q5_K: the 8 scales and 8 mins (6 bits each, packed in 12 bytes) as 16-bit lanes: both 128-bit halves of
 * *sc hold the scales, both halves of *mn the mins. */
INLINE void k4_scales(const uint8_t *q, __m256i *sc, __m256i *mn) {
    uint32_t w[3];
    memcpy(w, q, 12);
    uint32_t s0 = w[0] & 0x3f3f3f3f, m0 = w[1] & 0x3f3f3f3f;
    uint32_t s1 = (w[2] & 0x0f0f0f0f) | (((w[0] >> 6) & 0x03030303) << 4);
    uint32_t m1 = ((w[2] >> 4) & 0x0f0f0f0f) | (((w[1] >> 6) & 0x03030303) << 4);
    __m256i v = _mm256_cvtepu8_epi16(_mm_set_epi32((int)m1, (int)m0, (int)s1, (int)s0));
    *sc = _mm256_permute2x128_si256(v, v, 0x00);
    *mn = _mm256_permute2x128_si256(v, v, 0x11);
}

/* Lane pair j of 16-bit values repeated over the register (both halves hold the same 8 values). */
#define LANE16(v, j) _mm256_shuffle_epi8(v, _mm256_set1_epi16((short)(((2 * (j) + 1) << 8) | (2 * (j)))))

/* sum over the 8 chunks of 32 of min[j] * (bsums[2j] + bsums[2j+1]), as 8 int32 lanes */
INLINE __m256i k4_mins(__m256i mn, const act_q8k *y) {
    const __m256i pairs = _mm256_setr_epi8(0, 1, 0, 1, 2, 3, 2, 3, 4, 5, 4, 5, 6, 7, 6, 7, 8, 9, 8, 9, 10, 11, 10, 11, 12,
                                           13, 12, 13, 14, 15, 14, 15);
    return _mm256_madd_epi16(_mm256_shuffle_epi8(mn, pairs), bsums(y));
}

INLINE void blk_q4_K_dot(const blk_q4_K *x, const act_q8k *y, __m256 *acc, float *corr) {
    (void)corr;
    __m256i sc, mn;
    k4_scales(x->scales, &sc, &mn);
    __m256i isum = _mm256_setzero_si256();
    const __m256i low = _mm256_set1_epi8(15);
    for (int p = 0; p < 4; p++) {
        __m256i q = load32(x->qs + 32 * p);
        __m256i lo = _mm256_and_si256(q, low), hi = _mm256_and_si256(_mm256_srli_epi16(q, 4), low);
        __m256i p0 = _mm256_maddubs_epi16(lo, load32(y->qs + 64 * p));
        __m256i p1 = _mm256_maddubs_epi16(hi, load32(y->qs + 64 * p + 32));
        isum = _mm256_add_epi32(isum, _mm256_madd_epi16(p0, LANE16(sc, 2 * p)));
        isum = _mm256_add_epi32(isum, _mm256_madd_epi16(p1, LANE16(sc, 2 * p + 1)));
    }
    __m256 da = _mm256_set1_ps(y->d);
    *acc = _mm256_fmadd_ps(_mm256_mul_ps(_mm256_cvtph_ps(_mm_set1_epi16((short)x->d)), da), _mm256_cvtepi32_ps(isum), *acc);
    *acc = _mm256_fnmadd_ps(_mm256_mul_ps(_mm256_cvtph_ps(_mm_set1_epi16((short)x->dmin)), da),
                            _mm256_cvtepi32_ps(k4_mins(mn, y)), *acc);
}

INLINE void blk_q5_K_dot(const blk_q5_K *x, const act_q8k *y, __m256 *acc, float *corr) {
    (void)corr;
    __m256i sc, mn;
    k4_scales(x->scales, &sc, &mn);
    __m256i isum = _mm256_setzero_si256(), hbits = load32(x->qh);
    const __m256i low = _mm256_set1_epi8(15), one = _mm256_set1_epi8(1);
    for (int p = 0; p < 4; p++) {
        __m256i q = load32(x->qs + 32 * p);
        __m256i h0 = _mm256_slli_epi16(_mm256_and_si256(hbits, one), 4);
        __m256i h1 = _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(hbits, 1), one), 4);
        hbits = _mm256_srli_epi16(hbits, 2);
        __m256i lo = _mm256_or_si256(_mm256_and_si256(q, low), h0);
        __m256i hi = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(q, 4), low), h1);
        __m256i p0 = _mm256_maddubs_epi16(lo, load32(y->qs + 64 * p));
        __m256i p1 = _mm256_maddubs_epi16(hi, load32(y->qs + 64 * p + 32));
        isum = _mm256_add_epi32(isum, _mm256_madd_epi16(p0, LANE16(sc, 2 * p)));
        isum = _mm256_add_epi32(isum, _mm256_madd_epi16(p1, LANE16(sc, 2 * p + 1)));
    }
    __m256 da = _mm256_set1_ps(y->d);
    *acc = _mm256_fmadd_ps(_mm256_mul_ps(_mm256_cvtph_ps(_mm_set1_epi16((short)x->d)), da), _mm256_cvtepi32_ps(isum), *acc);
    *acc = _mm256_fnmadd_ps(_mm256_mul_ps(_mm256_cvtph_ps(_mm_set1_epi16((short)x->dmin)), da),
                            _mm256_cvtepi32_ps(k4_mins(mn, y)), *acc);
}

/* Scales of groups (2k, 2k+1) of the half of a 16-lane vector selected by `h`: low half = group 2k's, high 2k+1's. */
INLINE __m256i sc_pair(__m256i s16half, int k) {
    __m128i lo = _mm_set1_epi16((short)(((4 * k + 1) << 8) | (4 * k)));
    __m128i hi = _mm_set1_epi16((short)(((4 * k + 3) << 8) | (4 * k + 2)));
    return _mm256_shuffle_epi8(s16half, _mm256_set_m128i(hi, lo));
}

INLINE void blk_q6_K_dot(const blk_q6_K *x, const act_q8k *y, __m256 *acc, float *corr) {
    (void)corr;
    const __m256i low = _mm256_set1_epi8(15), three = _mm256_set1_epi8(3);
    __m256i isum = _mm256_setzero_si256();
    __m256i s16 = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)x->scales));
    for (int h = 0; h < 2; h++) {
        __m256i half = h ? _mm256_permute2x128_si256(s16, s16, 0x11) : _mm256_permute2x128_si256(s16, s16, 0x00);
        __m256i l0 = load32(x->ql + 64 * h), l1 = load32(x->ql + 64 * h + 32), qh = load32(x->qh + 32 * h);
        __m256i v[4];
        v[0] = _mm256_or_si256(_mm256_and_si256(l0, low), _mm256_slli_epi16(_mm256_and_si256(qh, three), 4));
        v[1] = _mm256_or_si256(_mm256_and_si256(l1, low),
                               _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, 2), three), 4));
        v[2] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l0, 4), low),
                               _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, 4), three), 4));
        v[3] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l1, 4), low),
                               _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, 6), three), 4));
        for (int k = 0; k < 4; k++) {
            __m256i p = _mm256_maddubs_epi16(v[k], load32(y->qs + 128 * h + 32 * k));
            isum = _mm256_add_epi32(isum, _mm256_madd_epi16(p, sc_pair(half, k)));
        }
    }
    /* values are stored +32: subtract 32 * sum_g scale_g * bsum_g */
    __m256i off = _mm256_slli_epi32(_mm256_madd_epi16(s16, bsums(y)), 5);
    isum = _mm256_sub_epi32(isum, off);
    *acc = _mm256_fmadd_ps(scale8(x->d, y->d), _mm256_cvtepi32_ps(isum), *acc);
}

/* Q3_K's 16 signed 6-bit scales */
INLINE __m256i q3k_scales16(const uint8_t *s) {
    int16_t out[16];
    for (int j = 0; j < 16; j++) {
        int lo = j < 8 ? s[j] & 15 : s[j - 8] >> 4;
        int hi = (s[8 + j % 4] >> (2 * (j / 4))) & 3;
        out[j] = (int16_t)((lo | (hi << 4)) - 32);
    }
    return load32(out);
}

INLINE void blk_q3_K_dot(const blk_q3_K *x, const act_q8k *y, __m256 *acc, float *corr) {
    (void)corr;
    int16_t sc[16];
    __m256i scv = q3k_scales16(x->scales);
    _mm256_storeu_si256((__m256i *)sc, scv);
    const __m256i three = _mm256_set1_epi8(3), one = _mm256_set1_epi8(1);
    __m256i hm = load32(x->hmask), isum = _mm256_setzero_si256();
    for (int half = 0; half < 2; half++) {
        __m256i q = load32(x->qs + 32 * half);
        for (int k = 0; k < 4; k++) {
            int c = 4 * half + k;
            __m256i v = _mm256_and_si256(q, three);
            q = _mm256_srli_epi16(q, 2);
            v = _mm256_or_si256(v, _mm256_slli_epi16(_mm256_and_si256(hm, one), 2));
            hm = _mm256_srli_epi16(hm, 1);
            __m256i p = _mm256_maddubs_epi16(v, load32(y->qs + 32 * c));
            isum = _mm256_add_epi32(isum, _mm256_madd_epi16(p, sc2(sc[2 * c], sc[2 * c + 1])));
        }
    }
    /* values are stored +4 */
    isum = _mm256_sub_epi32(isum, _mm256_slli_epi32(_mm256_madd_epi16(scv, bsums(y)), 2));
    *acc = _mm256_fmadd_ps(_mm256_set1_ps(h2f(x->d) * y->d), _mm256_cvtepi32_ps(isum), *acc);
}

INLINE void blk_q2_K_dot(const blk_q2_K *x, const act_q8k *y, __m256 *acc, float *corr) {
    __m128i s8 = _mm_loadu_si128((const __m128i *)x->scales);
    __m256i s16 = _mm256_cvtepu8_epi16(s8);
    __m256i scv = _mm256_and_si256(s16, _mm256_set1_epi16(15)), mv = _mm256_srli_epi16(s16, 4);
    int16_t sc[16];
    _mm256_storeu_si256((__m256i *)sc, scv);
    const __m256i three = _mm256_set1_epi8(3);
    __m256i isum = _mm256_setzero_si256();
    for (int half = 0; half < 2; half++) {
        __m256i q = load32(x->qs + 32 * half);
        for (int k = 0; k < 4; k++) {
            int c = 4 * half + k;
            __m256i v = _mm256_and_si256(q, three);
            q = _mm256_srli_epi16(q, 2);
            __m256i p = _mm256_maddubs_epi16(v, load32(y->qs + 32 * c));
            isum = _mm256_add_epi32(isum, _mm256_madd_epi16(p, sc2(sc[2 * c], sc[2 * c + 1])));
        }
    }
    *acc = _mm256_fmadd_ps(_mm256_set1_ps(h2f(x->d) * y->d), _mm256_cvtepi32_ps(isum), *acc);
    *corr -= h2f(x->dmin) * y->d * (float)hsum_i32(_mm256_madd_epi16(mv, bsums(y)));
}

/* --- dot, dotn (R weight rows, one activation row) and dotm (one weight row, R activation rows) ---------- */
enum { R = 4, PF = 768, Q80_PF = 1088 }; /* rows per call; prefetch distances in bytes (dotn, dot8_q8_0) */
/* Four explicit calls (not a loop over arrays) so the accumulators stay in registers. */
#define DOTS(name, WT, AT, BLOCK)                                                                            \
    static float dot_##name(int64_t n, const void *w, const void *a) {                                       \
        const WT *x = w;                                                                                     \
        const AT *y = a;                                                                                     \
        __m256 acc = _mm256_setzero_ps();                                                                    \
        float corr = 0;                                                                                      \
        for (int64_t i = 0; i < n / BLOCK; i++) blk_##name##_dot(x + i, y + i, &acc, &corr);                 \
        return hsum(acc) + corr;                                                                             \
    }                                                                                                        \
    static void dotn_##name(int64_t n, const void *w, size_t stride, int nr, const void *a, float *out) {    \
        const AT *y = a;                                                                                     \
        int r = 0;                                                                                           \
        for (; r + R <= nr; r += R) {                                                                        \
            const WT *x0 = (const WT *)((const uint8_t *)w + (size_t)r * stride);                            \
            const WT *x1 = (const WT *)((const uint8_t *)x0 + stride);                                       \
            const WT *x2 = (const WT *)((const uint8_t *)x1 + stride);                                       \
            const WT *x3 = (const WT *)((const uint8_t *)x2 + stride);                                       \
            __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;                                      \
            float c0 = 0, c1 = 0, c2 = 0, c3 = 0;                                                            \
            for (int64_t i = 0; i < n / BLOCK; i++) {                                                        \
                if (sizeof(WT) > 64 || i % (64 / sizeof(WT) + 1) == 0) {                                     \
                    _mm_prefetch((const char *)(x0 + i) + PF, _MM_HINT_T0);                                  \
                    _mm_prefetch((const char *)(x1 + i) + PF, _MM_HINT_T0);                                  \
                    _mm_prefetch((const char *)(x2 + i) + PF, _MM_HINT_T0);                                  \
                    _mm_prefetch((const char *)(x3 + i) + PF, _MM_HINT_T0);                                  \
                }                                                                                            \
                blk_##name##_dot(x0 + i, y + i, &a0, &c0);                                                   \
                blk_##name##_dot(x1 + i, y + i, &a1, &c1);                                                   \
                blk_##name##_dot(x2 + i, y + i, &a2, &c2);                                                   \
                blk_##name##_dot(x3 + i, y + i, &a3, &c3);                                                   \
            }                                                                                                \
            out[r] = hsum(a0) + c0;                                                                          \
            out[r + 1] = hsum(a1) + c1;                                                                      \
            out[r + 2] = hsum(a2) + c2;                                                                      \
            out[r + 3] = hsum(a3) + c3;                                                                      \
        }                                                                                                    \
        for (; r < nr; r++) out[r] = dot_##name(n, (const uint8_t *)w + (size_t)r * stride, a);              \
    }                                                                                                        \
    static void dotm_##name(int64_t n, const void *w, const void *a, size_t astride, int na, float *out) {   \
        const WT *x = w;                                                                                     \
        int c = 0;                                                                                           \
        for (; c + R <= na; c += R) {                                                                        \
            const AT *y0 = (const AT *)((const uint8_t *)a + (size_t)c * astride);                           \
            const AT *y1 = (const AT *)((const uint8_t *)y0 + astride);                                      \
            const AT *y2 = (const AT *)((const uint8_t *)y1 + astride);                                      \
            const AT *y3 = (const AT *)((const uint8_t *)y2 + astride);                                      \
            __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;                                      \
            float c0 = 0, c1 = 0, c2 = 0, c3 = 0;                                                            \
            for (int64_t i = 0; i < n / BLOCK; i++) {                                                        \
                blk_##name##_dot(x + i, y0 + i, &a0, &c0);                                                   \
                blk_##name##_dot(x + i, y1 + i, &a1, &c1);                                                   \
                blk_##name##_dot(x + i, y2 + i, &a2, &c2);                                                   \
                blk_##name##_dot(x + i, y3 + i, &a3, &c3);                                                   \
            }                                                                                                \
            out[c] = hsum(a0) + c0;                                                                          \
            out[c + 1] = hsum(a1) + c1;                                                                      \
            out[c + 2] = hsum(a2) + c2;                                                                      \
            out[c + 3] = hsum(a3) + c3;                                                                      \
        }                                                                                                    \
        for (; c < na; c++) out[c] = dot_##name(n, w, (const uint8_t *)a + (size_t)c * astride);             \
    }

/* 2 weight rows x 4 activation rows per tile: 8 accumulators; each weight block is unpacked once per 4 tokens,
 * each activation block (and what depends only on it) loaded once per 2 rows. */
#define GEMM(name, WT, AT, BLOCK)                                                                            \
    static void gemm_##name(int64_t n, const void *w, size_t ws, int nr, const void *a, size_t as, int na,  \
                            float *out, size_t os) {                                                         \
        int r = 0;                                                                                           \
        for (; r + 2 <= nr; r += 2) {                                                                        \
            const WT *x0 = (const WT *)((const uint8_t *)w + (size_t)r * ws);                                \
            const WT *x1 = (const WT *)((const uint8_t *)x0 + ws);                                           \
            int c = 0;                                                                                       \
            for (; c + 4 <= na; c += 4) {                                                                    \
                const AT *y0 = (const AT *)((const uint8_t *)a + (size_t)c * as);                            \
                const AT *y1 = (const AT *)((const uint8_t *)y0 + as);                                       \
                const AT *y2 = (const AT *)((const uint8_t *)y1 + as);                                       \
                const AT *y3 = (const AT *)((const uint8_t *)y2 + as);                                       \
                __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0, b0 = a0, b1 = a0, b2 = a0, b3 = a0;  \
                float c0 = 0, c1 = 0, c2 = 0, c3 = 0, d0 = 0, d1 = 0, d2 = 0, d3 = 0;                        \
                for (int64_t i = 0; i < n / BLOCK; i++) {                                                    \
                    blk_##name##_dot(x0 + i, y0 + i, &a0, &c0);                                              \
                    blk_##name##_dot(x1 + i, y0 + i, &b0, &d0);                                              \
                    blk_##name##_dot(x0 + i, y1 + i, &a1, &c1);                                              \
                    blk_##name##_dot(x1 + i, y1 + i, &b1, &d1);                                              \
                    blk_##name##_dot(x0 + i, y2 + i, &a2, &c2);                                              \
                    blk_##name##_dot(x1 + i, y2 + i, &b2, &d2);                                              \
                    blk_##name##_dot(x0 + i, y3 + i, &a3, &c3);                                              \
                    blk_##name##_dot(x1 + i, y3 + i, &b3, &d3);                                              \
                }                                                                                            \
                float *o = out + (size_t)c * os + r;                                                         \
                o[0] = hsum(a0) + c0, o[1] = hsum(b0) + d0, o += os;                                         \
                o[0] = hsum(a1) + c1, o[1] = hsum(b1) + d1, o += os;                                         \
                o[0] = hsum(a2) + c2, o[1] = hsum(b2) + d2, o += os;                                         \
                o[0] = hsum(a3) + c3, o[1] = hsum(b3) + d3;                                                  \
            }                                                                                                \
            for (; c < na; c++) {                                                                            \
                const void *yc = (const uint8_t *)a + (size_t)c * as;                                        \
                out[(size_t)c * os + r] = dot_##name(n, x0, yc);                                             \
                out[(size_t)c * os + r + 1] = dot_##name(n, x1, yc);                                         \
            }                                                                                                \
        }                                                                                                    \
        for (; r < nr; r++)                                                                                  \
            for (int c = 0; c < na; c++)                                                                     \
                out[(size_t)c * os + r] = dot_##name(n, (const uint8_t *)w + (size_t)r * ws,                \
                                                     (const uint8_t *)a + (size_t)c * as);                   \
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
GEMM(q4_0, blk_q4_0, act_q8, QK)
GEMM(q4_1, blk_q4_1, act_q8, QK)
GEMM(q5_0, blk_q5_0, act_q8, QK)
GEMM(q5_1, blk_q5_1, act_q8, QK)
GEMM(q8_0, blk_q8_0, act_q8, QK)
GEMM(q2_K, blk_q2_K, act_q8k, QK_K)
GEMM(q3_K, blk_q3_K, act_q8k, QK_K)
GEMM(q4_K, blk_q4_K, act_q8k, QK_K)
GEMM(q5_K, blk_q5_K, act_q8k, QK_K)
GEMM(q6_K, blk_q6_K, act_q8k, QK_K)

/* --- Q4_0 rows interleaved 8 at a time (blk_q4_0x8): one vector lane per row ------------------------------
 * For each 4 activation bytes (broadcast to all lanes), maddubs multiplies them with 4 values of each of the
 * 8 rows; 8 such products per block add up in 16 bits (|sum| <= 8 * 2 * 15 * 127 < 32768), one madd gives the
 * 8 rows' block sums, and the 8 scales are applied with one multiply. The -8 offset comes in through the
 * activation sum (y->s = y->d * sum). */
static void dot8_q4_0(int64_t n, const void *packed, const void *a, float *out) {
    const blk_q4_0x8 *b = packed;
    const act_q8 *y = a;
    const __m256i low = _mm256_set1_epi8(15), ones = _mm256_set1_epi16(1);
    __m256 acc = _mm256_setzero_ps();
    for (int64_t i = 0; i < n / QK; i++, b++, y++) {
        _mm_prefetch((const char *)b + 512, _MM_HINT_T0);
        _mm_prefetch((const char *)b + 576, _MM_HINT_T0);
        __m256i s16 = _mm256_setzero_si256();
        for (int k = 0; k < 4; k++) {
            __m256i q = load32(b->q[k]);
            int32_t a0, a1;
            memcpy(&a0, y->qs + 4 * k, 4);
            memcpy(&a1, y->qs + 16 + 4 * k, 4);
            s16 = _mm256_add_epi16(s16, _mm256_maddubs_epi16(_mm256_and_si256(q, low), _mm256_set1_epi32(a0)));
            s16 = _mm256_add_epi16(s16, _mm256_maddubs_epi16(_mm256_and_si256(_mm256_srli_epi16(q, 4), low),
                                                             _mm256_set1_epi32(a1)));
        }
        __m256 d = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)b->d));
        acc = _mm256_fmadd_ps(_mm256_mul_ps(d, _mm256_set1_ps(y->d)), _mm256_cvtepi32_ps(_mm256_madd_epi16(s16, ones)), acc);
        acc = _mm256_fnmadd_ps(d, _mm256_set1_ps(8 * y->s), acc);
    }
    _mm256_storeu_ps(out, acc);
}


/* The 8 rows x 4 tokens of a batch tile, token t's 8 results at out[(c + t) * ostride ...]. */
static inline void store_tile4x8(float *out, size_t ostride, int64_t c, __m256 acc0, __m256 acc1, __m256 acc2,
                                 __m256 acc3) {
    _mm256_storeu_ps(out + (size_t)c * ostride, acc0);
    _mm256_storeu_ps(out + (size_t)(c + 1) * ostride, acc1);
    _mm256_storeu_ps(out + (size_t)(c + 2) * ostride, acc2);
    _mm256_storeu_ps(out + (size_t)(c + 3) * ostride, acc3);
}

/* The activation rows of tokens c .. c+3 of a prompt tile (a, astride, c in scope), as y0 .. y3 of type T. */
#define TOKENS4(T)                                                                                           \
    const T *y0 = (const T *)((const uint8_t *)a + (size_t)c * astride),                                     \
            *y1 = (const T *)((const uint8_t *)y0 + astride), *y2 = (const T *)((const uint8_t *)y1 + astride), \
            *y3 = (const T *)((const uint8_t *)y2 + astride)

/* 8 packed Q4_0 rows x 4 tokens: each weight register is unpacked once and multiplied with the 4 tokens'
 * activation bytes (prompt batches). */
#define Q40_TOK(t)                                                                                           \
    do {                                                                                                     \
        int32_t a0, a1;                                                                                      \
        memcpy(&a0, y##t->qs + 4 * k, 4);                                                                    \
        memcpy(&a1, y##t->qs + 16 + 4 * k, 4);                                                               \
        s##t = _mm256_add_epi16(s##t, _mm256_maddubs_epi16(lo, _mm256_set1_epi32(a0)));                      \
        s##t = _mm256_add_epi16(s##t, _mm256_maddubs_epi16(hi, _mm256_set1_epi32(a1)));                      \
    } while (0)
#define Q40_ACC(t)                                                                                           \
    do {                                                                                                     \
        acc##t = _mm256_fmadd_ps(_mm256_mul_ps(d, _mm256_set1_ps(y##t->d)),                                 \
                                 _mm256_cvtepi32_ps(_mm256_madd_epi16(s##t, ones)), acc##t);                 \
        acc##t = _mm256_fnmadd_ps(d, _mm256_set1_ps(8 * y##t->s), acc##t);                                   \
    } while (0)

static void gemm8_q4_0(int64_t n, const void *packed, const void *a, size_t astride, int na, float *out,
                       size_t ostride) {
    const __m256i low = _mm256_set1_epi8(15), ones = _mm256_set1_epi16(1);
    int c = 0;
    for (; c + 4 <= na; c += 4) {
        const blk_q4_0x8 *b = packed;
        TOKENS4(act_q8);
        __m256 acc0 = _mm256_setzero_ps(), acc1 = acc0, acc2 = acc0, acc3 = acc0;
        for (int64_t i = 0; i < n / QK; i++, b++, y0++, y1++, y2++, y3++) {
            __m256i s0 = _mm256_setzero_si256(), s1 = s0, s2 = s0, s3 = s0;
            for (int k = 0; k < 4; k++) {
                __m256i q = load32(b->q[k]);
                __m256i lo = _mm256_and_si256(q, low), hi = _mm256_and_si256(_mm256_srli_epi16(q, 4), low);
                Q40_TOK(0);
                Q40_TOK(1);
                Q40_TOK(2);
                Q40_TOK(3);
            }
            __m256 d = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)b->d));
            Q40_ACC(0);
            Q40_ACC(1);
            Q40_ACC(2);
            Q40_ACC(3);
        }
        store_tile4x8(out, ostride, c, acc0, acc1, acc2, acc3);
    }
    for (; c < na; c++) /* the last tokens one by one, straight into out */
        dot8_q4_0(n, packed, (const uint8_t *)a + (size_t)c * astride, out + (size_t)c * ostride);
}
#undef Q40_TOK
#undef Q40_ACC

/* Q4_K, 8 rows per lane group: per pair of sub-blocks, 8 steps of 4 activation bytes x 4 values of each row add
 * up in 16 bits (<= 8 * 2 * 15 * 127), one madd with the rows' scales (each in both 16-bit halves of the row's
 * 32-bit lane) widens them; the mins go through the activation's 16-element sums, two sub-blocks per madd.
 * The 6-bit scales are unpacked for the 8 rows at once: word w of row r sits in 32-bit lane r of s[w], so ggml's
 * word arithmetic leaves scales 0-3 (sc0), 4-7 (sc1) and mins 0-3 / 4-7 (mn0, mn1) as the 4 bytes of each lane. */
typedef struct { __m256i sc[2], mn[2]; } k4x8_scales;

INLINE k4x8_scales k4x8_unpack(const blk_q4_Kx8 *b) {
    const __m256i c3f = _mm256_set1_epi32(0x3f3f3f3f), c0f = _mm256_set1_epi32(0x0f0f0f0f), c03 = _mm256_set1_epi32(0x03030303);
    __m256i w0 = load32(b->s[0]), w1 = load32(b->s[1]), w2 = load32(b->s[2]);
    k4x8_scales k;
    k.sc[0] = _mm256_and_si256(w0, c3f);
    k.mn[0] = _mm256_and_si256(w1, c3f);
    k.sc[1] = _mm256_or_si256(_mm256_and_si256(w2, c0f), _mm256_slli_epi32(_mm256_and_si256(_mm256_srli_epi32(w0, 6), c03), 4));
    k.mn[1] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi32(w2, 4), c0f),
                              _mm256_slli_epi32(_mm256_and_si256(_mm256_srli_epi32(w1, 6), c03), 4));
    return k;
}

/* Byte j of each 32-bit lane as both of its 16-bit halves (the scale of that lane's row for sub-block j). */
INLINE __m256i k4x8_spread(__m256i v, int j) {
    const __m256i base = _mm256_setr_epi8(0, -128, 0, -128, 4, -128, 4, -128, 8, -128, 8, -128, 12, -128, 12, -128, 0, -128,
                                          0, -128, 4, -128, 4, -128, 8, -128, 8, -128, 12, -128, 12, -128);
    return _mm256_shuffle_epi8(v, _mm256_add_epi8(base, _mm256_set1_epi8((char)j)));
}

/* The mins as 16-bit pairs per row: mp[i] lanes (2r, 2r+1) = mins 2i and 2i+1 of row r (once per block). */
INLINE void k4x8_min_pairs(const k4x8_scales *k, __m256i mp[4]) {
    const __m256i lo = _mm256_setr_epi8(0, -128, 1, -128, 4, -128, 5, -128, 8, -128, 9, -128, 12, -128, 13, -128, 0, -128, 1,
                                        -128, 4, -128, 5, -128, 8, -128, 9, -128, 12, -128, 13, -128);
    const __m256i hi = _mm256_add_epi8(lo, _mm256_set1_epi8(2));
    mp[0] = _mm256_shuffle_epi8(k->mn[0], lo);
    mp[1] = _mm256_shuffle_epi8(k->mn[0], hi);
    mp[2] = _mm256_shuffle_epi8(k->mn[1], lo);
    mp[3] = _mm256_shuffle_epi8(k->mn[1], hi);
}

/* sum over sub-blocks j of min[j] x (bsums[2j] + bsums[2j+1]) per row: the 8 sums of 32 (|s| <= 4064) as 16-bit
 * pairs, one madd per pair of sub-blocks. */
INLINE __m256i k4x8_mins(const __m256i mp[4], const act_q8k *y) {
    __m256i s32 = _mm256_madd_epi16(load32(y->bsums), _mm256_set1_epi16(1));                 /* 4 + 4 sums of 32 */
    __m256i s16 = _mm256_permute4x64_epi64(_mm256_packs_epi32(s32, s32), 0x88);              /* the 8 in order */
    __m256i msum = _mm256_madd_epi16(mp[0], _mm256_permutevar8x32_epi32(s16, _mm256_setzero_si256()));
    msum = _mm256_add_epi32(msum, _mm256_madd_epi16(mp[1], _mm256_permutevar8x32_epi32(s16, _mm256_set1_epi32(1))));
    msum = _mm256_add_epi32(msum, _mm256_madd_epi16(mp[2], _mm256_permutevar8x32_epi32(s16, _mm256_set1_epi32(2))));
    return _mm256_add_epi32(msum, _mm256_madd_epi16(mp[3], _mm256_permutevar8x32_epi32(s16, _mm256_set1_epi32(3))));
}

static void dot8_q4_K(int64_t n, const void *packed, const void *a, float *out) {
    const blk_q4_Kx8 *b = packed;
    const act_q8k *y = a;
    const __m256i low = _mm256_set1_epi8(15);
    __m256 acc = _mm256_setzero_ps();
    for (int64_t i = 0; i < n / QK_K; i++, b++, y++) {
        k4x8_scales k = k4x8_unpack(b);
        __m256i isum = _mm256_setzero_si256();
        for (int p = 0; p < 4; p++) {
            __m256i slo = _mm256_setzero_si256(), shi = _mm256_setzero_si256();
            const int8_t *alo = y->qs + 64 * p, *ahi = alo + 32;
            _mm_prefetch((const char *)b->q[p] + 1024, _MM_HINT_T0);
            _mm_prefetch((const char *)b->q[p] + 1088, _MM_HINT_T0);
            _mm_prefetch((const char *)b->q[p] + 1152, _MM_HINT_T0);
            _mm_prefetch((const char *)b->q[p] + 1216, _MM_HINT_T0);
            for (int k8 = 0; k8 < 8; k8++) {
                __m256i q = load32(b->q[p][k8]);
                int32_t a0, a1;
                memcpy(&a0, alo + 4 * k8, 4);
                memcpy(&a1, ahi + 4 * k8, 4);
                slo = _mm256_add_epi16(slo, _mm256_maddubs_epi16(_mm256_and_si256(q, low), _mm256_set1_epi32(a0)));
                shi = _mm256_add_epi16(shi, _mm256_maddubs_epi16(_mm256_and_si256(_mm256_srli_epi16(q, 4), low),
                                                                 _mm256_set1_epi32(a1)));
            }
            __m256i sc0 = k4x8_spread(k.sc[p / 2], 2 * (p % 2)), sc1 = k4x8_spread(k.sc[p / 2], 2 * (p % 2) + 1);
            isum = _mm256_add_epi32(isum, _mm256_add_epi32(_mm256_madd_epi16(slo, sc0), _mm256_madd_epi16(shi, sc1)));
        }
        __m256 da = _mm256_set1_ps(y->d);
        __m256 d = _mm256_mul_ps(_mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)b->d)), da);
        __m256 dm = _mm256_mul_ps(_mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)b->dmin)), da);
        acc = _mm256_fmadd_ps(d, _mm256_cvtepi32_ps(isum), acc);
        __m256i mp[4];
        k4x8_min_pairs(&k, mp);
        acc = _mm256_fnmadd_ps(dm, _mm256_cvtepi32_ps(k4x8_mins(mp, y)), acc);
    }
    _mm256_storeu_ps(out, acc);
}

/* 8 packed Q4_K rows x 4 tokens (prompt batches), one nibble half at a time so the 4 tokens' 16-bit sums and 32-bit
 * totals stay in registers: each weight register is loaded twice (L1) and unpacked once per half for 4 tokens. */
#define Q4K_TOK(t)                                                                                           \
    do {                                                                                                     \
        int32_t a4;                                                                                          \
        memcpy(&a4, y##t->qs + off, 4);                                                                      \
        s##t = _mm256_add_epi16(s##t, _mm256_maddubs_epi16(v, _mm256_set1_epi32(a4)));                       \
    } while (0)
#define Q4K_ACC(t)                                                                                           \
    do {                                                                                                     \
        __m256 da = _mm256_set1_ps(y##t->d);                                                                 \
        acc##t = _mm256_fmadd_ps(_mm256_mul_ps(d, da), _mm256_cvtepi32_ps(is##t), acc##t);                   \
        acc##t = _mm256_fnmadd_ps(_mm256_mul_ps(dm, da), _mm256_cvtepi32_ps(k4x8_mins(mp, y##t)), acc##t);   \
    } while (0)

static void gemm8_q4_K(int64_t n, const void *packed, const void *a, size_t astride, int na, float *out,
                       size_t ostride) {
    const __m256i low = _mm256_set1_epi8(15);
    int c = 0;
    for (; c + 4 <= na; c += 4) {
        const blk_q4_Kx8 *b = packed;
        TOKENS4(act_q8k);
        __m256 acc0 = _mm256_setzero_ps(), acc1 = acc0, acc2 = acc0, acc3 = acc0;
        for (int64_t i = 0; i < n / QK_K; i++, b++, y0++, y1++, y2++, y3++) {
            k4x8_scales k = k4x8_unpack(b);
            __m256i is0 = _mm256_setzero_si256(), is1 = is0, is2 = is0, is3 = is0;
            for (int p = 0; p < 4; p++)
                for (int half = 0; half < 2; half++) {
                    __m256i s0 = _mm256_setzero_si256(), s1 = s0, s2 = s0, s3 = s0;
                    const int sh = 4 * half;
#pragma GCC unroll 8
                    for (int k8 = 0; k8 < 8; k8++) {
                        __m256i q = load32(b->q[p][k8]);
                        __m256i v = _mm256_and_si256(_mm256_srli_epi16(q, sh), low);
                        int off = 64 * p + 32 * half + 4 * k8;
                        Q4K_TOK(0);
                        Q4K_TOK(1);
                        Q4K_TOK(2);
                        Q4K_TOK(3);
                    }
                    __m256i sc = k4x8_spread(k.sc[p / 2], 2 * (p % 2) + half);
                    is0 = _mm256_add_epi32(is0, _mm256_madd_epi16(s0, sc));
                    is1 = _mm256_add_epi32(is1, _mm256_madd_epi16(s1, sc));
                    is2 = _mm256_add_epi32(is2, _mm256_madd_epi16(s2, sc));
                    is3 = _mm256_add_epi32(is3, _mm256_madd_epi16(s3, sc));
                }
            __m256 d = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)b->d));
            __m256 dm = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)b->dmin));
            __m256i mp[4];
            k4x8_min_pairs(&k, mp);
            Q4K_ACC(0);
            Q4K_ACC(1);
            Q4K_ACC(2);
            Q4K_ACC(3);
        }
        store_tile4x8(out, ostride, c, acc0, acc1, acc2, acc3);
    }
    for (; c + 2 <= na; c += 2) {
        const blk_q4_Kx8 *b = packed;
        const act_q8k *y0 = (const act_q8k *)((const uint8_t *)a + (size_t)c * astride);
        const act_q8k *y1 = (const act_q8k *)((const uint8_t *)y0 + astride);
        __m256 acc0 = _mm256_setzero_ps(), acc1 = acc0;
        for (int64_t i = 0; i < n / QK_K; i++, b++, y0++, y1++) {
            k4x8_scales k = k4x8_unpack(b);
            __m256i is0 = _mm256_setzero_si256(), is1 = is0;
            for (int p = 0; p < 4; p++) {
                __m256i l0 = _mm256_setzero_si256(), h0 = l0, l1 = l0, h1 = l0;
                for (int k8 = 0; k8 < 8; k8++) {
                    __m256i q = load32(b->q[p][k8]);
                    __m256i lo = _mm256_and_si256(q, low), hi = _mm256_and_si256(_mm256_srli_epi16(q, 4), low);
                    int32_t a0, a1, a2, a3;
                    memcpy(&a0, y0->qs + 64 * p + 4 * k8, 4);
                    memcpy(&a1, y0->qs + 64 * p + 32 + 4 * k8, 4);
                    memcpy(&a2, y1->qs + 64 * p + 4 * k8, 4);
                    memcpy(&a3, y1->qs + 64 * p + 32 + 4 * k8, 4);
                    l0 = _mm256_add_epi16(l0, _mm256_maddubs_epi16(lo, _mm256_set1_epi32(a0)));
                    h0 = _mm256_add_epi16(h0, _mm256_maddubs_epi16(hi, _mm256_set1_epi32(a1)));
                    l1 = _mm256_add_epi16(l1, _mm256_maddubs_epi16(lo, _mm256_set1_epi32(a2)));
                    h1 = _mm256_add_epi16(h1, _mm256_maddubs_epi16(hi, _mm256_set1_epi32(a3)));
                }
                __m256i sc0 = k4x8_spread(k.sc[p / 2], 2 * (p % 2)), sc1 = k4x8_spread(k.sc[p / 2], 2 * (p % 2) + 1);
                is0 = _mm256_add_epi32(is0, _mm256_add_epi32(_mm256_madd_epi16(l0, sc0), _mm256_madd_epi16(h0, sc1)));
                is1 = _mm256_add_epi32(is1, _mm256_add_epi32(_mm256_madd_epi16(l1, sc0), _mm256_madd_epi16(h1, sc1)));
            }
            __m256 d = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)b->d));
            __m256 dm = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)b->dmin));
            __m256 da0 = _mm256_set1_ps(y0->d), da1 = _mm256_set1_ps(y1->d);
            acc0 = _mm256_fmadd_ps(_mm256_mul_ps(d, da0), _mm256_cvtepi32_ps(is0), acc0);
            __m256i mp[4];
            k4x8_min_pairs(&k, mp);
            acc0 = _mm256_fnmadd_ps(_mm256_mul_ps(dm, da0), _mm256_cvtepi32_ps(k4x8_mins(mp, y0)), acc0);
            acc1 = _mm256_fmadd_ps(_mm256_mul_ps(d, da1), _mm256_cvtepi32_ps(is1), acc1);
            acc1 = _mm256_fnmadd_ps(_mm256_mul_ps(dm, da1), _mm256_cvtepi32_ps(k4x8_mins(mp, y1)), acc1);
        }
        _mm256_storeu_ps(out + (size_t)c * ostride, acc0);
        _mm256_storeu_ps(out + (size_t)(c + 1) * ostride, acc1);
    }
    for (; c < na; c++) /* the last tokens one by one, straight into out */
        dot8_q4_K(n, packed, (const uint8_t *)a + (size_t)c * astride, out + (size_t)c * ostride);
}

#undef Q4K_TOK
#undef Q4K_ACC

/* Q6_K, 8 rows per lane group: the 6-bit values (unsigned, stored +32) of 4 streams (elements 32s + l of each
 * 128-half) are rebuilt from ql / qh registers, multiplied with 4 broadcast activation bytes each; two steps add up
 * in 16 bits (<= 2 * 2 * 63 * 127), then one madd per stream applies the 16-element group's scales (each row's in
 * both 16-bit halves of its lane). The +32 comes off through the activation's 16-element sums. */
INLINE __m256i q6x8_scale(const int8_t *sc) { /* sc[r] for r = 0..7 -> 16-bit lanes 2r, 2r+1 */
    __m128i v = _mm_loadl_epi64((const __m128i *)sc);
    return _mm256_cvtepi8_epi16(_mm_unpacklo_epi8(v, v));
}

enum { Q6_PF = 2 * sizeof(blk_q6_Kx8) };

static void dot8_q6_K(int64_t n, const void *packed, const void *a, float *out) {
    const blk_q6_Kx8 *b = packed;
    const act_q8k *y = a;
    const __m256i low = _mm256_set1_epi8(15), m30 = _mm256_set1_epi8(0x30);
    __m256 acc = _mm256_setzero_ps();
    for (int64_t i = 0; i < n / QK_K; i++, b++, y++) {
        __m256i isum = _mm256_setzero_si256(), off = _mm256_setzero_si256();
        _mm_prefetch((const char *)b + Q6_PF, _MM_HINT_T0);
        _mm_prefetch((const char *)b + Q6_PF + 64, _MM_HINT_T0);
        _mm_prefetch((const char *)b + Q6_PF + 128, _MM_HINT_T0);
        for (int h = 0; h < 2; h++) {
            for (int k2 = 0; k2 < 8; k2 += 2) { /* the 3 lines this step reads, 2 blocks ahead */
                _mm_prefetch((const char *)b->q[h][k2] + Q6_PF, _MM_HINT_T0);
                _mm_prefetch((const char *)b->q[h][k2] + Q6_PF + 64, _MM_HINT_T0);
                _mm_prefetch((const char *)b->q[h][k2] + Q6_PF + 128, _MM_HINT_T0);
                __m256i s0 = _mm256_setzero_si256(), s1 = s0, s2 = s0, s3 = s0;
                for (int k = k2; k < k2 + 2; k++) {
                    __m256i A = load32(b->q[h][k][0]), B = load32(b->q[h][k][1]), H = load32(b->q[h][k][2]);
                    __m256i v0 = _mm256_or_si256(_mm256_and_si256(A, low), _mm256_and_si256(_mm256_slli_epi16(H, 4), m30));
                    __m256i v1 = _mm256_or_si256(_mm256_and_si256(B, low), _mm256_and_si256(_mm256_slli_epi16(H, 2), m30));
                    __m256i v2 = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(A, 4), low), _mm256_and_si256(H, m30));
                    __m256i v3 = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(B, 4), low),
                                                 _mm256_and_si256(_mm256_srli_epi16(H, 2), m30));
                    const int8_t *ap = y->qs + 128 * h + 4 * k;
                    int32_t a0, a1, a2, a3;
                    memcpy(&a0, ap, 4);
                    memcpy(&a1, ap + 32, 4);
                    memcpy(&a2, ap + 64, 4);
                    memcpy(&a3, ap + 96, 4);
                    s0 = _mm256_add_epi16(s0, _mm256_maddubs_epi16(v0, _mm256_set1_epi32(a0)));
                    s1 = _mm256_add_epi16(s1, _mm256_maddubs_epi16(v1, _mm256_set1_epi32(a1)));
                    s2 = _mm256_add_epi16(s2, _mm256_maddubs_epi16(v2, _mm256_set1_epi32(a2)));
                    s3 = _mm256_add_epi16(s3, _mm256_maddubs_epi16(v3, _mm256_set1_epi32(a3)));
                }
                int g = 8 * h + k2 / 4; /* group of stream 0; stream s is 2s further */
                isum = _mm256_add_epi32(isum, _mm256_madd_epi16(s0, q6x8_scale(b->sc[g])));
                isum = _mm256_add_epi32(isum, _mm256_madd_epi16(s1, q6x8_scale(b->sc[g + 2])));
                isum = _mm256_add_epi32(isum, _mm256_madd_epi16(s2, q6x8_scale(b->sc[g + 4])));
                isum = _mm256_add_epi32(isum, _mm256_madd_epi16(s3, q6x8_scale(b->sc[g + 6])));
            }
        }
        for (int j = 0; j < 8; j++) { /* sum_g sc[g][r] * bsums[g], groups 2j and 2j+1 per madd */
            int32_t bs;
            memcpy(&bs, y->bsums + 2 * j, 4);
            __m128i sp = _mm_unpacklo_epi8(_mm_loadl_epi64((const __m128i *)b->sc[2 * j]),
                                           _mm_loadl_epi64((const __m128i *)b->sc[2 * j + 1]));
            off = _mm256_add_epi32(off, _mm256_madd_epi16(_mm256_cvtepi8_epi16(sp), _mm256_set1_epi32(bs)));
        }
        isum = _mm256_sub_epi32(isum, _mm256_slli_epi32(off, 5));
        __m256 d = _mm256_mul_ps(_mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)b->d)), _mm256_set1_ps(y->d));
        acc = _mm256_fmadd_ps(d, _mm256_cvtepi32_ps(isum), acc);
    }
    _mm256_storeu_ps(out, acc);
}

/* 8 packed Q6_K rows x 2 tokens (prompt batches): each step's values are rebuilt once for both tokens. */
#define Q6_TOK(t, v, sidx, o)                                                                                \
    do {                                                                                                     \
        int32_t a4;                                                                                          \
        memcpy(&a4, y##t->qs + base + (o), 4);                                                               \
        s##t##sidx = _mm256_add_epi16(s##t##sidx, _mm256_maddubs_epi16(v, _mm256_set1_epi32(a4)));           \
    } while (0)

static void gemm8_q6_K(int64_t n, const void *packed, const void *a, size_t astride, int na, float *out,
                       size_t ostride) {
    const __m256i low = _mm256_set1_epi8(15), m30 = _mm256_set1_epi8(0x30);
    int c = 0;
    for (; c + 2 <= na; c += 2) {
        const blk_q6_Kx8 *b = packed;
        const act_q8k *y0 = (const act_q8k *)((const uint8_t *)a + (size_t)c * astride);
        const act_q8k *y1 = (const act_q8k *)((const uint8_t *)y0 + astride);
        __m256 acc0 = _mm256_setzero_ps(), acc1 = acc0;
        for (int64_t i = 0; i < n / QK_K; i++, b++, y0++, y1++) {
            __m256i is0 = _mm256_setzero_si256(), is1 = is0, off0 = is0, off1 = is0;
            for (int h = 0; h < 2; h++)
                for (int k2 = 0; k2 < 8; k2 += 2) {
                    __m256i s00 = _mm256_setzero_si256(), s01 = s00, s02 = s00, s03 = s00;
                    __m256i s10 = s00, s11 = s00, s12 = s00, s13 = s00;
                    for (int k = k2; k < k2 + 2; k++) {
                        __m256i A = load32(b->q[h][k][0]), B = load32(b->q[h][k][1]), H = load32(b->q[h][k][2]);
                        int base = 128 * h + 4 * k;
                        __m256i v = _mm256_or_si256(_mm256_and_si256(A, low), _mm256_and_si256(_mm256_slli_epi16(H, 4), m30));
                        Q6_TOK(0, v, 0, 0);
                        Q6_TOK(1, v, 0, 0);
                        v = _mm256_or_si256(_mm256_and_si256(B, low), _mm256_and_si256(_mm256_slli_epi16(H, 2), m30));
                        Q6_TOK(0, v, 1, 32);
                        Q6_TOK(1, v, 1, 32);
                        v = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(A, 4), low), _mm256_and_si256(H, m30));
                        Q6_TOK(0, v, 2, 64);
                        Q6_TOK(1, v, 2, 64);
                        v = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(B, 4), low),
                                            _mm256_and_si256(_mm256_srli_epi16(H, 2), m30));
                        Q6_TOK(0, v, 3, 96);
                        Q6_TOK(1, v, 3, 96);
                    }
                    int g = 8 * h + k2 / 4;
                    __m256i sc = q6x8_scale(b->sc[g]);
                    is0 = _mm256_add_epi32(is0, _mm256_madd_epi16(s00, sc));
                    is1 = _mm256_add_epi32(is1, _mm256_madd_epi16(s10, sc));
                    sc = q6x8_scale(b->sc[g + 2]);
                    is0 = _mm256_add_epi32(is0, _mm256_madd_epi16(s01, sc));
                    is1 = _mm256_add_epi32(is1, _mm256_madd_epi16(s11, sc));
                    sc = q6x8_scale(b->sc[g + 4]);
                    is0 = _mm256_add_epi32(is0, _mm256_madd_epi16(s02, sc));
                    is1 = _mm256_add_epi32(is1, _mm256_madd_epi16(s12, sc));
                    sc = q6x8_scale(b->sc[g + 6]);
                    is0 = _mm256_add_epi32(is0, _mm256_madd_epi16(s03, sc));
                    is1 = _mm256_add_epi32(is1, _mm256_madd_epi16(s13, sc));
                }
            for (int j = 0; j < 8; j++) {
                int32_t b0, b1;
                memcpy(&b0, y0->bsums + 2 * j, 4);
                memcpy(&b1, y1->bsums + 2 * j, 4);
                __m256i sp = _mm256_cvtepi8_epi16(_mm_unpacklo_epi8(_mm_loadl_epi64((const __m128i *)b->sc[2 * j]),
                                                                    _mm_loadl_epi64((const __m128i *)b->sc[2 * j + 1])));
                off0 = _mm256_add_epi32(off0, _mm256_madd_epi16(sp, _mm256_set1_epi32(b0)));
                off1 = _mm256_add_epi32(off1, _mm256_madd_epi16(sp, _mm256_set1_epi32(b1)));
            }
            is0 = _mm256_sub_epi32(is0, _mm256_slli_epi32(off0, 5));
            is1 = _mm256_sub_epi32(is1, _mm256_slli_epi32(off1, 5));
            __m256 d = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)b->d));
            acc0 = _mm256_fmadd_ps(_mm256_mul_ps(d, _mm256_set1_ps(y0->d)), _mm256_cvtepi32_ps(is0), acc0);
            acc1 = _mm256_fmadd_ps(_mm256_mul_ps(d, _mm256_set1_ps(y1->d)), _mm256_cvtepi32_ps(is1), acc1);
        }
        _mm256_storeu_ps(out + (size_t)c * ostride, acc0);
        _mm256_storeu_ps(out + (size_t)(c + 1) * ostride, acc1);
    }
    for (; c < na; c++) /* the last tokens one by one, straight into out */
        dot8_q6_K(n, packed, (const uint8_t *)a + (size_t)c * astride, out + (size_t)c * ostride);
}
#undef Q6_TOK

/* Q8_0, 8 rows per lane group: 4 activation bytes broadcast to all lanes times 4 values of each row, with the sign
 * trick (|w| x sign(a, w): maddubs takes one unsigned operand); pair sums can reach 2 * 128 * 127, so each step
 * widens to 32 bits with madd before adding. */
#define Q80_STEP(s, aq, q, ap)                                                                               \
    do {                                                                                                     \
        int32_t a4;                                                                                          \
        memcpy(&a4, ap, 4);                                                                                  \
        s = _mm256_add_epi32(s, _mm256_madd_epi16(_mm256_maddubs_epi16(aq, _mm256_sign_epi8(_mm256_set1_epi32(a4), q)), ones)); \
    } while (0)

static void dot8_q8_0(int64_t n, const void *packed, const void *a, float *out) {
    const blk_q8_0x8 *b = packed;
    const act_q8 *y = a;
    const __m256i ones = _mm256_set1_epi16(1);
    __m256 acc = _mm256_setzero_ps();
    for (int64_t i = 0; i < n / QK; i++, b++, y++) {
        for (int l = 0; l < 5; l++) _mm_prefetch((const char *)b + Q80_PF + 64 * l, _MM_HINT_T0);
        __m256i s0 = _mm256_setzero_si256(), s1 = s0;
        for (int k = 0; k < 8; k += 2) {
            __m256i q0 = load32(b->q[k]), q1 = load32(b->q[k + 1]);
            Q80_STEP(s0, _mm256_abs_epi8(q0), q0, y->qs + 4 * k);
            Q80_STEP(s1, _mm256_abs_epi8(q1), q1, y->qs + 4 * k + 4);
        }
        __m256 d = _mm256_mul_ps(_mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)b->d)), _mm256_set1_ps(y->d));
        acc = _mm256_fmadd_ps(d, _mm256_cvtepi32_ps(_mm256_add_epi32(s0, s1)), acc);
    }
    _mm256_storeu_ps(out, acc);
}

/* 8 packed Q8_0 rows x 4 tokens (prompt batches): |w| is taken once per weight register for the 4 tokens. */
static void gemm8_q8_0(int64_t n, const void *packed, const void *a, size_t astride, int na, float *out,
                       size_t ostride) {
    const __m256i ones = _mm256_set1_epi16(1);
    int c = 0;
    for (; c + 4 <= na; c += 4) {
        const blk_q8_0x8 *b = packed;
        TOKENS4(act_q8);
        __m256 acc0 = _mm256_setzero_ps(), acc1 = acc0, acc2 = acc0, acc3 = acc0;
        for (int64_t i = 0; i < n / QK; i++, b++, y0++, y1++, y2++, y3++) {
            __m256i s0 = _mm256_setzero_si256(), s1 = s0, s2 = s0, s3 = s0;
            for (int k = 0; k < 8; k++) {
                __m256i q = load32(b->q[k]), aq = _mm256_abs_epi8(q);
                Q80_STEP(s0, aq, q, y0->qs + 4 * k);
                Q80_STEP(s1, aq, q, y1->qs + 4 * k);
                Q80_STEP(s2, aq, q, y2->qs + 4 * k);
                Q80_STEP(s3, aq, q, y3->qs + 4 * k);
            }
            __m256 d = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)b->d));
            acc0 = _mm256_fmadd_ps(_mm256_mul_ps(d, _mm256_set1_ps(y0->d)), _mm256_cvtepi32_ps(s0), acc0);
            acc1 = _mm256_fmadd_ps(_mm256_mul_ps(d, _mm256_set1_ps(y1->d)), _mm256_cvtepi32_ps(s1), acc1);
            acc2 = _mm256_fmadd_ps(_mm256_mul_ps(d, _mm256_set1_ps(y2->d)), _mm256_cvtepi32_ps(s2), acc2);
            acc3 = _mm256_fmadd_ps(_mm256_mul_ps(d, _mm256_set1_ps(y3->d)), _mm256_cvtepi32_ps(s3), acc3);
        }
        store_tile4x8(out, ostride, c, acc0, acc1, acc2, acc3);
    }
    for (; c < na; c++) /* the last tokens one by one, straight into out */
        dot8_q8_0(n, packed, (const uint8_t *)a + (size_t)c * astride, out + (size_t)c * ostride);
}
#undef Q80_STEP

/* --- float weights ----------------------------------------------------------------------------------------- */
static float dot_f32(int64_t n, const void *w, const void *a) {
    const float *x = w, *y = a;
    __m256 s0 = _mm256_setzero_ps(), s1 = _mm256_setzero_ps();
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        s0 = _mm256_fmadd_ps(_mm256_loadu_ps(x + i), _mm256_loadu_ps(y + i), s0);
        s1 = _mm256_fmadd_ps(_mm256_loadu_ps(x + i + 8), _mm256_loadu_ps(y + i + 8), s1);
    }
    float sum = hsum(_mm256_add_ps(s0, s1));
    for (; i < n; i++) sum += x[i] * y[i];
    return sum;
}

static float dot_f16(int64_t n, const void *w, const void *a) {
    const uint16_t *x = w;
    const float *y = a;
    __m256 s0 = _mm256_setzero_ps(), s1 = _mm256_setzero_ps();
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        __m256 w0 = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(x + i)));
        __m256 w1 = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(x + i + 8)));
        s0 = _mm256_fmadd_ps(w0, _mm256_loadu_ps(y + i), s0);
        s1 = _mm256_fmadd_ps(w1, _mm256_loadu_ps(y + i + 8), s1);
    }
    float sum = hsum(_mm256_add_ps(s0, s1));
    for (; i < n; i++) sum += _cvtsh_ss(x[i]) * y[i];
    return sum;
}

/* One F16 weight row against R float activation rows (prompt batches of F16 models). */
static void dotm_f16(int64_t n, const void *w, const void *a, size_t astride, int na, float *out) {
    const uint16_t *x = w;
    int c = 0;
    for (; c + R <= na; c += R) {
        const float *y[R];
        __m256 acc[R];
        for (int k = 0; k < R; k++) {
            y[k] = (const float *)((const uint8_t *)a + (size_t)(c + k) * astride);
            acc[k] = _mm256_setzero_ps();
        }
        int64_t i = 0;
        for (; i + 8 <= n; i += 8) {
            __m256 wv = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(x + i)));
            for (int k = 0; k < R; k++) acc[k] = _mm256_fmadd_ps(wv, _mm256_loadu_ps(y[k] + i), acc[k]);
        }
        for (int k = 0; k < R; k++) {
            float s = hsum(acc[k]);
            for (int64_t j = i; j < n; j++) s += _cvtsh_ss(x[j]) * y[k][j];
            out[c + k] = s;
        }
    }
    for (; c < na; c++) out[c] = dot_f16(n, w, (const uint8_t *)a + (size_t)c * astride);
}

static void axpy_f16(int64_t n, float a, const void *x, float *y) {
    const uint16_t *v = x;
    __m256 av = _mm256_set1_ps(a);
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(y + i, _mm256_fmadd_ps(av, _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(v + i))),
                                                _mm256_loadu_ps(y + i)));
    for (; i < n; i++) y[i] += a * _cvtsh_ss(v[i]);
}

/* --- activation quantizers (same arithmetic as the references: x * (1/d), rounded to nearest even) --------- */
INLINE __m256 vabs(__m256 v) { return _mm256_andnot_ps(_mm256_set1_ps(-0.0f), v); }
INLINE float hmax(__m256 v) {
    __m128 m = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    m = _mm_max_ps(m, _mm_movehl_ps(m, m));
    m = _mm_max_ss(m, _mm_movehdup_ps(m));
    return _mm_cvtss_f32(m);
}

/* 32 floats times id, rounded, to 32 int8 (in order). */
INLINE __m256i quant32(const float *x, __m256 id) {
    __m256i i0 = _mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(x), id));
    __m256i i1 = _mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(x + 8), id));
    __m256i i2 = _mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(x + 16), id));
    __m256i i3 = _mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(x + 24), id));
    __m256i p = _mm256_packs_epi16(_mm256_packs_epi32(i0, i1), _mm256_packs_epi32(i2, i3));
    return _mm256_permutevar8x32_epi32(p, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
}

INLINE float absmax(const float *x, int n) {
    __m256 m = _mm256_setzero_ps();
    for (int j = 0; j < n; j += 8) m = _mm256_max_ps(m, vabs(_mm256_loadu_ps(x + j)));
    return hmax(m);
}

static void quant_act_q8(const float *x, void *yv, int64_t n) {
    act_q8 *b = yv;
    for (int64_t i = 0; i < n / QK; i++, b++, x += QK) {
        float d = absmax(x, QK) / 127, id = d ? 1 / d : 0;
        __m256i q = quant32(x, _mm256_set1_ps(id));
        _mm256_storeu_si256((__m256i *)b->qs, q);
        int sum = hsum_i32(_mm256_madd_epi16(_mm256_maddubs_epi16(_mm256_set1_epi8(1), q), _mm256_set1_epi16(1)));
        b->d = _cvtsh_ss(_cvtss_sh(d, _MM_FROUND_TO_NEAREST_INT));
        b->s = b->d * (float)sum;
    }
}

static void quant_act_q8k(const float *x, void *yv, int64_t n) {
    act_q8k *b = yv;
    for (int64_t i = 0; i < n / QK_K; i++, b++, x += QK_K) {
        float d = absmax(x, QK_K) / 127, id = d ? 1 / d : 0;
        __m256 idv = _mm256_set1_ps(id);
        for (int c = 0; c < 8; c++) {
            __m256i q = quant32(x + 32 * c, idv);
            _mm256_storeu_si256((__m256i *)(b->qs + 32 * c), q);
            /* sums of 16: byte pairs to 16-bit, then pairs of those; lanes 0-3 and 4-7 hold the two halves */
            __m256i s = _mm256_madd_epi16(_mm256_maddubs_epi16(_mm256_set1_epi8(1), q), _mm256_set1_epi16(1));
            __m128i lo = _mm256_castsi256_si128(s), hi = _mm256_extracti128_si256(s, 1);
            lo = _mm_hadd_epi32(lo, lo);
            hi = _mm_hadd_epi32(hi, hi);
            b->bsums[2 * c] = (int16_t)(_mm_extract_epi32(lo, 0) + _mm_extract_epi32(lo, 1));
            b->bsums[2 * c + 1] = (int16_t)(_mm_extract_epi32(hi, 0) + _mm_extract_epi32(hi, 1));
        }
        b->d = d;
    }
}

void quant_isa_avx2(quant_isa *isa) {
    isa->dot[EMBER_GGML_F32] = dot_f32;
    isa->dot[EMBER_GGML_F16] = dot_f16;
    isa->dotm[EMBER_GGML_F16] = dotm_f16;
    isa->axpy[EMBER_GGML_F16] = axpy_f16;
#define SET(T, name)                                                                                         \
    isa->dot[EMBER_GGML_##T] = dot_##name;                                                                   \
    isa->dotn[EMBER_GGML_##T] = dotn_##name;                                                                 \
    isa->dotm[EMBER_GGML_##T] = dotm_##name;                                                                 \
    isa->gemm[EMBER_GGML_##T] = gemm_##name;
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
    isa->dot8[EMBER_GGML_Q4_0] = dot8_q4_0;
    isa->dot8[EMBER_GGML_Q4_K] = dot8_q4_K;
    isa->gemm8[EMBER_GGML_Q4_0] = gemm8_q4_0;
    isa->gemm8[EMBER_GGML_Q4_K] = gemm8_q4_K;
    isa->dot8[EMBER_GGML_Q8_0] = dot8_q8_0;
    isa->dot8[EMBER_GGML_Q6_K] = dot8_q6_K;
    isa->gemm8[EMBER_GGML_Q6_K] = gemm8_q6_K;
    isa->gemm8[EMBER_GGML_Q8_0] = gemm8_q8_0;
    isa->act[ACT_Q8] = quant_act_q8;
    isa->act[ACT_Q8K] = quant_act_q8k;
}
