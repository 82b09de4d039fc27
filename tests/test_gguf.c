/* GGUF reader and writer: real files from ../shared, round trips of every metadata type, and corrupted input. */
#include "check.h"

#include "ember/gguf.h"

#include <stdint.h>
#include <unistd.h>

static char tmp_path[256];

static const char *tmp_file(const char *name) {
    snprintf(tmp_path, sizeof tmp_path, "/tmp/ember_test_gguf_%d_%s", (int)getpid(), name);
    return tmp_path;
}

static uint8_t *slurp(const char *path, size_t *size) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *b = malloc((size_t)n + 1);
    *size = fread(b, 1, (size_t)n, f);
    fclose(f);
    return b;
}

static void test_type_tables(void) {
    int64_t be, bb;
    CHECK(ember_ggml_type_block(EMBER_GGML_Q4_K, &be, &bb));
    CHECK_EQ(be, 256);
    CHECK_EQ(bb, 144);
    CHECK(ember_ggml_type_block(EMBER_GGML_Q8_0, &be, &bb));
    CHECK_EQ(bb, 34);
    CHECK(!ember_ggml_type_block((ember_ggml_type)4, &be, &bb)); /* removed Q4_2 */
    CHECK_EQ(ember_ggml_type_from_name("q6_k"), EMBER_GGML_Q6_K);
    CHECK_EQ(ember_ggml_type_from_name("nope"), -1);
    CHECK_STR(ember_ggml_type_name(EMBER_GGML_BF16), "BF16");
    size_t bytes;
    CHECK(ember_ggml_type_bytes(EMBER_GGML_Q6_K, 512, &bytes));
    CHECK_EQ(bytes, 420);
    CHECK(!ember_ggml_type_bytes(EMBER_GGML_Q6_K, 100, &bytes));
}

static void test_stories_gguf(void) {
    char buf[512];
    const char *path = check_shared("models/llm/gguf_stories260K/stories260K.gguf", buf, sizeof buf);
    SKIP_IF(!path, "../shared/models/llm/gguf_stories260K is absent");
    ember_gguf *g = NULL;
    CHECK_EQ(ember_gguf_open(path, &g), EMBER_OK);
    if (!g) return;
    CHECK_EQ(ember_gguf_version(g), 3);
    const char *arch = NULL;
    CHECK_EQ(ember_gguf_get_str(g, "general.architecture", &arch), EMBER_OK);
    CHECK_STR(arch, "llama");
    int64_t v = 0;
    CHECK_EQ(ember_gguf_get_int(g, "llama.attention.head_count", &v), EMBER_OK);
    CHECK_EQ(v, 8);
    CHECK_EQ(ember_gguf_get_int(g, "llama.attention.head_count_kv", &v), EMBER_OK);
    CHECK_EQ(v, 4);
    const char *const *toks = NULL;
    const size_t *lens = NULL;
    uint64_t n = 0;
    CHECK_EQ(ember_gguf_get_strs(g, "tokenizer.ggml.tokens", &toks, &lens, &n), EMBER_OK);
    CHECK_EQ(n, 512);
    if (n == 512) {
        CHECK_STR(toks[1], "<s>");
        CHECK_EQ(lens[1], 3);
    }
    float *scores = NULL;
    CHECK_EQ(ember_gguf_get_f32s(g, "tokenizer.ggml.scores", &scores, &n), EMBER_OK);
    CHECK_EQ(n, 512);
    ember_free(scores);
    int32_t *types = NULL;
    CHECK_EQ(ember_gguf_get_i32s(g, "tokenizer.ggml.token_type", &types, &n), EMBER_OK);
    CHECK_EQ(n, 512);
    if (types) CHECK_EQ(types[1], 3); /* control */
    ember_free(types);
    /* wrong-type lookups fail with a message naming the key */
    CHECK_EQ(ember_gguf_get_str(g, "llama.block_count", &arch), EMBER_ERR_FORMAT);
    CHECK(strstr(ember_last_error(), "llama.block_count") != NULL);
    CHECK_EQ(ember_gguf_get_int(g, "no.such.key", &v), EMBER_ERR_FORMAT);
    CHECK(strstr(ember_last_error(), "no.such.key") != NULL);
    const ember_gguf_tensor *t = ember_gguf_find_tensor(g, "token_embd.weight");
    CHECK(t != NULL);
    if (t) {
        CHECK_EQ(t->type, EMBER_GGML_F32);
        CHECK_EQ(t->ndim, 2);
        CHECK_EQ(t->dims[0], 64);
        CHECK_EQ(t->dims[1], 512);
        CHECK_EQ(t->size, 64 * 512 * 4);
        CHECK(((uintptr_t)t->data & 31) == 0);
    }
    CHECK(ember_gguf_find_tensor(g, "nope") == NULL);
    ember_gguf_close(g);
}

/* Copying every entry and tensor of a real file reproduces it byte for byte (same layout as llama.cpp's). */
static void test_copy_roundtrip(void) {
    char buf[512];
    const char *path = check_shared("models/llm/fixtures/models/llama-Q4_K_M.gguf", buf, sizeof buf);
    SKIP_IF(!path, "../shared/models/llm/fixtures is absent");
    ember_gguf *g = NULL;
    CHECK_EQ(ember_gguf_open(path, &g), EMBER_OK);
    if (!g) return;
    ember_gguf_writer *w = NULL;
    CHECK_EQ(ember_gguf_writer_create(&w), EMBER_OK);
    for (int64_t i = 0; i < ember_gguf_kv_count(g); i++) CHECK_EQ(ember_gguf_writer_copy_kv(w, g, i), EMBER_OK);
    for (int64_t i = 0; i < ember_gguf_tensor_count(g); i++) {
        const ember_gguf_tensor *t = ember_gguf_tensor_at(g, i);
        CHECK_EQ(ember_gguf_writer_add_tensor(w, t->name, t->type, t->ndim, t->dims, t->data), EMBER_OK);
    }
    const char *outp = tmp_file("copy.gguf");
    CHECK_EQ(ember_gguf_writer_write(w, outp, NULL, NULL), EMBER_OK);
    ember_gguf_writer_destroy(w);
    size_t na, nb;
    uint8_t *a = slurp(path, &na), *b = slurp(outp, &nb);
    CHECK(a && b);
    /* llama.cpp pads the last tensor too; compare the common prefix and require the same content */
    CHECK(nb <= na);
    if (a && b && nb <= na) CHECK(memcmp(a, b, nb) == 0);
    free(a);
    free(b);
    unlink(outp);
    ember_gguf_close(g);
}

static ember_status fill_ramp(void *user, int64_t index, void *buf, size_t nbytes) {
    (void)user;
    for (size_t i = 0; i < nbytes; i++) ((uint8_t *)buf)[i] = (uint8_t)(i * 7 + (size_t)index);
    return EMBER_OK;
}

/* A file using every metadata type, written and read back. Returns its path. */
static const char *write_sample(uint32_t alignment) {
    ember_gguf_writer *w = NULL;
    ember_gguf_writer_create(&w);
    uint8_t u8 = 200;
    int8_t i8 = -5;
    uint16_t u16 = 60000;
    int16_t i16 = -30000;
    int64_t i64 = -1234567890123ll;
    double f64 = 2.5e-300;
    ember_gguf_writer_set_scalar(w, "t.u8", EMBER_GGUF_UINT8, &u8);
    ember_gguf_writer_set_scalar(w, "t.i8", EMBER_GGUF_INT8, &i8);
    ember_gguf_writer_set_scalar(w, "t.u16", EMBER_GGUF_UINT16, &u16);
    ember_gguf_writer_set_scalar(w, "t.i16", EMBER_GGUF_INT16, &i16);
    ember_gguf_writer_set_u32(w, "t.u32", 4000000000u);
    ember_gguf_writer_set_i32(w, "t.i32", -7);
    ember_gguf_writer_set_f32(w, "t.f32", 0.125f);
    ember_gguf_writer_set_bool(w, "t.bool", true);
    ember_gguf_writer_set_str(w, "t.str", "héllo");
    ember_gguf_writer_set_u64(w, "t.u64", UINT64_MAX);
    ember_gguf_writer_set_scalar(w, "t.i64", EMBER_GGUF_INT64, &i64);
    ember_gguf_writer_set_scalar(w, "t.f64", EMBER_GGUF_FLOAT64, &f64);
    ember_gguf_writer_set_str(w, "t.replaced", "old");
    ember_gguf_writer_set_str(w, "t.replaced", "new");
    float fa[3] = {1.5f, -2, 3};
    int32_t ia[4] = {1, -2, 3, 2147483647};
    ember_gguf_writer_set_array(w, "t.fa", EMBER_GGUF_FLOAT32, fa, 3);
    ember_gguf_writer_set_array(w, "t.ia", EMBER_GGUF_INT32, ia, 4);
    ember_gguf_writer_set_array(w, "t.empty", EMBER_GGUF_INT32, NULL, 0);
    const char *strs[] = {"a", "", "xyz"};
    ember_gguf_writer_set_strs(w, "t.sa", strs, NULL, 3);
    const char nul[] = {'a', 0, 'b'};
    const char *nuls[] = {nul};
    size_t nul_len = 3;
    ember_gguf_writer_set_strs(w, "t.nul", nuls, &nul_len, 1);
    if (alignment != 32) ember_gguf_writer_set_alignment(w, alignment);
    float wdata[2 * 32];
    for (int i = 0; i < 64; i++) wdata[i] = (float)i;
    int64_t d2[2] = {32, 2}, dq[2] = {64, 3};
    ember_gguf_writer_add_tensor(w, "w.f32", EMBER_GGML_F32, 2, d2, wdata);
    ember_gguf_writer_add_tensor(w, "w.q8", EMBER_GGML_Q8_0, 2, dq, NULL);
    const char *p = tmp_file("sample.gguf");
    ember_status s = ember_gguf_writer_write(w, p, fill_ramp, NULL);
    ember_gguf_writer_destroy(w);
    return s ? NULL : p;
}

static void check_sample(ember_gguf *g, uint32_t alignment) {
    int64_t v;
    double d;
    bool b;
    const char *s;
    CHECK_EQ(ember_gguf_alignment(g), alignment);
    CHECK(!ember_gguf_get_int(g, "t.u8", &v) && v == 200);
    CHECK(!ember_gguf_get_int(g, "t.i8", &v) && v == -5);
    CHECK(!ember_gguf_get_int(g, "t.u16", &v) && v == 60000);
    CHECK(!ember_gguf_get_int(g, "t.i16", &v) && v == -30000);
    CHECK(!ember_gguf_get_int(g, "t.u32", &v) && v == 4000000000ll);
    CHECK(!ember_gguf_get_int(g, "t.i32", &v) && v == -7);
    CHECK(!ember_gguf_get_int(g, "t.i64", &v) && v == -1234567890123ll);
    CHECK_EQ(ember_gguf_get_int(g, "t.u64", &v), EMBER_ERR_FORMAT); /* does not fit int64 */
    CHECK(!ember_gguf_get_float(g, "t.f32", &d) && d == 0.125);
    CHECK(!ember_gguf_get_float(g, "t.f64", &d) && d == 2.5e-300);
    CHECK(!ember_gguf_get_float(g, "t.i32", &d) && d == -7);
    CHECK(!ember_gguf_get_bool(g, "t.bool", &b) && b);
    CHECK(!ember_gguf_get_str(g, "t.str", &s) && !strcmp(s, "héllo"));
    CHECK(!ember_gguf_get_str(g, "t.replaced", &s) && !strcmp(s, "new"));
    CHECK_EQ(ember_gguf_get_bool(g, "t.u8", &b), EMBER_ERR_FORMAT);
    float *fa;
    int32_t *ia;
    uint64_t n;
    CHECK(!ember_gguf_get_f32s(g, "t.fa", &fa, &n) && n == 3 && fa[0] == 1.5f && fa[2] == 3);
    ember_free(fa);
    CHECK(!ember_gguf_get_i32s(g, "t.ia", &ia, &n) && n == 4 && ia[1] == -2 && ia[3] == 2147483647);
    ember_free(ia);
    CHECK(!ember_gguf_get_f32s(g, "t.ia", &fa, &n) && n == 4 && fa[1] == -2.0f);
    ember_free(fa);
    CHECK_EQ(ember_gguf_get_i32s(g, "t.fa", &ia, &n), EMBER_ERR_FORMAT);
    CHECK(!ember_gguf_get_i32s(g, "t.empty", &ia, &n) && n == 0 && ia == NULL);
    const char *const *sa;
    const size_t *lens;
    CHECK(!ember_gguf_get_strs(g, "t.sa", &sa, &lens, &n) && n == 3);
    if (n == 3) {
        CHECK_STR(sa[0], "a");
        CHECK_STR(sa[1], "");
        CHECK_EQ(lens[2], 3);
    }
    CHECK(!ember_gguf_get_strs(g, "t.nul", &sa, &lens, &n) && n == 1 && lens[0] == 3 && !memcmp(sa[0], "a\0b", 4));
    int64_t ki = ember_gguf_find_key(g, "t.fa");
    CHECK(ki >= 0);
    CHECK_EQ(ember_gguf_kv_type(g, ki), EMBER_GGUF_ARRAY);
    CHECK_EQ(ember_gguf_kv_elem_type(g, ki), EMBER_GGUF_FLOAT32);
    CHECK_EQ(ember_gguf_kv_len(g, ki), 3);
    CHECK(ember_gguf_kv_array_data(g, ki) != NULL);
    const ember_gguf_tensor *t = ember_gguf_find_tensor(g, "w.f32");
    CHECK(t && t->count == 64 && ((const float *)t->data)[63] == 63.0f);
    t = ember_gguf_find_tensor(g, "w.q8");
    CHECK(t && t->size == 3 * 2 * 34 && t->offset % alignment == 0);
    if (t) CHECK_EQ(((const uint8_t *)t->data)[5], (uint8_t)(5 * 7 + 1));
}

static void test_write_read_all_types(void) {
    uint32_t aligns[] = {32, 64, 8};
    for (int k = 0; k < 3; k++) {
        const char *p = write_sample(aligns[k]);
        CHECK(p != NULL);
        if (!p) return;
        ember_gguf *g = NULL;
        CHECK_EQ(ember_gguf_open(p, &g), EMBER_OK);
        if (g) check_sample(g, aligns[k]);
        ember_gguf_close(g);
        unlink(p);
    }
}

static ember_status open_bytes(const uint8_t *b, size_t n) {
    ember_gguf *g = NULL;
    ember_status s = ember_gguf_open_memory(b, n, "mutant.gguf", &g);
    ember_gguf_close(g);
    return s;
}

/* Every truncation fails with a format error; random bit flips never crash (ASan checks the reads). */
static void test_truncated_and_flipped(void) {
    const char *p = write_sample(32);
    size_t n;
    uint8_t *b = p ? slurp(p, &n) : NULL;
    CHECK(b != NULL);
    if (!b) return;
    unlink(p);
    ember_gguf *g = NULL;
    CHECK_EQ(ember_gguf_open_memory(b, n, "sample", &g), EMBER_OK);
    if (!g) return;
    size_t end = 0; /* the file may end with padding after the last tensor: only cuts before that must fail */
    for (int64_t i = 0; i < ember_gguf_tensor_count(g); i++) {
        const ember_gguf_tensor *t = ember_gguf_tensor_at(g, i);
        size_t e = (size_t)(ember_gguf_data_offset(g) + t->offset) + t->size;
        if (e > end) end = e;
    }
    ember_gguf_close(g);
    int bad = 0;
    for (size_t len = 0; len < end; len++) {
        uint8_t *copy = malloc(len ? len : 1); /* exact-size copy so ASan catches any overread */
        memcpy(copy, b, len);
        ember_status s = open_bytes(copy, len);
        if (s != EMBER_ERR_FORMAT) bad++;
        else if (!strstr(ember_last_error(), "mutant.gguf")) bad++;
        free(copy);
    }
    CHECK_EQ(bad, 0);
    uint8_t *copy = malloc(n);
    int ok = 0, failed = 0;
    for (int trial = 0; trial < 4000; trial++) {
        memcpy(copy, b, n);
        int flips = 1 + (int)(check_rand() % 3);
        for (int f = 0; f < flips; f++) {
            size_t at = check_rand() % n;
            copy[at] ^= (uint8_t)(1u << (check_rand() % 8));
        }
        ember_status s = open_bytes(copy, n);
        if (s == EMBER_OK) ok++;
        else if (s == EMBER_ERR_FORMAT || s == EMBER_ERR_UNSUPPORTED) failed++;
    }
    CHECK_EQ(ok + failed, 4000);
    CHECK(failed > 100);
    free(copy);
    free(b);
}

static void put32(uint8_t *p, uint32_t v) { memcpy(p, &v, 4); }
static void put64(uint8_t *p, uint64_t v) { memcpy(p, &v, 8); }

static void test_specific_errors(void) {
    uint8_t h[64] = "GGUF";
    put32(h + 4, 1);
    CHECK_EQ(open_bytes(h, 24), EMBER_ERR_UNSUPPORTED);
    CHECK(strstr(ember_last_error(), "version 1") != NULL);
    put32(h + 4, 3);
    put64(h + 8, 0);
    put64(h + 16, 0);
    CHECK_EQ(open_bytes(h, 24), EMBER_OK); /* empty but valid */
    CHECK_EQ(open_bytes((const uint8_t *)"GGUG\3\0\0\0", 8), EMBER_ERR_FORMAT);
    CHECK(strstr(ember_last_error(), "magic") != NULL);
    put64(h + 8, 1ull << 60); /* absurd tensor count */
    CHECK_EQ(open_bytes(h, 24), EMBER_ERR_FORMAT);
    /* one key with an unknown value type */
    put64(h + 8, 0);
    put64(h + 16, 1);
    put64(h + 24, 3);
    memcpy(h + 32, "abc", 3);
    put32(h + 35, 99);
    CHECK_EQ(open_bytes(h, 39), EMBER_ERR_FORMAT);
    CHECK(strstr(ember_last_error(), "'abc'") && strstr(ember_last_error(), "99"));
    /* a bool that is neither 0 nor 1 */
    put32(h + 35, EMBER_GGUF_BOOL);
    h[39] = 2;
    CHECK_EQ(open_bytes(h, 40), EMBER_ERR_FORMAT);
    h[39] = 1;
    CHECK_EQ(open_bytes(h, 40), EMBER_OK);
}

static void test_tensor_errors(void) {
    /* Write a file, then patch its one tensor's offset and type to bad values. */
    ember_gguf_writer *w = NULL;
    ember_gguf_writer_create(&w);
    float data[32] = {0};
    int64_t dims[1] = {32};
    ember_gguf_writer_add_tensor(w, "x", EMBER_GGML_F32, 1, dims, data);
    const char *p = tmp_file("t.gguf");
    CHECK_EQ(ember_gguf_writer_write(w, p, NULL, NULL), EMBER_OK);
    ember_gguf_writer_destroy(w);
    size_t n;
    uint8_t *b = slurp(p, &n);
    unlink(p);
    if (!b) return;
    /* header 24, name 8+1, ndim 4, dim 8, type 4, offset 8 */
    size_t type_at = 24 + 9 + 4 + 8, off_at = type_at + 4;
    CHECK_EQ(open_bytes(b, n), EMBER_OK);
    put64(b + off_at, 4);
    CHECK_EQ(open_bytes(b, n), EMBER_ERR_FORMAT);
    CHECK(strstr(ember_last_error(), "tensor 'x'") && strstr(ember_last_error(), "alignment"));
    put64(b + off_at, 64);
    CHECK_EQ(open_bytes(b, n), EMBER_ERR_FORMAT);
    CHECK(strstr(ember_last_error(), "past the end") != NULL);
    put64(b + off_at, 0);
    put32(b + type_at, 4);
    CHECK_EQ(open_bytes(b, n), EMBER_ERR_FORMAT);
    CHECK(strstr(ember_last_error(), "unknown ggml type 4") != NULL);
    put32(b + type_at, EMBER_GGML_Q4_K); /* 32 elements cannot be a 256-block type */
    CHECK_EQ(open_bytes(b, n), EMBER_ERR_FORMAT);
    CHECK(strstr(ember_last_error(), "Q4_K") != NULL);
    free(b);
}

static void test_open_errors(void) {
    ember_gguf *g = NULL;
    CHECK_EQ(ember_gguf_open("/nonexistent/x.gguf", &g), EMBER_ERR_IO);
    CHECK(g == NULL);
    CHECK(strstr(ember_last_error(), "/nonexistent/x.gguf") != NULL);
}

int main(void) {
    RUN(test_type_tables);
    RUN(test_stories_gguf);
    RUN(test_copy_roundtrip);
    RUN(test_write_read_all_types);
    RUN(test_truncated_and_flipped);
    RUN(test_specific_errors);
    RUN(test_tensor_errors);
    RUN(test_open_errors);
    return check_done();
}
