/* `ember show FILE...`: each tensor in .npy/.npz/.pb files with its type, shape, a summary and values. */
#include "cli/cli.h"
#include "ember/tensorio.h"

#include <math.h>
#include <string.h>

enum { OPT_ALL = 'a', OPT_LIMIT = 'n', PER_LINE = 16 };

static const cli_opt opts[] = {
    {"all", OPT_ALL, NULL, "print every value (rows of the last dimension)"},
    {"values", OPT_LIMIT, "N", "how many leading values the summary shows (default 8)"},
    {0},
};
static const cli_help help = {
    "show", "FILE...", "Print the tensors stored in .npy, .npz and ONNX TensorProto (.pb) files.", opts, CLI_JSON,
    "--json prints one array of {file, name, dtype, shape, min, max, mean, values} objects with every value;\n"
    "NaN and infinities are null there. Files are recognised by content, so any extension works.",
};

static void print_value(const ember_tensor *t, int64_t i, bool json) {
    char buf[256];
    int n = ember_tensor_value_text(t, i, json, buf, sizeof buf);
    if (n < (int)sizeof buf) {
        fputs(buf, stdout);
        return;
    }
    char *big = ember_malloc((size_t)n + 1); /* a long string element */
    if (!big) return;
    ember_tensor_value_text(t, i, json, big, (size_t)n + 1);
    fputs(big, stdout);
    ember_free(big);
}

/* Every value in rows of the last dimension, each row prefixed by its leading indices, e.g. "[1, 0]". */
static void print_all(const ember_tensor *t) {
    int64_t n = ember_tensor_count(t), row = t->ndim ? t->shape[t->ndim - 1] : 1;
    int64_t idx[EMBER_MAX_DIMS] = {0};
    if (t->ndim == 0 && n == 1) {
        printf("    ");
        print_value(t, 0, false);
        putchar('\n');
        return;
    }
    for (int64_t start = 0; start < n && row > 0; start += row) {
        printf("    [");
        for (int k = 0; k + 1 < t->ndim; k++) printf("%s%lld", k ? ", " : "", (long long)idx[k]);
        printf("%s]", t->ndim > 1 ? ", :" : ":");
        for (int64_t j = 0; j < row; j++) {
            if (j && j % PER_LINE == 0) printf("\n       ");
            putchar(' ');
            print_value(t, start + j, false);
        }
        putchar('\n');
        for (int k = t->ndim - 2; k >= 0 && ++idx[k] == t->shape[k]; k--) idx[k] = 0;
    }
}

static void print_text(const char *file, const ember_tensor *t, bool all, long limit) {
    char shape[256];
    ember_shape_format(shape, sizeof shape, t->ndim, t->shape);
    int64_t n = ember_tensor_count(t);
    printf("%s: %s  %s  %s  (%lld value%s)\n", file, t->name ? t->name : "(unnamed)", ember_dtype_name(t->dtype),
           shape, (long long)n, n == 1 ? "" : "s");
    ember_tensor_summary s;
    if (n && !ember_tensor_summarize(t, &s)) {
        printf("    min %.6g  max %.6g  mean ", s.min, s.max);
        if (isnan(s.mean)) printf("nan"); /* not "-nan" */
        else printf("%.6g", s.mean);
        if (s.nans) printf("  (%lld NaN)", (long long)s.nans);
        putchar('\n');
    }
    if (all) {
        print_all(t);
        return;
    }
    if (!n || !limit) return;
    printf("    [");
    for (int64_t i = 0; i < n && i < limit; i++) {
        if (i) printf(", ");
        print_value(t, i, false);
    }
    if (n > limit) printf(", ... %lld more", (long long)(n - limit));
    printf("]\n");
}

static void json_number(double v) {
    if (isfinite(v)) printf("%.17g", v);
    else printf("null");
}

static void print_json(const char *file, const ember_tensor *t, bool first) {
    printf("%s\n  {\"file\": ", first ? "" : ",");
    cli_json_string(stdout, file);
    printf(", \"name\": ");
    if (t->name) cli_json_string(stdout, t->name);
    else printf("null");
    printf(", \"dtype\": \"%s\", \"shape\": [", ember_dtype_name(t->dtype));
    for (int k = 0; k < t->ndim; k++) printf("%s%lld", k ? ", " : "", (long long)t->shape[k]);
    printf("]");
    ember_tensor_summary s;
    if (!ember_tensor_summarize(t, &s) && s.count) {
        printf(", \"min\": ");
        json_number(s.min);
        printf(", \"max\": ");
        json_number(s.max);
        printf(", \"mean\": ");
        json_number(s.mean);
    }
    printf(", \"values\": [");
    for (int64_t i = 0; i < ember_tensor_count(t); i++) {
        if (i) printf(", ");
        print_value(t, i, true);
    }
    printf("]}");
}

int cmd_show(int argc, char **argv) {
    cli_parser p;
    cli_begin(&p, &help, argc, argv);
    bool all = false;
    long limit = 8;
    int k;
    while ((k = cli_next(&p)) > 0) {
        if (k == OPT_ALL) all = true;
        if (k == OPT_LIMIT && !cli_int(&p, p.arg, 0, 1000000, &limit)) return CLI_EXIT_USAGE;
    }
    if (k < 0) return cli_stop(k);
    if (p.npos < 1) return cli_usage(&p, "expected at least one FILE");
    /* read everything first, so that a bad file stops the command before anything is printed */
    ember_tensor ***lists = ember_calloc((size_t)p.npos, sizeof *lists);
    size_t *counts = ember_calloc((size_t)p.npos, sizeof *counts);
    ember_status s = lists && counts ? EMBER_OK : ember_fail(EMBER_ERR_NOMEM, "out of memory");
    for (int f = 0; f < p.npos && !s; f++) s = ember_tensor_file_read(p.pos[f], &lists[f], &counts[f]);
    bool first = true;
    if (!s && p.json) printf("[");
    for (int f = 0; f < p.npos && !s; f++) {
        if (!counts[f] && !p.json) printf("%s: no tensors\n", p.pos[f]);
        for (size_t i = 0; i < counts[f]; i++, first = false) {
            if (p.json) print_json(p.pos[f], lists[f][i], first);
            else print_text(p.pos[f], lists[f][i], all, limit);
        }
    }
    if (!s && p.json) printf("\n]\n");
    for (int f = 0; lists && counts && f < p.npos; f++) ember_tensor_list_free(lists[f], counts[f]);
    ember_free(lists);
    ember_free(counts);
    return s ? cli_fail(s) : CLI_OK;
}
