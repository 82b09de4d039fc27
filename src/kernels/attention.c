/* Scaled dot-product attention on f32 (ember_attention_f32, see kernels.h): blocks of query rows per thread,
 * their scores in a thread buffer, softmax's exponentials in place, 1/sum applied to the outputs. */
#include "kernels/isa.h"

#include <stdatomic.h>
#include <string.h>

typedef struct {
    const ember_attention *a;
    int64_t rows, blocks; /* query rows per block, blocks per product */
    atomic_bool failed;   /* a thread had no memory for its scores */
} att_job;

static void att_blocks(void *ctx, int64_t begin, int64_t end, int thread) {
    att_job *j = ctx;
    const ember_attention *a = j->a;
    const ember_kernel_table *k = ember_kernels();
    float *s = ember_scratch(EMBER_SCRATCH_ATTN, sizeof(float) * (size_t)(j->rows * (a->Lk + 1)));
    if (!s) {
        atomic_store(&j->failed, true);
        return;
    }
    float *inv = s + j->rows * a->Lk;
    for (int64_t t = begin; t < end; t++) {
        int64_t b = t / j->blocks, r0 = t % j->blocks * j->rows,
                n = a->Lq - r0 < j->rows ? a->Lq - r0 : j->rows;
        const int64_t *off = a->offsets[b];
        ember_sgemm(NULL, false, false, n, a->Lk, a->D, a->alpha, a->q + off[0] + r0 * a->D, a->D,
                    a->kt + off[1], a->Lk, 0.0f, s, a->Lk, NULL);
        for (int64_t r = 0; a->mask && r < n; r++) {
            const float *mr = a->mask + off[3] + (r0 + r) * a->mrow;
            k->binary(EMBER_BINOP_ADD, s + r * a->Lk, s + r * a->Lk, a->mcol ? mr : NULL, mr[0], a->Lk);
        }
        /* softmax's exponentials; their 1 / sum scales the Dv outputs of each row, not its Lk scores */
        for (int64_t r = 0; r < n; r++)
            inv[r] = 1.0f / ember_softmax_exp(k, s + r * a->Lk, s + r * a->Lk, a->Lk);
        float *y = a->y + (b * a->Lq + r0) * a->Dv;
        ember_sgemm(NULL, false, false, n, a->Dv, a->Lk, 1.0f, s, a->Lk, a->v + off[2], a->Dv, 0.0f, y, a->Dv,
                    NULL);
        for (int64_t r = 0; r < n; r++)
            k->binary(EMBER_BINOP_MUL, y + r * a->Dv, y + r * a->Dv, NULL, inv[r], a->Dv);
    }
    (void)thread;
}

bool ember_attention_f32(ember_pool *pool, const ember_attention *a, int64_t products) {
    if (products <= 0 || a->Lq <= 0 || a->Dv <= 0) return true;
    if (a->Lk <= 0) { /* no keys: every output is an empty sum */
        memset(a->y, 0, sizeof(float) * (size_t)(products * a->Lq * a->Dv));
        return true;
    }
    /* a block's scores stay within 128 KB; blocks shrink (down to 8 rows) until each thread has 3 */
    int64_t rows = a->Lq, cap = 32768 / a->Lk > 8 ? 32768 / a->Lk : 8,
            want = 3 * (int64_t)ember_pool_threads(pool);
    if (rows > cap) rows = cap;
    while (rows > 8 && products * ((a->Lq + rows - 1) / rows) < want) rows = (rows + 1) / 2;
    att_job j = {.a = a, .rows = rows, .blocks = (a->Lq + rows - 1) / rows};
    atomic_init(&j.failed, false);
    ember_pool_for(pool, products * j.blocks, 1, att_blocks, &j);
    return !atomic_load(&j.failed);
}
