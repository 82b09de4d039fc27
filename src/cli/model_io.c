/* --shape parsing and input construction for the model verbs. */
#include "cli/model_io.h"

#include <stdlib.h>
#include <string.h>

ember_status model_shapes_add(model_shapes *s, const char *arg) {
    if (s->n == 64) return ember_fail(EMBER_ERR_ARG, "--shape: at most 64");
    const char *eq = strchr(arg, '=');
    s->name[s->n] = eq ? arg : NULL;
    ember_status st = ember_shape_parse(eq ? eq + 1 : arg, &s->ndim[s->n], s->shape[s->n]);
    if (st) return st;
    s->n++;
    return EMBER_OK;
}

void model_input_shape(const ember_onnx_model *m, const model_shapes *s, int i, int *ndim, int64_t *shape) {
    ember_onnx_io io;
    ember_onnx_input(m, i, &io);
    for (int k = 0; k < s->n; k++) {
        const char *n = s->name[k];
        size_t len = n ? (size_t)(strchr(n, '=') - n) : 0;
        if ((n && strlen(io.name) == len && !strncmp(io.name, n, len)) || (!n && i == 0)) {
            *ndim = s->ndim[k];
            memcpy(shape, s->shape[k], sizeof(int64_t) * (size_t)*ndim);
            return;
        }
    }
    *ndim = io.ndim < 0 ? 0 : io.ndim;
    for (int d = 0; d < *ndim; d++) shape[d] = io.dims[d] < 0 ? 1 : io.dims[d];
}

ember_status model_random_input(const ember_onnx_model *m, const model_shapes *s, int i, ember_tensor **out) {
    ember_onnx_io io;
    ember_onnx_input(m, i, &io);
    if (io.kind != EMBER_VALUE_TENSOR)
        return ember_fail(EMBER_ERR_UNSUPPORTED, "input '%s' is not a tensor: give it with -i", io.name);
    int ndim;
    int64_t shape[EMBER_MAX_DIMS];
    model_input_shape(m, s, i, &ndim, shape);
    ember_status st = ember_tensor_create(io.dtype ? io.dtype : EMBER_DTYPE_F32, ndim, shape, out);
    if (st) return st;
    ember_tensor *t = *out;
    int64_t n = ember_tensor_count(t);
    unsigned long long r = 0x9E3779B97F4A7C15ull + (unsigned long long)i;
    for (int64_t k = 0; k < n; k++) {
        r ^= r >> 12, r ^= r << 25, r ^= r >> 27;
        double u = (double)((r * 0x2545F4914F6CDD1Dull) >> 11) / 9007199254740992.0;
        switch (t->dtype) {
        case EMBER_DTYPE_F32: ((float *)t->data)[k] = (float)u; break;
        case EMBER_DTYPE_F64: ((double *)t->data)[k] = u; break;
        case EMBER_DTYPE_F16: ((uint16_t *)t->data)[k] = ember_f32_to_f16((float)u); break;
        case EMBER_DTYPE_I64: ((int64_t *)t->data)[k] = (int64_t)(u * 2); break;
        case EMBER_DTYPE_I32: ((int32_t *)t->data)[k] = (int32_t)(u * 2); break;
        case EMBER_DTYPE_U8: ((uint8_t *)t->data)[k] = (uint8_t)(u * 255); break;
        default: break; /* zeros */
        }
    }
    return ember_tensor_set_name(t, io.name);
}
