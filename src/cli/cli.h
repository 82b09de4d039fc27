/* Shared pieces of the `ember` command: the verb table, option parsing, errors, exit codes, progress.
 *
 * A verb is `int cmd_<name>(int argc, char **argv)` (argv[0] is the verb) listed in verbs.h:
 *
 *     static const cli_opt opts[] = {{"output", 'o', "FILE", "write the result to FILE"}, {0}};
 *     static const cli_help help = {"show", "FILE...", "Print tensors stored in files.", opts, CLI_JSON};
 *     int cmd_show(int argc, char **argv) {
 *         cli_parser p;
 *         cli_begin(&p, &help, argc, argv);
 *         const char *out = NULL;
 *         int k;
 *         while ((k = cli_next(&p)) > 0)
 *             if (k == 'o') out = p.arg;
 *         if (k < 0) return cli_stop(k);              // --help printed (exit 0) or usage error (exit 1)
 *         if (p.npos < 1) return cli_usage(&p, "expected at least one FILE");
 *         ...
 *         if (s != EMBER_OK) return cli_fail(s);      // prints ember_last_error(), exits 2 or 3
 *     }
 *
 * The same flags mean the same thing everywhere: -t/--threads N, -v/--verbose (repeat for more),
 * --json (machine-readable output), -h/--help.
 */
#ifndef EMBER_CLI_H
#define EMBER_CLI_H

#include "ember/ember.h"

#include <stdbool.h>
#include <stdio.h>

enum { CLI_OK = 0, CLI_EXIT_USAGE = 1, CLI_EXIT_INPUT = 2, CLI_EXIT_INTERNAL = 3 };

/* Common options a verb accepts besides -v and -h. */
enum { CLI_THREADS = 1, CLI_JSON = 2 };

typedef struct cli_opt {
    const char *name;    /* long name, without "--" */
    int key;             /* a short option letter, or a number >= 256 for long-only options */
    const char *metavar; /* NULL: a flag without a value */
    const char *help;
} cli_opt;

typedef struct cli_help {
    const char *verb, *usage, *summary;
    const cli_opt *opts; /* ends with {0}; may be NULL */
    int common;          /* CLI_THREADS | CLI_JSON */
    const char *details; /* extra text after the options; may be NULL */
} cli_help;

typedef struct cli_parser {
    const cli_help *help;
    int argc, i;
    char **argv;
    bool only_positional;
    const char *arg; /* value of the option just returned */
    char **pos;      /* positional arguments, gathered at the front of argv (argv is reordered) */
    int npos;
    int threads; /* -t: 0 means one per core */
    int verbose;
    bool json;
} cli_parser;

enum { CLI_DONE = 0, CLI_HELP_SHOWN = -1, CLI_BAD_USAGE = -2 };

void cli_begin(cli_parser *p, const cli_help *help, int argc, char **argv);
/* Next verb-specific option key; CLI_DONE at the end; CLI_HELP_SHOWN / CLI_BAD_USAGE (already printed). */
int cli_next(cli_parser *p);
/* Exit code for CLI_HELP_SHOWN (0) or CLI_BAD_USAGE (1). */
int cli_stop(int k);
/* Print "ember VERB: message" and a hint to --help; returns CLI_EXIT_USAGE. */
int cli_usage(const cli_parser *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Print "ember: error: <ember_last_error()>"; returns the exit code for s (2 bad input, 3 internal). */
int cli_fail(ember_status s);
int cli_exit_code(ember_status s);

/* Parse a positive integer option value; prints a usage error and returns false when it is not one. */
bool cli_int(const cli_parser *p, const char *value, long min, long max, long *out);

/* A progress bar on stderr when it is a terminal (silent otherwise). */
typedef struct cli_progress {
    const char *label;
    int64_t total, done;
    bool active;
    int last_width;
} cli_progress;
void cli_progress_begin(cli_progress *pr, const char *label, int64_t total);
void cli_progress_step(cli_progress *pr, int64_t done);
/* Erase the bar so a line can be printed to the terminal (flush stdout after it); the next step redraws. */
void cli_progress_clear(cli_progress *pr);
void cli_progress_end(cli_progress *pr);

/* JSON string output (escapes quotes, control characters; bytes >= 0x80 pass through). */
void cli_json_string(FILE *f, const char *s);

#endif
