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

/* The same, one output row at a time, for a caller that holds the window rows itself (a conv's output rows,
 * pooled while in cache: ember_conv2d_maxpool). Init: false as above (nothing to do then). A row: rows[0..n)
 * are the window's rows inside the input (top / bottom padding left out), buf a row of m->bw floats set up
 * once by ember_maxpool_row_buf, out the output row (g->ow floats). */
typedef struct ember_maxpool_rows {
    const ember_pooling2d *g;
    const struct ember_kernel_table *k; /* whose pool_row (kernels/isa.h) */
    int64_t bw;   /* row buffer: max(pad_l + w, the windows' span) */
    int64_t vw;   /* input columns any window reads */
    bool sep;     /* two passes (rows, then columns) */
    bool xdirect; /* every window inside the row: read in place */
} ember_maxpool_rows;
bool ember_maxpool_rows_init(ember_maxpool_rows *m, const ember_pooling2d *g);
void ember_maxpool_row_buf(const ember_maxpool_rows *m, float *buf);
void ember_maxpool_row(const ember_maxpool_rows *m, const float *const *rows, int64_t n, float *buf,
                       float *out);

#endif
