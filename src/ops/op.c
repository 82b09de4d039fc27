/* Helpers shared by the op files: run-time values, outputs, attributes, broadcasting, type conversion. */
#include "ops/op.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>

/* --- values ------------------------------------------------------------------------------------------- */
static void tensor_release(ember_tensor *t) {
    if ((t->flags & EMBER_TENSOR_OWNS_DATA) && t->data) {
        if (t->dtype == EMBER_DTYPE_STRING) {
            char **s = t->data;
            int64_t n = ember_tensor_count(t);
            for (int64_t i = 0; i < n; i++) ember_free(s[i]);
        }
        ember_free_aligned(t->data);
    }
    t->data = NULL;
    t->flags = 0;
}

void ev_clear(ev *v) {
    tensor_release(&v->t);
    for (int i = 0; i < v->nitems; i++) {
        ev_clear(v->items[i]);
        ember_free(v->items[i]);
    }
    ember_free(v->items);
    memset(v, 0, sizeof *v);
}

ember_status ev_alloc_tensor(ev *v, ember_dtype dtype, int ndim, const int64_t *shape) {
    ev_clear(v);
    ember_tensor *t = NULL;
    ember_status s = ember_tensor_create(dtype, ndim, shape, &t);
    if (s) return s;
    v->kind = EV_TENSOR;
    v->t = *t;
    ember_free(t); /* keep its data: the struct is copied into v */
    return EMBER_OK;
}

static ember_status tensor_copy_into(ev *dst, const ember_tensor *src) {
    ember_status s = ev_alloc_tensor(dst, src->dtype, src->ndim, src->shape);
    if (s) return s;
    if (src->dtype == EMBER_DTYPE_STRING) {
        char *const *from = src->data;
        int64_t n = ember_tensor_count(src);
        for (int64_t i = 0; i < n && !s; i++) s = ember_tensor_set_string(&dst->t, i, from[i], strlen(from[i]));
        return s;
    }
    if (src->nbytes) memcpy(dst->t.data, src->data, src->nbytes);
    return EMBER_OK;
}

ember_status ev_seq_insert(ev *seq, const ember_tensor *t, int pos) {
    if (seq->nitems == seq->cap) {
        int cap = seq->cap ? seq->cap * 2 : 4;
        ev **items = ember_realloc(seq->items, sizeof *items * (size_t)cap);
        if (!items) return ember_fail(EMBER_ERR_NOMEM, "out of memory");
        seq->items = items;
        seq->cap = cap;
    }
    ev *item = ember_calloc(1, sizeof *item);
    if (!item) return ember_fail(EMBER_ERR_NOMEM, "out of memory");
    ember_status s = tensor_copy_into(item, t);
    if (s) {
        ember_free(item);
        return s;
    }
    if (pos < 0 || pos > seq->nitems) pos = seq->nitems;
    memmove(seq->items + pos + 1, seq->items + pos, sizeof(ev *) * (size_t)(seq->nitems - pos));
    seq->items[pos] = item;
    seq->nitems++;
    return EMBER_OK;
}

ember_status ev_copy(ev *dst, const ev *src) {
    ev_clear(dst);
    switch (src->kind) {
    case EV_TENSOR: return tensor_copy_into(dst, &src->t);
    case EV_SEQUENCE:
        dst->kind = EV_SEQUENCE;
        dst->elem = src->elem;
        for (int i = 0; i < src->nitems; i++) {
            ember_status s = ev_seq_insert(dst, &src->items[i]->t, -1);
            if (s) return s;
        }
        return EMBER_OK;
    default:
        dst->kind = src->kind;
        dst->opt_of = src->opt_of;
        dst->elem = src->elem;
        return EMBER_OK;
    }
}

/* --- outputs ------------------------------------------------------------------------------------------ */
ember_status eo_set_out(eo_ctx *c, int i, ember_dtype dtype, int ndim, const int64_t *shape) {
    if (i >= c->nout || !c->out[i]) return EMBER_OK;
    if (ndim < 0 || ndim > EMBER_MAX_DIMS)
        return ember_fail(EMBER_ERR_UNSUPPORTED, "output rank %d (at most %d supported)", ndim, EMBER_MAX_DIMS);
    if (ember_shape_count(ndim, shape) < 0) {
        char buf[160];
        ember_shape_format(buf, sizeof buf, ndim, shape);
        return ember_fail(EMBER_ERR_SHAPE, "invalid output shape %s", buf);
    }
    ev *v = c->out[i];
    ev_clear(v);
    v->kind = EV_TENSOR;
    v->t.dtype = dtype;
    v->t.ndim = ndim;
    if (ndim) memcpy(v->t.shape, shape, sizeof(int64_t) * (size_t)ndim);
    return EMBER_OK;
}

ember_status eo_set_out_like(eo_ctx *c, int i, int j) {
    const ember_tensor *x = eo_in(c, j);
    if (!x) return ember_fail(EMBER_ERR_SHAPE, "input %d is required", j);
    return eo_set_out(c, i, x->dtype, x->ndim, x->shape);
}

ember_status eo_alloc_out(eo_ctx *c, int i, ember_dtype dtype, int ndim, const int64_t *shape, ember_tensor **t) {
    *t = NULL;
    if (i >= c->nout || !c->out[i]) return EMBER_OK;
    ember_status s = ev_alloc_tensor(c->out[i], dtype, ndim, shape);
    if (!s) *t = &c->out[i]->t;
    return s;
}

void *eo_scratch(eo_ctx *c, size_t bytes) {
    if (c->nscratch == (int)(sizeof c->scratch / sizeof c->scratch[0])) return NULL;
    void *p = ember_malloc_aligned(bytes ? bytes : 1);
    if (!p) return NULL;
    memset(p, 0, bytes);
    c->scratch[c->nscratch++] = p;
    return p;
}

ember_status eo_in_ints(const eo_ctx *c, int i, int64_t *vals, int cap, int *n) {
    const ember_tensor *t = eo_in(c, i);
    if (!t) return ember_fail(EMBER_ERR_SHAPE, "input %d is required", i);
    if (t->dtype != EMBER_DTYPE_I64 && t->dtype != EMBER_DTYPE_I32)
        return ember_fail(EMBER_ERR_SHAPE, "input %d must be int64 or int32, not %s", i, ember_dtype_name(t->dtype));
    int64_t count = ember_tensor_count(t);
    if (count > cap) return ember_fail(EMBER_ERR_SHAPE, "input %d has %lld values, at most %d expected", i, (long long)count, cap);
    if (!t->data) return EO_DYNAMIC;
    for (int64_t k = 0; k < count; k++)
        vals[k] = t->dtype == EMBER_DTYPE_I64 ? ((const int64_t *)t->data)[k] : ((const int32_t *)t->data)[k];
    *n = (int)count;
    return EMBER_OK;
}

ember_status eo_in_scalar(const eo_ctx *c, int i, double *v) {
    const ember_tensor *t = eo_in(c, i);
    if (!t) return ember_fail(EMBER_ERR_SHAPE, "input %d is required", i);
    if (ember_tensor_count(t) < 1) return ember_fail(EMBER_ERR_SHAPE, "input %d is empty, expected a scalar", i);
    if (!t->data) return EO_DYNAMIC;
    *v = eo_get(t, 0);
    return EMBER_OK;
}

ember_status eo_check_inputs(const eo_ctx *c, int required) {
    for (int i = 0; i < c->nin || i < required; i++) {
        bool has = eo_has(c, i);
        if (!has && i < required)
            return ember_fail(EMBER_ERR_SHAPE, "%s: input %d is required", c->node->op_type, i);
        if (has && c->in[i]->kind != EV_TENSOR)
            return ember_fail(EMBER_ERR_SHAPE, "%s: input %d must be a tensor", c->node->op_type, i);
    }
    return EMBER_OK;
}

ember_status eo_copy_elems(ember_tensor *dst, int64_t d0, const ember_tensor *src, int64_t s0, int64_t n) {
    if (dst->dtype == EMBER_DTYPE_STRING) {
        char *const *from = src->data;
        for (int64_t i = 0; i < n; i++) {
            ember_status s = ember_tensor_set_string(dst, d0 + i, from[s0 + i], strlen(from[s0 + i]));
            if (s) return s;
        }
        return EMBER_OK;
    }
    size_t es = eo_esize(dst->dtype);
    if (!es) return ember_fail(EMBER_ERR_UNSUPPORTED, "element type %s", ember_dtype_name(dst->dtype));
    if (n) memmove((char *)dst->data + (size_t)d0 * es, (const char *)src->data + (size_t)s0 * es,
                   (size_t)n * es);
    return EMBER_OK;
}

/* --- attributes --------------------------------------------------------------------------------------- */
const eg_attr *eo_attr(const eo_ctx *c, const char *name) { return eg_attr_find(c->node, name); }

int64_t eo_attr_int(const eo_ctx *c, const char *name, int64_t dflt) {
    const eg_attr *a = eo_attr(c, name);
    return a ? a->i : dflt;
}

float eo_attr_float(const eo_ctx *c, const char *name, float dflt) {
    const eg_attr *a = eo_attr(c, name);
    return a ? (a->type == EG_ATTR_INT ? (float)a->i : a->f) : dflt;
}

const char *eo_attr_str(const eo_ctx *c, const char *name, const char *dflt) {
    const eg_attr *a = eo_attr(c, name);
    return a && a->s ? a->s : dflt;
}

int eo_attr_ints(const eo_ctx *c, const char *name, const int64_t **v) {
    const eg_attr *a = eo_attr(c, name);
    if (!a || (a->type != EG_ATTR_INTS && a->type != EG_ATTR_INT)) return -1;
    if (a->type == EG_ATTR_INT) {
        *v = &a->i;
        return 1;
    }
    *v = a->ints;
    return a->n;
}

int eo_attr_floats(const eo_ctx *c, const char *name, const float **v) {
    const eg_attr *a = eo_attr(c, name);
    if (!a || a->type != EG_ATTR_FLOATS) return -1;
    *v = a->floats;
    return a->n;
}

/* --- checks ------------------------------------------------------------------------------------------- */
ember_status eo_axis(int64_t axis, int rank, int *out) {
    if (axis < -rank || axis >= (rank ? rank : 1))
        return ember_fail(EMBER_ERR_SHAPE, "axis %lld is out of range for rank %d", (long long)axis, rank);
    *out = (int)(axis < 0 ? axis + rank : axis);
    return EMBER_OK;
}

ember_status eo_check_dtype(const eo_ctx *c, int i, const ember_dtype *allowed) {
    ember_dtype t = eo_dtype(c, i);
    for (const ember_dtype *a = allowed; *a; a++)
        if (*a == t) return EMBER_OK;
    return ember_fail(EMBER_ERR_UNSUPPORTED, "input %d has type %s, which this op does not support", i, ember_dtype_name(t));
}

/* --- broadcasting ------------------------------------------------------------------------------------- */
ember_status eo_bcast_shape(const eo_ctx *c, int first, int n, int *ndim, int64_t *shape) {
    *ndim = 0;
    for (int i = first; i < first + n; i++) {
        const ember_tensor *t = eo_in(c, i);
        if (!t) continue;
        ember_status s = ember_shape_broadcast(*ndim, shape, t->ndim, t->shape, ndim, shape);
        if (s) return s;
    }
    return EMBER_OK;
}

ember_status eo_bcast_init(eo_bcast *b, int nin, const ember_tensor *const *ins, int ndim, const int64_t *shape) {
    memset(b, 0, sizeof *b);
    b->nin = nin;
    int64_t st[3][EMBER_MAX_DIMS];
    for (int k = 0; k < nin; k++) {
        const ember_tensor *t = ins[k];
        int off = ndim - t->ndim;
        if (off < 0) return ember_fail(EMBER_ERR_SHAPE, "broadcast: input rank %d > output rank %d", t->ndim, ndim);
        int64_t s = 1;
        for (int d = ndim - 1; d >= 0; d--) {
            int64_t dim = d >= off ? t->shape[d - off] : 1;
            if (dim != 1 && dim != shape[d]) return ember_fail(EMBER_ERR_SHAPE, "broadcast: dimension mismatch");
            st[k][d] = dim == 1 ? 0 : s;
            s *= dim;
        }
    }
    /* collapse: drop size-1 dims, merge dims contiguous for every input */
    int n = 0;
    for (int d = 0; d < ndim; d++) {
        if (shape[d] == 1) continue;
        bool merge = n > 0;
        for (int k = 0; k < nin && merge; k++) merge = b->stride[k][n - 1] == st[k][d] * shape[d];
        if (merge) {
            b->shape[n - 1] *= shape[d];
            for (int k = 0; k < nin; k++) b->stride[k][n - 1] = st[k][d];
        } else {
            b->shape[n] = shape[d];
            for (int k = 0; k < nin; k++) b->stride[k][n] = st[k][d];
            n++;
        }
    }
    if (n == 0) {
        b->shape[0] = 1;
        for (int k = 0; k < nin; k++) b->stride[k][0] = 0;
        n = 1;
    }
    b->ndim = n;
    for (int d = 0; d < ndim; d++)
        if (shape[d] == 0) b->shape[0] = 0; /* empty output */
    return EMBER_OK;
}

typedef struct bcast_job {
    const eo_bcast *b;
    eo_row_fn fn;
    void *ctx;
    int64_t inner, block; /* row length; elements per task along it */
    int64_t blocks_per_row;
} bcast_job;

static void bcast_task(void *arg, int64_t begin, int64_t end, int thread) {
    const bcast_job *j = arg;
    const eo_bcast *b = j->b;
    int last = b->ndim - 1;
    for (int64_t task = begin; task < end; task++) {
        int64_t row = task / j->blocks_per_row, start = (task % j->blocks_per_row) * j->block;
        int64_t n = j->inner - start < j->block ? j->inner - start : j->block;
        int64_t off[3] = {0, 0, 0}, step[3];
        int64_t r = row;
        for (int d = last - 1; d >= 0; d--) {
            int64_t idx = r % b->shape[d];
            r /= b->shape[d];
            for (int k = 0; k < b->nin; k++) off[k] += idx * b->stride[k][d];
        }
        for (int k = 0; k < b->nin; k++) {
            step[k] = b->stride[k][last];
            off[k] += start * step[k];
        }
        j->fn(j->ctx, row * j->inner + start, off, step, n);
    }
    (void)thread;
}

void eo_bcast_run(const eo_bcast *b, ember_pool *pool, eo_row_fn fn, void *ctx) {
    int64_t inner = b->shape[b->ndim - 1], rows = 1;
    for (int d = 0; d < b->ndim - 1; d++) rows *= b->shape[d];
    if (inner == 0 || rows == 0) return;
    bcast_job j = {b, fn, ctx, inner, inner, 1};
    int64_t total = inner * rows;
    if (inner > 16384) {
        j.block = 16384;
        j.blocks_per_row = (inner + j.block - 1) / j.block;
    }
    int64_t tasks = rows * j.blocks_per_row;
    ember_pool_for(total >= 65536 ? pool : NULL, tasks, tasks > 1 ? (16384 + j.block - 1) / j.block : 1, bcast_task, &j);
}

/* --- conversion --------------------------------------------------------------------------------------- */
double eo_get(const ember_tensor *t, int64_t i) {
    return t->dtype >= EMBER_DTYPE_F8E4M3FN ? eo_get_any(t, i) : ember_tensor_get_f64(t, i); /* the small types (cast.c) */
}

static int64_t sat_i64(double v) {
    if (v != v) return 0;
    if (v >= 9223372036854775807.0) return INT64_MAX;
    if (v <= -9223372036854775808.0) return INT64_MIN;
    return (int64_t)v;
}

void eo_put(ember_tensor *t, int64_t i, double v) {
    void *d = t->data;
    switch (t->dtype) {
    case EMBER_DTYPE_F32: ((float *)d)[i] = (float)v; break;
    case EMBER_DTYPE_F64: ((double *)d)[i] = v; break;
    case EMBER_DTYPE_F16: ((uint16_t *)d)[i] = ember_f32_to_f16((float)v); break;
    case EMBER_DTYPE_BF16: ((uint16_t *)d)[i] = ember_f32_to_bf16((float)v); break;
    case EMBER_DTYPE_BOOL: ((uint8_t *)d)[i] = v != 0; break;
    case EMBER_DTYPE_U8: ((uint8_t *)d)[i] = (uint8_t)sat_i64(v); break;
    case EMBER_DTYPE_I8: ((int8_t *)d)[i] = (int8_t)sat_i64(v); break;
    case EMBER_DTYPE_U16: ((uint16_t *)d)[i] = (uint16_t)sat_i64(v); break;
    case EMBER_DTYPE_I16: ((int16_t *)d)[i] = (int16_t)sat_i64(v); break;
    case EMBER_DTYPE_U32: ((uint32_t *)d)[i] = (uint32_t)sat_i64(v); break;
    case EMBER_DTYPE_I32: ((int32_t *)d)[i] = (int32_t)sat_i64(v); break;
    case EMBER_DTYPE_I64: ((int64_t *)d)[i] = sat_i64(v); break;
    case EMBER_DTYPE_U64: ((uint64_t *)d)[i] = v >= 18446744073709551615.0 ? UINT64_MAX : v > 0 ? (uint64_t)v : (uint64_t)sat_i64(v); break;
    default: if (eo_dtype_is_small(t->dtype)) eo_put_small(t, i, v); break; /* float8/float4/int4/int2 (cast.c) */
    }
}

static bool is_wide_int(ember_dtype t) { return t == EMBER_DTYPE_I64 || t == EMBER_DTYPE_U64; }

static int64_t get_i64(const ember_tensor *t, int64_t i) {
    if (t->dtype == EMBER_DTYPE_I64) return ((const int64_t *)t->data)[i];
    if (t->dtype == EMBER_DTYPE_U64) return (int64_t)((const uint64_t *)t->data)[i];
    return sat_i64(eo_get(t, i));
}

ember_status eo_convert(const ember_tensor *src, ember_tensor *dst) {
    int64_t n = ember_tensor_count(src);
    if (n != ember_tensor_count(dst)) return ember_fail(EMBER_ERR_INTERNAL, "convert: element counts differ");
    if (src->dtype == dst->dtype && src->dtype != EMBER_DTYPE_STRING) {
        if (src->data != dst->data) memcpy(dst->data, src->data, src->nbytes);
        return EMBER_OK;
    }
    if (src->dtype == EMBER_DTYPE_STRING || dst->dtype == EMBER_DTYPE_STRING) {
        if (src->dtype == EMBER_DTYPE_STRING && dst->dtype == EMBER_DTYPE_STRING) {
            char *const *s = src->data;
            for (int64_t i = 0; i < n; i++) {
                ember_status st = ember_tensor_set_string(dst, i, s[i], strlen(s[i]));
                if (st) return st;
            }
            return EMBER_OK;
        }
        return ember_fail(EMBER_ERR_UNSUPPORTED, "conversion between string and %s",
                          ember_dtype_name(src->dtype == EMBER_DTYPE_STRING ? dst->dtype : src->dtype));
    }
    if (eo_dtype_is_small(src->dtype) || eo_dtype_is_small(dst->dtype)) return eo_cast_small(src, dst, true, "up");
    if (src->dtype == EMBER_DTYPE_C64 || src->dtype == EMBER_DTYPE_C128 || dst->dtype == EMBER_DTYPE_C64 ||
        dst->dtype == EMBER_DTYPE_C128)
        return ember_fail(EMBER_ERR_UNSUPPORTED, "conversion from %s to %s", ember_dtype_name(src->dtype),
                          ember_dtype_name(dst->dtype));
    if (is_wide_int(src->dtype) && ember_dtype_is_int(dst->dtype)) {
        for (int64_t i = 0; i < n; i++) {
            int64_t v = get_i64(src, i);
            switch (dst->dtype) {
            case EMBER_DTYPE_I64: ((int64_t *)dst->data)[i] = v; break;
            case EMBER_DTYPE_U64: ((uint64_t *)dst->data)[i] = (uint64_t)v; break;
            case EMBER_DTYPE_I32: ((int32_t *)dst->data)[i] = (int32_t)v; break;
            case EMBER_DTYPE_U32: ((uint32_t *)dst->data)[i] = (uint32_t)v; break;
            case EMBER_DTYPE_I16: ((int16_t *)dst->data)[i] = (int16_t)v; break;
            case EMBER_DTYPE_U16: ((uint16_t *)dst->data)[i] = (uint16_t)v; break;
            case EMBER_DTYPE_I8: ((int8_t *)dst->data)[i] = (int8_t)v; break;
            default: ((uint8_t *)dst->data)[i] = (uint8_t)v; break;
            }
        }
        return EMBER_OK;
    }
    if (src->dtype == EMBER_DTYPE_F32 && dst->dtype == EMBER_DTYPE_F16) {
        for (int64_t i = 0; i < n; i++) ((uint16_t *)dst->data)[i] = ember_f32_to_f16(((const float *)src->data)[i]);
        return EMBER_OK;
    }
    for (int64_t i = 0; i < n; i++) eo_put(dst, i, eo_get(src, i));
    return EMBER_OK;
}

bool eo_is_half(ember_dtype t) { return t == EMBER_DTYPE_F16 || t == EMBER_DTYPE_BF16; }

static bool widen_f16(ember_dtype t) { return eo_is_half(t); }
static bool widen_f64(ember_dtype t) { return t == EMBER_DTYPE_F64; }

static ember_status run_as_f32_if(eo_ctx *c, ember_status (*run)(eo_ctx *c), bool (*convert)(ember_dtype));

ember_status eo_run_as_f32(eo_ctx *c, ember_status (*run)(eo_ctx *c)) { return run_as_f32_if(c, run, widen_f16); }
ember_status eo_run_f64_as_f32(eo_ctx *c, ember_status (*run)(eo_ctx *c)) { return run_as_f32_if(c, run, widen_f64); }

static ember_status run_as_f32_if(eo_ctx *c, ember_status (*run)(eo_ctx *c), bool (*convert)(ember_dtype)) {
    enum { MAXIO = 16 };
    if (c->nin > MAXIO || c->nout > MAXIO) return ember_fail(EMBER_ERR_UNSUPPORTED, "too many inputs for f16 emulation");
    ev tin[MAXIO], tout[MAXIO];
    ev *pin[MAXIO], *pout[MAXIO];
    memset(tin, 0, sizeof tin);
    memset(tout, 0, sizeof tout);
    ember_status s = EMBER_OK;
    for (int i = 0; i < c->nin; i++) {
        pin[i] = c->in[i];
        if (!eo_has(c, i) || c->in[i]->kind != EV_TENSOR || !convert(c->in[i]->t.dtype)) continue;
        const ember_tensor *x = &c->in[i]->t;
        if (!s) s = ev_alloc_tensor(&tin[i], EMBER_DTYPE_F32, x->ndim, x->shape);
        if (!s) s = eo_convert(x, &tin[i].t);
        pin[i] = &tin[i];
    }
    for (int i = 0; i < c->nout && !s; i++) {
        pout[i] = c->out[i];
        if (!c->out[i] || c->out[i]->kind != EV_TENSOR || !convert(c->out[i]->t.dtype)) continue;
        const ember_tensor *y = &c->out[i]->t;
        s = ev_alloc_tensor(&tout[i], EMBER_DTYPE_F32, y->ndim, y->shape);
        pout[i] = &tout[i];
    }
    if (!s) {
        eo_ctx sub = *c;
        sub.in = pin;
        sub.out = pout;
        sub.nscratch = 0;
        s = run(&sub);
        for (int k = 0; k < sub.nscratch; k++) ember_free_aligned(sub.scratch[k]);
    }
    for (int i = 0; i < c->nout && !s; i++)
        if (pout[i] == &tout[i]) s = eo_convert(&tout[i].t, &c->out[i]->t);
    for (int i = 0; i < MAXIO; i++) {
        ev_clear(&tin[i]);
        ev_clear(&tout[i]);
    }
    return s;
}

/* --- common infer functions --------------------------------------------------------------------------- */
ember_status eo_infer_same(eo_ctx *c) {
    if (!eo_has(c, 0)) return ember_fail(EMBER_ERR_SHAPE, "input 0 is required");
    if (c->in[0]->kind != EV_TENSOR) { /* sequences pass through with their kind */
        if (c->out[0]) {
            ev_clear(c->out[0]);
            c->out[0]->kind = c->in[0]->kind;
            c->out[0]->elem = c->in[0]->elem;
            c->out[0]->opt_of = c->in[0]->opt_of;
        }
        return c->in[0]->kind == EV_SEQUENCE ? EO_DYNAMIC : EMBER_OK;
    }
    return eo_set_out_like(c, 0, 0);
}

ember_status eo_infer_bcast(eo_ctx *c) {
    int ndim;
    int64_t shape[EMBER_MAX_DIMS];
    ember_status s = eo_bcast_shape(c, 0, c->nin, &ndim, shape);
    if (s) return s;
    return eo_set_out(c, 0, eo_dtype(c, 0), ndim, shape);
}

ember_status eo_infer_bcast_bool(eo_ctx *c) {
    int ndim;
    int64_t shape[EMBER_MAX_DIMS];
    ember_status s = eo_bcast_shape(c, 0, c->nin, &ndim, shape);
    if (s) return s;
    return eo_set_out(c, 0, EMBER_DTYPE_BOOL, ndim, shape);
}

/* --- strided copy ------------------------------------------------------------------------------------- */
typedef struct strided_job {
    char *dst;
    const char *src;
    size_t es;
    int ndim;
    const int64_t *shape, *st;
    int64_t off, inner;
} strided_job;

static void strided_rows(void *arg, int64_t begin, int64_t end, int thread) {
    const strided_job *j = arg;
    int last = j->ndim - 1;
    int64_t inner = j->inner, sin = j->st[last];
    if (j->ndim == 2 && j->st[0] == 1 && sin != 1 && j->es == 4) { /* 2-D transpose: 64 rows at a time, reading */
        uint32_t *dst = (uint32_t *)(void *)j->dst;                 /* 64 contiguous source values per column */
        const uint32_t *src = (const uint32_t *)(const void *)j->src + j->off;
        for (int64_t r0 = begin; r0 < end; r0 += 64) {
            int64_t r1 = r0 + 64 < end ? r0 + 64 : end;
            for (int64_t i = 0; i < inner; i++)
                for (int64_t r = r0; r < r1; r++) dst[r * inner + i] = src[i * sin + r];
        }
        return;
    }
    int64_t idx[EMBER_MAX_DIMS], o = j->off, r = begin; /* the first row's coordinates, then an odometer */
    for (int d = last - 1; d >= 0; d--) {
        idx[d] = r % j->shape[d], r /= j->shape[d];
        o += idx[d] * j->st[d];
    }
    size_t bytes = (size_t)(inner * (int64_t)j->es);
    for (int64_t row = begin; row < end; row++) {
        char *dst = j->dst + row * inner * (int64_t)j->es;
        const char *src = j->src;
        if (sin == 1 && (j->es != 4 || inner > 16)) { /* contiguous source row (Transpose keeping the last */
            memcpy(dst, src + o * (int64_t)j->es, bytes); /* axis, Slice, Concat-like) */
        } else {
            switch (j->es) {
            case 1: for (int64_t i = 0; i < inner; i++) ((uint8_t *)dst)[i] = ((const uint8_t *)src)[o + i * sin]; break;
            case 2: for (int64_t i = 0; i < inner; i++) ((uint16_t *)dst)[i] = ((const uint16_t *)src)[o + i * sin]; break;
            case 4: for (int64_t i = 0; i < inner; i++) ((uint32_t *)dst)[i] = ((const uint32_t *)src)[o + i * sin]; break;
            case 8: for (int64_t i = 0; i < inner; i++) ((uint64_t *)dst)[i] = ((const uint64_t *)src)[o + i * sin]; break;
            default:
                for (int64_t i = 0; i < inner; i++) memcpy(dst + i * (int64_t)j->es, src + (o + i * sin) * (int64_t)j->es, j->es);
            }
        }
        for (int d = last - 1; d >= 0; d--) { /* next row */
            o += j->st[d];
            if (++idx[d] < j->shape[d]) break;
            o -= j->st[d] * j->shape[d], idx[d] = 0;
        }
    }
    (void)thread;
}

ember_status eo_strided_copy(ember_tensor *dst, const ember_tensor *src, const int64_t *st, int64_t off, ember_pool *pool) {
    int64_t n = ember_tensor_count(dst);
    if (n == 0) return EMBER_OK;
    if (dst->ndim == 0) {
        int64_t zero = 0;
        ember_tensor d1 = *dst, s1 = *src;
        d1.ndim = 1;
        d1.shape[0] = 1;
        return eo_strided_copy(&d1, &s1, &zero, off, pool);
    }
    if (dst->dtype == EMBER_DTYPE_STRING) {
        int64_t idx[EMBER_MAX_DIMS] = {0};
        for (int64_t i = 0; i < n; i++) {
            int64_t o = off;
            for (int d = 0; d < dst->ndim; d++) o += idx[d] * st[d];
            const char *s = ((char *const *)src->data)[o];
            ember_status e = ember_tensor_set_string(dst, i, s, strlen(s));
            if (e) return e;
            for (int d = dst->ndim - 1; d >= 0 && ++idx[d] == dst->shape[d]; d--) idx[d] = 0;
        }
        return EMBER_OK;
    }
    size_t es = eo_esize(dst->dtype);
    if (!es) return ember_fail(EMBER_ERR_UNSUPPORTED, "copy of %s elements", ember_dtype_name(dst->dtype));
    /* drop the size-1 dims and merge neighbours that are contiguous in the source too (an NCHW -> NHWC
     * Transpose with C = 1 becomes one memcpy, with small C one row per pixel instead of per element) */
    int64_t shape[EMBER_MAX_DIMS], stride[EMBER_MAX_DIMS];
    int nd = 0;
    for (int d = 0; d < dst->ndim; d++) {
        if (dst->shape[d] == 1) continue;
        if (nd && stride[nd - 1] == st[d] * dst->shape[d]) {
            shape[nd - 1] *= dst->shape[d], stride[nd - 1] = st[d];
            continue;
        }
        shape[nd] = dst->shape[d], stride[nd++] = st[d];
    }
    if (!nd) shape[0] = 1, stride[0] = 1, nd = 1;
    strided_job j = {dst->data, src->data, es, nd, shape, stride, off, shape[nd - 1]};
    int64_t rows = n / j.inner;
    ember_pool_for(n > 65536 ? pool : NULL, rows, 1, strided_rows, &j);
    return EMBER_OK;
}

/* --- fused epilogues ---------------------------------------------------------------------------------- */
#include "graph/exec.h"

static _Atomic int reference_mode = -1; /* -1: not read from the environment yet */
bool eo_reference(void) {
    int m = atomic_load_explicit(&reference_mode, memory_order_relaxed);
    if (m < 0) {
        const char *e = getenv("EMBER_OPS");
        m = e && !strcmp(e, "reference");
        atomic_store_explicit(&reference_mode, m, memory_order_relaxed);
    }
    return m;
}
void eo_set_reference(bool on) { atomic_store_explicit(&reference_mode, on, memory_order_relaxed); }

void eo_prepare(eo_ctx *c) {
    const char *t = c->node->op_type;
    if (c->node->domain[0] || !c->prep || c->prep->p || eo_reference()) return;
    if (!strcmp(t, "Conv")) conv_prepare(c);
    else if (!strcmp(t, "Gemm")) gemm_prepare(c);
    else if (!strcmp(t, "MatMul")) matmul_prepare(c);
}

bool eo_in_const(const eo_ctx *c, int i) {
    if (!eo_has(c, i) || !c->exec || i >= c->node->nin || c->node->in[i] < 0) return false;
    return eg_exec_is_const(c->exec, c->node->in[i]);
}

void eo_drop_input(const eo_ctx *c, int i) {
    if (!eo_in_const(c, i)) return;
    const eg_graph *g = eg_exec_graph(c->exec);
    const eg_value *v = &g->values[c->node->in[i]];
    if (!g->model || !v->init) return;
    const void *d = eg_init_data(g->model, v);
    if (d == c->in[i]->t.data) ember_map_drop(&g->model->map, d, v->init->nbytes);
}

void eo_fuse_apply(const eo_ctx *c, float *y, int64_t outer, int64_t channels, int64_t inner) {
    const eo_fuse *f = c->fuse;
    if (!f) return;
    const float *r = f->residual >= 0 ? c->in[f->residual]->t.data : NULL;
    for (int64_t o = 0; o < outer; o++)
        for (int64_t ch = 0; ch < channels; ch++) {
            int64_t base = (o * channels + ch) * inner;
            float *row = y + base;
            for (int64_t i = 0; i < inner; i++) {
                float v = row[i];
                if (f->alpha) v *= f->alpha;
                if (f->bn_scale) v = v * f->bn_scale[ch] + f->bn_shift[ch];
                if (f->bias) v += f->bias[ch];
                if (r && !f->residual_after_act) v += r[base + i];
                row[i] = v;
            }
            ember_act_apply(ember_act_row(f->act, ch), row, row, inner);
            if (r && f->residual_after_act)
                for (int64_t i = 0; i < inner; i++) row[i] += r[base + i];
        }
}
