/* A small, strict JSON parser (RFC 8259) that builds a read-only tree in one arena. Internal to the library;
 * used by the tokenizer.json loader and by other modules (chat templates, apps).
 *
 *     ember_json_doc *doc = NULL;
 *     if (ember_json_parse(text, len, "tokenizer.json", &doc)) return ember_last_error(); // "name:3:14: ..."
 *     const ember_json *model = ember_json_get(doc->root, "model");
 *     const char *type = ember_json_str(model, "type", "BPE");
 *     for (size_t i = 0; i < ember_json_len(arr); i++) use(arr->items[i]);
 *     ember_json_free(doc);
 *
 * Strings are decoded (escapes, \u surrogate pairs) and NUL-terminated; `len` is their byte length (a
 * string may hold "\u0000"). Duplicate keys are kept; lookup returns the last one, as JavaScript does.
 * Nesting is limited to 512 levels; invalid UTF-8 inside strings and lone surrogates are errors.
 */
#ifndef EMBER_TEXT_JSON_H
#define EMBER_TEXT_JSON_H

#include "core/arena.h"
#include "ember/status.h"

#include <stdbool.h>

typedef enum ember_json_type {
    EMBER_JSON_NULL = 0,
    EMBER_JSON_FALSE,
    EMBER_JSON_TRUE,
    EMBER_JSON_NUMBER,
    EMBER_JSON_STRING,
    EMBER_JSON_ARRAY,
    EMBER_JSON_OBJECT,
} ember_json_type;

typedef struct ember_json ember_json;
struct ember_json {
    ember_json_type type;
    size_t len;          /* STRING: bytes in str; ARRAY/OBJECT: number of items */
    const char *str;     /* STRING: the decoded text, NUL-terminated */
    double num;          /* NUMBER */
    ember_json **items;  /* ARRAY: the elements; OBJECT: the members (each with key set), in file order */
    const char *key;     /* inside an OBJECT: the member's name (decoded, NUL-terminated), else NULL */
    size_t key_len;
};

typedef struct ember_json_doc {
    ember_json *root;
    ember_arena arena; /* owns every node and string */
} ember_json_doc;

/* Parse `len` bytes (need not be NUL-terminated; a leading UTF-8 BOM is skipped). `name` prefixes error
 * messages (may be NULL). On success *out is a new document freed with ember_json_free. */
ember_status ember_json_parse(const char *text, size_t len, const char *name, ember_json_doc **out);
void ember_json_free(ember_json_doc *doc);

/* The member `key` of an object (the last one when repeated), or NULL when v is not an object or lacks it. */
const ember_json *ember_json_get(const ember_json *v, const char *key);
/* Items of an array/object (0 for anything else, NULL included). */
size_t ember_json_len(const ember_json *v);
static inline bool ember_json_is(const ember_json *v, ember_json_type t) { return v && v->type == t; }
/* Typed member lookups with a default for an absent member or JSON null. *_str returns dflt also when the
 * member is not a string; *_bool when not a boolean; *_num when not a number. */
const char *ember_json_str(const ember_json *obj, const char *key, const char *dflt);
bool ember_json_bool(const ember_json *obj, const char *key, bool dflt);
double ember_json_num(const ember_json *obj, const char *key, double dflt);

#endif
