/* Winograd F(4x4, 3x3) convolution for 3x3 stride-1 convs: every 4x4 output tile comes from a 6x6 input
 * patch with 36 multiplies per (input, output) channel pair instead of 144. The products are 36 GEMMs
 *     M[xi] (cout x tiles) = U[xi] (cout x cin) x V[xi] (cin x tiles)
 * with the transformed weights U pre-packed at load and the transformed input V written straight into
 * packed B panels, so the GEMM micro-kernels (AVX2 / NEON / scalar) do the multiplies. Tiles are processed
 * in chunks small enough that V and M of one chunk stay in L2; threads take chunks. */
#include "kernels/isa.h"

#include "kernels/winograd.h"

#include <stdatomic.h>
#include <math.h>
#include <string.h>

enum { TILE = 4, PATCH = 6, NXI = PATCH * PATCH, CHUNK_FLOATS = 64 * 1024 };
enum { BLOCK = 96 }; /* weight pairs transformed at a time: their buffers (24 KB) stay in L1 */

static int64_t ceil_div(int64_t a, int64_t b) {
    return (a + b - 1) / b;
}
static int64_t min64(int64_t a, int64_t b) {
    return a < b ? a : b;
}

/* Winograd pays for its transforms when there are enough channels on both sides to amortise them
 * (bench/convnet, SqueezeNet 1.1 fire expand 3x3 layers, 1 thread: 16->64 at 55x55 1.11 ms vs 1.36 ms by
 * implicit im2col, 64->256 at 13x13 0.55 vs 0.88 ms). */
bool ember_wino_suits(const ember_conv2d_shape *g) {
    return g->kh == 3 && g->kw == 3 && g->stride_h == 1 && g->stride_w == 1 && g->dil_h == 1 &&
           g->dil_w == 1 && g->groups == 1 && g->cin >= 16 && g->cout >= 16;
}

int64_t ember_wino_weights_floats(const ember_kernel_table *k, const ember_conv2d_shape *g) {
    return NXI * ember_packed_floats(k, false, g->cout, g->cin);
}

/* --- scalar transforms ---------------------------------------------------------------------------------- */

#define W_T float
#define W_ADD(a, b) ((a) + (b))
#define W_SUB(a, b) ((a) - (b))
#define W_MUL(c, a) ((c) * (a))
#define W_K(x) (x)
#define W_LOAD(p) (*(p))
#define W_STORE(p, x) (*(p) = (x))

void ember_wino_in_ref(float *v, int64_t vs, const float *d, int64_t L) {
    for (int64_t l = 0; l < L; l++) EMBER_WINO_IN(v, vs, d, L, l);
}

void ember_wino_out_ref(float *y, const float *m, int64_t ms, int64_t L) {
    for (int64_t l = 0; l < L; l++) EMBER_WINO_OUT(y, m, ms, L, l);
}

/* --- weights: U = G g G^T per (cout, cin) pair, then each of the 36 [cout x cin] matrices packed ----------
 */

/* u[a][p] = (G (g0[p], g1[p], g2[p]))[a] for p < BLOCK, with G = [1/4 0 0; -1/6 -1/6 -1/6; -1/6 1/6 -1/6;
 * 1/24 1/12 1/6; 1/24 -1/12 1/6; 0 0 1]: a loop of fixed length over p, which the compiler vectorizes. */
static void g_transform(const float *restrict g0, const float *restrict g1, const float *restrict g2,
                        float (*restrict u)[BLOCK]) {
    const float q = 1.0f / 4, s = 1.0f / 6, t = 1.0f / 12, v = 1.0f / 24;
    for (int p = 0; p < BLOCK; p++) {
        float even = g0[p] + g2[p], odd = g1[p];
        u[0][p] = g0[p] * q;
        u[1][p] = -(even + odd) * s;
        u[2][p] = -(even - odd) * s;
        u[3][p] = g0[p] * v + odd * t + g2[p] * s;
        u[4][p] = g0[p] * v - odd * t + g2[p] * s;
        u[5][p] = g2[p];
    }
}

/* Transforms a block of pairs (one sliver of mr output channels x BLOCK / mr input channels) at a time,
 * U = G g G^T for each, then copies the block out as 36 runs, one into each packed matrix: A slivers are
 * [cin][mr] blocks, so the block's values for one xi are contiguous there. (Storing each value straight
 * to its matrix wrote 36 streams a multiple of 4 KB apart that thrashed one L1 set; a [36][cout][cin]
 * buffer packed afterwards cost page faults and a second pass.) */
void ember_wino_pack_weights(const ember_kernel_table *k, const ember_conv2d_shape *g, const float *W,
                             float *dst) {
    int64_t cin = g->cin, ps = ember_packed_floats(k, false, g->cout, cin), mr = k->mr, cb = BLOCK / mr;
    float w[9][BLOCK] = {{0}}, t[3][6][BLOCK], u[NXI][BLOCK]; /* taps, G g, G g G^T: [..][ci * mr + i] */
    for (int64_t c0 = 0; c0 < g->cout; c0 += mr)
        for (int64_t ci0 = 0; ci0 < cin; ci0 += cb) {
            int64_t n = min64(cb, cin - ci0), P = n * mr;
            for (int64_t ci = 0; ci < n; ci++)
                for (int64_t i = 0; i < mr; i++) /* the last sliver's padding rows transform zeros */
                    for (int tap = 0; tap < 9; tap++)
                        w[tap][ci * mr + i] = c0 + i < g->cout ? W[((c0 + i) * cin + ci0 + ci) * 9 + tap] : 0.0f;
            for (int c = 0; c < 3; c++) g_transform(w[c], w[3 + c], w[6 + c], t[c]); /* all BLOCK: P may be less */
            for (int e = 0; e < 6; e++) g_transform(t[0][e], t[1][e], t[2][e], u + e * 6);
            for (int xi = 0; xi < NXI; xi++)
                memcpy(dst + xi * ps + c0 * cin + ci0 * mr, u[xi], (size_t)P * sizeof(float));
        }
}

/* --- the convolution --------------------------------------------------------------------------------------
 */

typedef struct {
    const ember_kernel_table *k;
    const ember_conv2d_shape *g;
    const float *U, *in, *bias;
    float *out;
    int64_t th, tw, tiles, tc, chunks; /* tiles per image, tiles per chunk, chunks per image */
    float lo, hi;                      /* ReLU / Clip (or none: -inf, +inf) applied while scattering */
    atomic_bool failed;
} wino_job;

void ember_wino_in_tail(float *v, int64_t vs, const float *d, int64_t L, int64_t l) {
    float dt[NXI * 8], vt[NXI * 8];
    int64_t n = L - l;
    for (int e = 0; e < NXI; e++)
        for (int64_t i = 0; i < n; i++) dt[e * n + i] = d[e * L + l + i];
    ember_wino_in_ref(vt, n, dt, n);
    for (int e = 0; e < NXI; e++)
        for (int64_t i = 0; i < n; i++) v[e * vs + l + i] = vt[e * n + i];
}

void ember_wino_out_tail(float *y, const float *m, int64_t ms, int64_t L, int64_t l) {
    float mt[NXI * 8], yt[TILE * TILE * 8];
    int64_t n = L - l;
    for (int e = 0; e < NXI; e++)
        for (int64_t i = 0; i < n; i++) mt[e * n + i] = m[e * ms + l + i];
    ember_wino_out_ref(yt, mt, n, n);
    for (int e = 0; e < TILE * TILE; e++)
        for (int64_t i = 0; i < n; i++) y[e * L + l + i] = yt[e * n + i];
}

void ember_wino_gather4_ref(float *d, int64_t L, const float *p, int64_t pitch) {
    for (int i = 0; i < PATCH; i++)
        for (int x = 0; x < PATCH; x++)
            for (int l = 0; l < 4; l++) d[(i * PATCH + x) * L + l] = p[i * pitch + TILE * l + x];
}

void ember_wino_scatter4_ref(float *o, int64_t ow, const float *y, int64_t L, int rows, int cols, float bias,
                             float lo, float hi) {
    for (int a = 0; a < rows; a++)
        for (int x = 0; x < cols; x++) {
            float v = y[(a * TILE + x % TILE) * L + x / TILE] + bias;
            v = v < lo ? lo : v; /* NaN stays */
            o[a * ow + x] = v > hi ? hi : v;
        }
}

/* Input patches come from a band of one input plane with its zero padding around it: the band holds rows
 * ty0 * 4 - pad_t + r (r < rows) of tile rows ty0.. and columns x - pad_l for x < band_pitch, zero outside
 * the plane, so every tile's 6x6 patch lies inside and no gather checks bounds (tiles on the border went
 * element by element before: all of them on 27x27 and 13x13 planes). The pitch leaves room for
 * wino_gather4 on a row's last tile, which reads 20 columns. */
static int64_t band_pitch(const wino_job *j) {
    return j->tw * TILE + 16;
}

/* The floats of a band for any chunk: tc tiles span at most (tc + tw - 2) / tw + 1 tile rows. */
static int64_t band_floats(const wino_job *j) {
    return ((j->tc + j->tw - 2) / j->tw * TILE + PATCH) * band_pitch(j);
}

static void band_fill(const wino_job *j, const float *plane, int64_t ty0, int64_t rows, float *band) {
    const ember_conv2d_shape *g = j->g;
    int64_t pitch = band_pitch(j), x0 = min64(g->pad_l, pitch), x1 = min64(g->pad_l + g->w, pitch);
    for (int64_t r = 0; r < rows; r++) {
        float *d = band + r * pitch;
        int64_t y = ty0 * TILE - g->pad_t + r;
        if (y < 0 || y >= g->h) {
            memset(d, 0, (size_t)pitch * sizeof *d);
            continue;
        }
        memset(d, 0, (size_t)x0 * sizeof *d);
        if (x1 > x0) memcpy(d + x0, plane + y * g->w + (x0 - g->pad_l), (size_t)(x1 - x0) * sizeof *d);
        memset(d + x1, 0, (size_t)(pitch - x1) * sizeof *d);
    }
}

/* d[(i*6 + x)*nr + l] = the 6x6 patch of tile t0 + l (l < n; lanes n.. zero) from the band of tile row ty0:
 * up to 4 tiles of one tile row at a time through wino_gather4 (the lanes past them are written again by the
 * next group, or zeroed), one by one where 4 lanes would pass nr. */
static void band_gather(const wino_job *j, const float *band, int64_t ty0, int64_t t0, int64_t n, int nr,
                        float *d) {
    int64_t pitch = band_pitch(j), l = 0;
    while (l < nr && l < n) {
        int64_t t = t0 + l, tx = t % j->tw;
        const float *p = band + (t / j->tw - ty0) * TILE * pitch + tx * TILE;
        if (l + 4 <= nr) {
            j->k->wino_gather4(d + l, nr, p, pitch);
            l += min64(4, min64(j->tw - tx, n - l));
            continue;
        }
        for (int i = 0; i < PATCH; i++)
            for (int x = 0; x < PATCH; x++) d[(i * PATCH + x) * nr + l] = p[i * pitch + x];
        l++;
    }
    for (; l < nr; l++)
        for (int e = 0; e < NXI; e++) d[e * nr + l] = 0.0f;
}

/* A chunk is tiles [t0, t0 + n) of image b in three steps: the input tiles transformed into V (NXI packed
 * [cin x nb] panels), NXI GEMMs into M (NXI [cout x nb] blocks), M transformed back into the output. Each step
 * takes a range (input channels, products, output channels), so that a chunk can also be shared by threads. */
typedef struct {
    int64_t b, t0, n, nb, vs, ms; /* image, first tile, tiles, padded tiles, V and M strides */
    float *V, *M;
} wino_chunk_t;

/* M's rows: cout rounded up to whole micro-kernel tiles (wino_gemm_part writes them all). */
static int64_t mat_rows(const wino_job *j) {
    return ceil_div(j->g->cout, j->k->mr) * j->k->mr;
}

/* The distance between two of the 36 matrices of V or M: whole 64-byte lines, an odd number of them. The
 * transforms read or write one line of each of the 36 in turn; at a plain rows x nb floats they were often
 * a multiple of 4 KB apart (64 x 16 floats), all in one set of the 8-way L1 (16->64 at 55x55: wino_out and
 * the scatter were 41% of the layer). */
static int64_t mat_stride(int64_t rows, int64_t nb) {
    int64_t s = (rows * nb + 15) / 16 * 16;
    return s / 16 % 2 ? s : s + 16;
}

static wino_chunk_t chunk_at(const wino_job *j, int64_t b, int64_t t0, float *V, float *M) {
    int64_t n = min64(j->tc, j->tiles - t0), nb = ceil_div(n, j->k->nr) * j->k->nr;
    return (wino_chunk_t){b, t0, n, nb, mat_stride(j->g->cin, nb), mat_stride(mat_rows(j), nb), V, M};
}

/* Input channels [c0, c1) of chunk c into V; d: NXI x nr floats, band: band_floats. */
static void wino_in_part(const wino_job *j, const wino_chunk_t *c, int64_t c0, int64_t c1, float *d,
                         float *band) {
    const ember_conv2d_shape *g = j->g;
    int nr = j->k->nr;
    const float *x = j->in + c->b * g->cin * g->h * g->w;
    int64_t ty0 = c->t0 / j->tw, rows = ((c->t0 + c->n - 1) / j->tw - ty0) * TILE + PATCH;
    for (int64_t ci = c0; ci < c1; ci++) {
        band_fill(j, x + ci * g->h * g->w, ty0, rows, band);
        for (int64_t s = 0; s < c->nb / nr; s++) {
            band_gather(j, band, ty0, c->t0 + s * nr, c->n - s * nr, nr, d);
            j->k->wino_in(c->V + (s * g->cin + ci) * nr, c->vs, d, nr);
        }
    }
}

/* Products [x0, x1) of chunk c. Each is a small GEMM (cout x nb, K = cin; SqueezeNet's 16->64 at 55x55:
 * 64 x 16 x 16) of two packed operands whose C has rows for whole mr tiles (mat_rows): up to
 * WINO_DIRECT_K the micro-kernel runs straight on the slivers, each B sliver staying in L1 while A's
 * stream, instead of through the GEMM driver (its setup and edge buffer were 17% of that layer). */
enum { WINO_DIRECT_K = 256 };

static void wino_gemm_part(const wino_job *j, const wino_chunk_t *c, int x0, int x1) {
    const ember_kernel_table *k = j->k;
    const ember_conv2d_shape *g = j->g;
    int64_t ps = ember_packed_floats(k, false, g->cout, g->cin), K = g->cin, mr = k->mr, nr = k->nr;
    for (int xi = x0; xi < x1; xi++) {
        const float *U = j->U + xi * ps, *V = c->V + xi * c->vs;
        float *M = c->M + xi * c->ms;
        if (K > WINO_DIRECT_K) {
            ember_gemm_src A = {.packed = U}, B = {.packed = V};
            ember_sgemm_run(k, NULL, g->cout, c->n, K, 1.0f, &A, &B, 0.0f, M, c->nb, NULL);
            continue;
        }
        for (int64_t s = 0; s < c->nb; s += nr)
            for (int64_t i = 0; i < g->cout; i += mr)
                k->ukernel(K, U + i * K, V + s * K, M + i * c->nb + s, c->nb, 1.0f, 0.0f, NULL);
    }
}

/* Output channels [co0, co1) of chunk c from M into the output; d: 16 x nr floats and 4 more (wino_scatter4
 * reads 4 lanes from a group's first). Up to 4 tiles of one tile row at a time; the plane's edges cut the
 * tiles that pass them. */
static void wino_out_part(const wino_job *j, const wino_chunk_t *c, int64_t co0, int64_t co1, float *d) {
    const ember_kernel_table *k = j->k;
    const ember_conv2d_shape *g = j->g;
    int nr = k->nr;
    int64_t ns = c->nb / nr, nb = c->nb, ms = c->ms, n = c->n, t0 = c->t0, b = c->b, ohw = g->oh * g->ow;
    const float *M = c->M;
    float *y = d; /* 16 x nr outputs per sliver */
    for (int64_t co = co0; co < co1; co++) {
        float bias = j->bias ? j->bias[co] : 0.0f, *o = j->out + (b * g->cout + co) * ohw;
        for (int64_t s = 0; s < ns; s++) {
            k->wino_out(y, M + co * nb + s * nr, ms, nr);
            for (int64_t l = 0; l < nr && s * nr + l < n;) {
                int64_t t = t0 + s * nr + l, tx = t % j->tw, oy0 = t / j->tw * TILE, ox0 = tx * TILE;
                int64_t tiles = min64(4, min64(j->tw - tx, n - s * nr - l));
                int rows = (int)min64(TILE, g->oh - oy0), cols = (int)min64(TILE * tiles, g->ow - ox0);
                k->wino_scatter4(o + oy0 * g->ow + ox0, g->ow, y + l, nr, rows, cols, bias, j->lo, j->hi);
                l += tiles;
            }
        }
    }
}

/* The chunks [begin, end) whole, one per task (each thread with its own V and M). */
static void wino_chunks(void *ctx, int64_t begin, int64_t end, int thread) {
    wino_job *j = ctx;
    const ember_conv2d_shape *g = j->g;
    int nr = j->k->nr;
    int64_t nb = ceil_div(j->tc, nr) * nr, vf = NXI * mat_stride(g->cin, nb),
            mf = NXI * mat_stride(mat_rows(j), nb);
    float *V = ember_scratch(EMBER_SCRATCH_CONV, (size_t)(vf + mf + NXI * nr) * sizeof(float));
    float *band = ember_scratch(EMBER_SCRATCH_ROWS, (size_t)band_floats(j) * sizeof(float));
    (void)thread;
    if (!V || !band) {
        atomic_store(&j->failed, true);
        return;
    }
    for (int64_t ch = begin; ch < end; ch++) {
        wino_chunk_t c = chunk_at(j, ch / j->chunks, ch % j->chunks * j->tc, V, V + vf);
        wino_in_part(j, &c, 0, g->cin, V + vf + mf, band);
        wino_gemm_part(j, &c, 0, NXI);
        wino_out_part(j, &c, 0, g->cout, V + vf + mf);
    }
}

/* One chunk shared by the threads, step by step: input channels, then the products, then output channels. */
typedef struct {
    wino_job *j;
    const wino_chunk_t *c;
    int64_t per; /* channels per task */
} wino_step;

static void wino_in_tasks(void *ctx, int64_t begin, int64_t end, int thread) {
    const wino_step *w = ctx;
    float d[NXI * EMBER_NR_MAX];
    float *band = ember_scratch(EMBER_SCRATCH_ROWS, (size_t)band_floats(w->j) * sizeof(float));
    (void)thread;
    if (!band) {
        atomic_store(&w->j->failed, true);
        return;
    }
    wino_in_part(w->j, w->c, begin * w->per, min64(end * w->per, w->j->g->cin), d, band);
}

static void wino_gemm_tasks(void *ctx, int64_t begin, int64_t end, int thread) {
    const wino_step *w = ctx;
    (void)thread;
    wino_gemm_part(w->j, w->c, (int)begin, (int)end);
}

static void wino_out_tasks(void *ctx, int64_t begin, int64_t end, int thread) {
    const wino_step *w = ctx;
    float d[16 * EMBER_NR_MAX + 4] = {0};
    (void)thread;
    wino_out_part(w->j, w->c, begin * w->per, min64(end * w->per, w->j->g->cout), d);
}

static bool wino_shared(wino_job *j, ember_pool *pool) {
    const ember_conv2d_shape *g = j->g;
    int nr = j->k->nr;
    int64_t nb = ceil_div(j->tc, nr) * nr, vf = NXI * mat_stride(g->cin, nb),
            mf = NXI * mat_stride(mat_rows(j), nb);
    float *V = ember_scratch(EMBER_SCRATCH_CONV, (size_t)(vf + mf) * sizeof(float));
    if (!V) return false;
    int64_t threads = ember_pool_threads(pool), cin_per = ceil_div(g->cin, 4 * threads);
    int64_t cout_per = ceil_div(g->cout, 4 * threads);
    for (int64_t ch = 0; ch < g->batch * j->chunks; ch++) {
        wino_chunk_t c = chunk_at(j, ch / j->chunks, ch % j->chunks * j->tc, V, V + vf);
        wino_step in = {j, &c, cin_per}, mm = {j, &c, 1}, out = {j, &c, cout_per};
        ember_pool_for(pool, ceil_div(g->cin, cin_per), 1, wino_in_tasks, &in);
        ember_pool_for(pool, NXI, 1, wino_gemm_tasks, &mm);
        ember_pool_for(pool, ceil_div(g->cout, cout_per), 1, wino_out_tasks, &out);
    }
    return true;
}

typedef struct {
    const ember_kernel_table *k;
    const ember_conv2d_shape *g;
    float *out;
    const ember_epilogue *ep;
} act_job;

static void act_planes(void *ctx, int64_t begin, int64_t end, int thread) {
    const act_job *j = ctx;
    int64_t hw = j->g->oh * j->g->ow;
    for (int64_t pl = begin; pl < end; pl++) {
        ember_epilogue e = {.act = ember_act_row(j->ep->act, pl % j->g->cout),
                            .residual_after_act = j->ep->residual_after_act, .ldr = hw};
        e.residual = j->ep->residual ? j->ep->residual + pl * hw : NULL;
        ember_epilogue_apply_k(j->k, &e, j->out + pl * hw, hw, 0, 0, 1, hw);
    }
}

bool ember_wino_conv(const ember_kernel_table *k, ember_pool *pool, const ember_conv2d_shape *g,
                     const float *U, const float *in, const float *bias, float *out,
                     const ember_epilogue *ep) {
    wino_job j = {.k = k, .g = g, .U = U, .in = in, .bias = bias, .out = out, .lo = -INFINITY, .hi = INFINITY};
    ember_ukernel_post post; /* bias + ReLU/Clip: in the scatter, no pass over the planes afterwards */
    if (ep && ember_ukernel_post_from(ep, &post)) {
        j.lo = post.lo, j.hi = post.hi;
        ep = NULL;
    }
    j.th = ceil_div(g->oh, TILE);
    j.tw = ceil_div(g->ow, TILE);
    j.tiles = j.th * j.tw;
    /* tiles per chunk: V and M of a chunk within CHUNK_FLOATS, whole slivers, and enough chunks to share */
    int64_t nr = k->nr, per = CHUNK_FLOATS / (NXI * (g->cin + g->cout));
    j.tc = per / nr * nr < nr ? nr : per / nr * nr;
    int64_t threads = ember_pool_threads(pool);
    while (j.tc > nr && g->batch * ceil_div(j.tiles, j.tc) < 2 * threads) j.tc -= nr;
    if (j.tc > j.tiles) j.tc = j.tiles;
    j.chunks = ceil_div(j.tiles, j.tc);
    /* too few chunks to share (a 13x13 plane is one chunk of 16 tiles): the threads share each chunk's steps */
    atomic_init(&j.failed, false);
    if (threads > 1 && g->batch * j.chunks < threads) {
        if (!wino_shared(&j, pool)) return false;
    } else {
        ember_pool_for(pool, g->batch * j.chunks, 1, wino_chunks, &j);
    }
    if (atomic_load(&j.failed)) return false;
    if (ep && (ep->act.kind != EMBER_ACT_NONE || ep->residual)) {
        act_job a = {k, g, out, ep};
        ember_pool_for(pool, g->batch * g->cout, 1, act_planes, &a);
    }
    return true;
}
