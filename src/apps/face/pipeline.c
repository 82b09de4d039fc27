/* The face pipeline: detector (+ fr_landmark when the detector gives no landmarks) -> ArcFace alignment ->
 * embedder, sharing one thread pool. The faces of one image are embedded in parallel, one face per thread,
 * each thread with its own single-threaded copy of the embedder (a session runs on one thread at a time). */
#include "apps/face/face.h"

#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

struct ember_face_pipeline {
    ember_pool *pool;
    ember_face_detector *det;
    ember_face_landmarker *lmk;
    ember_face_embedder *emb;
    char *emb_path;              /* for the extra copies */
    ember_face_embedder **extra; /* copies 1..nextra of the embedder (single-threaded, no pool), opened lazily */
    int nextra;
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
    if (!s && cfg->embedder && !(p->emb_path = ember_strdup(cfg->embedder)))
        s = ember_fail(EMBER_ERR_NOMEM, "out of memory for the face pipeline");
    if (s) {
        ember_face_pipeline_close(p);
        return s;
    }
    *out = p;
    return EMBER_OK;
}

void ember_face_pipeline_close(ember_face_pipeline *p) {
    if (!p) return;
    for (int i = 0; i < p->nextra; i++) ember_face_embedder_close(p->extra[i]);
    ember_free(p->extra);
    ember_free(p->emb_path);
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

/* Align face d of img for embedder e and embed it into emb. */
static ember_status embed_one(ember_face_embedder *e, const ember_face_image *img, const ember_face_det *d,
                              float *emb) {
    if (!d->has_lm) return ember_fail(EMBER_ERR_ARG, "face has no landmarks to align it by");
    ember_face_image crop = {0};
    ember_status s = ember_face_align(img, d->lm, ember_face_embedder_size(e), &crop);
    if (!s) s = ember_face_embed(e, &crop, emb);
    ember_face_image_free(&crop);
    return s;
}

ember_status ember_face_pipeline_embed(ember_face_pipeline *p, const ember_face_image *img, const ember_face_det *d,
                                       float *emb) {
    if (!p->emb) return ember_fail(EMBER_ERR_ARG, "face pipeline has no embedder");
    return embed_one(p->emb, img, d, emb);
}

/* Open copies of the embedder until there are `n` in all (the pipeline's own one counts). */
static ember_status ensure_copies(ember_face_pipeline *p, int n) {
    if (n - 1 <= p->nextra) return EMBER_OK;
    ember_face_embedder **v = ember_realloc(p->extra, (size_t)(n - 1) * sizeof *v);
    if (!v) return ember_fail(EMBER_ERR_NOMEM, "out of memory for embedder copies");
    p->extra = v;
    while (p->nextra < n - 1) {
        ember_status s = ember_face_embedder_open(p->emb_path, ember_face_embedder_info(p->emb), NULL,
                                                  &p->extra[p->nextra]);
        if (s) return ember_fail_context(s, "embedder copy %d: ", p->nextra + 1);
        p->nextra++;
    }
    return EMBER_OK;
}

typedef struct {
    ember_face_pipeline *p;
    const ember_face_image *img;
    const ember_face_dets *dets;
    float *embs;
    int dim;
    ember_status *status; /* one per face */
    char (*msg)[1024];    /* the message of each failed face */
    int *slot;            /* pool thread -> embedder copy, -1 until the thread first runs a face */
    atomic_int next_slot;
} embed_job;

static void embed_faces(void *ctx, int64_t begin, int64_t end, int thread) {
    embed_job *j = ctx;
    if (j->slot[thread] < 0) j->slot[thread] = atomic_fetch_add(&j->next_slot, 1);
    /* Distinct threads running faces are at most min(faces, threads): that many copies were opened. */
    ember_face_embedder *e = j->slot[thread] == 0 ? j->p->emb : j->p->extra[j->slot[thread] - 1];
    for (int64_t i = begin; i < end; i++) {
        ember_status s = embed_one(e, j->img, &j->dets->v[i], j->embs + (size_t)i * j->dim);
        j->status[i] = s;
        if (s) snprintf(j->msg[i], sizeof j->msg[i], "%s", ember_last_error());
    }
}

ember_status ember_face_pipeline_embed_all(ember_face_pipeline *p, const ember_face_image *img,
                                           const ember_face_dets *dets, float *embs) {
    if (!p->emb) return ember_fail(EMBER_ERR_ARG, "face pipeline has no embedder");
    int n = dets->n, threads = ember_pool_threads(p->pool), dim = ember_face_embedder_dim(p->emb);
    if (n < 2 || threads < 2) {
        for (int i = 0; i < n; i++) {
            ember_status s = ember_face_pipeline_embed(p, img, &dets->v[i], embs + (size_t)i * dim);
            if (s) return ember_fail_context(s, "face %d of %d: ", i, n);
        }
        return EMBER_OK;
    }
    int copies = n < threads ? n : threads;
    ember_status s = ensure_copies(p, copies);
    if (s) return s;
    embed_job j = {.p = p, .img = img, .dets = dets, .embs = embs, .dim = dim};
    j.status = ember_calloc((size_t)n, sizeof *j.status);
    j.msg = ember_calloc((size_t)n, sizeof *j.msg);
    j.slot = ember_malloc((size_t)threads * sizeof *j.slot);
    if (!j.status || !j.msg || !j.slot) s = ember_fail(EMBER_ERR_NOMEM, "out of memory embedding %d faces", n);
    if (!s) {
        for (int t = 0; t < threads; t++) j.slot[t] = -1;
        atomic_init(&j.next_slot, 0);
        ember_pool_for(p->pool, n, 1, embed_faces, &j);
        for (int i = 0; i < n && !s; i++)
            if (j.status[i]) s = ember_fail(j.status[i], "face %d of %d: %s", i, n, j.msg[i]);
    }
    ember_free(j.status);
    ember_free(j.msg);
    ember_free(j.slot);
    return s;
}
