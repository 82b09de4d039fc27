/* Tokenizer models: BPE (byte-level, byte_fallback, ignore_merges, prefix/suffix) with a word cache,
 * WordPiece (greedy longest match), Unigram (Viterbi) and WordLevel. */
#include "text/tok.h"

#include "text/utf8.h"

#include <stdio.h>

/* ---------------------------------------------------------------------------------------------------- */
/* Word cache: word bytes -> (id, length) list, cleared when full. One per working context. */

enum { CACHE_SLOTS = 1 << 16, CACHE_MAX = CACHE_SLOTS / 2, CACHE_WORD_MAX = 128 };

typedef struct centry {
    uint64_t hash;
    uint32_t key, klen, val, nval;
} centry;

struct tk_cache {
    uint32_t *slots; /* entry index + 1 */
    centry *entries;
    size_t nentries;
    char *keys;
    size_t nkeys, capkeys;
    uint32_t *vals; /* pairs: id, length in bytes */
    size_t nvals, capvals;
};

void tk_cache_free(tk_cache *k) {
    if (!k) return;
    ember_free(k->slots), ember_free(k->entries), ember_free(k->keys), ember_free(k->vals);
    ember_free(k);
}

static const centry *cache_get(const tk_cache *k, const char *w, size_t n, uint64_t h) {
    uint32_t i = (uint32_t)h & (CACHE_SLOTS - 1);
    for (;;) {
        uint32_t s = k->slots[i];
        if (!s) return NULL;
        const centry *e = &k->entries[s - 1];
        if (e->hash == h && e->klen == n && !memcmp(k->keys + e->key, w, n)) return e;
        i = (i + 1) & (CACHE_SLOTS - 1);
    }
}

static bool grow_buf(void **p, size_t *cap, size_t need, size_t elem) {
    if (need <= *cap) return true;
    size_t c = *cap ? *cap : 4096;
    while (c < need) c *= 2;
    void *q = ember_realloc(*p, c * elem);
    if (!q) return false;
    *p = q, *cap = c;
    return true;
}

/* Stores a result; silently does nothing when memory is short (the cache is only an optimization). */
static void cache_put(tk_cache *k, const char *w, size_t n, uint64_t h, const uint32_t *pairs, size_t npairs) {
    if (k->nentries >= CACHE_MAX) {
        memset(k->slots, 0, CACHE_SLOTS * sizeof *k->slots);
        k->nentries = k->nkeys = k->nvals = 0;
    }
    if (!grow_buf((void **)&k->keys, &k->capkeys, k->nkeys + n, 1) ||
        !grow_buf((void **)&k->vals, &k->capvals, k->nvals + npairs * 2, sizeof(uint32_t)))
        return;
    centry *e = &k->entries[k->nentries];
    *e = (centry){h, (uint32_t)k->nkeys, (uint32_t)n, (uint32_t)k->nvals, (uint32_t)npairs};
    memcpy(k->keys + k->nkeys, w, n);
    memcpy(k->vals + k->nvals, pairs, npairs * 2 * sizeof(uint32_t));
    k->nkeys += n, k->nvals += npairs * 2;
    uint32_t i = (uint32_t)h & (CACHE_SLOTS - 1);
    while (k->slots[i]) i = (i + 1) & (CACHE_SLOTS - 1);
    k->slots[i] = (uint32_t)++k->nentries;
}

static tk_cache *cache_of(tk_ctx *c) {
    if (c->cache) return c->cache;
    tk_cache *k = ember_calloc(1, sizeof *k);
    if (!k) return NULL;
    k->slots = ember_calloc(CACHE_SLOTS, sizeof *k->slots);
    k->entries = ember_malloc(CACHE_MAX * sizeof *k->entries);
    if (!k->slots || !k->entries) {
        tk_cache_free(k);
        return NULL;
    }
    return c->cache = k;
}

/* ---------------------------------------------------------------------------------------------------- */
/* Emitting tokens with offsets in the original text */

/* Token covering bytes [b, e) of t. Byte-level tokens that cut a character report the whole character. */
static bool emit(tk_ctx *c, const tk_text *t, int32_t id, size_t b, size_t e) {
    if (e <= b) return tk_emit(c, id, tk_orig_lo(t, b < t->n ? b : t->n - 1), tk_orig_lo(t, b < t->n ? b : t->n - 1));
    if (c->tok->byte_level_offsets) {
        while (b > 0 && ((uint8_t)t->s[b] & 0xC0) == 0x80) b--;
        while (e < t->n && ((uint8_t)t->s[e] & 0xC0) == 0x80) e++;
    }
    return tk_emit(c, id, tk_orig_lo(t, b), tk_orig_hi(t, e - 1));
}

static bool emit_pairs(tk_ctx *c, const tk_text *t, size_t b, const uint32_t *pairs, size_t n) {
    for (size_t i = 0; i < n; i++) {
        if (!emit(c, t, (int32_t)pairs[2 * i], b, b + pairs[2 * i + 1])) return false;
        b += pairs[2 * i + 1];
    }
    return true;
}

/* ---------------------------------------------------------------------------------------------------- */
/* BPE */

typedef struct sym {
    int32_t id, prev, next;
    uint32_t len;
} sym;

typedef struct hnode {
    uint32_t rank, pos;
    int32_t id;
} hnode;

static inline bool hless(hnode a, hnode b) { return a.rank < b.rank || (a.rank == b.rank && a.pos < b.pos); }

static void heap_push(hnode *h, size_t *n, hnode x) {
    size_t i = (*n)++;
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (!hless(x, h[p])) break;
        h[i] = h[p], i = p;
    }
    h[i] = x;
}

static hnode heap_pop(hnode *h, size_t *n) {
    hnode top = h[0], x = h[--(*n)];
    size_t i = 0;
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, m = i;
        hnode best = x;
        if (l < *n && hless(h[l], best)) m = l, best = h[l];
        if (r < *n && hless(h[r], best)) m = r;
        if (m == i) break;
        h[i] = h[m], i = m;
    }
    if (*n) h[i] = x;
    return top;
}

static inline bool merge_of(const tk_model *m, int32_t a, int32_t b, uint32_t *rank, int32_t *id) {
    uint64_t v;
    if (!tk_u64map_get(&m->merges, (uint64_t)(uint32_t)a << 32 | (uint32_t)b, &v)) return false;
    *rank = (uint32_t)(v >> 32), *id = (int32_t)(uint32_t)v;
    return true;
}

/* Looks up prefix + s + suffix (as the first / last symbol of a word needs). */
static int32_t lookup_affixed(const tk_model *m, const char *s, size_t n, bool first, bool last) {
    if ((first || !m->prefix_len) && (!last || !m->suffix_len)) return tk_strmap_get(&m->map, s, n);
    char buf[64];
    size_t k = 0, need = n + m->prefix_len + m->suffix_len;
    if (need > sizeof buf) return -1;
    if (!first && m->prefix_len) memcpy(buf, m->prefix, m->prefix_len), k = m->prefix_len;
    memcpy(buf + k, s, n), k += n;
    if (last && m->suffix_len) memcpy(buf + k, m->suffix, m->suffix_len), k += m->suffix_len;
    return tk_strmap_get(&m->map, buf, k);
}

static bool add_sym(sym *s, size_t *n, int32_t id, uint32_t len) {
    s[*n] = (sym){id, (int32_t)*n - 1, (int32_t)*n + 1, len};
    (*n)++;
    return true;
}

/* Initial symbols of a word: bytes (byte-level) or characters with byte_fallback / unk handling. */
static size_t bpe_symbols(const tk_model *m, const char *w, size_t n, sym *s) {
    size_t ns = 0;
    if (m->byte_level) {
        for (size_t i = 0; i < n; i++) {
            int32_t id = m->byte_id[(uint8_t)w[i]];
            if (id >= 0) add_sym(s, &ns, id, 1);
            else if (m->unk >= 0) add_sym(s, &ns, m->unk, 1);
            else if (ns) s[ns - 1].len++; /* HF drops it; keep the bytes inside the previous token's span */
        }
        return ns;
    }
    bool unk_open = false;
    for (size_t i = 0; i < n;) {
        size_t l = (size_t)utf8_len((uint8_t)w[i]);
        if (l > n - i) l = n - i;
        int32_t id = lookup_affixed(m, w + i, l, i == 0, i + l == n);
        if (id >= 0) {
            add_sym(s, &ns, id, (uint32_t)l);
            unk_open = false;
        } else {
            bool done = false;
            if (m->byte_fallback) {
                done = true;
                for (size_t k = 0; k < l; k++) done = done && m->byte_id[(uint8_t)w[i + k]] >= 0;
                for (size_t k = 0; done && k < l; k++) add_sym(s, &ns, m->byte_id[(uint8_t)w[i + k]], 1);
                if (done) unk_open = false;
            }
            if (!done && m->unk >= 0) {
                if (unk_open && m->fuse_unk) s[ns - 1].len += (uint32_t)l;
                else add_sym(s, &ns, m->unk, (uint32_t)l);
                unk_open = true;
            }
        }
        i += l;
    }
    return ns;
}

static void bpe_merge(const tk_model *m, sym *s, size_t ns, hnode *heap) {
    size_t nh = 0;
    uint32_t rank;
    int32_t id;
    for (size_t i = 0; i + 1 < ns; i++)
        if (merge_of(m, s[i].id, s[i + 1].id, &rank, &id)) heap_push(heap, &nh, (hnode){rank, (uint32_t)i, id});
    while (nh) {
        hnode top = heap_pop(heap, &nh);
        sym *a = &s[top.pos];
        if (!a->len || a->next >= (int32_t)ns) continue;
        sym *b = &s[a->next];
        int32_t nid;
        if (!merge_of(m, a->id, b->id, &rank, &nid) || nid != top.id || rank != top.rank) continue;
        a->id = nid, a->len += b->len, a->next = b->next;
        b->len = 0;
        if (a->next < (int32_t)ns) s[a->next].prev = (int32_t)top.pos;
        if (a->prev >= 0 && merge_of(m, s[a->prev].id, a->id, &rank, &id))
            heap_push(heap, &nh, (hnode){rank, (uint32_t)a->prev, id});
        if (a->next < (int32_t)ns && merge_of(m, a->id, s[a->next].id, &rank, &id))
            heap_push(heap, &nh, (hnode){rank, top.pos, id});
    }
}

static ember_status bpe_encode(tk_ctx *c, const tk_model *m, const tk_text *t, size_t b, size_t e) {
    const char *w = t->s + b;
    size_t n = e - b;
    tk_cache *k = n <= CACHE_WORD_MAX ? cache_of(c) : NULL;
    uint64_t h = 0;
    if (k) {
        h = tk_hash(w, n);
        const centry *ce = cache_get(k, w, n, h);
        if (ce) return emit_pairs(c, t, b, k->vals + ce->val, ce->nval) ? EMBER_OK : c->err;
    }
    if (m->ignore_merges) {
        int32_t id = tk_strmap_get(&m->map, w, n);
        if (id >= 0) {
            uint32_t pair[2] = {(uint32_t)id, (uint32_t)n};
            if (k) cache_put(k, w, n, h, pair, 1);
            return emit(c, t, id, b, e) ? EMBER_OK : c->err;
        }
    }
    /* symbols (n) + heap (at most n + 2 per merge) + output pairs */
    size_t need = n * sizeof(sym) + 3 * n * sizeof(hnode) + 2 * n * sizeof(uint32_t) + 64;
    uint8_t *mem = tk_scratch(c, need);
    if (!mem) return c->err;
    sym *s = (sym *)mem;
    hnode *heap = (hnode *)(mem + n * sizeof(sym));
    uint32_t *pairs = (uint32_t *)(mem + n * sizeof(sym) + 3 * n * sizeof(hnode));
    size_t ns = bpe_symbols(m, w, n, s);
    if (ns) s[ns - 1].next = (int32_t)ns;
    bpe_merge(m, s, ns, heap);
    size_t np = 0;
    for (size_t i = 0; i < ns; i++)
        if (s[i].len) pairs[2 * np] = (uint32_t)s[i].id, pairs[2 * np + 1] = s[i].len, np++;
    if (k) cache_put(k, w, n, h, pairs, np);
    return emit_pairs(c, t, b, pairs, np) ? EMBER_OK : c->err;
}

/* ---------------------------------------------------------------------------------------------------- */
/* WordPiece: greedy longest-match-first with a continuing-subword prefix */

static ember_status wordpiece_encode(tk_ctx *c, const tk_model *m, const tk_text *t, size_t b, size_t e) {
    const char *w = t->s + b;
    size_t n = e - b, nchars = 0;
    for (size_t i = 0; i < n; i += (size_t)utf8_len((uint8_t)w[i])) nchars++;
    size_t first = c->n;
    if ((int)nchars <= m->max_chars) {
        char buf[256];
        size_t start = 0;
        while (start < n) {
            size_t end = n;
            if (end - start > m->max_key_len) { /* no key is longer: start at a character boundary below it */
                end = start + m->max_key_len;
                while (end > start && ((uint8_t)w[end] & 0xC0) == 0x80) end--;
            }
            int32_t id = -1;
            while (end > start) {
                size_t kl = end - start + (start ? m->prefix_len : 0);
                if (kl <= sizeof buf) {
                    size_t o = 0;
                    if (start) memcpy(buf, m->prefix, m->prefix_len), o = m->prefix_len;
                    memcpy(buf + o, w + start, end - start);
                    id = tk_strmap_get(&m->map, buf, kl);
                    if (id >= 0) break;
                }
                do end--;
                while (end > start && ((uint8_t)w[end] & 0xC0) == 0x80);
            }
            if (id < 0) {
                c->n = first; /* the whole word is unknown */
                goto unknown;
            }
            if (!emit(c, t, id, b + start, b + end)) return c->err;
            start = end;
        }
        return EMBER_OK;
    }
unknown:
    if (m->unk < 0) return ember_fail(EMBER_ERR_FORMAT, "tokenizer: WordPiece has no unk_token for an unknown word");
    return emit(c, t, m->unk, b, e) ? EMBER_OK : c->err;
}

/* ---------------------------------------------------------------------------------------------------- */
/* Unigram: best segmentation by total log-probability (Viterbi), unknown characters at min_score - 10 */

typedef struct vnode {
    double score;
    int32_t id, start; /* start -1: unreachable */
} vnode;

/* A piece; an unknown one with byte_fallback becomes its bytes, each with the offsets of the whole
 * (fused) unknown piece, as HF. */
static bool emit_unigram_piece(tk_ctx *c, const tk_model *m, const tk_text *t, size_t b, size_t e, int32_t id) {
    if (id == m->unk && m->byte_fallback) {
        bool all = true;
        for (size_t i = b; i < e; i++) all = all && m->byte_id[(uint8_t)t->s[i]] >= 0;
        if (all) {
            for (size_t i = b; i < e; i++)
                if (!emit(c, t, m->byte_id[(uint8_t)t->s[i]], b, e)) return false;
            return true;
        }
    }
    return emit(c, t, id, b, e);
}

static ember_status unigram_encode(tk_ctx *c, const tk_model *m, const tk_text *t, size_t b, size_t e) {
    size_t n = e - b;
    const char *w = t->s + b;
    vnode *v = tk_scratch(c, (n + 1) * sizeof *v + (n + 1) * sizeof(int32_t));
    if (!v) return c->err;
    for (size_t i = 0; i <= n; i++) v[i] = (vnode){0, -1, -1};
    v[0].start = 0;
    double unk_score = (double)m->min_score - 10.0;
    for (size_t i = 0; i < n;) {
        size_t l = (size_t)utf8_len((uint8_t)w[i]);
        if (v[i].start < 0 && i) { /* unreachable cannot happen: the unk path always continues */
            i += l;
            continue;
        }
        bool single = false;
        size_t lim = n - i < m->max_key_len ? n - i : m->max_key_len;
        for (size_t j = l; j <= lim;) {
            int32_t id = tk_strmap_get(&m->map, w + i, j);
            if (id >= 0 && m->score) {
                double sc = v[i].score + (double)m->score[id];
                if (v[i + j].start < 0 || sc > v[i + j].score) v[i + j] = (vnode){sc, id, (int32_t)i};
                if (j == l) single = true;
            }
            if (i + j >= n) break;
            j += (size_t)utf8_len((uint8_t)w[i + j]);
        }
        if (!single) {
            double sc = v[i].score + unk_score;
            if (v[i + l].start < 0 || sc > v[i + l].score) v[i + l] = (vnode){sc, m->unk, (int32_t)i};
        }
        i += l;
    }
    /* walk back, then emit forwards (fusing consecutive unknowns) */
    int32_t *ends = (int32_t *)(v + n + 1);
    size_t k = 0;
    for (size_t p = n; p > 0; p = (size_t)v[p].start) ends[k++] = (int32_t)p;
    size_t first = c->n;
    for (size_t q = k; q-- > 0;) {
        size_t pe = (size_t)ends[q], pb = (size_t)v[pe].start;
        int32_t id = v[pe].id;
        if (id < 0) return ember_fail(EMBER_ERR_FORMAT, "tokenizer: Unigram model has no unk token for unknown text");
        if (id == m->unk && m->fuse_unk && c->n > first && c->ids[c->n - 1] == m->unk && !m->byte_fallback) {
            c->spans[c->n - 1].end = tk_orig_hi(t, b + pe - 1);
            continue;
        }
        while (id == m->unk && m->fuse_unk && m->byte_fallback && q > 0 && v[ends[q - 1]].id == m->unk) pe = (size_t)ends[--q];
        if (!emit_unigram_piece(c, m, t, b + pb, b + pe, id)) return c->err;
    }
    return EMBER_OK;
}

/* ---------------------------------------------------------------------------------------------------- */

ember_status tk_model_encode(tk_ctx *c, const tk_model *m, const tk_text *t, size_t b, size_t e) {
    if (e <= b) return EMBER_OK;
    switch (m->kind) {
    case MODEL_BPE: return bpe_encode(c, m, t, b, e);
    case MODEL_WORDPIECE: return wordpiece_encode(c, m, t, b, e);
    case MODEL_UNIGRAM: return unigram_encode(c, m, t, b, e);
    case MODEL_WORDLEVEL: {
        int32_t id = tk_strmap_get(&m->map, t->s + b, e - b);
        if (id < 0) id = m->unk;
        if (id < 0) return ember_fail(EMBER_ERR_FORMAT, "tokenizer: WordLevel word not in the vocabulary and no unk_token");
        return emit(c, t, id, b, e) ? EMBER_OK : c->err;
    }
    }
    return ember_fail(EMBER_ERR_INTERNAL, "tokenizer: unknown model kind");
}

void tk_model_free(tk_model *m) {
    tk_strmap_free(&m->map);
    tk_u64map_free(&m->merges);
}
