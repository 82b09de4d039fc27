/* `ember quantize IN.gguf OUT.gguf TYPE`: convert a GGUF model's weights to another type. */
#include "cli/cli.h"
#include "ember/llm.h"

#include <stdio.h>

static const cli_help help = {
    "quantize", "IN.gguf OUT.gguf TYPE", "Write a GGUF model with its 2-D weights converted to TYPE.", NULL,
    CLI_THREADS,
    "TYPE: F32 F16 BF16 Q8_0 Q4_0 Q4_1 Q5_0 Q5_1 Q2_K Q3_K Q4_K Q5_K Q6_K. Norms, biases and rows that do not\n"
    "fit the type's block keep their type. Metadata is copied; general.file_type is updated.",
};

static void show_progress(void *user, int64_t done, int64_t total) {
    cli_progress *bar = user;
    bar->total = total > 0 ? total : 1;
    cli_progress_step(bar, done);
}

int cmd_quantize(int argc, char **argv) {
    cli_parser p;
    cli_begin(&p, &help, argc, argv);
    int k;
    while ((k = cli_next(&p)) > 0) {}
    if (k < 0) return cli_stop(k);
    if (p.npos != 3) return cli_usage(&p, "expected IN.gguf OUT.gguf TYPE");
    int type = ember_ggml_type_from_name(p.pos[2]);
    if (type < 0) return cli_usage(&p, "unknown type '%s'", p.pos[2]);
    ember_pool *pool = NULL;
    ember_status s = ember_pool_create(p.threads, &pool);
    cli_progress bar;
    cli_progress_begin(&bar, "quantizing", 1);
    if (!s) s = ember_llm_quantize(p.pos[0], p.pos[1], (ember_ggml_type)type, pool, show_progress, &bar);
    cli_progress_end(&bar);
    ember_pool_destroy(pool);
    if (s) return cli_fail(s);
    if (p.verbose) fprintf(stderr, "wrote %s (%s)\n", p.pos[1], p.pos[2]);
    return CLI_OK;
}
