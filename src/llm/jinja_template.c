/* Public chat-template API: compile, render with the variables transformers passes (messages, tools,
 * add_generation_prompt, special tokens, extra kwargs), and built-in templates for models that ship none. */
#include "llm/jinja.h"

#include <string.h>

/* ChatML and Llama-3 are the templates those model families ship (Qwen/HF docs, Meta-Llama-3-Instruct).
 * Llama-2: [INST] <<SYS>> format; BOS before every turn but the first, which the tokenizer adds. */
static const struct {
    const char *name, *source;
} BUILTINS[] = {
    {"chatml", "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + "
               "'<|im_end|>' + '\\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}"
               "{% endif %}"},
    {"llama3", "{% set loop_messages = messages %}{% for message in loop_messages %}{% set content = "
               "'<|start_header_id|>' + message['role'] + '<|end_header_id|>\n\n'+ message['content'] | trim + "
               "'<|eot_id|>' %}{% if loop.index0 == 0 %}{% set content = bos_token + content %}{% endif %}"
               "{{ content }}{% endfor %}{{ '<|start_header_id|>assistant<|end_header_id|>\n\n' }}"},
    {"llama2", "{%- set ns = namespace(system='', turns=0) -%}\n"
               "{%- set bos = bos_token if bos_token is defined else '<s>' -%}\n"
               "{%- set eos = eos_token if eos_token is defined else '</s>' -%}\n"
               "{%- for message in messages -%}\n"
               "  {%- if message['role'] == 'system' -%}\n"
               "    {%- set ns.system = message['content'] -%}\n"
               "  {%- elif message['role'] == 'user' -%}\n"
               "    {%- if ns.turns > 0 %}{{ bos }}{% endif -%}\n"
               "    {{- '[INST] <<SYS>>' -}}\n"
               "    {%- if ns.system %}{{ '\\n' + ns.system + '\\n' }}{% endif -%}\n"
               "    {{- '<</SYS>>\\n\\n' + message['content'] + ' [/INST]' -}}\n"
               "    {%- set ns.system = '' -%}\n"
               "    {%- set ns.turns = ns.turns + 1 -%}\n"
               "  {%- elif message['role'] == 'assistant' -%}\n"
               "    {{- ' ' + message['content'] + eos -}}\n"
               "  {%- endif -%}\n"
               "{%- endfor -%}\n"},
};

ember_status ember_chat_template_create(const char *source, size_t len, ember_chat_template **out) {
    if (!source || !out) return ember_fail(EMBER_ERR_ARG, "ember_chat_template_create: NULL argument");
    *out = NULL;
    ember_chat_template *t = ember_calloc(1, sizeof *t);
    if (!t) return ember_fail(EMBER_ERR_NOMEM, "chat template: out of memory");
    ember_arena_init(&t->arena, 1 << 14);
    ember_status s = jinja_parse(t, source, len == (size_t)-1 ? strlen(source) : len);
    if (s != EMBER_OK) {
        ember_chat_template_destroy(t);
        return s;
    }
    *out = t;
    return EMBER_OK;
}

ember_status ember_chat_template_builtin(const char *name, ember_chat_template **out) {
    if (!name || !out) return ember_fail(EMBER_ERR_ARG, "ember_chat_template_builtin: NULL argument");
    for (size_t i = 0; i < sizeof BUILTINS / sizeof BUILTINS[0]; i++)
        if (!strcmp(BUILTINS[i].name, name)) return ember_chat_template_create(BUILTINS[i].source, (size_t)-1, out);
    *out = NULL;
    return ember_fail(EMBER_ERR_ARG, "chat template: no built-in template '%s' (chatml, llama3, llama2)", name);
}

/* chat_template is a string, or a list of named templates (Command-R: default, tool_use, rag). */
static const jv *pick_template(const jv *entry, const char *name) {
    if (!entry || entry->kind == JV_STR) return entry;
    if (entry->kind != JV_LIST) return NULL;
    for (size_t i = 0; i < entry->u.list.n; i++) {
        const jv *e = entry->u.list.items[i];
        const jv *n = e->kind == JV_DICT ? jv_dict_findz(e, "name") : NULL;
        if (n && n->kind == JV_STR && !strcmp(n->u.str.s, name)) return jv_dict_findz(e, "template");
    }
    return NULL;
}

ember_status ember_chat_template_from_hf_config(const char *config_json, size_t len, const char *name,
                                                ember_chat_template **out) {
    if (!config_json || !out) return ember_fail(EMBER_ERR_ARG, "ember_chat_template_from_hf_config: NULL argument");
    *out = NULL;
    ember_jvalue *config = NULL;
    ember_status s = ember_jvalue_from_json(config_json, len, &config);
    if (s != EMBER_OK) return ember_fail_context(s, "tokenizer_config.json: ");
    const jv *entry = config->kind == JV_DICT ? jv_dict_findz(config, "chat_template") : NULL;
    const jv *source = pick_template(entry, name ? name : "default");
    if (!source || source->kind != JV_STR) {
        s = ember_fail(EMBER_ERR_FORMAT, "tokenizer_config.json: no chat_template%s%s%s", name ? " named '" : "",
                       name ? name : "", name ? "'" : "");
    } else {
        s = ember_chat_template_create(source->u.str.s, source->u.str.len, out);
        if (s != EMBER_OK) ember_fail_context(s, "tokenizer_config.json: ");
    }
    jv_unref(config);
    return s;
}

void ember_chat_template_destroy(ember_chat_template *t) {
    if (!t) return;
    for (size_t i = 0; i < t->n_literals; i++) jv_unref(t->literals[i]);
    ember_free(t->literals);
    ember_arena_free(&t->arena);
    ember_free(t);
}

static bool put(jv *d, const char *key, jv *v) { return jv_dict_put(d, jv_str(key, strlen(key)), v); }

/* The variables transformers' apply_chat_template hands to the template. */
static jv *make_globals(const ember_chat_params *p) {
    jv *g = jv_new(JV_DICT);
    if (!g) return NULL;
    bool ok = put(g, "messages", jv_ref((jv *)p->messages)) &&
              put(g, "tools", p->tools ? jv_ref((jv *)p->tools) : jv_new(JV_NONE)) &&
              put(g, "documents", jv_new(JV_NONE)) &&
              put(g, "add_generation_prompt", ember_jvalue_bool(p->add_generation_prompt));
    if (ok && p->bos_token) ok = put(g, "bos_token", jv_str(p->bos_token, strlen(p->bos_token)));
    if (ok && p->eos_token) ok = put(g, "eos_token", jv_str(p->eos_token, strlen(p->eos_token)));
    for (size_t i = 0; ok && p->extra && i < p->extra->u.dict.n; i++)
        ok = jv_dict_put(g, jv_ref(p->extra->u.dict.keys[i]), jv_ref(p->extra->u.dict.vals[i]));
    if (!ok) jv_unref(g);
    return ok ? g : NULL;
}

ember_status ember_chat_template_render(const ember_chat_template *t, const ember_chat_params *p, char **out) {
    if (!t || !p || !out) return ember_fail(EMBER_ERR_ARG, "ember_chat_template_render: NULL argument");
    *out = NULL;
    if (!p->messages) return ember_fail(EMBER_ERR_ARG, "ember_chat_template_render: messages are required");
    if (p->extra && p->extra->kind != JV_DICT)
        return ember_fail(EMBER_ERR_ARG, "ember_chat_template_render: extra must be a dict");
    jv *g = make_globals(p);
    if (!g) return ember_fail(EMBER_ERR_NOMEM, "chat template: out of memory");
    ember_status s = jinja_render(t, g, p->now, out, NULL);
    jv_unref(g);
    return s;
}
