/* The NEON integer dot kernels (quant_neon_impl.h) over the Armv8.2 dot-product instruction (SDOT: four
 * byte products summed into each int32 lane). Built with -march=armv8.2-a+dotprod; selected when cpu->dotprod. */
#if defined(__aarch64__)
#include <arm_neon.h>

#define DOT16(acc, a, b) vdotq_s32(acc, a, b)
#include "kernels/arm/quant_neon_impl.h"

/* Q8_0 rows interleaved 8 at a time (blk_q8_0x8): SDOT by lane multiplies 4 activation bytes with 4 values of each
 * of 4 rows, one row per int32 lane. */
#define Q80_LANE(k, av, l)                                                                                   \
    do {                                                                                                     \
        s0 = vdotq_laneq_s32(s0, ld8(b->q[k]), av, l);                                                       \
        s1 = vdotq_laneq_s32(s1, ld8(b->q[k] + 16), av, l);                                                  \
    } while (0)

static void dot8_q8_0(int64_t n, const void *packed, const void *a, float *out) {
    const blk_q8_0x8 *b = packed;
    const act_q8 *y = a;
    float32x4_t acc0 = vdupq_n_f32(0), acc1 = acc0;
    for (int64_t i = 0; i < n / QK; i++, b++, y++) {
        int8x16_t a0 = ld8(y->qs), a1 = ld8(y->qs + 16);
        int32x4_t s0 = vdupq_n_s32(0), s1 = s0;
        Q80_LANE(0, a0, 0);
        Q80_LANE(1, a0, 1);
        Q80_LANE(2, a0, 2);
        Q80_LANE(3, a0, 3);
        Q80_LANE(4, a1, 0);
        Q80_LANE(5, a1, 1);
        Q80_LANE(6, a1, 2);
        Q80_LANE(7, a1, 3);
        float32x4_t d0, d1;
        scales8(b->d, y->d, &d0, &d1);
        acc0 = vmlaq_f32(acc0, vcvtq_f32_s32(s0), d0);
        acc1 = vmlaq_f32(acc1, vcvtq_f32_s32(s1), d1);
    }
    vst1q_f32(out, acc0);
    vst1q_f32(out + 4, acc1);
}
#undef Q80_LANE

/* Q6_K rows interleaved 8 at a time: SDOT by lane per 4 rows, stream and 16-element group (4 steps), then the
 * group's scales. */
#define Q6_LANE(kk)                                                                                          \
    do {                                                                                                     \
        int8x16_t v[4];                                                                                      \
        q6x8_values(b, h, 4 * gq + (kk), rh, v);                                                             \
        for (int s = 0; s < 4; s++) t[s] = vdotq_laneq_s32(t[s], v[s], av[s], kk);                           \
    } while (0)

static void dot8_q6_K(int64_t n, const void *packed, const void *a, float *out) {
    const blk_q6_Kx8 *b = packed;
    const act_q8k *y = a;
    float32x4_t acc[2] = {vdupq_n_f32(0), vdupq_n_f32(0)};
    for (int64_t i = 0; i < n / QK_K; i++, b++, y++) {
        float32x4_t d[2];
        scales8(b->d, y->d, &d[0], &d[1]);
        for (int rh = 0; rh < 2; rh++) {
            int32x4_t isum = vdupq_n_s32(0);
            for (int h = 0; h < 2; h++)
                for (int gq = 0; gq < 2; gq++) {
                    int8x16_t av[4];
                    int32x4_t t[4];
                    for (int s = 0; s < 4; s++) {
                        av[s] = ld8(y->qs + 128 * h + 32 * s + 16 * gq);
                        t[s] = vdupq_n_s32(0);
                    }
                    Q6_LANE(0);
                    Q6_LANE(1);
                    Q6_LANE(2);
                    Q6_LANE(3);
                    for (int s = 0; s < 4; s++) isum = vmlaq_s32(isum, t[s], q6x8_scales(b, 8 * h + 2 * s + gq, rh));
                }
            acc[rh] = vmlaq_f32(acc[rh], vcvtq_f32_s32(isum), d[rh]);
        }
    }
    vst1q_f32(out, acc[0]);
    vst1q_f32(out + 4, acc[1]);
}
#undef Q6_LANE

void quant_isa_dotprod(quant_isa *isa) {
    set_int_dots(isa);
    isa->dot8[EMBER_GGML_Q8_0] = dot8_q8_0;
    isa->dot8[EMBER_GGML_Q6_K] = dot8_q6_K;
}
#endif
