/* Control flow: ONNX If (1-25), Loop (1-25), Scan (8, 9-25). Bodies are nested graphs run through
 * eg_subgraph_run, which resolves the values they capture from the enclosing graph. Output shapes depend on
 * run-time data (branch taken, trip count), so infer always defers to run time (EO_DYNAMIC) and run fills
 * the outputs itself. */
#include "graph/exec.h"
#include "ops/op.h"

#include <stdlib.h>

enum { CF_MAX = 256 };

static const eg_graph *graph_attr(const eo_ctx *c, const char *name) {
    const eg_attr *a = eo_attr(c, name);
    return a && a->type == EG_ATTR_GRAPH ? a->g : NULL;
}

/* A body run many times (Loop, Scan): one executor, planned once and re-planned only when input shapes change. */
typedef struct body_exec {
    const eg_graph *g;
    eg_exec *x;
} body_exec;

static ember_status body_run(eo_ctx *c, body_exec *b, int nin, ev *const *in, ev *out) {
    if (nin != b->g->ninputs)
        return ember_fail(EMBER_ERR_SHAPE, "subgraph '%s' takes %d inputs, %d given", b->g->name, b->g->ninputs, nin);
    if (!b->x) {
        ember_status s = eg_exec_create(b->g, c->exec, c->pool, &b->x);
        if (s) return s;
    }
    return eg_exec_run(b->x, in, out);
}

static void move_into(ev *dst, ev *src) {
    ev_clear(dst);
    *dst = *src;
    memset(src, 0, sizeof *src);
}

/* Slice idx of x along axis (the axis removed) into out (owned). */
static ember_status take_slice(const ember_tensor *x, int axis, int64_t idx, ev *out) {
    int64_t shape[EMBER_MAX_DIMS];
    int nd = 0;
    for (int d = 0; d < x->ndim; d++)
        if (d != axis) shape[nd++] = x->shape[d];
    ember_status s = ev_alloc_tensor(out, x->dtype, nd, shape);
    if (s) return s;
    int64_t outer = 1, inner = 1, D = x->shape[axis];
    for (int d = 0; d < axis; d++) outer *= x->shape[d];
    for (int d = axis + 1; d < x->ndim; d++) inner *= x->shape[d];
    if (x->dtype == EMBER_DTYPE_STRING) {
        char *const *src = x->data;
        for (int64_t o = 0; o < outer; o++)
            for (int64_t i = 0; i < inner; i++) {
                const char *str = src[(o * D + idx) * inner + i];
                if ((s = ember_tensor_set_string(&out->t, o * inner + i, str, strlen(str)))) return s;
            }
        return EMBER_OK;
    }
    size_t es = eo_esize(x->dtype);
    if (!es) return ember_fail(EMBER_ERR_UNSUPPORTED, "slicing %s tensors", ember_dtype_name(x->dtype));
    for (int64_t o = 0; o < outer; o++)
        memcpy((char *)out->t.data + (size_t)(o * inner) * es, (const char *)x->data + (size_t)((o * D + idx) * inner) * es,
               (size_t)inner * es);
    return EMBER_OK;
}

/* Write slice s into y at index idx along axis. */
static ember_status put_slice(ember_tensor *y, int axis, int64_t idx, const ember_tensor *s) {
    int64_t outer = 1, inner = 1, D = y->shape[axis];
    for (int d = 0; d < axis; d++) outer *= y->shape[d];
    for (int d = axis + 1; d < y->ndim; d++) inner *= y->shape[d];
    if (ember_tensor_count(s) != outer * inner || s->dtype != y->dtype)
        return ember_fail(EMBER_ERR_SHAPE, "scan output slices differ in shape or type between iterations");
    if (y->dtype == EMBER_DTYPE_STRING) {
        char *const *src = s->data;
        for (int64_t o = 0; o < outer; o++)
            for (int64_t i = 0; i < inner; i++) {
                const char *str = src[o * inner + i];
                ember_status st = ember_tensor_set_string(y, (o * D + idx) * inner + i, str, strlen(str));
                if (st) return st;
            }
        return EMBER_OK;
    }
    size_t es = eo_esize(y->dtype);
    if (!es) return ember_fail(EMBER_ERR_UNSUPPORTED, "stacking %s tensors", ember_dtype_name(y->dtype));
    for (int64_t o = 0; o < outer; o++)
        memcpy((char *)y->data + (size_t)((o * D + idx) * inner) * es, (const char *)s->data + (size_t)(o * inner) * es,
               (size_t)inner * es);
    return EMBER_OK;
}

/* Stack tensors items[0..n) along a new axis `axis` into out. Empty: shape [0] + declared type. */
static ember_status stack(ev *const *items, int64_t n, int axis, const eg_type *decl, ev *out) {
    if (n == 0) {
        int64_t shape[EMBER_MAX_DIMS] = {0};
        int nd = 1;
        if (decl && decl->ndim > 0 && decl->ndim < EMBER_MAX_DIMS) {
            for (int d = 0; d < decl->ndim; d++) shape[nd++] = decl->dims[d] > 0 ? decl->dims[d] : 0;
        }
        return ev_alloc_tensor(out, decl && decl->dtype ? decl->dtype : EMBER_DTYPE_F32, nd, shape);
    }
    const ember_tensor *t0 = &items[0]->t;
    if (t0->ndim + 1 > EMBER_MAX_DIMS) return ember_fail(EMBER_ERR_UNSUPPORTED, "stacked rank too large");
    if (axis < 0) axis += t0->ndim + 1;
    if (axis < 0 || axis > t0->ndim) return ember_fail(EMBER_ERR_SHAPE, "scan output axis out of range");
    int64_t shape[EMBER_MAX_DIMS];
    int nd = 0;
    for (int d = 0; d <= t0->ndim; d++) shape[nd++] = d == axis ? n : t0->shape[d - (d > axis)];
    ember_status s = ev_alloc_tensor(out, t0->dtype, nd, shape);
    for (int64_t i = 0; i < n && !s; i++) {
        if (items[i]->kind != EV_TENSOR) return ember_fail(EMBER_ERR_SHAPE, "scan outputs must be tensors");
        s = put_slice(&out->t, axis, i, &items[i]->t);
    }
    return s;
}

ember_status control_infer(eo_ctx *c) {
    (void)c;
    return EO_DYNAMIC;
}

/* --- If ----------------------------------------------------------------------------------------------- */
ember_status if_run(eo_ctx *c) {
    const ember_tensor *cond = eo_has(c, 0) && c->in[0]->kind == EV_TENSOR ? eo_in(c, 0) : NULL;
    if (!cond || ember_tensor_count(cond) < 1) return ember_fail(EMBER_ERR_SHAPE, "If: cond must be one value");
    const eg_graph *g = graph_attr(c, eo_get(cond, 0) != 0 ? "then_branch" : "else_branch");
    if (!g) return ember_fail(EMBER_ERR_FORMAT, "If: missing branch graph");
    if (g->noutputs != c->nout)
        return ember_fail(EMBER_ERR_SHAPE, "If: branch '%s' has %d outputs, the node %d", g->name, g->noutputs, c->nout);
    if (c->nout > CF_MAX) return ember_fail(EMBER_ERR_UNSUPPORTED, "If: too many outputs");
    ev outs[CF_MAX];
    memset(outs, 0, sizeof(ev) * (size_t)c->nout);
    ember_status s = eg_subgraph_run(c, g, 0, NULL, outs);
    for (int i = 0; i < c->nout; i++) {
        if (!s && c->out[i]) move_into(c->out[i], &outs[i]);
        ev_clear(&outs[i]);
    }
    return s;
}

/* --- Loop --------------------------------------------------------------------------------------------- */
ember_status loop_run(eo_ctx *c) {
    const eg_graph *g = graph_attr(c, "body");
    if (!g) return ember_fail(EMBER_ERR_FORMAT, "Loop: missing body graph");
    int N = c->nin - 2; /* loop-carried values */
    int K = g->noutputs - 1 - N;
    if (N < 0 || K < 0 || g->ninputs != N + 2 || c->nout != N + K)
        return ember_fail(EMBER_ERR_SHAPE, "Loop: body has %d inputs and %d outputs for %d carried values", g->ninputs,
                          g->noutputs, N);
    if (N + 2 > CF_MAX || g->noutputs > CF_MAX) return ember_fail(EMBER_ERR_UNSUPPORTED, "Loop: too many values");
    int64_t max_trip = INT64_MAX;
    if (eo_has(c, 0)) {
        double m;
        if (c->in[0]->kind != EV_TENSOR || !c->in[0]->t.data) return ember_fail(EMBER_ERR_SHAPE, "Loop: M must be a tensor");
        ember_status s = eo_in_scalar(c, 0, &m);
        if (s) return s;
        max_trip = eo_to_i64(m);
    }
    bool cond = true;
    if (eo_has(c, 1)) {
        if (c->in[1]->kind != EV_TENSOR || ember_tensor_count(eo_in(c, 1)) < 1)
            return ember_fail(EMBER_ERR_SHAPE, "Loop: cond must be a bool tensor");
        cond = eo_get(eo_in(c, 1), 0) != 0;
    }
    ev iter = {0}, condv = {0}, *carried = ember_calloc((size_t)N + 1, sizeof(ev)), *outs = ember_calloc((size_t)g->noutputs + 1, sizeof(ev));
    ev **scans = NULL;
    int64_t nscan = 0, capscan = 0;
    body_exec body = {g, NULL};
    ember_status s = !carried || !outs ? ember_fail(EMBER_ERR_NOMEM, "out of memory") : EMBER_OK;
    if (!s) s = ev_alloc_tensor(&iter, EMBER_DTYPE_I64, 0, NULL);
    if (!s) s = ev_alloc_tensor(&condv, EMBER_DTYPE_BOOL, 0, NULL);
    for (int i = 0; i < N && !s; i++) {
        if (!c->in[2 + i]) {
            carried[i].kind = EV_NONE;
            continue;
        }
        s = ev_copy(&carried[i], c->in[2 + i]);
    }
    for (int64_t it = 0; !s && it < max_trip && cond; it++) {
        *(int64_t *)iter.t.data = it;
        *(uint8_t *)condv.t.data = 1;
        ev *ins[CF_MAX];
        ins[0] = &iter;
        ins[1] = &condv;
        for (int i = 0; i < N; i++) ins[2 + i] = &carried[i];
        if ((s = body_run(c, &body, N + 2, ins, outs))) break;
        if (outs[0].kind != EV_TENSOR || ember_tensor_count(&outs[0].t) < 1) {
            s = ember_fail(EMBER_ERR_SHAPE, "Loop: body condition output must be a bool tensor");
            break;
        }
        cond = eo_get(&outs[0].t, 0) != 0;
        for (int i = 0; i < N; i++) move_into(&carried[i], &outs[1 + i]);
        if (K) {
            if (nscan == capscan) {
                int64_t cap = capscan ? capscan * 2 : 8;
                ev **grown = ember_realloc(scans, sizeof(ev *) * (size_t)(cap * K));
                if (!grown) {
                    s = ember_fail(EMBER_ERR_NOMEM, "out of memory");
                    break;
                }
                /* re-layout: column k holds scan output k of every iteration */
                for (int k = K - 1; k >= 0; k--)
                    for (int64_t j = nscan - 1; j >= 0; j--) grown[k * cap + j] = grown[k * capscan + j];
                scans = grown;
                capscan = cap;
            }
            for (int k = 0; k < K && !s; k++) {
                ev *v = ember_calloc(1, sizeof *v);
                if (!v) {
                    s = ember_fail(EMBER_ERR_NOMEM, "out of memory");
                    break;
                }
                move_into(v, &outs[1 + N + k]);
                scans[k * capscan + nscan] = v;
            }
            if (s) break;
            nscan++;
        }
        for (int i = 0; i < g->noutputs; i++) ev_clear(&outs[i]);
    }
    for (int i = 0; i < N && !s; i++)
        if (c->out[i]) move_into(c->out[i], &carried[i]);
    for (int k = 0; k < K && !s; k++)
        if (c->out[N + k]) s = stack(scans + k * capscan, nscan, 0, &g->values[g->outputs[1 + N + k]].type, c->out[N + k]);
    for (int k = 0; k < K; k++)
        for (int64_t j = 0; j < nscan; j++) {
            ev_clear(scans[k * capscan + j]);
            ember_free(scans[k * capscan + j]);
        }
    ember_free(scans);
    for (int i = 0; carried && i < N; i++) ev_clear(&carried[i]);
    for (int i = 0; outs && i < g->noutputs; i++) ev_clear(&outs[i]);
    ember_free(carried);
    ember_free(outs);
    eg_exec_destroy(body.x);
    ev_clear(&iter);
    ev_clear(&condv);
    return s;
}

/* --- Scan --------------------------------------------------------------------------------------------- */
/* One scan (opset 9 semantics) over N states and M scan inputs given as ev pointers; fills outs[0..N+K). */
static ember_status scan_core(eo_ctx *c, const eg_graph *g, int N, int M, ev *const *in, ev *outs) {
    int K = g->noutputs - N;
    if (K < 0 || g->ninputs != N + M) return ember_fail(EMBER_ERR_SHAPE, "Scan: body does not match the node's inputs");
    const int64_t *ia = NULL, *id = NULL, *oa = NULL, *od = NULL;
    int nia = eo_attr_ints(c, "scan_input_axes", &ia), nid = eo_attr_ints(c, "scan_input_directions", &id);
    if (nid < 0) nid = eo_attr_ints(c, "directions", &id); /* opset 8 */
    int noa = eo_attr_ints(c, "scan_output_axes", &oa), nod = eo_attr_ints(c, "scan_output_directions", &od);
    int64_t L = -1;
    int axes[CF_MAX];
    for (int j = 0; j < M; j++) {
        const ev *x = in[N + j];
        if (!x || x->kind != EV_TENSOR) return ember_fail(EMBER_ERR_SHAPE, "Scan: scan input %d must be a tensor", j);
        ember_status s = eo_axis(nia == M ? ia[j] : 0, x->t.ndim, &axes[j]);
        if (s) return s;
        int64_t len = x->t.shape[axes[j]];
        if (L >= 0 && len != L) return ember_fail(EMBER_ERR_SHAPE, "Scan: scan inputs differ in length");
        L = len;
    }
    if (L < 0) L = 0;
    ev *state = ember_calloc((size_t)N + 1, sizeof(ev)), *slices = ember_calloc((size_t)M + 1, sizeof(ev));
    ev *bo = ember_calloc((size_t)g->noutputs + 1, sizeof(ev));
    ev **col = ember_calloc((size_t)(K * L) + 1, sizeof(ev *));
    body_exec body = {g, NULL};
    ember_status s = !state || !slices || !bo || !col ? ember_fail(EMBER_ERR_NOMEM, "out of memory") : EMBER_OK;
    for (int i = 0; i < N && !s; i++) s = ev_copy(&state[i], in[i]);
    for (int64_t t = 0; t < L && !s; t++) {
        ev *bin[CF_MAX];
        for (int i = 0; i < N; i++) bin[i] = &state[i];
        for (int j = 0; j < M && !s; j++) {
            int64_t idx = nid == M && id[j] ? L - 1 - t : t;
            s = take_slice(&in[N + j]->t, axes[j], idx, &slices[j]);
            bin[N + j] = &slices[j];
        }
        if (s || (s = body_run(c, &body, N + M, bin, bo))) break;
        for (int i = 0; i < N; i++) move_into(&state[i], &bo[i]);
        for (int k = 0; k < K && !s; k++) {
            ev *v = ember_calloc(1, sizeof *v);
            if (!v) s = ember_fail(EMBER_ERR_NOMEM, "out of memory");
            else {
                move_into(v, &bo[N + k]);
                col[k * L + t] = v;
            }
        }
        for (int i = 0; i < g->noutputs; i++) ev_clear(&bo[i]);
    }
    for (int i = 0; i < N && !s; i++) move_into(&outs[i], &state[i]);
    for (int k = 0; k < K && !s; k++) {
        ev **items = col + k * L;
        if (nod == K && od[k]) /* reverse: the last iteration's slice comes first */
            for (int64_t a = 0, b = L - 1; a < b; a++, b--) {
                ev *tmp = items[a];
                items[a] = items[b];
                items[b] = tmp;
            }
        s = stack(items, L, noa == K ? (int)oa[k] : 0, &g->values[g->outputs[N + k]].type, &outs[N + k]);
    }
    for (int64_t i = 0; col && i < K * L; i++)
        if (col[i]) {
            ev_clear(col[i]);
            ember_free(col[i]);
        }
    for (int i = 0; state && i < N; i++) ev_clear(&state[i]);
    for (int j = 0; slices && j < M; j++) ev_clear(&slices[j]);
    ember_free(state), ember_free(slices), ember_free(bo), ember_free(col);
    eg_exec_destroy(body.x);
    return s;
}

ember_status scan_run(eo_ctx *c) {
    const eg_graph *g = graph_attr(c, "body");
    if (!g) return ember_fail(EMBER_ERR_FORMAT, "Scan: missing body graph");
    int M = (int)eo_attr_int(c, "num_scan_inputs", 0);
    if (c->nin > CF_MAX || c->nout > CF_MAX) return ember_fail(EMBER_ERR_UNSUPPORTED, "Scan: too many values");
    if (c->opset >= 9) {
        int N = c->nin - M;
        if (M <= 0 || N < 0) return ember_fail(EMBER_ERR_SHAPE, "Scan: num_scan_inputs %d for %d inputs", M, c->nin);
        ev outs[CF_MAX];
        memset(outs, 0, sizeof(ev) * (size_t)c->nout);
        ember_status s = scan_core(c, g, N, M, c->in, outs);
        for (int i = 0; i < c->nout; i++) {
            if (!s && c->out[i]) move_into(c->out[i], &outs[i]);
            ev_clear(&outs[i]);
        }
        return s;
    }
    /* opset 8: input 0 is sequence_lens (optional), every other input has a batch axis 0 */
    int N = c->nin - 1 - M, K = c->nout - N;
    if (M <= 0 || N < 0 || K < 0) return ember_fail(EMBER_ERR_SHAPE, "Scan: num_scan_inputs %d for %d inputs", M, c->nin);
    if (eo_has(c, 0)) return ember_fail(EMBER_ERR_UNSUPPORTED, "Scan-8: sequence_lens");
    for (int i = 1; i < c->nin; i++)
        if (!eo_has(c, i) || c->in[i]->kind != EV_TENSOR || c->in[i]->t.ndim < 1 || c->in[i]->t.shape[0] != eo_in(c, 1)->shape[0])
            return ember_fail(EMBER_ERR_SHAPE, "Scan-8: input %d must be a tensor with the batch axis first", i);
    const ember_tensor *first = eo_in(c, 1);
    if (!first || first->ndim < 1) return ember_fail(EMBER_ERR_SHAPE, "Scan-8: inputs need a batch axis");
    int64_t B = first->shape[0];
    ev *sl = ember_calloc((size_t)(N + M) + 1, sizeof(ev));
    ev *bo = ember_calloc((size_t)c->nout + 1, sizeof(ev));
    ev **per = ember_calloc((size_t)(c->nout * B) + 1, sizeof(ev *));
    ember_status s = !sl || !bo || !per ? ember_fail(EMBER_ERR_NOMEM, "out of memory") : EMBER_OK;
    for (int64_t b = 0; b < B && !s; b++) {
        ev *ins[CF_MAX];
        for (int i = 0; i < N + M && !s; i++) {
            s = take_slice(eo_in(c, 1 + i), 0, b, &sl[i]);
            ins[i] = &sl[i];
        }
        /* per-batch scan inputs lost axis 0: their scan axis is now 0 */
        if (!s) s = scan_core(c, g, N, M, ins, bo);
        for (int o = 0; o < c->nout && !s; o++) {
            ev *v = ember_calloc(1, sizeof *v);
            if (!v) s = ember_fail(EMBER_ERR_NOMEM, "out of memory");
            else {
                move_into(v, &bo[o]);
                per[o * B + b] = v;
            }
        }
        for (int i = 0; i < N + M; i++) ev_clear(&sl[i]);
    }
    for (int o = 0; o < c->nout && !s; o++)
        if (c->out[o]) s = stack(per + o * B, B, 0, NULL, c->out[o]);
    for (int64_t i = 0; per && i < c->nout * B; i++)
        if (per[i]) {
            ev_clear(per[i]);
            ember_free(per[i]);
        }
    for (int o = 0; bo && o < c->nout; o++) ev_clear(&bo[o]);
    ember_free(sl), ember_free(bo), ember_free(per);
    return s;
}
