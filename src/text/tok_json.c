/* Loads a Hugging Face tokenizer.json: normalizer, pre_tokenizer, model, added_tokens, post_processor,
 * decoder. Anything the file uses that Ember does not implement is a clear EMBER_ERR_UNSUPPORTED error. */
#include "text/json.h"
#include "text/tok.h"

#include "text/utf8.h"

#include <stdio.h>

typedef struct loader {
    ember_tokenizer *tok;
    const char *name;
} loader;

static ember_status bad(const loader *L, const char *what, const char *detail) {
    return ember_fail(EMBER_ERR_FORMAT, "%s: %s%s%s", L->name, what, detail ? ": " : "", detail ? detail : "");
}

static ember_status unsupported(const loader *L, const char *what, const char *type) {
    return ember_fail(EMBER_ERR_UNSUPPORTED, "%s: %s \"%s\" is not supported", L->name, what, type ? type : "?");
}

static ember_status nomem(void) { return ember_fail(EMBER_ERR_NOMEM, "tokenizer: out of memory while loading"); }

static char *dup_str(loader *L, const ember_json *v, size_t *len) {
    char *s = tk_strdup(L->tok, v->str, v->len);
    if (s && len) *len = v->len;
    return s;
}

/* Array `items` -> list of objects to flatten, with "Sequence" types expanded recursively. */
static ember_status flatten(loader *L, const ember_json *v, const char *list_key, const ember_json ***out, int *n, int *cap,
                            int depth) {
    if (!v || v->type == EMBER_JSON_NULL) return EMBER_OK;
    if (v->type != EMBER_JSON_OBJECT) return bad(L, "expected an object for a pipeline step", list_key);
    if (depth > 32) return bad(L, "pipeline nested too deep", list_key);
    const char *type = ember_json_str(v, "type", NULL);
    if (type && !strcmp(type, "Sequence")) {
        const ember_json *arr = ember_json_get(v, list_key);
        if (!ember_json_is(arr, EMBER_JSON_ARRAY)) return bad(L, "Sequence without an array", list_key);
        for (size_t i = 0; i < arr->len; i++) {
            ember_status s = flatten(L, arr->items[i], list_key, out, n, cap, depth + 1);
            if (s) return s;
        }
        return EMBER_OK;
    }
    if (*n == *cap) {
        int c = *cap ? *cap * 2 : 8;
        const ember_json **p = ember_realloc(*out, (size_t)c * sizeof *p);
        if (!p) return nomem();
        *out = p, *cap = c;
    }
    (*out)[(*n)++] = v;
    return EMBER_OK;
}

/* {"String": s} or {"Regex": r}: sets *lit (string) or compiles *re. */
static ember_status pattern_of(loader *L, const ember_json *v, char **lit, size_t *lit_len, ember_regex **re) {
    const ember_json *s = ember_json_get(v, "pattern");
    const ember_json *str = ember_json_get(s, "String"), *rx = ember_json_get(s, "Regex");
    if (ember_json_is(str, EMBER_JSON_STRING)) {
        *lit = dup_str(L, str, lit_len);
        return *lit ? EMBER_OK : nomem();
    }
    if (ember_json_is(rx, EMBER_JSON_STRING)) {
        ember_status st = ember_regex_compile(rx->str, rx->len ? rx->len : 0, re);
        if (st == EMBER_OK && !rx->len) {
            ember_regex_free(*re);
            *re = NULL;
            return bad(L, "empty regex pattern", NULL);
        }
        return st ? ember_fail_context(st, "%s: ", L->name) : EMBER_OK;
    }
    return bad(L, "pattern must be {\"String\": ...} or {\"Regex\": ...}", NULL);
}

static bool flag(const ember_json *v, const char *key, bool dflt) { return ember_json_bool(v, key, dflt); }

/* ---------------------------------------------------------------------------------------------------- */

static ember_status load_normalizers(loader *L, const ember_json *root) {
    const ember_json **list = NULL;
    int n = 0, cap = 0;
    ember_status s = flatten(L, ember_json_get(root, "normalizer"), "normalizers", &list, &n, &cap, 0);
    if (!s && n) {
        L->tok->norms = ember_arena_alloc(&L->tok->arena, (size_t)n * sizeof(tk_norm), 8);
        if (!L->tok->norms) s = nomem();
    }
    for (int i = 0; i < n && !s; i++) {
        const ember_json *v = list[i];
        const char *t = ember_json_str(v, "type", "");
        tk_norm *nz = &L->tok->norms[L->tok->nnorms];
        if (!strcmp(t, "NFC")) nz->kind = NORM_NFC;
        else if (!strcmp(t, "NFD")) nz->kind = NORM_NFD;
        else if (!strcmp(t, "NFKC")) nz->kind = NORM_NFKC;
        else if (!strcmp(t, "NFKD")) nz->kind = NORM_NFKD;
        else if (!strcmp(t, "Lowercase")) nz->kind = NORM_LOWER;
        else if (!strcmp(t, "StripAccents")) nz->kind = NORM_STRIP_ACCENTS;
        else if (!strcmp(t, "Strip")) nz->kind = NORM_STRIP, nz->left = flag(v, "strip_left", true), nz->right = flag(v, "strip_right", true);
        else if (!strcmp(t, "Replace")) {
            nz->kind = NORM_REPLACE;
            s = pattern_of(L, v, &nz->pattern, &nz->pattern_len, &nz->re);
            const ember_json *c = ember_json_get(v, "content");
            if (!s && !ember_json_is(c, EMBER_JSON_STRING)) s = bad(L, "Replace normalizer without a content string", NULL);
            if (!s && !(nz->content = dup_str(L, c, &nz->content_len))) s = nomem();
        } else if (!strcmp(t, "Prepend")) {
            nz->kind = NORM_PREPEND;
            const ember_json *c = ember_json_get(v, "prepend");
            if (!ember_json_is(c, EMBER_JSON_STRING)) s = bad(L, "Prepend normalizer without a prepend string", NULL);
            else if (!(nz->content = dup_str(L, c, &nz->content_len))) s = nomem();
        } else if (!strcmp(t, "BertNormalizer")) {
            nz->kind = NORM_BERT;
            nz->clean_text = flag(v, "clean_text", true);
            nz->chinese = flag(v, "handle_chinese_chars", true);
            nz->lowercase = flag(v, "lowercase", true);
            nz->strip_accents = flag(v, "strip_accents", nz->lowercase); /* null: follows lowercase */
        } else {
            s = unsupported(L, "normalizer", t);
        }
        if (!s) L->tok->nnorms++;
    }
    ember_free(list);
    return s;
}

static int behavior_of(const char *b) {
    static const char *names[] = {"Removed", "Isolated", "MergedWithPrevious", "MergedWithNext", "Contiguous"};
    for (int i = 0; i < 5; i++)
        if (!strcmp(b, names[i])) return i;
    return -1;
}

/* GPT-2's pre-tokenization pattern, used by ByteLevel with use_regex. */
static const char gpt2_pattern[] = "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+";

static ember_status metaspace_scheme(loader *L, const ember_json *v, int *scheme) {
    const char *ps = ember_json_str(v, "prepend_scheme", NULL);
    if (!ps) *scheme = flag(v, "add_prefix_space", true) ? PREPEND_ALWAYS : PREPEND_NEVER;
    else if (!strcmp(ps, "always")) *scheme = PREPEND_ALWAYS;
    else if (!strcmp(ps, "first")) *scheme = PREPEND_FIRST;
    else if (!strcmp(ps, "never")) *scheme = PREPEND_NEVER;
    else return bad(L, "unknown Metaspace prepend_scheme", ps);
    return EMBER_OK;
}

static ember_status replacement_char(loader *L, const ember_json *v, const char *key, uint32_t dflt, uint32_t *out) {
    const char *r = ember_json_str(v, key, NULL);
    *out = dflt;
    if (!r) return EMBER_OK;
    if (!*r) return bad(L, "empty replacement character", key);
    if (utf8_decode((const uint8_t *)r, strlen(r), out) != (int)strlen(r)) return bad(L, "replacement must be one character", key);
    return EMBER_OK;
}

static ember_status load_pretokenizers(loader *L, const ember_json *root) {
    const ember_json **list = NULL;
    int n = 0, cap = 0;
    ember_status s = flatten(L, ember_json_get(root, "pre_tokenizer"), "pretokenizers", &list, &n, &cap, 0);
    if (!s && n) {
        L->tok->pres = ember_arena_alloc(&L->tok->arena, (size_t)n * sizeof(tk_pre), 8);
        if (!L->tok->pres) s = nomem();
    }
    for (int i = 0; i < n && !s; i++) {
        const ember_json *v = list[i];
        const char *t = ember_json_str(v, "type", "");
        tk_pre *p = &L->tok->pres[L->tok->npres];
        if (!strcmp(t, "Split")) {
            p->kind = PRE_SPLIT;
            int b = behavior_of(ember_json_str(v, "behavior", "Removed"));
            if (b < 0) s = bad(L, "unknown Split behavior", ember_json_str(v, "behavior", ""));
            p->behavior = (tk_behavior)b;
            p->invert = flag(v, "invert", false);
            if (!s) s = pattern_of(L, v, &p->literal, &p->literal_len, &p->re);
        } else if (!strcmp(t, "ByteLevel")) {
            p->kind = PRE_BYTELEVEL;
            p->add_prefix_space = flag(v, "add_prefix_space", true);
            if (flag(v, "use_regex", true)) s = ember_regex_compile(gpt2_pattern, 0, &p->re);
            L->tok->model.byte_level = true;
        } else if (!strcmp(t, "Whitespace")) {
            p->kind = PRE_SPLIT, p->behavior = SPLIT_REMOVED, p->invert = true;
            s = ember_regex_compile("\\w+|[^\\w\\s]+", 0, &p->re);
        } else if (!strcmp(t, "WhitespaceSplit")) p->kind = PRE_WHITESPACE_SPLIT;
        else if (!strcmp(t, "BertPreTokenizer")) p->kind = PRE_BERT;
        else if (!strcmp(t, "Metaspace")) {
            p->kind = PRE_METASPACE;
            p->split = flag(v, "split", true);
            s = replacement_char(L, v, "replacement", 0x2581, &p->replacement);
            if (!s) s = metaspace_scheme(L, v, &p->prepend_scheme);
        } else if (!strcmp(t, "Digits")) {
            p->kind = PRE_DIGITS, p->individual_digits = flag(v, "individual_digits", false);
            for (int k = 0; k < L->tok->npres; k++) p->ascii_digits |= L->tok->pres[k].kind == PRE_BYTELEVEL;
        }
        else if (!strcmp(t, "Punctuation")) {
            p->kind = PRE_PUNCT;
            int b = behavior_of(ember_json_str(v, "behavior", "Isolated"));
            if (b < 0) s = bad(L, "unknown Punctuation behavior", NULL);
            p->behavior = (tk_behavior)b;
        } else if (!strcmp(t, "CharDelimiterSplit")) {
            p->kind = PRE_CHAR_SPLIT;
            s = replacement_char(L, v, "delimiter", ' ', &p->replacement);
        } else {
            s = unsupported(L, "pre-tokenizer", t);
        }
        if (!s) L->tok->npres++;
        else if (p->re) ember_regex_free(p->re), p->re = NULL;
    }
    ember_free(list);
    return s;
}

/* ---------------------------------------------------------------------------------------------------- */
/* Models */

static ember_status alloc_vocab(loader *L, int32_t n) {
    tk_model *m = &L->tok->model;
    m->n = n;
    m->piece = ember_arena_alloc(&L->tok->arena, ((size_t)n + 1) * sizeof *m->piece, 8);
    m->piece_len = ember_arena_alloc(&L->tok->arena, ((size_t)n + 1) * sizeof *m->piece_len, 8);
    return m->piece && m->piece_len ? EMBER_OK : nomem();
}

static ember_status set_piece(loader *L, int32_t id, const ember_json *str) {
    tk_model *m = &L->tok->model;
    if (m->piece[id]) return bad(L, "two vocabulary entries share an id", str->str);
    size_t len;
    if (!(m->piece[id] = dup_str(L, str, &len))) return nomem();
    m->piece_len[id] = (uint32_t)len;
    return EMBER_OK;
}

/* {"piece": id, ...} */
static ember_status load_vocab_object(loader *L, const ember_json *vocab) {
    if (!ember_json_is(vocab, EMBER_JSON_OBJECT)) return bad(L, "model.vocab must be an object", NULL);
    int32_t n = 0;
    for (size_t i = 0; i < vocab->len; i++) {
        double d = vocab->items[i]->num;
        if (vocab->items[i]->type != EMBER_JSON_NUMBER || d < 0 || d > 16777216 || d != (double)(int32_t)d)
            return bad(L, "vocabulary id must be an integer in [0, 2^24]", vocab->items[i]->key);
        if ((int32_t)d + 1 > n) n = (int32_t)d + 1;
    }
    ember_status s = alloc_vocab(L, n);
    for (size_t i = 0; i < vocab->len && !s; i++) {
        const ember_json *it = vocab->items[i];
        ember_json key = {.type = EMBER_JSON_STRING, .str = it->key, .len = it->key_len};
        s = set_piece(L, (int32_t)it->num, &key);
    }
    return s;
}

static ember_status unk_of(loader *L, const ember_json *model) {
    const char *unk = ember_json_str(model, "unk_token", NULL);
    L->tok->model.unk = -1;
    if (!unk) return EMBER_OK;
    for (int32_t i = 0; i < L->tok->model.n; i++)
        if (L->tok->model.piece[i] && !strcmp(L->tok->model.piece[i], unk)) L->tok->model.unk = i;
    return EMBER_OK; /* HF only fails when an unknown piece is met; we then drop it the same way */
}

static ember_status affix(loader *L, const ember_json *model, const char *key, char **out, size_t *len) {
    const ember_json *v = ember_json_get(model, key);
    if (!ember_json_is(v, EMBER_JSON_STRING) || !v->len) return EMBER_OK;
    *out = dup_str(L, v, len);
    return *out ? EMBER_OK : nomem();
}

static ember_status add_merge(loader *L, const char *a, size_t al, const char *b, size_t bl, uint32_t rank) {
    ember_tokenizer *tok = L->tok;
    tk_model *m = &tok->model;
    int32_t ia = tk_piece_id(tok, a, al), ib = tk_piece_id(tok, b, bl);
    if (ia < 0 || ib < 0) return bad(L, "merge of a piece that is not in the vocabulary", ia < 0 ? a : b);
    if (m->prefix_len && bl >= m->prefix_len && !memcmp(b, m->prefix, m->prefix_len)) b += m->prefix_len, bl -= m->prefix_len;
    char stackbuf[512];
    char *buf = al + bl <= sizeof stackbuf ? stackbuf : ember_malloc(al + bl);
    if (!buf) return nomem();
    memcpy(buf, a, al), memcpy(buf + al, b, bl);
    int32_t r = tk_piece_id(tok, buf, al + bl);
    ember_status s = EMBER_OK;
    if (r < 0) {
        char shown[128];
        snprintf(shown, sizeof shown, "%.*s", (int)(al + bl < 100 ? al + bl : 100), buf);
        s = bad(L, "merge result is not in the vocabulary", shown);
    }
    if (buf != stackbuf) ember_free(buf);
    if (!s) s = tk_u64map_put(&m->merges, (uint64_t)(uint32_t)ia << 32 | (uint32_t)ib, (uint64_t)rank << 32 | (uint32_t)r);
    return s;
}

static ember_status load_merges(loader *L, const ember_json *merges) {
    if (!merges || merges->type == EMBER_JSON_NULL) return EMBER_OK;
    if (!ember_json_is(merges, EMBER_JSON_ARRAY)) return bad(L, "model.merges must be an array", NULL);
    for (size_t i = 0; i < merges->len; i++) {
        const ember_json *mv = merges->items[i];
        ember_status s;
        if (mv->type == EMBER_JSON_STRING) {
            const char *sp = memchr(mv->str, ' ', mv->len);
            if (!sp) return bad(L, "merge must be two pieces separated by a space", mv->str);
            s = add_merge(L, mv->str, (size_t)(sp - mv->str), sp + 1, mv->len - (size_t)(sp - mv->str) - 1, (uint32_t)i);
        } else if (mv->type == EMBER_JSON_ARRAY && mv->len == 2 && mv->items[0]->type == EMBER_JSON_STRING &&
                   mv->items[1]->type == EMBER_JSON_STRING) {
            s = add_merge(L, mv->items[0]->str, mv->items[0]->len, mv->items[1]->str, mv->items[1]->len, (uint32_t)i);
        } else {
            return bad(L, "merge must be \"a b\" or [\"a\", \"b\"]", NULL);
        }
        if (s) return s;
    }
    return EMBER_OK;
}

static ember_status load_bpe(loader *L, const ember_json *model) {
    tk_model *m = &L->tok->model;
    m->kind = MODEL_BPE;
    ember_status s = load_vocab_object(L, ember_json_get(model, "vocab"));
    if (!s) s = unk_of(L, model);
    if (!s) s = affix(L, model, "continuing_subword_prefix", &m->prefix, &m->prefix_len);
    if (!s) s = affix(L, model, "end_of_word_suffix", &m->suffix, &m->suffix_len);
    m->byte_fallback = flag(model, "byte_fallback", false);
    m->ignore_merges = flag(model, "ignore_merges", false);
    m->fuse_unk = flag(model, "fuse_unk", false);
    double dropout = ember_json_num(model, "dropout", 0);
    if (!s && dropout > 0 && dropout < 1)
        s = ember_fail(EMBER_ERR_UNSUPPORTED, "%s: BPE dropout (%g) is not supported: it makes encoding random", L->name, dropout);
    if (!s) s = tk_vocab_ready(L->tok);
    if (!s) s = load_merges(L, ember_json_get(model, "merges"));
    return s;
}

static ember_status load_unigram(loader *L, const ember_json *model) {
    tk_model *m = &L->tok->model;
    m->kind = MODEL_UNIGRAM;
    m->fuse_unk = true;
    m->byte_fallback = flag(model, "byte_fallback", false);
    const ember_json *vocab = ember_json_get(model, "vocab");
    if (!ember_json_is(vocab, EMBER_JSON_ARRAY)) return bad(L, "Unigram model.vocab must be an array", NULL);
    ember_status s = alloc_vocab(L, (int32_t)vocab->len);
    if (!s && !(m->score = ember_arena_alloc(&L->tok->arena, (vocab->len + 1) * sizeof(float), 8))) s = nomem();
    m->min_score = 0;
    for (size_t i = 0; i < vocab->len && !s; i++) {
        const ember_json *e = vocab->items[i];
        if (!ember_json_is(e, EMBER_JSON_ARRAY) || e->len != 2 || e->items[0]->type != EMBER_JSON_STRING ||
            e->items[1]->type != EMBER_JSON_NUMBER)
            return bad(L, "Unigram vocabulary entries must be [piece, score]", NULL);
        s = set_piece(L, (int32_t)i, e->items[0]);
        m->score[i] = (float)e->items[1]->num;
        if (i == 0 || m->score[i] < m->min_score) m->min_score = m->score[i];
    }
    double unk = ember_json_num(model, "unk_id", -1);
    m->unk = unk >= 0 && unk < (double)vocab->len ? (int32_t)unk : -1;
    return s;
}

static ember_status load_model(loader *L, const ember_json *root) {
    const ember_json *model = ember_json_get(root, "model");
    if (!ember_json_is(model, EMBER_JSON_OBJECT)) return bad(L, "missing \"model\" object", NULL);
    const char *t = ember_json_str(model, "type", NULL);
    if (!t) { /* old files omit the type: infer it */
        const ember_json *vocab = ember_json_get(model, "vocab");
        t = ember_json_get(model, "merges") ? "BPE" : ember_json_is(vocab, EMBER_JSON_ARRAY) ? "Unigram"
            : ember_json_get(model, "continuing_subword_prefix") ? "WordPiece" : "WordLevel";
    }
    tk_model *m = &L->tok->model;
    if (!strcmp(t, "BPE")) return load_bpe(L, model);
    if (!strcmp(t, "Unigram")) return load_unigram(L, model);
    if (!strcmp(t, "WordPiece") || !strcmp(t, "WordLevel")) {
        m->kind = !strcmp(t, "WordPiece") ? MODEL_WORDPIECE : MODEL_WORDLEVEL;
        m->byte_level = false;
        ember_status s = load_vocab_object(L, ember_json_get(model, "vocab"));
        if (!s) s = unk_of(L, model);
        if (!s && m->kind == MODEL_WORDPIECE) {
            const ember_json *p = ember_json_get(model, "continuing_subword_prefix");
            if (ember_json_is(p, EMBER_JSON_STRING)) s = affix(L, model, "continuing_subword_prefix", &m->prefix, &m->prefix_len);
            else m->prefix = "##", m->prefix_len = 2;
            m->max_chars = (int)ember_json_num(model, "max_input_chars_per_word", 100);
        }
        return s;
    }
    return unsupported(L, "model", t);
}

/* ---------------------------------------------------------------------------------------------------- */

/* The model's id of a piece written as in the vocabulary (byte-level: "Ġworld"), or -1. */
static int32_t model_piece_id(ember_tokenizer *tok, const char *p, size_t n) {
    const tk_model *m = &tok->model;
    if (!m->byte_level) return tk_strmap_get(&m->map, p, n);
    char buf[512];
    size_t o = 0;
    for (size_t j = 0; j < n;) {
        uint32_t cp;
        j += (size_t)utf8_decode((const uint8_t *)p + j, n - j, &cp);
        int b = cp == UTF8_INVALID ? -1 : tk_cp_to_byte(cp);
        if (b < 0 || o == sizeof buf) return -1;
        buf[o++] = (char)b;
    }
    return tk_strmap_get(&m->map, buf, o);
}

/* Added tokens get their ids as HF assigns them on loading (the "id" fields are only checked there): in
 * list order, the id of the same content already known (model vocabulary or an earlier added token, whose
 * settings the later entry replaces), else the next id after the vocabulary and the added tokens. */
static ember_status load_added(loader *L, const ember_json *root) {
    const ember_json *arr = ember_json_get(root, "added_tokens");
    if (!arr || arr->type == EMBER_JSON_NULL) return EMBER_OK;
    if (!ember_json_is(arr, EMBER_JSON_ARRAY)) return bad(L, "added_tokens must be an array", NULL);
    ember_tokenizer *tok = L->tok;
    ember_status s = tk_vocab_ready(tok);
    if (s) return s;
    tok->added = ember_arena_alloc(&tok->arena, (arr->len + 1) * sizeof(tk_added), 8);
    if (!tok->added) return nomem();
    int32_t max_added = -1;
    for (size_t i = 0; i < arr->len; i++) {
        const ember_json *v = arr->items[i], *c = ember_json_get(v, "content");
        double id = ember_json_num(v, "id", -1);
        if (!ember_json_is(c, EMBER_JSON_STRING) || id < 0 || id > 16777216 || id != (double)(int32_t)id)
            return bad(L, "added token needs a content string and an integer id", NULL);
        if (!c->len) return bad(L, "added token with empty content", NULL);
        tk_added *a = NULL;
        for (int k = 0; k < tok->nadded && !a; k++)
            if (tok->added[k].len == c->len && !memcmp(tok->added[k].content, c->str, c->len)) a = &tok->added[k];
        if (!a) {
            a = &tok->added[tok->nadded++];
            if (!(a->content = dup_str(L, c, &a->len))) return nomem();
            a->id = model_piece_id(tok, c->str, c->len);
            if (a->id < 0) a->id = max_added < 0 ? tok->model.n : max_added >= tok->model.n ? max_added + 1 : tok->model.n;
            if (a->id > max_added) max_added = a->id;
        }
        a->special = flag(v, "special", false);
        a->lstrip = flag(v, "lstrip", false), a->rstrip = flag(v, "rstrip", false);
        a->single_word = flag(v, "single_word", false);
        a->normalized = flag(v, "normalized", !a->special);
    }
    return EMBER_OK;
}

/* Resolves a token name of a post-processor to an id (vocabulary or added token). */
static int32_t name_id(loader *L, const char *name) {
    for (int k = 0; k < L->tok->nadded; k++)
        if (!strcmp(L->tok->added[k].content, name)) return L->tok->added[k].id;
    return tk_piece_id(L->tok, name, strlen(name));
}

/* One template ("single" or "pair") of TemplateProcessing. */
static ember_status load_template_list(loader *L, const ember_json *list, const ember_json *specials, tk_tpl_item **out, int *nout,
                                       int *nadd) {
    if (!ember_json_is(list, EMBER_JSON_ARRAY)) return bad(L, "TemplateProcessing template must be an array", NULL);
    tk_tpl_item *t = ember_arena_alloc(&L->tok->arena, (list->len + 1) * sizeof *t, 8);
    if (!t) return nomem();
    *nout = 0, *nadd = 0;
    for (size_t i = 0; i < list->len; i++) {
        const ember_json *it = list->items[i], *st = ember_json_get(it, "SpecialToken"), *sq = ember_json_get(it, "Sequence");
        tk_tpl_item *x = &t[(*nout)++];
        memset(x, 0, sizeof *x);
        double type = ember_json_num(sq ? sq : st, "type_id", 0);
        if (type < 0 || type > 1e9) return bad(L, "template type_id out of range", NULL);
        x->type_id = (uint32_t)type;
        if (sq) {
            const char *id = ember_json_str(sq, "id", "A");
            if (strcmp(id, "A") && strcmp(id, "B")) return bad(L, "template sequence must be A or B", id);
            x->seq = id[0] == 'B';
            continue;
        }
        const char *name = ember_json_str(st, "id", NULL);
        if (!name) return bad(L, "template item is neither SpecialToken nor Sequence", NULL);
        x->seq = -1;
        const ember_json *ids = ember_json_get(ember_json_get(specials, name), "ids");
        size_t k = ids ? ember_json_len(ids) : 1;
        int32_t *v = ember_arena_alloc(&L->tok->arena, (k + 1) * sizeof *v, 4);
        if (!v) return nomem();
        if (!ids) {
            v[0] = name_id(L, name);
            if (v[0] < 0) return bad(L, "template special token is not in the vocabulary", name);
        }
        for (size_t j = 0; ids && j < k; j++) {
            const ember_json *n = ids->items[j];
            if (n->type != EMBER_JSON_NUMBER || n->num < 0 || n->num > 16777216) return bad(L, "template special token id", name);
            v[j] = (int32_t)n->num;
        }
        x->ids = v, x->nids = (int)k, *nadd += (int)k;
    }
    *out = t;
    return EMBER_OK;
}

static ember_status load_template(loader *L, const ember_json *v) {
    tk_post *p = &L->tok->post;
    const ember_json *sp = ember_json_get(v, "special_tokens");
    ember_status s = load_template_list(L, ember_json_get(v, "single"), sp, &p->single, &p->nsingle, &p->nadd_single);
    const ember_json *pair = ember_json_get(v, "pair");
    if (!s && pair && pair->type != EMBER_JSON_NULL) s = load_template_list(L, pair, sp, &p->pair, &p->npair, &p->nadd_pair);
    else if (!s) p->pair = NULL, p->npair = 0; /* HF errors on a pair then; we give the sequences one after the other */
    return s;
}

static ember_status pair_token(loader *L, const ember_json *v, const char *key, int32_t *id) {
    const ember_json *t = ember_json_get(v, key);
    if (!ember_json_is(t, EMBER_JSON_ARRAY) || t->len != 2 || t->items[1]->type != EMBER_JSON_NUMBER || t->items[1]->num < 0)
        return bad(L, "post-processor token must be [\"text\", id]", key);
    *id = (int32_t)t->items[1]->num;
    return EMBER_OK;
}

static ember_status load_bert_roberta(loader *L, const ember_json *v, bool roberta) {
    int32_t cls, sep;
    ember_status s = pair_token(L, v, "cls", &cls);
    if (!s) s = pair_token(L, v, "sep", &sep);
    if (!s) s = tk_post_bert(L->tok, cls, sep, roberta);
    if (!s && roberta) {
        L->tok->post.trim_offsets = flag(v, "trim_offsets", true);
        L->tok->post.trim_prefix_space = flag(v, "add_prefix_space", true);
    }
    return s;
}

static ember_status load_post(loader *L, const ember_json *root) {
    const ember_json **list = NULL;
    int n = 0, cap = 0, templates = 0;
    ember_status s = flatten(L, ember_json_get(root, "post_processor"), "processors", &list, &n, &cap, 0);
    tk_post *p = &L->tok->post;
    for (int i = 0; i < n && !s; i++) {
        const char *t = ember_json_str(list[i], "type", "");
        bool tpl = !strcmp(t, "TemplateProcessing") || !strcmp(t, "BertProcessing") || !strcmp(t, "RobertaProcessing");
        if (tpl && templates++) s = unsupported(L, "post-processor", "Sequence with more than one template");
        else if (!strcmp(t, "TemplateProcessing")) s = load_template(L, list[i]);
        else if (!strcmp(t, "BertProcessing") || !strcmp(t, "RobertaProcessing")) s = load_bert_roberta(L, list[i], t[0] == 'R');
        else if (!strcmp(t, "ByteLevel")) {
            p->trim_offsets = flag(list[i], "trim_offsets", true);
            p->trim_prefix_space = flag(list[i], "add_prefix_space", true);
        } else s = unsupported(L, "post-processor", t);
    }
    ember_free(list);
    return s;
}

/* "truncation": {"direction", "max_length", "strategy", "stride"} and "padding": {"strategy", "direction",
 * "pad_to_multiple_of", "pad_id", "pad_type_id", "pad_token"}, applied to every encoding as HF does. */
static ember_status load_trunc_pad(loader *L, const ember_json *root) {
    ember_tokenizer *tok = L->tok;
    const ember_json *t = ember_json_get(root, "truncation"), *p = ember_json_get(root, "padding");
    if (ember_json_is(t, EMBER_JSON_OBJECT)) {
        tk_trunc *tr = &tok->trunc;
        double max = ember_json_num(t, "max_length", 512), stride = ember_json_num(t, "stride", 0);
        if (max < 0 || max > 1e9 || stride < 0 || stride > 1e9) return bad(L, "truncation max_length/stride out of range", NULL);
        tr->on = true, tr->max_len = (size_t)max, tr->stride = (size_t)stride;
        const char *dir = ember_json_str(t, "direction", "Right"), *st = ember_json_str(t, "strategy", "LongestFirst");
        if (strcmp(dir, "Right") && strcmp(dir, "Left")) return bad(L, "truncation direction must be Left or Right", dir);
        tr->left = dir[0] == 'L';
        if (!strcmp(st, "LongestFirst")) tr->strategy = TRUNC_LONGEST_FIRST;
        else if (!strcmp(st, "OnlyFirst")) tr->strategy = TRUNC_ONLY_FIRST;
        else if (!strcmp(st, "OnlySecond")) tr->strategy = TRUNC_ONLY_SECOND;
        else return bad(L, "unknown truncation strategy", st);
    }
    if (ember_json_is(p, EMBER_JSON_OBJECT)) {
        tk_pad *pd = &tok->pad;
        pd->on = true;
        const ember_json *st = ember_json_get(p, "strategy");
        if (ember_json_is(st, EMBER_JSON_OBJECT)) {
            double f = ember_json_num(st, "Fixed", -1);
            if (f < 0 || f > 1e9) return bad(L, "padding strategy must be BatchLongest or {\"Fixed\": n}", NULL);
            pd->fixed = (size_t)f;
            if (!pd->fixed) pd->on = false; /* Fixed(0) pads nothing */
        } else if (st && !(ember_json_is(st, EMBER_JSON_STRING) && !strcmp(st->str, "BatchLongest"))) {
            return bad(L, "padding strategy must be BatchLongest or {\"Fixed\": n}", NULL);
        }
        const char *dir = ember_json_str(p, "direction", "Right");
        if (strcmp(dir, "Right") && strcmp(dir, "Left")) return bad(L, "padding direction must be Left or Right", dir);
        pd->left = dir[0] == 'L';
        double m = ember_json_num(p, "pad_to_multiple_of", 0), id = ember_json_num(p, "pad_id", 0), type = ember_json_num(p, "pad_type_id", 0);
        if (m < 0 || m > 1e9 || id < 0 || id > 16777216 || type < 0 || type > 1e9) return bad(L, "padding values out of range", NULL);
        pd->multiple = (size_t)m, pd->id = (int32_t)id, pd->type_id = (uint32_t)type;
    }
    return EMBER_OK;
}

static ember_status load_decoders(loader *L, const ember_json *root) {
    const ember_json **list = NULL;
    int n = 0, cap = 0;
    const ember_json *dv = ember_json_get(root, "decoder");
    ember_status s = flatten(L, dv, "decoders", &list, &n, &cap, 0);
    ember_tokenizer *tok = L->tok;
    tok->has_decoder = dv && dv->type != EMBER_JSON_NULL;
    if (!s && n && !(tok->decs = ember_arena_alloc(&tok->arena, (size_t)n * sizeof(tk_dec), 8))) s = nomem();
    for (int i = 0; i < n && !s; i++) {
        const ember_json *v = list[i];
        const char *t = ember_json_str(v, "type", "");
        tk_dec *d = &tok->decs[tok->ndecs];
        if (!strcmp(t, "ByteLevel")) d->kind = DEC_BYTELEVEL;
        else if (!strcmp(t, "ByteFallback")) d->kind = DEC_BYTEFALLBACK;
        else if (!strcmp(t, "Fuse")) d->kind = DEC_FUSE;
        else if (!strcmp(t, "Metaspace")) {
            d->kind = DEC_METASPACE;
            uint32_t r = 0x2581;
            int scheme = PREPEND_ALWAYS;
            s = replacement_char(L, v, "replacement", 0x2581, &r);
            if (!s) s = metaspace_scheme(L, v, &scheme);
            char buf[4];
            d->a_len = (size_t)utf8_encode(r, buf);
            if (!s && !(d->a = tk_strdup(tok, buf, d->a_len))) s = nomem();
            d->flag = scheme != PREPEND_NEVER;
        } else if (!strcmp(t, "WordPiece")) {
            d->kind = DEC_WORDPIECE;
            const char *pfx = ember_json_str(v, "prefix", "##");
            d->a_len = strlen(pfx);
            if (!(d->a = tk_strdup(tok, pfx, d->a_len))) s = nomem();
            d->flag = flag(v, "cleanup", true);
        } else if (!strcmp(t, "BPEDecoder")) {
            d->kind = DEC_BPE;
            const char *sfx = ember_json_str(v, "suffix", "</w>");
            d->a_len = strlen(sfx);
            if (!(d->a = tk_strdup(tok, sfx, d->a_len))) s = nomem();
        } else if (!strcmp(t, "Strip")) {
            d->kind = DEC_STRIP;
            s = replacement_char(L, v, "content", ' ', &d->ch);
            d->start = (int)ember_json_num(v, "start", 0), d->stop = (int)ember_json_num(v, "stop", 0);
        } else if (!strcmp(t, "Replace")) {
            d->kind = DEC_REPLACE;
            s = pattern_of(L, v, &d->a, &d->a_len, &d->re);
            const ember_json *c = ember_json_get(v, "content");
            if (!s && !ember_json_is(c, EMBER_JSON_STRING)) s = bad(L, "Replace decoder without a content string", NULL);
            if (!s && !(d->b = dup_str(L, c, &d->b_len))) s = nomem();
        } else {
            s = unsupported(L, "decoder", t);
        }
        if (!s) tok->ndecs++;
        else if (d->re) ember_regex_free(d->re), d->re = NULL;
    }
    ember_free(list);
    return s;
}

ember_status tk_load_json(ember_tokenizer *tok, const char *json, size_t len, const char *name) {
    ember_json_doc *doc = NULL;
    ember_status s = ember_json_parse(json, len, name, &doc);
    if (s) return s;
    loader L = {tok, name};
    const ember_json *root = doc->root;
    if (!ember_json_is(root, EMBER_JSON_OBJECT)) s = bad(&L, "top level is not an object", NULL);
    /* pre-tokenizers first: ByteLevel decides how the model's vocabulary is keyed */
    if (!s) s = load_pretokenizers(&L, root);
    if (!s) s = load_normalizers(&L, root);
    if (!s) s = load_model(&L, root);
    if (!s) s = load_added(&L, root);
    if (!s) s = load_post(&L, root);
    if (!s) s = load_trunc_pad(&L, root);
    if (!s) s = load_decoders(&L, root);
    ember_json_free(doc);
    return s;
}
