/* Thread pool: every index runs exactly once, for any size, grain and thread count; nesting and
 * concurrent submitters are safe; thread ids stay in range. */
#include "ember/ember.h"

#include "check.h"

#include <pthread.h>
#include <stdatomic.h>

enum { MAXN = 100003 };

typedef struct {
    atomic_int hits[MAXN];
    atomic_int bad_thread;
    int nthreads;
} cover_ctx;

static void cover(void *p, int64_t b, int64_t e, int thread) {
    cover_ctx *c = p;
    if (thread < 0 || thread >= c->nthreads || b >= e) atomic_fetch_add(&c->bad_thread, 1);
    for (int64_t i = b; i < e; i++) atomic_fetch_add(&c->hits[i], 1);
}

static cover_ctx ctx;

static int check_cover(ember_pool *pool, int64_t n, int64_t grain) {
    for (int64_t i = 0; i < n; i++) atomic_store(&ctx.hits[i], 0);
    atomic_store(&ctx.bad_thread, 0);
    ctx.nthreads = ember_pool_threads(pool);
    ember_pool_for(pool, n, grain, cover, &ctx);
    int wrong = atomic_load(&ctx.bad_thread);
    for (int64_t i = 0; i < n; i++) wrong += atomic_load(&ctx.hits[i]) != 1;
    return wrong;
}

static void test_coverage(void) {
    const int64_t sizes[] = {0, 1, 2, 7, 64, 1000, 4097, MAXN};
    const int64_t grains[] = {0, 1, 3, 100, 1 << 20};
    for (int nt = 1; nt <= 4; nt++) {
        ember_pool *pool = NULL;
        CHECK(ember_pool_create(nt, &pool) == EMBER_OK);
        CHECK_EQ(ember_pool_threads(pool), nt);
        for (size_t s = 0; s < sizeof sizes / sizeof *sizes; s++)
            for (size_t g = 0; g < sizeof grains / sizeof *grains; g++)
                CHECK_MSG(check_cover(pool, sizes[s], grains[g]) == 0, "threads %d n %lld grain %lld", nt,
                          (long long)sizes[s], (long long)grains[g]);
        ember_pool_destroy(pool);
    }
    CHECK(check_cover(NULL, 999, 1) == 0); /* no pool: serial */
}

static void add_one(void *p, int64_t b, int64_t e, int thread) {
    atomic_fetch_add((atomic_llong *)p, e - b);
}

static void test_many_small_calls(void) {
    ember_pool *pool = NULL;
    CHECK(ember_pool_create(3, &pool) == EMBER_OK);
    atomic_llong total = 0;
    for (int i = 0; i < 20000; i++) ember_pool_for(pool, 8, 1, add_one, &total);
    CHECK_EQ(atomic_load(&total), 20000 * 8);
    ember_pool_destroy(pool);
}

typedef struct {
    ember_pool *pool;
    atomic_llong total;
} nested_ctx;

static void outer(void *p, int64_t b, int64_t e, int thread) {
    nested_ctx *c = p;
    if (ember_pool_threads(c->pool) != 1) atomic_fetch_add(&c->total, 1000000); /* a nested call has one thread */
    for (int64_t i = b; i < e; i++) ember_pool_for(c->pool, 10, 1, add_one, &c->total); /* runs serially */
}

static void test_nested(void) {
    nested_ctx c = {0};
    CHECK(ember_pool_create(2, &c.pool) == EMBER_OK);
    CHECK_EQ(ember_pool_threads(c.pool), 2);
    ember_pool_for(c.pool, 50, 1, outer, &c);
    CHECK_EQ(atomic_load(&c.total), 500);
    CHECK_EQ(ember_pool_threads(c.pool), 2);
    ember_pool_destroy(c.pool);
}

static void *submitter(void *p) {
    nested_ctx *c = p;
    for (int i = 0; i < 2000; i++) ember_pool_for(c->pool, 100, 7, add_one, &c->total);
    return NULL;
}

static void test_concurrent_submitters(void) {
    nested_ctx c = {0};
    CHECK(ember_pool_create(2, &c.pool) == EMBER_OK);
    pthread_t a, b;
    pthread_create(&a, NULL, submitter, &c);
    pthread_create(&b, NULL, submitter, &c);
    pthread_join(a, NULL);
    pthread_join(b, NULL);
    CHECK_EQ(atomic_load(&c.total), 2 * 2000 * 100);
    ember_pool_destroy(c.pool);
}

static void test_create_errors(void) {
    ember_pool *pool = (ember_pool *)1;
    CHECK(ember_pool_create(100000, &pool) == EMBER_ERR_ARG && pool == NULL);
    CHECK(ember_pool_create(0, &pool) == EMBER_OK); /* one per core */
    CHECK_EQ(ember_pool_threads(pool), ember_cpu_count());
    ember_pool_destroy(pool);
    ember_pool_destroy(NULL);
}

static void test_cpu(void) {
    const ember_cpu *cpu = ember_cpu_get();
    CHECK(cpu->cores >= 1);
    char text[512];
    int n = ember_cpu_describe(text, sizeof text);
    long long cache = ember_cpu_cache_bytes();
    CHECK(cache >= 0 && ember_cpu_cache_bytes() == cache);
    /* "x86_64, 2 cores, 32 MB cache: ..." where the cache size is known, "..., 2 cores: ..." where not */
    CHECK(n > 0 && strstr(text, cache >= 1024 ? " cache:" : "cores:") != NULL);
#if defined(__aarch64__)
    CHECK(cpu->neon || getenv("EMBER_CPU"));
#endif
}

int main(void) {
    RUN(test_coverage);
    RUN(test_many_small_calls);
    RUN(test_nested);
    RUN(test_concurrent_submitters);
    RUN(test_create_errors);
    RUN(test_cpu);
    return check_done();
}
