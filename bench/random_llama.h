/* A random-weight llama model written as F16 GGUF with Ember's writer, with a placeholder SentencePiece
 * vocabulary (<unk> <s> </s>, the 256 byte tokens, then "t<i>") so llama.cpp loads it too. Weights are small
 * uniform values from a fixed seed. Used by bench/llm_model.c (TinyLlama's shape) and tests (tiny shapes):
 *
 *     random_llama shape = {.dim = 64, .heads = 4, .kv_heads = 2, .ff = 128, .vocab = 300, .ctx = 64, .layers = 1};
 *     if (random_llama_write("tiny.gguf", &shape) != EMBER_OK) puts(ember_last_error());
 */
#ifndef EMBER_BENCH_RANDOM_LLAMA_H
#define EMBER_BENCH_RANDOM_LLAMA_H

#include "ember/gguf.h"
#include "ember/tensor.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct random_llama {
    int dim, heads, kv_heads, ff, vocab, ctx, layers; /* vocab > 259 */
    const char *name;                                 /* general.name; NULL: "random-llama" */
} random_llama;

typedef struct {
    int64_t count;
    bool norm; /* F32 ones */
} random_llama_tensor;

typedef struct {
    random_llama_tensor *t;
    int n;
} random_llama_tensors;

static ember_status random_llama_fill(void *user, int64_t index, void *buf, size_t nbytes) {
    (void)nbytes;
    const random_llama_tensor *t = &((const random_llama_tensors *)user)->t[index];
    if (t->norm) {
        float *f = buf;
        for (int64_t i = 0; i < t->count; i++) f[i] = 1.0f;
        return EMBER_OK;
    }
    uint16_t *h = buf;
    uint64_t x = 0x9e3779b97f4a7c15ull * (uint64_t)(index + 1);
    for (int64_t i = 0; i < t->count; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        float v = ((float)(x >> 40) / (float)(1 << 24) - 0.5f) * 0.04f;
        h[i] = ember_f32_to_f16(v);
    }
    return EMBER_OK;
}

/* A matrix d0 x d1 (F16), or a norm vector of d0 (F32 ones) when d1 is 0. */
static ember_status random_llama_add(ember_gguf_writer *w, random_llama_tensors *ts, const char *name, int64_t d0,
                                     int64_t d1) {
    int64_t dims[2] = {d0, d1};
    bool norm = d1 == 0;
    ts->t[ts->n++] = (random_llama_tensor){norm ? d0 : d0 * d1, norm};
    return ember_gguf_writer_add_tensor(w, name, norm ? EMBER_GGML_F32 : EMBER_GGML_F16, norm ? 1 : 2, dims, NULL);
}

static ember_status random_llama_write(const char *path, const random_llama *sh) {
    ember_gguf_writer *w = NULL;
    ember_status s = ember_gguf_writer_create(&w);
    if (s) return s;
    random_llama_tensors ts = {calloc((size_t)(9 * sh->layers + 3), sizeof *ts.t), 0};
    char **tok = calloc((size_t)sh->vocab, sizeof *tok);
    float *scores = malloc((size_t)sh->vocab * sizeof *scores);
    int32_t *types = malloc((size_t)sh->vocab * sizeof *types);
    if (!ts.t || !tok || !scores || !types) {
        s = ember_fail(EMBER_ERR_NOMEM, "random_llama: no memory");
        goto done;
    }
    ember_gguf_writer_set_str(w, "general.architecture", "llama");
    ember_gguf_writer_set_str(w, "general.name", sh->name ? sh->name : "random-llama");
    ember_gguf_writer_set_u32(w, "general.file_type", 1);
    ember_gguf_writer_set_u32(w, "llama.context_length", (uint32_t)sh->ctx);
    ember_gguf_writer_set_u32(w, "llama.embedding_length", (uint32_t)sh->dim);
    ember_gguf_writer_set_u32(w, "llama.block_count", (uint32_t)sh->layers);
    ember_gguf_writer_set_u32(w, "llama.feed_forward_length", (uint32_t)sh->ff);
    ember_gguf_writer_set_u32(w, "llama.attention.head_count", (uint32_t)sh->heads);
    ember_gguf_writer_set_u32(w, "llama.attention.head_count_kv", (uint32_t)sh->kv_heads);
    ember_gguf_writer_set_u32(w, "llama.rope.dimension_count", (uint32_t)(sh->dim / sh->heads));
    ember_gguf_writer_set_f32(w, "llama.rope.freq_base", 10000.0f);
    ember_gguf_writer_set_f32(w, "llama.attention.layer_norm_rms_epsilon", 1e-5f);
    for (int i = 0; i < sh->vocab; i++) {
        if (!(tok[i] = malloc(16))) {
            s = ember_fail(EMBER_ERR_NOMEM, "random_llama: no memory");
            goto done;
        }
        if (i == 0) strcpy(tok[i], "<unk>");
        else if (i == 1) strcpy(tok[i], "<s>");
        else if (i == 2) strcpy(tok[i], "</s>");
        else if (i < 259) snprintf(tok[i], 16, "<0x%02X>", i - 3);
        else snprintf(tok[i], 16, "t%d", i);
        scores[i] = -(float)i;
        types[i] = i == 0 ? 2 : i < 3 ? 3 : i < 259 ? 6 : 1;
    }
    ember_gguf_writer_set_str(w, "tokenizer.ggml.model", "llama");
    ember_gguf_writer_set_strs(w, "tokenizer.ggml.tokens", (const char *const *)tok, NULL, sh->vocab);
    ember_gguf_writer_set_array(w, "tokenizer.ggml.scores", EMBER_GGUF_FLOAT32, scores, (uint64_t)sh->vocab);
    ember_gguf_writer_set_array(w, "tokenizer.ggml.token_type", EMBER_GGUF_INT32, types, (uint64_t)sh->vocab);
    ember_gguf_writer_set_u32(w, "tokenizer.ggml.bos_token_id", 1);
    ember_gguf_writer_set_u32(w, "tokenizer.ggml.eos_token_id", 2);
    ember_gguf_writer_set_u32(w, "tokenizer.ggml.unknown_token_id", 0);

    int kvd = sh->dim / sh->heads * sh->kv_heads;
    random_llama_add(w, &ts, "token_embd.weight", sh->dim, sh->vocab);
    for (int l = 0; l < sh->layers; l++) {
        char n[64];
#define T(suffix, d0, d1) (snprintf(n, sizeof n, "blk.%d." suffix, l), random_llama_add(w, &ts, n, d0, d1))
        T("attn_norm.weight", sh->dim, 0);
        T("attn_q.weight", sh->dim, sh->dim);
        T("attn_k.weight", sh->dim, kvd);
        T("attn_v.weight", sh->dim, kvd);
        T("attn_output.weight", sh->dim, sh->dim);
        T("ffn_norm.weight", sh->dim, 0);
        T("ffn_gate.weight", sh->dim, sh->ff);
        T("ffn_up.weight", sh->dim, sh->ff);
        T("ffn_down.weight", sh->ff, sh->dim);
#undef T
    }
    random_llama_add(w, &ts, "output_norm.weight", sh->dim, 0);
    random_llama_add(w, &ts, "output.weight", sh->dim, sh->vocab);
    s = ember_gguf_writer_write(w, path, random_llama_fill, &ts);
done:
    for (int i = 0; tok && i < sh->vocab; i++) free(tok[i]);
    free(tok);
    free(scores);
    free(types);
    free(ts.t);
    ember_gguf_writer_destroy(w);
    return s;
}

#endif
