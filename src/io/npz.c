/* NumPy .npz archives: a zip of .npy members. Reads stored and deflated members (zlib; CRC-32 checked),
 * zip64 included; writes what np.savez (stored) and np.savez_compressed (deflate) write. */
#include "ember/tensorio.h"

#include "core/byteorder.h"
#include "core/mapfile.h"
#include "io/iofile.h"

#include <stdio.h>
#include <string.h>
#include <zlib.h>

enum {
    SIG_LOCAL = 0x04034b50, SIG_CENTRAL = 0x02014b50, SIG_END = 0x06054b50, SIG_END64 = 0x06064b50,
    SIG_LOCATOR64 = 0x07064b50, LOCAL_LEN = 30, CENTRAL_LEN = 46, END_LEN = 22, END64_LEN = 56, LOCATOR64_LEN = 20,
    METHOD_STORED = 0, METHOD_DEFLATE = 8, ZIP64_EXTRA = 0x0001,
};
#define U32_FULL 0xFFFFFFFFu
#define ZLIB_CHUNK ((size_t)1 << 30) /* zlib counts in 32-bit uInt */

static ember_status zip_bad(uint64_t offset, const char *what) {
    return ember_fail(EMBER_ERR_FORMAT, "npz: %s (at byte %llu)", what, (unsigned long long)offset);
}

/* --- reading ------------------------------------------------------------------------------------------ */
typedef struct zip_dir {
    uint64_t entries, size, offset; /* central directory */
} zip_dir;

typedef struct zip_member {
    const char *name;
    size_t name_len;
    uint16_t flags, method;
    uint32_t crc;
    uint64_t csize, usize, local; /* compressed and uncompressed sizes, local header offset */
    uint64_t at;                  /* offset of its central directory entry, for messages */
} zip_member;

static ember_status find_zip64_end(const ember_map *m, size_t end_at, zip_dir *dir) {
    if (end_at < LOCATOR64_LEN || ember_le32(m->data + end_at - LOCATOR64_LEN) != SIG_LOCATOR64)
        return zip_bad(end_at, "the end record asks for zip64 but the zip64 locator is missing");
    uint64_t at = ember_le64(m->data + end_at - LOCATOR64_LEN + 8);
    if (at > m->size - END64_LEN || ember_le32(m->data + at) != SIG_END64)
        return zip_bad(end_at - LOCATOR64_LEN, "the zip64 locator points at no zip64 end record");
    const uint8_t *e = m->data + at;
    dir->entries = ember_le64(e + 32);
    dir->size = ember_le64(e + 40);
    dir->offset = ember_le64(e + 48);
    return EMBER_OK;
}

/* The end-of-central-directory record: the last signature whose comment length reaches the file's end. */
static ember_status find_dir(const ember_map *m, zip_dir *dir) {
    if (m->size < END_LEN) return zip_bad(0, "too short to be a zip archive");
    size_t lowest = m->size - END_LEN > 0xFFFF ? m->size - END_LEN - 0xFFFF : 0;
    for (size_t at = m->size - END_LEN + 1; at-- > lowest;) {
        const uint8_t *e = m->data + at;
        if (ember_le32(e) != SIG_END || at + END_LEN + ember_le16(e + 20) != m->size) continue;
        if (ember_le16(e + 4) || ember_le16(e + 6)) return zip_bad(at, "multi-disk archives are not supported");
        dir->entries = ember_le16(e + 10);
        dir->size = ember_le32(e + 12);
        dir->offset = ember_le32(e + 16);
        ember_status s = EMBER_OK;
        if (dir->entries == 0xFFFF || dir->size == U32_FULL || dir->offset == U32_FULL) s = find_zip64_end(m, at, dir);
        if (s) return s;
        if (dir->offset > at || dir->size > at - dir->offset)
            return zip_bad(at, "the central directory lies outside the file");
        if (dir->entries > dir->size / CENTRAL_LEN) return zip_bad(at, "more entries than the central directory holds");
        return EMBER_OK;
    }
    return zip_bad(m->size, "no end-of-central-directory record: not a zip archive, or truncated");
}

/* Sizes and offset that the 32-bit fields mark as 0xFFFFFFFF come from the zip64 extra field, in order. */
static ember_status read_zip64_extra(const uint8_t *x, size_t len, zip_member *z) {
    while (len >= 4) {
        uint16_t id = ember_le16(x), n = ember_le16(x + 2);
        if (n > len - 4) return zip_bad(z->at, "an extra field runs past its entry");
        if (id == ZIP64_EXTRA) {
            uint64_t *fields[3] = {&z->usize, &z->csize, &z->local};
            size_t p = 4;
            for (int i = 0; i < 3; i++) {
                if (*fields[i] != U32_FULL) continue;
                if (p + 8 > 4u + n) return zip_bad(z->at, "the zip64 extra field is too short");
                *fields[i] = ember_le64(x + p);
                p += 8;
            }
            return EMBER_OK;
        }
        x += 4 + n;
        len -= 4u + n;
    }
    if (z->usize == U32_FULL || z->csize == U32_FULL || z->local == U32_FULL)
        return zip_bad(z->at, "an entry needs a zip64 extra field but has none");
    return EMBER_OK;
}

/* Parse the central entry at *pos (advanced past it). */
static ember_status read_entry(const ember_map *m, const zip_dir *dir, uint64_t *pos, zip_member *z) {
    uint64_t end = dir->offset + dir->size, at = *pos;
    if (end - at < CENTRAL_LEN || ember_le32(m->data + at) != SIG_CENTRAL)
        return zip_bad(at, "bad central directory entry");
    const uint8_t *e = m->data + at;
    size_t nlen = ember_le16(e + 28), xlen = ember_le16(e + 30), clen = ember_le16(e + 32);
    if (CENTRAL_LEN + nlen + xlen + clen > end - at) return zip_bad(at, "a central directory entry runs past its end");
    *z = (zip_member){(const char *)e + CENTRAL_LEN, nlen, ember_le16(e + 8), ember_le16(e + 10), ember_le32(e + 16),
                      ember_le32(e + 20), ember_le32(e + 24), ember_le32(e + 42), at};
    *pos = at + CENTRAL_LEN + nlen + xlen + clen;
    return read_zip64_extra(e + CENTRAL_LEN + nlen, xlen, z);
}

/* Where the member's data starts, after its local header (checked against the central directory). */
static ember_status member_data(const ember_map *m, const zip_dir *dir, const zip_member *z, const uint8_t **data) {
    if (z->local > dir->offset || dir->offset - z->local < LOCAL_LEN || ember_le32(m->data + z->local) != SIG_LOCAL)
        return zip_bad(z->local, "a member's local header is missing");
    const uint8_t *l = m->data + z->local;
    uint64_t start = z->local + LOCAL_LEN + ember_le16(l + 26) + ember_le16(l + 28);
    if (start > dir->offset || z->csize > dir->offset - start)
        return zip_bad(z->local, "a member's data runs into the central directory");
    *data = m->data + start;
    return EMBER_OK;
}

/* Refill a zlib window from the bytes left, at most ZLIB_CHUNK at a time (zlib counts in 32-bit uInt). */
static void refill(uInt *avail, uint64_t *left) {
    if (*avail || !*left) return;
    *avail = (uInt)(*left < ZLIB_CHUNK ? *left : ZLIB_CHUNK);
    *left -= *avail;
}

/* Inflate a raw deflate stream that must produce exactly usize bytes (dst holds usize + 1: the spare byte
 * catches streams longer than recorded). */
static ember_status inflate_all(const uint8_t *src, uint64_t csize, uint8_t *dst, uint64_t usize, uint64_t at) {
    z_stream zs;
    memset(&zs, 0, sizeof zs);
    if (inflateInit2(&zs, -MAX_WBITS) != Z_OK) return ember_fail(EMBER_ERR_NOMEM, "npz: cannot start zlib");
    uint64_t in_left = csize, out_left = usize + 1;
    zs.next_in = (Bytef *)(uintptr_t)src;
    zs.next_out = dst;
    int rc;
    do {
        refill(&zs.avail_in, &in_left);
        refill(&zs.avail_out, &out_left);
        rc = inflate(&zs, Z_NO_FLUSH);
    } while (rc == Z_OK);
    uint64_t produced = (uint64_t)(zs.next_out - dst);
    inflateEnd(&zs);
    if (rc == Z_STREAM_END && produced == usize) return EMBER_OK;
    if (rc == Z_STREAM_END) return zip_bad(at, "deflated member is shorter than its recorded size");
    if (produced > usize) return zip_bad(at, "deflated member is longer than its recorded size");
    return zip_bad(at, rc == Z_BUF_ERROR ? "deflated member data is truncated" : "deflated member data is corrupt");
}

static uint32_t crc_all(const uint8_t *p, uint64_t n) {
    uLong crc = crc32(0L, Z_NULL, 0);
    for (; n; ) {
        uInt k = (uInt)(n < ZLIB_CHUNK ? n : ZLIB_CHUNK);
        crc = crc32(crc, p, k);
        p += k;
        n -= k;
    }
    return (uint32_t)crc;
}

/* One member: check it, unpack it, decode the .npy inside, name it after the member. */
static ember_status read_member(const ember_map *m, const zip_dir *dir, const zip_member *z, ember_tensor **out) {
    if (z->name_len < 5 || memcmp(z->name + z->name_len - 4, ".npy", 4) || memchr(z->name, 0, z->name_len))
        return ember_fail(EMBER_ERR_FORMAT, "npz: member '%.*s' is not an .npy array", (int)z->name_len, z->name);
    if (z->flags & 1) return ember_fail(EMBER_ERR_UNSUPPORTED, "npz: member '%.*s' is encrypted", (int)z->name_len, z->name);
    if (z->method != METHOD_STORED && z->method != METHOD_DEFLATE)
        return ember_fail(EMBER_ERR_UNSUPPORTED, "npz: member '%.*s' uses compression method %u (expected stored or "
                          "deflate)", (int)z->name_len, z->name, z->method);
    const uint8_t *src = NULL;
    ember_status s = member_data(m, dir, z, &src);
    if (s) return s;
    uint8_t *buf = NULL;
    if (z->method == METHOD_STORED && z->csize != z->usize)
        return zip_bad(z->at, "a stored member's compressed and uncompressed sizes differ");
    if (z->method == METHOD_DEFLATE) {
        if (z->usize / 1032 > z->csize + 1) /* deflate cannot expand more than 1032:1 */
            return zip_bad(z->at, "a deflated member claims an impossible uncompressed size");
        if (z->usize > SIZE_MAX || !(buf = ember_malloc((size_t)z->usize + 1)))
            return ember_fail(EMBER_ERR_NOMEM, "npz: cannot allocate %llu bytes", (unsigned long long)z->usize);
        if ((s = inflate_all(src, z->csize, buf, z->usize, z->local))) {
            ember_free(buf);
            return s;
        }
        src = buf;
    }
    if (crc_all(src, z->usize) != z->crc) s = zip_bad(z->local, "CRC-32 mismatch: the member's data is corrupt");
    if (!s) s = ember_npy_decode(src, (size_t)z->usize, out);
    ember_free(buf);
    char name[1024];
    snprintf(name, sizeof name, "%.*s", (int)(z->name_len - 4), z->name);
    if (!s && (s = ember_tensor_set_name(*out, name))) {
        ember_tensor_destroy(*out);
        *out = NULL;
    }
    if (s) ember_fail_context(s, "member '%.*s': ", (int)z->name_len, z->name);
    return s;
}

ember_status ember_npz_read(const char *path, ember_tensor ***tensors, size_t *count) {
    *tensors = NULL;
    *count = 0;
    ember_map m;
    ember_status s = ember_map_open(path, &m);
    if (s) return s;
    zip_dir dir;
    ember_tensor **list = NULL;
    size_t n = 0;
    if (!(s = find_dir(&m, &dir)) && dir.entries && !(list = ember_calloc((size_t)dir.entries, sizeof *list)))
        s = ember_fail(EMBER_ERR_NOMEM, "npz: out of memory");
    uint64_t pos = dir.offset;
    for (; !s && n < dir.entries; n++) {
        zip_member z;
        if (!(s = read_entry(&m, &dir, &pos, &z))) s = read_member(&m, &dir, &z, &list[n]);
    }
    ember_map_close(&m);
    if (s) {
        ember_tensor_list_free(list, n);
        return ember_fail_context(s, "%s: ", path);
    }
    *tensors = list;
    *count = n;
    return EMBER_OK;
}

/* --- writing ------------------------------------------------------------------------------------------ */
typedef struct zip_out {
    char name[1024]; /* "<tensor name>.npy" */
    uint32_t crc;
    uint64_t csize, usize, local;
    bool zip64;
} zip_out;

/* Raw deflate of n bytes into a new buffer (NULL when out of memory). */
static uint8_t *deflate_all(const uint8_t *src, size_t n, size_t *out_len) {
    z_stream zs;
    memset(&zs, 0, sizeof zs);
    if (deflateInit2(&zs, Z_DEFAULT_COMPRESSION, Z_DEFLATED, -MAX_WBITS, 8, Z_DEFAULT_STRATEGY) != Z_OK) return NULL;
    uint64_t cap = (uint64_t)n + n / 1000 + 64 + 5 * ((uint64_t)n / 16000 + 1); /* above deflateBound */
    uint8_t *out = cap <= SIZE_MAX ? ember_malloc((size_t)cap) : NULL;
    uint64_t in_left = n, out_left = cap;
    zs.next_in = (Bytef *)(uintptr_t)src;
    zs.next_out = out;
    int rc = out ? Z_OK : Z_MEM_ERROR;
    while (rc == Z_OK) {
        refill(&zs.avail_in, &in_left);
        refill(&zs.avail_out, &out_left);
        rc = deflate(&zs, in_left ? Z_NO_FLUSH : Z_FINISH);
    }
    *out_len = out ? (size_t)(zs.next_out - out) : 0;
    deflateEnd(&zs);
    if (rc != Z_STREAM_END) {
        ember_free(out);
        return NULL;
    }
    return out;
}

static void put16(io_writer *w, uint16_t v) {
    uint8_t b[2];
    ember_put_le16(b, v);
    io_write(w, b, 2);
}
static void put32(io_writer *w, uint32_t v) {
    uint8_t b[4];
    ember_put_le32(b, v);
    io_write(w, b, 4);
}
static void put64(io_writer *w, uint64_t v) {
    uint8_t b[8];
    ember_put_le64(b, v);
    io_write(w, b, 8);
}
static uint32_t clamp32(uint64_t v, bool zip64) { return zip64 || v >= U32_FULL ? U32_FULL : (uint32_t)v; }

/* Fields shared by local and central headers: version needed .. name length. DOS time is fixed at
 * 1980-01-01 00:00 so that archives are reproducible. */
static void put_common(io_writer *w, const zip_out *z, uint16_t method) {
    put16(w, z->zip64 ? 45 : 20);
    put16(w, 0);      /* flags */
    put16(w, method);
    put16(w, 0);      /* time */
    put16(w, 0x21);   /* date: 1980-01-01 */
    put32(w, z->crc);
    put32(w, clamp32(z->csize, z->zip64));
    put32(w, clamp32(z->usize, z->zip64));
    put16(w, (uint16_t)strlen(z->name));
}

static void put_local(io_writer *w, const zip_out *z, uint16_t method) {
    put32(w, SIG_LOCAL);
    put_common(w, z, method);
    put16(w, z->zip64 ? 20 : 0);
    io_write(w, z->name, strlen(z->name));
    if (!z->zip64) return;
    put16(w, ZIP64_EXTRA);
    put16(w, 16);
    put64(w, z->usize);
    put64(w, z->csize);
}

static void put_central(io_writer *w, const zip_out *z, uint16_t method) {
    bool far = z->zip64 || z->local >= U32_FULL;
    put32(w, SIG_CENTRAL);
    put16(w, 20 | 3 << 8); /* made by: Unix, 2.0 */
    put_common(w, z, method);
    put16(w, z->zip64 ? 28 : far ? 12 : 0);
    put16(w, 0); /* comment */
    put16(w, 0); /* disk */
    put16(w, 0); /* internal attributes */
    put32(w, 0100644u << 16); /* a regular file, rw-r--r-- */
    put32(w, far ? U32_FULL : (uint32_t)z->local);
    io_write(w, z->name, strlen(z->name));
    if (!far) return;
    put16(w, ZIP64_EXTRA);
    put16(w, z->zip64 ? 24 : 8);
    if (z->zip64) put64(w, z->usize), put64(w, z->csize);
    put64(w, z->local);
}

static void put_end(io_writer *w, uint64_t entries, uint64_t dir_at, uint64_t dir_size, bool zip64) {
    zip64 = zip64 || entries >= 0xFFFF || dir_at >= U32_FULL || dir_size >= U32_FULL;
    if (zip64) {
        uint64_t end64_at = w->pos;
        put32(w, SIG_END64);
        put64(w, END64_LEN - 12);
        put16(w, 45);
        put16(w, 45);
        put32(w, 0);
        put32(w, 0);
        put64(w, entries);
        put64(w, entries);
        put64(w, dir_size);
        put64(w, dir_at);
        put32(w, SIG_LOCATOR64);
        put32(w, 0);
        put64(w, end64_at);
        put32(w, 1);
    }
    put32(w, SIG_END);
    put32(w, 0); /* disk numbers */
    put16(w, zip64 ? 0xFFFF : (uint16_t)entries);
    put16(w, zip64 ? 0xFFFF : (uint16_t)entries);
    put32(w, clamp32(dir_size, zip64));
    put32(w, clamp32(dir_at, zip64));
    put16(w, 0); /* comment */
}

/* Member names: the tensor's name (or arr_<i>) + ".npy"; unique and non-empty. */
static ember_status member_names(const ember_tensor *const *ts, size_t n, zip_out *zs) {
    for (size_t i = 0; i < n; i++) {
        int len = ts[i]->name ? snprintf(zs[i].name, sizeof zs[i].name, "%s.npy", ts[i]->name)
                              : snprintf(zs[i].name, sizeof zs[i].name, "arr_%zu.npy", i);
        if (len <= 4 || (size_t)len >= sizeof zs[i].name)
            return ember_fail(EMBER_ERR_ARG, "npz: tensor %zu: name is empty or too long", i);
        for (size_t k = 0; k < i; k++)
            if (!strcmp(zs[k].name, zs[i].name))
                return ember_fail(EMBER_ERR_ARG, "npz: two tensors are named '%.*s'", len - 4, zs[i].name);
    }
    return EMBER_OK;
}

static ember_status write_member(io_writer *w, const ember_tensor *t, zip_out *z, const ember_tensor_write_options *o) {
    uint8_t *npy = NULL, *packed = NULL;
    size_t len = 0, plen = 0;
    ember_status s = ember_npy_encode(t, &npy, &len);
    if (s) return ember_fail_context(s, "member '%s': ", z->name);
    if (o->compress && !(packed = deflate_all(npy, len, &plen))) {
        ember_free(npy);
        return ember_fail(EMBER_ERR_NOMEM, "npz: member '%s': compression failed (out of memory)", z->name);
    }
    z->crc = crc_all(npy, len);
    z->usize = len;
    z->csize = packed ? plen : len;
    z->local = w->pos;
    z->zip64 = o->zip64 || z->usize >= U32_FULL || z->csize >= U32_FULL;
    uint16_t method = packed ? METHOD_DEFLATE : METHOD_STORED;
    put_local(w, z, method);
    io_write(w, packed ? packed : npy, (size_t)z->csize);
    ember_free(npy);
    ember_free(packed);
    return EMBER_OK;
}

ember_status ember_npz_write(const char *path, const ember_tensor *const *tensors, size_t count,
                             const ember_tensor_write_options *opts) {
    ember_tensor_write_options o = opts ? *opts : (ember_tensor_write_options){0};
    zip_out *zs = ember_calloc(count ? count : 1, sizeof *zs);
    if (!zs) return ember_fail(EMBER_ERR_NOMEM, "npz: out of memory");
    ember_status s = member_names(tensors, count, zs);
    io_writer w;
    if (!s) s = io_writer_open(&w, path);
    if (s) {
        ember_free(zs);
        return ember_fail_context(s, "%s: ", path);
    }
    for (size_t i = 0; i < count && !s; i++) s = write_member(&w, tensors[i], &zs[i], &o);
    uint64_t dir_at = w.pos;
    for (size_t i = 0; i < count && !s; i++) put_central(&w, &zs[i], o.compress ? METHOD_DEFLATE : METHOD_STORED);
    if (!s) put_end(&w, count, dir_at, w.pos - dir_at, o.zip64);
    ember_free(zs);
    if (s) {
        io_writer_close(&w, true);
        return ember_fail_context(s, "%s: ", path);
    }
    return io_writer_close(&w, false);
}
