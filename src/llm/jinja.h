/* Internal interface of the Jinja engine behind chat templates: the syntax tree the parser builds, the
 * render context the interpreter threads through, and the built-in filters, tests, methods and globals. */
#ifndef EMBER_LLM_JINJA_H
#define EMBER_LLM_JINJA_H

#include "core/arena.h"
#include "llm/jinja_value.h"

typedef enum jnode_kind {
    /* statements */
    JN_STMTS,    /* kids: statements in order */
    JN_TEXT,     /* value: the literal text */
    JN_OUTPUT,   /* a: expression */
    JN_IF,       /* a: condition, body, orelse (JN_IF for elif, JN_STMTS for else, or NULL) */
    JN_FOR,      /* a: target, b: iterable, c: filter condition or NULL, body, orelse */
    JN_SET,      /* a: target, b: value (or body for {% set x %}...{% endset %}) */
    JN_MACRO,    /* name, kids: parameters (JN_NAME, a = default or NULL), body */
    JN_FILTERBLOCK, /* body, a: filter chain applied to the body's text (innermost operand NULL) */
    JN_BREAK,
    JN_CONTINUE,
    /* expressions */
    JN_LITERAL, /* value */
    JN_NAME,    /* name */
    JN_ATTR,    /* a.name */
    JN_ITEM,    /* a[b] */
    JN_SLICE,   /* a[b:c:d], each bound may be NULL */
    JN_CALL,    /* a(kids), kw[i] names keyword arguments (NULL: positional) */
    JN_FILTER,  /* a | name(kids) */
    JN_TEST,    /* a is [not] name(kids); op = 1 when negated */
    JN_BINARY,  /* a op b; op: a jop */
    JN_NEG,     /* -a */
    JN_POS,     /* +a */
    JN_NOT,     /* not a */
    JN_AND,     /* a and b */
    JN_OR,      /* a or b */
    JN_COND,    /* a if b else c (c may be NULL) */
    JN_LIST,    /* [kids], or (kids,) when op = 1 */
    JN_DICT,    /* {kids[0]: kids[1], ...} */
} jnode_kind;

typedef enum jop {
    JOP_ADD, JOP_SUB, JOP_MUL, JOP_DIV, JOP_FLOORDIV, JOP_MOD, JOP_POW, JOP_CONCAT,
    JOP_EQ, JOP_NE, JOP_LT, JOP_LE, JOP_GT, JOP_GE, JOP_IN, JOP_NOTIN,
} jop;

typedef struct jnode jnode;
struct jnode {
    jnode_kind kind;
    int op;
    int line, col;
    const char *name;
    jv *value;
    jnode *a, *b, *c, *d;
    jnode *body, *orelse;
    jnode **kids;
    const char **kw;
    size_t n;
};

/* A compiled template: the tree lives in the arena; literal values are released at destroy. */
struct ember_chat_template {
    ember_arena arena;
    jnode *root;
    jv **literals;
    size_t n_literals, cap_literals;
};

/* Parse `src` into t (t->arena initialised by the caller). Fails with "chat template L:C: ...". */
ember_status jinja_parse(ember_chat_template *t, const char *src, size_t len);

/* --- rendering -------------------------------------------------------------------------------------- */
typedef struct jscope {
    jv *vars; /* JV_DICT */
} jscope;

typedef struct jctx {
    jbuf out;
    jscope *scopes;
    size_t n_scopes, cap_scopes;
    size_t macro_base;  /* scopes below this (except 0, the globals) are invisible inside a macro */
    int depth;          /* recursion guard */
    int loop_ctl;       /* 1 after {% break %}, 2 after {% continue %} */
    int64_t now;
    bool failed;
    bool raised;        /* raise_exception: msg is the template's own text */
    char msg[512];
} jctx;

/* Arguments of a filter, test, method or function call (values borrowed). */
typedef struct jargs {
    jv **pos;
    size_t npos;
    const char **kwn;
    jv **kwv;
    size_t nkw;
} jargs;

/* Render with `globals` (a dict) as the outermost scope. *out: NUL-terminated text, freed with ember_free. */
ember_status jinja_render(const ember_chat_template *t, jv *globals, int64_t now, char **out, size_t *len);

/* New values; NULL (with the error recorded) when out of memory. */
jv *jx_int(jctx *c, const jnode *at, int64_t i);
jv *jx_float(jctx *c, const jnode *at, double f);
jv *jx_bool(jctx *c, const jnode *at, bool b);
jv *jx_oom(jctx *c, const jnode *at);
jv *jx_take(jctx *c, const jnode *at, jbuf *b); /* the buffer's text as a string value; b is emptied */

/* Record the first error "chat template L:C: ..." at node `at`; returns NULL for convenience. */
jv *jx_fail(jctx *c, const jnode *at, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* The undefined value's own message as an error (Jinja's UndefinedError). */
jv *jx_undefined_error(jctx *c, const jnode *at, const jv *undef);
/* Call a callable value (function, bound method or macro). */
jv *jx_call(jctx *c, const jnode *at, jv *fn, jargs *a);
/* Iterate: a new list of the items `v` yields (dict keys, string characters); NULL with an error. */
jv *jx_iter_list(jctx *c, const jnode *at, jv *v);
/* Python str(v) as a new string value. */
jv *jx_to_str(jctx *c, const jnode *at, const jv *v);

/* Built-ins (jinja_builtins.c). Names are checked when a template compiles. */
bool jinja_filter_known(const char *name);
bool jinja_test_known(const char *name);
jv *jinja_filter(jctx *c, const jnode *at, const char *name, jv *v, jargs *a);
int jinja_test(jctx *c, const jnode *at, const char *name, jv *v, jargs *a); /* 1, 0, or -1 on error */
jv *jinja_attribute(jctx *c, jv *obj, const char *name);  /* bound method or NULL when there is none */
jv *jinja_global(const char *name);                        /* a global function or NULL */
jv *jinja_call_builtin(jctx *c, const jnode *at, jv *fn, jargs *a);
jv *jinja_getattr(jctx *c, const jnode *at, jv *obj, jv *key, bool is_attr); /* a.b / a[b] */

#endif
