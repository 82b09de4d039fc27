/* The NEON integer dot kernels (quant_neon_impl.h) over the Armv8.2 dot-product instruction (SDOT: four
 * byte products summed into each int32 lane). Built with -march=armv8.2-a+dotprod; selected when cpu->dotprod. */
#if defined(__aarch64__)
#include <arm_neon.h>

#define DOT16(acc, a, b) vdotq_s32(acc, a, b)
#include "kernels/arm/quant_neon_impl.h"

void quant_isa_dotprod(quant_isa *isa) { set_int_dots(isa); }
#endif
