/* ONNX Attention (opset 23): scaled dot-product attention with grouped-query heads, optional mask (bool
 * or additive), causal masking, softcap, past key/value concatenation and the QK debug output. 3-D inputs
 * (batch, seq, heads*size) use q_num_heads/kv_num_heads. Computed in double, stored as f32. With softcap,
 * qk_matmul_output_mode 1 reports the capped scores before the mask (as the reference does). */
#include "ops/op.h"

typedef struct att_dims {
    bool is3d;
    int64_t B, qh, kvh, Sq, Skv, past, total, hs, vhs;
} att_dims;

static ember_status att_dims_get(eo_ctx *c, att_dims *d) {
    const ember_tensor *q = eo_in(c, 0), *k = eo_in(c, 1), *v = eo_in(c, 2), *pk = eo_in(c, 4);
    d->is3d = q->ndim == 3;
    if ((q->ndim != 3 && q->ndim != 4) || k->ndim != q->ndim || v->ndim != q->ndim)
        return ember_fail(EMBER_ERR_SHAPE, "Attention: Q, K, V must all be 3-D or 4-D");
    d->B = q->shape[0];
    if (d->is3d) {
        d->qh = eo_attr_int(c, "q_num_heads", 0);
        d->kvh = eo_attr_int(c, "kv_num_heads", 0);
        if (d->qh < 1 || d->kvh < 1 || q->shape[2] % d->qh || k->shape[2] % d->kvh || v->shape[2] % d->kvh)
            return ember_fail(EMBER_ERR_SHAPE, "Attention: 3-D inputs need q_num_heads and kv_num_heads dividing the hidden sizes");
        d->Sq = q->shape[1];
        d->Skv = k->shape[1];
        d->hs = q->shape[2] / d->qh;
        d->vhs = v->shape[2] / d->kvh;
    } else {
        d->qh = q->shape[1];
        d->kvh = k->shape[1];
        d->Sq = q->shape[2];
        d->Skv = k->shape[2];
        d->hs = q->shape[3];
        d->vhs = v->shape[3];
    }
    if (d->kvh < 1 || d->qh % d->kvh) return ember_fail(EMBER_ERR_SHAPE, "Attention: %lld query heads for %lld kv heads", (long long)d->qh, (long long)d->kvh);
    d->past = pk ? pk->shape[2] : 0;
    d->total = d->past + d->Skv;
    return EMBER_OK;
}

ember_status attention_infer(eo_ctx *c) {
    att_dims d;
    ember_status s = att_dims_get(c, &d);
    if (s) return s;
    ember_dtype t = eo_dtype(c, 0);
    int64_t y3[3] = {d.B, d.Sq, d.qh * d.vhs}, y4[4] = {d.B, d.qh, d.Sq, d.vhs};
    int64_t pk[4] = {d.B, d.kvh, d.total, d.hs}, pv[4] = {d.B, d.kvh, d.total, d.vhs}, qk[4] = {d.B, d.qh, d.Sq, d.total};
    if ((s = d.is3d ? eo_set_out(c, 0, t, 3, y3) : eo_set_out(c, 0, t, 4, y4))) return s;
    if (!s) s = eo_set_out(c, 1, eo_dtype(c, 1), 4, pk);
    if (!s) s = eo_set_out(c, 2, eo_dtype(c, 2), 4, pv);
    if (!s) s = eo_set_out(c, 3, t, 4, qk);
    return s;
}

/* Element (b, h, s, i) of a Q/K/V input in either layout. */
static double at(const ember_tensor *t, bool is3d, int64_t heads, int64_t b, int64_t h, int64_t s, int64_t i, int64_t hs) {
    if (is3d) return eo_get(t, (b * t->shape[1] + s) * t->shape[2] + h * hs + i);
    return eo_get(t, ((b * heads + h) * t->shape[2] + s) * hs + i);
}

/* Key/value at total position p: from past (4-D) or the new input. */
static double kv_at(const ember_tensor *past, const ember_tensor *cur, const att_dims *d, int64_t b, int64_t h, int64_t p,
                    int64_t i, int64_t hs) {
    if (p < d->past) return eo_get(past, ((b * d->kvh + h) * d->past + p) * hs + i);
    return at(cur, d->is3d, d->kvh, b, h, p - d->past, i, hs);
}

/* Additive mask value for (b, h, i, j) from a mask broadcast to (B, qh, Sq, total). */
static double mask_at(const ember_tensor *m, const att_dims *d, int64_t b, int64_t h, int64_t i, int64_t j) {
    int64_t idx[4] = {b, h, i, j}, full[4] = {d->B, d->qh, d->Sq, d->total}, off = 0, mul = 1;
    for (int k = 3; k >= 0; k--) {
        int md = k - (4 - m->ndim);
        if (md < 0) break;
        int64_t dim = m->shape[md];
        if (k == 3 && j >= dim) return -INFINITY; /* positions past the mask's end */
        if (dim != 1) off += idx[k] * mul;
        mul *= dim;
        (void)full;
    }
    if (m->dtype == EMBER_DTYPE_BOOL) return ((const uint8_t *)m->data)[off] ? 0 : -INFINITY;
    return eo_get(m, off);
}

ember_status attention_run(eo_ctx *c) {
    const ember_tensor *q = eo_in(c, 0), *k = eo_in(c, 1), *v = eo_in(c, 2), *mask = eo_in(c, 3);
    const ember_tensor *pk = eo_in(c, 4), *pv = eo_in(c, 5);
    ember_tensor *y = eo_out(c, 0), *ok = eo_out(c, 1), *ov = eo_out(c, 2), *oqk = eo_out(c, 3);
    const ember_tensor *np = eo_in(c, 6);
    if (np && (np->dtype != EMBER_DTYPE_I64 || ember_tensor_count(np) != q->shape[0]))
        return ember_fail(EMBER_ERR_SHAPE, "Attention: nonpad_kv_seqlen must be int64 with one value per batch");
    const int64_t *nonpad = np ? np->data : NULL;
    att_dims d;
    ember_status s = att_dims_get(c, &d);
    if (s) return s;
    double scale = eo_attr_float(c, "scale", 0), softcap = eo_attr_float(c, "softcap", 0);
    if (scale == 0) scale = 1 / sqrt((double)d.hs);
    bool causal = eo_attr_int(c, "is_causal", 0);
    int64_t mode = eo_attr_int(c, "qk_matmul_output_mode", 0), group = d.qh / d.kvh;
    double *row = eo_scratch(c, sizeof(double) * (size_t)(d.total + 1));
    if (!row) return ember_fail(EMBER_ERR_NOMEM, "out of memory");
    for (int64_t b = 0; b < d.B; b++) {
        /* causal masking is bottom-right aligned: query i sees keys j <= i + offset, where offset counts the
         * valid keys before this block (past_key's length, or nonpad_kv_seqlen - Sq for a static cache) */
        int64_t offset = pk ? d.past : nonpad ? nonpad[b] - d.Sq : 0;
        for (int64_t h = 0; h < d.kvh; h++)
            for (int64_t p = 0; p < d.total; p++) {
                for (int64_t i = 0; ok && i < d.hs; i++) eo_put(ok, ((b * d.kvh + h) * d.total + p) * d.hs + i, kv_at(pk, k, &d, b, h, p, i, d.hs));
                for (int64_t i = 0; ov && i < d.vhs; i++) eo_put(ov, ((b * d.kvh + h) * d.total + p) * d.vhs + i, kv_at(pv, v, &d, b, h, p, i, d.vhs));
            }
        for (int64_t h = 0; h < d.qh; h++) {
            int64_t kh = h / group;
            for (int64_t i = 0; i < d.Sq; i++) {
                double mx = -INFINITY;
                for (int64_t j = 0; j < d.total; j++) {
                    double dot = 0;
                    for (int64_t e = 0; e < d.hs; e++) dot += at(q, d.is3d, d.qh, b, h, i, e, d.hs) * kv_at(pk, k, &d, b, kh, j, e, d.hs);
                    double sc = dot * scale;
                    if (oqk && mode == 0) eo_put(oqk, ((b * d.qh + h) * d.Sq + i) * d.total + j, sc);
                    if (softcap > 0) sc = softcap * tanh(sc / softcap);
                    if (oqk && mode == 1 && softcap > 0) eo_put(oqk, ((b * d.qh + h) * d.Sq + i) * d.total + j, sc);
                    if (mask) sc += mask_at(mask, &d, b, h, i, j);
                    if ((causal && j > i + offset) || (nonpad && j >= nonpad[b])) sc = -INFINITY;
                    if (oqk && mode == 1 && !(softcap > 0)) eo_put(oqk, ((b * d.qh + h) * d.Sq + i) * d.total + j, sc);
                    if (oqk && mode == 2) eo_put(oqk, ((b * d.qh + h) * d.Sq + i) * d.total + j, sc);
                    row[j] = sc;
                    if (sc > mx) mx = sc;
                }
                double sum = 0;
                for (int64_t j = 0; j < d.total; j++) sum += row[j] = isinf(mx) && mx < 0 ? 0 : exp(row[j] - mx);
                for (int64_t j = 0; j < d.total; j++) {
                    row[j] = sum > 0 ? row[j] / sum : 0;
                    if (oqk && mode == 3) eo_put(oqk, ((b * d.qh + h) * d.Sq + i) * d.total + j, row[j]);
                }
                for (int64_t e = 0; e < d.vhs; e++) {
                    double acc = 0;
                    for (int64_t j = 0; j < d.total; j++) acc += row[j] * kv_at(pv, v, &d, b, kh, j, e, d.vhs);
                    int64_t at_y = d.is3d ? (b * d.Sq + i) * d.qh * d.vhs + h * d.vhs + e : ((b * d.qh + h) * d.Sq + i) * d.vhs + e;
                    eo_put(y, at_y, acc);
                }
            }
        }
    }
    return EMBER_OK;
}

/* --- FusedAttention (domain "ember"): what the graph pass makes of MatMul -> [Add] -> Softmax -> MatMul
 * ------- Inputs Q [..., Lq, D], Kt [..., D, Lk], V [..., Lk, Dv] and an optional additive mask that
 * broadcasts to
 * [..., Lq, Lk]; attribute alpha (the scale the first MatMul took in its epilogue). Y = softmax(alpha Q Kt +
 * mask) V over the last axis, batch dims broadcast as MatMul's. f32 runs block by block of query rows: the
 * [Lq, Lk] scores of a block live in a buffer of the thread and never reach memory as a whole tensor. */

typedef struct fa_shape {
    int64_t Lq, D, Lk, Dv, mrow, mcol; /* mrow / mcol: the mask's strides along Lq / Lk (0: broadcast) */
    int nb;                            /* batch rank of the output */
    int64_t batch[EMBER_MAX_DIMS];
    int64_t st[4][EMBER_MAX_DIMS]; /* per input (Q, Kt, V, mask): element stride of each batch dim, 0 =
                                      broadcast */
} fa_shape;

static ember_status fa_plan(const ember_tensor *const t[4], fa_shape *p) {
    static const char *const names[4] = {"Q", "K", "V", "mask"};
    for (int i = 0; i < 3; i++)
        if (t[i]->ndim < 2)
            return ember_fail(EMBER_ERR_SHAPE, "FusedAttention: %s has rank %d", names[i], t[i]->ndim);
    const ember_tensor *q = t[0], *k = t[1], *v = t[2], *m = t[3];
    p->Lq = q->shape[q->ndim - 2], p->D = q->shape[q->ndim - 1];
    p->Lk = k->shape[k->ndim - 1], p->Dv = v->shape[v->ndim - 1];
    if (k->shape[k->ndim - 2] != p->D || v->shape[v->ndim - 2] != p->Lk)
        return ember_fail(
            EMBER_ERR_SHAPE,
            "FusedAttention: Q [.., %lld, %lld], K [.., %lld, %lld] and V [.., %lld, %lld] do not chain",
            (long long)p->Lq, (long long)p->D, (long long)k->shape[k->ndim - 2], (long long)p->Lk,
            (long long)v->shape[v->ndim - 2], (long long)p->Dv);
    int n = m ? 4 : 3;
    p->nb = 0;
    for (int i = 0; i < n; i++)
        if (t[i]->ndim - 2 > p->nb) p->nb = t[i]->ndim - 2;
    for (int d = 0; d < p->nb; d++) { /* the broadcast batch: each operand's dim is 1 or the largest */
        p->batch[d] = 1;
        for (int pass = 0; pass < 2; pass++)
            for (int i = 0; i < n; i++) {
                int at = d - (p->nb - (t[i]->ndim - 2));
                int64_t dim = at >= 0 ? t[i]->shape[at] : 1;
                if (!pass && dim > p->batch[d]) p->batch[d] = dim;
                if (pass && dim != 1 && dim != p->batch[d])
                    return ember_fail(EMBER_ERR_SHAPE,
                                      "FusedAttention: %s's batch dim %d (%lld) does not broadcast to %lld",
                                      names[i], d, (long long)dim, (long long)p->batch[d]);
            }
    }
    for (int i = 0; i < n; i++) {
        int64_t str[EMBER_MAX_DIMS];
        ember_shape_strides(t[i]->ndim, t[i]->shape, str);
        for (int d = 0; d < p->nb; d++) {
            int at = d - (p->nb - (t[i]->ndim - 2));
            p->st[i][d] = at >= 0 && t[i]->shape[at] != 1 ? str[at] : 0;
        }
    }
    p->mrow = p->mcol = 0;
    if (m) { /* the mask's own last two dims (a mask of rank < 2 has only the columns, or nothing) */
        int64_t cols = m->ndim >= 1 ? m->shape[m->ndim - 1] : 1,
                rows = m->ndim >= 2 ? m->shape[m->ndim - 2] : 1;
        if ((cols != 1 && cols != p->Lk) || (rows != 1 && rows != p->Lq))
            return ember_fail(EMBER_ERR_SHAPE, "FusedAttention: a mask of %lldx%lld for %lldx%lld scores",
                              (long long)rows, (long long)cols, (long long)p->Lq, (long long)p->Lk);
        p->mcol = cols != 1;
        p->mrow = rows != 1 ? cols : 0;
    }
    return EMBER_OK;
}

ember_status fused_attention_infer(eo_ctx *c) {
    const ember_tensor *t[4] = {eo_in(c, 0), eo_in(c, 1), eo_in(c, 2), eo_in(c, 3)};
    fa_shape p;
    ember_status s = fa_plan(t, &p);
    if (s) return s;
    int64_t shape[EMBER_MAX_DIMS];
    memcpy(shape, p.batch, sizeof(int64_t) * (size_t)p.nb);
    shape[p.nb] = p.Lq, shape[p.nb + 1] = p.Dv;
    return eo_set_out(c, 0, eo_dtype(c, 0), p.nb + 2, shape);
}

/* Offsets of batch bi in each input. */
static void fa_offsets(const fa_shape *p, int64_t bi, int64_t off[4]) {
    off[0] = off[1] = off[2] = off[3] = 0;
    for (int d = p->nb - 1; d >= 0; d--) {
        int64_t i = bi % p->batch[d];
        bi /= p->batch[d];
        for (int k = 0; k < 4; k++) off[k] += i * p->st[k][d];
    }
}

/* The reference: each row's scores in double. */
static void fa_reference(const fa_shape *p, const ember_tensor *const t[4], ember_tensor *y, double alpha,
                         double *row, int64_t batches) {
    for (int64_t bi = 0; bi < batches; bi++) {
        int64_t off[4];
        fa_offsets(p, bi, off);
        for (int64_t r = 0; r < p->Lq; r++) {
            double mx = -INFINITY;
            for (int64_t i = 0; i < p->Lk; i++) {
                double dot = 0;
                for (int64_t e = 0; e < p->D; e++)
                    dot += eo_get(t[0], off[0] + r * p->D + e) * eo_get(t[1], off[1] + e * p->Lk + i);
                /* the unfused graph rounds the scaled product to f32 before adding the mask */
                row[i] = (float)(dot * alpha) + (t[3] ? eo_get(t[3], off[3] + r * p->mrow + i * p->mcol) : 0);
                if (row[i] > mx) mx = row[i];
            }
            double sum = 0;
            for (int64_t i = 0; i < p->Lk; i++) sum += row[i] = exp(row[i] - (isinf(mx) ? 0 : mx));
            for (int64_t e = 0; e < p->Dv; e++) {
                double acc = 0;
                for (int64_t i = 0; i < p->Lk; i++)
                    acc += row[i] / sum * eo_get(t[2], off[2] + i * p->Dv + e);
                eo_put(y, (bi * p->Lq + r) * p->Dv + e, acc);
            }
        }
    }
}

ember_status fused_attention_run(eo_ctx *c) {
    const ember_tensor *t[4] = {eo_in(c, 0), eo_in(c, 1), eo_in(c, 2), eo_in(c, 3)};
    ember_tensor *y = eo_out(c, 0);
    for (int i = 0; i < 4; i++)
        if (t[i] && t[i]->dtype != EMBER_DTYPE_F32)
            return ember_fail(EMBER_ERR_UNSUPPORTED, "FusedAttention: input %d is %s, not float", i,
                              ember_dtype_name(t[i]->dtype));
    fa_shape p;
    ember_status s = fa_plan(t, &p);
    if (s) return s;
    int64_t batches = 1;
    for (int d = 0; d < p.nb; d++) batches *= p.batch[d];
    float alpha = eo_attr_float(c, "alpha", 1.0f);
    if (!batches || !p.Lq || !p.Dv) return EMBER_OK;
    if (!p.Lk) { /* no keys: the written-out graph's last MatMul sums nothing */
        memset(y->data, 0, y->nbytes);
        return EMBER_OK;
    }
    if (eo_reference()) {
        double *row = eo_scratch(c, sizeof(double) * (size_t)p.Lk);
        if (!row) return ember_fail(EMBER_ERR_NOMEM, "out of memory");
        fa_reference(&p, t, y, alpha, row, batches);
        return EMBER_OK;
    }
    int64_t(*off)[4] = eo_scratch(c, sizeof *off * (size_t)batches);
    if (!off) return ember_fail(EMBER_ERR_NOMEM, "out of memory");
    for (int64_t b = 0; b < batches; b++) fa_offsets(&p, b, off[b]);
    ember_attention a = {.Lq = p.Lq,
                         .D = p.D,
                         .Lk = p.Lk,
                         .Dv = p.Dv,
                         .mrow = p.mrow,
                         .mcol = p.mcol,
                         .alpha = alpha,
                         .q = t[0]->data,
                         .kt = t[1]->data,
                         .v = t[2]->data,
                         .mask = t[3] ? t[3]->data : NULL,
                         .y = y->data,
                         .offsets = (const int64_t(*)[4])off};
    if (!ember_attention_f32(c->pool, &a, batches))
        return ember_fail(EMBER_ERR_NOMEM,
                          "FusedAttention: no memory for the scores of %lld rows of %lld keys",
                          (long long)p.Lq, (long long)p.Lk);
    return EMBER_OK;
}
