/* Unit tests for core: status messages, allocation, tensors, shapes, half floats, arena, protobuf wire, mmap. */
#include "core/arena.h"
#include "core/mapfile.h"
#include "core/pagestore.h"
#include "core/pbwire.h"
#include "ember/ember.h"

#include "check.h"

#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

static void test_status_messages(void) {
    CHECK(ember_fail(EMBER_ERR_FORMAT, "model.onnx: node %d: bad", 7) == EMBER_ERR_FORMAT);
    CHECK_STR(ember_last_error(), "model.onnx: node 7: bad");
    CHECK(ember_fail_context(EMBER_ERR_FORMAT, "loading %s: ", "x") == EMBER_ERR_FORMAT);
    CHECK_STR(ember_last_error(), "loading x: model.onnx: node 7: bad");
    CHECK_STR(ember_status_str(EMBER_ERR_SHAPE), "shape error");
    CHECK_STR(ember_status_str((ember_status)-99), "unknown status");
}

static void test_alloc(void) {
    for (size_t n = 1; n < 5000; n = n * 3 + 1) {
        unsigned char *p = ember_malloc_aligned(n);
        CHECK(p && ((uintptr_t)p & 63) == 0);
        memset(p, 0xab, n);
        ember_free_aligned(p);
    }
    CHECK(ember_calloc(SIZE_MAX / 2, 4) == NULL); /* overflow is refused, not wrapped */
    char *s = ember_strdup("ember");
    CHECK_STR(s, "ember");
    ember_free(s);
}

static void test_dtypes(void) {
    CHECK_EQ(ember_dtype_bits(EMBER_DTYPE_F32), 32);
    CHECK_EQ(ember_dtype_bits(EMBER_DTYPE_I4), 4);
    size_t b = 0;
    CHECK(ember_dtype_bytes(EMBER_DTYPE_U4, 5, &b) && b == 3);
    CHECK(ember_dtype_bytes(EMBER_DTYPE_BF16, 5, &b) && b == 10);
    CHECK(!ember_dtype_bytes(EMBER_DTYPE_UNDEFINED, 5, &b));
    CHECK(!ember_dtype_bytes((ember_dtype)99, 1, &b));
    for (int t = 1; t < EMBER_DTYPE_COUNT; t++)
        CHECK_EQ(ember_dtype_from_name(ember_dtype_name((ember_dtype)t)), t);
    CHECK_EQ(ember_dtype_from_name("float"), EMBER_DTYPE_F32);
    CHECK_EQ(ember_dtype_from_name("double"), EMBER_DTYPE_F64);
    CHECK_EQ(ember_dtype_from_name("nope"), EMBER_DTYPE_UNDEFINED);
    CHECK(ember_dtype_is_float(EMBER_DTYPE_BF16) && !ember_dtype_is_float(EMBER_DTYPE_I8));
    CHECK(ember_dtype_is_int(EMBER_DTYPE_U64) && !ember_dtype_is_int(EMBER_DTYPE_BOOL));
}

static void test_shapes(void) {
    int64_t s[] = {2, 3, 4};
    CHECK_EQ(ember_shape_count(3, s), 24);
    CHECK_EQ(ember_shape_count(0, s), 1);
    int64_t huge[] = {INT64_MAX / 2, 3};
    CHECK_EQ(ember_shape_count(2, huge), -1);
    int64_t neg[] = {2, -1};
    CHECK_EQ(ember_shape_count(2, neg), -1);
    int64_t st[3];
    ember_shape_strides(3, s, st);
    CHECK(st[0] == 12 && st[1] == 4 && st[2] == 1);

    int64_t a[] = {8, 1, 6, 1}, b[] = {7, 1, 5}, out[EMBER_MAX_DIMS];
    int n = 0;
    CHECK(ember_shape_broadcast(4, a, 3, b, &n, out) == EMBER_OK);
    CHECK(n == 4 && out[0] == 8 && out[1] == 7 && out[2] == 6 && out[3] == 5);
    int64_t c[] = {3}, d[] = {4};
    CHECK(ember_shape_broadcast(1, c, 1, d, &n, out) == EMBER_ERR_SHAPE);
    CHECK(strstr(ember_last_error(), "3 and 4") != NULL);

    char buf[64];
    ember_shape_format(buf, sizeof buf, 3, s);
    CHECK_STR(buf, "2x3x4");
    ember_shape_format(buf, sizeof buf, 0, s);
    CHECK_STR(buf, "scalar");
    CHECK_EQ(ember_shape_format(buf, 3, 3, s), 5); /* truncated output still reports the full length */
    int nd = 0;
    int64_t parsed[EMBER_MAX_DIMS];
    CHECK(ember_shape_parse("1x3x224x224", &nd, parsed) == EMBER_OK && nd == 4 && parsed[3] == 224);
    CHECK(ember_shape_parse("1,3", &nd, parsed) == EMBER_OK && nd == 2);
    CHECK(ember_shape_parse("", &nd, parsed) == EMBER_OK && nd == 0);
    CHECK(ember_shape_parse("1xq", &nd, parsed) == EMBER_ERR_ARG);
    CHECK(ember_shape_parse("1x-2", &nd, parsed) == EMBER_ERR_ARG);
    CHECK(ember_shape_parse("1x1x1x1x1x1x1x1x1", &nd, parsed) == EMBER_ERR_ARG);
}

static void test_tensors(void) {
    int64_t shape[] = {2, 3};
    ember_tensor *t = NULL;
    CHECK(ember_tensor_create(EMBER_DTYPE_F32, 2, shape, &t) == EMBER_OK);
    CHECK(t->nbytes == 24 && ember_tensor_count(t) == 6 && (t->flags & EMBER_TENSOR_OWNS_DATA));
    float *x = t->data;
    for (int i = 0; i < 6; i++) CHECK(x[i] == 0.0f);
    x[5] = 2.5f;
    CHECK(ember_tensor_set_name(t, "x") == EMBER_OK);
    ember_tensor *c = NULL;
    CHECK(ember_tensor_clone(t, &c) == EMBER_OK);
    CHECK(((float *)c->data)[5] == 2.5f && c->data != t->data);
    CHECK_STR(c->name, "x");
    CHECK_NEAR(ember_tensor_get_f64(c, 5), 2.5, 0);
    ember_tensor_destroy(c);
    ember_tensor_destroy(t);

    ember_tensor *s = NULL;
    CHECK(ember_tensor_create(EMBER_DTYPE_STRING, 1, shape, &s) == EMBER_OK);
    CHECK(ember_tensor_set_string(s, 1, "hello", 5) == EMBER_OK);
    CHECK(ember_tensor_set_string(s, 2, "x", 1) == EMBER_ERR_ARG); /* out of range: shape is {2} */
    CHECK(ember_tensor_clone(s, &c) == EMBER_OK);
    CHECK_STR(((char **)c->data)[1], "hello");
    CHECK_STR(((char **)c->data)[0], "");
    ember_tensor_destroy(c);
    ember_tensor_destroy(s);

    float buf[6] = {0};
    CHECK(ember_tensor_wrap(EMBER_DTYPE_F32, 2, shape, buf, sizeof buf, &t) == EMBER_OK);
    CHECK(t->data == buf && !(t->flags & EMBER_TENSOR_OWNS_DATA));
    ember_tensor_destroy(t);
    CHECK(ember_tensor_wrap(EMBER_DTYPE_F32, 2, shape, buf, 8, &t) == EMBER_ERR_SHAPE && t == NULL);

    int64_t bad[] = {INT64_MAX, 4};
    CHECK(ember_tensor_create(EMBER_DTYPE_F32, 2, bad, &t) == EMBER_ERR_SHAPE && t == NULL);
    CHECK(ember_tensor_create((ember_dtype)77, 2, shape, &t) == EMBER_ERR_UNSUPPORTED);
    CHECK(ember_tensor_create(EMBER_DTYPE_F32, 9, shape, &t) == EMBER_ERR_UNSUPPORTED);
}

static void test_half(void) {
    /* Every half converts to a float and back to the same bits (NaNs stay NaN). */
    int mismatches = 0;
    for (uint32_t h = 0; h < 65536; h++) {
        float f = ember_f16_to_f32((uint16_t)h);
        uint16_t back = ember_f32_to_f16(f);
        bool nan = ((h >> 10) & 0x1f) == 0x1f && (h & 0x3ff);
        if (nan ? !isnan(f) || ((back >> 10) & 0x1f) != 0x1f || !(back & 0x3ff) : back != h) mismatches++;
    }
    CHECK_EQ(mismatches, 0);
    CHECK(ember_f16_to_f32(0x3c00) == 1.0f && ember_f16_to_f32(0xc000) == -2.0f);
    CHECK(ember_f16_to_f32(0x0001) == ldexpf(1, -24)); /* smallest subnormal */
    CHECK(ember_f32_to_f16(65520.0f) == 0x7c00);       /* rounds up to infinity */
    CHECK(ember_f32_to_f16(65519.0f) == 0x7bff);
    CHECK(ember_f32_to_f16(1.0f + ldexpf(1, -11)) == 0x3c00);                 /* tie to even: down */
    CHECK(ember_f32_to_f16(1.0f + 3 * ldexpf(1, -11)) == 0x3c02);             /* tie to even: up */
    CHECK(ember_f32_to_f16(ldexpf(1, -25)) == 0x0000);                        /* tie to even: zero */
    CHECK(ember_f32_to_f16(ldexpf(1.5f, -25)) == 0x0001);                     /* above the tie */
    CHECK(ember_f32_to_f16(-0.0f) == 0x8000);
    CHECK(ember_bf16_to_f32(0x3f80) == 1.0f);
    CHECK(ember_f32_to_bf16(1.0f + ldexpf(1, -8)) == 0x3f80);     /* tie to even */
    CHECK(ember_f32_to_bf16(1.0f + 3 * ldexpf(1, -8)) == 0x3f82); /* tie to even, up */
    CHECK(isnan(ember_bf16_to_f32(ember_f32_to_bf16(NAN))));
}

static void test_arena(void) {
    ember_arena a;
    ember_arena_init(&a, 128);
    char *p = ember_arena_alloc(&a, 10, 1);
    double *d = ember_arena_alloc(&a, sizeof(double) * 3, 8);
    float *big = ember_arena_alloc(&a, 1000, 64);
    void *page = ember_arena_alloc(&a, 10, 4096);
    CHECK(p && d && big && page);
    CHECK(((uintptr_t)d & 7) == 0 && ((uintptr_t)big & 63) == 0 && ((uintptr_t)page & 4095) == 0);
    CHECK(big[0] == 0.0f && big[249] == 0.0f);
    memset(big, 1, 1000);
    CHECK(ember_arena_alloc(&a, 1, 3) == NULL); /* alignment must be a power of two */
    char *s = ember_arena_strdup(&a, "abcdef", 3);
    CHECK_STR(s, "abc");
    ember_arena_reset(&a);
    CHECK(a.used == 0);
    char *q = ember_arena_alloc(&a, 16, 1);
    CHECK(q && q[0] == 0);
    ember_arena_free(&a);
}

static void test_pbwire(void) {
    ember_pbw w = {0};
    ember_pbw_varint(&w, 1, 300);
    ember_pbw_bytes(&w, 2, "hi", 2);
    ember_pbw_fixed32(&w, 3, 0x3f800000u);
    ember_pbw_varint(&w, 4, UINT64_MAX);
    CHECK(!w.oom);
    ember_pb r = ember_pb_reader(w.buf, w.len);
    ember_pb_field f;
    CHECK(ember_pb_next(&r, &f) == 1 && f.number == 1 && f.wire == EMBER_PB_VARINT && f.value == 300);
    CHECK(ember_pb_next(&r, &f) == 1 && f.number == 2 && f.len == 2 && !memcmp(f.data, "hi", 2));
    CHECK(ember_pb_next(&r, &f) == 1 && f.number == 3 && f.value == 0x3f800000u);
    CHECK(ember_pb_next(&r, &f) == 1 && f.number == 4 && f.value == UINT64_MAX);
    CHECK(ember_pb_next(&r, &f) == 0);

    /* Every truncation of the message is either a clean prefix or a reported error, never a read past it. */
    for (size_t n = 0; n < w.len; n++) {
        uint8_t *copy = ember_malloc(n ? n : 1);
        memcpy(copy, w.buf, n);
        ember_pb t = ember_pb_reader(copy, n);
        int k;
        while ((k = ember_pb_next(&t, &f)) == 1) CHECK(f.data == NULL || f.data + f.len <= copy + n);
        CHECK(k == 0 || t.error != NULL);
        ember_free(copy);
    }
    ember_pbw_free(&w);

    /* Packed varints. */
    ember_pbw pk = {0};
    ember_pbw_raw_varint(&pk, 1);
    ember_pbw_raw_varint(&pk, 150);
    ember_pbw_raw_varint(&pk, 3);
    ember_pb_field packed = {.number = 1, .wire = EMBER_PB_LEN, .data = pk.buf, .len = pk.len};
    size_t pos = 0;
    uint64_t v, sum = 0;
    bool bad;
    int count = 0;
    while (ember_pb_packed_varint(&packed, &pos, &v, &bad)) sum += v, count++;
    CHECK(count == 3 && sum == 154 && !bad);
    ember_pbw_free(&pk);

    const uint8_t group[] = {0x0b}; /* field 1, wire type 3 (start group) */
    r = ember_pb_reader(group, sizeof group);
    CHECK(ember_pb_next(&r, &f) == -1 && r.error);
    const uint8_t overlong[] = {0x12, 0x7f, 0x00}; /* length 127 with one byte left */
    r = ember_pb_reader(overlong, sizeof overlong);
    CHECK(ember_pb_next(&r, &f) == -1 && strstr(r.error, "past the end"));
}

static void test_mapfile(void) {
    ember_map m;
    CHECK(ember_map_open("/nonexistent/model.onnx", &m) == EMBER_ERR_IO);
    CHECK(strstr(ember_last_error(), "/nonexistent/model.onnx") != NULL);
    CHECK(ember_map_open(".", &m) == EMBER_ERR_IO); /* a directory */
    char path[] = "/tmp/ember_test_map_XXXXXX";
    int fd = mkstemp(path);
    CHECK(fd >= 0);
    CHECK(ember_map_open(path, &m) == EMBER_OK && m.size == 0 && m.data == NULL);
    CHECK(write(fd, "ember", 5) == 5);
    close(fd);
    CHECK(ember_map_open(path, &m) == EMBER_OK && m.size == 5 && !memcmp(m.data, "ember", 5));
    ember_map_close(&m);
    unlink(path);
}

/* Buffers are aligned, disjoint and writable; a full store refuses (keep then falls back to the heap); reset
 * hands the same bytes out again, zeroed (its pages were returned). Under AddressSanitizer there is no store:
 * keep must still work from the heap. */
static void test_pagestore(void) {
    bool heap = false;
    unsigned char *h = ember_pagestore_keep(NULL, 1000, &heap);
    CHECK(h && heap && ((uintptr_t)h & 63) == 0);
    memset(h, 1, 1000);
    ember_free_aligned(h);
    ember_pagestore *ps = ember_pagestore_create(4 << 20, 2 << 20); /* whole 2 MB pages: no rounding */
    if (!ps) return; /* sanitizer build, or no anonymous mappings */
    unsigned char *a = ember_pagestore_alloc(ps, 100), *b = ember_pagestore_keep(ps, 2 << 20, &heap);
    CHECK(a && b && !heap && ((uintptr_t)a & 63) == 0 && ((uintptr_t)b & 63) == 0 && b >= a + 100);
    memset(a, 7, 100);
    memset(b, 9, 2 << 20);
    CHECK(a[99] == 7 && b[0] == 9); /* b did not overwrite a */
    CHECK(ember_pagestore_alloc(ps, 4 << 20) == NULL); /* more than is left: refused, nothing taken */
    unsigned char *c = ember_pagestore_keep(ps, 4 << 20, &heap);
    CHECK(c && heap);
    ember_free_aligned(c);
    CHECK(ember_pagestore_alloc(ps, (4 << 20) - (2 << 20) - 128) != NULL); /* the rest still fits */
    CHECK(ember_pagestore_alloc(ps, 64) == NULL);
    ember_pagestore_reset(ps);
    /* trim keeps every byte handed out (the last one ends mid-page) and leaves the rest usable */
    unsigned char *t = ember_pagestore_alloc(ps, (2 << 20) + 5000);
    CHECK(t == a);
    memset(t, 5, (2 << 20) + 5000);
    ember_pagestore_trim(ps);
    CHECK(t[0] == 5 && t[(2 << 20) + 4999] == 5);
    unsigned char *u = ember_pagestore_alloc(ps, 8192);
    CHECK(u && u >= t + (2 << 20) + 5000 && u[0] == 0);
    memset(u, 6, 8192);
    CHECK(u[8191] == 6 && t[(2 << 20) + 4999] == 5);
    ember_pagestore_trim(NULL);
    ember_pagestore_reset(ps);
    unsigned char *a2 = ember_pagestore_alloc(ps, 100);
    CHECK(a2 == a && a2[0] == 0 && a2[99] == 0);
    ember_pagestore_destroy(ps);
    ember_pagestore_destroy(NULL);
    ember_pagestore_reset(NULL);
}

static void test_huge_alloc(void) {
    bool huge = true;
    unsigned char *small = ember_huge_alloc(1000, &huge); /* under 1 MB: the heap */
    CHECK(small && !huge && ((uintptr_t)small & 63) == 0);
    memset(small, 1, 1000);
    ember_huge_free(small, 1000, huge);
    /* 1 MB and up: whole 2 MB pages where the system has them (a 2.4 MB tail stays on 4 KB pages) */
    const size_t sizes[] = {1 << 20, (2 << 20) + (400 << 10), (3 << 20) + 5, 4 << 20};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        unsigned char *p = ember_huge_alloc(sizes[i], &huge);
        CHECK(p && ((uintptr_t)p & 63) == 0);
        if (!p) continue;
        CHECK(!huge ||
              (((uintptr_t)p & ((2 << 20) - 1)) == 0 && p[0] == 0 && p[sizes[i] - 1] == 0)); /* fresh pages */
        memset(p, 3, sizes[i]);
        CHECK(p[sizes[i] - 1] == 3);
        ember_huge_free(p, sizes[i], huge);
    }
}

/* The partial pages at both ends of a release and everything outside keep their bytes; the whole pages
 * inside leave the resident set and read as zeros. (qemu-user may ignore the advice, a hint: there only the
 * first part is required, the second where mincore shows it taken.) */
static void test_release(void) {
    long pg = sysconf(_SC_PAGESIZE);
    if (pg <= 0) return;
    size_t page = (size_t)pg, n = 8 * page;
    unsigned char *p = ember_malloc_aligned(n + page);
    CHECK(p != NULL);
    if (!p) return;
    unsigned char *b =
        (unsigned char *)(((uintptr_t)p + page - 1) & ~(uintptr_t)(page - 1)); /* page 0 of 8 */
    memset(b, 4, n);
    ember_release(b + page + 1, 5 * page); /* pages 2..5 whole inside; 1 and 6 only in part */
    CHECK(b[page] == 4 && b[2 * page - 1] == 4 && b[6 * page] == 4 && b[6 * page + 1] == 4);
#if defined(__linux__)
    unsigned char in[8];
    if (mincore(b, n, in) == 0) {
        CHECK((in[1] & 1) && (in[6] & 1) && (in[7] & 1));
        bool released = !(in[2] & 1) && !(in[3] & 1) && !(in[4] & 1) && !(in[5] & 1);
#if defined(__x86_64__) /* natively, where the tests run without an emulator */
        CHECK(released);
#endif
        for (size_t i = 2 * page; released && i < 6 * page; i += 512) CHECK(b[i] == 0);
    }
#endif
    ember_release(NULL, n);
    ember_free_aligned(p);
}

static void count_sink(void *user, ember_log_level level, const char *msg) {
    int *calls = user;
    (*calls)++;
    CHECK(level == EMBER_LOG_INFO && !strcmp(msg, "loaded 3 nodes"));
}

static void test_log(void) {
    int calls = 0;
    ember_log_set_sink(count_sink, &calls);
    CHECK(ember_log_get_level() == EMBER_LOG_ERROR); /* quiet by default */
    ember_log(EMBER_LOG_INFO, "loaded %d nodes", 3);
    CHECK(calls == 0);
    ember_log_set_level(EMBER_LOG_INFO);
    ember_log(EMBER_LOG_INFO, "loaded %d nodes", 3);
    ember_log(EMBER_LOG_DEBUG, "not delivered at info level");
    CHECK(calls == 1);
    ember_log_set_level(EMBER_LOG_ERROR);
    ember_log_set_sink(NULL, NULL);
}

int main(void) {
    RUN(test_status_messages);
    RUN(test_alloc);
    RUN(test_dtypes);
    RUN(test_shapes);
    RUN(test_tensors);
    RUN(test_half);
    RUN(test_arena);
    RUN(test_pbwire);
    RUN(test_mapfile);
    RUN(test_pagestore);
    RUN(test_huge_alloc);
    RUN(test_release);
    RUN(test_log);
    return check_done();
}
