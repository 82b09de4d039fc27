/* Max pooling by rows (see eltwise.h): no copy of the input plane; each output row takes the window rows
 * that fall inside the input and hands them to the table's vector pool_row. */
#include "kernels/eltwise.h"

#include "kernels/isa.h"

#include <math.h>

enum { MP_MAX_KH = 64 };

bool ember_maxpool_rows_init(ember_maxpool_rows *m, const ember_pooling2d *g) {
    if (g->pad_t < 0 || g->pad_l < 0 || g->kh > MP_MAX_KH || g->kh < 1 || g->kw < 1) return false;
    int64_t span = (g->ow - 1) * g->stride_w + (g->kw - 1) * g->dil_w + 1;
    m->g = g;
    m->k = ember_kernels();
    m->bw = g->pad_l + g->w > span ? g->pad_l + g->w : span;
    m->vw = span - g->pad_l < g->w ? span - g->pad_l : g->w;
    if (m->vw < 0) m->vw = 0;
    /* big windows: kh + kw maxima per output instead of kh * kw (the stride-2 2- and 3-wide rows already
     * reduce the rows first) */
    m->sep = g->kh > 1 && g->kw > 1 && g->kh * g->kw >= 16;
    m->xdirect = g->pad_l == 0 && span <= g->w; /* every window inside the row: read it in place */
    return true;
}

void ember_maxpool_row_buf(const ember_maxpool_rows *m, float *buf) {
    /* the buffer's columns outside [pad_l, pad_l + vw) are padding: -inf never wins */
    for (int64_t i = 0; i < m->g->pad_l; i++) buf[i] = -INFINITY;
    for (int64_t i = m->g->pad_l + m->vw; i < m->bw; i++) buf[i] = -INFINITY;
}

void ember_maxpool_row(const ember_maxpool_rows *m, const float *const *rows, int64_t n, float *buf,
                       float *out) {
    const ember_pooling2d *g = m->g;
    const ember_kernel_table *k = m->k;
    if (!n) {
        for (int64_t ox = 0; ox < g->ow; ox++) out[ox] = -INFINITY;
        return;
    }
    if (m->xdirect && !m->sep) {
        k->pool_row(out, rows, n, g->kw, 0, g->ow, g->stride_w, g->dil_w, 0, true, 1.0f);
        return;
    }
    const float *r = rows[0];
    if (n > 1 || !m->xdirect) { /* the rows' column maxima into the -inf bordered buffer */
        k->pool_row(buf + g->pad_l, rows, n, 1, 0, m->vw, 1, 1, 0, true, 1.0f);
        r = buf;
    }
    k->pool_row(out, &r, 1, g->kw, 0, g->ow, g->stride_w, g->dil_w, 0, true, 1.0f);
}

typedef struct {
    ember_maxpool_rows m;
    const float *in;
    float *out;
    float *scratch; /* per thread: one bw row */
} mp_job;

static void mp_planes(void *ctx, int64_t begin, int64_t end, int thread) {
    const mp_job *j = ctx;
    const ember_pooling2d *g = j->m.g;
    float *buf = j->scratch + (int64_t)thread * j->m.bw;
    ember_maxpool_row_buf(&j->m, buf);
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
            ember_maxpool_row(&j->m, rows, n, buf, out);
        }
    }
}

bool ember_maxpool2d_rows(ember_pool *pool, const ember_pooling2d *g, const float *in, float *out) {
    if (g->oh <= 0 || g->ow <= 0 || g->batch * g->c <= 0) return true;
    mp_job j = {.in = in, .out = out};
    if (!ember_maxpool_rows_init(&j.m, g)) return false;
    j.scratch =
        ember_scratch(EMBER_SCRATCH_CONV, (size_t)ember_pool_threads(pool) * (size_t)j.m.bw * sizeof(float));
    if (!j.scratch) return false;
    ember_pool_for(pool, g->batch * g->c, 1, mp_planes, &j);
    return true;
}
