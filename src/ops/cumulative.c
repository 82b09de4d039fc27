/* Running totals along an axis: ONNX CumSum (11-14), CumProd (26). Attributes exclusive and reverse.
 * Floats accumulate in double, int64/uint64 in 64-bit integers (wrapping like the reference). */
#include "ops/op.h"

ember_status cumulative_infer(eo_ctx *c) {
    ember_status chk = eo_check_inputs(c, 2);
    if (chk) return chk;
    const ember_tensor *x = eo_in(c, 0), *ax = eo_in(c, 1);
    if (ember_tensor_count(ax) != 1)
        return ember_fail(EMBER_ERR_SHAPE, "%s: axis must be a scalar", c->node->op_type);
    if (ax->dtype != EMBER_DTYPE_I32 && ax->dtype != EMBER_DTYPE_I64)
        return ember_fail(EMBER_ERR_SHAPE, "%s: axis must be int32 or int64", c->node->op_type);
    if (x->dtype == EMBER_DTYPE_STRING || x->dtype == EMBER_DTYPE_BOOL)
        return ember_fail(EMBER_ERR_UNSUPPORTED, "%s of %s", c->node->op_type, ember_dtype_name(x->dtype));
    return eo_set_out_like(c, 0, 0);
}

static ember_status cumulative(eo_ctx *c, bool prod) {
    const ember_tensor *x = eo_in(c, 0);
    ember_tensor *y = eo_out(c, 0);
    int64_t a;
    int n, axis;
    ember_status s = eo_in_ints(c, 1, &a, 1, &n);
    if (s || (s = eo_axis(a, x->ndim, &axis))) return s;
    bool excl = eo_attr_int(c, "exclusive", 0) != 0, rev = eo_attr_int(c, "reverse", 0) != 0;
    int64_t outer = 1, inner = 1, dim = x->ndim ? x->shape[axis] : 1;
    for (int d = 0; d < axis; d++) outer *= x->shape[d];
    for (int d = axis + 1; d < x->ndim; d++) inner *= x->shape[d];
    bool wide = x->dtype == EMBER_DTYPE_I64 || x->dtype == EMBER_DTYPE_U64;
    for (int64_t o = 0; o < outer; o++)
        for (int64_t i = 0; i < inner; i++) {
            double acc = prod ? 1 : 0;
            uint64_t iacc = prod ? 1 : 0;
            for (int64_t t = 0; t < dim; t++) {
                int64_t k = rev ? dim - 1 - t : t, e = (o * dim + k) * inner + i;
                if (wide) {
                    uint64_t v = ((const uint64_t *)x->data)[e];
                    if (!excl) iacc = prod ? iacc * v : iacc + v;
                    ((uint64_t *)y->data)[e] = iacc;
                    if (excl) iacc = prod ? iacc * v : iacc + v;
                } else {
                    double v = eo_get(x, e);
                    if (!excl) acc = prod ? acc * v : acc + v;
                    eo_put(y, e, acc);
                    if (excl) acc = prod ? acc * v : acc + v;
                }
            }
        }
    return EMBER_OK;
}

ember_status cumsum_run(eo_ctx *c) {
    return cumulative(c, false);
}
ember_status cumprod_run(eo_ctx *c) {
    return cumulative(c, true);
}
