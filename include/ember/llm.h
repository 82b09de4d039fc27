/* Transformer language models from GGUF files (llama, qwen2, qwen3 families) and llama2.c checkpoints:
 * load, run prompts and generation steps with a KV cache, and sample the next token.
 *
 * Usage:
 *
 *     ember_llm *model = NULL;
 *     if (ember_llm_open("model.gguf", &model) != EMBER_OK) {       // weights are mmapped, not copied
 *         fprintf(stderr, "%s\n", ember_last_error());
 *         return 2;
 *     }
 *     ember_llm_session_options so = ember_llm_session_defaults();  // n_ctx, threads, KV cache type
 *     ember_llm_session *s = NULL;
 *     ember_llm_session_create(model, &so, &s);
 *     const int32_t prompt[] = {1, 403, 407};
 *     const float *logits = NULL;
 *     ember_llm_eval(s, prompt, 3, &logits);                         // logits of the last token, owned by s
 *     ember_sampler_params sp = ember_sampler_defaults();             // temperature 0.8, top-k 40, ...
 *     ember_sampler *smp = NULL;
 *     ember_sampler_create(&sp, &smp);
 *     int32_t next = ember_sampler_sample(smp, logits, ember_llm_info_get(model)->n_vocab);
 *     ember_llm_eval(s, &next, 1, &logits);                          // one generation step
 *     ember_sampler_destroy(smp);
 *     ember_llm_session_destroy(s);
 *     ember_llm_close(model);
 *
 * A model is read-only after open and may serve several sessions (each with its own KV cache) from
 * different threads. A session is used by one thread at a time.
 */
#ifndef EMBER_LLM_H
#define EMBER_LLM_H

#include "ember/gguf.h"
#include "ember/threadpool.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct ember_llm ember_llm;
typedef struct ember_llm_session ember_llm_session;

typedef enum ember_llm_arch { EMBER_LLM_LLAMA, EMBER_LLM_QWEN2, EMBER_LLM_QWEN3 } ember_llm_arch;

/* What the model is, read from its metadata. */
typedef struct ember_llm_info {
    ember_llm_arch arch;
    char arch_name[32];    /* "llama", "qwen2", "qwen3" */
    int n_vocab, n_embd, n_layer, n_ff, n_head, n_head_kv, head_dim, n_rot, n_ctx_train;
    float norm_eps, rope_theta, rope_scale; /* rope_scale: linear position scaling (1 = none) */
    bool rope_neox;        /* rotate (i, i + n_rot/2) instead of adjacent pairs */
    bool tied_output;      /* the LM head is the token embedding */
    bool has_rope_freqs;   /* per-dimension frequency factors (Llama-3.1 style rope scaling) */
    int32_t bos, eos;      /* -1 when unknown */
    ember_ggml_type main_type; /* the type most weight bytes are stored in */
    uint64_t n_params, weight_bytes;
    const ember_gguf *gguf; /* the file's metadata (NULL for llama2.c checkpoints); owned by the model */
} ember_llm_info;

/* Open a GGUF file or a llama2.c checkpoint (.bin). Unsupported architectures or weight types give
 * EMBER_ERR_UNSUPPORTED naming everything that is missing. *out is freed with ember_llm_close. */
EMBER_API ember_status ember_llm_open(const char *path, ember_llm **out);
EMBER_API void ember_llm_close(ember_llm *m);
/* Owned by the model. */
EMBER_API const ember_llm_info *ember_llm_info_get(const ember_llm *m);

/* AUTO: F32 for F32 models (exact), F16 otherwise. Q8 needs a head size divisible by 32. */
typedef enum ember_llm_kv_type {
    EMBER_LLM_KV_AUTO = 0,
    EMBER_LLM_KV_F16 = 1,
    EMBER_LLM_KV_Q8 = 2,
    EMBER_LLM_KV_F32 = 3
} ember_llm_kv_type;

typedef struct ember_llm_session_options {
    int n_ctx;            /* KV cache length in tokens; 0 = min(model's training context, 4096) */
    int n_batch;          /* prompt tokens processed together (default 64) */
    int n_threads;        /* 0 = one per core; ignored when pool is given */
    ember_pool *pool;     /* borrowed; NULL: the session creates its own */
    ember_llm_kv_type kv_type;
} ember_llm_session_options;

EMBER_API ember_llm_session_options ember_llm_session_defaults(void);
/* The model must outlive the session. Free with ember_llm_session_destroy. */
EMBER_API ember_status ember_llm_session_create(ember_llm *m, const ember_llm_session_options *o,
                                                ember_llm_session **out);
EMBER_API void ember_llm_session_destroy(ember_llm_session *s);

/* Append n tokens at the current position and compute; *logits (if not NULL) gets the last token's n_vocab
 * logits, owned by the session and valid until the next call. EMBER_ERR_ARG for a token outside the
 * vocabulary or when the context is full (the message says so; nothing is appended then). */
EMBER_API ember_status ember_llm_eval(ember_llm_session *s, const int32_t *tokens, int n, const float **logits);
/* Like ember_llm_eval but writes the logits of every one of the n tokens to out[n][n_vocab]. */
EMBER_API ember_status ember_llm_eval_all(ember_llm_session *s, const int32_t *tokens, int n, float *out);
/* Tokens in the cache. */
EMBER_API int ember_llm_pos(const ember_llm_session *s);
EMBER_API int ember_llm_n_ctx(const ember_llm_session *s);
/* Forget everything after the first `pos` tokens (0 resets; e.g. to retry a reply). */
EMBER_API void ember_llm_rewind(ember_llm_session *s, int pos);
/* Context shift for when the cache is full: forget the `discard` tokens after the first `keep` (e.g. keep the
 * BOS and drop the older half of the rest); later tokens move down and their keys are re-rotated, so the
 * conversation continues without recomputing. EMBER_ERR_ARG when keep + discard exceed the cached tokens. */
EMBER_API ember_status ember_llm_shift(ember_llm_session *s, int keep, int discard);

/* --- sampling ------------------------------------------------------------------------------------------ */
typedef struct ember_sampler_params {
    float temperature;        /* <= 0: greedy (argmax) */
    int top_k;                /* <= 0: off */
    float top_p;              /* >= 1: off */
    float min_p;              /* <= 0: off; keep tokens with p >= min_p * p_max */
    float repeat_penalty;     /* 1: off; logits of recent tokens: positive / penalty, negative * penalty */
    float presence_penalty;   /* 0: off; subtracted once from tokens seen recently */
    float frequency_penalty;  /* 0: off; subtracted per occurrence */
    int penalty_last_n;       /* how many recent tokens the penalties look at (default 64) */
    uint64_t seed;
} ember_sampler_params;

typedef struct ember_sampler ember_sampler;

/* temperature 0.8, top_k 40, top_p 0.95, min_p 0.05, repeat_penalty 1, penalty_last_n 64, seed 0. */
EMBER_API ember_sampler_params ember_sampler_defaults(void);
EMBER_API ember_status ember_sampler_create(const ember_sampler_params *p, ember_sampler **out);
EMBER_API void ember_sampler_destroy(ember_sampler *s);
/* Pick the next token from n_vocab logits (not modified) and remember it for the penalties. */
EMBER_API int32_t ember_sampler_sample(ember_sampler *s, const float *logits, int n_vocab);
/* Remember a token without sampling it (prompt tokens, for the penalties). */
EMBER_API void ember_sampler_accept(ember_sampler *s, int32_t token);
EMBER_API void ember_sampler_reset(ember_sampler *s);

/* --- quantization -------------------------------------------------------------------------------------- */
/* Write `in` (GGUF) to `out` with 2-D weights converted to `type` (norms, biases and rows not divisible by
 * the block stay as they are; token_embd/output may use a wider type as llama.cpp does for the k-quants).
 * Metadata is copied; general.file_type is updated. pool may be NULL; progress (may be NULL) hears of each
 * converted tensor. */
EMBER_API ember_status ember_llm_quantize(const char *in, const char *out, ember_ggml_type type, ember_pool *pool,
                                          ember_progress_fn progress, void *progress_user);

#ifdef __cplusplus
}
#endif
#endif
