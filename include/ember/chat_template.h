/* Chat templates: render the Jinja template a model ships (GGUF `tokenizer.chat_template`, Hugging Face
 * tokenizer_config.json `chat_template`) exactly as Hugging Face transformers does (Python Jinja2 with
 * trim_blocks and lstrip_blocks), plus a small value API to build the messages and tools it reads.
 *
 * Usage:
 *
 *     ember_jvalue *messages = NULL;
 *     if (ember_jvalue_from_json("[{\"role\": \"user\", \"content\": \"Hi!\"}]", (size_t)-1, &messages))
 *         return fail(ember_last_error());
 *     ember_chat_template *t = NULL;
 *     if (ember_chat_template_create(source, strlen(source), &t))            // or ..._builtin("chatml", &t)
 *         return fail(ember_last_error());                                 // "chat template 3:14: ..."
 *     ember_chat_params p = {.messages = messages, .add_generation_prompt = 1, .eos_token = "<|im_end|>"};
 *     char *prompt = NULL;
 *     if (ember_chat_template_render(t, &p, &prompt) == EMBER_OK) {
 *         puts(prompt);
 *         ember_free(prompt);
 *     }
 *     ember_chat_template_destroy(t);
 *     ember_jvalue_release(messages);
 *
 * A compiled template is read-only while rendering: several threads may render it at once.
 */
#ifndef EMBER_CHAT_TEMPLATE_H
#define EMBER_CHAT_TEMPLATE_H

#include "ember/status.h"

#ifdef __cplusplus
extern "C" {
#endif

/* --- values: none, bool, int, float, string, list, dict (insertion-ordered) ---------------------------- */
typedef struct ember_jvalue ember_jvalue; /* reference counted; every constructor returns one reference */

typedef enum ember_jvalue_kind {
    EMBER_JVALUE_UNDEFINED = 0, /* a missing variable or key (only ever produced by templates) */
    EMBER_JVALUE_NONE,
    EMBER_JVALUE_BOOL,
    EMBER_JVALUE_INT,
    EMBER_JVALUE_FLOAT,
    EMBER_JVALUE_STRING,
    EMBER_JVALUE_LIST,
    EMBER_JVALUE_DICT,
    EMBER_JVALUE_OTHER, /* namespaces, macros, functions: template-internal */
} ember_jvalue_kind;

/* Constructors return NULL only when out of memory (the caller's release of NULL is a no-op). */
EMBER_API ember_jvalue *ember_jvalue_none(void);
EMBER_API ember_jvalue *ember_jvalue_bool(int b);
EMBER_API ember_jvalue *ember_jvalue_int(int64_t i);
EMBER_API ember_jvalue *ember_jvalue_float(double f);
/* Copies `len` bytes of UTF-8 text (len == (size_t)-1: up to the NUL). */
EMBER_API ember_jvalue *ember_jvalue_string(const char *s, size_t len);
EMBER_API ember_jvalue *ember_jvalue_list(void);
EMBER_API ember_jvalue *ember_jvalue_dict(void);

/* Append `item` to `list`, taking over the caller's reference to item (also on failure). */
EMBER_API ember_status ember_jvalue_list_append(ember_jvalue *list, ember_jvalue *item);
/* Set dict[key] = v (replacing an existing key in place), taking over the caller's reference to v. */
EMBER_API ember_status ember_jvalue_dict_set(ember_jvalue *dict, const char *key, ember_jvalue *v);

/* Parse JSON text (RFC 8259; integers without fraction or exponent stay integers) into a new value.
 * len == (size_t)-1: up to the NUL. Errors name the line:column. The caller releases *out. */
EMBER_API ember_status ember_jvalue_from_json(const char *json, size_t len, ember_jvalue **out);
/* Serialise like Python's json.dumps(v, ensure_ascii=False) with separators ", " and ": ";
 * indent > 0 pretty-prints. The caller frees *out with ember_free. */
EMBER_API ember_status ember_jvalue_to_json(const ember_jvalue *v, int indent, char **out);

EMBER_API ember_jvalue_kind ember_jvalue_kind_of(const ember_jvalue *v);
/* Accessors: NULL / 0 when v is not of that kind or the index/key is absent. Borrowed, not owned. */
EMBER_API const char *ember_jvalue_str(const ember_jvalue *v, size_t *len);
EMBER_API int64_t ember_jvalue_as_int(const ember_jvalue *v);
EMBER_API double ember_jvalue_as_float(const ember_jvalue *v);
EMBER_API size_t ember_jvalue_len(const ember_jvalue *v); /* list items, dict keys, string bytes */
EMBER_API const ember_jvalue *ember_jvalue_at(const ember_jvalue *list, size_t i);
EMBER_API const ember_jvalue *ember_jvalue_get(const ember_jvalue *dict, const char *key);

EMBER_API ember_jvalue *ember_jvalue_retain(ember_jvalue *v); /* returns v with one more reference */
EMBER_API void ember_jvalue_release(ember_jvalue *v);        /* NULL is fine */

/* --- templates ---------------------------------------------------------------------------------------- */
typedef struct ember_chat_template ember_chat_template;

/* Compile template source (UTF-8, `len` bytes or up to the NUL when len == (size_t)-1). Syntax errors
 * (unclosed tags, unknown filters or tests, bad expressions) fail here with "chat template L:C: ...".
 * The caller destroys *out. */
EMBER_API ember_status ember_chat_template_create(const char *source, size_t len, ember_chat_template **out);

/* A built-in template for models that ship none: "chatml", "llama3" (Meta Llama-3 instruct) or "llama2"
 * ([INST] <<SYS>> format). The caller destroys *out. */
EMBER_API ember_status ember_chat_template_builtin(const char *name, ember_chat_template **out);

/* The template of a Hugging Face tokenizer_config.json (its text, `len` bytes or up to the NUL): the string
 * "chat_template", or from a list of {"name", "template"} the one called `name` (NULL: "default").
 * The caller destroys *out. */
EMBER_API ember_status ember_chat_template_from_hf_config(const char *config_json, size_t len, const char *name,
                                                          ember_chat_template **out);

EMBER_API void ember_chat_template_destroy(ember_chat_template *t);

typedef struct ember_chat_params {
    const ember_jvalue *messages;   /* list of {"role", "content", ...} dicts (required) */
    const ember_jvalue *tools;      /* list of tool schemas, or NULL: the template sees `tools` = none */
    int add_generation_prompt;     /* end with the header of an assistant turn */
    const char *bos_token;         /* NULL: the variable is left undefined */
    const char *eos_token;         /* NULL: the variable is left undefined */
    const ember_jvalue *extra;      /* dict of further variables (e.g. enable_thinking), or NULL */
    int64_t now;                   /* Unix time strftime_now() formats (in UTC); 0: the current time */
} ember_chat_params;

/* Render. On success *out is a NUL-terminated UTF-8 string the caller frees with ember_free. A template
 * that calls raise_exception(msg) fails with EMBER_ERR_ARG and ember_last_error() == msg exactly;
 * other errors say "chat template L:C: what was wrong". */
EMBER_API ember_status ember_chat_template_render(const ember_chat_template *t, const ember_chat_params *p,
                                                  char **out);

#ifdef __cplusplus
}
#endif
#endif
