/* Jinja lexer and parser for chat templates: source text -> syntax tree (jinja.h), with Jinja2's whitespace
 * rules as transformers configures them (trim_blocks, lstrip_blocks, no trailing newline) and its grammar. */
#include "llm/jinja.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_NESTING 100 /* nested expressions and blocks; deeper templates are rejected, not recursed into */

typedef enum ttype { T_DATA, T_VBEGIN, T_VEND, T_BBEGIN, T_BEND, T_NAME, T_STRING, T_INT, T_FLOAT, T_OP, T_EOF } ttype;

typedef struct tok {
    ttype type;
    int line, col;
    const char *s; /* names and operators: text in the source */
    size_t n;
    jv *v; /* data, strings, numbers */
} tok;

typedef struct lexer {
    const char *s;
    size_t n, pos;
    tok *toks;
    size_t nt, cap;
    size_t lc_pos; /* line/column cache: position lc_pos is at lc_line:lc_col */
    int lc_line, lc_col;
    bool failed;
} lexer;

/* Line and column (in characters) of byte offset `off`; offsets are asked for in increasing order. */
static void where(lexer *L, size_t off, int *line, int *col) {
    if (off < L->lc_pos) L->lc_pos = 0, L->lc_line = 1, L->lc_col = 1;
    for (; L->lc_pos < off && L->lc_pos < L->n; L->lc_pos++) {
        unsigned char c = (unsigned char)L->s[L->lc_pos];
        if (c == '\n') L->lc_line++, L->lc_col = 1;
        else if ((c & 0xc0) != 0x80) L->lc_col++;
    }
    *line = L->lc_line;
    *col = L->lc_col;
}

static bool lex_fail(lexer *L, size_t off, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static bool lex_fail(lexer *L, size_t off, const char *fmt, ...) {
    char msg[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    int line, col;
    where(L, off, &line, &col);
    L->failed = true;
    ember_fail(EMBER_ERR_FORMAT, "chat template %d:%d: %s", line, col, msg);
    return false;
}

static tok *emit(lexer *L, ttype type, size_t off, size_t n, jv *v) {
    if (L->nt == L->cap) {
        size_t cap = L->cap ? L->cap * 2 : 256;
        tok *t = ember_realloc(L->toks, cap * sizeof *t);
        if (!t) {
            jv_unref(v);
            L->failed = true;
            ember_fail(EMBER_ERR_NOMEM, "chat template: out of memory");
            return NULL;
        }
        L->toks = t;
        L->cap = cap;
    }
    tok *t = &L->toks[L->nt++];
    *t = (tok){.type = type, .s = L->s + off, .n = n, .v = v};
    where(L, off, &t->line, &t->col);
    return t;
}

static bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f'; }
static bool is_alpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'; }
static bool is_digit(char c) { return c >= '0' && c <= '9'; }

static bool at(const lexer *L, size_t pos, const char *lit) {
    size_t n = strlen(lit);
    return pos <= L->n && L->n - pos >= n && !memcmp(L->s + pos, lit, n);
}

static size_t skip_space(const lexer *L, size_t pos) {
    while (pos < L->n && is_space(L->s[pos])) pos++;
    return pos;
}

static bool emit_data(lexer *L, size_t from, size_t to) {
    if (to <= from) return true;
    jv *v = jv_str(L->s + from, to - from);
    if (!v) return lex_fail(L, from, "out of memory");
    return emit(L, T_DATA, from, to - from, v) != NULL;
}

/* Whitespace before a tag: '-' strips all of it; lstrip_blocks strips blanks that begin a line before a
 * block or comment tag (not before {{ and not with '+'). */
static size_t strip_before(const lexer *L, size_t from, size_t to, char kind, char mod, bool line_start) {
    if (mod == '-') {
        while (to > from && is_space(L->s[to - 1])) to--;
        return to;
    }
    if (mod == '+' || kind == '{') return to;
    size_t l = to;
    while (l > from && L->s[l - 1] != '\n') l--;
    if (l == from && !line_start) return to;
    for (size_t i = l; i < to; i++)
        if (!is_space(L->s[i])) return to;
    return l;
}

/* After a tag end: "-%}" strips all following whitespace, "%}" (trim_blocks) one newline. */
static size_t strip_after(const lexer *L, size_t pos, char mod, bool trim_newline) {
    if (mod == '-') return skip_space(L, pos);
    if (mod != '+' && trim_newline && pos < L->n && L->s[pos] == '\n') return pos + 1;
    return pos;
}

/* "{% raw %}...{% endraw %}": returns false on error; *pos moves past the end tag. */
static bool lex_raw(lexer *L, size_t *pos, size_t body) {
    for (size_t q = body; q + 1 < L->n; q++) {
        if (L->s[q] != '{' || L->s[q + 1] != '%') continue;
        size_t p = q + 2;
        char mod = p < L->n && (L->s[p] == '-' || L->s[p] == '+') ? L->s[p] : 0;
        p = skip_space(L, p + (mod != 0));
        if (!at(L, p, "endraw")) continue;
        p = skip_space(L, p + 6);
        char emod = p < L->n && (L->s[p] == '-' || L->s[p] == '+') ? L->s[p] : 0;
        if (!at(L, p + (emod != 0), "%}")) continue;
        size_t end = strip_before(L, body, q, '%', mod, false);
        if (!emit_data(L, body, end)) return false;
        *pos = strip_after(L, p + (emod != 0) + 2, emod, true);
        return true;
    }
    return lex_fail(L, body, "'raw' block is never closed (expected '{%% endraw %%}')");
}

static int hexval(char c) {
    return is_digit(c) ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

/* One backslash escape of a string literal (Python's unicode-escape); returns the bytes consumed. */
static size_t unescape(const char *s, size_t n, jbuf *b) {
    static const char from[] = "nrtabfv\\'\"", to[] = "\n\r\t\a\b\f\v\\'\"";
    if (n < 2) return jbuf_putc(b, '\\'), 1;
    const char *hit = strchr(from, s[1]);
    if (hit && s[1]) return jbuf_putc(b, to[hit - from]), 2;
    if (s[1] >= '0' && s[1] <= '7') {
        unsigned v = 0;
        size_t i = 1;
        for (; i < 4 && i < n && s[i] >= '0' && s[i] <= '7'; i++) v = v * 8 + (unsigned)(s[i] - '0');
        char out[4];
        jbuf_put(b, out, utf8_encode(v, out));
        return i;
    }
    size_t digits = s[1] == 'x' ? 2 : s[1] == 'u' ? 4 : s[1] == 'U' ? 8 : 0;
    if (digits && n >= 2 + digits) {
        uint32_t v = 0;
        size_t i = 2;
        for (; i < 2 + digits && hexval(s[i]) >= 0; i++) v = v * 16 + (uint32_t)hexval(s[i]);
        if (i == 2 + digits && v <= 0x10ffff && !(v >= 0xd800 && v < 0xe000)) {
            char out[4];
            jbuf_put(b, out, utf8_encode(v, out));
            return i;
        }
    }
    jbuf_putc(b, '\\'); /* unknown escapes stay as they are */
    return 1;
}

static bool lex_string(lexer *L, size_t *pos) {
    size_t start = *pos;
    char q = L->s[start];
    jbuf b = {0};
    size_t p = start + 1;
    while (p < L->n && L->s[p] != q) {
        if (L->s[p] == '\\') p += unescape(L->s + p, L->n - p, &b);
        else jbuf_putc(&b, L->s[p++]);
    }
    if (p >= L->n) {
        jbuf_free(&b);
        return lex_fail(L, start, "string literal is never closed");
    }
    size_t len;
    char *text = jbuf_take(&b, &len);
    jv *v = text ? jv_str_take(text, len) : jv_str("", 0);
    if (!v) return lex_fail(L, start, "out of memory");
    *pos = p + 1;
    return emit(L, T_STRING, start, *pos - start, v) != NULL;
}

static bool lex_number(lexer *L, size_t *pos) {
    size_t start = *pos, p = start;
    while (p < L->n && (is_digit(L->s[p]) || L->s[p] == '_')) p++;
    bool is_float = false;
    if (p + 1 < L->n && L->s[p] == '.' && is_digit(L->s[p + 1])) {
        is_float = true;
        for (p++; p < L->n && (is_digit(L->s[p]) || L->s[p] == '_');) p++;
    }
    if (p < L->n && (L->s[p] == 'e' || L->s[p] == 'E')) {
        size_t e = p + 1;
        if (e < L->n && (L->s[e] == '+' || L->s[e] == '-')) e++;
        if (e < L->n && is_digit(L->s[e])) {
            is_float = true;
            for (p = e; p < L->n && is_digit(L->s[p]);) p++;
        }
    }
    char tmp[64];
    size_t k = 0;
    for (size_t i = start; i < p && k < sizeof tmp - 1; i++)
        if (L->s[i] != '_') tmp[k++] = L->s[i];
    tmp[k] = 0;
    jv *v = jv_new(is_float ? JV_FLOAT : JV_INT);
    if (!v) return lex_fail(L, start, "out of memory");
    if (is_float) v->u.f = strtod(tmp, NULL);
    else v->u.i = strtoll(tmp, NULL, 10);
    *pos = p;
    return emit(L, is_float ? T_FLOAT : T_INT, start, p - start, v) != NULL;
}

static const char *const OPS[] = {"//", "**", "==", "!=", "<=", ">=", "+", "-", "*", "/", "%", "~", "<", ">",
                                  "=",  "(",  ")",  "[",  "]",  "{",  "}", ",", ".", ":", "|", NULL};

/* Tokens inside {{ }} or {% %} up to and including the end; returns false on error. */
static bool lex_tag(lexer *L, size_t *pos, bool block, size_t tag_start, bool *line_start) {
    char open[MAX_NESTING];
    int depth = 0;
    for (;;) {
        size_t p = skip_space(L, *pos);
        if (p >= L->n)
            return lex_fail(L, tag_start, "%s tag is never closed (expected '%s')", block ? "'{%'" : "'{{'",
                            block ? "%}" : "}}");
        const char *end = block ? "%}" : "}}";
        char mod = L->s[p] == '-' || (block && L->s[p] == '+') ? L->s[p] : 0;
        if (depth == 0 && at(L, p + (mod != 0), end)) {
            if (!emit(L, block ? T_BEND : T_VEND, p, 2, NULL)) return false;
            *pos = strip_after(L, p + (mod != 0) + 2, mod, block);
            *line_start = *pos > 0 && L->s[*pos - 1] == '\n';
            return true;
        }
        char c = L->s[p];
        *pos = p;
        if (c == '"' || c == '\'') {
            if (!lex_string(L, pos)) return false;
            continue;
        }
        if (is_digit(c)) {
            if (!lex_number(L, pos)) return false;
            continue;
        }
        if (is_alpha(c)) {
            size_t q = p;
            while (q < L->n && (is_alpha(L->s[q]) || is_digit(L->s[q]))) q++;
            if (!emit(L, T_NAME, p, q - p, NULL)) return false;
            *pos = q;
            continue;
        }
        const char *const *op = OPS;
        while (*op && !at(L, p, *op)) op++;
        if (!*op) return lex_fail(L, p, "unexpected character '%c'", c);
        if (strchr("([{", c)) {
            if (depth == MAX_NESTING) return lex_fail(L, p, "expression nested too deeply (more than %d levels)", MAX_NESTING);
            open[depth++] = c == '(' ? ')' : c == '[' ? ']' : '}';
        } else if (strchr(")]}", c)) {
            if (depth == 0) return lex_fail(L, p, "unexpected '%c'", c);
            if (open[--depth] != c) return lex_fail(L, p, "unexpected '%c', expected '%c'", c, open[depth]);
        }
        if (!emit(L, T_OP, p, strlen(*op), NULL)) return false;
        *pos = p + strlen(*op);
    }
}

static bool lex_comment(lexer *L, size_t *pos, size_t tag_start, bool *line_start) {
    for (size_t p = *pos; p + 1 < L->n; p++) {
        if (L->s[p] != '#' || L->s[p + 1] != '}') continue;
        char mod = p > *pos && (L->s[p - 1] == '-' || L->s[p - 1] == '+') ? L->s[p - 1] : 0;
        *pos = strip_after(L, p + 2, mod, true);
        *line_start = L->s[*pos - 1] == '\n';
        return true;
    }
    return lex_fail(L, tag_start, "comment is never closed (expected '#}')");
}

static bool is_raw_tag(const lexer *L, size_t p, size_t *body) {
    p = skip_space(L, p);
    if (!at(L, p, "raw")) return false;
    p = skip_space(L, p + 3);
    char mod = p < L->n && L->s[p] == '-' ? '-' : 0;
    if (!at(L, p + (mod != 0), "%}")) return false;
    *body = strip_after(L, p + (mod != 0) + 2, mod, false);
    return true;
}

static bool lex(lexer *L) {
    bool line_start = true;
    while (L->pos < L->n) {
        size_t q = L->pos;
        while (q + 1 < L->n && !(L->s[q] == '{' && strchr("{%#", L->s[q + 1]))) q++;
        if (q + 1 >= L->n) {
            if (!emit_data(L, L->pos, L->n)) return false;
            break;
        }
        char kind = L->s[q + 1];
        char mod = q + 2 < L->n && (L->s[q + 2] == '-' || L->s[q + 2] == '+') ? L->s[q + 2] : 0;
        if (!emit_data(L, L->pos, strip_before(L, L->pos, q, kind, mod, line_start))) return false;
        size_t p = q + 2 + (mod != 0), body;
        if (kind == '#') {
            if (!lex_comment(L, &p, q, &line_start)) return false;
        } else if (kind == '%' && is_raw_tag(L, p, &body)) {
            if (!lex_raw(L, &p, body)) return false;
            line_start = L->s[p - 1] == '\n';
        } else {
            if (!emit(L, kind == '%' ? T_BBEGIN : T_VBEGIN, q, 2, NULL)) return false;
            if (!lex_tag(L, &p, kind == '%', q, &line_start)) return false;
        }
        L->pos = p;
    }
    return emit(L, T_EOF, L->n, 0, NULL) != NULL;
}

/* --- parser --------------------------------------------------------------------------------------- */
typedef struct parser {
    ember_chat_template *t;
    tok *toks;
    size_t nt, i;
    int depth, loops;
    bool failed;
} parser;

typedef struct nvec {
    jnode **v;
    const char **kw;
    size_t n, cap;
    bool oom;
} nvec;

static void nvec_push(nvec *a, jnode *n, const char *kw) {
    if (a->n == a->cap) {
        size_t cap = a->cap ? a->cap * 2 : 8;
        jnode **v = ember_realloc(a->v, cap * sizeof *v);
        const char **k = v ? ember_realloc(a->kw, cap * sizeof *k) : NULL;
        if (v) a->v = v;
        if (!v || !k) {
            a->oom = true;
            return;
        }
        a->kw = k;
        a->cap = cap;
    }
    a->v[a->n] = n;
    a->kw[a->n++] = kw;
}

static const char *describe(const tok *t) {
    switch (t->type) {
    case T_DATA: return "template text";
    case T_VBEGIN: return "'{{'";
    case T_VEND: return "'}}'";
    case T_BBEGIN: return "'{%'";
    case T_BEND: return "'%}'";
    case T_STRING: return "a string";
    case T_INT:
    case T_FLOAT: return "a number";
    case T_EOF: return "the end of the template";
    default: return NULL;
    }
}

static void *perr(parser *P, const tok *t, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void *perr(parser *P, const tok *t, const char *fmt, ...) {
    if (P->failed) return NULL;
    P->failed = true;
    char msg[300];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    ember_fail(EMBER_ERR_FORMAT, "chat template %d:%d: %s", t->line, t->col, msg);
    return NULL;
}

static void *unexpected(parser *P, const tok *t, const char *expected) {
    const char *d = describe(t);
    if (d) return perr(P, t, "unexpected %s, expected %s", d, expected);
    return perr(P, t, "unexpected '%.*s', expected %s", (int)t->n, t->s, expected);
}

static tok *cur(parser *P) { return &P->toks[P->i]; }
static tok *peek(parser *P, size_t k) { return &P->toks[P->i + k < P->nt ? P->i + k : P->nt - 1]; }
static void advance(parser *P) {
    if (P->i + 1 < P->nt) P->i++;
}

static bool tok_is(const tok *t, ttype type, const char *s) {
    return t->type == type && (!s || (t->n == strlen(s) && !memcmp(t->s, s, t->n)));
}
static bool is_op(parser *P, const char *s) { return tok_is(cur(P), T_OP, s); }
static bool is_name(parser *P, const char *s) { return tok_is(cur(P), T_NAME, s); }
static bool accept_op(parser *P, const char *s) { return is_op(P, s) ? (advance(P), true) : false; }
static bool accept_name(parser *P, const char *s) { return is_name(P, s) ? (advance(P), true) : false; }

static bool expect_op(parser *P, const char *s) {
    if (accept_op(P, s)) return true;
    char what[16];
    snprintf(what, sizeof what, "'%s'", s);
    unexpected(P, cur(P), what);
    return false;
}

static bool expect_type(parser *P, ttype type, const char *what) {
    if (cur(P)->type == type) return advance(P), true;
    unexpected(P, cur(P), what);
    return false;
}

static jnode *mk(parser *P, jnode_kind kind, const tok *t) {
    jnode *n = ember_arena_alloc(&P->t->arena, sizeof *n, 8);
    if (!n) return perr(P, t, "out of memory");
    n->kind = kind;
    n->line = t->line;
    n->col = t->col;
    return n;
}

static const char *name_of(parser *P, const tok *t) {
    const char *s = ember_arena_strdup(&P->t->arena, t->s, t->n);
    if (!s) perr(P, t, "out of memory");
    return s;
}

/* Hand a token's value to the template (released when it is destroyed). */
static jv *keep(parser *P, tok *t) {
    ember_chat_template *T = P->t;
    if (T->n_literals == T->cap_literals) {
        size_t cap = T->cap_literals ? T->cap_literals * 2 : 64;
        jv **l = ember_realloc(T->literals, cap * sizeof *l);
        if (!l) return perr(P, t, "out of memory");
        T->literals = l;
        T->cap_literals = cap;
    }
    T->literals[T->n_literals++] = t->v;
    jv *v = t->v;
    t->v = NULL;
    return v;
}

static bool finish_kids(parser *P, jnode *n, nvec *a) {
    if (a->oom) {
        perr(P, cur(P), "out of memory");
    } else if (a->n) {
        n->kids = ember_arena_alloc(&P->t->arena, a->n * sizeof *n->kids, 8);
        n->kw = ember_arena_alloc(&P->t->arena, a->n * sizeof *n->kw, 8);
        if (!n->kids || !n->kw) perr(P, cur(P), "out of memory");
        else {
            memcpy(n->kids, a->v, a->n * sizeof *n->kids);
            memcpy(n->kw, a->kw, a->n * sizeof *n->kw);
            n->n = a->n;
        }
    }
    ember_free(a->v);
    ember_free(a->kw);
    return !P->failed;
}

static bool enter(parser *P) {
    if (++P->depth > MAX_NESTING) {
        perr(P, cur(P), "template nested too deeply (more than %d levels)", MAX_NESTING);
        return false;
    }
    return true;
}

static jnode *leave(parser *P, jnode *n) {
    P->depth--;
    return P->failed ? NULL : n;
}

static jnode *parse_expr(parser *P, bool condexpr);
static jnode *parse_tuple(parser *P, bool condexpr, bool explicit_parens);
static jnode *parse_unary(parser *P, bool with_filter);
static jnode *parse_or(parser *P);

static jnode *binary(parser *P, const tok *t, int op, jnode *a, jnode *b) {
    if (!a || !b) return NULL;
    jnode *n = mk(P, JN_BINARY, t);
    if (n) n->op = op, n->a = a, n->b = b;
    return n;
}

static jnode *literal(parser *P, tok *t) {
    jnode *n = mk(P, JN_LITERAL, t);
    if (n) n->value = keep(P, t);
    advance(P);
    return n && n->value ? n : NULL;
}

static jnode *const_name(parser *P, tok *t, jv_kind kind, bool b) {
    t->v = jv_new(kind);
    if (!t->v) return perr(P, t, "out of memory");
    t->v->u.b = b;
    return literal(P, t);
}

/* Adjacent string literals concatenate ("a" "b" == "ab"). */
static jnode *string_literal(parser *P) {
    tok *t = cur(P);
    while (peek(P, 1)->type == T_STRING) {
        tok *next = peek(P, 1);
        jbuf b = {0};
        jbuf_put(&b, t->v->u.str.s, t->v->u.str.len);
        jbuf_put(&b, next->v->u.str.s, next->v->u.str.len);
        size_t len;
        char *s = jbuf_take(&b, &len);
        jv *v = jv_str_take(s, len);
        if (!v) return perr(P, t, "out of memory");
        jv_unref(next->v);
        next->v = v;
        next->line = t->line, next->col = t->col;
        advance(P);
        t = cur(P);
    }
    return literal(P, t);
}

/* Items up to `close`: list/tuple items, or key: value pairs for dicts. */
static jnode *parse_sequence(parser *P, jnode_kind kind, const char *close, bool pairs) {
    jnode *n = mk(P, kind, cur(P));
    nvec items = {0};
    while (n && !P->failed && !is_op(P, close)) {
        if (items.n && !expect_op(P, ",")) break;
        if (is_op(P, close)) break; /* trailing comma */
        nvec_push(&items, parse_expr(P, true), NULL);
        if (pairs && expect_op(P, ":")) nvec_push(&items, parse_expr(P, true), NULL);
    }
    if (!finish_kids(P, n, &items) || !expect_op(P, close)) return NULL;
    return n;
}

static jnode *parse_primary(parser *P) {
    tok *t = cur(P);
    switch (t->type) {
    case T_STRING: return string_literal(P);
    case T_INT:
    case T_FLOAT: return literal(P, t);
    case T_NAME:
        if (tok_is(t, T_NAME, "true") || tok_is(t, T_NAME, "True")) return const_name(P, t, JV_BOOL, true);
        if (tok_is(t, T_NAME, "false") || tok_is(t, T_NAME, "False")) return const_name(P, t, JV_BOOL, false);
        if (tok_is(t, T_NAME, "none") || tok_is(t, T_NAME, "None")) return const_name(P, t, JV_NONE, false);
        {
            jnode *n = mk(P, JN_NAME, t);
            if (n) n->name = name_of(P, t);
            advance(P);
            return P->failed ? NULL : n;
        }
    case T_OP:
        if (accept_op(P, "(")) {
            jnode *n = parse_tuple(P, true, true);
            return n && expect_op(P, ")") ? n : NULL;
        }
        if (accept_op(P, "[")) return parse_sequence(P, JN_LIST, "]", false);
        if (accept_op(P, "{")) return parse_sequence(P, JN_DICT, "}", true);
        break;
    default: break;
    }
    return unexpected(P, t, "an expression");
}

static bool parse_args(parser *P, jnode *n) {
    nvec args = {0};
    bool seen_kw = false;
    while (!P->failed && !is_op(P, ")")) {
        if (args.n && !expect_op(P, ",")) break;
        if (is_op(P, ")")) break;
        if (cur(P)->type == T_NAME && tok_is(peek(P, 1), T_OP, "=")) {
            const char *kw = name_of(P, cur(P));
            advance(P);
            advance(P);
            nvec_push(&args, parse_expr(P, true), kw);
            seen_kw = true;
        } else if (seen_kw) {
            perr(P, cur(P), "positional argument after keyword argument");
        } else {
            nvec_push(&args, parse_expr(P, true), NULL);
        }
    }
    return finish_kids(P, n, &args) && expect_op(P, ")");
}

static jnode *parse_subscript(parser *P, jnode *obj) {
    tok *t = cur(P);
    if (accept_op(P, ".")) {
        tok *name = cur(P);
        if (name->type == T_INT) {
            jnode *n = mk(P, JN_ITEM, t);
            if (n) n->a = obj, n->b = literal(P, name);
            return n && n->b ? n : NULL;
        }
        if (!expect_type(P, T_NAME, "an attribute name")) return NULL;
        jnode *n = mk(P, JN_ATTR, t);
        if (n) n->a = obj, n->name = name_of(P, name);
        return P->failed ? NULL : n;
    }
    advance(P); /* '[' */
    jnode *start = NULL;
    if (!is_op(P, ":")) {
        start = parse_expr(P, true);
        if (!start) return NULL;
        if (accept_op(P, "]")) {
            jnode *n = mk(P, JN_ITEM, t);
            if (n) n->a = obj, n->b = start;
            return n;
        }
        if (is_op(P, ",")) return perr(P, cur(P), "tuple subscripts are not supported");
    }
    jnode *n = mk(P, JN_SLICE, t);
    if (!n || !expect_op(P, ":")) return NULL;
    n->a = obj, n->b = start;
    if (!is_op(P, "]") && !is_op(P, ":") && !(n->c = parse_expr(P, true))) return NULL;
    if (accept_op(P, ":") && !is_op(P, "]") && !(n->d = parse_expr(P, true))) return NULL;
    return expect_op(P, "]") ? n : NULL;
}

static jnode *parse_call(parser *P, jnode *callee) {
    jnode *n = mk(P, JN_CALL, cur(P));
    advance(P);
    if (!n) return NULL;
    n->a = callee;
    return parse_args(P, n) ? n : NULL;
}

static jnode *parse_postfix(parser *P, jnode *n) {
    while (n && !P->failed) {
        if (is_op(P, ".") || is_op(P, "[")) n = parse_subscript(P, n);
        else if (is_op(P, "(")) n = parse_call(P, n);
        else break;
    }
    return n;
}

static jnode *parse_filter(parser *P, jnode *operand) {
    tok *t = cur(P);
    if (!expect_type(P, T_NAME, "a filter name")) return NULL;
    jnode *n = mk(P, JN_FILTER, t);
    if (!n) return NULL;
    n->a = operand;
    n->name = name_of(P, t);
    if (n->name && !jinja_filter_known(n->name)) return perr(P, t, "no filter named '%s'", n->name);
    if (accept_op(P, "(") && !parse_args(P, n)) return NULL;
    return n;
}

static jnode *parse_test(parser *P, jnode *operand) {
    jnode *n = mk(P, JN_TEST, cur(P));
    advance(P); /* 'is' */
    if (!n) return NULL;
    n->a = operand;
    n->op = accept_name(P, "not");
    tok *t = cur(P);
    if (!expect_type(P, T_NAME, "a test name")) return NULL;
    n->name = name_of(P, t);
    if (n->name && !jinja_test_known(n->name)) return perr(P, t, "no test named '%s'", n->name);
    if (accept_op(P, "(")) return parse_args(P, n) ? n : NULL;
    tok *a = cur(P);
    bool arg = a->type == T_NAME || a->type == T_STRING || a->type == T_INT || a->type == T_FLOAT ||
               tok_is(a, T_OP, "[") || tok_is(a, T_OP, "{");
    if (tok_is(a, T_NAME, "else") || tok_is(a, T_NAME, "or") || tok_is(a, T_NAME, "and")) arg = false;
    if (arg) {
        if (tok_is(a, T_NAME, "is")) return perr(P, a, "tests cannot be chained with 'is'");
        jnode *v = parse_postfix(P, parse_primary(P));
        if (!v) return NULL;
        nvec args = {0};
        nvec_push(&args, v, NULL);
        if (!finish_kids(P, n, &args)) return NULL;
    }
    return n;
}

static jnode *parse_filter_expr(parser *P, jnode *n) {
    while (n && !P->failed) {
        if (accept_op(P, "|")) n = parse_filter(P, n);
        else if (is_name(P, "is")) n = parse_test(P, n);
        else if (is_op(P, "(")) n = parse_call(P, n);
        else break;
    }
    return n;
}

static jnode *parse_unary(parser *P, bool with_filter) {
    if (!enter(P)) return NULL;
    tok *t = cur(P);
    jnode *n;
    if (accept_op(P, "-") || accept_op(P, "+")) {
        n = mk(P, tok_is(t, T_OP, "-") ? JN_NEG : JN_POS, t);
        if (n && !(n->a = parse_unary(P, false))) n = NULL;
    } else {
        n = parse_primary(P);
    }
    n = parse_postfix(P, n);
    if (with_filter) n = parse_filter_expr(P, n);
    return leave(P, n);
}

typedef struct opdef {
    const char *text;
    int op;
} opdef;

/* One left-associative binary level: operands from `next`, operators from `ops`. */
static jnode *parse_level(parser *P, jnode *(*next)(parser *), const opdef *ops) {
    jnode *left = next(P);
    while (left && !P->failed) {
        const opdef *o = ops;
        while (o->text && !is_op(P, o->text)) o++;
        if (!o->text) break;
        tok *t = cur(P);
        advance(P);
        left = binary(P, t, o->op, left, next(P));
    }
    return left;
}

static jnode *parse_unary_f(parser *P) { return parse_unary(P, true); }
static jnode *parse_pow(parser *P) {
    static const opdef ops[] = {{"**", JOP_POW}, {NULL, 0}};
    return parse_level(P, parse_unary_f, ops);
}
static jnode *parse_math2(parser *P) {
    static const opdef ops[] = {{"*", JOP_MUL}, {"/", JOP_DIV}, {"//", JOP_FLOORDIV}, {"%", JOP_MOD}, {NULL, 0}};
    return parse_level(P, parse_pow, ops);
}
static jnode *parse_concat(parser *P) {
    static const opdef ops[] = {{"~", JOP_CONCAT}, {NULL, 0}};
    return parse_level(P, parse_math2, ops);
}
static jnode *parse_math1(parser *P) {
    static const opdef ops[] = {{"+", JOP_ADD}, {"-", JOP_SUB}, {NULL, 0}};
    return parse_level(P, parse_concat, ops);
}

/* Comparisons chain like Python's: a < b < c is (a < b) and (b < c). */
static jnode *parse_compare(parser *P) {
    static const opdef ops[] = {{"==", JOP_EQ}, {"!=", JOP_NE}, {"<", JOP_LT}, {"<=", JOP_LE},
                                {">", JOP_GT},  {">=", JOP_GE}, {NULL, 0}};
    jnode *left = parse_math1(P), *result = NULL;
    while (left && !P->failed) {
        tok *t = cur(P);
        const opdef *o = ops;
        while (o->text && !is_op(P, o->text)) o++;
        int op;
        if (o->text) op = o->op, advance(P);
        else if (is_name(P, "in")) op = JOP_IN, advance(P);
        else if (is_name(P, "not") && tok_is(peek(P, 1), T_NAME, "in")) op = JOP_NOTIN, advance(P), advance(P);
        else break;
        jnode *right = parse_math1(P);
        jnode *cmp = binary(P, t, op, left, right);
        if (!cmp) return NULL;
        if (result) {
            jnode *both = mk(P, JN_AND, t);
            if (!both) return NULL;
            both->a = result, both->b = cmp;
            result = both;
        } else {
            result = cmp;
        }
        left = right;
    }
    return P->failed ? NULL : result ? result : left;
}

static jnode *parse_not(parser *P) {
    if (!enter(P)) return NULL;
    tok *t = cur(P);
    if (!accept_name(P, "not")) return leave(P, parse_compare(P));
    jnode *n = mk(P, JN_NOT, t);
    if (n && !(n->a = parse_not(P))) n = NULL;
    return leave(P, n);
}

static jnode *parse_logic(parser *P, const char *word, jnode_kind kind, jnode *(*next)(parser *)) {
    jnode *left = next(P);
    while (left && is_name(P, word)) {
        jnode *n = mk(P, kind, cur(P));
        advance(P);
        if (!n || !(n->b = next(P))) return NULL;
        n->a = left;
        left = n;
    }
    return left;
}

static jnode *parse_and(parser *P) { return parse_logic(P, "and", JN_AND, parse_not); }
static jnode *parse_or(parser *P) { return parse_logic(P, "or", JN_OR, parse_and); }

static jnode *parse_condexpr(parser *P) {
    if (!enter(P)) return NULL;
    jnode *n = parse_or(P);
    while (n && is_name(P, "if")) {
        jnode *c = mk(P, JN_COND, cur(P));
        advance(P);
        if (!c || !(c->b = parse_or(P))) return leave(P, NULL);
        c->a = n;
        if (accept_name(P, "else") && !(c->c = parse_condexpr(P))) return leave(P, NULL);
        n = c;
    }
    return leave(P, n);
}

static jnode *parse_expr(parser *P, bool condexpr) { return condexpr ? parse_condexpr(P) : parse_or(P); }

static bool tuple_end(parser *P) {
    tok *t = cur(P);
    return t->type == T_VEND || t->type == T_BEND || t->type == T_EOF || tok_is(t, T_OP, ")") ||
           tok_is(t, T_NAME, "in") || tok_is(t, T_NAME, "if") || tok_is(t, T_NAME, "recursive");
}

/* Comma-separated expressions: one without a comma is itself, otherwise a tuple (a list here). */
static jnode *parse_tuple(parser *P, bool condexpr, bool explicit_parens) {
    tok *t = cur(P);
    if (explicit_parens && is_op(P, ")")) {
        jnode *empty = mk(P, JN_LIST, t);
        if (empty) empty->op = 1;
        return empty;
    }
    jnode *first = parse_expr(P, condexpr);
    if (!first || !is_op(P, ",")) return first;
    nvec items = {0};
    nvec_push(&items, first, NULL);
    while (!P->failed && accept_op(P, ",") && !tuple_end(P)) nvec_push(&items, parse_expr(P, condexpr), NULL);
    jnode *n = mk(P, JN_LIST, t);
    if (n) n->op = 1; /* a tuple */
    return n && finish_kids(P, n, &items) ? n : NULL;
}

/* --- statements ----------------------------------------------------------------------------------- */
static jnode *parse_body(parser *P, const char *const *ends, const tok *opener);

static bool block_end(parser *P) { return expect_type(P, T_BEND, "'%}'"); }

/* Assignment targets: a name, ns.attr (with_namespace), or names separated by commas. */
static jnode *parse_target(parser *P, bool with_namespace) {
    tok *t = cur(P);
    bool parens = accept_op(P, "(");
    nvec names = {0};
    do {
        tok *nt = cur(P);
        if (!expect_type(P, T_NAME, "a variable name")) break;
        jnode *n = mk(P, JN_NAME, nt);
        if (n) n->name = name_of(P, nt);
        if (with_namespace && !names.n && !parens && accept_op(P, ".")) {
            tok *attr = cur(P);
            if (!expect_type(P, T_NAME, "an attribute name")) break;
            jnode *a = mk(P, JN_ATTR, attr);
            if (a) a->a = n, a->name = name_of(P, attr);
            ember_free(names.v);
            ember_free(names.kw);
            return P->failed ? NULL : a;
        }
        nvec_push(&names, n, NULL);
    } while (!P->failed && accept_op(P, ","));
    if (parens && !P->failed) expect_op(P, ")");
    if (names.n == 1 && !P->failed) {
        jnode *n = names.v[0];
        ember_free(names.v);
        ember_free(names.kw);
        return n;
    }
    jnode *list = mk(P, JN_LIST, t);
    return list && finish_kids(P, list, &names) ? list : (ember_free(names.v), ember_free(names.kw), NULL);
}

static bool end_tag(parser *P, const char *word) {
    (void)word;
    advance(P); /* the end word; parse_body stopped at it */
    return block_end(P);
}

static jnode *parse_if(parser *P, tok *t) {
    static const char *const ends[] = {"elif", "else", "endif", NULL};
    jnode *n = mk(P, JN_IF, t);
    if (!n || !(n->a = parse_tuple(P, false, false)) || !block_end(P)) return NULL;
    if (!(n->body = parse_body(P, ends, t))) return NULL;
    tok *w = cur(P);
    if (accept_name(P, "elif")) return (n->orelse = parse_if(P, w)) ? n : NULL;
    if (accept_name(P, "else")) {
        static const char *const endif[] = {"endif", NULL};
        if (!block_end(P) || !(n->orelse = parse_body(P, endif, t))) return NULL;
    }
    return end_tag(P, "endif") ? n : NULL;
}

static jnode *parse_for(parser *P, tok *t) {
    static const char *const ends[] = {"else", "endfor", NULL}, *const endfor[] = {"endfor", NULL};
    jnode *n = mk(P, JN_FOR, t);
    if (!n || !(n->a = parse_target(P, false))) return NULL;
    if (!accept_name(P, "in")) return unexpected(P, cur(P), "'in'");
    if (!(n->b = parse_tuple(P, false, false))) return NULL;
    if (accept_name(P, "if") && !(n->c = parse_expr(P, true))) return NULL;
    if (is_name(P, "recursive")) return perr(P, cur(P), "recursive for loops are not supported");
    if (!block_end(P)) return NULL;
    P->loops++;
    n->body = parse_body(P, ends, t);
    P->loops--;
    if (!n->body) return NULL;
    if (accept_name(P, "else") && (!block_end(P) || !(n->orelse = parse_body(P, endfor, t)))) return NULL;
    return end_tag(P, "endfor") ? n : NULL;
}

static jnode *parse_set(parser *P, tok *t) {
    static const char *const ends[] = {"endset", NULL};
    jnode *n = mk(P, JN_SET, t);
    if (!n || !(n->a = parse_target(P, true))) return NULL;
    if (accept_op(P, "=")) return (n->b = parse_tuple(P, true, false)) && block_end(P) ? n : NULL;
    if (n->a->kind != JN_NAME) return unexpected(P, cur(P), "'='");
    if (!block_end(P) || !(n->body = parse_body(P, ends, t))) return NULL;
    return end_tag(P, "endset") ? n : NULL;
}

static jnode *parse_macro(parser *P, tok *t) {
    static const char *const ends[] = {"endmacro", NULL};
    jnode *n = mk(P, JN_MACRO, t);
    tok *name = cur(P);
    if (!n || !expect_type(P, T_NAME, "a macro name") || !(n->name = name_of(P, name))) return NULL;
    if (!expect_op(P, "(")) return NULL;
    nvec params = {0};
    while (!P->failed && !is_op(P, ")")) {
        if (params.n && !expect_op(P, ",")) break;
        tok *pt = cur(P);
        if (!expect_type(P, T_NAME, "a parameter name")) break;
        jnode *p = mk(P, JN_NAME, pt);
        if (p) p->name = name_of(P, pt);
        if (p && accept_op(P, "=")) p->a = parse_expr(P, true);
        nvec_push(&params, p, NULL);
    }
    if (!finish_kids(P, n, &params) || !expect_op(P, ")") || !block_end(P)) return NULL;
    int loops = P->loops;
    P->loops = 0;
    n->body = parse_body(P, ends, t);
    P->loops = loops;
    return n->body && end_tag(P, "endmacro") ? n : NULL;
}

static jnode *parse_filter_block(parser *P, tok *t) {
    static const char *const ends[] = {"endfilter", NULL};
    jnode *n = mk(P, JN_FILTERBLOCK, t);
    jnode *chain = n ? parse_filter(P, NULL) : NULL;
    while (chain && accept_op(P, "|")) chain = parse_filter(P, chain);
    if (!chain || !block_end(P)) return NULL;
    n->a = chain;
    if (!(n->body = parse_body(P, ends, t))) return NULL;
    return end_tag(P, "endfilter") ? n : NULL;
}

static jnode *parse_loop_control(parser *P, tok *t, jnode_kind kind) {
    if (!P->loops) return perr(P, t, "'%.*s' outside of a for loop", (int)t->n, t->s);
    jnode *n = mk(P, kind, t);
    return n && block_end(P) ? n : NULL;
}

static jnode *parse_statement(parser *P) {
    tok *t = cur(P);
    if (t->type != T_NAME) return unexpected(P, t, "a tag name");
    advance(P);
    if (tok_is(t, T_NAME, "if")) return parse_if(P, t);
    if (tok_is(t, T_NAME, "for")) return parse_for(P, t);
    if (tok_is(t, T_NAME, "set")) return parse_set(P, t);
    if (tok_is(t, T_NAME, "macro")) return parse_macro(P, t);
    if (tok_is(t, T_NAME, "filter")) return parse_filter_block(P, t);
    if (tok_is(t, T_NAME, "break")) return parse_loop_control(P, t, JN_BREAK);
    if (tok_is(t, T_NAME, "continue")) return parse_loop_control(P, t, JN_CONTINUE);
    if (tok_is(t, T_NAME, "generation")) { /* transformers' assistant-mask marker: renders its body */
        static const char *const ends[] = {"endgeneration", NULL};
        jnode *body = block_end(P) ? parse_body(P, ends, t) : NULL;
        return body && end_tag(P, "endgeneration") ? body : NULL;
    }
    return perr(P, t, "unknown or unexpected tag '%.*s'", (int)t->n, t->s);
}

static bool is_end_word(const tok *t, const char *const *ends) {
    for (; ends && *ends; ends++)
        if (tok_is(t, T_NAME, *ends)) return true;
    return false;
}

/* Statements until one of `ends` (left current) or the end of the template (when ends is NULL). */
static jnode *parse_body(parser *P, const char *const *ends, const tok *opener) {
    if (!enter(P)) return NULL;
    jnode *body = mk(P, JN_STMTS, cur(P));
    nvec kids = {0};
    while (body && !P->failed) {
        tok *t = cur(P);
        if (t->type == T_EOF) {
            if (ends) {
                const char *const *last = ends;
                while (last[1]) last++;
                perr(P, opener, "'%.*s' tag is never closed (expected '{%% %s %%}')", (int)opener->n, opener->s,
                     *last);
            }
            break;
        }
        if (t->type == T_DATA) {
            jnode *n = mk(P, JN_TEXT, t);
            if (n) n->value = keep(P, t);
            nvec_push(&kids, n, NULL);
            advance(P);
        } else if (t->type == T_VBEGIN) {
            advance(P);
            jnode *n = mk(P, JN_OUTPUT, t);
            if (n && (n->a = parse_tuple(P, true, false)) && expect_type(P, T_VEND, "'}}'")) nvec_push(&kids, n, NULL);
        } else if (t->type == T_BBEGIN) {
            if (is_end_word(peek(P, 1), ends)) {
                advance(P);
                break;
            }
            advance(P);
            nvec_push(&kids, parse_statement(P), NULL);
        } else {
            unexpected(P, t, "template text or a tag");
        }
    }
    if (body && !finish_kids(P, body, &kids)) body = NULL;
    else if (!body) ember_free(kids.v), ember_free(kids.kw);
    return leave(P, body);
}

/* Jinja normalises newlines to \n and (keep_trailing_newline=False) drops one final newline. */
static char *normalise(ember_arena *a, const char *src, size_t len, size_t *out_len) {
    char *s = ember_arena_alloc(a, len + 1, 1);
    if (!s) return NULL;
    size_t n = 0;
    for (size_t i = 0; i < len; i++) {
        if (src[i] == '\r') {
            s[n++] = '\n';
            if (i + 1 < len && src[i + 1] == '\n') i++;
        } else {
            s[n++] = src[i];
        }
    }
    if (n && s[n - 1] == '\n') n--;
    s[n] = 0;
    *out_len = n;
    return s;
}

ember_status jinja_parse(ember_chat_template *t, const char *src, size_t len) {
    lexer L = {.lc_line = 1, .lc_col = 1};
    if (!(L.s = normalise(&t->arena, src, len, &L.n))) return ember_fail(EMBER_ERR_NOMEM, "chat template: out of memory");
    bool ok = lex(&L);
    if (ok) {
        parser P = {.t = t, .toks = L.toks, .nt = L.nt};
        t->root = parse_body(&P, NULL, NULL);
        ok = t->root && !P.failed;
        if (ok && cur(&P)->type != T_EOF) {
            unexpected(&P, cur(&P), "the end of the template");
            ok = false;
        }
    }
    for (size_t i = 0; i < L.nt; i++) jv_unref(L.toks[i].v);
    ember_free(L.toks);
    return ok ? EMBER_OK : (ember_status)(ember_last_error()[0] ? EMBER_ERR_FORMAT : EMBER_ERR_NOMEM);
}
