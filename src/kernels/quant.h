/* Quantized weight formats of GGUF (ggml block layouts), their scalar reference dequantizers, quantizers and
 * dot products, and the per-CPU selection of optimised dot kernels (AVX2 in kernels/x86, NEON in kernels/arm).
 *
 *     const quant_type *qt = quant_type_get(EMBER_GGML_Q4_K);            // NULL: Ember cannot compute with it
 *     qt->dequant(row_bytes, floats, n);                                  // exact ggml dequantization
 *     uint8_t act[...]; quant_act(qt->act, x, act, n);                   // activations in the dot's format
 *     float y = qt->dot(n, row_bytes, act);                               // best kernel for this CPU
 *
 * Activations are quantized to 8 bits (as llama.cpp does) for the integer dots: 32-element blocks
 * (act_q8: float scale, float scale*sum, int8[32]) for Q4_0..Q8_0, 256-element blocks (act_q8k) for the
 * k-quants. F32/F16/BF16 weights take float activations.
 *
 * Matrix products use the multi-row forms: qt->dotn (several weight rows, one activation row: generation)
 * and qt->dotm / qt->gemm (weight rows x activation rows: prompt batches; a weight block is decoded once for
 * several tokens, an activation block loaded once for several rows).
 */
#ifndef EMBER_KERNELS_QUANT_H
#define EMBER_KERNELS_QUANT_H

#include "ember/gguf.h"

#include <stdint.h>

#define QK 32
#define QK_K 256

/* ggml block layouts (half-precision fields kept as raw uint16_t). */
typedef struct { uint16_t d; uint8_t qs[QK / 2]; } blk_q4_0;
typedef struct { uint16_t d, m; uint8_t qs[QK / 2]; } blk_q4_1;
typedef struct { uint16_t d; uint8_t qh[4]; uint8_t qs[QK / 2]; } blk_q5_0;
typedef struct { uint16_t d, m; uint8_t qh[4]; uint8_t qs[QK / 2]; } blk_q5_1;
typedef struct { uint16_t d; int8_t qs[QK]; } blk_q8_0;
typedef struct { uint8_t scales[QK_K / 16]; uint8_t qs[QK_K / 4]; uint16_t d, dmin; } blk_q2_K;
typedef struct { uint8_t hmask[QK_K / 8]; uint8_t qs[QK_K / 4]; uint8_t scales[12]; uint16_t d; } blk_q3_K;
typedef struct { uint16_t d, dmin; uint8_t scales[12]; uint8_t qs[QK_K / 2]; } blk_q4_K;
typedef struct { uint16_t d, dmin; uint8_t scales[12]; uint8_t qh[QK_K / 8]; uint8_t qs[QK_K / 2]; } blk_q5_K;
typedef struct { uint8_t ql[QK_K / 2]; uint8_t qh[QK_K / 4]; int8_t scales[QK_K / 16]; uint16_t d; } blk_q6_K;

/* Activation blocks (Ember's own, never stored in files). */
typedef struct { float d, s; int8_t qs[QK]; } act_q8; /* d rounded to half precision; s = d * sum(qs) */
typedef struct { float d; int8_t qs[QK_K]; int16_t bsums[QK_K / 16]; } act_q8k; /* bsums: sums of 16 */

typedef enum { ACT_F32, ACT_Q8, ACT_Q8K } act_kind;

/* Dot of one weight row (n elements, ggml layout) with one activation row (act format). */
typedef float (*quant_dot_fn)(int64_t n, const void *w, const void *a);
/* Same for `nr` weight rows `stride` bytes apart: out[r] = dot(row r, a). Lets kernels share activation loads. */
typedef void (*quant_dotn_fn)(int64_t n, const void *w, size_t stride, int nr, const void *a, float *out);
/* One weight row with `na` activation rows `astride` bytes apart: out[c] = dot(w, activation row c). */
typedef void (*quant_dotm_fn)(int64_t n, const void *w, const void *a, size_t astride, int na, float *out);
/* nr weight rows x na activation rows: out[c * ostride + r] = dot(weight row r, activation row c). */
typedef void (*quant_gemm_fn)(int64_t n, const void *w, size_t wstride, int nr, const void *a, size_t astride, int na,
                              float *out, size_t ostride);

typedef struct quant_type {
    ember_ggml_type type;
    int64_t block;       /* elements per block */
    size_t bytes;        /* bytes per block */
    act_kind act;
    void (*dequant)(const void *x, float *y, int64_t n);   /* n multiple of block */
    void (*quantize)(const float *x, void *y, int64_t n);  /* reference quantizer (scale search for k-quants) */
    quant_dot_fn dot;                                        /* selected for this CPU */
    quant_dot_fn dot_ref;                                    /* scalar reference */
    quant_dotn_fn dotn;                                      /* multi-row forms (loops of dot when no kernel) */
    quant_dotm_fn dotm;
    quant_gemm_fn gemm;                                      /* tiles of rows x tokens (loops of dotm when none) */
    /* Rows interleaved 8 at a time (NULL when this CPU has no kernel for it): pack8 rewrites 8 rows `stride` bytes
     * apart into dst (same total size); dot8 computes those 8 rows' dots with one activation row into out[8],
     * one row per vector lane, so block scales and sums are handled for 8 rows at once. dot8_ref is its twin. */
    void (*pack8)(const void *w, size_t stride, int64_t n, void *dst); /* dst: quant_packed8_bytes(type, n) */
    void (*dot8)(int64_t n, const void *packed, const void *a, float *out);
    /* The same 8 packed rows against na activation rows astride bytes apart: out[c * ostride + r] (set with dot8; a
     * loop of dot8 over the tokens where the CPU has no tile). */
    void (*gemm8)(int64_t n, const void *packed, const void *a, size_t astride, int na, float *out, size_t ostride);
    /* y[i] += a * x[i] over n elements of x in this format (F32, F16, Q8_0 only: the KV cache types) */
    void (*axpy)(int64_t n, float a, const void *x, float *y);
} quant_type;

/* The type's operations with kernels picked for this CPU (ember_cpu_get), or NULL when unsupported. */
const quant_type *quant_type_get(ember_ggml_type t);
/* Bytes of n activations in a format (n a multiple of its block; F32: 4n). */
size_t quant_act_bytes(act_kind k, int64_t n);
/* Quantize n floats to activation format k (F32 copies). Uses the CPU's best routine. */
void quant_act(act_kind k, const float *x, void *y, int64_t n);
void quant_act_ref(act_kind k, const float *x, void *y, int64_t n);

/* Scalar references (also used by tests). */
float quant_dot_f32_ref(int64_t n, const void *w, const void *a);
void quant_dot8_q4_0_ref(int64_t n, const void *packed, const void *a, float *out);
void quant_dot8_q4_K_ref(int64_t n, const void *packed, const void *a, float *out);
void quant_dot8_q6_K_ref(int64_t n, const void *packed, const void *a, float *out);
void quant_dot8_q8_0_ref(int64_t n, const void *packed, const void *a, float *out);
/* Bytes of 8 rows of n elements packed for dot8 (0: the type has no 8-row layout). */
size_t quant_packed8_bytes(ember_ggml_type t, int64_t n);

/* Q4_0 rows interleaved 8 at a time, per block: the 8 scales, then for k = 0..3 the 32 bytes
 * q[k][4r + j] = value(row r, element 4k + j) | value(row r, element 4k + 16 + j) << 4 (values 0..15). */
typedef struct { uint16_t d[8]; uint8_t q[4][32]; } blk_q4_0x8;
/* Q4_K rows interleaved 8 at a time, per 256-block: the 8 rows' d and dmin, their 12 packed scale bytes as three
 * 32-bit words s[w][r] (so the 6-bit scales of 8 rows unpack with the same word arithmetic as one row's), then
 * q[p][k][4r + i] = the row's qs[32p + 4k + i] (elements 64p + 4k + i in the low nibble, 64p + 32 + 4k + i in the
 * high one). Exactly the bytes of the 8 blocks: generation is memory-bound, so the layout adds none. */
typedef struct { uint16_t d[8], dmin[8]; uint32_t s[3][8]; uint8_t q[4][8][32]; } blk_q4_Kx8;
/* Q6_K rows interleaved 8 at a time, per 256-block: the 8 scales d, the 16 group scales sc[g][r], then per half h
 * and step k (in the order the kernels read them) q[h][k][0][4r + i] = the row's ql[64h + 4k + i],
 * q[h][k][1][4r + i] = its ql[64h + 32 + 4k + i] and q[h][k][2][4r + i] = its qh[32h + 4k + i] (ggml's bit layout
 * inside each byte). Exactly the bytes of the 8 blocks, read front to back (the prefetchers lost track of
 * three interleaved streams: 4.5 vs 8+ GB/s). */
typedef struct { uint16_t d[8]; int8_t sc[16][8]; uint8_t q[2][8][3][32]; } blk_q6_Kx8;
/* Q8_0 rows interleaved 8 at a time, per block: the 8 scales, then q[k][4r + j] = the row's qs[4k + j]. */
typedef struct { uint16_t d[8]; int8_t q[8][32]; } blk_q8_0x8;

/* Optimised kernels (defined in kernels/x86 and kernels/arm; NULL-checked by the selector). */
typedef struct quant_isa {
    quant_dot_fn dot[EMBER_GGML_TYPE_COUNT];
    quant_dotn_fn dotn[EMBER_GGML_TYPE_COUNT];
    quant_dotm_fn dotm[EMBER_GGML_TYPE_COUNT];
    quant_gemm_fn gemm[EMBER_GGML_TYPE_COUNT];
    void (*dot8[EMBER_GGML_TYPE_COUNT])(int64_t n, const void *packed, const void *a, float *out);
    void (*gemm8[EMBER_GGML_TYPE_COUNT])(int64_t n, const void *packed, const void *a, size_t astride, int na,
                                         float *out, size_t ostride);
    void (*act[3])(const float *x, void *y, int64_t n);
    void (*axpy[EMBER_GGML_TYPE_COUNT])(int64_t n, float a, const void *x, float *y);
} quant_isa;
void quant_isa_avx2(quant_isa *isa);
void quant_isa_neon(quant_isa *isa);    /* aarch64 and armv7 NEON */
void quant_isa_dotprod(quant_isa *isa); /* aarch64 with the dot-product extension (after neon: overrides) */

#endif
