/* Pre-tokenizers: split normalized text into words (Split, ByteLevel, Whitespace(Split), Bert, Metaspace,
 * Digits, Punctuation, CharDelimiterSplit) with Hugging Face's five delimiter behaviors. */
#include "text/tok.h"

#include "text/utf8.h"

#include <utf8proc.h>

typedef struct piece {
    uint32_t b, e;
    bool match;
} piece;

typedef struct pstate {
    tk_ctx *c;
    tk_text text;
    int cur; /* c->splits[cur] holds the current splits */
    piece *pieces;
    size_t npieces, cappieces;
} pstate;

static ember_status nomem(void) { return ember_fail(EMBER_ERR_NOMEM, "tokenizer: out of memory while pre-tokenizing"); }

static bool push_split(tk_ctx *c, int w, uint32_t b, uint32_t e) {
    if (c->nsplits[w] == c->capsplits[w]) {
        size_t cap = c->capsplits[w] ? c->capsplits[w] * 2 : 256;
        tk_span *s = ember_realloc(c->splits[w], cap * sizeof *s);
        if (!s) return false;
        c->splits[w] = s, c->capsplits[w] = cap;
    }
    c->splits[w][c->nsplits[w]++] = (tk_span){b, e};
    return true;
}

static bool push_piece(pstate *st, uint32_t b, uint32_t e, bool match) {
    if (b == e) return true;
    if (st->npieces == st->cappieces) {
        size_t cap = st->cappieces ? st->cappieces * 2 : 256;
        piece *p = ember_realloc(st->pieces, cap * sizeof *p);
        if (!p) return false;
        st->pieces = p, st->cappieces = cap;
    }
    st->pieces[st->npieces++] = (piece){b, e, match};
    return true;
}

/* Applies a delimiter behavior to the pieces of one split, appending words to splits[w]. */
static bool apply_behavior(pstate *st, int w, tk_behavior beh, bool invert) {
    tk_ctx *c = st->c;
    size_t first = c->nsplits[w];
    bool prev_match = false;
    for (size_t i = 0; i < st->npieces; i++) {
        piece p = st->pieces[i];
        bool m = p.match != invert;
        bool have_last = c->nsplits[w] > first;
        tk_span *last = have_last ? &c->splits[w][c->nsplits[w] - 1] : NULL;
        switch (beh) {
        case SPLIT_REMOVED:
            if (!m && !push_split(c, w, p.b, p.e)) return false;
            break;
        case SPLIT_ISOLATED:
            if (!push_split(c, w, p.b, p.e)) return false;
            break;
        case SPLIT_CONTIGUOUS:
            if (have_last && m == prev_match) last->e = p.e;
            else if (!push_split(c, w, p.b, p.e)) return false;
            break;
        case SPLIT_MERGED_PREV:
            if (m && !prev_match && have_last) last->e = p.e;
            else if (!push_split(c, w, p.b, p.e)) return false;
            break;
        case SPLIT_MERGED_NEXT: {
            /* a match joins the piece after it when that piece is not a match itself */
            bool next_plain = i + 1 < st->npieces && (st->pieces[i + 1].match == invert);
            if (m && next_plain) {
                st->pieces[i + 1].b = p.b;
                break;
            }
            if (!push_split(c, w, p.b, p.e)) return false;
            break;
        }
        }
        prev_match = m;
    }
    return true;
}

typedef bool (*char_pred)(const tk_pre *pre, uint32_t cp);

static bool is_space(const tk_pre *pre, uint32_t cp) { return ember_uni_is_space(cp); }
static bool is_punct(const tk_pre *pre, uint32_t cp) {
    if (cp < 0x80) return (cp >= 0x21 && cp <= 0x2F) || (cp >= 0x3A && cp <= 0x40) || (cp >= 0x5B && cp <= 0x60) || (cp >= 0x7B && cp <= 0x7E);
    return (UNI_MASK_P >> ember_uni_category(cp)) & 1;
}
/* HF: Rust's char::is_numeric (Nd, Nl, No); after a ByteLevel step ASCII digits (HF then sees byte-level
 * characters, which the falcon vectors show splitting only at ASCII digits) */
static bool is_digit(const tk_pre *pre, uint32_t cp) {
    if (cp < 0x80 || pre->ascii_digits) return cp >= '0' && cp <= '9';
    return (UNI_MASK_N >> ember_uni_category(cp)) & 1;
}
static bool is_delim(const tk_pre *pre, uint32_t cp) { return cp == pre->replacement; }

/* Finds the pieces of split [b, e) for one pre-tokenizer. */
static bool find_pieces(pstate *st, const tk_pre *pre, const ember_regex *re, char_pred pred, uint32_t b, uint32_t e) {
    st->npieces = 0;
    const char *s = st->text.s + b;
    size_t n = e - b, at = 0;
    if (re || pre->literal) {
        while (at < n) {
            size_t mb, me;
            if (re) {
                if (!ember_regex_find(re, s, n, at, &mb, &me)) break;
            } else {
                const char *f = memmem(s + at, n - at, pre->literal, pre->literal_len);
                if (!f || !pre->literal_len) break;
                mb = (size_t)(f - s), me = mb + pre->literal_len;
            }
            if (!push_piece(st, b + (uint32_t)at, b + (uint32_t)mb, false) || !push_piece(st, b + (uint32_t)mb, b + (uint32_t)me, true))
                return false;
            at = me > mb ? me : mb + (size_t)utf8_len((uint8_t)s[mb]);
            if (me == mb && mb < n) { /* an empty match: the character after it stays with the text */
                if (!push_piece(st, b + (uint32_t)mb, b + (uint32_t)at, false)) return false;
            }
        }
        return at >= n || push_piece(st, b + (uint32_t)at, e, false);
    }
    size_t plain = 0;
    while (at < n) {
        uint32_t cp;
        size_t l = (size_t)utf8_decode((const uint8_t *)s + at, n - at, &cp);
        if (pred(pre, cp)) {
            if (!push_piece(st, b + (uint32_t)plain, b + (uint32_t)at, false) ||
                !push_piece(st, b + (uint32_t)at, b + (uint32_t)(at + l), true))
                return false;
            plain = at + l;
        }
        at += l;
    }
    return push_piece(st, b + (uint32_t)plain, e, false);
}

/* Splits every current split by a pattern or predicate with a behavior. */
static ember_status split_all(pstate *st, const tk_pre *pre, const ember_regex *re, char_pred pred, tk_behavior beh, bool invert) {
    tk_ctx *c = st->c;
    int w = st->cur ^ 1;
    c->nsplits[w] = 0;
    for (size_t i = 0; i < c->nsplits[st->cur]; i++) {
        tk_span sp = c->splits[st->cur][i];
        if (!find_pieces(st, pre, re, pred, sp.b, sp.e) || !apply_behavior(st, w, beh, invert)) return nomem();
    }
    st->cur = w;
    return EMBER_OK;
}

/* Rebuilds the text from the current splits, optionally putting `prefix` before each split that does not
 * start with it (ByteLevel add_prefix_space, Metaspace) and replacing spaces by `repl` (Metaspace). */
static ember_status rebuild(pstate *st, int buf, const char *prefix, size_t prefix_len, int scheme, const char *repl, size_t repl_len) {
    tk_ctx *c = st->c;
    tk_build *out = &c->pb[buf];
    out->n = 0;
    int w = st->cur ^ 1;
    c->nsplits[w] = 0;
    const tk_text *t = &st->text;
    for (size_t i = 0; i < c->nsplits[st->cur]; i++) {
        tk_span sp = c->splits[st->cur][i];
        uint32_t nb = (uint32_t)out->n;
        bool starts = sp.e > sp.b && ((size_t)(sp.e - sp.b) >= prefix_len && !memcmp(t->s + sp.b, prefix, prefix_len));
        if (repl && !starts && sp.e > sp.b && t->s[sp.b] == ' ') starts = true; /* the space becomes the prefix */
        bool add = prefix && !starts && sp.e > sp.b &&
                   (scheme == PREPEND_ALWAYS || (scheme == PREPEND_FIRST && tk_orig_lo(t, sp.b) == 0));
        if (add) {
            size_t l = (size_t)utf8_len((uint8_t)t->s[sp.b]);
            /* ByteLevel's added space covers nothing of the input (HF: an empty range); Metaspace's the char */
            uint32_t lo = tk_orig_lo(t, sp.b), hi = repl ? tk_orig_hi(t, sp.b + l - 1) : lo;
            if (!tk_build_put(out, prefix, prefix_len, lo, hi)) return nomem();
        }
        for (uint32_t k = sp.b; k < sp.e;) {
            size_t l = (size_t)utf8_len((uint8_t)t->s[k]);
            bool sp_char = repl && t->s[k] == ' ';
            if (!tk_build_put(out, sp_char ? repl : t->s + k, sp_char ? repl_len : l, tk_orig_lo(t, k), tk_orig_hi(t, k + l - 1)))
                return nomem();
            k += (uint32_t)l;
        }
        if (!push_split(c, w, nb, (uint32_t)out->n)) return nomem();
    }
    st->text = tk_build_text(out);
    st->cur = w;
    return EMBER_OK;
}

ember_status tk_pretokenize(tk_ctx *c, const tk_pre *pres, int n, const tk_text *in, tk_text *text,
                            const tk_span **spans, size_t *nspans) {
    pstate st = {.c = c, .text = *in, .cur = 0};
    c->nsplits[0] = 0;
    if (in->n && !push_split(c, 0, 0, (uint32_t)in->n)) return nomem();
    ember_status s = EMBER_OK;
    int buf = 0;
    for (int k = 0; k < n && !s; k++) {
        const tk_pre *p = &pres[k];
        switch (p->kind) {
        case PRE_SPLIT: s = split_all(&st, p, p->re, NULL, p->behavior, p->invert); break;
        case PRE_BYTELEVEL:
            if (p->add_prefix_space) s = rebuild(&st, buf, " ", 1, PREPEND_ALWAYS, NULL, 0), buf ^= 1;
            if (!s && p->re) s = split_all(&st, p, p->re, NULL, SPLIT_ISOLATED, false);
            break;
        case PRE_WHITESPACE_SPLIT: s = split_all(&st, p, NULL, is_space, SPLIT_REMOVED, false); break;
        case PRE_BERT:
            s = split_all(&st, p, NULL, is_space, SPLIT_REMOVED, false);
            if (!s) s = split_all(&st, p, NULL, is_punct, SPLIT_ISOLATED, false);
            break;
        case PRE_DIGITS: s = split_all(&st, p, NULL, is_digit, p->individual_digits ? SPLIT_ISOLATED : SPLIT_CONTIGUOUS, false); break;
        case PRE_PUNCT: s = split_all(&st, p, NULL, is_punct, p->behavior, false); break;
        case PRE_CHAR_SPLIT: s = split_all(&st, p, NULL, is_delim, SPLIT_REMOVED, false); break;
        case PRE_METASPACE: {
            char r[4];
            size_t rl = (size_t)utf8_encode(p->replacement, r);
            s = rebuild(&st, buf, r, rl, p->prepend_scheme, r, rl);
            buf ^= 1;
            if (!s && p->split) s = split_all(&st, p, NULL, is_delim, SPLIT_MERGED_NEXT, false);
            break;
        }
        }
    }
    ember_free(st.pieces);
    if (s) return s;
    *text = st.text;
    *spans = c->splits[st.cur];
    *nspans = c->nsplits[st.cur];
    return EMBER_OK;
}
