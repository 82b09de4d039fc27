/* ONNX TensorProto decoding and encoding (the .pb test-data files and model initializers).
 *
 *     ember_tp tp;
 *     if (ember_tp_parse(bytes, size, &tp)) return -1;      // validates the header fields only
 *     // tp.raw points into `bytes` when the tensor uses raw_data: models use it in place, no copy
 *     ember_tensor *t = NULL;
 *     if (ember_tp_to_tensor(&tp, NULL, &t)) return -1;      // owned copy, any storage field
 *     ember_tensor_destroy(t);
 *
 * Which storage the data uses (raw_data, float_data, int32_data, int64_data, double_data, uint64_data,
 * string_data, or external data) is found by ember_tp_parse; ember_tp_to_tensor reads any of them.
 * Messages for errors say which field was bad and at which byte offset.
 */
#ifndef EMBER_CORE_TENSORPROTO_H
#define EMBER_CORE_TENSORPROTO_H

#include "ember/tensor.h"

#include <stdbool.h>

typedef struct ember_tp {
    const uint8_t *msg; /* the whole TensorProto message */
    size_t msg_len;
    const char *name; /* NOT NUL-terminated: name_len bytes inside msg (NULL if absent) */
    size_t name_len;
    ember_dtype dtype;
    int ndim;
    int64_t dims[EMBER_MAX_DIMS];
    int64_t count;      /* product of dims */
    const uint8_t *raw; /* raw_data in place (little-endian), or NULL */
    size_t raw_len;
    bool external;     /* data_location == EXTERNAL: see ember_tp_external */
    bool has_segment;  /* a `segment` field is present (unsupported for loading) */
    uint32_t data_field; /* field number holding the elements: 9 raw_data, 4/5/6/7/10/11 typed; 0 none */
} ember_tp;

/* Parse the TensorProto in [data, data+size). Checks dims (rank <= EMBER_MAX_DIMS, non-negative, count
 * fits) and that raw_data, when present, has exactly the bytes the dims need. */
ember_status ember_tp_parse(const uint8_t *data, size_t size, ember_tp *out);

/* External data: `location` (relative path, NUL-terminated copy into loc), offset and length (-1 if not
 * given). EMBER_ERR_FORMAT if the entries are malformed. */
ember_status ember_tp_external(const ember_tp *tp, char *loc, size_t loc_cap, int64_t *offset, int64_t *length);

/* Decode into a new owned tensor. For external data, `base_dir` is the directory the location is relative
 * to (NULL: external data is an error); the location must stay inside base_dir. */
ember_status ember_tp_to_tensor(const ember_tp *tp, const char *base_dir, ember_tensor **out);

/* Encode t as a TensorProto (raw_data for numeric types, string_data for strings) into a new buffer
 * (*out, *out_len; free with ember_free). */
ember_status ember_tp_encode(const ember_tensor *t, uint8_t **out, size_t *out_len);

#endif
