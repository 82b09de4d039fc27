/* libFuzzer target for the GGUF reader: the bytes are a GGUF file; every key and tensor of an accepted file
 * is read back. Build and run: `make fuzz` then  build/fuzz/fuzz_gguf -max_total_time=60 CORPUS_DIR.
 * Not part of `make test`. */
#include "ember/gguf.h"

#include <string.h>

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size);

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size) {
    ember_gguf *g = NULL;
    if (ember_gguf_open_memory(data, size, "fuzz.gguf", &g) != EMBER_OK) return 0;
    volatile size_t sink = 0;
    for (int64_t i = 0; i < ember_gguf_kv_count(g); i++) {
        sink += strlen(ember_gguf_kv_key(g, i));
        (void)ember_gguf_kv_number(g, i);
        size_t len = 0;
        for (uint64_t j = 0; j < ember_gguf_kv_len(g, i) && j < 64; j++)
            if (ember_gguf_kv_str(g, i, j, &len)) sink += len;
    }
    for (int64_t i = 0; i < ember_gguf_tensor_count(g); i++) {
        const ember_gguf_tensor *t = ember_gguf_tensor_at(g, i);
        if (t && t->size) sink += ((const unsigned char *)t->data)[t->size - 1];
    }
    ember_gguf_close(g);
    return 0;
}
