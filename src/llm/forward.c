/* The transformer forward pass (llama / qwen2 / qwen3), one fixed loop like llama2.c's, over a batch of
 * tokens: matrix products run over the thread pool with activations quantized once per batch row. */
#include "llm/llm_internal.h"

#include <math.h>
#include <string.h>

struct ember_llm_session {
    ember_llm *m;
    int n_ctx, n_batch, pos, n_threads;
    ember_pool *pool;
    bool own_pool;
    const quant_type *kv_qt;    /* F32, F16 or Q8_0 */
    size_t kv_row, kv_head;     /* bytes of one cached row (all KV heads) and of one head */
    uint8_t **k_cache, **v_cache; /* per layer: [n_ctx][kv_row] */
    /* batch scratch, [n_batch][...] */
    float *x, *xb, *q, *k, *v, *att, *hb, *hb2, *cosv, *sinv, *scores, *logits;
    uint8_t *act, *qact;
    size_t act_stride, qact_stride;
};

ember_llm_session_options ember_llm_session_defaults(void) {
    ember_llm_session_options o = {0};
    o.n_batch = 64;
    o.kv_type = EMBER_LLM_KV_AUTO;
    return o;
}

/* --- small kernels ---------------------------------------------------------------------------------------- */
static void rmsnorm(float *o, const float *x, const float *w, int n, float eps) {
    double ss = 0;
    for (int i = 0; i < n; i++) ss += (double)x[i] * x[i];
    float r = (float)(1.0 / sqrt(ss / n + eps));
    for (int i = 0; i < n; i++) o[i] = x[i] * r * w[i];
}

static void softmax(float *x, int n) {
    float max = x[0];
    for (int i = 1; i < n; i++)
        if (x[i] > max) max = x[i];
    double sum = 0;
    for (int i = 0; i < n; i++) {
        x[i] = expf(x[i] - max);
        sum += x[i];
    }
    float inv = (float)(1.0 / sum);
    for (int i = 0; i < n; i++) x[i] *= inv;
}

static void add_bias(float *x, const float *b, int rows, int n) {
    if (!b) return;
    for (int t = 0; t < rows; t++)
        for (int i = 0; i < n; i++) x[(size_t)t * n + i] += b[i];
}

/* --- matrix products: out[t][r] = W[r] . in[t] for up to 3 weights sharing one input -------------------- */
typedef struct mm_job {
    const lm_weight *w[3];
    float *out[3];
    int nw, T;
    const uint8_t *act;
    size_t act_stride;
    int64_t rows_before[4];
} mm_job;

enum { MM_ROWS = 16 }; /* weight rows per task */

/* Rows [begin, end) of the stacked weights: one token -> dotn (rows share the activation loads); a batch ->
 * gemm (weight blocks decoded once for several tokens; the rows stay in L1 while the tokens pass). */
static void mm_task(void *ctx, int64_t begin, int64_t end, int thread) {
    (void)thread;
    const mm_job *j = ctx;
    int wi = 0;
    for (int64_t r = begin; r < end;) {
        while (r >= j->rows_before[wi + 1]) wi++;
        const lm_weight *w = j->w[wi];
        int64_t base = j->rows_before[wi], lo = r - base;
        int64_t hi = (end < j->rows_before[wi + 1] ? end : j->rows_before[wi + 1]) - base;
        const uint8_t *wd = (const uint8_t *)w->data;
        if (j->T == 1 && w->packed8) {
            int64_t k = lo;
            for (; k < hi && k % 8; k++) j->out[wi][k] = w->qt->dot(w->cols, wd + k * w->row_bytes, j->act);
            size_t group = quant_packed8_bytes(w->qt->type, w->cols);
            for (; k + 8 <= hi; k += 8)
                w->qt->dot8(w->cols, (const uint8_t *)w->packed8 + (size_t)(k / 8) * group, j->act, j->out[wi] + k);
            for (; k < hi; k++) j->out[wi][k] = w->qt->dot(w->cols, wd + k * w->row_bytes, j->act);
        } else if (w->packed8 && w->qt->gemm8) { /* a batch over the repacked rows: 8 rows x 4 tokens per tile */
            size_t group = quant_packed8_bytes(w->qt->type, w->cols);
            int64_t k = lo, k8 = (lo + 7) / 8 * 8;
            if (k8 > hi) k8 = hi;
            if (k8 > k) w->qt->gemm(w->cols, wd + k * w->row_bytes, w->row_bytes, (int)(k8 - k), j->act, j->act_stride, j->T,
                                    j->out[wi] + k, (size_t)w->rows);
            for (k = k8; k + 8 <= hi; k += 8)
                w->qt->gemm8(w->cols, (const uint8_t *)w->packed8 + (size_t)(k / 8) * group, j->act, j->act_stride, j->T,
                             j->out[wi] + k, (size_t)w->rows);
            if (k < hi) w->qt->gemm(w->cols, wd + k * w->row_bytes, w->row_bytes, (int)(hi - k), j->act, j->act_stride,
                                    j->T, j->out[wi] + k, (size_t)w->rows);
        } else if (j->T == 1) {
            w->qt->dotn(w->cols, wd + lo * w->row_bytes, w->row_bytes, (int)(hi - lo), j->act, j->out[wi] + lo);
        } else /* weight rows x all tokens: tiles inside reuse weight blocks across tokens and tokens across rows */
            w->qt->gemm(w->cols, wd + lo * w->row_bytes, w->row_bytes, (int)(hi - lo), j->act, j->act_stride, j->T,
                        j->out[wi] + lo, (size_t)w->rows);
        r = base + hi;
    }
}

/* The weights share their input width and activation format (true for q/k/v and gate/up of one layer unless
 * a file mixes types; then call once per weight). */
static void matmul(ember_llm_session *s, int nw, const lm_weight *const *w, float *const *out, const float *in, int T) {
    const lm_weight *w0 = w[0];
    for (int i = 1; i < nw; i++)
        if (w[i]->qt->act != w0->qt->act) { /* different activation formats: one at a time */
            for (int k = 0; k < nw; k++) matmul(s, 1, &w[k], &out[k], in, T);
            return;
        }
    mm_job j = {.nw = nw, .T = T};
    act_kind ak = w0->qt->act;
    if (ak == ACT_F32) {
        j.act = (const uint8_t *)in;
        j.act_stride = (size_t)w0->cols * sizeof(float);
    } else {
        j.act = s->act;
        j.act_stride = quant_act_bytes(ak, w0->cols);
        for (int t = 0; t < T; t++) quant_act(ak, in + (size_t)t * w0->cols, s->act + (size_t)t * j.act_stride, w0->cols);
    }
    for (int i = 0; i < nw; i++) {
        j.w[i] = w[i];
        j.out[i] = out[i];
        j.rows_before[i + 1] = j.rows_before[i] + w[i]->rows;
    }
    ember_pool_for(s->pool, j.rows_before[nw], MM_ROWS, mm_task, &j);
}

static void matmul1(ember_llm_session *s, const lm_weight *w, float *out, const float *in, int T) {
    matmul(s, 1, &w, &out, in, T);
}

/* --- rope ------------------------------------------------------------------------------------------------- */
static void rope_tables(ember_llm_session *s, int T) {
    const ember_llm_info *in = &s->m->info;
    int half = in->n_rot / 2;
    for (int t = 0; t < T; t++) {
        double p = (double)(s->pos + t) / in->rope_scale;
        for (int i = 0; i < half; i++) {
            double f = pow(in->rope_theta, -2.0 * i / in->n_rot);
            if (s->m->rope_freqs) f /= s->m->rope_freqs[i];
            s->cosv[(size_t)t * half + i] = (float)cos(p * f);
            s->sinv[(size_t)t * half + i] = (float)sin(p * f);
        }
    }
}

static void rope(const ember_llm_info *in, float *x, int heads, const float *c, const float *sn) {
    int half = in->n_rot / 2;
    for (int h = 0; h < heads; h++) {
        float *v = x + (size_t)h * in->head_dim;
        for (int i = 0; i < half; i++) {
            int a = in->rope_neox ? i : 2 * i, b = in->rope_neox ? i + half : 2 * i + 1;
            float x0 = v[a], x1 = v[b];
            v[a] = x0 * c[i] - x1 * sn[i];
            v[b] = x0 * sn[i] + x1 * c[i];
        }
    }
}

/* --- attention -------------------------------------------------------------------------------------------- */
typedef struct att_job {
    ember_llm_session *s;
    int layer, T;
} att_job;

static void att_task(void *ctx, int64_t begin, int64_t end, int thread) {
    const att_job *j = ctx;
    ember_llm_session *s = j->s;
    const ember_llm_info *in = &s->m->info;
    int hd = in->head_dim, qd = in->n_head * hd, group = in->n_head / in->n_head_kv;
    float *sc = s->scores + (size_t)thread * s->n_ctx, scale = 1.0f / sqrtf((float)hd);
    const quant_type *kq = s->kv_qt;
    bool q8 = kq->act != ACT_F32;
    size_t qhead_act = q8 ? quant_act_bytes(ACT_Q8, hd) : 0;
    for (int64_t i = begin; i < end; i++) {
        int t = (int)(i / in->n_head), h = (int)(i % in->n_head), kvh = h / group, n = s->pos + t + 1;
        const void *qv = q8 ? (const void *)(s->qact + (size_t)t * s->qact_stride + (size_t)h * qhead_act)
                            : (const void *)(s->q + (size_t)t * qd + (size_t)h * hd);
        const uint8_t *kc = s->k_cache[j->layer] + (size_t)kvh * s->kv_head;
        for (int p = 0; p < n; p++) sc[p] = kq->dot(hd, kc + (size_t)p * s->kv_row, qv) * scale;
        softmax(sc, n);
        float *o = s->att + (size_t)t * qd + (size_t)h * hd;
        memset(o, 0, (size_t)hd * sizeof *o);
        const uint8_t *vc = s->v_cache[j->layer] + (size_t)kvh * s->kv_head;
        for (int p = 0; p < n; p++) kq->axpy(hd, sc[p], vc + (size_t)p * s->kv_row, o);
    }
}

static void attention(ember_llm_session *s, int l, int T) {
    const ember_llm_info *in = &s->m->info;
    const lm_layer *L = &s->m->layers[l];
    int hd = in->head_dim, qd = in->n_head * hd, kvd = in->n_head_kv * hd, half = in->n_rot / 2;
    const lm_weight *w[3] = {&L->wq, &L->wk, &L->wv};
    float *out[3] = {s->q, s->k, s->v};
    matmul(s, 3, w, out, s->xb, T);
    add_bias(s->q, L->bq, T, qd);
    add_bias(s->k, L->bk, T, kvd);
    add_bias(s->v, L->bv, T, kvd);
    for (int t = 0; t < T; t++) {
        float *q = s->q + (size_t)t * qd, *k = s->k + (size_t)t * kvd;
        if (L->q_norm)
            for (int h = 0; h < in->n_head; h++) rmsnorm(q + h * hd, q + h * hd, L->q_norm, hd, in->norm_eps);
        if (L->k_norm)
            for (int h = 0; h < in->n_head_kv; h++) rmsnorm(k + h * hd, k + h * hd, L->k_norm, hd, in->norm_eps);
        rope(in, q, in->n_head, s->cosv + (size_t)t * half, s->sinv + (size_t)t * half);
        rope(in, k, in->n_head_kv, s->cosv + (size_t)t * half, s->sinv + (size_t)t * half);
        s->kv_qt->quantize(k, s->k_cache[l] + (size_t)(s->pos + t) * s->kv_row, kvd);
        s->kv_qt->quantize(s->v + (size_t)t * kvd, s->v_cache[l] + (size_t)(s->pos + t) * s->kv_row, kvd);
        if (s->kv_qt->act != ACT_F32) quant_act(ACT_Q8, q, s->qact + (size_t)t * s->qact_stride, qd);
    }
    att_job j = {s, l, T};
    ember_pool_for(s->pool, (int64_t)T * in->n_head, 1, att_task, &j);
    matmul1(s, &L->wo, s->xb, s->att, T);
    for (size_t i = 0; i < (size_t)T * in->n_embd; i++) s->x[i] += s->xb[i];
}

static void ffn(ember_llm_session *s, int l, int T) {
    const ember_llm_info *in = &s->m->info;
    const lm_layer *L = &s->m->layers[l];
    const lm_weight *w[2] = {&L->w_gate, &L->w_up};
    float *out[2] = {s->hb, s->hb2};
    matmul(s, 2, w, out, s->xb, T);
    for (size_t i = 0; i < (size_t)T * in->n_ff; i++) {
        float g = s->hb[i];
        s->hb[i] = g / (1.0f + expf(-g)) * s->hb2[i];
    }
    matmul1(s, &L->w_down, s->xb, s->hb, T);
    for (size_t i = 0; i < (size_t)T * in->n_embd; i++) s->x[i] += s->xb[i];
}

/* T tokens (T <= n_batch) at s->pos; logits of every token to all_out[T][n_vocab], or of the last to s->logits. */
static void forward(ember_llm_session *s, const int32_t *tokens, int T, float *all_out) {
    const ember_llm *m = s->m;
    const ember_llm_info *in = &m->info;
    int e = in->n_embd;
    for (int t = 0; t < T; t++)
        m->tok_embd.qt->dequant((const uint8_t *)m->tok_embd.data + (size_t)tokens[t] * m->tok_embd.row_bytes,
                                s->x + (size_t)t * e, e);
    rope_tables(s, T);
    for (int l = 0; l < in->n_layer; l++) {
        for (int t = 0; t < T; t++)
            rmsnorm(s->xb + (size_t)t * e, s->x + (size_t)t * e, m->layers[l].attn_norm, e, in->norm_eps);
        attention(s, l, T);
        for (int t = 0; t < T; t++)
            rmsnorm(s->xb + (size_t)t * e, s->x + (size_t)t * e, m->layers[l].ffn_norm, e, in->norm_eps);
        ffn(s, l, T);
    }
    int first = all_out ? 0 : T - 1;
    for (int t = first; t < T; t++)
        rmsnorm(s->xb + (size_t)(t - first) * e, s->x + (size_t)t * e, m->output_norm, e, in->norm_eps);
    matmul1(s, &m->output, all_out ? all_out : s->logits, s->xb, T - first);
    s->pos += T;
}

static ember_status check_tokens(ember_llm_session *s, const int32_t *tokens, int n) {
    if (n < 0) return ember_fail(EMBER_ERR_ARG, "llm eval: negative token count %d", n);
    for (int i = 0; i < n; i++)
        if (tokens[i] < 0 || tokens[i] >= s->m->info.n_vocab)
            return ember_fail(EMBER_ERR_ARG, "llm eval: token %d at index %d is outside the vocabulary (0..%d)",
                              tokens[i], i, s->m->info.n_vocab - 1);
    if (n > s->n_ctx - s->pos)
        return ember_fail(EMBER_ERR_ARG, "llm eval: context full: %d tokens cached + %d new exceed n_ctx %d", s->pos, n,
                          s->n_ctx);
    return EMBER_OK;
}

ember_status ember_llm_eval(ember_llm_session *s, const int32_t *tokens, int n, const float **logits) {
    ember_status st = check_tokens(s, tokens, n);
    if (st) return st;
    for (int i = 0; i < n; i += s->n_batch) forward(s, tokens + i, n - i < s->n_batch ? n - i : s->n_batch, NULL);
    if (logits) *logits = s->logits;
    return EMBER_OK;
}

ember_status ember_llm_eval_all(ember_llm_session *s, const int32_t *tokens, int n, float *out) {
    ember_status st = check_tokens(s, tokens, n);
    if (st) return st;
    for (int i = 0; i < n; i += s->n_batch)
        forward(s, tokens + i, n - i < s->n_batch ? n - i : s->n_batch, out + (size_t)i * s->m->info.n_vocab);
    if (n) memcpy(s->logits, out + (size_t)(n - 1) * s->m->info.n_vocab, (size_t)s->m->info.n_vocab * sizeof(float));
    return EMBER_OK;
}

/* Context shift: drop cached tokens [keep, keep + discard), move the later ones down and re-rotate their keys by
 * -discard positions (rope angles add, so a key rotated for p becomes the key for p - discard). */
ember_status ember_llm_shift(ember_llm_session *s, int keep, int discard) {
    if (keep < 0 || discard < 0 || keep + discard > s->pos)
        return ember_fail(EMBER_ERR_ARG, "llm shift: keep %d + discard %d exceed the %d cached tokens", keep, discard,
                          s->pos);
    if (!discard) return EMBER_OK;
    const ember_llm_info *in = &s->m->info;
    int half = in->n_rot / 2, kvd = in->n_head_kv * in->head_dim, moved = s->pos - keep - discard;
    float *c = s->cosv, *sn = s->sinv, *row = s->k; /* scratch: n_batch >= 1 rows of each */
    for (int i = 0; i < half; i++) {
        double f = pow(in->rope_theta, -2.0 * i / in->n_rot);
        if (s->m->rope_freqs) f /= s->m->rope_freqs[i];
        c[i] = (float)cos(-(double)discard / in->rope_scale * f);
        sn[i] = (float)sin(-(double)discard / in->rope_scale * f);
    }
    for (int l = 0; l < in->n_layer; l++) {
        uint8_t *k = s->k_cache[l], *v = s->v_cache[l];
        memmove(k + (size_t)keep * s->kv_row, k + (size_t)(keep + discard) * s->kv_row, (size_t)moved * s->kv_row);
        memmove(v + (size_t)keep * s->kv_row, v + (size_t)(keep + discard) * s->kv_row, (size_t)moved * s->kv_row);
        for (int p = keep; p < keep + moved; p++) {
            uint8_t *kr = k + (size_t)p * s->kv_row;
            s->kv_qt->dequant(kr, row, kvd);
            rope(in, row, in->n_head_kv, c, sn);
            s->kv_qt->quantize(row, kr, kvd);
        }
    }
    s->pos -= discard;
    return EMBER_OK;
}

int ember_llm_pos(const ember_llm_session *s) { return s->pos; }
int ember_llm_n_ctx(const ember_llm_session *s) { return s->n_ctx; }
void ember_llm_rewind(ember_llm_session *s, int pos) {
    if (pos >= 0 && pos < s->pos) s->pos = pos;
}

/* --- session ---------------------------------------------------------------------------------------------- */
static float *falloc(size_t n, bool *ok) {
    float *p = ember_malloc_aligned((n ? n : 1) * sizeof(float));
    if (!p) *ok = false;
    return p;
}

static ember_status pick_kv(ember_llm_session *s, ember_llm_kv_type kv) {
    const ember_llm_info *in = &s->m->info;
    if (kv == EMBER_LLM_KV_AUTO) kv = in->main_type == EMBER_GGML_F32 ? EMBER_LLM_KV_F32 : EMBER_LLM_KV_F16;
    ember_ggml_type t = kv == EMBER_LLM_KV_F32 ? EMBER_GGML_F32 : kv == EMBER_LLM_KV_Q8 ? EMBER_GGML_Q8_0 : EMBER_GGML_F16;
    if (t == EMBER_GGML_Q8_0 && in->head_dim % QK)
        return ember_fail(EMBER_ERR_UNSUPPORTED, "llm session: a q8 KV cache needs a head size divisible by 32 (this "
                          "model's is %d); use f16", in->head_dim);
    s->kv_qt = quant_type_get(t);
    ember_ggml_type_bytes(t, in->head_dim, &s->kv_head);
    s->kv_row = s->kv_head * (size_t)in->n_head_kv;
    return EMBER_OK;
}

static ember_status alloc_buffers(ember_llm_session *s) {
    const ember_llm_info *in = &s->m->info;
    size_t B = (size_t)s->n_batch, e = (size_t)in->n_embd, qd = (size_t)in->n_head * in->head_dim,
           kvd = (size_t)in->n_head_kv * in->head_dim, ff = (size_t)in->n_ff;
    bool ok = true;
    s->x = falloc(B * e, &ok), s->xb = falloc(B * (e > qd ? e : qd), &ok), s->q = falloc(B * qd, &ok);
    s->k = falloc(B * kvd, &ok), s->v = falloc(B * kvd, &ok), s->att = falloc(B * qd, &ok);
    s->hb = falloc(B * ff, &ok), s->hb2 = falloc(B * ff, &ok), s->logits = falloc((size_t)in->n_vocab, &ok);
    s->cosv = falloc(B * (size_t)in->n_rot / 2, &ok), s->sinv = falloc(B * (size_t)in->n_rot / 2, &ok);
    s->scores = falloc((size_t)s->n_threads * (size_t)s->n_ctx, &ok);
    size_t widest = e > ff ? e : ff;
    if (qd > widest) widest = qd;
    s->act = ember_malloc_aligned(B * widest * 2 + 64); /* q8 formats take < 2 bytes per value */
    s->qact_stride = quant_act_bytes(ACT_Q8, (int64_t)qd);
    s->qact = ember_malloc_aligned(B * s->qact_stride + 64);
    s->k_cache = ember_calloc((size_t)in->n_layer, sizeof *s->k_cache);
    s->v_cache = ember_calloc((size_t)in->n_layer, sizeof *s->v_cache);
    if (!ok || !s->act || !s->qact || !s->k_cache || !s->v_cache) return ember_fail(EMBER_ERR_NOMEM, "llm session: out of memory");
    for (int l = 0; l < in->n_layer; l++) {
        s->k_cache[l] = ember_malloc_aligned((size_t)s->n_ctx * s->kv_row);
        s->v_cache[l] = ember_malloc_aligned((size_t)s->n_ctx * s->kv_row);
        if (!s->k_cache[l] || !s->v_cache[l])
            return ember_fail(EMBER_ERR_NOMEM, "llm session: out of memory for a KV cache of %d tokens", s->n_ctx);
    }
    return EMBER_OK;
}

ember_status ember_llm_session_create(ember_llm *m, const ember_llm_session_options *o, ember_llm_session **out) {
    *out = NULL;
    ember_llm_session_options d = ember_llm_session_defaults();
    if (!o) o = &d;
    ember_llm_session *s = ember_calloc(1, sizeof *s);
    if (!s) return ember_fail(EMBER_ERR_NOMEM, "out of memory");
    s->m = m;
    s->n_ctx = o->n_ctx > 0 ? o->n_ctx : (m->info.n_ctx_train < 4096 ? m->info.n_ctx_train : 4096);
    s->n_batch = o->n_batch > 0 ? o->n_batch : 64;
    ember_status st = EMBER_OK;
    if (o->pool) s->pool = o->pool;
    else {
        st = ember_pool_create(o->n_threads, &s->pool);
        s->own_pool = true;
    }
    if (!st) {
        s->n_threads = ember_pool_threads(s->pool);
        st = pick_kv(s, o->kv_type);
    }
    if (!st) st = alloc_buffers(s);
    if (st) {
        ember_llm_session_destroy(s);
        return st;
    }
    *out = s;
    return EMBER_OK;
}

void ember_llm_session_destroy(ember_llm_session *s) {
    if (!s) return;
    for (int l = 0; s->k_cache && l < s->m->info.n_layer; l++) ember_free_aligned(s->k_cache[l]);
    for (int l = 0; s->v_cache && l < s->m->info.n_layer; l++) ember_free_aligned(s->v_cache[l]);
    ember_free(s->k_cache);
    ember_free(s->v_cache);
    float *fs[] = {s->x, s->xb, s->q, s->k, s->v, s->att, s->hb, s->hb2, s->logits, s->cosv, s->sinv, s->scores};
    for (size_t i = 0; i < sizeof fs / sizeof fs[0]; i++) ember_free_aligned(fs[i]);
    ember_free_aligned(s->act);
    ember_free_aligned(s->qact);
    if (s->own_pool) ember_pool_destroy(s->pool);
    ember_free(s);
}
