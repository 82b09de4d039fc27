/* The typed graph IR that ONNX models are imported into, and the internal run-time value type.
 *
 * A model (eg_model) owns an arena holding every graph, node, attribute and name, and the mmapped file the
 * initializers point into. Graphs nest: If/Loop/Scan bodies are eg_graphs whose `parent` is the graph of
 * the node that owns them; a name a body uses from an enclosing graph becomes a local value with
 * `outer` >= 0 (the parent's value index), and the owning node lists those parent values as `implicit`
 * inputs so ordering and lifetimes account for them.
 */
#ifndef EMBER_GRAPH_GRAPH_H
#define EMBER_GRAPH_GRAPH_H

#include "core/arena.h"
#include "core/mapfile.h"
#include "ember/tensor.h"

#include <pthread.h>
#include <stdbool.h>

typedef struct eg_graph eg_graph;
typedef struct eg_model eg_model;
struct eo_def;

/* Attribute types: ONNX AttributeProto.AttributeType numbers. */
enum {
    EG_ATTR_FLOAT = 1, EG_ATTR_INT = 2, EG_ATTR_STRING = 3, EG_ATTR_TENSOR = 4, EG_ATTR_GRAPH = 5,
    EG_ATTR_FLOATS = 6, EG_ATTR_INTS = 7, EG_ATTR_STRINGS = 8, EG_ATTR_TENSORS = 9, EG_ATTR_GRAPHS = 10,
    EG_ATTR_SPARSE_TENSOR = 11, EG_ATTR_SPARSE_TENSORS = 12, EG_ATTR_TYPE_PROTO = 13, EG_ATTR_TYPE_PROTOS = 14,
};

/* Value kinds, for types (what a graph declares) and for run-time values. */
typedef enum eg_kind {
    EG_KIND_UNKNOWN = 0,
    EG_KIND_TENSOR = 1,
    EG_KIND_SEQUENCE = 2,
    EG_KIND_OPTIONAL = 3, /* types only: a run-time optional is its element or EV_NONE */
    EG_KIND_MAP = 4,
    EG_KIND_SPARSE = 5,
} eg_kind;

/* A value's declared or inferred type. */
typedef struct eg_type {
    eg_kind kind;
    ember_dtype dtype; /* element type of the tensor (innermost tensor for sequence/optional) */
    int ndim;          /* -1: rank unknown */
    int64_t dims[EMBER_MAX_DIMS];        /* -1: unknown (possibly symbolic: see dim_param) */
    const char *dim_param[EMBER_MAX_DIMS]; /* symbolic name, or NULL */
    struct eg_type *elem; /* sequence / optional element type (NULL if unknown) */
} eg_type;

typedef struct eg_attr {
    const char *name;
    int type;        /* EG_ATTR_* */
    float f;
    int64_t i;
    const char *s;   /* NUL-terminated copy; slen bytes (may contain NULs) */
    size_t slen;
    int n;           /* element count of list attributes */
    const int64_t *ints;
    const float *floats;
    const char **strs;
    const size_t *strlens;
    ember_tensor *t;       /* EG_ATTR_TENSOR (owned by the model) */
    ember_tensor **ts;     /* EG_ATTR_TENSORS */
    eg_graph *g;           /* EG_ATTR_GRAPH */
    eg_graph **gs;         /* EG_ATTR_GRAPHS */
    eg_type *tp;           /* EG_ATTR_TYPE_PROTO */
    const char *ref;       /* ref_attr_name (function bodies), or NULL */
} eg_attr;

typedef struct eg_value {
    const char *name;
    eg_type type;   /* declared type (kind UNKNOWN when not declared) */
    int producer;   /* node index, -1 when a graph input, initializer or outer value */
    int outer;      /* >= 0: this is the parent graph's value with that index */
    ember_tensor *init; /* initializer (data may borrow the mmapped file) */
    /* A deferred initializer: its raw bytes in the mapped file are misaligned, and init->data stays NULL
     * until eg_init_materialize copies them. Weights that only a packing step reads (eg_exec) are packed
     * from a transient copy instead, so the full copy is never made. */
    const void *init_raw;
    bool is_input, is_output;
} eg_value;

typedef struct eg_node {
    const char *name, *op_type, *domain;
    int opset; /* version of the node's domain the model imports */
    int nin, nout;
    int *in, *out; /* value indices; -1 for an absent optional input/output */
    int nimplicit;
    int *implicit; /* values of this graph that the node's subgraphs read */
    int nattr;
    eg_attr *attr;
    const struct eo_def *op;
} eg_node;

struct eg_graph {
    const char *name;
    eg_graph *parent;
    eg_model *model;
    int nvalues, cap_values;
    eg_value *values;
    int nnodes;
    eg_node *nodes;
    int ninputs, noutputs;
    int *inputs, *outputs; /* value indices; inputs exclude initializers */
    /* name -> value index hash (open addressing, power-of-two size) */
    int *hash;
    int hash_cap;
};

typedef struct eg_opset {
    const char *domain; /* "" for ai.onnx */
    int64_t version;
} eg_opset;

struct eg_model {
    ember_map map;
    ember_arena arena;
    char *path, *dir;
    int64_t ir_version;
    const char *producer;
    int nopsets;
    eg_opset *opsets;
    eg_graph *graph;
    eg_graph **graphs;    /* every graph made (main and subgraphs, finished or not): their heap parts are freed */
    int ngraphs, cap_graphs;
    ember_tensor **owned; /* tensors the model frees (decoded initializers, attribute tensors) */
    int nowned, cap_owned;
    int copied_inits;     /* initializers that had to be copied (misaligned raw_data or typed fields) */
    pthread_mutex_t init_lock; /* guards materializing deferred initializers (sessions may share the model) */
};

/* Import the ONNX model at path. On failure *out is NULL and the message names the file and the problem;
 * unsupported operators are listed all together in one message. Free with eg_model_free. */
ember_status eg_model_load(const char *path, eg_model **out);
void eg_model_free(eg_model *m);

/* Gives the deferred initializer of value v (eg_value.init_raw) its own aligned copy, once; nothing for
 * other values. Thread-safe. */
ember_status eg_init_materialize(eg_model *m, eg_value *v);
/* v's initializer data (NULL while deferred), read under the model's lock. */
void *eg_init_data(eg_model *m, const eg_value *v);

/* Value index by name in g only (-1 if absent). */
int eg_graph_find(const eg_graph *g, const char *name);

/* Attribute lookup on a node (NULL if absent). */
const eg_attr *eg_attr_find(const eg_node *n, const char *name);

/* Parse a TypeProto into t (arena-allocated element types). */
ember_status eg_parse_type(eg_model *m, const uint8_t *data, size_t len, eg_type *t);

/* Human-readable type, e.g. "float32[1x3xNx224]" or "seq(float32[?])". */
void eg_type_format(const eg_type *t, char *buf, size_t cap);

#endif
