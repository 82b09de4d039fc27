/* GGUF v3 writer: metadata as serialized values, tensors borrowed or filled by a callback while writing. */
#include "ember/gguf.h"

#include "llm/gguf_internal.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

typedef struct wkv {
    char *key;
    uint8_t *blob; /* type tag + value, as in the file */
    size_t size;
} wkv;

typedef struct wtensor {
    char *name;
    ember_ggml_type type;
    int ndim;
    int64_t dims[EMBER_GGUF_MAX_DIMS];
    const void *data;
    size_t size;
    uint64_t offset;
} wtensor;

struct ember_gguf_writer {
    wkv *kv;
    int64_t n_kv, cap_kv;
    wtensor *t;
    int64_t n_t, cap_t;
    uint32_t alignment;
};

ember_status ember_gguf_writer_create(ember_gguf_writer **out) {
    *out = ember_calloc(1, sizeof **out);
    if (!*out) return ember_fail(EMBER_ERR_NOMEM, "out of memory");
    (*out)->alignment = EMBER_GGUF_DEFAULT_ALIGNMENT;
    return EMBER_OK;
}

void ember_gguf_writer_destroy(ember_gguf_writer *w) {
    if (!w) return;
    for (int64_t i = 0; i < w->n_kv; i++) {
        ember_free(w->kv[i].key);
        ember_free(w->kv[i].blob);
    }
    for (int64_t i = 0; i < w->n_t; i++) ember_free(w->t[i].name);
    ember_free(w->kv);
    ember_free(w->t);
    ember_free(w);
}

/* Grow an array of `elem`-byte items so one more fits. */
static bool grow(void **arr, int64_t n, int64_t *cap, size_t elem) {
    if (n < *cap) return true;
    int64_t nc = *cap ? *cap * 2 : 16;
    void *p = ember_realloc(*arr, (size_t)nc * elem);
    if (!p) return false;
    *arr = p;
    *cap = nc;
    return true;
}

/* Store key -> blob (takes ownership of blob). Replaces an existing key in place. */
static ember_status put(ember_gguf_writer *w, const char *key, uint8_t *blob, size_t size) {
    for (int64_t i = 0; i < w->n_kv; i++)
        if (!strcmp(w->kv[i].key, key)) {
            ember_free(w->kv[i].blob);
            w->kv[i].blob = blob;
            w->kv[i].size = size;
            return EMBER_OK;
        }
    char *k = ember_strdup(key);
    if (!k || !grow((void **)&w->kv, w->n_kv, &w->cap_kv, sizeof *w->kv)) {
        ember_free(k);
        ember_free(blob);
        return ember_fail(EMBER_ERR_NOMEM, "out of memory");
    }
    w->kv[w->n_kv++] = (wkv){k, blob, size};
    return EMBER_OK;
}

/* A blob of `size` bytes beginning with the type tag. */
static uint8_t *new_blob(uint32_t type, size_t size) {
    uint8_t *b = ember_malloc(size);
    if (b) memcpy(b, &type, 4);
    return b;
}

ember_status ember_gguf_writer_set_scalar(ember_gguf_writer *w, const char *key, ember_gguf_type type,
                                          const void *value) {
    size_t es = gguf_scalar_size(type);
    if (!es) return ember_fail(EMBER_ERR_ARG, "gguf writer: key '%s': %s is not a scalar type", key,
                               ember_gguf_type_name(type));
    uint8_t *b = new_blob(type, 4 + es);
    if (!b) return ember_fail(EMBER_ERR_NOMEM, "out of memory");
    memcpy(b + 4, value, es);
    return put(w, key, b, 4 + es);
}

ember_status ember_gguf_writer_set_u32(ember_gguf_writer *w, const char *key, uint32_t v) {
    return ember_gguf_writer_set_scalar(w, key, EMBER_GGUF_UINT32, &v);
}
ember_status ember_gguf_writer_set_i32(ember_gguf_writer *w, const char *key, int32_t v) {
    return ember_gguf_writer_set_scalar(w, key, EMBER_GGUF_INT32, &v);
}
ember_status ember_gguf_writer_set_u64(ember_gguf_writer *w, const char *key, uint64_t v) {
    return ember_gguf_writer_set_scalar(w, key, EMBER_GGUF_UINT64, &v);
}
ember_status ember_gguf_writer_set_f32(ember_gguf_writer *w, const char *key, float v) {
    return ember_gguf_writer_set_scalar(w, key, EMBER_GGUF_FLOAT32, &v);
}
ember_status ember_gguf_writer_set_bool(ember_gguf_writer *w, const char *key, bool v) {
    uint8_t b = v;
    return ember_gguf_writer_set_scalar(w, key, EMBER_GGUF_BOOL, &b);
}

ember_status ember_gguf_writer_set_str(ember_gguf_writer *w, const char *key, const char *v) {
    uint64_t n = strlen(v);
    uint8_t *b = new_blob(EMBER_GGUF_STRING, 12 + n);
    if (!b) return ember_fail(EMBER_ERR_NOMEM, "out of memory");
    memcpy(b + 4, &n, 8);
    memcpy(b + 12, v, n);
    return put(w, key, b, 12 + n);
}

ember_status ember_gguf_writer_set_array(ember_gguf_writer *w, const char *key, ember_gguf_type elem,
                                         const void *data, uint64_t n) {
    size_t es = gguf_scalar_size(elem);
    if (!es) return ember_fail(EMBER_ERR_ARG, "gguf writer: key '%s': use set_strs for string arrays", key);
    if (n > (SIZE_MAX - 16) / es) return ember_fail(EMBER_ERR_ARG, "gguf writer: key '%s': array too large", key);
    uint8_t *b = new_blob(EMBER_GGUF_ARRAY, 16 + n * es);
    if (!b) return ember_fail(EMBER_ERR_NOMEM, "out of memory");
    uint32_t et = elem;
    memcpy(b + 4, &et, 4);
    memcpy(b + 8, &n, 8);
    if (n) memcpy(b + 16, data, n * es);
    return put(w, key, b, 16 + n * es);
}

ember_status ember_gguf_writer_set_strs(ember_gguf_writer *w, const char *key, const char *const *strs,
                                        const size_t *lens, uint64_t n) {
    size_t total = 16;
    for (uint64_t i = 0; i < n; i++) total += 8 + (lens ? lens[i] : strlen(strs[i]));
    uint8_t *b = new_blob(EMBER_GGUF_ARRAY, total);
    if (!b) return ember_fail(EMBER_ERR_NOMEM, "out of memory");
    uint32_t et = EMBER_GGUF_STRING;
    memcpy(b + 4, &et, 4);
    memcpy(b + 8, &n, 8);
    size_t at = 16;
    for (uint64_t i = 0; i < n; i++) {
        uint64_t len = lens ? lens[i] : strlen(strs[i]);
        memcpy(b + at, &len, 8);
        if (len) memcpy(b + at + 8, strs[i], len);
        at += 8 + len;
    }
    return put(w, key, b, total);
}

ember_status ember_gguf_writer_copy_kv(ember_gguf_writer *w, const ember_gguf *g, int64_t i) {
    const char *key;
    const uint8_t *raw;
    size_t size;
    if (!gguf_kv_raw(g, i, &key, &raw, &size))
        return ember_fail(EMBER_ERR_ARG, "gguf writer: no metadata entry %lld to copy", (long long)i);
    uint8_t *b = ember_malloc(size);
    if (!b) return ember_fail(EMBER_ERR_NOMEM, "out of memory");
    memcpy(b, raw, size);
    return put(w, key, b, size);
}

void ember_gguf_writer_remove(ember_gguf_writer *w, const char *key) {
    for (int64_t i = 0; i < w->n_kv; i++)
        if (!strcmp(w->kv[i].key, key)) {
            ember_free(w->kv[i].key);
            ember_free(w->kv[i].blob);
            memmove(&w->kv[i], &w->kv[i + 1], (size_t)(w->n_kv - i - 1) * sizeof *w->kv);
            w->n_kv--;
            return;
        }
}

ember_status ember_gguf_writer_set_alignment(ember_gguf_writer *w, uint32_t alignment) {
    if (!alignment || (alignment & (alignment - 1)))
        return ember_fail(EMBER_ERR_ARG, "gguf writer: alignment %u is not a power of two", alignment);
    w->alignment = alignment;
    if (alignment == EMBER_GGUF_DEFAULT_ALIGNMENT) {
        ember_gguf_writer_remove(w, "general.alignment");
        return EMBER_OK;
    }
    return ember_gguf_writer_set_u32(w, "general.alignment", alignment);
}

ember_status ember_gguf_writer_add_tensor(ember_gguf_writer *w, const char *name, ember_ggml_type type, int ndim,
                                          const int64_t *dims, const void *data) {
    if (ndim < 1 || ndim > EMBER_GGUF_MAX_DIMS)
        return ember_fail(EMBER_ERR_ARG, "gguf writer: tensor '%s': rank %d, expected 1..4", name, ndim);
    for (int64_t i = 0; i < w->n_t; i++)
        if (!strcmp(w->t[i].name, name))
            return ember_fail(EMBER_ERR_ARG, "gguf writer: tensor '%s' added twice", name);
    wtensor t = {.type = type, .ndim = ndim, .data = data};
    int64_t count = 1, be;
    for (int d = 0; d < EMBER_GGUF_MAX_DIMS; d++) {
        t.dims[d] = d < ndim ? dims[d] : 1;
        if (t.dims[d] < 0 || (t.dims[d] && count > INT64_MAX / t.dims[d]))
            return ember_fail(EMBER_ERR_ARG, "gguf writer: tensor '%s': bad dimension %lld", name, (long long)t.dims[d]);
        count *= t.dims[d];
    }
    if (!ember_ggml_type_block(type, &be, NULL))
        return ember_fail(EMBER_ERR_ARG, "gguf writer: tensor '%s': unknown type %d", name, (int)type);
    if (t.dims[0] % be || !ember_ggml_type_bytes(type, count, &t.size))
        return ember_fail(EMBER_ERR_ARG, "gguf writer: tensor '%s': row of %lld is not a multiple of the %s block %lld",
                          name, (long long)t.dims[0], ember_ggml_type_name(type), (long long)be);
    if (!(t.name = ember_strdup(name)) || !grow((void **)&w->t, w->n_t, &w->cap_t, sizeof *w->t)) {
        ember_free(t.name);
        return ember_fail(EMBER_ERR_NOMEM, "out of memory");
    }
    w->t[w->n_t++] = t;
    return EMBER_OK;
}

/* --- output ---------------------------------------------------------------------------------------------- */
typedef struct out {
    FILE *f;
    const char *path;
    uint64_t pos;
    bool failed;
} out;

static void put_bytes(out *o, const void *p, size_t n) {
    if (o->failed || !n) return;
    if (fwrite(p, 1, n, o->f) != n) o->failed = true;
    o->pos += n;
}
static void put_u32(out *o, uint32_t v) { put_bytes(o, &v, 4); }
static void put_u64(out *o, uint64_t v) { put_bytes(o, &v, 8); }
static void put_str(out *o, const char *s) {
    put_u64(o, strlen(s));
    put_bytes(o, s, strlen(s));
}
static void pad(out *o, uint32_t alignment) {
    static const uint8_t zeros[256];
    while (o->pos % alignment) {
        size_t n = alignment - o->pos % alignment;
        put_bytes(o, zeros, n < sizeof zeros ? n : sizeof zeros);
    }
}

static void write_header(ember_gguf_writer *w, out *o) {
    put_bytes(o, "GGUF", 4);
    put_u32(o, 3);
    put_u64(o, (uint64_t)w->n_t);
    put_u64(o, (uint64_t)w->n_kv);
    for (int64_t i = 0; i < w->n_kv; i++) {
        put_str(o, w->kv[i].key);
        put_bytes(o, w->kv[i].blob, w->kv[i].size);
    }
    uint64_t offset = 0;
    for (int64_t i = 0; i < w->n_t; i++) {
        wtensor *t = &w->t[i];
        t->offset = offset;
        offset = (offset + t->size + w->alignment - 1) / w->alignment * w->alignment;
        put_str(o, t->name);
        put_u32(o, (uint32_t)t->ndim);
        for (int d = 0; d < t->ndim; d++) put_u64(o, (uint64_t)t->dims[d]);
        put_u32(o, (uint32_t)t->type);
        put_u64(o, t->offset);
    }
    pad(o, w->alignment);
}

static ember_status write_tensors(ember_gguf_writer *w, out *o, ember_gguf_fill_fn fill, void *user) {
    size_t biggest = 0;
    for (int64_t i = 0; i < w->n_t; i++)
        if (!w->t[i].data && w->t[i].size > biggest) biggest = w->t[i].size;
    if (biggest && !fill)
        return ember_fail(EMBER_ERR_ARG, "gguf writer: %s: a tensor has no data and no fill callback was given", o->path);
    void *buf = biggest ? ember_malloc(biggest) : NULL;
    if (biggest && !buf) return ember_fail(EMBER_ERR_NOMEM, "gguf writer: out of memory (%zu bytes)", biggest);
    ember_status s = EMBER_OK;
    for (int64_t i = 0; i < w->n_t && !s && !o->failed; i++) {
        wtensor *t = &w->t[i];
        const void *data = t->data;
        if (!data) {
            if ((s = fill(user, i, buf, t->size))) break;
            data = buf;
        }
        put_bytes(o, data, t->size);
        pad(o, w->alignment);
    }
    ember_free(buf);
    return s;
}

ember_status ember_gguf_writer_write(ember_gguf_writer *w, const char *path, ember_gguf_fill_fn fill, void *user) {
    out o = {fopen(path, "wb"), path, 0, false};
    if (!o.f) return ember_fail(EMBER_ERR_IO, "%s: cannot create: %s", path, strerror(errno));
    write_header(w, &o);
    ember_status s = write_tensors(w, &o, fill, user);
    int err = o.failed ? errno : 0;
    if (fclose(o.f) != 0 && !o.failed) {
        o.failed = true;
        err = errno;
    }
    if (!s && o.failed) s = ember_fail(EMBER_ERR_IO, "%s: write failed: %s", path, strerror(err));
    if (s) unlink(path);
    return s;
}
