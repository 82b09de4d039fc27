/* Model and session setup shared by the LLM verbs. */
#include "cli/llm_cli.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

bool llm_cli_option(const cli_parser *p, llm_cli *c, int key, bool *bad) {
    long v;
    switch (key) {
    case OPT_CTX:
        if (!cli_int(p, p->arg, 1, 1 << 20, &v)) *bad = true;
        c->n_ctx = (int)v;
        return true;
    case OPT_BATCH:
        if (!cli_int(p, p->arg, 1, 1 << 16, &v)) *bad = true;
        c->n_batch = (int)v;
        return true;
    case OPT_KV:
        if (!strcmp(p->arg, "f16")) c->kv = EMBER_LLM_KV_F16;
        else if (!strcmp(p->arg, "q8")) c->kv = EMBER_LLM_KV_Q8;
        else if (!strcmp(p->arg, "f32")) c->kv = EMBER_LLM_KV_F32;
        else {
            cli_usage(p, "--kv must be f16, q8 or f32 (got '%s')", p->arg);
            *bad = true;
        }
        return true;
    default: return false;
    }
}

int llm_cli_open(const cli_parser *p, llm_cli *c) {
    ember_status s = ember_llm_open(c->model_path, &c->model);
    if (!s) s = ember_pool_create(p->threads, &c->pool);
    if (!s) {
        ember_llm_session_options o = ember_llm_session_defaults();
        o.n_ctx = c->n_ctx;
        o.n_batch = c->n_batch;
        o.kv_type = c->kv;
        o.pool = c->pool;
        s = ember_llm_session_create(c->model, &o, &c->session);
    }
    if (s) {
        llm_cli_close(c);
        return cli_fail(s);
    }
    return 0;
}

void llm_cli_close(llm_cli *c) {
    ember_tokenizer_close(c->tok);
    c->tok = NULL;
    ember_llm_session_destroy(c->session);
    ember_pool_destroy(c->pool);
    ember_llm_close(c->model);
    c->session = NULL;
    c->pool = NULL;
    c->model = NULL;
}

bool llm_cli_parse_ids(const char *text, int32_t **ids, int *n) {
    size_t cap = 1;
    for (const char *q = text; *q; q++) cap += *q == ',';
    *n = 0;
    if (!(*ids = malloc(cap * sizeof **ids))) return false;
    for (const char *q = text;;) {
        char *end;
        errno = 0;
        long v = strtol(q, &end, 10);
        if (end == q || errno || v < 0 || v > INT32_MAX || (*end && *end != ',')) break;
        (*ids)[(*n)++] = (int32_t)v;
        if (!*end) return true;
        q = end + 1;
    }
    free(*ids);
    *ids = NULL;
    *n = 0;
    return false;
}

double llm_cli_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static bool parse_float(const cli_parser *p, const char *v, float lo, float hi, float *out) {
    char *end;
    errno = 0;
    float f = strtof(v, &end);
    if (end == v || *end || errno || !isfinite(f) || f < lo || f > hi) {
        cli_usage(p, "'%s' is not a number from %g to %g", v, lo, hi);
        return false;
    }
    *out = f;
    return true;
}

bool llm_cli_sampler_option(const cli_parser *p, ember_sampler_params *sp, int key, bool *bad) {
    long v;
    switch (key) {
    case OPT_TEMP: *bad |= !parse_float(p, p->arg, 0, 100, &sp->temperature); return true;
    case OPT_TOPP: *bad |= !parse_float(p, p->arg, 0, 1, &sp->top_p); return true;
    case OPT_MINP: *bad |= !parse_float(p, p->arg, 0, 1, &sp->min_p); return true;
    case OPT_REPEAT: *bad |= !parse_float(p, p->arg, 0.01f, 100, &sp->repeat_penalty); return true;
    case OPT_PRESENCE: *bad |= !parse_float(p, p->arg, -100, 100, &sp->presence_penalty); return true;
    case OPT_FREQUENCY: *bad |= !parse_float(p, p->arg, -100, 100, &sp->frequency_penalty); return true;
    case OPT_TOPK:
        if (cli_int(p, p->arg, 0, 1 << 24, &v)) sp->top_k = (int)v;
        else *bad = true;
        return true;
    case OPT_LAST_N:
        if (cli_int(p, p->arg, 0, 1 << 20, &v)) sp->penalty_last_n = (int)v;
        else *bad = true;
        return true;
    case OPT_SEED: {
        char *end;
        errno = 0;
        unsigned long long u = strtoull(p->arg, &end, 10);
        if (end == p->arg || *end || errno || p->arg[0] == '-') {
            cli_usage(p, "--seed must be a non-negative integer (got '%s')", p->arg);
            *bad = true;
        }
        sp->seed = u;
        return true;
    }
    default: return false;
    }
}

int llm_cli_open_tokenizer(llm_cli *c, const char *path) {
    const ember_llm_info *in = ember_llm_info_get(c->model);
    ember_status s;
    if (path) s = ember_tokenizer_open(path, &c->tok);
    else if (in->gguf) s = ember_tokenizer_from_gguf(in->gguf, &c->tok);
    else { /* a llama2.c checkpoint: tokenizer.bin in its folder */
        const char *slash = strrchr(c->model_path, '/');
        size_t dir = slash ? (size_t)(slash - c->model_path + 1) : 0;
        char *tp = malloc(dir + 16);
        if (!tp) return cli_fail(ember_fail(EMBER_ERR_NOMEM, "out of memory"));
        memcpy(tp, c->model_path, dir);
        strcpy(tp + dir, "tokenizer.bin");
        FILE *f = fopen(tp, "rb");
        if (f) {
            fclose(f);
            s = ember_tokenizer_open(tp, &c->tok);
        } else {
            s = ember_fail(EMBER_ERR_ARG, "%s is a llama2.c checkpoint without a tokenizer: pass --tokenizer FILE "
                           "(its tokenizer.bin)", c->model_path);
        }
        free(tp);
    }
    if (!s && ember_tokenizer_vocab_size(c->tok) > in->n_vocab)
        s = ember_fail(EMBER_ERR_SHAPE, "the tokenizer has %d tokens but the model only %d: not the model's own (pass it "
                       "with --tokenizer FILE)", ember_tokenizer_vocab_size(c->tok), in->n_vocab);
    return s ? cli_fail(s) : 0;
}

ember_status llm_cli_feed(llm_cli *c, const int32_t *ids, int n, const float **logits) {
    int n_ctx = ember_llm_n_ctx(c->session), pos = ember_llm_pos(c->session);
    if (pos + n > n_ctx) {
        int keep = c->n_keep < pos ? c->n_keep : pos;
        if (n > n_ctx - keep)
            return ember_fail(EMBER_ERR_ARG, "%d tokens do not fit a context of %d (use --ctx)", n, n_ctx);
        int discard = (pos - keep) / 2;
        if (discard < pos + n - n_ctx) discard = pos + n - n_ctx;
        ember_status s = ember_llm_shift(c->session, keep, discard);
        if (s) return s;
    }
    return ember_llm_eval(c->session, ids, n, logits);
}

size_t llm_cli_piece(const llm_cli *c, int32_t prev, int32_t id, char *buf, size_t cap) {
    int n = ember_tokenizer_piece(c->tok, id, buf, cap);
    if (n < 0) return 0;
    size_t len = (size_t)n < cap ? (size_t)n : cap;
    int32_t bos = ember_tokenizer_special(c->tok, EMBER_TOKEN_BOS);
    if (prev >= 0 && prev == bos && len && buf[0] == ' ') {
        memmove(buf, buf + 1, len - 1);
        len--;
    }
    return len;
}

bool llm_stream_push(llm_stream *st, const char *text, size_t n) {
    if (st->stopped) return false;
    if (st->len + n + 1 > st->cap) {
        size_t cap = (st->len + n + 1) * 2;
        char *b = realloc(st->buf, cap);
        if (!b) { /* cannot hold text back: write it */
            fwrite(st->buf, 1, st->len, st->out);
            fwrite(text, 1, n, st->out);
            st->len = 0;
            return true;
        }
        st->buf = b;
        st->cap = cap;
    }
    memcpy(st->buf + st->len, text, n);
    st->len += n;
    st->buf[st->len] = 0;
    /* a complete stop string: write what precedes it, stop */
    size_t cut = st->len;
    for (int i = 0; i < st->nstops; i++) {
        const char *hit = strstr(st->buf, st->stops[i]);
        if (hit && (size_t)(hit - st->buf) < cut) cut = (size_t)(hit - st->buf);
    }
    if (cut < st->len) {
        fwrite(st->buf, 1, cut, st->out);
        fflush(st->out);
        st->len = 0;
        st->stopped = true;
        return false;
    }
    /* hold back the longest tail that begins a stop string */
    size_t hold = 0;
    for (int i = 0; i < st->nstops; i++) {
        size_t sl = strlen(st->stops[i]);
        for (size_t k = sl > st->len ? st->len : sl - 1; k > hold; k--)
            if (!memcmp(st->buf + st->len - k, st->stops[i], k)) {
                hold = k;
                break;
            }
    }
    fwrite(st->buf, 1, st->len - hold, st->out);
    fflush(st->out);
    memmove(st->buf, st->buf + st->len - hold, hold);
    st->len = hold;
    return true;
}

void llm_stream_end(llm_stream *st) {
    if (!st->stopped && st->len) fwrite(st->buf, 1, st->len, st->out);
    fflush(st->out);
    free(st->buf);
    st->buf = NULL;
    st->len = st->cap = 0;
}
