/* Planning and execution of a graph: shape inference, constant folding, dead-node removal, a lifetime-based
 * memory plan (static activations share one arena), and the run loop over prepared steps.
 *
 *     eg_exec *x = NULL;
 *     eg_exec_create(model->graph, NULL, pool, &x);
 *     eg_exec_run(x, inputs, outputs);   // re-plans when input shapes differ from the last run
 *     eg_exec_destroy(x);
 */
#ifndef EMBER_GRAPH_EXEC_H
#define EMBER_GRAPH_EXEC_H

#include "graph/graph.h"
#include "ops/op.h"

typedef struct eg_exec eg_exec;

typedef struct eg_profile {
    double *node_ns; /* per node of the graph: accumulated run time in nanoseconds (caller-owned, nnodes long) */
} eg_profile;

/* parent: the executor of the enclosing graph (for subgraphs, so captured values resolve), else NULL. */
ember_status eg_exec_create(const eg_graph *g, eg_exec *parent, ember_pool *pool, eg_exec **out);
void eg_exec_destroy(eg_exec *x);
/* inputs: one per g->inputs (tensors, sequences or EV_NONE); outputs: g->noutputs values the caller owns
 * and clears with ev_clear (filled with owned copies). */
ember_status eg_exec_run(eg_exec *x, ev *const *inputs, ev *outputs);
/* Plan for these inputs without running (data is not needed; shapes are). */
ember_status eg_exec_plan(eg_exec *x, ev *const *inputs);
void eg_exec_set_profile(eg_exec *x, eg_profile *p);
/* Graph passes on (default) or off (the graph runs node by node as written: the reference for tests).
 * Takes effect at the next plan. */
void eg_exec_set_fusion(eg_exec *x, bool on);
/* Constant GEMM weights kept as IEEE half (set before the first plan). */
void eg_exec_set_f16_weights(eg_exec *x, bool on);
/* Chain every 1x1 Conv -> depthwise Conv pair the passes find, however small (by default only those whose
 * intermediate would not stay in cache): for tests. Takes effect at the next plan. */
void eg_exec_set_chain_all(eg_exec *x, bool on);

/* After planning: the inferred value of graph value v (kind EV_ABSENT when only known at run time),
 * whether it is a folded constant, and statistics. */
const ev *eg_exec_value(const eg_exec *x, int v);
bool eg_exec_is_const(const eg_exec *x, int v);
/* The graph this executor runs. */
const eg_graph *eg_exec_graph(const eg_exec *x);
typedef struct eg_plan_stats {
    int steps, folded, dynamic_steps, removed, fused; /* fused: nodes absorbed into the step before them */
    int chained; /* steps run band by band inside the step after them */
    int panels;  /* values in the panel layout or lined planes (a Conv's output for the 1x1 Conv after it) */
    size_t arena_bytes, activation_bytes; /* arena size vs. sum of the planned tensors */
} eg_plan_stats;
void eg_exec_stats(const eg_exec *x, eg_plan_stats *st);
/* Step order: node index of step i. */
int eg_exec_step_node(const eg_exec *x, int i);
/* The node step i runs: its graph node, or the one a graph pass put in its place (a LayerNormalization or
 * an ember.FusedAttention). */
const eg_node *eg_exec_step_op(const eg_exec *x, int i);
/* Whether step i is run inside a later step (a chained 1x1 Conv). */
bool eg_exec_step_chained(const eg_exec *x, int i);

/* For control-flow ops: run subgraph g with the given inputs inside the op's executor. outputs: owned copies. */
ember_status eg_subgraph_run(eo_ctx *c, const eg_graph *g, int nin, ev *const *inputs, ev *outputs);

#endif
