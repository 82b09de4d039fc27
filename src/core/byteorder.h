/* Byte order: files (ONNX raw_data, .npy '<', zip) are little-endian; these convert in place on hosts that
 * are not, and swap big-endian data ('>' in .npy) on hosts that are.
 *
 *     if (!ember_host_le()) ember_bswap(data, count, 4);   // count elements of 4 bytes each
 */
#ifndef EMBER_CORE_BYTEORDER_H
#define EMBER_CORE_BYTEORDER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

static inline bool ember_host_le(void) {
    const uint16_t one = 1;
    return *(const uint8_t *)&one == 1;
}

/* Reverse the bytes of each of `count` elements of `width` bytes (width 1 is a no-op). */
static inline void ember_bswap(void *data, size_t count, size_t width) {
    uint8_t *p = data;
    if (width < 2) return;
    for (size_t i = 0; i < count; i++, p += width)
        for (size_t a = 0, b = width - 1; a < b; a++, b--) {
            uint8_t t = p[a];
            p[a] = p[b];
            p[b] = t;
        }
}

/* Little-endian loads and stores, independent of the host. */
static inline uint16_t ember_le16(const uint8_t *p) { return (uint16_t)(p[0] | p[1] << 8); }
static inline uint32_t ember_le32(const uint8_t *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static inline uint64_t ember_le64(const uint8_t *p) { return ember_le32(p) | (uint64_t)ember_le32(p + 4) << 32; }
static inline void ember_put_le16(uint8_t *p, uint16_t v) {
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}
static inline void ember_put_le32(uint8_t *p, uint32_t v) {
    ember_put_le16(p, (uint16_t)v);
    ember_put_le16(p + 2, (uint16_t)(v >> 16));
}
static inline void ember_put_le64(uint8_t *p, uint64_t v) {
    ember_put_le32(p, (uint32_t)v);
    ember_put_le32(p + 4, (uint32_t)(v >> 32));
}

#endif
