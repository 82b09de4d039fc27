/* Max / average pooling 2-D (NCHW, ONNX MaxPool/AveragePool semantics) and global pooling. Rows whose
 * windows lie inside the input go through the table's vector row kernel; the border stays scalar. */
#include "kernels/isa.h"

#include <math.h>

typedef struct {
    const ember_pooling2d *g;
    const float *in;
    float *out;
    bool max;
} pool_job;

/* One output: the window clipped to the input; average divides by the clipped or the padded size. */
static float pool_window(const ember_pooling2d *g, const float *plane, int64_t oy, int64_t ox, bool max) {
    int64_t y0 = oy * g->stride_h - g->pad_t, x0 = ox * g->stride_w - g->pad_l;
    float acc = max ? -INFINITY : 0.0f;
    int64_t count = 0, padded = 0;
    for (int64_t ky = 0; ky < g->kh; ky++) {
        int64_t iy = y0 + ky * g->dil_h;
        for (int64_t kx = 0; kx < g->kw; kx++) {
            int64_t ix = x0 + kx * g->dil_w;
            /* ceil_mode windows may reach past the padded input: those positions never count */
            if (iy < g->h + g->pad_b && ix < g->w + g->pad_r) padded++;
            if (iy < 0 || iy >= g->h || ix < 0 || ix >= g->w) continue;
            float v = plane[iy * g->w + ix];
            if (max) acc = v > acc || isnan(v) ? v : acc;
            else acc += v;
            count++;
        }
    }
    if (max) return acc;
    int64_t div = g->count_include_pad ? padded : count;
    return div ? acc / (float)div : 0.0f;
}

enum { POOL_MAX_KH = 64 };

/* First output index >= lo_ok whose window start o*s - pad >= 0, and one past the last whose window end
 * o*s - pad + (k-1)*d stays < n: the interior range [*a, *b) along one axis (may be empty). */
static void interior(int64_t n, int64_t on, int64_t k, int64_t s, int64_t d, int64_t pad, int64_t *a,
                     int64_t *b) {
    *a = (pad + s - 1) / s;
    int64_t room = n - 1 - (k - 1) * d + pad; /* o*s <= room */
    *b = room < 0 ? 0 : room / s + 1;
    if (*b > on) *b = on;
    if (*a > *b) *a = *b;
}

static void pool_planes(void *ctx, int64_t begin, int64_t end, int thread) {
    const pool_job *j = ctx;
    const ember_pooling2d *g = j->g;
    const ember_kernel_table *k = ember_kernels();
    int64_t ya, yb, xa, xb;
    interior(g->h, g->oh, g->kh, g->stride_h, g->dil_h, g->pad_t, &ya, &yb);
    interior(g->w, g->ow, g->kw, g->stride_w, g->dil_w, g->pad_l, &xa, &xb);
    if (g->kh > POOL_MAX_KH) ya = yb = 0;
    float div = (float)(g->kh * g->kw); /* an interior window counts kh*kw inputs either way */
    const float *rows[POOL_MAX_KH];
    for (int64_t p = begin; p < end; p++) {
        const float *plane = j->in + p * g->h * g->w;
        float *out = j->out + p * g->oh * g->ow;
        for (int64_t oy = 0; oy < g->oh; oy++) {
            float *o = out + oy * g->ow;
            if (oy < ya || oy >= yb || xa >= xb) {
                for (int64_t ox = 0; ox < g->ow; ox++) o[ox] = pool_window(g, plane, oy, ox, j->max);
                continue;
            }
            for (int64_t ky = 0; ky < g->kh; ky++)
                rows[ky] = plane + (oy * g->stride_h - g->pad_t + ky * g->dil_h) * g->w;
            for (int64_t ox = 0; ox < xa; ox++) o[ox] = pool_window(g, plane, oy, ox, j->max);
            k->pool_row(o, rows, g->kh, g->kw, xa, xb, g->stride_w, g->dil_w, g->pad_l, j->max, div);
            for (int64_t ox = xb; ox < g->ow; ox++) o[ox] = pool_window(g, plane, oy, ox, j->max);
        }
    }
}

void ember_pool2d_ref(const ember_pooling2d *g, const float *in, float *out, bool max) {
    for (int64_t p = 0; p < g->batch * g->c; p++)
        for (int64_t oy = 0; oy < g->oh; oy++)
            for (int64_t ox = 0; ox < g->ow; ox++)
                out[(p * g->oh + oy) * g->ow + ox] = pool_window(g, in + p * g->h * g->w, oy, ox, max);
}

void ember_maxpool2d(ember_pool *pool, const ember_pooling2d *g, const float *in, float *out) {
    pool_job j = {g, in, out, true};
    ember_pool_for(pool, g->batch * g->c, 1, pool_planes, &j);
}

void ember_avgpool2d(ember_pool *pool, const ember_pooling2d *g, const float *in, float *out) {
    pool_job j = {g, in, out, false};
    ember_pool_for(pool, g->batch * g->c, 1, pool_planes, &j);
}

typedef struct {
    const float *in;
    float *out;
    int64_t hw;
    bool max;
} global_job;

static void global_rows(void *ctx, int64_t begin, int64_t end, int thread) {
    const global_job *j = ctx;
    const ember_kernel_table *k = ember_kernels();
    for (int64_t r = begin; r < end; r++) {
        const float *x = j->in + r * j->hw;
        j->out[r] = j->max ? k->max(x, j->hw) : k->sum(x, j->hw) / (float)j->hw;
    }
}

void ember_global_avgpool(ember_pool *pool, int64_t rows, int64_t hw, const float *in, float *out) {
    global_job j = {in, out, hw, false};
    ember_pool_for(pool, rows, hw >= 4096 ? 1 : 4096 / (hw > 0 ? hw : 1), global_rows, &j);
}

void ember_global_maxpool(ember_pool *pool, int64_t rows, int64_t hw, const float *in, float *out) {
    global_job j = {in, out, hw, true};
    ember_pool_for(pool, rows, hw >= 4096 ? 1 : 4096 / (hw > 0 ? hw : 1), global_rows, &j);
}
