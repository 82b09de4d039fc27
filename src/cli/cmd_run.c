/* `ember run MODEL`: run an ONNX model on inputs from files (or random ones) and print or save outputs. */
#include "cli/model_io.h"
#include "ember/tensorio.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

enum { OPT_SHAPE = 256, OPT_RUNS, OPT_F16 };

static const cli_opt opts[] = {
    {"input", 'i', "[NAME=]FILE", "input tensor(s) from .npy/.npz/.pb (repeatable; .npz members match by name)"},
    {"shape", OPT_SHAPE, "[NAME=]DIMS", "shape for a random input, e.g. input=1x3x224x224"},
    {"output", 'o', "FILE", "write the outputs to FILE (.npz for several, .npy/.pb for one)"},
    {"runs", OPT_RUNS, "N", "run N times and report the time per run"},
    {"f16", OPT_F16, NULL, "keep MatMul/Gemm weights as IEEE half (half the memory, slightly different results)"},
    {0},
};
static const cli_help help = {
    "run", "MODEL [options]", "Run an ONNX model.", opts, CLI_THREADS | CLI_JSON,
    "Inputs that are not given get deterministic random values (floats in [0,1)); symbolic dimensions\n"
    "default to 1 unless --shape says otherwise. Without -o, prints each output's type, shape and stats.",
};

typedef struct run_inputs {
    ember_tensor *t[64];
} run_inputs;

/* Load -i NAME=FILE / -i FILE arguments into the slots of the model inputs they name. */
static ember_status load_inputs(const ember_onnx_model *m, char **args, int nargs, run_inputs *in) {
    int nin = ember_onnx_input_count(m);
    for (int a = 0; a < nargs; a++) {
        const char *arg = args[a], *eq = strchr(arg, '=');
        const char *file = eq ? eq + 1 : arg;
        ember_tensor **ts = NULL;
        size_t n = 0;
        ember_status s = ember_tensor_file_read(file, &ts, &n);
        if (s) return s;
        for (size_t k = 0; k < n; k++) {
            int slot = -1;
            for (int i = 0; i < nin && slot < 0; i++) {
                ember_onnx_io io;
                ember_onnx_input(m, i, &io);
                const char *want = eq ? arg : ts[k]->name;
                size_t len = eq ? (size_t)(eq - arg) : strlen(want ? want : "");
                if (want && strlen(io.name) == len && !strncmp(io.name, want, len)) slot = i;
            }
            if (slot < 0 && !eq && n == 1) /* a lone unnamed-matching tensor: next free slot */
                for (int i = 0; i < nin && slot < 0; i++)
                    if (!in->t[i]) slot = i;
            if (slot < 0) {
                s = ember_fail(EMBER_ERR_ARG, "%s: tensor '%s' matches no model input", file,
                               ts[k]->name ? ts[k]->name : "");
                ember_tensor_list_free(ts, n); /* after the message: it names a tensor of the list */
                return s;
            }
            ember_tensor_destroy(in->t[slot]);
            in->t[slot] = ts[k];
            ts[k] = NULL;
        }
        ember_tensor_list_free(ts, n);
    }
    return EMBER_OK;
}

static void print_output(const char *name, const ember_tensor *t, bool json, bool first) {
    char shape[256];
    ember_shape_format(shape, sizeof shape, t->ndim, t->shape);
    int64_t n = ember_tensor_count(t);
    double mn = 0, mx = 0, sum = 0;
    bool numeric = t->dtype != EMBER_DTYPE_STRING;
    for (int64_t i = 0; numeric && i < n; i++) {
        double v = ember_tensor_get_f64(t, i);
        if (!i || v < mn) mn = v;
        if (!i || v > mx) mx = v;
        sum += v;
    }
    if (json) {
        printf("%s\n    {\"name\": ", first ? "" : ",");
        cli_json_string(stdout, name);
        printf(", \"dtype\": \"%s\", \"shape\": \"%s\", \"min\": %.9g, \"max\": %.9g, \"mean\": %.9g}", ember_dtype_name(t->dtype),
               shape, mn, mx, n ? sum / (double)n : 0);
        return;
    }
    printf("%s: %s[%s] min %.6g max %.6g mean %.6g\n", name, ember_dtype_name(t->dtype), shape, mn, mx, n ? sum / (double)n : 0);
    printf("  first values:");
    for (int64_t i = 0; numeric && i < n && i < 8; i++) printf(" %.6g", ember_tensor_get_f64(t, i));
    printf("\n");
}

static double now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec * 1e-6;
}

int cmd_run(int argc, char **argv) {
    cli_parser p;
    cli_begin(&p, &help, argc, argv);
    model_shapes shapes = {0};
    char *inputs[64];
    int ninputs = 0;
    const char *out_path = NULL;
    long runs = 1;
    bool f16 = false;
    int k;
    while ((k = cli_next(&p)) > 0) {
        if (k == 'i') {
            if (ninputs == 64) return cli_usage(&p, "at most 64 -i options");
            inputs[ninputs++] = (char *)p.arg;
        } else if (k == OPT_SHAPE) {
            if (model_shapes_add(&shapes, p.arg)) return cli_usage(&p, "%s", ember_last_error());
        } else if (k == 'o') {
            out_path = p.arg;
        } else if (k == OPT_RUNS && !cli_int(&p, p.arg, 1, 1000000, &runs)) {
            return CLI_EXIT_USAGE;
        } else if (k == OPT_F16) {
            f16 = true;
        }
    }
    if (k < 0) return cli_stop(k);
    if (p.npos != 1) return cli_usage(&p, "expected one MODEL");
    ember_onnx_model *m = NULL;
    ember_onnx_session *s = NULL;
    ember_status st = ember_onnx_open(p.pos[0], &m);
    if (st) return cli_fail(st);
    int nin = ember_onnx_input_count(m), nout = ember_onnx_output_count(m);
    run_inputs in = {{0}};
    ember_tensor **outs = calloc((size_t)nout + 1, sizeof *outs);
    if (nin > 64) st = ember_fail(EMBER_ERR_UNSUPPORTED, "more than 64 inputs");
    if (!st) st = load_inputs(m, inputs, ninputs, &in);
    for (int i = 0; i < nin && !st; i++)
        if (!in.t[i]) st = model_random_input(m, &shapes, i, &in.t[i]);
    if (!st) st = ember_onnx_session_create(m, &(ember_onnx_options){.threads = p.threads, .f16_weights = f16}, &s);
    double t0 = now_ms(), first = 0;
    for (long r = 0; r < runs && !st; r++) {
        for (int i = 0; i < nout; i++) ember_tensor_destroy(outs[i]), outs[i] = NULL;
        st = ember_onnx_run_tensors(s, in.t, outs);
        if (r == 0) first = now_ms() - t0, t0 = now_ms();
    }
    double per = runs > 1 ? (now_ms() - t0) / (double)(runs - 1) : first;
    if (!st && out_path) {
        for (int i = 0; i < nout && !st; i++) {
            ember_onnx_io io;
            ember_onnx_output(m, i, &io);
            st = ember_tensor_set_name(outs[i], io.name);
        }
        if (!st) st = ember_tensor_file_write(out_path, (const ember_tensor *const *)outs, (size_t)nout, NULL);
    } else if (!st) {
        if (p.json) printf("{\"outputs\": [");
        for (int i = 0; i < nout; i++) {
            ember_onnx_io io;
            ember_onnx_output(m, i, &io);
            print_output(io.name, outs[i], p.json, i == 0);
        }
        if (p.json) printf("\n  ], \"first_run_ms\": %.3f, \"run_ms\": %.3f}\n", first, per);
    }
    if (!st && !p.json) fprintf(stderr, "first run %.2f ms%s", first, runs > 1 ? "" : "\n");
    if (!st && !p.json && runs > 1) fprintf(stderr, ", then %.2f ms per run over %ld runs\n", per, runs - 1);
    for (int i = 0; i < nout; i++) ember_tensor_destroy(outs[i]);
    for (int i = 0; i < nin && i < 64; i++) ember_tensor_destroy(in.t[i]);
    free(outs);
    ember_onnx_session_destroy(s);
    ember_onnx_close(m);
    return st ? cli_fail(st) : CLI_OK;
}
