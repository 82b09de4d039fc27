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

/* The activation node n computes, if the epilogue has it. */
static bool node_act(const fctx *f, const eg_node *n, ember_act *act) {
    const char *t = n->op_type;
    if (n->domain[0]) return false;
    if (!strcmp(t, "Relu")) *act = (ember_act){EMBER_ACT_RELU, 0, 0};
    else if (!strcmp(t, "Sigmoid")) *act = (ember_act){EMBER_ACT_SIGMOID, 0, 0};
    else if (!strcmp(t, "Tanh")) *act = (ember_act){EMBER_ACT_TANH, 0, 0};
    else if (!strcmp(t, "HardSwish")) *act = (ember_act){EMBER_ACT_HARD_SWISH, 0, 0};
    else if (!strcmp(t, "LeakyRelu")) *act = (ember_act){EMBER_ACT_LEAKY_RELU, attr_f(n, "alpha", 0.01f), 0};
    else if (!strcmp(t, "HardSigmoid"))
        *act = (ember_act){EMBER_ACT_HARD_SIGMOID, attr_f(n, "alpha", 0.2f), attr_f(n, "beta", 0.5f)};
    else if (!strcmp(t, "Clip")) {
        float lo = -FLT_MAX, hi = FLT_MAX;
        if (n->opset < 11) {
            lo = attr_f(n, "min", -FLT_MAX);
            hi = attr_f(n, "max", FLT_MAX);
        } else if (!const_scalar(f, n, 1, -FLT_MAX, &lo) || !const_scalar(f, n, 2, FLT_MAX, &hi)) {
            return false;
        }
        if (!(lo <= hi)) return false; /* ONNX: min > max gives max everywhere; leave it to the op */
        *act = (ember_act){EMBER_ACT_CLIP, lo, hi};
    } else if (!strcmp(t, "Gelu")) {
        const eg_attr *a = eg_attr_find(n, "approximate");
        bool tanh_approx = a && a->type == EG_ATTR_STRING && !strcmp(a->s, "tanh");
        *act = (ember_act){tanh_approx ? EMBER_ACT_GELU_TANH : EMBER_ACT_GELU_ERF, 0, 0};
    } else {
        return false;
    }
    return n->nout == 1;
}

/* Value v is ready before step s runs. */
static bool ready_before(const fctx *f, int v, int s) {
    if (f->x->is_const[v]) return true;
    int p = f->g->values[v].producer;
    if (p < 0) return true; /* graph input or captured value */
    int ps = f->stepof[p]; /* an absorbed step is computed by its absorber, an earlier step */
    return ps >= 0 && (ps < s || f->removed[ps]);
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

/* Absorb what follows step s. */
static ember_status fuse_from(fctx *f, int s) {
    eg_exec *x = f->x;
    const eg_graph *g = f->g;
    const eg_node *n = &g->nodes[x->steps[s]];
    if (x->dynamic[s] || n->domain[0] || n->nout < 1 || n->out[0] < 0) return EMBER_OK;
    bool conv = !strcmp(n->op_type, "Conv"), matmul = !strcmp(n->op_type, "MatMul");
    if (!conv && !matmul && strcmp(n->op_type, "Gemm")) return EMBER_OK;
    int cur = n->out[0];
    if (!is_f32(f, cur) || val(f, cur)->t.ndim < 1) return EMBER_OK;
    if (conv && (val(f, cur)->t.ndim < 3 || val(f, cur)->t.ndim > 4)) return EMBER_OK;
    const ember_tensor *ct = &val(f, cur)->t;
    int64_t channels = conv ? ct->shape[1] : ct->shape[ct->ndim - 1];
    eo_fuse *fu = &x->fuse[s];
    bool bn = false, bias = false, res = false, act = false;
    for (;;) {
        if (f->readers[cur] != 1 || g->values[cur].is_output) break;
        int cs = f->reader_step[cur];
        if (cs <= s || f->removed[cs] || x->dynamic[cs]) break;
        const eg_node *cn = &g->nodes[x->steps[cs]];
        if (cn->nout < 1 || cn->out[0] < 0 || cn->domain[0]) break;
        int nv = cn->out[0];
        if (!same_shape(f, cur, nv)) break;
        ember_act a;
        if (node_act(f, cn, &a) && cn->in[0] == cur && !act && !(res && fu->residual_after_act)) {
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
    return EMBER_OK;
}

ember_status eg_fuse_steps(eg_exec *x, int *absorbed) {
    const eg_graph *g = x->g;
    *absorbed = 0;
    if (!x->nsteps) return EMBER_OK;
    fctx f = {x, g, NULL, NULL, NULL, NULL};
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
    for (int s = 0; s < x->nsteps; s++) {
        const eg_node *n = &g->nodes[x->steps[s]];
        f.stepof[x->steps[s]] = s;
        for (int i = 0; i < eg_node_ninputs(n); i++) {
            int v = eg_node_input(n, i);
            if (v < 0) continue;
            f.readers[v]++;
            f.reader_step[v] = s;
        }
    }
    for (int o = 0; o < g->noutputs; o++) f.readers[g->outputs[o]]++;
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
done:
    ember_free(f.readers);
    ember_free(f.reader_step);
    ember_free(f.stepof);
    ember_free(f.removed);
    return st;
}
