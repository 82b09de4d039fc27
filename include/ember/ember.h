/* Ember: run ONNX models and GGUF language models on small CPUs. This header includes the whole public API.
 *
 * Usage:
 *
 *     #include <ember/ember.h>
 *
 *     printf("ember %s\n", ember_version());
 *     ember_pool *pool = NULL;
 *     if (ember_pool_create(0, &pool) != EMBER_OK) {
 *         fprintf(stderr, "%s\n", ember_last_error());
 *         return 1;
 *     }
 *     ...
 *     ember_pool_destroy(pool);
 *
 * Build against it with `pkg-config --cflags --libs ember`. Conventions shared by every module:
 * functions are ember_<module>_<verb>, fallible ones return ember_status (see status.h), results come back
 * through out-parameters, and each prototype says who frees what.
 */
#ifndef EMBER_EMBER_H
#define EMBER_EMBER_H

#include "ember/status.h"
#include "ember/tensor.h"
#include "ember/threadpool.h"
#include "ember/cpu.h"
#include "ember/tensorio.h"
#include "ember/onnx.h"
#include "ember/tokenizer.h"
#include "ember/gguf.h"
#include "ember/llm.h"
#include "ember/chat_template.h"

#define EMBER_VERSION_MAJOR 0
#define EMBER_VERSION_MINOR 1
#define EMBER_VERSION_PATCH 0

#ifdef __cplusplus
extern "C" {
#endif

/* "0.1.0" */
EMBER_API const char *ember_version(void);

#ifdef __cplusplus
}
#endif
#endif
