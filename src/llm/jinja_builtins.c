/* Built-ins of the chat-template engine: Jinja filters and tests, Python string/dict/list methods, and the
 * globals transformers provides (raise_exception, strftime_now, namespace, range, dict). */
#include "llm/jinja.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAX_RANGE 100000 /* like Jinja's sandbox */

/* --- helpers -------------------------------------------------------------------------------------- */
static jv *arg(const jargs *a, size_t i, const char *name) {
    if (i < a->npos) return a->pos[i];
    for (size_t k = 0; k < a->nkw; k++)
        if (name && !strcmp(a->kwn[k], name)) return a->kwv[k];
    return NULL;
}

static jv *kwarg(const jargs *a, const char *name) { return arg(a, SIZE_MAX, name); }

static int64_t ival_of(const jv *v) {
    return v->kind == JV_INT ? v->u.i : v->kind == JV_BOOL ? v->u.b : v->kind == JV_FLOAT ? (int64_t)v->u.f : 0;
}

static bool given(const jv *v) { return v && v->kind != JV_NONE && v->kind != JV_UNDEF; }
static bool arg_bool(const jargs *a, size_t i, const char *name) {
    jv *v = arg(a, i, name);
    return v && jv_truthy(v);
}

static jv *new_str(jctx *c, const jnode *at, const char *s, size_t n) {
    jv *r = jv_str(s, n);
    return r ? r : jx_oom(c, at);
}

static jv *new_list(jctx *c, const jnode *at) {
    jv *l = jv_new(JV_LIST);
    return l ? l : jx_oom(c, at);
}

static bool push(jctx *c, const jnode *at, jv *list, jv *item) {
    if (jv_append(list, item)) return true;
    if (!c->failed) jx_oom(c, at);
    return false;
}

static jv *need_str(jctx *c, const jnode *at, const jv *v, const char *what) {
    if (v && v->kind == JV_STR) return (jv *)v;
    return jx_fail(c, at, "%s: a string argument expected, got '%s'", what, v ? jv_type_name(v) : "nothing");
}

/* Python's str.isspace() for one code point. */
static bool cp_space(uint32_t cp) {
    return (cp >= 9 && cp <= 13) || (cp >= 0x1c && cp <= 0x20) || cp == 0x85 || cp == 0xa0 || cp == 0x1680 ||
           (cp >= 0x2000 && cp <= 0x200a) || cp == 0x2028 || cp == 0x2029 || cp == 0x202f || cp == 0x205f ||
           cp == 0x3000;
}

static size_t decode(const char *s, size_t n, uint32_t *cp) {
    size_t k = utf8_offset(s, n, 1);
    const unsigned char *u = (const unsigned char *)s;
    if (k == 1) *cp = u[0] < 0x80 ? u[0] : 0xfffd;
    else if (k == 2) *cp = (u[0] & 0x1fu) << 6 | (u[1] & 0x3fu);
    else if (k == 3) *cp = (u[0] & 0x0fu) << 12 | (u[1] & 0x3fu) << 6 | (u[2] & 0x3fu);
    else *cp = (u[0] & 0x07u) << 18 | (u[1] & 0x3fu) << 12 | (u[2] & 0x3fu) << 6 | (u[3] & 0x3fu);
    return k;
}

/* Simple case mapping: ASCII, Latin-1, Latin Extended-A, Greek and Cyrillic basic letters. */
static uint32_t cp_upper(uint32_t c) {
    if (c >= 'a' && c <= 'z') return c - 32;
    if (c < 0x80) return c;
    if ((c >= 0xe0 && c <= 0xfe && c != 0xf7) || (c >= 0x3b1 && c <= 0x3c9 && c != 0x3c2) || (c >= 0x430 && c <= 0x44f))
        return c - 32;
    if (c >= 0x450 && c <= 0x45f) return c - 80;
    if (c >= 0x100 && c <= 0x17f && c != 0x131 && c != 0x138 && c != 0x149 && c != 0x17f)
        return ((c >= 0x139 && c <= 0x148) || (c >= 0x179 && c <= 0x17e)) ? (c % 2 == 0 ? c - 1 : c) : (c & ~1u);
    return c;
}

static uint32_t cp_lower(uint32_t c) {
    if (c >= 'A' && c <= 'Z') return c + 32;
    if (c < 0x80) return c;
    if ((c >= 0xc0 && c <= 0xde && c != 0xd7) || (c >= 0x391 && c <= 0x3a9 && c != 0x3a2) || (c >= 0x410 && c <= 0x42f))
        return c + 32;
    if (c >= 0x400 && c <= 0x40f) return c + 80;
    if (c >= 0x100 && c <= 0x17f && c != 0x130 && c != 0x138 && c != 0x149 && c != 0x17f) {
        bool odd_upper = (c >= 0x139 && c <= 0x148) || (c >= 0x179 && c <= 0x17e);
        return odd_upper ? (c % 2 == 1 ? c + 1 : c) : (c | 1u);
    }
    return c;
}

static bool cp_cased(uint32_t c) { return c == 0xdf || cp_upper(c) != c || cp_lower(c) != c; }

typedef enum casemode { CASE_UPPER, CASE_LOWER, CASE_TITLE, CASE_CAPITALIZE, CASE_TITLE_JINJA } casemode;

static jv *change_case(jctx *c, const jnode *at, const jv *s, casemode mode) {
    jbuf b = {0};
    bool prev_cased = false, word_start = true;
    for (size_t i = 0, k; i < s->u.str.len; i += k) {
        uint32_t cp;
        k = decode(s->u.str.s + i, s->u.str.len - i, &cp);
        bool up = mode == CASE_UPPER || (mode == CASE_CAPITALIZE && i == 0) || (mode == CASE_TITLE && !prev_cased) ||
                  (mode == CASE_TITLE_JINJA && word_start);
        uint32_t out = up ? cp_upper(cp) : cp_lower(cp);
        prev_cased = cp_cased(cp);
        word_start = cp_space(cp) || (cp < 0x80 && strchr("-({[<", (int)cp));
        if (cp == 0xdf && up) { /* German sharp s: upper "SS", title case "Ss" */
            jbuf_puts(&b, mode == CASE_UPPER || mode == CASE_TITLE_JINJA ? "SS" : "Ss");
        } else if (out == cp) {
            jbuf_put(&b, s->u.str.s + i, k);
        } else {
            char enc[4];
            jbuf_put(&b, enc, utf8_encode(out, enc));
        }
    }
    return jx_take(c, at, &b);
}

/* strip/lstrip/rstrip: `chars` NULL strips whitespace. which: 1 left, 2 right, 3 both. */
static bool in_set(uint32_t cp, const jv *chars) {
    if (!chars) return cp_space(cp);
    for (size_t i = 0, k; i < chars->u.str.len; i += k) {
        uint32_t x;
        k = decode(chars->u.str.s + i, chars->u.str.len - i, &x);
        if (x == cp) return true;
    }
    return false;
}

static jv *strip(jctx *c, const jnode *at, const jv *s, const jv *chars, int which) {
    const char *p = s->u.str.s;
    size_t start = 0, end = s->u.str.len;
    while ((which & 1) && start < end) {
        uint32_t cp;
        size_t k = decode(p + start, end - start, &cp);
        if (!in_set(cp, chars)) break;
        start += k;
    }
    while ((which & 2) && end > start) {
        size_t b = end - 1;
        while (b > start && ((unsigned char)p[b] & 0xc0) == 0x80) b--;
        uint32_t cp;
        decode(p + b, end - b, &cp);
        if (!in_set(cp, chars)) break;
        end = b;
    }
    return new_str(c, at, p + start, end - start);
}

static jv *strip_method(jctx *c, const jnode *at, const jv *s, const jargs *a, int which) {
    jv *chars = arg(a, 0, "chars");
    if (given(chars) && !need_str(c, at, chars, "strip")) return NULL;
    return strip(c, at, s, given(chars) ? chars : NULL, which);
}

/* Length of the whitespace character at p (ws_at) or ending at p[j] (ws_before); 0 when there is none. */
static size_t ws_at(const char *p, size_t n) {
    uint32_t cp;
    size_t k = decode(p, n, &cp);
    return cp_space(cp) ? k : 0;
}

static size_t ws_before(const char *p, size_t j) {
    size_t b = j - 1;
    while (b > 0 && ((unsigned char)p[b] & 0xc0) == 0x80 && j - b < 4) b--;
    return ws_at(p + b, j - b) == j - b ? j - b : 0;
}

/* Byte offset of the last occurrence of sep in p[0, n), or -1. */
static ptrdiff_t rfind_bytes(const char *p, size_t n, const jv *sep) {
    size_t m = sep->u.str.len;
    for (size_t i = n >= m ? n - m + 1 : 0; i-- > 0;)
        if (!memcmp(p + i, sep->u.str.s, m)) return (ptrdiff_t)i;
    return -1;
}

static bool push_piece(jctx *c, const jnode *at, jv *list, const char *p, size_t from, size_t to) {
    return push(c, at, list, jv_str(p + from, to - from));
}

/* Python str.split: sep NULL splits on runs of whitespace; the unsplit remainder keeps its trailing blanks. */
static bool split_left(jctx *c, const jnode *at, jv *list, const char *p, size_t n, const jv *sep, int64_t max) {
    size_t i = 0;
    for (int64_t count = 0; max < 0 || count < max; count++) {
        if (sep) {
            const char *hit = memmem(p + i, n - i, sep->u.str.s, sep->u.str.len);
            if (!hit) break;
            if (!push_piece(c, at, list, p, i, (size_t)(hit - p))) return false;
            i = (size_t)(hit - p) + sep->u.str.len;
            continue;
        }
        for (size_t k; i < n && (k = ws_at(p + i, n - i));) i += k;
        size_t j = i;
        while (j < n && !ws_at(p + j, n - j)) j += utf8_offset(p + j, n - j, 1);
        if (j == i) return true;
        if (!push_piece(c, at, list, p, i, j)) return false;
        i = j;
    }
    if (!sep)
        for (size_t k; i < n && (k = ws_at(p + i, n - i));) i += k;
    return (!sep && i >= n) || push_piece(c, at, list, p, i, n);
}

/* Python str.rsplit: pieces come out right to left (the caller reverses them). */
static bool split_right(jctx *c, const jnode *at, jv *list, const char *p, size_t n, const jv *sep, int64_t max) {
    size_t j = n;
    for (int64_t count = 0; max < 0 || count < max; count++) {
        if (sep) {
            ptrdiff_t hit = rfind_bytes(p, j, sep);
            if (hit < 0) break;
            if (!push_piece(c, at, list, p, (size_t)hit + sep->u.str.len, j)) return false;
            j = (size_t)hit;
            continue;
        }
        for (size_t k; j > 0 && (k = ws_before(p, j));) j -= k;
        size_t i = j;
        while (i > 0 && !ws_before(p, i)) {
            i--;
            while (i > 0 && ((unsigned char)p[i] & 0xc0) == 0x80) i--;
        }
        if (i == j) return true;
        if (!push_piece(c, at, list, p, i, j)) return false;
        j = i;
    }
    if (!sep)
        for (size_t k; j > 0 && (k = ws_before(p, j));) j -= k;
    return (!sep && j == 0) || push_piece(c, at, list, p, 0, j);
}

static jv *split(jctx *c, const jnode *at, const jv *s, const jv *sep, int64_t maxsplit, bool from_right) {
    if (sep && !sep->u.str.len) return jx_fail(c, at, "empty separator");
    jv *list = new_list(c, at);
    if (!list) return NULL;
    const char *p = s->u.str.s;
    size_t n = s->u.str.len;
    bool ok = from_right ? split_right(c, at, list, p, n, sep, maxsplit) : split_left(c, at, list, p, n, sep, maxsplit);
    if (!ok) return jv_unref(list), NULL;
    for (size_t i = 0, k = list->u.list.n; from_right && i < k / 2; i++) {
        jv *t = list->u.list.items[i];
        list->u.list.items[i] = list->u.list.items[k - 1 - i];
        list->u.list.items[k - 1 - i] = t;
    }
    return list;
}

static jv *replace(jctx *c, const jnode *at, const jv *s, const jv *old, const jv *new_, int64_t count) {
    jbuf b = {0};
    const char *p = s->u.str.s;
    size_t n = s->u.str.len, i = 0;
    int64_t done = 0;
    if (!old->u.str.len) { /* an empty pattern matches between every character */
        for (size_t k; i <= n; i += k) {
            if (count < 0 || done++ < count) jbuf_put(&b, new_->u.str.s, new_->u.str.len);
            if (i == n) break;
            k = utf8_offset(p + i, n - i, 1);
            jbuf_put(&b, p + i, k);
        }
        return jx_take(c, at, &b);
    }
    while (i < n && (count < 0 || done < count)) {
        const char *hit = memmem(p + i, n - i, old->u.str.s, old->u.str.len);
        if (!hit) break;
        jbuf_put(&b, p + i, (size_t)(hit - (p + i)));
        jbuf_put(&b, new_->u.str.s, new_->u.str.len);
        i = (size_t)(hit - p) + old->u.str.len;
        done++;
    }
    jbuf_put(&b, p + i, n - i);
    return jx_take(c, at, &b);
}

static int affix_match(const jv *s, const jv *affix, bool at_end) {
    if (affix->kind != JV_STR) return -1;
    size_t n = affix->u.str.len;
    if (n > s->u.str.len) return 0;
    return !memcmp(s->u.str.s + (at_end ? s->u.str.len - n : 0), affix->u.str.s, n);
}

static jv *startsends(jctx *c, const jnode *at, const jv *s, const jargs *a, bool at_end) {
    jv *x = arg(a, 0, NULL);
    if (!x) return jx_fail(c, at, "%s() takes at least 1 argument", at_end ? "endswith" : "startswith");
    int r = 0;
    if (x->kind == JV_LIST) {
        for (size_t i = 0; i < x->u.list.n && r == 0; i++) r = affix_match(s, x->u.list.items[i], at_end);
    } else {
        r = affix_match(s, x, at_end);
    }
    if (r < 0) return jx_fail(c, at, "%s first arg must be str or a tuple of str", at_end ? "endswith" : "startswith");
    return jx_bool(c, at, r == 1);
}

static jv *str_join(jctx *c, const jnode *at, const jv *sep, jv *items, const char *attribute, bool python) {
    jv *list = jx_iter_list(c, at, items);
    if (!list) return NULL;
    jbuf b = {0};
    for (size_t i = 0; i < list->u.list.n && !c->failed; i++) {
        jv *x = jv_ref(list->u.list.items[i]);
        if (attribute) {
            jv *key = jv_str(attribute, strlen(attribute));
            jv *y = key ? jinja_getattr(c, at, x, key, false) : jx_oom(c, at);
            jv_unref(key);
            jv_unref(x);
            if (!(x = y)) break;
        }
        if (python && x->kind != JV_STR) {
            jx_fail(c, at, "sequence item %zu: expected str instance, %s found", i, jv_type_name(x));
        } else {
            if (i) jbuf_put(&b, sep->u.str.s, sep->u.str.len);
            jv_str_value(&b, x);
        }
        jv_unref(x);
    }
    jv_unref(list);
    if (c->failed) return jbuf_free(&b), NULL;
    return jx_take(c, at, &b);
}

static int64_t find_sub(const jv *s, const jv *sub, bool count) {
    const char *p = s->u.str.s;
    size_t n = s->u.str.len, i = 0;
    int64_t found = 0;
    if (!sub->u.str.len) return count ? (int64_t)utf8_count(p, n) + 1 : 0;
    while (i <= n) {
        const char *hit = memmem(p + i, n - i, sub->u.str.s, sub->u.str.len);
        if (!hit) break;
        if (!count) return (int64_t)utf8_count(p, (size_t)(hit - p));
        found++;
        i = (size_t)(hit - p) + sub->u.str.len;
    }
    return count ? found : -1;
}

/* --- methods -------------------------------------------------------------------------------------- */
static const char *const STR_METHODS[] = {"startswith", "endswith", "strip", "lstrip", "rstrip", "split", "rsplit",
                                          "upper", "lower", "title", "capitalize", "replace", "find", "count",
                                          "join", "isdigit", "isalpha", "isspace", "islower", "isupper", NULL};
static const char *const DICT_METHODS[] = {"items", "keys", "values", "get", "copy", "update", "pop",
                                           "setdefault", "clear", "popitem", NULL};
static const char *const LIST_METHODS[] = {"index", "count", "copy", "append", "extend", "insert", "pop",
                                           "remove", "clear", "sort", "reverse", NULL};

static const char *find_name(const char *const *names, const char *name) {
    for (; *names; names++)
        if (!strcmp(*names, name)) return *names;
    return NULL;
}

jv *jinja_attribute(jctx *c, jv *obj, const char *name) {
    const char *m = NULL;
    if (obj->kind == JV_STR) m = find_name(STR_METHODS, name);
    else if (obj->kind == JV_DICT) m = find_name(DICT_METHODS, name);
    else if (obj->kind == JV_LIST) m = find_name(LIST_METHODS, name);
    if (!m) return NULL;
    jv *f = jv_func(m, jv_ref(obj));
    return f ? f : jx_oom(c, NULL);
}

static jv *char_class(jctx *c, const jnode *at, const jv *s, const char *name) {
    bool any = false, all = s->u.str.len > 0, has_cased = false;
    for (size_t i = 0, k; i < s->u.str.len; i += k) {
        uint32_t cp;
        k = decode(s->u.str.s + i, s->u.str.len - i, &cp);
        bool ok;
        if (!strcmp(name, "isdigit")) ok = cp >= '0' && cp <= '9';
        else if (!strcmp(name, "isalpha")) ok = (cp < 0x80 && ((cp | 32) >= 'a' && (cp | 32) <= 'z')) || cp_cased(cp);
        else if (!strcmp(name, "isspace")) ok = cp_space(cp);
        else {
            bool want_lower = !strcmp(name, "islower");
            if (cp_cased(cp)) has_cased = true, ok = want_lower ? cp_lower(cp) == cp : cp_upper(cp) == cp;
            else ok = true;
        }
        all = all && ok;
        any = any || ok;
    }
    if (!strcmp(name, "islower") || !strcmp(name, "isupper")) all = all && has_cased;
    (void)any;
    return jx_bool(c, at, all);
}

static jv *str_method(jctx *c, const jnode *at, const char *m, jv *s, const jargs *a) {
    if (!strcmp(m, "startswith") || !strcmp(m, "endswith")) return startsends(c, at, s, a, m[0] == 'e');
    if (!strcmp(m, "strip")) return strip_method(c, at, s, a, 3);
    if (!strcmp(m, "lstrip")) return strip_method(c, at, s, a, 1);
    if (!strcmp(m, "rstrip")) return strip_method(c, at, s, a, 2);
    if (!strcmp(m, "split") || !strcmp(m, "rsplit")) {
        jv *sep = arg(a, 0, "sep"), *max = arg(a, 1, "maxsplit");
        if (given(sep) && !need_str(c, at, sep, m)) return NULL;
        return split(c, at, s, given(sep) ? sep : NULL, max && max->kind == JV_INT ? max->u.i : -1, m[0] == 'r');
    }
    if (!strcmp(m, "upper")) return change_case(c, at, s, CASE_UPPER);
    if (!strcmp(m, "lower")) return change_case(c, at, s, CASE_LOWER);
    if (!strcmp(m, "title")) return change_case(c, at, s, CASE_TITLE);
    if (!strcmp(m, "capitalize")) return change_case(c, at, s, CASE_CAPITALIZE);
    if (!strcmp(m, "replace")) {
        jv *old = need_str(c, at, arg(a, 0, NULL), "replace"), *new_ = old ? need_str(c, at, arg(a, 1, NULL), "replace") : NULL;
        jv *count = arg(a, 2, "count");
        return new_ ? replace(c, at, s, old, new_, count && count->kind == JV_INT ? count->u.i : -1) : NULL;
    }
    if (!strcmp(m, "find") || !strcmp(m, "count")) {
        jv *sub = need_str(c, at, arg(a, 0, NULL), m);
        return sub ? jx_int(c, at, find_sub(s, sub, m[0] == 'c')) : NULL;
    }
    if (!strcmp(m, "join")) {
        jv *items = arg(a, 0, NULL);
        return items ? str_join(c, at, s, items, NULL, true) : jx_fail(c, at, "join() takes exactly one argument");
    }
    return char_class(c, at, s, m);
}

static jv *pairs(jctx *c, const jnode *at, const jv *d, int which) { /* 0 items, 1 keys, 2 values */
    jv *list = new_list(c, at);
    for (size_t i = 0; list && i < d->u.dict.n; i++) {
        jv *x;
        if (which == 1) x = jv_ref(d->u.dict.keys[i]);
        else if (which == 2) x = jv_ref(d->u.dict.vals[i]);
        else {
            x = jv_new(JV_LIST);
            if (x) x->u.list.tuple = true;
            if (x && (!jv_append(x, jv_ref(d->u.dict.keys[i])) || !jv_append(x, jv_ref(d->u.dict.vals[i]))))
                jv_unref(x), x = NULL;
        }
        if (!push(c, at, list, x)) return jv_unref(list), NULL;
    }
    return list;
}

static jv *unsafe(jctx *c, const jnode *at, const char *m, const jv *self) {
    return jx_fail(c, at, "access to attribute '%s' of '%s' object is unsafe (templates cannot modify values)", m,
                   jv_type_name(self));
}

static jv *dict_method(jctx *c, const jnode *at, const char *m, jv *d, const jargs *a) {
    if (!strcmp(m, "items")) return pairs(c, at, d, 0);
    if (!strcmp(m, "keys")) return pairs(c, at, d, 1);
    if (!strcmp(m, "values")) return pairs(c, at, d, 2);
    if (!strcmp(m, "copy")) return jv_ref(d);
    if (!strcmp(m, "get")) {
        jv *key = arg(a, 0, NULL), *dflt = arg(a, 1, NULL);
        if (!key) return jx_fail(c, at, "get expected at least 1 argument, got 0");
        jv *v = jv_dict_find(d, key);
        if (v) return jv_ref(v);
        if (dflt) return jv_ref(dflt);
        v = jv_new(JV_NONE);
        return v ? v : jx_oom(c, at);
    }
    return unsafe(c, at, m, d);
}

static jv *list_method(jctx *c, const jnode *at, const char *m, jv *l, const jargs *a) {
    if (!strcmp(m, "copy")) return jv_ref(l);
    if (strcmp(m, "index") && strcmp(m, "count")) return unsafe(c, at, m, l);
    jv *x = arg(a, 0, NULL);
    if (!x) return jx_fail(c, at, "%s() takes exactly one argument", m);
    int64_t count = 0;
    for (size_t i = 0; i < l->u.list.n; i++) {
        if (!jv_equal(l->u.list.items[i], x)) continue;
        if (m[0] == 'i') return jx_int(c, at, (int64_t)i);
        count++;
    }
    if (m[0] == 'i') return jx_fail(c, at, "value is not in list");
    return jx_int(c, at, count);
}

/* --- globals -------------------------------------------------------------------------------------- */
static const char *const GLOBALS[] = {"raise_exception", "strftime_now", "namespace", "range", "dict", NULL};

jv *jinja_global(const char *name) {
    const char *g = find_name(GLOBALS, name);
    return g ? jv_func(g, NULL) : NULL;
}

static jv *kwargs_dict(jctx *c, const jnode *at, const jargs *a, jv_kind kind) {
    jv *d = jv_new(kind);
    if (!d) return jx_oom(c, at);
    for (size_t i = 0; i < a->npos; i++) { /* namespace({...}) / dict({...}): copy a mapping first */
        jv *m = a->pos[i];
        if (m->kind != JV_DICT) return jv_unref(d), jx_fail(c, at, "a mapping or keyword arguments expected");
        for (size_t k = 0; k < m->u.dict.n; k++)
            if (!jv_dict_put(d, jv_ref(m->u.dict.keys[k]), jv_ref(m->u.dict.vals[k]))) return jv_unref(d), jx_oom(c, at);
    }
    for (size_t k = 0; k < a->nkw; k++)
        if (!jv_dict_put(d, jv_str(a->kwn[k], strlen(a->kwn[k])), jv_ref(a->kwv[k]))) return jv_unref(d), jx_oom(c, at);
    return d;
}

static jv *range(jctx *c, const jnode *at, const jargs *a) {
    int64_t v[3] = {0, 0, 1};
    if (a->npos < 1 || a->npos > 3) return jx_fail(c, at, "range expected 1 to 3 integer arguments");
    for (size_t i = 0; i < a->npos; i++) {
        if (a->pos[i]->kind != JV_INT && a->pos[i]->kind != JV_BOOL)
            return jx_fail(c, at, "range: '%s' object cannot be interpreted as an integer", jv_type_name(a->pos[i]));
        v[a->npos == 1 ? 1 : i] = a->pos[i]->kind == JV_INT ? a->pos[i]->u.i : a->pos[i]->u.b;
    }
    if (v[2] == 0) return jx_fail(c, at, "range() arg 3 must not be zero");
    double count = ceil(((double)v[1] - (double)v[0]) / (double)v[2]);
    if (count > MAX_RANGE) return jx_fail(c, at, "range too big (more than %d items)", MAX_RANGE);
    jv *list = new_list(c, at);
    for (int64_t x = v[0]; list && (v[2] > 0 ? x < v[1] : x > v[1]); x += v[2])
        if (!push(c, at, list, jx_int(c, at, x))) return jv_unref(list), NULL;
    return list;
}

static jv *strftime_now(jctx *c, const jnode *at, const jargs *a) {
    jv *fmt = need_str(c, at, arg(a, 0, "format"), "strftime_now");
    if (!fmt) return NULL;
    time_t t = c->now ? (time_t)c->now : time(NULL);
    struct tm tm;
    if (!gmtime_r(&t, &tm)) return jx_fail(c, at, "strftime_now: time out of range");
    char out[512];
    size_t n = fmt->u.str.len ? strftime(out, sizeof out, fmt->u.str.s, &tm) : 0;
    if (!n && fmt->u.str.len) return jx_fail(c, at, "strftime_now: format gives an empty or too long result");
    return new_str(c, at, out, n);
}

jv *jinja_call_builtin(jctx *c, const jnode *at, jv *fn, jargs *a) {
    const char *m = fn->u.func.name;
    jv *self = fn->u.func.self;
    if (!strcmp(m, "loop.cycle")) {
        if (!a->npos) return jx_fail(c, at, "no items for cycling given");
        return jv_ref(a->pos[(size_t)self->u.i % a->npos]);
    }
    if (self && self->kind == JV_STR) return str_method(c, at, m, self, a);
    if (self && self->kind == JV_DICT) return dict_method(c, at, m, self, a);
    if (self && self->kind == JV_LIST) return list_method(c, at, m, self, a);
    if (!strcmp(m, "raise_exception")) {
        jv *msg = arg(a, 0, NULL);
        jbuf b = {0};
        if (msg) jv_str_value(&b, msg);
        jx_fail(c, at, "raise_exception");
        snprintf(c->msg, sizeof c->msg, "%s", b.p ? b.p : "");
        c->raised = true;
        jbuf_free(&b);
        return NULL;
    }
    if (!strcmp(m, "strftime_now")) return strftime_now(c, at, a);
    if (!strcmp(m, "namespace")) return kwargs_dict(c, at, a, JV_NS);
    if (!strcmp(m, "dict")) return kwargs_dict(c, at, a, JV_DICT);
    if (!strcmp(m, "range")) return range(c, at, a);
    return jx_fail(c, at, "internal error: unknown function '%s'", m);
}

/* --- tests ---------------------------------------------------------------------------------------- */
typedef int (*test_fn)(jctx *c, const jnode *at, const jv *v, const jargs *a);

static int t_defined(jctx *c, const jnode *at, const jv *v, const jargs *a) { return v->kind != JV_UNDEF; }
static int t_undefined(jctx *c, const jnode *at, const jv *v, const jargs *a) { return v->kind == JV_UNDEF; }
static int t_none(jctx *c, const jnode *at, const jv *v, const jargs *a) { return v->kind == JV_NONE; }
static int t_boolean(jctx *c, const jnode *at, const jv *v, const jargs *a) { return v->kind == JV_BOOL; }
static int t_true(jctx *c, const jnode *at, const jv *v, const jargs *a) { return v->kind == JV_BOOL && v->u.b; }
static int t_false(jctx *c, const jnode *at, const jv *v, const jargs *a) { return v->kind == JV_BOOL && !v->u.b; }
static int t_integer(jctx *c, const jnode *at, const jv *v, const jargs *a) { return v->kind == JV_INT; }
static int t_float(jctx *c, const jnode *at, const jv *v, const jargs *a) { return v->kind == JV_FLOAT; }
static int t_number(jctx *c, const jnode *at, const jv *v, const jargs *a) { return jv_is_number(v); }
static int t_string(jctx *c, const jnode *at, const jv *v, const jargs *a) { return v->kind == JV_STR; }
static int t_mapping(jctx *c, const jnode *at, const jv *v, const jargs *a) { return v->kind == JV_DICT; }
static int t_sequence(jctx *c, const jnode *at, const jv *v, const jargs *a) {
    return v->kind == JV_STR || v->kind == JV_LIST || v->kind == JV_DICT;
}
static int t_iterable(jctx *c, const jnode *at, const jv *v, const jargs *a) {
    return v->kind == JV_STR || v->kind == JV_LIST || v->kind == JV_DICT || v->kind == JV_UNDEF;
}
static int t_callable(jctx *c, const jnode *at, const jv *v, const jargs *a) {
    return v->kind == JV_FUNC || v->kind == JV_MACRO;
}
static int t_lower(jctx *c, const jnode *at, const jv *v, const jargs *a) {
    if (v->kind != JV_STR) return 0;
    jv *r = char_class(c, at, v, "islower");
    int x = r ? r->u.b : -1;
    jv_unref(r);
    return x;
}
static int t_upper(jctx *c, const jnode *at, const jv *v, const jargs *a) {
    if (v->kind != JV_STR) return 0;
    jv *r = char_class(c, at, v, "isupper");
    int x = r ? r->u.b : -1;
    jv_unref(r);
    return x;
}

static int int_arg_test(jctx *c, const jnode *at, const jv *v, const char *what) {
    if (v->kind != JV_INT && v->kind != JV_BOOL) {
        jx_fail(c, at, "test '%s' needs an integer, got '%s'", what, jv_type_name(v));
        return -1;
    }
    return 1;
}
static int t_odd(jctx *c, const jnode *at, const jv *v, const jargs *a) {
    return int_arg_test(c, at, v, "odd") < 0 ? -1 : (int)((v->kind == JV_INT ? v->u.i : v->u.b) & 1);
}
static int t_even(jctx *c, const jnode *at, const jv *v, const jargs *a) {
    return int_arg_test(c, at, v, "even") < 0 ? -1 : !((v->kind == JV_INT ? v->u.i : v->u.b) & 1);
}
static int t_divisibleby(jctx *c, const jnode *at, const jv *v, const jargs *a) {
    jv *d = arg(a, 0, "num");
    if (!d || !jv_is_number(d) || !jv_is_number(v) || jv_num(d) == 0) {
        jx_fail(c, at, "test 'divisibleby' needs two numbers (the divisor not zero)");
        return -1;
    }
    return fmod(jv_num(v), jv_num(d)) == 0;
}

static int compare_test(jctx *c, const jnode *at, const jv *v, const jargs *a, int op) {
    jv *other = arg(a, 0, NULL);
    if (!other) {
        jx_fail(c, at, "comparison test needs an argument");
        return -1;
    }
    if (op == JOP_EQ) return jv_equal(v, other);
    if (op == JOP_NE) return !jv_equal(v, other);
    int cmp = jv_compare(v, other);
    if (cmp == -2) {
        jx_fail(c, at, "cannot compare '%s' with '%s'", jv_type_name(v), jv_type_name(other));
        return -1;
    }
    return op == JOP_LT ? cmp < 0 : op == JOP_LE ? cmp <= 0 : op == JOP_GT ? cmp > 0 : cmp >= 0;
}
static int t_eq(jctx *c, const jnode *at, const jv *v, const jargs *a) { return compare_test(c, at, v, a, JOP_EQ); }
static int t_ne(jctx *c, const jnode *at, const jv *v, const jargs *a) { return compare_test(c, at, v, a, JOP_NE); }
static int t_lt(jctx *c, const jnode *at, const jv *v, const jargs *a) { return compare_test(c, at, v, a, JOP_LT); }
static int t_le(jctx *c, const jnode *at, const jv *v, const jargs *a) { return compare_test(c, at, v, a, JOP_LE); }
static int t_gt(jctx *c, const jnode *at, const jv *v, const jargs *a) { return compare_test(c, at, v, a, JOP_GT); }
static int t_ge(jctx *c, const jnode *at, const jv *v, const jargs *a) { return compare_test(c, at, v, a, JOP_GE); }
static int t_sameas(jctx *c, const jnode *at, const jv *v, const jargs *a) {
    jv *o = arg(a, 0, NULL);
    if (!o) return 0;
    if (v->kind == JV_NONE || v->kind == JV_BOOL) return o->kind == v->kind && (v->kind == JV_NONE || o->u.b == v->u.b);
    return v == o;
}
static int t_in(jctx *c, const jnode *at, const jv *v, const jargs *a) {
    jv *hay = arg(a, 0, "seq");
    if (!hay) return 0;
    if (hay->kind == JV_STR) return v->kind == JV_STR && find_sub(hay, v, false) >= 0;
    if (hay->kind == JV_LIST) {
        for (size_t i = 0; i < hay->u.list.n; i++)
            if (jv_equal(hay->u.list.items[i], v)) return 1;
        return 0;
    }
    if (hay->kind == JV_DICT) return jv_dict_find(hay, v) != NULL;
    jx_fail(c, at, "argument of type '%s' is not iterable", jv_type_name(hay));
    return -1;
}

static const struct {
    const char *name;
    test_fn fn;
} TESTS[] = {
    {"defined", t_defined},   {"undefined", t_undefined}, {"none", t_none},         {"boolean", t_boolean},
    {"true", t_true},         {"false", t_false},         {"integer", t_integer},   {"float", t_float},
    {"number", t_number},     {"string", t_string},       {"mapping", t_mapping},   {"sequence", t_sequence},
    {"iterable", t_iterable}, {"callable", t_callable},   {"lower", t_lower},       {"upper", t_upper},
    {"odd", t_odd},           {"even", t_even},           {"divisibleby", t_divisibleby},
    {"eq", t_eq},             {"equalto", t_eq},          {"==", t_eq},             {"ne", t_ne},
    {"!=", t_ne},             {"lt", t_lt},               {"lessthan", t_lt},       {"<", t_lt},
    {"le", t_le},             {"<=", t_le},               {"gt", t_gt},             {"greaterthan", t_gt},
    {">", t_gt},              {"ge", t_ge},               {">=", t_ge},             {"sameas", t_sameas},
    {"in", t_in},
};

static test_fn find_test(const char *name) {
    for (size_t i = 0; i < sizeof TESTS / sizeof TESTS[0]; i++)
        if (!strcmp(TESTS[i].name, name)) return TESTS[i].fn;
    return NULL;
}

bool jinja_test_known(const char *name) { return find_test(name) != NULL; }

int jinja_test(jctx *c, const jnode *at, const char *name, jv *v, jargs *a) {
    test_fn fn = find_test(name);
    if (!fn) {
        jx_fail(c, at, "no test named '%s'", name);
        return -1;
    }
    return fn(c, at, v, a);
}

/* --- filters -------------------------------------------------------------------------------------- */
typedef jv *(*filter_fn)(jctx *c, const jnode *at, jv *v, jargs *a);

static jv *as_str(jctx *c, const jnode *at, const jv *v) {
    if (v->kind == JV_UNDEF) return new_str(c, at, "", 0);
    return jx_to_str(c, at, v);
}

/* Apply fn to str(v): the string filters. */
static jv *with_str(jctx *c, const jnode *at, jv *v, jv *(*fn)(jctx *, const jnode *, jv *, jargs *), jargs *a) {
    jv *s = as_str(c, at, v);
    jv *r = s ? fn(c, at, s, a) : NULL;
    jv_unref(s);
    return r;
}

static jv *s_upper(jctx *c, const jnode *at, jv *s, jargs *a) { return change_case(c, at, s, CASE_UPPER); }
static jv *s_lower(jctx *c, const jnode *at, jv *s, jargs *a) { return change_case(c, at, s, CASE_LOWER); }
static jv *s_title(jctx *c, const jnode *at, jv *s, jargs *a) { return change_case(c, at, s, CASE_TITLE_JINJA); }
static jv *s_capitalize(jctx *c, const jnode *at, jv *s, jargs *a) { return change_case(c, at, s, CASE_CAPITALIZE); }
static jv *s_trim(jctx *c, const jnode *at, jv *s, jargs *a) { return strip_method(c, at, s, a, 3); }
static jv *s_identity(jctx *c, const jnode *at, jv *s, jargs *a) { return jv_ref(s); }
static jv *s_replace(jctx *c, const jnode *at, jv *s, jargs *a) {
    jv *old = as_str(c, at, arg(a, 0, "old") ? arg(a, 0, "old") : s);
    jv *new_ = old && arg(a, 1, "new") ? as_str(c, at, arg(a, 1, "new")) : NULL;
    jv *count = arg(a, 2, "count");
    jv *r = new_ && arg(a, 0, "old") ? replace(c, at, s, old, new_, given(count) ? ival_of(count) : -1)
                                     : (c->failed ? NULL : jx_fail(c, at, "replace needs 'old' and 'new'"));
    jv_unref(old);
    jv_unref(new_);
    return r;
}

static jv *f_upper(jctx *c, const jnode *at, jv *v, jargs *a) { return with_str(c, at, v, s_upper, a); }
static jv *f_lower(jctx *c, const jnode *at, jv *v, jargs *a) { return with_str(c, at, v, s_lower, a); }
static jv *f_title(jctx *c, const jnode *at, jv *v, jargs *a) { return with_str(c, at, v, s_title, a); }
static jv *f_capitalize(jctx *c, const jnode *at, jv *v, jargs *a) { return with_str(c, at, v, s_capitalize, a); }
static jv *f_trim(jctx *c, const jnode *at, jv *v, jargs *a) { return with_str(c, at, v, s_trim, a); }
static jv *f_string(jctx *c, const jnode *at, jv *v, jargs *a) { return with_str(c, at, v, s_identity, a); }
static jv *f_replace(jctx *c, const jnode *at, jv *v, jargs *a) { return with_str(c, at, v, s_replace, a); }

static jv *f_length(jctx *c, const jnode *at, jv *v, jargs *a) {
    switch (v->kind) {
    case JV_STR: return jx_int(c, at, (int64_t)utf8_count(v->u.str.s, v->u.str.len));
    case JV_LIST: return jx_int(c, at, (int64_t)v->u.list.n);
    case JV_DICT: return jx_int(c, at, (int64_t)v->u.dict.n);
    case JV_UNDEF: return jx_int(c, at, 0);
    default: return jx_fail(c, at, "object of type '%s' has no len()", jv_type_name(v));
    }
}

static jv *f_default(jctx *c, const jnode *at, jv *v, jargs *a) {
    jv *dflt = arg(a, 0, "default_value");
    bool use = v->kind == JV_UNDEF || (arg_bool(a, 1, "boolean") && !jv_truthy(v));
    if (!use) return jv_ref(v);
    return dflt ? jv_ref(dflt) : new_str(c, at, "", 0);
}

static jv *first_last(jctx *c, const jnode *at, jv *v, bool last) {
    if (v->kind == JV_UNDEF) return jv_ref(v);
    jv *items = jx_iter_list(c, at, v);
    if (!items) return NULL;
    size_t n = items->u.list.n;
    jv *r = n ? jv_ref(items->u.list.items[last ? n - 1 : 0])
              : jv_undef("No %s item, sequence was empty.", last ? "last" : "first");
    jv_unref(items);
    return r ? r : jx_oom(c, at);
}
static jv *f_first(jctx *c, const jnode *at, jv *v, jargs *a) { return first_last(c, at, v, false); }
static jv *f_last(jctx *c, const jnode *at, jv *v, jargs *a) { return first_last(c, at, v, true); }

static bool parse_number(const jv *v, bool want_float, double *f, int64_t *i) {
    if (v->kind != JV_STR) return false;
    char tmp[64];
    size_t k = 0;
    for (size_t j = 0; j < v->u.str.len && k < sizeof tmp - 1; j++)
        if (v->u.str.s[j] != '_') tmp[k++] = v->u.str.s[j];
    tmp[k] = 0;
    char *end;
    if (!want_float) {
        *i = strtoll(tmp, &end, 10);
        while (*end == ' ' || *end == '\t' || *end == '\n') end++;
        if (end != tmp && !*end) return true;
    }
    *f = strtod(tmp, &end);
    while (*end == ' ' || *end == '\t' || *end == '\n') end++;
    if (end == tmp || *end) return false;
    *i = (int64_t)*f;
    return true;
}

static jv *f_int(jctx *c, const jnode *at, jv *v, jargs *a) {
    double f;
    int64_t i;
    if (v->kind == JV_INT || v->kind == JV_BOOL || (v->kind == JV_FLOAT && isfinite(v->u.f)))
        return jx_int(c, at, ival_of(v));
    if (parse_number(v, false, &f, &i)) return jx_int(c, at, i);
    jv *d = arg(a, 0, "default");
    return d ? jv_ref(d) : jx_int(c, at, 0);
}

static jv *f_float(jctx *c, const jnode *at, jv *v, jargs *a) {
    double f;
    int64_t i;
    if (jv_is_number(v)) return jx_float(c, at, jv_num(v));
    if (parse_number(v, true, &f, &i)) return jx_float(c, at, f);
    jv *d = arg(a, 0, "default");
    return d ? jv_ref(d) : jx_float(c, at, 0);
}

static jv *f_abs(jctx *c, const jnode *at, jv *v, jargs *a) {
    if (v->kind == JV_FLOAT) return jx_float(c, at, fabs(v->u.f));
    if (v->kind == JV_INT || v->kind == JV_BOOL) {
        int64_t i = ival_of(v);
        return i == INT64_MIN ? jx_float(c, at, -(double)i) : jx_int(c, at, i < 0 ? -i : i);
    }
    return jx_fail(c, at, "bad operand type for abs(): '%s'", jv_type_name(v));
}

/* Python's round(x, n): correctly rounded decimal, ties to even (printf rounds the exact binary value). */
static jv *f_round(jctx *c, const jnode *at, jv *v, jargs *a) {
    if (!jv_is_number(v)) return jx_fail(c, at, "round: a number expected, got '%s'", jv_type_name(v));
    jv *p = arg(a, 0, "precision"), *m = arg(a, 1, "method");
    int64_t prec = p && jv_is_number(p) ? ival_of(p) : 0;
    const char *method = m && m->kind == JV_STR ? m->u.str.s : "common";
    bool common = !strcmp(method, "common");
    if (!common && strcmp(method, "ceil") && strcmp(method, "floor"))
        return jx_fail(c, at, "method must be common, ceil or floor");
    if (v->kind != JV_FLOAT && common && prec >= 0) return jx_int(c, at, ival_of(v));
    if (prec > 300 || prec < -300) return jx_float(c, at, jv_num(v));
    double x = jv_num(v);
    if (common && prec >= 0) {
        char tmp[400];
        snprintf(tmp, sizeof tmp, "%.*f", (int)prec, x);
        return jx_float(c, at, strtod(tmp, NULL));
    }
    double scale = pow(10, (double)prec), y = x * scale;
    y = !strcmp(method, "ceil") ? ceil(y) : !strcmp(method, "floor") ? floor(y) : nearbyint(y);
    return jx_float(c, at, y / scale);
}

/* Words: runs of letters, digits and underscores (like Jinja's \w+). */
static jv *f_wordcount(jctx *c, const jnode *at, jv *v, jargs *a) {
    jv *s = as_str(c, at, v);
    if (!s) return NULL;
    int64_t words = 0;
    bool in_word = false;
    for (size_t i = 0, k; i < s->u.str.len; i += k) {
        uint32_t cp;
        k = decode(s->u.str.s + i, s->u.str.len - i, &cp);
        bool w = cp == '_' || (cp >= '0' && cp <= '9') || ((cp | 32) >= 'a' && (cp | 32) <= 'z') ||
                 (cp >= 0x80 && !cp_space(cp));
        words += w && !in_word;
        in_word = w;
    }
    jv_unref(s);
    return jx_int(c, at, words);
}

static jv *f_items(jctx *c, const jnode *at, jv *v, jargs *a) {
    if (v->kind == JV_UNDEF) return new_list(c, at);
    if (v->kind != JV_DICT) return jx_fail(c, at, "Can only get item pairs from a mapping.");
    return pairs(c, at, v, 0);
}

/* Dotted attribute paths ("function.name", "0.x") as used by map/selectattr/sort/join. */
static jv *attr_path(jctx *c, const jnode *at, jv *item, const char *path) {
    jv *cur = jv_ref(item);
    while (cur && *path) {
        const char *dot = strchr(path, '.');
        size_t n = dot ? (size_t)(dot - path) : strlen(path);
        bool digits = n > 0;
        for (size_t k = 0; k < n; k++) digits = digits && path[k] >= '0' && path[k] <= '9';
        jv *key = digits ? jx_int(c, at, strtoll(path, NULL, 10)) : new_str(c, at, path, n);
        jv *next = key ? jinja_getattr(c, at, cur, key, false) : NULL;
        jv_unref(key);
        jv_unref(cur);
        cur = next;
        path += n + (dot != NULL);
    }
    return cur;
}

static const char *attribute_arg(jctx *c, const jnode *at, jv *x) {
    if (!x || x->kind == JV_NONE) return NULL;
    if (x->kind != JV_STR) return jx_fail(c, at, "attribute must be a string"), NULL;
    return x->u.str.s;
}

static jv *f_join(jctx *c, const jnode *at, jv *v, jargs *a) {
    jv *sep = arg(a, 0, "d");
    jv *s = sep ? as_str(c, at, sep) : new_str(c, at, "", 0);
    if (!s) return NULL;
    jv *attr = arg(a, 1, "attribute");
    const char *path = attribute_arg(c, at, attr);
    jv *r = NULL;
    if (!c->failed && !path) r = str_join(c, at, s, v, NULL, false);
    else if (!c->failed) { /* join an attribute of each item */
        jv *items = jx_iter_list(c, at, v), *mapped = items ? new_list(c, at) : NULL;
        for (size_t i = 0; mapped && i < items->u.list.n; i++)
            if (!push(c, at, mapped, attr_path(c, at, items->u.list.items[i], path))) jv_unref(mapped), mapped = NULL;
        if (mapped) r = str_join(c, at, s, mapped, NULL, false);
        jv_unref(items);
        jv_unref(mapped);
    }
    jv_unref(s);
    return r;
}

static jv *f_list(jctx *c, const jnode *at, jv *v, jargs *a) { return jx_iter_list(c, at, v); }

/* Shift the first `skip` positional arguments off a (for filters that forward the rest). */
static jargs rest_args(const jargs *a, size_t skip) {
    jargs r = *a;
    r.pos += a->npos < skip ? a->npos : skip;
    r.npos -= a->npos < skip ? a->npos : skip;
    return r;
}

static filter_fn find_filter(const char *name);

static jv *f_map(jctx *c, const jnode *at, jv *v, jargs *a) {
    jv *items = jx_iter_list(c, at, v), *out = items ? new_list(c, at) : NULL;
    if (!out) return jv_unref(items), NULL;
    jv *attr = kwarg(a, "attribute"), *dflt = kwarg(a, "default");
    const char *path = attribute_arg(c, at, attr);
    filter_fn fn = NULL;
    jargs fargs = rest_args(a, 1);
    if (!path && !c->failed) {
        jv *name = arg(a, 0, NULL);
        if (!name || name->kind != JV_STR || !(fn = find_filter(name->u.str.s)))
            jx_fail(c, at, "map: a filter name or attribute= expected");
    }
    for (size_t i = 0; !c->failed && i < items->u.list.n; i++) {
        jv *x = items->u.list.items[i], *y;
        if (path) {
            y = attr_path(c, at, x, path);
            if (y && y->kind == JV_UNDEF && dflt) jv_unref(y), y = jv_ref(dflt);
        } else {
            y = fn(c, at, x, &fargs);
        }
        if (!y || !push(c, at, out, y)) break;
    }
    jv_unref(items);
    if (c->failed) return jv_unref(out), NULL;
    return out;
}

/* select/reject/selectattr/rejectattr: keep items whose (attribute's) test result equals `keep`. */
static jv *filter_items(jctx *c, const jnode *at, jv *v, jargs *a, bool keep, bool by_attr) {
    const char *path = by_attr ? attribute_arg(c, at, arg(a, 0, NULL)) : NULL;
    if (by_attr && !path) return c->failed ? NULL : jx_fail(c, at, "an attribute name expected");
    jv *tname = arg(a, by_attr ? 1 : 0, NULL);
    test_fn fn = NULL;
    if (tname && (tname->kind != JV_STR || !(fn = find_test(tname->u.str.s))))
        return jx_fail(c, at, "no test named '%s'", tname->kind == JV_STR ? tname->u.str.s : "?");
    jargs targs = rest_args(a, by_attr ? 2 : 1);
    jv *items = jx_iter_list(c, at, v), *out = items ? new_list(c, at) : NULL;
    if (!out) return jv_unref(items), NULL;
    for (size_t i = 0; i < items->u.list.n && !c->failed; i++) {
        jv *x = items->u.list.items[i], *subject = path ? attr_path(c, at, x, path) : jv_ref(x);
        if (!subject) break;
        int r = fn ? fn(c, at, subject, &targs) : jv_truthy(subject);
        jv_unref(subject);
        if (r >= 0 && (r == 1) == keep && !push(c, at, out, jv_ref(x))) break;
    }
    jv_unref(items);
    if (c->failed) return jv_unref(out), NULL;
    return out;
}
static jv *f_select(jctx *c, const jnode *at, jv *v, jargs *a) { return filter_items(c, at, v, a, true, false); }
static jv *f_reject(jctx *c, const jnode *at, jv *v, jargs *a) { return filter_items(c, at, v, a, false, false); }
static jv *f_selectattr(jctx *c, const jnode *at, jv *v, jargs *a) { return filter_items(c, at, v, a, true, true); }
static jv *f_rejectattr(jctx *c, const jnode *at, jv *v, jargs *a) { return filter_items(c, at, v, a, false, true); }

static jv *f_reverse(jctx *c, const jnode *at, jv *v, jargs *a) {
    jv *items = jx_iter_list(c, at, v);
    if (!items) return NULL;
    jv *out = new_list(c, at);
    for (size_t i = items->u.list.n; out && i-- > 0;)
        if (!push(c, at, out, jv_ref(items->u.list.items[i]))) jv_unref(out), out = NULL;
    jv_unref(items);
    if (!out || v->kind != JV_STR) return out;
    jv *sep = new_str(c, at, "", 0), *s = sep ? str_join(c, at, sep, out, NULL, false) : NULL;
    jv_unref(sep);
    jv_unref(out);
    return s;
}

/* --- sorting (stable merge sort on precomputed keys; incomparable keys are an error) ---------------- */
typedef struct sortent {
    jv *key, *item;
} sortent;

static bool sort_less_eq(jctx *c, const jnode *at, const sortent *x, const sortent *y, bool reverse) {
    int cmp = jv_compare(x->key, y->key);
    if (cmp == -2) {
        jx_fail(c, at, "'<' not supported between instances of '%s' and '%s'", jv_type_name(x->key),
                jv_type_name(y->key));
        return true;
    }
    return reverse ? cmp >= 0 : cmp <= 0;
}

static void merge_sort(jctx *c, const jnode *at, sortent *e, sortent *tmp, size_t n, bool reverse) {
    if (n < 2 || c->failed) return;
    size_t h = n / 2;
    merge_sort(c, at, e, tmp, h, reverse);
    merge_sort(c, at, e + h, tmp, n - h, reverse);
    size_t i = 0, j = h, k = 0;
    while (i < h && j < n) tmp[k++] = sort_less_eq(c, at, &e[i], &e[j], reverse) ? e[i++] : e[j++];
    while (i < h) tmp[k++] = e[i++];
    while (j < n) tmp[k++] = e[j++];
    memcpy(e, tmp, n * sizeof *e);
}

/* The sort key of an item: an attribute path, lowercased unless case_sensitive. */
static jv *sort_key(jctx *c, const jnode *at, jv *item, const char *path, bool case_sensitive) {
    jv *k = path ? attr_path(c, at, item, path) : jv_ref(item);
    if (!k || case_sensitive || k->kind != JV_STR) return k;
    jv *low = change_case(c, at, k, CASE_LOWER);
    jv_unref(k);
    return low;
}

/* Sorted entries of `items` (a list); the caller frees them with free_entries. */
static sortent *sorted(jctx *c, const jnode *at, jv *items, const char *path, bool cs, bool reverse) {
    size_t n = items->u.list.n;
    sortent *e = ember_calloc(n ? 2 * n : 1, sizeof *e);
    if (!e) return jx_oom(c, at), NULL;
    for (size_t i = 0; i < n && !c->failed; i++) {
        e[i].item = items->u.list.items[i];
        e[i].key = sort_key(c, at, e[i].item, path, cs);
    }
    merge_sort(c, at, e, e + n, n, reverse);
    return e;
}

static void free_entries(sortent *e, size_t n) {
    for (size_t i = 0; e && i < n; i++) jv_unref(e[i].key);
    ember_free(e);
}

static jv *entries_list(jctx *c, const jnode *at, sortent *e, size_t n) {
    jv *out = c->failed ? NULL : new_list(c, at);
    for (size_t i = 0; out && i < n; i++)
        if (!push(c, at, out, jv_ref(e[i].item))) jv_unref(out), out = NULL;
    return out;
}

static jv *f_sort(jctx *c, const jnode *at, jv *v, jargs *a) {
    const char *path = attribute_arg(c, at, arg(a, 2, "attribute"));
    jv *items = c->failed ? NULL : jx_iter_list(c, at, v);
    if (!items) return NULL;
    sortent *e = sorted(c, at, items, path, arg_bool(a, 1, "case_sensitive"), arg_bool(a, 0, "reverse"));
    jv *out = e ? entries_list(c, at, e, items->u.list.n) : NULL;
    free_entries(e, items->u.list.n);
    jv_unref(items);
    return out;
}

static jv *f_dictsort(jctx *c, const jnode *at, jv *v, jargs *a) {
    if (v->kind != JV_DICT) return jx_fail(c, at, "dictsort: a mapping expected");
    jv *by = arg(a, 1, "by");
    bool by_value = by && by->kind == JV_STR && !strcmp(by->u.str.s, "value");
    jv *items = pairs(c, at, v, 0);
    if (!items) return NULL;
    sortent *e = sorted(c, at, items, by_value ? "1" : "0", arg_bool(a, 0, "case_sensitive"), arg_bool(a, 2, "reverse"));
    jv *out = e ? entries_list(c, at, e, items->u.list.n) : NULL;
    free_entries(e, items->u.list.n);
    jv_unref(items);
    return out;
}

static jv *min_max(jctx *c, const jnode *at, jv *v, jargs *a, bool max) {
    const char *path = attribute_arg(c, at, arg(a, 1, "attribute"));
    jv *items = c->failed ? NULL : jx_iter_list(c, at, v);
    if (!items) return NULL;
    size_t n = items->u.list.n;
    sortent *e = sorted(c, at, items, path, arg_bool(a, 0, "case_sensitive"), false);
    jv *r = NULL;
    if (e && !c->failed) {
        r = n ? jv_ref(e[max ? n - 1 : 0].item) : jv_undef("No aggregated item, sequence was empty.");
        if (!r) jx_oom(c, at);
    }
    if (max && e && n > 1 && !c->failed) { /* Python's max keeps the first of equal maxima */
        size_t i = n - 1;
        while (i > 0 && jv_compare(e[i - 1].key, e[n - 1].key) == 0) i--;
        jv_unref(r);
        r = jv_ref(e[i].item);
    }
    free_entries(e, n);
    jv_unref(items);
    return r;
}
static jv *f_min(jctx *c, const jnode *at, jv *v, jargs *a) { return min_max(c, at, v, a, false); }
static jv *f_max(jctx *c, const jnode *at, jv *v, jargs *a) { return min_max(c, at, v, a, true); }

static jv *f_unique(jctx *c, const jnode *at, jv *v, jargs *a) {
    const char *path = attribute_arg(c, at, arg(a, 1, "attribute"));
    bool cs = arg_bool(a, 0, "case_sensitive");
    jv *items = c->failed ? NULL : jx_iter_list(c, at, v);
    jv *out = items ? new_list(c, at) : NULL, *seen = out ? new_list(c, at) : NULL;
    for (size_t i = 0; seen && i < items->u.list.n; i++) {
        jv *k = sort_key(c, at, items->u.list.items[i], path, cs);
        if (!k) break;
        bool dup = false;
        for (size_t j = 0; j < seen->u.list.n && !dup; j++) dup = jv_equal(seen->u.list.items[j], k);
        if (dup) jv_unref(k);
        else if (!push(c, at, seen, k) || !push(c, at, out, jv_ref(items->u.list.items[i]))) break;
    }
    jv_unref(items);
    jv_unref(seen);
    if (c->failed) return jv_unref(out), NULL;
    return out;
}

static jv *f_sum(jctx *c, const jnode *at, jv *v, jargs *a) {
    const char *path = attribute_arg(c, at, arg(a, 0, "attribute"));
    jv *start = arg(a, 1, "start");
    jv *items = c->failed ? NULL : jx_iter_list(c, at, v);
    if (!items) return NULL;
    jv *acc = start ? jv_ref(start) : jx_int(c, at, 0);
    for (size_t i = 0; acc && i < items->u.list.n; i++) {
        jv *x = path ? attr_path(c, at, items->u.list.items[i], path) : jv_ref(items->u.list.items[i]);
        jv *next = NULL;
        if (x && (!jv_is_number(x) || !jv_is_number(acc)))
            jx_fail(c, at, "sum: unsupported operand types '%s' and '%s'", jv_type_name(acc), jv_type_name(x));
        else if (x && (acc->kind == JV_FLOAT || x->kind == JV_FLOAT)) next = jx_float(c, at, jv_num(acc) + jv_num(x));
        else if (x) next = jx_int(c, at, ival_of(acc) + ival_of(x));
        jv_unref(x);
        jv_unref(acc);
        acc = next;
    }
    jv_unref(items);
    return acc;
}

/* transformers' tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False). */
static jv *f_tojson(jctx *c, const jnode *at, jv *v, jargs *a) {
    jv *indent = arg(a, 1, "indent"), *seps = arg(a, 2, "separators");
    jv_json_opts o = {.indent = -1, .ensure_ascii = arg_bool(a, 0, "ensure_ascii"), .sort_keys = arg_bool(a, 3, "sort_keys")};
    if (given(indent)) {
        if (indent->kind != JV_INT || indent->u.i < 0 || indent->u.i > 64)
            return jx_fail(c, at, "tojson: indent must be an integer from 0 to 64");
        o.indent = (int)indent->u.i;
    }
    if (given(seps)) {
        if (seps->kind != JV_LIST || seps->u.list.n != 2 || seps->u.list.items[0]->kind != JV_STR ||
            seps->u.list.items[1]->kind != JV_STR)
            return jx_fail(c, at, "tojson: separators must be a pair of strings");
        o.item_sep = seps->u.list.items[0]->u.str.s;
        o.key_sep = seps->u.list.items[1]->u.str.s;
    }
    jbuf b = {0};
    const char *err = NULL;
    if (!jv_json_dump(&b, v, &o, &err)) {
        jbuf_free(&b);
        if (v->kind == JV_UNDEF) return jx_undefined_error(c, at, v);
        return jx_fail(c, at, "tojson: %s", err);
    }
    return jx_take(c, at, &b);
}

/* Jinja's indent: lines of str(v) + "\n" (so a trailing newline survives), all but the first indented. */
static jv *f_indent(jctx *c, const jnode *at, jv *v, jargs *a) {
    jv *s = as_str(c, at, v), *w = arg(a, 0, "width");
    if (!s) return NULL;
    jbuf pad = {0}, b = {0};
    if (w && w->kind == JV_STR) jbuf_put(&pad, w->u.str.s, w->u.str.len);
    else for (int64_t k = 0, n = w ? ival_of(w) : 4; k < n && k < 256; k++) jbuf_putc(&pad, ' ');
    bool first = arg_bool(a, 1, "first"), blank = arg_bool(a, 2, "blank");
    const char *p = s->u.str.s;
    size_t len = s->u.str.len;
    for (size_t line = 0, i = 0; i <= len; line++) {
        const char *nl = memchr(p + i, '\n', len - i);
        size_t n = nl ? (size_t)(nl - (p + i)) : len - i;
        if (line) jbuf_putc(&b, '\n');
        if ((line || first) && (n || blank)) jbuf_put(&b, pad.p, pad.n);
        jbuf_put(&b, p + i, n);
        i += n + 1;
    }
    jbuf_free(&pad);
    jv_unref(s);
    return jx_take(c, at, &b);
}

static jv *f_attr(jctx *c, const jnode *at, jv *v, jargs *a) {
    jv *name = need_str(c, at, arg(a, 0, "name"), "attr");
    return name ? jinja_getattr(c, at, v, name, true) : NULL;
}

static jv *f_count(jctx *c, const jnode *at, jv *v, jargs *a) { return f_length(c, at, v, a); }

static const struct {
    const char *name;
    filter_fn fn;
} FILTERS[] = {
    {"abs", f_abs},         {"attr", f_attr},           {"capitalize", f_capitalize}, {"count", f_count},
    {"d", f_default},       {"default", f_default},     {"dictsort", f_dictsort},     {"first", f_first},
    {"float", f_float},     {"indent", f_indent},       {"int", f_int},               {"items", f_items},
    {"join", f_join},       {"last", f_last},           {"length", f_length},         {"list", f_list},
    {"lower", f_lower},     {"map", f_map},             {"max", f_max},               {"min", f_min},
    {"reject", f_reject},   {"rejectattr", f_rejectattr}, {"replace", f_replace},     {"reverse", f_reverse},
    {"round", f_round},     {"safe", f_string},         {"select", f_select},         {"selectattr", f_selectattr},
    {"sort", f_sort},       {"string", f_string},       {"sum", f_sum},               {"title", f_title},
    {"tojson", f_tojson},   {"trim", f_trim},           {"unique", f_unique},         {"upper", f_upper},
    {"wordcount", f_wordcount},
};

static filter_fn find_filter(const char *name) {
    for (size_t i = 0; i < sizeof FILTERS / sizeof FILTERS[0]; i++)
        if (!strcmp(FILTERS[i].name, name)) return FILTERS[i].fn;
    return NULL;
}

bool jinja_filter_known(const char *name) { return find_filter(name) != NULL; }

jv *jinja_filter(jctx *c, const jnode *at, const char *name, jv *v, jargs *a) {
    filter_fn fn = find_filter(name);
    if (!fn) return jx_fail(c, at, "no filter named '%s'", name);
    return fn(c, at, v, a);
}
