/* Model and session setup shared by the LLM verbs. */
#include "cli/llm_cli.h"

#include <errno.h>
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
