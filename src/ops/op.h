/* The operator interface: what every op file under src/ops/ implements, and the helpers they share.
 *
 * An op is one line in src/ops/ops.def and two functions in its family's file:
 *
 *     // ops.def:   OP("", Relu, 6, unary_infer, relu_run, 0)
 *     static ember_status relu_run(eo_ctx *c) {
 *         const ember_tensor *x = eo_in(c, 0);            // inputs: tensors with data
 *         ember_tensor *y = eo_out(c, 0);                 // outputs: already allocated by infer's shape
 *         ...
 *     }
 *
 * infer(c) sets each output's kind/dtype/shape from the inputs' types and shapes (eo_set_out). It runs at
 * planning time, when only constants have data (eo_in_data(c, i) is NULL otherwise), and again at run
 * time for nodes whose shapes could not be known in advance. When it needs an input's data that is not
 * there yet it returns EO_DYNAMIC. An op whose output shapes depend on the values it computes (NonZero,
 * Unique) sets EO_RUN_ALLOCATES and calls eo_alloc_out from run instead.
 * run(c) computes. It never allocates outputs itself unless EO_RUN_ALLOCATES; scratch memory comes from
 * eo_scratch (freed after the node). Errors: return ember_fail(EMBER_ERR_SHAPE, "...") naming what was
 * wrong; the executor adds the node's name and op.
 * See docs/ops.md for the full guide.
 */
#ifndef EMBER_OPS_OP_H
#define EMBER_OPS_OP_H

#include "ember/threadpool.h"
#include "graph/graph.h"
#include "kernels/kernels.h"

#include <math.h>
#include <string.h>

/* Returned by infer when output shapes depend on input data that is not known yet (not an error). */
#define EO_DYNAMIC ((ember_status)1)

/* Op flags */
enum {
    EO_NO_FOLD = 1u,        /* never constant-fold (random ops) */
    EO_RUN_ALLOCATES = 2u,  /* run() allocates its outputs with eo_alloc_out (data-dependent shapes) */
    EO_SHAPE_ONLY = 4u,     /* reads only input shapes (Shape, Size): folds as soon as shapes are static */
};

/* --- run-time values ---------------------------------------------------------------------------------- */
typedef enum ev_kind { EV_ABSENT = 0, EV_TENSOR = 1, EV_SEQUENCE = 2, EV_NONE = 3 /* empty optional */ } ev_kind;

typedef struct ev {
    ev_kind kind;
    ember_tensor t;    /* EV_TENSOR: t.data NULL while only the type is known; OWNS_DATA when heap-allocated */
    int nitems, cap;   /* EV_SEQUENCE */
    struct ev **items; /* owned EV_TENSOR values */
    ember_dtype elem;  /* EV_SEQUENCE element type (also for empty sequences) */
    eg_kind opt_of;    /* EV_NONE: what the optional would hold (EG_KIND_TENSOR / EG_KIND_SEQUENCE) */
} ev;

/* Release what v owns and reset it to EV_ABSENT. */
void ev_clear(ev *v);
/* Deep copy src into dst (dst cleared first); data always owned by dst. */
ember_status ev_copy(ev *dst, const ev *src);
/* Make v an owned tensor of this type and shape (zero-filled). */
ember_status ev_alloc_tensor(ev *v, ember_dtype dtype, int ndim, const int64_t *shape);
/* Append a deep copy of tensor t to sequence seq (position pos, -1 = end). */
ember_status ev_seq_insert(ev *seq, const ember_tensor *t, int pos);

/* --- the op context ----------------------------------------------------------------------------------- */
struct eg_exec;

/* State an op keeps across runs of one planned step (pre-packed weights): made by run() on first use when
 * c->prep is non-NULL, freed by the executor with `free` when it re-plans or is destroyed. */
typedef struct eo_prep {
    void *p;
    void (*free)(void *p);
} eo_prep;

/* Work the graph passes (graph/fuse.c) moved into a Conv/Gemm/MatMul step from the nodes after it:
 *     y = alpha * op(...);  y = y * bn_scale[ch] + bn_shift[ch];  y += bias[ch];  y += residual (before act unless
 *     residual_after_act);  y = act(y)
 * where ch is the channel: axis 1 for Conv, the last axis for Gemm/MatMul. */
typedef struct eo_fuse {
    float alpha;                      /* Gemm/MatMul: the product is scaled by this first (a following Div or
                                         Mul by a constant); 0 means 1 */
    const float *bn_scale, *bn_shift; /* folded BatchNormalization (NULL: none) */
    const float *bias;                /* MatMul: per-column bias of a following Add (NULL: none) */
    int residual;                     /* index into c->in of a same-shaped tensor to add (-1: none) */
    bool residual_after_act;
    ember_act act;
    /* Conv: then the 2-D MaxPool `pool` (no indices); the step's output is the pooled one (graph/fuse.c:
     * ember_conv2d_pool_suits). */
    bool maxpool;
    struct {
        int64_t kh, kw, sh, sw, dh, dw, pt, pl; /* window, strides, dilations, top / left padding */
    } pool;
} eo_fuse;

typedef struct eo_ctx {
    const eg_node *node;
    int opset;
    int nin, nout;
    ev **in;   /* in[i] NULL when the optional input is absent */
    ev **out;  /* out[i] NULL when the output is not used ("" in the model) */
    ember_pool *pool;
    bool inferring;        /* true inside infer */
    struct eg_exec *exec;  /* for ops that run subgraphs (If, Loop, Scan) */
    void *scratch[4];      /* eo_scratch allocations, freed after the node runs */
    int nscratch;
    const eo_fuse *fuse;   /* non-NULL: this step also does the fused work (only Conv, Gemm, MatMul) */
    eo_prep *prep;         /* non-NULL on planned steps: state kept across runs */
    struct ember_pagestore *store; /* where prep's large buffers go (ember_pagestore_keep); NULL: heap */
    bool f16_weights;      /* session option: pre-packed constant GEMM weights as IEEE half */
    struct eo_ctx *producer; /* non-NULL (Conv only): the step that makes input 0 was left to this one, to
                                run band by band inside it (graph/fuse.c chain_convs); its input 0 is
                                also this step's extra input. Its output has no memory: to run it first
                                instead, allocate its output (eo_alloc_out) */
    int64_t panel_in, panel_out; /* Conv only: input 0 / output 0 is in the panel layout of this many columns
                                    (kernels.h; graph/fuse.c panel_convs), 0: NCHW. The reference ops ignore
                                    them: both ends are Convs, and both then use NCHW */
} eo_ctx;

typedef struct eo_def {
    const char *domain; /* "" (ai.onnx), "ai.onnx.ml", ... */
    const char *name;
    int since; /* oldest opset version implemented */
    ember_status (*infer)(eo_ctx *c);
    ember_status (*run)(eo_ctx *c);
    unsigned flags;
} eo_def;

/* Find an op (NULL: not implemented, or the model's opset is older than `since`). */
const eo_def *eo_find(const char *domain, const char *name, int opset);
/* Every registered op, for listings. */
const eo_def *eo_all(int *count);

/* --- inputs and outputs ------------------------------------------------------------------------------- */
static inline bool eo_has(const eo_ctx *c, int i) { return i < c->nin && c->in[i] && c->in[i]->kind != EV_ABSENT; }
/* Tensor input i (NULL if absent). At run time data is always present. */
static inline ember_tensor *eo_in(const eo_ctx *c, int i) { return eo_has(c, i) ? &c->in[i]->t : NULL; }
/* Data of input i when known (always at run time; constants only while inferring). */
static inline const void *eo_in_data(const eo_ctx *c, int i) { return eo_has(c, i) ? c->in[i]->t.data : NULL; }
static inline ember_tensor *eo_out(const eo_ctx *c, int i) { return i < c->nout && c->out[i] ? &c->out[i]->t : NULL; }

/* Set output i to a tensor of this type and shape (infer). Ignored for unused outputs. */
ember_status eo_set_out(eo_ctx *c, int i, ember_dtype dtype, int ndim, const int64_t *shape);
/* Output i gets input j's type and shape. */
ember_status eo_set_out_like(eo_ctx *c, int i, int j);
/* For EO_RUN_ALLOCATES ops: allocate output i now (returns NULL for unused outputs; check the status). */
ember_status eo_alloc_out(eo_ctx *c, int i, ember_dtype dtype, int ndim, const int64_t *shape, ember_tensor **t);
/* Scratch memory for the duration of the node (64-byte aligned, zeroed); NULL when out of memory. */
void *eo_scratch(eo_ctx *c, size_t bytes);

/* Reference mode: ops take their plain scalar paths instead of the kernels' fast ones (the twin that
 * differential tests compare against). Off by default; EMBER_OPS=reference in the environment turns it on. */
bool eo_reference(void);
void eo_set_reference(bool on);

/* Fill c->prep ahead of the first run (pre-packed constant weights of Conv, Gemm, MatMul), at plan time:
 * inputs that are not constants have their planned shapes but no data. Does nothing for other ops or
 * when the op cannot prepare (the first run then does it); never fails the plan. */
void eo_prepare(eo_ctx *c);
void conv_prepare(eo_ctx *c);
void gemm_prepare(eo_ctx *c);
void matmul_prepare(eo_ctx *c);

/* Input i is a constant (initializer or folded) that keeps its data across runs. */
bool eo_in_const(const eo_ctx *c, int i);
/* Input i is an initializer used in place from the mmapped model and the op has its own packed copy:
 * let its pages leave the resident set (they are read from the file again if needed). */
void eo_drop_input(const eo_ctx *c, int i);
/* Apply c->fuse (when set) to the f32 output y laid out [outer, channels, inner], in place. The reference
 * path for ops that compute first and fuse afterwards. */
void eo_fuse_apply(const eo_ctx *c, float *y, int64_t outer, int64_t channels, int64_t inner);

/* Integer input values as int64 (int32/int64 tensors): returns EO_DYNAMIC when the data is not known yet,
 * EMBER_ERR_SHAPE if not an integer tensor or more than cap values. */
ember_status eo_in_ints(const eo_ctx *c, int i, int64_t *vals, int cap, int *n);
/* Scalar input as double / int64 (first element). */
ember_status eo_in_scalar(const eo_ctx *c, int i, double *v);
/* Inputs [0, required) present and every present input a tensor, else EMBER_ERR_SHAPE naming the op and
 * the input (call first in infer, so malformed models fail cleanly). */
ember_status eo_check_inputs(const eo_ctx *c, int required);
/* Copy n elements src[s0..] to dst[d0..] (same dtype, byte-sized elements; strings deep-copied). */
ember_status eo_copy_elems(ember_tensor *dst, int64_t d0, const ember_tensor *src, int64_t s0, int64_t n);

/* --- attributes --------------------------------------------------------------------------------------- */
int64_t eo_attr_int(const eo_ctx *c, const char *name, int64_t dflt);
float eo_attr_float(const eo_ctx *c, const char *name, float dflt);
const char *eo_attr_str(const eo_ctx *c, const char *name, const char *dflt);
/* List attribute: returns count (-1 if absent), *v points into the model. */
int eo_attr_ints(const eo_ctx *c, const char *name, const int64_t **v);
int eo_attr_floats(const eo_ctx *c, const char *name, const float **v);
const eg_attr *eo_attr(const eo_ctx *c, const char *name);

/* --- helpers ------------------------------------------------------------------------------------------ */
/* Normalise axis into [0, rank) (accepting [-rank, rank)); EMBER_ERR_SHAPE otherwise. */
ember_status eo_axis(int64_t axis, int rank, int *out);
/* Fail with "expected type X" when input i is not one of the listed dtypes (0-terminated list). */
ember_status eo_check_dtype(const eo_ctx *c, int i, const ember_dtype *allowed);
/* Element type of input i (UNDEFINED if absent). */
static inline ember_dtype eo_dtype(const eo_ctx *c, int i) { return eo_has(c, i) ? c->in[i]->t.dtype : EMBER_DTYPE_UNDEFINED; }
static inline size_t eo_esize(ember_dtype t) { return (size_t)ember_dtype_bits(t) / 8; }

/* Numpy broadcasting over up to 3 inputs: calls fn for each innermost row with element offsets and steps
 * (0 = broadcast, 1 = contiguous). ndim/shape are the output's. */
typedef struct eo_bcast {
    int nin;
    int ndim;                        /* collapsed rank */
    int64_t shape[EMBER_MAX_DIMS];   /* collapsed output shape */
    int64_t stride[3][EMBER_MAX_DIMS]; /* per input, in elements (0 where broadcast) */
} eo_bcast;
ember_status eo_bcast_init(eo_bcast *b, int nin, const ember_tensor *const *ins, int out_ndim, const int64_t *out_shape);
typedef void (*eo_row_fn)(void *ctx, int64_t out_off, const int64_t *in_off, const int64_t *in_step, int64_t n);
/* Run fn over all rows, in parallel over the pool when the tensor is large. */
void eo_bcast_run(const eo_bcast *b, ember_pool *pool, eo_row_fn fn, void *ctx);
/* Output shape of broadcasting inputs [first, first+n). */
ember_status eo_bcast_shape(const eo_ctx *c, int first, int n, int *ndim, int64_t *shape);

/* Copy src into dst (dst's dtype and shape) reading element (i0, i1, ...) of dst from
 * src_offset + sum(i_d * src_strides[d]) of src (strides in elements, may be 0 or negative).
 * Transpose, Slice, Expand and Tile are this with different strides. Strings are deep-copied. Size-1 dims
 * are dropped and dims contiguous in src too are merged first; rows contiguous in src are memcpy'd, a 2-D
 * transpose of 4-byte elements is copied 64 rows at a time; row offsets advance as an odometer (no
 * division per row). */
ember_status eo_strided_copy(ember_tensor *dst, const ember_tensor *src, const int64_t *src_strides, int64_t src_offset,
                             ember_pool *pool);

/* Convert between element types (numeric, bool, f16/bf16, f8; strings <-> numbers per ONNX Cast). */
ember_status eo_convert(const ember_tensor *src, ember_tensor *dst);
/* Casts involving the small types (float8, float8e8m0, float4, 4/2-bit integers) per ONNX Cast: saturate and
 * round_mode ("up", "down", "nearest"; e8m0 only) as the attributes say (cast.c). */
ember_status eo_cast_small(const ember_tensor *src, ember_tensor *dst, bool saturate, const char *round_mode);
bool eo_dtype_is_small(ember_dtype t);
/* A double from tensor data as int64 without undefined behaviour: NaN -> 0, saturating at the int64 range. */
static inline int64_t eo_to_i64(double v) {
    if (v != v) return 0;
    if (v >= 9223372036854775807.0) return INT64_MAX;
    if (v <= -9223372036854775808.0) return INT64_MIN;
    return (int64_t)v;
}
/* Element i of any numeric tensor (small types decoded) as double. */
double eo_get_any(const ember_tensor *t, int64_t i);
/* Store v into element i of a small-type tensor (Cast rules, saturating); eo_put calls it for those types. */
void eo_put_small(ember_tensor *t, int64_t i, double v);
/* Element i of a numeric tensor as double, and store a double into element i (with C cast semantics). */
double eo_get(const ember_tensor *t, int64_t i);
void eo_put(ember_tensor *t, int64_t i, double v);

/* Run a float-only op on f16/bf16 inputs: converts the float inputs to f32, runs `run`, converts outputs
 * back. Use as: if (needs_f32(c)) return eo_run_as_f32(c, my_run); */
bool eo_is_half(ember_dtype t);
ember_status eo_run_as_f32(eo_ctx *c, ember_status (*run)(eo_ctx *c));
/* The same for float64 inputs and outputs (ops whose float64 results are fine at float32 precision). */
ember_status eo_run_f64_as_f32(eo_ctx *c, ember_status (*run)(eo_ctx *c));

/* Parallel for over [0, n) with a grain; a thin wrapper over ember_pool_for. */
static inline void eo_parallel(eo_ctx *c, int64_t n, int64_t grain, ember_range_fn fn, void *ctx) {
    ember_pool_for(n * grain > 32768 ? c->pool : NULL, n, 1, fn, ctx);
}

/* Common infer functions shared by many ops. */
ember_status eo_infer_same(eo_ctx *c);      /* output 0 = input 0 */
ember_status eo_infer_bcast(eo_ctx *c);     /* output 0 = broadcast of all inputs, dtype of input 0 */
ember_status eo_infer_bcast_bool(eo_ctx *c);/* same shape, dtype bool (comparisons) */

/* Op families declare their functions here through ops.def; see registry.c. */
#define OP(domain, name, since, infer, run, flags) ember_status infer(eo_ctx *c); ember_status run(eo_ctx *c);
#include "ops/ops.def"
#undef OP

#endif
