/* ONNX TensorProto: decode (raw_data in place, typed repeated fields, external data) and encode.
 * Field numbers and storage rules follow onnx.proto (TensorProto, StringStringEntryProto). */
#include "core/tensorproto.h"

#include "core/byteorder.h"
#include "core/mapfile.h"
#include "core/pbwire.h"

#include <stdio.h>
#include <string.h>

enum {
    F_DIMS = 1, F_DATA_TYPE = 2, F_SEGMENT = 3, F_FLOAT = 4, F_INT32 = 5, F_STRING = 6, F_INT64 = 7,
    F_NAME = 8, F_RAW = 9, F_DOUBLE = 10, F_UINT64 = 11, F_DOC = 12, F_EXTERNAL = 13, F_LOCATION = 14,
};

static const char *field_name(uint32_t f) {
    static const char *const names[] = {
        "?", "dims", "data_type", "segment", "float_data", "int32_data", "string_data", "int64_data",
        "name", "raw_data", "double_data", "uint64_data", "doc_string", "external_data", "data_location",
    };
    return f < sizeof names / sizeof names[0] ? names[f] : "unknown field";
}

#define NO_OFFSET SIZE_MAX /* for problems of the whole message, not of one field */

static ember_status bad(size_t offset, uint32_t field, const char *what) {
    if (offset == NO_OFFSET)
        return ember_fail(EMBER_ERR_FORMAT, "TensorProto: %s (field %u): %s", field_name(field), field, what);
    return ember_fail(EMBER_ERR_FORMAT, "TensorProto: %s (field %u) at byte %zu: %s", field_name(field), field,
                      offset, what);
}

/* The typed repeated field that holds elements of type t when raw_data is not used. */
static uint32_t typed_field(ember_dtype t) {
    switch (t) {
    case EMBER_DTYPE_F32: case EMBER_DTYPE_C64: return F_FLOAT;
    case EMBER_DTYPE_STRING: return F_STRING;
    case EMBER_DTYPE_I64: return F_INT64;
    case EMBER_DTYPE_F64: case EMBER_DTYPE_C128: return F_DOUBLE;
    case EMBER_DTYPE_U32: case EMBER_DTYPE_U64: return F_UINT64;
    default: return F_INT32; /* the 8/16/32-bit integers, bool, the 16/8-bit floats, the packed 4-bit types */
    }
}

/* Bytes per scalar as stored (a complex element is two scalars; 4-bit types are handled as bytes). */
static size_t scalar_width(ember_dtype t) {
    int bits = ember_dtype_bits(t);
    if (t == EMBER_DTYPE_C64 || t == EMBER_DTYPE_C128) bits /= 2;
    return bits < 8 ? 1 : (size_t)bits / 8;
}

static bool is_data_field(uint32_t f) {
    return f == F_FLOAT || f == F_INT32 || f == F_STRING || f == F_INT64 || f == F_RAW || f == F_DOUBLE ||
           f == F_UINT64;
}

/* --- parsing ------------------------------------------------------------------------------------------ */
typedef struct parse_state {
    uint32_t data_field; /* first storage field seen (0 none) */
    size_t data_offset;
    bool has_type;
    size_t type_offset;
    int64_t location;
} parse_state;

static ember_status parse_dims(ember_tp *tp, const ember_pb_field *f) {
    size_t pos = 0;
    uint64_t v;
    bool broken;
    while (ember_pb_packed_varint(f, &pos, &v, &broken)) {
        if (tp->ndim == EMBER_MAX_DIMS) {
            char msg[64];
            snprintf(msg, sizeof msg, "more than %d dimensions", EMBER_MAX_DIMS);
            return ember_fail(EMBER_ERR_UNSUPPORTED, "TensorProto: dims (field 1) at byte %zu: %s", f->offset, msg);
        }
        if ((int64_t)v < 0) return bad(f->offset, F_DIMS, "negative dimension");
        tp->dims[tp->ndim++] = (int64_t)v;
    }
    return broken ? bad(f->offset, F_DIMS, "malformed varint (expected int64 dimensions)") : EMBER_OK;
}

static ember_status parse_field(ember_tp *tp, parse_state *st, const ember_pb_field *f) {
    uint32_t n = f->number;
    if (n == F_DIMS) return parse_dims(tp, f);
    if (n == F_DATA_TYPE || n == F_LOCATION) {
        if (f->wire != EMBER_PB_VARINT) return bad(f->offset, n, "wrong wire type (expected a varint)");
        if (n == F_LOCATION) {
            if (f->value > 1) return bad(f->offset, n, "unknown data_location (expected 0 DEFAULT or 1 EXTERNAL)");
            st->location = (int64_t)f->value;
            return EMBER_OK;
        }
        st->has_type = true;
        st->type_offset = f->offset;
        if (f->value == 0 || f->value >= EMBER_DTYPE_COUNT)
            return ember_fail(f->value ? EMBER_ERR_UNSUPPORTED : EMBER_ERR_FORMAT,
                              "TensorProto: data_type (field 2) at byte %zu: %s element type %llu", f->offset,
                              f->value ? "unsupported" : "undefined", (unsigned long long)f->value);
        tp->dtype = (ember_dtype)f->value;
        return EMBER_OK;
    }
    if (n == F_SEGMENT) {
        tp->has_segment = true;
        return f->wire == EMBER_PB_LEN ? EMBER_OK : bad(f->offset, n, "wrong wire type (expected a message)");
    }
    if (n == F_NAME || n == F_RAW || n == F_STRING || n == F_DOC || n == F_EXTERNAL) {
        if (f->wire != EMBER_PB_LEN) return bad(f->offset, n, "wrong wire type (expected length-delimited)");
        if (n == F_NAME) tp->name = (const char *)f->data, tp->name_len = f->len;
        if (n == F_RAW) tp->raw = f->data, tp->raw_len = f->len;
    }
    if (!is_data_field(n)) return EMBER_OK; /* doc_string, external_data, and fields newer than this reader */
    if (st->data_field && st->data_field != n) {
        char msg[128];
        snprintf(msg, sizeof msg, "data also given in %s at byte %zu (expected one storage field)",
                 field_name(st->data_field), st->data_offset);
        return bad(f->offset, n, msg);
    }
    if (!st->data_field) st->data_field = n, st->data_offset = f->offset;
    return EMBER_OK;
}

static ember_status check_storage(ember_tp *tp, const parse_state *st) {
    if (!st->has_type) return bad(NO_OFFSET, F_DATA_TYPE, "missing (every tensor needs an element type)");
    if ((tp->count = ember_shape_count(tp->ndim, tp->dims)) < 0)
        return bad(NO_OFFSET, F_DIMS, "the element count overflows");
    tp->data_field = st->data_field;
    if (st->location == 1) {
        if (st->data_field) return bad(st->data_offset, st->data_field, "data given in place for an EXTERNAL tensor");
        if (tp->dtype == EMBER_DTYPE_STRING) return bad(NO_OFFSET, F_LOCATION, "string tensors cannot be external");
        tp->external = true;
        return EMBER_OK;
    }
    if (!st->data_field) return EMBER_OK; /* no data: fine for 0 elements, an error when decoded otherwise */
    if (st->data_field == F_RAW) {
        size_t need;
        if (tp->dtype == EMBER_DTYPE_STRING) return bad(st->data_offset, F_RAW, "string tensors cannot use raw_data");
        if (!ember_dtype_bytes(tp->dtype, tp->count, &need)) return bad(NO_OFFSET, F_DIMS, "the tensor is too large");
        if (tp->raw_len != need) {
            char msg[160];
            snprintf(msg, sizeof msg, "%zu bytes, but %lld %s elements need %zu", tp->raw_len,
                     (long long)tp->count, ember_dtype_name(tp->dtype), need);
            return bad(st->data_offset, F_RAW, msg);
        }
        return EMBER_OK;
    }
    if (st->data_field != typed_field(tp->dtype)) {
        char msg[128];
        snprintf(msg, sizeof msg, "cannot hold %s elements (expected %s)", ember_dtype_name(tp->dtype),
                 field_name(typed_field(tp->dtype)));
        return bad(st->data_offset, st->data_field, msg);
    }
    return EMBER_OK;
}

ember_status ember_tp_parse(const uint8_t *data, size_t size, ember_tp *out) {
    memset(out, 0, sizeof *out);
    out->msg = data;
    out->msg_len = size;
    parse_state st = {0};
    ember_pb r = ember_pb_reader(data, size);
    ember_pb_field f;
    int k;
    while ((k = ember_pb_next(&r, &f)) > 0) {
        ember_status s = parse_field(out, &st, &f);
        if (s) return s;
    }
    if (k < 0) return ember_fail(EMBER_ERR_FORMAT, "TensorProto: malformed protobuf at byte %zu: %s", f.offset, r.error);
    return check_storage(out, &st);
}

/* --- external data ------------------------------------------------------------------------------------ */
/* Decimal digits only (ONNX writes offset and length as base-10 strings). */
static bool parse_decimal(const uint8_t *s, size_t n, int64_t *v) {
    if (!n || n > 18) return false;
    *v = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9') return false;
        *v = *v * 10 + (s[i] - '0');
    }
    return true;
}

static ember_status external_entry(const ember_pb *outer, const ember_pb_field *entry, char *loc, size_t loc_cap,
                                   int64_t *offset, int64_t *length) {
    ember_pb r = ember_pb_sub(outer, entry);
    ember_pb_field f;
    const uint8_t *key = NULL, *val = NULL;
    size_t key_len = 0, val_len = 0;
    int k;
    while ((k = ember_pb_next(&r, &f)) > 0) {
        if ((f.number == 1 || f.number == 2) && f.wire != EMBER_PB_LEN)
            return bad(f.offset, F_EXTERNAL, "entry key/value has the wrong wire type");
        if (f.number == 1) key = f.data, key_len = f.len;
        if (f.number == 2) val = f.data, val_len = f.len;
    }
    if (k < 0) return bad(f.offset, F_EXTERNAL, r.error);
    if (!key) return bad(entry->offset, F_EXTERNAL, "entry without a key");
    if (key_len == 8 && !memcmp(key, "location", 8)) {
        if (!val_len || val_len >= loc_cap || memchr(val, 0, val_len))
            return bad(entry->offset, F_EXTERNAL, "location is empty, too long or contains a NUL byte");
        memcpy(loc, val, val_len);
        loc[val_len] = 0;
    } else if ((key_len == 6 && !memcmp(key, "offset", 6)) || (key_len == 6 && !memcmp(key, "length", 6))) {
        int64_t *dst = key[0] == 'o' ? offset : length;
        if (!val || !parse_decimal(val, val_len, dst))
            return bad(entry->offset, F_EXTERNAL, "offset/length is not a non-negative decimal number");
    }
    return EMBER_OK; /* checksum and unknown keys are accepted and ignored */
}

ember_status ember_tp_external(const ember_tp *tp, char *loc, size_t loc_cap, int64_t *offset, int64_t *length) {
    *offset = *length = -1;
    if (loc_cap) loc[0] = 0;
    ember_pb r = ember_pb_reader(tp->msg, tp->msg_len);
    ember_pb_field f;
    int k;
    while ((k = ember_pb_next(&r, &f)) > 0) {
        if (f.number != F_EXTERNAL) continue;
        if (f.wire != EMBER_PB_LEN) return bad(f.offset, F_EXTERNAL, "wrong wire type (expected a message)");
        ember_status s = external_entry(&r, &f, loc, loc_cap, offset, length);
        if (s) return s;
    }
    if (k < 0) return bad(f.offset, F_EXTERNAL, r.error);
    if (!loc_cap || !loc[0]) return bad(NO_OFFSET, F_EXTERNAL, "no 'location' entry for an EXTERNAL tensor");
    return EMBER_OK;
}

/* A location must be relative and stay below base_dir: no leading '/', no '..' component. */
static bool location_safe(const char *loc) {
    if (loc[0] == '/' || loc[0] == '\\') return false;
    for (const char *p = loc; *p;) {
        size_t n = strcspn(p, "/\\");
        if (n == 2 && p[0] == '.' && p[1] == '.') return false;
        p += n;
        if (*p) p++;
    }
    return true;
}

/* Map the external file and find the tensor's bytes in it (checked against the file size and against the
 * bytes the dims need) before anything is allocated. The caller closes *m. */
static ember_status open_external(const ember_tp *tp, const char *base_dir, ember_map *m, const uint8_t **bytes) {
    char loc[1024], path[4096];
    int64_t offset, length;
    ember_status s = ember_tp_external(tp, loc, sizeof loc, &offset, &length);
    if (s) return s;
    if (!base_dir)
        return ember_fail(EMBER_ERR_ARG, "TensorProto: external data '%s' but no base directory was given", loc);
    if (!location_safe(loc))
        return ember_fail(EMBER_ERR_FORMAT, "TensorProto: external data location '%s' is absolute or leaves the "
                                            "model's directory", loc);
    if ((size_t)snprintf(path, sizeof path, "%s/%s", base_dir, loc) >= sizeof path)
        return ember_fail(EMBER_ERR_ARG, "TensorProto: external data path too long");
    size_t need;
    if (!ember_dtype_bytes(tp->dtype, tp->count, &need)) return bad(NO_OFFSET, F_DIMS, "the tensor is too large");
    if ((s = ember_map_open(path, m))) return s;
    uint64_t off = offset < 0 ? 0 : (uint64_t)offset;
    uint64_t len = length < 0 ? (off <= m->size ? m->size - off : 0) : (uint64_t)length;
    if (off > m->size || len > m->size - off)
        s = ember_fail(EMBER_ERR_FORMAT, "%s: external data offset %llu + length %llu runs past the end of the "
                       "file (%zu bytes)", path, (unsigned long long)off, (unsigned long long)len, m->size);
    else if (len != need)
        s = ember_fail(EMBER_ERR_FORMAT, "%s: external data has %llu bytes, but %lld %s elements need %zu", path,
                       (unsigned long long)len, (long long)tp->count, ember_dtype_name(tp->dtype), need);
    if (s) ember_map_close(m);
    else *bytes = m->data ? m->data + off : NULL;
    return s;
}

/* --- typed repeated fields ---------------------------------------------------------------------------- */
typedef struct filler {
    ember_tensor *t; /* NULL: only count the values (done before allocating, so dims cannot ask for more) */
    int64_t want, got; /* scalars expected (2 per complex element, 1 per byte of 4-bit data) and stored */
} filler;

static ember_status put_scalar(filler *fl, uint64_t v, const ember_pb_field *f) {
    if (fl->got >= fl->want) {
        char msg[96];
        snprintf(msg, sizeof msg, "more values than the %lld the dims call for", (long long)fl->want);
        return bad(f->offset, f->number, msg);
    }
    int64_t i = fl->got++;
    if (!fl->t) return EMBER_OK;
    uint8_t *d = fl->t->data;
    ember_dtype dt = fl->t->dtype;
    int64_t lo = 0, hi = 0; /* range of an int32_data value for the narrow types */
    switch (dt) {
    case EMBER_DTYPE_F32: case EMBER_DTYPE_C64: ((uint32_t *)(void *)d)[i] = (uint32_t)v; return EMBER_OK;
    case EMBER_DTYPE_F64: case EMBER_DTYPE_C128: case EMBER_DTYPE_I64: case EMBER_DTYPE_U64:
        ((uint64_t *)(void *)d)[i] = v;
        return EMBER_OK;
    case EMBER_DTYPE_U32:
        if (v > UINT32_MAX) return bad(f->offset, f->number, "value out of range for uint32");
        ((uint32_t *)(void *)d)[i] = (uint32_t)v;
        return EMBER_OK;
    case EMBER_DTYPE_I32: ((int32_t *)(void *)d)[i] = (int32_t)(uint32_t)v; return EMBER_OK;
    case EMBER_DTYPE_BOOL: d[i] = (int32_t)(uint32_t)v != 0; return EMBER_OK;
    case EMBER_DTYPE_I8: lo = INT8_MIN, hi = INT8_MAX; break;
    case EMBER_DTYPE_I16: lo = INT16_MIN, hi = INT16_MAX; break;
    case EMBER_DTYPE_U16: case EMBER_DTYPE_F16: case EMBER_DTYPE_BF16: hi = UINT16_MAX; break;
    default: hi = UINT8_MAX; break; /* uint8, float8 bit patterns, packed pairs of 4-bit values */
    }
    int64_t x = (int32_t)(uint32_t)v;
    if (x < lo || x > hi) {
        char msg[96];
        snprintf(msg, sizeof msg, "value %lld out of range for %s", (long long)x, ember_dtype_name(dt));
        return bad(f->offset, f->number, msg);
    }
    if (hi > UINT8_MAX) ((uint16_t *)(void *)d)[i] = (uint16_t)x;
    else d[i] = (uint8_t)x;
    return EMBER_OK;
}

/* One occurrence of a fixed-width field: a single value (I32/I64 wire) or a packed run of them (LEN). */
static ember_status fill_fixed(filler *fl, const ember_pb_field *f, size_t width) {
    int single = width == 4 ? EMBER_PB_I32 : EMBER_PB_I64;
    if (f->wire == single) return put_scalar(fl, f->value, f);
    if (f->wire != EMBER_PB_LEN) return bad(f->offset, f->number, "wrong wire type");
    if (f->len % width) return bad(f->offset, f->number, "packed length is not a multiple of the value size");
    for (size_t p = 0; p < f->len; p += width) {
        ember_status s = put_scalar(fl, width == 4 ? ember_le32(f->data + p) : ember_le64(f->data + p), f);
        if (s) return s;
    }
    return EMBER_OK;
}

static ember_status fill_varints(filler *fl, const ember_pb_field *f) {
    size_t pos = 0;
    uint64_t v;
    bool broken;
    while (ember_pb_packed_varint(f, &pos, &v, &broken)) {
        ember_status s = put_scalar(fl, v, f);
        if (s) return s;
    }
    return broken ? bad(f->offset, f->number, "malformed varint or wrong wire type") : EMBER_OK;
}

static ember_status fill_string(filler *fl, const ember_pb_field *f) {
    if (fl->got >= fl->want) return bad(f->offset, F_STRING, "more strings than the dims call for");
    if (!fl->t) return fl->got++, EMBER_OK;
    if (memchr(f->data, 0, f->len))
        return ember_fail(EMBER_ERR_UNSUPPORTED, "TensorProto: string_data (field 6) at byte %zu: a string with a NUL "
                          "byte is not supported", f->offset);
    return ember_tensor_set_string(fl->t, fl->got++, (const char *)f->data, f->len);
}

/* Walk the typed storage field: count its values when t is NULL, else store them into t. */
static ember_status walk_typed(const ember_tp *tp, ember_tensor *t) {
    filler fl = {t, tp->count, 0};
    if (tp->dtype == EMBER_DTYPE_C64 || tp->dtype == EMBER_DTYPE_C128) fl.want = tp->count * 2;
    if (ember_dtype_bits(tp->dtype) < 8) fl.want = (tp->count * ember_dtype_bits(tp->dtype) + 7) / 8;
    ember_pb r = ember_pb_reader(tp->msg, tp->msg_len);
    ember_pb_field f;
    int k;
    while ((k = ember_pb_next(&r, &f)) > 0) {
        if (f.number != tp->data_field) continue;
        ember_status s;
        if (f.number == F_FLOAT) s = fill_fixed(&fl, &f, 4);
        else if (f.number == F_DOUBLE) s = fill_fixed(&fl, &f, 8);
        else if (f.number == F_STRING) s = fill_string(&fl, &f);
        else s = fill_varints(&fl, &f);
        if (s) return s;
    }
    if (k < 0) return ember_fail(EMBER_ERR_FORMAT, "TensorProto: malformed protobuf at byte %zu: %s", f.offset, r.error);
    if (fl.got != fl.want) {
        char msg[128];
        snprintf(msg, sizeof msg, "%lld values, but the dims call for %lld", (long long)fl.got, (long long)fl.want);
        return bad(NO_OFFSET, tp->data_field, msg);
    }
    return EMBER_OK; /* put_scalar stored native values: no byte swapping */
}

/* Checks that the data is all there, so that a tensor is allocated only for data that exists. */
static ember_status check_data(const ember_tp *tp, const char *base_dir, ember_map *ext, const uint8_t **ext_bytes) {
    if (tp->has_segment)
        return ember_fail(EMBER_ERR_UNSUPPORTED, "TensorProto: segmented tensors (field 3) are not supported");
    if (tp->external) return open_external(tp, base_dir, ext, ext_bytes);
    if (tp->data_field == F_RAW) return EMBER_OK; /* length checked by ember_tp_parse */
    if (tp->data_field) return walk_typed(tp, NULL);
    if (tp->count == 0) return EMBER_OK;
    char msg[96];
    snprintf(msg, sizeof msg, "no data for %lld elements", (long long)tp->count);
    return bad(NO_OFFSET, F_RAW, msg);
}

static ember_status copy_name(const ember_tp *tp, ember_tensor *t) {
    if (!tp->name_len) return EMBER_OK;
    if (!(t->name = ember_malloc(tp->name_len + 1))) return ember_fail(EMBER_ERR_NOMEM, "TensorProto: out of memory");
    memcpy(t->name, tp->name, tp->name_len);
    t->name[tp->name_len] = 0;
    return EMBER_OK;
}

/* Copy little-endian bytes (raw_data or an external file) into t. */
static void copy_le(ember_tensor *t, const uint8_t *bytes) {
    if (t->nbytes) memcpy(t->data, bytes, t->nbytes);
    if (!ember_host_le()) ember_bswap(t->data, t->nbytes / scalar_width(t->dtype), scalar_width(t->dtype));
}

ember_status ember_tp_to_tensor(const ember_tp *tp, const char *base_dir, ember_tensor **out) {
    *out = NULL;
    ember_map ext = {0};
    const uint8_t *ext_bytes = NULL;
    ember_status s = check_data(tp, base_dir, &ext, &ext_bytes);
    if (s) return s;
    ember_tensor *t = NULL;
    if (!(s = ember_tensor_create(tp->dtype, tp->ndim, tp->dims, &t)) && !(s = copy_name(tp, t))) {
        if (tp->external) copy_le(t, ext_bytes);
        else if (tp->data_field == F_RAW) copy_le(t, tp->raw);
        else if (tp->data_field) s = walk_typed(tp, t);
    }
    ember_map_close(&ext);
    if (s) {
        ember_tensor_destroy(t);
        return s;
    }
    *out = t;
    return EMBER_OK;
}

/* --- encoding ----------------------------------------------------------------------------------------- */
ember_status ember_tp_encode(const ember_tensor *t, uint8_t **out, size_t *out_len) {
    *out = NULL;
    *out_len = 0;
    size_t need;
    int64_t count = ember_tensor_count(t);
    if (count < 0 || !ember_dtype_bytes(t->dtype, count, &need) || need > t->nbytes)
        return ember_fail(EMBER_ERR_ARG, "TensorProto encode: tensor data does not match its shape and type");
    ember_pbw w = {0};
    for (int i = 0; i < t->ndim; i++) ember_pbw_varint(&w, F_DIMS, (uint64_t)t->shape[i]);
    ember_pbw_varint(&w, F_DATA_TYPE, (uint64_t)t->dtype);
    if (t->name) ember_pbw_bytes(&w, F_NAME, t->name, strlen(t->name));
    if (t->dtype == EMBER_DTYPE_STRING) {
        char *const *strs = t->data;
        for (int64_t i = 0; i < count; i++) ember_pbw_bytes(&w, F_STRING, strs[i], strlen(strs[i]));
    } else if (ember_host_le()) {
        ember_pbw_bytes(&w, F_RAW, t->data, need);
    } else {
        uint8_t *le = ember_malloc(need ? need : 1);
        if (!le) w.oom = true;
        else {
            memcpy(le, t->data, need);
            ember_bswap(le, need / scalar_width(t->dtype), scalar_width(t->dtype));
            ember_pbw_bytes(&w, F_RAW, le, need);
            ember_free(le);
        }
    }
    if (w.oom) {
        ember_pbw_free(&w);
        return ember_fail(EMBER_ERR_NOMEM, "TensorProto encode: out of memory");
    }
    *out = w.buf;
    *out_len = w.len;
    return EMBER_OK;
}
