/* Conformance of the tokenizers with Hugging Face tokenizers on the shared vectors:
 * hf/<name>/vectors.jsonl (ids, ids_special, decoded) and llamacpp-vectors/<vocab>.inp|.out. */
#include "check.h"

#include "core/mapfile.h"
#include "ember/tokenizer.h"
#include "text/json.h"

#include <unistd.h>

#define TOKDIR "../shared/conformance/tokenizers/"

static int shown;

static void show_ids(const char *label, const int32_t *ids, size_t n) {
    printf("    %s:", label);
    for (size_t i = 0; i < n && i < 40; i++) printf(" %d", ids[i]);
    printf("%s\n", n > 40 ? " ..." : "");
}

/* Encodes text and compares with the expected ids; prints the first few mismatches. */
static bool same_ids(const ember_tokenizer *tok, const char *text, size_t len, bool special, const int32_t *want, size_t nwant,
                     const char *what) {
    int32_t *ids = NULL;
    size_t n = 0;
    ember_status s = ember_tokenizer_encode(tok, text, len, special, &ids, &n);
    bool ok = s == EMBER_OK && n == nwant && (!n || !memcmp(ids, want, n * sizeof *ids));
    if (!ok && shown++ < 12) {
        printf("  mismatch (%s) for \"%.*s\"%s\n", what, (int)(len > 80 ? 80 : len), text, len > 80 ? "..." : "");
        if (s) printf("    error: %s\n", ember_last_error());
        show_ids("want", want, nwant);
        show_ids("got ", ids, n);
    }
    ember_free(ids);
    return ok;
}

static size_t json_ids(const ember_json *arr, int32_t *out, size_t cap) {
    size_t n = 0;
    for (size_t i = 0; i < ember_json_len(arr) && n < cap; i++) out[n++] = (int32_t)arr->items[i]->num;
    return n;
}

/* Vectors in the vectors.jsonl format from `vec`, checked with the tokenizer at `path`. */
static void run_vectors(const char *path, const char *vec, const char *name);

static void run_hf_vectors(const char *name) {
    char path[256], vec[256];
    snprintf(path, sizeof path, TOKDIR "hf/%s/tokenizer.json", name);
    snprintf(vec, sizeof vec, TOKDIR "hf/%s/vectors.jsonl", name);
    SKIP_IF(access(vec, R_OK), "../shared/conformance/tokenizers is absent");
    run_vectors(path, vec, name);
}

static void run_vectors(const char *path, const char *vec, const char *name) {
    ember_tokenizer *tok = NULL;
    shown = 0;
    CHECK_MSG(ember_tokenizer_open(path, &tok) == EMBER_OK, "%s", ember_last_error());
    if (!tok) return;
    ember_map m;
    CHECK(ember_map_open(vec, &m) == EMBER_OK);
    int cases = 0, good = 0;
    static int32_t want[1 << 16];
    for (size_t at = 0; at < m.size;) {
        const char *line = (const char *)m.data + at;
        const char *nl = memchr(line, '\n', m.size - at);
        size_t len = nl ? (size_t)(nl - line) : m.size - at;
        at += len + 1;
        if (!len) continue;
        ember_json_doc *doc = NULL;
        if (ember_json_parse(line, len, vec, &doc)) {
            CHECK_MSG(0, "%s", ember_last_error());
            continue;
        }
        const ember_json *t = ember_json_get(doc->root, "text");
        size_t n = json_ids(ember_json_get(doc->root, "ids"), want, 1 << 16);
        bool ok = same_ids(tok, t->str, t->len, false, want, n, "ids");
        size_t ns = json_ids(ember_json_get(doc->root, "ids_special"), want, 1 << 16);
        ok = same_ids(tok, t->str, t->len, true, want, ns, "ids_special") && ok;
        const ember_json *dec = ember_json_get(doc->root, "decoded");
        n = json_ids(ember_json_get(doc->root, "ids"), want, 1 << 16);
        char *text = NULL;
        size_t tl = 0;
        if (dec && ember_tokenizer_decode(tok, want, n, false, &text, &tl) == EMBER_OK) {
            bool same = tl == dec->len && !memcmp(text, dec->str, tl);
            if (!same && shown++ < 12) printf("  decode mismatch: want \"%s\" got \"%s\"\n", dec->str, text);
            ok = ok && same;
        } else if (dec) {
            ok = false;
        }
        ember_free(text);
        cases++, good += ok;
        ember_json_free(doc);
    }
    printf("  %s: %d/%d cases match\n", name, good, cases);
    CHECK(cases > 0);
    CHECK_EQ(good, cases);
    ember_map_close(&m);
    ember_tokenizer_close(tok);
}

static void test_hf_qwen3(void) { run_hf_vectors("qwen3"); }
static void test_hf_llama3(void) { run_hf_vectors("llama3"); }
static void test_hf_mistral(void) { run_hf_vectors("mistral-spm32k"); }

/* llama.cpp's vectors: .inp cases separated by "\n__ggml_vocab_test__\n", .out one line of ids per case. */
static void run_llamacpp(const char *vocab, const char *tokenizer) {
    char inp[256], outp[256], path[256];
    snprintf(inp, sizeof inp, TOKDIR "llamacpp-vectors/ggml-vocab-%s.gguf.inp", vocab);
    snprintf(outp, sizeof outp, TOKDIR "llamacpp-vectors/ggml-vocab-%s.gguf.out", vocab);
    snprintf(path, sizeof path, TOKDIR "%s", tokenizer);
    SKIP_IF(access(inp, R_OK) || access(path, R_OK), "../shared/conformance/tokenizers is absent");
    ember_tokenizer *tok = NULL;
    shown = 0;
    ember_status s = ember_tokenizer_open(path, &tok);
    SKIP_IF(s == EMBER_ERR_UNSUPPORTED, ember_last_error());
    CHECK_MSG(s == EMBER_OK, "%s", ember_last_error());
    if (!tok) return;
    ember_map mi, mo;
    CHECK(ember_map_open(inp, &mi) == EMBER_OK && ember_map_open(outp, &mo) == EMBER_OK);
    static const char sep[] = "\n__ggml_vocab_test__\n";
    const char *p = (const char *)mi.data, *end = p + mi.size, *o = (const char *)mo.data, *oend = o + mo.size;
    int cases = 0, good = 0;
    static int32_t want[1 << 16];
    while (p < end && o < oend) {
        const char *q = memmem(p, (size_t)(end - p), sep, sizeof sep - 1);
        if (!q) break;
        const char *ol = memchr(o, '\n', (size_t)(oend - o));
        if (!ol) ol = oend;
        size_t n = 0;
        for (const char *x = o; x < ol;) {
            char *e;
            long v = strtol(x, &e, 10);
            if (e == x) break;
            want[n++] = (int32_t)v, x = e;
        }
        good += same_ids(tok, p, (size_t)(q - p), false, want, n, vocab);
        cases++;
        p = q + sizeof sep - 1, o = ol + 1;
    }
    printf("  %s via %s: %d/%d cases match\n", vocab, tokenizer, good, cases);
    CHECK(cases >= 40);
    CHECK_EQ(good, cases);
    ember_map_close(&mi), ember_map_close(&mo);
    ember_tokenizer_close(tok);
}

static void test_llamacpp_llama_bpe(void) { run_llamacpp("llama-bpe", "hf/llama3/tokenizer.json"); }
static void test_llamacpp_qwen2(void) { run_llamacpp("qwen2", "hf/qwen3/tokenizer.json"); }
static void test_llamacpp_gpt2_json(void) { run_llamacpp("gpt-2", "hf/gpt2/tokenizer.json"); }
static void test_llamacpp_bert_json(void) { run_llamacpp("bert-bge", "hf/bert_uncased/tokenizer.json"); }
static void test_llamacpp_gpt2_gguf(void) { run_llamacpp("gpt-2", "llamacpp-vectors/ggml-vocab-gpt-2.gguf"); }
static void test_llamacpp_bert_gguf(void) { run_llamacpp("bert-bge", "llamacpp-vectors/ggml-vocab-bert-bge.gguf"); }
static void test_llamacpp_llama_spm(void) { run_llamacpp("llama-spm", "llamacpp-vectors/ggml-vocab-llama-spm.gguf"); }
static void test_llamacpp_phi3(void) { run_llamacpp("phi-3", "llamacpp-vectors/ggml-vocab-phi-3.gguf"); }
static void test_llamacpp_deepseek(void) { run_llamacpp("deepseek-llm", "llamacpp-vectors/ggml-vocab-deepseek-llm.gguf"); }
static void test_llamacpp_falcon(void) { run_llamacpp("falcon", "llamacpp-vectors/ggml-vocab-falcon.gguf"); }

/* EMBER_TOK_VECTORS="tokenizer.json=vectors.jsonl,...": extra vectors (e.g. generated with HF). */
static void test_extra_vectors(void) {
    const char *env = getenv("EMBER_TOK_VECTORS");
    SKIP_IF(!env || !*env, "EMBER_TOK_VECTORS not set");
    char buf[4096];
    snprintf(buf, sizeof buf, "%s", env);
    for (char *item = strtok(buf, ","); item; item = strtok(NULL, ",")) {
        char *eq = strchr(item, '=');
        if (!eq) continue;
        *eq = 0;
        run_vectors(item, eq + 1, eq + 1);
    }
}

int main(void) {
    RUN(test_extra_vectors);
    RUN(test_hf_qwen3);
    RUN(test_hf_llama3);
    RUN(test_hf_mistral);
    RUN(test_llamacpp_llama_bpe);
    RUN(test_llamacpp_qwen2);
    RUN(test_llamacpp_gpt2_json);
    RUN(test_llamacpp_bert_json);
    RUN(test_llamacpp_gpt2_gguf);
    RUN(test_llamacpp_bert_gguf);
    RUN(test_llamacpp_llama_spm);
    RUN(test_llamacpp_phi3);
    RUN(test_llamacpp_deepseek);
    RUN(test_llamacpp_falcon);
    return check_done();
}
