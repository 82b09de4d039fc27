/* Row-wise softmax / log-softmax, LayerNormalization and RMSNorm, split over rows on the pool. */
#include "kernels/isa.h"

#include <math.h>

typedef struct {
    const ember_kernel_table *k;
    float *y;
    const float *x, *scale, *bias;
    int64_t cols, ld;
    float eps;
    bool log;
    float *mean, *invstd;
} row_job;

static int64_t row_grain(int64_t cols) { return cols >= 4096 ? 1 : 4096 / (cols > 0 ? cols : 1); }

enum { CHUNK = 256 };

/* Softmax of short contiguous rows (cols <= 16, ld == cols: detection scores over 2 classes): a block of
 * rows at a time, max / subtract / sum / scale in plain loops and one exp over the block (five kernel
 * calls per 2-element row had cost ~50 ns a row). */
static void softmax_short_rows(const row_job *j, int64_t begin, int64_t end) {
    enum { BLOCK = 1024 };
    int64_t cols = j->cols, nb = BLOCK / cols;
    for (int64_t r0 = begin; r0 < end; r0 += nb) {
        int64_t n = end - r0 < nb ? end - r0 : nb;
        const float *x = j->x + r0 * cols;
        float *y = j->y + r0 * cols;
        for (int64_t r = 0; r < n; r++) {
            float m = x[r * cols];
            for (int64_t c = 1; c < cols; c++) m = x[r * cols + c] > m ? x[r * cols + c] : m;
            if (m == -INFINITY) m = 0.0f; /* as softmax_rows */
            for (int64_t c = 0; c < cols; c++) y[r * cols + c] = x[r * cols + c] - m;
        }
        j->k->exp(y, y, n * cols);
        for (int64_t r = 0; r < n; r++) {
            float s = 0.0f;
            for (int64_t c = 0; c < cols; c++) s += y[r * cols + c];
            float inv = 1.0f / s;
            for (int64_t c = 0; c < cols; c++) y[r * cols + c] *= inv;
        }
    }
}

float ember_softmax_exp(const ember_kernel_table *k, float *y, const float *x, int64_t n) {
    float m = k->max(x, n);
    return k->exp_sum(y, x, m == -INFINITY ? 0.0f : m, n); /* all -inf: zeros, and 0/0 makes the row NaN */
}

static void softmax_rows(void *ctx, int64_t begin, int64_t end, int thread) {
    const row_job *j = ctx;
    const ember_kernel_table *k = j->k;
    if (!j->log && j->ld == j->cols && j->cols > 0 && j->cols <= 16) {
        softmax_short_rows(j, begin, end);
        return;
    }
    for (int64_t r = begin; r < end; r++) {
        const float *x = j->x + r * j->ld;
        float *y = j->y + r * j->ld;
        if (!j->log) {
            k->binary(EMBER_BINOP_MUL, y, y, NULL, 1.0f / ember_softmax_exp(k, y, x, j->cols), j->cols);
            continue;
        }
        /* log-softmax: y may alias x, so sum exp(x - m) in chunks through a small buffer */
        float m = k->max(x, j->cols), buf[CHUNK], s = 0.0f;
        if (m == -INFINITY) m = 0.0f; /* all -inf: log(0) makes the row -inf - -inf = NaN */
        for (int64_t c = 0; c < j->cols; c += CHUNK)
            s += k->exp_sum(buf, x + c, m, j->cols - c < CHUNK ? j->cols - c : CHUNK);
        k->binary(EMBER_BINOP_SUB, y, x, NULL, m + logf(s), j->cols);
    }
}

void ember_softmax(ember_pool *pool, float *y, const float *x, int64_t rows, int64_t cols, int64_t ld, bool log) {
    row_job j = {.k = ember_kernels(), .y = y, .x = x, .cols = cols, .ld = ld, .log = log};
    ember_pool_for(pool, rows, row_grain(cols), softmax_rows, &j);
}

static void layernorm_rows(void *ctx, int64_t begin, int64_t end, int thread) {
    const row_job *j = ctx;
    for (int64_t r = begin; r < end; r++) {
        const float *x = j->x + r * j->cols;
        float mean = j->k->sum(x, j->cols) / (float)j->cols;
        float invstd = 1.0f / sqrtf(j->k->sum_sq_dev(x, j->cols, mean) / (float)j->cols + j->eps);
        j->k->normalize(j->y + r * j->cols, x, j->scale, j->bias, j->cols, mean, invstd);
        if (j->mean) j->mean[r] = mean;
        if (j->invstd) j->invstd[r] = invstd;
    }
}

void ember_layernorm(ember_pool *pool, float *y, const float *x, const float *scale, const float *bias,
                     int64_t rows, int64_t cols, float eps, float *mean_out, float *invstd_out) {
    row_job j = {.k = ember_kernels(), .y = y, .x = x, .scale = scale, .bias = bias, .cols = cols, .eps = eps,
                 .mean = mean_out, .invstd = invstd_out};
    ember_pool_for(pool, rows, row_grain(cols), layernorm_rows, &j);
}

static void rmsnorm_rows(void *ctx, int64_t begin, int64_t end, int thread) {
    const row_job *j = ctx;
    for (int64_t r = begin; r < end; r++) {
        const float *x = j->x + r * j->cols;
        float inv = 1.0f / sqrtf(j->k->sum_sq_dev(x, j->cols, 0.0f) / (float)j->cols + j->eps);
        j->k->normalize(j->y + r * j->cols, x, j->scale, NULL, j->cols, 0.0f, inv);
    }
}

void ember_rmsnorm(ember_pool *pool, float *y, const float *x, const float *scale, int64_t rows, int64_t cols,
                   float eps) {
    row_job j = {.k = ember_kernels(), .y = y, .x = x, .scale = scale, .cols = cols, .eps = eps};
    ember_pool_for(pool, rows, row_grain(cols), rmsnorm_rows, &j);
}
