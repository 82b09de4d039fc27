/* `ember test PATH...`: run ONNX test directories (model.onnx + test_data_set_N) and report PASS/FAIL. */
#include "cli/cli.h"

#include <dirent.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

enum { OPT_NO_ISOLATE = 256, OPT_TIMEOUT };

static const cli_opt opts[] = {
    {"no-isolate", OPT_NO_ISOLATE, NULL, "run tests in this process (faster; a crash stops the run)"},
    {"timeout", OPT_TIMEOUT, "SEC", "fail a test that runs longer than SEC seconds (default 20)"},
    {0},
};
static const cli_help help = {
    "test", "PATH...", "Run ONNX test directories and compare outputs with the expected ones.", opts,
    CLI_THREADS | CLI_JSON,
    "PATH is a test directory (model.onnx and test_data_set_N/{input,output}_N.pb) or a folder of them.\n"
    "Outputs match when |got - expected| <= 1e-5 + 1e-3*|expected| (NaN equals NaN; integers, bools and\n"
    "strings exactly; dtype and shape exactly). Each test runs in a child process so a crash or a hang\n"
    "fails only that test. Prints PASS/FAIL/SKIP per test and 'N passed, N failed, N skipped'.\n"
    "Exit status: 0 when nothing failed, 2 otherwise. Threads default to 1 here.",
};

typedef struct runner {
    ember_onnx_options opt;
    bool isolate, json, first;
    long timeout;
    int passed, failed, skipped;
    cli_progress *progress; /* while a folder runs */
} runner;

static bool is_dir(const char *p) {
    struct stat st;
    return !stat(p, &st) && S_ISDIR(st.st_mode);
}

static bool has_model(const char *dir) {
    char p[4400];
    snprintf(p, sizeof p, "%.4096s/model.onnx", dir);
    return !access(p, R_OK);
}

/* Run one test in a child process; the result comes back through a pipe. */
static void run_isolated(runner *r, const char *dir, ember_onnx_test_result *res) {
    int fd[2];
    if (pipe(fd)) {
        ember_onnx_test_dir(dir, &r->opt, res);
        return;
    }
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        close(fd[0]);
        alarm((unsigned)r->timeout);
        ember_onnx_test_result out;
        ember_onnx_test_dir(dir, &r->opt, &out);
        ssize_t w = write(fd[1], &out, sizeof out);
        _exit(w == (ssize_t)sizeof out ? 0 : 3);
    }
    close(fd[1]);
    memset(res, 0, sizeof *res);
    ssize_t got = pid > 0 ? read(fd[0], res, sizeof *res) : -1;
    close(fd[0]);
    int status = 0;
    if (pid > 0) waitpid(pid, &status, 0);
    if (got != (ssize_t)sizeof *res) {
        res->verdict = EMBER_TEST_FAIL;
        if (pid > 0 && WIFSIGNALED(status) && WTERMSIG(status) == SIGALRM)
            snprintf(res->reason, sizeof res->reason, "timed out after %ld s", r->timeout);
        else if (pid > 0 && WIFSIGNALED(status))
            snprintf(res->reason, sizeof res->reason, "crashed (%s)", strsignal(WTERMSIG(status)));
        else
            snprintf(res->reason, sizeof res->reason, "the test process failed");
    }
}

static const char *base_name(const char *p) {
    size_t n = strlen(p);
    while (n > 1 && p[n - 1] == '/') n--;
    const char *s = p + n;
    while (s > p && s[-1] != '/') s--;
    return s;
}

static void report(runner *r, const char *dir, const ember_onnx_test_result *res) {
    static const char *word[] = {"PASS", "FAIL", "SKIP"};
    char name[512];
    snprintf(name, sizeof name, "%s", base_name(dir));
    char *slash = strchr(name, '/');
    if (slash) *slash = 0;
    if (r->progress) cli_progress_clear(r->progress);
    if (res->verdict == EMBER_TEST_PASS) r->passed++;
    else if (res->verdict == EMBER_TEST_FAIL) r->failed++;
    else r->skipped++;
    if (r->json) {
        printf("%s\n    {\"name\": ", r->first ? "" : ",");
        cli_json_string(stdout, name);
        printf(", \"result\": \"%s\", \"reason\": ", word[res->verdict]);
        cli_json_string(stdout, res->reason);
        printf(", \"seconds\": %.4f}", res->seconds);
        r->first = false;
        return;
    }
    /* one line per test: squash newlines in reasons */
    char reason[sizeof res->reason];
    snprintf(reason, sizeof reason, "%s", res->reason);
    for (char *p = reason; *p; p++)
        if (*p == '\n' || *p == '\t') *p = ' ';
    if (res->verdict == EMBER_TEST_PASS) printf("PASS %s\n", name);
    else printf("%s %s: %s\n", word[res->verdict], name, reason);
    fflush(stdout);
}

static void run_one(runner *r, const char *dir) {
    ember_onnx_test_result res;
    if (r->isolate) run_isolated(r, dir, &res);
    else ember_onnx_test_dir(dir, &r->opt, &res);
    report(r, dir, &res);
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* A folder of test directories: run each, sorted by name. */
static int run_folder(runner *r, const char *path) {
    DIR *d = opendir(path);
    if (!d) return ember_fail(EMBER_ERR_IO, "%s: cannot open the folder", path), cli_fail(EMBER_ERR_IO);
    char **names = NULL;
    size_t n = 0, cap = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.') continue;
        if (n == cap) {
            cap = cap ? cap * 2 : 256;
            char **nn = realloc(names, cap * sizeof *nn);
            if (!nn) break;
            names = nn;
        }
        names[n++] = strdup(e->d_name);
    }
    closedir(d);
    if (n) qsort(names, n, sizeof *names, cmp_str);
    size_t tests = 0; /* keep only the test directories */
    for (size_t i = 0; i < n; i++) {
        char sub[4400];
        snprintf(sub, sizeof sub, "%.3800s/%.255s", path, names[i]);
        if (is_dir(sub) && has_model(sub)) names[tests++] = names[i];
        else free(names[i]);
    }
    cli_progress bar;
    cli_progress_begin(&bar, "testing", (int64_t)tests);
    r->progress = &bar;
    for (size_t i = 0; i < tests; i++) {
        char sub[4400];
        snprintf(sub, sizeof sub, "%.3800s/%.255s", path, names[i]);
        run_one(r, sub);
        cli_progress_step(&bar, (int64_t)i + 1);
        free(names[i]);
    }
    cli_progress_end(&bar);
    r->progress = NULL;
    free(names);
    if (!tests) return ember_fail(EMBER_ERR_IO, "%s: no ONNX test directories (model.onnx) here", path),
                       cli_fail(EMBER_ERR_IO);
    return 0;
}

int cmd_test(int argc, char **argv) {
    cli_parser p;
    cli_begin(&p, &help, argc, argv);
    runner r = {.isolate = true, .first = true, .timeout = 20};
    p.threads = 1;
    int k;
    while ((k = cli_next(&p)) > 0) {
        if (k == OPT_NO_ISOLATE) r.isolate = false;
        else if (k == OPT_TIMEOUT && !cli_int(&p, p.arg, 1, 86400, &r.timeout)) return CLI_EXIT_USAGE;
    }
    if (k < 0) return cli_stop(k);
    if (p.npos < 1) return cli_usage(&p, "expected at least one PATH");
    r.opt.threads = p.threads;
    r.json = p.json;
    if (r.json) printf("{\"tests\": [");
    for (int i = 0; i < p.npos; i++) {
        const char *path = p.pos[i];
        if (!is_dir(path)) {
            ember_fail(EMBER_ERR_IO, "%s: not a directory", path);
            return cli_fail(EMBER_ERR_IO);
        }
        if (has_model(path)) run_one(&r, path);
        else if (run_folder(&r, path)) return CLI_EXIT_INPUT;
    }
    if (r.json) printf("\n  ],\n  \"passed\": %d, \"failed\": %d, \"skipped\": %d}\n", r.passed, r.failed, r.skipped);
    else printf("%d passed, %d failed, %d skipped\n", r.passed, r.failed, r.skipped);
    return r.failed ? CLI_EXIT_INPUT : CLI_OK;
}
