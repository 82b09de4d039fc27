/* The ONNX fast path against its reference: graphs run with the graph passes and the kernels' fast ops must
 * match the same graphs run node by node on the ops' scalar reference paths — on random small
 * Conv/BatchNormalization/activation/Add and MatMul/Add graphs, on the bench models, and, for the face
 * models, against the golden outputs in ../shared/data/golden. */
#include "check.h"
#include "graph/exec.h"
#include "kernels/eltwise.h"
#include "ops/op.h"

#include <stdint.h>
#include <unistd.h>

static uint64_t rng = 0x9e3779b97f4a7c15ull;
static uint32_t rnd(void) {
    rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
    return (uint32_t)(rng >> 16);
}
static float frand(float lo, float hi) { return lo + (hi - lo) * (float)(rnd() % 1000000) / 1e6f; }

/* Largest |a - b| over n floats, relative to the largest |b| (the tensor's scale) but at least 1e-3: a
 * tensor of only tiny values (GELU far in its negative tail, where 1 + erf(x) cancels) is compared
 * absolutely. NaN anywhere fails. */
static double max_rel(const float *a, const float *b, int64_t n) {
    double m = 0, scale = 1e-3;
    for (int64_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - b[i]);
        if (!(d <= m)) m = d; /* NaN wins */
        if (fabs((double)b[i]) > scale) scale = fabs((double)b[i]);
    }
    return scale > 0 ? m / scale : m;
}

/* When set, fused runs keep constant MatMul/Gemm weights as IEEE half (the --f16 option) and comparisons
 * allow for the weights' rounding. */
static bool f16_weights;
static double random_tol = 1e-4;

/* Random graphs chain their small 1x1 -> depthwise pairs too (eg_exec_set_chain_all); steps chained so far. */
static bool chain_all;
static int chained;

/* Run graph g on the inputs; fused = graph passes + fast ops (+ reference ops when ref_ops: the fused work
 * then goes through eo_fuse_apply), else node by node on the reference ops. */
static ember_status run_graph_ops(const eg_graph *g, bool fused, bool ref_ops, int threads, ev *const *in, ev *out,
                                  int *nfused) {
    ember_pool *pool = NULL;
    if (threads > 1 && ember_pool_create(threads, &pool)) return EMBER_ERR_NOMEM;
    eo_set_reference(!fused || ref_ops);
    eg_exec *x = NULL;
    ember_status s = eg_exec_create(g, NULL, pool, &x);
    if (!s) {
        eg_exec_set_fusion(x, fused);
        eg_exec_set_f16_weights(x, fused && f16_weights);
        eg_exec_set_chain_all(x, chain_all);
        s = eg_exec_run(x, in, out);
        if (!s && fused) s = eg_exec_run(x, in, out + g->noutputs); /* second run: reuses pre-packed weights */
        eg_plan_stats st;
        eg_exec_stats(x, &st);
        if (nfused) *nfused = st.fused;
        chained += st.chained;
    }
    eg_exec_destroy(x);
    ember_pool_destroy(pool);
    eo_set_reference(false);
    return s;
}

/* Not under an emulator ($EMBER_TEST_RUNNER non-empty) or a sanitizer build (EMBER_SANITIZE): there the
 * random graphs shrink and only the smallest real model runs. */
static ember_status run_graph(const eg_graph *g, bool fused, int threads, ev *const *in, ev *out, int *nfused) {
    return run_graph_ops(g, fused, false, threads, in, out, nfused);
}

static bool heavy_ok(void) {
    return !check_slow();
}

/* --- random small graphs built in memory ---------------------------------------------------------------- */
enum { MAXV = 40, MAXN = 16 };
typedef struct gbuild {
    eg_graph g;
    eg_value values[MAXV];
    eg_node nodes[MAXN];
    int ins[MAXN][6], outs[MAXN][1];
    eg_attr attrs[MAXN][6];
    int64_t ints[MAXN][6][4];
    ember_tensor inits[MAXV];
    float *data[MAXV];
    unsigned char *raw[MAXV]; /* defer_inits: the initializer's bytes, one byte past an aligned address */
    int gin[2], gout[1];
} gbuild;

/* The model deferred initializers belong to (eg_init_materialize takes its lock; it maps no file). */
static eg_model builder_model = {.init_lock = PTHREAD_MUTEX_INITIALIZER};

/* Leaves every initializer of b without data, its bytes misaligned as in a file (eg_value.init_raw): the
 * executor copies those that steps read and packs weights from a transient copy. */
static void defer_inits(gbuild *b) {
    b->g.model = &builder_model;
    for (int v = 0; v < b->g.nvalues; v++) {
        ember_tensor *t = b->values[v].init;
        if (!t) continue;
        b->raw[v] = malloc(t->nbytes + 1);
        memcpy(b->raw[v] + 1, t->data, t->nbytes);
        b->values[v].init_raw = b->raw[v] + 1;
        t->data = NULL;
    }
}

/* Initializers of b still deferred (never copied). */
static int count_deferred(const gbuild *b) {
    int n = 0;
    for (int v = 0; v < b->g.nvalues; v++) n += b->values[v].init_raw && !b->values[v].init->data;
    return n;
}

static int add_value(gbuild *b, const char *name) {
    int v = b->g.nvalues++;
    b->values[v] = (eg_value){.name = name, .producer = -1, .outer = -1};
    return v;
}

static int add_init(gbuild *b, int ndim, const int64_t *shape, float lo, float hi) {
    int v = add_value(b, "w");
    ember_tensor *t = &b->inits[v];
    *t = (ember_tensor){.dtype = EMBER_DTYPE_F32, .ndim = ndim};
    memcpy(t->shape, shape, sizeof(int64_t) * (size_t)ndim);
    int64_t n = ember_tensor_count(t);
    b->data[v] = malloc(sizeof(float) * (size_t)(n ? n : 1));
    for (int64_t i = 0; i < n; i++) b->data[v][i] = frand(lo, hi);
    t->data = b->data[v];
    t->nbytes = sizeof(float) * (size_t)n;
    b->values[v].init = t;
    return v;
}

static eg_node *add_node(gbuild *b, const char *op, int nin, const int *in) {
    int k = b->g.nnodes++;
    eg_node *n = &b->nodes[k];
    *n = (eg_node){.name = op, .op_type = op, .domain = "", .opset = 17, .nin = nin, .nout = 1};
    memcpy(b->ins[k], in, sizeof(int) * (size_t)nin);
    n->in = b->ins[k];
    n->out = b->outs[k];
    n->attr = b->attrs[k];
    n->out[0] = add_value(b, op);
    b->values[n->out[0]].producer = k;
    n->op = eo_find("", op, 17);
    return n;
}

static void attr_ints(gbuild *b, eg_node *n, const char *name, int cnt, const int64_t *v) {
    int k = (int)(n - b->nodes), a = n->nattr++;
    memcpy(b->ints[k][a], v, sizeof(int64_t) * (size_t)cnt);
    n->attr[a] = (eg_attr){.name = name, .type = cnt ? EG_ATTR_INTS : EG_ATTR_INT, .n = cnt, .ints = b->ints[k][a]};
    if (!cnt) n->attr[a].i = v[0];
}

static void attr_float(eg_node *n, const char *name, float f) {
    n->attr[n->nattr++] = (eg_attr){.name = name, .type = EG_ATTR_FLOAT, .f = f};
}

static void free_build(gbuild *b) {
    for (int v = 0; v < MAXV; v++) {
        free(b->data[v]);
        free(b->raw[v]);
        if (b->inits[v].flags & EMBER_TENSOR_OWNS_DATA) ember_free_aligned(b->inits[v].data); /* materialized */
    }
}

static const char *const acts[] = {"Relu", "Clip", "LeakyRelu", "Sigmoid", "HardSwish", "HardSigmoid", "Tanh"};

/* Append an activation (or nothing, or SiLU written out: x * Sigmoid(x)) after value v; returns the new value. */
static int maybe_act(gbuild *b, int v) {
    int a = (int)(rnd() % 10);
    if (a == 9) {
        int s = add_node(b, "Sigmoid", 1, &v)->out[0], m[2] = {v, s};
        if (rnd() % 2) m[0] = s, m[1] = v;
        return add_node(b, "Mul", 2, m)->out[0];
    }
    if (a >= 7) return v;
    int in[3] = {v, -1, -1};
    int nin = 1;
    if (a == 1) { /* Clip(0, 6) or Clip(-1, 1) */
        int64_t one = 1;
        in[1] = add_init(b, 0, &one, 0, 0);
        in[2] = add_init(b, 0, &one, 0, 0);
        bool six = rnd() % 2;
        b->data[in[1]][0] = six ? 0.0f : -1.0f;
        b->data[in[2]][0] = six ? 6.0f : 1.0f;
        nin = 3;
    }
    eg_node *n = add_node(b, acts[a], nin, in);
    if (a == 2) attr_float(n, "alpha", 0.1f);
    return n->out[0];
}

/* Append Conv(v) with a random [cout, cin/groups, k, k] weight, maybe a bias; returns the node. */
static eg_node *add_conv(gbuild *b, int v, int64_t cin, int64_t cout, int64_t k, int64_t stride, int64_t pad,
                         int64_t groups) {
    int64_t ws[4] = {cout, cin / groups, k, k}, bs[1] = {cout};
    int wv = add_init(b, 4, ws, -1, 1), bv = rnd() % 4 ? add_init(b, 1, bs, -1, 1) : -1;
    int cin3[3] = {v, wv, bv};
    eg_node *conv = add_node(b, "Conv", bv >= 0 ? 3 : 2, cin3);
    int64_t kk[2] = {k, k}, st[2] = {stride, stride}, pads[4] = {pad, pad, pad, pad};
    attr_ints(b, conv, "kernel_shape", 2, kk);
    attr_ints(b, conv, "strides", 2, st);
    attr_ints(b, conv, "pads", 4, pads);
    attr_ints(b, conv, "group", 0, &groups);
    return conv;
}

/* Append a BatchNormalization over `channels` after v, half the time; returns the new value. */
static int maybe_bn(gbuild *b, int v, int64_t channels) {
    if (rnd() % 2) return v;
    int64_t bs[1] = {channels};
    int bn[5] = {v, add_init(b, 1, bs, 0.5f, 1.5f), add_init(b, 1, bs, -1, 1), add_init(b, 1, bs, -1, 1),
                 add_init(b, 1, bs, 0.1f, 2)};
    eg_node *n = add_node(b, "BatchNormalization", 5, bn);
    attr_float(n, "epsilon", 1e-3f);
    return n->out[0];
}

/* X -> Conv -> [BatchNormalization] -> [Add residual] -> [act] (or the act before the Add). A depthwise Conv
 * with one output per channel is half the time fed by a 1x1 Conv [+ BatchNormalization] [+ act] (the
 * executor then chains the two). */
static void build_conv_graph(gbuild *b, int64_t *xshape) {
    memset(b, 0, sizeof *b);
    b->g = (eg_graph){.name = "random", .values = b->values, .nodes = b->nodes, .inputs = b->gin, .outputs = b->gout};
    int64_t groups = rnd() % 3 == 0 ? 0 : 1, cin = 1 + rnd() % 8, h = 3 + rnd() % 9, w = 3 + rnd() % 9;
    int64_t k = 1 + rnd() % 3, stride = 1 + rnd() % 2, pad = rnd() % 2 ? k / 2 : 0, cout;
    bool stem = groups && rnd() % 4 == 0; /* SqueezeNet, ShuffleNet: few taps over wide rows, then MaxPool */
    if (!groups) { /* depthwise */
        groups = cin;
        cout = cin * (1 + rnd() % 2);
    } else if (stem) { /* the direct kernel's sizes (cin k k <= 32, cout <= 64, 16+ columns), and past them */
        cin = 1 + rnd() % 3, k = 2 + rnd() % 2, w = 16 + rnd() % 48, cout = 1 + rnd() % 70;
    } else {
        cout = k == 1 && rnd() % 4 == 0 ? 65 + rnd() % 8 : 1 + rnd() % 12; /* 65+: a 1x1 on the GEMM */
    }
    int64_t oh = (h + 2 * pad - k) / stride + 1, ow = (w + 2 * pad - k) / stride + 1;
    int64_t cin0 = groups == cin && cout == cin && rnd() % 2 ? 1 + rnd() % 24 : 0; /* a 1x1 before */
    xshape[0] = 1 + rnd() % 2, xshape[1] = cin0 ? cin0 : cin, xshape[2] = h, xshape[3] = w;
    int x = add_value(b, "x");
    b->values[x].is_input = true;
    b->gin[b->g.ninputs++] = x;
    if (cin0) x = maybe_act(b, maybe_bn(b, add_conv(b, x, cin0, cin, 1, 1, 0, 1)->out[0], cin));
    int cur = maybe_bn(b, add_conv(b, x, cin, cout, k, stride, pad, groups)->out[0], cout);
    bool act_first = rnd() % 3 == 0;
    if (act_first) cur = maybe_act(b, cur);
    if (rnd() % 2) { /* residual: a constant of the output's shape, on either side of the Add */
        int64_t rs[4] = {xshape[0], cout, oh, ow};
        int r = add_init(b, 4, rs, -1, 1), in[2] = {cur, r};
        if (rnd() % 2) in[0] = r, in[1] = cur;
        cur = add_node(b, "Add", 2, in)->out[0];
    }
    if (!act_first) cur = maybe_act(b, cur);
    bool plain = groups == 1 && k == 1 && stride == 1 && !pad;
    if (((groups == cin && cout == cin) || plain) &&
        rnd() % 3 == 0) { /* MobileNet: depthwise or 1x1, then 1x1 */
        int64_t c1 = rnd() % 2 ? 1 + rnd() % 12 : 65 + rnd() % 16;
        cur = maybe_act(b, add_conv(b, cur, cout, c1, 1, 1, 0, 1)->out[0]);
        cout = c1;
    } else if (groups == cin && groups > 1 && oh >= 2 && ow >= 2 &&
               rnd() % 3 == 0) { /* YuNet: depthwise -> MaxPool 2x2 */
        int64_t two[2] = {2, 2}, zeros[4] = {0, 0, 0, 0};
        eg_node *mp = add_node(b, "MaxPool", 1, &cur);
        attr_ints(b, mp, "kernel_shape", 2, two);
        attr_ints(b, mp, "strides", 2, two);
        if (rnd() % 2) attr_ints(b, mp, "pads", 4, zeros);
        cur = mp->out[0];
    } else if (stem && rnd() % 4) { /* any MaxPool: padded, dilated, ceil mode */
        int64_t pk[2] = {1 + rnd() % 3, 1 + rnd() % 3}, ps[2] = {1 + rnd() % 3, 1 + rnd() % 3};
        int64_t dl[2] = {1 + rnd() % 2, 1 + rnd() % 2}, ceil = rnd() % 2;
        int64_t pd[4] = {rnd() % pk[0], rnd() % pk[1], rnd() % pk[0], rnd() % pk[1]};
        if (oh + pd[0] + pd[2] >= (pk[0] - 1) * dl[0] + 1 && ow + pd[1] + pd[3] >= (pk[1] - 1) * dl[1] + 1) {
            eg_node *mp = add_node(b, "MaxPool", 1, &cur);
            attr_ints(b, mp, "kernel_shape", 2, pk);
            attr_ints(b, mp, "strides", 2, ps);
            attr_ints(b, mp, "pads", 4, pd);
            attr_ints(b, mp, "dilations", 2, dl);
            attr_ints(b, mp, "ceil_mode", 0, &ceil);
            cur = mp->out[0];
        }
    }
    b->values[cur].is_output = true;
    b->gout[b->g.noutputs++] = cur;
}

static int const_scalar(gbuild *b, float v) {
    int64_t one = 1;
    int c = add_init(b, 0, &one, 0, 0);
    b->data[c][0] = v;
    return c;
}

/* GELU written out as exporters do: x / sqrt(2) (or x * 0.7071), Erf, + 1, * x, * 0.5 (in either order). */
static int add_gelu(gbuild *b, int x) {
    bool div = rnd() % 2, half_first = rnd() % 2;
    int in[2] = {x, const_scalar(b, div ? 1.4142135f : 0.70710677f)};
    int v = add_node(b, div ? "Div" : "Mul", 2, in)->out[0];
    v = add_node(b, "Erf", 1, &v)->out[0];
    int a[2] = {const_scalar(b, 1.0f), v};
    v = add_node(b, "Add", 2, a)->out[0];
    if (half_first) {
        int h[2] = {x, const_scalar(b, 0.5f)};
        int hv = add_node(b, "Mul", 2, h)->out[0], m[2] = {hv, v};
        return add_node(b, "Mul", 2, m)->out[0];
    }
    int m[2] = {v, x};
    int mv = add_node(b, "Mul", 2, m)->out[0], h[2] = {const_scalar(b, 0.5f), mv};
    return add_node(b, "Mul", 2, h)->out[0];
}

/* X [B, M, K] -> MatMul W [K, N] -> [Add bias [N]] -> [act]. */
static void build_matmul_graph(gbuild *b, int64_t *xshape) {
    memset(b, 0, sizeof *b);
    b->g = (eg_graph){.name = "random", .values = b->values, .nodes = b->nodes, .inputs = b->gin, .outputs = b->gout};
    int64_t M = 1 + rnd() % 20, K = 1 + rnd() % 40, N = 1 + rnd() % 40;
    bool twice =
        rnd() % 3 == 0; /* a second MatMul by the same weight (planned on two threads, in parallel) */
    if (twice) N = K;
    xshape[0] = 1 + rnd() % 3, xshape[1] = M, xshape[2] = K;
    int x = add_value(b, "x");
    b->values[x].is_input = true;
    b->gin[b->g.ninputs++] = x;
    int64_t ws[2] = {K, N};
    int in[2] = {x, add_init(b, 2, ws, -1, 1)};
    int cur = add_node(b, "MatMul", 2, in)->out[0];
    if (twice) {
        int again[2] = {cur, in[1]};
        cur = add_node(b, "MatMul", 2, again)->out[0];
    }
    if (rnd() % 4 == 0) { /* attention-style scaling: / sqrt(d) or * constant */
        bool div = rnd() % 2;
        int sc[2] = {cur, const_scalar(b, div ? 5.656854f : 0.125f)};
        cur = add_node(b, div ? "Div" : "Mul", 2, sc)->out[0];
    }
    if (rnd() % 3) {
        int bin[2] = {cur, add_init(b, 1, &N, -1, 1)};
        cur = add_node(b, "Add", 2, bin)->out[0];
    }
    cur = rnd() % 3 ? maybe_act(b, cur) : add_gelu(b, cur);
    b->values[cur].is_output = true;
    b->gout[b->g.noutputs++] = cur;
}

/* X [B, M, N] -> LayerNormalization written out over the last axis (ReduceMean, Sub, Pow, ReduceMean, Add,
 * Sqrt, Div, [Mul gamma, [Add beta]]). */
static void build_layernorm_graph(gbuild *b, int64_t *xshape) {
    memset(b, 0, sizeof *b);
    b->g = (eg_graph){.name = "random", .values = b->values, .nodes = b->nodes, .inputs = b->gin, .outputs = b->gout};
    int64_t N = 1 + rnd() % 40, axes = -1;
    xshape[0] = 1 + rnd() % 2, xshape[1] = 1 + rnd() % 9, xshape[2] = N;
    int x = add_value(b, "x");
    b->values[x].is_input = true;
    b->gin[b->g.ninputs++] = x;
    eg_node *m = add_node(b, "ReduceMean", 1, &x);
    attr_ints(b, m, "axes", 1, &axes);
    int sub[2] = {x, m->out[0]};
    int d = add_node(b, "Sub", 2, sub)->out[0];
    int pw[2] = {d, const_scalar(b, 2.0f)};
    int p = add_node(b, "Pow", 2, pw)->out[0];
    eg_node *v = add_node(b, "ReduceMean", 1, &p);
    attr_ints(b, v, "axes", 1, &axes);
    int ad[2] = {v->out[0], const_scalar(b, 1e-5f)};
    int e = add_node(b, "Add", 2, ad)->out[0];
    int sq = add_node(b, "Sqrt", 1, &e)->out[0];
    int dv[2] = {d, sq};
    int cur = add_node(b, "Div", 2, dv)->out[0];
    if (rnd() % 3) {
        int ml[2] = {cur, add_init(b, 1, &N, 0.5f, 1.5f)};
        cur = add_node(b, "Mul", 2, ml)->out[0];
        if (rnd() % 2) {
            int bs[2] = {add_init(b, 1, &N, -1, 1), cur};
            cur = add_node(b, "Add", 2, bs)->out[0];
        }
    }
    b->values[cur].is_output = true;
    b->gout[b->g.noutputs++] = cur;
}

/* X [B, L, E] -> Q, K, V by MatMuls; MatMul(Q, Transpose(K)) [/ sqrt(d)] [+ mask of a broadcasting shape, on
 * either side] -> Softmax over the last axis -> MatMul(., V): the attention the graph pass fuses. */
static void build_attention_graph(gbuild *b, int64_t *xshape) {
    memset(b, 0, sizeof *b);
    b->g = (eg_graph){
        .name = "random", .values = b->values, .nodes = b->nodes, .inputs = b->gin, .outputs = b->gout};
    int64_t B = 1 + rnd() % 3, L = 1 + rnd() % 40, E = 1 + rnd() % 12, D = 1 + rnd() % 20,
            Dv = 1 + rnd() % 20;
    xshape[0] = B, xshape[1] = L, xshape[2] = E;
    int x = add_value(b, "x");
    b->values[x].is_input = true;
    b->gin[b->g.ninputs++] = x;
    int64_t wq[2] = {E, D}, wv[2] = {E, Dv}, perm[3] = {0, 2, 1};
    int qi[2] = {x, add_init(b, 2, wq, -1, 1)}, ki[2] = {x, add_init(b, 2, wq, -1, 1)},
        vi[2] = {x, add_init(b, 2, wv, -1, 1)};
    int q = add_node(b, "MatMul", 2, qi)->out[0], k = add_node(b, "MatMul", 2, ki)->out[0];
    eg_node *tr = add_node(b, "Transpose", 1, &k);
    attr_ints(b, tr, "perm", 3, perm);
    int v = add_node(b, "MatMul", 2, vi)->out[0], si[2] = {q, tr->out[0]};
    int cur = add_node(b, "MatMul", 2, si)->out[0];
    if (rnd() % 2) {
        int sc[2] = {cur, const_scalar(b, sqrtf((float)D))};
        cur = add_node(b, "Div", 2, sc)->out[0];
    }
    int mk = (int)(rnd() % 6); /* none, [L], [1, L], [B, 1, L], [L, L], [B, L, L] */
    if (mk) {
        int64_t ms[3][3] = {{L}, {1, L}, {B, 1, L}}, full[2][3] = {{L, L}, {B, L, L}};
        const int64_t *shape = mk <= 3 ? ms[mk - 1] : full[mk - 4];
        int nd = mk <= 3 ? mk : mk - 2, m = add_init(b, nd, shape, -3, 1), ai[2] = {cur, m};
        if (rnd() % 2) ai[0] = m, ai[1] = cur;
        cur = add_node(b, "Add", 2, ai)->out[0];
    }
    eg_node *sm = add_node(b, "Softmax", 1, &cur);
    if (rnd() % 2) {
        int64_t two = 2;
        attr_ints(b, sm, "axis", 0, &two);
    }
    int oi[2] = {sm->out[0], v};
    cur = add_node(b, "MatMul", 2, oi)->out[0];
    b->values[cur].is_output = true;
    b->gout[b->g.noutputs++] = cur;
}

static void check_random(int kind, int count) {
    int bad = 0, fused_total = 0, kept_deferred = 0;
    for (int it = 0; it < count; it++) {
        gbuild *b = calloc(1, sizeof *b);
        int64_t xs[4];
        bool conv = kind == 0;
        if (kind == 0) build_conv_graph(b, xs);
        else if (kind == 1) build_matmul_graph(b, xs);
        else if (kind == 2)
            build_layernorm_graph(b, xs);
        else
            build_attention_graph(b, xs);
        ev xin = {0};
        CHECK(ev_alloc_tensor(&xin, EMBER_DTYPE_F32, conv ? 4 : 3, xs) == EMBER_OK);
        float *xd = xin.t.data;
        for (int64_t i = 0; i < ember_tensor_count(&xin.t); i++) xd[i] = frand(-2, 2);
        ev *ins[1] = {&xin}, ref[1] = {{0}}, got[2] = {{0}, {0}};
        int nf = 0;
        if (it % 2 == 0) defer_inits(b);
        /* fused first: with deferred initializers it is the run that packs weights without copying them;
         * 1 or 2 threads with and without deferred initializers (the plan prepares steps on the threads) */
        ember_status s2 = it % 4 == 3 ? run_graph_ops(&b->g, true, true, 1, ins, got, &nf) /* eo_fuse_apply */
                                      : run_graph(&b->g, true, 1 + (it + it / 2) % 2, ins, got, &nf);
        kept_deferred += count_deferred(b);
        ember_status s1 = run_graph(&b->g, false, 1, ins, ref, NULL);
        CHECK_EQ(count_deferred(b), 0); /* the reference ops read every weight: all were copied */
        CHECK_MSG(!s1 && !s2, "%s / %s", ember_status_str(s1), ember_last_error());
        if (!s1 && !s2) {
            int64_t n = ember_tensor_count(&ref[0].t);
            double d0 = max_rel(got[0].t.data, ref[0].t.data, n), d1 = max_rel(got[1].t.data, ref[0].t.data, n);
            if (!(d0 <= random_tol && d1 <= random_tol)) {
                printf("  graph %d (%s, %d nodes, %d fused): max relative difference %g / %g\n", it,
                       kind == 0   ? "conv"
                       : kind == 1 ? "matmul"
                       : kind == 2 ? "layernorm"
                                   : "attention",
                       b->g.nnodes, nf, d0, d1);
                bad++;
            }
        }
        if (kind == 3)
            CHECK_MSG(nf >= 2, "attention graph %d: %d steps absorbed", it, nf); /* scores, Softmax */
        fused_total += nf;
        ev_clear(&xin), ev_clear(&ref[0]), ev_clear(&got[0]), ev_clear(&got[1]);
        free_build(b);
        free(b);
    }
    CHECK_EQ(bad, 0);
    CHECK(fused_total > count / 3); /* the passes did fuse something */
    if (kind < 2) CHECK(kept_deferred > 0); /* packed Conv / MatMul weights were never copied */
}

/* A deferred table read only by Gather stays in the file: its rows are copied from the misaligned bytes,
 * exactly, on the fast and the reference ops. A table another node reads too (the weights of a MatMul,
 * or an Add) gets its aligned copy. */
static void test_gather_table_in_place(void) {
    for (int other = 0; other < 3; other++) {
        gbuild *b = calloc(1, sizeof *b);
        b->g = (eg_graph){.name = "gather", .values = b->values, .nodes = b->nodes, .inputs = b->gin, .outputs = b->gout};
        int64_t ts[2] = {40, 40}, nidx = 5, ids[5] = {39, 0, -1, 17, 17};
        int tab = add_init(b, 2, ts, -1, 1), idx = add_value(b, "ids");
        b->values[idx].is_input = true;
        b->gin[b->g.ninputs++] = idx;
        int gin[2] = {tab, idx};
        if (other == 2) gin[0] = add_node(b, "Add", 2, (int[]){tab, tab})->out[0]; /* rows of 2 * table */
        int out = add_node(b, "Gather", 2, gin)->out[0];
        if (other == 1) out = add_node(b, "MatMul", 2, (int[]){out, tab})->out[0]; /* the table as weights too */
        b->values[out].is_output = true;
        b->gout[b->g.noutputs++] = out;
        float *table = malloc(sizeof(float) * 40 * 40);
        memcpy(table, b->data[tab], sizeof(float) * 40 * 40);
        defer_inits(b);
        ev xin = {0}, ref[1] = {{0}}, got[2] = {{0}, {0}};
        CHECK(ev_alloc_tensor(&xin, EMBER_DTYPE_I64, 1, &nidx) == EMBER_OK);
        memcpy(xin.t.data, ids, sizeof ids);
        ev *ins[1] = {&xin};
        CHECK(run_graph(&b->g, true, 1, ins, got, NULL) == EMBER_OK);
        CHECK(run_graph(&b->g, false, 1, ins, ref, NULL) == EMBER_OK);
        CHECK_EQ(count_deferred(b), other == 0); /* never copied, or copied because another node reads it */
        if (ref[0].t.data && got[0].t.data && got[1].t.data) {
            int64_t n = ember_tensor_count(&ref[0].t);
            CHECK_EQ(n, 5 * 40);
            CHECK(max_rel(got[0].t.data, ref[0].t.data, n) <= random_tol);
            CHECK(max_rel(got[1].t.data, ref[0].t.data, n) <= random_tol);
            for (int i = 0; i < 5 && other != 1; i++) {
                int64_t row = ids[i] < 0 ? ids[i] + 40 : ids[i];
                for (int j = 0; j < 40; j++)
                    CHECK(((float *)ref[0].t.data)[i * 40 + j] == table[row * 40 + j] * (other == 2 ? 2.0f : 1.0f));
            }
        }
        free(table);
        ev_clear(&xin), ev_clear(&ref[0]), ev_clear(&got[0]), ev_clear(&got[1]);
        free_build(b);
        free(b);
    }
}

/* Reference ops switched on after a plan that packed deferred weights (left without data): the run copies
 * them first, and gives what the fused run gave. Returns whether the plan put a tensor in panels (both
 * reference Convs then use it as NCHW). */
static bool check_reference_after_plan(bool matmul) {
    gbuild *b = calloc(1, sizeof *b);
    int64_t xs[4];
    if (matmul)
        build_matmul_graph(b, xs);
    else
        build_conv_graph(b, xs);
    defer_inits(b);
    ev xin = {0}, got[2] = {{0}, {0}};
    CHECK(ev_alloc_tensor(&xin, EMBER_DTYPE_F32, matmul ? 3 : 4, xs) == EMBER_OK);
    for (int64_t i = 0; i < ember_tensor_count(&xin.t); i++) ((float *)xin.t.data)[i] = frand(-2, 2);
    ev *ins[1] = {&xin};
    eg_exec *x = NULL;
    eg_plan_stats st = {0};
    CHECK(eg_exec_create(&b->g, NULL, NULL, &x) == EMBER_OK);
    CHECK(x && eg_exec_run(x, ins, &got[0]) == EMBER_OK);
    if (x) eg_exec_stats(x, &st);
    CHECK(count_deferred(b) > 0);
    eo_set_reference(true);
    CHECK(x && eg_exec_run(x, ins, &got[1]) == EMBER_OK);
    eo_set_reference(false);
    CHECK_EQ(count_deferred(b), 0);
    if (got[0].t.data && got[1].t.data)
        CHECK(max_rel(got[1].t.data, got[0].t.data, ember_tensor_count(&got[0].t)) <= random_tol);
    eg_exec_destroy(x);
    ev_clear(&xin), ev_clear(&got[0]), ev_clear(&got[1]);
    free_build(b);
    free(b);
    return st.panels > 0;
}

static void test_reference_after_deferred_plan(void) {
    for (int it = 0; it < 6; it++) check_reference_after_plan(it % 2);
    bool seen = false; /* and conv graphs until one put a tensor in panels (a few in a hundred do) */
    for (int it = 0; it < 400 && !seen; it++) seen = check_reference_after_plan(false);
    CHECK_MSG(seen, "no random conv graph put a tensor in panels");
}

static void test_random_conv_graphs(void) {
    chain_all = true, chained = 0;
    check_random(0, heavy_ok() ? 300 : 40);
    chain_all = false;
    CHECK_MSG(chained > 0, "no 1x1 -> depthwise pair of the random graphs was chained");
}
static void test_random_matmul_graphs(void) { check_random(1, heavy_ok() ? 200 : 30); }
/* --f16: weights rounded to half (relative error 2^-11 each) keep outputs within ~1e-3 of f32. */
static void test_random_matmul_graphs_f16(void) {
    f16_weights = true, random_tol = 3e-3;
    check_random(1, heavy_ok() ? 100 : 15);
    f16_weights = false, random_tol = 1e-4;
}
static void test_random_layernorm_graphs(void) { check_random(2, heavy_ok() ? 100 : 20); }
static void test_random_attention_graphs(void) {
    check_random(3, heavy_ok() ? 100 : 20);
}

/* ember_maxpool2d_rows against its reference twin ember_maxpool2d on random geometries (odd sizes, rows up to
 * 70 wide for the vector blocks, padding, dilation, ceil-mode-like extra rows, big separable windows, NaN). */
static void test_maxpool_rows(void) {
    int bad = 0;
    for (int it = 0; it < 300; it++) {
        ember_pooling2d g = {.batch = 1 + rnd() % 2, .c = 1 + rnd() % 5, .h = 1 + rnd() % 17,
                             .w = 1 + rnd() % (it % 3 ? 17 : 70), .kh = 1 + rnd() % 5, .kw = 1 + rnd() % 5,
                             .stride_h = 1 + rnd() % 3,
                             .stride_w = 1 + rnd() % 3, .dil_h = 1 + rnd() % 2, .dil_w = 1 + rnd() % 2};
        g.pad_t = rnd() % g.kh, g.pad_l = rnd() % g.kw, g.pad_b = rnd() % g.kh, g.pad_r = rnd() % g.kw;
        int64_t eh = (g.kh - 1) * g.dil_h + 1, ew = (g.kw - 1) * g.dil_w + 1;
        int64_t sh = g.h + g.pad_t + g.pad_b - eh, sw = g.w + g.pad_l + g.pad_r - ew;
        if (sh < 0 || sw < 0) continue;
        bool ceil_mode = rnd() % 2;
        g.oh = (ceil_mode ? (sh + g.stride_h - 1) / g.stride_h : sh / g.stride_h) + 1;
        g.ow = (ceil_mode ? (sw + g.stride_w - 1) / g.stride_w : sw / g.stride_w) + 1;
        if (ceil_mode && (g.oh - 1) * g.stride_h >= g.h + g.pad_t) g.oh--;
        if (ceil_mode && (g.ow - 1) * g.stride_w >= g.w + g.pad_l) g.ow--;
        int64_t n = g.batch * g.c * g.h * g.w, m = g.batch * g.c * g.oh * g.ow;
        float *x = malloc(sizeof(float) * (size_t)n), *a = malloc(sizeof(float) * (size_t)m), *b = malloc(sizeof(float) * (size_t)m);
        for (int64_t i = 0; i < n; i++) x[i] = rnd() % 50 == 0 ? NAN : frand(-3, 3);
        ember_maxpool2d(NULL, &g, x, a);
        CHECK(ember_maxpool2d_rows(NULL, &g, x, b));
        for (int64_t i = 0; i < m; i++) bad += !(a[i] == b[i] || (isnan(a[i]) && isnan(b[i])));
        free(x), free(a), free(b);
    }
    CHECK_EQ(bad, 0);
}

/* --- real models ------------------------------------------------------------------------------------------ */
static float *read_f32(const char *rel, int64_t *count) {
    char path[512];
    if (!check_shared(rel, path, sizeof path)) return NULL;
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long sz = ftell(f);
    fseek(f, 0, SEEK_SET);
    float *d = malloc((size_t)sz);
    if (d && fread(d, 1, (size_t)sz, f) != (size_t)sz) free(d), d = NULL;
    fclose(f);
    *count = sz / 4;
    return d;
}

/* Load a model, make its one input (golden file, or seeded random of the given shape), run it fused and as
 * the reference, compare each output with the golden file (when given) and fused with reference. */
typedef struct model_case {
    const char *model, *input; /* input: golden file name or NULL (random) */
    int64_t shape[4];
    const char *golden[12]; /* per output, in graph output order (NULL: no golden) */
    double tol_golden;
    bool tokens; /* three int64 [1, 128] token inputs instead of one image */
    bool light;  /* small enough to run under a sanitizer too */
} model_case;

static void check_model(const model_case *mc) {
    char path[512], rel[256];
    snprintf(rel, sizeof rel, "models/%s", mc->model);
    SKIP_IF(!check_shared(rel, path, sizeof path), "../shared/models is absent");
    SKIP_IF(!heavy_ok() && !mc->light, "real models are too slow under an emulator or a sanitizer");
    eg_model *m = NULL;
    CHECK(eg_model_load(path, &m) == EMBER_OK);
    if (!m) return;
    const eg_graph *g = m->graph;
    ev xin = {0}, tok[3] = {{0}, {0}, {0}};
    int64_t n = 0;
    ev *ins[3] = {&xin, NULL, NULL}, ref[16] = {{0}}, got[32] = {{0}};
    if (mc->tokens) { /* BERT-style: input_ids, attention_mask, token_type_ids of shape [1, 128] */
        int64_t ts[2] = {1, 128};
        CHECK(g->ninputs == 3);
        for (int i = 0; i < 3 && i < g->ninputs; i++) {
            CHECK(ev_alloc_tensor(&tok[i], EMBER_DTYPE_I64, 2, ts) == EMBER_OK);
            for (int64_t k = 0; k < 128; k++) ((int64_t *)tok[i].t.data)[k] = i == 0 ? rnd() % 8000 : i == 1 ? 1 : 0;
            ins[i] = &tok[i];
        }
    } else {
    CHECK(ev_alloc_tensor(&xin, EMBER_DTYPE_F32, 4, mc->shape) == EMBER_OK);
    CHECK(g->ninputs == 1);
    if (mc->input) {
        snprintf(rel, sizeof rel, "data/golden/%s", mc->input);
        float *d = read_f32(rel, &n);
        CHECK(d && n == ember_tensor_count(&xin.t));
        if (d && n == ember_tensor_count(&xin.t)) memcpy(xin.t.data, d, sizeof(float) * (size_t)n);
        free(d);
    } else {
        for (int64_t i = 0; i < ember_tensor_count(&xin.t); i++) ((float *)xin.t.data)[i] = frand(0, 1);
    }
    }
    int nf = 0;
    CHECK(g->noutputs <= 16);
    ember_status s = run_graph(g, false, 1, ins, ref, NULL);
    CHECK_MSG(!s, "reference: %s", ember_last_error());
    if (!s) s = run_graph(g, true, 2, ins, got, &nf);
    CHECK_MSG(!s, "fused: %s", ember_last_error());
    for (int o = 0; o < g->noutputs && !s; o++) {
        int64_t cnt = ember_tensor_count(&ref[o].t);
        double d = max_rel(got[o].t.data, ref[o].t.data, cnt), d2 = max_rel(got[g->noutputs + o].t.data, ref[o].t.data, cnt);
        CHECK_MSG(d <= 2e-3 && d2 <= 2e-3, "%s output %d: fused vs reference %g / %g", mc->model, o, d, d2);
        if (!mc->golden[o]) continue;
        snprintf(rel, sizeof rel, "data/golden/%s", mc->golden[o]);
        float *want = read_f32(rel, &n);
        CHECK(want && n == cnt);
        if (want && n == cnt) {
            double dg = max_rel(got[o].t.data, want, cnt), dr = max_rel(ref[o].t.data, want, cnt);
            CHECK_MSG(dg <= mc->tol_golden && dr <= mc->tol_golden, "%s output %d vs golden: fused %g, reference %g",
                      mc->model, o, dg, dr);
        }
        free(want);
    }
    printf("  %s: %d nodes fused away\n", mc->model, nf);
    for (int o = 0; o < 16; o++) ev_clear(&ref[o]);
    for (int o = 0; o < 32; o++) ev_clear(&got[o]);
    ev_clear(&xin);
    for (int i = 0; i < 3; i++) ev_clear(&tok[i]);
    eg_model_free(m);
}

static void test_yunet(void) {
    model_case mc = {"face/yunet/yunet_s_320_320.onnx", "yunet320_input.f32", {1, 3, 320, 320},
                     {"yunet320_cls_8.f32", "yunet320_cls_16.f32", "yunet320_cls_32.f32", "yunet320_obj_8.f32",
                      "yunet320_obj_16.f32", "yunet320_obj_32.f32", "yunet320_bbox_8.f32", "yunet320_bbox_16.f32",
                      "yunet320_bbox_32.f32", "yunet320_kps_8.f32", "yunet320_kps_16.f32", "yunet320_kps_32.f32"},
                     1e-3, false, true};
    check_model(&mc);
}
static void test_ultraface(void) {
    model_case a = {"face/ultraface/version-RFB-320.onnx", "ultraface320_input.f32", {1, 3, 240, 320},
                    {"version-RFB-320_scores.f32", "version-RFB-320_boxes.f32"}, 1e-3, false, false};
    check_model(&a);
    model_case b = {"face/ultraface/version-RFB-320_simplified.onnx", "ultraface320_input.f32", {1, 3, 240, 320},
                    {"version-RFB-320_simplified_scores.f32", "version-RFB-320_simplified_boxes.f32"}, 1e-3, false, false};
    check_model(&b);
}
static void test_face_recognition(void) {
    model_case a = {"face/mobilefacenet/mobilefacenet.onnx", "face112_input.f32", {1, 3, 112, 112},
                    {"mobilefacenet_output.f32"}, 1e-3, false, false};
    check_model(&a);
    model_case b = {"face/faceplugin/fr_feature.onnx", "face112_input.f32", {1, 3, 112, 112},
                    {"faceplugin_fr_feature_output.f32"}, 1e-3, false, false};
    check_model(&b);
}
static void test_bench_models(void) {
    model_case a = {"bench/mobilenet_v2.onnx", NULL, {1, 3, 224, 224}, {NULL}, 0, false, false};
    check_model(&a);
    model_case b = {"bench/squeezenet1_1.onnx", NULL, {1, 3, 224, 224}, {NULL}, 0, false, false};
    check_model(&b);
    model_case c = {"bench/minilm_l6_h384_v8k.onnx", NULL, {0}, {NULL}, 0, true, false};
    check_model(&c);
}
static void test_minilm_f16(void) {
    f16_weights = true;
    model_case c = {"bench/minilm_l6_h384_v8k.onnx", NULL, {0}, {NULL}, 0, true, false};
    check_model(&c);
    f16_weights = false;
}

int main(void) {
    RUN(test_random_conv_graphs);
    RUN(test_reference_after_deferred_plan);
    RUN(test_gather_table_in_place);
    RUN(test_random_matmul_graphs);
    RUN(test_random_matmul_graphs_f16);
    RUN(test_random_layernorm_graphs);
    RUN(test_random_attention_graphs);
    RUN(test_maxpool_rows);
    RUN(test_yunet);
    RUN(test_ultraface);
    RUN(test_face_recognition);
    RUN(test_bench_models);
    RUN(test_minilm_f16);
    return check_done();
}
