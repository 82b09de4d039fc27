/* faceplugin fr_landmark: the detector's box cropped (clamped inside the image), resized to 64x64, grey
 * (BT.601 weights, like OpenCV's BGR2GRAY), scaled by 1/256; the model gives 68 (x, y) pairs relative to the
 * crop, reduced to the five alignment points by ember_face_landmarks68_to5. */
#include "apps/face/face.h"

#include <math.h>
#include <string.h>

struct ember_face_landmarker {
    ember_onnx_model *model;
    ember_onnx_session *sess;
};

ember_status ember_face_landmarker_open(const char *path, ember_pool *pool, ember_face_landmarker **out) {
    *out = NULL;
    ember_face_landmarker *l = ember_calloc(1, sizeof *l);
    if (!l) return ember_fail(EMBER_ERR_NOMEM, "out of memory for a landmarker");
    ember_status s = ember_onnx_open(path, &l->model);
    if (!s) s = ember_onnx_session_create(l->model, &(ember_onnx_options){.threads = 1, .pool = pool}, &l->sess);
    ember_onnx_io in, o;
    if (!s && (ember_onnx_input(l->model, 0, &in) || ember_onnx_output(l->model, 0, &o) || in.ndim != 4 ||
               in.dims[1] != 1 || in.dims[2] != 64 || in.dims[3] != 64 || o.ndim != 2 || o.dims[1] != 136))
        s = ember_fail(EMBER_ERR_UNSUPPORTED, "%s: not an fr_landmark model (1x1x64x64 in, 1x136 out)", path);
    if (s) {
        ember_face_landmarker_close(l);
        return s;
    }
    *out = l;
    return EMBER_OK;
}

void ember_face_landmarker_close(ember_face_landmarker *l) {
    if (!l) return;
    ember_onnx_session_destroy(l->sess);
    ember_onnx_close(l->model);
    ember_free(l);
}

ember_status ember_face_landmarks(ember_face_landmarker *l, const ember_face_image *img, ember_face_det *d) {
    /* Integer box inside the image, as the reference crops it. */
    int x0 = (int)fmaxf(0, floorf(d->x0)), y0 = (int)fmaxf(0, floorf(d->y0));
    int x1 = (int)fminf((float)img->w, ceilf(d->x1)), y1 = (int)fminf((float)img->h, ceilf(d->y1));
    if (x1 - x0 < 2 || y1 - y0 < 2) return ember_fail(EMBER_ERR_ARG, "landmarks: face box is empty");
    ember_face_image crop = {0}, small = {0};
    ember_status s = ember_face_image_alloc(x1 - x0, y1 - y0, &crop);
    if (s) return s;
    for (int y = y0; y < y1; y++)
        memcpy(crop.rgb + (size_t)(y - y0) * crop.w * 3, img->rgb + ((size_t)y * img->w + x0) * 3, (size_t)crop.w * 3);
    s = ember_face_image_resize(&crop, 64, 64, &small);
    ember_face_image_free(&crop);
    if (s) return s;
    float in[64 * 64];
    for (int i = 0; i < 64 * 64; i++) {
        const uint8_t *p = small.rgb + i * 3;
        float g = roundf(0.299f * p[0] + 0.587f * p[1] + 0.114f * p[2]);
        in[i] = g / 256.0f;
    }
    ember_face_image_free(&small);
    int64_t shape[4] = {1, 1, 64, 64};
    ember_tensor *t = NULL, *out = NULL;
    s = ember_tensor_wrap(EMBER_DTYPE_F32, 4, shape, in, sizeof in, &t);
    if (!s) s = ember_onnx_run_tensors(l->sess, &t, &out);
    ember_tensor_destroy(t);
    if (s) return ember_fail_context(s, "landmarks: ");
    if (out->dtype != EMBER_DTYPE_F32 || ember_tensor_count(out) != 136) {
        ember_tensor_destroy(out);
        return ember_fail(EMBER_ERR_SHAPE, "landmarks: the model gave %lld values, expected 136",
                          (long long)ember_tensor_count(out));
    }
    ember_face_landmarks68_to5(out->data, (float)x0, (float)y0, (float)(x1 - x0), (float)(y1 - y0), d->lm);
    d->has_lm = true;
    ember_tensor_destroy(out);
    return EMBER_OK;
}
