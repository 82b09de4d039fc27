/* Messages and template rendering for `ember chat` (see chat_conv.h for why this is its own file). */
#include "cli/chat_conv.h"

#include "ember/chat_template.h"

#include <stdlib.h>
#include <string.h>

struct chat_conv {
    ember_chat_template *tmpl;
    ember_jvalue *messages;
};

ember_status chat_conv_create(const char *src, size_t len, const char *builtin, chat_conv **out) {
    *out = NULL;
    chat_conv *cv = calloc(1, sizeof *cv);
    if (!cv) return ember_fail(EMBER_ERR_NOMEM, "out of memory");
    ember_status s = src ? ember_chat_template_create(src, len, &cv->tmpl) : ember_chat_template_builtin(builtin, &cv->tmpl);
    if (!s) s = chat_conv_clear(cv, NULL);
    if (s) {
        chat_conv_destroy(cv);
        return s;
    }
    *out = cv;
    return EMBER_OK;
}

void chat_conv_destroy(chat_conv *cv) {
    if (!cv) return;
    ember_jvalue_release(cv->messages);
    ember_chat_template_destroy(cv->tmpl);
    free(cv);
}

ember_status chat_conv_clear(chat_conv *cv, const char *system) {
    ember_jvalue_release(cv->messages);
    if (!(cv->messages = ember_jvalue_list())) return ember_fail(EMBER_ERR_NOMEM, "out of memory");
    return system ? chat_conv_add(cv, "system", system, strlen(system)) : EMBER_OK;
}

ember_status chat_conv_add(chat_conv *cv, const char *role, const char *text, size_t len) {
    ember_jvalue *m = ember_jvalue_dict();
    ember_jvalue *r = ember_jvalue_string(role, strlen(role)), *t = ember_jvalue_string(text, len);
    if (!m || !r || !t) {
        ember_jvalue_release(m);
        ember_jvalue_release(r);
        ember_jvalue_release(t);
        return ember_fail(EMBER_ERR_NOMEM, "out of memory");
    }
    ember_status s = ember_jvalue_dict_set(m, "role", r); /* (the setters take over their value, also on failure) */
    if (s) {
        ember_jvalue_release(t);
        ember_jvalue_release(m);
        return s;
    }
    if ((s = ember_jvalue_dict_set(m, "content", t))) {
        ember_jvalue_release(m);
        return s;
    }
    return ember_jvalue_list_append(cv->messages, m);
}

size_t chat_conv_count(const chat_conv *cv) { return ember_jvalue_len(cv->messages); }

bool chat_conv_drop(chat_conv *cv, size_t from, size_t count) {
    size_t len = ember_jvalue_len(cv->messages);
    ember_jvalue *keep = ember_jvalue_list();
    if (!keep) return false;
    for (size_t i = 0; i < len; i++)
        if (i < from || i >= from + count)
            ember_jvalue_list_append(keep, ember_jvalue_retain((ember_jvalue *)ember_jvalue_at(cv->messages, i)));
    ember_jvalue_release(cv->messages);
    cv->messages = keep;
    return true;
}

ember_status chat_conv_render(const chat_conv *cv, const char *bos, const char *eos, char **out) {
    *out = NULL;
    ember_chat_params cp = {.messages = cv->messages, .add_generation_prompt = 1, .bos_token = bos, .eos_token = eos};
    char *text = NULL;
    ember_status s = ember_chat_template_render(cv->tmpl, &cp, &text);
    if (s) return s;
    *out = strdup(text);
    ember_free(text);
    return *out ? EMBER_OK : ember_fail(EMBER_ERR_NOMEM, "out of memory");
}
