/* Separable resampling of the last two axes of f32 planes (the ONNX Resize fast path): each output
 * coordinate has the same number of (input index, weight) taps along an axis.
 *
 *     int32_t idx[80];  float w[80];                          // 2x nearest, 40 -> 80, both axes
 *     for (int o = 0; o < 80; o++) idx[o] = o / 2, w[o] = 1;
 *     ember_resample_axis a = {.in = 40, .out = 80, .taps = 1, .idx = idx, .w = w};
 *     ember_resample2d(pool, 64, &a, &a, in, out);              // in: 64x40x40, out: 64x80x80
 *
 * Same conventions as kernels.h (pure functions, NULL pool = this thread).
 */
#ifndef EMBER_KERNELS_RESAMPLE_H
#define EMBER_KERNELS_RESAMPLE_H

#include "kernels/kernels.h"

typedef struct ember_resample_axis {
    int64_t in, out;    /* lengths along the axis */
    int taps;           /* per output coordinate, >= 1 */
    const int32_t *idx; /* [out][taps] input indices, each in [0, in) */
    const float *w;     /* [out][taps] weights */
} ember_resample_axis;

/* out[p][oy][ox] = sum_ky wy[oy][ky] * (sum_kx wx[ox][kx] * in[p][iy[oy][ky]][ix[ox][kx]]) for p < planes,
 * each sum in float, in tap order, starting from its first product. An axis whose taps are all one of
 * weight 1 is a gather: a copy when idx[o] == o, the table's upsample_row when idx[o] == o / f (integer
 * factor f); a row that repeats the previous output row (nearest along y) is copied from it. Rows resampled
 * along x are kept per thread and reused by the next output rows. Returns false when out of scratch
 * memory (nothing written). ember_resample2d_ref is the plain loop, for tests. */
bool ember_resample2d(ember_pool *pool, int64_t planes, const ember_resample_axis *ay,
                      const ember_resample_axis *ax, const float *in, float *out);
void ember_resample2d_ref(int64_t planes, const ember_resample_axis *ay, const ember_resample_axis *ax,
                          const float *in, float *out);

#endif
