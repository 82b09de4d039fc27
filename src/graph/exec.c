/* Graph planning (inference, folding, dead-node removal, memory plan) and the run loop. */
#include "graph/exec_impl.h"

#include "core/pagestore.h"

#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static void clear_steps(eg_exec *x);

static ember_status nomem(void) { return ember_fail(EMBER_ERR_NOMEM, "out of memory while planning"); }

/* Gives value v (a deferred initializer without data here) its copy, made once per model. */
static ember_status materialize(eg_exec *x, int v) {
    eg_value *val = &x->g->values[v];
    ember_status s = eg_init_materialize(x->g->model, val);
    x->vals[v].t.data = eg_init_data(x->g->model, val);
    return s;
}

/* Deferred initializers (eg_value.init_raw): one read only as the weights of Conv, MatMul or Gemm (input
 * 1), which their prepare packs, is left without data (prepare_steps packs it from a transient copy); one
 * read only as the table of Gather (input 0), which copies whole rows with memcpy, reads the file's bytes
 * where they lie, so that only the rows a run touches are resident; any other gets its copy now. */
enum { USE_PACK = 1, USE_ROWS = 2, USE_OTHER = 4 };

static ember_status borrow_deferred(eg_exec *x) {
    const eg_graph *g = x->g;
    unsigned char *use = ember_calloc((size_t)(g->nvalues ? g->nvalues : 1), sizeof *use);
    if (!use) return nomem();
    for (int i = 0; i < g->nnodes; i++) {
        const eg_node *n = &g->nodes[i];
        bool std = !n->domain[0];
        bool packs = std && (!strcmp(n->op_type, "Conv") || !strcmp(n->op_type, "MatMul") || !strcmp(n->op_type, "Gemm"));
        bool rows = std && !strcmp(n->op_type, "Gather");
        for (int k = 0; k < n->nimplicit; k++) use[n->implicit[k]] |= USE_OTHER;
        for (int k = 0; k < n->nin; k++)
            if (n->in[k] >= 0)
                use[n->in[k]] |= k == 1 && packs ? USE_PACK : k == 0 && rows ? USE_ROWS : USE_OTHER;
    }
    ember_status s = EMBER_OK;
    for (int v = 0; v < g->nvalues && !s; v++) {
        const eg_value *val = &g->values[v];
        if (!val->init_raw) continue;
        if ((use[v] & USE_OTHER) || use[v] == (USE_PACK | USE_ROWS) || val->is_input || val->is_output) {
            s = materialize(x, v);
            continue;
        }
        void *copy = eg_init_data(g->model, val); /* another executor may have copied it */
        x->vals[v].t.data = copy || use[v] != USE_ROWS ? copy : (void *)val->init_raw;
    }
    ember_free(use);
    return s;
}

ember_status eg_exec_create(const eg_graph *g, eg_exec *parent, ember_pool *pool, eg_exec **out) {
    *out = NULL;
    eg_exec *x = ember_calloc(1, sizeof *x);
    if (!x) return nomem();
    int n = g->nvalues ? g->nvalues : 1, nn = g->nnodes ? g->nnodes : 1;
    x->g = g;
    x->parent = parent;
    x->pool = pool;
    x->vals = ember_calloc((size_t)n, sizeof *x->vals);
    x->slot = ember_calloc((size_t)n, sizeof *x->slot);
    x->is_const = ember_calloc((size_t)n, sizeof *x->is_const);
    x->meta = ember_calloc((size_t)n, sizeof *x->meta);
    x->offset = ember_calloc((size_t)n, sizeof *x->offset);
    x->last_use = ember_calloc((size_t)n, sizeof *x->last_use);
    x->steps = ember_calloc((size_t)nn, sizeof *x->steps);
    x->dynamic = ember_calloc((size_t)nn, sizeof *x->dynamic);
    x->step_out0 = ember_calloc((size_t)nn, sizeof *x->step_out0);
    x->step_extra = ember_calloc((size_t)nn, sizeof *x->step_extra);
    x->fuse = ember_calloc((size_t)nn, sizeof *x->fuse);
    x->has_fuse = ember_calloc((size_t)nn, sizeof *x->has_fuse);
    x->fuse_mem = ember_calloc((size_t)nn, sizeof *x->fuse_mem);
    x->prep = ember_calloc((size_t)nn, sizeof *x->prep);
    x->synth = ember_calloc((size_t)nn, sizeof *x->synth);
    x->chain = ember_calloc((size_t)nn, sizeof *x->chain);
    x->panel = ember_calloc((size_t)n, sizeof *x->panel);
    if (!x->vals || !x->slot || !x->is_const || !x->meta || !x->offset || !x->last_use || !x->steps ||
        !x->dynamic || !x->step_out0 || !x->step_extra || !x->fuse || !x->has_fuse || !x->fuse_mem ||
        !x->prep || !x->synth || !x->chain || !x->panel) {
        eg_exec_destroy(x);
        return nomem();
    }
    for (int v = 0; v < g->nvalues; v++) {
        const eg_value *val = &g->values[v];
        if (val->outer >= 0) {
            if (!parent) {
                eg_exec_destroy(x);
                return ember_fail(EMBER_ERR_INTERNAL, "captured value '%s' without an enclosing graph", val->name);
            }
            x->slot[v] = parent->slot[val->outer];
        } else {
            x->slot[v] = &x->vals[v];
        }
        if (val->init) { /* borrow the initializer (a deferred one's data: borrow_deferred, under the lock) */
            const ember_tensor *it = val->init;
            ember_tensor *t = &x->vals[v].t;
            x->vals[v].kind = EV_TENSOR;
            *t = (ember_tensor){.dtype = it->dtype, .ndim = it->ndim, .nbytes = it->nbytes};
            memcpy(t->shape, it->shape, sizeof t->shape);
            if (!val->init_raw) t->data = it->data;
            x->is_const[v] = true;
        }
    }
    ember_status s = borrow_deferred(x);
    if (s) {
        eg_exec_destroy(x);
        return s;
    }
    *out = x;
    return EMBER_OK;
}

static void clear_runtime(eg_exec *x, bool keep_consts) {
    for (int v = 0; v < x->g->nvalues; v++) {
        if (x->g->values[v].init) continue;
        if (keep_consts && x->is_const[v]) continue;
        ev_clear(&x->vals[v]);
        if (!keep_consts) x->is_const[v] = false;
    }
}

void eg_exec_destroy(eg_exec *x) {
    if (!x) return;
    if (x->vals) clear_runtime(x, false);
    for (int v = 0; x->meta && v < x->g->nvalues; v++) ev_clear(&x->meta[v]);
    for (int i = 0; i < x->nplan_in; i++) ev_clear(&x->plan_in_meta[i]);
    ember_free(x->vals);
    ember_free(x->slot);
    ember_free(x->is_const);
    ember_free(x->meta);
    ember_free(x->offset);
    ember_free(x->last_use);
    if (x->prep && x->fuse_mem && x->step_out0 && x->step_extra && x->has_fuse && x->fuse && x->synth && x->chain)
        clear_steps(x);
    ember_pagestore_destroy(x->store);
    ember_free(x->steps);
    ember_free(x->dynamic);
    ember_free(x->step_out0);
    ember_free(x->step_extra);
    ember_free(x->fuse);
    ember_free(x->has_fuse);
    ember_free(x->fuse_mem);
    ember_free(x->prep);
    ember_free(x->synth);
    ember_free(x->chain);
    ember_free(x->panel);
    ember_huge_free(x->arena, x->arena_size, x->arena_huge);
    ember_free(x);
}

void eg_exec_set_profile(eg_exec *x, eg_profile *p) { x->profile = p; }
void eg_exec_set_fusion(eg_exec *x, bool on) {
    x->no_fuse = !on;
    x->planned = false;
}
void eg_exec_set_f16_weights(eg_exec *x, bool on) { x->f16_weights = on; }
void eg_exec_set_chain_all(eg_exec *x, bool on) {
    x->chain_all = on;
    x->planned = false;
}
const ev *eg_exec_value(const eg_exec *x, int v) {
    return x->meta[v].kind == EV_TENSOR && x->slot[v]->kind == EV_ABSENT ? &x->meta[v] : x->slot[v];
}
bool eg_exec_is_const(const eg_exec *x, int v) { return x->is_const[v]; }
const eg_graph *eg_exec_graph(const eg_exec *x) { return x->g; }
int eg_exec_step_node(const eg_exec *x, int i) { return x->steps[i]; }

const eg_node *eg_exec_step_op(const eg_exec *x, int i) {
    return eg_step_node(x, i);
}

bool eg_exec_step_chained(const eg_exec *x, int i) { return i >= 0 && i < x->nsteps && x->chain[i] == -2; }

void eg_exec_stats(const eg_exec *x, eg_plan_stats *st) {
    st->steps = x->nsteps;
    st->folded = x->nfolded;
    st->dynamic_steps = x->ndynamic;
    st->removed = x->nremoved;
    st->fused = x->nfused;
    st->chained = 0;
    for (int i = 0; i < x->nsteps; i++) st->chained += x->chain[i] == -2;
    st->panels = 0;
    for (int v = 0; v < x->g->nvalues; v++) st->panels += x->panel[v] != 0;
    st->arena_bytes = x->arena_size;
    st->activation_bytes = x->act_bytes;
}

/* --- ordering and dead-node removal ------------------------------------------------------------------- */
#define node_ninputs eg_node_ninputs
#define node_input eg_node_input

/* Inputs and outputs of a step: its node's, plus a fused residual, with output 0 redirected by fusion. */
static int step_ninputs(const eg_exec *x, int s) { return node_ninputs(eg_step_node(x, s)) + (x->step_extra[s] >= 0); }
static int step_input(const eg_exec *x, int s, int i) {
    const eg_node *n = eg_step_node(x, s);
    return i < node_ninputs(n) ? node_input(n, i) : x->step_extra[s];
}
static int step_output(const eg_exec *x, int s, int i) {
    return i == 0 && x->step_out0[s] >= 0 ? x->step_out0[s] : eg_step_node(x, s)->out[i];
}

/* Forget what the graph passes and the ops kept for the previous plan. */
static void clear_steps(eg_exec *x) {
    for (int i = 0; i < x->g->nnodes; i++) {
        if (x->prep[i].free) x->prep[i].free(x->prep[i].p);
        x->prep[i] = (eo_prep){0};
        ember_free(x->fuse_mem[i]);
        x->fuse_mem[i] = NULL;
        ember_free(x->synth[i]);
        x->synth[i] = NULL;
        x->step_out0[i] = x->step_extra[i] = x->chain[i] = -1;
        x->has_fuse[i] = false;
        x->fuse[i] = (eo_fuse){.residual = -1};
    }
    for (int v = 0; v < x->g->nvalues; v++) x->panel[v] = 0;
    ember_pagestore_reset(x->store);
}

/* Topological order of the nodes the graph outputs need. */
static ember_status order_nodes(eg_exec *x) {
    const eg_graph *g = x->g;
    int nn = g->nnodes;
    if (!nn) {
        x->nsteps = 0;
        return EMBER_OK;
    }
    bool *needed = ember_calloc((size_t)nn, 1);
    int *state = ember_calloc((size_t)nn, sizeof(int)), *stack = ember_malloc(sizeof(int) * (size_t)nn * 2);
    if (!needed || !state || !stack) {
        ember_free(needed), ember_free(state), ember_free(stack);
        return nomem();
    }
    /* depth-first from the outputs; post-order gives a topological order */
    int sp = 0;
    x->nsteps = 0;
    ember_status s = EMBER_OK;
    for (int o = 0; o < g->noutputs && !s; o++) {
        int p = g->values[g->outputs[o]].producer;
        if (p < 0 || state[p]) continue;
        stack[sp++] = p;
        state[p] = 1;
        while (sp && !s) {
            int nidx = stack[sp - 1];
            const eg_node *n = &g->nodes[nidx];
            bool pushed = false;
            for (int i = 0; i < node_ninputs(n) && !pushed; i++) {
                int v = node_input(n, i);
                int q = v >= 0 ? g->values[v].producer : -1;
                if (q < 0 || state[q] == 2) continue;
                if (state[q] == 1) {
                    s = ember_fail(EMBER_ERR_FORMAT, "the graph has a cycle through node '%s' (%s)", n->name, n->op_type);
                    break;
                }
                state[q] = 1;
                stack[sp++] = q;
                pushed = true;
            }
            if (!pushed && !s) {
                state[nidx] = 2;
                x->steps[x->nsteps++] = nidx;
                sp--;
            }
        }
    }
    x->nremoved = nn - x->nsteps;
    ember_free(needed), ember_free(state), ember_free(stack);
    return s;
}

/* --- planning ----------------------------------------------------------------------------------------- */
static void ctx_init(eg_exec *x, const eg_node *n, eo_ctx *c, ev **in, ev **out) {
    memset(c, 0, sizeof *c);
    c->node = n;
    c->opset = n->opset;
    c->nin = n->nin;
    c->nout = n->nout;
    c->in = in;
    c->out = out;
    c->pool = x->pool;
    c->exec = x;
    c->f16_weights = x->f16_weights;
    for (int i = 0; i < n->nin; i++) in[i] = n->in[i] >= 0 ? x->slot[n->in[i]] : NULL;
    for (int i = 0; i < n->nout; i++) out[i] = n->out[i] >= 0 ? x->slot[n->out[i]] : NULL;
}

static void ctx_done(eo_ctx *c) {
    for (int k = 0; k < c->nscratch; k++) ember_free_aligned(c->scratch[k]);
    c->nscratch = 0;
}

/* The context of planned step `step`: its node's inputs and outputs, the fused work and kept state. */
static void step_ctx(eg_exec *x, int step, eo_ctx *c, ev **in, ev **out) {
    const eg_node *n = eg_step_node(x, step);
    ctx_init(x, n, c, in, out);
    if (x->step_extra[step] >= 0) in[n->nin] = x->slot[x->step_extra[step]];
    if (x->step_out0[step] >= 0) out[0] = x->slot[x->step_out0[step]];
    if (x->has_fuse[step]) c->fuse = &x->fuse[step];
    c->prep = &x->prep[step];
    c->store = x->store;
    c->panel_in = n->nin > 0 && n->in[0] >= 0 ? x->panel[n->in[0]] : 0;
    c->panel_out = n->nout > 0 && step_output(x, step, 0) >= 0 ? x->panel[step_output(x, step, 0)] : 0;
}

static ember_status node_error(const eg_node *n, ember_status s) {
    return ember_fail_context(s, "node '%s' (%s): ", n->name[0] ? n->name : "(unnamed)", n->op_type);
}

enum { MAX_IO = 4096 };
#define FOLD_MAX_ELEMS ((int64_t)1 << 24)

/* Inputs all have data (constants), or the op needs shapes only and they are known. */
static bool can_fold(eg_exec *x, const eg_node *n, ev **in) {
    if (n->op->flags & EO_NO_FOLD || n->nimplicit) return false;
    for (int i = 0; i < n->nin; i++) {
        if (!in[i]) continue;
        if (in[i]->kind != EV_TENSOR) return false;
        if (n->op->flags & EO_SHAPE_ONLY) continue;
        if (!in[i]->t.data) return false;
    }
    (void)x;
    return true;
}

static ember_status alloc_outputs(eo_ctx *c) {
    for (int i = 0; i < c->nout; i++) {
        ev *o = c->out[i];
        if (!o || o->kind != EV_TENSOR || o->t.data) continue;
        ember_tensor t = o->t;
        ember_status s = ev_alloc_tensor(o, t.dtype, t.ndim, t.shape);
        if (s) return s;
    }
    return EMBER_OK;
}

static ember_status fold_node(eg_exec *x, const eg_node *n, eo_ctx *c) {
    ember_status s = alloc_outputs(c);
    c->inferring = false;
    if (!s) s = n->op->run(c);
    ctx_done(c);
    if (s) return s;
    for (int i = 0; i < n->nout; i++)
        if (n->out[i] >= 0) x->is_const[n->out[i]] = true;
    return EMBER_OK;
}

static bool output_small(const eo_ctx *c) {
    for (int i = 0; i < c->nout; i++)
        if (c->out[i] && c->out[i]->kind == EV_TENSOR && ember_tensor_count(&c->out[i]->t) > FOLD_MAX_ELEMS) return false;
    return true;
}

/* Infer one node at planning time; fold it when possible. *keep: the node stays a step. */
static ember_status plan_node(eg_exec *x, const eg_node *n, bool *keep, bool *dyn) {
    ev *in[MAX_IO], *out[MAX_IO];
    if (n->nin > MAX_IO || n->nout > MAX_IO) return ember_fail(EMBER_ERR_UNSUPPORTED, "too many inputs/outputs");
    eo_ctx c;
    ctx_init(x, n, &c, in, out);
    *keep = true;
    *dyn = false;
    for (int i = 0; i < n->nin; i++)
        if (in[i] && in[i]->kind != EV_TENSOR) *dyn = true;
    for (int i = 0; i < n->nimplicit; i++) {
        const ev *v = x->slot[n->implicit[i]];
        if (v->kind != EV_TENSOR || !v->t.data) *dyn = true; /* subgraph bodies need run-time values */
    }
    if (*dyn) return EMBER_OK;
    c.inferring = true;
    ember_status s = n->op->infer(&c);
    ctx_done(&c);
    if (s == EO_DYNAMIC) {
        for (int i = 0; i < n->nout; i++)
            if (out[i]) ev_clear(out[i]);
        *dyn = true;
        return EMBER_OK;
    }
    if (s) return node_error(n, s);
    if (can_fold(x, n, in) && output_small(&c)) {
        if ((s = fold_node(x, n, &c))) return node_error(n, s);
        *keep = false;
    }
    return EMBER_OK;
}

typedef struct interval {
    int v;
    size_t size;
    int start, end;
    int64_t off;
} interval;

static int by_size_desc(const void *a, const void *b) {
    const interval *x = a, *y = b;
    return x->size < y->size ? 1 : x->size > y->size ? -1 : x->v - y->v;
}

/* Greedy offset assignment: biggest first, lowest offset that no time-overlapping placed tensor uses. */
static ember_status assign_offsets(eg_exec *x, interval *iv, int n) {
    qsort(iv, (size_t)n, sizeof *iv, by_size_desc);
    size_t total = 0;
    interval **placed = ember_malloc(sizeof *placed * (size_t)(n ? n : 1));
    if (!placed) return nomem();
    for (int i = 0; i < n; i++) {
        int np = 0;
        for (int j = 0; j < i; j++)
            if (iv[j].start <= iv[i].end && iv[i].start <= iv[j].end) placed[np++] = &iv[j];
        /* sort the overlapping ones by offset (insertion sort: lists are short) */
        for (int a = 1; a < np; a++)
            for (int b = a; b > 0 && placed[b]->off < placed[b - 1]->off; b--) {
                interval *t = placed[b];
                placed[b] = placed[b - 1];
                placed[b - 1] = t;
            }
        size_t off = 0;
        for (int a = 0; a < np; a++) {
            if ((size_t)placed[a]->off >= off + iv[i].size) break;
            size_t end = (size_t)placed[a]->off + placed[a]->size;
            if (end > off) off = end;
        }
        iv[i].off = (int64_t)off;
        x->offset[iv[i].v] = (int64_t)off;
        if (off + iv[i].size > total) total = off + iv[i].size;
    }
    ember_free(placed);
    ember_huge_free(x->arena, x->arena_size, x->arena_huge);
    x->arena_size = total;
    x->arena = ember_huge_alloc(total ? total : 64, &x->arena_huge); /* every run walks all of it */
    if (!x->arena) return nomem();
    return EMBER_OK;
}

/* Values that need no bytes of their own. Concat in place: when a Concat's output has no leading dims before its axis (one contiguous block per
 * input) and each input is a planned activation that only this Concat reads, the inputs are placed inside
 * the output (their producers write there) and the Concat copies nothing. The output's interval then
 * starts at the earliest producer; the inputs' intervals are dropped. alias[v] >= 0: v lives at
 * offset(alias[v]) + alias_off[v]. */
static ember_status plan_concat_in_place(eg_exec *x, interval *iv, int *n, int **alias_out, int64_t **off_out) {
    const eg_graph *g = x->g;
    int *alias = ember_malloc(sizeof(int) * (size_t)(g->nvalues + 1)), *reads = ember_calloc((size_t)g->nvalues + 1, sizeof(int));
    int *at = ember_malloc(sizeof(int) * (size_t)(g->nvalues + 1));
    int64_t *off = ember_calloc((size_t)g->nvalues + 1, sizeof(int64_t));
    bool *root = ember_calloc((size_t)g->nvalues + 1, sizeof(bool));
    if (!alias || !reads || !at || !off || !root) {
        ember_free(alias), ember_free(reads), ember_free(at), ember_free(off), ember_free(root);
        return nomem();
    }
    for (int v = 0; v < g->nvalues; v++) alias[v] = at[v] = -1;
    for (int i = 0; i < *n; i++) at[iv[i].v] = i;
    for (int s = 0; s < x->nsteps; s++)
        for (int i = 0; i < step_ninputs(x, s); i++)
            if (step_input(x, s, i) >= 0) reads[step_input(x, s, i)]++;
    for (int o = 0; o < g->noutputs; o++) reads[g->outputs[o]]++;
    /* Reshape-like ops: the output is the input's bytes under another shape, so it can live at the input's
     * offset when nothing else reads the input (the op then copies nothing). */
    static const char *const views[] = {"Reshape", "Flatten", "Squeeze", "Unsqueeze", "Identity"};
    for (int s = 0; s < x->nsteps; s++) {
        const eg_node *nd = eg_step_node(x, s);
        int y = step_output(x, s, 0), u = nd->nin > 0 ? nd->in[0] : -1;
        bool view = false;
        for (size_t k = 0; k < sizeof views / sizeof views[0]; k++) view |= !strcmp(nd->op_type, views[k]);
        if (!view || x->dynamic[s] || nd->domain[0] || nd->nout != 1 || y < 0 || u < 0 || at[y] < 0 || at[u] < 0 ||
            reads[u] != 1 || g->values[u].is_output || alias[u] >= 0 || root[u] || x->is_const[u] ||
            x->meta[u].t.dtype != x->meta[y].t.dtype || x->meta[y].t.dtype == EMBER_DTYPE_STRING)
            continue;
        alias[y] = u;
        off[y] = 0;
        if (iv[at[y]].end > iv[at[u]].end) iv[at[u]].end = iv[at[y]].end;
        iv[at[y]].size = 0; /* dropped below */
        root[u] = true;
    }
    for (int s = 0; s < x->nsteps; s++) {
        const eg_node *nd = eg_step_node(x, s);
        int y = step_output(x, s, 0);
        if (x->dynamic[s] || nd->domain[0] || strcmp(nd->op_type, "Concat") || nd->nout != 1 || y < 0 || at[y] < 0 ||
            x->has_fuse[s] || alias[y] >= 0 || root[y])
            continue;
        const ember_tensor *yt = &x->meta[y].t;
        const eg_attr *ax = eg_attr_find(nd, "axis");
        int64_t axis = ax ? ax->i : 1, lead = 1;
        if (axis < 0) axis += yt->ndim;
        if (axis < 0 || axis >= yt->ndim || yt->dtype == EMBER_DTYPE_STRING) continue;
        for (int d = 0; d < axis; d++) lead *= yt->shape[d];
        bool ok = lead == 1 && nd->nin > 1;
        for (int i = 0; i < nd->nin && ok; i++) {
            int u = nd->in[i];
            ok = u >= 0 && at[u] >= 0 && reads[u] == 1 && !root[u] && alias[u] < 0 && !x->is_const[u] &&
                 !g->values[u].is_output && x->meta[u].t.dtype == yt->dtype;
            for (int j = 0; j < i && ok; j++) ok = nd->in[j] != u;
        }
        if (!ok) continue;
        int64_t pos = 0;
        size_t es = (size_t)ember_dtype_bits(yt->dtype) / 8;
        for (int i = 0; i < nd->nin; i++) {
            int u = nd->in[i];
            alias[u] = y;
            off[u] = pos;
            pos += (int64_t)(ember_tensor_count(&x->meta[u].t) * (int64_t)es);
            if (iv[at[u]].start < iv[at[y]].start) iv[at[y]].start = iv[at[u]].start;
            iv[at[u]].size = 0; /* dropped below */
        }
        root[y] = true;
    }
    int k = 0;
    for (int i = 0; i < *n; i++)
        if (iv[i].size) iv[k++] = iv[i];
    *n = k;
    ember_free(reads), ember_free(at), ember_free(root);
    *alias_out = alias;
    *off_out = off;
    return EMBER_OK;
}

static ember_status plan_memory(eg_exec *x) {
    const eg_graph *g = x->g;
    for (int v = 0; v < g->nvalues; v++) {
        x->last_use[v] = -1;
        x->offset[v] = -1;
    }
    for (int s = 0; s < x->nsteps; s++)
        for (int i = 0; i < step_ninputs(x, s); i++) {
            int v = step_input(x, s, i);
            if (v >= 0) x->last_use[v] = s;
        }
    for (int o = 0; o < g->noutputs; o++) x->last_use[g->outputs[o]] = x->nsteps;
    interval *iv = ember_malloc(sizeof *iv * (size_t)(g->nvalues ? g->nvalues : 1));
    if (!iv) return nomem();
    int n = 0;
    x->act_bytes = 0;
    for (int s = 0; s < x->nsteps; s++) {
        if (x->dynamic[s]) continue;
        const eg_node *nd = eg_step_node(x, s);
        if (x->step_out0[s] >= 0 && nd->out[0] >= 0 && x->vals[nd->out[0]].kind == EV_TENSOR) {
            ev_clear(&x->meta[nd->out[0]]); /* absorbed: never computed, its type is kept for statistics */
            x->meta[nd->out[0]] = x->vals[nd->out[0]];
        }
        for (int i = 0; i < nd->nout; i++) {
            int v = step_output(x, s, i);
            if (v < 0) continue;
            ev *val = &x->vals[v];
            ev_clear(&x->meta[v]);
            if (val->kind != EV_TENSOR) continue;
            x->meta[v] = *val; /* metadata only: data is NULL during planning */
            if (val->t.dtype == EMBER_DTYPE_STRING) continue; /* strings own their elements: heap */
            if (x->chain[s] == -2) continue; /* computed band by band by the next step: no memory */
            size_t bytes;
            const int64_t *d = val->t.shape; /* panel_convs checked: 4-D f32 */
            int64_t count = x->panel[v] ? d[0] * ember_panel_floats(d[1], d[2] * d[3], x->panel[v])
                                        : ember_tensor_count(&val->t);
            if (!ember_dtype_bytes(val->t.dtype, count, &bytes)) {
                ember_free(iv);
                return ember_fail(EMBER_ERR_SHAPE, "value '%s' is too large", g->values[v].name);
            }
            x->meta[v].t.nbytes = bytes;
            size_t aligned = (bytes + 63) & ~(size_t)63;
            int end = x->last_use[v] < s ? s : x->last_use[v];
            iv[n++] = (interval){v, aligned ? aligned : 64, s, end, 0};
            x->act_bytes += aligned;
        }
    }
    int *alias = NULL;
    int64_t *alias_off = NULL;
    ember_status st = x->no_fuse ? EMBER_OK : plan_concat_in_place(x, iv, &n, &alias, &alias_off);
    if (!st) st = assign_offsets(x, iv, n);
    for (int v = 0; !st && alias && v < g->nvalues; v++)
        if (alias[v] >= 0) x->offset[v] = x->offset[alias[v]] + alias_off[v];
    ember_free(alias);
    ember_free(alias_off);
    ember_free(iv);
    return st;
}

static bool same_meta(const ev *a, const ev *b) {
    if (a->kind != b->kind) return false;
    if (a->kind != EV_TENSOR) return true;
    return a->t.dtype == b->t.dtype && a->t.ndim == b->t.ndim &&
           !memcmp(a->t.shape, b->t.shape, sizeof(int64_t) * (size_t)a->t.ndim);
}

static ember_status set_input_meta(eg_exec *x, ev *const *inputs) {
    const eg_graph *g = x->g;
    for (int i = 0; i < g->ninputs; i++) {
        ev *v = &x->vals[g->inputs[i]];
        ev_clear(v);
        if (!inputs[i]) return ember_fail(EMBER_ERR_ARG, "input '%s' was not given", g->values[g->inputs[i]].name);
        if (inputs[i]->kind == EV_TENSOR) {
            v->kind = EV_TENSOR;
            v->t = inputs[i]->t;
            v->t.data = NULL;
            v->t.flags = 0;
            v->t.name = NULL;
        }
    }
    return EMBER_OK;
}

enum { STORE_MIN = 1 << 20 }; /* smaller models pack onto the heap */

/* The input that step s's prepare may pack (its second: a MatMul's B, a Conv's W), or -1 for none / a step
 * prepare_steps skips. */
static int prepared_weight(const eg_exec *x, int s) {
    const eg_node *n = eg_step_node(x, s);
    if (x->dynamic[s] || n->nin > MAX_IO || n->nout > MAX_IO || n->nin < 2) return -1;
    return n->in[1];
}

enum { COPY_PART = 256 << 10 }; /* a weight is copied out of the file this much at a time */

/* The bytes of step s's deferred weight that prepare_step copies (0: none). */
static size_t copied_bytes(const eg_exec *x, int s) {
    int w = prepared_weight(x, s);
    return w >= 0 && eg_exec_deferred(x, w) ? x->vals[w].t.nbytes : 0;
}

/* The bytes of step s's constant weight, which its prepare may pack (copied or not). */
static size_t weight_bytes(const eg_exec *x, int s) {
    int w = prepared_weight(x, s);
    return w >= 0 && x->is_const[w] && x->vals[w].kind == EV_TENSOR ? x->vals[w].t.nbytes : 0;
}

/* Step s's prepare. A deferred initializer without data (the weight prepared_weight names) is copied into
 * `buf`, the calling thread's, and handed to the op as a copy of its value, so steps sharing it do not race.
 */
static void prepare_step(eg_exec *x, int s, void *buf) {
    if (x->dynamic[s]) return;
    const eg_node *n = eg_step_node(x, s);
    ev *in[MAX_IO + 1], *out[MAX_IO], copied;
    if (n->nin > MAX_IO || n->nout > MAX_IO) return;
    int w = prepared_weight(x, s);
    bool copy = w >= 0 && eg_exec_deferred(x, w);
    if (copy && !buf) return; /* out of memory: copied for good after (or the plan fails there) */
    eo_ctx c;
    step_ctx(x, s, &c, in, out);
    if (copy) { /* the file's pages go as they are copied, before the packed copy is made */
        const eg_value *wv = &x->g->values[w];
        copied = *in[1];
        copied.t.data = buf;
        for (size_t at = 0, all = copied.t.nbytes; at < all;) {
            size_t part = all - at < COPY_PART ? all - at : COPY_PART;
            memcpy((uint8_t *)buf + at, wv->init_raw + at, part);
            ember_map_drop(&x->g->model->map, wv->init_raw, at += part); /* the whole pages copied so far */
        }
        in[1] = &copied;
    }
    eo_prepare(&c);
    ctx_done(&c);
}

typedef struct {
    size_t bytes; /* copied_bytes */
    int step;
} sized_step;

typedef struct {
    eg_exec *x;
    const sized_step *order; /* the steps, largest copied weight first */
    void **buf;              /* one copy buffer per pool thread */
    size_t held;             /* one thread, its buffer not the arena: the bytes of it still resident */
} prepare_job;

static void prepare_range(void *ctx, int64_t begin, int64_t end, int thread) {
    prepare_job *j = ctx;
    for (int64_t i = begin; i < end; i++) {
        size_t need = j->order[i].bytes;
        if (j->held && j->buf[thread] && need && need < j->held) { /* copies only shrink from here */
            ember_release((uint8_t *)j->buf[thread] + need, j->held - need);
            j->held = need;
        }
        prepare_step(j->x, j->order[i].step, j->buf[thread]);
    }
}

static int larger_first(const void *a, const void *b) {
    const sized_step *p = a, *q = b;
    if (p->bytes != q->bytes) return p->bytes < q->bytes ? 1 : -1;
    return p->step - q->step;
}

/* The steps in the order they are prepared: largest copied weight first, so that the copy buffer, which
 * shrinks with them, is small when the store is nearly full. NULL when out of memory. */
static sized_step *prepare_order(const eg_exec *x) {
    sized_step *ss = ember_calloc((size_t)x->nsteps + 1, sizeof *ss);
    if (!ss) return NULL;
    for (int s = 0; s < x->nsteps; s++) ss[s] = (sized_step){copied_bytes(x, s), s};
    qsort(ss, (size_t)x->nsteps, sizeof *ss, larger_first);
    return ss;
}

/* Let the ops prepare what they keep across runs (packed weights) now, while the inferred shapes are at
 * hand, so that the first run costs what every run costs. The steps are prepared on the session's threads
 * (the pagestore hands out memory atomically; each thread copies deferred weights into its own buffer). A
 * deferred initializer without data stays without data once packed; a step that did not pack it, or that
 * reads it otherwise, gets it copied for good. */
static ember_status prepare_steps(eg_exec *x) {
    size_t cap = 0, packed = 0; /* the largest weight copied (a deferred table a Gather reads is not one) */
    for (int s = 0; s < x->nsteps; s++) {
        size_t n = copied_bytes(x, s);
        cap = n > cap ? n : cap;
        packed += weight_bytes(x, s);
    }
    if (!x->store) { /* address space for twice the weights (Winograd's and padded panels are larger); 2 MB
                      * pages for what the weights the steps pack will fill at least, so that no page is
                      * resident far past the last weight while the plan copies the others */
        size_t w = 0;
        for (int v = 0; v < x->g->nvalues; v++)
            if (x->g->values[v].init) w += x->g->values[v].init->nbytes;
        if (w >= STORE_MIN) x->store = ember_pagestore_create(2 * w + STORE_MIN, packed);
    }
    /* Copy buffers from the arena, which no run has used yet, where it has room: its pages, touched here,
     * are then fresh memory once, not twice (a buffer freed now and the arena faulted in by the first run).
     * At most one buffer comes from elsewhere, as on one thread: the threads prepare steps together only
     * when the arena holds the others' buffers (2 threads and a 5 MB classifier weight over a 4 MB arena:
     * peak RSS had grown by that weight). The arena's room is what its huge pages hold (SqueezeNet's 1.9 MB
     * arena, one 2 MB page, holds its 2 MB classifier weight: from a store of its own it had been 500 more
     * 4 KB page faults, +1 ms of planning). */
    size_t slot = (cap + 63) & ~(size_t)63, room = ember_huge_room(x->arena_size, x->arena_huge);
    int threads = ember_pool_threads(x->pool);
    int in_arena = slot ? (int)(room / slot < (size_t)threads ? room / slot : (size_t)threads) : 0;
    if (slot && in_arena + 1 < threads) threads = 1, in_arena = in_arena ? 1 : 0;
    void **buf = ember_calloc((size_t)threads, sizeof *buf);
    bool *heap = ember_calloc((size_t)threads, sizeof *heap);
    size_t more = cap * (size_t)(threads - in_arena);
    ember_pagestore *tmp =
        cap && buf && heap && in_arena < threads ? ember_pagestore_create(more, more) : NULL;
    for (int t = 0; cap && buf && heap && t < threads; t++)
        buf[t] =
            t < in_arena ? (void *)(x->arena + (size_t)t * slot) : ember_pagestore_keep(tmp, cap, &heap[t]);
    sized_step *order = buf && heap ? prepare_order(x) : NULL;
    if (order) {
        prepare_job j = {x, order, buf, in_arena ? 0 : cap};
        ember_pool_for(threads > 1 ? x->pool : NULL, x->nsteps, 1, prepare_range, &j);
    }
    for (int t = 0; buf && heap && t < threads; t++)
        if (heap[t]) ember_free_aligned(buf[t]);
    ember_free(buf), ember_free(heap), ember_free(order);
    ember_pagestore_destroy(tmp);
    ember_pagestore_trim(x->store);
    ember_status st = EMBER_OK;
    for (int s = 0; s < x->nsteps && !st; s++) {
        const eg_node *n = eg_step_node(x, s);
        for (int k = 0; k < n->nin && !st; k++)
            if (n->in[k] >= 0 && eg_exec_deferred(x, n->in[k]) && (k != 1 || x->dynamic[s] || !x->prep[s].p))
                st = materialize(x, n->in[k]);
    }
    return st;
}

ember_status eg_exec_plan(eg_exec *x, ev *const *inputs) {
    const eg_graph *g = x->g;
    x->planned = false;
    clear_runtime(x, false);
    clear_steps(x);
    if (g->ninputs > (int)(sizeof x->plan_in_meta / sizeof x->plan_in_meta[0]))
        return ember_fail(EMBER_ERR_UNSUPPORTED, "more than 64 graph inputs");
    ember_status s = order_nodes(x);
    if (!s) s = set_input_meta(x, inputs);
    if (s) return s;
    int kept = 0;
    x->nfolded = x->ndynamic = 0;
    for (int i = 0; i < x->nsteps; i++) {
        const eg_node *n = &g->nodes[x->steps[i]];
        bool keep, dyn;
        if ((s = plan_node(x, n, &keep, &dyn))) return s;
        if (!keep) {
            x->nfolded++;
            continue;
        }
        x->dynamic[kept] = dyn;
        x->ndynamic += dyn;
        x->steps[kept++] = x->steps[i];
    }
    x->nsteps = kept;
    x->nfused = 0;
    if (!x->no_fuse && (s = eg_fuse_steps(x, &x->nfused))) return s;
    if ((s = plan_memory(x))) return s;
    if ((s = prepare_steps(x))) return s;
    /* the file's pages mapped so far (by the parse, around the packed weights) leave the resident set: what
     * the runs read in place (small initializers, rows of a Gather's table) comes back as it is read
     * (MiniLM's peak RSS 0.45 MB less; the first run no slower) */
    if (g->model) ember_map_drop(&g->model->map, g->model->map.data, g->model->map.size);
    /* forget inferred metadata of non-constant values: runs set them from the plan or at run time */
    for (int v = 0; v < g->nvalues; v++)
        if (!x->is_const[v]) ev_clear(&x->vals[v]);
    for (int i = 0; i < x->nplan_in; i++) ev_clear(&x->plan_in_meta[i]);
    for (int i = 0; i < g->ninputs; i++) {
        x->plan_in_meta[i] = (ev){.kind = inputs[i]->kind};
        if (inputs[i]->kind == EV_TENSOR) {
            x->plan_in_meta[i].t = inputs[i]->t;
            x->plan_in_meta[i].t.data = NULL;
            x->plan_in_meta[i].t.flags = 0;
            x->plan_in_meta[i].t.name = NULL;
        }
    }
    x->nplan_in = g->ninputs;
    x->planned = true;
    return EMBER_OK;
}

/* --- running ------------------------------------------------------------------------------------------ */
static double now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static ember_status run_step(eg_exec *x, int step) {
    const eg_graph *g = x->g;
    const eg_node *n = eg_step_node(x, step);
    ev *in[MAX_IO + 1], *out[MAX_IO], *pin[8], *pout[4]; /* chained steps are Convs */
    eo_ctx c, pc;
    step_ctx(x, step, &c, in, out);
    if (x->chain[step] >= 0) {
        const eg_node *pn = eg_step_node(x, x->chain[step]);
        if (pn->nin >= 8 || pn->nout > 4) return node_error(pn, ember_fail(EMBER_ERR_INTERNAL, "chained step"));
        step_ctx(x, x->chain[step], &pc, pin, pout);
        c.producer = &pc;
    }
    ember_status s = EMBER_OK;
    if (x->dynamic[step]) {
        for (int i = 0; i < n->nout; i++)
            if (out[i]) ev_clear(out[i]);
        c.inferring = false;
        s = n->op->infer(&c);
        if (s == EO_DYNAMIC) s = EMBER_OK; /* run() produces the outputs */
        else if (!s) s = alloc_outputs(&c);
    } else {
        for (int i = 0; i < n->nout; i++) {
            int v = step_output(x, step, i);
            if (v < 0) continue;
            ev *o = x->slot[v];
            *o = x->meta[v];
            if (x->offset[v] >= 0) o->t.data = x->arena + x->offset[v];
        }
        if (x->chain[step] != -2) s = alloc_outputs(&c); /* string outputs and others outside the arena */
    }
    double t0 = x->profile ? now_ns() : 0;
    if (!s && x->chain[step] != -2) s = n->op->run(&c); /* -2: the step that reads the output runs it */
    if (x->profile) x->profile->node_ns[x->steps[step]] += now_ns() - t0;
    ctx_done(&c);
    if (x->chain[step] >= 0) ctx_done(&pc); /* (the op may have cleared c.producer) */
    if (s) return node_error(n, s);
    /* release values whose last reader was this step */
    for (int i = 0; i < step_ninputs(x, step); i++) {
        int v = step_input(x, step, i);
        if (v >= 0 && x->last_use[v] == step && !x->is_const[v] && g->values[v].outer < 0 && !g->values[v].is_input)
            ev_clear(&x->vals[v]);
    }
    return EMBER_OK;
}

static bool inputs_match_plan(const eg_exec *x, ev *const *inputs) {
    if (!x->planned || x->nplan_in != x->g->ninputs) return false;
    for (int i = 0; i < x->g->ninputs; i++)
        if (!inputs[i] || !same_meta(&x->plan_in_meta[i], inputs[i])) return false;
    return true;
}

ember_status eg_exec_run(eg_exec *x, ev *const *inputs, ev *outputs) {
    const eg_graph *g = x->g;
    ember_status s = EMBER_OK;
    if (!inputs_match_plan(x, inputs) && (s = eg_exec_plan(x, inputs))) return s;
    if (eo_reference()) /* the reference ops (switched on after planning) read the weights the plan packed */
        for (int v = 0; v < g->nvalues && !s; v++)
            if (eg_exec_deferred(x, v)) s = materialize(x, v);
    if (s) return s;
    for (int i = 0; i < g->ninputs; i++) { /* borrow the caller's inputs */
        ev *v = &x->vals[g->inputs[i]];
        ev_clear(v);
        if (inputs[i]->kind == EV_TENSOR) {
            v->kind = EV_TENSOR;
            v->t = inputs[i]->t;
            v->t.flags = 0;
            v->t.name = NULL;
        } else if ((s = ev_copy(v, inputs[i]))) {
            return s;
        }
    }
    for (int step = 0; step < x->nsteps && !s; step++) s = run_step(x, step);
    for (int o = 0; o < g->noutputs && !s; o++) {
        const ev *v = x->slot[g->outputs[o]];
        if (v->kind == EV_ABSENT)
            s = ember_fail(EMBER_ERR_INTERNAL, "output '%s' was not computed", g->values[g->outputs[o]].name);
        else
            s = ev_copy(&outputs[o], v);
    }
    clear_runtime(x, true);
    for (int i = 0; i < g->ninputs; i++) x->vals[g->inputs[i]] = (ev){0}; /* borrowed */
    return s;
}

ember_status eg_subgraph_run(eo_ctx *c, const eg_graph *g, int nin, ev *const *inputs, ev *outputs) {
    if (nin != g->ninputs)
        return ember_fail(EMBER_ERR_SHAPE, "subgraph '%s' takes %d inputs, %d given", g->name, g->ninputs, nin);
    eg_exec *x = NULL;
    ember_status s = eg_exec_create(g, c->exec, c->pool, &x);
    if (!s) s = eg_exec_run(x, inputs, outputs);
    eg_exec_destroy(x);
    return s;
}
