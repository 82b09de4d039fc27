/* Spatial sampling and detection ops: ONNX GridSample (16, 20; 2-D and N-D), AffineGrid (20),
 * RoiAlign (10-22), MaxUnpool (9-22), DeformConv (19), NonMaxSuppression (10-11). Scalar references
 * computing in double; float16/bfloat16 through eo_get/eo_put. DeformConv on float32 multiplies its
 * sampled columns with ember_sgemm (the double loop stays the reference for the other types). */
#include "kernels/kernels.h"
#include "ops/op.h"

#include <stdlib.h>

/* --- GridSample --------------------------------------------------------------------------------------- */
typedef enum { GS_LINEAR, GS_NEAREST, GS_CUBIC } gs_mode;
typedef enum { GS_ZEROS, GS_BORDER, GS_REFLECTION } gs_pad;

static ember_status gs_params(const eo_ctx *c, gs_mode *m, gs_pad *p) {
    const char *mode = eo_attr_str(c, "mode", c->opset >= 20 ? "linear" : "bilinear");
    const char *pad = eo_attr_str(c, "padding_mode", "zeros");
    if (!strcmp(mode, "linear") || !strcmp(mode, "bilinear"))
        *m = GS_LINEAR;
    else if (!strcmp(mode, "nearest"))
        *m = GS_NEAREST;
    else if (!strcmp(mode, "cubic") || !strcmp(mode, "bicubic"))
        *m = GS_CUBIC;
    else
        return ember_fail(EMBER_ERR_FORMAT, "GridSample: unknown mode '%s'", mode);
    if (!strcmp(pad, "zeros"))
        *p = GS_ZEROS;
    else if (!strcmp(pad, "border"))
        *p = GS_BORDER;
    else if (!strcmp(pad, "reflection"))
        *p = GS_REFLECTION;
    else
        return ember_fail(EMBER_ERR_FORMAT, "GridSample: unknown padding_mode '%s'", pad);
    return EMBER_OK;
}

ember_status grid_sample_infer(eo_ctx *c) {
    ember_status chk = eo_check_inputs(c, 2);
    if (chk) return chk;
    const ember_tensor *x = eo_in(c, 0), *g = eo_in(c, 1);
    gs_mode m;
    gs_pad p;
    ember_status s = gs_params(c, &m, &p);
    if (s) return s;
    int k = x->ndim - 2;
    if (k < 1 || g->ndim != x->ndim || g->shape[0] != x->shape[0] || g->shape[g->ndim - 1] != k)
        return ember_fail(EMBER_ERR_SHAPE, "GridSample: X must be [N, C, D1..Dk] and grid [N, O1..Ok, k]");
    if (m == GS_CUBIC && k != 2)
        return ember_fail(EMBER_ERR_UNSUPPORTED, "GridSample: cubic mode needs 2 spatial dimensions");
    int64_t shape[EMBER_MAX_DIMS] = {x->shape[0], x->shape[1]};
    for (int d = 0; d < k; d++) shape[2 + d] = g->shape[1 + d];
    return eo_set_out(c, 0, x->dtype, x->ndim, shape);
}

static double gs_reflect(double x, double lo, double hi) {
    double rng = hi - lo;
    if (rng <= 0) return lo;
    if (x < lo) {
        double dx = lo - x;
        int64_t n = (int64_t)(dx / rng);
        double r = dx - (double)n * rng;
        return n % 2 == 0 ? lo + r : hi - r;
    }
    if (x > hi) {
        double dx = x - hi;
        int64_t n = (int64_t)(dx / rng);
        double r = dx - (double)n * rng;
        return n % 2 == 0 ? hi - r : lo + r;
    }
    return x;
}

static void cubic_coeffs(double t, double *w) {
    const double a = -0.75;
    double x = t + 1;
    w[0] = ((a * x - 5 * a) * x + 8 * a) * x - 4 * a;
    w[1] = ((a + 2) * t - (a + 3)) * t * t + 1;
    x = 1 - t;
    w[2] = ((a + 2) * x - (a + 3)) * x * x + 1;
    x = 2 - t;
    w[3] = ((a * x - 5 * a) * x + 8 * a) * x - 4 * a;
}

/* Index i along a dim of size n under the padding mode: -1 means zero. */
static int64_t gs_index(int64_t i, int64_t n, gs_pad p, double lo, double hi) {
    if (p == GS_ZEROS) return i >= 0 && i < n ? i : -1;
    if (p == GS_BORDER) return i < 0 ? 0 : i >= n ? n - 1 : i;
    i = (int64_t)gs_reflect((double)i, lo, hi);
    return i < 0 ? 0 : i >= n ? n - 1 : i;
}

ember_status grid_sample_run(eo_ctx *c) {
    const ember_tensor *x = eo_in(c, 0), *g = eo_in(c, 1);
    ember_tensor *y = eo_out(c, 0);
    gs_mode m;
    gs_pad p;
    ember_status s = gs_params(c, &m, &p);
    if (s) return s;
    bool align = eo_attr_int(c, "align_corners", 0) != 0;
    int k = x->ndim - 2;
    int64_t N = x->shape[0], C = x->shape[1], isz = 1, osz = 1;
    const int64_t *dims = x->shape + 2;
    for (int d = 0; d < k; d++) {
        isz *= dims[d];
        osz *= y->shape[2 + d];
    }
    double lo[EMBER_MAX_DIMS], hi[EMBER_MAX_DIMS];
    for (int d = 0; d < k; d++) {
        lo[d] = align ? 0 : -0.5;
        hi[d] = align ? (double)dims[d] - 1 : (double)dims[d] - 0.5;
    }
    int taps = m == GS_LINEAR ? 2 : m == GS_CUBIC ? 4 : 1;
    for (int64_t n = 0; n < N; n++)
        for (int64_t o = 0; o < osz; o++) {
            double pos[EMBER_MAX_DIMS];
            for (int d = 0; d < k; d++) { /* grid's last axis lists coordinates innermost first */
                double v = eo_get(g, (n * osz + o) * k + (k - 1 - d));
                double u = align ? (v + 1) / 2 * (double)(dims[d] - 1) : ((v + 1) * (double)dims[d] - 1) / 2;
                if (!(fabs(u) < 1e9)) u = u > 0 ? 1e9 : -1e9; /* NaN and huge coordinates: far outside */
                if (m == GS_NEAREST) u = nearbyint(u);        /* half to even, like the reference */
                if (u < lo[d] || u > hi[d]) {
                    if (p == GS_BORDER)
                        u = u < 0 ? 0 : u > (double)dims[d] - 1 ? (double)dims[d] - 1 : u;
                    else if (p == GS_REFLECTION)
                        u = gs_reflect(u, lo[d], hi[d]);
                }
                pos[d] = u;
            }
            /* per-dim taps: indices and weights */
            int64_t idx[EMBER_MAX_DIMS][4];
            double w[EMBER_MAX_DIMS][4];
            for (int d = 0; d < k; d++) {
                if (m == GS_NEAREST) {
                    idx[d][0] = gs_index((int64_t)pos[d], dims[d], p, lo[d], hi[d]);
                    w[d][0] = 1;
                    continue;
                }
                double f = floor(pos[d]);
                int64_t i0 = (int64_t)f - (m == GS_CUBIC);
                if (m == GS_CUBIC)
                    cubic_coeffs(pos[d] - f, w[d]);
                else {
                    w[d][0] = 1 - (pos[d] - f);
                    w[d][1] = pos[d] - f;
                }
                for (int t = 0; t < taps; t++) idx[d][t] = gs_index(i0 + t, dims[d], p, lo[d], hi[d]);
            }
            for (int64_t ch = 0; ch < C; ch++) {
                const int64_t base = (n * C + ch) * isz;
                double acc = 0;
                int t[EMBER_MAX_DIMS] = {0};
                for (;;) {
                    double wt = 1;
                    int64_t off = 0;
                    bool zero = false;
                    for (int d = 0; d < k; d++) {
                        wt *= w[d][t[d]];
                        if (idx[d][t[d]] < 0) zero = true;
                        off = off * dims[d] + idx[d][t[d]];
                    }
                    if (!zero && wt != 0) acc += wt * eo_get(x, base + off);
                    int d = k - 1;
                    while (d >= 0 && ++t[d] == taps) t[d--] = 0;
                    if (d < 0) break;
                }
                eo_put(y, (n * C + ch) * osz + o, acc);
            }
        }
    return EMBER_OK;
}

/* --- AffineGrid --------------------------------------------------------------------------------------- */
ember_status affine_grid_infer(eo_ctx *c) {
    ember_status chk = eo_check_inputs(c, 2);
    if (chk) return chk;
    const ember_tensor *th = eo_in(c, 0);
    int64_t sz[5];
    int n;
    ember_status s = eo_in_ints(c, 1, sz, 5, &n);
    if (s) return s;
    if (n != 4 && n != 5)
        return ember_fail(EMBER_ERR_SHAPE, "AffineGrid: size must be [N, C, H, W] or [N, C, D, H, W]");
    int k = n - 2;
    if (th->ndim != 3 || th->shape[0] != sz[0] || th->shape[1] != k || th->shape[2] != k + 1)
        return ember_fail(EMBER_ERR_SHAPE, "AffineGrid: theta must be [N, %d, %d]", k, k + 1);
    int64_t shape[5] = {sz[0]};
    for (int d = 0; d < k; d++) shape[1 + d] = sz[2 + d];
    shape[1 + k] = k;
    return eo_set_out(c, 0, th->dtype, k + 2, shape);
}

ember_status affine_grid_run(eo_ctx *c) {
    const ember_tensor *th = eo_in(c, 0);
    ember_tensor *y = eo_out(c, 0);
    int64_t sz[5];
    int n;
    ember_status s = eo_in_ints(c, 1, sz, 5, &n);
    if (s) return s;
    bool align = eo_attr_int(c, "align_corners", 0) != 0;
    int k = n - 2;
    int64_t pts = 1;
    for (int d = 0; d < k; d++) pts *= sz[2 + d];
    for (int64_t b = 0; b < sz[0]; b++)
        for (int64_t p = 0; p < pts; p++) {
            double base[4];
            int64_t r = p;
            for (int d = k - 1; d >= 0; d--) { /* base[0] = x (innermost dim), base[1] = y, ... */
                int64_t L = sz[2 + d], i = r % L;
                r /= L;
                double v = align ? (L > 1 ? -1 + 2.0 * (double)i / (double)(L - 1) : 0)
                                 : (2.0 * (double)i + 1) / (double)L - 1;
                base[k - 1 - d] = v;
            }
            base[k] = 1;
            for (int j = 0; j < k; j++) {
                double acc = 0;
                for (int q = 0; q <= k; q++) acc += eo_get(th, (b * k + j) * (k + 1) + q) * base[q];
                eo_put(y, (b * pts + p) * k + j, acc);
            }
        }
    return EMBER_OK;
}

/* --- RoiAlign ----------------------------------------------------------------------------------------- */
ember_status roi_align_infer(eo_ctx *c) {
    ember_status chk = eo_check_inputs(c, 3);
    if (chk) return chk;
    const ember_tensor *x = eo_in(c, 0), *rois = eo_in(c, 1), *bi = eo_in(c, 2);
    if (x->ndim != 4 || rois->ndim != 2 || rois->shape[1] != 4 || bi->ndim != 1 ||
        bi->shape[0] != rois->shape[0])
        return ember_fail(EMBER_ERR_SHAPE,
                          "RoiAlign: X must be [N, C, H, W], rois [R, 4], batch_indices [R]");
    const char *mode = eo_attr_str(c, "mode", "avg");
    if (strcmp(mode, "avg") && strcmp(mode, "max"))
        return ember_fail(EMBER_ERR_FORMAT, "RoiAlign: unknown mode '%s'", mode);
    int64_t shape[4] = {rois->shape[0], x->shape[1], eo_attr_int(c, "output_height", 1),
                        eo_attr_int(c, "output_width", 1)};
    return eo_set_out(c, 0, x->dtype, 4, shape);
}

ember_status roi_align_run(eo_ctx *c) {
    const ember_tensor *x = eo_in(c, 0), *rois = eo_in(c, 1), *bi = eo_in(c, 2);
    ember_tensor *y = eo_out(c, 0);
    bool maxmode = !strcmp(eo_attr_str(c, "mode", "avg"), "max");
    bool half = c->opset >= 16 &&
                !strcmp(eo_attr_str(c, "coordinate_transformation_mode", "half_pixel"), "half_pixel");
    double scale = eo_attr_float(c, "spatial_scale", 1.0f);
    int64_t ratio = eo_attr_int(c, "sampling_ratio", 0);
    int64_t R = rois->shape[0], C = x->shape[1], H = x->shape[2], W = x->shape[3], PH = y->shape[2],
            PW = y->shape[3];
    for (int64_t r = 0; r < R; r++) {
        int64_t b = (int64_t)eo_get(bi, r);
        if (b < 0 || b >= x->shape[0])
            return ember_fail(EMBER_ERR_SHAPE, "RoiAlign: batch index %lld out of range", (long long)b);
        double off = half ? 0.5 : 0;
        double x0 = eo_get(rois, r * 4) * scale - off, y0 = eo_get(rois, r * 4 + 1) * scale - off;
        double x1 = eo_get(rois, r * 4 + 2) * scale - off, y1 = eo_get(rois, r * 4 + 3) * scale - off;
        double rw = x1 - x0, rh = y1 - y0;
        if (!half) {
            rw = fmax(rw, 1);
            rh = fmax(rh, 1);
        }
        double bh = rh / (double)PH, bw = rw / (double)PW;
        double fgh = ratio > 0 ? (double)ratio : ceil(rh / (double)PH),
               fgw = ratio > 0 ? (double)ratio : ceil(rw / (double)PW);
        if (!(fgh >= 0 && fgw >= 0 && fgh * fgw * (double)(PH * PW) < 1e9))
            return ember_fail(EMBER_ERR_SHAPE, "RoiAlign: ROI %lld is invalid or too large to sample",
                              (long long)r);
        int64_t gh = (int64_t)fgh, gw = (int64_t)fgw;
        double count = (double)(gh * gw > 1 ? gh * gw : 1);
        for (int64_t ch = 0; ch < C; ch++) {
            int64_t base = (b * C + ch) * H * W;
            for (int64_t ph = 0; ph < PH; ph++)
                for (int64_t pw = 0; pw < PW; pw++) {
                    double acc = 0;
                    bool first = true;
                    for (int64_t iy = 0; iy < gh; iy++) {
                        double yy = y0 + (double)ph * bh + ((double)iy + 0.5) * bh / (double)gh;
                        for (int64_t ix = 0; ix < gw; ix++) {
                            double xx = x0 + (double)pw * bw + ((double)ix + 0.5) * bw / (double)gw;
                            double v[4] = {0, 0, 0, 0};
                            if (!(yy < -1.0 || yy > (double)H || xx < -1.0 || xx > (double)W)) {
                                double yv = fmax(yy, 0), xv = fmax(xx, 0);
                                int64_t yl = (int64_t)yv, xl = (int64_t)xv, yh2, xh2;
                                if (yl >= H - 1)
                                    yh2 = yl = H - 1, yv = (double)yl;
                                else
                                    yh2 = yl + 1;
                                if (xl >= W - 1)
                                    xh2 = xl = W - 1, xv = (double)xl;
                                else
                                    xh2 = xl + 1;
                                double ly = yv - (double)yl, lx = xv - (double)xl, hy = 1 - ly, hx = 1 - lx;
                                v[0] = hy * hx * eo_get(x, base + yl * W + xl);
                                v[1] = hy * lx * eo_get(x, base + yl * W + xh2);
                                v[2] = ly * hx * eo_get(x, base + yh2 * W + xl);
                                v[3] = ly * lx * eo_get(x, base + yh2 * W + xh2);
                            }
                            if (maxmode) {
                                double mv = fmax(fmax(v[0], v[1]), fmax(v[2], v[3]));
                                acc = first ? mv : fmax(acc, mv);
                                first = false;
                            } else {
                                acc += v[0] + v[1] + v[2] + v[3];
                            }
                        }
                    }
                    eo_put(y, ((r * C + ch) * PH + ph) * PW + pw, maxmode ? acc : acc / count);
                }
        }
    }
    return EMBER_OK;
}

/* --- MaxUnpool ---------------------------------------------------------------------------------------- */
/* Default output size per spatial dim: (in - 1) * stride + kernel - pads. */
static ember_status unpool_default(const eo_ctx *c, int64_t *shape) {
    const ember_tensor *x = eo_in(c, 0);
    int k = x->ndim - 2;
    const int64_t *ks, *st, *pads;
    int nk = eo_attr_ints(c, "kernel_shape", &ks), ns = eo_attr_ints(c, "strides", &st),
        np = eo_attr_ints(c, "pads", &pads);
    if (k < 1 || nk != k)
        return ember_fail(EMBER_ERR_SHAPE, "MaxUnpool: kernel_shape must have %d values", k);
    shape[0] = x->shape[0];
    shape[1] = x->shape[1];
    for (int d = 0; d < k; d++) {
        int64_t s = ns == k ? st[d] : 1, pb = np == 2 * k ? pads[d] : 0, pe = np == 2 * k ? pads[k + d] : 0;
        shape[2 + d] = (x->shape[2 + d] - 1) * s + ks[d] - pb - pe;
    }
    return EMBER_OK;
}

ember_status max_unpool_infer(eo_ctx *c) {
    ember_status chk = eo_check_inputs(c, 2);
    if (chk) return chk;
    const ember_tensor *x = eo_in(c, 0), *ind = eo_in(c, 1);
    int64_t shape[EMBER_MAX_DIMS];
    ember_status s = unpool_default(c, shape);
    if (s) return s;
    if (ind->ndim != x->ndim || ember_tensor_count(ind) != ember_tensor_count(x) ||
        ind->dtype != EMBER_DTYPE_I64)
        return ember_fail(EMBER_ERR_SHAPE, "MaxUnpool: I must be int64 with X's shape");
    if (eo_has(c, 2)) {
        int n;
        if ((s = eo_in_ints(c, 2, shape, EMBER_MAX_DIMS, &n))) return s;
        if (n != x->ndim)
            return ember_fail(EMBER_ERR_SHAPE, "MaxUnpool: output_shape must have %d values", x->ndim);
    }
    return eo_set_out(c, 0, x->dtype, x->ndim, shape);
}

ember_status max_unpool_run(eo_ctx *c) {
    const ember_tensor *x = eo_in(c, 0), *ind = eo_in(c, 1);
    ember_tensor *y = eo_out(c, 0);
    int64_t def[EMBER_MAX_DIMS];
    ember_status s = unpool_default(c, def);
    if (s) return s;
    int64_t n = ember_tensor_count(y), total = ember_shape_count(x->ndim, def);
    for (int64_t i = 0; i < n; i++) eo_put(y, i, 0);
    /* indices address the default-sized output; place them at the same coordinates of y */
    for (int64_t i = 0; i < ember_tensor_count(x); i++) {
        int64_t k = ind->dtype == EMBER_DTYPE_I64 ? ((const int64_t *)ind->data)[i] : (int64_t)eo_get(ind, i),
                off = 0, r = k, mul = 1;
        if (k < 0 || k >= total)
            return ember_fail(EMBER_ERR_SHAPE, "MaxUnpool: index %lld out of range", (long long)k);
        for (int d = x->ndim - 1; d >= 0; d--) {
            int64_t cd = r % def[d];
            r /= def[d];
            if (cd >= y->shape[d])
                return ember_fail(EMBER_ERR_SHAPE, "MaxUnpool: output_shape smaller than the indices need");
            off += cd * mul;
            mul *= y->shape[d];
        }
        eo_put(y, off, eo_get(x, i));
    }
    return EMBER_OK;
}

/* --- DeformConv --------------------------------------------------------------------------------------- */
typedef struct {
    int64_t kh, kw, sh, sw, dh, dw, pt, pl, pb, pr, group, og, oh, ow;
} dconv_p;

static ember_status dconv_params(const eo_ctx *c, dconv_p *p) {
    const ember_tensor *x = eo_in(c, 0), *w = eo_in(c, 1);
    if (x->ndim != 4 || w->ndim != 4)
        return ember_fail(EMBER_ERR_UNSUPPORTED, "DeformConv: only 2-D convolution (X [N, C, H, W])");
    const int64_t *v;
    int n = eo_attr_ints(c, "kernel_shape", &v);
    p->kh = n == 2 ? v[0] : w->shape[2];
    p->kw = n == 2 ? v[1] : w->shape[3];
    n = eo_attr_ints(c, "strides", &v);
    p->sh = n == 2 ? v[0] : 1;
    p->sw = n == 2 ? v[1] : 1;
    n = eo_attr_ints(c, "dilations", &v);
    p->dh = n == 2 ? v[0] : 1;
    p->dw = n == 2 ? v[1] : 1;
    n = eo_attr_ints(c, "pads", &v);
    p->pt = n == 4 ? v[0] : 0;
    p->pl = n == 4 ? v[1] : 0;
    p->pb = n == 4 ? v[2] : 0;
    p->pr = n == 4 ? v[3] : 0;
    p->group = eo_attr_int(c, "group", 1);
    p->og = eo_attr_int(c, "offset_group", 1);
    if (p->sh < 1 || p->sw < 1 || p->dh < 1 || p->dw < 1 || p->group < 1 || p->og < 1 ||
        x->shape[1] % p->group || x->shape[1] % p->og || w->shape[0] % p->group ||
        w->shape[1] * p->group != x->shape[1])
        return ember_fail(EMBER_ERR_SHAPE,
                          "DeformConv: inconsistent strides/dilations/group/offset_group and shapes");
    p->oh = (x->shape[2] + p->pt + p->pb - p->dh * (p->kh - 1) - 1) / p->sh + 1;
    p->ow = (x->shape[3] + p->pl + p->pr - p->dw * (p->kw - 1) - 1) / p->sw + 1;
    const ember_tensor *off = eo_in(c, 2), *mask = eo_in(c, 4);
    if (off->ndim != 4 || off->shape[1] != p->og * 2 * p->kh * p->kw || off->shape[2] != p->oh ||
        off->shape[3] != p->ow)
        return ember_fail(EMBER_ERR_SHAPE, "DeformConv: offset must be [N, %lld, %lld, %lld]",
                          (long long)(p->og * 2 * p->kh * p->kw), (long long)p->oh, (long long)p->ow);
    if (mask && (mask->ndim != 4 || mask->shape[1] != p->og * p->kh * p->kw))
        return ember_fail(EMBER_ERR_SHAPE, "DeformConv: mask must be [N, %lld, oH, oW]",
                          (long long)(p->og * p->kh * p->kw));
    return EMBER_OK;
}

ember_status deform_conv_infer(eo_ctx *c) {
    ember_status chk = eo_check_inputs(c, 3);
    if (chk) return chk;
    const ember_tensor *x = eo_in(c, 0), *w = eo_in(c, 1);
    dconv_p p;
    ember_status s = dconv_params(c, &p);
    if (s) return s;
    int64_t shape[4] = {x->shape[0], w->shape[0], p.oh, p.ow};
    return eo_set_out(c, 0, x->dtype, 4, shape);
}

static double bilinear_zero(const ember_tensor *x, int64_t base, int64_t H, int64_t W, double h, double w) {
    if (!(h > -1 && h < (double)H && w > -1 && w < (double)W)) return 0; /* also NaN */
    int64_t h0 = (int64_t)floor(h), w0 = (int64_t)floor(w);
    double lh = h - (double)h0, lw = w - (double)w0, v = 0;
    for (int a = 0; a < 2; a++)
        for (int b = 0; b < 2; b++) {
            int64_t hh = h0 + a, ww = w0 + b;
            if (hh < 0 || hh >= H || ww < 0 || ww >= W) continue;
            v += (a ? lh : 1 - lh) * (b ? lw : 1 - lw) * eo_get(x, base + hh * W + ww);
        }
    return v;
}

ember_status deform_conv_run(eo_ctx *c) {
    const ember_tensor *x = eo_in(c, 0), *w = eo_in(c, 1), *off = eo_in(c, 2), *bias = eo_in(c, 3),
                       *mask = eo_in(c, 4);
    ember_tensor *y = eo_out(c, 0);
    dconv_p p;
    ember_status s = dconv_params(c, &p);
    if (s) return s;
    int64_t N = x->shape[0], C = x->shape[1], H = x->shape[2], W = x->shape[3], OC = w->shape[0];
    int64_t cpg = C / p.group, ocpg = OC / p.group, cpog = C / p.og, K = p.kh * p.kw, P = p.oh * p.ow;
    /* columns: sampled input per (channel, kernel tap, output position); then per group
     * Y[ocpg, P] = W[ocpg, cpg*K] x col[cpg*K, P]: ember_sgemm for float32, the scalar reference otherwise */
    bool f32 = x->dtype == EMBER_DTYPE_F32 && w->dtype == EMBER_DTYPE_F32 && y->dtype == EMBER_DTYPE_F32;
    double *col = f32 ? NULL : eo_scratch(c, sizeof(double) * (size_t)(C * K * P + 1));
    float *colf = f32 ? eo_scratch(c, sizeof(float) * (size_t)(C * K * P + 1)) : NULL;
    if (!col && !colf) return ember_fail(EMBER_ERR_NOMEM, "out of memory");
    for (int64_t n = 0; n < N; n++) {
        for (int64_t ch = 0; ch < C; ch++) {
            int64_t g = ch / cpog;
            for (int64_t i = 0; i < p.kh; i++)
                for (int64_t j = 0; j < p.kw; j++) {
                    int64_t k = i * p.kw + j;
                    for (int64_t oy = 0; oy < p.oh; oy++)
                        for (int64_t ox = 0; ox < p.ow; ox++) {
                            int64_t q = oy * p.ow + ox;
                            double dy = eo_get(off, ((n * p.og + g) * 2 * K + 2 * k) * P + q);
                            double dx = eo_get(off, ((n * p.og + g) * 2 * K + 2 * k + 1) * P + q);
                            double hh = (double)(oy * p.sh - p.pt + i * p.dh) + dy,
                                   ww = (double)(ox * p.sw - p.pl + j * p.dw) + dx;
                            double v = bilinear_zero(x, (n * C + ch) * H * W, H, W, hh, ww);
                            if (mask) v *= eo_get(mask, ((n * p.og + g) * K + k) * P + q);
                            if (f32)
                                colf[(ch * K + k) * P + q] = (float)v;
                            else
                                col[(ch * K + k) * P + q] = v;
                        }
                }
        }
        if (f32) {
            float *yn = (float *)y->data + n * OC * P;
            const float *wf = w->data;
            for (int64_t g = 0; g < p.group; g++)
                ember_sgemm(c->pool, false, false, ocpg, P, cpg * K, 1.0f, wf + g * ocpg * cpg * K, cpg * K,
                            colf + g * cpg * K * P, P, 0.0f, yn + g * ocpg * P, P, NULL);
            for (int64_t oc = 0; bias && oc < OC; oc++)
                for (int64_t q = 0; q < P; q++) yn[oc * P + q] += (float)eo_get(bias, oc);
            continue;
        }
        for (int64_t oc = 0; oc < OC; oc++) {
            int64_t g = oc / ocpg;
            for (int64_t q = 0; q < P; q++) {
                double acc = bias ? eo_get(bias, oc) : 0;
                for (int64_t ci = 0; ci < cpg; ci++)
                    for (int64_t k = 0; k < K; k++)
                        acc += eo_get(w, (oc * cpg + ci) * K + k) * col[((g * cpg + ci) * K + k) * P + q];
                eo_put(y, (n * OC + oc) * P + q, acc);
            }
        }
    }
    return EMBER_OK;
}

/* --- NonMaxSuppression -------------------------------------------------------------------------------- */
ember_status nms_infer(eo_ctx *c) {
    ember_status chk = eo_check_inputs(c, 2);
    if (chk) return chk;
    const ember_tensor *b = eo_in(c, 0), *sc = eo_in(c, 1);
    if (b->ndim != 3 || b->shape[2] != 4 || sc->ndim != 3 || sc->shape[0] != b->shape[0] ||
        sc->shape[2] != b->shape[1])
        return ember_fail(EMBER_ERR_SHAPE,
                          "NonMaxSuppression: boxes must be [B, N, 4] and scores [B, classes, N]");
    return EO_DYNAMIC;
}

typedef struct {
    int64_t idx;
    double score;
} scored;

static int scored_cmp(const void *a, const void *b) {
    const scored *x = a, *y = b;
    if (x->score != y->score) return x->score > y->score ? -1 : 1;
    return (x->idx > y->idx) - (x->idx < y->idx);
}

static void box_corners(const ember_tensor *b, int64_t i, bool center, double *o) {
    double v[4];
    for (int k = 0; k < 4; k++) v[k] = eo_get(b, i * 4 + k);
    if (center) { /* [x_center, y_center, width, height] */
        o[0] = v[1] - v[3] / 2;
        o[1] = v[0] - v[2] / 2;
        o[2] = v[1] + v[3] / 2;
        o[3] = v[0] + v[2] / 2;
    } else { /* [y1, x1, y2, x2], corners in any order */
        o[0] = fmin(v[0], v[2]);
        o[1] = fmin(v[1], v[3]);
        o[2] = fmax(v[0], v[2]);
        o[3] = fmax(v[1], v[3]);
    }
}

static double iou(const double *a, const double *b) {
    double ih = fmin(a[2], b[2]) - fmax(a[0], b[0]), iw = fmin(a[3], b[3]) - fmax(a[1], b[1]);
    if (ih <= 0 || iw <= 0) return 0;
    double inter = ih * iw, ua = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter;
    return ua > 0 ? inter / ua : 0;
}

ember_status nms_run(eo_ctx *c) {
    const ember_tensor *boxes = eo_in(c, 0), *scores = eo_in(c, 1);
    ember_status s;
    double maxout = 0, thr = 0, sthr = -INFINITY;
    if (eo_has(c, 2) && ember_tensor_count(eo_in(c, 2)) && (s = eo_in_scalar(c, 2, &maxout))) return s;
    if (eo_has(c, 3) && ember_tensor_count(eo_in(c, 3)) && (s = eo_in_scalar(c, 3, &thr))) return s;
    if (eo_has(c, 4) && ember_tensor_count(eo_in(c, 4)) && (s = eo_in_scalar(c, 4, &sthr))) return s;
    if (thr < 0 || thr > 1)
        return ember_fail(EMBER_ERR_SHAPE, "NonMaxSuppression: iou_threshold must be in [0, 1]");
    bool center = eo_attr_int(c, "center_point_box", 0) != 0;
    int64_t B = boxes->shape[0], NB = boxes->shape[1], NC = scores->shape[1];
    int64_t cap = !(maxout > 0) ? 0 : maxout >= (double)NB ? NB : (int64_t)maxout;
    scored *cand = eo_scratch(c, sizeof(scored) * (size_t)(NB + 1));
    int64_t *sel = eo_scratch(c, sizeof(int64_t) * (size_t)(3 * B * NC * (cap > 0 ? cap : 1) + 3));
    double *corner = eo_scratch(c, sizeof(double) * (size_t)(4 * NB + 4));
    if (!cand || !sel || !corner) return ember_fail(EMBER_ERR_NOMEM, "out of memory");
    int64_t nsel = 0;
    for (int64_t b = 0; b < B && cap > 0; b++) {
        for (int64_t i = 0; i < NB; i++) box_corners(boxes, b * NB + i, center, corner + 4 * i);
        for (int64_t cl = 0; cl < NC; cl++) {
            int64_t nc = 0, first = nsel;
            for (int64_t i = 0; i < NB; i++) {
                double v = eo_get(scores, (b * NC + cl) * NB + i);
                if (v > sthr) cand[nc++] = (scored){i, v};
            }
            qsort(cand, (size_t)nc, sizeof *cand, scored_cmp);
            for (int64_t i = 0; i < nc && nsel - first < cap; i++) {
                bool keep = true;
                for (int64_t j = first; j < nsel && keep; j++)
                    if (iou(corner + 4 * cand[i].idx, corner + 4 * sel[3 * j + 2]) > thr) keep = false;
                if (!keep) continue;
                sel[3 * nsel] = b;
                sel[3 * nsel + 1] = cl;
                sel[3 * nsel + 2] = cand[i].idx;
                nsel++;
            }
        }
    }
    int64_t shape[2] = {nsel, 3};
    ember_tensor *y;
    if ((s = eo_alloc_out(c, 0, EMBER_DTYPE_I64, 2, shape, &y)) || !y) return s;
    memcpy(y->data, sel, sizeof(int64_t) * (size_t)(3 * nsel));
    return EMBER_OK;
}
