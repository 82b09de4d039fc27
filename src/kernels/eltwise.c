/* Max pooling by rows (see eltwise.h). Plain C written so the compiler
 * vectorises the inner loops (no bounds checks or branches inside them). */
#include "kernels/eltwise.h"

#include "kernels/isa.h"

#include <math.h>
#include <string.h>

#if defined(__SSE2__)
#include <emmintrin.h>
#elif defined(__ARM_NEON)
#include <arm_neon.h>
#endif

typedef struct {
    const ember_pooling2d *g;
    const float *in;
    float *out;
    int64_t ph, pw; /* padded plane */
    float *scratch; /* per thread: padded plane + one row */
} mp_job;

/* max(a, b) where a NaN in either gives NaN; written as selects, not branches (the comparisons are
 * unpredictable). */
static inline float fmax_nan(float a, float b) {
    float m = a > b ? a : b;
    return a != a ? a : m;
}

/* row[x] = fmax_nan(r[x], row[x]) for x < n. */
static void max_rows(float *row, const float *r, int64_t n) {
    int64_t x = 0;
#if defined(__SSE2__)
    for (; x + 4 <= n; x += 4) {
        __m128 a = _mm_loadu_ps(r + x), b = _mm_loadu_ps(row + x);
        __m128 m = _mm_max_ps(a, b), nan = _mm_cmpunord_ps(a, a); /* max_ps gives b when unordered */
        _mm_storeu_ps(row + x, _mm_or_ps(_mm_and_ps(nan, a), _mm_andnot_ps(nan, m)));
    }
#elif defined(__ARM_NEON)
    for (; x + 4 <= n; x += 4) vst1q_f32(row + x, vmaxq_f32(vld1q_f32(r + x), vld1q_f32(row + x))); /* NaN wins */
#endif
    for (; x < n; x++) row[x] = fmax_nan(r[x], row[x]);
}

/* row[x] = fmax_nan(b[x], a[x]) for x < n (the first two window rows at once). */
static void max_rows2(float *row, const float *a, const float *b, int64_t n) {
    int64_t x = 0;
#if defined(__SSE2__)
    for (; x + 4 <= n; x += 4) {
        __m128 u = _mm_loadu_ps(b + x), v = _mm_loadu_ps(a + x);
        __m128 m = _mm_max_ps(u, v), nan = _mm_cmpunord_ps(u, u);
        _mm_storeu_ps(row + x, _mm_or_ps(_mm_and_ps(nan, u), _mm_andnot_ps(nan, m)));
    }
#elif defined(__ARM_NEON)
    for (; x + 4 <= n; x += 4) vst1q_f32(row + x, vmaxq_f32(vld1q_f32(b + x), vld1q_f32(a + x)));
#endif
    for (; x < n; x++) row[x] = fmax_nan(b[x], a[x]);
}

static void mp_planes(void *ctx, int64_t begin, int64_t end, int thread) {
    const mp_job *j = ctx;
    const ember_pooling2d *g = j->g;
    float *padded = j->scratch + (int64_t)thread * (j->ph * j->pw + j->pw), *row = padded + j->ph * j->pw;
    /* every window inside the input (no padding, no ceil-mode overhang): read the input rows directly */
    bool direct = !g->pad_t && !g->pad_l && j->ph <= g->h && j->pw <= g->w;
    if (!direct)
        for (int64_t i = 0; i < j->ph * j->pw; i++) padded[i] = -INFINITY;
    int64_t pitch = direct ? g->w : j->pw, span = (g->ow - 1) * g->stride_w + (g->kw - 1) * g->dil_w + 1;
    for (int64_t p = begin; p < end; p++) {
        const float *plane = j->in + p * g->h * g->w, *src = plane;
        if (!direct) {
            for (int64_t y = 0; y < g->h; y++) /* the border stays -inf */
                memcpy(padded + (y + g->pad_t) * j->pw + g->pad_l, plane + y * g->w, (size_t)g->w * sizeof(float));
            src = padded;
        }
        float *out = j->out + p * g->oh * g->ow;
        for (int64_t oy = 0; oy < g->oh; oy++, out += g->ow) {
            const float *r0 = src + oy * g->stride_h * pitch, *red = r0;
            if (g->kh > 1) {
                max_rows2(row, r0, r0 + g->dil_h * pitch, span);
                for (int64_t ky = 2; ky < g->kh; ky++) max_rows(row, r0 + ky * g->dil_h * pitch, span);
                red = row;
            }
            for (int64_t ox = 0; ox < g->ow; ox++) {
                const float *w = red + ox * g->stride_w;
                float m = w[0];
                for (int64_t kx = 1; kx < g->kw; kx++) m = fmax_nan(w[kx * g->dil_w], m);
                out[ox] = m;
            }
        }
    }
}

bool ember_maxpool2d_rows(ember_pool *pool, const ember_pooling2d *g, const float *in, float *out) {
    if (g->oh <= 0 || g->ow <= 0 || g->batch * g->c <= 0) return true;
    mp_job j = {g, in, out, 0, 0, NULL};
    j.ph = (g->oh - 1) * g->stride_h + (g->kh - 1) * g->dil_h + 1;
    j.pw = (g->ow - 1) * g->stride_w + (g->kw - 1) * g->dil_w + 1;
    if (j.ph < g->pad_t + g->h) j.ph = g->pad_t + g->h; /* room for the copied rows */
    if (j.pw < g->pad_l + g->w) j.pw = g->pad_l + g->w;
    if (g->pad_t < 0 || g->pad_l < 0) return false;
    size_t per = (size_t)(j.ph * j.pw + j.pw);
    j.scratch = ember_scratch(EMBER_SCRATCH_CONV, (size_t)ember_pool_threads(pool) * per * sizeof(float));
    if (!j.scratch) return false;
    ember_pool_for(pool, g->batch * g->c, 1, mp_planes, &j);
    return true;
}
