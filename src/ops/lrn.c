/* LRN: ONNX local response normalization across channels (opsets 1-13): y = x / (bias + alpha/size *
 * sum of x^2 over the window [c - floor((size-1)/2), c + ceil((size-1)/2)])^beta. Scalar reference. */
#include "ops/op.h"

ember_status lrn_infer(eo_ctx *c) {
    ember_status s = eo_check_inputs(c, 1);
    return s ? s : eo_set_out_like(c, 0, 0);
}

ember_status lrn_run(eo_ctx *c) {
    if (eo_is_half(eo_dtype(c, 0))) return eo_run_as_f32(c, lrn_run);
    const ember_tensor *x = eo_in(c, 0);
    ember_tensor *y = eo_out(c, 0);
    if (!y) return EMBER_OK; /* output unused */
    if (x->ndim < 3) return ember_fail(EMBER_ERR_SHAPE, "LRN: input must be [N, C, D1, ...]");
    int64_t size = eo_attr_int(c, "size", 0);
    if (size <= 0) return ember_fail(EMBER_ERR_FORMAT, "LRN needs a positive 'size' attribute");
    double alpha = eo_attr_float(c, "alpha", 1e-4f), beta = eo_attr_float(c, "beta", 0.75f), bias = eo_attr_float(c, "bias", 1.0f);
    int64_t N = x->shape[0], C = x->shape[1], inner = ember_tensor_count(x) / (N * C > 0 ? N * C : 1);
    int64_t lo = (size - 1) / 2, hi = size - 1 - lo;
    for (int64_t n = 0; n < N; n++)
        for (int64_t ch = 0; ch < C; ch++)
            for (int64_t i = 0; i < inner; i++) {
                double sq = 0;
                for (int64_t k = ch - lo; k <= ch + hi; k++) {
                    if (k < 0 || k >= C) continue;
                    double v = eo_get(x, (n * C + k) * inner + i);
                    sq += v * v;
                }
                int64_t at = (n * C + ch) * inner + i;
                eo_put(y, at, eo_get(x, at) / pow(bias + alpha / (double)size * sq, beta));
            }
    return EMBER_OK;
}
