/* The smallest program on the installed library: version, CPU features, and a parallel sum on the pool.
 * Build: cc hello.c $(pkg-config --cflags --libs --static ember) */
#include <ember/ember.h>

#include <stdio.h>

static void square(void *ctx, int64_t begin, int64_t end, int thread) {
    float *x = ctx;
    for (int64_t i = begin; i < end; i++) x[i] = (float)(i * i);
}

int main(void) {
    char cpu[256];
    ember_cpu_describe(cpu, sizeof cpu);
    printf("ember %s on %s\n", ember_version(), cpu);

    int64_t shape[] = {1000};
    ember_tensor *t = NULL;
    ember_pool *pool = NULL;
    if (ember_tensor_create(EMBER_DTYPE_F32, 1, shape, &t) || ember_pool_create(0, &pool)) {
        fprintf(stderr, "error: %s\n", ember_last_error());
        return 1;
    }
    ember_pool_for(pool, shape[0], 64, square, t->data);
    printf("x[999] = %.0f\n", ember_tensor_get_f64(t, 999));
    ember_pool_destroy(pool);
    ember_tensor_destroy(t);
    return 0;
}
