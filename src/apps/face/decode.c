/* Face detector decoders: raw model outputs -> boxes, scores and landmarks in image pixels, and NMS.
 * One decoder per family: YuNet (anchor-free, strides 8/16/32), UltraFace (SSD priors; faceplugin's
 * fr_detect is the same family), and faceplugin's 68-point landmarks reduced to five. */
#include "apps/face/face.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

ember_status ember_face_dets_push(ember_face_dets *d, const ember_face_det *x) {
    if (d->n == d->cap) {
        int cap = d->cap ? d->cap * 2 : 16;
        ember_face_det *v = ember_realloc(d->v, (size_t)cap * sizeof *v);
        if (!v) return ember_fail(EMBER_ERR_NOMEM, "out of memory for detections");
        d->v = v;
        d->cap = cap;
    }
    d->v[d->n++] = *x;
    return EMBER_OK;
}

void ember_face_dets_free(ember_face_dets *d) {
    ember_free(d->v);
    memset(d, 0, sizeof *d);
}

float ember_face_iou(const ember_face_det *a, const ember_face_det *b) {
    float w = fminf(a->x1, b->x1) - fmaxf(a->x0, b->x0), h = fminf(a->y1, b->y1) - fmaxf(a->y0, b->y0);
    if (w <= 0 || h <= 0) return 0;
    float inter = w * h;
    float ua = (a->x1 - a->x0) * (a->y1 - a->y0) + (b->x1 - b->x0) * (b->y1 - b->y0) - inter;
    return ua > 0 ? inter / ua : 0;
}

static int by_score(const void *pa, const void *pb) {
    const ember_face_det *a = pa, *b = pb;
    return (a->score < b->score) - (a->score > b->score);
}

void ember_face_nms(ember_face_dets *d, float iou, int top_k) {
    if (d->n == 0) return; /* qsort must not see the NULL of an empty list */
    qsort(d->v, (size_t)d->n, sizeof *d->v, by_score);
    int kept = 0;
    for (int i = 0; i < d->n && (top_k <= 0 || kept < top_k); i++) {
        bool keep = true;
        for (int j = 0; j < kept && keep; j++) keep = ember_face_iou(&d->v[i], &d->v[j]) <= iou;
        if (keep) d->v[kept++] = d->v[i];
    }
    d->n = kept;
}

static float clamp01(float v) { return v < 0 ? 0 : v > 1 ? 1 : v; }

/* Check that a blob has the element count a decoder expects. */
static ember_status expect_count(const ember_face_blob *b, int64_t want, const char *what, int stride) {
    if (b->data && b->count == want) return EMBER_OK;
    return ember_fail(EMBER_ERR_SHAPE, "YuNet output %s_%d has %lld values, expected %lld for this input size",
                      what, stride, (long long)b->count, (long long)want);
}

ember_status ember_face_decode_yunet(const ember_face_blob cls[3], const ember_face_blob obj[3],
                                     const ember_face_blob bbox[3], const ember_face_blob kps[3], int in_w,
                                     int in_h, float sx, float sy, float thr, ember_face_dets *out) {
    static const int strides[3] = {8, 16, 32};
    for (int i = 0; i < 3; i++) {
        int st = strides[i], cols = in_w / st, rows = in_h / st;
        int64_t cells = (int64_t)cols * rows;
        ember_status s = expect_count(&cls[i], cells, "cls", st);
        if (!s) s = expect_count(&obj[i], cells, "obj", st);
        if (!s) s = expect_count(&bbox[i], cells * 4, "bbox", st);
        if (!s) s = expect_count(&kps[i], cells * 10, "kps", st);
        if (s) return s;
        for (int64_t k = 0; k < cells; k++) {
            float score = sqrtf(clamp01(cls[i].data[k]) * clamp01(obj[i].data[k]));
            if (!(score >= thr)) continue;
            int r = (int)(k / cols), c = (int)(k % cols);
            const float *b = bbox[i].data + k * 4, *p = kps[i].data + k * 10;
            float cx = (c + b[0]) * st, cy = (r + b[1]) * st;
            float w = expf(fminf(b[2], 20.0f)) * st, h = expf(fminf(b[3], 20.0f)) * st;
            ember_face_det d = {.score = score, .has_lm = true};
            d.x0 = (cx - w / 2) * sx, d.y0 = (cy - h / 2) * sy;
            d.x1 = (cx + w / 2) * sx, d.y1 = (cy + h / 2) * sy;
            for (int j = 0; j < 5; j++) {
                d.lm[2 * j] = (p[2 * j] + c) * st * sx;
                d.lm[2 * j + 1] = (p[2 * j + 1] + r) * st * sy;
            }
            if ((s = ember_face_dets_push(out, &d))) return s;
        }
    }
    return EMBER_OK;
}

/* --- UltraFace ------------------------------------------------------------------------------------------ */
static const int UF_STEPS[4] = {8, 16, 32, 64};
static const int UF_NMIN[4] = {3, 2, 2, 3};
static const float UF_MIN[4][3] = {{10, 16, 24}, {32, 48, 0}, {64, 96, 0}, {128, 192, 256}};

static int ceil_div(int a, int b) { return (a + b - 1) / b; }

int64_t ember_face_ultraface_priors(int in_w, int in_h) {
    int64_t n = 0;
    for (int k = 0; k < 4; k++) n += (int64_t)ceil_div(in_w, UF_STEPS[k]) * ceil_div(in_h, UF_STEPS[k]) * UF_NMIN[k];
    return n;
}

/* Prior i (centre x, y, width, height, all relative to the input size), in UltraFace's order: feature map,
 * row, column, box size. Clamped to [0, 1] like the reference. */
static void ultraface_prior(int in_w, int in_h, int64_t i, float p[4]) {
    for (int k = 0; k < 4; k++) {
        int64_t fw = ceil_div(in_w, UF_STEPS[k]), fh = ceil_div(in_h, UF_STEPS[k]), n = fw * fh * UF_NMIN[k];
        if (i >= n) {
            i -= n;
            continue;
        }
        int64_t cell = i / UF_NMIN[k];
        int m = (int)(i % UF_NMIN[k]);
        float scale_w = (float)in_w / UF_STEPS[k], scale_h = (float)in_h / UF_STEPS[k];
        p[0] = clamp01(((float)(cell % fw) + 0.5f) / scale_w);
        p[1] = clamp01(((float)(cell / fw) + 0.5f) / scale_h);
        p[2] = clamp01(UF_MIN[k][m] / in_w);
        p[3] = clamp01(UF_MIN[k][m] / in_h);
        return;
    }
    p[0] = p[1] = p[2] = p[3] = 0;
}

ember_status ember_face_decode_ultraface(const ember_face_blob *scores, const ember_face_blob *boxes, bool raw,
                                         int in_w, int in_h, int img_w, int img_h, float thr,
                                         ember_face_dets *out) {
    int64_t n = scores->count / 2;
    if (!scores->data || !boxes->data || scores->count != 2 * n || boxes->count != 4 * n)
        return ember_fail(EMBER_ERR_SHAPE, "UltraFace outputs: scores has %lld values and boxes %lld; expected "
                                           "N x 2 and N x 4",
                          (long long)scores->count, (long long)boxes->count);
    if (raw && n != ember_face_ultraface_priors(in_w, in_h))
        return ember_fail(EMBER_ERR_SHAPE, "UltraFace outputs have %lld boxes; a %dx%d input has %lld priors", (long long)n,
                          in_w, in_h, (long long)ember_face_ultraface_priors(in_w, in_h));
    for (int64_t i = 0; i < n; i++) {
        float score = scores->data[2 * i + 1];
        if (!(score >= thr)) continue;
        const float *b = boxes->data + 4 * i;
        float c[4]; /* corners relative to the input */
        if (raw) {
            float p[4];
            ultraface_prior(in_w, in_h, i, p);
            float cx = b[0] * 0.1f * p[2] + p[0], cy = b[1] * 0.1f * p[3] + p[1];
            float w = expf(fminf(b[2] * 0.2f, 20.0f)) * p[2], h = expf(fminf(b[3] * 0.2f, 20.0f)) * p[3];
            c[0] = cx - w / 2, c[1] = cy - h / 2, c[2] = cx + w / 2, c[3] = cy + h / 2;
        } else {
            memcpy(c, b, sizeof c);
        }
        ember_face_det d = {.score = clamp01(score)};
        d.x0 = clamp01(c[0]) * img_w, d.y0 = clamp01(c[1]) * img_h;
        d.x1 = clamp01(c[2]) * img_w, d.y1 = clamp01(c[3]) * img_h;
        if (!(d.x1 > d.x0 && d.y1 > d.y0)) continue;
        ember_status s = ember_face_dets_push(out, &d);
        if (s) return s;
    }
    return EMBER_OK;
}

/* --- 68 landmarks -> 5 ------------------------------------------------------------------------------------ */
void ember_face_landmarks68_to5(const float *p, float x0, float y0, float w, float h, float lm[10]) {
    /* iBUG 68-point indices: eye contours 36-41 and 42-47 (centre = mean of the four lid points), nose tip 30,
     * mouth corners 48/60 and 54/64 (outer and inner lip corner averaged). */
    static const int groups[5][4] = {{37, 38, 40, 41}, {43, 44, 46, 47}, {30, 30, 30, 30}, {48, 60, 48, 60},
                                     {54, 64, 54, 64}};
    for (int j = 0; j < 5; j++) {
        float x = 0, y = 0;
        for (int k = 0; k < 4; k++) x += p[2 * groups[j][k]] / 4, y += p[2 * groups[j][k] + 1] / 4;
        lm[2 * j] = x0 + x * w;
        lm[2 * j + 1] = y0 + y * h;
    }
}
