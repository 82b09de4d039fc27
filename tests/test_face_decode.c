/* Face detector decoders on the golden raw outputs in ../shared/data/golden (YuNet 320, UltraFace RFB-320 with
 * and without prior decoding), NMS, and the 68 -> 5 landmark reduction. Expected boxes come from an
 * independent NumPy decoding of the same outputs. */
#include "apps/face/face.h"
#include "check.h"

/* Load a raw float32 file from ../shared/data/golden; NULL when absent. */
static float *golden(const char *name, int64_t *count) {
    char rel[256], buf[512];
    snprintf(rel, sizeof rel, "data/golden/%s", name);
    if (!check_shared(rel, buf, sizeof buf)) return NULL;
    uint8_t *data;
    size_t n;
    if (ember_face_file_read(buf, &data, &n) != EMBER_OK) return NULL;
    *count = (int64_t)(n / 4);
    return (float *)data;
}

static void test_yunet_golden(void) {
    ember_face_blob cls[3], obj[3], bbox[3], kps[3];
    float *bufs[12] = {0};
    const char *kinds[4] = {"cls", "obj", "bbox", "kps"};
    ember_face_blob *dst[4] = {cls, obj, bbox, kps};
    bool ok = true;
    for (int k = 0; k < 4; k++)
        for (int i = 0; i < 3; i++) {
            char name[64];
            snprintf(name, sizeof name, "yunet320_%s_%d.f32", kinds[k], 8 << i);
            int64_t n = 0;
            bufs[k * 3 + i] = golden(name, &n);
            ok &= bufs[k * 3 + i] != NULL;
            dst[k][i] = (ember_face_blob){bufs[k * 3 + i], n};
        }
    if (ok) {
        ember_face_dets d = {0};
        CHECK(ember_face_decode_yunet(cls, obj, bbox, kps, 320, 320, 1, 1, 0.6f, &d) == EMBER_OK);
        CHECK_EQ(d.n, 42); /* before NMS, as the reference counts */
        ember_face_nms(&d, 0.3f, 0);
        CHECK_EQ(d.n, 5);
        if (d.n == 5) {
            ember_face_det *f = &d.v[0];
            CHECK_NEAR(f->score, 0.93166, 1e-4);
            CHECK_NEAR(f->x0, 169.6618, 1e-3);
            CHECK_NEAR(f->y0, 97.0376, 1e-3);
            CHECK_NEAR(f->x1 - f->x0, 28.7832, 1e-3);
            CHECK_NEAR(f->y1 - f->y0, 41.5272, 1e-3);
            CHECK(f->has_lm);
            CHECK_NEAR(f->lm[0], 174.3284, 1e-3);
            CHECK_NEAR(f->lm[1], 114.5531, 1e-3);
            CHECK_NEAR(f->lm[9], 129.1023, 1e-3);
            CHECK_NEAR(d.v[4].x0, 93.2062, 1e-3);
            CHECK_NEAR(d.v[4].score, 0.89125, 1e-4);
        }
        /* Mapping back to a larger image scales boxes and landmarks. */
        ember_face_dets d2 = {0};
        CHECK(ember_face_decode_yunet(cls, obj, bbox, kps, 320, 320, 2, 3, 0.6f, &d2) == EMBER_OK);
        ember_face_nms(&d2, 0.3f, 0);
        if (d2.n == 5 && d.n == 5) {
            CHECK_NEAR(d2.v[0].x0, 2 * d.v[0].x0, 1e-3);
            CHECK_NEAR(d2.v[0].lm[1], 3 * d.v[0].lm[1], 1e-3);
        }
        /* A wrong input size is a shape error naming the output, not a read past the end. */
        CHECK(ember_face_decode_yunet(cls, obj, bbox, kps, 640, 640, 1, 1, 0.6f, &d2) == EMBER_ERR_SHAPE);
        CHECK(strstr(ember_last_error(), "cls_8") != NULL);
        ember_face_dets_free(&d);
        ember_face_dets_free(&d2);
    }
    for (int i = 0; i < 12; i++) ember_free(bufs[i]);
    SKIP_IF(!ok, "../shared/data/golden is absent");
}

static void test_ultraface_golden(void) {
    int64_t ns = 0, nb = 0, nr = 0;
    float *scores = golden("version-RFB-320_scores.f32", &ns), *boxes = golden("version-RFB-320_boxes.f32", &nb);
    float *raw = golden("version-RFB-320_simplified_boxes.f32", &nr);
    if (scores && boxes && raw) {
        CHECK_EQ(ember_face_ultraface_priors(320, 240), 4420);
        CHECK_EQ(ember_face_ultraface_priors(640, 480), 17640);
        ember_face_blob s = {scores, ns}, b = {boxes, nb}, r = {raw, nr};
        ember_face_dets a = {0}, p = {0};
        CHECK(ember_face_decode_ultraface(&s, &b, false, 320, 240, 320, 240, 0.7f, &a) == EMBER_OK);
        CHECK(ember_face_decode_ultraface(&s, &r, true, 320, 240, 320, 240, 0.7f, &p) == EMBER_OK);
        ember_face_nms(&a, 0.3f, 0);
        ember_face_nms(&p, 0.3f, 0);
        CHECK_EQ(a.n, 5);
        CHECK_EQ(p.n, 5);
        /* The model's own post-processing and our prior decoding of the raw regressions agree. */
        for (int i = 0; i < a.n && i < p.n; i++) {
            CHECK_NEAR(a.v[i].x0, p.v[i].x0, 0.05);
            CHECK_NEAR(a.v[i].y1, p.v[i].y1, 0.05);
        }
        if (a.n == 5) {
            CHECK_NEAR(a.v[0].score, 0.999833, 1e-5);
            CHECK_NEAR(a.v[0].x0, 232.0403, 1e-3);
            CHECK_NEAR(a.v[0].y0, 81.6594, 1e-3);
            CHECK_NEAR(a.v[0].x1 - a.v[0].x0, 29.7563, 1e-3);
        }
        /* Raw decoding refuses an input size whose priors do not match. */
        CHECK(ember_face_decode_ultraface(&s, &r, true, 640, 480, 640, 480, 0.7f, &p) == EMBER_ERR_SHAPE);
        ember_face_dets_free(&a);
        ember_face_dets_free(&p);
    }
    ember_free(scores);
    ember_free(boxes);
    ember_free(raw);
    SKIP_IF(!(scores && boxes && raw), "../shared/data/golden is absent");
}

static void test_nms(void) {
    ember_face_dets d = {0};
    ember_face_det a = {0, 0, 10, 10, 0.5f, {0}, false}, b = {1, 1, 11, 11, 0.9f, {0}, false},
                   c = {20, 20, 30, 30, 0.7f, {0}, false}, e = {5, 0, 15, 10, 0.6f, {0}, false};
    CHECK_NEAR(ember_face_iou(&a, &b), 81.0 / 119.0, 1e-6);
    CHECK_NEAR(ember_face_iou(&a, &c), 0, 0);
    CHECK_NEAR(ember_face_iou(&a, &e), 50.0 / 150.0, 1e-6);
    ember_face_dets_push(&d, &a);
    ember_face_dets_push(&d, &b);
    ember_face_dets_push(&d, &c);
    ember_face_dets_push(&d, &e);
    ember_face_nms(&d, 0.3f, 0);
    /* b suppresses a (IoU .68) and e (IoU .39 with b); c stays. */
    CHECK_EQ(d.n, 2);
    CHECK_NEAR(d.v[0].score, 0.9, 1e-6);
    CHECK_NEAR(d.v[1].score, 0.7, 1e-6);
    ember_face_dets_free(&d);
    ember_face_dets_push(&d, &a);
    ember_face_dets_push(&d, &c);
    ember_face_nms(&d, 0.3f, 1);
    CHECK_EQ(d.n, 1);
    CHECK_NEAR(d.v[0].score, 0.7, 1e-6);
    ember_face_dets_free(&d);
}

static void test_landmarks68(void) {
    float p[136];
    for (int i = 0; i < 68; i++) p[2 * i] = p[2 * i + 1] = 0;
    int eye_l[4] = {37, 38, 40, 41}, eye_r[4] = {43, 44, 46, 47};
    for (int k = 0; k < 4; k++) {
        p[2 * eye_l[k]] = 0.25f + 0.01f * k, p[2 * eye_l[k] + 1] = 0.3f;
        p[2 * eye_r[k]] = 0.75f, p[2 * eye_r[k] + 1] = 0.3f;
    }
    p[60] = 0.5f, p[61] = 0.55f;
    p[96] = 0.3f, p[97] = 0.8f, p[120] = 0.34f, p[121] = 0.78f;
    p[108] = 0.7f, p[109] = 0.8f, p[128] = 0.66f, p[129] = 0.78f;
    float lm[10];
    ember_face_landmarks68_to5(p, 100, 50, 200, 100, lm);
    CHECK_NEAR(lm[0], 100 + 200 * 0.265f, 1e-3);
    CHECK_NEAR(lm[1], 50 + 30, 1e-3);
    CHECK_NEAR(lm[2], 250, 1e-3);
    CHECK_NEAR(lm[4], 200, 1e-3);
    CHECK_NEAR(lm[5], 105, 1e-3);
    CHECK_NEAR(lm[6], 100 + 200 * 0.32f, 1e-3);
    CHECK_NEAR(lm[9], 50 + 79, 1e-3);
}

int main(void) {
    RUN(test_yunet_golden);
    RUN(test_ultraface_golden);
    RUN(test_nms);
    RUN(test_landmarks68);
    return check_done();
}
