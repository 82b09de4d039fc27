/* Strings: ONNX StringConcat, StringSplit, RegexFullMatch (opset 20), StringNormalizer (10). Case mapping is Unicode (utf8proc) and ignores `locale`; regexes use Ember's engine
 * (Oniguruma-like syntax, a superset of what RE2 patterns in the tests use). */
#include "ops/op.h"
#include "text/regex.h"
#include "text/utf8.h"

#include <stdio.h>
#include <stdlib.h>
#include <utf8proc.h>

static ember_status need_strings(const eo_ctx *c, int i, const char *op) {
    if (eo_dtype(c, i) != EMBER_DTYPE_STRING) return ember_fail(EMBER_ERR_SHAPE, "%s: input %d must be strings", op, i);
    return EMBER_OK;
}

static const char *str_at(const ember_tensor *t, int64_t i) { return ((char *const *)t->data)[i]; }

/* --- StringConcat ------------------------------------------------------------------------------------- */
ember_status string_concat_infer(eo_ctx *c) {
    ember_status s = need_strings(c, 0, "StringConcat");
    if (!s) s = need_strings(c, 1, "StringConcat");
    if (s) return s;
    int nd;
    int64_t shape[EMBER_MAX_DIMS];
    if ((s = eo_bcast_shape(c, 0, 2, &nd, shape))) return s;
    return eo_set_out(c, 0, EMBER_DTYPE_STRING, nd, shape);
}

ember_status string_concat_run(eo_ctx *c) {
    const ember_tensor *a = eo_in(c, 0), *b = eo_in(c, 1);
    ember_tensor *y = eo_out(c, 0);
    if (!y) return EMBER_OK; /* output unused */
    int64_t n = ember_tensor_count(y), ia[EMBER_MAX_DIMS] = {0};
    int64_t sa[EMBER_MAX_DIMS], sb[EMBER_MAX_DIMS];
    /* element strides of a and b over y's dims (0 where broadcast) */
    int64_t pa = 1, pb = 1;
    for (int d = y->ndim - 1, da = a->ndim - 1, db = b->ndim - 1; d >= 0; d--, da--, db--) {
        sa[d] = da >= 0 && a->shape[da] != 1 ? pa : 0;
        sb[d] = db >= 0 && b->shape[db] != 1 ? pb : 0;
        if (da >= 0) pa *= a->shape[da];
        if (db >= 0) pb *= b->shape[db];
    }
    for (int64_t i = 0; i < n; i++) {
        int64_t oa = 0, ob = 0;
        for (int d = 0; d < y->ndim; d++) oa += ia[d] * sa[d], ob += ia[d] * sb[d];
        const char *x1 = str_at(a, oa), *x2 = str_at(b, ob);
        size_t l1 = strlen(x1), l2 = strlen(x2);
        char *buf = malloc(l1 + l2 + 1);
        if (!buf) return ember_fail(EMBER_ERR_NOMEM, "out of memory");
        memcpy(buf, x1, l1);
        memcpy(buf + l1, x2, l2 + 1);
        ember_status s = ember_tensor_set_string(y, i, buf, l1 + l2);
        free(buf);
        if (s) return s;
        for (int d = y->ndim - 1; d >= 0 && ++ia[d] == y->shape[d]; d--) ia[d] = 0;
    }
    return EMBER_OK;
}

/* --- StringSplit -------------------------------------------------------------------------------------- */
typedef struct piece {
    size_t b, e;
} piece;

/* Python str.split semantics: with a delimiter, every occurrence splits (empty pieces kept); without one,
 * runs of whitespace split and leading/trailing whitespace is dropped. maxsplit < 0: unlimited. */
static int split_one(const char *s, const char *delim, int64_t maxsplit, piece *out, int cap) {
    size_t n = strlen(s), dl = delim ? strlen(delim) : 0;
    int k = 0;
    if (dl) {
        size_t at = 0;
        while (k < cap) {
            const char *hit = (maxsplit < 0 || k < maxsplit) ? strstr(s + at, delim) : NULL;
            if (!hit) {
                out[k++] = (piece){at, n};
                break;
            }
            out[k++] = (piece){at, (size_t)(hit - s)};
            at = (size_t)(hit - s) + dl;
        }
        return k;
    }
    size_t at = 0;
    while (at < n && k < cap) {
        while (at < n && (s[at] == ' ' || (s[at] >= '\t' && s[at] <= '\r'))) at++;
        if (at >= n) break;
        if (maxsplit >= 0 && k == maxsplit) {
            size_t e = n;
            while (e > at && (s[e - 1] == ' ' || (s[e - 1] >= '\t' && s[e - 1] <= '\r'))) e--;
            out[k++] = (piece){at, e};
            break;
        }
        size_t b = at;
        while (at < n && !(s[at] == ' ' || (s[at] >= '\t' && s[at] <= '\r'))) at++;
        out[k++] = (piece){b, at};
    }
    return k;
}

ember_status string_split_infer(eo_ctx *c) {
    ember_status s = need_strings(c, 0, "StringSplit");
    if (s) return s;
    return EO_DYNAMIC; /* the number of pieces depends on the data */
}

enum { SPLIT_CAP = 4096 };

ember_status string_split_run(eo_ctx *c) {
    const ember_tensor *x = eo_in(c, 0);
    if (x->ndim >= EMBER_MAX_DIMS) return ember_fail(EMBER_ERR_UNSUPPORTED, "StringSplit: rank too large");
    const char *delim = eo_attr_str(c, "delimiter", NULL);
    if (delim && !*delim) delim = NULL;
    int64_t maxsplit = eo_attr_int(c, "maxsplit", -1);
    int64_t n = ember_tensor_count(x), widest = 0;
    piece *pc = malloc(sizeof(piece) * SPLIT_CAP);
    if (!pc) return ember_fail(EMBER_ERR_NOMEM, "out of memory");
    for (int64_t i = 0; i < n; i++) {
        int k = split_one(str_at(x, i), delim, maxsplit, pc, SPLIT_CAP);
        if (k > widest) widest = k;
    }
    int64_t shape[EMBER_MAX_DIMS];
    memcpy(shape, x->shape, sizeof(int64_t) * (size_t)x->ndim);
    shape[x->ndim] = widest;
    ember_tensor *y, *z;
    ember_status s = eo_alloc_out(c, 0, EMBER_DTYPE_STRING, x->ndim + 1, shape, &y);
    if (!s) s = eo_alloc_out(c, 1, EMBER_DTYPE_I64, x->ndim, shape, &z);
    for (int64_t i = 0; i < n && !s; i++) {
        const char *str = str_at(x, i);
        int k = split_one(str, delim, maxsplit, pc, SPLIT_CAP);
        if (z) ((int64_t *)z->data)[i] = k;
        for (int64_t j = 0; y && j < widest && !s; j++)
            s = j < k ? ember_tensor_set_string(y, i * widest + j, str + pc[j].b, pc[j].e - pc[j].b)
                      : ember_tensor_set_string(y, i * widest + j, "", 0);
    }
    free(pc);
    return s;
}

/* --- RegexFullMatch ----------------------------------------------------------------------------------- */
ember_status regex_full_match_infer(eo_ctx *c) {
    ember_status s = need_strings(c, 0, "RegexFullMatch");
    if (s) return s;
    const ember_tensor *x = eo_in(c, 0);
    return eo_set_out(c, 0, EMBER_DTYPE_BOOL, x->ndim, x->shape);
}

ember_status regex_full_match_run(eo_ctx *c) {
    const char *pat = eo_attr_str(c, "pattern", NULL);
    if (!pat) return ember_fail(EMBER_ERR_FORMAT, "RegexFullMatch needs the 'pattern' attribute");
    const ember_tensor *x = eo_in(c, 0);
    ember_tensor *y = eo_out(c, 0);
    if (!y) return EMBER_OK; /* output unused */
    size_t pl = strlen(pat);
    char *full = malloc(pl + 16);
    if (!full) return ember_fail(EMBER_ERR_NOMEM, "out of memory");
    snprintf(full, pl + 16, "\\A(?:%s)\\z", pat); /* anchored: backtracking finds a whole-string match */
    ember_regex *re = NULL;
    ember_status s = ember_regex_compile(full, 0, &re);
    free(full);
    if (s) return ember_fail_context(s, "RegexFullMatch pattern: ");
    int64_t n = ember_tensor_count(x);
    for (int64_t i = 0; i < n; i++) {
        const char *str = str_at(x, i);
        size_t len = strlen(str), b, e;
        bool ok = utf8_valid_prefix((const uint8_t *)str, len) == len && ember_regex_find(re, str, len, 0, &b, &e) &&
                  b == 0 && e == len;
        ((uint8_t *)y->data)[i] = ok;
    }
    ember_regex_free(re);
    return EMBER_OK;
}

/* --- StringNormalizer --------------------------------------------------------------------------------- */
/* Case-mapped copy of s (mode 'L', 'U' or 0); malloc'ed. */
static char *map_case(const char *s, char mode) {
    size_t n = strlen(s);
    char *out = malloc(n * 4 + 1), *o = out;
    if (!out) return NULL;
    for (size_t i = 0; i < n;) {
        uint32_t cp;
        int l = utf8_decode((const uint8_t *)s + i, n - i, &cp);
        if (l <= 0 || cp == UTF8_INVALID) { /* keep invalid bytes as they are */
            *o++ = s[i++];
            continue;
        }
        if (mode == 'L') cp = (uint32_t)utf8proc_tolower((utf8proc_int32_t)cp);
        else if (mode == 'U') cp = (uint32_t)utf8proc_toupper((utf8proc_int32_t)cp);
        o += utf8_encode(cp, o);
        i += (size_t)l;
    }
    *o = 0;
    return out;
}

ember_status string_normalizer_infer(eo_ctx *c) {
    ember_status s = need_strings(c, 0, "StringNormalizer");
    if (s) return s;
    const ember_tensor *x = eo_in(c, 0);
    if (x->ndim != 1 && !(x->ndim == 2 && x->shape[0] == 1))
        return ember_fail(EMBER_ERR_SHAPE, "StringNormalizer: input must be [C] or [1, C]");
    return EO_DYNAMIC; /* stopwords change the length */
}

ember_status string_normalizer_run(eo_ctx *c) {
    const ember_tensor *x = eo_in(c, 0);
    const char *act = eo_attr_str(c, "case_change_action", "NONE");
    char mode = !strcmp(act, "LOWER") ? 'L' : !strcmp(act, "UPPER") ? 'U' : 0;
    bool sensitive = eo_attr_int(c, "is_case_sensitive", 0) != 0;
    const eg_attr *sw = eo_attr(c, "stopwords");
    int nsw = sw && sw->type == EG_ATTR_STRINGS ? sw->n : 0;
    int64_t n = ember_tensor_count(x), kept = 0;
    char **res = calloc((size_t)n + 1, sizeof *res);
    char **swl = calloc((size_t)nsw + 1, sizeof *swl);
    ember_status s = !res || !swl ? ember_fail(EMBER_ERR_NOMEM, "out of memory") : EMBER_OK;
    for (int k = 0; k < nsw && !s; k++)
        if (!(swl[k] = map_case(sw->strs[k], sensitive ? 0 : 'L'))) s = ember_fail(EMBER_ERR_NOMEM, "out of memory");
    for (int64_t i = 0; i < n && !s; i++) {
        const char *str = str_at(x, i);
        char *cmp = sensitive ? NULL : map_case(str, 'L');
        bool stop = false;
        for (int k = 0; k < nsw && !stop; k++) stop = !strcmp(sensitive ? str : cmp ? cmp : "", swl[k]);
        free(cmp);
        if (stop) continue;
        if (!(res[kept++] = map_case(str, mode))) s = ember_fail(EMBER_ERR_NOMEM, "out of memory");
    }
    int64_t shape[2] = {1, kept ? kept : 1};
    ember_tensor *y = NULL;
    if (!s) s = x->ndim == 1 ? eo_alloc_out(c, 0, EMBER_DTYPE_STRING, 1, shape + 1, &y)
                             : eo_alloc_out(c, 0, EMBER_DTYPE_STRING, 2, shape, &y);
    if (!s && y) {
        if (!kept) s = ember_tensor_set_string(y, 0, "", 0);
        for (int64_t i = 0; i < kept && !s; i++) s = ember_tensor_set_string(y, i, res[i], strlen(res[i]));
    }
    for (int64_t i = 0; res && i < kept; i++) free(res[i]);
    for (int k = 0; swl && k < nsw; k++) free(swl[k]);
    free(res), free(swl);
    return s;
}
