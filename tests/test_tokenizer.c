/* Tokenizer unit tests: the JSON parser, the regex engine, every pipeline component on small inline
 * tokenizer.json files, offsets, invalid input, batch encoding, llama2.c tokenizer.bin and bad files. */
#include "check.h"

#include "ember/gguf.h"
#include "ember/tokenizer.h"
#include "text/json.h"
#include "text/regex.h"

#include <unistd.h>

#define HF "../shared/conformance/tokenizers/hf/"
#define LCPP "../shared/conformance/tokenizers/llamacpp-vectors/"
#define L2C "../shared/models/llm/llama2c/"

/* ---------------------------------------------------------------------------------------------------- */
/* JSON */

static void test_json_values(void) {
    const char *t = "{\"a\": [1, -2.5e3, true, false, null], \"s\": \"x\\n\\u00e9\\ud83d\\ude00\\\"\", \"o\": {}, \"a\": 7}";
    ember_json_doc *d = NULL;
    CHECK(ember_json_parse(t, strlen(t), "t", &d) == EMBER_OK);
    if (!d) return;
    CHECK_EQ(ember_json_num(d->root, "a", 0), 7); /* the last of repeated keys */
    const ember_json *arr = d->root->items[0];
    CHECK_EQ(ember_json_len(arr), 5);
    CHECK_NEAR(arr->items[1]->num, -2500, 0);
    CHECK(arr->items[2]->type == EMBER_JSON_TRUE && arr->items[4]->type == EMBER_JSON_NULL);
    const ember_json *s = ember_json_get(d->root, "s");
    CHECK_STR(s->str, "x\n\xC3\xA9\xF0\x9F\x98\x80\"");
    CHECK_EQ(s->len, 9);
    CHECK(ember_json_is(ember_json_get(d->root, "o"), EMBER_JSON_OBJECT));
    CHECK(ember_json_get(d->root, "missing") == NULL);
    CHECK_STR(ember_json_str(d->root, "missing", "dflt"), "dflt");
    ember_json_free(d);
}

static void expect_json_error(const char *text, const char *where) {
    ember_json_doc *d = NULL;
    ember_status s = ember_json_parse(text, strlen(text), "f.json", &d);
    CHECK_MSG(s == EMBER_ERR_FORMAT && !d, "'%s' parsed", text);
    CHECK_MSG(strstr(ember_last_error(), where) != NULL, "'%s': message '%s' lacks '%s'", text, ember_last_error(), where);
}

static void test_json_errors(void) {
    expect_json_error("{\n  \"a\": tru }", "f.json:2:8");
    expect_json_error("[1, 2,]", "f.json:1:7");
    expect_json_error("\"\\ud800x\"", "surrogate");
    expect_json_error("\"\\udc00\"", "surrogate");
    expect_json_error("\"a\tb\"", "control character");
    expect_json_error("\"\xff\"", "invalid UTF-8");
    expect_json_error("{\"a\" 1}", "expected ':'");
    expect_json_error("[1] x", "after the JSON value");
    expect_json_error("01", "after the JSON value");
    expect_json_error("", "unexpected end");
    expect_json_error("\"abc", "unterminated string");
    char deep[2000];
    memset(deep, '[', sizeof deep - 1);
    deep[sizeof deep - 1] = 0;
    expect_json_error(deep, "nesting");
}

/* ---------------------------------------------------------------------------------------------------- */
/* Regex */

/* All matches of pattern in s, joined with '|'. */
static const char *matches(const char *pattern, const char *s) {
    static char out[512];
    ember_regex *re = NULL;
    if (ember_regex_compile(pattern, 0, &re)) return "(compile error)";
    size_t at = 0, b, e, o = 0, n = strlen(s);
    out[0] = 0;
    while (at <= n && ember_regex_find(re, s, n, at, &b, &e)) {
        o += (size_t)snprintf(out + o, sizeof out - o, "%s%.*s", o ? "|" : "", (int)(e - b), s + b);
        at = e > b ? e : e + 1;
    }
    ember_regex_free(re);
    return out;
}

static void test_regex_match(void) {
    CHECK_STR(matches(" ?\\p{L}+", "hello wörld 42"), "hello| wörld");
    CHECK_STR(matches("\\s+(?!\\S)|\\s+", "a   b"), "  | ");
    CHECK_STR(matches("(?i:'s|'t)", "it'S don'T 's"), "'S|'T|'s");
    CHECK_STR(matches("\\p{N}{1,3}", "12345"), "123|45");
    CHECK_STR(matches("a+?", "aaa"), "a|a|a");
    CHECK_STR(matches("a++a", "aaaa"), "");
    CHECK_STR(matches("(?:ab)+c", "ababcabc"), "ababc|abc");
    CHECK_STR(matches("\\s+$", "a  \nb "), "  | ");
    CHECK_STR(matches("[^\\s\\p{L}\\p{N}]+", "a+b, c!?"), "+|,|!?");
    CHECK_STR(matches("[\\x{4e00}-\\x{9fa5}]+", "ab中文cd"), "中文");
    CHECK_STR(matches("x{2}|\\{", "xxx{"), "xx|{");
    CHECK_STR(matches("(?>a+)b|c", "aab c"), "aab|c");
    CHECK_STR(matches("(?=b)\\w", "abc"), "b");
    CHECK_STR(matches("[\\p{P}\\$\\+<=>\\^~\\|`]+", "a$+b.|"), "$+|.|");
}

static void test_regex_errors(void) {
    ember_regex *re = NULL;
    CHECK(ember_regex_compile("(?<=a)b", 0, &re) == EMBER_ERR_UNSUPPORTED && !re);
    CHECK(ember_regex_compile("[z-a]", 0, &re) == EMBER_ERR_FORMAT);
    CHECK(ember_regex_compile("(ab", 0, &re) == EMBER_ERR_FORMAT);
    CHECK(ember_regex_compile("ab)", 0, &re) == EMBER_ERR_FORMAT);
    CHECK(ember_regex_compile("*a", 0, &re) == EMBER_ERR_FORMAT);
    CHECK(ember_regex_compile("\\p{Han}", 0, &re) == EMBER_ERR_UNSUPPORTED);
    CHECK(strstr(ember_last_error(), "offset") != NULL);
    /* catastrophic backtracking ends (no match) instead of hanging */
    CHECK(ember_regex_compile("(a*)*b", 0, &re) == EMBER_OK);
    char s[64];
    memset(s, 'a', 40);
    s[40] = 0;
    size_t b, e;
    CHECK(!ember_regex_find(re, s, 40, 0, &b, &e));
    ember_regex_free(re);
}

/* ---------------------------------------------------------------------------------------------------- */
/* Small tokenizers */

static ember_tokenizer *from_json(const char *json) {
    ember_tokenizer *tok = NULL;
    ember_status s = ember_tokenizer_from_json(json, strlen(json), "inline", &tok);
    CHECK_MSG(s == EMBER_OK, "%s", ember_last_error());
    return tok;
}

/* ids of text joined by spaces. */
static const char *enc(const ember_tokenizer *tok, const char *text, bool special) {
    static char out[1024];
    int32_t *ids = NULL;
    size_t n = 0;
    if (ember_tokenizer_encode(tok, text, strlen(text), special, &ids, &n)) return ember_last_error();
    size_t o = 0;
    out[0] = 0;
    for (size_t i = 0; i < n; i++) o += (size_t)snprintf(out + o, sizeof out - o, "%s%d", i ? " " : "", ids[i]);
    ember_free(ids);
    return out;
}

static const char *dec(const ember_tokenizer *tok, const char *ids_text, bool skip) {
    static char out[1024];
    int32_t ids[64];
    size_t n = 0;
    for (const char *p = ids_text; *p && n < 64;) {
        char *e;
        ids[n++] = (int32_t)strtol(p, &e, 10);
        p = e;
    }
    char *t = NULL;
    size_t len;
    if (ember_tokenizer_decode(tok, ids, n, skip, &t, &len)) return ember_last_error();
    snprintf(out, sizeof out, "%s", t);
    ember_free(t);
    return out;
}

#define WL_VOCAB "\"vocab\": {\"a\":0,\"b\":1,\"c\":2,\"-\":3,\"a-\":4,\"b-\":5,\"-b\":6,\"-c\":7,\"--\":8,\"[UNK]\":9}"

static void check_split(const char *behavior, bool invert, const char *want) {
    char json[1024];
    snprintf(json, sizeof json,
             "{\"pre_tokenizer\": {\"type\": \"Split\", \"pattern\": {\"String\": \"-\"}, \"behavior\": \"%s\", \"invert\": %s},"
             " \"model\": {\"type\": \"WordLevel\", " WL_VOCAB ", \"unk_token\": \"[UNK]\"}}",
             behavior, invert ? "true" : "false");
    ember_tokenizer *tok = from_json(json);
    if (!tok) return;
    CHECK_MSG(!strcmp(enc(tok, "a-b--c", false), want), "%s: got %s, want %s", behavior, enc(tok, "a-b--c", false), want);
    ember_tokenizer_close(tok);
}

static void test_split_behaviors(void) {
    check_split("Removed", false, "0 1 2");
    check_split("Isolated", false, "0 3 1 3 3 2");
    check_split("MergedWithPrevious", false, "4 5 3 2");
    check_split("MergedWithNext", false, "0 6 3 7");
    check_split("Contiguous", false, "0 3 1 8 2");
    check_split("Removed", true, "3 3 3");
}

static void test_bpe_merges(void) {
    /* rank decides: "b c" (rank 0) beats "a b" (rank 1), so "abc" -> a + bc unless "a bc" merges */
    ember_tokenizer *tok = from_json(
        "{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\":0,\"b\":1,\"c\":2,\"ab\":3,\"bc\":4,\"abc\":5,\"<unk>\":6},"
        " \"merges\": [\"b c\", \"a b\", \"a bc\"], \"unk_token\": \"<unk>\"},"
        " \"pre_tokenizer\": {\"type\": \"WhitespaceSplit\"}}");
    if (!tok) return;
    CHECK_STR(enc(tok, "abc ab ba cab", false), "5 3 1 0 2 3");
    CHECK_STR(enc(tok, "axb", false), "0 6 1"); /* unknown character -> unk */
    CHECK_STR(ember_tokenizer_token(tok, 5), "abc");
    CHECK_EQ(ember_tokenizer_token_id(tok, "bc"), 4);
    CHECK_EQ(ember_tokenizer_vocab_size(tok), 7);
    CHECK_STR(dec(tok, "5 3", false), "abc ab"); /* no decoder: pieces joined by spaces */
    ember_tokenizer_close(tok);

    /* continuing_subword_prefix and end_of_word_suffix */
    tok = from_json("{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\":0,\"##b\":1,\"##c</w>\":2,\"a##b\":3,\"ab\":4,\"##b##c</w>\":5,\"##bc</w>\":6,\"##b</w>\":7},"
                    " \"merges\": [\"a ##b\", \"##b ##c</w>\"], \"continuing_subword_prefix\": \"##\", \"end_of_word_suffix\": \"</w>\"}}");
    if (!tok) return;
    CHECK_STR(enc(tok, "abc", false), "4 2"); /* "a ##b" (rank 0) first, then no merge of "ab ##c</w>" */
    CHECK_STR(enc(tok, "ab", false), "0 7");  /* "##b</w>" ends the word: no merge with "a" */
    ember_tokenizer_close(tok);
}

static void test_added_tokens(void) {
    ember_tokenizer *tok = from_json(
        "{\"added_tokens\": [{\"id\": 10, \"content\": \"<x>\", \"special\": true, \"lstrip\": true, \"rstrip\": true},"
        " {\"id\": 11, \"content\": \"ab\", \"special\": false, \"single_word\": true, \"normalized\": false},"
        " {\"id\": 12, \"content\": \"<x>y\", \"special\": true}],"
        " \"pre_tokenizer\": {\"type\": \"WhitespaceSplit\"},"
        " \"post_processor\": {\"type\": \"TemplateProcessing\", \"single\": [{\"SpecialToken\": {\"id\": \"<x>\", \"type_id\": 0}},"
        "   {\"Sequence\": {\"id\": \"A\", \"type_id\": 0}}, {\"SpecialToken\": {\"id\": \"<x>\", \"type_id\": 0}}],"
        "   \"special_tokens\": {\"<x>\": {\"id\": \"<x>\", \"ids\": [10], \"tokens\": [\"<x>\"]}}},"
        " \"model\": {\"type\": \"WordLevel\", \"vocab\": {\"a\":0,\"b\":1,\"c\":2,\"cab\":3,\"[UNK]\":9}, \"unk_token\": \"[UNK]\"}}");
    if (!tok) return;
    CHECK_STR(enc(tok, "a  <x>  b", false), "0 10 1");  /* lstrip/rstrip take the spaces */
    CHECK_STR(enc(tok, "a <x>y b", false), "0 12 1");   /* longest match wins */
    CHECK_STR(enc(tok, "ab cab", false), "11 3");       /* single_word: not inside "cab" */
    CHECK_STR(enc(tok, "a", true), "10 0 10");          /* template */
    CHECK_STR(dec(tok, "10 0 10", true), "a");
    CHECK(ember_tokenizer_is_special(tok, 10) && !ember_tokenizer_is_special(tok, 11) && !ember_tokenizer_is_special(tok, 0));
    int32_t *ids = NULL;
    ember_token_span *sp = NULL;
    size_t n = 0;
    CHECK(ember_tokenizer_encode_spans(tok, "a  <x>  b", 9, true, &ids, &sp, &n) == EMBER_OK && n == 5);
    if (n == 5) {
        CHECK(sp[0].begin == 0 && sp[0].end == 0); /* added by the template */
        CHECK(sp[1].begin == 0 && sp[1].end == 1);
        CHECK(sp[2].begin == 1 && sp[2].end == 8); /* "<x>" with the stripped spaces */
        CHECK(sp[3].begin == 8 && sp[3].end == 9);
    }
    ember_free(ids), ember_free(sp);
    ember_tokenizer_close(tok);
}

static void test_wordpiece_unigram(void) {
    ember_tokenizer *tok = from_json(
        "{\"normalizer\": {\"type\": \"BertNormalizer\", \"lowercase\": true},"
        " \"pre_tokenizer\": {\"type\": \"BertPreTokenizer\"},"
        " \"decoder\": {\"type\": \"WordPiece\", \"prefix\": \"##\", \"cleanup\": true},"
        " \"model\": {\"type\": \"WordPiece\", \"unk_token\": \"[UNK]\", \"max_input_chars_per_word\": 12,"
        "  \"vocab\": {\"[UNK]\":0,\"un\":1,\"##aff\":2,\"##able\":3,\"cafe\":4,\",\":5,\"!\":6,\"x\":7}}}");
    if (!tok) return;
    CHECK_STR(enc(tok, "UnAffable, CAFÉ!", false), "1 2 3 5 4 6");
    CHECK_STR(enc(tok, "unaffablex xxxxxxxxxxxxx", false), "0 0"); /* no split found; too long */
    CHECK_STR(dec(tok, "1 2 3 5 4 6", false), "unaffable, cafe!");
    ember_tokenizer_close(tok);

    tok = from_json("{\"model\": {\"type\": \"Unigram\", \"unk_id\": 0, \"vocab\": [[\"<unk>\", 0], [\"a\", -1], [\"b\", -1],"
                    " [\"ab\", -1.5], [\"abc\", -5], [\"c\", -2]]},"
                    " \"pre_tokenizer\": {\"type\": \"Metaspace\", \"replacement\": \"_\", \"prepend_scheme\": \"never\"}}");
    if (!tok) return;
    CHECK_STR(enc(tok, "abc", false), "3 5");   /* ab + c (-3.5) beats abc (-5) and a+b+c (-4) */
    CHECK_STR(enc(tok, "axxb", false), "1 0 2"); /* unknown run fused into one <unk> */
    ember_tokenizer_close(tok);
}

static void test_normalizers_decoders(void) {
    ember_tokenizer *tok = from_json(
        "{\"normalizer\": {\"type\": \"Sequence\", \"normalizers\": [{\"type\": \"NFKC\"}, {\"type\": \"Lowercase\"},"
        "  {\"type\": \"Strip\", \"strip_left\": true, \"strip_right\": true},"
        "  {\"type\": \"Replace\", \"pattern\": {\"Regex\": \"\\\\s+\"}, \"content\": \" \"}]},"
        " \"pre_tokenizer\": {\"type\": \"Metaspace\", \"replacement\": \"\\u2581\", \"prepend_scheme\": \"always\"},"
        " \"decoder\": {\"type\": \"Metaspace\", \"replacement\": \"\\u2581\", \"prepend_scheme\": \"always\"},"
        " \"model\": {\"type\": \"WordLevel\", \"vocab\": {\"\\u2581fi\":0,\"\\u2581ab\":1,\"[UNK]\":2}, \"unk_token\": \"[UNK]\"}}");
    if (!tok) return;
    CHECK_STR(enc(tok, "  \xEF\xAC\x81 \t AB ", false), "0 1"); /* U+FB01 ligature -> "fi" */
    CHECK_STR(dec(tok, "0 1", false), "fi ab");
    ember_tokenizer_close(tok);
}

/* "ids | type ids | special mask | attention mask" of a full encoding */
static const char *enc_full(const ember_tokenizer *tok, const char *a, const char *b, bool special) {
    static char out[1024];
    ember_encoding e;
    if (ember_tokenizer_encode_full(tok, a, strlen(a), b, b ? strlen(b) : 0, special, &e)) return ember_last_error();
    size_t o = 0;
    for (int f = 0; f < 4; f++) {
        if (f) o += (size_t)snprintf(out + o, sizeof out - o, " |");
        for (size_t i = 0; i < e.n; i++) {
            long v = f == 0 ? e.ids[i] : f == 1 ? (long)e.type_ids[i] : f == 2 ? e.special_mask[i] : e.attention_mask[i];
            o += (size_t)snprintf(out + o, sizeof out - o, "%s%ld", i || f ? " " : "", v);
        }
    }
    ember_encoding_free(&e);
    return out;
}

#define PP_BASE "\"pre_tokenizer\": {\"type\": \"WhitespaceSplit\"}, \"model\": {\"type\": \"WordLevel\", \"unk_token\": \"[UNK]\"," \
    " \"vocab\": {\"a\":0,\"b\":1,\"c\":2,\"d\":3,\"e\":4,\"f\":5,\"g\":6,\"h\":7,\"[UNK]\":8,\"[CLS]\":9,\"[SEP]\":10,\"[PAD]\":11}}"
#define PP_BERT "\"post_processor\": {\"type\": \"BertProcessing\", \"sep\": [\"[SEP]\", 10], \"cls\": [\"[CLS]\", 9]}"

/* Expected values are what HF tokenizers 0.23.2 gives for the same tokenizer.json. */
static void test_post_processing(void) {
    ember_tokenizer *tok = from_json("{" PP_BASE ", " PP_BERT "}");
    if (!tok) return;
    CHECK_STR(enc_full(tok, "a b c d e", "f g h", true),
              "9 0 1 2 3 4 10 5 6 7 10 | 0 0 0 0 0 0 0 1 1 1 1 | 1 0 0 0 0 0 1 0 0 0 1 | 1 1 1 1 1 1 1 1 1 1 1");
    CHECK_STR(enc_full(tok, "a b", "c", false), "0 1 2 | 0 0 1 | 0 0 0 | 1 1 1");
    ember_encoding e;
    CHECK(ember_tokenizer_encode_full(tok, "a b", 3, "c d", 3, true, &e) == EMBER_OK);
    CHECK(e.n == 7 && e.spans[4].begin == 0 && e.spans[4].end == 1 && e.spans[5].end == 3 && e.sequence[0] == -1 && e.sequence[5] == 1 && e.sequence[6] == -1);
    ember_encoding_free(&e);
    ember_tokenizer_close(tok);

    tok = from_json("{" PP_BASE ", \"post_processor\": {\"type\": \"RobertaProcessing\", \"sep\": [\"[SEP]\", 10],"
                    " \"cls\": [\"[CLS]\", 9], \"trim_offsets\": true, \"add_prefix_space\": true}}");
    if (!tok) return;
    CHECK_STR(enc_full(tok, "a b c d e", "f g h", true),
              "9 0 1 2 3 4 10 10 5 6 7 10 | 0 0 0 0 0 0 0 0 0 0 0 0 | 1 0 0 0 0 0 1 1 0 0 0 1 | 1 1 1 1 1 1 1 1 1 1 1 1");
    ember_tokenizer_close(tok);

    tok = from_json("{" PP_BASE ", " PP_BERT ", \"truncation\": {\"direction\": \"Right\", \"max_length\": 7,"
                    " \"strategy\": \"LongestFirst\", \"stride\": 0}}");
    if (!tok) return;
    CHECK_STR(enc_full(tok, "a b c d e", "f g h", true), "9 0 1 10 5 6 10 | 0 0 0 0 1 1 1 | 1 0 0 1 0 0 1 | 1 1 1 1 1 1 1");
    CHECK_STR(enc(tok, "a b c d e f g h", true), "9 0 1 2 3 4 10");
    ember_tokenizer_close(tok);

    tok = from_json("{" PP_BASE ", " PP_BERT ", \"padding\": {\"strategy\": {\"Fixed\": 8}, \"direction\": \"Left\","
                    " \"pad_to_multiple_of\": null, \"pad_id\": 11, \"pad_type_id\": 2, \"pad_token\": \"[PAD]\"}}");
    if (!tok) return;
    CHECK_STR(enc_full(tok, "a b", NULL, true), "11 11 11 11 9 0 1 10 | 2 2 2 2 0 0 0 0 | 1 1 1 1 1 0 0 1 | 0 0 0 0 1 1 1 1");
    const char *texts[2] = {"a b", "a b c d e f"};
    size_t lens[2] = {3, 11}, ns[2];
    int32_t *ids[2];
    CHECK(ember_tokenizer_encode_batch(tok, NULL, texts, lens, 2, false, ids, ns) == EMBER_OK);
    CHECK(ns[0] == 8 && ns[1] == 8 && ids[0][5] == 11 && ids[0][6] == 0 && ids[1][1] == 11 && ids[1][2] == 0);
    ember_free(ids[0]), ember_free(ids[1]);
    ember_tokenizer_close(tok);

    tok = from_json("{" PP_BASE ", \"padding\": {\"strategy\": \"BatchLongest\", \"direction\": \"Right\","
                    " \"pad_to_multiple_of\": 4, \"pad_id\": 11, \"pad_type_id\": 0, \"pad_token\": \"[PAD]\"}}");
    if (!tok) return;
    ember_encoding out[2];
    ember_pool *pool = NULL;
    CHECK(ember_pool_create(2, &pool) == EMBER_OK);
    CHECK(ember_tokenizer_encode_batch_full(tok, pool, texts, lens, NULL, NULL, 2, false, out) == EMBER_OK);
    CHECK(out[0].n == 8 && out[1].n == 8 && out[0].ids[2] == 11 && out[0].attention_mask[2] == 0 && out[1].ids[5] == 5 &&
          out[1].ids[6] == 11 && out[1].special_mask[7] == 1);
    ember_encoding_free(&out[0]), ember_encoding_free(&out[1]);
    ember_pool_destroy(pool);
    ember_tokenizer_close(tok);
}

static void test_bad_json_tokenizers(void) {
    struct {
        const char *json, *want;
        ember_status status;
    } cases[] = {
        {"{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0}, \"merges\": [\"a b\"]}}", "not in the vocabulary", EMBER_ERR_FORMAT},
        {"{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": -1}, \"merges\": []}}", "integer", EMBER_ERR_FORMAT},
        {"{\"normalizer\": {\"type\": \"Precompiled\"}, \"model\": {\"type\": \"WordLevel\", \"vocab\": {}}}", "Precompiled", EMBER_ERR_UNSUPPORTED},
        {"{\"model\": {\"type\": \"Magic\"}}", "Magic", EMBER_ERR_UNSUPPORTED},
        {"[1, 2]", "not an object", EMBER_ERR_FORMAT},
        {"{\"model\": {\"type\": \"WordLevel\", \"vocab\": {}}", "inline:1:", EMBER_ERR_FORMAT},
        {"{\"pre_tokenizer\": {\"type\": \"Split\", \"pattern\": {\"Regex\": \"(\"}, \"behavior\": \"Isolated\"},"
         " \"model\": {\"type\": \"WordLevel\", \"vocab\": {}}}", "regex", EMBER_ERR_FORMAT},
        {"{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0}, \"merges\": [], \"dropout\": 0.1}}", "dropout", EMBER_ERR_UNSUPPORTED},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        ember_tokenizer *tok = NULL;
        ember_status s = ember_tokenizer_from_json(cases[i].json, strlen(cases[i].json), "inline", &tok);
        CHECK_MSG(s == cases[i].status && !tok, "case %zu: status %d", i, s);
        CHECK_MSG(strstr(ember_last_error(), cases[i].want), "case %zu: '%s' lacks '%s'", i, ember_last_error(), cases[i].want);
        ember_tokenizer_close(tok);
    }
}

/* ---------------------------------------------------------------------------------------------------- */
/* Real tokenizers from ../shared */

static ember_tokenizer *open_shared(const char *path) {
    if (access(path, R_OK)) return NULL;
    ember_tokenizer *tok = NULL;
    CHECK_MSG(ember_tokenizer_open(path, &tok) == EMBER_OK, "%s", ember_last_error());
    return tok;
}

static void test_offsets_and_invalid_utf8(void) {
    ember_tokenizer *tok = open_shared(HF "qwen3/tokenizer.json");
    SKIP_IF(!tok, "../shared is absent");
    /* "é" decomposed (NFC joins it): the token's span covers both original characters */
    const char *text = "Cafe\xCC\x81 ok";
    int32_t *ids = NULL;
    ember_token_span *sp = NULL;
    size_t n = 0;
    CHECK(ember_tokenizer_encode_spans(tok, text, strlen(text), false, &ids, &sp, &n) == EMBER_OK);
    CHECK(n >= 2 && sp[n - 1].end == strlen(text) && sp[0].begin == 0);
    for (size_t i = 1; i < n; i++) CHECK(sp[i].begin >= sp[i - 1].end - (sp[i].begin < sp[i - 1].end ? 1 : 0));
    ember_free(ids), ember_free(sp);
    /* invalid UTF-8 is tokenized as U+FFFD per maximal subpart, spans point into the original bytes */
    const char *bad = "a\xFF" "b\xE2\x82" "c";
    const char *fixed = "a\xEF\xBF\xBD" "b\xEF\xBF\xBD" "c";
    char want[256];
    snprintf(want, sizeof want, "%s", enc(tok, fixed, false));
    CHECK_STR(enc(tok, bad, false), want);
    CHECK(ember_tokenizer_encode_spans(tok, bad, strlen(bad), false, &ids, &sp, &n) == EMBER_OK && n > 0);
    CHECK(n > 0 && sp[n - 1].end == strlen(bad));
    ember_free(ids), ember_free(sp);
    /* specials */
    CHECK_EQ(ember_tokenizer_special(tok, EMBER_TOKEN_EOT), 151645);
    CHECK_EQ(ember_tokenizer_token_id(tok, "<|im_end|>"), 151645);
    CHECK_STR(dec(tok, "151644 872 198 6023 151645", true), "user\nhi");
    char piece[16];
    CHECK_EQ(ember_tokenizer_piece(tok, 1879, piece, sizeof piece), 6); /* "Ġworld" */
    CHECK(!memcmp(piece, " world", 6));
    CHECK_EQ(ember_tokenizer_piece(tok, 1 << 30, piece, sizeof piece), -1);
    int32_t badid = 1 << 30;
    char *t = NULL;
    size_t len;
    CHECK(ember_tokenizer_decode(tok, &badid, 1, false, &t, &len) == EMBER_ERR_ARG && !t);
    ember_tokenizer_close(tok);
}

static void test_long_inputs(void) {
    ember_tokenizer *tok = open_shared(HF "llama3/tokenizer.json");
    SKIP_IF(!tok, "../shared is absent");
    size_t n = 1 << 20;
    char *s = malloc(n + 1);
    for (size_t i = 0; i < n; i++) s[i] = (char)('a' + (check_rand() % 3));
    s[n] = 0;
    int32_t *ids = NULL;
    size_t k = 0;
    CHECK(ember_tokenizer_encode(tok, s, n, false, &ids, &k) == EMBER_OK && k > 1000);
    char *back = NULL;
    size_t bl = 0;
    CHECK(ember_tokenizer_decode(tok, ids, k, false, &back, &bl) == EMBER_OK && bl == n && !memcmp(back, s, n));
    ember_free(ids), ember_free(back);
    for (size_t i = 0; i < n; i++) s[i] = (char)(check_rand() & 0xFF); /* random bytes: must not crash */
    CHECK(ember_tokenizer_encode(tok, s, n / 8, false, &ids, &k) == EMBER_OK && k > 0);
    ember_free(ids);
    free(s);
    ember_tokenizer_close(tok);
}

static void test_batch(void) {
    ember_tokenizer *tok = open_shared(HF "bert_uncased/tokenizer.json");
    SKIP_IF(!tok, "../shared is absent");
    enum { N = 64 };
    const char *texts[N];
    size_t lens[N], ns[N];
    int32_t *ids[N];
    char store[N][64];
    for (int i = 0; i < N; i++) {
        snprintf(store[i], sizeof store[i], "Sentence number %d, with Ünïcödé %d!", i, i * 37);
        texts[i] = store[i], lens[i] = strlen(store[i]);
    }
    ember_pool *pool = NULL;
    CHECK(ember_pool_create(2, &pool) == EMBER_OK);
    CHECK(ember_tokenizer_encode_batch(tok, pool, texts, lens, N, true, ids, ns) == EMBER_OK);
    for (int i = 0; i < N; i++) {
        int32_t *one = NULL;
        size_t k = 0;
        CHECK(ember_tokenizer_encode(tok, texts[i], lens[i], true, &one, &k) == EMBER_OK);
        CHECK(k == ns[i] && !memcmp(one, ids[i], k * sizeof *one));
        CHECK(ids[i][0] == 101 && ids[i][k - 1] == 102); /* [CLS] ... [SEP] */
        ember_free(one), ember_free(ids[i]);
    }
    ember_pool_destroy(pool);
    ember_tokenizer_close(tok);
}

static void test_llama2c_tokenizer_bin(void) {
    ember_tokenizer *bin = open_shared(L2C "tokenizer.bin");
    SKIP_IF(!bin, "../shared/llm/llama2c is absent");
    ember_tokenizer *gguf = open_shared(LCPP "ggml-vocab-llama-spm.gguf");
    const char *texts[] = {"Once upon a time, there was a little girl.", "Hello world", "  leading", "naïve 日本 🦙\n\tx"};
    for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++) {
        char a[1024];
        snprintf(a, sizeof a, "%s", enc(bin, texts[i], true));
        CHECK(!strncmp(a, "1 ", 2)); /* BOS */
        if (gguf) CHECK_MSG(!strcmp(a, enc(gguf, texts[i], true)), "'%s': bin %s vs gguf %s", texts[i], a, enc(gguf, texts[i], true));
        int32_t *ids = NULL;
        size_t n = 0;
        char *back = NULL;
        size_t bl;
        CHECK(ember_tokenizer_encode(bin, texts[i], strlen(texts[i]), true, &ids, &n) == EMBER_OK);
        CHECK(ember_tokenizer_decode(bin, ids, n, true, &back, &bl) == EMBER_OK);
        CHECK_STR(back, texts[i]);
        ember_free(ids), ember_free(back);
    }
    CHECK_STR(enc(bin, "Hello world", false), "15043 3186");
    ember_tokenizer_close(gguf);
    ember_tokenizer_close(bin);
    ember_tokenizer *small = open_shared(L2C "tok512.bin");
    if (small) {
        CHECK_EQ(ember_tokenizer_vocab_size(small), 512);
        CHECK_STR(dec(small, "1 403 407 261 378", true), dec(small, "403 407 261 378", false));
        ember_tokenizer_close(small);
    }
}

static void test_gguf_vocab(void) {
    ember_gguf *g = NULL;
    SKIP_IF(access(LCPP "ggml-vocab-bert-bge.gguf", R_OK), "../shared is absent");
    CHECK(ember_gguf_open(LCPP "ggml-vocab-bert-bge.gguf", &g) == EMBER_OK);
    ember_tokenizer *tok = NULL;
    CHECK(ember_tokenizer_from_gguf(g, &tok) == EMBER_OK);
    ember_gguf_close(g); /* the tokenizer keeps nothing of it */
    if (!tok) return;
    CHECK_STR(enc(tok, "Hello, world!", true), "101 7592 1010 2088 999 102");
    CHECK_STR(ember_tokenizer_token(tok, 2088), "world");
    CHECK_EQ(ember_tokenizer_special(tok, EMBER_TOKEN_CLS), 101);
    CHECK_STR(dec(tok, "101 7592 1010 2088 999 102", true), "hello, world!");
    ember_tokenizer_close(tok);
}

/* Truncated and corrupted files give clear errors, never crashes. */
/* Every GGUF `pre` type Ember knows builds a working pipeline (a byte-level vocabulary of the 256 bytes
 * plus one merge): text round-trips and the regexes compile. */
static void test_gguf_pre_types(void) {
    static const char *const pres[] = {"default", "gpt-2", "mpt", "olmo", "starcoder", "refact", "command-r", "smollm",
                                       "llama3", "llama-bpe", "dbrx", "smaug-bpe", "qwen2", "stablelm2", "chatglm-bpe",
                                       "seed-coder", "bailingmoe", "gpt-4o", "tekken", "deepseek-llm", "deepseek-coder",
                                       "deepseek-v3", "falcon", NULL};
    char pieces[257][16];
    const char *ptrs[257];
    for (int b = 0; b < 256; b++) { /* GPT-2's byte to character mapping */
        uint32_t cp = (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174) ? (uint32_t)b : 0;
        if (!cp) {
            int k = 0;
            for (int x = 0; x < b; x++) k += !((x >= 33 && x <= 126) || (x >= 161 && x <= 172) || (x >= 174));
            cp = 256 + (uint32_t)k;
        }
        if (cp < 0x80) pieces[b][0] = (char)cp, pieces[b][1] = 0;
        else pieces[b][0] = (char)(0xC0 | cp >> 6), pieces[b][1] = (char)(0x80 | (cp & 0x3F)), pieces[b][2] = 0;
        ptrs[b] = pieces[b];
    }
    char gt[24];
    snprintf(gt, sizeof gt, "%.8st", pieces[' ']);
    ptrs[256] = gt;
    char merge[40];
    snprintf(merge, sizeof merge, "%.8s t", pieces[' ']);
    const char *merges[1] = {merge};
    static const char text[] = "Hello  world's 12345 ½ naïve 日本語 \r\n\tcode(x)+1; Ελληνικά!";
    for (int i = 0; pres[i]; i++) {
        ember_gguf_writer *w = NULL;
        CHECK(ember_gguf_writer_create(&w) == EMBER_OK);
        if (!w) return;
        ember_gguf_writer_set_str(w, "tokenizer.ggml.model", "gpt2");
        ember_gguf_writer_set_str(w, "tokenizer.ggml.pre", pres[i]);
        ember_gguf_writer_set_strs(w, "tokenizer.ggml.tokens", ptrs, NULL, 257);
        ember_gguf_writer_set_strs(w, "tokenizer.ggml.merges", merges, NULL, 1);
        char path[256];
        snprintf(path, sizeof path, "%s/ember-tok-pre-%d.gguf", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp", (int)getpid());
        CHECK(ember_gguf_writer_write(w, path, NULL, NULL) == EMBER_OK);
        ember_gguf_writer_destroy(w);
        ember_tokenizer *tok = NULL;
        ember_status st = ember_tokenizer_open(path, &tok);
        remove(path);
        CHECK_MSG(st == EMBER_OK, "pre \"%s\": %s", pres[i], ember_last_error());
        if (!tok) continue;
        int32_t *ids = NULL;
        size_t n = 0;
        char *back = NULL;
        size_t bl = 0;
        CHECK(ember_tokenizer_encode(tok, text, sizeof text - 1, false, &ids, &n) == EMBER_OK);
        CHECK(ember_tokenizer_decode(tok, ids, n, false, &back, &bl) == EMBER_OK);
        CHECK_MSG(back && bl == sizeof text - 1 && !memcmp(back, text, bl), "pre \"%s\" does not round-trip", pres[i]);
        ember_free(ids), ember_free(back);
        ember_tokenizer_close(tok);
    }
}

static void test_bad_files(void) {
    char path[] = "/tmp/ember_tok_XXXXXX";
    int fd = mkstemp(path);
    SKIP_IF(fd < 0, "cannot create a temporary file");
    close(fd);
    const char *contents[] = {"", "{", "{\"model\": 3}", "GGUF\x03\0\0\0", "\x10\0\0\0\0\0\0\0\xff\xff\xff\x7f"};
    size_t lens[] = {0, 1, 12, 8, 12};
    for (size_t i = 0; i < 5; i++) {
        FILE *f = fopen(path, "wb");
        fwrite(contents[i], 1, lens[i], f);
        fclose(f);
        ember_tokenizer *tok = NULL;
        ember_status s = ember_tokenizer_open(path, &tok);
        CHECK_MSG(s != EMBER_OK && !tok, "case %zu opened", i);
        CHECK_MSG(strstr(ember_last_error(), path) || strstr(ember_last_error(), "ember_tok"), "case %zu: '%s'", i, ember_last_error());
    }
    /* every truncation of a real tokenizer.bin fails cleanly or loads */
    if (!access(L2C "tok512.bin", R_OK)) {
        FILE *in = fopen(L2C "tok512.bin", "rb");
        static char buf[1 << 16];
        size_t n = fread(buf, 1, sizeof buf, in);
        fclose(in);
        for (size_t cut = 0; cut < n; cut += 97) {
            FILE *f = fopen(path, "wb");
            fwrite(buf, 1, cut, f);
            fclose(f);
            ember_tokenizer *tok = NULL;
            if (ember_tokenizer_open(path, &tok) == EMBER_OK) ember_tokenizer_close(tok);
        }
    }
    ember_tokenizer *tok = NULL;
    CHECK(ember_tokenizer_open("/nonexistent/tokenizer.json", &tok) == EMBER_ERR_IO);
    unlink(path);
}

int main(void) {
    RUN(test_json_values);
    RUN(test_json_errors);
    RUN(test_regex_match);
    RUN(test_regex_errors);
    RUN(test_split_behaviors);
    RUN(test_bpe_merges);
    RUN(test_added_tokens);
    RUN(test_wordpiece_unigram);
    RUN(test_normalizers_decoders);
    RUN(test_post_processing);
    RUN(test_bad_json_tokenizers);
    RUN(test_offsets_and_invalid_utf8);
    RUN(test_long_inputs);
    RUN(test_batch);
    RUN(test_llama2c_tokenizer_bin);
    RUN(test_gguf_vocab);
    RUN(test_gguf_pre_types);
    RUN(test_bad_files);
    return check_done();
}
