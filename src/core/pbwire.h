/* Protocol Buffers wire format: a zero-copy field reader over a byte range, and a small writer.
 *
 *     ember_pb r = ember_pb_reader(data, size);
 *     ember_pb_field f;
 *     while (ember_pb_next(&r, &f) > 0) {
 *         if (f.number == 1 && f.wire == EMBER_PB_LEN) use(f.data, f.len);   // points into `data`
 *     }
 *     if (r.error) ...   // malformed: r.error says what, at which offset from the start
 *
 * Only what the readers need: varint, fixed32, fixed64 and length-delimited fields (groups are rejected).
 */
#ifndef EMBER_CORE_PBWIRE_H
#define EMBER_CORE_PBWIRE_H

#include "ember/status.h"

#include <stdbool.h>

enum { EMBER_PB_VARINT = 0, EMBER_PB_I64 = 1, EMBER_PB_LEN = 2, EMBER_PB_I32 = 5 };

typedef struct ember_pb {
    const uint8_t *base, *p, *end;
    const char *error; /* static text, set when malformed */
} ember_pb;

typedef struct ember_pb_field {
    uint32_t number;
    int wire;
    uint64_t value;      /* varint, fixed32 or fixed64 payload */
    const uint8_t *data; /* for EMBER_PB_LEN */
    size_t len;
    size_t offset; /* of the field's tag, from base */
} ember_pb_field;

ember_pb ember_pb_reader(const uint8_t *data, size_t size);
/* A reader over a length-delimited field, offsets still counted from the outer base. */
ember_pb ember_pb_sub(const ember_pb *outer, const ember_pb_field *f);
/* 1: a field was read; 0: clean end; -1: malformed (r->error set). */
int ember_pb_next(ember_pb *r, ember_pb_field *f);
/* Offset of the cursor from base. */
size_t ember_pb_offset(const ember_pb *r);
/* Decode packed varints from a LEN field, or one from a VARINT field: call with *pos=0 until false. */
bool ember_pb_packed_varint(const ember_pb_field *f, size_t *pos, uint64_t *v, bool *bad);

/* --- writer ------------------------------------------------------------------------------------------- */
typedef struct ember_pbw {
    uint8_t *buf;
    size_t len, cap;
    bool oom;
} ember_pbw;

void ember_pbw_varint(ember_pbw *w, uint32_t field, uint64_t v);
void ember_pbw_fixed32(ember_pbw *w, uint32_t field, uint32_t v);
void ember_pbw_bytes(ember_pbw *w, uint32_t field, const void *data, size_t len);
void ember_pbw_raw_varint(ember_pbw *w, uint64_t v);
void ember_pbw_free(ember_pbw *w);

#endif
