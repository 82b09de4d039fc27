/* Normalizers (NFC/NFD/NFKC/NFKD, Lowercase, StripAccents, Strip, Replace, Prepend, BertNormalizer),
 * each keeping every output byte aligned to the input characters it came from. */
#include "text/tok.h"

#include "text/utf8.h"

#include <utf8proc.h>

static ember_status nomem(void) { return ember_fail(EMBER_ERR_NOMEM, "tokenizer: out of memory while normalizing"); }

/* Copies the character in[i, i+l) as `bytes`, aligned to it. */
static bool put_from(tk_build *b, const tk_text *in, size_t i, size_t l, const char *bytes, size_t k) {
    return tk_build_put(b, bytes, k, tk_orig_lo(in, i), tk_orig_hi(in, i + l - 1));
}

static bool put_cp(tk_build *b, const tk_text *in, size_t i, size_t l, uint32_t cp) {
    char u[4];
    return put_from(b, in, i, l, u, (size_t)utf8_encode(cp, u));
}

static inline size_t next_char(const tk_text *t, size_t i, uint32_t *cp) {
    return (size_t)utf8_decode((const uint8_t *)t->s + i, t->n - i, cp);
}

/* A character before which Unicode normalization of the text can be cut: a starter that never composes
 * with what precedes it. Normalizing the pieces between such points separately gives the same result. */
static bool safe_starter(uint32_t cp) {
    return cp < 0x300 || (cp >= 0x370 && cp < 0x483) || (cp >= 0x3040 && cp < 0x3099) || (cp >= 0x30A0 && cp < 0x3100) ||
           (cp >= 0x4E00 && cp < 0xA000) || (cp >= 0xAC00 && cp < 0xD7A4);
}

/* True when the character is unchanged by `kind` on its own (it has no decomposition of that kind). */
static bool stable_char(uint32_t cp, tk_norm_kind kind) {
    if (cp < 0xC0) return cp < 0xA0 || kind == NORM_NFC || kind == NORM_NFD;
    if (cp >= 0xAC00 && cp <= 0xD7A3) return kind == NORM_NFC || kind == NORM_NFKC; /* Hangul syllables */
    const utf8proc_property_t *p = utf8proc_get_property((utf8proc_int32_t)cp);
    if (p->decomp_seqindex == UINT16_MAX) return true;
    return p->decomp_type != 0 && (kind == NORM_NFC || kind == NORM_NFD); /* compatibility-only mapping */
}

/* True when normalizing would not change the text: every character is a safe starter that is stable,
 * so no composition, decomposition or reordering can happen. Most text takes this path. */
static bool already_normal(const tk_text *in, tk_norm_kind kind) {
    for (size_t i = 0; i < in->n;) {
        uint8_t c = (uint8_t)in->s[i];
        if (c < 0x80) {
            i++;
            continue;
        }
        uint32_t cp;
        i += next_char(in, i, &cp);
        if (!safe_starter(cp) || !stable_char(cp, kind)) return false;
    }
    return true;
}

/* Number of code points `cp` decomposes to with the decomposition options of `opt`. */
static int decomposed_len(uint32_t cp, utf8proc_option_t opt) {
    utf8proc_int32_t tmp[32];
    int last = 0;
    utf8proc_ssize_t n = utf8proc_decompose_char((utf8proc_int32_t)cp, tmp, 32, (opt & ~UTF8PROC_COMPOSE) | UTF8PROC_DECOMPOSE, &last);
    return n > 0 ? (int)n : 1;
}

/* Emits the normalized piece out[0..got) of in[i, j) with each output character aligned as HF's
 * alignments do: to the original character its (first) decomposed code point came from. */
static bool align_piece(tk_build *b, const tk_text *in, size_t i, size_t j, const int32_t *out, utf8proc_ssize_t got,
                       utf8proc_option_t opt) {
    enum { MAXD = 512 };
    uint32_t owner_pos[MAXD], owner_len[MAXD];
    size_t total = 0;
    for (size_t p = i; p < j;) {
        uint32_t cp;
        size_t l = next_char(in, p, &cp);
        int d = decomposed_len(cp, opt);
        for (int k = 0; k < d; k++, total++)
            if (total < MAXD) owner_pos[total] = (uint32_t)p, owner_len[total] = (uint32_t)l;
        p += l;
    }
    if (total > MAXD) { /* very long run of combining marks: each output char spans the whole piece */
        for (utf8proc_ssize_t k = 0; k < got; k++)
            if (!put_cp(b, in, i, j - i, (uint32_t)out[k])) return false;
        return true;
    }
    size_t at = 0;
    for (utf8proc_ssize_t k = 0; k < got; k++) {
        size_t o = at < total ? at : total - 1;
        if (!put_cp(b, in, owner_pos[o], owner_len[o], (uint32_t)out[k])) return false;
        at += (size_t)decomposed_len((uint32_t)out[k], opt);
    }
    return true;
}

static ember_status unicode_normalize(tk_ctx *c, const tk_text *in, tk_build *b, tk_norm_kind kind) {
    utf8proc_option_t opt = UTF8PROC_STABLE | (kind == NORM_NFC || kind == NORM_NFKC ? UTF8PROC_COMPOSE : UTF8PROC_DECOMPOSE) |
                            (kind == NORM_NFKC || kind == NORM_NFKD ? UTF8PROC_COMPAT : 0);
    size_t i = 0;
    while (i < in->n) {
        uint32_t cp;
        size_t l = next_char(in, i, &cp);
        size_t j = i + l;
        uint32_t first = cp;
        while (j < in->n) {
            size_t k = next_char(in, j, &cp);
            if (safe_starter(cp)) break;
            j += k;
        }
        if (j == i + l && stable_char(first, kind)) {
            if (!put_from(b, in, i, l, in->s + i, l)) return nomem(); /* a lone character that is already normal */
            i = j;
            continue;
        }
        size_t cap = (j - i) * 4 + 16; /* code points; grown when utf8proc asks for more */
        for (;;) {
            int32_t *buf = tk_scratch(c, cap * sizeof(int32_t));
            if (!buf) return c->err;
            utf8proc_ssize_t got = utf8proc_decompose((const utf8proc_uint8_t *)in->s + i, (utf8proc_ssize_t)(j - i), buf,
                                                      (utf8proc_ssize_t)cap, opt);
            if (got < 0) return ember_fail(EMBER_ERR_INTERNAL, "tokenizer: utf8proc: %s", utf8proc_errmsg(got));
            if ((size_t)got > cap) {
                cap = (size_t)got;
                continue;
            }
            got = utf8proc_normalize_utf32(buf, got, opt);
            if (got < 0) return ember_fail(EMBER_ERR_INTERNAL, "tokenizer: utf8proc: %s", utf8proc_errmsg(got));
            if (!align_piece(b, in, i, j, buf, got, opt)) return nomem();
            break;
        }
        i = j;
    }
    return EMBER_OK;
}

static bool is_bert_control(uint32_t cp) {
    if (cp == '\t' || cp == '\n' || cp == '\r') return false;
    int cat = ember_uni_category(cp);
    return cat == UTF8PROC_CATEGORY_CC || cat == UTF8PROC_CATEGORY_CF || cat == UTF8PROC_CATEGORY_CN ||
           cat == UTF8PROC_CATEGORY_CO;
}

static bool is_bert_space(uint32_t cp) {
    return cp == ' ' || cp == '\t' || cp == '\n' || cp == '\r' || ember_uni_category(cp) == UTF8PROC_CATEGORY_ZS;
}

static bool is_chinese(uint32_t cp) {
    return (cp >= 0x4E00 && cp <= 0x9FFF) || (cp >= 0x3400 && cp <= 0x4DBF) || (cp >= 0x20000 && cp <= 0x2A6DF) ||
           (cp >= 0x2A700 && cp <= 0x2B73F) || (cp >= 0x2B740 && cp <= 0x2B81F) || (cp >= 0x2B920 && cp <= 0x2CEAF) ||
           (cp >= 0xF900 && cp <= 0xFAFF) || (cp >= 0x2F800 && cp <= 0x2FA1F);
}

static uint32_t lower(uint32_t cp) { return cp < 0x80 ? (cp >= 'A' && cp <= 'Z' ? cp + 32 : cp) : (uint32_t)utf8proc_tolower((utf8proc_int32_t)cp); }

/* Lowercase as Rust's char::to_lowercase: the one mapping to two characters is U+0130 -> "i\u0307". */
static bool put_lower(tk_build *b, const tk_text *in, size_t i, size_t l, uint32_t cp) {
    if (cp == 0x130) return put_from(b, in, i, l, "i\xCC\x87", 3);
    return put_cp(b, in, i, l, lower(cp));
}

static bool bert_char(tk_build *b, const tk_text *in, size_t i, size_t l, uint32_t cp, const tk_norm *nz) {
    if (cp < 0x80) {
        if (nz->clean_text && (cp == 0 || cp == 0x7F || (cp < 0x20 && cp != '\t' && cp != '\n' && cp != '\r'))) return true;
        if (nz->clean_text && (cp == ' ' || cp == '\t' || cp == '\n' || cp == '\r')) cp = ' ';
        else if (nz->lowercase && cp >= 'A' && cp <= 'Z') cp += 32;
        char c = (char)cp;
        return put_from(b, in, i, l, &c, 1);
    }
    if (nz->clean_text && (cp == 0xFFFD || is_bert_control(cp))) return true;
    if (nz->clean_text && is_bert_space(cp)) return put_from(b, in, i, l, " ", 1);
    if (nz->chinese && is_chinese(cp))
        return put_from(b, in, i, l, " ", 1) && put_from(b, in, i, l, in->s + i, l) && put_from(b, in, i, l, " ", 1);
    utf8proc_int32_t parts[16];
    int last = 0;
    utf8proc_ssize_t np = 1;
    parts[0] = (utf8proc_int32_t)cp;
    if (nz->strip_accents) { /* NFD, then drop nonspacing marks */
        np = utf8proc_decompose_char((utf8proc_int32_t)cp, parts, 16, UTF8PROC_DECOMPOSE, &last);
        if (np < 0 || np > 16) np = 1, parts[0] = (utf8proc_int32_t)cp;
    }
    for (utf8proc_ssize_t k = 0; k < np; k++) {
        uint32_t c = (uint32_t)parts[k];
        if (nz->strip_accents && ember_uni_category(c) == UTF8PROC_CATEGORY_MN) continue;
        if (!(nz->lowercase ? put_lower(b, in, i, l, c) : put_cp(b, in, i, l, c))) return false;
    }
    return true;
}

/* Per-character normalizers: Lowercase, StripAccents, BertNormalizer's steps. */
static ember_status map_chars(const tk_text *in, tk_build *b, const tk_norm *nz, int step) {
    for (size_t i = 0; i < in->n;) {
        uint32_t cp;
        size_t l = next_char(in, i, &cp);
        bool ok = true;
        switch (step) {
        case 0: /* Lowercase */ ok = put_lower(b, in, i, l, cp); break;
        case 1: /* StripAccents: drop combining marks (Mn, Mc, Me; BertNormalizer drops Mn only) */
            if (!((UNI_MASK_M >> ember_uni_category(cp)) & 1)) ok = put_from(b, in, i, l, in->s + i, l);
            break;
        case 3: /* BertNormalizer in one pass: clean text, Chinese characters, strip accents, lowercase */
            ok = bert_char(b, in, i, l, cp, nz);
            break;
        }
        if (!ok) return nomem();
        i += l;
    }
    return EMBER_OK;
}

static ember_status strip(const tk_text *in, tk_build *b, bool left, bool right) {
    size_t s = 0, e = in->n;
    uint32_t cp;
    while (left && s < e && (next_char(in, s, &cp), ember_uni_is_space(cp))) s += (size_t)utf8_len((uint8_t)in->s[s]);
    while (right && e > s) {
        size_t p = e - 1;
        while (p > s && ((uint8_t)in->s[p] & 0xC0) == 0x80) p--;
        next_char(in, p, &cp);
        if (!ember_uni_is_space(cp)) break;
        e = p;
    }
    for (size_t i = s; i < e;) {
        size_t l = next_char(in, i, &cp);
        if (!put_from(b, in, i, l, in->s + i, l)) return nomem();
        i += l;
    }
    return EMBER_OK;
}

/* Replace every match of the pattern by `content`, aligned to what it replaced. */
static ember_status replace(const tk_text *in, tk_build *b, const tk_norm *nz) {
    size_t i = 0;
    while (i < in->n) {
        size_t mb = in->n, me = in->n;
        if (nz->re) {
            if (!ember_regex_find(nz->re, in->s, in->n, i, &mb, &me)) mb = me = in->n;
        } else if (nz->pattern_len) {
            const char *f = memmem(in->s + i, in->n - i, nz->pattern, nz->pattern_len);
            if (f) mb = (size_t)(f - in->s), me = mb + nz->pattern_len;
        }
        for (size_t k = i; k < mb;) { /* copy up to the match */
            uint32_t cp;
            size_t l = next_char(in, k, &cp);
            if (!put_from(b, in, k, l, in->s + k, l)) return nomem();
            k += l;
        }
        if (mb >= in->n) break;
        if (me == mb) { /* an empty match replaces nothing; move on one character */
            if (!put_from(b, in, mb, (size_t)utf8_len((uint8_t)in->s[mb]), in->s + mb, (size_t)utf8_len((uint8_t)in->s[mb])))
                return nomem();
            i = mb + (size_t)utf8_len((uint8_t)in->s[mb]);
            continue;
        }
        /* HF aligns the replacement to the last character of what it replaces */
        size_t last = me - 1;
        while (last > mb && ((uint8_t)in->s[last] & 0xC0) == 0x80) last--;
        if (nz->content_len && !tk_build_put(b, nz->content, nz->content_len, tk_orig_lo(in, last), tk_orig_hi(in, me - 1)))
            return nomem();
        i = me;
    }
    return EMBER_OK;
}

static ember_status prepend(const tk_text *in, tk_build *b, const tk_norm *nz) {
    if (!in->n) return EMBER_OK;
    size_t l = (size_t)utf8_len((uint8_t)in->s[0]);
    if (!put_from(b, in, 0, l, nz->content, nz->content_len)) return nomem();
    for (size_t i = 0; i < in->n;) {
        uint32_t cp;
        size_t k = next_char(in, i, &cp);
        if (!put_from(b, in, i, k, in->s + i, k)) return nomem();
        i += k;
    }
    return EMBER_OK;
}

static ember_status apply_one(tk_ctx *c, const tk_norm *nz, const tk_text *in, tk_build *b) {
    switch (nz->kind) {
    case NORM_NFC: case NORM_NFD: case NORM_NFKC: case NORM_NFKD: return unicode_normalize(c, in, b, nz->kind);
    case NORM_LOWER: return map_chars(in, b, nz, 0);
    case NORM_STRIP_ACCENTS: return map_chars(in, b, nz, 1);
    case NORM_STRIP: return strip(in, b, nz->left, nz->right);
    case NORM_REPLACE: return replace(in, b, nz);
    case NORM_PREPEND: return prepend(in, b, nz);
    case NORM_BERT: return map_chars(in, b, nz, 3);
    }
    return ember_fail(EMBER_ERR_INTERNAL, "tokenizer: normalizer %d applied alone", (int)nz->kind);
}

ember_status tk_normalize(tk_ctx *c, const tk_norm *norms, int n, const tk_text *in, tk_text *out) {
    *out = *in;
    int which = 0;
    for (int k = 0; k < n; k++) {
        const tk_norm *nz = &norms[k];
        bool unicode = nz->kind == NORM_NFC || nz->kind == NORM_NFD || nz->kind == NORM_NFKC || nz->kind == NORM_NFKD;
        if (unicode && already_normal(out, nz->kind)) continue;
        tk_build *b = &c->nb[which];
        b->n = 0;
        ember_status st = apply_one(c, nz, out, b);
        if (st) return st;
        *out = tk_build_text(b);
        which ^= 1;
    }
    return EMBER_OK;
}
