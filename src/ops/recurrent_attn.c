/* State-space / linear-attention layers (opset 27): CausalConvWithState (depthwise causal conv1d over a
 * left context carried between calls, optional SiLU) and LinearAttention (the linear, gated, delta and
 * gated-delta recurrences of a d_k x d_v state per KV head, GQA on read). Scalar references in double. */
#include "ops/op.h"

#include <stdlib.h>

/* --- CausalConvWithState ------------------------------------------------------------------------------ */
/* input [B, C, L], weight [C, 1, K], bias [C], past_state [B, C, K-1] -> output [B, C, L], present [B, C, K-1] */
ember_status causal_conv_state_infer(eo_ctx *c) {
    const ember_tensor *x = eo_in(c, 0), *w = eo_in(c, 1);
    if (!x || !w || x->ndim != 3 || w->ndim != 3 || w->shape[0] != x->shape[1] || w->shape[1] != 1 || w->shape[2] < 1)
        return ember_fail(EMBER_ERR_SHAPE, "CausalConvWithState: input [B, C, L] and weight [C, 1, K] expected");
    const ember_tensor *b = eo_in(c, 2), *ps = eo_in(c, 3);
    if (b && ember_tensor_count(b) != x->shape[1]) return ember_fail(EMBER_ERR_SHAPE, "CausalConvWithState: bias must have C values");
    int64_t st[3] = {x->shape[0], x->shape[1], w->shape[2] - 1};
    if (ps && (ps->ndim != 3 || ps->shape[0] != st[0] || ps->shape[1] != st[1] || ps->shape[2] != st[2]))
        return ember_fail(EMBER_ERR_SHAPE, "CausalConvWithState: past_state must be [B, C, K-1]");
    const char *act = eo_attr_str(c, "activation", "none");
    if (strcmp(act, "none") && strcmp(act, "silu") && strcmp(act, "swish"))
        return ember_fail(EMBER_ERR_FORMAT, "CausalConvWithState: activation '%s'", act);
    ember_status s = eo_set_out(c, 0, x->dtype, 3, x->shape);
    if (!s) s = eo_set_out(c, 1, x->dtype, 3, st);
    return s;
}

ember_status causal_conv_state_run(eo_ctx *c) {
    const ember_tensor *x = eo_in(c, 0), *w = eo_in(c, 1), *bias = eo_in(c, 2), *ps = eo_in(c, 3);
    ember_tensor *y = eo_out(c, 0), *present = eo_out(c, 1);
    int64_t B = x->shape[0], C = x->shape[1], L = x->shape[2], K = w->shape[2], P = K - 1;
    bool silu = strcmp(eo_attr_str(c, "activation", "none"), "none") != 0;
    /* element t of the padded sequence [past (P) | input (L)] */
#define PADDED(b, ch, t) ((t) < P ? (ps ? eo_get(ps, ((b) * C + (ch)) * P + (t)) : 0.0) : eo_get(x, ((b) * C + (ch)) * L + (t) - P))
    for (int64_t b = 0; b < B; b++)
        for (int64_t ch = 0; ch < C; ch++) {
            for (int64_t t = 0; y && t < L; t++) {
                double acc = bias ? eo_get(bias, ch) : 0;
                for (int64_t k = 0; k < K; k++) acc += eo_get(w, ch * K + k) * PADDED(b, ch, t + k);
                if (silu) acc = acc / (1 + exp(-acc));
                eo_put(y, (b * C + ch) * L + t, acc);
            }
            for (int64_t t = 0; present && t < P; t++) eo_put(present, (b * C + ch) * P + t, PADDED(b, ch, L + t));
        }
#undef PADDED
    return EMBER_OK;
}

/* --- LinearAttention ---------------------------------------------------------------------------------- */
typedef struct la_cfg {
    int64_t B, T, hq, hkv, dk, dv, grp;
    bool gating, delta;
    double scale;
} la_cfg;

static ember_status la_config(eo_ctx *c, la_cfg *g) {
    const ember_tensor *q = eo_in(c, 0), *k = eo_in(c, 1), *v = eo_in(c, 2);
    if (!q || !k || !v || q->ndim != 3 || k->ndim != 3 || v->ndim != 3)
        return ember_fail(EMBER_ERR_SHAPE, "LinearAttention: query, key, value must be [B, T, H*D]");
    const char *rule = eo_attr_str(c, "update_rule", "gated_delta");
    g->gating = !strcmp(rule, "gated") || !strcmp(rule, "gated_delta");
    g->delta = !strcmp(rule, "delta") || !strcmp(rule, "gated_delta");
    if (!g->gating && !g->delta && strcmp(rule, "linear"))
        return ember_fail(EMBER_ERR_FORMAT, "LinearAttention: update_rule '%s'", rule);
    g->hq = eo_attr_int(c, "q_num_heads", 0);
    g->hkv = eo_attr_int(c, "kv_num_heads", 0);
    if (g->hq <= 0 || g->hkv <= 0 || g->hq % g->hkv || q->shape[2] % g->hq || k->shape[2] % g->hkv || v->shape[2] % g->hkv)
        return ember_fail(EMBER_ERR_SHAPE, "LinearAttention: q_num_heads/kv_num_heads do not divide the hidden sizes");
    g->B = q->shape[0], g->T = q->shape[1];
    g->dk = q->shape[2] / g->hq, g->dv = v->shape[2] / g->hkv, g->grp = g->hq / g->hkv;
    if (k->shape[0] != g->B || v->shape[0] != g->B || k->shape[1] != g->T || v->shape[1] != g->T || k->shape[2] != g->hkv * g->dk)
        return ember_fail(EMBER_ERR_SHAPE, "LinearAttention: query, key and value shapes do not match");
    if (g->gating != eo_has(c, 4)) return ember_fail(EMBER_ERR_SHAPE, "LinearAttention: '%s' %s the decay input", rule, g->gating ? "needs" : "forbids");
    if (g->delta != eo_has(c, 5)) return ember_fail(EMBER_ERR_SHAPE, "LinearAttention: '%s' %s the beta input", rule, g->delta ? "needs" : "forbids");
    if (eo_has(c, 6) && !g->delta) return ember_fail(EMBER_ERR_SHAPE, "LinearAttention: '%s' forbids erase_gate", rule);
    const ember_tensor *ps = eo_in(c, 3), *dec = eo_in(c, 4), *beta = eo_in(c, 5), *er = eo_in(c, 6);
    if (ps && (ps->ndim != 4 || ps->shape[0] != g->B || ps->shape[1] != g->hkv || ps->shape[2] != g->dk || ps->shape[3] != g->dv))
        return ember_fail(EMBER_ERR_SHAPE, "LinearAttention: past_state must be [B, H_kv, d_k, d_v]");
    if (dec && (dec->ndim != 3 || dec->shape[0] != g->B || dec->shape[1] != g->T ||
                (dec->shape[2] != g->hkv && dec->shape[2] != g->hkv * g->dk)))
        return ember_fail(EMBER_ERR_SHAPE, "LinearAttention: decay must be [B, T, H_kv] or [B, T, H_kv*d_k]");
    if (beta && (beta->ndim != 3 || beta->shape[0] != g->B || beta->shape[1] != g->T ||
                 (beta->shape[2] != g->hkv && beta->shape[2] != 1)))
        return ember_fail(EMBER_ERR_SHAPE, "LinearAttention: beta must be [B, T, H_kv] or [B, T, 1]");
    if (er && (er->ndim != 3 || er->shape[0] != g->B || er->shape[1] != g->T || er->shape[2] != g->hkv * g->dk))
        return ember_fail(EMBER_ERR_SHAPE, "LinearAttention: erase_gate must be [B, T, H_kv*d_k]");
    double sc = eo_attr_float(c, "scale", 0);
    g->scale = sc != 0 ? sc : 1.0 / sqrt((double)g->dk);
    return EMBER_OK;
}

ember_status linear_attention_infer(eo_ctx *c) {
    la_cfg g;
    ember_status s = la_config(c, &g);
    if (s) return s;
    int64_t y[3] = {g.B, g.T, g.hq * g.dv}, st[4] = {g.B, g.hkv, g.dk, g.dv};
    s = eo_set_out(c, 0, eo_dtype(c, 0), 3, y);
    if (!s) s = eo_set_out(c, 1, eo_has(c, 3) ? eo_dtype(c, 3) : eo_dtype(c, 0), 4, st);
    return s;
}

ember_status linear_attention_run(eo_ctx *c) {
    la_cfg g;
    ember_status s = la_config(c, &g);
    if (s) return s;
    const ember_tensor *q = eo_in(c, 0), *k = eo_in(c, 1), *v = eo_in(c, 2), *ps = eo_in(c, 3);
    const ember_tensor *dec = eo_in(c, 4), *beta = eo_in(c, 5), *er = eo_in(c, 6);
    ember_tensor *y = eo_out(c, 0), *present = eo_out(c, 1);
    int64_t dk = g.dk, dv = g.dv, hkv = g.hkv, T = g.T;
    double *S = eo_scratch(c, sizeof(double) * (size_t)(dk * dv + 2 * dk + 2 * dv));
    if (!S) return ember_fail(EMBER_ERR_NOMEM, "out of memory");
    double *kt = S + dk * dv, *ke = kt + dk, *vt = ke + dk, *ret = vt + dv;
    /* states are independent per (batch, kv head); each serves grp query heads */
    for (int64_t b = 0; b < g.B; b++)
        for (int64_t h = 0; h < hkv; h++) {
            for (int64_t i = 0; i < dk * dv; i++) S[i] = ps ? eo_get(ps, (b * hkv + h) * dk * dv + i) : 0;
            for (int64_t t = 0; t < T; t++) {
                int64_t row = b * T + t;
                for (int64_t d = 0; d < dk; d++) kt[d] = eo_get(k, row * hkv * dk + h * dk + d);
                for (int64_t m = 0; m < dv; m++) vt[m] = eo_get(v, row * hkv * dv + h * dv + m);
                if (g.gating) {
                    bool per_dim = dec->shape[2] != hkv; /* else one decay per head */
                    for (int64_t d = 0; d < dk; d++) {
                        double gv = per_dim ? eo_get(dec, row * hkv * dk + h * dk + d) : eo_get(dec, row * hkv + h);
                        double f = exp(gv);
                        for (int64_t m = 0; m < dv; m++) S[d * dv + m] *= f;
                    }
                }
                if (g.delta) {
                    for (int64_t d = 0; d < dk; d++) ke[d] = er ? eo_get(er, row * hkv * dk + h * dk + d) * kt[d] : kt[d];
                    double bt = beta->shape[2] == 1 ? eo_get(beta, row) : eo_get(beta, row * hkv + h);
                    for (int64_t m = 0; m < dv; m++) {
                        double r = 0;
                        for (int64_t d = 0; d < dk; d++) r += S[d * dv + m] * ke[d];
                        ret[m] = r;
                    }
                    for (int64_t m = 0; m < dv; m++) vt[m] = bt * (vt[m] - ret[m]);
                }
                for (int64_t d = 0; d < dk; d++)
                    for (int64_t m = 0; m < dv; m++) S[d * dv + m] += kt[d] * vt[m];
                for (int64_t qh = h * g.grp; y && qh < (h + 1) * g.grp; qh++)
                    for (int64_t m = 0; m < dv; m++) {
                        double acc = 0;
                        for (int64_t d = 0; d < dk; d++) acc += eo_get(q, row * g.hq * dk + qh * dk + d) * S[d * dv + m];
                        eo_put(y, row * g.hq * dv + qh * dv + m, g.scale * acc);
                    }
            }
            for (int64_t i = 0; present && i < dk * dv; i++) eo_put(present, (b * hkv + h) * dk * dv + i, S[i]);
        }
    return EMBER_OK;
}
