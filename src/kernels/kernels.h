/* Internal f32 kernel API: GEMM (plain, pre-packed, batched) with a fused epilogue, convolution, pooling
 * and vector math. Used by ops/ (ONNX) and llm/; not part of the public include/ember API.
 *
 * Usage:
 *
 *     // C[M,N] = relu(A[M,K] x B[K,N] + bias[N]), row-major, on a thread pool (NULL pool = this thread)
 *     ember_epilogue ep = {.bias = bias, .bias_kind = EMBER_BIAS_COL, .act = {.kind = EMBER_ACT_RELU}};
 *     ember_sgemm(pool, false, false, M, N, K, 1.0f, A, K, B, N, 0.0f, C, N, &ep);
 *
 *     // constant weights: pack once at load, reuse for every run
 *     void *pb = ember_malloc_aligned(ember_sgemm_pack_b_size(K, N));
 *     ember_sgemm_pack_b(false, K, N, W, N, pb);
 *     ember_sgemm_packed(pool, M, N, K, 1.0f, &(ember_gemm_operand){.data = A, .ld = K},
 *                        &(ember_gemm_operand){.packed = pb}, 0.0f, C, N, &ep);
 *
 * Conventions:
 * - Every kernel is a pure function of its arguments: (out, in..., sizes[, pool]). Kernels never create
 *   threads; those that take an `ember_pool *` split their work with ember_pool_for (NULL = serial).
 * - The best implementation for this CPU (AVX2+FMA, NEON, or scalar C) is picked once, at first use, from
 *   ember_cpu_get(); EMBER_CPU=generic forces the scalar reference twins. Every optimised kernel has a
 *   scalar twin named *_ref that tests call directly.
 * - Sizes are int64_t; leading dimensions (ld*) are in elements. Matrices are row-major.
 * - Pointers may be unaligned. Outputs must not alias inputs unless a function says so.
 * - Packed layouts depend on the implementation chosen for this CPU; a packed buffer is only valid in the
 *   process that made it (do not write it to disk).
 * - Kernels do not validate shapes: callers (ops/, llm/) check them and report errors with ember_fail.
 */
#ifndef EMBER_KERNELS_H
#define EMBER_KERNELS_H

#include "core/pagestore.h"
#include "ember/threadpool.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* --- activations and the fused epilogue -------------------------------------------------------------- */

typedef enum ember_act_kind {
    EMBER_ACT_NONE = 0,
    EMBER_ACT_RELU,         /* max(x, 0) */
    EMBER_ACT_CLIP,         /* min(max(x, p0), p1)            (ReLU6: p0 = 0, p1 = 6) */
    EMBER_ACT_LEAKY_RELU,   /* x >= 0 ? x : p0 * x */
    EMBER_ACT_SILU,         /* x * sigmoid(x)                 (Swish) */
    EMBER_ACT_GELU_ERF,     /* 0.5 x (1 + erf(x / sqrt 2))    (Gelu approximate="none") */
    EMBER_ACT_GELU_TANH,    /* 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))  (approximate="tanh") */
    EMBER_ACT_SIGMOID,      /* 1 / (1 + exp(-x)) */
    EMBER_ACT_TANH,         /* tanh(x) */
    EMBER_ACT_HARD_SIGMOID, /* max(0, min(1, p0 x + p1))      (ONNX defaults p0 = 0.2, p1 = 0.5) */
    EMBER_ACT_HARD_SWISH,   /* x * max(0, min(1, x / 6 + 1/2)) */
    EMBER_ACT_PRELU,        /* x >= 0 ? x : slope[row] * x    (one slope per output row: conv channels) */
    EMBER_ACT_COUNT
} ember_act_kind;

/* An activation and its parameters (unused parameters are ignored). */
typedef struct ember_act {
    ember_act_kind kind;
    float p0, p1;       /* CLIP: min, max; LEAKY_RELU: alpha; HARD_SIGMOID: alpha, beta */
    const float *slope; /* PRELU: one per row of the epilogue's C (where row-wise, slope[0] is used) */
} ember_act;

/* The activation of one row: PRELU becomes LEAKY_RELU with that row's slope (the vector epilogues only
 * ever see per-row kinds; ember_epilogue_apply splits PRELU blocks into rows). */
static inline ember_act ember_act_row(ember_act a, int64_t row) {
    if (a.kind == EMBER_ACT_PRELU) return (ember_act){EMBER_ACT_LEAKY_RELU, a.slope[row], 0, NULL};
    return a;
}

typedef enum ember_bias_kind {
    EMBER_BIAS_NONE = 0,
    EMBER_BIAS_COL, /* bias[j] added to column j (MatMul/Gemm/Linear: bias has N entries) */
    EMBER_BIAS_ROW, /* bias[i] added to row i (conv as GEMM with output channels as M: M entries) */
} ember_bias_kind;

/* What happens to each output after the product, in this order:
 *     v = alpha * sum_k A[i,k] B[k,j] + beta * C[i,j]      (the GEMM itself)
 *     v += bias                                            (bias_kind)
 *     v += residual[i * ldr + j]    if residual && !residual_after_act
 *     v = act(v)
 *     v += residual[i * ldr + j]    if residual && residual_after_act
 * A NULL epilogue pointer, or a zeroed struct, means none of this. `residual` may equal C only when
 * ldr == ldc (then it reads the old C value, which beta would also read: use one or the other). */
typedef struct ember_epilogue {
    const float *bias;
    ember_bias_kind bias_kind;
    ember_act act;
    const float *residual;
    int64_t ldr;
    bool residual_after_act;
} ember_epilogue;

/* Apply the epilogue to rows [0, m) x columns [0, n) of C, where (row0, col0) is the position of C[0] in the
 * whole output (to index bias and residual). Used by GEMM and conv; exported for ops that compute first
 * and fuse afterwards. */
void ember_epilogue_apply(const ember_epilogue *ep, float *c, int64_t ldc, int64_t row0, int64_t col0,
                          int64_t m, int64_t n);

/* y[i] = act(x[i]) for i < n; y may equal x. */
void ember_act_apply(ember_act act, float *y, const float *x, int64_t n);

/* --- GEMM -------------------------------------------------------------------------------------------- */

/* C[M,N] = alpha * op(A) op(B) + beta * C, then the epilogue (NULL = none). op(A) is M x K: A is M x K
 * (lda >= K) or, when transA, K x M (lda >= M). op(B) is K x N: B is K x N (ldb >= N) or, when transB,
 * N x K (ldb >= K). beta == 0 means C is not read (it may hold NaN). K == 0 gives beta * C + epilogue.
 * Scratch: packing buffers are kept per calling thread and reused (grow-only). */
void ember_sgemm(ember_pool *pool, bool transA, bool transB, int64_t M, int64_t N, int64_t K, float alpha,
                 const float *A, int64_t lda, const float *B, int64_t ldb, float beta, float *C, int64_t ldc,
                 const ember_epilogue *ep);

/* Pre-packing of a constant operand (weights), done once at model load.
 * Bytes needed to hold op(B) (K x N) packed; a multiple of 64. Allocate with ember_malloc_aligned. */
size_t ember_sgemm_pack_b_size(int64_t K, int64_t N);
/* Pack op(B) (B is K x N, or N x K when transB) into `packed` (ember_sgemm_pack_b_size bytes, 64-byte
 * aligned). The caller owns `packed`. */
void ember_sgemm_pack_b(bool transB, int64_t K, int64_t N, const float *B, int64_t ldb, void *packed);
/* The same for op(A) (M x K): conv weights W[Cout, Cin*kh*kw] are the constant A operand. */
size_t ember_sgemm_pack_a_size(int64_t M, int64_t K);
void ember_sgemm_pack_a(bool transA, int64_t M, int64_t K, const float *A, int64_t lda, void *packed);

/* op(B) packed as IEEE half (half the bytes; --f16 weights): the GEMM widens one cache panel at a time
 * with F16C / NEON. Size is a multiple of 64; returns non-OK only when out of memory. */
size_t ember_sgemm_pack_b_f16_size(int64_t K, int64_t N);
ember_status ember_sgemm_pack_b_f16(bool transB, int64_t K, int64_t N, const float *B, int64_t ldb, void *packed);

/* One GEMM operand: either packed (by ember_sgemm_pack_a/_b with the same M/N/K) or plain memory. */
typedef struct ember_gemm_operand {
    const void *packed; /* non-NULL: use this packed buffer; the fields below are ignored */
    bool packed_f16;    /* B only: `packed` is from ember_sgemm_pack_b_f16 */
    const float *data;  /* plain row-major matrix */
    int64_t ld;
    bool trans;
} ember_gemm_operand;

/* ember_sgemm where either operand may be pre-packed. */
void ember_sgemm_packed(ember_pool *pool, int64_t M, int64_t N, int64_t K, float alpha,
                        const ember_gemm_operand *A, const ember_gemm_operand *B, float beta, float *C,
                        int64_t ldc, const ember_epilogue *ep);

/* Batched MatMul (ONNX MatMul after broadcasting): for b < batch,
 *     C + b*strideC = op(A + b*strideA) op(B + b*strideB)  (+ epilogue, residual offset by b*strideR)
 * A stride of 0 broadcasts that operand (e.g. strideB = 0 for shared weights). Threads split the batch
 * and the blocks inside each product. */
void ember_sgemm_batched(ember_pool *pool, int64_t batch, bool transA, bool transB, int64_t M, int64_t N,
                         int64_t K, float alpha, const float *A, int64_t lda, int64_t strideA, const float *B,
                         int64_t ldb, int64_t strideB, float beta, float *C, int64_t ldc, int64_t strideC,
                         const ember_epilogue *ep, int64_t strideR);

/* Scalar reference GEMM (triple loop, same contract as ember_sgemm) for tests. */
void ember_sgemm_ref(bool transA, bool transB, int64_t M, int64_t N, int64_t K, float alpha, const float *A,
                     int64_t lda, const float *B, int64_t ldb, float beta, float *C, int64_t ldc,
                     const ember_epilogue *ep);

/* --- convolution (NCHW, f32) --------------------------------------------------------------------------- */

/* Geometry of a 2-D convolution (ONNX Conv). Pads are explicit (auto_pad is resolved by the caller). */
typedef struct ember_conv2d_shape {
    int64_t batch, cin, h, w;     /* input  [batch, cin, h, w] */
    int64_t cout, oh, ow;         /* output [batch, cout, oh, ow]; the caller computes oh/ow */
    int64_t kh, kw;               /* kernel size */
    int64_t stride_h, stride_w;   /* >= 1 */
    int64_t dil_h, dil_w;         /* >= 1 */
    int64_t pad_t, pad_l;         /* top/left padding (bottom/right follow from oh/ow) */
    int64_t groups;               /* cin and cout are multiples of groups */
    int64_t in_panel, out_panel;  /* 0: the input / output is NCHW; nr > 0: in the panel layout of nr columns;
                                     EMBER_LINED: NCHW with each plane padded to whole cache lines */
} ember_conv2d_shape;

/* The panel layout: one image's [C][H*W] activation as the GEMM's packed B operand of a 1x1 conv, ceil(HW / nr)
 * panels of [C][nr]: pixel p of channel c at (p / nr * C + c) * nr + p % nr, the columns past HW zero, images
 * ember_panel_floats apart. The channel-interleaved depthwise kernel writes it as it stores, and the 1x1 conv
 * after it reads it as its GEMM's B: one contiguous stream instead of C rows a plane apart (the 1x1 alone, 1
 * thread, its input rewritten before each run as a producer would: MobileNetV2's 144 -> 24 at 56x56 0.91x,
 * 96 -> 16 0.87x, 384 -> 64 at 14x14 0.84x). Any conv takes either layout at either end (the paths that do not
 * read or write panels convert through a buffer); ember_conv2d_panel_nr says where the pair pays. */
int64_t ember_panel_floats(int64_t c, int64_t hw, int64_t nr);
void ember_panels_from_nchw(float *dst, const float *src, int64_t c, int64_t hw, int64_t nr);
void ember_panels_to_nchw(float *dst, const float *src, int64_t c, int64_t hw, int64_t nr);
/* The lined layout: NCHW whose planes each start on a cache line, ember_plane_pitch(hw, EMBER_LINED) floats
 * apart (the floats past hw unused; ember_panel_floats(c, hw, EMBER_LINED) per image; the two conversions
 * above take EMBER_LINED for nr and copy the planes). The per-plane depthwise kernels write it as they write
 * NCHW, and the 1x1 conv after it reads its rows in place as the GEMM's B: whole lines per row, which the
 * panels had bought with a scattered store per 16 pixels (a 14x14 plane's 13 panel lines 16 KB apart for 256
 * channels: the depthwise conv 20 -> 12 us at 2 threads). */
enum { EMBER_LINED = -16 };
int64_t ember_plane_pitch(int64_t hw, int64_t layout);
/* The layout for conv a's output (then PRelu / LeakyRelu when leaky) when only a 1x1 stride-1 conv to cout
 * channels reads it, with this CPU's kernels: panels of nr columns, EMBER_LINED, or 0 (NCHW) where neither
 * pays or a path does not take them. a: a depthwise conv (multiplier 1) or an ungrouped 1x1 stride-1 one;
 * its pads are not looked at. */
int64_t ember_conv2d_panel_nr(const ember_conv2d_shape *a, bool leaky, int64_t cout);

/* Output size along one axis: (in + pad_begin + pad_end - dil*(k-1) - 1) / stride + 1 (may be <= 0). */
int64_t ember_conv_out_size(int64_t in, int64_t k, int64_t stride, int64_t dil, int64_t pad_begin,
                            int64_t pad_end);

/* Prepared weights of one conv: packs W [cout, cin/groups, kh, kw] for the fastest path of this geometry
 * (GEMM-packed per group, or kept as given for depthwise). Make once at load; the caller frees it with
 * ember_conv2d_weights_free. The geometry fields other than batch/h/w/oh/ow must not change afterwards.
 * The packed data goes into ps while it has room (NULL: the heap); a store's buffers go when it is reset.
 * Returns NULL when out of memory. */
typedef struct ember_conv2d_weights ember_conv2d_weights;
ember_conv2d_weights *ember_conv2d_weights_create(const ember_conv2d_shape *g, const float *W, ember_pagestore *ps);
void ember_conv2d_weights_free(ember_conv2d_weights *w);

/* out = conv(in, W) + bias (per output channel; NULL = none), then ep->act / ep->residual (residual has
 * the output's shape, ldr ignored). ep->bias and ep->bias_kind are ignored: pass bias separately.
 * Picks: depthwise direct kernel (groups == cin, or a 1->1 conv; a dot product per channel when the window is
 * the whole plane), 1x1 stride-1 unpadded as a plain GEMM (few input channels: a direct row kernel),
 * otherwise implicit im2col (patches are packed straight into GEMM panels, no im2col buffer). in and out are
 * in the layouts g->in_panel / g->out_panel name (the residual is NCHW). Fails only when out of memory. */
ember_status ember_conv2d(ember_pool *pool, const ember_conv2d_shape *g, const ember_conv2d_weights *w,
                          const float *in, const float *bias, float *out, const ember_epilogue *ep);

/* Conv a (1x1, stride 1, unpadded, ungrouped) feeding depthwise conv b (one output channel per input
 * channel), as out = b(a(in)) without writing a's output: each band of b's rows is computed from a's rows
 * made for it in a cache-sized buffer. ep_a: a's activation (no residual); ep_b as for ember_conv2d.
 * pool2: out is b's output max-pooled as by ember_conv2d_pool2.
 * Returns false, writing nothing, when the pair does not qualify (or memory is short): run them one by one.
 * ember_conv2d_chain_pays: whether a's output (channels x h x w) is big enough for chaining to pay (it would
 * not stay in cache between the two convs); smaller ones run faster one by one. */
bool ember_conv2d_chain(ember_pool *pool, const ember_conv2d_shape *ga, const ember_conv2d_weights *wa,
                        const float *bias_a, const ember_epilogue *ep_a, const ember_conv2d_shape *gb,
                        const ember_conv2d_weights *wb, const float *bias_b, const ember_epilogue *ep_b,
                        const float *in, float *out, bool pool2);
bool ember_conv2d_chain_pays(int64_t channels, int64_t h, int64_t w);

/* ember_conv2d followed by a 2x2 stride-2 max pool (no padding, floor: out is [batch, cout, oh / 2, ow / 2]),
 * each band of rows pooled while in cache, for depthwise weights (YuNet's depthwise convs before its
 * MaxPools); false, writing nothing, for other weights or when memory is short. */
bool ember_conv2d_pool2(ember_pool *pool, const ember_conv2d_shape *g, const ember_conv2d_weights *w,
                        const float *in, const float *bias, float *out, const ember_epilogue *ep);

/* Direct reference convolution (7 nested loops) with the same contract, for tests. W is unpacked. */
void ember_conv2d_ref(const ember_conv2d_shape *g, const float *W, const float *in, const float *bias,
                      float *out, const ember_epilogue *ep);

/* --- pooling (NCHW) ------------------------------------------------------------------------------------ */

/* Geometry of MaxPool / AveragePool. oh/ow are computed by the caller (floor or ceil_mode); windows
 * are clipped to the input. */
typedef struct ember_pooling2d {
    int64_t batch, c, h, w, oh, ow;
    int64_t kh, kw, stride_h, stride_w, dil_h, dil_w; /* strides and dilations >= 1 */
    int64_t pad_t, pad_l, pad_b, pad_r;
    bool count_include_pad; /* AveragePool: divide by the window's part inside the padded input instead of
                               the part inside the input */
} ember_pooling2d;

/* ember_conv2d followed by the max pool p (p->batch, c, h, w: the conv's batch, cout, oh, ow; its window at
 * most EMBER_POOL_MAX_KH rows tall), for weights of convs with few input taps (ember_conv2d_pool_suits:
 * stems such as SqueezeNet's or ShuffleNet's, 3x3 stride 2 on 3 channels, before a 3x3 stride-2 MaxPool):
 * each pooled row is made from the conv rows under its windows while they are in cache, and the conv's output
 * is never written. ep: activation only. False, writing nothing, for other weights, a residual, or when
 * memory is short. */
enum { EMBER_POOL_MAX_KH = 16 };
bool ember_conv2d_maxpool(ember_pool *pool, const ember_conv2d_shape *g, const ember_conv2d_weights *w,
                          const float *in, const float *bias, const ember_epilogue *ep,
                          const ember_pooling2d *p, float *out);
/* Pool p (sized as for ember_conv2d_maxpool) is the 2x2 stride-2 unpadded floor one that ember_conv2d_pool2
 * and ember_conv2d_chain pool with. */
bool ember_pool2d_is_2x2(const ember_pooling2d *p);
/* Whether conv g's step can do the max pool p after it: ember_conv2d_pool2 (depthwise weights, the 2x2 pool)
 * or ember_conv2d_maxpool (few taps, any pool). What the graph pass fuses. */
bool ember_conv2d_pool_suits(const ember_conv2d_shape *g, const ember_pooling2d *p);

void ember_maxpool2d(ember_pool *pool, const ember_pooling2d *g, const float *in, float *out);
void ember_avgpool2d(ember_pool *pool, const ember_pooling2d *g, const float *in, float *out);
/* Scalar reference of ember_maxpool2d (max) / ember_avgpool2d, for tests. */
void ember_pool2d_ref(const ember_pooling2d *g, const float *in, float *out, bool max);
/* out[b, c] = mean (or max) of in[b, c, :] over hw elements; rows = batch * c. */
void ember_global_avgpool(ember_pool *pool, int64_t rows, int64_t hw, const float *in, float *out);
void ember_global_maxpool(ember_pool *pool, int64_t rows, int64_t hw, const float *in, float *out);

/* --- attention ----------------------------------------------------------------------------------------- */

/* Scaled dot-product attention over independent products b (the ember.FusedAttention op): Y_b = softmax over
 * rows of (alpha Q_b Kt_b + M_b), times V_b, with Q_b [Lq, D], Kt_b [D, Lk] and V_b [Lk, Dv] contiguous at
 * q + offsets[b][0], kt + offsets[b][1], v + offsets[b][2], Y_b [Lq, Dv] at y + b Lq Dv, and the optional
 * additive mask's row r, element i at mask + offsets[b][3] + r mrow + i mcol (a stride 0 broadcasts). Blocks
 * of query rows per thread hold their scores in a buffer of the thread (at most 128 KB): the [Lq, Lk]
 * scores never exist whole. false when out of memory. */
typedef struct ember_attention {
    int64_t Lq, D, Lk, Dv, mrow, mcol;
    float alpha;
    const float *q, *kt, *v, *mask; /* mask may be NULL */
    float *y;
    const int64_t (*offsets)[4]; /* per product: Q, Kt, V, mask */
} ember_attention;
bool ember_attention_f32(ember_pool *pool, const ember_attention *a, int64_t products);

/* --- vector math (y may equal x) ----------------------------------------------------------------------- */

/* Accuracy vs libm over the tested ranges: exp within 2 ulp, tanh/sigmoid/erf within 1e-6 relative or
 * 1e-7 absolute. Inputs outside the finite range saturate (exp(-inf) = 0, exp(+big) = +inf, NaN stays NaN). */
void ember_vexp(float *y, const float *x, int64_t n);
void ember_vtanh(float *y, const float *x, int64_t n);
void ember_vsigmoid(float *y, const float *x, int64_t n);
void ember_verf(float *y, const float *x, int64_t n);
void ember_vgelu(float *y, const float *x, int64_t n, bool tanh_approx);
void ember_vsilu(float *y, const float *x, int64_t n);

/* Row-wise numerically stable softmax over `cols` for `rows` rows of stride `ld` (log: log-softmax). */
void ember_softmax(ember_pool *pool, float *y, const float *x, int64_t rows, int64_t cols, int64_t ld,
                   bool log);

/* LayerNormalization over the last `cols` elements of each row: y = (x - mean) / sqrt(var + eps) * scale
 * + bias (bias may be NULL). mean_out / invstd_out (may be NULL) receive per-row statistics. */
void ember_layernorm(ember_pool *pool, float *y, const float *x, const float *scale, const float *bias,
                     int64_t rows, int64_t cols, float eps, float *mean_out, float *invstd_out);
/* RMSNorm: y = x / sqrt(mean(x^2) + eps) * scale (scale may be NULL = 1). */
void ember_rmsnorm(ember_pool *pool, float *y, const float *x, const float *scale, int64_t rows,
                   int64_t cols, float eps);

/* Element-wise binary ops. The plain form is y[i] = a[i] op b[i]; the channel form broadcasts a vector
 * over an NCHW-like tensor: y[o, c, i] = x[o, c, i] op v[c] for o < outer, c < channels, i < inner. */
typedef enum ember_binop { EMBER_BINOP_ADD, EMBER_BINOP_SUB, EMBER_BINOP_MUL, EMBER_BINOP_DIV } ember_binop;
void ember_vbinary(ember_binop op, float *y, const float *a, const float *b, int64_t n);
/* y[i] = a[i] op s (scalar broadcast). */
void ember_vbinary_scalar(ember_binop op, float *y, const float *a, float s, int64_t n);
void ember_vbinary_channel(ember_pool *pool, ember_binop op, float *y, const float *x, const float *v,
                           int64_t outer, int64_t channels, int64_t inner);

/* IEEE half <-> float arrays (F16C / NEON), bit-identical to the scalar ember_f16_to_f32 /
 * ember_f32_to_f16 of ember/tensor.h (round to nearest even; NaN/Inf/subnormals preserved). */
void ember_vf16_to_f32(float *y, const uint16_t *x, int64_t n);
void ember_vf32_to_f16(uint16_t *y, const float *x, int64_t n);

/* Name of the implementation chosen for this CPU ("avx2", "neon", "neon-armv7", "generic"). */
const char *ember_kernels_isa(void);

#endif
