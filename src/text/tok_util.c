/* Tokenizer building blocks: hash maps, aligned text buffers, the GPT-2 byte-level mapping, output. */
#include "text/tok.h"

#include "text/utf8.h"

#include <pthread.h>

/* ---------------------------------------------------------------------------------------------------- */
/* String map */

ember_status tk_strmap_build(tk_strmap *m, const char *const *keys, const uint32_t *lens, int32_t count) {
    size_t cap = 16;
    while (cap < (size_t)count * 2 + 16) cap *= 2;
    m->slots = ember_calloc(cap, sizeof *m->slots);
    if (!m->slots) return ember_fail(EMBER_ERR_NOMEM, "tokenizer: out of memory for a vocabulary map");
    m->mask = (uint32_t)(cap - 1);
    m->keys = keys, m->lens = lens;
    for (int32_t v = 0; v < count; v++) {
        if (!keys[v]) continue;
        uint32_t i = (uint32_t)tk_hash(keys[v], lens[v]) & m->mask;
        for (;;) {
            uint32_t s = m->slots[i];
            if (!s) {
                m->slots[i] = (uint32_t)v + 1;
                break;
            }
            /* a repeated key keeps its first value, except that later ids win as in HF's HashMap build */
            if (lens[s - 1] == lens[v] && !memcmp(keys[s - 1], keys[v], lens[v])) {
                m->slots[i] = (uint32_t)v + 1;
                break;
            }
            i = (i + 1) & m->mask;
        }
    }
    return EMBER_OK;
}

int32_t tk_strmap_get(const tk_strmap *m, const char *s, size_t n) {
    if (!m->slots) return -1;
    uint32_t i = (uint32_t)tk_hash(s, n) & m->mask;
    for (;;) {
        uint32_t v = m->slots[i];
        if (!v) return -1;
        v--;
        if (m->lens[v] == n && !memcmp(m->keys[v], s, n)) return (int32_t)v;
        i = (i + 1) & m->mask;
    }
}

void tk_strmap_free(tk_strmap *m) {
    ember_free(m->slots);
    m->slots = NULL;
}

/* ---------------------------------------------------------------------------------------------------- */
/* uint64 map */

static inline size_t mix64(uint64_t k) {
    k ^= k >> 33;
    k *= 0xFF51AFD7ED558CCDull;
    k ^= k >> 33;
    return (size_t)k;
}

static ember_status u64_grow(tk_u64map *m) {
    size_t cap = m->mask ? (m->mask + 1) * 2 : 1024;
    uint64_t *keys = ember_malloc(cap * sizeof *keys), *vals = ember_malloc(cap * sizeof *vals);
    if (!keys || !vals) {
        ember_free(keys), ember_free(vals);
        return ember_fail(EMBER_ERR_NOMEM, "tokenizer: out of memory for the merges");
    }
    memset(keys, 0xFF, cap * sizeof *keys);
    for (size_t i = 0; m->mask && i <= m->mask; i++) {
        if (m->keys[i] == ~0ull) continue;
        size_t j = mix64(m->keys[i]) & (cap - 1);
        while (keys[j] != ~0ull) j = (j + 1) & (cap - 1);
        keys[j] = m->keys[i], vals[j] = m->vals[i];
    }
    ember_free(m->keys), ember_free(m->vals);
    m->keys = keys, m->vals = vals, m->mask = cap - 1;
    return EMBER_OK;
}

ember_status tk_u64map_put(tk_u64map *m, uint64_t key, uint64_t val) {
    if ((m->count + 1) * 2 > (m->mask ? m->mask + 1 : 0)) {
        ember_status s = u64_grow(m);
        if (s) return s;
    }
    size_t j = mix64(key) & m->mask;
    while (m->keys[j] != ~0ull && m->keys[j] != key) j = (j + 1) & m->mask;
    if (m->keys[j] == ~0ull) m->count++;
    m->keys[j] = key, m->vals[j] = val;
    return EMBER_OK;
}

bool tk_u64map_get(const tk_u64map *m, uint64_t key, uint64_t *val) {
    if (!m->mask) return false;
    size_t j = mix64(key) & m->mask;
    for (;;) {
        uint64_t k = m->keys[j];
        if (k == key) {
            *val = m->vals[j];
            return true;
        }
        if (k == ~0ull) return false;
        j = (j + 1) & m->mask;
    }
}

void tk_u64map_free(tk_u64map *m) {
    ember_free(m->keys), ember_free(m->vals);
    memset(m, 0, sizeof *m);
}

/* ---------------------------------------------------------------------------------------------------- */
/* Aligned text buffers */

bool tk_build_grow(tk_build *b, size_t need) {
    size_t cap = b->cap ? b->cap : 256;
    while (cap < need) cap *= 2;
    char *s = ember_realloc(b->s, cap + 1);
    if (s) b->s = s;
    uint32_t *l = s ? ember_realloc(b->lo, cap * sizeof *l) : NULL;
    if (l) b->lo = l;
    uint32_t *h = l ? ember_realloc(b->hi, cap * sizeof *h) : NULL;
    if (!h) return false;
    b->hi = h, b->cap = cap;
    return true;
}

void tk_build_free(tk_build *b) {
    ember_free(b->s), ember_free(b->lo), ember_free(b->hi);
    memset(b, 0, sizeof *b);
}

/* ---------------------------------------------------------------------------------------------------- */
/* GPT-2 byte-level mapping: printable Latin-1 bytes stand for themselves, the rest map to U+0100.. */

static bool byte_is_printable(int b) { return (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF); }

static uint16_t byte_cp[256];
static uint16_t cp_byte[256 + 68]; /* code point < 324 -> byte + 1 (0: none) */
static pthread_once_t byte_once = PTHREAD_ONCE_INIT;

static void byte_tables(void) {
    uint32_t n = 0;
    for (int b = 0; b < 256; b++) {
        byte_cp[b] = (uint16_t)(byte_is_printable(b) ? (uint32_t)b : 256 + n++);
        cp_byte[byte_cp[b]] = (uint16_t)(b + 1);
    }
}

uint32_t tk_byte_to_cp(uint8_t b) {
    pthread_once(&byte_once, byte_tables);
    return byte_cp[b];
}

int tk_cp_to_byte(uint32_t cp) {
    pthread_once(&byte_once, byte_tables);
    if (cp >= 256 + 68) return -1;
    return cp_byte[cp] ? cp_byte[cp] - 1 : -1;
}

/* ---------------------------------------------------------------------------------------------------- */
/* Output */

bool tk_emit(tk_ctx *c, int32_t id, uint32_t b, uint32_t e) {
    if (c->n == c->cap) {
        size_t cap = c->cap ? c->cap * 2 : 64;
        int32_t *ids = ember_realloc(c->ids, cap * sizeof *ids);
        if (ids) c->ids = ids;
        ember_token_span *sp = ids ? ember_realloc(c->spans, cap * sizeof *sp) : NULL;
        if (!sp) {
            c->err = ember_fail(EMBER_ERR_NOMEM, "tokenizer: out of memory for the output");
            return false;
        }
        c->spans = sp, c->cap = cap;
    }
    c->ids[c->n] = id;
    c->spans[c->n].begin = b, c->spans[c->n].end = e;
    c->n++;
    return true;
}

void *tk_scratch(tk_ctx *c, size_t size) {
    if (size > c->scratch_cap) {
        size_t cap = c->scratch_cap ? c->scratch_cap : 4096;
        while (cap < size) cap *= 2;
        void *p = ember_realloc(c->scratch, cap);
        if (!p) {
            c->err = ember_fail(EMBER_ERR_NOMEM, "tokenizer: out of memory for scratch space");
            return NULL;
        }
        c->scratch = p, c->scratch_cap = cap;
    }
    return c->scratch;
}
