/* Selection by value: ONNX TopK (1-24), Unique (11), NonZero (9-13), Compress (9-11), OneHot (9-11).
 * Output sizes of Unique, NonZero and Compress depend on the data: they are inferred at run time. Ordering
 * is stable (ties keep the lower index first), like the reference implementation. */
#include "ops/op.h"

/* Compare element i of a with element j of b (same dtype): <0, 0, >0. NaN sorts after every number. */
static int cmp_elem(const ember_tensor *a, int64_t i, const ember_tensor *b, int64_t j) {
    switch (a->dtype) {
    case EMBER_DTYPE_STRING:
        return strcmp(((char *const *)a->data)[i], ((char *const *)b->data)[j]);
    case EMBER_DTYPE_I64: {
        int64_t x = ((const int64_t *)a->data)[i], y = ((const int64_t *)b->data)[j];
        return (x > y) - (x < y);
    }
    case EMBER_DTYPE_U64: {
        uint64_t x = ((const uint64_t *)a->data)[i], y = ((const uint64_t *)b->data)[j];
        return (x > y) - (x < y);
    }
    default: {
        double x = eo_get(a, i), y = eo_get(b, j);
        if (isnan(x) || isnan(y)) return isnan(x) - isnan(y);
        return (x > y) - (x < y);
    }
    }
}

/* Stable merge sort of idx[0..n) with cmp(ctx, a, b). */
typedef int (*idx_cmp)(const void *ctx, int64_t a, int64_t b);
static void merge_sort(int64_t *idx, int64_t *tmp, int64_t n, idx_cmp cmp, const void *ctx) {
    if (n < 2) return;
    int64_t h = n / 2;
    merge_sort(idx, tmp, h, cmp, ctx);
    merge_sort(idx + h, tmp, n - h, cmp, ctx);
    int64_t i = 0, j = h, k = 0;
    while (i < h && j < n) tmp[k++] = cmp(ctx, idx[j], idx[i]) < 0 ? idx[j++] : idx[i++];
    while (i < h) tmp[k++] = idx[i++];
    while (j < n) tmp[k++] = idx[j++];
    memcpy(idx, tmp, sizeof(int64_t) * (size_t)n);
}

/* --- TopK --------------------------------------------------------------------------------------------- */
static ember_status topk_k(const eo_ctx *c, int64_t *k) {
    if (c->opset < 10) {
        *k = eo_attr_int(c, "k", -1);
        if (*k < 0) return ember_fail(EMBER_ERR_FORMAT, "TopK-1 needs the 'k' attribute");
        return EMBER_OK;
    }
    int n = 0;
    ember_status s = eo_in_ints(c, 1, k, 1, &n);
    if (s) return s;
    if (n != 1 || *k < 0) return ember_fail(EMBER_ERR_SHAPE, "TopK: K must be one non-negative value");
    return EMBER_OK;
}

ember_status topk_infer(eo_ctx *c) {
    ember_status chk = eo_check_inputs(c, c->opset < 10 ? 1 : 2);
    if (chk) return chk;
    const ember_tensor *x = eo_in(c, 0);
    int axis;
    int64_t k;
    ember_status s = eo_axis(eo_attr_int(c, "axis", -1), x->ndim, &axis);
    if (s || (s = topk_k(c, &k))) return s;
    if (k > x->shape[axis])
        return ember_fail(EMBER_ERR_SHAPE, "TopK: K=%lld exceeds the axis size %lld", (long long)k,
                          (long long)x->shape[axis]);
    int64_t shape[EMBER_MAX_DIMS];
    memcpy(shape, x->shape, sizeof(int64_t) * (size_t)x->ndim);
    shape[axis] = k;
    if ((s = eo_set_out(c, 0, x->dtype, x->ndim, shape))) return s;
    return eo_set_out(c, 1, EMBER_DTYPE_I64, x->ndim, shape);
}

typedef struct {
    const ember_tensor *x;
    int64_t base, stride;
    bool largest;
} topk_ctx;

static int topk_cmp(const void *ctx, int64_t a, int64_t b) {
    const topk_ctx *t = ctx;
    int r = cmp_elem(t->x, t->base + a * t->stride, t->x, t->base + b * t->stride);
    if (r == 0) return (a > b) - (a < b);
    return t->largest ? -r : r;
}

ember_status topk_run(eo_ctx *c) {
    const ember_tensor *x = eo_in(c, 0);
    ember_tensor *y = eo_out(c, 0), *yi = eo_out(c, 1);
    int axis;
    int64_t k;
    ember_status s = eo_axis(eo_attr_int(c, "axis", -1), x->ndim, &axis);
    if (s || (s = topk_k(c, &k))) return s;
    int64_t dim = x->shape[axis], outer = 1, inner = 1;
    for (int d = 0; d < axis; d++) outer *= x->shape[d];
    for (int d = axis + 1; d < x->ndim; d++) inner *= x->shape[d];
    int64_t *idx = eo_scratch(c, sizeof(int64_t) * (size_t)(2 * dim + 1));
    if (!idx) return ember_fail(EMBER_ERR_NOMEM, "out of memory");
    topk_ctx t = {x, 0, inner, eo_attr_int(c, "largest", 1) != 0};
    for (int64_t o = 0; o < outer; o++)
        for (int64_t in = 0; in < inner; in++) {
            t.base = o * dim * inner + in;
            for (int64_t i = 0; i < dim; i++) idx[i] = i;
            merge_sort(idx, idx + dim, dim, topk_cmp, &t);
            for (int64_t j = 0; j < k; j++) {
                int64_t dst = (o * k + j) * inner + in;
                if (y && (s = eo_copy_elems(y, dst, x, t.base + idx[j] * inner, 1))) return s;
                if (yi) ((int64_t *)yi->data)[dst] = idx[j];
            }
        }
    return EMBER_OK;
}

/* --- Unique ------------------------------------------------------------------------------------------- */
typedef struct {
    const ember_tensor *x;
    int64_t dim, inner; /* slices along the axis: x viewed as [outer, dim, inner] */
    int64_t outer;
} uniq_ctx;

static int slice_cmp(const void *ctx, int64_t a, int64_t b) {
    const uniq_ctx *u = ctx;
    for (int64_t o = 0; o < u->outer; o++)
        for (int64_t i = 0; i < u->inner; i++) {
            int r = cmp_elem(u->x, (o * u->dim + a) * u->inner + i, u->x, (o * u->dim + b) * u->inner + i);
            if (r) return r;
        }
    return 0;
}

static int slice_cmp_stable(const void *ctx, int64_t a, int64_t b) {
    int r = slice_cmp(ctx, a, b);
    return r ? r : (a > b) - (a < b);
}

static int first_cmp(const void *ctx, int64_t a, int64_t b) {
    const int64_t *first = ctx;
    return (first[a] > first[b]) - (first[a] < first[b]);
}

ember_status unique_infer(eo_ctx *c) {
    ember_status chk = eo_check_inputs(c, 1);
    if (chk) return chk;
    const ember_tensor *x = eo_in(c, 0);
    const eg_attr *a = eo_attr(c, "axis");
    int axis;
    if (a) {
        ember_status s = eo_axis(a->i, x->ndim, &axis);
        if (s) return s;
    }
    return EO_DYNAMIC;
}

ember_status unique_run(eo_ctx *c) {
    const ember_tensor *x = eo_in(c, 0);
    const eg_attr *a = eo_attr(c, "axis");
    bool sorted = eo_attr_int(c, "sorted", 1) != 0;
    uniq_ctx u = {x, ember_tensor_count(x), 1, 1};
    int axis = -1;
    ember_status s;
    if (a) {
        if ((s = eo_axis(a->i, x->ndim, &axis))) return s;
        u.dim = x->shape[axis];
        for (int d = 0; d < axis; d++) u.outer *= x->shape[d];
        for (int d = axis + 1; d < x->ndim; d++) u.inner *= x->shape[d];
    }
    int64_t n = u.dim;
    int64_t *order = eo_scratch(c, sizeof(int64_t) * (size_t)(4 * n + 4));
    if (!order) return ember_fail(EMBER_ERR_NOMEM, "out of memory");
    int64_t *tmp = order + n, *inverse_grp = tmp + n, *first = inverse_grp + n; /* first: per group */
    for (int64_t i = 0; i < n; i++) order[i] = i;
    merge_sort(order, tmp, n, slice_cmp_stable, &u);
    /* groups in sorted order; group g's first occurrence is its first member (stable sort) */
    int64_t ngroups = 0;
    for (int64_t i = 0; i < n; i++) {
        if (i == 0 || slice_cmp(&u, order[i - 1], order[i])) first[ngroups++] = order[i];
        inverse_grp[order[i]] = ngroups - 1;
    }
    /* output rank of each group: sorted order, or order of first occurrence */
    int64_t *rank = tmp; /* reuse: group -> output position */
    int64_t *gorder = eo_scratch(c, sizeof(int64_t) * (size_t)(2 * ngroups + 2));
    if (!gorder) return ember_fail(EMBER_ERR_NOMEM, "out of memory");
    for (int64_t g = 0; g < ngroups; g++) gorder[g] = g;
    if (!sorted) merge_sort(gorder, gorder + ngroups, ngroups, first_cmp, first); /* by first occurrence */
    for (int64_t p = 0; p < ngroups; p++) rank[gorder[p]] = p;
    int64_t shape[EMBER_MAX_DIMS];
    int ndim = 1;
    shape[0] = ngroups;
    if (axis >= 0) {
        ndim = x->ndim;
        memcpy(shape, x->shape, sizeof(int64_t) * (size_t)ndim);
        shape[axis] = ngroups;
    }
    ember_tensor *y, *yi, *yinv, *ycnt;
    if ((s = eo_alloc_out(c, 0, x->dtype, ndim, shape, &y))) return s;
    if ((s = eo_alloc_out(c, 1, EMBER_DTYPE_I64, 1, &ngroups, &yi))) return s;
    if ((s = eo_alloc_out(c, 2, EMBER_DTYPE_I64, 1, &n, &yinv))) return s;
    if ((s = eo_alloc_out(c, 3, EMBER_DTYPE_I64, 1, &ngroups, &ycnt))) return s;
    for (int64_t p = 0; p < ngroups; p++) {
        int64_t src = first[gorder[p]];
        if (yi) ((int64_t *)yi->data)[p] = src;
        for (int64_t o = 0; y && o < u.outer; o++)
            for (int64_t i = 0; i < u.inner; i++)
                if ((s = eo_copy_elems(y, (o * ngroups + p) * u.inner + i, x, (o * u.dim + src) * u.inner + i,
                                       1)))
                    return s;
    }
    for (int64_t i = 0; i < n; i++) {
        int64_t p = rank[inverse_grp[i]];
        if (yinv) ((int64_t *)yinv->data)[i] = p;
        if (ycnt) ((int64_t *)ycnt->data)[p]++;
    }
    return EMBER_OK;
}

/* --- NonZero ------------------------------------------------------------------------------------------ */
static bool nonzero_at(const ember_tensor *x, int64_t i) {
    if (x->dtype == EMBER_DTYPE_STRING) return ((char *const *)x->data)[i][0] != 0;
    if (x->dtype == EMBER_DTYPE_I64 || x->dtype == EMBER_DTYPE_U64) return ((const int64_t *)x->data)[i] != 0;
    return eo_get(x, i) != 0;
}

ember_status nonzero_infer(eo_ctx *c) {
    ember_status chk = eo_check_inputs(c, 1);
    if (chk) return chk;
    (void)c;
    return EO_DYNAMIC;
}

ember_status nonzero_run(eo_ctx *c) {
    const ember_tensor *x = eo_in(c, 0);
    int64_t n = ember_tensor_count(x), nnz = 0;
    for (int64_t i = 0; i < n; i++) nnz += nonzero_at(x, i);
    int64_t shape[2] = {x->ndim, nnz}, pos[EMBER_MAX_DIMS] = {0};
    ember_tensor *y;
    ember_status s = eo_alloc_out(c, 0, EMBER_DTYPE_I64, 2, shape, &y);
    if (s || !y) return s;
    int64_t *o = y->data, k = 0;
    for (int64_t i = 0; i < n; i++) {
        if (nonzero_at(x, i)) {
            for (int d = 0; d < x->ndim; d++) o[d * nnz + k] = pos[d];
            k++;
        }
        for (int d = x->ndim - 1; d >= 0 && ++pos[d] == x->shape[d]; d--) pos[d] = 0;
    }
    return EMBER_OK;
}

/* --- Compress ----------------------------------------------------------------------------------------- */
ember_status compress_infer(eo_ctx *c) {
    ember_status chk = eo_check_inputs(c, 2);
    if (chk) return chk;
    const ember_tensor *x = eo_in(c, 0), *cond = eo_in(c, 1);
    const eg_attr *a = eo_attr(c, "axis");
    int axis = -1;
    ember_status s;
    if (a && (s = eo_axis(a->i, x->ndim, &axis))) return s;
    if (cond->ndim != 1) return ember_fail(EMBER_ERR_SHAPE, "Compress: condition must be 1-D");
    int64_t len = axis >= 0 ? x->shape[axis] : ember_tensor_count(x);
    if (cond->shape[0] > len)
        return ember_fail(EMBER_ERR_SHAPE, "Compress: condition longer than the input (%lld > %lld)",
                          (long long)cond->shape[0], (long long)len);
    if (!cond->data) return EO_DYNAMIC;
    int64_t nsel = 0;
    for (int64_t i = 0; i < cond->shape[0]; i++) nsel += eo_get(cond, i) != 0;
    if (axis < 0) return eo_set_out(c, 0, x->dtype, 1, &nsel);
    int64_t shape[EMBER_MAX_DIMS];
    memcpy(shape, x->shape, sizeof(int64_t) * (size_t)x->ndim);
    shape[axis] = nsel;
    return eo_set_out(c, 0, x->dtype, x->ndim, shape);
}

ember_status compress_run(eo_ctx *c) {
    const ember_tensor *x = eo_in(c, 0), *cond = eo_in(c, 1);
    ember_tensor *y = eo_out(c, 0);
    const eg_attr *a = eo_attr(c, "axis");
    int axis = -1;
    ember_status s;
    if (a && (s = eo_axis(a->i, x->ndim, &axis))) return s;
    int64_t outer = 1, inner = 1, dim = ember_tensor_count(x);
    if (axis >= 0) {
        dim = x->shape[axis];
        for (int d = 0; d < axis; d++) outer *= x->shape[d];
        for (int d = axis + 1; d < x->ndim; d++) inner *= x->shape[d];
    }
    int64_t nsel = axis >= 0 ? y->shape[axis] : y->shape[0], k = 0;
    for (int64_t i = 0; i < cond->shape[0]; i++) {
        if (eo_get(cond, i) == 0) continue;
        for (int64_t o = 0; o < outer; o++)
            for (int64_t j = 0; j < inner; j++)
                if ((s = eo_copy_elems(y, (o * nsel + k) * inner + j, x, (o * dim + i) * inner + j, 1)))
                    return s;
        k++;
    }
    return EMBER_OK;
}

/* --- OneHot ------------------------------------------------------------------------------------------- */
static ember_status onehot_depth(const eo_ctx *c, int64_t *depth) {
    double d;
    ember_status s = eo_in_scalar(c, 1, &d);
    if (s) return s;
    if (!(d >= 1) || d > 1e12)
        return ember_fail(EMBER_ERR_SHAPE, "OneHot: depth must be positive, got %g", d);
    *depth = (int64_t)d;
    return EMBER_OK;
}

ember_status onehot_infer(eo_ctx *c) {
    ember_status chk = eo_check_inputs(c, 3);
    if (chk) return chk;
    const ember_tensor *idx = eo_in(c, 0), *vals = eo_in(c, 2);
    if (ember_tensor_count(vals) != 2)
        return ember_fail(EMBER_ERR_SHAPE, "OneHot: values must have 2 elements [off, on]");
    int64_t axis = eo_attr_int(c, "axis", -1);
    if (axis < 0) axis += idx->ndim + 1;
    if (axis < 0 || axis > idx->ndim) return ember_fail(EMBER_ERR_SHAPE, "OneHot: axis out of range");
    if (idx->ndim + 1 > EMBER_MAX_DIMS)
        return ember_fail(EMBER_ERR_UNSUPPORTED, "OneHot: output rank too large");
    int64_t depth;
    ember_status s = onehot_depth(c, &depth);
    if (s) return s;
    int64_t shape[EMBER_MAX_DIMS];
    int r = 0;
    for (int d = 0; d < idx->ndim; d++) {
        if (d == axis) shape[r++] = depth;
        shape[r++] = idx->shape[d];
    }
    if (axis == idx->ndim) shape[r++] = depth;
    return eo_set_out(c, 0, vals->dtype, r, shape);
}

ember_status onehot_run(eo_ctx *c) {
    const ember_tensor *idx = eo_in(c, 0), *vals = eo_in(c, 2);
    ember_tensor *y = eo_out(c, 0);
    int64_t axis = eo_attr_int(c, "axis", -1), depth;
    if (axis < 0) axis += idx->ndim + 1;
    ember_status s = onehot_depth(c, &depth);
    if (s) return s;
    int64_t outer = 1, inner = 1;
    for (int d = 0; d < axis; d++) outer *= idx->shape[d];
    for (int d = (int)axis; d < idx->ndim; d++) inner *= idx->shape[d];
    for (int64_t o = 0; o < outer; o++)
        for (int64_t i = 0; i < inner; i++) {
            double v = eo_get(idx, o * inner + i);
            int64_t k = v >= -(double)depth && v < (double)depth
                            ? (int64_t)v
                            : depth; /* out of range (and NaN): all off */
            if (k < 0) k += depth;
            for (int64_t d = 0; d < depth; d++)
                if ((s = eo_copy_elems(y, (o * depth + d) * inner + i, vals, d == k ? 1 : 0, 1))) return s;
        }
    return EMBER_OK;
}
