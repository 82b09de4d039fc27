/* Differential tests of the f32 GEMM: every kernel table (this CPU's and the scalar one) against the
 * naive triple loop, on random shapes with tails, transposes, alpha/beta, packed operands, epilogues. */
#include "check.h"

#include "ember/tensor.h"
#include "ember/threadpool.h"
#include "kernels/isa.h"

static ember_pool *pool2;

static float *rand_buf(int64_t n) {
    float *p = malloc((size_t)(n > 0 ? n : 1) * sizeof *p);
    for (int64_t i = 0; i < n; i++) p[i] = check_randf(-1.0f, 1.0f);
    return p;
}

typedef struct {
    int64_t M, N, K;
    bool ta, tb;
    float alpha, beta;
    bool pack_a, pack_b;
    bool half_b; /* B pre-packed as IEEE half (B's values are rounded to half first, so the result is exact) */
    int64_t ldb; /* B's row pitch; 0: one more than its row */
    ember_epilogue ep;
} gemm_case;

/* Runs one case with table k (and pool) and with the reference; returns the largest scaled error. */
static double run_case(const ember_kernel_table *k, ember_pool *pool, const gemm_case *c) {
    int64_t lda = (c->ta ? c->M : c->K) + 3, ldb = c->ldb ? c->ldb : (c->tb ? c->K : c->N) + 1, ldc = c->N + 5;
    float *A = rand_buf((c->ta ? c->K : c->M) * lda), *B = rand_buf((c->tb ? c->N : c->K) * ldb);
    if (c->half_b)
        for (int64_t i = 0; i < (c->tb ? c->N : c->K) * ldb; i++) B[i] = ember_f16_to_f32(ember_f32_to_f16(B[i]));
    float *C = rand_buf(c->M * ldc), *R = malloc((size_t)(c->M * ldc) * sizeof *R);
    memcpy(R, C, (size_t)(c->M * ldc) * sizeof *R);
    if (c->beta == 0.0f) /* C must not be read when beta == 0 */
        for (int64_t i = 0; i < c->M * ldc; i++) C[i] = NAN;
    ember_gemm_operand oa = {.data = A, .ld = lda, .trans = c->ta}, ob = {.data = B, .ld = ldb, .trans = c->tb};
    ember_gemm_src sa = {.pack = ember_pack_operand_a, .src = &oa}, sb = {.pack = ember_pack_operand_b, .src = &ob};
    float *pa = NULL, *pb = NULL;
    uint16_t *pb16 = NULL;
    if (c->pack_a) {
        pa = ember_malloc_aligned((size_t)ember_packed_floats(k, false, c->M, c->K) * 4 + 64);
        ember_pack_whole(k, NULL, false, &sa, c->M, c->K, pa);
        sa = (ember_gemm_src){.packed = pa};
    }
    if (c->pack_b) {
        pb = ember_malloc_aligned((size_t)ember_packed_floats(k, true, c->N, c->K) * 4 + 64);
        ember_pack_whole(k, NULL, true, &sb, c->N, c->K, pb);
        sb = (ember_gemm_src){.packed = pb};
    }
    if (c->half_b) { /* half the packed floats, from the plain operand or from the f32 packing */
        pb16 = ember_malloc_aligned((size_t)ember_packed_floats(k, true, c->N, c->K) * 2 + 64);
        CHECK(ember_pack_whole_f16(k, true, &sb, c->N, c->K, pb16) == EMBER_OK);
        sb = (ember_gemm_src){.packed_f16 = pb16};
    }
    ember_sgemm_run(k, pool, c->M, c->N, c->K, c->alpha, &sa, &sb, c->beta, C, ldc, &c->ep);
    ember_sgemm_ref(c->ta, c->tb, c->M, c->N, c->K, c->alpha, A, lda, B, ldb, c->beta, R, ldc, &c->ep);
    double worst = 0.0, tol = 1e-6 * (double)(c->K + 4);
    for (int64_t i = 0; i < c->M; i++)
        for (int64_t j = 0; j < c->N; j++) {
            double d = fabs((double)C[i * ldc + j] - (double)R[i * ldc + j]) / tol;
            if (!(d <= worst)) worst = d; /* NaN counts as worst */
        }
    ember_free_aligned(pa);
    ember_free_aligned(pb);
    ember_free_aligned(pb16);
    free(A), free(B), free(C), free(R);
    return worst;
}

static int64_t rand_dim(int64_t max) { return 1 + (int64_t)(check_rand() % (unsigned long long)max); }

static void check_tables(const gemm_case *c) {
    const ember_kernel_table *tables[2] = {ember_kernels(), ember_kernels_generic()};
    for (int t = 0; t < 2; t++)
        for (int p = 0; p < 2; p++) {
            double e = run_case(tables[t], p ? pool2 : NULL, c);
            CHECK_MSG(e <= 1.0, "%s M=%lld N=%lld K=%lld ta=%d tb=%d a=%g b=%g pa=%d pb=%d hb=%d act=%d: err %.3g tol",
                      tables[t]->name, (long long)c->M, (long long)c->N, (long long)c->K, c->ta, c->tb,
                      (double)c->alpha, (double)c->beta, c->pack_a, c->pack_b, c->half_b, c->ep.act.kind, e);
        }
}

static void test_random_shapes(void) {
    for (int it = 0; it < 48; it++) {
        gemm_case c = {.M = rand_dim(it < 40 ? 40 : 130), .N = rand_dim(it < 40 ? 50 : 150),
                       .K = rand_dim(it < 40 ? 40 : 300), .ta = check_rand() & 1, .tb = check_rand() & 1,
                       .alpha = (it % 3) ? 1.0f : -0.75f, .beta = (it % 4 == 1) ? 0.5f : (it % 4 == 2) ? 1.0f : 0.0f,
                       .pack_a = it % 5 == 3, .pack_b = it % 5 == 4, .half_b = it % 7 == 2 || it % 7 == 4};
        check_tables(&c);
    }
}

static void test_exact_blocks(void) {
    int64_t dims[][3] = {
        {6, 16, 1},    {12, 32, 256}, {8, 24, 257}, {60, 130, 300}, {1, 1, 1},
        {1, 1000, 64}, {1000, 1, 64}, {7, 17, 3},   {250, 37, 300}}; /* M > 240: B packed whole */
    for (size_t i = 0; i < sizeof dims / sizeof dims[0]; i++) {
        gemm_case c = {.M = dims[i][0], .N = dims[i][1], .K = dims[i][2], .alpha = 1.0f, .half_b = i % 3 == 2};
        check_tables(&c);
    }
}

/* Plain B rows read in place by the micro-kernel (conv 1x1 as GEMM: M <= 240) at pitches on 64-byte
 * boundaries, multiples of 4 KB among them (every row in one L1 set), with few and with many row tiles. */
static void test_b_in_place(void) {
    int64_t dims[][4] = {{16, 1000, 64, 1024}, {24, 200, 300, 208}, {48, 130, 257, 1024},
                         {130, 100, 257, 1024}, {200, 290, 100, 304}, {36, 49, 96, 64}};
    float *bias = rand_buf(240);
    for (size_t i = 0; i < sizeof dims / sizeof dims[0]; i++) {
        gemm_case c = {.M = dims[i][0], .N = dims[i][1], .K = dims[i][2], .ldb = dims[i][3], .alpha = 1.0f,
                       .beta = i == 2 ? 0.5f : 0.0f, .pack_a = i % 2 == 0};
        c.ep.act = (ember_act){EMBER_ACT_RELU, 0.0f, 0.0f, NULL};
        c.ep.bias = bias, c.ep.bias_kind = EMBER_BIAS_ROW;
        check_tables(&c);
    }
    free(bias);
}

/* A few columns of B against a pre-packed A (a 1x1 conv on a 1x1 plane): each row tile through the narrow
 * kernel, B in place; alpha / beta, a row bias, a residual and an activation after. */
static void test_narrow_columns(void) {
    float *bias = rand_buf(300), *res = rand_buf(300 * 16);
    for (int it = 0; it < 24; it++) {
        gemm_case c = {.M = it % 3 == 0   ? 1 + it
                            : it % 3 == 1 ? 130
                                          : 7,
                       .N = 1 + it % 4,
                       .K = it % 2 ? 513 : 1 + it,
                       .ldb = it % 4 == 3 ? 9 : 0,
                       .alpha = it % 5 ? 1.0f : -0.5f,
                       .beta = it % 6 == 1 ? 0.5f : 0.0f,
                       .pack_a = true};
        c.ep.act = (ember_act){it % 2 ? EMBER_ACT_RELU : EMBER_ACT_NONE, 0.0f, 0.0f, NULL};
        c.ep.bias = bias, c.ep.bias_kind = EMBER_BIAS_ROW;
        c.ep.residual = it % 3 == 2 ? res : NULL, c.ep.ldr = 16;
        check_tables(&c);
    }
    free(bias), free(res);
}

/* A read in place by the micro-kernel (few columns: attention's scores times V): edge rows (packed per
 * tile), two k blocks (K > 384), B packed whole (M > 240) or read in place, beta, fused epilogues with a
 * residual, and A transposed or pre-packed (packed as before). */
static void test_a_in_place(void) {
    int64_t dims[][3] = {{128, 32, 128}, {40, 64, 500}, {7, 16, 512}, {250, 48, 100}, {13, 60, 33}, {96, 17, 20}};
    float *bias = rand_buf(300), *res = rand_buf(300 * 301);
    for (size_t i = 0; i < sizeof dims / sizeof dims[0]; i++) {
        gemm_case c = {.M = dims[i][0], .N = dims[i][1], .K = dims[i][2], .alpha = i == 1 ? -0.5f : 1.0f,
                       .beta = i == 4 ? 0.5f : 0.0f, .ta = i == 5, .pack_a = false};
        c.ep.act = (ember_act){(ember_act_kind)(i % EMBER_ACT_COUNT), 0.1f, 0.6f, check_slopes()};
        c.ep.bias = bias, c.ep.bias_kind = i % 2 ? EMBER_BIAS_ROW : EMBER_BIAS_COL;
        if (i == 2) c.ep.residual = res, c.ep.ldr = 301;
        check_tables(&c);
    }
    free(bias);
    free(res);
}

static void test_epilogues(void) {
    float *bias = rand_buf(300), *res = rand_buf(300 * 301);
    for (int a = 0; a < EMBER_ACT_COUNT; a++)
        for (int v = 0; v < 5; v++) { /* v == 0, 3 and 4 (no residual) may be fused into the micro-kernel */
            gemm_case c = {.M = rand_dim(70), .N = rand_dim(90), .K = rand_dim(50), .alpha = 1.0f,
                           .beta = v == 2 ? 1.0f : 0.0f, .pack_a = v == 1};
            c.ep.act = (ember_act){(ember_act_kind)a, a == EMBER_ACT_CLIP ? -0.5f : 0.2f,
                                   a == EMBER_ACT_CLIP ? 0.7f : 0.5f, check_slopes()};
            c.ep.bias = bias;
            c.ep.bias_kind = v == 0 ? EMBER_BIAS_COL : v == 1 || v == 3 ? EMBER_BIAS_ROW : EMBER_BIAS_NONE;
            if (v >= 3) c.M = 6 * rand_dim(12), c.N = 48 * rand_dim(2); /* whole tiles for every table */
            if (v == 1 || v == 2) {
                c.ep.residual = res;
                c.ep.ldr = 301;
                c.ep.residual_after_act = v == 2;
            }
            check_tables(&c);
        }
    free(bias);
    free(res);
}

/* One row of A against pre-packed B (the classifier GEMV path): ragged last slivers, odd K, A transposed,
 * alpha/beta, every activation with column bias, a residual, both tables, with and without threads. */
static void test_one_row(void) {
    float *bias = rand_buf(1100), *res = rand_buf(1100);
    int64_t dims[][2] = {{1000, 1280}, {1, 1}, {17, 3}, {129, 64}, {40, 1}, {8, 1000}};
    for (size_t i = 0; i < sizeof dims / sizeof dims[0]; i++)
        for (int a = 0; a < EMBER_ACT_COUNT; a += 3) {
            gemm_case c = {.M = 1, .N = dims[i][0], .K = dims[i][1], .ta = a % 2, .tb = i % 2, .alpha = a ? 1.0f : -0.5f,
                           .beta = a == 3 ? 0.5f : 0.0f, .pack_b = true};
            c.ep.act = (ember_act){(ember_act_kind)a, 0.2f, 0.5f, check_slopes()};
            c.ep.bias = bias, c.ep.bias_kind = EMBER_BIAS_COL;
            if (a == 6) c.ep.residual = res, c.ep.ldr = 1100;
            check_tables(&c);
        }
    free(bias);
    free(res);
}

/* The table's narrow tile against its scalar twin: k from 0 (and odd), 1..4 columns, B rows apart by ldb. */
static void test_narrow(void) {
    const ember_kernel_table *k = ember_kernels();
    if (!k->ukernel_narrow) return;
    for (int it = 0; it < 40; it++) {
        int64_t kk = it % 9 == 0 ? 0 : rand_dim(300), n = 1 + it % EMBER_NARROW_MAX, ldb = n + (int64_t)(check_rand() % 20);
        float *a = rand_buf(kk * k->mr + 1), *b = rand_buf(kk * ldb + 1), c[EMBER_MR_MAX * 8], r[EMBER_MR_MAX * 8];
        k->ukernel_narrow(kk, a, b, ldb, n, c, 8);
        ember_ukernel_narrow_ref(k->mr, kk, a, b, ldb, n, r, 8);
        for (int i = 0; i < k->mr; i++)
            for (int64_t j = 0; j < n; j++)
                CHECK_MSG(fabsf(c[i * 8 + j] - r[i * 8 + j]) <= 1e-5f * (float)(kk + 1), "k=%lld n=%lld row %d col %lld",
                          (long long)kk, (long long)n, i, (long long)j);
        free(a), free(b);
    }
}

/* The table's ukernel_rows against its scalar twin, every m < mr: k from 0, B packed or rows ldb apart,
 * alpha / beta, every post part (row and column bias, residual before / after, clamp, leaky with slopes or
 * alpha); C's rows from m on must stay untouched. */
static void test_rows(void) {
    const ember_kernel_table *tables[2] = {ember_kernels(), ember_kernels_generic()};
    for (int t = 0; t < 2; t++) {
        const ember_kernel_table *k = tables[t];
        CHECK_MSG(k->ukernel_rows != NULL, "%s has no ukernel_rows", k->name);
        if (!k->ukernel_rows) continue;
        for (int it = 0; it < 60; it++) {
            int m = 1 + it % (k->mr - 1), nr = k->nr;
            int64_t kk = it % 11 == 0 ? 0 : rand_dim(200), ldb = it % 3 ? nr : nr + rand_dim(40);
            int64_t ldc = nr + it % 5, ldr = nr + 3;
            float *a = rand_buf(kk * k->mr + 1), *b = rand_buf(kk * ldb + 1), *c = rand_buf(k->mr * ldc);
            float *want = malloc((size_t)(k->mr * ldc) * sizeof *want), *res = rand_buf(k->mr * ldr);
            float *rb = rand_buf(k->mr), *cb = rand_buf(nr), *sl = rand_buf(k->mr);
            memcpy(want, c, (size_t)(k->mr * ldc) * sizeof *c);
            ember_ukernel_post post = {.rbias = it % 4 == 1 ? NULL : rb,
                                       .cbias = it % 4 == 2 ? cb : NULL,
                                       .lo = it % 2 ? -0.3f : -INFINITY,
                                       .hi = it % 3 ? 0.8f : INFINITY,
                                       .res = it % 5 < 2 ? res : NULL,
                                       .ldr = ldr,
                                       .res_after = it % 5 == 1,
                                       .leaky = it % 7 < 3,
                                       .alpha = 0.1f,
                                       .slope = it % 7 == 1 ? sl : NULL};
            const ember_ukernel_post *pp = it % 6 == 5 ? NULL : &post;
            float alpha = it % 4 == 3 ? -0.5f : 1.0f, beta = it % 3 == 0 ? 0.0f : it % 3 == 1 ? 1.0f : 0.5f;
            k->ukernel_rows(m, kk, a, b, ldb, c, ldc, alpha, beta, pp);
            ember_ukernel_rows_ref(k->mr, nr, m, kk, a, b, ldb, want, ldc, alpha, beta, pp);
            for (int i = 0; i < k->mr; i++)
                for (int64_t j = 0; j < ldc; j++) {
                    float e = i < m && j < nr ? 1e-5f * (float)(kk + 4) : 0.0f;
                    CHECK_MSG(fabsf(c[i * ldc + j] - want[i * ldc + j]) <= e,
                              "%s m=%d k=%lld ldb=%lld row %d col %lld", k->name, m, (long long)kk,
                              (long long)ldb, i, (long long)j);
                }
            free(a), free(b), free(c), free(want), free(res), free(rb), free(cb), free(sl);
        }
    }
}

static void test_k_zero(void) {
    float C[6] = {1, 2, 3, 4, 5, 6}, bias[3] = {1, 1, 1};
    ember_epilogue ep = {.bias = bias, .bias_kind = EMBER_BIAS_COL, .act = {.kind = EMBER_ACT_RELU}};
    ember_sgemm(NULL, false, false, 2, 3, 0, 1.0f, NULL, 1, NULL, 3, -1.0f, C, 3, &ep);
    CHECK_NEAR(C[0], 0.0f, 0); /* relu(-1 + 1) */
    CHECK_NEAR(C[5], 0.0f, 0);
    float D[2] = {NAN, NAN};
    ember_sgemm(NULL, false, false, 1, 2, 0, 1.0f, NULL, 1, NULL, 2, 0.0f, D, 2, NULL);
    CHECK(D[0] == 0.0f && D[1] == 0.0f);
}

/* The public entry points: plain, pre-packed B (weights), pre-packed A (conv weights), batched. */
static void test_public_api(void) {
    int64_t M = 37, N = 45, K = 29;
    float *A = rand_buf(M * K), *B = rand_buf(K * N), *C = rand_buf(M * N), *R = rand_buf(M * N);
    ember_sgemm(pool2, false, false, M, N, K, 1.0f, A, K, B, N, 0.0f, C, N, NULL);
    ember_sgemm_ref(false, false, M, N, K, 1.0f, A, K, B, N, 0.0f, R, N, NULL);
    for (int64_t i = 0; i < M * N; i++) CHECK_NEAR(C[i], R[i], 1e-4);

    void *pb = ember_malloc_aligned(ember_sgemm_pack_b_size(K, N)), *pa = ember_malloc_aligned(ember_sgemm_pack_a_size(M, K));
    CHECK(ember_sgemm_pack_b_size(K, N) % 64 == 0);
    ember_sgemm_pack_b(false, K, N, B, N, pb);
    ember_sgemm_pack_a(false, M, K, A, K, pa);
    ember_gemm_operand oa = {.data = A, .ld = K}, pka = {.packed = pa}, pkb = {.packed = pb};
    memset(C, 0, (size_t)(M * N) * sizeof *C);
    ember_sgemm_packed(pool2, M, N, K, 1.0f, &oa, &pkb, 0.0f, C, N, NULL);
    for (int64_t i = 0; i < M * N; i++) CHECK_NEAR(C[i], R[i], 1e-4);
    memset(C, 0, (size_t)(M * N) * sizeof *C);
    ember_sgemm_packed(pool2, M, N, K, 1.0f, &pka, &pkb, 0.0f, C, N, NULL);
    for (int64_t i = 0; i < M * N; i++) CHECK_NEAR(C[i], R[i], 1e-4);
    ember_free_aligned(pa);
    ember_free_aligned(pb);
    free(A), free(B), free(C), free(R);
}

static void test_batched(void) {
    int64_t batch = 5, M = 13, N = 21, K = 17;
    float *A = rand_buf(batch * M * K), *B = rand_buf(K * N), *C = rand_buf(batch * M * N), *R = rand_buf(batch * M * N);
    float *bias = rand_buf(N), *res = rand_buf(batch * M * N);
    ember_epilogue ep = {.bias = bias, .bias_kind = EMBER_BIAS_COL, .residual = res, .ldr = N};
    for (int across = 0; across < 2; across++) {
        int64_t nb = across ? batch : 1;
        ember_sgemm_batched(pool2, nb, false, false, M, N, K, 1.0f, A, K, M * K, B, N, 0, 0.0f, C, N, M * N, &ep, M * N);
        for (int64_t b = 0; b < nb; b++) {
            ember_epilogue e = ep;
            e.residual = res + b * M * N;
            ember_sgemm_ref(false, false, M, N, K, 1.0f, A + b * M * K, K, B, N, 0.0f, R + b * M * N, N, &e);
        }
        for (int64_t i = 0; i < nb * M * N; i++) CHECK_NEAR(C[i], R[i], 1e-4);
    }
    free(A), free(B), free(C), free(R), free(bias), free(res);
}

/* The transposing packer of this CPU's table against the scalar one, for both register-block widths,
 * partial slivers and k tails. */
static void test_pack_rows(void) {
    const ember_kernel_table *k = ember_kernels(), *g = ember_kernels_generic();
    for (int it = 0; it < 40; it++) {
        int r = it & 1 ? k->nr : k->mr;
        int64_t n = rand_dim(r), K = rand_dim(it < 20 ? 20 : 300), rs = K + (int64_t)(check_rand() % 5);
        float *src = rand_buf(n * rs), *d1 = malloc((size_t)(K * r) * sizeof *d1),
              *d2 = malloc((size_t)(K * r) * sizeof *d2);
        for (int64_t i = 0; i < K * r; i++) d1[i] = d2[i] = NAN;
        k->pack_rows(d1, src, rs, n, K, r);
        g->pack_rows(d2, src, rs, n, K, r);
        CHECK_MSG(memcmp(d1, d2, (size_t)(K * r) * sizeof *d1) == 0, "%s pack_rows n=%lld K=%lld r=%d",
                  k->name, (long long)n, (long long)K, r);
        free(src), free(d1), free(d2);
    }
}

/* Eight threads on two cores: the M/N block split and the parallel packing must stay exact. */
static void test_eight_threads(void) {
    ember_pool *pool8 = NULL;
    CHECK(ember_pool_create(8, &pool8) == EMBER_OK);
    for (int it = 0; it < 8; it++) {
        gemm_case c = {.M = rand_dim(200),
                       .N = rand_dim(200),
                       .K = rand_dim(100),
                       .ta = it & 1,
                       .tb = it & 2,
                       .alpha = 1.0f,
                       .beta = it & 4 ? 1.0f : 0.0f,
                       .pack_b = it == 5};
        double e = run_case(ember_kernels(), pool8, &c);
        CHECK_MSG(e <= 1.0, "8 threads M=%lld N=%lld K=%lld: err %.3g tol", (long long)c.M, (long long)c.N,
                  (long long)c.K, e);
    }
    ember_pool_destroy(pool8);
}

int main(void) {
    ember_pool_create(2, &pool2);
    printf("kernels: %s\n", ember_kernels_isa());
    RUN(test_pack_rows);
    RUN(test_random_shapes);
    RUN(test_exact_blocks);
    RUN(test_b_in_place);
    RUN(test_narrow_columns);
    RUN(test_epilogues);
    RUN(test_a_in_place);
    RUN(test_one_row);
    RUN(test_narrow);
    RUN(test_rows);
    RUN(test_k_zero);
    RUN(test_public_api);
    RUN(test_batched);
    RUN(test_eight_threads);
    ember_pool_destroy(pool2);
    return check_done();
}
