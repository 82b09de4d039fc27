/* Ops of the indexing, layout, linear-algebra, spatial, signal and training families, run one node at a
 * time through their infer/run functions: the tricky cases the ONNX node tests do not cover (duplicate
 * scatter indices, stable ties, multi-bounce reflection, implicit einsum outputs, transform round trips,
 * errors for bad attributes and shapes). */
#include "check.h"
#include "ops/op.h"

#ifndef M_PI
#define M_PI 3.14159265358979323846
#endif
#define MAXIO 6

/* One node: up to MAXIO inputs and outputs, a few attributes. */
typedef struct {
    ev in[MAXIO], out[MAXIO];
    ev *inp[MAXIO], *outp[MAXIO];
    eg_attr attr[8];
    eg_node node;
    eo_ctx c;
    const eo_def *def;
} node_t;

static void node_init(node_t *n, const char *op, int opset) {
    memset(n, 0, sizeof *n);
    n->node.op_type = op;
    n->node.domain = "";
    n->node.opset = opset;
    n->node.attr = n->attr;
    n->def = eo_find("", op, opset);
    n->c.node = &n->node;
    n->c.opset = opset;
    n->c.in = n->inp;
    n->c.out = n->outp;
}

/* Input i: a tensor of this dtype and shape holding vals (converted), or absent when ndim < 0. */
static void node_in(node_t *n, int i, ember_dtype t, int ndim, const int64_t *shape, const double *vals) {
    if (i >= n->c.nin) n->c.nin = i + 1;
    if (ndim < 0) return;
    ev_alloc_tensor(&n->in[i], t, ndim, shape);
    for (int64_t k = 0; vals && k < ember_tensor_count(&n->in[i].t); k++) eo_put(&n->in[i].t, k, vals[k]);
    n->inp[i] = &n->in[i];
}

static void attr_ints(node_t *n, const char *name, const int64_t *v, int count) {
    n->attr[n->node.nattr++] = (eg_attr){.name = name, .type = EG_ATTR_INTS, .ints = v, .n = count};
}
static void attr_float(node_t *n, const char *name, float v) {
    n->attr[n->node.nattr++] = (eg_attr){.name = name, .type = EG_ATTR_FLOAT, .f = v};
}
static void attr_int(node_t *n, const char *name, int64_t v) {
    n->attr[n->node.nattr++] = (eg_attr){.name = name, .type = EG_ATTR_INT, .i = v};
}
static void attr_str(node_t *n, const char *name, const char *s) {
    n->attr[n->node.nattr++] = (eg_attr){.name = name, .type = EG_ATTR_STRING, .s = s, .slen = strlen(s)};
}

/* infer, allocate, run; returns the first error. */
static ember_status node_run(node_t *n, int nout) {
    n->c.nout = nout;
    for (int i = 0; i < nout; i++) n->outp[i] = &n->out[i];
    if (!n->def) return EMBER_ERR_UNSUPPORTED;
    n->c.inferring = true;
    ember_status s = n->def->infer(&n->c);
    n->c.inferring = false;
    if (s == EO_DYNAMIC)
        s = EMBER_OK;
    else
        for (int i = 0; !s && i < nout; i++) {
            ember_tensor m = n->out[i].t;
            s = ev_alloc_tensor(&n->out[i], m.dtype, m.ndim, m.shape);
        }
    if (!s) s = n->def->run(&n->c);
    for (int i = 0; i < n->c.nscratch; i++) ember_free_aligned(n->c.scratch[i]);
    n->c.nscratch = 0;
    return s;
}

static void node_free(node_t *n) {
    for (int i = 0; i < MAXIO; i++) ev_clear(&n->in[i]), ev_clear(&n->out[i]);
}

static bool out_is(const node_t *n, int i, int ndim, const int64_t *shape, const double *want, double tol) {
    const ember_tensor *t = &n->out[i].t;
    if (n->out[i].kind != EV_TENSOR || t->ndim != ndim ||
        memcmp(t->shape, shape, sizeof(int64_t) * (size_t)ndim))
        return false;
    for (int64_t k = 0; k < ember_tensor_count(t); k++)
        if (fabs(eo_get(t, k) - want[k]) > tol) {
            printf("  element %lld: %g, expected %g\n", (long long)k, eo_get(t, k), want[k]);
            return false;
        }
    return true;
}

/* Duplicate indices with reduction=add accumulate; with max they keep the largest. */
static void test_scatter_nd_duplicates(void) {
    node_t n;
    node_init(&n, "ScatterND", 18);
    attr_str(&n, "reduction", "add");
    double data[4] = {1, 2, 3, 4}, idx[3] = {1, 1, -1}, upd[3] = {10, 20, 5};
    node_in(&n, 0, EMBER_DTYPE_F32, 1, (int64_t[]){4}, data);
    node_in(&n, 1, EMBER_DTYPE_I64, 2, (int64_t[]){3, 1}, idx);
    node_in(&n, 2, EMBER_DTYPE_F32, 1, (int64_t[]){3}, upd);
    CHECK(node_run(&n, 1) == EMBER_OK);
    CHECK(out_is(&n, 0, 1, (int64_t[]){4}, (double[]){1, 32, 3, 9}, 0));
    node_free(&n);

    node_init(&n, "ScatterElements", 18);
    attr_str(&n, "reduction", "max");
    attr_int(&n, "axis", 1);
    double d2[4] = {1, 2, 3, 4}, i2[4] = {0, 0, -1, -1}, u2[4] = {5, 0, 1, 7};
    node_in(&n, 0, EMBER_DTYPE_I32, 2, (int64_t[]){2, 2}, d2);
    node_in(&n, 1, EMBER_DTYPE_I32, 2, (int64_t[]){2, 2}, i2);
    node_in(&n, 2, EMBER_DTYPE_I32, 2, (int64_t[]){2, 2}, u2);
    CHECK(node_run(&n, 1) == EMBER_OK);
    CHECK(out_is(&n, 0, 2, (int64_t[]){2, 2}, (double[]){5, 2, 3, 7}, 0));
    node_free(&n);

    node_init(&n, "ScatterND", 18);
    node_in(&n, 0, EMBER_DTYPE_F32, 1, (int64_t[]){4}, data);
    node_in(&n, 1, EMBER_DTYPE_I64, 2, (int64_t[]){1, 1}, (double[]){4});
    node_in(&n, 2, EMBER_DTYPE_F32, 1, (int64_t[]){1}, upd);
    CHECK(node_run(&n, 1) == EMBER_ERR_SHAPE); /* index out of range: an error, not a write */
    CHECK(strstr(ember_last_error(), "out of range") != NULL);
    node_free(&n);
}

/* GatherND with batch_dims = 1 picks per batch. */
static void test_gather_nd_batch(void) {
    node_t n;
    node_init(&n, "GatherND", 13);
    attr_int(&n, "batch_dims", 1);
    double data[8] = {0, 1, 2, 3, 4, 5, 6, 7}, idx[2] = {1, 0};
    node_in(&n, 0, EMBER_DTYPE_F64, 3, (int64_t[]){2, 2, 2}, data);
    node_in(&n, 1, EMBER_DTYPE_I64, 2, (int64_t[]){2, 1}, idx);
    CHECK(node_run(&n, 1) == EMBER_OK);
    CHECK(out_is(&n, 0, 2, (int64_t[]){2, 2}, (double[]){2, 3, 4, 5}, 0));
    node_free(&n);
}

/* TopK: ties keep the lower index first, for largest and smallest. K larger than the axis is an error. */
static void test_topk_ties(void) {
    node_t n;
    double x[6] = {3, 1, 3, 2, 1, 3};
    for (int largest = 0; largest < 2; largest++) {
        node_init(&n, "TopK", 11);
        attr_int(&n, "largest", largest);
        node_in(&n, 0, EMBER_DTYPE_F16, 1, (int64_t[]){6}, x);
        node_in(&n, 1, EMBER_DTYPE_I64, 1, (int64_t[]){1}, (double[]){4});
        CHECK(node_run(&n, 2) == EMBER_OK);
        if (largest) {
            CHECK(out_is(&n, 0, 1, (int64_t[]){4}, (double[]){3, 3, 3, 2}, 0));
            CHECK(out_is(&n, 1, 1, (int64_t[]){4}, (double[]){0, 2, 5, 3}, 0));
        } else {
            CHECK(out_is(&n, 0, 1, (int64_t[]){4}, (double[]){1, 1, 2, 3}, 0));
            CHECK(out_is(&n, 1, 1, (int64_t[]){4}, (double[]){1, 4, 3, 0}, 0));
        }
        node_free(&n);
    }
    node_init(&n, "TopK", 11);
    node_in(&n, 0, EMBER_DTYPE_F32, 1, (int64_t[]){6}, x);
    node_in(&n, 1, EMBER_DTYPE_I64, 1, (int64_t[]){1}, (double[]){7});
    CHECK(node_run(&n, 2) == EMBER_ERR_SHAPE);
    CHECK(strstr(ember_last_error(), "exceeds") != NULL);
    node_free(&n);
}

/* Unique, unsorted, along an axis: slices in order of first occurrence. */
static void test_unique_axis_unsorted(void) {
    node_t n;
    node_init(&n, "Unique", 11);
    attr_int(&n, "sorted", 0);
    attr_int(&n, "axis", 0);
    double x[8] = {5, 6, 1, 2, 5, 6, 0, 0};
    node_in(&n, 0, EMBER_DTYPE_I64, 2, (int64_t[]){4, 2}, x);
    CHECK(node_run(&n, 4) == EMBER_OK);
    CHECK(out_is(&n, 0, 2, (int64_t[]){3, 2}, (double[]){5, 6, 1, 2, 0, 0}, 0));
    CHECK(out_is(&n, 1, 1, (int64_t[]){3}, (double[]){0, 1, 3}, 0));
    CHECK(out_is(&n, 2, 1, (int64_t[]){4}, (double[]){0, 1, 0, 2}, 0));
    CHECK(out_is(&n, 3, 1, (int64_t[]){3}, (double[]){2, 1, 1}, 0));
    node_free(&n);
}

/* Pad: reflect bounces more than once when pads exceed the size; negative pads crop; bad modes fail. */
static void test_pad_modes(void) {
    node_t n;
    node_init(&n, "Pad", 19);
    attr_str(&n, "mode", "reflect");
    node_in(&n, 0, EMBER_DTYPE_F32, 1, (int64_t[]){3}, (double[]){1, 2, 3});
    node_in(&n, 1, EMBER_DTYPE_I64, 1, (int64_t[]){2}, (double[]){5, -1});
    CHECK(node_run(&n, 1) == EMBER_OK);
    /* source indices -5..1 reflect with period 4: -5 -> 5 -> -1 -> 1 */
    CHECK(out_is(&n, 0, 1, (int64_t[]){7}, (double[]){2, 1, 2, 3, 2, 1, 2}, 0));
    node_free(&n);

    node_init(&n, "Pad", 19);
    attr_str(&n, "mode", "wrap");
    node_in(&n, 0, EMBER_DTYPE_U8, 2, (int64_t[]){2, 2}, (double[]){1, 2, 3, 4});
    node_in(&n, 1, EMBER_DTYPE_I64, 1, (int64_t[]){2}, (double[]){1, 2}); /* axes [1]: begin 1, end 2 */
    node_in(&n, 2, EMBER_DTYPE_U8, -1, NULL, NULL);
    node_in(&n, 3, EMBER_DTYPE_I64, 1, (int64_t[]){1}, (double[]){-1});
    CHECK(node_run(&n, 1) == EMBER_OK);
    CHECK(out_is(&n, 0, 2, (int64_t[]){2, 5}, (double[]){2, 1, 2, 1, 2, 4, 3, 4, 3, 4}, 0));
    node_free(&n);

    node_init(&n, "Pad", 19);
    attr_str(&n, "mode", "mirror");
    node_in(&n, 0, EMBER_DTYPE_F32, 1, (int64_t[]){3}, (double[]){1, 2, 3});
    node_in(&n, 1, EMBER_DTYPE_I64, 1, (int64_t[]){2}, (double[]){1, 1});
    CHECK(node_run(&n, 1) == EMBER_ERR_FORMAT);
    CHECK(strstr(ember_last_error(), "mirror") != NULL);
    node_free(&n);
}

/* Old opsets keep their attribute forms: Pad-2 (pads, value attributes), TopK-1 (k attribute). */
static void test_old_opsets(void) {
    node_t n;
    node_init(&n, "Pad", 2);
    static const int64_t pads[2] = {1, 2};
    attr_ints(&n, "pads", pads, 2);
    attr_float(&n, "value", 7.5f);
    node_in(&n, 0, EMBER_DTYPE_F16, 1, (int64_t[]){2}, (double[]){1, 2});
    CHECK(node_run(&n, 1) == EMBER_OK);
    CHECK(out_is(&n, 0, 1, (int64_t[]){5}, (double[]){7.5, 1, 2, 7.5, 7.5}, 0));
    node_free(&n);

    node_init(&n, "TopK", 1);
    attr_int(&n, "k", 2);
    node_in(&n, 0, EMBER_DTYPE_F32, 2, (int64_t[]){2, 3}, (double[]){1, 9, 5, 4, 2, 8});
    CHECK(node_run(&n, 2) == EMBER_OK);
    CHECK(out_is(&n, 0, 2, (int64_t[]){2, 2}, (double[]){9, 5, 8, 4}, 0));
    CHECK(out_is(&n, 1, 2, (int64_t[]){2, 2}, (double[]){1, 2, 2, 0}, 0));
    node_free(&n);
}

/* Pad's row-copy fast path against a naive per-element loop (odd sizes, crops and pads mixed, edge mode). */
static void test_pad_vs_naive(void) {
    int64_t xs[3] = {3, 5, 7}, b[3] = {1, -2, 3}, e[3] = {2, 1, -1}, ys[3];
    double x[105];
    for (int i = 0; i < 105; i++) x[i] = i;
    for (int d = 0; d < 3; d++) ys[d] = xs[d] + b[d] + e[d];
    node_t n;
    node_init(&n, "Pad", 19);
    attr_str(&n, "mode", "edge");
    node_in(&n, 0, EMBER_DTYPE_I16, 3, xs, x);
    node_in(&n, 1, EMBER_DTYPE_I64, 1, (int64_t[]){6}, (double[]){1, -2, 3, 2, 1, -1});
    CHECK(node_run(&n, 1) == EMBER_OK);
    double want[6 * 4 * 9];
    int k = 0;
    for (int64_t i = 0; i < ys[0]; i++)
        for (int64_t j = 0; j < ys[1]; j++)
            for (int64_t l = 0; l < ys[2]; l++) {
                int64_t si = i - b[0], sj = j - b[1], sl = l - b[2];
                si = si < 0 ? 0 : si >= xs[0] ? xs[0] - 1 : si;
                sj = sj < 0 ? 0 : sj >= xs[1] ? xs[1] - 1 : sj;
                sl = sl < 0 ? 0 : sl >= xs[2] ? xs[2] - 1 : sl;
                want[k++] = x[(si * xs[1] + sj) * xs[2] + sl];
            }
    CHECK(k == 6 * 4 * 9);
    CHECK(out_is(&n, 0, 3, ys, want, 0));
    node_free(&n);
}

/* Transpose against the index definition on random shapes with size-1 dims (merged away by the strided
 * copy), NCHW -> NHWC with small C (the 2-D transpose path) and float / int16 / int64 elements; big ones
 * run on two threads (each starts its row odometer mid-tensor). */
static void test_transpose_vs_naive(void) {
    ember_pool *pool = NULL;
    CHECK(ember_pool_create(2, &pool) == EMBER_OK);
    static const ember_dtype types[3] = {EMBER_DTYPE_F32, EMBER_DTYPE_I16, EMBER_DTYPE_I64};
    for (int it = 0; it < 60; it++) {
        int r = 2 + (int)(check_rand() % 4);
        int64_t xs[5], ys[5], perm[5], n = 1;
        uint64_t big = it % 4 == 1 ? 24 : 9; /* some over 65536 elements: split across the threads */
        for (int d = 0; d < r; d++) xs[d] = check_rand() % 3 == 0 ? 1 : 1 + (int64_t)(check_rand() % big), perm[d] = d;
        if (it % 4 == 0) /* 1 x C x H x W -> 1 x H x W x C */
            r = 4, xs[0] = 1, xs[1] = 1 + it % 11, xs[2] = 40 + it, xs[3] = 90, perm[1] = 2, perm[2] = 3, perm[3] = 1;
        else
            for (int d = r - 1; d > 0; d--) {
                int k = (int)(check_rand() % (uint64_t)(d + 1));
                int64_t t = perm[d];
                perm[d] = perm[k], perm[k] = t;
            }
        for (int d = 0; d < r; d++) n *= xs[d], ys[d] = xs[perm[d]];
        double *x = malloc(sizeof(double) * (size_t)n), *want = malloc(sizeof(double) * (size_t)n);
        for (int64_t i = 0; i < n; i++) x[i] = (double)(i % 30000);
        int64_t xst[5];
        xst[r - 1] = 1;
        for (int d = r - 2; d >= 0; d--) xst[d] = xst[d + 1] * xs[d + 1];
        for (int64_t i = 0; i < n; i++) { /* output i: its coordinates, mapped back through perm */
            int64_t rem = i, off = 0;
            for (int d = r - 1; d >= 0; d--) off += (rem % ys[d]) * xst[perm[d]], rem /= ys[d];
            want[i] = x[off];
        }
        node_t nd;
        node_init(&nd, "Transpose", 13);
        attr_ints(&nd, "perm", perm, r);
        node_in(&nd, 0, types[it % 3], r, xs, x);
        nd.c.pool = (it & 1) || it % 8 == 0 ? pool : NULL;
        CHECK(node_run(&nd, 1) == EMBER_OK);
        CHECK_MSG(out_is(&nd, 0, r, ys, want, 0), "Transpose case %d, rank %d", it, r);
        node_free(&nd);
        free(x), free(want);
    }
    ember_pool_destroy(pool);
}

/* Einsum: implicit output with an ellipsis, a diagonal, broadcasting batch dims; mismatched sizes fail. */
static void test_einsum_cases(void) {
    node_t n;
    node_init(&n, "Einsum", 12);
    attr_str(&n, "equation", "ii->i");
    node_in(&n, 0, EMBER_DTYPE_F32, 2, (int64_t[]){3, 3}, (double[]){1, 2, 3, 4, 5, 6, 7, 8, 9});
    CHECK(node_run(&n, 1) == EMBER_OK);
    CHECK(out_is(&n, 0, 1, (int64_t[]){3}, (double[]){1, 5, 9}, 0));
    node_free(&n);

    node_init(&n, "Einsum", 12);
    attr_str(&n, "equation", "...ij,jk"); /* implicit: ...ik */
    double a[8] = {1, 2, 3, 4, 5, 6, 7, 8}, b[4] = {1, 0, 1, 1};
    node_in(&n, 0, EMBER_DTYPE_F64, 3, (int64_t[]){2, 2, 2}, a);
    node_in(&n, 1, EMBER_DTYPE_F64, 2, (int64_t[]){2, 2}, b);
    CHECK(node_run(&n, 1) == EMBER_OK);
    CHECK(out_is(&n, 0, 3, (int64_t[]){2, 2, 2}, (double[]){3, 2, 7, 4, 11, 6, 15, 8}, 1e-12));
    node_free(&n);

    node_init(&n, "Einsum", 12);
    attr_str(&n, "equation", "ij,jk->ik");
    node_in(&n, 0, EMBER_DTYPE_F32, 2, (int64_t[]){2, 3}, NULL);
    node_in(&n, 1, EMBER_DTYPE_F32, 2, (int64_t[]){2, 2}, NULL);
    CHECK(node_run(&n, 1) == EMBER_ERR_SHAPE);
    CHECK(strstr(ember_last_error(), "label 'j'") != NULL);
    node_free(&n);
}

/* DFT of an odd-length real signal, onesided, then the inverse onesided transform gives it back. */
static void test_dft_round_trip(void) {
    node_t f, b;
    double x[7] = {0.5, -1, 2, 3.25, 0, 1, -2};
    node_init(&f, "DFT", 17);
    attr_int(&f, "onesided", 1);
    attr_int(&f, "axis", 1);
    node_in(&f, 0, EMBER_DTYPE_F64, 3, (int64_t[]){1, 7, 1}, x);
    CHECK(node_run(&f, 1) == EMBER_OK);
    CHECK(f.out[0].t.ndim == 3 && f.out[0].t.shape[1] == 4 && f.out[0].t.shape[2] == 2);
    node_init(&b, "DFT", 17);
    attr_int(&b, "onesided", 1);
    attr_int(&b, "inverse", 1);
    attr_int(&b, "axis", 1);
    b.c.nin = 2;
    b.inp[0] = &f.out[0];
    node_in(&b, 1, EMBER_DTYPE_I64, 0, NULL, (double[]){7});
    CHECK(node_run(&b, 1) == EMBER_OK);
    CHECK(out_is(&b, 0, 3, (int64_t[]){1, 7, 1}, x, 1e-12));
    b.inp[0] = NULL;
    node_free(&b);
    node_free(&f);
}

/* The radix-2 FFT path (power-of-two lengths) matches a naive DFT on a complex signal, forward and inverse.
 */
static void test_fft_vs_naive(void) {
    enum { N = 64 };
    double x[2 * N];
    for (int i = 0; i < 2 * N; i++) x[i] = sin(0.37 * i) + 0.25 * cos(1.9 * i * i);
    for (int inv = 0; inv < 2; inv++) {
        node_t n;
        node_init(&n, "DFT", 20);
        attr_int(&n, "inverse", inv);
        node_in(&n, 0, EMBER_DTYPE_F64, 3, (int64_t[]){1, N, 2}, x);
        CHECK(node_run(&n, 1) == EMBER_OK);
        double want[2 * N], sign = inv ? 1 : -1;
        for (int k = 0; k < N; k++) {
            double sr = 0, si = 0;
            for (int t = 0; t < N; t++) {
                double a = sign * 2 * M_PI * k * t / N;
                sr += x[2 * t] * cos(a) - x[2 * t + 1] * sin(a);
                si += x[2 * t] * sin(a) + x[2 * t + 1] * cos(a);
            }
            want[2 * k] = inv ? sr / N : sr;
            want[2 * k + 1] = inv ? si / N : si;
        }
        CHECK_MSG(out_is(&n, 0, 3, (int64_t[]){1, N, 2}, want, 1e-9), "inverse=%d", inv);
        node_free(&n);
    }
}

/* Det: row swaps flip the sign; singular matrices give 0; batches. */
static void test_det(void) {
    node_t n;
    node_init(&n, "Det", 11);
    double m[18] = {0, 1, 0, 1, 0, 0, 0, 0, 1, /* permutation: -1 */ 1,
                    2, 3, 2, 4, 6, 1, 0, 1 /* singular */};
    node_in(&n, 0, EMBER_DTYPE_F32, 3, (int64_t[]){2, 3, 3}, m);
    CHECK(node_run(&n, 1) == EMBER_OK);
    CHECK(out_is(&n, 0, 1, (int64_t[]){2}, (double[]){-1, 0}, 1e-6));
    node_free(&n);
}

/* CumSum on int64 is exact beyond 2^53; exclusive + reverse. */
static void test_cumsum_int64(void) {
    node_t n;
    node_init(&n, "CumSum", 14);
    attr_int(&n, "exclusive", 1);
    attr_int(&n, "reverse", 1);
    node_in(&n, 0, EMBER_DTYPE_I64, 1, (int64_t[]){3}, NULL);
    int64_t *x = n.in[0].t.data;
    x[0] = 1, x[1] = (int64_t)1 << 60, x[2] = 3;
    node_in(&n, 1, EMBER_DTYPE_I32, 0, NULL, (double[]){0});
    CHECK(node_run(&n, 1) == EMBER_OK);
    const int64_t *y = n.out[0].t.data;
    CHECK(y[0] == ((int64_t)1 << 60) + 3 && y[1] == 3 && y[2] == 0);
    node_free(&n);
}

/* GridSample with an identity grid (align_corners) reproduces the input in every mode. */
static void test_grid_sample_identity(void) {
    const char *modes[3] = {"linear", "nearest", "cubic"};
    double x[12], g[24];
    for (int i = 0; i < 12; i++) x[i] = i * 1.5 - 3;
    for (int h = 0; h < 3; h++)
        for (int w = 0; w < 4; w++) {
            g[(h * 4 + w) * 2] = -1 + 2.0 * w / 3;
            g[(h * 4 + w) * 2 + 1] = -1 + h;
        }
    for (int m = 0; m < 3; m++) {
        node_t n;
        node_init(&n, "GridSample", 20);
        attr_str(&n, "mode", modes[m]);
        attr_int(&n, "align_corners", 1);
        attr_str(&n, "padding_mode", "border");
        node_in(&n, 0, EMBER_DTYPE_F32, 4, (int64_t[]){1, 1, 3, 4}, x);
        node_in(&n, 1, EMBER_DTYPE_F32, 4, (int64_t[]){1, 3, 4, 2}, g);
        CHECK(node_run(&n, 1) == EMBER_OK);
        CHECK_MSG(out_is(&n, 0, 4, (int64_t[]){1, 1, 3, 4}, x, 1e-5), "mode %s", modes[m]);
        node_free(&n);
    }
}

/* DeformConv: the float32 path (ember_sgemm) matches the double reference loop; groups, offset groups,
 * strides, dilation, padding, mask and bias, odd sizes. */
static void test_deform_conv_f32_vs_f64(void) {
    static const int64_t ks[2] = {3, 2}, st[2] = {2, 1}, dil[2] = {1, 2}, pads[4] = {1, 0, 2, 1};
    int64_t xs[4] = {2, 4, 7, 6}, ws[4] = {6, 2, 3, 2};
    /* out: H (7+1+2-3)/2+1 = 4, W (6+0+1-2-1)/1+1 = 5 */
    int64_t os[4] = {2, 2 * 2 * 6, 4, 5}, ms[4] = {2, 2 * 6, 4, 5};
    double x[2 * 4 * 7 * 6], w[6 * 2 * 3 * 2], off[2 * 24 * 20], m[2 * 12 * 20], b[6];
    for (size_t i = 0; i < sizeof x / sizeof *x; i++) x[i] = check_randf(-1, 1);
    for (size_t i = 0; i < sizeof w / sizeof *w; i++) w[i] = check_randf(-1, 1);
    for (size_t i = 0; i < sizeof off / sizeof *off; i++) off[i] = check_randf(-2, 2);
    for (size_t i = 0; i < sizeof m / sizeof *m; i++) m[i] = check_randf(0, 1);
    for (int i = 0; i < 6; i++) b[i] = check_randf(-1, 1);
    node_t n[2];
    for (int k = 0; k < 2; k++) {
        ember_dtype t = k ? EMBER_DTYPE_F64 : EMBER_DTYPE_F32;
        node_init(&n[k], "DeformConv", 19);
        attr_ints(&n[k], "kernel_shape", ks, 2), attr_ints(&n[k], "strides", st, 2);
        attr_ints(&n[k], "dilations", dil, 2), attr_ints(&n[k], "pads", pads, 4);
        attr_int(&n[k], "group", 2), attr_int(&n[k], "offset_group", 2);
        node_in(&n[k], 0, t, 4, xs, x), node_in(&n[k], 1, t, 4, ws, w), node_in(&n[k], 2, t, 4, os, off);
        node_in(&n[k], 3, t, 1, (int64_t[]){6}, b), node_in(&n[k], 4, t, 4, ms, m);
        CHECK(node_run(&n[k], 1) == EMBER_OK);
    }
    double want[2 * 6 * 4 * 5];
    CHECK(ember_tensor_count(&n[1].out[0].t) == 240);
    double mag = 0;
    for (int i = 0; i < 240; i++) want[i] = eo_get(&n[1].out[0].t, i), mag += fabs(want[i]);
    CHECK(mag > 10); /* not a trivially zero result */
    CHECK(out_is(&n[0], 0, 4, (int64_t[]){2, 6, 4, 5}, want, 1e-4));
    node_free(&n[0]), node_free(&n[1]);
}

/* NonMaxSuppression: a box overlapping a better one is dropped; the cap per class holds. */
static void test_nms(void) {
    node_t n;
    node_init(&n, "NonMaxSuppression", 11);
    double boxes[12] = {0, 0, 1, 1, 0, 0.1, 1, 1.1, 0, 5, 1, 6}, scores[3] = {0.9, 0.95, 0.5};
    node_in(&n, 0, EMBER_DTYPE_F32, 3, (int64_t[]){1, 3, 4}, boxes);
    node_in(&n, 1, EMBER_DTYPE_F32, 3, (int64_t[]){1, 1, 3}, scores);
    node_in(&n, 2, EMBER_DTYPE_I64, 1, (int64_t[]){1}, (double[]){5});
    node_in(&n, 3, EMBER_DTYPE_F32, 1, (int64_t[]){1}, (double[]){0.5});
    CHECK(node_run(&n, 1) == EMBER_OK);
    CHECK(out_is(&n, 0, 2, (int64_t[]){2, 3}, (double[]){0, 0, 1, 0, 0, 2}, 0));
    node_free(&n);
}

/* Adam's first step (T = 0) uses the plain learning rate. */
static void test_adam_step(void) {
    node_t n;
    node_init(&n, "Adam", 1);
    n.node.domain = "ai.onnx.preview.training";
    n.def = eo_find("ai.onnx.preview.training", "Adam", 1);
    node_in(&n, 0, EMBER_DTYPE_F32, 0, NULL, (double[]){0.1});
    node_in(&n, 1, EMBER_DTYPE_I64, 0, NULL, (double[]){0});
    for (int i = 2; i < 6; i++)
        node_in(&n, i, EMBER_DTYPE_F64, 1, (int64_t[]){1}, (double[]){i == 2 ? 1.0 : i == 3 ? 0.5 : 0});
    CHECK(node_run(&n, 3) == EMBER_OK);
    double v = 0.1 * 0.5, h = 0.001 * 0.25;
    CHECK(out_is(&n, 1, 1, (int64_t[]){1}, (double[]){v}, 1e-6)); /* attributes are float: 0.9f, 0.999f */
    CHECK(out_is(&n, 2, 1, (int64_t[]){1}, (double[]){h}, 1e-6));
    CHECK(out_is(&n, 0, 1, (int64_t[]){1}, (double[]){1 - 0.1 * v / (sqrt(h) + 1e-6)}, 1e-5));
    node_free(&n);
}

/* Hostile values: NaN sampling coordinates read as outside, a huge ROI is an error (not a hang), OneHot
 * accepts -depth and ignores out-of-range indices. */
static void test_hostile_values(void) {
    node_t n;
    node_init(&n, "GridSample", 20);
    node_in(&n, 0, EMBER_DTYPE_F32, 4, (int64_t[]){1, 1, 2, 2}, (double[]){1, 2, 3, 4});
    node_in(&n, 1, EMBER_DTYPE_F32, 4, (int64_t[]){1, 1, 2, 2}, (double[]){NAN, 0, 1e30, -1e30});
    CHECK(node_run(&n, 1) == EMBER_OK);
    CHECK(out_is(&n, 0, 4, (int64_t[]){1, 1, 1, 2}, (double[]){0, 0}, 0));
    node_free(&n);

    node_init(&n, "RoiAlign", 16);
    node_in(&n, 0, EMBER_DTYPE_F32, 4, (int64_t[]){1, 1, 2, 2}, (double[]){1, 2, 3, 4});
    node_in(&n, 1, EMBER_DTYPE_F32, 2, (int64_t[]){1, 4}, (double[]){0, 0, 1e30, 1e30});
    node_in(&n, 2, EMBER_DTYPE_I64, 1, (int64_t[]){1}, (double[]){0});
    CHECK(node_run(&n, 1) == EMBER_ERR_SHAPE);
    node_free(&n);

    node_init(&n, "OneHot", 11);
    node_in(&n, 0, EMBER_DTYPE_F32, 1, (int64_t[]){3}, (double[]){-3, 7, NAN});
    node_in(&n, 1, EMBER_DTYPE_I64, 0, (int64_t[]){1}, (double[]){3});
    node_in(&n, 2, EMBER_DTYPE_F32, 1, (int64_t[]){2}, (double[]){0, 1});
    CHECK(node_run(&n, 1) == EMBER_OK);
    CHECK(out_is(&n, 0, 2, (int64_t[]){3, 3}, (double[]){1, 0, 0, 0, 0, 0, 0, 0, 0}, 0));
    node_free(&n);
}

/* Random small shapes, types, values and attributes through every op of these families: each call ends
 * with OK or an error message, never a crash (run under ASan: make test-asan; EMBER_OPS_FUZZ_ITERS=N
 * runs N nodes instead of 20000). */
static void test_random_inputs_never_crash(void) {
    static const struct {
        const char *op;
        int opset, nin_min, nin_max, nout;
    } ops[] = {
        {"ScatterND", 18, 3, 3, 1},
        {"ScatterElements", 18, 3, 3, 1},
        {"GatherND", 13, 2, 2, 1},
        {"TensorScatter", 24, 2, 3, 1},
        {"TopK", 11, 2, 2, 2},
        {"Unique", 11, 1, 1, 4},
        {"NonZero", 13, 1, 1, 1},
        {"Compress", 11, 2, 2, 1},
        {"OneHot", 11, 3, 3, 1},
        {"Pad", 19, 2, 4, 1},
        {"CenterCropPad", 18, 2, 2, 1},
        {"SpaceToDepth", 13, 1, 1, 1},
        {"DepthToSpace", 13, 1, 1, 1},
        {"Col2Im", 18, 3, 3, 1},
        {"Trilu", 14, 1, 2, 1},
        {"ReverseSequence", 10, 2, 2, 1},
        {"CumSum", 14, 2, 2, 1},
        {"CumProd", 26, 2, 2, 1},
        {"Det", 11, 1, 1, 1},
        {"GridSample", 20, 2, 2, 1},
        {"AffineGrid", 20, 2, 2, 1},
        {"RoiAlign", 16, 3, 3, 1},
        {"MaxUnpool", 11, 2, 3, 1},
        {"DeformConv", 19, 3, 5, 1},
        {"NonMaxSuppression", 11, 2, 5, 1},
        {"DFT", 20, 1, 3, 1},
        {"STFT", 17, 2, 4, 1},
        {"HannWindow", 17, 1, 1, 1},
        {"MelWeightMatrix", 17, 5, 5, 1},
        {"RotaryEmbedding", 23, 3, 4, 1},
        {"SwiGLU", 24, 2, 2, 1},
        {"Swish", 24, 1, 1, 1},
        {"LinearAttention", 27, 3, 6, 2},
        {"CausalConvWithState", 27, 2, 4, 2},
        {"Einsum", 12, 1, 3, 1},
        {"TfIdfVectorizer", 9, 1, 1, 1},
    };
    static const int64_t ks[2] = {2, 2}, pads4[4] = {1, 0, 0, 1}, ngc[2] = {0, 2}, ngi[4] = {0, 1, 2, 3},
                         pool[6] = {1, 2, 3, 1, 2, 3};
    static const char *eqs[3] = {"i", "ij,jk", "...i,...i->..."};
    const ember_dtype types[4] = {EMBER_DTYPE_F32, EMBER_DTYPE_I64, EMBER_DTYPE_I32, EMBER_DTYPE_F16};
    int ok = 0, failed = 0;
    int iters = getenv("EMBER_OPS_FUZZ_ITERS") ? atoi(getenv("EMBER_OPS_FUZZ_ITERS"))
                : check_slow()                ? 2000
                                               : 20000;
    for (int iter = 0; iter < iters; iter++) {
        int o = (int)(check_rand() % (sizeof ops / sizeof ops[0]));
        node_t n;
        node_init(&n, ops[o].op, ops[o].opset);
        if (!n.def) n.def = eo_find("", ops[o].op, ops[o].opset);
        int nin = ops[o].nin_min + (int)(check_rand() % (unsigned)(ops[o].nin_max - ops[o].nin_min + 1));
        if (!strcmp(ops[o].op, "Einsum")) attr_str(&n, "equation", eqs[check_rand() % 3]);
        if (check_rand() % 2) attr_int(&n, "axis", (int64_t)(check_rand() % 5) - 2);
        if (check_rand() % 2) attr_int(&n, "blocksize", (int64_t)(check_rand() % 3));
        if (!strcmp(ops[o].op, "MaxUnpool") || !strcmp(ops[o].op, "DeformConv"))
            attr_ints(&n, "kernel_shape", ks, 2);
        if (!strcmp(ops[o].op, "Col2Im") && check_rand() % 2) attr_ints(&n, "pads", pads4, 4);
        if (!strcmp(ops[o].op, "LinearAttention"))
            attr_int(&n, "q_num_heads", 1 + (int64_t)(check_rand() % 2)), attr_int(&n, "kv_num_heads", 1);
        if (!strcmp(ops[o].op, "TfIdfVectorizer")) {
            n.node.nattr = 0;
            attr_int(&n, "min_gram_length", 1), attr_int(&n, "max_gram_length", 2),
                attr_str(&n, "mode", "TF");
            attr_ints(&n, "ngram_counts", ngc, 2), attr_ints(&n, "ngram_indexes", ngi, 4),
                attr_ints(&n, "pool_int64s", pool, 6);
        }
        bool same_shape = check_rand() % 2;
        for (int i = 0; i < nin; i++) {
            if (i > 0 && check_rand() % 8 == 0) {
                node_in(&n, i, EMBER_DTYPE_F32, -1, NULL, NULL); /* absent */
                continue;
            }
            int ndim = (int)(check_rand() % 5);
            int64_t shape[4];
            for (int d = 0; d < ndim; d++) shape[d] = (int64_t)(check_rand() % 4);
            if (i > 0 && same_shape && n.inp[0]) { /* often the shapes agree, to reach the compute paths */
                ndim = n.in[0].t.ndim;
                memcpy(shape, n.in[0].t.shape, sizeof(int64_t) * (size_t)ndim);
                if (ndim && check_rand() % 2) ndim--;
            }
            ember_dtype t = types[check_rand() % 4];
            double vals[256];
            for (int k = 0; k < 256; k++)
                vals[k] = (double)((int)(check_rand() % 11) - 5) * (check_rand() % 3 ? 1 : 0.37);
            node_in(&n, i, t, ndim, shape, vals);
        }
        ember_status s = node_run(&n, ops[o].nout);
        if (s) {
            failed++;
            CHECK_MSG(ember_last_error()[0] != 0, "%s failed without a message", ops[o].op);
        } else {
            ok++;
        }
        node_free(&n);
    }
    printf("  random nodes: %d ran, %d rejected with a message\n", ok, failed);
    CHECK(ok > iters / 40);
}

/* Valid shapes, hostile values (NaN, infinities, huge and negative numbers; small ints for int inputs):
 * every op returns OK or an error, without undefined behaviour (UBSan) or out-of-range reads (ASan). */
static void test_hostile_values_fuzz(void) {
    typedef struct {
        ember_dtype t;
        int ndim;
        int64_t shape[5];
    } in_t;
    static const struct {
        const char *op;
        int opset, nin, nout;
        in_t in[5];
    } cases[] = {
        {"RoiAlign",
         16,
         3,
         1,
         {{EMBER_DTYPE_F32, 4, {1, 2, 4, 5}}, {EMBER_DTYPE_F32, 2, {3, 4}}, {EMBER_DTYPE_I64, 1, {3}}}},
        {"NonMaxSuppression",
         11,
         5,
         1,
         {{EMBER_DTYPE_F32, 3, {2, 5, 4}},
          {EMBER_DTYPE_F32, 3, {2, 2, 5}},
          {EMBER_DTYPE_I64, 1, {1}},
          {EMBER_DTYPE_F32, 1, {1}},
          {EMBER_DTYPE_F32, 1, {1}}}},
        {"GridSample", 20, 2, 1, {{EMBER_DTYPE_F32, 4, {1, 2, 3, 4}}, {EMBER_DTYPE_F32, 4, {1, 2, 3, 2}}}},
        {"GridSample",
         20,
         2,
         1,
         {{EMBER_DTYPE_F32, 5, {1, 1, 2, 3, 2}}, {EMBER_DTYPE_F32, 5, {1, 2, 2, 2, 3}}}},
        {"DeformConv",
         19,
         5,
         1,
         {{EMBER_DTYPE_F32, 4, {1, 2, 4, 4}},
          {EMBER_DTYPE_F32, 4, {2, 2, 2, 2}},
          {EMBER_DTYPE_F32, 4, {1, 8, 3, 3}},
          {EMBER_DTYPE_F32, 1, {2}},
          {EMBER_DTYPE_F32, 4, {1, 4, 3, 3}}}},
        {"AffineGrid", 20, 2, 1, {{EMBER_DTYPE_F32, 3, {2, 2, 3}}, {EMBER_DTYPE_I64, 1, {4}}}},
        {"Col2Im",
         18,
         3,
         1,
         {{EMBER_DTYPE_F32, 3, {1, 4, 9}}, {EMBER_DTYPE_I64, 1, {2}}, {EMBER_DTYPE_I64, 1, {2}}}},
        {"LinearAttention",
         27,
         6,
         2,
         {{EMBER_DTYPE_F32, 3, {1, 3, 4}},
          {EMBER_DTYPE_F32, 3, {1, 3, 4}},
          {EMBER_DTYPE_F32, 3, {1, 3, 4}},
          {EMBER_DTYPE_F32, 4, {1, 1, 4, 4}},
          {EMBER_DTYPE_F32, 3, {1, 3, 1}}}},
        {"MelWeightMatrix",
         17,
         5,
         1,
         {{EMBER_DTYPE_I64, 0, {0}},
          {EMBER_DTYPE_I64, 0, {0}},
          {EMBER_DTYPE_F32, 0, {0}},
          {EMBER_DTYPE_F32, 0, {0}},
          {EMBER_DTYPE_F32, 0, {0}}}},
        {"HannWindow", 17, 1, 1, {{EMBER_DTYPE_F32, 0, {0}}}},
        {"OneHot",
         11,
         3,
         1,
         {{EMBER_DTYPE_F32, 2, {2, 3}}, {EMBER_DTYPE_F32, 0, {0}}, {EMBER_DTYPE_F32, 1, {2}}}},
        {"TopK", 11, 2, 2, {{EMBER_DTYPE_F32, 2, {3, 5}}, {EMBER_DTYPE_I64, 1, {1}}}},
        {"Unique", 11, 1, 4, {{EMBER_DTYPE_F32, 1, {9}}}},
        {"STFT",
         17,
         4,
         1,
         {{EMBER_DTYPE_F32, 3, {1, 16, 1}},
          {EMBER_DTYPE_I64, 0, {0}},
          {EMBER_DTYPE_F32, 1, {4}},
          {EMBER_DTYPE_I64, 0, {0}}}},
        {"DFT",
         20,
         3,
         1,
         {{EMBER_DTYPE_F32, 3, {1, 8, 2}}, {EMBER_DTYPE_I64, 0, {0}}, {EMBER_DTYPE_I64, 0, {0}}}},
        {"MaxUnpool",
         11,
         3,
         1,
         {{EMBER_DTYPE_F32, 4, {1, 1, 2, 2}}, {EMBER_DTYPE_I64, 4, {1, 1, 2, 2}}, {EMBER_DTYPE_I64, 1, {4}}}},
        {"TensorScatter",
         24,
         3,
         1,
         {{EMBER_DTYPE_F32, 4, {2, 1, 5, 2}}, {EMBER_DTYPE_F32, 4, {2, 1, 2, 2}}, {EMBER_DTYPE_I64, 1, {2}}}},
        {"ReverseSequence", 10, 2, 1, {{EMBER_DTYPE_F32, 2, {4, 3}}, {EMBER_DTYPE_I64, 1, {3}}}},
        {"Pad", 19, 2, 1, {{EMBER_DTYPE_F32, 2, {2, 3}}, {EMBER_DTYPE_I64, 1, {4}}}},
        {"CumProd", 26, 2, 1, {{EMBER_DTYPE_I32, 2, {2, 3}}, {EMBER_DTYPE_I64, 0, {0}}}},
    };
    static const int64_t ks[2] = {2, 2};
    const double special[8] = {NAN, INFINITY, -INFINITY, 1e30, -1e30, 0, 0.5, -2.5};
    int ok = 0, iters = getenv("EMBER_OPS_FUZZ_ITERS") ? atoi(getenv("EMBER_OPS_FUZZ_ITERS")) / 5
                        : check_slow()                ? 400
                                                       : 4000;
    for (int iter = 0; iter < iters; iter++) {
        int k = (int)(check_rand() % (sizeof cases / sizeof cases[0]));
        node_t n;
        node_init(&n, cases[k].op, cases[k].opset);
        if (!strcmp(cases[k].op, "DeformConv")) attr_ints(&n, "kernel_shape", ks, 2);
        if (!strcmp(cases[k].op, "MaxUnpool"))
            attr_ints(&n, "kernel_shape", ks, 2), attr_ints(&n, "strides", ks, 2);
        if (!strcmp(cases[k].op, "LinearAttention"))
            attr_int(&n, "q_num_heads", 1), attr_int(&n, "kv_num_heads", 1),
                attr_str(&n, "update_rule", "delta");
        if (!strcmp(cases[k].op, "TensorScatter") && check_rand() % 2) attr_str(&n, "mode", "circular");
        if (!strcmp(cases[k].op, "RoiAlign") && check_rand() % 2) attr_str(&n, "mode", "max");
        for (int i = 0; i < cases[k].nin; i++) {
            const in_t *d = &cases[k].in[i];
            double vals[256];
            bool isint = d->t == EMBER_DTYPE_I64 || d->t == EMBER_DTYPE_I32;
            for (int v = 0; v < 256; v++)
                vals[v] = isint              ? (double)((int)(check_rand() % 9) - 3)
                          : check_rand() % 3 ? special[check_rand() % 8]
                                             : check_randf(-3, 3);
            node_in(&n, i, d->t, d->ndim, d->shape, vals);
        }
        ember_status s = node_run(&n, cases[k].nout);
        ok += s == EMBER_OK;
        node_free(&n);
    }
    printf("  hostile values: %d of %d ran\n", ok, iters);
    CHECK(ok > iters / 40);
}

int main(void) {
    RUN(test_scatter_nd_duplicates);
    RUN(test_gather_nd_batch);
    RUN(test_topk_ties);
    RUN(test_unique_axis_unsorted);
    RUN(test_pad_modes);
    RUN(test_pad_vs_naive);
    RUN(test_transpose_vs_naive);
    RUN(test_old_opsets);
    RUN(test_einsum_cases);
    RUN(test_dft_round_trip);
    RUN(test_fft_vs_naive);
    RUN(test_det);
    RUN(test_cumsum_int64);
    RUN(test_grid_sample_identity);
    RUN(test_deform_conv_f32_vs_f64);
    RUN(test_nms);
    RUN(test_adam_step);
    RUN(test_hostile_values);
    RUN(test_random_inputs_never_crash);
    RUN(test_hostile_values_fuzz);
    return check_done();
}
