/* Layout ops: elements rearranged, padded, cropped or masked. ONNX Pad (2-25), CenterCropPad (18),
 * SpaceToDepth (1-13), DepthToSpace (1-13), Col2Im (18), Trilu (14), ReverseSequence (10).
 * Every element type moves as bytes (strings deep-copied). */
#include "ops/op.h"

/* Set element i to zero (numbers, false, ""). */
static ember_status zero_elem(ember_tensor *t, int64_t i) {
    if (t->dtype == EMBER_DTYPE_STRING) return ember_tensor_set_string(t, i, "", 0);
    size_t es = eo_esize(t->dtype);
    memset((char *)t->data + (size_t)i * es, 0, es);
    return EMBER_OK;
}

/* y[pos] = x[map(pos)] where map gives, per output dim d and coordinate o, the input coordinate (or -1:
 * fill with element 0 of `fill`, or zero when fill is NULL). Rows of the innermost dim whose sources are
 * consecutive are copied in one memcpy. */
static ember_status gather_by_maps(ember_tensor *y, const ember_tensor *x, int64_t *const *map,
                                   const ember_tensor *fill) {
    int r = y->ndim;
    if (r == 0) return ember_tensor_count(y) ? eo_copy_elems(y, 0, x, 0, 1) : EMBER_OK;
    int64_t xs[EMBER_MAX_DIMS], pos[EMBER_MAX_DIMS] = {0}, W = y->shape[r - 1],
                                rows = W ? ember_tensor_count(y) / W : 0;
    ember_shape_strides(x->ndim, x->shape, xs);
    size_t es = eo_esize(y->dtype);
    bool bytes = y->dtype != EMBER_DTYPE_STRING && es;
    const int64_t *last = map[r - 1];
    for (int64_t row = 0; row < rows; row++) {
        int64_t base = 0;
        for (int d = 0; d < r - 1 && base >= 0; d++)
            base = map[d][pos[d]] < 0 ? -1 : base + map[d][pos[d]] * xs[d];
        for (int64_t o = 0; o < W;) {
            int64_t i = row * W + o;
            ember_status s;
            if (base >= 0 && last[o] >= 0) {
                int64_t n = 1;
                while (bytes && o + n < W && last[o + n] == last[o] + n) n++;
                if (bytes) {
                    memcpy((char *)y->data + (size_t)i * es,
                           (const char *)x->data + (size_t)(base + last[o] * xs[r - 1]) * es, (size_t)n * es);
                    o += n;
                    continue;
                }
                s = eo_copy_elems(y, i, x, base + last[o] * xs[r - 1], 1);
            } else {
                s = fill ? eo_copy_elems(y, i, fill, 0, 1) : zero_elem(y, i);
            }
            if (s) return s;
            o++;
        }
        for (int d = r - 2; d >= 0 && ++pos[d] == y->shape[d]; d--) pos[d] = 0;
    }
    return EMBER_OK;
}

/* --- Pad ---------------------------------------------------------------------------------------------- */
typedef enum { PAD_CONSTANT, PAD_REFLECT, PAD_EDGE, PAD_WRAP } pad_mode;

/* Per-axis begin/end pads (full rank) from attributes (opset < 11) or inputs pads/axes. */
static ember_status pad_amounts(const eo_ctx *c, int64_t *begin, int64_t *end, pad_mode *mode) {
    const ember_tensor *x = eo_in(c, 0);
    int r = x->ndim;
    int64_t pads[2 * EMBER_MAX_DIMS], axes[EMBER_MAX_DIMS];
    int np = 0, na = r;
    ember_status s;
    const char *m = eo_attr_str(c, "mode", "constant");
    if (!strcmp(m, "constant"))
        *mode = PAD_CONSTANT;
    else if (!strcmp(m, "reflect"))
        *mode = PAD_REFLECT;
    else if (!strcmp(m, "edge"))
        *mode = PAD_EDGE;
    else if (!strcmp(m, "wrap") && c->opset >= 19)
        *mode = PAD_WRAP;
    else
        return ember_fail(EMBER_ERR_FORMAT, "Pad: unknown mode '%s'", m);
    if (c->opset < 11) {
        const int64_t *v;
        np = eo_attr_ints(c, c->opset < 2 ? "paddings" : "pads", &v);
        if (np < 0 || np > 2 * EMBER_MAX_DIMS)
            return ember_fail(EMBER_ERR_FORMAT, "Pad needs the 'pads' attribute");
        memcpy(pads, v, sizeof(int64_t) * (size_t)np);
    } else if ((s = eo_in_ints(c, 1, pads, 2 * EMBER_MAX_DIMS, &np))) {
        return s;
    }
    for (int d = 0; d < r; d++) axes[d] = d;
    if (c->opset >= 18 && eo_has(c, 3)) {
        if ((s = eo_in_ints(c, 3, axes, EMBER_MAX_DIMS, &na))) return s;
        for (int i = 0; i < na; i++) {
            int a;
            if ((s = eo_axis(axes[i], r, &a))) return s;
            axes[i] = a;
        }
    }
    if (np != 2 * na)
        return ember_fail(EMBER_ERR_SHAPE, "Pad: %d pads given for %d axes (expected %d)", np, na, 2 * na);
    for (int d = 0; d < r; d++) begin[d] = end[d] = 0;
    for (int i = 0; i < na; i++) {
        begin[axes[i]] = pads[i];
        end[axes[i]] = pads[na + i];
    }
    for (int d = 0; d < r; d++) {
        if (x->shape[d] + begin[d] + end[d] < 0)
            return ember_fail(EMBER_ERR_SHAPE, "Pad: axis %d would get a negative size", d);
        if (*mode != PAD_CONSTANT && x->shape[d] == 0 && begin[d] + end[d] > 0)
            return ember_fail(EMBER_ERR_SHAPE, "Pad: cannot %s-pad the empty axis %d", m, d);
    }
    return EMBER_OK;
}

ember_status pad_infer(eo_ctx *c) {
    ember_status chk = eo_check_inputs(c, c->opset < 11 ? 1 : 2);
    if (chk) return chk;
    const ember_tensor *x = eo_in(c, 0);
    int64_t b[EMBER_MAX_DIMS], e[EMBER_MAX_DIMS], shape[EMBER_MAX_DIMS];
    pad_mode mode;
    ember_status s = pad_amounts(c, b, e, &mode);
    if (s) return s;
    for (int d = 0; d < x->ndim; d++) shape[d] = x->shape[d] + b[d] + e[d];
    return eo_set_out(c, 0, x->dtype, x->ndim, shape);
}

static int64_t pad_src(int64_t i, int64_t n, pad_mode mode) {
    if (i >= 0 && i < n) return i;
    switch (mode) {
    case PAD_EDGE:
        return i < 0 ? 0 : n - 1;
    case PAD_WRAP:
        return ((i % n) + n) % n;
    case PAD_REFLECT:
        if (n == 1) return 0;
        for (;;) {
            if (i < 0)
                i = -i;
            else if (i >= n)
                i = 2 * (n - 1) - i;
            else
                return i;
        }
    default:
        return -1;
    }
}

ember_status pad_run(eo_ctx *c) {
    const ember_tensor *x = eo_in(c, 0);
    ember_tensor *y = eo_out(c, 0);
    int64_t b[EMBER_MAX_DIMS], e[EMBER_MAX_DIMS];
    pad_mode mode;
    ember_status s = pad_amounts(c, b, e, &mode);
    if (s) return s;
    int64_t total = 0, *map[EMBER_MAX_DIMS];
    for (int d = 0; d < y->ndim; d++) total += y->shape[d];
    int64_t *buf = eo_scratch(c, sizeof(int64_t) * (size_t)(total + 1));
    if (!buf) return ember_fail(EMBER_ERR_NOMEM, "out of memory");
    for (int d = 0; d < y->ndim; d++) {
        map[d] = buf;
        buf += y->shape[d];
        for (int64_t o = 0; o < y->shape[d]; o++) map[d][o] = pad_src(o - b[d], x->shape[d], mode);
    }
    /* the constant: value attribute (opset < 11) or input 2, in the input's type */
    ember_tensor *fill = NULL;
    if (mode == PAD_CONSTANT) {
        const ember_tensor *cv =
            c->opset >= 11 && eo_has(c, 2) && ember_tensor_count(eo_in(c, 2)) ? eo_in(c, 2) : NULL;
        if (cv && cv->dtype != x->dtype)
            return ember_fail(EMBER_ERR_SHAPE, "Pad: constant_value type differs from the input's");
        if (cv)
            fill = (ember_tensor *)cv;
        else if (c->opset < 11 && x->dtype != EMBER_DTYPE_STRING) {
            fill = eo_scratch(c, sizeof *fill + 16);
            if (!fill) return ember_fail(EMBER_ERR_NOMEM, "out of memory");
            fill->dtype = x->dtype;
            fill->data = (char *)fill + sizeof *fill;
            eo_put(fill, 0, eo_attr_float(c, "value", 0));
        }
    }
    return gather_by_maps(y, x, map, fill);
}

/* --- CenterCropPad ------------------------------------------------------------------------------------ */
static ember_status ccp_shape(const eo_ctx *c, int64_t *shape) {
    const ember_tensor *x = eo_in(c, 0);
    int64_t want[EMBER_MAX_DIMS];
    int n;
    ember_status s = eo_in_ints(c, 1, want, EMBER_MAX_DIMS, &n);
    if (s) return s;
    const int64_t *axes;
    int na = eo_attr_ints(c, "axes", &axes);
    memcpy(shape, x->shape, sizeof(int64_t) * (size_t)x->ndim);
    if (na < 0) {
        if (n != x->ndim)
            return ember_fail(EMBER_ERR_SHAPE, "CenterCropPad: shape has %d values for rank %d", n, x->ndim);
        for (int d = 0; d < n; d++) shape[d] = want[d];
    } else {
        if (n != na)
            return ember_fail(EMBER_ERR_SHAPE, "CenterCropPad: shape has %d values for %d axes", n, na);
        for (int i = 0; i < na; i++) {
            int a;
            if ((s = eo_axis(axes[i], x->ndim, &a))) return s;
            shape[a] = want[i];
        }
    }
    for (int d = 0; d < x->ndim; d++)
        if (shape[d] < 0)
            return ember_fail(EMBER_ERR_SHAPE, "CenterCropPad: negative size %lld", (long long)shape[d]);
    return EMBER_OK;
}

ember_status center_crop_pad_infer(eo_ctx *c) {
    ember_status chk = eo_check_inputs(c, 2);
    if (chk) return chk;
    const ember_tensor *x = eo_in(c, 0);
    int64_t shape[EMBER_MAX_DIMS];
    ember_status s = ccp_shape(c, shape);
    if (s) return s;
    return eo_set_out(c, 0, x->dtype, x->ndim, shape);
}

ember_status center_crop_pad_run(eo_ctx *c) {
    const ember_tensor *x = eo_in(c, 0);
    ember_tensor *y = eo_out(c, 0);
    int64_t total = 0, *map[EMBER_MAX_DIMS];
    for (int d = 0; d < y->ndim; d++) total += y->shape[d];
    int64_t *buf = eo_scratch(c, sizeof(int64_t) * (size_t)(total + 1));
    if (!buf) return ember_fail(EMBER_ERR_NOMEM, "out of memory");
    for (int d = 0; d < y->ndim; d++) {
        int64_t in = x->shape[d], out = y->shape[d];
        int64_t shift = in >= out ? (in - out) / 2 : -((out - in) / 2);
        map[d] = buf;
        buf += out;
        for (int64_t o = 0; o < out; o++) map[d][o] = o + shift >= 0 && o + shift < in ? o + shift : -1;
    }
    return gather_by_maps(y, x, map, NULL);
}

/* --- SpaceToDepth, DepthToSpace ----------------------------------------------------------------------- */
static ember_status block_size(const eo_ctx *c, int64_t *b) {
    const ember_tensor *x = eo_in(c, 0);
    *b = eo_attr_int(c, "blocksize", 0);
    if (*b <= 0) return ember_fail(EMBER_ERR_FORMAT, "%s needs a positive 'blocksize'", c->node->op_type);
    if (x->ndim != 4)
        return ember_fail(EMBER_ERR_SHAPE, "%s: input must be 4-D [N, C, H, W]", c->node->op_type);
    return EMBER_OK;
}

ember_status space_to_depth_infer(eo_ctx *c) {
    ember_status chk = eo_check_inputs(c, 1);
    if (chk) return chk;
    const ember_tensor *x = eo_in(c, 0);
    int64_t b;
    ember_status s = block_size(c, &b);
    if (s) return s;
    if (x->shape[2] % b || x->shape[3] % b)
        return ember_fail(EMBER_ERR_SHAPE, "SpaceToDepth: H and W must be multiples of %lld", (long long)b);
    int64_t shape[4] = {x->shape[0], x->shape[1] * b * b, x->shape[2] / b, x->shape[3] / b};
    return eo_set_out(c, 0, x->dtype, 4, shape);
}

ember_status depth_to_space_infer(eo_ctx *c) {
    ember_status chk = eo_check_inputs(c, 1);
    if (chk) return chk;
    const ember_tensor *x = eo_in(c, 0);
    int64_t b;
    ember_status s = block_size(c, &b);
    if (s) return s;
    if (x->shape[1] % (b * b))
        return ember_fail(EMBER_ERR_SHAPE, "DepthToSpace: C must be a multiple of %lld", (long long)(b * b));
    const char *mode = eo_attr_str(c, "mode", "DCR");
    if (strcmp(mode, "DCR") && strcmp(mode, "CRD"))
        return ember_fail(EMBER_ERR_FORMAT, "DepthToSpace: unknown mode '%s'", mode);
    int64_t shape[4] = {x->shape[0], x->shape[1] / (b * b), x->shape[2] * b, x->shape[3] * b};
    return eo_set_out(c, 0, x->dtype, 4, shape);
}

/* Both directions: for each element of the space-side tensor [N, C, H*b, W*b], the depth-side channel. */
static ember_status space_depth(eo_ctx *c, bool to_depth) {
    const ember_tensor *x = eo_in(c, 0);
    ember_tensor *y = eo_out(c, 0);
    int64_t b;
    ember_status s = block_size(c, &b);
    if (s) return s;
    bool crd = !to_depth && !strcmp(eo_attr_str(c, "mode", "DCR"), "CRD");
    const ember_tensor *sp = to_depth ? x : y, *dp = to_depth ? y : x;
    int64_t N = sp->shape[0], C = sp->shape[1], H = dp->shape[2], W = dp->shape[3];
    for (int64_t n = 0; n < N; n++)
        for (int64_t ch = 0; ch < C; ch++)
            for (int64_t h = 0; h < H; h++)
                for (int64_t by = 0; by < b; by++)
                    for (int64_t w = 0; w < W; w++)
                        for (int64_t bx = 0; bx < b; bx++) {
                            int64_t dc = crd ? ch * b * b + by * b + bx : (by * b + bx) * C + ch;
                            int64_t si = ((n * C + ch) * H * b + h * b + by) * W * b + w * b + bx;
                            int64_t di = ((n * C * b * b + dc) * H + h) * W + w;
                            if ((s = to_depth ? eo_copy_elems(y, di, x, si, 1)
                                              : eo_copy_elems(y, si, x, di, 1)))
                                return s;
                        }
    return EMBER_OK;
}
ember_status space_to_depth_run(eo_ctx *c) {
    return space_depth(c, true);
}
ember_status depth_to_space_run(eo_ctx *c) {
    return space_depth(c, false);
}

/* --- Col2Im ------------------------------------------------------------------------------------------- */
typedef struct {
    int nsp;
    int64_t img[EMBER_MAX_DIMS], blk[EMBER_MAX_DIMS], dil[EMBER_MAX_DIMS], str[EMBER_MAX_DIMS],
        pb[EMBER_MAX_DIMS], pe[EMBER_MAX_DIMS];
    int64_t grid[EMBER_MAX_DIMS], kprod, L;
} col2im_p;

static ember_status col2im_params(const eo_ctx *c, col2im_p *p) {
    const ember_tensor *x = eo_in(c, 0);
    int n1, n2;
    ember_status s = eo_in_ints(c, 1, p->img, EMBER_MAX_DIMS, &n1);
    if (s || (s = eo_in_ints(c, 2, p->blk, EMBER_MAX_DIMS, &n2))) return s;
    if (n1 != n2 || n1 < 1 || n1 + 2 > EMBER_MAX_DIMS)
        return ember_fail(EMBER_ERR_SHAPE, "Col2Im: image_shape and block_shape must have the same length");
    p->nsp = n1;
    const int64_t *v;
    int nd = eo_attr_ints(c, "dilations", &v);
    for (int i = 0; i < n1; i++) p->dil[i] = nd == n1 ? v[i] : 1;
    nd = eo_attr_ints(c, "strides", &v);
    for (int i = 0; i < n1; i++) p->str[i] = nd == n1 ? v[i] : 1;
    nd = eo_attr_ints(c, "pads", &v);
    for (int i = 0; i < n1; i++) {
        p->pb[i] = nd == 2 * n1 ? v[i] : 0;
        p->pe[i] = nd == 2 * n1 ? v[n1 + i] : 0;
    }
    p->kprod = 1;
    p->L = 1;
    for (int i = 0; i < n1; i++) {
        if (p->str[i] <= 0 || p->dil[i] <= 0 || p->blk[i] <= 0)
            return ember_fail(EMBER_ERR_SHAPE, "Col2Im: strides, dilations and block_shape must be positive");
        p->grid[i] = (p->img[i] + p->pb[i] + p->pe[i] - p->dil[i] * (p->blk[i] - 1) - 1) / p->str[i] + 1;
        if (p->grid[i] < 1)
            return ember_fail(EMBER_ERR_SHAPE, "Col2Im: the blocks do not fit the padded image");
        p->kprod *= p->blk[i];
        p->L *= p->grid[i];
    }
    if (x->ndim != 3 || x->shape[1] % p->kprod || x->shape[2] != p->L)
        return ember_fail(EMBER_ERR_SHAPE, "Col2Im: input must be [N, C*%lld, %lld]", (long long)p->kprod,
                          (long long)p->L);
    return EMBER_OK;
}

ember_status col2im_infer(eo_ctx *c) {
    ember_status chk = eo_check_inputs(c, 3);
    if (chk) return chk;
    const ember_tensor *x = eo_in(c, 0);
    col2im_p p;
    ember_status s = col2im_params(c, &p);
    if (s) return s;
    int64_t shape[EMBER_MAX_DIMS] = {x->shape[0], x->shape[1] / p.kprod};
    memcpy(shape + 2, p.img, sizeof(int64_t) * (size_t)p.nsp);
    return eo_set_out(c, 0, x->dtype, 2 + p.nsp, shape);
}

ember_status col2im_run(eo_ctx *c) {
    const ember_tensor *x = eo_in(c, 0);
    ember_tensor *y = eo_out(c, 0);
    col2im_p p;
    ember_status s = col2im_params(c, &p);
    if (s) return s;
    int64_t NC = y->shape[0] * y->shape[1], isz = ember_shape_count(p.nsp, p.img);
    double *acc = eo_scratch(c, sizeof(double) * (size_t)(NC * isz + 1));
    if (!acc) return ember_fail(EMBER_ERR_NOMEM, "out of memory");
    for (int64_t nc = 0; nc < NC; nc++)
        for (int64_t k = 0; k < p.kprod; k++)
            for (int64_t l = 0; l < p.L; l++) {
                int64_t kr = k, lr = l, off = 0;
                bool in = true;
                for (int d = p.nsp - 1; d >= 0; d--) {
                    int64_t kd = kr % p.blk[d], ld = lr % p.grid[d];
                    kr /= p.blk[d];
                    lr /= p.grid[d];
                    int64_t pos = ld * p.str[d] - p.pb[d] + kd * p.dil[d];
                    if (pos < 0 || pos >= p.img[d]) in = false;
                    int64_t st = 1;
                    for (int e = d + 1; e < p.nsp; e++) st *= p.img[e];
                    off += pos * st;
                }
                if (in) acc[nc * isz + off] += eo_get(x, (nc * p.kprod + k) * p.L + l);
            }
    for (int64_t i = 0; i < NC * isz; i++) eo_put(y, i, acc[i]);
    return EMBER_OK;
}

/* --- Trilu -------------------------------------------------------------------------------------------- */
ember_status trilu_infer(eo_ctx *c) {
    ember_status chk = eo_check_inputs(c, 1);
    if (chk) return chk;
    const ember_tensor *x = eo_in(c, 0);
    if (x->ndim < 2) return ember_fail(EMBER_ERR_SHAPE, "Trilu: input must have rank >= 2");
    if (eo_has(c, 1) && ember_tensor_count(eo_in(c, 1)) != 1)
        return ember_fail(EMBER_ERR_SHAPE, "Trilu: k must be a scalar");
    return eo_set_out_like(c, 0, 0);
}

ember_status trilu_run(eo_ctx *c) {
    const ember_tensor *x = eo_in(c, 0);
    ember_tensor *y = eo_out(c, 0);
    int64_t k = 0;
    int n;
    ember_status s = eo_has(c, 1) ? eo_in_ints(c, 1, &k, 1, &n) : EMBER_OK;
    if (s) return s;
    bool upper = eo_attr_int(c, "upper", 1) != 0;
    int64_t R = x->shape[x->ndim - 2], C = x->shape[x->ndim - 1], batch = ember_tensor_count(x);
    batch = R * C != 0 ? batch / (R * C) : 0;
    for (int64_t b = 0; b < batch; b++)
        for (int64_t i = 0; i < R; i++)
            for (int64_t j = 0; j < C; j++) {
                int64_t e = (b * R + i) * C + j;
                bool keep = upper ? j - i >= k : j - i <= k;
                if ((s = keep ? eo_copy_elems(y, e, x, e, 1) : zero_elem(y, e))) return s;
            }
    return EMBER_OK;
}

/* --- ReverseSequence ---------------------------------------------------------------------------------- */
ember_status reverse_sequence_infer(eo_ctx *c) {
    ember_status chk = eo_check_inputs(c, 2);
    if (chk) return chk;
    const ember_tensor *x = eo_in(c, 0), *lens = eo_in(c, 1);
    int ba, ta;
    ember_status s = eo_axis(eo_attr_int(c, "batch_axis", 1), x->ndim, &ba);
    if (s || (s = eo_axis(eo_attr_int(c, "time_axis", 0), x->ndim, &ta))) return s;
    if (x->ndim < 2 || ba == ta || ba > 1 || ta > 1)
        return ember_fail(EMBER_ERR_SHAPE, "ReverseSequence: batch_axis and time_axis must be 0 and 1");
    if (lens->ndim != 1 || lens->shape[0] != x->shape[ba])
        return ember_fail(EMBER_ERR_SHAPE, "ReverseSequence: sequence_lens must have shape [batch_size]");
    return eo_set_out_like(c, 0, 0);
}

ember_status reverse_sequence_run(eo_ctx *c) {
    const ember_tensor *x = eo_in(c, 0), *lens = eo_in(c, 1);
    ember_tensor *y = eo_out(c, 0);
    int ba = (int)eo_attr_int(c, "batch_axis", 1) == 0 ? 0 : 1, ta = 1 - ba;
    int64_t B = x->shape[ba], T = x->shape[ta], inner = 1;
    for (int d = 2; d < x->ndim; d++) inner *= x->shape[d];
    for (int64_t b = 0; b < B; b++) {
        int64_t len = (int64_t)eo_get(lens, b);
        if (len < 0 || len > T)
            return ember_fail(EMBER_ERR_SHAPE, "ReverseSequence: length %lld out of range [0, %lld]",
                              (long long)len, (long long)T);
        for (int64_t t = 0; t < T; t++) {
            int64_t st = t < len ? len - 1 - t : t;
            int64_t yo = (ba == 0 ? b * T + t : t * B + b) * inner,
                    xo = (ba == 0 ? b * T + st : st * B + b) * inner;
            for (int64_t i = 0; i < inner; i++) {
                ember_status s = eo_copy_elems(y, yo + i, x, xo + i, 1);
                if (s) return s;
            }
        }
    }
    return EMBER_OK;
}
