/* Vector math: scalar reference twins (libm), activations, the fused epilogue, binary ops and f16<->f32.
 * The public ember_v* functions dispatch to the table chosen for this CPU. */
#include "kernels/isa.h"

#include "ember/tensor.h"

#include <math.h>
#include <string.h>

/* --- scalar element functions ---------------------------------------------------------------------------- */

static float sigmoidf(float x) { return 1.0f / (1.0f + expf(-x)); }
static float gelu_erff(float x) { return 0.5f * x * erfcf(-x * 0.70710678118654752f); }
static float gelu_tanhf(float x) {
    /* 0.5 (1 + tanh(u)) == sigmoid(2u): no cancellation for negative x */
    float u = 0.7978845608028654f * (x + 0.044715f * x * x * x);
    return x * sigmoidf(2.0f * u);
}

float ember_scalar_act(ember_act act, float x) {
    switch (act.kind) {
    case EMBER_ACT_NONE: return x;
    case EMBER_ACT_RELU: return x < 0.0f ? 0.0f : x; /* NaN stays NaN */
    case EMBER_ACT_CLIP: return x < act.p0 ? act.p0 : x > act.p1 ? act.p1 : x;
    case EMBER_ACT_LEAKY_RELU: return x >= 0.0f ? x : act.p0 * x;
    case EMBER_ACT_SILU: return x * sigmoidf(x);
    case EMBER_ACT_GELU_ERF: return gelu_erff(x);
    case EMBER_ACT_GELU_TANH: return gelu_tanhf(x);
    case EMBER_ACT_SIGMOID: return sigmoidf(x);
    case EMBER_ACT_TANH: return tanhf(x);
    case EMBER_ACT_HARD_SIGMOID: return fmaxf(0.0f, fminf(1.0f, act.p0 * x + act.p1));
    case EMBER_ACT_HARD_SWISH: return x * fmaxf(0.0f, fminf(1.0f, x * (1.0f / 6.0f) + 0.5f));
    case EMBER_ACT_PRELU: return x >= 0.0f ? x : act.slope[0] * x; /* row 0: callers with rows use ember_act_row */
    case EMBER_ACT_COUNT: break;
    }
    return x;
}

float ember_scalar_binop(ember_binop op, float a, float b) {
    switch (op) {
    case EMBER_BINOP_ADD: return a + b;
    case EMBER_BINOP_SUB: return a - b;
    case EMBER_BINOP_MUL: return a * b;
    case EMBER_BINOP_DIV: return a / b;
    }
    return a;
}

#define SCALAR_UNARY(name, expr)                                                                             \
    static void name(float *y, const float *x, int64_t n) {                                                  \
        for (int64_t i = 0; i < n; i++) {                                                                    \
            float v = x[i];                                                                                  \
            y[i] = (expr);                                                                                   \
        }                                                                                                    \
    }
SCALAR_UNARY(exp_ref, expf(v))
SCALAR_UNARY(tanh_ref, tanhf(v))
SCALAR_UNARY(sigmoid_ref, sigmoidf(v))
SCALAR_UNARY(erf_ref, erff(v))
SCALAR_UNARY(silu_ref, v *sigmoidf(v))
SCALAR_UNARY(gelu_erf_ref, gelu_erff(v))
SCALAR_UNARY(gelu_tanh_ref, gelu_tanhf(v))

static void binary_ref(ember_binop op, float *y, const float *a, const float *b, float s, int64_t n) {
    for (int64_t i = 0; i < n; i++) y[i] = ember_scalar_binop(op, a[i], b ? b[i] : s);
}

static float sum_ref(const float *x, int64_t n) {
    double s = 0.0;
    for (int64_t i = 0; i < n; i++) s += x[i];
    return (float)s;
}

static float max_ref(const float *x, int64_t n) {
    float m = -INFINITY;
    for (int64_t i = 0; i < n; i++) m = x[i] > m || isnan(x[i]) ? x[i] : m;
    return m;
}

static float exp_sum_ref(float *y, const float *x, float shift, int64_t n) {
    float s = 0.0f;
    for (int64_t i = 0; i < n; i++) s += y[i] = expf(x[i] - shift);
    return s;
}

static float sum_sq_dev_ref(const float *x, int64_t n, float mean) {
    double s = 0.0;
    for (int64_t i = 0; i < n; i++) s += ((double)x[i] - mean) * ((double)x[i] - mean);
    return (float)s;
}

void ember_normalize_ref(float *y, const float *x, const float *scale, const float *bias, int64_t n,
                         float shift, float mul) {
    for (int64_t i = 0; i < n; i++) {
        float v = (x[i] - shift) * mul;
        if (scale) v *= scale[i];
        y[i] = bias ? v + bias[i] : v;
    }
}

/* --- f16 <-> f32 (scalar conversions live in core/tensor.c) --------------------------------------- */

static void f16_to_f32_ref(float *y, const uint16_t *x, int64_t n) {
    for (int64_t i = 0; i < n; i++) y[i] = ember_f16_to_f32(x[i]);
}

static void f32_to_f16_ref(uint16_t *y, const float *x, int64_t n) {
    for (int64_t i = 0; i < n; i++) y[i] = ember_f32_to_f16(x[i]);
}

/* --- depthwise block (generic) ------------------------------------------------------------------------- */

void ember_dw_block_ref(float *out, int64_t ldo, const float *const *taps, const float *w, int64_t ntaps,
                        int64_t ldi, int64_t rows, int64_t n, const ember_ukernel_post *post) {
    for (int64_t r = 0; r < rows; r++)
        for (int64_t x = 0; x < n; x++) {
            float acc = 0.0f;
            for (int64_t t = 0; t < ntaps; t++) acc += taps[t][r * ldi + x] * w[t];
            out[r * ldo + x] = post ? ember_post_row1(acc, post) : acc;
        }
}

/* Output (r, x) of ember_dw3_ref, post applied. */
static float dw3_at(const float *in, int64_t ldi, const float *above, const float *below, int64_t rows,
                    int64_t n, const float *w, const ember_ukernel_post *post, int64_t r, int64_t x) {
    const float *row[3] = {r ? in + (r - 1) * ldi : above, in + r * ldi,
                           r + 1 < rows ? in + (r + 1) * ldi : below};
    float acc = 0.0f;
    for (int ky = 0; ky < 3; ky++)
        for (int kx = 0; kx < 3; kx++) {
            int64_t i = x + kx - 1;
            acc += (i >= 0 && i < n ? row[ky][i] : 0.0f) * w[ky * 3 + kx]; /* padding: 0 * w, as copied */
        }
    return post ? ember_post_row1(acc, post) : acc;
}

void ember_dw3_ref(float *out, int64_t ldo, const float *in, int64_t ldi, const float *above,
                   const float *below, int64_t rows, int64_t n, const float *w,
                   const ember_ukernel_post *post) {
    for (int64_t r = 0; r < rows; r++)
        for (int64_t x = 0; x < n; x++)
            out[r * ldo + x] = dw3_at(in, ldi, above, below, rows, n, w, post, r, x);
}

void ember_dw3s2_ref(float *out, int64_t ldo, const float *in, int64_t ldi, const float *above,
                     int64_t in_rows, int64_t rows, int64_t n_in, int64_t n, const float *w,
                     const ember_ukernel_post *post) {
    for (int64_t r = 0; r < rows; r++)
        for (int64_t x = 0; x < n; x++) {
            float acc = 0.0f;
            for (int ky = 0; ky < 3; ky++) {
                int64_t i = 2 * r + ky - 1;
                const float *row = i < 0 ? above : i < in_rows ? in + i * ldi : NULL;
                for (int kx = 0; kx < 3; kx++) {
                    int64_t c = 2 * x + kx - 1;
                    acc += (row && c >= 0 && c < n_in ? row[c] : 0.0f) * w[ky * 3 + kx]; /* padding: 0 * w */
                }
            }
            out[r * ldo + x] = post ? ember_post_row1(acc, post) : acc;
        }
}

void ember_pool_row_ref(float *out, const float *const *rows, int64_t kh, int64_t kw, int64_t x0, int64_t x1,
                        int64_t sw, int64_t dw, int64_t pad_l, bool max, float div) {
    for (int64_t x = x0; x < x1; x++) {
        int64_t ix = x * sw - pad_l;
        float acc = max ? -INFINITY : 0.0f;
        for (int64_t ky = 0; ky < kh; ky++)
            for (int64_t kx = 0; kx < kw; kx++) {
                float v = rows[ky][ix + kx * dw];
                if (max)
                    acc = v > acc || isnan(v) ? v : acc;
                else
                    acc += v;
            }
        out[x] = max ? acc : acc / div;
    }
}

void ember_gather_ref(float *d, const float *src, int64_t n, int64_t stride) {
    for (int64_t j = 0; j < n; j++) d[j] = src[j * stride];
}

void ember_upsample_row_ref(float *d, const float *s, int64_t n, int64_t f) {
    for (int64_t i = 0; i < n; s++)
        for (int64_t r = 0; r < f && i < n; r++) d[i++] = *s;
}

void ember_deinterleave_rows_ref(float *d0, float *d1, int64_t ldd, const float *src, int64_t lds,
                                 int64_t rows, int64_t n0, int64_t n1) {
    for (int64_t r = 0; r < rows; r++) {
        ember_gather_ref(d0 + r * ldd, src + r * lds, n0, 2);
        ember_gather_ref(d1 + r * ldd, src + r * lds + 1, n1, 2);
    }
}

void ember_gather_rows_ref(float *d, int64_t ldd, const float *src, int64_t lds, int64_t rows, int64_t n,
                           int64_t stride) {
    for (int64_t r = 0; r < rows; r++) ember_gather_ref(d + r * ldd, src + r * lds, n, stride);
}

void ember_kernels_gemm_generic(ember_kernel_table *t); /* gemm.c */
static void epilogue_ref(const ember_epilogue *ep, float *c, int64_t ldc, int64_t row0, int64_t col0, int64_t m,
                         int64_t n);

void ember_kernels_init_generic(ember_kernel_table *t) {
    *t = (ember_kernel_table){
        .name = "generic",
        .exp = exp_ref,
        .tanh = tanh_ref,
        .sigmoid = sigmoid_ref,
        .erf = erf_ref,
        .silu = silu_ref,
        .gelu_erf = gelu_erf_ref,
        .gelu_tanh = gelu_tanh_ref,
        .epilogue = epilogue_ref,
        .binary = binary_ref,
        .dw_block = ember_dw_block_ref,
        .dw3 = ember_dw3_ref,
        .pool_row = ember_pool_row_ref,
        .upsample_row = ember_upsample_row_ref,
        .gather = ember_gather_ref,
        .gather_rows = ember_gather_rows_ref,
        .deinterleave_rows = ember_deinterleave_rows_ref,
        .conv_rows = ember_conv_rows_ref,
        .interleave_rows = ember_interleave_rows_ref,
        .dw_interleaved = ember_dw_interleaved_ref,
        .f16_to_f32 = f16_to_f32_ref,
        .f32_to_f16 = f32_to_f16_ref,
        .sum = sum_ref,
        .max = max_ref,
        .exp_sum = exp_sum_ref,
        .sum_sq_dev = sum_sq_dev_ref,
        .normalize = ember_normalize_ref,
    };
    ember_kernels_gemm_generic(t);
}

/* --- public entry points ----------------------------------------------------------------------------- */

void ember_vexp(float *y, const float *x, int64_t n) { ember_kernels()->exp(y, x, n); }
void ember_vtanh(float *y, const float *x, int64_t n) { ember_kernels()->tanh(y, x, n); }
void ember_vsigmoid(float *y, const float *x, int64_t n) { ember_kernels()->sigmoid(y, x, n); }
void ember_verf(float *y, const float *x, int64_t n) { ember_kernels()->erf(y, x, n); }
void ember_vsilu(float *y, const float *x, int64_t n) { ember_kernels()->silu(y, x, n); }
void ember_vgelu(float *y, const float *x, int64_t n, bool tanh_approx) {
    const ember_kernel_table *k = ember_kernels();
    (tanh_approx ? k->gelu_tanh : k->gelu_erf)(y, x, n);
}
void ember_vf16_to_f32(float *y, const uint16_t *x, int64_t n) { ember_kernels()->f16_to_f32(y, x, n); }
void ember_vf32_to_f16(uint16_t *y, const float *x, int64_t n) { ember_kernels()->f32_to_f16(y, x, n); }

/* Generic epilogue: the scalar definition, element by element. */
static void epilogue_ref(const ember_epilogue *ep, float *c, int64_t ldc, int64_t row0, int64_t col0, int64_t m,
                         int64_t n) {
    for (int64_t i = 0; i < m; i++) {
        float *row = c + i * ldc;
        const float *res = ep->residual ? ep->residual + (row0 + i) * ep->ldr + col0 : NULL;
        float rb = ep->bias && ep->bias_kind == EMBER_BIAS_ROW ? ep->bias[row0 + i] : 0.0f;
        const float *cb = ep->bias && ep->bias_kind == EMBER_BIAS_COL ? ep->bias + col0 : NULL;
        for (int64_t j = 0; j < n; j++) {
            float v = row[j] + (cb ? cb[j] : rb);
            if (res && !ep->residual_after_act) v += res[j];
            v = ember_scalar_act(ep->act, v);
            if (res && ep->residual_after_act) v += res[j];
            row[j] = v;
        }
    }
}

void ember_act_apply_k(const ember_kernel_table *k, ember_act act, float *y, const float *x, int64_t n) {
    if (y != x) memmove(y, x, (size_t)n * sizeof *y);
    if (act.kind == EMBER_ACT_NONE) return;
    ember_epilogue ep = {.act = ember_act_row(act, 0)};
    k->epilogue(&ep, y, n, 0, 0, 1, n);
}

void ember_act_apply(ember_act act, float *y, const float *x, int64_t n) {
    ember_act_apply_k(ember_kernels(), act, y, x, n);
}

void ember_epilogue_apply_k(const ember_kernel_table *k, const ember_epilogue *ep, float *c, int64_t ldc,
                            int64_t row0, int64_t col0, int64_t m, int64_t n) {
    if (!ep || (!ep->bias && !ep->residual && ep->act.kind == EMBER_ACT_NONE)) return;
    if (ep->act.kind == EMBER_ACT_PRELU) { /* row by row, each with its slope */
        ember_epilogue e = *ep;
        for (int64_t i = 0; i < m; i++) {
            e.act = ember_act_row(ep->act, row0 + i);
            k->epilogue(&e, c + i * ldc, ldc, row0 + i, col0, 1, n);
        }
        return;
    }
    k->epilogue(ep, c, ldc, row0, col0, m, n);
}

void ember_epilogue_apply(const ember_epilogue *ep, float *c, int64_t ldc, int64_t row0, int64_t col0,
                          int64_t m, int64_t n) {
    ember_epilogue_apply_k(ember_kernels(), ep, c, ldc, row0, col0, m, n);
}

void ember_vbinary(ember_binop op, float *y, const float *a, const float *b, int64_t n) {
    ember_kernels()->binary(op, y, a, b, 0.0f, n);
}

void ember_vbinary_scalar(ember_binop op, float *y, const float *a, float s, int64_t n) {
    ember_kernels()->binary(op, y, a, NULL, s, n);
}

typedef struct {
    ember_binop op;
    float *y;
    const float *x, *v;
    int64_t channels, inner;
} channel_job;

static void channel_rows(void *ctx, int64_t begin, int64_t end, int thread) {
    const channel_job *j = ctx;
    const ember_kernel_table *k = ember_kernels();
    for (int64_t r = begin; r < end; r++)
        k->binary(j->op, j->y + r * j->inner, j->x + r * j->inner, NULL, j->v[r % j->channels], j->inner);
}

void ember_vbinary_channel(ember_pool *pool, ember_binop op, float *y, const float *x, const float *v,
                           int64_t outer, int64_t channels, int64_t inner) {
    channel_job j = {op, y, x, v, channels, inner};
    int64_t grain = inner >= 4096 ? 1 : 4096 / (inner > 0 ? inner : 1);
    ember_pool_for(pool, outer * channels, grain, channel_rows, &j);
}
