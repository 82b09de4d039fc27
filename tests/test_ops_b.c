/* Tricky cases of the opsb op families: small-type casts (rounding, saturation, NaN patterns, packing), and one
 * node test per family through the library API (control flow with captured values, sequences, optionals,
 * quantization, strings, ai.onnx.ml, RNNs, seeded random ops); those skip when ../shared is absent. */
#include "check.h"
#include "ember/onnx.h"
#include "ops/op.h"

#include <stdio.h>
#include <stdlib.h>

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


/* --- hostile inputs: random types, shapes, values and attributes through every opsb op ---------------- */
/* Every call must return (an error is fine); ASan/UBSan builds check that nothing is read or written out of
 * bounds. Single nodes are driven directly through infer/run, as the executor would. */
enum { HMAX = 6 };
typedef struct hnode {
    ev in[HMAX], out[HMAX];
    ev *inp[HMAX], *outp[HMAX];
    eg_attr attr[12];
    eg_node node;
    eo_ctx c;
} hnode;

static uint64_t hrng = 0x9E3779B97F4A7C15ull;
static uint32_t hrand(void) {
    hrng ^= hrng << 13, hrng ^= hrng >> 7, hrng ^= hrng << 17;
    return (uint32_t)(hrng >> 11);
}

static double hvalue(void) {
    static const double special[] = {0, -0.0, 1, -1, 0.5, 2, 3, 7, 255, -128, 1e9, -1e9, 1e-9, 65504, 448};
    switch (hrand() % 8) {
    case 0: return NAN;
    case 1: return hrand() % 2 ? INFINITY : -INFINITY;
    case 2: case 3: return special[hrand() % (sizeof special / sizeof special[0])];
    default: return (double)(int)(hrand() % 21) - 10 + (hrand() % 4) * 0.25;
    }
}

static const ember_dtype htypes[] = {EMBER_DTYPE_F32, EMBER_DTYPE_F32, EMBER_DTYPE_I64, EMBER_DTYPE_I32, EMBER_DTYPE_U8,
                                     EMBER_DTYPE_I8, EMBER_DTYPE_F16, EMBER_DTYPE_F64, EMBER_DTYPE_BOOL, EMBER_DTYPE_STRING,
                                     EMBER_DTYPE_I4, EMBER_DTYPE_U2, EMBER_DTYPE_F8E4M3FN, EMBER_DTYPE_F8E8M0, EMBER_DTYPE_F4E2M1};

static void hinput(hnode *h, int i) {
    int nd = (int)(hrand() % 4);
    int64_t shape[4];
    for (int d = 0; d < nd; d++) shape[d] = hrand() % 4;
    ember_dtype t = htypes[hrand() % (sizeof htypes / sizeof htypes[0])];
    if (ev_alloc_tensor(&h->in[i], t, nd, shape)) return;
    int64_t n = ember_tensor_count(&h->in[i].t);
    for (int64_t k = 0; k < n; k++) {
        if (t == EMBER_DTYPE_STRING) {
            static const char *words[] = {"", "a", "monday", "a b  c", "x.y.z", "\xc3\x84pfel", "www.a.com"};
            const char *w = words[hrand() % 7];
            ember_tensor_set_string(&h->in[i].t, k, w, strlen(w));
        } else {
            eo_put(&h->in[i].t, k, hvalue());
        }
    }
    h->inp[i] = &h->in[i];
}

static const int64_t hints[] = {-3, -1, 0, 1, 2, 3, 1 << 20};
static const float hfloats[] = {-1.0f, 0.0f, 0.5f, 1.0f, 1e30f};
static const char *hstrs[] = {"up", "down", "nearest", "bogus", "LOWER", "UPPER", "reverse", "bidirectional", "relu", "(a|b)*c", "[", ""};
static const char *hnames[] = {"axis", "block_size", "saturate", "output_dtype", "to", "round_mode", "hidden_size", "direction",
                               "activations", "clip", "layout", "size", "group", "strides", "pads", "dilations",
                               "kernel_shape", "delimiter", "maxsplit", "pattern", "stopwords", "case_change_action", "keepdims",
                               "new_axis", "seed", "dtype", "ratio", "threshold", "keys_strings", "values_int64s", "keys_int64s",
                               "values_floats", "default_int64", "nodes_featureids", "nodes_truenodeids", "nodes_falsenodeids",
                               "nodes_trueleafs", "nodes_falseleafs", "tree_roots", "leaf_targetids", "n_targets",
                               "linear_before_reset", "input_forget", "activation_alpha", "scale", "num_scan_inputs"};

static void hattrs(hnode *h) {
    int n = (int)(hrand() % 6);
    for (int k = 0; k < n; k++) {
        eg_attr *a = &h->attr[h->node.nattr++];
        memset(a, 0, sizeof *a);
        a->name = hnames[hrand() % (sizeof hnames / sizeof hnames[0])];
        switch (hrand() % 5) {
        case 0: a->type = EG_ATTR_INT, a->i = hints[hrand() % 7]; break;
        case 1: a->type = EG_ATTR_FLOAT, a->f = hfloats[hrand() % 5]; break;
        case 2: a->type = EG_ATTR_STRING, a->s = hstrs[hrand() % 12], a->slen = strlen(a->s); break;
        case 3: a->type = EG_ATTR_INTS, a->ints = hints + hrand() % 5, a->n = (int)(hrand() % 3); break;
        default: a->type = EG_ATTR_STRINGS, a->strs = hstrs + hrand() % 8, a->n = (int)(hrand() % 4); break;
        }
    }
}

static void test_hostile_inputs(void) {
    static const struct { const char *domain, *op; int opset; } ops[] = {
        {"", "Cast", 25}, {"", "CastLike", 25}, {"", "BitCast", 26}, {"", "QuantizeLinear", 25}, {"", "DequantizeLinear", 25},
        {"", "DynamicQuantizeLinear", 11}, {"", "MatMulInteger", 10}, {"", "ConvInteger", 10}, {"", "QLinearMatMul", 21},
        {"", "QLinearConv", 10}, {"", "If", 21}, {"", "Loop", 21}, {"", "Scan", 21}, {"", "Scan", 8},
        {"", "SequenceConstruct", 17}, {"", "SequenceEmpty", 17}, {"", "SequenceInsert", 17}, {"", "SequenceAt", 17},
        {"", "SequenceErase", 17}, {"", "SequenceLength", 17}, {"", "ConcatFromSequence", 17}, {"", "SplitToSequence", 17},
        {"", "SequenceMap", 17}, {"", "Optional", 18}, {"", "OptionalHasElement", 18}, {"", "OptionalGetElement", 18},
        {"", "StringConcat", 20}, {"", "StringSplit", 20}, {"", "RegexFullMatch", 20}, {"", "StringNormalizer", 10},
        {"ai.onnx.ml", "LabelEncoder", 4}, {"ai.onnx.ml", "TreeEnsemble", 5}, {"ai.onnx.ml", "Binarizer", 1},
        {"ai.onnx.ml", "ArrayFeatureExtractor", 1}, {"", "RNN", 22}, {"", "GRU", 22}, {"", "LSTM", 22},
        {"", "RandomUniformLike", 22}, {"", "Bernoulli", 22}, {"", "Dropout", 22}, {"", "LRN", 13},
        {"ai.onnx.preview", "FlexAttention", 1},
    };
    int rounds = check_slow() ? 300 : 4000;
    int ran = 0;
    for (int r = 0; r < rounds; r++)
        for (size_t o = 0; o < sizeof ops / sizeof ops[0]; o++) {
            hnode h;
            memset(&h, 0, sizeof h);
            const eo_def *def = eo_find(ops[o].domain, ops[o].op, ops[o].opset);
            CHECK(def != NULL);
            if (!def) continue;
            h.node.op_type = ops[o].op, h.node.domain = ops[o].domain, h.node.opset = ops[o].opset, h.node.attr = h.attr;
            h.c.node = &h.node, h.c.opset = ops[o].opset, h.c.in = h.inp, h.c.out = h.outp;
            h.c.nin = (int)(hrand() % (HMAX + 1));
            for (int i = 0; i < h.c.nin; i++)
                if (hrand() % 8) hinput(&h, i);
            if (h.c.nin && hrand() % 6 == 0) { /* a sequence or an empty optional where a tensor may be expected */
                int i = (int)(hrand() % (unsigned)h.c.nin);
                ev_clear(&h.in[i]);
                h.in[i].kind = hrand() % 2 ? EV_SEQUENCE : EV_NONE;
                h.inp[i] = &h.in[i];
            }
            hattrs(&h);
            h.c.nout = (int)(hrand() % 4);
            for (int i = 0; i < h.c.nout; i++) h.outp[i] = &h.out[i];
            h.c.inferring = true;
            ember_status s = def->infer(&h.c);
            h.c.inferring = false;
            for (int i = 0; s == EMBER_OK && i < h.c.nout; i++) {
                if (h.out[i].kind != EV_TENSOR) continue;
                ember_tensor m = h.out[i].t;
                if (ember_tensor_count(&m) > 100000) s = EMBER_ERR_SHAPE; /* a huge output: not what this test is about */
                else s = ev_alloc_tensor(&h.out[i], m.dtype, m.ndim, m.shape);
            }
            if (s == EMBER_OK || s == EO_DYNAMIC) {
                def->run(&h.c);
                ran++;
            }
            for (int k = 0; k < h.c.nscratch; k++) ember_free_aligned(h.c.scratch[k]);
            for (int i = 0; i < HMAX; i++) ev_clear(&h.in[i]), ev_clear(&h.out[i]);
        }
    CHECK(ran > 0);
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
    RUN(test_hostile_inputs);
    RUN(test_node_families);
    return check_done();
}
