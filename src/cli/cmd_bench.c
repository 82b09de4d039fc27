/* `ember bench MODEL`: latency of an ONNX model (median, min, max over timed runs), load time and peak RSS. */
#include "cli/model_io.h"

#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

enum { OPT_SHAPE = 256, OPT_RUNS, OPT_WARMUP, OPT_F16 };

static const cli_opt opts[] = {
    {"runs", OPT_RUNS, "R", "timed runs (default 20)"},
    {"warmup", OPT_WARMUP, "W", "untimed runs first (default 3)"},
    {"shape", OPT_SHAPE, "[NAME=]DIMS", "shape of a random input, e.g. input=1x3x224x224"},
    {"f16", OPT_F16, NULL, "keep MatMul/Gemm weights as IEEE half (half the memory)"},
    {0},
};
static const cli_help help = {
    "bench",
    "MODEL [options]",
    "Time an ONNX model on random inputs.",
    opts,
    CLI_THREADS | CLI_JSON,
    "Prints the median, min and max time per run in ms, the CPU time per run (user + system, all threads:\n"
    "steadier than wall time on a busy machine), the load time (open + plan, which packs the weights: ready\n"
    "to run; making the random inputs not counted), the first run's time, and the process's peak resident\n"
    "memory. With --json: {\"median_ms\", \"min_ms\", \"max_ms\", \"cpu_ms\", \"load_ms\", \"first_ms\",\n"
    "\"peak_rss_mb\", ...}.",
};

/* CPU time (user + system, all threads) of this process so far. */
static double cpu_ms(void) {
    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru)) return 0;
    return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1e3 + (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e3;
}

static double now_ms(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec * 1e3 + (double)t.tv_nsec * 1e-6;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double peak_rss_mb(void) {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_maxrss / 1024.0; /* Linux reports KiB */
}

typedef struct bench_state {
    ember_onnx_model *model;
    ember_onnx_session *session;
    ember_tensor *in[64], *out[64];
    int nin, nout;
} bench_state;

static void bench_free(bench_state *b) {
    for (int i = 0; i < b->nin; i++) ember_tensor_destroy(b->in[i]);
    for (int i = 0; i < b->nout; i++) ember_tensor_destroy(b->out[i]);
    ember_onnx_session_destroy(b->session);
    ember_onnx_close(b->model);
}

/* One run; outputs of the previous run are freed first so memory stays flat. */
static ember_status bench_run(bench_state *b) {
    for (int i = 0; i < b->nout; i++) {
        ember_tensor_destroy(b->out[i]);
        b->out[i] = NULL;
    }
    return ember_onnx_run_tensors(b->session, b->in, b->out);
}

/* Open the model, make inputs, create the session and plan it (what "load" means for the peers too, but
 * making the inputs: *inputs_ms is the time that took). */
static ember_status bench_load(const char *path, int threads, bool f16, const model_shapes *shapes, bench_state *b,
                               double *inputs_ms) {
    ember_status s = ember_onnx_open(path, &b->model);
    if (s) return s;
    double t0 = now_ms();
    b->nin = ember_onnx_input_count(b->model);
    b->nout = ember_onnx_output_count(b->model);
    if (b->nin > 64 || b->nout > 64) return ember_fail(EMBER_ERR_UNSUPPORTED, "%s: more than 64 inputs or outputs", path);
    int ndims[64];
    int64_t dims[64][EMBER_MAX_DIMS];
    for (int i = 0; i < b->nin && !s; i++) {
        s = model_random_input(b->model, shapes, i, &b->in[i]);
        if (!s) {
            ndims[i] = b->in[i]->ndim;
            memcpy(dims[i], b->in[i]->shape, sizeof dims[i]);
        }
    }
    *inputs_ms = now_ms() - t0;
    ember_onnx_options opt = {.threads = threads, .f16_weights = f16};
    if (!s) s = ember_onnx_session_create(b->model, &opt, &b->session);
    if (!s) s = ember_onnx_plan(b->session, ndims, (const int64_t(*)[EMBER_MAX_DIMS])dims);
    return s;
}

int cmd_bench(int argc, char **argv) {
    cli_parser p;
    cli_begin(&p, &help, argc, argv);
    long runs = 20, warmup = 3;
    model_shapes shapes = {0};
    bool f16 = false;
    int k;
    while ((k = cli_next(&p)) > 0) {
        if (k == OPT_RUNS && !cli_int(&p, p.arg, 1, 100000, &runs)) return CLI_EXIT_USAGE;
        if (k == OPT_WARMUP && !cli_int(&p, p.arg, 0, 100000, &warmup)) return CLI_EXIT_USAGE;
        if (k == OPT_F16) f16 = true;
        if (k == OPT_SHAPE && model_shapes_add(&shapes, p.arg)) return cli_usage(&p, "%s", ember_last_error());
    }
    if (k < 0) return cli_stop(k);
    if (p.npos != 1) return cli_usage(&p, "expected one MODEL");
    const char *path = p.pos[0];

    bench_state b = {0};
    double t0 = now_ms(), inputs_ms = 0;
    ember_status s = bench_load(path, p.threads, f16, &shapes, &b, &inputs_ms);
    double load_ms = now_ms() - t0 - inputs_ms, f0 = now_ms();
    if (!s)
        s = bench_run(&b); /* the first run, on its own (it faults in the arena; ORT's finishes its set-up) */
    double first_ms = now_ms() - f0;
    double *times = calloc((size_t)runs, sizeof *times);
    if (!times && !s) s = ember_fail(EMBER_ERR_NOMEM, "out of memory");
    for (long i = 0; i < warmup && !s; i++) s = bench_run(&b);
    double c0 = cpu_ms();
    for (long i = 0; i < runs && !s; i++) {
        double r0 = now_ms();
        s = bench_run(&b);
        times[i] = now_ms() - r0;
    }
    double cpu_per_run = (cpu_ms() - c0) / (double)runs;
    int threads = s ? 0 : p.threads ? p.threads : ember_cpu_count();
    bench_free(&b);
    if (s) {
        free(times);
        return cli_fail(s);
    }
    qsort(times, (size_t)runs, sizeof *times, cmp_double);
    double median = runs % 2 ? times[runs / 2] : (times[runs / 2 - 1] + times[runs / 2]) / 2;
    if (p.json) {
        printf("{\"model\": ");
        cli_json_string(stdout, path);
        printf(", \"threads\": %d, \"runs\": %ld, \"median_ms\": %.4f, \"min_ms\": %.4f, \"max_ms\": %.4f, "
               "\"cpu_ms\": %.4f, \"load_ms\": %.3f, \"first_ms\": %.3f, \"peak_rss_mb\": %.1f}\n",
               threads, runs, median, times[0], times[runs - 1], cpu_per_run, load_ms, first_ms,
               peak_rss_mb());
    } else {
        printf("%s: %d thread%s, %ld runs: median %.3f ms, min %.3f, max %.3f; cpu %.3f ms per run; "
               "load %.1f ms, first run %.1f ms; peak RSS %.1f MB\n",
               path, threads, threads == 1 ? "" : "s", runs, median, times[0], times[runs - 1], cpu_per_run,
               load_ms, first_ms, peak_rss_mb());
    }
    free(times);
    return CLI_OK;
}
