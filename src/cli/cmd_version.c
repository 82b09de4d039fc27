/* `ember version`: the library version, the build's architecture, and the CPU features in use. */
#include "cli/cli.h"

static const cli_help help = {
    "version", "", "Print Ember's version and the CPU features its kernels will use.", NULL, CLI_JSON,
    "EMBER_CPU=generic (or EMBER_CPU=-avx512f,...) turns features off, e.g. to compare kernels.",
};

int cmd_version(int argc, char **argv) {
    cli_parser p;
    cli_begin(&p, &help, argc, argv);
    int k;
    while ((k = cli_next(&p)) > 0) {}
    if (k < 0) return cli_stop(k);
    if (p.npos) return cli_usage(&p, "takes no arguments");
    char cpu[512];
    ember_cpu_describe(cpu, sizeof cpu);
    if (p.json) {
        printf("{\"version\": \"%s\", \"cpu\": ", ember_version());
        cli_json_string(stdout, cpu);
        printf("}\n");
    } else {
        printf("ember %s\ncpu: %s\n", ember_version(), cpu);
    }
    return CLI_OK;
}
