/* Element types, shapes, tensors and half-precision conversion. */
#include "ember/tensor.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* --- dtypes ------------------------------------------------------------------------------------------- */
static const struct {
    const char *name;
    const char *onnx; /* ONNX spelling, where it differs */
    int bits;
} dtypes[EMBER_DTYPE_COUNT] = {
    [EMBER_DTYPE_UNDEFINED] = {"undefined", NULL, 0},
    [EMBER_DTYPE_F32] = {"float32", "float", 32},
    [EMBER_DTYPE_U8] = {"uint8", NULL, 8},
    [EMBER_DTYPE_I8] = {"int8", NULL, 8},
    [EMBER_DTYPE_U16] = {"uint16", NULL, 16},
    [EMBER_DTYPE_I16] = {"int16", NULL, 16},
    [EMBER_DTYPE_I32] = {"int32", NULL, 32},
    [EMBER_DTYPE_I64] = {"int64", NULL, 64},
    [EMBER_DTYPE_STRING] = {"string", NULL, 8 * (int)sizeof(char *)},
    [EMBER_DTYPE_BOOL] = {"bool", NULL, 8},
    [EMBER_DTYPE_F16] = {"float16", NULL, 16},
    [EMBER_DTYPE_F64] = {"float64", "double", 64},
    [EMBER_DTYPE_U32] = {"uint32", NULL, 32},
    [EMBER_DTYPE_U64] = {"uint64", NULL, 64},
    [EMBER_DTYPE_C64] = {"complex64", NULL, 64},
    [EMBER_DTYPE_C128] = {"complex128", NULL, 128},
    [EMBER_DTYPE_BF16] = {"bfloat16", NULL, 16},
    [EMBER_DTYPE_F8E4M3FN] = {"float8e4m3fn", NULL, 8},
    [EMBER_DTYPE_F8E4M3FNUZ] = {"float8e4m3fnuz", NULL, 8},
    [EMBER_DTYPE_F8E5M2] = {"float8e5m2", NULL, 8},
    [EMBER_DTYPE_F8E5M2FNUZ] = {"float8e5m2fnuz", NULL, 8},
    [EMBER_DTYPE_U4] = {"uint4", NULL, 4},
    [EMBER_DTYPE_I4] = {"int4", NULL, 4},
    [EMBER_DTYPE_F4E2M1] = {"float4e2m1", NULL, 4},
    [EMBER_DTYPE_F8E8M0] = {"float8e8m0", NULL, 8},
    [EMBER_DTYPE_U2] = {"uint2", NULL, 2},
    [EMBER_DTYPE_I2] = {"int2", NULL, 2},
};

static bool dtype_known(ember_dtype t) { return t > EMBER_DTYPE_UNDEFINED && t < EMBER_DTYPE_COUNT; }

int ember_dtype_bits(ember_dtype t) { return dtype_known(t) ? dtypes[t].bits : 0; }

bool ember_dtype_bytes(ember_dtype t, int64_t n, size_t *bytes) {
    int bits = ember_dtype_bits(t);
    if (!bits || n < 0) return false;
    if ((uint64_t)n > (uint64_t)(SIZE_MAX / 16)) return false;
    *bytes = bits == 4 ? ((size_t)n + 1) / 2 : bits == 2 ? ((size_t)n + 3) / 4 : (size_t)n * (size_t)(bits / 8);
    return true;
}

const char *ember_dtype_name(ember_dtype t) { return dtype_known(t) ? dtypes[t].name : "?"; }

ember_dtype ember_dtype_from_name(const char *name) {
    for (int i = 1; i < EMBER_DTYPE_COUNT; i++) {
        if (!strcmp(name, dtypes[i].name) || (dtypes[i].onnx && !strcmp(name, dtypes[i].onnx)))
            return (ember_dtype)i;
    }
    return EMBER_DTYPE_UNDEFINED;
}

bool ember_dtype_is_float(ember_dtype t) {
    switch (t) {
    case EMBER_DTYPE_F32: case EMBER_DTYPE_F64: case EMBER_DTYPE_F16: case EMBER_DTYPE_BF16:
    case EMBER_DTYPE_F8E4M3FN: case EMBER_DTYPE_F8E4M3FNUZ: case EMBER_DTYPE_F8E5M2:
    case EMBER_DTYPE_F8E5M2FNUZ: case EMBER_DTYPE_F4E2M1: case EMBER_DTYPE_F8E8M0:
        return true;
    default:
        return false;
    }
}

bool ember_dtype_is_int(ember_dtype t) {
    switch (t) {
    case EMBER_DTYPE_U8: case EMBER_DTYPE_I8: case EMBER_DTYPE_U16: case EMBER_DTYPE_I16:
    case EMBER_DTYPE_U32: case EMBER_DTYPE_I32: case EMBER_DTYPE_U64: case EMBER_DTYPE_I64:
    case EMBER_DTYPE_U4: case EMBER_DTYPE_I4: case EMBER_DTYPE_U2: case EMBER_DTYPE_I2:
        return true;
    default:
        return false;
    }
}

/* --- shapes ------------------------------------------------------------------------------------------- */
int64_t ember_shape_count(int ndim, const int64_t *shape) {
    int64_t n = 1;
    for (int i = 0; i < ndim; i++) {
        if (shape[i] < 0) return -1;
        if (shape[i] && n > INT64_MAX / shape[i]) return -1;
        n *= shape[i];
    }
    return n;
}

void ember_shape_strides(int ndim, const int64_t *shape, int64_t *strides) {
    int64_t s = 1;
    for (int i = ndim - 1; i >= 0; i--) {
        strides[i] = s;
        s *= shape[i];
    }
}

ember_status ember_shape_broadcast(int na, const int64_t *a, int nb, const int64_t *b, int *nout,
                                   int64_t *out) {
    int n = na > nb ? na : nb;
    if (n > EMBER_MAX_DIMS) return ember_fail(EMBER_ERR_SHAPE, "broadcast: rank %d exceeds %d", n, EMBER_MAX_DIMS);
    int64_t res[EMBER_MAX_DIMS];
    for (int i = 0; i < n; i++) {
        int64_t da = i < n - na ? 1 : a[i - (n - na)];
        int64_t db = i < n - nb ? 1 : b[i - (n - nb)];
        if (da == db || db == 1) res[i] = da;
        else if (da == 1) res[i] = db;
        else {
            char sa[128], sb[128];
            ember_shape_format(sa, sizeof sa, na, a);
            ember_shape_format(sb, sizeof sb, nb, b);
            return ember_fail(EMBER_ERR_SHAPE, "cannot broadcast shapes %s and %s (axis %d: %lld vs %lld)", sa,
                              sb, i, (long long)da, (long long)db);
        }
    }
    memcpy(out, res, sizeof(int64_t) * (size_t)n);
    *nout = n;
    return EMBER_OK;
}

int ember_shape_format(char *buf, size_t cap, int ndim, const int64_t *shape) {
    if (ndim == 0) return snprintf(buf, cap, "scalar");
    size_t used = 0;
    int total = 0;
    for (int i = 0; i < ndim; i++) {
        int n = snprintf(buf + used, cap > used ? cap - used : 0, "%s%lld", i ? "x" : "", (long long)shape[i]);
        total += n;
        used = (size_t)total < cap ? (size_t)total : cap;
    }
    return total;
}

ember_status ember_shape_parse(const char *text, int *ndim, int64_t *shape) {
    *ndim = 0;
    if (!*text || !strcmp(text, "scalar")) return EMBER_OK;
    const char *p = text;
    for (;;) {
        if (*ndim == EMBER_MAX_DIMS)
            return ember_fail(EMBER_ERR_ARG, "shape '%s': more than %d dimensions", text, EMBER_MAX_DIMS);
        char *end;
        long long v = strtoll(p, &end, 10);
        if (end == p || v < 0)
            return ember_fail(EMBER_ERR_ARG, "shape '%s': expected dimensions like 1x3x224x224", text);
        shape[(*ndim)++] = v;
        if (!*end) return EMBER_OK;
        if (*end != 'x' && *end != ',')
            return ember_fail(EMBER_ERR_ARG, "shape '%s': unexpected '%c'", text, *end);
        p = end + 1;
    }
}

/* --- tensors ------------------------------------------------------------------------------------------ */
static ember_status tensor_new(ember_dtype dtype, int ndim, const int64_t *shape, size_t *nbytes,
                               ember_tensor **out) {
    *out = NULL;
    if (!dtype_known(dtype)) return ember_fail(EMBER_ERR_UNSUPPORTED, "tensor: unknown element type %d", dtype);
    if (ndim < 0 || ndim > EMBER_MAX_DIMS)
        return ember_fail(EMBER_ERR_UNSUPPORTED, "tensor: rank %d (at most %d supported)", ndim, EMBER_MAX_DIMS);
    int64_t count = ember_shape_count(ndim, shape);
    if (count < 0 || !ember_dtype_bytes(dtype, count, nbytes)) {
        char s[256];
        ember_shape_format(s, sizeof s, ndim, shape);
        return ember_fail(EMBER_ERR_SHAPE, "tensor: invalid or too large shape %s", s);
    }
    ember_tensor *t = ember_calloc(1, sizeof *t);
    if (!t) return ember_fail(EMBER_ERR_NOMEM, "tensor: out of memory");
    t->dtype = dtype;
    t->ndim = ndim;
    if (ndim) memcpy(t->shape, shape, sizeof(int64_t) * (size_t)ndim);
    t->nbytes = *nbytes;
    *out = t;
    return EMBER_OK;
}

ember_status ember_tensor_create(ember_dtype dtype, int ndim, const int64_t *shape, ember_tensor **out) {
    size_t nbytes;
    ember_status s = tensor_new(dtype, ndim, shape, &nbytes, out);
    if (s) return s;
    ember_tensor *t = *out;
    t->data = ember_malloc_aligned(nbytes ? nbytes : 1);
    if (!t->data) {
        ember_free(t);
        *out = NULL;
        return ember_fail(EMBER_ERR_NOMEM, "tensor: cannot allocate %zu bytes", nbytes);
    }
    memset(t->data, 0, nbytes);
    t->flags = EMBER_TENSOR_OWNS_DATA;
    if (dtype == EMBER_DTYPE_STRING) {
        char **strs = t->data;
        int64_t n = ember_tensor_count(t);
        for (int64_t i = 0; i < n; i++) {
            if (!(strs[i] = ember_strdup(""))) {
                ember_tensor_destroy(t);
                *out = NULL;
                return ember_fail(EMBER_ERR_NOMEM, "tensor: out of memory");
            }
        }
    }
    return EMBER_OK;
}

ember_status ember_tensor_wrap(ember_dtype dtype, int ndim, const int64_t *shape, void *data, size_t nbytes,
                               ember_tensor **out) {
    if (dtype == EMBER_DTYPE_STRING) return ember_fail(EMBER_ERR_ARG, "tensor_wrap: string tensors must own data");
    size_t need;
    ember_status s = tensor_new(dtype, ndim, shape, &need, out);
    if (s) return s;
    if (nbytes < need) {
        ember_free(*out);
        *out = NULL;
        return ember_fail(EMBER_ERR_SHAPE, "tensor_wrap: %zu bytes given, shape needs %zu", nbytes, need);
    }
    (*out)->data = data;
    return EMBER_OK;
}

ember_status ember_tensor_clone(const ember_tensor *t, ember_tensor **out) {
    ember_status s = ember_tensor_create(t->dtype, t->ndim, t->shape, out);
    if (s) return s;
    if (t->dtype == EMBER_DTYPE_STRING) {
        char *const *src = t->data;
        int64_t n = ember_tensor_count(t);
        for (int64_t i = 0; i < n && !s; i++) s = ember_tensor_set_string(*out, i, src[i], strlen(src[i]));
    } else {
        memcpy((*out)->data, t->data, t->nbytes);
    }
    if (!s && t->name) s = ember_tensor_set_name(*out, t->name);
    if (s) {
        ember_tensor_destroy(*out);
        *out = NULL;
    }
    return s;
}

void ember_tensor_destroy(ember_tensor *t) {
    if (!t) return;
    if (t->flags & EMBER_TENSOR_OWNS_DATA) {
        if (t->dtype == EMBER_DTYPE_STRING && t->data) {
            char **strs = t->data;
            int64_t n = ember_tensor_count(t);
            for (int64_t i = 0; i < n; i++) ember_free(strs[i]);
        }
        ember_free_aligned(t->data);
    }
    ember_free(t->name);
    ember_free(t);
}

int64_t ember_tensor_count(const ember_tensor *t) { return ember_shape_count(t->ndim, t->shape); }

ember_status ember_tensor_set_name(ember_tensor *t, const char *name) {
    char *copy = NULL;
    if (name && !(copy = ember_strdup(name))) return ember_fail(EMBER_ERR_NOMEM, "tensor: out of memory");
    ember_free(t->name);
    t->name = copy;
    return EMBER_OK;
}

ember_status ember_tensor_set_string(ember_tensor *t, int64_t i, const char *s, size_t len) {
    if (t->dtype != EMBER_DTYPE_STRING || i < 0 || i >= ember_tensor_count(t))
        return ember_fail(EMBER_ERR_ARG, "tensor_set_string: not a string tensor or index %lld out of range",
                          (long long)i);
    char *copy = ember_malloc(len + 1);
    if (!copy) return ember_fail(EMBER_ERR_NOMEM, "tensor: out of memory");
    memcpy(copy, s, len);
    copy[len] = 0;
    char **strs = t->data;
    ember_free(strs[i]);
    strs[i] = copy;
    return EMBER_OK;
}

double ember_tensor_get_f64(const ember_tensor *t, int64_t i) {
    const void *d = t->data;
    switch (t->dtype) {
    case EMBER_DTYPE_F32: return ((const float *)d)[i];
    case EMBER_DTYPE_F64: return ((const double *)d)[i];
    case EMBER_DTYPE_F16: return ember_f16_to_f32(((const uint16_t *)d)[i]);
    case EMBER_DTYPE_BF16: return ember_bf16_to_f32(((const uint16_t *)d)[i]);
    case EMBER_DTYPE_U8: return ((const uint8_t *)d)[i];
    case EMBER_DTYPE_I8: return ((const int8_t *)d)[i];
    case EMBER_DTYPE_U16: return ((const uint16_t *)d)[i];
    case EMBER_DTYPE_I16: return ((const int16_t *)d)[i];
    case EMBER_DTYPE_U32: return ((const uint32_t *)d)[i];
    case EMBER_DTYPE_I32: return ((const int32_t *)d)[i];
    case EMBER_DTYPE_U64: return (double)((const uint64_t *)d)[i];
    case EMBER_DTYPE_I64: return (double)((const int64_t *)d)[i];
    case EMBER_DTYPE_BOOL: return ((const uint8_t *)d)[i] != 0;
    default: return 0;
    }
}

/* --- half precision (bit-exact scalar conversions; kernels have vector twins) ------------------------- */
static float bits_to_f32(uint32_t u) {
    float f;
    memcpy(&f, &u, 4);
    return f;
}
static uint32_t f32_to_bits(float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    return u;
}

float ember_f16_to_f32(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000) << 16;
    uint32_t exp = (h >> 10) & 0x1f, man = h & 0x3ff;
    if (exp == 0x1f) return bits_to_f32(sign | 0x7f800000u | (man << 13)); /* inf / nan */
    if (exp == 0) {                                                        /* zero / subnormal */
        float v = ldexpf((float)man, -24);
        return sign ? -v : v;
    }
    return bits_to_f32(sign | ((exp + 112) << 23) | (man << 13));
}

uint16_t ember_f32_to_f16(float f) {
    uint32_t u = f32_to_bits(f);
    uint16_t sign = (uint16_t)((u >> 16) & 0x8000);
    uint32_t exp = (u >> 23) & 0xff, man = u & 0x7fffff;
    if (exp == 0xff) return (uint16_t)(sign | 0x7c00 | (man ? 0x200 | (man >> 13) : 0));
    int32_t e = (int32_t)exp - 127 + 15;
    if (e >= 0x1f) return (uint16_t)(sign | 0x7c00);
    if (e <= 0) { /* subnormal half (or zero): shift the implicit-1 mantissa, round to nearest even */
        if (e < -10) return sign;
        man |= 0x800000;
        int shift = 14 - e;
        uint32_t half = man >> shift, rem = man & ((1u << shift) - 1), mid = 1u << (shift - 1);
        if (rem > mid || (rem == mid && (half & 1))) half++;
        return (uint16_t)(sign | half);
    }
    uint32_t half = ((uint32_t)e << 10) | (man >> 13), rem = man & 0x1fff;
    if (rem > 0x1000 || (rem == 0x1000 && (half & 1))) half++; /* may carry into the exponent: correct */
    return (uint16_t)(sign | half);
}

float ember_bf16_to_f32(uint16_t h) { return bits_to_f32((uint32_t)h << 16); }

uint16_t ember_f32_to_bf16(float f) {
    uint32_t u = f32_to_bits(f);
    if ((u & 0x7fffffff) > 0x7f800000) return (uint16_t)((u >> 16) | 0x40);
    u += 0x7fff + ((u >> 16) & 1);
    return (uint16_t)(u >> 16);
}
