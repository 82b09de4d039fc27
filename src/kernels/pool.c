/* Max / average pooling 2-D (NCHW, ONNX MaxPool/AveragePool semantics) and global pooling. */
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

static void pool_planes(void *ctx, int64_t begin, int64_t end, int thread) {
    const pool_job *j = ctx;
    const ember_pooling2d *g = j->g;
    for (int64_t p = begin; p < end; p++) {
        const float *plane = j->in + p * g->h * g->w;
        float *out = j->out + p * g->oh * g->ow;
        for (int64_t oy = 0; oy < g->oh; oy++)
            for (int64_t ox = 0; ox < g->ow; ox++) out[oy * g->ow + ox] = pool_window(g, plane, oy, ox, j->max);
    }
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
