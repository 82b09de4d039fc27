/* AVX2 helpers shared by the x86 kernel files: tail masks, the 8 x 8 in-register transpose, partial stores. */
#ifndef EMBER_KERNELS_X86_AVX2_H
#define EMBER_KERNELS_X86_AVX2_H

#include <immintrin.h>
#include <stdint.h>

/* Lanes [0, n) all ones, the rest zero (0 <= n <= 8): masked loads of a row's tail. */
static inline __m256i tail_mask(int64_t n) {
    static const int32_t m[16] = {-1, -1, -1, -1, -1, -1, -1, -1, 0, 0, 0, 0, 0, 0, 0, 0};
    return _mm256_loadu_si256((const __m256i *)(m + 8 - n));
}

/* In-register 8 x 8 transpose: v[i][k] -> v[k][i]. */
static inline void transpose8(__m256 v[8]) {
    __m256 t0 = _mm256_unpacklo_ps(v[0], v[1]), t1 = _mm256_unpackhi_ps(v[0], v[1]);
    __m256 t2 = _mm256_unpacklo_ps(v[2], v[3]), t3 = _mm256_unpackhi_ps(v[2], v[3]);
    __m256 t4 = _mm256_unpacklo_ps(v[4], v[5]), t5 = _mm256_unpackhi_ps(v[4], v[5]);
    __m256 t6 = _mm256_unpacklo_ps(v[6], v[7]), t7 = _mm256_unpackhi_ps(v[6], v[7]);
    __m256 s0 = _mm256_shuffle_ps(t0, t2, 0x44), s1 = _mm256_shuffle_ps(t0, t2, 0xEE);
    __m256 s2 = _mm256_shuffle_ps(t1, t3, 0x44), s3 = _mm256_shuffle_ps(t1, t3, 0xEE);
    __m256 s4 = _mm256_shuffle_ps(t4, t6, 0x44), s5 = _mm256_shuffle_ps(t4, t6, 0xEE);
    __m256 s6 = _mm256_shuffle_ps(t5, t7, 0x44), s7 = _mm256_shuffle_ps(t5, t7, 0xEE);
    v[0] = _mm256_permute2f128_ps(s0, s4, 0x20), v[4] = _mm256_permute2f128_ps(s0, s4, 0x31);
    v[1] = _mm256_permute2f128_ps(s1, s5, 0x20), v[5] = _mm256_permute2f128_ps(s1, s5, 0x31);
    v[2] = _mm256_permute2f128_ps(s2, s6, 0x20), v[6] = _mm256_permute2f128_ps(s2, s6, 0x31);
    v[3] = _mm256_permute2f128_ps(s3, s7, 0x20), v[7] = _mm256_permute2f128_ps(s3, s7, 0x31);
}

/* Stores the first w (1..8) lanes of v. */
static inline void store_first(float *d, __m256 v, int w) {
    if (w == 8) {
        _mm256_storeu_ps(d, v);
    } else if (w == 6) {
        _mm_storeu_ps(d, _mm256_castps256_ps128(v));
        _mm_storel_pi((__m64 *)(d + 4), _mm256_extractf128_ps(v, 1));
    } else if (w == 4) {
        _mm_storeu_ps(d, _mm256_castps256_ps128(v));
    } else {
        float t[8];
        _mm256_storeu_ps(t, v);
        for (int i = 0; i < w; i++) d[i] = t[i];
    }
}

#endif
