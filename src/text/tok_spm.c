/* SentencePiece-style vocabularies ranked by score (llama2.c tokenizer.bin, GGUF "llama"): turned into a
 * BPE model whose merges are every split of a piece into two pieces, ranked by the merged piece's score.
 * Merging the best-scoring adjacent pair first is then exactly llama2.c's and llama.cpp's algorithm. */
#include "text/tok.h"

#include "text/utf8.h"

#include <stdlib.h>

typedef struct scored {
    float score;
    int32_t id;
} scored;

static int by_score_desc(const void *a, const void *b) {
    const scored *x = a, *y = b;
    if (x->score != y->score) return x->score > y->score ? -1 : 1;
    return x->id < y->id ? -1 : x->id > y->id;
}

static bool is_byte_piece(const char *p, size_t n) { return n == 6 && !memcmp(p, "<0x", 3) && p[5] == '>'; }

ember_status tk_spm_merges(ember_tokenizer *tok, const uint8_t *mergeable) {
    tk_model *m = &tok->model;
    ember_status s = tk_vocab_ready(tok);
    if (s) return s;
    scored *order = ember_malloc(((size_t)m->n + 1) * sizeof *order);
    uint32_t *rank = ember_malloc(((size_t)m->n + 1) * sizeof *rank);
    if (!order || !rank) {
        ember_free(order), ember_free(rank);
        return ember_fail(EMBER_ERR_NOMEM, "tokenizer: out of memory while ranking the vocabulary");
    }
    for (int32_t i = 0; i < m->n; i++) order[i] = (scored){m->score ? m->score[i] : 0.0f, i};
    qsort(order, (size_t)m->n, sizeof *order, by_score_desc);
    uint32_t r = 0;
    for (int32_t i = 0; i < m->n; i++) {
        if (i && order[i].score != order[i - 1].score) r++;
        rank[order[i].id] = r;
    }
    for (int32_t id = 0; id < m->n && !s; id++) {
        const char *p = m->piece[id];
        size_t n = m->piece_len[id];
        if (!p || n < 2 || (mergeable && !mergeable[id]) || is_byte_piece(p, n)) continue;
        for (size_t k = (size_t)utf8_len((uint8_t)p[0]); k < n && !s; k += (size_t)utf8_len((uint8_t)p[k])) {
            int32_t a = tk_strmap_get(&m->map, p, k), b = tk_strmap_get(&m->map, p + k, n - k);
            if (a < 0 || b < 0 || (mergeable && (!mergeable[a] || !mergeable[b]))) continue;
            s = tk_u64map_put(&m->merges, (uint64_t)(uint32_t)a << 32 | (uint32_t)b, (uint64_t)rank[id] << 32 | (uint32_t)id);
        }
    }
    ember_free(order), ember_free(rank);
    return s;
}

/* llama2.c tokenizer.bin: int32 max_token_length, then per token: float score, int32 length, bytes. */
ember_status tk_load_llama2c(ember_tokenizer *tok, const uint8_t *data, size_t size, const char *name) {
    if (size < 4) return ember_fail(EMBER_ERR_FORMAT, "%s: not a tokenizer: too short (%zu bytes)", name, size);
    int32_t maxlen;
    memcpy(&maxlen, data, 4);
    if (maxlen <= 0 || maxlen > 1 << 16)
        return ember_fail(EMBER_ERR_FORMAT, "%s: not a tokenizer.json, GGUF or llama2.c tokenizer.bin (max token length %d)", name, maxlen);
    /* count tokens first */
    size_t off = 4, count = 0;
    while (off < size) {
        int32_t len;
        if (size - off < 8) return ember_fail(EMBER_ERR_FORMAT, "%s: truncated at byte %zu (token %zu)", name, off, count);
        memcpy(&len, data + off + 4, 4);
        if (len < 0 || len > maxlen || (size_t)len > size - off - 8)
            return ember_fail(EMBER_ERR_FORMAT, "%s: token %zu has length %d at byte %zu (max %d, %zu bytes left)", name, count, len,
                              off, maxlen, size - off - 8);
        off += 8 + (size_t)len, count++;
    }
    if (count < 3 || count > 1u << 24) return ember_fail(EMBER_ERR_FORMAT, "%s: %zu tokens is not a vocabulary", name, count);
    tk_model *m = &tok->model;
    m->kind = MODEL_BPE;
    m->n = (int32_t)count;
    m->piece = ember_arena_alloc(&tok->arena, count * sizeof *m->piece, 8);
    m->piece_len = ember_arena_alloc(&tok->arena, count * sizeof *m->piece_len, 8);
    m->score = ember_arena_alloc(&tok->arena, count * sizeof *m->score, 8);
    if (!m->piece || !m->piece_len || !m->score) return ember_fail(EMBER_ERR_NOMEM, "tokenizer: out of memory");
    off = 4;
    for (size_t i = 0; i < count; i++) {
        int32_t len;
        memcpy(&m->score[i], data + off, 4);
        memcpy(&len, data + off + 4, 4);
        m->piece[i] = tk_strdup(tok, (const char *)data + off + 8, (size_t)len);
        if (!m->piece[i]) return ember_fail(EMBER_ERR_NOMEM, "tokenizer: out of memory");
        m->piece_len[i] = (uint32_t)len;
        off += 8 + (size_t)len;
    }
    m->byte_fallback = true;
    m->unk = 0;
    ember_status s = tk_spm_merges(tok, NULL);
    if (s) return s;
    /* llama2.c prepends a space to non-empty text, adds BOS (id 1), and drops the space after BOS */
    tok->norms = ember_arena_alloc(&tok->arena, sizeof(tk_norm), 8);
    tok->decs = ember_arena_alloc(&tok->arena, 3 * sizeof(tk_dec), 8);
    if (!tok->norms || !tok->decs) return ember_fail(EMBER_ERR_NOMEM, "tokenizer: out of memory");
    tok->norms[0] = (tk_norm){.kind = NORM_PREPEND, .content = " ", .content_len = 1};
    tok->nnorms = 1;
    tok->decs[0] = (tk_dec){.kind = DEC_BYTEFALLBACK};
    tok->decs[1] = (tk_dec){.kind = DEC_FUSE};
    tok->decs[2] = (tk_dec){.kind = DEC_STRIP, .ch = ' ', .start = 1};
    tok->ndecs = 3, tok->has_decoder = true;
    static const int32_t bos = 1;
    if ((s = tk_post_simple(tok, &bos, 1, NULL, 0))) return s;
    /* <unk>, <s>, </s> are control tokens: skipped by decode(skip_special), never matched in text */
    if (!(tok->added = ember_arena_alloc(&tok->arena, 3 * sizeof(tk_added), 8))) return ember_fail(EMBER_ERR_NOMEM, "tokenizer: out of memory");
    for (int32_t id = 0; id < 3; id++)
        tok->added[tok->nadded++] = (tk_added){.content = m->piece[id], .len = m->piece_len[id], .id = id, .special = true, .unmatched = true};
    tok->specials[EMBER_TOKEN_UNK] = 0, tok->specials[EMBER_TOKEN_BOS] = 1, tok->specials[EMBER_TOKEN_EOS] = 2;
    return EMBER_OK;
}
