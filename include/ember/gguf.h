/* GGUF files (v2 and v3): read metadata and tensors in place from a memory map, and write new files.
 *
 * Usage (reading):
 *
 *     ember_gguf *g = NULL;
 *     if (ember_gguf_open("model.gguf", &g) != EMBER_OK) {
 *         fprintf(stderr, "%s\n", ember_last_error());     // names the file, the key/tensor and the offset
 *         return 2;
 *     }
 *     const char *arch = NULL;
 *     ember_gguf_get_str(g, "general.architecture", &arch);              // NUL-terminated, owned by g
 *     int64_t n_layer = 0;
 *     ember_gguf_get_int(g, "llama.block_count", &n_layer);              // any integer type, range-checked
 *     const char *const *tokens; uint64_t n_tokens;
 *     ember_gguf_get_strs(g, "tokenizer.ggml.tokens", &tokens, NULL, &n_tokens);   // owned by g
 *     float *scores; uint64_t n_scores;
 *     ember_gguf_get_f32s(g, "tokenizer.ggml.scores", &scores, &n_scores);        // caller frees (ember_free)
 *     const ember_gguf_tensor *t = ember_gguf_find_tensor(g, "token_embd.weight");
 *     // t->data points into the mapped file; t->dims[0] is the innermost (contiguous) dimension.
 *     ember_gguf_close(g);
 *
 * Usage (writing):
 *
 *     ember_gguf_writer *w = NULL;
 *     ember_gguf_writer_create(&w);
 *     ember_gguf_writer_set_str(w, "general.architecture", "llama");
 *     ember_gguf_writer_set_u32(w, "llama.block_count", 2);
 *     int64_t dims[2] = {256, 512};
 *     ember_gguf_writer_add_tensor(w, "output.weight", EMBER_GGML_F32, 2, dims, data);   // data borrowed
 *     ember_gguf_writer_write(w, "out.gguf", NULL, NULL);
 *     ember_gguf_writer_destroy(w);
 *
 * The reader validates everything while opening (magic, version, every string, array and tensor bound,
 * alignment, duplicate keys and names, tensor sizes against the file) so later accessors cannot fail on a
 * bad file. Multi-byte values are little-endian; big-endian GGUF files are refused.
 */
#ifndef EMBER_GGUF_H
#define EMBER_GGUF_H

#include "ember/status.h"

#include <stdbool.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Metadata value types (GGUF spec numbering). */
typedef enum ember_gguf_type {
    EMBER_GGUF_UINT8 = 0,
    EMBER_GGUF_INT8 = 1,
    EMBER_GGUF_UINT16 = 2,
    EMBER_GGUF_INT16 = 3,
    EMBER_GGUF_UINT32 = 4,
    EMBER_GGUF_INT32 = 5,
    EMBER_GGUF_FLOAT32 = 6,
    EMBER_GGUF_BOOL = 7,
    EMBER_GGUF_STRING = 8,
    EMBER_GGUF_ARRAY = 9,
    EMBER_GGUF_UINT64 = 10,
    EMBER_GGUF_INT64 = 11,
    EMBER_GGUF_FLOAT64 = 12,
    EMBER_GGUF_TYPE_COUNT
} ember_gguf_type;

/* Tensor element types (ggml numbering). All are recognised by the reader; which ones the LLM engine
 * computes with is up to it (see llm.h). */
typedef enum ember_ggml_type {
    EMBER_GGML_F32 = 0,
    EMBER_GGML_F16 = 1,
    EMBER_GGML_Q4_0 = 2,
    EMBER_GGML_Q4_1 = 3,
    EMBER_GGML_Q5_0 = 6,
    EMBER_GGML_Q5_1 = 7,
    EMBER_GGML_Q8_0 = 8,
    EMBER_GGML_Q8_1 = 9,
    EMBER_GGML_Q2_K = 10,
    EMBER_GGML_Q3_K = 11,
    EMBER_GGML_Q4_K = 12,
    EMBER_GGML_Q5_K = 13,
    EMBER_GGML_Q6_K = 14,
    EMBER_GGML_Q8_K = 15,
    EMBER_GGML_IQ2_XXS = 16,
    EMBER_GGML_IQ2_XS = 17,
    EMBER_GGML_IQ3_XXS = 18,
    EMBER_GGML_IQ1_S = 19,
    EMBER_GGML_IQ4_NL = 20,
    EMBER_GGML_IQ3_S = 21,
    EMBER_GGML_IQ2_S = 22,
    EMBER_GGML_IQ4_XS = 23,
    EMBER_GGML_I8 = 24,
    EMBER_GGML_I16 = 25,
    EMBER_GGML_I32 = 26,
    EMBER_GGML_I64 = 27,
    EMBER_GGML_F64 = 28,
    EMBER_GGML_IQ1_M = 29,
    EMBER_GGML_BF16 = 30,
    EMBER_GGML_TQ1_0 = 34,
    EMBER_GGML_TQ2_0 = 35,
    EMBER_GGML_TYPE_COUNT = 40
} ember_ggml_type;

enum { EMBER_GGUF_MAX_DIMS = 4, EMBER_GGUF_DEFAULT_ALIGNMENT = 32 };

/* "UINT32", "STRING", ... ("?" when unknown). */
EMBER_API const char *ember_gguf_type_name(ember_gguf_type t);
/* "F32", "Q4_K", ... ("?" when unknown). */
EMBER_API const char *ember_ggml_type_name(ember_ggml_type t);
/* Inverse of ember_ggml_type_name (case-insensitive); -1 when unknown. */
EMBER_API int ember_ggml_type_from_name(const char *name);
/* Elements per block and bytes per block; false for an unknown type code. */
EMBER_API bool ember_ggml_type_block(ember_ggml_type t, int64_t *block_elems, int64_t *block_bytes);
/* Bytes of `n` elements (n must be a multiple of the block size); false on unknown type, bad n or overflow. */
EMBER_API bool ember_ggml_type_bytes(ember_ggml_type t, int64_t n, size_t *bytes);

/* --- reading --------------------------------------------------------------------------------------------- */
typedef struct ember_gguf ember_gguf;

typedef struct ember_gguf_tensor {
    const char *name;         /* NUL-terminated, owned by the ember_gguf */
    ember_ggml_type type;
    int ndim;                 /* 1..4 */
    int64_t dims[EMBER_GGUF_MAX_DIMS]; /* dims[0] is the innermost (contiguous) dimension; unused dims are 1 */
    int64_t count;            /* elements */
    uint64_t offset;          /* from the start of the tensor data section */
    size_t size;              /* bytes */
    const void *data;         /* in the mapped file (read-only) */
} ember_gguf_tensor;

/* Map and validate a GGUF file. *out is freed with ember_gguf_close. Errors name the file, what was wrong
 * (key, tensor, byte offset) and what was expected. */
EMBER_API ember_status ember_gguf_open(const char *path, ember_gguf **out);
/* Same over a caller's buffer, which must outlive the handle (not copied). `name` is used in messages. */
EMBER_API ember_status ember_gguf_open_memory(const void *data, size_t size, const char *name, ember_gguf **out);
EMBER_API void ember_gguf_close(ember_gguf *g);

EMBER_API uint32_t ember_gguf_version(const ember_gguf *g);
EMBER_API uint32_t ember_gguf_alignment(const ember_gguf *g);
EMBER_API const char *ember_gguf_path(const ember_gguf *g); /* the name given at open */
/* Start of the tensor data section in the file, and the whole file (for writers that copy). */
EMBER_API uint64_t ember_gguf_data_offset(const ember_gguf *g);

/* Metadata by index: keys are in file order. */
EMBER_API int64_t ember_gguf_kv_count(const ember_gguf *g);
EMBER_API const char *ember_gguf_kv_key(const ember_gguf *g, int64_t i);
EMBER_API ember_gguf_type ember_gguf_kv_type(const ember_gguf *g, int64_t i);
/* For arrays: the element type and length (for scalars: the type itself and 1). */
EMBER_API ember_gguf_type ember_gguf_kv_elem_type(const ember_gguf *g, int64_t i);
EMBER_API uint64_t ember_gguf_kv_len(const ember_gguf *g, int64_t i);
/* Index of a key, or -1. */
EMBER_API int64_t ember_gguf_find_key(const ember_gguf *g, const char *key);
/* Scalar value by index converted to double (numbers and bools; NaN for strings and arrays). */
EMBER_API double ember_gguf_kv_number(const ember_gguf *g, int64_t i);
/* String value (scalar) or element j of a string array by index; NULL when not a string. Owned by g. */
EMBER_API const char *ember_gguf_kv_str(const ember_gguf *g, int64_t i, uint64_t j, size_t *len);
/* Raw little-endian elements of a numeric array by index (may be unaligned); NULL when not one. */
EMBER_API const void *ember_gguf_kv_array_data(const ember_gguf *g, int64_t i);

/* Typed getters by key. EMBER_ERR_FORMAT when the key is missing or has an incompatible type (the message
 * names the key, its type and what was expected). ember_gguf_find_key tells whether an optional key exists. */
/* Any integer type (or bool); out-of-range values for int64 are an error. */
EMBER_API ember_status ember_gguf_get_int(const ember_gguf *g, const char *key, int64_t *out);
/* FLOAT32, FLOAT64 or any integer type. */
EMBER_API ember_status ember_gguf_get_float(const ember_gguf *g, const char *key, double *out);
EMBER_API ember_status ember_gguf_get_bool(const ember_gguf *g, const char *key, bool *out);
/* NUL-terminated, owned by g (a string with an embedded NUL is still whole: use ember_gguf_kv_str for len). */
EMBER_API ember_status ember_gguf_get_str(const ember_gguf *g, const char *key, const char **out);
/* String array: *strs[i] NUL-terminated, *lens[i] its byte length (lens may be NULL). Both owned by g. */
EMBER_API ember_status ember_gguf_get_strs(const ember_gguf *g, const char *key, const char *const **strs,
                                           const size_t **lens, uint64_t *n);
/* Numeric arrays converted to the requested type: *out is allocated (free with ember_free), NULL when n == 0.
 * f32s accepts FLOAT32/FLOAT64/integer arrays; i32s accepts integer and bool arrays in int32 range. */
EMBER_API ember_status ember_gguf_get_f32s(const ember_gguf *g, const char *key, float **out, uint64_t *n);
EMBER_API ember_status ember_gguf_get_i32s(const ember_gguf *g, const char *key, int32_t **out, uint64_t *n);

/* Tensors in file order. */
EMBER_API int64_t ember_gguf_tensor_count(const ember_gguf *g);
EMBER_API const ember_gguf_tensor *ember_gguf_tensor_at(const ember_gguf *g, int64_t i);
/* NULL when absent. */
EMBER_API const ember_gguf_tensor *ember_gguf_find_tensor(const ember_gguf *g, const char *name);
/* Hint that the whole pages inside [p, p + n) of a file-opened GGUF's mapping are not needed for now (e.g. a copy
 * was made): they leave the process's resident memory and are read again from the file if touched. A no-op for
 * GGUFs opened from memory and for ranges outside the mapping. */
EMBER_API void ember_gguf_drop(const ember_gguf *g, const void *p, size_t n);

/* --- writing --------------------------------------------------------------------------------------------- */
typedef struct ember_gguf_writer ember_gguf_writer;

/* Supplies the bytes of tensor `index` (in add order) whose data was NULL at add time: fill `buf` (nbytes). */
typedef ember_status (*ember_gguf_fill_fn)(void *user, int64_t index, void *buf, size_t nbytes);

EMBER_API ember_status ember_gguf_writer_create(ember_gguf_writer **out);
EMBER_API void ember_gguf_writer_destroy(ember_gguf_writer *w);
/* Tensor data alignment (power of two; default 32). Anything but 32 also writes general.alignment. */
EMBER_API ember_status ember_gguf_writer_set_alignment(ember_gguf_writer *w, uint32_t alignment);

/* Metadata setters copy their arguments. Setting an existing key replaces its value in place. */
EMBER_API ember_status ember_gguf_writer_set_u32(ember_gguf_writer *w, const char *key, uint32_t v);
EMBER_API ember_status ember_gguf_writer_set_i32(ember_gguf_writer *w, const char *key, int32_t v);
EMBER_API ember_status ember_gguf_writer_set_u64(ember_gguf_writer *w, const char *key, uint64_t v);
EMBER_API ember_status ember_gguf_writer_set_f32(ember_gguf_writer *w, const char *key, float v);
EMBER_API ember_status ember_gguf_writer_set_bool(ember_gguf_writer *w, const char *key, bool v);
EMBER_API ember_status ember_gguf_writer_set_str(ember_gguf_writer *w, const char *key, const char *v);
/* Any scalar type from a pointer to its little-endian value (not STRING/ARRAY). */
EMBER_API ember_status ember_gguf_writer_set_scalar(ember_gguf_writer *w, const char *key, ember_gguf_type type,
                                                    const void *value);
/* Numeric or bool array of n elements of `elem` (little-endian, packed). */
EMBER_API ember_status ember_gguf_writer_set_array(ember_gguf_writer *w, const char *key, ember_gguf_type elem,
                                                   const void *data, uint64_t n);
/* String array; lens may be NULL (then strings are NUL-terminated). */
EMBER_API ember_status ember_gguf_writer_set_strs(ember_gguf_writer *w, const char *key,
                                                  const char *const *strs, const size_t *lens, uint64_t n);
/* Copy metadata entry i of an open file unchanged (any type, nested arrays included). */
EMBER_API ember_status ember_gguf_writer_copy_kv(ember_gguf_writer *w, const ember_gguf *g, int64_t i);
/* Remove a key if present. */
EMBER_API void ember_gguf_writer_remove(ember_gguf_writer *w, const char *key);

/* Declare a tensor. dims[0] is the innermost dimension. `data` (ggml layout of `type`) is borrowed until
 * ember_gguf_writer_write returns; NULL means the fill callback supplies it while writing. */
EMBER_API ember_status ember_gguf_writer_add_tensor(ember_gguf_writer *w, const char *name, ember_ggml_type type,
                                                    int ndim, const int64_t *dims, const void *data);
/* Write the file (version 3). fill may be NULL when every tensor has data. */
EMBER_API ember_status ember_gguf_writer_write(ember_gguf_writer *w, const char *path, ember_gguf_fill_fn fill,
                                               void *user);

#ifdef __cplusplus
}
#endif
#endif
