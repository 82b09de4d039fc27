/* Tensor files: NumPy .npy and .npz, and ONNX TensorProto .pb — what users feed `ember run` and read back.
 *
 * Usage:
 *
 *     ember_tensor **ts = NULL;
 *     size_t n = 0;
 *     if (ember_tensor_file_read("inputs.npz", &ts, &n) != EMBER_OK) {     // .npy, .npz or .pb, by content
 *         fprintf(stderr, "error: %s\n", ember_last_error());             // names the file and the problem
 *         return 2;
 *     }
 *     for (size_t i = 0; i < n; i++) printf("%s: %s\n", ts[i]->name, ember_dtype_name(ts[i]->dtype));
 *     ember_tensor_write_options opt = {.compress = true};                  // like np.savez_compressed
 *     ember_tensor_file_write("copy.npz", (const ember_tensor *const *)ts, n, &opt);
 *     ember_tensor_list_free(ts, n);
 *
 * Every tensor read has a name: the TensorProto's name, the .npz member name without ".npy", or the file's
 * name without its extension for .npy (and for a .pb without a name). NumPy files are read in format
 * versions 1.0, 2.0 and 3.0, either byte order, C or Fortran order; all numeric NumPy types, bool, and
 * 'U'/'S' string arrays (as UTF-8 string tensors). Writing produces what np.save / np.savez /
 * np.savez_compressed produce (version 1.0 headers, zip64 records when sizes need them).
 */
#ifndef EMBER_TENSORIO_H
#define EMBER_TENSORIO_H

#include "ember/tensor.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum ember_tensor_format {
    EMBER_TENSOR_FORMAT_AUTO = 0, /* writing: from the path's extension; reading: from the file's content */
    EMBER_TENSOR_FORMAT_NPY = 1,  /* one tensor */
    EMBER_TENSOR_FORMAT_NPZ = 2,  /* any number of named tensors in a zip archive */
    EMBER_TENSOR_FORMAT_PB = 3,   /* one ONNX TensorProto */
} ember_tensor_format;

typedef struct ember_tensor_write_options {
    ember_tensor_format format; /* AUTO: from the extension (.npy, .npz, .pb) */
    bool compress;              /* .npz: deflate each member (np.savez_compressed); false stores them (np.savez) */
    bool zip64;                 /* .npz: zip64 records even where sizes do not need them (they are added when
                                   a member or the archive passes 4 GiB either way) */
} ember_tensor_write_options;

/* The format a path's extension names (.npy, .npz, .pb; case-insensitive); AUTO if none of them. */
EMBER_API ember_tensor_format ember_tensor_format_from_path(const char *path);
/* "npy", "npz", "pb" ("auto" for AUTO). Never NULL. */
EMBER_API const char *ember_tensor_format_name(ember_tensor_format f);

/* Read every tensor in a file: .npy and .npz are recognised by their magic bytes, anything else is read as
 * a TensorProto (external data relative to the file's folder). On success *tensors is a new array of
 * *count new tensors: free both with ember_tensor_list_free. On failure nothing is returned and the
 * message names the file. */
EMBER_API ember_status ember_tensor_file_read(const char *path, ember_tensor ***tensors, size_t *count);

/* Write tensors (borrowed) to path, replacing it. .npy and .pb hold exactly one tensor. Members of an .npz
 * are named from each tensor's name ("arr_0", "arr_1", ... for unnamed ones); names must be unique.
 * opts may be NULL (format from the extension, stored members). */
EMBER_API ember_status ember_tensor_file_write(const char *path, const ember_tensor *const *tensors, size_t count,
                                               const ember_tensor_write_options *opts);

/* Free what ember_tensor_file_read or ember_npz_read returned (NULL is fine). */
EMBER_API void ember_tensor_list_free(ember_tensor **tensors, size_t count);

/* --- per format ---------------------------------------------------------------------------------------- */
/* One .npy file into a new tensor (*out, free with ember_tensor_destroy), named after the file. */
EMBER_API ember_status ember_npy_read(const char *path, ember_tensor **out);
/* .npy bytes in memory into a new, unnamed tensor. */
EMBER_API ember_status ember_npy_decode(const void *data, size_t size, ember_tensor **out);
/* t as an .npy file (t borrowed). EMBER_ERR_UNSUPPORTED for types NumPy lacks (bfloat16, float8, 4-bit). */
EMBER_API ember_status ember_npy_write(const char *path, const ember_tensor *t);
/* t as .npy bytes in a new buffer (*out, *out_len; free with ember_free). */
EMBER_API ember_status ember_npy_encode(const ember_tensor *t, uint8_t **out, size_t *out_len);

/* Every member of an .npz (stored or deflated; CRCs checked) as new named tensors, in archive order. */
EMBER_API ember_status ember_npz_read(const char *path, ember_tensor ***tensors, size_t *count);
/* tensors (borrowed) as an .npz archive; opts may be NULL (stored members). */
EMBER_API ember_status ember_npz_write(const char *path, const ember_tensor *const *tensors, size_t count,
                                       const ember_tensor_write_options *opts);

/* One serialized ONNX TensorProto (a test-data input_0.pb) into a new tensor. */
EMBER_API ember_status ember_tensorproto_read(const char *path, ember_tensor **out);
/* t (borrowed) as a TensorProto file (raw_data for numbers, string_data for strings). */
EMBER_API ember_status ember_tensorproto_write(const char *path, const ember_tensor *t);

#ifdef __cplusplus
}
#endif
#endif
