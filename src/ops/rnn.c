/* Recurrent layers: ONNX RNN, GRU, LSTM (opsets 7-22): forward/reverse/bidirectional, layout 0/1,
 * sequence_lens, initial states, peepholes, clip, linear_before_reset, input_forget and every activation
 * the spec lists. A scalar reference in double precision (these layers are small in the models Ember
 * targets); every float type goes through it. */
#include "ops/op.h"

#include <stdio.h>
#include <stdlib.h>

enum { K_RNN = 1, K_GRU = 3, K_LSTM = 4 };

typedef struct act {
    char name[20];
    double alpha, beta;
} act;

static double act_apply(const act *a, double x) {
    const char *n = a->name;
    if (!strcmp(n, "sigmoid")) return 1.0 / (1.0 + exp(-x));
    if (!strcmp(n, "tanh")) return tanh(x);
    if (!strcmp(n, "relu")) return x > 0 ? x : 0;
    if (!strcmp(n, "affine")) return a->alpha * x + a->beta;
    if (!strcmp(n, "leakyrelu")) return x >= 0 ? x : a->alpha * x;
    if (!strcmp(n, "thresholdedrelu")) return x > a->alpha ? x : 0;
    if (!strcmp(n, "scaledtanh")) return a->alpha * tanh(a->beta * x);
    if (!strcmp(n, "hardsigmoid")) {
        double v = a->alpha * x + a->beta;
        return v < 0 ? 0 : v > 1 ? 1 : v;
    }
    if (!strcmp(n, "elu")) return x >= 0 ? x : a->alpha * (exp(x) - 1);
    if (!strcmp(n, "softsign")) return x / (1 + fabs(x));
    if (!strcmp(n, "softplus")) return log1p(exp(x));
    return x;
}

static bool act_known(const char *n) {
    static const char *names[] = {"sigmoid", "tanh", "relu", "affine", "leakyrelu", "thresholdedrelu", "scaledtanh",
                                  "hardsigmoid", "elu", "softsign", "softplus"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (!strcmp(n, names[i])) return true;
    return false;
}

/* Defaults per spec when the attribute does not set them. */
static void act_default(act *a, const char *name) {
    memset(a, 0, sizeof *a);
    snprintf(a->name, sizeof a->name, "%s", name);
    if (!strcmp(name, "leakyrelu")) a->alpha = 0.01;
    else if (!strcmp(name, "thresholdedrelu") || !strcmp(name, "elu") || !strcmp(name, "scaledtanh") ||
             !strcmp(name, "affine")) a->alpha = 1.0, a->beta = !strcmp(name, "scaledtanh") ? 1.0 : 0.0;
    else if (!strcmp(name, "hardsigmoid")) a->alpha = 0.2, a->beta = 0.5;
}

typedef struct rnn_cfg {
    int kind, ndir, layout;
    int64_t T, B, I, H;
    act acts[2][3];
    double clip;
    bool lbr, input_forget;
} rnn_cfg;

static ember_status rnn_config(eo_ctx *c, int kind, rnn_cfg *r) {
    memset(r, 0, sizeof *r);
    r->kind = kind;
    ember_status st = eo_check_inputs(c, 3);
    if (st) return st;
    const ember_tensor *x = eo_in(c, 0), *w = eo_in(c, 1), *rr = eo_in(c, 2);
    if (!x || !w || !rr || x->ndim != 3 || w->ndim != 3 || rr->ndim != 3)
        return ember_fail(EMBER_ERR_SHAPE, "X, W and R must be rank-3 tensors");
    r->layout = (int)eo_attr_int(c, "layout", 0);
    const char *dir = eo_attr_str(c, "direction", "forward");
    r->ndir = !strcmp(dir, "bidirectional") ? 2 : 1;
    if (strcmp(dir, "forward") && strcmp(dir, "reverse") && r->ndir == 1)
        return ember_fail(EMBER_ERR_FORMAT, "direction '%s'", dir);
    r->T = x->shape[r->layout ? 1 : 0];
    r->B = x->shape[r->layout ? 0 : 1];
    r->I = x->shape[2];
    r->H = eo_attr_int(c, "hidden_size", rr->shape[2]);
    if (w->shape[0] != r->ndir || w->shape[1] != kind * r->H || w->shape[2] != r->I || rr->shape[0] != r->ndir ||
        rr->shape[1] != kind * r->H || rr->shape[2] != r->H)
        return ember_fail(EMBER_ERR_SHAPE, "W/R shapes do not match %d direction(s), hidden %lld, input %lld", r->ndir,
                          (long long)r->H, (long long)r->I);
    r->clip = eo_attr_float(c, "clip", 0);
    r->lbr = eo_attr_int(c, "linear_before_reset", 0) != 0;
    r->input_forget = eo_attr_int(c, "input_forget", 0) != 0;
    int nact = kind == K_RNN ? 1 : kind == K_GRU ? 2 : 3;
    static const char *defaults[3][3] = {{"tanh"}, {"sigmoid", "tanh"}, {"sigmoid", "tanh", "tanh"}};
    const char *const *dflt = defaults[kind == K_RNN ? 0 : kind == K_GRU ? 1 : 2];
    const eg_attr *an = eo_attr(c, "activations");
    const float *al = NULL, *be = NULL;
    int nal = eo_attr_floats(c, "activation_alpha", &al), nbe = eo_attr_floats(c, "activation_beta", &be);
    for (int d = 0; d < r->ndir; d++)
        for (int k = 0; k < nact; k++) {
            int idx = d * nact + k;
            char name[20];
            const char *src = an && an->type == EG_ATTR_STRINGS && idx < an->n ? an->strs[idx] : dflt[k];
            size_t l = 0;
            for (; src[l] && l + 1 < sizeof name; l++) name[l] = (char)(src[l] >= 'A' && src[l] <= 'Z' ? src[l] + 32 : src[l]);
            name[l] = 0;
            if (!act_known(name)) return ember_fail(EMBER_ERR_UNSUPPORTED, "activation '%s'", src);
            act_default(&r->acts[d][k], name);
            if (idx < nal) r->acts[d][k].alpha = al[idx];
            if (idx < nbe) r->acts[d][k].beta = be[idx];
        }
    return EMBER_OK;
}

static ember_status rnn_infer_kind(eo_ctx *c, int kind) {
    rnn_cfg r;
    ember_status s = rnn_config(c, kind, &r);
    if (s) return s;
    ember_dtype t = eo_dtype(c, 0);
    int64_t y[4] = {r.T, r.ndir, r.B, r.H}, h[3] = {r.ndir, r.B, r.H};
    if (r.layout) {
        y[0] = r.B, y[1] = r.T, y[2] = r.ndir;
        h[0] = r.B, h[1] = r.ndir;
    }
    s = eo_set_out(c, 0, t, 4, y);
    if (!s) s = eo_set_out(c, 1, t, 3, h);
    if (!s && kind == K_LSTM) s = eo_set_out(c, 2, t, 3, h);
    return s;
}

ember_status rnn_infer(eo_ctx *c) { return rnn_infer_kind(c, K_RNN); }
ember_status gru_infer(eo_ctx *c) { return rnn_infer_kind(c, K_GRU); }
ember_status lstm_infer(eo_ctx *c) { return rnn_infer_kind(c, K_LSTM); }

static inline double clipv(double v, double clip) { return clip > 0 ? (v < -clip ? -clip : v > clip ? clip : v) : v; }

static ember_status rnn_run_kind(eo_ctx *c, int kind) {
    rnn_cfg r;
    ember_status s = rnn_config(c, kind, &r);
    if (s) return s;
    int64_t T = r.T, B = r.B, I = r.I, H = r.H, G = kind, nd = r.ndir;
    if (c->nscratch) return ember_fail(EMBER_ERR_INTERNAL, "scratch in use");
    /* one scratch block for everything (eo_scratch holds only a few allocations) */
    int64_t nx = T * B * I, nw = nd * G * H * I, nr = nd * G * H * H, nb = nd * 2 * G * H, nh = nd * B * H;
    int64_t total = nx + nw + nr + nb + 3 * nh + nd * 3 * H + T * nd * B * H + nh + 2 * G * H + 4 * H;
    double *mem = eo_scratch(c, sizeof(double) * (size_t)total);
    if (!mem) return ember_fail(EMBER_ERR_NOMEM, "out of memory");
    double *X = mem, *W = X + nx, *R = W + nw, *Bi = R + nr, *H0 = Bi + nb, *C0 = H0 + nh, *Cs = C0 + nh, *P = Cs + nh;
    double *Y = P + nd * 3 * H, *Hs = Y + T * nd * B * H, *gx = Hs + nh, *gh = gx + G * H, *tmp = gh + G * H;
    const ember_tensor *x = eo_in(c, 0);
    for (int64_t t = 0; t < T; t++) /* X as [T, B, I] */
        for (int64_t b = 0; b < B; b++)
            for (int64_t i = 0; i < I; i++)
                X[(t * B + b) * I + i] = eo_get(x, r.layout ? (b * T + t) * I + i : (t * B + b) * I + i);
    for (int64_t k = 0; k < nw; k++) W[k] = eo_get(eo_in(c, 1), k);
    for (int64_t k = 0; k < nr; k++) R[k] = eo_get(eo_in(c, 2), k);
    if (eo_has(c, 3)) {
        if (ember_tensor_count(eo_in(c, 3)) != nb) return ember_fail(EMBER_ERR_SHAPE, "B has the wrong size");
        for (int64_t k = 0; k < nb; k++) Bi[k] = eo_get(eo_in(c, 3), k);
    }
    const ember_tensor *sl = eo_in(c, 4);
    if (sl && ember_tensor_count(sl) != B) return ember_fail(EMBER_ERR_SHAPE, "sequence_lens must have %lld values", (long long)B);
    int hi = 5, ci = 6, pi = 7;
    for (int which = 0; which < 2; which++) {
        int idx = which ? ci : hi;
        double *dst = which ? C0 : H0;
        if (which && kind != K_LSTM) break;
        if (!eo_has(c, idx)) continue;
        const ember_tensor *t = eo_in(c, idx);
        if (ember_tensor_count(t) != nh) return ember_fail(EMBER_ERR_SHAPE, "initial state has the wrong size");
        for (int64_t d = 0; d < nd; d++) /* to [dir, B, H] */
            for (int64_t b = 0; b < B; b++)
                for (int64_t h = 0; h < H; h++)
                    dst[(d * B + b) * H + h] = eo_get(t, r.layout ? (b * nd + d) * H + h : (d * B + b) * H + h);
    }
    if (kind == K_LSTM && eo_has(c, pi)) {
        if (ember_tensor_count(eo_in(c, pi)) != nd * 3 * H) return ember_fail(EMBER_ERR_SHAPE, "P has the wrong size");
        for (int64_t k = 0; k < nd * 3 * H; k++) P[k] = eo_get(eo_in(c, pi), k);
    }
    const char *dir = eo_attr_str(c, "direction", "forward");
    memcpy(Hs, H0, sizeof(double) * (size_t)nh);
    memcpy(Cs, C0, sizeof(double) * (size_t)nh);
    for (int64_t d = 0; d < nd; d++) {
        bool reverse = d == 1 || !strcmp(dir, "reverse");
        const double *Wd = W + d * G * H * I, *Rd = R + d * G * H * H, *Wb = Bi + d * 2 * G * H, *Rb = Wb + G * H;
        const double *Pd = P + d * 3 * H;
        const act *A = r.acts[d];
        for (int64_t b = 0; b < B; b++) {
            int64_t len = sl ? eo_to_i64(eo_get(sl, b)) : T;
            if (len > T || len < 0) return ember_fail(EMBER_ERR_SHAPE, "sequence_lens[%lld] = %lld", (long long)b, (long long)len);
            double *h = Hs + (d * B + b) * H, *cc = Cs + (d * B + b) * H;
            for (int64_t step = 0; step < len; step++) {
                int64_t t = reverse ? len - 1 - step : step;
                const double *xt = X + (t * B + b) * I;
                for (int64_t g = 0; g < G * H; g++) {
                    double ax = Wb[g], ah = Rb[g];
                    for (int64_t i = 0; i < I; i++) ax += Wd[g * I + i] * xt[i];
                    for (int64_t k = 0; k < H; k++) ah += Rd[g * H + k] * h[k];
                    gx[g] = ax;
                    gh[g] = ah;
                }
                if (kind == K_RNN) {
                    for (int64_t k = 0; k < H; k++) tmp[k] = act_apply(&A[0], clipv(gx[k] + gh[k], r.clip));
                    memcpy(h, tmp, sizeof(double) * (size_t)H);
                } else if (kind == K_GRU) { /* gates z, r, h */
                    for (int64_t k = 0; k < H; k++) {
                        double z = act_apply(&A[0], clipv(gx[k] + gh[k], r.clip));
                        double rg = act_apply(&A[0], clipv(gx[H + k] + gh[H + k], r.clip));
                        double hh;
                        if (r.lbr) {
                            hh = gx[2 * H + k] + rg * gh[2 * H + k];
                        } else {
                            double acc = Rb[2 * H + k];
                            for (int64_t j = 0; j < H; j++) {
                                double rj = act_apply(&A[0], clipv(gx[H + j] + gh[H + j], r.clip));
                                acc += Rd[(2 * H + k) * H + j] * rj * h[j];
                            }
                            hh = gx[2 * H + k] + acc;
                        }
                        hh = act_apply(&A[1], clipv(hh, r.clip));
                        tmp[k] = (1 - z) * hh + z * h[k];
                    }
                    memcpy(h, tmp, sizeof(double) * (size_t)H);
                } else { /* LSTM gates i, o, f, c; peepholes i, o, f */
                    for (int64_t k = 0; k < H; k++) {
                        double ig = act_apply(&A[0], clipv(gx[k] + gh[k] + Pd[k] * cc[k], r.clip));
                        double fg = r.input_forget ? 1 - ig
                                                   : act_apply(&A[0], clipv(gx[2 * H + k] + gh[2 * H + k] + Pd[2 * H + k] * cc[k], r.clip));
                        double cg = act_apply(&A[1], clipv(gx[3 * H + k] + gh[3 * H + k], r.clip));
                        double cn = fg * cc[k] + ig * cg;
                        double og = act_apply(&A[0], clipv(gx[H + k] + gh[H + k] + Pd[H + k] * cn, r.clip));
                        tmp[k] = og * act_apply(&A[2], cn);
                        tmp[H + k] = cn;
                    }
                    memcpy(h, tmp, sizeof(double) * (size_t)H);
                    memcpy(cc, tmp + H, sizeof(double) * (size_t)H);
                }
                memcpy(Y + ((t * nd + d) * B + b) * H, h, sizeof(double) * (size_t)H);
            }
        }
    }
    ember_tensor *y = eo_out(c, 0), *yh = eo_out(c, 1), *yc = kind == K_LSTM ? eo_out(c, 2) : NULL;
    if (y)
        for (int64_t t = 0; t < T; t++)
            for (int64_t d = 0; d < nd; d++)
                for (int64_t b = 0; b < B; b++)
                    for (int64_t h = 0; h < H; h++) {
                        double v = Y[((t * nd + d) * B + b) * H + h];
                        eo_put(y, r.layout ? ((b * T + t) * nd + d) * H + h : ((t * nd + d) * B + b) * H + h, v);
                    }
    for (int which = 0; which < 2; which++) {
        ember_tensor *o = which ? yc : yh;
        const double *src = which ? Cs : Hs;
        if (!o) continue;
        for (int64_t d = 0; d < nd; d++)
            for (int64_t b = 0; b < B; b++)
                for (int64_t h = 0; h < H; h++)
                    eo_put(o, r.layout ? (b * nd + d) * H + h : (d * B + b) * H + h, src[(d * B + b) * H + h]);
    }
    return EMBER_OK;
}

ember_status rnn_run(eo_ctx *c) { return rnn_run_kind(c, K_RNN); }
ember_status gru_run(eo_ctx *c) { return rnn_run_kind(c, K_GRU); }
ember_status lstm_run(eo_ctx *c) { return rnn_run_kind(c, K_LSTM); }
