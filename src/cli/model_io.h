/* Shared by `ember run` and `ember dump`: --shape overrides and building input tensors (from files or
 * random) for an ONNX model. */
#ifndef EMBER_CLI_MODEL_IO_H
#define EMBER_CLI_MODEL_IO_H

#include "cli/cli.h"

typedef struct model_shapes {
    int n;
    const char *name[64];
    int ndim[64];
    int64_t shape[64][EMBER_MAX_DIMS];
} model_shapes;

/* Parse "name=1x3x224x224" (or just "1x3x224x224" for the first input) into s. */
ember_status model_shapes_add(model_shapes *s, const char *arg);
/* Concrete shape of input i: the --shape override, else the model's dims (symbolic/unknown dims -> 1). */
void model_input_shape(const ember_onnx_model *m, const model_shapes *s, int i, int *ndim, int64_t *shape);
/* Random input tensor for input i (uniform [0,1) floats, small integers, false bools). */
ember_status model_random_input(const ember_onnx_model *m, const model_shapes *s, int i, ember_tensor **out);

#endif
