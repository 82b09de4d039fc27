/* The loaded model as the forward pass sees it (shared by model.c, forward.c and quantize.c). */
#ifndef EMBER_LLM_INTERNAL_H
#define EMBER_LLM_INTERNAL_H

#include "ember/llm.h"

#include "core/arena.h"
#include "core/mapfile.h"
#include "kernels/quant.h"

/* A 2-D weight: `rows` rows of `cols` elements, each row_bytes long, used in place from the file. */
typedef struct lm_weight {
    const void *data;
    const quant_type *qt;
    int64_t rows, cols;
    size_t row_bytes;
    void *packed8; /* the rows interleaved 8 at a time for qt->dot8 (generation), or NULL; in the model's packed */
} lm_weight;

typedef struct lm_layer {
    const float *attn_norm, *ffn_norm;
    const float *bq, *bk, *bv;      /* qwen2: biases (NULL otherwise) */
    const float *q_norm, *k_norm;   /* qwen3: per-head RMSNorm weights [head_dim] (NULL otherwise) */
    lm_weight wq, wk, wv, wo, w_gate, w_up, w_down;
} lm_layer;

struct ember_llm {
    ember_llm_info info;
    ember_gguf *gguf; /* GGUF models */
    ember_map map;    /* llama2.c checkpoints */
    lm_weight tok_embd, output;
    const float *output_norm;
    const float *rope_freqs; /* [n_rot/2] frequency divisors, or NULL */
    lm_layer *layers;
    ember_arena arena; /* converted 1-D tensors */
    void *packed;      /* one allocation holding every weight's packed8 copy (2 MiB-aligned inside) */
};

#endif
