/* Conformance of the tokenizers with Hugging Face tokenizers on the shared vectors:
 * hf/<name>/vectors.jsonl (ids, ids_special, decoded) and llamacpp-vectors/<vocab>.inp|.out. */
#include "check.h"

#include "core/mapfile.h"
#include "ember/tokenizer.h"
#include "text/json.h"

#include <dirent.h>
#include <stdlib.h>
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

static bool hexval(char c, int *v) {
    *v = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
    return *v >= 0;
}

/* Compares one field of a full encoding with the expected JSON array (absent: not checked). */
static bool same_field(const ember_json *want, const ember_encoding *e, const char *what) {
    if (!want) return true;
    bool ok = ember_json_len(want) == e->n;
    for (size_t i = 0; ok && i < e->n; i++) {
        const ember_json *w = want->items[i];
        if (!strcmp(what, "offsets"))
            ok = ember_json_len(w) == 2 && w->items[0]->num == e->spans[i].begin && w->items[1]->num == e->spans[i].end;
        else {
            double got = !strcmp(what, "ids_special") ? (double)e->ids[i] : !strcmp(what, "type_ids") ? (double)e->type_ids[i]
                       : !strcmp(what, "special_mask") ? e->special_mask[i] : e->attention_mask[i];
            ok = w->num == got;
        }
    }
    if (!ok && shown < 12) {
        printf("    %s differs: want", what);
        for (size_t i = 0; i < ember_json_len(want) && i < 24; i++) {
            const ember_json *w = want->items[i];
            if (w->type == EMBER_JSON_ARRAY) printf(" [%g,%g]", w->items[0]->num, w->items[1]->num);
            else printf(" %g", w->num);
        }
        printf("\n      got ");
        for (size_t i = 0; i < e->n && i < 24; i++) {
            if (!strcmp(what, "offsets")) printf(" [%u,%u]", e->spans[i].begin, e->spans[i].end);
            else printf(" %g", !strcmp(what, "ids_special") ? (double)e->ids[i] : !strcmp(what, "type_ids") ? (double)e->type_ids[i]
                                 : !strcmp(what, "special_mask") ? e->special_mask[i] : (double)e->attention_mask[i]);
        }
        printf("\n");
    }
    return ok;
}

/* One vectors line: text (or hex bytes), optional pair; ids, ids_special, decoded, and where present
 * decoded_skip, type_ids, offsets, special_mask, attention_mask, or error (HF refused the input). */
static bool check_case(const ember_tokenizer *tok, const ember_json *root) {
    const ember_json *t = ember_json_get(root, "text"), *hex = ember_json_get(root, "hex"), *pair = ember_json_get(root, "pair");
    static char bytes[1 << 16];
    const char *text = t ? t->str : "";
    size_t len = t ? t->len : 0;
    if (hex) {
        len = 0;
        for (size_t i = 0; i + 1 < hex->len && len < sizeof bytes; i += 2) {
            int hi, lo;
            if (!hexval(hex->str[i], &hi) || !hexval(hex->str[i + 1], &lo)) return false;
            bytes[len++] = (char)(hi << 4 | lo);
        }
        text = bytes;
    }
    static int32_t want[1 << 16];
    bool ok = true;
    if (ember_json_get(root, "error")) { /* HF refuses: so must we, without crashing */
        ember_encoding e;
        ember_status s = ember_tokenizer_encode_full(tok, text, len, pair ? pair->str : NULL, pair ? pair->len : 0, true, &e);
        ember_encoding_free(&e);
        ok = s != EMBER_OK;
        if (!ok && shown++ < 12) printf("  expected an error for \"%.*s\"\n", (int)(len > 80 ? 80 : len), text);
        return ok;
    }
    if (!pair) {
        size_t n = json_ids(ember_json_get(root, "ids"), want, 1 << 16);
        ok = same_ids(tok, text, len, false, want, n, "ids");
        size_t ns = json_ids(ember_json_get(root, "ids_special"), want, 1 << 16);
        ok = same_ids(tok, text, len, true, want, ns, "ids_special") && ok;
    }
    if (pair || ember_json_get(root, "type_ids")) {
        ember_encoding e, p;
        ember_status s = ember_tokenizer_encode_full(tok, text, len, pair ? pair->str : NULL, pair ? pair->len : 0, true, &e);
        ember_status s2 = ember_tokenizer_encode_full(tok, text, len, pair ? pair->str : NULL, pair ? pair->len : 0, false, &p);
        bool fine = s == EMBER_OK && s2 == EMBER_OK;
        if (!fine && shown++ < 12) printf("  error for \"%.*s\": %s\n", (int)(len > 80 ? 80 : len), text, ember_last_error());
        if (fine) {
            bool f = same_field(ember_json_get(root, "ids"), &p, "ids_special");
            f = same_field(ember_json_get(root, "ids_special"), &e, "ids_special") && f;
            f = same_field(ember_json_get(root, "type_ids"), &e, "type_ids") && f;
            f = same_field(ember_json_get(root, "offsets"), &e, "offsets") && f;
            f = same_field(ember_json_get(root, "special_mask"), &e, "special_mask") && f;
            f = same_field(ember_json_get(root, "attention_mask"), &e, "attention_mask") && f;
            if (!f && shown++ < 12)
                printf("  ^ for \"%.*s\"%s%.*s\n", (int)(len > 60 ? 60 : len), text, pair ? " + \"" : "", pair ? (int)(pair->len > 60 ? 60 : pair->len) : 0, pair ? pair->str : "");
            fine = f;
        }
        ember_encoding_free(&e), ember_encoding_free(&p);
        ok = ok && fine;
    }
    const char *keys[2] = {"decoded", "decoded_skip"};
    for (int k = 0; k < 2; k++) {
        const ember_json *dec = ember_json_get(root, keys[k]);
        if (!dec) continue;
        size_t n = json_ids(ember_json_get(root, k ? "ids_special" : "ids"), want, 1 << 16);
        char *out = NULL;
        size_t tl = 0;
        bool same = ember_tokenizer_decode(tok, want, n, k == 1, &out, &tl) == EMBER_OK && tl == dec->len && !memcmp(out, dec->str, tl);
        if (!same && shown++ < 12) printf("  %s mismatch: want \"%s\" got \"%s\"\n", keys[k], dec->str, out ? out : "(error)");
        ember_free(out);
        ok = ok && same;
    }
    return ok;
}

static void run_vectors(const char *path, const char *vec, const char *name) {
    ember_tokenizer *tok = NULL;
    shown = 0;
    CHECK_MSG(ember_tokenizer_open(path, &tok) == EMBER_OK, "%s: %s", path, ember_last_error());
    if (!tok) return;
    ember_map m;
    CHECK(ember_map_open(vec, &m) == EMBER_OK);
    int cases = 0, good = 0;
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
        bool ok = check_case(tok, doc->root);
        if (!ok && getenv("EMBER_TOK_VERBOSE")) printf("  failing case: %.*s\n", (int)(len > 300 ? 300 : len), line);
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

/* EMBER_TOK_VECTORS: extra vectors generated with HF (tests/tok_oracle/run.sh): a directory of NAME.json
 * (tokenizer) + NAME.jsonl (vectors) files, or "tokenizer.json=vectors.jsonl,...". */
static void test_extra_vectors(void) {
    const char *env = getenv("EMBER_TOK_VECTORS");
    SKIP_IF(!env || !*env, "EMBER_TOK_VECTORS not set (tests/tok_oracle/run.sh sets it)");
    DIR *d = opendir(env);
    if (d) {
        int files = 0, failed_before = check_current_failures;
        struct dirent *de;
        char names[512][128];
        int nn = 0;
        while ((de = readdir(d)) && nn < 512) {
            size_t l = strlen(de->d_name);
            if (l > 5 && l < 120 && !strcmp(de->d_name + l - 5, ".json")) snprintf(names[nn++], 128, "%.120s", de->d_name);
        }
        closedir(d);
        qsort(names, (size_t)nn, sizeof names[0], (int (*)(const void *, const void *))strcmp);
        for (int i = 0; i < nn; i++) {
            char tp[4200], vp[4300];
            snprintf(tp, sizeof tp, "%.4000s/%.127s", env, names[i]);
            snprintf(vp, sizeof vp, "%sl", tp);
            if (access(vp, R_OK)) continue;
            run_vectors(tp, vp, names[i]);
            files++;
        }
        printf("  %d generated vector files, %s\n", files, check_current_failures == failed_before ? "all match" : "SOME DIFFER");
        CHECK(files > 0);
        return;
    }
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
