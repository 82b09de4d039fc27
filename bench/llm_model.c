/* Writes a random-weight llama model of TinyLlama-1.1B's shape as F16 GGUF (random_llama.h), for
 * bench/llm.sh.
 *   build/bench/llm_model OUT.gguf [layers]
 */
#include "random_llama.h"

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: %s OUT.gguf [layers]\n", argv[0]);
        return 2;
    }
    int layers = argc > 2 ? atoi(argv[2]) : 22;
    if (layers < 1 || layers > 100) layers = 22;
    random_llama tinyllama = {.dim = 2048, .heads = 32, .kv_heads = 4, .ff = 5632, .vocab = 32000, .ctx = 2048,
                              .layers = layers, .name = "tinyllama-shaped-random"};
    if (random_llama_write(argv[1], &tinyllama) == EMBER_OK) return 0;
    fprintf(stderr, "llm_model: %s\n", ember_last_error());
    return 1;
}
