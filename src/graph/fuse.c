/* Graph passes over the planned steps: fold BatchNormalization into the Conv before it, and move
 * activations, residual Adds and MatMul biases into the epilogue of the Conv/Gemm/MatMul step that
 * produces their input. The absorbed nodes' steps are dropped; the producing step writes the last absorbed
 * node's output directly (no intermediate tensor, one pass over memory instead of several).
 *
 * A node is absorbed only when the intermediate value has no other reader (and is not a graph output),
 * every extra input it needs is a constant or is computed before the producing step, and all shapes match
 * (no broadcasting beyond a per-channel bias). Ops apply what they cannot fuse in their kernels with
 * eo_fuse_apply, so every fused step computes what the nodes computed, up to float rounding. */
#include "graph/exec_impl.h"

#include <float.h>
#include <math.h>

typedef struct fctx {
    eg_exec *x;
    const eg_graph *g;
    int *readers;     /* per value: reads by steps + graph outputs */
    int *reader_step; /* per value: the (last) step reading it */
    int *rd_start, *rd_list; /* per value v: the steps reading it are rd_list[rd_start[v] .. rd_start[v + 1]) */
    int *stepof;      /* per node: its step, -1 when not a step */
    bool *removed;    /* per step: absorbed */
} fctx;

static const ev *val(const fctx *f, int v) { return v >= 0 ? &f->x->vals[v] : NULL; }

static bool is_f32(const fctx *f, int v) {
    const ev *e = val(f, v);
    return e && e->kind == EV_TENSOR && e->t.dtype == EMBER_DTYPE_F32;
}

static bool same_shape(const fctx *f, int a, int b) {
    const ember_tensor *x = &val(f, a)->t, *y = &val(f, b)->t;
    return is_f32(f, a) && is_f32(f, b) && x->ndim == y->ndim &&
           !memcmp(x->shape, y->shape, sizeof(int64_t) * (size_t)x->ndim);
}

static bool is_const_f32(const fctx *f, int v) { return v >= 0 && f->x->is_const[v] && is_f32(f, v) && val(f, v)->t.data; }

/* An optional scalar input (Clip min/max) as float: absent -> dflt; false when not a constant scalar. */
static bool const_scalar(const fctx *f, const eg_node *n, int i, float dflt, float *out) {
    *out = dflt;
    if (i >= n->nin || n->in[i] < 0) return true;
    if (!is_const_f32(f, n->in[i]) || ember_tensor_count(&val(f, n->in[i])->t) != 1) return false;
    *out = *(const float *)val(f, n->in[i])->t.data;
    return true;
}

static float attr_f(const eg_node *n, const char *name, float dflt) {
    const eg_attr *a = eg_attr_find(n, name);
    return a && a->type == EG_ATTR_FLOAT ? a->f : dflt;
}

static int64_t attr_i(const eg_node *n, const char *name, int64_t dflt) {
    const eg_attr *a = eg_attr_find(n, name);
    return a && a->type == EG_ATTR_INT ? a->i : dflt;
}

/* The activation node n computes, if the epilogue has it. */
static bool node_act(const fctx *f, const eg_node *n, ember_act *act) {
    const char *t = n->op_type;
    if (n->domain[0]) return false;
    if (!strcmp(t, "Relu")) *act = (ember_act){EMBER_ACT_RELU, 0, 0, NULL};
    else if (!strcmp(t, "Sigmoid")) *act = (ember_act){EMBER_ACT_SIGMOID, 0, 0, NULL};
    else if (!strcmp(t, "Tanh")) *act = (ember_act){EMBER_ACT_TANH, 0, 0, NULL};
    else if (!strcmp(t, "HardSwish")) *act = (ember_act){EMBER_ACT_HARD_SWISH, 0, 0, NULL};
    else if (!strcmp(t, "LeakyRelu")) *act = (ember_act){EMBER_ACT_LEAKY_RELU, attr_f(n, "alpha", 0.01f), 0, NULL};
    else if (!strcmp(t, "HardSigmoid"))
        *act = (ember_act){EMBER_ACT_HARD_SIGMOID, attr_f(n, "alpha", 0.2f), attr_f(n, "beta", 0.5f), NULL};
    else if (!strcmp(t, "Clip")) {
        float lo = -FLT_MAX, hi = FLT_MAX;
        if (n->opset < 11) {
            lo = attr_f(n, "min", -FLT_MAX);
            hi = attr_f(n, "max", FLT_MAX);
        } else if (!const_scalar(f, n, 1, -FLT_MAX, &lo) || !const_scalar(f, n, 2, FLT_MAX, &hi)) {
            return false;
        }
        if (!(lo <= hi)) return false; /* ONNX: min > max gives max everywhere; leave it to the op */
        *act = (ember_act){EMBER_ACT_CLIP, lo, hi, NULL};
    } else if (!strcmp(t, "Gelu")) {
        const eg_attr *a = eg_attr_find(n, "approximate");
        bool tanh_approx = a && a->type == EG_ATTR_STRING && !strcmp(a->s, "tanh");
        *act = (ember_act){tanh_approx ? EMBER_ACT_GELU_TANH : EMBER_ACT_GELU_ERF, 0, 0, NULL};
    } else {
        return false;
    }
    return n->nout == 1;
}

/* A PRelu slope v that a Conv output `out` ([N, C, ...]) can take in its epilogue: a constant f32 that is
 * one value (LEAKY_RELU) or one per channel broadcast along dimension 1 (shape [C, 1, ...] or [1, C, 1, ...]). */
static bool prelu_act(const fctx *f, int v, const ember_tensor *out, ember_act *act) {
    if (v < 0 || !is_const_f32(f, v)) return false;
    const ember_tensor *s = &val(f, v)->t;
    const float *d = s->data;
    if (ember_tensor_count(s) == 1) {
        *act = (ember_act){EMBER_ACT_LEAKY_RELU, d[0], 0, NULL};
        return true;
    }
    if (s->ndim > out->ndim || ember_tensor_count(s) != out->shape[1]) return false;
    for (int i = 0; i < s->ndim; i++) { /* right-aligned against the output's dimensions */
        int od = out->ndim - s->ndim + i;
        if (s->shape[i] != (od == 1 ? out->shape[1] : 1)) return false;
    }
    *act = (ember_act){EMBER_ACT_PRELU, 0, 0, d};
    return true;
}

/* The list attribute `name` of n, `count` ints, into v (absent: `dflt` each); false when it is malformed. */
static bool ints_or(const eg_node *n, const char *name, int count, int64_t dflt, int64_t *v) {
    const eg_attr *a = eg_attr_find(n, name);
    for (int i = 0; i < count; i++) v[i] = dflt;
    if (!a) return true;
    if (a->type != EG_ATTR_INTS || a->n != count) return false;
    for (int i = 0; i < count; i++) v[i] = a->ints[i];
    return true;
}

/* Node cn is a 2-D MaxPool (no indices; explicit or no padding) of the 4-D value `in` that Conv `conv` makes,
 * with f32 output `out`, and the conv's step can do it (eo_fuse.maxpool; ember_conv2d_pool_suits: a depthwise
 * conv pools its bands 2x2, a stem its rows with any window). Sets fu->pool. */
static bool pool_after_conv(const fctx *f, const eg_node *conv, const eg_node *cn, int in, int out,
                            eo_fuse *fu) {
    if (cn->domain[0] || strcmp(cn->op_type, "MaxPool") || (cn->nout > 1 && cn->out[1] >= 0) ||
        cn->in[0] != in || !is_f32(f, out))
        return false;
    const eg_attr *ap = eg_attr_find(cn, "auto_pad");
    bool valid = ap && ap->type == EG_ATTR_STRING && !strcmp(ap->s, "VALID");
    if (ap && ap->type == EG_ATTR_STRING && strcmp(ap->s, "NOTSET") && !valid) return false;
    int64_t k[2], st[2], dl[2], pd[4], cst[2], cdl[2], cpd[4];
    if (!ints_or(cn, "kernel_shape", 2, 0, k) || !ints_or(cn, "strides", 2, 1, st) ||
        !ints_or(cn, "dilations", 2, 1, dl) || !ints_or(cn, "pads", 4, 0, pd) ||
        !ints_or(conv, "strides", 2, 1, cst) || !ints_or(conv, "dilations", 2, 1, cdl) ||
        !ints_or(conv, "pads", 4, 0, cpd))
        return false;
    if (valid) memset(pd, 0, sizeof pd);
    for (int i = 0; i < 2; i++) /* (no kernel_shape: 0) */
        if (k[i] < 1 || st[i] < 1 || dl[i] < 1 || pd[i] < 0 || pd[i + 2] < 0) return false;
    int w = conv->nin > 1 ? conv->in[1] : -1;
    if (!is_f32(f, conv->in[0]) || !is_f32(f, in) || !is_f32(f, w)) return false;
    const ember_tensor *cx = &val(f, conv->in[0])->t, *x = &val(f, in)->t, *y = &val(f, out)->t,
                       *wt = &val(f, w)->t;
    if (cx->ndim != 4 || x->ndim != 4 || y->ndim != 4 || wt->ndim != 4 || y->shape[0] != x->shape[0] ||
        y->shape[1] != x->shape[1])
        return false;
    ember_conv2d_shape s = {.batch = cx->shape[0], .cin = cx->shape[1], .h = cx->shape[2], .w = cx->shape[3]};
    s.cout = x->shape[1], s.oh = x->shape[2], s.ow = x->shape[3], s.kh = wt->shape[2], s.kw = wt->shape[3];
    s.stride_h = cst[0], s.stride_w = cst[1], s.dil_h = cdl[0], s.dil_w = cdl[1];
    s.pad_t = cpd[0], s.pad_l = cpd[1], s.groups = attr_i(conv, "group", 1);
    ember_pooling2d p = {
        .batch = s.batch, .c = s.cout, .h = s.oh, .w = s.ow, .oh = y->shape[2], .ow = y->shape[3]};
    p.kh = k[0], p.kw = k[1], p.stride_h = st[0], p.stride_w = st[1], p.dil_h = dl[0], p.dil_w = dl[1];
    p.pad_t = pd[0], p.pad_l = pd[1];
    if (!ember_conv2d_pool_suits(&s, &p)) return false;
    fu->pool.kh = k[0], fu->pool.kw = k[1], fu->pool.sh = st[0], fu->pool.sw = st[1];
    fu->pool.dh = dl[0], fu->pool.dw = dl[1], fu->pool.pt = pd[0], fu->pool.pl = pd[1];
    return true;
}

/* Per value: how many steps read it (their extra inputs too) plus 1 if it is a graph output, and the last step
 * that reads it. The arrays have g->nvalues entries. */
static void count_readers(const eg_exec *x, int *readers, int *reader_step) {
    const eg_graph *g = x->g;
    memset(readers, 0, sizeof(int) * (size_t)g->nvalues);
    for (int s = 0; s < x->nsteps; s++) {
        const eg_node *n = eg_step_node(x, s);
        for (int i = 0; i <= eg_node_ninputs(n); i++) {
            int v = i < eg_node_ninputs(n) ? eg_node_input(n, i) : x->step_extra[s];
            if (v >= 0) readers[v]++, reader_step[v] = s;
        }
    }
    for (int o = 0; o < g->noutputs; o++) readers[g->outputs[o]]++;
}

/* Value v is ready before step s runs. */
static bool ready_before(const fctx *f, int v, int s) {
    if (f->x->is_const[v]) return true;
    int p = f->g->values[v].producer;
    if (p < 0) return true; /* graph input or captured value */
    int ps = f->stepof[p]; /* an absorbed step is computed by its absorber, an earlier step */
    return ps >= 0 && (ps < s || f->removed[ps]);
}

static const eg_node *step_node(const fctx *f, int s) { return &f->g->nodes[f->x->steps[s]]; }

/* The one step reading v after step s (v no graph output, not dynamic, not yet absorbed), or -1. */
static int sole_reader(const fctx *f, int v, int s) {
    if (v < 0 || f->readers[v] != 1 || f->g->values[v].is_output) return -1;
    int r = f->reader_step[v];
    return r > s && !f->removed[r] && !f->x->dynamic[r] ? r : -1;
}

/* Node is the op `op` of the default domain with one output. */
static bool is_op(const eg_node *n, const char *op) { return !n->domain[0] && !strcmp(n->op_type, op) && n->nout == 1; }

/* Binary node n reads v and a constant scalar near `want`: the constant's side is returned in *side. */
static bool with_const(const fctx *f, const eg_node *n, int v, double want, double tol) {
    if (n->nin != 2) return false;
    int o = n->in[0] == v ? n->in[1] : n->in[1] == v ? n->in[0] : -2;
    if (o < 0 || !is_const_f32(f, o) || ember_tensor_count(&val(f, o)->t) != 1) return false;
    return fabs(*(const float *)val(f, o)->t.data - want) <= tol;
}

/* GELU written out (BERT exports): a = x / sqrt(2) (or x * 0.7071), Erf, + 1, then * x and * 0.5 in either
 * order. On a match the five steps are marked absorbed and *out is the result. */
static bool match_gelu(fctx *f, int s, int cur, int *out) {
    if (f->readers[cur] != 2 || f->g->values[cur].is_output) return false;
    int r[2] = {f->rd_list[f->rd_start[cur]], f->rd_list[f->rd_start[cur] + 1]};
    if (r[0] == r[1]) return false;
    for (int k = 0; k < 2; k++) {
        int sd = r[k], so = r[1 - k];
        if (sd <= s || so <= s || f->removed[sd] || f->removed[so] || f->x->dynamic[sd] || f->x->dynamic[so]) return false;
        const eg_node *nd = step_node(f, sd), *no = step_node(f, so);
        bool scale = (is_op(nd, "Div") && nd->in[0] == cur && with_const(f, nd, cur, 1.41421356, 1e-4)) ||
                     (is_op(nd, "Mul") && with_const(f, nd, cur, 0.70710678, 1e-4));
        if (!scale) continue;
        int se = sole_reader(f, nd->out[0], s);
        if (se < 0 || !is_op(step_node(f, se), "Erf")) return false;
        int sa = sole_reader(f, step_node(f, se)->out[0], s);
        if (sa < 0 || !is_op(step_node(f, sa), "Add") || !with_const(f, step_node(f, sa), step_node(f, se)->out[0], 1, 1e-6))
            return false;
        int dv = step_node(f, sa)->out[0], sm = sole_reader(f, dv, s), last;
        if (sm < 0 || !is_op(step_node(f, sm), "Mul")) return false;
        if (sm == so) { /* (x * d) * 0.5 */
            last = sole_reader(f, step_node(f, sm)->out[0], s);
            if (last < 0 || !is_op(step_node(f, last), "Mul") || !with_const(f, step_node(f, last), step_node(f, sm)->out[0], 0.5, 1e-6))
                return false;
        } else { /* (x * 0.5) * d */
            if (!is_op(no, "Mul") || !with_const(f, no, cur, 0.5, 1e-6) || sole_reader(f, no->out[0], s) != sm) return false;
            last = sm;
        }
        const eg_node *nm = step_node(f, sm);
        if ((nm->in[0] != dv && nm->in[1] != dv) || !same_shape(f, cur, step_node(f, last)->out[0])) return false;
        f->removed[sd] = f->removed[so] = f->removed[se] = f->removed[sa] = f->removed[sm] = f->removed[last] = true;
        *out = step_node(f, last)->out[0];
        return true;
    }
    return false;
}

/* ReduceMean node n reduces only the last axis with keepdims (rank from value x). */
static bool mean_last_axis(const fctx *f, const eg_node *n, int x) {
    if (!is_op(n, "ReduceMean") || n->in[0] != x) return false;
    const eg_attr *kd = eg_attr_find(n, "keepdims");
    if (kd && !kd->i) return false;
    int rank = val(f, x)->t.ndim;
    int64_t axis;
    if (n->opset < 18) {
        const eg_attr *ax = eg_attr_find(n, "axes");
        if (!ax || ax->type != EG_ATTR_INTS || ax->n != 1) return false;
        axis = ax->ints[0];
    } else {
        if (n->nin < 2 || n->in[1] < 0 || !f->x->is_const[n->in[1]]) return false;
        const ember_tensor *t = &val(f, n->in[1])->t;
        if (t->dtype != EMBER_DTYPE_I64 || ember_tensor_count(t) != 1) return false;
        axis = *(const int64_t *)t->data;
    }
    return axis == -1 || axis == rank - 1;
}

/* A constant f32 parameter of `n` elements (the normalised row) for Mul/Add node nd reading v. */
static int row_param(const fctx *f, const eg_node *nd, int v, int64_t n) {
    if (nd->nin != 2) return -1;
    int o = nd->in[0] == v ? nd->in[1] : nd->in[1] == v ? nd->in[0] : -1;
    if (o < 0 || o == v || !is_const_f32(f, o)) return -1;
    const ember_tensor *t = &val(f, o)->t;
    return ember_tensor_count(t) == n && t->ndim >= 1 && t->shape[t->ndim - 1] == n ? o : -1;
}

/* LayerNormalization written out (BERT exports): m = ReduceMean(x); d = x - m; v = ReduceMean(d^2);
 * y = d / Sqrt(v + eps) [* gamma] [+ beta], over the last axis. Replaces the root step s (the first
 * ReduceMean) by one LayerNormalization node and marks the others absorbed. */
static ember_status match_layernorm(fctx *f, int s) {
    const eg_node *n = step_node(f, s);
    int x = n->in[0];
    if (!is_f32(f, x) || val(f, x)->t.ndim < 1 || !mean_last_axis(f, n, x)) return EMBER_OK;
    int64_t cols = val(f, x)->t.shape[val(f, x)->t.ndim - 1];
    int ssub = sole_reader(f, n->out[0], s);
    if (ssub < 0) return EMBER_OK;
    const eg_node *sub = step_node(f, ssub);
    int d = sub->out[0];
    if (!is_op(sub, "Sub") || sub->in[0] != x || sub->in[1] != n->out[0] || !same_shape(f, x, d)) return EMBER_OK;
    if (f->readers[d] != 2 || f->g->values[d].is_output) return EMBER_OK;
    int r0 = f->rd_list[f->rd_start[d]], r1 = f->rd_list[f->rd_start[d] + 1];
    if (r0 == r1 || r0 <= s || r1 <= s || f->removed[r0] || f->removed[r1]) return EMBER_OK;
    int spow = is_op(step_node(f, r0), "Pow") ? r0 : r1, sdiv = spow == r0 ? r1 : r0;
    const eg_node *pw = step_node(f, spow), *dv = step_node(f, sdiv);
    if (!is_op(pw, "Pow") || pw->in[0] != d || !is_const_f32(f, pw->in[1]) || ember_tensor_count(&val(f, pw->in[1])->t) != 1 ||
        *(const float *)val(f, pw->in[1])->t.data != 2.0f)
        return EMBER_OK;
    int smean = sole_reader(f, pw->out[0], s);
    if (smean < 0 || !mean_last_axis(f, step_node(f, smean), pw->out[0])) return EMBER_OK;
    int seps = sole_reader(f, step_node(f, smean)->out[0], s);
    if (seps < 0 || !is_op(step_node(f, seps), "Add")) return EMBER_OK;
    const eg_node *ad = step_node(f, seps);
    int ev_ = ad->in[0] == step_node(f, smean)->out[0] ? ad->in[1] : ad->in[0];
    if (!is_const_f32(f, ev_) || ember_tensor_count(&val(f, ev_)->t) != 1) return EMBER_OK;
    float eps = *(const float *)val(f, ev_)->t.data;
    int ssq = sole_reader(f, ad->out[0], s);
    if (ssq < 0 || !is_op(step_node(f, ssq), "Sqrt")) return EMBER_OK;
    if (sole_reader(f, step_node(f, ssq)->out[0], s) != sdiv || !is_op(dv, "Div") || dv->in[0] != d ||
        dv->in[1] != step_node(f, ssq)->out[0] || !same_shape(f, x, dv->out[0]))
        return EMBER_OK;
    int out = dv->out[0], gamma = -1, beta = -1, smul = sole_reader(f, out, s), sadd = -1;
    if (smul >= 0 && is_op(step_node(f, smul), "Mul") && (gamma = row_param(f, step_node(f, smul), out, cols)) >= 0 &&
        same_shape(f, x, step_node(f, smul)->out[0])) {
        out = step_node(f, smul)->out[0];
        sadd = sole_reader(f, out, s);
        if (sadd >= 0 && is_op(step_node(f, sadd), "Add") && (beta = row_param(f, step_node(f, sadd), out, cols)) >= 0 &&
            same_shape(f, x, step_node(f, sadd)->out[0]))
            out = step_node(f, sadd)->out[0];
        else
            sadd = -1;
    } else {
        smul = -1;
    }
    const struct eo_def *op = eo_find("", "LayerNormalization", 17);
    if (!op) return EMBER_OK;
    eg_synth *sy = ember_calloc(1, sizeof *sy);
    if (!sy) return ember_fail(EMBER_ERR_NOMEM, "out of memory fusing a LayerNormalization");
    sy->in[0] = x, sy->in[1] = gamma, sy->in[2] = beta, sy->out[0] = out;
    sy->attr[0] = (eg_attr){.name = "axis", .type = EG_ATTR_INT, .i = -1};
    sy->attr[1] = (eg_attr){.name = "epsilon", .type = EG_ATTR_FLOAT, .f = eps};
    sy->node = (eg_node){.name = n->name, .op_type = "LayerNormalization", .domain = "", .opset = 17,
                         .nin = beta >= 0 ? 3 : gamma >= 0 ? 2 : 1, .nout = 1, .in = sy->in, .out = sy->out,
                         .nattr = 2, .attr = sy->attr, .op = op};
    f->x->synth[s] = sy;
    int absorbed[] = {ssub, spow, sdiv, smean, seps, ssq, smul, sadd};
    for (size_t i = 0; i < sizeof absorbed / sizeof absorbed[0]; i++)
        if (absorbed[i] >= 0) f->removed[absorbed[i]] = true;
    return EMBER_OK;
}

/* SiLU / Swish written out: Sigmoid(x) and Mul(x, that), x read by exactly those two. */
static bool match_silu(fctx *f, int s, int cur, int *out) {
    if (f->readers[cur] != 2 || f->g->values[cur].is_output) return false;
    int r[2] = {f->rd_list[f->rd_start[cur]], f->rd_list[f->rd_start[cur] + 1]};
    if (r[0] == r[1]) return false;
    for (int k = 0; k < 2; k++) {
        int ss = r[k], sm = r[1 - k];
        if (ss <= s || sm <= s || f->removed[ss] || f->removed[sm] || f->x->dynamic[ss] || f->x->dynamic[sm]) continue;
        const eg_node *sg = step_node(f, ss), *mu = step_node(f, sm);
        if (!is_op(sg, "Sigmoid") || sg->in[0] != cur || !is_op(mu, "Mul") || mu->nin != 2) continue;
        if (sole_reader(f, sg->out[0], s) != sm) continue;
        if (!((mu->in[0] == cur && mu->in[1] == sg->out[0]) || (mu->in[1] == cur && mu->in[0] == sg->out[0]))) continue;
        if (!same_shape(f, cur, mu->out[0])) continue;
        f->removed[ss] = f->removed[sm] = true;
        *out = mu->out[0];
        return true;
    }
    return false;
}

/* Per-channel scale/shift of an inference-mode BatchNormalization over `channels` channels. */
static ember_status fold_bn(fctx *f, int s, const eg_node *bn, int64_t channels) {
    for (int i = 1; i < 5; i++) {
        if (bn->nin <= i || !is_const_f32(f, bn->in[i])) return EO_DYNAMIC;
        if (ember_tensor_count(&val(f, bn->in[i])->t) != channels) return EO_DYNAMIC;
    }
    for (int i = 1; i < bn->nout; i++)
        if (bn->out[i] >= 0) return EO_DYNAMIC; /* training-mode outputs */
    const eg_attr *tm = eg_attr_find(bn, "training_mode");
    if (tm && tm->i) return EO_DYNAMIC;
    float eps = attr_f(bn, "epsilon", 1e-5f);
    const float *sc = val(f, bn->in[1])->t.data, *b = val(f, bn->in[2])->t.data, *mean = val(f, bn->in[3])->t.data,
                *var = val(f, bn->in[4])->t.data;
    float *mem = ember_malloc(sizeof(float) * 2 * (size_t)channels);
    if (!mem) return ember_fail(EMBER_ERR_NOMEM, "out of memory folding BatchNormalization '%s'", bn->name);
    for (int64_t c = 0; c < channels; c++) {
        float k = sc[c] / sqrtf(var[c] + eps);
        mem[c] = k;
        mem[channels + c] = b[c] - mean[c] * k;
    }
    f->x->fuse_mem[s] = mem;
    f->x->fuse[s].bn_scale = mem;
    f->x->fuse[s].bn_shift = mem + channels;
    return EMBER_OK;
}

/* Attention written out: S = MatMul(Q, Kt) [scaled: the epilogue's alpha] -> [Add mask] -> Softmax over the
 * last axis -> MatMul(S, V). The last MatMul's step becomes one FusedAttention node (attention.c) reading Q,
 * Kt, V and the mask, so the scores never exist whole; the other steps are absorbed. Q, Kt and V are
 * computed values: a MatMul by constants is a layer, not attention. */
typedef struct attn_match {
    int mask, v;        /* values (mask -1: none) */
    int sadd, ssm, smm; /* steps: the Add (-1: none), the Softmax, the last MatMul */
} attn_match;

/* What follows cur, step s's (scaled) output, is the rest of the pattern: fills *a. */
static bool attention_tail(const fctx *f, int s, int cur, attn_match *a) {
    const eg_exec *x = f->x;
    const eg_node *n = step_node(f, s);
    int q = n->nin == 2 ? n->in[0] : -1, kt = n->nin == 2 ? n->in[1] : -1;
    if (strcmp(n->op_type, "MatMul") || q < 0 || kt < 0 || !is_f32(f, q) || !is_f32(f, kt) ||
        x->is_const[q] || x->is_const[kt] || val(f, q)->t.ndim < 2 || val(f, kt)->t.ndim < 2 ||
        !is_f32(f, cur))
        return false;
    int rank = val(f, cur)->t.ndim;
    *a = (attn_match){.mask = -1, .sadd = -1, .ssm = sole_reader(f, cur, s)};
    if (a->ssm < 0) return false;
    const eg_node *sn = step_node(f, a->ssm);
    if (is_op(sn, "Add") && sn->nin == 2 && (sn->in[0] == cur) != (sn->in[1] == cur)) { /* the mask */
        a->mask = sn->in[0] == cur ? sn->in[1] : sn->in[0];
        if (a->mask < 0 || !is_f32(f, a->mask) || val(f, a->mask)->t.ndim > rank ||
            !same_shape(f, cur, sn->out[0]))
            return false;
        a->sadd = a->ssm;
        cur = sn->out[0];
        if ((a->ssm = sole_reader(f, cur, s)) < 0) return false;
        sn = step_node(f, a->ssm);
    }
    int64_t axis = attr_i(sn, "axis", sn->opset < 13 ? 1 : -1); /* before 13, rows at axis: the last only */
    if (!is_op(sn, "Softmax") || sn->in[0] != cur || (axis != -1 && axis != rank - 1) ||
        !same_shape(f, cur, sn->out[0]))
        return false;
    int p = sn->out[0];
    a->smm = sole_reader(f, p, s);
    const eg_node *mn = a->smm >= 0 ? step_node(f, a->smm) : NULL;
    a->v = mn && is_op(mn, "MatMul") && mn->nin == 2 && mn->in[0] == p ? mn->in[1] : -1;
    return a->v >= 0 && a->v != p && is_f32(f, a->v) && !x->is_const[a->v] && val(f, a->v)->t.ndim >= 2 &&
           !x->synth[a->smm];
}

/* Step s and what attention_tail matched after it become one FusedAttention node. */
static ember_status fuse_attention(fctx *f, int s, attn_match a) {
    eg_exec *x = f->x;
    const struct eo_def *op = eo_find("ember", "FusedAttention", 1);
    if (!op) return EMBER_OK;
    const eg_node *n = step_node(f, s), *mn = step_node(f, a.smm);
    eg_synth *sy = ember_calloc(1, sizeof *sy);
    if (!sy) return ember_fail(EMBER_ERR_NOMEM, "out of memory fusing attention");
    sy->in[0] = n->in[0], sy->in[1] = n->in[1], sy->in[2] = a.v, sy->in[3] = a.mask, sy->out[0] = mn->out[0];
    sy->attr[0] =
        (eg_attr){.name = "alpha", .type = EG_ATTR_FLOAT, .f = x->fuse[s].alpha ? x->fuse[s].alpha : 1.0f};
    sy->node = (eg_node){.name = mn->name,
                         .op_type = "FusedAttention",
                         .domain = "ember",
                         .opset = 1,
                         .nin = a.mask >= 0 ? 4 : 3,
                         .nout = 1,
                         .in = sy->in,
                         .out = sy->out,
                         .nattr = 1,
                         .attr = sy->attr,
                         .op = op};
    x->synth[a.smm] = sy;
    x->has_fuse[s] = false; /* step s goes, its alpha now the node's */
    x->fuse[s] = (eo_fuse){.residual = -1};
    x->step_out0[s] = -1;
    f->removed[s] = f->removed[a.ssm] = true;
    if (a.sadd >= 0) f->removed[a.sadd] = true;
    return EMBER_OK;
}

/* Absorb what follows step s. */
static ember_status fuse_from(fctx *f, int s) {
    eg_exec *x = f->x;
    const eg_graph *g = f->g;
    const eg_node *n = &g->nodes[x->steps[s]];
    if (x->dynamic[s] || x->synth[s] || n->domain[0] || n->nout < 1 || n->out[0] < 0) return EMBER_OK;
    if (!strcmp(n->op_type, "ReduceMean")) return match_layernorm(f, s);
    bool conv = !strcmp(n->op_type, "Conv"), matmul = !strcmp(n->op_type, "MatMul");
    if (!conv && !matmul && strcmp(n->op_type, "Gemm")) return EMBER_OK;
    int cur = n->out[0];
    if (!is_f32(f, cur) || val(f, cur)->t.ndim < 1) return EMBER_OK;
    if (conv && (val(f, cur)->t.ndim < 3 || val(f, cur)->t.ndim > 4)) return EMBER_OK;
    const ember_tensor *ct = &val(f, cur)->t;
    int64_t channels = conv ? ct->shape[1] : ct->shape[ct->ndim - 1];
    eo_fuse *fu = &x->fuse[s];
    bool bn = false, bias = false, res = false, act = false, attn = false;
    attn_match am;
    for (;;) {
        int gl;
        bool gelu = false;
        /* checked first: the mask is no bias, the Softmax after the scale no activation */
        if (matmul && !bias && !res && !act && (attn = attention_tail(f, s, cur, &am))) break;
        if (!act && !(res && fu->residual_after_act) &&
            ((gelu = match_gelu(f, s, cur, &gl)) || match_silu(f, s, cur, &gl))) {
            fu->act = (ember_act){gelu ? EMBER_ACT_GELU_ERF : EMBER_ACT_SILU, 0, 0, NULL};
            act = true;
            x->has_fuse[s] = true;
            x->step_out0[s] = cur = gl;
            continue;
        }
        if (f->readers[cur] != 1 || g->values[cur].is_output) break;
        int cs = f->reader_step[cur];
        if (cs <= s || f->removed[cs] || x->dynamic[cs]) break;
        const eg_node *cn = &g->nodes[x->steps[cs]];
        if (cn->nout < 1 || cn->out[0] < 0 || cn->domain[0]) break;
        int nv = cn->out[0];
        /* a fused MaxPool is the last thing a step can take: the shape changes */
        if (conv && pool_after_conv(f, n, cn, cur, nv, fu)) {
            fu->maxpool = true;
            f->removed[cs] = true;
            x->has_fuse[s] = true;
            x->step_out0[s] = nv;
            break;
        }
        if (!same_shape(f, cur, nv)) break;
        ember_act a;
        bool scale_op = matmul && (is_op(cn, "Div") || is_op(cn, "Mul")) && cn->nin == 2 &&
                        (cn->in[0] == cur || (is_op(cn, "Mul") && cn->in[1] == cur));
        int sc = scale_op ? (cn->in[0] == cur ? cn->in[1] : cn->in[0]) : -1;
        if (sc >= 0 && !fu->alpha && !bias && !res && !act && is_const_f32(f, sc) && ember_tensor_count(&val(f, sc)->t) == 1 &&
            *(const float *)val(f, sc)->t.data != 0) {
            float k = *(const float *)val(f, sc)->t.data;
            fu->alpha = is_op(cn, "Div") ? 1.0f / k : k; /* attention scores / sqrt(d) */
        } else if (((conv && is_op(cn, "PRelu") && cn->nin == 2 && prelu_act(f, cn->in[1], ct, &a)) ||
                    node_act(f, cn, &a)) &&
                   cn->in[0] == cur && !act && !(res && fu->residual_after_act)) {
            fu->act = a;
            act = true;
        } else if (!strcmp(cn->op_type, "BatchNormalization") && conv && cn->in[0] == cur && !bn && !bias && !res &&
                   !act) {
            ember_status st = fold_bn(f, s, cn, channels);
            if (st == EO_DYNAMIC) break;
            if (st) return st;
            bn = true;
        } else if (!strcmp(cn->op_type, "Add") && cn->nin == 2 && cn->nout == 1) {
            int other = cn->in[0] == cur ? cn->in[1] : cn->in[0];
            if (other < 0 || other == cur || (cn->in[0] != cur && cn->in[1] != cur)) break;
            if (matmul && !bias && !res && !act && is_const_f32(f, other) &&
                ember_tensor_count(&val(f, other)->t) == channels && val(f, other)->t.ndim >= 1 &&
                val(f, other)->t.shape[val(f, other)->t.ndim - 1] == channels) {
                fu->bias = val(f, other)->t.data;
                bias = true;
            } else if (!res && same_shape(f, other, cur) && ready_before(f, other, s)) {
                fu->residual = n->nin; /* the executor passes it after the node's inputs */
                fu->residual_after_act = act;
                x->step_extra[s] = other;
                res = true;
            } else {
                break;
            }
        } else {
            break;
        }
        f->removed[cs] = true;
        x->has_fuse[s] = true;
        x->step_out0[s] = cur = nv;
    }
    return attn ? fuse_attention(f, s, am) : EMBER_OK;
}

/* --- chaining a 1x1 Conv into the depthwise Conv that reads it ------------------------------------------ */

/* Step s runs a plain f32 2-D Conv (not made by a pass, not dynamic) whose weights are a constant of shape
 * [m, c, kh, kw]; returns the weights' tensor. */
static const ember_tensor *conv_step(const eg_exec *x, int s) {
    const eg_node *n = &x->g->nodes[x->steps[s]];
    if (x->synth[s] || x->dynamic[s] || n->domain[0] || strcmp(n->op_type, "Conv") || n->nin < 2 || n->nout != 1 ||
        n->in[0] < 0 || n->in[1] < 0 || !x->is_const[n->in[1]])
        return NULL;
    static const int rank[3] = {4, 4, 1}; /* X, W, B */
    for (int i = 0; i < 3 && i < n->nin; i++) {
        const ev *v = n->in[i] >= 0 ? &x->vals[n->in[i]] : NULL;
        if (v && (v->kind != EV_TENSOR || v->t.dtype != EMBER_DTYPE_F32 || v->t.ndim != rank[i])) return NULL;
    }
    const ember_tensor *w = &x->vals[n->in[1]].t;
    return w->data || eg_exec_deferred(x, n->in[1]) ? w : NULL;
}

/* The Conv step after Conv step s that is the only reader of s's output, as its input 0, neither step
 * chained: returns that output value, the step in *t and its weights in *wb; -1 when there is none.
 * readers / reader: count_readers's arrays. */
static int conv_reader(const eg_exec *x, int s, const int *readers, const int *reader, int *t,
                       const ember_tensor **wb) {
    const eg_node *a = &x->g->nodes[x->steps[s]];
    int v = x->step_out0[s] >= 0 ? x->step_out0[s] : a->out[0];
    if (x->chain[s] != -1 || v < 0 || readers[v] != 1 || x->g->values[v].is_output ||
        x->vals[v].kind != EV_TENSOR)
        return -1;
    *t = reader[v];
    if (*t <= s || !(*wb = conv_step(x, *t)) || x->g->nodes[x->steps[*t]].in[0] != v || x->chain[*t] != -1)
        return -1;
    return v;
}

/* A 1x1 Conv (ungrouped, no residual) whose output only a depthwise Conv (multiplier 1, no residual) reads
 * is run by that Conv, band by band (ember_conv2d_chain): the 1x1's output — often the widest tensor of an
 * inverted-residual block — is never written. The depthwise step takes the 1x1's input as its extra input,
 * so the memory plan keeps it alive until then. readers / reader: count_readers's arrays, recounted here
 * (the fusion before has absorbed steps). */
static void chain_convs(eg_exec *x, int *readers, int *reader) {
    const eg_graph *g = x->g;
    count_readers(x, readers, reader);
    for (int s = 0; s < x->nsteps; s++) {
        const ember_tensor *wa = conv_step(x, s), *wb;
        const eg_node *a = &g->nodes[x->steps[s]];
        int t, v;
        if (!wa || wa->shape[2] != 1 || wa->shape[3] != 1 || attr_i(a, "group", 1) != 1 ||
            (x->has_fuse[s] && x->fuse[s].residual >= 0) ||
            (v = conv_reader(x, s, readers, reader, &t, &wb)) < 0)
            continue;
        const ember_tensor *in = &x->vals[a->in[0]].t, *mid = &x->vals[v].t;
        const eg_node *b = &g->nodes[x->steps[t]];
        if (mid->ndim != 4 || mid->shape[2] != in->shape[2] || mid->shape[3] != in->shape[3] ||
            !(x->chain_all || ember_conv2d_chain_pays(mid->shape[1], mid->shape[2], mid->shape[3])) ||
            x->step_extra[t] >= 0 || attr_i(b, "group", 1) != mid->shape[1] ||
            wb->shape[0] != mid->shape[1] || wb->shape[1] != 1)
            continue;
        x->chain[t] = s;
        x->chain[s] = -2;
        x->step_extra[t] = a->in[0];
    }
}

/* --- the panel layout between a Conv and the 1x1 Conv after it ----------------------------------------- */

/* A depthwise Conv, or a 1x1 Conv (not pooled), whose output only a 1x1 Conv reads (same plane, not chained:
 * chained ones read NCHW rows) writes that output in the panel layout (kernels.h) the 1x1's GEMM reads as its
 * packed operand, where ember_conv2d_panel_nr says it pays. Each x->panel[v] set here sizes v for the memory
 * plan and tells both steps (eo_ctx). Not in the reference mode, whose Conv reads NCHW. */
static void panel_convs(eg_exec *x, int *readers, int *reader) {
    const eg_graph *g = x->g;
    if (eo_reference()) return;
    count_readers(x, readers, reader);
    for (int s = 0; s < x->nsteps; s++) {
        const ember_tensor *wa = conv_step(x, s), *wb;
        const eg_node *a = &g->nodes[x->steps[s]];
        int t, v;
        if (!wa || (x->has_fuse[s] && x->fuse[s].maxpool) ||
            (v = conv_reader(x, s, readers, reader, &t, &wb)) < 0)
            continue;
        const ember_tensor *in = &x->vals[a->in[0]].t, *mid = &x->vals[v].t; /* in: 4-D f32 (conv_step) */
        const eg_node *b = &g->nodes[x->steps[t]];
        if (mid->ndim != 4 || attr_i(b, "group", 1) != 1 || wb->shape[1] != mid->shape[1] ||
            wb->shape[2] != 1 || wb->shape[3] != 1)
            continue;
        int o = x->step_out0[t] >= 0 ? x->step_out0[t] : b->out[0];
        const ember_tensor *out = o >= 0 && x->vals[o].kind == EV_TENSOR ? &x->vals[o].t : NULL;
        if (!out || out->ndim != 4 || out->shape[2] != mid->shape[2] || out->shape[3] != mid->shape[3] ||
            (x->has_fuse[t] && x->fuse[t].maxpool))
            continue;
        const eg_attr *st = eg_attr_find(a, "strides");
        int64_t stride = st && st->type == EG_ATTR_INTS && st->n == 2 ? st->ints[1] : 1;
        ember_conv2d_shape as = {.batch = in->shape[0], .cin = in->shape[1], .cout = mid->shape[1]};
        as.h = in->shape[2], as.w = in->shape[3], as.oh = mid->shape[2], as.ow = mid->shape[3];
        as.kh = wa->shape[2], as.kw = wa->shape[3], as.stride_h = as.stride_w = stride,
        as.dil_h = as.dil_w = 1;
        as.groups = attr_i(a, "group", 1);
        int64_t pads[4]; /* the begin pads (auto_pad: left 0, as it only matters for the in-place kernels) */
        if (ints_or(a, "pads", 4, 0, pads)) as.pad_t = pads[0], as.pad_l = pads[1];
        ember_act_kind act = x->has_fuse[s] ? x->fuse[s].act.kind : EMBER_ACT_NONE;
        bool depthwise = as.groups == as.cin && as.groups > 1;
        if (depthwise && x->has_fuse[s] && x->fuse[s].residual >= 0)
            continue; /* the depthwise kernels' rows */
        x->panel[v] =
            ember_conv2d_panel_nr(&as, act == EMBER_ACT_PRELU || act == EMBER_ACT_LEAKY_RELU, wb->shape[0]);
    }
}

ember_status eg_fuse_steps(eg_exec *x, int *absorbed) {
    const eg_graph *g = x->g;
    *absorbed = 0;
    if (!x->nsteps) return EMBER_OK;
    fctx f = {x, g, NULL, NULL, NULL, NULL, NULL, NULL};
    f.readers = ember_calloc((size_t)g->nvalues + 1, sizeof(int));
    f.reader_step = ember_calloc((size_t)g->nvalues + 1, sizeof(int));
    f.stepof = ember_malloc(sizeof(int) * (size_t)g->nnodes);
    f.removed = ember_calloc((size_t)x->nsteps, sizeof(bool));
    ember_status st = EMBER_OK;
    if (!f.readers || !f.reader_step || !f.stepof || !f.removed) {
        st = ember_fail(EMBER_ERR_NOMEM, "out of memory in the graph passes");
        goto done;
    }
    for (int i = 0; i < g->nnodes; i++) f.stepof[i] = -1;
    for (int s = 0; s < x->nsteps; s++) f.stepof[x->steps[s]] = s;
    count_readers(x, f.readers, f.reader_step);
    f.rd_start = ember_calloc((size_t)g->nvalues + 2, sizeof(int));
    int total = 0;
    if (!f.rd_start) {
        st = ember_fail(EMBER_ERR_NOMEM, "out of memory in the graph passes");
        goto done;
    }
    for (int v = 0; v < g->nvalues; v++) f.rd_start[v] = total, total += f.readers[v];
    f.rd_start[g->nvalues] = total;
    f.rd_list = ember_malloc(sizeof(int) * (size_t)(total + 1));
    int *fill = ember_calloc((size_t)g->nvalues + 1, sizeof(int));
    if (!f.rd_list || !fill) {
        ember_free(fill);
        st = ember_fail(EMBER_ERR_NOMEM, "out of memory in the graph passes");
        goto done;
    }
    for (int s = 0; s < x->nsteps; s++) {
        const eg_node *n = &g->nodes[x->steps[s]];
        for (int i = 0; i < eg_node_ninputs(n); i++) {
            int v = eg_node_input(n, i);
            if (v >= 0) f.rd_list[f.rd_start[v] + fill[v]++] = s;
        }
    }
    ember_free(fill);
    for (int s = 0; s < x->nsteps && !st; s++)
        if (!f.removed[s]) st = fuse_from(&f, s);
    if (st) goto done;
    int k = 0;
    for (int s = 0; s < x->nsteps; s++) {
        if (f.removed[s]) continue;
        if (k != s) {
            x->steps[k] = x->steps[s];
            x->dynamic[k] = x->dynamic[s];
            x->step_out0[k] = x->step_out0[s];
            x->step_extra[k] = x->step_extra[s];
            x->fuse[k] = x->fuse[s];
            x->has_fuse[k] = x->has_fuse[s];
            x->fuse_mem[k] = x->fuse_mem[s];
            x->fuse_mem[s] = NULL;
            x->synth[k] = x->synth[s];
            x->synth[s] = NULL;
        }
        k++;
    }
    for (int s = k; s < x->nsteps; s++) {
        x->step_out0[s] = x->step_extra[s] = -1;
        x->has_fuse[s] = false;
        x->fuse[s] = (eo_fuse){.residual = -1};
    }
    *absorbed = x->nsteps - k;
    x->nsteps = k;
    chain_convs(x, f.readers, f.reader_step);
    panel_convs(x, f.readers, f.reader_step);
done:
    ember_free(f.readers);
    ember_free(f.reader_step);
    ember_free(f.stepof);
    ember_free(f.removed);
    ember_free(f.rd_start);
    ember_free(f.rd_list);
    return st;
}
