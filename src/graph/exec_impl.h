/* The executor's internals, shared by graph/exec.c (planning, running) and graph/fuse.c (graph passes over
 * the planned steps). Not for ops: they see only eo_ctx. */
#ifndef EMBER_GRAPH_EXEC_IMPL_H
#define EMBER_GRAPH_EXEC_IMPL_H

#include "graph/exec.h"

/* A node made by the graph passes (owned by the executor), with room for its inputs and attributes. */
typedef struct eg_synth {
    eg_node node;
    int in[4], out[1];
    eg_attr attr[2];
} eg_synth;

struct eg_exec {
    const eg_graph *g;
    eg_exec *parent;
    ember_pool *pool;
    ev *vals;       /* local storage, one per graph value */
    ev **slot;      /* slot[v]: &vals[v], or the parent's slot for captured values */
    bool *is_const; /* initializer or folded: has data across runs */
    ev *meta;       /* planned metadata of static values (kind TENSOR, shape) */
    int64_t *offset;/* arena offset of static values, -1 otherwise */
    int *last_use;  /* last step reading the value; nsteps for graph outputs; -1 never */
    int *steps;     /* node index per step */
    bool *dynamic;  /* per step: infer at run time */
    /* per step, set by the graph passes (eg_fuse_steps): */
    int *step_out0;    /* value the step's output 0 is written to (the last absorbed node's output), -1: the node's */
    int *step_extra;   /* an extra input (fused residual), -1: none; ops see it at c->in[node->nin] */
    eo_fuse *fuse;     /* what the step does after its op (valid when has_fuse) */
    bool *has_fuse;
    float **fuse_mem;  /* buffers the passes allocated for the step (folded BatchNormalization) */
    eo_prep *prep;     /* op state kept across runs (pre-packed weights) */
    struct ember_pagestore *store; /* where the ops put packed weights (NULL: the heap); emptied with prep */
    eg_synth **synth;  /* a node the passes made to replace a pattern (LayerNormalization), NULL: the graph's */
    int *chain;        /* -1; or the step this step's op runs first, band by band inside its own (its input
                          0 is that step's output, which is then never written; the step's extra input is
                          the chained step's input 0); -2: the step is run by a later step */
    int64_t *panel;    /* per value: nr when the graph passes put it in the panel layout of nr columns
                          (kernels.h; panel_convs), 0: as its shape says */
    bool no_fuse;      /* eg_exec_set_fusion(x, false): run the graph as written */
    bool f16_weights;  /* eg_exec_set_f16_weights: constant GEMM weights packed as IEEE half */
    bool chain_all;    /* eg_exec_set_chain_all: chain small Conv pairs too */
    int nfused;        /* nodes absorbed into other steps by the last plan */
    int nsteps, nfolded, ndynamic, nremoved;
    uint8_t *arena; /* on huge pages (ember_huge_alloc) when arena_huge */
    bool arena_huge;
    size_t arena_size, act_bytes;
    bool planned;
    ev plan_in_meta[64]; /* input metadata the plan was made for */
    int nplan_in;
    eg_profile *profile;
};

/* Graph passes over the planned steps (after inference and folding, before the memory plan): fold
 * BatchNormalization into Conv, fuse activations, residual Adds and MatMul biases into the step before
 * them, and drop the absorbed steps. Returns the number of nodes absorbed; fails only when out of memory. */
ember_status eg_fuse_steps(eg_exec *x, int *absorbed);

/* Value v is a deferred initializer (eg_value.init_raw) this executor has not needed the data of: the
 * weights of steps that packed them. */
static inline bool eg_exec_deferred(const eg_exec *x, int v) {
    return x->g->values[v].init_raw && !x->vals[v].t.data;
}

/* The node a step runs: the pass-made one, or the graph's. */
static inline const eg_node *eg_step_node(const eg_exec *x, int s) {
    return x->synth[s] ? &x->synth[s]->node : &x->g->nodes[x->steps[s]];
}

/* Inputs of a node including the implicit ones (values its subgraphs read). */
static inline int eg_node_ninputs(const eg_node *n) { return n->nin + n->nimplicit; }
static inline int eg_node_input(const eg_node *n, int i) { return i < n->nin ? n->in[i] : n->implicit[i - n->nin]; }

#endif
