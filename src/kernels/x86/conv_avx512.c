/* AVX-512 convolution rows (isa.h): the few-tap direct conv (conv_rows, conv_rows16) and the 3x3 depthwise
 * rows read in place (dw3, dw3s2).
 *
 * conv_rows: 48 outputs (3 zmm) x all 8 output channels of a block in 24 accumulators; per tap 3 input
 * loads and 8 weight broadcasts feed 24 FMAs, and the input rows are read once for the 8 channels (the AVX2
 * kernel, 16 registers, takes 24 x 4 and reads them twice); row ends by masked loads and stores.
 *
 * Depthwise: a masked lane reads nothing (no fault either), so the padding columns cost no shuffles: the tap
 * left of column 0 is a load from p - 1 with lane 0 masked off, the tap right of the last column one with
 * the last lane off, and a row of 7 or 14 is one vector. Each input row is loaded once per 16 columns (its
 * three column shifts) and feeds the three output rows that read it, so a row costs 3 loads, 9 FMAs and 3
 * adds. Stride 2 splits even and odd columns with two-source permutes. */
#include "kernels/isa.h"

#include <immintrin.h>
#include <math.h>
#include <stdint.h>

/* Outputs [x, x + 16 nv) of all 8 channels (lanes past n masked off in the last vector: m), accumulators
 * starting at the bias; stores channels [0, noc). Inlined per nv. */
static inline __attribute__((always_inline)) void
rows_block(float *out, int64_t ldo, int64_t noc, const float *w8, const float *const *rows, int64_t ntaps,
           int64_t x, const int nv, __mmask16 m, const float *b8, __m512 lo, __m512 hi) {
    __m512 acc[8][3];
#pragma GCC unroll 8
    for (int o = 0; o < 8; o++)
#pragma GCC unroll 3
        for (int v = 0; v < nv; v++) acc[o][v] = _mm512_set1_ps(b8[o]);
    for (int64_t t = 0; t < ntaps; t++, w8 += 8) {
        const float *r = rows[t] + x;
        __m512 u[3];
#pragma GCC unroll 3
        for (int v = 0; v < nv; v++)
            u[v] = v + 1 < nv ? _mm512_loadu_ps(r + 16 * v) : _mm512_maskz_loadu_ps(m, r + 16 * v);
#pragma GCC unroll 8
        for (int o = 0; o < 8; o++) {
            __m512 c = _mm512_set1_ps(w8[o]);
#pragma GCC unroll 3
            for (int v = 0; v < nv; v++) acc[o][v] = _mm512_fmadd_ps(u[v], c, acc[o][v]);
        }
    }
#pragma GCC unroll 8
    for (int o = 0; o < 8; o++) {
        if (o >= noc) break;
#pragma GCC unroll 3
        for (int v = 0; v < nv; v++) {
            __m512 y = _mm512_min_ps(hi, _mm512_max_ps(lo, acc[o][v])); /* NaN stays */
            if (v + 1 < nv)
                _mm512_storeu_ps(out + o * ldo + x + 16 * v, y);
            else
                _mm512_mask_storeu_ps(out + o * ldo + x + 16 * v, m, y);
        }
    }
}

static void conv_rows_avx512(float *out, int64_t ldo, int64_t noc, const float *w8, const float *const *rows,
                             int64_t ntaps, int64_t n, const ember_ukernel_post *post) {
    float b8[8] = {0};
    for (int64_t o = 0; o < noc; o++) b8[o] = post && post->rbias ? post->rbias[o] : 0.0f;
    __m512 lo = _mm512_set1_ps(post ? post->lo : -INFINITY), hi = _mm512_set1_ps(post ? post->hi : INFINITY);
    int64_t x = 0;
    for (; n - x >= 48; x += 48) rows_block(out, ldo, noc, w8, rows, ntaps, x, 3, 0xffff, b8, lo, hi);
    int64_t rest = n - x;
    if (rest == 0) return;
    __mmask16 m = (__mmask16)((1u << ((rest - 1) % 16 + 1)) - 1);
    if (rest > 32)
        rows_block(out, ldo, noc, w8, rows, ntaps, x, 3, m, b8, lo, hi);
    else if (rest > 16)
        rows_block(out, ldo, noc, w8, rows, ntaps, x, 2, m, b8, lo, hi);
    else
        rows_block(out, ldo, noc, w8, rows, ntaps, x, 1, m, b8, lo, hi);
}

/* conv_rows16: 16 outputs (one zmm) x 16 output channels in 16 accumulators; per tap one input load and
 * 16 FMAs with the weights broadcast from memory (channels 8..15 from the second block). Row ends masked. */
static void conv_rows16_avx512(float *out, int64_t ldo, int64_t noc, const float *w8,
                               const float *const *rows, int64_t ntaps, int64_t n,
                               const ember_ukernel_post *post) {
    float b16[16] = {0};
    for (int64_t o = 0; o < noc; o++) b16[o] = post && post->rbias ? post->rbias[o] : 0.0f;
    __m512 lo = _mm512_set1_ps(post ? post->lo : -INFINITY), hi = _mm512_set1_ps(post ? post->hi : INFINITY);
    const float *w8b = w8 + ntaps * 8;
    for (int64_t x = 0; x < n; x += 16) {
        __mmask16 m = n - x >= 16 ? 0xffff : (__mmask16)((1u << (n - x)) - 1);
        __m512 acc[16];
#pragma GCC unroll 16
        for (int o = 0; o < 16; o++) acc[o] = _mm512_set1_ps(b16[o]);
        for (int64_t t = 0; t < ntaps; t++) {
            __m512 u = _mm512_maskz_loadu_ps(m, rows[t] + x);
#pragma GCC unroll 8
            for (int o = 0; o < 8; o++) {
                acc[o] = _mm512_fmadd_ps(u, _mm512_set1_ps(w8[t * 8 + o]), acc[o]);
                acc[o + 8] = _mm512_fmadd_ps(u, _mm512_set1_ps(w8b[t * 8 + o]), acc[o + 8]);
            }
        }
#pragma GCC unroll 16
        for (int o = 0; o < 16; o++) {
            if (o >= noc) break;
            _mm512_mask_storeu_ps(out + o * ldo + x, m,
                                  _mm512_min_ps(hi, _mm512_max_ps(lo, acc[o]))); /* NaN stays */
        }
    }
}

/* Input row i's three column shifts against weight row ky: its share of output row i + 1 - ky. */
static inline __m512 dw3_part(__m512 l, __m512 c, __m512 r, const __m512 *w) {
    return _mm512_fmadd_ps(r, w[2], _mm512_fmadd_ps(c, w[1], _mm512_mul_ps(l, w[0])));
}

/* A depthwise channel's constants: the bias and clamp of post (none: 0, -inf, +inf) and the 9 weights. */
typedef struct {
    __m512 rb, lo, hi, w[9];
} dw_consts;

/* Member by member: an initializer naming some members had the compiler zero the whole 768-byte struct on
 * the stack first (`rep stos`, a fifth of dw3s2's time on 7x7 outputs) and then read the weights back from
 * there. */
static inline dw_consts dw_consts_of(const float *w, const ember_ukernel_post *post) {
    dw_consts k;
    k.rb = _mm512_set1_ps(post && post->rbias ? *post->rbias : 0.0f);
    k.lo = _mm512_set1_ps(post ? post->lo : -INFINITY);
    k.hi = _mm512_set1_ps(post ? post->hi : INFINITY);
#pragma GCC unroll 9
    for (int t = 0; t < 9; t++) k.w[t] = _mm512_set1_ps(w[t]);
    return k;
}

/* Output rows [0, rows) of nb (1 or 2) 16-column blocks from x (the last one has cnt <= 16 real columns;
 * two blocks side by side give the loop two independent streams). Input row i (-1 for `above`, rows for
 * `below`) gives three partial sums per block, one per weight row, for output rows i + 1, i and i - 1; row
 * i - 1 is then complete and stored. Summing the weight rows' sums at the end (not one chain of 9 FMAs
 * through three input rows) keeps the loop free of a 12-cycle chain per row. Row r goes to out + r ldo. */
static inline __attribute__((always_inline)) void
dw3_cols(float *out, int64_t ldo, const float *in, int64_t ldi, const float *above, const float *below,
         int64_t rows, int64_t x, const int nb, int64_t cnt, int64_t n, const dw_consts *k) {
    const __m512 *w = k->w, rb = k->rb, lo = k->lo, hi = k->hi;
    __mmask16 mc[2], ml[2], mr[2];
    for (int b = 0; b < nb; b++) {
        int64_t xb = x + 16 * b, cb = b + 1 < nb ? 16 : cnt;
        mc[b] = (__mmask16)((1u << cb) - 1);
        ml[b] = xb == 0 ? (__mmask16)(mc[b] & ~1u) : mc[b];    /* column xb + j - 1 exists */
        mr[b] = xb + cb < n ? mc[b] : (__mmask16)(mc[b] >> 1); /* column xb + j + 1 exists */
    }
    __m512 cur[2] = {rb, rb}, next[2] = {rb, rb}; /* output rows i (top + middle so far), i + 1 (top) */
    for (int64_t i = -1; i <= rows; i++) {
        const float *row = (i < 0 ? above : i == rows ? below : in + i * ldi) + x;
#pragma GCC unroll 2
        for (int b = 0; b < nb; b++) {
            const float *p = row + 16 * b;
            /* p - 1 in integers: at column 0 it is before the row, and lane 0, the one reading there, is off
             */
            __m512 l = _mm512_maskz_loadu_ps(ml[b], (const float *)((uintptr_t)p - sizeof(float)));
            __m512 c = _mm512_maskz_loadu_ps(mc[b], p), r = _mm512_maskz_loadu_ps(mr[b], p + 1);
            if (i >= 1) { /* row i - 1 is done */
                __m512 v =
                    _mm512_min_ps(hi, _mm512_max_ps(lo, _mm512_add_ps(cur[b], dw3_part(l, c, r, w + 6))));
                _mm512_mask_storeu_ps(out + (i - 1) * ldo + x + 16 * b, mc[b], v);
            }
            if (i < rows) cur[b] = i >= 0 ? _mm512_add_ps(next[b], dw3_part(l, c, r, w + 3)) : rb;
            if (i + 1 < rows) next[b] = _mm512_add_ps(rb, dw3_part(l, c, r, w));
        }
    }
}

/* The table's dw3: pairs of 16-lane blocks, then one. Warm, 1 thread, per plane, against the AVX2 dw3: 14
 * wide 62 vs 88 ns, 20 wide 132 vs 167, 28 wide 177 vs 286, 56 wide 669 vs 965, 160 wide 5.3 vs 7.3 us. (A
 * first version passed the weights as an array, which the compiler kept on the stack: it lost to AVX2 from 56
 * wide on and at 20.) */
static void dw3_avx512(float *out, int64_t ldo, const float *in, int64_t ldi, const float *above,
                       const float *below, int64_t rows, int64_t n, const float *w,
                       const ember_ukernel_post *post) {
    dw_consts k = dw_consts_of(w, post);
    int64_t x = 0;
    for (; n - x > 16; x += 32) {
        int64_t cnt = n - x - 16 < 16 ? n - x - 16 : 16;
        dw3_cols(out, ldo, in, ldi, above, below, rows, x, 2, cnt, n, &k);
    }
    if (x < n) dw3_cols(out, ldo, in, ldi, above, below, rows, x, 1, n - x, n, &k);
}

/* Lanes [0, k) of 16 (none for k <= 0). */
static inline __mmask16 lanes_below(int64_t k) {
    return k <= 0 ? 0 : k >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << k) - 1);
}

/* The lanes each of dw3s2_taps's four loads may read for the 16 outputs from x0 (columns past the row and
 * before it are not read), and the column of lane 0 of the first: the same for every row of the block. */
typedef struct {
    __mmask16 a, b, a1, b1;
    int64_t c;
} s2_lanes;

static inline s2_lanes s2_lanes_of(int64_t x0, int64_t n_in) {
    int64_t c = 2 * x0 - 1;
    s2_lanes m = {.a = lanes_below(n_in - c) & (x0 == 0 ? (__mmask16)0xfffe : (__mmask16)0xffff),
                  .b = lanes_below(n_in - c - 16),
                  .a1 = lanes_below(n_in - c - 1),
                  .b1 = lanes_below(n_in - c - 17),
                  .c = c};
    return m;
}

/* The three taps of input row p for 16 outputs: columns 2x - 1, 2x, 2x + 1 for x = x0 .. x0 + 15 (m from
 * s2_lanes_of), from four masked loads (columns outside the row read as 0) and three two-source permutes
 * taking even or odd lanes. p NULL: a padding row, zeros. */
static inline void dw3s2_taps(const float *p, const s2_lanes *m, __m512i even, __m512i odd, __m512 t[3]) {
    if (!p) {
        t[0] = t[1] = t[2] = _mm512_setzero_ps();
        return;
    }
    /* addresses in integers: the masked-off lanes may lie before or past the row, and read nothing */
    uintptr_t at = (uintptr_t)p + (uintptr_t)(m->c * (int64_t)sizeof(float));
    __m512 a = _mm512_maskz_loadu_ps(m->a, (const float *)at);
    __m512 b = _mm512_maskz_loadu_ps(m->b, (const float *)(at + 16 * sizeof(float)));
    __m512 a1 = _mm512_maskz_loadu_ps(m->a1, (const float *)(at + sizeof(float)));
    __m512 b1 = _mm512_maskz_loadu_ps(m->b1, (const float *)(at + 17 * sizeof(float)));
    t[0] = _mm512_permutex2var_ps(a, even, b);
    t[1] = _mm512_permutex2var_ps(a1, even, b1);
    t[2] = _mm512_permutex2var_ps(a1, odd, b1);
}

/* dw3s2 (isa.h): per 16-output block, each output row from three partial sums (one per weight row) of its
 * input rows 2r - 1, 2r, 2r + 1; row 2r + 1's taps are kept for the next output row, whose top row it is. */
static void dw3s2_avx512(float *out, int64_t ldo, const float *in, int64_t ldi, const float *above,
                         int64_t in_rows, int64_t rows, int64_t n_in, int64_t n, const float *w,
                         const ember_ukernel_post *post) {
    dw_consts k = dw_consts_of(w, post);
    const __m512i even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    const __m512i odd = _mm512_setr_epi32(1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31);
    for (int64_t x0 = 0; x0 < n; x0 += 16) {
        __mmask16 mo = lanes_below(n - x0);
        s2_lanes m = s2_lanes_of(x0, n_in);
        __m512 top[3], mid[3], bot[3];
        dw3s2_taps(above, &m, even, odd, top);
        for (int64_t r = 0; r < rows; r++) {
            int64_t i = 2 * r;
            dw3s2_taps(i < in_rows ? in + i * ldi : NULL, &m, even, odd, mid);
            dw3s2_taps(i + 1 < in_rows ? in + (i + 1) * ldi : NULL, &m, even, odd, bot);
            __m512 v = _mm512_add_ps(_mm512_add_ps(k.rb, dw3_part(top[0], top[1], top[2], k.w)),
                                     _mm512_add_ps(dw3_part(mid[0], mid[1], mid[2], k.w + 3),
                                                   dw3_part(bot[0], bot[1], bot[2], k.w + 6)));
            _mm512_mask_storeu_ps(out + r * ldo + x0, mo,
                                  _mm512_min_ps(k.hi, _mm512_max_ps(k.lo, v))); /* NaN stays */
            top[0] = bot[0], top[1] = bot[1], top[2] = bot[2];
        }
    }
}

void ember_conv_init_avx512(ember_kernel_table *t) {
    t->conv_rows = conv_rows_avx512;
    t->conv_rows16 = conv_rows16_avx512;
    t->dw3 = dw3_avx512;
    t->dw3_lined = true;
    t->dw3s2 = dw3s2_avx512;
}
