/* Small floating-point formats of ONNX (float8 e4m3fn/e4m3fnuz/e5m2/e5m2fnuz, float4 e2m1): their layout and
 * the exact value of a bit pattern. Shared by the tensor printers (io) and the casts (ops).
 *
 *     const ember_minifloat *f = ember_minifloat_of(EMBER_DTYPE_F8E4M3FN);  // NULL for other types
 *     double v = ember_minifloat_decode(0x38, f);                            // 1.0
 */
#ifndef EMBER_CORE_MINIFLOAT_H
#define EMBER_CORE_MINIFLOAT_H

#include "ember/tensor.h"

typedef struct ember_minifloat {
    int ebits, mbits, bias;
    char special; /* 'I' IEEE (all-ones exponent: inf/NaN), 'F' only S.1111.111 is NaN, 'U' only 0x80 is NaN,
                     'N' no NaN or infinity */
} ember_minifloat;

/* The format of a float8/float4 dtype, or NULL. */
const ember_minifloat *ember_minifloat_of(ember_dtype t);
/* Value of a bit pattern of the format (1 + ebits + mbits bits; NaN and infinities as the format spells them). */
double ember_minifloat_decode(unsigned bits, const ember_minifloat *f);

#endif
