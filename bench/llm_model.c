/* Writes a random-weight llama model of TinyLlama-1.1B's shape as F16 GGUF (with a placeholder SentencePiece
 * vocabulary so llama.cpp loads it too), for bench/llm.sh. Weights are small uniform values from a fixed seed.
 *   build/bench/llm_model OUT.gguf [layers]
 */
#include "ember/gguf.h"
#include "ember/tensor.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { DIM = 2048, HEADS = 32, KV_HEADS = 4, FF = 5632, VOCAB = 32000, CTX = 2048 };

typedef struct {
    int64_t count;
    bool norm; /* F32 ones */
} tinfo;

static tinfo infos[1024];

static ember_status fill(void *user, int64_t index, void *buf, size_t nbytes) {
    (void)user;
    (void)nbytes;
    const tinfo *t = &infos[index];
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

static int n_tensors;
static ember_status add(ember_gguf_writer *w, const char *name, int64_t d0, int64_t d1) {
    int64_t dims[2] = {d0, d1};
    bool norm = d1 == 0;
    infos[n_tensors].count = norm ? d0 : d0 * d1;
    infos[n_tensors].norm = norm;
    n_tensors++;
    return ember_gguf_writer_add_tensor(w, name, norm ? EMBER_GGML_F32 : EMBER_GGML_F16, norm ? 1 : 2, dims, NULL);
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: %s OUT.gguf [layers]\n", argv[0]);
        return 2;
    }
    int layers = argc > 2 ? atoi(argv[2]) : 22;
    if (layers < 1 || layers > 100) layers = 22;
    ember_gguf_writer *w = NULL;
    ember_status s = ember_gguf_writer_create(&w);
    if (s) goto fail;
    ember_gguf_writer_set_str(w, "general.architecture", "llama");
    ember_gguf_writer_set_str(w, "general.name", "tinyllama-shaped-random");
    ember_gguf_writer_set_u32(w, "general.file_type", 1);
    ember_gguf_writer_set_u32(w, "llama.context_length", CTX);
    ember_gguf_writer_set_u32(w, "llama.embedding_length", DIM);
    ember_gguf_writer_set_u32(w, "llama.block_count", (uint32_t)layers);
    ember_gguf_writer_set_u32(w, "llama.feed_forward_length", FF);
    ember_gguf_writer_set_u32(w, "llama.attention.head_count", HEADS);
    ember_gguf_writer_set_u32(w, "llama.attention.head_count_kv", KV_HEADS);
    ember_gguf_writer_set_u32(w, "llama.rope.dimension_count", DIM / HEADS);
    ember_gguf_writer_set_f32(w, "llama.rope.freq_base", 10000.0f);
    ember_gguf_writer_set_f32(w, "llama.attention.layer_norm_rms_epsilon", 1e-5f);
    /* placeholder vocabulary: <unk> <s> </s>, the 256 byte tokens, then "t<i>" */
    char **tok = malloc(VOCAB * sizeof *tok);
    float *scores = malloc(VOCAB * sizeof *scores);
    int32_t *types = malloc(VOCAB * sizeof *types);
    if (!tok || !scores || !types) return 1;
    for (int i = 0; i < VOCAB; i++) {
        tok[i] = malloc(16);
        if (i == 0) strcpy(tok[i], "<unk>");
        else if (i == 1) strcpy(tok[i], "<s>");
        else if (i == 2) strcpy(tok[i], "</s>");
        else if (i < 259) snprintf(tok[i], 16, "<0x%02X>", i - 3);
        else snprintf(tok[i], 16, "t%d", i);
        scores[i] = -(float)i;
        types[i] = i == 0 ? 2 : i < 3 ? 3 : i < 259 ? 6 : 1;
    }
    ember_gguf_writer_set_str(w, "tokenizer.ggml.model", "llama");
    ember_gguf_writer_set_strs(w, "tokenizer.ggml.tokens", (const char *const *)tok, NULL, VOCAB);
    ember_gguf_writer_set_array(w, "tokenizer.ggml.scores", EMBER_GGUF_FLOAT32, scores, VOCAB);
    ember_gguf_writer_set_array(w, "tokenizer.ggml.token_type", EMBER_GGUF_INT32, types, VOCAB);
    ember_gguf_writer_set_u32(w, "tokenizer.ggml.bos_token_id", 1);
    ember_gguf_writer_set_u32(w, "tokenizer.ggml.eos_token_id", 2);
    ember_gguf_writer_set_u32(w, "tokenizer.ggml.unknown_token_id", 0);

    int kvd = DIM / HEADS * KV_HEADS;
    add(w, "token_embd.weight", DIM, VOCAB);
    for (int l = 0; l < layers; l++) {
        char n[64];
#define T(suffix, d0, d1) (snprintf(n, sizeof n, "blk.%d." suffix, l), add(w, n, d0, d1))
        T("attn_norm.weight", DIM, 0);
        T("attn_q.weight", DIM, DIM);
        T("attn_k.weight", DIM, kvd);
        T("attn_v.weight", DIM, kvd);
        T("attn_output.weight", DIM, DIM);
        T("ffn_norm.weight", DIM, 0);
        T("ffn_gate.weight", DIM, FF);
        T("ffn_up.weight", DIM, FF);
        T("ffn_down.weight", FF, DIM);
#undef T
    }
    add(w, "output_norm.weight", DIM, 0);
    add(w, "output.weight", DIM, VOCAB);
    s = ember_gguf_writer_write(w, argv[1], fill, NULL);
    for (int i = 0; i < VOCAB; i++) free(tok[i]);
    free(tok);
    free(scores);
    free(types);
    ember_gguf_writer_destroy(w);
    if (!s) return 0;
fail:
    fprintf(stderr, "llm_model: %s\n", ember_last_error());
    return 1;
}
