/* Internal view of the template value model (ember_jvalue): layout, growable text buffers, UTF-8 helpers,
 * Python-style str()/repr() and JSON dumps used by the Jinja engine. */
#ifndef EMBER_LLM_JINJA_VALUE_H
#define EMBER_LLM_JINJA_VALUE_H

#include "ember/chat_template.h"

#include <stdatomic.h>
#include <stdbool.h>

typedef enum jv_kind {
    JV_UNDEF = EMBER_JVALUE_UNDEFINED,
    JV_NONE = EMBER_JVALUE_NONE,
    JV_BOOL = EMBER_JVALUE_BOOL,
    JV_INT = EMBER_JVALUE_INT,
    JV_FLOAT = EMBER_JVALUE_FLOAT,
    JV_STR = EMBER_JVALUE_STRING,
    JV_LIST = EMBER_JVALUE_LIST,
    JV_DICT = EMBER_JVALUE_DICT,
    JV_NS = 100, /* namespace(): a dict whose attributes templates may assign */
    JV_FUNC,     /* a global function or a bound method (self + name) */
    JV_MACRO,    /* a {% macro %} (node points into the compiled template) */
    JV_LOOP,     /* the `loop` variable of a for loop: its items and the current position */
} jv_kind;

typedef struct ember_jvalue jv;

struct ember_jvalue {
    jv_kind kind;
    atomic_int refs;
    union {
        bool b;
        int64_t i;
        double f;
        struct { char *s; size_t len; } str;          /* NUL-terminated; for JV_UNDEF: the reason */
        struct { jv **items; size_t n, cap; bool tuple; } list; /* JV_LIST (tuple: Python tuple) */
        struct { jv **keys, **vals; size_t n, cap; } dict; /* JV_DICT, JV_NS */
        struct { const char *name; jv *self; } func;  /* JV_FUNC: name is static */
        struct { const void *node; const char *name; } macro; /* JV_MACRO */
        struct { jv *items; size_t i; } loop;         /* JV_LOOP */
    } u;
};

/* --- growable buffer ------------------------------------------------------------------------------------ */
typedef struct jbuf {
    char *p;
    size_t n, cap;
    bool oom;
} jbuf;

void jbuf_put(jbuf *b, const char *s, size_t n);
void jbuf_puts(jbuf *b, const char *s);
void jbuf_putc(jbuf *b, char c);
void jbuf_printf(jbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
char *jbuf_take(jbuf *b, size_t *len); /* NUL-terminated, caller frees; NULL when out of memory */
void jbuf_free(jbuf *b);

/* --- construction --------------------------------------------------------------------------------------- */
jv *jv_new(jv_kind k);
jv *jv_str(const char *s, size_t n);
jv *jv_str_take(char *s, size_t n); /* adopts an ember_malloc'ed NUL-terminated string */
jv *jv_undef(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
jv *jv_func(const char *name, jv *self); /* takes self's reference (NULL for globals) */
jv *jv_ref(jv *v);
void jv_unref(jv *v);
bool jv_append(jv *list, jv *item);                /* takes item; false when out of memory */
bool jv_dict_put(jv *dict, jv *key, jv *val);       /* takes key and val */
jv *jv_dict_find(const jv *dict, const jv *key);    /* borrowed */
jv *jv_dict_findz(const jv *dict, const char *key); /* borrowed */

/* --- semantics ------------------------------------------------------------------------------------------ */
bool jv_truthy(const jv *v);
bool jv_equal(const jv *a, const jv *b);
/* Python ordering: numbers with numbers, strings with strings, lists element-wise. -2 when unordered. */
int jv_compare(const jv *a, const jv *b);
bool jv_is_number(const jv *v);
double jv_num(const jv *v);
const char *jv_type_name(const jv *v); /* Python's name: 'str', 'dict', 'NoneType'... */
bool jv_str_value(jbuf *b, const jv *v);  /* Python str(v); false on runaway nesting */
bool jv_repr(jbuf *b, const jv *v);       /* Python repr(v) */
void jv_float_repr(jbuf *b, double f);    /* shortest round-trip, Python formatting */

typedef struct jv_json_opts {
    int indent;            /* < 0: single line */
    bool ensure_ascii;
    bool sort_keys;
    const char *item_sep;  /* NULL: ", " (single line) or "," (indented) */
    const char *key_sep;   /* NULL: ": " */
} jv_json_opts;
/* json.dumps. false with a message in *err (static text) when a value cannot be serialised. */
bool jv_json_dump(jbuf *b, const jv *v, const jv_json_opts *o, const char **err);
jv *jv_json_parse(const char *s, size_t n, char *err, size_t errcap);

/* --- UTF-8 -------------------------------------------------------------------------------------------- */
size_t utf8_count(const char *s, size_t n);                 /* code points (invalid bytes count as one) */
size_t utf8_offset(const char *s, size_t n, size_t index);  /* byte offset of the index-th code point */
size_t utf8_encode(uint32_t cp, char out[4]);

#define JV_MAX_DEPTH 256 /* nesting bound for parsing and printing values */

#endif
