/* Helpers shared by the LLM verbs (generate, chat, logits, llm-bench): model + session setup from flags. */
#ifndef EMBER_CLI_LLM_CLI_H
#define EMBER_CLI_LLM_CLI_H

#include "cli/cli.h"
#include "ember/llm.h"
#include "ember/tokenizer.h"

/* Long-only option keys used by the LLM verbs. */
enum {
    OPT_CTX = 300, OPT_KV, OPT_TOKENS, OPT_ALL, OPT_TEMP, OPT_TOPK, OPT_TOPP, OPT_MINP, OPT_SEED, OPT_REPEAT,
    OPT_PRESENCE, OPT_FREQUENCY, OPT_STOP, OPT_SYSTEM, OPT_REPS, OPT_BATCH, OPT_NO_BOS, OPT_TOKENIZER,
    OPT_LAST_N, OPT_STOP_NONE,
};

typedef struct llm_cli {
    const char *model_path;
    int n_ctx, n_batch;
    ember_llm_kv_type kv;
    ember_llm *model;
    ember_llm_session *session;
    ember_pool *pool;
    ember_tokenizer *tok;
    int n_keep; /* tokens a context shift keeps (the BOS) */
} llm_cli;

/* Sampling flags shared by generate and chat (--temp --top-k --top-p --min-p --seed --repeat-penalty
 * --presence-penalty --frequency-penalty --last-n); true when the key was one of them. */
bool llm_cli_sampler_option(const cli_parser *p, ember_sampler_params *sp, int key, bool *bad);
#define LLM_CLI_SAMPLER_OPTS                                                                                  \
    {"temp", OPT_TEMP, "T", "temperature (default 0.8; 0 = greedy)"},                                        \
        {"top-k", OPT_TOPK, "K", "keep the K most likely tokens (default 40; 0 = off)"},                     \
        {"top-p", OPT_TOPP, "P", "nucleus sampling (default 0.95; 1 = off)"},                                \
        {"min-p", OPT_MINP, "P", "drop tokens below P x the top probability (default 0.05; 0 = off)"},       \
        {"seed", OPT_SEED, "S", "random seed (default: from the clock)"},                                    \
        {"repeat-penalty", OPT_REPEAT, "R", "penalize recent tokens (default 1 = off)"},                     \
        {"presence-penalty", OPT_PRESENCE, "A", "subtract A from recent tokens' logits (default 0)"},        \
        {"frequency-penalty", OPT_FREQUENCY, "A", "subtract A per recent occurrence (default 0)"},           \
        {"last-n", OPT_LAST_N, "N", "how many recent tokens the penalties see (default 64)"}
/* Open the tokenizer: `path`, else the GGUF's own, else tokenizer.bin beside a llama2.c checkpoint. Prints the
 * error and returns the exit code (0 ok). */
int llm_cli_open_tokenizer(llm_cli *c, const char *path);
/* Evaluate n tokens, shifting the context (keep n_keep, drop half of the rest) when they do not fit. */
ember_status llm_cli_feed(llm_cli *c, const int32_t *ids, int n, const float **logits);

/* Streams generated text to a FILE, holding back what could be the start of a stop string. */
typedef struct llm_stream {
    FILE *out;
    const char *const *stops;
    int nstops;
    char *buf;
    size_t len, cap;
    bool stopped; /* a stop string was seen; nothing after it is written */
} llm_stream;
/* Add text; returns false once a stop string was seen. */
bool llm_stream_push(llm_stream *st, const char *text, size_t n);
/* Write what is held back (unless stopped) and free the buffer. */
void llm_stream_end(llm_stream *st);
/* The text of token `id` following `prev` (the leading space after BOS dropped, as llama2.c does), in buf. */
size_t llm_cli_piece(const llm_cli *c, int32_t prev, int32_t id, char *buf, size_t cap);

/* Handle --ctx/--kv/--batch; returns true when the key was one of them (false + usage error sets *bad). */
bool llm_cli_option(const cli_parser *p, llm_cli *c, int key, bool *bad);
/* Open the model, a pool of p->threads and a session. Prints the error and returns the exit code (0 ok). */
int llm_cli_open(const cli_parser *p, llm_cli *c);
void llm_cli_close(llm_cli *c);
/* Parse "1,2,3" into a new array (free with free()). Returns false on a bad list. */
bool llm_cli_parse_ids(const char *text, int32_t **ids, int *n);
double llm_cli_now(void);

#endif
