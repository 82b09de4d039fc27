/* GGUF v2/v3 reader: validates the whole header while opening, then serves metadata and tensors in place.
 * Type tables (ggml block sizes, names) live here too, shared with the writer (gguf_write.c). */
#include "ember/gguf.h"

#include "core/arena.h"
#include "core/mapfile.h"
#include "llm/gguf_internal.h"

#include <math.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

/* --- type tables ----------------------------------------------------------------------------------------- */
static const struct {
    const char *name;
    int64_t block, bytes;
} ggml_types[EMBER_GGML_TYPE_COUNT] = {
    [EMBER_GGML_F32] = {"F32", 1, 4},          [EMBER_GGML_F16] = {"F16", 1, 2},
    [EMBER_GGML_Q4_0] = {"Q4_0", 32, 18},      [EMBER_GGML_Q4_1] = {"Q4_1", 32, 20},
    [EMBER_GGML_Q5_0] = {"Q5_0", 32, 22},      [EMBER_GGML_Q5_1] = {"Q5_1", 32, 24},
    [EMBER_GGML_Q8_0] = {"Q8_0", 32, 34},      [EMBER_GGML_Q8_1] = {"Q8_1", 32, 36},
    [EMBER_GGML_Q2_K] = {"Q2_K", 256, 84},     [EMBER_GGML_Q3_K] = {"Q3_K", 256, 110},
    [EMBER_GGML_Q4_K] = {"Q4_K", 256, 144},    [EMBER_GGML_Q5_K] = {"Q5_K", 256, 176},
    [EMBER_GGML_Q6_K] = {"Q6_K", 256, 210},    [EMBER_GGML_Q8_K] = {"Q8_K", 256, 292},
    [EMBER_GGML_IQ2_XXS] = {"IQ2_XXS", 256, 66}, [EMBER_GGML_IQ2_XS] = {"IQ2_XS", 256, 74},
    [EMBER_GGML_IQ3_XXS] = {"IQ3_XXS", 256, 98}, [EMBER_GGML_IQ1_S] = {"IQ1_S", 256, 50},
    [EMBER_GGML_IQ4_NL] = {"IQ4_NL", 32, 18},  [EMBER_GGML_IQ3_S] = {"IQ3_S", 256, 110},
    [EMBER_GGML_IQ2_S] = {"IQ2_S", 256, 82},   [EMBER_GGML_IQ4_XS] = {"IQ4_XS", 256, 136},
    [EMBER_GGML_I8] = {"I8", 1, 1},            [EMBER_GGML_I16] = {"I16", 1, 2},
    [EMBER_GGML_I32] = {"I32", 1, 4},          [EMBER_GGML_I64] = {"I64", 1, 8},
    [EMBER_GGML_F64] = {"F64", 1, 8},          [EMBER_GGML_IQ1_M] = {"IQ1_M", 256, 56},
    [EMBER_GGML_BF16] = {"BF16", 1, 2},        [EMBER_GGML_TQ1_0] = {"TQ1_0", 256, 54},
    [EMBER_GGML_TQ2_0] = {"TQ2_0", 256, 66},
};

static const char *const gguf_type_names[EMBER_GGUF_TYPE_COUNT] = {
    "UINT8", "INT8", "UINT16", "INT16", "UINT32", "INT32", "FLOAT32",
    "BOOL",  "STRING", "ARRAY", "UINT64", "INT64", "FLOAT64",
};

const char *ember_gguf_type_name(ember_gguf_type t) {
    return (unsigned)t < EMBER_GGUF_TYPE_COUNT ? gguf_type_names[t] : "?";
}

const char *ember_ggml_type_name(ember_ggml_type t) {
    return (unsigned)t < EMBER_GGML_TYPE_COUNT && ggml_types[t].name ? ggml_types[t].name : "?";
}

int ember_ggml_type_from_name(const char *name) {
    for (int t = 0; t < EMBER_GGML_TYPE_COUNT; t++)
        if (ggml_types[t].name && !strcasecmp(ggml_types[t].name, name)) return t;
    return -1;
}

bool ember_ggml_type_block(ember_ggml_type t, int64_t *block_elems, int64_t *block_bytes) {
    if ((unsigned)t >= EMBER_GGML_TYPE_COUNT || !ggml_types[t].name) return false;
    if (block_elems) *block_elems = ggml_types[t].block;
    if (block_bytes) *block_bytes = ggml_types[t].bytes;
    return true;
}

bool ember_ggml_type_bytes(ember_ggml_type t, int64_t n, size_t *bytes) {
    int64_t be, bb;
    if (!ember_ggml_type_block(t, &be, &bb) || n < 0 || n % be) return false;
    int64_t blocks = n / be;
    if (blocks > (int64_t)(SIZE_MAX / (uint64_t)bb) || blocks > INT64_MAX / bb) return false;
    *bytes = (size_t)(blocks * bb);
    return true;
}

/* Bytes of one scalar of a metadata type; 0 for STRING/ARRAY/unknown. */
size_t gguf_scalar_size(uint32_t t) {
    switch (t) {
    case EMBER_GGUF_UINT8: case EMBER_GGUF_INT8: case EMBER_GGUF_BOOL: return 1;
    case EMBER_GGUF_UINT16: case EMBER_GGUF_INT16: return 2;
    case EMBER_GGUF_UINT32: case EMBER_GGUF_INT32: case EMBER_GGUF_FLOAT32: return 4;
    case EMBER_GGUF_UINT64: case EMBER_GGUF_INT64: case EMBER_GGUF_FLOAT64: return 8;
    default: return 0;
    }
}

/* --- the handle ------------------------------------------------------------------------------------------ */
typedef struct gguf_kv {
    const char *key;
    uint32_t type, elem_type;
    uint64_t n;                 /* array length; 1 for scalars */
    const uint8_t *value;       /* the value's bytes after the type tag (array: after type and length) */
    const uint8_t *raw;         /* from the type tag to the end of the value (for copying) */
    size_t raw_size;
    const char **strs;          /* STRING and string arrays: NUL-terminated copies */
    size_t *lens;
} gguf_kv;

struct ember_gguf {
    ember_map map;              /* when opened from a file */
    const uint8_t *data;
    size_t size;
    char *name;
    uint32_t version, alignment;
    uint64_t data_offset;
    int64_t n_kv, n_tensors;
    gguf_kv *kv;
    ember_gguf_tensor *tensors;
    ember_arena arena;          /* key names, strings, tensor names */
};

/* A cursor over the file with bounds checks; errors name the file and the byte offset. */
typedef struct cursor {
    ember_gguf *g;
    size_t pos;
} cursor;

static ember_status truncated(cursor *c, const char *what, uint64_t need) {
    return ember_fail(EMBER_ERR_FORMAT, "%s: truncated at byte %zu: %s needs %llu bytes, the file has %zu left",
                      c->g->name, c->pos, what, (unsigned long long)need, c->g->size - c->pos);
}

static ember_status take(cursor *c, uint64_t n, const char *what, const uint8_t **p) {
    if (n > c->g->size - c->pos) return truncated(c, what, n);
    *p = c->g->data + c->pos;
    c->pos += (size_t)n;
    return EMBER_OK;
}

static ember_status read_u32(cursor *c, const char *what, uint32_t *v) {
    const uint8_t *p = NULL;
    ember_status s = take(c, 4, what, &p);
    if (!s) memcpy(v, p, 4);
    return s;
}

static ember_status read_u64(cursor *c, const char *what, uint64_t *v) {
    const uint8_t *p = NULL;
    ember_status s = take(c, 8, what, &p);
    if (!s) memcpy(v, p, 8);
    return s;
}

/* A GGUF string: u64 length + bytes. Returns a NUL-terminated arena copy. */
static ember_status read_string(cursor *c, const char *what, const char **out, size_t *len) {
    uint64_t n;
    const uint8_t *p = NULL;
    ember_status s = read_u64(c, what, &n);
    if (s) return s;
    if (n > c->g->size - c->pos)
        return ember_fail(EMBER_ERR_FORMAT, "%s: %s at byte %zu claims %llu bytes but only %zu remain", c->g->name,
                          what, c->pos - 8, (unsigned long long)n, c->g->size - c->pos);
    if ((s = take(c, n, what, &p))) return s;
    char *str = ember_arena_strdup(&c->g->arena, (const char *)p, (size_t)n);
    if (!str) return ember_fail(EMBER_ERR_NOMEM, "%s: out of memory reading %s", c->g->name, what);
    *out = str;
    if (len) *len = (size_t)n;
    return EMBER_OK;
}

static ember_status read_strings(cursor *c, gguf_kv *kv) {
    uint64_t n = kv->n ? kv->n : 1;
    /* every string takes at least 8 bytes, so a count beyond that cannot be honest */
    if (n > (c->g->size - c->pos) / 8)
        return ember_fail(EMBER_ERR_FORMAT, "%s: key '%s': %llu strings cannot fit in the %zu bytes left at byte %zu",
                          c->g->name, kv->key, (unsigned long long)n, c->g->size - c->pos, c->pos);
    kv->strs = ember_arena_alloc(&c->g->arena, (size_t)n * sizeof *kv->strs, 8);
    kv->lens = ember_arena_alloc(&c->g->arena, (size_t)n * sizeof *kv->lens, 8);
    if (!kv->strs || !kv->lens) return ember_fail(EMBER_ERR_NOMEM, "%s: out of memory", c->g->name);
    for (uint64_t i = 0; i < n; i++) {
        ember_status s = read_string(c, "a string value", &kv->strs[i], &kv->lens[i]);
        if (s) return ember_fail_context(s, "key '%s' element %llu: ", kv->key, (unsigned long long)i);
    }
    return EMBER_OK;
}

/* Skip one value of type t (used for nested arrays, which are legal but not served by the getters). */
static ember_status skip_value(cursor *c, uint32_t t, int depth) {
    const uint8_t *p = NULL;
    uint64_t n, len;
    ember_status s;
    if (gguf_scalar_size(t)) return take(c, gguf_scalar_size(t), "a value", &p);
    if (t == EMBER_GGUF_STRING) {
        if ((s = read_u64(c, "a string length", &len))) return s;
        return take(c, len, "a string", &p);
    }
    if (t != EMBER_GGUF_ARRAY || depth > 8)
        return ember_fail(EMBER_ERR_FORMAT, "%s: bad value type %u at byte %zu (expected 0..12, arrays nested <= 8)",
                          c->g->name, t, c->pos);
    uint32_t et;
    if ((s = read_u32(c, "an array element type", &et)) || (s = read_u64(c, "an array length", &n))) return s;
    if (n > c->g->size - c->pos)
        return ember_fail(EMBER_ERR_FORMAT, "%s: array of %llu elements at byte %zu cannot fit in the file",
                          c->g->name, (unsigned long long)n, c->pos);
    if (gguf_scalar_size(et)) return take(c, n * gguf_scalar_size(et), "array elements", &p);
    for (uint64_t i = 0; i < n; i++)
        if ((s = skip_value(c, et, depth + 1))) return s;
    return EMBER_OK;
}

static ember_status read_value(cursor *c, gguf_kv *kv) {
    ember_status s;
    const uint8_t *p = NULL;
    size_t start = c->pos;
    if ((s = read_u32(c, "a value type", &kv->type))) return s;
    kv->elem_type = kv->type;
    kv->n = 1;
    if (kv->type == EMBER_GGUF_ARRAY) {
        if ((s = read_u32(c, "an array element type", &kv->elem_type)) || (s = read_u64(c, "an array length", &kv->n)))
            return s;
        if (kv->elem_type >= EMBER_GGUF_TYPE_COUNT)
            return ember_fail(EMBER_ERR_FORMAT, "%s: key '%s' at byte %zu: unknown array element type %u (expected 0..12)",
                              c->g->name, kv->key, c->pos - 12, kv->elem_type);
    } else if (kv->type >= EMBER_GGUF_TYPE_COUNT) {
        return ember_fail(EMBER_ERR_FORMAT, "%s: key '%s' at byte %zu: unknown value type %u (expected 0..12)",
                          c->g->name, kv->key, start, kv->type);
    }
    kv->value = c->g->data + c->pos;
    size_t es = gguf_scalar_size(kv->elem_type);
    if (es) {
        if (kv->n > (c->g->size - c->pos) / es)
            return ember_fail(EMBER_ERR_FORMAT, "%s: key '%s' at byte %zu: %llu values of %zu bytes exceed the file",
                              c->g->name, kv->key, c->pos, (unsigned long long)kv->n, es);
        s = take(c, kv->n * es, "a value", &p);
    } else if (kv->elem_type == EMBER_GGUF_STRING) {
        s = kv->n ? read_strings(c, kv) : EMBER_OK;
    } else {
        for (uint64_t i = 0; i < kv->n && !s; i++) s = skip_value(c, kv->elem_type, 1);
        if (s) s = ember_fail_context(s, "key '%s': ", kv->key);
    }
    if (s) return s;
    if (kv->type == EMBER_GGUF_BOOL || (kv->type == EMBER_GGUF_ARRAY && kv->elem_type == EMBER_GGUF_BOOL))
        for (uint64_t i = 0; i < kv->n; i++)
            if (kv->value[i] > 1)
                return ember_fail(EMBER_ERR_FORMAT, "%s: key '%s': bool value %u at byte %zu (expected 0 or 1)",
                                  c->g->name, kv->key, kv->value[i], (size_t)(kv->value + i - c->g->data));
    kv->raw = c->g->data + start;
    kv->raw_size = c->pos - start;
    return EMBER_OK;
}

static ember_status read_kvs(cursor *c, ember_gguf *g) {
    for (int64_t i = 0; i < g->n_kv; i++) {
        gguf_kv *kv = &g->kv[i];
        ember_status s = read_string(c, "a metadata key", &kv->key, NULL);
        if (s) return ember_fail_context(s, "metadata entry %lld: ", (long long)i);
        for (int64_t j = 0; j < i; j++)
            if (!strcmp(g->kv[j].key, kv->key))
                return ember_fail(EMBER_ERR_FORMAT, "%s: duplicate metadata key '%s' (entries %lld and %lld)", g->name,
                                  kv->key, (long long)j, (long long)i);
        if ((s = read_value(c, kv))) return s;
    }
    return EMBER_OK;
}

static ember_status read_alignment(ember_gguf *g) {
    g->alignment = EMBER_GGUF_DEFAULT_ALIGNMENT;
    int64_t i = ember_gguf_find_key(g, "general.alignment");
    if (i < 0) return EMBER_OK;
    const gguf_kv *kv = &g->kv[i];
    uint32_t a = 0;
    if (kv->type == EMBER_GGUF_UINT32) memcpy(&a, kv->value, 4);
    if (!a || (a & (a - 1)) || kv->type != EMBER_GGUF_UINT32)
        return ember_fail(EMBER_ERR_FORMAT, "%s: general.alignment must be a UINT32 power of two (got %s %u)", g->name,
                          ember_gguf_type_name(kv->type), a);
    g->alignment = a;
    return EMBER_OK;
}

static ember_status read_tensor_info(cursor *c, ember_gguf *g, int64_t i) {
    ember_gguf_tensor *t = &g->tensors[i];
    uint32_t ndim, type;
    size_t at = c->pos;
    ember_status s = read_string(c, "a tensor name", &t->name, NULL);
    if (s) return ember_fail_context(s, "tensor %lld: ", (long long)i);
    if ((s = read_u32(c, "a tensor rank", &ndim))) return s;
    if (ndim < 1 || ndim > EMBER_GGUF_MAX_DIMS)
        return ember_fail(EMBER_ERR_FORMAT, "%s: tensor '%s' (info at byte %zu): rank %u, expected 1..4", g->name,
                          t->name, at, ndim);
    t->ndim = (int)ndim;
    t->count = 1;
    for (int d = 0; d < EMBER_GGUF_MAX_DIMS; d++) t->dims[d] = 1;
    for (uint32_t d = 0; d < ndim; d++) {
        uint64_t v;
        if ((s = read_u64(c, "a tensor dimension", &v))) return s;
        if (v > (uint64_t)INT64_MAX || (v && t->count && (int64_t)v > INT64_MAX / t->count))
            return ember_fail(EMBER_ERR_FORMAT, "%s: tensor '%s': dimension %u = %llu overflows the element count",
                              g->name, t->name, d, (unsigned long long)v);
        t->dims[d] = (int64_t)v;
        t->count *= (int64_t)v;
    }
    if ((s = read_u32(c, "a tensor type", &type)) || (s = read_u64(c, "a tensor offset", &t->offset))) return s;
    t->type = (ember_ggml_type)type;
    int64_t be;
    if (!ember_ggml_type_block(t->type, &be, NULL))
        return ember_fail(EMBER_ERR_FORMAT, "%s: tensor '%s': unknown ggml type %u", g->name, t->name, type);
    if (t->dims[0] % be)
        return ember_fail(EMBER_ERR_FORMAT, "%s: tensor '%s': row of %lld elements is not a multiple of the %s block (%lld)",
                          g->name, t->name, (long long)t->dims[0], ember_ggml_type_name(t->type), (long long)be);
    if (!ember_ggml_type_bytes(t->type, t->count, &t->size))
        return ember_fail(EMBER_ERR_FORMAT, "%s: tensor '%s': size overflows", g->name, t->name);
    return EMBER_OK;
}

/* After the infos: align to the data section, then check each tensor's placement. */
static ember_status place_tensors(ember_gguf *g, size_t header_end) {
    uint64_t a = g->alignment;
    g->data_offset = (header_end + a - 1) / a * a;
    if (g->n_tensors && g->data_offset > g->size)
        return ember_fail(EMBER_ERR_FORMAT, "%s: truncated: tensor data would start at byte %llu, the file has %zu",
                          g->name, (unsigned long long)g->data_offset, g->size);
    uint64_t avail = g->data_offset <= g->size ? g->size - g->data_offset : 0;
    for (int64_t i = 0; i < g->n_tensors; i++) {
        ember_gguf_tensor *t = &g->tensors[i];
        if (t->offset % a)
            return ember_fail(EMBER_ERR_FORMAT, "%s: tensor '%s': data offset %llu is not a multiple of the alignment %u",
                              g->name, t->name, (unsigned long long)t->offset, g->alignment);
        if (t->offset > avail || t->size > avail - t->offset)
            return ember_fail(EMBER_ERR_FORMAT,
                              "%s: tensor '%s': data [%llu, +%zu) at file byte %llu runs past the end of the file (%zu bytes)",
                              g->name, t->name, (unsigned long long)t->offset, t->size,
                              (unsigned long long)(g->data_offset + t->offset), g->size);
        t->data = g->data + g->data_offset + t->offset;
    }
    return EMBER_OK;
}

static ember_status check_unique_tensors(ember_gguf *g) {
    /* O(n^2) over a few hundred names is fine; models have < 2000 tensors. */
    for (int64_t i = 0; i < g->n_tensors; i++)
        for (int64_t j = 0; j < i; j++)
            if (!strcmp(g->tensors[i].name, g->tensors[j].name))
                return ember_fail(EMBER_ERR_FORMAT, "%s: duplicate tensor name '%s' (tensors %lld and %lld)", g->name,
                                  g->tensors[i].name, (long long)j, (long long)i);
    return EMBER_OK;
}

static ember_status parse(ember_gguf *g) {
    cursor c = {g, 0};
    const uint8_t *magic;
    uint64_t n_tensors, n_kv;
    ember_status s;
    if (g->size < 4 || take(&c, 4, "magic", &magic) || memcmp(magic, "GGUF", 4))
        return ember_fail(EMBER_ERR_FORMAT, "%s: not a GGUF file (no \"GGUF\" magic at byte 0)", g->name);
    if ((s = read_u32(&c, "the version", &g->version))) return s;
    if (g->version == 1 || (g->version & 0xffff) == 0)
        return ember_fail(EMBER_ERR_UNSUPPORTED, "%s: GGUF version %u%s is not supported (expected 2 or 3)", g->name,
                          g->version, (g->version & 0xffff) == 0 ? " (a big-endian file?)" : "");
    if (g->version < 2 || g->version > 3)
        return ember_fail(EMBER_ERR_UNSUPPORTED, "%s: GGUF version %u is not supported (expected 2 or 3)", g->name,
                          g->version);
    if ((s = read_u64(&c, "the tensor count", &n_tensors)) || (s = read_u64(&c, "the metadata count", &n_kv))) return s;
    /* each tensor info takes >= 24 bytes, each key/value >= 12: counts beyond that are lies */
    if (n_tensors > (g->size - c.pos) / 24 || n_kv > (g->size - c.pos) / 12)
        return ember_fail(EMBER_ERR_FORMAT, "%s: header claims %llu tensors and %llu metadata entries, too many for a "
                          "%zu-byte file", g->name, (unsigned long long)n_tensors, (unsigned long long)n_kv, g->size);
    g->n_tensors = (int64_t)n_tensors;
    g->n_kv = (int64_t)n_kv;
    g->kv = ember_calloc(n_kv ? n_kv : 1, sizeof *g->kv);
    g->tensors = ember_calloc(n_tensors ? n_tensors : 1, sizeof *g->tensors);
    if (!g->kv || !g->tensors) return ember_fail(EMBER_ERR_NOMEM, "%s: out of memory", g->name);
    if ((s = read_kvs(&c, g)) || (s = read_alignment(g))) return s;
    for (int64_t i = 0; i < g->n_tensors; i++)
        if ((s = read_tensor_info(&c, g, i))) return s;
    if ((s = check_unique_tensors(g))) return s;
    return place_tensors(g, c.pos);
}

ember_status ember_gguf_open_memory(const void *data, size_t size, const char *name, ember_gguf **out) {
    *out = NULL;
    ember_gguf *g = ember_calloc(1, sizeof *g);
    if (!g) return ember_fail(EMBER_ERR_NOMEM, "out of memory");
    ember_arena_init(&g->arena, 1 << 16);
    g->data = data;
    g->size = size;
    g->name = ember_strdup(name ? name : "(memory)");
    if (!g->name) {
        ember_gguf_close(g);
        return ember_fail(EMBER_ERR_NOMEM, "out of memory");
    }
    ember_status s = parse(g);
    if (s) {
        ember_gguf_close(g);
        return s;
    }
    *out = g;
    return EMBER_OK;
}

ember_status ember_gguf_open(const char *path, ember_gguf **out) {
    *out = NULL;
    ember_map m;
    ember_status s = ember_map_open(path, &m);
    if (s) return s;
    if ((s = ember_gguf_open_memory(m.data, m.size, path, out))) {
        ember_map_close(&m);
        return s;
    }
    (*out)->map = m;
    return EMBER_OK;
}

void ember_gguf_drop(const ember_gguf *g, const void *p, size_t n) {
    if (g) ember_map_drop(&g->map, p, n); /* checks the range lies in the mapping (none when opened from memory) */
}

void ember_gguf_close(ember_gguf *g) {
    if (!g) return;
    ember_map_close(&g->map);
    ember_arena_free(&g->arena);
    ember_free(g->kv);
    ember_free(g->tensors);
    ember_free(g->name);
    ember_free(g);
}

uint32_t ember_gguf_version(const ember_gguf *g) { return g->version; }
uint32_t ember_gguf_alignment(const ember_gguf *g) { return g->alignment; }
const char *ember_gguf_path(const ember_gguf *g) { return g->name; }
uint64_t ember_gguf_data_offset(const ember_gguf *g) { return g->data_offset; }
int64_t ember_gguf_kv_count(const ember_gguf *g) { return g->n_kv; }
int64_t ember_gguf_tensor_count(const ember_gguf *g) { return g->n_tensors; }

static const gguf_kv *kv_at(const ember_gguf *g, int64_t i) { return i >= 0 && i < g->n_kv ? &g->kv[i] : NULL; }

const char *ember_gguf_kv_key(const ember_gguf *g, int64_t i) { return kv_at(g, i) ? g->kv[i].key : NULL; }
ember_gguf_type ember_gguf_kv_type(const ember_gguf *g, int64_t i) {
    return kv_at(g, i) ? (ember_gguf_type)g->kv[i].type : EMBER_GGUF_TYPE_COUNT;
}
ember_gguf_type ember_gguf_kv_elem_type(const ember_gguf *g, int64_t i) {
    return kv_at(g, i) ? (ember_gguf_type)g->kv[i].elem_type : EMBER_GGUF_TYPE_COUNT;
}
uint64_t ember_gguf_kv_len(const ember_gguf *g, int64_t i) { return kv_at(g, i) ? g->kv[i].n : 0; }

int64_t ember_gguf_find_key(const ember_gguf *g, const char *key) {
    for (int64_t i = 0; i < g->n_kv; i++)
        if (!strcmp(g->kv[i].key, key)) return i;
    return -1;
}

bool gguf_kv_raw(const ember_gguf *g, int64_t i, const char **key, const uint8_t **raw, size_t *size) {
    const gguf_kv *kv = kv_at(g, i);
    if (!kv) return false;
    *key = kv->key;
    *raw = kv->raw;
    *size = kv->raw_size;
    return true;
}

/* Element j of a numeric array (or the scalar) as double / as int64 with a flag telling exactness. */
static double elem_double(uint32_t t, const uint8_t *p) {
    union { uint8_t u8; int8_t i8; uint16_t u16; int16_t i16; uint32_t u32; int32_t i32; float f32;
            uint64_t u64; int64_t i64; double f64; } v;
    memcpy(&v, p, gguf_scalar_size(t));
    switch (t) {
    case EMBER_GGUF_UINT8: case EMBER_GGUF_BOOL: return v.u8;
    case EMBER_GGUF_INT8: return v.i8;
    case EMBER_GGUF_UINT16: return v.u16;
    case EMBER_GGUF_INT16: return v.i16;
    case EMBER_GGUF_UINT32: return v.u32;
    case EMBER_GGUF_INT32: return v.i32;
    case EMBER_GGUF_FLOAT32: return v.f32;
    case EMBER_GGUF_UINT64: return (double)v.u64;
    case EMBER_GGUF_INT64: return (double)v.i64;
    case EMBER_GGUF_FLOAT64: return v.f64;
    default: return NAN;
    }
}

static bool is_int_type(uint32_t t) {
    return t <= EMBER_GGUF_INT32 || t == EMBER_GGUF_UINT64 || t == EMBER_GGUF_INT64 || t == EMBER_GGUF_BOOL;
}

/* Integer element; false when it does not fit int64 (a UINT64 above INT64_MAX). */
static bool elem_int(uint32_t t, const uint8_t *p, int64_t *out) {
    if (t == EMBER_GGUF_UINT64 || t == EMBER_GGUF_INT64) {
        uint64_t u;
        memcpy(&u, p, 8);
        if (t == EMBER_GGUF_UINT64 && u > (uint64_t)INT64_MAX) return false;
        *out = (int64_t)u;
        return true;
    }
    *out = (int64_t)elem_double(t, p);
    return true;
}

double ember_gguf_kv_number(const ember_gguf *g, int64_t i) {
    const gguf_kv *kv = kv_at(g, i);
    return kv && gguf_scalar_size(kv->type) ? elem_double(kv->type, kv->value) : NAN;
}

const char *ember_gguf_kv_str(const ember_gguf *g, int64_t i, uint64_t j, size_t *len) {
    const gguf_kv *kv = kv_at(g, i);
    if (!kv || kv->elem_type != EMBER_GGUF_STRING || j >= kv->n) return NULL;
    if (len) *len = kv->lens[j];
    return kv->strs[j];
}

const void *ember_gguf_kv_array_data(const ember_gguf *g, int64_t i) {
    const gguf_kv *kv = kv_at(g, i);
    return kv && kv->type == EMBER_GGUF_ARRAY && gguf_scalar_size(kv->elem_type) ? kv->value : NULL;
}

static ember_status lookup(const ember_gguf *g, const char *key, const gguf_kv **out) {
    int64_t i = ember_gguf_find_key(g, key);
    if (i < 0) return ember_fail(EMBER_ERR_FORMAT, "%s: metadata key '%s' is missing", g->name, key);
    *out = &g->kv[i];
    return EMBER_OK;
}

static ember_status wrong_type(const ember_gguf *g, const gguf_kv *kv, const char *expected) {
    if (kv->type == EMBER_GGUF_ARRAY)
        return ember_fail(EMBER_ERR_FORMAT, "%s: metadata key '%s' is an ARRAY of %s, expected %s", g->name, kv->key,
                          ember_gguf_type_name(kv->elem_type), expected);
    return ember_fail(EMBER_ERR_FORMAT, "%s: metadata key '%s' is %s, expected %s", g->name, kv->key,
                      ember_gguf_type_name(kv->type), expected);
}

ember_status ember_gguf_get_int(const ember_gguf *g, const char *key, int64_t *out) {
    const gguf_kv *kv = NULL;
    ember_status s = lookup(g, key, &kv);
    if (s) return s;
    if (!is_int_type(kv->type)) return wrong_type(g, kv, "an integer");
    if (!elem_int(kv->type, kv->value, out))
        return ember_fail(EMBER_ERR_FORMAT, "%s: metadata key '%s' is too large", g->name, key);
    return EMBER_OK;
}

ember_status ember_gguf_get_float(const ember_gguf *g, const char *key, double *out) {
    const gguf_kv *kv = NULL;
    ember_status s = lookup(g, key, &kv);
    if (s) return s;
    if (!gguf_scalar_size(kv->type) || kv->type == EMBER_GGUF_BOOL) return wrong_type(g, kv, "a number");
    *out = elem_double(kv->type, kv->value);
    return EMBER_OK;
}

ember_status ember_gguf_get_bool(const ember_gguf *g, const char *key, bool *out) {
    const gguf_kv *kv = NULL;
    ember_status s = lookup(g, key, &kv);
    if (s) return s;
    if (kv->type != EMBER_GGUF_BOOL) return wrong_type(g, kv, "BOOL");
    *out = kv->value[0] != 0;
    return EMBER_OK;
}

ember_status ember_gguf_get_str(const ember_gguf *g, const char *key, const char **out) {
    const gguf_kv *kv = NULL;
    ember_status s = lookup(g, key, &kv);
    if (s) return s;
    if (kv->type != EMBER_GGUF_STRING) return wrong_type(g, kv, "STRING");
    *out = kv->strs[0];
    return EMBER_OK;
}

ember_status ember_gguf_get_strs(const ember_gguf *g, const char *key, const char *const **strs, const size_t **lens,
                                 uint64_t *n) {
    const gguf_kv *kv = NULL;
    ember_status s = lookup(g, key, &kv);
    if (s) return s;
    if (kv->type != EMBER_GGUF_ARRAY || kv->elem_type != EMBER_GGUF_STRING)
        return wrong_type(g, kv, "an ARRAY of STRING");
    *strs = kv->strs;
    if (lens) *lens = kv->lens;
    *n = kv->n;
    return EMBER_OK;
}

static ember_status numeric_array(const ember_gguf *g, const char *key, size_t elem, const char *expected,
                                  const gguf_kv **kv, void **out, uint64_t *n) {
    *out = NULL;
    *n = 0;
    ember_status s = lookup(g, key, kv);
    if (s) return s;
    if ((*kv)->type != EMBER_GGUF_ARRAY || !gguf_scalar_size((*kv)->elem_type)) return wrong_type(g, *kv, expected);
    if ((*kv)->n && !(*out = ember_calloc((size_t)(*kv)->n, elem)))
        return ember_fail(EMBER_ERR_NOMEM, "%s: out of memory for key '%s'", g->name, key);
    *n = (*kv)->n;
    return EMBER_OK;
}

ember_status ember_gguf_get_f32s(const ember_gguf *g, const char *key, float **out, uint64_t *n) {
    const gguf_kv *kv = NULL;
    ember_status s = numeric_array(g, key, sizeof(float), "an ARRAY of numbers", &kv, (void **)out, n);
    if (s) return s;
    size_t es = gguf_scalar_size(kv->elem_type);
    for (uint64_t i = 0; i < kv->n; i++) (*out)[i] = (float)elem_double(kv->elem_type, kv->value + i * es);
    return EMBER_OK;
}

ember_status ember_gguf_get_i32s(const ember_gguf *g, const char *key, int32_t **out, uint64_t *n) {
    const gguf_kv *kv = NULL;
    ember_status s = numeric_array(g, key, sizeof(int32_t), "an ARRAY of integers", &kv, (void **)out, n);
    if (s) return s;
    size_t es = gguf_scalar_size(kv->elem_type);
    for (uint64_t i = 0; i < kv->n; i++) {
        int64_t v = 0;
        if (!is_int_type(kv->elem_type) || !elem_int(kv->elem_type, kv->value + i * es, &v) || v < INT32_MIN ||
            v > INT32_MAX) {
            ember_free(*out);
            *out = NULL;
            *n = 0;
            if (!is_int_type(kv->elem_type)) return wrong_type(g, kv, "an ARRAY of integers");
            return ember_fail(EMBER_ERR_FORMAT, "%s: metadata key '%s' element %llu does not fit int32", g->name, key,
                              (unsigned long long)i);
        }
        (*out)[i] = (int32_t)v;
    }
    return EMBER_OK;
}

const ember_gguf_tensor *ember_gguf_tensor_at(const ember_gguf *g, int64_t i) {
    return i >= 0 && i < g->n_tensors ? &g->tensors[i] : NULL;
}

const ember_gguf_tensor *ember_gguf_find_tensor(const ember_gguf *g, const char *name) {
    for (int64_t i = 0; i < g->n_tensors; i++)
        if (!strcmp(g->tensors[i].name, name)) return &g->tensors[i];
    return NULL;
}
