/* Quantization: ONNX QuantizeLinear / DequantizeLinear (opsets 10-25: per-tensor, per-axis and blocked scales;
 * int8/uint8/int16/uint16/int4/uint4/int2/uint2 and float8/float4 targets), DynamicQuantizeLinear,
 * MatMulInteger, ConvInteger, QLinearMatMul, QLinearConv. Scalar reference code: these ops are rare in the
 * models Ember runs fast (those are dequantized at load time). Integer results round half to even and
 * saturate; float8 results follow Cast (saturate attribute). */
#include "ops/op.h"

#include <stdlib.h>

/* Range of an integer quantized type (false for float types). */
static bool qrange(ember_dtype t, double *lo, double *hi) {
    switch (t) {
    case EMBER_DTYPE_U8: *lo = 0, *hi = 255; return true;
    case EMBER_DTYPE_I8: *lo = -128, *hi = 127; return true;
    case EMBER_DTYPE_U16: *lo = 0, *hi = 65535; return true;
    case EMBER_DTYPE_I16: *lo = -32768, *hi = 32767; return true;
    case EMBER_DTYPE_I32: *lo = -2147483648.0, *hi = 2147483647.0; return true;
    case EMBER_DTYPE_U4: *lo = 0, *hi = 15; return true;
    case EMBER_DTYPE_I4: *lo = -8, *hi = 7; return true;
    case EMBER_DTYPE_U2: *lo = 0, *hi = 3; return true;
    case EMBER_DTYPE_I2: *lo = -2, *hi = 1; return true;
    default: return false;
    }
}

/* Which scale/zero-point element applies to element i of x: per tensor, per axis, or per block. */
typedef struct qmap {
    int mode; /* 0 tensor, 1 axis, 2 blocked */
    int64_t D, inner, Dp, block;
} qmap;

static ember_status qmap_init(eo_ctx *c, const ember_tensor *x, const ember_tensor *scale, qmap *m) {
    memset(m, 0, sizeof *m);
    int64_t ns = ember_tensor_count(scale);
    int64_t block = eo_attr_int(c, "block_size", 0);
    if (scale->ndim == 0 || (ns == 1 && block == 0)) return EMBER_OK;
    if (x->ndim == 0) return ember_fail(EMBER_ERR_SHAPE, "a scalar input takes one scale");
    int axis;
    ember_status s = eo_axis(eo_attr_int(c, "axis", 1), x->ndim, &axis);
    if (s) return s;
    m->D = x->shape[axis];
    m->inner = 1;
    for (int d = axis + 1; d < x->ndim; d++) m->inner *= x->shape[d];
    if (block <= 0) {
        if (scale->ndim != 1 || ns != m->D)
            return ember_fail(EMBER_ERR_SHAPE, "per-axis scale has %lld values, expected %lld (axis %d)", (long long)ns,
                              (long long)m->D, axis);
        m->mode = 1;
        return EMBER_OK;
    }
    if (scale->ndim != x->ndim) return ember_fail(EMBER_ERR_SHAPE, "blocked scale must have the input's rank");
    for (int d = 0; d < x->ndim; d++) {
        int64_t want = d == axis ? (x->shape[d] + block - 1) / block : x->shape[d];
        if (scale->shape[d] != want)
            return ember_fail(EMBER_ERR_SHAPE, "blocked scale: dim %d is %lld, expected %lld", d,
                              (long long)scale->shape[d], (long long)want);
    }
    m->mode = 2;
    m->Dp = scale->shape[axis];
    m->block = block;
    return EMBER_OK;
}

static inline int64_t qmap_at(const qmap *m, int64_t i) {
    if (m->mode == 0) return 0;
    int64_t d = (i / m->inner) % m->D;
    if (m->mode == 1) return d;
    int64_t o = i / (m->inner * m->D), in = i % m->inner;
    return (o * m->Dp + d / m->block) * m->inner + in;
}

/* Round half to even, add the zero point, saturate to the type (ints), or keep as is (float types). */
static double quantize_value(double q, double zp, ember_dtype t) {
    double lo, hi;
    if (!qrange(t, &lo, &hi)) return q + zp;
    q = nearbyint(q) + zp;
    return q != q ? 0 : q < lo ? lo : q > hi ? hi : q;
}

/* Store doubles into y (any type, small types through Cast's rules). */
static ember_status store_all(const double *v, ember_tensor *y, bool saturate) {
    int64_t n = ember_tensor_count(y);
    ember_tensor tmp = {0};
    tmp.dtype = EMBER_DTYPE_F64;
    tmp.ndim = 1;
    tmp.shape[0] = n;
    tmp.data = (void *)v;
    tmp.nbytes = (size_t)n * sizeof(double);
    if (eo_dtype_is_small(y->dtype)) return eo_cast_small(&tmp, y, saturate, "up");
    for (int64_t i = 0; i < n; i++) eo_put(y, i, v[i]);
    return EMBER_OK;
}

/* Divide as the input's float type would (float32 for f32/f16/bf16 inputs, double for f64). */
static double div_as(double a, double b, ember_dtype t) {
    if (t == EMBER_DTYPE_F64) return a / b;
    float r = (float)a / (float)b;
    if (t == EMBER_DTYPE_F16) return ember_f16_to_f32(ember_f32_to_f16(r));
    if (t == EMBER_DTYPE_BF16) return ember_bf16_to_f32(ember_f32_to_bf16(r));
    return r;
}

/* Shared by Quantize/DequantizeLinear: inference needs x and the scale ... */
static ember_status qdq_infer_inputs(eo_ctx *c, const char *what) {
    ember_status s = eo_check_inputs(c, 2);
    if (s) return s;
    if (!eo_in(c, 0) || !eo_has(c, 1)) return ember_fail(EMBER_ERR_SHAPE, "%s", what);
    return EMBER_OK;
}

/* ... and a run maps x's elements to their scale and checks the zero point against the scale. */
static ember_status qdq_map(eo_ctx *c, const ember_tensor *x, const ember_tensor *scale, const ember_tensor *zp,
                            qmap *m) {
    ember_status s = qmap_init(c, x, scale, m);
    if (s) return s;
    if (zp && ember_tensor_count(zp) != ember_tensor_count(scale))
        return ember_fail(EMBER_ERR_SHAPE, "zero point and scale have different sizes");
    return EMBER_OK;
}

/* --- QuantizeLinear ----------------------------------------------------------------------------------- */
static ember_dtype quantize_out_type(eo_ctx *c) {
    if (eo_has(c, 2)) return eo_dtype(c, 2);
    int64_t od = eo_attr_int(c, "output_dtype", 0);
    return od > 0 && od < EMBER_DTYPE_COUNT ? (ember_dtype)od : EMBER_DTYPE_U8;
}

ember_status quantize_linear_infer(eo_ctx *c) {
    ember_status s = qdq_infer_inputs(c, "QuantizeLinear needs x and y_scale");
    if (s) return s;
    const ember_tensor *x = eo_in(c, 0);
    return eo_set_out(c, 0, quantize_out_type(c), x->ndim, x->shape);
}

ember_status quantize_linear_run(eo_ctx *c) {
    const ember_tensor *x = eo_in(c, 0), *scale = eo_in(c, 1), *zp = eo_in(c, 2);
    ember_tensor *y = eo_out(c, 0);
    if (!y) return EMBER_OK; /* output unused */
    qmap m;
    ember_status s = qdq_map(c, x, scale, zp, &m);
    if (s) return s;
    int64_t n = ember_tensor_count(x);
    if (x->dtype == EMBER_DTYPE_F32 && scale->dtype == EMBER_DTYPE_F32 &&
        (y->dtype == EMBER_DTYPE_U8 || y->dtype == EMBER_DTYPE_I8)) { /* the common QDQ case, same rounding as below */
        const float *xs = x->data, *ss = scale->data;
        float lo = y->dtype == EMBER_DTYPE_U8 ? 0.0f : -128.0f, hi = y->dtype == EMBER_DTYPE_U8 ? 255.0f : 127.0f;
        for (int64_t i = 0; i < n; i++) {
            int64_t p = qmap_at(&m, i);
            float q = nearbyintf(xs[i] / ss[p]) + (zp ? (float)eo_get(zp, p) : 0.0f);
            q = q != q ? 0.0f : q < lo ? lo : q > hi ? hi : q; /* NaN -> 0, as the generic path */
            if (y->dtype == EMBER_DTYPE_U8) ((uint8_t *)y->data)[i] = (uint8_t)q;
            else ((int8_t *)y->data)[i] = (int8_t)q;
        }
        return EMBER_OK;
    }
    double *v = eo_scratch(c, sizeof(double) * (size_t)(n ? n : 1));
    if (!v) return ember_fail(EMBER_ERR_NOMEM, "out of memory");
    ember_dtype calc = x->dtype == EMBER_DTYPE_F64 || scale->dtype == EMBER_DTYPE_F64 ? EMBER_DTYPE_F64 : x->dtype;
    for (int64_t i = 0; i < n; i++) {
        int64_t p = qmap_at(&m, i);
        double q = div_as(eo_get(x, i), eo_get(scale, p), calc);
        v[i] = quantize_value(q, zp ? eo_get_any(zp, p) : 0, y->dtype);
    }
    return store_all(v, y, eo_attr_int(c, "saturate", 1) != 0);
}

/* --- DequantizeLinear --------------------------------------------------------------------------------- */
ember_status dequantize_linear_infer(eo_ctx *c) {
    ember_status s = qdq_infer_inputs(c, "DequantizeLinear needs x and x_scale");
    if (s) return s;
    const ember_tensor *x = eo_in(c, 0);
    int64_t od = eo_attr_int(c, "output_dtype", 0);
    ember_dtype t = od > 0 && od < EMBER_DTYPE_COUNT ? (ember_dtype)od : eo_dtype(c, 1);
    return eo_set_out(c, 0, t, x->ndim, x->shape);
}

ember_status dequantize_linear_run(eo_ctx *c) {
    const ember_tensor *x = eo_in(c, 0), *scale = eo_in(c, 1), *zp = eo_in(c, 2);
    ember_tensor *y = eo_out(c, 0);
    if (!y) return EMBER_OK; /* output unused */
    qmap m;
    ember_status s = qdq_map(c, x, scale, zp, &m);
    if (s) return s;
    int64_t n = ember_tensor_count(x);
    if (y->dtype == EMBER_DTYPE_F32 && scale->dtype == EMBER_DTYPE_F32 &&
        (x->dtype == EMBER_DTYPE_U8 || x->dtype == EMBER_DTYPE_I8)) { /* the common QDQ case */
        const float *ss = scale->data;
        float *ys = y->data;
        for (int64_t i = 0; i < n; i++) {
            int64_t p = qmap_at(&m, i);
            float xv = x->dtype == EMBER_DTYPE_U8 ? (float)((const uint8_t *)x->data)[i] : (float)((const int8_t *)x->data)[i];
            ys[i] = (xv - (zp ? (float)eo_get(zp, p) : 0.0f)) * ss[p];
        }
        return EMBER_OK;
    }
    bool f32 = y->dtype != EMBER_DTYPE_F64;
    for (int64_t i = 0; i < n; i++) {
        int64_t p = qmap_at(&m, i);
        double d = eo_get_any(x, i) - (zp ? eo_get_any(zp, p) : 0);
        double v = f32 ? (double)((float)d * (float)eo_get(scale, p)) : d * eo_get(scale, p);
        eo_put(y, i, v);
    }
    return EMBER_OK;
}

/* --- DynamicQuantizeLinear ---------------------------------------------------------------------------- */
ember_status dynamic_quantize_infer(eo_ctx *c) {
    ember_status s = eo_check_inputs(c, 1);
    if (s) return s;
    const ember_tensor *x = eo_in(c, 0);
    s = eo_set_out(c, 0, EMBER_DTYPE_U8, x->ndim, x->shape);
    if (!s) s = eo_set_out(c, 1, EMBER_DTYPE_F32, 0, NULL);
    if (!s) s = eo_set_out(c, 2, EMBER_DTYPE_U8, 0, NULL);
    return s;
}

ember_status dynamic_quantize_run(eo_ctx *c) {
    const ember_tensor *x = eo_in(c, 0);
    int64_t n = ember_tensor_count(x);
    float lo = 0, hi = 0;
    for (int64_t i = 0; i < n; i++) {
        float v = (float)eo_get(x, i);
        if (v < lo) lo = v;
        if (v > hi) hi = v;
    }
    float scale = (hi - lo) / 255.0f;
    double zp = scale != 0 && isfinite(scale) ? nearbyint((double)(0.0f - lo / scale)) : 0;
    zp = zp != zp || zp < 0 ? 0 : zp > 255 ? 255 : zp;
    ember_tensor *y = eo_out(c, 0), *ys = eo_out(c, 1), *yz = eo_out(c, 2);
    if (y)
        for (int64_t i = 0; i < n; i++) {
            double q = scale != 0 ? (double)((float)eo_get(x, i) / scale) : 0;
            ((uint8_t *)y->data)[i] = (uint8_t)quantize_value(q, zp, EMBER_DTYPE_U8);
        }
    if (ys) *(float *)ys->data = scale;
    if (yz) *(uint8_t *)yz->data = (uint8_t)zp;
    return EMBER_OK;
}

static ember_status need_inputs(const eo_ctx *c, int n, const char *op) {
    ember_status s = eo_check_inputs(c, n);
    return s ? ember_fail_context(s, "%s: ", op) : EMBER_OK;
}

/* --- integer matmul ----------------------------------------------------------------------------------- */
/* Batched (numpy-broadcast) matmul of integer/quantized tensors into doubles: out[b, i, j] =
 * sum_k (A[b,i,k] - azp(i)) * (B[b,k,j] - bzp(j)). azp: scalar or per row of A (length M); bzp: scalar or
 * per column of B (length N). Shapes in *ndim/shape. */
typedef struct mm_shape {
    int ndim;
    int64_t shape[EMBER_MAX_DIMS];
    int64_t M, K, N, batch;
} mm_shape;

static ember_status mm_infer_shape(const ember_tensor *a, const ember_tensor *b, mm_shape *ms) {
    if (a->ndim < 1 || b->ndim < 1) return ember_fail(EMBER_ERR_SHAPE, "matmul of a scalar");
    int64_t as[EMBER_MAX_DIMS], bs[EMBER_MAX_DIMS];
    int an = a->ndim, bn = b->ndim;
    memcpy(as, a->shape, sizeof(int64_t) * (size_t)an);
    memcpy(bs, b->shape, sizeof(int64_t) * (size_t)bn);
    bool a1 = an == 1, b1 = bn == 1;
    if (a1) { as[1] = as[0]; as[0] = 1; an = 2; }
    if (b1) { bs[1] = 1; bn = 2; }
    if (as[an - 1] != bs[bn - 2])
        return ember_fail(EMBER_ERR_SHAPE, "matmul: inner dimensions %lld and %lld differ", (long long)as[an - 1],
                          (long long)bs[bn - 2]);
    int bd;
    int64_t batch[EMBER_MAX_DIMS];
    ember_status s = ember_shape_broadcast(an - 2, as, bn - 2, bs, &bd, batch);
    if (s) return s;
    ms->M = as[an - 2], ms->K = as[an - 1], ms->N = bs[bn - 1];
    ms->batch = ember_shape_count(bd, batch);
    ms->ndim = 0;
    for (int d = 0; d < bd; d++) ms->shape[ms->ndim++] = batch[d];
    if (!a1) ms->shape[ms->ndim++] = ms->M;
    if (!b1) ms->shape[ms->ndim++] = ms->N;
    return EMBER_OK;
}

/* Offset (in matrices) of batch index bi in a tensor with these leading dims, broadcast to the output batch. */
static int64_t batch_offset(const ember_tensor *t, const mm_shape *ms, int64_t bi, int out_bd) {
    int tb = t->ndim - 2;
    if (tb <= 0) return 0;
    int64_t off = 0, stride = 1;
    for (int d = out_bd - 1, e = tb - 1; d >= 0 && e >= 0; d--, e--) {
        int64_t idx = bi % ms->shape[d];
        bi /= ms->shape[d];
        if (t->shape[e] != 1) off += idx * stride;
        stride *= t->shape[e];
    }
    return off;
}

static ember_status int_matmul(const ember_tensor *a, const ember_tensor *b, const ember_tensor *azp,
                               const ember_tensor *bzp, const mm_shape *ms, double *out) {
    int64_t M = ms->M, K = ms->K, N = ms->N;
    int out_bd = ms->ndim - (a->ndim == 1 ? 0 : 1) - (b->ndim == 1 ? 0 : 1);
    int64_t na = azp ? ember_tensor_count(azp) : 0, nb = bzp ? ember_tensor_count(bzp) : 0;
    if ((na > 1 && na != M) || (nb > 1 && nb != N))
        return ember_fail(EMBER_ERR_SHAPE, "zero point sizes %lld/%lld do not match M=%lld/N=%lld", (long long)na,
                          (long long)nb, (long long)M, (long long)N);
    for (int64_t bi = 0; bi < ms->batch; bi++) {
        int64_t ao = batch_offset(a, ms, bi, out_bd) * M * K, bo = batch_offset(b, ms, bi, out_bd) * K * N;
        for (int64_t i = 0; i < M; i++) {
            double za = na ? eo_get_any(azp, na > 1 ? i : 0) : 0;
            for (int64_t j = 0; j < N; j++) {
                double zb = nb ? eo_get_any(bzp, nb > 1 ? j : 0) : 0, acc = 0;
                for (int64_t k = 0; k < K; k++)
                    acc += (eo_get_any(a, ao + i * K + k) - za) * (eo_get_any(b, bo + k * N + j) - zb);
                out[(bi * M + i) * N + j] = acc;
            }
        }
    }
    return EMBER_OK;
}

ember_status matmul_integer_infer(eo_ctx *c) {
    ember_status st = need_inputs(c, 2, "MatMulInteger");
    if (st) return st;
    mm_shape ms;
    ember_status s = mm_infer_shape(eo_in(c, 0), eo_in(c, 1), &ms);
    if (s) return s;
    return eo_set_out(c, 0, EMBER_DTYPE_I32, ms.ndim, ms.shape);
}

ember_status matmul_integer_run(eo_ctx *c) {
    mm_shape ms;
    ember_status s = mm_infer_shape(eo_in(c, 0), eo_in(c, 1), &ms);
    if (s) return s;
    ember_tensor *y = eo_out(c, 0);
    if (!y) return EMBER_OK; /* output unused */
    double *v = eo_scratch(c, sizeof(double) * (size_t)(ember_tensor_count(y) + 1));
    if (!v) return ember_fail(EMBER_ERR_NOMEM, "out of memory");
    if ((s = int_matmul(eo_in(c, 0), eo_in(c, 1), eo_in(c, 2), eo_in(c, 3), &ms, v))) return s;
    return store_all(v, y, true);
}

/* QLinearMatMul(a, a_scale, a_zp, b, b_scale, b_zp, y_scale, y_zp) */
ember_status qlinear_matmul_infer(eo_ctx *c) {
    ember_status st = need_inputs(c, 7, "QLinearMatMul");
    if (st) return st;
    mm_shape ms;
    ember_status s = mm_infer_shape(eo_in(c, 0), eo_in(c, 3), &ms);
    if (s) return s;
    return eo_set_out(c, 0, eo_has(c, 7) ? eo_dtype(c, 7) : eo_dtype(c, 0), ms.ndim, ms.shape);
}

ember_status qlinear_matmul_run(eo_ctx *c) {
    mm_shape ms;
    ember_status s = mm_infer_shape(eo_in(c, 0), eo_in(c, 3), &ms);
    if (s) return s;
    const ember_tensor *as = eo_in(c, 1), *bs = eo_in(c, 4), *ys = eo_in(c, 6), *yz = eo_in(c, 7);
    if (ember_tensor_count(ys) != 1) return ember_fail(EMBER_ERR_UNSUPPORTED, "QLinearMatMul: per-axis y_scale");
    ember_tensor *y = eo_out(c, 0);
    if (!y) return EMBER_OK; /* output unused */
    int64_t n = ember_tensor_count(y);
    double *v = eo_scratch(c, sizeof(double) * (size_t)(n + 1));
    if (!v) return ember_fail(EMBER_ERR_NOMEM, "out of memory");
    if ((s = int_matmul(eo_in(c, 0), eo_in(c, 3), eo_in(c, 2), eo_in(c, 5), &ms, v))) return s;
    int64_t na = ember_tensor_count(as), nb = ember_tensor_count(bs);
    double ysv = eo_get(ys, 0), zp = yz ? eo_get_any(yz, 0) : 0;
    for (int64_t i = 0; i < n; i++) {
        int64_t row = (i / ms.N) % ms.M, col = i % ms.N;
        double sa = eo_get(as, na > 1 ? row : 0), sb = eo_get(bs, nb > 1 ? col : 0);
        v[i] = quantize_value((double)(float)(v[i] * (float)(sa * sb) / ysv), zp, y->dtype);
    }
    return store_all(v, y, true);
}

/* --- integer convolution ------------------------------------------------------------------------------ */
typedef struct conv_geom {
    int nsp; /* spatial dims */
    int64_t N, C, M, group;
    int64_t in[EMBER_MAX_DIMS], k[EMBER_MAX_DIMS], out[EMBER_MAX_DIMS];
    int64_t stride[EMBER_MAX_DIMS], dil[EMBER_MAX_DIMS], pad0[EMBER_MAX_DIMS];
} conv_geom;

static ember_status conv_geom_init(eo_ctx *c, const ember_tensor *x, const ember_tensor *w, conv_geom *g) {
    memset(g, 0, sizeof *g);
    if (x->ndim < 3 || w->ndim != x->ndim) return ember_fail(EMBER_ERR_SHAPE, "conv: x and w need the same rank >= 3");
    g->nsp = x->ndim - 2;
    g->N = x->shape[0], g->C = x->shape[1], g->M = w->shape[0];
    g->group = eo_attr_int(c, "group", 1);
    if (g->group <= 0 || g->C % g->group || g->M % g->group || w->shape[1] * g->group != g->C)
        return ember_fail(EMBER_ERR_SHAPE, "conv: channels %lld, weights %lld, group %lld do not fit", (long long)g->C,
                          (long long)w->shape[1], (long long)g->group);
    const int64_t *st, *dl, *pd, *ks;
    int nst = eo_attr_ints(c, "strides", &st), ndl = eo_attr_ints(c, "dilations", &dl), npd = eo_attr_ints(c, "pads", &pd);
    int nks = eo_attr_ints(c, "kernel_shape", &ks);
    const char *ap = eo_attr_str(c, "auto_pad", "NOTSET");
    for (int d = 0; d < g->nsp; d++) {
        g->in[d] = x->shape[d + 2];
        g->k[d] = w->shape[d + 2];
        if (nks == g->nsp && ks[d] != g->k[d]) return ember_fail(EMBER_ERR_SHAPE, "conv: kernel_shape differs from the weights");
        g->stride[d] = nst == g->nsp ? st[d] : 1;
        g->dil[d] = ndl == g->nsp ? dl[d] : 1;
        if (g->stride[d] <= 0 || g->dil[d] <= 0) return ember_fail(EMBER_ERR_SHAPE, "conv: strides and dilations must be positive");
        int64_t ek = (g->k[d] - 1) * g->dil[d] + 1;
        int64_t p0 = npd == 2 * g->nsp ? pd[d] : 0, p1 = npd == 2 * g->nsp ? pd[d + g->nsp] : 0;
        if (!strcmp(ap, "SAME_UPPER") || !strcmp(ap, "SAME_LOWER")) {
            int64_t o = (g->in[d] + g->stride[d] - 1) / g->stride[d];
            int64_t tot = (o - 1) * g->stride[d] + ek - g->in[d];
            if (tot < 0) tot = 0;
            p0 = !strcmp(ap, "SAME_UPPER") ? tot / 2 : tot - tot / 2;
            p1 = tot - p0;
        } else if (!strcmp(ap, "VALID")) {
            p0 = p1 = 0;
        }
        g->pad0[d] = p0;
        g->out[d] = (g->in[d] + p0 + p1 - ek) / g->stride[d] + 1;
        if (g->out[d] < 0) return ember_fail(EMBER_ERR_SHAPE, "conv: bad geometry on axis %d", d);
    }
    return EMBER_OK;
}

static ember_status conv_out_shape(eo_ctx *c, int xi, int wi, ember_dtype t) {
    conv_geom g;
    ember_status s = conv_geom_init(c, eo_in(c, xi), eo_in(c, wi), &g);
    if (s) return s;
    int64_t shape[EMBER_MAX_DIMS] = {g.N, g.M};
    for (int d = 0; d < g.nsp; d++) shape[d + 2] = g.out[d];
    return eo_set_out(c, 0, t, g.nsp + 2, shape);
}

/* out[n, m, o...] = sum (x - xzp) * (w - wzp(m)); xzp scalar, wzp scalar or per output channel. */
static void int_conv(const conv_geom *g, const ember_tensor *x, const ember_tensor *w, double xzp,
                     const ember_tensor *wzp, double *out) {
    int64_t osz = 1, ksz = 1, isz = 1;
    for (int d = 0; d < g->nsp; d++) osz *= g->out[d], ksz *= g->k[d], isz *= g->in[d];
    int64_t cpg = g->C / g->group, mpg = g->M / g->group, nwz = wzp ? ember_tensor_count(wzp) : 0;
    for (int64_t n = 0; n < g->N; n++)
        for (int64_t m = 0; m < g->M; m++) {
            double zw = nwz ? eo_get_any(wzp, nwz > 1 ? m : 0) : 0;
            int64_t gi = m / mpg;
            for (int64_t o = 0; o < osz; o++) {
                int64_t oc[EMBER_MAX_DIMS], r = o;
                for (int d = g->nsp - 1; d >= 0; d--) oc[d] = r % g->out[d], r /= g->out[d];
                double acc = 0;
                for (int64_t ci = 0; ci < cpg; ci++) {
                    int64_t cin = gi * cpg + ci;
                    for (int64_t kk = 0; kk < ksz; kk++) {
                        int64_t kr = kk, ioff = 0;
                        bool inside = true;
                        int64_t kc[EMBER_MAX_DIMS];
                        for (int d = g->nsp - 1; d >= 0; d--) kc[d] = kr % g->k[d], kr /= g->k[d];
                        for (int d = 0; d < g->nsp && inside; d++) {
                            int64_t p = oc[d] * g->stride[d] - g->pad0[d] + kc[d] * g->dil[d];
                            if (p < 0 || p >= g->in[d]) inside = false;
                            ioff = ioff * g->in[d] + p;
                        }
                        if (!inside) continue; /* padding holds the zero point: contributes 0 */
                        double xv = eo_get_any(x, (n * g->C + cin) * isz + ioff) - xzp;
                        double wv = eo_get_any(w, (m * cpg + ci) * ksz + kk) - zw;
                        acc += xv * wv;
                    }
                }
                out[(n * g->M + m) * osz + o] = acc;
            }
        }
}

ember_status conv_integer_infer(eo_ctx *c) {
    ember_status s = need_inputs(c, 2, "ConvInteger");
    return s ? s : conv_out_shape(c, 0, 1, EMBER_DTYPE_I32);
}

ember_status conv_integer_run(eo_ctx *c) {
    conv_geom g;
    ember_status s = conv_geom_init(c, eo_in(c, 0), eo_in(c, 1), &g);
    if (s) return s;
    ember_tensor *y = eo_out(c, 0);
    if (!y) return EMBER_OK; /* output unused */
    double *v = eo_scratch(c, sizeof(double) * (size_t)(ember_tensor_count(y) + 1));
    if (!v) return ember_fail(EMBER_ERR_NOMEM, "out of memory");
    int_conv(&g, eo_in(c, 0), eo_in(c, 1), eo_has(c, 2) ? eo_get_any(eo_in(c, 2), 0) : 0, eo_in(c, 3), v);
    return store_all(v, y, true);
}

/* QLinearConv(x, x_scale, x_zp, w, w_scale, w_zp, y_scale, y_zp, B) */
ember_status qlinear_conv_infer(eo_ctx *c) {
    ember_status s = need_inputs(c, 7, "QLinearConv");
    if (s) return s;
    return conv_out_shape(c, 0, 3, eo_has(c, 7) ? eo_dtype(c, 7) : eo_dtype(c, 0)); }

ember_status qlinear_conv_run(eo_ctx *c) {
    conv_geom g;
    ember_status s = conv_geom_init(c, eo_in(c, 0), eo_in(c, 3), &g);
    if (s) return s;
    ember_tensor *y = eo_out(c, 0);
    if (!y) return EMBER_OK; /* output unused */
    int64_t n = ember_tensor_count(y);
    double *v = eo_scratch(c, sizeof(double) * (size_t)(n + 1));
    if (!v) return ember_fail(EMBER_ERR_NOMEM, "out of memory");
    int_conv(&g, eo_in(c, 0), eo_in(c, 3), eo_has(c, 2) ? eo_get_any(eo_in(c, 2), 0) : 0, eo_in(c, 5), v);
    const ember_tensor *xs = eo_in(c, 1), *ws = eo_in(c, 4), *ys = eo_in(c, 6), *yz = eo_in(c, 7), *b = eo_in(c, 8);
    int64_t osz = 1, nws = ember_tensor_count(ws);
    for (int d = 0; d < g.nsp; d++) osz *= g.out[d];
    double zp = yz ? eo_get_any(yz, 0) : 0, ysv = eo_get(ys, 0), xsv = eo_get(xs, 0);
    for (int64_t i = 0; i < n; i++) {
        int64_t m = (i / osz) % g.M;
        double acc = v[i] + (b ? eo_get(b, m) : 0);
        double real = (double)(float)(acc * (float)(xsv * eo_get(ws, nws > 1 ? m : 0)));
        v[i] = quantize_value((double)(float)(real / ysv), zp, y->dtype);
    }
    return store_all(v, y, true);
}
