/* Elementwise unary ops (ONNX Abs, Neg, Sign, Relu, Sigmoid, Tanh, Exp, Log, Sqrt, Reciprocal, Floor,
 * Ceil, Round, trig and hyperbolic functions, Erf, Softplus, Softsign, Elu, Selu, LeakyRelu, HardSigmoid,
 * HardSwish, ThresholdedRelu, Celu, Mish, Gelu, Shrink, Clip, IsNaN, IsInf, Not, BitwiseNot), opsets 1-22.
 * Float math runs in the element type (f16/bf16 via f32); integer Abs/Neg/Sign/Relu/Clip are exact. */
#include "ops/op.h"

#pragma GCC diagnostic ignored "-Wtype-limits" /* generic code instantiated for unsigned types */

typedef enum unop {
    U_ABS, U_NEG, U_SIGN, U_RELU, U_SIGMOID, U_TANH, U_EXP, U_LOG, U_SQRT, U_RECIP, U_FLOOR, U_CEIL, U_ROUND,
    U_SIN, U_COS, U_TAN, U_ASIN, U_ACOS, U_ATAN, U_SINH, U_COSH, U_ASINH, U_ACOSH, U_ATANH, U_ERF, U_SOFTPLUS,
    U_SOFTSIGN, U_ELU, U_SELU, U_LEAKY, U_HSIGMOID, U_HSWISH, U_TRELU, U_CELU, U_MISH, U_GELU, U_GELU_TANH,
    U_SHRINK, U_CLIP,
} unop;

typedef struct un_job {
    unop op;
    double alpha, beta, gamma;
    const void *x;
    void *y;
    ember_dtype t;
} un_job;

static double f_softplus(double x) { return x > 30 ? x : log1p(exp(x)); }

static inline double un_apply(const un_job *j, double x) {
    switch (j->op) {
    case U_ABS: return fabs(x);
    case U_NEG: return -x;
    case U_SIGN: return x > 0 ? 1 : x < 0 ? -1 : x == 0 ? 0 : x;
    case U_RELU: return x > 0 ? x : (x != x ? x : 0);
    case U_SIGMOID: return x >= 0 ? 1 / (1 + exp(-x)) : exp(x) / (1 + exp(x));
    case U_TANH: return tanh(x);
    case U_EXP: return exp(x);
    case U_LOG: return log(x);
    case U_SQRT: return sqrt(x);
    case U_RECIP: return 1 / x;
    case U_FLOOR: return floor(x);
    case U_CEIL: return ceil(x);
    case U_ROUND: return nearbyint(x); /* ties to even (default rounding mode) */
    case U_SIN: return sin(x);
    case U_COS: return cos(x);
    case U_TAN: return tan(x);
    case U_ASIN: return asin(x);
    case U_ACOS: return acos(x);
    case U_ATAN: return atan(x);
    case U_SINH: return sinh(x);
    case U_COSH: return cosh(x);
    case U_ASINH: return asinh(x);
    case U_ACOSH: return acosh(x);
    case U_ATANH: return atanh(x);
    case U_ERF: return erf(x);
    case U_SOFTPLUS: return f_softplus(x);
    case U_SOFTSIGN: return x / (1 + fabs(x));
    case U_ELU: return x < 0 ? j->alpha * (exp(x) - 1) : x;
    case U_SELU: return x <= 0 ? j->gamma * (j->alpha * exp(x) - j->alpha) : j->gamma * x;
    case U_LEAKY: return x < 0 ? j->alpha * x : x;
    case U_HSIGMOID: return fmax(0, fmin(1, j->alpha * x + j->beta));
    case U_HSWISH: return x * fmax(0, fmin(1, x / 6 + 0.5));
    case U_TRELU: return x > j->alpha ? x : 0;
    case U_CELU: return fmax(0, x) + fmin(0, j->alpha * (exp(x / j->alpha) - 1));
    case U_MISH: return x * tanh(f_softplus(x));
    case U_GELU: return 0.5 * x * (1 + erf(x / sqrt(2.0)));
    case U_GELU_TANH: return 0.5 * x * (1 + tanh(sqrt(2 / M_PI) * (x + 0.044715 * x * x * x)));
    case U_SHRINK: return x < -j->alpha ? x + j->beta : x > j->alpha ? x - j->beta : 0;
    case U_CLIP: return x != x ? x : fmin(fmax(x, j->alpha), j->beta);
    }
    return x;
}

/* The kernels' vector math for the hot f32 ops (false: no kernel for this op). */
static bool un_f32_fast(const un_job *j, float *y, const float *x, int64_t n) {
    switch (j->op) {
    case U_SIGMOID: ember_vsigmoid(y, x, n); return true;
    case U_TANH: ember_vtanh(y, x, n); return true;
    case U_EXP: ember_vexp(y, x, n); return true;
    case U_ERF: ember_verf(y, x, n); return true;
    case U_GELU: ember_vgelu(y, x, n, false); return true;
    case U_GELU_TANH: ember_vgelu(y, x, n, true); return true;
    case U_HSWISH: ember_act_apply((ember_act){EMBER_ACT_HARD_SWISH, 0, 0, NULL}, y, x, n); return true;
    case U_HSIGMOID:
        ember_act_apply((ember_act){EMBER_ACT_HARD_SIGMOID, (float)j->alpha, (float)j->beta, NULL}, y, x, n);
        return true;
    default: return false;
    }
}

static void un_f32(void *ctx, int64_t begin, int64_t end, int thread) {
    const un_job *j = ctx;
    const float *x = j->x;
    float *y = j->y;
    if (!eo_reference() && un_f32_fast(j, y + begin, x + begin, end - begin)) return;
    switch (j->op) { /* hot ones in f32 arithmetic */
    case U_RELU: for (int64_t i = begin; i < end; i++) y[i] = x[i] > 0 ? x[i] : (x[i] != x[i] ? x[i] : 0); return;
    case U_CLIP: {
        float lo = (float)j->alpha, hi = (float)j->beta;
        for (int64_t i = begin; i < end; i++) {
            float v = x[i] < lo ? lo : x[i];
            y[i] = v > hi ? hi : v;
        }
        return;
    }
    case U_LEAKY: {
        float a = (float)j->alpha;
        for (int64_t i = begin; i < end; i++) y[i] = x[i] < 0 ? a * x[i] : x[i];
        return;
    }
    case U_SIGMOID: for (int64_t i = begin; i < end; i++) y[i] = 1.0f / (1.0f + expf(-x[i])); return;
    case U_TANH: for (int64_t i = begin; i < end; i++) y[i] = tanhf(x[i]); return;
    case U_EXP: for (int64_t i = begin; i < end; i++) y[i] = expf(x[i]); return;
    case U_NEG: for (int64_t i = begin; i < end; i++) y[i] = -x[i]; return;
    case U_ABS: for (int64_t i = begin; i < end; i++) y[i] = fabsf(x[i]); return;
    case U_SQRT: for (int64_t i = begin; i < end; i++) y[i] = sqrtf(x[i]); return;
    default: for (int64_t i = begin; i < end; i++) y[i] = (float)un_apply(j, x[i]); return;
    }
    (void)thread;
}

static void un_f64(void *ctx, int64_t begin, int64_t end, int thread) {
    const un_job *j = ctx;
    const double *x = j->x;
    double *y = j->y;
    for (int64_t i = begin; i < end; i++) y[i] = un_apply(j, x[i]);
    (void)thread;
}

/* Integer ops that stay exact. */
#define INT_UNARY(T)                                                                                         \
    for (int64_t i = 0; i < n; i++) {                                                                        \
        T v = ((const T *)j->x)[i], r;                                                                       \
        switch (j->op) {                                                                                     \
        case U_ABS: r = v < 0 ? (T)(0 - (uint64_t)v) : v; break;                                             \
        case U_NEG: r = (T)(0 - (uint64_t)v); break;                                                         \
        case U_SIGN: r = (T)(v > 0 ? 1 : v < 0 ? -1 : 0); break;                                             \
        case U_RELU: r = v > 0 ? v : 0; break;                                                               \
        case U_CLIP: r = (double)v < j->alpha ? (T)j->alpha : v; r = (double)r > j->beta ? (T)j->beta : r; break; \
        default: return ember_fail(EMBER_ERR_UNSUPPORTED, "this op does not take integers");                 \
        }                                                                                                    \
        ((T *)j->y)[i] = r;                                                                                  \
    }                                                                                                        \
    return EMBER_OK;

static ember_status un_int(const un_job *j, int64_t n) {
    switch (j->t) {
    case EMBER_DTYPE_I8: INT_UNARY(int8_t)
    case EMBER_DTYPE_U8: INT_UNARY(uint8_t)
    case EMBER_DTYPE_I16: INT_UNARY(int16_t)
    case EMBER_DTYPE_U16: INT_UNARY(uint16_t)
    case EMBER_DTYPE_I32: INT_UNARY(int32_t)
    case EMBER_DTYPE_U32: INT_UNARY(uint32_t)
    case EMBER_DTYPE_I64: INT_UNARY(int64_t)
    case EMBER_DTYPE_U64: INT_UNARY(uint64_t)
    default: return ember_fail(EMBER_ERR_UNSUPPORTED, "element type %s is not supported", ember_dtype_name(j->t));
    }
}

static ember_status run_unary(eo_ctx *c, ember_status (*self)(eo_ctx *), un_job j) {
    const ember_tensor *x = eo_in(c, 0);
    ember_tensor *y = eo_out(c, 0);
    if (eo_is_half(x->dtype)) return eo_run_as_f32(c, self);
    j.x = x->data;
    j.y = y->data;
    j.t = x->dtype;
    int64_t n = ember_tensor_count(x);
    if (x->dtype == EMBER_DTYPE_F32) ember_pool_for(n > 16384 ? c->pool : NULL, n, 4096, un_f32, &j);
    else if (x->dtype == EMBER_DTYPE_F64) un_f64(&j, 0, n, 0);
    else return un_int(&j, n);
    return EMBER_OK;
}

#define UNARY(name, OP)                                                                                      \
    ember_status name##_run(eo_ctx *c) { return run_unary(c, name##_run, (un_job){.op = OP}); }
UNARY(abs, U_ABS)
UNARY(neg, U_NEG)
UNARY(sign, U_SIGN)
UNARY(relu, U_RELU)
UNARY(sigmoid, U_SIGMOID)
UNARY(tanh, U_TANH)
UNARY(exp, U_EXP)
UNARY(log, U_LOG)
UNARY(sqrt, U_SQRT)
UNARY(reciprocal, U_RECIP)
UNARY(floor, U_FLOOR)
UNARY(ceil, U_CEIL)
UNARY(round, U_ROUND)
UNARY(sin, U_SIN)
UNARY(cos, U_COS)
UNARY(tan, U_TAN)
UNARY(asin, U_ASIN)
UNARY(acos, U_ACOS)
UNARY(atan, U_ATAN)
UNARY(sinh, U_SINH)
UNARY(cosh, U_COSH)
UNARY(asinh, U_ASINH)
UNARY(acosh, U_ACOSH)
UNARY(atanh, U_ATANH)
UNARY(erf, U_ERF)
UNARY(softplus, U_SOFTPLUS)
UNARY(softsign, U_SOFTSIGN)
UNARY(hardswish, U_HSWISH)
UNARY(mish, U_MISH)

#define UNARY_A(name, OP, A, B, G)                                                                           \
    ember_status name##_run(eo_ctx *c) {                                                                     \
        return run_unary(c, name##_run, (un_job){.op = OP, .alpha = A, .beta = B, .gamma = G});              \
    }
UNARY_A(elu, U_ELU, eo_attr_float(c, "alpha", 1.0f), 0, 0)
UNARY_A(selu, U_SELU, eo_attr_float(c, "alpha", 1.67326319217681884765625f), 0,
        eo_attr_float(c, "gamma", 1.05070102214813232421875f))
UNARY_A(leaky_relu, U_LEAKY, eo_attr_float(c, "alpha", 0.01f), 0, 0)
UNARY_A(hard_sigmoid, U_HSIGMOID, eo_attr_float(c, "alpha", 0.2f), eo_attr_float(c, "beta", 0.5f), 0)
UNARY_A(thresholded_relu, U_TRELU, eo_attr_float(c, "alpha", 1.0f), 0, 0)
UNARY_A(celu, U_CELU, eo_attr_float(c, "alpha", 1.0f), 0, 0)
UNARY_A(shrink, U_SHRINK, eo_attr_float(c, "lambd", 0.5f), eo_attr_float(c, "bias", 0.0f), 0)

ember_status gelu_run(eo_ctx *c) {
    bool approx = !strcmp(eo_attr_str(c, "approximate", "none"), "tanh");
    return run_unary(c, gelu_run, (un_job){.op = approx ? U_GELU_TANH : U_GELU});
}

/* Clip: bounds from attributes (opset < 11) or optional inputs 1 and 2. */
ember_status clip_run(eo_ctx *c) {
    double lo = -INFINITY, hi = INFINITY;
    ember_dtype t = eo_dtype(c, 0);
    if (ember_dtype_is_int(t)) {
        lo = -1e300;
        hi = 1e300;
    }
    if (c->opset < 11) {
        lo = eo_attr_float(c, "min", -INFINITY);
        hi = eo_attr_float(c, "max", INFINITY);
    } else {
        ember_status s;
        if (eo_has(c, 1) && (s = eo_in_scalar(c, 1, &lo))) return s;
        if (eo_has(c, 2) && (s = eo_in_scalar(c, 2, &hi))) return s;
    }
    return run_unary(c, clip_run, (un_job){.op = U_CLIP, .alpha = lo, .beta = hi});
}

/* Bool-valued tests and logical/bitwise not. */
ember_status isnan_run(eo_ctx *c) {
    const ember_tensor *x = eo_in(c, 0);
    ember_tensor *y = eo_out(c, 0);
    int64_t n = ember_tensor_count(x);
    for (int64_t i = 0; i < n; i++) ((uint8_t *)y->data)[i] = isnan(eo_get(x, i));
    return EMBER_OK;
}

ember_status isinf_run(eo_ctx *c) {
    const ember_tensor *x = eo_in(c, 0);
    ember_tensor *y = eo_out(c, 0);
    bool pos = eo_attr_int(c, "detect_positive", 1), neg = eo_attr_int(c, "detect_negative", 1);
    int64_t n = ember_tensor_count(x);
    for (int64_t i = 0; i < n; i++) {
        double v = eo_get(x, i);
        ((uint8_t *)y->data)[i] = isinf(v) && ((v > 0 && pos) || (v < 0 && neg));
    }
    return EMBER_OK;
}

ember_status bool_infer(eo_ctx *c) {
    const ember_tensor *x = eo_in(c, 0);
    return eo_set_out(c, 0, EMBER_DTYPE_BOOL, x->ndim, x->shape);
}

ember_status not_run(eo_ctx *c) {
    const ember_tensor *x = eo_in(c, 0);
    ember_tensor *y = eo_out(c, 0);
    int64_t n = ember_tensor_count(x);
    for (int64_t i = 0; i < n; i++) ((uint8_t *)y->data)[i] = !((const uint8_t *)x->data)[i];
    return EMBER_OK;
}

ember_status bitwise_not_run(eo_ctx *c) {
    const ember_tensor *x = eo_in(c, 0);
    ember_tensor *y = eo_out(c, 0);
    const uint8_t *a = x->data;
    uint8_t *b = y->data;
    for (size_t i = 0; i < x->nbytes; i++) b[i] = (uint8_t)~a[i];
    return EMBER_OK;
}
