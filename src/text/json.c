/* Strict JSON parser: one recursive-descent pass building a tree of ember_json nodes in an arena. */
#include "text/json.h"

#include "text/utf8.h"

#include <stdlib.h>
#include <string.h>

enum { JSON_MAX_DEPTH = 512 };

typedef struct jparser {
    const char *s;
    size_t n, i;
    const char *name;
    ember_arena *arena;
    ember_json **stack; /* children gathered while a container is open */
    size_t top, cap;
    ember_status err;
} jparser;

static ember_status jfail(jparser *p, size_t at, const char *what) {
    if (p->err) return p->err;
    size_t line = 1, col = 1;
    for (size_t k = 0; k < at && k < p->n; k++) {
        if (p->s[k] == '\n') line++, col = 1;
        else if (((uint8_t)p->s[k] & 0xC0) != 0x80) col++;
    }
    p->err = ember_fail(EMBER_ERR_FORMAT, "%s:%zu:%zu: %s", p->name ? p->name : "json", line, col, what);
    return p->err;
}

static void skip_ws(jparser *p) {
    while (p->i < p->n) {
        char c = p->s[p->i];
        if (c != ' ' && c != '\n' && c != '\r' && c != '\t') break;
        p->i++;
    }
}

static ember_json *new_node(jparser *p, ember_json_type t) {
    ember_json *v = ember_arena_alloc(p->arena, sizeof *v, 8);
    if (!v) {
        p->err = ember_fail(EMBER_ERR_NOMEM, "%s: out of memory", p->name ? p->name : "json");
        return NULL;
    }
    v->type = t;
    return v;
}

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

/* Reads a \uXXXX escape (and its low surrogate) at p->i (just after the backslash-u). */
static uint32_t read_u_escape(jparser *p) {
    if (p->n - p->i < 4 || hex4(p->s + p->i) < 0) return (jfail(p, p->i, "bad \\u escape: expected 4 hex digits"), 0);
    uint32_t cp = (uint32_t)hex4(p->s + p->i);
    p->i += 4;
    if (cp >= 0xDC00 && cp <= 0xDFFF) return (jfail(p, p->i - 6, "lone low surrogate in \\u escape"), 0);
    if (cp >= 0xD800 && cp <= 0xDBFF) {
        if (p->n - p->i < 6 || p->s[p->i] != '\\' || p->s[p->i + 1] != 'u' || hex4(p->s + p->i + 2) < 0)
            return (jfail(p, p->i - 6, "high surrogate not followed by a \\u low surrogate"), 0);
        uint32_t lo = (uint32_t)hex4(p->s + p->i + 2);
        if (lo < 0xDC00 || lo > 0xDFFF) return (jfail(p, p->i, "high surrogate not followed by a low surrogate"), 0);
        cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
        p->i += 6;
    }
    return cp;
}

/* Parses a string at p->i (on the opening quote); returns the decoded copy in the arena. */
static char *parse_string(jparser *p, size_t *len) {
    size_t start = ++p->i, end = start;
    bool plain = true;
    while (end < p->n && p->s[end] != '"') {
        uint8_t c = (uint8_t)p->s[end];
        if (c == '\\') plain = false, end++;
        else if (c < 0x20) return (jfail(p, end, "control character inside a string (must be escaped)"), NULL);
        end++;
    }
    if (end >= p->n) return (jfail(p, start - 1, "unterminated string"), NULL);
    size_t bad = utf8_valid_prefix((const uint8_t *)p->s + start, end - start);
    if (bad != end - start) return (jfail(p, start + bad, "invalid UTF-8 inside a string"), NULL);
    char *out = ember_arena_alloc(p->arena, end - start + 1, 1);
    if (!out) return (p->err = ember_fail(EMBER_ERR_NOMEM, "json: out of memory"), NULL);
    if (plain) {
        memcpy(out, p->s + start, end - start);
        *len = end - start;
        p->i = end + 1;
        return out;
    }
    size_t o = 0;
    while (p->i < end) {
        char c = p->s[p->i++];
        if (c != '\\') {
            out[o++] = c;
            continue;
        }
        char e = p->s[p->i++];
        switch (e) {
        case '"': out[o++] = '"'; break;
        case '\\': out[o++] = '\\'; break;
        case '/': out[o++] = '/'; break;
        case 'b': out[o++] = '\b'; break;
        case 'f': out[o++] = '\f'; break;
        case 'n': out[o++] = '\n'; break;
        case 'r': out[o++] = '\r'; break;
        case 't': out[o++] = '\t'; break;
        case 'u': {
            uint32_t cp = read_u_escape(p);
            if (p->err) return NULL;
            o += (size_t)utf8_encode(cp, out + o); /* \uXXXX (6 bytes) never encodes to more than 4 */
            break;
        }
        default: return (jfail(p, p->i - 2, "unknown escape in string"), NULL);
        }
    }
    out[o] = 0;
    *len = o;
    p->i = end + 1;
    return out;
}

static ember_json *parse_number(jparser *p) {
    size_t st = p->i, k = p->i;
    if (k < p->n && p->s[k] == '-') k++;
    if (k >= p->n || p->s[k] < '0' || p->s[k] > '9') return (jfail(p, st, "invalid number"), NULL);
    if (p->s[k] == '0') k++;
    else
        while (k < p->n && p->s[k] >= '0' && p->s[k] <= '9') k++;
    if (k < p->n && p->s[k] == '.') {
        if (++k >= p->n || p->s[k] < '0' || p->s[k] > '9') return (jfail(p, k, "digit expected after '.'"), NULL);
        while (k < p->n && p->s[k] >= '0' && p->s[k] <= '9') k++;
    }
    if (k < p->n && (p->s[k] == 'e' || p->s[k] == 'E')) {
        k++;
        if (k < p->n && (p->s[k] == '+' || p->s[k] == '-')) k++;
        if (k >= p->n || p->s[k] < '0' || p->s[k] > '9') return (jfail(p, k, "digit expected in exponent"), NULL);
        while (k < p->n && p->s[k] >= '0' && p->s[k] <= '9') k++;
    }
    char buf[64];
    size_t len = k - st;
    ember_json *v = new_node(p, EMBER_JSON_NUMBER);
    if (!v) return NULL;
    if (len < sizeof buf) {
        memcpy(buf, p->s + st, len);
        buf[len] = 0;
        v->num = strtod(buf, NULL);
    } else {
        char *big = ember_arena_strdup(p->arena, p->s + st, len);
        if (!big) return (p->err = ember_fail(EMBER_ERR_NOMEM, "json: out of memory"), NULL);
        v->num = strtod(big, NULL);
    }
    p->i = k;
    return v;
}

static bool push(jparser *p, ember_json *v) {
    if (p->top == p->cap) {
        size_t cap = p->cap ? p->cap * 2 : 256;
        ember_json **s = ember_realloc(p->stack, cap * sizeof *s);
        if (!s) return (p->err = ember_fail(EMBER_ERR_NOMEM, "json: out of memory"), false);
        p->stack = s, p->cap = cap;
    }
    p->stack[p->top++] = v;
    return true;
}

/* Moves the children pushed since `base` into v->items. */
static bool pop_items(jparser *p, ember_json *v, size_t base) {
    v->len = p->top - base;
    if (v->len) {
        v->items = ember_arena_alloc(p->arena, v->len * sizeof *v->items, 8);
        if (!v->items) return (p->err = ember_fail(EMBER_ERR_NOMEM, "json: out of memory"), false);
        memcpy(v->items, p->stack + base, v->len * sizeof *v->items);
    }
    p->top = base;
    return true;
}

static ember_json *parse_value(jparser *p, int depth);

static ember_json *parse_container(jparser *p, int depth, bool object) {
    char close = object ? '}' : ']';
    ember_json *v = new_node(p, object ? EMBER_JSON_OBJECT : EMBER_JSON_ARRAY);
    if (!v) return NULL;
    size_t base = p->top;
    p->i++;
    skip_ws(p);
    if (p->i < p->n && p->s[p->i] == close) {
        p->i++;
        return v;
    }
    for (;;) {
        skip_ws(p);
        const char *key = NULL;
        size_t klen = 0;
        if (object) {
            if (p->i >= p->n || p->s[p->i] != '"') return (jfail(p, p->i, "expected a string key"), NULL);
            if (!(key = parse_string(p, &klen))) return NULL;
            skip_ws(p);
            if (p->i >= p->n || p->s[p->i] != ':') return (jfail(p, p->i, "expected ':' after key"), NULL);
            p->i++;
        }
        ember_json *item = parse_value(p, depth + 1);
        if (!item) return NULL;
        item->key = key, item->key_len = klen;
        if (!push(p, item)) return NULL;
        skip_ws(p);
        if (p->i < p->n && p->s[p->i] == ',') {
            p->i++;
            continue;
        }
        if (p->i < p->n && p->s[p->i] == close) {
            p->i++;
            break;
        }
        return (jfail(p, p->i, object ? "expected ',' or '}'" : "expected ',' or ']'"), NULL);
    }
    return pop_items(p, v, base) ? v : NULL;
}

static ember_json *parse_literal(jparser *p, const char *word, ember_json_type t) {
    size_t l = strlen(word);
    if (p->n - p->i < l || memcmp(p->s + p->i, word, l)) return (jfail(p, p->i, "invalid literal"), NULL);
    p->i += l;
    return new_node(p, t);
}

static ember_json *parse_value(jparser *p, int depth) {
    if (depth > JSON_MAX_DEPTH) return (jfail(p, p->i, "nesting deeper than 512 levels"), NULL);
    skip_ws(p);
    if (p->i >= p->n) return (jfail(p, p->i, "unexpected end of input, expected a value"), NULL);
    char c = p->s[p->i];
    switch (c) {
    case '{': return parse_container(p, depth, true);
    case '[': return parse_container(p, depth, false);
    case '"': {
        ember_json *v = new_node(p, EMBER_JSON_STRING);
        if (v && !(v->str = parse_string(p, &v->len))) return NULL;
        return v;
    }
    case 't': return parse_literal(p, "true", EMBER_JSON_TRUE);
    case 'f': return parse_literal(p, "false", EMBER_JSON_FALSE);
    case 'n': return parse_literal(p, "null", EMBER_JSON_NULL);
    default:
        if (c == '-' || (c >= '0' && c <= '9')) return parse_number(p);
        return (jfail(p, p->i, "unexpected character, expected a value"), NULL);
    }
}

ember_status ember_json_parse(const char *text, size_t len, const char *name, ember_json_doc **out) {
    *out = NULL;
    if (!text && len) return ember_fail(EMBER_ERR_ARG, "ember_json_parse: NULL text");
    ember_json_doc *doc = ember_calloc(1, sizeof *doc);
    if (!doc) return ember_fail(EMBER_ERR_NOMEM, "json: out of memory");
    ember_arena_init(&doc->arena, len / 2 + 4096);
    jparser p = {.s = text, .n = len, .name = name, .arena = &doc->arena};
    if (len >= 3 && !memcmp(text, "\xEF\xBB\xBF", 3)) p.i = 3;
    doc->root = parse_value(&p, 0);
    if (doc->root) {
        skip_ws(&p);
        if (p.i != p.n) jfail(&p, p.i, "unexpected data after the JSON value");
    }
    ember_free(p.stack);
    if (p.err) {
        ember_json_free(doc);
        return p.err;
    }
    *out = doc;
    return EMBER_OK;
}

void ember_json_free(ember_json_doc *doc) {
    if (!doc) return;
    ember_arena_free(&doc->arena);
    ember_free(doc);
}

const ember_json *ember_json_get(const ember_json *v, const char *key) {
    if (!v || v->type != EMBER_JSON_OBJECT) return NULL;
    size_t kl = strlen(key);
    for (size_t i = v->len; i-- > 0;) {
        const ember_json *m = v->items[i];
        if (m->key_len == kl && !memcmp(m->key, key, kl)) return m;
    }
    return NULL;
}

size_t ember_json_len(const ember_json *v) {
    return v && (v->type == EMBER_JSON_ARRAY || v->type == EMBER_JSON_OBJECT) ? v->len : 0;
}

const char *ember_json_str(const ember_json *obj, const char *key, const char *dflt) {
    const ember_json *m = ember_json_get(obj, key);
    return m && m->type == EMBER_JSON_STRING ? m->str : dflt;
}

bool ember_json_bool(const ember_json *obj, const char *key, bool dflt) {
    const ember_json *m = ember_json_get(obj, key);
    return m && m->type == EMBER_JSON_TRUE ? true : m && m->type == EMBER_JSON_FALSE ? false : dflt;
}

double ember_json_num(const ember_json *obj, const char *key, double dflt) {
    const ember_json *m = ember_json_get(obj, key);
    return m && m->type == EMBER_JSON_NUMBER ? m->num : dflt;
}
