/* AVX2 direct convolution rows for convs with few input taps (conv.c's stem path, isa.h conv_rows): conv.c
 * has already split the input rows into unit-stride zero-padded phase rows, so every tap is plain loads.
 * Register block: 24 outputs (3 vectors) x 4 output channels in 12 accumulators; per tap 3 input loads and
 * 4 weight broadcasts feed 12 FMAs (8 outputs x 8 channels had needed 9 loads and 2 shuffles per 8 FMAs). */
#include "kernels/isa.h"
#include "kernels/x86/avx2.h"

#include <immintrin.h>
#include <math.h>
#include <stdint.h>

#define INLINE static inline __attribute__((always_inline))

INLINE __m256 clamp8(__m256 v, __m256 lo, __m256 hi) { /* max/min return the second operand, v, when it is NaN */
    return _mm256_min_ps(hi, _mm256_max_ps(lo, v));
}

/* One output channel's 24 or 16 outputs from their accumulators (stored one by one, not from an array of
 * them: the compiler spilled the whole array to the stack to index it). */
INLINE void store3(float *o, __m256 v0, __m256 v1, __m256 v2, __m256 lo, __m256 hi) {
    _mm256_storeu_ps(o, clamp8(v0, lo, hi)), _mm256_storeu_ps(o + 8, clamp8(v1, lo, hi));
    _mm256_storeu_ps(o + 16, clamp8(v2, lo, hi));
}

INLINE void store2(float *o, __m256 v0, __m256 v1, __m256 lo, __m256 hi) {
    _mm256_storeu_ps(o, clamp8(v0, lo, hi)), _mm256_storeu_ps(o + 8, clamp8(v1, lo, hi));
}

/* Outputs [x, x+24) of channels [0, noc) (noc <= 4; w has 8 floats per tap, of which 4 are read). */
INLINE void block24(float *out, int64_t ldo, int64_t noc, const float *w, const float *const *rows, int64_t ntaps,
                    int64_t x, const float *b4, __m256 lo, __m256 hi) {
    for (int64_t o = 0; o < noc; o++) { /* the block after next (maybe past the row: only a hint; in integers,
                                           * as it may point past the buffer) comes from memory meanwhile */
        const char *p = (const char *)((uintptr_t)(out + o * ldo + x) + 48 * sizeof(float));
        _mm_prefetch(p, _MM_HINT_T0), _mm_prefetch(p + 64, _MM_HINT_T0), _mm_prefetch(p + 92, _MM_HINT_T0);
    }
    __m256 a00 = _mm256_broadcast_ss(b4), a01 = a00, a02 = a00;
    __m256 a10 = _mm256_broadcast_ss(b4 + 1), a11 = a10, a12 = a10;
    __m256 a20 = _mm256_broadcast_ss(b4 + 2), a21 = a20, a22 = a20;
    __m256 a30 = _mm256_broadcast_ss(b4 + 3), a31 = a30, a32 = a30;
    for (int64_t t = 0; t < ntaps; t++, w += 8) {
        const float *r = rows[t] + x;
        __m256 u0 = _mm256_loadu_ps(r), u1 = _mm256_loadu_ps(r + 8), u2 = _mm256_loadu_ps(r + 16);
        __m256 c = _mm256_broadcast_ss(w);
        a00 = _mm256_fmadd_ps(u0, c, a00), a01 = _mm256_fmadd_ps(u1, c, a01), a02 = _mm256_fmadd_ps(u2, c, a02);
        c = _mm256_broadcast_ss(w + 1);
        a10 = _mm256_fmadd_ps(u0, c, a10), a11 = _mm256_fmadd_ps(u1, c, a11), a12 = _mm256_fmadd_ps(u2, c, a12);
        c = _mm256_broadcast_ss(w + 2);
        a20 = _mm256_fmadd_ps(u0, c, a20), a21 = _mm256_fmadd_ps(u1, c, a21), a22 = _mm256_fmadd_ps(u2, c, a22);
        c = _mm256_broadcast_ss(w + 3);
        a30 = _mm256_fmadd_ps(u0, c, a30), a31 = _mm256_fmadd_ps(u1, c, a31), a32 = _mm256_fmadd_ps(u2, c, a32);
    }
    store3(out + x, a00, a01, a02, lo, hi);
    if (noc > 1) store3(out + ldo + x, a10, a11, a12, lo, hi);
    if (noc > 2) store3(out + 2 * ldo + x, a20, a21, a22, lo, hi);
    if (noc > 3) store3(out + 3 * ldo + x, a30, a31, a32, lo, hi);
}

/* Outputs [x, x+16) of channels [0, noc) (noc <= 4): row ends of 9..16. */
INLINE void block16(float *out, int64_t ldo, int64_t noc, const float *w, const float *const *rows, int64_t ntaps,
                    int64_t x, const float *b4, __m256 lo, __m256 hi) {
    __m256 a00 = _mm256_broadcast_ss(b4), a01 = a00, a10 = _mm256_broadcast_ss(b4 + 1), a11 = a10;
    __m256 a20 = _mm256_broadcast_ss(b4 + 2), a21 = a20, a30 = _mm256_broadcast_ss(b4 + 3), a31 = a30;
    for (int64_t t = 0; t < ntaps; t++, w += 8) {
        const float *r = rows[t] + x;
        __m256 u0 = _mm256_loadu_ps(r), u1 = _mm256_loadu_ps(r + 8), c = _mm256_broadcast_ss(w);
        a00 = _mm256_fmadd_ps(u0, c, a00), a01 = _mm256_fmadd_ps(u1, c, a01), c = _mm256_broadcast_ss(w + 1);
        a10 = _mm256_fmadd_ps(u0, c, a10), a11 = _mm256_fmadd_ps(u1, c, a11), c = _mm256_broadcast_ss(w + 2);
        a20 = _mm256_fmadd_ps(u0, c, a20), a21 = _mm256_fmadd_ps(u1, c, a21), c = _mm256_broadcast_ss(w + 3);
        a30 = _mm256_fmadd_ps(u0, c, a30), a31 = _mm256_fmadd_ps(u1, c, a31);
    }
    store2(out + x, a00, a01, lo, hi);
    if (noc > 1) store2(out + ldo + x, a10, a11, lo, hi);
    if (noc > 2) store2(out + 2 * ldo + x, a20, a21, lo, hi);
    if (noc > 3) store2(out + 3 * ldo + x, a30, a31, lo, hi);
}

/* Outputs [x, x+8) of channels [0, noc) (noc <= 4): row ends of 1..8. */
INLINE void block8(float *out, int64_t ldo, int64_t noc, const float *w, const float *const *rows, int64_t ntaps,
                   int64_t x, const float *b4, __m256 lo, __m256 hi) {
    __m256 a0 = _mm256_broadcast_ss(b4), a1 = _mm256_broadcast_ss(b4 + 1), a2 = _mm256_broadcast_ss(b4 + 2),
           a3 = _mm256_broadcast_ss(b4 + 3);
    for (int64_t t = 0; t < ntaps; t++, w += 8) {
        __m256 u = _mm256_loadu_ps(rows[t] + x);
        a0 = _mm256_fmadd_ps(u, _mm256_broadcast_ss(w), a0);
        a1 = _mm256_fmadd_ps(u, _mm256_broadcast_ss(w + 1), a1);
        a2 = _mm256_fmadd_ps(u, _mm256_broadcast_ss(w + 2), a2);
        a3 = _mm256_fmadd_ps(u, _mm256_broadcast_ss(w + 3), a3);
    }
    _mm256_storeu_ps(out + x, clamp8(a0, lo, hi));
    if (noc > 1) _mm256_storeu_ps(out + ldo + x, clamp8(a1, lo, hi));
    if (noc > 2) _mm256_storeu_ps(out + 2 * ldo + x, clamp8(a2, lo, hi));
    if (noc > 3) _mm256_storeu_ps(out + 3 * ldo + x, clamp8(a3, lo, hi));
}

/* Channels in groups of 4, each over the row in blocks of 24, the rest (1..23) in blocks of 16 and 8 (a last
 * one ending at n, recomputing a few outputs, rather than a block of 24 over mostly done ones: 56 = 24+24+8,
 * 111 = 24*4+16); rows under 8 take the scalar reference. */
static void conv_rows_avx2(float *out, int64_t ldo, int64_t noc, const float *w8, const float *const *rows,
                           int64_t ntaps, int64_t n, const ember_ukernel_post *post) {
    if (n < 8) {
        ember_conv_rows_ref(out, ldo, noc, w8, rows, ntaps, n, post);
        return;
    }
    float b8[8] = {0};
    for (int64_t o = 0; o < noc; o++) b8[o] = post && post->rbias ? post->rbias[o] : 0.0f;
    __m256 lo = _mm256_set1_ps(post ? post->lo : -INFINITY), hi = _mm256_set1_ps(post ? post->hi : INFINITY);
    for (int64_t c = 0; c < noc; c += 4) {
        int64_t nc = noc - c < 4 ? noc - c : 4;
        float *o = out + c * ldo;
        const float *w = w8 + c;
        int64_t x = 0;
        for (; n - x >= 24; x += 24) block24(o, ldo, nc, w, rows, ntaps, x, b8 + c, lo, hi);
        if (n - x > 16) block16(o, ldo, nc, w, rows, ntaps, x, b8 + c, lo, hi), x += 16;
        if (n - x > 8 && n >= 16) block16(o, ldo, nc, w, rows, ntaps, n - 16, b8 + c, lo, hi), x = n;
        if (n - x > 8) block8(o, ldo, nc, w, rows, ntaps, x, b8 + c, lo, hi), x += 8;
        if (n - x > 0) block8(o, ldo, nc, w, rows, ntaps, n - 8, b8 + c, lo, hi);
    }
}

/* --- depthwise over 8 interleaved channels (isa.h interleave_rows, dw_interleaved) ------------------ */

INLINE void store8x8(float *d, const __m256 v[8]) {
    _mm256_storeu_ps(d, v[0]), _mm256_storeu_ps(d + 8, v[1]), _mm256_storeu_ps(d + 16, v[2]);
    _mm256_storeu_ps(d + 24, v[3]), _mm256_storeu_ps(d + 32, v[4]), _mm256_storeu_ps(d + 40, v[5]);
    _mm256_storeu_ps(d + 48, v[6]), _mm256_storeu_ps(d + 56, v[7]);
}

/* 8 columns of 8 channel rows at a time, one 8 x 8 transpose each; the last 1..7 by masked loads, stored
 * whole (the zeros past n are allowed, isa.h). A full block of rows has its own code (the row pointers in
 * registers, no per-row test: the generic loop kept the vectors on the stack). */
static void interleave_rows_avx2(float *dst, const float *const *src, int64_t nc, int64_t n) {
    __m256 v[8];
    int64_t x = 0;
    if (nc == 8) {
        const float *s0 = src[0], *s1 = src[1], *s2 = src[2], *s3 = src[3], *s4 = src[4], *s5 = src[5],
                    *s6 = src[6], *s7 = src[7];
        for (; x + 8 <= n; x += 8) {
            v[0] = _mm256_loadu_ps(s0 + x), v[1] = _mm256_loadu_ps(s1 + x), v[2] = _mm256_loadu_ps(s2 + x);
            v[3] = _mm256_loadu_ps(s3 + x), v[4] = _mm256_loadu_ps(s4 + x), v[5] = _mm256_loadu_ps(s5 + x);
            v[6] = _mm256_loadu_ps(s6 + x), v[7] = _mm256_loadu_ps(s7 + x);
            transpose8(v);
            store8x8(dst + x * 8, v);
        }
        if (x < n) {
            __m256i m = tail_mask(n - x);
            v[0] = _mm256_maskload_ps(s0 + x, m), v[1] = _mm256_maskload_ps(s1 + x, m);
            v[2] = _mm256_maskload_ps(s2 + x, m), v[3] = _mm256_maskload_ps(s3 + x, m);
            v[4] = _mm256_maskload_ps(s4 + x, m), v[5] = _mm256_maskload_ps(s5 + x, m);
            v[6] = _mm256_maskload_ps(s6 + x, m), v[7] = _mm256_maskload_ps(s7 + x, m);
            transpose8(v);
            store8x8(dst + x * 8, v);
        }
        return;
    }
    for (; x < n; x += 8) {
        __m256i m = tail_mask(n - x < 8 ? n - x : 8);
        for (int c = 0; c < 8; c++) v[c] = c < nc ? _mm256_maskload_ps(src[c] + x, m) : _mm256_setzero_ps();
        transpose8(v);
        store8x8(dst + x * 8, v);
    }
}

#define DWI_TAP(i) a##i = _mm256_fmadd_ps(_mm256_loadu_ps(q##i + o), wv, a##i)

/* The clamp, then PRelu when leaky: the lanes with the sign bit set (-0 * s is -0, NaN stays) times the
 * slope. */
INLINE __m256 dwi_post(__m256 v, __m256 lo, __m256 hi, bool leaky, __m256 slope) {
    v = clamp8(v, lo, hi);
    return leaky ? _mm256_blendv_ps(v, _mm256_mul_ps(v, slope), v) : v;
}

/* 8 pixels read from q[0..8) (one accumulator each, 8 channels): every tap one load and one FMA per pixel;
 * then one 8 x 8 transpose turns the pixels' channel vectors into each channel's 8 outputs, of which the
 * first m are stored at out + c * ldo. */
INLINE void dwi_block(float *out, int64_t ldo, int64_t nc, const float *const *q, int m, const int64_t *tap,
                      int64_t ntaps, const float *w, __m256 vb, __m256 vlo, __m256 vhi, bool leaky,
                      __m256 vs) {
    const float *q0 = q[0], *q1 = q[1], *q2 = q[2], *q3 = q[3], *q4 = q[4], *q5 = q[5], *q6 = q[6], *q7 = q[7];
    __m256 a0 = vb, a1 = vb, a2 = vb, a3 = vb, a4 = vb, a5 = vb, a6 = vb, a7 = vb;
    for (int64_t t = 0; t < ntaps; t++) {
        __m256 wv = _mm256_loadu_ps(w + t * 8);
        int64_t o = tap[t];
        DWI_TAP(0), DWI_TAP(1), DWI_TAP(2), DWI_TAP(3), DWI_TAP(4), DWI_TAP(5), DWI_TAP(6), DWI_TAP(7);
    }
    __m256 v[8] = {dwi_post(a0, vlo, vhi, leaky, vs), dwi_post(a1, vlo, vhi, leaky, vs),
                   dwi_post(a2, vlo, vhi, leaky, vs), dwi_post(a3, vlo, vhi, leaky, vs),
                   dwi_post(a4, vlo, vhi, leaky, vs), dwi_post(a5, vlo, vhi, leaky, vs),
                   dwi_post(a6, vlo, vhi, leaky, vs), dwi_post(a7, vlo, vhi, leaky, vs)};
    transpose8(v);
    if (m == 8 && nc == 8) {
        _mm256_storeu_ps(out, v[0]), _mm256_storeu_ps(out + ldo, v[1]), _mm256_storeu_ps(out + 2 * ldo, v[2]);
        _mm256_storeu_ps(out + 3 * ldo, v[3]), _mm256_storeu_ps(out + 4 * ldo, v[4]);
        _mm256_storeu_ps(out + 5 * ldo, v[5]), _mm256_storeu_ps(out + 6 * ldo, v[6]);
        _mm256_storeu_ps(out + 7 * ldo, v[7]);
        return;
    }
    for (int64_t c = 0; c < nc; c++) store_first(out + c * ldo, v[c], m);
}

/* Rows of 8 or more: blocks of 8 along each row, the ragged end as one more block ending at the row's end
 * (recomputing a few outputs); narrower rows, and panels: blocks of 8 pixels running on across rows (a
 * panel holds whole blocks when np is a multiple of 8; other widths go to the scalar twin). */
static void dw_interleaved_avx2(float *out, int64_t ldo, int64_t nc, const float *in, int64_t n, int64_t ow,
                                int64_t sx, int64_t sy, const int64_t *tap, int64_t ntaps, const float *w,
                                const float *bias, float lo, float hi, const float *slope, int64_t np,
                                int64_t ldp) {
    if (np % 8) {
        ember_dw_interleaved_ref(out, ldo, nc, in, n, ow, sx, sy, tap, ntaps, w, bias, lo, hi, slope, np,
                                 ldp);
        return;
    }
    __m256 vb = _mm256_loadu_ps(bias), vlo = _mm256_set1_ps(lo), vhi = _mm256_set1_ps(hi);
    __m256 vs = slope ? _mm256_loadu_ps(slope) : vb;
    bool leaky = slope != NULL;
    const float *q[8];
    if (ow >= 8 && !np) {
        for (int64_t p = 0, y = 0; p < n; p += ow, y++)
            for (int64_t x = 0;; x += 8) {
                if (x + 8 > ow) x = ow - 8;
                q[0] = in + y * sy + x * sx;
                for (int i = 1; i < 8; i++) q[i] = q[i - 1] + sx;
                dwi_block(out + p + x, ldo, nc, q, 8, tap, ntaps, w, vb, vlo, vhi, leaky, vs);
                if (x + 8 >= ow) break;
            }
        return;
    }
    int64_t x = 0, y = 0, at = 0; /* at: the block's place in its panel */
    for (int64_t p = 0; p < n; p += 8, at += 8) {
        int m = n - p < 8 ? (int)(n - p) : 8;
        if (np && at == np) out += ldp, at = 0;
        for (int i = 0; i < 8; i++) {
            if (i >= m) { /* past the end: repeat the last pixel (computed, not stored) */
                q[i] = q[m - 1];
                continue;
            }
            q[i] = in + y * sy + x * sx;
            if (++x == ow) x = 0, y++;
        }
        dwi_block(out + (np ? at : p), ldo, nc, q, m, tap, ntaps, w, vb, vlo, vhi, leaky, vs);
    }
}

void ember_conv_init_avx2(ember_kernel_table *t) {
    t->conv_rows = conv_rows_avx2;
    t->interleave_rows = interleave_rows_avx2;
    t->dw_interleaved = dw_interleaved_avx2;
}
