/* AVX2 twins of the Winograd F(4x4, 3x3) transforms (winograd.h): 8 tiles per vector, scalar lane tail. */
#include "kernels/isa.h"

#include "kernels/winograd.h"
#include "kernels/x86/avx2.h"

#include <immintrin.h>

#define W_T __m256
#define W_ADD(a, b) _mm256_add_ps(a, b)
#define W_SUB(a, b) _mm256_sub_ps(a, b)
#define W_MUL(c, a) _mm256_mul_ps(c, a)
#define W_K(x) _mm256_set1_ps(x)
#define W_LOAD(p) _mm256_loadu_ps(p)
#define W_STORE(p, x) _mm256_storeu_ps(p, x)

static void wino_in_avx2(float *v, int64_t vs, const float *d, int64_t L) {
    int64_t l = 0;
    for (; l + 8 <= L; l += 8) EMBER_WINO_IN(v, vs, d, L, l);
    if (l < L) ember_wino_in_tail(v, vs, d, L, l);
}

static void wino_out_avx2(float *y, const float *m, int64_t ms, int64_t L) {
    int64_t l = 0;
    for (; l + 8 <= L; l += 8) EMBER_WINO_OUT(y, m, ms, L, l);
    if (l < L) ember_wino_out_tail(y, m, ms, L, l);
}

/* 4 tiles' patches (isa.h): per input row, the 4x4 transpose of p[0..16) gives columns x = 0..3 of the 4
 * tiles (p0 p4 p8 p12, p1 p5 ...), that of p[4..20) columns 4 and 5. */
static void wino_gather4_sse(float *d, int64_t L, const float *p, int64_t pitch) {
    for (int i = 0; i < 6; i++, p += pitch, d += 6 * L) {
        __m128 a0 = _mm_loadu_ps(p), a1 = _mm_loadu_ps(p + 4), a2 = _mm_loadu_ps(p + 8), a3 = _mm_loadu_ps(p + 12);
        __m128 b0 = a1, b1 = a2, b2 = a3, b3 = _mm_loadu_ps(p + 16);
        _MM_TRANSPOSE4_PS(a0, a1, a2, a3);
        _MM_TRANSPOSE4_PS(b0, b1, b2, b3);
        _mm_storeu_ps(d, a0);
        _mm_storeu_ps(d + L, a1);
        _mm_storeu_ps(d + 2 * L, a2);
        _mm_storeu_ps(d + 3 * L, a3);
        _mm_storeu_ps(d + 4 * L, b0);
        _mm_storeu_ps(d + 5 * L, b1);
    }
}

/* Up to 4 output tiles (isa.h): per output row, the 4x4 transpose of the tiles' columns gives each tile's
 * row; a tile cut by the right edge stores its first columns only. */
static void wino_scatter4_sse(float *o, int64_t ow, const float *y, int64_t L, int rows, int cols, float bias,
                              float lo, float hi) {
    __m128 b = _mm_set1_ps(bias), vlo = _mm_set1_ps(lo), vhi = _mm_set1_ps(hi);
    for (int a = 0; a < rows; a++, o += ow, y += 4 * L) {
        __m128 c[4] = {_mm_loadu_ps(y), _mm_loadu_ps(y + L), _mm_loadu_ps(y + 2 * L),
                       _mm_loadu_ps(y + 3 * L)};
        _MM_TRANSPOSE4_PS(c[0], c[1], c[2], c[3]);
        int x = 0;
        for (int t = 0; x < cols; t++, x += 4) {
            /* max(bound, v) / min(bound, v) return v when it is NaN */
            __m128 v = _mm_min_ps(vhi, _mm_max_ps(vlo, _mm_add_ps(c[t], b)));
            if (x + 4 <= cols)
                _mm_storeu_ps(o + x, v);
            else
                store_first(o + x, _mm256_castps128_ps256(v), cols - x);
        }
    }
}

void ember_winograd_init_avx2(ember_kernel_table *t) {
    t->wino_scatter4 = wino_scatter4_sse;
    t->wino_in = wino_in_avx2;
    t->wino_out = wino_out_avx2;
    t->wino_gather4 = wino_gather4_sse;
    ember_conv_init_avx2(t); /* the other conv kernels ride along with the Winograd ones */
}
