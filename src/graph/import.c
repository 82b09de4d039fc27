/* ONNX import: ModelProto bytes (mmapped) -> eg_model. Initializer raw_data is used in place when aligned;
 * subgraphs are imported recursively; every unsupported operator is reported in one message. */
#include "core/byteorder.h"
#include "core/pbwire.h"
#include "core/tensorproto.h"
#include "graph/graph.h"
#include "ops/op.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Field numbers from onnx.proto. */
enum { MODEL_IR = 1, MODEL_PRODUCER = 2, MODEL_GRAPH = 7, MODEL_OPSET = 8, MODEL_FUNCTIONS = 25 };
enum { OPSET_DOMAIN = 1, OPSET_VERSION = 2 };
enum { GRAPH_NODE = 1, GRAPH_NAME = 2, GRAPH_INIT = 5, GRAPH_INPUT = 11, GRAPH_OUTPUT = 12, GRAPH_VINFO = 13,
       GRAPH_SPARSE_INIT = 15 };
enum { NODE_INPUT = 1, NODE_OUTPUT = 2, NODE_NAME = 3, NODE_OP = 4, NODE_ATTR = 5, NODE_DOMAIN = 7 };
enum { ATTR_NAME = 1, ATTR_F = 2, ATTR_I = 3, ATTR_S = 4, ATTR_T = 5, ATTR_G = 6, ATTR_FLOATS = 7, ATTR_INTS = 8,
       ATTR_STRINGS = 9, ATTR_TENSORS = 10, ATTR_GRAPHS = 11, ATTR_TP = 14, ATTR_TPS = 15, ATTR_TYPE = 20,
       ATTR_REF = 21, ATTR_SPARSE = 22 };
enum { VI_NAME = 1, VI_TYPE = 2 };
enum { TYPE_TENSOR = 1, TYPE_SEQUENCE = 4, TYPE_MAP = 5, TYPE_OPAQUE = 7, TYPE_SPARSE = 8, TYPE_OPTIONAL = 9 };
enum { TT_ELEM = 1, TT_SHAPE = 2 };
enum { SHAPE_DIM = 1, DIM_VALUE = 1, DIM_PARAM = 2 };

typedef struct importer {
    eg_model *m;
    /* unsupported operators, gathered over the whole model */
    char *unsupported;
    size_t ulen, ucap;
    int nunsupported;
} importer;

static ember_status pb_error(const ember_pb *r, const char *what) {
    return ember_fail(EMBER_ERR_FORMAT, "malformed %s: %s at byte %zu", what, r->error, ember_pb_offset(r));
}

static char *adup(eg_model *m, const uint8_t *s, size_t n) {
    return ember_arena_strdup(&m->arena, n ? (const char *)s : "", n); /* s is NULL for a non-LEN field */
}

static void *aalloc(eg_model *m, size_t n) { return ember_arena_alloc(&m->arena, n ? n : 1, 16); }

static ember_status nomem(void) { return ember_fail(EMBER_ERR_NOMEM, "out of memory while importing"); }

static ember_status own_tensor(eg_model *m, ember_tensor *t) {
    if (m->nowned == m->cap_owned) {
        int cap = m->cap_owned ? m->cap_owned * 2 : 64;
        ember_tensor **o = ember_realloc(m->owned, sizeof *o * (size_t)cap);
        if (!o) {
            ember_tensor_destroy(t);
            return nomem();
        }
        m->owned = o;
        m->cap_owned = cap;
    }
    m->owned[m->nowned++] = t;
    return EMBER_OK;
}

/* --- types -------------------------------------------------------------------------------------------- */
static ember_status parse_shape(const ember_pb *outer, const ember_pb_field *sf, eg_model *m, eg_type *t) {
    ember_pb r = ember_pb_sub(outer, sf);
    ember_pb_field f;
    int rc;
    t->ndim = 0;
    while ((rc = ember_pb_next(&r, &f)) > 0) {
        if (f.number != SHAPE_DIM || f.wire != EMBER_PB_LEN) continue;
        if (t->ndim == EMBER_MAX_DIMS)
            return ember_fail(EMBER_ERR_UNSUPPORTED, "a type has more than %d dimensions", EMBER_MAX_DIMS);
        int d = t->ndim++;
        t->dims[d] = -1;
        t->dim_param[d] = NULL;
        ember_pb dr = ember_pb_sub(&r, &f);
        ember_pb_field df;
        while ((rc = ember_pb_next(&dr, &df)) > 0) {
            if (df.number == DIM_VALUE && df.wire == EMBER_PB_VARINT) t->dims[d] = (int64_t)df.value;
            else if (df.number == DIM_PARAM && df.wire == EMBER_PB_LEN) {
                if (!(t->dim_param[d] = adup(m, df.data, df.len))) return nomem();
            }
        }
        if (rc < 0) return pb_error(&dr, "TensorShapeProto.Dimension");
        if (t->dims[d] < -1) t->dims[d] = -1;
    }
    if (rc < 0) return pb_error(&r, "TensorShapeProto");
    return EMBER_OK;
}

static ember_status parse_type_sub(eg_model *m, const ember_pb *outer, const ember_pb_field *tf, eg_type *t, int depth);

static ember_status parse_elem_wrapper(eg_model *m, const ember_pb *r, const ember_pb_field *f, eg_type *t, int depth) {
    /* Sequence / Optional: field 1 is elem_type (a TypeProto) */
    ember_pb s = ember_pb_sub(r, f);
    ember_pb_field g;
    int rc;
    while ((rc = ember_pb_next(&s, &g)) > 0) {
        if (g.number != 1 || g.wire != EMBER_PB_LEN) continue;
        eg_type *e = aalloc(m, sizeof *e);
        if (!e) return nomem();
        ember_status st = parse_type_sub(m, &s, &g, e, depth + 1);
        if (st) return st;
        t->elem = e;
        t->dtype = e->dtype;
    }
    if (rc < 0) return pb_error(&s, "TypeProto");
    return EMBER_OK;
}

static ember_status parse_type_sub(eg_model *m, const ember_pb *outer, const ember_pb_field *tf, eg_type *t, int depth) {
    memset(t, 0, sizeof *t);
    t->ndim = -1;
    if (depth > 16) return ember_fail(EMBER_ERR_FORMAT, "TypeProto nested more than 16 deep");
    ember_pb r = ember_pb_sub(outer, tf);
    ember_pb_field f;
    int rc;
    ember_status st = EMBER_OK;
    while ((rc = ember_pb_next(&r, &f)) > 0 && !st) {
        if (f.wire != EMBER_PB_LEN) continue;
        if (f.number == TYPE_TENSOR || f.number == TYPE_SPARSE) {
            t->kind = f.number == TYPE_TENSOR ? EG_KIND_TENSOR : EG_KIND_SPARSE;
            ember_pb s = ember_pb_sub(&r, &f);
            ember_pb_field g;
            while ((rc = ember_pb_next(&s, &g)) > 0 && !st) {
                if (g.number == TT_ELEM && g.wire == EMBER_PB_VARINT) t->dtype = (ember_dtype)g.value;
                else if (g.number == TT_SHAPE && g.wire == EMBER_PB_LEN) st = parse_shape(&s, &g, m, t);
            }
            if (rc < 0) return pb_error(&s, "TypeProto.Tensor");
        } else if (f.number == TYPE_SEQUENCE || f.number == TYPE_OPTIONAL) {
            t->kind = f.number == TYPE_SEQUENCE ? EG_KIND_SEQUENCE : EG_KIND_OPTIONAL;
            st = parse_elem_wrapper(m, &r, &f, t, depth);
        } else if (f.number == TYPE_MAP) {
            t->kind = EG_KIND_MAP;
        }
    }
    if (st) return st;
    if (rc < 0) return pb_error(&r, "TypeProto");
    return EMBER_OK;
}

ember_status eg_parse_type(eg_model *m, const uint8_t *data, size_t len, eg_type *t) {
    ember_pb r = ember_pb_reader(data, len);
    ember_pb_field f = {.number = 0, .wire = EMBER_PB_LEN, .data = data, .len = len};
    return parse_type_sub(m, &r, &f, t, 0);
}

void eg_type_format(const eg_type *t, char *buf, size_t cap) {
    if (t->kind == EG_KIND_SEQUENCE || t->kind == EG_KIND_OPTIONAL) {
        char inner[200] = "?";
        if (t->elem) eg_type_format(t->elem, inner, sizeof inner);
        snprintf(buf, cap, "%s(%s)", t->kind == EG_KIND_SEQUENCE ? "seq" : "optional", inner);
        return;
    }
    if (t->kind == EG_KIND_MAP) {
        snprintf(buf, cap, "map");
        return;
    }
    size_t n = (size_t)snprintf(buf, cap, "%s", t->kind == EG_KIND_UNKNOWN ? "?" : ember_dtype_name(t->dtype));
    if (t->ndim < 0) {
        if (n < cap) snprintf(buf + n, cap - n, "[?]");
        return;
    }
    if (n < cap) n += (size_t)snprintf(buf + n, cap - n, "[");
    for (int i = 0; i < t->ndim && n < cap; i++) {
        const char *sep = i ? "x" : "";
        if (t->dim_param[i]) n += (size_t)snprintf(buf + n, cap - n, "%s%s", sep, t->dim_param[i]);
        else if (t->dims[i] < 0) n += (size_t)snprintf(buf + n, cap - n, "%s?", sep);
        else n += (size_t)snprintf(buf + n, cap - n, "%s%lld", sep, (long long)t->dims[i]);
    }
    if (n < cap) snprintf(buf + n, cap - n, "]");
}

/* --- value table -------------------------------------------------------------------------------------- */
static uint32_t hash_str(const char *s) {
    uint32_t h = 2166136261u;
    for (; *s; s++) h = (h ^ (uint8_t)*s) * 16777619u;
    return h;
}

int eg_graph_find(const eg_graph *g, const char *name) {
    if (!g->hash_cap) return -1;
    uint32_t mask = (uint32_t)g->hash_cap - 1;
    for (uint32_t h = hash_str(name) & mask;; h = (h + 1) & mask) {
        int v = g->hash[h];
        if (v < 0) return -1;
        if (!strcmp(g->values[v].name, name)) return v;
    }
}

static ember_status hash_insert(eg_graph *g, int idx) {
    if ((g->nvalues + 1) * 2 > g->hash_cap) {
        int cap = g->hash_cap ? g->hash_cap * 2 : 64;
        while (cap < (g->nvalues + 1) * 2) cap *= 2;
        int *h = ember_malloc(sizeof *h * (size_t)cap);
        if (!h) return nomem();
        for (int i = 0; i < cap; i++) h[i] = -1;
        ember_free(g->hash);
        g->hash = h;
        g->hash_cap = cap;
        for (int v = 0; v < g->nvalues; v++) {
            if (v == idx) continue;
            uint32_t k = hash_str(g->values[v].name) & (uint32_t)(cap - 1);
            while (h[k] >= 0) k = (k + 1) & (uint32_t)(cap - 1);
            h[k] = v;
        }
    }
    uint32_t mask = (uint32_t)g->hash_cap - 1, k = hash_str(g->values[idx].name) & mask;
    while (g->hash[k] >= 0) k = (k + 1) & mask;
    g->hash[k] = idx;
    return EMBER_OK;
}

/* Find or add the value called name in g. */
static ember_status value_get(eg_graph *g, const char *name, int *idx) {
    int v = eg_graph_find(g, name);
    if (v >= 0) {
        *idx = v;
        return EMBER_OK;
    }
    if (g->nvalues == g->cap_values) {
        int cap = g->cap_values ? g->cap_values * 2 : 32;
        eg_value *nv = ember_realloc(g->values, sizeof *nv * (size_t)cap);
        if (!nv) return nomem();
        g->values = nv;
        g->cap_values = cap;
    }
    eg_value *val = &g->values[g->nvalues];
    memset(val, 0, sizeof *val);
    val->name = ember_arena_strdup(&g->model->arena, name, strlen(name));
    if (!val->name) return nomem();
    val->producer = -1;
    val->outer = -1;
    val->type.ndim = -1;
    *idx = g->nvalues++;
    return hash_insert(g, *idx);
}

/* Resolve a name a node reads: local, else captured from an enclosing graph (recursively). */
static ember_status value_resolve(eg_graph *g, const char *name, int *idx, bool *found) {
    int v = eg_graph_find(g, name);
    if (v >= 0) {
        *idx = v;
        *found = true;
        return EMBER_OK;
    }
    *found = false;
    if (!g->parent) return EMBER_OK;
    int pv;
    bool pfound;
    ember_status s = value_resolve(g->parent, name, &pv, &pfound);
    if (s || !pfound) return s;
    if ((s = value_get(g, name, idx))) return s;
    g->values[*idx].outer = pv;
    g->values[*idx].type = g->parent->values[pv].type;
    *found = true;
    return EMBER_OK;
}

/* --- tensors ------------------------------------------------------------------------------------------ */
enum { DEFER_MIN_BYTES = 4096 }; /* smaller misaligned initializers are simply copied */

/* A TensorProto as a tensor: raw data in place when aligned, else copied. With defer (graph initializers
 * only), large misaligned raw data is not copied: the tensor gets no data and *defer the bytes. */
static ember_status load_tensor(eg_model *m, const uint8_t *data, size_t len, const void **defer,
                                ember_tensor **out) {
    ember_tp tp;
    ember_status s = ember_tp_parse(data, len, &tp);
    if (s) return s;
    char name[256] = "";
    if (tp.name) snprintf(name, sizeof name, "%.*s", (int)(tp.name_len < 200 ? tp.name_len : 200), tp.name);
    ember_tensor *t = NULL;
    size_t esz = (size_t)ember_dtype_bits(tp.dtype) / 8, need = 0;
    bool aligned = tp.raw && esz && ((uintptr_t)tp.raw % esz) == 0;
    bool plain = tp.raw && tp.dtype != EMBER_DTYPE_STRING && !tp.external;
    if (plain && aligned) {
        s = ember_tensor_wrap(tp.dtype, tp.ndim, tp.dims, (void *)tp.raw, tp.raw_len, &t); /* in place */
    } else if (plain && defer && ember_host_le() && tp.raw_len >= DEFER_MIN_BYTES &&
               ember_dtype_bytes(tp.dtype, ember_shape_count(tp.ndim, tp.dims), &need) && need == tp.raw_len) {
        s = ember_tensor_wrap(tp.dtype, tp.ndim, tp.dims, NULL, tp.raw_len, &t); /* no data yet */
        if (!s) *defer = tp.raw, m->copied_inits++;
    } else {
        s = ember_tp_to_tensor(&tp, m->dir, &t);
        if (!s && tp.raw) m->copied_inits++;
        if (!s) ember_map_drop(&m->map, data, len); /* the copy is what runs use: the file's pages can go */
    }
    if (s) return ember_fail_context(s, "tensor '%s': ", name);
    if (name[0] && (s = ember_tensor_set_name(t, name))) {
        ember_tensor_destroy(t);
        return s;
    }
    if ((s = own_tensor(m, t))) return s;
    *out = t;
    return EMBER_OK;
}

ember_status eg_init_materialize(eg_model *m, eg_value *v) {
    if (!v->init_raw) return EMBER_OK;
    ember_tensor *t = v->init;
    ember_status s = EMBER_OK;
    pthread_mutex_lock(&m->init_lock);
    if (!t->data) {
        void *d = ember_malloc_aligned(t->nbytes);
        if (d) {
            ember_prefault(d, t->nbytes);
            memcpy(d, v->init_raw, t->nbytes);
            t->data = d;
            t->flags |= EMBER_TENSOR_OWNS_DATA;
            ember_map_drop(&m->map, v->init_raw, t->nbytes);
        } else {
            s = ember_fail(EMBER_ERR_NOMEM, "out of memory copying initializer '%s' (%zu bytes)", v->name, t->nbytes);
        }
    }
    pthread_mutex_unlock(&m->init_lock);
    return s;
}

void *eg_init_data(eg_model *m, const eg_value *v) {
    if (!v->init_raw) return v->init->data;
    pthread_mutex_lock(&m->init_lock);
    void *d = v->init->data;
    pthread_mutex_unlock(&m->init_lock);
    return d;
}

/* --- graphs ------------------------------------------------------------------------------------------- */
static ember_status parse_graph(importer *im, const ember_pb *outer, const ember_pb_field *gf, eg_graph *parent,
                                eg_graph **out);

static ember_status collect_floats(eg_model *m, const ember_pb_field *f, eg_attr *a, int *count, int *cap) {
    /* packed (LEN) or one fixed32 per field */
    size_t n = f->wire == EMBER_PB_LEN ? f->len / 4 : 1;
    if (n > (size_t)(1 << 28) || *count + (int)n > *cap) {
        if (n > (size_t)(1 << 28)) return ember_fail(EMBER_ERR_FORMAT, "attribute with too many floats at byte %zu", f->offset);
        int nc = (*count + (int)n) * 2;
        float *nf = aalloc(m, sizeof(float) * (size_t)nc);
        if (!nf) return nomem();
        if (*count) memcpy(nf, a->floats, sizeof(float) * (size_t)*count);
        a->floats = nf;
        *cap = nc;
    }
    float *dst = (float *)a->floats + *count;
    if (f->wire == EMBER_PB_LEN) memcpy(dst, f->data, n * 4);
    else {
        uint32_t b = (uint32_t)f->value;
        memcpy(dst, &b, 4);
    }
    *count += (int)n;
    return EMBER_OK;
}

static ember_status collect_ints(eg_model *m, const ember_pb_field *f, eg_attr *a, int *count, int *cap) {
    size_t pos = 0;
    uint64_t v;
    bool bad;
    while (ember_pb_packed_varint(f, &pos, &v, &bad)) {
        if (*count == *cap) {
            if (*cap > (1 << 28)) return ember_fail(EMBER_ERR_FORMAT, "attribute with too many ints at byte %zu", f->offset);
            int nc = *cap ? *cap * 2 : 8;
            int64_t *ni = aalloc(m, sizeof(int64_t) * (size_t)nc);
            if (!ni) return nomem();
            if (*count) memcpy(ni, a->ints, sizeof(int64_t) * (size_t)*count);
            a->ints = ni;
            *cap = nc;
        }
        ((int64_t *)a->ints)[(*count)++] = (int64_t)v;
    }
    if (bad) return ember_fail(EMBER_ERR_FORMAT, "malformed ints in attribute at byte %zu", f->offset);
    return EMBER_OK;
}

/* Grow a pointer list held in the arena. */
static ember_status push_ptr(eg_model *m, void ***list, int *n, int *cap, void *p) {
    if (*n == *cap) {
        int nc = *cap ? *cap * 2 : 4;
        void **nl = aalloc(m, sizeof(void *) * (size_t)nc);
        if (!nl) return nomem();
        if (*n) memcpy(nl, *list, sizeof(void *) * (size_t)*n);
        *list = nl;
        *cap = nc;
    }
    (*list)[(*n)++] = p;
    return EMBER_OK;
}

static ember_status parse_attr(importer *im, const ember_pb *outer, const ember_pb_field *af, eg_graph *g, eg_attr *a) {
    eg_model *m = im->m;
    memset(a, 0, sizeof *a);
    ember_pb r = ember_pb_sub(outer, af);
    ember_pb_field f;
    int rc = 0, fcap = 0, icap = 0, scap = 0, tcap = 0, gcap = 0, lcap = 0;
    int nf = 0, ni = 0, ns = 0, nt = 0, ng = 0; /* per-list counts: a damaged attribute may mix lists */
    ember_status s = EMBER_OK;
    void **lens = NULL; /* string lengths, as pointer-sized integers until the end */
    int nlens = 0;
    while (!s && (rc = ember_pb_next(&r, &f)) > 0) {
        switch (f.number) {
        case ATTR_NAME: if (!(a->name = adup(m, f.data, f.len))) s = nomem(); break;
        case ATTR_TYPE: a->type = (int)f.value; break;
        case ATTR_F: {
            uint32_t b = (uint32_t)f.value;
            memcpy(&a->f, &b, 4);
            if (!a->type) a->type = EG_ATTR_FLOAT;
            break;
        }
        case ATTR_I: a->i = (int64_t)f.value; if (!a->type) a->type = EG_ATTR_INT; break;
        case ATTR_S:
            if (f.wire != EMBER_PB_LEN) break;
            if (!(a->s = adup(m, f.data, f.len))) s = nomem();
            a->slen = f.len;
            break;
        case ATTR_REF: if (!(a->ref = adup(m, f.data, f.len))) s = nomem(); break;
        case ATTR_FLOATS: s = collect_floats(m, &f, a, &nf, &fcap); break;
        case ATTR_INTS: s = collect_ints(m, &f, a, &ni, &icap); break;
        case ATTR_STRINGS: {
            char *str = adup(m, f.data, f.len);
            if (!str) s = nomem();
            else if (!(s = push_ptr(m, (void ***)&a->strs, &ns, &scap, str)))
                s = push_ptr(m, &lens, &nlens, &lcap, (void *)(uintptr_t)f.len);
            break;
        }
        case ATTR_T: s = load_tensor(m, f.data, f.len, NULL, &a->t); break;
        case ATTR_TENSORS: {
            ember_tensor *t = NULL;
            if (!(s = load_tensor(m, f.data, f.len, NULL, &t))) s = push_ptr(m, (void ***)&a->ts, &nt, &tcap, t);
            break;
        }
        case ATTR_G: s = parse_graph(im, &r, &f, g, &a->g); break;
        case ATTR_GRAPHS: {
            eg_graph *sg = NULL;
            if (!(s = parse_graph(im, &r, &f, g, &sg))) s = push_ptr(m, (void ***)&a->gs, &ng, &gcap, sg);
            break;
        }
        case ATTR_TP: {
            eg_type *t = aalloc(m, sizeof *t);
            if (!t) { s = nomem(); break; }
            s = parse_type_sub(m, &r, &f, t, 0);
            a->tp = t;
            break;
        }
        default: break;
        }
    }
    if (s) return s;
    if (rc < 0) return pb_error(&r, "AttributeProto");
    if (!a->name) return ember_fail(EMBER_ERR_FORMAT, "attribute without a name at byte %zu", af->offset);
    switch (a->type) {
    case EG_ATTR_FLOATS: a->n = nf; break;
    case EG_ATTR_INTS: a->n = ni; break;
    case EG_ATTR_STRINGS: a->n = ns; break;
    case EG_ATTR_TENSORS: a->n = nt; break;
    case EG_ATTR_GRAPHS: a->n = ng; break;
    default: a->n = 0; break;
    }
    if ((a->type == EG_ATTR_FLOATS && !a->floats && nf) || (a->type == EG_ATTR_INTS && !a->ints && ni))
        return ember_fail(EMBER_ERR_FORMAT, "attribute '%s' is malformed", a->name);
    if ((a->type == EG_ATTR_TENSOR && !a->t) || (a->type == EG_ATTR_GRAPH && !a->g))
        return ember_fail(EMBER_ERR_FORMAT, "attribute '%s' has type %d but no value", a->name, a->type);
    if (nlens) {
        size_t *sl = aalloc(m, sizeof(size_t) * (size_t)nlens);
        if (!sl) return nomem();
        for (int i = 0; i < nlens; i++) sl[i] = (size_t)(uintptr_t)lens[i];
        a->strlens = sl;
    }
    return EMBER_OK;
}

static void unsupported_add(importer *im, const eg_node *n) {
    char line[512];
    int len = snprintf(line, sizeof line, "%s%s%s%s (opset %d, node '%s')", im->nunsupported ? "; " : "",
                   n->domain[0] ? n->domain : "", n->domain[0] ? ":" : "", n->op_type, n->opset,
                   n->name[0] ? n->name : "(unnamed)");
    im->nunsupported++;
    if (len < 0 || im->ulen > 8000) return; /* keep the message bounded: the count still says how many */
    if (im->ulen + (size_t)len + 1 > im->ucap) {
        size_t cap = (im->ulen + (size_t)len + 1) * 2;
        char *u = ember_realloc(im->unsupported, cap);
        if (!u) return;
        im->unsupported = u;
        im->ucap = cap;
    }
    memcpy(im->unsupported + im->ulen, line, (size_t)len + 1);
    im->ulen += (size_t)len;
}

static int opset_of(const eg_model *m, const char *domain) {
    const char *d = !strcmp(domain, "ai.onnx") ? "" : domain;
    for (int i = 0; i < m->nopsets; i++)
        if (!strcmp(m->opsets[i].domain, d)) return (int)m->opsets[i].version;
    return -1;
}

/* Parse one NodeProto's fields into n (names resolved later). */
typedef struct raw_node {
    const char **in, **out;
    int nin, nout, cin, cout, cattr;
} raw_node;

static ember_status parse_node(importer *im, const ember_pb *outer, const ember_pb_field *nf, eg_graph *g,
                               eg_node *n, int index) {
    eg_model *m = im->m;
    ember_pb r = ember_pb_sub(outer, nf);
    ember_pb_field f;
    int rc;
    raw_node rn = {0};
    ember_status s = EMBER_OK;
    memset(n, 0, sizeof *n);
    n->name = "";
    n->domain = "";
    n->op_type = "";
    while (!s && (rc = ember_pb_next(&r, &f)) > 0) {
        if (f.wire != EMBER_PB_LEN) continue;
        switch (f.number) {
        case NODE_INPUT: case NODE_OUTPUT: {
            char *str = adup(m, f.data, f.len);
            if (!str) s = nomem();
            else if (f.number == NODE_INPUT) s = push_ptr(m, (void ***)&rn.in, &rn.nin, &rn.cin, str);
            else s = push_ptr(m, (void ***)&rn.out, &rn.nout, &rn.cout, str);
            break;
        }
        case NODE_NAME: if (!(n->name = adup(m, f.data, f.len))) s = nomem(); break;
        case NODE_OP: if (!(n->op_type = adup(m, f.data, f.len))) s = nomem(); break;
        case NODE_DOMAIN: if (!(n->domain = adup(m, f.data, f.len))) s = nomem(); break;
        default: break;
        }
    }
    if (s) return s;
    if (rc < 0) return pb_error(&r, "NodeProto");
    if (!strcmp(n->domain, "ai.onnx")) n->domain = "";
    n->opset = opset_of(m, n->domain);
    /* attributes (after name/op so errors can name the node; subgraphs see outputs already registered) */
    r = ember_pb_sub(outer, nf);
    while (!s && (rc = ember_pb_next(&r, &f)) > 0) {
        if (f.number != NODE_ATTR || f.wire != EMBER_PB_LEN) continue;
        if (n->nattr == rn.cattr) {
            int nc = rn.cattr ? rn.cattr * 2 : 4;
            eg_attr *na = aalloc(m, sizeof *na * (size_t)nc);
            if (!na) return nomem();
            if (n->nattr) memcpy(na, n->attr, sizeof *na * (size_t)n->nattr);
            n->attr = na;
            rn.cattr = nc;
        }
        s = parse_attr(im, &r, &f, g, &n->attr[n->nattr]);
        if (!s) n->nattr++;
    }
    if (s) return ember_fail_context(s, "node '%s' (%s): ", n->name, n->op_type);
    n->nin = rn.nin;
    n->nout = rn.nout;
    n->in = aalloc(m, sizeof(int) * (size_t)(rn.nin + 1));
    n->out = aalloc(m, sizeof(int) * (size_t)(rn.nout + 1));
    if (!n->in || !n->out) return nomem();
    for (int i = 0; i < rn.nout; i++) {
        n->out[i] = -1;
        if (!rn.out[i][0]) continue;
        int v = eg_graph_find(g, rn.out[i]);
        if (v < 0) return ember_fail(EMBER_ERR_INTERNAL, "output '%s' not registered", rn.out[i]);
        n->out[i] = v;
    }
    for (int i = 0; i < rn.nin; i++) {
        n->in[i] = -1;
        if (!rn.in[i][0]) continue;
        bool found;
        if ((s = value_resolve(g, rn.in[i], &n->in[i], &found))) return s;
        if (!found)
            return ember_fail(EMBER_ERR_FORMAT, "node '%s' (%s) reads '%s', which no node, input or initializer defines",
                              n->name, n->op_type, rn.in[i]);
    }
    n->op = n->opset < 0 ? NULL : eo_find(n->domain, n->op_type, n->opset);
    if (!n->op) unsupported_add(im, n);
    (void)index;
    return EMBER_OK;
}

/* Values a node's subgraphs capture from g: the `outer` of every captured value of each subgraph. */
static ember_status node_implicit(eg_model *m, eg_node *n) {
    int count = 0;
    for (int a = 0; a < n->nattr; a++) {
        eg_attr *at = &n->attr[a];
        int ng = at->g ? 1 : (at->type == EG_ATTR_GRAPHS ? at->n : 0);
        for (int k = 0; k < ng; k++) {
            eg_graph *sg = at->g ? at->g : at->gs[k];
            for (int v = 0; v < sg->nvalues; v++) count += sg->values[v].outer >= 0;
        }
    }
    if (!count) return EMBER_OK;
    n->implicit = aalloc(m, sizeof(int) * (size_t)count);
    if (!n->implicit) return nomem();
    for (int a = 0; a < n->nattr; a++) {
        eg_attr *at = &n->attr[a];
        int ng = at->g ? 1 : (at->type == EG_ATTR_GRAPHS ? at->n : 0);
        for (int k = 0; k < ng; k++) {
            eg_graph *sg = at->g ? at->g : at->gs[k];
            for (int v = 0; v < sg->nvalues; v++) {
                int o = sg->values[v].outer;
                if (o < 0) continue;
                bool dup = false;
                for (int j = 0; j < n->nimplicit; j++) dup |= n->implicit[j] == o;
                if (!dup) n->implicit[n->nimplicit++] = o;
            }
        }
    }
    return EMBER_OK;
}

static ember_status parse_value_info(eg_model *m, const ember_pb *outer, const ember_pb_field *vf, eg_graph *g, int *idx) {
    ember_pb r = ember_pb_sub(outer, vf);
    ember_pb_field f;
    int rc;
    const uint8_t *name = NULL, *type = NULL;
    size_t nlen = 0, tlen = 0;
    while ((rc = ember_pb_next(&r, &f)) > 0) {
        if (f.number == VI_NAME && f.wire == EMBER_PB_LEN) name = f.data, nlen = f.len;
        if (f.number == VI_TYPE && f.wire == EMBER_PB_LEN) type = f.data, tlen = f.len;
    }
    if (rc < 0) return pb_error(&r, "ValueInfoProto");
    if (!name || !nlen) return ember_fail(EMBER_ERR_FORMAT, "ValueInfoProto without a name at byte %zu", vf->offset);
    char *n = adup(m, name, nlen);
    if (!n) return nomem();
    ember_status s = value_get(g, n, idx);
    if (s) return s;
    if (type) {
        ember_pb_field tf = {.number = VI_TYPE, .wire = EMBER_PB_LEN, .data = type, .len = tlen};
        s = parse_type_sub(m, &r, &tf, &g->values[*idx].type, 0);
    }
    return s;
}

/* Register the output names of every node first so any node can reference any other. */
static ember_status register_node_outputs(eg_model *m, ember_pb r, eg_graph *g) {
    ember_pb_field f;
    int rc;
    while ((rc = ember_pb_next(&r, &f)) > 0) {
        if (f.number != GRAPH_NODE || f.wire != EMBER_PB_LEN) continue;
        ember_pb nr = ember_pb_sub(&r, &f);
        ember_pb_field nf;
        while ((rc = ember_pb_next(&nr, &nf)) > 0) {
            if (nf.number != NODE_OUTPUT || nf.wire != EMBER_PB_LEN || !nf.len) continue;
            char *name = adup(m, nf.data, nf.len);
            int idx;
            if (!name) return nomem();
            ember_status s = value_get(g, name, &idx);
            if (s) return s;
            if (g->values[idx].producer >= 0 || g->values[idx].init)
                return ember_fail(EMBER_ERR_FORMAT, "value '%s' is defined twice", name);
            g->values[idx].producer = 1 << 30; /* fixed below, once nodes are numbered */
        }
        if (rc < 0) return pb_error(&nr, "NodeProto");
    }
    if (rc < 0) return pb_error(&r, "GraphProto");
    return EMBER_OK;
}

static ember_status parse_graph(importer *im, const ember_pb *outer, const ember_pb_field *gf, eg_graph *parent,
                                eg_graph **out) {
    eg_model *m = im->m;
    eg_graph *g = aalloc(m, sizeof *g);
    if (!g) return nomem();
    ember_status ps = push_ptr(m, (void ***)&m->graphs, &m->ngraphs, &m->cap_graphs, g);
    if (ps) return ps;
    g->parent = parent;
    g->model = m;
    g->name = "";
    *out = g;
    ember_pb r0 = ember_pb_sub(outer, gf), r = r0;
    ember_pb_field f;
    int rc, nnodes = 0, cin = 0, cout = 0;
    ember_status s = EMBER_OK;
    /* pass 1: name, initializers, inputs, outputs, value_info; count nodes */
    while (!s && (rc = ember_pb_next(&r, &f)) > 0) {
        if (f.wire != EMBER_PB_LEN) continue;
        int idx;
        switch (f.number) {
        case GRAPH_NAME: if (!(g->name = adup(m, f.data, f.len))) s = nomem(); break;
        case GRAPH_NODE: nnodes++; break;
        case GRAPH_INIT: {
            ember_tensor *t = NULL;
            const void *raw = NULL;
            if ((s = load_tensor(m, f.data, f.len, &raw, &t))) break;
            if (!t->name) { s = ember_fail(EMBER_ERR_FORMAT, "initializer without a name at byte %zu", f.offset); break; }
            if ((s = value_get(g, t->name, &idx))) break;
            g->values[idx].init = t;
            g->values[idx].init_raw = raw;
            break;
        }
        case GRAPH_SPARSE_INIT:
            s = ember_fail(EMBER_ERR_UNSUPPORTED, "sparse initializers are not supported yet");
            break;
        case GRAPH_INPUT: case GRAPH_OUTPUT: case GRAPH_VINFO:
            if ((s = parse_value_info(m, &r, &f, g, &idx))) break;
            if (f.number == GRAPH_INPUT) {
                g->values[idx].is_input = true;
                s = push_ptr(m, (void ***)&g->inputs, &g->ninputs, &cin, (void *)(intptr_t)idx);
            } else if (f.number == GRAPH_OUTPUT) {
                g->values[idx].is_output = true;
                s = push_ptr(m, (void ***)&g->outputs, &g->noutputs, &cout, (void *)(intptr_t)idx);
            }
            break;
        default: break;
        }
    }
    if (s) return s;
    if (rc < 0) return pb_error(&r, "GraphProto");
    /* inputs and outputs were pushed as pointer-sized integers: compact them into int arrays */
    int *ins = aalloc(m, sizeof(int) * (size_t)(g->ninputs + 1)), *outs = aalloc(m, sizeof(int) * (size_t)(g->noutputs + 1));
    if (!ins || !outs) return nomem();
    int nin = 0;
    for (int i = 0; i < g->ninputs; i++) {
        int v = (int)(intptr_t)((void **)g->inputs)[i];
        if (!g->values[v].init) ins[nin++] = v; /* an input with an initializer is a constant with a default */
    }
    for (int i = 0; i < g->noutputs; i++) outs[i] = (int)(intptr_t)((void **)g->outputs)[i];
    g->inputs = ins;
    g->ninputs = nin;
    g->outputs = outs;
    if ((s = register_node_outputs(m, r0, g))) return s;
    /* pass 2: nodes */
    g->nodes = aalloc(m, sizeof(eg_node) * (size_t)(nnodes + 1));
    if (!g->nodes) return nomem();
    r = r0;
    while (!s && (rc = ember_pb_next(&r, &f)) > 0) {
        if (f.number != GRAPH_NODE || f.wire != EMBER_PB_LEN) continue;
        eg_node *n = &g->nodes[g->nnodes];
        if ((s = parse_node(im, &r, &f, g, n, g->nnodes))) break;
        for (int i = 0; i < n->nout; i++)
            if (n->out[i] >= 0) g->values[n->out[i]].producer = g->nnodes;
        s = node_implicit(m, n);
        g->nnodes++;
    }
    if (s) return s;
    for (int i = 0; i < g->noutputs; i++) {
        eg_value *v = &g->values[g->outputs[i]];
        if (v->producer < 0 && !v->init && !v->is_input) {
            /* a graph output can be an outer-scope value (subgraphs) */
            int idx;
            bool found;
            eg_graph *p = g->parent;
            if (p && (s = value_resolve(p, v->name, &idx, &found)) == EMBER_OK && found) v->outer = idx;
            else if (!s) return ember_fail(EMBER_ERR_FORMAT, "graph output '%s' is never computed", v->name);
            else return s;
        }
    }
    return EMBER_OK;
}

/* --- model -------------------------------------------------------------------------------------------- */
static ember_status parse_opset(eg_model *m, const ember_pb *outer, const ember_pb_field *of, int *cap) {
    ember_pb r = ember_pb_sub(outer, of);
    ember_pb_field f;
    int rc;
    eg_opset o = {"", 0};
    while ((rc = ember_pb_next(&r, &f)) > 0) {
        if (f.number == OPSET_DOMAIN && f.wire == EMBER_PB_LEN) {
            if (!(o.domain = adup(m, f.data, f.len))) return nomem();
        } else if (f.number == OPSET_VERSION && f.wire == EMBER_PB_VARINT) {
            o.version = (int64_t)f.value;
        }
    }
    if (rc < 0) return pb_error(&r, "OperatorSetIdProto");
    if (!strcmp(o.domain, "ai.onnx")) o.domain = "";
    if (m->nopsets == *cap) {
        int nc = *cap ? *cap * 2 : 4;
        eg_opset *no = aalloc(m, sizeof *no * (size_t)nc);
        if (!no) return nomem();
        if (m->nopsets) memcpy(no, m->opsets, sizeof *no * (size_t)m->nopsets);
        m->opsets = no;
        *cap = nc;
    }
    m->opsets[m->nopsets++] = o;
    return EMBER_OK;
}

static ember_status parse_model(importer *im) {
    eg_model *m = im->m;
    ember_pb r = ember_pb_reader(m->map.data, m->map.size);
    ember_pb_field f, graph_f = {0};
    int rc, cap = 0;
    bool has_graph = false;
    ember_status s = EMBER_OK;
    while (!s && (rc = ember_pb_next(&r, &f)) > 0) {
        if (f.number == MODEL_IR && f.wire == EMBER_PB_VARINT) m->ir_version = (int64_t)f.value;
        else if (f.number == MODEL_PRODUCER && f.wire == EMBER_PB_LEN) {
            if (!(m->producer = adup(m, f.data, f.len))) s = nomem();
        } else if (f.number == MODEL_OPSET && f.wire == EMBER_PB_LEN) s = parse_opset(m, &r, &f, &cap);
        else if (f.number == MODEL_GRAPH && f.wire == EMBER_PB_LEN) graph_f = f, has_graph = true;
    }
    if (s) return s;
    if (rc < 0) return pb_error(&r, "ModelProto");
    if (!has_graph) return ember_fail(EMBER_ERR_FORMAT, "not an ONNX model (no graph field)");
    if (m->ir_version <= 0 || m->ir_version > 64)
        return ember_fail(EMBER_ERR_FORMAT, "not an ONNX model (ir_version %lld)", (long long)m->ir_version);
    if (!m->nopsets) { /* IR version 1/2 models: implied ai.onnx opset 1 */
        if (!(m->opsets = aalloc(m, sizeof *m->opsets))) return nomem();
        m->opsets[0] = (eg_opset){"", 1};
        m->nopsets = 1;
    }
    ember_pb top = ember_pb_reader(m->map.data, m->map.size);
    return parse_graph(im, &top, &graph_f, NULL, &m->graph);
}

void eg_model_free(eg_model *m) {
    if (!m) return;
    for (int i = 0; i < m->ngraphs; i++) { /* the graphs themselves live in the arena */
        ember_free(m->graphs[i]->values);
        ember_free(m->graphs[i]->hash);
    }
    for (int i = 0; i < m->nowned; i++) ember_tensor_destroy(m->owned[i]);
    ember_free(m->owned);
    ember_arena_free(&m->arena);
    pthread_mutex_destroy(&m->init_lock);
    ember_map_close(&m->map);
    ember_free(m->path);
    ember_free(m->dir);
    ember_free(m);
}

ember_status eg_model_load(const char *path, eg_model **out) {
    *out = NULL;
    eg_model *m = ember_calloc(1, sizeof *m);
    if (!m) return nomem();
    pthread_mutex_init(&m->init_lock, NULL);
    ember_arena_init(&m->arena, 1 << 16);
    m->path = ember_strdup(path);
    m->dir = ember_strdup(path);
    if (!m->path || !m->dir) {
        eg_model_free(m);
        return nomem();
    }
    char *slash = strrchr(m->dir, '/');
    if (slash) slash[1] = 0;
    else strcpy(m->dir, ".");
    ember_status s = ember_map_open(path, &m->map);
    importer im = {.m = m};
    if (!s && !m->map.size) s = ember_fail(EMBER_ERR_FORMAT, "empty file");
    if (!s) s = parse_model(&im);
    if (!s && im.nunsupported)
        s = ember_fail(EMBER_ERR_UNSUPPORTED, "%d unsupported operator%s: %s", im.nunsupported,
                       im.nunsupported > 1 ? "s" : "", im.unsupported ? im.unsupported : "");
    ember_free(im.unsupported);
    if (s) {
        eg_model_free(m);
        return ember_fail_context(s, "%s: ", path);
    }
    *out = m;
    return EMBER_OK;
}

const eg_attr *eg_attr_find(const eg_node *n, const char *name) {
    for (int i = 0; i < n->nattr; i++)
        if (!strcmp(n->attr[i].name, name)) return &n->attr[i];
    return NULL;
}
