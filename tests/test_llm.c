/* The LLM forward pass against reference logits (../shared/models/llm/fixtures: llama.cpp and an exact
 * float64 pass) for every fixture model and weight type, and llama2.c checkpoints. */
#include "check.h"

#include "ember/llm.h"

#include "../bench/random_llama.h"

#include <stdint.h>
#include <unistd.h>

static const int32_t prompt[16] = {1, 403, 407, 261, 378, 432, 383, 286, 261, 376, 298, 315, 421, 395, 317, 426};
enum { NP = 16, NGEN = 16 };

static float *read_f32(const char *rel, size_t n) {
    char buf[512];
    const char *path = check_shared(rel, buf, sizeof buf);
    if (!path) return NULL;
    FILE *f = fopen(path, "rb");
    float *v = malloc(n * sizeof *v);
    size_t got = fread(v, sizeof *v, n, f);
    fclose(f);
    if (got != n) {
        free(v);
        return NULL;
    }
    return v;
}

static double max_diff(const float *a, const float *b, int n) {
    double m = 0;
    for (int i = 0; i < n; i++)
        if (fabs((double)a[i] - b[i]) > m || a[i] != a[i]) m = a[i] != a[i] ? INFINITY : fabs((double)a[i] - b[i]);
    return m;
}

static int argmax(const float *x, int n) {
    int best = 0;
    for (int i = 1; i < n; i++)
        if (x[i] > x[best]) best = i;
    return best;
}

static double tolerance(const char *name) {
    if (strstr(name, "F32")) return 1e-4;
    if (strstr(name, "F16") && !strstr(name, "BF16")) return 5e-3;
    if (strstr(name, "BF16")) return 3e-2;
    return strncmp(name, "stories260K", 11) ? 0.15 : 0.35;
}

/* Deviation of our logits from the closer reference (prefix "ref/<which>/<name>"). */
static double deviation(const char *name, const char *what, const float *ours, int rows, int nv) {
    const char *refs[] = {"llamacpp", "numpy_exact"};
    double best = INFINITY;
    for (int r = 0; r < 2; r++) {
        char rel[256];
        snprintf(rel, sizeof rel, "models/llm/fixtures/ref/%s/%s.%s.f32", refs[r], name, what);
        float *ref = read_f32(rel, (size_t)rows * nv);
        if (!ref) continue;
        double d = max_diff(ours, ref, rows * nv);
        if (d < best) best = d;
        free(ref);
    }
    return best;
}

static ember_pool *pool;

/* Prompt logits (last position; all positions for float types) and 16 greedy generation steps. */
static void check_model(const char *name) {
    char rel[256], buf[512];
    snprintf(rel, sizeof rel, "models/llm/fixtures/models/%s.gguf", name);
    const char *path = check_shared(rel, buf, sizeof buf);
    if (!path) return;
    ember_llm *m = NULL;
    CHECK_MSG(ember_llm_open(path, &m) == EMBER_OK, "%s: %s", name, ember_last_error());
    if (!m) return;
    int nv = ember_llm_info_get(m)->n_vocab;
    ember_llm_session_options so = ember_llm_session_defaults();
    so.pool = pool;
    so.n_ctx = 64;
    so.n_batch = 7; /* several batches, one partial */
    so.kv_type = EMBER_LLM_KV_F32; /* as the references were made */
    ember_llm_session *s = NULL;
    CHECK_EQ(ember_llm_session_create(m, &so, &s), EMBER_OK);
    float *all = malloc(sizeof(float) * NP * nv), *gen = malloc(sizeof(float) * NGEN * nv);
    CHECK_EQ(ember_llm_eval_all(s, prompt, NP, all), EMBER_OK);
    double tol = tolerance(name), d = deviation(name, "last_logits", all + (NP - 1) * nv, 1, nv);
    CHECK_MSG(d <= tol, "%s: last-position logits differ by %g (tolerance %g)", name, d, tol);
    /* greedy steps along the reference's own path, one token at a time (the generation code path) */
    float *ref = read_f32((snprintf(rel, sizeof rel, "models/llm/fixtures/ref/numpy_exact/%s.gen_logits.f32", name), rel),
                          (size_t)NGEN * nv);
    if (ref) {
        int32_t tok = argmax(all + (NP - 1) * nv, nv);
        for (int i = 0; i < NGEN; i++) {
            const float *lg = NULL;
            CHECK_EQ(ember_llm_eval(s, &tok, 1, &lg), EMBER_OK);
            memcpy(gen + (size_t)i * nv, lg, sizeof(float) * nv);
            tok = argmax(i + 1 < NGEN ? ref + (size_t)i * nv : lg, nv);
        }
        d = deviation(name, "gen_logits", gen, NGEN, nv);
        /* greedy paths may part where top-1/top-2 margins are below the tolerance: only float types must follow */
        if (tol <= 5e-3) CHECK_MSG(d <= tol * 2, "%s: generation logits differ by %g", name, d);
        free(ref);
    }
    /* the compact KV caches (f16 default, q8) stay within the quantized tolerance */
    ember_llm_kv_type kvs[2] = {EMBER_LLM_KV_F16, EMBER_LLM_KV_Q8};
    for (int k = 0; k < 2 && !strstr(name, "stories"); k++) {
        ember_llm_session *s2 = NULL;
        so.kv_type = kvs[k];
        so.n_batch = 64;
        CHECK_EQ(ember_llm_session_create(m, &so, &s2), EMBER_OK);
        const float *lg = NULL;
        if (s2) CHECK_EQ(ember_llm_eval(s2, prompt, NP, &lg), EMBER_OK);
        d = lg ? deviation(name, "last_logits", lg, 1, nv) : INFINITY;
        CHECK_MSG(d <= 0.15, "%s with a %s KV cache: logits differ by %g", name, k ? "q8" : "f16", d);
        ember_llm_session_destroy(s2);
    }
    printf("  %-22s last-logits max|d| %.3g (tol %g)\n", name, deviation(name, "last_logits", all + (NP - 1) * nv, 1, nv), tol);
    free(all);
    free(gen);
    ember_llm_session_destroy(s);
    ember_llm_close(m);
}

static const char *models[] = {
    "llama-F32",  "llama-F16",   "llama-BF16", "llama-Q8_0", "llama-Q4_0", "llama-Q4_1",  "llama-Q5_0",
    "llama-Q5_1", "llama-Q2_K",  "llama-Q3_K", "llama-Q4_K", "llama-Q5_K", "llama-Q6_K",  "llama-Q4_K_M",
    "qwen2-F32",  "qwen2-Q8_0",  "qwen2-Q4_0", "qwen2-Q4_K", "qwen2-Q6_K", "qwen2-tied-Q8_0", "qwen3-F32",
    "qwen3-Q8_0", "qwen3-Q4_0",  "qwen3-Q4_K", "qwen3-Q6_K", "stories260K-F16", "stories260K-Q4_K_M",
    "stories260K-Q6_K",
};

static void test_fixtures(void) {
    char buf[512];
    SKIP_IF(!check_shared("models/llm/fixtures/index.json", buf, sizeof buf), "../shared/models/llm/fixtures is absent");
    for (size_t i = 0; i < sizeof models / sizeof models[0]; i++) check_model(models[i]);
}

/* The llama2.c checkpoint and its GGUF conversion compute the same logits. */
static void test_llama2c_matches_gguf(void) {
    char b1[512], b2[512];
    const char *bin = check_shared("models/llm/llama2c/stories260K.bin", b1, sizeof b1);
    const char *gg = check_shared("models/llm/gguf_stories260K/stories260K.gguf", b2, sizeof b2);
    SKIP_IF(!bin || !gg, "../shared/models/llm llama2c or gguf_stories260K is absent");
    ember_llm *a = NULL, *b = NULL;
    CHECK_EQ(ember_llm_open(bin, &a), EMBER_OK);
    CHECK_EQ(ember_llm_open(gg, &b), EMBER_OK);
    if (!a || !b) goto done;
    CHECK_EQ(ember_llm_info_get(a)->n_vocab, 512);
    CHECK_EQ(ember_llm_info_get(a)->n_head_kv, 4);
    ember_llm_session *sa = NULL, *sb = NULL;
    ember_llm_session_options so = ember_llm_session_defaults();
    so.pool = pool;
    ember_llm_session_create(a, &so, &sa);
    ember_llm_session_create(b, &so, &sb);
    const float *la, *lb;
    CHECK_EQ(ember_llm_eval(sa, prompt, NP, &la), EMBER_OK);
    CHECK_EQ(ember_llm_eval(sb, prompt, NP, &lb), EMBER_OK);
    CHECK(max_diff(la, lb, 512) < 1e-4);
    ember_llm_session_destroy(sa);
    ember_llm_session_destroy(sb);
done:
    ember_llm_close(a);
    ember_llm_close(b);
}

static void test_bad_input(void) {
    ember_llm *m = NULL;
    CHECK_EQ(ember_llm_open("/nonexistent.gguf", &m), EMBER_ERR_IO);
    char buf[512];
    const char *path = check_shared("models/llm/llama2c/tok512.bin", buf, sizeof buf);
    SKIP_IF(!path, "../shared/models/llm/llama2c is absent");
    CHECK_EQ(ember_llm_open(path, &m), EMBER_ERR_FORMAT); /* a tokenizer is not a checkpoint */
    CHECK(m == NULL);
    path = check_shared("models/llm/gguf_stories260K/stories260K.gguf", buf, sizeof buf);
    if (!path) return;
    CHECK_EQ(ember_llm_open(path, &m), EMBER_OK);
    if (!m) return;
    ember_llm_session_options so = ember_llm_session_defaults();
    so.n_ctx = 8;
    so.pool = pool;
    ember_llm_session *s = NULL;
    CHECK_EQ(ember_llm_session_create(m, &so, &s), EMBER_OK);
    int32_t bad = 512;
    CHECK_EQ(ember_llm_eval(s, &bad, 1, NULL), EMBER_ERR_ARG);
    CHECK(strstr(ember_last_error(), "vocabulary") != NULL);
    CHECK_EQ(ember_llm_eval(s, prompt, 9, NULL), EMBER_ERR_ARG);
    CHECK(strstr(ember_last_error(), "context") != NULL);
    CHECK_EQ(ember_llm_pos(s), 0);
    so.kv_type = EMBER_LLM_KV_Q8; /* head size 8 cannot hold q8 blocks */
    ember_llm_session *s2 = NULL;
    CHECK_EQ(ember_llm_session_create(m, &so, &s2), EMBER_ERR_UNSUPPORTED);
    ember_llm_session_destroy(s);
    ember_llm_close(m);
}

/* Context shift: arguments checked, the cache shrinks, evaluation goes on with finite logits. */
static void test_shift(void) {
    char buf[512];
    const char *path = check_shared("models/llm/fixtures/models/stories260K-F16.gguf", buf, sizeof buf);
    SKIP_IF(!path, "../shared/models/llm/fixtures is absent");
    ember_llm *m = NULL;
    CHECK_EQ(ember_llm_open(path, &m), EMBER_OK);
    if (!m) return;
    ember_llm_session_options so = ember_llm_session_defaults();
    so.n_ctx = 12;
    so.pool = pool;
    so.kv_type = EMBER_LLM_KV_F16; /* shifting dequantizes, rotates and requantizes the keys */
    ember_llm_session *s = NULL;
    CHECK_EQ(ember_llm_session_create(m, &so, &s), EMBER_OK);
    if (s) {
        CHECK_EQ(ember_llm_eval(s, prompt, 12, NULL), EMBER_OK);
        CHECK_EQ(ember_llm_shift(s, 1, 12), EMBER_ERR_ARG);
        CHECK_EQ(ember_llm_shift(s, 4, 0), EMBER_OK);
        CHECK_EQ(ember_llm_pos(s), 12);
        CHECK_EQ(ember_llm_shift(s, 1, 6), EMBER_OK);
        CHECK_EQ(ember_llm_pos(s), 6);
        const float *lg = NULL;
        CHECK_EQ(ember_llm_eval(s, prompt + 6, 6, &lg), EMBER_OK);
        int bad = 0;
        for (int i = 0; lg && i < ember_llm_info_get(m)->n_vocab; i++) bad += !isfinite(lg[i]);
        CHECK(lg && bad == 0);
        ember_llm_session_destroy(s);
    }
    ember_llm_close(m);
}

/* Context shift, exactly: in a one-layer model a token's key and value depend on the token alone (not on
 * the tokens before it), so after dropping the first d tokens and re-rotating the kept keys by -d, the cache
 * must be what evaluating the kept tokens from position 0 gives, and so must the next logits (to rounding;
 * f32 cache, so only the rotation itself rounds). */
static void test_shift_exact(void) {
    char path[] = "/tmp/ember_test_shift_XXXXXX";
    int fd = mkstemp(path);
    CHECK(fd >= 0);
    if (fd < 0) return;
    close(fd);
    random_llama shape = {.dim = 64, .heads = 4, .kv_heads = 2, .ff = 96, .vocab = 300, .ctx = 64, .layers = 1};
    CHECK_EQ(random_llama_write(path, &shape), EMBER_OK);
    ember_llm *m = NULL;
    CHECK_EQ(ember_llm_open(path, &m), EMBER_OK);
    unlink(path);
    if (!m) return;
    ember_llm_session_options so = ember_llm_session_defaults();
    so.n_ctx = 32;
    so.pool = pool;
    so.kv_type = EMBER_LLM_KV_F32;
    ember_llm_session *shifted = NULL, *fresh = NULL;
    CHECK_EQ(ember_llm_session_create(m, &so, &shifted), EMBER_OK);
    CHECK_EQ(ember_llm_session_create(m, &so, &fresh), EMBER_OK);
    static const int32_t toks[12] = {261, 280, 299, 17, 3, 270, 290, 44, 265, 281, 5, 296};
    enum { DROP = 5, KEEP_FROM = DROP, N = 12 };
    if (shifted && fresh) {
        const float *a = NULL, *b = NULL;
        int nv = ember_llm_info_get(m)->n_vocab;
        CHECK_EQ(ember_llm_eval(shifted, toks, N - 1, NULL), EMBER_OK);
        CHECK_EQ(ember_llm_shift(shifted, 0, DROP), EMBER_OK);
        CHECK_EQ(ember_llm_pos(shifted), N - 1 - DROP);
        CHECK_EQ(ember_llm_eval(shifted, toks + N - 1, 1, &a), EMBER_OK);
        CHECK_EQ(ember_llm_eval(fresh, toks + KEEP_FROM, N - KEEP_FROM, &b), EMBER_OK);
        double d = a && b ? max_diff(a, b, nv) : INFINITY, scale = 0;
        for (int i = 0; b && i < nv; i++) scale = fabs(b[i]) > scale ? fabs(b[i]) : scale;
        CHECK_MSG(d <= 1e-5 * (scale + 1), "shifted vs fresh logits differ by %g (largest %g)", d, scale);
        CHECK(a && b && argmax(a, nv) == argmax(b, nv));
        /* and a shift that keeps a prefix: the kept first tokens stay, later ones move down */
        ember_llm_session_destroy(shifted);
        shifted = NULL;
        CHECK_EQ(ember_llm_session_create(m, &so, &shifted), EMBER_OK);
        if (shifted) {
            CHECK_EQ(ember_llm_eval(shifted, toks, 4, NULL), EMBER_OK);
            CHECK_EQ(ember_llm_shift(shifted, 1, 2), EMBER_OK); /* cache: toks[0], toks[3] */
            CHECK_EQ(ember_llm_eval(shifted, toks + 4, 1, &a), EMBER_OK);
            ember_llm_session *f2 = NULL;
            CHECK_EQ(ember_llm_session_create(m, &so, &f2), EMBER_OK);
            int32_t seq[3] = {toks[0], toks[3], toks[4]};
            if (f2) CHECK_EQ(ember_llm_eval(f2, seq, 3, &b), EMBER_OK);
            d = f2 && a && b ? max_diff(a, b, nv) : INFINITY;
            CHECK_MSG(d <= 1e-5 * (scale + 1), "keep-1 shift vs fresh logits differ by %g", d);
            ember_llm_session_destroy(f2);
        }
    }
    ember_llm_session_destroy(shifted);
    ember_llm_session_destroy(fresh);
    ember_llm_close(m);
}

int main(void) {
    ember_pool_create(2, &pool);
    RUN(test_fixtures);
    RUN(test_llama2c_matches_gguf);
    RUN(test_bad_input);
    RUN(test_shift);
    RUN(test_shift_exact);
    ember_pool_destroy(pool);
    return check_done();
}
