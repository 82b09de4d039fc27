/* Face embedders: an aligned crop -> planes (mean/std/channel order from a descriptor) -> ONNX model ->
 * L2-normalised vector. Built-in descriptors for MobileFaceNet and faceplugin fr_feature; any other
 * ArcFace-style model gets RGB (x-127.5)/127.5 unless a sidecar MODEL.face says otherwise. */
#include "apps/face/face.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct ember_face_embedder {
    ember_onnx_model *model;
    ember_onnx_session *sess;
    ember_face_embedder_desc desc;
    int dim;
    float *buf;
};

static void set3(float v[3], float a, float b, float c) { v[0] = a, v[1] = b, v[2] = c; }

/* "a" or "a,b,c" -> three values. */
static bool parse3(const char *s, float v[3]) {
    char *end;
    for (int i = 0; i < 3; i++) {
        v[i] = strtof(s, &end);
        if (end == s) return false;
        s = end;
        if (*s == ',') s++;
        else if (i == 0 && (*s == 0 || *s == '\n')) return v[1] = v[2] = v[0], true;
    }
    return true;
}

static ember_status read_sidecar(const char *path, ember_face_embedder_desc *d) {
    char side[1024];
    size_t n = strlen(path);
    if (n > 5 && !strcmp(path + n - 5, ".onnx")) n -= 5;
    if (n + 6 > sizeof side) return EMBER_OK;
    memcpy(side, path, n);
    strcpy(side + n, ".face");
    FILE *f = fopen(side, "r");
    if (!f) return EMBER_OK;
    char line[256];
    int no = 0;
    ember_status s = EMBER_OK;
    while (!s && fgets(line, sizeof line, f)) {
        no++;
        line[strcspn(line, "\r\n")] = 0;
        if (!line[0] || line[0] == '#') continue;
        char *eq = strchr(line, '=');
        if (!eq) {
            s = ember_fail(EMBER_ERR_FORMAT, "%s:%d: expected key=value", side, no);
            break;
        }
        *eq = 0;
        const char *k = line, *v = eq + 1;
        if (!strcmp(k, "name")) snprintf(d->name, sizeof d->name, "%s", v);
        else if (!strcmp(k, "mean") && parse3(v, d->mean)) continue;
        else if (!strcmp(k, "std") && parse3(v, d->std) && d->std[0] && d->std[1] && d->std[2]) continue;
        else if (!strcmp(k, "order") && (!strcmp(v, "rgb") || !strcmp(v, "bgr"))) d->bgr = !strcmp(v, "bgr");
        else if (!strcmp(k, "size") && atoi(v) >= 16 && atoi(v) <= 1024) d->size = atoi(v);
        else s = ember_fail(EMBER_ERR_FORMAT, "%s:%d: bad entry '%s=%s'", side, no, k, v);
    }
    fclose(f);
    return s;
}

ember_status ember_face_embedder_describe(const char *path, ember_face_embedder_desc *d) {
    memset(d, 0, sizeof *d);
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    size_t n = strlen(base);
    if (n > 5 && !strcmp(base + n - 5, ".onnx")) n -= 5;
    if (n >= sizeof d->name) n = sizeof d->name - 1;
    memcpy(d->name, base, n);
    d->name[n] = 0;
    set3(d->mean, 127.5f, 127.5f, 127.5f);
    set3(d->std, 127.5f, 127.5f, 127.5f);
    if (!strncmp(base, "mobilefacenet", 13)) {
        snprintf(d->name, sizeof d->name, "mobilefacenet");
    } else if (!strncmp(base, "fr_feature", 10)) {
        snprintf(d->name, sizeof d->name, "fr_feature");
        set3(d->mean, 127, 127, 127);
        set3(d->std, 128, 128, 128);
    }
    return read_sidecar(path, d);
}

ember_status ember_face_embedder_open(const char *path, const ember_face_embedder_desc *desc, ember_pool *pool,
                                      ember_face_embedder **out) {
    *out = NULL;
    ember_face_embedder *e = ember_calloc(1, sizeof *e);
    if (!e) return ember_fail(EMBER_ERR_NOMEM, "out of memory for an embedder");
    ember_status s = desc ? (e->desc = *desc, EMBER_OK) : ember_face_embedder_describe(path, &e->desc);
    if (!s) s = ember_onnx_open(path, &e->model);
    if (!s) s = ember_onnx_session_create(e->model, &(ember_onnx_options){.threads = 1, .pool = pool}, &e->sess);
    ember_onnx_io in, o;
    if (!s && (ember_onnx_input_count(e->model) != 1 || ember_onnx_input(e->model, 0, &in) ||
               ember_onnx_output(e->model, 0, &o) || in.ndim != 4 || in.dims[1] != 3 || in.dims[2] != in.dims[3] ||
               o.ndim != 2 || o.dims[1] < 16 || o.dims[1] > 4096))
        s = ember_fail(EMBER_ERR_UNSUPPORTED, "%s: not a face embedder (one 1x3xSxS input, a 1xD output)", path);
    if (!s) {
        if (e->desc.size == 0) e->desc.size = in.dims[2] > 0 ? (int)in.dims[2] : 112;
        if (in.dims[2] > 0 && in.dims[2] != e->desc.size)
            s = ember_fail(EMBER_ERR_ARG, "%s: its input is %lldx%lld, the descriptor says %d", path,
                           (long long)in.dims[2], (long long)in.dims[3], e->desc.size);
        e->dim = (int)o.dims[1];
    }
    if (!s && !(e->buf = ember_malloc((size_t)3 * e->desc.size * e->desc.size * sizeof(float))))
        s = ember_fail(EMBER_ERR_NOMEM, "out of memory for the embedder input");
    if (s) {
        ember_face_embedder_close(e);
        return s;
    }
    *out = e;
    return EMBER_OK;
}

void ember_face_embedder_close(ember_face_embedder *e) {
    if (!e) return;
    ember_onnx_session_destroy(e->sess);
    ember_onnx_close(e->model);
    ember_free(e->buf);
    ember_free(e);
}

const ember_face_embedder_desc *ember_face_embedder_info(const ember_face_embedder *e) { return &e->desc; }
int ember_face_embedder_dim(const ember_face_embedder *e) { return e->dim; }
int ember_face_embedder_size(const ember_face_embedder *e) { return e->desc.size; }

ember_status ember_face_embed(ember_face_embedder *e, const ember_face_image *aligned, float *emb) {
    int sz = e->desc.size;
    if (aligned->w != sz || aligned->h != sz)
        return ember_fail(EMBER_ERR_ARG, "embed: crop is %dx%d, %s wants %dx%d", aligned->w, aligned->h, e->desc.name,
                          sz, sz);
    ember_face_image_to_planes(aligned, e->desc.bgr, e->desc.mean, e->desc.std, e->buf);
    int64_t shape[4] = {1, 3, sz, sz};
    ember_tensor *t = NULL, *out = NULL;
    ember_status s = ember_tensor_wrap(EMBER_DTYPE_F32, 4, shape, e->buf, (size_t)3 * sz * sz * sizeof(float), &t);
    if (!s) s = ember_onnx_run_tensors(e->sess, &t, &out);
    ember_tensor_destroy(t);
    if (s) return ember_fail_context(s, "embed (%s): ", e->desc.name);
    if (out->dtype != EMBER_DTYPE_F32 || ember_tensor_count(out) != e->dim) {
        long long got = (long long)ember_tensor_count(out);
        ember_tensor_destroy(out);
        return ember_fail(EMBER_ERR_SHAPE, "embed (%s): %lld values, expected %d", e->desc.name, got, e->dim);
    }
    memcpy(emb, out->data, (size_t)e->dim * sizeof *emb);
    ember_tensor_destroy(out);
    ember_face_l2_normalize(emb, e->dim);
    return EMBER_OK;
}
