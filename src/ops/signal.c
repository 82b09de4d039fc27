/* Signal processing: ONNX DFT (17, 20), STFT (17), HannWindow, HammingWindow, BlackmanWindow (17),
 * MelWeightMatrix (17). Transforms run in double precision: a radix-2 FFT for power-of-two lengths, the
 * direct O(n^2) sum (the reference) for any other length. Complex values are a trailing dimension of 2. */
#include "ops/op.h"

#ifndef M_PI
#define M_PI 3.14159265358979323846
#endif

/* out[k] = sum_t in[t] * exp(sign * 2*pi*i * k*t / n), k in [0, nout), t in [0, nin) (nin <= n). */
static void dft_line(const double *re, const double *im, int64_t nin, int64_t n, int64_t nout, double sign,
                     const double *cs, const double *sn, double *ore, double *oim) {
    for (int64_t k = 0; k < nout; k++) {
        double sr = 0, si = 0;
        int64_t p = 0; /* (k * t) mod n, updated incrementally */
        for (int64_t t = 0; t < nin; t++) {
            double c = cs[p], s = sign * sn[p];
            sr += re[t] * c - im[t] * s;
            si += re[t] * s + im[t] * c;
            p += k;
            if (p >= n) p %= n;
        }
        ore[k] = sr;
        oim[k] = si;
    }
}

/* In-place radix-2 FFT for n a power of two (same sign convention and twiddle table as dft_line). */
static void fft_pow2(double *re, double *im, int64_t n, double sign, const double *cs, const double *sn) {
    for (int64_t i = 1, j = 0; i < n; i++) { /* bit-reversal permutation */
        int64_t bit = n >> 1;
        for (; j & bit; bit >>= 1) j ^= bit;
        j ^= bit;
        if (i < j) {
            double t = re[i];
            re[i] = re[j], re[j] = t;
            t = im[i];
            im[i] = im[j], im[j] = t;
        }
    }
    for (int64_t len = 2; len <= n; len <<= 1) {
        int64_t half = len / 2, step = n / len;
        for (int64_t i = 0; i < n; i += len)
            for (int64_t k = 0; k < half; k++) {
                double wr = cs[k * step], wi = sign * sn[k * step];
                int64_t a = i + k, b = a + half;
                double tr = re[b] * wr - im[b] * wi, ti = re[b] * wi + im[b] * wr;
                re[b] = re[a] - tr, im[b] = im[a] - ti;
                re[a] += tr, im[a] += ti;
            }
    }
}

static bool is_pow2(int64_t n) {
    return n > 0 && (n & (n - 1)) == 0;
}

/* Transform re/im (nin values, zero beyond, buffers of n) into ore/oim[0, nout): FFT when n is a power of
 * two (re/im are overwritten), the direct sum otherwise. */
static void transform(double *re, double *im, int64_t nin, int64_t n, int64_t nout, double sign,
                      const double *tw, double *ore, double *oim) {
    if (is_pow2(n)) {
        for (int64_t t = nin; t < n; t++) re[t] = im[t] = 0;
        fft_pow2(re, im, n, sign, tw, tw + n);
        memcpy(ore, re, sizeof(double) * (size_t)nout);
        memcpy(oim, im, sizeof(double) * (size_t)nout);
        return;
    }
    dft_line(re, im, nin, n, nout, sign, tw, tw + n, ore, oim);
}

static double *twiddles(eo_ctx *c, int64_t n) {
    double *t = eo_scratch(c, sizeof(double) * (size_t)(2 * n + 2));
    if (!t) return NULL;
    for (int64_t i = 0; i < n; i++) {
        t[i] = cos(2 * M_PI * (double)i / (double)n);
        t[n + i] = sin(2 * M_PI * (double)i / (double)n);
    }
    return t;
}

/* --- DFT ---------------------------------------------------------------------------------------------- */
typedef struct {
    int axis;
    int64_t n; /* transform length */
    bool inverse, onesided;
    int64_t out_len, out_last;
} dft_p;

static ember_status dft_params(const eo_ctx *c, dft_p *p) {
    const ember_tensor *x = eo_in(c, 0);
    ember_status s;
    if (x->ndim < 2 || (x->shape[x->ndim - 1] != 1 && x->shape[x->ndim - 1] != 2))
        return ember_fail(EMBER_ERR_SHAPE, "DFT: the last dimension must be 1 (real) or 2 (complex)");
    int64_t axis = c->opset >= 20 ? -2 : eo_attr_int(c, "axis", 1);
    if (c->opset >= 20 && eo_has(c, 2)) {
        int n;
        if ((s = eo_in_ints(c, 2, &axis, 1, &n))) return s;
    }
    if (axis < 0) axis += x->ndim;
    if (axis < 0 || axis >= x->ndim - 1)
        return ember_fail(EMBER_ERR_SHAPE, "DFT: axis %lld out of range (not the complex dimension)",
                          (long long)axis);
    p->axis = (int)axis;
    p->inverse = eo_attr_int(c, "inverse", 0) != 0;
    p->onesided = eo_attr_int(c, "onesided", 0) != 0;
    int64_t len = x->shape[axis];
    p->n = p->inverse && p->onesided ? 2 * (len - 1) : len;
    if (eo_has(c, 1) && ember_tensor_count(eo_in(c, 1))) {
        int n;
        if ((s = eo_in_ints(c, 1, &p->n, 1, &n))) return s;
    }
    if (p->n < 1) return ember_fail(EMBER_ERR_SHAPE, "DFT: dft_length must be positive");
    if (p->onesided && !p->inverse && x->shape[x->ndim - 1] == 2)
        return ember_fail(EMBER_ERR_SHAPE, "DFT: onesided output needs a real input");
    p->out_len = p->onesided && !p->inverse ? p->n / 2 + 1 : p->n;
    p->out_last = p->onesided && p->inverse ? 1 : 2;
    return EMBER_OK;
}

ember_status dft_infer(eo_ctx *c) {
    ember_status chk = eo_check_inputs(c, 1);
    if (chk) return chk;
    const ember_tensor *x = eo_in(c, 0);
    dft_p p;
    ember_status s = dft_params(c, &p);
    if (s) return s;
    int64_t shape[EMBER_MAX_DIMS];
    memcpy(shape, x->shape, sizeof(int64_t) * (size_t)x->ndim);
    shape[p.axis] = p.out_len;
    shape[x->ndim - 1] = p.out_last;
    return eo_set_out(c, 0, x->dtype, x->ndim, shape);
}

ember_status dft_run(eo_ctx *c) {
    const ember_tensor *x = eo_in(c, 0);
    ember_tensor *y = eo_out(c, 0);
    dft_p p;
    ember_status s = dft_params(c, &p);
    if (s) return s;
    int64_t len = x->shape[p.axis], comp = x->shape[x->ndim - 1], outer = 1, inner = 1, n = p.n;
    for (int d = 0; d < p.axis; d++) outer *= x->shape[d];
    for (int d = p.axis + 1; d < x->ndim - 1; d++) inner *= x->shape[d];
    double *tw = twiddles(c, n), *buf = eo_scratch(c, sizeof(double) * (size_t)(4 * n + 4));
    if (!tw || !buf) return ember_fail(EMBER_ERR_NOMEM, "out of memory");
    double *re = buf, *im = buf + n, *ore = buf + 2 * n, *oim = buf + 3 * n;
    for (int64_t o = 0; o < outer; o++)
        for (int64_t i = 0; i < inner; i++) {
            int64_t nin = len < n ? len : n;
            memset(buf, 0, sizeof(double) * (size_t)(2 * n));
            for (int64_t t = 0; t < nin; t++) {
                int64_t e = ((o * len + t) * inner + i) * comp;
                re[t] = eo_get(x, e);
                im[t] = comp == 2 ? eo_get(x, e + 1) : 0;
            }
            if (p.inverse && p.onesided) { /* rebuild the full spectrum: X[n-k] = conj(X[k]) */
                for (int64_t k = 1; k < n; k++)
                    if (k >= len && n - k < len) {
                        re[k] = re[n - k];
                        im[k] = -im[n - k];
                    }
                nin = n;
            }
            transform(re, im, nin, n, p.out_len, p.inverse ? 1 : -1, tw, ore, oim);
            for (int64_t k = 0; k < p.out_len; k++) {
                int64_t e = ((o * p.out_len + k) * inner + i) * p.out_last;
                double sc = p.inverse ? 1.0 / (double)n : 1.0;
                eo_put(y, e, ore[k] * sc);
                if (p.out_last == 2) eo_put(y, e + 1, oim[k] * sc);
            }
        }
    return EMBER_OK;
}

/* --- STFT --------------------------------------------------------------------------------------------- */
typedef struct {
    int64_t step, flen, wlen, frames, bins;
} stft_p;

static ember_status stft_params(const eo_ctx *c, stft_p *p) {
    const ember_tensor *x = eo_in(c, 0), *win = eo_in(c, 2);
    ember_status s;
    int n;
    if (x->ndim != 3 || (x->shape[2] != 1 && x->shape[2] != 2))
        return ember_fail(EMBER_ERR_SHAPE, "STFT: signal must be [batch, length, 1 or 2]");
    if ((s = eo_in_ints(c, 1, &p->step, 1, &n))) return s;
    if (win && win->ndim != 1) return ember_fail(EMBER_ERR_SHAPE, "STFT: window must be 1-D");
    p->flen = win ? win->shape[0] : x->shape[1];
    if (eo_has(c, 3) && (s = eo_in_ints(c, 3, &p->flen, 1, &n))) return s;
    p->wlen = win ? win->shape[0] : p->flen;
    if (p->step < 1 || p->flen < 1 || p->wlen > x->shape[1])
        return ember_fail(EMBER_ERR_SHAPE,
                          "STFT: frame_step and frame_length must be positive and fit the signal");
    p->frames = 1 + (x->shape[1] - p->wlen) / p->step;
    bool onesided = eo_attr_int(c, "onesided", 1) != 0;
    if (onesided && x->shape[2] == 2)
        return ember_fail(EMBER_ERR_SHAPE, "STFT: onesided output needs a real signal");
    p->bins = onesided ? p->flen / 2 + 1 : p->flen;
    return EMBER_OK;
}

ember_status stft_infer(eo_ctx *c) {
    ember_status chk = eo_check_inputs(c, 2);
    if (chk) return chk;
    const ember_tensor *x = eo_in(c, 0);
    stft_p p;
    ember_status s = stft_params(c, &p);
    if (s) return s;
    int64_t shape[4] = {x->shape[0], p.frames, p.bins, 2};
    return eo_set_out(c, 0, x->dtype, 4, shape);
}

ember_status stft_run(eo_ctx *c) {
    const ember_tensor *x = eo_in(c, 0), *win = eo_in(c, 2);
    ember_tensor *y = eo_out(c, 0);
    stft_p p;
    ember_status s = stft_params(c, &p);
    if (s) return s;
    int64_t n = p.flen, len = x->shape[1], comp = x->shape[2];
    double *tw = twiddles(c, n), *buf = eo_scratch(c, sizeof(double) * (size_t)(4 * (n + p.wlen) + 4));
    if (!tw || !buf) return ember_fail(EMBER_ERR_NOMEM, "out of memory");
    double *re = buf, *im = buf + n + p.wlen, *ore = im + n + p.wlen, *oim = ore + n + p.wlen;
    int64_t nin = p.wlen < n ? p.wlen : n;
    for (int64_t b = 0; b < x->shape[0]; b++)
        for (int64_t f = 0; f < p.frames; f++) {
            for (int64_t t = 0; t < nin; t++) {
                int64_t e = (b * len + f * p.step + t) * comp;
                double w = win ? eo_get(win, t) : 1;
                re[t] = eo_get(x, e) * w;
                im[t] = comp == 2 ? eo_get(x, e + 1) * w : 0;
            }
            transform(re, im, nin, n, p.bins, -1, tw, ore, oim);
            for (int64_t k = 0; k < p.bins; k++) {
                int64_t e = ((b * p.frames + f) * p.bins + k) * 2;
                eo_put(y, e, ore[k]);
                eo_put(y, e + 1, oim[k]);
            }
        }
    return EMBER_OK;
}

/* --- window functions --------------------------------------------------------------------------------- */
static ember_status out_dtype(const eo_ctx *c, ember_dtype *t) {
    int64_t v = eo_attr_int(c, "output_datatype", EMBER_DTYPE_F32);
    if (v <= 0 || v >= EMBER_DTYPE_COUNT || v == EMBER_DTYPE_STRING || v == EMBER_DTYPE_C64 ||
        v == EMBER_DTYPE_C128)
        return ember_fail(EMBER_ERR_FORMAT, "%s: unsupported output_datatype %lld", c->node->op_type,
                          (long long)v);
    *t = (ember_dtype)v;
    return EMBER_OK;
}

ember_status window_infer(eo_ctx *c) {
    ember_status chk = eo_check_inputs(c, 1);
    if (chk) return chk;
    ember_dtype t;
    double size;
    ember_status s = out_dtype(c, &t);
    if (s || (s = eo_in_scalar(c, 0, &size))) return s;
    if (!(size >= 0 && size < 1e12))
        return ember_fail(EMBER_ERR_SHAPE, "%s: invalid size %g", c->node->op_type, size);
    int64_t n = (int64_t)size;
    return eo_set_out(c, 0, t, 1, &n);
}

static ember_status window_run(eo_ctx *c, double a0, double a1, double a2) {
    ember_tensor *y = eo_out(c, 0);
    int64_t size = y->shape[0];
    double N = eo_attr_int(c, "periodic", 1) ? (double)size : (double)size - 1;
    for (int64_t i = 0; i < size; i++) {
        double v = N > 0 ? a0 - a1 * cos(2 * M_PI * (double)i / N) + a2 * cos(4 * M_PI * (double)i / N)
                         : a0 - a1 + a2;
        eo_put(y, i, v);
    }
    return EMBER_OK;
}

ember_status hann_window_run(eo_ctx *c) {
    return window_run(c, 0.5, 0.5, 0);
}
ember_status hamming_window_run(eo_ctx *c) {
    return window_run(c, 25.0 / 46.0, 21.0 / 46.0, 0);
}
ember_status blackman_window_run(eo_ctx *c) {
    return window_run(c, 0.42, 0.5, 0.08);
}

/* --- MelWeightMatrix ---------------------------------------------------------------------------------- */
ember_status mel_weight_matrix_infer(eo_ctx *c) {
    ember_status chk = eo_check_inputs(c, 5);
    if (chk) return chk;
    ember_dtype t;
    double mel, dftl;
    ember_status s = out_dtype(c, &t);
    if (s || (s = eo_in_scalar(c, 0, &mel)) || (s = eo_in_scalar(c, 1, &dftl))) return s;
    if (!(mel >= 1 && dftl >= 1 && mel < 1e9 && dftl < 1e12))
        return ember_fail(EMBER_ERR_SHAPE, "MelWeightMatrix: num_mel_bins and dft_length must be positive");
    int64_t shape[2] = {(int64_t)dftl / 2 + 1, (int64_t)mel};
    return eo_set_out(c, 0, t, 2, shape);
}

ember_status mel_weight_matrix_run(eo_ctx *c) {
    ember_tensor *y = eo_out(c, 0);
    double rate, lo, hi, dftl;
    ember_status s;
    if ((s = eo_in_scalar(c, 1, &dftl)) || (s = eo_in_scalar(c, 2, &rate)) || (s = eo_in_scalar(c, 3, &lo)) ||
        (s = eo_in_scalar(c, 4, &hi)))
        return s;
    int64_t bins = y->shape[0], nmel = y->shape[1], dl = (int64_t)dftl;
    if (!(rate > 0 && lo >= 0 && hi >= lo))
        return ember_fail(EMBER_ERR_SHAPE, "MelWeightMatrix: need sample_rate > 0 and 0 <= lower <= upper");
    int64_t *fb = eo_scratch(c, sizeof(int64_t) * (size_t)(nmel + 2));
    double *w = eo_scratch(c, sizeof(double) * (size_t)(bins * nmel));
    if (!fb || !w) return ember_fail(EMBER_ERR_NOMEM, "out of memory");
    double lmel = 2595 * log10(1 + lo / 700), hmel = 2595 * log10(1 + hi / 700),
           step = (hmel - lmel) / (double)(nmel + 2);
    for (int64_t i = 0; i < nmel + 2; i++) {
        double hz = 700 * (pow(10, ((double)i * step + lmel) / 2595) - 1);
        double f = floor((double)(dl + 1) * hz / rate);
        fb[i] = f < 0 ? -1 : f > (double)bins ? bins : (int64_t)f; /* NaN -> bins: no weight */
    }
    for (int64_t m = 0; m < nmel; m++) {
        int64_t l = fb[m], ce = fb[m + 1], r = fb[m + 2];
        if (l < 0) return ember_fail(EMBER_ERR_SHAPE, "MelWeightMatrix: negative edge frequency");
        if (ce == l) {
            if (ce < bins) w[ce * nmel + m] = 1;
        } else {
            for (int64_t j = l; j <= ce && j < bins; j++)
                w[j * nmel + m] = (double)(j - l) / (double)(ce - l);
        }
        for (int64_t j = ce; j < r && j < bins; j++) w[j * nmel + m] = (double)(r - j) / (double)(r - ce);
    }
    for (int64_t i = 0; i < bins * nmel; i++) eo_put(y, i, w[i]);
    return EMBER_OK;
}
