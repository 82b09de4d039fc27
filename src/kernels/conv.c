/* 2-D convolution (NCHW f32): depthwise direct kernels, 1x1 as a plain GEMM, everything else as GEMM with
 * implicit im2col (input patches are packed straight into the GEMM's B panels). */
#include "kernels/isa.h"

#include <string.h>

int64_t ember_conv_out_size(int64_t in, int64_t k, int64_t stride, int64_t dil, int64_t pad_begin,
                            int64_t pad_end) {
    int64_t span = dil * (k - 1) + 1, room = in + pad_begin + pad_end - span;
    return room < 0 ? 0 : room / stride + 1;
}

struct ember_conv2d_weights {
    const ember_kernel_table *kt; /* the table the weights were packed for */
    bool depthwise;  /* one input channel per group: direct kernel */
    bool wino;       /* Winograd F(4x4, 3x3): data holds the 36 packed transformed matrices */
    bool direct;     /* few taps (stem convs): data is [cout/8 blocks][k taps][8] for the table's conv_rows8 */
    int64_t k;       /* GEMM depth per group: cin/groups * kh * kw */
    int64_t gstride; /* floats between groups in `data` */
    float *data;     /* depthwise: W as given; otherwise packed A per group */
};

enum { DW_MAX_K = 64, DW_MAX_STRIDE = 8 }; /* kernel rows or columns; phase planes (stride_w) */

/* One input channel per group; a lone 1->1 conv (YuNet's heads have several) is depthwise too, and the direct
 * kernel beats packing a 9-row patch matrix for a one-row GEMM. */
static bool is_depthwise(const ember_conv2d_shape *g) {
    return g->groups == g->cin && (g->groups > 1 || g->cout == 1) && g->kh <= DW_MAX_K && g->kw <= DW_MAX_K &&
           g->kh * g->kw <= EMBER_DW_MAX_TAPS && g->stride_w <= DW_MAX_STRIDE;
}

/* Direct convolution (table conv_rows8) for ungrouped convs with few input taps, where packing a patch matrix
 * for a short GEMM costs as much as the FMAs: the 3-channel stems (3x3 stride 2) of MobileNet, YuNet,
 * SqueezeNet, MobileFaceNet. */
enum { DIRECT_MAX_TAPS = 32, DIRECT_MAX_COUT = 64, DIRECT_MIN_OW = 16 };

static bool direct_suits(const ember_kernel_table *k, const ember_conv2d_shape *g) {
    return k->conv_rows8 && g->groups == 1 && g->cin * g->kh * g->kw <= DIRECT_MAX_TAPS && g->kh * g->kw > 1 &&
           g->cout <= DIRECT_MAX_COUT && g->stride_w <= 2 && g->ow >= DIRECT_MIN_OW;
}

ember_conv2d_weights *ember_conv2d_weights_create_k(const ember_kernel_table *k, const ember_conv2d_shape *g,
                                                    const float *W) {
    ember_conv2d_weights *w = ember_calloc(1, sizeof *w);
    if (!w) return NULL;
    w->kt = k;
    int64_t cout_g = g->cout / g->groups;
    w->depthwise = is_depthwise(g);
    w->wino = !w->depthwise && ember_wino_suits(g);
    w->direct = !w->depthwise && !w->wino && direct_suits(k, g);
    w->k = g->cin / g->groups * g->kh * g->kw;
    w->gstride = w->depthwise ? cout_g * w->k
                 : w->direct  ? (g->cout + 7) / 8 * 8 * w->k
                 : w->wino    ? ember_wino_weights_floats(k, g)
                              : ember_packed_floats(k, false, cout_g, w->k);
    w->data = ember_malloc_aligned((size_t)(w->gstride * g->groups) * sizeof(float));
    if (!w->data) {
        ember_free(w);
        return NULL;
    }
    if (w->depthwise) {
        memcpy(w->data, W, (size_t)(g->cout * w->k) * sizeof(float));
        return w;
    }
    if (w->direct) { /* [block][tap][8], output channels past cout zero */
        for (int64_t oc = 0; oc < (g->cout + 7) / 8 * 8; oc++)
            for (int64_t t = 0; t < w->k; t++)
                w->data[(oc / 8 * w->k + t) * 8 + oc % 8] = oc < g->cout ? W[oc * w->k + t] : 0.0f;
        return w;
    }
    if (w->wino) {
        if (ember_wino_pack_weights(k, g, W, w->data)) return w;
        ember_conv2d_weights_free(w);
        return NULL;
    }
    for (int64_t grp = 0; grp < g->groups; grp++) {
        ember_gemm_operand o = {.data = W + grp * cout_g * w->k, .ld = w->k};
        ember_gemm_src s = {.pack = ember_pack_operand_a, .src = &o};
        ember_pack_whole(k, NULL, false, &s, cout_g, w->k, w->data + grp * w->gstride);
    }
    return w;
}

ember_conv2d_weights *ember_conv2d_weights_create(const ember_conv2d_shape *g, const float *W) {
    return ember_conv2d_weights_create_k(ember_kernels(), g, W);
}

void ember_conv2d_weights_free(ember_conv2d_weights *w) {
    if (!w) return;
    ember_free_aligned(w->data);
    ember_free(w);
}

/* --- implicit im2col ----------------------------------------------------------------------------------- */

typedef struct {
    const ember_conv2d_shape *g;
    const float *x; /* this group's first input channel */
} im2col_src;

/* Packs output pixels [p0, p0+n) x (c, ky, kx) rows [k0, k0+K) of the patch matrix into dst[K][r]. The
 * pixels are split into runs on one output row; a run inside its input row is a straight (strided) copy. */
static void pack_im2col(const void *src, int64_t p0, int64_t n, int64_t k0, int64_t K, int r, float *dst) {
    const im2col_src *s = src;
    const ember_conv2d_shape *g = s->g;
    struct { int64_t oy, ox, len, at; } runs[EMBER_NR_MAX];
    int nruns = 0;
    for (int64_t at = 0; at < n;) {
        int64_t p = p0 + at, oy = p / g->ow, ox = p % g->ow, len = g->ow - ox < n - at ? g->ow - ox : n - at;
        runs[nruns].oy = oy, runs[nruns].ox = ox, runs[nruns].len = len, runs[nruns].at = at;
        nruns++;
        at += len;
    }
    int64_t kk = g->kh * g->kw;
    void (*gather)(float *, const float *, int64_t, int64_t) = ember_kernels()->gather;
    for (int64_t k = k0; k < k0 + K; k++, dst += r) {
        int64_t c = k / kk, ky = k % kk / g->kw, kx = k % g->kw;
        const float *plane = s->x + c * g->h * g->w;
        for (int i = 0; i < nruns; i++) {
            float *d = dst + runs[i].at;
            int64_t iy = runs[i].oy * g->stride_h - g->pad_t + ky * g->dil_h, len = runs[i].len;
            int64_t ix0 = runs[i].ox * g->stride_w - g->pad_l + kx * g->dil_w;
            if (iy < 0 || iy >= g->h) {
                memset(d, 0, (size_t)len * sizeof *d);
                continue;
            }
            const float *row = plane + iy * g->w;
            if (ix0 >= 0 && ix0 + (len - 1) * g->stride_w < g->w) { /* the whole run inside the row */
                if (g->stride_w == 1) {
                    memcpy(d, row + ix0, (size_t)len * sizeof *d);
                } else {
                    gather(d, row + ix0, len, g->stride_w);
                }
                continue;
            }
            for (int64_t j = 0, ix = ix0; j < len; j++, ix += g->stride_w) d[j] = ix >= 0 && ix < g->w ? row[ix] : 0.0f;
        }
        for (int64_t j = n; j < r; j++) dst[j] = 0.0f;
    }
}

/* --- depthwise direct kernel ------------------------------------------------------------------------- */

/* A task is a band of output rows of one plane (the whole plane when it has at most DW_BAND outputs). The
 * band's input rows are copied into stride_w zero-padded phase planes (padded column % stride_w), so that
 * every tap of every output row reads a contiguous run of one phase plane (the row stride is the pitch), and
 * the band is one dw_block call (weights in registers, bias + ReLU/Clip in the store). Per band only the
 * input positions are copied (one gather_rows call per phase plane: stride 2 deinterleaved on the way) and
 * the rows that fall in the top/bottom padding zeroed; the padding columns are zeroed once per run of tasks.
 * A non-fused epilogue follows each band while it is in cache. (Reading the input in place instead, with the
 * border columns as separate narrow blocks, was slower: the borders cost as much as the interior.) */
enum { DW_BAND = 8192 };

typedef struct {
    const ember_kernel_table *k;
    const ember_conv2d_shape *g;
    const float *w, *in, *bias;
    float *out;
    const ember_epilogue *ep;
    ember_ukernel_post post; /* clamp bounds when fused */
    bool fused;
    int64_t band, nbands; /* output rows per task, tasks per plane */
    int64_t pp, prows;    /* phase plane pitch and rows (padded rows of a band) */
    float *scratch;       /* stride_w phase planes per pool thread */
} dw_job;

/* The non-fused epilogue over output rows [y0, y1) of plane pl (channel oc) while they are in cache. */
static void dw_epilogue(const dw_job *j, float *out, int64_t pl, int64_t oc, int64_t y0, int64_t y1) {
    const ember_conv2d_shape *g = j->g;
    int64_t hw = g->oh * g->ow;
    ember_epilogue e = {.bias = j->bias, .bias_kind = EMBER_BIAS_ROW}; /* ldr 0: residual is this plane's */
    if (j->ep) {
        e.act = j->ep->act;
        e.residual_after_act = j->ep->residual_after_act;
        e.residual = j->ep->residual ? j->ep->residual + pl * hw : NULL;
    }
    ember_epilogue_apply_k(j->k, &e, out + y0 * g->ow, hw, oc, y0 * g->ow, 1, (y1 - y0) * g->ow);
}

static void dw_bands(void *ctx, int64_t begin, int64_t end, int thread) {
    const dw_job *j = ctx;
    const ember_conv2d_shape *g = j->g;
    int64_t mult = g->cout / g->cin, kk = g->kh * g->kw, sh = g->stride_h, sw = g->stride_w, pp = j->pp;
    int64_t psize = j->prows * pp;
    float *ph = j->scratch + thread * sw * psize;
    memset(ph, 0, (size_t)(sw * psize) * sizeof(float)); /* the padding columns; copies never write them */
    const float *taps[EMBER_DW_MAX_TAPS];
    for (int64_t ky = 0; ky < g->kh; ky++)
        for (int64_t kx = 0; kx < g->kw; kx++) {
            int64_t ox = kx * g->dil_w;
            taps[ky * g->kw + kx] = ph + ox % sw * psize + ky * g->dil_h * pp + ox / sw;
        }
    /* Input columns x0, x0 + sw, ... go to phase r from column px0 on, nx of them. */
    int64_t x0[DW_MAX_STRIDE], px0[DW_MAX_STRIDE], nx[DW_MAX_STRIDE];
    for (int64_t r = 0; r < sw; r++) {
        x0[r] = ((r - g->pad_l) % sw + sw) % sw, px0[r] = (x0[r] + g->pad_l) / sw;
        nx[r] = (g->w - x0[r] + sw - 1) / sw;
        if (nx[r] > pp - px0[r]) nx[r] = pp - px0[r];
        if (nx[r] < 0) nx[r] = 0;
    }
    ember_ukernel_post post = j->post;
    /* no divisions per task: they cost as much as a 7x7 plane */
    int64_t pl = begin / j->nbands, bi = begin % j->nbands, b = pl / g->cout, oc = pl % g->cout, last = -1;
    for (int64_t task = begin; task < end; task++) {
        int64_t y0 = bi * j->band, y1 = y0 + j->band < g->oh ? y0 + j->band : g->oh;
        int64_t p0 = y0 * sh - g->pad_t; /* input row of phase row 0 */
        int64_t nb = (y1 - y0 - 1) * sh + (g->kh - 1) * g->dil_h + 1, ia = p0 < 0 ? -p0 : 0;
        int64_t ib = g->h - p0 < nb ? g->h - p0 : nb;
        if (ia > nb) ia = nb;
        if (ib < ia) ib = ia;
        if (bi != last) /* rows in the top/bottom padding; the same band index leaves them zero */
            for (int64_t r = 0; r < sw; r++) {
                memset(ph + r * psize, 0, (size_t)(ia * pp) * sizeof(float));
                memset(ph + r * psize + ib * pp, 0, (size_t)((nb - ib) * pp) * sizeof(float));
            }
        last = bi;
        const float *plane = j->in + (b * g->cin + (mult == 1 ? oc : oc / mult)) * g->h * g->w;
        for (int64_t r = 0; r < sw; r++)
            if (ib > ia && nx[r] > 0)
                j->k->gather_rows(ph + r * psize + ia * pp + px0[r], pp, plane + (p0 + ia) * g->w + x0[r],
                                  g->w, ib - ia, nx[r], sw);
        float *out = j->out + (b * g->cout + oc) * g->oh * g->ow;
        post.rbias = j->bias ? j->bias + oc : NULL;
        j->k->dw_block(out + y0 * g->ow, g->ow, taps, j->w + oc * kk, kk, sh * pp, y1 - y0, g->ow,
                       j->fused ? &post : NULL);
        if (!j->fused) dw_epilogue(j, out, b * g->cout + oc, oc, y0, y1);
        if (++bi == j->nbands) {
            bi = 0;
            if (++oc == g->cout) oc = 0, b++;
        }
    }
}

static bool depthwise(const ember_kernel_table *k, ember_pool *pool, const ember_conv2d_shape *g, const float *w,
                      const float *in, const float *bias, float *out, const ember_epilogue *ep) {
    dw_job j = {.k = k, .g = g, .w = w, .in = in, .bias = bias, .out = out, .ep = ep};
    ember_epilogue e = {.bias = bias, .bias_kind = EMBER_BIAS_ROW};
    if (ep) {
        e.act = ep->act;
        e.residual = ep->residual;
    }
    j.fused = ember_ukernel_post_from(&e, &j.post);
    j.band = DW_BAND / g->ow > 0 ? DW_BAND / g->ow : 1;
    if (j.band > g->oh) j.band = g->oh;
    j.nbands = (g->oh + j.band - 1) / j.band;
    j.pp = g->ow + (g->kw - 1) * g->dil_w / g->stride_w;
    j.prows = (j.band - 1) * g->stride_h + (g->kh - 1) * g->dil_h + 1;
    size_t floats = (size_t)(g->stride_w * j.prows * j.pp);
    j.scratch = ember_scratch(EMBER_SCRATCH_CONV, (size_t)ember_pool_threads(pool) * floats * sizeof(float));
    if (!j.scratch) return false;
    ember_pool_for(pool, g->batch * g->cout * j.nbands, 1, dw_bands, &j);
    return true;
}

/* --- direct convolution (few taps) ----------------------------------------------------------------------- */

/* One task = one output row of every channel: a tap pointer per (c, ky, kx) into the input (or a zero row in
 * the top/bottom padding), conv_rows8 over the columns whose whole window is inside the row, a bounds-checked
 * scalar loop for the rest, then the epilogue over the row while it is in cache. */
typedef struct {
    const ember_kernel_table *k;
    const ember_conv2d_shape *g;
    const float *w, *in, *bias, *zero;
    float *out;
    const ember_epilogue *ep;
    int64_t xl, xr;
} direct_job;

static void direct_rows(void *ctx, int64_t begin, int64_t end, int thread) {
    const direct_job *j = ctx;
    const ember_conv2d_shape *g = j->g;
    int64_t ntaps = g->cin * g->kh * g->kw, ohw = g->oh * g->ow, nb = (g->cout + 7) / 8;
    const float *taps[DIRECT_MAX_TAPS];
    int64_t tx[DIRECT_MAX_TAPS]; /* input column of tap t for output column 0 */
    for (int64_t t = 0; t < ntaps; t++) tx[t] = t % g->kw * g->dil_w - g->pad_l;
    ember_epilogue e = {.bias = j->bias, .bias_kind = EMBER_BIAS_ROW};
    if (j->ep) {
        e.act = j->ep->act;
        e.residual_after_act = j->ep->residual_after_act;
        e.ldr = ohw;
    }
    ember_ukernel_post post;
    bool fused = ember_ukernel_post_from(j->ep ? j->ep : &e, &post);
    (void)thread;
    for (int64_t r = begin; r < end; r++) {
        int64_t b = r / g->oh, oy = r % g->oh;
        for (int64_t t = 0; t < ntaps; t++) {
            int64_t c = t / (g->kh * g->kw), ky = t / g->kw % g->kh;
            int64_t iy = oy * g->stride_h - g->pad_t + ky * g->dil_h;
            const float *row = iy >= 0 && iy < g->h ? j->in + ((b * g->cin + c) * g->h + iy) * g->w : j->zero;
            taps[t] = row + tx[t];
        }
        float *out = j->out + b * g->cout * ohw + oy * g->ow;
        for (int64_t ob = 0; ob < nb; ob++) {
            int64_t noc = g->cout - ob * 8 < 8 ? g->cout - ob * 8 : 8;
            const float *w8 = j->w + ob * ntaps * 8;
            float *o = out + ob * 8 * ohw;
            post.rbias = j->bias ? j->bias + ob * 8 : NULL;
            const ember_ukernel_post *pp = fused ? &post : NULL;
            if (j->xr > j->xl) j->k->conv_rows8(o, ohw, noc, w8, taps, ntaps, j->xl, j->xr, g->stride_w, pp);
            for (int64_t x = 0; x < g->ow; x++) { /* the border columns */
                if (x == j->xl && j->xr > j->xl) x = j->xr;
                if (x >= g->ow) break;
                int64_t x0 = x * g->stride_w;
                for (int64_t oc = 0; oc < noc; oc++) {
                    float acc = 0.0f;
                    for (int64_t t = 0; t < ntaps; t++)
                        if (x0 + tx[t] >= 0 && x0 + tx[t] < g->w) acc += taps[t][x0] * w8[t * 8 + oc];
                    if (pp) {
                        acc += pp->rbias ? pp->rbias[oc] : 0.0f;
                        acc = acc < pp->lo ? pp->lo : acc; /* NaN stays */
                        acc = acc > pp->hi ? pp->hi : acc;
                    }
                    o[oc * ohw + x] = acc;
                }
            }
        }
        if (!fused) {
            e.residual = j->ep && j->ep->residual ? j->ep->residual + b * g->cout * ohw : NULL;
            ember_epilogue_apply_k(j->k, &e, out, ohw, 0, oy * g->ow, g->cout, g->ow);
        }
    }
}

static bool conv_direct(const ember_kernel_table *k, ember_pool *pool, const ember_conv2d_shape *g, const float *w,
                        const float *in, const float *bias, float *out, const ember_epilogue *ep) {
    float *zero = ember_scratch(EMBER_SCRATCH_CONV, (size_t)(g->w + 1) * sizeof(float));
    if (!zero) return false;
    memset(zero, 0, (size_t)(g->w + 1) * sizeof(float));
    direct_job j = {k, g, w, in, bias, zero, out, ep, 0, 0};
    /* first column whose window starts at or after input column 0, one past the last whose window ends
     * inside the row */
    j.xl = (g->pad_l + g->stride_w - 1) / g->stride_w;
    if (j.xl > g->ow) j.xl = g->ow;
    int64_t room = g->w - 1 + g->pad_l - (g->kw - 1) * g->dil_w; /* x * stride_w <= room */
    j.xr = room < 0 ? 0 : room / g->stride_w + 1;
    if (j.xr > g->ow) j.xr = g->ow;
    ember_pool_for(pool, g->batch * g->oh, 1, direct_rows, &j);
    return true;
}

/* --- entry points ---------------------------------------------------------------------------------------- */

static void conv_gemm(const ember_kernel_table *k, ember_pool *pool, const ember_conv2d_shape *g,
                      const ember_conv2d_weights *w, const float *in, const float *bias, float *out,
                      const ember_epilogue *ep) {
    int64_t cin_g = g->cin / g->groups, cout_g = g->cout / g->groups, ohw = g->oh * g->ow;
    bool plain = g->kh == 1 && g->kw == 1 && g->stride_h == 1 && g->stride_w == 1 && g->pad_t == 0 &&
                 g->pad_l == 0 && g->oh == g->h && g->ow == g->w;
    for (int64_t b = 0; b < g->batch; b++)
        for (int64_t grp = 0; grp < g->groups; grp++) {
            const float *x = in + (b * g->cin + grp * cin_g) * g->h * g->w;
            float *c = out + (b * g->cout + grp * cout_g) * ohw;
            ember_gemm_operand xo = {.data = x, .ld = ohw};
            im2col_src is = {g, x};
            ember_gemm_src A = {.packed = w->data + grp * w->gstride};
            ember_gemm_src B = plain ? (ember_gemm_src){.pack = ember_pack_operand_b, .src = &xo}
                                     : (ember_gemm_src){.pack = pack_im2col, .src = &is};
            ember_epilogue e = {.bias = bias ? bias + grp * cout_g : NULL, .bias_kind = EMBER_BIAS_ROW};
            if (ep) {
                e.act = ep->act;
                e.residual_after_act = ep->residual_after_act;
                e.residual = ep->residual ? ep->residual + (b * g->cout + grp * cout_g) * ohw : NULL;
                e.ldr = ohw;
            }
            ember_sgemm_run(k, pool, cout_g, ohw, w->k, 1.0f, &A, &B, 0.0f, c, ohw, &e);
        }
}

void ember_conv2d(ember_pool *pool, const ember_conv2d_shape *g, const ember_conv2d_weights *w,
                  const float *in, const float *bias, float *out, const ember_epilogue *ep) {
    if (g->oh <= 0 || g->ow <= 0 || g->batch <= 0 || g->cout <= 0) return;
    if (w->depthwise) {
        if (!depthwise(w->kt, pool, g, w->data, in, bias, out, ep))
            ember_fail(EMBER_ERR_NOMEM, "conv2d: no memory for the phase planes of a %lldx%lld plane",
                       (long long)g->h, (long long)g->w);
        return;
    }
    if (w->direct) {
        if (!conv_direct(w->kt, pool, g, w->data, in, bias, out, ep))
            ember_fail(EMBER_ERR_NOMEM, "conv2d: no memory for a zero row of %lld", (long long)g->w);
        return;
    }
    if (w->wino) {
        if (!ember_wino_conv(w->kt, pool, g, w->data, in, bias, out, ep))
            ember_fail(EMBER_ERR_NOMEM, "conv2d: no memory for Winograd tiles of a %lld->%lld conv",
                       (long long)g->cin, (long long)g->cout);
        return;
    }
    conv_gemm(w->kt, pool, g, w, in, bias, out, ep);
}

void ember_conv2d_ref(const ember_conv2d_shape *g, const float *W, const float *in, const float *bias,
                      float *out, const ember_epilogue *ep) {
    int64_t cin_g = g->cin / g->groups, cout_g = g->cout / g->groups;
    for (int64_t b = 0; b < g->batch; b++)
        for (int64_t oc = 0; oc < g->cout; oc++)
            for (int64_t oy = 0; oy < g->oh; oy++)
                for (int64_t ox = 0; ox < g->ow; ox++) {
                    double acc = bias ? bias[oc] : 0.0;
                    for (int64_t c = 0; c < cin_g; c++)
                        for (int64_t ky = 0; ky < g->kh; ky++)
                            for (int64_t kx = 0; kx < g->kw; kx++) {
                                int64_t iy = oy * g->stride_h - g->pad_t + ky * g->dil_h;
                                int64_t ix = ox * g->stride_w - g->pad_l + kx * g->dil_w;
                                if (iy < 0 || iy >= g->h || ix < 0 || ix >= g->w) continue;
                                int64_t ic = oc / cout_g * cin_g + c;
                                acc += (double)in[((b * g->cin + ic) * g->h + iy) * g->w + ix] *
                                       W[((oc * cin_g + c) * g->kh + ky) * g->kw + kx];
                            }
                    int64_t o = ((b * g->cout + oc) * g->oh + oy) * g->ow + ox;
                    float v = (float)acc;
                    const float *r = ep && ep->residual ? ep->residual + o : NULL;
                    if (r && !ep->residual_after_act) v += *r;
                    if (ep) v = ember_scalar_act(ep->act, v);
                    if (r && ep->residual_after_act) v += *r;
                    out[o] = v;
                }
}
