/* `ember logits`: raw float32 logits of the last (or every) position for a list of token ids. */
#include "cli/llm_cli.h"

#include <stdlib.h>
#include <string.h>

static const cli_opt opts[] = {
    {"model", 'm', "FILE", "GGUF model or llama2.c checkpoint"},
    {"tokens", OPT_TOKENS, "IDS", "comma-separated token ids, e.g. 1,403,407"},
    {"all", OPT_ALL, NULL, "logits of every position ([n][n_vocab]) instead of the last"},
    {"output", 'o', "FILE", "write little-endian float32 logits to FILE (else print the top 5)"},
    {"ctx", OPT_CTX, "N", "context length (default: the number of tokens)"},
    {"kv", OPT_KV, "TYPE", "KV cache type: f16, q8 or f32 (default: f32 for F32 models, else f16)"},
    {"batch", OPT_BATCH, "N", "prompt tokens per batch (default 64)"},
    {0},
};
static const cli_help help = {"logits", "-m MODEL --tokens IDS [-o FILE] [--all]",
                              "Compute next-token logits for token ids.", opts, CLI_THREADS | CLI_JSON, NULL};

static void print_top(const float *lg, int nv, bool json) {
    int top[5] = {-1, -1, -1, -1, -1};
    for (int i = 0; i < nv; i++)
        for (int k = 0; k < 5; k++)
            if (top[k] < 0 || lg[i] > lg[top[k]]) {
                memmove(top + k + 1, top + k, (size_t)(4 - k) * sizeof *top);
                top[k] = i;
                break;
            }
    if (json) printf("{\"n_vocab\": %d, \"top\": [", nv);
    for (int k = 0; k < 5 && top[k] >= 0; k++) {
        if (json) printf("%s{\"id\": %d, \"logit\": %.6g}", k ? ", " : "", top[k], lg[top[k]]);
        else printf("%d\t%.6f\n", top[k], lg[top[k]]);
    }
    if (json) printf("]}\n");
}

int cmd_logits(int argc, char **argv) {
    cli_parser p;
    cli_begin(&p, &help, argc, argv);
    llm_cli c = {0};
    const char *tokens = NULL, *out = NULL;
    bool all = false, bad = false;
    int k;
    while ((k = cli_next(&p)) > 0) {
        if (llm_cli_option(&p, &c, k, &bad)) continue;
        if (k == 'm') c.model_path = p.arg;
        else if (k == OPT_TOKENS) tokens = p.arg;
        else if (k == OPT_ALL) all = true;
        else if (k == 'o') out = p.arg;
    }
    if (k < 0) return cli_stop(k);
    if (bad) return CLI_EXIT_USAGE;
    if (!c.model_path) return cli_usage(&p, "-m MODEL is required");
    if (!tokens) return cli_usage(&p, "--tokens is required");
    if (p.npos) return cli_usage(&p, "unexpected argument '%s'", p.pos[0]);
    int32_t *ids;
    int n;
    if (!llm_cli_parse_ids(tokens, &ids, &n)) return cli_usage(&p, "--tokens must be comma-separated ids (got '%s')", tokens);
    if (!c.n_ctx) c.n_ctx = n;
    int rc = llm_cli_open(&p, &c);
    if (rc) {
        free(ids);
        return rc;
    }
    int nv = ember_llm_info_get(c.model)->n_vocab;
    float *lg = malloc((size_t)(all ? n : 1) * (size_t)nv * sizeof *lg);
    const float *last = NULL;
    ember_status s = !lg ? ember_fail(EMBER_ERR_NOMEM, "out of memory")
                   : all ? ember_llm_eval_all(c.session, ids, n, lg)
                         : ember_llm_eval(c.session, ids, n, &last);
    if (!s && !all) memcpy(lg, last, (size_t)nv * sizeof *lg);
    if (!s && out) {
        FILE *f = fopen(out, "wb");
        size_t count = (size_t)(all ? n : 1) * (size_t)nv;
        if (!f || fwrite(lg, sizeof *lg, count, f) != count) s = ember_fail(EMBER_ERR_IO, "%s: cannot write", out);
        if (f && fclose(f) && !s) s = ember_fail(EMBER_ERR_IO, "%s: cannot write", out);
    } else if (!s) {
        print_top(lg + (size_t)(all ? n - 1 : 0) * nv, nv, p.json);
    }
    free(lg);
    free(ids);
    llm_cli_close(&c);
    return s ? cli_fail(s) : CLI_OK;
}
