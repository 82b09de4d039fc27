/* Vector math against libm and scalar references, for every kernel table: exp/tanh/sigmoid/erf accuracy,
 * activations, softmax, norms, pooling, broadcasting binary ops, f16 <-> f32 bit-exactness. */
#include "check.h"

#include "ember/tensor.h"
#include "ember/threadpool.h"
#include "kernels/isa.h"
#include "kernels/resample.h"

#include <stdint.h>

static ember_pool *pool2;
static const ember_kernel_table *tables[2];

static int64_t ulp_diff(float a, float b) {
    int32_t ia, ib;
    memcpy(&ia, &a, 4);
    memcpy(&ib, &b, 4);
    if (ia < 0) ia = (int32_t)(0x80000000u - (uint32_t)ia);
    if (ib < 0) ib = (int32_t)(0x80000000u - (uint32_t)ib);
    return llabs((long long)ia - (long long)ib);
}

enum { NPTS = 20001 };

/* Evenly spaced points over [lo, hi] plus specials, through f; worst ulp and worst mixed error vs ref. */
static void measure(ember_unary_fn f, double (*ref)(double), float lo, float hi, int64_t *worst_ulp,
                    double *worst_rel) {
    static float x[NPTS], y[NPTS];
    /* every grid point once, in a scrambled order (7919 is prime to NPTS): each vector mixes far-apart
     * arguments, as real data does, so a kernel's per-vector branches meet mixed lanes */
    for (int i = 0; i < NPTS; i++) x[i] = lo + (hi - lo) * (float)(i * 7919LL % NPTS) / (NPTS - 1);
    f(y, x, NPTS - 3); /* odd length: exercises the tail */
    f(y + NPTS - 3, x + NPTS - 3, 3);
    *worst_ulp = 0;
    *worst_rel = 0;
    for (int i = 0; i < NPTS; i++) {
        float r = (float)ref(x[i]);
        int64_t u = ulp_diff(y[i], r);
        double rel = fabs((double)y[i] - (double)r) / fmax(fabs((double)r), 1e-1);
        if (u > *worst_ulp) *worst_ulp = u;
        if (!(rel <= *worst_rel)) *worst_rel = rel;
    }
}

static double sigmoid_d(double x) { return 1.0 / (1.0 + exp(-x)); }
static double silu_d(double x) { return x / (1.0 + exp(-x)); }
static double gelu_erf_d(double x) { return 0.5 * x * erfc(-x / sqrt(2.0)); }
static double gelu_tanh_d(double x) {
    return 0.5 * x * (1.0 + tanh(0.7978845608028654 * (x + 0.044715 * x * x * x)));
}

static void test_exp(void) {
    for (int t = 0; t < 2; t++) {
        int64_t u;
        double rel;
        measure(tables[t]->exp, exp, -87.0f, 88.0f, &u, &rel);
        CHECK_MSG(u <= 2, "%s exp: %lld ulp", tables[t]->name, (long long)u);
        printf("  %s exp: max %lld ulp over [-87, 88]\n", tables[t]->name, (long long)u);
        measure(tables[t]->exp, exp, -2.0f, 2.0f, &u, &rel);
        CHECK_MSG(u <= 2, "%s exp near 0: %lld ulp", tables[t]->name, (long long)u);
        float sp[6] = {-INFINITY, INFINITY, NAN, 100.0f, -200.0f, 0.0f}, y[6];
        tables[t]->exp(y, sp, 6);
        CHECK(y[0] == 0.0f && y[1] == INFINITY && isnan(y[2]) && y[3] == INFINITY && y[4] == 0.0f && y[5] == 1.0f);
    }
}

/* tanh / sigmoid / erf: relative error 1e-6 (measured against max(|ref|, 0.1), i.e. 1e-7 absolute near 0). */
static void test_transcendentals(void) {
    struct {
        const char *name;
        size_t off;
        double (*ref)(double);
        float lo, hi;
    } fns[] = {
        {"tanh", offsetof(ember_kernel_table, tanh), tanh, -12.0f, 12.0f},
        {"sigmoid", offsetof(ember_kernel_table, sigmoid), sigmoid_d, -30.0f, 30.0f},
        {"erf", offsetof(ember_kernel_table, erf), erf, -6.0f, 6.0f},
        {"silu", offsetof(ember_kernel_table, silu), silu_d, -30.0f, 30.0f},
        {"gelu_erf", offsetof(ember_kernel_table, gelu_erf), gelu_erf_d, -12.0f, 12.0f},
        {"gelu_tanh", offsetof(ember_kernel_table, gelu_tanh), gelu_tanh_d, -12.0f, 12.0f},
    };
    for (int t = 0; t < 2; t++)
        for (size_t i = 0; i < sizeof fns / sizeof fns[0]; i++) {
            ember_unary_fn f = *(const ember_unary_fn *)((const char *)tables[t] + fns[i].off);
            int64_t u;
            double rel, rel_small;
            measure(f, fns[i].ref, fns[i].lo, fns[i].hi, &u, &rel);
            measure(f, fns[i].ref, -0.9f, 0.9f, &u, &rel_small);
            printf("  %s %s: max rel err %.2g (%.2g on [-0.9, 0.9])\n", tables[t]->name, fns[i].name, rel, rel_small);
            CHECK_MSG(rel <= 1e-6 && rel_small <= 1e-6, "%s %s: rel err %.3g / %.3g near 0", tables[t]->name,
                      fns[i].name, rel, rel_small);
            float sp[3] = {NAN, INFINITY, -INFINITY}, y[3];
            f(y, sp, 3);
            CHECK_MSG(isnan(y[0]), "%s %s(NaN) = %g", tables[t]->name, fns[i].name, y[0]);
            if (f == tables[t]->tanh || f == tables[t]->erf) CHECK(y[1] == 1.0f && y[2] == -1.0f);
            if (f == tables[t]->sigmoid) CHECK(y[1] == 1.0f && y[2] == 0.0f);
        }
}

static void test_activations(void) {
    float x[37], y[37];
    for (int i = 0; i < 37; i++) x[i] = -9.0f + 0.5f * (float)i;
    for (int t = 0; t < 2; t++)
        for (int a = 0; a < EMBER_ACT_COUNT; a++) {
            ember_act act = {(ember_act_kind)a, a == EMBER_ACT_CLIP ? -1.0f : 0.2f, a == EMBER_ACT_CLIP ? 6.0f : 0.5f,
                             check_slopes()};
            ember_act_apply_k(tables[t], act, y, x, 37);
            for (int i = 0; i < 37; i++) {
                float r = ember_scalar_act(act, x[i]);
                CHECK_MSG(fabsf(y[i] - r) <= 1e-6f * fmaxf(1.0f, fabsf(r)), "%s act %d x=%g: %g vs %g",
                          tables[t]->name, a, x[i], y[i], r);
            }
        }
    ember_act clip = {EMBER_ACT_CLIP, 0.0f, 6.0f, NULL};
    CHECK(ember_scalar_act(clip, 7.0f) == 6.0f && ember_scalar_act(clip, -1.0f) == 0.0f);
    ember_act hs = {EMBER_ACT_HARD_SWISH, 0, 0, NULL};
    CHECK_NEAR(ember_scalar_act(hs, 1.0f), 1.0f * (1.0f / 6 + 0.5f), 1e-7);
}

static void test_softmax(void) {
    enum { R = 5, C = 300 };
    static float x[R * C], y[R * C];
    for (int i = 0; i < R * C; i++) x[i] = check_randf(-20.0f, 20.0f) + (i % C == 7 ? 80.0f : 0.0f);
    for (int c = 2; c < C; c += 3) x[3 * C + c] = -INFINITY; /* a masked row: those give exactly 0 */
    for (int lg = 0; lg < 2; lg++) {
        ember_softmax(pool2, y, x, R, C, C, lg);
        for (int r = 0; r < R; r++) {
            double m = -INFINITY, s = 0.0;
            for (int c = 0; c < C; c++) /* (an fmax reduction here crashes aarch64 gcc 12's vectoriser) */
                if (x[r * C + c] > m) m = x[r * C + c];
            for (int c = 0; c < C; c++) s += exp(x[r * C + c] - m);
            for (int c = 0; c < C; c++) {
                if (isinf(x[r * C + c])) {
                    CHECK(y[r * C + c] == (lg ? -INFINITY : 0.0f));
                    continue;
                }
                double ref = lg ? x[r * C + c] - m - log(s) : exp(x[r * C + c] - m) / s;
                CHECK_NEAR(y[r * C + c], ref, lg ? 1e-4 : 1e-6);
            }
        }
    }
    memcpy(y, x, sizeof x); /* in place */
    ember_softmax(NULL, y, y, R, C, C, false);
    double s = 0;
    for (int c = 0; c < C; c++) s += y[c];
    CHECK_NEAR(s, 1.0, 1e-5);
    /* short rows (the blocked path): 1..17 columns, more rows than one block, in place, a NaN row, an
     * all -inf row */
    for (int cols = 1; cols <= 17; cols++) {
        int rows = (R * C) / cols;
        for (int i = 0; i < rows * cols; i++) y[i] = x[i] = check_randf(-20.0f, 20.0f);
        x[cols] = NAN;
        for (int c = 0; c < cols; c++) x[2 * cols + c] = -INFINITY;
        memcpy(y, x, sizeof(float) * (size_t)(rows * cols));
        ember_softmax(cols & 1 ? pool2 : NULL, y, y, rows, cols, cols, false);
        int bad = 0;
        for (int r = 0; r < rows; r++) {
            double m = -INFINITY, sum = 0.0;
            for (int c = 0; c < cols; c++)
                if (x[r * cols + c] > m) m = x[r * cols + c];
            if (m == -INFINITY) m = 0;
            for (int c = 0; c < cols; c++) sum += exp(x[r * cols + c] - m);
            for (int c = 0; c < cols; c++) {
                double ref = exp(x[r * cols + c] - m) / sum;
                float v = y[r * cols + c];
                bad += r == 1 || r == 2 ? !isnan(v) : !(fabs(v - ref) <= 1e-6);
            }
        }
        CHECK_MSG(bad == 0, "softmax of %d rows of %d: %d wrong", rows, cols, bad);
    }
}

static void test_norms(void) {
    enum { R = 4, C = 97 };
    float x[R * C], y[R * C], scale[C], bias[C], mean[R], inv[R];
    for (int i = 0; i < R * C; i++) x[i] = check_randf(-3.0f, 5.0f);
    for (int i = 0; i < C; i++) scale[i] = check_randf(0.5f, 1.5f), bias[i] = check_randf(-1, 1);
    ember_layernorm(pool2, y, x, scale, bias, R, C, 1e-5f, mean, inv);
    for (int r = 0; r < R; r++) {
        double m = 0, v = 0;
        for (int c = 0; c < C; c++) m += x[r * C + c];
        m /= C;
        for (int c = 0; c < C; c++) v += (x[r * C + c] - m) * (x[r * C + c] - m);
        double is = 1.0 / sqrt(v / C + 1e-5);
        CHECK_NEAR(mean[r], m, 1e-5);
        CHECK_NEAR(inv[r], is, 1e-5);
        for (int c = 0; c < C; c++) CHECK_NEAR(y[r * C + c], (x[r * C + c] - m) * is * scale[c] + bias[c], 1e-5);
    }
    ember_rmsnorm(pool2, y, x, scale, R, C, 1e-6f);
    for (int r = 0; r < R; r++) {
        double ss = 0;
        for (int c = 0; c < C; c++) ss += (double)x[r * C + c] * x[r * C + c];
        double is = 1.0 / sqrt(ss / C + 1e-6);
        for (int c = 0; c < C; c++) CHECK_NEAR(y[r * C + c], x[r * C + c] * is * scale[c], 1e-5);
    }
}

static void test_pooling(void) {
    float in[2 * 4 * 5], out[2 * 3 * 3];
    for (int i = 0; i < 40; i++) in[i] = (float)i;
    /* 4x5 planes, 2x2 window, stride 2, pads t0 l0 b1 r1 (ceil-mode-like): outputs 2x3 */
    ember_pooling2d g = {.batch = 1, .c = 2, .h = 4, .w = 5, .oh = 2, .ow = 3, .kh = 2, .kw = 2, .stride_h = 2,
                         .stride_w = 2, .dil_h = 1, .dil_w = 1, .pad_b = 0, .pad_r = 1};
    ember_maxpool2d(pool2, &g, in, out);
    float want_max[12] = {6, 8, 9, 16, 18, 19, 26, 28, 29, 36, 38, 39};
    for (int i = 0; i < 12; i++) CHECK_NEAR(out[i], want_max[i], 0);
    ember_avgpool2d(pool2, &g, in, out);
    CHECK_NEAR(out[0], (0 + 1 + 5 + 6) / 4.0, 1e-6);
    CHECK_NEAR(out[2], (4 + 9) / 2.0, 1e-6); /* clipped window, pad excluded */
    g.count_include_pad = true;
    ember_avgpool2d(NULL, &g, in, out);
    CHECK_NEAR(out[2], (4 + 9) / 4.0, 1e-6); /* pad column counted */
    g.pad_r = 0;                             /* window past the padded edge: not counted */
    ember_avgpool2d(NULL, &g, in, out);
    CHECK_NEAR(out[2], (4 + 9) / 2.0, 1e-6);
    float gin[3 * 50], gout[3];
    for (int i = 0; i < 150; i++) gin[i] = (float)(i % 50) - (i / 50 == 1 ? 100.0f : 0.0f);
    ember_global_avgpool(pool2, 3, 50, gin, gout);
    CHECK_NEAR(gout[0], 24.5, 1e-5);
    CHECK_NEAR(gout[1], -75.5, 1e-5);
    ember_global_maxpool(pool2, 3, 50, gin, gout);
    CHECK_NEAR(gout[2], 49, 0);
    CHECK_NEAR(gout[1], -51, 0);
}

/* The vector pooling rows against the scalar reference: random windows, strides, dilations, pads and
 * ceil-mode edges, bit-exact (averages sum in the same order), NaN kept by max. */
static void test_pooling_random(void) {
    for (int it = 0; it < 40; it++) {
        ember_pooling2d g = {.batch = 1 + it % 2,
                             .c = 1 + (int64_t)(check_rand() % 3),
                             .h = 1 + (int64_t)(check_rand() % 20),
                             .w = 1 + (int64_t)(check_rand() % 40),
                             .kh = 1 + (int64_t)(check_rand() % 4),
                             .kw = 1 + (int64_t)(check_rand() % 4),
                             .stride_h = 1 + (int64_t)(check_rand() % 3),
                             .stride_w = 1 + (int64_t)(check_rand() % 3),
                             .dil_h = 1 + (int64_t)(check_rand() % 2),
                             .dil_w = 1 + (int64_t)(check_rand() % 2),
                             .count_include_pad = it % 3 == 0};
        g.pad_t = (int64_t)(check_rand() % (uint64_t)g.kh),
        g.pad_l = (int64_t)(check_rand() % (uint64_t)g.kw);
        g.pad_b = (int64_t)(check_rand() % (uint64_t)g.kh),
        g.pad_r = (int64_t)(check_rand() % (uint64_t)g.kw);
        int64_t sh = (g.kh - 1) * g.dil_h + 1, sw = (g.kw - 1) * g.dil_w + 1, ceil = it & 1;
        int64_t rh = g.h + g.pad_t + g.pad_b - sh, rw = g.w + g.pad_l + g.pad_r - sw;
        if (rh < 0 || rw < 0) continue;
        g.oh = (rh + (ceil ? g.stride_h - 1 : 0)) / g.stride_h + 1;
        g.ow = (rw + (ceil ? g.stride_w - 1 : 0)) / g.stride_w + 1;
        int64_t nin = g.batch * g.c * g.h * g.w, nout = g.batch * g.c * g.oh * g.ow;
        float *in = malloc((size_t)nin * sizeof *in), *out = malloc((size_t)nout * sizeof *out);
        float *ref = malloc((size_t)nout * sizeof *ref);
        for (int64_t i = 0; i < nin; i++) in[i] = check_randf(-1, 1);
        if (it % 5 == 2) in[(int64_t)(check_rand() % (uint64_t)nin)] = NAN;
        for (int mx = 0; mx < 2; mx++) {
            if (mx)
                ember_maxpool2d(it & 2 ? pool2 : NULL, &g, in, out);
            else
                ember_avgpool2d(it & 2 ? pool2 : NULL, &g, in, out);
            ember_pool2d_ref(&g, in, ref, mx);
            int64_t bad = -1;
            for (int64_t i = 0; i < nout && bad < 0; i++)
                if (!(out[i] == ref[i] || (isnan(out[i]) && isnan(ref[i])))) bad = i;
            CHECK_MSG(bad < 0, "%s pool %lldx%lld k%lldx%lld s%lld,%lld d%lld,%lld at %lld: %g vs %g",
                      mx ? "max" : "avg", (long long)g.h, (long long)g.w, (long long)g.kh, (long long)g.kw,
                      (long long)g.stride_h, (long long)g.stride_w, (long long)g.dil_h, (long long)g.dil_w,
                      (long long)bad, bad >= 0 ? out[bad] : 0.0, bad >= 0 ? ref[bad] : 0.0);
        }
        free(in), free(out), free(ref);
    }
}

/* The table's pool_row against ember_pool_row_ref on long rows (the vector blocks, the overlapped last
 * block and the scalar tails), max bit-exact up to NaN payloads and zero signs, every kh 1..4, kw 1..4,
 * stride 1..3, dilation 1..2; a few NaN and ties of +0 / -0. */
static void test_pool_row_random(void) {
    enum { W = 100, KH = 4, NO = W + 8 }; /* with pad_l, up to W + 2 outputs */
    float rowsbuf[KH][W], out[NO], ref[NO];
    for (int it = 0; it < 400; it++) {
        int64_t kh = 1 + it % KH, kw = 1 + (it / 4) % 4, sw = 1 + (it / 16) % 3, dw = 1 + (it / 48) % 2;
        int64_t pad_l = (int64_t)(check_rand() % 3), span = (kw - 1) * dw + 1;
        int64_t n = (W + pad_l - span) / sw + 1; /* outputs whose window fits the row */
        int64_t x0 = pad_l ? (pad_l + sw - 1) / sw : 0, x1 = x0 + (int64_t)(check_rand() % (uint64_t)(n - x0 + 1));
        if (x1 > n) x1 = n;
        bool max = it % 5 != 4;
        for (int64_t ky = 0; ky < KH; ky++)
            for (int64_t i = 0; i < W; i++) {
                uint32_t r = check_rand() % 64;
                rowsbuf[ky][i] = r == 0 ? NAN : r == 1 ? -0.0f : r == 2 ? 0.0f : check_randf(-1, 1);
            }
        const float *rows[KH] = {rowsbuf[0], rowsbuf[1], rowsbuf[2], rowsbuf[3]};
        float div = (float)(kh * kw);
        for (int64_t i = 0; i < NO; i++) out[i] = ref[i] = 42.0f;
        ember_pool_row_ref(ref, rows, kh, kw, x0, x1, sw, dw, pad_l, max, div);
        ember_kernels()->pool_row(out, rows, kh, kw, x0, x1, sw, dw, pad_l, max, div);
        int64_t bad = -1;
        for (int64_t i = 0; i < NO && bad < 0; i++)
            if (!(out[i] == ref[i] || (isnan(out[i]) && isnan(ref[i])))) bad = i;
        CHECK_MSG(bad < 0, "%s %s pool_row k%lldx%lld s%lld d%lld pad %lld [%lld, %lld) at %lld: %g vs %g",
                  ember_kernels()->name, max ? "max" : "avg", (long long)kh, (long long)kw, (long long)sw,
                  (long long)dw, (long long)pad_l, (long long)x0, (long long)x1, (long long)bad,
                  bad >= 0 ? out[bad] : 0.0, bad >= 0 ? ref[bad] : 0.0);
    }
}

/* upsample_row of both tables against the plain definition d[i] = s[i / f], every length 0..40 (vector
 * blocks and tails), factors 1..4; nothing written past n. */
static void test_upsample_row(void) {
    float s[16], d[48];
    for (int i = 0; i < 16; i++) s[i] = check_randf(-1, 1);
    s[3] = -0.0f, s[5] = NAN;
    for (int t = 0; t < 2; t++)
        for (int64_t f = 1; f <= 4; f++)
            for (int64_t n = 0; n <= 40 && (n + f - 1) / f <= 16; n++) {
                for (int i = 0; i < 48; i++) d[i] = 42.0f;
                tables[t]->upsample_row(d, s, n, f);
                int bad = 0;
                for (int64_t i = 0; i < n; i++) bad += memcmp(&d[i], &s[i / f], sizeof(float)) != 0;
                for (int64_t i = n; i < 48; i++) bad += d[i] != 42.0f;
                CHECK_MSG(bad == 0, "%s upsample_row n %lld f %lld: %d wrong", tables[t]->name, (long long)n,
                          (long long)f, bad);
            }
}

/* One resampling axis of a kind: 0 nearest x2 (integer factor), 1 nearest x3, 2 nearest to a random
 * length (gather), 3 identity, 4 two random taps (linear), 5 four taps (cubic), 6 nine taps (antialias). */
static void rs_axis(int kind, int64_t in, ember_resample_axis *a, int32_t *idx, float *w) {
    static const int taps[7] = {1, 1, 1, 1, 2, 4, 9};
    int64_t out = kind == 0 ? 2 * in : kind == 1 ? 3 * in : kind == 2 ? 1 + (int64_t)(check_rand() % 30) : in;
    if (kind >= 4) out = 1 + (int64_t)(check_rand() % 40);
    *a = (ember_resample_axis){.in = in, .out = out, .taps = taps[kind], .idx = idx, .w = w};
    for (int64_t o = 0; o < out; o++)
        for (int k = 0; k < a->taps; k++) {
            int64_t i = kind == 0 ? o / 2 : kind == 1 ? o / 3 : kind == 3 ? o : (int64_t)(check_rand() % (uint64_t)in);
            idx[o * a->taps + k] = (int32_t)i;
            w[o * a->taps + k] = kind < 4 ? 1.0f : check_randf(-0.5f, 1.0f);
        }
}

/* ember_resample2d (threads, the nearest shortcuts, the row cache) against its plain twin: nearest bit-exact
 * (NaN and -0 kept), weighted taps within float rounding. */
static void test_resample2d(void) {
    enum { MAXO = 120 };
    int32_t iy[MAXO * 9], ix[MAXO * 9];
    float wy[MAXO * 9], wx[MAXO * 9];
    for (int it = 0; it < 98; it++) {
        int ky = it % 7, kx = it / 7 % 7;
        int64_t planes = 1 + (int64_t)(check_rand() % 5), ih = 1 + (int64_t)(check_rand() % 20),
                iw = 1 + (int64_t)(check_rand() % 40);
        ember_resample_axis ay, ax;
        rs_axis(ky, ih, &ay, iy, wy);
        rs_axis(kx, iw, &ax, ix, wx);
        int64_t nin = planes * ih * iw, nout = planes * ay.out * ax.out;
        float *in = malloc((size_t)nin * sizeof *in), *out = malloc((size_t)nout * sizeof *out),
              *ref = malloc((size_t)nout * sizeof *ref);
        for (int64_t i = 0; i < nin; i++) in[i] = check_randf(-2, 2);
        if (it % 3 == 0) in[check_rand() % (uint64_t)nin] = -0.0f;
        if (it % 5 == 0) in[check_rand() % (uint64_t)nin] = NAN;
        CHECK(ember_resample2d(it & 1 ? pool2 : NULL, planes, &ay, &ax, in, out));
        ember_resample2d_ref(planes, &ay, &ax, in, ref);
        bool exact = ky < 4 && kx < 4;
        int64_t bad = -1;
        for (int64_t i = 0; i < nout && bad < 0; i++) {
            bool ok = exact ? memcmp(&out[i], &ref[i], sizeof(float)) == 0 || (isnan(out[i]) && isnan(ref[i]))
                            : fabsf(out[i] - ref[i]) <= 1e-5f * (1 + fabsf(ref[i])) || (isnan(out[i]) && isnan(ref[i]));
            if (!ok) bad = i;
        }
        CHECK_MSG(bad < 0, "resample2d kinds y%d x%d %lldx%lld -> %lldx%lld at %lld: %g vs %g", ky, kx,
                  (long long)ih, (long long)iw, (long long)ay.out, (long long)ax.out, (long long)bad,
                  bad >= 0 ? out[bad] : 0.0, bad >= 0 ? ref[bad] : 0.0);
        free(in), free(out), free(ref);
    }
}

static void test_binary(void) {
    enum { O = 2, C = 3, I = 19 };
    float x[O * C * I], y[O * C * I], v[C] = {1.5f, -2.0f, 4.0f}, b[O * C * I];
    for (int i = 0; i < O * C * I; i++) x[i] = check_randf(-1, 1), b[i] = check_randf(0.5f, 2.0f);
    for (int op = 0; op < 4; op++) {
        ember_vbinary_channel(pool2, (ember_binop)op, y, x, v, O, C, I);
        for (int i = 0; i < O * C * I; i++) CHECK_NEAR(y[i], ember_scalar_binop((ember_binop)op, x[i], v[i / I % C]), 1e-6);
        for (int t = 0; t < 2; t++) {
            tables[t]->binary((ember_binop)op, y, x, b, 0, O * C * I);
            for (int i = 0; i < O * C * I; i++) CHECK_NEAR(y[i], ember_scalar_binop((ember_binop)op, x[i], b[i]), 1e-6);
        }
    }
    ember_vbinary_scalar(EMBER_BINOP_MUL, y, x, 3.0f, 7);
    CHECK_NEAR(y[6], x[6] * 3.0f, 0);
}

static void test_reductions(void) {
    float x[133];
    for (int i = 0; i < 133; i++) x[i] = (float)(i % 17) - 8.0f;
    x[100] = 42.0f;
    for (int t = 0; t < 2; t++) {
        double s = 0;
        for (int n = 0; n < 133; n += 11) {
            s = 0;
            for (int i = 0; i < n; i++) s += x[i];
            CHECK_NEAR(tables[t]->sum(x, n), s, 1e-4);
        }
        CHECK_NEAR(tables[t]->max(x, 133), 42.0f, 0);
        CHECK(tables[t]->max(x, 0) == -INFINITY);
        x[131] = NAN;
        CHECK(isnan(tables[t]->max(x, 133)));
        x[131] = 0;
        x[3] = NAN;
        CHECK(isnan(tables[t]->max(x, 133)));
        x[3] = 0;
    }
}

/* The norms' row passes on every length 0..40 and around 384 (vector bodies and tails), each scale / bias
 * combination, in place and not: the variance sum within 1e-5 of double, the normalized row exactly the
 * scalar expression (the same operations in the same order), nothing past n touched. */
static void test_norm_rows(void) {
    enum { N = 400 };
    static float x[N + 8], y[N + 8], sc[N], bi[N];
    int lens[44];
    for (int n = 0; n <= 40; n++) lens[n] = n;
    lens[41] = 383, lens[42] = 384, lens[43] = 385;
    for (int i = 0; i < N; i++) sc[i] = check_randf(0.5f, 1.5f), bi[i] = check_randf(-1.0f, 1.0f);
    for (int t = 0; t < 2; t++)
        for (int li = 0; li < 44; li++)
            for (int c = 0; c < 8; c++) { /* bit 0: scale, bit 1: bias, bit 2: in place */
                int n = lens[li];
                for (int i = 0; i < N + 8; i++) x[i] = check_randf(-3.0f, 5.0f), y[i] = -7.0f;
                double ss = 0.0;
                for (int i = 0; i < n; i++) ss += ((double)x[i] - 0.75) * ((double)x[i] - 0.75);
                float got = tables[t]->sum_sq_dev(x, n, 0.75f);
                CHECK_MSG(fabs(got - ss) <= 1e-5 * fmax(ss, 1.0), "%s sum_sq_dev n=%d: %g vs %g",
                          tables[t]->name, n, got, ss);
                const float *s = c & 1 ? sc : NULL, *b = c & 2 ? bi : NULL;
                float *out = c & 4 ? x : y, want[N + 8];
                for (int i = 0; i < N + 8; i++) {
                    float v = (x[i] - 0.75f) * 1.25f;
                    if (s && i < n) v *= s[i];
                    want[i] = i >= n ? out[i] : b ? v + b[i] : v;
                }
                tables[t]->normalize(out, x, s, b, n, 0.75f, 1.25f);
                int bad = 0;
                for (int i = 0; i < N + 8; i++) bad += out[i] != want[i];
                CHECK_MSG(bad == 0, "%s normalize n=%d case %d: %d values differ", tables[t]->name, n, c,
                          bad);
            }
}

/* exp_sum (softmax's middle pass) on every length 0..40 (vector bodies and tails), in place and not: each
 * value within 2 ulp-ish of exp in double, the sum of exactly the n values written, nothing past n touched.
 */
static void test_exp_sum(void) {
    float x[48], y[48];
    for (int t = 0; t < 2; t++)
        for (int n = 0; n <= 40; n++)
            for (int inplace = 0; inplace < 2; inplace++) {
                for (int i = 0; i < 48; i++) x[i] = (float)((i * 37 + n) % 23) * 0.5f - 6.0f, y[i] = -7.0f;
                float *out = inplace ? x : y, want[48], shift = 5.0f; /* at least every x (isa.h) */
                for (int i = 0; i < 48; i++) want[i] = i < n ? (float)exp((double)x[i] - shift) : out[i];
                double sum = 0;
                for (int i = 0; i < n; i++) sum += want[i];
                float got = tables[t]->exp_sum(out, x, shift, n);
                CHECK_MSG(fabs(got - sum) <= 1e-6 * fmax(sum, 1.0), "%s exp_sum n=%d: %g vs %g",
                          tables[t]->name, n, got, sum);
                for (int i = 0; i < 48; i++)
                    CHECK_MSG(fabsf(out[i] - want[i]) <= 4e-7f * fabsf(want[i]),
                              "%s exp_sum n=%d [%d]: %g vs %g", tables[t]->name, n, i, out[i], want[i]);
            }
}

/* Vector conversions must match the scalar ones in core bit for bit (all 65536 halves, and edge floats). */
static void test_f16(void) {
    static uint16_t h[65536], h2[65536];
    static float f[65536];
    for (int i = 0; i < 65536; i++) h[i] = (uint16_t)i;
    for (int t = 0; t < 2; t++) {
        tables[t]->f16_to_f32(f, h, 65536);
        int bad = 0;
        for (int i = 0; i < 65536; i++) {
            float r = ember_f16_to_f32(h[i]);
            if (memcmp(&r, &f[i], 4) && !(isnan(r) && isnan(f[i]))) bad++;
        }
        CHECK_MSG(bad == 0, "%s f16->f32: %d mismatches", tables[t]->name, bad);
        tables[t]->f32_to_f16(h2, f, 65536); /* round trip */
        bad = 0;
        for (int i = 0; i < 65536; i++)
            if (h2[i] != h[i] && !isnan(f[i])) bad++;
        CHECK_MSG(bad == 0, "%s f16 round trip: %d mismatches", tables[t]->name, bad);
        float edge[10] = {65504.0f, 65520.0f, 65519.99f, 1e-8f, 2.98e-8f, 5.96e-8f, -6.1e-5f, 1.00048828125f,
                          1.000732421875f, 3.0e38f};
        uint16_t he[10];
        tables[t]->f32_to_f16(he, edge, 10);
        for (int i = 0; i < 10; i++) CHECK_MSG(he[i] == ember_f32_to_f16(edge[i]), "%s %g", tables[t]->name, edge[i]);
        float rnd[1000];
        uint16_t hr[1000];
        for (int i = 0; i < 1000; i++) rnd[i] = check_randf(-70000.0f, 70000.0f) * (i % 3 ? 1.0f : 1e-6f);
        tables[t]->f32_to_f16(hr, rnd, 1000);
        bad = 0;
        for (int i = 0; i < 1000; i++) bad += hr[i] != ember_f32_to_f16(rnd[i]);
        CHECK_MSG(bad == 0, "%s f32->f16 random: %d mismatches", tables[t]->name, bad);
    }
}

int main(void) {
    ember_pool_create(2, &pool2);
    tables[0] = ember_kernels();
    tables[1] = ember_kernels_generic();
    RUN(test_exp);
    RUN(test_transcendentals);
    RUN(test_activations);
    RUN(test_softmax);
    RUN(test_norms);
    RUN(test_pooling);
    RUN(test_pooling_random);
    RUN(test_pool_row_random);
    RUN(test_upsample_row);
    RUN(test_resample2d);
    RUN(test_binary);
    RUN(test_reductions);
    RUN(test_exp_sum);
    RUN(test_norm_rows);
    RUN(test_f16);
    ember_pool_destroy(pool2);
    return check_done();
}
