/* ONNX Attention (opset 23): scaled dot-product attention with grouped-query heads, optional mask (bool
 * or additive), causal masking, softcap, past key/value concatenation and the QK debug output. 3-D inputs
 * (batch, seq, heads*size) use q_num_heads/kv_num_heads. Computed in double, stored as f32. */
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
                    if (mask) sc += mask_at(mask, &d, b, h, i, j);
                    if ((causal && j > i + d.past) || (nonpad && j >= nonpad[b])) sc = -INFINITY;
                    if (oqk && mode == 1) eo_put(oqk, ((b * d.qh + h) * d.Sq + i) * d.total + j, sc);
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
