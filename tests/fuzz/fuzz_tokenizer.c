/* libFuzzer target for the text module: tokenizer.json loading, encoding arbitrary bytes, the regex engine
 * and the JSON parser. Build and run: `make fuzz-tokenizer` then
 *     build/fuzz/fuzz_tokenizer -max_total_time=60 [corpus-dir]
 * The first input byte picks what is fuzzed; the rest is the input. Not part of `make test`. */
#include "ember/tokenizer.h"
#include "text/json.h"
#include "text/regex.h"

#include <stdlib.h>
#include <string.h>

/* A small tokenizer exercising most of the pipeline, used to encode fuzzed text. */
static const char small_json[] =
    "{\"added_tokens\": [{\"id\": 9, \"content\": \"<s>\", \"special\": true, \"lstrip\": true, \"rstrip\": true},"
    " {\"id\": 10, \"content\": \"ab\", \"single_word\": true, \"normalized\": true}],"
    " \"normalizer\": {\"type\": \"Sequence\", \"normalizers\": [{\"type\": \"NFKC\"}, {\"type\": \"Lowercase\"}]},"
    " \"pre_tokenizer\": {\"type\": \"Sequence\", \"pretokenizers\": [{\"type\": \"Split\", \"pattern\": {\"Regex\":"
    "  \"(?i:'s|'t)|[^\\\\r\\\\n\\\\p{L}\\\\p{N}]?\\\\p{L}+|\\\\p{N}{1,3}| ?[^\\\\s\\\\p{L}\\\\p{N}]+[\\\\r\\\\n]*|\\\\s+(?!\\\\S)|\\\\s+\"},"
    "  \"behavior\": \"Isolated\"}, {\"type\": \"ByteLevel\", \"add_prefix_space\": false, \"use_regex\": false}]},"
    " \"decoder\": {\"type\": \"ByteLevel\"},"
    " \"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0, \"b\": 1, \"c\": 2, \"ab\": 3, \"abc\": 4, \"\\u0120\": 5, \"\\u0120a\": 6},"
    "  \"merges\": [\"a b\", \"ab c\", \"\\u0120 a\"]}}";

static ember_tokenizer *small, *shared;

static void roundtrip(const ember_tokenizer *tok, const char *text, size_t len) {
    int32_t *ids = NULL;
    ember_token_span *spans = NULL;
    size_t n = 0;
    if (ember_tokenizer_encode_spans(tok, text, len, true, &ids, &spans, &n) == EMBER_OK) {
        for (size_t i = 0; i < n; i++)
            if (spans[i].begin > spans[i].end || spans[i].end > len) abort();
        char *out = NULL;
        size_t ol = 0;
        if (ember_tokenizer_decode(tok, ids, n, false, &out, &ol) == EMBER_OK) ember_free(out);
    }
    ember_free(ids), ember_free(spans);
    /* the two halves as a pair: offsets stay inside their own text */
    ember_encoding e;
    size_t h = len / 2;
    if (ember_tokenizer_encode_full(tok, text, h, text + h, len - h, true, &e) == EMBER_OK)
        for (size_t i = 0; i < e.n; i++)
            if (e.spans[i].begin > e.spans[i].end || e.spans[i].end > (e.sequence[i] == 1 ? len - h : h)) abort();
    ember_encoding_free(&e);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (!small) {
        ember_tokenizer_from_json(small_json, sizeof small_json - 1, "small", &small);
        const char *path = getenv("EMBER_FUZZ_TOKENIZER"); /* e.g. ../shared/.../qwen3/tokenizer.json */
        if (path) ember_tokenizer_open(path, &shared);
    }
    if (size < 1) return 0;
    const char *text = (const char *)data + 1;
    size_t len = size - 1;
    switch (data[0] % 4) {
    case 0: { /* tokenizer.json */
        ember_tokenizer *tok = NULL;
        if (ember_tokenizer_from_json(text, len, "fuzz", &tok) == EMBER_OK) {
            roundtrip(tok, "Hello wörld 123 <s> ab", 23);
            ember_tokenizer_close(tok);
        }
        break;
    }
    case 1: /* text */
        if (small) roundtrip(small, text, len);
        if (shared) roundtrip(shared, text, len);
        break;
    case 2: { /* regex: pattern, then matching it against itself */
        ember_regex *re = NULL;
        if (len && ember_regex_compile(text, len, &re) == EMBER_OK) { /* len 0 would mean NUL-terminated */
            static const char subject[] = "Hello, wörld! 12345 \t\n 'S  x";
            size_t at = 0, b, e;
            while (at <= sizeof subject - 1 && ember_regex_find(re, subject, sizeof subject - 1, at, &b, &e)) at = e > b ? e : e + 1;
            ember_regex_free(re);
        }
        break;
    }
    default: { /* JSON */
        ember_json_doc *doc = NULL;
        if (ember_json_parse(text, len, "fuzz", &doc) == EMBER_OK) ember_json_free(doc);
    }
    }
    return 0;
}
