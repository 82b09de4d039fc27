/* Option parsing, help text, errors and exit codes shared by every verb. */
#include "cli/cli.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

void cli_begin(cli_parser *p, const cli_help *help, int argc, char **argv) {
    memset(p, 0, sizeof *p);
    p->help = help;
    p->argc = argc;
    p->argv = argv;
    p->i = 1;
    p->pos = argv + 1; /* positionals are gathered in place: slot npos is always one already read */
}

static void print_opt(const char *shortname, const char *longname, const char *metavar, const char *help) {
    char left[64];
    snprintf(left, sizeof left, "%s%s--%s%s%s", shortname ? shortname : "   ", shortname ? ", " : " ",
             longname, metavar ? " " : "", metavar ? metavar : "");
    printf("  %-28s %s\n", left, help);
}

static void print_help(const cli_help *h) {
    printf("usage: ember %s [options] %s\n\n%s\n\noptions:\n", h->verb, h->usage, h->summary);
    for (const cli_opt *o = h->opts; o && o->name; o++) {
        char s[4] = {'-', (char)o->key, 0};
        print_opt(o->key < 256 ? s : NULL, o->name, o->metavar, o->help);
    }
    if (h->common & CLI_THREADS) print_opt("-t", "threads", "N", "threads to use (default: one per core)");
    if (h->common & CLI_JSON) print_opt(NULL, "json", NULL, "machine-readable output");
    print_opt("-v", "verbose", NULL, "say more (repeat for debug output)");
    print_opt("-h", "help", NULL, "show this help");
    if (h->details) printf("\n%s\n", h->details);
}

int cli_usage(const cli_parser *p, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "ember %s: ", p->help->verb);
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, " (see 'ember %s --help')\n", p->help->verb);
    va_end(ap);
    return CLI_EXIT_USAGE;
}

bool cli_int(const cli_parser *p, const char *value, long min, long max, long *out) {
    char *end;
    long v = strtol(value, &end, 10);
    if (end == value || *end || v < min || v > max) {
        cli_usage(p, "'%s' is not a number from %ld to %ld", value, min, max);
        return false;
    }
    *out = v;
    return true;
}

/* Handle the options every verb shares. Returns 1 if consumed, 0 if not common, <0 on error/help. */
static int common_option(cli_parser *p, int key, const char *value) {
    long n;
    switch (key) {
    case 'h': print_help(p->help); return CLI_HELP_SHOWN;
    case 'v':
        p->verbose++;
        ember_log_set_level(p->verbose >= 2 ? EMBER_LOG_DEBUG : EMBER_LOG_INFO);
        return 1;
    case 't':
        if (!(p->help->common & CLI_THREADS)) return 0; /* a verb without threads may use -t for itself */
        if (!cli_int(p, value, 0, 1024, &n)) return CLI_BAD_USAGE;
        p->threads = (int)n;
        return 1;
    case 1001: p->json = true; return 1;
    }
    return 0;
}

static const cli_opt common_opts[] = {
    {"help", 'h', NULL, NULL},
    {"verbose", 'v', NULL, NULL},
    {"threads", 't', "N", NULL},
    {"json", 1001, NULL, NULL},
    {0},
};

static bool common_allowed(const cli_parser *p, const cli_opt *o) {
    if (o->key == 't') return p->help->common & CLI_THREADS;
    if (o->key == 1001) return p->help->common & CLI_JSON;
    return true;
}

static const cli_opt *find_opt(const cli_parser *p, const char *longname, size_t len, int shortkey) {
    for (int pass = 0; pass < 2; pass++) {
        for (const cli_opt *o = pass ? common_opts : p->help->opts; o && o->name; o++) {
            if (pass && !common_allowed(p, o)) continue;
            if (longname ? (strlen(o->name) == len && !strncmp(o->name, longname, len)) : o->key == shortkey)
                return o;
        }
    }
    return NULL;
}

int cli_next(cli_parser *p) {
    while (p->i < p->argc) {
        char *a = p->argv[p->i++];
        if (p->only_positional || a[0] != '-' || a[1] == 0) {
            p->pos[p->npos++] = a;
            continue;
        }
        if (!strcmp(a, "--")) {
            p->only_positional = true;
            continue;
        }
        const cli_opt *o;
        const char *value = NULL;
        if (a[1] == '-') { /* --name or --name=value */
            const char *eq = strchr(a + 2, '=');
            size_t len = eq ? (size_t)(eq - (a + 2)) : strlen(a + 2);
            o = find_opt(p, a + 2, len, 0);
            if (!o) return cli_usage(p, "unknown option '%.*s'", (int)len + 2, a), CLI_BAD_USAGE;
            if (eq && !o->metavar) return cli_usage(p, "option '--%s' takes no value", o->name), CLI_BAD_USAGE;
            if (eq) value = eq + 1;
        } else { /* -x, -xVALUE, or grouped flags like -vv */
            o = find_opt(p, NULL, 0, (unsigned char)a[1]);
            if (!o) return cli_usage(p, "unknown option '-%c'", a[1]), CLI_BAD_USAGE;
            if (a[2]) {
                if (o->metavar) value = a + 2;
                else if (o->key == 'v' && strspn(a + 1, "v") == strlen(a + 1)) {
                    for (size_t k = 2; a[k]; k++) common_option(p, 'v', NULL);
                } else return cli_usage(p, "option '-%c' takes no value", a[1]), CLI_BAD_USAGE;
            }
        }
        if (o->metavar && !value) {
            if (p->i >= p->argc) return cli_usage(p, "option '--%s' needs a value (%s)", o->name, o->metavar), CLI_BAD_USAGE;
            value = p->argv[p->i++];
        }
        int c = common_option(p, o->key, value);
        if (c < 0) return c;
        if (c == 1) continue;
        p->arg = value;
        return o->key;
    }
    return CLI_DONE;
}

int cli_stop(int k) { return k == CLI_HELP_SHOWN ? CLI_OK : CLI_EXIT_USAGE; }

int cli_exit_code(ember_status s) {
    switch (s) {
    case EMBER_OK: return CLI_OK;
    case EMBER_ERR_ARG: return CLI_EXIT_USAGE;
    case EMBER_ERR_NOMEM:
    case EMBER_ERR_INTERNAL: return CLI_EXIT_INTERNAL;
    default: return CLI_EXIT_INPUT;
    }
}

int cli_fail(ember_status s) {
    const char *msg = ember_last_error();
    fprintf(stderr, "ember: error: %s\n", *msg ? msg : ember_status_str(s));
    return cli_exit_code(s);
}

void cli_json_string(FILE *f, const char *s) {
    fputc('"', f);
    for (const unsigned char *c = (const unsigned char *)s; *c; c++) {
        if (*c == '"' || *c == '\\') fprintf(f, "\\%c", *c);
        else if (*c == '\n') fputs("\\n", f);
        else if (*c == '\t') fputs("\\t", f);
        else if (*c == '\r') fputs("\\r", f);
        else if (*c < 0x20) fprintf(f, "\\u%04x", *c);
        else fputc(*c, f);
    }
    fputc('"', f);
}
