/* Small f32 kernels the ONNX ops use beyond kernels.h: max pooling by rows.
 *
 *     ember_pooling2d g = {.batch = 1, .c = 64, .h = 111, .w = 111, .oh = 55, .ow = 55, .kh = 3, .kw = 3,
 *                          .stride_h = 2, .stride_w = 2, .dil_h = 1, .dil_w = 1};
 *     ember_maxpool2d_rows(pool, &g, in, out);   // same result as ember_maxpool2d (its reference twin)
 *
 * Same conventions as kernels.h (pure functions, NULL pool = this thread).
 */
#ifndef EMBER_KERNELS_ELTWISE_H
#define EMBER_KERNELS_ELTWISE_H

#include "kernels/kernels.h"

/* MaxPool 2-D, no copy of the input: for each output row the window rows inside the input go to the
 * kernel table's vector pool_row. Windows wholly inside the row are reduced in place (rows, then columns);
 * with left/right padding, ceil-mode overhang or big windows (kh * kw >= 16) the rows are first reduced
 * into a -inf bordered row buffer, then its columns. Equal to ember_maxpool2d (a NaN in a window gives
 * NaN in both; only the sign of a zero maximum may differ). Returns false when out of scratch memory or
 * kh > 64 (nothing written; use ember_maxpool2d). */
bool ember_maxpool2d_rows(ember_pool *pool, const ember_pooling2d *g, const float *in, float *out);

#endif
