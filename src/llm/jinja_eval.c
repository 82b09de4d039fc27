/* The chat-template interpreter: walks the syntax tree with Python Jinja2 semantics (scopes, loops,
 * macros, undefined values, operators) and writes the rendered text. */
#include "llm/jinja.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#define MAX_DEPTH 400 /* evaluation recursion (nested expressions, blocks and macro calls) */
#define MAX_ARGS 16

jv *jx_fail(jctx *c, const jnode *at, const char *fmt, ...) {
    if (c->failed) return NULL;
    c->failed = true;
    char msg[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (at) snprintf(c->msg, sizeof c->msg, "chat template %d:%d: %s", at->line, at->col, msg);
    else snprintf(c->msg, sizeof c->msg, "chat template: %s", msg);
    return NULL;
}

jv *jx_oom(jctx *c, const jnode *at) { return jx_fail(c, at, "out of memory"); }

jv *jx_take(jctx *c, const jnode *at, jbuf *b) {
    bool oom = b->oom;
    size_t n;
    char *s = jbuf_take(b, &n);
    jv *r = s ? jv_str_take(s, n) : oom ? NULL : jv_str("", 0);
    return r ? r : jx_oom(c, at);
}

jv *jx_undefined_error(jctx *c, const jnode *at, const jv *undef) {
    return jx_fail(c, at, "%s", undef->u.str.s ? undef->u.str.s : "undefined value");
}

/* --- scopes --------------------------------------------------------------------------------------- */
static bool push_scope(jctx *c) {
    if (c->n_scopes == c->cap_scopes) {
        size_t cap = c->cap_scopes ? c->cap_scopes * 2 : 16;
        jscope *s = ember_realloc(c->scopes, cap * sizeof *s);
        if (!s) return false;
        c->scopes = s;
        c->cap_scopes = cap;
    }
    jv *vars = jv_new(JV_DICT);
    if (!vars) return false;
    c->scopes[c->n_scopes++].vars = vars;
    return true;
}

static void pop_scope(jctx *c) { jv_unref(c->scopes[--c->n_scopes].vars); }

static jv *lookup(jctx *c, const char *name) {
    for (size_t i = c->n_scopes; i-- > c->macro_base;) {
        jv *v = jv_dict_findz(c->scopes[i].vars, name);
        if (v) return v;
    }
    return c->macro_base ? jv_dict_findz(c->scopes[0].vars, name) : NULL;
}

static bool set_var(jctx *c, const jnode *at, const char *name, jv *v) {
    if (!v) return false;
    if (!jv_dict_put(c->scopes[c->n_scopes - 1].vars, jv_str(name, strlen(name)), v)) return jx_oom(c, at), false;
    return true;
}

/* --- conversions ---------------------------------------------------------------------------------- */
jv *jx_to_str(jctx *c, const jnode *at, const jv *v) {
    if (v->kind == JV_STR) return jv_ref((jv *)v);
    jbuf b = {0};
    if (!jv_str_value(&b, v)) {
        jbuf_free(&b);
        return jx_fail(c, at, "value nested too deeply to print");
    }
    size_t n;
    char *s = jbuf_take(&b, &n);
    jv *r = s ? jv_str_take(s, n) : jv_str("", 0);
    return r ? r : jx_oom(c, at);
}

jv *jx_iter_list(jctx *c, const jnode *at, jv *v) {
    if (v->kind == JV_LIST) return jv_ref(v);
    jv *list = jv_new(JV_LIST);
    if (!list) return jx_oom(c, at);
    bool ok = true;
    if (v->kind == JV_DICT || v->kind == JV_NS) {
        for (size_t i = 0; i < v->u.dict.n && ok; i++) ok = jv_append(list, jv_ref(v->u.dict.keys[i]));
    } else if (v->kind == JV_STR) {
        for (size_t i = 0, k; i < v->u.str.len && ok; i += k) {
            k = utf8_offset(v->u.str.s + i, v->u.str.len - i, 1);
            ok = jv_append(list, jv_str(v->u.str.s + i, k));
        }
    } else if (v->kind != JV_UNDEF) {
        jv_unref(list);
        return jx_fail(c, at, "'%s' object is not iterable", jv_type_name(v));
    }
    if (!ok) {
        jv_unref(list);
        return jx_oom(c, at);
    }
    return list;
}

static jv *loop_attribute(jctx *c, const jnode *at, const jv *l, const char *name);

/* --- attribute and item access -------------------------------------------------------------------- */
static jv *no_attribute(jctx *c, const jnode *at, const jv *obj, const char *what, const char *key) {
    jv *u = obj->kind == JV_NONE ? jv_undef("'None' has no %s '%s'", what, key)
                                 : jv_undef("'%s object' has no %s '%s'", jv_type_name(obj), what, key);
    return u ? u : jx_oom(c, at);
}

static jv *getattr_name(jctx *c, const jnode *at, jv *obj, const char *name) {
    if (obj->kind == JV_UNDEF) return jx_undefined_error(c, at, obj);
    if (obj->kind == JV_LOOP) {
        jv *v = loop_attribute(c, at, obj, name);
        if (v || c->failed) return v;
    }
    jv *m = jinja_attribute(c, obj, name);
    if (m || c->failed) return m;
    if (obj->kind == JV_DICT || obj->kind == JV_NS) {
        jv *v = jv_dict_findz(obj, name);
        if (v) return jv_ref(v);
    }
    return no_attribute(c, at, obj, "attribute", name);
}

static jv *index_sequence(jctx *c, const jnode *at, jv *obj, int64_t i) {
    size_t n = obj->kind == JV_LIST ? obj->u.list.n : utf8_count(obj->u.str.s, obj->u.str.len);
    int64_t k = i < 0 ? i + (int64_t)n : i;
    if (k < 0 || (uint64_t)k >= n) {
        jv *u = jv_undef("'%s object' has no element %lld", jv_type_name(obj), (long long)i);
        return u ? u : jx_oom(c, at);
    }
    if (obj->kind == JV_LIST) return jv_ref(obj->u.list.items[k]);
    size_t off = utf8_offset(obj->u.str.s, obj->u.str.len, (size_t)k);
    size_t len = utf8_offset(obj->u.str.s + off, obj->u.str.len - off, 1);
    jv *r = jv_str(obj->u.str.s + off, len);
    return r ? r : jx_oom(c, at);
}

jv *jinja_getattr(jctx *c, const jnode *at, jv *obj, jv *key, bool is_attr) {
    if ((is_attr || obj->kind == JV_LOOP) && key->kind == JV_STR) return getattr_name(c, at, obj, key->u.str.s);
    if (obj->kind == JV_UNDEF) return jx_undefined_error(c, at, obj);
    if (obj->kind == JV_DICT || obj->kind == JV_NS) {
        jv *v = jv_dict_find(obj, key);
        if (v) return jv_ref(v);
    }
    if ((obj->kind == JV_LIST || obj->kind == JV_STR) && (key->kind == JV_INT || key->kind == JV_BOOL))
        return index_sequence(c, at, obj, key->kind == JV_INT ? key->u.i : key->u.b);
    if (key->kind == JV_STR) {
        jv *m = jinja_attribute(c, obj, key->u.str.s);
        if (m || c->failed) return m;
        return no_attribute(c, at, obj, "attribute", key->u.str.s);
    }
    jbuf b = {0};
    jv_repr(&b, key);
    jv *u = no_attribute(c, at, obj, "element", b.p ? b.p : "?");
    jbuf_free(&b);
    return u;
}

static bool slice_bound(jctx *c, const jv *v, int64_t *out, bool *given) {
    *given = v && v->kind != JV_NONE;
    if (!*given) return true;
    if (v->kind != JV_INT && v->kind != JV_BOOL) return false;
    *out = v->kind == JV_INT ? v->u.i : v->u.b;
    (void)c;
    return true;
}

/* Python's slice.indices() clamping, then a walk over the selected positions. */
static jv *slice(jctx *c, const jnode *at, jv *obj, const jv *jstart, const jv *jstop, const jv *jstep) {
    int64_t start = 0, stop = 0, step = 1;
    bool has_start, has_stop, has_step;
    if (!slice_bound(c, jstart, &start, &has_start) || !slice_bound(c, jstop, &stop, &has_stop) ||
        !slice_bound(c, jstep, &step, &has_step))
        return jx_fail(c, at, "slice indices must be integers or None");
    if (!has_step) step = 1;
    if (step == 0) return jx_fail(c, at, "slice step cannot be zero");
    if (obj->kind == JV_UNDEF) return jx_undefined_error(c, at, obj);
    if (obj->kind != JV_LIST && obj->kind != JV_STR)
        return jx_fail(c, at, "'%s' object is not subscriptable", jv_type_name(obj));
    bool is_str = obj->kind == JV_STR;
    int64_t len = (int64_t)(is_str ? utf8_count(obj->u.str.s, obj->u.str.len) : obj->u.list.n);
    int64_t lower = step < 0 ? -1 : 0, upper = step < 0 ? len - 1 : len;
    int64_t *bounds[2] = {&start, &stop};
    bool given[2] = {has_start, has_stop};
    for (int k = 0; k < 2; k++) {
        int64_t *b = bounds[k];
        if (!given[k]) *b = (k == 0) == (step < 0) ? upper : lower;
        else if (*b < 0) *b = *b + len < lower ? lower : *b + len;
        else if (*b > upper) *b = upper;
    }
    jbuf text = {0};
    jv *list = is_str ? NULL : jv_new(JV_LIST);
    if (!is_str && !list) return jx_oom(c, at);
    for (int64_t i = start; step > 0 ? i < stop : i > stop; i += step) {
        if (!is_str) {
            if (!jv_append(list, jv_ref(obj->u.list.items[i]))) return jv_unref(list), jx_oom(c, at);
            continue;
        }
        size_t off = utf8_offset(obj->u.str.s, obj->u.str.len, (size_t)i);
        jbuf_put(&text, obj->u.str.s + off, utf8_offset(obj->u.str.s + off, obj->u.str.len - off, 1));
    }
    if (!is_str) return list;
    size_t n;
    char *s = jbuf_take(&text, &n);
    jv *r = s ? jv_str_take(s, n) : jv_str("", 0);
    return r ? r : jx_oom(c, at);
}

/* --- operators ------------------------------------------------------------------------------------ */
static const char *const OP_TEXT[] = {"+", "-", "*", "/", "//", "%", "**", "~", "==", "!=", "<", "<=", ">", ">=",
                                      "in", "not in"};

static jv *type_error(jctx *c, const jnode *at, int op, const jv *a, const jv *b) {
    if (op >= JOP_LT && op <= JOP_GE)
        return jx_fail(c, at, "'%s' not supported between instances of '%s' and '%s'", OP_TEXT[op],
                       jv_type_name(a), jv_type_name(b));
    return jx_fail(c, at, "unsupported operand type(s) for %s: '%s' and '%s'", OP_TEXT[op], jv_type_name(a),
                   jv_type_name(b));
}

jv *jx_int(jctx *c, const jnode *at, int64_t i) {
    jv *v = jv_new(JV_INT);
    if (!v) return jx_oom(c, at);
    v->u.i = i;
    return v;
}

jv *jx_float(jctx *c, const jnode *at, double f) {
    jv *v = jv_new(JV_FLOAT);
    if (!v) return jx_oom(c, at);
    v->u.f = f;
    return v;
}

jv *jx_bool(jctx *c, const jnode *at, bool b) {
    jv *v = jv_new(JV_BOOL);
    if (!v) return jx_oom(c, at);
    v->u.b = b;
    return v;
}

static int64_t ival(const jv *v) { return v->kind == JV_INT ? v->u.i : v->u.b; }

/* Integer arithmetic; false when the result does not fit (the caller falls back to floats). */
static bool int_arith(int op, int64_t x, int64_t y, int64_t *r) {
    switch (op) {
    case JOP_ADD: return !__builtin_add_overflow(x, y, r);
    case JOP_SUB: return !__builtin_sub_overflow(x, y, r);
    case JOP_MUL: return !__builtin_mul_overflow(x, y, r);
    case JOP_FLOORDIV:
        if (x == INT64_MIN && y == -1) return false;
        *r = x / y - ((x % y != 0) && ((x < 0) != (y < 0)));
        return true;
    case JOP_MOD:
        if (y == -1) return *r = 0, true;
        *r = x % y;
        if (*r && ((*r < 0) != (y < 0))) *r += y;
        return true;
    case JOP_POW: {
        if (y < 0) return false;
        int64_t acc = 1;
        for (int64_t k = 0; k < y; k++)
            if (__builtin_mul_overflow(acc, x, &acc)) return false;
        *r = acc;
        return true;
    }
    default: return false;
    }
}

static jv *numeric(jctx *c, const jnode *at, int op, const jv *a, const jv *b) {
    bool ints = a->kind != JV_FLOAT && b->kind != JV_FLOAT;
    if ((op == JOP_DIV || op == JOP_FLOORDIV || op == JOP_MOD) && jv_num(b) == 0)
        return jx_fail(c, at, "division by zero");
    int64_t r;
    if (ints && op != JOP_DIV && int_arith(op, ival(a), ival(b), &r)) return jx_int(c, at, r);
    double x = jv_num(a), y = jv_num(b);
    switch (op) {
    case JOP_ADD: return jx_float(c, at, x + y);
    case JOP_SUB: return jx_float(c, at, x - y);
    case JOP_MUL: return jx_float(c, at, x * y);
    case JOP_DIV: return jx_float(c, at, x / y);
    case JOP_FLOORDIV: return jx_float(c, at, floor(x / y));
    case JOP_MOD: {
        double m = fmod(x, y);
        if (m != 0 && ((m < 0) != (y < 0))) m += y;
        return jx_float(c, at, m);
    }
    default: return jx_float(c, at, pow(x, y));
    }
}

static jv *repeat(jctx *c, const jnode *at, const jv *seq, int64_t times) {
    if (seq->kind == JV_STR) {
        jbuf b = {0};
        for (int64_t k = 0; k < times && !b.oom; k++) jbuf_put(&b, seq->u.str.s, seq->u.str.len);
        size_t n;
        char *s = jbuf_take(&b, &n);
        jv *r = s ? jv_str_take(s, n) : (b.oom ? NULL : jv_str("", 0));
        return r ? r : jx_oom(c, at);
    }
    jv *list = jv_new(JV_LIST);
    for (int64_t k = 0; list && k < times; k++)
        for (size_t i = 0; i < seq->u.list.n; i++)
            if (!jv_append(list, jv_ref(seq->u.list.items[i]))) return jv_unref(list), jx_oom(c, at);
    return list ? list : jx_oom(c, at);
}

static jv *concat(jctx *c, const jnode *at, const jv *a, const jv *b) {
    if (a->kind == JV_STR) {
        jbuf buf = {0};
        jbuf_put(&buf, a->u.str.s, a->u.str.len);
        jbuf_put(&buf, b->u.str.s, b->u.str.len);
        size_t n;
        char *s = jbuf_take(&buf, &n);
        jv *r = s ? jv_str_take(s, n) : NULL;
        return r ? r : jx_oom(c, at);
    }
    jv *list = jv_new(JV_LIST);
    const jv *parts[2] = {a, b};
    for (int p = 0; list && p < 2; p++)
        for (size_t i = 0; i < parts[p]->u.list.n; i++)
            if (!jv_append(list, jv_ref(parts[p]->u.list.items[i]))) return jv_unref(list), jx_oom(c, at);
    return list ? list : jx_oom(c, at);
}

/* `needle in haystack` (Python's membership). -1 with an error. */
static int contains(jctx *c, const jnode *at, const jv *needle, const jv *hay) {
    switch (hay->kind) {
    case JV_STR:
        if (needle->kind != JV_STR) {
            jx_fail(c, at, "'in <string>' requires string as left operand, not %s", jv_type_name(needle));
            return -1;
        }
        if (!needle->u.str.len) return 1;
        return memmem(hay->u.str.s, hay->u.str.len, needle->u.str.s, needle->u.str.len) != NULL;
    case JV_LIST:
        for (size_t i = 0; i < hay->u.list.n; i++)
            if (jv_equal(hay->u.list.items[i], needle)) return 1;
        return 0;
    case JV_DICT:
    case JV_NS: return jv_dict_find(hay, needle) != NULL;
    case JV_UNDEF: return 0;
    default: jx_fail(c, at, "argument of type '%s' is not iterable", jv_type_name(hay)); return -1;
    }
}

static jv *binary_op(jctx *c, const jnode *at, int op, jv *a, jv *b) {
    if (op == JOP_EQ || op == JOP_NE) return jx_bool(c, at, jv_equal(a, b) == (op == JOP_EQ));
    if (op == JOP_IN || op == JOP_NOTIN) {
        int r = contains(c, at, a, b);
        return r < 0 ? NULL : jx_bool(c, at, (r == 1) == (op == JOP_IN));
    }
    if (op == JOP_CONCAT) {
        jv *x = jx_to_str(c, at, a), *y = x ? jx_to_str(c, at, b) : NULL;
        jv *r = y ? concat(c, at, x, y) : NULL;
        jv_unref(x);
        jv_unref(y);
        return r;
    }
    if (a->kind == JV_UNDEF) return jx_undefined_error(c, at, a);
    if (b->kind == JV_UNDEF) return jx_undefined_error(c, at, b);
    if (op >= JOP_LT && op <= JOP_GE) {
        int cmp = jv_compare(a, b);
        if (cmp == -2) return type_error(c, at, op, a, b);
        bool r = op == JOP_LT ? cmp < 0 : op == JOP_LE ? cmp <= 0 : op == JOP_GT ? cmp > 0 : cmp >= 0;
        return jx_bool(c, at, r);
    }
    if (jv_is_number(a) && jv_is_number(b)) return numeric(c, at, op, a, b);
    if (op == JOP_ADD && a->kind == b->kind && (a->kind == JV_STR || a->kind == JV_LIST)) return concat(c, at, a, b);
    if (op == JOP_MUL && (a->kind == JV_STR || a->kind == JV_LIST) && (b->kind == JV_INT || b->kind == JV_BOOL))
        return repeat(c, at, a, ival(b));
    if (op == JOP_MUL && (b->kind == JV_STR || b->kind == JV_LIST) && (a->kind == JV_INT || a->kind == JV_BOOL))
        return repeat(c, at, b, ival(a));
    if (op == JOP_MOD && a->kind == JV_STR)
        return jx_fail(c, at, "printf-style string formatting ('%%') is not supported; use '~' or format()");
    return type_error(c, at, op, a, b);
}

/* --- expressions ---------------------------------------------------------------------------------- */
static jv *eval(jctx *c, const jnode *n);

typedef struct argvals {
    jv *pos[MAX_ARGS], *kwv[MAX_ARGS];
    const char *kwn[MAX_ARGS];
    jargs a;
} argvals;

static void free_args(argvals *v) {
    for (size_t i = 0; i < v->a.npos; i++) jv_unref(v->pos[i]);
    for (size_t i = 0; i < v->a.nkw; i++) jv_unref(v->kwv[i]);
}

static bool eval_args(jctx *c, const jnode *n, argvals *v) {
    v->a = (jargs){v->pos, 0, v->kwn, v->kwv, 0};
    if (n->n > MAX_ARGS) return jx_fail(c, n, "too many arguments (at most %d)", MAX_ARGS), false;
    for (size_t i = 0; i < n->n; i++) {
        jv *x = eval(c, n->kids[i]);
        if (!x) return free_args(v), false;
        if (n->kw[i]) {
            v->kwn[v->a.nkw] = n->kw[i];
            v->kwv[v->a.nkw++] = x;
        } else {
            v->pos[v->a.npos++] = x;
        }
    }
    return true;
}

static jv *eval_call(jctx *c, const jnode *n) {
    jv *fn = eval(c, n->a);
    if (!fn) return NULL;
    argvals v;
    jv *r = NULL;
    if (eval_args(c, n, &v)) {
        r = jx_call(c, n, fn, &v.a);
        free_args(&v);
    }
    jv_unref(fn);
    return r;
}

static jv *eval_filter(jctx *c, const jnode *n, jv *operand) {
    argvals v;
    if (!eval_args(c, n, &v)) return NULL;
    jv *r = jinja_filter(c, n, n->name, operand, &v.a);
    free_args(&v);
    return r;
}

static jv *eval_test(jctx *c, const jnode *n) {
    jv *x = eval(c, n->a);
    argvals v;
    if (!x || !eval_args(c, n, &v)) return jv_unref(x), NULL;
    int r = jinja_test(c, n, n->name, x, &v.a);
    free_args(&v);
    jv_unref(x);
    return r < 0 ? NULL : jx_bool(c, n, (r == 1) != (n->op == 1));
}

static jv *eval_collection(jctx *c, const jnode *n) {
    jv *coll = jv_new(n->kind == JN_LIST ? JV_LIST : JV_DICT);
    if (!coll) return jx_oom(c, n);
    if (n->kind == JN_LIST) coll->u.list.tuple = n->op == 1;
    for (size_t i = 0; i < n->n; i++) {
        jv *x = eval(c, n->kids[i]);
        bool ok = x != NULL;
        if (ok && n->kind == JN_DICT) {
            jv *y = eval(c, n->kids[++i]);
            ok = y && jv_dict_put(coll, x, y);
            if (!y) jv_unref(x);
        } else if (ok) {
            ok = jv_append(coll, x);
        }
        if (!ok) {
            jv_unref(coll);
            return c->failed ? NULL : jx_oom(c, n);
        }
    }
    return coll;
}

/* Evaluate a, then apply f(c, n, a_value, b_node) */
static jv *eval_binary(jctx *c, const jnode *n) {
    jv *a = eval(c, n->a), *b = a ? eval(c, n->b) : NULL;
    jv *r = b ? binary_op(c, n, n->op, a, b) : NULL;
    jv_unref(a);
    jv_unref(b);
    return r;
}

static jv *eval_logic(jctx *c, const jnode *n) {
    jv *a = eval(c, n->a);
    if (!a) return NULL;
    if (jv_truthy(a) == (n->kind == JN_OR)) return a;
    jv_unref(a);
    return eval(c, n->b);
}

static jv *eval_sign(jctx *c, const jnode *n) {
    jv *a = eval(c, n->a);
    if (!a) return NULL;
    jv *r = NULL;
    if (a->kind == JV_UNDEF) jx_undefined_error(c, n, a);
    else if (!jv_is_number(a))
        jx_fail(c, n, "bad operand type for unary %c: '%s'", n->kind == JN_NEG ? '-' : '+', jv_type_name(a));
    else if (a->kind == JV_FLOAT) r = jx_float(c, n, n->kind == JN_NEG ? -a->u.f : a->u.f);
    else if (n->kind == JN_NEG && ival(a) == INT64_MIN) r = jx_float(c, n, -(double)INT64_MIN);
    else r = jx_int(c, n, n->kind == JN_NEG ? -ival(a) : ival(a));
    jv_unref(a);
    return r;
}

static jv *eval_access(jctx *c, const jnode *n) {
    jv *obj = eval(c, n->a);
    if (!obj) return NULL;
    jv *r = NULL;
    if (n->kind == JN_ATTR) {
        r = getattr_name(c, n, obj, n->name);
    } else if (n->kind == JN_ITEM) {
        jv *key = eval(c, n->b);
        if (key) r = jinja_getattr(c, n, obj, key, false);
        jv_unref(key);
    } else {
        jv *b = n->b ? eval(c, n->b) : NULL, *e = n->c ? eval(c, n->c) : NULL, *s = n->d ? eval(c, n->d) : NULL;
        if (!c->failed) r = slice(c, n, obj, b, e, s);
        jv_unref(b);
        jv_unref(e);
        jv_unref(s);
    }
    jv_unref(obj);
    return r;
}

static jv *eval_inner(jctx *c, const jnode *n) {
    switch (n->kind) {
    case JN_LITERAL: return jv_ref(n->value);
    case JN_NAME: {
        jv *v = lookup(c, n->name);
        if (v) return jv_ref(v);
        v = jinja_global(n->name);
        if (!v) v = jv_undef("'%s' is undefined", n->name);
        return v ? v : jx_oom(c, n);
    }
    case JN_ATTR:
    case JN_ITEM:
    case JN_SLICE: return eval_access(c, n);
    case JN_CALL: return eval_call(c, n);
    case JN_FILTER: {
        jv *x = eval(c, n->a);
        jv *r = x ? eval_filter(c, n, x) : NULL;
        jv_unref(x);
        return r;
    }
    case JN_TEST: return eval_test(c, n);
    case JN_BINARY: return eval_binary(c, n);
    case JN_NEG:
    case JN_POS: return eval_sign(c, n);
    case JN_NOT: {
        jv *a = eval(c, n->a);
        jv *r = a ? jx_bool(c, n, !jv_truthy(a)) : NULL;
        jv_unref(a);
        return r;
    }
    case JN_AND:
    case JN_OR: return eval_logic(c, n);
    case JN_COND: {
        jv *cond = eval(c, n->b);
        if (!cond) return NULL;
        bool t = jv_truthy(cond);
        jv_unref(cond);
        if (t) return eval(c, n->a);
        if (n->c) return eval(c, n->c);
        jv *u = jv_undef("the inline if-expression on line %d evaluated to false and no else section was defined",
                         n->line);
        return u ? u : jx_oom(c, n);
    }
    case JN_LIST:
    case JN_DICT: return eval_collection(c, n);
    default: return jx_fail(c, n, "internal error: statement in expression position");
    }
}

static jv *eval(jctx *c, const jnode *n) {
    if (c->failed) return NULL;
    if (++c->depth > MAX_DEPTH) {
        c->depth--;
        return jx_fail(c, n, "template recursion too deep (more than %d levels)", MAX_DEPTH);
    }
    jv *r = eval_inner(c, n);
    c->depth--;
    return r;
}

/* --- statements ----------------------------------------------------------------------------------- */
static bool exec(jctx *c, const jnode *n);

static bool emit_value(jctx *c, const jnode *at, const jv *v) {
    if (!jv_str_value(&c->out, v)) return jx_fail(c, at, "value nested too deeply to print"), false;
    if (c->out.oom) return jx_oom(c, at), false;
    return true;
}

/* Render `body` into a new string value (for {% set %} blocks, filter blocks and macro calls). */
static jv *capture(jctx *c, const jnode *body) {
    jbuf saved = c->out;
    c->out = (jbuf){0};
    bool ok = exec(c, body);
    size_t n;
    char *s = jbuf_take(&c->out, &n);
    c->out = saved;
    if (!ok) return ember_free(s), NULL;
    jv *r = s ? jv_str_take(s, n) : jv_str("", 0);
    return r ? r : jx_oom(c, body);
}

static bool assign(jctx *c, const jnode *target, jv *v) {
    if (target->kind == JN_NAME) return set_var(c, target, target->name, v);
    if (target->kind == JN_ATTR) {
        jv *ns = eval(c, target->a);
        bool ok = false;
        if (ns && ns->kind == JV_NS)
            ok = jv_dict_put(ns, jv_str(target->name, strlen(target->name)), v) || (jx_oom(c, target), false);
        else {
            jv_unref(v);
            if (ns) jx_fail(c, target, "cannot assign attribute on non-namespace object");
        }
        jv_unref(ns);
        return ok;
    }
    /* unpacking: a, b = [x, y] */
    jv *items = jx_iter_list(c, target, v);
    jv_unref(v);
    if (!items) return false;
    bool ok = items->u.list.n == target->n;
    if (!ok) jx_fail(c, target, "cannot unpack %zu values into %zu names", items->u.list.n, target->n);
    for (size_t i = 0; ok && i < target->n; i++) ok = set_var(c, target->kids[i], target->kids[i]->name,
                                                              jv_ref(items->u.list.items[i]));
    jv_unref(items);
    return ok;
}

static bool exec_if(jctx *c, const jnode *n) {
    for (; n && n->kind == JN_IF; n = n->orelse) {
        jv *cond = eval(c, n->a);
        if (!cond) return false;
        bool t = jv_truthy(cond);
        jv_unref(cond);
        if (t) return exec(c, n->body);
    }
    return n ? exec(c, n) : true;
}

static jv *loop_object(jctx *c, const jnode *at, jv *items, size_t i) {
    jv *l = jv_new(JV_LOOP);
    if (!l) return jx_oom(c, at);
    l->u.loop.items = jv_ref(items);
    l->u.loop.i = i;
    return l;
}

/* loop.index, loop.first, ... computed when asked for; NULL when `name` is not a loop attribute. */
static jv *loop_attribute(jctx *c, const jnode *at, const jv *l, const char *name) {
    size_t i = l->u.loop.i, n = l->u.loop.items->u.list.n;
    static const char *const ints[] = {"index", "index0", "revindex", "revindex0", "length", "depth", "depth0", NULL};
    const int64_t vals[] = {(int64_t)i + 1, (int64_t)i, (int64_t)(n - i), (int64_t)(n - i - 1), (int64_t)n, 1, 0};
    for (size_t k = 0; ints[k]; k++)
        if (!strcmp(name, ints[k])) return jx_int(c, at, vals[k]);
    if (!strcmp(name, "first")) return jx_bool(c, at, i == 0);
    if (!strcmp(name, "last")) return jx_bool(c, at, i + 1 == n);
    if (!strcmp(name, "previtem") && i > 0) return jv_ref(l->u.loop.items->u.list.items[i - 1]);
    if (!strcmp(name, "nextitem") && i + 1 < n) return jv_ref(l->u.loop.items->u.list.items[i + 1]);
    if (!strcmp(name, "cycle")) {
        jv *f = jv_func("loop.cycle", jx_int(c, at, (int64_t)i));
        return f ? f : jx_oom(c, at);
    }
    return NULL;
}

/* The items a for loop visits: iterable items that pass the loop's `if` filter. */
static jv *loop_items(jctx *c, const jnode *n) {
    jv *it = eval(c, n->b);
    if (!it) return NULL;
    jv *items = jx_iter_list(c, n->b, it);
    jv_unref(it);
    if (!items || !n->c) return items;
    jv *kept = jv_new(JV_LIST);
    bool ok = kept && push_scope(c);
    if (!ok) jx_oom(c, n);
    for (size_t i = 0; ok && i < items->u.list.n; i++) {
        jv *x = items->u.list.items[i];
        ok = assign(c, n->a, jv_ref(x));
        jv *cond = ok ? eval(c, n->c) : NULL;
        ok = cond != NULL;
        if (ok && jv_truthy(cond)) ok = jv_append(kept, jv_ref(x)) || (jx_oom(c, n), false);
        jv_unref(cond);
    }
    if (kept) pop_scope(c);
    jv_unref(items);
    if (!ok) return jv_unref(kept), NULL;
    return kept;
}

static bool exec_for(jctx *c, const jnode *n) {
    jv *items = loop_items(c, n);
    if (!items) return false;
    if (!items->u.list.n) {
        jv_unref(items);
        return !n->orelse || exec(c, n->orelse);
    }
    bool ok = true;
    for (size_t i = 0; ok && i < items->u.list.n; i++) {
        if (!push_scope(c)) {
            jx_oom(c, n);
            ok = false;
            break;
        }
        ok = assign(c, n->a, jv_ref(items->u.list.items[i])) && set_var(c, n, "loop", loop_object(c, n, items, i)) &&
             exec(c, n->body);
        pop_scope(c);
        int ctl = c->loop_ctl;
        c->loop_ctl = 0;
        if (ctl == 1) break;
    }
    jv_unref(items);
    return ok;
}

static bool exec_filter_block(jctx *c, const jnode *n) {
    jv *text = capture(c, n->body);
    if (!text) return false;
    /* the chain's innermost filter has no operand: it applies to the captured text */
    const jnode *chain[32];
    size_t depth = 0;
    for (const jnode *f = n->a; f && depth < 32; f = f->a) chain[depth++] = f;
    jv *v = text;
    while (v && depth) {
        jv *next = eval_filter(c, chain[--depth], v);
        jv_unref(v);
        v = next;
    }
    bool ok = v && emit_value(c, n, v);
    jv_unref(v);
    return ok;
}

static bool exec_inner(jctx *c, const jnode *n) {
    switch (n->kind) {
    case JN_STMTS:
        for (size_t i = 0; i < n->n && !c->loop_ctl; i++)
            if (!exec(c, n->kids[i])) return false;
        return true;
    case JN_TEXT: return emit_value(c, n, n->value);
    case JN_OUTPUT: {
        jv *v = eval(c, n->a);
        bool ok = v && emit_value(c, n, v);
        jv_unref(v);
        return ok;
    }
    case JN_IF: return exec_if(c, n);
    case JN_FOR: return exec_for(c, n);
    case JN_SET: return assign(c, n->a, n->b ? eval(c, n->b) : capture(c, n->body));
    case JN_MACRO: {
        jv *m = jv_new(JV_MACRO);
        if (m) m->u.macro.node = n, m->u.macro.name = n->name;
        return set_var(c, n, n->name, m ? m : jx_oom(c, n));
    }
    case JN_FILTERBLOCK: return exec_filter_block(c, n);
    case JN_BREAK: c->loop_ctl = 1; return true;
    case JN_CONTINUE: c->loop_ctl = 2; return true;
    default: return jx_fail(c, n, "internal error: expression in statement position"), false;
    }
}

static bool exec(jctx *c, const jnode *n) {
    if (c->failed) return false;
    if (++c->depth > MAX_DEPTH) {
        c->depth--;
        return jx_fail(c, n, "template recursion too deep (more than %d levels)", MAX_DEPTH), false;
    }
    bool ok = exec_inner(c, n) && !c->failed;
    c->depth--;
    return ok;
}

/* --- calls ---------------------------------------------------------------------------------------- */
static bool bind_params(jctx *c, const jnode *at, const jnode *m, jargs *a) {
    if (a->npos > m->n)
        return jx_fail(c, at, "macro '%s' takes not more than %zu argument(s)", m->name, m->n), false;
    for (size_t k = 0; k < a->nkw; k++) {
        size_t i = 0;
        while (i < m->n && strcmp(m->kids[i]->name, a->kwn[k])) i++;
        if (i == m->n) return jx_fail(c, at, "macro '%s' has no parameter '%s'", m->name, a->kwn[k]), false;
    }
    for (size_t i = 0; i < m->n; i++) {
        const jnode *p = m->kids[i];
        jv *v = i < a->npos ? jv_ref(a->pos[i]) : NULL;
        for (size_t k = 0; !v && k < a->nkw; k++)
            if (!strcmp(a->kwn[k], p->name)) v = jv_ref(a->kwv[k]);
        if (!v && p->a) v = eval(c, p->a);
        else if (!v) v = jv_undef("parameter '%s' was not provided", p->name);
        if (!v || !set_var(c, p, p->name, v)) return c->failed ? false : (jx_oom(c, at), false);
    }
    return true;
}

static jv *call_macro(jctx *c, const jnode *at, const jnode *m, jargs *a) {
    size_t base = c->macro_base;
    if (!push_scope(c)) return jx_oom(c, at);
    c->macro_base = c->n_scopes - 1;
    jv *r = bind_params(c, at, m, a) ? capture(c, m->body) : NULL;
    pop_scope(c);
    c->macro_base = base;
    c->loop_ctl = 0;
    return r;
}

jv *jx_call(jctx *c, const jnode *at, jv *fn, jargs *a) {
    switch (fn->kind) {
    case JV_FUNC: return jinja_call_builtin(c, at, fn, a);
    case JV_MACRO: return call_macro(c, at, fn->u.macro.node, a);
    case JV_UNDEF: return jx_undefined_error(c, at, fn);
    default: return jx_fail(c, at, "'%s' object is not callable", jv_type_name(fn));
    }
}

/* --- entry ---------------------------------------------------------------------------------------- */

ember_status jinja_render(const ember_chat_template *t, jv *globals, int64_t now, char **out, size_t *len) {
    jctx c = {.now = now};
    ember_status st = EMBER_OK;
    if (!push_scope(&c)) return ember_fail(EMBER_ERR_NOMEM, "chat template: out of memory");
    jv_unref(c.scopes[0].vars);
    c.scopes[0].vars = jv_ref(globals);
    bool ok = exec(&c, t->root);
    while (c.n_scopes) pop_scope(&c);
    ember_free(c.scopes);
    if (ok && !c.failed) {
        *out = jbuf_take(&c.out, len);
        if (!*out) st = ember_fail(EMBER_ERR_NOMEM, "chat template: out of memory while rendering");
    } else {
        jbuf_free(&c.out);
        st = ember_fail(c.raised ? EMBER_ERR_ARG : EMBER_ERR_FORMAT, "%s", c.msg[0] ? c.msg : "chat template failed");
    }
    return st;
}
