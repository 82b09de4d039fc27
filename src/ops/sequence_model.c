/* Building blocks of sequence models: ONNX RotaryEmbedding (23), Swish and SwiGLU (28), LinearAttention
 * and CausalConvWithState (27). Scalar references in double (float16/bfloat16 via eo_get/eo_put). */
#include "ops/op.h"

/* --- RotaryEmbedding ---------------------------------------------------------------------------------- */
typedef struct {
    int64_t B, S, H, D, rot; /* batch, sequence, heads, head size, rotated dims */
    bool bshd;               /* 4-D input is [B, H, S, D]; 3-D input is [B, S, H*D] */
} rope_p;

static ember_status rope_params(const eo_ctx *c, rope_p *p) {
    const ember_tensor *x = eo_in(c, 0), *cs = eo_in(c, 1), *sn = eo_in(c, 2), *pos = eo_in(c, 3);
    int64_t nh = eo_attr_int(c, "num_heads", 0);
    if (x->ndim == 4) {
        p->B = x->shape[0], p->H = x->shape[1], p->S = x->shape[2], p->D = x->shape[3];
    } else if (x->ndim == 3) {
        if (nh <= 0 || x->shape[2] % nh)
            return ember_fail(EMBER_ERR_SHAPE,
                              "RotaryEmbedding: 3-D input needs num_heads dividing the hidden size");
        p->B = x->shape[0], p->S = x->shape[1], p->H = nh, p->D = x->shape[2] / nh;
    } else {
        return ember_fail(EMBER_ERR_SHAPE, "RotaryEmbedding: input must be [B, H, S, D] or [B, S, H*D]");
    }
    p->bshd = x->ndim == 4;
    p->rot = eo_attr_int(c, "rotary_embedding_dim", 0);
    if (p->rot == 0) p->rot = p->D;
    if (p->rot < 0 || p->rot > p->D || p->rot % 2)
        return ember_fail(EMBER_ERR_SHAPE,
                          "RotaryEmbedding: rotary_embedding_dim must be even and at most the head size");
    int64_t half = p->rot / 2;
    if (cs->ndim < 1 || cs->ndim != sn->ndim ||
        memcmp(cs->shape, sn->shape, sizeof(int64_t) * (size_t)cs->ndim) || cs->shape[cs->ndim - 1] != half)
        return ember_fail(
            EMBER_ERR_SHAPE,
            "RotaryEmbedding: cos/sin caches must have one shape ending in rotary_embedding_dim/2 = %lld",
            (long long)half);
    if (pos) {
        if (cs->ndim != 2 || pos->ndim != 2 || pos->shape[0] != p->B || pos->shape[1] != p->S)
            return ember_fail(
                EMBER_ERR_SHAPE,
                "RotaryEmbedding: with position_ids [B, S] the caches must be [max_position, D/2]");
    } else if (cs->ndim != 3 || cs->shape[0] != p->B || cs->shape[1] != p->S) {
        return ember_fail(EMBER_ERR_SHAPE,
                          "RotaryEmbedding: without position_ids the caches must be [B, S, D/2]");
    }
    return EMBER_OK;
}

ember_status rotary_embedding_infer(eo_ctx *c) {
    ember_status chk = eo_check_inputs(c, 3);
    if (chk) return chk;
    rope_p p;
    ember_status s = rope_params(c, &p);
    if (s) return s;
    return eo_set_out_like(c, 0, 0);
}

ember_status rotary_embedding_run(eo_ctx *c) {
    const ember_tensor *x = eo_in(c, 0), *cs = eo_in(c, 1), *sn = eo_in(c, 2), *pos = eo_in(c, 3);
    ember_tensor *y = eo_out(c, 0);
    rope_p p;
    ember_status s = rope_params(c, &p);
    if (s) return s;
    bool inter = eo_attr_int(c, "interleaved", 0) != 0;
    int64_t half = p.rot / 2, npos = pos ? cs->shape[0] : 0;
    for (int64_t b = 0; b < p.B; b++)
        for (int64_t t = 0; t < p.S; t++) {
            int64_t row = b * p.S + t;
            if (pos) {
                row = (int64_t)eo_get(pos, b * p.S + t);
                if (row < 0 || row >= npos)
                    return ember_fail(EMBER_ERR_SHAPE, "RotaryEmbedding: position %lld outside the cache",
                                      (long long)row);
            }
            for (int64_t h = 0; h < p.H; h++) {
                int64_t base = p.bshd ? ((b * p.H + h) * p.S + t) * p.D : ((b * p.S + t) * p.H + h) * p.D;
                for (int64_t i = 0; i < half; i++) {
                    int64_t i1 = inter ? base + 2 * i : base + i,
                            i2 = inter ? base + 2 * i + 1 : base + half + i;
                    double co = eo_get(cs, row * half + i), si = eo_get(sn, row * half + i);
                    double x1 = eo_get(x, i1), x2 = eo_get(x, i2);
                    eo_put(y, i1, co * x1 - si * x2);
                    eo_put(y, i2, si * x1 + co * x2);
                }
                for (int64_t i = p.rot; i < p.D; i++) eo_put(y, base + i, eo_get(x, base + i));
            }
        }
    return EMBER_OK;
}

/* --- Swish, SwiGLU ------------------------------------------------------------------------------------ */
static double swish(double x, double alpha) {
    return x / (1 + exp(-alpha * x));
}

ember_status swish_infer(eo_ctx *c) {
    ember_status chk = eo_check_inputs(c, 1);
    if (chk) return chk;
    return eo_set_out_like(c, 0, 0);
}

ember_status swish_run(eo_ctx *c) {
    const ember_tensor *x = eo_in(c, 0);
    ember_tensor *y = eo_out(c, 0);
    if (!ember_dtype_is_float(x->dtype))
        return ember_fail(EMBER_ERR_UNSUPPORTED, "Swish of %s", ember_dtype_name(x->dtype));
    double alpha = eo_attr_float(c, "alpha", 1.0f);
    for (int64_t i = 0; i < ember_tensor_count(x); i++) eo_put(y, i, swish(eo_get(x, i), alpha));
    return EMBER_OK;
}

ember_status swiglu_infer(eo_ctx *c) {
    ember_status chk = eo_check_inputs(c, 2);
    if (chk) return chk;
    const ember_tensor *a = eo_in(c, 0), *b = eo_in(c, 1);
    if (a->dtype != b->dtype || !ember_dtype_is_float(a->dtype))
        return ember_fail(EMBER_ERR_SHAPE, "SwiGLU: inputs must share one float type");
    return eo_infer_bcast(c);
}

typedef struct {
    const ember_tensor *a, *b;
    ember_tensor *y;
    double alpha;
} swiglu_ctx;

static void swiglu_row(void *ctx, int64_t out_off, const int64_t *in_off, const int64_t *in_step, int64_t n) {
    const swiglu_ctx *g = ctx;
    for (int64_t i = 0; i < n; i++)
        eo_put(g->y, out_off + i,
               swish(eo_get(g->a, in_off[0] + i * in_step[0]), g->alpha) *
                   eo_get(g->b, in_off[1] + i * in_step[1]));
}

ember_status swiglu_run(eo_ctx *c) {
    swiglu_ctx g = {eo_in(c, 0), eo_in(c, 1), eo_out(c, 0), eo_attr_float(c, "alpha", 1.0f)};
    const ember_tensor *ins[2] = {g.a, g.b};
    eo_bcast b;
    ember_status s = eo_bcast_init(&b, 2, ins, g.y->ndim, g.y->shape);
    if (s) return s;
    eo_bcast_run(&b, NULL, swiglu_row, &g);
    return EMBER_OK;
}

/* --- CausalConvWithState ------------------------------------------------------------------------------ */
ember_status causal_conv_infer(eo_ctx *c) {
    ember_status chk = eo_check_inputs(c, 2);
    if (chk) return chk;
    const ember_tensor *x = eo_in(c, 0), *w = eo_in(c, 1), *b = eo_in(c, 2), *st = eo_in(c, 3);
    if (x->ndim != 3 || w->ndim != 3 || w->shape[0] != x->shape[1] || w->shape[1] != 1 || w->shape[2] < 1)
        return ember_fail(EMBER_ERR_SHAPE,
                          "CausalConvWithState: input must be [B, C, L] and weight [C, 1, k]");
    int64_t k = w->shape[2];
    if (b && (b->ndim != 1 || b->shape[0] != x->shape[1]))
        return ember_fail(EMBER_ERR_SHAPE, "CausalConvWithState: bias must be [C]");
    if (st && (st->ndim != 3 || st->shape[0] != x->shape[0] || st->shape[1] != x->shape[1] ||
               st->shape[2] != k - 1))
        return ember_fail(EMBER_ERR_SHAPE, "CausalConvWithState: past_state must be [B, C, k-1]");
    const char *act = eo_attr_str(c, "activation", "none");
    if (strcmp(act, "none") && strcmp(act, "silu") && strcmp(act, "swish"))
        return ember_fail(EMBER_ERR_FORMAT, "CausalConvWithState: unknown activation '%s'", act);
    int64_t sshape[3] = {x->shape[0], x->shape[1], k - 1};
    ember_status s = eo_set_out_like(c, 0, 0);
    if (s) return s;
    return eo_set_out(c, 1, x->dtype, 3, sshape);
}

ember_status causal_conv_run(eo_ctx *c) {
    const ember_tensor *x = eo_in(c, 0), *w = eo_in(c, 1), *b = eo_in(c, 2), *st = eo_in(c, 3);
    ember_tensor *y = eo_out(c, 0), *ys = eo_out(c, 1);
    bool silu = strcmp(eo_attr_str(c, "activation", "none"), "none") != 0;
    int64_t B = x->shape[0], C = x->shape[1], L = x->shape[2], k = w->shape[2], P = L + k - 1;
    double *pad = eo_scratch(c, sizeof(double) * (size_t)(P + 1));
    if (!pad) return ember_fail(EMBER_ERR_NOMEM, "out of memory");
    for (int64_t n = 0; n < B; n++)
        for (int64_t ch = 0; ch < C; ch++) {
            for (int64_t i = 0; i < k - 1; i++) pad[i] = st ? eo_get(st, (n * C + ch) * (k - 1) + i) : 0;
            for (int64_t i = 0; i < L; i++) pad[k - 1 + i] = eo_get(x, (n * C + ch) * L + i);
            for (int64_t t = 0; y && t < L; t++) {
                double acc = b ? eo_get(b, ch) : 0;
                for (int64_t j = 0; j < k; j++) acc += eo_get(w, ch * k + j) * pad[t + j];
                eo_put(y, (n * C + ch) * L + t, silu ? swish(acc, 1) : acc);
            }
            for (int64_t i = 0; ys && i < k - 1; i++) eo_put(ys, (n * C + ch) * (k - 1) + i, pad[L + i]);
        }
    return EMBER_OK;
}

/* --- LinearAttention ---------------------------------------------------------------------------------- */
typedef struct {
    int64_t B, T, Hq, Hkv, dk, dv;
    bool gating, delta;
    int64_t decay_last, beta_last;
} la_p;

static ember_status la_params(const eo_ctx *c, la_p *p) {
    const ember_tensor *q = eo_in(c, 0), *k = eo_in(c, 1), *v = eo_in(c, 2), *st = eo_in(c, 3),
                       *dec = eo_in(c, 4), *beta = eo_in(c, 5);
    const char *rule = eo_attr_str(c, "update_rule", "gated_delta");
    p->gating = !strcmp(rule, "gated") || !strcmp(rule, "gated_delta");
    p->delta = !strcmp(rule, "delta") || !strcmp(rule, "gated_delta");
    if (!p->gating && !p->delta && strcmp(rule, "linear"))
        return ember_fail(EMBER_ERR_FORMAT, "LinearAttention: unknown update_rule '%s'", rule);
    p->Hq = eo_attr_int(c, "q_num_heads", 0);
    p->Hkv = eo_attr_int(c, "kv_num_heads", 0);
    if (p->Hq <= 0 || p->Hkv <= 0 || p->Hq % p->Hkv)
        return ember_fail(EMBER_ERR_FORMAT,
                          "LinearAttention: q_num_heads must be a positive multiple of kv_num_heads");
    if (q->ndim != 3 || k->ndim != 3 || v->ndim != 3)
        return ember_fail(EMBER_ERR_SHAPE, "LinearAttention: query, key, value must be [B, T, H*D]");
    p->B = q->shape[0], p->T = q->shape[1];
    if (q->shape[2] % p->Hq || v->shape[2] % p->Hkv)
        return ember_fail(EMBER_ERR_SHAPE, "LinearAttention: hidden sizes not divisible by the head counts");
    p->dk = q->shape[2] / p->Hq, p->dv = v->shape[2] / p->Hkv;
    for (int i = 1; i < 3; i++)
        if (eo_in(c, i)->shape[0] != p->B || eo_in(c, i)->shape[1] != p->T)
            return ember_fail(EMBER_ERR_SHAPE, "LinearAttention: batch/sequence sizes differ");
    if (k->shape[2] != p->Hkv * p->dk)
        return ember_fail(EMBER_ERR_SHAPE, "LinearAttention: key must be [B, T, kv_num_heads*d_k]");
    if (p->gating != (dec != NULL))
        return ember_fail(EMBER_ERR_SHAPE, "LinearAttention: update_rule '%s' %s the decay input", rule,
                          p->gating ? "requires" : "forbids");
    if (p->delta != (beta != NULL))
        return ember_fail(EMBER_ERR_SHAPE, "LinearAttention: update_rule '%s' %s the beta input", rule,
                          p->delta ? "requires" : "forbids");
    if (dec) {
        p->decay_last = dec->ndim == 3 ? dec->shape[2] : -1;
        if (p->decay_last != p->Hkv && p->decay_last != p->Hkv * p->dk)
            return ember_fail(EMBER_ERR_SHAPE,
                              "LinearAttention: decay must be [B, T, H_kv] or [B, T, H_kv*d_k]");
    }
    if (beta) {
        p->beta_last = beta->ndim == 3 ? beta->shape[2] : -1;
        if (p->beta_last != p->Hkv && p->beta_last != 1)
            return ember_fail(EMBER_ERR_SHAPE, "LinearAttention: beta must be [B, T, H_kv] or [B, T, 1]");
    }
    if (st && (st->ndim != 4 || st->shape[0] != p->B || st->shape[1] != p->Hkv || st->shape[2] != p->dk ||
               st->shape[3] != p->dv))
        return ember_fail(EMBER_ERR_SHAPE, "LinearAttention: past_state must be [B, H_kv, d_k, d_v]");
    return EMBER_OK;
}

ember_status linear_attention_infer(eo_ctx *c) {
    ember_status chk = eo_check_inputs(c, 3);
    if (chk) return chk;
    la_p p;
    ember_status s = la_params(c, &p);
    if (s) return s;
    const ember_tensor *st = eo_in(c, 3);
    int64_t oshape[3] = {p.B, p.T, p.Hq * p.dv}, sshape[4] = {p.B, p.Hkv, p.dk, p.dv};
    if ((s = eo_set_out(c, 0, eo_dtype(c, 0), 3, oshape))) return s;
    return eo_set_out(c, 1, st ? st->dtype : eo_dtype(c, 0), 4, sshape);
}

ember_status linear_attention_run(eo_ctx *c) {
    const ember_tensor *q = eo_in(c, 0), *k = eo_in(c, 1), *v = eo_in(c, 2), *st = eo_in(c, 3),
                       *dec = eo_in(c, 4), *beta = eo_in(c, 5);
    ember_tensor *y = eo_out(c, 0), *ys = eo_out(c, 1);
    la_p p;
    ember_status s = la_params(c, &p);
    if (s) return s;
    double scale = eo_attr_float(c, "scale", 0);
    if (scale == 0) scale = 1 / sqrt((double)p.dk);
    int64_t group = p.Hq / p.Hkv, SS = p.dk * p.dv;
    double *S = eo_scratch(c, sizeof(double) * (size_t)(SS + p.dv + 1)), *vt = S + SS;
    if (!S) return ember_fail(EMBER_ERR_NOMEM, "out of memory");
    for (int64_t b = 0; b < p.B; b++)
        for (int64_t h = 0; h < p.Hkv; h++) {
            int64_t sbase = (b * p.Hkv + h) * SS;
            for (int64_t i = 0; i < SS; i++) S[i] = st ? eo_get(st, sbase + i) : 0;
            for (int64_t t = 0; t < p.T; t++) {
                int64_t kbase = (b * p.T + t) * p.Hkv * p.dk + h * p.dk,
                        vbase = (b * p.T + t) * p.Hkv * p.dv + h * p.dv;
                if (p.gating)
                    for (int64_t d = 0; d < p.dk; d++) {
                        double g =
                            exp(eo_get(dec, p.decay_last == p.Hkv ? (b * p.T + t) * p.Hkv + h : kbase + d));
                        for (int64_t m = 0; m < p.dv; m++) S[d * p.dv + m] *= g;
                    }
                for (int64_t m = 0; m < p.dv; m++) vt[m] = eo_get(v, vbase + m);
                if (p.delta) {
                    double bt = eo_get(beta, (b * p.T + t) * p.beta_last + (p.beta_last == 1 ? 0 : h));
                    for (int64_t m = 0; m < p.dv; m++) {
                        double r = 0;
                        for (int64_t d = 0; d < p.dk; d++) r += S[d * p.dv + m] * eo_get(k, kbase + d);
                        vt[m] = bt * (vt[m] - r);
                    }
                }
                for (int64_t d = 0; d < p.dk; d++) {
                    double kd = eo_get(k, kbase + d);
                    for (int64_t m = 0; m < p.dv; m++) S[d * p.dv + m] += kd * vt[m];
                }
                for (int64_t hq = h * group; y && hq < (h + 1) * group; hq++) {
                    int64_t qbase = (b * p.T + t) * p.Hq * p.dk + hq * p.dk,
                            obase = (b * p.T + t) * p.Hq * p.dv + hq * p.dv;
                    for (int64_t m = 0; m < p.dv; m++) {
                        double acc = 0;
                        for (int64_t d = 0; d < p.dk; d++) acc += eo_get(q, qbase + d) * S[d * p.dv + m];
                        eo_put(y, obase + m, scale * acc);
                    }
                }
            }
            for (int64_t i = 0; ys && i < SS; i++) eo_put(ys, sbase + i, S[i]);
        }
    return EMBER_OK;
}
