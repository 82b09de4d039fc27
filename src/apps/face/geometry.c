/* Geometry for the face app: bilinear warps and resizing, image -> float planes, the least-squares similarity
 * transform that aligns five landmarks onto the ArcFace template. */
#include "apps/face/face.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

const float ember_face_arcface_template[10] = {
    38.2946f, 51.6963f, 73.5318f, 51.5014f, 56.0252f, 71.7366f, 41.5493f, 92.3655f, 70.7299f, 92.2041f,
};

/* Pixel (x, y) of img, or NULL outside when `replicate` is false (then the border colour is used); with
 * `replicate` coordinates are clamped to the edge, like OpenCV's BORDER_REPLICATE. */
static const uint8_t *pixel_at(const ember_face_image *img, int x, int y, bool replicate) {
    if (x < 0 || y < 0 || x >= img->w || y >= img->h) {
        if (!replicate) return NULL;
        x = x < 0 ? 0 : x >= img->w ? img->w - 1 : x;
        y = y < 0 ? 0 : y >= img->h ? img->h - 1 : y;
    }
    return img->rgb + ((size_t)y * img->w + x) * 3;
}

/* floor for the finite, int-range coordinates warp computes (floorf is a libm call without SSE4.1) */
static inline int floor_int(float v) {
    int i = (int)v;
    return (float)i > v ? i - 1 : i;
}

/* One axis of an axis-aligned warp: for each output coordinate, the two source taps (-1: the border colour)
 * and the fraction, computed exactly as warp() computes them per pixel, so both give the same bytes: `out`
 * where the coordinate is outside the range warp() accepts; then (replicating) both coordinates of the pixel
 * are clamped into the image, which is what the second set of taps is. */
typedef struct {
    int a, b, ca, cb; /* taps, and taps of the clamped coordinate */
    float f, cf;
    bool out;
} axis_tap;

static void tap_at(float s, int size, bool replicate, int *a, int *b, float *f) {
    int i0 = floor_int(s), i1 = i0 + 1;
    *f = s - i0;
    if (replicate) { /* pixel_at's clamping */
        i0 = i0 < 0 ? 0 : i0 >= size ? size - 1 : i0;
        i1 = i1 < 0 ? 0 : i1 >= size ? size - 1 : i1;
    } else {
        i0 = i0 < 0 || i0 >= size ? -1 : i0;
        i1 = i1 < 0 || i1 >= size ? -1 : i1;
    }
    *a = i0, *b = i1;
}

static void axis_taps(axis_tap *t, int n, float scale, float offset, int size, bool replicate) {
    for (int i = 0; i < n; i++) {
        float s = scale * (float)i + 0.0f + offset; /* as m[0] * x + m[1] * y + m[2] with m[1] == 0 */
        t[i].out = !(s > -2.0f && s < size + 1.0f);
        float c = s < 0 ? 0 : s > size - 1 ? (float)(size - 1) : s;
        tap_at(c, size, replicate, &t[i].ca, &t[i].cb, &t[i].cf);
        if (!t[i].out) tap_at(s, size, replicate, &t[i].a, &t[i].b, &t[i].f);
    }
}

/* Four lanes of float (R, G, B, unused) with plain IEEE operations per lane (GCC/Clang vector extension; the
 * build does not contract a*b+c into FMAs), so a pixel computed this way equals the scalar sum lane by lane. */
typedef float v4f __attribute__((vector_size(16)));

/* Source row y as floats, 4 per pixel, in cache slot `slot` (rows are reused by neighbouring output rows). */
static const float *float_row(const ember_face_image *src, int y, float *cache[2], int cached[2]) {
    for (int s = 0; s < 2; s++)
        if (cached[s] == y) return cache[s];
    int s = cached[0] == y - 1 ? 1 : 0; /* keep the row above (upsampling walks rows in order) */
    const uint8_t *p = src->rgb + (size_t)y * src->w * 3;
    float *f = cache[s];
    for (int x = 0; x < src->w; x++, p += 3, f += 4) f[0] = p[0], f[1] = p[1], f[2] = p[2], f[3] = 0.0f;
    cached[s] = y;
    return cache[s];
}

/* warp() for maps without rotation or shear (resizing, letterboxing): the taps per column and per row once,
 * not per pixel, and pixels whose four taps are all inside as 4-lane vectors over float copies of the two
 * source rows. False when out of memory for the tables (warp() then does it pixel by pixel). */
static bool warp_axis_aligned(const ember_face_image *src, const float m[6], uint8_t border, bool replicate,
                              ember_face_image *dst) {
    axis_tap *tx = malloc(sizeof *tx * (size_t)dst->w), *ty = malloc(sizeof *ty * (size_t)dst->h);
    float *cache[2] = {malloc(sizeof(float) * 4 * (size_t)src->w), malloc(sizeof(float) * 4 * (size_t)src->w)};
    int cached[2] = {-1, -1};
    if (!tx || !ty || !cache[0] || !cache[1]) {
        free(tx), free(ty), free(cache[0]), free(cache[1]);
        return false;
    }
    axis_taps(tx, dst->w, m[0], m[2], src->w, replicate);
    axis_taps(ty, dst->h, m[4], m[5], src->h, replicate);
    const float bg = border;
    for (int y = 0; y < dst->h; y++) {
        uint8_t *o = dst->rgb + (size_t)y * dst->w * 3;
        const axis_tap *r = &ty[y];
        for (int x = 0; x < dst->w; x++, o += 3) {
            const axis_tap *c = &tx[x];
            bool clamp = r->out || c->out;
            if (clamp && !replicate) {
                memset(o, border, 3);
                continue;
            }
            int xa = clamp ? c->ca : c->a, xb = clamp ? c->cb : c->b;
            int ya = clamp ? r->ca : r->a, yb = clamp ? r->cb : r->b;
            float fx = clamp ? c->cf : c->f, fy = clamp ? r->cf : r->f;
            float w[4] = {(1 - fx) * (1 - fy), fx * (1 - fy), (1 - fx) * fy, fx * fy};
            const uint8_t *ra = ya < 0 ? NULL : src->rgb + (size_t)ya * src->w * 3;
            const uint8_t *rb = yb < 0 ? NULL : src->rgb + (size_t)yb * src->w * 3;
            if (ra && rb && xa >= 0 && xb >= 0) { /* the scalar sum below, lane by lane */
                const float *fa = float_row(src, ya, cache, cached), *fb = float_row(src, yb, cache, cached);
                v4f A, B, C, D, v = {0, 0, 0, 0};
                memcpy(&A, fa + xa * 4, sizeof A), memcpy(&B, fa + xb * 4, sizeof B);
                memcpy(&C, fb + xa * 4, sizeof C), memcpy(&D, fb + xb * 4, sizeof D);
                v += w[0] * A;
                v += w[1] * B;
                v += w[2] * C;
                v += w[3] * D;
                v += 0.5f;
                for (int k = 0; k < 3; k++) o[k] = (uint8_t)(v[k] > 255.0f ? 255 : v[k]);
                continue;
            }
            const uint8_t *p[4] = {ra && xa >= 0 ? ra + xa * 3 : NULL, ra && xb >= 0 ? ra + xb * 3 : NULL,
                                   rb && xa >= 0 ? rb + xa * 3 : NULL, rb && xb >= 0 ? rb + xb * 3 : NULL};
            for (int k = 0; k < 3; k++) {
                float v = 0;
                for (int q = 0; q < 4; q++) v += w[q] * (p[q] ? p[q][k] : bg);
                o[k] = (uint8_t)(v + 0.5f > 255.0f ? 255 : v + 0.5f);
            }
        }
    }
    free(tx), free(ty), free(cache[0]), free(cache[1]);
    return true;
}

static void warp(const ember_face_image *src, const float m[6], uint8_t border, bool replicate,
                 ember_face_image *dst) {
    if (m[1] == 0.0f && m[3] == 0.0f && isfinite(m[0]) && isfinite(m[2]) && isfinite(m[4]) && isfinite(m[5]) &&
        warp_axis_aligned(src, m, border, replicate, dst))
        return;
    const uint8_t bg[3] = {border, border, border};
    for (int y = 0; y < dst->h; y++) {
        uint8_t *o = dst->rgb + (size_t)y * dst->w * 3;
        for (int x = 0; x < dst->w; x++, o += 3) {
            float sx = m[0] * x + m[1] * y + m[2], sy = m[3] * x + m[4] * y + m[5];
            if (!(sx > -2.0f && sy > -2.0f && sx < src->w + 1.0f && sy < src->h + 1.0f)) { /* also NaN */
                if (replicate) {
                    sx = sx < 0 ? 0 : sx > src->w - 1 ? (float)(src->w - 1) : sx;
                    sy = sy < 0 ? 0 : sy > src->h - 1 ? (float)(src->h - 1) : sy;
                } else {
                    memcpy(o, bg, 3);
                    continue;
                }
            }
            int x0 = floor_int(sx), y0 = floor_int(sy);
            float fx = sx - x0, fy = sy - y0;
            float w[4] = {(1 - fx) * (1 - fy), fx * (1 - fy), (1 - fx) * fy, fx * fy};
            if (x0 >= 0 && y0 >= 0 && x0 + 1 < src->w && y0 + 1 < src->h) { /* all 4 inside: no lookups */
                const uint8_t *a = src->rgb + ((size_t)y0 * src->w + x0) * 3, *b = a + (size_t)src->w * 3;
                for (int c = 0; c < 3; c++) { /* the same sum, in the same order, as below */
                    float v = 0;
                    v += w[0] * a[c];
                    v += w[1] * a[c + 3];
                    v += w[2] * b[c];
                    v += w[3] * b[c + 3];
                    o[c] = (uint8_t)(v + 0.5f > 255.0f ? 255 : v + 0.5f);
                }
                continue;
            }
            const uint8_t *p[4] = {pixel_at(src, x0, y0, replicate), pixel_at(src, x0 + 1, y0, replicate),
                                   pixel_at(src, x0, y0 + 1, replicate), pixel_at(src, x0 + 1, y0 + 1, replicate)};
            for (int c = 0; c < 3; c++) {
                float v = 0;
                for (int k = 0; k < 4; k++) v += w[k] * (p[k] ? p[k][c] : bg[c]);
                o[c] = (uint8_t)(v + 0.5f > 255.0f ? 255 : v + 0.5f);
            }
        }
    }
}

void ember_face_warp(const ember_face_image *src, const float m[6], uint8_t border, ember_face_image *dst) {
    warp(src, m, border, false, dst);
}

/* Average kx x ky blocks (partial blocks at the right and bottom edges average what they cover). */
static ember_status box_shrink(const ember_face_image *src, int kx, int ky, ember_face_image *out) {
    int w = (src->w + kx - 1) / kx, h = (src->h + ky - 1) / ky;
    ember_status s = ember_face_image_alloc(w, h, out);
    if (s) return s;
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            unsigned sum[3] = {0, 0, 0}, n = 0;
            for (int yy = y * ky; yy < (y + 1) * ky && yy < src->h; yy++)
                for (int xx = x * kx; xx < (x + 1) * kx && xx < src->w; xx++, n++) {
                    const uint8_t *p = src->rgb + ((size_t)yy * src->w + xx) * 3;
                    for (int c = 0; c < 3; c++) sum[c] += p[c];
                }
            uint8_t *o = out->rgb + ((size_t)y * w + x) * 3;
            for (int c = 0; c < 3; c++) o[c] = (uint8_t)((sum[c] + n / 2) / n);
        }
    return EMBER_OK;
}

ember_status ember_face_image_resize(const ember_face_image *src, int w, int h, ember_face_image *out) {
    ember_status s = ember_face_image_alloc(w, h, out);
    if (s) return s;
    int kx = src->w / w, ky = src->h / h;
    kx = kx < 1 ? 1 : kx;
    ky = ky < 1 ? 1 : ky;
    ember_face_image small = {0};
    const ember_face_image *from = src;
    if (kx > 1 || ky > 1) {
        if ((s = box_shrink(src, kx, ky, &small))) {
            ember_face_image_free(out);
            return s;
        }
        from = &small;
    }
    /* Output pixel centre x+0.5 sits at (x+0.5)*src->w/w in the source, i.e. at that / kx - 0.5 in `from`. */
    float fx = (float)src->w / (float)w / (float)kx, fy = (float)src->h / (float)h / (float)ky;
    float m[6] = {fx, 0, 0.5f * fx - 0.5f, 0, fy, 0.5f * fy - 0.5f};
    warp(from, m, 0, true, out);
    ember_face_image_free(&small);
    return EMBER_OK;
}

void ember_face_image_to_planes(const ember_face_image *img, bool bgr, const float mean[3], const float std[3],
                                float *out) {
    size_t plane = (size_t)img->w * img->h;
    for (int c = 0; c < 3; c++) {
        int sc = bgr ? 2 - c : c;
        float scale = 1.0f / std[c], m = mean[c];
        float *o = out + c * plane;
        const uint8_t *p = img->rgb + sc;
        for (size_t i = 0; i < plane; i++) o[i] = ((float)p[i * 3] - m) * scale;
    }
}

/* --- similarity transform ------------------------------------------------------------------------------- */
/* Umeyama's least-squares similarity specialised to 2-D: with centred points p (source) and q (destination)
 * and the rotation-scale written as [a -b; b a], minimising sum |[a -b; b a] p + t - q|^2 gives
 * a = sum(p.q) / sum|p|^2 and b = sum(p x q) / sum|p|^2 — the same solution as the SVD form (which reduces to
 * this in two dimensions, reflections excluded). */
ember_status ember_face_similarity(const float *src, const float *dst, int n, float m[6]) {
    if (n < 2) return ember_fail(EMBER_ERR_ARG, "similarity transform needs at least 2 points, got %d", n);
    double ms[2] = {0, 0}, md[2] = {0, 0};
    for (int i = 0; i < n; i++)
        for (int k = 0; k < 2; k++) ms[k] += src[2 * i + k] / (double)n, md[k] += dst[2 * i + k] / (double)n;
    double dot = 0, cross = 0, norm = 0;
    for (int i = 0; i < n; i++) {
        double px = src[2 * i] - ms[0], py = src[2 * i + 1] - ms[1];
        double qx = dst[2 * i] - md[0], qy = dst[2 * i + 1] - md[1];
        dot += px * qx + py * qy;
        cross += px * qy - py * qx;
        norm += px * px + py * py;
    }
    if (!(norm > 1e-12))
        return ember_fail(EMBER_ERR_ARG, "similarity transform: the %d source points coincide", n);
    double a = dot / norm, b = cross / norm;
    m[0] = (float)a, m[1] = (float)-b, m[2] = (float)(md[0] - (a * ms[0] - b * ms[1]));
    m[3] = (float)b, m[4] = (float)a, m[5] = (float)(md[1] - (b * ms[0] + a * ms[1]));
    return EMBER_OK;
}

ember_status ember_face_affine_invert(const float m[6], float inv[6]) {
    double det = (double)m[0] * m[4] - (double)m[1] * m[3];
    if (!(fabs(det) > 1e-12)) return ember_fail(EMBER_ERR_ARG, "affine map is singular (determinant %g)", det);
    double i0 = m[4] / det, i1 = -m[1] / det, i3 = -m[3] / det, i4 = m[0] / det;
    inv[0] = (float)i0, inv[1] = (float)i1, inv[2] = (float)(-(i0 * m[2] + i1 * m[5]));
    inv[3] = (float)i3, inv[4] = (float)i4, inv[5] = (float)(-(i3 * m[2] + i4 * m[5]));
    return EMBER_OK;
}

ember_status ember_face_align(const ember_face_image *img, const float landmarks[10], int size,
                              ember_face_image *out) {
    float dst[10], m[6], inv[6];
    for (int i = 0; i < 10; i++) dst[i] = ember_face_arcface_template[i] * (float)size / 112.0f;
    ember_status s = ember_face_similarity(landmarks, dst, 5, m);
    if (s == EMBER_OK) s = ember_face_affine_invert(m, inv);
    if (s == EMBER_OK) s = ember_face_image_alloc(size, size, out);
    if (s) return ember_fail_context(s, "face alignment: ");
    ember_face_warp(img, inv, 0, out);
    return EMBER_OK;
}
