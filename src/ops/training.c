/* Optimizer steps of ai.onnx.preview.training (opset 1): Adagrad, Momentum (standard and Nesterov) and
 * Adam. Inputs: learning rate R, step count T, then n tensors each of X, G and the optimizer states;
 * outputs: the new X and the new states. Computed in double per element. */
#include "ops/op.h"

/* n = tensors per group: (nin - 2) / groups, with every group's shapes equal to X's. */
static ember_status optim_check(eo_ctx *c, int groups, int *n) {
    if (c->nin < 2 + groups || (c->nin - 2) % groups)
        return ember_fail(EMBER_ERR_SHAPE, "%s: expected R, T and %d groups of tensors, got %d inputs",
                          c->node->op_type, groups, c->nin);
    *n = (c->nin - 2) / groups;
    if (c->nout != *n * (groups - 1))
        return ember_fail(EMBER_ERR_SHAPE, "%s: expected %d outputs", c->node->op_type, *n * (groups - 1));
    if (ember_tensor_count(eo_in(c, 0)) != 1 || ember_tensor_count(eo_in(c, 1)) != 1)
        return ember_fail(EMBER_ERR_SHAPE, "%s: R and T must be scalars", c->node->op_type);
    for (int i = 0; i < *n; i++) {
        const ember_tensor *x = eo_in(c, 2 + i);
        if (!ember_dtype_is_float(x->dtype))
            return ember_fail(EMBER_ERR_UNSUPPORTED, "%s of %s", c->node->op_type,
                              ember_dtype_name(x->dtype));
        for (int g = 1; g < groups; g++) {
            const ember_tensor *o = eo_in(c, 2 + g * *n + i);
            if (o->ndim != x->ndim || memcmp(o->shape, x->shape, sizeof(int64_t) * (size_t)x->ndim))
                return ember_fail(EMBER_ERR_SHAPE, "%s: tensor %d of group %d differs in shape from X",
                                  c->node->op_type, i, g);
        }
    }
    return EMBER_OK;
}

static ember_status optim_infer(eo_ctx *c, int groups) {
    ember_status chk = eo_check_inputs(c, c->nin);
    if (chk) return chk;
    int n;
    ember_status s = optim_check(c, groups, &n);
    if (s) return s;
    /* outputs: X_new[i], then new state of each state group (inputs after G) */
    for (int i = 0; i < n && !s; i++) {
        s = eo_set_out_like(c, i, 2 + i);
        for (int g = 2; g < groups && !s; g++) s = eo_set_out_like(c, (g - 1) * n + i, 2 + g * n + i);
    }
    return s;
}

ember_status adagrad_infer(eo_ctx *c) {
    return optim_infer(c, 3);
}
ember_status momentum_infer(eo_ctx *c) {
    return optim_infer(c, 3);
}
ember_status adam_infer(eo_ctx *c) {
    return optim_infer(c, 4);
}

ember_status adagrad_run(eo_ctx *c) {
    int n;
    double R, T;
    ember_status s = optim_check(c, 3, &n);
    if (s || (s = eo_in_scalar(c, 0, &R)) || (s = eo_in_scalar(c, 1, &T))) return s;
    double decay = eo_attr_float(c, "decay_factor", 0), eps = eo_attr_float(c, "epsilon", 1e-6f),
           norm = eo_attr_float(c, "norm_coefficient", 0);
    double r = R / (1 + T * decay);
    for (int i = 0; i < n; i++) {
        const ember_tensor *x = eo_in(c, 2 + i), *g = eo_in(c, 2 + n + i), *h = eo_in(c, 2 + 2 * n + i);
        ember_tensor *xo = eo_out(c, i), *ho = eo_out(c, n + i);
        for (int64_t k = 0; k < ember_tensor_count(x); k++) {
            double xv = eo_get(x, k), gr = norm * xv + eo_get(g, k), hn = eo_get(h, k) + gr * gr;
            if (ho) eo_put(ho, k, hn);
            if (xo) eo_put(xo, k, xv - r * gr / (sqrt(hn) + eps));
        }
    }
    return EMBER_OK;
}

ember_status momentum_run(eo_ctx *c) {
    int n;
    double R, T;
    ember_status s = optim_check(c, 3, &n);
    if (s || (s = eo_in_scalar(c, 0, &R)) || (s = eo_in_scalar(c, 1, &T))) return s;
    double alpha = eo_attr_float(c, "alpha", 0), beta = eo_attr_float(c, "beta", 0),
           norm = eo_attr_float(c, "norm_coefficient", 0);
    const char *mode = eo_attr_str(c, "mode", "standard");
    bool nesterov = !strcmp(mode, "nesterov");
    if (!nesterov && strcmp(mode, "standard"))
        return ember_fail(EMBER_ERR_FORMAT, "Momentum: unknown mode '%s'", mode);
    double b = T > 0 ? beta : 1;
    for (int i = 0; i < n; i++) {
        const ember_tensor *x = eo_in(c, 2 + i), *g = eo_in(c, 2 + n + i), *v = eo_in(c, 2 + 2 * n + i);
        ember_tensor *xo = eo_out(c, i), *vo = eo_out(c, n + i);
        for (int64_t k = 0; k < ember_tensor_count(x); k++) {
            double xv = eo_get(x, k), gr = norm * xv + eo_get(g, k), vn = alpha * eo_get(v, k) + b * gr;
            if (vo) eo_put(vo, k, vn);
            if (xo) eo_put(xo, k, xv - R * (nesterov ? gr + alpha * vn : vn));
        }
    }
    return EMBER_OK;
}

ember_status adam_run(eo_ctx *c) {
    int n;
    double R, T;
    ember_status s = optim_check(c, 4, &n);
    if (s || (s = eo_in_scalar(c, 0, &R)) || (s = eo_in_scalar(c, 1, &T))) return s;
    double alpha = eo_attr_float(c, "alpha", 0.9f), beta = eo_attr_float(c, "beta", 0.999f),
           eps = eo_attr_float(c, "epsilon", 1e-6f);
    double norm = eo_attr_float(c, "norm_coefficient", 0),
           post = eo_attr_float(c, "norm_coefficient_post", 0);
    double r = T > 0 ? R * sqrt(1 - pow(beta, T)) / (1 - pow(alpha, T)) : R;
    for (int i = 0; i < n; i++) {
        const ember_tensor *x = eo_in(c, 2 + i), *g = eo_in(c, 2 + n + i), *v = eo_in(c, 2 + 2 * n + i),
                           *h = eo_in(c, 2 + 3 * n + i);
        ember_tensor *xo = eo_out(c, i), *vo = eo_out(c, n + i), *ho = eo_out(c, 2 * n + i);
        for (int64_t k = 0; k < ember_tensor_count(x); k++) {
            double xv = eo_get(x, k), gr = norm * xv + eo_get(g, k);
            double vn = alpha * eo_get(v, k) + (1 - alpha) * gr,
                   hn = beta * eo_get(h, k) + (1 - beta) * gr * gr;
            if (vo) eo_put(vo, k, vn);
            if (ho) eo_put(ho, k, hn);
            if (xo) eo_put(xo, k, (1 - post) * (xv - r * vn / (sqrt(hn) + eps)));
        }
    }
    return EMBER_OK;
}
