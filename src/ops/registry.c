/* The operator table: every line of ops.def becomes one eo_def; lookup by (domain, name, opset). */
#include "ops/op.h"

static const eo_def ops[] = {
#define OP(domain, name, since, infer, run, flags) {domain, #name, since, infer, run, flags},
#include "ops/ops.def"
#undef OP
};

const eo_def *eo_find(const char *domain, const char *name, int opset) {
    const eo_def *best = NULL;
    for (size_t i = 0; i < sizeof ops / sizeof ops[0]; i++) {
        const eo_def *d = &ops[i];
        if (strcmp(d->name, name) || strcmp(d->domain, domain) || d->since > opset) continue;
        if (!best || d->since > best->since) best = d; /* the newest definition the model's opset allows */
    }
    return best;
}

const eo_def *eo_all(int *count) {
    *count = (int)(sizeof ops / sizeof ops[0]);
    return ops;
}
