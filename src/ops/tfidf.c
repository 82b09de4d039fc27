/* ONNX TfIdfVectorizer (9): counts the n-grams of a pool in each row of an int32/int64/string input, with
 * skips, and weights them (TF, IDF, TFIDF). Pool n-grams are looked up directly (a linear scan per
 * length): a reference implementation, fine for the vocabularies of the node tests. */
#include "ops/op.h"

typedef struct {
    int64_t minn, maxn, maxskip, mode; /* mode: 1 TF, 2 IDF, 3 TFIDF */
    const int64_t *counts, *indexes, *pool_i;
    int ncounts, nindexes, npool;
    const char **pool_s;
    const size_t *pool_slen;
    const float *weights;
    int nweights;
    int64_t out_size;
} tfidf_p;

static ember_status tfidf_params(const eo_ctx *c, tfidf_p *p) {
    const ember_tensor *x = eo_in(c, 0);
    memset(p, 0, sizeof *p);
    p->minn = eo_attr_int(c, "min_gram_length", 0);
    p->maxn = eo_attr_int(c, "max_gram_length", 0);
    p->maxskip = eo_attr_int(c, "max_skip_count", 0);
    const char *mode = eo_attr_str(c, "mode", "");
    p->mode = !strcmp(mode, "TF") ? 1 : !strcmp(mode, "IDF") ? 2 : !strcmp(mode, "TFIDF") ? 3 : 0;
    if (!p->mode)
        return ember_fail(EMBER_ERR_FORMAT, "TfIdfVectorizer: mode must be TF, IDF or TFIDF, not '%s'", mode);
    if (p->minn < 1 || p->maxn < p->minn || p->maxskip < 0)
        return ember_fail(
            EMBER_ERR_FORMAT,
            "TfIdfVectorizer: need 1 <= min_gram_length <= max_gram_length and max_skip_count >= 0");
    p->ncounts = eo_attr_ints(c, "ngram_counts", &p->counts);
    p->nindexes = eo_attr_ints(c, "ngram_indexes", &p->indexes);
    if (p->ncounts < 1 || p->nindexes < 1)
        return ember_fail(EMBER_ERR_FORMAT, "TfIdfVectorizer needs ngram_counts and ngram_indexes");
    const eg_attr *ps = eo_attr(c, "pool_strings");
    if (x->dtype == EMBER_DTYPE_STRING) {
        if (!ps) return ember_fail(EMBER_ERR_FORMAT, "TfIdfVectorizer: string input needs pool_strings");
        p->pool_s = ps->strs;
        p->pool_slen = ps->strlens;
        p->npool = ps->n;
    } else if (x->dtype == EMBER_DTYPE_I32 || x->dtype == EMBER_DTYPE_I64) {
        p->npool = eo_attr_ints(c, "pool_int64s", &p->pool_i);
        if (p->npool < 0)
            return ember_fail(EMBER_ERR_FORMAT, "TfIdfVectorizer: integer input needs pool_int64s");
    } else {
        return ember_fail(EMBER_ERR_UNSUPPORTED, "TfIdfVectorizer of %s", ember_dtype_name(x->dtype));
    }
    p->nweights = eo_attr_floats(c, "weights", &p->weights);
    for (int i = 0; i < p->nindexes; i++) {
        if (p->indexes[i] < 0) return ember_fail(EMBER_ERR_FORMAT, "TfIdfVectorizer: negative ngram index");
        if (p->indexes[i] + 1 > p->out_size) p->out_size = p->indexes[i] + 1;
    }
    for (int i = 0; i < p->ncounts; i++)
        if (p->counts[i] < 0 || p->counts[i] > p->npool || (i && p->counts[i] < p->counts[i - 1]))
            return ember_fail(EMBER_ERR_FORMAT,
                              "TfIdfVectorizer: ngram_counts must be increasing offsets into the pool");
    if (p->nweights >= 0 && p->nweights < p->out_size)
        return ember_fail(EMBER_ERR_FORMAT, "TfIdfVectorizer: fewer weights than outputs");
    if (x->ndim > 2) return ember_fail(EMBER_ERR_SHAPE, "TfIdfVectorizer: input must be [C] or [B, C]");
    return EMBER_OK;
}

ember_status tfidf_infer(eo_ctx *c) {
    ember_status chk = eo_check_inputs(c, 1);
    if (chk) return chk;
    const ember_tensor *x = eo_in(c, 0);
    tfidf_p p;
    ember_status s = tfidf_params(c, &p);
    if (s) return s;
    int64_t shape[2] = {x->ndim == 2 ? x->shape[0] : p.out_size, p.out_size};
    return x->ndim == 2 ? eo_set_out(c, 0, EMBER_DTYPE_F32, 2, shape)
                        : eo_set_out(c, 0, EMBER_DTYPE_F32, 1, shape);
}

static bool item_eq(const ember_tensor *x, int64_t xi, const tfidf_p *p, int64_t pi) {
    if (x->dtype == EMBER_DTYPE_STRING) {
        const char *s = ((char *const *)x->data)[xi];
        return strlen(s) == p->pool_slen[pi] && !memcmp(s, p->pool_s[pi], p->pool_slen[pi]);
    }
    int64_t v = x->dtype == EMBER_DTYPE_I64 ? ((const int64_t *)x->data)[xi] : ((const int32_t *)x->data)[xi];
    return v == p->pool_i[pi];
}

/* n-gram id (0-based over the pool) of the length-n gram at x[start], x[start+d], ...; -1 if absent.
 * A gram listed twice counts for its last id. */
static int64_t find_gram(const ember_tensor *x, int64_t start, int64_t d, int64_t n, const tfidf_p *p) {
    if (n > p->ncounts) return -1;
    int64_t begin = p->counts[n - 1], end = n < p->ncounts ? p->counts[n] : p->npool, id = 0;
    for (int64_t k = 1; k < n; k++) /* ids of the shorter grams come first */
        id += ((k < p->ncounts ? p->counts[k] : p->npool) - p->counts[k - 1]) / k;
    int64_t found = -1;
    for (int64_t g = 0; begin + (g + 1) * n <= end; g++) {
        bool eq = true;
        for (int64_t k = 0; k < n && eq; k++) eq = item_eq(x, start + k * d, p, begin + g * n + k);
        if (eq) found = id + g;
    }
    return found;
}

ember_status tfidf_run(eo_ctx *c) {
    const ember_tensor *x = eo_in(c, 0);
    ember_tensor *y = eo_out(c, 0);
    tfidf_p p;
    ember_status s = tfidf_params(c, &p);
    if (s) return s;
    int64_t rows = x->ndim == 2 ? x->shape[0] : 1, C = x->ndim == 0 ? 1 : x->shape[x->ndim - 1];
    double *freq = eo_scratch(c, sizeof(double) * (size_t)(rows * p.out_size + 1));
    if (!freq) return ember_fail(EMBER_ERR_NOMEM, "out of memory");
    for (int64_t r = 0; r < rows; r++)
        for (int64_t d = 1; d <= p.maxskip + 1; d++) {
            int64_t lo = d == 1 ? p.minn : (p.minn > 2 ? p.minn : 2); /* unigrams count once, not per skip */
            for (int64_t st = 0; st < C; st++)
                for (int64_t n = lo; n <= p.maxn && st + (n - 1) * d < C; n++) {
                    int64_t id = find_gram(x, r * C + st, d, n, &p);
                    if (id >= 0 && id < p.nindexes) freq[r * p.out_size + p.indexes[id]] += 1;
                }
        }
    for (int64_t r = 0; r < rows; r++)
        for (int64_t i = 0; i < p.out_size; i++) {
            double f = freq[r * p.out_size + i], w = p.nweights > 0 ? p.weights[i] : 1;
            eo_put(y, r * p.out_size + i, p.mode == 1 ? f : p.mode == 2 ? (f > 0 ? w : 0) : w * f);
        }
    return EMBER_OK;
}
