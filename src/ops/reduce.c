/* Reductions: ONNX ReduceSum, ReduceMean, ReduceMax, ReduceMin, ReduceProd, ReduceL1, ReduceL2,
 * ReduceLogSum, ReduceLogSumExp, ReduceSumSquare (opsets 1-18: axes as attribute or input), ArgMax, ArgMin.
 * Floats accumulate in double, integers in int64. */
#include "ops/op.h"

typedef enum redop { R_SUM, R_MEAN, R_MAX, R_MIN, R_PROD, R_L1, R_L2, R_LOGSUM, R_LOGSUMEXP, R_SUMSQ } redop;

/* Which axes are reduced; false for all when the reduction is a no-op. */
static ember_status reduced_axes(eo_ctx *c, int rank, bool *red, bool *noop) {
    int64_t axes[EMBER_MAX_DIMS * 2];
    int n = -1;
    ember_status s;
    *noop = false;
    bool from_input = eo_has(c, 1);
    if (from_input) {
        if ((s = eo_in_ints(c, 1, axes, EMBER_MAX_DIMS * 2, &n))) return s;
    } else {
        const int64_t *v;
        n = eo_attr_ints(c, "axes", &v);
        if (n > EMBER_MAX_DIMS * 2) return ember_fail(EMBER_ERR_SHAPE, "too many axes");
        if (n > 0) memcpy(axes, v, sizeof(int64_t) * (size_t)n);
    }
    for (int d = 0; d < rank; d++) red[d] = n <= 0;
    if (n <= 0 && eo_attr_int(c, "noop_with_empty_axes", 0)) {
        *noop = true;
        for (int d = 0; d < rank; d++) red[d] = false;
        return EMBER_OK;
    }
    for (int i = 0; i < n; i++) {
        int a;
        if ((s = eo_axis(axes[i], rank, &a))) return s;
        red[a] = true;
    }
    return EMBER_OK;
}

static void reduced_shape(const ember_tensor *x, const bool *red, bool keep, int *ndim, int64_t *shape) {
    *ndim = 0;
    for (int d = 0; d < x->ndim; d++) {
        if (!red[d]) shape[(*ndim)++] = x->shape[d];
        else if (keep) shape[(*ndim)++] = 1;
    }
}

ember_status reduce_infer(eo_ctx *c) {
    const ember_tensor *x = eo_in(c, 0);
    bool red[EMBER_MAX_DIMS], noop;
    ember_status s = reduced_axes(c, x->ndim, red, &noop);
    if (s) return s;
    int ndim;
    int64_t shape[EMBER_MAX_DIMS];
    reduced_shape(x, red, eo_attr_int(c, "keepdims", 1), &ndim, shape);
    return eo_set_out(c, 0, x->dtype, ndim, shape);
}

/* Output index of each input element: walk the input, keep a running output offset. */
typedef struct walker {
    int ndim;
    int64_t shape[EMBER_MAX_DIMS], ostride[EMBER_MAX_DIMS], idx[EMBER_MAX_DIMS], o;
} walker;

static void walker_init(walker *w, const ember_tensor *x, const bool *red) {
    memset(w, 0, sizeof *w);
    w->ndim = x->ndim;
    int64_t s = 1;
    for (int d = x->ndim - 1; d >= 0; d--) {
        w->shape[d] = x->shape[d];
        w->ostride[d] = red[d] ? 0 : s;
        if (!red[d]) s *= x->shape[d];
    }
}

static inline void walker_next(walker *w) {
    for (int d = w->ndim - 1; d >= 0; d--) {
        w->o += w->ostride[d];
        if (++w->idx[d] < w->shape[d]) return;
        w->o -= w->ostride[d] * w->shape[d];
        w->idx[d] = 0;
    }
}

static double fold_f(redop op, double acc, double v) {
    switch (op) {
    case R_SUM: case R_MEAN: case R_LOGSUM: return acc + v;
    case R_MAX: return v > acc || v != v ? v : acc;
    case R_MIN: return v < acc || v != v ? v : acc;
    case R_PROD: return acc * v;
    case R_L1: return acc + fabs(v);
    case R_L2: case R_SUMSQ: return acc + v * v;
    case R_LOGSUMEXP: return acc + v; /* handled with the max shift */
    }
    return acc;
}

static double init_f(redop op) {
    return op == R_MAX ? -INFINITY : op == R_MIN ? INFINITY : op == R_PROD ? 1 : 0;
}

static ember_status reduce_run(eo_ctx *c, redop op) {
    const ember_tensor *x = eo_in(c, 0);
    ember_tensor *y = eo_out(c, 0);
    bool red[EMBER_MAX_DIMS], noop;
    ember_status s = reduced_axes(c, x->ndim, red, &noop);
    if (s) return s;
    int64_t n = ember_tensor_count(x), m = ember_tensor_count(y);
    int64_t count = m ? n / m : 0;
    bool is_int = ember_dtype_is_int(x->dtype) || x->dtype == EMBER_DTYPE_BOOL;
    double *acc = eo_scratch(c, sizeof(double) * (size_t)(m ? m : 1));
    double *mx = op == R_LOGSUMEXP ? eo_scratch(c, sizeof(double) * (size_t)(m ? m : 1)) : NULL;
    if (!acc || (op == R_LOGSUMEXP && !mx)) return ember_fail(EMBER_ERR_NOMEM, "out of memory");
    if (noop) {
        for (int64_t i = 0; i < n; i++) {
            double v = eo_get(x, i);
            double r = op == R_L1 ? fabs(v) : op == R_L2 ? fabs(v) : op == R_SUMSQ ? v * v : op == R_LOGSUM ? log(v) : v;
            eo_put(y, i, r);
        }
        return EMBER_OK;
    }
    if (is_int && (x->dtype == EMBER_DTYPE_I64 || x->dtype == EMBER_DTYPE_U64) && (op == R_SUM || op == R_PROD || op == R_MAX || op == R_MIN)) {
        int64_t *ia = eo_scratch(c, sizeof(int64_t) * (size_t)(m ? m : 1));
        if (!ia) return ember_fail(EMBER_ERR_NOMEM, "out of memory");
        for (int64_t i = 0; i < m; i++) ia[i] = op == R_PROD ? 1 : op == R_MAX ? INT64_MIN : op == R_MIN ? INT64_MAX : 0;
        walker w;
        walker_init(&w, x, red);
        const int64_t *xv = x->data;
        for (int64_t i = 0; i < n; i++, walker_next(&w)) {
            int64_t v = xv[i], *a = &ia[w.o];
            switch (op) {
            case R_SUM: *a = (int64_t)((uint64_t)*a + (uint64_t)v); break;
            case R_PROD: *a = (int64_t)((uint64_t)*a * (uint64_t)v); break;
            case R_MAX: if (v > *a) *a = v; break;
            default: if (v < *a) *a = v; break;
            }
        }
        memcpy(y->data, ia, sizeof(int64_t) * (size_t)m);
        return EMBER_OK;
    }
    if (x->dtype == EMBER_DTYPE_F32 && (op == R_MEAN || op == R_SUM || op == R_MAX) && count > 0 && !eo_reference()) {
        int first = x->ndim; /* the reduced axes are a suffix: rows of `count` contiguous floats */
        while (first > 0 && red[first - 1]) first--;
        bool suffix = true;
        for (int d = 0; d < first; d++) suffix &= !red[d];
        if (suffix) {
            float *yv = y->data;
            ember_pool *pool = n > 32768 ? c->pool : NULL;
            if (op == R_MAX) {
                ember_global_maxpool(pool, m, count, x->data, yv);
            } else {
                ember_global_avgpool(pool, m, count, x->data, yv);
                for (int64_t i = 0; op == R_SUM && i < m; i++) yv[i] *= (float)count;
            }
            return EMBER_OK;
        }
    }
    for (int64_t i = 0; i < m; i++) {
        acc[i] = init_f(op);
        if (mx) mx[i] = -INFINITY;
    }
    walker w;
    walker_init(&w, x, red);
    if (mx) {
        for (int64_t i = 0; i < n; i++, walker_next(&w)) {
            double v = eo_get(x, i);
            if (v > mx[w.o]) mx[w.o] = v;
        }
        walker_init(&w, x, red);
        for (int64_t i = 0; i < n; i++, walker_next(&w)) acc[w.o] += exp(eo_get(x, i) - mx[w.o]);
    } else if (x->dtype == EMBER_DTYPE_F32) {
        const float *xv = x->data;
        for (int64_t i = 0; i < n; i++, walker_next(&w)) acc[w.o] = fold_f(op, acc[w.o], xv[i]);
    } else {
        for (int64_t i = 0; i < n; i++, walker_next(&w)) acc[w.o] = fold_f(op, acc[w.o], eo_get(x, i));
    }
    for (int64_t i = 0; i < m; i++) {
        double r = acc[i];
        switch (op) {
        case R_MEAN: r = count ? r / (double)count : NAN; break;
        case R_L2: r = sqrt(r); break;
        case R_LOGSUM: r = log(r); break;
        case R_LOGSUMEXP: r = count ? mx[i] + log(r) : -INFINITY; if (isinf(mx[i]) && mx[i] > 0) r = mx[i]; break;
        default: break;
        }
        if (is_int && (op == R_MEAN)) r = trunc(r);
        eo_put(y, i, r);
    }
    return EMBER_OK;
}

#define REDUCE(name, OP) ember_status name##_run(eo_ctx *c) { return reduce_run(c, OP); }
REDUCE(reduce_sum, R_SUM)
REDUCE(reduce_mean, R_MEAN)
REDUCE(reduce_max, R_MAX)
REDUCE(reduce_min, R_MIN)
REDUCE(reduce_prod, R_PROD)
REDUCE(reduce_l1, R_L1)
REDUCE(reduce_l2, R_L2)
REDUCE(reduce_log_sum, R_LOGSUM)
REDUCE(reduce_log_sum_exp, R_LOGSUMEXP)
REDUCE(reduce_sum_square, R_SUMSQ)

/* --- ArgMax, ArgMin ----------------------------------------------------------------------------------- */
ember_status arg_infer(eo_ctx *c) {
    const ember_tensor *x = eo_in(c, 0);
    int axis;
    ember_status s = eo_axis(eo_attr_int(c, "axis", 0), x->ndim, &axis);
    if (s) return s;
    bool red[EMBER_MAX_DIMS] = {false};
    red[axis] = true;
    int ndim;
    int64_t shape[EMBER_MAX_DIMS];
    reduced_shape(x, red, eo_attr_int(c, "keepdims", 1), &ndim, shape);
    return eo_set_out(c, 0, EMBER_DTYPE_I64, ndim, shape);
}

static ember_status arg_run(eo_ctx *c, bool want_max) {
    const ember_tensor *x = eo_in(c, 0);
    int64_t *y = eo_out(c, 0)->data;
    int axis;
    ember_status s = eo_axis(eo_attr_int(c, "axis", 0), x->ndim, &axis);
    if (s) return s;
    bool last = eo_attr_int(c, "select_last_index", 0);
    int64_t outer = 1, inner = 1, dim = x->shape[axis];
    for (int d = 0; d < axis; d++) outer *= x->shape[d];
    for (int d = axis + 1; d < x->ndim; d++) inner *= x->shape[d];
    for (int64_t o = 0; o < outer; o++)
        for (int64_t i = 0; i < inner; i++) {
            int64_t best = 0;
            double bv = dim ? eo_get(x, o * dim * inner + i) : 0;
            for (int64_t k = 1; k < dim; k++) {
                double v = eo_get(x, (o * dim + k) * inner + i);
                bool better = want_max ? (v > bv || (last && v == bv)) : (v < bv || (last && v == bv));
                if (better) best = k, bv = v;
            }
            y[o * inner + i] = best;
        }
    return EMBER_OK;
}

ember_status argmax_run(eo_ctx *c) { return arg_run(c, true); }
ember_status argmin_run(eo_ctx *c) { return arg_run(c, false); }
