/* Face detector models: prepare the input (YuNet: BGR 0..255, letterboxed or padded to a multiple of 32;
 * UltraFace: RGB (x-127)/128 resized to the model's size), run the ONNX model, decode (decode.c), NMS. */
#include "apps/face/face.h"

#include <math.h>
#include <string.h>

struct ember_face_detector {
    ember_pool *pool; /* borrowed: runs the model and the input's resampling */
    ember_onnx_model *model;
    ember_onnx_session *sess;
    ember_face_detector_kind kind;
    bool raw;           /* UltraFace boxes are prior regressions */
    bool faceplugin;    /* fr_detect (its own default threshold) */
    int in_w, in_h;     /* fixed input size; 0 when dynamic */
    int max_side;       /* dynamic YuNet: longest side fed to the model */
    int nout;
    int yunet_slot[12]; /* output index of cls_8, cls_16, cls_32, obj_..., bbox_..., kps_... */
    float *buf;         /* input planes */
    size_t buf_cap;
};

static const char *base_name(const char *path) {
    const char *b = strrchr(path, '/');
    return b ? b + 1 : path;
}

/* Does the graph decode UltraFace boxes itself? The exported post-processing ends in a Concat of corner
 * coordinates computed with Exp; the raw ("_simplified", fr_detect) exports have no Exp at all. */
static bool graph_has_exp(ember_onnx_session *s) {
    ember_onnx_plan_info pi;
    ember_onnx_get_plan_info(s, &pi);
    for (int i = 0; i < pi.steps; i++) {
        ember_onnx_node n;
        if (ember_onnx_step(s, i, &n) == EMBER_OK && n.op_type && !strcmp(n.op_type, "Exp")) return true;
    }
    return false;
}

ember_status ember_face_detector_open(const char *path, ember_pool *pool, ember_face_detector **out) {
    *out = NULL;
    ember_face_detector *d = ember_calloc(1, sizeof *d);
    if (!d) return ember_fail(EMBER_ERR_NOMEM, "out of memory for a detector");
    d->max_side = 640;
    d->pool = pool;
    ember_status s = ember_onnx_open(path, &d->model);
    if (!s) s = ember_onnx_session_create(d->model, &(ember_onnx_options){.threads = 1, .pool = pool}, &d->sess);
    if (s) goto fail;
    ember_onnx_io in;
    s = ember_onnx_input(d->model, 0, &in);
    if (s) goto fail;
    if (ember_onnx_input_count(d->model) != 1 || in.ndim != 4 || (in.dims[1] != 3 && in.dims[1] != -1)) {
        s = ember_fail(EMBER_ERR_UNSUPPORTED, "%s: a face detector takes one 1x3xHxW image input", path);
        goto fail;
    }
    d->in_h = in.dims[2] > 0 ? (int)in.dims[2] : 0;
    d->in_w = in.dims[3] > 0 ? (int)in.dims[3] : 0;
    d->nout = ember_onnx_output_count(d->model);
    static const char *yn[12] = {"cls_8", "cls_16", "cls_32", "obj_8", "obj_16", "obj_32",
                                 "bbox_8", "bbox_16", "bbox_32", "kps_8", "kps_16", "kps_32"};
    int found = 0, scores = -1, boxes = -1;
    for (int k = 0; k < 12; k++) d->yunet_slot[k] = -1;
    for (int i = 0; i < d->nout; i++) {
        ember_onnx_io o;
        if (ember_onnx_output(d->model, i, &o)) continue;
        for (int k = 0; k < 12; k++)
            if (!strcmp(o.name, yn[k]) && d->yunet_slot[k] < 0) d->yunet_slot[k] = i, found++;
        if (!strcmp(o.name, "scores")) scores = i;
        if (!strcmp(o.name, "boxes")) boxes = i;
    }
    if (found == 12) {
        d->kind = EMBER_FACE_DET_YUNET;
    } else if (scores == 0 && boxes == 1 && d->nout == 2 && d->in_w > 0 && d->in_h > 0) {
        d->kind = EMBER_FACE_DET_ULTRAFACE;
        /* Planning at the fixed size lets us look at the graph's operators. */
        int nd = 4;
        int64_t shape[1][EMBER_MAX_DIMS] = {{1, 3, d->in_h, d->in_w}};
        s = ember_onnx_plan(d->sess, &nd, shape);
        if (s) goto fail;
        d->raw = !graph_has_exp(d->sess);
        d->faceplugin = strstr(base_name(path), "fr_detect") != NULL;
    } else {
        s = ember_fail(EMBER_ERR_UNSUPPORTED,
                       "%s: not a known face detector (expected YuNet's cls_8..kps_32 outputs or UltraFace's "
                       "scores and boxes)", path);
        goto fail;
    }
    *out = d;
    return EMBER_OK;
fail:
    ember_face_detector_close(d);
    return s;
}

void ember_face_detector_close(ember_face_detector *d) {
    if (!d) return;
    ember_onnx_session_destroy(d->sess);
    ember_onnx_close(d->model);
    ember_free(d->buf);
    ember_free(d);
}

ember_face_detector_kind ember_face_detector_family(const ember_face_detector *d) { return d->kind; }

float ember_face_detector_default_threshold(const ember_face_detector *d) {
    if (d->kind == EMBER_FACE_DET_YUNET) return 0.6f;
    return d->faceplugin ? 0.65f : 0.7f;
}

void ember_face_detector_set_max_side(ember_face_detector *d, int max_side) {
    d->max_side = max_side < 32 ? 32 : max_side;
}

ember_status ember_face_detector_run_raw(ember_face_detector *d, ember_tensor *input, ember_tensor **outs, int nouts) {
    if (nouts < d->nout) return ember_fail(EMBER_ERR_ARG, "detector has %d outputs, room for %d", d->nout, nouts);
    ember_tensor *in[1] = {input};
    return ember_onnx_run_tensors(d->sess, in, outs);
}

static ember_status input_buffer(ember_face_detector *d, size_t floats) {
    if (floats <= d->buf_cap) return EMBER_OK;
    float *b = ember_realloc(d->buf, floats * sizeof *b);
    if (!b) return ember_fail(EMBER_ERR_NOMEM, "out of memory for the detector input");
    d->buf = b;
    d->buf_cap = floats;
    return EMBER_OK;
}

/* Run on planes already in d->buf (1x3xh x w); outs receives the model's outputs. */
static ember_status run(ember_face_detector *d, int w, int h, ember_tensor **outs) {
    int64_t shape[4] = {1, 3, h, w};
    ember_tensor *t = NULL;
    ember_status s = ember_tensor_wrap(EMBER_DTYPE_F32, 4, shape, d->buf, (size_t)3 * w * h * sizeof(float), &t);
    if (s) return s;
    ember_tensor *in[1] = {t};
    s = ember_onnx_run_tensors(d->sess, in, outs);
    ember_tensor_destroy(t);
    return s;
}

static ember_face_blob blob(const ember_tensor *t) {
    return (ember_face_blob){t && t->dtype == EMBER_DTYPE_F32 ? t->data : NULL, t ? ember_tensor_count(t) : 0};
}

static ember_status detect_yunet(ember_face_detector *d, const ember_face_image *img, float thr,
                                 ember_face_dets *out) {
    /* Canvas: the fixed input, or the image scaled to at most max_side and padded up to a multiple of 32. */
    double scale;
    int cw, ch;
    if (d->in_w > 0 && d->in_h > 0) {
        cw = d->in_w, ch = d->in_h;
        scale = fmin((double)cw / img->w, (double)ch / img->h);
    } else {
        int side = img->w > img->h ? img->w : img->h;
        scale = side > d->max_side ? (double)d->max_side / side : 1.0;
        cw = ((int)lround(img->w * scale) + 31) / 32 * 32;
        ch = ((int)lround(img->h * scale) + 31) / 32 * 32;
    }
    int rw = (int)lround(img->w * scale), rh = (int)lround(img->h * scale);
    if (rw < 1) rw = 1;
    if (rh < 1) rh = 1;
    if (rw > cw) rw = cw;
    if (rh > ch) rh = ch;
    static const float mean[3] = {0, 0, 0}, std1[3] = {1, 1, 1};
    ember_status s = input_buffer(d, (size_t)3 * cw * ch);
    if (!s) s = ember_face_image_resize_planes(img, rw, rh, cw, ch, true, mean, std1, d->pool, d->buf);
    if (s) return s;
    ember_tensor *outs[32] = {0};
    if (d->nout > 32) return ember_fail(EMBER_ERR_UNSUPPORTED, "YuNet model with %d outputs", d->nout);
    s = run(d, cw, ch, outs);
    if (!s) {
        ember_face_blob b[12];
        for (int k = 0; k < 12; k++) b[k] = blob(outs[d->yunet_slot[k]]);
        s = ember_face_decode_yunet(b, b + 3, b + 6, b + 9, cw, ch, (float)img->w / rw, (float)img->h / rh, thr, out);
    }
    for (int i = 0; i < d->nout; i++) ember_tensor_destroy(outs[i]);
    if (!s) ember_face_nms(out, 0.3f, 5000);
    return s;
}

static ember_status detect_ultraface(ember_face_detector *d, const ember_face_image *img, float thr,
                                     ember_face_dets *out) {
    static const float mean[3] = {127, 127, 127}, std[3] = {128, 128, 128};
    ember_status s = input_buffer(d, (size_t)3 * d->in_w * d->in_h);
    if (!s)
        s = ember_face_image_resize_planes(img, d->in_w, d->in_h, d->in_w, d->in_h, false, mean, std, d->pool,
                                           d->buf);
    if (s) return s;
    ember_tensor *outs[2] = {0};
    s = run(d, d->in_w, d->in_h, outs);
    if (!s) {
        ember_face_blob sc = blob(outs[0]), bx = blob(outs[1]);
        s = ember_face_decode_ultraface(&sc, &bx, d->raw, d->in_w, d->in_h, img->w, img->h, thr, out);
    }
    ember_tensor_destroy(outs[0]);
    ember_tensor_destroy(outs[1]);
    if (!s) ember_face_nms(out, d->faceplugin ? 0.4f : 0.3f, 5000);
    return s;
}

ember_status ember_face_detect(ember_face_detector *d, const ember_face_image *img, float thr, ember_face_dets *out) {
    out->n = 0;
    if (!img || !img->rgb || img->w <= 0 || img->h <= 0) return ember_fail(EMBER_ERR_ARG, "detect: empty image");
    if (thr < 0) thr = ember_face_detector_default_threshold(d);
    ember_status s = d->kind == EMBER_FACE_DET_YUNET ? detect_yunet(d, img, thr, out) : detect_ultraface(d, img, thr, out);
    return s ? ember_fail_context(s, "face detection: ") : EMBER_OK;
}
