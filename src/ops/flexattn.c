/* ai.onnx.preview FlexAttention (1): Y = prob_mod(Softmax(score_mod((Q K^T) * scale))) V over rank-4
 * [batch, heads, seq, head_size] inputs, with grouped K/V heads (GQA). score_mod and prob_mod are optional
 * subgraphs mapping the whole [B, Hq, L, S] tensor to one of the same shape; they run through
 * eg_subgraph_run. Arithmetic in double; intermediates handed to the subgraphs in Q's element type. */
#include "graph/exec.h"
#include "ops/op.h"

ember_status flex_attention_infer(eo_ctx *c) {
    ember_status s = eo_check_inputs(c, 3);
    if (s) return s;
    const ember_tensor *q = eo_in(c, 0), *k = eo_in(c, 1), *v = eo_in(c, 2);
    if (!q || !k || !v || q->ndim != 4 || k->ndim != 4 || v->ndim != 4)
        return ember_fail(EMBER_ERR_SHAPE, "FlexAttention: Q, K and V must be rank 4");
    if (k->shape[0] != q->shape[0] || v->shape[0] != q->shape[0] || k->shape[3] != q->shape[3] ||
        v->shape[1] != k->shape[1] || v->shape[2] != k->shape[2] || k->shape[1] <= 0 || q->shape[1] % k->shape[1])
        return ember_fail(EMBER_ERR_SHAPE, "FlexAttention: Q/K/V shapes do not fit together");
    int64_t y[4] = {q->shape[0], q->shape[1], q->shape[2], v->shape[3]};
    return eo_set_out(c, 0, q->dtype, 4, y);
}

/* Run the optional subgraph `name` on t (in place: t receives the result). */
static ember_status apply_mod(eo_ctx *c, const char *name, ev *t) {
    const eg_attr *a = eo_attr(c, name);
    if (!a || a->type != EG_ATTR_GRAPH) return EMBER_OK;
    if (a->g->ninputs != 1 || a->g->noutputs != 1)
        return ember_fail(EMBER_ERR_SHAPE, "FlexAttention: %s must take one input and give one output", name);
    ev out = {0}, *in[1] = {t};
    ember_status s = eg_subgraph_run(c, a->g, 1, in, &out);
    if (!s && (out.kind != EV_TENSOR || out.t.ndim != 4 || ember_tensor_count(&out.t) != ember_tensor_count(&t->t)))
        s = ember_fail(EMBER_ERR_SHAPE, "FlexAttention: %s changed the shape", name);
    if (!s && out.t.dtype != t->t.dtype) s = eo_convert(&out.t, &t->t);
    else if (!s) memcpy(t->t.data, out.t.data, t->t.nbytes);
    ev_clear(&out);
    return s;
}

ember_status flex_attention_run(eo_ctx *c) {
    const ember_tensor *q = eo_in(c, 0), *k = eo_in(c, 1), *v = eo_in(c, 2);
    ember_tensor *y = eo_out(c, 0);
    if (!y) return EMBER_OK; /* output unused */
    int64_t B = q->shape[0], Hq = q->shape[1], L = q->shape[2], E = q->shape[3];
    int64_t Hk = k->shape[1], S = k->shape[2], Ev = v->shape[3], grp = Hq / Hk;
    const eg_attr *sa = eo_attr(c, "scale");
    double scale = sa ? sa->f : 1.0 / sqrt((double)E);
    int64_t shape[4] = {B, Hq, L, S};
    ev sc = {0};
    ember_status s = ev_alloc_tensor(&sc, q->dtype, 4, shape);
    if (s) return s;
    for (int64_t b = 0; b < B; b++)
        for (int64_t h = 0; h < Hq; h++)
            for (int64_t i = 0; i < L; i++)
                for (int64_t j = 0; j < S; j++) {
                    double acc = 0;
                    for (int64_t e = 0; e < E; e++)
                        acc += eo_get(q, ((b * Hq + h) * L + i) * E + e) * eo_get(k, ((b * Hk + h / grp) * S + j) * E + e);
                    eo_put(&sc.t, ((b * Hq + h) * L + i) * S + j, acc * scale);
                }
    s = apply_mod(c, "score_mod", &sc);
    for (int64_t r = 0; r < B * Hq * L && !s; r++) { /* softmax over the last axis */
        double mx = -INFINITY, sum = 0;
        for (int64_t j = 0; j < S; j++) mx = fmax(mx, eo_get(&sc.t, r * S + j));
        for (int64_t j = 0; j < S; j++) sum += exp(eo_get(&sc.t, r * S + j) - mx);
        for (int64_t j = 0; j < S; j++) eo_put(&sc.t, r * S + j, exp(eo_get(&sc.t, r * S + j) - mx) / sum);
    }
    if (!s) s = apply_mod(c, "prob_mod", &sc);
    for (int64_t b = 0; b < B && !s; b++)
        for (int64_t h = 0; h < Hq; h++)
            for (int64_t i = 0; i < L; i++)
                for (int64_t e = 0; e < Ev; e++) {
                    double acc = 0;
                    for (int64_t j = 0; j < S; j++)
                        acc += eo_get(&sc.t, ((b * Hq + h) * L + i) * S + j) * eo_get(v, ((b * Hk + h / grp) * S + j) * Ev + e);
                    eo_put(y, ((b * Hq + h) * L + i) * Ev + e, acc);
                }
    ev_clear(&sc);
    return s;
}
