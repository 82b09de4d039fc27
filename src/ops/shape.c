/* Data-movement ops: values copied, reshaped or rearranged without arithmetic (ONNX Identity, ...). */
#include "ops/op.h"

ember_status identity_run(eo_ctx *c) {
    const ev *x = c->in[0];
    if (x->kind != EV_TENSOR) return ev_copy(c->out[0], x);
    ember_tensor *y = eo_out(c, 0);
    return eo_convert(&x->t, y);
}
