/* Fast resampling for the face app: separable bilinear warps for axis-aligned maps (resizing, letterboxing) and
 * image -> float planes, vectorizable inner loops, bands of output rows on a thread pool. The per-pixel warp in
 * geometry.c (ember_face_warp_reference) is the definition these follow (within 1 per byte: the sum is taken
 * in another order) and the path for rotated maps. */
#include "apps/face/face.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Below this many output pixels the work stays on the calling thread (a pool round trip costs more). */
enum { PARALLEL_MIN_PIXELS = 1 << 16 };
/* Inner loops run over blocks of this many floats with a constant trip count, which GCC's -O2 vectorizer
 * (the "very cheap" cost model: no epilogues) and clang both turn into vector code; the rest runs scalar. */
enum { BLK = 16 };

/* One source tap pair as ember_face_warp_reference picks it for coordinate s on an axis of `size` pixels:
 * i0 = floor(s), i1 = i0 + 1, fraction s - i0; outside taps clamp to the edge (replicate) or are -1 (the
 * border colour). */
static void tap_at(float s, int size, bool replicate, int *a, int *b, float *f) {
    int i0 = ember_face_floor(s), i1 = i0 + 1;
    *f = s - (float)i0;
    if (replicate) {
        i0 = i0 < 0 ? 0 : i0 >= size ? size - 1 : i0;
        i1 = i1 < 0 ? 0 : i1 >= size ? size - 1 : i1;
    } else {
        i0 = i0 < 0 || i0 >= size ? -1 : i0;
        i1 = i1 < 0 || i1 >= size ? -1 : i1;
    }
    *a = i0, *b = i1;
}

/* The taps of one axis for n output coordinates, source coordinate scale * i + offset (computed as the
 * reference computes m[0] * x + m[1] * y + m[2] with m[1] == 0). The reference treats a coordinate outside
 * (-2, size + 1) as outside the image: the border colour — here both taps -1 with weight 0 on the second, so
 * the pixel is the border colour whatever the other axis says — or (replicate) the coordinate clamped into
 * [0, size - 1]. Replicating, the reference clamps the other axis too, which for a coordinate inside
 * (-2, size + 1) picks the same edge pixel(s) as its own taps, so each axis is resolved on its own here. */
static void axis_taps(int n, float scale, float offset, int size, bool replicate, int *a, int *b, float *f) {
    for (int i = 0; i < n; i++) {
        float s = scale * (float)i + 0.0f + offset;
        if (!(s > -2.0f && s < (float)size + 1.0f)) {
            if (!replicate) {
                a[i] = b[i] = -1, f[i] = 0;
                continue;
            }
            s = s < 0 ? 0 : s > (float)(size - 1) ? (float)(size - 1) : s;
        }
        tap_at(s, size, replicate, &a[i], &b[i], &f[i]);
    }
}

/* Where the rows go: bytes (interleaved RGB, dst) or float planes of a canvas. */
typedef struct resample_job {
    const ember_face_image *src;
    int w, h;              /* the resampled area */
    int *xa, *xb;          /* per output column: offsets of the taps in a padded source row */
    float *fx, *gx;        /* their weights: fx for xb, gx = 1 - fx for xa */
    int *ya, *yb;          /* per output row: source rows (-1: a row of border colour) */
    float *fy;             /* weight of yb */
    uint8_t border;
    uint8_t *rgb;          /* byte sink: w x h interleaved */
    float *planes;         /* float sink: 3 planes of cw x ch, the resampled area at the top left */
    int cw, ch;
    int chan[3];           /* plane c comes from source channel chan[c] */
    float mean[3], scale[3];
    size_t hrow;           /* floats in one horizontally filtered row (a multiple of BLK) */
    size_t plane_stride;   /* floats between the planes of a filtered row (planar sink), else 1 */
    float *scratch;        /* per thread: 2 filtered rows, then a padded source row as floats */
    size_t scratch_floats; /* per thread */
} resample_job;

/* Floats of a padded source row: one border pixel either side. */
static size_t padded_floats(const resample_job *j) { return ((size_t)j->src->w + 2) * 3; }

/* Source row r filtered horizontally into h: the byte sink keeps RGB interleaved (3 floats per output pixel),
 * the plane sink one plane per output channel. The row is first turned into floats with a border pixel either
 * side (one vectorizable pass), so the taps (gathers, scalar) read floats. */
static void filter_row(const resample_job *j, int r, float *restrict h, float *restrict pad) {
    int w = j->w;
    if (r < 0) {
        for (size_t i = 0; i < j->hrow; i++) h[i] = (float)j->border;
        return;
    }
    size_t n = (size_t)j->src->w * 3, i = 0;
    const uint8_t *restrict row = j->src->rgb + (size_t)r * n;
    float *restrict p = pad + 3;
    for (; i + BLK <= n; i += BLK)
        for (int k = 0; k < BLK; k++) p[i + k] = (float)row[i + k];
    for (; i < n; i++) p[i] = (float)row[i];
    for (int c = 0; c < 3; c++) pad[c] = pad[3 + n + c] = (float)j->border;
    const int *restrict xa = j->xa, *restrict xb = j->xb;
    const float *restrict fx = j->fx, *restrict gx = j->gx;
    if (j->rgb) {
        for (int x = 0; x < w; x++) {
            const float *pa = pad + xa[x], *pb = pad + xb[x];
            float f = fx[x], g = gx[x];
            h[3 * x] = g * pa[0] + f * pb[0];
            h[3 * x + 1] = g * pa[1] + f * pb[1];
            h[3 * x + 2] = g * pa[2] + f * pb[2];
        }
    } else {
        size_t ps = j->plane_stride;
        int c0 = j->chan[0], c1 = j->chan[1], c2 = j->chan[2];
        float *restrict h0 = h, *restrict h1 = h + ps, *restrict h2 = h + 2 * ps;
        for (int x = 0; x < w; x++) {
            const float *pa = pad + xa[x], *pb = pad + xb[x];
            float f = fx[x], g = gx[x];
            h0[x] = g * pa[c0] + f * pb[c0];
            h1[x] = g * pa[c1] + f * pb[c1];
            h2[x] = g * pa[c2] + f * pb[c2];
        }
    }
}

/* The reference's rounding: v + 0.5 truncated, at most 255 (v >= 0: the weights are not negative). */
static inline int to_byte(float v) {
    int q = (int)(v + 0.5f);
    return q > 255 ? 255 : q;
}

/* o[i] = byte of (1 - fy) * a[i] + fy * b[i] for i < n. */
static void blend_bytes(const float *restrict a, const float *restrict b, float fy, size_t n, uint8_t *restrict o) {
    float gy = 1.0f - fy;
    size_t i = 0;
    for (; i + BLK <= n; i += BLK)
        for (int k = 0; k < BLK; k++) o[i + k] = (uint8_t)to_byte(gy * a[i + k] + fy * b[i + k]);
    for (; i < n; i++) o[i] = (uint8_t)to_byte(gy * a[i] + fy * b[i]);
}

/* o[i] = (byte of (1 - fy) * a[i] + fy * b[i] - mean) * scale for i < n. */
static void blend_planes(const float *restrict a, const float *restrict b, float fy, float mean, float scale,
                         size_t n, float *restrict o) {
    float gy = 1.0f - fy;
    size_t i = 0;
    for (; i + BLK <= n; i += BLK)
        for (int k = 0; k < BLK; k++) o[i + k] = ((float)to_byte(gy * a[i + k] + fy * b[i + k]) - mean) * scale;
    for (; i < n; i++) o[i] = ((float)to_byte(gy * a[i] + fy * b[i]) - mean) * scale;
}

static void fill_floats(float *o, size_t n, float v) {
    for (size_t i = 0; i < n; i++) o[i] = v;
}

/* Output rows [begin, end) (of the canvas for the plane sink): each needed source row is filtered once into a
 * ring of two, then every output row is a blend of two filtered rows. */
static void resample_rows(void *ctx, int64_t begin, int64_t end, int thread) {
    const resample_job *j = ctx;
    float *scratch = j->scratch + (size_t)thread * j->scratch_floats;
    float *slot[2] = {scratch, scratch + j->hrow};
    float *pad = scratch + 2 * j->hrow;
    int have[2] = {-2, -2}; /* -1 is the border row */
    size_t plane = (size_t)j->cw * j->ch;
    for (int y = (int)begin; y < (int)end; y++) {
        if (y >= j->h) { /* canvas below the resampled area: black */
            for (int c = 0; c < 3; c++)
                fill_floats(j->planes + c * plane + (size_t)y * j->cw, (size_t)j->cw,
                            (0.0f - j->mean[c]) * j->scale[c]);
            continue;
        }
        int ra = j->ya[y], rb = j->yb[y];
        float *a = have[0] == ra ? slot[0] : have[1] == ra ? slot[1] : NULL;
        if (!a) {
            int s = have[0] == rb ? 1 : 0;
            filter_row(j, ra, slot[s], pad);
            have[s] = ra, a = slot[s];
        }
        float *b = have[0] == rb ? slot[0] : have[1] == rb ? slot[1] : NULL;
        if (!b) {
            int s = a == slot[0] ? 1 : 0;
            filter_row(j, rb, slot[s], pad);
            have[s] = rb, b = slot[s];
        }
        if (j->rgb) {
            blend_bytes(a, b, j->fy[y], (size_t)j->w * 3, j->rgb + (size_t)y * j->w * 3);
            continue;
        }
        for (int c = 0; c < 3; c++) {
            float *o = j->planes + c * plane + (size_t)y * j->cw;
            size_t off = (size_t)c * j->plane_stride;
            blend_planes(a + off, b + off, j->fy[y], j->mean[c], j->scale[c], (size_t)j->w, o);
            fill_floats(o + j->w, (size_t)(j->cw - j->w), (0.0f - j->mean[c]) * j->scale[c]); /* right: black */
        }
    }
}

/* Build the tables for the map m (m[1] == m[3] == 0) from src onto w x h, run it over `rows` output rows. */
static ember_status resample(resample_job *j, const float m[6], bool replicate, int rows, ember_pool *pool) {
    const ember_face_image *src = j->src;
    int w = j->w, h = j->h;
    if (!(m[1] == 0.0f && m[3] == 0.0f && isfinite(m[0]) && isfinite(m[2]) && isfinite(m[4]) && isfinite(m[5])))
        return ember_fail(EMBER_ERR_ARG, "axis-aligned warp: the map (%g %g %g; %g %g %g) rotates or is not finite",
                          m[0], m[1], m[2], m[3], m[4], m[5]);
    if ((int64_t)w * h < PARALLEL_MIN_PIXELS) pool = NULL;
    int nthreads = pool ? ember_pool_threads(pool) : 1;
    j->hrow = ((size_t)w * 3 + BLK - 1) / BLK * BLK;
    j->plane_stride = j->rgb ? 1 : ((size_t)w + BLK - 1) / BLK * BLK;
    if (!j->rgb) j->hrow = 3 * j->plane_stride;
    j->scratch_floats = 2 * j->hrow + padded_floats(j);
    j->scratch_floats = (j->scratch_floats + BLK - 1) / BLK * BLK;
    /* one block: scratch, column tables (2 int + 2 float per column), row tables (2 int + 1 float) */
    size_t cols = (size_t)w, rws = (size_t)h;
    size_t bytes = (size_t)nthreads * j->scratch_floats * sizeof(float) + cols * (2 * sizeof(int) + 2 * sizeof(float)) +
                   rws * (2 * sizeof(int) + sizeof(float));
    char *mem = ember_malloc(bytes);
    if (!mem) return ember_fail(EMBER_ERR_NOMEM, "out of memory for resampling tables (%zu bytes)", bytes);
    j->scratch = (float *)mem;
    char *p = mem + (size_t)nthreads * j->scratch_floats * sizeof(float);
    j->fx = (float *)p, p += cols * sizeof(float);
    j->gx = (float *)p, p += cols * sizeof(float);
    j->fy = (float *)p, p += rws * sizeof(float);
    j->xa = (int *)p, p += cols * sizeof(int);
    j->xb = (int *)p, p += cols * sizeof(int);
    j->ya = (int *)p, p += rws * sizeof(int);
    j->yb = (int *)p;
    axis_taps(w, m[0], m[2], src->w, replicate, j->xa, j->xb, j->fx);
    axis_taps(h, m[4], m[5], src->h, replicate, j->ya, j->yb, j->fy);
    for (int x = 0; x < w; x++) {
        j->gx[x] = 1.0f - j->fx[x];
        j->xa[x] = (j->xa[x] + 1) * 3; /* -1 (border) is the padding pixel in front */
        j->xb[x] = (j->xb[x] + 1) * 3;
    }
    ember_pool_for(pool, rows, 8, resample_rows, j);
    ember_free(mem);
    return EMBER_OK;
}

ember_status ember_face_warp_axis(const ember_face_image *src, const float m[6], uint8_t border, bool replicate,
                                  ember_pool *pool, ember_face_image *dst) {
    if (!src || !src->rgb || src->w <= 0 || src->h <= 0 || !dst || !dst->rgb || dst->w <= 0 || dst->h <= 0)
        return ember_fail(EMBER_ERR_ARG, "axis-aligned warp: empty source or destination image");
    resample_job j = {.src = src, .w = dst->w, .h = dst->h, .border = border, .rgb = dst->rgb,
                      .chan = {0, 1, 2}};
    j.cw = j.w, j.ch = j.h;
    return resample(&j, m, replicate, dst->h, pool);
}

/* Average kx x ky blocks (partial blocks at the right and bottom edges average what they cover), rounding
 * (sum + n/2) / n. Per output row the block's source rows are summed into column sums (contiguous,
 * vectorizable), then kx columns per output pixel. */
typedef struct shrink_job {
    const ember_face_image *src;
    ember_face_image *out;
    int kx, ky;
    uint32_t *sums; /* per thread: src->w * 3 column sums */
} shrink_job;

/* sum[i] += r[i] for i < n (restrict parameters: GCC's -O2 vectorizer adds no alias checks) */
static void add_bytes(uint32_t *restrict sum, const uint8_t *restrict r, size_t n) {
    size_t i = 0;
    for (; i + BLK <= n; i += BLK)
        for (int k = 0; k < BLK; k++) sum[i + k] += r[i + k];
    for (; i < n; i++) sum[i] += r[i];
}

static void shrink_rows(void *ctx, int64_t begin, int64_t end, int thread) {
    const shrink_job *j = ctx;
    const ember_face_image *src = j->src;
    int kx = j->kx, ky = j->ky, w = j->out->w;
    size_t n = (size_t)src->w * 3;
    uint32_t *sum = j->sums + (size_t)thread * n;
    for (int y = (int)begin; y < (int)end; y++) {
        int y0 = y * ky, y1 = y0 + ky < src->h ? y0 + ky : src->h;
        memset(sum, 0, n * sizeof *sum);
        for (int yy = y0; yy < y1; yy++) add_bytes(sum, src->rgb + (size_t)yy * n, n);
        uint8_t *o = j->out->rgb + (size_t)y * w * 3;
        for (int x = 0; x < w; x++, o += 3) {
            int x0 = x * kx, x1 = x0 + kx < src->w ? x0 + kx : src->w;
            uint32_t s0 = 0, s1 = 0, s2 = 0, cnt = (uint32_t)((x1 - x0) * (y1 - y0));
            for (const uint32_t *q = sum + (size_t)x0 * 3, *e = sum + (size_t)x1 * 3; q < e; q += 3)
                s0 += q[0], s1 += q[1], s2 += q[2];
            o[0] = (uint8_t)((s0 + cnt / 2) / cnt);
            o[1] = (uint8_t)((s1 + cnt / 2) / cnt);
            o[2] = (uint8_t)((s2 + cnt / 2) / cnt);
        }
    }
}

/* The resize map: pixel centres aligned (OpenCV INTER_LINEAR), after averaging kx x ky blocks when shrinking by
 * 2x or more (*small then holds the averaged image; *from points at what to resample). */
static ember_status resize_map(const ember_face_image *src, int w, int h, ember_pool *pool,
                               ember_face_image *small, const ember_face_image **from, float m[6]) {
    if (!src || !src->rgb || src->w <= 0 || src->h <= 0 || w <= 0 || h <= 0)
        return ember_fail(EMBER_ERR_ARG, "resize: empty image or size %dx%d", w, h);
    int kx = src->w / w, ky = src->h / h;
    kx = kx < 1 ? 1 : kx;
    ky = ky < 1 ? 1 : ky;
    *from = src;
    if (kx > 1 || ky > 1) {
        ember_status s = ember_face_image_alloc((src->w + kx - 1) / kx, (src->h + ky - 1) / ky, small);
        if (s) return s;
        if ((int64_t)src->w * src->h < 4 * PARALLEL_MIN_PIXELS) pool = NULL;
        int nthreads = pool ? ember_pool_threads(pool) : 1;
        shrink_job sj = {src, small, kx, ky, ember_malloc((size_t)nthreads * src->w * 3 * sizeof(uint32_t))};
        if (!sj.sums) {
            ember_face_image_free(small);
            return ember_fail(EMBER_ERR_NOMEM, "out of memory for shrinking a %dx%d image", src->w, src->h);
        }
        ember_pool_for(pool, small->h, 2, shrink_rows, &sj);
        ember_free(sj.sums);
        *from = small;
    }
    /* Output pixel centre x+0.5 sits at (x+0.5)*src->w/w in the source, i.e. at that / kx - 0.5 in `from`. */
    float fx = (float)src->w / (float)w / (float)kx, fy = (float)src->h / (float)h / (float)ky;
    float mm[6] = {fx, 0, 0.5f * fx - 0.5f, 0, fy, 0.5f * fy - 0.5f};
    memcpy(m, mm, sizeof mm);
    return EMBER_OK;
}

ember_status ember_face_image_resize_pool(const ember_face_image *src, int w, int h, ember_pool *pool,
                                          ember_face_image *out) {
    *out = (ember_face_image){0};
    ember_face_image small = {0};
    const ember_face_image *from;
    float m[6];
    ember_status s = resize_map(src, w, h, pool, &small, &from, m);
    if (!s) s = ember_face_image_alloc(w, h, out);
    if (!s) s = ember_face_warp_axis(from, m, 0, true, pool, out);
    if (s && out->rgb) ember_face_image_free(out);
    ember_face_image_free(&small);
    return s;
}

ember_status ember_face_image_resize(const ember_face_image *src, int w, int h, ember_face_image *out) {
    return ember_face_image_resize_pool(src, w, h, NULL, out);
}

ember_status ember_face_image_resize_planes(const ember_face_image *src, int w, int h, int canvas_w, int canvas_h,
                                            bool bgr, const float mean[3], const float std[3], ember_pool *pool,
                                            float *out) {
    if (w > canvas_w || h > canvas_h)
        return ember_fail(EMBER_ERR_ARG, "resize: %dx%d does not fit the %dx%d canvas", w, h, canvas_w, canvas_h);
    ember_face_image small = {0};
    const ember_face_image *from;
    float m[6];
    ember_status s = resize_map(src, w, h, pool, &small, &from, m);
    if (!s) {
        resample_job j = {.src = from, .w = w, .h = h, .planes = out, .cw = canvas_w, .ch = canvas_h};
        for (int c = 0; c < 3; c++)
            j.chan[c] = bgr ? 2 - c : c, j.mean[c] = mean[c], j.scale[c] = 1.0f / std[c];
        s = resample(&j, m, true, canvas_h, pool);
    }
    ember_face_image_free(&small);
    return s;
}

/* --- image -> float planes ------------------------------------------------------------------------------ */
typedef struct planes_job {
    const uint8_t *rgb;
    float *out;
    size_t plane;
    int chan[3];
    float mean[3], scale[3];
} planes_job;

/* Pixels [begin, end) of p into the planes o0..o2, taking source channels c0, c1, c2 (constants after inlining,
 * which lets the compiler vectorize the deinterleaving): one pass writing all three planes. */
static inline void planes_pass(const uint8_t *restrict p, size_t i, size_t n, const planes_job *j, int c0, int c1,
                               int c2) {
    float *restrict o0 = j->out, *restrict o1 = j->out + j->plane, *restrict o2 = j->out + 2 * j->plane;
    float m0 = j->mean[0], m1 = j->mean[1], m2 = j->mean[2];
    float s0 = j->scale[0], s1 = j->scale[1], s2 = j->scale[2];
    for (; i + BLK <= n; i += BLK) { /* bytes -> floats contiguously, then deinterleave floats */
        float t[3 * BLK];
        for (int k = 0; k < 3 * BLK; k++) t[k] = p[i * 3 + k];
        for (int k = 0; k < BLK; k++) {
            o0[i + k] = (t[3 * k + c0] - m0) * s0;
            o1[i + k] = (t[3 * k + c1] - m1) * s1;
            o2[i + k] = (t[3 * k + c2] - m2) * s2;
        }
    }
    for (; i < n; i++) {
        const uint8_t *q = p + i * 3;
        o0[i] = ((float)q[c0] - m0) * s0;
        o1[i] = ((float)q[c1] - m1) * s1;
        o2[i] = ((float)q[c2] - m2) * s2;
    }
}

static void planes_range(void *ctx, int64_t begin, int64_t end, int thread) {
    const planes_job *j = ctx;
    if (j->chan[0] == 0)
        planes_pass(j->rgb, (size_t)begin, (size_t)end, j, 0, 1, 2);
    else
        planes_pass(j->rgb, (size_t)begin, (size_t)end, j, 2, 1, 0);
}

void ember_face_image_to_planes_pool(const ember_face_image *img, bool bgr, const float mean[3], const float std[3],
                                     ember_pool *pool, float *out) {
    planes_job j = {.rgb = img->rgb, .out = out, .plane = (size_t)img->w * img->h};
    for (int c = 0; c < 3; c++) j.chan[c] = bgr ? 2 - c : c, j.mean[c] = mean[c], j.scale[c] = 1.0f / std[c];
    ember_pool_for(j.plane < PARALLEL_MIN_PIXELS ? NULL : pool, (int64_t)j.plane, 4096, planes_range, &j);
}

void ember_face_image_to_planes(const ember_face_image *img, bool bgr, const float mean[3], const float std[3],
                                float *out) {
    ember_face_image_to_planes_pool(img, bgr, mean, std, NULL, out);
}
