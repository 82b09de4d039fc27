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

void quant_isa_dotprod(quant_isa *isa) {
    set_int_dots(isa);
    isa->dot8[EMBER_GGML_Q8_0] = dot8_q8_0;
}
#endif
