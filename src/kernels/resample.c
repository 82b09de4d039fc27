/* Separable resampling of the last two axes (see resample.h): each needed input row is resampled along x
 * once into a small per-thread cache (or straight into the output for nearest along y), then the output
 * row is the weighted sum of its cached rows. Indices and weights come precomputed; no division inside. */
#include "kernels/resample.h"

#include "kernels/isa.h"

#include <string.h>

#if defined(__SSE2__)
#include <emmintrin.h>
#elif defined(__ARM_NEON)
#include <arm_neon.h>
#endif

enum { RS_SLOTS = 8 }; /* x-resampled input rows cached per thread (4 cubic taps, twice over) */

typedef enum { RX_COPY, RX_UP, RX_GATHER, RX_TAPS } rx_kind;

typedef struct {
    const ember_resample_axis *ay, *ax;
    const float *in;
    float *out;
    rx_kind xk;
    int64_t f;      /* RX_UP factor */
    bool ynear;     /* every y tap is one of weight 1 */
    int64_t slots;  /* cached rows per thread */
    float *scratch; /* per thread: slots rows of ax->out */
} rs_job;

/* An axis whose taps are all single ones of weight 1. */
static bool is_nearest(const ember_resample_axis *a) {
    if (a->taps != 1) return false;
    for (int64_t o = 0; o < a->out; o++)
        if (a->w[o] != 1.0f) return false;
    return true;
}

/* d = input row s resampled along x. */
static void hrow(const rs_job *j, const ember_kernel_table *k, float *restrict d, const float *restrict s) {
    const ember_resample_axis *ax = j->ax;
    switch (j->xk) {
    case RX_COPY:
        memcpy(d, s, (size_t)ax->out * sizeof(float));
        return;
    case RX_UP:
        k->upsample_row(d, s, ax->out, j->f);
        return;
    case RX_GATHER:
        for (int64_t o = 0; o < ax->out; o++) d[o] = s[ax->idx[o]];
        return;
    case RX_TAPS:
        break;
    }
    const int32_t *ix = ax->idx;
    const float *w = ax->w;
    if (ax->taps == 2) {
        for (int64_t o = 0; o < ax->out; o++) d[o] = w[2 * o] * s[ix[2 * o]] + w[2 * o + 1] * s[ix[2 * o + 1]];
        return;
    }
    for (int64_t o = 0, t = ax->taps; o < ax->out; o++, ix += t, w += t) {
        float acc = w[0] * s[ix[0]];
        for (int64_t kx = 1; kx < t; kx++) acc += w[kx] * s[ix[kx]];
        d[o] = acc;
    }
}

/* d[o] = w * h[o] (first) or d[o] += w * h[o], o < n: 4 lanes with SSE2 / NEON, multiply and add rounded
 * separately like the scalar twin (no FMA). */
static void row_madd(float *restrict d, const float *restrict h, float w, int64_t n, bool first) {
    int64_t o = 0;
#if defined(__SSE2__)
    __m128 vw = _mm_set1_ps(w);
    for (; o + 4 <= n; o += 4) {
        __m128 p = _mm_mul_ps(vw, _mm_loadu_ps(h + o));
        _mm_storeu_ps(d + o, first ? p : _mm_add_ps(_mm_loadu_ps(d + o), p));
    }
#elif defined(__ARM_NEON)
    float32x4_t vw = vdupq_n_f32(w);
    for (; o + 4 <= n; o += 4) {
        float32x4_t p = vmulq_f32(vw, vld1q_f32(h + o));
        vst1q_f32(d + o, first ? p : vaddq_f32(vld1q_f32(d + o), p));
    }
#endif
    for (; o < n; o++) d[o] = first ? w * h[o] : d[o] + w * h[o];
}

static void rs_planes(void *ctx, int64_t begin, int64_t end, int thread) {
    const rs_job *j = ctx;
    const ember_resample_axis *ay = j->ay, *ax = j->ax;
    const ember_kernel_table *k = ember_kernels();
    int64_t ow = ax->out, iw = ax->in;
    float *cache = j->scratch + (int64_t)thread * j->slots * ow;
    int64_t tag[RS_SLOTS];
    for (int64_t p = begin; p < end; p++) {
        const float *in = j->in + p * ay->in * iw;
        float *out = j->out + p * ay->out * ow;
        for (int64_t s = 0; s < j->slots; s++) tag[s] = -1;
        for (int64_t oy = 0; oy < ay->out; oy++, out += ow) {
            const int32_t *iy = ay->idx + oy * ay->taps;
            const float *wy = ay->w + oy * ay->taps;
            if (j->ynear) {
                if (oy > 0 && iy[0] == iy[-1])
                    memcpy(out, out - ow, (size_t)ow * sizeof(float));
                else
                    hrow(j, k, out, in + (int64_t)iy[0] * iw);
                continue;
            }
            for (int ky = 0; ky < ay->taps; ky++) {
                int64_t s = iy[ky] % j->slots;
                float *h = cache + s * ow;
                if (tag[s] != iy[ky]) hrow(j, k, h, in + (int64_t)iy[ky] * iw), tag[s] = iy[ky];
                row_madd(out, h, wy[ky], ow, ky == 0);
            }
        }
    }
}

bool ember_resample2d(ember_pool *pool, int64_t planes, const ember_resample_axis *ay,
                      const ember_resample_axis *ax, const float *in, float *out) {
    if (planes <= 0 || ay->out <= 0 || ax->out <= 0) return true;
    rs_job j = {ay, ax, in, out, RX_TAPS, 1, is_nearest(ay), 0, NULL};
    if (is_nearest(ax)) {
        bool copy = ax->out == ax->in, up = ax->in > 0 && ax->out % ax->in == 0 && ax->out > ax->in;
        int64_t f = up ? ax->out / ax->in : 1;
        for (int64_t o = 0; o < ax->out && (copy || up); o++) {
            copy &= ax->idx[o] == o;
            up &= ax->idx[o] == o / f;
        }
        j.xk = copy ? RX_COPY : up ? RX_UP : RX_GATHER;
        j.f = f;
    }
    /* nearest along y writes straight into the output; else the rows of the taps are cached (a direct-
     * mapped set of slots: one slot when the taps outnumber them) */
    j.slots = j.ynear ? 0 : ay->taps <= RS_SLOTS / 2 ? RS_SLOTS : 1;
    if (j.slots) {
        j.scratch = ember_scratch(EMBER_SCRATCH_CONV,
                                  (size_t)ember_pool_threads(pool) * (size_t)(j.slots * ax->out) * sizeof(float));
        if (!j.scratch) return false;
    }
    ember_pool_for(pool, planes, 1, rs_planes, &j);
    return true;
}

void ember_resample2d_ref(int64_t planes, const ember_resample_axis *ay, const ember_resample_axis *ax,
                          const float *in, float *out) {
    for (int64_t p = 0; p < planes; p++)
        for (int64_t oy = 0; oy < ay->out; oy++)
            for (int64_t ox = 0; ox < ax->out; ox++) {
                float acc = 0;
                for (int ky = 0; ky < ay->taps; ky++) {
                    const float *row = in + (p * ay->in + ay->idx[oy * ay->taps + ky]) * ax->in;
                    const int32_t *ix = ax->idx + ox * ax->taps;
                    const float *wx = ax->w + ox * ax->taps;
                    float s = wx[0] * row[ix[0]];
                    for (int kx = 1; kx < ax->taps; kx++) s += wx[kx] * row[ix[kx]];
                    float v = ay->w[oy * ay->taps + ky] * s;
                    acc = ky ? acc + v : v;
                }
                out[(p * ay->out + oy) * ax->out + ox] = acc;
            }
}
