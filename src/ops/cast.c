/* Casts to and from the small element types: float8 (e4m3fn, e4m3fnuz, e5m2, e5m2fnuz, e8m0), float4e2m1 and
 * the packed 4-bit and 2-bit integers, per the ONNX Cast rules (opsets 19-25): float8 rounds to nearest even,
 * `saturate` clamps out-of-range values (and infinities) to the largest finite value, otherwise they become
 * infinity (e5m2) or NaN; e8m0 rounds per `round_mode` ("up" by default); float4 always saturates; the small
 * integers wrap like a C cast to a wider integer would. Also BitCast (opset 26). */
#include "ops/op.h"
#include "core/minifloat.h"

#include <stdio.h>

/* --- small floats ------------------------------------------------------------------------------------- */
/* Largest finite value and its bit pattern (without sign). */
static double mf_max(const ember_minifloat *f, unsigned *bits) {
    unsigned emax = (1u << f->ebits) - 1, mmax = (1u << f->mbits) - 1;
    unsigned e = emax, m = mmax;
    if (f->special == 'I') e = emax - 1;
    else if (f->special == 'F') m = mmax - 1;
    *bits = (e << f->mbits) | m;
    return ember_minifloat_decode(*bits, f);
}

static unsigned mf_encode(double x, const ember_minifloat *f, bool saturate) {
    unsigned sign = signbit(x) ? 1u << (f->ebits + f->mbits) : 0;
    unsigned maxbits;
    double max = mf_max(f, &maxbits);
    /* NaN: 0x80 for the fnuz types, S.1111.111 (e4m3fn), S.11111.10 (e5m2); float4 has none: the test data
     * (ONNX reference) stores 0b1000 */
    unsigned nan = f->special == 'U' || f->special == 'N' ? 1u << (f->ebits + f->mbits)
                   : f->special == 'I' ? sign | 0x7Eu : sign | 0x7Fu;
    unsigned inf = f->special == 'I' ? sign | (((1u << f->ebits) - 1) << f->mbits) : nan;
    if (f->special == 'U') sign = 0; /* no negative zero; NaN handled above */
    if (isnan(x)) return nan;
    double a = fabs(x);
    if (isinf(x)) return saturate || f->special == 'N' ? (signbit(x) ? 1u << (f->ebits + f->mbits) : 0) | maxbits : inf;
    if (a == 0) return sign;
    int e2;
    frexp(a, &e2); /* a = m * 2^e2, m in [0.5, 1) */
    int e = e2 - 1; /* a in [2^e, 2^(e+1)) */
    int emin = 1 - f->bias;
    double quantum = ldexp(1.0, (e < emin ? emin : e) - f->mbits);
    double r = nearbyint(a / quantum) * quantum; /* ties to even in the default rounding mode */
    unsigned neg = signbit(x) ? 1u << (f->ebits + f->mbits) : 0;
    if (r > max) return saturate || f->special == 'N' ? neg | maxbits : inf;
    if (r == 0) return sign;
    frexp(r, &e2);
    e = e2 - 1;
    unsigned bits;
    if (e < emin) bits = (unsigned)(r / ldexp(1.0, emin - f->mbits));
    else bits = ((unsigned)(e + f->bias) << f->mbits) | ((unsigned)(r / ldexp(1.0, e - f->mbits)) & ((1u << f->mbits) - 1));
    return neg | bits;
}

/* e8m0: 2^(b-127), 0xFF NaN. round_mode: 'u' up (to the larger power of two), 'd' down, 'n' nearest. */
static uint8_t e8m0_encode(double x, bool saturate, char mode) {
    if (isnan(x)) return 0xFF;
    if (isinf(x)) return saturate ? 0xFE : 0xFF;
    double a = fabs(x);
    if (a == 0) return 0;
    int e2;
    double m = frexp(a, &e2); /* a = m * 2^e2 */
    int e = e2 - 1;           /* floor(log2 a) */
    if (m != 0.5) {
        if (mode == 'u' || (mode == 'n' && m >= 0.75)) e++;
    }
    if (e < -127) return 0;
    if (e > 127) return saturate ? 0xFE : 0xFF;
    return (uint8_t)(e + 127);
}

/* --- element access ----------------------------------------------------------------------------------- */
static bool is_small(ember_dtype t) {
    int bits = ember_dtype_bits(t);
    return (bits > 0 && bits < 8) || ember_minifloat_of(t) || t == EMBER_DTYPE_F8E8M0;
}

static unsigned get_packed(const ember_tensor *t, int64_t i, int bits) {
    int per = 8 / bits;
    uint8_t b = ((const uint8_t *)t->data)[i / per];
    return (b >> (bits * (int)(i % per))) & ((1u << bits) - 1);
}

static void put_packed(ember_tensor *t, int64_t i, int bits, unsigned v) {
    int per = 8 / bits, sh = bits * (int)(i % per);
    uint8_t *b = (uint8_t *)t->data + i / per;
    uint8_t mask = (uint8_t)(((1u << bits) - 1) << sh);
    *b = (uint8_t)((*b & ~mask) | ((v << sh) & mask));
}

double eo_get_any(const ember_tensor *t, int64_t i) {
    const ember_minifloat *mf = ember_minifloat_of(t->dtype);
    if (mf) return ember_minifloat_decode(t->dtype == EMBER_DTYPE_F4E2M1 ? get_packed(t, i, 4) : ((const uint8_t *)t->data)[i], mf);
    switch (t->dtype) {
    case EMBER_DTYPE_F8E8M0: {
        uint8_t b = ((const uint8_t *)t->data)[i];
        return b == 0xFF ? NAN : ldexp(1.0, (int)b - 127);
    }
    case EMBER_DTYPE_U4: return get_packed(t, i, 4);
    case EMBER_DTYPE_I4: return (double)((int)(get_packed(t, i, 4) ^ 8u) - 8);
    case EMBER_DTYPE_U2: return get_packed(t, i, 2);
    case EMBER_DTYPE_I2: return (double)((int)(get_packed(t, i, 2) ^ 2u) - 2);
    default: return eo_get(t, i);
    }
}

static int64_t to_int_wrap(double v) {
    if (v != v) return 0;
    if (v >= 9223372036854775807.0) return INT64_MAX;
    if (v <= -9223372036854775808.0) return INT64_MIN;
    return (int64_t)v;
}

ember_status eo_cast_small(const ember_tensor *src, ember_tensor *dst, bool saturate, const char *round_mode) {
    int64_t n = ember_tensor_count(src);
    if (n != ember_tensor_count(dst)) return ember_fail(EMBER_ERR_INTERNAL, "cast: element counts differ");
    ember_dtype st = src->dtype, dt = dst->dtype;
    if (st == EMBER_DTYPE_STRING || dt == EMBER_DTYPE_STRING || st == EMBER_DTYPE_C64 || st == EMBER_DTYPE_C128 ||
        dt == EMBER_DTYPE_C64 || dt == EMBER_DTYPE_C128)
        return ember_fail(EMBER_ERR_UNSUPPORTED, "conversion from %s to %s", ember_dtype_name(st), ember_dtype_name(dt));
    if (st == dt) {
        memcpy(dst->data, src->data, src->nbytes);
        return EMBER_OK;
    }
    char mode = 'u';
    if (round_mode && !strcmp(round_mode, "down")) mode = 'd';
    else if (round_mode && !strcmp(round_mode, "nearest")) mode = 'n';
    else if (round_mode && strcmp(round_mode, "up"))
        return ember_fail(EMBER_ERR_FORMAT, "Cast: round_mode '%s' (expected up, down or nearest)", round_mode);
    const ember_minifloat *mf = ember_minifloat_of(dt);
    int bits = ember_dtype_bits(dt);
    if (bits < 8) memset(dst->data, 0, dst->nbytes); /* outputs may live in the arena: clear the padding bits */
    for (int64_t i = 0; i < n; i++) {
        double v = eo_get_any(src, i);
        if (mf) {
            unsigned b = mf_encode(v, mf, saturate);
            if (bits == 4) put_packed(dst, i, 4, b);
            else ((uint8_t *)dst->data)[i] = (uint8_t)b;
        } else if (dt == EMBER_DTYPE_F8E8M0) {
            ((uint8_t *)dst->data)[i] = e8m0_encode(v, saturate, mode);
        } else if (bits < 8) {
            put_packed(dst, i, bits, (unsigned)(uint64_t)to_int_wrap(v));
        } else {
            eo_put(dst, i, v);
        }
    }
    return EMBER_OK;
}

bool eo_dtype_is_small(ember_dtype t) { return is_small(t); }


void eo_put_small(ember_tensor *t, int64_t i, double v) {
    const ember_minifloat *mf = ember_minifloat_of(t->dtype);
    int bits = ember_dtype_bits(t->dtype);
    if (mf && bits == 4) put_packed(t, i, 4, mf_encode(v, mf, true));
    else if (mf) ((uint8_t *)t->data)[i] = (uint8_t)mf_encode(v, mf, true);
    else if (t->dtype == EMBER_DTYPE_F8E8M0) ((uint8_t *)t->data)[i] = e8m0_encode(v, true, 'u');
    else if (bits < 8) put_packed(t, i, bits, (unsigned)(uint64_t)to_int_wrap(v));
}

/* --- BitCast ------------------------------------------------------------------------------------------ */
static ember_status bitcast_to(eo_ctx *c, ember_dtype *to) {
    const eg_attr *a = eo_attr(c, "to");
    if (!a) return ember_fail(EMBER_ERR_FORMAT, "BitCast needs the 'to' attribute");
    *to = (ember_dtype)a->i;
    if (a->i <= 0 || a->i >= EMBER_DTYPE_COUNT || *to == EMBER_DTYPE_STRING)
        return ember_fail(EMBER_ERR_FORMAT, "BitCast to unsupported type %lld", (long long)a->i);
    return EMBER_OK;
}

ember_status bitcast_infer(eo_ctx *c) {
    ember_dtype to = EMBER_DTYPE_UNDEFINED;
    ember_status s = eo_check_inputs(c, 1);
    if (!s) s = bitcast_to(c, &to);
    if (s) return s;
    const ember_tensor *x = eo_in(c, 0);
    if (x->dtype == EMBER_DTYPE_STRING) return ember_fail(EMBER_ERR_UNSUPPORTED, "BitCast of strings");
    int bi = ember_dtype_bits(x->dtype), bo = ember_dtype_bits(to);
    int64_t shape[EMBER_MAX_DIMS + 1];
    int nd = x->ndim;
    memcpy(shape, x->shape, sizeof(int64_t) * (size_t)nd);
    if (bi == bo) return eo_set_out(c, 0, to, nd, shape);
    if (bi > bo) { /* each element becomes bi/bo elements along a new last axis */
        if (nd >= EMBER_MAX_DIMS) return ember_fail(EMBER_ERR_UNSUPPORTED, "BitCast: rank too large");
        shape[nd++] = bi / bo;
        return eo_set_out(c, 0, to, nd, shape);
    }
    if (nd == 0 || shape[nd - 1] != bo / bi)
        return ember_fail(EMBER_ERR_SHAPE, "BitCast from %s to %s: the last dimension must be %d",
                          ember_dtype_name(x->dtype), ember_dtype_name(to), bo / bi);
    return eo_set_out(c, 0, to, nd - 1, shape);
}

ember_status bitcast_run(eo_ctx *c) {
    const ember_tensor *x = eo_in(c, 0);
    ember_tensor *y = eo_out(c, 0);
    if (!y) return EMBER_OK; /* output unused */
    if (y->nbytes != x->nbytes) return ember_fail(EMBER_ERR_INTERNAL, "BitCast: byte sizes differ");
    if (x->nbytes) memcpy(y->data, x->data, x->nbytes);
    return EMBER_OK;
}
