/* Tokenizers from GGUF vocabularies (tokenizer.ggml.*): "gpt2" byte-level BPE with the pre-tokenizer its
 * `pre` type names, "llama" SentencePiece by score with byte fallback, "bert" WordPiece. The pipeline is the
 * one Hugging Face uses for the same model, so results match HF's tokenizer.json. */
#include "ember/gguf.h"
#include "text/tok.h"

#include "text/utf8.h"

enum { TYPE_NORMAL = 1, TYPE_UNKNOWN = 2, TYPE_CONTROL = 3, TYPE_USER = 4, TYPE_UNUSED = 5, TYPE_BYTE = 6 };

static const char re_gpt2[] = "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+";
static const char re_llama3[] =
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
static const char re_qwen2[] =
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
/* the same with the contractions spelled out (ChatGLM-4, Seed-Coder) or single digits */
static const char re_glm4[] =
    "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
static const char re_seed_coder[] =
    "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1}| ?[^\\s\\p{L}\\p{N}\\r\\n]+|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
static const char re_bailing[] =
    "'(?:[sSdDmMtT]|[lL][lL]|[vV][eE]|[rR][eE])|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
/* o200k (GPT-4o) and Tekken (Mistral NeMo): cased words */
static const char re_gpt4o[] =
    "[^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]*[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?|"
    "[^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]+[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?|"
    "\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n/]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
static const char re_tekken[] =
    "[^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]*[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]+|"
    "[^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]+[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]*|"
    "\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n/]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
/* DeepSeek Coder and DeepSeek V3 split in several steps */
static const char *const re_deepseek_coder[] = {"[\r\n]", "\\s?\\p{L}+", "\\s?\\p{P}+", "[一-龥ࠀ-一가-퟿]+", "\\p{N}", NULL};
static const char *const re_deepseek_v3[] = {
    "\\p{N}{1,3}",
    "[一-龥぀-ゟ゠-ヿ]+",
    "[!\"#$%&'()*+,\\-./:;<=>?@\\[\\\\\\]^_`{|}~][A-Za-z]+|[^\r\n\\p{L}\\p{P}\\p{S}]?[\\p{L}\\p{M}]+| ?[\\p{P}\\p{S}]+[\r\n]*|\\s*[\r\n]+|\\s+(?!\\S)|\\s+",
    NULL,
};
/* DeepSeek LLM's tokenizer.json splits, in order (characters that Unicode normalization would change are
 * written as \\x{...} so the source text cannot alter them) */
static const char *const re_deepseek[] = {
    "[\r\n]",
    "\\s?[A-Za-zµÀ-ÖØ-öø-ƺƼ-ƿǄ-ʓʕ-ʯͰ-ͳͶͷͻ-ͽͿΆΈ-ΊΌΎ-ΡΣ-ϵϷ-ҁҊ-ԯԱ-ՖႠ-ჅᎠ-Ᏽᏸ-ᏽᲐ-ᲺᲽ-Ჿᴀ-ᴫᵫ-ᵷᵹ-ᶚḀ-ἕἘ-Ἕἠ-ὅὈ-Ὅὐ-ὗὙὛὝὟ-\\x{1F7D}ᾀ-ᾴᾶ-ᾼ\\x{1FBE}ῂ-ῄ"
    "ῆ-ῌῐ-\\x{1FD3}ῖ-\\x{1FDB}ῠ-Ῥῲ-ῴῶ-ῼℂℇℊ-ℓℕℙ-ℝℤ\\x{2126}ℨ\\x{212A}-ℭℯ-ℴℹℼ-ℿⅅ-ⅉⅎↃↄⰀ-ⱻⱾ-ⳤⳫ-ⳮⳲⳳꙀ-ꙭꚀ-ꚛꜢ-ꝯꝱ-ꞇꞋ-ꞎꭰ-ꮿﬀ-ﬆﬓ-ﬗＡ-Ｚａ-ｚ𐐀-𐑏𐒰-𐓓𐓘-𐓻𐲀-𐲲"
    "𐳀-𐳲𑢠-𑣟𞤀-𞥃]+",
    "\\s?[!-/:-~！-／：-～‘-‟　-。]+",
    "\\s+$",
    "[一-龥ࠀ-一가-퟿]+",
    "\\p{N}+",
    NULL,
};

typedef struct gguf_vocab {
    const ember_gguf *g;
    const char *name;
    ember_tokenizer *tok;
    int32_t *types;
    uint64_t ntypes;
} gguf_vocab;

static ember_status nomem(void) { return ember_fail(EMBER_ERR_NOMEM, "tokenizer: out of memory while reading a GGUF vocabulary"); }

static int32_t opt_int(const ember_gguf *g, const char *key, int32_t dflt) {
    int64_t v;
    if (ember_gguf_find_key(g, key) < 0 || ember_gguf_get_int(g, key, &v) || v < INT32_MIN || v > INT32_MAX) return dflt;
    return (int32_t)v;
}

static bool opt_bool(const ember_gguf *g, const char *key, bool dflt) {
    bool v;
    if (ember_gguf_find_key(g, key) < 0 || ember_gguf_get_bool(g, key, &v)) return dflt;
    return v;
}

static tk_pre *add_pre(ember_tokenizer *tok, tk_pre_kind kind) {
    tk_pre *p = &tok->pres[tok->npres++];
    memset(p, 0, sizeof *p);
    p->kind = kind;
    return p;
}

static ember_status add_split(ember_tokenizer *tok, const char *re) {
    tk_pre *p = add_pre(tok, PRE_SPLIT);
    p->behavior = SPLIT_ISOLATED;
    return ember_regex_compile(re, 0, &p->re);
}

/* The pre-tokenizer of a "gpt2" vocabulary, by tokenizer.ggml.pre. */
static ember_status bpe_pretokenizer(gguf_vocab *V, const char *pre) {
    ember_tokenizer *tok = V->tok;
    if (!(tok->pres = ember_arena_alloc(&tok->arena, 10 * sizeof(tk_pre), 8))) return nomem();
    ember_status s = EMBER_OK;
    static const char *const gpt2_like[] = {"default", "gpt-2", "gpt2", "mpt", "olmo", "jais", "trillion", NULL};
    static const char *const digits_gpt2[] = {"starcoder", "refact", "command-r", "smollm", "codeshell", "exaone", "minerva-7b", NULL};
    for (int i = 0; gpt2_like[i]; i++)
        if (!strcmp(pre, gpt2_like[i])) return ember_regex_compile(re_gpt2, 0, &add_pre(tok, PRE_BYTELEVEL)->re);
    for (int i = 0; digits_gpt2[i]; i++)
        if (!strcmp(pre, digits_gpt2[i])) { /* HF: Digits(individual_digits) then ByteLevel with its regex */
            add_pre(tok, PRE_DIGITS)->individual_digits = true;
            return ember_regex_compile(re_gpt2, 0, &add_pre(tok, PRE_BYTELEVEL)->re);
        }
    if (!strcmp(pre, "falcon")) {
        add_pre(tok, PRE_PUNCT)->behavior = SPLIT_CONTIGUOUS;
        s = ember_regex_compile(re_gpt2, 0, &add_pre(tok, PRE_BYTELEVEL)->re);
        add_pre(tok, PRE_DIGITS)->ascii_digits = true;
        return s ? s : add_split(tok, "[0-9][0-9][0-9]");
    }
    if (!strcmp(pre, "llama3") || !strcmp(pre, "llama-bpe") || !strcmp(pre, "llama-v3") || !strcmp(pre, "dbrx") || !strcmp(pre, "smaug-bpe"))
        s = add_split(tok, re_llama3);
    else if (!strcmp(pre, "stablelm2") || !strcmp(pre, "hunyuan")) s = add_split(tok, re_qwen2);
    else if (!strcmp(pre, "chatglm-bpe") || !strcmp(pre, "glm4")) s = add_split(tok, re_glm4);
    else if (!strcmp(pre, "seed-coder")) s = add_split(tok, re_seed_coder);
    else if (!strcmp(pre, "bailingmoe") || !strcmp(pre, "bailingmoe2") || !strcmp(pre, "llada-moe")) s = add_split(tok, re_bailing);
    else if (!strcmp(pre, "gpt-4o") || !strcmp(pre, "minimax-m2")) s = add_split(tok, re_gpt4o);
    else if (!strcmp(pre, "tekken")) s = add_split(tok, re_tekken);
    else if (!strcmp(pre, "deepseek-coder")) {
        for (int i = 0; re_deepseek_coder[i] && !s; i++) s = add_split(tok, re_deepseek_coder[i]);
    } else if (!strcmp(pre, "deepseek-v3")) {
        for (int i = 0; re_deepseek_v3[i] && !s; i++) s = add_split(tok, re_deepseek_v3[i]);
    } else if (!strcmp(pre, "qwen2") || !strcmp(pre, "qwen35")) {
        if (!(tok->norms = ember_arena_alloc(&tok->arena, sizeof(tk_norm), 8))) return nomem();
        tok->norms[0] = (tk_norm){.kind = NORM_NFC};
        tok->nnorms = 1;
        s = add_split(tok, re_qwen2);
    } else if (!strcmp(pre, "deepseek-llm")) {
        for (int i = 0; re_deepseek[i] && !s; i++) s = add_split(tok, re_deepseek[i]);
    } else {
        return ember_fail(EMBER_ERR_UNSUPPORTED, "%s: GGUF pre-tokenizer type \"%s\" is not supported", V->name, pre);
    }
    if (!s) add_pre(tok, PRE_BYTELEVEL);
    return s;
}

static ember_status load_tokens(gguf_vocab *V) {
    const char *const *strs;
    const size_t *lens;
    uint64_t n;
    ember_status s = ember_gguf_get_strs(V->g, "tokenizer.ggml.tokens", &strs, &lens, &n);
    if (s) return ember_fail_context(s, "tokenizer: ");
    if (!n || n > 1u << 24) return ember_fail(EMBER_ERR_FORMAT, "%s: tokenizer.ggml.tokens has %llu entries", V->name, (unsigned long long)n);
    ember_tokenizer *tok = V->tok;
    tk_model *m = &tok->model;
    m->n = (int32_t)n;
    m->piece = ember_arena_alloc(&tok->arena, n * sizeof *m->piece, 8);
    m->piece_len = ember_arena_alloc(&tok->arena, n * sizeof *m->piece_len, 8);
    if (!m->piece || !m->piece_len) return nomem();
    for (uint64_t i = 0; i < n; i++) {
        if (!(m->piece[i] = tk_strdup(tok, strs[i], lens[i]))) return nomem();
        m->piece_len[i] = (uint32_t)lens[i];
    }
    if (ember_gguf_find_key(V->g, "tokenizer.ggml.token_type") >= 0) {
        s = ember_gguf_get_i32s(V->g, "tokenizer.ggml.token_type", &V->types, &V->ntypes);
        if (s) return s;
        if (V->ntypes != n)
            return ember_fail(EMBER_ERR_FORMAT, "%s: %llu token types for %llu tokens", V->name, (unsigned long long)V->ntypes,
                              (unsigned long long)n);
    }
    if (ember_gguf_find_key(V->g, "tokenizer.ggml.scores") >= 0) {
        float *scores;
        uint64_t ns;
        if ((s = ember_gguf_get_f32s(V->g, "tokenizer.ggml.scores", &scores, &ns))) return s;
        if (ns == n && (m->score = ember_arena_alloc(&tok->arena, n * sizeof(float), 8))) memcpy(m->score, scores, n * sizeof(float));
        ember_free(scores);
        if (!m->score) return ns == n ? nomem() : ember_fail(EMBER_ERR_FORMAT, "%s: %llu scores for %llu tokens", V->name, (unsigned long long)ns, (unsigned long long)n);
    }
    return EMBER_OK;
}

/* Control and user-defined tokens are matched in the raw text, like HF's added tokens. */
static ember_status load_added(gguf_vocab *V) {
    ember_tokenizer *tok = V->tok;
    if (!V->types) return EMBER_OK;
    size_t count = 0;
    for (uint64_t i = 0; i < V->ntypes; i++) count += V->types[i] == TYPE_CONTROL || V->types[i] == TYPE_USER;
    if (!(tok->added = ember_arena_alloc(&tok->arena, (count + 1) * sizeof(tk_added), 8))) return nomem();
    for (uint64_t i = 0; i < V->ntypes; i++) {
        int32_t t = V->types[i];
        if ((t != TYPE_CONTROL && t != TYPE_USER) || !tok->model.piece_len[i]) continue;
        tk_added *a = &tok->added[tok->nadded++];
        a->content = tok->model.piece[i], a->len = tok->model.piece_len[i];
        a->id = (int32_t)i, a->special = t == TYPE_CONTROL;
    }
    return EMBER_OK;
}

static ember_status load_gpt2(gguf_vocab *V) {
    ember_tokenizer *tok = V->tok;
    tk_model *m = &tok->model;
    m->kind = MODEL_BPE;
    m->byte_level = true;
    const char *pre = "default";
    ember_status s = EMBER_OK;
    if (ember_gguf_find_key(V->g, "tokenizer.ggml.pre") >= 0) s = ember_gguf_get_str(V->g, "tokenizer.ggml.pre", &pre);
    if (!s) s = bpe_pretokenizer(V, pre);
    if (!s) s = tk_vocab_ready(tok);
    const char *const *merges = NULL;
    const size_t *lens = NULL;
    uint64_t n = 0;
    if (!s) s = ember_gguf_get_strs(V->g, "tokenizer.ggml.merges", &merges, &lens, &n);
    for (uint64_t i = 0; i < n && !s; i++) {
        const char *sp = memchr(merges[i], ' ', lens[i]);
        if (!sp) return ember_fail(EMBER_ERR_FORMAT, "%s: merge %llu \"%s\" is not two pieces", V->name, (unsigned long long)i, merges[i]);
        size_t al = (size_t)(sp - merges[i]), bl = lens[i] - al - 1;
        int32_t a = tk_piece_id(tok, merges[i], al), b = tk_piece_id(tok, sp + 1, bl);
        char buf[512];
        int32_t r = -1;
        if (al + bl <= sizeof buf) {
            memcpy(buf, merges[i], al), memcpy(buf + al, sp + 1, bl);
            r = tk_piece_id(tok, buf, al + bl);
        }
        if (a < 0 || b < 0 || r < 0)
            return ember_fail(EMBER_ERR_FORMAT, "%s: merge %llu \"%s\" uses a piece not in the vocabulary", V->name, (unsigned long long)i, merges[i]);
        s = tk_u64map_put(&m->merges, (uint64_t)(uint32_t)a << 32 | (uint32_t)b, (uint64_t)i << 32 | (uint32_t)r);
    }
    if (!s && !(tok->decs = ember_arena_alloc(&tok->arena, sizeof(tk_dec), 8))) s = nomem();
    if (!s) tok->decs[0] = (tk_dec){.kind = DEC_BYTELEVEL}, tok->ndecs = 1, tok->has_decoder = true;
    return s;
}

static ember_status load_llama(gguf_vocab *V) {
    ember_tokenizer *tok = V->tok;
    tk_model *m = &tok->model;
    m->kind = MODEL_BPE;
    m->byte_fallback = true, m->fuse_unk = true;
    m->unk = opt_int(V->g, "tokenizer.ggml.unknown_token_id", 0);
    if (!m->score) return ember_fail(EMBER_ERR_FORMAT, "%s: a \"llama\" vocabulary needs tokenizer.ggml.scores", V->name);
    uint8_t *mergeable = ember_malloc((size_t)m->n);
    if (!mergeable) return nomem();
    for (int32_t i = 0; i < m->n; i++) mergeable[i] = !V->types || V->types[i] == TYPE_NORMAL;
    ember_status s = tk_spm_merges(tok, mergeable);
    ember_free(mergeable);
    if (s) return s;
    bool space = opt_bool(V->g, "tokenizer.ggml.add_space_prefix", true);
    tok->norms = ember_arena_alloc(&tok->arena, 2 * sizeof(tk_norm), 8);
    tok->decs = ember_arena_alloc(&tok->arena, 4 * sizeof(tk_dec), 8);
    char *bar = tk_strdup(tok, "\xE2\x96\x81", 3);
    if (!tok->norms || !tok->decs || !bar) return nomem();
    if (space) tok->norms[tok->nnorms++] = (tk_norm){.kind = NORM_PREPEND, .content = bar, .content_len = 3};
    tok->norms[tok->nnorms++] = (tk_norm){.kind = NORM_REPLACE, .pattern = " ", .pattern_len = 1, .content = bar, .content_len = 3};
    tok->decs[tok->ndecs++] = (tk_dec){.kind = DEC_REPLACE, .a = bar, .a_len = 3, .b = " ", .b_len = 1};
    tok->decs[tok->ndecs++] = (tk_dec){.kind = DEC_BYTEFALLBACK};
    tok->decs[tok->ndecs++] = (tk_dec){.kind = DEC_FUSE};
    if (space) tok->decs[tok->ndecs++] = (tk_dec){.kind = DEC_STRIP, .ch = ' ', .start = 1};
    tok->has_decoder = true;
    return EMBER_OK;
}

/* llama.cpp stores WordPiece pieces SentencePiece-style ("▁word" for a word start, "ing" for "##ing",
 * "[CLS]" unchanged); turn them back into WordPiece form. */
static ember_status bert_pieces(ember_tokenizer *tok) {
    tk_model *m = &tok->model;
    for (int32_t i = 0; i < m->n; i++) {
        const char *p = m->piece[i];
        size_t n = m->piece_len[i];
        if (n >= 3 && !memcmp(p, "\xE2\x96\x81", 3)) {
            m->piece[i] += 3, m->piece_len[i] -= 3;
        } else if (!(n >= 2 && p[0] == '[' && p[n - 1] == ']')) {
            char *q = ember_arena_alloc(&tok->arena, n + 3, 1);
            if (!q) return nomem();
            memcpy(q, "##", 2), memcpy(q + 2, p, n);
            m->piece[i] = q, m->piece_len[i] = (uint32_t)n + 2;
        }
    }
    return EMBER_OK;
}

static ember_status load_bert(gguf_vocab *V) {
    ember_tokenizer *tok = V->tok;
    tk_model *m = &tok->model;
    ember_status s = bert_pieces(tok);
    if (s) return s;
    m->kind = MODEL_WORDPIECE;
    m->prefix = "##", m->prefix_len = 2, m->max_chars = 100;
    m->unk = opt_int(V->g, "tokenizer.ggml.unknown_token_id", -1);
    tok->norms = ember_arena_alloc(&tok->arena, sizeof(tk_norm), 8);
    tok->pres = ember_arena_alloc(&tok->arena, sizeof(tk_pre), 8);
    tok->decs = ember_arena_alloc(&tok->arena, sizeof(tk_dec), 8);
    if (!tok->norms || !tok->pres || !tok->decs) return nomem();
    tok->norms[0] = (tk_norm){.kind = NORM_BERT, .clean_text = true, .chinese = true, .strip_accents = true, .lowercase = true};
    tok->nnorms = 1;
    tok->pres[0] = (tk_pre){.kind = PRE_BERT};
    tok->npres = 1;
    tok->decs[0] = (tk_dec){.kind = DEC_WORDPIECE, .a = "##", .a_len = 2, .flag = true};
    tok->ndecs = 1, tok->has_decoder = true;
    return EMBER_OK;
}

static ember_status set_post(gguf_vocab *V, const char *model) {
    ember_tokenizer *tok = V->tok;
    int32_t *s = tok->specials;
    const ember_gguf *g = V->g;
    s[EMBER_TOKEN_BOS] = opt_int(g, "tokenizer.ggml.bos_token_id", -1);
    s[EMBER_TOKEN_EOS] = opt_int(g, "tokenizer.ggml.eos_token_id", -1);
    s[EMBER_TOKEN_UNK] = opt_int(g, "tokenizer.ggml.unknown_token_id", -1);
    s[EMBER_TOKEN_PAD] = opt_int(g, "tokenizer.ggml.padding_token_id", -1);
    s[EMBER_TOKEN_SEP] = opt_int(g, "tokenizer.ggml.seperator_token_id", -1);
    s[EMBER_TOKEN_CLS] = opt_int(g, "tokenizer.ggml.cls_token_id", -1);
    s[EMBER_TOKEN_MASK] = opt_int(g, "tokenizer.ggml.mask_token_id", -1);
    s[EMBER_TOKEN_EOT] = opt_int(g, "tokenizer.ggml.eot_token_id", -1);
    for (int k = 0; k < EMBER_TOKEN_KINDS; k++)
        if (s[k] >= tok->model.n) return ember_fail(EMBER_ERR_FORMAT, "%s: special token id %d is outside the vocabulary", V->name, s[k]);
    bool bert = !strcmp(model, "bert");
    if (bert && s[EMBER_TOKEN_BOS] < 0) s[EMBER_TOKEN_BOS] = s[EMBER_TOKEN_CLS];
    if (bert && s[EMBER_TOKEN_EOS] < 0) s[EMBER_TOKEN_EOS] = s[EMBER_TOKEN_SEP];
    bool bos = opt_bool(g, "tokenizer.ggml.add_bos_token", bert || !strcmp(model, "llama"));
    bool eos = opt_bool(g, "tokenizer.ggml.add_eos_token", bert);
    int32_t b = bert ? s[EMBER_TOKEN_CLS] : s[EMBER_TOKEN_BOS], e = bert ? s[EMBER_TOKEN_SEP] : s[EMBER_TOKEN_EOS];
    if (bert && bos && eos && b >= 0 && e >= 0) return tk_post_bert(tok, b, e, false); /* pairs as HF's BERT */
    return tk_post_simple(tok, &b, bos && b >= 0, &e, eos && e >= 0);
}

ember_status tk_load_gguf(ember_tokenizer *tok, const ember_gguf *g) {
    gguf_vocab V = {g, ember_gguf_path(g) ? ember_gguf_path(g) : "gguf", tok, NULL, 0};
    const char *model;
    ember_status s = ember_gguf_get_str(g, "tokenizer.ggml.model", &model);
    if (s) return ember_fail_context(s, "tokenizer: no vocabulary: ");
    s = load_tokens(&V);
    if (!s) {
        if (!strcmp(model, "gpt2")) s = load_gpt2(&V);
        else if (!strcmp(model, "llama")) s = load_llama(&V);
        else if (!strcmp(model, "bert")) s = load_bert(&V);
        else s = ember_fail(EMBER_ERR_UNSUPPORTED, "%s: GGUF tokenizer model \"%s\" is not supported (gpt2, llama, bert are)", V.name, model);
    }
    if (!s) s = load_added(&V);
    if (!s) s = set_post(&V, model);
    ember_free(V.types);
    return s;
}
