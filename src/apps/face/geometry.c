/* Geometry for the face app: the per-pixel bilinear warp (rotated maps, and the reference for the separable
 * resampler in resample.c), the least-squares similarity transform that aligns five landmarks onto the ArcFace
 * template. */
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

/* The definition of a bilinear warp, pixel by pixel (the scalar reference for ember_face_warp_axis, and the path
 * for maps that rotate). */
void ember_face_warp_reference(const ember_face_image *src, const float m[6], uint8_t border, bool replicate,
                               ember_face_image *dst) {
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
            int x0 = ember_face_floor(sx), y0 = ember_face_floor(sy);
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
    if (m[1] == 0.0f && m[3] == 0.0f && isfinite(m[0]) && isfinite(m[2]) && isfinite(m[4]) && isfinite(m[5]) &&
        ember_face_warp_axis(src, m, border, false, NULL, dst) == EMBER_OK)
        return;
    ember_face_warp_reference(src, m, border, false, dst);
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
