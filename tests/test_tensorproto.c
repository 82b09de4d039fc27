/* ONNX TensorProto decoding and encoding: every tensor file of the ONNX node tests, hand-made messages for
 * each storage field, malformed messages, external data, and a truncation / bit-flip sweep. */
#include "check.h"
#include "core/mapfile.h"
#include "core/pbwire.h"
#include "core/tensorproto.h"

#include <dirent.h>
#include <stdint.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* --- helpers ------------------------------------------------------------------------------------------ */
static bool tensors_equal(const ember_tensor *a, const ember_tensor *b) {
    if (a->dtype != b->dtype || a->ndim != b->ndim) return false;
    for (int i = 0; i < a->ndim; i++)
        if (a->shape[i] != b->shape[i]) return false;
    if ((a->name == NULL) != (b->name == NULL) || (a->name && strcmp(a->name, b->name))) return false;
    if (a->dtype != EMBER_DTYPE_STRING) return a->nbytes == b->nbytes && !memcmp(a->data, b->data, a->nbytes);
    char *const *sa = a->data, *const *sb = b->data;
    for (int64_t i = 0; i < ember_tensor_count(a); i++)
        if (strcmp(sa[i], sb[i])) return false;
    return true;
}

static ember_status decode(const uint8_t *data, size_t size, ember_tensor **t) {
    ember_tp tp;
    ember_status s = ember_tp_parse(data, size, &tp);
    return s ? s : ember_tp_to_tensor(&tp, NULL, t);
}

/* Encode t, decode the result, and check it is the same tensor. */
static bool round_trips(const ember_tensor *t) {
    uint8_t *buf = NULL;
    size_t len = 0;
    ember_tensor *back = NULL;
    bool ok = !ember_tp_encode(t, &buf, &len) && !decode(buf, len, &back) && tensors_equal(t, back);
    ember_tensor_destroy(back);
    ember_free(buf);
    return ok;
}

/* --- the ONNX node test data -------------------------------------------------------------------------- */
/* TypeProto kind of the idx-th graph input (field 11) or output (field 12) of model.onnx: 1 tensor,
 * 4 sequence, 5 map, 8 sparse tensor, 9 optional; 0 if not found. */
static int value_kind(const ember_map *model, uint32_t which, int idx) {
    ember_pb r = ember_pb_reader(model->data, model->size);
    ember_pb_field f, g, v, t;
    while (ember_pb_next(&r, &f) > 0) {
        if (f.number != 7 || f.wire != EMBER_PB_LEN) continue; /* ModelProto.graph */
        ember_pb gr = ember_pb_sub(&r, &f);
        int n = 0;
        while (ember_pb_next(&gr, &g) > 0) {
            if (g.number != which || g.wire != EMBER_PB_LEN || n++ != idx) continue;
            ember_pb vr = ember_pb_sub(&gr, &g);
            while (ember_pb_next(&vr, &v) > 0) {
                if (v.number != 2 || v.wire != EMBER_PB_LEN) continue; /* ValueInfoProto.type */
                ember_pb tr = ember_pb_sub(&vr, &v);
                while (ember_pb_next(&tr, &t) > 0)
                    if (t.wire == EMBER_PB_LEN && t.number != 6) return (int)t.number; /* 6 is denotation */
            }
        }
    }
    return 0;
}

typedef struct sweep_counts {
    int dirs, files, tensors, identical, non_tensor, new_types, failed;
} sweep_counts;

static void check_file(const char *path, int kind, sweep_counts *c) {
    ember_map m;
    if (ember_map_open(path, &m)) {
        CHECK_MSG(0, "%s", ember_last_error());
        c->failed++;
        return;
    }
    c->files++;
    ember_tensor *t = NULL;
    ember_status s = decode(m.data, m.size, &t);
    if (kind != 1) { /* a SequenceProto/OptionalProto: reading it as a tensor must fail cleanly or not at all */
        c->non_tensor++;
    } else if (s == EMBER_ERR_UNSUPPORTED && strstr(ember_last_error(), "unsupported element type")) {
        c->new_types++; /* ONNX types newer than ember_dtype (FLOAT8E8M0, UINT2, INT2) */
    } else if (s) {
        CHECK_MSG(0, "%s: %s", path, ember_last_error());
        c->failed++;
    } else {
        c->tensors++;
        uint8_t *buf = NULL;
        size_t len = 0;
        ember_tensor *back = NULL;
        bool same = !ember_tp_encode(t, &buf, &len) && !decode(buf, len, &back) && tensors_equal(t, back);
        CHECK_MSG(same, "%s: re-encoded tensor differs (%s)", path, ember_last_error());
        if (!same) c->failed++;
        if (len == m.size && !memcmp(buf, m.data, len)) c->identical++;
        ember_tensor_destroy(back);
        ember_free(buf);
    }
    ember_tensor_destroy(t);
    ember_map_close(&m);
}

static void check_test_dir(const char *root, const char *name, sweep_counts *c) {
    char path[1024];
    snprintf(path, sizeof path, "%s/%s/model.onnx", root, name);
    ember_map model;
    if (ember_map_open(path, &model)) return;
    c->dirs++;
    static const char *const prefix[2] = {"input", "output"};
    for (int io = 0; io < 2; io++)
        for (int i = 0;; i++) {
            snprintf(path, sizeof path, "%s/%s/test_data_set_0/%s_%d.pb", root, name, prefix[io], i);
            if (access(path, R_OK)) break;
            check_file(path, value_kind(&model, io ? 12 : 11, i), c);
        }
    ember_map_close(&model);
}

static void test_onnx_node_data(void) {
    char root[512];
    SKIP_IF(!check_shared("conformance/onnx-node/test_abs/model.onnx", root, sizeof root),
            "../shared/conformance/onnx-node is absent");
    *strstr(root, "/test_abs/") = 0;
    DIR *d = opendir(root);
    CHECK(d != NULL);
    if (!d) return;
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    sweep_counts c = {0};
    struct dirent *e;
    while ((e = readdir(d)))
        if (!strncmp(e->d_name, "test_", 5)) check_test_dir(root, e->d_name, &c);
    closedir(d);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double secs = (double)(t1.tv_sec - t0.tv_sec) + 1e-9 * (double)(t1.tv_nsec - t0.tv_nsec);
    printf("  onnx-node: %d dirs, %d files: %d tensors decoded and re-encoded (%d byte-identical), "
           "%d sequence/optional files, %d of ONNX types Ember lacks, %d failed; %.2f s\n",
           c.dirs, c.files, c.tensors, c.identical, c.non_tensor, c.new_types, c.failed, secs);
    CHECK_EQ(c.dirs, 1802);
    CHECK_EQ(c.failed, 0);
    CHECK(c.tensors >= 6000);
    CHECK(c.new_types <= 50); /* 4 FLOAT8E8M0 + 23 UINT2 + 23 INT2 until ember_dtype has them */
}

/* --- hand-made messages ------------------------------------------------------------------------------- */
static void dims(ember_pbw *w, int n, const int64_t *d) {
    for (int i = 0; i < n; i++) ember_pbw_varint(w, 1, (uint64_t)d[i]);
}

static ember_tensor *decode_ok(ember_pbw *w) {
    ember_tensor *t = NULL;
    ember_status s = decode(w->buf, w->len, &t);
    CHECK_MSG(s == EMBER_OK, "%s", ember_last_error());
    ember_pbw_free(w);
    return t;
}

static ember_status decode_status(ember_pbw *w) {
    ember_tensor *t = NULL;
    ember_status s = decode(w->buf, w->len, &t);
    ember_tensor_destroy(t);
    ember_pbw_free(w);
    return s;
}

static void packed_varints(ember_pbw *w, uint32_t field, int n, const int64_t *v) {
    ember_pbw inner = {0};
    for (int i = 0; i < n; i++) ember_pbw_raw_varint(&inner, (uint64_t)v[i]);
    ember_pbw_bytes(w, field, inner.buf, inner.len);
    ember_pbw_free(&inner);
}

static void test_float_data_packed_and_unpacked(void) {
    ember_pbw w = {0};
    const int64_t d[] = {2, 2};
    packed_varints(&w, 1, 2, d); /* packed dims */
    ember_pbw_varint(&w, 2, EMBER_DTYPE_F32);
    float a[3] = {1.5f, -2.0f, 3.25f}, b = 1e-3f;
    ember_pbw_bytes(&w, 4, a, sizeof a); /* packed run of three ... */
    uint32_t bits;
    memcpy(&bits, &b, 4);
    ember_pbw_fixed32(&w, 4, bits); /* ... then one unpacked value */
    ember_pbw_bytes(&w, 8, "x", 1);
    ember_tensor *t = decode_ok(&w);
    if (!t) return;
    CHECK_EQ(t->ndim, 2);
    CHECK_EQ(t->shape[1], 2);
    CHECK_STR(t->name, "x");
    const float *x = t->data;
    CHECK(x[0] == 1.5f && x[1] == -2.0f && x[2] == 3.25f && x[3] == 1e-3f);
    CHECK(round_trips(t));
    ember_tensor_destroy(t);
}

static void test_int32_data_narrow_types(void) {
    const int64_t d[] = {4};
    const int64_t i8[] = {-128, -1, 0, 127};
    ember_pbw w = {0};
    dims(&w, 1, d);
    ember_pbw_varint(&w, 2, EMBER_DTYPE_I8);
    packed_varints(&w, 5, 4, i8); /* negative int32 values are 10-byte varints */
    ember_tensor *t = decode_ok(&w);
    if (t) {
        const int8_t *x = t->data;
        CHECK(x[0] == -128 && x[1] == -1 && x[2] == 0 && x[3] == 127);
        CHECK(round_trips(t));
    }
    ember_tensor_destroy(t);

    const int64_t h[] = {0x3c00, 0xc000, 0x7c00, 0x0001}; /* 1, -2, inf, smallest subnormal */
    w = (ember_pbw){0};
    dims(&w, 1, d);
    ember_pbw_varint(&w, 2, EMBER_DTYPE_F16);
    packed_varints(&w, 5, 4, h);
    t = decode_ok(&w);
    if (t) {
        const uint16_t *x = t->data;
        CHECK(ember_f16_to_f32(x[0]) == 1.0f && ember_f16_to_f32(x[1]) == -2.0f && x[2] == 0x7c00 && x[3] == 1);
    }
    ember_tensor_destroy(t);

    const int64_t b[] = {1, 0, 1, 1};
    w = (ember_pbw){0};
    dims(&w, 1, d);
    ember_pbw_varint(&w, 2, EMBER_DTYPE_BOOL);
    for (int i = 0; i < 4; i++) ember_pbw_varint(&w, 5, (uint64_t)b[i]); /* unpacked */
    t = decode_ok(&w);
    if (t) CHECK(!memcmp(t->data, "\1\0\1\1", 4));
    ember_tensor_destroy(t);
}

static void test_int4_pairs(void) {
    const int64_t d[] = {3};
    const int64_t packed[] = {0x21, 0x0f}; /* elements 1, 2, then -1 in the low nibble of the second byte */
    ember_pbw w = {0};
    dims(&w, 1, d);
    ember_pbw_varint(&w, 2, EMBER_DTYPE_I4);
    packed_varints(&w, 5, 2, packed);
    ember_tensor *t = decode_ok(&w);
    if (!t) return;
    CHECK_EQ(t->nbytes, 2);
    CHECK(((uint8_t *)t->data)[0] == 0x21 && ((uint8_t *)t->data)[1] == 0x0f);
    CHECK(round_trips(t));
    ember_tensor_destroy(t);
}

static void test_wide_types(void) {
    const int64_t d[] = {2};
    const int64_t v64[] = {INT64_MIN, INT64_MAX};
    ember_pbw w = {0};
    dims(&w, 1, d);
    ember_pbw_varint(&w, 2, EMBER_DTYPE_I64);
    packed_varints(&w, 7, 2, v64);
    ember_tensor *t = decode_ok(&w);
    if (t) CHECK(((int64_t *)t->data)[0] == INT64_MIN && ((int64_t *)t->data)[1] == INT64_MAX);
    ember_tensor_destroy(t);

    w = (ember_pbw){0};
    dims(&w, 1, d);
    ember_pbw_varint(&w, 2, EMBER_DTYPE_U32);
    ember_pbw_varint(&w, 11, 4000000000u);
    ember_pbw_varint(&w, 11, 7);
    t = decode_ok(&w);
    if (t) CHECK(((uint32_t *)t->data)[0] == 4000000000u && ((uint32_t *)t->data)[1] == 7);
    ember_tensor_destroy(t);

    double c[4] = {1.0, -2.0, 0.5, 1e300}; /* two complex128 elements */
    w = (ember_pbw){0};
    dims(&w, 1, d);
    ember_pbw_varint(&w, 2, EMBER_DTYPE_C128);
    ember_pbw_bytes(&w, 10, c, sizeof c);
    t = decode_ok(&w);
    if (t) {
        CHECK(!memcmp(t->data, c, sizeof c));
        CHECK(round_trips(t));
    }
    ember_tensor_destroy(t);
}

static void test_strings(void) {
    const int64_t d[] = {3};
    ember_pbw w = {0};
    dims(&w, 1, d);
    ember_pbw_varint(&w, 2, EMBER_DTYPE_STRING);
    ember_pbw_bytes(&w, 6, "h\xc3\xa9llo", 6);
    ember_pbw_bytes(&w, 6, "", 0);
    ember_pbw_bytes(&w, 6, "world", 5);
    ember_tensor *t = decode_ok(&w);
    if (!t) return;
    char **s = t->data;
    CHECK_STR(s[0], "h\xc3\xa9llo");
    CHECK_STR(s[1], "");
    CHECK_STR(s[2], "world");
    CHECK(round_trips(t));
    ember_tensor_destroy(t);
}

static void test_scalar_and_empty(void) {
    ember_pbw w = {0};
    ember_pbw_varint(&w, 2, EMBER_DTYPE_F32);
    float one = 1.0f;
    ember_pbw_bytes(&w, 9, &one, 4);
    ember_tensor *t = decode_ok(&w);
    if (t) {
        CHECK_EQ(t->ndim, 0);
        CHECK(*(float *)t->data == 1.0f);
        CHECK(round_trips(t));
    }
    ember_tensor_destroy(t);

    const int64_t d[] = {3, 0};
    w = (ember_pbw){0};
    dims(&w, 2, d);
    ember_pbw_varint(&w, 2, EMBER_DTYPE_I64); /* no data at all: fine for zero elements */
    t = decode_ok(&w);
    if (t) {
        CHECK_EQ(ember_tensor_count(t), 0);
        CHECK(round_trips(t));
    }
    ember_tensor_destroy(t);
}

static void test_zero_copy_raw(void) {
    const int64_t d[] = {2};
    ember_pbw w = {0};
    dims(&w, 1, d);
    ember_pbw_varint(&w, 2, EMBER_DTYPE_I32);
    int32_t v[2] = {7, -7};
    ember_pbw_bytes(&w, 9, v, sizeof v);
    ember_tp tp;
    CHECK(ember_tp_parse(w.buf, w.len, &tp) == EMBER_OK);
    CHECK(tp.raw >= w.buf && tp.raw + tp.raw_len <= w.buf + w.len); /* points into the message */
    CHECK(tp.raw && !memcmp(tp.raw, v, sizeof v));
    CHECK_EQ(tp.data_field, 9);
    CHECK_EQ(tp.count, 2);
    ember_pbw_free(&w);
}

/* A malformed message must fail with `want`, and the message must mention `needle`. */
static void expect_bad(ember_pbw *w, ember_status want, const char *needle) {
    ember_status s = decode_status(w);
    CHECK_MSG(s == want, "status %d, expected %d (%s)", s, want, ember_last_error());
    CHECK_MSG(strstr(ember_last_error(), needle) != NULL, "'%s' not in '%s'", needle, ember_last_error());
}

static void test_malformed(void) {
    const int64_t d2[] = {2};
    float two[2] = {1, 2};
    ember_pbw w = {0};

    ember_pbw_raw_varint(&w, 1 << 3); /* dims tag, then a varint cut short */
    ember_pbw_raw_varint(&w, 0x80);
    w.len--;
    w.buf[w.len++] = 0x80;
    expect_bad(&w, EMBER_ERR_FORMAT, "at byte 0");

    w = (ember_pbw){0};
    ember_pbw_fixed32(&w, 1, 3); /* dims with a fixed32 wire type */
    ember_pbw_varint(&w, 2, 1);
    expect_bad(&w, EMBER_ERR_FORMAT, "dims (field 1) at byte 0");

    w = (ember_pbw){0};
    ember_pbw_varint(&w, 1, (uint64_t)-5);
    ember_pbw_varint(&w, 2, 1);
    expect_bad(&w, EMBER_ERR_FORMAT, "negative dimension");

    w = (ember_pbw){0};
    for (int i = 0; i < 9; i++) ember_pbw_varint(&w, 1, 1);
    ember_pbw_varint(&w, 2, 1);
    expect_bad(&w, EMBER_ERR_UNSUPPORTED, "more than 8 dimensions");

    w = (ember_pbw){0};
    ember_pbw_varint(&w, 1, 1u << 31);
    ember_pbw_varint(&w, 1, 1u << 31);
    ember_pbw_varint(&w, 1, 1u << 31);
    ember_pbw_varint(&w, 2, 1);
    expect_bad(&w, EMBER_ERR_FORMAT, "overflows");

    w = (ember_pbw){0};
    dims(&w, 1, d2);
    expect_bad(&w, EMBER_ERR_FORMAT, "data_type (field 2): missing");

    w = (ember_pbw){0};
    ember_pbw_varint(&w, 2, 99);
    expect_bad(&w, EMBER_ERR_UNSUPPORTED, "unsupported element type 99");

    w = (ember_pbw){0};
    dims(&w, 1, d2);
    ember_pbw_varint(&w, 2, EMBER_DTYPE_F32);
    ember_pbw_bytes(&w, 9, two, 7);
    expect_bad(&w, EMBER_ERR_FORMAT, "raw_data (field 9) at byte 4: 7 bytes, but 2 float32 elements need 8");

    w = (ember_pbw){0};
    dims(&w, 1, d2);
    ember_pbw_varint(&w, 2, EMBER_DTYPE_F32);
    ember_pbw_bytes(&w, 9, two, 8);
    ember_pbw_bytes(&w, 4, two, 8);
    expect_bad(&w, EMBER_ERR_FORMAT, "data also given in raw_data");

    w = (ember_pbw){0};
    dims(&w, 1, d2);
    ember_pbw_varint(&w, 2, EMBER_DTYPE_F32);
    ember_pbw_varint(&w, 7, 1);
    ember_pbw_varint(&w, 7, 2);
    expect_bad(&w, EMBER_ERR_FORMAT, "int64_data (field 7) at byte 4: cannot hold float32");

    w = (ember_pbw){0};
    dims(&w, 1, d2);
    ember_pbw_varint(&w, 2, EMBER_DTYPE_F32);
    ember_pbw_bytes(&w, 4, two, 8);
    ember_pbw_bytes(&w, 4, two, 4);
    expect_bad(&w, EMBER_ERR_FORMAT, "more values than the 2");

    w = (ember_pbw){0};
    dims(&w, 1, d2);
    ember_pbw_varint(&w, 2, EMBER_DTYPE_F32);
    ember_pbw_bytes(&w, 4, two, 4);
    expect_bad(&w, EMBER_ERR_FORMAT, "1 values, but the dims call for 2");

    w = (ember_pbw){0};
    dims(&w, 1, d2);
    ember_pbw_varint(&w, 2, EMBER_DTYPE_F32);
    ember_pbw_bytes(&w, 4, two, 6);
    expect_bad(&w, EMBER_ERR_FORMAT, "not a multiple");

    w = (ember_pbw){0};
    dims(&w, 1, d2);
    ember_pbw_varint(&w, 2, EMBER_DTYPE_U8);
    ember_pbw_varint(&w, 5, 1);
    ember_pbw_varint(&w, 5, 256);
    expect_bad(&w, EMBER_ERR_FORMAT, "value 256 out of range for uint8");

    w = (ember_pbw){0};
    dims(&w, 1, d2);
    ember_pbw_varint(&w, 2, EMBER_DTYPE_F32);
    expect_bad(&w, EMBER_ERR_FORMAT, "no data for 2 elements");

    w = (ember_pbw){0};
    dims(&w, 1, d2);
    ember_pbw_varint(&w, 2, EMBER_DTYPE_STRING);
    ember_pbw_bytes(&w, 9, "ab", 2);
    expect_bad(&w, EMBER_ERR_FORMAT, "string tensors cannot use raw_data");

    w = (ember_pbw){0};
    dims(&w, 1, d2);
    ember_pbw_varint(&w, 2, EMBER_DTYPE_F32);
    ember_pbw_bytes(&w, 3, "", 0);
    ember_pbw_bytes(&w, 9, two, 8);
    expect_bad(&w, EMBER_ERR_UNSUPPORTED, "segment");

    w = (ember_pbw){0};
    ember_pbw_varint(&w, 2, EMBER_DTYPE_F32);
    ember_pbw_bytes(&w, 8, "name", 4);
    w.len -= 2; /* the name's bytes run past the end */
    expect_bad(&w, EMBER_ERR_FORMAT, "malformed protobuf at byte 2");

    w = (ember_pbw){0};
    ember_pbw_varint(&w, 2, EMBER_DTYPE_F32);
    ember_pbw_varint(&w, 14, 3);
    expect_bad(&w, EMBER_ERR_FORMAT, "unknown data_location");

    w = (ember_pbw){0};
    ember_pbw_raw_varint(&w, 3 << 3 | 3); /* a group start: not allowed */
    expect_bad(&w, EMBER_ERR_FORMAT, "malformed protobuf");
}

/* --- external data ------------------------------------------------------------------------------------ */
static void entry(ember_pbw *w, const char *key, const char *value) {
    ember_pbw e = {0};
    ember_pbw_bytes(&e, 1, key, strlen(key));
    ember_pbw_bytes(&e, 2, value, strlen(value));
    ember_pbw_bytes(w, 13, e.buf, e.len);
    ember_pbw_free(&e);
}

static ember_status external(const char *dir, const char *loc, const char *off, const char *len,
                             ember_tensor **t) {
    const int64_t d[] = {2};
    ember_pbw w = {0};
    dims(&w, 1, d);
    ember_pbw_varint(&w, 2, EMBER_DTYPE_F32);
    if (loc) entry(&w, "location", loc);
    if (off) entry(&w, "offset", off);
    if (len) entry(&w, "length", len);
    entry(&w, "checksum", "ignored");
    ember_pbw_varint(&w, 14, 1);
    ember_tp tp;
    *t = NULL;
    ember_status s = ember_tp_parse(w.buf, w.len, &tp);
    if (!s) s = ember_tp_to_tensor(&tp, dir, t);
    ember_pbw_free(&w);
    return s;
}

static void test_external_data(void) {
    char dir[] = "/tmp/ember_tp_XXXXXX", path[256];
    CHECK(mkdtemp(dir) != NULL);
    snprintf(path, sizeof path, "%s/weights.bin", dir);
    FILE *f = fopen(path, "wb");
    CHECK(f != NULL);
    if (!f) return;
    float v[4] = {0, 1.5f, -2.5f, 0};
    fwrite(v, 1, sizeof v, f);
    fclose(f);
    snprintf(path, sizeof path, "%s/sub", dir);
    mkdir(path, 0700);

    ember_tensor *t;
    CHECK_MSG(external(dir, "weights.bin", "4", "8", &t) == EMBER_OK, "%s", ember_last_error());
    if (t) CHECK(((float *)t->data)[0] == 1.5f && ((float *)t->data)[1] == -2.5f);
    ember_tensor_destroy(t);
    CHECK(external(dir, "./sub/../weights.bin", "4", "8", &t) == EMBER_ERR_FORMAT); /* '..' is refused */
    CHECK(strstr(ember_last_error(), "leaves the model's directory") != NULL);
    CHECK(external(dir, "/etc/passwd", "0", "8", &t) == EMBER_ERR_FORMAT);
    CHECK(external(dir, "../x", NULL, NULL, &t) == EMBER_ERR_FORMAT);
    CHECK(external(dir, "weights.bin", "12", "8", &t) == EMBER_ERR_FORMAT);
    CHECK(strstr(ember_last_error(), "runs past the end") != NULL);
    CHECK(external(dir, "weights.bin", "99999999999", NULL, &t) == EMBER_ERR_FORMAT);
    CHECK(external(dir, "weights.bin", NULL, NULL, &t) == EMBER_ERR_FORMAT); /* 16 bytes for 8 */
    CHECK(strstr(ember_last_error(), "need 8") != NULL);
    CHECK(external(dir, "weights.bin", "-4", "8", &t) == EMBER_ERR_FORMAT);
    CHECK(external(dir, NULL, "0", "8", &t) == EMBER_ERR_FORMAT);
    CHECK(strstr(ember_last_error(), "location") != NULL);
    CHECK(external(dir, "missing.bin", "0", "8", &t) == EMBER_ERR_IO);
    CHECK(external(NULL, "weights.bin", "0", "8", &t) == EMBER_ERR_ARG);
    CHECK(t == NULL);

    snprintf(path, sizeof path, "%s/weights.bin", dir);
    unlink(path);
    snprintf(path, sizeof path, "%s/sub", dir);
    rmdir(path);
    rmdir(dir);
}

/* --- robustness: truncations and bit flips never crash (run under ASan by `make test-asan`) -------------- */
static int sweep(const uint8_t *data, size_t size) {
    uint8_t *copy = malloc(size ? size : 1);
    int decoded = 0;
    for (size_t n = 0; n < size; n++) { /* every truncation, in a buffer of exactly that size */
        uint8_t *cut = malloc(n ? n : 1);
        memcpy(cut, data, n);
        ember_tensor *t = NULL;
        decoded += decode(cut, n, &t) == EMBER_OK;
        ember_tensor_destroy(t);
        free(cut);
    }
    size_t limit = size < 96 ? size : 96;
    for (size_t i = 0; i < limit * 8; i++) { /* every bit of the first bytes (tags, lengths, dims, type) */
        memcpy(copy, data, size);
        copy[i / 8] ^= (uint8_t)(1u << (i % 8));
        ember_tensor *t = NULL;
        if (decode(copy, size, &t) == EMBER_OK) {
            decoded++;
            CHECK(round_trips(t));
        }
        ember_tensor_destroy(t);
    }
    free(copy);
    return decoded;
}

static void test_truncation_and_bit_flips(void) {
    const int64_t d[] = {2, 3};
    const int64_t ints[] = {-1, 2, -3, 4, 300, 6};
    ember_pbw w = {0};
    dims(&w, 2, d);
    ember_pbw_varint(&w, 2, EMBER_DTYPE_I16);
    ember_pbw_bytes(&w, 8, "ints", 4);
    packed_varints(&w, 5, 6, ints);
    int ok = sweep(w.buf, w.len);
    ember_pbw_free(&w);
    CHECK(ok > 0);

    w = (ember_pbw){0};
    dims(&w, 1, d);
    ember_pbw_varint(&w, 2, EMBER_DTYPE_STRING);
    ember_pbw_bytes(&w, 6, "ab", 2);
    ember_pbw_bytes(&w, 6, "cde", 3);
    sweep(w.buf, w.len);
    ember_pbw_free(&w);

    static const char *const files[] = {"conformance/onnx-node/test_abs/test_data_set_0/input_0.pb",
                                        "conformance/onnx-node/test_string_concat_utf8/test_data_set_0/output_0.pb",
                                        "conformance/onnx-node/test_cast_FLOAT_to_INT4/test_data_set_0/output_0.pb"};
    char path[512];
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        if (!check_shared(files[i], path, sizeof path)) continue;
        ember_map m;
        if (ember_map_open(path, &m)) continue;
        CHECK(sweep(m.data, m.size) > 0);
        ember_map_close(&m);
    }
}

static void test_encode_rejects_inconsistent_tensor(void) {
    const int64_t d[] = {4};
    float v[2] = {1, 2};
    ember_tensor *t = NULL;
    CHECK(ember_tensor_wrap(EMBER_DTYPE_F32, 1, d, v, sizeof v, &t) == EMBER_ERR_SHAPE);
    CHECK(ember_tensor_create(EMBER_DTYPE_F32, 1, d, &t) == EMBER_OK);
    t->nbytes = 8; /* claims fewer bytes than 4 floats need */
    uint8_t *buf = NULL;
    size_t len = 0;
    CHECK(ember_tp_encode(t, &buf, &len) == EMBER_ERR_ARG);
    t->nbytes = 16;
    ember_tensor_destroy(t);
}

int main(void) {
    RUN(test_float_data_packed_and_unpacked);
    RUN(test_int32_data_narrow_types);
    RUN(test_int4_pairs);
    RUN(test_wide_types);
    RUN(test_strings);
    RUN(test_scalar_and_empty);
    RUN(test_zero_copy_raw);
    RUN(test_malformed);
    RUN(test_external_data);
    RUN(test_truncation_and_bit_flips);
    RUN(test_encode_rejects_inconsistent_tensor);
    RUN(test_onnx_node_data);
    return check_done();
}
