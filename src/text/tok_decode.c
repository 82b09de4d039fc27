/* Decoders: turn token pieces back into text (ByteLevel, Metaspace, WordPiece, ByteFallback, Fuse, Strip,
 * Replace, BPE suffix), applied as a chain over the list of pieces exactly as Hugging Face does. */
#include "text/tok.h"

#include "text/utf8.h"

typedef struct strv {
    char **s;
    size_t *l;
    size_t n;
} strv;

static ember_status nomem(void) { return ember_fail(EMBER_ERR_NOMEM, "tokenizer: out of memory while decoding"); }

/* A growable byte string. */
typedef struct dstr {
    char *s;
    size_t n, cap;
} dstr;

static bool put(dstr *d, const void *p, size_t k) {
    if (d->n + k + 1 > d->cap) {
        size_t cap = d->cap ? d->cap * 2 : 64;
        while (cap < d->n + k + 1) cap *= 2;
        char *s = ember_realloc(d->s, cap);
        if (!s) return false;
        d->s = s, d->cap = cap;
    }
    if (k) memcpy(d->s + d->n, p, k);
    d->n += k;
    d->s[d->n] = 0;
    return true;
}

/* Appends bytes, replacing ill-formed UTF-8 by U+FFFD per maximal subpart (from_utf8_lossy). */
static bool put_lossy(dstr *d, const char *p, size_t n) {
    for (size_t i = 0; i < n;) {
        uint32_t cp;
        int k = utf8_decode((const uint8_t *)p + i, n - i, &cp);
        if (!put(d, cp == UTF8_INVALID ? "\xEF\xBF\xBD" : p + i, cp == UTF8_INVALID ? 3 : (size_t)k)) return false;
        i += (size_t)k;
    }
    return true;
}

static void strv_clear(strv *v) {
    for (size_t i = 0; i < v->n; i++) ember_free(v->s[i]);
    v->n = 0;
}

/* Replaces item i by d (taking ownership). */
static void set_item(strv *v, size_t i, dstr *d) {
    ember_free(v->s[i]);
    if (!d->s) put(d, "", 0);
    v->s[i] = d->s, v->l[i] = d->s ? d->n : 0;
    *d = (dstr){0};
}

/* Replaces all of v by one string. */
static void set_single(strv *v, dstr *d) {
    strv_clear(v);
    v->n = 1;
    v->s[0] = NULL;
    set_item(v, 0, d);
}

static bool replace_all(dstr *d, const char *s, size_t n, const char *pat, size_t pl, const char *with, size_t wl) {
    size_t i = 0;
    while (pl && i < n) {
        const char *f = memmem(s + i, n - i, pat, pl);
        if (!f) break;
        if (!put(d, s + i, (size_t)(f - (s + i))) || !put(d, with, wl)) return false;
        i = (size_t)(f - s) + pl;
    }
    return put(d, s + i, n - i);
}

static ember_status dec_bytelevel(strv *v) {
    dstr raw = {0}, out = {0};
    for (size_t i = 0; i < v->n; i++) {
        const char *s = v->s[i];
        size_t n = v->l[i], mark = raw.n;
        bool ok = true;
        for (size_t k = 0; k < n && ok;) {
            uint32_t cp;
            k += (size_t)utf8_decode((const uint8_t *)s + k, n - k, &cp);
            int b = cp == UTF8_INVALID ? -1 : tk_cp_to_byte(cp);
            uint8_t byte = (uint8_t)b;
            ok = b >= 0 && put(&raw, &byte, 1);
        }
        if (!ok) { /* not a byte-level piece (e.g. an added token): its own bytes */
            raw.n = mark;
            if (!put(&raw, s, n)) goto oom;
        }
    }
    if (!put_lossy(&out, raw.s ? raw.s : "", raw.n)) goto oom;
    ember_free(raw.s);
    set_single(v, &out);
    return EMBER_OK;
oom:
    ember_free(raw.s), ember_free(out.s);
    return nomem();
}

static ember_status dec_metaspace(strv *v, const tk_dec *d) {
    for (size_t i = 0; i < v->n; i++) {
        dstr o = {0};
        const char *s = v->s[i];
        size_t n = v->l[i];
        for (size_t k = 0; k < n;) {
            if (n - k >= d->a_len && !memcmp(s + k, d->a, d->a_len)) {
                if (!(i == 0 && d->flag) && !put(&o, " ", 1)) goto oom;
                k += d->a_len;
                continue;
            }
            if (!put(&o, s + k, 1)) goto oom;
            k++;
            continue;
        oom:
            ember_free(o.s);
            return nomem();
        }
        set_item(v, i, &o);
    }
    return EMBER_OK;
}

static const char *const cleanup_pairs[][2] = {
    {" .", "."}, {" ?", "?"}, {" !", "!"}, {" ,", ","}, {" ' ", "'"}, {" n't", "n't"}, {" 'm", "'m"},
    {" do not", " don't"}, {" 's", "'s"}, {" 've", "'ve"}, {" 're", "'re"},
};

static bool cleanup(dstr *d) {
    for (size_t p = 0; p < sizeof cleanup_pairs / sizeof cleanup_pairs[0]; p++) {
        dstr o = {0};
        if (!replace_all(&o, d->s ? d->s : "", d->n, cleanup_pairs[p][0], strlen(cleanup_pairs[p][0]), cleanup_pairs[p][1],
                         strlen(cleanup_pairs[p][1]))) {
            ember_free(o.s);
            return false;
        }
        ember_free(d->s);
        *d = o;
    }
    return true;
}

static ember_status dec_wordpiece(strv *v, const tk_dec *d) {
    for (size_t i = 0; i < v->n; i++) {
        dstr o = {0};
        const char *s = v->s[i];
        size_t n = v->l[i];
        bool ok;
        if (i && n >= d->a_len && !memcmp(s, d->a, d->a_len)) ok = put(&o, s + d->a_len, n - d->a_len);
        else ok = (!i || put(&o, " ", 1)) && put(&o, s, n);
        if (ok && d->flag) ok = cleanup(&o);
        if (!ok) {
            ember_free(o.s);
            return nomem();
        }
        set_item(v, i, &o);
    }
    return EMBER_OK;
}

static int hexval(char c) { return c >= '0' && c <= '9' ? c - '0' : c >= 'A' && c <= 'F' ? c - 'A' + 10 : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1; }

static int byte_piece(const char *s, size_t n) {
    if (n != 6 || memcmp(s, "<0x", 3) || s[5] != '>') return -1;
    int h = hexval(s[3]), l = hexval(s[4]);
    return h < 0 || l < 0 ? -1 : h * 16 + l;
}

static ember_status dec_bytefallback(strv *v) {
    strv out = {ember_malloc((v->n + 1) * sizeof(char *)), ember_malloc((v->n + 1) * sizeof(size_t)), 0};
    dstr bytes = {0};
    if (!out.s || !out.l) goto oom;
    for (size_t i = 0; i <= v->n; i++) {
        int b = i < v->n ? byte_piece(v->s[i], v->l[i]) : -1;
        if (b >= 0) {
            uint8_t byte = (uint8_t)b;
            if (!put(&bytes, &byte, 1)) goto oom;
            continue;
        }
        if (bytes.n) { /* flush: valid UTF-8 as is, else one U+FFFD per byte */
            dstr o = {0};
            bool valid = utf8_valid_prefix((const uint8_t *)bytes.s, bytes.n) == bytes.n;
            bool ok = valid ? put(&o, bytes.s, bytes.n) : true;
            for (size_t k = 0; !valid && k < bytes.n && ok; k++) ok = put(&o, "\xEF\xBF\xBD", 3);
            if (!ok) {
                ember_free(o.s);
                goto oom;
            }
            out.s[out.n] = o.s, out.l[out.n++] = o.n;
            bytes.n = 0;
        }
        if (i < v->n) {
            out.s[out.n] = v->s[i], out.l[out.n++] = v->l[i];
            v->s[i] = NULL;
        }
    }
    ember_free(bytes.s);
    strv_clear(v);
    memcpy(v->s, out.s, out.n * sizeof(char *));
    memcpy(v->l, out.l, out.n * sizeof(size_t));
    v->n = out.n;
    ember_free(out.s), ember_free(out.l);
    return EMBER_OK;
oom:
    for (size_t k = 0; k < out.n; k++) ember_free(out.s[k]);
    ember_free(out.s), ember_free(out.l), ember_free(bytes.s);
    return nomem();
}

static ember_status dec_fuse(strv *v) {
    dstr o = {0};
    for (size_t i = 0; i < v->n; i++)
        if (!put(&o, v->s[i], v->l[i])) {
            ember_free(o.s);
            return nomem();
        }
    set_single(v, &o);
    return EMBER_OK;
}

static ember_status dec_strip(strv *v, const tk_dec *d) {
    char c[4];
    size_t cl = (size_t)utf8_encode(d->ch, c);
    for (size_t i = 0; i < v->n; i++) {
        size_t b = 0, e = v->l[i];
        for (int k = 0; k < d->start && e - b >= cl && !memcmp(v->s[i] + b, c, cl); k++) b += cl;
        for (int k = 0; k < d->stop && e - b >= cl && !memcmp(v->s[i] + e - cl, c, cl); k++) e -= cl;
        dstr o = {0};
        if (!put(&o, v->s[i] + b, e - b)) return nomem();
        set_item(v, i, &o);
    }
    return EMBER_OK;
}

/* Every match of a regex replaced (an empty match replaces nothing and moves on one character). */
static bool replace_re(dstr *d, const char *s, size_t n, const ember_regex *re, const char *with, size_t wl) {
    size_t i = 0, b, e;
    while (i < n && ember_regex_find(re, s, n, i, &b, &e)) {
        if (!put(d, s + i, b - i)) return false;
        if (e == b) {
            size_t l = b < n ? (size_t)utf8_len((uint8_t)s[b]) : 0;
            if (!put(d, s + b, l)) return false;
            i = b + l;
            if (!l) break;
            continue;
        }
        if (!put(d, with, wl)) return false;
        i = e;
    }
    return put(d, s + i, n - i);
}

static ember_status dec_replace(strv *v, const tk_dec *d, bool bpe_suffix) {
    for (size_t i = 0; i < v->n; i++) {
        dstr o = {0};
        if (!bpe_suffix && d->re) {
            if (!replace_re(&o, v->s[i], v->l[i], d->re, d->b, d->b_len)) {
                ember_free(o.s);
                return nomem();
            }
            set_item(v, i, &o);
            continue;
        }
        const char *with = bpe_suffix ? (i + 1 == v->n ? "" : " ") : d->b;
        size_t wl = bpe_suffix ? strlen(with) : d->b_len;
        if (!replace_all(&o, v->s[i], v->l[i], d->a, d->a_len, with, wl)) {
            ember_free(o.s);
            return nomem();
        }
        set_item(v, i, &o);
    }
    return EMBER_OK;
}

ember_status tk_decode_pieces(const ember_tokenizer *tok, char **pieces, size_t *lens, size_t n, char **text, size_t *len) {
    strv v = {pieces, lens, n};
    ember_status s = EMBER_OK;
    for (int k = 0; k < tok->ndecs && !s && v.n; k++) {
        const tk_dec *d = &tok->decs[k];
        switch (d->kind) {
        case DEC_BYTELEVEL: s = dec_bytelevel(&v); break;
        case DEC_METASPACE: s = dec_metaspace(&v, d); break;
        case DEC_WORDPIECE: s = dec_wordpiece(&v, d); break;
        case DEC_BYTEFALLBACK: s = dec_bytefallback(&v); break;
        case DEC_FUSE: s = dec_fuse(&v); break;
        case DEC_STRIP: s = dec_strip(&v, d); break;
        case DEC_REPLACE: s = dec_replace(&v, d, false); break;
        case DEC_BPE: s = dec_replace(&v, d, true); break;
        case DEC_CTC: s = ember_fail(EMBER_ERR_UNSUPPORTED, "tokenizer: the CTC decoder is not supported"); break;
        }
    }
    dstr out = {0};
    for (size_t i = 0; !s && i < v.n; i++)
        if ((i && !tok->has_decoder && !put(&out, " ", 1)) || !put(&out, v.s[i], v.l[i])) s = nomem();
    if (!s && !out.s && !put(&out, "", 0)) s = nomem();
    strv_clear(&v);
    if (s) {
        ember_free(out.s);
        return s;
    }
    *text = out.s;
    *len = out.n;
    return EMBER_OK;
}
