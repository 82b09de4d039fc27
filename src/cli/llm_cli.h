/* Helpers shared by the LLM verbs (generate, chat, logits, llm-bench): model + session setup from flags. */
#ifndef EMBER_CLI_LLM_CLI_H
#define EMBER_CLI_LLM_CLI_H

#include "cli/cli.h"
#include "ember/llm.h"

/* Long-only option keys used by the LLM verbs. */
enum {
    OPT_CTX = 300, OPT_KV, OPT_TOKENS, OPT_ALL, OPT_TEMP, OPT_TOPK, OPT_TOPP, OPT_MINP, OPT_SEED, OPT_REPEAT,
    OPT_PRESENCE, OPT_FREQUENCY, OPT_STOP, OPT_SYSTEM, OPT_REPS, OPT_BATCH, OPT_NO_BOS, OPT_TOKENIZER,
    OPT_LAST_N,
};

typedef struct llm_cli {
    const char *model_path;
    int n_ctx, n_batch;
    ember_llm_kv_type kv;
    ember_llm *model;
    ember_llm_session *session;
    ember_pool *pool;
} llm_cli;

/* Handle --ctx/--kv/--batch; returns true when the key was one of them (false + usage error sets *bad). */
bool llm_cli_option(const cli_parser *p, llm_cli *c, int key, bool *bad);
/* Open the model, a pool of p->threads and a session. Prints the error and returns the exit code (0 ok). */
int llm_cli_open(const cli_parser *p, llm_cli *c);
void llm_cli_close(llm_cli *c);
/* Parse "1,2,3" into a new array (free with free()). Returns false on a bad list. */
bool llm_cli_parse_ids(const char *text, int32_t **ids, int *n);
double llm_cli_now(void);

#endif
