/* Tensor files by format: recognise .npy/.npz/.pb, read them into named tensors, write them back;
 * plus TensorProto files (one serialized onnx.TensorProto, as in ONNX test data). */
#include "ember/tensorio.h"

#include "core/mapfile.h"
#include "core/tensorproto.h"
#include "io/iofile.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

ember_tensor_format ember_tensor_format_from_path(const char *path) {
    const char *dot = strrchr(path, '.'), *slash = strrchr(path, '/');
    if (!dot || (slash && dot < slash)) return EMBER_TENSOR_FORMAT_AUTO;
    if (!strcasecmp(dot, ".npy")) return EMBER_TENSOR_FORMAT_NPY;
    if (!strcasecmp(dot, ".npz")) return EMBER_TENSOR_FORMAT_NPZ;
    if (!strcasecmp(dot, ".pb")) return EMBER_TENSOR_FORMAT_PB;
    return EMBER_TENSOR_FORMAT_AUTO;
}

const char *ember_tensor_format_name(ember_tensor_format f) {
    switch (f) {
    case EMBER_TENSOR_FORMAT_NPY: return "npy";
    case EMBER_TENSOR_FORMAT_NPZ: return "npz";
    case EMBER_TENSOR_FORMAT_PB: return "pb";
    default: return "auto";
    }
}

void ember_tensor_list_free(ember_tensor **tensors, size_t count) {
    if (!tensors) return;
    for (size_t i = 0; i < count; i++) ember_tensor_destroy(tensors[i]);
    ember_free(tensors);
}

/* --- TensorProto files -------------------------------------------------------------------------------- */
/* The folder of path ("." when none), for external data. */
static void dir_of(const char *path, char *buf, size_t cap) {
    const char *slash = strrchr(path, '/');
    size_t n = slash ? (size_t)(slash - path) : 0;
    if (slash && n == 0) n = 1; /* "/x.pb" */
    if (!slash || n >= cap) {
        snprintf(buf, cap, ".");
        return;
    }
    memcpy(buf, path, n);
    buf[n] = 0;
}

ember_status ember_tensorproto_read(const char *path, ember_tensor **out) {
    *out = NULL;
    ember_map m;
    ember_status s = ember_map_open(path, &m);
    if (s) return s;
    char dir[4096];
    dir_of(path, dir, sizeof dir);
    ember_tp tp;
    if (!m.size) s = ember_fail(EMBER_ERR_FORMAT, "empty file (expected a TensorProto)");
    if (!s) s = ember_tp_parse(m.data, m.size, &tp);
    if (!s) s = ember_tp_to_tensor(&tp, dir, out);
    ember_map_close(&m);
    if (!s && (s = io_default_name(*out, path))) {
        ember_tensor_destroy(*out);
        *out = NULL;
    }
    return s ? ember_fail_context(s, "%s: ", path) : EMBER_OK;
}

ember_status ember_tensorproto_write(const char *path, const ember_tensor *t) {
    uint8_t *buf;
    size_t len;
    ember_status s = ember_tp_encode(t, &buf, &len);
    if (s) return ember_fail_context(s, "%s: ", path);
    s = io_write_file(path, buf, len);
    ember_free(buf);
    return s;
}

/* --- any format --------------------------------------------------------------------------------------- */
/* The format of a file from its first bytes: NumPy and zip magic; anything else is taken for a TensorProto. */
static ember_status sniff(const char *path, ember_tensor_format *f) {
    FILE *fp = fopen(path, "rb");
    if (!fp) return ember_fail(EMBER_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    unsigned char b[6] = {0};
    size_t n = fread(b, 1, sizeof b, fp);
    fclose(fp);
    if (n == 6 && !memcmp(b, "\x93NUMPY", 6)) *f = EMBER_TENSOR_FORMAT_NPY;
    else if (n >= 4 && b[0] == 'P' && b[1] == 'K' && ((b[2] == 3 && b[3] == 4) || (b[2] == 5 && b[3] == 6)))
        *f = EMBER_TENSOR_FORMAT_NPZ;
    else *f = EMBER_TENSOR_FORMAT_PB;
    ember_tensor_format by_name = ember_tensor_format_from_path(path);
    if (by_name != EMBER_TENSOR_FORMAT_AUTO && by_name != EMBER_TENSOR_FORMAT_PB && by_name != *f)
        return ember_fail(EMBER_ERR_FORMAT, "%s: not a .%s file (%s)", path, ember_tensor_format_name(by_name),
                          n < 6 ? "too short" : "its first bytes are not the format's magic");
    return EMBER_OK;
}

/* A one-element list holding t. */
static ember_status single(ember_tensor *t, ember_tensor ***tensors, size_t *count) {
    if (!(*tensors = ember_malloc(sizeof **tensors))) {
        ember_tensor_destroy(t);
        return ember_fail(EMBER_ERR_NOMEM, "out of memory");
    }
    (*tensors)[0] = t;
    *count = 1;
    return EMBER_OK;
}

ember_status ember_tensor_file_read(const char *path, ember_tensor ***tensors, size_t *count) {
    *tensors = NULL;
    *count = 0;
    ember_tensor_format f = EMBER_TENSOR_FORMAT_AUTO;
    ember_status s = sniff(path, &f);
    if (s) return s;
    if (f == EMBER_TENSOR_FORMAT_NPZ) return ember_npz_read(path, tensors, count);
    ember_tensor *t = NULL;
    s = f == EMBER_TENSOR_FORMAT_NPY ? ember_npy_read(path, &t) : ember_tensorproto_read(path, &t);
    return s ? s : single(t, tensors, count);
}

ember_status ember_tensor_file_write(const char *path, const ember_tensor *const *tensors, size_t count,
                                     const ember_tensor_write_options *opts) {
    ember_tensor_format f = opts ? opts->format : EMBER_TENSOR_FORMAT_AUTO;
    if (f == EMBER_TENSOR_FORMAT_AUTO) f = ember_tensor_format_from_path(path);
    if (f == EMBER_TENSOR_FORMAT_AUTO)
        return ember_fail(EMBER_ERR_ARG, "%s: unknown tensor file extension (expected .npy, .npz or .pb)", path);
    if (f == EMBER_TENSOR_FORMAT_NPZ) return ember_npz_write(path, tensors, count, opts);
    if (count != 1)
        return ember_fail(EMBER_ERR_ARG, "%s: a .%s file holds exactly one tensor, not %zu (write an .npz for several)",
                          path, ember_tensor_format_name(f), count);
    return f == EMBER_TENSOR_FORMAT_NPY ? ember_npy_write(path, tensors[0]) : ember_tensorproto_write(path, tensors[0]);
}
