/* Differential tests of the conv kernels (depthwise direct, 1x1 GEMM, implicit-im2col GEMM, Winograd) for
 * every kernel table against the direct 7-loop reference, on random geometries with fused bias/act/residual.
 */
#include "check.h"

#include "ember/threadpool.h"
#include "kernels/isa.h"

/* The first i < n where a[i] and b[i] differ by more than tol (NaN counts), or -1. */
static int64_t first_off(const float *a, const float *b, int64_t n, double tol) {
    for (int64_t i = 0; i < n; i++)
        if (!(fabs(a[i] - b[i]) <= tol)) return i;
    return -1;
}

static ember_pool *pool2;

static float *rand_buf(int64_t n) {
    float *p = malloc((size_t)(n > 0 ? n : 1) * sizeof *p);
    for (int64_t i = 0; i < n; i++) p[i] = check_randf(-1.0f, 1.0f);
    return p;
}

static int64_t pick(int64_t lo, int64_t hi) { return lo + (int64_t)(check_rand() % (unsigned long long)(hi - lo + 1)); }

/* Runs g (oh/ow computed here from pad_b/pad_r) with both tables; returns false on a mismatch. */
static void check_conv(ember_conv2d_shape g, int64_t pad_b, int64_t pad_r, ember_act act, bool residual) {
    g.oh = ember_conv_out_size(g.h, g.kh, g.stride_h, g.dil_h, g.pad_t, pad_b);
    g.ow = ember_conv_out_size(g.w, g.kw, g.stride_w, g.dil_w, g.pad_l, pad_r);
    if (g.oh <= 0 || g.ow <= 0) return;
    int64_t nin = g.batch * g.cin * g.h * g.w, nout = g.batch * g.cout * g.oh * g.ow;
    int64_t nw = g.cout * (g.cin / g.groups) * g.kh * g.kw;
    float *in = rand_buf(nin), *W = rand_buf(nw), *bias = rand_buf(g.cout), *res = rand_buf(nout);
    float *out = malloc((size_t)nout * sizeof *out), *ref = malloc((size_t)nout * sizeof *ref);
    ember_epilogue ep = {.act = act, .residual = residual ? res : NULL, .residual_after_act = check_rand() & 1};
    ember_conv2d_ref(&g, W, in, bias, ref, &ep);
    const ember_kernel_table *tables[2] = {ember_kernels(), ember_kernels_generic()};
    double tol = 1e-5 * (double)(nw / g.cout + 4);
    int64_t ihw = g.h * g.w, ohw = g.oh * g.ow;
    for (int t = 0; t < 2; t++) {
        ember_conv2d_weights *w = ember_conv2d_weights_create_k(tables[t], &g, W);
        CHECK(w != NULL);
        /* layouts: NCHW; output in panels of the table's nr (the depthwise kernels write them, the others
         * convert); input in them (a plain 1x1 reads them as its GEMM operand); both in panels of 5; lined
         * planes in (a plain 1x1 reads their rows in place; the floats past each plane are NaN, never read),
         * out (the per-plane depthwise kernels write them), both */
        for (int l = 0; l < 7; l++) {
            ember_conv2d_shape p = g;
            int64_t nr = l == 3 ? 5 : l >= 4 ? EMBER_LINED : tables[t]->nr;
            p.out_panel = l == 1 || l == 3 || l >= 5 ? nr : 0,
            p.in_panel = l == 2 || l == 3 || l == 4 || l == 6 ? nr : 0;
            int64_t pin = ember_panel_floats(g.cin, ihw, nr), pout = ember_panel_floats(g.cout, ohw, nr);
            float *pi = p.in_panel ? malloc((size_t)(g.batch * pin) * sizeof *pi) : NULL;
            float *po = p.out_panel ? malloc((size_t)(g.batch * pout) * sizeof *po) : NULL;
            for (int64_t i = 0; pi && i < g.batch * pin; i++) pi[i] = NAN;
            for (int64_t b = 0; pi && b < g.batch; b++)
                ember_panels_from_nchw(pi + b * pin, in + b * g.cin * ihw, g.cin, ihw, nr);
            for (int64_t i = 0; i < nout; i++) out[i] = NAN;
            for (int64_t i = 0; po && i < g.batch * pout; i++) po[i] = NAN;
            CHECK(ember_conv2d(t ? NULL : pool2, &p, w, pi ? pi : in, bias, po ? po : out, &ep) == EMBER_OK);
            int64_t bad = -1;
            for (int64_t b = 0; po && b < g.batch; b++) {
                ember_panels_to_nchw(out + b * g.cout * ohw, po + b * pout, g.cout, ohw, nr);
                for (int64_t i = nr > 0 ? ohw / nr * g.cout * nr : pout; i < pout;
                     i++) /* panels: the last panel's columns past hw zero */
                    if (i % nr >= ohw % nr && ohw % nr && po[b * pout + i] != 0.0f) bad = i;
            }
            for (int64_t i = 0; i < nout && bad < 0; i++)
                if (!(fabs(out[i] - ref[i]) <= tol)) bad = i;
            CHECK_MSG(bad < 0,
                      "%s layout %d: b%lld c%lld->%lld %lldx%lld k%lldx%lld s%lld,%lld d%lld,%lld "
                      "p%lld,%lld,%lld,%lld"
                      " g%lld act %d at %lld: %g vs %g",
                      tables[t]->name, l, (long long)g.batch, (long long)g.cin, (long long)g.cout,
                      (long long)g.h, (long long)g.w, (long long)g.kh, (long long)g.kw, (long long)g.stride_h,
                      (long long)g.stride_w, (long long)g.dil_h, (long long)g.dil_w, (long long)g.pad_t,
                      (long long)g.pad_l, (long long)pad_b, (long long)pad_r, (long long)g.groups, act.kind,
                      (long long)bad, bad >= 0 && bad < nout ? out[bad] : 0.0,
                      bad >= 0 && bad < nout ? ref[bad] : 0.0);
            free(pi), free(po);
        }
        ember_conv2d_weights_free(w);
    }
    free(in), free(W), free(bias), free(res), free(out), free(ref);
}

static void test_random_convs(void) {
    for (int it = 0; it < 60; it++) {
        int64_t groups = it % 3 == 0 ? 1 : pick(1, 3);
        ember_conv2d_shape g = {.batch = pick(1, 2), .cin = groups * pick(1, 5), .cout = groups * pick(1, 9),
                                .h = pick(1, 13), .w = pick(1, 21), .kh = pick(1, 4), .kw = pick(1, 4),
                                .stride_h = pick(1, 3), .stride_w = pick(1, 3), .dil_h = pick(1, 2),
                                .dil_w = pick(1, 2), .pad_t = pick(0, 2), .pad_l = pick(0, 2), .groups = groups};
        check_conv(g, pick(0, 2), pick(0, 2), (ember_act){(ember_act_kind)(it % EMBER_ACT_COUNT), 0.1f, 0.6f, check_slopes()},
                   it % 4 == 1);
    }
}

static void test_pointwise(void) {
    ember_conv2d_shape g = {.batch = 2, .cin = 17, .cout = 33, .h = 9, .w = 11, .kh = 1, .kw = 1, .stride_h = 1,
                            .stride_w = 1, .dil_h = 1, .dil_w = 1, .groups = 1};
    check_conv(g, 0, 0, (ember_act){EMBER_ACT_CLIP, 0.0f, 6.0f, NULL}, false);
    check_conv(g, 0, 0, (ember_act){EMBER_ACT_NONE, 0, 0, NULL}, true);
    /* few input channels (direct, the plane as one row in chunks): planes under one chunk (192 columns at cin
     * 16), of one chunk and a ragged end, of several; cout tails (channels go by 8, then 4); a residual; cin
     * up to 32 and past it (GEMM again); planes a multiple of 4 KB (the last five: their rows are copied
     * together from 2 blocks of 8 output channels); the last three on the GEMM, batch 2 among them (images
     * in panels one after another) */
    typedef struct {
        int64_t cin, cout, h, w;
    } pw_case;
    const pw_case cs[] = {{16, 16, 4, 5},   {16, 32, 19, 21}, {32, 64, 20, 20},  {3, 13, 30, 17},
                          {8, 5, 1, 200},   {32, 8, 13, 31},  {33, 16, 9, 9},    {1, 64, 12, 40},
                          {24, 16, 5, 90},  {32, 39, 7, 30},  {28, 62, 3, 50},   {31, 3, 10, 10},
                          {20, 40, 32, 32}, {16, 48, 64, 64}, {32, 33, 2, 2048}, {16, 16, 32, 32},
                          {24, 21, 64, 64}, {40, 24, 9, 13},  {64, 80, 7, 7},    {48, 70, 5, 6}};
    for (size_t i = 0; i < sizeof cs / sizeof cs[0]; i++) {
        ember_conv2d_shape p = g;
        p.batch = 1 + (int64_t)(i % 2), p.cin = cs[i].cin, p.cout = cs[i].cout, p.h = cs[i].h, p.w = cs[i].w;
        check_conv(p, 0, 0, (ember_act){(ember_act_kind)(i % EMBER_ACT_COUNT), 0.1f, 0.6f, check_slopes()}, i % 3 == 1);
    }
}

/* MobileNet-style depthwise 3x3 (stride 1 and 2, pad 1), a multiplier-2 depthwise and a 5x5 one. */
static void test_depthwise(void) {
    static const int widths[] = {5, 7, 9, 12, 21, 37}; /* rows of < 4, 4..7 and >= 8 outputs */
    for (int s = 1; s <= 2; s++)
        for (size_t wi = 0; wi < sizeof widths / sizeof widths[0]; wi++) {
            int wdt = widths[wi];
            ember_conv2d_shape g = {.batch = 1, .cin = 6, .cout = 6, .h = 13, .w = wdt, .kh = 3, .kw = 3,
                                    .stride_h = s, .stride_w = s, .dil_h = 1, .dil_w = 1, .pad_t = 1, .pad_l = 1,
                                    .groups = 6};
            check_conv(g, 1, 1, (ember_act){EMBER_ACT_CLIP, 0.0f, 6.0f, NULL}, s == 1);
        }
    /* a bigger plane, fused and separate epilogues */
    ember_conv2d_shape big = {.batch = 1,
                              .cin = 3,
                              .cout = 3,
                              .h = 40,
                              .w = 37,
                              .kh = 3,
                              .kw = 3,
                              .stride_h = 1,
                              .stride_w = 1,
                              .dil_h = 1,
                              .dil_w = 1,
                              .pad_t = 1,
                              .pad_l = 1,
                              .groups = 3};
    check_conv(big, 1, 1, (ember_act){EMBER_ACT_CLIP, 0.0f, 6.0f, NULL}, false);
    check_conv(big, 1, 1, (ember_act){EMBER_ACT_SILU, 0, 0, NULL}, true);
    ember_conv2d_shape m = {.batch = 2, .cin = 3, .cout = 6, .h = 10, .w = 19, .kh = 5, .kw = 5, .stride_h = 1,
                            .stride_w = 2, .dil_h = 2, .dil_w = 1, .pad_t = 2, .pad_l = 3, .groups = 3};
    check_conv(m, 2, 0, (ember_act){EMBER_ACT_RELU, 0, 0, NULL}, false);
    /* a window over the whole plane (one dot product per channel): MobileFaceNet's 7x7 over 7x7 with PReLU,
     * batch 2 and a multiplier of 2 with a residual, a plane of 3 (under one vector), 70 channels (two tasks
     * of 64), and with bottom/right padding a second window does not reach */
    ember_conv2d_shape gd = {.batch = 1, .cin = 70, .cout = 70, .h = 7, .w = 7, .kh = 7, .kw = 7, .stride_h = 1,
                             .stride_w = 1, .dil_h = 1, .dil_w = 1, .groups = 70};
    check_conv(gd, 0, 0, (ember_act){EMBER_ACT_PRELU, 0, 0, check_slopes()}, false);
    gd.cin = gd.cout = gd.groups = 520; /* 25480 MACs: the channels split between threads */
    check_conv(gd, 0, 0, (ember_act){EMBER_ACT_NONE, 0, 0, NULL}, true);
    gd.batch = 2, gd.cin = gd.groups = 5, gd.cout = 10, gd.h = gd.kh = 3, gd.w = gd.kw = 9;
    check_conv(gd, 0, 0, (ember_act){EMBER_ACT_CLIP, -0.5f, 0.5f, NULL}, true);
    gd.batch = 1, gd.h = gd.kh = 1, gd.w = gd.kw = 3, gd.stride_h = gd.stride_w = 4;
    check_conv(gd, 2, 3, (ember_act){EMBER_ACT_RELU, 0, 0, NULL}, false);
    /* large planes (several bands each) */
    ember_conv2d_shape huge = {.batch = 1, .cin = 2, .cout = 2, .h = 129, .w = 130, .kh = 3, .kw = 3, .stride_h = 1,
                               .stride_w = 1, .dil_h = 1, .dil_w = 1, .pad_t = 1, .pad_l = 1, .groups = 2};
    check_conv(huge, 1, 1, (ember_act){EMBER_ACT_CLIP, 0.0f, 6.0f, NULL}, false);
    huge.stride_h = huge.stride_w = 2;
    check_conv(huge, 0, 1, (ember_act){EMBER_ACT_SILU, 0, 0, NULL}, true);
    huge.kh = huge.kw = 5, huge.dil_w = 2, huge.pad_t = 3, huge.pad_l = 4, huge.stride_h = 1, huge.cout = 4;
    check_conv(huge, 2, 5, (ember_act){EMBER_ACT_RELU, 0, 0, NULL}, false);
    /* rows over DW_BAND outputs: bands of one row, padding rows falling in the first and last bands, batch 2,
     * multiplier 2 */
    ember_conv2d_shape wide = {.batch = 2,
                               .cin = 2,
                               .cout = 4,
                               .h = 5,
                               .w = 8300,
                               .kh = 3,
                               .kw = 3,
                               .stride_h = 1,
                               .stride_w = 1,
                               .dil_h = 2,
                               .dil_w = 2,
                               .pad_t = 3,
                               .pad_l = 2,
                               .groups = 2};
    check_conv(wide, 2, 3, (ember_act){EMBER_ACT_RELU, 0, 0, NULL}, true);
    wide.stride_h = wide.stride_w = 2, wide.w = 16500;
    check_conv(wide, 1, 1, (ember_act){EMBER_ACT_CLIP, 0.0f, 6.0f, NULL}, false);
    /* the channel-interleaved path (stride 2 on small planes, rows under 8): full blocks of 8 channels and a
     * tail of 4, a multiplier of 2, fused and separate epilogues, several bands of rows */
    ember_conv2d_shape il = {.batch = 2, .cin = 20, .cout = 20, .h = 14, .w = 13, .kh = 3, .kw = 3, .stride_h = 2,
                             .stride_w = 2, .dil_h = 1, .dil_w = 1, .pad_t = 1, .pad_l = 1, .groups = 20};
    check_conv(il, 1, 1, (ember_act){EMBER_ACT_CLIP, 0.0f, 6.0f, NULL}, false);
    check_conv(il, 0, 1, (ember_act){EMBER_ACT_PRELU, 0, 0, check_slopes()}, true);
    il.h = il.w = 7, il.stride_h = il.stride_w = 1, il.cout = 40, il.kh = il.kw = 5, il.pad_t = il.pad_l = 2;
    check_conv(il, 2, 2, (ember_act){EMBER_ACT_RELU, 0, 0, NULL}, false);
    il.batch = 1, il.cin = il.groups = il.cout = 16, il.h = 300, il.w = 5, il.kh = il.kw = 3, il.pad_t = il.pad_l = 1;
    check_conv(il, 1, 1, (ember_act){EMBER_ACT_NONE, 0, 0, NULL}, true);
    /* a lone 1->1 conv (groups 1) takes the depthwise kernel too (YuNet heads) */
    ember_conv2d_shape one = {.batch = 1, .cin = 1, .cout = 1, .h = 40, .w = 40, .kh = 3, .kw = 3, .stride_h = 1,
                              .stride_w = 1, .dil_h = 1, .dil_w = 1, .pad_t = 1, .pad_l = 1, .groups = 1};
    check_conv(one, 1, 1, (ember_act){EMBER_ACT_NONE, 0, 0, NULL}, false);
    one.h = 11, one.w = 9, one.stride_w = 2;
    check_conv(one, 1, 1, (ember_act){EMBER_ACT_RELU, 0, 0, NULL}, true);
    /* random depthwise shapes: windows wider than the row, pads beyond the kernel, strides 1..3, dilations,
     * multipliers, some bigger planes */
    for (int it = 0; it < 40; it++) {
        int64_t c = pick(2, 5), big_plane = it % 5 == 0;
        ember_conv2d_shape r = {.batch = pick(1, 2), .cin = c, .cout = c * pick(1, 2),
                                .h = big_plane ? pick(30, 41) : pick(1, 12), .w = big_plane ? pick(30, 45) : pick(1, 23),
                                .kh = pick(1, 5), .kw = pick(1, 5), .stride_h = pick(1, 3), .stride_w = pick(1, 3),
                                .dil_h = pick(1, 2), .dil_w = pick(1, 2), .pad_t = pick(0, 4), .pad_l = pick(0, 4),
                                .groups = c};
        check_conv(r, pick(0, 4), pick(0, 4), (ember_act){(ember_act_kind)(it % EMBER_ACT_COUNT), 0.1f, 0.6f, check_slopes()},
                   it % 3 == 1);
    }
}

/* The direct path for few input taps (stems): 3->16 3x3 stride 2 like YuNet/MobileNet, output-channel tails,
 * stride 1, 3 and 4, dilation, asymmetric pads (some wider than the kernel: whole padding rows and columns),
 * rows of 16..23 (8-column blocks) and of 24+ (24-column blocks with a ragged end), batch 2 and a residual,
 * and an input over 1 MB (rows run in chunks with the next rows prefetched). */
static void test_direct(void) {
    struct { int64_t cin, cout, h, w, k, s, d, pt, pl, pb, pr; } cs[] = {
        {3, 16, 37, 45, 3, 2, 1, 1, 1, 1, 1}, {3, 13, 20, 33, 3, 1, 1, 1, 1, 1, 1}, {2, 27, 17, 40, 3, 2, 2, 2, 0, 1, 3},
        {1, 8, 9, 35, 5, 1, 1, 2, 2, 2, 2},   {3, 64, 8, 34, 3, 2, 1, 0, 1, 0, 0}, {3, 5, 6, 50, 2, 2, 1, 0, 0, 1, 1},
        {3, 9, 11, 64, 3, 1, 2, 3, 4, 0, 2},  {3, 16, 9, 40, 3, 2, 1, 1, 1, 1, 1}, {3, 7, 12, 70, 3, 3, 1, 1, 2, 1, 0},
        {2, 12, 7, 100, 4, 4, 1, 2, 3, 1, 3}, {4, 20, 10, 49, 2, 2, 3, 3, 3, 2, 2}, {3, 16, 5, 30, 3, 1, 1, 4, 4, 4, 4},
        {3, 32, 13, 47, 3, 2, 1, 1, 1, 1, 1}, {3, 4, 6, 33, 3, 1, 1, 0, 0, 0, 0}, {3, 5, 40, 2200, 3, 2, 1, 1, 1, 1, 1}};
    for (size_t i = 0; i < sizeof cs / sizeof cs[0]; i++) {
        ember_conv2d_shape g = {.batch = 1 + (int64_t)(i % 2), .cin = cs[i].cin, .cout = cs[i].cout, .h = cs[i].h,
                                .w = cs[i].w, .kh = cs[i].k, .kw = cs[i].k, .stride_h = cs[i].s, .stride_w = cs[i].s,
                                .dil_h = cs[i].d, .dil_w = cs[i].d, .pad_t = cs[i].pt, .pad_l = cs[i].pl, .groups = 1};
        check_conv(g, cs[i].pb, cs[i].pr, (ember_act){(ember_act_kind)(i % EMBER_ACT_COUNT), 0.1f, 0.6f, check_slopes()}, i % 3 == 1);
    }
}

/* The table's conv_rows (and conv_rows16 where it has one, every other case) against the scalar reference on
 * its own: every row length from 1 (tails of the 8-, 16- and 24-column blocks), 1..8 (1..16) channels, 1..32
 * taps, with and without bias + clamp; each tap row is its own allocation of exactly n floats (ASan catches
 * reads past it) and columns past n must stay unwritten. */
static void test_conv_rows(void) {
    const ember_kernel_table *k = ember_kernels();
    for (int it = 0; it < 240; it++) {
        bool wide = k->conv_rows16 && it % 2;
        int64_t n = it < 80 ? it + 1 : pick(1, 100), noc = pick(1, wide ? 16 : 8), ntaps = pick(1, 32);
        int64_t ldo = n + pick(0, 3);
        float *rows[32], *w8 = rand_buf(ntaps * 16), *rbias = rand_buf(noc);
        for (int64_t t = 0; t < ntaps; t++) rows[t] = rand_buf(n);
        for (int64_t b = 0; b < 2; b++) /* blocks of 8 channels, zero past noc */
            for (int64_t t = 0; t < ntaps; t++)
                for (int64_t o = 0; o < 8; o++)
                    if (b * 8 + o >= noc) w8[(b * ntaps + t) * 8 + o] = 0.0f;
        ember_ukernel_post post = {.rbias = it % 4 == 1 ? NULL : rbias, .lo = it % 2 ? -0.5f : -INFINITY,
                                   .hi = it % 3 ? 0.7f : INFINITY};
        const ember_ukernel_post *pp = it % 5 == 0 ? NULL : &post;
        float *out = malloc((size_t)(noc * ldo) * sizeof *out), *ref = malloc((size_t)(noc * ldo) * sizeof *ref);
        for (int64_t i = 0; i < noc * ldo; i++) out[i] = ref[i] = -7.0f;
        (wide ? k->conv_rows16 : k->conv_rows)(out, ldo, noc, w8, (const float *const *)rows, ntaps, n, pp);
        ember_conv_rows_ref(ref, ldo, noc < 8 ? noc : 8, w8, (const float *const *)rows, ntaps, n, pp);
        if (noc > 8) {
            ember_ukernel_post p2 = post;
            p2.rbias = post.rbias ? post.rbias + 8 : NULL;
            ember_conv_rows_ref(ref + 8 * ldo, ldo, noc - 8, w8 + ntaps * 8, (const float *const *)rows,
                                ntaps, n, pp ? &p2 : NULL);
        }
        int64_t bad = first_off(out, ref, noc * ldo, 1e-5 * (double)(ntaps + 4));
        CHECK_MSG(bad < 0, "%s conv_rows n %lld noc %lld taps %lld at %lld: %g vs %g", k->name, (long long)n,
                  (long long)noc, (long long)ntaps, (long long)bad, bad >= 0 ? out[bad] : 0.0, bad >= 0 ? ref[bad] : 0.0);
        for (int64_t t = 0; t < ntaps; t++) free(rows[t]);
        free(w8), free(rbias), free(out), free(ref);
    }
}

/* Winograd F(4x4, 3x3): 3x3 stride-1 convs with enough channels, odd sizes (partial tiles, tile rows that
 * end inside a group of 4 lanes, chunks of several tile rows), paddings 0..4 (zero bands around the plane),
 * batch 2, and a residual. */
static void test_winograd(void) {
    for (int it = 0; it < 30; it++) {
        ember_conv2d_shape g = {.batch = it % 4 == 0 ? 2 : 1,
                                /* past one transform block (BLOCK / mr); the last past WINO_DIRECT_K (the
                                 * products then go through the GEMM driver) */
                                .cin = it == 29 ? pick(257, 300) : pick(16, 30),
                                .cout = pick(16, 26),
                                .h = it < 20 ? pick(1, 14) : pick(20, 60),
                                .w = it < 20 ? pick(1, 19) : pick(20, 60),
                                .kh = 3,
                                .kw = 3,
                                .stride_h = 1,
                                .stride_w = 1,
                                .dil_h = 1,
                                .dil_w = 1,
                                .pad_t = pick(0, it % 5 == 4 ? 4 : 2),
                                .pad_l = pick(0, it % 5 == 4 ? 4 : 2),
                                .groups = 1};
        CHECK(ember_wino_suits(&g));
        ember_act_kind kinds[3] = {EMBER_ACT_NONE, EMBER_ACT_RELU, EMBER_ACT_PRELU};
        check_conv(g, pick(0, it % 5 == 4 ? 4 : 2), pick(0, it % 5 == 4 ? 4 : 2),
                   (ember_act){kinds[it % 3], 0, 0, check_slopes()}, it % 4 == 1);
    }
}

/* The vector transforms of this CPU's table against the scalar ones, for lane counts with tails. */
static void test_winograd_transforms(void) {
    const ember_kernel_table *k = ember_kernels();
    for (int64_t L = 1; L <= 40; L += 3) { /* 16-lane vectors: whole ones, and every tail with them */
        int64_t vs = L + 2;
        float *d = rand_buf(36 * L), *v1 = rand_buf(36 * vs), *v2 = malloc((size_t)(36 * vs) * sizeof *v2);
        memcpy(v2, v1, (size_t)(36 * vs) * sizeof *v2);
        k->wino_in(v1, vs, d, L);
        ember_wino_in_ref(v2, vs, d, L);
        for (int64_t i = 0; i < 36 * vs; i++) CHECK_NEAR(v1[i], v2[i], 1e-5);
        float *y1 = malloc((size_t)(16 * L) * sizeof *y1), *y2 = malloc((size_t)(16 * L) * sizeof *y2);
        k->wino_out(y1, v1, vs, L);
        ember_wino_out_ref(y2, v1, vs, L);
        for (int64_t i = 0; i < 16 * L; i++) CHECK_NEAR(y1[i], y2[i], 1e-4);
        free(d), free(v1), free(v2), free(y1), free(y2);
    }
    /* 4 tiles' patches against the scalar split, lane strides 4..16, row pitches 20..23; the source ends at
     * the last element the vector loads may read (row 5, column 19) */
    for (int64_t L = 4; L <= 16; L += 4)
        for (int64_t pitch = 20; pitch <= 23; pitch++) {
            float *p = rand_buf(5 * pitch + 20), *d1 = calloc((size_t)(36 * L), sizeof *d1),
                  *d2 = calloc((size_t)(36 * L), sizeof *d2);
            k->wino_gather4(d1, L, p, pitch);
            ember_wino_gather4_ref(d2, L, p, pitch);
            CHECK_MSG(memcmp(d1, d2, (size_t)(36 * L) * sizeof *d1) == 0, "%s wino_gather4 L=%lld pitch=%lld",
                      k->name, (long long)L, (long long)pitch);
            free(p), free(d1), free(d2);
        }
    /* and up to 4 output tiles back, cut to every row and column count, with bias and clamp (a NaN among
     * the values stays NaN); nothing past the cut is written */
    for (int64_t L = 4; L <= 16; L += 4)
        for (int64_t ow = 16; ow <= 19; ow++)
            for (int rows = 1; rows <= 4; rows++)
                for (int cols = 1; cols <= 16; cols++) {
                    float *y = rand_buf(16 * L), *o1 = malloc((size_t)(3 * ow + 16) * sizeof *o1),
                          *o2 = malloc((size_t)(3 * ow + 16) * sizeof *o2);
                    for (int64_t i = 0; i < 3 * ow + 16; i++) o1[i] = o2[i] = -9.0f;
                    y[5] = NAN;
                    k->wino_scatter4(o1, ow, y, L, rows, cols, 0.25f, -0.5f, 0.75f);
                    ember_wino_scatter4_ref(o2, ow, y, L, rows, cols, 0.25f, -0.5f, 0.75f);
                    CHECK_MSG(memcmp(o1, o2, (size_t)(3 * ow + 16) * sizeof *o1) == 0,
                              "%s wino_scatter4 L=%lld ow=%lld rows %d cols %d", k->name, (long long)L,
                              (long long)ow, rows, cols);
                    free(y), free(o1), free(o2);
                }
}

/* The strided copy of im2col against its scalar twin, lengths with tails, strides 1-3; the source ends
 * exactly at the last element read (ASan checks the "reads nothing past" promise). */
static void test_gather(void) {
    const ember_kernel_table *k = ember_kernels(), *g = ember_kernels_generic();
    for (int64_t stride = 1; stride <= 3; stride++)
        for (int64_t n = 1; n <= 21; n++) {
            float *src = rand_buf((n - 1) * stride + 1), d1[21], d2[21];
            k->gather(d1, src, n, stride);
            g->gather(d2, src, n, stride);
            CHECK_MSG(memcmp(d1, d2, (size_t)n * sizeof *d1) == 0, "%s gather n=%lld stride=%lld", k->name,
                      (long long)n, (long long)stride);
            free(src);
        }
}

/* The row form of the strided copy: rows 1..3, widths with tails and under a vector, strides 1-3, row pitch
 * n or more; the source ends at the last element read and the destination at the last row's end (ASan), and
 * both start zeroed, so the zeros the vector version may leave past short rows compare equal. */
static void test_gather_rows(void) {
    const ember_kernel_table *k = ember_kernels();
    for (int64_t stride = 1; stride <= 3; stride++)
        for (int64_t n = 1; n <= 19; n++)
            for (int64_t rows = 1; rows <= 3; rows++) {
                int64_t ldd = n + (n + rows) % 3, lds = (n - 1) * stride + 1 + rows % 2;
                int64_t nd = (rows - 1) * ldd + n;
                float *src = rand_buf((rows - 1) * lds + (n - 1) * stride + 1);
                float *d1 = calloc((size_t)nd, sizeof *d1), *d2 = calloc((size_t)nd, sizeof *d2);
                k->gather_rows(d1, ldd, src, lds, rows, n, stride);
                ember_gather_rows_ref(d2, ldd, src, lds, rows, n, stride);
                CHECK_MSG(memcmp(d1, d2, (size_t)nd * sizeof *d1) == 0,
                          "%s gather_rows n=%lld rows=%lld stride=%lld", k->name, (long long)n,
                          (long long)rows, (long long)stride);
                free(src), free(d1), free(d2);
            }
}

/* Both phases of a stride-2 row copy against the scalar twin: widths 1..40 (vector bodies, tails, one phase
 * a float shorter), rows 1..3, pitched rows; the source ends at the last element read and the destinations
 * start zeroed (nothing may be written past n0 / n1). */
static void test_deinterleave_rows(void) {
    const ember_kernel_table *k = ember_kernels();
    for (int64_t w = 1; w <= 40; w++)
        for (int64_t rows = 1; rows <= 3; rows++) {
            int64_t n0 = (w + 1) / 2, n1 = w / 2 - (w % 5 == 0 && w / 2 > 0), ldd = n0 + rows % 2,
                    lds = w + rows % 3;
            int64_t nd = rows * ldd;
            float *src = rand_buf((rows - 1) * lds + w), *d[4];
            for (int i = 0; i < 4; i++) d[i] = calloc((size_t)nd, sizeof *d[i]);
            k->deinterleave_rows(d[0], d[1], ldd, src, lds, rows, n0, n1);
            ember_deinterleave_rows_ref(d[2], d[3], ldd, src, lds, rows, n0, n1);
            CHECK_MSG(!memcmp(d[0], d[2], (size_t)nd * sizeof(float)) &&
                          !memcmp(d[1], d[3], (size_t)nd * sizeof(float)),
                      "%s deinterleave_rows w=%lld rows=%lld", k->name, (long long)w, (long long)rows);
            CHECK(d[2][0] == src[0] && (n1 == 0 || d[3][0] == src[1]));
            free(src);
            for (int i = 0; i < 4; i++) free(d[i]);
        }
}

/* The depthwise block against its scalar twin: 0..12 taps (9 takes the register-resident path), widths under
 * and over a vector, several rows, contiguous (ldo == n) and pitched output, with and without bias + clamp;
 * each tap's rows end at the last element read (ASan). */
static void test_dw_block(void) {
    const ember_kernel_table *k = ember_kernels();
    for (int it = 0; it < 200; it++) {
        int64_t nt = it % 4 == 0 ? 9 : pick(0, 12), n = pick(1, 21), rows = pick(1, 4);
        int64_t ldi = n + pick(0, 3), ldo = it % 2 ? n : n + pick(1, 3);
        const float *taps[12];
        float *bufs[12];
        for (int64_t t = 0; t < nt; t++) taps[t] = bufs[t] = rand_buf((rows - 1) * ldi + n);
        float *w = rand_buf(12), bias = check_randf(-1.0f, 1.0f);
        ember_ukernel_post post = {.rbias = it % 3 ? &bias : NULL, .lo = -0.5f, .hi = 0.7f};
        const ember_ukernel_post *pp = it % 5 ? &post : NULL;
        int64_t no = (rows - 1) * ldo + n;
        float *o1 = malloc((size_t)no * sizeof *o1), *o2 = malloc((size_t)no * sizeof *o2);
        for (int64_t i = 0; i < no; i++) o1[i] = o2[i] = -7.0f; /* the gaps between rows stay */
        k->dw_block(o1, ldo, taps, w, nt, ldi, rows, n, pp);
        ember_dw_block_ref(o2, ldo, taps, w, nt, ldi, rows, n, pp);
        int64_t bad = first_off(o1, o2, no, 1e-5);
        CHECK_MSG(bad < 0, "%s dw_block taps=%lld n=%lld rows=%lld ldi=%lld ldo=%lld at %lld", k->name,
                  (long long)nt, (long long)n, (long long)rows, (long long)ldi, (long long)ldo,
                  (long long)bad);
        for (int64_t t = 0; t < nt; t++) free(bufs[t]);
        free(w), free(o1), free(o2);
    }
}

/* The 3x3 in-place rows against their scalar twin, and the twin against dw_block_ref over a zero-padded copy
 * (what the copying path computes): widths 1..40 (under, at and over a vector; both edge vectors alone and
 * overlapping), 1..5 rows, pitched input and output, with and without bias + clamp. The plane, the row above
 * and the row below are separate buffers ending at their last element and starting at their first (ASan). */
static void test_dw3(void) {
    const ember_kernel_table *k = ember_kernels();
    for (int it = 0; it < 300; it++) {
        int64_t n = it < 40 ? it + 1 : pick(1, 40), rows = pick(1, 5), ldi = n + pick(0, 3);
        int64_t ldo = it % 2 ? n : n + pick(1, 3), no = (rows - 1) * ldo + n, pp = n + 2;
        float *in = rand_buf((rows - 1) * ldi + n), *above = rand_buf(n), *below = rand_buf(n);
        float *w = rand_buf(9), bias = check_randf(-1.0f, 1.0f);
        if (it % 7 == 0)
            memset(above, 0, (size_t)n * sizeof *above); /* as conv.c passes at the plane's ends */
        ember_ukernel_post post = {.rbias = it % 3 ? &bias : NULL, .lo = -0.5f, .hi = 0.7f};
        const ember_ukernel_post *ps = it % 5 ? &post : NULL;
        float *o1 = malloc((size_t)no * sizeof *o1), *o2 = malloc((size_t)no * sizeof *o2);
        float *o3 = malloc((size_t)no * sizeof *o3), *pad = calloc((size_t)((rows + 2) * pp), sizeof *pad);
        for (int64_t i = 0; i < no; i++) o1[i] = o2[i] = o3[i] = -7.0f; /* the gaps between rows stay */
        k->dw3(o1, ldo, in, ldi, above, below, rows, n, w, ps);
        ember_dw3_ref(o2, ldo, in, ldi, above, below, rows, n, w, ps);
        for (int64_t r = 0; r < rows + 2; r++) {
            const float *src = r == 0 ? above : r == rows + 1 ? below : in + (r - 1) * ldi;
            memcpy(pad + r * pp + 1, src, (size_t)n * sizeof *pad);
        }
        const float *taps[9];
        for (int t = 0; t < 9; t++) taps[t] = pad + t / 3 * pp + t % 3;
        ember_dw_block_ref(o3, ldo, taps, w, 9, pp, rows, n, ps);
        int64_t bad = first_off(o1, o2, no, 1e-5);
        if (bad < 0) bad = first_off(o3, o2, no, 1e-5);
        CHECK_MSG(bad < 0, "%s dw3 n=%lld rows=%lld ldi=%lld ldo=%lld at %lld", k->name, (long long)n,
                  (long long)rows, (long long)ldi, (long long)ldo, (long long)bad);
        free(in), free(above), free(below), free(w), free(o1), free(o2), free(o3), free(pad);
    }
}

/* The 3x3 stride-2 in-place rows (tables that have them) against their scalar twin, and the twin against
 * dw_block_ref over a zero-padded copy: input widths 1..45 (output 1..23: one and two 16-lane blocks, every
 * tail), 1..4 output rows from 1..9 input rows (the last output rows reading past them, as bottom padding),
 * a row above or none, pitched input and output, with and without bias + clamp. Rows are separate buffers
 * ending at their last element (ASan). */
static void test_dw3s2(void) {
    const ember_kernel_table *k = ember_kernels();
    if (!k->dw3s2) return;
    for (int it = 0; it < 300; it++) {
        int64_t n_in = it < 45 ? it + 1 : pick(1, 45), n = (n_in + 1) / 2, rows = pick(1, 4);
        int64_t in_rows = pick(2 * rows - 1 > 1 ? 2 * rows - 1 : 1, 2 * rows), ldi = n_in + pick(0, 3);
        int64_t ldo = it % 2 ? n : n + pick(1, 3), no = (rows - 1) * ldo + n, pp = n_in + 3;
        float *in = rand_buf((in_rows - 1) * ldi + n_in), *above = it % 3 ? rand_buf(n_in) : NULL;
        float *w = rand_buf(9), bias = check_randf(-1.0f, 1.0f);
        ember_ukernel_post post = {.rbias = it % 3 ? &bias : NULL, .lo = -0.5f, .hi = 0.7f};
        const ember_ukernel_post *ps = it % 5 ? &post : NULL;
        float *o1 = malloc((size_t)no * sizeof *o1), *o2 = malloc((size_t)no * sizeof *o2);
        float *o3 = malloc((size_t)no * sizeof *o3),
              *pad = calloc((size_t)((2 * rows + 2) * pp), sizeof *pad);
        for (int64_t i = 0; i < no; i++) o1[i] = o2[i] = o3[i] = -7.0f; /* the gaps between rows stay */
        k->dw3s2(o1, ldo, in, ldi, above, in_rows, rows, n_in, n, w, ps);
        ember_dw3s2_ref(o2, ldo, in, ldi, above, in_rows, rows, n_in, n, w, ps);
        for (int64_t r = 0; r < 2 * rows + 1; r++) { /* padded row r is input row r - 1 */
            const float *src = r == 0 ? above : r - 1 < in_rows ? in + (r - 1) * ldi : NULL;
            if (src) memcpy(pad + r * pp + 1, src, (size_t)n_in * sizeof *pad);
        }
        const float *taps[9];
        for (int t = 0; t < 9; t++) taps[t] = pad + t / 3 * pp + t % 3;
        float *o4 =
            malloc((size_t)(rows * n * 2) * sizeof *o4); /* dw_block at stride 1, every other column */
        ember_dw_block_ref(o4, 2 * n, taps, w, 9, 2 * pp, rows, 2 * n - 1, ps);
        for (int64_t r = 0; r < rows; r++)
            for (int64_t x = 0; x < n; x++) o3[r * ldo + x] = o4[r * 2 * n + 2 * x];
        int64_t bad = first_off(o1, o2, no, 1e-5);
        if (bad < 0) bad = first_off(o3, o2, no, 1e-5);
        CHECK_MSG(bad < 0, "%s dw3s2 n_in=%lld rows=%lld in_rows=%lld ldi=%lld ldo=%lld at %lld", k->name,
                  (long long)n_in, (long long)rows, (long long)in_rows, (long long)ldi, (long long)ldo,
                  (long long)bad);
        free(in), free(above), free(w), free(o1), free(o2), free(o3), free(o4), free(pad);
    }
}

/* Channel interleaving against its scalar twin: 1..8 channel rows (missing ones read as zeros, never
 * touched), 0..40 columns (vector blocks and every tail); the source rows end at their last column (ASan),
 * and nothing is written past the pixels rounded up to 8 (isa.h). */
static void test_interleave_rows(void) {
    const ember_kernel_table *k = ember_kernels();
    for (int64_t nc = 1; nc <= EMBER_DWC; nc++)
        for (int64_t n = 0; n <= 40; n++) {
            float *rows[EMBER_DWC] = {0};
            for (int64_t c = 0; c < nc; c++) rows[c] = rand_buf(n);
            int64_t room = ((n + 7) / 8 * 8 + 1) * EMBER_DWC;
            float *d1 = malloc((size_t)room * sizeof *d1), *d2 = malloc((size_t)room * sizeof *d2);
            for (int64_t i = 0; i < room; i++) d1[i] = d2[i] = -7.0f;
            k->interleave_rows(d1, (const float *const *)rows, nc, n);
            ember_interleave_rows_ref(d2, (const float *const *)rows, nc, n);
            int64_t bad = -1;
            for (int64_t i = 0; i < n * EMBER_DWC && bad < 0; i++)
                if (d1[i] != d2[i]) bad = i;
            for (int64_t i = n * EMBER_DWC; i < room && bad < 0; i++) /* zeros, or untouched */
                if (d1[i] != -7.0f && (d1[i] != 0.0f || i >= (n + 7) / 8 * 8 * EMBER_DWC)) bad = i;
            CHECK_MSG(bad < 0, "%s interleave_rows nc=%lld n=%lld at %lld", k->name, (long long)nc, (long long)n,
                      (long long)bad);
            for (int64_t c = 0; c < nc; c++) free(rows[c]);
            free(d1), free(d2);
        }
}

/* The channel-interleaved depthwise kernel against its scalar twin: 1..8 channels, 0..12 taps at random
 * offsets, 1..4 rows of 1..19 pixels (narrower and wider than a vector, blocks running across rows),
 * strides 1..3, pitched outputs or panels of 4..16 pixels (5 and 12: not whole vector blocks on every ISA)
 * with gaps between them, with and without a clamp and PRelu slopes; nothing but the outputs is written. */
static void test_dw_interleaved(void) {
    const ember_kernel_table *k = ember_kernels();
    for (int it = 0; it < 300; it++) {
        int64_t nc = it % 3 ? EMBER_DWC : pick(1, EMBER_DWC), nt = it % 4 ? 9 : pick(0, 12);
        int64_t ow = pick(1, 19), rows = pick(1, 4), n = rows * ow, sxp = pick(1, 3), pw = (ow - 1) * sxp + 3;
        static const int64_t panels[5] = {4, 5, 8, 12, 16};
        int64_t syp = pw * pick(1, 2), ldo = n + pick(0, 5), np = it % 3 ? 0 : panels[pick(0, 4)], ldp = 0;
        if (np) ldo = np, ldp = (EMBER_DWC + pick(0, 2)) * np;
        int64_t tap[12], span = 0;
        for (int64_t t = 0; t < nt; t++) {
            tap[t] = (pick(0, 2) * pw + pick(0, 2)) * EMBER_DWC;
            span = tap[t] > span ? tap[t] : span;
        }
        int64_t nin = (rows - 1) * syp * EMBER_DWC + (ow - 1) * sxp * EMBER_DWC + span + EMBER_DWC;
        float *in = rand_buf(nin), *w = rand_buf(12 * EMBER_DWC), *bias = rand_buf(EMBER_DWC);
        float lo = it % 5 ? -0.5f : -INFINITY, hi = it % 5 ? 0.7f : INFINITY;
        int64_t no = np ? (n + np - 1) / np * ldp : EMBER_DWC * ldo;
        float *o1 = malloc((size_t)no * sizeof *o1), *o2 = malloc((size_t)no * sizeof *o2);
        for (int64_t i = 0; i < no; i++) o1[i] = o2[i] = -7.0f;
        const float *slope = it % 2 ? check_slopes() : NULL; /* PRelu (slopes of either sign) */
        k->dw_interleaved(o1, ldo, nc, in, n, ow, sxp * EMBER_DWC, syp * EMBER_DWC, tap, nt, w, bias, lo, hi,
                          slope, np, ldp);
        ember_dw_interleaved_ref(o2, ldo, nc, in, n, ow, sxp * EMBER_DWC, syp * EMBER_DWC, tap, nt, w, bias,
                                 lo, hi, slope, np, ldp);
        int64_t bad = first_off(o1, o2, no, 1e-5);
        CHECK_MSG(bad < 0,
                  "%s dw_interleaved nc=%lld taps=%lld n=%lld ow=%lld sx=%lld np=%lld at %lld: %g vs %g",
                  k->name, (long long)nc, (long long)nt, (long long)n, (long long)ow, (long long)sxp,
                  (long long)np, (long long)bad, bad >= 0 ? o1[bad] : 0.0, bad >= 0 ? o2[bad] : 0.0);
        free(in), free(w), free(bias), free(o1), free(o2);
    }
}

static void test_out_size(void) {
    CHECK_EQ(ember_conv_out_size(224, 3, 2, 1, 1, 1), 112);
    CHECK_EQ(ember_conv_out_size(5, 3, 1, 2, 0, 0), 1);
    CHECK_EQ(ember_conv_out_size(2, 5, 1, 1, 0, 0), 0);
}

/* ref -> its 2x2 stride-2 max pool (floor) in pooled, by the reference pooling. */
static void ref_pool2(const float *ref, float *pooled, int64_t batch, int64_t c, int64_t h, int64_t w) {
    ember_pooling2d pg = {.batch = batch, .c = c, .h = h, .w = w, .oh = h / 2, .ow = w / 2, .kh = 2, .kw = 2,
                          .stride_h = 2, .stride_w = 2, .dil_h = 1, .dil_w = 1};
    ember_pool2d_ref(&pg, ref, pooled, true);
}

/* A 1x1 conv chained into a depthwise conv against the two reference convs one after the other: few and
 * many input channels (direct rows and GEMM for the 1x1), channel counts off the group size, strides 1 and 2,
 * planes of one band and of many, every activation on both sides, batch 2, both tables; and the same with
 * the output max-pooled 2x2 (pool2). Also the pairs it must refuse. */
static void check_chain(int64_t batch, int64_t cin, int64_t mid, int64_t h, int64_t w, int64_t k, int64_t s,
                        ember_act act_a, ember_act act_b) {
    ember_conv2d_shape ga = {.batch = batch, .cin = cin, .cout = mid, .h = h, .w = w, .oh = h, .ow = w, .kh = 1,
                             .kw = 1, .stride_h = 1, .stride_w = 1, .dil_h = 1, .dil_w = 1, .groups = 1};
    ember_conv2d_shape gb = {.batch = batch, .cin = mid, .cout = mid, .h = h, .w = w, .kh = k, .kw = k,
                             .stride_h = s, .stride_w = s, .dil_h = 1, .dil_w = 1, .pad_t = k / 2, .pad_l = k / 2,
                             .groups = mid};
    gb.oh = ember_conv_out_size(h, k, s, 1, k / 2, k / 2), gb.ow = ember_conv_out_size(w, k, s, 1, k / 2, k / 2);
    int64_t nin = batch * cin * h * w, nmid = batch * mid * h * w, nout = batch * mid * gb.oh * gb.ow;
    float *in = rand_buf(nin), *Wa = rand_buf(mid * cin), *Wb = rand_buf(mid * k * k), *ba = rand_buf(mid);
    float *bb = rand_buf(mid), *tmp = malloc((size_t)nmid * sizeof *tmp), *ref = malloc((size_t)nout * sizeof *ref);
    float *out = malloc((size_t)nout * sizeof *out), *pref = malloc((size_t)nout * sizeof *pref);
    ember_epilogue ea = {.act = act_a}, eb = {.act = act_b};
    ember_conv2d_ref(&ga, Wa, in, ba, tmp, &ea);
    ember_conv2d_ref(&gb, Wb, tmp, bb, ref, &eb);
    ref_pool2(ref, pref, batch, mid, gb.oh, gb.ow);
    int64_t npool = batch * mid * (gb.oh / 2) * (gb.ow / 2);
    const ember_kernel_table *tables[2] = {ember_kernels(), ember_kernels_generic()};
    double tol = 1e-5 * (double)(cin + k * k + 8);
    for (int t = 0; t < 2; t++) {
        ember_conv2d_weights *wa = ember_conv2d_weights_create_k(tables[t], &ga, Wa);
        ember_conv2d_weights *wb = ember_conv2d_weights_create_k(tables[t], &gb, Wb);
        CHECK(wa && wb);
        for (int pooled = 0; pooled < 2; pooled++) {
            for (int64_t i = 0; i < nout; i++) out[i] = NAN;
            CHECK(ember_conv2d_chain(t ? NULL : pool2, &ga, wa, ba, &ea, &gb, wb, bb, &eb, in, out, pooled));
            double d = check_max_abs_diff(out, pooled ? pref : ref, pooled ? npool : nout);
            CHECK_MSG(d <= tol, "%s: b%lld %lld->%lld %lldx%lld dw k%lld s%lld acts %d,%d pool %d: off by %g",
                      tables[t]->name, (long long)batch, (long long)cin, (long long)mid, (long long)h, (long long)w,
                      (long long)k, (long long)s, act_a.kind, act_b.kind, pooled, d);
        }
        ember_conv2d_weights_free(wa);
        ember_conv2d_weights_free(wb);
    }
    free(in), free(Wa), free(Wb), free(ba), free(bb), free(tmp), free(ref), free(out), free(pref);
}

static void test_chain(void) {
    struct { int64_t batch, cin, mid, h, w, k, s; } cs[] = {
        {1, 16, 96, 40, 40, 3, 2}, {1, 16, 16, 64, 80, 3, 1}, {2, 24, 144, 13, 11, 3, 1}, {1, 3, 5, 9, 30, 3, 1},
        {1, 40, 50, 17, 23, 5, 2}, {2, 8, 60, 7, 7, 3, 1},    {1, 32, 64, 33, 29, 3, 1}, {1, 1, 9, 5, 200, 3, 2},
        /* wide planes: many bands per plane, rows shared between bands (5x5: two) */
        {1, 8, 64, 40, 200, 3, 1}, {2, 24, 48, 30, 160, 5, 1}, {1, 16, 96, 64, 120, 3, 2}, {1, 32, 16, 30, 40, 3, 2},
        /* 4 KB-multiple planes: the direct 1x1 copies its rows together */
        {1, 16, 48, 32, 32, 3, 1}, {2, 24, 40, 64, 64, 3, 2},
        /* stride 3: the split input rows take three phases, gathered one by one */
        {1, 8, 24, 20, 31, 3, 3}, {2, 12, 40, 19, 37, 5, 3},
    };
    for (size_t i = 0; i < sizeof cs / sizeof cs[0]; i++) {
        ember_act a = {(ember_act_kind)(i % EMBER_ACT_COUNT), 0.1f, 0.6f, check_slopes()};
        ember_act b = {(ember_act_kind)((i * 3 + 1) % EMBER_ACT_COUNT), 0.1f, 0.6f, check_slopes()};
        check_chain(cs[i].batch, cs[i].cin, cs[i].mid, cs[i].h, cs[i].w, cs[i].k, cs[i].s, a, b);
    }
    /* several channel groups on both 1x1 paths (direct: cin <= 16, cout <= 64; GEMM), with each activation
     * on the 1x1 (ReLU/Clip go into the row kernels, the rest are an epilogue pass; PRelu slopes per channel) */
    for (int kind = 0; kind < EMBER_ACT_COUNT; kind++) {
        ember_act a = {(ember_act_kind)kind, 0.1f, 0.6f, check_slopes()}, none = {EMBER_ACT_NONE, 0, 0, NULL};
        check_chain(1, 8, 60, 6, 9, 3, 1, a, none);
        check_chain(1, 20, 100, 5, 7, 3, 2, a, none);
    }
    check_chain(1, 16, 32, 20, 20, 3, 1, (ember_act){EMBER_ACT_CLIP, 0, 6, NULL}, (ember_act){EMBER_ACT_CLIP, 0, 6, NULL});
    /* refused: a not 1x1, a residual on a, b not depthwise, either end in panels */
    ember_conv2d_shape ga = {.batch = 1, .cin = 4, .cout = 4, .h = 6, .w = 6, .oh = 6, .ow = 6, .kh = 1, .kw = 1,
                             .stride_h = 1, .stride_w = 1, .dil_h = 1, .dil_w = 1, .groups = 1};
    ember_conv2d_shape gb = ga;
    gb.kh = gb.kw = 3, gb.pad_t = gb.pad_l = 1, gb.groups = 4;
    float W[144] = {0}, buf[144] = {0}, res[144] = {0};
    ember_conv2d_weights *wa = ember_conv2d_weights_create(&ga, W, NULL), *wb = ember_conv2d_weights_create(&gb, W, NULL);
    ember_epilogue with_res = {.residual = res};
    CHECK(!ember_conv2d_chain(NULL, &ga, wa, NULL, &with_res, &gb, wb, NULL, NULL, buf, buf, false));
    CHECK(!ember_conv2d_chain(NULL, &gb, wb, NULL, NULL, &gb, wb, NULL, NULL, buf, buf, false));
    CHECK(!ember_conv2d_chain(NULL, &ga, wa, NULL, NULL, &ga, wa, NULL, NULL, buf, buf, false));
    ember_conv2d_shape gp = gb;
    gp.out_panel = 8;
    CHECK(!ember_conv2d_chain(NULL, &ga, wa, NULL, NULL, &gp, wb, NULL, NULL, buf, buf, false));
    CHECK(!ember_conv2d_pool2(NULL, &ga, wa, buf, NULL, buf, NULL)); /* not depthwise */
    ember_conv2d_weights_free(wa);
    ember_conv2d_weights_free(wb);
}

/* Depthwise convs max-pooled 2x2 in their bands (ember_conv2d_pool2) against the reference conv + pool: even
 * and odd output sizes (the last row / column dropped), planes of several bands (band heights made even),
 * strides 1 and 2, fused and separate epilogues with a residual, batch 2, multiplier 2, both tables. */
static void test_pool2(void) {
    struct { int64_t batch, c, mult, h, w, k, s; } cs[] = {{1, 3, 1, 8, 8, 3, 1},   {2, 4, 1, 9, 13, 3, 1},
                                                          {1, 2, 1, 129, 130, 3, 1}, {1, 2, 2, 131, 90, 3, 2},
                                                          {1, 5, 1, 3, 40, 5, 1},   {1, 1, 1, 2, 2, 1, 1}};
    const ember_kernel_table *tables[2] = {ember_kernels(), ember_kernels_generic()};
    for (size_t i = 0; i < sizeof cs / sizeof cs[0]; i++) {
        ember_conv2d_shape g = {.batch = cs[i].batch, .cin = cs[i].c, .cout = cs[i].c * cs[i].mult, .h = cs[i].h,
                                .w = cs[i].w, .kh = cs[i].k, .kw = cs[i].k, .stride_h = cs[i].s, .stride_w = cs[i].s,
                                .dil_h = 1, .dil_w = 1, .pad_t = cs[i].k / 2, .pad_l = cs[i].k / 2, .groups = cs[i].c};
        g.oh = ember_conv_out_size(g.h, g.kh, g.stride_h, 1, g.pad_t, g.pad_t);
        g.ow = ember_conv_out_size(g.w, g.kw, g.stride_w, 1, g.pad_l, g.pad_l);
        int64_t nin = g.batch * g.cin * g.h * g.w, nout = g.batch * g.cout * g.oh * g.ow;
        int64_t npool = g.batch * g.cout * (g.oh / 2) * (g.ow / 2);
        float *in = rand_buf(nin), *W = rand_buf(g.cout * g.kh * g.kw), *bias = rand_buf(g.cout), *res = rand_buf(nout);
        float *ref = malloc((size_t)nout * sizeof *ref), *pref = malloc((size_t)(npool + 1) * sizeof *pref);
        float *out = malloc((size_t)(npool + 1) * sizeof *out);
        ember_act act = {(ember_act_kind)(i * 5 % EMBER_ACT_COUNT), 0.1f, 0.6f, check_slopes()};
        ember_epilogue ep = {.act = act, .residual = i % 2 ? res : NULL};
        ember_conv2d_ref(&g, W, in, bias, ref, &ep);
        ref_pool2(ref, pref, g.batch, g.cout, g.oh, g.ow);
        for (int t = 0; t < 2; t++) {
            ember_conv2d_weights *w = ember_conv2d_weights_create_k(tables[t], &g, W);
            for (int64_t j = 0; j <= npool; j++) out[j] = NAN;
            CHECK(ember_conv2d_pool2(t ? NULL : pool2, &g, w, in, bias, out, &ep));
            double d = check_max_abs_diff(out, pref, npool);
            CHECK_MSG(d <= 1e-4, "%s: case %zu off by %g", tables[t]->name, i, d);
            CHECK(isnan(out[npool])); /* nothing past the pooled planes */
            ember_conv2d_weights_free(w);
        }
        free(in), free(W), free(bias), free(res), free(ref), free(pref), free(out);
    }
}

/* Few-tap convs max-pooled row by row (ember_conv2d_maxpool) against the reference conv + pool: SqueezeNet's
 * and ShuffleNet's stems, an input big enough to be streamed, padded / dilated / tall windows, windows past
 * the conv's last row (ceil mode), fused and separate epilogues, batch 2, 1 and 2 threads, both tables. Also
 * what it must refuse: a residual, weights of another kind. */
static void test_conv_maxpool(void) {
    struct {
        int64_t batch, cin, cout, h, w, k, s, pad, pk, ps, ppad, pdil, extra;
    } cs[] = {{1, 3, 64, 224, 224, 3, 2, 0, 3, 2, 0, 1, 0}, {1, 3, 24, 64, 64, 3, 2, 1, 3, 2, 1, 1, 0},
              {1, 3, 16, 420, 420, 3, 2, 1, 2, 2, 0, 1, 0}, {2, 2, 13, 20, 37, 2, 1, 0, 3, 1, 1, 2, 0},
              {1, 1, 9, 9, 40, 3, 1, 1, 5, 3, 2, 1, 1},     {1, 3, 8, 17, 33, 3, 2, 1, 3, 2, 0, 1, 1}};
    const ember_kernel_table *tables[2] = {ember_kernels(), ember_kernels_generic()};
    for (size_t i = 0; i < sizeof cs / sizeof cs[0]; i++) {
        ember_conv2d_shape g = {.batch = cs[i].batch, .cin = cs[i].cin, .cout = cs[i].cout, .h = cs[i].h};
        g.w = cs[i].w, g.kh = g.kw = cs[i].k, g.stride_h = g.stride_w = cs[i].s, g.dil_h = g.dil_w = 1;
        g.pad_t = g.pad_l = cs[i].pad, g.groups = 1;
        g.oh = ember_conv_out_size(g.h, g.kh, g.stride_h, 1, g.pad_t, g.pad_t);
        g.ow = ember_conv_out_size(g.w, g.kw, g.stride_w, 1, g.pad_l, g.pad_l);
        ember_pooling2d pg = {.batch = g.batch, .c = g.cout, .h = g.oh, .w = g.ow};
        pg.kh = pg.kw = cs[i].pk, pg.stride_h = pg.stride_w = cs[i].ps, pg.dil_h = pg.dil_w = cs[i].pdil;
        pg.pad_t = pg.pad_l = cs[i].ppad;
        int64_t span = (pg.kh - 1) * pg.dil_h + 1; /* extra: one more window, past the last row (ceil mode) */
        pg.oh = (g.oh + 2 * pg.pad_t - span) / pg.stride_h + 1 + cs[i].extra;
        pg.ow = (g.ow + 2 * pg.pad_l - span) / pg.stride_w + 1 + cs[i].extra;
        if ((pg.oh - 1) * pg.stride_h >= g.oh + pg.pad_t) pg.oh--; /* ONNX: the last window starts inside */
        if ((pg.ow - 1) * pg.stride_w >= g.ow + pg.pad_l) pg.ow--;
        CHECK(ember_conv2d_pool_suits(&g, &pg));
        int64_t nin = g.batch * g.cin * g.h * g.w, nout = g.batch * g.cout * g.oh * g.ow;
        int64_t npool = g.batch * g.cout * pg.oh * pg.ow;
        float *in = rand_buf(nin), *W = rand_buf(g.cout * g.cin * g.kh * g.kw), *bias = rand_buf(g.cout);
        float *ref = malloc((size_t)nout * sizeof *ref), *pref = malloc((size_t)npool * sizeof *pref);
        float *out = malloc((size_t)(npool + 1) * sizeof *out);
        ember_act act = {(ember_act_kind)(i * 3 % EMBER_ACT_COUNT), 0.1f, 0.6f, check_slopes()};
        ember_epilogue ep = {.act = act};
        ember_conv2d_ref(&g, W, in, bias, ref, &ep);
        ember_pool2d_ref(&pg, ref, pref, true);
        for (int t = 0; t < 4; t++) {
            ember_conv2d_weights *w = ember_conv2d_weights_create_k(tables[t / 2], &g, W);
            for (int64_t j = 0; j <= npool; j++) out[j] = NAN;
            CHECK(ember_conv2d_maxpool(t % 2 ? pool2 : NULL, &g, w, in, bias, &ep, &pg, out));
            double d = check_max_abs_diff(out, pref, npool);
            CHECK_MSG(d <= 1e-4, "%s: case %zu off by %g", tables[t / 2]->name, i, d);
            CHECK(isnan(out[npool])); /* nothing past the pooled planes */
            ember_epilogue with_res = {.act = act, .residual = ref};
            CHECK(!ember_conv2d_maxpool(NULL, &g, w, in, bias, &with_res, &pg, out));
            ember_conv2d_weights_free(w);
        }
        free(in), free(W), free(bias), free(ref), free(pref), free(out);
    }
    ember_conv2d_shape g = {.batch = 1, .cin = 16, .cout = 16, .h = 8, .w = 8, .oh = 8, .ow = 8, .groups = 1};
    g.kh = g.kw = 3, g.stride_h = g.stride_w = 1, g.dil_h = g.dil_w = 1, g.pad_t = g.pad_l = 1;
    ember_pooling2d pg = {.batch = 1, .c = 16, .h = 8, .w = 8, .oh = 4, .ow = 4, .kh = 2, .kw = 2};
    pg.stride_h = pg.stride_w = 2, pg.dil_h = pg.dil_w = 1;
    CHECK(!ember_conv2d_pool_suits(&g, &pg)); /* Winograd's */
    ember_conv2d_shape dw = g;
    dw.groups = 16;
    CHECK(ember_conv2d_pool_suits(&dw, &pg)); /* depthwise: the 2x2 pool in its bands, no other */
    ember_pooling2d three = pg;
    three.kh = three.kw = 3;
    CHECK(!ember_conv2d_pool_suits(&dw, &three));
    float *W = rand_buf(16 * 16 * 9), buf[64 * 16];
    ember_conv2d_weights *w = ember_conv2d_weights_create_k(ember_kernels(), &g, W);
    CHECK(!ember_conv2d_maxpool(NULL, &g, w, buf, NULL, NULL, &pg, buf));
    ember_conv2d_weights_free(w);
    free(W);
}

int main(void) {
    ember_pool_create(2, &pool2);
    RUN(test_random_convs);
    RUN(test_pointwise);
    RUN(test_depthwise);
    RUN(test_chain);
    RUN(test_pool2);
    RUN(test_conv_maxpool);
    RUN(test_direct);
    RUN(test_conv_rows);
    RUN(test_winograd);
    RUN(test_winograd_transforms);
    RUN(test_gather);
    RUN(test_gather_rows);
    RUN(test_deinterleave_rows);
    RUN(test_dw_block);
    RUN(test_dw3);
    RUN(test_dw3s2);
    RUN(test_interleave_rows);
    RUN(test_dw_interleaved);
    RUN(test_out_size);
    ember_pool_destroy(pool2);
    return check_done();
}
