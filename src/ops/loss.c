/* Losses: ONNX NegativeLogLikelihoodLoss (opsets 12-22) and SoftmaxCrossEntropyLoss (12-22), with
 * class weights, ignore_index and none/sum/mean reduction. Computed in double. */
#include "ops/op.h"

/* NLL over input [N, C, d...] (log-probabilities) and target [N, d...]; writes per-element losses into
 * `y` (reduction none) or the reduced scalar. */
static ember_status nll(eo_ctx *c, const ember_tensor *x, const double *logp, const ember_tensor *target,
                        const ember_tensor *w, ember_tensor *y) {
    const char *red = eo_attr_str(c, "reduction", "mean");
    const eg_attr *ig = eo_attr(c, "ignore_index");
    int64_t N = x->shape[0], C = x->ndim > 1 ? x->shape[1] : 1, inner = 1;
    for (int d = 2; d < x->ndim; d++) inner *= x->shape[d];
    double sum = 0, wsum = 0;
    for (int64_t n = 0; n < N; n++)
        for (int64_t i = 0; i < inner; i++) {
            int64_t t = (int64_t)eo_get(target, n * inner + i);
            double loss = 0, wt = 0;
            if (!(ig && t == ig->i)) {
                if (t < 0 || t >= C) return ember_fail(EMBER_ERR_SHAPE, "%s: target %lld out of range [0, %lld)", c->node->op_type, (long long)t, (long long)C);
                wt = w ? eo_get(w, t) : 1;
                double lp = logp ? logp[(n * C + t) * inner + i] : eo_get(x, (n * C + t) * inner + i);
                loss = -lp * wt;
            }
            if (!strcmp(red, "none")) eo_put(y, n * inner + i, loss);
            sum += loss;
            wsum += wt;
        }
    if (!strcmp(red, "sum")) eo_put(y, 0, sum);
    else if (!strcmp(red, "mean")) eo_put(y, 0, wsum != 0 ? sum / wsum : 0);
    else if (strcmp(red, "none")) return ember_fail(EMBER_ERR_FORMAT, "%s: reduction '%s'", c->node->op_type, red);
    return EMBER_OK;
}

static ember_status loss_infer_common(eo_ctx *c, bool log_prob_out) {
    const ember_tensor *x = eo_in(c, 0), *t = eo_in(c, 1);
    if (x->ndim < 1) return ember_fail(EMBER_ERR_SHAPE, "%s: input must have rank >= 1", c->node->op_type);
    bool none = !strcmp(eo_attr_str(c, "reduction", "mean"), "none");
    ember_status s = none ? eo_set_out(c, 0, x->dtype, t->ndim, t->shape) : eo_set_out(c, 0, x->dtype, 0, NULL);
    if (!s && log_prob_out) s = eo_set_out(c, 1, x->dtype, x->ndim, x->shape);
    return s;
}

ember_status nll_loss_infer(eo_ctx *c) { return loss_infer_common(c, false); }
ember_status sce_loss_infer(eo_ctx *c) { return loss_infer_common(c, true); }

ember_status nll_loss_run(eo_ctx *c) {
    if (eo_is_half(eo_dtype(c, 0))) return eo_run_as_f32(c, nll_loss_run);
    return nll(c, eo_in(c, 0), NULL, eo_in(c, 1), eo_in(c, 2), eo_out(c, 0));
}

ember_status sce_loss_run(eo_ctx *c) {
    if (eo_is_half(eo_dtype(c, 0))) return eo_run_as_f32(c, sce_loss_run);
    const ember_tensor *x = eo_in(c, 0);
    int64_t N = x->shape[0], C = x->ndim > 1 ? x->shape[1] : 1, inner = 1;
    for (int d = 2; d < x->ndim; d++) inner *= x->shape[d];
    double *lp = eo_scratch(c, sizeof(double) * (size_t)(ember_tensor_count(x) + 1));
    if (!lp) return ember_fail(EMBER_ERR_NOMEM, "out of memory");
    for (int64_t n = 0; n < N; n++)
        for (int64_t i = 0; i < inner; i++) {
            double mx = -INFINITY, sum = 0;
            for (int64_t k = 0; k < C; k++) mx = fmax(mx, eo_get(x, (n * C + k) * inner + i));
            for (int64_t k = 0; k < C; k++) sum += exp(eo_get(x, (n * C + k) * inner + i) - mx);
            for (int64_t k = 0; k < C; k++) lp[(n * C + k) * inner + i] = eo_get(x, (n * C + k) * inner + i) - mx - log(sum);
        }
    ember_tensor *logp = eo_out(c, 1);
    for (int64_t k = 0; logp && k < ember_tensor_count(x); k++) eo_put(logp, k, lp[k]);
    return nll(c, x, lp, eo_in(c, 1), eo_in(c, 2), eo_out(c, 0));
}

/* GatherElements: out[i] = data[i with i[axis] replaced by indices[i]] (opsets 11-13). */
ember_status gather_elements_infer(eo_ctx *c) {
    const ember_tensor *x = eo_in(c, 0), *idx = eo_in(c, 1);
    if (x->ndim != idx->ndim) return ember_fail(EMBER_ERR_SHAPE, "GatherElements: data and indices ranks differ");
    return eo_set_out(c, 0, x->dtype, idx->ndim, idx->shape);
}

ember_status gather_elements_run(eo_ctx *c) {
    const ember_tensor *x = eo_in(c, 0), *idx = eo_in(c, 1);
    ember_tensor *y = eo_out(c, 0);
    int axis;
    ember_status s = eo_axis(eo_attr_int(c, "axis", 0), x->ndim, &axis);
    if (s) return s;
    int64_t xs[EMBER_MAX_DIMS], n = ember_tensor_count(idx), pos[EMBER_MAX_DIMS] = {0};
    ember_shape_strides(x->ndim, x->shape, xs);
    size_t es = eo_esize(x->dtype);
    if (x->dtype == EMBER_DTYPE_STRING) return ember_fail(EMBER_ERR_UNSUPPORTED, "GatherElements of strings");
    for (int64_t i = 0; i < n; i++) {
        int64_t k = (int64_t)eo_get(idx, i), dim = x->shape[axis], off = 0;
        if (k < 0) k += dim;
        if (k < 0 || k >= dim) return ember_fail(EMBER_ERR_SHAPE, "GatherElements: index %lld out of range", (long long)k);
        for (int d = 0; d < x->ndim; d++) off += (d == axis ? k : pos[d]) * xs[d];
        memcpy((char *)y->data + (size_t)i * es, (const char *)x->data + (size_t)off * es, es);
        for (int d = idx->ndim - 1; d >= 0 && ++pos[d] == idx->shape[d]; d--) pos[d] = 0;
    }
    return EMBER_OK;
}
