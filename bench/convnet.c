/* Conv-layer benchmark: runs every convolution of MobileNetV2 (224x224) and SqueezeNet 1.1 with random
 * weights through ember_conv2d (pre-packed weights, fused bias + activation) and prints the time per layer
 * kind and in total, to compare with whole-model runtimes of other engines.
 * Usage: convnet [--threads N] [--reps N] [--net mobilenet_v2|squeezenet1_1] [--cpu] [-v]
 * --cpu times with process CPU time instead of wall time (for 1 thread on a busy machine). */
#include "kernels/kernels.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static clockid_t clock_id =
    CLOCK_MONOTONIC; /* --cpu: process CPU time (fair on a shared machine at 1 thread) */

static double now(void) {
    struct timespec ts;
    clock_gettime(clock_id, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

typedef struct {
    ember_conv2d_shape g;
    ember_conv2d_weights *w;
    float *bias, *in, *out;
    ember_act act;
    double best;
} layer;

static layer layers[128];
static int nlayers;

static float *rand_buf(int64_t n) {
    float *p = ember_malloc_aligned((size_t)n * sizeof *p);
    for (int64_t i = 0; i < n; i++) p[i] = (float)rand() / (float)RAND_MAX - 0.5f;
    return p;
}

/* Adds a conv of cin x h x w -> cout with a k x k kernel; returns the output size through *h / *w. */
static void add(int64_t cin, int64_t *h, int64_t *w, int64_t cout, int64_t k, int64_t s, int64_t pad, int64_t groups,
                ember_act act) {
    layer *l = &layers[nlayers++];
    ember_conv2d_shape g = {.batch = 1, .cin = cin, .h = *h, .w = *w, .cout = cout, .kh = k, .kw = k, .stride_h = s,
                            .stride_w = s, .dil_h = 1, .dil_w = 1, .pad_t = pad, .pad_l = pad, .groups = groups};
    g.oh = ember_conv_out_size(*h, k, s, 1, pad, pad);
    g.ow = ember_conv_out_size(*w, k, s, 1, pad, pad);
    float *W = rand_buf(cout * cin / groups * k * k);
    l->g = g;
    l->w = ember_conv2d_weights_create(&g, W, NULL);
    ember_free_aligned(W);
    l->bias = rand_buf(cout);
    l->in = rand_buf(cin * *h * *w);
    l->out = rand_buf(cout * g.oh * g.ow);
    l->act = act;
    l->best = 1e30;
    *h = g.oh;
    *w = g.ow;
}

static void mobilenet_v2(void) {
    static const int cfg[7][4] = {{1, 16, 1, 1}, {6, 24, 2, 2}, {6, 32, 3, 2}, {6, 64, 4, 2},
                                  {6, 96, 3, 1}, {6, 160, 3, 2}, {6, 320, 1, 1}};
    ember_act relu6 = {EMBER_ACT_CLIP, 0.0f, 6.0f, NULL}, none = {EMBER_ACT_NONE, 0, 0, NULL};
    int64_t h = 224, w = 224, c = 32;
    add(3, &h, &w, 32, 3, 2, 1, 1, relu6);
    for (int b = 0; b < 7; b++)
        for (int r = 0; r < cfg[b][2]; r++) {
            int64_t hid = c * cfg[b][0], s = r == 0 ? cfg[b][3] : 1;
            if (cfg[b][0] != 1) add(c, &h, &w, hid, 1, 1, 0, 1, relu6);
            add(hid, &h, &w, hid, 3, s, 1, hid, relu6);
            add(hid, &h, &w, cfg[b][1], 1, 1, 0, 1, none);
            c = cfg[b][1];
        }
    add(c, &h, &w, 1280, 1, 1, 0, 1, relu6);
    add(1280, &h, &w, 1000, 1, 1, 0, 1, none); /* the classifier (Gemm) as a 1x1 conv on 1x1 */
}

static void squeezenet1_1(void) {
    ember_act relu = {EMBER_ACT_RELU, 0, 0, NULL};
    int64_t h = 224, w = 224;
    add(3, &h, &w, 64, 3, 2, 0, 1, relu);
    static const int fire[8][3] = {{16, 64, 64}, {16, 64, 64}, {32, 128, 128}, {32, 128, 128},
                                   {48, 192, 192}, {48, 192, 192}, {64, 256, 256}, {64, 256, 256}};
    int64_t c = 64;
    for (int f = 0; f < 8; f++) {
        if (f == 0 || f == 2 || f == 4) { /* 3x3 stride-2 max pool (ceil mode) before these */
            h = (h - 3 + 1) / 2 + 1;
            w = (w - 3 + 1) / 2 + 1;
        }
        int64_t sh = h, sw = w, eh = h, ew = w;
        add(c, &sh, &sw, fire[f][0], 1, 1, 0, 1, relu);
        add(fire[f][0], &eh, &ew, fire[f][1], 1, 1, 0, 1, relu);
        eh = h, ew = w;
        add(fire[f][0], &eh, &ew, fire[f][2], 3, 1, 1, 1, relu);
        c = fire[f][1] + fire[f][2];
    }
    add(c, &h, &w, 1000, 1, 1, 0, 1, relu);
}

int main(int argc, char **argv) {
    int threads = 1, reps = 20, verbose = 0;
    const char *net = "mobilenet_v2";
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--threads") && i + 1 < argc) threads = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--reps") && i + 1 < argc) reps = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--net") && i + 1 < argc) net = argv[++i];
        else if (!strcmp(argv[i], "-v")) verbose = 1;
        else if (!strcmp(argv[i], "--cpu"))
            clock_id = CLOCK_PROCESS_CPUTIME_ID;
        else {
            fprintf(stderr,
                    "usage: %s [--threads N] [--reps N] [--net mobilenet_v2|squeezenet1_1] [--cpu] [-v]\n",
                    argv[0]);
            return 1;
        }
    }
    if (!strcmp(net, "squeezenet1_1")) squeezenet1_1();
    else mobilenet_v2();
    ember_pool *pool = NULL;
    if (ember_pool_create(threads, &pool) != EMBER_OK) return 3;
    double best_total = 1e30;
    for (int r = 0; r < reps; r++) { /* whole passes, like a model run; per-layer best over passes */
        double t0 = now();
        for (int i = 0; i < nlayers; i++) {
            layer *l = &layers[i];
            double t1 = now();
            ember_epilogue ep = {.act = l->act};
            ember_conv2d(pool, &l->g, l->w, l->in, l->bias, l->out, &ep);
            double t = now() - t1;
            if (t < l->best) l->best = t;
        }
        double t = now() - t0;
        if (t < best_total) best_total = t;
    }
    double by_kind[3] = {0}, flops[3] = {0}, sum = 0;
    const char *kinds[3] = {"1x1", "depthwise", "other"};
    for (int i = 0; i < nlayers; i++) {
        const ember_conv2d_shape *g = &layers[i].g;
        int kind = g->groups > 1 ? 1 : g->kh == 1 && g->kw == 1 && g->stride_h == 1 ? 0 : 2;
        double f = 2.0 * g->cout * g->oh * g->ow * (g->cin / g->groups) * g->kh * g->kw;
        by_kind[kind] += layers[i].best;
        flops[kind] += f;
        sum += layers[i].best;
        if (verbose)
            printf("%3d %-9s %4lld->%-4lld %3lldx%-3lld k%lld s%lld %8.3f ms %6.1f GFLOP/s\n", i, kinds[kind],
                   (long long)g->cin, (long long)g->cout, (long long)g->oh, (long long)g->ow, (long long)g->kh,
                   (long long)g->stride_h, layers[i].best * 1e3, f / layers[i].best * 1e-9);
    }
    printf("# %s convolutions, %d threads, kernels %s: %d layers\n", net, threads, ember_kernels_isa(), nlayers);
    for (int k = 0; k < 3; k++)
        printf("%-10s %8.3f ms %7.1f GFLOP/s\n", kinds[k], by_kind[k] * 1e3, by_kind[k] > 0 ? flops[k] / by_kind[k] * 1e-9 : 0);
    printf("%-10s %8.3f ms (sum of per-layer best), %.3f ms best whole pass\n", "total", sum * 1e3, best_total * 1e3);
    for (int i = 0; i < nlayers; i++) {
        ember_conv2d_weights_free(layers[i].w);
        ember_free_aligned(layers[i].bias), ember_free_aligned(layers[i].in), ember_free_aligned(layers[i].out);
    }
    ember_pool_destroy(pool);
    return 0;
}
