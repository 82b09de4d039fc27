/* ai.onnx.ml: LabelEncoder (1-4: list or tensor attributes), TreeEnsemble (5), Binarizer (1),
 * ArrayFeatureExtractor (1). Scalar reference code. */
#include "ops/op.h"

#include <stdio.h>
#include <stdlib.h>

ember_status binarizer_infer(eo_ctx *c) {
    ember_status s = eo_check_inputs(c, 1);
    return s ? s : eo_set_out_like(c, 0, 0);
}

/* --- Binarizer ---------------------------------------------------------------------------------------- */
ember_status binarizer_run(eo_ctx *c) {
    const ember_tensor *x = eo_in(c, 0);
    ember_tensor *y = eo_out(c, 0);
    if (!y) return EMBER_OK; /* output unused */
    double th = eo_attr_float(c, "threshold", 0);
    int64_t n = ember_tensor_count(x);
    for (int64_t i = 0; i < n; i++) eo_put(y, i, eo_get(x, i) > th ? 1.0 : 0.0);
    return EMBER_OK;
}

/* --- ArrayFeatureExtractor ---------------------------------------------------------------------------- */
ember_status array_feature_extractor_infer(eo_ctx *c) {
    ember_status s = eo_check_inputs(c, 2);
    if (s) return s;
    const ember_tensor *x = eo_in(c, 0), *idx = eo_in(c, 1);
    if (!x || !idx || x->ndim < 1) return ember_fail(EMBER_ERR_SHAPE, "ArrayFeatureExtractor needs X (rank >= 1) and Y");
    int64_t shape[EMBER_MAX_DIMS];
    int nd = x->ndim;
    memcpy(shape, x->shape, sizeof(int64_t) * (size_t)nd);
    if (nd == 1) {
        shape[0] = 1;
        nd = 2;
    }
    shape[nd - 1] = ember_tensor_count(idx);
    return eo_set_out(c, 0, x->dtype, nd, shape);
}

ember_status array_feature_extractor_run(eo_ctx *c) {
    const ember_tensor *x = eo_in(c, 0), *idx = eo_in(c, 1);
    ember_tensor *y = eo_out(c, 0);
    if (!y) return EMBER_OK; /* output unused */
    int64_t last = x->shape[x->ndim - 1], rows = ember_tensor_count(x) / (last ? last : 1), k = ember_tensor_count(idx);
    size_t es = eo_esize(x->dtype);
    for (int64_t j = 0; j < k; j++) {
        int64_t f = eo_to_i64(eo_get(idx, j));
        if (f < 0 || f >= last) return ember_fail(EMBER_ERR_SHAPE, "ArrayFeatureExtractor: index %lld out of range", (long long)f);
    }
    for (int64_t r = 0; r < rows; r++)
        for (int64_t j = 0; j < k; j++) {
            int64_t f = eo_to_i64(eo_get(idx, j)), src = r * last + f, dst = r * k + j;
            if (x->dtype == EMBER_DTYPE_STRING) {
                const char *s = ((char *const *)x->data)[src];
                ember_status st = ember_tensor_set_string(y, dst, s, strlen(s));
                if (st) return st;
            } else {
                memcpy((char *)y->data + (size_t)dst * es, (const char *)x->data + (size_t)src * es, es);
            }
        }
    return EMBER_OK;
}

/* --- LabelEncoder ------------------------------------------------------------------------------------- */
/* Keys or values: a typed list attribute or (opset 4) a tensor attribute. */
typedef struct lvec {
    ember_dtype t; /* STRING, I64, F32 or the tensor's type */
    int n;
    const char **s;
    const int64_t *i;
    const float *f;
    const ember_tensor *tensor;
} lvec;

static bool lvec_get(const eo_ctx *c, const char *prefix, lvec *v) {
    char name[40];
    memset(v, 0, sizeof *v);
    const eg_attr *a;
    snprintf(name, sizeof name, "%s_tensor", prefix);
    if ((a = eo_attr(c, name)) && a->t) {
        v->tensor = a->t;
        v->t = a->t->dtype;
        v->n = (int)ember_tensor_count(a->t);
        return true;
    }
    snprintf(name, sizeof name, "%s_strings", prefix);
    if ((a = eo_attr(c, name)) && a->type == EG_ATTR_STRINGS) {
        v->t = EMBER_DTYPE_STRING, v->n = a->n, v->s = a->strs;
        return true;
    }
    snprintf(name, sizeof name, "%s_int64s", prefix);
    if ((v->n = eo_attr_ints(c, name, &v->i)) >= 0) return v->t = EMBER_DTYPE_I64, true;
    snprintf(name, sizeof name, "%s_floats", prefix);
    if ((v->n = eo_attr_floats(c, name, &v->f)) >= 0) return v->t = EMBER_DTYPE_F32, true;
    v->n = 0;
    return false;
}

static const char *lvec_str(const lvec *v, int64_t k) {
    return v->tensor ? ((char *const *)v->tensor->data)[k] : v->s[k];
}
static double lvec_num(const lvec *v, int64_t k) {
    return v->tensor ? eo_get(v->tensor, k) : v->i ? (double)v->i[k] : v->f[k];
}

static ember_status label_encoder_setup(eo_ctx *c, lvec *keys, lvec *vals) {
    if (!lvec_get(c, "keys", keys) || !lvec_get(c, "values", vals))
        return ember_fail(EMBER_ERR_FORMAT, "LabelEncoder needs keys and values");
    if (keys->n != vals->n) return ember_fail(EMBER_ERR_FORMAT, "LabelEncoder: %d keys but %d values", keys->n, vals->n);
    return EMBER_OK;
}

ember_status label_encoder_infer(eo_ctx *c) {
    lvec k, v;
    ember_status s = eo_check_inputs(c, 1);
    if (!s) s = label_encoder_setup(c, &k, &v);
    if (s) return s;
    const ember_tensor *x = eo_in(c, 0);
    return eo_set_out(c, 0, v.t, x->ndim, x->shape);
}

ember_status label_encoder_run(eo_ctx *c) {
    lvec k, v;
    ember_status s = label_encoder_setup(c, &k, &v);
    if (s) return s;
    const ember_tensor *x = eo_in(c, 0);
    ember_tensor *y = eo_out(c, 0);
    if (!y) return EMBER_OK; /* output unused */
    bool xs = x->dtype == EMBER_DTYPE_STRING;
    if (xs != (k.t == EMBER_DTYPE_STRING)) return ember_fail(EMBER_ERR_SHAPE, "LabelEncoder: input type does not match the keys");
    /* default */
    const eg_attr *dt = eo_attr(c, "default_tensor");
    const char *dstr = eo_attr_str(c, "default_string", "_Unused");
    double dnum = v.t == EMBER_DTYPE_F32 || v.t == EMBER_DTYPE_F64 ? eo_attr_float(c, "default_float", -0.0f)
                                                                    : (double)eo_attr_int(c, "default_int64", -1);
    if (dt && dt->t && ember_tensor_count(dt->t) >= 1) {
        if (dt->t->dtype == EMBER_DTYPE_STRING) dstr = ((char *const *)dt->t->data)[0];
        else dnum = eo_get(dt->t, 0);
    }
    int64_t n = ember_tensor_count(x);
    for (int64_t i = 0; i < n; i++) {
        int64_t hit = -1;
        if (xs) {
            const char *q = ((char *const *)x->data)[i];
            for (int j = 0; j < k.n && hit < 0; j++)
                if (!strcmp(q, lvec_str(&k, j))) hit = j;
        } else {
            double q = eo_get(x, i);
            for (int j = 0; j < k.n && hit < 0; j++) {
                double kv = lvec_num(&k, j);
                if (kv == q || (isnan(kv) && isnan(q))) hit = j;
            }
        }
        if (v.t == EMBER_DTYPE_STRING) {
            const char *o = hit >= 0 ? lvec_str(&v, hit) : dstr;
            if ((s = ember_tensor_set_string(y, i, o, strlen(o)))) return s;
        } else {
            eo_put(y, i, hit >= 0 ? lvec_num(&v, hit) : dnum);
        }
    }
    return EMBER_OK;
}

/* --- TreeEnsemble ------------------------------------------------------------------------------------- */
typedef struct tree_attrs {
    int nnodes, nleaves, ntrees;
    const int64_t *featureids, *truenodeids, *falsenodeids, *trueleafs, *falseleafs, *missing_true, *roots;
    const int64_t *leaf_targets;
    const ember_tensor *modes, *splits, *leaf_weights, *members;
    int64_t ntargets, aggregate, post;
} tree_attrs;

static const ember_tensor *tensor_attr(const eo_ctx *c, const char *name) {
    const eg_attr *a = eo_attr(c, name);
    return a ? a->t : NULL;
}

static ember_status tree_setup(eo_ctx *c, tree_attrs *t) {
    memset(t, 0, sizeof *t);
    t->nnodes = eo_attr_ints(c, "nodes_featureids", &t->featureids);
    int n1 = eo_attr_ints(c, "nodes_truenodeids", &t->truenodeids), n2 = eo_attr_ints(c, "nodes_falsenodeids", &t->falsenodeids);
    int n3 = eo_attr_ints(c, "nodes_trueleafs", &t->trueleafs), n4 = eo_attr_ints(c, "nodes_falseleafs", &t->falseleafs);
    int n5 = eo_attr_ints(c, "nodes_missing_value_tracks_true", &t->missing_true);
    t->ntrees = eo_attr_ints(c, "tree_roots", &t->roots);
    t->nleaves = eo_attr_ints(c, "leaf_targetids", &t->leaf_targets);
    t->modes = tensor_attr(c, "nodes_modes");
    t->splits = tensor_attr(c, "nodes_splits");
    t->leaf_weights = tensor_attr(c, "leaf_weights");
    t->members = tensor_attr(c, "membership_values");
    t->ntargets = eo_attr_int(c, "n_targets", 1);
    t->aggregate = eo_attr_int(c, "aggregate_function", 1);
    t->post = eo_attr_int(c, "post_transform", 0);
    if (t->nnodes < 0 || n1 != t->nnodes || n2 != t->nnodes || n3 != t->nnodes || n4 != t->nnodes ||
        (n5 >= 0 && n5 != t->nnodes) || t->ntrees < 1 || t->nleaves < 0 || !t->modes || !t->splits || !t->leaf_weights ||
        ember_tensor_count(t->modes) != t->nnodes || ember_tensor_count(t->splits) != t->nnodes ||
        ember_tensor_count(t->leaf_weights) != t->nleaves || t->ntargets < 1)
        return ember_fail(EMBER_ERR_FORMAT, "TreeEnsemble: node/leaf attributes are missing or differ in length");
    if (n5 < 0) t->missing_true = NULL;
    if (t->post != 0) return ember_fail(EMBER_ERR_UNSUPPORTED, "TreeEnsemble: post_transform %lld", (long long)t->post);
    return EMBER_OK;
}

ember_status tree_ensemble_infer(eo_ctx *c) {
    tree_attrs t;
    ember_status s = eo_check_inputs(c, 1);
    if (!s) s = tree_setup(c, &t);
    if (s) return s;
    const ember_tensor *x = eo_in(c, 0);
    if (x->ndim != 2) return ember_fail(EMBER_ERR_SHAPE, "TreeEnsemble: X must be [N, F]");
    int64_t shape[2] = {x->shape[0], t.ntargets};
    return eo_set_out(c, 0, x->dtype, 2, shape);
}

ember_status tree_ensemble_run(eo_ctx *c) {
    tree_attrs t;
    ember_status s = tree_setup(c, &t);
    if (s) return s;
    const ember_tensor *x = eo_in(c, 0);
    ember_tensor *y = eo_out(c, 0);
    if (!y) return EMBER_OK; /* output unused */
    int64_t N = x->shape[0], F = x->shape[1];
    /* start of each MEMBER node's set in membership_values (sets end at NaN) */
    int64_t *mstart = eo_scratch(c, sizeof(int64_t) * (size_t)(t.nnodes + 1));
    double *acc = eo_scratch(c, sizeof(double) * (size_t)t.ntargets);
    bool *hit = eo_scratch(c, (size_t)t.ntargets);
    if (!mstart || !acc || !hit) return ember_fail(EMBER_ERR_NOMEM, "out of memory");
    int64_t mpos = 0, nm = t.members ? ember_tensor_count(t.members) : 0;
    for (int i = 0; i < t.nnodes; i++) {
        mstart[i] = -1;
        if ((int)eo_to_i64(eo_get(t.modes, i)) != 6) continue;
        mstart[i] = mpos;
        while (mpos < nm && !isnan(eo_get(t.members, mpos))) mpos++;
        mpos++; /* skip the NaN separator */
    }
    for (int64_t r = 0; r < N; r++) {
        for (int64_t k = 0; k < t.ntargets; k++) acc[k] = 0, hit[k] = false;
        for (int tr = 0; tr < t.ntrees; tr++) {
            int64_t node = t.roots[tr];
            int64_t leaf = -1;
            for (int guard = 0; guard <= t.nnodes && leaf < 0; guard++) {
                if (node < 0 || node >= t.nnodes) return ember_fail(EMBER_ERR_FORMAT, "TreeEnsemble: node %lld out of range", (long long)node);
                int64_t f = t.featureids[node];
                if (f < 0 || f >= F) return ember_fail(EMBER_ERR_SHAPE, "TreeEnsemble: feature %lld out of range", (long long)f);
                double v = eo_get(x, r * F + f), sp = eo_get(t.splits, node);
                bool go;
                if (isnan(v) && t.missing_true && t.missing_true[node]) go = true;
                else switch ((int)eo_to_i64(eo_get(t.modes, node))) {
                    case 0: go = v <= sp; break;
                    case 1: go = v < sp; break;
                    case 2: go = v >= sp; break;
                    case 3: go = v > sp; break;
                    case 4: go = v == sp; break;
                    case 5: go = v != sp; break;
                    case 6: {
                        go = false;
                        for (int64_t m = mstart[node]; m >= 0 && m < nm && !isnan(eo_get(t.members, m)) && !go; m++)
                            go = eo_get(t.members, m) == v;
                        break;
                    }
                    default: return ember_fail(EMBER_ERR_FORMAT, "TreeEnsemble: node mode %d", (int)eo_to_i64(eo_get(t.modes, node)));
                    }
                int64_t next = go ? t.truenodeids[node] : t.falsenodeids[node];
                if (go ? t.trueleafs[node] : t.falseleafs[node]) leaf = next;
                else node = next;
            }
            if (leaf < 0 || leaf >= t.nleaves) return ember_fail(EMBER_ERR_FORMAT, "TreeEnsemble: tree %d reaches no leaf", tr);
            int64_t tg = t.leaf_targets[leaf];
            if (tg < 0 || tg >= t.ntargets) return ember_fail(EMBER_ERR_FORMAT, "TreeEnsemble: target %lld", (long long)tg);
            double w = eo_get(t.leaf_weights, leaf);
            if (!hit[tg]) acc[tg] = w;
            else if (t.aggregate == 2) acc[tg] = w < acc[tg] ? w : acc[tg];
            else if (t.aggregate == 3) acc[tg] = w > acc[tg] ? w : acc[tg];
            else acc[tg] += w;
            hit[tg] = true;
        }
        for (int64_t k = 0; k < t.ntargets; k++)
            eo_put(y, r * t.ntargets + k, t.aggregate == 0 ? acc[k] / t.ntrees : acc[k]);
    }
    return EMBER_OK;
}
