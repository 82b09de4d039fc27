/* The value model of the chat-template engine (none, bool, int, float, string, list, insertion-ordered dict)
 * with Python's str()/repr() and json.dumps formatting, a JSON parser, and the public ember_jvalue API. */
#include "llm/jinja_value.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* --- buffer ------------------------------------------------------------------------------------------- */
static bool jbuf_reserve(jbuf *b, size_t extra) {
    if (b->oom) return false;
    if (extra > SIZE_MAX / 2 - b->n) return !(b->oom = true);
    if (b->n + extra + 1 <= b->cap) return true;
    size_t cap = b->cap ? b->cap : 64;
    while (cap < b->n + extra + 1) cap *= 2;
    char *p = ember_realloc(b->p, cap);
    if (!p) return !(b->oom = true);
    b->p = p;
    b->cap = cap;
    return true;
}

void jbuf_put(jbuf *b, const char *s, size_t n) {
    if (!n || !jbuf_reserve(b, n)) return;
    memcpy(b->p + b->n, s, n);
    b->n += n;
    b->p[b->n] = 0;
}

void jbuf_puts(jbuf *b, const char *s) { jbuf_put(b, s, strlen(s)); }
void jbuf_putc(jbuf *b, char c) { jbuf_put(b, &c, 1); }

void jbuf_printf(jbuf *b, const char *fmt, ...) {
    char tmp[256];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (n > 0) jbuf_put(b, tmp, (size_t)n < sizeof tmp ? (size_t)n : sizeof tmp - 1);
}

char *jbuf_take(jbuf *b, size_t *len) {
    if (!jbuf_reserve(b, 0)) {
        jbuf_free(b);
        return NULL;
    }
    b->p[b->n] = 0;
    char *p = b->p;
    if (len) *len = b->n;
    *b = (jbuf){0};
    return p;
}

void jbuf_free(jbuf *b) {
    ember_free(b->p);
    *b = (jbuf){0};
}

/* --- construction ------------------------------------------------------------------------------------- */
jv *jv_new(jv_kind k) {
    jv *v = ember_calloc(1, sizeof *v);
    if (!v) return NULL;
    v->kind = k;
    atomic_init(&v->refs, 1);
    return v;
}

jv *jv_str_take(char *s, size_t n) {
    if (!s) return NULL;
    jv *v = jv_new(JV_STR);
    if (!v) {
        ember_free(s);
        return NULL;
    }
    v->u.str.s = s;
    v->u.str.len = n;
    return v;
}

jv *jv_str(const char *s, size_t n) {
    char *c = ember_malloc(n + 1);
    if (!c) return NULL;
    if (n) memcpy(c, s, n);
    c[n] = 0;
    return jv_str_take(c, n);
}

jv *jv_undef(const char *fmt, ...) {
    char tmp[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    jv *v = jv_str(tmp, strlen(tmp));
    if (v) v->kind = JV_UNDEF;
    return v;
}

jv *jv_func(const char *name, jv *self) {
    jv *v = jv_new(JV_FUNC);
    if (!v) {
        jv_unref(self);
        return NULL;
    }
    v->u.func.name = name;
    v->u.func.self = self;
    return v;
}

jv *jv_ref(jv *v) {
    if (v) atomic_fetch_add_explicit(&v->refs, 1, memory_order_relaxed);
    return v;
}

void jv_unref(jv *v) {
    if (!v || atomic_fetch_sub_explicit(&v->refs, 1, memory_order_acq_rel) != 1) return;
    switch (v->kind) {
    case JV_UNDEF:
    case JV_STR: ember_free(v->u.str.s); break;
    case JV_LIST:
        for (size_t i = 0; i < v->u.list.n; i++) jv_unref(v->u.list.items[i]);
        ember_free(v->u.list.items);
        break;
    case JV_DICT:
    case JV_NS:
        for (size_t i = 0; i < v->u.dict.n; i++) {
            jv_unref(v->u.dict.keys[i]);
            jv_unref(v->u.dict.vals[i]);
        }
        ember_free(v->u.dict.keys);
        ember_free(v->u.dict.vals);
        break;
    case JV_FUNC: jv_unref(v->u.func.self); break;
    case JV_LOOP: jv_unref(v->u.loop.items); break;
    default: break;
    }
    ember_free(v);
}

static bool grow(void **p, size_t *cap, size_t need, size_t elem) {
    if (need <= *cap) return true;
    size_t c = *cap ? *cap * 2 : 4;
    if (c < need) c = need;
    if (c > SIZE_MAX / elem) return false;
    void *q = ember_realloc(*p, c * elem);
    if (!q) return false;
    *p = q;
    *cap = c;
    return true;
}

bool jv_append(jv *list, jv *item) {
    if (!item) return false;
    size_t cap = list->u.list.cap;
    if (!grow((void **)&list->u.list.items, &cap, list->u.list.n + 1, sizeof(jv *))) {
        jv_unref(item);
        return false;
    }
    list->u.list.cap = cap;
    list->u.list.items[list->u.list.n++] = item;
    return true;
}

jv *jv_dict_find(const jv *d, const jv *key) {
    for (size_t i = 0; i < d->u.dict.n; i++)
        if (jv_equal(d->u.dict.keys[i], key)) return d->u.dict.vals[i];
    return NULL;
}

jv *jv_dict_findz(const jv *d, const char *key) {
    size_t n = strlen(key);
    for (size_t i = 0; i < d->u.dict.n; i++) {
        const jv *k = d->u.dict.keys[i];
        if (k->kind == JV_STR && k->u.str.len == n && !memcmp(k->u.str.s, key, n)) return d->u.dict.vals[i];
    }
    return NULL;
}

bool jv_dict_put(jv *d, jv *key, jv *val) {
    if (!key || !val) goto fail;
    for (size_t i = 0; i < d->u.dict.n; i++) {
        if (jv_equal(d->u.dict.keys[i], key)) {
            jv_unref(d->u.dict.vals[i]);
            d->u.dict.vals[i] = val;
            jv_unref(key);
            return true;
        }
    }
    size_t cap = d->u.dict.cap, cap2 = d->u.dict.cap;
    if (!grow((void **)&d->u.dict.keys, &cap, d->u.dict.n + 1, sizeof(jv *))) goto fail;
    if (!grow((void **)&d->u.dict.vals, &cap2, d->u.dict.n + 1, sizeof(jv *))) goto fail; /* keys stay larger */
    d->u.dict.cap = cap;
    d->u.dict.keys[d->u.dict.n] = key;
    d->u.dict.vals[d->u.dict.n++] = val;
    return true;
fail:
    jv_unref(key);
    jv_unref(val);
    return false;
}

/* --- semantics ---------------------------------------------------------------------------------------- */
bool jv_is_number(const jv *v) { return v->kind == JV_INT || v->kind == JV_FLOAT || v->kind == JV_BOOL; }

double jv_num(const jv *v) {
    switch (v->kind) {
    case JV_BOOL: return v->u.b;
    case JV_INT: return (double)v->u.i;
    case JV_FLOAT: return v->u.f;
    default: return 0;
    }
}

bool jv_truthy(const jv *v) {
    switch (v->kind) {
    case JV_UNDEF:
    case JV_NONE: return false;
    case JV_BOOL: return v->u.b;
    case JV_INT: return v->u.i != 0;
    case JV_FLOAT: return v->u.f != 0;
    case JV_STR: return v->u.str.len != 0;
    case JV_LIST: return v->u.list.n != 0;
    case JV_DICT: return v->u.dict.n != 0;
    default: return true;
    }
}

bool jv_equal(const jv *a, const jv *b) {
    if (a == b) return true;
    if (jv_is_number(a) && jv_is_number(b)) {
        if (a->kind != JV_FLOAT && b->kind != JV_FLOAT)
            return (a->kind == JV_INT ? a->u.i : a->u.b) == (b->kind == JV_INT ? b->u.i : b->u.b);
        return jv_num(a) == jv_num(b);
    }
    if (a->kind != b->kind) return false;
    switch (a->kind) {
    case JV_UNDEF:
    case JV_NONE: return true;
    case JV_STR: return a->u.str.len == b->u.str.len && !memcmp(a->u.str.s, b->u.str.s, a->u.str.len);
    case JV_LIST:
        if (a->u.list.n != b->u.list.n || a->u.list.tuple != b->u.list.tuple) return false;
        for (size_t i = 0; i < a->u.list.n; i++)
            if (!jv_equal(a->u.list.items[i], b->u.list.items[i])) return false;
        return true;
    case JV_DICT:
        if (a->u.dict.n != b->u.dict.n) return false;
        for (size_t i = 0; i < a->u.dict.n; i++) {
            const jv *o = jv_dict_find(b, a->u.dict.keys[i]);
            if (!o || !jv_equal(a->u.dict.vals[i], o)) return false;
        }
        return true;
    case JV_FUNC: return !strcmp(a->u.func.name, b->u.func.name) && a->u.func.self == b->u.func.self;
    default: return false;
    }
}

int jv_compare(const jv *a, const jv *b) {
    if (jv_is_number(a) && jv_is_number(b)) {
        if (a->kind == JV_INT && b->kind == JV_INT) return (a->u.i > b->u.i) - (a->u.i < b->u.i);
        double x = jv_num(a), y = jv_num(b);
        return (x > y) - (x < y);
    }
    if (a->kind == JV_STR && b->kind == JV_STR) {
        size_t n = a->u.str.len < b->u.str.len ? a->u.str.len : b->u.str.len;
        int c = memcmp(a->u.str.s, b->u.str.s, n);
        if (c) return c < 0 ? -1 : 1;
        return (a->u.str.len > b->u.str.len) - (a->u.str.len < b->u.str.len);
    }
    if (a->kind == JV_LIST && b->kind == JV_LIST) {
        for (size_t i = 0; i < a->u.list.n && i < b->u.list.n; i++) {
            if (jv_equal(a->u.list.items[i], b->u.list.items[i])) continue;
            return jv_compare(a->u.list.items[i], b->u.list.items[i]);
        }
        return (a->u.list.n > b->u.list.n) - (a->u.list.n < b->u.list.n);
    }
    return -2;
}

const char *jv_type_name(const jv *v) {
    switch (v->kind) {
    case JV_UNDEF: return "Undefined";
    case JV_NONE: return "NoneType";
    case JV_BOOL: return "bool";
    case JV_INT: return "int";
    case JV_FLOAT: return "float";
    case JV_STR: return "str";
    case JV_LIST: return "list";
    case JV_DICT: return "dict";
    case JV_NS: return "Namespace";
    case JV_FUNC: return "builtin_function_or_method";
    case JV_MACRO: return "Macro";
    case JV_LOOP: return "LoopContext";
    }
    return "object";
}

/* --- str / repr --------------------------------------------------------------------------------------- */
void jv_float_repr(jbuf *b, double f) {
    if (isnan(f)) return jbuf_puts(b, "nan");
    if (isinf(f)) return jbuf_puts(b, f < 0 ? "-inf" : "inf");
    char tmp[48];
    for (int p = 1; p <= 17; p++) {
        snprintf(tmp, sizeof tmp, "%.*e", p - 1, f);
        if (strtod(tmp, NULL) == f) break;
    }
    const char *s = tmp;
    if (*s == '-') jbuf_putc(b, *s++);
    char digits[24];
    int nd = 0;
    for (; *s && *s != 'e'; s++)
        if (*s != '.' && nd < 23) digits[nd++] = *s;
    while (nd > 1 && digits[nd - 1] == '0') nd--;
    int exp = *s == 'e' ? atoi(s + 1) : 0;
    if (exp >= -4 && exp < 16) {
        int dp = exp + 1; /* digits before the point */
        if (dp <= 0) {
            jbuf_puts(b, "0.");
            for (int i = 0; i < -dp; i++) jbuf_putc(b, '0');
            jbuf_put(b, digits, (size_t)nd);
        } else if (dp >= nd) {
            jbuf_put(b, digits, (size_t)nd);
            for (int i = nd; i < dp; i++) jbuf_putc(b, '0');
            jbuf_puts(b, ".0");
        } else {
            jbuf_put(b, digits, (size_t)dp);
            jbuf_putc(b, '.');
            jbuf_put(b, digits + dp, (size_t)(nd - dp));
        }
        return;
    }
    jbuf_putc(b, digits[0]);
    if (nd > 1) {
        jbuf_putc(b, '.');
        jbuf_put(b, digits + 1, (size_t)(nd - 1));
    }
    jbuf_printf(b, "e%c%02d", exp < 0 ? '-' : '+', exp < 0 ? -exp : exp);
}

static void repr_string(jbuf *b, const char *s, size_t n) {
    bool has_sq = memchr(s, '\'', n) != NULL, has_dq = memchr(s, '"', n) != NULL;
    char q = has_sq && !has_dq ? '"' : '\'';
    jbuf_putc(b, q);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == (unsigned char)q || c == '\\') {
            jbuf_putc(b, '\\');
            jbuf_putc(b, (char)c);
        } else if (c == '\n') jbuf_puts(b, "\\n");
        else if (c == '\r') jbuf_puts(b, "\\r");
        else if (c == '\t') jbuf_puts(b, "\\t");
        else if (c < 0x20 || c == 0x7f) jbuf_printf(b, "\\x%02x", c);
        else jbuf_putc(b, (char)c);
    }
    jbuf_putc(b, q);
}

static bool repr_depth(jbuf *b, const jv *v, int depth);

static bool repr_items(jbuf *b, const jv *v, int depth) {
    bool list = v->kind == JV_LIST, tuple = list && v->u.list.tuple;
    size_t n = list ? v->u.list.n : v->u.dict.n;
    jbuf_putc(b, tuple ? '(' : list ? '[' : '{');
    for (size_t i = 0; i < n; i++) {
        if (i) jbuf_puts(b, ", ");
        if (!list) {
            if (!repr_depth(b, v->u.dict.keys[i], depth + 1)) return false;
            jbuf_puts(b, ": ");
        }
        if (!repr_depth(b, list ? v->u.list.items[i] : v->u.dict.vals[i], depth + 1)) return false;
    }
    if (tuple && n == 1) jbuf_putc(b, ',');
    jbuf_putc(b, tuple ? ')' : list ? ']' : '}');
    return true;
}

static bool repr_depth(jbuf *b, const jv *v, int depth) {
    if (depth > JV_MAX_DEPTH) return false;
    switch (v->kind) {
    case JV_UNDEF:
        if (depth) jbuf_puts(b, "Undefined"); /* str() of a bare undefined is "" */
        return true;
    case JV_NONE: jbuf_puts(b, "None"); return true;
    case JV_BOOL: jbuf_puts(b, v->u.b ? "True" : "False"); return true;
    case JV_INT: jbuf_printf(b, "%lld", (long long)v->u.i); return true;
    case JV_FLOAT: jv_float_repr(b, v->u.f); return true;
    case JV_STR: repr_string(b, v->u.str.s, v->u.str.len); return true;
    case JV_LIST:
    case JV_DICT: return repr_items(b, v, depth);
    case JV_NS: {
        jbuf_puts(b, "<Namespace ");
        jv tmp = *v;
        tmp.kind = JV_DICT;
        bool ok = repr_items(b, &tmp, depth);
        jbuf_putc(b, '>');
        return ok;
    }
    case JV_FUNC: jbuf_printf(b, "<built-in method %s>", v->u.func.name); return true;
    case JV_MACRO: jbuf_printf(b, "<Macro '%s'>", v->u.macro.name); return true;
    case JV_LOOP: jbuf_printf(b, "<LoopContext %zu/%zu>", v->u.loop.i + 1, v->u.loop.items->u.list.n); return true;
    }
    return true;
}

bool jv_repr(jbuf *b, const jv *v) { return repr_depth(b, v, 0); }

bool jv_str_value(jbuf *b, const jv *v) {
    if (v->kind == JV_STR) {
        jbuf_put(b, v->u.str.s, v->u.str.len);
        return true;
    }
    return repr_depth(b, v, 0);
}

/* --- JSON out ----------------------------------------------------------------------------------------- */
static size_t utf8_decode(const char *s, size_t n, uint32_t *cp) {
    const unsigned char *u = (const unsigned char *)s;
    if (u[0] < 0x80) return *cp = u[0], 1;
    int len = u[0] >= 0xf0 ? 4 : u[0] >= 0xe0 ? 3 : u[0] >= 0xc0 ? 2 : 0;
    if (!len || (size_t)len > n) return *cp = 0xfffd, 1;
    uint32_t c = u[0] & (0x7f >> len);
    for (int i = 1; i < len; i++) {
        if ((u[i] & 0xc0) != 0x80) return *cp = 0xfffd, 1;
        c = c << 6 | (u[i] & 0x3f);
    }
    *cp = c;
    return (size_t)len;
}

size_t utf8_encode(uint32_t cp, char out[4]) {
    if (cp < 0x80) return out[0] = (char)cp, 1;
    if (cp < 0x800) {
        out[0] = (char)(0xc0 | cp >> 6);
        out[1] = (char)(0x80 | (cp & 0x3f));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (char)(0xe0 | cp >> 12);
        out[1] = (char)(0x80 | (cp >> 6 & 0x3f));
        out[2] = (char)(0x80 | (cp & 0x3f));
        return 3;
    }
    out[0] = (char)(0xf0 | cp >> 18);
    out[1] = (char)(0x80 | (cp >> 12 & 0x3f));
    out[2] = (char)(0x80 | (cp >> 6 & 0x3f));
    out[3] = (char)(0x80 | (cp & 0x3f));
    return 4;
}

size_t utf8_count(const char *s, size_t n) {
    size_t count = 0;
    for (size_t i = 0; i < n; count++) {
        uint32_t cp;
        i += utf8_decode(s + i, n - i, &cp);
    }
    return count;
}

size_t utf8_offset(const char *s, size_t n, size_t index) {
    size_t i = 0;
    for (; i < n && index; index--) {
        uint32_t cp;
        i += utf8_decode(s + i, n - i, &cp);
    }
    return i;
}

static void json_string(jbuf *b, const char *s, size_t n, bool ascii) {
    jbuf_putc(b, '"');
    for (size_t i = 0; i < n;) {
        unsigned char c = (unsigned char)s[i];
        const char *esc = c == '"' ? "\\\"" : c == '\\' ? "\\\\" : c == '\n' ? "\\n" : c == '\r' ? "\\r"
                        : c == '\t' ? "\\t" : c == '\b' ? "\\b" : c == '\f' ? "\\f" : NULL;
        if (esc) {
            jbuf_puts(b, esc);
            i++;
        } else if (c < 0x20) {
            jbuf_printf(b, "\\u%04x", c);
            i++;
        } else if (c < 0x80 || !ascii) {
            jbuf_putc(b, (char)c);
            i++;
        } else {
            uint32_t cp;
            i += utf8_decode(s + i, n - i, &cp);
            if (cp >= 0x10000) {
                cp -= 0x10000;
                jbuf_printf(b, "\\u%04x\\u%04x", 0xd800 + (cp >> 10), 0xdc00 + (cp & 0x3ff));
            } else {
                jbuf_printf(b, "\\u%04x", cp);
            }
        }
    }
    jbuf_putc(b, '"');
}

static void json_newline(jbuf *b, const jv_json_opts *o, int level) {
    if (o->indent < 0) return;
    jbuf_putc(b, '\n');
    for (int i = 0; i < o->indent * level; i++) jbuf_putc(b, ' ');
}

static bool json_value(jbuf *b, const jv *v, const jv_json_opts *o, int level, const char **err);

/* JSON object keys: strings as they are, scalars converted the way json.dumps converts them. */
static bool json_key(jbuf *b, const jv *k, const jv_json_opts *o, const char **err) {
    if (k->kind == JV_STR) {
        json_string(b, k->u.str.s, k->u.str.len, o->ensure_ascii);
        return true;
    }
    if (k->kind == JV_LIST || k->kind == JV_DICT) return *err = "keys must be str, int, float, bool or None", false;
    jbuf_putc(b, '"');
    bool ok = json_value(b, k, o, 0, err);
    jbuf_putc(b, '"');
    return ok;
}

static int cmp_keys(const void *x, const void *y) {
    const jv *a = **(jv *const *const *)x, *bb = **(jv *const *const *)y;
    int c = jv_compare(a, bb);
    return c == -2 ? 0 : c;
}

static bool json_dict(jbuf *b, const jv *v, const jv_json_opts *o, int level, const char **err) {
    size_t n = v->u.dict.n;
    if (!n) return jbuf_puts(b, "{}"), true;
    jv ***order = ember_malloc(n * sizeof *order);
    if (!order) return *err = "out of memory", false;
    for (size_t i = 0; i < n; i++) order[i] = &v->u.dict.keys[i];
    if (o->sort_keys) qsort(order, n, sizeof *order, cmp_keys);
    const char *isep = o->item_sep ? o->item_sep : o->indent < 0 ? ", " : ",";
    const char *ksep = o->key_sep ? o->key_sep : ": ";
    bool ok = true;
    jbuf_putc(b, '{');
    for (size_t j = 0; j < n && ok; j++) {
        size_t i = (size_t)(order[j] - v->u.dict.keys);
        if (j) jbuf_puts(b, isep);
        json_newline(b, o, level + 1);
        ok = json_key(b, v->u.dict.keys[i], o, err);
        jbuf_puts(b, ksep);
        ok = ok && json_value(b, v->u.dict.vals[i], o, level + 1, err);
    }
    ember_free(order);
    json_newline(b, o, level);
    jbuf_putc(b, '}');
    return ok;
}

static bool json_list(jbuf *b, const jv *v, const jv_json_opts *o, int level, const char **err) {
    if (!v->u.list.n) return jbuf_puts(b, "[]"), true;
    const char *isep = o->item_sep ? o->item_sep : o->indent < 0 ? ", " : ",";
    jbuf_putc(b, '[');
    for (size_t i = 0; i < v->u.list.n; i++) {
        if (i) jbuf_puts(b, isep);
        json_newline(b, o, level + 1);
        if (!json_value(b, v->u.list.items[i], o, level + 1, err)) return false;
    }
    json_newline(b, o, level);
    jbuf_putc(b, ']');
    return true;
}

static bool json_value(jbuf *b, const jv *v, const jv_json_opts *o, int level, const char **err) {
    if (level > JV_MAX_DEPTH) return *err = "value nested too deeply", false;
    switch (v->kind) {
    case JV_NONE: jbuf_puts(b, "null"); return true;
    case JV_BOOL: jbuf_puts(b, v->u.b ? "true" : "false"); return true;
    case JV_INT: jbuf_printf(b, "%lld", (long long)v->u.i); return true;
    case JV_FLOAT:
        if (isnan(v->u.f)) jbuf_puts(b, "NaN");
        else if (isinf(v->u.f)) jbuf_puts(b, v->u.f < 0 ? "-Infinity" : "Infinity");
        else jv_float_repr(b, v->u.f);
        return true;
    case JV_STR: json_string(b, v->u.str.s, v->u.str.len, o->ensure_ascii); return true;
    case JV_LIST: return json_list(b, v, o, level, err);
    case JV_DICT: return json_dict(b, v, o, level, err);
    case JV_UNDEF: return *err = "Object of type Undefined is not JSON serializable", false;
    default: return *err = "Object of this type is not JSON serializable", false;
    }
}

bool jv_json_dump(jbuf *b, const jv *v, const jv_json_opts *o, const char **err) {
    return json_value(b, v, o, 0, err);
}

/* --- JSON in ------------------------------------------------------------------------------------------ */
typedef struct jparse {
    const char *s;
    size_t n, i;
    int depth;
    char *err;
    size_t errcap;
} jparse;

static jv *jp_fail(jparse *p, const char *what) {
    if (p->err[0]) return NULL;
    int line = 1, col = 1;
    for (size_t k = 0; k < p->i && k < p->n; k++) {
        if (p->s[k] == '\n') line++, col = 1;
        else col++;
    }
    snprintf(p->err, p->errcap, "JSON %d:%d: %s", line, col, what);
    return NULL;
}

static void jp_ws(jparse *p) {
    while (p->i < p->n && p->s[p->i] && strchr(" \t\r\n", p->s[p->i])) p->i++;
}

static jv *jp_value(jparse *p);

static int hex4(const char *s) {
    int v = 0;
    for (int k = 0; k < 4; k++) {
        char c = s[k];
        int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
        if (d < 0) return -1;
        v = v * 16 + d;
    }
    return v;
}

static bool jp_escape(jparse *p, jbuf *b) {
    if (p->i + 1 >= p->n) return false;
    char c = p->s[++p->i];
    const char *from = "\"\\/bfnrt", *to = "\"\\/\b\f\n\r\t";
    const char *hit = c ? strchr(from, c) : NULL;
    if (hit) {
        jbuf_putc(b, to[hit - from]);
        p->i++;
        return true;
    }
    if (c != 'u' || p->i + 5 > p->n) return false;
    int cp = hex4(p->s + p->i + 1);
    if (cp < 0) return false;
    p->i += 5;
    if (cp >= 0xd800 && cp < 0xdc00 && p->i + 6 <= p->n && p->s[p->i] == '\\' && p->s[p->i + 1] == 'u') {
        int lo = hex4(p->s + p->i + 2);
        if (lo >= 0xdc00 && lo < 0xe000) {
            cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
            p->i += 6;
        }
    }
    if (cp >= 0xd800 && cp < 0xe000) cp = 0xfffd; /* a lone surrogate cannot be UTF-8 */
    char out[4];
    jbuf_put(b, out, utf8_encode((uint32_t)cp, out));
    return true;
}

static jv *jp_string(jparse *p) {
    jbuf b = {0};
    p->i++; /* opening quote */
    while (p->i < p->n && p->s[p->i] != '"') {
        unsigned char c = (unsigned char)p->s[p->i];
        if (c < 0x20) {
            jbuf_free(&b);
            return jp_fail(p, "control character in string (escape it)");
        }
        if (c == '\\') {
            if (!jp_escape(p, &b)) {
                jbuf_free(&b);
                return jp_fail(p, "invalid escape in string");
            }
            continue;
        }
        jbuf_putc(&b, (char)c);
        p->i++;
    }
    if (p->i >= p->n) {
        jbuf_free(&b);
        return jp_fail(p, "unterminated string");
    }
    p->i++;
    size_t len;
    char *s = jbuf_take(&b, &len);
    if (!s) s = ember_strdup(""), len = 0;
    return jv_str_take(s, len);
}

static size_t digits(jparse *p) {
    size_t start = p->i;
    while (p->i < p->n && p->s[p->i] >= '0' && p->s[p->i] <= '9') p->i++;
    return p->i - start;
}

static jv *jp_number(jparse *p) {
    size_t start = p->i;
    bool is_float = false;
    if (p->s[p->i] == '-') p->i++;
    size_t nd = digits(p);
    if (!nd || (nd > 1 && p->s[start + (p->s[start] == '-')] == '0')) return jp_fail(p, "invalid number");
    if (p->i < p->n && p->s[p->i] == '.') {
        p->i++;
        if (!digits(p)) return jp_fail(p, "digits expected after the decimal point");
        is_float = true;
    }
    if (p->i < p->n && (p->s[p->i] == 'e' || p->s[p->i] == 'E')) {
        p->i++;
        if (p->i < p->n && (p->s[p->i] == '+' || p->s[p->i] == '-')) p->i++;
        if (!digits(p)) return jp_fail(p, "digits expected in the exponent");
        is_float = true;
    }
    char tmp[64];
    size_t len = p->i - start;
    if (len >= sizeof tmp) is_float = true, len = sizeof tmp - 1; /* very long numbers: float precision */
    memcpy(tmp, p->s + start, len);
    tmp[len] = 0;
    jv *v = jv_new(JV_INT);
    if (!v) return NULL;
    if (!is_float) {
        errno = 0;
        v->u.i = strtoll(tmp, NULL, 10);
        if (errno == ERANGE) is_float = true; /* Python keeps big integers exact; we fall back to float */
    }
    if (is_float) {
        v->kind = JV_FLOAT;
        v->u.f = strtod(tmp, NULL);
    }
    return v;
}

static jv *jp_literal(jparse *p, const char *word, jv_kind k, bool b) {
    size_t n = strlen(word);
    if (p->n - p->i < n || memcmp(p->s + p->i, word, n)) return jp_fail(p, "unexpected character");
    p->i += n;
    jv *v = jv_new(k);
    if (v) v->u.b = b;
    return v;
}

static jv *jp_container(jparse *p, bool is_dict) {
    if (++p->depth > JV_MAX_DEPTH) return jp_fail(p, "nested too deeply");
    jv *c = jv_new(is_dict ? JV_DICT : JV_LIST);
    if (!c) return NULL;
    char close = is_dict ? '}' : ']';
    p->i++;
    jp_ws(p);
    if (p->i < p->n && p->s[p->i] == close) {
        p->i++;
        p->depth--;
        return c;
    }
    for (;;) {
        jp_ws(p);
        jv *key = NULL;
        if (is_dict) {
            if (p->i >= p->n || p->s[p->i] != '"') goto fail_msg;
            if (!(key = jp_string(p))) goto fail;
            jp_ws(p);
            if (p->i >= p->n || p->s[p->i] != ':') {
                jv_unref(key);
                jp_fail(p, "':' expected after an object key");
                goto fail;
            }
            p->i++;
        }
        jv *v = jp_value(p);
        if (!v) {
            jv_unref(key);
            goto fail;
        }
        if (!(is_dict ? jv_dict_put(c, key, v) : jv_append(c, v))) goto fail;
        jp_ws(p);
        if (p->i < p->n && p->s[p->i] == ',') {
            p->i++;
            continue;
        }
        if (p->i < p->n && p->s[p->i] == close) break;
        jp_fail(p, is_dict ? "',' or '}' expected" : "',' or ']' expected");
        goto fail;
    }
    p->i++;
    p->depth--;
    return c;
fail_msg:
    jp_fail(p, "string key expected");
fail:
    jv_unref(c);
    return NULL;
}

static jv *jp_value(jparse *p) {
    jp_ws(p);
    if (p->i >= p->n) return jp_fail(p, "value expected, found the end of the text");
    char c = p->s[p->i];
    switch (c) {
    case '{': return jp_container(p, true);
    case '[': return jp_container(p, false);
    case '"': return jp_string(p);
    case 't': return jp_literal(p, "true", JV_BOOL, true);
    case 'f': return jp_literal(p, "false", JV_BOOL, false);
    case 'n': return jp_literal(p, "null", JV_NONE, false);
    default:
        if (c == '-' || (c >= '0' && c <= '9')) return jp_number(p);
        return jp_fail(p, "unexpected character");
    }
}

jv *jv_json_parse(const char *s, size_t n, char *err, size_t errcap) {
    jparse p = {s, n, 0, 0, err, errcap};
    err[0] = 0;
    jv *v = jp_value(&p);
    if (!v) {
        if (!err[0]) snprintf(err, errcap, "out of memory");
        return NULL;
    }
    jp_ws(&p);
    if (p.i < p.n) {
        jv_unref(v);
        return jp_fail(&p, "unexpected text after the JSON value");
    }
    return v;
}

/* --- public API --------------------------------------------------------------------------------------- */
ember_jvalue *ember_jvalue_none(void) { return jv_new(JV_NONE); }

ember_jvalue *ember_jvalue_bool(int b) {
    jv *v = jv_new(JV_BOOL);
    if (v) v->u.b = b != 0;
    return v;
}

ember_jvalue *ember_jvalue_int(int64_t i) {
    jv *v = jv_new(JV_INT);
    if (v) v->u.i = i;
    return v;
}

ember_jvalue *ember_jvalue_float(double f) {
    jv *v = jv_new(JV_FLOAT);
    if (v) v->u.f = f;
    return v;
}

ember_jvalue *ember_jvalue_string(const char *s, size_t len) {
    if (!s) return NULL;
    return jv_str(s, len == (size_t)-1 ? strlen(s) : len);
}

ember_jvalue *ember_jvalue_list(void) { return jv_new(JV_LIST); }
ember_jvalue *ember_jvalue_dict(void) { return jv_new(JV_DICT); }

ember_status ember_jvalue_list_append(ember_jvalue *list, ember_jvalue *item) {
    if (!list || list->kind != JV_LIST || !item || item == list) {
        if (item != list) jv_unref(item);
        return ember_fail(EMBER_ERR_ARG, "ember_jvalue_list_append: a list and an item (not itself) expected");
    }
    return jv_append(list, item) ? EMBER_OK : ember_fail(EMBER_ERR_NOMEM, "ember_jvalue_list_append: out of memory");
}

ember_status ember_jvalue_dict_set(ember_jvalue *dict, const char *key, ember_jvalue *v) {
    if (!dict || dict->kind != JV_DICT || !key || !v || v == dict) {
        if (v != dict) jv_unref(v);
        return ember_fail(EMBER_ERR_ARG, "ember_jvalue_dict_set: a dict, a key and a value (not itself) expected");
    }
    if (!jv_dict_put(dict, jv_str(key, strlen(key)), v))
        return ember_fail(EMBER_ERR_NOMEM, "ember_jvalue_dict_set: out of memory");
    return EMBER_OK;
}

ember_status ember_jvalue_from_json(const char *json, size_t len, ember_jvalue **out) {
    if (!json || !out) return ember_fail(EMBER_ERR_ARG, "ember_jvalue_from_json: NULL argument");
    *out = NULL;
    char err[160];
    jv *v = jv_json_parse(json, len == (size_t)-1 ? strlen(json) : len, err, sizeof err);
    if (!v) return ember_fail(strcmp(err, "out of memory") ? EMBER_ERR_FORMAT : EMBER_ERR_NOMEM, "%s", err);
    *out = v;
    return EMBER_OK;
}

ember_status ember_jvalue_to_json(const ember_jvalue *v, int indent, char **out) {
    if (!v || !out) return ember_fail(EMBER_ERR_ARG, "ember_jvalue_to_json: NULL argument");
    *out = NULL;
    jbuf b = {0};
    jv_json_opts o = {.indent = indent > 0 ? indent : -1};
    const char *err = NULL;
    if (!jv_json_dump(&b, v, &o, &err)) {
        jbuf_free(&b);
        return ember_fail(EMBER_ERR_ARG, "ember_jvalue_to_json: %s", err);
    }
    if (!(*out = jbuf_take(&b, NULL))) return ember_fail(EMBER_ERR_NOMEM, "ember_jvalue_to_json: out of memory");
    return EMBER_OK;
}

ember_jvalue_kind ember_jvalue_kind_of(const ember_jvalue *v) {
    if (!v) return EMBER_JVALUE_UNDEFINED;
    return v->kind <= JV_DICT ? (ember_jvalue_kind)v->kind : EMBER_JVALUE_OTHER;
}

const char *ember_jvalue_str(const ember_jvalue *v, size_t *len) {
    if (!v || v->kind != JV_STR) return NULL;
    if (len) *len = v->u.str.len;
    return v->u.str.s;
}

int64_t ember_jvalue_as_int(const ember_jvalue *v) {
    if (!v) return 0;
    return v->kind == JV_INT ? v->u.i : v->kind == JV_BOOL ? v->u.b : v->kind == JV_FLOAT ? (int64_t)v->u.f : 0;
}

double ember_jvalue_as_float(const ember_jvalue *v) { return v && jv_is_number(v) ? jv_num(v) : 0; }

size_t ember_jvalue_len(const ember_jvalue *v) {
    if (!v) return 0;
    return v->kind == JV_LIST ? v->u.list.n : v->kind == JV_DICT ? v->u.dict.n : v->kind == JV_STR ? v->u.str.len : 0;
}

const ember_jvalue *ember_jvalue_at(const ember_jvalue *list, size_t i) {
    return list && list->kind == JV_LIST && i < list->u.list.n ? list->u.list.items[i] : NULL;
}

const ember_jvalue *ember_jvalue_get(const ember_jvalue *dict, const char *key) {
    return dict && dict->kind == JV_DICT && key ? jv_dict_findz(dict, key) : NULL;
}

ember_jvalue *ember_jvalue_retain(ember_jvalue *v) { return jv_ref(v); }
void ember_jvalue_release(ember_jvalue *v) { jv_unref(v); }
