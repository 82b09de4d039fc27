/* AVX2 direct convolution rows for convs with few input taps (conv.c's stem path, isa.h conv_rows8): 8
 * outputs x 8 output channels in 8 accumulators; each tap's input is loaded once (stride 2 deinterleaved in
 * registers) and used by all 8 channels, so no patch matrix is ever written. */
#include "kernels/isa.h"

#include <immintrin.h>
#include <math.h>

/* Eight consecutive outputs' inputs: stride 1 loads directly; stride 2 takes the even elements of p[0..14]
 * from two overlapping loads (never touching p[15]). */
static inline __m256 load_s(const float *p, int64_t sw) {
    if (sw == 1) return _mm256_loadu_ps(p);
    __m256 a = _mm256_loadu_ps(p), b = _mm256_loadu_ps(p + 7);
    __m256 even = _mm256_shuffle_ps(a, b, 0xd8); /* p0 p2 p8 p10 | p4 p6 p12 p14 */
    return _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(even), 0xd8));
}

#define INLINE static inline __attribute__((always_inline))

/* 8 outputs x 8 channels: 8 accumulators, one input vector and one broadcast weight live (no spills). */
INLINE void block8(float *out, int64_t ldo, int64_t noc, const float *w8, const float *const *taps, int64_t ntaps,
                   int64_t x, int64_t sw, const float *b8, __m256 lo, __m256 hi) {
    __m256 a0 = _mm256_broadcast_ss(b8), a1 = _mm256_broadcast_ss(b8 + 1), a2 = _mm256_broadcast_ss(b8 + 2),
           a3 = _mm256_broadcast_ss(b8 + 3), a4 = _mm256_broadcast_ss(b8 + 4), a5 = _mm256_broadcast_ss(b8 + 5),
           a6 = _mm256_broadcast_ss(b8 + 6), a7 = _mm256_broadcast_ss(b8 + 7);
    for (int64_t t = 0; t < ntaps; t++, w8 += 8) {
        __m256 u = load_s(taps[t] + x * sw, sw);
        a0 = _mm256_fmadd_ps(u, _mm256_broadcast_ss(w8 + 0), a0);
        a1 = _mm256_fmadd_ps(u, _mm256_broadcast_ss(w8 + 1), a1);
        a2 = _mm256_fmadd_ps(u, _mm256_broadcast_ss(w8 + 2), a2);
        a3 = _mm256_fmadd_ps(u, _mm256_broadcast_ss(w8 + 3), a3);
        a4 = _mm256_fmadd_ps(u, _mm256_broadcast_ss(w8 + 4), a4);
        a5 = _mm256_fmadd_ps(u, _mm256_broadcast_ss(w8 + 5), a5);
        a6 = _mm256_fmadd_ps(u, _mm256_broadcast_ss(w8 + 6), a6);
        a7 = _mm256_fmadd_ps(u, _mm256_broadcast_ss(w8 + 7), a7);
    }
    __m256 a[8] = {a0, a1, a2, a3, a4, a5, a6, a7};
    for (int o = 0; o < noc; o++) /* max/min return the second operand, the sum, when it is NaN */
        _mm256_storeu_ps(out + o * ldo + x, _mm256_min_ps(hi, _mm256_max_ps(lo, a[o])));
}

/* Blocks of 8 over [x0, x1), a ragged end covered by one more block ending at x1 (recomputing a few
 * outputs); rows under 8 (and strides over 2) take the scalar loop. */
INLINE void rows8(float *out, int64_t ldo, int64_t noc, const float *w8, const float *const *taps, int64_t ntaps,
                  int64_t x0, int64_t x1, int64_t sw, const ember_ukernel_post *post) {
    float b8[8] = {0};
    for (int64_t o = 0; o < noc; o++) b8[o] = post && post->rbias ? post->rbias[o] : 0.0f;
    float flo = post ? post->lo : -INFINITY, fhi = post ? post->hi : INFINITY;
    __m256 lo = _mm256_set1_ps(flo), hi = _mm256_set1_ps(fhi);
    if (sw <= 2 && x1 - x0 >= 8) {
        for (int64_t x = x0;; x += 8) {
            if (x + 8 > x1) x = x1 - 8;
            block8(out, ldo, noc, w8, taps, ntaps, x, sw, b8, lo, hi);
            if (x + 8 >= x1) return;
        }
    }
    for (int64_t x = x0; x < x1; x++)
        for (int64_t o = 0; o < noc; o++) {
            float acc = b8[o];
            for (int64_t t = 0; t < ntaps; t++) acc += taps[t][x * sw] * w8[t * 8 + o];
            acc = acc < flo ? flo : acc; /* NaN stays */
            out[o * ldo + x] = acc > fhi ? fhi : acc;
        }
}

static void conv_rows8_avx2(float *out, int64_t ldo, int64_t noc, const float *w8, const float *const *taps,
                            int64_t ntaps, int64_t x0, int64_t x1, int64_t sw, const ember_ukernel_post *post) {
    if (sw == 1)
        rows8(out, ldo, noc, w8, taps, ntaps, x0, x1, 1, post);
    else if (sw == 2)
        rows8(out, ldo, noc, w8, taps, ntaps, x0, x1, 2, post);
    else
        rows8(out, ldo, noc, w8, taps, ntaps, x0, x1, sw, post); /* scalar */
}

void ember_conv_init_avx2(ember_kernel_table *t) { t->conv_rows8 = conv_rows8_avx2; }
