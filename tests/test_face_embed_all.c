/* ember_face_pipeline_embed_all: the faces of one photo embedded in parallel (one embedder copy per thread) give
 * the same embeddings as one face at a time and as a one-thread pipeline; a face it cannot align fails the call
 * with a message naming the face. */
#include "apps/face/face.h"
#include "check.h"

#include <stdlib.h>

static ember_face_pipeline *open_pipeline(const char *det, const char *emb, int threads) {
    ember_face_pipeline *p = NULL;
    ember_face_pipeline_config cfg = {.detector = det, .embedder = emb, .threads = threads, .threshold = -1};
    CHECK_MSG(ember_face_pipeline_open(&cfg, &p) == EMBER_OK, "%s", ember_last_error());
    return p;
}

static void test_parallel_matches_sequential(void) {
    char img_path[512], det[512], emb_path[512];
    bool ok = !check_slow() && check_shared("data/faces/faceapi_bbt/bbt4.jpg", img_path, sizeof img_path) &&
              check_shared("models/face/yunet/yunet_s_dynamic.onnx", det, sizeof det) &&
              check_shared("models/face/mobilefacenet/mobilefacenet.onnx", emb_path, sizeof emb_path);
    SKIP_IF(!ok, "../shared data or models absent (or a slow runner)");
    ember_face_image img = {0};
    CHECK(ember_face_image_load(img_path, &img) == EMBER_OK);
    ember_face_pipeline *p2 = open_pipeline(det, emb_path, 2), *p1 = open_pipeline(det, emb_path, 1);
    ember_face_dets dets = {0};
    if (p2 && img.rgb) CHECK(ember_face_pipeline_detect(p2, &img, &dets) == EMBER_OK);
    CHECK_MSG(dets.n >= 2, "%d faces in bbt4.jpg", dets.n);
    if (!p1 || !p2 || dets.n < 2) goto done;
    int n = dets.n, dim = ember_face_embedder_dim(ember_face_pipeline_embedder(p2));
    float *par = calloc((size_t)n * dim, sizeof *par), *again = calloc((size_t)n * dim, sizeof *again);
    float *seq = calloc((size_t)n * dim, sizeof *seq), *one = calloc((size_t)n * dim, sizeof *one);
    CHECK_MSG(ember_face_pipeline_embed_all(p2, &img, &dets, par) == EMBER_OK, "%s", ember_last_error());
    for (int i = 0; i < n; i++) CHECK(ember_face_pipeline_embed(p2, &img, &dets.v[i], seq + (size_t)i * dim) == EMBER_OK);
    CHECK(ember_face_pipeline_embed_all(p1, &img, &dets, one) == EMBER_OK);
    CHECK(ember_face_pipeline_embed_all(p2, &img, &dets, again) == EMBER_OK); /* the copies, reused */
    for (int i = 0; i < n; i++) {
        const float *a = par + (size_t)i * dim;
        CHECK_MSG(check_max_abs_diff(a, seq + (size_t)i * dim, dim) <= 1e-5, "face %d vs one at a time: %g", i,
                  check_max_abs_diff(a, seq + (size_t)i * dim, dim));
        CHECK_MSG(check_max_abs_diff(a, one + (size_t)i * dim, dim) <= 1e-5, "face %d vs one thread: %g", i,
                  check_max_abs_diff(a, one + (size_t)i * dim, dim));
        CHECK(check_max_abs_diff(a, again + (size_t)i * dim, dim) <= 1e-5);
        if (i) CHECK(ember_face_cosine(a, par, dim) < 0.9f); /* different people, not one face copied */
    }
    /* A face without landmarks cannot be aligned: the call fails and names it, in parallel and alone. */
    dets.v[n - 1].has_lm = false;
    char want[32];
    snprintf(want, sizeof want, "face %d of %d", n - 1, n);
    CHECK(ember_face_pipeline_embed_all(p2, &img, &dets, par) == EMBER_ERR_ARG);
    CHECK_MSG(strstr(ember_last_error(), want) && strstr(ember_last_error(), "landmarks"), "%s", ember_last_error());
    CHECK(ember_face_pipeline_embed_all(p1, &img, &dets, one) == EMBER_ERR_ARG);
    CHECK_MSG(strstr(ember_last_error(), want) != NULL, "%s", ember_last_error());
    /* No faces: nothing to do. */
    ember_face_dets none = {0};
    CHECK(ember_face_pipeline_embed_all(p2, &img, &none, par) == EMBER_OK);
    free(par), free(again), free(seq), free(one);
done:
    ember_face_dets_free(&dets);
    ember_face_pipeline_close(p1);
    ember_face_pipeline_close(p2);
    ember_face_image_free(&img);
}

/* A pipeline opened for detection only has nothing to embed with. */
static void test_no_embedder(void) {
    char det[512];
    SKIP_IF(!check_shared("models/face/yunet/yunet_s_dynamic.onnx", det, sizeof det), "../shared models absent");
    ember_face_pipeline *p = open_pipeline(det, NULL, 2);
    ember_face_image img = {0};
    ember_face_dets dets = {0};
    ember_face_det d = {.x1 = 1, .y1 = 1, .has_lm = true};
    CHECK(ember_face_dets_push(&dets, &d) == EMBER_OK && ember_face_dets_push(&dets, &d) == EMBER_OK);
    float emb[8];
    if (p) CHECK(ember_face_pipeline_embed_all(p, &img, &dets, emb) == EMBER_ERR_ARG);
    ember_face_dets_free(&dets);
    ember_face_pipeline_close(p);
}

int main(void) {
    RUN(test_parallel_matches_sequential);
    RUN(test_no_embedder);
    return check_done();
}
