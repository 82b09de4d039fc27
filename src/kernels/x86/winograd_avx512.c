/* AVX-512 twins of the Winograd F(4x4, 3x3) transforms (winograd.h): 16 tiles per vector, the lanes left
 * over in one masked pass. With 32 registers the output transform's 24 intermediate vectors stay in
 * registers; AVX2's 16 had kept part of them on the stack. */
#include "kernels/isa.h"

#include "kernels/winograd.h"

#include <immintrin.h>

#define W_T __m512
#define W_ADD(a, b) _mm512_add_ps(a, b)
#define W_SUB(a, b) _mm512_sub_ps(a, b)
#define W_MUL(c, a) _mm512_mul_ps(c, a)
#define W_K(x) _mm512_set1_ps(x)

/* Lanes [l, l + 16) (all16) or those of `lanes` (masked: nothing past L is read or written). */
#define W_LOAD(p) (all16 ? _mm512_loadu_ps(p) : _mm512_maskz_loadu_ps(lanes, p))
#define W_STORE(p, x) (all16 ? _mm512_storeu_ps(p, x) : _mm512_mask_storeu_ps(p, lanes, x))

/* EMBER_WINO_IN written out as EMBER_WINO_OUT is below: B^T along each of the 6 rows, then the 6 columns. */
#define ROW_BT(i, r)                                                                                         \
    do {                                                                                                     \
        const float *row_ = d + (i)*6 * L + l;                                                               \
        W_T x0 = W_LOAD(row_), x1 = W_LOAD(row_ + L), x2 = W_LOAD(row_ + 2 * L);                             \
        W_T x3 = W_LOAD(row_ + 3 * L), x4 = W_LOAD(row_ + 4 * L), x5 = W_LOAD(row_ + 5 * L);                 \
        EMBER_WINO_BT(x0, x1, x2, x3, x4, x5, r);                                                            \
    } while (0)
#define COL_BT(j)                                                                                            \
    do {                                                                                                     \
        W_T c_[6];                                                                                           \
        EMBER_WINO_BT(r0[j], r1[j], r2[j], r3[j], r4[j], r5[j], c_);                                         \
        for (int a_ = 0; a_ < 6; a_++) W_STORE(v + (a_ * 6 + (j)) * vs + l, c_[a_]);                         \
    } while (0)

static inline __attribute__((always_inline)) void in16(float *v, int64_t vs, const float *d, int64_t L,
                                                       int64_t l, bool all16, __mmask16 lanes) {
    W_T r0[6], r1[6], r2[6], r3[6], r4[6], r5[6];
    ROW_BT(0, r0);
    ROW_BT(1, r1);
    ROW_BT(2, r2);
    ROW_BT(3, r3);
    ROW_BT(4, r4);
    ROW_BT(5, r5);
    COL_BT(0);
    COL_BT(1);
    COL_BT(2);
    COL_BT(3);
    COL_BT(4);
    COL_BT(5);
}

/* EMBER_WINO_OUT written out (its loops index arrays of vectors by the loop variable, which kept the 24
 * intermediates on the stack here): A^T along each of the 6 rows, then along the 4 columns. */
#define ROW_AT(i, r)                                                                                         \
    do {                                                                                                     \
        const float *row_ = m + (i)*6 * ms + l;                                                              \
        W_T x0 = W_LOAD(row_), x1 = W_LOAD(row_ + ms), x2 = W_LOAD(row_ + 2 * ms);                           \
        W_T x3 = W_LOAD(row_ + 3 * ms), x4 = W_LOAD(row_ + 4 * ms), x5 = W_LOAD(row_ + 5 * ms);              \
        EMBER_WINO_AT(x0, x1, x2, x3, x4, x5, r);                                                            \
    } while (0)
#define COL_AT(j)                                                                                            \
    do {                                                                                                     \
        W_T c_[4];                                                                                           \
        EMBER_WINO_AT(r0[j], r1[j], r2[j], r3[j], r4[j], r5[j], c_);                                         \
        W_STORE(y + (0 * 4 + (j)) * L + l, c_[0]);                                                           \
        W_STORE(y + (1 * 4 + (j)) * L + l, c_[1]);                                                           \
        W_STORE(y + (2 * 4 + (j)) * L + l, c_[2]);                                                           \
        W_STORE(y + (3 * 4 + (j)) * L + l, c_[3]);                                                           \
    } while (0)

static inline __attribute__((always_inline)) void out16(float *y, const float *m, int64_t ms, int64_t L,
                                                        int64_t l, bool all16, __mmask16 lanes) {
    W_T r0[4], r1[4], r2[4], r3[4], r4[4], r5[4];
    ROW_AT(0, r0);
    ROW_AT(1, r1);
    ROW_AT(2, r2);
    ROW_AT(3, r3);
    ROW_AT(4, r4);
    ROW_AT(5, r5);
    COL_AT(0);
    COL_AT(1);
    COL_AT(2);
    COL_AT(3);
}

static void wino_in_avx512(float *v, int64_t vs, const float *d, int64_t L) {
    int64_t l = 0;
    for (; l + 16 <= L; l += 16) in16(v, vs, d, L, l, true, 0);
    if (l < L) in16(v, vs, d, L, l, false, (__mmask16)((1u << (L - l)) - 1));
}

static void wino_out_avx512(float *y, const float *m, int64_t ms, int64_t L) {
    int64_t l = 0;
    for (; l + 16 <= L; l += 16) out16(y, m, ms, L, l, true, 0);
    if (l < L) out16(y, m, ms, L, l, false, (__mmask16)((1u << (L - l)) - 1));
}

void ember_winograd_init_avx512(ember_kernel_table *t) {
    t->wino_in = wino_in_avx512;
    t->wino_out = wino_out_avx512;
}
