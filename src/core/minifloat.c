/* Small floating-point formats: see minifloat.h. */
#include "core/minifloat.h"

#include <math.h>
#include <stdbool.h>

const ember_minifloat *ember_minifloat_of(ember_dtype t) {
    static const ember_minifloat e4m3fn = {4, 3, 7, 'F'}, e4m3fnuz = {4, 3, 8, 'U'}, e5m2 = {5, 2, 15, 'I'},
                                 e5m2fnuz = {5, 2, 16, 'U'}, e2m1 = {2, 1, 1, 'N'};
    switch (t) {
    case EMBER_DTYPE_F8E4M3FN: return &e4m3fn;
    case EMBER_DTYPE_F8E4M3FNUZ: return &e4m3fnuz;
    case EMBER_DTYPE_F8E5M2: return &e5m2;
    case EMBER_DTYPE_F8E5M2FNUZ: return &e5m2fnuz;
    case EMBER_DTYPE_F4E2M1: return &e2m1;
    default: return NULL;
    }
}

double ember_minifloat_decode(unsigned bits, const ember_minifloat *f) {
    unsigned top = 1u << (f->ebits + f->mbits);
    unsigned e = (bits >> f->mbits) & ((1u << f->ebits) - 1), m = bits & ((1u << f->mbits) - 1);
    bool neg = bits & top, e_full = e == (1u << f->ebits) - 1, m_full = m == (1u << f->mbits) - 1;
    if (f->special == 'U' && bits == top) return NAN;
    if (f->special == 'F' && e_full && m_full) return NAN;
    if (f->special == 'I' && e_full) return m ? NAN : neg ? -INFINITY : INFINITY;
    double frac = (double)m / (double)(1u << f->mbits);
    double v = e ? ldexp(1.0 + frac, (int)e - f->bias) : ldexp(frac, 1 - f->bias);
    return neg ? -v : v;
}
