/* Matrix products: ONNX MatMul (numpy batching and 1-D promotion, opsets 1-13) and Gemm (opsets 1-13).
 * f32 runs on the kernels' GEMM (ember_sgemm); other types compute in double. */
#include "kernels/kernels.h"
#include "ops/op.h"

static void sgemm(ember_pool *pool, bool ta, bool tb, int64_t M, int64_t N, int64_t K, float alpha, const float *A,
                  int64_t lda, const float *B, int64_t ldb, float beta, float *C, int64_t ldc) {
    ember_sgemm(pool, ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc, NULL);
}

/* Double-precision generic GEMM over any numeric type (via eo_get/eo_put). */
static void gemm_generic(const ember_tensor *A, int64_t aoff, const ember_tensor *B, int64_t boff, ember_tensor *C,
                         int64_t coff, int64_t M, int64_t N, int64_t K) {
    for (int64_t i = 0; i < M; i++)
        for (int64_t n = 0; n < N; n++) {
            double acc = 0;
            for (int64_t k = 0; k < K; k++) acc += eo_get(A, aoff + i * K + k) * eo_get(B, boff + k * N + n);
            eo_put(C, coff + i * N + n, acc);
        }
}

/* --- MatMul ------------------------------------------------------------------------------------------- */
typedef struct mm_shape {
    int64_t M, N, K;
    int nb;                         /* batch rank of the output */
    int64_t batch[EMBER_MAX_DIMS];  /* output batch dims */
    int64_t ast[EMBER_MAX_DIMS], bst[EMBER_MAX_DIMS]; /* batch strides in matrices (0 = broadcast) */
    int ndim;
    int64_t shape[EMBER_MAX_DIMS];
} mm_shape;

static ember_status mm_plan(const ember_tensor *a, const ember_tensor *b, mm_shape *p) {
    if (a->ndim < 1 || b->ndim < 1) return ember_fail(EMBER_ERR_SHAPE, "MatMul: scalar operands");
    int64_t as[EMBER_MAX_DIMS + 1], bs[EMBER_MAX_DIMS + 1];
    int an = a->ndim, bn = b->ndim;
    memcpy(as, a->shape, sizeof(int64_t) * (size_t)an);
    memcpy(bs, b->shape, sizeof(int64_t) * (size_t)bn);
    bool a1 = an == 1, b1 = bn == 1;
    if (a1) as[1] = as[0], as[0] = 1, an = 2;
    if (b1) bs[1] = 1, bn = 2;
    p->M = as[an - 2];
    p->K = as[an - 1];
    p->N = bs[bn - 1];
    if (bs[bn - 2] != p->K) {
        char x[128], y[128];
        ember_shape_format(x, sizeof x, a->ndim, a->shape);
        ember_shape_format(y, sizeof y, b->ndim, b->shape);
        return ember_fail(EMBER_ERR_SHAPE, "MatMul: inner dimensions differ (%s times %s)", x, y);
    }
    ember_status s = ember_shape_broadcast(an - 2, as, bn - 2, bs, &p->nb, p->batch);
    if (s) return s;
    int64_t sa = p->M * p->K, sb = p->K * p->N;
    for (int d = p->nb - 1; d >= 0; d--) {
        int ia = d - (p->nb - (an - 2)), ib = d - (p->nb - (bn - 2));
        int64_t da = ia >= 0 ? as[ia] : 1, db = ib >= 0 ? bs[ib] : 1;
        p->ast[d] = da == 1 ? 0 : sa;
        p->bst[d] = db == 1 ? 0 : sb;
        sa *= da;
        sb *= db;
    }
    p->ndim = 0;
    for (int d = 0; d < p->nb; d++) p->shape[p->ndim++] = p->batch[d];
    if (!a1) p->shape[p->ndim++] = p->M;
    if (!b1) p->shape[p->ndim++] = p->N;
    if (p->ndim > EMBER_MAX_DIMS) return ember_fail(EMBER_ERR_UNSUPPORTED, "MatMul: rank too large");
    return EMBER_OK;
}

/* --- f32 fast paths: packed constant operands, fused epilogue, batched GEMM ------------------------------ */
static void free_aligned(void *p) { ember_free_aligned(p); }

/* The epilogue of c->fuse for an output with rows of ldc floats. */
static ember_epilogue fused_epilogue(const eo_ctx *c, int64_t ldc) {
    ember_epilogue ep = {0};
    const eo_fuse *f = c->fuse;
    if (!f) return ep;
    ep.act = f->act;
    if (f->bias) ep.bias = f->bias, ep.bias_kind = EMBER_BIAS_COL;
    if (f->residual >= 0) ep.residual = c->in[f->residual]->t.data, ep.ldr = ldc;
    ep.residual_after_act = f->residual_after_act;
    return ep;
}

/* B packed once for this step when it is a constant (NULL: use it as is); as IEEE half with the session's
 * f16_weights option. */
static const void *packed_b(eo_ctx *c, int i, bool trans, int64_t K, int64_t N, const float *B, int64_t ldb) {
    if (!c->prep || !eo_in_const(c, i)) return NULL;
    if (c->prep->p) return c->prep->p;
    bool half = c->f16_weights;
    size_t bytes = half ? ember_sgemm_pack_b_f16_size(K, N) : ember_sgemm_pack_b_size(K, N);
    bool heap;
    void *pb = ember_pagestore_keep(c->store, bytes, &heap);
    if (!pb) return NULL; /* unpacked still works */
    if (half && ember_sgemm_pack_b_f16(trans, K, N, B, ldb, pb)) {
        if (heap) ember_free_aligned(pb);
        return NULL; /* a store's bytes stay unused until it is reset */
    }
    if (!half) ember_sgemm_pack_b(trans, K, N, B, ldb, pb);
    *c->prep = (eo_prep){pb, heap ? free_aligned : NULL};
    eo_drop_input(c, i);
    return pb;
}

/* Every batch dim of one operand is either broadcast (stride 0) or dense: one stride per matrix. */
static bool uniform_stride(const mm_shape *p, const int64_t *st, int64_t mat, int64_t *stride) {
    bool all0 = true, dense = true;
    for (int d = 0; d < p->nb; d++) {
        if (p->batch[d] == 1) continue;
        if (st[d]) all0 = false;
        else dense = false;
    }
    if (all0) return *stride = 0, true;
    if (!dense) return false;
    *stride = mat;
    return true;
}

void matmul_prepare(eo_ctx *c) {
    const ember_tensor *a = eo_in(c, 0), *b = eo_in(c, 1);
    mm_shape p;
    int64_t sb;
    if (!a || !b || a->dtype != EMBER_DTYPE_F32 || b->dtype != a->dtype || !eo_in_const(c, 1) || mm_plan(a, b, &p)) return;
    if (uniform_stride(&p, p.bst, p.K * p.N, &sb) && sb == 0) packed_b(c, 1, false, p.K, p.N, b->data, p.N);
}

static ember_status matmul_fast(eo_ctx *c, const mm_shape *p) {
    const ember_tensor *a = eo_in(c, 0), *b = eo_in(c, 1);
    ember_tensor *y = eo_out(c, 0);
    int64_t batches = 1, sa, sb;
    for (int d = 0; d < p->nb; d++) batches *= p->batch[d];
    ember_epilogue ep = fused_epilogue(c, p->N);
    float alpha = c->fuse && c->fuse->alpha ? c->fuse->alpha : 1.0f;
    if (!uniform_stride(p, p->ast, p->M * p->K, &sa) || !uniform_stride(p, p->bst, p->K * p->N, &sb)) {
        int64_t idx[EMBER_MAX_DIMS] = {0};
        for (int64_t bi = 0; bi < batches; bi++) {
            int64_t ao = 0, bo = 0, co = bi * p->M * p->N;
            for (int d = 0; d < p->nb; d++) ao += idx[d] * p->ast[d], bo += idx[d] * p->bst[d];
            ember_epilogue e = ep;
            if (e.residual) e.residual += co;
            ember_sgemm(c->pool, false, false, p->M, p->N, p->K, alpha, (const float *)a->data + ao, p->K,
                        (const float *)b->data + bo, p->N, 0.0f, (float *)y->data + co, p->N, &e);
            for (int d = p->nb - 1; d >= 0 && ++idx[d] == p->batch[d]; d--) idx[d] = 0;
        }
        return EMBER_OK;
    }
    if (sb == 0) { /* shared B (weights): one GEMM over all rows of A, or per batch when A is broadcast */
        int64_t rows = sa ? batches * p->M : p->M;
        const void *pb = packed_b(c, 1, false, p->K, p->N, b->data, p->N);
        ember_gemm_operand A = {.data = a->data, .ld = p->K};
        ember_gemm_operand B = pb ? (ember_gemm_operand){.packed = pb, .packed_f16 = c->f16_weights}
                                  : (ember_gemm_operand){.data = b->data, .ld = p->N};
        ember_sgemm_packed(c->pool, rows, p->N, p->K, alpha, &A, &B, 0.0f, y->data, p->N, &ep);
        for (int64_t bi = 1; !sa && bi < batches; bi++) /* A broadcast too: every batch is the same */
            memcpy((float *)y->data + bi * p->M * p->N, y->data, sizeof(float) * (size_t)(p->M * p->N));
        return EMBER_OK;
    }
    ember_sgemm_batched(c->pool, batches, false, false, p->M, p->N, p->K, alpha, a->data, p->K, sa, b->data, p->N, sb,
                        0.0f, y->data, p->N, p->M * p->N, &ep, p->M * p->N);
    return EMBER_OK;
}

ember_status matmul_infer(eo_ctx *c) {
    mm_shape p;
    ember_status s = mm_plan(eo_in(c, 0), eo_in(c, 1), &p);
    if (s) return s;
    return eo_set_out(c, 0, eo_dtype(c, 0), p.ndim, p.shape);
}

ember_status matmul_run(eo_ctx *c) {
    const ember_tensor *a = eo_in(c, 0), *b = eo_in(c, 1);
    ember_tensor *y = eo_out(c, 0);
    if (a->dtype != b->dtype) return ember_fail(EMBER_ERR_SHAPE, "MatMul: operand types differ");
    if (eo_is_half(a->dtype)) return eo_run_as_f32(c, matmul_run);
    mm_shape p;
    ember_status s = mm_plan(a, b, &p);
    if (s) return s;
    if (a->dtype == EMBER_DTYPE_F32 && !eo_reference()) return matmul_fast(c, &p);
    int64_t batches = 1, idx[EMBER_MAX_DIMS] = {0};
    for (int d = 0; d < p.nb; d++) batches *= p.batch[d];
    for (int64_t bi = 0; bi < batches; bi++) {
        int64_t ao = 0, bo = 0, co = bi * p.M * p.N;
        for (int d = 0; d < p.nb; d++) ao += idx[d] * p.ast[d], bo += idx[d] * p.bst[d];
        if (a->dtype == EMBER_DTYPE_F32)
            sgemm(c->pool, false, false, p.M, p.N, p.K, 1.0f, (const float *)a->data + ao, p.K, (const float *)b->data + bo,
                  p.N, 0.0f, (float *)y->data + co, p.N);
        else
            gemm_generic(a, ao, b, bo, y, co, p.M, p.N, p.K);
        for (int d = p.nb - 1; d >= 0 && ++idx[d] == p.batch[d]; d--) idx[d] = 0;
    }
    if (a->dtype == EMBER_DTYPE_F32) eo_fuse_apply(c, y->data, batches * p.M, p.N, 1);
    return EMBER_OK;
}

/* --- Gemm: Y = alpha * A' * B' + beta * C ------------------------------------------------------------- */
static ember_status gemm_dims(eo_ctx *c, int64_t *M, int64_t *N, int64_t *K) {
    const ember_tensor *a = eo_in(c, 0), *b = eo_in(c, 1);
    if (a->ndim != 2 || b->ndim != 2) return ember_fail(EMBER_ERR_SHAPE, "Gemm: A and B must be 2-D");
    bool ta = eo_attr_int(c, "transA", 0), tb = eo_attr_int(c, "transB", 0);
    *M = ta ? a->shape[1] : a->shape[0];
    *K = ta ? a->shape[0] : a->shape[1];
    *N = tb ? b->shape[0] : b->shape[1];
    int64_t kb = tb ? b->shape[1] : b->shape[0];
    if (kb != *K) return ember_fail(EMBER_ERR_SHAPE, "Gemm: inner dimensions %lld and %lld differ", (long long)*K, (long long)kb);
    return EMBER_OK;
}

ember_status gemm_infer(eo_ctx *c) {
    int64_t shape[2], K;
    ember_status s = gemm_dims(c, &shape[0], &shape[1], &K);
    if (s) return s;
    return eo_set_out(c, 0, eo_dtype(c, 0), 2, shape);
}

void gemm_prepare(eo_ctx *c) {
    const ember_tensor *a = eo_in(c, 0), *b = eo_in(c, 1);
    int64_t M, N, K;
    if (!a || !b || a->dtype != EMBER_DTYPE_F32 || b->dtype != a->dtype || !eo_in_const(c, 1) || gemm_dims(c, &M, &N, &K))
        return;
    packed_b(c, 1, eo_attr_int(c, "transB", 0), K, N, b->data, b->shape[1]);
}

ember_status gemm_run(eo_ctx *c) {
    const ember_tensor *a = eo_in(c, 0), *b = eo_in(c, 1), *bias = eo_in(c, 2);
    ember_tensor *y = eo_out(c, 0);
    if (eo_is_half(a->dtype)) return eo_run_as_f32(c, gemm_run);
    int64_t M, N, K;
    ember_status s = gemm_dims(c, &M, &N, &K);
    if (s) return s;
    bool ta = eo_attr_int(c, "transA", 0), tb = eo_attr_int(c, "transB", 0);
    float alpha = eo_attr_float(c, "alpha", 1.0f), beta = eo_attr_float(c, "beta", 1.0f);
    if (bias && beta != 0) { /* Y = broadcast(C) first, then accumulate */
        int64_t st[EMBER_MAX_DIMS] = {0, 0};
        int off = 2 - bias->ndim;
        if (off < 0) return ember_fail(EMBER_ERR_SHAPE, "Gemm: C has rank %d", bias->ndim);
        int64_t bs[EMBER_MAX_DIMS];
        ember_shape_strides(bias->ndim, bias->shape, bs);
        for (int d = 0; d < 2; d++) {
            int64_t dim = d >= off ? bias->shape[d - off] : 1;
            if (dim != 1 && dim != y->shape[d]) return ember_fail(EMBER_ERR_SHAPE, "Gemm: C does not broadcast to the output");
            st[d] = d >= off && dim != 1 ? bs[d - off] : 0;
        }
        if ((s = eo_strided_copy(y, bias, st, 0, c->pool))) return s;
    } else {
        beta = 0;
    }
    if (a->dtype == EMBER_DTYPE_F32 && !eo_reference()) {
        const void *pb = packed_b(c, 1, tb, K, N, b->data, b->shape[1]);
        ember_gemm_operand A = {.data = a->data, .ld = a->shape[1], .trans = ta};
        ember_gemm_operand B = pb ? (ember_gemm_operand){.packed = pb, .packed_f16 = c->f16_weights}
                                  : (ember_gemm_operand){.data = b->data, .ld = b->shape[1], .trans = tb};
        ember_epilogue ep = fused_epilogue(c, N);
        ember_sgemm_packed(c->pool, M, N, K, alpha, &A, &B, beta, y->data, N, &ep);
        return EMBER_OK;
    }
    if (a->dtype == EMBER_DTYPE_F32) {
        sgemm(c->pool, ta, tb, M, N, K, alpha, a->data, a->shape[1], b->data, b->shape[1], beta, y->data, N);
        eo_fuse_apply(c, y->data, M, N, 1);
        return EMBER_OK;
    }
    for (int64_t i = 0; i < M; i++)
        for (int64_t n = 0; n < N; n++) {
            double acc = 0;
            for (int64_t k = 0; k < K; k++)
                acc += eo_get(a, ta ? k * M + i : i * K + k) * eo_get(b, tb ? n * K + k : k * N + n);
            eo_put(y, i * N + n, alpha * acc + (beta != 0 ? beta * eo_get(y, i * N + n) : 0));
        }
    return EMBER_OK;
}
