/* Max pooling by rows (see eltwise.h): no copy of the input plane; each output row takes the window rows
 * that fall inside the input and hands them to the table's vector pool_row. */
#include "kernels/eltwise.h"

#include "kernels/isa.h"

#include <math.h>

enum { MP_MAX_KH = 64 };

typedef struct {
    const ember_pooling2d *g;
    const float *in;
    float *out;
    int64_t bw;     /* buffer row: max(pad_l + w, the windows' span) */
    int64_t vw;     /* input columns any window reads */
    bool sep;       /* two passes (rows, then columns) */
    float *scratch; /* per thread: one bw row */
} mp_job;

static void mp_planes(void *ctx, int64_t begin, int64_t end, int thread) {
    const mp_job *j = ctx;
    const ember_pooling2d *g = j->g;
    const ember_kernel_table *k = ember_kernels();
    float *buf = j->scratch + (int64_t)thread * j->bw;
    /* the buffer's columns outside [pad_l, pad_l + vw) are padding: -inf never wins */
    for (int64_t i = 0; i < g->pad_l; i++) buf[i] = -INFINITY;
    for (int64_t i = g->pad_l + j->vw; i < j->bw; i++) buf[i] = -INFINITY;
    int64_t span = (g->ow - 1) * g->stride_w + (g->kw - 1) * g->dil_w + 1;
    bool xdirect = g->pad_l == 0 && span <= g->w; /* every window inside the row: read it in place */
    const float *rows[MP_MAX_KH];
    for (int64_t p = begin; p < end; p++) {
        const float *plane = j->in + p * g->h * g->w;
        float *out = j->out + p * g->oh * g->ow;
        for (int64_t oy = 0; oy < g->oh; oy++, out += g->ow) {
            int64_t n = 0;
            for (int64_t ky = 0; ky < g->kh; ky++) { /* rows in the top / bottom padding are left out */
                int64_t iy = oy * g->stride_h - g->pad_t + ky * g->dil_h;
                if (iy >= 0 && iy < g->h) rows[n++] = plane + iy * g->w;
            }
            if (!n) {
                for (int64_t ox = 0; ox < g->ow; ox++) out[ox] = -INFINITY;
                continue;
            }
            if (xdirect && !j->sep) {
                k->pool_row(out, rows, n, g->kw, 0, g->ow, g->stride_w, g->dil_w, 0, true, 1.0f);
                continue;
            }
            const float *r = rows[0];
            if (n > 1 || !xdirect) { /* the rows' column maxima into the -inf bordered buffer */
                k->pool_row(buf + g->pad_l, rows, n, 1, 0, j->vw, 1, 1, 0, true, 1.0f);
                r = buf;
            }
            k->pool_row(out, &r, 1, g->kw, 0, g->ow, g->stride_w, g->dil_w, 0, true, 1.0f);
        }
    }
}

bool ember_maxpool2d_rows(ember_pool *pool, const ember_pooling2d *g, const float *in, float *out) {
    if (g->oh <= 0 || g->ow <= 0 || g->batch * g->c <= 0) return true;
    if (g->pad_t < 0 || g->pad_l < 0 || g->kh > MP_MAX_KH || g->kh < 1 || g->kw < 1) return false;
    mp_job j = {g, in, out, 0, 0, false, NULL};
    int64_t span = (g->ow - 1) * g->stride_w + (g->kw - 1) * g->dil_w + 1;
    j.bw = g->pad_l + g->w > span ? g->pad_l + g->w : span;
    j.vw = span - g->pad_l < g->w ? span - g->pad_l : g->w;
    if (j.vw < 0) j.vw = 0;
    /* big windows: kh + kw maxima per output instead of kh * kw (the stride-2 2- and 3-wide rows already
     * reduce the rows first) */
    j.sep = g->kh > 1 && g->kw > 1 && g->kh * g->kw >= 16;
    j.scratch = ember_scratch(EMBER_SCRATCH_CONV, (size_t)ember_pool_threads(pool) * (size_t)j.bw * sizeof(float));
    if (!j.scratch) return false;
    ember_pool_for(pool, g->batch * g->c, 1, mp_planes, &j);
    return true;
}
