/* `ember llm-bench`: prompt processing and generation speed in tokens/s, measured like llama-bench
 * (pp: one batch of P tokens from an empty cache; tg: N single-token steps from an empty cache). */
#include "cli/llm_cli.h"

#include <stdlib.h>

static const cli_opt opts[] = {
    {"model", 'm', "FILE", "GGUF model or llama2.c checkpoint"},
    {"prompt", 'p', "P", "prompt tokens (default 64; 0 skips)"},
    {"gen", 'n', "N", "generated tokens (default 32; 0 skips)"},
    {"reps", 'r', "R", "repetitions, after one warm-up (default 3)"},
    {"kv", OPT_KV, "TYPE", "KV cache type: f16, q8 or f32"},
    {0},
};
static const cli_help help = {"llm-bench", "-m MODEL [-p 64] [-n 32] [-r 3]",
                              "Measure prompt (pp) and generation (tg) tokens per second.", opts,
                              CLI_THREADS | CLI_JSON, NULL};

/* Seconds for one pass: the prompt as one batch, or n_gen single steps. */
static double run_once(llm_cli *c, const int32_t *ids, int n, bool batch) {
    ember_llm_rewind(c->session, 0);
    double t0 = llm_cli_now();
    if (batch) ember_llm_eval(c->session, ids, n, NULL);
    else
        for (int i = 0; i < n; i++) ember_llm_eval(c->session, ids + i, 1, NULL);
    return llm_cli_now() - t0;
}

static double tps(llm_cli *c, const int32_t *ids, int n, bool batch, int reps) {
    if (!n) return 0;
    run_once(c, ids, n, batch); /* warm-up: page in the weights, settle the threads */
    double total = 0;
    for (int r = 0; r < reps; r++) total += run_once(c, ids, n, batch);
    return n * reps / total;
}

int cmd_llm_bench(int argc, char **argv) {
    cli_parser p;
    cli_begin(&p, &help, argc, argv);
    llm_cli c = {0};
    long np = 64, ng = 32, reps = 3;
    bool bad = false;
    int k;
    while ((k = cli_next(&p)) > 0) {
        if (llm_cli_option(&p, &c, k, &bad)) continue;
        if (k == 'm') c.model_path = p.arg;
        else if (k == 'p') bad |= !cli_int(&p, p.arg, 0, 1 << 16, &np);
        else if (k == 'n') bad |= !cli_int(&p, p.arg, 0, 1 << 16, &ng);
        else if (k == 'r') bad |= !cli_int(&p, p.arg, 1, 1000, &reps);
    }
    if (k < 0) return cli_stop(k);
    if (bad) return CLI_EXIT_USAGE;
    if (!c.model_path) return cli_usage(&p, "-m MODEL is required");
    if (p.npos) return cli_usage(&p, "unexpected argument '%s'", p.pos[0]);
    c.n_ctx = (int)(np > ng ? np : ng) + 1;
    c.n_batch = np > 0 ? (int)np : 1;
    int rc = llm_cli_open(&p, &c);
    if (rc) return rc;
    const ember_llm_info *in = ember_llm_info_get(c.model);
    int n = (int)(np > ng ? np : ng);
    int32_t *ids = malloc((size_t)(n ? n : 1) * sizeof *ids);
    uint64_t x = 12345;
    for (int i = 0; i < n; i++) { /* fixed pseudo-random tokens */
        x = x * 6364136223846793005ull + 1442695040888963407ull;
        ids[i] = (int32_t)((x >> 33) % (uint64_t)in->n_vocab);
    }
    double pp = tps(&c, ids, (int)np, true, (int)reps), tg = tps(&c, ids, (int)ng, false, (int)reps);
    int threads = ember_pool_threads(c.pool);
    if (p.json) {
        printf("{\"model\": ");
        cli_json_string(stdout, c.model_path);
        printf(", \"type\": \"%s\", \"params\": %llu, \"bytes\": %llu, \"threads\": %d, \"pp\": %ld, \"tg\": %ld, "
               "\"pp_tps\": %.3f, \"tg_tps\": %.3f}\n", ember_ggml_type_name(in->main_type),
               (unsigned long long)in->n_params, (unsigned long long)in->weight_bytes, threads, np, ng, pp, tg);
    } else {
        /* sizes in the unit that shows them (a 260K-parameter model is not "0.00 B") */
        double np_ = (double)in->n_params, nb = (double)in->weight_bytes;
        const char *pu = np_ >= 1e9 ? "B" : np_ >= 1e6 ? "M" : "K", *bu = nb >= 1073741824.0 ? "GiB" : "MiB";
        printf("model: %s (%s %s, %.2f%s params, %.2f %s)  threads: %d\n", c.model_path, in->arch_name,
               ember_ggml_type_name(in->main_type), np_ / (np_ >= 1e9 ? 1e9 : np_ >= 1e6 ? 1e6 : 1e3), pu,
               nb / (nb >= 1073741824.0 ? 1073741824.0 : 1048576.0), bu, threads);
        if (np) printf("pp%-5ld %10.2f tokens/s\n", np, pp);
        if (ng) printf("tg%-5ld %10.2f tokens/s\n", ng, tg);
    }
    free(ids);
    llm_cli_close(&c);
    return CLI_OK;
}
