/* A persistent thread pool: parallel-for over index ranges.
 *
 * Usage:
 *
 *     static void scale(void *ctx, int64_t begin, int64_t end, int thread) {
 *         float *x = ctx;
 *         for (int64_t i = begin; i < end; i++) x[i] *= 2.0f;
 *     }
 *     ember_pool *pool = NULL;
 *     ember_pool_create(0, &pool);              // 0 = one thread per available core
 *     ember_pool_for(pool, n, 1024, scale, x);  // returns when every index in [0, n) is done
 *     ember_pool_destroy(pool);
 *
 * Threads are created once. The calling thread works too, so a pool of N threads starts N-1 workers.
 * Idle workers spin briefly (bounded) and then sleep on a condition variable. A call made from inside a
 * task runs serially in that thread; concurrent calls from different threads take turns.
 * `thread` passed to the task is in [0, ember_pool_threads(pool)) and is unique among concurrently
 * running chunks, so it can index per-thread scratch space.
 */
#ifndef EMBER_THREADPOOL_H
#define EMBER_THREADPOOL_H

#include "ember/status.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct ember_pool ember_pool;
typedef void (*ember_range_fn)(void *ctx, int64_t begin, int64_t end, int thread);

/* nthreads <= 0: one per available core (ember_cpu_count). */
EMBER_API ember_status ember_pool_create(int nthreads, ember_pool **out);
EMBER_API void ember_pool_destroy(ember_pool *pool);
/* The threads a call from here would use: the pool's size, or 1 inside a task (nested calls run serially). */
EMBER_API int ember_pool_threads(const ember_pool *pool);

/* Run fn over [0, count) in chunks of at least `grain` indices (grain <= 0 means 1). A NULL pool runs
 * serially in the calling thread. */
EMBER_API void ember_pool_for(ember_pool *pool, int64_t count, int64_t grain, ember_range_fn fn, void *ctx);

#ifdef __cplusplus
}
#endif
#endif
