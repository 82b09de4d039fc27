/* Tensor files: .npy and .npz written by NumPy (embedded bytes), Ember's own files read back (and by NumPy
 * when it is installed), malformed files, truncation / bit-flip sweeps, and ONNX .pb test data converted. */
#include "check.h"
#include "ember/tensorio.h"
#include "tensorcheck.h"
#include "tensorio_vectors.h"

#include <math.h>
#include <stdint.h>
#include <sys/stat.h>
#include <unistd.h>

static char tmpdir[64];

static const char *tmp(const char *name) {
    static char paths[4][256];
    static int next;
    char *p = paths[next++ % 4];
    snprintf(p, sizeof paths[0], "%s/%s", tmpdir, name);
    return p;
}

static void put_file(const char *path, const void *data, size_t n) {
    FILE *f = fopen(path, "wb");
    if (!f) return;
    fwrite(data, 1, n, f);
    fclose(f);
}

static ember_tensor *npy(const unsigned char *data, size_t n) {
    ember_tensor *t = NULL;
    ember_status s = ember_npy_decode(data, n, &t);
    CHECK_MSG(s == EMBER_OK, "%s", ember_last_error());
    return t;
}
#define NPY(arr) npy(arr, sizeof arr)

static bool shape_is(const ember_tensor *t, int ndim, int64_t d0, int64_t d1) {
    return t->ndim == ndim && (ndim < 1 || t->shape[0] == d0) && (ndim < 2 || t->shape[1] == d1);
}

/* encode(t) is exactly `want` (what np.save writes for the same array). */
static bool encodes_to(const ember_tensor *t, const unsigned char *want, size_t n) {
    uint8_t *b = NULL;
    size_t len = 0;
    bool same = !ember_npy_encode(t, &b, &len) && len == n && !memcmp(b, want, n);
    ember_free(b);
    return same;
}

static bool npy_round_trips(const ember_tensor *t) {
    uint8_t *b = NULL;
    size_t len = 0;
    ember_tensor *back = NULL;
    bool ok = !ember_npy_encode(t, &b, &len) && !ember_npy_decode(b, len, &back) && tensors_equal(t, back);
    ember_tensor_destroy(back);
    ember_free(b);
    return ok;
}

/* --- .npy from NumPy ---------------------------------------------------------------------------------- */
static void test_npy_numeric(void) {
    ember_tensor *t = NPY(npy_f4);
    if (t) {
        CHECK(shape_is(t, 2, 2, 3) && t->dtype == EMBER_DTYPE_F32);
        for (int i = 0; i < 6; i++) CHECK(((float *)t->data)[i] == (float)i / 4);
        CHECK(encodes_to(t, npy_f4, sizeof npy_f4));
    }
    ember_tensor *be = NPY(npy_f8_be);
    if (be && t) {
        CHECK(shape_is(be, 2, 2, 3) && be->dtype == EMBER_DTYPE_F64);
        for (int i = 0; i < 6; i++) CHECK(((double *)be->data)[i] == ((float *)t->data)[i]);
    }
    ember_tensor_destroy(be);
    ember_tensor_destroy(t);

    t = NPY(npy_i16_fortran); /* stored column by column: must come out row by row */
    if (t) {
        CHECK(shape_is(t, 2, 2, 3) && t->dtype == EMBER_DTYPE_I16);
        for (int i = 0; i < 6; i++) CHECK_EQ(((int16_t *)t->data)[i], i - 3);
    }
    ember_tensor_destroy(t);

    t = NPY(npy_bool);
    if (t) CHECK(t->dtype == EMBER_DTYPE_BOOL && !memcmp(t->data, "\1\0\1", 3) && encodes_to(t, npy_bool, sizeof npy_bool));
    ember_tensor_destroy(t);

    t = NPY(npy_f16);
    if (t) {
        const uint16_t *h = t->data;
        CHECK(ember_f16_to_f32(h[0]) == 1.5f && ember_f16_to_f32(h[1]) == -2.0f && ember_f16_to_f32(h[2]) == 65504.0f);
        CHECK(encodes_to(t, npy_f16, sizeof npy_f16));
    }
    ember_tensor_destroy(t);

    t = NPY(npy_scalar);
    if (t) CHECK(t->ndim == 0 && *(double *)t->data == -3.5 && encodes_to(t, npy_scalar, sizeof npy_scalar));
    ember_tensor_destroy(t);

    t = NPY(npy_u8_v2);
    if (t) CHECK(shape_is(t, 2, 2, 2) && !memcmp(t->data, "\1\2\3\xff", 4));
    ember_tensor_destroy(t);

    t = NPY(npy_c8);
    if (t) {
        const float *c = t->data;
        CHECK(t->dtype == EMBER_DTYPE_C64 && c[0] == 1 && c[1] == 2 && c[2] == 0 && c[3] == -3.5f);
        CHECK(encodes_to(t, npy_c8, sizeof npy_c8));
    }
    ember_tensor_destroy(t);

    t = NPY(npy_u64_be);
    if (t) CHECK(((uint64_t *)t->data)[0] == UINT64_MAX && ((uint64_t *)t->data)[1] == 1);
    ember_tensor_destroy(t);

    t = NPY(npy_empty);
    if (t) CHECK(shape_is(t, 2, 0, 3) && t->dtype == EMBER_DTYPE_I32 && encodes_to(t, npy_empty, sizeof npy_empty));
    ember_tensor_destroy(t);
}

static void test_npy_strings(void) {
    ember_tensor *t = NPY(npy_u_fortran);
    if (t) {
        char **s = t->data;
        CHECK(shape_is(t, 2, 2, 2) && t->dtype == EMBER_DTYPE_STRING);
        CHECK_STR(s[0], "a");
        CHECK_STR(s[1], "b\xc3\xa9");
        CHECK_STR(s[2], "\xf0\x9f\x98\x80");
        CHECK_STR(s[3], "");
        CHECK(npy_round_trips(t));
    }
    ember_tensor_destroy(t);
    t = NPY(npy_s);
    if (t) CHECK(!strcmp(((char **)t->data)[0], "ab") && !strcmp(((char **)t->data)[1], "c"));
    ember_tensor_destroy(t);
    t = NPY(npy_u_v3);
    if (t) {
        CHECK_STR(((char **)t->data)[0], "\xc3\xbc" "ber");
        CHECK(npy_round_trips(t));
    }
    ember_tensor_destroy(t);
}

/* --- malformed .npy ----------------------------------------------------------------------------------- */
/* A version 1.0 file with this header text and n data bytes. */
static size_t make_npy(uint8_t *buf, const char *header, const void *data, size_t n) {
    size_t h = strlen(header);
    memcpy(buf, "\x93NUMPY\x01\x00", 8);
    buf[8] = (uint8_t)h;
    buf[9] = (uint8_t)(h >> 8);
    memcpy(buf + 10, header, h);
    memcpy(buf + 10 + h, data, n);
    return 10 + h + n;
}

static void expect_npy_error(const uint8_t *data, size_t n, ember_status want, const char *needle) {
    ember_tensor *t = NULL;
    ember_status s = ember_npy_decode(data, n, &t);
    CHECK_MSG(s == want, "status %d, expected %d (%s)", s, want, ember_last_error());
    CHECK_MSG(strstr(ember_last_error(), needle) != NULL, "'%s' not in '%s'", needle, ember_last_error());
    CHECK(t == NULL);
    ember_tensor_destroy(t);
}

static void test_npy_malformed(void) {
    uint8_t b[1024];
    const float four[4] = {1, 2, 3, 4};
    expect_npy_error(npy_object, sizeof npy_object, EMBER_ERR_UNSUPPORTED, "object arrays");
    expect_npy_error(npy_structured, sizeof npy_structured, EMBER_ERR_UNSUPPORTED, "structured arrays");
    expect_npy_error((const uint8_t *)"PK\3\4abcdefgh", 12, EMBER_ERR_FORMAT, "not an .npy file");
    expect_npy_error(npy_f4, 5, EMBER_ERR_FORMAT, "not an .npy file");
    expect_npy_error(npy_f4, 40, EMBER_ERR_FORMAT, "truncated header");
    expect_npy_error(npy_f4, sizeof npy_f4 - 1, EMBER_ERR_FORMAT, "truncated: 23 bytes of data at byte 128");
    memcpy(b, npy_f4, sizeof npy_f4);
    b[sizeof npy_f4] = 0;
    expect_npy_error(b, sizeof npy_f4 + 1, EMBER_ERR_FORMAT, "trailing bytes");
    memcpy(b, npy_f4, sizeof npy_f4);
    b[6] = 9;
    expect_npy_error(b, sizeof npy_f4, EMBER_ERR_UNSUPPORTED, "version 9.0");

    size_t n = make_npy(b, "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 2), 'extra': 1}", four, 16);
    expect_npy_error(b, n, EMBER_ERR_FORMAT, "unexpected key 'extra'");
    n = make_npy(b, "{'descr': '<f4', 'shape': (4,)}", four, 16);
    expect_npy_error(b, n, EMBER_ERR_FORMAT, "needs the keys");
    n = make_npy(b, "{'descr': '<f4', 'fortran_order': False, 'shape': (1,1,1,1,1,1,1,1,4), }", four, 16);
    expect_npy_error(b, n, EMBER_ERR_UNSUPPORTED, "more than 8 dimensions");
    n = make_npy(b, "{'descr': '<f4', 'fortran_order': False, 'shape': (4294967296, 4294967296, 4294967296), }", four, 16);
    expect_npy_error(b, n, EMBER_ERR_FORMAT, "overflows");
    n = make_npy(b, "{'descr': '<f4', 'fortran_order': False, 'shape': (-4,), }", four, 16);
    expect_npy_error(b, n, EMBER_ERR_FORMAT, "non-negative integers");
    n = make_npy(b, "{'descr': '<f4', 'fortran_order': Maybe, 'shape': (4,), }", four, 16);
    expect_npy_error(b, n, EMBER_ERR_FORMAT, "fortran_order");
    n = make_npy(b, "{'descr': '<f4', 'fortran_order': False, 'shape': (4,), } x", four, 16);
    expect_npy_error(b, n, EMBER_ERR_FORMAT, "after the dict");
    n = make_npy(b, "{'descr': '<f16', 'fortran_order': False, 'shape': (1,), }", four, 16);
    expect_npy_error(b, n, EMBER_ERR_UNSUPPORTED, "'<f16' is not supported");
    n = make_npy(b, "{'descr': '<M8[ns]', 'fortran_order': False, 'shape': (2,), }", four, 16);
    expect_npy_error(b, n, EMBER_ERR_UNSUPPORTED, "not supported");
    n = make_npy(b, "{'descr': '<U0', 'fortran_order': False, 'shape': (4611686018427387904,), }", four, 0);
    expect_npy_error(b, n, EMBER_ERR_FORMAT, "zero-width string type");
    const uint32_t surrogate[2] = {0x41, 0xD800};
    n = make_npy(b, "{'descr': '<U2', 'fortran_order': False, 'shape': (1,), }", surrogate, 8);
    expect_npy_error(b, n, EMBER_ERR_FORMAT, "U+D800");

    /* the long 'shape' spelling Python 2 wrote, and a header with a double-quoted key */
    n = make_npy(b, "{\"descr\": \"<f4\", 'fortran_order': False, 'shape': (2L, 2L)}\n", four, 16);
    ember_tensor *t = npy(b, n);
    if (t) CHECK(shape_is(t, 2, 2, 2) && ((float *)t->data)[3] == 4);
    ember_tensor_destroy(t);
}

static void test_npy_write_rejects(void) {
    const int64_t d[] = {2};
    ember_tensor *t = NULL;
    uint8_t *buf = NULL;
    size_t len;
    CHECK(ember_tensor_create(EMBER_DTYPE_BF16, 1, d, &t) == EMBER_OK);
    CHECK(ember_npy_encode(t, &buf, &len) == EMBER_ERR_UNSUPPORTED);
    CHECK(strstr(ember_last_error(), "NumPy has no bfloat16") != NULL);
    ember_tensor_destroy(t);
    CHECK(ember_tensor_create(EMBER_DTYPE_STRING, 1, d, &t) == EMBER_OK);
    ember_tensor_set_string(t, 1, "ok\xff", 3);
    CHECK(ember_npy_encode(t, &buf, &len) == EMBER_ERR_FORMAT);
    CHECK(strstr(ember_last_error(), "element 1 is not valid UTF-8") != NULL);
    ember_tensor_destroy(t);
    CHECK(buf == NULL);
}

/* Every truncation and every single-bit flip of a file: never a crash (ASan checks), and whatever decodes
 * must encode again. Returns how many variants decoded. */
static int sweep_npy(const unsigned char *data, size_t n) {
    int ok = 0;
    uint8_t *copy = malloc(n);
    for (size_t k = 0; k < n; k++) {
        uint8_t *cut = malloc(k ? k : 1);
        memcpy(cut, data, k);
        ember_tensor *t = NULL;
        ok += ember_npy_decode(cut, k, &t) == EMBER_OK;
        ember_tensor_destroy(t);
        free(cut);
    }
    for (size_t bit = 0; bit < n * 8; bit++) {
        memcpy(copy, data, n);
        copy[bit / 8] ^= (uint8_t)(1u << (bit % 8));
        ember_tensor *t = NULL;
        if (ember_npy_decode(copy, n, &t) == EMBER_OK) {
            ok++;
            if (t->dtype == EMBER_DTYPE_STRING || t->dtype == EMBER_DTYPE_F32) CHECK(npy_round_trips(t));
        }
        ember_tensor_destroy(t);
    }
    free(copy);
    return ok;
}

static void test_npy_sweep(void) {
    CHECK(sweep_npy(npy_f4, sizeof npy_f4) > 0);
    CHECK(sweep_npy(npy_u_fortran, sizeof npy_u_fortran) > 0);
    CHECK(sweep_npy(npy_f8_be, sizeof npy_f8_be) > 0);
}

/* --- .npz --------------------------------------------------------------------------------------------- */
static void test_npz_from_numpy(void) {
    ember_tensor **ts = NULL;
    size_t n = 0;
    put_file(tmp("stored.npz"), npz_stored, sizeof npz_stored);
    CHECK_MSG(ember_npz_read(tmp("stored.npz"), &ts, &n) == EMBER_OK, "%s", ember_last_error());
    CHECK_EQ(n, 2);
    if (n == 2) {
        CHECK_STR(ts[0]->name, "x");
        CHECK(ts[0]->dtype == EMBER_DTYPE_I64 && ((int64_t *)ts[0]->data)[2] == 2);
        CHECK_STR(ts[1]->name, "y");
        CHECK_STR(((char **)ts[1]->data)[0], "hi");
    }
    ember_tensor_list_free(ts, n);

    put_file(tmp("deflate.npz"), npz_deflate, sizeof npz_deflate);
    CHECK_MSG(ember_tensor_file_read(tmp("deflate.npz"), &ts, &n) == EMBER_OK, "%s", ember_last_error());
    CHECK_EQ(n, 2);
    if (n == 2) {
        CHECK_STR(ts[0]->name, "w"); /* np.savez puts keyword arrays first */
        CHECK(ts[0]->dtype == EMBER_DTYPE_I8 && !memcmp(ts[0]->data, "\0\1\2\3", 4));
        CHECK_STR(ts[1]->name, "arr_0");
        CHECK(ts[1]->dtype == EMBER_DTYPE_F32 && ember_tensor_count(ts[1]) == 100);
    }
    ember_tensor_list_free(ts, n);
}

/* A few tensors of different kinds, for round trips. */
static size_t sample_tensors(ember_tensor **ts) {
    const int64_t d2[] = {3, 4}, d1[] = {2}, d0[] = {0, 5};
    size_t n = 0;
    ember_tensor_create(EMBER_DTYPE_F32, 2, d2, &ts[n]);
    for (int i = 0; i < 12; i++) ((float *)ts[n]->data)[i] = (float)i * 0.5f - 2;
    ember_tensor_set_name(ts[n++], "input");
    ember_tensor_create(EMBER_DTYPE_STRING, 1, d1, &ts[n]);
    ember_tensor_set_string(ts[n], 0, "h\xc3\xa9", 3);
    ember_tensor_set_name(ts[n++], "words");
    ember_tensor_create(EMBER_DTYPE_U16, 2, d0, &ts[n++]); /* unnamed and empty */
    ember_tensor_create(EMBER_DTYPE_I64, 0, NULL, &ts[n]);
    *(int64_t *)ts[n]->data = -7;
    ember_tensor_set_name(ts[n++], "dir/scalar");
    return n;
}

static void test_npz_round_trip(void) {
    ember_tensor *ts[4];
    size_t n = sample_tensors(ts);
    static const ember_tensor_write_options opts[4] = {{0}, {.compress = true}, {.zip64 = true},
                                                        {.compress = true, .zip64 = true}};
    for (int k = 0; k < 4; k++) {
        ember_tensor **back = NULL;
        size_t m = 0;
        CHECK_MSG(ember_tensor_file_write(tmp("rt.npz"), (const ember_tensor *const *)ts, n, &opts[k]) == EMBER_OK,
                  "%s", ember_last_error());
        CHECK_MSG(ember_tensor_file_read(tmp("rt.npz"), &back, &m) == EMBER_OK, "%s", ember_last_error());
        CHECK_EQ(m, n);
        for (size_t i = 0; i < m && i < n; i++) {
            if (i == 2) CHECK_STR(back[i]->name, "arr_2");
            if (i == 2) ember_tensor_set_name(back[i], NULL);
            CHECK_MSG(tensors_equal(ts[i], back[i]), "options %d, tensor %zu", k, i);
        }
        ember_tensor_list_free(back, m);
    }
    ember_tensor_set_name(ts[2], "input");
    CHECK(ember_npz_write(tmp("dup.npz"), (const ember_tensor *const *)ts, n, NULL) == EMBER_ERR_ARG);
    CHECK(strstr(ember_last_error(), "two tensors are named 'input'") != NULL);
    CHECK(access(tmp("dup.npz"), F_OK) != 0);
    for (size_t i = 0; i < n; i++) ember_tensor_destroy(ts[i]);

    const int64_t d[] = {2};
    ember_tensor *bf = NULL;
    ember_tensor_create(EMBER_DTYPE_BF16, 1, d, &bf);
    CHECK(ember_npz_write(tmp("bf.npz"), (const ember_tensor *const *)&bf, 1, NULL) == EMBER_ERR_UNSUPPORTED);
    CHECK(access(tmp("bf.npz"), F_OK) != 0); /* no half-written archive left behind */
    ember_tensor_destroy(bf);
}

static ember_status read_npz_bytes(const uint8_t *data, size_t n) {
    put_file(tmp("x.npz"), data, n);
    ember_tensor **ts = NULL;
    size_t m = 0;
    ember_status s = ember_npz_read(tmp("x.npz"), &ts, &m);
    ember_tensor_list_free(ts, m);
    return s;
}

static void test_npz_corrupt(void) {
    uint8_t b[sizeof npz_deflate > sizeof npz_stored ? sizeof npz_deflate : sizeof npz_stored];
    memcpy(b, npz_stored, sizeof npz_stored);
    b[150] ^= 1; /* inside x.npy's data */
    CHECK(read_npz_bytes(b, sizeof npz_stored) == EMBER_ERR_FORMAT);
    CHECK(strstr(ember_last_error(), "CRC-32 mismatch") != NULL);
    CHECK(strstr(ember_last_error(), "x.npz: member 'x.npy'") != NULL);
    CHECK(read_npz_bytes(npz_stored, sizeof npz_stored - 30) == EMBER_ERR_FORMAT);
    CHECK(strstr(ember_last_error(), "no end-of-central-directory") != NULL);
    CHECK(read_npz_bytes((const uint8_t *)"PK\5\6", 4) == EMBER_ERR_FORMAT);

    /* every truncation and every bit flip: errors or (for harmless flips) success, never a crash */
    int ok = 0;
    for (size_t k = 0; k < sizeof npz_deflate; k++) ok += read_npz_bytes(npz_deflate, k) == EMBER_OK;
    CHECK_EQ(ok, 0);
    for (size_t bit = 0; bit < sizeof npz_deflate * 8; bit += 3) {
        memcpy(b, npz_deflate, sizeof npz_deflate);
        b[bit / 8] ^= (uint8_t)(1u << (bit % 8));
        read_npz_bytes(b, sizeof npz_deflate);
    }
    for (size_t bit = 0; bit < sizeof npz_stored * 8; bit += 3) {
        memcpy(b, npz_stored, sizeof npz_stored);
        b[bit / 8] ^= (uint8_t)(1u << (bit % 8));
        read_npz_bytes(b, sizeof npz_stored);
    }
}

/* --- any format --------------------------------------------------------------------------------------- */
static void test_file_formats(void) {
    ember_tensor *ts[4];
    size_t n = sample_tensors(ts);
    static const char *const files[] = {"one.npy", "one.pb", "ONE.NPZ"};
    for (int k = 0; k < 3; k++) {
        ember_tensor **back = NULL;
        size_t m = 0;
        CHECK_MSG(ember_tensor_file_write(tmp(files[k]), (const ember_tensor *const *)ts, 1, NULL) == EMBER_OK, "%s",
                  ember_last_error());
        CHECK_MSG(ember_tensor_file_read(tmp(files[k]), &back, &m) == EMBER_OK, "%s", ember_last_error());
        CHECK_EQ(m, 1);
        if (m == 1 && k == 0) CHECK_STR(back[0]->name, "one"); /* .npy: named after the file */
        if (m == 1) ember_tensor_set_name(back[0], "input");
        if (m == 1) CHECK(tensors_equal(ts[0], back[0]));
        ember_tensor_list_free(back, m);
    }
    CHECK(ember_tensor_file_write(tmp("two.npy"), (const ember_tensor *const *)ts, 2, NULL) == EMBER_ERR_ARG);
    CHECK(strstr(ember_last_error(), "holds exactly one tensor, not 2") != NULL);
    CHECK(ember_tensor_file_write(tmp("x.txt"), (const ember_tensor *const *)ts, 1, NULL) == EMBER_ERR_ARG);
    ember_tensor_write_options as_npz = {.format = EMBER_TENSOR_FORMAT_NPZ};
    CHECK(ember_tensor_file_write(tmp("x.bin"), (const ember_tensor *const *)ts, n, &as_npz) == EMBER_OK);
    ember_tensor **back = NULL;
    size_t m = 0;
    CHECK(ember_tensor_file_read(tmp("x.bin"), &back, &m) == EMBER_OK && m == n); /* found by its magic */
    ember_tensor_list_free(back, m);
    for (size_t i = 0; i < n; i++) ember_tensor_destroy(ts[i]);

    CHECK(ember_tensor_file_read(tmp("missing.npy"), &back, &m) == EMBER_ERR_IO);
    CHECK(strstr(ember_last_error(), "missing.npy: cannot open") != NULL);
    put_file(tmp("zip.npy"), npz_stored, sizeof npz_stored);
    CHECK(ember_tensor_file_read(tmp("zip.npy"), &back, &m) == EMBER_ERR_FORMAT);
    CHECK(strstr(ember_last_error(), "zip.npy: not a .npy file") != NULL);
    put_file(tmp("junk.pb"), "\xff\xff\xff", 3);
    CHECK(ember_tensor_file_read(tmp("junk.pb"), &back, &m) == EMBER_ERR_FORMAT);
    CHECK(strstr(ember_last_error(), "junk.pb: TensorProto") != NULL);
    put_file(tmp("empty.pb"), "", 0);
    CHECK(ember_tensor_file_read(tmp("empty.pb"), &back, &m) == EMBER_ERR_FORMAT);
    CHECK(back == NULL && m == 0);
    CHECK(ember_tensor_format_from_path("a/b.c/file") == EMBER_TENSOR_FORMAT_AUTO);
    CHECK(ember_tensor_format_from_path("x.Npz") == EMBER_TENSOR_FORMAT_NPZ);
}

/* ONNX test data (.pb) converted to .npy and .npz and read back unchanged. */
static void test_onnx_pb_conversions(void) {
    static const char *const pbs[] = {"conformance/onnx-node/test_abs/test_data_set_0/input_0.pb",
                                      "conformance/onnx-node/test_string_concat_utf8/test_data_set_0/output_0.pb",
                                      "conformance/onnx-node/test_cast_FLOAT_to_FLOAT16/test_data_set_0/output_0.pb",
                                      "conformance/onnx-node/test_argmax_default_axis_example/test_data_set_0/output_0.pb"};
    char path[512];
    SKIP_IF(!check_shared(pbs[0], path, sizeof path), "../shared/conformance is absent");
    for (size_t i = 0; i < sizeof pbs / sizeof pbs[0]; i++) {
        ember_tensor **a = NULL, **b = NULL, **c = NULL;
        size_t na = 0, nb = 0, nc = 0;
        if (!check_shared(pbs[i], path, sizeof path)) continue;
        CHECK_MSG(ember_tensor_file_read(path, &a, &na) == EMBER_OK, "%s", ember_last_error());
        if (na != 1) continue;
        ember_tensor_write_options z = {.compress = true};
        CHECK(ember_tensor_file_write(tmp("c.npy"), (const ember_tensor *const *)a, 1, NULL) == EMBER_OK);
        CHECK(ember_tensor_file_write(tmp("c.npz"), (const ember_tensor *const *)a, 1, &z) == EMBER_OK);
        CHECK(ember_tensor_file_read(tmp("c.npy"), &b, &nb) == EMBER_OK && nb == 1);
        CHECK(ember_tensor_file_read(tmp("c.npz"), &c, &nc) == EMBER_OK && nc == 1);
        if (nb == 1) ember_tensor_set_name(b[0], a[0]->name);
        CHECK_MSG(nb == 1 && tensors_equal(a[0], b[0]), "%s via .npy", pbs[i]);
        CHECK_MSG(nc == 1 && tensors_equal(a[0], c[0]), "%s via .npz", pbs[i]);
        ember_tensor_list_free(a, na);
        ember_tensor_list_free(b, nb);
        ember_tensor_list_free(c, nc);
    }
}

/* When NumPy is installed: it must load what Ember writes, with the same values. */
static void test_numpy_reads_ember_files(void) {
    const char *py = NULL;
    static const char *const pythons[] = {"python3", "/usr/bin/python3"};
    char cmd[1024];
    for (int i = 0; i < 2 && !py; i++) {
        snprintf(cmd, sizeof cmd, "%s -c 'import numpy' 2>/dev/null", pythons[i]);
        if (system(cmd) == 0) py = pythons[i];
    }
    SKIP_IF(!py, "NumPy is not installed (optional check)");
    ember_tensor *ts[4];
    size_t n = sample_tensors(ts);
    ember_tensor_write_options z = {.compress = true};
    CHECK(ember_tensor_file_write(tmp("np.npz"), (const ember_tensor *const *)ts, n, &z) == EMBER_OK);
    CHECK(ember_tensor_file_write(tmp("np.npy"), (const ember_tensor *const *)ts, 1, NULL) == EMBER_OK);
    for (size_t i = 0; i < n; i++) ember_tensor_destroy(ts[i]);
    snprintf(cmd, sizeof cmd,
             "%s -c \"import numpy as np, sys\n"
             "z = np.load('%s'); x = np.arange(12, dtype=np.float32).reshape(3, 4) * 0.5 - 2\n"
             "assert sorted(z.keys()) == ['arr_2', 'dir/scalar', 'input', 'words'], z.keys()\n"
             "assert (z['input'] == x).all() and z['input'].dtype == np.float32\n"
             "assert list(z['words']) == ['h\\u00e9', ''] and z['arr_2'].shape == (0, 5) and z['dir/scalar'] == -7\n"
             "assert (np.load('%s') == x).all()\"",
             py, tmp("np.npz"), tmp("np.npy"));
    CHECK_MSG(system(cmd) == 0, "NumPy disagrees with what Ember wrote");
}

/* --- values as numbers and text ---------------------------------------------------------------------- */
static ember_tensor *bytes_tensor(ember_dtype dt, int64_t n, const void *data, size_t len) {
    ember_tensor *t = NULL;
    ember_tensor_create(dt, 1, &n, &t);
    memcpy(t->data, data, len);
    return t;
}

static bool text_is(const ember_tensor *t, int64_t i, bool json, const char *want) {
    char buf[64];
    ember_tensor_value_text(t, i, json, buf, sizeof buf);
    if (strcmp(buf, want)) printf("  got '%s', want '%s'\n", buf, want);
    return !strcmp(buf, want);
}

static void test_small_float_values(void) {
    static const struct {
        ember_dtype dt;
        uint8_t bits;
        double want; /* NAN: is NaN */
    } cases[] = {
        {EMBER_DTYPE_F8E4M3FN, 0x7E, 448},       {EMBER_DTYPE_F8E4M3FN, 0x7F, NAN},
        {EMBER_DTYPE_F8E4M3FN, 0x01, 1.0 / 512}, {EMBER_DTYPE_F8E4M3FN, 0xB8, -1},
        {EMBER_DTYPE_F8E4M3FNUZ, 0x80, NAN},     {EMBER_DTYPE_F8E4M3FNUZ, 0x7F, 240},
        {EMBER_DTYPE_F8E5M2, 0x7C, INFINITY},    {EMBER_DTYPE_F8E5M2, 0x7B, 57344},
        {EMBER_DTYPE_F8E5M2, 0x7E, NAN},         {EMBER_DTYPE_F8E5M2FNUZ, 0x80, NAN},
        {EMBER_DTYPE_F8E5M2FNUZ, 0x7F, 57344},   {EMBER_DTYPE_F8E5M2FNUZ, 0x01, 1.0 / 65536 / 2},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        ember_tensor *t = bytes_tensor(cases[i].dt, 1, &cases[i].bits, 1);
        double v = ember_tensor_value_f64(t, 0);
        CHECK_MSG(isnan(cases[i].want) ? isnan(v) : v == cases[i].want, "%s 0x%02x: %g", ember_dtype_name(cases[i].dt),
                  cases[i].bits, v);
        ember_tensor_destroy(t);
    }
    const uint8_t f4[2] = {0x71, 0x0F}; /* 0.5, 6, -6, 0 */
    ember_tensor *t = bytes_tensor(EMBER_DTYPE_F4E2M1, 4, f4, 2);
    CHECK(ember_tensor_value_f64(t, 0) == 0.5 && ember_tensor_value_f64(t, 1) == 6);
    CHECK(ember_tensor_value_f64(t, 2) == -6 && ember_tensor_value_f64(t, 3) == 0);
    ember_tensor_destroy(t);
    const uint8_t i4[2] = {0xF8, 0x07}; /* -8, -1, 7, 0 */
    t = bytes_tensor(EMBER_DTYPE_I4, 3, i4, 2);
    CHECK(ember_tensor_value_f64(t, 0) == -8 && ember_tensor_value_f64(t, 1) == -1 && ember_tensor_value_f64(t, 2) == 7);
    CHECK(text_is(t, 0, false, "-8"));
    ember_tensor_destroy(t);
    t = bytes_tensor(EMBER_DTYPE_U4, 2, i4, 1);
    CHECK(ember_tensor_value_f64(t, 0) == 8 && ember_tensor_value_f64(t, 1) == 15);
    ember_tensor_destroy(t);
}

static void test_value_text(void) {
    const float f[3] = {0.1f, NAN, -INFINITY};
    ember_tensor *t = bytes_tensor(EMBER_DTYPE_F32, 3, f, sizeof f);
    CHECK(text_is(t, 0, false, "0.1") && text_is(t, 1, false, "nan") && text_is(t, 2, false, "-inf"));
    CHECK(text_is(t, 1, true, "null") && text_is(t, 2, true, "null"));
    ember_tensor_summary s;
    CHECK(ember_tensor_summarize(t, &s) == EMBER_OK && s.count == 2 && s.nans == 1 && s.min == -INFINITY);
    ember_tensor_destroy(t);
    const double d[2] = {0.1, 1e300};
    t = bytes_tensor(EMBER_DTYPE_F64, 2, d, sizeof d);
    CHECK(text_is(t, 0, false, "0.1") && text_is(t, 1, true, "1e+300"));
    ember_tensor_destroy(t);
    const uint16_t h[2] = {0x2E66, 0x3DCD}; /* 0.1 as float16 and as bfloat16 */
    t = bytes_tensor(EMBER_DTYPE_F16, 1, h, 2);
    CHECK(text_is(t, 0, false, "0.1"));
    ember_tensor_destroy(t);
    t = bytes_tensor(EMBER_DTYPE_BF16, 1, h + 1, 2);
    CHECK(text_is(t, 0, false, "0.1"));
    ember_tensor_destroy(t);
    const float c[2] = {1, -2};
    t = bytes_tensor(EMBER_DTYPE_C64, 1, c, sizeof c);
    CHECK(text_is(t, 0, false, "1-2j") && text_is(t, 0, true, "[1, -2]"));
    CHECK(ember_tensor_summarize(t, &s) == EMBER_ERR_ARG);
    ember_tensor_destroy(t);
    const uint64_t u = UINT64_MAX;
    t = bytes_tensor(EMBER_DTYPE_U64, 1, &u, 8);
    CHECK(text_is(t, 0, true, "18446744073709551615"));
    ember_tensor_destroy(t);
    const int64_t one = 1;
    ember_tensor_create(EMBER_DTYPE_STRING, 1, &one, &t);
    ember_tensor_set_string(t, 0, "a\"b\n\x01", 5);
    CHECK(text_is(t, 0, true, "\"a\\\"b\\n\\u0001\""));
    CHECK(ember_tensor_summarize(t, &s) == EMBER_ERR_ARG);
    char tiny[4];
    CHECK_EQ(ember_tensor_value_text(t, 0, false, tiny, sizeof tiny), 14); /* the length it wanted */
    CHECK_STR(tiny, "\"a\\");
    ember_tensor_destroy(t);
    const uint8_t b[2] = {1, 0};
    t = bytes_tensor(EMBER_DTYPE_BOOL, 2, b, 2);
    CHECK(text_is(t, 0, true, "true") && text_is(t, 1, false, "false"));
    CHECK(ember_tensor_summarize(t, &s) == EMBER_OK && s.mean == 0.5);
    ember_tensor_destroy(t);
}

int main(void) {
    snprintf(tmpdir, sizeof tmpdir, "/tmp/ember_tensorio_XXXXXX");
    if (!mkdtemp(tmpdir)) return 1;
    RUN(test_npy_numeric);
    RUN(test_npy_strings);
    RUN(test_npy_malformed);
    RUN(test_npy_write_rejects);
    RUN(test_npy_sweep);
    RUN(test_npz_from_numpy);
    RUN(test_npz_round_trip);
    RUN(test_npz_corrupt);
    RUN(test_file_formats);
    RUN(test_onnx_pb_conversions);
    RUN(test_small_float_values);
    RUN(test_value_text);
    RUN(test_numpy_reads_ember_files);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    if (system(cmd)) printf("  note: could not remove %s\n", tmpdir);
    return check_done();
}
