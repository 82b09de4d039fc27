/* GGUF weight formats: scalar reference dequantization (bit-exact to ggml), quantization (round-to-nearest for
 * the 32-blocks, least-squares scale search for the k-quants), dot products, and per-CPU kernel selection. */
#include "kernels/quant.h"

#include "ember/cpu.h"
#include "ember/tensor.h"

#include <math.h>
#include <pthread.h>
#include <string.h>

_Static_assert(sizeof(blk_q4_0) == 18 && sizeof(blk_q4_1) == 20 && sizeof(blk_q5_0) == 22, "block layout");
_Static_assert(sizeof(blk_q5_1) == 24 && sizeof(blk_q8_0) == 34 && sizeof(blk_q2_K) == 84, "block layout");
_Static_assert(sizeof(blk_q3_K) == 110 && sizeof(blk_q4_K) == 144 && sizeof(blk_q5_K) == 176, "block layout");
_Static_assert(sizeof(blk_q6_K) == 210 && sizeof(act_q8k) == 292, "block layout");

static inline float h2f(uint16_t h) { return ember_f16_to_f32(h); }
static inline uint16_t f2h(float f) { return ember_f32_to_f16(f); }
static inline int nearest(float x) { return (int)lrintf(x); }
static inline int clampi(int v, int lo, int hi) { return v < lo ? lo : v > hi ? hi : v; }

/* --- dequantization -------------------------------------------------------------------------------------- */
static void deq_f32(const void *x, float *y, int64_t n) { memcpy(y, x, (size_t)n * sizeof(float)); }

static void deq_f16(const void *x, float *y, int64_t n) {
    const uint16_t *h = x;
    for (int64_t i = 0; i < n; i++) y[i] = h2f(h[i]);
}

static void deq_bf16(const void *x, float *y, int64_t n) {
    const uint16_t *h = x;
    for (int64_t i = 0; i < n; i++) y[i] = ember_bf16_to_f32(h[i]);
}

static void deq_q4_0(const void *x, float *y, int64_t n) {
    const blk_q4_0 *b = x;
    for (int64_t i = 0; i < n / QK; i++, b++, y += QK) {
        float d = h2f(b->d);
        for (int j = 0; j < QK / 2; j++) {
            y[j] = d * ((b->qs[j] & 15) - 8);
            y[j + QK / 2] = d * ((b->qs[j] >> 4) - 8);
        }
    }
}

static void deq_q4_1(const void *x, float *y, int64_t n) {
    const blk_q4_1 *b = x;
    for (int64_t i = 0; i < n / QK; i++, b++, y += QK) {
        float d = h2f(b->d), m = h2f(b->m);
        for (int j = 0; j < QK / 2; j++) {
            y[j] = d * (b->qs[j] & 15) + m;
            y[j + QK / 2] = d * (b->qs[j] >> 4) + m;
        }
    }
}

/* 5-bit values of a Q5 block (0..31): low nibbles from qs, fifth bits from the 32-bit qh. */
static void q5_values(const uint8_t *qs, const uint8_t *qh8, int *v) {
    uint32_t qh;
    memcpy(&qh, qh8, 4);
    for (int j = 0; j < QK / 2; j++) {
        v[j] = (qs[j] & 15) | (((qh >> j) & 1) << 4);
        v[j + QK / 2] = (qs[j] >> 4) | (((qh >> (j + 16)) & 1) << 4);
    }
}

static void deq_q5_0(const void *x, float *y, int64_t n) {
    const blk_q5_0 *b = x;
    int v[QK];
    for (int64_t i = 0; i < n / QK; i++, b++, y += QK) {
        float d = h2f(b->d);
        q5_values(b->qs, b->qh, v);
        for (int j = 0; j < QK; j++) y[j] = d * (v[j] - 16);
    }
}

static void deq_q5_1(const void *x, float *y, int64_t n) {
    const blk_q5_1 *b = x;
    int v[QK];
    for (int64_t i = 0; i < n / QK; i++, b++, y += QK) {
        float d = h2f(b->d), m = h2f(b->m);
        q5_values(b->qs, b->qh, v);
        for (int j = 0; j < QK; j++) y[j] = d * v[j] + m;
    }
}

static void deq_q8_0(const void *x, float *y, int64_t n) {
    const blk_q8_0 *b = x;
    for (int64_t i = 0; i < n / QK; i++, b++, y += QK) {
        float d = h2f(b->d);
        for (int j = 0; j < QK; j++) y[j] = d * b->qs[j];
    }
}

static void deq_q2_K(const void *x, float *y, int64_t n) {
    const blk_q2_K *b = x;
    for (int64_t i = 0; i < n / QK_K; i++, b++) {
        float d = h2f(b->d), dmin = h2f(b->dmin);
        /* 16 groups of 16: group g uses scales[g]; its 2-bit values sit in qs[32*(g/8) + 16*(g%2) ..] at
         * shift 2*((g/2)%4) */
        for (int g = 0; g < 16; g++, y += 16) {
            const uint8_t *q = b->qs + 32 * (g / 8) + 16 * (g % 2);
            int shift = 2 * ((g / 2) % 4);
            float dl = d * (b->scales[g] & 15), ml = dmin * (b->scales[g] >> 4);
            for (int l = 0; l < 16; l++) y[l] = dl * ((q[l] >> shift) & 3) - ml;
        }
    }
}

/* The 16 signed 6-bit scales of a Q3_K block (packed into 12 bytes), as values -32..31. */
static void q3k_scales(const uint8_t *s, int *out) {
    for (int j = 0; j < 16; j++) {
        int lo = j < 8 ? s[j] & 15 : s[j - 8] >> 4;
        int hi = (s[8 + j % 4] >> (2 * (j / 4))) & 3;
        out[j] = (lo | (hi << 4)) - 32;
    }
}

static void deq_q3_K(const void *x, float *y, int64_t n) {
    const blk_q3_K *b = x;
    int sc[16];
    for (int64_t i = 0; i < n / QK_K; i++, b++) {
        float d = h2f(b->d);
        q3k_scales(b->scales, sc);
        for (int g = 0; g < 16; g++, y += 16) {
            int half = g / 8, k = (g / 2) % 4, part = 16 * (g % 2);
            const uint8_t *q = b->qs + 32 * half + part;
            const uint8_t *hm = b->hmask + part;
            int shift = 2 * k, bit = 4 * half + k;
            float dl = d * sc[g];
            for (int l = 0; l < 16; l++) y[l] = dl * ((int)((q[l] >> shift) & 3) - ((hm[l] >> bit) & 1 ? 0 : 4));
        }
    }
}

/* Scale and min j (0..7) of a Q4_K/Q5_K block: 6 bits each, packed into 12 bytes. */
static void k4_scale_min(int j, const uint8_t *q, int *sc, int *m) {
    if (j < 4) {
        *sc = q[j] & 63;
        *m = q[j + 4] & 63;
    } else {
        *sc = (q[j + 4] & 15) | ((q[j - 4] >> 6) << 4);
        *m = (q[j + 4] >> 4) | ((q[j] >> 6) << 4);
    }
}

static void deq_q4_K(const void *x, float *y, int64_t n) {
    const blk_q4_K *b = x;
    for (int64_t i = 0; i < n / QK_K; i++, b++) {
        float d = h2f(b->d), dmin = h2f(b->dmin);
        for (int j = 0; j < 8; j++, y += 32) {
            int sc, m;
            k4_scale_min(j, b->scales, &sc, &m);
            const uint8_t *q = b->qs + 32 * (j / 2);
            int shift = 4 * (j % 2);
            for (int l = 0; l < 32; l++) y[l] = d * sc * ((q[l] >> shift) & 15) - dmin * m;
        }
    }
}

static void deq_q5_K(const void *x, float *y, int64_t n) {
    const blk_q5_K *b = x;
    for (int64_t i = 0; i < n / QK_K; i++, b++) {
        float d = h2f(b->d), dmin = h2f(b->dmin);
        for (int j = 0; j < 8; j++, y += 32) {
            int sc, m;
            k4_scale_min(j, b->scales, &sc, &m);
            const uint8_t *q = b->qs + 32 * (j / 2);
            int shift = 4 * (j % 2);
            for (int l = 0; l < 32; l++) {
                int v = ((q[l] >> shift) & 15) | (((b->qh[l] >> j) & 1) << 4);
                y[l] = d * sc * v - dmin * m;
            }
        }
    }
}

/* 6-bit value k (0..255) of a Q6_K block, as -32..31. */
static inline int q6k_value(const blk_q6_K *b, int k) {
    int half = k / 128, r = k % 128, quarter = r / 32, l = r % 32;
    int lo = (b->ql[64 * half + l + 32 * (quarter & 1)] >> (4 * (quarter >> 1))) & 15;
    int hi = (b->qh[32 * half + l] >> (2 * quarter)) & 3;
    return (lo | (hi << 4)) - 32;
}

static void deq_q6_K(const void *x, float *y, int64_t n) {
    const blk_q6_K *b = x;
    for (int64_t i = 0; i < n / QK_K; i++, b++, y += QK_K) {
        float d = h2f(b->d);
        for (int k = 0; k < QK_K; k++) y[k] = d * b->scales[k / 16] * q6k_value(b, k);
    }
}

/* --- quantization: 32-element blocks (round to nearest, as ggml's reference quantizers) ----------------- */
/* The value of largest magnitude (keeping its sign) and the min/max of a block. */
static float signed_absmax(const float *x, int n) {
    float amax = 0, max = 0;
    for (int j = 0; j < n; j++)
        if (fabsf(x[j]) > amax) {
            amax = fabsf(x[j]);
            max = x[j];
        }
    return max;
}

static void min_max(const float *x, int n, float *lo, float *hi) {
    *lo = *hi = x[0];
    for (int j = 1; j < n; j++) {
        if (x[j] < *lo) *lo = x[j];
        if (x[j] > *hi) *hi = x[j];
    }
}

/* Symmetric nbits quantization with the largest-magnitude value mapping to -2^(nbits-1): q in 0..2^nbits-1. */
static float quant_sym(const float *x, int *q, int nbits) {
    int half = 1 << (nbits - 1);
    float max = signed_absmax(x, QK), d = max / -half, id = d ? 1.0f / d : 0;
    for (int j = 0; j < QK; j++) q[j] = clampi((int)(x[j] * id + half + 0.5f), 0, 2 * half - 1);
    return d;
}

/* Affine quantization to 0..2^nbits-1 with the block minimum as offset. */
static float quant_affine(const float *x, int *q, int nbits, float *min) {
    float lo, hi;
    min_max(x, QK, &lo, &hi);
    int top = (1 << nbits) - 1;
    float d = (hi - lo) / top, id = d ? 1.0f / d : 0;
    for (int j = 0; j < QK; j++) q[j] = clampi((int)((x[j] - lo) * id + 0.5f), 0, top);
    *min = lo;
    return d;
}

static void pack_nibbles(const int *q, uint8_t *qs) {
    for (int j = 0; j < QK / 2; j++) qs[j] = (uint8_t)((q[j] & 15) | ((q[j + QK / 2] & 15) << 4));
}

static void pack_q5(const int *q, uint8_t *qs, uint8_t *qh8) {
    uint32_t qh = 0;
    pack_nibbles(q, qs);
    for (int j = 0; j < QK / 2; j++) qh |= (uint32_t)((q[j] >> 4) & 1) << j | (uint32_t)((q[j + 16] >> 4) & 1) << (j + 16);
    memcpy(qh8, &qh, 4);
}

static void qnt_q4_0(const float *x, void *y, int64_t n) {
    blk_q4_0 *b = y;
    int q[QK];
    for (int64_t i = 0; i < n / QK; i++, b++, x += QK) {
        b->d = f2h(quant_sym(x, q, 4));
        pack_nibbles(q, b->qs);
    }
}

static void qnt_q4_1(const float *x, void *y, int64_t n) {
    blk_q4_1 *b = y;
    int q[QK];
    for (int64_t i = 0; i < n / QK; i++, b++, x += QK) {
        float m;
        b->d = f2h(quant_affine(x, q, 4, &m));
        b->m = f2h(m);
        pack_nibbles(q, b->qs);
    }
}

static void qnt_q5_0(const float *x, void *y, int64_t n) {
    blk_q5_0 *b = y;
    int q[QK];
    for (int64_t i = 0; i < n / QK; i++, b++, x += QK) {
        b->d = f2h(quant_sym(x, q, 5));
        pack_q5(q, b->qs, b->qh);
    }
}

static void qnt_q5_1(const float *x, void *y, int64_t n) {
    blk_q5_1 *b = y;
    int q[QK];
    for (int64_t i = 0; i < n / QK; i++, b++, x += QK) {
        float m;
        b->d = f2h(quant_affine(x, q, 5, &m));
        b->m = f2h(m);
        pack_q5(q, b->qs, b->qh);
    }
}

static void qnt_q8_0(const float *x, void *y, int64_t n) {
    blk_q8_0 *b = y;
    for (int64_t i = 0; i < n / QK; i++, b++, x += QK) {
        float amax = fabsf(signed_absmax(x, QK)), d = amax / 127, id = d ? 1 / d : 0;
        b->d = f2h(d);
        for (int j = 0; j < QK; j++) b->qs[j] = (int8_t)roundf(x[j] * id) /* ggml rounds halves away from zero here */;
    }
}

static void qnt_f32(const float *x, void *y, int64_t n) { memcpy(y, x, (size_t)n * sizeof(float)); }
static void qnt_f16(const float *x, void *y, int64_t n) {
    for (int64_t i = 0; i < n; i++) ((uint16_t *)y)[i] = f2h(x[i]);
}
static void qnt_bf16(const float *x, void *y, int64_t n) {
    for (int64_t i = 0; i < n; i++) ((uint16_t *)y)[i] = ember_f32_to_bf16(x[i]);
}

/* --- quantization: k-quants ------------------------------------------------------------------------------
 * Each sub-block gets a scale (and for the affine types a min) by a small search: try several inverse
 * scales around the naive one, quantize, refit scale (and min) by weighted least squares for those integer
 * values, keep the fit with the lowest weighted squared error. Weights favour large values. */

/* Least-squares fit of x ~ s*q (q fixed), weights w: returns s and the error. */
static float fit_sym(int n, const float *x, const float *w, const int *q, float *err) {
    double sqx = 0, sqq = 0;
    for (int i = 0; i < n; i++) {
        sqx += w[i] * x[i] * q[i];
        sqq += w[i] * q[i] * q[i];
    }
    float s = sqq > 0 ? (float)(sqx / sqq) : 0;
    double e = 0;
    for (int i = 0; i < n; i++) e += w[i] * (s * q[i] - x[i]) * (s * q[i] - x[i]);
    *err = (float)e;
    return s;
}

/* Symmetric: q in [-nmax, nmax-1] (as signed), scale s. Writes q (signed). */
static float search_sym(int n, int nmax, const float *x, const float *w, int *q) {
    float max = 0, amax = 0;
    for (int i = 0; i < n; i++)
        if (fabsf(x[i]) > amax) {
            amax = fabsf(x[i]);
            max = x[i];
        }
    if (amax < 1e-30f) {
        for (int i = 0; i < n; i++) q[i] = 0;
        return 0;
    }
    float best_s = 0, best_err = INFINITY;
    int tq[QK_K];
    for (int step = -9; step <= 9; step++) {
        float iscale = -(nmax + 0.1f * step) / max;
        for (int i = 0; i < n; i++) tq[i] = clampi(nearest(iscale * x[i]), -nmax, nmax - 1);
        float err, s = fit_sym(n, x, w, tq, &err);
        if (err < best_err) {
            best_err = err;
            best_s = s;
            memcpy(q, tq, (size_t)n * sizeof *q);
        }
    }
    return best_s;
}

/* Affine: x ~ s*q - m with q in [0, nmax], m >= 0. Returns s, writes m and q. */
static float search_affine(int n, int nmax, const float *x, const float *w, int *q, float *m_out) {
    float lo, hi;
    min_max(x, n, &lo, &hi);
    if (lo > 0) lo = 0;
    if (hi <= lo) {
        for (int i = 0; i < n; i++) q[i] = 0;
        *m_out = -lo;
        return 0;
    }
    float best_s = 0, best_m = -lo, best_err = INFINITY;
    int tq[QK_K];
    for (int step = -10; step <= 10; step++) {
        float iscale = (nmax + 0.1f * step) / (hi - lo);
        for (int i = 0; i < n; i++) tq[i] = clampi(nearest(iscale * (x[i] - lo)), 0, nmax);
        /* weighted least squares for x ~ s*q + b */
        double sw = 0, sq = 0, sx = 0, sqq = 0, sqx = 0;
        for (int i = 0; i < n; i++) {
            sw += w[i];
            sq += w[i] * tq[i];
            sx += w[i] * x[i];
            sqq += w[i] * tq[i] * tq[i];
            sqx += w[i] * tq[i] * x[i];
        }
        double det = sw * sqq - sq * sq;
        if (det <= 0) continue;
        double s = (sw * sqx - sq * sx) / det, b = (sqq * sx - sq * sqx) / det;
        if (b > 0) { /* the min must not be positive: refit with b = 0 */
            b = 0;
            s = sqq > 0 ? sqx / sqq : 0;
        }
        double e = 0;
        for (int i = 0; i < n; i++) e += w[i] * (s * tq[i] + b - x[i]) * (s * tq[i] + b - x[i]);
        if (e < best_err) {
            best_err = (float)e;
            best_s = (float)s;
            best_m = (float)-b;
        }
    }
    float id = best_s ? 1 / best_s : 0;
    for (int i = 0; i < n; i++) q[i] = clampi(nearest((x[i] + best_m) * id), 0, nmax);
    *m_out = best_m;
    return best_s;
}

/* Importance weights of a sub-block: emphasise large values (relative to the block's RMS). */
static void kq_weights(const float *x, int n, float *w) {
    double ss = 0;
    for (int i = 0; i < n; i++) ss += x[i] * x[i];
    float sigma2 = (float)(2 * ss / QK_K);
    for (int i = 0; i < n; i++) w[i] = sqrtf(sigma2 + x[i] * x[i]);
}

/* Quantize non-negative sub-block values v[0..n) to `bits` bits with one float scale; returns the scale. */
static float quant_scales(const float *v, int n, int bits, int *q) {
    float max = 0;
    for (int i = 0; i < n; i++)
        if (v[i] > max) max = v[i];
    int top = (1 << bits) - 1;
    float d = max / top, id = d ? 1 / d : 0;
    for (int i = 0; i < n; i++) q[i] = clampi(nearest(v[i] * id), 0, top);
    return d;
}

static void pack_k4_scales(const int *sc, const int *m, uint8_t *s) {
    for (int j = 0; j < 8; j++) {
        if (j < 4) {
            s[j] = (uint8_t)sc[j];
            s[j + 4] = (uint8_t)m[j];
        } else {
            s[j + 4] = (uint8_t)((sc[j] & 15) | ((m[j] & 15) << 4));
            s[j - 4] |= (uint8_t)((sc[j] >> 4) << 6);
            s[j] |= (uint8_t)((m[j] >> 4) << 6);
        }
    }
}

/* Shared by Q4_K and Q5_K: 8 sub-blocks of 32, affine, 6-bit scales/mins. Writes d, dmin, scales, q[256]. */
static void quant_k_affine(const float *x, int nmax, uint16_t *d16, uint16_t *dmin16, uint8_t *scales, int *q) {
    float w[32], s[8], m[8];
    int qs[8], qm[8];
    for (int j = 0; j < 8; j++) {
        kq_weights(x + 32 * j, 32, w);
        s[j] = search_affine(32, nmax, x + 32 * j, w, q + 32 * j, &m[j]);
        if (s[j] < 0) s[j] = 0;
    }
    float d = quant_scales(s, 8, 6, qs), dmin = quant_scales(m, 8, 6, qm);
    *d16 = f2h(d);
    *dmin16 = f2h(dmin);
    memset(scales, 0, 12);
    pack_k4_scales(qs, qm, scales);
    d = h2f(*d16);
    dmin = h2f(*dmin16);
    for (int j = 0; j < 8; j++) { /* requantize with the scales as stored */
        float sd = d * qs[j], md = dmin * qm[j];
        for (int l = 0; l < 32; l++)
            q[32 * j + l] = sd ? clampi(nearest((x[32 * j + l] + md) / sd), 0, nmax) : 0;
    }
}

static void qnt_q4_K(const float *x, void *y, int64_t n) {
    blk_q4_K *b = y;
    int q[QK_K];
    for (int64_t i = 0; i < n / QK_K; i++, b++, x += QK_K) {
        quant_k_affine(x, 15, &b->d, &b->dmin, b->scales, q);
        for (int j = 0; j < 4; j++)
            for (int l = 0; l < 32; l++) b->qs[32 * j + l] = (uint8_t)(q[64 * j + l] | (q[64 * j + 32 + l] << 4));
    }
}

static void qnt_q5_K(const float *x, void *y, int64_t n) {
    blk_q5_K *b = y;
    int q[QK_K];
    for (int64_t i = 0; i < n / QK_K; i++, b++, x += QK_K) {
        quant_k_affine(x, 31, &b->d, &b->dmin, b->scales, q);
        memset(b->qh, 0, sizeof b->qh);
        for (int j = 0; j < 4; j++)
            for (int l = 0; l < 32; l++)
                b->qs[32 * j + l] = (uint8_t)((q[64 * j + l] & 15) | ((q[64 * j + 32 + l] & 15) << 4));
        for (int j = 0; j < 8; j++)
            for (int l = 0; l < 32; l++) b->qh[l] |= (uint8_t)(((q[32 * j + l] >> 4) & 1) << j);
    }
}

static void qnt_q2_K(const float *x, void *y, int64_t n) {
    blk_q2_K *b = y;
    float w[16], s[16], m[16];
    int q[QK_K], qs[16], qm[16];
    for (int64_t i = 0; i < n / QK_K; i++, b++, x += QK_K) {
        for (int g = 0; g < 16; g++) {
            kq_weights(x + 16 * g, 16, w);
            s[g] = search_affine(16, 3, x + 16 * g, w, q + 16 * g, &m[g]);
            if (s[g] < 0) s[g] = 0;
        }
        float d = quant_scales(s, 16, 4, qs), dmin = quant_scales(m, 16, 4, qm);
        b->d = f2h(d);
        b->dmin = f2h(dmin);
        d = h2f(b->d);
        dmin = h2f(b->dmin);
        memset(b->qs, 0, sizeof b->qs);
        for (int g = 0; g < 16; g++) {
            b->scales[g] = (uint8_t)(qs[g] | (qm[g] << 4));
            float sd = d * qs[g], md = dmin * qm[g];
            uint8_t *dst = b->qs + 32 * (g / 8) + 16 * (g % 2);
            int shift = 2 * ((g / 2) % 4);
            for (int l = 0; l < 16; l++) {
                int v = sd ? clampi(nearest((x[16 * g + l] + md) / sd), 0, 3) : 0;
                dst[l] |= (uint8_t)(v << shift);
            }
        }
    }
}

/* Signed sub-block scales s[0..n) to `bits`-bit signed integers with one float scale. */
static float quant_signed_scales(const float *s, int n, int bits, int *q) {
    float max = 0, amax = 0;
    for (int i = 0; i < n; i++)
        if (fabsf(s[i]) > amax) {
            amax = fabsf(s[i]);
            max = s[i];
        }
    int half = 1 << (bits - 1);
    float d = max / -half, id = d ? 1 / d : 0;
    for (int i = 0; i < n; i++) q[i] = clampi(nearest(s[i] * id), -half, half - 1);
    return d;
}

static void qnt_q3_K(const float *x, void *y, int64_t n) {
    blk_q3_K *b = y;
    float w[16], s[16];
    int q[QK_K], qs[16];
    for (int64_t i = 0; i < n / QK_K; i++, b++, x += QK_K) {
        for (int g = 0; g < 16; g++) {
            kq_weights(x + 16 * g, 16, w);
            s[g] = search_sym(16, 4, x + 16 * g, w, q + 16 * g);
        }
        float d = quant_signed_scales(s, 16, 6, qs);
        b->d = f2h(d);
        d = h2f(b->d);
        memset(b->scales, 0, sizeof b->scales);
        memset(b->hmask, 0, sizeof b->hmask);
        memset(b->qs, 0, sizeof b->qs);
        for (int g = 0; g < 16; g++) {
            int u = qs[g] + 32;
            if (g < 8) b->scales[g] |= (uint8_t)(u & 15);
            else b->scales[g - 8] |= (uint8_t)((u & 15) << 4);
            b->scales[8 + g % 4] |= (uint8_t)((u >> 4) << (2 * (g / 4)));
            float sd = d * qs[g];
            int half = g / 8, k = (g / 2) % 4, part = 16 * (g % 2);
            for (int l = 0; l < 16; l++) {
                int v = sd ? clampi(nearest(x[16 * g + l] / sd), -4, 3) : 0;
                v += 4; /* 0..7: low 2 bits in qs, bit 2 in hmask */
                b->qs[32 * half + part + l] |= (uint8_t)((v & 3) << (2 * k));
                if (v & 4) b->hmask[part + l] |= (uint8_t)(1 << (4 * half + k));
            }
        }
    }
}

static void qnt_q6_K(const float *x, void *y, int64_t n) {
    blk_q6_K *b = y;
    float w[16], s[16];
    int q[QK_K], qs[16];
    for (int64_t i = 0; i < n / QK_K; i++, b++, x += QK_K) {
        for (int g = 0; g < 16; g++) {
            kq_weights(x + 16 * g, 16, w);
            s[g] = search_sym(16, 32, x + 16 * g, w, q + 16 * g);
        }
        float d = quant_signed_scales(s, 16, 8, qs);
        b->d = f2h(d);
        d = h2f(b->d);
        memset(b->ql, 0, sizeof b->ql);
        memset(b->qh, 0, sizeof b->qh);
        for (int k = 0; k < QK_K; k++) {
            int g = k / 16;
            b->scales[g] = (int8_t)qs[g];
            float sd = d * qs[g];
            int v = (sd ? clampi(nearest(x[k] / sd), -32, 31) : 0) + 32;
            int half = k / 128, r = k % 128, quarter = r / 32, l = r % 32;
            b->ql[64 * half + l + 32 * (quarter & 1)] |= (uint8_t)((v & 15) << (4 * (quarter >> 1)));
            b->qh[32 * half + l] |= (uint8_t)((v >> 4) << (2 * quarter));
        }
    }
}

/* --- activations ----------------------------------------------------------------------------------------- */
size_t quant_act_bytes(act_kind k, int64_t n) {
    switch (k) {
    case ACT_Q8: return (size_t)(n / QK) * sizeof(act_q8);
    case ACT_Q8K: return (size_t)(n / QK_K) * sizeof(act_q8k);
    default: return (size_t)n * sizeof(float);
    }
}

/* As ggml's Q8_0/Q8_1 activations: the scale is rounded to half precision (so the results match llama.cpp's
 * closely), the values are quantized with the unrounded scale; s is the rounded scale times the sum. */
static void act_q8_ref(const float *x, void *y, int64_t n) {
    act_q8 *b = y;
    for (int64_t i = 0; i < n / QK; i++, b++, x += QK) {
        float amax = fabsf(signed_absmax(x, QK)), d = amax / 127, id = d ? 1 / d : 0;
        int sum = 0;
        for (int j = 0; j < QK; j++) {
            b->qs[j] = (int8_t)nearest(x[j] * id);
            sum += b->qs[j];
        }
        b->d = h2f(f2h(d));
        b->s = b->d * (float)sum;
    }
}

static void act_q8k_ref(const float *x, void *y, int64_t n) {
    act_q8k *b = y;
    for (int64_t i = 0; i < n / QK_K; i++, b++, x += QK_K) {
        float amax = fabsf(signed_absmax(x, QK_K)), d = amax / 127, id = d ? 1 / d : 0;
        for (int j = 0; j < QK_K; j++) b->qs[j] = (int8_t)nearest(x[j] * id);
        for (int g = 0; g < 16; g++) {
            int sum = 0;
            for (int l = 0; l < 16; l++) sum += b->qs[16 * g + l];
            b->bsums[g] = (int16_t)sum;
        }
        b->d = d;
    }
}

void quant_act_ref(act_kind k, const float *x, void *y, int64_t n) {
    if (k == ACT_Q8) act_q8_ref(x, y, n);
    else if (k == ACT_Q8K) act_q8k_ref(x, y, n);
    else memcpy(y, x, (size_t)n * sizeof(float));
}

/* --- scalar reference dots: dequantize a block, multiply with the activation block ---------------------- */
float quant_dot_f32_ref(int64_t n, const void *w, const void *a) {
    const float *x = w, *y = a;
    float sum = 0;
    for (int64_t i = 0; i < n; i++) sum += x[i] * y[i];
    return sum;
}

static float dot_f16_ref(int64_t n, const void *w, const void *a) {
    const uint16_t *x = w;
    const float *y = a;
    float sum = 0;
    for (int64_t i = 0; i < n; i++) sum += h2f(x[i]) * y[i];
    return sum;
}

static float dot_bf16_ref(int64_t n, const void *w, const void *a) {
    const uint16_t *x = w;
    const float *y = a;
    float sum = 0;
    for (int64_t i = 0; i < n; i++) sum += ember_bf16_to_f32(x[i]) * y[i];
    return sum;
}

/* Blocks of 32 against act_q8: sum over blocks of a.d * sum(w[j] * q[j]) */
static float dot_q32_ref(int64_t n, const void *w, const void *a, void (*deq)(const void *, float *, int64_t),
                         size_t bytes) {
    const uint8_t *x = w;
    const act_q8 *b = a;
    float tmp[QK], sum = 0;
    for (int64_t i = 0; i < n / QK; i++, b++, x += bytes) {
        deq(x, tmp, QK);
        float s = 0;
        for (int j = 0; j < QK; j++) s += tmp[j] * b->qs[j];
        sum += s * b->d;
    }
    return sum;
}

static float dot_qk_ref(int64_t n, const void *w, const void *a, void (*deq)(const void *, float *, int64_t),
                        size_t bytes) {
    const uint8_t *x = w;
    const act_q8k *b = a;
    float tmp[QK_K], sum = 0;
    for (int64_t i = 0; i < n / QK_K; i++, b++, x += bytes) {
        deq(x, tmp, QK_K);
        float s = 0;
        for (int j = 0; j < QK_K; j++) s += tmp[j] * b->qs[j];
        sum += s * b->d;
    }
    return sum;
}

#define DOT_REF(name, kind, blk)                                                                             \
    static float dot_##name##_ref(int64_t n, const void *w, const void *a) {                                 \
        return kind(n, w, a, deq_##name, sizeof(blk));                                                       \
    }
DOT_REF(q4_0, dot_q32_ref, blk_q4_0)
DOT_REF(q4_1, dot_q32_ref, blk_q4_1)
DOT_REF(q5_0, dot_q32_ref, blk_q5_0)
DOT_REF(q5_1, dot_q32_ref, blk_q5_1)
DOT_REF(q8_0, dot_q32_ref, blk_q8_0)
DOT_REF(q2_K, dot_qk_ref, blk_q2_K)
DOT_REF(q3_K, dot_qk_ref, blk_q3_K)
DOT_REF(q4_K, dot_qk_ref, blk_q4_K)
DOT_REF(q5_K, dot_qk_ref, blk_q5_K)
DOT_REF(q6_K, dot_qk_ref, blk_q6_K)

/* --- Q4_0 rows interleaved 8 at a time ---------------------------------------------------------------- */
_Static_assert(sizeof(blk_q4_0x8) == 8 * sizeof(blk_q4_0), "block layout");

static void pack8_q4_0(const void *w, size_t stride, int64_t n, void *dst) {
    blk_q4_0x8 *o = dst;
    for (int64_t i = 0; i < n / QK; i++, o++)
        for (int r = 0; r < 8; r++) {
            const blk_q4_0 *b = (const blk_q4_0 *)((const uint8_t *)w + (size_t)r * stride) + i;
            o->d[r] = b->d;
            for (int k = 0; k < 4; k++)
                for (int j = 0; j < 4; j++) {
                    int e = 4 * k + j; /* elements e (low nibble of qs[e]) and e + 16 (high nibble of qs[e]) */
                    o->q[k][4 * r + j] = b->qs[e];
                }
        }
}

void quant_dot8_q4_0_ref(int64_t n, const void *packed, const void *a, float *out) {
    const blk_q4_0x8 *b = packed;
    const act_q8 *y = a;
    for (int r = 0; r < 8; r++) out[r] = 0;
    for (int64_t i = 0; i < n / QK; i++, b++, y++)
        for (int r = 0; r < 8; r++) {
            int sum = 0;
            for (int k = 0; k < 4; k++)
                for (int j = 0; j < 4; j++) {
                    uint8_t v = b->q[k][4 * r + j];
                    sum += ((v & 15) - 8) * y->qs[4 * k + j] + ((v >> 4) - 8) * y->qs[4 * k + 16 + j];
                }
            out[r] += h2f(b->d[r]) * y->d * (float)sum;
        }
}

_Static_assert(sizeof(blk_q4_Kx8) == 8 * sizeof(blk_q4_K), "block layout");

static void pack8_q4_K(const void *w, size_t stride, int64_t n, void *dst) {
    blk_q4_Kx8 *o = dst;
    for (int64_t i = 0; i < n / QK_K; i++, o++)
        for (int r = 0; r < 8; r++) {
            const blk_q4_K *b = (const blk_q4_K *)((const uint8_t *)w + (size_t)r * stride) + i;
            o->d[r] = b->d;
            o->dmin[r] = b->dmin;
            for (int k = 0; k < 3; k++) memcpy(&o->s[k][r], b->scales + 4 * k, 4);
            for (int p = 0; p < 4; p++)
                for (int k = 0; k < 8; k++) memcpy(&o->q[p][k][4 * r], b->qs + 32 * p + 4 * k, 4);
        }
}

void quant_dot8_q4_K_ref(int64_t n, const void *packed, const void *a, float *out) {
    const blk_q4_Kx8 *b = packed;
    const act_q8k *y = a;
    for (int r = 0; r < 8; r++) out[r] = 0;
    for (int64_t i = 0; i < n / QK_K; i++, b++, y++)
        for (int r = 0; r < 8; r++) {
            uint8_t scales[12];
            for (int k = 0; k < 3; k++) memcpy(scales + 4 * k, &b->s[k][r], 4);
            int sc[8], m[8], sum = 0, msum = 0;
            for (int j = 0; j < 8; j++) k4_scale_min(j, scales, &sc[j], &m[j]);
            for (int p = 0; p < 4; p++) {
                int lo = 0, hi = 0;
                for (int k = 0; k < 8; k++)
                    for (int e = 0; e < 4; e++) {
                        uint8_t v = b->q[p][k][4 * r + e];
                        lo += (v & 15) * y->qs[64 * p + 4 * k + e];
                        hi += (v >> 4) * y->qs[64 * p + 32 + 4 * k + e];
                    }
                sum += lo * sc[2 * p] + hi * sc[2 * p + 1];
            }
            for (int j = 0; j < 8; j++) msum += m[j] * (y->bsums[2 * j] + y->bsums[2 * j + 1]);
            out[r] += y->d * (h2f(b->d[r]) * (float)sum - h2f(b->dmin[r]) * (float)msum);
        }
}

/* --- Q6_K rows interleaved 8 at a time ---------------------------------------------------------------- */
_Static_assert(sizeof(blk_q6_Kx8) == 8 * sizeof(blk_q6_K), "block layout");

static void pack8_q6_K(const void *w, size_t stride, int64_t n, void *dst) {
    blk_q6_Kx8 *o = dst;
    for (int64_t i = 0; i < n / QK_K; i++, o++)
        for (int r = 0; r < 8; r++) {
            const blk_q6_K *b = (const blk_q6_K *)((const uint8_t *)w + (size_t)r * stride) + i;
            o->d[r] = b->d;
            for (int g = 0; g < 16; g++) o->sc[g][r] = b->scales[g];
            for (int h = 0; h < 2; h++)
                for (int k = 0; k < 8; k++) {
                    memcpy(&o->q[h][k][0][4 * r], b->ql + 64 * h + 4 * k, 4);
                    memcpy(&o->q[h][k][1][4 * r], b->ql + 64 * h + 32 + 4 * k, 4);
                    memcpy(&o->q[h][k][2][4 * r], b->qh + 32 * h + 4 * k, 4);
                }
        }
}

/* Element e (0..255) of row r of a packed Q6_K block, -32..31: ggml's element 128h + 32s + l takes its low bits
 * from ql[64h + l (+32 for odd s)] (high nibble for s >= 2) and bits 2s, 2s+1 of qh[32h + l]. */
static int q6x8_value(const blk_q6_Kx8 *b, int r, int e) {
    int h = e / 128, s = e % 128 / 32, l = e % 32, k = l / 4, i = l % 4;
    uint8_t lo = b->q[h][k][s & 1][4 * r + i], hi = b->q[h][k][2][4 * r + i];
    return ((s >= 2 ? lo >> 4 : lo & 15) | ((hi >> (2 * s)) & 3) << 4) - 32;
}

void quant_dot8_q6_K_ref(int64_t n, const void *packed, const void *a, float *out) {
    const blk_q6_Kx8 *b = packed;
    const act_q8k *y = a;
    for (int r = 0; r < 8; r++) out[r] = 0;
    for (int64_t i = 0; i < n / QK_K; i++, b++, y++)
        for (int r = 0; r < 8; r++) {
            int sum = 0;
            for (int g = 0; g < 16; g++) {
                int gs = 0;
                for (int e = 16 * g; e < 16 * g + 16; e++) gs += q6x8_value(b, r, e) * y->qs[e];
                sum += b->sc[g][r] * gs;
            }
            out[r] += h2f(b->d[r]) * y->d * (float)sum;
        }
}

/* --- Q8_0 rows interleaved 8 at a time ---------------------------------------------------------------- */
_Static_assert(sizeof(blk_q8_0x8) == 8 * sizeof(blk_q8_0), "block layout");

static void pack8_q8_0(const void *w, size_t stride, int64_t n, void *dst) {
    blk_q8_0x8 *o = dst;
    for (int64_t i = 0; i < n / QK; i++, o++)
        for (int r = 0; r < 8; r++) {
            const blk_q8_0 *b = (const blk_q8_0 *)((const uint8_t *)w + (size_t)r * stride) + i;
            o->d[r] = b->d;
            for (int k = 0; k < 8; k++) memcpy(&o->q[k][4 * r], b->qs + 4 * k, 4);
        }
}

void quant_dot8_q8_0_ref(int64_t n, const void *packed, const void *a, float *out) {
    const blk_q8_0x8 *b = packed;
    const act_q8 *y = a;
    for (int r = 0; r < 8; r++) out[r] = 0;
    for (int64_t i = 0; i < n / QK; i++, b++, y++)
        for (int r = 0; r < 8; r++) {
            int sum = 0;
            for (int k = 0; k < 8; k++)
                for (int j = 0; j < 4; j++) sum += b->q[k][4 * r + j] * y->qs[4 * k + j];
            out[r] += h2f(b->d[r]) * y->d * (float)sum;
        }
}

size_t quant_packed8_bytes(ember_ggml_type t, int64_t n) {
    if (t == EMBER_GGML_Q4_0) return (size_t)(n / QK) * sizeof(blk_q4_0x8);
    if (t == EMBER_GGML_Q8_0) return (size_t)(n / QK) * sizeof(blk_q8_0x8);
    if (t == EMBER_GGML_Q6_K) return (size_t)(n / QK_K) * sizeof(blk_q6_Kx8);
    if (t == EMBER_GGML_Q4_K) return (size_t)(n / QK_K) * sizeof(blk_q4_Kx8);
    return 0;
}

/* --- y += a * x for the KV cache formats ---------------------------------------------------------------- */
static void axpy_f32(int64_t n, float a, const void *x, float *y) {
    const float *v = x;
    for (int64_t i = 0; i < n; i++) y[i] += a * v[i];
}

static void axpy_f16(int64_t n, float a, const void *x, float *y) {
    const uint16_t *v = x;
    for (int64_t i = 0; i < n; i++) y[i] += a * h2f(v[i]);
}

static void axpy_q8_0(int64_t n, float a, const void *x, float *y) {
    const blk_q8_0 *b = x;
    for (int64_t i = 0; i < n / QK; i++, b++, y += QK) {
        float d = a * h2f(b->d);
        for (int j = 0; j < QK; j++) y[j] += d * b->qs[j];
    }
}

/* --- multi-row forms when a CPU has no kernel for them ----------------------------------------------- */
#define LOOP_DOTS(name)                                                                                      \
    static void dotn_##name(int64_t n, const void *w, size_t stride, int nr, const void *a, float *out) {    \
        for (int r = 0; r < nr; r++) out[r] = types[EMBER_GGML_##name].dot(n, (const uint8_t *)w + r * stride, a); \
    }                                                                                                        \
    static void dotm_##name(int64_t n, const void *w, const void *a, size_t astride, int na, float *out) {   \
        for (int c = 0; c < na; c++) out[c] = types[EMBER_GGML_##name].dot(n, w, (const uint8_t *)a + c * astride); \
    }

/* --- the table and CPU selection ------------------------------------------------------------------------- */
#define T(TYPE, name, blk, nb, actk)                                                                         \
    [EMBER_GGML_##TYPE] = {EMBER_GGML_##TYPE, nb, sizeof(blk), actk, deq_##name, qnt_##name, dot_##name##_ref, \
                           dot_##name##_ref, NULL, NULL, NULL, NULL, NULL, NULL, NULL}
static quant_type types[EMBER_GGML_TYPE_COUNT] = {
    [EMBER_GGML_F32] = {EMBER_GGML_F32, 1, 4, ACT_F32, deq_f32, qnt_f32, quant_dot_f32_ref, quant_dot_f32_ref, NULL, NULL, NULL, NULL, NULL, NULL, NULL},
    T(F16, f16, uint16_t, 1, ACT_F32),
    T(BF16, bf16, uint16_t, 1, ACT_F32),
    T(Q4_0, q4_0, blk_q4_0, QK, ACT_Q8),
    T(Q4_1, q4_1, blk_q4_1, QK, ACT_Q8),
    T(Q5_0, q5_0, blk_q5_0, QK, ACT_Q8),
    T(Q5_1, q5_1, blk_q5_1, QK, ACT_Q8),
    T(Q8_0, q8_0, blk_q8_0, QK, ACT_Q8),
    T(Q2_K, q2_K, blk_q2_K, QK_K, ACT_Q8K),
    T(Q3_K, q3_K, blk_q3_K, QK_K, ACT_Q8K),
    T(Q4_K, q4_K, blk_q4_K, QK_K, ACT_Q8K),
    T(Q5_K, q5_K, blk_q5_K, QK_K, ACT_Q8K),
    T(Q6_K, q6_K, blk_q6_K, QK_K, ACT_Q8K),
};
#undef T

LOOP_DOTS(F32)
LOOP_DOTS(F16)
LOOP_DOTS(BF16)
LOOP_DOTS(Q4_0)
LOOP_DOTS(Q4_1)
LOOP_DOTS(Q5_0)
LOOP_DOTS(Q5_1)
LOOP_DOTS(Q8_0)
LOOP_DOTS(Q2_K)
LOOP_DOTS(Q3_K)
LOOP_DOTS(Q4_K)
LOOP_DOTS(Q5_K)
LOOP_DOTS(Q6_K)
/* gemm from the type's dotm: each weight row against the activation rows, 16 at a time. */
static void gemm_loop(const quant_type *qt, int64_t n, const void *w, size_t wstride, int nr, const void *a,
                      size_t astride, int na, float *out, size_t ostride) {
    float tmp[16];
    for (int r = 0; r < nr; r++)
        for (int c0 = 0; c0 < na; c0 += 16) {
            int nc = na - c0 < 16 ? na - c0 : 16;
            qt->dotm(n, (const uint8_t *)w + (size_t)r * wstride, (const uint8_t *)a + (size_t)c0 * astride, astride, nc, tmp);
            for (int c = 0; c < nc; c++) out[(size_t)(c0 + c) * ostride + r] = tmp[c];
        }
}
#define GEMM_LOOP(T)                                                                                         \
    static void gemm_##T(int64_t n, const void *w, size_t ws, int nr, const void *a, size_t as, int na, float *out, \
                         size_t os) {                                                                        \
        gemm_loop(&types[EMBER_GGML_##T], n, w, ws, nr, a, as, na, out, os);                                 \
    }
GEMM_LOOP(F32)
GEMM_LOOP(F16)
GEMM_LOOP(BF16)
GEMM_LOOP(Q4_0)
GEMM_LOOP(Q4_1)
GEMM_LOOP(Q5_0)
GEMM_LOOP(Q5_1)
GEMM_LOOP(Q8_0)
GEMM_LOOP(Q2_K)
GEMM_LOOP(Q3_K)
GEMM_LOOP(Q4_K)
GEMM_LOOP(Q5_K)
GEMM_LOOP(Q6_K)
/* gemm8 from the type's dot8 (CPUs with an 8-row dot but no batch tile for it): each token against the 8 packed
 * rows, which stay in L1 while the batch passes. */
#define GEMM8_LOOP(T)                                                                                        \
    static void gemm8_##T(int64_t n, const void *packed, const void *a, size_t as, int na, float *out, size_t os) { \
        float tmp[8];                                                                                        \
        for (int c = 0; c < na; c++) {                                                                       \
            types[EMBER_GGML_##T].dot8(n, packed, (const uint8_t *)a + (size_t)c * as, tmp);                 \
            for (int r = 0; r < 8; r++) out[(size_t)c * os + r] = tmp[r];                                     \
        }                                                                                                    \
    }
GEMM8_LOOP(Q4_0)
GEMM8_LOOP(Q4_K)
GEMM8_LOOP(Q6_K)
GEMM8_LOOP(Q8_0)
#define LOOP(T) [EMBER_GGML_##T] = {dotn_##T, dotm_##T, gemm_##T}
static const struct {
    quant_dotn_fn n;
    quant_dotm_fn m;
    quant_gemm_fn g;
} loops[EMBER_GGML_TYPE_COUNT] = {LOOP(F32),  LOOP(F16),  LOOP(BF16), LOOP(Q4_0), LOOP(Q4_1), LOOP(Q5_0), LOOP(Q5_1),
                                  LOOP(Q8_0), LOOP(Q2_K), LOOP(Q3_K), LOOP(Q4_K), LOOP(Q5_K), LOOP(Q6_K)};
#undef LOOP

static void (*act_fns[3])(const float *, void *, int64_t);
static pthread_once_t once = PTHREAD_ONCE_INIT;

static void select_kernels(void) {
    quant_isa isa;
    memset(&isa, 0, sizeof isa);
#if defined(__x86_64__) || defined(__i386__)
    const ember_cpu *cpu = ember_cpu_get();
    if (cpu->avx2 && cpu->fma && cpu->f16c) quant_isa_avx2(&isa);
#elif defined(__aarch64__) || defined(__arm__)
    const ember_cpu *cpu = ember_cpu_get();
    if (cpu->neon) quant_isa_neon(&isa);
#if defined(__aarch64__)
    if (cpu->neon && cpu->dotprod) quant_isa_dotprod(&isa);
#endif
#endif
    types[EMBER_GGML_F32].axpy = axpy_f32;
    types[EMBER_GGML_F16].axpy = axpy_f16;
    types[EMBER_GGML_Q8_0].axpy = axpy_q8_0;
    for (int t = 0; t < EMBER_GGML_TYPE_COUNT; t++)
        if (types[t].dequant) {
            if (isa.dot[t]) types[t].dot = isa.dot[t];
            types[t].dotn = isa.dotn[t] ? isa.dotn[t] : loops[t].n;
            types[t].dotm = isa.dotm[t] ? isa.dotm[t] : loops[t].m;
            types[t].gemm = isa.gemm[t] ? isa.gemm[t] : loops[t].g;
            types[t].dot8 = isa.dot8[t];
            types[t].gemm8 = isa.gemm8[t];
        }
    for (int t = 0; t < EMBER_GGML_TYPE_COUNT; t++)
        if (isa.axpy[t] && types[t].dequant) types[t].axpy = isa.axpy[t];
    if (types[EMBER_GGML_Q4_0].dot8) types[EMBER_GGML_Q4_0].pack8 = pack8_q4_0;
    if (types[EMBER_GGML_Q4_K].dot8) types[EMBER_GGML_Q4_K].pack8 = pack8_q4_K;
    if (types[EMBER_GGML_Q8_0].dot8) types[EMBER_GGML_Q8_0].pack8 = pack8_q8_0;
    if (types[EMBER_GGML_Q6_K].dot8) types[EMBER_GGML_Q6_K].pack8 = pack8_q6_K;
#define NO_TILE(T)                                                                                           \
    if (types[EMBER_GGML_##T].dot8 && !types[EMBER_GGML_##T].gemm8) types[EMBER_GGML_##T].gemm8 = gemm8_##T;
    NO_TILE(Q4_0)
    NO_TILE(Q4_K)
    NO_TILE(Q6_K)
    NO_TILE(Q8_0)
#undef NO_TILE
    act_fns[ACT_Q8] = isa.act[ACT_Q8] ? isa.act[ACT_Q8] : act_q8_ref;
    act_fns[ACT_Q8K] = isa.act[ACT_Q8K] ? isa.act[ACT_Q8K] : act_q8k_ref;
}

const quant_type *quant_type_get(ember_ggml_type t) {
    pthread_once(&once, select_kernels);
    return (unsigned)t < EMBER_GGML_TYPE_COUNT && types[t].dequant ? &types[t] : NULL;
}

void quant_act(act_kind k, const float *x, void *y, int64_t n) {
    pthread_once(&once, select_kernels);
    if (k == ACT_F32) memcpy(y, x, (size_t)n * sizeof(float));
    else act_fns[k](x, y, n);
}
