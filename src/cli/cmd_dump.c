/* `ember dump MODEL`: inputs, outputs, operator histogram, parameters, plan, FLOPs and per-op timing. */
#include "cli/model_io.h"

#include <stdlib.h>
#include <string.h>

enum { OPT_COST = 256, OPT_PROFILE, OPT_STEPS, OPT_SHAPE };

static const cli_opt opts[] = {
    {"cost", OPT_COST, NULL, "estimate FLOPs per operator (plans with the input shapes)"},
    {"profile", OPT_PROFILE, NULL, "run a few times on random inputs and report time per operator"},
    {"steps", OPT_STEPS, NULL, "with --profile: also list every executed step (op, name, shape, MFLOPs, ms, GFLOP/s)"},
    {"shape", OPT_SHAPE, "[NAME=]DIMS", "input shape for planning, e.g. input=1x3x224x224"},
    {0},
};
static const cli_help help = {
    "dump", "MODEL [options]", "Describe an ONNX model.", opts, CLI_THREADS | CLI_JSON,
    "Symbolic input dimensions are taken as 1 unless --shape sets them.",
};

typedef struct op_stat {
    const char *op;
    int count;
    int64_t flops;
    double ns;
} op_stat;

static void print_io(const char *what, const ember_onnx_io *io, bool json, bool first) {
    char dims[256] = "";
    size_t n = 0;
    for (int d = 0; d < io->ndim && n < sizeof dims; d++) {
        if (io->dim_names[d]) n += (size_t)snprintf(dims + n, sizeof dims - n, "%s%s", d ? "x" : "", io->dim_names[d]);
        else if (io->dims[d] < 0) n += (size_t)snprintf(dims + n, sizeof dims - n, "%s?", d ? "x" : "");
        else n += (size_t)snprintf(dims + n, sizeof dims - n, "%s%lld", d ? "x" : "", (long long)io->dims[d]);
    }
    const char *kind = io->kind == EMBER_VALUE_SEQUENCE ? "sequence of " : io->kind == EMBER_VALUE_NONE ? "optional " : "";
    if (json) {
        printf("%s{\"name\": ", first ? "" : ", ");
        cli_json_string(stdout, io->name);
        printf(", \"kind\": \"%s\", \"dtype\": \"%s\", \"shape\": \"%s\"}", io->kind == EMBER_VALUE_SEQUENCE ? "sequence" : io->kind == EMBER_VALUE_NONE ? "optional" : "tensor",
               ember_dtype_name(io->dtype), io->ndim < 0 ? "?" : dims);
    } else {
        printf("%-7s %s: %s%s[%s]\n", what, io->name, kind, ember_dtype_name(io->dtype), io->ndim < 0 ? "?" : dims);
    }
}

static op_stat *stat_for(op_stat *st, int *n, const char *op) {
    for (int i = 0; i < *n; i++)
        if (!strcmp(st[i].op, op)) return &st[i];
    st[*n] = (op_stat){op, 0, 0, 0};
    return &st[(*n)++];
}

static int by_count(const void *a, const void *b) {
    const op_stat *x = a, *y = b;
    return x->ns != y->ns ? (x->ns < y->ns ? 1 : -1) : y->count - x->count;
}

/* One line per executed step, in order: what ran, its output shape, its cost and time (best of the 5 runs
 * after the warm-up: the machine may be shared, and the least disturbed run is the kernel's speed). A chained
 * step (a 1x1 Conv run inside the depthwise one after it) says "in next". */
static void print_steps(const ember_onnx_session *s, int n, const double *best_ns) {
    printf("steps   #    op                   MFLOPs        ms  GFLOP/s  output      name\n");
    double carried = 0; /* FLOPs of chained steps, done by the next */
    for (int i = 0; i < n; i++) {
        ember_onnx_node node;
        ember_onnx_step(s, i, &node);
        char dims[128] = "?";
        size_t len = 0;
        for (int d = 0; d < node.ndim && len < sizeof dims; d++)
            len += (size_t)snprintf(dims + len, sizeof dims - len, "%s%lld", d ? "x" : "", (long long)node.shape[d]);
        double ms = best_ns[i] / 1e6;
        if (node.chained) { /* its time and FLOPs count in the next step's GFLOP/s */
            printf("  %4d    %-18s %9.2f   in next        -  %-11s %s\n", i, node.op_type, (double)node.flops / 1e6,
                   dims, node.name ? node.name : "");
            carried += (double)node.flops;
            continue;
        }
        printf("  %4d    %-18s %9.2f %9.3f %8.1f  %-11s %s\n", i, node.op_type, (double)node.flops / 1e6, ms,
               ms > 0 ? ((double)node.flops + carried) / 1e6 / ms : 0.0, dims, node.name ? node.name : "");
        carried = 0;
    }
}

int cmd_dump(int argc, char **argv) {
    cli_parser p;
    cli_begin(&p, &help, argc, argv);
    model_shapes shapes = {0};
    bool cost = false, profile = false, steps = false;
    int k;
    while ((k = cli_next(&p)) > 0) {
        if (k == OPT_COST) cost = true;
        else if (k == OPT_PROFILE) profile = cost = true;
        else if (k == OPT_STEPS) steps = profile = cost = true;
        else if (k == OPT_SHAPE && model_shapes_add(&shapes, p.arg)) return cli_usage(&p, "%s", ember_last_error());
    }
    if (k < 0) return cli_stop(k);
    if (p.npos != 1) return cli_usage(&p, "expected one MODEL");
    ember_onnx_model *m = NULL;
    ember_status st = ember_onnx_open(p.pos[0], &m);
    if (st) return cli_fail(st);
    ember_onnx_info info;
    ember_onnx_get_info(m, &info);
    int nin = ember_onnx_input_count(m), nout = ember_onnx_output_count(m);
    if (p.json) {
        printf("{\"ir_version\": %lld, \"opset\": %lld, \"producer\": ", (long long)info.ir_version, (long long)info.opset);
        cli_json_string(stdout, info.producer);
        printf(", \"nodes\": %d, \"parameters\": %lld, \"parameter_bytes\": %lld,\n \"inputs\": [", info.nodes,
               (long long)info.parameters, (long long)info.parameter_bytes);
    } else {
        printf("model   %s (IR %lld, opset %lld, producer '%s')\n", p.pos[0], (long long)info.ir_version, (long long)info.opset, info.producer);
    }
    for (int i = 0; i < nin; i++) {
        ember_onnx_io io;
        ember_onnx_input(m, i, &io);
        print_io("input", &io, p.json, i == 0);
    }
    if (p.json) printf("],\n \"outputs\": [");
    for (int i = 0; i < nout; i++) {
        ember_onnx_io io;
        ember_onnx_output(m, i, &io);
        print_io("output", &io, p.json, i == 0);
    }
    if (p.json) printf("]");
    else printf("params  %lld (%.2f MB), %d nodes\n", (long long)info.parameters, (double)info.parameter_bytes / 1e6, info.nodes);
    /* plan (and optionally run) to get per-step facts */
    ember_onnx_session *s = NULL;
    ember_tensor *ins[64] = {0}, **outs = calloc((size_t)nout + 1, sizeof *outs);
    int nplan = nin > 64 ? 64 : nin, nd[64];
    int64_t (*sh)[EMBER_MAX_DIMS] = calloc(64, sizeof *sh);
    st = ember_onnx_session_create(m, &(ember_onnx_options){.threads = p.threads, .profile = profile}, &s);
    for (int i = 0; i < nplan; i++) model_input_shape(m, &shapes, i, &nd[i], sh[i]);
    if (!st) st = ember_onnx_plan(s, nd, (const int64_t(*)[EMBER_MAX_DIMS])sh);
    for (int i = 0; i < nplan && !st && profile; i++) st = model_random_input(m, &shapes, i, &ins[i]);
    /* one warm-up run (first touch of the arena, scratch growth), then 5 timed: per step the time before
     * them (warm) and the best of the 5 */
    double *warm = NULL, *prev = NULL, *best = NULL;
    int timed = 0; /* steps with times in warm/prev/best */
    for (int r = 0; r < 6 && !st && profile; r++) {
        st = ember_onnx_run_tensors(s, ins, outs);
        for (int i = 0; i < nout; i++) ember_tensor_destroy(outs[i]), outs[i] = NULL;
        if (r == 0 && !st) {
            ember_onnx_plan_info wi;
            ember_onnx_get_plan_info(s, &wi);
            size_t n = (size_t)wi.steps + 1;
            warm = calloc(n, sizeof *warm), prev = calloc(n, sizeof *prev), best = calloc(n, sizeof *best);
            if (!warm || !prev || !best) st = ember_fail(EMBER_ERR_NOMEM, "dump: no memory for %d step times", wi.steps);
            timed = wi.steps;
        }
        for (int i = 0; i < timed && !st; i++) {
            ember_onnx_node node;
            ember_onnx_step(s, i, &node);
            double d = node.time_ns - prev[i];
            if (r == 0) warm[i] = node.time_ns;
            else if (r == 1 || d < best[i]) best[i] = d;
            prev[i] = node.time_ns;
        }
    }
    if (!st) {
        ember_onnx_plan_info pi;
        ember_onnx_get_plan_info(s, &pi);
        op_stat *stats = calloc((size_t)pi.steps + 1, sizeof *stats);
        int nst = 0;
        int64_t flops = 0;
        double total_ns = 0;
        for (int i = 0; i < pi.steps; i++) {
            ember_onnx_node node;
            ember_onnx_step(s, i, &node);
            op_stat *o = stat_for(stats, &nst, node.op_type);
            o->count++;
            o->flops += node.flops;
            double ns = (node.time_ns - (i < timed ? warm[i] : 0)) / 5;
            o->ns += ns;
            flops += node.flops;
            total_ns += ns;
        }
        qsort(stats, (size_t)nst, sizeof *stats, by_count);
        if (p.json) {
            printf(",\n \"plan\": {\"steps\": %d, \"folded\": %d, \"dynamic\": %d, \"removed\": %d, "
                   "\"fused\": %d, \"chained\": %d, \"panels\": %d, \"arena_bytes\": %zu, "
                   "\"activation_bytes\": %zu},\n \"ops\": [",
                   pi.steps, pi.folded, pi.dynamic_steps, pi.removed, pi.fused, pi.chained, pi.panels,
                   pi.arena_bytes, pi.activation_bytes);
            for (int i = 0; i < nst; i++) {
                printf("%s{\"op\": ", i ? ", " : "");
                cli_json_string(stdout, stats[i].op);
                printf(", \"count\": %d", stats[i].count);
                if (cost) printf(", \"flops\": %lld", (long long)stats[i].flops);
                if (profile) printf(", \"ms\": %.4f", stats[i].ns / 1e6);
                printf("}");
            }
            printf("]");
            if (cost) printf(", \"flops\": %lld", (long long)flops);
            if (profile) printf(", \"run_ms\": %.4f", total_ns / 1e6);
            printf("}\n");
        } else {
            printf("plan    %d steps (%d folded, %d dynamic, %d unused removed, %d fused, %d chained, "
                   "%d in panels or lined), arena %.2f MB for %.2f MB of activations\n",
                   pi.steps, pi.folded, pi.dynamic_steps, pi.removed, pi.fused, pi.chained, pi.panels,
                   (double)pi.arena_bytes / 1e6, (double)pi.activation_bytes / 1e6);
            printf("ops    %s%s\n", cost ? "         count      MFLOPs" : "   count", profile ? "        ms      %" : "");
            for (int i = 0; i < nst; i++) {
                printf("  %-22s %6d", stats[i].op, stats[i].count);
                if (cost) printf(" %11.2f", (double)stats[i].flops / 1e6);
                if (profile) printf(" %9.3f %6.1f", stats[i].ns / 1e6, total_ns > 0 ? 100 * stats[i].ns / total_ns : 0);
                printf("\n");
            }
            if (cost) printf("total   %.2f MFLOPs\n", (double)flops / 1e6);
            if (profile) printf("time    %.3f ms per run (average of 5 after a warm-up run)\n", total_ns / 1e6);
            if (steps) print_steps(s, pi.steps < timed ? pi.steps : timed, best);
        }
        free(stats);
    } else if (p.json) {
        printf("}\n");
    }
    for (int i = 0; i < nplan; i++) ember_tensor_destroy(ins[i]);
    free(outs);
    free(sh);
    free(warm), free(prev), free(best);
    ember_onnx_session_destroy(s);
    ember_onnx_close(m);
    return st ? cli_fail(st) : CLI_OK;
}
