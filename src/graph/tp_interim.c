/* INTERIM TensorProto decoder so the ONNX importer can run before branch `io` (src/core/tensorproto.c)
 * lands on main. Delete this file in the merge that brings the real one. */
#include "core/pbwire.h"
#include "core/tensorproto.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { TP_DIMS = 1, TP_TYPE = 2, TP_SEGMENT = 3, TP_FLOAT = 4, TP_INT32 = 5, TP_STRING = 6, TP_INT64 = 7,
       TP_NAME = 8, TP_RAW = 9, TP_DOUBLE = 10, TP_UINT64 = 11, TP_EXTERNAL = 13, TP_LOCATION = 14 };

ember_status ember_tp_parse(const uint8_t *data, size_t size, ember_tp *out) {
    memset(out, 0, sizeof *out);
    out->msg = data;
    out->msg_len = size;
    ember_pb r = ember_pb_reader(data, size);
    ember_pb_field f;
    int rc;
    while ((rc = ember_pb_next(&r, &f)) > 0) {
        if (f.number == TP_DIMS) {
            size_t pos = 0;
            uint64_t v;
            bool bad;
            while (ember_pb_packed_varint(&f, &pos, &v, &bad)) {
                if (out->ndim == EMBER_MAX_DIMS)
                    return ember_fail(EMBER_ERR_UNSUPPORTED, "TensorProto: more than %d dims", EMBER_MAX_DIMS);
                if ((int64_t)v < 0) return ember_fail(EMBER_ERR_FORMAT, "TensorProto: negative dim at offset %zu", f.offset);
                out->dims[out->ndim++] = (int64_t)v;
            }
            if (bad) return ember_fail(EMBER_ERR_FORMAT, "TensorProto: bad dims at offset %zu", f.offset);
        } else if (f.number == TP_TYPE && f.wire == EMBER_PB_VARINT) {
            out->dtype = (ember_dtype)f.value;
        } else if (f.number == TP_NAME && f.wire == EMBER_PB_LEN) {
            out->name = (const char *)f.data;
            out->name_len = f.len;
        } else if (f.number == TP_RAW && f.wire == EMBER_PB_LEN) {
            out->raw = f.data;
            out->raw_len = f.len;
        } else if (f.number == TP_LOCATION && f.wire == EMBER_PB_VARINT) {
            out->external = f.value == 1;
        } else if (f.number == TP_SEGMENT) {
            out->has_segment = true;
        }
    }
    if (rc < 0) return ember_fail(EMBER_ERR_FORMAT, "TensorProto: %s at offset %zu", r.error, ember_pb_offset(&r));
    out->count = ember_shape_count(out->ndim, out->dims);
    if (out->count < 0) return ember_fail(EMBER_ERR_FORMAT, "TensorProto: element count overflows");
    size_t need;
    if (out->dtype <= 0 || out->dtype >= EMBER_DTYPE_COUNT || !ember_dtype_bytes(out->dtype, out->count, &need))
        return ember_fail(EMBER_ERR_UNSUPPORTED, "TensorProto: unsupported data_type %d", (int)out->dtype);
    if (out->raw && out->dtype != EMBER_DTYPE_STRING && out->raw_len != need)
        return ember_fail(EMBER_ERR_FORMAT, "TensorProto: raw_data has %zu bytes, dims need %zu", out->raw_len, need);
    return EMBER_OK;
}

ember_status ember_tp_external(const ember_tp *tp, char *loc, size_t loc_cap, int64_t *offset, int64_t *length) {
    ember_pb r = ember_pb_reader(tp->msg, tp->msg_len);
    ember_pb_field f;
    *offset = -1;
    *length = -1;
    loc[0] = 0;
    while (ember_pb_next(&r, &f) > 0) {
        if (f.number != TP_EXTERNAL || f.wire != EMBER_PB_LEN) continue;
        ember_pb e = ember_pb_sub(&r, &f);
        ember_pb_field g;
        const uint8_t *k = NULL, *v = NULL;
        size_t kl = 0, vl = 0;
        while (ember_pb_next(&e, &g) > 0) {
            if (g.number == 1) k = g.data, kl = g.len;
            if (g.number == 2) v = g.data, vl = g.len;
        }
        if (!k || !v || vl >= 200) return ember_fail(EMBER_ERR_FORMAT, "TensorProto: malformed external_data entry");
        char val[200];
        memcpy(val, v, vl);
        val[vl] = 0;
        if (kl == 8 && !memcmp(k, "location", 8)) {
            if (vl >= loc_cap) return ember_fail(EMBER_ERR_FORMAT, "TensorProto: external location too long");
            memcpy(loc, val, vl + 1);
        } else if (kl == 6 && !memcmp(k, "offset", 6)) {
            *offset = strtoll(val, NULL, 10);
        } else if (kl == 6 && !memcmp(k, "length", 6)) {
            *length = strtoll(val, NULL, 10);
        }
    }
    if (!loc[0]) return ember_fail(EMBER_ERR_FORMAT, "TensorProto: external data without a location");
    return EMBER_OK;
}

static void store(ember_tensor *t, int64_t i, uint64_t bits, double d, bool is_double) {
    void *p = t->data;
    switch (t->dtype) {
    case EMBER_DTYPE_F32: ((float *)p)[i] = is_double ? (float)d : 0; break;
    case EMBER_DTYPE_F64: ((double *)p)[i] = d; break;
    case EMBER_DTYPE_I64: ((int64_t *)p)[i] = (int64_t)bits; break;
    case EMBER_DTYPE_U64: ((uint64_t *)p)[i] = bits; break;
    case EMBER_DTYPE_I32: ((int32_t *)p)[i] = (int32_t)bits; break;
    case EMBER_DTYPE_U32: ((uint32_t *)p)[i] = (uint32_t)bits; break;
    case EMBER_DTYPE_I16: case EMBER_DTYPE_U16: case EMBER_DTYPE_F16: case EMBER_DTYPE_BF16:
        ((uint16_t *)p)[i] = (uint16_t)bits; break;
    case EMBER_DTYPE_I8: case EMBER_DTYPE_U8: case EMBER_DTYPE_BOOL: case EMBER_DTYPE_F8E4M3FN:
    case EMBER_DTYPE_F8E4M3FNUZ: case EMBER_DTYPE_F8E5M2: case EMBER_DTYPE_F8E5M2FNUZ:
        ((uint8_t *)p)[i] = (uint8_t)bits; break;
    default: break;
    }
}

ember_status ember_tp_to_tensor(const ember_tp *tp, const char *base_dir, ember_tensor **out) {
    if (tp->external) return ember_fail(EMBER_ERR_UNSUPPORTED, "TensorProto: external data (interim decoder)");
    if (tp->dtype == EMBER_DTYPE_U4 || tp->dtype == EMBER_DTYPE_I4 || tp->dtype == EMBER_DTYPE_F4E2M1) {
        if (!tp->raw && tp->count)
            return ember_fail(EMBER_ERR_UNSUPPORTED, "TensorProto: 4-bit types without raw_data (interim decoder)");
    }
    ember_status s = ember_tensor_create(tp->dtype, tp->ndim, tp->dims, out);
    if (s) return s;
    ember_tensor *t = *out;
    if (tp->raw && tp->dtype != EMBER_DTYPE_STRING) {
        memcpy(t->data, tp->raw, t->nbytes);
        return EMBER_OK;
    }
    ember_pb r = ember_pb_reader(tp->msg, tp->msg_len);
    ember_pb_field f;
    int64_t n = 0;
    while (ember_pb_next(&r, &f) > 0) {
        if (f.number == TP_STRING && tp->dtype == EMBER_DTYPE_STRING) {
            if (n < tp->count && ember_tensor_set_string(t, n, (const char *)f.data, f.len)) goto oom;
            n++;
        } else if (f.number == TP_FLOAT || f.number == TP_DOUBLE) {
            bool dbl = f.number == TP_DOUBLE;
            size_t w = dbl ? 8 : 4;
            const uint8_t *d = f.data;
            size_t len = f.len;
            uint8_t one[8];
            if (f.wire != EMBER_PB_LEN) {
                for (size_t k = 0; k < w; k++) one[k] = (uint8_t)(f.value >> (8 * k));
                d = one;
                len = w;
            }
            for (size_t k = 0; k + w <= len; k += w, n++) {
                if (n >= tp->count) continue;
                double v;
                if (dbl) memcpy(&v, d + k, 8);
                else {
                    float fv;
                    memcpy(&fv, d + k, 4);
                    v = fv;
                }
                if (t->dtype == EMBER_DTYPE_F32 || t->dtype == EMBER_DTYPE_F64) store(t, n, 0, v, true);
            }
        } else if (f.number == TP_INT32 || f.number == TP_INT64 || f.number == TP_UINT64) {
            size_t pos = 0;
            uint64_t v;
            bool bad;
            while (ember_pb_packed_varint(&f, &pos, &v, &bad)) {
                if (n < tp->count) store(t, n, v, 0, false);
                n++;
            }
            if (bad) goto bad;
        }
    }
    if (n != tp->count && tp->count) {
        ember_tensor_destroy(t);
        *out = NULL;
        return ember_fail(EMBER_ERR_FORMAT, "TensorProto: %lld values stored, dims need %lld", (long long)n,
                          (long long)tp->count);
    }
    return EMBER_OK;
bad:
    ember_tensor_destroy(t);
    *out = NULL;
    return ember_fail(EMBER_ERR_FORMAT, "TensorProto: malformed data field");
oom:
    ember_tensor_destroy(t);
    *out = NULL;
    return ember_fail(EMBER_ERR_NOMEM, "TensorProto: out of memory");
}
