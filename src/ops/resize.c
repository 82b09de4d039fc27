/* ONNX Resize (opsets 10-19) and Upsample (7-9): nearest, linear and cubic over any axes, every
 * coordinate_transformation_mode and nearest_mode, exclude_outside, extrapolation. Separable: each output
 * coordinate gets a list of (input index, weight) taps per axis. Antialias (opset 18, linear/cubic when
 * downsampling) stretches the filter by 1/scale, as the ONNX reference does. */
#include "ops/op.h"

#include "kernels/resample.h"

#include <stdlib.h>

typedef struct rs_params {
    const char *mode, *ctm, *nearest;
    double cubic_a, extrap;
    bool exclude_outside, antialias;
    double scale[EMBER_MAX_DIMS], roi_start[EMBER_MAX_DIMS], roi_end[EMBER_MAX_DIMS];
    int64_t out[EMBER_MAX_DIMS];
    double out_f[EMBER_MAX_DIMS]; /* resized length before rounding (align_corners uses it) */
} rs_params;

static ember_status rs_floats(const eo_ctx *c, int i, double *v, int cap, int *n) {
    const ember_tensor *t = eo_in(c, i);
    *n = 0;
    if (!t || ember_tensor_count(t) == 0) return EMBER_OK;
    if (!t->data) return EO_DYNAMIC;
    int64_t cnt = ember_tensor_count(t);
    if (cnt > cap) return ember_fail(EMBER_ERR_SHAPE, "Resize: input %d has %lld values", i, (long long)cnt);
    for (int64_t k = 0; k < cnt; k++) v[k] = eo_get(t, k);
    *n = (int)cnt;
    return EMBER_OK;
}

static ember_status rs_params_get(eo_ctx *c, const ember_tensor *x, rs_params *p) {
    bool upsample = !strcmp(c->node->op_type, "Upsample");
    p->mode = eo_attr_str(c, "mode", "nearest");
    p->ctm = upsample || c->opset < 11 ? "asymmetric" : eo_attr_str(c, "coordinate_transformation_mode", "half_pixel");
    p->nearest = upsample || c->opset < 11 ? "floor" : eo_attr_str(c, "nearest_mode", "round_prefer_floor");
    if (!strcmp(p->mode, "linear") || !strcmp(p->mode, "bilinear") || !strcmp(p->mode, "trilinear")) p->mode = "linear";
    p->cubic_a = eo_attr_float(c, "cubic_coeff_a", -0.75f);
    p->extrap = eo_attr_float(c, "extrapolation_value", 0);
    p->exclude_outside = eo_attr_int(c, "exclude_outside", 0);
    p->antialias = eo_attr_int(c, "antialias", 0) != 0 && (!strcmp(p->mode, "linear") || !strcmp(p->mode, "cubic"));
    int r = x->ndim;
    const int64_t *axes_a;
    int naxes = eo_attr_ints(c, "axes", &axes_a);
    int axes[EMBER_MAX_DIMS];
    if (naxes < 0) {
        naxes = r;
        for (int i = 0; i < r; i++) axes[i] = i;
    } else {
        for (int i = 0; i < naxes; i++) {
            ember_status s = eo_axis(axes_a[i], r, &axes[i]);
            if (s) return s;
        }
    }
    double roi[2 * EMBER_MAX_DIMS], sc[EMBER_MAX_DIMS];
    int nroi = 0, nsc = 0, nsz = 0;
    int64_t sz[EMBER_MAX_DIMS];
    ember_status s = EMBER_OK;
    for (int d = 0; d < r; d++) p->scale[d] = 1, p->roi_start[d] = 0, p->roi_end[d] = 1, p->out[d] = x->shape[d], p->out_f[d] = (double)x->shape[d];
    if (upsample) {
        const float *f;
        int n = eo_attr_floats(c, "scales", &f);
        if (n >= 0) {
            for (int i = 0; i < n && i < r; i++) sc[i] = f[i];
            nsc = n;
        } else if ((s = rs_floats(c, 1, sc, EMBER_MAX_DIMS, &nsc))) {
            return s;
        }
    } else {
        int si = c->opset < 11 ? 1 : 2;
        if (c->opset >= 11 && (s = rs_floats(c, 1, roi, 2 * EMBER_MAX_DIMS, &nroi))) return s;
        if ((s = rs_floats(c, si, sc, EMBER_MAX_DIMS, &nsc))) return s;
        if (c->opset >= 11 && eo_has(c, 3) && ember_tensor_count(eo_in(c, 3)) && (s = eo_in_ints(c, 3, sz, EMBER_MAX_DIMS, &nsz))) return s;
    }
    if (nsc && nsc != naxes) return ember_fail(EMBER_ERR_SHAPE, "Resize: %d scales for %d axes", nsc, naxes);
    if (nsz && nsz != naxes) return ember_fail(EMBER_ERR_SHAPE, "Resize: %d sizes for %d axes", nsz, naxes);
    if (!nsc && !nsz) return ember_fail(EMBER_ERR_SHAPE, "Resize: needs scales or sizes");
    if (nroi == 2 * naxes)
        for (int i = 0; i < naxes; i++) p->roi_start[axes[i]] = roi[i], p->roi_end[axes[i]] = roi[i + naxes];
    if (nsz) {
        const char *policy = eo_attr_str(c, "keep_aspect_ratio_policy", "stretch");
        double common = !strcmp(policy, "not_smaller") ? 0 : 1e300;
        for (int i = 0; i < naxes; i++) {
            double f = (double)sz[i] / (double)x->shape[axes[i]];
            if (!strcmp(policy, "not_larger") ? f < common : f > common) common = f;
        }
        for (int i = 0; i < naxes; i++) {
            int a = axes[i];
            if (!strcmp(policy, "stretch")) {
                p->out[a] = sz[i];
                p->out_f[a] = (double)sz[i];
                p->scale[a] = (double)sz[i] / (double)x->shape[a];
            } else {
                p->scale[a] = common;
                p->out[a] = (int64_t)floor((double)x->shape[a] * common + 0.5);
                p->out_f[a] = (double)p->out[a];
            }
        }
    } else {
        for (int i = 0; i < naxes; i++) {
            int a = axes[i];
            if (!(sc[i] > 0)) return ember_fail(EMBER_ERR_SHAPE, "Resize: scale %g must be positive", sc[i]);
            p->scale[a] = sc[i];
            p->out[a] = (int64_t)floor((double)x->shape[a] * sc[i]);
            p->out_f[a] = (double)x->shape[a] * sc[i];
        }
    }
    return EMBER_OK;
}

ember_status resize_infer(eo_ctx *c) {
    const ember_tensor *x = eo_in(c, 0);
    rs_params p;
    ember_status s = rs_params_get(c, x, &p);
    if (s) return s;
    return eo_set_out(c, 0, x->dtype, x->ndim, p.out);
}

/* Input coordinate of output index o along an axis. */
static double rs_coord(const rs_params *p, int d, int64_t o, int64_t in, int64_t out) {
    double sc = p->scale[d], x = (double)o;
    const char *m = p->ctm;
    if (!strcmp(m, "asymmetric")) return x / sc;
    if (!strcmp(m, "align_corners")) return p->out_f[d] <= 1 ? 0 : x * (double)(in - 1) / (p->out_f[d] - 1);
    if (!strcmp(m, "pytorch_half_pixel")) return out > 1 ? (x + 0.5) / sc - 0.5 : 0;
    if (!strcmp(m, "tf_crop_and_resize")) {
        double a = p->roi_start[d], b = p->roi_end[d];
        return out > 1 ? a * (double)(in - 1) + x * (b - a) * (double)(in - 1) / (double)(out - 1) : 0.5 * (a + b) * (double)(in - 1);
    }
    if (!strcmp(m, "half_pixel_symmetric")) {
        double adj = (double)out / (sc * (double)in), center = (double)in / 2;
        double off = center * (1 - adj);
        return off + (x + 0.5) / sc - 0.5;
    }
    return (x + 0.5) / sc - 0.5; /* half_pixel */
}

static int64_t rs_nearest(const char *mode, double v) {
    if (!strcmp(mode, "floor")) return (int64_t)floor(v);
    if (!strcmp(mode, "ceil")) return (int64_t)ceil(v);
    if (!strcmp(mode, "round_prefer_ceil")) return (int64_t)floor(v + 0.5);
    return v == floor(v) + 0.5 ? (int64_t)floor(v) : (int64_t)floor(v + 0.5); /* round_prefer_floor */
}

static double cubic_w(double t, double a) {
    t = fabs(t);
    if (t <= 1) return ((a + 2) * t - (a + 3)) * t * t + 1;
    if (t < 2) return ((a * t - 5 * a) * t + 8 * a) * t - 4 * a;
    return 0;
}

enum { MAX_TAPS = 1024 }; /* antialias needs about 4/scale taps; beyond this the filter is truncated */
typedef struct taps {
    int n;
    int64_t *idx; /* room for rs_ntaps() entries */
    double *w;
    bool outside; /* tf_crop_and_resize: coordinate outside the input -> extrapolation value */
} taps;

/* Antialiased filter: first tap offset and tap count along axis d. */
static int rs_aa_taps(const rs_params *p, int d, int *start) {
    int s = (int)fmax(-(double)MAX_TAPS, floor((!strcmp(p->mode, "linear") ? -1.0 : -2.0) / p->scale[d]) + 1);
    int n = 2 - 2 * s;
    if (n > MAX_TAPS) n = MAX_TAPS, s = 1 - n / 2;
    *start = s;
    return n;
}

/* Taps per output coordinate along axis d (at most). */
static int rs_ntaps(const rs_params *p, int d) {
    int start;
    return p->antialias && p->scale[d] < 1 ? rs_aa_taps(p, d, &start) : 4;
}

static void rs_taps(const rs_params *p, int d, int64_t o, int64_t in, int64_t out, taps *t) {
    double x = rs_coord(p, d, o, in, out);
    t->outside = !strcmp(p->ctm, "tf_crop_and_resize") && (x < 0 || x > (double)(in - 1));
    if (p->scale[d] == 1 && out == in && strcmp(p->ctm, "tf_crop_and_resize")) {
        t->n = 1, t->idx[0] = o, t->w[0] = 1;
        return;
    }
    if (p->antialias && p->scale[d] < 1) { /* filter support widened by 1/scale, weights normalised */
        double sc = p->scale[d], xf = floor(x), ratio = x == xf ? 1 : x - xf;
        bool lin = !strcmp(p->mode, "linear");
        int start, n = rs_aa_taps(p, d, &start);
        int64_t base = (int64_t)xf - (x == xf ? 1 : 0);
        double sum = 0;
        t->n = n;
        for (int k = 0; k < n; k++) {
            int i = start + k;
            double a = ((double)i - ratio) * sc, w = lin ? fmax(0.0, 1 - fabs(a)) : cubic_w(a, p->cubic_a);
            int64_t idx = base + i;
            if (p->exclude_outside && (idx < 0 || idx >= in)) w = 0;
            t->idx[k] = idx < 0 ? 0 : idx >= in ? in - 1 : idx;
            t->w[k] = w;
            sum += w;
        }
        for (int k = 0; k < n && sum != 0; k++) t->w[k] /= sum;
        return;
    }
    if (!strcmp(p->mode, "nearest")) {
        int64_t i = rs_nearest(p->nearest, x);
        t->n = 1, t->idx[0] = i < 0 ? 0 : i >= in ? in - 1 : i, t->w[0] = 1;
        return;
    }
    if (!strcmp(p->mode, "linear")) {
        double xc = x < 0 ? 0 : x > (double)(in - 1) ? (double)(in - 1) : x;
        int64_t i0 = (int64_t)floor(xc), i1 = i0 + 1 < in ? i0 + 1 : i0;
        double f = xc - (double)i0;
        t->n = 2, t->idx[0] = i0, t->idx[1] = i1, t->w[0] = 1 - f, t->w[1] = f;
        return;
    }
    int64_t base = (int64_t)floor(x);
    double sum = 0;
    t->n = 4;
    for (int k = 0; k < 4; k++) {
        int64_t i = base - 1 + k;
        double w = cubic_w(x - (double)i, p->cubic_a);
        if (p->exclude_outside && (i < 0 || i >= in)) w = 0;
        t->idx[k] = i < 0 ? 0 : i >= in ? in - 1 : i;
        t->w[k] = w;
        sum += w;
    }
    if (p->exclude_outside && sum != 0)
        for (int k = 0; k < 4; k++) t->w[k] /= sum;
}

/* f32 fast path: only the last two dims are resized, no tap falls outside and each of them has the same
 * tap count at every coordinate; ember_resample2d runs the planes with the taps as int32 / float. */
static bool resize_planes(eo_ctx *c, const ember_tensor *x, ember_tensor *y, taps *const *tp) {
    int r = x->ndim;
    int64_t planes = 1;
    for (int d = 0; d < r - 2; d++) {
        if (x->shape[d] != y->shape[d]) return false;
        for (int64_t o = 0; o < y->shape[d]; o++)
            if (tp[d][o].n != 1 || tp[d][o].idx[0] != o || tp[d][o].w[0] != 1 || tp[d][o].outside) return false;
        planes *= y->shape[d];
    }
    ember_resample_axis ax[2];
    size_t total = 0;
    for (int a = 0; a < 2; a++) {
        int d = r - 2 + a;
        ax[a] = (ember_resample_axis){.in = x->shape[d], .out = y->shape[d], .taps = tp[d][0].n};
        if (x->shape[d] > INT32_MAX) return false;
        for (int64_t o = 0; o < y->shape[d]; o++)
            if (tp[d][o].outside || tp[d][o].n != ax[a].taps) return false;
        total += (size_t)(ax[a].out * ax[a].taps);
    }
    int32_t *ib = eo_scratch(c, total * (sizeof(int32_t) + sizeof(float)));
    if (!ib) return false;
    float *wb = (float *)(void *)(ib + total);
    for (int a = 0; a < 2; a++) {
        const taps *t = tp[r - 2 + a];
        ax[a].idx = ib, ax[a].w = wb;
        for (int64_t o = 0; o < ax[a].out; o++)
            for (int k = 0; k < ax[a].taps; k++) *ib++ = (int32_t)t[o].idx[k], *wb++ = (float)t[o].w[k];
    }
    return ember_resample2d(ember_tensor_count(y) > 32768 ? c->pool : NULL, planes, &ax[0], &ax[1], x->data,
                            y->data);
}

ember_status resize_run(eo_ctx *c) {
    const ember_tensor *x = eo_in(c, 0);
    ember_tensor *y = eo_out(c, 0);
    rs_params p;
    ember_status s = rs_params_get(c, x, &p);
    if (s) return s;
    int r = x->ndim;
    taps *tp[EMBER_MAX_DIMS];
    size_t bytes = 0;
    for (int d = 0; d < r; d++) /* per axis: the taps, then their indices and weights */
        bytes += (sizeof(taps) + (sizeof(int64_t) + sizeof(double)) * (size_t)rs_ntaps(&p, d)) *
                 (size_t)(y->shape[d] ? y->shape[d] : 1);
    char *block = eo_scratch(c, bytes); /* one allocation: eo_scratch has few slots */
    if (!block) return ember_fail(EMBER_ERR_NOMEM, "Resize: out of memory");
    for (int d = 0; d < r; d++) {
        int64_t out = y->shape[d] ? y->shape[d] : 1, nt = rs_ntaps(&p, d);
        tp[d] = (taps *)(void *)block;
        int64_t *ib = (int64_t *)(void *)(tp[d] + out);
        double *wb = (double *)(void *)(ib + out * nt);
        block = (char *)(wb + out * nt);
        for (int64_t o = 0; o < y->shape[d]; o++) {
            tp[d][o].idx = ib + o * nt;
            tp[d][o].w = wb + o * nt;
            rs_taps(&p, d, o, x->shape[d], y->shape[d], &tp[d][o]);
        }
    }
    if (r > 4) return ember_fail(EMBER_ERR_UNSUPPORTED, "Resize of rank %d", r);
    if (y->dtype == EMBER_DTYPE_F32 && r >= 2 && !eo_reference() && resize_planes(c, x, y, tp)) return EMBER_OK;
    int64_t xs[EMBER_MAX_DIMS], n = ember_tensor_count(y), idx[EMBER_MAX_DIMS] = {0};
    ember_shape_strides(r, x->shape, xs);
    for (int64_t i = 0; i < n; i++) {
        const taps *t[EMBER_MAX_DIMS];
        int combos = 1;
        bool outside = false;
        for (int d = 0; d < r; d++) t[d] = &tp[d][idx[d]], combos *= t[d]->n, outside |= t[d]->outside;
        double acc = 0;
        for (int cmb = 0; cmb < combos && !outside; cmb++) {
            int rem = cmb;
            int64_t off = 0;
            double w = 1;
            for (int d = r - 1; d >= 0; d--) {
                int k = rem % t[d]->n;
                rem /= t[d]->n;
                off += t[d]->idx[k] * xs[d];
                w *= t[d]->w[k];
            }
            if (w != 0) acc += w * eo_get(x, off);
        }
        if (outside) acc = p.extrap;
        if (ember_dtype_is_int(y->dtype)) acc = nearbyint(acc);
        eo_put(y, i, acc);
        for (int d = r - 1; d >= 0 && ++idx[d] == y->shape[d]; d--) idx[d] = 0;
    }
    return EMBER_OK;
}
