/* `ember tokenize` and `ember detokenize`: text to token ids and back with any supported tokenizer. */
#include "cli/cli.h"

#include "ember/tokenizer.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

enum { OPT_TOKENIZER = 't', OPT_SPECIAL = 256, OPT_TOKENS, OPT_LINES, OPT_THREADS, OPT_SKIP, OPT_PAIR };

static const cli_opt tok_opts[] = {
    {"tokenizer", OPT_TOKENIZER, "FILE", "tokenizer.json, a GGUF file or a llama2.c tokenizer.bin (required)"},
    {"special", OPT_SPECIAL, NULL, "add the special tokens the tokenizer is configured to add (BOS, [CLS] ...)"},
    {"tokens", OPT_TOKENS, NULL, "print the token strings instead of the ids"},
    {"pair", OPT_PAIR, "TEXT", "a second text encoded with the first as a pair (e.g. query and passage)"},
    {"lines", OPT_LINES, NULL, "encode each input line on its own (one output line each, in parallel)"},
    {"threads", OPT_THREADS, "N", "threads for --lines (default: one per core)"},
    {0},
};
static const cli_help tok_help = {
    "tokenize", "-t TOKENIZER [TEXT]", "Encode TEXT (or standard input) to token ids.", tok_opts, CLI_JSON,
    "Ids are printed separated by spaces. --json prints {\"ids\", \"tokens\", \"offsets\", \"type_ids\",\n"
    "\"special_mask\", \"attention_mask\", \"sequence\"}; offsets are byte offsets into the text (into the pair\n"
    "for its tokens). Truncation and padding configured in a tokenizer.json apply. Special tokens written in\n"
    "the text (e.g. <|im_end|>) are always recognised.",
};

static const cli_opt detok_opts[] = {
    {"tokenizer", OPT_TOKENIZER, "FILE", "tokenizer.json, a GGUF file or a llama2.c tokenizer.bin (required)"},
    {"skip-special", OPT_SKIP, NULL, "leave special tokens out of the text"},
    {0},
};
static const cli_help detok_help = {
    "detokenize", "-t TOKENIZER [IDS...]", "Decode token ids (arguments or standard input) to text.", detok_opts, 0, NULL,
};

static char *read_all(FILE *f, size_t *len) {
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap);
    while (buf) {
        n += fread(buf + n, 1, cap - n, f);
        if (n < cap) break;
        char *b = realloc(buf, cap *= 2);
        if (!b) free(buf);
        buf = b;
    }
    if (buf && ferror(f)) {
        free(buf);
        return NULL;
    }
    *len = n;
    return buf;
}

static void print_ids(const ember_tokenizer *tok, const int32_t *ids, size_t n, bool tokens) {
    for (size_t i = 0; i < n; i++) {
        if (i) putchar(' ');
        if (tokens) fputs(ember_tokenizer_token(tok, ids[i]), stdout);
        else printf("%d", ids[i]);
    }
    putchar('\n');
}

static void print_json(const ember_tokenizer *tok, const ember_encoding *e) {
    size_t n = e->n;
    printf("{\"ids\": [");
    for (size_t i = 0; i < n; i++) printf("%s%d", i ? ", " : "", e->ids[i]);
    printf("], \"tokens\": [");
    for (size_t i = 0; i < n; i++) {
        if (i) printf(", ");
        cli_json_string(stdout, ember_tokenizer_token(tok, e->ids[i]));
    }
    printf("], \"offsets\": [");
    for (size_t i = 0; i < n; i++) printf("%s[%u, %u]", i ? ", " : "", e->spans[i].begin, e->spans[i].end);
    printf("], \"type_ids\": [");
    for (size_t i = 0; i < n; i++) printf("%s%u", i ? ", " : "", e->type_ids[i]);
    printf("], \"special_mask\": [");
    for (size_t i = 0; i < n; i++) printf("%s%u", i ? ", " : "", e->special_mask[i]);
    printf("], \"attention_mask\": [");
    for (size_t i = 0; i < n; i++) printf("%s%u", i ? ", " : "", e->attention_mask[i]);
    printf("], \"sequence\": [");
    for (size_t i = 0; i < n; i++) printf("%s%d", i ? ", " : "", e->sequence[i]);
    printf("]}\n");
}

/* --lines: every line is a text; encoded as a batch on the pool. */
static int encode_lines(const ember_tokenizer *tok, char *text, size_t len, bool special, bool tokens, int threads) {
    size_t count = 0;
    for (size_t i = 0; i < len; i++) count += text[i] == '\n';
    if (len && text[len - 1] != '\n') count++;
    const char **texts = calloc(count + 1, sizeof *texts);
    size_t *lens = calloc(count + 1, sizeof *lens), *ns = calloc(count + 1, sizeof *ns);
    int32_t **ids = calloc(count + 1, sizeof *ids);
    ember_pool *pool = NULL;
    ember_status s = texts && lens && ns && ids ? ember_pool_create(threads, &pool) : EMBER_ERR_NOMEM;
    if (!s) {
        size_t k = 0, start = 0;
        for (size_t i = 0; i <= len && k < count; i++)
            if (i == len || text[i] == '\n') texts[k] = text + start, lens[k++] = i - start, start = i + 1;
        s = ember_tokenizer_encode_batch(tok, pool, texts, lens, count, special, ids, ns);
    }
    if (!s)
        for (size_t i = 0; i < count; i++) print_ids(tok, ids[i], ns[i], tokens);
    for (size_t i = 0; !s && i < count; i++) ember_free(ids[i]);
    ember_pool_destroy(pool);
    free(texts), free(lens), free(ns), free(ids);
    if (s == EMBER_ERR_NOMEM && !*ember_last_error()) ember_fail(s, "out of memory");
    return s ? cli_fail(s) : CLI_OK;
}

int cmd_tokenize(int argc, char **argv) {
    cli_parser p;
    cli_begin(&p, &tok_help, argc, argv);
    const char *path = NULL, *pair = NULL;
    bool special = false, tokens = false, lines = false;
    long threads = 0;
    int k;
    while ((k = cli_next(&p)) > 0) {
        if (k == OPT_TOKENIZER) path = p.arg;
        else if (k == OPT_SPECIAL) special = true;
        else if (k == OPT_TOKENS) tokens = true;
        else if (k == OPT_LINES) lines = true;
        else if (k == OPT_PAIR) pair = p.arg;
        else if (k == OPT_THREADS && !cli_int(&p, p.arg, 0, 1024, &threads)) return CLI_EXIT_USAGE;
    }
    if (k < 0) return cli_stop(k);
    if (!path) return cli_usage(&p, "-t TOKENIZER is required");
    if (p.npos > 1) return cli_usage(&p, "expected at most one TEXT (quote it)");
    if (pair && lines) return cli_usage(&p, "--pair and --lines do not go together");
    ember_tokenizer *tok = NULL;
    ember_status s = ember_tokenizer_open(path, &tok);
    if (s) return cli_fail(s);
    char *text;
    size_t len;
    if (p.npos) text = strdup(p.pos[0]), len = strlen(p.pos[0]);
    else text = read_all(stdin, &len);
    if (!text) {
        ember_tokenizer_close(tok);
        fprintf(stderr, "ember: error: cannot read the text: %s\n", strerror(errno));
        return CLI_EXIT_INPUT;
    }
    int rc = CLI_OK;
    if (lines) {
        rc = encode_lines(tok, text, len, special, tokens, (int)threads);
    } else {
        ember_encoding e;
        s = ember_tokenizer_encode_full(tok, text, len, pair, pair ? strlen(pair) : 0, special, &e);
        if (s) rc = cli_fail(s);
        else if (p.json) print_json(tok, &e);
        else print_ids(tok, e.ids, e.n, tokens);
        ember_encoding_free(&e);
    }
    free(text);
    ember_tokenizer_close(tok);
    return rc;
}

/* Parses ids from a whitespace/comma separated string into *ids (growing it). */
static bool parse_ids(const char *s, int32_t **ids, size_t *n, size_t *cap) {
    while (*s) {
        while (*s == ' ' || *s == '\t' || *s == '\n' || *s == '\r' || *s == ',' || *s == '[' || *s == ']') s++;
        if (!*s) break;
        char *end;
        errno = 0;
        long v = strtol(s, &end, 10);
        if (end == s || errno || v < 0 || v > INT32_MAX) return false;
        if (*n == *cap) {
            *cap = *cap ? *cap * 2 : 256;
            int32_t *p = realloc(*ids, *cap * sizeof *p);
            if (!p) return false;
            *ids = p;
        }
        (*ids)[(*n)++] = (int32_t)v;
        s = end;
    }
    return true;
}

int cmd_detokenize(int argc, char **argv) {
    cli_parser p;
    cli_begin(&p, &detok_help, argc, argv);
    const char *path = NULL;
    bool skip = false;
    int k;
    while ((k = cli_next(&p)) > 0) {
        if (k == OPT_TOKENIZER) path = p.arg;
        else if (k == OPT_SKIP) skip = true;
    }
    if (k < 0) return cli_stop(k);
    if (!path) return cli_usage(&p, "-t TOKENIZER is required");
    int32_t *ids = NULL;
    size_t n = 0, cap = 0;
    bool ok = true;
    if (p.npos) {
        for (int i = 0; i < p.npos && ok; i++) ok = parse_ids(p.pos[i], &ids, &n, &cap);
    } else {
        size_t len;
        char *in = read_all(stdin, &len);
        char *z = in ? realloc(in, len + 1) : NULL;
        if (!z) free(in);
        if (z) z[len] = 0;
        ok = z && parse_ids(z, &ids, &n, &cap);
        free(z);
    }
    if (!ok) {
        free(ids);
        return cli_usage(&p, "IDS must be non-negative integers");
    }
    ember_tokenizer *tok = NULL;
    ember_status s = ember_tokenizer_open(path, &tok);
    char *text = NULL;
    size_t len = 0;
    if (!s) s = ember_tokenizer_decode(tok, ids, n, skip, &text, &len);
    free(ids);
    ember_tokenizer_close(tok);
    if (s) return cli_fail(s);
    fwrite(text, 1, len, stdout);
    putchar('\n');
    ember_free(text);
    return CLI_OK;
}
