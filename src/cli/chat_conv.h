/* The conversation of `ember chat`: its messages and their rendering with a chat template. Kept apart from the
 * verb because ember/chat_template.h and ember/onnx.h (through ember/ember.h) both declare an `ember_value`
 * type, so no file can include both; this file includes only the former.
 *
 *     chat_conv *cv = NULL;
 *     chat_conv_create(NULL, 0, "chatml", &cv);          // or the template's source text
 *     chat_conv_clear(cv, "You are terse.");             // system message (NULL: none)
 *     chat_conv_add(cv, "user", "Hi!", 3);
 *     char *prompt = NULL;
 *     chat_conv_render(cv, "<s>", "</s>", &prompt);      // with the assistant header; free()
 */
#ifndef EMBER_CLI_CHAT_CONV_H
#define EMBER_CLI_CHAT_CONV_H

#include "ember/status.h"

#include <stdbool.h>
#include <stddef.h>

typedef struct chat_conv chat_conv;

/* A template from its Jinja source (src, len) or, when src is NULL, the built-in one called `builtin`. */
ember_status chat_conv_create(const char *src, size_t len, const char *builtin, chat_conv **out);
void chat_conv_destroy(chat_conv *cv);
/* Forget every message; start with a system message when `system` is not NULL. */
ember_status chat_conv_clear(chat_conv *cv, const char *system);
ember_status chat_conv_add(chat_conv *cv, const char *role, const char *text, size_t len);
size_t chat_conv_count(const chat_conv *cv);
/* Remove messages [from, from + count); false when out of memory. */
bool chat_conv_drop(chat_conv *cv, size_t from, size_t count);
/* The conversation as text, ending with the header of an assistant turn. *out is freed with free(). */
ember_status chat_conv_render(const chat_conv *cv, const char *bos, const char *eos, char **out);

#endif
