/* Convolution and pooling over N spatial dims: ONNX Conv, ConvTranspose, MaxPool, AveragePool, LpPool,
 * GlobalAveragePool, GlobalMaxPool, GlobalLpPool (opsets 1-22). f32 1-D/2-D Conv runs on the kernels'
 * ember_conv2d (weights packed once per planned step, fused epilogue); other cases use im2col + GEMM, the
 * reference path. */
#include "kernels/eltwise.h"
#include "kernels/kernels.h"
#include "ops/op.h"

typedef struct geom {
    int nsp;                                  /* spatial dims */
    int64_t in[EMBER_MAX_DIMS], out[EMBER_MAX_DIMS], k[EMBER_MAX_DIMS];
    int64_t stride[EMBER_MAX_DIMS], dil[EMBER_MAX_DIMS], pb[EMBER_MAX_DIMS], pe[EMBER_MAX_DIMS];
} geom;

/* Output geometry from the attributes; kernel from `kshape` (NULL: attribute kernel_shape). */
static ember_status geom_make(eo_ctx *c, const ember_tensor *x, const int64_t *kshape, bool transpose, geom *g) {
    if (x->ndim < 3) return ember_fail(EMBER_ERR_SHAPE, "%s: input must have rank >= 3, has %d", c->node->op_type, x->ndim);
    g->nsp = x->ndim - 2;
    const int64_t *ks, *st, *dl, *pads;
    int nk = kshape ? g->nsp : eo_attr_ints(c, "kernel_shape", &ks);
    if (kshape) ks = kshape;
    if (nk != g->nsp) return ember_fail(EMBER_ERR_SHAPE, "%s: kernel_shape has %d dims, input has %d spatial dims", c->node->op_type, nk, g->nsp);
    int ns = eo_attr_ints(c, "strides", &st), nd = eo_attr_ints(c, "dilations", &dl), np = eo_attr_ints(c, "pads", &pads);
    if ((ns >= 0 && ns != g->nsp) || (nd >= 0 && nd != g->nsp) || (np >= 0 && np != 2 * g->nsp))
        return ember_fail(EMBER_ERR_SHAPE, "%s: strides/dilations/pads do not match the spatial rank", c->node->op_type);
    const char *ap = eo_attr_str(c, "auto_pad", "NOTSET");
    bool ceil_mode = eo_attr_int(c, "ceil_mode", 0);
    for (int i = 0; i < g->nsp; i++) {
        g->in[i] = x->shape[i + 2];
        g->k[i] = ks[i];
        g->stride[i] = ns > 0 ? st[i] : 1;
        g->dil[i] = nd > 0 ? dl[i] : 1;
        g->pb[i] = np > 0 ? pads[i] : 0;
        g->pe[i] = np > 0 ? pads[i + g->nsp] : 0;
        if (g->k[i] < 1 || g->stride[i] < 1 || g->dil[i] < 1) return ember_fail(EMBER_ERR_SHAPE, "%s: invalid kernel, stride or dilation", c->node->op_type);
        int64_t ext = (g->k[i] - 1) * g->dil[i] + 1;
        if (transpose) continue;
        if (!strcmp(ap, "SAME_UPPER") || !strcmp(ap, "SAME_LOWER")) {
            int64_t out = (g->in[i] + g->stride[i] - 1) / g->stride[i];
            int64_t total = (out - 1) * g->stride[i] + ext - g->in[i];
            if (total < 0) total = 0;
            g->pb[i] = !strcmp(ap, "SAME_UPPER") ? total / 2 : total - total / 2;
            g->pe[i] = total - g->pb[i];
        } else if (!strcmp(ap, "VALID")) {
            g->pb[i] = g->pe[i] = 0;
        }
        int64_t span = g->in[i] + g->pb[i] + g->pe[i] - ext;
        if (span < 0) return ember_fail(EMBER_ERR_SHAPE, "%s: kernel larger than the padded input", c->node->op_type);
        int64_t out = (ceil_mode ? (span + g->stride[i] - 1) / g->stride[i] : span / g->stride[i]) + 1;
        if (ceil_mode && (out - 1) * g->stride[i] >= g->in[i] + g->pb[i]) out--;
        g->out[i] = out;
    }
    return EMBER_OK;
}

static int64_t prod(const int64_t *v, int n) {
    int64_t p = 1;
    for (int i = 0; i < n; i++) p *= v[i];
    return p;
}

/* --- Conv ------------------------------------------------------------------------------------------- */
ember_status conv_infer(eo_ctx *c) {
    const ember_tensor *x = eo_in(c, 0), *w = eo_in(c, 1);
    if (w->ndim != x->ndim) return ember_fail(EMBER_ERR_SHAPE, "Conv: weight rank %d differs from input rank %d", w->ndim, x->ndim);
    geom g;
    ember_status s = geom_make(c, x, w->shape + 2, false, &g);
    if (s) return s;
    int64_t group = eo_attr_int(c, "group", 1);
    if (group < 1 || x->shape[1] != w->shape[1] * group || w->shape[0] % group)
        return ember_fail(EMBER_ERR_SHAPE, "Conv: %lld input channels do not fit weights %lldx%lld with group %lld", (long long)x->shape[1],
                          (long long)w->shape[0], (long long)w->shape[1], (long long)group);
    int64_t shape[EMBER_MAX_DIMS] = {x->shape[0], w->shape[0]};
    memcpy(shape + 2, g.out, sizeof(int64_t) * (size_t)g.nsp);
    return eo_set_out(c, 0, x->dtype, x->ndim, shape);
}

/* col[(ci, kpos), opos] for one image's channel group. */
static void im2col(const float *x, int64_t cin, const geom *g, float *col) {
    int64_t kn = prod(g->k, g->nsp), on = prod(g->out, g->nsp), in_n = prod(g->in, g->nsp);
    for (int64_t ci = 0; ci < cin; ci++)
        for (int64_t kp = 0; kp < kn; kp++) {
            int64_t kidx[EMBER_MAX_DIMS], r = kp;
            for (int d = g->nsp - 1; d >= 0; d--) kidx[d] = r % g->k[d], r /= g->k[d];
            float *dst = col + (ci * kn + kp) * on;
            const float *src = x + ci * in_n;
            if (g->nsp == 2) { /* the common case without per-element index decomposition */
                for (int64_t oh = 0; oh < g->out[0]; oh++) {
                    int64_t ih = oh * g->stride[0] - g->pb[0] + kidx[0] * g->dil[0];
                    float *d = dst + oh * g->out[1];
                    if (ih < 0 || ih >= g->in[0]) {
                        memset(d, 0, sizeof(float) * (size_t)g->out[1]);
                        continue;
                    }
                    for (int64_t ow = 0; ow < g->out[1]; ow++) {
                        int64_t iw = ow * g->stride[1] - g->pb[1] + kidx[1] * g->dil[1];
                        d[ow] = iw < 0 || iw >= g->in[1] ? 0 : src[ih * g->in[1] + iw];
                    }
                }
                continue;
            }
            for (int64_t op = 0; op < on; op++) {
                int64_t o = op, off = 0, mul = 1;
                bool inside = true;
                for (int d = g->nsp - 1; d >= 0; d--) {
                    int64_t od = o % g->out[d];
                    o /= g->out[d];
                    int64_t id = od * g->stride[d] - g->pb[d] + kidx[d] * g->dil[d];
                    if (id < 0 || id >= g->in[d]) inside = false;
                    off += id * mul;
                    mul *= g->in[d];
                }
                dst[op] = inside ? src[off] : 0;
            }
        }
}

/* Weights prepared for ember_conv2d: packed once (BatchNormalization folded in) and kept in c->prep, with the
 * geometry they were packed for: a run whose input has the shape `x` then takes `cs` as it is instead of
 * deriving it again from the attributes (six lookups per step, each a scan of the node's attribute names, on
 * the thread the pool's workers wait for). */
typedef struct conv_prep {
    ember_conv2d_weights *w;
    float *bias; /* cout entries, or NULL */
    ember_conv2d_shape cs;
    int ndim;
    int64_t x[EMBER_MAX_DIMS];
} conv_prep;

static void conv_prep_free(void *p) {
    conv_prep *cp = p;
    if (!cp) return;
    ember_conv2d_weights_free(cp->w);
    ember_free(cp->bias);
    ember_free(cp);
}

static conv_prep *conv_prep_make(const eo_ctx *c, const ember_conv2d_shape *cs, const float *W, const float *b) {
    const eo_fuse *f = c->fuse;
    const float *sc = f ? f->bn_scale : NULL, *sh = f ? f->bn_shift : NULL;
    conv_prep *cp = ember_calloc(1, sizeof *cp);
    if (!cp) return NULL;
    int64_t per = cs->cin / cs->groups * cs->kh * cs->kw;
    float *tmp = NULL;
    if (sc) { /* W' = W * scale[oc], b' = b * scale + shift */
        tmp = ember_malloc(sizeof(float) * (size_t)(cs->cout * per));
        if (!tmp) goto fail;
        for (int64_t oc = 0; oc < cs->cout; oc++)
            for (int64_t k = 0; k < per; k++) tmp[oc * per + k] = W[oc * per + k] * sc[oc];
        W = tmp;
    }
    cp->cs = *cs;
    const ember_tensor *x = eo_in(c, 0);
    cp->ndim = x->ndim;
    memcpy(cp->x, x->shape, sizeof(int64_t) * (size_t)x->ndim);
    cp->w = ember_conv2d_weights_create(cs, W, c->store);
    ember_free(tmp);
    if (!cp->w) goto fail;
    if (b || sc) {
        if (!(cp->bias = ember_malloc(sizeof(float) * (size_t)cs->cout))) goto fail;
        for (int64_t oc = 0; oc < cs->cout; oc++) {
            float v = b ? b[oc] : 0.0f;
            cp->bias[oc] = sc ? v * sc[oc] + sh[oc] : v;
        }
    }
    return cp;
fail:
    conv_prep_free(cp);
    return NULL;
}

/* The kernels' geometry for 1 or 2 spatial dims (1-D as a 1 x W image). */
static ember_conv2d_shape conv_shape(const ember_tensor *x, const ember_tensor *w, const geom *g, int64_t group) {
    bool two = g->nsp == 2;
    return (ember_conv2d_shape){
        .batch = x->shape[0], .cin = x->shape[1], .h = two ? g->in[0] : 1, .w = g->in[g->nsp - 1],
        .cout = w->shape[0], .oh = two ? g->out[0] : 1, .ow = g->out[g->nsp - 1],
        .kh = two ? g->k[0] : 1, .kw = g->k[g->nsp - 1], .stride_h = two ? g->stride[0] : 1,
        .stride_w = g->stride[g->nsp - 1], .dil_h = two ? g->dil[0] : 1, .dil_w = g->dil[g->nsp - 1],
        .pad_t = two ? g->pb[0] : 0, .pad_l = g->pb[g->nsp - 1], .groups = group,
    };
}

void conv_prepare(eo_ctx *c) {
    const ember_tensor *x = eo_in(c, 0), *w = eo_in(c, 1), *b = eo_in(c, 2);
    if (!x || !w || x->dtype != EMBER_DTYPE_F32 || w->dtype != x->dtype || (b && b->dtype != x->dtype)) return;
    if (!eo_in_const(c, 1) || (b && !eo_in_const(c, 2)) || w->ndim != x->ndim) return;
    geom g;
    int64_t group = eo_attr_int(c, "group", 1);
    if (geom_make(c, x, w->shape + 2, false, &g) || g.nsp > 2 || group < 1) return;
    ember_conv2d_shape cs = conv_shape(x, w, &g, group);
    conv_prep *cp = conv_prep_make(c, &cs, w->data, b ? b->data : NULL);
    if (cp) *c->prep = (eo_prep){cp, conv_prep_free};
    if (cp) eo_drop_input(c, 1);
}

/* The step's fused activation and residual as the kernels' epilogue. */
static ember_epilogue conv_epilogue(const eo_ctx *c) {
    const eo_fuse *f = c->fuse;
    ember_epilogue ep = {0};
    if (f) {
        ep.act = f->act;
        ep.residual = f->residual >= 0 ? c->in[f->residual]->t.data : NULL;
        ep.residual_after_act = f->residual_after_act;
    }
    return ep;
}

/* The fused MaxPool (eo_fuse.maxpool) from a conv output of h x w planes into y. */
static ember_pooling2d fused_pool(const eo_ctx *c, const ember_tensor *y, int64_t h, int64_t w) {
    const eo_fuse *f = c->fuse;
    bool two = y->ndim == 4;
    ember_pooling2d p = {.batch = y->shape[0], .c = y->shape[1], .h = h, .w = w, .kh = f->pool.kh, .kw = f->pool.kw};
    p.oh = two ? y->shape[2] : 1, p.ow = y->shape[y->ndim - 1];
    p.stride_h = f->pool.sh, p.stride_w = f->pool.sw, p.dil_h = f->pool.dh, p.dil_w = f->pool.dw;
    p.pad_t = f->pool.pt, p.pad_l = f->pool.pl;
    return p;
}

static void conv_pool(const eo_ctx *c, const float *full, ember_tensor *y, int64_t h, int64_t w) {
    ember_pooling2d pg = fused_pool(c, y, h, w);
    if (eo_reference() || !ember_maxpool2d_rows(c->pool, &pg, full, y->data))
        ember_maxpool2d(c->pool, &pg, full, y->data);
}

/* Producer p's 1x1 conv run band by band inside this depthwise one (ember_conv2d_chain), when both have
 * their weights packed at planning time; false when not done (nothing written). */
static bool conv_chained(eo_ctx *c, eo_ctx *p) {
    const ember_tensor *x = eo_in(c, 0), *w = eo_in(c, 1), *px = eo_in(p, 0), *pw = eo_in(p, 1);
    const conv_prep *cp = c->prep ? c->prep->p : NULL, *pp = p->prep ? p->prep->p : NULL;
    geom g, pg;
    if (!cp || !pp || eo_reference() || !x || !w || !px || !pw || x->dtype != EMBER_DTYPE_F32 ||
        px->dtype != EMBER_DTYPE_F32 || x->ndim != 4 || px->ndim != 4 || geom_make(c, x, w->shape + 2, false, &g) ||
        geom_make(p, px, pw->shape + 2, false, &pg))
        return false;
    ember_conv2d_shape cs = conv_shape(x, w, &g, eo_attr_int(c, "group", 1));
    ember_conv2d_shape ps = conv_shape(px, pw, &pg, eo_attr_int(p, "group", 1));
    cs.out_panel = c->panel_out;
    ember_epilogue pe = conv_epilogue(p), ep = conv_epilogue(c);
    bool pooled = c->fuse && c->fuse->maxpool;
    if (pooled) { /* the chain pools its bands 2x2 only */
        ember_pooling2d pool = fused_pool(c, eo_out(c, 0), cs.oh, cs.ow);
        if (!ember_pool2d_is_2x2(&pool)) return false;
    }
    return ember_conv2d_chain(c->pool, &ps, pp->w, pp->bias, &pe, &cs, cp->w, cp->bias, &ep, px->data,
                              eo_out(c, 0)->data, pooled);
}

/* f32 Conv with 1 or 2 spatial dims on ember_conv2d, with c->fuse in its epilogue. */
static ember_status conv_fast(eo_ctx *c, ember_conv2d_shape cs) {
    const ember_tensor *x = eo_in(c, 0), *w = eo_in(c, 1), *b = eo_in(c, 2);
    ember_tensor *y = eo_out(c, 0);
    cs.in_panel = c->panel_in, cs.out_panel = c->panel_out;
    bool keep = c->prep && eo_in_const(c, 1) && (!b || eo_in_const(c, 2));
    conv_prep *cp = keep ? c->prep->p : NULL;
    if (!cp) {
        cp = conv_prep_make(c, &cs, w->data, b ? b->data : NULL);
        if (!cp) return ember_fail(EMBER_ERR_NOMEM, "Conv: out of memory packing %lld weights", (long long)ember_tensor_count(w));
        if (keep) *c->prep = (eo_prep){cp, conv_prep_free}, eo_drop_input(c, 1);
    }
    ember_epilogue ep = conv_epilogue(c);
    ember_status s = EMBER_OK;
    bool pooled = c->fuse && c->fuse->maxpool;
    ember_pooling2d pg = pooled ? fused_pool(c, y, cs.oh, cs.ow) : (ember_pooling2d){0};
    if (c->panel_out && pooled) /* graph/fuse.c panel_convs leaves pooled ones NCHW */
        s = ember_fail(EMBER_ERR_INTERNAL, "Conv: a pooled output in the panel layout");
    else if (!pooled) {
        s = ember_conv2d(c->pool, &cs, cp->w, x->data, cp->bias, y->data, &ep);
    } else if (!(ember_pool2d_is_2x2(&pg) &&
                 ember_conv2d_pool2(c->pool, &cs, cp->w, x->data, cp->bias, y->data, &ep)) &&
               !ember_conv2d_maxpool(c->pool, &cs, cp->w, x->data, cp->bias, &ep, &pg, y->data)) {
        /* depthwise convs pool their bands, stems their rows: others write the whole output first */
        float *full = eo_scratch(c, sizeof(float) * (size_t)(cs.batch * cs.cout * cs.oh * cs.ow));
        if (full && !(s = ember_conv2d(c->pool, &cs, cp->w, x->data, cp->bias, full, &ep))) {
            conv_pool(c, full, y, cs.oh, cs.ow);
        } else if (!full) {
            s = ember_fail(EMBER_ERR_NOMEM, "Conv: out of memory for the output before its MaxPool");
        }
    }
    if (!keep) conv_prep_free(cp);
    return s;
}

ember_status conv_run(eo_ctx *c) {
    const ember_tensor *x = eo_in(c, 0), *w = eo_in(c, 1), *b = eo_in(c, 2);
    ember_tensor *y = eo_out(c, 0);
    if (c->producer) { /* chained (see eo_ctx): band by band if it can be, else the producer's conv first */
        eo_ctx *p = c->producer;
        c->producer = NULL;
        if (conv_chained(c, p)) return EMBER_OK;
        const ember_tensor *o = eo_out(p, 0); /* the plan gave it no memory */
        ember_tensor *t, meta = o ? *o : (ember_tensor){0}; /* (allocating clears *o) */
        ember_status s = o ? eo_alloc_out(p, 0, meta.dtype, meta.ndim, meta.shape, &t) : EMBER_OK;
        if (!s) s = conv_run(p);
        if (s) return ember_fail_context(s, "node '%s' (run for the next Conv): ", p->node->name);
    }
    if (eo_is_half(x->dtype)) return eo_run_as_f32(c, conv_run);
    if (x->dtype != EMBER_DTYPE_F32) return ember_fail(EMBER_ERR_UNSUPPORTED, "Conv of %s", ember_dtype_name(x->dtype));
    const conv_prep *cp = c->prep ? c->prep->p : NULL;
    if (cp && !eo_reference() && x->ndim == cp->ndim &&
        !memcmp(x->shape, cp->x, sizeof(int64_t) * (size_t)x->ndim))
        return conv_fast(c, cp->cs);
    geom g;
    ember_status s = geom_make(c, x, w->shape + 2, false, &g);
    if (s) return s;
    if (w->dtype != x->dtype || (b && b->dtype != x->dtype))
        return ember_fail(EMBER_ERR_SHAPE, "Conv: weights and bias must have the input's type");
    /* (the reference path takes no panels: a plan that put a tensor in them and is run with the reference ops
     * writes and reads it as NCHW at both ends, in a buffer sized for the panels) */
    if (g.nsp <= 2 && !eo_reference()) return conv_fast(c, conv_shape(x, w, &g, eo_attr_int(c, "group", 1)));
    int64_t group = eo_attr_int(c, "group", 1), N = x->shape[0], C = x->shape[1], M = w->shape[0];
    int64_t cg = C / group, mg = M / group, kn = prod(g.k, g.nsp), on = prod(g.out, g.nsp), in_n = prod(g.in, g.nsp);
    float *col = eo_scratch(c, sizeof(float) * (size_t)(cg * kn * on));
    if (!col) return ember_fail(EMBER_ERR_NOMEM, "Conv: out of memory for %lld x %lld columns", (long long)(cg * kn), (long long)on);
    bool pooled = c->fuse && c->fuse->maxpool;
    float *Y = pooled ? eo_scratch(c, sizeof(float) * (size_t)(N * M * on)) : y->data;
    if (!Y) return ember_fail(EMBER_ERR_NOMEM, "Conv: out of memory for the output before its MaxPool");
    const float *X = x->data, *W = w->data;
    for (int64_t n = 0; n < N; n++)
        for (int64_t gi = 0; gi < group; gi++) {
            im2col(X + (n * C + gi * cg) * in_n, cg, &g, col);
            float *yg = Y + (n * M + gi * mg) * on;
            for (int64_t m = 0; m < mg; m++) {
                float bias = b ? ((const float *)b->data)[gi * mg + m] : 0;
                for (int64_t p = 0; p < on; p++) yg[m * on + p] = bias;
            }
            ember_sgemm(c->pool, false, false, mg, on, cg * kn, 1.0f, W + gi * mg * cg * kn, cg * kn, col, on, 1.0f, yg, on, NULL);
        }
    eo_fuse_apply(c, Y, N, M, on);
    if (pooled) conv_pool(c, Y, y, g.nsp == 2 ? g.out[0] : 1, g.out[g.nsp - 1]);
    return EMBER_OK;
}

/* --- ConvTranspose ------------------------------------------------------------------------------------ */
static ember_status convt_geom(eo_ctx *c, const ember_tensor *x, const ember_tensor *w, geom *g, int64_t *outshape) {
    ember_status s = geom_make(c, x, w->shape + 2, true, g);
    if (s) return s;
    const int64_t *os, *op;
    int nos = eo_attr_ints(c, "output_shape", &os), nop = eo_attr_ints(c, "output_padding", &op);
    const char *ap = eo_attr_str(c, "auto_pad", "NOTSET");
    for (int i = 0; i < g->nsp; i++) {
        int64_t ext = (g->k[i] - 1) * g->dil[i] + 1, opad = nop > 0 ? op[i] : 0;
        int64_t full = g->stride[i] * (g->in[i] - 1) + opad + ext;
        if (nos > 0) {
            int64_t want = os[nos - g->nsp + i], total = full - want;
            bool lower = !strcmp(ap, "SAME_LOWER");
            g->pb[i] = total < 0 ? 0 : lower ? total - total / 2 : total / 2; /* negative: extra output padding */
            g->pe[i] = total - g->pb[i];
        } else if (!strcmp(ap, "SAME_UPPER") || !strcmp(ap, "SAME_LOWER")) {
            int64_t want = g->in[i] * g->stride[i], total = full - want;
            if (total < 0) total = 0;
            g->pb[i] = !strcmp(ap, "SAME_UPPER") ? total / 2 : total - total / 2;
            g->pe[i] = total - g->pb[i];
        }
        g->out[i] = full - g->pb[i] - g->pe[i];
    }
    int64_t group = eo_attr_int(c, "group", 1);
    outshape[0] = x->shape[0];
    outshape[1] = w->shape[1] * group;
    memcpy(outshape + 2, g->out, sizeof(int64_t) * (size_t)g->nsp);
    return EMBER_OK;
}

ember_status conv_transpose_infer(eo_ctx *c) {
    geom g;
    int64_t shape[EMBER_MAX_DIMS];
    ember_status s = convt_geom(c, eo_in(c, 0), eo_in(c, 1), &g, shape);
    if (s) return s;
    return eo_set_out(c, 0, eo_dtype(c, 0), eo_in(c, 0)->ndim, shape);
}

ember_status conv_transpose_run(eo_ctx *c) {
    const ember_tensor *x = eo_in(c, 0), *w = eo_in(c, 1), *b = eo_in(c, 2);
    ember_tensor *y = eo_out(c, 0);
    if (eo_is_half(x->dtype)) return eo_run_as_f32(c, conv_transpose_run);
    if (x->dtype != EMBER_DTYPE_F32) return ember_fail(EMBER_ERR_UNSUPPORTED, "ConvTranspose of %s", ember_dtype_name(x->dtype));
    geom g;
    int64_t shape[EMBER_MAX_DIMS];
    ember_status s = convt_geom(c, x, w, &g, shape);
    if (s) return s;
    int64_t group = eo_attr_int(c, "group", 1), N = x->shape[0], C = x->shape[1], M = shape[1];
    int64_t cg = C / group, mg = M / group, kn = prod(g.k, g.nsp), on = prod(g.out, g.nsp), in_n = prod(g.in, g.nsp);
    const float *X = x->data, *W = w->data;
    float *Y = y->data;
    for (int64_t n = 0; n < N; n++)
        for (int64_t m = 0; m < M; m++)
            for (int64_t p = 0; p < on; p++) Y[(n * M + m) * on + p] = b ? ((const float *)b->data)[m] : 0;
    /* scatter: each input position adds w * x into the output window */
    for (int64_t n = 0; n < N; n++)
        for (int64_t ci = 0; ci < C; ci++) {
            int64_t gi = ci / cg;
            for (int64_t ip = 0; ip < in_n; ip++) {
                float xv = X[(n * C + ci) * in_n + ip];
                int64_t iidx[EMBER_MAX_DIMS], r = ip;
                for (int d = g.nsp - 1; d >= 0; d--) iidx[d] = r % g.in[d], r /= g.in[d];
                for (int64_t kp = 0; kp < kn; kp++) {
                    int64_t k = kp, off = 0, mul = 1;
                    bool inside = true;
                    for (int d = g.nsp - 1; d >= 0; d--) {
                        int64_t kd = k % g.k[d];
                        k /= g.k[d];
                        int64_t od = iidx[d] * g.stride[d] + kd * g.dil[d] - g.pb[d];
                        if (od < 0 || od >= g.out[d]) inside = false;
                        off += od * mul;
                        mul *= g.out[d];
                    }
                    if (!inside) continue;
                    for (int64_t mo = 0; mo < mg; mo++)
                        Y[(n * M + gi * mg + mo) * on + off] += xv * W[((ci * mg) + mo) * kn + kp];
                }
            }
        }
    return EMBER_OK;
}

/* --- pooling ------------------------------------------------------------------------------------------ */
typedef enum { P_MAX, P_AVG, P_LP } poolop;

static ember_status pool_geom(eo_ctx *c, const ember_tensor *x, bool global, geom *g) {
    if (!global) return geom_make(c, x, NULL, false, g);
    if (x->ndim < 3) return ember_fail(EMBER_ERR_SHAPE, "%s: input must have rank >= 3", c->node->op_type);
    g->nsp = x->ndim - 2;
    for (int i = 0; i < g->nsp; i++) {
        g->in[i] = g->k[i] = x->shape[i + 2];
        g->out[i] = g->stride[i] = g->dil[i] = 1;
        g->pb[i] = g->pe[i] = 0;
    }
    return EMBER_OK;
}

static bool is_global(const eo_ctx *c) { return !strncmp(c->node->op_type, "Global", 6); }

ember_status pool_infer(eo_ctx *c) {
    const ember_tensor *x = eo_in(c, 0);
    geom g;
    ember_status s = pool_geom(c, x, is_global(c), &g);
    if (s) return s;
    int64_t shape[EMBER_MAX_DIMS] = {x->shape[0], x->shape[1]};
    memcpy(shape + 2, g.out, sizeof(int64_t) * (size_t)g.nsp);
    s = eo_set_out(c, 0, x->dtype, x->ndim, shape);
    if (!s && c->nout > 1) s = eo_set_out(c, 1, EMBER_DTYPE_I64, x->ndim, shape);
    return s;
}

static ember_status pool_run(eo_ctx *c, poolop op) {
    const ember_tensor *x = eo_in(c, 0);
    ember_tensor *y = eo_out(c, 0), *ind = eo_out(c, 1);
    if (eo_is_half(x->dtype)) return eo_run_as_f32(c, op == P_MAX ? maxpool_run : op == P_AVG ? avgpool_run : lppool_run);
    geom g;
    ember_status s = pool_geom(c, x, is_global(c), &g);
    if (s) return s;
    bool include_pad = eo_attr_int(c, "count_include_pad", 0), col_major = eo_attr_int(c, "storage_order", 0);
    double p = (double)eo_attr_int(c, "p", 2);
    if (x->dtype == EMBER_DTYPE_F32 && op != P_LP && !ind && !eo_reference()) { /* the kernels' pooling */
        int64_t rows = x->shape[0] * x->shape[1];
        if (is_global(c)) {
            (op == P_MAX ? ember_global_maxpool : ember_global_avgpool)(c->pool, rows, prod(g.in, g.nsp), x->data, y->data);
            return EMBER_OK;
        }
        if (g.nsp <= 2) {
            bool two = g.nsp == 2;
            int l = g.nsp - 1;
            ember_pooling2d pg = {
                .batch = x->shape[0], .c = x->shape[1], .h = two ? g.in[0] : 1, .w = g.in[l], .oh = two ? g.out[0] : 1,
                .ow = g.out[l], .kh = two ? g.k[0] : 1, .kw = g.k[l], .stride_h = two ? g.stride[0] : 1,
                .stride_w = g.stride[l], .dil_h = two ? g.dil[0] : 1, .dil_w = g.dil[l], .pad_t = two ? g.pb[0] : 0,
                .pad_l = g.pb[l], .pad_b = two ? g.pe[0] : 0, .pad_r = g.pe[l], .count_include_pad = include_pad,
            };
            if (op == P_AVG) ember_avgpool2d(c->pool, &pg, x->data, y->data);
            else if (!ember_maxpool2d_rows(c->pool, &pg, x->data, y->data)) ember_maxpool2d(c->pool, &pg, x->data, y->data);
            return EMBER_OK;
        }
    }
    int64_t planes = x->shape[0] * x->shape[1], in_n = prod(g.in, g.nsp), on = prod(g.out, g.nsp);
    for (int64_t pl = 0; pl < planes; pl++)
        for (int64_t o = 0; o < on; o++) {
            int64_t oidx[EMBER_MAX_DIMS], r = o, lo[EMBER_MAX_DIMS], cnt[EMBER_MAX_DIMS];
            for (int d = g.nsp - 1; d >= 0; d--) oidx[d] = r % g.out[d], r /= g.out[d];
            int64_t padded_n = 1, kn = 1;
            for (int d = 0; d < g.nsp; d++) {
                lo[d] = oidx[d] * g.stride[d] - g.pb[d];
                int64_t hi = lo[d] + (g.k[d] - 1) * g.dil[d] + 1, hi_pad = g.in[d] + g.pe[d];
                int64_t hp = hi < hi_pad ? hi : hi_pad;
                padded_n *= (hp - lo[d] + g.dil[d] - 1) / g.dil[d];
                cnt[d] = g.k[d];
                kn *= g.k[d];
            }
            double acc = op == P_MAX ? -INFINITY : 0;
            int64_t valid = 0, best = -1;
            for (int64_t kp = 0; kp < kn; kp++) {
                int64_t k = kp, off = 0, mul = 1, coff = 0, cmul = 1;
                bool inside = true;
                for (int d = g.nsp - 1; d >= 0; d--) {
                    int64_t kd = k % cnt[d];
                    k /= cnt[d];
                    int64_t id = lo[d] + kd * g.dil[d];
                    if (id < 0 || id >= g.in[d]) inside = false;
                    off += id * mul;
                    mul *= g.in[d];
                }
                if (!inside) continue;
                if (col_major) {
                    int64_t rr = off;
                    int64_t idx[EMBER_MAX_DIMS];
                    for (int d = g.nsp - 1; d >= 0; d--) idx[d] = rr % g.in[d], rr /= g.in[d];
                    for (int d = 0; d < g.nsp; d++) coff += idx[d] * cmul, cmul *= g.in[d];
                }
                double v = eo_get(x, pl * in_n + off);
                valid++;
                if (op == P_MAX) {
                    if (v > acc || best < 0) acc = v, best = col_major ? coff : off;
                } else if (op == P_AVG) {
                    acc += v;
                } else {
                    acc += pow(fabs(v), p);
                }
            }
            double res = op == P_MAX ? acc : op == P_AVG ? acc / (double)(include_pad ? padded_n : valid) : pow(acc, 1 / p);
            eo_put(y, pl * on + o, res);
            if (ind) ((int64_t *)ind->data)[pl * on + o] = pl * in_n + (best < 0 ? 0 : best);
        }
    return EMBER_OK;
}

ember_status maxpool_run(eo_ctx *c) { return pool_run(c, P_MAX); }
ember_status avgpool_run(eo_ctx *c) { return pool_run(c, P_AVG); }
ember_status lppool_run(eo_ctx *c) { return pool_run(c, P_LP); }
