/* Per-instruction-set kernel table behind kernels.h: the generic entries are filled first, then the best
 * ISA the CPU has overrides the ones it implements. Only src/kernels/ includes this. */
#ifndef EMBER_KERNELS_ISA_H
#define EMBER_KERNELS_ISA_H

#include "kernels/kernels.h"

enum { EMBER_MR_MAX = 8, EMBER_NR_MAX = 16, EMBER_DW_MAX_TAPS = 64, EMBER_NARROW_MAX = 4 };
/* Channels per block of the channel-interleaved depthwise kernels (interleave_rows, dw_interleaved). */
enum { EMBER_DWC = 8 };

/* The part of an epilogue a micro-kernel fuses into its store (the GEMM driver passes it on the last k
 * block of full tiles when the epilogue is only bias + ReLU/Clip + residual): v += rbias[i] + cbias[j],
 * v += res[i * ldr + j] (before the clamp, or after it when res_after), v = min(max(v, lo), hi) (ReLU: 0,
 * +inf; Clip: p0, p1; none: -inf, +inf; NaN stays NaN), then when leaky: v < 0 ? v * (slope ? slope[i] :
 * alpha) : v (LeakyRelu / PRelu). Only the GEMM micro-kernels read res and leaky; the row kernels (dw_row,
 * conv_rows8) are never given them (ember_ukernel_post_from refuses such epilogues). */
typedef struct ember_ukernel_post {
    const float *rbias; /* mr entries, or NULL */
    const float *cbias; /* nr entries, or NULL */
    float lo, hi;
    const float *res; /* mr x nr block at res, rows ldr apart, or NULL */
    int64_t ldr;
    bool res_after;
    bool leaky;
    float alpha;        /* leaky without slope */
    const float *slope; /* leaky: mr entries, or NULL */
} ember_ukernel_post;

/* The form the depthwise kernels use (one channel: rbias[0] only, no cbias), element by element. */
static inline float ember_post_row1(float v, const ember_ukernel_post *p) {
    v += p->rbias ? *p->rbias : 0.0f;
    v = v < p->lo ? p->lo : v; /* NaN stays */
    return v > p->hi ? p->hi : v;
}

/* C[mr x nr] = alpha * (packed A sliver [k][mr]) x (packed B sliver [k][nr]) + beta * C, then `post`
 * (NULL = none); beta == 0: C is not read. Both slivers are contiguous and zero-padded to mr / nr. */
typedef void (*ember_ukernel_fn)(int64_t k, const float *a, const float *b, float *c, int64_t ldc,
                                 float alpha, float beta, const ember_ukernel_post *post);
typedef void (*ember_unary_fn)(float *y, const float *x, int64_t n);

/* The table's three micro-kernel entries (ukernel, ukernel_sb, ukernel_sa) as static functions name,
 * name##_sb, name##_sa over one always-inline body(k, a, lda, b, ldb, c, ldc, alpha, beta, post), lda 0 for
 * a packed A sliver; each gets its own copy of the body, the packed one with B's pitch the constant nr. */
#define EMBER_UKERNEL_ENTRIES(name, body, nr)                                                                 \
    static void name(int64_t k, const float *a, const float *b, float *c, int64_t ldc, float alpha, float beta, \
                     const ember_ukernel_post *post) {                                                        \
        body(k, a, 0, b, nr, c, ldc, alpha, beta, post);                                                      \
    }                                                                                                         \
    static void name##_sb(int64_t k, const float *a, const float *b, int64_t ldb, float *c, int64_t ldc,       \
                          float alpha, float beta, const ember_ukernel_post *post) {                          \
        body(k, a, 0, b, ldb, c, ldc, alpha, beta, post);                                                     \
    }                                                                                                         \
    static void name##_sa(int64_t k, const float *a, int64_t lda, const float *b, int64_t ldb, float *c,      \
                          int64_t ldc, float alpha, float beta, const ember_ukernel_post *post) {             \
        body(k, a, lda, b, ldb, c, ldc, alpha, beta, post);                                                   \
    }

typedef struct ember_kernel_table {
    const char *name;
    int mr, nr;                 /* GEMM register block */
    ember_ukernel_fn ukernel;
    /* The micro-kernel reading an unpacked B in place: row p of the nr-wide sliver at b + p * ldb
     * (ldb > nr, every row has nr valid columns). NULL in tables without one (B is then packed). */
    void (*ukernel_sb)(int64_t k, const float *a, const float *b, int64_t ldb, float *c, int64_t ldc,
                       float alpha, float beta, const ember_ukernel_post *post);
    /* The micro-kernel reading A in place too: row r of the tile at a + r * lda (all mr rows valid), B a
     * packed sliver (ldb == nr) or rows ldb apart. For products with few columns, where packing A cost more
     * than using it (attention's scores times V). NULL in tables without one. */
    void (*ukernel_sa)(int64_t k, const float *a, int64_t lda, const float *b, int64_t ldb, float *c, int64_t ldc,
                       float alpha, float beta, const ember_ukernel_post *post);
    /* A tile with only n <= EMBER_NARROW_MAX real columns (a 7x7 plane is N = 49: the last sliver holds one):
     * c[r*ldc + j] = sum over p < k of a[p*mr + r] * b[p*ldb + j] for r < mr (the table's), j < n; nothing
     * else (the caller scales, adds C and applies the epilogue). The full tile costs the same for 1 column
     * as for nr. */
    void (*ukernel_narrow)(int64_t k, const float *a, const float *b, int64_t ldb, int64_t n, float *c, int64_t ldc);
    /* A tile with only m < mr real rows (M % mr at the bottom edge) and all nr columns: the micro-kernel for
     * rows r < m, straight into C (B packed, ldb == nr, or rows ldb apart); C's rows from m on are neither
     * read nor written and post's row parts (rbias, slope, res) are read for rows < m only. Without it the
     * whole tile went to a buffer and was copied out (1x1 convs as GEMMs, 1 thread, in one process: 128 ->
     * 64 channels at 28x28 0.176 -> 0.168 ms, 128 -> 32 0.101 -> 0.092, 64 -> 16 at 56x56 0.129 -> 0.115). */
    void (*ukernel_rows)(int m, int64_t k, const float *a, const float *b, int64_t ldb, float *c, int64_t ldc,
                         float alpha, float beta, const ember_ukernel_post *post);
    /* GEMM packing of a transposed source: dst[k*r + i] = p[i*rs + k] for i < n, 0 for n <= i < r, k < K
     * (n <= r <= EMBER_NR_MAX). Rows are contiguous along k; this is the gather half of packing. */
    void (*pack_rows)(float *dst, const float *p, int64_t rs, int64_t n, int64_t K, int r);
    ember_unary_fn exp, tanh, sigmoid, erf, silu, gelu_erf, gelu_tanh;
    /* The fused epilogue (see ember_epilogue) over an m x n block of C in one pass; ep is non-NULL. */
    void (*epilogue)(const ember_epilogue *ep, float *c, int64_t ldc, int64_t row0, int64_t col0, int64_t m,
                     int64_t n);
    /* y[i] = a[i] op b[i] (b may be NULL: y = a op s) */
    void (*binary)(ember_binop op, float *y, const float *a, const float *b, float s, int64_t n);
    /* Depthwise conv block (conv.c): for r < rows, x < n,
     * out[r*ldo + x] = sum over t < ntaps of taps[t][r*ldi + x] * w[t] (ntaps may be 0), then, when post is
     * not NULL, out = min(max(out + (post->rbias ? *post->rbias : 0), post->lo), post->hi). The taps are
     * contiguous along x (the caller deinterleaves strides); the block reads nothing outside
     * [taps[t], taps[t] + (rows-1)*ldi + n) and writes nothing but out's elements; out overlaps no tap.
     * ntaps <= EMBER_DW_MAX_TAPS. */
    void (*dw_block)(float *out, int64_t ldo, const float *const *taps, const float *w, int64_t ntaps,
                     int64_t ldi, int64_t rows, int64_t n, const ember_ukernel_post *post);
    /* 3x3 stride-1 depthwise rows read in place (conv.c: unpadded input planes, one zero row and column of
     * padding on each side): for r < rows, x < n,
     * out[r*ldo + x] = sum over ky, kx < 3 of row(r + ky - 1)[x + kx - 1] * w[ky*3 + kx], then post as in
     * dw_block, where row(i) is in + i*ldi for 0 <= i < rows, row(-1) is above and row(rows) is below (the
     * caller passes a zero row where the plane ends), and every row reads as 0 at x = -1 and x = n. Reads
     * nothing outside [row(i), row(i) + n); out overlaps no row. */
    void (*dw3)(float *out, int64_t ldo, const float *in, int64_t ldi, const float *above, const float *below,
                int64_t rows, int64_t n, const float *w, const ember_ukernel_post *post);
    /* Planes of up to 400 pixels (14x14) that a 1x1 conv reads next: dw3 writes them lined (kernels.h) for
     * the 1x1 to read in place, rather than the interleaved kernel writing the 1x1's panels. Set where that
     * measured faster (AVX-512; with AVX2 the 1x1 lost more reading rows in place than dw3 gained). */
    bool dw3_lined;
    /* 3x3 stride-2 depthwise rows read in place (conv.c; one row and column of padding before the plane): for
     * r < rows, x < n, out[r*ldo + x] = sum over ky, kx < 3 of row(2r + ky - 1)[2x + kx - 1] * w[ky*3 + kx],
     * then post as in dw_block, where row(i) is in + i*ldi for 0 <= i < in_rows, row(-1) is above (NULL:
     * zeros), rows from in_rows on are zeros, and every row reads as 0 at columns -1 and from n_in on. Reads
     * nothing outside [row(i), row(i) + n_in); out overlaps no row. NULL in tables without one
     * (ember_dw3s2_ref is the twin the tests compare with). */
    void (*dw3s2)(float *out, int64_t ldo, const float *in, int64_t ldi, const float *above, int64_t in_rows,
                  int64_t rows, int64_t n_in, int64_t n, const float *w, const ember_ukernel_post *post);
    /* Channel interleaving for dw_interleaved: dst[x*EMBER_DWC + c] = src[c][x] for x < n and c < nc, and 0
     * for nc <= c < EMBER_DWC (src[c] is then not read). nc <= EMBER_DWC. It may also write zeros to the
     * pixels from n up to n rounded up to a multiple of 8 (the caller leaves room for them). */
    void (*interleave_rows)(float *dst, const float *const *src, int64_t nc, int64_t n);
    /* Depthwise conv over EMBER_DWC channel-interleaved input planes (conv.c): for output pixels p < n (whole
     * rows: n is a multiple of ow), (y, x) = (p / ow, p % ow), and channels c < nc,
     * o[c*ldo] = min(max(bias[c] + sum over t < ntaps of in[y*sy + x*sx + tap[t] + c] * w[t*EMBER_DWC + c],
     * lo), hi), NaN kept, summed in that order, then (slope not NULL: PRelu / LeakyRelu) o < 0 ? o * slope[c]
     * : o, where o = out + p (np == 0), or o = out + p / np * ldp + p % np (np > 0: panels of np pixels, ldp
     * floats apart: the panel layout of kernels.h with ldo = np). w holds EMBER_DWC floats per tap, bias and
     * slope EMBER_DWC floats; offsets are in floats (multiples of EMBER_DWC). Writes nothing but those
     * outputs. */
    void (*dw_interleaved)(float *out, int64_t ldo, int64_t nc, const float *in, int64_t n, int64_t ow,
                           int64_t sx, int64_t sy, const int64_t *tap, int64_t ntaps, const float *w,
                           const float *bias, float lo, float hi, const float *slope, int64_t np,
                           int64_t ldp);
    /* Max / average pooling, one output row of one plane, for columns [x0, x1) whose whole window lies inside
     * the input row: out[x] = max (NaN if any is NaN) or sum / div over ky < kh, kx < kw (summed in that
     * order) of rows[ky][x*sw + kx*dw - pad_l]. Reads no column outside the windows. */
    void (*pool_row)(float *out, const float *const *rows, int64_t kh, int64_t kw, int64_t x0, int64_t x1,
                     int64_t sw, int64_t dw, int64_t pad_l, bool max, float div);
    /* Nearest upsampling of a row by an integer factor: d[i] = s[i / f] for i < n (f >= 1); reads nothing
     * past s[(n-1) / f]. */
    void (*upsample_row)(float *d, const float *s, int64_t n, int64_t f);
    /* d[j] = src[j * stride] for j < n (stride >= 1); reads nothing past src[(n-1) * stride]. */
    void (*gather)(float *d, const float *src, int64_t n, int64_t stride);
    /* The same over rows: d[r*ldd + j] = src[r*lds + j*stride] for r < rows, j < n (stride >= 1), ldd >= n;
     * reads nothing outside [src, src + (rows-1)*lds + (n-1)*stride]. Rows under 8 may also get zeros in
     * d[r*ldd + j], n <= j < 8, where that is before the last row's end, d[(rows-1)*ldd + n] (later rows'
     * copies overwrite what is theirs): the depthwise phase copy, one call per phase plane, whose padding is
     * zero anyway. */
    void (*gather_rows)(float *d, int64_t ldd, const float *src, int64_t lds, int64_t rows, int64_t n,
                        int64_t stride);
    /* Both halves of a stride-2 row copy in one pass (a stride-2 depthwise conv's two phase planes): for
     * r < rows, d0[r*ldd + j] = src[r*lds + 2j] (j < n0) and d1[r*ldd + j] = src[r*lds + 2j + 1] (j < n1);
     * writes nothing else, reads nothing past src[r*lds + max(2 n0 - 1, 2 n1)). */
    void (*deinterleave_rows)(float *d0, float *d1, int64_t ldd, const float *src, int64_t lds, int64_t rows,
                              int64_t n0, int64_t n1);
    void (*f16_to_f32)(float *y, const uint16_t *x, int64_t n);
    void (*f32_to_f16)(uint16_t *y, const float *x, int64_t n);
    /* Winograd F(4x4, 3x3) transforms over L lanes (tiles), lanes innermost (winograd.h):
     * wino_in: v[(a*6+b)*vs + l] = (B^T d B)[a][b], d[(i*6+j)*L + l] the 6x6 input patch of lane l;
     * wino_out: y[(a*4+b)*L + l] = (A^T m A)[a][b], m[(i*6+j)*ms + l] the 6x6 products of lane l. */
    void (*wino_in)(float *v, int64_t vs, const float *d, int64_t L);
    void (*wino_out)(float *y, const float *m, int64_t ms, int64_t L);
    /* The input patches of 4 tiles side by side in one tile row (a stride-4 split of 6 input rows):
     * d[(i*6+x)*L + l] = p[i*pitch + 4*l + x] for i, x < 6, l < 4; reads p[i*pitch + c] for c < 20. */
    void (*wino_gather4)(float *d, int64_t L, const float *p, int64_t pitch);
    /* The inverse for outputs: up to 4 output tiles side by side (lanes 0..3), with bias and a clamp (NaN
     * stays): o[a*ow + x] = min(max(y[(a*4 + x%4)*L + x/4] + bias, lo), hi) for a < rows, x < cols (rows
     * <= 4, cols <= 16: tiles cut by the plane's bottom or right edge write only their part). Reads
     * y[(a*4+c)*L + l] for a < rows and c, l < 4. */
    void (*wino_scatter4)(float *o, int64_t ow, const float *y, int64_t L, int rows, int cols, float bias,
                          float lo, float hi);
    /* Direct conv for few input taps (stem convs, conv.c): out[o*ldo + x] = sum_t rows[t][x] * w8[t*8 + o]
     * for o < noc (<= 8) and x in [0, n); rows[t] is tap t's input row, already strided and zero-padded by
     * conv.c (readable over [0, n)), and w8 holds 8 floats per tap (zero past noc). Then, when post is not
     * NULL, out = min(max(out + (post->rbias ? post->rbias[o] : 0), post->lo), post->hi). */
    void (*conv_rows)(float *out, int64_t ldo, int64_t noc, const float *w8, const float *const *rows,
                      int64_t ntaps, int64_t n, const ember_ukernel_post *post);
    /* The same for noc <= 16 output channels from two consecutive blocks of 8 (w8, then w8 + ntaps * 8 for
     * channels 8..15; rbias holds noc entries): 1x1 convs then read their input rows once per 16 output
     * channels. NULL in tables without one (callers take 8 at a time). */
    void (*conv_rows16)(float *out, int64_t ldo, int64_t noc, const float *w8, const float *const *rows,
                        int64_t ntaps, int64_t n, const ember_ukernel_post *post);
    /* sum and max of x[0..n) (for softmax / norms / pooling) */
    float (*sum)(const float *x, int64_t n);
    float (*max)(const float *x, int64_t n);
    /* y[i] = exp(x[i] - shift) for i < n, returning their sum (softmax's middle pass; y may be x). shift is
     * at least every x[i] (the row's max): x[i] - shift <= 0 or NaN. */
    float (*exp_sum)(float *y, const float *x, float shift, int64_t n);
    /* LayerNorm / RMSNorm rows (norm.c): the sum of (x[i] - mean)^2 for i < n; and
     * y[i] = (x[i] - shift) * mul * scale[i] + bias[i] for i < n (scale / bias NULL: 1 / 0; y may be x) */
    float (*sum_sq_dev)(const float *x, int64_t n, float mean);
    void (*normalize)(float *y, const float *x, const float *scale, const float *bias, int64_t n, float shift,
                      float mul);
} ember_kernel_table;

/* The table for this CPU, chosen once (thread-safe). */
const ember_kernel_table *ember_kernels(void);
/* The scalar reference table (tests compare against it). */
const ember_kernel_table *ember_kernels_generic(void);

/* Fill `t` with the scalar implementations. */
void ember_kernels_init_generic(ember_kernel_table *t);
#if defined(__x86_64__)
void ember_kernels_init_avx2(ember_kernel_table *t); /* needs avx2 + fma + f16c */
/* The AVX2 table with the AVX-512 GEMM micro-kernels (8 x 16), conv rows and 3x3 depthwise rows
 * (conv_avx512.c); needs avx512f/bw/vl/dq besides. */
void ember_kernels_init_avx512(ember_kernel_table *t);
void ember_conv_init_avx512(ember_kernel_table *t); /* called from ember_kernels_init_avx512 */
void ember_vmath_init_avx2(ember_kernel_table *t);
void ember_winograd_init_avx2(ember_kernel_table *t);
void ember_winograd_init_avx512(ember_kernel_table *t); /* the transforms; after the AVX2 init */
void ember_conv_init_avx2(ember_kernel_table *t); /* called from ember_winograd_init_avx2 */
#elif defined(__aarch64__) || defined(__arm__)
void ember_kernels_init_neon(ember_kernel_table *t);
void ember_vmath_init_neon(ember_kernel_table *t);
void ember_winograd_init_neon(ember_kernel_table *t);
void ember_conv_init_neon(ember_kernel_table *t); /* called from ember_winograd_init_neon */
#endif

/* --- the GEMM driver, shared by ember_sgemm*, conv and tests ---------------------------------------- */

/* Whether the epilogue ep is only bias + ReLU/Clip/none (no residual), the part micro-kernels fuse; if so
 * sets p's clamp bounds (rbias/cbias are left NULL for the caller). */
bool ember_ukernel_post_from(const ember_epilogue *ep, ember_ukernel_post *p);

/* Packs rows [r0, r0 + n) of an operand (n <= r; rows n..r-1 zero) for k in [k0, k0 + K) into dst[K][r].
 * For A the "rows" are rows of op(A); for B they are columns of op(B). */
typedef void (*ember_pack_fn)(const void *src, int64_t r0, int64_t n, int64_t k0, int64_t K, int r,
                              float *dst);

/* A GEMM operand as the driver sees it: already packed (whole matrix, [ceil(rows/r)][K][r]) or packed on
 * the fly by `pack` from `src`. */
typedef struct ember_gemm_src {
    const float *packed;
    const uint16_t *packed_f16; /* B only: packed as above but IEEE half; panels are widened per tile */
    ember_pack_fn pack;
    const void *src;
} ember_gemm_src;

/* Packer for plain matrices: src is an ember_gemm_operand; is_b selects op(B) columns vs op(A) rows. */
void ember_pack_operand_a(const void *src, int64_t r0, int64_t n, int64_t k0, int64_t K, int r, float *dst);
void ember_pack_operand_b(const void *src, int64_t r0, int64_t n, int64_t k0, int64_t K, int r, float *dst);

/* C[M,N] = alpha op(A) op(B) + beta C, then ep, with the kernels of table k. */
void ember_sgemm_run(const ember_kernel_table *k, ember_pool *pool, int64_t M, int64_t N, int64_t K, float alpha,
                     const ember_gemm_src *A, const ember_gemm_src *B, float beta, float *C, int64_t ldc,
                     const ember_epilogue *ep);
/* The same with C in the panel layout of k->nr columns (kernels.h): M rows (the channels) of N columns; the
 * columns of the last panel past N are not written. */
void ember_sgemm_run_panels(const ember_kernel_table *k, ember_pool *pool, int64_t M, int64_t N, int64_t K,
                            float alpha, const ember_gemm_src *A, const ember_gemm_src *B, float beta,
                            float *C, const ember_epilogue *ep);
/* Packed sizes (floats) for table k. */
int64_t ember_packed_floats(const ember_kernel_table *k, bool is_b, int64_t rows, int64_t K);
/* Packs a whole operand with table k's register block. */
void ember_pack_whole(const ember_kernel_table *k, ember_pool *pool, bool is_b, const ember_gemm_src *s,
                      int64_t rows, int64_t K, float *dst);
/* The same as IEEE half (ember_packed_floats halves, rounded to nearest even): the --f16 weights. */
ember_status ember_pack_whole_f16(const ember_kernel_table *k, bool is_b, const ember_gemm_src *s, int64_t rows,
                                  int64_t K, uint16_t *dst);

/* Softmax's numerators of one row with table k (norm.c): y = exp(x - max x), y may be x; returns their sum.
 * A row of -inf gives zeros (and the caller's 0/0 a NaN row, as the reference does). */
float ember_softmax_exp(const ember_kernel_table *k, float *y, const float *x, int64_t n);

/* A 64-byte aligned buffer of at least `bytes` owned by the calling thread (grow-only, freed when the
 * thread exits; from 1 MB on 2 MB pages), valid until the thread's next call with the same slot; NULL when
 * out of memory. */
enum {
    EMBER_SCRATCH_GEMM = 0,
    EMBER_SCRATCH_CONV = 1,
    EMBER_SCRATCH_PANEL = 2,
    EMBER_SCRATCH_ATTN = 3,
    /* conv.c: a 1x1 chunk's input rows, copied together; winograd.c: a zero-padded band of an input plane */
    EMBER_SCRATCH_ROWS = 4
};
float *ember_scratch(int slot, size_t bytes);

/* Winograd F(4x4, 3x3) convolution (winograd.c), for 3x3 stride-1 dilation-1 ungrouped convs where it
 * beats implicit im2col (ember_wino_suits). Weights: 36 transformed [cout x cin] matrices, GEMM-packed as
 * A operands, ember_wino_weights_floats(k, g) floats. ember_wino_conv returns false when out of memory
 * (nothing reported yet). */
bool ember_wino_suits(const ember_conv2d_shape *g);
int64_t ember_wino_weights_floats(const ember_kernel_table *k, const ember_conv2d_shape *g);
void ember_wino_pack_weights(const ember_kernel_table *k, const ember_conv2d_shape *g, const float *W,
                             float *dst);
bool ember_wino_conv(const ember_kernel_table *k, ember_pool *pool, const ember_conv2d_shape *g,
                     const float *U, const float *in, const float *bias, float *out,
                     const ember_epilogue *ep);
/* The scalar table's dw_block, dw3, pool_row, gather, gather_rows, upsample_row and normalize (vector twins
 * finish their tails with them). */
void ember_dw_block_ref(float *out, int64_t ldo, const float *const *taps, const float *w, int64_t ntaps,
                        int64_t ldi, int64_t rows, int64_t n, const ember_ukernel_post *post);
void ember_dw3_ref(float *out, int64_t ldo, const float *in, int64_t ldi, const float *above,
                   const float *below, int64_t rows, int64_t n, const float *w,
                   const ember_ukernel_post *post);
void ember_dw3s2_ref(float *out, int64_t ldo, const float *in, int64_t ldi, const float *above,
                     int64_t in_rows, int64_t rows, int64_t n_in, int64_t n, const float *w,
                     const ember_ukernel_post *post);
void ember_pool_row_ref(float *out, const float *const *rows, int64_t kh, int64_t kw, int64_t x0, int64_t x1,
                        int64_t sw, int64_t dw, int64_t pad_l, bool max, float div);
void ember_gather_ref(float *d, const float *src, int64_t n, int64_t stride);
void ember_gather_rows_ref(float *d, int64_t ldd, const float *src, int64_t lds, int64_t rows, int64_t n,
                           int64_t stride);
void ember_upsample_row_ref(float *d, const float *s, int64_t n, int64_t f);
void ember_normalize_ref(float *y, const float *x, const float *scale, const float *bias, int64_t n,
                         float shift, float mul);
void ember_deinterleave_rows_ref(float *d0, float *d1, int64_t ldd, const float *src, int64_t lds,
                                 int64_t rows, int64_t n0, int64_t n1);
/* The scalar micro-kernel for rows r < m of an mr x nr tile (gemm.c): the generic table's ukernel (m == mr)
 * and ukernel_rows, and the twin the others' ukernel_rows are tested by. */
void ember_ukernel_rows_ref(int mr, int nr, int m, int64_t k, const float *a, const float *b, int64_t ldb,
                            float *c, int64_t ldc, float alpha, float beta, const ember_ukernel_post *post);
/* The scalar ukernel_narrow for mr rows (gemm.c): the generic table's, and the twin the others are tested by. */
void ember_ukernel_narrow_ref(int mr, int64_t k, const float *a, const float *b, int64_t ldb, int64_t n, float *c,
                              int64_t ldc);
/* The scalar interleave_rows and dw_interleaved (conv.c): the generic table's, the ISA versions' tails. */
void ember_interleave_rows_ref(float *dst, const float *const *src, int64_t nc, int64_t n);
void ember_dw_interleaved_ref(float *out, int64_t ldo, int64_t nc, const float *in, int64_t n, int64_t ow,
                              int64_t sx, int64_t sy, const int64_t *tap, int64_t ntaps, const float *w,
                              const float *bias, float lo, float hi, const float *slope, int64_t np,
                              int64_t ldp);
/* The scalar conv_rows (conv.c), the generic table's and the ISA versions' short rows. */
void ember_conv_rows_ref(float *out, int64_t ldo, int64_t noc, const float *w8, const float *const *rows,
                         int64_t ntaps, int64_t n, const ember_ukernel_post *post);
/* The scalar transforms (the generic table's, and the ISA versions' lane tails). */
void ember_wino_in_ref(float *v, int64_t vs, const float *d, int64_t L);
void ember_wino_gather4_ref(float *d, int64_t L, const float *p, int64_t pitch);
/* Lanes [l, L) (fewer than 8) of wino_in / wino_out by the scalar transforms, through copies with L - l lanes:
 * the vector twins' tails. */
void ember_wino_in_tail(float *v, int64_t vs, const float *d, int64_t L, int64_t l);
void ember_wino_out_tail(float *y, const float *m, int64_t ms, int64_t L, int64_t l);
void ember_wino_scatter4_ref(float *o, int64_t ow, const float *y, int64_t L, int rows, int cols, float bias,
                             float lo, float hi);
void ember_wino_out_ref(float *y, const float *m, int64_t ms, int64_t L);

/* Conv weights packed for table k (ember_conv2d then runs with k's kernels). */
ember_conv2d_weights *ember_conv2d_weights_create_k(const ember_kernel_table *k, const ember_conv2d_shape *g,
                                                    const float *W);

/* Epilogue / activation with the kernels of table k. */
void ember_epilogue_apply_k(const ember_kernel_table *k, const ember_epilogue *ep, float *c, int64_t ldc,
                            int64_t row0, int64_t col0, int64_t m, int64_t n);
void ember_act_apply_k(const ember_kernel_table *k, ember_act act, float *y, const float *x, int64_t n);

/* A switch on an activation kind whose every case is CASE(kind), the kind a constant there: the vector
 * epilogues expand one loop per activation this way, so that its code folds and its constants stay in
 * registers (x86/vmath_avx2.c, arm/vmath_neon.c). */
#define EMBER_ACT_SWITCH(kind, CASE)                                                                         \
    switch (kind) {                                                                                          \
        CASE(EMBER_ACT_NONE)                                                                                 \
        CASE(EMBER_ACT_RELU)                                                                                 \
        CASE(EMBER_ACT_CLIP)                                                                                 \
        CASE(EMBER_ACT_LEAKY_RELU)                                                                           \
        CASE(EMBER_ACT_SILU)                                                                                 \
        CASE(EMBER_ACT_GELU_ERF)                                                                             \
        CASE(EMBER_ACT_GELU_TANH)                                                                            \
        CASE(EMBER_ACT_SIGMOID)                                                                              \
        CASE(EMBER_ACT_TANH)                                                                                 \
        CASE(EMBER_ACT_HARD_SIGMOID)                                                                         \
        CASE(EMBER_ACT_HARD_SWISH)                                                                           \
        CASE(EMBER_ACT_PRELU)                                                                                \
    case EMBER_ACT_COUNT:                                                                                    \
        break;                                                                                               \
    }

/* Scalar helpers shared by the generic table and the tails of the ISA versions. */
float ember_scalar_binop(ember_binop op, float a, float b);
float ember_scalar_act(ember_act act, float x);

#endif
