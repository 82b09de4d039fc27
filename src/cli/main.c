/* `ember <verb> [options]`: find the verb, run it, return its exit code. */
#include "cli/cli.h"
#include "cli/verbs.h"

#include <string.h>

#define DECLARE(name, summary) int cmd_##name(int argc, char **argv);
EMBER_VERBS(DECLARE)

static const struct {
    const char *name, *summary;
    int (*run)(int argc, char **argv);
} verbs[] = {
#define ENTRY(name, summary) {#name, summary, cmd_##name},
    EMBER_VERBS(ENTRY)
};
enum { NVERBS = sizeof verbs / sizeof verbs[0] };

/* Verb names are C identifiers; on the command line '-' stands for '_' (llm-bench). */
static bool same_verb(const char *typed, const char *name) {
    for (; *typed && *name; typed++, name++)
        if (*typed != *name && !(*typed == '-' && *name == '_')) return false;
    return *typed == *name;
}

static void usage(FILE *f) {
    fprintf(f, "usage: ember <verb> [options]\n\nEmber %s runs ONNX models and GGUF language models on small CPUs.\n\n"
               "verbs:\n", ember_version());
    for (int i = 0; i < NVERBS; i++) {
        char name[32];
        snprintf(name, sizeof name, "%s", verbs[i].name);
        for (char *c = name; *c; c++)
            if (*c == '_') *c = '-';
        fprintf(f, "  %-12s %s\n", name, verbs[i].summary);
    }
    fprintf(f, "\n'ember <verb> --help' tells more. Common options: -t/--threads N, -v/--verbose, --json.\n"
               "Exit codes: 0 ok, 1 usage error, 2 bad input, 3 internal error.\n");
}

int main(int argc, char **argv) {
    if (argc < 2) {
        usage(stderr);
        return CLI_EXIT_USAGE;
    }
    const char *verb = argv[1];
    if (!strcmp(verb, "--help") || !strcmp(verb, "-h") || !strcmp(verb, "help")) {
        usage(stdout);
        return CLI_OK;
    }
    if (!strcmp(verb, "--version")) verb = "version";
    for (int i = 0; i < NVERBS; i++)
        if (same_verb(verb, verbs[i].name)) return verbs[i].run(argc - 1, argv + 1);
    fprintf(stderr, "ember: unknown verb '%s' (see 'ember --help')\n", verb);
    return CLI_EXIT_USAGE;
}
