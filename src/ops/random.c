/* Random ops: ONNX RandomUniform, RandomUniformLike, RandomNormal, RandomNormalLike, Bernoulli, and Dropout in
 * training mode. With a `seed` attribute the stream is the one NumPy's legacy RandomState(seed) produces
 * (MT19937 seeded with init_genrand, 53-bit doubles, polar Box-Muller), which is what the ONNX reference
 * implementation uses, so seeded models give the reference's values; without a seed every run draws fresh
 * values. */
#include "ops/op.h"

#include <stdatomic.h>
#include <time.h>

typedef struct mt19937 {
    uint32_t mt[624];
    int idx;
    bool has_gauss;
    double gauss;
} mt19937;

static void mt_seed(mt19937 *m, uint32_t seed) {
    m->mt[0] = seed;
    for (int i = 1; i < 624; i++) m->mt[i] = 1812433253u * (m->mt[i - 1] ^ (m->mt[i - 1] >> 30)) + (uint32_t)i;
    m->idx = 624;
    m->has_gauss = false;
}

static uint32_t mt_next(mt19937 *m) {
    if (m->idx >= 624) {
        for (int i = 0; i < 624; i++) {
            uint32_t y = (m->mt[i] & 0x80000000u) | (m->mt[(i + 1) % 624] & 0x7fffffffu);
            m->mt[i] = m->mt[(i + 397) % 624] ^ (y >> 1) ^ (y & 1 ? 0x9908b0dfu : 0);
        }
        m->idx = 0;
    }
    uint32_t y = m->mt[m->idx++];
    y ^= y >> 11;
    y ^= (y << 7) & 0x9d2c5680u;
    y ^= (y << 15) & 0xefc60000u;
    y ^= y >> 18;
    return y;
}

static double mt_double(mt19937 *m) {
    uint32_t a = mt_next(m) >> 5, b = mt_next(m) >> 6;
    return ((double)a * 67108864.0 + (double)b) / 9007199254740992.0;
}

static double mt_gauss(mt19937 *m) {
    if (m->has_gauss) {
        m->has_gauss = false;
        return m->gauss;
    }
    double x1, x2, r2;
    do {
        x1 = 2.0 * mt_double(m) - 1.0;
        x2 = 2.0 * mt_double(m) - 1.0;
        r2 = x1 * x1 + x2 * x2;
    } while (r2 >= 1.0 || r2 == 0.0);
    double f = sqrt(-2.0 * log(r2) / r2);
    m->gauss = f * x1;
    m->has_gauss = true;
    return f * x2;
}

/* Seed from the attribute (a float in ONNX), else from a counter and the clock. */
static void rng_init(const eo_ctx *c, mt19937 *m) {
    const eg_attr *a = eo_attr(c, "seed");
    if (a) {
        double s = a->type == EG_ATTR_FLOAT ? a->f : (double)a->i;
        mt_seed(m, (uint32_t)eo_to_i64(s));
        return;
    }
    static atomic_uint counter;
    unsigned k = atomic_fetch_add(&counter, 1u);
    mt_seed(m, (uint32_t)time(NULL) * 2654435761u ^ (k * 40503u + 1u));
}

/* --- RandomUniform(Like), RandomNormal(Like) ---------------------------------------------------------- */
static ember_dtype rand_dtype(const eo_ctx *c, ember_dtype dflt) {
    int64_t dt = eo_attr_int(c, "dtype", 0);
    return dt > 0 && dt < EMBER_DTYPE_COUNT ? (ember_dtype)dt : dflt;
}

ember_status random_like_infer(eo_ctx *c) {
    ember_status s = eo_check_inputs(c, 1);
    if (s) return s;
    const ember_tensor *x = eo_in(c, 0);
    return eo_set_out(c, 0, rand_dtype(c, x->dtype), x->ndim, x->shape);
}

ember_status random_infer(eo_ctx *c) {
    const int64_t *shape;
    int n = eo_attr_ints(c, "shape", &shape);
    if (n < 0 || n > EMBER_MAX_DIMS) return ember_fail(EMBER_ERR_FORMAT, "needs a 'shape' attribute");
    return eo_set_out(c, 0, rand_dtype(c, EMBER_DTYPE_F32), n, shape);
}

ember_status random_uniform_run(eo_ctx *c) {
    ember_tensor *y = eo_out(c, 0);
    if (!y) return EMBER_OK; /* output unused */
    mt19937 m;
    rng_init(c, &m);
    double lo = eo_attr_float(c, "low", 0), hi = eo_attr_float(c, "high", 1);
    int64_t n = ember_tensor_count(y);
    for (int64_t i = 0; i < n; i++) eo_put(y, i, lo + (hi - lo) * mt_double(&m));
    return EMBER_OK;
}

ember_status random_normal_run(eo_ctx *c) {
    ember_tensor *y = eo_out(c, 0);
    if (!y) return EMBER_OK; /* output unused */
    mt19937 m;
    rng_init(c, &m);
    double mean = eo_attr_float(c, "mean", 0), scale = eo_attr_float(c, "scale", 1);
    int64_t n = ember_tensor_count(y);
    for (int64_t i = 0; i < n; i++) eo_put(y, i, mean + scale * mt_gauss(&m));
    return EMBER_OK;
}

/* --- Bernoulli ---------------------------------------------------------------------------------------- */
/* NumPy's legacy binomial(1, p): inversion on min(p, 1-p), redrawing when rounding overshoots. */
static double binomial_inversion(mt19937 *m, double p) {
    double q = 1.0 - p, qn = exp(log(q)), np1 = p;
    double bound = fmin(1.0, np1 + 10.0 * sqrt(np1 * q + 1));
    int x = 0;
    double px = qn, u = mt_double(m);
    while (u > px) {
        x++;
        if (x > bound) {
            x = 0;
            px = qn;
            u = mt_double(m);
        } else {
            u -= px;
            px = ((1 - x + 1) * p * px) / (x * q);
        }
    }
    return x;
}

static double bernoulli_draw(mt19937 *m, double p) {
    if (!(p > 0)) return 0;
    if (p >= 1) return 1;
    return p <= 0.5 ? binomial_inversion(m, p) : 1 - binomial_inversion(m, 1.0 - p);
}

ember_status bernoulli_run(eo_ctx *c) {
    const ember_tensor *x = eo_in(c, 0);
    ember_tensor *y = eo_out(c, 0);
    if (!y) return EMBER_OK; /* output unused */
    mt19937 m;
    rng_init(c, &m);
    int64_t n = ember_tensor_count(x);
    for (int64_t i = 0; i < n; i++) eo_put(y, i, bernoulli_draw(&m, eo_get(x, i)));
    return EMBER_OK;
}

/* --- Dropout (opset 12+: training_mode input) --------------------------------------------------------- */
ember_status dropout_train_infer(eo_ctx *c) {
    if (!eo_has(c, 0) || c->in[0]->kind != EV_TENSOR) return ember_fail(EMBER_ERR_SHAPE, "Dropout: input 0 must be a tensor");
    for (int i = 1; i < 3; i++)
        if (eo_has(c, i) && (c->in[i]->kind != EV_TENSOR || ember_tensor_count(&c->in[i]->t) < 1))
            return ember_fail(EMBER_ERR_SHAPE, "Dropout: input %d must be a scalar", i);
    return dropout_infer(c); /* shape.c */
}

ember_status dropout_train_run(eo_ctx *c) {
    double training = 0, ratio = 0.5;
    ember_status s;
    if (eo_has(c, 2) && (s = eo_in_scalar(c, 2, &training))) return s;
    if (eo_has(c, 1) && (s = eo_in_scalar(c, 1, &ratio))) return s;
    if (training == 0 || ratio == 0) {
        if (eo_out(c, 0)) return dropout_run(c); /* shape.c: identity, mask all true */
        ember_tensor *mask = eo_out(c, 1);
        if (mask) memset(mask->data, 1, mask->nbytes);
        return EMBER_OK;
    }
    if (!(ratio >= 0 && ratio < 1)) return ember_fail(EMBER_ERR_SHAPE, "Dropout: ratio %g must be in [0, 1)", ratio);
    const ember_tensor *x = eo_in(c, 0);
    ember_tensor *y = eo_out(c, 0), *mask = eo_out(c, 1);
    mt19937 m;
    rng_init(c, &m);
    double scale = 1.0 / (1.0 - ratio);
    int64_t n = ember_tensor_count(x);
    for (int64_t i = 0; i < n; i++) {
        bool keep = mt_double(&m) >= ratio;
        if (y) eo_put(y, i, keep ? eo_get(x, i) * scale : 0.0);
        if (mask) ((uint8_t *)mask->data)[i] = keep;
    }
    return EMBER_OK;
}
