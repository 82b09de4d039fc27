/* Pieces of the GGUF reader shared with the writer (not public). */
#ifndef EMBER_LLM_GGUF_INTERNAL_H
#define EMBER_LLM_GGUF_INTERNAL_H

#include "ember/gguf.h"

/* Bytes of one scalar of a metadata type; 0 for STRING, ARRAY and unknown codes. */
size_t gguf_scalar_size(uint32_t type);
/* Metadata entry i as stored: its key and the bytes from the type tag to the end of the value. */
bool gguf_kv_raw(const ember_gguf *g, int64_t i, const char **key, const uint8_t **raw, size_t *size);

#endif
