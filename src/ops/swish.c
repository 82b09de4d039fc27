/* Swish (opset 24: x * sigmoid(alpha * x)) and SwiGLU (opset 28: swish(a) * b, numpy broadcasting).
 * Kept apart from unary.c/binary.c (tuned kernels): scalar reference in double; f16/bf16 via f32. */
#include "ops/op.h"

static inline double swish(double x, double alpha) { return x / (1.0 + exp(-alpha * x)); }

ember_status swish_run(eo_ctx *c) {
    const ember_tensor *x = eo_in(c, 0);
    ember_tensor *y = eo_out(c, 0);
    if (!ember_dtype_is_float(x->dtype) || eo_dtype_is_small(x->dtype))
        return ember_fail(EMBER_ERR_UNSUPPORTED, "Swish of %s", ember_dtype_name(x->dtype));
    double alpha = eo_attr_float(c, "alpha", 1.0f);
    int64_t n = ember_tensor_count(x);
    for (int64_t i = 0; i < n; i++) eo_put(y, i, swish(eo_get(x, i), alpha));
    return EMBER_OK;
}

/* Offset into t (broadcast to y's shape) of y's element with these coordinates. */
static int64_t bcast_off(const ember_tensor *t, const ember_tensor *y, const int64_t *idx) {
    int64_t off = 0, mul = 1;
    for (int d = y->ndim - 1, e = t->ndim - 1; e >= 0; d--, e--) {
        if (t->shape[e] != 1) off += idx[d] * mul;
        mul *= t->shape[e];
    }
    return off;
}

ember_status swiglu_run(eo_ctx *c) {
    const ember_tensor *a = eo_in(c, 0), *b = eo_in(c, 1);
    ember_tensor *y = eo_out(c, 0);
    if (!b) return ember_fail(EMBER_ERR_SHAPE, "SwiGLU needs two inputs");
    if (!ember_dtype_is_float(a->dtype) || eo_dtype_is_small(a->dtype) || b->dtype != a->dtype)
        return ember_fail(EMBER_ERR_UNSUPPORTED, "SwiGLU of %s and %s", ember_dtype_name(a->dtype), ember_dtype_name(b->dtype));
    double alpha = eo_attr_float(c, "alpha", 1.0f);
    int64_t n = ember_tensor_count(y), idx[EMBER_MAX_DIMS] = {0};
    for (int64_t i = 0; i < n; i++) {
        eo_put(y, i, swish(eo_get(a, bcast_off(a, y, idx)), alpha) * eo_get(b, bcast_off(b, y, idx)));
        for (int d = y->ndim - 1; d >= 0 && ++idx[d] == y->shape[d]; d--) idx[d] = 0;
    }
    return EMBER_OK;
}
