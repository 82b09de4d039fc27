/* Normalizations: ONNX LayerNormalization, RMSNormalization, BatchNormalization (inference),
 * InstanceNormalization, GroupNormalization, LpNormalization, MeanVarianceNormalization (opsets 1-23).
 * Statistics accumulate in double. */
#include "ops/op.h"

/* Offset into `p` (broadcast against the trailing `n` dims `shape`) of element j of that block. */
static int64_t bcast_index(const ember_tensor *p, int n, const int64_t *shape, int64_t j) {
    int64_t off = 0, mul = 1;
    for (int d = n - 1; d >= 0; d--) {
        int64_t idx = j % shape[d];
        j /= shape[d];
        int pd = d - (n - p->ndim);
        if (pd < 0) break;
        if (p->shape[pd] != 1) off += idx * mul;
        mul *= p->shape[pd];
    }
    return off;
}

/* LayerNormalization and RMSNormalization: normalise each row of the trailing dims from `axis`. */
static ember_status rownorm_infer(eo_ctx *c, bool rms) {
    const ember_tensor *x = eo_in(c, 0);
    int axis;
    ember_status s = eo_axis(eo_attr_int(c, "axis", -1), x->ndim, &axis);
    if (s) return s;
    if ((s = eo_set_out(c, 0, x->dtype, x->ndim, x->shape))) return s;
    int64_t st[EMBER_MAX_DIMS];
    for (int d = 0; d < x->ndim; d++) st[d] = d < axis ? x->shape[d] : 1;
    ember_dtype u = (ember_dtype)eo_attr_int(c, "stash_type", EMBER_DTYPE_F32);
    if (rms) return s;
    if (!s) s = eo_set_out(c, 1, u, x->ndim, st);
    if (!s) s = eo_set_out(c, 2, u, x->ndim, st);
    return s;
}

ember_status layer_norm_infer(eo_ctx *c) { return rownorm_infer(c, false); }
ember_status rms_norm_infer(eo_ctx *c) { return rownorm_infer(c, true); }

static ember_status rownorm_run(eo_ctx *c, bool rms) {
    const ember_tensor *x = eo_in(c, 0), *scale = eo_in(c, 1), *bias = eo_in(c, 2);
    ember_tensor *y = eo_out(c, 0), *mean_out = rms ? NULL : eo_out(c, 1), *inv_out = rms ? NULL : eo_out(c, 2);
    int axis;
    ember_status s = eo_axis(eo_attr_int(c, "axis", -1), x->ndim, &axis);
    if (s) return s;
    double eps = eo_attr_float(c, "epsilon", 1e-5f);
    int64_t rows = 1, n = 1;
    for (int d = 0; d < x->ndim; d++) *(d < axis ? &rows : &n) *= x->shape[d];
    const int64_t *ns = x->shape + axis;
    int nd = x->ndim - axis;
    bool f32 = x->dtype == EMBER_DTYPE_F32 && (!scale || (scale->dtype == x->dtype && ember_tensor_count(scale) == n)) &&
               (!bias || (bias->dtype == x->dtype && ember_tensor_count(bias) == n)) &&
               (!mean_out || mean_out->dtype == EMBER_DTYPE_F32) && (!inv_out || inv_out->dtype == EMBER_DTYPE_F32);
    if (f32 && !eo_reference()) { /* the kernels' row norms: parameters cover the whole normalised block */
        ember_pool *pool = rows * n > 32768 ? c->pool : NULL;
        if (rms)
            ember_rmsnorm(pool, y->data, x->data, scale ? scale->data : NULL, rows, n, (float)eps);
        else
            ember_layernorm(pool, y->data, x->data, scale ? scale->data : NULL, bias ? bias->data : NULL, rows, n,
                            (float)eps, mean_out ? mean_out->data : NULL, inv_out ? inv_out->data : NULL);
        return EMBER_OK;
    }
    for (int64_t r = 0; r < rows; r++) {
        double mean = 0, var = 0;
        if (!rms) {
            for (int64_t j = 0; j < n; j++) mean += eo_get(x, r * n + j);
            mean = n ? mean / (double)n : 0;
        }
        for (int64_t j = 0; j < n; j++) {
            double d = eo_get(x, r * n + j) - mean;
            var += d * d;
        }
        var = n ? var / (double)n : 0;
        double inv = 1 / sqrt(var + eps);
        for (int64_t j = 0; j < n; j++) {
            double v = (eo_get(x, r * n + j) - mean) * inv;
            if (scale) v *= eo_get(scale, bcast_index(scale, nd, ns, j));
            if (bias) v += eo_get(bias, bcast_index(bias, nd, ns, j));
            eo_put(y, r * n + j, v);
        }
        if (mean_out) eo_put(mean_out, r, mean);
        if (inv_out) eo_put(inv_out, r, inv);
    }
    return EMBER_OK;
}

ember_status layer_norm_run(eo_ctx *c) { return rownorm_run(c, false); }
ember_status rms_norm_run(eo_ctx *c) { return rownorm_run(c, true); }

/* BatchNormalization in inference mode: y = (x - mean) / sqrt(var + eps) * scale + B per channel. */
ember_status batch_norm_infer(eo_ctx *c) {
    ember_status s = eo_set_out_like(c, 0, 0);
    for (int i = 1; i < c->nout && !s; i++) s = eo_set_out_like(c, i, 3); /* training outputs: running stats */
    return s;
}

ember_status batch_norm_run(eo_ctx *c) {
    const ember_tensor *x = eo_in(c, 0), *sc = eo_in(c, 1), *b = eo_in(c, 2), *mean = eo_in(c, 3), *var = eo_in(c, 4);
    ember_tensor *y = eo_out(c, 0);
    double eps = eo_attr_float(c, "epsilon", 1e-5f), mom = eo_attr_float(c, "momentum", 0.9f);
    bool training = eo_attr_int(c, "training_mode", 0);
    if (x->ndim < 2) return ember_fail(EMBER_ERR_SHAPE, "BatchNormalization: input rank must be >= 2");
    int64_t N = x->shape[0], C = x->shape[1], inner = 1;
    for (int d = 2; d < x->ndim; d++) inner *= x->shape[d];
    for (int64_t ch = 0; ch < C; ch++) {
        double m = eo_get(mean, ch), v = eo_get(var, ch);
        if (training) { /* batch statistics; running stats updated with momentum */
            double sm = 0, sq = 0;
            for (int64_t n = 0; n < N; n++)
                for (int64_t i = 0; i < inner; i++) sm += eo_get(x, (n * C + ch) * inner + i);
            double cnt = (double)(N * inner), bm = sm / cnt;
            for (int64_t n = 0; n < N; n++)
                for (int64_t i = 0; i < inner; i++) {
                    double d = eo_get(x, (n * C + ch) * inner + i) - bm;
                    sq += d * d;
                }
            double bv = sq / cnt;
            if (eo_out(c, 1)) eo_put(eo_out(c, 1), ch, m * mom + bm * (1 - mom));
            if (eo_out(c, 2)) eo_put(eo_out(c, 2), ch, v * mom + bv * (1 - mom));
            m = bm;
            v = bv;
        }
        double k = eo_get(sc, ch) / sqrt(v + eps), off = eo_get(b, ch) - m * k;
        if (x->dtype == EMBER_DTYPE_F32) {
            float kf = (float)k, of = (float)off;
            for (int64_t n = 0; n < N; n++) {
                const float *xs = (const float *)x->data + (n * C + ch) * inner;
                float *ys = (float *)y->data + (n * C + ch) * inner;
                for (int64_t i = 0; i < inner; i++) ys[i] = xs[i] * kf + of;
            }
        } else {
            for (int64_t n = 0; n < N; n++)
                for (int64_t i = 0; i < inner; i++) {
                    int64_t at = (n * C + ch) * inner + i;
                    eo_put(y, at, eo_get(x, at) * k + off);
                }
        }
    }
    return EMBER_OK;
}

/* Normalise groups of `gsize` consecutive elements; scale/bias index = element's channel. */
static void group_norm(const ember_tensor *x, ember_tensor *y, int64_t groups, int64_t gsize, int64_t inner, int64_t C,
                       const ember_tensor *sc, const ember_tensor *b, double eps, int64_t per_group_params) {
    for (int64_t g = 0; g < groups; g++) {
        double mean = 0, var = 0;
        for (int64_t i = 0; i < gsize; i++) mean += eo_get(x, g * gsize + i);
        mean /= (double)(gsize ? gsize : 1);
        for (int64_t i = 0; i < gsize; i++) {
            double d = eo_get(x, g * gsize + i) - mean;
            var += d * d;
        }
        var /= (double)(gsize ? gsize : 1);
        double inv = 1 / sqrt(var + eps);
        for (int64_t i = 0; i < gsize; i++) {
            int64_t at = g * gsize + i, ch = (at / inner) % C;
            int64_t pi = per_group_params ? (g % per_group_params) : ch;
            eo_put(y, at, (eo_get(x, at) - mean) * inv * eo_get(sc, pi) + eo_get(b, pi));
        }
    }
}

ember_status instance_norm_run(eo_ctx *c) {
    const ember_tensor *x = eo_in(c, 0);
    int64_t C = x->shape[1], inner = 1;
    for (int d = 2; d < x->ndim; d++) inner *= x->shape[d];
    group_norm(x, eo_out(c, 0), x->shape[0] * C, inner, inner, C, eo_in(c, 1), eo_in(c, 2), eo_attr_float(c, "epsilon", 1e-5f), 0);
    return EMBER_OK;
}

ember_status group_norm_run(eo_ctx *c) {
    const ember_tensor *x = eo_in(c, 0);
    int64_t G = eo_attr_int(c, "num_groups", 1), C = x->shape[1], inner = 1;
    if (G < 1 || C % G) return ember_fail(EMBER_ERR_SHAPE, "GroupNormalization: %lld channels in %lld groups", (long long)C, (long long)G);
    for (int d = 2; d < x->ndim; d++) inner *= x->shape[d];
    /* opset 18: scale/bias per group; 21: per channel */
    int64_t per_group = ember_tensor_count(eo_in(c, 1)) == G && G != C ? G : 0;
    group_norm(x, eo_out(c, 0), x->shape[0] * G, C / G * inner, inner, C, eo_in(c, 1), eo_in(c, 2),
               eo_attr_float(c, "epsilon", 1e-5f), per_group);
    return EMBER_OK;
}

ember_status lp_norm_run(eo_ctx *c) {
    const ember_tensor *x = eo_in(c, 0);
    ember_tensor *y = eo_out(c, 0);
    int axis;
    ember_status s = eo_axis(eo_attr_int(c, "axis", -1), x->ndim, &axis);
    if (s) return s;
    int64_t p = eo_attr_int(c, "p", 2), outer = 1, dim = x->shape[axis], inner = 1;
    for (int d = 0; d < axis; d++) outer *= x->shape[d];
    for (int d = axis + 1; d < x->ndim; d++) inner *= x->shape[d];
    for (int64_t o = 0; o < outer; o++)
        for (int64_t i = 0; i < inner; i++) {
            double n = 0;
            for (int64_t k = 0; k < dim; k++) {
                double v = eo_get(x, (o * dim + k) * inner + i);
                n += p == 1 ? fabs(v) : v * v;
            }
            if (p != 1) n = sqrt(n);
            for (int64_t k = 0; k < dim; k++) {
                int64_t at = (o * dim + k) * inner + i;
                eo_put(y, at, n == 0 ? 0 : eo_get(x, at) / n);
            }
        }
    return EMBER_OK;
}

ember_status mvn_run(eo_ctx *c) {
    const ember_tensor *x = eo_in(c, 0);
    ember_tensor *y = eo_out(c, 0);
    const int64_t *ax, dflt[] = {0, 2, 3};
    int na = eo_attr_ints(c, "axes", &ax);
    if (na < 0) ax = dflt, na = 3;
    bool red[EMBER_MAX_DIMS] = {false};
    for (int i = 0; i < na; i++) {
        int a;
        ember_status s = eo_axis(ax[i], x->ndim, &a);
        if (s) return s;
        red[a] = true;
    }
    int64_t n = ember_tensor_count(x), m = 1;
    for (int d = 0; d < x->ndim; d++) m *= red[d] ? 1 : x->shape[d];
    double *sum = eo_scratch(c, sizeof(double) * (size_t)m), *sq = eo_scratch(c, sizeof(double) * (size_t)m);
    if (!sum || !sq) return ember_fail(EMBER_ERR_NOMEM, "out of memory");
    int64_t cnt = m ? n / m : 0;
    for (int pass = 0; pass < 3; pass++) {
        int64_t idx[EMBER_MAX_DIMS] = {0};
        for (int64_t i = 0; i < n; i++) {
            int64_t o = 0;
            for (int d = 0; d < x->ndim; d++)
                if (!red[d]) o = o * x->shape[d] + idx[d];
            double v = eo_get(x, i);
            if (pass == 0) sum[o] += v;
            else if (pass == 1) sq[o] += (v - sum[o]) * (v - sum[o]);
            else eo_put(y, i, (v - sum[o]) / sqrt(sq[o] + 1e-9));
            for (int d = x->ndim - 1; d >= 0 && ++idx[d] == x->shape[d]; d--) idx[d] = 0;
        }
        for (int64_t o = 0; o < m && pass < 2; o++) {
            if (pass == 0) sum[o] /= (double)cnt;
            else sq[o] /= (double)cnt;
        }
    }
    return EMBER_OK;
}
