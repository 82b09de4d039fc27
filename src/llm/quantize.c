/* `ember quantize`: rewrite a GGUF model with its 2-D weights in another type (rows converted in parallel,
 * streamed to the file one tensor at a time), metadata copied. */
#include "llm/llm_internal.h"

#include <string.h>

/* llama.cpp's general.file_type codes for files (mostly) of one type. */
static int file_type_code(ember_ggml_type t) {
    switch (t) {
    case EMBER_GGML_F32: return 0;
    case EMBER_GGML_F16: return 1;
    case EMBER_GGML_Q4_0: return 2;
    case EMBER_GGML_Q4_1: return 3;
    case EMBER_GGML_Q8_0: return 7;
    case EMBER_GGML_Q5_0: return 8;
    case EMBER_GGML_Q5_1: return 9;
    case EMBER_GGML_Q2_K: return 10;
    case EMBER_GGML_Q3_K: return 11; /* Q3_K_S */
    case EMBER_GGML_Q4_K: return 14; /* Q4_K_S */
    case EMBER_GGML_Q5_K: return 16; /* Q5_K_S */
    case EMBER_GGML_Q6_K: return 18;
    case EMBER_GGML_BF16: return 32;
    default: return -1;
    }
}

typedef struct qz {
    const ember_gguf *in;
    ember_ggml_type *types; /* target type per tensor */
    ember_pool *pool;
    /* the tensor being converted */
    const ember_gguf_tensor *t;
    const quant_type *src, *dst;
    uint8_t *out;
    size_t out_row;
    float *rows; /* per-thread f32 row */
    ember_progress_fn progress;
    void *progress_user;
    int64_t converted, to_convert;
} qz;

static void convert_rows(void *ctx, int64_t begin, int64_t end, int thread) {
    qz *q = ctx;
    int64_t cols = q->t->dims[0];
    size_t src_row = q->t->size / (size_t)(q->t->count / cols);
    float *row = q->rows + (size_t)thread * (size_t)cols;
    for (int64_t r = begin; r < end; r++) {
        q->src->dequant((const uint8_t *)q->t->data + (size_t)r * src_row, row, cols);
        q->dst->quantize(row, q->out + (size_t)r * q->out_row, cols);
    }
}

static ember_status fill(void *user, int64_t index, void *buf, size_t nbytes) {
    qz *q = user;
    q->t = ember_gguf_tensor_at(q->in, index);
    q->src = quant_type_get(q->t->type);
    q->dst = quant_type_get(q->types[index]);
    q->out = buf;
    int64_t rows = q->t->count / q->t->dims[0];
    q->out_row = nbytes / (size_t)rows;
    int threads = q->pool ? ember_pool_threads(q->pool) : 1;
    q->rows = ember_malloc_aligned((size_t)threads * (size_t)q->t->dims[0] * sizeof(float));
    if (!q->rows) return ember_fail(EMBER_ERR_NOMEM, "quantize: out of memory");
    ember_pool_for(q->pool, rows, 1, convert_rows, q);
    ember_free_aligned(q->rows);
    if (q->progress) q->progress(q->progress_user, ++q->converted, q->to_convert);
    return EMBER_OK;
}

/* Target type of a tensor: 2-D weights whose rows fit the block get `type`; the rest keep theirs. */
static ember_ggml_type target(const ember_gguf_tensor *t, ember_ggml_type type) {
    int64_t be;
    ember_ggml_type_block(type, &be, NULL);
    if (t->ndim < 2 || t->dims[0] % be) return t->type;
    return type;
}

ember_status ember_llm_quantize(const char *in_path, const char *out_path, ember_ggml_type type, ember_pool *pool,
                                ember_progress_fn progress, void *progress_user) {
    if (!quant_type_get(type) || file_type_code(type) < 0)
        return ember_fail(EMBER_ERR_ARG, "quantize: cannot write type %s (supported: F32 F16 BF16 Q4_0 Q4_1 Q5_0 Q5_1 "
                          "Q8_0 Q2_K Q3_K Q4_K Q5_K Q6_K)", ember_ggml_type_name(type));
    ember_gguf *g = NULL;
    ember_status s = ember_gguf_open(in_path, &g);
    if (s) return s;
    ember_gguf_writer *w = NULL;
    int64_t nt = ember_gguf_tensor_count(g);
    qz q = {.in = g, .types = ember_calloc((size_t)(nt ? nt : 1), sizeof(ember_ggml_type)), .pool = pool,
            .progress = progress, .progress_user = progress_user};
    if (!q.types) s = ember_fail(EMBER_ERR_NOMEM, "out of memory");
    if (!s) s = ember_gguf_writer_create(&w);
    for (int64_t i = 0; !s && i < ember_gguf_kv_count(g); i++) s = ember_gguf_writer_copy_kv(w, g, i);
    if (!s) s = ember_gguf_writer_set_u32(w, "general.file_type", (uint32_t)file_type_code(type));
    if (!s && ember_gguf_alignment(g) != EMBER_GGUF_DEFAULT_ALIGNMENT)
        s = ember_gguf_writer_set_alignment(w, ember_gguf_alignment(g));
    for (int64_t i = 0; !s && i < nt; i++) {
        const ember_gguf_tensor *t = ember_gguf_tensor_at(g, i);
        q.types[i] = target(t, type);
        if (q.types[i] != t->type && !quant_type_get(t->type))
            s = ember_fail(EMBER_ERR_UNSUPPORTED, "%s: tensor '%s' has type %s, which Ember cannot convert", in_path,
                           t->name, ember_ggml_type_name(t->type));
        else s = ember_gguf_writer_add_tensor(w, t->name, q.types[i], t->ndim, t->dims,
                                              q.types[i] == t->type ? t->data : NULL);
        if (q.types[i] != t->type) q.to_convert++;
    }
    if (!s) s = ember_gguf_writer_write(w, out_path, fill, &q);
    ember_gguf_writer_destroy(w);
    ember_free(q.types);
    ember_gguf_close(g);
    return s;
}
