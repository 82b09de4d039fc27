/* Tensors: element types, shapes, and owned or borrowed n-dimensional data.
 *
 * Usage:
 *
 *     int64_t shape[] = {1, 3, 224, 224};
 *     ember_tensor *t = NULL;
 *     if (ember_tensor_create(EMBER_DTYPE_F32, 4, shape, &t) != EMBER_OK) return -1;  // zero-filled
 *     float *x = t->data;
 *     x[0] = 1.0f;
 *     printf("%s %lld elements\n", ember_dtype_name(t->dtype), (long long)ember_tensor_count(t));
 *     ember_tensor_destroy(t);                                                         // frees data too
 *
 * A tensor is a visible struct. Its data is row-major and contiguous. Data is owned (allocated by
 * ember_tensor_create, freed by ember_tensor_destroy) or borrowed (ember_tensor_wrap: the caller keeps it
 * alive). String tensors hold `char *` per element, each NUL-terminated and owned by the tensor.
 * Element type codes are ONNX's TensorProto.DataType numbers, so they round-trip through model files.
 */
#ifndef EMBER_TENSOR_H
#define EMBER_TENSOR_H

#include "ember/status.h"

#include <stdbool.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum ember_dtype {
    EMBER_DTYPE_UNDEFINED = 0,
    EMBER_DTYPE_F32 = 1,
    EMBER_DTYPE_U8 = 2,
    EMBER_DTYPE_I8 = 3,
    EMBER_DTYPE_U16 = 4,
    EMBER_DTYPE_I16 = 5,
    EMBER_DTYPE_I32 = 6,
    EMBER_DTYPE_I64 = 7,
    EMBER_DTYPE_STRING = 8,
    EMBER_DTYPE_BOOL = 9,
    EMBER_DTYPE_F16 = 10,
    EMBER_DTYPE_F64 = 11,
    EMBER_DTYPE_U32 = 12,
    EMBER_DTYPE_U64 = 13,
    EMBER_DTYPE_C64 = 14,
    EMBER_DTYPE_C128 = 15,
    EMBER_DTYPE_BF16 = 16,
    EMBER_DTYPE_F8E4M3FN = 17,
    EMBER_DTYPE_F8E4M3FNUZ = 18,
    EMBER_DTYPE_F8E5M2 = 19,
    EMBER_DTYPE_F8E5M2FNUZ = 20,
    EMBER_DTYPE_U4 = 21,
    EMBER_DTYPE_I4 = 22,
    EMBER_DTYPE_F4E2M1 = 23,
    EMBER_DTYPE_F8E8M0 = 24, /* exponent only: 2^(e-127), 0xFF is NaN */
    EMBER_DTYPE_U2 = 25,
    EMBER_DTYPE_I2 = 26,
    EMBER_DTYPE_COUNT
} ember_dtype;

/* Bits per element (4 for U4/I4/F4E2M1, 2 for U2/I2, 8*sizeof(char*) for STRING); 0 for UNDEFINED or unknown codes. */
EMBER_API int ember_dtype_bits(ember_dtype t);
/* Bytes for n elements, rounding packed 4-bit and 2-bit types up. Returns false on overflow or unknown type. */
EMBER_API bool ember_dtype_bytes(ember_dtype t, int64_t n, size_t *bytes);
/* numpy-style name: "float32", "int64", "bool", "float16", "bfloat16", "string", ... ("?" if unknown). */
EMBER_API const char *ember_dtype_name(ember_dtype t);
/* Inverse of ember_dtype_name; also accepts ONNX spellings ("float", "double", "int64"). UNDEFINED if none. */
EMBER_API ember_dtype ember_dtype_from_name(const char *name);
EMBER_API bool ember_dtype_is_float(ember_dtype t); /* f16/bf16/f32/f64 and the f8/f4 types */
EMBER_API bool ember_dtype_is_int(ember_dtype t);   /* signed or unsigned integers, not bool */

/* --- shapes ------------------------------------------------------------------------------------------- */
#define EMBER_MAX_DIMS 8

/* Element count of a shape (1 for rank 0); -1 if a dim is negative or the count overflows int64. */
EMBER_API int64_t ember_shape_count(int ndim, const int64_t *shape);
/* Row-major strides in elements. */
EMBER_API void ember_shape_strides(int ndim, const int64_t *shape, int64_t *strides);
/* Multidirectional (numpy) broadcast of a and b into out (rank max(na, nb)). EMBER_ERR_SHAPE if
 * incompatible (message names both shapes). */
EMBER_API ember_status ember_shape_broadcast(int na, const int64_t *a, int nb, const int64_t *b, int *nout,
                                             int64_t *out);
/* "1x3x224x224" ("scalar" for rank 0). Returns the length it wanted, like snprintf. */
EMBER_API int ember_shape_format(char *buf, size_t cap, int ndim, const int64_t *shape);
/* Parse "1x3x224x224" or "1,3,224,224" ("" or "scalar" = rank 0). */
EMBER_API ember_status ember_shape_parse(const char *text, int *ndim, int64_t *shape);

/* --- tensors ------------------------------------------------------------------------------------------ */
enum { EMBER_TENSOR_OWNS_DATA = 1u };

typedef struct ember_tensor {
    ember_dtype dtype;
    int ndim;
    int64_t shape[EMBER_MAX_DIMS];
    void *data;     /* first element; for STRING an array of char* */
    size_t nbytes;  /* bytes at data */
    char *name;     /* optional, owned (NULL if none) */
    uint32_t flags; /* EMBER_TENSOR_OWNS_DATA */
} ember_tensor;

/* New zero-filled tensor (strings: empty ""). Free with ember_tensor_destroy. */
EMBER_API ember_status ember_tensor_create(ember_dtype dtype, int ndim, const int64_t *shape, ember_tensor **out);
/* Tensor over caller memory (not freed by destroy). `nbytes` must cover the shape. Not for STRING. */
EMBER_API ember_status ember_tensor_wrap(ember_dtype dtype, int ndim, const int64_t *shape, void *data,
                                         size_t nbytes, ember_tensor **out);
/* Deep copy (data always owned by the copy). */
EMBER_API ember_status ember_tensor_clone(const ember_tensor *t, ember_tensor **out);
EMBER_API void ember_tensor_destroy(ember_tensor *t);
EMBER_API int64_t ember_tensor_count(const ember_tensor *t);
/* Replace the name (copied; NULL clears). */
EMBER_API ember_status ember_tensor_set_name(ember_tensor *t, const char *name);
/* Replace string element i with a copy of the `len` bytes at s (STRING tensors only). */
EMBER_API ember_status ember_tensor_set_string(ember_tensor *t, int64_t i, const char *s, size_t len);
/* Element i converted to double (numeric and bool tensors; 0 for others). */
EMBER_API double ember_tensor_get_f64(const ember_tensor *t, int64_t i);

/* --- half precision ----------------------------------------------------------------------------------- */
EMBER_API float ember_f16_to_f32(uint16_t h);
EMBER_API uint16_t ember_f32_to_f16(float f); /* round to nearest even; overflow to inf; NaN kept */
EMBER_API float ember_bf16_to_f32(uint16_t h);
EMBER_API uint16_t ember_f32_to_bf16(float f); /* round to nearest even; NaN kept */

#ifdef __cplusplus
}
#endif
#endif
