/* Loading language models: GGUF (llama, qwen2, qwen3; config from metadata) and llama2.c checkpoints.
 * Every problem found while loading is collected so the error names all that is missing or unsupported. */
#include "llm/llm_internal.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>

/* Problems found while loading, joined into one message. */
typedef struct problems {
    char text[1536];
    size_t len;
    int count;
    bool unsupported_only; /* every problem is "unsupported" rather than "malformed" */
} problems;

static void problem(problems *p, bool unsupported, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void problem(problems *p, bool unsupported, const char *fmt, ...) {
    if (p->count == 0) p->unsupported_only = true;
    p->unsupported_only &= unsupported;
    p->count++;
    if (p->len + 8 >= sizeof p->text) return;
    if (p->len) p->len += (size_t)snprintf(p->text + p->len, sizeof p->text - p->len, "; ");
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(p->text + p->len, sizeof p->text - p->len, fmt, ap);
    va_end(ap);
    if (n > 0) p->len += (size_t)n;
    if (p->len >= sizeof p->text) p->len = sizeof p->text - 1;
}

static ember_status report(problems *p, const char *path) {
    return ember_fail(p->unsupported_only ? EMBER_ERR_UNSUPPORTED : EMBER_ERR_FORMAT, "%s: %s", path, p->text);
}

/* --- GGUF ------------------------------------------------------------------------------------------------- */
static int64_t meta_int(ember_llm *m, problems *p, const char *key, int64_t def, bool required) {
    char full[128];
    snprintf(full, sizeof full, "%s.%s", m->info.arch_name, key);
    if (ember_gguf_find_key(m->gguf, full) < 0) {
        if (required) problem(p, false, "metadata key '%s' is missing", full);
        return def;
    }
    int64_t v = def;
    if (ember_gguf_get_int(m->gguf, full, &v)) problem(p, false, "metadata key '%s' is not an integer", full);
    else if (v < 0 || v > (1 << 30)) problem(p, false, "metadata key '%s' = %lld is out of range", full, (long long)v);
    return v;
}

static double meta_float(ember_llm *m, problems *p, const char *key, double def) {
    char full[128];
    snprintf(full, sizeof full, "%s.%s", m->info.arch_name, key);
    double v = def;
    if (ember_gguf_find_key(m->gguf, full) >= 0 && ember_gguf_get_float(m->gguf, full, &v))
        problem(p, false, "metadata key '%s' is not a number", full);
    return v;
}

/* A 1-D tensor of n values converted to float (arena copy). NULL (and a problem, if required) when absent. */
static const float *vec(ember_llm *m, problems *p, const char *name, int64_t n, bool required) {
    const ember_gguf_tensor *t = ember_gguf_find_tensor(m->gguf, name);
    if (!t) {
        if (required) problem(p, false, "tensor '%s' is missing", name);
        return NULL;
    }
    const quant_type *qt = quant_type_get(t->type);
    if (t->count != n) {
        problem(p, false, "tensor '%s' has %lld elements, expected %lld", name, (long long)t->count, (long long)n);
        return NULL;
    }
    if (!qt) {
        problem(p, true, "tensor '%s' has unsupported type %s", name, ember_ggml_type_name(t->type));
        return NULL;
    }
    float *v = ember_arena_alloc(&m->arena, (size_t)n * sizeof(float), 64);
    if (!v) {
        problem(p, false, "out of memory");
        return NULL;
    }
    qt->dequant(t->data, v, n);
    return v;
}

static void weight(ember_llm *m, problems *p, const char *name, int64_t cols, int64_t rows, lm_weight *w,
                   bool required) {
    memset(w, 0, sizeof *w);
    const ember_gguf_tensor *t = ember_gguf_find_tensor(m->gguf, name);
    if (!t) {
        if (required) problem(p, false, "tensor '%s' is missing", name);
        return;
    }
    if (t->ndim != 2 || t->dims[0] != cols || t->dims[1] != rows) {
        problem(p, false, "tensor '%s' has shape [%lld, %lld], expected [%lld, %lld]", name, (long long)t->dims[0],
                (long long)t->dims[1], (long long)cols, (long long)rows);
        return;
    }
    w->qt = quant_type_get(t->type);
    if (!w->qt) {
        problem(p, true, "tensor '%s' has unsupported type %s", name, ember_ggml_type_name(t->type));
        return;
    }
    w->data = t->data;
    w->rows = rows;
    w->cols = cols;
    w->row_bytes = t->size / (size_t)rows;
}

static void read_hparams(ember_llm *m, problems *p) {
    ember_llm_info *in = &m->info;
    in->n_embd = (int)meta_int(m, p, "embedding_length", 0, true);
    in->n_layer = (int)meta_int(m, p, "block_count", 0, true);
    in->n_ff = (int)meta_int(m, p, "feed_forward_length", 0, true);
    in->n_head = (int)meta_int(m, p, "attention.head_count", 0, true);
    in->n_head_kv = (int)meta_int(m, p, "attention.head_count_kv", in->n_head, false);
    in->n_ctx_train = (int)meta_int(m, p, "context_length", 2048, false);
    in->head_dim = in->n_head > 0 ? in->n_embd / in->n_head : 0;
    in->head_dim = (int)meta_int(m, p, "attention.key_length", in->head_dim, false);
    in->n_rot = (int)meta_int(m, p, "rope.dimension_count", in->head_dim, false);
    in->norm_eps = (float)meta_float(m, p, "attention.layer_norm_rms_epsilon", 1e-5);
    in->rope_theta = (float)meta_float(m, p, "rope.freq_base", 10000.0);
    in->rope_scale = 1;
    char key[128];
    snprintf(key, sizeof key, "%s.rope.scaling.type", in->arch_name);
    const char *stype = NULL;
    if (ember_gguf_find_key(m->gguf, key) >= 0 && !ember_gguf_get_str(m->gguf, key, &stype) &&
        strcmp(stype, "none") != 0) {
        if (!strcmp(stype, "linear")) in->rope_scale = (float)meta_float(m, p, "rope.scaling.factor", 1.0);
        else if (strcmp(stype, "llama3") != 0) problem(p, true, "rope scaling type '%s' is not supported", stype);
    }
    if (in->rope_scale <= 0) in->rope_scale = 1;
    int64_t v = meta_int(m, p, "attention.value_length", in->head_dim, false);
    if (v != in->head_dim) problem(p, true, "value head size %lld differs from key head size %d", (long long)v, in->head_dim);
    if (in->n_embd <= 0 || in->n_layer <= 0 || in->n_ff <= 0 || in->n_head <= 0 || in->n_head_kv <= 0 ||
        in->head_dim <= 0 || in->n_head % in->n_head_kv || in->n_rot <= 0 || in->n_rot > in->head_dim || in->n_rot % 2)
        problem(p, false, "inconsistent hyperparameters (n_embd %d, n_layer %d, n_ff %d, heads %d/%d, head_dim %d, n_rot %d)",
                in->n_embd, in->n_layer, in->n_ff, in->n_head, in->n_head_kv, in->head_dim, in->n_rot);
}

static void read_layers(ember_llm *m, problems *p) {
    ember_llm_info *in = &m->info;
    int64_t e = in->n_embd, qd = (int64_t)in->n_head * in->head_dim, kvd = (int64_t)in->n_head_kv * in->head_dim;
    for (int l = 0; l < in->n_layer; l++) {
        lm_layer *L = &m->layers[l];
        char n[96];
#define NAME(s) (snprintf(n, sizeof n, "blk.%d.%s", l, s), n)
        L->attn_norm = vec(m, p, NAME("attn_norm.weight"), e, true);
        L->ffn_norm = vec(m, p, NAME("ffn_norm.weight"), e, true);
        weight(m, p, NAME("attn_q.weight"), e, qd, &L->wq, true);
        weight(m, p, NAME("attn_k.weight"), e, kvd, &L->wk, true);
        weight(m, p, NAME("attn_v.weight"), e, kvd, &L->wv, true);
        weight(m, p, NAME("attn_output.weight"), qd, e, &L->wo, true);
        weight(m, p, NAME("ffn_gate.weight"), e, in->n_ff, &L->w_gate, true);
        weight(m, p, NAME("ffn_up.weight"), e, in->n_ff, &L->w_up, true);
        weight(m, p, NAME("ffn_down.weight"), in->n_ff, e, &L->w_down, true);
        bool qwen2 = in->arch == EMBER_LLM_QWEN2, qwen3 = in->arch == EMBER_LLM_QWEN3;
        L->bq = vec(m, p, NAME("attn_q.bias"), qd, qwen2);
        L->bk = vec(m, p, NAME("attn_k.bias"), kvd, qwen2);
        L->bv = vec(m, p, NAME("attn_v.bias"), kvd, qwen2);
        L->q_norm = vec(m, p, NAME("attn_q_norm.weight"), in->head_dim, qwen3);
        L->k_norm = vec(m, p, NAME("attn_k_norm.weight"), in->head_dim, qwen3);
#undef NAME
        if (p->count > 12) return; /* enough to tell what is wrong */
    }
}

static void read_vocab_ids(ember_llm *m) {
    int64_t v;
    m->info.bos = m->info.eos = -1;
    if (!ember_gguf_get_int(m->gguf, "tokenizer.ggml.bos_token_id", &v) && v < m->info.n_vocab) m->info.bos = (int32_t)v;
    if (!ember_gguf_get_int(m->gguf, "tokenizer.ggml.eos_token_id", &v) && v < m->info.n_vocab) m->info.eos = (int32_t)v;
}

static const struct {
    const char *name;
    ember_llm_arch arch;
    bool neox;
} archs[] = {{"llama", EMBER_LLM_LLAMA, false}, {"qwen2", EMBER_LLM_QWEN2, true}, {"qwen3", EMBER_LLM_QWEN3, true}};

/* Weight types Ember has no kernel for: one problem per type, with a count and an example tensor. */
static void check_unsupported_tensors(ember_llm *m, problems *p) {
    int64_t count[EMBER_GGML_TYPE_COUNT] = {0}, first[EMBER_GGML_TYPE_COUNT];
    for (int64_t i = 0; i < ember_gguf_tensor_count(m->gguf); i++) {
        const ember_gguf_tensor *t = ember_gguf_tensor_at(m->gguf, i);
        if (quant_type_get(t->type)) continue;
        if (!count[t->type]++) first[t->type] = i;
    }
    for (int t = 0; t < EMBER_GGML_TYPE_COUNT; t++)
        if (count[t])
            problem(p, true, "weight type %s is not supported (%lld tensors, e.g. '%s'; supported: F32 F16 BF16 Q4_0 "
                    "Q4_1 Q5_0 Q5_1 Q8_0 Q2_K Q3_K Q4_K Q5_K Q6_K)", ember_ggml_type_name((ember_ggml_type)t),
                    (long long)count[t], ember_gguf_tensor_at(m->gguf, first[t])->name);
}

static ember_status load_gguf(ember_llm *m, const char *path) {
    problems p = {0};
    ember_status s = ember_gguf_open(path, &m->gguf);
    if (s) return s;
    m->info.gguf = m->gguf;
    const char *arch = NULL;
    if ((s = ember_gguf_get_str(m->gguf, "general.architecture", &arch))) return s;
    snprintf(m->info.arch_name, sizeof m->info.arch_name, "%s", arch);
    size_t a = 0;
    while (a < sizeof archs / sizeof archs[0] && strcmp(archs[a].name, arch)) a++;
    if (a == sizeof archs / sizeof archs[0])
        problem(&p, true, "architecture '%s' is not supported (supported: llama, qwen2, qwen3)", arch);
    else {
        m->info.arch = archs[a].arch;
        m->info.rope_neox = archs[a].neox;
    }
    check_unsupported_tensors(m, &p);
    if (p.count) return report(&p, path);
    read_hparams(m, &p);
    if (p.count) return report(&p, path);
    const ember_gguf_tensor *te = ember_gguf_find_tensor(m->gguf, "token_embd.weight");
    if (!te || te->ndim != 2) return ember_fail(EMBER_ERR_FORMAT, "%s: tensor 'token_embd.weight' is missing or not 2-D", path);
    if (te->dims[1] <= 0 || te->dims[1] > INT32_MAX)
        return ember_fail(EMBER_ERR_FORMAT, "%s: token_embd.weight has a vocabulary of %lld", path, (long long)te->dims[1]);
    m->info.n_vocab = (int)te->dims[1];
    weight(m, &p, "token_embd.weight", m->info.n_embd, m->info.n_vocab, &m->tok_embd, true);
    weight(m, &p, "output.weight", m->info.n_embd, m->info.n_vocab, &m->output, false);
    m->info.tied_output = !m->output.data && !ember_gguf_find_tensor(m->gguf, "output.weight");
    if (m->info.tied_output) m->output = m->tok_embd;
    m->output_norm = vec(m, &p, "output_norm.weight", m->info.n_embd, true);
    m->rope_freqs = vec(m, &p, "rope_freqs.weight", m->info.n_rot / 2, false);
    m->info.has_rope_freqs = m->rope_freqs != NULL;
    m->layers = ember_calloc((size_t)m->info.n_layer, sizeof *m->layers);
    if (!m->layers) return ember_fail(EMBER_ERR_NOMEM, "%s: out of memory", path);
    read_layers(m, &p);
    if (p.count) return report(&p, path);
    read_vocab_ids(m);
    return EMBER_OK;
}

/* --- llama2.c checkpoints ---------------------------------------------------------------------------------
 * Header: dim, hidden_dim, n_layers, n_heads, n_kv_heads, vocab_size (negative: separate classifier),
 * seq_len (int32 each); then float32 weights in a fixed order. */
static lm_weight f32_weight(const float **at, int64_t rows, int64_t cols) {
    lm_weight w = {*at, quant_type_get(EMBER_GGML_F32), rows, cols, (size_t)cols * sizeof(float), NULL};
    *at += rows * cols;
    return w;
}

static ember_status load_llama2c(ember_llm *m, const char *path) {
    ember_status s = ember_map_open(path, &m->map);
    if (s) return s;
    int32_t h[7];
    if (m->map.size < sizeof h) return ember_fail(EMBER_ERR_FORMAT, "%s: not a GGUF file or llama2.c checkpoint (too short)", path);
    memcpy(h, m->map.data, sizeof h);
    int64_t dim = h[0], ff = h[1], nl = h[2], nh = h[3], nkv = h[4], vocab = h[5] < 0 ? -(int64_t)h[5] : h[5], seq = h[6];
    bool shared = h[5] > 0;
    if (dim <= 0 || ff <= 0 || nl <= 0 || nh <= 0 || nkv <= 0 || vocab <= 0 || seq <= 0 || dim % nh || nh % nkv ||
        (dim / nh) % 2 || dim > (1 << 20) || ff > (1 << 22) || nl > 4096 || vocab > (1 << 24) || seq > (1 << 24))
        return ember_fail(EMBER_ERR_FORMAT, "%s: not a GGUF file, and not a plausible llama2.c checkpoint (header "
                          "dim %d hidden %d layers %d heads %d/%d vocab %d seq %d)", path, h[0], h[1], h[2], h[3], h[4], h[5], h[6]);
    int64_t hd = dim / nh, kvd = nkv * hd;
    int64_t per_layer = 2 * dim + dim * dim * 2 + 2 * dim * kvd + 3 * dim * ff;
    int64_t floats = vocab * dim + nl * per_layer + dim + seq * hd + (shared ? 0 : vocab * dim);
    uint64_t need = sizeof h + (uint64_t)floats * 4;
    if (m->map.size != need)
        return ember_fail(EMBER_ERR_FORMAT, "%s: llama2.c checkpoint should be %llu bytes for its header, is %zu", path,
                          (unsigned long long)need, m->map.size);
    ember_llm_info *in = &m->info;
    in->arch = EMBER_LLM_LLAMA;
    snprintf(in->arch_name, sizeof in->arch_name, "llama");
    in->n_embd = (int)dim, in->n_ff = (int)ff, in->n_layer = (int)nl, in->n_head = (int)nh, in->n_head_kv = (int)nkv;
    in->n_vocab = (int)vocab, in->n_ctx_train = (int)seq, in->head_dim = (int)hd, in->n_rot = (int)hd;
    in->norm_eps = 1e-5f, in->rope_theta = 10000, in->rope_scale = 1;
    in->tied_output = shared, in->bos = 1, in->eos = 2;
    m->layers = ember_calloc((size_t)nl, sizeof *m->layers);
    if (!m->layers) return ember_fail(EMBER_ERR_NOMEM, "%s: out of memory", path);
    const float *at = (const float *)(m->map.data + sizeof h);
    m->tok_embd = f32_weight(&at, vocab, dim);
    /* the file groups each kind of tensor over all layers */
    for (int l = 0; l < nl; l++) m->layers[l].attn_norm = at + l * dim;
    at += nl * dim;
    for (int l = 0; l < nl; l++) m->layers[l].wq = f32_weight(&at, dim, dim);
    for (int l = 0; l < nl; l++) m->layers[l].wk = f32_weight(&at, kvd, dim);
    for (int l = 0; l < nl; l++) m->layers[l].wv = f32_weight(&at, kvd, dim);
    for (int l = 0; l < nl; l++) m->layers[l].wo = f32_weight(&at, dim, dim);
    for (int l = 0; l < nl; l++) m->layers[l].ffn_norm = at + l * dim;
    at += nl * dim;
    for (int l = 0; l < nl; l++) m->layers[l].w_gate = f32_weight(&at, ff, dim);
    for (int l = 0; l < nl; l++) m->layers[l].w_down = f32_weight(&at, dim, ff);
    for (int l = 0; l < nl; l++) m->layers[l].w_up = f32_weight(&at, ff, dim);
    m->output_norm = at;
    at += dim + seq * hd; /* skip the legacy freq_cis tables */
    m->output = shared ? m->tok_embd : f32_weight(&at, vocab, dim);
    return EMBER_OK;
}

/* --- common ----------------------------------------------------------------------------------------------- */
static void summarize(ember_llm *m) {
    ember_llm_info *in = &m->info;
    uint64_t bytes_by_type[EMBER_GGML_TYPE_COUNT] = {0};
    const lm_weight *all[] = {&m->tok_embd, &m->output};
    for (int i = 0; i < 2; i++) {
        if (i == 1 && in->tied_output) break;
        bytes_by_type[all[i]->qt->type] += all[i]->row_bytes * (uint64_t)all[i]->rows;
        in->n_params += (uint64_t)(all[i]->rows * all[i]->cols);
    }
    for (int l = 0; l < in->n_layer; l++) {
        const lm_weight *ws[] = {&m->layers[l].wq, &m->layers[l].wk, &m->layers[l].wv, &m->layers[l].wo,
                                 &m->layers[l].w_gate, &m->layers[l].w_up, &m->layers[l].w_down};
        for (int i = 0; i < 7; i++) {
            bytes_by_type[ws[i]->qt->type] += ws[i]->row_bytes * (uint64_t)ws[i]->rows;
            in->n_params += (uint64_t)(ws[i]->rows * ws[i]->cols);
        }
    }
    uint64_t best = 0;
    for (int t = 0; t < EMBER_GGML_TYPE_COUNT; t++) {
        in->weight_bytes += bytes_by_type[t];
        if (bytes_by_type[t] > best) {
            best = bytes_by_type[t];
            in->main_type = (ember_ggml_type)t;
        }
    }
}

static ember_status pack_weights(ember_llm *m);

ember_status ember_llm_open(const char *path, ember_llm **out) {
    *out = NULL;
    ember_llm *m = ember_calloc(1, sizeof *m);
    if (!m) return ember_fail(EMBER_ERR_NOMEM, "out of memory");
    ember_arena_init(&m->arena, 1 << 16);
    ember_map probe;
    ember_status s = ember_map_open(path, &probe);
    if (!s) {
        bool gguf = probe.size >= 4 && !memcmp(probe.data, "GGUF", 4);
        ember_map_close(&probe);
        s = gguf ? load_gguf(m, path) : load_llama2c(m, path);
    }
    if (s) {
        ember_llm_close(m);
        return s;
    }
    summarize(m);
    s = pack_weights(m);
    if (s) {
        ember_llm_close(m);
        return s;
    }
    *out = m;
    return EMBER_OK;
}

/* Weights whose type has an 8-row interleaved kernel on this CPU get a repacked copy (generation and prompt
 * batches use it; the file's rows stay for row ranges that are not whole groups of 8). All copies share one
 * buffer, 2 MiB-aligned and advised for transparent huge pages: generation streams it once per token, and with
 * 4 KiB pages every 4 KiB costs a TLB miss (dot8 ran ~20% faster per CPU second on huge pages here). */
static size_t packed_bytes(const lm_weight *w) {
    if (!w->data || !w->qt->pack8 || w->rows % 8) return 0;
    return (size_t)(w->rows / 8) * quant_packed8_bytes(w->qt->type, w->cols);
}

static void pack_one(lm_weight *w, uint8_t **at) {
    size_t bytes = packed_bytes(w), group = quant_packed8_bytes(w->qt->type, w->cols);
    if (!bytes) return;
    w->packed8 = *at;
    *at += (bytes + 63) & ~(size_t)63;
    for (int64_t r = 0; r < w->rows; r += 8)
        w->qt->pack8((const uint8_t *)w->data + r * w->row_bytes, w->row_bytes, w->cols,
                     (uint8_t *)w->packed8 + (size_t)(r / 8) * group);
}

/* The file's copy of a packed weight is read again only for row ranges that are not whole groups of 8 (or a tied
 * embedding's rows): its pages leave resident memory (the page cache keeps them while memory allows). */
static void drop_file_rows(const ember_llm *m, const lm_weight *w) {
    if (!w->packed8) return;
    size_t n = (size_t)w->rows * w->row_bytes;
    if (m->gguf) ember_gguf_drop(m->gguf, w->data, n);
    else ember_map_drop(&m->map, w->data, n);
}

static ember_status pack_weights(ember_llm *m) {
    enum { HUGE = 2 << 20 };
    size_t total = (packed_bytes(&m->output) + 63) & ~(size_t)63;
    for (int l = 0; l < m->info.n_layer; l++) {
        lm_layer *L = &m->layers[l];
        lm_weight *ws[] = {&L->wq, &L->wk, &L->wv, &L->wo, &L->w_gate, &L->w_up, &L->w_down};
        for (int i = 0; i < 7; i++) total += (packed_bytes(ws[i]) + 63) & ~(size_t)63;
    }
    if (!total) return EMBER_OK;
    m->packed = ember_malloc(total + HUGE);
    if (!m->packed) return ember_fail(EMBER_ERR_NOMEM, "llm: out of memory repacking weights (%zu MB)", total >> 20);
    uint8_t *at = (uint8_t *)(((uintptr_t)m->packed + HUGE - 1) & ~(uintptr_t)(HUGE - 1));
#if defined(MADV_HUGEPAGE)
    madvise(at, total, MADV_HUGEPAGE); /* a hint: failure changes nothing */
#endif
    pack_one(&m->output, &at);
    drop_file_rows(m, &m->output);
    for (int l = 0; l < m->info.n_layer; l++) {
        lm_layer *L = &m->layers[l];
        lm_weight *ws[] = {&L->wq, &L->wk, &L->wv, &L->wo, &L->w_gate, &L->w_up, &L->w_down};
        for (int i = 0; i < 7; i++) {
            pack_one(ws[i], &at);
            drop_file_rows(m, ws[i]);
        }
    }
    return EMBER_OK;
}

void ember_llm_close(ember_llm *m) {
    if (!m) return;
    ember_free(m->packed);
    ember_gguf_close(m->gguf);
    ember_map_close(&m->map);
    ember_arena_free(&m->arena);
    ember_free(m->layers);
    ember_free(m);
}

const ember_llm_info *ember_llm_info_get(const ember_llm *m) { return &m->info; }
