/* `ember generate`: continue a prompt with a language model, streaming the text as it is sampled. Stops after
 * N tokens, at the end-of-sequence token (or a BOS, as llama2.c does), or at a --stop string. */
#include "cli/llm_cli.h"

#include <stdlib.h>
#include <string.h>

static const cli_opt opts[] = {
    {"model", 'm', "FILE", "GGUF model or llama2.c checkpoint"},
    {"prompt", 'p', "TEXT", "text to continue (default: empty, i.e. start from BOS)"},
    {"n", 'n', "N", "tokens to generate (default 256)"},
    LLM_CLI_SAMPLER_OPTS,
    {"stop", OPT_STOP, "STR", "stop before this text (repeatable)"},
    {"tokenizer", OPT_TOKENIZER, "FILE", "tokenizer (default: the GGUF's, or tokenizer.bin beside a .bin model)"},
    {"ctx", OPT_CTX, "N", "context length (default: min(model's, 4096)); a full context shifts"},
    {"kv", OPT_KV, "TYPE", "KV cache type: f16 (default), q8 or f32"},
    {"batch", OPT_BATCH, "N", "prompt tokens per batch (default 64)"},
    {0},
};
static const cli_help help = {"generate", "-m MODEL [-p PROMPT] [-n N] [--temp T] [--seed S] ...",
                              "Generate text with a language model, streamed to stdout.", opts, CLI_THREADS,
                              "Speed is reported on stderr. --temp 0 is greedy decoding (deterministic)."};

enum { MAX_STOPS = 16 };

int cmd_generate(int argc, char **argv) {
    cli_parser p;
    cli_begin(&p, &help, argc, argv);
    llm_cli c = {0};
    ember_sampler_params sp = ember_sampler_defaults();
    bool seeded = false, bad = false;
    const char *prompt = "", *tok_path = NULL, *stops[MAX_STOPS];
    int nstops = 0;
    long n_gen = 256;
    int k;
    while ((k = cli_next(&p)) > 0) {
        if (llm_cli_option(&p, &c, k, &bad)) continue;
        if (llm_cli_sampler_option(&p, &sp, k, &bad)) {
            seeded |= k == OPT_SEED;
            continue;
        }
        if (k == 'm') c.model_path = p.arg;
        else if (k == 'p') prompt = p.arg;
        else if (k == 'n') bad |= !cli_int(&p, p.arg, 0, 1 << 24, &n_gen);
        else if (k == OPT_TOKENIZER) tok_path = p.arg;
        else if (k == OPT_STOP) {
            if (!*p.arg || nstops == MAX_STOPS) {
                cli_usage(&p, "--stop needs a non-empty text (at most %d of them)", MAX_STOPS);
                bad = true;
            } else {
                stops[nstops++] = p.arg;
            }
        }
    }
    if (k < 0) return cli_stop(k);
    if (bad) return CLI_EXIT_USAGE;
    if (!c.model_path) return cli_usage(&p, "-m MODEL is required");
    if (p.npos) return cli_usage(&p, "unexpected argument '%s' (the prompt goes after -p)", p.pos[0]);
    if (!seeded) sp.seed = (uint64_t)(llm_cli_now() * 1e6);
    int rc = llm_cli_open(&p, &c);
    if (rc) return rc;
    if ((rc = llm_cli_open_tokenizer(&c, tok_path))) {
        llm_cli_close(&c);
        return rc;
    }
    const ember_llm_info *in = ember_llm_info_get(c.model);
    int32_t bos = ember_tokenizer_special(c.tok, EMBER_TOKEN_BOS), eos = ember_tokenizer_special(c.tok, EMBER_TOKEN_EOS);
    if (bos < 0) bos = in->bos;
    if (eos < 0) eos = in->eos;
    int32_t *ids = NULL;
    size_t n = 0;
    ember_sampler *smp = NULL;
    ember_status s = ember_tokenizer_encode(c.tok, prompt, strlen(prompt), true, &ids, &n);
    if (!s && n == 0) {
        if (bos < 0) s = ember_fail(EMBER_ERR_ARG, "the prompt is empty and the model has no BOS token to start from");
        else if (!(ids = ember_malloc(sizeof *ids))) s = ember_fail(EMBER_ERR_NOMEM, "out of memory");
        else ids[n++] = bos;
    }
    c.n_keep = n && ids[0] == bos ? 1 : 0;
    if (!s) s = ember_sampler_create(&sp, &smp);
    for (size_t i = 0; !s && i < n; i++) ember_sampler_accept(smp, ids[i]);
    const float *logits = NULL;
    double t0 = llm_cli_now(), t_prompt = 0;
    if (!s) s = llm_cli_feed(&c, ids, (int)n, &logits);
    t_prompt = llm_cli_now() - t0;
    if (!s) { /* the prompt as given, then the continuation */
        fputs(prompt, stdout);
        fflush(stdout);
    }
    llm_stream st = {.out = stdout, .stops = stops, .nstops = nstops};
    int32_t prev = n ? ids[n - 1] : -1;
    long made = 0;
    double t1 = llm_cli_now();
    while (!s && made < n_gen) {
        int32_t next = ember_sampler_sample(smp, logits, in->n_vocab);
        made++;
        if (next == eos || next == bos) break;
        char piece[256];
        size_t len = llm_cli_piece(&c, prev, next, piece, sizeof piece);
        if (!llm_stream_push(&st, piece, len)) break;
        prev = next;
        if (made < n_gen) s = llm_cli_feed(&c, &next, 1, &logits);
    }
    double t_gen = llm_cli_now() - t1;
    llm_stream_end(&st);
    if (!s) {
        printf("\n");
        fflush(stdout);
        fprintf(stderr, "[prompt: %zu tokens, %.2f tokens/s | generated: %ld tokens, %.2f tokens/s]\n", n,
                t_prompt > 0 ? n / t_prompt : 0.0, made, t_gen > 0 ? made / t_gen : 0.0);
    }
    ember_sampler_destroy(smp);
    ember_free(ids);
    llm_cli_close(&c);
    return s ? cli_fail(s) : CLI_OK;
}
