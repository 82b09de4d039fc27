/* The face models' raw outputs against ../shared/data/golden (computed with OpenCV 4.6 dnn; see its
 * manifest.json): same input file, every output within 1e-4 relative (plus 1e-5 absolute for values near
 * zero). Also: the detector recognises each family, and the pipeline's embedding of amy1.png is close to the
 * golden one. */
#include "apps/face/face.h"
#include "check.h"

#include <stdlib.h>
#include <unistd.h>

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

static const char *model_path(const char *rel, char *buf, size_t cap) {
    char r[256];
    snprintf(r, sizeof r, "models/face/%s", rel);
    return check_shared(r, buf, cap);
}

typedef struct golden_case {
    const char *model, *input;
    int64_t shape[4];
    const char *outputs[12];
    bool heavy;
} golden_case;

static const golden_case CASES[] = {
    {"yunet/yunet_s_320_320.onnx", "yunet320_input.f32", {1, 3, 320, 320},
     {"yunet320_cls_8.f32", "yunet320_cls_16.f32", "yunet320_cls_32.f32", "yunet320_obj_8.f32", "yunet320_obj_16.f32",
      "yunet320_obj_32.f32", "yunet320_bbox_8.f32", "yunet320_bbox_16.f32", "yunet320_bbox_32.f32",
      "yunet320_kps_8.f32", "yunet320_kps_16.f32", "yunet320_kps_32.f32"}, false},
    {"ultraface/version-RFB-320.onnx", "ultraface320_input.f32", {1, 3, 240, 320},
     {"version-RFB-320_scores.f32", "version-RFB-320_boxes.f32"}, true},
    {"ultraface/version-RFB-320_simplified.onnx", "ultraface320_input.f32", {1, 3, 240, 320},
     {"version-RFB-320_simplified_scores.f32", "version-RFB-320_simplified_boxes.f32"}, true},
    {"mobilefacenet/mobilefacenet.onnx", "face112_input.f32", {1, 3, 112, 112}, {"mobilefacenet_output.f32"}, true},
    {"faceplugin/fr_feature.onnx", "face112_input.f32", {1, 3, 112, 112}, {"faceplugin_fr_feature_output.f32"}, true},
};

static void run_case(const golden_case *c) {
    char path[512];
    int64_t nin = 0;
    float *in = golden(c->input, &nin);
    if (!model_path(c->model, path, sizeof path) || !in) {
        ember_free(in);
        printf("  skip %s: model or golden data absent\n", c->model);
        check_current_skipped = 1;
        return;
    }
    ember_onnx_model *m = NULL;
    ember_onnx_session *s = NULL;
    ember_tensor *t = NULL, *outs[12] = {0};
    CHECK(ember_onnx_open(path, &m) == EMBER_OK);
    if (m) CHECK(ember_onnx_session_create(m, &(ember_onnx_options){.threads = 2}, &s) == EMBER_OK);
    CHECK(ember_tensor_wrap(EMBER_DTYPE_F32, 4, c->shape, in, (size_t)nin * 4, &t) == EMBER_OK);
    if (s && t) CHECK_MSG(ember_onnx_run_tensors(s, &t, outs) == EMBER_OK, "%s", ember_last_error());
    for (int i = 0; i < 12 && c->outputs[i]; i++) {
        int64_t n = 0;
        float *want = golden(c->outputs[i], &n);
        CHECK(want != NULL);
        if (!want || !outs[i]) {
            ember_free(want);
            continue;
        }
        CHECK_EQ(ember_tensor_count(outs[i]), n);
        const float *got = outs[i]->data;
        double worst = 0;
        int64_t at = 0;
        for (int64_t k = 0; k < n && k < ember_tensor_count(outs[i]); k++) {
            double e = fabs((double)got[k] - want[k]) / (1e-1 + fabs(want[k]));
            if (e > worst) worst = e, at = k;
        }
        CHECK_MSG(worst <= 1e-4, "%s %s: element %lld is %g, golden %g", c->model, c->outputs[i], (long long)at,
                  got[at], want[at]);
        ember_free(want);
    }
    for (int i = 0; i < 12; i++) ember_tensor_destroy(outs[i]);
    ember_tensor_destroy(t);
    ember_onnx_session_destroy(s);
    ember_onnx_close(m);
    ember_free(in);
}

static void test_golden_outputs(void) {
    /* under qemu or sanitizers only the small models run */
    for (size_t i = 0; i < sizeof CASES / sizeof *CASES; i++)
        if (!(CASES[i].heavy && check_slow())) run_case(&CASES[i]);
}

static void test_detector_families(void) {
    static const struct {
        const char *rel;
        ember_face_detector_kind kind;
        float thr;
    } want[] = {
        {"yunet/yunet_s_320_320.onnx", EMBER_FACE_DET_YUNET, 0.6f},
        {"ultraface/version-RFB-320.onnx", EMBER_FACE_DET_ULTRAFACE, 0.7f},
        {"faceplugin/fr_detect.onnx", EMBER_FACE_DET_ULTRAFACE, 0.65f},
    };
    char path[512];
    int found = 0;
    for (size_t i = 0; i < sizeof want / sizeof *want; i++) {
        if (!model_path(want[i].rel, path, sizeof path)) continue;
        found++;
        ember_face_detector *d = NULL;
        CHECK_MSG(ember_face_detector_open(path, NULL, &d) == EMBER_OK, "%s", ember_last_error());
        if (!d) continue;
        CHECK_EQ(ember_face_detector_family(d), want[i].kind);
        CHECK_NEAR(ember_face_detector_default_threshold(d), want[i].thr, 1e-6);
        ember_face_detector_close(d);
    }
    /* Not a detector: a clear refusal. */
    if (model_path("mobilefacenet/mobilefacenet.onnx", path, sizeof path)) {
        ember_face_detector *d = NULL;
        CHECK(ember_face_detector_open(path, NULL, &d) == EMBER_ERR_UNSUPPORTED);
        CHECK(strstr(ember_last_error(), "not a known face detector") != NULL);
        CHECK(d == NULL);
    }
    SKIP_IF(!found, "../shared/models/face is absent");
}

/* The whole pipeline on amy1.png (padded 40 px, as the golden input was made): detect with YuNet, align to the
 * ArcFace template, embed with MobileFaceNet — the embedding is close to the golden one. Not equal: the golden
 * crop came from another YuNet input size, whose landmarks differ by a pixel or two. */
static void test_pipeline_matches_golden(void) {
    char img_path[512], det[512], emb_path[512];
    int64_t n = 0;
    float *want = golden("mobilefacenet_output.f32", &n);
    bool ok = want && n == 128 && !check_slow() &&
              check_shared("data/faces/faceapi_bbt/amy/amy1.png", img_path, sizeof img_path) &&
              model_path("yunet/yunet_s_dynamic.onnx", det, sizeof det) &&
              model_path("mobilefacenet/mobilefacenet.onnx", emb_path, sizeof emb_path);
    if (ok) {
        ember_face_image img = {0}, big = {0};
        CHECK(ember_face_image_load(img_path, &img) == EMBER_OK);
        CHECK(ember_face_image_alloc(img.w + 80, img.h + 80, &big) == EMBER_OK);
        for (int y = 0; y < img.h && big.rgb; y++)
            memcpy(big.rgb + ((size_t)(y + 40) * big.w + 40) * 3, img.rgb + (size_t)y * img.w * 3, (size_t)img.w * 3);
        ember_face_pipeline *p = NULL;
        ember_face_pipeline_config cfg = {.detector = det, .embedder = emb_path, .threads = 2, .threshold = -1};
        CHECK_MSG(ember_face_pipeline_open(&cfg, &p) == EMBER_OK, "%s", ember_last_error());
        ember_face_dets dets = {0};
        if (p) CHECK(ember_face_pipeline_detect(p, &big, &dets) == EMBER_OK);
        CHECK_EQ(dets.n, 1);
        if (dets.n == 1) {
            float emb[128];
            CHECK(ember_face_pipeline_embed(p, &big, &dets.v[0], emb) == EMBER_OK);
            float sim = ember_face_cosine(emb, want, 128);
            CHECK_MSG(sim > 0.9f, "cosine to the golden embedding is %.3f", sim);
        }
        /* The unpadded crop goes through the retry with a border and still finds the face. */
        if (p) CHECK(ember_face_pipeline_detect(p, &img, &dets) == EMBER_OK);
        CHECK_EQ(dets.n, 1);
        ember_face_dets_free(&dets);
        ember_face_pipeline_close(p);
        ember_face_image_free(&img);
        ember_face_image_free(&big);
    }
    ember_free(want);
    SKIP_IF(!ok, "../shared data or models absent (or a slow runner)");
}

int main(void) {
    RUN(test_golden_outputs);
    RUN(test_detector_families);
    RUN(test_pipeline_matches_golden);
    return check_done();
}
