/* Indexed reads and writes: ONNX ScatterND (11-18), ScatterElements (11-18), Scatter (9-10), GatherND
 * (11-13), TensorScatter (24). Elements move as bytes (every type, strings deep-copied); the reductions
 * (add, mul, max, min) compute through doubles on the numeric types. */
#include "ops/op.h"

typedef enum { RED_NONE, RED_ADD, RED_MUL, RED_MAX, RED_MIN } reduction;

static ember_status get_reduction(const eo_ctx *c, const char *op, reduction *r) {
    const char *s = eo_attr_str(c, "reduction", "none");
    if (!strcmp(s, "none"))
        *r = RED_NONE;
    else if (!strcmp(s, "add"))
        *r = RED_ADD;
    else if (!strcmp(s, "mul"))
        *r = RED_MUL;
    else if (!strcmp(s, "max"))
        *r = RED_MAX;
    else if (!strcmp(s, "min"))
        *r = RED_MIN;
    else
        return ember_fail(EMBER_ERR_FORMAT, "%s: unknown reduction '%s'", op, s);
    return EMBER_OK;
}

/* dst[d0..d0+n) (op)= src[s0..s0+n). */
static ember_status update_elems(ember_tensor *dst, int64_t d0, const ember_tensor *src, int64_t s0,
                                 int64_t n, reduction r) {
    if (r == RED_NONE) return eo_copy_elems(dst, d0, src, s0, n);
    if (dst->dtype == EMBER_DTYPE_STRING || dst->dtype == EMBER_DTYPE_BOOL)
        return ember_fail(EMBER_ERR_UNSUPPORTED, "reduction on %s", ember_dtype_name(dst->dtype));
    for (int64_t i = 0; i < n; i++) {
        double a = eo_get(dst, d0 + i), b = eo_get(src, s0 + i), v;
        switch (r) {
        case RED_ADD:
            v = a + b;
            break;
        case RED_MUL:
            v = a * b;
            break;
        case RED_MAX:
            v = a > b || isnan(a) ? a : b;
            break;
        default:
            v = a < b || isnan(a) ? a : b;
            break;
        }
        if (dst->dtype == EMBER_DTYPE_I64 && (r == RED_ADD || r == RED_MUL)) {
            int64_t x = ((int64_t *)dst->data)[d0 + i], y = ((const int64_t *)src->data)[s0 + i];
            ((int64_t *)dst->data)[d0 + i] =
                r == RED_ADD ? (int64_t)((uint64_t)x + (uint64_t)y) : (int64_t)((uint64_t)x * (uint64_t)y);
            continue;
        }
        eo_put(dst, d0 + i, v);
    }
    return EMBER_OK;
}

static int64_t index_at(const ember_tensor *t, int64_t i) {
    return t->dtype == EMBER_DTYPE_I64   ? ((const int64_t *)t->data)[i]
           : t->dtype == EMBER_DTYPE_I32 ? ((const int32_t *)t->data)[i]
                                         : (int64_t)eo_get(t, i);
}

static ember_status check_index_type(const ember_tensor *t, const char *op) {
    if (t->dtype != EMBER_DTYPE_I64 && t->dtype != EMBER_DTYPE_I32)
        return ember_fail(EMBER_ERR_SHAPE, "%s: indices must be int32 or int64, not %s", op,
                          ember_dtype_name(t->dtype));
    return EMBER_OK;
}

/* --- ScatterND ---------------------------------------------------------------------------------------- */
ember_status scatter_nd_infer(eo_ctx *c) {
    ember_status chk = eo_check_inputs(c, 3);
    if (chk) return chk;
    const ember_tensor *x = eo_in(c, 0), *idx = eo_in(c, 1), *upd = eo_in(c, 2);
    ember_status s = check_index_type(idx, "ScatterND");
    if (s) return s;
    if (idx->ndim < 1) return ember_fail(EMBER_ERR_SHAPE, "ScatterND: indices must have rank >= 1");
    int64_t k = idx->shape[idx->ndim - 1];
    if (k > x->ndim)
        return ember_fail(EMBER_ERR_SHAPE, "ScatterND: index depth %lld exceeds data rank %d", (long long)k,
                          x->ndim);
    int want = idx->ndim - 1 + x->ndim - (int)k;
    bool ok = upd->ndim == want && upd->dtype == x->dtype;
    for (int d = 0; ok && d < idx->ndim - 1; d++) ok = upd->shape[d] == idx->shape[d];
    for (int d = 0; ok && d < x->ndim - (int)k; d++) ok = upd->shape[idx->ndim - 1 + d] == x->shape[k + d];
    if (!ok)
        return ember_fail(EMBER_ERR_SHAPE,
                          "ScatterND: updates shape must be indices.shape[:-1] + data.shape[k:]");
    return eo_set_out_like(c, 0, 0);
}

ember_status scatter_nd_run(eo_ctx *c) {
    const ember_tensor *x = eo_in(c, 0), *idx = eo_in(c, 1), *upd = eo_in(c, 2);
    ember_tensor *y = eo_out(c, 0);
    reduction r = RED_NONE;
    ember_status s = c->opset >= 16 ? get_reduction(c, "ScatterND", &r) : EMBER_OK;
    if (s || (s = eo_copy_elems(y, 0, x, 0, ember_tensor_count(x)))) return s;
    int k = (int)idx->shape[idx->ndim - 1];
    int64_t xs[EMBER_MAX_DIMS], slice = 1, n = ember_shape_count(idx->ndim - 1, idx->shape);
    ember_shape_strides(x->ndim, x->shape, xs);
    for (int d = k; d < x->ndim; d++) slice *= x->shape[d];
    for (int64_t i = 0; i < n; i++) {
        int64_t off = 0;
        for (int j = 0; j < k; j++) {
            int64_t v = index_at(idx, i * k + j), dim = x->shape[j];
            if (v < 0) v += dim;
            if (v < 0 || v >= dim)
                return ember_fail(EMBER_ERR_SHAPE, "ScatterND: index %lld out of range for dimension %d",
                                  (long long)v, j);
            off += v * xs[j];
        }
        if ((s = update_elems(y, off, upd, i * slice, slice, r))) return s;
    }
    return EMBER_OK;
}

/* --- ScatterElements, Scatter ------------------------------------------------------------------------- */
ember_status scatter_elements_infer(eo_ctx *c) {
    ember_status chk = eo_check_inputs(c, 3);
    if (chk) return chk;
    const ember_tensor *x = eo_in(c, 0), *idx = eo_in(c, 1), *upd = eo_in(c, 2);
    ember_status s = check_index_type(idx, c->node->op_type);
    if (s) return s;
    bool ok = idx->ndim == x->ndim && upd->ndim == idx->ndim && upd->dtype == x->dtype;
    for (int d = 0; ok && d < idx->ndim; d++) ok = upd->shape[d] == idx->shape[d];
    if (!ok)
        return ember_fail(EMBER_ERR_SHAPE, "%s: indices and updates must have the same shape and data's rank",
                          c->node->op_type);
    int axis;
    if ((s = eo_axis(eo_attr_int(c, "axis", 0), x->ndim, &axis))) return s;
    return eo_set_out_like(c, 0, 0);
}

ember_status scatter_elements_run(eo_ctx *c) {
    const ember_tensor *x = eo_in(c, 0), *idx = eo_in(c, 1), *upd = eo_in(c, 2);
    ember_tensor *y = eo_out(c, 0);
    reduction r = RED_NONE;
    int axis;
    ember_status s = c->opset >= 16 && strcmp(c->node->op_type, "Scatter")
                         ? get_reduction(c, "ScatterElements", &r)
                         : EMBER_OK;
    if (s || (s = eo_axis(eo_attr_int(c, "axis", 0), x->ndim, &axis))) return s;
    if ((s = eo_copy_elems(y, 0, x, 0, ember_tensor_count(x)))) return s;
    int64_t xs[EMBER_MAX_DIMS], pos[EMBER_MAX_DIMS] = {0}, n = ember_tensor_count(idx);
    ember_shape_strides(x->ndim, x->shape, xs);
    for (int64_t i = 0; i < n; i++) {
        int64_t k = index_at(idx, i), dim = x->shape[axis], off = 0;
        if (k < 0) k += dim;
        if (k < 0 || k >= dim)
            return ember_fail(EMBER_ERR_SHAPE, "%s: index %lld out of range", c->node->op_type, (long long)k);
        for (int d = 0; d < x->ndim; d++) {
            if (d != axis && pos[d] >= x->shape[d])
                return ember_fail(EMBER_ERR_SHAPE, "%s: indices larger than data", c->node->op_type);
            off += (d == axis ? k : pos[d]) * xs[d];
        }
        if ((s = update_elems(y, off, upd, i, 1, r))) return s;
        for (int d = idx->ndim - 1; d >= 0 && ++pos[d] == idx->shape[d]; d--) pos[d] = 0;
    }
    return EMBER_OK;
}

/* --- GatherND ----------------------------------------------------------------------------------------- */
ember_status gather_nd_infer(eo_ctx *c) {
    ember_status chk = eo_check_inputs(c, 2);
    if (chk) return chk;
    const ember_tensor *x = eo_in(c, 0), *idx = eo_in(c, 1);
    ember_status s = check_index_type(idx, "GatherND");
    if (s) return s;
    int b = (int)eo_attr_int(c, "batch_dims", 0);
    if (idx->ndim < 1) return ember_fail(EMBER_ERR_SHAPE, "GatherND: indices must have rank >= 1");
    int64_t k = idx->shape[idx->ndim - 1];
    if (b < 0 || b >= idx->ndim || b >= x->ndim || k + b > x->ndim)
        return ember_fail(EMBER_ERR_SHAPE,
                          "GatherND: batch_dims %d / index depth %lld do not fit data rank %d", b,
                          (long long)k, x->ndim);
    for (int d = 0; d < b; d++)
        if (x->shape[d] != idx->shape[d])
            return ember_fail(EMBER_ERR_SHAPE, "GatherND: batch dimension %d differs", d);
    int64_t shape[EMBER_MAX_DIMS];
    int r = 0;
    for (int d = 0; d < idx->ndim - 1; d++) shape[r++] = idx->shape[d];
    for (int d = b + (int)k; d < x->ndim; d++) {
        if (r >= EMBER_MAX_DIMS) return ember_fail(EMBER_ERR_UNSUPPORTED, "GatherND: output rank too large");
        shape[r++] = x->shape[d];
    }
    return eo_set_out(c, 0, x->dtype, r, shape);
}

ember_status gather_nd_run(eo_ctx *c) {
    const ember_tensor *x = eo_in(c, 0), *idx = eo_in(c, 1);
    ember_tensor *y = eo_out(c, 0);
    int b = (int)eo_attr_int(c, "batch_dims", 0), k = (int)idx->shape[idx->ndim - 1];
    int64_t xs[EMBER_MAX_DIMS], slice = 1, batch = 1, per_batch_idx = 1;
    ember_shape_strides(x->ndim, x->shape, xs);
    for (int d = b + k; d < x->ndim; d++) slice *= x->shape[d];
    for (int d = 0; d < b; d++) batch *= x->shape[d];
    for (int d = b; d < idx->ndim - 1; d++) per_batch_idx *= idx->shape[d];
    int64_t bstride = b ? xs[b - 1] : 0;
    for (int64_t bi = 0; bi < batch; bi++)
        for (int64_t i = 0; i < per_batch_idx; i++) {
            int64_t row = bi * per_batch_idx + i, off = bi * bstride;
            for (int j = 0; j < k; j++) {
                int64_t v = index_at(idx, row * k + j), dim = x->shape[b + j];
                if (v < 0) v += dim;
                if (v < 0 || v >= dim)
                    return ember_fail(EMBER_ERR_SHAPE, "GatherND: index %lld out of range for dimension %d",
                                      (long long)v, b + j);
                off += v * xs[b + j];
            }
            ember_status s = eo_copy_elems(y, row * slice, x, off, slice);
            if (s) return s;
        }
    return EMBER_OK;
}

/* --- TensorScatter ------------------------------------------------------------------------------------ */
ember_status tensor_scatter_infer(eo_ctx *c) {
    ember_status chk = eo_check_inputs(c, 2);
    if (chk) return chk;
    const ember_tensor *x = eo_in(c, 0), *upd = eo_in(c, 1), *wi = eo_in(c, 2);
    int axis;
    ember_status s = eo_axis(eo_attr_int(c, "axis", -2), x->ndim, &axis);
    if (s) return s;
    if (axis == 0) return ember_fail(EMBER_ERR_SHAPE, "TensorScatter: axis must not be the batch axis");
    bool ok = upd->ndim == x->ndim && upd->dtype == x->dtype;
    for (int d = 0; ok && d < x->ndim; d++)
        ok = d == axis ? upd->shape[d] <= x->shape[d] : upd->shape[d] == x->shape[d];
    if (!ok)
        return ember_fail(EMBER_ERR_SHAPE, "TensorScatter: update must match past_cache except along axis %d",
                          axis);
    if (wi && (wi->ndim != 1 || wi->shape[0] != x->shape[0]))
        return ember_fail(EMBER_ERR_SHAPE, "TensorScatter: write_indices must have shape [batch_size]");
    const char *mode = eo_attr_str(c, "mode", "linear");
    if (strcmp(mode, "linear") && strcmp(mode, "circular"))
        return ember_fail(EMBER_ERR_FORMAT, "TensorScatter: unknown mode '%s'", mode);
    return eo_set_out_like(c, 0, 0);
}

ember_status tensor_scatter_run(eo_ctx *c) {
    const ember_tensor *x = eo_in(c, 0), *upd = eo_in(c, 1), *wi = eo_in(c, 2);
    ember_tensor *y = eo_out(c, 0);
    int axis;
    ember_status s = eo_axis(eo_attr_int(c, "axis", -2), x->ndim, &axis);
    if (s || (s = eo_copy_elems(y, 0, x, 0, ember_tensor_count(x)))) return s;
    bool circular = !strcmp(eo_attr_str(c, "mode", "linear"), "circular");
    int64_t outer = 1, inner = 1, per_batch = 1, maxlen = x->shape[axis], len = upd->shape[axis];
    for (int d = 1; d < axis; d++) per_batch *= x->shape[d];
    outer = x->shape[0] * per_batch;
    for (int d = axis + 1; d < x->ndim; d++) inner *= x->shape[d];
    for (int64_t o = 0; o < outer; o++) {
        int64_t w = wi ? index_at(wi, o / per_batch) : 0;
        for (int64_t t = 0; t < len; t++) {
            int64_t p = w + t;
            if (circular) p = ((p % maxlen) + maxlen) % maxlen;
            if (p < 0 || p >= maxlen)
                return ember_fail(EMBER_ERR_SHAPE,
                                  "TensorScatter: write position %lld out of range [0, %lld)", (long long)p,
                                  (long long)maxlen);
            if ((s = eo_copy_elems(y, (o * maxlen + p) * inner, upd, (o * len + t) * inner, inner))) return s;
        }
    }
    return EMBER_OK;
}
