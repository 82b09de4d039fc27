/* 2-D convolution (NCHW f32): depthwise direct kernels, few input taps (stems, 1x1 with cin <= 16) direct
 * over the table's conv_rows, other 1x1 as a plain GEMM, Winograd for 3x3 stride 1 (winograd.c), everything
 * else as GEMM with implicit im2col (input patches are packed straight into the GEMM's B panels). */
#include "kernels/isa.h"

#include "core/pagestore.h"
#include "ember/cpu.h"
#include "kernels/eltwise.h"

#include <math.h>
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
    bool direct;     /* few taps (stem convs): data is [cout/8 blocks][k taps][8] for the table's conv_rows */
    int64_t k;       /* GEMM depth per group: cin/groups * kh * kw */
    int64_t gstride; /* floats between groups in `data` */
    float *data;     /* depthwise: W as given; otherwise packed A per group */
    float *blocked;  /* depthwise: W again as [cout/8][k][8] (dw_interleaved), in data after W */
    bool heap;       /* data came from the heap (not a page store) */
};

enum { DW_MAX_K = 64, DW_MAX_STRIDE = 8 }; /* kernel rows or columns; phase planes (stride_w) */

/* One input channel per group; a lone 1->1 conv (YuNet's heads have several) is depthwise too, and the direct
 * kernel beats packing a 9-row patch matrix for a one-row GEMM. */
static bool is_depthwise(const ember_conv2d_shape *g) {
    return g->groups == g->cin && (g->groups > 1 || g->cout == 1) && g->kh <= DW_MAX_K && g->kw <= DW_MAX_K &&
           g->kh * g->kw <= EMBER_DW_MAX_TAPS && g->stride_w <= DW_MAX_STRIDE;
}

/* Direct convolution (table conv_rows) for ungrouped convs with few input taps, where packing a patch matrix
 * for a short GEMM costs as much as the FMAs: the 3-channel stems (3x3 stride 2) of MobileNet, YuNet,
 * SqueezeNet, MobileFaceNet. */
enum { DIRECT_MAX_TAPS = 32, DIRECT_MAX_COUT = 64, DIRECT_MIN_OW = 16, DIRECT_MAX_STRIDE = 4, DIRECT_MAX_SPAN = 8 };

/* 1x1 stride-1 unpadded convs with cin <= 32 (DIRECT_MAX_TAPS: YuNet's 16->16 ... 32->64, SqueezeNet's 16->64
 * expand, MobileNetV2's 32->16) take the same kernel with the plane as one long row: the GEMM packs the whole
 * input first, as much copying as there are FMAs at K = 16 (`dump --steps`, 1 thread: YuNet-s 640 Conv_2
 * 3.14 -> 2.28 ms, Conv_6 0.58 -> 0.43, Conv_9 0.80 -> 0.73, SqueezeNet expand1x1 0.13-0.15 -> 0.10), or reads
 * it in place with its rows a plane apart, often a multiple of 4 KB: all in one set of L1. At cin = 32 the
 * GEMM had been the faster until the row kernel stopped spilling its accumulators (YuNet-s 640 Conv_12 + 13
 * chained, 32->32 at 160x160: 0.78x in one process). */
static bool pointwise_direct(const ember_conv2d_shape *g) {
    return g->kh == 1 && g->kw == 1 && g->stride_h == 1 && g->stride_w == 1 && g->pad_t == 0 && g->pad_l == 0 &&
           g->oh == g->h && g->ow == g->w;
}

static bool direct_suits(const ember_kernel_table *k, const ember_conv2d_shape *g) {
    if (!k->conv_rows || g->groups != 1 || g->cin * g->kh * g->kw > DIRECT_MAX_TAPS || g->cout > DIRECT_MAX_COUT)
        return false;
    if (pointwise_direct(g)) return g->oh * g->ow >= DIRECT_MIN_OW;
    return g->kh * g->kw > 1 && g->stride_w <= DIRECT_MAX_STRIDE && g->ow >= DIRECT_MIN_OW &&
           (g->kh - 1) * g->dil_h + 1 <= DIRECT_MAX_SPAN;
}

/* W [cout][k] as [cout/8 blocks][k][8] (EMBER_DWC = 8), output channels past cout zero: the layout of the
 * direct path's conv_rows and of dw_interleaved. */
static void pack_blocks8(float *dst, const float *W, int64_t cout, int64_t k) {
    for (int64_t oc = 0; oc < (cout + 7) / 8 * 8; oc++)
        for (int64_t t = 0; t < k; t++) dst[(oc / 8 * k + t) * 8 + oc % 8] = oc < cout ? W[oc * k + t] : 0.0f;
}

static ember_conv2d_weights *weights_make(const ember_kernel_table *k, const ember_conv2d_shape *g, const float *W,
                                          ember_pagestore *ps) {
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
    int64_t blocked = (g->cout + 7) / 8 * 8 * w->k; /* depthwise: the [block][tap][8] copy follows W */
    w->data = ember_pagestore_keep(ps, (size_t)(w->gstride * g->groups + (w->depthwise ? blocked : 0)) * sizeof(float),
                                   &w->heap);
    if (!w->data) {
        ember_free(w);
        return NULL;
    }
    if (w->depthwise) {
        memcpy(w->data, W, (size_t)(g->cout * w->k) * sizeof(float));
        w->blocked = w->data + g->cout * w->k;
        pack_blocks8(w->blocked, W, g->cout, w->k);
        return w;
    }
    if (w->direct) {
        pack_blocks8(w->data, W, g->cout, w->k);
        return w;
    }
    if (w->wino) {
        ember_wino_pack_weights(k, g, W, w->data);
        return w;
    }
    for (int64_t grp = 0; grp < g->groups; grp++) {
        ember_gemm_operand o = {.data = W + grp * cout_g * w->k, .ld = w->k};
        ember_gemm_src s = {.pack = ember_pack_operand_a, .src = &o};
        ember_pack_whole(k, NULL, false, &s, cout_g, w->k, w->data + grp * w->gstride);
    }
    return w;
}

ember_conv2d_weights *ember_conv2d_weights_create_k(const ember_kernel_table *k, const ember_conv2d_shape *g,
                                                    const float *W) {
    return weights_make(k, g, W, NULL);
}

ember_conv2d_weights *ember_conv2d_weights_create(const ember_conv2d_shape *g, const float *W, ember_pagestore *ps) {
    return weights_make(ember_kernels(), g, W, ps);
}

void ember_conv2d_weights_free(ember_conv2d_weights *w) {
    if (!w) return;
    if (w->heap) ember_free_aligned(w->data);
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

/* --- the panel layout (kernels.h) ---------------------------------------------------------------------- */

int64_t ember_panel_floats(int64_t c, int64_t hw, int64_t nr) {
    int64_t n = nr < 0 ? -nr : nr; /* panels of nr columns, or lined planes: hw rounded up to n either way */
    return (hw + n - 1) / n * n * c;
}

int64_t ember_plane_pitch(int64_t hw, int64_t layout) {
    return layout < 0 ? ember_panel_floats(1, hw, layout) : hw;
}

/* c planes of hw floats from src, src_pitch apart, to dst, dst_pitch apart. */
static void planes_copy(float *dst, int64_t dst_pitch, const float *src, int64_t src_pitch, int64_t c,
                        int64_t hw) {
    for (int64_t ch = 0; ch < c; ch++)
        memcpy(dst + ch * dst_pitch, src + ch * src_pitch, (size_t)hw * sizeof(float));
}

/* Zeroes the columns past hw of the last panel for channels [c0, c0 + nc) (writers fill the rest). */
static void panel_tail_zero(float *img, int64_t c, int64_t hw, int64_t nr, int64_t c0, int64_t nc) {
    for (int64_t ch = c0; hw % nr && ch < c0 + nc; ch++)
        memset(img + (hw / nr * c + ch) * nr + hw % nr, 0, (size_t)(nr - hw % nr) * sizeof(float));
}

void ember_panels_from_nchw(float *dst, const float *src, int64_t c, int64_t hw, int64_t nr) {
    if (nr < 0) {
        planes_copy(dst, ember_plane_pitch(hw, nr), src, hw, c, hw);
        return;
    }
    for (int64_t p = 0; p < hw; p += nr)
        for (int64_t ch = 0; ch < c; ch++)
            memcpy(dst + (p / nr * c + ch) * nr, src + ch * hw + p,
                   (size_t)(hw - p < nr ? hw - p : nr) * sizeof(float));
    panel_tail_zero(dst, c, hw, nr, 0, c);
}

void ember_panels_to_nchw(float *dst, const float *src, int64_t c, int64_t hw, int64_t nr) {
    if (nr < 0) {
        planes_copy(dst, hw, src, ember_plane_pitch(hw, nr), c, hw);
        return;
    }
    for (int64_t p = 0; p < hw; p += nr)
        for (int64_t ch = 0; ch < c; ch++)
            memcpy(dst + ch * hw + p, src + (p / nr * c + ch) * nr,
                   (size_t)(hw - p < nr ? hw - p : nr) * sizeof(float));
}

/* --- depthwise direct kernel ------------------------------------------------------------------------- */

/* A task is a band of output rows of one plane (the whole plane when it has at most DW_BAND outputs). The
 * band's input rows are copied into stride_w zero-padded phase planes (padded column % stride_w), so that
 * every tap of every output row reads a contiguous run of one phase plane (the row stride is the pitch), and
 * the band is one dw_block call (weights in registers, bias + ReLU/Clip in the store). Per band only the
 * input positions are copied (one gather_rows call per phase plane: stride 2 deinterleaved on the way) and
 * the rows that fall in the top/bottom padding zeroed; the padding columns are zeroed once per run of tasks.
 * A non-fused epilogue follows each band while it is in cache. The common 3x3 stride-1 case skips the copy
 * (dw3_suits, below); reading the input in place with the border columns as separate narrow blocks had been
 * slower, the borders costing as much as the interior. */
enum { DW_BAND = 8192 };

typedef struct {
    const ember_kernel_table *k;
    const ember_conv2d_shape *g;
    const float *w, *in, *bias;
    float *out;
    const ember_epilogue *ep;
    ember_ukernel_post post; /* clamp bounds when fused */
    bool fused;
    bool leaky;           /* dwc_leaky: the interleaved kernel applies the slopes (fused stays false) */
    int64_t band, nbands; /* output rows per task, tasks per plane */
    int64_t pp, prows;    /* phase plane pitch and rows (padded rows of a band) */
    float *scratch;       /* stride_w phase planes per pool thread (+ a band of outputs when pooling) */
    float *pooled;        /* non-NULL: the output is max-pooled 2x2 / stride 2 into this, [oh / 2][ow / 2] per plane */
    int64_t panel;  /* g->out_panel > 0 (the interleaved path): the bands are written into out's panels */
    int64_t opitch; /* the per-plane path: floats between output planes (NCHW or EMBER_LINED) */
    bool in_place;        /* dw3_suits: the per-plane path reads the input planes in place */
    int64_t tfloats;      /* scratch floats per thread */
} dw_job;

/* The job's epilogue with bias per row, the residual from `at` on (ldr floats per row). */
static ember_epilogue dw_ep(const dw_job *j, int64_t at, int64_t ldr) {
    ember_epilogue e = {.bias = j->bias, .bias_kind = EMBER_BIAS_ROW, .ldr = ldr};
    if (j->ep) {
        e.act = j->ep->act;
        e.residual_after_act = j->ep->residual_after_act;
        e.residual = j->ep->residual ? j->ep->residual + at : NULL;
    }
    return e;
}

/* The non-fused epilogue over output rows [y0, y1) of plane pl (channel oc), at `out` (row y0 first), while
 * they are in cache. */
static void dw_epilogue(const dw_job *j, float *out, int64_t pl, int64_t oc, int64_t y0, int64_t y1) {
    const ember_conv2d_shape *g = j->g;
    int64_t hw = g->oh * g->ow;
    ember_epilogue e = dw_ep(j, pl * hw, 0); /* ldr 0: residual is this plane's */
    ember_epilogue_apply_k(j->k, &e, out, hw, oc, y0 * g->ow, 1, (y1 - y0) * g->ow);
}

/* 3x3 stride-1 convs padded by one on every side, rows of at least DW3_MIN_OW outputs: the per-plane path
 * reads their input planes in place with the table's dw3, whose edge vectors put the padding column in
 * themselves, and takes a zero row for the padding rows. The copy into padded phase planes had been a third
 * of the time (perf); 1 thread, medians: 64 channels at 80x80 323 -> 204 us, 144 at 56x56 376 -> 229, 32 at
 * 112x112 302 -> 197, 16 at 320x320 1.94 -> 0.95 ms, 64 at 20x20 29 -> 20 us; 192 at 28x28 and smaller
 * planes even. Whole models (two plans in one process, alternated run by run, 1 thread): YuNet-s 320
 * 0.891x, YuNet-s 640 0.961x, RFB-320 0.965x, MobileNetV2 0.980x, MobileFaceNet 0.981x, fr_feature 0.991x. */
enum { DW3_MIN_OW = 8 };

/* The stride-2 twin (the table's dw3s2, AVX-512 only): the input rows are read in place, their even and odd
 * columns split in registers. Outputs ceil(h / 2) x ceil(w / 2) (bottom and right padding 0 or 1) of at least
 * DW3S2_MIN_OUT pixels; smaller ones stay with the interleaved kernel, which writes the 1x1 after it panels.
 * Per conv, warm, 1 thread, against the phase-plane copy (deinterleave_rows + dw_block) or the interleaved
 * kernel: 144 channels 56x56 -> 28x28 84 -> 54 us, 128 there 76 -> 48, 192 at 28x28 -> 14x14 40 -> 20, 256
 * 53 -> 26. In the models (`dump --steps`, 1 thread) the 1x1 after it then reads NCHW, 3-9 us slower: net
 * MobileNetV2 56 -> 28 90 + 66 -> 56 + 69 us, 28 -> 14 33 + 45 -> 21 + 48, MobileFaceNet 80 + 112 -> 48 +
 * 115, 44 + 114 -> 27 + 123; but at 14x14 -> 7x7 the depthwise conv gained 2 us and the 1x1 lost 8-9. */
enum { DW3S2_MIN_OUT = 100 };

static bool dw3s2_suits(const ember_kernel_table *k, const ember_conv2d_shape *g) {
    return k->dw3s2 && g->oh == (g->h + 1) / 2 && g->ow == (g->w + 1) / 2 && g->oh * g->ow >= DW3S2_MIN_OUT;
}

static bool dw3_suits(const ember_kernel_table *k, const ember_conv2d_shape *g) {
    if (g->kh != 3 || g->kw != 3 || g->dil_h != 1 || g->dil_w != 1 || g->pad_t != 1 || g->pad_l != 1)
        return false;
    if (g->stride_h == 2 && g->stride_w == 2) return dw3s2_suits(k, g);
    return k->dw3 && g->stride_h == 1 && g->stride_w == 1 && g->oh == g->h && g->ow == g->w &&
           g->ow >= DW3_MIN_OW;
}

/* Whether a stride-2 depthwise conv takes the table's dw3s2 rows (dw3_suits at stride 2). */
static bool in_place_s2(const ember_kernel_table *k, const ember_conv2d_shape *g) {
    return g->stride_w == 2 && dw3_suits(k, g);
}

/* A thread's phase planes and the taps into them (dw_start), for dw_band calls on any plane. */
typedef struct {
    float *ph;
    float *band; /* when pooling: the band's outputs before the pool */
    int64_t tap[EMBER_DW_MAX_TAPS]; /* where each tap reads, from the first phase plane's start */
    int64_t x0[DW_MAX_STRIDE], px0[DW_MAX_STRIDE], nx[DW_MAX_STRIDE]; /* see dw_start */
    int64_t last; /* first output row of the band whose padding rows the planes hold (-1: none) */
} dw_thread;

static void dw_start(const dw_job *j, float *ph, dw_thread *t) {
    const ember_conv2d_shape *g = j->g;
    int64_t sw = g->stride_w, pp = j->pp, psize = j->prows * pp;
    t->ph = ph;
    t->band = ph + sw * psize;
    t->last = -1;
    memset(ph, 0, (size_t)(sw * psize) * sizeof(float)); /* the padding columns; copies never write them */
    for (int64_t ky = 0; ky < g->kh; ky++)
        for (int64_t kx = 0; kx < g->kw; kx++) {
            int64_t ox = kx * g->dil_w;
            t->tap[ky * g->kw + kx] = ox % sw * psize + ky * g->dil_h * pp + ox / sw;
        }
    /* Input columns x0, x0 + sw, ... go to phase r from column px0 on, nx of them. */
    for (int64_t r = 0; r < sw; r++) {
        t->x0[r] = ((r - g->pad_l) % sw + sw) % sw, t->px0[r] = (t->x0[r] + g->pad_l) / sw;
        t->nx[r] = (g->w - t->x0[r] + sw - 1) / sw;
        if (t->nx[r] > pp - t->px0[r]) t->nx[r] = pp - t->px0[r];
        if (t->nx[r] < 0) t->nx[r] = 0;
    }
}

/* Band bi: output rows [y0, y1); its windows span nb input rows from p0, of which [p0 + ia, p0 + ib) are
 * inside the image (the rest is padding). */
typedef struct {
    int64_t y0, y1, p0, nb, ia, ib;
} dw_rows;

static dw_rows dw_band_rows(const dw_job *j, int64_t bi) {
    const ember_conv2d_shape *g = j->g;
    dw_rows r = {.y0 = bi * j->band};
    r.y1 = r.y0 + j->band < g->oh ? r.y0 + j->band : g->oh;
    r.p0 = r.y0 * g->stride_h - g->pad_t;
    r.nb = (r.y1 - r.y0 - 1) * g->stride_h + (g->kh - 1) * g->dil_h + 1;
    r.ia = r.p0 < 0 ? -r.p0 : 0;
    r.ib = g->h - r.p0 < r.nb ? g->h - r.p0 : r.nb;
    if (r.ia > r.nb) r.ia = r.nb;
    if (r.ib < r.ia) r.ib = r.ia;
    return r;
}

/* Where band br of output channel oc of image b is computed (a thread buffer when pooling), and the fused
 * post for that channel in *post. */
static float *dw_out(const dw_job *j, const dw_thread *t, const dw_rows *br, int64_t b, int64_t oc,
                     ember_ukernel_post *post) {
    const ember_conv2d_shape *g = j->g;
    *post = j->post;
    post->rbias = j->bias ? j->bias + oc : NULL;
    return j->pooled ? t->band : j->out + (b * g->cout + oc) * j->opitch + br->y0 * g->ow;
}

/* After band br has been computed into out (dw_out): the non-fused epilogue, then the pool. */
static void dw_finish(const dw_job *j, const dw_rows *br, float *out, int64_t b, int64_t oc) {
    const ember_conv2d_shape *g = j->g;
    int64_t y0 = br->y0, y1 = br->y1;
    if (!j->fused) dw_epilogue(j, out, b * g->cout + oc, oc, y0, y1);
    if (!j->pooled) return;
    int64_t pw = g->ow / 2, ph = g->oh / 2; /* rows y0 .. y1 pooled in pairs (bands start on even rows) */
    float *po = j->pooled + (b * g->cout + oc) * ph * pw;
    for (int64_t y = y0; y + 1 < y1 && y / 2 < ph; y += 2) {
        const float *pair[2] = {out + (y - y0) * g->ow, out + (y + 1 - y0) * g->ow};
        j->k->pool_row(po + y / 2 * pw, pair, 2, 2, 0, pw, 2, 1, 0, true, 1.0f);
    }
}

/* The band br of output channel oc of image b from its input rows laid out as dw_band's phase planes at
 * `planes` (padding included). */
static void dw_planes(const dw_job *j, const dw_thread *t, const dw_rows *br, const float *planes, int64_t b,
                      int64_t oc) {
    const ember_conv2d_shape *g = j->g;
    int64_t kk = g->kh * g->kw;
    const float *taps[EMBER_DW_MAX_TAPS];
    for (int64_t i = 0; i < kk; i++) taps[i] = planes + t->tap[i];
    ember_ukernel_post post;
    float *out = dw_out(j, t, br, b, oc, &post);
    j->k->dw_block(out, g->ow, taps, j->w + oc * kk, kk, g->stride_h * j->pp, br->y1 - br->y0, g->ow,
                   j->fused ? &post : NULL);
    dw_finish(j, br, out, b, oc);
}

/* The band br of output channel oc of image b by the table's dw3 (dw3_suits) from `row`, input row y0, rows ld
 * floats apart, with the rows above and below the band (zeros where they are padding). */
static void dw3_band(const dw_job *j, const dw_thread *t, const dw_rows *br, const float *row, int64_t ld,
                     const float *above, const float *below, int64_t b, int64_t oc) {
    const ember_conv2d_shape *g = j->g;
    ember_ukernel_post post;
    float *out = dw_out(j, t, br, b, oc, &post);
    j->k->dw3(out, g->ow, row, ld, above, below, br->y1 - br->y0, g->ow, j->w + oc * 9, j->fused ? &post : NULL);
    dw_finish(j, br, out, b, oc);
}

/* The band br of output channel oc of image b by the stride-2 in-place rows (dw3s2_suits), from `row`, input
 * row 2 y0 (the row before it, read when y0 > 0, just above it; rows ld floats apart). */
static void dw_s2_band(const dw_job *j, const dw_thread *t, const dw_rows *br, const float *row, int64_t ld,
                       int64_t b, int64_t oc) {
    const ember_conv2d_shape *g = j->g;
    ember_ukernel_post post;
    float *out = dw_out(j, t, br, b, oc, &post);
    j->k->dw3s2(out, g->ow, row, ld, br->y0 ? row - ld : NULL, g->h - 2 * br->y0, br->y1 - br->y0, g->w,
                g->ow, j->w + oc * 9, j->fused ? &post : NULL);
    dw_finish(j, br, out, b, oc);
}

/* The band br of output channel oc of image b read in place from its input plane (dw3_suits): the rows
 * above and below the plane are the thread's zeroed phase plane, which this path never writes. */
static void dw_in_place(const dw_job *j, const dw_thread *t, const dw_rows *br, const float *plane, int64_t b,
                        int64_t oc) {
    const ember_conv2d_shape *g = j->g;
    int64_t y0 = br->y0, y1 = br->y1, w = g->w;
    if (g->stride_h == 2) {
        dw_s2_band(j, t, br, plane + 2 * y0 * w, w, b, oc);
        return;
    }
    const float *above = y0 ? plane + (y0 - 1) * w : t->ph, *below = y1 < g->h ? plane + y1 * w : t->ph;
    dw3_band(j, t, br, plane + y0 * w, w, above, below, b, oc);
}

/* The band br (dw_band_rows) of the output plane of image b, channel oc, reading input rows [p0 + ia, p0 + ib)
 * from `rows` (row p0 + ia first, g->w floats apart). */
static void dw_band(const dw_job *j, dw_thread *t, const dw_rows *br, const float *rows, int64_t b, int64_t oc) {
    const ember_conv2d_shape *g = j->g;
    int64_t sw = g->stride_w, pp = j->pp, psize = j->prows * pp;
    int64_t y0 = br->y0, nb = br->nb, ia = br->ia, ib = br->ib;
    if (y0 != t->last) /* rows in the top/bottom padding; the same band leaves them zero */
        for (int64_t r = 0; r < sw; r++) {
            memset(t->ph + r * psize, 0, (size_t)(ia * pp) * sizeof(float));
            memset(t->ph + r * psize + ib * pp, 0, (size_t)((nb - ib) * pp) * sizeof(float));
        }
    t->last = y0;
    /* stride 2: both phase planes in one pass, e taking the even input columns, 1 - e the odd */
    if (sw == 2 && ib > ia) {
        int e = t->x0[0] != 0;
        j->k->deinterleave_rows(t->ph + e * psize + ia * pp + t->px0[e],
                                t->ph + (1 - e) * psize + ia * pp + t->px0[1 - e], pp, rows, g->w, ib - ia,
                                t->nx[e], t->nx[1 - e]);
    } else {
        for (int64_t r = 0; r < sw; r++)
            if (ib > ia && t->nx[r] > 0)
                j->k->gather_rows(t->ph + r * psize + ia * pp + t->px0[r], pp, rows + t->x0[r], g->w, ib - ia,
                                  t->nx[r], sw);
    }
    dw_planes(j, t, br, t->ph, b, oc);
}

static void dw_bands(void *ctx, int64_t begin, int64_t end, int thread) {
    const dw_job *j = ctx;
    const ember_conv2d_shape *g = j->g;
    int64_t mult = g->cout / g->cin;
    dw_thread t;
    dw_start(j, j->scratch + thread * j->tfloats, &t);
    /* no divisions per task: they cost as much as a 7x7 plane */
    int64_t bi = begin % j->nbands, pl = begin / j->nbands, b = pl / g->cout, oc = pl % g->cout;
    for (int64_t task = begin; task < end; task++) {
        dw_rows br = dw_band_rows(j, bi);
        const float *plane = j->in + (b * g->cin + (mult == 1 ? oc : oc / mult)) * g->h * g->w;
        if (j->in_place)
            dw_in_place(j, &t, &br, plane, b, oc);
        else
            dw_band(j, &t, &br, plane + (br.p0 + br.ia) * g->w, b, oc);
        if (++bi == j->nbands) {
            bi = 0;
            if (++oc == g->cout) oc = 0, b++;
        }
    }
}

/* The band height, phase-plane size and scratch per thread of a depthwise job for bands of `band` output
 * rows (even when pooling). */
static void dw_size(dw_job *j, int64_t band) {
    const ember_conv2d_shape *g = j->g;
    j->band = band < 1 ? 1 : band > g->oh ? g->oh : band;
    if (j->pooled && j->band % 2) j->band += j->band < g->oh ? 1 : -1; /* the last band may be odd: a row left over */
    if (j->band < 1) j->band = 1;
    j->nbands = (g->oh + j->band - 1) / j->band;
    j->pp = g->ow + (g->kw - 1) * g->dil_w / g->stride_w;
    j->prows = (j->band - 1) * g->stride_h + (g->kh - 1) * g->dil_h + 1;
    j->tfloats = g->stride_w * j->prows * j->pp + (j->pooled ? j->band * g->ow : 0);
}

/* PRelu / LeakyRelu without a residual: the interleaved kernel fuses it, the per-plane one needs a pass after
 * (1 thread: 64 channels at 56x56 0.31 -> 0.20 ms, 128 at 28x28 0.19 -> 0.12, 256 at 14x14 0.10 -> 0.065),
 * so ember_conv2d sends such convs the interleaved way. */
static bool dwc_leaky(const ember_epilogue *ep) {
    return ep && !ep->residual && (ep->act.kind == EMBER_ACT_PRELU || ep->act.kind == EMBER_ACT_LEAKY_RELU);
}

static void dw_init(dw_job *j, const ember_kernel_table *k, const ember_conv2d_shape *g, const float *w,
                    const float *bias, float *out, const ember_epilogue *ep, bool pool2) {
    *j = (dw_job){.k = k, .g = g, .w = w, .bias = bias, .out = pool2 ? NULL : out, .ep = ep,
                  .pooled = pool2 ? out : NULL};
    j->panel = g->out_panel > 0 ? g->out_panel : 0;
    j->opitch = ember_plane_pitch(g->oh * g->ow, g->out_panel);
    ember_epilogue e = {.bias = bias, .bias_kind = EMBER_BIAS_ROW};
    if (ep) {
        e.act = ep->act;
        e.residual = ep->residual;
    }
    j->fused = ember_ukernel_post_from(&e, &j->post);
    j->leaky = dwc_leaky(ep);
}

static bool depthwise(const ember_kernel_table *k, ember_pool *pool, const ember_conv2d_shape *g, const float *w,
                      const float *in, const float *bias, float *out, const ember_epilogue *ep, bool pool2) {
    dw_job j;
    dw_init(&j, k, g, w, bias, out, ep, pool2);
    j.in = in;
    j.in_place = dw3_suits(k, g);
    dw_size(&j, DW_BAND / g->ow);
    j.scratch = ember_scratch(EMBER_SCRATCH_CONV, (size_t)(ember_pool_threads(pool) * j.tfloats) * sizeof(float));
    if (!j.scratch) return false;
    ember_pool_for(pool, g->batch * g->cout * j.nbands, 1, dw_bands, &j);
    return true;
}

/* --- depthwise over channel-interleaved blocks ------------------------------------------------------- */

/* The same convolution with EMBER_DWC channels per vector instead of a row's columns: a task is a band of
 * output rows of a block of EMBER_DWC channels. The band's input rows are interleaved (interleave_rows:
 * in-register transposes) into a zero-padded [rows][pp][EMBER_DWC] buffer, and dw_interleaved computes every
 * output pixel of the band as one vector per tap, whatever the stride and the row width, then transposes its
 * sums back to the channels' planes. The per-plane path above vectorizes along a row: a 7-wide row leaves a
 * lane of eight idle, a stride-2 conv first splits its rows into phase planes, and both pay a plane's setup
 * per channel, which small planes do not amortize. Weights come pre-blocked ([cout/8][taps][8], made at
 * load). dwc_suits says where this path runs. */
/* DWC_BYTES: interleaved input rows per task, about; DWC_PANEL_MAX: stride-1 output planes up to this many
 * pixels write panels (ember_conv2d_panel_nr) */
enum { DWC_BYTES = 32 << 10, DWC_PANEL_MAX = 400 };

void ember_interleave_rows_ref(float *dst, const float *const *src, int64_t nc, int64_t n) {
    for (int64_t x = 0; x < n; x++)
        for (int64_t c = 0; c < EMBER_DWC; c++) dst[x * EMBER_DWC + c] = c < nc ? src[c][x] : 0.0f;
}

void ember_dw_interleaved_ref(float *out, int64_t ldo, int64_t nc, const float *in, int64_t n, int64_t ow,
                              int64_t sx, int64_t sy, const int64_t *tap, int64_t ntaps, const float *w,
                              const float *bias, float lo, float hi, const float *slope, int64_t np,
                              int64_t ldp) {
    for (int64_t p = 0; p < n; p++) {
        const float *px = in + p / ow * sy + p % ow * sx;
        float *o = out + (np ? p / np * ldp + p % np : p);
        for (int64_t c = 0; c < nc; c++) {
            float acc = bias[c];
            for (int64_t t = 0; t < ntaps; t++) acc += px[tap[t] + c] * w[t * EMBER_DWC + c];
            acc = acc < lo ? lo : acc; /* NaN stays */
            acc = acc > hi ? hi : acc;
            o[c * ldo] = slope && acc < 0.0f ? acc * slope[c] : acc;
        }
    }
}

/* Band height and buffer of a channel-interleaved job: j->pp pixels per interleaved row, j->prows rows. */
static void dwc_size(dw_job *j) {
    const ember_conv2d_shape *g = j->g;
    int64_t span = (g->kh - 1) * g->dil_h + 1;
    j->pp = (g->ow - 1) * g->stride_w + (g->kw - 1) * g->dil_w + 1;
    int64_t rows = DWC_BYTES / (j->pp * EMBER_DWC * (int64_t)sizeof(float));
    j->band = rows > span ? (rows - span) / g->stride_h + 1 : 1;
    if (j->panel) { /* bands start on a panel's first pixel: a multiple of panel / gcd(ow, panel) rows */
        int64_t a = j->panel, b = g->ow % a;
        while (b) {
            int64_t r = a % b;
            a = b, b = r;
        }
        j->band = (j->band + j->panel / a - 1) / (j->panel / a) * (j->panel / a);
    }
    if (j->band > g->oh) j->band = g->oh;
    j->nbands = (g->oh + j->band - 1) / j->band;
    j->prows = (j->band - 1) * g->stride_h + span;
    /* 8 pixels of slack: interleave_rows may write zeros past a row's end (isa.h), into the next row's
     * columns (written after it), the padding, or this slack; then the block's bias and slopes */
    j->tfloats = ((j->prows * j->pp + 8 + 2) * EMBER_DWC + 15) / 16 * 16;
}

static void dwc_bands(void *ctx, int64_t begin, int64_t end, int thread) {
    const dw_job *j = ctx;
    const ember_conv2d_shape *g = j->g;
    int64_t kk = g->kh * g->kw, mult = g->cout / g->cin, ohw = g->oh * g->ow, pp = j->pp;
    int64_t nblk = (g->cout + EMBER_DWC - 1) / EMBER_DWC, D = EMBER_DWC;
    float *s = j->scratch + thread * j->tfloats, *bc = s + (j->prows * pp + 8) * D, *sc = bc + D;
    bool fused = j->fused || j->leaky; /* in the kernel: no epilogue pass */
    int64_t tap[EMBER_DW_MAX_TAPS];
    for (int64_t ky = 0; ky < g->kh; ky++)
        for (int64_t kx = 0; kx < g->kw; kx++) tap[ky * g->kw + kx] = (ky * g->dil_h * pp + kx * g->dil_w) * D;
    /* input column ix sits at buffer column ix + pad_l; the padding columns stay zero */
    int64_t ncopy = g->w < pp - g->pad_l ? g->w : pp - g->pad_l;
    memset(s, 0, (size_t)(j->prows * pp * D) * sizeof(float));
    float lo = j->fused ? j->post.lo : -INFINITY, hi = j->fused ? j->post.hi : INFINITY;
    const ember_act *act = j->ep ? &j->ep->act : NULL;
    int64_t cb_last = -1;
    for (int64_t task = begin; task < end; task++) {
        int64_t bi = task % j->nbands, cb = task / j->nbands % nblk, b = task / j->nbands / nblk;
        int64_t c0 = cb * D, nc = g->cout - c0 < D ? g->cout - c0 : D;
        if (cb != cb_last) { /* the block's bias when fused, its slopes when leaky */
            for (int64_t c = 0; c < D; c++) {
                bc[c] = c < nc && fused && j->bias ? j->bias[c0 + c] : 0.0f;
                sc[c] = !j->leaky || c >= nc           ? 0.0f
                        : act->kind == EMBER_ACT_PRELU ? act->slope[c0 + c]
                                                       : act->p0;
            }
            cb_last = cb;
        }
        dw_rows br = dw_band_rows(j, bi);
        memset(s, 0, (size_t)(br.ia * pp * D) * sizeof(float));
        memset(s + br.ib * pp * D, 0, (size_t)((br.nb - br.ib) * pp * D) * sizeof(float));
        const float *src[EMBER_DWC];
        for (int64_t c = 0; c < nc; c++)
            src[c] = j->in + ((b * g->cin + (c0 + c) / mult) * g->h + br.p0 + br.ia) * g->w;
        if (ncopy > 0)
            for (int64_t r = br.ia; r < br.ib; r++) {
                j->k->interleave_rows(s + (r * pp + g->pad_l) * D, src, nc, ncopy);
                for (int64_t c = 0; c < nc; c++) src[c] += g->w;
            }
        int64_t n = (br.y1 - br.y0) * g->ow, np = j->panel;
        if (!np) {
            float *out = j->out + (b * g->cout + c0) * ohw + br.y0 * g->ow;
            j->k->dw_interleaved(out, ohw, nc, s, n, g->ow, g->stride_w * D, g->stride_h * pp * D, tap, kk,
                                 j->w + cb * kk * D, bc, lo, hi, j->leaky ? sc : NULL, 0, 0);
            for (int64_t c = 0; !fused && c < nc; c++)
                dw_epilogue(j, out + c * ohw, b * g->cout + c0 + c, c0 + c, br.y0, br.y1);
            continue;
        }
        /* panels: the band starts on a panel (dwc_size); the epilogue per panel, its lines the nc channels'
         * (no residual: writes_panels) */
        float *img = j->out + b * ember_panel_floats(g->cout, ohw, np),
              *out = img + (br.y0 * g->ow / np * g->cout + c0) * np;
        j->k->dw_interleaved(out, np, nc, s, n, g->ow, g->stride_w * D, g->stride_h * pp * D, tap, kk,
                             j->w + cb * kk * D, bc, lo, hi, j->leaky ? sc : NULL, np, g->cout * np);
        ember_epilogue e = dw_ep(j, 0, 0);
        for (int64_t p = 0; !fused && p < n; p += np)
            ember_epilogue_apply_k(j->k, &e, out + p / np * g->cout * np, np, c0, 0, nc,
                                   n - p < np ? n - p : np);
        if (br.y1 == g->oh) panel_tail_zero(img, g->cout, ohw, np, c0, nc);
    }
}

/* Where the interleaved path wins (per layer, 1 thread, both paths alternated in one process, warm): stride 2
 * onto planes up to 20x20 (MobileNetV2's 576 channels 14x14 -> 7x7 0.49x, 192 at 28x28 -> 14x14 0.72x) and
 * rows under 8 (960 channels at 7x7 0.71x, 512 0.65x). On bigger planes the per-plane path was ahead there
 * (1.0-1.15x). In a model the picture differs: every depthwise conv on this path ran YuNet's 80x80 and
 * 40x40 layers at 0.75-0.8x (`dump --steps`) yet left the whole model unchanged (YuNet-s 640 0.998x,
 * MobileNetV2 1.004x, MobileFaceNet 1.022x, in-process A/B): the next conv paid for it. */
static bool dwc_suits(const ember_conv2d_shape *g) { return g->stride_w >= 2 ? g->oh * g->ow <= 400 : g->ow < 8; }

/* Whether a depthwise conv writing NCHW (or lined planes) takes the interleaved kernel: where it wins
 * (dwc_suits, but for the in-place stride-2 rows), and for PRelu / LeakyRelu without a residual, which only
 * it fuses (dwc_leaky). */
static bool dw_interleaved(const ember_kernel_table *k, const ember_conv2d_shape *g, bool leaky) {
    return (dwc_suits(g) && !in_place_s2(k, g)) || leaky;
}

static bool depthwise_interleaved(const ember_kernel_table *k, ember_pool *pool, const ember_conv2d_shape *g,
                                  const float *w, const float *in, const float *bias, float *out,
                                  const ember_epilogue *ep) {
    dw_job j;
    dw_init(&j, k, g, w, bias, out, ep, false);
    j.in = in;
    dwc_size(&j);
    j.scratch = ember_scratch(EMBER_SCRATCH_CONV, (size_t)(ember_pool_threads(pool) * j.tfloats) * sizeof(float));
    if (!j.scratch) return false;
    ember_pool_for(pool, g->batch * ((g->cout + EMBER_DWC - 1) / EMBER_DWC) * j.nbands, 1, dwc_bands, &j);
    return true;
}

/* --- a depthwise window over the whole plane (MobileFaceNet's 7x7 "global depthwise" over 7x7) -------- */

/* One output per channel, the dot product of its plane with its weights: the band kernel took one masked
 * load per tap for it (MobileFaceNet's 512 channels: 0.067 -> 0.014 ms; ONNX Runtime 0.019). */
static bool dw_whole_plane(const ember_conv2d_shape *g) {
    return g->oh == 1 && g->ow == 1 && g->kh == g->h && g->kw == g->w && g->pad_t == 0 && g->pad_l == 0 &&
           g->dil_h == 1 && g->dil_w == 1;
}

typedef float dwp_v4 __attribute__((vector_size(16)));

static float dot_plane(const float *x, const float *w, int64_t n) {
    dwp_v4 a = {0}, b = {0};
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) { /* two chains of 4 */
        dwp_v4 x0, x1, w0, w1;
        memcpy(&x0, x + i, sizeof x0), memcpy(&x1, x + i + 4, sizeof x1);
        memcpy(&w0, w + i, sizeof w0), memcpy(&w1, w + i + 4, sizeof w1);
        a += x0 * w0, b += x1 * w1;
    }
    a += b;
    float s = (a[0] + a[1]) + (a[2] + a[3]);
    for (; i < n; i++) s += x[i] * w[i];
    return s;
}

enum { DWP_BLOCK = 64 }; /* channels per task */

static void dw_plane_blocks(void *ctx, int64_t begin, int64_t end, int thread) {
    const dw_job *j = ctx;
    const ember_conv2d_shape *g = j->g;
    int64_t hw = g->h * g->w, mult = g->cout / g->cin, nb = (g->cout + DWP_BLOCK - 1) / DWP_BLOCK;
    (void)thread;
    for (int64_t t = begin; t < end; t++) {
        int64_t b = t / nb, c0 = t % nb * DWP_BLOCK, c1 = c0 + DWP_BLOCK < g->cout ? c0 + DWP_BLOCK : g->cout;
        float *out = j->out + b * g->cout;
        for (int64_t oc = c0; oc < c1; oc++)
            out[oc] = dot_plane(j->in + (b * g->cin + oc / mult) * hw, j->w + oc * hw, hw);
        ember_epilogue e = dw_ep(j, b * g->cout, 1); /* rows = channels, one output each */
        ember_epilogue_apply_k(j->k, &e, out + c0, 1, c0, 0, c1 - c0, 1);
    }
}

static void dw_plane(const ember_kernel_table *k, ember_pool *pool, const ember_conv2d_shape *g, const float *w,
                     const float *in, const float *bias, float *out, const ember_epilogue *ep) {
    dw_job j;
    dw_init(&j, k, g, w, bias, out, ep, false);
    j.in = in;
    int64_t tasks = g->batch * ((g->cout + DWP_BLOCK - 1) / DWP_BLOCK);
    /* serial under 16K MACs: MobileFaceNet's 512 x 49 take 6 us on one thread, 4 on two (`dump --steps`) */
    ember_pool_for(g->batch * g->cout * g->h * g->w >= (1 << 14) ? pool : NULL, tasks, 1, dw_plane_blocks,
                   &j);
}

/* --- direct convolution (few taps) ----------------------------------------------------------------------- */

/* Scalar reference of the table's conv_rows (the generic table's entry; vector twins finish short rows with it). */
void ember_conv_rows_ref(float *out, int64_t ldo, int64_t noc, const float *w8, const float *const *rows,
                         int64_t ntaps, int64_t n, const ember_ukernel_post *post) {
    for (int64_t o = 0; o < noc; o++)
        for (int64_t x = 0; x < n; x++) {
            float acc = 0.0f;
            for (int64_t t = 0; t < ntaps; t++) acc += rows[t][x] * w8[t * 8 + o];
            if (post) {
                acc += post->rbias ? post->rbias[o] : 0.0f;
                acc = acc < post->lo ? post->lo : acc; /* NaN stays */
                acc = acc > post->hi ? post->hi : acc;
            }
            out[o * ldo + x] = acc;
        }
}

/* One task = one output row of every channel. Each (input channel, input row) is first split into stride_w
 * phase rows with the padding written as zeros (phase p holds padded columns p, p + sw, p + 2 sw, ...), so
 * that tap (c, ky, kx) of output x is element x of one phase row shifted by kx * dil_w / sw: conv_rows then
 * runs plain unit-stride loads over the whole row, borders included. The split rows sit in a ring of
 * `span` input rows per channel (slot iy mod span), so consecutive output rows of a task reuse the rows
 * they share (1 of 3 for 3x3 stride 2, 2 of 3 for stride 1). The epilogue runs over the row while it is in
 * cache when the kernel cannot fuse it. */
/* Inputs over DIRECT_STREAM_BYTES (YuNet's 640x640 stem: 4.9 MB) stream from memory: a row then runs in
 * chunks of DIRECT_STREAM_CHUNK columns, and between them slices of the next output row's new input rows are
 * prefetched, so that those loads overlap the FMAs instead of stalling the next row's split (-8% there,
 * measured interleaved in one process; smaller stems, from cache, gained nothing from it; YuNet's 320x320
 * stem, 1.2 MB, lost by it: 0.278 ms without, 0.295 with, `dump --steps`, 1 thread, AVX-512). */
enum { DIRECT_STREAM_BYTES = 2 << 20, DIRECT_STREAM_CHUNK = 48 };

typedef struct {
    const ember_kernel_table *k;
    const ember_conv2d_shape *g;
    const float *w, *in, *bias;
    float *out;
    const ember_epilogue *ep;
    int64_t len;    /* floats per phase row: ow + (kw - 1) * dil_w / stride_w */
    int64_t span;   /* input rows under one output row's window: (kh - 1) * dil_h + 1 */
    float *scratch; /* cin * span * stride_w phase rows per thread */
} direct_job;

static direct_job direct_job_of(const ember_kernel_table *k, const ember_conv2d_shape *g, const float *w,
                                const float *in, const float *bias, float *out, const ember_epilogue *ep) {
    direct_job j = {.k = k, .g = g, .w = w, .in = in, .bias = bias, .out = out, .ep = ep};
    j.len = g->ow + (g->kw - 1) * g->dil_w / g->stride_w, j.span = (g->kh - 1) * g->dil_h + 1;
    return j;
}

/* The floats of a thread's ring of split input rows. */
static int64_t ring_floats(const direct_job *j) {
    return j->g->cin * j->span * j->g->stride_w * j->len;
}

/* The direct paths' epilogue over rows of ldr outputs (bias per channel; the residual pointer is set per
 * task), and whether it is all a row kernel's post (bias + ReLU/Clip). */
static bool direct_epilogue(const direct_job *j, int64_t ldr, ember_epilogue *e, ember_ukernel_post *post) {
    *e = (ember_epilogue){.bias = j->bias, .bias_kind = EMBER_BIAS_ROW};
    if (j->ep) {
        e->act = j->ep->act;
        e->residual_after_act = j->ep->residual_after_act;
        e->ldr = ldr;
    }
    return ember_ukernel_post_from(j->ep ? j->ep : e, post);
}

/* Phase row p of padded input row `row` (NULL: a padding row): d[j] = row[j * sw + p - pad_l], zero outside.
 */
static void phase_row(const direct_job *j, float *d, const float *row, int64_t p) {
    const ember_conv2d_shape *g = j->g;
    int64_t sw = g->stride_w, first = p - g->pad_l; /* input column of d[0] */
    int64_t lo = first >= 0 ? 0 : (-first + sw - 1) / sw, hi = 0;
    if (row && g->w - 1 - first >= 0) hi = (g->w - 1 - first) / sw + 1;
    if (hi > j->len) hi = j->len;
    if (lo > hi) lo = hi;
    memset(d, 0, (size_t)lo * sizeof(float));
    if (hi > lo) {
        if (sw == 1) memcpy(d + lo, row + lo + first, (size_t)(hi - lo) * sizeof(float));
        else j->k->gather(d + lo, row + lo * sw + first, hi - lo, sw);
    }
    memset(d + hi, 0, (size_t)(j->len - hi) * sizeof(float));
}

/* A thread's ring of split input rows (direct_job.scratch) and the input row each slot holds, for image b. */
typedef struct {
    float *ring;
    int64_t b;
    int64_t held[DIRECT_MAX_TAPS / 2 * DIRECT_MAX_SPAN]; /* (cin <= 16) */
} direct_ring;

/* Output row oy of image b, every channel: channel o's row to out + o * ldo. post: the fused bias + clamp
 * (rbias set per block here), or NULL. more: row oy + 1 of the image is next (a streamed input's new rows
 * for it are prefetched). */
static void direct_row(const direct_job *j, direct_ring *st, int64_t b, int64_t oy, float *out, int64_t ldo,
                       ember_ukernel_post *post, bool more) {
    const ember_conv2d_shape *g = j->g;
    int64_t ntaps = g->cin * g->kh * g->kw, sw = g->stride_w, rowf = sw * j->len, nb = (g->cout + 7) / 8;
    bool stream = g->cin * g->h * g->w * (int64_t)sizeof(float) > DIRECT_STREAM_BYTES;
    int64_t chunk = stream ? DIRECT_STREAM_CHUNK : g->ow;
    int64_t nseg = nb * (g->ow < chunk + 24 ? 1 : (g->ow - 24) / chunk + 1); /* chunks x blocks per row */
    const float *split[DIRECT_MAX_TAPS], *taps[DIRECT_MAX_TAPS];
    if (st->b != b)
        for (int64_t i = 0; i < g->cin * j->span; i++) st->held[i] = INT64_MIN;
    st->b = b;
    for (int64_t cy = 0; cy < g->cin * g->kh; cy++) { /* split[c*kh + ky]: row (c, iy) split in phases */
        int64_t c = cy / g->kh, iy = oy * g->stride_h - g->pad_t + cy % g->kh * g->dil_h;
        int64_t slot = c * j->span + (iy % j->span + j->span) % j->span;
        float *d = st->ring + slot * rowf;
        if (st->held[slot] != iy) {
            const float *row = iy >= 0 && iy < g->h ? j->in + ((b * g->cin + c) * g->h + iy) * g->w : NULL;
            for (int64_t p = 0; p < sw; p++) phase_row(j, d + p * j->len, row, p);
            st->held[slot] = iy;
        }
        split[cy] = d;
    }
    for (int64_t t = 0; t < ntaps; t++) { /* tap (c, ky, kx) reads phase kx*dw % sw, shifted kx*dw / sw */
        int64_t off = t % g->kw * g->dil_w;
        taps[t] = split[t / g->kw] + off % sw * j->len + off / sw;
    }
    const char *next[DIRECT_MAX_TAPS]; /* the next output row's new input rows, when streaming */
    int64_t nnext = 0, lines = (g->w * (int64_t)sizeof(float) + 63) / 64, done = 0, seg = 0, pr = 0, pl = 0;
    for (int64_t cy = 0; stream && more && oy + 1 < g->oh && cy < g->cin * g->kh; cy++) {
        int64_t iy = (oy + 1) * g->stride_h - g->pad_t + cy % g->kh * g->dil_h;
        if (iy >= 0 && iy < g->h && iy > oy * g->stride_h - g->pad_t + (j->span - 1))
            next[nnext++] = (const char *)(j->in + ((b * g->cin + cy / g->kh) * g->h + iy) * g->w);
    }
    for (int64_t x0 = 0, n; x0 < g->ow; x0 += n) {
        n = g->ow - x0 < chunk + 24 ? g->ow - x0 : chunk; /* no chunk under 24 after this one */
        const float *tx[DIRECT_MAX_TAPS];
        for (int64_t t = 0; t < ntaps; t++) tx[t] = taps[t] + x0;
        for (int64_t ob = 0; ob < nb; ob++) {
            int64_t noc = g->cout - ob * 8 < 8 ? g->cout - ob * 8 : 8;
            /* line pl of row pr next (counters, not a division per line: that had been a third of the row's
             * own time, perf) */
            for (int64_t end = nnext * lines * ++seg / nseg; done < end; done++) {
                __builtin_prefetch(next[pr] + pl * 64, 0, 3);
                if (++pl == lines) pl = 0, pr++;
            }
            if (post) post->rbias = j->bias ? j->bias + ob * 8 : NULL;
            j->k->conv_rows(out + ob * 8 * ldo + x0, ldo, noc, j->w + ob * ntaps * 8, tx, ntaps, n, post);
        }
    }
}

static void direct_rows(void *ctx, int64_t begin, int64_t end, int thread) {
    const direct_job *j = ctx;
    const ember_conv2d_shape *g = j->g;
    int64_t ohw = g->oh * g->ow;
    direct_ring st = {.ring = j->scratch + thread * ring_floats(j), .b = -1};
    ember_epilogue e;
    ember_ukernel_post post;
    bool fused = direct_epilogue(j, ohw, &e, &post);
    int64_t ep_from = begin; /* first row the separate epilogue has not done */
    for (int64_t r = begin; r < end; r++) {
        int64_t b = r / g->oh, oy = r % g->oh;
        float *out = j->out + b * g->cout * ohw + oy * g->ow;
        direct_row(j, &st, b, oy, out, ohw, fused ? &post : NULL, r + 1 < end);
        /* a separate epilogue (PRelu: fr_feature's stem) over the rows done since the last one, once they
         * fill about 64 KB or the image or the task ends: per row it had been a call per channel per row
         * (56 floats each), 0.28 ms of a 0.49 ms stem */
        int64_t rows = r + 1 - ep_from;
        if (!fused && (r + 1 == end || oy + 1 == g->oh || rows * g->cout * g->ow >= 16384)) {
            e.residual = j->ep && j->ep->residual ? j->ep->residual + b * g->cout * ohw : NULL;
            int64_t oy0 = oy + 1 - rows;
            ember_epilogue_apply_k(j->k, &e, out - (rows - 1) * g->ow, ohw, 0, oy0 * g->ow, g->cout, rows * g->ow);
            ep_from = r + 1;
        }
    }
}

/* 1x1: one task = a chunk of pw_chunk columns of the plane (the last one up to twice that), whose cin input
 * rows (PW_CHUNK_BYTES, a third of L1) stay in L1 while every block of 8 output channels runs over them:
 * 192 columns at cin 16, 96 at cin 32 (YuNet-s 640, 1 thread: 0.96-0.97x against 192 at every cin). */
enum { PW_CHUNK_BYTES = 12 << 10 };
static int64_t pw_chunk(int64_t cin) {
    int64_t n = PW_CHUNK_BYTES / (cin * (int64_t)sizeof(float)) / 24 * 24; /* whole blocks of the row kernel */
    return n < 48 ? 48 : n > 384 ? 384 : n;
}

/* Whether `rows` rows of n floats, ld floats apart, spread over the sets of a 32 KB 8-way L1 (64 sets of
 * 64-byte lines) with at most 6 lines in any set (2 ways left for the weights and outputs). */
static bool rows_fit_l1(int64_t ld, int64_t rows, int64_t n) {
    enum { SETS = 64, LINE = 64, MAX_PER_SET = 6 };
    int count[SETS] = {0};
    for (int64_t r = 0; r < rows; r++) {
        int64_t at = r * ld * (int64_t)sizeof(float), end = at + n * (int64_t)sizeof(float) - 1;
        for (int64_t line = at / LINE; line <= end / LINE; line++)
            if (++count[line % SETS] > MAX_PER_SET) return false;
    }
    return true;
}

/* Output channels per conv_rows call in pointwise_cols: all of 9..16 at once where the table has conv_rows16
 * (the input rows then read once, and not gathered: MobileNetV2's 32 -> 16 at 112x112 0.166 -> 0.142 ms,
 * `dump --steps`, 1 thread; ONNX Runtime 0.120), else blocks of 8: for 32 and 64 channels the 8-channel
 * kernel's 24-accumulator blocks, rows gathered, stayed 2% ahead of 16-channel passes (YuNet-s 640's
 * chains). */
static int64_t pw_block(const ember_kernel_table *k, int64_t cout) {
    return k->conv_rows16 && cout > 8 && cout <= 16 ? 16 : 8;
}

/* Whether pointwise_cols should copy its input rows together first: rows a multiple of 4 KB apart (planes
 * of 160x160 or 320x320) all fall in the same L1 sets, and each block of 8 output channels re-read them
 * from L2. Worth the copy from 4 blocks up (YuNet-s 640, 1 thread, in one process alternating: 0.936x;
 * its 16 -> 32 chained 1x1 + depthwise at 160x160 1.23 -> 1.10 ms, 32 -> 64 3.8 -> 3.3 ms); from 2 blocks
 * (16 -> 16) it first measured even, and once the Winograd and arena changes had landed a little ahead:
 * YuNet-s 320 0.977-0.992x at 1 thread, 0.966-0.994x at 2, YuNet-s 640 0.983-0.992x at 1 (same harness). */
static bool pw_gathers(const ember_kernel_table *k, int64_t cin, int64_t cout, int64_t ldx, int64_t n) {
    return cout > pw_block(k, cout) && !rows_fit_l1(ldx, cin, n);
}

/* The few-tap kernel as a 1x1 conv over n columns: out[o * ldo + i] for every output channel o, from the cin
 * input rows x + t * ldx (weights in blocks of 8 channels, [cout/8][cin][8]); post: the fused bias + clamp
 * (rbias set per block here), or NULL. gather (pw_gathers): copy the rows next to each other first. */
static void pointwise_cols(const ember_kernel_table *k, const float *w8, int64_t cin, int64_t cout, const float *x,
                           int64_t ldx, int64_t n, float *out, int64_t ldo, const float *bias,
                           const ember_ukernel_post *post, bool gather) {
    const float *taps[DIRECT_MAX_TAPS], *src = x;
    ember_ukernel_post p = post ? *post : (ember_ukernel_post){0};
    float *rows = gather ? ember_scratch(EMBER_SCRATCH_ROWS, (size_t)(cin * n) * sizeof(float)) : NULL;
    if (rows) {
        for (int64_t t = 0; t < cin; t++) memcpy(rows + t * n, src + t * ldx, (size_t)n * sizeof(float));
        x = rows;
    }
    for (int64_t t = 0; t < cin; t++) taps[t] = x + t * (rows ? n : ldx);
    int64_t bs = pw_block(k, cout), nb = (cout + bs - 1) / bs;
    int64_t lines = (n * (int64_t)sizeof(float) + 63) / 64, done = 0, pt = 0, pl = 0;
    for (int64_t o = 0; o < cout; o += bs) {
        /* the next columns' input lines (maybe past the rows: only hints, in integers), a share per block:
         * line pl of tap pt next */
        for (int64_t end = cin * lines * (o / bs + 1) / nb; done < end; done++) {
            __builtin_prefetch((const void *)((uintptr_t)(src + pt * ldx + n) + (uintptr_t)(pl * 64)), 0, 3);
            if (++pl == lines) pl = 0, pt++;
        }
        p.rbias = bias ? bias + o : NULL;
        int64_t noc = cout - o < bs ? cout - o : bs;
        (noc > 8 ? k->conv_rows16 : k->conv_rows)(out + o * ldo, ldo, noc, w8 + o * cin, taps, cin, n,
                                                  post ? &p : NULL);
    }
}

static void pointwise_chunks(void *ctx, int64_t begin, int64_t end, int thread) {
    const direct_job *j = ctx;
    const ember_conv2d_shape *g = j->g;
    int64_t hw = g->h * g->w, chunk = pw_chunk(g->cin), nch = hw / chunk > 0 ? hw / chunk : 1;
    bool gather = pw_gathers(j->k, g->cin, g->cout, hw, chunk);
    ember_epilogue e;
    ember_ukernel_post post;
    bool fused = direct_epilogue(j, hw, &e, &post);
    (void)thread;
    for (int64_t task = begin; task < end; task++) {
        int64_t b = task / nch, c = task % nch, x0 = c * chunk, n = c + 1 < nch ? chunk : hw - x0;
        float *out = j->out + b * g->cout * hw + x0;
        pointwise_cols(j->k, j->w, g->cin, g->cout, j->in + b * g->cin * hw + x0, hw, n, out, hw, j->bias,
                       fused ? &post : NULL, gather);
        if (!fused) {
            e.residual = j->ep && j->ep->residual ? j->ep->residual + b * g->cout * hw : NULL;
            ember_epilogue_apply_k(j->k, &e, out, hw, 0, x0, g->cout, n);
        }
    }
}

static bool conv_direct(const ember_kernel_table *k, ember_pool *pool, const ember_conv2d_shape *g, const float *w,
                        const float *in, const float *bias, float *out, const ember_epilogue *ep) {
    direct_job j = direct_job_of(k, g, w, in, bias, out, ep);
    if (pointwise_direct(g)) {
        int64_t hw = g->h * g->w;
        int64_t chunk = pw_chunk(g->cin);
        ember_pool_for(pool, g->batch * (hw / chunk > 0 ? hw / chunk : 1), 1, pointwise_chunks, &j);
        return true;
    }
    j.scratch = ember_scratch(EMBER_SCRATCH_CONV,
                              (size_t)(ember_pool_threads(pool) * ring_floats(&j)) * sizeof(float));
    if (!j.scratch) return false;
    ember_pool_for(pool, g->batch * g->oh, 1, direct_rows, &j);
    return true;
}

/* --- a few-tap conv and the max pool after it --------------------------------------------------------- */

/* One task = one pooled row of every channel: the conv rows under its windows are computed into a
 * per-thread ring of `prows` rows per channel (row r in slot r % prows; consecutive pooled rows of a task
 * share the rows their windows overlap on), the separate epilogue applied there, then pooled while in
 * cache. The conv's full output (SqueezeNet 1.1's 64 x 111 x 111 stem, 3.2 MB) is never written. */
typedef struct {
    direct_job d;
    const ember_pooling2d *p;
    ember_maxpool_rows m;
    int64_t prows; /* conv rows under one pooled window: (kh - 1) * dil_h + 1 */
    int64_t per;   /* scratch floats per thread: the input ring, then cout * prows conv rows, a pool row */
    float *out;
} pooled_job;

static void pooled_rows(void *ctx, int64_t begin, int64_t end, int thread) {
    const pooled_job *j = ctx;
    const ember_conv2d_shape *g = j->d.g;
    const ember_pooling2d *p = j->p;
    int64_t ld = j->prows * g->ow;
    direct_ring st = {.ring = j->d.scratch + thread * j->per, .b = -1};
    float *conv = st.ring + ring_floats(&j->d), *buf = conv + g->cout * ld;
    int64_t held[EMBER_POOL_MAX_KH]; /* the image * oh + conv row in each slot */
    for (int64_t i = 0; i < j->prows; i++) held[i] = -1;
    ember_epilogue e;
    ember_ukernel_post post;
    bool fused = direct_epilogue(&j->d, ld, &e, &post);
    ember_maxpool_row_buf(&j->m, buf);
    const float *rows[EMBER_POOL_MAX_KH];
    for (int64_t r = begin; r < end; r++) {
        int64_t b = r / p->oh, py = r % p->oh, slots[EMBER_POOL_MAX_KH], n = 0;
        for (int64_t ky = 0; ky < p->kh; ky++) { /* rows in the top / bottom padding are left out */
            int64_t cy = py * p->stride_h - p->pad_t + ky * p->dil_h, slot = cy % j->prows;
            if (cy < 0 || cy >= g->oh) continue;
            slots[n++] = slot;
            if (held[slot] == b * g->oh + cy) continue;
            float *c = conv + slot * g->ow;
            direct_row(&j->d, &st, b, cy, c, ld, fused ? &post : NULL, true);
            if (!fused) ember_epilogue_apply_k(j->d.k, &e, c, ld, 0, 0, g->cout, g->ow);
            held[slot] = b * g->oh + cy;
        }
        for (int64_t o = 0; o < g->cout; o++) {
            for (int64_t i = 0; i < n; i++) rows[i] = conv + o * ld + slots[i] * g->ow;
            ember_maxpool_row(&j->m, rows, n, buf, j->out + ((b * g->cout + o) * p->oh + py) * p->ow);
        }
    }
}

bool ember_pool2d_is_2x2(const ember_pooling2d *p) {
    return p->kh == 2 && p->kw == 2 && p->stride_h == 2 && p->stride_w == 2 && p->dil_h == 1 &&
           p->dil_w == 1 && !p->pad_t && !p->pad_l && p->oh == p->h / 2 && p->ow == p->w / 2;
}

bool ember_conv2d_pool_suits(const ember_conv2d_shape *g, const ember_pooling2d *p) {
    if (is_depthwise(g)) return ember_pool2d_is_2x2(p);
    return !ember_wino_suits(g) && direct_suits(ember_kernels(), g) && !pointwise_direct(g);
}

bool ember_conv2d_maxpool(ember_pool *pool, const ember_conv2d_shape *g, const ember_conv2d_weights *w,
                          const float *in, const float *bias, const ember_epilogue *ep,
                          const ember_pooling2d *p, float *out) {
    if (!w->direct || pointwise_direct(g) || g->in_panel || g->out_panel || (ep && ep->residual) ||
        p->h != g->oh || p->w != g->ow || p->c != g->cout || p->batch != g->batch || p->kh < 1 ||
        p->stride_h < 1 || p->stride_w < 1 || p->dil_h < 1 || p->dil_w < 1 ||
        (p->kh - 1) * p->dil_h + 1 > EMBER_POOL_MAX_KH)
        return false;
    if (p->oh <= 0 || p->ow <= 0 || g->batch <= 0 || g->cout <= 0) return true;
    pooled_job j = {.d = direct_job_of(w->kt, g, w->data, in, bias, NULL, ep), .p = p, .out = out};
    j.prows = (p->kh - 1) * p->dil_h + 1;
    if (!ember_maxpool_rows_init(&j.m, p)) return false;
    j.per = ring_floats(&j.d) + g->cout * j.prows * g->ow + j.m.bw;
    j.d.scratch =
        ember_scratch(EMBER_SCRATCH_CONV, (size_t)(ember_pool_threads(pool) * j.per) * sizeof(float));
    if (!j.d.scratch) return false;
    ember_pool_for(pool, g->batch * p->oh, 1, pooled_rows, &j);
    return true;
}

/* --- a 1x1 conv straight into a depthwise conv ----------------------------------------------------------- */

/* A task = a run of consecutive bands of the depthwise conv's output rows: for each band the 1x1 conv
 * computes the rows of its output (all channels) that the band reads into a per-thread buffer of about
 * CHAIN_BYTES, so it stays in L2 (rows the next band shares are moved to the front, not computed again),
 * and the depthwise band kernel reads them from there. The 1x1 output is never written to memory: worth it
 * when that output would not stay in cache between the two convs (ember_conv2d_chain_pays). */
enum { CHAIN_BYTES = 384 << 10, CHAIN_MIN_BYTES = 2 << 20, CHAIN_MIN_ROWS = 4 };

typedef struct {
    dw_job dw; /* conv b, over the buffer */
    const ember_conv2d_shape *ga;
    const ember_conv2d_weights *wa;
    const float *in;
    ember_epilogue ea;     /* a's bias + activation, rows = a's output channels */
    ember_ukernel_post pa; /* the same as a row kernel's clamp, when it fits */
    bool fused_a;
    bool gather_a;      /* a's rows are copied together (pw_gathers) */
    int64_t nruns;      /* runs of bands per image */
    bool inplace;       /* b has stride_w 1: a writes its rows straight into b's padded planes, one per channel */
    int64_t ld;         /* floats per channel in the buffer: b's phase rows x w (inplace: x the plane pitch) */
    int64_t per_thread; /* floats of scratch per thread: b's phase planes (and pooled band), then the buffer */
    float *scratch;
    bool s2; /* b's rows by dw3s2 (dw3s2_suits), reading the buffer in place */
    bool s1; /* inplace, and b's rows by dw3 (dw3_suits) over the padded planes: YuNet-s 640's chains, 1 thread,
              * `dump --steps`, AVX-512: 16 -> 16 at 320x320 1.23 -> 1.08 ms, 32 -> 32 at 160x160 0.85 -> 0.79,
              * 32 -> 64 1.72 -> 1.60 (dw_block over the planes before); AVX2 even */
} chain_job;

/* `cols` consecutive positions of a's output from x (its first input channel there) into out (ldo floats
 * per output channel). */
static void chain_cols(const chain_job *j, const float *x, int64_t cols, float *out, int64_t ldo) {
    const ember_conv2d_shape *ga = j->ga;
    const ember_kernel_table *k = j->wa->kt;
    int64_t hw = ga->h * ga->w;
    if (j->wa->direct) { /* in pw_chunk columns, as pointwise_chunks: the cin rows stay in L1 */
        int64_t chunk = pw_chunk(ga->cin);
        for (int64_t x0 = 0; x0 < cols; x0 += chunk)
            pointwise_cols(k, j->wa->data, ga->cin, ga->cout, x + x0, hw, cols - x0 < chunk ? cols - x0 : chunk,
                           out + x0, ldo, j->ea.bias, j->fused_a ? &j->pa : NULL, j->gather_a);
        if (!j->fused_a) ember_epilogue_apply_k(k, &j->ea, out, ldo, 0, 0, ga->cout, cols);
        return;
    }
    ember_gemm_operand xo = {.data = x, .ld = hw};
    ember_gemm_src A = {.packed = j->wa->data}, B = {.pack = ember_pack_operand_b, .src = &xo};
    ember_sgemm_run(k, NULL, ga->cout, cols, ga->cin, 1.0f, &A, &B, 0.0f, out, ldo, &j->ea);
}

/* Rows [r0, r1) of a's output for image b into the buffer, whose row 0 holds image row `org`: as one block
 * (ld floats per channel), or (inplace) each row into its row of b's plane, after the left padding. */
static void chain_pointwise(const chain_job *j, int64_t b, int64_t r0, int64_t r1, float *buf, int64_t org) {
    const ember_conv2d_shape *ga = j->ga;
    const float *x = j->in + b * ga->cin * ga->h * ga->w;
    if (!j->inplace) {
        chain_cols(j, x + r0 * ga->w, (r1 - r0) * ga->w, buf + (r0 - org) * ga->w, j->ld);
        return;
    }
    for (int64_t r = r0; r < r1; r++)
        chain_cols(j, x + r * ga->w, ga->w, buf + (r - org) * j->dw.pp + j->dw.g->pad_l, j->ld);
}

/* The buffer holds a's rows [held0, held1), image row org at its row 0, rows `pitch` floats apart: a's rows
 * themselves (org = held0), or inplace b's padded planes from the band's first (padding) row on (org = p0),
 * their padding columns zero (a never writes them; rows move whole), the padding rows zeroed per band. */
static void chain_tasks(void *ctx, int64_t begin, int64_t end, int thread) {
    const chain_job *j = ctx;
    const ember_conv2d_shape *gb = j->dw.g;
    float *buf = j->scratch + thread * j->per_thread;
    dw_thread t;
    dw_start(&j->dw, buf, &t);
    buf += j->dw.tfloats;
    int64_t pitch = j->inplace ? j->dw.pp : gb->w, pl = gb->pad_l, pr = pitch - pl - gb->w;
    for (int64_t r = 0; j->inplace && r < gb->cout * j->dw.prows; r++) {
        memset(buf + r * pitch, 0, (size_t)pl * sizeof(float));
        memset(buf + r * pitch + pl + gb->w, 0, (size_t)pr * sizeof(float));
    }
    for (int64_t task = begin; task < end; task++) {
        int64_t run = task % j->nruns, b = task / j->nruns, held0 = 0, held1 = 0, org = 0;
        for (int64_t bi = run * j->dw.nbands / j->nruns; bi < (run + 1) * j->dw.nbands / j->nruns; bi++) {
            dw_rows br = dw_band_rows(&j->dw, bi);
            int64_t r0 = br.p0 + br.ia, r1 = br.p0 + br.ib, norg = j->inplace ? br.p0 : r0;
            if (r0 < held0 || r0 >= held1) {
                held0 = held1 = r0;
            } else if (norg > org) { /* rows this band shares with the last one up to their new place */
                for (int64_t c = 0; c < gb->cout; c++)
                    memmove(buf + c * j->ld + (r0 - norg) * pitch, buf + c * j->ld + (r0 - org) * pitch,
                            (size_t)((held1 - r0) * pitch) * sizeof(float));
                held0 = r0;
            }
            org = norg;
            if (r1 > held1) chain_pointwise(j, b, held1, r1, buf, org), held1 = r1;
            for (int64_t c = 0; c < gb->cout; c++) {
                float *plane = buf + c * j->ld;
                if (j->s2) { /* plane's first row is image row r0: 2 y0 - 1, or 0 when y0 = 0 */
                    dw_s2_band(&j->dw, &t, &br, plane + (2 * br.y0 - r0) * pitch, pitch, b, c);
                    continue;
                }
                if (!j->inplace) {
                    dw_band(&j->dw, &t, &br, plane, b, c);
                    continue;
                }
                memset(plane, 0, (size_t)(br.ia * pitch) * sizeof(float));
                memset(plane + br.ib * pitch, 0, (size_t)((br.nb - br.ib) * pitch) * sizeof(float));
                if (j->s1) /* plane's row 0 is image row y0 - 1, its column pl image column 0 */
                    dw3_band(&j->dw, &t, &br, plane + pitch + pl, pitch, plane + pl,
                             plane + (br.y1 - br.y0 + 1) * pitch + pl, b, c);
                else
                    dw_planes(&j->dw, &t, &br, plane, b, c);
            }
        }
    }
}

/* At least CHAIN_MIN_BYTES (smaller outputs stay in L2 anyway), and more than half the last-level cache:
 * where the output stays in a large L3, the two convs one by one (each over the whole plane, split evenly
 * between threads) are about as fast at 1 thread and faster at 2. On a 32 MB L3 (Zen 4, `dump --steps`,
 * AVX-512), MobileNetV2's 16 -> 96 at 112x112 + depthwise stride 2: chained 702 / 489 us at 1 / 2 threads,
 * one by one 661 / 378; YuNet-s 640's four chains (16 -> 16 at 320x320, 16 -> 32, 32 -> 32, 32 -> 64 at
 * 160x160) at 2 threads 553 / 275 / 432 / 893 us chained, 536 / 247 / 378 / 781 not (whole models against the
 * chained build, alternating, 7 rounds: 0.967x and 0.978x at 2 threads, 1.00x and 1.01x at 1). An unknown
 * cache size (no sysfs entry, as on some Arm boards) is taken as a small one: a Raspberry Pi's 1 MB L2 is its
 * last level, and its DRAM is where the chain saves most. */
bool ember_conv2d_chain_pays(int64_t channels, int64_t h, int64_t w) {
    int64_t bytes = channels * h * w * (int64_t)sizeof(float);
    return bytes >= CHAIN_MIN_BYTES && bytes > ember_cpu_cache_bytes() / 2;
}

bool ember_conv2d_chain(ember_pool *pool, const ember_conv2d_shape *ga, const ember_conv2d_weights *wa,
                        const float *bias_a, const ember_epilogue *ep_a, const ember_conv2d_shape *gb,
                        const ember_conv2d_weights *wb, const float *bias_b, const ember_epilogue *ep_b,
                        const float *in, float *out, bool pool2) {
    if (wa->kt != wb->kt || wa->depthwise || wa->wino || !wb->depthwise || !pointwise_direct(ga) ||
        ga->groups != 1 || ga->in_panel || ga->out_panel || gb->in_panel || gb->out_panel ||
        gb->cin != ga->cout || gb->cout != gb->cin || gb->batch != ga->batch || gb->h != ga->oh ||
        gb->w != ga->ow || (ep_a && ep_a->residual))
        return false;
    if (gb->batch <= 0 || gb->oh <= 0 || gb->ow <= 0) return true;
    const ember_kernel_table *k = wa->kt;
    chain_job j = {.ga = ga, .wa = wa, .in = in};
    j.ea = (ember_epilogue){.bias = bias_a, .bias_kind = EMBER_BIAS_ROW};
    if (ep_a) j.ea.act = ep_a->act;
    j.fused_a = ember_ukernel_post_from(&j.ea, &j.pa);
    j.gather_a = pw_gathers(k, ga->cin, ga->cout, ga->h * ga->w, pw_chunk(ga->cin));
    dw_init(&j.dw, k, gb, wb->data, bias_b, out, ep_b, pool2);
    int64_t span = (gb->kh - 1) * gb->dil_h + 1, threads = ember_pool_threads(pool);
    int64_t rows = CHAIN_BYTES / (gb->cout * gb->w * (int64_t)sizeof(float));
    if (rows < span + CHAIN_MIN_ROWS) rows = span + CHAIN_MIN_ROWS;
    dw_size(&j.dw, (rows - span) / gb->stride_h + 1);
    j.nruns = (3 * threads + gb->batch - 1) / gb->batch; /* 3 tasks per thread */
    if (j.nruns > j.dw.nbands) j.nruns = j.dw.nbands;
    j.inplace = gb->stride_w == 1 && gb->pad_l + gb->w <= j.dw.pp; /* every input column has its place */
    j.s2 = in_place_s2(k, gb);
    j.s1 = j.inplace && dw3_suits(k, gb);
    j.ld = j.dw.prows * (j.inplace ? j.dw.pp : gb->w);
    j.per_thread = j.dw.tfloats + gb->cout * j.ld;
    j.scratch = ember_scratch(EMBER_SCRATCH_CONV, (size_t)(threads * j.per_thread) * sizeof(float));
    if (!j.scratch) return false;
    ember_pool_for(pool, gb->batch * j.nruns, 1, chain_tasks, &j);
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
            /* lined (one group: reads_panels): its rows in place, a line-padded plane apart */
            if (g->in_panel < 0)
                xo = (ember_gemm_operand){.data = in + b * ember_panel_floats(g->cin, ohw, g->in_panel),
                                          .ld = ember_plane_pitch(ohw, g->in_panel)};
            im2col_src is = {g, x};
            ember_gemm_src A = {.packed = w->data + grp * w->gstride};
            ember_gemm_src B =
                g->in_panel > 0
                    ? (ember_gemm_src){.packed = in + b * ember_panel_floats(g->cin, ohw, g->in_panel)}
                : plain || g->in_panel < 0 ? (ember_gemm_src){.pack = ember_pack_operand_b, .src = &xo}
                                           : (ember_gemm_src){.pack = pack_im2col, .src = &is};
            ember_epilogue e = {.bias = bias ? bias + grp * cout_g : NULL, .bias_kind = EMBER_BIAS_ROW};
            if (ep) {
                e.act = ep->act;
                if (e.act.kind == EMBER_ACT_PRELU) e.act.slope += grp * cout_g; /* the group's channels are rows 0.. */
                e.residual_after_act = ep->residual_after_act;
                e.residual = ep->residual ? ep->residual + (b * g->cout + grp * cout_g) * ohw : NULL;
                e.ldr = ohw;
            }
            if (!g->out_panel) {
                ember_sgemm_run(k, pool, cout_g, ohw, w->k, 1.0f, &A, &B, 0.0f, c, ohw, &e);
                continue;
            }
            /* one group (writes_panels): the image's panels, then the last one's columns past the plane
             * zeroed */
            c = out + b * ember_panel_floats(g->cout, ohw, g->out_panel);
            ember_sgemm_run_panels(k, pool, g->cout, ohw, w->k, 1.0f, &A, &B, 0.0f, c, &e);
            panel_tail_zero(c, g->cout, ohw, g->out_panel, 0, g->cout);
        }
}

/* Where panels pay (a depthwise conv and the 1x1 after it, 1 thread, one process, the depthwise conv's input
 * rewritten before each run): planes up to 20x20, stride 2, and PRelu (fused by the interleaved kernel only)
 * (MobileNetV2's 384 channels at 14x14 + 1x1 to 64 0.95x, 960 at 7x7 to 160 0.97x, 144 at 56x56 stride 2 to
 * 32 0.95x; with PRelu 64 at 56x56 to 64 0.79x, 128 at 28x28 0.79x), but not larger stride-1 planes with a
 * clamp, where the interleaved kernel is slower than the per-plane one by more than the 1x1 gains (144 at
 * 56x56 to 24 1.12x, 192 at 28x28 to 32 1.03x). Between two 1x1 GEMMs the panels cost nothing. Where the
 * per-plane kernels run, their output goes lined instead: everywhere over 400 pixels (the same bytes as NCHW
 * when a plane is whole lines), and below where the table says dw3_lined (AVX-512: MobileFaceNet's 14x14
 * depthwise steps 16-21 -> 9-12 us at 2 threads, the 1x1s after them 62 -> 64; AVX2 lost 1.7%). */
int64_t ember_conv2d_panel_nr(const ember_conv2d_shape *a, bool leaky, int64_t cout) {
    const ember_kernel_table *k = ember_kernels();
    ember_conv2d_shape b = {.batch = 1, .cin = a->cout, .cout = cout, .groups = 1}; /* the 1x1 after a */
    b.h = b.oh = a->oh, b.w = b.ow = a->ow;
    b.kh = b.kw = b.stride_h = b.stride_w = b.dil_h = b.dil_w = 1;
    if (direct_suits(k, &b) || a->oh * a->ow < 2) return 0;
    if (is_depthwise(a) && a->cout != a->cin) return 0;
    if (is_depthwise(a) && !dw_interleaved(k, a, leaky) && (k->dw3_lined || a->oh * a->ow > DWC_PANEL_MAX))
        return EMBER_LINED; /* the per-plane rows */
    if (is_depthwise(a)) return a->oh * a->ow <= DWC_PANEL_MAX || a->stride_w >= 2 || leaky ? k->nr : 0;
    return a->groups == 1 && pointwise_direct(a) && !direct_suits(k, a) ? k->nr : 0;
}

/* Whether the path these weights take reads its input as panels of g->in_panel columns (a plain 1x1 GEMM on
 * the table's nr), and writes its output as panels (the interleaved depthwise kernel; an ungrouped GEMM on
 * the table's nr). */
static bool reads_panels(const ember_conv2d_weights *w, const ember_conv2d_shape *g) {
    return !w->depthwise && !w->direct && !w->wino && pointwise_direct(g) && g->groups == 1 &&
           (g->in_panel == w->kt->nr || g->in_panel == EMBER_LINED);
}

static bool writes_panels(const ember_conv2d_weights *w, const ember_conv2d_shape *g,
                          const ember_epilogue *ep) {
    if (!w->depthwise) /* a GEMM (the residual is NCHW like the epilogue's positions: any) */
        return !w->direct && !w->wino && g->groups == 1 && g->out_panel == w->kt->nr;
    if (dw_whole_plane(g) || (ep && ep->residual)) return false;
    /* panels: the interleaved kernel (ember_conv2d sends panels its way); lined planes: the per-plane one */
    return g->out_panel > 0 || (g->out_panel == EMBER_LINED && !dw_interleaved(w->kt, g, dwc_leaky(ep)));
}

/* ember_conv2d for a conv whose path does not take the panel layout at one end: through an NCHW buffer. */
static ember_status conv_via_nchw(ember_pool *pool, const ember_conv2d_shape *g,
                                  const ember_conv2d_weights *w, const float *in, const float *bias,
                                  float *out, const ember_epilogue *ep) {
    ember_conv2d_shape n = *g;
    bool convert_in = g->in_panel && !reads_panels(w, g),
         convert_out = g->out_panel && !writes_panels(w, g, ep);
    int64_t ihw = g->h * g->w, ohw = g->oh * g->ow;
    float *x = convert_in ? ember_malloc_aligned((size_t)(g->batch * g->cin * ihw) * sizeof(float)) : NULL;
    float *y = convert_out ? ember_malloc_aligned((size_t)(g->batch * g->cout * ohw) * sizeof(float)) : NULL;
    ember_status s = EMBER_OK;
    if ((convert_in && !x) || (convert_out && !y)) {
        s = ember_fail(EMBER_ERR_NOMEM,
                       "conv2d: no memory to convert a %lld-channel %lldx%lld plane from panels",
                       (long long)(convert_in ? g->cin : g->cout), (long long)(convert_in ? g->h : g->oh),
                       (long long)(convert_in ? g->w : g->ow));
        goto done;
    }
    if (convert_in) {
        n.in_panel = 0;
        for (int64_t b = 0; b < g->batch; b++)
            ember_panels_to_nchw(x + b * g->cin * ihw, in + b * ember_panel_floats(g->cin, ihw, g->in_panel),
                                 g->cin, ihw, g->in_panel);
    }
    if (convert_out) n.out_panel = 0;
    s = ember_conv2d(pool, &n, w, x ? x : in, bias, y ? y : out, ep);
    for (int64_t b = 0; !s && convert_out && b < g->batch; b++)
        ember_panels_from_nchw(out + b * ember_panel_floats(g->cout, ohw, g->out_panel),
                               y + b * g->cout * ohw, g->cout, ohw, g->out_panel);
done:
    ember_free_aligned(x);
    ember_free_aligned(y);
    return s;
}

ember_status ember_conv2d(ember_pool *pool, const ember_conv2d_shape *g, const ember_conv2d_weights *w,
                          const float *in, const float *bias, float *out, const ember_epilogue *ep) {
    if (g->oh <= 0 || g->ow <= 0 || g->batch <= 0 || g->cout <= 0) return EMBER_OK;
    if ((g->in_panel && !reads_panels(w, g)) || (g->out_panel && !writes_panels(w, g, ep)))
        return conv_via_nchw(pool, g, w, in, bias, out, ep);
    if (w->depthwise && dw_whole_plane(g)) {
        dw_plane(w->kt, pool, g, w->data, in, bias, out, ep);
        return EMBER_OK;
    }
    if (w->depthwise) {
        /* panels: the interleaved kernel; else it where it wins or fuses PRelu, the per-plane rows elsewhere
         * (NCHW or lined) */
        bool interleaved = g->out_panel > 0 || dw_interleaved(w->kt, g, dwc_leaky(ep));
        if (!(interleaved ? depthwise_interleaved(w->kt, pool, g, w->blocked, in, bias, out, ep)
                          : depthwise(w->kt, pool, g, w->data, in, bias, out, ep, false)))
            return ember_fail(EMBER_ERR_NOMEM, "conv2d: no memory for the phase planes of a %lldx%lld plane",
                              (long long)g->h, (long long)g->w);
        return EMBER_OK;
    }
    if (w->direct) {
        if (!conv_direct(w->kt, pool, g, w->data, in, bias, out, ep))
            return ember_fail(EMBER_ERR_NOMEM, "conv2d: no memory for %lld phase rows of %lld per thread",
                              (long long)(g->cin * ((g->kh - 1) * g->dil_h + 1) * g->stride_w),
                              (long long)(g->ow + g->kw * g->dil_w));
        return EMBER_OK;
    }
    if (w->wino) {
        if (!ember_wino_conv(w->kt, pool, g, w->data, in, bias, out, ep))
            return ember_fail(EMBER_ERR_NOMEM, "conv2d: no memory for Winograd tiles of a %lld->%lld conv",
                              (long long)g->cin, (long long)g->cout);
        return EMBER_OK;
    }
    conv_gemm(w->kt, pool, g, w, in, bias, out, ep);
    return EMBER_OK;
}

bool ember_conv2d_pool2(ember_pool *pool, const ember_conv2d_shape *g, const ember_conv2d_weights *w,
                        const float *in, const float *bias, float *out, const ember_epilogue *ep) {
    if (!w->depthwise || g->in_panel || g->out_panel) return false;
    if (g->oh <= 0 || g->ow <= 0 || g->batch <= 0 || g->cout <= 0) return true;
    return depthwise(w->kt, pool, g, w->data, in, bias, out, ep, true);
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
                    if (ep) v = ember_scalar_act(ember_act_row(ep->act, oc), v);
                    if (r && ep->residual_after_act) v += *r;
                    out[o] = v;
                }
}
