/* Det (opset 11-22): determinant of each square matrix in the last two axes, by LU decomposition with
 * partial pivoting in double precision. */
#include "ops/op.h"

ember_status det_infer(eo_ctx *c) {
    const ember_tensor *x = eo_in(c, 0);
    if (!x || x->ndim < 2 || x->shape[x->ndim - 1] != x->shape[x->ndim - 2])
        return ember_fail(EMBER_ERR_SHAPE, "Det: input must be [..., M, M]");
    if (!ember_dtype_is_float(x->dtype) || eo_dtype_is_small(x->dtype))
        return ember_fail(EMBER_ERR_UNSUPPORTED, "Det of %s", ember_dtype_name(x->dtype));
    return eo_set_out(c, 0, x->dtype, x->ndim - 2, x->shape);
}

ember_status det_run(eo_ctx *c) {
    const ember_tensor *x = eo_in(c, 0);
    ember_tensor *y = eo_out(c, 0);
    int64_t m = x->shape[x->ndim - 1], count = ember_tensor_count(y);
    double *a = eo_scratch(c, sizeof(double) * (size_t)(m * m + 1));
    if (!a) return ember_fail(EMBER_ERR_NOMEM, "out of memory");
    for (int64_t k = 0; k < count; k++) {
        for (int64_t i = 0; i < m * m; i++) a[i] = eo_get(x, k * m * m + i);
        double det = 1;
        for (int64_t col = 0; col < m && det != 0; col++) {
            int64_t piv = col;
            for (int64_t r = col + 1; r < m; r++)
                if (fabs(a[r * m + col]) > fabs(a[piv * m + col])) piv = r;
            if (a[piv * m + col] == 0) {
                det = 0;
                break;
            }
            if (piv != col) {
                for (int64_t j = 0; j < m; j++) {
                    double t = a[col * m + j];
                    a[col * m + j] = a[piv * m + j];
                    a[piv * m + j] = t;
                }
                det = -det;
            }
            double p = a[col * m + col];
            det *= p;
            for (int64_t r = col + 1; r < m; r++) {
                double f = a[r * m + col] / p;
                for (int64_t j = col; j < m; j++) a[r * m + j] -= f * a[col * m + j];
            }
        }
        eo_put(y, k, det);
    }
    return EMBER_OK;
}
