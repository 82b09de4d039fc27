/* Face app pieces that need no model: YUYV conversion (camera frames), embedder descriptors and their
 * MODEL.face sidecar, and the model lookup ($EMBER_FACE_MODELS, sub-folders, clear errors). */
#include "apps/face/face.h"
#include "check.h"

#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

static void test_yuyv(void) {
    /* Two pixel pairs: black/white with neutral chroma, then pure-ish red (Y=81, U=90, V=240). */
    const uint8_t yuyv[8] = {16, 128, 235, 128, 81, 90, 81, 240};
    uint8_t rgb[12];
    ember_face_yuyv_to_rgb(yuyv, 4, 1, 8, rgb);
    CHECK_EQ(rgb[0], 0);
    CHECK_EQ(rgb[1], 0);
    CHECK_EQ(rgb[2], 0);
    CHECK_EQ(rgb[3], 255);
    CHECK_EQ(rgb[4], 255);
    CHECK_EQ(rgb[5], 255);
    CHECK(rgb[6] >= 250 && rgb[7] <= 5 && rgb[8] <= 5);
    CHECK_EQ(rgb[6], rgb[9]);
    /* An odd width converts the last lone pixel too, and the stride skips padding. */
    const uint8_t odd[2 * 8] = {235, 128, 235, 128, 16, 128, 0, 128, 16, 128, 16, 128, 235, 128, 0, 128};
    uint8_t o[2 * 3 * 3];
    ember_face_yuyv_to_rgb(odd, 3, 2, 8, o);
    CHECK_EQ(o[6], 0);
    CHECK_EQ(o[9 + 6], 255);
}

static char tmpdir[256];

static void write_file(const char *rel, const char *text) {
    char p[512];
    snprintf(p, sizeof p, "%s/%s", tmpdir, rel);
    FILE *f = fopen(p, "w");
    if (f) fputs(text, f), fclose(f);
}

static void test_descriptors(void) {
    ember_face_embedder_desc d;
    CHECK(ember_face_embedder_describe("/nowhere/mobilefacenet.onnx", &d) == EMBER_OK);
    CHECK_STR(d.name, "mobilefacenet");
    CHECK_NEAR(d.mean[0], 127.5, 1e-6);
    CHECK(!d.bgr);
    CHECK(ember_face_embedder_describe("fr_feature.onnx", &d) == EMBER_OK);
    CHECK_STR(d.name, "fr_feature");
    CHECK_NEAR(d.std[2], 128, 1e-6);
    char path[512];
    snprintf(path, sizeof path, "%s/arcface_r18.onnx", tmpdir);
    CHECK(ember_face_embedder_describe(path, &d) == EMBER_OK);
    CHECK_STR(d.name, "arcface_r18");
    write_file("arcface_r18.face", "# an ArcFace in BGR\nname=r18\nmean=0\nstd=1,2,3\norder=bgr\nsize=128\n");
    CHECK(ember_face_embedder_describe(path, &d) == EMBER_OK);
    CHECK_STR(d.name, "r18");
    CHECK_NEAR(d.mean[2], 0, 1e-6);
    CHECK_NEAR(d.std[1], 2, 1e-6);
    CHECK(d.bgr);
    CHECK_EQ(d.size, 128);
    write_file("arcface_r18.face", "order=yuv\n");
    CHECK(ember_face_embedder_describe(path, &d) == EMBER_ERR_FORMAT);
    CHECK(strstr(ember_last_error(), "arcface_r18.face:1") != NULL);
}

static void test_model_lookup(void) {
    char sub[512], out[1024];
    snprintf(sub, sizeof sub, "%s/yunet", tmpdir);
    mkdir(sub, 0755);
    write_file("yunet/face_detection_yunet_2023mar.onnx", "x");
    write_file("fr_feature.onnx", "x");
    setenv("EMBER_FACE_MODELS", tmpdir, 1);
    CHECK(ember_face_model_find("yunet", NULL, out, sizeof out) == EMBER_OK);
    CHECK(strstr(out, "yunet/face_detection_yunet_2023mar.onnx") != NULL);
    CHECK(ember_face_model_find("fr_feature", NULL, out, sizeof out) == EMBER_OK);
    CHECK(strstr(out, tmpdir) && strstr(out, "/fr_feature.onnx"));
    const char *names[2] = {"mobilefacenet", "fr_feature"}, *chosen = NULL;
    /* mobilefacenet may exist in ../shared; either way one of the two is chosen. */
    CHECK(ember_face_model_find_first(names, 2, NULL, out, sizeof out, &chosen) == EMBER_OK);
    CHECK(chosen != NULL);
    CHECK(ember_face_model_find("no/such/model.onnx", NULL, out, sizeof out) == EMBER_ERR_IO);
    CHECK(strstr(ember_last_error(), "no/such/model.onnx") != NULL);
    unsetenv("EMBER_FACE_MODELS");
}

int main(void) {
    snprintf(tmpdir, sizeof tmpdir, "/tmp/ember-face-units-XXXXXX");
    if (!mkdtemp(tmpdir)) return 1;
    RUN(test_yuyv);
    RUN(test_descriptors);
    RUN(test_model_lookup);
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    if (system(cmd)) printf("  (could not remove %s)\n", tmpdir);
    return check_done();
}
