/* Broadcasting binary ops (ONNX Add, Sub, Mul, Div, Mod, Pow, Max, Min, Sum, Mean, And, Or, Xor, Equal,
 * Greater, Less, GreaterOrEqual, LessOrEqual, BitShift, BitwiseAnd/Or/Xor, PRelu, Where), opsets 1-22.
 * Integer arithmetic wraps (computed unsigned); integer division by zero gives 0. f16/bf16 run via f32. */
#include "ops/op.h"

#pragma GCC diagnostic ignored "-Wtype-limits" /* generic code instantiated for unsigned types */

#include <stdint.h>

typedef enum binop {
    B_ADD, B_SUB, B_MUL, B_DIV, B_MAX, B_MIN, B_MOD, B_FMOD, B_EQ, B_GT, B_LT, B_GE, B_LE,
    B_AND, B_OR, B_XOR, B_SHL, B_SHR, B_BAND, B_BOR, B_BXOR, B_PRELU,
} binop;

typedef struct bin_job {
    binop op;
    void *y;
    const void *a, *b;
} bin_job;

/* A loop over a row, with the contiguous and scalar-b cases split out so they vectorise. */
#define ROW(T, OT, EXPR)                                                                                     \
    do {                                                                                                     \
        OT *y = (OT *)j->y + o;                                                                              \
        const T *A = (const T *)j->a + off[0], *B = (const T *)j->b + off[1];                                \
        int64_t sa = st[0], sb = st[1];                                                                      \
        if (sa == 1 && sb == 1) {                                                                            \
            for (int64_t i = 0; i < n; i++) { T a = A[i], b = B[i]; y[i] = (OT)(EXPR); }                     \
        } else if (sa == 1 && sb == 0) {                                                                     \
            T b = B[0];                                                                                      \
            for (int64_t i = 0; i < n; i++) { T a = A[i]; y[i] = (OT)(EXPR); }                               \
        } else {                                                                                             \
            for (int64_t i = 0; i < n; i++) { T a = A[i * sa], b = B[i * sb]; y[i] = (OT)(EXPR); }           \
        }                                                                                                    \
    } while (0)

#define CMP_CASES(T)                                                                                         \
    case B_EQ: ROW(T, uint8_t, a == b); break;                                                               \
    case B_GT: ROW(T, uint8_t, a > b); break;                                                                \
    case B_LT: ROW(T, uint8_t, a < b); break;                                                                \
    case B_GE: ROW(T, uint8_t, a >= b); break;                                                               \
    case B_LE: ROW(T, uint8_t, a <= b); break;

#define FLOAT_ROW(SUF, T)                                                                                    \
    static void row_##SUF(void *ctx, int64_t o, const int64_t *off, const int64_t *st, int64_t n) {          \
        const bin_job *j = ctx;                                                                              \
        switch (j->op) {                                                                                     \
        case B_ADD: ROW(T, T, a + b); break;                                                                 \
        case B_SUB: ROW(T, T, a - b); break;                                                                 \
        case B_MUL: ROW(T, T, a * b); break;                                                                 \
        case B_DIV: ROW(T, T, a / b); break;                                                                 \
        case B_MAX: ROW(T, T, (a > b || a != a) ? a : b); break;                                             \
        case B_MIN: ROW(T, T, (a < b || a != a) ? a : b); break;                                             \
        case B_FMOD: ROW(T, T, fmod(a, b)); break;                                                           \
        case B_MOD: ROW(T, T, b == 0 ? (T)NAN : fmod(a, b) + ((fmod(a, b) != 0 && ((fmod(a, b) < 0) != (b < 0))) ? b : 0)); break; \
        case B_PRELU: ROW(T, T, a < 0 ? a * b : a); break;                                                   \
        CMP_CASES(T)                                                                                         \
        default: break;                                                                                      \
        }                                                                                                    \
    }

#define IS_SIGNED(T) ((T)-1 < (T)0)
#define IDIV(T, a, b) ((b) == 0 ? (T)0 : (IS_SIGNED(T) && (b) == (T)-1) ? (T)(0 - (uint64_t)(a)) : (T)((a) / (b)))
#define IMOD(T, a, b) ((b) == 0 || (IS_SIGNED(T) && (b) == (T)-1) ? (T)0 : (T)((a) % (b)))
#define PYMOD(T, a, b) (IMOD(T, a, b) != 0 && ((IMOD(T, a, b) < 0) != ((b) < 0)) ? (T)(IMOD(T, a, b) + (b)) : IMOD(T, a, b))
#define SHIFT(T, a, b, OP) ((uint64_t)(b) >= sizeof(T) * 8 ? (T)0 : (T)((a)OP(b)))

#define INT_ROW(SUF, T)                                                                                      \
    static void row_##SUF(void *ctx, int64_t o, const int64_t *off, const int64_t *st, int64_t n) {          \
        const bin_job *j = ctx;                                                                              \
        switch (j->op) {                                                                                     \
        case B_ADD: ROW(T, T, (uint64_t)a + (uint64_t)b); break;                                             \
        case B_SUB: ROW(T, T, (uint64_t)a - (uint64_t)b); break;                                             \
        case B_MUL: ROW(T, T, (uint64_t)a * (uint64_t)b); break;                                             \
        case B_DIV: ROW(T, T, IDIV(T, a, b)); break;                                                         \
        case B_MAX: ROW(T, T, a > b ? a : b); break;                                                         \
        case B_MIN: ROW(T, T, a < b ? a : b); break;                                                         \
        case B_FMOD: ROW(T, T, IMOD(T, a, b)); break;                                                        \
        case B_MOD: ROW(T, T, PYMOD(T, a, b)); break;                                                        \
        case B_SHL: ROW(T, T, SHIFT(T, a, b, <<)); break;                                                    \
        case B_SHR: ROW(T, T, SHIFT(T, a, b, >>)); break;                                                    \
        case B_BAND: ROW(T, T, a & b); break;                                                                \
        case B_BOR: ROW(T, T, a | b); break;                                                                 \
        case B_BXOR: ROW(T, T, a ^ b); break;                                                                \
        case B_PRELU: ROW(T, T, a < 0 ? (T)((uint64_t)a * (uint64_t)b) : a); break;                          \
        case B_AND: ROW(T, uint8_t, a && b); break;                                                          \
        case B_OR: ROW(T, uint8_t, a || b); break;                                                           \
        case B_XOR: ROW(T, uint8_t, !a != !b); break;                                                        \
        CMP_CASES(T)                                                                                         \
        default: break;                                                                                      \
        }                                                                                                    \
    }

FLOAT_ROW(f32, float)
FLOAT_ROW(f64, double)
INT_ROW(i8, int8_t)
INT_ROW(u8, uint8_t)
INT_ROW(i16, int16_t)
INT_ROW(u16, uint16_t)
INT_ROW(i32, int32_t)
INT_ROW(u32, uint32_t)
INT_ROW(i64, int64_t)
INT_ROW(u64, uint64_t)

/* f32 rows on the kernels' vector loops where one fits (contiguous, or one side a broadcast scalar). */
static void row_f32_fast(void *ctx, int64_t o, const int64_t *off, const int64_t *st, int64_t n) {
    const bin_job *j = ctx;
    float *y = (float *)j->y + o;
    const float *A = (const float *)j->a + off[0], *B = (const float *)j->b + off[1];
    bool arith = j->op == B_ADD || j->op == B_SUB || j->op == B_MUL || j->op == B_DIV;
    ember_binop kop = j->op == B_ADD ? EMBER_BINOP_ADD : j->op == B_SUB ? EMBER_BINOP_SUB
                    : j->op == B_MUL ? EMBER_BINOP_MUL : EMBER_BINOP_DIV;
    if (arith && st[0] == 1 && st[1] == 1) ember_vbinary(kop, y, A, B, n);
    else if (arith && st[0] == 1 && st[1] == 0) ember_vbinary_scalar(kop, y, A, B[0], n);
    else if ((j->op == B_ADD || j->op == B_MUL) && st[0] == 0 && st[1] == 1) ember_vbinary_scalar(kop, y, B, A[0], n);
    else if (j->op == B_PRELU && st[0] == 1 && st[1] == 0) /* PRelu with one slope per row: LeakyRelu */
        ember_act_apply((ember_act){EMBER_ACT_LEAKY_RELU, B[0], 0, NULL}, y, A, n);
    else
        row_f32(ctx, o, off, st, n);
}

static eo_row_fn row_for(ember_dtype t) {
    switch (t) {
    case EMBER_DTYPE_F32: return eo_reference() ? row_f32 : row_f32_fast;
    case EMBER_DTYPE_F64: return row_f64;
    case EMBER_DTYPE_I8: return row_i8;
    case EMBER_DTYPE_U8: case EMBER_DTYPE_BOOL: return row_u8;
    case EMBER_DTYPE_I16: return row_i16;
    case EMBER_DTYPE_U16: return row_u16;
    case EMBER_DTYPE_I32: return row_i32;
    case EMBER_DTYPE_U32: return row_u32;
    case EMBER_DTYPE_I64: return row_i64;
    case EMBER_DTYPE_U64: return row_u64;
    default: return NULL;
    }
}

/* y = a (op) b with broadcasting; y may alias a when a has y's shape. */
static ember_status apply(eo_ctx *c, binop op, const ember_tensor *a, const ember_tensor *b, ember_tensor *y) {
    if (a->dtype != b->dtype)
        return ember_fail(EMBER_ERR_SHAPE, "input types differ: %s and %s", ember_dtype_name(a->dtype), ember_dtype_name(b->dtype));
    eo_row_fn fn = row_for(a->dtype);
    if (!fn) return ember_fail(EMBER_ERR_UNSUPPORTED, "element type %s is not supported", ember_dtype_name(a->dtype));
    eo_bcast bc;
    const ember_tensor *ins[2] = {a, b};
    ember_status s = eo_bcast_init(&bc, 2, ins, y->ndim, y->shape);
    if (s) return s;
    bin_job j = {op, y->data, a->data, b->data};
    eo_bcast_run(&bc, c->pool, fn, &j);
    return EMBER_OK;
}

static ember_status run_binary(eo_ctx *c, binop op) {
    return apply(c, op, eo_in(c, 0), eo_in(c, 1), eo_out(c, 0));
}

#define HALF_WRAP(fn)                                                                                        \
    if (eo_is_half(eo_dtype(c, 0))) return eo_run_as_f32(c, fn)

ember_status add_run(eo_ctx *c) { HALF_WRAP(add_run); return run_binary(c, B_ADD); }
ember_status sub_run(eo_ctx *c) { HALF_WRAP(sub_run); return run_binary(c, B_SUB); }
ember_status mul_run(eo_ctx *c) { HALF_WRAP(mul_run); return run_binary(c, B_MUL); }
ember_status div_run(eo_ctx *c) { HALF_WRAP(div_run); return run_binary(c, B_DIV); }
ember_status mod_run(eo_ctx *c) {
    HALF_WRAP(mod_run);
    return run_binary(c, eo_attr_int(c, "fmod", 0) ? B_FMOD : B_MOD);
}
ember_status equal_run(eo_ctx *c) {
    if (eo_dtype(c, 0) == EMBER_DTYPE_STRING) {
        const ember_tensor *a = eo_in(c, 0), *b = eo_in(c, 1);
        ember_tensor *y = eo_out(c, 0);
        eo_bcast bc;
        const ember_tensor *ins[2] = {a, b};
        ember_status s = eo_bcast_init(&bc, 2, ins, y->ndim, y->shape);
        if (s) return s;
        /* strings: walk the output with the broadcast index arithmetic done per element */
        int64_t n = ember_tensor_count(y), idx[EMBER_MAX_DIMS] = {0};
        for (int64_t i = 0; i < n; i++) {
            int64_t oa = 0, ob = 0;
            for (int d = 0; d < bc.ndim; d++) oa += idx[d] * bc.stride[0][d], ob += idx[d] * bc.stride[1][d];
            ((uint8_t *)y->data)[i] = !strcmp(((char **)a->data)[oa], ((char **)b->data)[ob]);
            for (int d = bc.ndim - 1; d >= 0 && ++idx[d] == bc.shape[d]; d--) idx[d] = 0;
        }
        return EMBER_OK;
    }
    HALF_WRAP(equal_run);
    return run_binary(c, B_EQ);
}
ember_status greater_run(eo_ctx *c) { HALF_WRAP(greater_run); return run_binary(c, B_GT); }
ember_status less_run(eo_ctx *c) { HALF_WRAP(less_run); return run_binary(c, B_LT); }
ember_status greater_equal_run(eo_ctx *c) { HALF_WRAP(greater_equal_run); return run_binary(c, B_GE); }
ember_status less_equal_run(eo_ctx *c) { HALF_WRAP(less_equal_run); return run_binary(c, B_LE); }
ember_status and_run(eo_ctx *c) { return run_binary(c, B_AND); }
ember_status or_run(eo_ctx *c) { return run_binary(c, B_OR); }
ember_status xor_run(eo_ctx *c) { return run_binary(c, B_XOR); }
ember_status bitwise_and_run(eo_ctx *c) { return run_binary(c, B_BAND); }
ember_status bitwise_or_run(eo_ctx *c) { return run_binary(c, B_BOR); }
ember_status bitwise_xor_run(eo_ctx *c) { return run_binary(c, B_BXOR); }
ember_status bitshift_run(eo_ctx *c) {
    const char *dir = eo_attr_str(c, "direction", "");
    if (strcmp(dir, "LEFT") && strcmp(dir, "RIGHT"))
        return ember_fail(EMBER_ERR_FORMAT, "BitShift direction must be LEFT or RIGHT, not '%s'", dir);
    return run_binary(c, !strcmp(dir, "LEFT") ? B_SHL : B_SHR);
}
ember_status prelu_run(eo_ctx *c) { HALF_WRAP(prelu_run); return run_binary(c, B_PRELU); }

/* Pow: base and exponent may have different types; computed in double. */
typedef struct pow_job {
    const ember_tensor *a, *b;
    ember_tensor *y;
} pow_job;

static void pow_row(void *ctx, int64_t o, const int64_t *off, const int64_t *st, int64_t n) {
    const pow_job *j = ctx;
    for (int64_t i = 0; i < n; i++) {
        double a = eo_get(j->a, off[0] + i * st[0]), b = eo_get(j->b, off[1] + i * st[1]);
        eo_put(j->y, o + i, pow(a, b));
    }
}

ember_status pow_run(eo_ctx *c) {
    const ember_tensor *a = eo_in(c, 0), *b = eo_in(c, 1);
    ember_tensor *y = eo_out(c, 0);
    if (a->dtype == EMBER_DTYPE_F32 && ember_tensor_count(b) == 1 && ember_tensor_count(a) == ember_tensor_count(y) &&
        !eo_reference()) { /* x^2 (variance in decomposed LayerNorm), x^1, x^0.5 in f32 */
        double e = eo_get(b, 0);
        int64_t n = ember_tensor_count(a);
        const float *x = a->data;
        float *o = y->data;
        if (e == 2) return ember_vbinary(EMBER_BINOP_MUL, o, x, x, n), EMBER_OK;
        if (e == 1) return memmove(o, x, sizeof(float) * (size_t)n), EMBER_OK;
        if (e == 0.5) {
            for (int64_t i = 0; i < n; i++) o[i] = sqrtf(x[i]);
            return EMBER_OK;
        }
    }
    pow_job j = {a, b, y};
    eo_bcast bc;
    const ember_tensor *ins[2] = {a, b};
    ember_status s = eo_bcast_init(&bc, 2, ins, y->ndim, y->shape);
    if (s) return s;
    eo_bcast_run(&bc, c->pool, pow_row, &j);
    return EMBER_OK;
}

/* Variadic Max, Min, Sum, Mean: fold the inputs into the output one at a time. */
static ember_status run_variadic(eo_ctx *c, binop op, bool mean) {
    ember_tensor *y = eo_out(c, 0);
    const ember_tensor *first = eo_in(c, 0);
    if (!first) return ember_fail(EMBER_ERR_SHAPE, "at least one input is required");
    /* y = broadcast(first): y = first + 0 is not type-generic; copy with the broadcast machinery instead */
    eo_bcast bc;
    const ember_tensor *ins[1] = {first};
    ember_status s = eo_bcast_init(&bc, 1, ins, y->ndim, y->shape);
    if (s) return s;
    size_t es = eo_esize(first->dtype);
    int64_t n = ember_tensor_count(y), idx[EMBER_MAX_DIMS] = {0};
    for (int64_t i = 0; i < n; i++) {
        int64_t oa = 0;
        for (int d = 0; d < bc.ndim; d++) oa += idx[d] * bc.stride[0][d];
        memcpy((char *)y->data + i * (int64_t)es, (const char *)first->data + oa * (int64_t)es, es);
        for (int d = bc.ndim - 1; d >= 0 && ++idx[d] == bc.shape[d]; d--) idx[d] = 0;
    }
    for (int k = 1; k < c->nin && !s; k++)
        if (eo_has(c, k)) s = apply(c, op, y, eo_in(c, k), y);
    if (!s && mean) {
        for (int64_t i = 0; i < n; i++) eo_put(y, i, eo_get(y, i) / c->nin);
    }
    return s;
}

ember_status max_run(eo_ctx *c) { HALF_WRAP(max_run); return run_variadic(c, B_MAX, false); }
ember_status min_run(eo_ctx *c) { HALF_WRAP(min_run); return run_variadic(c, B_MIN, false); }
ember_status sum_run(eo_ctx *c) { HALF_WRAP(sum_run); return run_variadic(c, B_ADD, false); }
ember_status mean_run(eo_ctx *c) { HALF_WRAP(mean_run); return run_variadic(c, B_ADD, true); }

/* Where(cond, x, y) */
typedef struct where_job {
    const uint8_t *cond;
    const char *x, *y;
    char *out;
    size_t es;
} where_job;

static void where_row(void *ctx, int64_t o, const int64_t *off, const int64_t *st, int64_t n) {
    const where_job *j = ctx;
    for (int64_t i = 0; i < n; i++) {
        bool c = j->cond[off[0] + i * st[0]];
        const char *src = c ? j->x + (off[1] + i * st[1]) * (int64_t)j->es : j->y + (off[2] + i * st[2]) * (int64_t)j->es;
        memcpy(j->out + (o + i) * (int64_t)j->es, src, j->es);
    }
}

ember_status where_infer(eo_ctx *c) {
    int ndim;
    int64_t shape[EMBER_MAX_DIMS];
    ember_status s = eo_bcast_shape(c, 0, 3, &ndim, shape);
    if (s) return s;
    return eo_set_out(c, 0, eo_dtype(c, 1), ndim, shape);
}

ember_status where_run(eo_ctx *c) {
    const ember_tensor *cond = eo_in(c, 0), *x = eo_in(c, 1), *yv = eo_in(c, 2);
    ember_tensor *out = eo_out(c, 0);
    eo_bcast bc;
    const ember_tensor *ins[3] = {cond, x, yv};
    ember_status s = eo_bcast_init(&bc, 3, ins, out->ndim, out->shape);
    if (s) return s;
    where_job j = {cond->data, x->data, yv->data, out->data, eo_esize(x->dtype)};
    if (x->dtype == EMBER_DTYPE_STRING) {
        int64_t n = ember_tensor_count(out), idx[EMBER_MAX_DIMS] = {0};
        for (int64_t i = 0; i < n && !s; i++) {
            int64_t of[3] = {0, 0, 0};
            for (int d = 0; d < bc.ndim; d++)
                for (int k = 0; k < 3; k++) of[k] += idx[d] * bc.stride[k][d];
            const char *src = j.cond[of[0]] ? ((char **)x->data)[of[1]] : ((char **)yv->data)[of[2]];
            s = ember_tensor_set_string(out, i, src, strlen(src));
            for (int d = bc.ndim - 1; d >= 0 && ++idx[d] == bc.shape[d]; d--) idx[d] = 0;
        }
        return s;
    }
    eo_bcast_run(&bc, c->pool, where_row, &j);
    return EMBER_OK;
}
