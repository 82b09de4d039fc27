/* Weight formats: every optimised dot kernel against the scalar reference on random data with odd block counts,
 * quantize/dequantize round trips, and our quantizers against llama.cpp's files made from the same F32 weights. */
#include "check.h"

#include "ember/gguf.h"
#include "ember/llm.h"
#include "kernels/quant.h"

#include <stdint.h>
#include <unistd.h>

static const ember_ggml_type all_types[] = {
    EMBER_GGML_F32,  EMBER_GGML_F16,  EMBER_GGML_BF16, EMBER_GGML_Q4_0, EMBER_GGML_Q4_1,
    EMBER_GGML_Q5_0, EMBER_GGML_Q5_1, EMBER_GGML_Q8_0, EMBER_GGML_Q2_K, EMBER_GGML_Q3_K,
    EMBER_GGML_Q4_K, EMBER_GGML_Q5_K, EMBER_GGML_Q6_K,
};
enum { NTYPES = sizeof all_types / sizeof all_types[0] };

static void fill_random(float *x, int64_t n, float scale) {
    for (int64_t i = 0; i < n; i++) x[i] = check_randf(-scale, scale) + (check_rand() % 50 == 0 ? scale * 3 : 0);
}

/* Relative RMS error of quantize -> dequantize. */
static double roundtrip_error(const quant_type *qt, const float *x, int64_t n) {
    size_t bytes;
    ember_ggml_type_bytes(qt->type, n, &bytes);
    uint8_t *q = malloc(bytes);
    float *y = malloc((size_t)n * sizeof *y);
    qt->quantize(x, q, n);
    qt->dequant(q, y, n);
    double e = 0, s = 0;
    for (int64_t i = 0; i < n; i++) {
        e += (x[i] - y[i]) * (x[i] - y[i]);
        s += x[i] * x[i];
    }
    free(q);
    free(y);
    return sqrt(e / s);
}

static void test_roundtrip(void) {
    /* bounds a bit above what each bit width allows for uniform data */
    const double bound[] = {0, 1e-3, 8e-3, 0.12, 0.09, 0.06, 0.045, 0.01, 0.35, 0.2, 0.08, 0.04, 0.025};
    int64_t n = 256 * 7;
    float *x = malloc((size_t)n * sizeof *x);
    fill_random(x, n, 1.0f);
    for (int i = 0; i < NTYPES; i++) {
        const quant_type *qt = quant_type_get(all_types[i]);
        CHECK(qt != NULL);
        if (!qt) continue;
        double e = roundtrip_error(qt, x, n);
        CHECK_MSG(e <= bound[i] + 1e-7, "%s round trip error %g > %g", ember_ggml_type_name(all_types[i]), e, bound[i]);
    }
    float zeros[256] = {0};
    for (int i = 0; i < NTYPES; i++) { /* all-zero blocks must not produce NaN */
        const quant_type *qt = quant_type_get(all_types[i]);
        uint8_t q[256 * sizeof(float)]; /* F32 is the widest */
        float y[256];
        qt->quantize(zeros, q, 256);
        qt->dequant(q, y, 256);
        int bad = 0;
        for (int j = 0; j < 256; j++) bad += y[j] != 0;
        CHECK_MSG(bad == 0, "%s: zeros do not round-trip", ember_ggml_type_name(all_types[i]));
    }
    free(x);
}

/* The CPU's dot kernel against the scalar reference, over odd numbers of blocks. */
static void test_dot_kernels(void) {
    for (int i = 0; i < NTYPES; i++) {
        const quant_type *qt = quant_type_get(all_types[i]);
        int64_t blocks_list[] = {1, 3, 7, 13, 33};
        for (int b = 0; b < 5; b++) {
            int64_t n = qt->block == 1 ? 32 * blocks_list[b] + (b % 3) : (qt->block * blocks_list[b]);
            if (qt->block == 1 && n % 2) n++; /* odd tails for the float types too */
            n += qt->block == 1 ? b : 0;
            size_t wb;
            ember_ggml_type_bytes(qt->type, n, &wb);
            float *x = malloc((size_t)n * sizeof *x), *a = malloc((size_t)n * sizeof *a);
            uint8_t *w = malloc(wb), *act = malloc(quant_act_bytes(qt->act, n) + 64), *act_ref = malloc(quant_act_bytes(qt->act, n) + 64);
            fill_random(x, n, 0.5f);
            fill_random(a, n, 2.0f);
            qt->quantize(x, w, n);
            quant_act(qt->act, a, act, n);
            quant_act_ref(qt->act, a, act_ref, n);
            /* the optimised activation quantizer may round halves differently: compare dots on the reference */
            float ref = qt->dot_ref(n, w, act_ref), got = qt->dot(n, w, act_ref), got2 = qt->dot(n, w, act);
            double mag = 0;
            for (int64_t j = 0; j < n; j++) mag += fabs(x[j] * a[j]);
            CHECK_MSG(fabs(ref - got) <= 1e-4 * mag + 1e-5, "%s n=%lld: dot %g vs reference %g",
                      ember_ggml_type_name(qt->type), (long long)n, got, ref);
            CHECK_MSG(fabs(ref - got2) <= 2e-2 * mag + 1e-5, "%s n=%lld: dot with own activations %g vs %g",
                      ember_ggml_type_name(qt->type), (long long)n, got2, ref);
            free(x);
            free(a);
            free(w);
            free(act);
            free(act_ref);
        }
    }
}

/* The multi-row forms (dotn: rows sharing one activation row, dotm: activation rows sharing one weight row)
 * against the scalar reference, with row counts that leave remainders for the 4-row kernels. */
static void test_multi_row(void) {
    enum { ROWS = 7 };
    for (int i = 0; i < NTYPES; i++) {
        const quant_type *qt = quant_type_get(all_types[i]);
        int64_t n = qt->block == 1 ? 100 : qt->block * 3;
        size_t wb, ab = quant_act_bytes(qt->act, n);
        ember_ggml_type_bytes(qt->type, n, &wb);
        float *x = malloc((size_t)n * ROWS * sizeof *x), *a = malloc((size_t)n * ROWS * sizeof *a);
        uint8_t *w = malloc(wb * ROWS), *act = malloc(ab * ROWS);
        fill_random(x, n * ROWS, 0.5f);
        fill_random(a, n * ROWS, 2.0f);
        for (int r = 0; r < ROWS; r++) {
            qt->quantize(x + r * n, w + r * wb, n);
            quant_act_ref(qt->act, a + r * n, act + r * ab, n);
        }
        float outg[ROWS * ROWS];
        qt->gemm(n, w, wb, ROWS, act, ab, ROWS - 2, outg, ROWS); /* 7 rows x 5 tokens: remainders both ways */
        for (int c = 0; c < ROWS - 2; c++)
            for (int r = 0; r < ROWS; r++) {
                float ref = qt->dot_ref(n, w + r * wb, act + c * ab);
                double mag = 0;
                for (int64_t j = 0; j < n; j++) mag += fabs(x[r * n + j] * a[c * n + j]);
                CHECK_MSG(fabs(outg[c * ROWS + r] - ref) <= 1e-4 * mag + 1e-5, "%s gemm row %d token %d: %g vs %g",
                          ember_ggml_type_name(qt->type), r, c, outg[c * ROWS + r], ref);
            }
        for (int nr = 1; nr <= ROWS; nr++) {
            float outn[ROWS], outm[ROWS];
            qt->dotn(n, w, wb, nr, act, outn);
            qt->dotm(n, w, act, ab, nr, outm);
            for (int r = 0; r < nr; r++) {
                float refn = qt->dot_ref(n, w + r * wb, act), refm = qt->dot_ref(n, w, act + r * ab);
                double mag = 0;
                for (int64_t j = 0; j < n; j++) mag += fabs(x[j] * a[j]) + fabs(x[r * n + j] * a[j]) + fabs(x[j] * a[r * n + j]);
                CHECK_MSG(fabs(outn[r] - refn) <= 1e-4 * mag + 1e-5, "%s dotn nr=%d row %d: %g vs %g",
                          ember_ggml_type_name(qt->type), nr, r, outn[r], refn);
                CHECK_MSG(fabs(outm[r] - refm) <= 1e-4 * mag + 1e-5, "%s dotm na=%d row %d: %g vs %g",
                          ember_ggml_type_name(qt->type), nr, r, outm[r], refm);
            }
        }
        free(x);
        free(a);
        free(w);
        free(act);
    }
}

/* Rows interleaved 8 at a time (when this CPU has a kernel for them): the kernel and its scalar twin against the
 * plain reference dot of each row. */
static void check_dot8(ember_ggml_type type, void (*ref_fn)(int64_t, const void *, const void *, float *)) {
    const quant_type *qt = quant_type_get(type);
    if (!qt->pack8 || !qt->dot8) return;
    int64_t n = qt->block * (qt->block == QK ? 7 : 3);
    size_t wb, ab = quant_act_bytes(qt->act, n);
    ember_ggml_type_bytes(type, n, &wb);
    float *x = malloc((size_t)n * 8 * sizeof *x), *a = malloc((size_t)n * sizeof *a);
    uint8_t *w = malloc(wb * 8), *packed = malloc(quant_packed8_bytes(type, n)), *act = malloc(ab);
    fill_random(x, n * 8, 0.5f);
    fill_random(a, n, 2.0f);
    for (int r = 0; r < 8; r++) qt->quantize(x + r * n, w + r * wb, n);
    quant_act(qt->act, a, act, n);
    qt->pack8(w, wb, n, packed);
    float got[8], ref8[8], g[3 * 8];
    if (qt->gemm8) { /* 3 tokens (no full tile): the remainder path; the full 4-token tiles run in test_llm */
        qt->gemm8(n, packed, act, 0, 3, g, 8);
        for (int r = 0; r < 8; r++) CHECK(g[r] == g[8 + r] && g[r] == g[16 + r]);
    }
    qt->dot8(n, packed, act, got);
    ref_fn(n, packed, act, ref8);
    for (int r = 0; r < 8; r++) {
        float ref = qt->dot_ref(n, w + r * wb, act);
        double mag = 0;
        for (int64_t j = 0; j < n; j++) mag += fabs(x[r * n + j] * a[j]);
        CHECK_MSG(fabs(got[r] - ref) <= 1e-4 * mag + 1e-5, "%s dot8 row %d: %g vs %g", ember_ggml_type_name(type), r,
                  got[r], ref);
        CHECK_MSG(fabs(ref8[r] - ref) <= 1e-4 * mag + 1e-5, "%s dot8 reference row %d: %g vs %g",
                  ember_ggml_type_name(type), r, ref8[r], ref);
    }
    free(x);
    free(a);
    free(w);
    free(packed);
    free(act);
}

/* gemm8 against dot8 of each token: 7 tokens cover tiles of 4, of 2 (Q4_K) and one left over. */
static void check_gemm8(ember_ggml_type type) {
    const quant_type *qt = quant_type_get(type);
    if (!qt->pack8 || !qt->gemm8) return;
    enum { NT = 7 };
    int64_t n = qt->block * 3;
    size_t wb, ab = quant_act_bytes(qt->act, n);
    ember_ggml_type_bytes(type, n, &wb);
    float *x = malloc((size_t)n * 8 * sizeof *x), *a = malloc((size_t)n * NT * sizeof *a);
    uint8_t *w = malloc(wb * 8), *packed = malloc(quant_packed8_bytes(type, n)), *act = malloc(ab * NT);
    fill_random(x, n * 8, 0.5f);
    fill_random(a, n * NT, 2.0f);
    for (int r = 0; r < 8; r++) qt->quantize(x + r * n, w + r * wb, n);
    for (int t = 0; t < NT; t++) quant_act(qt->act, a + t * n, act + t * ab, n);
    qt->pack8(w, wb, n, packed);
    float g[NT * 9], one[8];
    qt->gemm8(n, packed, act, ab, NT, g, 9); /* ostride 9: the layout is respected */
    for (int t = 0; t < NT; t++) {
        qt->dot8(n, packed, act + t * ab, one);
        for (int r = 0; r < 8; r++)
            CHECK_MSG(fabs(g[t * 9 + r] - one[r]) <= 1e-4 * (fabs(one[r]) + 1), "%s gemm8 token %d row %d: %g vs %g",
                      ember_ggml_type_name(type), t, r, g[t * 9 + r], one[r]);
    }
    free(x);
    free(a);
    free(w);
    free(packed);
    free(act);
}

static void test_dot8(void) {
    static const struct {
        ember_ggml_type type;
        void (*ref)(int64_t, const void *, const void *, float *);
    } k[] = {{EMBER_GGML_Q4_0, quant_dot8_q4_0_ref}, {EMBER_GGML_Q4_K, quant_dot8_q4_K_ref},
             {EMBER_GGML_Q6_K, quant_dot8_q6_K_ref}, {EMBER_GGML_Q8_0, quant_dot8_q8_0_ref}};
    int have = 0;
    for (size_t i = 0; i < sizeof k / sizeof k[0]; i++) have += quant_type_get(k[i].type)->dot8 != NULL;
    SKIP_IF(!have, "no 8-row kernel on this CPU");
    for (size_t i = 0; i < sizeof k / sizeof k[0]; i++) {
        check_dot8(k[i].type, k[i].ref);
        check_gemm8(k[i].type);
    }
}

static void test_act_quant(void) {
    int64_t n = 256 * 5;
    float *x = malloc((size_t)n * sizeof *x);
    fill_random(x, n, 3.0f);
    for (int i = 0; i < 32; i++) x[i] = 0; /* an all-zero block */
    act_kind kinds[] = {ACT_Q8, ACT_Q8K};
    for (int k = 0; k < 2; k++) {
        size_t b = quant_act_bytes(kinds[k], n);
        uint8_t *got = calloc(1, b), *ref = calloc(1, b);
        quant_act(kinds[k], x, got, n);
        quant_act_ref(kinds[k], x, ref, n);
        CHECK_MSG(memcmp(got, ref, b) == 0, "activation format %d differs from the reference", (int)kinds[k]);
        free(got);
        free(ref);
    }
    free(x);
}

/* The KV cache helpers: y += a * x. */
static void test_axpy(void) {
    ember_ggml_type kv[] = {EMBER_GGML_F32, EMBER_GGML_F16, EMBER_GGML_Q8_0};
    for (int i = 0; i < 3; i++) {
        const quant_type *qt = quant_type_get(kv[i]);
        CHECK(qt && qt->axpy);
        int64_t n = 96;
        float x[96], y[96], ref[96], deq[96];
        uint8_t q[96 * 4];
        fill_random(x, n, 1);
        qt->quantize(x, q, n);
        qt->dequant(q, deq, n);
        for (int j = 0; j < n; j++) y[j] = ref[j] = (float)j;
        qt->axpy(n, 0.75f, q, y);
        for (int j = 0; j < n; j++) ref[j] += 0.75f * deq[j];
        double d = check_max_abs_diff(y, ref, n);
        CHECK_MSG(d < 1e-5, "%s axpy off by %g", ember_ggml_type_name(kv[i]), d);
    }
}

/* Quantize the F32 fixture's weights with our quantizers and compare with llama.cpp's file of that type,
 * made from the same weights: the round-to-nearest types must be identical, the k-quants at least as good. */
static void compare_with_llamacpp(ember_gguf *f32, ember_gguf *ref, ember_ggml_type type) {
    const quant_type *qt = quant_type_get(type), *rt;
    double ours = 0, theirs = 0;
    int64_t blocks = 0, differ = 0;
    for (int64_t i = 0; i < ember_gguf_tensor_count(ref); i++) {
        const ember_gguf_tensor *r = ember_gguf_tensor_at(ref, i), *t = ember_gguf_find_tensor(f32, r->name);
        if (r->type != type || !t || t->type != EMBER_GGML_F32) continue;
        rt = quant_type_get(r->type);
        uint8_t *q = malloc(r->size);
        float *y = malloc((size_t)t->count * sizeof *y), *z = malloc((size_t)t->count * sizeof *z);
        const float *x = t->data;
        qt->quantize(x, q, t->count);
        qt->dequant(q, y, t->count);
        rt->dequant(r->data, z, t->count);
        for (int64_t j = 0; j < t->count; j++) {
            ours += (x[j] - y[j]) * (x[j] - y[j]);
            theirs += (x[j] - z[j]) * (x[j] - z[j]);
        }
        for (size_t off = 0; off < r->size; off += qt->bytes, blocks++) differ += memcmp(q + off, (const uint8_t *)r->data + off, qt->bytes) != 0;
        free(q);
        free(y);
        free(z);
    }
    CHECK(blocks > 0);
    bool rtn = qt->block == 32;
    printf("  %-5s blocks differing from llama.cpp: %lld/%lld, squared error ours/theirs %.4f\n",
           ember_ggml_type_name(type), (long long)differ, (long long)blocks, ours / theirs);
    if (rtn) CHECK_MSG(differ * 1000 <= blocks, "%s: %lld of %lld blocks differ", ember_ggml_type_name(type), (long long)differ, (long long)blocks);
    else CHECK_MSG(ours <= theirs * 1.15, "%s: our error %g vs llama.cpp %g", ember_ggml_type_name(type), ours, theirs);
}

static void test_quantizers_vs_llamacpp(void) {
    char buf[512];
    const char *path = check_shared("models/llm/fixtures/models/llama-F32.gguf", buf, sizeof buf);
    SKIP_IF(!path, "../shared/models/llm/fixtures is absent");
    ember_gguf *f32 = NULL;
    CHECK_EQ(ember_gguf_open(path, &f32), EMBER_OK);
    const char *names[] = {"Q4_0", "Q4_1", "Q5_0", "Q5_1", "Q8_0", "Q2_K", "Q3_K", "Q4_K", "Q5_K", "Q6_K"};
    bool emulated = check_emulated(); /* qemu: 3 types, not 10 */
    for (int i = 0; i < 10 && f32; i++) {
        if (emulated && i != 0 && i != 4 && i != 7) continue; /* Q4_0, Q8_0, Q4_K */
        char rel[256], b2[512];
        snprintf(rel, sizeof rel, "models/llm/fixtures/models/llama-%s.gguf", names[i]);
        ember_gguf *ref = NULL;
        if (!check_shared(rel, b2, sizeof b2) || ember_gguf_open(b2, &ref)) continue;
        compare_with_llamacpp(f32, ref, (ember_ggml_type)ember_ggml_type_from_name(names[i]));
        ember_gguf_close(ref);
    }
    ember_gguf_close(f32);
}

static void count_progress(void *user, int64_t done, int64_t total) {
    int *calls = user;
    CHECK(done >= 1 && done <= total);
    (*calls)++;
}

/* ember_llm_quantize end to end: the Q8_0 file computes the logits of llama.cpp's Q8_0 file. */
static void test_quantize_file(void) {
    char buf[512], rbuf[512];
    const char *path = check_shared("models/llm/fixtures/models/llama-F32.gguf", buf, sizeof buf);
    const char *refp = check_shared("models/llm/fixtures/ref/llamacpp/llama-Q8_0.last_logits.f32", rbuf, sizeof rbuf);
    SKIP_IF(!path || !refp, "../shared/models/llm/fixtures is absent");
    char out[128];
    snprintf(out, sizeof out, "/tmp/ember_test_quant_%d.gguf", (int)getpid());
    int progress_calls = 0;
    CHECK_EQ(ember_llm_quantize(path, out, EMBER_GGML_Q8_0, NULL, count_progress, &progress_calls), EMBER_OK);
    CHECK(progress_calls > 0); /* one call per converted tensor */
    ember_llm *m = NULL;
    CHECK_EQ(ember_llm_open(out, &m), EMBER_OK);
    if (m) {
        CHECK_EQ(ember_llm_info_get(m)->main_type, EMBER_GGML_Q8_0);
        int64_t ft = 0;
        CHECK(!ember_gguf_get_int(ember_llm_info_get(m)->gguf, "general.file_type", &ft) && ft == 7);
        ember_llm_session_options so = ember_llm_session_defaults();
        so.kv_type = EMBER_LLM_KV_F32;
        ember_llm_session *s = NULL;
        CHECK_EQ(ember_llm_session_create(m, &so, &s), EMBER_OK);
        const int32_t prompt[16] = {1, 403, 407, 261, 378, 432, 383, 286, 261, 376, 298, 315, 421, 395, 317, 426};
        const float *lg = NULL;
        if (s) CHECK_EQ(ember_llm_eval(s, prompt, 16, &lg), EMBER_OK);
        float ref[512];
        FILE *f = fopen(refp, "rb");
        CHECK(f && fread(ref, 4, 512, f) == 512);
        if (f) fclose(f);
        double d = lg ? check_max_abs_diff(lg, ref, 512) : INFINITY;
        CHECK_MSG(lg && d < 1e-3, "quantized file's logits differ from llama.cpp's Q8_0 by %g", d);
        ember_llm_session_destroy(s);
        ember_llm_close(m);
    }
    CHECK_EQ(ember_llm_quantize(path, out, EMBER_GGML_IQ2_XXS, NULL, NULL, NULL), EMBER_ERR_ARG);
    unlink(out);
}

int main(void) {
    RUN(test_roundtrip);
    RUN(test_dot_kernels);
    RUN(test_multi_row);
    RUN(test_act_quant);
    RUN(test_dot8);
    RUN(test_axpy);
    RUN(test_quantizers_vs_llamacpp);
    RUN(test_quantize_file);
    return check_done();
}
