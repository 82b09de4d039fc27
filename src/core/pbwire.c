/* Protocol Buffers wire-format reading and writing. */
#include "core/pbwire.h"

#include <string.h>

ember_pb ember_pb_reader(const uint8_t *data, size_t size) {
    return (ember_pb){data, data, data + size, NULL};
}

ember_pb ember_pb_sub(const ember_pb *outer, const ember_pb_field *f) {
    return (ember_pb){outer->base, f->data, f->data + f->len, NULL};
}

size_t ember_pb_offset(const ember_pb *r) { return (size_t)(r->p - r->base); }

static bool read_varint(const uint8_t **pp, const uint8_t *end, uint64_t *v) {
    uint64_t x = 0;
    const uint8_t *p = *pp;
    for (int shift = 0; shift < 64; shift += 7) {
        if (p >= end) return false;
        uint8_t b = *p++;
        x |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80)) {
            *v = x;
            *pp = p;
            return true;
        }
    }
    return false;
}

int ember_pb_next(ember_pb *r, ember_pb_field *f) {
    if (r->error) return -1;
    if (r->p >= r->end) return 0;
    memset(f, 0, sizeof *f);
    f->offset = ember_pb_offset(r);
    uint64_t tag;
    if (!read_varint(&r->p, r->end, &tag)) return r->error = "truncated or overlong field tag", -1;
    f->number = (uint32_t)(tag >> 3);
    f->wire = (int)(tag & 7);
    if (f->number == 0 || tag >> 32) return r->error = "invalid field number", -1;
    switch (f->wire) {
    case EMBER_PB_VARINT:
        if (!read_varint(&r->p, r->end, &f->value)) return r->error = "truncated varint", -1;
        return 1;
    case EMBER_PB_I64:
        if (r->end - r->p < 8) return r->error = "truncated fixed64", -1;
        for (int i = 7; i >= 0; i--) f->value = (f->value << 8) | r->p[i];
        r->p += 8;
        return 1;
    case EMBER_PB_I32:
        if (r->end - r->p < 4) return r->error = "truncated fixed32", -1;
        for (int i = 3; i >= 0; i--) f->value = (f->value << 8) | r->p[i];
        r->p += 4;
        return 1;
    case EMBER_PB_LEN: {
        uint64_t n;
        if (!read_varint(&r->p, r->end, &n)) return r->error = "truncated length", -1;
        if (n > (uint64_t)(r->end - r->p)) return r->error = "length runs past the end of the data", -1;
        f->data = r->p;
        f->len = (size_t)n;
        r->p += n;
        return 1;
    }
    default:
        return r->error = "unsupported wire type (groups are not allowed)", -1;
    }
}

bool ember_pb_packed_varint(const ember_pb_field *f, size_t *pos, uint64_t *v, bool *bad) {
    *bad = false;
    if (f->wire == EMBER_PB_VARINT) {
        if (*pos) return false;
        *pos = 1;
        *v = f->value;
        return true;
    }
    if (f->wire != EMBER_PB_LEN) return *bad = true, false;
    if (*pos >= f->len) return false;
    const uint8_t *p = f->data + *pos;
    if (!read_varint(&p, f->data + f->len, v)) return *bad = true, false;
    *pos = (size_t)(p - f->data);
    return true;
}

/* --- writer ------------------------------------------------------------------------------------------- */
static void put(ember_pbw *w, const void *data, size_t n) {
    if (w->oom) return;
    if (w->len + n > w->cap) {
        size_t cap = w->cap ? w->cap : 256;
        while (cap < w->len + n) cap *= 2;
        uint8_t *b = ember_realloc(w->buf, cap);
        if (!b) {
            w->oom = true;
            return;
        }
        w->buf = b;
        w->cap = cap;
    }
    memcpy(w->buf + w->len, data, n);
    w->len += n;
}

void ember_pbw_raw_varint(ember_pbw *w, uint64_t v) {
    uint8_t b[10];
    int n = 0;
    do {
        b[n] = (uint8_t)(v & 0x7f);
        v >>= 7;
        if (v) b[n] |= 0x80;
        n++;
    } while (v);
    put(w, b, (size_t)n);
}

void ember_pbw_varint(ember_pbw *w, uint32_t field, uint64_t v) {
    ember_pbw_raw_varint(w, (uint64_t)field << 3 | EMBER_PB_VARINT);
    ember_pbw_raw_varint(w, v);
}

void ember_pbw_fixed32(ember_pbw *w, uint32_t field, uint32_t v) {
    ember_pbw_raw_varint(w, (uint64_t)field << 3 | EMBER_PB_I32);
    uint8_t b[4] = {(uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24)};
    put(w, b, 4);
}

void ember_pbw_bytes(ember_pbw *w, uint32_t field, const void *data, size_t len) {
    ember_pbw_raw_varint(w, (uint64_t)field << 3 | EMBER_PB_LEN);
    ember_pbw_raw_varint(w, len);
    put(w, data, len);
}

void ember_pbw_free(ember_pbw *w) {
    ember_free(w->buf);
    *w = (ember_pbw){0};
}
