/* Test helper: are two tensors the same (type, shape, name, and every element, strings included)? */
#ifndef EMBER_TESTS_TENSORCHECK_H
#define EMBER_TESTS_TENSORCHECK_H

#include "ember/tensor.h"

#include <stdbool.h>
#include <string.h>

static inline bool tensors_equal(const ember_tensor *a, const ember_tensor *b) {
    if (!a || !b || a->dtype != b->dtype || a->ndim != b->ndim) return false;
    for (int i = 0; i < a->ndim; i++)
        if (a->shape[i] != b->shape[i]) return false;
    if ((a->name == NULL) != (b->name == NULL) || (a->name && strcmp(a->name, b->name))) return false;
    if (a->dtype != EMBER_DTYPE_STRING) return a->nbytes == b->nbytes && !memcmp(a->data, b->data, a->nbytes);
    char *const *sa = a->data, *const *sb = b->data;
    for (int64_t i = 0; i < ember_tensor_count(a); i++)
        if (strcmp(sa[i], sb[i])) return false;
    return true;
}

#endif
