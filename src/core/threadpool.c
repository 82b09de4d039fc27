/* The persistent thread pool: workers wait on a generation counter, take chunks from an atomic cursor. */
#include "ember/threadpool.h"
#include "ember/cpu.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define cpu_relax() _mm_pause()
#elif defined(__aarch64__) || defined(__arm__)
#define cpu_relax() __asm__ __volatile__("yield" ::: "memory")
#else
#define cpu_relax() ((void)0)
#endif

enum { SPIN_LIMIT = 1 << 15 }; /* roughly 100 microseconds of pause before sleeping */

struct ember_pool {
    int nthreads;
    pthread_t *workers;
    pthread_mutex_t mu, submit;
    pthread_cond_t wake, done;
    atomic_uint_fast64_t generation;
    atomic_bool stop;
    /* the current job */
    ember_range_fn fn;
    void *ctx;
    int64_t count, chunk;
    atomic_int_fast64_t next;
    atomic_int pending;
};

typedef struct {
    ember_pool *pool;
    int thread;
} worker_arg;

static _Thread_local bool inside_task;

static void run_chunks(ember_pool *p, int thread) {
    for (;;) {
        int64_t b = atomic_fetch_add(&p->next, p->chunk);
        if (b >= p->count) return;
        int64_t e = b + p->chunk < p->count ? b + p->chunk : p->count;
        p->fn(p->ctx, b, e, thread);
    }
}

static uint64_t wait_generation(ember_pool *p, uint64_t seen) {
    for (int i = 0; i < SPIN_LIMIT; i++) {
        uint64_t g = atomic_load_explicit(&p->generation, memory_order_acquire);
        if (g != seen) return g;
        cpu_relax();
    }
    pthread_mutex_lock(&p->mu);
    uint64_t g;
    while ((g = atomic_load(&p->generation)) == seen) pthread_cond_wait(&p->wake, &p->mu);
    pthread_mutex_unlock(&p->mu);
    return g;
}

static void *worker_main(void *arg) {
    worker_arg a = *(worker_arg *)arg;
    ember_free(arg);
    ember_pool *p = a.pool;
    inside_task = true;
    uint64_t seen = 0;
    for (;;) {
        seen = wait_generation(p, seen);
        if (atomic_load(&p->stop)) return NULL;
        run_chunks(p, a.thread);
        if (atomic_fetch_sub(&p->pending, 1) == 1) {
            pthread_mutex_lock(&p->mu);
            pthread_cond_signal(&p->done);
            pthread_mutex_unlock(&p->mu);
        }
    }
}

static void publish(ember_pool *p) {
    pthread_mutex_lock(&p->mu);
    atomic_fetch_add_explicit(&p->generation, 1, memory_order_release);
    pthread_cond_broadcast(&p->wake);
    pthread_mutex_unlock(&p->mu);
}

ember_status ember_pool_create(int nthreads, ember_pool **out) {
    *out = NULL;
    if (nthreads <= 0) nthreads = ember_cpu_count();
    if (nthreads > 1024) return ember_fail(EMBER_ERR_ARG, "thread pool: %d threads is too many", nthreads);
    ember_pool *p = ember_calloc(1, sizeof *p);
    if (!p) return ember_fail(EMBER_ERR_NOMEM, "thread pool: out of memory");
    p->nthreads = nthreads;
    pthread_mutex_init(&p->mu, NULL);
    pthread_mutex_init(&p->submit, NULL);
    pthread_cond_init(&p->wake, NULL);
    pthread_cond_init(&p->done, NULL);
    atomic_init(&p->generation, 0);
    atomic_init(&p->stop, false);
    atomic_init(&p->next, 0);
    atomic_init(&p->pending, 0);
    p->workers = ember_calloc((size_t)nthreads, sizeof(pthread_t));
    if (!p->workers) {
        ember_pool_destroy(p);
        return ember_fail(EMBER_ERR_NOMEM, "thread pool: out of memory");
    }
    for (int i = 1; i < nthreads; i++) {
        worker_arg *a = ember_malloc(sizeof *a);
        if (a) *a = (worker_arg){p, i};
        if (!a || pthread_create(&p->workers[i], NULL, worker_main, a)) {
            ember_free(a);
            p->nthreads = i; /* destroy joins the ones that started */
            ember_pool_destroy(p);
            return ember_fail(EMBER_ERR_INTERNAL, "thread pool: cannot start thread %d of %d", i, nthreads);
        }
    }
    *out = p;
    return EMBER_OK;
}

void ember_pool_destroy(ember_pool *p) {
    if (!p) return;
    if (p->workers) {
        atomic_store(&p->stop, true);
        publish(p);
        for (int i = 1; i < p->nthreads; i++) pthread_join(p->workers[i], NULL);
        ember_free(p->workers);
    }
    pthread_mutex_destroy(&p->mu);
    pthread_mutex_destroy(&p->submit);
    pthread_cond_destroy(&p->wake);
    pthread_cond_destroy(&p->done);
    ember_free(p);
}

int ember_pool_threads(const ember_pool *p) { return p ? p->nthreads : 1; }

void ember_pool_for(ember_pool *p, int64_t count, int64_t grain, ember_range_fn fn, void *ctx) {
    if (count <= 0) return;
    if (grain <= 0) grain = 1;
    if (!p || p->nthreads == 1 || inside_task || count <= grain) {
        fn(ctx, 0, count, 0);
        return;
    }
    /* Several chunks per thread balance uneven work; never below the caller's grain. */
    int64_t chunk = (count + (int64_t)p->nthreads * 4 - 1) / ((int64_t)p->nthreads * 4);
    if (chunk < grain) chunk = grain;

    pthread_mutex_lock(&p->submit);
    p->fn = fn;
    p->ctx = ctx;
    p->count = count;
    p->chunk = chunk;
    atomic_store(&p->next, 0);
    atomic_store(&p->pending, p->nthreads - 1);
    publish(p);

    inside_task = true;
    run_chunks(p, 0);
    inside_task = false;

    for (int i = 0; i < SPIN_LIMIT && atomic_load_explicit(&p->pending, memory_order_acquire); i++) cpu_relax();
    if (atomic_load(&p->pending)) {
        pthread_mutex_lock(&p->mu);
        while (atomic_load(&p->pending)) pthread_cond_wait(&p->done, &p->mu);
        pthread_mutex_unlock(&p->mu);
    }
    pthread_mutex_unlock(&p->submit);
}
