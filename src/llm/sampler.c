/* Next-token sampling: penalties over recent tokens, then top-k, top-p, min-p, temperature, and a seeded draw
 * (the order llama.cpp applies them in); temperature <= 0 is greedy argmax after the penalties. */
#include "ember/llm.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

struct ember_sampler {
    ember_sampler_params p;
    uint64_t rng;
    int32_t *recent; /* ring of the last penalty_last_n tokens */
    int n_recent, head;
    float *logits;   /* work copy */
    int32_t *ids;
    int cap;
};

ember_sampler_params ember_sampler_defaults(void) {
    ember_sampler_params p = {0};
    p.temperature = 0.8f;
    p.top_k = 40;
    p.top_p = 0.95f;
    p.min_p = 0.05f;
    p.repeat_penalty = 1.0f;
    p.penalty_last_n = 64;
    return p;
}

ember_status ember_sampler_create(const ember_sampler_params *p, ember_sampler **out) {
    *out = NULL;
    if (p->penalty_last_n < 0 || p->penalty_last_n > (1 << 20))
        return ember_fail(EMBER_ERR_ARG, "sampler: penalty_last_n %d out of range", p->penalty_last_n);
    if (p->repeat_penalty <= 0) return ember_fail(EMBER_ERR_ARG, "sampler: repeat penalty must be > 0");
    ember_sampler *s = ember_calloc(1, sizeof *s);
    if (!s) return ember_fail(EMBER_ERR_NOMEM, "out of memory");
    s->p = *p;
    s->recent = ember_calloc((size_t)p->penalty_last_n + 1, sizeof *s->recent);
    if (!s->recent) {
        ember_free(s);
        return ember_fail(EMBER_ERR_NOMEM, "out of memory");
    }
    ember_sampler_reset(s);
    *out = s;
    return EMBER_OK;
}

void ember_sampler_destroy(ember_sampler *s) {
    if (!s) return;
    ember_free(s->recent);
    ember_free(s->logits);
    ember_free(s->ids);
    ember_free(s);
}

void ember_sampler_reset(ember_sampler *s) {
    s->n_recent = s->head = 0;
    s->rng = s->p.seed ^ 0x9E3779B97F4A7C15ull;
}

void ember_sampler_accept(ember_sampler *s, int32_t token) {
    int n = s->p.penalty_last_n;
    if (!n) return;
    s->recent[s->head] = token;
    s->head = (s->head + 1) % n;
    if (s->n_recent < n) s->n_recent++;
}

/* splitmix64 -> uniform [0, 1) */
static double uniform(ember_sampler *s) {
    uint64_t z = (s->rng += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    z ^= z >> 31;
    return (double)(z >> 11) / 9007199254740992.0;
}

static void apply_penalties(ember_sampler *s, float *lg, int n_vocab) {
    const ember_sampler_params *p = &s->p;
    if (p->repeat_penalty == 1 && p->presence_penalty == 0 && p->frequency_penalty == 0) return;
    for (int i = 0; i < s->n_recent; i++) {
        int32_t t = s->recent[i];
        if (t < 0 || t >= n_vocab) continue;
        int seen_before = 0, count = 0;
        for (int j = 0; j < s->n_recent; j++) {
            if (s->recent[j] != t) continue;
            if (j < i) seen_before = 1;
            count++;
        }
        if (seen_before) continue; /* each distinct token once */
        lg[t] = lg[t] > 0 ? lg[t] / p->repeat_penalty : lg[t] * p->repeat_penalty;
        lg[t] -= count * p->frequency_penalty + p->presence_penalty;
    }
}

static _Thread_local const float *cmp_logits; /* qsort has no context argument */
static int by_logit_desc(const void *a, const void *b) {
    float x = cmp_logits[*(const int32_t *)a], y = cmp_logits[*(const int32_t *)b];
    return x < y ? 1 : x > y ? -1 : (*(const int32_t *)a - *(const int32_t *)b);
}

/* Move the k largest logits' ids to ids[0..k) (unordered): quickselect. */
static void select_top(int32_t *ids, int n, int k, const float *lg) {
    int lo = 0, hi = n - 1;
    while (lo < hi) {
        float pivot = lg[ids[(lo + hi) / 2]];
        int i = lo, j = hi;
        while (i <= j) {
            while (lg[ids[i]] > pivot) i++;
            while (lg[ids[j]] < pivot) j--;
            if (i <= j) {
                int32_t t = ids[i];
                ids[i++] = ids[j];
                ids[j--] = t;
            }
        }
        if (k - 1 <= j) hi = j;
        else if (k - 1 >= i) lo = i;
        else break;
    }
}

int32_t ember_sampler_sample(ember_sampler *s, const float *logits, int n_vocab) {
    if (n_vocab <= 0) return -1;
    if (s->cap < n_vocab) {
        float *l = ember_realloc(s->logits, (size_t)n_vocab * sizeof *l);
        int32_t *ids = ember_realloc(s->ids, (size_t)n_vocab * sizeof *ids);
        if (l) s->logits = l;
        if (ids) s->ids = ids;
        if (!l || !ids) return -1;
        s->cap = n_vocab;
    }
    float *lg = s->logits;
    memcpy(lg, logits, (size_t)n_vocab * sizeof *lg);
    apply_penalties(s, lg, n_vocab);
    const ember_sampler_params *p = &s->p;
    int32_t pick = 0;
    if (p->temperature <= 0) {
        for (int i = 1; i < n_vocab; i++)
            if (lg[i] > lg[pick]) pick = i;
        ember_sampler_accept(s, pick);
        return pick;
    }
    int32_t *ids = s->ids;
    for (int i = 0; i < n_vocab; i++) ids[i] = i;
    int n = n_vocab;
    if (p->top_k > 0 && p->top_k < n) {
        select_top(ids, n, p->top_k, lg);
        n = p->top_k;
    }
    cmp_logits = lg;
    qsort(ids, (size_t)n, sizeof *ids, by_logit_desc);
    /* probabilities of the survivors (reusing lg for them) */
    float max = lg[ids[0]];
    double sum = 0;
    for (int i = 0; i < n; i++) sum += exp((double)lg[ids[i]] - max);
    if (p->top_p < 1) {
        double cum = 0;
        int keep = n;
        for (int i = 0; i < n; i++) {
            cum += exp((double)lg[ids[i]] - max) / sum;
            if (cum >= p->top_p) {
                keep = i + 1;
                break;
            }
        }
        n = keep;
    }
    if (p->min_p > 0) {
        double floor_logit = max + log(p->min_p); /* p_i >= min_p * p_max  <=>  l_i >= l_max + ln(min_p) */
        int keep = 1;
        while (keep < n && lg[ids[keep]] >= floor_logit) keep++;
        n = keep;
    }
    double total = 0;
    for (int i = 0; i < n; i++) total += exp(((double)lg[ids[i]] - max) / p->temperature);
    double r = uniform(s) * total, acc = 0;
    pick = ids[n - 1];
    for (int i = 0; i < n; i++) {
        acc += exp(((double)lg[ids[i]] - max) / p->temperature);
        if (r < acc) {
            pick = ids[i];
            break;
        }
    }
    ember_sampler_accept(s, pick);
    return pick;
}
