/* Tricky cases of the opsb op families: small-type casts (rounding, saturation, NaN patterns, packing), and one
 * node test per family through the library API (control flow with captured values, sequences, optionals,
 * quantization, strings, ai.onnx.ml, RNNs, seeded random ops); those skip when ../shared is absent. */
#include "check.h"
#include "ember/onnx.h"
#include "ops/op.h"

#include <stdio.h>

#define NODE "conformance/onnx-node/"

static ember_tensor *vec(ember_dtype t, int64_t n) {
    ember_tensor *x = NULL;
    ember_tensor_create(t, 1, &n, &x);
    return x;
}

static void test_float8_rounding(void) {
    static const float in[] = {0.0f, -0.0f, 1.0f, 464.0f, 480.0f, 1e6f, -1e6f, NAN, INFINITY, 0.0019531f, 1.0625f, 1.1875f};
    enum { N = sizeof in / sizeof in[0] };
    ember_tensor *x = vec(EMBER_DTYPE_F32, N), *y = vec(EMBER_DTYPE_F8E4M3FN, N), *z = vec(EMBER_DTYPE_F32, N);
    memcpy(x->data, in, sizeof in);
    CHECK(!eo_cast_small(x, y, true, "up"));
    const uint8_t *b = y->data;
    CHECK_EQ(b[0], 0x00);
    CHECK_EQ(b[1], 0x80);
    CHECK_EQ(b[2], 0x38);
    CHECK_EQ(b[3], 0x7E); /* 464 is halfway between 448 (even) and 480 (NaN): 448 */
    CHECK_EQ(b[5], 0x7E); /* saturated */
    CHECK_EQ(b[6], 0xFE);
    CHECK_EQ(b[7], 0x7F);
    CHECK_EQ(b[8], 0x7E);
    CHECK_EQ(b[9], 0x01);  /* smallest subnormal 2^-9 */
    CHECK_EQ(b[10], 0x38); /* 1.0625 ties to 1.0 (even) */
    CHECK_EQ(b[11], 0x3A); /* 1.1875 ties to 1.25 (even) */
    CHECK(!eo_cast_small(x, y, false, "up"));
    CHECK_EQ(b[5], 0x7F); /* no saturation: NaN */
    CHECK(!eo_cast_small(y, z, true, "up"));
    CHECK(isnan(((float *)z->data)[5]) && ((float *)z->data)[2] == 1.0f);
    ember_tensor_destroy(y);
    y = vec(EMBER_DTYPE_F8E5M2FNUZ, N);
    CHECK(!eo_cast_small(x, y, true, "up"));
    CHECK_EQ(((uint8_t *)y->data)[1], 0x00); /* no negative zero */
    CHECK_EQ(((uint8_t *)y->data)[7], 0x80);
    ember_tensor_destroy(x);
    ember_tensor_destroy(y);
    ember_tensor_destroy(z);
}

static void test_packed_ints(void) {
    static const float in[] = {-3, -2, -1, 0, 1, 2, 3};
    ember_tensor *x = vec(EMBER_DTYPE_F32, 7), *y = vec(EMBER_DTYPE_I2, 7), *z = vec(EMBER_DTYPE_I8, 7);
    memcpy(x->data, in, sizeof in);
    CHECK(!eo_cast_small(x, y, true, "up"));
    CHECK_EQ(y->nbytes, 2u);
    CHECK(!eo_cast_small(y, z, true, "up"));
    static const int8_t want[] = {1, -2, -1, 0, 1, -2, -1}; /* wraps like a narrowing integer cast */
    CHECK(!memcmp(z->data, want, sizeof want));
    ember_tensor_destroy(x);
    ember_tensor_destroy(y);
    ember_tensor_destroy(z);
}

static void test_e8m0(void) {
    static const float in[] = {0.0f, 0.124f, 1.1f, 8.0f, 3.0f};
    ember_tensor *x = vec(EMBER_DTYPE_F32, 5), *y = vec(EMBER_DTYPE_F8E8M0, 5);
    memcpy(x->data, in, sizeof in);
    CHECK(!eo_cast_small(x, y, true, "up"));
    const uint8_t *b = y->data;
    CHECK(b[0] == 0 && b[1] == 124 && b[2] == 128 && b[3] == 130 && b[4] == 129);
    CHECK(!eo_cast_small(x, y, true, "down"));
    CHECK(b[1] == 123 && b[2] == 127 && b[4] == 128);
    CHECK(!eo_cast_small(x, y, true, "nearest"));
    CHECK(b[2] == 127 && b[4] == 129);
    CHECK(eo_cast_small(x, y, true, "sideways") != EMBER_OK);
    ember_tensor_destroy(x);
    ember_tensor_destroy(y);
}

/* eo_get/eo_put reach the small types too (generic op code relies on them). */
static void test_get_put_small(void) {
    ember_tensor *t = vec(EMBER_DTYPE_I4, 3);
    memset(t->data, 0, t->nbytes);
    eo_put(t, 0, -3), eo_put(t, 1, 7), eo_put(t, 2, 9); /* 9 wraps to -7 */
    CHECK(eo_get(t, 0) == -3 && eo_get(t, 1) == 7 && eo_get(t, 2) == -7);
    ember_tensor_destroy(t);
    t = vec(EMBER_DTYPE_F8E5M2, 2);
    eo_put(t, 0, 1.5), eo_put(t, 1, 1e9);
    CHECK(eo_get(t, 0) == 1.5 && eo_get(t, 1) == 57344.0);
    ember_tensor_destroy(t);
}

static void test_node_families(void) {
    static const char *dirs[] = {
        "test_if_seq", "test_loop16_seq_none", "test_scan9_sum", "test_scan_sum", "test_sequence_map_add_2_sequences",
        "test_optional_get_element_optional_sequence", "test_split_to_sequence_nokeepdims",
        "test_quantizelinear_blocked_asymmetric", "test_dequantizelinear_int2", "test_qlinearconv",
        "test_string_split_maxsplit", "test_regex_full_match_basic",
        "test_ai_onnx_ml_tree_ensemble_set_membership", "test_lstm_with_peepholes", "test_gru_seq_length",
        "test_training_dropout_mask", "test_resize_downsample_sizes_cubic_antialias", "test_flexattention_causal_mask",
        "test_cast_no_saturate_FLOAT_to_FLOAT8E5M2", "test_dynamicquantizelinear",
    };
    char buf[512];
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

int main(void) {
    RUN(test_float8_rounding);
    RUN(test_packed_ints);
    RUN(test_e8m0);
    RUN(test_get_put_small);
    RUN(test_node_families);
    return check_done();
}
