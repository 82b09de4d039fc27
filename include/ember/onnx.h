/* ONNX models: load, inspect, run; and ONNX test directories (model.onnx + test_data_set_N/ with .pb files).
 *
 * Usage:
 *
 *     ember_onnx_model *m = NULL;
 *     if (ember_onnx_open("mobilenet_v2.onnx", &m) != EMBER_OK) {     // one message lists every
 *         fprintf(stderr, "%s\n", ember_last_error());                 // unsupported operator
 *         return 2;
 *     }
 *     ember_onnx_session *s = NULL;
 *     ember_onnx_session_create(m, NULL, &s);                          // threads: one per core
 *     ember_tensor *in[1] = {image}, *out[1] = {NULL};
 *     if (ember_onnx_run_tensors(s, in, out) == EMBER_OK) {             // in model input order
 *         ...                                                          // out[0] is yours
 *         ember_tensor_destroy(out[0]);
 *     }
 *     ember_onnx_session_destroy(s);
 *     ember_onnx_close(m);                                             // after its sessions
 *
 * The file is mapped read-only and initializer data is used in place. A session plans for the input
 * shapes it sees (shape inference, constant folding, one arena for activations) and plans again when
 * they change. Sequence and optional values go through ember_value (ember_onnx_run).
 */
#ifndef EMBER_ONNX_H
#define EMBER_ONNX_H

#include "ember/status.h"
#include "ember/tensor.h"
#include "ember/threadpool.h"

#include <stdbool.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct ember_onnx_model ember_onnx_model;
typedef struct ember_onnx_session ember_onnx_session;

/* --- values: tensors, sequences of tensors, empty optionals ------------------------------------------- */
typedef enum ember_value_kind {
    EMBER_VALUE_TENSOR = 1,
    EMBER_VALUE_SEQUENCE = 2,
    EMBER_VALUE_NONE = 3, /* an optional without a value */
} ember_value_kind;

typedef struct ember_value {
    ember_value_kind kind;
    ember_tensor *tensor;        /* TENSOR: owned by the value */
    int count;                   /* SEQUENCE: number of items */
    struct ember_value **items;  /* SEQUENCE: owned items (tensors) */
    ember_dtype elem_dtype;      /* SEQUENCE: element type (meaningful when empty too) */
} ember_value;

/* Frees the value, what it owns, and v itself. NULL is fine. */
EMBER_API void ember_value_destroy(ember_value *v);
/* A value that takes ownership of t. */
EMBER_API ember_status ember_value_from_tensor(ember_tensor *t, ember_value **out);

/* --- models ------------------------------------------------------------------------------------------- */
/* Load an ONNX model. Fails with EMBER_ERR_UNSUPPORTED naming every operator Ember lacks (op, domain,
 * opset, node), EMBER_ERR_FORMAT for damaged files. Close with ember_onnx_close after its sessions. */
EMBER_API ember_status ember_onnx_open(const char *path, ember_onnx_model **out);
EMBER_API void ember_onnx_close(ember_onnx_model *m);

/* Description of a graph input or output. Strings are owned by the model. */
typedef struct ember_onnx_io {
    const char *name;
    ember_value_kind kind;   /* NONE here means "optional" */
    ember_dtype dtype;       /* element type (of the items, for sequences) */
    int ndim;                /* -1 when the rank is unknown */
    int64_t dims[EMBER_MAX_DIMS];          /* -1 when unknown or symbolic */
    const char *dim_names[EMBER_MAX_DIMS]; /* symbolic dimension names, or NULL */
} ember_onnx_io;

EMBER_API int ember_onnx_input_count(const ember_onnx_model *m);
EMBER_API int ember_onnx_output_count(const ember_onnx_model *m);
EMBER_API ember_status ember_onnx_input(const ember_onnx_model *m, int i, ember_onnx_io *info);
EMBER_API ember_status ember_onnx_output(const ember_onnx_model *m, int i, ember_onnx_io *info);

/* Model-level facts: IR version, producer, default-domain opset, node and parameter counts. */
typedef struct ember_onnx_info {
    int64_t ir_version, opset;
    const char *producer; /* owned by the model ("" if none) */
    int nodes;            /* in the main graph */
    int64_t parameters;   /* elements in initializers */
    int64_t parameter_bytes;
    int copied_initializers; /* initializers that could not be used in place (misaligned or typed fields) */
} ember_onnx_info;
EMBER_API void ember_onnx_get_info(const ember_onnx_model *m, ember_onnx_info *info);

/* --- sessions ----------------------------------------------------------------------------------------- */
typedef struct ember_onnx_options {
    int threads;      /* 0: one per core; 1: single-threaded. Ignored when pool is given. */
    ember_pool *pool; /* optional shared pool (borrowed: must outlive the session) */
    bool profile;     /* accumulate per-node time (ember_onnx_profile) */
    bool no_fusion;   /* run the graph node by node as written (no BatchNormalization folding, no fused
                         activations/residuals): a reference for checking the fused plan */
    bool f16_weights; /* keep constant MatMul/Gemm weights packed as IEEE half (half the memory; widened
                         to f32 per cache panel, so results differ from f32 by the rounding of the weights) */
} ember_onnx_options;

/* opt may be NULL. The model must outlive the session. */
EMBER_API ember_status ember_onnx_session_create(ember_onnx_model *m, const ember_onnx_options *opt,
                                                 ember_onnx_session **out);
EMBER_API void ember_onnx_session_destroy(ember_onnx_session *s);

/* Run with one value per model input (in order). outputs[i] receive new values the caller destroys with
 * ember_value_destroy. On failure no output is set. */
EMBER_API ember_status ember_onnx_run(ember_onnx_session *s, ember_value *const *inputs, ember_value **outputs);
/* Same for tensor-only models: outputs[i] are new tensors the caller destroys. */
EMBER_API ember_status ember_onnx_run_tensors(ember_onnx_session *s, ember_tensor *const *inputs,
                                              ember_tensor **outputs);

/* Plan for inputs of these shapes without running (for ember dump). shapes[i] is the input's shape
 * (ndims[i] dims); dtypes are the model's. */
EMBER_API ember_status ember_onnx_plan(ember_onnx_session *s, const int *ndims, const int64_t (*shapes)[EMBER_MAX_DIMS]);

/* One executed node, after planning: op, name, output 0's type and shape, estimated FLOPs, profiled time. */
typedef struct ember_onnx_node {
    const char *op_type, *name, *domain;
    ember_dtype dtype; /* output 0 (UNDEFINED when only known at run time) */
    int ndim;          /* -1 when only known at run time */
    int64_t shape[EMBER_MAX_DIMS];
    int64_t flops;     /* multiply-adds count as 2 */
    double time_ns;    /* accumulated over runs when profiling */
    bool chained;      /* run band by band inside the next step, which its time counts in (a 1x1 Conv before a
                          depthwise one) */
} ember_onnx_node;

typedef struct ember_onnx_plan_info {
    int steps, folded, dynamic_steps, removed;
    size_t arena_bytes, activation_bytes;
    int fused; /* nodes the graph passes merged into the step before them (BatchNormalization, activations...) */
    int chained; /* steps (1x1 Convs) run band by band inside the step after them (a depthwise Conv) */
    int panels; /* tensors a Conv writes in the layout the 1x1 Conv reading them takes as is (docs/onnx.md) */
} ember_onnx_plan_info;

EMBER_API void ember_onnx_get_plan_info(const ember_onnx_session *s, ember_onnx_plan_info *info);
/* Steps of the current plan in execution order (i < info.steps). */
EMBER_API ember_status ember_onnx_step(const ember_onnx_session *s, int i, ember_onnx_node *node);

/* --- ONNX test directories ---------------------------------------------------------------------------- */
typedef enum ember_onnx_verdict { EMBER_TEST_PASS = 0, EMBER_TEST_FAIL = 1, EMBER_TEST_SKIP = 2 } ember_onnx_verdict;

typedef struct ember_onnx_test_result {
    ember_onnx_verdict verdict;
    char reason[512]; /* why it failed or was skipped */
    int datasets;     /* test_data_set_* directories checked */
    double seconds;
} ember_onnx_test_result;

/* Load dir/model.onnx, run every dir/test_data_set_N and compare outputs with the rule
 * |got - expected| <= 1e-5 + 1e-3 * |expected| (NaN equals NaN; integers, bools and strings exact; dtype and
 * shape exact). Returns EMBER_OK whenever a verdict was reached (even FAIL); errors only for bad arguments. */
EMBER_API ember_status ember_onnx_test_dir(const char *dir, const ember_onnx_options *opt,
                                           ember_onnx_test_result *result);

/* Read a value from a .pb file: TensorProto, or SequenceProto/OptionalProto when `kind` says so. */
EMBER_API ember_status ember_onnx_read_pb(const char *path, ember_value_kind kind, ember_value **out);

#ifdef __cplusplus
}
#endif
#endif
