/* The persistent thread pool. A job is published by bumping a generation number; workers claim chunks by
 * compare-and-swap on a cursor that carries the job's sequence number in its high bits, so a worker that
 * wakes late can never take a chunk of a later job by mistake, and the caller waits only for chunks in
 * flight — not for sleeping workers to wake up. */
#include "ember/threadpool.h"
#include "ember/cpu.h"

#include <pthread.h>
#include <sched.h>
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

enum {
    SPIN_PAUSES = 1 << 12, /* busy-wait this many pauses first (a few microseconds)... */
    SPIN_YIELDS = 64,      /* ...then yield the core this many times, then sleep */
};
#define SEQ_SHIFT 40 /* cursor = sequence << 40 | next index; jobs are limited to 2^40 indices */
#define INDEX_MASK ((UINT64_C(1) << SEQ_SHIFT) - 1)

struct ember_pool {
    int nthreads;
    pthread_t *workers;
    pthread_mutex_t mu, submit;
    pthread_cond_t wake;
    atomic_uint_fast64_t generation; /* bumped once per job (and on stop) */
    atomic_int sleepers;
    atomic_bool stop;
    /* the current job; written only while no chunk of the previous job can still be claimed */
    _Atomic(ember_range_fn) fn;
    _Atomic(void *) ctx;
    atomic_int_fast64_t count, chunk;
    atomic_uint_fast64_t cursor;
    atomic_int_fast64_t done; /* indices finished */
};

typedef struct {
    ember_pool *pool;
    int thread;
} worker_arg;

static _Thread_local bool inside_task;

static uint64_t seq_bits(uint64_t seq) { return seq & ((UINT64_C(1) << (64 - SEQ_SHIFT)) - 1); }

/* Claim and run chunks of job `seq` until none is left. The job description is read between two looks at
 * the cursor (a seqlock): if the cursor still belongs to `seq` afterwards, the description was that job's. */
static void run_chunks(ember_pool *p, uint64_t seq, int thread) {
    uint64_t cur = atomic_load_explicit(&p->cursor, memory_order_acquire);
    if (cur >> SEQ_SHIFT != seq_bits(seq)) return;
    ember_range_fn fn = atomic_load_explicit(&p->fn, memory_order_relaxed);
    void *ctx = atomic_load_explicit(&p->ctx, memory_order_relaxed);
    int64_t count = atomic_load_explicit(&p->count, memory_order_relaxed);
    int64_t chunk = atomic_load_explicit(&p->chunk, memory_order_relaxed);
    atomic_thread_fence(memory_order_acquire);
    cur = atomic_load_explicit(&p->cursor, memory_order_relaxed);
    for (;;) {
        if (cur >> SEQ_SHIFT != seq_bits(seq)) return; /* a later job has started */
        int64_t b = (int64_t)(cur & INDEX_MASK);
        if (b >= count) return;
        int64_t e = b + chunk < count ? b + chunk : count;
        if (!atomic_compare_exchange_weak(&p->cursor, &cur, (cur & ~INDEX_MASK) | (uint64_t)e)) continue;
        fn(ctx, b, e, thread);
        atomic_fetch_add_explicit(&p->done, e - b, memory_order_release);
        cur = atomic_load(&p->cursor);
    }
}

static bool spin_wait(int i) {
    if (i < SPIN_PAUSES) cpu_relax();
    else if (i < SPIN_PAUSES + SPIN_YIELDS) sched_yield();
    else return false;
    return true;
}

static uint64_t wait_generation(ember_pool *p, uint64_t seen) {
    uint64_t g;
    for (int i = 0; spin_wait(i); i++)
        if ((g = atomic_load_explicit(&p->generation, memory_order_acquire)) != seen) return g;
    pthread_mutex_lock(&p->mu);
    atomic_fetch_add(&p->sleepers, 1);
    while ((g = atomic_load(&p->generation)) == seen) pthread_cond_wait(&p->wake, &p->mu);
    atomic_fetch_sub(&p->sleepers, 1);
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
        run_chunks(p, seen, a.thread);
    }
}

static void publish(ember_pool *p) {
    atomic_fetch_add(&p->generation, 1);
    if (atomic_load(&p->sleepers) > 0) {
        pthread_mutex_lock(&p->mu);
        pthread_cond_broadcast(&p->wake);
        pthread_mutex_unlock(&p->mu);
    }
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
    ember_free(p);
}

/* Inside a task a nested ember_pool_for runs serially (thread 0), so kernels sizing work by this see 1. */
int ember_pool_threads(const ember_pool *p) { return p && !inside_task ? p->nthreads : 1; }

void ember_pool_for(ember_pool *p, int64_t count, int64_t grain, ember_range_fn fn, void *ctx) {
    if (count <= 0) return;
    if (grain <= 0) grain = 1;
    if (!p || p->nthreads == 1 || inside_task || count <= grain || (uint64_t)count > INDEX_MASK) {
        fn(ctx, 0, count, 0);
        return;
    }
    /* Several chunks per thread balance uneven work; never below the caller's grain. Rounded down: 10 GEMM
     * tiles at 2 threads had been 5 chunks of 2, split 3 : 2 (MobileFaceNet's 128 -> 512 1x1 at 14x14:
     * 144 -> 123 us at 2 threads, 116 the even split). */
    int64_t chunk = count / ((int64_t)p->nthreads * 4);
    if (chunk < grain) chunk = grain;

    pthread_mutex_lock(&p->submit);
    uint64_t seq = atomic_load(&p->generation) + 1;
    /* Close the cursor to every job before rewriting the description, then open it for this one. */
    atomic_store(&p->cursor, seq_bits(seq) << SEQ_SHIFT | INDEX_MASK);
    atomic_thread_fence(memory_order_release);
    atomic_store_explicit(&p->fn, fn, memory_order_relaxed);
    atomic_store_explicit(&p->ctx, ctx, memory_order_relaxed);
    atomic_store_explicit(&p->count, count, memory_order_relaxed);
    atomic_store_explicit(&p->chunk, chunk, memory_order_relaxed);
    atomic_store(&p->done, 0);
    atomic_store_explicit(&p->cursor, seq_bits(seq) << SEQ_SHIFT, memory_order_release);
    publish(p);

    inside_task = true;
    run_chunks(p, seq, 0);
    inside_task = false;
    /* Only chunks other threads are running remain; wait for them without sleeping. */
    for (int i = 0; atomic_load_explicit(&p->done, memory_order_acquire) < count; i++)
        if (!spin_wait(i)) sched_yield();
    pthread_mutex_unlock(&p->submit);
}
