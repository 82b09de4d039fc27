/* The face pipeline: detector (+ fr_landmark when the detector gives no landmarks) -> ArcFace alignment ->
 * embedder, sharing one thread pool. */
#include "apps/face/face.h"

#include <string.h>

struct ember_face_pipeline {
    ember_pool *pool;
    ember_face_detector *det;
    ember_face_landmarker *lmk;
    ember_face_embedder *emb;
    float threshold;
};

ember_status ember_face_pipeline_open(const ember_face_pipeline_config *cfg, ember_face_pipeline **out) {
    *out = NULL;
    ember_face_pipeline *p = ember_calloc(1, sizeof *p);
    if (!p) return ember_fail(EMBER_ERR_NOMEM, "out of memory for the face pipeline");
    p->threshold = cfg->threshold;
    ember_status s = ember_pool_create(cfg->threads, &p->pool);
    if (!s && cfg->detector) s = ember_face_detector_open(cfg->detector, p->pool, &p->det);
    if (!s && p->det && ember_face_detector_family(p->det) != EMBER_FACE_DET_YUNET && cfg->embedder) {
        if (!cfg->landmarker)
            s = ember_fail(EMBER_ERR_ARG, "detector %s gives no landmarks: alignment needs fr_landmark.onnx",
                           cfg->detector);
        else
            s = ember_face_landmarker_open(cfg->landmarker, p->pool, &p->lmk);
    }
    if (!s && cfg->embedder) s = ember_face_embedder_open(cfg->embedder, NULL, p->pool, &p->emb);
    if (s) {
        ember_face_pipeline_close(p);
        return s;
    }
    *out = p;
    return EMBER_OK;
}

void ember_face_pipeline_close(ember_face_pipeline *p) {
    if (!p) return;
    ember_face_embedder_close(p->emb);
    ember_face_landmarker_close(p->lmk);
    ember_face_detector_close(p->det);
    ember_pool_destroy(p->pool);
    ember_free(p);
}

ember_face_embedder *ember_face_pipeline_embedder(ember_face_pipeline *p) { return p->emb; }

/* Detect on img inside a border of `pad` black pixels, mapping results back. */
static ember_status detect_padded(ember_face_pipeline *p, const ember_face_image *img, int pad, ember_face_dets *out) {
    ember_face_image big = {0};
    ember_status s = ember_face_image_alloc(img->w + 2 * pad, img->h + 2 * pad, &big);
    if (s) return s;
    for (int y = 0; y < img->h; y++)
        memcpy(big.rgb + ((size_t)(y + pad) * big.w + pad) * 3, img->rgb + (size_t)y * img->w * 3, (size_t)img->w * 3);
    s = ember_face_detect(p->det, &big, p->threshold, out);
    ember_face_image_free(&big);
    if (s) return s;
    for (int i = 0; i < out->n; i++) {
        ember_face_det *d = &out->v[i];
        d->x0 -= pad, d->x1 -= pad, d->y0 -= pad, d->y1 -= pad;
        for (int k = 0; k < 10; k++) d->lm[k] -= pad;
    }
    return EMBER_OK;
}

ember_status ember_face_pipeline_detect(ember_face_pipeline *p, const ember_face_image *img, ember_face_dets *out) {
    if (!p->det) return ember_fail(EMBER_ERR_ARG, "face pipeline has no detector");
    ember_status s = ember_face_detect(p->det, img, p->threshold, out);
    if (!s && out->n == 0) {
        int side = img->w > img->h ? img->w : img->h;
        s = detect_padded(p, img, side / 4 > 8 ? side / 4 : 8, out);
    }
    for (int i = 0; !s && p->lmk && i < out->n; i++)
        if (!out->v[i].has_lm) s = ember_face_landmarks(p->lmk, img, &out->v[i]);
    return s;
}

ember_status ember_face_pipeline_embed(ember_face_pipeline *p, const ember_face_image *img, const ember_face_det *d,
                                       float *emb) {
    if (!p->emb) return ember_fail(EMBER_ERR_ARG, "face pipeline has no embedder");
    if (!d->has_lm) return ember_fail(EMBER_ERR_ARG, "face has no landmarks to align it by");
    ember_face_image crop = {0};
    ember_status s = ember_face_align(img, d->lm, ember_face_embedder_size(p->emb), &crop);
    if (!s) s = ember_face_embed(p->emb, &crop, emb);
    ember_face_image_free(&crop);
    return s;
}
