/* f32 GEMM driver: whole-operand packing into register-block slivers, L1/L2 cache blocking, 2-D tiling
 * over the thread pool, fused epilogue per micro-tile; plus the scalar micro-kernel and the reference. */
#include "kernels/isa.h"

#include "core/pagestore.h"

#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>

/* KC x 16 B sliver fits L1 (24 KB of 32); MC x KC A block (180 KB) and NC-wide C and B tiles fit L2
 * together. 384, not 256: one k block for K = 320-384 and three for 960 (MobileNetV2's 7x7 1x1 convs, whose
 * weights stream from memory and whose C a second k block re-read), with square GEMMs unchanged. */
enum { KC_TARGET = 384, MC_TARGET = 120, NC_TARGET = 128 };
/* Up to this many rows of op(A), one block row covers all of M, so each B panel (kc x nc) is used by one
 * tile only: it is packed right there, into an L2 buffer of the thread, instead of whole beforehand (conv as
 * GEMM: M = cout); whole packing sent it through L3. */
enum { LAZY_B_MAX_M = 2 * MC_TARGET };
/* Up to this many row tiles B is read in place even when its rows conflict in L1 (see l1_friendly). */
enum { IN_PLACE_ANY_TILES = 8 };
/* At most this many tiles are shared sliver by sliver between threads (shared_tiles); more are small. */
enum { SHARED_MAX_TILES = 64 };
/* A plain A is read in place (ukernel_sa) wherever the table has the kernel: packing it first cost about as
 * much as it saved, and took an M x K buffer (MiniLM's f2, 128 x 1536: 768 KB of the run's RSS). In
 * place for every shape against in place for N <= 64 and K <= 512 only (alternating binaries, 5 rounds):
 * MiniLM 0.998x at 1 thread and 0.985x at 2, the other models 0.98-1.006x; the GEMM benchmark 512-2048
 * even or faster; the AVX2 table (EMBER_CPU=-avx512f) MiniLM 1.005-1.013x at 1 thread (f1, N = 1536,
 * 1.2% slower), taken for the memory. */

static int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }
static int64_t round_up(int64_t a, int64_t b) { return ceil_div(a, b) * b; }
static int64_t min64(int64_t a, int64_t b) { return a < b ? a : b; }

/* --- per-thread scratch (grow-only, freed when the thread exits) ------------------------------------- */

enum { SCRATCH_SLOTS = 5 };

typedef struct {
    void *p[SCRATCH_SLOTS];
    size_t cap[SCRATCH_SLOTS];
    bool huge[SCRATCH_SLOTS]; /* on 2 MB pages: a first run faults in a few pages, not hundreds */
} scratch;

static pthread_key_t scratch_key;
static pthread_once_t scratch_once = PTHREAD_ONCE_INIT;

static void scratch_free(void *p) {
    scratch *s = p;
    if (!s) return;
    for (int i = 0; i < SCRATCH_SLOTS; i++) ember_huge_free(s->p[i], s->cap[i], s->huge[i]);
    ember_free(s);
}

static void scratch_init(void) { pthread_key_create(&scratch_key, scratch_free); }

float *ember_scratch(int slot, size_t bytes) {
    pthread_once(&scratch_once, scratch_init);
    scratch *s = pthread_getspecific(scratch_key);
    if (!s) {
        s = ember_calloc(1, sizeof *s);
        if (!s || pthread_setspecific(scratch_key, s)) {
            ember_free(s);
            return NULL;
        }
    }
    if (s->cap[slot] < bytes) {
        ember_huge_free(s->p[slot], s->cap[slot], s->huge[slot]);
        s->cap[slot] = 0;
        s->p[slot] = ember_huge_alloc(bytes, &s->huge[slot]);
        if (!s->p[slot]) return NULL;
        s->cap[slot] = bytes;
    }
    return s->p[slot];
}

/* --- packing ------------------------------------------------------------------------------------------ */

/* Copies n <= r floats to d and zero-fills up to r; fixed sizes become inline vector moves. */
static inline void copy_run(float *d, const float *src, int64_t n, int r) {
    if (n == 16) {
        memcpy(d, src, 16 * sizeof *d);
        return;
    }
    if (n == 12) {
        memcpy(d, src, 12 * sizeof *d);
        return;
    }
    if (n == 8) {
        memcpy(d, src, 8 * sizeof *d);
        return;
    }
    int64_t i = 0;
    for (; i < n; i++) d[i] = src[i];
    for (; i < r; i++) d[i] = 0.0f;
}

/* Rows [r0, r0+n) of a matrix whose element (row, k) is at p[row*rs + k*ks], into dst[K][r]. */
static void pack_strided(const float *p, int64_t rs, int64_t ks, int64_t r0, int64_t n, int64_t K, int r,
                         float *dst) {
    if (rs == 1) { /* each k is a contiguous run of rows */
        for (int64_t k = 0; k < K; k++) copy_run(dst + k * r, p + k * ks + r0, n, r);
        return;
    }
    if (ks == 1) { /* each row is contiguous along k: a transpose */
        ember_kernels()->pack_rows(dst, p + r0 * rs, rs, n, K, r);
        return;
    }
    for (int64_t k = 0; k < K; k++, dst += r) { /* gather one element of each row */
        int64_t i = 0;
        for (; i < n; i++) dst[i] = p[(r0 + i) * rs + k * ks];
        for (; i < r; i++) dst[i] = 0.0f;
    }
}

void ember_pack_operand_a(const void *src, int64_t r0, int64_t n, int64_t k0, int64_t K, int r, float *dst) {
    const ember_gemm_operand *o = src; /* op(A)[i,k] = trans ? A[k*ld + i] : A[i*ld + k] */
    int64_t rs = o->trans ? 1 : o->ld, ks = o->trans ? o->ld : 1;
    pack_strided(o->data + k0 * ks, rs, ks, r0, n, K, r, dst);
}

void ember_pack_operand_b(const void *src, int64_t r0, int64_t n, int64_t k0, int64_t K, int r, float *dst) {
    const ember_gemm_operand *o = src; /* op(B)[k,j] = trans ? B[j*ld + k] : B[k*ld + j] */
    int64_t rs = o->trans ? o->ld : 1, ks = o->trans ? 1 : o->ld;
    pack_strided(o->data + k0 * ks, rs, ks, r0, n, K, r, dst);
}

int64_t ember_packed_floats(const ember_kernel_table *k, bool is_b, int64_t rows, int64_t K) {
    int64_t r = is_b ? k->nr : k->mr;
    return round_up(rows, r) * K;
}

typedef struct {
    const ember_gemm_src *s;
    int64_t rows, K;
    int r;
    float *dst;
} pack_job;

static void pack_slivers(void *ctx, int64_t begin, int64_t end, int thread) {
    const pack_job *j = ctx;
    for (int64_t s = begin; s < end; s++) {
        int64_t r0 = s * j->r;
        j->s->pack(j->s->src, r0, min64(j->r, j->rows - r0), 0, j->K, j->r, j->dst + r0 * j->K);
    }
}

/* A plain operand whose packed rows are contiguous in memory (op(B) with B not transposed, op(A) with A
 * transposed): packing sliver by sliver would walk K memory rows per sliver, a page each for wide
 * matrices; instead go down the memory rows a few at a time and fill every sliver of the range. */
enum { PACK_K_STEP = 16 };

static void pack_slivers_rowwise(void *ctx, int64_t begin, int64_t end, int thread) {
    const pack_job *j = ctx;
    const ember_gemm_operand *o = j->s->src;
    for (int64_t k0 = 0; k0 < j->K; k0 += PACK_K_STEP) {
        int64_t k1 = min64(k0 + PACK_K_STEP, j->K);
        for (int64_t s = begin; s < end; s++) {
            int64_t r0 = s * j->r, n = min64(j->r, j->rows - r0);
            float *d = j->dst + r0 * j->K;
            for (int64_t k = k0; k < k1; k++) copy_run(d + k * j->r, o->data + k * o->ld + r0, n, j->r);
        }
    }
}

void ember_pack_whole(const ember_kernel_table *k, ember_pool *pool, bool is_b, const ember_gemm_src *s,
                      int64_t rows, int64_t K, float *dst) {
    pack_job j = {s, rows, K, is_b ? k->nr : k->mr, dst};
    int64_t grain = ceil_div(16384, K * j.r + 1);
    bool rowwise = (s->pack == ember_pack_operand_b && !((const ember_gemm_operand *)s->src)->trans) ||
                   (s->pack == ember_pack_operand_a && ((const ember_gemm_operand *)s->src)->trans);
    ember_pool_for(pool, ceil_div(rows, j.r), grain, rowwise ? pack_slivers_rowwise : pack_slivers, &j);
}

/* Packs sliver by sliver through a small f32 buffer, so the whole f32 copy never exists. */
ember_status ember_pack_whole_f16(const ember_kernel_table *k, bool is_b, const ember_gemm_src *s, int64_t rows,
                                  int64_t K, uint16_t *dst) {
    int r = is_b ? k->nr : k->mr;
    float *tmp = ember_malloc_aligned((size_t)(K * r) * sizeof *tmp + 64);
    if (!tmp) return ember_fail(EMBER_ERR_NOMEM, "sgemm: no memory to pack %lldx%lld as f16", (long long)rows,
                                (long long)K);
    for (int64_t r0 = 0; r0 < rows; r0 += r) {
        if (s->packed) memcpy(tmp, s->packed + r0 * K, (size_t)(K * r) * sizeof *tmp);
        else s->pack(s->src, r0, min64(r, rows - r0), 0, K, r, tmp);
        k->f32_to_f16(dst + r0 * K, tmp, K * r);
    }
    ember_free_aligned(tmp);
    return EMBER_OK;
}

/* --- the blocked, tiled product --------------------------------------------------------------------- */

typedef struct {
    const ember_kernel_table *k;
    int64_t M, N, K, mc, nc, kc, tiles_n;
    float alpha, beta;
    const float *pa, *pb;
    const ember_gemm_operand *ain; /* A read in place (ukernel_sa; pa NULL): see the top */
    const ember_gemm_src *bsrc;    /* lazy_b: B panels are packed per tile from here */
    bool lazy_b;
    bool in_place_b; /* lazy_b with a plain B the micro-kernel reads in place (ukernel_sb) */
    const uint16_t *pb16; /* B packed as half: each tile widens its panels into the thread's L2 buffer */
    float *C;
    int64_t ldc;
    bool cpanel; /* C in the panel layout (kernels.h): tile (i, j) at C + (j / nr * M + i) * nr */
    const ember_epilogue *ep;
    bool fused;         /* the epilogue is bias + ReLU/Clip/none + residual: full tiles apply it in the
                           micro-kernel (edge tiles too, but for the residual) */
    atomic_bool failed; /* a thread had no memory for its B panel */
    ember_ukernel_post post;
    /* shared_tiles: the next tile index to take, and per tile the next sliver */
    atomic_int_fast64_t next_tile;
    struct tile_claim {
        _Alignas(64) atomic_int_fast64_t next; /* a line each: the owner claims without sharing it */
    } * claims;
} gemm_job;

bool ember_ukernel_post_from(const ember_epilogue *ep, ember_ukernel_post *p) {
    if (!ep || ep->residual) return false;
    p->rbias = p->cbias = p->res = p->slope = NULL;
    p->ldr = 0;
    p->res_after = p->leaky = false;
    p->alpha = 0.0f;
    p->lo = -INFINITY, p->hi = INFINITY;
    switch (ep->act.kind) {
    case EMBER_ACT_NONE:
        return true;
    case EMBER_ACT_RELU:
        p->lo = 0.0f;
        return true;
    case EMBER_ACT_CLIP:
        p->lo = ep->act.p0, p->hi = ep->act.p1;
        return true;
    default:
        return false;
    }
}

/* The whole epilogue as a micro-kernel post when it is bias + ReLU/Clip/none + residual (the residual
 * pointer itself is set per tile); ember_ukernel_post_from, for the row kernels, takes no residual. */
static bool gemm_post_from(const ember_epilogue *ep, ember_ukernel_post *p) {
    if (!ep) return false;
    ember_epilogue e = *ep;
    e.residual = NULL;
    bool leaky = ep->act.kind == EMBER_ACT_LEAKY_RELU || ep->act.kind == EMBER_ACT_PRELU;
    if (leaky) e.act.kind = EMBER_ACT_NONE;
    if (!ember_ukernel_post_from(&e, p)) return false;
    p->ldr = ep->ldr;
    p->res_after = ep->residual_after_act;
    p->leaky = leaky;
    p->alpha = ep->act.p0;
    p->slope = ep->act.kind == EMBER_ACT_PRELU ? ep->act.slope : NULL; /* offset per tile */
    return true;
}

/* The micro-kernel on a packed B sliver (ldb 0) or in place on B rows ldb apart. */
static inline void run_ukernel(const ember_kernel_table *k, int64_t kc, const float *a, const float *b, int64_t ldb,
                               float *c, int64_t ldc, float alpha, float beta, const ember_ukernel_post *post) {
    if (ldb) k->ukernel_sb(kc, a, b, ldb, c, ldc, alpha, beta, post);
    else k->ukernel(kc, a, b, c, ldc, alpha, beta, post);
}

static void edge_tile(const gemm_job *g, const float *a, int64_t i, int64_t j, int64_t p, int64_t kc,
                      const float *b, int64_t ldb);

/* The fused epilogue of the full tile at (i, j): its bias, residual and slopes offset to the tile. */
static inline ember_ukernel_post tile_post(const gemm_job *g, int64_t i, int64_t j) {
    ember_ukernel_post post = g->post;
    const float *bias = g->ep->bias;
    post.rbias = bias && g->ep->bias_kind == EMBER_BIAS_ROW ? bias + i : NULL;
    post.cbias = bias && g->ep->bias_kind == EMBER_BIAS_COL ? bias + j : NULL;
    post.res = g->ep->residual ? g->ep->residual + i * g->ep->ldr + j : NULL;
    post.slope = post.slope ? post.slope + i : NULL;
    return post;
}

/* The full tiles of one column sliver, row tile after row tile: what micro_tile does for them, with the
 * per-sliver part (beta, which epilogue, the fused epilogue's offsets) done once instead of per tile. */
typedef struct {
    float beta;
    bool fuse, apply;        /* the epilogue fused into the micro-kernel / applied after it (last k block) */
    ember_ukernel_post post; /* fuse: offset to the current row tile */
    float *c;                /* the sliver's row 0 in C, rows ldc apart */
    int64_t ldc;
} sliver_run;

/* Where C's tile (i, j) starts (j a multiple of nr) and how far apart its rows are. */
static inline float *c_at(const gemm_job *g, int64_t i, int64_t j, int64_t *ldc) {
    int64_t nr = g->k->nr;
    *ldc = g->cpanel ? nr : g->ldc;
    return g->cpanel ? g->C + (j / nr * g->M + i) * nr : g->C + i * g->ldc + j;
}

static inline __attribute__((always_inline)) sliver_run sliver_start(const gemm_job *g, int64_t i0, int64_t j,
                                                                     int64_t p, int64_t kc) {
    sliver_run s = {.beta = p == 0 ? g->beta : 1.0f};
    s.c = c_at(g, 0, j, &s.ldc);
    bool last = p + kc == g->K;
    s.fuse = last && g->fused;
    s.apply = last && g->ep && !g->fused;
    if (s.fuse) s.post = tile_post(g, i0, j);
    return s;
}

/* Row tile i (full: i + mr <= M; A packed, or read in place) of the sliver s was started for; then s moves
 * one tile down. Inlined by force into the tile loop: gcc had kept it a call, which reloaded the job's
 * fields for every tile (in one process, alternating, inlined: MobileNetV2 0.976-0.978x at 1 and 2 threads,
 * MobileFaceNet 0.96-0.99x, YuNet-s 320 and SqueezeNet 0.99x, MiniLM even). */
static inline __attribute__((always_inline)) void sliver_tile(const gemm_job *g, sliver_run *s, int64_t i,
                                                              int64_t j, int64_t p, int64_t kc,
                                                              const float *b, int64_t ldb) {
    const ember_kernel_table *k = g->k;
    float *c = s->c + i * s->ldc;
    const ember_ukernel_post *post = s->fuse ? &s->post : NULL;
    if (g->ain)
        k->ukernel_sa(kc, g->ain->data + i * g->ain->ld + p, g->ain->ld, b, ldb ? ldb : k->nr, c, s->ldc,
                      g->alpha, s->beta, post);
    else
        run_ukernel(k, kc, g->pa + i * g->K + p * k->mr, b, ldb, c, s->ldc, g->alpha, s->beta, post);
    if (s->apply) ember_epilogue_apply_k(k, g->ep, c, s->ldc, i, j, k->mr, k->nr);
    if (s->fuse) {
        ember_ukernel_post *q = &s->post;
        q->rbias = q->rbias ? q->rbias + k->mr : NULL;
        q->res = q->res ? q->res + k->mr * q->ldr : NULL;
        q->slope = q->slope ? q->slope + k->mr : NULL;
    }
}

/* A read in place, a tile that is not full: its sliver packed on the stack (kc <= KC_TARGET, choose_blocks;
 * a frame of its own, so micro_tile's stays small), then as a packed one. */
static __attribute__((noinline)) void edge_tile_a(const gemm_job *g, int64_t i, int64_t j, int64_t p, int64_t kc,
                                                  const float *b, int64_t ldb) {
    float a[EMBER_MR_MAX * KC_TARGET];
    ember_pack_operand_a(g->ain, i, min64(g->k->mr, g->M - i), p, kc, g->k->mr, a);
    edge_tile(g, a, i, j, p, kc, b, ldb);
}

/* One mr x nr block at (i, j) for k-range [p, p+kc) that is not full (sliver_tile takes the full ones), B a
 * packed sliver or (ldb > 0) B's rows in place. */
static void micro_tile(const gemm_job *g, int64_t i, int64_t j, int64_t p, int64_t kc, const float *b,
                       int64_t ldb) {
    if (g->ain) {
        edge_tile_a(g, i, j, p, kc, b, ldb);
        return;
    }
    edge_tile(g, g->pa + i * g->K + p * g->k->mr, i, j, p, kc, b, ldb);
}

/* The ukernel_narrow result tmp (rows EMBER_NARROW_MAX apart) as C's m x n block at c: alpha tmp + beta c. */
static void narrow_out(const float *tmp, float *c, int64_t ldc, int64_t m, int64_t n, float alpha,
                       float beta) {
    for (int64_t r = 0; r < m; r++)
        for (int64_t s = 0; s < n; s++) {
            float v = alpha * tmp[r * EMBER_NARROW_MAX + s], *o = c + r * ldc + s;
            *o = beta == 0.0f ? v : v + beta * *o;
        }
}

/* A tile that is not full (full ones go through sliver_tile), A's sliver at a (packed): the last rows of
 * whole columns straight into C (ukernel_rows), a few columns, or the whole tile into a buffer. */
static void edge_tile(const gemm_job *g, const float *a, int64_t i, int64_t j, int64_t p, int64_t kc,
                      const float *b, int64_t ldb) {
    const ember_kernel_table *k = g->k;
    int64_t ldc;
    float beta = p == 0 ? g->beta : 1.0f, *c = c_at(g, i, j, &ldc);
    int64_t m = min64(k->mr, g->M - i), n = min64(k->nr, g->N - j);
    bool last = p + kc == g->K;
    if (n == k->nr && m < k->mr && k->ukernel_rows) { /* the last rows, whole columns: straight into C */
        bool fuse = last && g->fused;
        ember_ukernel_post post = fuse ? tile_post(g, i, j) : (ember_ukernel_post){0};
        k->ukernel_rows((int)m, kc, a, b, ldb ? ldb : k->nr, c, ldc, g->alpha, beta, fuse ? &post : NULL);
        if (last && g->ep && !fuse) ember_epilogue_apply_k(k, g->ep, c, ldc, i, j, m, n);
        return;
    }
    if (n <= EMBER_NARROW_MAX && k->ukernel_narrow) { /* a few columns: no full tile */
        float tmp[EMBER_MR_MAX * EMBER_NARROW_MAX];
        k->ukernel_narrow(kc, a, b, ldb ? ldb : k->nr, n, tmp, EMBER_NARROW_MAX);
        narrow_out(tmp, c, ldc, m, n, g->alpha, beta);
    } else {
        /* an edge tile: the full tile into a buffer, the valid m x n part out. With one k block and beta 0
         * the kernel also applies the fused epilogue, on zero-padded copies of the bias parts (so it reads
         * nothing past the real ones), and the part is final. */
        float tmp[EMBER_MR_MAX * EMBER_NR_MAX], rb[EMBER_MR_MAX] = {0}, cb[EMBER_NR_MAX] = {0}, sl[EMBER_MR_MAX] = {0};
        bool done = last && g->fused && !g->ep->residual && p == 0 && beta == 0.0f;
        ember_ukernel_post post = g->post;
        if (done) {
            const float *bias = g->ep->bias;
            if (bias && g->ep->bias_kind == EMBER_BIAS_ROW) memcpy(rb, bias + i, (size_t)m * sizeof *rb);
            if (bias && g->ep->bias_kind == EMBER_BIAS_COL) memcpy(cb, bias + j, (size_t)n * sizeof *cb);
            if (post.slope) memcpy(sl, post.slope + i, (size_t)m * sizeof *sl);
            post.rbias = rb, post.cbias = cb, post.slope = post.slope ? sl : NULL;
        }
        run_ukernel(k, kc, a, b, ldb, tmp, k->nr, g->alpha, 0.0f, done ? &post : NULL);
        for (int64_t r = 0; r < m; r++) {
            float *o = c + r * ldc;
            const float *t = tmp + r * k->nr;
            if (beta == 0.0f) {
                memcpy(o, t, (size_t)n * sizeof *o);
            } else {
                for (int64_t s = 0; s < n; s++) o[s] = t[s] + beta * o[s];
            }
        }
        if (done) return;
    }
    if (last && g->ep) ember_epilogue_apply_k(k, g->ep, c, ldc, i, j, m, n);
}

/* Packs the B panel of columns [j0, j1) x k in [p, p + kc) as slivers [ceil((j1-j0)/nr)][kc][nr]. A plain
 * B goes down its rows once for all slivers (one sequential stream per row, not one per row and sliver). */
static void pack_panel(const gemm_job *g, int64_t j0, int64_t j1, int64_t p, int64_t kc, float *dst) {
    int nr = g->k->nr;
    if (g->pb16) { /* slivers are contiguous kc x nr runs of the half copy */
        for (int64_t j = j0; j < j1; j += nr)
            g->k->f16_to_f32(dst + (j - j0) * kc, g->pb16 + j * g->K + p * nr, kc * nr);
        return;
    }
    const ember_gemm_src *s = g->bsrc;
    const ember_gemm_operand *o = s->src;
    if (s->pack == ember_pack_operand_b && !o->trans) {
        for (int64_t k = 0; k < kc; k++) {
            const float *row = o->data + (p + k) * o->ld;
            for (int64_t j = j0; j < j1; j += nr)
                copy_run(dst + ((j - j0) / nr * kc + k) * nr, row + j, min64(nr, j1 - j), nr);
        }
        return;
    }
    for (int64_t j = j0; j < j1; j += nr)
        s->pack(s->src, j, min64(nr, j1 - j), p, kc, nr, dst + (j - j0) * kc);
}

/* Tile t's rows [i0, i1) and columns [j0, j1): the row and column blocks split M and N into equal counts of
 * register blocks (one more in some), at most mc x nc, rather than full mc x nc blocks and a remainder: 49
 * column slivers in 6 tiles had been 5 of 9 and one of 4, and 2 threads then waited on the last ones. */
static void tile_span(const gemm_job *g, int64_t t, int64_t *i0, int64_t *i1, int64_t *j0, int64_t *j1) {
    int mr = g->k->mr, nr = g->k->nr;
    int64_t tm = ceil_div(g->M, g->mc), tn = g->tiles_n, rb = ceil_div(g->M, mr), cb = ceil_div(g->N, nr);
    int64_t bi = t / tn, bj = t % tn;
    *i0 = bi * rb / tm * mr, *i1 = min64((bi + 1) * rb / tm * mr, g->M);
    *j0 = bj * cb / tn * nr, *j1 = min64((bj + 1) * cb / tn * nr, g->N);
}

/* The index of the next sliver of a tile to compute: in order, or (claim) the next one no thread has
 * taken yet. */
static inline int64_t next_sliver(atomic_int_fast64_t *claim, int64_t *s) {
    return claim ? (int64_t)atomic_fetch_add_explicit(claim, 1, memory_order_relaxed) : (*s)++;
}

/* Tile (i0..i1, j0..j1)'s k block [p, p + kc): its slivers of nr columns in order, or those `claim` hands
 * out (shared_tiles). panel: the thread's B panel buffer (lazy B), or NULL. */
static void tile_block(const gemm_job *g, int64_t i0, int64_t i1, int64_t j0, int64_t j1, int64_t p,
                       int64_t kc, float *panel, atomic_int_fast64_t *claim) {
    int mr = g->k->mr, nr = g->k->nr;
    int64_t nsl = ceil_div(j1 - j0, nr), s = 0, q;
    if (g->in_place_b) { /* full slivers straight from B's rows, the ragged one packed */
        const ember_gemm_operand *o = g->bsrc->src;
        int64_t per = ceil_div(kc, ceil_div(i1 - i0, mr));
        while ((q = next_sliver(claim, &s)) < nsl) {
            int64_t j = j0 + q * nr;
            bool full = j + nr <= g->N;
            if (!full) pack_panel(g, j, j1, p, kc, panel);
            const float *b = full ? o->data + p * o->ld + j : panel;
            /* each row tile asks for its share of the next sliver's rows: kc short streams far apart, which
             * the hardware prefetcher does not follow (MobileFaceNet 0.97-0.98x, MobileNetV2 0.98x at 2
             * threads, in-process A/B); in integers: only hints. A row of nr floats not on a line boundary
             * spans two lines. */
            uintptr_t next = j + nr < j1 ? (uintptr_t)(o->data + p * o->ld + j + nr) : 0;
            bool two = next % 64 || o->ld * sizeof(float) % 64;
            sliver_run run = full ? sliver_start(g, i0, j, p, kc) : (sliver_run){0};
            for (int64_t i = i0, r = 0; i < i1; i += mr, r += per) {
                for (int64_t x = r; next && x < r + per && x < kc; x++) {
                    uintptr_t a = next + (uintptr_t)x * (uintptr_t)o->ld * sizeof(float);
                    __builtin_prefetch((const void *)a);
                    if (two) __builtin_prefetch((const void *)(a + nr * sizeof(float) - 1));
                }
                if (full && i + mr <= g->M)
                    sliver_tile(g, &run, i, j, p, kc, b, o->ld);
                else
                    micro_tile(g, i, j, p, kc, b, full ? o->ld : 0);
            }
        }
        return;
    }
    if (panel) pack_panel(g, j0, j1, p, kc, panel);
    /* a pre-packed B (weights) comes from memory: each row tile fetches its share of the next sliver's
     * lines, so the next sliver is in cache when its first tile starts */
    int64_t lines = kc * nr * (int64_t)sizeof(float) / 64, ntile = ceil_div(i1 - i0, mr);
    int64_t per = panel ? 0 : ceil_div(lines, ntile);
    while ((q = next_sliver(claim, &s)) < nsl) { /* B sliver stays in L1 ... */
        int64_t j = j0 + q * nr;
        const float *b = panel ? panel + (j - j0) * kc : g->pb + j * g->K + p * nr;
        const char *next = j + nr < j1 ? (const char *)(b + g->K * nr) : NULL;
        bool full = j + nr <= g->N;
        sliver_run run = full ? sliver_start(g, i0, j, p, kc) : (sliver_run){0};
        for (int64_t i = i0, l = 0; i < i1; i += mr, l += per) { /* ... while A streams from L2 */
            for (int64_t x = l; next && x < l + per && x < lines; x++) __builtin_prefetch(next + x * 64);
            if (full && i + mr <= g->M)
                sliver_tile(g, &run, i, j, p, kc, b, 0);
            else
                micro_tile(g, i, j, p, kc, b, 0);
        }
    }
}

/* The thread's B panel buffer when B is packed per tile (lazy, or widened from half), else NULL; false when
 * there is no memory for it (the job is marked failed). */
static bool thread_panel(gemm_job *g, float **panel) {
    *panel = NULL;
    if (!g->lazy_b && !g->pb16) return true;
    *panel = ember_scratch(EMBER_SCRATCH_PANEL, (size_t)(g->kc * round_up(g->nc, g->k->nr)) * sizeof(float));
    if (!*panel) atomic_store(&g->failed, true);
    return *panel != NULL;
}

static void gemm_tiles(void *ctx, int64_t begin, int64_t end, int thread) {
    gemm_job *g = ctx;
    float *panel;
    (void)thread;
    if (!thread_panel(g, &panel)) return;
    for (int64_t t = begin; t < end; t++) {
        int64_t i0, i1, j0, j1;
        tile_span(g, t, &i0, &i1, &j0, &j1);
        for (int64_t p = 0; p < g->K; p += g->kc)
            tile_block(g, i0, i1, j0, j1, p, min64(g->kc, g->K - p), panel, NULL);
    }
}

/* Tiles shared sliver by sliver (gemm_job.claims): each thread takes whole tiles while there are any, then
 * helps with the slivers of tiles still being computed, so the last tile is split between the threads
 * instead of one waiting for the other (at 2 threads a few tiles per thread had left the main thread
 * waiting ~7% of every GEMM for the worker's last one). */
static void shared_tiles(void *ctx, int64_t begin, int64_t end, int thread) {
    gemm_job *g = ctx;
    float *panel;
    (void)begin, (void)end, (void)thread;
    if (!thread_panel(g, &panel)) return;
    int64_t tiles = ceil_div(g->M, g->mc) * g->tiles_n, t;
    while ((t = (int64_t)atomic_fetch_add_explicit(&g->next_tile, 1, memory_order_relaxed)) < tiles + tiles) {
        int64_t i0, i1, j0, j1;
        tile_span(g, t % tiles, &i0, &i1, &j0, &j1); /* past `tiles`: each tile once more, to help */
        tile_block(g, i0, i1, j0, j1, 0, g->K, panel, &g->claims[t % tiles].next);
    }
}

/* Whether kc rows ld floats apart, 64 bytes of each, spread over the sets of a 32 KB 8-way L1 (64 sets of
 * 64-byte lines) well enough for the sliver the micro-kernel re-reads for every row tile. With a pitch of
 * whole lines (aligned rows) up to twice the ways of a set: reading the sliver in place then still beat
 * packing it per panel on every shape measured (M 16..240, N 784..12544) unless the pitch was a multiple of
 * 4 KB (all rows in one set: x1.5..1.7 the time). Other pitches cut rows across lines (2 lines each, split
 * loads): at most 6 per set (2 ways left for A and C). */
static bool l1_friendly(int64_t ld, int64_t kc) {
    enum { SETS = 64, LINE = 64 };
    int max_per_set = ld * (int64_t)sizeof(float) % LINE ? 6 : 16;
    int count[SETS] = {0};
    for (int64_t r = 0; r < kc; r++) {
        int64_t at = r * ld * (int64_t)sizeof(float);
        for (int64_t line = at / LINE; line <= (at + LINE - 1) / LINE; line++)
            if (++count[line % SETS] > max_per_set) return false;
    }
    return true;
}

/* Block sizes: equal-sized blocks near the targets, split further until there are 3 per thread (threads
 * claim tiles dynamically, so the last tile a thread takes is at most a third of its share). */
static void choose_blocks(gemm_job *g, int threads) {
    int mr = g->k->mr, nr = g->k->nr;
    int64_t nk = ceil_div(g->K, KC_TARGET);
    g->kc = ceil_div(g->K, nk);
    /* a short K leaves the L2 panel budget (KC_TARGET x NC_TARGET) to wider panels: longer runs per B row
     * when packing (the prefetchers follow a few long streams, not many short ones), fewer tile setups */
    int64_t nc_target = NC_TARGET * KC_TARGET / (g->kc > KC_TARGET / 16 ? g->kc : KC_TARGET / 16);
    if (nc_target < NC_TARGET) nc_target = NC_TARGET;
    /* up to 1.5 x MC_TARGET rows stay one block (e.g. 128 tokens x 384 weights): each B panel, often
     * streamed from memory (the weights of a whole model do not stay in cache), is then read once */
    int64_t bm = g->lazy_b || g->M <= MC_TARGET * 3 / 2 ? 1 : ceil_div(g->M, MC_TARGET);
    int64_t bn = ceil_div(g->N, nc_target);
    for (;;) {
        g->mc = round_up(ceil_div(g->M, bm), mr);
        g->nc = round_up(ceil_div(g->N, bn), nr);
        int64_t tiles = ceil_div(g->M, g->mc) * ceil_div(g->N, g->nc);
        if (tiles >= 3 * threads || threads == 1 || (g->mc <= mr && g->nc <= nr)) break;
        if ((g->nc / nr >= g->mc / mr || g->lazy_b) && g->nc > nr)
            bn++;
        else bm++;
    }
    g->tiles_n = ceil_div(g->N, g->nc);
}

/* --- one row of A against a pre-packed B (a classifier's Gemm: 1 x 1280 x 1000) ---------------------------- */

/* The micro-kernel would compute mr rows of which one is real, and pre-packed B streams from memory anyway:
 * instead each B sliver ([K][nr], contiguous) is read once, its nr columns accumulated in vectors of 4 (nr
 * is 8, 12 or 16), the row of A broadcast. Threads take slivers. */
typedef float gemv_v4 __attribute__((vector_size(16)));

typedef struct {
    const ember_kernel_table *k;
    int64_t N, K, ldc;
    float alpha, beta;
    const float *a, *pb;
    float *C;
    const ember_epilogue *ep;
} gemv_job;

/* B rows fetched ahead: the weights stream from memory, and the hardware prefetcher alone left the
 * classifier (MobileNetV2's 1280 x 1000, 5 MB) at 9.4 GB/s; 64 rows (4 KB at nr 16) ahead: 0.52-0.64 ->
 * 0.36-0.45 ms (`dump --steps`, 1 thread; ONNX Runtime 0.41). */
enum { GEMV_AHEAD = 64 };

static void gemv_slivers(void *ctx, int64_t begin, int64_t end, int thread) {
    const gemv_job *j = ctx;
    int nr = j->k->nr, nq = nr / 4;
    (void)thread;
    for (int64_t s = begin; s < end; s++) {
        const float *b = j->pb + s * nr * j->K;
        gemv_v4 acc[EMBER_NR_MAX / 4] = {{0}}, acc2[EMBER_NR_MAX / 4] = {{0}};
        int64_t k = 0;
        for (; k + 2 <= j->K; k += 2, b += 2 * nr) { /* two chains per column group */
            /* a hint, maybe past the end: in integers */
            const char *ahead = (const char *)((uintptr_t)b + GEMV_AHEAD * nr * sizeof(float));
            __builtin_prefetch(ahead), __builtin_prefetch(ahead + nr * sizeof(float));
            float a0 = j->a[k], a1 = j->a[k + 1];
            gemv_v4 x0 = {a0, a0, a0, a0}, x1 = {a1, a1, a1, a1};
            for (int q = 0; q < nq; q++) {
                gemv_v4 v0, v1;
                memcpy(&v0, b + 4 * q, sizeof v0);
                memcpy(&v1, b + nr + 4 * q, sizeof v1);
                acc[q] += x0 * v0;
                acc2[q] += x1 * v1;
            }
        }
        for (; k < j->K; k++, b += nr) {
            gemv_v4 x0 = {j->a[k], j->a[k], j->a[k], j->a[k]};
            for (int q = 0; q < nq; q++) {
                gemv_v4 v0;
                memcpy(&v0, b + 4 * q, sizeof v0);
                acc[q] += x0 * v0;
            }
        }
        int64_t j0 = s * nr, n = min64(nr, j->N - j0);
        for (int64_t c = 0; c < n; c++) {
            float v = j->alpha * (acc[c / 4][c % 4] + acc2[c / 4][c % 4]);
            j->C[j0 + c] = j->beta == 0.0f ? v : v + j->beta * j->C[j0 + c];
        }
    }
    int64_t c0 = begin * nr, c1 = min64(end * nr, j->N);
    if (j->ep) ember_epilogue_apply_k(j->k, j->ep, j->C + c0, j->ldc, 0, c0, 1, c1 - c0);
}

static void gemv_packed(const ember_kernel_table *k, ember_pool *pool, int64_t N, int64_t K, float alpha,
                        const float *a, const float *pb, float beta, float *C, int64_t ldc, const ember_epilogue *ep) {
    gemv_job j = {k, N, K, ldc, alpha, beta, a, pb, C, ep};
    ember_pool_for(pool, ceil_div(N, k->nr), ceil_div(1 << 14, K * k->nr), gemv_slivers, &j);
}

/* --- a few columns of B against a pre-packed A (a 1x1 conv on a 1x1 plane) ----------------------------- */

/* The tiles had computed mr x nr for n <= 4 real columns, B's one column packed into an nr-wide panel per
 * tile and k block (MobileFaceNet's last 1x1, 512 -> 128 at 1x1: 29 us at 1 thread, now 8). Instead each
 * row tile of packed A (its K steps contiguous) goes through the table's narrow kernel with B's columns read
 * in place. Threads take row tiles. */
typedef struct {
    const ember_kernel_table *k;
    int64_t M, N, K, ldb, ldc;
    float alpha, beta;
    const float *pa, *b;
    float *C;
    const ember_epilogue *ep;
} narrow_job;

static void narrow_tiles(void *ctx, int64_t begin, int64_t end, int thread) {
    const narrow_job *j = ctx;
    int mr = j->k->mr;
    (void)thread;
    for (int64_t t = begin; t < end; t++) {
        int64_t i = t * mr, m = min64(mr, j->M - i);
        float tmp[EMBER_MR_MAX * EMBER_NARROW_MAX], *c = j->C + i * j->ldc;
        j->k->ukernel_narrow(j->K, j->pa + i * j->K, j->b, j->ldb, j->N, tmp, EMBER_NARROW_MAX);
        narrow_out(tmp, c, j->ldc, m, j->N, j->alpha, j->beta);
        if (j->ep) ember_epilogue_apply_k(j->k, j->ep, c, j->ldc, i, 0, m, j->N);
    }
}

static void scale_c(float *C, int64_t ldc, int64_t M, int64_t N, float beta) {
    for (int64_t i = 0; i < M; i++)
        for (int64_t j = 0; j < N; j++) C[i * ldc + j] = beta == 0.0f ? 0.0f : beta * C[i * ldc + j];
}

static void sgemm_run(const ember_kernel_table *k, ember_pool *pool, int64_t M, int64_t N, int64_t K,
                      float alpha, const ember_gemm_src *A, const ember_gemm_src *B, float beta, float *C,
                      int64_t ldc, bool cpanel, const ember_epilogue *ep) {
    if (M <= 0 || N <= 0) return;
    if (K <= 0 || alpha == 0.0f) { /* (in panels: panel by panel, each M rows of up to nr columns) */
        for (int64_t j = 0; j < N; j += cpanel ? k->nr : N) {
            float *c = cpanel ? C + j * M : C;
            int64_t n = cpanel ? min64(k->nr, N - j) : N, ld = cpanel ? k->nr : ldc;
            scale_c(c, ld, M, n, beta);
            ember_epilogue_apply_k(k, ep, c, ld, 0, j, M, n);
        }
        return;
    }
    /* A's row made contiguous, one pass over B (one row of C: the same in panels) */
    if (M == 1 && B->packed && !A->packed && k->nr % 4 == 0) {
        float *a = ember_scratch(EMBER_SCRATCH_GEMM, (size_t)K * sizeof(float));
        if (a) {
            A->pack(A->src, 0, 1, 0, K, 1, a);
            gemv_packed(k, pool, N, K, alpha, a, B->packed, beta, C, ldc, ep);
            return;
        }
    }
    if (N <= EMBER_NARROW_MAX && A->packed && k->ukernel_narrow && !cpanel &&
        B->pack == ember_pack_operand_b && !((const ember_gemm_operand *)B->src)->trans) {
        const ember_gemm_operand *b = B->src;
        narrow_job j = {k, M, N, K, b->ld, ldc, alpha, beta, A->packed, b->data, C, ep};
        ember_pool_for(pool, ceil_div(M, k->mr), ceil_div(1 << 14, K * k->mr), narrow_tiles, &j);
        return;
    }
    bool lazy_b = !B->packed && !B->packed_f16 && M <= LAZY_B_MAX_M;
    const ember_gemm_operand *ain = k->ukernel_sa && !A->packed && A->pack == ember_pack_operand_a &&
                                            !((const ember_gemm_operand *)A->src)->trans
                                        ? A->src
                                        : NULL;
    int64_t fa = A->packed || ain ? 0 : ember_packed_floats(k, false, M, K);
    int64_t fb = B->packed || B->packed_f16 || lazy_b ? 0 : ember_packed_floats(k, true, N, K);
    float *buf = fa + fb ? ember_scratch(EMBER_SCRATCH_GEMM, (size_t)(fa + fb) * sizeof(float)) : NULL;
    if (fa + fb && !buf) { /* out of memory for packing: fall back to the unblocked reference */
        ember_fail(EMBER_ERR_NOMEM, "sgemm: no memory for %lld packing floats", (long long)(fa + fb));
        return;
    }
    gemm_job g = {.k = k, .M = M, .N = N, .K = K, .alpha = alpha, .beta = beta, .C = C, .ldc = ldc, .ep = ep};
    g.cpanel = cpanel;
    g.fused = gemm_post_from(ep, &g.post);
    g.pa = A->packed ? A->packed : ain ? NULL : buf;
    g.ain = ain;
    g.pb = B->packed ? B->packed : lazy_b || B->packed_f16 ? NULL : buf + fa;
    g.pb16 = B->packed_f16;
    g.bsrc = B;
    g.lazy_b = lazy_b;
    /* B used by few row blocks (M small: conv as GEMM, B = the input) costs as much to pack as to use */
    g.in_place_b = lazy_b && k->ukernel_sb && B->pack == ember_pack_operand_b &&
                   !((const ember_gemm_operand *)B->src)->trans;
    choose_blocks(&g, ember_pool_threads(pool));
    /* with few row tiles the sliver is re-read a few times only: in place whatever the pitch */
    if (g.in_place_b && ceil_div(M, k->mr) > IN_PLACE_ANY_TILES)
        g.in_place_b = l1_friendly(((const ember_gemm_operand *)B->src)->ld, g.kc);
    if (!A->packed && !ain) ember_pack_whole(k, pool, false, A, M, K, buf);
    if (!B->packed && !B->packed_f16 && !lazy_b) ember_pack_whole(k, pool, true, B, N, K, buf + fa);
    atomic_init(&g.failed, false);
    int64_t tiles = ceil_div(M, g.mc) * g.tiles_n;
    int threads = ember_pool_threads(pool);
    /* slivers can be shared where a tile has one k block and its B slivers need no per-tile panel */
    struct tile_claim claims[SHARED_MAX_TILES];
    if (threads > 1 && tiles <= SHARED_MAX_TILES && K <= g.kc && (!lazy_b || g.in_place_b) && !g.pb16) {
        for (int64_t t = 0; t < tiles; t++) atomic_init(&claims[t].next, 0);
        atomic_init(&g.next_tile, 0);
        g.claims = claims;
        ember_pool_for(pool, threads, 1, shared_tiles, &g);
    } else {
        ember_pool_for(pool, tiles, 1, gemm_tiles, &g);
    }
    if (atomic_load(&g.failed))
        ember_fail(EMBER_ERR_NOMEM, "sgemm: no memory for a %lldx%lld B panel", (long long)g.kc,
                   (long long)g.nc);
}

void ember_sgemm_run(const ember_kernel_table *k, ember_pool *pool, int64_t M, int64_t N, int64_t K,
                     float alpha, const ember_gemm_src *A, const ember_gemm_src *B, float beta, float *C,
                     int64_t ldc, const ember_epilogue *ep) {
    sgemm_run(k, pool, M, N, K, alpha, A, B, beta, C, ldc, false, ep);
}

void ember_sgemm_run_panels(const ember_kernel_table *k, ember_pool *pool, int64_t M, int64_t N, int64_t K,
                            float alpha, const ember_gemm_src *A, const ember_gemm_src *B, float beta,
                            float *C, const ember_epilogue *ep) {
    sgemm_run(k, pool, M, N, K, alpha, A, B, beta, C, 0, true, ep);
}

/* --- public GEMM entry points ------------------------------------------------------------------------- */

static ember_gemm_src operand_src(const ember_gemm_operand *o, bool is_b) {
    if (o->packed && o->packed_f16) return (ember_gemm_src){.packed_f16 = o->packed};
    if (o->packed) return (ember_gemm_src){.packed = o->packed};
    return (ember_gemm_src){.pack = is_b ? ember_pack_operand_b : ember_pack_operand_a, .src = o};
}

void ember_sgemm_packed(ember_pool *pool, int64_t M, int64_t N, int64_t K, float alpha,
                        const ember_gemm_operand *A, const ember_gemm_operand *B, float beta, float *C,
                        int64_t ldc, const ember_epilogue *ep) {
    ember_gemm_src a = operand_src(A, false), b = operand_src(B, true);
    ember_sgemm_run(ember_kernels(), pool, M, N, K, alpha, &a, &b, beta, C, ldc, ep);
}

void ember_sgemm(ember_pool *pool, bool transA, bool transB, int64_t M, int64_t N, int64_t K, float alpha,
                 const float *A, int64_t lda, const float *B, int64_t ldb, float beta, float *C, int64_t ldc,
                 const ember_epilogue *ep) {
    ember_gemm_operand a = {.data = A, .ld = lda, .trans = transA}, b = {.data = B, .ld = ldb, .trans = transB};
    ember_sgemm_packed(pool, M, N, K, alpha, &a, &b, beta, C, ldc, ep);
}

static size_t packed_bytes(int64_t floats) { return (size_t)round_up(floats * (int64_t)sizeof(float), 64); }

size_t ember_sgemm_pack_b_size(int64_t K, int64_t N) {
    return packed_bytes(ember_packed_floats(ember_kernels(), true, N, K));
}

size_t ember_sgemm_pack_a_size(int64_t M, int64_t K) {
    return packed_bytes(ember_packed_floats(ember_kernels(), false, M, K));
}

void ember_sgemm_pack_b(bool transB, int64_t K, int64_t N, const float *B, int64_t ldb, void *packed) {
    ember_gemm_operand o = {.data = B, .ld = ldb, .trans = transB};
    ember_gemm_src s = operand_src(&o, true);
    ember_pack_whole(ember_kernels(), NULL, true, &s, N, K, packed);
}

size_t ember_sgemm_pack_b_f16_size(int64_t K, int64_t N) {
    return (size_t)round_up(ember_packed_floats(ember_kernels(), true, N, K) * 2, 64);
}

ember_status ember_sgemm_pack_b_f16(bool transB, int64_t K, int64_t N, const float *B, int64_t ldb, void *packed) {
    ember_gemm_operand o = {.data = B, .ld = ldb, .trans = transB};
    ember_gemm_src s = operand_src(&o, true);
    return ember_pack_whole_f16(ember_kernels(), true, &s, N, K, packed);
}

void ember_sgemm_pack_a(bool transA, int64_t M, int64_t K, const float *A, int64_t lda, void *packed) {
    ember_gemm_operand o = {.data = A, .ld = lda, .trans = transA};
    ember_gemm_src s = operand_src(&o, false);
    ember_pack_whole(ember_kernels(), NULL, false, &s, M, K, packed);
}

typedef struct {
    int64_t M, N, K, lda, strideA, ldb, strideB, ldc, strideC, strideR;
    bool transA, transB;
    float alpha, beta;
    const float *A, *B;
    float *C;
    const ember_epilogue *ep;
    ember_pool *inner;
} batch_job;

static void batch_items(void *ctx, int64_t begin, int64_t end, int thread) {
    const batch_job *j = ctx;
    for (int64_t b = begin; b < end; b++) {
        ember_epilogue ep;
        if (j->ep) {
            ep = *j->ep;
            if (ep.residual) ep.residual += b * j->strideR;
        }
        ember_sgemm(j->inner, j->transA, j->transB, j->M, j->N, j->K, j->alpha, j->A + b * j->strideA, j->lda,
                    j->B + b * j->strideB, j->ldb, j->beta, j->C + b * j->strideC, j->ldc, j->ep ? &ep : NULL);
    }
}

void ember_sgemm_batched(ember_pool *pool, int64_t batch, bool transA, bool transB, int64_t M, int64_t N,
                         int64_t K, float alpha, const float *A, int64_t lda, int64_t strideA, const float *B,
                         int64_t ldb, int64_t strideB, float beta, float *C, int64_t ldc, int64_t strideC,
                         const ember_epilogue *ep, int64_t strideR) {
    batch_job j = {M, N, K, lda, strideA, ldb, strideB, ldc, strideC, strideR, transA, transB,
                   alpha, beta, A, B, C, ep, NULL};
    /* Many small products: one per thread at a time. Few large ones: threads inside each product. */
    bool across = batch >= 2 * ember_pool_threads(pool) || M * N * K < (int64_t)1 << 18;
    if (across) {
        ember_pool_for(pool, batch, 1, batch_items, &j);
    } else {
        j.inner = pool;
        batch_items(&j, 0, batch, 0);
    }
}

/* --- scalar micro-kernel and reference ------------------------------------------------------------ */

enum { GEN_MR = 4, GEN_NR = 8 };

void ember_ukernel_rows_ref(int mr, int nr, int m, int64_t k, const float *a, const float *b, int64_t ldb,
                            float *c, int64_t ldc, float alpha, float beta, const ember_ukernel_post *post) {
    float acc[EMBER_MR_MAX][EMBER_NR_MAX] = {{0}};
    for (int64_t p = 0; p < k; p++, a += mr, b += ldb)
        for (int i = 0; i < m; i++)
            for (int j = 0; j < nr; j++) acc[i][j] += a[i] * b[j];
    for (int i = 0; i < m; i++)
        for (int j = 0; j < nr; j++) {
            float *o = c + i * ldc + j, v = alpha * acc[i][j] + (beta != 0.0f ? beta * *o : 0.0f);
            if (post) {
                v += (post->rbias ? post->rbias[i] : 0.0f) + (post->cbias ? post->cbias[j] : 0.0f);
                const float *r = post->res ? post->res + i * post->ldr + j : NULL;
                if (r && !post->res_after) v += *r;
                v = v < post->lo ? post->lo : v; /* NaN compares false both times and stays */
                v = v > post->hi ? post->hi : v;
                if (post->leaky && v < 0.0f) v *= post->slope ? post->slope[i] : post->alpha;
                if (r && post->res_after) v += *r;
            }
            *o = v;
        }
}

static void ukernel_generic(int64_t k, const float *a, const float *b, float *c, int64_t ldc, float alpha,
                            float beta, const ember_ukernel_post *post) {
    ember_ukernel_rows_ref(GEN_MR, GEN_NR, GEN_MR, k, a, b, GEN_NR, c, ldc, alpha, beta, post);
}

static void rows_generic(int m, int64_t k, const float *a, const float *b, int64_t ldb, float *c, int64_t ldc,
                         float alpha, float beta, const ember_ukernel_post *post) {
    ember_ukernel_rows_ref(GEN_MR, GEN_NR, m, k, a, b, ldb, c, ldc, alpha, beta, post);
}

static void pack_rows_generic(float *dst, const float *p, int64_t rs, int64_t n, int64_t K, int r) {
    for (int64_t k = 0; k < K; k++, dst += r) {
        int64_t i = 0;
        for (; i < n; i++) dst[i] = p[i * rs + k];
        for (; i < r; i++) dst[i] = 0.0f;
    }
}

void ember_ukernel_narrow_ref(int mr, int64_t k, const float *a, const float *b, int64_t ldb, int64_t n, float *c,
                              int64_t ldc) {
    float acc[EMBER_MR_MAX][EMBER_NARROW_MAX] = {{0}};
    for (int64_t p = 0; p < k; p++, a += mr, b += ldb)
        for (int r = 0; r < mr; r++)
            for (int64_t j = 0; j < n; j++) acc[r][j] += a[r] * b[j];
    for (int r = 0; r < mr; r++)
        for (int64_t j = 0; j < n; j++) c[r * ldc + j] = acc[r][j];
}

static void narrow_generic(int64_t k, const float *a, const float *b, int64_t ldb, int64_t n, float *c, int64_t ldc) {
    ember_ukernel_narrow_ref(GEN_MR, k, a, b, ldb, n, c, ldc);
}

void ember_kernels_gemm_generic(ember_kernel_table *t);
void ember_kernels_gemm_generic(ember_kernel_table *t) {
    t->mr = GEN_MR;
    t->nr = GEN_NR;
    t->ukernel = ukernel_generic;
    t->ukernel_narrow = narrow_generic;
    t->ukernel_rows = rows_generic;
    t->pack_rows = pack_rows_generic;
    t->wino_in = ember_wino_in_ref;
    t->wino_out = ember_wino_out_ref;
    t->wino_gather4 = ember_wino_gather4_ref;
    t->wino_scatter4 = ember_wino_scatter4_ref;
}

void ember_sgemm_ref(bool transA, bool transB, int64_t M, int64_t N, int64_t K, float alpha, const float *A,
                     int64_t lda, const float *B, int64_t ldb, float beta, float *C, int64_t ldc,
                     const ember_epilogue *ep) {
    for (int64_t i = 0; i < M; i++)
        for (int64_t j = 0; j < N; j++) {
            double acc = 0.0;
            for (int64_t p = 0; p < K; p++)
                acc += (double)(transA ? A[p * lda + i] : A[i * lda + p]) *
                       (double)(transB ? B[j * ldb + p] : B[p * ldb + j]);
            float *o = C + i * ldc + j;
            float v = alpha * (float)acc + (beta != 0.0f ? beta * *o : 0.0f);
            if (ep && ep->bias && ep->bias_kind == EMBER_BIAS_COL) v += ep->bias[j];
            if (ep && ep->bias && ep->bias_kind == EMBER_BIAS_ROW) v += ep->bias[i];
            const float *r = ep && ep->residual ? ep->residual + i * ep->ldr + j : NULL;
            if (r && !ep->residual_after_act) v += *r;
            if (ep) v = ember_scalar_act(ember_act_row(ep->act, i), v);
            if (r && ep->residual_after_act) v += *r;
            *o = v;
        }
}
