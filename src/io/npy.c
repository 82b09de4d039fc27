/* NumPy .npy files: versions 1.0/2.0/3.0, numeric, bool and 'U'/'S' string arrays, either byte order,
 * C or Fortran order on read; what np.save writes on write. The header is a Python dict literal. */
#include "ember/tensorio.h"

#include "core/byteorder.h"
#include "core/mapfile.h"
#include "io/iofile.h"

#include <stdio.h>
#include <string.h>

#define NPY_MAGIC "\x93NUMPY"
enum { NPY_MAGIC_LEN = 6, NPY_ALIGN = 64 };

static const struct {
    char kind;
    size_t size;
    ember_dtype dtype;
} npy_types[] = {
    {'b', 1, EMBER_DTYPE_BOOL}, {'i', 1, EMBER_DTYPE_I8},  {'i', 2, EMBER_DTYPE_I16}, {'i', 4, EMBER_DTYPE_I32},
    {'i', 8, EMBER_DTYPE_I64},  {'u', 1, EMBER_DTYPE_U8},  {'u', 2, EMBER_DTYPE_U16}, {'u', 4, EMBER_DTYPE_U32},
    {'u', 8, EMBER_DTYPE_U64},  {'f', 2, EMBER_DTYPE_F16}, {'f', 4, EMBER_DTYPE_F32}, {'f', 8, EMBER_DTYPE_F64},
    {'c', 8, EMBER_DTYPE_C64},  {'c', 16, EMBER_DTYPE_C128},
};
enum { NPY_NTYPES = sizeof npy_types / sizeof npy_types[0] };

typedef struct npy_header {
    char order;      /* '<' little-endian, '>' big-endian, '|' not applicable */
    char kind;       /* b i u f c, or U (UCS-4 text) / S (bytes) */
    size_t itemsize; /* bytes per element in the file */
    ember_dtype dtype;
    bool fortran;
    int ndim;
    int64_t shape[EMBER_MAX_DIMS];
    int64_t count;
    size_t data_offset;
} npy_header;

static ember_status npy_bad(const char *fmt, const char *detail) {
    char msg[512];
    snprintf(msg, sizeof msg, fmt, detail);
    return ember_fail(EMBER_ERR_FORMAT, "npy: %s", msg);
}

/* --- the header dict: {'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), } -------------------- */
typedef struct lit {
    const char *p, *end;
} lit;

static void skip_ws(lit *l) {
    while (l->p < l->end && (*l->p == ' ' || *l->p == '\t' || *l->p == '\n' || *l->p == '\r')) l->p++;
}

static bool eat(lit *l, char c) {
    skip_ws(l);
    if (l->p < l->end && *l->p == c) return l->p++, true;
    return false;
}

/* A quoted Python string without escapes into buf. */
static bool parse_str(lit *l, char *buf, size_t cap) {
    skip_ws(l);
    if (l->p >= l->end || (*l->p != '\'' && *l->p != '"')) return false;
    char q = *l->p++;
    size_t n = 0;
    while (l->p < l->end && *l->p != q) {
        if (*l->p == '\\' || n + 1 >= cap) return false;
        buf[n++] = *l->p++;
    }
    if (l->p >= l->end) return false;
    l->p++;
    buf[n] = 0;
    return true;
}

static bool parse_bool(lit *l, bool *v) {
    skip_ws(l);
    size_t left = (size_t)(l->end - l->p);
    if (left >= 4 && !memcmp(l->p, "True", 4)) return l->p += 4, *v = true, true;
    if (left >= 5 && !memcmp(l->p, "False", 5)) return l->p += 5, *v = false, true;
    return false;
}

/* (), (3,), (2, 3) — also Python 2's (3L,). */
static ember_status parse_shape(lit *l, npy_header *h) {
    if (!eat(l, '(')) return npy_bad("header: 'shape' is not a tuple%s", "");
    h->ndim = 0;
    while (!eat(l, ')')) {
        skip_ws(l);
        int64_t v = 0;
        const char *start = l->p;
        while (l->p < l->end && *l->p >= '0' && *l->p <= '9') {
            if (v > (INT64_MAX - 9) / 10) return npy_bad("header: a dimension of 'shape' is too large%s", "");
            v = v * 10 + (*l->p++ - '0');
        }
        if (l->p == start) return npy_bad("header: 'shape' must hold non-negative integers%s", "");
        if (l->p < l->end && *l->p == 'L') l->p++;
        if (h->ndim == EMBER_MAX_DIMS)
            return ember_fail(EMBER_ERR_UNSUPPORTED, "npy: more than %d dimensions", EMBER_MAX_DIMS);
        h->shape[h->ndim++] = v;
        if (!eat(l, ',')) {
            if (!eat(l, ')')) return npy_bad("header: 'shape' tuple is malformed%s", "");
            break;
        }
    }
    return EMBER_OK;
}

/* '<f4', '|b1', '>i8', '<U10', '|S3', '=f8' */
static ember_status parse_descr(const char *d, npy_header *h) {
    const char *p = d;
    h->order = '|';
    if (*p == '<' || *p == '>' || *p == '|' || *p == '=') h->order = *p++;
    if (h->order == '=') h->order = ember_host_le() ? '<' : '>';
    h->kind = *p ? *p++ : 0;
    if (h->kind == '?') h->kind = 'b';
    size_t n = 0;
    bool digits = *p != 0;
    for (const char *q = p; *q; q++) {
        if (*q < '0' || *q > '9' || n > SIZE_MAX / 40) digits = false;
        else n = n * 10 + (size_t)(*q - '0');
    }
    if (h->kind == 'b' && !*p) n = 1, digits = true;
    if (h->kind == 'O')
        return ember_fail(EMBER_ERR_UNSUPPORTED, "npy: object arrays (descr '%s', pickled Python objects) cannot "
                          "be read; save a numeric or string array", d);
    if (digits && (h->kind == 'U' || h->kind == 'S')) {
        h->itemsize = h->kind == 'U' ? n * 4 : n;
        h->dtype = EMBER_DTYPE_STRING;
        return EMBER_OK;
    }
    for (int i = 0; digits && i < NPY_NTYPES; i++)
        if (npy_types[i].kind == h->kind && npy_types[i].size == n) {
            h->itemsize = n;
            h->dtype = npy_types[i].dtype;
            return EMBER_OK;
        }
    return ember_fail(EMBER_ERR_UNSUPPORTED, "npy: element type '%s' is not supported (expected bool, (u)int8-64, "
                      "float16/32/64, complex64/128, or a 'U'/'S' string)", d);
}

static ember_status parse_dict(lit *l, npy_header *h) {
    if (!eat(l, '{')) return npy_bad("header is not a Python dict%s", "");
    bool seen[3] = {false, false, false};
    char key[32], descr[64];
    while (!eat(l, '}')) {
        if (!parse_str(l, key, sizeof key) || !eat(l, ':')) return npy_bad("header: malformed dict key%s", "");
        ember_status s = EMBER_OK;
        if (!strcmp(key, "descr")) {
            skip_ws(l);
            if (l->p < l->end && *l->p == '[')
                return ember_fail(EMBER_ERR_UNSUPPORTED, "npy: structured arrays (a list 'descr') are not supported");
            if (!parse_str(l, descr, sizeof descr)) return npy_bad("header: 'descr' is not a type string%s", "");
            s = parse_descr(descr, h);
            seen[0] = true;
        } else if (!strcmp(key, "fortran_order")) {
            if (!parse_bool(l, &h->fortran)) return npy_bad("header: 'fortran_order' is not True or False%s", "");
            seen[1] = true;
        } else if (!strcmp(key, "shape")) {
            s = parse_shape(l, h);
            seen[2] = true;
        } else {
            return npy_bad("header: unexpected key '%s' (expected descr, fortran_order, shape)", key);
        }
        if (s) return s;
        if (!eat(l, ',')) {
            if (!eat(l, '}')) return npy_bad("header: dict is malformed%s", "");
            break;
        }
    }
    if (!seen[0] || !seen[1] || !seen[2]) return npy_bad("header: needs the keys descr, fortran_order and shape%s", "");
    return EMBER_OK;
}

static ember_status parse_header(const uint8_t *d, size_t size, npy_header *h) {
    memset(h, 0, sizeof *h);
    if (size < NPY_MAGIC_LEN + 4 || memcmp(d, NPY_MAGIC, NPY_MAGIC_LEN))
        return npy_bad("not an .npy file (no \\x93NUMPY magic at byte 0)%s", "");
    int major = d[6];
    size_t hlen, pre;
    if (major == 1) hlen = ember_le16(d + 8), pre = 10;
    else if (major == 2 || major == 3) {
        if (size < 12) return npy_bad("truncated header length at byte 8%s", "");
        hlen = ember_le32(d + 8), pre = 12;
    } else {
        return ember_fail(EMBER_ERR_UNSUPPORTED, "npy: format version %d.%d is not supported (expected 1.0, 2.0, 3.0)",
                          major, d[7]);
    }
    if (hlen > size - pre) {
        char detail[96];
        snprintf(detail, sizeof detail, "%zu bytes at byte %zu, but the file has %zu", hlen, pre, size);
        return npy_bad("truncated header: %s", detail);
    }
    lit l = {(const char *)d + pre, (const char *)d + pre + hlen};
    ember_status s = parse_dict(&l, h);
    if (s) return s;
    skip_ws(&l);
    if (l.p != l.end) return npy_bad("header: unexpected text after the dict%s", "");
    h->data_offset = pre + hlen;
    h->count = ember_shape_count(h->ndim, h->shape);
    if (h->count < 0 || (h->itemsize && (uint64_t)h->count > SIZE_MAX / h->itemsize))
        return npy_bad("shape: element count overflows%s", "");
    size_t need = (size_t)h->count * h->itemsize, have = size - h->data_offset;
    if (need != have) {
        char detail[160];
        snprintf(detail, sizeof detail, "%zu bytes of data at byte %zu, but %lld elements of %zu bytes need %zu",
                 have, h->data_offset, (long long)h->count, h->itemsize, need);
        return npy_bad(need > have ? "truncated: %s" : "trailing bytes: %s", detail);
    }
    return EMBER_OK;
}

/* --- data --------------------------------------------------------------------------------------------- */
/* Gather an array stored in Fortran (column-major) order into C (row-major) order. */
static void fortran_to_c(const uint8_t *src, uint8_t *dst, const npy_header *h) {
    int64_t idx[EMBER_MAX_DIMS] = {0}, stride[EMBER_MAX_DIMS], off = 0, s = 1;
    for (int k = 0; k < h->ndim; k++) stride[k] = s, s *= h->shape[k];
    for (int64_t i = 0; i < h->count; i++) {
        memcpy(dst + (size_t)i * h->itemsize, src + (size_t)off * h->itemsize, h->itemsize);
        for (int k = h->ndim - 1; k >= 0; k--) { /* next C index: last axis fastest */
            if (++idx[k] < h->shape[k]) {
                off += stride[k];
                break;
            }
            off -= stride[k] * (h->shape[k] - 1);
            idx[k] = 0;
        }
    }
}

/* Append code point c as UTF-8; false if it is not a Unicode scalar value. */
static bool put_utf8(uint32_t c, char *out, size_t *n) {
    if (c > 0x10FFFF || (c >= 0xD800 && c <= 0xDFFF)) return false;
    if (c < 0x80) out[(*n)++] = (char)c;
    else if (c < 0x800) out[(*n)++] = (char)(0xC0 | c >> 6), out[(*n)++] = (char)(0x80 | (c & 0x3F));
    else if (c < 0x10000) {
        out[(*n)++] = (char)(0xE0 | c >> 12);
        out[(*n)++] = (char)(0x80 | ((c >> 6) & 0x3F));
        out[(*n)++] = (char)(0x80 | (c & 0x3F));
    } else {
        out[(*n)++] = (char)(0xF0 | c >> 18);
        out[(*n)++] = (char)(0x80 | ((c >> 12) & 0x3F));
        out[(*n)++] = (char)(0x80 | ((c >> 6) & 0x3F));
        out[(*n)++] = (char)(0x80 | (c & 0x3F));
    }
    return true;
}

/* Element i of a 'U' or 'S' array as a string (text up to the first NUL). */
static ember_status decode_string(const npy_header *h, const uint8_t *src, int64_t i, char *buf, ember_tensor *t) {
    const uint8_t *e = src + (size_t)i * h->itemsize;
    size_t n = 0;
    if (h->kind == 'S') {
        while (n < h->itemsize && e[n]) n++;
        return ember_tensor_set_string(t, i, (const char *)e, n);
    }
    for (size_t k = 0; k < h->itemsize; k += 4) {
        uint32_t c = h->order == '>' ? (uint32_t)e[k] << 24 | (uint32_t)e[k + 1] << 16 | e[k + 2] << 8 | e[k + 3]
                                     : ember_le32(e + k);
        if (!c) break;
        if (!put_utf8(c, buf, &n)) {
            char detail[96];
            snprintf(detail, sizeof detail, "element %lld holds U+%X, which is not a Unicode character", (long long)i, c);
            return npy_bad("%s", detail);
        }
    }
    return ember_tensor_set_string(t, i, buf, n);
}

static ember_status decode_strings(const npy_header *h, const uint8_t *src, ember_tensor *t) {
    char *buf = ember_malloc(h->itemsize + 1); /* UCS-4 to UTF-8 never grows */
    if (!buf) return ember_fail(EMBER_ERR_NOMEM, "npy: out of memory");
    ember_status s = EMBER_OK;
    for (int64_t i = 0; i < h->count && !s; i++) s = decode_string(h, src, i, buf, t);
    ember_free(buf);
    return s;
}

ember_status ember_npy_decode(const void *data, size_t size, ember_tensor **out) {
    *out = NULL;
    npy_header h;
    ember_status s = parse_header(data, size, &h);
    if (s) return s;
    const uint8_t *src = (const uint8_t *)data + h.data_offset;
    uint8_t *reordered = NULL;
    ember_tensor *t = NULL;
    if ((s = ember_tensor_create(h.dtype, h.ndim, h.shape, &t))) return s;
    if (h.fortran && h.ndim > 1) {
        if (h.dtype != EMBER_DTYPE_STRING) fortran_to_c(src, t->data, &h);
        else if (!(reordered = ember_malloc(h.count * h.itemsize + 1))) s = ember_fail(EMBER_ERR_NOMEM, "npy: out of memory");
        else fortran_to_c(src, reordered, &h), src = reordered;
    } else if (h.dtype != EMBER_DTYPE_STRING && t->nbytes) {
        memcpy(t->data, src, t->nbytes);
    }
    if (!s && h.dtype == EMBER_DTYPE_STRING) s = decode_strings(&h, src, t);
    else if (!s && h.order == (ember_host_le() ? '>' : '<')) {
        size_t width = h.kind == 'c' ? h.itemsize / 2 : h.itemsize;
        ember_bswap(t->data, t->nbytes / width, width);
    }
    ember_free(reordered);
    if (s) ember_tensor_destroy(t);
    else *out = t;
    return s;
}

ember_status ember_npy_read(const char *path, ember_tensor **out) {
    *out = NULL;
    ember_map m;
    ember_status s = ember_map_open(path, &m);
    if (s) return s;
    s = ember_npy_decode(m.data, m.size, out);
    ember_map_close(&m);
    if (s) return ember_fail_context(s, "%s: ", path);
    if ((s = io_default_name(*out, path))) {
        ember_tensor_destroy(*out);
        *out = NULL;
    }
    return s;
}

/* --- writing ------------------------------------------------------------------------------------------ */
/* Decode one UTF-8 character at s[*i]; false if malformed. */
static bool next_utf8(const unsigned char *s, size_t *i, uint32_t *c) {
    unsigned char b = s[*i];
    int extra = b < 0x80 ? 0 : b >= 0xF0 && b < 0xF5 ? 3 : b >= 0xE0 ? 2 : b >= 0xC2 && b < 0xE0 ? 1 : -1;
    if (extra < 0) return false;
    uint32_t v = extra ? b & (0x3F >> extra) : b;
    for (int k = 1; k <= extra; k++) {
        if ((s[*i + (size_t)k] & 0xC0) != 0x80) return false; /* also stops at the NUL */
        v = v << 6 | (s[*i + (size_t)k] & 0x3F);
    }
    static const uint32_t min[4] = {0, 0x80, 0x800, 0x10000};
    if (v < min[extra] || v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF)) return false;
    *i += (size_t)extra + 1;
    *c = v;
    return true;
}

/* Characters in each string (the 'U' width), or an error naming the element that is not UTF-8. */
static ember_status string_width(const ember_tensor *t, size_t *width) {
    char *const *strs = t->data;
    *width = 0;
    for (int64_t i = 0; i < ember_tensor_count(t); i++) {
        size_t chars = 0, k = 0;
        uint32_t c;
        while (strs[i][k] && next_utf8((const unsigned char *)strs[i], &k, &c)) chars++;
        if (strs[i][k])
            return ember_fail(EMBER_ERR_FORMAT, "npy: string element %lld is not valid UTF-8 (byte %zu)", (long long)i, k);
        if (chars > *width) *width = chars;
    }
    return EMBER_OK;
}

static void encode_strings(const ember_tensor *t, size_t width, uint8_t *dst) {
    char *const *strs = t->data;
    for (int64_t i = 0; i < ember_tensor_count(t); i++, dst += width * 4) {
        size_t k = 0, n = 0;
        uint32_t c;
        memset(dst, 0, width * 4);
        while (strs[i][k] && next_utf8((const unsigned char *)strs[i], &k, &c)) ember_put_le32(dst + 4 * n++, c);
    }
}

static ember_status npy_descr(const ember_tensor *t, size_t *itemsize, char *descr, size_t cap) {
    if (t->dtype == EMBER_DTYPE_STRING) {
        ember_status s = string_width(t, itemsize);
        if (s) return s;
        snprintf(descr, cap, "<U%zu", *itemsize);
        *itemsize *= 4;
        return EMBER_OK;
    }
    for (int i = 0; i < NPY_NTYPES; i++)
        if (npy_types[i].dtype == t->dtype) {
            *itemsize = npy_types[i].size;
            snprintf(descr, cap, "%c%c%zu", npy_types[i].size == 1 ? '|' : ember_host_le() ? '<' : '>',
                     npy_types[i].kind, npy_types[i].size);
            return EMBER_OK;
        }
    return ember_fail(EMBER_ERR_UNSUPPORTED, "npy: NumPy has no %s type, so .npy cannot hold this tensor (.pb can)",
                      ember_dtype_name(t->dtype));
}

ember_status ember_npy_encode(const ember_tensor *t, uint8_t **out, size_t *out_len) {
    *out = NULL;
    *out_len = 0;
    char descr[48], shape[EMBER_MAX_DIMS * 24 + 8], dict[sizeof shape + 128];
    size_t itemsize = 0, used = 0;
    ember_status s = npy_descr(t, &itemsize, descr, sizeof descr);
    if (s) return s;
    used += (size_t)snprintf(shape, sizeof shape, "(");
    for (int i = 0; i < t->ndim; i++)
        used += (size_t)snprintf(shape + used, sizeof shape - used, "%s%lld", i ? ", " : "", (long long)t->shape[i]);
    snprintf(shape + used, sizeof shape - used, "%s)", t->ndim == 1 ? "," : "");
    int dn = snprintf(dict, sizeof dict, "{'descr': '%s', 'fortran_order': False, 'shape': %s, }", descr, shape);
    size_t hlen = (size_t)dn + 1; /* + '\n' */
    size_t pad = (NPY_ALIGN - (10 + hlen) % NPY_ALIGN) % NPY_ALIGN;
    int64_t count = ember_tensor_count(t);
    if (count < 0 || (itemsize && (uint64_t)count > (SIZE_MAX - 4096) / itemsize))
        return ember_fail(EMBER_ERR_ARG, "npy: tensor too large");
    size_t data_len = (size_t)count * itemsize, total = 10 + hlen + pad + data_len;
    if (t->dtype != EMBER_DTYPE_STRING && t->nbytes < data_len)
        return ember_fail(EMBER_ERR_ARG, "npy: tensor data is smaller than its shape needs");
    uint8_t *b = ember_malloc(total);
    if (!b) return ember_fail(EMBER_ERR_NOMEM, "npy: cannot allocate %zu bytes", total);
    memcpy(b, NPY_MAGIC "\x01\x00", 8);
    ember_put_le16(b + 8, (uint16_t)(hlen + pad));
    memcpy(b + 10, dict, (size_t)dn);
    memset(b + 10 + dn, ' ', pad);
    b[10 + hlen + pad - 1] = '\n';
    if (t->dtype == EMBER_DTYPE_STRING) encode_strings(t, itemsize / 4, b + 10 + hlen + pad);
    else if (data_len) memcpy(b + 10 + hlen + pad, t->data, data_len);
    *out = b;
    *out_len = total;
    return EMBER_OK;
}

ember_status ember_npy_write(const char *path, const ember_tensor *t) {
    uint8_t *buf;
    size_t len;
    ember_status s = ember_npy_encode(t, &buf, &len);
    if (s) return ember_fail_context(s, "%s: ", path);
    s = io_write_file(path, buf, len);
    ember_free(buf);
    return s;
}
