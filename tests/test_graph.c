/* ONNX graph runtime: broadcasting helper, import of real test models, memory planning, re-planning on
 * new shapes, the unsupported-operator message, and a corpus of damaged model files (never a crash). */
#include "check.h"
#include "ember/onnx.h"
#include "ops/op.h"

#include <stdio.h>
#include <unistd.h>

#define NODE "conformance/onnx-node/"

/* Broadcasting over collapsed rows matches the naive per-element index computation. */
typedef struct bc_ctx {
    const float *a, *b;
    float *y;
} bc_ctx;
static void bc_add(void *ctx, int64_t o, const int64_t *off, const int64_t *st, int64_t n) {
    bc_ctx *c = ctx;
    for (int64_t i = 0; i < n; i++) c->y[o + i] = c->a[off[0] + i * st[0]] + c->b[off[1] + i * st[1]];
}

static void test_broadcast(void) {
    int64_t as[4] = {2, 1, 3, 5}, bs[3] = {4, 1, 5}, ys[4] = {2, 4, 3, 5};
    float a[30], b[20], y[120];
    for (int i = 0; i < 30; i++) a[i] = (float)i;
    for (int i = 0; i < 20; i++) b[i] = (float)(100 * i);
    ember_tensor ta = {.dtype = EMBER_DTYPE_F32, .ndim = 4, .data = a}, tb = {.dtype = EMBER_DTYPE_F32, .ndim = 3, .data = b};
    memcpy(ta.shape, as, sizeof as);
    memcpy(tb.shape, bs, sizeof bs);
    const ember_tensor *ins[2] = {&ta, &tb};
    eo_bcast bc;
    CHECK(eo_bcast_init(&bc, 2, ins, 4, ys) == EMBER_OK);
    bc_ctx ctx = {a, b, y};
    eo_bcast_run(&bc, NULL, bc_add, &ctx);
    int bad = 0;
    for (int i0 = 0; i0 < 2; i0++)
        for (int i1 = 0; i1 < 4; i1++)
            for (int i2 = 0; i2 < 3; i2++)
                for (int i3 = 0; i3 < 5; i3++) {
                    float want = a[(i0 * 3 + i2) * 5 + i3] + b[i1 * 5 + i3];
                    bad += y[((i0 * 4 + i1) * 3 + i2) * 5 + i3] != want;
                }
    CHECK_EQ(bad, 0);
}

static void test_node_tests(void) {
    char buf[512];
    const char *dirs[] = {"test_conv_with_strides_padding", "test_gemm_all_attributes", "test_reduce_mean_keepdims_random",
                          "test_softmax_axis_1", "test_slice_neg_steps", "test_attention_4d_gqa"};
    for (size_t i = 0; i < sizeof dirs / sizeof dirs[0]; i++) {
        char rel[256];
        snprintf(rel, sizeof rel, NODE "%s/model.onnx", dirs[i]);
        SKIP_IF(!check_shared(rel, buf, sizeof buf), "../shared/conformance is absent");
        buf[strlen(buf) - strlen("/model.onnx")] = 0;
        ember_onnx_test_result r;
        CHECK(ember_onnx_test_dir(buf, NULL, &r) == EMBER_OK);
        CHECK_MSG(r.verdict == EMBER_TEST_PASS, "%s: %s", dirs[i], r.reason);
    }
}

/* An unknown operator fails the load with one message naming op, domain, opset and node. The model is
 * test_add with its op_type field ("Add", tag 0x22 length 3) renamed, so no real op is needed. */
static void test_unsupported_listed_once(void) {
    char buf[512];
    SKIP_IF(!check_shared(NODE "test_add/model.onnx", buf, sizeof buf), "../shared/conformance is absent");
    FILE *f = fopen(buf, "rb");
    unsigned char b[4096];
    size_t n = f ? fread(b, 1, sizeof b, f) : 0;
    if (f) fclose(f);
    CHECK(n > 20 && n < sizeof b);
    int renamed = 0;
    for (size_t i = 0; i + 5 <= n; i++)
        if (b[i] == 0x22 && b[i + 1] == 3 && !memcmp(b + i + 2, "Add", 3)) memcpy(b + i + 2, "Zzz", 3), renamed++;
    CHECK(renamed == 1);
    char tmp[] = "/tmp/ember_unsupported_XXXXXX";
    int fd = mkstemp(tmp);
    CHECK(fd >= 0);
    close(fd);
    f = fopen(tmp, "wb");
    fwrite(b, 1, n, f);
    fclose(f);
    ember_onnx_model *m = NULL;
    CHECK(ember_onnx_open(tmp, &m) == EMBER_ERR_UNSUPPORTED);
    CHECK(m == NULL);
    CHECK_MSG(strstr(ember_last_error(), "Zzz (opset ") != NULL, "%s", ember_last_error());
    remove(tmp);
}

/* mobilenet: plan shares memory between activations; outputs stay the same across runs and threads. */
static void test_plan_and_threads(void) {
    char buf[512];
    SKIP_IF(!check_shared("models/bench/squeezenet1_1.onnx", buf, sizeof buf), "../shared/models is absent");
    ember_onnx_model *m = NULL;
    CHECK(ember_onnx_open(buf, &m) == EMBER_OK);
    if (!m) return;
    ember_onnx_session *s1 = NULL, *s4 = NULL;
    CHECK(ember_onnx_session_create(m, &(ember_onnx_options){.threads = 1}, &s1) == EMBER_OK);
    CHECK(ember_onnx_session_create(m, &(ember_onnx_options){.threads = 4}, &s4) == EMBER_OK);
    int64_t shape[4] = {1, 3, 224, 224};
    ember_tensor *x = NULL, *y1 = NULL, *y4 = NULL, *y1b = NULL;
    ember_tensor_create(EMBER_DTYPE_F32, 4, shape, &x);
    for (int64_t i = 0; i < ember_tensor_count(x); i++) ((float *)x->data)[i] = check_randf(0, 1);
    CHECK(ember_onnx_run_tensors(s1, &x, &y1) == EMBER_OK);
    CHECK(ember_onnx_run_tensors(s1, &x, &y1b) == EMBER_OK);
    CHECK(ember_onnx_run_tensors(s4, &x, &y4) == EMBER_OK);
    ember_onnx_plan_info pi;
    ember_onnx_get_plan_info(s1, &pi);
    CHECK(pi.arena_bytes > 0 && pi.arena_bytes * 2 < pi.activation_bytes); /* buffers are reused */
    double maxdiff = 0;
    for (int64_t i = 0; y1 && y4 && y1b && i < ember_tensor_count(y1); i++) {
        double d = fabs(((float *)y1->data)[i] - ((float *)y4->data)[i]);
        if (d > maxdiff) maxdiff = d;
        CHECK(((float *)y1->data)[i] == ((float *)y1b->data)[i]);
    }
    CHECK(maxdiff < 1e-4);
    ember_tensor_destroy(x), ember_tensor_destroy(y1), ember_tensor_destroy(y1b), ember_tensor_destroy(y4);
    ember_onnx_session_destroy(s1);
    ember_onnx_session_destroy(s4);
    ember_onnx_close(m);
}

/* A model with symbolic input dims plans again when the input shape changes, and back: each run's outputs
 * match a fresh session's on the same input (the Conv steps keep the geometry their weights were packed
 * for, and must not take it for another shape). */
static void test_replan(void) {
    char buf[512];
    SKIP_IF(!check_shared("models/face/yunet/yunet_n_dynamic.onnx", buf, sizeof buf), "../shared/models is absent");
    ember_onnx_model *m = NULL;
    ember_onnx_session *s = NULL;
    CHECK(ember_onnx_open(buf, &m) == EMBER_OK);
    if (!m) return;
    CHECK(ember_onnx_session_create(m, &(ember_onnx_options){.threads = 2}, &s) == EMBER_OK);
    int nout = ember_onnx_output_count(m);
    for (int k = 0; k < 3; k++) {
        int64_t h = 64 + 32 * (k % 2), shape[4] = {1, 3, h, 96};
        ember_tensor *x = NULL, *outs[16] = {0}, *fresh[16] = {0};
        ember_tensor_create(EMBER_DTYPE_F32, 4, shape, &x);
        float *px = x->data;
        for (int64_t i = 0; i < 3 * h * 96; i++) px[i] = (float)((i * 37 + k) % 255) / 255.0f;
        CHECK(ember_onnx_run_tensors(s, &x, outs) == EMBER_OK);
        /* cls_8: batch x (h/8 * w/8) x 1 */
        CHECK(outs[0] && outs[0]->shape[1] == h / 8 * 96 / 8);
        ember_onnx_session *once = NULL;
        CHECK(ember_onnx_session_create(m, &(ember_onnx_options){.threads = 2}, &once) == EMBER_OK);
        CHECK(ember_onnx_run_tensors(once, &x, fresh) == EMBER_OK);
        for (int i = 0; i < nout && i < 16; i++) {
            CHECK(outs[i] && fresh[i] && ember_tensor_count(outs[i]) == ember_tensor_count(fresh[i]));
            if (!outs[i] || !fresh[i] || outs[i]->dtype != EMBER_DTYPE_F32) continue;
            const float *a = outs[i]->data, *b = fresh[i]->data;
            for (int64_t e = 0; e < ember_tensor_count(outs[i]) && e < ember_tensor_count(fresh[i]); e++)
                CHECK_MSG(a[e] == b[e], "run %d output %d element %lld: %g, a fresh session %g", k, i,
                          (long long)e, a[e], b[e]);
        }
        for (int i = 0; i < nout && i < 16; i++)
            ember_tensor_destroy(outs[i]), ember_tensor_destroy(fresh[i]);
        ember_onnx_session_destroy(once);
        ember_tensor_destroy(x);
    }
    ember_onnx_session_destroy(s);
    ember_onnx_close(m);
}

/* Damaged copies of a model (truncated, bytes flipped) load with an error or run, never crash. */
static void test_damaged_models(void) {
    char buf[512];
    SKIP_IF(!check_shared(NODE "test_conv_with_strides_padding/model.onnx", buf, sizeof buf), "../shared/conformance is absent");
    FILE *f = fopen(buf, "rb");
    unsigned char orig[4096];
    size_t n = fread(orig, 1, sizeof orig, f);
    fclose(f);
    CHECK(n > 100 && n < sizeof orig);
    char tmp[] = "/tmp/ember_damaged_XXXXXX";
    int fd = mkstemp(tmp);
    CHECK(fd >= 0);
    close(fd);
    int failed_cleanly = 0, loaded = 0;
    for (int iter = 0; iter < 400; iter++) {
        unsigned char b[4096];
        memcpy(b, orig, n);
        size_t len = n;
        if (iter % 4 == 0) len = check_rand() % n; /* truncated */
        int flips = 1 + (int)(check_rand() % 4);
        for (int k = 0; k < flips && len; k++) b[check_rand() % len] ^= (unsigned char)(1u << (check_rand() % 8));
        f = fopen(tmp, "wb");
        fwrite(b, 1, len, f);
        fclose(f);
        ember_onnx_model *m = NULL;
        ember_status s = ember_onnx_open(tmp, &m);
        if (s) {
            failed_cleanly += ember_last_error()[0] != 0;
            continue;
        }
        loaded++;
        ember_onnx_session *ses = NULL;
        if (!ember_onnx_session_create(m, &(ember_onnx_options){.threads = 1}, &ses)) {
            int nin = ember_onnx_input_count(m);
            ember_tensor *ins[8] = {0}, *outs[8] = {0};
            bool ok = nin <= 8 && ember_onnx_output_count(m) <= 8;
            for (int i = 0; ok && i < nin; i++) {
                ember_onnx_io io;
                ember_onnx_input(m, i, &io);
                int64_t shape[EMBER_MAX_DIMS];
                for (int d = 0; d < io.ndim; d++) shape[d] = io.dims[d] < 0 || io.dims[d] > 64 ? 1 : io.dims[d];
                ok = io.kind == EMBER_VALUE_TENSOR && io.ndim >= 0 && !ember_tensor_create(io.dtype ? io.dtype : EMBER_DTYPE_F32, io.ndim, shape, &ins[i]);
            }
            if (ok && !ember_onnx_run_tensors(ses, ins, outs))
                for (int i = 0; i < ember_onnx_output_count(m); i++) ember_tensor_destroy(outs[i]);
            for (int i = 0; i < nin && i < 8; i++) ember_tensor_destroy(ins[i]);
            ember_onnx_session_destroy(ses);
        }
        ember_onnx_close(m);
    }
    remove(tmp);
    CHECK(failed_cleanly > 100); /* most damage is detected, with a message */
    printf("  damaged models: %d rejected with a message, %d still loadable\n", failed_cleanly, loaded);
}

int main(void) {
    RUN(test_broadcast);
    RUN(test_node_tests);
    RUN(test_unsupported_listed_once);
    RUN(test_plan_and_threads);
    RUN(test_replan);
    RUN(test_damaged_models);
    return check_done();
}
