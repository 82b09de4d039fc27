/* Sequences and optionals: ONNX SequenceConstruct/Empty/Insert/At/Erase/Length, ConcatFromSequence,
 * SplitToSequence, SequenceMap (opsets 11-17), Optional, OptionalHasElement, OptionalGetElement (15-18).
 * A sequence is an ev of kind EV_SEQUENCE owning tensor items; an empty optional is EV_NONE, a full one is
 * its element. Outputs are only known at run time: infer returns EO_DYNAMIC and run fills c->out. */
#include "graph/exec.h"
#include "ops/op.h"

#include <stdlib.h>

static ember_status need_seq(const eo_ctx *c, int i, const char *op) {
    if (!eo_has(c, i) || c->in[i]->kind != EV_SEQUENCE)
        return ember_fail(EMBER_ERR_SHAPE, "%s: input %d must be a sequence", op, i);
    return EMBER_OK;
}

/* Position input (scalar int) normalised against n items; `insert` allows n itself. */
static ember_status seq_pos(const eo_ctx *c, int i, int n, bool insert, int dflt, int *pos) {
    if (!eo_has(c, i)) {
        *pos = dflt;
        return EMBER_OK;
    }
    double v;
    if (c->in[i]->kind != EV_TENSOR || !c->in[i]->t.data) return ember_fail(EMBER_ERR_SHAPE, "sequence position must be a tensor");
    ember_status s = eo_in_scalar(c, i, &v);
    if (s) return s;
    int64_t p = eo_to_i64(v);
    if (p < 0) p += n;
    if (p < 0 || p > n || (!insert && p == n))
        return ember_fail(EMBER_ERR_SHAPE, "sequence position %lld out of range for %d items", (long long)v, n);
    *pos = (int)p;
    return EMBER_OK;
}

static ev *out_seq(eo_ctx *c, int i, ember_dtype elem) {
    if (i >= c->nout || !c->out[i]) return NULL;
    ev_clear(c->out[i]);
    c->out[i]->kind = EV_SEQUENCE;
    c->out[i]->elem = elem;
    return c->out[i];
}

ember_status seq_infer(eo_ctx *c) {
    (void)c;
    return EO_DYNAMIC;
}

ember_status sequence_construct_run(eo_ctx *c) {
    ember_dtype elem = c->nin ? eo_dtype(c, 0) : EMBER_DTYPE_F32;
    ev tmp = {.kind = EV_SEQUENCE, .elem = elem};
    ember_status s = EMBER_OK;
    for (int i = 0; i < c->nin && !s; i++) {
        const ember_tensor *t = eo_in(c, i);
        if (!t || c->in[i]->kind != EV_TENSOR) s = ember_fail(EMBER_ERR_SHAPE, "SequenceConstruct: input %d is not a tensor", i);
        else if (t->dtype != elem) s = ember_fail(EMBER_ERR_SHAPE, "SequenceConstruct: inputs differ in type");
        else s = ev_seq_insert(&tmp, t, -1);
    }
    ev *o = out_seq(c, 0, elem);
    if (!s && o) *o = tmp;
    else ev_clear(&tmp);
    return s;
}

ember_status sequence_empty_run(eo_ctx *c) {
    int64_t dt = eo_attr_int(c, "dtype", EMBER_DTYPE_F32);
    if (dt <= 0 || dt >= EMBER_DTYPE_COUNT) return ember_fail(EMBER_ERR_FORMAT, "SequenceEmpty: dtype %lld", (long long)dt);
    out_seq(c, 0, (ember_dtype)dt);
    return EMBER_OK;
}

ember_status sequence_insert_run(eo_ctx *c) {
    ember_status s = need_seq(c, 0, "SequenceInsert");
    if (s) return s;
    const ev *seq = c->in[0];
    const ember_tensor *t = eo_in(c, 1);
    if (!t || c->in[1]->kind != EV_TENSOR) return ember_fail(EMBER_ERR_SHAPE, "SequenceInsert: input 1 must be a tensor");
    if (seq->nitems && t->dtype != seq->elem)
        return ember_fail(EMBER_ERR_SHAPE, "SequenceInsert: %s into a sequence of %s", ember_dtype_name(t->dtype),
                          ember_dtype_name(seq->elem));
    int pos;
    if ((s = seq_pos(c, 2, seq->nitems, true, seq->nitems, &pos))) return s;
    ev tmp = {0};
    if ((s = ev_copy(&tmp, seq))) return s;
    tmp.elem = t->dtype;
    if ((s = ev_seq_insert(&tmp, t, pos))) {
        ev_clear(&tmp);
        return s;
    }
    ev *o = out_seq(c, 0, t->dtype);
    if (o) *o = tmp;
    else ev_clear(&tmp);
    return EMBER_OK;
}

ember_status sequence_at_run(eo_ctx *c) {
    ember_status s = need_seq(c, 0, "SequenceAt");
    if (s) return s;
    int pos;
    if (!eo_has(c, 1)) return ember_fail(EMBER_ERR_SHAPE, "SequenceAt needs a position");
    if ((s = seq_pos(c, 1, c->in[0]->nitems, false, 0, &pos))) return s;
    if (!c->out[0]) return EMBER_OK;
    return ev_copy(c->out[0], c->in[0]->items[pos]);
}

ember_status sequence_erase_run(eo_ctx *c) {
    ember_status s = need_seq(c, 0, "SequenceErase");
    if (s) return s;
    const ev *seq = c->in[0];
    int pos;
    if ((s = seq_pos(c, 1, seq->nitems, false, seq->nitems - 1, &pos))) return s;
    if (pos < 0) return ember_fail(EMBER_ERR_SHAPE, "SequenceErase: the sequence is empty");
    ev *o = out_seq(c, 0, seq->elem);
    for (int i = 0; o && i < seq->nitems && !s; i++)
        if (i != pos) s = ev_seq_insert(o, &seq->items[i]->t, -1);
    return s;
}

ember_status sequence_length_run(eo_ctx *c) {
    ember_status s = need_seq(c, 0, "SequenceLength");
    if (s) return s;
    ember_tensor *y;
    if ((s = eo_alloc_out(c, 0, EMBER_DTYPE_I64, 0, NULL, &y)) || !y) return s;
    *(int64_t *)y->data = c->in[0]->nitems;
    return EMBER_OK;
}

/* --- ConcatFromSequence, SplitToSequence -------------------------------------------------------------- */
ember_status concat_from_sequence_run(eo_ctx *c) {
    ember_status s = need_seq(c, 0, "ConcatFromSequence");
    if (s) return s;
    const ev *seq = c->in[0];
    if (!seq->nitems) return ember_fail(EMBER_ERR_SHAPE, "ConcatFromSequence: the sequence is empty");
    bool new_axis = eo_attr_int(c, "new_axis", 0) != 0;
    const ember_tensor *t0 = &seq->items[0]->t;
    int r = t0->ndim + (new_axis ? 1 : 0), axis;
    if ((s = eo_axis(eo_attr_int(c, "axis", 0), r, &axis))) return s;
    if (r > EMBER_MAX_DIMS) return ember_fail(EMBER_ERR_UNSUPPORTED, "ConcatFromSequence: rank too large");
    /* view every item as [outer, len_i * inner] blocks */
    int64_t shape[EMBER_MAX_DIMS], total = 0;
    for (int i = 0; i < seq->nitems; i++) {
        const ember_tensor *t = &seq->items[i]->t;
        if (t->ndim != t0->ndim || t->dtype != t0->dtype)
            return ember_fail(EMBER_ERR_SHAPE, "ConcatFromSequence: items differ in rank or type");
        for (int d = 0; d < t->ndim; d++)
            if ((new_axis || d != axis) && t->shape[d] != t0->shape[d])
                return ember_fail(EMBER_ERR_SHAPE, "ConcatFromSequence: item %d has a different shape", i);
        total += new_axis ? 1 : t->shape[axis];
    }
    int nd = 0;
    for (int d = 0; d < r; d++) {
        if (d == axis) shape[nd++] = total;
        else shape[nd++] = t0->shape[new_axis ? d - (d > axis) : d];
    }
    ember_tensor *y;
    if ((s = eo_alloc_out(c, 0, t0->dtype, nd, shape, &y)) || !y) return s;
    int64_t outer = 1, inner = 1;
    for (int d = 0; d < axis; d++) outer *= shape[d];
    for (int d = axis + 1; d < nd; d++) inner *= shape[d];
    size_t es = eo_esize(t0->dtype);
    int64_t at = 0;
    for (int i = 0; i < seq->nitems; i++) {
        const ember_tensor *t = &seq->items[i]->t;
        int64_t len = new_axis ? 1 : t->shape[axis];
        for (int64_t o = 0; o < outer; o++)
            for (int64_t k = 0; k < len * inner; k++) {
                int64_t dst = (o * total + at) * inner + k, src = o * len * inner + k;
                if (t0->dtype == EMBER_DTYPE_STRING) {
                    const char *str = ((char *const *)t->data)[src];
                    if ((s = ember_tensor_set_string(y, dst, str, strlen(str)))) return s;
                } else {
                    memcpy((char *)y->data + (size_t)dst * es, (const char *)t->data + (size_t)src * es, es);
                }
            }
        at += len;
    }
    return EMBER_OK;
}

ember_status split_to_sequence_run(eo_ctx *c) {
    ember_status st = eo_check_inputs(c, 1);
    if (st) return st;
    const ember_tensor *x = eo_in(c, 0);
    if (x->ndim < 1) return ember_fail(EMBER_ERR_SHAPE, "SplitToSequence: input must have rank >= 1");
    int axis;
    ember_status s = eo_axis(eo_attr_int(c, "axis", 0), x->ndim, &axis);
    if (s) return s;
    int64_t D = x->shape[axis];
    int64_t sizes_buf[1024], *sizes = sizes_buf;
    int n = 0;
    bool squeeze = false;
    if (eo_has(c, 1)) {
        const ember_tensor *sp = eo_in(c, 1);
        if (sp->ndim == 0) {
            int64_t chunk = eo_to_i64(eo_get(sp, 0));
            if (chunk <= 0) return ember_fail(EMBER_ERR_SHAPE, "SplitToSequence: split %lld", (long long)chunk);
            if (chunk > D) chunk = D > 0 ? D : 1;
            if (D / chunk >= 1024) return ember_fail(EMBER_ERR_UNSUPPORTED, "SplitToSequence: more than 1024 parts");
            for (int64_t at = 0; at < D && n < 1024; at += chunk) sizes[n++] = at + chunk <= D ? chunk : D - at;
        } else {
            if ((s = eo_in_ints(c, 1, sizes, 1024, &n))) return s;
            int64_t sum = 0;
            for (int i = 0; i < n; i++) {
                if (sizes[i] < 0 || sizes[i] > D) return ember_fail(EMBER_ERR_SHAPE, "SplitToSequence: split %lld", (long long)sizes[i]);
                sum += sizes[i];
            }
            if (sum != D) return ember_fail(EMBER_ERR_SHAPE, "SplitToSequence: split sums to %lld, axis is %lld", (long long)sum, (long long)D);
        }
    } else {
        if (D > 1024) return ember_fail(EMBER_ERR_UNSUPPORTED, "SplitToSequence: more than 1024 parts");
        for (int64_t i = 0; i < D; i++) sizes[n++] = 1;
        squeeze = eo_attr_int(c, "keepdims", 1) == 0;
    }
    int64_t outer = 1, inner = 1;
    for (int d = 0; d < axis; d++) outer *= x->shape[d];
    for (int d = axis + 1; d < x->ndim; d++) inner *= x->shape[d];
    size_t es = eo_esize(x->dtype);
    ev *o = out_seq(c, 0, x->dtype);
    if (!o) return EMBER_OK;
    int64_t at = 0;
    for (int i = 0; i < n && !s; i++) {
        int64_t shape[EMBER_MAX_DIMS];
        int nd = 0;
        for (int d = 0; d < x->ndim; d++) {
            if (d == axis && squeeze) continue;
            shape[nd++] = d == axis ? sizes[i] : x->shape[d];
        }
        ev part = {0};
        s = ev_alloc_tensor(&part, x->dtype, nd, shape);
        for (int64_t oo = 0; oo < outer && !s; oo++)
            for (int64_t k = 0; k < sizes[i] * inner && !s; k++) {
                int64_t src = (oo * D + at) * inner + k, dst = oo * sizes[i] * inner + k;
                if (x->dtype == EMBER_DTYPE_STRING) {
                    const char *str = ((char *const *)x->data)[src];
                    s = ember_tensor_set_string(&part.t, dst, str, strlen(str));
                } else {
                    memcpy((char *)part.t.data + (size_t)dst * es, (const char *)x->data + (size_t)src * es, es);
                }
            }
        if (!s) s = ev_seq_insert(o, &part.t, -1);
        ev_clear(&part);
        at += sizes[i];
    }
    return s;
}

/* --- SequenceMap -------------------------------------------------------------------------------------- */
ember_status sequence_map_run(eo_ctx *c) {
    ember_status s = need_seq(c, 0, "SequenceMap");
    if (s) return s;
    const eg_attr *a = eo_attr(c, "body");
    if (!a || a->type != EG_ATTR_GRAPH) return ember_fail(EMBER_ERR_FORMAT, "SequenceMap: missing body graph");
    const eg_graph *g = a->g;
    if (g->ninputs != c->nin || g->noutputs != c->nout || c->nin > 64 || c->nout > 64)
        return ember_fail(EMBER_ERR_SHAPE, "SequenceMap: body has %d inputs and %d outputs, the node %d and %d",
                          g->ninputs, g->noutputs, c->nin, c->nout);
    int n = c->in[0]->nitems;
    for (int j = 1; j < c->nin; j++)
        if (eo_has(c, j) && c->in[j]->kind == EV_SEQUENCE && c->in[j]->nitems != n)
            return ember_fail(EMBER_ERR_SHAPE, "SequenceMap: sequences differ in length");
    ev res[64], bo[64];
    eg_exec *x = NULL;
    memset(res, 0, sizeof res);
    memset(bo, 0, sizeof bo);
    for (int k = 0; k < c->nout; k++) {
        res[k].kind = EV_SEQUENCE;
        res[k].elem = g->values[g->outputs[k]].type.dtype;
    }
    for (int i = 0; i < n && !s; i++) {
        ev *ins[64];
        for (int j = 0; j < c->nin; j++)
            ins[j] = c->in[j]->kind == EV_SEQUENCE ? c->in[j]->items[i] : c->in[j];
        if (!x && (s = eg_exec_create(g, c->exec, c->pool, &x))) break; /* planned once for all items */
        if ((s = eg_exec_run(x, ins, bo))) break;
        for (int k = 0; k < c->nout && !s; k++) {
            if (bo[k].kind != EV_TENSOR) s = ember_fail(EMBER_ERR_SHAPE, "SequenceMap: body output %d is not a tensor", k);
            else {
                res[k].elem = bo[k].t.dtype;
                s = ev_seq_insert(&res[k], &bo[k].t, -1);
            }
        }
        for (int k = 0; k < c->nout; k++) ev_clear(&bo[k]);
    }
    eg_exec_destroy(x);
    for (int k = 0; k < c->nout; k++) {
        if (!s && c->out[k]) {
            ev_clear(c->out[k]);
            *c->out[k] = res[k];
        } else {
            ev_clear(&res[k]);
        }
    }
    return s;
}

/* --- optionals ---------------------------------------------------------------------------------------- */
ember_status optional_run(eo_ctx *c) {
    if (!c->out[0]) return EMBER_OK;
    if (eo_has(c, 0)) return ev_copy(c->out[0], c->in[0]);
    ev_clear(c->out[0]);
    c->out[0]->kind = EV_NONE;
    const eg_attr *a = eo_attr(c, "type");
    c->out[0]->opt_of = a && a->tp && a->tp->kind == EG_KIND_SEQUENCE ? EG_KIND_SEQUENCE : EG_KIND_TENSOR;
    if (a && a->tp) c->out[0]->elem = a->tp->dtype;
    return EMBER_OK;
}

ember_status optional_has_element_run(eo_ctx *c) {
    ember_tensor *y;
    ember_status s = eo_alloc_out(c, 0, EMBER_DTYPE_BOOL, 0, NULL, &y);
    if (s || !y) return s;
    *(uint8_t *)y->data = eo_has(c, 0) && c->in[0]->kind != EV_NONE;
    return EMBER_OK;
}

ember_status optional_get_element_run(eo_ctx *c) {
    if (!eo_has(c, 0) || c->in[0]->kind == EV_NONE)
        return ember_fail(EMBER_ERR_SHAPE, "OptionalGetElement: the optional is empty");
    if (!c->out[0]) return EMBER_OK;
    return ev_copy(c->out[0], c->in[0]);
}
