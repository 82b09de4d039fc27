/* Softmax, LogSoftmax, Hardmax (ONNX opsets 1-13: before 13 the input is flattened to 2-D at `axis`). */
#include "ops/op.h"

typedef enum { SM_SOFT, SM_LOG, SM_HARD } smop;

/* Rows of length `dim` with stride `inner`: (outer, dim, inner) view of the input. */
static void sm_dims(const eo_ctx *c, const ember_tensor *x, int axis, int64_t *outer, int64_t *dim, int64_t *inner) {
    *outer = 1, *dim = 1, *inner = 1;
    if (c->opset < 13) { /* coerced to 2-D: [prod(shape[:axis]), prod(shape[axis:])] */
        for (int d = 0; d < x->ndim; d++) *(d < axis ? outer : dim) *= x->shape[d];
        return;
    }
    for (int d = 0; d < x->ndim; d++) *(d < axis ? outer : d == axis ? dim : inner) *= x->shape[d];
}

typedef struct sm_job {
    smop op;
    const float *x;
    float *y;
    int64_t dim, inner;
} sm_job;

static void sm_rows(void *ctx, int64_t begin, int64_t end, int thread) {
    const sm_job *j = ctx;
    for (int64_t r = begin; r < end; r++) {
        int64_t o = r / j->inner, i = r % j->inner, base = o * j->dim * j->inner + i, st = j->inner;
        const float *x = j->x + base;
        float *y = j->y + base;
        float mx = -INFINITY;
        int64_t arg = 0;
        for (int64_t k = 0; k < j->dim; k++)
            if (x[k * st] > mx) mx = x[k * st], arg = k;
        if (j->op == SM_HARD) {
            for (int64_t k = 0; k < j->dim; k++) y[k * st] = k == arg ? 1.0f : 0.0f;
            continue;
        }
        double sum = 0;
        for (int64_t k = 0; k < j->dim; k++) sum += exp((double)x[k * st] - mx);
        if (j->op == SM_LOG) {
            double ls = log(sum);
            for (int64_t k = 0; k < j->dim; k++) y[k * st] = (float)((double)x[k * st] - mx - ls);
        } else {
            for (int64_t k = 0; k < j->dim; k++) y[k * st] = (float)(exp((double)x[k * st] - mx) / sum);
        }
    }
    (void)thread;
}

static ember_status sm_run(eo_ctx *c, smop op, ember_status (*self)(eo_ctx *)) {
    const ember_tensor *x = eo_in(c, 0);
    if (x->dtype != EMBER_DTYPE_F32) {
        if (x->dtype == EMBER_DTYPE_F64 || eo_is_half(x->dtype)) {
            /* compute in f32 through a temporary copy */
            return eo_is_half(x->dtype) ? eo_run_as_f32(c, self) : eo_run_f64_as_f32(c, self);
        }
        return ember_fail(EMBER_ERR_UNSUPPORTED, "%s of %s", c->node->op_type, ember_dtype_name(x->dtype));
    }
    int axis;
    ember_status s = eo_axis(eo_attr_int(c, "axis", c->opset < 13 ? 1 : -1), x->ndim, &axis);
    if (s) return s;
    sm_job j = {op, x->data, eo_out(c, 0)->data, 0, 0};
    int64_t outer;
    sm_dims(c, x, axis, &outer, &j.dim, &j.inner);
    if (op != SM_HARD && j.inner == 1 && !eo_reference()) { /* contiguous rows: the kernels' softmax */
        ember_softmax(ember_tensor_count(x) > 32768 ? c->pool : NULL, j.y, j.x, outer, j.dim, j.dim, op == SM_LOG);
        return EMBER_OK;
    }
    ember_pool_for(ember_tensor_count(x) > 32768 ? c->pool : NULL, outer * j.inner, 1, sm_rows, &j);
    return EMBER_OK;
}

ember_status softmax_run(eo_ctx *c) { return sm_run(c, SM_SOFT, softmax_run); }
ember_status log_softmax_run(eo_ctx *c) { return sm_run(c, SM_LOG, log_softmax_run); }
ember_status hardmax_run(eo_ctx *c) { return sm_run(c, SM_HARD, hardmax_run); }
