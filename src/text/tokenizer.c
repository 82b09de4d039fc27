/* The tokenizer's public API: opening (format detection), the encode pipeline (added tokens, normalizer,
 * pre-tokenizer, model, post-processor), batch encoding on the thread pool, decoding and lookups. */
#include "text/tok.h"

#include "core/mapfile.h"
#include "ember/gguf.h"
#include "text/utf8.h"

#include <stdio.h>

char *tk_strdup(ember_tokenizer *tok, const char *s, size_t n) { return ember_arena_strdup(&tok->arena, s, n); }

/* ---------------------------------------------------------------------------------------------------- */
/* Opening and closing */

static ember_tokenizer *tok_new(void) {
    ember_tokenizer *tok = ember_calloc(1, sizeof *tok);
    if (!tok) return NULL;
    ember_arena_init(&tok->arena, 1 << 20);
    for (int k = 0; k < EMBER_TOKEN_KINDS; k++) tok->specials[k] = -1;
    tok->model.unk = -1;
    for (int b = 0; b < 256; b++) tok->model.byte_id[b] = -1;
    pthread_mutex_init(&tok->ctx_lock, NULL);
    return tok;
}

static void ctx_free(tk_ctx *c);

void ember_tokenizer_close(ember_tokenizer *tok) {
    if (!tok) return;
    for (int i = 0; i < tok->nnorms; i++) ember_regex_free(tok->norms[i].re);
    for (int i = 0; i < tok->npres; i++) ember_regex_free(tok->pres[i].re);
    for (int i = 0; i < tok->ndecs; i++) ember_regex_free(tok->decs[i].re);
    tk_model_free(&tok->model);
    tk_strmap_free(&tok->added_map);
    ember_free(tok->is_special);
    for (int i = 0; i < tok->nfree_ctx; i++) {
        ctx_free(tok->free_ctx[i]);
        ember_free(tok->free_ctx[i]);
    }
    pthread_mutex_destroy(&tok->ctx_lock);
    ember_arena_free(&tok->arena);
    ember_free(tok);
}

static ember_status finish_or_close(ember_tokenizer *tok, ember_status s, ember_tokenizer **out) {
    if (!s) s = tk_finish(tok);
    if (s) {
        ember_tokenizer_close(tok);
        return s;
    }
    *out = tok;
    return EMBER_OK;
}

ember_status ember_tokenizer_from_json(const char *json, size_t len, const char *name, ember_tokenizer **out) {
    if (!out) return ember_fail(EMBER_ERR_ARG, "ember_tokenizer_from_json: out is NULL");
    *out = NULL;
    if (!json && len) return ember_fail(EMBER_ERR_ARG, "ember_tokenizer_from_json: json is NULL");
    ember_tokenizer *tok = tok_new();
    if (!tok) return ember_fail(EMBER_ERR_NOMEM, "tokenizer: out of memory");
    return finish_or_close(tok, tk_load_json(tok, json, len, name ? name : "tokenizer.json"), out);
}

ember_status ember_tokenizer_from_gguf(const ember_gguf *gguf, ember_tokenizer **out) {
    if (!out || !gguf) return ember_fail(EMBER_ERR_ARG, "ember_tokenizer_from_gguf: NULL argument");
    *out = NULL;
    ember_tokenizer *tok = tok_new();
    if (!tok) return ember_fail(EMBER_ERR_NOMEM, "tokenizer: out of memory");
    return finish_or_close(tok, tk_load_gguf(tok, gguf), out);
}

ember_status ember_tokenizer_open(const char *path, ember_tokenizer **out) {
    if (!out || !path) return ember_fail(EMBER_ERR_ARG, "ember_tokenizer_open: NULL argument");
    *out = NULL;
    ember_map m;
    ember_status s = ember_map_open(path, &m);
    if (s) return s;
    const uint8_t *d = m.data;
    size_t n = m.size, i = 0;
    if (n >= 3 && !memcmp(d, "\xEF\xBB\xBF", 3)) i = 3;
    while (i < n && (d[i] == ' ' || d[i] == '\n' || d[i] == '\r' || d[i] == '\t')) i++;
    if (n >= 4 && !memcmp(d, "GGUF", 4)) {
        ember_gguf *g = NULL;
        s = ember_gguf_open_memory(d, n, path, &g);
        if (!s) s = ember_tokenizer_from_gguf(g, out);
        ember_gguf_close(g);
    } else if (i < n && d[i] == '{') {
        s = ember_tokenizer_from_json((const char *)d, n, path, out);
    } else {
        ember_tokenizer *tok = tok_new();
        if (!tok) s = ember_fail(EMBER_ERR_NOMEM, "tokenizer: out of memory");
        else s = finish_or_close(tok, tk_load_llama2c(tok, d, n, path), out);
    }
    ember_map_close(&m);
    return s;
}

/* ---------------------------------------------------------------------------------------------------- */
/* Added tokens */

/* Leftmost-longest match of an added token of the given set (1 raw, 2 normalized) in s[from..n). */
static bool find_added(const ember_tokenizer *tok, int set, const char *s, size_t n, size_t from, size_t *mb, size_t *me,
                       int *which) {
    for (size_t i = from; i < n; i++) {
        if (!(tok->added_first[(uint8_t)s[i]] & set)) continue;
        int best = -1;
        size_t best_len = 0;
        for (int k = 0; k < tok->nadded; k++) {
            const tk_added *a = &tok->added[k];
            if ((a->normalized ? 2 : 1) != set || a->unmatched || a->key_len <= best_len || a->key_len > n - i) continue;
            if ((uint8_t)a->key[0] != (uint8_t)s[i] || memcmp(a->key, s + i, a->key_len)) continue;
            best = k, best_len = a->key_len;
        }
        if (best >= 0) {
            *mb = i, *me = i + best_len, *which = best;
            return true;
        }
    }
    return false;
}

static bool is_word_char(uint32_t cp) {
    int c = ember_uni_category(cp);
    return ((UNI_MASK_L | UNI_MASK_M | UNI_MASK_N | (1u << 12)) >> c) & 1;
}

static uint32_t char_before(const char *s, size_t at) {
    size_t p = at;
    do p--;
    while (p > 0 && ((uint8_t)s[p] & 0xC0) == 0x80);
    uint32_t cp;
    utf8_decode((const uint8_t *)s + p, at - p, &cp);
    return cp;
}

/* Applies single_word / lstrip / rstrip to a match; false when single_word rejects it. */
static bool adjust_added(const tk_added *a, const char *s, size_t n, size_t floor, size_t *mb, size_t *me) {
    uint32_t cp;
    if (a->single_word) {
        if (*mb > 0 && is_word_char(char_before(s, *mb))) return false;
        if (*me < n && (utf8_decode((const uint8_t *)s + *me, n - *me, &cp), is_word_char(cp))) return false;
    }
    if (a->lstrip)
        while (*mb > floor && ember_uni_is_space(char_before(s, *mb))) {
            size_t p = *mb;
            do p--;
            while (p > floor && ((uint8_t)s[p] & 0xC0) == 0x80);
            *mb = p;
        }
    if (a->rstrip)
        while (*me < n) {
            int l = utf8_decode((const uint8_t *)s + *me, n - *me, &cp);
            if (!ember_uni_is_space(cp)) break;
            *me += (size_t)l;
        }
    return true;
}

typedef ember_status (*segment_fn)(tk_ctx *c, const tk_text *t, size_t b, size_t e);

/* Splits t[0..n) by the added tokens of `set`, emitting them and passing the text between to `gap`. */
static ember_status split_added(tk_ctx *c, int set, const tk_text *t, segment_fn gap) {
    const ember_tokenizer *tok = c->tok;
    size_t at = 0, from = 0;
    for (;;) {
        size_t mb = t->n, me = t->n;
        int which = -1;
        while (tok->nadded && find_added(tok, set, t->s, t->n, from, &mb, &me, &which)) {
            if (adjust_added(&tok->added[which], t->s, t->n, at, &mb, &me)) break;
            from = mb + 1, mb = me = t->n, which = -1;
        }
        if (which < 0) mb = me = t->n;
        if (mb > at) {
            ember_status s = gap(c, t, at, mb);
            if (s) return s;
        }
        if (which < 0) return EMBER_OK;
        if (!tk_emit(c, tok->added[which].id, tk_orig_lo(t, mb), tk_orig_hi(t, me - 1))) return c->err;
        at = from = me;
    }
}

/* ---------------------------------------------------------------------------------------------------- */
/* The pipeline */

static ember_status model_words(tk_ctx *c, const tk_text *t, size_t b, size_t e) {
    const ember_tokenizer *tok = c->tok;
    tk_text in = {t->s + b, e - b, t->lo ? t->lo + b : NULL, t->hi ? t->hi + b : NULL, t->base + (uint32_t)b};
    tk_text pt;
    const tk_span *sp;
    size_t ns;
    ember_status s = tk_pretokenize(c, tok->pres, tok->npres, &in, &pt, &sp, &ns);
    for (size_t i = 0; i < ns && !s; i++) s = tk_model_encode(c, &tok->model, &pt, sp[i].b, sp[i].e);
    return s;
}

static bool has_normalized_added(const ember_tokenizer *tok) {
    for (int k = 0; k < tok->nadded; k++)
        if (tok->added[k].normalized) return true;
    return false;
}

static ember_status raw_segment(tk_ctx *c, const tk_text *t, size_t b, size_t e) {
    const ember_tokenizer *tok = c->tok;
    tk_text in = {t->s + b, e - b, NULL, NULL, t->base + (uint32_t)b}, norm;
    ember_status s = tk_normalize(c, tok->norms, tok->nnorms, &in, &norm);
    if (s) return s;
    if (has_normalized_added(tok)) return split_added(c, 2, &norm, model_words);
    return model_words(c, &norm, 0, norm.n);
}

/* Input text that is not valid UTF-8 gets each ill-formed subsequence replaced by U+FFFD (as Rust's
 * from_utf8_lossy and JavaScript do before HF sees the text); *map gives original offsets back. */
static ember_status sanitize(const char *text, size_t len, char **out, size_t *outlen, uint32_t **map) {
    size_t cap = len * 3 + 4;
    char *s = ember_malloc(cap);
    uint32_t *m = ember_malloc((cap + 1) * sizeof *m);
    if (!s || !m) {
        ember_free(s), ember_free(m);
        return ember_fail(EMBER_ERR_NOMEM, "tokenizer: out of memory");
    }
    size_t o = 0;
    for (size_t i = 0; i < len;) {
        uint32_t cp;
        int k = utf8_decode((const uint8_t *)text + i, len - i, &cp);
        const char *src = cp == UTF8_INVALID ? "\xEF\xBF\xBD" : text + i;
        size_t sl = cp == UTF8_INVALID ? 3 : (size_t)k;
        for (size_t j = 0; j < sl; j++) s[o + j] = src[j], m[o + j] = (uint32_t)i;
        o += sl, i += (size_t)k;
    }
    m[o] = (uint32_t)len;
    *out = s, *outlen = o, *map = m;
    return EMBER_OK;
}

static uint32_t map_end(const uint32_t *m, uint32_t e, size_t n) {
    /* end offsets point just past a character: the original end is where the next one starts */
    return e >= n ? m[n] : m[e];
}

/* Encodes one text, appending its tokens (offsets into that text) to c->ids. */
static ember_status encode_text(tk_ctx *c, const char *text, size_t len) {
    if (len > 0xFFFFFFF0u / 4) return ember_fail(EMBER_ERR_ARG, "tokenizer: text of %zu bytes is too long (limit 1 GiB)", len);
    size_t start = c->n;
    char *clean = NULL;
    uint32_t *map = NULL;
    size_t n = len;
    const char *s = text;
    if (utf8_valid_prefix((const uint8_t *)text, len) != len) {
        ember_status st = sanitize(text, len, &clean, &n, &map);
        if (st) return st;
        s = clean;
    }
    tk_text t = {s, n, NULL, NULL, 0};
    ember_status st = split_added(c, 1, &t, raw_segment);
    if (!st && map)
        for (size_t i = start; i < c->n; i++) {
            ember_token_span *sp = &c->spans[i];
            sp->end = sp->end > sp->begin ? map_end(map, sp->end, n) : map[sp->begin];
            sp->begin = map[sp->begin];
        }
    ember_free(clean), ember_free(map);
    return st;
}

/* The whole encoding of a text (and a pair when `pair` is not NULL) into c->o_*. */
static ember_status encode_ctx(tk_ctx *c, const char *text, size_t len, const char *pair, size_t pair_len, bool add_special) {
    c->n = 0;
    ember_status st = encode_text(c, text, len);
    size_t na = c->n;
    if (!st && pair) st = encode_text(c, pair, pair_len);
    return st ? st : tk_post_process(c, na, c->n - na, pair != NULL, add_special);
}

static void ctx_free(tk_ctx *c) {
    ember_free(c->ids), ember_free(c->spans), ember_free(c->scratch);
    for (int k = 0; k < 2; k++) {
        tk_build_free(&c->nb[k]), tk_build_free(&c->pb[k]);
        ember_free(c->splits[k]);
    }
    tk_cache_free(c->cache);
    tk_post_ctx_free(c);
    memset(c, 0, sizeof *c);
}

/* A working context from the tokenizer's pool (or a new one). The tokenizer is logically immutable; the
 * pool only keeps scratch memory and word caches warm between calls. */
static tk_ctx *ctx_get(const ember_tokenizer *tok) {
    ember_tokenizer *t = (ember_tokenizer *)tok;
    tk_ctx *c = NULL;
    pthread_mutex_lock(&t->ctx_lock);
    if (t->nfree_ctx) c = t->free_ctx[--t->nfree_ctx];
    pthread_mutex_unlock(&t->ctx_lock);
    if (!c && (c = ember_calloc(1, sizeof *c))) c->tok = tok;
    return c;
}

static void ctx_put(const ember_tokenizer *tok, tk_ctx *c) {
    ember_tokenizer *t = (ember_tokenizer *)tok;
    c->err = EMBER_OK;
    if (c->cap > (1u << 20)) { /* do not keep huge output buffers around */
        ember_free(c->ids), ember_free(c->spans);
        c->ids = NULL, c->spans = NULL, c->cap = 0;
    }
    if (c->o_cap > (1u << 20)) tk_post_ctx_free(c);
    pthread_mutex_lock(&t->ctx_lock);
    bool kept = t->nfree_ctx < (int)(sizeof t->free_ctx / sizeof t->free_ctx[0]);
    if (kept) t->free_ctx[t->nfree_ctx++] = c;
    pthread_mutex_unlock(&t->ctx_lock);
    if (!kept) {
        ctx_free(c);
        ember_free(c);
    }
}

/* Copies n entries of src into a new array. */
static void *dup_array(const void *src, size_t n, size_t elem) {
    void *p = ember_malloc(n * elem);
    if (p) memcpy(p, src, n * elem);
    return p;
}

ember_status ember_tokenizer_encode_spans(const ember_tokenizer *tok, const char *text, size_t len, bool add_special,
                                          int32_t **ids, ember_token_span **spans, size_t *n) {
    if (!tok || (!text && len) || !ids || !n) return ember_fail(EMBER_ERR_ARG, "ember_tokenizer_encode: NULL argument");
    *ids = NULL, *n = 0;
    if (spans) *spans = NULL;
    tk_ctx *c = ctx_get(tok);
    if (!c) return ember_fail(EMBER_ERR_NOMEM, "tokenizer: out of memory");
    ember_status s = encode_ctx(c, text ? text : "", len, NULL, 0, add_special);
    if (!s && c->o_n) {
        *ids = dup_array(c->o_ids, c->o_n, sizeof **ids);
        if (spans) *spans = dup_array(c->o_spans, c->o_n, sizeof **spans);
        if (!*ids || (spans && !*spans)) {
            ember_free(*ids), *ids = NULL;
            if (spans) ember_free(*spans), *spans = NULL;
            s = ember_fail(EMBER_ERR_NOMEM, "tokenizer: out of memory for the output");
        }
    }
    if (!s) *n = c->o_n;
    ctx_put(tok, c);
    return s;
}

ember_status ember_tokenizer_encode(const ember_tokenizer *tok, const char *text, size_t len, bool add_special, int32_t **ids,
                                    size_t *n) {
    return ember_tokenizer_encode_spans(tok, text, len, add_special, ids, NULL, n);
}

/* Copies the finished encoding of c into a new ember_encoding (one allocation). */
static ember_status take_encoding(const tk_ctx *c, ember_encoding *e) {
    size_t n = c->o_n;
    memset(e, 0, sizeof *e);
    size_t per = sizeof(int32_t) + sizeof(uint32_t) + sizeof(ember_token_span) + 3;
    char *mem = ember_malloc(n * per + 1);
    if (!mem) return ember_fail(EMBER_ERR_NOMEM, "tokenizer: out of memory for the output");
    e->ids = (int32_t *)mem;
    e->spans = (ember_token_span *)(mem + n * sizeof(int32_t));
    e->type_ids = (uint32_t *)(mem + n * (sizeof(int32_t) + sizeof(ember_token_span)));
    e->special_mask = (uint8_t *)(mem + n * (sizeof(int32_t) + sizeof(ember_token_span) + sizeof(uint32_t)));
    e->attention_mask = e->special_mask + n;
    e->sequence = (int8_t *)(e->attention_mask + n);
    e->n = n;
    if (!n) return EMBER_OK;
    memcpy(e->ids, c->o_ids, n * sizeof *e->ids);
    memcpy(e->spans, c->o_spans, n * sizeof *e->spans);
    if (c->o_direct) {
        memset(e->type_ids, 0, n * sizeof *e->type_ids);
        memset(e->special_mask, 0, n), memset(e->attention_mask, 1, n), memset(e->sequence, 0, n);
    } else {
        memcpy(e->type_ids, c->o_type, n * sizeof *e->type_ids);
        memcpy(e->special_mask, c->o_special, n), memcpy(e->attention_mask, c->o_attn, n), memcpy(e->sequence, c->o_seq, n);
    }
    return EMBER_OK;
}

void ember_encoding_free(ember_encoding *e) {
    if (!e) return;
    ember_free(e->ids);
    memset(e, 0, sizeof *e);
}

ember_status ember_tokenizer_encode_full(const ember_tokenizer *tok, const char *text, size_t len, const char *pair,
                                         size_t pair_len, bool add_special, ember_encoding *out) {
    if (out) memset(out, 0, sizeof *out);
    if (!tok || (!text && len) || (!pair && pair_len) || !out) return ember_fail(EMBER_ERR_ARG, "ember_tokenizer_encode_full: NULL argument");
    tk_ctx *c = ctx_get(tok);
    if (!c) return ember_fail(EMBER_ERR_NOMEM, "tokenizer: out of memory");
    ember_status s = encode_ctx(c, text ? text : "", len, pair, pair_len, add_special);
    if (!s) s = take_encoding(c, out);
    ctx_put(tok, c);
    return s;
}

typedef struct batch {
    const ember_tokenizer *tok;
    const char *const *texts, *const *pairs;
    const size_t *lens, *pair_lens;
    bool add_special, padded; /* padded: a second pass pads every item to `target` */
    size_t target;
    int32_t **ids; /* the ids-only API */
    size_t *n;
    ember_encoding *enc; /* the full API */
    tk_ctx *ctx; /* one per pool thread */
    ember_status *status;
} batch;

static ember_status batch_item(batch *b, tk_ctx *c, int64_t i) {
    const char *pair = b->pairs ? b->pairs[i] : NULL;
    ember_status s;
    if (b->padded) { /* pass 2: pad a finished encoding */
        if (b->enc[i].n >= b->target) return EMBER_OK;
        ember_encoding *e = &b->enc[i];
        size_t n = e->n;
        /* reload it into the context and pad there */
        c->o_direct = true, c->o_n = 0;
        c->n = 0;
        for (size_t k = 0; k < n; k++)
            if (!tk_emit(c, e->ids[k], e->spans[k].begin, e->spans[k].end)) return c->err;
        c->o_ids = c->ids, c->o_spans = c->spans, c->o_n = n;
        if ((s = tk_pad_to(c, b->target))) return s;
        size_t off = c->tok->pad.left ? b->target - n : 0;
        memcpy(c->o_type + off, e->type_ids, n * sizeof *e->type_ids);
        memcpy(c->o_special + off, e->special_mask, n), memcpy(c->o_attn + off, e->attention_mask, n);
        memcpy(c->o_seq + off, e->sequence, n);
        ember_encoding_free(e);
        return take_encoding(c, e);
    }
    s = encode_ctx(c, b->texts[i] ? b->texts[i] : "", b->lens[i], pair, pair ? b->pair_lens[i] : 0, b->add_special);
    if (s) return s;
    if (b->enc) return take_encoding(c, &b->enc[i]);
    b->n[i] = c->o_n;
    b->ids[i] = NULL;
    if (!c->o_n) return EMBER_OK;
    if (!(b->ids[i] = dup_array(c->o_ids, c->o_n, sizeof(int32_t))))
        return ember_fail(EMBER_ERR_NOMEM, "tokenizer: out of memory for the output");
    return EMBER_OK;
}

static void batch_range(void *p, int64_t begin, int64_t end, int thread) {
    batch *b = p;
    for (int64_t i = begin; i < end; i++) b->status[i] = batch_item(b, &b->ctx[thread], i);
}

static ember_status run_batch(batch *b, ember_pool *pool, size_t count) {
    const ember_tokenizer *tok = b->tok;
    int nt = pool ? ember_pool_threads(pool) : 1;
    b->ctx = ember_calloc((size_t)nt, sizeof(tk_ctx));
    b->status = ember_calloc(count + 1, sizeof(ember_status));
    ember_status s = EMBER_OK;
    if (!b->ctx || !b->status) s = ember_fail(EMBER_ERR_NOMEM, "tokenizer: out of memory for a batch");
    for (int t = 0; !s && t < nt; t++) b->ctx[t].tok = tok;
    for (int pass = 0; pass < 2 && !s; pass++) {
        ember_pool_for(pool, (int64_t)count, 1, batch_range, b);
        for (size_t i = 0; i < count && !s; i++)
            if (b->status[i]) s = ember_fail(b->status[i], "tokenizer: batch item %zu failed (%s)", i, ember_status_str(b->status[i]));
        if (s || !tok->pad.on || tok->pad.fixed) break;
        /* BatchLongest: everything to the longest of the batch */
        size_t longest = 0;
        for (size_t i = 0; i < count; i++) {
            size_t n = b->enc ? b->enc[i].n : b->n[i];
            if (n > longest) longest = n;
        }
        b->padded = true, b->target = longest;
        if (!b->enc) { /* ids only: pad in place */
            for (size_t i = 0; i < count && !s; i++) {
                if (b->n[i] >= longest) continue;
                int32_t *q = ember_realloc(b->ids[i], longest * sizeof *q);
                if (!q) {
                    s = ember_fail(EMBER_ERR_NOMEM, "tokenizer: out of memory for a batch");
                    break;
                }
                size_t k = longest - b->n[i];
                if (tok->pad.left) memmove(q + k, q, b->n[i] * sizeof *q);
                for (size_t j = 0; j < k; j++) q[tok->pad.left ? j : b->n[i] + j] = tok->pad.id;
                b->ids[i] = q, b->n[i] = longest;
            }
            break;
        }
    }
    for (int t = 0; b->ctx && t < nt; t++) ctx_free(&b->ctx[t]);
    ember_free(b->ctx), ember_free(b->status);
    return s;
}

ember_status ember_tokenizer_encode_batch(const ember_tokenizer *tok, ember_pool *pool, const char *const *texts,
                                          const size_t *lens, size_t count, bool add_special, int32_t **ids, size_t *n) {
    if (!tok || (count && (!texts || !lens || !ids || !n))) return ember_fail(EMBER_ERR_ARG, "ember_tokenizer_encode_batch: NULL argument");
    for (size_t i = 0; i < count; i++) ids[i] = NULL, n[i] = 0;
    batch b = {.tok = tok, .texts = texts, .lens = lens, .add_special = add_special, .ids = ids, .n = n};
    ember_status s = run_batch(&b, pool, count);
    if (s)
        for (size_t i = 0; i < count; i++) ember_free(ids[i]), ids[i] = NULL, n[i] = 0;
    return s;
}

ember_status ember_tokenizer_encode_batch_full(const ember_tokenizer *tok, ember_pool *pool, const char *const *texts,
                                               const size_t *lens, const char *const *pairs, const size_t *pair_lens,
                                               size_t count, bool add_special, ember_encoding *out) {
    if (!tok || (count && (!texts || !lens || !out || (pairs && !pair_lens))))
        return ember_fail(EMBER_ERR_ARG, "ember_tokenizer_encode_batch_full: NULL argument");
    memset(out, 0, count * sizeof *out);
    batch b = {.tok = tok, .texts = texts, .lens = lens, .pairs = pairs, .pair_lens = pair_lens, .add_special = add_special, .enc = out};
    ember_status s = run_batch(&b, pool, count);
    if (s)
        for (size_t i = 0; i < count; i++) ember_encoding_free(&out[i]);
    return s;
}

/* ---------------------------------------------------------------------------------------------------- */
/* Decoding and lookups */

static const tk_added *added_of(const ember_tokenizer *tok, int32_t id) {
    for (int k = 0; k < tok->nadded; k++)
        if (tok->added[k].id == id) return &tok->added[k];
    return NULL;
}

const char *ember_tokenizer_token(const ember_tokenizer *tok, int32_t id) {
    if (!tok || id < 0 || id >= tok->vocab_size) return NULL;
    if (tok->is_special[id] & 2) {
        const tk_added *a = added_of(tok, id);
        if (a) return a->key ? a->key : a->content; /* HF gives a normalized token as normalized */
    }
    return id < tok->model.n ? tok->model.piece[id] : NULL;
}

static size_t token_len(const ember_tokenizer *tok, int32_t id, const char *p) {
    if ((tok->is_special[id] & 2) || id >= tok->model.n || p != tok->model.piece[id]) return strlen(p);
    return tok->model.piece_len[id];
}

ember_status ember_tokenizer_decode(const ember_tokenizer *tok, const int32_t *ids, size_t n, bool skip_special, char **text,
                                    size_t *len) {
    if (!tok || (!ids && n) || !text) return ember_fail(EMBER_ERR_ARG, "ember_tokenizer_decode: NULL argument");
    *text = NULL;
    if (len) *len = 0;
    char **pieces = ember_calloc(n + 1, sizeof *pieces);
    size_t *lens = ember_calloc(n + 1, sizeof *lens);
    size_t k = 0;
    ember_status s = pieces && lens ? EMBER_OK : ember_fail(EMBER_ERR_NOMEM, "tokenizer: out of memory while decoding");
    for (size_t i = 0; i < n && !s; i++) {
        int32_t id = ids[i];
        if (id < 0 || id >= tok->vocab_size) {
            s = ember_fail(EMBER_ERR_ARG, "tokenizer: id %d at position %zu is outside the vocabulary (size %d)", id, i, tok->vocab_size);
            break;
        }
        if (skip_special && (tok->is_special[id] & 1)) continue;
        const char *p = ember_tokenizer_token(tok, id);
        if (!p) continue;
        size_t pl = token_len(tok, id, p);
        char *copy = ember_malloc(pl + 1);
        if (!copy) {
            s = ember_fail(EMBER_ERR_NOMEM, "tokenizer: out of memory while decoding");
            break;
        }
        memcpy(copy, p, pl);
        copy[pl] = 0;
        pieces[k] = copy, lens[k++] = pl;
    }
    size_t outlen = 0;
    if (!s) s = tk_decode_pieces(tok, pieces, lens, k, text, &outlen);
    else
        for (size_t i = 0; i < k; i++) ember_free(pieces[i]);
    ember_free(pieces), ember_free(lens);
    if (!s && len) *len = outlen;
    return s;
}

int ember_tokenizer_piece(const ember_tokenizer *tok, int32_t id, char *buf, size_t cap) {
    const char *p = ember_tokenizer_token(tok, id);
    if (!p) return -1;
    size_t pl = token_len(tok, id, p);
    char tmp[8];
    const tk_model *m = &tok->model;
    const char *src = p;
    size_t n = pl;
    if (!(tok->is_special[id] & 2) && id < m->n) {
        if (m->byte_level) src = m->key[id], n = m->key_len[id]; /* raw bytes */
        else if (pl == 6 && !memcmp(p, "<0x", 3) && p[5] == '>') {
            unsigned v;
            if (sscanf(p + 3, "%2x", &v) == 1) tmp[0] = (char)v, src = tmp, n = 1;
        }
    }
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        if (n - i >= 3 && !memcmp(src + i, "\xE2\x96\x81", 3) && !m->byte_level) { /* ▁ -> space */
            if (o < cap) buf[o] = ' ';
            o++, i += 2;
            continue;
        }
        if (o < cap) buf[o] = src[i];
        o++;
    }
    return (int)o;
}

int32_t ember_tokenizer_token_id(const ember_tokenizer *tok, const char *token) {
    if (!tok || !token) return -1;
    size_t n = strlen(token);
    int32_t a = tk_strmap_get(&tok->added_map, token, n);
    if (a >= 0) return tok->added[a].id;
    for (int32_t i = 0; i < tok->model.n; i++) /* by stored piece (the map is keyed by lookup form) */
        if (tok->model.piece[i] && tok->model.piece_len[i] == n && !memcmp(tok->model.piece[i], token, n)) return i;
    return -1;
}

int32_t ember_tokenizer_vocab_size(const ember_tokenizer *tok) { return tok ? tok->vocab_size : 0; }

int32_t ember_tokenizer_special(const ember_tokenizer *tok, ember_special_token kind) {
    return tok && kind >= 0 && kind < EMBER_TOKEN_KINDS ? tok->specials[kind] : -1;
}

bool ember_tokenizer_is_special(const ember_tokenizer *tok, int32_t id) {
    return tok && id >= 0 && id < tok->vocab_size && (tok->is_special[id] & 1);
}

/* ---------------------------------------------------------------------------------------------------- */
/* Derived tables, built once after loading */

static ember_status build_keys(ember_tokenizer *tok) {
    tk_model *m = &tok->model;
    if (m->key) return EMBER_OK;
    if (!m->byte_level) {
        m->key = m->piece, m->key_len = m->piece_len;
        return EMBER_OK;
    }
    m->key = ember_arena_alloc(&tok->arena, (size_t)m->n * sizeof *m->key, 8);
    m->key_len = ember_arena_alloc(&tok->arena, (size_t)m->n * sizeof *m->key_len, 8);
    if (!m->key || !m->key_len) return ember_fail(EMBER_ERR_NOMEM, "tokenizer: out of memory");
    for (int32_t i = 0; i < m->n; i++) {
        const char *p = m->piece[i];
        if (!p) continue;
        char *k = ember_arena_alloc(&tok->arena, m->piece_len[i] + 1, 1);
        if (!k) return ember_fail(EMBER_ERR_NOMEM, "tokenizer: out of memory");
        size_t o = 0;
        bool ok = true;
        for (size_t j = 0; j < m->piece_len[i] && ok;) {
            uint32_t cp;
            j += (size_t)utf8_decode((const uint8_t *)p + j, m->piece_len[i] - j, &cp);
            int b = cp == UTF8_INVALID ? -1 : tk_cp_to_byte(cp);
            ok = b >= 0;
            k[o++] = (char)b;
        }
        if (ok) m->key[i] = k, m->key_len[i] = (uint32_t)o;
        else m->key[i] = m->piece[i], m->key_len[i] = m->piece_len[i];
    }
    return EMBER_OK;
}

static void find_specials(ember_tokenizer *tok) {
    static const struct {
        int kind;
        const char *s;
    } names[] = {
        {EMBER_TOKEN_BOS, "<s>"}, {EMBER_TOKEN_BOS, "<|begin_of_text|>"}, {EMBER_TOKEN_BOS, "<bos>"},
        {EMBER_TOKEN_BOS, "<|startoftext|>"}, {EMBER_TOKEN_EOS, "</s>"}, {EMBER_TOKEN_EOS, "<|end_of_text|>"},
        {EMBER_TOKEN_EOS, "<eos>"}, {EMBER_TOKEN_EOS, "<|endoftext|>"}, {EMBER_TOKEN_UNK, "<unk>"},
        {EMBER_TOKEN_UNK, "[UNK]"}, {EMBER_TOKEN_PAD, "<pad>"}, {EMBER_TOKEN_PAD, "[PAD]"},
        {EMBER_TOKEN_PAD, "<|pad|>"}, {EMBER_TOKEN_SEP, "[SEP]"}, {EMBER_TOKEN_CLS, "[CLS]"},
        {EMBER_TOKEN_MASK, "[MASK]"}, {EMBER_TOKEN_MASK, "<mask>"}, {EMBER_TOKEN_EOT, "<|eot_id|>"},
        {EMBER_TOKEN_EOT, "<|im_end|>"}, {EMBER_TOKEN_EOT, "<end_of_turn>"}, {EMBER_TOKEN_EOT, "<|end|>"},
        {EMBER_TOKEN_EOT, "<|eot|>"},
    };
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        if (tok->specials[names[i].kind] >= 0) continue;
        tok->specials[names[i].kind] = ember_tokenizer_token_id(tok, names[i].s);
    }
    if (tok->model.unk >= 0 && tok->specials[EMBER_TOKEN_UNK] < 0) tok->specials[EMBER_TOKEN_UNK] = tok->model.unk;
    if (tok->specials[EMBER_TOKEN_BOS] < 0 && tok->specials[EMBER_TOKEN_CLS] >= 0) tok->specials[EMBER_TOKEN_BOS] = tok->specials[EMBER_TOKEN_CLS];
    if (tok->specials[EMBER_TOKEN_EOS] < 0 && tok->specials[EMBER_TOKEN_SEP] >= 0) tok->specials[EMBER_TOKEN_EOS] = tok->specials[EMBER_TOKEN_SEP];
}

ember_status tk_vocab_ready(ember_tokenizer *tok) {
    tk_model *m = &tok->model;
    ember_status s = build_keys(tok);
    if (s || m->map.slots) return s;
    return tk_strmap_build(&m->map, (const char *const *)m->key, m->key_len, m->n);
}

int32_t tk_piece_id(const ember_tokenizer *tok, const char *p, size_t n) {
    const tk_model *m = &tok->model;
    if (!m->byte_level) return tk_strmap_get(&m->map, p, n);
    char buf[256];
    size_t o = 0;
    for (size_t j = 0; j < n;) {
        uint32_t cp;
        j += (size_t)utf8_decode((const uint8_t *)p + j, n - j, &cp);
        int b = cp == UTF8_INVALID ? -1 : tk_cp_to_byte(cp);
        if (b < 0 || o == sizeof buf) return tk_strmap_get(&m->map, p, n);
        buf[o++] = (char)b;
    }
    return tk_strmap_get(&m->map, buf, o);
}

/* The text an added token is matched as: a normalized token's content goes through the normalizers. */
static ember_status added_key(ember_tokenizer *tok, tk_added *a) {
    a->key = a->content, a->key_len = a->len;
    if (!a->normalized || !tok->nnorms) return EMBER_OK;
    tk_ctx c = {.tok = tok};
    tk_text in = {a->content, a->len, NULL, NULL, 0}, out;
    ember_status s = tk_normalize(&c, tok->norms, tok->nnorms, &in, &out);
    if (!s && out.n) {
        char *k = tk_strdup(tok, out.s, out.n);
        if (!k) s = ember_fail(EMBER_ERR_NOMEM, "tokenizer: out of memory");
        else a->key = k, a->key_len = out.n;
    }
    ctx_free(&c);
    return s;
}

ember_status tk_finish(ember_tokenizer *tok) {
    tk_model *m = &tok->model;
    ember_status s = tk_vocab_ready(tok);
    if (s) return s;
    for (int32_t i = 0; i < m->n; i++)
        if (m->key[i] && m->key_len[i] > m->max_key_len) m->max_key_len = m->key_len[i];
    if (m->byte_level) {
        for (int b = 0; b < 256; b++) {
            char c = (char)b;
            m->byte_id[b] = tk_strmap_get(&m->map, &c, 1);
        }
        tok->byte_level_offsets = true;
    } else if (m->byte_fallback) {
        for (int b = 0; b < 256; b++) {
            char name[8];
            snprintf(name, sizeof name, "<0x%02X>", b);
            m->byte_id[b] = tk_strmap_get(&m->map, name, 6);
        }
    }
    tok->vocab_size = m->n;
    for (int k = 0; k < tok->nadded; k++)
        if (tok->added[k].id >= tok->vocab_size) tok->vocab_size = tok->added[k].id + 1;
    tok->is_special = ember_calloc((size_t)tok->vocab_size + 1, 1);
    tok->added_keys = ember_arena_alloc(&tok->arena, ((size_t)tok->nadded + 1) * sizeof(char *), 8);
    tok->added_lens = ember_arena_alloc(&tok->arena, ((size_t)tok->nadded + 1) * sizeof(uint32_t), 8);
    if (!tok->is_special || !tok->added_keys || !tok->added_lens) return ember_fail(EMBER_ERR_NOMEM, "tokenizer: out of memory");
    for (int k = 0; k < tok->nadded; k++)
        if ((s = added_key(tok, &tok->added[k]))) return s;
    for (int k = 0; k < tok->nadded; k++) {
        tk_added *a = &tok->added[k];
        if (a->id < 0) return ember_fail(EMBER_ERR_FORMAT, "tokenizer: added token \"%s\" has a negative id", a->content);
        tok->is_special[a->id] |= (uint8_t)(2 | (a->special ? 1 : 0));
        tok->added_keys[k] = a->content, tok->added_lens[k] = (uint32_t)a->len;
        if (a->key_len && !a->unmatched) tok->added_first[(uint8_t)a->key[0]] |= a->normalized ? 2 : 1;
        if (a->len > tok->added_max_len) tok->added_max_len = a->len;
    }
    if ((s = tk_strmap_build(&tok->added_map, tok->added_keys, tok->added_lens, tok->nadded))) return s;
    find_specials(tok);
    return EMBER_OK;
}
