/* AVX-512 twins of the Winograd F(4x4, 3x3) transforms (winograd.h): 16 tiles per vector, the lanes left
 * over in one masked pass. With 32 registers most of the intermediate vectors stay in registers (the
 * output transform's 24: all but a few; the input's 36 cannot), where AVX2's 16 keep many on the stack. */
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

/* EMBER_WINO_IN / _OUT written out (their loops index arrays of vectors by the loop variable, which kept the
 * intermediates on the stack here): the 1-D transform T (EMBER_WINO_BT, 6 -> 6, or EMBER_WINO_AT, 6 -> 4)
 * along each of the 6 rows of src (lane pitch ld) into r, then along column j of r0..r5 into n vectors of
 * dst (lane pitch ldd), at dst + (a * n + j) * ldd + l. */
#define ROW_T(T, src, ld, i, r)                                                                              \
    do {                                                                                                     \
        const float *row_ = (src) + (i)*6 * (ld) + l;                                                        \
        W_T x0 = W_LOAD(row_), x1 = W_LOAD(row_ + (ld)), x2 = W_LOAD(row_ + 2 * (ld));                       \
        W_T x3 = W_LOAD(row_ + 3 * (ld)), x4 = W_LOAD(row_ + 4 * (ld)), x5 = W_LOAD(row_ + 5 * (ld));        \
        T(x0, x1, x2, x3, x4, x5, r);                                                                        \
    } while (0)
#define COL_T(T, n, dst, ldd, j)                                                                             \
    do {                                                                                                     \
        W_T c_[6];                                                                                           \
        T(r0[j], r1[j], r2[j], r3[j], r4[j], r5[j], c_);                                                     \
        _Pragma("GCC unroll 6") for (int a_ = 0; a_ < (n); a_++)                                             \
            W_STORE((dst) + (a_ * (n) + (j)) * (ldd) + l, c_[a_]);                                           \
    } while (0)
#define ROWS_T(T, src, ld)                                                                                   \
    do {                                                                                                     \
        ROW_T(T, src, ld, 0, r0);                                                                            \
        ROW_T(T, src, ld, 1, r1);                                                                            \
        ROW_T(T, src, ld, 2, r2);                                                                            \
        ROW_T(T, src, ld, 3, r3);                                                                            \
        ROW_T(T, src, ld, 4, r4);                                                                            \
        ROW_T(T, src, ld, 5, r5);                                                                            \
    } while (0)

static inline __attribute__((always_inline)) void in16(float *v, int64_t vs, const float *d, int64_t L,
                                                       int64_t l, bool all16, __mmask16 lanes) {
    W_T r0[6], r1[6], r2[6], r3[6], r4[6], r5[6];
    ROWS_T(EMBER_WINO_BT, d, L);
    COL_T(EMBER_WINO_BT, 6, v, vs, 0);
    COL_T(EMBER_WINO_BT, 6, v, vs, 1);
    COL_T(EMBER_WINO_BT, 6, v, vs, 2);
    COL_T(EMBER_WINO_BT, 6, v, vs, 3);
    COL_T(EMBER_WINO_BT, 6, v, vs, 4);
    COL_T(EMBER_WINO_BT, 6, v, vs, 5);
}

static inline __attribute__((always_inline)) void out16(float *y, const float *m, int64_t ms, int64_t L,
                                                        int64_t l, bool all16, __mmask16 lanes) {
    W_T r0[4], r1[4], r2[4], r3[4], r4[4], r5[4];
    ROWS_T(EMBER_WINO_AT, m, ms);
    COL_T(EMBER_WINO_AT, 4, y, L, 0); /* each column by name: in a loop over j, r0[j]... went to the stack */
    COL_T(EMBER_WINO_AT, 4, y, L, 1);
    COL_T(EMBER_WINO_AT, 4, y, L, 2);
    COL_T(EMBER_WINO_AT, 4, y, L, 3);
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
