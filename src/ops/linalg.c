/* Linear algebra: ONNX Einsum (12) and Det (11). Einsum is a scalar reference over the full index space
 * (every label of the equation, ellipsis broadcasting, repeated labels as diagonals, implicit output);
 * Det uses LU decomposition with partial pivoting in double. */
#include "ops/op.h"

#include <ctype.h>

#define EIN_MAX_IN 8
#define EIN_LABELS (52 + EMBER_MAX_DIMS) /* a-z, A-Z, then ellipsis dims */

typedef struct {
    int nin;
    int nlab[EIN_MAX_IN]; /* per input: labels per dim */
    int lab[EIN_MAX_IN][EMBER_MAX_DIMS];
    int nout, out[EMBER_MAX_DIMS];
    int64_t size[EIN_LABELS];
    bool seen[EIN_LABELS];
    int nell; /* broadcast ellipsis rank */
} einsum_eq;

static int label_of(char ch) {
    return ch >= 'a' && ch <= 'z' ? ch - 'a' : ch >= 'A' && ch <= 'Z' ? 26 + ch - 'A' : -1;
}

/* Parse one term ("ab...c") against a tensor of rank ndim (ndim < 0: output term, ellipsis = nell dims). */
static ember_status parse_term(const char *s, const char *e, int ndim, int nell_max, int *labs, int *nl,
                               int *nell) {
    int n = 0, before = 0;
    bool ell = false;
    for (const char *p = s; p < e; p++) {
        if (*p == ' ') continue;
        if (*p == '.') {
            if (ell || e - p < 3 || p[1] != '.' || p[2] != '.')
                return ember_fail(EMBER_ERR_FORMAT, "Einsum: malformed ellipsis");
            ell = true;
            before = n;
            p += 2;
            continue;
        }
        int l = label_of(*p);
        if (l < 0) return ember_fail(EMBER_ERR_FORMAT, "Einsum: invalid character '%c' in the equation", *p);
        if (n >= EMBER_MAX_DIMS)
            return ember_fail(EMBER_ERR_UNSUPPORTED, "Einsum: too many labels in a term");
        labs[n++] = l;
    }
    int ne = 0;
    if (ell) {
        ne = ndim >= 0 ? ndim - n : nell_max;
        if (ne < 0 || n + ne > EMBER_MAX_DIMS)
            return ember_fail(EMBER_ERR_SHAPE, "Einsum: term does not match the input's rank %d", ndim);
        memmove(labs + before + ne, labs + before, sizeof(int) * (size_t)(n - before));
        for (int i = 0; i < ne; i++)
            labs[before + i] = 52 + (nell_max - ne) + i; /* right-aligned ellipsis dims */
        n += ne;
    } else if (ndim >= 0 && ndim != n) {
        return ember_fail(EMBER_ERR_SHAPE, "Einsum: term has %d labels but the input has rank %d", n, ndim);
    }
    *nl = n;
    *nell = ne;
    return EMBER_OK;
}

static ember_status einsum_parse(const eo_ctx *c, einsum_eq *q) {
    const char *eq = eo_attr_str(c, "equation", NULL);
    if (!eq) return ember_fail(EMBER_ERR_FORMAT, "Einsum needs the 'equation' attribute");
    memset(q, 0, sizeof *q);
    q->nin = c->nin;
    if (q->nin < 1 || q->nin > EIN_MAX_IN)
        return ember_fail(EMBER_ERR_UNSUPPORTED, "Einsum: %d inputs (1 to %d supported)", q->nin, EIN_MAX_IN);
    const char *arrow = strstr(eq, "->"), *end = arrow ? arrow : eq + strlen(eq);
    /* the largest ellipsis rank first, so that ellipsis labels can be right-aligned */
    const char *p = eq;
    int nmax = 0;
    for (int i = 0; i < q->nin; i++) {
        const char *comma = memchr(p, ',', (size_t)(end - p));
        const char *te = i == q->nin - 1 ? end : comma;
        if (!te || (i == q->nin - 1 && comma))
            return ember_fail(EMBER_ERR_FORMAT,
                              "Einsum: equation has a different number of terms than the %d inputs", q->nin);
        int labs[EMBER_MAX_DIMS], nl, ne;
        ember_status s = parse_term(p, te, eo_in(c, i)->ndim, EMBER_MAX_DIMS, labs, &nl, &ne);
        if (s) return s;
        if (ne > nmax) nmax = ne;
        p = te + 1;
    }
    q->nell = nmax;
    p = eq;
    for (int i = 0; i < q->nin; i++) {
        const char *te = i == q->nin - 1 ? end : memchr(p, ',', (size_t)(end - p));
        const ember_tensor *t = eo_in(c, i);
        int ne;
        ember_status s = parse_term(p, te, t->ndim, nmax, q->lab[i], &q->nlab[i], &ne);
        if (s) return s;
        for (int d = 0; d < t->ndim; d++) {
            int l = q->lab[i][d];
            int64_t sz = t->shape[d];
            if (!q->seen[l] || q->size[l] == 1)
                q->size[l] = sz;
            else if (sz != 1 && sz != q->size[l])
                return ember_fail(EMBER_ERR_SHAPE, "Einsum: label '%c' has sizes %lld and %lld",
                                  l < 26   ? 'a' + l
                                  : l < 52 ? 'A' + l - 26
                                           : '.',
                                  (long long)q->size[l], (long long)sz);
            q->seen[l] = true;
        }
        p = te + 1;
    }
    if (arrow) {
        int ne;
        ember_status s =
            parse_term(arrow + 2, arrow + 2 + strlen(arrow + 2), -1, nmax, q->out, &q->nout, &ne);
        if (s) return s;
        for (int i = 0; i < q->nout; i++)
            if (!q->seen[q->out[i]] && q->out[i] < 52)
                return ember_fail(EMBER_ERR_FORMAT, "Einsum: output label not in any input");
    } else { /* implicit: ellipsis dims, then labels seen exactly once, alphabetically */
        int count[EIN_LABELS] = {0};
        for (int i = 0; i < q->nin; i++)
            for (int d = 0; d < q->nlab[i]; d++) count[q->lab[i][d]]++;
        for (int l = 0; l < nmax; l++) q->out[q->nout++] = 52 + l;
        for (int k = 0; k < 52; k++) {
            int l = k < 26 ? 26 + k : k - 26; /* uppercase sorts before lowercase */
            if (count[l] == 1) q->out[q->nout++] = l;
        }
    }
    if (q->nout > EMBER_MAX_DIMS) return ember_fail(EMBER_ERR_UNSUPPORTED, "Einsum: output rank too large");
    for (int i = 0; i < q->nout; i++)
        for (int j = 0; j < i; j++)
            if (q->out[i] == q->out[j])
                return ember_fail(EMBER_ERR_FORMAT, "Einsum: an output label appears twice");
    return EMBER_OK;
}

ember_status einsum_infer(eo_ctx *c) {
    ember_status chk = eo_check_inputs(c, c->nin);
    if (chk) return chk;
    einsum_eq q;
    ember_status s = einsum_parse(c, &q);
    if (s) return s;
    for (int i = 1; i < c->nin; i++)
        if (eo_dtype(c, i) != eo_dtype(c, 0))
            return ember_fail(EMBER_ERR_SHAPE, "Einsum: inputs must have the same type");
    int64_t shape[EMBER_MAX_DIMS];
    for (int i = 0; i < q.nout; i++) shape[i] = q.seen[q.out[i]] ? q.size[q.out[i]] : 1;
    return eo_set_out(c, 0, eo_dtype(c, 0), q.nout, shape);
}

ember_status einsum_run(eo_ctx *c) {
    einsum_eq q;
    ember_status s = einsum_parse(c, &q);
    if (s) return s;
    ember_tensor *y = eo_out(c, 0);
    /* all labels: output ones first, then the summed ones */
    int all[EIN_LABELS], nall = 0;
    bool used[EIN_LABELS] = {false};
    for (int i = 0; i < q.nout; i++) {
        all[nall++] = q.out[i];
        used[q.out[i]] = true;
    }
    for (int i = 0; i < q.nin; i++)
        for (int d = 0; d < q.nlab[i]; d++)
            if (!used[q.lab[i][d]]) {
                used[q.lab[i][d]] = true;
                all[nall++] = q.lab[i][d];
            }
    int64_t size[EIN_LABELS], val[EIN_LABELS] = {0};
    for (int k = 0; k < nall; k++) size[k] = q.seen[all[k]] ? q.size[all[k]] : 1;
    /* strides of each input per label position in `all` (0 where broadcast or absent) */
    int64_t stride[EIN_MAX_IN][EIN_LABELS];
    memset(stride, 0, sizeof stride);
    for (int i = 0; i < q.nin; i++) {
        const ember_tensor *t = eo_in(c, i);
        int64_t st[EMBER_MAX_DIMS];
        ember_shape_strides(t->ndim, t->shape, st);
        for (int d = 0; d < t->ndim; d++)
            for (int k = 0; k < nall; k++)
                if (all[k] == q.lab[i][d] && t->shape[d] != 1) stride[i][k] += st[d];
    }
    int64_t nouter = 1, ninner = 1;
    for (int k = 0; k < q.nout; k++) nouter *= size[k];
    for (int k = q.nout; k < nall; k++) ninner *= size[k];
    /* inputs as doubles once; offsets move incrementally as the label counters advance */
    const double *in[EIN_MAX_IN];
    double *buf = NULL;
    int64_t total = 0;
    for (int i = 0; i < q.nin; i++) total += ember_tensor_count(eo_in(c, i));
    if (eo_dtype(c, 0) != EMBER_DTYPE_F64 && !(buf = eo_scratch(c, sizeof(double) * (size_t)(total + 1))))
        return ember_fail(EMBER_ERR_NOMEM, "out of memory");
    int64_t at = 0;
    for (int i = 0; i < q.nin; i++) {
        const ember_tensor *t = eo_in(c, i);
        int64_t n = ember_tensor_count(t);
        if (!buf) {
            in[i] = t->data;
            continue;
        }
        for (int64_t e = 0; e < n; e++) buf[at + e] = eo_get(t, e);
        in[i] = buf + at;
        at += n;
    }
    for (int64_t o = 0; o < nouter; o++) {
        int64_t r = o, off[EIN_MAX_IN] = {0};
        for (int k = q.nout - 1; k >= 0; k--) {
            val[k] = r % size[k];
            r /= size[k];
        }
        for (int i = 0; i < q.nin; i++)
            for (int k = 0; k < q.nout; k++) off[i] += val[k] * stride[i][k];
        double acc = 0;
        for (int k = q.nout; k < nall; k++) val[k] = 0;
        for (int64_t it = 0; it < ninner; it++) {
            double prod = in[0][off[0]];
            for (int i = 1; i < q.nin; i++) prod *= in[i][off[i]];
            acc += prod;
            for (int k = nall - 1; k >= q.nout; k--) { /* advance the summed labels, odometer style */
                for (int i = 0; i < q.nin; i++) off[i] += stride[i][k];
                if (++val[k] < size[k]) break;
                for (int i = 0; i < q.nin; i++) off[i] -= stride[i][k] * size[k];
                val[k] = 0;
            }
        }
        eo_put(y, o, acc);
    }
    return EMBER_OK;
}

/* --- Det ---------------------------------------------------------------------------------------------- */
ember_status det_infer(eo_ctx *c) {
    ember_status chk = eo_check_inputs(c, 1);
    if (chk) return chk;
    const ember_tensor *x = eo_in(c, 0);
    if (x->ndim < 2 || x->shape[x->ndim - 1] != x->shape[x->ndim - 2])
        return ember_fail(EMBER_ERR_SHAPE, "Det: input must be [*, M, M]");
    if (!ember_dtype_is_float(x->dtype))
        return ember_fail(EMBER_ERR_UNSUPPORTED, "Det of %s (floating point only)",
                          ember_dtype_name(x->dtype));
    return eo_set_out(c, 0, x->dtype, x->ndim - 2, x->shape);
}

ember_status det_run(eo_ctx *c) {
    const ember_tensor *x = eo_in(c, 0);
    ember_tensor *y = eo_out(c, 0);
    int64_t M = x->shape[x->ndim - 1], batch = ember_shape_count(x->ndim - 2, x->shape);
    double *a = eo_scratch(c, sizeof(double) * (size_t)(M * M + 1));
    if (!a) return ember_fail(EMBER_ERR_NOMEM, "out of memory");
    for (int64_t b = 0; b < batch; b++) {
        for (int64_t i = 0; i < M * M; i++) a[i] = eo_get(x, b * M * M + i);
        double det = 1;
        for (int64_t k = 0; k < M && det != 0; k++) {
            int64_t piv = k;
            for (int64_t i = k + 1; i < M; i++)
                if (fabs(a[i * M + k]) > fabs(a[piv * M + k])) piv = i;
            if (a[piv * M + k] == 0) {
                det = 0;
                break;
            }
            if (piv != k) {
                for (int64_t j = 0; j < M; j++) {
                    double t = a[k * M + j];
                    a[k * M + j] = a[piv * M + j];
                    a[piv * M + j] = t;
                }
                det = -det;
            }
            det *= a[k * M + k];
            for (int64_t i = k + 1; i < M; i++) {
                double f = a[i * M + k] / a[k * M + k];
                for (int64_t j = k; j < M; j++) a[i * M + j] -= f * a[k * M + j];
            }
        }
        eo_put(y, b, det);
    }
    return EMBER_OK;
}
