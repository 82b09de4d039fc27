/* Internals of the tokenizer: the pipeline's data structures shared by its source files
 * (normalizers, pre-tokenizers, models, decoders, loaders). Not part of the public API. */
#ifndef EMBER_TEXT_TOK_H
#define EMBER_TEXT_TOK_H

#include "core/arena.h"
#include "ember/tokenizer.h"
#include "text/regex.h"

#include <pthread.h>
#include <stdbool.h>
#include <string.h>

/* ---------------------------------------------------------------------------------------------------- */
/* Hash maps */

static inline uint64_t tk_hash(const void *data, size_t n) {
    const uint8_t *p = data;
    uint64_t h = 0x9E3779B97F4A7C15ull ^ (n * 0xFF51AFD7ED558CCDull);
    while (n >= 8) {
        uint64_t w;
        memcpy(&w, p, 8);
        h = (h ^ w) * 0xC6A4A7935BD1E995ull;
        h ^= h >> 29;
        p += 8, n -= 8;
    }
    uint64_t w = 0;
    memcpy(&w, p, n);
    h = (h ^ w) * 0xC6A4A7935BD1E995ull;
    h ^= h >> 32;
    return h;
}

/* String -> int32 over an array of keys owned elsewhere (keys[v], lens[v] for value v). */
typedef struct tk_strmap {
    uint32_t *slots; /* 0 empty, else value + 1 */
    uint32_t mask;
    const char *const *keys;
    const uint32_t *lens;
} tk_strmap;

ember_status tk_strmap_build(tk_strmap *m, const char *const *keys, const uint32_t *lens, int32_t count);
int32_t tk_strmap_get(const tk_strmap *m, const char *s, size_t n);
void tk_strmap_free(tk_strmap *m);

/* uint64 -> uint64 (merges: (left << 32 | right) -> (rank << 32 | result)). Key ~0 is reserved. */
typedef struct tk_u64map {
    uint64_t *keys, *vals;
    size_t mask, count;
} tk_u64map;

ember_status tk_u64map_put(tk_u64map *m, uint64_t key, uint64_t val);
bool tk_u64map_get(const tk_u64map *m, uint64_t key, uint64_t *val);
void tk_u64map_free(tk_u64map *m);

/* ---------------------------------------------------------------------------------------------------- */
/* Text with alignment to the original input */

typedef struct tk_text {
    const char *s;
    size_t n;
    const uint32_t *lo, *hi; /* original byte range of the character each byte came from; NULL: identity */
    uint32_t base;           /* identity: byte i came from base + i */
} tk_text;

static inline uint32_t tk_orig_lo(const tk_text *t, size_t i) { return t->lo ? t->lo[i] : t->base + (uint32_t)i; }
static inline uint32_t tk_orig_hi(const tk_text *t, size_t i) { return t->hi ? t->hi[i] : t->base + (uint32_t)i + 1; }

/* A growable text being built, with alignment. */
typedef struct tk_build {
    char *s;
    uint32_t *lo, *hi;
    size_t n, cap;
} tk_build;

bool tk_build_grow(tk_build *b, size_t need);
static inline bool tk_build_put(tk_build *b, const char *bytes, size_t k, uint32_t lo, uint32_t hi) {
    if (b->n + k > b->cap && !tk_build_grow(b, b->n + k)) return false;
    for (size_t i = 0; i < k; i++) b->s[b->n + i] = bytes[i], b->lo[b->n + i] = lo, b->hi[b->n + i] = hi;
    b->n += k;
    return true;
}
void tk_build_free(tk_build *b);
static inline tk_text tk_build_text(const tk_build *b) { return (tk_text){b->s, b->n, b->lo, b->hi, 0}; }

typedef struct tk_span {
    uint32_t b, e;
} tk_span;

/* ---------------------------------------------------------------------------------------------------- */
/* Pipeline components */

typedef enum {
    NORM_NFC, NORM_NFD, NORM_NFKC, NORM_NFKD, NORM_LOWER, NORM_STRIP_ACCENTS, NORM_STRIP, NORM_REPLACE,
    NORM_PREPEND, NORM_BERT,
} tk_norm_kind;

typedef struct tk_norm {
    tk_norm_kind kind;
    bool left, right;                 /* Strip */
    bool clean_text, chinese, strip_accents, lowercase; /* BertNormalizer */
    char *pattern, *content;          /* Replace (string pattern), Prepend (content) */
    size_t pattern_len, content_len;
    ember_regex *re;                  /* Replace with a regex pattern */
} tk_norm;

typedef enum { SPLIT_REMOVED, SPLIT_ISOLATED, SPLIT_MERGED_PREV, SPLIT_MERGED_NEXT, SPLIT_CONTIGUOUS } tk_behavior;

typedef enum {
    PRE_SPLIT, PRE_BYTELEVEL, PRE_WHITESPACE_SPLIT, PRE_BERT, PRE_METASPACE, PRE_DIGITS, PRE_PUNCT,
    PRE_CHAR_SPLIT,
} tk_pre_kind;

enum { PREPEND_ALWAYS, PREPEND_FIRST, PREPEND_NEVER };

typedef struct tk_pre {
    tk_pre_kind kind;
    tk_behavior behavior;
    bool invert;
    ember_regex *re;        /* Split with a regex, ByteLevel with use_regex */
    char *literal;          /* Split with a string pattern */
    size_t literal_len;
    bool add_prefix_space;  /* ByteLevel */
    bool individual_digits; /* Digits */
    bool ascii_digits;      /* Digits after a ByteLevel step */
    uint32_t replacement;   /* Metaspace; CharDelimiterSplit delimiter */
    int prepend_scheme;     /* Metaspace */
    bool split;             /* Metaspace */
} tk_pre;

typedef enum { MODEL_BPE, MODEL_WORDPIECE, MODEL_UNIGRAM, MODEL_WORDLEVEL } tk_model_kind;

typedef struct tk_model {
    tk_model_kind kind;
    int32_t n;               /* ids 0..n-1 (some may be unused: piece NULL) */
    char **piece;            /* token strings as stored in the file */
    uint32_t *piece_len;
    char **key;              /* lookup form: raw bytes for byte-level BPE, else == piece */
    uint32_t *key_len;
    tk_strmap map;           /* key -> id */
    float *score;            /* Unigram */
    tk_u64map merges;        /* BPE */
    bool byte_level, byte_fallback, ignore_merges, fuse_unk;
    int32_t unk;             /* -1: none */
    char *prefix, *suffix;   /* continuing_subword_prefix, end_of_word_suffix */
    size_t prefix_len, suffix_len;
    int32_t byte_id[256];    /* byte-level: the id of each byte; byte_fallback: id of <0xXX>; -1 absent */
    int max_chars;           /* WordPiece max_input_chars_per_word */
    size_t max_key_len;
    float min_score;         /* Unigram */
} tk_model;

typedef struct tk_added {
    char *content;
    size_t len;
    const char *key; /* what is matched: the content, normalized for a normalized token (as HF) */
    size_t key_len;
    int32_t id;
    bool special, lstrip, rstrip, normalized, single_word;
    bool unmatched; /* a control token that is never recognised in text (llama2.c <s>, </s>, <unk>) */
} tk_added;

typedef enum {
    DEC_BYTELEVEL, DEC_METASPACE, DEC_WORDPIECE, DEC_BYTEFALLBACK, DEC_FUSE, DEC_STRIP, DEC_REPLACE, DEC_BPE,
    DEC_CTC,
} tk_dec_kind;

typedef struct tk_dec {
    tk_dec_kind kind;
    char *a, *b; /* Replace: pattern, content; WordPiece: prefix; BPE: suffix; Metaspace: replacement */
    ember_regex *re; /* Replace with a regex pattern */
    size_t a_len, b_len;
    uint32_t ch; /* Strip: the character */
    int start, stop;
    bool flag;   /* WordPiece cleanup; Metaspace: strip the first space (prepend_scheme != never) */
} tk_dec;

/* Post-processing (TemplateProcessing, BertProcessing, RobertaProcessing, ByteLevel): a template for one
 * sequence and one for a pair. Each item is either special ids to insert or one of the sequences, with the
 * type id its tokens get. */
typedef struct tk_tpl_item {
    int seq;            /* -1: the ids below; 0: the first sequence; 1: the pair */
    const int32_t *ids; /* seq == -1 */
    int nids;
    uint32_t type_id;
} tk_tpl_item;

typedef struct tk_post {
    tk_tpl_item *single, *pair; /* NULL: no template (the sequences as they are, the pair's type id 1) */
    int nsingle, npair;
    int nadd_single, nadd_pair; /* special ids each template adds (truncation leaves room for them) */
    bool trim_offsets;          /* ByteLevel / RobertaProcessing: offsets leave out surrounding spaces */
    bool trim_prefix_space;     /* their add_prefix_space: a single leading space of a first token stays */
    bool plain_without_special; /* Bert/Roberta: without special tokens the sequences as they are */
} tk_post;

enum { TRUNC_LONGEST_FIRST, TRUNC_ONLY_FIRST, TRUNC_ONLY_SECOND };

typedef struct tk_trunc {
    bool on;
    bool left; /* direction Left: keep the end */
    int strategy;
    size_t max_len, stride;
} tk_trunc;

typedef struct tk_pad {
    bool on;
    bool left;
    size_t fixed;    /* 0: BatchLongest */
    size_t multiple; /* pad_to_multiple_of, 0: none */
    int32_t id;
    uint32_t type_id;
} tk_pad;

/* Sets a simple template: `before` ids, the sequence, `after` ids (a pair: the same around each, the
 * pair's tokens with type id 1). Ids are copied into the tokenizer's arena. */
ember_status tk_post_simple(ember_tokenizer *tok, const int32_t *before, int nbefore, const int32_t *after, int nafter);
/* BertProcessing (roberta false) or RobertaProcessing templates for these [CLS]/<s> and [SEP]/</s> ids. */
ember_status tk_post_bert(ember_tokenizer *tok, int32_t cls, int32_t sep, bool roberta);

struct ember_tokenizer {
    ember_arena arena; /* strings and arrays that live as long as the tokenizer */
    tk_norm *norms;
    int nnorms;
    tk_pre *pres;
    int npres;
    tk_model model;
    tk_added *added;
    int nadded;
    tk_strmap added_map; /* content -> index into added */
    const char **added_keys;
    uint32_t *added_lens;
    uint8_t added_first[256]; /* bytes that begin an added token: 1 raw, 2 normalized */
    size_t added_max_len;
    tk_post post;
    tk_trunc trunc;
    tk_pad pad;
    tk_dec *decs;
    int ndecs;
    bool has_decoder;
    int32_t vocab_size;
    int32_t specials[EMBER_TOKEN_KINDS];
    uint8_t *is_special; /* per id */
    bool byte_level_offsets;
    /* working contexts kept between calls (their word caches stay warm); guarded by ctx_lock */
    pthread_mutex_t ctx_lock;
    struct tk_ctx *free_ctx[8];
    int nfree_ctx;
};

/* ---------------------------------------------------------------------------------------------------- */
/* Per-call working state (one per thread) */

typedef struct tk_cache tk_cache;

typedef struct tk_ctx {
    const ember_tokenizer *tok;
    int32_t *ids;
    ember_token_span *spans; /* NULL when offsets are not wanted... kept always, cheap */
    size_t n, cap;
    tk_build nb[2];          /* normalizer buffers */
    tk_build pb[2];          /* pre-tokenizer transform buffers */
    tk_span *splits[2];
    size_t nsplits[2], capsplits[2];
    /* model scratch */
    void *scratch;
    size_t scratch_cap;
    tk_cache *cache;
    ember_status err;
    /* the finished encoding (after truncation, post-processing and padding): either the arrays above
     * (o_ids == ids; type ids 0, no special tokens, no padding) or these */
    int32_t *o_ids;
    ember_token_span *o_spans;
    uint32_t *o_type;
    uint8_t *o_special, *o_attn;
    int8_t *o_seq;
    size_t o_n, o_cap;
    bool o_direct;
    int32_t *own_ids; /* the o_* arrays when they are not ids/spans */
    ember_token_span *own_spans;
} tk_ctx;

bool tk_emit(tk_ctx *c, int32_t id, uint32_t b, uint32_t e);
void *tk_scratch(tk_ctx *c, size_t size);

/* Normalizers: apply the chain to `in`; the result lives in c->nb buffers or is `in` itself. */
ember_status tk_normalize(tk_ctx *c, const tk_norm *norms, int n, const tk_text *in, tk_text *out);
/* Pre-tokenizers: split `in` (one text) into words; *text receives the text the spans index. */
ember_status tk_pretokenize(tk_ctx *c, const tk_pre *pres, int n, const tk_text *in, tk_text *text,
                            const tk_span **spans, size_t *nspans);
/* The model: tokenize one word (bytes w[0..n), a span of `t`) and emit tokens with original offsets. */
ember_status tk_model_encode(tk_ctx *c, const tk_model *m, const tk_text *t, size_t b, size_t e);
void tk_model_free(tk_model *m);
/* Truncation, post-processing and (per-encoding) padding of the tokens in c->ids: the first `na` are the
 * first sequence, the next `nb` the pair (has_pair). Sets c->o_*. */
ember_status tk_post_process(tk_ctx *c, size_t na, size_t nb, bool has_pair, bool add_special);
/* Pads the finished encoding in c to `target` tokens (padding configured; no-op when already longer). */
ember_status tk_pad_to(tk_ctx *c, size_t target);
void tk_post_ctx_free(tk_ctx *c);
/* Decoders: turn pieces into text. */
ember_status tk_decode_pieces(const ember_tokenizer *tok, char **pieces, size_t *lens, size_t n, char **text,
                              size_t *len);

void tk_cache_free(tk_cache *cache);

/* Byte-level mapping of GPT-2: byte -> code point, and back (-1 for a code point that is not one). */
uint32_t tk_byte_to_cp(uint8_t b);
int tk_cp_to_byte(uint32_t cp);

/* Loaders */
ember_status tk_load_json(ember_tokenizer *tok, const char *json, size_t len, const char *name);
ember_status tk_load_gguf(ember_tokenizer *tok, const ember_gguf *g);
ember_status tk_load_llama2c(ember_tokenizer *tok, const uint8_t *data, size_t size, const char *name);
/* After a loader filled the model and added tokens: builds the maps and derived tables. */
ember_status tk_finish(ember_tokenizer *tok);
/* Builds the model's lookup keys and map (loaders call it before adding merges). */
ember_status tk_vocab_ready(ember_tokenizer *tok);
/* The id of a vocabulary piece as stored (e.g. "Ġthe"), or -1. */
int32_t tk_piece_id(const ember_tokenizer *tok, const char *p, size_t n);
/* Score-ranked merges for a SentencePiece-style vocabulary (model.score set); `mergeable` (may be NULL)
 * marks the ids that take part in merges. */
ember_status tk_spm_merges(ember_tokenizer *tok, const uint8_t *mergeable);
char *tk_strdup(ember_tokenizer *tok, const char *s, size_t n);

#endif
