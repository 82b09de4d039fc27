/* Data-movement ops: values copied, reshaped or rearranged without arithmetic. ONNX Identity, Constant,
 * Shape, Size, Cast, CastLike, Reshape, Flatten, Squeeze, Unsqueeze, Transpose, Concat, Split, Slice,
 * Gather, Expand, Tile, ConstantOfShape, Range, Dropout (inference), EyeLike; opsets 1-22. */
#include "ops/op.h"

#include <stdio.h>
#include <stdlib.h>

/* Reshape-like ops copy the data unchanged (same element order); nothing to do when the planner placed
 * the output on the input's bytes. */
static ember_status copy_run(eo_ctx *c) {
    const ember_tensor *x = eo_in(c, 0);
    ember_tensor *y = eo_out(c, 0);
    if (x->data == y->data && x->dtype == y->dtype && x->dtype != EMBER_DTYPE_STRING) return EMBER_OK;
    return eo_convert(x, y);
}

ember_status identity_run(eo_ctx *c) {
    const ev *x = c->in[0];
    if (x->kind != EV_TENSOR) return ev_copy(c->out[0], x);
    return copy_run(c);
}

/* --- Constant ----------------------------------------------------------------------------------------- */
ember_status constant_infer(eo_ctx *c) {
    const eg_node *n = c->node;
    if (n->nattr != 1) return ember_fail(EMBER_ERR_FORMAT, "Constant needs exactly one value attribute");
    const eg_attr *a = &n->attr[0];
    int64_t len = a->n;
    if (!strcmp(a->name, "value")) {
        if (!a->t) return ember_fail(EMBER_ERR_FORMAT, "Constant: attribute 'value' is not a tensor");
        return eo_set_out(c, 0, a->t->dtype, a->t->ndim, a->t->shape);
    }
    if (!strcmp(a->name, "value_float")) return eo_set_out(c, 0, EMBER_DTYPE_F32, 0, NULL);
    if (!strcmp(a->name, "value_int")) return eo_set_out(c, 0, EMBER_DTYPE_I64, 0, NULL);
    if (!strcmp(a->name, "value_string")) return eo_set_out(c, 0, EMBER_DTYPE_STRING, 0, NULL);
    if (!strcmp(a->name, "value_floats")) return eo_set_out(c, 0, EMBER_DTYPE_F32, 1, &len);
    if (!strcmp(a->name, "value_ints")) return eo_set_out(c, 0, EMBER_DTYPE_I64, 1, &len);
    if (!strcmp(a->name, "value_strings")) return eo_set_out(c, 0, EMBER_DTYPE_STRING, 1, &len);
    return ember_fail(EMBER_ERR_UNSUPPORTED, "Constant attribute '%s'", a->name);
}

ember_status constant_run(eo_ctx *c) {
    const eg_attr *a = &c->node->attr[0];
    ember_tensor *y = eo_out(c, 0);
    if (a->t) return eo_convert(a->t, y);
    if (!strcmp(a->name, "value_float")) ((float *)y->data)[0] = a->f;
    else if (!strcmp(a->name, "value_int")) ((int64_t *)y->data)[0] = a->i;
    else if (!strcmp(a->name, "value_floats")) memcpy(y->data, a->floats, sizeof(float) * (size_t)a->n);
    else if (!strcmp(a->name, "value_ints")) memcpy(y->data, a->ints, sizeof(int64_t) * (size_t)a->n);
    else if (!strcmp(a->name, "value_string")) return ember_tensor_set_string(y, 0, a->s, a->slen);
    else if (!strcmp(a->name, "value_strings"))
        for (int i = 0; i < a->n; i++) {
            ember_status s = ember_tensor_set_string(y, i, a->strs[i], a->strlens[i]);
            if (s) return s;
        }
    return EMBER_OK;
}

/* --- Shape, Size -------------------------------------------------------------------------------------- */
static void shape_range(const eo_ctx *c, int rank, int *b, int *e) {
    int64_t start = eo_attr_int(c, "start", 0), end = eo_attr_int(c, "end", rank);
    if (start < 0) start += rank;
    if (end < 0) end += rank;
    *b = (int)(start < 0 ? 0 : start > rank ? rank : start);
    *e = (int)(end < 0 ? 0 : end > rank ? rank : end);
    if (*e < *b) *e = *b;
}

ember_status shape_infer(eo_ctx *c) {
    int b, e;
    shape_range(c, eo_in(c, 0)->ndim, &b, &e);
    int64_t n = e - b;
    return eo_set_out(c, 0, EMBER_DTYPE_I64, 1, &n);
}

ember_status shape_run(eo_ctx *c) {
    const ember_tensor *x = eo_in(c, 0);
    int b, e;
    shape_range(c, x->ndim, &b, &e);
    for (int i = b; i < e; i++) ((int64_t *)eo_out(c, 0)->data)[i - b] = x->shape[i];
    return EMBER_OK;
}

ember_status size_infer(eo_ctx *c) { return eo_set_out(c, 0, EMBER_DTYPE_I64, 0, NULL); }
ember_status size_run(eo_ctx *c) {
    *(int64_t *)eo_out(c, 0)->data = ember_tensor_count(eo_in(c, 0));
    return EMBER_OK;
}

/* --- Cast, CastLike ----------------------------------------------------------------------------------- */
static ember_status cast_to(eo_ctx *c, ember_dtype *to) {
    if (!strcmp(c->node->op_type, "CastLike")) {
        *to = eo_dtype(c, 1);
        return *to ? EMBER_OK : ember_fail(EMBER_ERR_SHAPE, "CastLike needs target_type (input 1)");
    }
    const eg_attr *a = eo_attr(c, "to");
    if (!a) return ember_fail(EMBER_ERR_FORMAT, "Cast needs the 'to' attribute");
    *to = a->type == EG_ATTR_STRING ? ember_dtype_from_name(a->s) : (ember_dtype)a->i;
    if (*to <= 0 || *to >= EMBER_DTYPE_COUNT) return ember_fail(EMBER_ERR_FORMAT, "Cast to unknown type %lld", (long long)a->i);
    return EMBER_OK;
}

ember_status cast_infer(eo_ctx *c) {
    ember_dtype to = EMBER_DTYPE_UNDEFINED;
    ember_status s = cast_to(c, &to);
    if (s) return s;
    const ember_tensor *x = eo_has(c, 0) && c->in[0]->kind == EV_TENSOR ? eo_in(c, 0) : NULL;
    if (!x) return ember_fail(EMBER_ERR_SHAPE, "%s: input 0 must be a tensor", c->node->op_type);
    return eo_set_out(c, 0, to, x->ndim, x->shape);
}

/* Shortest text that reads back as the same float (like Python's repr). */
static void format_float(char *buf, size_t cap, double v, bool f32) {
    if (isnan(v)) { snprintf(buf, cap, "NaN"); return; }
    if (isinf(v)) { snprintf(buf, cap, v > 0 ? "INF" : "-INF"); return; }
    for (int p = 1; p <= 17; p++) {
        snprintf(buf, cap, "%.*g", p, v);
        double back = strtod(buf, NULL);
        if (f32 ? (float)back == (float)v : back == v) return;
    }
}

static ember_status cast_strings(const ember_tensor *x, ember_tensor *y) {
    int64_t n = ember_tensor_count(x);
    if (x->dtype == EMBER_DTYPE_STRING) {
        for (int64_t i = 0; i < n; i++) {
            const char *s = ((char *const *)x->data)[i];
            double v = strtod(s, NULL);
            if (!strcasecmp(s, "inf") || !strcasecmp(s, "+inf") || !strcasecmp(s, "infinity")) v = INFINITY;
            else if (!strcasecmp(s, "-inf") || !strcasecmp(s, "-infinity")) v = -INFINITY;
            eo_put(y, i, v);
        }
        return EMBER_OK;
    }
    for (int64_t i = 0; i < n; i++) {
        char buf[64];
        double v = eo_get(x, i);
        if (ember_dtype_is_float(x->dtype)) format_float(buf, sizeof buf, v, x->dtype != EMBER_DTYPE_F64);
        else if (x->dtype == EMBER_DTYPE_I64) snprintf(buf, sizeof buf, "%lld", (long long)((const int64_t *)x->data)[i]);
        else if (x->dtype == EMBER_DTYPE_U64) snprintf(buf, sizeof buf, "%llu", (unsigned long long)((const uint64_t *)x->data)[i]);
        else if (x->dtype == EMBER_DTYPE_BOOL) snprintf(buf, sizeof buf, "%s", v != 0 ? "True" : "False");
        else snprintf(buf, sizeof buf, "%.0f", v);
        ember_status s = ember_tensor_set_string(y, i, buf, strlen(buf));
        if (s) return s;
    }
    return EMBER_OK;
}

ember_status cast_run(eo_ctx *c) {
    const ember_tensor *x = eo_in(c, 0);
    ember_tensor *y = eo_out(c, 0);
    if (!y) return EMBER_OK; /* output unused */
    if ((x->dtype == EMBER_DTYPE_STRING) != (y->dtype == EMBER_DTYPE_STRING)) return cast_strings(x, y);
    if (eo_dtype_is_small(x->dtype) || eo_dtype_is_small(y->dtype)) /* cast.c */
        return eo_cast_small(x, y, eo_attr_int(c, "saturate", 1) != 0, eo_attr_str(c, "round_mode", "up"));
    return eo_convert(x, y);
}

/* --- Reshape, Flatten, Squeeze, Unsqueeze ------------------------------------------------------------- */
ember_status reshape_infer(eo_ctx *c) {
    const ember_tensor *x = eo_in(c, 0);
    int64_t want[EMBER_MAX_DIMS];
    int n;
    ember_status s;
    if (c->opset < 5) {
        const int64_t *v;
        n = eo_attr_ints(c, "shape", &v);
        if (n < 0 || n > EMBER_MAX_DIMS) return ember_fail(EMBER_ERR_FORMAT, "Reshape-1 needs a 'shape' attribute");
        memcpy(want, v, sizeof(int64_t) * (size_t)n);
    } else if ((s = eo_in_ints(c, 1, want, EMBER_MAX_DIMS, &n))) {
        return s;
    }
    bool allowzero = eo_attr_int(c, "allowzero", 0);
    int64_t shape[EMBER_MAX_DIMS], known = 1, total = ember_tensor_count(x);
    int infer_at = -1;
    for (int i = 0; i < n; i++) {
        shape[i] = want[i];
        if (want[i] == 0 && !allowzero) {
            if (i >= x->ndim) return ember_fail(EMBER_ERR_SHAPE, "Reshape: 0 at position %d but the input has rank %d", i, x->ndim);
            shape[i] = x->shape[i];
        }
        if (shape[i] == -1) {
            if (infer_at >= 0) return ember_fail(EMBER_ERR_SHAPE, "Reshape: more than one -1");
            infer_at = i;
        } else if (shape[i] < 0) {
            return ember_fail(EMBER_ERR_SHAPE, "Reshape: invalid dimension %lld", (long long)shape[i]);
        } else {
            known *= shape[i];
        }
    }
    if (infer_at >= 0) {
        if (known == 0 || total % known) return ember_fail(EMBER_ERR_SHAPE, "Reshape: cannot infer the -1 dimension");
        shape[infer_at] = total / known;
    } else if (known != total) {
        char a[128], b[128];
        ember_shape_format(a, sizeof a, x->ndim, x->shape);
        ember_shape_format(b, sizeof b, n, shape);
        return ember_fail(EMBER_ERR_SHAPE, "Reshape: cannot reshape %s into %s", a, b);
    }
    return eo_set_out(c, 0, x->dtype, n, shape);
}
ember_status reshape_run(eo_ctx *c) { return copy_run(c); }

ember_status flatten_infer(eo_ctx *c) {
    const ember_tensor *x = eo_in(c, 0);
    int64_t axis = eo_attr_int(c, "axis", 1);
    if (axis < 0) axis += x->ndim;
    if (axis < 0 || axis > x->ndim) return ember_fail(EMBER_ERR_SHAPE, "Flatten: axis out of range");
    int64_t shape[2] = {1, 1};
    for (int d = 0; d < x->ndim; d++) shape[d >= axis] *= x->shape[d];
    return eo_set_out(c, 0, x->dtype, 2, shape);
}
ember_status flatten_run(eo_ctx *c) { return copy_run(c); }

/* Axes from the attribute (older opsets) or input 1. n = -1 when none are given. */
static ember_status get_axes(eo_ctx *c, int input, int64_t *axes, int *n) {
    *n = -1;
    if (eo_has(c, input)) return eo_in_ints(c, input, axes, EMBER_MAX_DIMS * 2, n);
    const int64_t *v;
    int k = eo_attr_ints(c, "axes", &v);
    if (k > EMBER_MAX_DIMS * 2) return ember_fail(EMBER_ERR_SHAPE, "too many axes");
    if (k >= 0) memcpy(axes, v, sizeof(int64_t) * (size_t)k);
    *n = k;
    return EMBER_OK;
}

ember_status squeeze_infer(eo_ctx *c) {
    const ember_tensor *x = eo_in(c, 0);
    int64_t axes[EMBER_MAX_DIMS * 2];
    int n;
    ember_status s = get_axes(c, 1, axes, &n);
    if (s) return s;
    bool drop[EMBER_MAX_DIMS] = {false};
    for (int i = 0; i < n; i++) {
        int a;
        if ((s = eo_axis(axes[i], x->ndim, &a))) return s;
        if (x->shape[a] != 1) return ember_fail(EMBER_ERR_SHAPE, "Squeeze: dimension %d is %lld, not 1", a, (long long)x->shape[a]);
        drop[a] = true;
    }
    int64_t shape[EMBER_MAX_DIMS];
    int k = 0;
    for (int d = 0; d < x->ndim; d++)
        if (!(n < 0 ? x->shape[d] == 1 : drop[d])) shape[k++] = x->shape[d];
    return eo_set_out(c, 0, x->dtype, k, shape);
}
ember_status squeeze_run(eo_ctx *c) { return copy_run(c); }

ember_status unsqueeze_infer(eo_ctx *c) {
    const ember_tensor *x = eo_in(c, 0);
    int64_t axes[EMBER_MAX_DIMS * 2];
    int n;
    ember_status s = get_axes(c, 1, axes, &n);
    if (s) return s;
    int rank = x->ndim + (n > 0 ? n : 0);
    if (rank > EMBER_MAX_DIMS) return ember_fail(EMBER_ERR_UNSUPPORTED, "Unsqueeze: rank %d", rank);
    bool ins[EMBER_MAX_DIMS] = {false};
    for (int i = 0; i < n; i++) {
        int a;
        if ((s = eo_axis(axes[i], rank, &a))) return s;
        if (ins[a]) return ember_fail(EMBER_ERR_SHAPE, "Unsqueeze: axis %d repeated", a);
        ins[a] = true;
    }
    int64_t shape[EMBER_MAX_DIMS];
    for (int d = 0, k = 0; d < rank; d++) shape[d] = ins[d] ? 1 : x->shape[k++];
    return eo_set_out(c, 0, x->dtype, rank, shape);
}
ember_status unsqueeze_run(eo_ctx *c) { return copy_run(c); }

/* --- Transpose ---------------------------------------------------------------------------------------- */
static ember_status get_perm(const eo_ctx *c, int rank, int *perm) {
    const int64_t *p;
    int n = eo_attr_ints(c, "perm", &p);
    bool seen[EMBER_MAX_DIMS] = {false};
    for (int i = 0; i < rank; i++) {
        int64_t v = n < 0 ? rank - 1 - i : p[i];
        if (n >= 0 && n != rank) return ember_fail(EMBER_ERR_SHAPE, "Transpose: perm has %d entries for rank %d", n, rank);
        if (v < 0) v += rank;
        if (v < 0 || v >= rank || seen[v]) return ember_fail(EMBER_ERR_SHAPE, "Transpose: perm is not a permutation");
        seen[v] = true;
        perm[i] = (int)v;
    }
    return EMBER_OK;
}

ember_status transpose_infer(eo_ctx *c) {
    const ember_tensor *x = eo_in(c, 0);
    int perm[EMBER_MAX_DIMS];
    ember_status s = get_perm(c, x->ndim, perm);
    if (s) return s;
    int64_t shape[EMBER_MAX_DIMS];
    for (int i = 0; i < x->ndim; i++) shape[i] = x->shape[perm[i]];
    return eo_set_out(c, 0, x->dtype, x->ndim, shape);
}

ember_status transpose_run(eo_ctx *c) {
    const ember_tensor *x = eo_in(c, 0);
    int perm[EMBER_MAX_DIMS];
    ember_status s = get_perm(c, x->ndim, perm);
    if (s) return s;
    int64_t xs[EMBER_MAX_DIMS], st[EMBER_MAX_DIMS];
    ember_shape_strides(x->ndim, x->shape, xs);
    for (int i = 0; i < x->ndim; i++) st[i] = xs[perm[i]];
    return eo_strided_copy(eo_out(c, 0), x, st, 0, c->pool);
}

/* --- Concat, Split ------------------------------------------------------------------------------------ */
ember_status concat_infer(eo_ctx *c) {
    const ember_tensor *x = eo_in(c, 0);
    int axis;
    ember_status s = eo_axis(eo_attr_int(c, "axis", 1), x->ndim, &axis);
    if (s) return s;
    int64_t shape[EMBER_MAX_DIMS];
    memcpy(shape, x->shape, sizeof shape);
    shape[axis] = 0;
    for (int i = 0; i < c->nin; i++) {
        const ember_tensor *t = eo_in(c, i);
        if (!t) continue;
        if (t->ndim != x->ndim || t->dtype != x->dtype) return ember_fail(EMBER_ERR_SHAPE, "Concat: input %d differs in rank or type", i);
        for (int d = 0; d < x->ndim; d++)
            if (d != axis && t->shape[d] != x->shape[d]) return ember_fail(EMBER_ERR_SHAPE, "Concat: input %d dimension %d differs", i, d);
        shape[axis] += t->shape[axis];
    }
    return eo_set_out(c, 0, x->dtype, x->ndim, shape);
}

/* Copy rows: y[outer][offset .. offset+len) = x[outer][0 .. len) in units of bytes. */
static ember_status copy_block(ember_tensor *y, const ember_tensor *x, int64_t outer, int64_t ylen, int64_t xlen,
                               int64_t yoff, int64_t xoff, int64_t len) {
    size_t es = eo_esize(x->dtype);
    for (int64_t o = 0; o < outer; o++) {
        if (x->dtype == EMBER_DTYPE_STRING) {
            for (int64_t i = 0; i < len; i++) {
                const char *s = ((char *const *)x->data)[o * xlen + xoff + i];
                ember_status st = ember_tensor_set_string(y, o * ylen + yoff + i, s, strlen(s));
                if (st) return st;
            }
        } else {
            memcpy((char *)y->data + (size_t)(o * ylen + yoff) * es, (const char *)x->data + (size_t)(o * xlen + xoff) * es,
                   (size_t)len * es);
        }
    }
    return EMBER_OK;
}

ember_status concat_run(eo_ctx *c) {
    ember_tensor *y = eo_out(c, 0);
    int axis;
    ember_status s = eo_axis(eo_attr_int(c, "axis", 1), y->ndim, &axis);
    if (s) return s;
    int64_t outer = 1, inner = 1;
    for (int d = 0; d < axis; d++) outer *= y->shape[d];
    for (int d = axis + 1; d < y->ndim; d++) inner *= y->shape[d];
    int64_t ylen = y->shape[axis] * inner, off = 0;
    for (int i = 0; i < c->nin && !s; i++) {
        const ember_tensor *x = eo_in(c, i);
        if (!x) continue;
        int64_t len = x->shape[axis] * inner;
        if (outer == 1 && x->dtype != EMBER_DTYPE_STRING && x->data == (char *)y->data + (size_t)off * eo_esize(x->dtype)) {
            off += len; /* the planner placed this input inside the output already */
            continue;
        }
        s = copy_block(y, x, outer, ylen, len, off, 0, len);
        off += len;
    }
    return s;
}

/* Split sizes: from input 1 / attribute 'split', or equal parts (num_outputs or the output count). */
static ember_status split_sizes(eo_ctx *c, const ember_tensor *x, int axis, int64_t *sizes) {
    int n = -1;
    int64_t v[256];
    ember_status s;
    if (eo_has(c, 1)) {
        if ((s = eo_in_ints(c, 1, v, 256, &n))) return s;
    } else {
        const int64_t *a;
        n = eo_attr_ints(c, "split", &a);
        if (n > 256) return ember_fail(EMBER_ERR_SHAPE, "Split: too many parts");
        if (n > 0) memcpy(v, a, sizeof(int64_t) * (size_t)n);
    }
    int64_t dim = x->shape[axis];
    if (n >= 0) {
        if (n != c->nout) return ember_fail(EMBER_ERR_SHAPE, "Split: %d sizes for %d outputs", n, c->nout);
        int64_t total = 0;
        for (int i = 0; i < n; i++) total += sizes[i] = v[i];
        if (total != dim) return ember_fail(EMBER_ERR_SHAPE, "Split: sizes add up to %lld, dimension is %lld", (long long)total, (long long)dim);
        return EMBER_OK;
    }
    int parts = c->nout;
    int64_t chunk = (dim + parts - 1) / parts;
    for (int i = 0; i < parts; i++) {
        int64_t start = chunk * i;
        sizes[i] = start >= dim ? 0 : (dim - start < chunk ? dim - start : chunk);
    }
    if (!eo_attr(c, "num_outputs") && dim % parts) return ember_fail(EMBER_ERR_SHAPE, "Split: %lld is not divisible into %d parts", (long long)dim, parts);
    return EMBER_OK;
}

ember_status split_infer(eo_ctx *c) {
    const ember_tensor *x = eo_in(c, 0);
    int axis;
    int64_t sizes[256];
    if (c->nout > 256) return ember_fail(EMBER_ERR_UNSUPPORTED, "Split into more than 256 parts");
    ember_status s = eo_axis(eo_attr_int(c, "axis", 0), x->ndim, &axis);
    if (!s) s = split_sizes(c, x, axis, sizes);
    for (int i = 0; i < c->nout && !s; i++) {
        int64_t shape[EMBER_MAX_DIMS];
        memcpy(shape, x->shape, sizeof shape);
        shape[axis] = sizes[i];
        s = eo_set_out(c, i, x->dtype, x->ndim, shape);
    }
    return s;
}

ember_status split_run(eo_ctx *c) {
    const ember_tensor *x = eo_in(c, 0);
    int axis;
    int64_t sizes[256];
    ember_status s = eo_axis(eo_attr_int(c, "axis", 0), x->ndim, &axis);
    if (!s) s = split_sizes(c, x, axis, sizes);
    int64_t outer = 1, inner = 1, off = 0;
    for (int d = 0; d < axis; d++) outer *= x->shape[d];
    for (int d = axis + 1; d < x->ndim; d++) inner *= x->shape[d];
    for (int i = 0; i < c->nout && !s; i++) {
        ember_tensor *y = eo_out(c, i);
        int64_t len = sizes[i] * inner;
        if (y) s = copy_block(y, x, outer, len, x->shape[axis] * inner, 0, off, len);
        off += len;
    }
    return s;
}

/* --- Slice -------------------------------------------------------------------------------------------- */
typedef struct slice_plan {
    int64_t start[EMBER_MAX_DIMS], step[EMBER_MAX_DIMS], shape[EMBER_MAX_DIMS];
} slice_plan;

static ember_status slice_plan_make(eo_ctx *c, const ember_tensor *x, slice_plan *p) {
    int64_t starts[EMBER_MAX_DIMS], ends[EMBER_MAX_DIMS], axes[EMBER_MAX_DIMS], steps[EMBER_MAX_DIMS];
    int ns, ne, na = -1, nst = -1;
    ember_status s;
    if (c->opset < 10) {
        const int64_t *v;
        ns = eo_attr_ints(c, "starts", &v);
        if (ns < 0 || ns > EMBER_MAX_DIMS) return ember_fail(EMBER_ERR_FORMAT, "Slice: 'starts' missing");
        memcpy(starts, v, sizeof(int64_t) * (size_t)ns);
        ne = eo_attr_ints(c, "ends", &v);
        if (ne != ns) return ember_fail(EMBER_ERR_FORMAT, "Slice: 'ends' must match 'starts'");
        memcpy(ends, v, sizeof(int64_t) * (size_t)ne);
        na = eo_attr_ints(c, "axes", &v);
        if (na > EMBER_MAX_DIMS) return ember_fail(EMBER_ERR_FORMAT, "Slice: too many axes");
        if (na >= 0) memcpy(axes, v, sizeof(int64_t) * (size_t)na);
    } else {
        if ((s = eo_in_ints(c, 1, starts, EMBER_MAX_DIMS, &ns)) || (s = eo_in_ints(c, 2, ends, EMBER_MAX_DIMS, &ne))) return s;
        if (eo_has(c, 3) && (s = eo_in_ints(c, 3, axes, EMBER_MAX_DIMS, &na))) return s;
        if (eo_has(c, 4) && (s = eo_in_ints(c, 4, steps, EMBER_MAX_DIMS, &nst))) return s;
        if (ne != ns || (na >= 0 && na != ns) || (nst >= 0 && nst != ns))
            return ember_fail(EMBER_ERR_SHAPE, "Slice: starts, ends, axes and steps must have the same length");
    }
    for (int d = 0; d < x->ndim; d++) {
        p->start[d] = 0;
        p->step[d] = 1;
        p->shape[d] = x->shape[d];
    }
    bool seen[EMBER_MAX_DIMS] = {false};
    for (int i = 0; i < ns; i++) {
        int a;
        if ((s = eo_axis(na >= 0 ? axes[i] : i, x->ndim, &a))) return s;
        if (seen[a]) return ember_fail(EMBER_ERR_SHAPE, "Slice: axis %d repeated", a);
        seen[a] = true;
        int64_t dim = x->shape[a], step = nst >= 0 ? steps[i] : 1, b = starts[i], e = ends[i];
        if (step == 0) return ember_fail(EMBER_ERR_SHAPE, "Slice: step 0");
        if (b < 0) b += dim;
        if (e < 0 && e > INT64_MIN / 2) e += dim;
        if (step > 0) {
            b = b < 0 ? 0 : b > dim ? dim : b;
            e = e < 0 ? 0 : e > dim ? dim : e;
        } else {
            b = b < 0 ? -1 : b > dim - 1 ? dim - 1 : b;
            e = e < -1 ? -1 : e > dim - 1 ? dim - 1 : e;
        }
        int64_t len = step > 0 ? (e - b + step - 1) / step : (b - e + (-step) - 1) / (-step);
        p->start[a] = b;
        p->step[a] = step;
        p->shape[a] = len < 0 ? 0 : len;
    }
    return EMBER_OK;
}

ember_status slice_infer(eo_ctx *c) {
    const ember_tensor *x = eo_in(c, 0);
    slice_plan p;
    ember_status s = slice_plan_make(c, x, &p);
    if (s) return s;
    return eo_set_out(c, 0, x->dtype, x->ndim, p.shape);
}

ember_status slice_run(eo_ctx *c) {
    const ember_tensor *x = eo_in(c, 0);
    slice_plan p;
    ember_status s = slice_plan_make(c, x, &p);
    if (s) return s;
    int64_t xs[EMBER_MAX_DIMS], st[EMBER_MAX_DIMS], off = 0;
    ember_shape_strides(x->ndim, x->shape, xs);
    for (int d = 0; d < x->ndim; d++) {
        st[d] = xs[d] * p.step[d];
        off += p.start[d] * xs[d];
    }
    return eo_strided_copy(eo_out(c, 0), x, st, off, c->pool);
}

/* --- Gather ------------------------------------------------------------------------------------------- */
/* The table (input 0) may be a deferred initializer's bytes in the model file, misaligned for its type
 * (eg_exec's borrow_deferred): gather_run reads it only through copy_block's memcpy. */
ember_status gather_infer(eo_ctx *c) {
    const ember_tensor *x = eo_in(c, 0), *idx = eo_in(c, 1);
    int axis;
    ember_status s = eo_axis(eo_attr_int(c, "axis", 0), x->ndim, &axis);
    if (s) return s;
    int rank = x->ndim - 1 + idx->ndim;
    if (rank > EMBER_MAX_DIMS) return ember_fail(EMBER_ERR_UNSUPPORTED, "Gather: output rank %d", rank);
    int64_t shape[EMBER_MAX_DIMS];
    int k = 0;
    for (int d = 0; d < axis; d++) shape[k++] = x->shape[d];
    for (int d = 0; d < idx->ndim; d++) shape[k++] = idx->shape[d];
    for (int d = axis + 1; d < x->ndim; d++) shape[k++] = x->shape[d];
    return eo_set_out(c, 0, x->dtype, rank, shape);
}

ember_status gather_run(eo_ctx *c) {
    const ember_tensor *x = eo_in(c, 0), *idx = eo_in(c, 1);
    ember_tensor *y = eo_out(c, 0);
    int axis;
    ember_status s = eo_axis(eo_attr_int(c, "axis", 0), x->ndim, &axis);
    if (s) return s;
    int64_t outer = 1, inner = 1, dim = x->shape[axis], nidx = ember_tensor_count(idx);
    for (int d = 0; d < axis; d++) outer *= x->shape[d];
    for (int d = axis + 1; d < x->ndim; d++) inner *= x->shape[d];
    for (int64_t i = 0; i < nidx && !s; i++) {
        int64_t k = idx->dtype == EMBER_DTYPE_I64 ? ((const int64_t *)idx->data)[i] : ((const int32_t *)idx->data)[i];
        if (k < 0) k += dim;
        if (k < 0 || k >= dim) return ember_fail(EMBER_ERR_SHAPE, "Gather: index %lld out of range [-%lld, %lld)", (long long)k, (long long)dim, (long long)dim);
        /* y[o][i][:] = x[o][k][:] */
        for (int64_t o = 0; o < outer && !s; o++) s = copy_block(y, x, 1, 0, 0, (o * nidx + i) * inner, (o * dim + k) * inner, inner);
    }
    return s;
}

/* --- Expand, Tile ------------------------------------------------------------------------------------- */
ember_status expand_infer(eo_ctx *c) {
    const ember_tensor *x = eo_in(c, 0);
    int64_t want[EMBER_MAX_DIMS], shape[EMBER_MAX_DIMS];
    int n, ndim;
    ember_status s = eo_in_ints(c, 1, want, EMBER_MAX_DIMS, &n);
    if (s) return s;
    if ((s = ember_shape_broadcast(x->ndim, x->shape, n, want, &ndim, shape))) return s;
    return eo_set_out(c, 0, x->dtype, ndim, shape);
}

/* Strides reading x broadcast to y's shape (0 along broadcast dims). */
static void bcast_strides(const ember_tensor *x, const ember_tensor *y, int64_t *st) {
    int64_t xs[EMBER_MAX_DIMS];
    ember_shape_strides(x->ndim, x->shape, xs);
    int off = y->ndim - x->ndim;
    for (int d = 0; d < y->ndim; d++) st[d] = d < off || x->shape[d - off] == 1 ? 0 : xs[d - off];
}

ember_status expand_run(eo_ctx *c) {
    const ember_tensor *x = eo_in(c, 0);
    ember_tensor *y = eo_out(c, 0);
    int64_t st[EMBER_MAX_DIMS];
    bcast_strides(x, y, st);
    return eo_strided_copy(y, x, st, 0, c->pool);
}

ember_status tile_infer(eo_ctx *c) {
    const ember_tensor *x = eo_in(c, 0);
    int64_t rep[EMBER_MAX_DIMS], shape[EMBER_MAX_DIMS];
    int n;
    ember_status s = eo_in_ints(c, 1, rep, EMBER_MAX_DIMS, &n);
    if (s) return s;
    if (n != x->ndim) return ember_fail(EMBER_ERR_SHAPE, "Tile: %d repeats for rank %d", n, x->ndim);
    for (int d = 0; d < n; d++) {
        if (rep[d] < 0) return ember_fail(EMBER_ERR_SHAPE, "Tile: negative repeat");
        shape[d] = x->shape[d] * rep[d];
    }
    return eo_set_out(c, 0, x->dtype, n, shape);
}

ember_status tile_run(eo_ctx *c) {
    const ember_tensor *x = eo_in(c, 0);
    ember_tensor *y = eo_out(c, 0);
    /* view y as (rep0, x0, rep1, x1, ...) and read x with stride 0 along the repeat dims */
    int64_t xs[EMBER_MAX_DIMS];
    ember_shape_strides(x->ndim, x->shape, xs);
    if (x->ndim * 2 > EMBER_MAX_DIMS) {
        /* fall back: element by element */
        int64_t n = ember_tensor_count(y), idx[EMBER_MAX_DIMS] = {0};
        size_t es = eo_esize(x->dtype);
        for (int64_t i = 0; i < n; i++) {
            int64_t o = 0;
            for (int d = 0; d < y->ndim; d++) o += (idx[d] % x->shape[d]) * xs[d];
            memcpy((char *)y->data + (size_t)i * es, (const char *)x->data + (size_t)o * es, es);
            for (int d = y->ndim - 1; d >= 0 && ++idx[d] == y->shape[d]; d--) idx[d] = 0;
        }
        return EMBER_OK;
    }
    ember_tensor v = *y;
    int64_t st[EMBER_MAX_DIMS];
    v.ndim = x->ndim * 2;
    for (int d = 0; d < x->ndim; d++) {
        v.shape[2 * d] = x->shape[d] ? y->shape[d] / x->shape[d] : 0;
        v.shape[2 * d + 1] = x->shape[d];
        st[2 * d] = 0;
        st[2 * d + 1] = xs[d];
    }
    return eo_strided_copy(&v, x, st, 0, c->pool);
}

/* --- ConstantOfShape, Range, EyeLike, Dropout --------------------------------------------------------- */
ember_status constant_of_shape_infer(eo_ctx *c) {
    int64_t shape[EMBER_MAX_DIMS];
    int n;
    ember_status s = eo_in_ints(c, 0, shape, EMBER_MAX_DIMS, &n);
    if (s) return s;
    const eg_attr *a = eo_attr(c, "value");
    return eo_set_out(c, 0, a && a->t ? a->t->dtype : EMBER_DTYPE_F32, n, shape);
}

ember_status constant_of_shape_run(eo_ctx *c) {
    ember_tensor *y = eo_out(c, 0);
    const eg_attr *a = eo_attr(c, "value");
    int64_t n = ember_tensor_count(y);
    if (!a || !a->t) {
        memset(y->data, 0, y->nbytes);
        return EMBER_OK;
    }
    size_t es = eo_esize(y->dtype);
    for (int64_t i = 0; i < n; i++) memcpy((char *)y->data + (size_t)i * es, a->t->data, es);
    return EMBER_OK;
}

static ember_status range_count(eo_ctx *c, double *start, double *delta, int64_t *n) {
    double limit;
    ember_status s;
    if ((s = eo_in_scalar(c, 0, start)) || (s = eo_in_scalar(c, 1, &limit)) || (s = eo_in_scalar(c, 2, delta))) return s;
    if (*delta == 0) return ember_fail(EMBER_ERR_SHAPE, "Range: delta is 0");
    double cnt = ceil((limit - *start) / *delta);
    if (!(cnt < 1e12)) return ember_fail(EMBER_ERR_SHAPE, "Range: too many elements");
    *n = cnt > 0 ? (int64_t)cnt : 0;
    return EMBER_OK;
}

ember_status range_infer(eo_ctx *c) {
    double start, delta;
    int64_t n;
    ember_status s = range_count(c, &start, &delta, &n);
    if (s) return s;
    return eo_set_out(c, 0, eo_dtype(c, 0), 1, &n);
}

ember_status range_run(eo_ctx *c) {
    double start, delta;
    int64_t n;
    ember_status s = range_count(c, &start, &delta, &n);
    if (s) return s;
    ember_tensor *y = eo_out(c, 0);
    if (y->dtype == EMBER_DTYPE_I64) {
        int64_t b = ((const int64_t *)eo_in(c, 0)->data)[0], d = ((const int64_t *)eo_in(c, 2)->data)[0];
        for (int64_t i = 0; i < n; i++) ((int64_t *)y->data)[i] = b + i * d;
    } else if (y->dtype == EMBER_DTYPE_F32) {
        float b = (float)start, d = (float)delta;
        for (int64_t i = 0; i < n; i++) ((float *)y->data)[i] = b + (float)i * d;
    } else {
        for (int64_t i = 0; i < n; i++) eo_put(y, i, start + (double)i * delta);
    }
    return EMBER_OK;
}

ember_status eye_like_infer(eo_ctx *c) {
    const ember_tensor *x = eo_in(c, 0);
    if (x->ndim != 2) return ember_fail(EMBER_ERR_SHAPE, "EyeLike: input must be 2-D");
    const eg_attr *a = eo_attr(c, "dtype");
    return eo_set_out(c, 0, a ? (ember_dtype)a->i : x->dtype, 2, x->shape);
}

ember_status eye_like_run(eo_ctx *c) {
    ember_tensor *y = eo_out(c, 0);
    int64_t k = eo_attr_int(c, "k", 0), rows = y->shape[0], cols = y->shape[1];
    memset(y->data, 0, y->nbytes);
    for (int64_t r = 0; r < rows; r++)
        if (r + k >= 0 && r + k < cols) eo_put(y, r * cols + r + k, 1);
    return EMBER_OK;
}

ember_status dropout_infer(eo_ctx *c) {
    const ember_tensor *x = eo_in(c, 0);
    ember_status s = eo_set_out(c, 0, x->dtype, x->ndim, x->shape);
    if (!s) s = eo_set_out(c, 1, EMBER_DTYPE_BOOL, x->ndim, x->shape);
    return s;
}

/* Inference mode only: training_mode = true would need random masks. */
ember_status dropout_run(eo_ctx *c) {
    if (eo_has(c, 2)) {
        double training;
        ember_status s = eo_in_scalar(c, 2, &training);
        if (s) return s;
        double ratio = 0.5;
        if (eo_has(c, 1) && (s = eo_in_scalar(c, 1, &ratio))) return s;
        if (training != 0 && ratio != 0) return ember_fail(EMBER_ERR_UNSUPPORTED, "Dropout in training mode");
    }
    ember_status s = copy_run(c);
    ember_tensor *mask = eo_out(c, 1);
    if (!s && mask) memset(mask->data, 1, mask->nbytes);
    return s;
}
