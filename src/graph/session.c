/* Public ONNX API: models, sessions, values (ember/onnx.h) over the graph importer and executor. */
#include "ember/onnx.h"
#include "graph/exec.h"

#include <stdlib.h>
#include <string.h>

struct ember_onnx_model {
    eg_model *m;
};

struct ember_onnx_session {
    ember_onnx_model *model;
    ember_pool *pool;
    bool own_pool;
    eg_exec *x;
    double *node_ns;
    eg_profile profile;
};

/* --- values ------------------------------------------------------------------------------------------- */
void ember_value_destroy(ember_value *v) {
    if (!v) return;
    ember_tensor_destroy(v->tensor);
    for (int i = 0; i < v->count; i++) ember_value_destroy(v->items[i]);
    ember_free(v->items);
    ember_free(v);
}

ember_status ember_value_from_tensor(ember_tensor *t, ember_value **out) {
    *out = ember_calloc(1, sizeof **out);
    if (!*out) return ember_fail(EMBER_ERR_NOMEM, "out of memory");
    (*out)->kind = EMBER_VALUE_TENSOR;
    (*out)->tensor = t;
    (*out)->elem_dtype = t->dtype;
    return EMBER_OK;
}

/* Borrowing view of a public value as a run-time value (sequence items are copied). */
static ember_status value_to_ev(const ember_value *v, ev *out) {
    memset(out, 0, sizeof *out);
    switch (v->kind) {
    case EMBER_VALUE_TENSOR:
        if (!v->tensor) return ember_fail(EMBER_ERR_ARG, "tensor value without a tensor");
        out->kind = EV_TENSOR;
        out->t = *v->tensor;
        out->t.flags = 0;
        out->t.name = NULL;
        return EMBER_OK;
    case EMBER_VALUE_SEQUENCE:
        out->kind = EV_SEQUENCE;
        out->elem = v->elem_dtype;
        for (int i = 0; i < v->count; i++) {
            ember_status s = ev_seq_insert(out, v->items[i]->tensor, -1);
            if (s) return s;
        }
        return EMBER_OK;
    case EMBER_VALUE_NONE:
        out->kind = EV_NONE;
        out->elem = v->elem_dtype;
        return EMBER_OK;
    }
    return ember_fail(EMBER_ERR_ARG, "unknown value kind %d", (int)v->kind);
}

/* Move an owned run-time tensor into a new public tensor. */
static ember_status ev_take_tensor(ev *e, ember_tensor **out) {
    ember_tensor *t = ember_calloc(1, sizeof *t);
    if (!t) return ember_fail(EMBER_ERR_NOMEM, "out of memory");
    *t = e->t;
    e->t.data = NULL;
    e->t.flags = 0;
    *out = t;
    return EMBER_OK;
}

static ember_status ev_to_value(ev *e, ember_value **out) {
    ember_value *v = ember_calloc(1, sizeof *v);
    if (!v) return ember_fail(EMBER_ERR_NOMEM, "out of memory");
    ember_status s = EMBER_OK;
    if (e->kind == EV_TENSOR) {
        v->kind = EMBER_VALUE_TENSOR;
        v->elem_dtype = e->t.dtype;
        s = ev_take_tensor(e, &v->tensor);
    } else if (e->kind == EV_SEQUENCE) {
        v->kind = EMBER_VALUE_SEQUENCE;
        v->elem_dtype = e->elem;
        v->items = ember_calloc((size_t)(e->nitems ? e->nitems : 1), sizeof *v->items);
        if (!v->items) s = ember_fail(EMBER_ERR_NOMEM, "out of memory");
        for (int i = 0; i < e->nitems && !s; i++) {
            if (!(s = ev_to_value(e->items[i], &v->items[i]))) v->count++;
        }
    } else {
        v->kind = EMBER_VALUE_NONE;
        v->elem_dtype = e->elem;
    }
    if (s) {
        ember_value_destroy(v);
        return s;
    }
    *out = v;
    return EMBER_OK;
}

/* --- models ------------------------------------------------------------------------------------------- */
ember_status ember_onnx_open(const char *path, ember_onnx_model **out) {
    *out = NULL;
    ember_onnx_model *m = ember_calloc(1, sizeof *m);
    if (!m) return ember_fail(EMBER_ERR_NOMEM, "out of memory");
    ember_status s = eg_model_load(path, &m->m);
    if (s) {
        ember_free(m);
        return s;
    }
    *out = m;
    return EMBER_OK;
}

void ember_onnx_close(ember_onnx_model *m) {
    if (!m) return;
    eg_model_free(m->m);
    ember_free(m);
}

int ember_onnx_input_count(const ember_onnx_model *m) { return m->m->graph->ninputs; }
int ember_onnx_output_count(const ember_onnx_model *m) { return m->m->graph->noutputs; }

static void describe(const eg_value *v, ember_onnx_io *info) {
    memset(info, 0, sizeof *info);
    info->name = v->name;
    const eg_type *t = &v->type;
    switch (t->kind) {
    case EG_KIND_SEQUENCE: info->kind = EMBER_VALUE_SEQUENCE; break;
    case EG_KIND_OPTIONAL: info->kind = EMBER_VALUE_NONE; break;
    default: info->kind = EMBER_VALUE_TENSOR; break;
    }
    const eg_type *inner = t;
    while ((inner->kind == EG_KIND_SEQUENCE || inner->kind == EG_KIND_OPTIONAL) && inner->elem) inner = inner->elem;
    info->dtype = inner->dtype;
    info->ndim = t->kind == EG_KIND_TENSOR ? t->ndim : -1;
    for (int i = 0; i < info->ndim; i++) {
        info->dims[i] = t->dims[i];
        info->dim_names[i] = t->dim_param[i];
    }
}

ember_status ember_onnx_input(const ember_onnx_model *m, int i, ember_onnx_io *info) {
    const eg_graph *g = m->m->graph;
    if (i < 0 || i >= g->ninputs) return ember_fail(EMBER_ERR_ARG, "input index %d out of range", i);
    describe(&g->values[g->inputs[i]], info);
    return EMBER_OK;
}

ember_status ember_onnx_output(const ember_onnx_model *m, int i, ember_onnx_io *info) {
    const eg_graph *g = m->m->graph;
    if (i < 0 || i >= g->noutputs) return ember_fail(EMBER_ERR_ARG, "output index %d out of range", i);
    describe(&g->values[g->outputs[i]], info);
    return EMBER_OK;
}

void ember_onnx_get_info(const ember_onnx_model *m, ember_onnx_info *info) {
    memset(info, 0, sizeof *info);
    const eg_model *em = m->m;
    info->ir_version = em->ir_version;
    info->producer = em->producer ? em->producer : "";
    for (int i = 0; i < em->nopsets; i++)
        if (!em->opsets[i].domain[0]) info->opset = em->opsets[i].version;
    info->nodes = em->graph->nnodes;
    for (int v = 0; v < em->graph->nvalues; v++) {
        const ember_tensor *t = em->graph->values[v].init;
        if (!t) continue;
        info->parameters += ember_tensor_count(t);
        info->parameter_bytes += (int64_t)t->nbytes;
    }
    info->copied_initializers = em->copied_inits;
}

/* --- sessions ----------------------------------------------------------------------------------------- */
ember_status ember_onnx_session_create(ember_onnx_model *m, const ember_onnx_options *opt, ember_onnx_session **out) {
    *out = NULL;
    ember_onnx_session *s = ember_calloc(1, sizeof *s);
    if (!s) return ember_fail(EMBER_ERR_NOMEM, "out of memory");
    s->model = m;
    ember_status st = EMBER_OK;
    if (opt && opt->pool) {
        s->pool = opt->pool;
    } else if (!opt || opt->threads != 1) {
        st = ember_pool_create(opt ? opt->threads : 0, &s->pool);
        s->own_pool = true;
    }
    if (!st) st = eg_exec_create(m->m->graph, NULL, s->pool, &s->x);
    if (!st && opt && opt->no_fusion) eg_exec_set_fusion(s->x, false);
    if (!st && opt && opt->f16_weights) eg_exec_set_f16_weights(s->x, true);
    if (!st && opt && opt->profile) {
        s->node_ns = ember_calloc((size_t)(m->m->graph->nnodes + 1), sizeof(double));
        if (!s->node_ns) st = ember_fail(EMBER_ERR_NOMEM, "out of memory");
        s->profile.node_ns = s->node_ns;
        if (!st) eg_exec_set_profile(s->x, &s->profile);
    }
    if (st) {
        ember_onnx_session_destroy(s);
        return st;
    }
    *out = s;
    return EMBER_OK;
}

void ember_onnx_session_destroy(ember_onnx_session *s) {
    if (!s) return;
    eg_exec_destroy(s->x);
    if (s->own_pool) ember_pool_destroy(s->pool);
    ember_free(s->node_ns);
    ember_free(s);
}

static ember_status check_input(const eg_value *decl, const ev *v) {
    const eg_type *t = &decl->type;
    if (v->kind != EV_TENSOR || t->kind != EG_KIND_TENSOR) return EMBER_OK;
    if (t->dtype && v->t.dtype != t->dtype)
        return ember_fail(EMBER_ERR_SHAPE, "input '%s': expected %s, got %s", decl->name, ember_dtype_name(t->dtype),
                          ember_dtype_name(v->t.dtype));
    if (t->ndim >= 0 && t->ndim != v->t.ndim)
        return ember_fail(EMBER_ERR_SHAPE, "input '%s': expected rank %d, got %d", decl->name, t->ndim, v->t.ndim);
    for (int d = 0; d < t->ndim; d++)
        if (t->dims[d] >= 0 && t->dims[d] != v->t.shape[d])
            return ember_fail(EMBER_ERR_SHAPE, "input '%s': dimension %d is %lld, the model expects %lld", decl->name,
                              d, (long long)v->t.shape[d], (long long)t->dims[d]);
    return EMBER_OK;
}

static ember_status run_evs(ember_onnx_session *s, ev *ins, ev *outs) {
    const eg_graph *g = s->model->m->graph;
    ev *ptrs[64];
    if (g->ninputs > 64) return ember_fail(EMBER_ERR_UNSUPPORTED, "more than 64 inputs");
    for (int i = 0; i < g->ninputs; i++) {
        ember_status st = check_input(&g->values[g->inputs[i]], &ins[i]);
        if (st) return st;
        ptrs[i] = &ins[i];
    }
    return eg_exec_run(s->x, ptrs, outs);
}

ember_status ember_onnx_run(ember_onnx_session *s, ember_value *const *inputs, ember_value **outputs) {
    const eg_graph *g = s->model->m->graph;
    ev ins[64], *outs = ember_calloc((size_t)g->noutputs + 1, sizeof *outs);
    if (!outs) return ember_fail(EMBER_ERR_NOMEM, "out of memory");
    memset(ins, 0, sizeof ins);
    ember_status st = g->ninputs > 64 ? ember_fail(EMBER_ERR_UNSUPPORTED, "more than 64 inputs") : EMBER_OK;
    for (int i = 0; i < g->ninputs && !st; i++) {
        if (!inputs[i]) st = ember_fail(EMBER_ERR_ARG, "input %d ('%s') is NULL", i, g->values[g->inputs[i]].name);
        else st = value_to_ev(inputs[i], &ins[i]);
    }
    if (!st) st = run_evs(s, ins, outs);
    int done = 0;
    for (; done < g->noutputs && !st; done++) st = ev_to_value(&outs[done], &outputs[done]);
    if (st)
        for (int i = 0; i < done - 1; i++) ember_value_destroy(outputs[i]), outputs[i] = NULL;
    for (int i = 0; i < g->ninputs && i < 64; i++)
        if (ins[i].kind != EV_TENSOR) ev_clear(&ins[i]);
    for (int i = 0; i < g->noutputs; i++) ev_clear(&outs[i]);
    ember_free(outs);
    return st;
}

ember_status ember_onnx_run_tensors(ember_onnx_session *s, ember_tensor *const *inputs, ember_tensor **outputs) {
    const eg_graph *g = s->model->m->graph;
    ev ins[64], *outs = ember_calloc((size_t)g->noutputs + 1, sizeof *outs);
    if (!outs) return ember_fail(EMBER_ERR_NOMEM, "out of memory");
    ember_status st = g->ninputs > 64 ? ember_fail(EMBER_ERR_UNSUPPORTED, "more than 64 inputs") : EMBER_OK;
    for (int i = 0; i < g->ninputs && !st; i++) {
        if (!inputs[i]) {
            st = ember_fail(EMBER_ERR_ARG, "input %d ('%s') is NULL", i, g->values[g->inputs[i]].name);
            break;
        }
        ins[i] = (ev){.kind = EV_TENSOR, .t = *inputs[i]};
        ins[i].t.flags = 0;
        ins[i].t.name = NULL;
    }
    if (!st) st = run_evs(s, ins, outs);
    for (int i = 0; i < g->noutputs && !st; i++)
        if (outs[i].kind != EV_TENSOR)
            st = ember_fail(EMBER_ERR_ARG, "output '%s' is not a tensor: use ember_onnx_run", g->values[g->outputs[i]].name);
    for (int i = 0; i < g->noutputs && !st; i++) {
        if ((st = ev_take_tensor(&outs[i], &outputs[i]))) {
            for (int k = 0; k < i; k++) ember_tensor_destroy(outputs[k]), outputs[k] = NULL;
        }
    }
    for (int i = 0; i < g->noutputs; i++) ev_clear(&outs[i]);
    ember_free(outs);
    return st;
}

ember_status ember_onnx_plan(ember_onnx_session *s, const int *ndims, const int64_t (*shapes)[EMBER_MAX_DIMS]) {
    const eg_graph *g = s->model->m->graph;
    ev ins[64], *ptrs[64];
    if (g->ninputs > 64) return ember_fail(EMBER_ERR_UNSUPPORTED, "more than 64 inputs");
    for (int i = 0; i < g->ninputs; i++) {
        const eg_value *v = &g->values[g->inputs[i]];
        ins[i] = (ev){0};
        ptrs[i] = &ins[i];
        if (v->type.kind != EG_KIND_TENSOR) continue;
        ins[i].kind = EV_TENSOR;
        ins[i].t.dtype = v->type.dtype;
        ins[i].t.ndim = ndims[i];
        memcpy(ins[i].t.shape, shapes[i], sizeof(int64_t) * (size_t)ndims[i]);
    }
    return eg_exec_plan(s->x, ptrs);
}

void ember_onnx_get_plan_info(const ember_onnx_session *s, ember_onnx_plan_info *info) {
    eg_plan_stats st;
    eg_exec_stats(s->x, &st);
    info->steps = st.steps;
    info->folded = st.folded;
    info->dynamic_steps = st.dynamic_steps;
    info->removed = st.removed;
    info->arena_bytes = st.arena_bytes;
    info->activation_bytes = st.activation_bytes;
    info->fused = st.fused;
    info->chained = st.chained;
    info->panels = st.panels;
}

/* Rough FLOPs of a node from its planned shapes: 2 per multiply-add for the heavy ops, one per output
 * element otherwise. */
static int64_t node_flops(const eg_exec *x, const eg_node *n) {
    const ev *y = n->nout && n->out[0] >= 0 ? eg_exec_value(x, n->out[0]) : NULL;
    if (!y || y->kind != EV_TENSOR) return 0;
    int64_t out = ember_tensor_count(&y->t);
    const ev *w = n->nin > 1 && n->in[1] >= 0 ? eg_exec_value(x, n->in[1]) : NULL;
    const ev *a = n->nin > 0 && n->in[0] >= 0 ? eg_exec_value(x, n->in[0]) : NULL;
    if (!strcmp(n->op_type, "Conv") && w && w->kind == EV_TENSOR && w->t.ndim >= 3) {
        int64_t k = 1;
        for (int d = 1; d < w->t.ndim; d++) k *= w->t.shape[d];
        return 2 * out * k;
    }
    const ev *v = n->nin > 2 && n->in[2] >= 0 ? eg_exec_value(x, n->in[2]) : NULL;
    if (!strcmp(n->op_type, "FusedAttention") && a && v && a->kind == EV_TENSOR && v->kind == EV_TENSOR &&
        a->t.ndim >= 2 && v->t.ndim >= 2 && v->t.shape[v->t.ndim - 1] > 0) { /* Q Kt, then (scores) V */
        int64_t lk = v->t.shape[v->t.ndim - 2], rows = out / v->t.shape[v->t.ndim - 1];
        return 2 * rows * lk * a->t.shape[a->t.ndim - 1] + 2 * out * lk;
    }
    if ((!strcmp(n->op_type, "MatMul") || !strcmp(n->op_type, "Gemm")) && a && a->kind == EV_TENSOR && a->t.ndim) {
        int64_t k = a->t.shape[a->t.ndim - 1];
        if (!strcmp(n->op_type, "Gemm") && eo_attr_int(&(eo_ctx){.node = n}, "transA", 0) && a->t.ndim == 2) k = a->t.shape[0];
        return 2 * out * k;
    }
    return out;
}

ember_status ember_onnx_step(const ember_onnx_session *s, int i, ember_onnx_node *node) {
    eg_plan_stats st;
    eg_exec_stats(s->x, &st);
    if (i < 0 || i >= st.steps) return ember_fail(EMBER_ERR_ARG, "step %d out of range", i);
    int ni = eg_exec_step_node(s->x, i);
    const eg_node *n = eg_exec_step_op(s->x, i);
    memset(node, 0, sizeof *node);
    node->op_type = n->op_type;
    node->name = n->name;
    node->domain = n->domain;
    node->ndim = -1;
    const ev *y = n->nout && n->out[0] >= 0 ? eg_exec_value(s->x, n->out[0]) : NULL;
    if (y && y->kind == EV_TENSOR) {
        node->dtype = y->t.dtype;
        node->ndim = y->t.ndim;
        memcpy(node->shape, y->t.shape, sizeof node->shape);
    }
    node->flops = node_flops(s->x, n);
    node->time_ns = s->node_ns ? s->node_ns[ni] : 0;
    node->chained = eg_exec_step_chained(s->x, i);
    return EMBER_OK;
}
