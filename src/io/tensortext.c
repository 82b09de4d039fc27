/* Tensor values as numbers and text for people and JSON: every element type, float8/float4 and 4-bit
 * integers included (decoded here per the ONNX type definitions), plus min/max/mean summaries. */
#include "ember/tensorio.h"

#include "core/minifloat.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Element i of a packed 4-bit tensor (the low nibble holds the even element). */
static unsigned nibble(const ember_tensor *t, int64_t i) {
    uint8_t b = ((const uint8_t *)t->data)[i / 2];
    return i & 1 ? b >> 4 : b & 15u;
}

double ember_tensor_value_f64(const ember_tensor *t, int64_t i) {
    const ember_minifloat *mf = ember_minifloat_of(t->dtype);
    if (mf) return ember_minifloat_decode(t->dtype == EMBER_DTYPE_F4E2M1 ? nibble(t, i) : ((const uint8_t *)t->data)[i], mf);
    switch (t->dtype) {
    case EMBER_DTYPE_U4: return nibble(t, i);
    case EMBER_DTYPE_I4: return (double)((int)(nibble(t, i) ^ 8u) - 8);
    case EMBER_DTYPE_U2: return (((const uint8_t *)t->data)[i / 4] >> (2 * (i % 4))) & 3u;
    case EMBER_DTYPE_I2: return (double)((int)(((((const uint8_t *)t->data)[i / 4] >> (2 * (i % 4))) & 3u) ^ 2u) - 2);
    case EMBER_DTYPE_F8E8M0: {
        uint8_t b = ((const uint8_t *)t->data)[i];
        return b == 0xFF ? NAN : ldexp(1.0, (int)b - 127);
    }
    case EMBER_DTYPE_C64: return ((const float *)t->data)[2 * i];
    case EMBER_DTYPE_C128: return ((const double *)t->data)[2 * i];
    case EMBER_DTYPE_STRING: return NAN;
    default: return ember_tensor_get_f64(t, i);
    }
}

/* --- text --------------------------------------------------------------------------------------------- */
static bool same_value(ember_dtype t, double a, double b) {
    switch (t) {
    case EMBER_DTYPE_F64: case EMBER_DTYPE_C128: return a == b;
    case EMBER_DTYPE_F16: return ember_f32_to_f16((float)a) == ember_f32_to_f16((float)b);
    case EMBER_DTYPE_BF16: return ember_f32_to_bf16((float)a) == ember_f32_to_bf16((float)b);
    default: return (float)a == (float)b;
    }
}

/* The shortest %g that reads back as the same value of type t (float8: 3 digits, float4: 2, which tell
 * every value of those types apart). */
static int format_real(char *buf, size_t cap, ember_dtype t, double v, bool json) {
    if (isnan(v)) return snprintf(buf, cap, "%s", json ? "null" : "nan");
    if (isinf(v)) return snprintf(buf, cap, "%s", json ? "null" : v < 0 ? "-inf" : "inf");
    int fixed = t == EMBER_DTYPE_F4E2M1 ? 2 : ember_minifloat_of(t) ? 3 : 0;
    char tmp[40];
    for (int p = fixed ? fixed : 1; p <= 17; p++) {
        snprintf(tmp, sizeof tmp, "%.*g", p, v);
        if (fixed || same_value(t, strtod(tmp, NULL), v)) break;
    }
    return snprintf(buf, cap, "%s", tmp);
}

/* s double-quoted with JSON escapes (bytes >= 0x80 pass through). */
static int format_string(char *buf, size_t cap, const char *s) {
    size_t n = 0;
#define EMIT(c)                                                                                              \
    do {                                                                                                     \
        if (n + 1 < cap) buf[n] = (c);                                                                       \
        n++;                                                                                                 \
    } while (0)
    EMIT('"');
    for (const unsigned char *c = (const unsigned char *)s; *c; c++) {
        const char *esc = *c == '"' ? "\\\"" : *c == '\\' ? "\\\\" : *c == '\n' ? "\\n" : *c == '\t' ? "\\t"
                        : *c == '\r' ? "\\r" : NULL;
        char hex[8];
        if (!esc && *c < 0x20) snprintf(hex, sizeof hex, "\\u%04x", *c), esc = hex;
        if (!esc) EMIT((char)*c);
        else
            for (; *esc; esc++) EMIT(*esc);
    }
    EMIT('"');
#undef EMIT
    if (cap) buf[n < cap ? n : cap - 1] = 0;
    return (int)n;
}

static int format_complex(char *buf, size_t cap, const ember_tensor *t, int64_t i, bool json) {
    double re = t->dtype == EMBER_DTYPE_C64 ? ((const float *)t->data)[2 * i] : ((const double *)t->data)[2 * i];
    double im = t->dtype == EMBER_DTYPE_C64 ? ((const float *)t->data)[2 * i + 1] : ((const double *)t->data)[2 * i + 1];
    char a[40], b[40];
    format_real(a, sizeof a, t->dtype, re, json);
    format_real(b, sizeof b, t->dtype, im, json);
    if (json) return snprintf(buf, cap, "[%s, %s]", a, b);
    return snprintf(buf, cap, "%s%s%sj", a, b[0] == '-' ? "" : "+", b);
}

int ember_tensor_value_text(const ember_tensor *t, int64_t i, bool json, char *buf, size_t cap) {
    switch (t->dtype) {
    case EMBER_DTYPE_STRING: return format_string(buf, cap, ((char *const *)t->data)[i]);
    case EMBER_DTYPE_BOOL: return snprintf(buf, cap, "%s", ((const uint8_t *)t->data)[i] ? "true" : "false");
    case EMBER_DTYPE_I64: return snprintf(buf, cap, "%lld", (long long)((const int64_t *)t->data)[i]);
    case EMBER_DTYPE_U64: return snprintf(buf, cap, "%llu", (unsigned long long)((const uint64_t *)t->data)[i]);
    case EMBER_DTYPE_C64: case EMBER_DTYPE_C128: return format_complex(buf, cap, t, i, json);
    default: break;
    }
    double v = ember_tensor_value_f64(t, i);
    if (ember_dtype_is_int(t->dtype)) return snprintf(buf, cap, "%lld", (long long)v); /* exact up to 32 bits */
    return format_real(buf, cap, t->dtype, v, json);
}

/* --- summaries ---------------------------------------------------------------------------------------- */
ember_status ember_tensor_summarize(const ember_tensor *t, ember_tensor_summary *out) {
    memset(out, 0, sizeof *out);
    if (t->dtype == EMBER_DTYPE_STRING || t->dtype == EMBER_DTYPE_C64 || t->dtype == EMBER_DTYPE_C128 ||
        !ember_dtype_bits(t->dtype))
        return ember_fail(EMBER_ERR_ARG, "no numeric summary for %s tensors", ember_dtype_name(t->dtype));
    double sum = 0;
    int64_t n = ember_tensor_count(t);
    for (int64_t i = 0; i < n; i++) {
        double v = ember_tensor_value_f64(t, i);
        if (isnan(v)) {
            out->nans++;
            continue;
        }
        if (!out->count || v < out->min) out->min = v;
        if (!out->count || v > out->max) out->max = v;
        out->count++;
        sum += v;
    }
    out->mean = out->count ? sum / (double)out->count : 0;
    return EMBER_OK;
}
