/* A tiny test harness: every test binary ends by printing "N passed, N failed, N skipped".
 *
 *     static void test_add(void) {
 *         CHECK(1 + 1 == 2);
 *         CHECK_NEAR(0.1 + 0.2, 0.3, 1e-12);
 *     }
 *     static void test_model(void) {
 *         SKIP_IF(access(MODEL, R_OK), "../shared is absent");
 *         ...
 *     }
 *     int main(void) {
 *         RUN(test_add);
 *         RUN(test_model);
 *         return check_done();
 *     }
 *
 * A test passes when none of its checks failed. Failed checks print file:line and the expression.
 */
#ifndef EMBER_TESTS_CHECK_H
#define EMBER_TESTS_CHECK_H

#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int check_passed, check_failed, check_skipped, check_current_failures, check_current_skipped;

#define CHECK(cond)                                                                                          \
    do {                                                                                                     \
        if (!(cond)) {                                                                                       \
            printf("  %s:%d: check failed: %s\n", __FILE__, __LINE__, #cond);                               \
            check_current_failures++;                                                                        \
        }                                                                                                    \
    } while (0)

#define CHECK_MSG(cond, ...)                                                                                 \
    do {                                                                                                     \
        if (!(cond)) {                                                                                       \
            printf("  %s:%d: check failed: %s: ", __FILE__, __LINE__, #cond);                               \
            printf(__VA_ARGS__);                                                                             \
            printf("\n");                                                                                    \
            check_current_failures++;                                                                        \
        }                                                                                                    \
    } while (0)

#define CHECK_EQ(a, b)                                                                                       \
    do {                                                                                                     \
        long long check_a = (long long)(a), check_b = (long long)(b);                                       \
        if (check_a != check_b) {                                                                            \
            printf("  %s:%d: check failed: %s == %s (%lld vs %lld)\n", __FILE__, __LINE__, #a, #b, check_a,  \
                   check_b);                                                                                 \
            check_current_failures++;                                                                        \
        }                                                                                                    \
    } while (0)

#define CHECK_STR(a, b)                                                                                      \
    do {                                                                                                     \
        const char *check_a = (a), *check_b = (b);                                                           \
        if (!check_a || !check_b || strcmp(check_a, check_b)) {                                             \
            printf("  %s:%d: check failed: %s == %s (\"%s\" vs \"%s\")\n", __FILE__, __LINE__, #a, #b,       \
                   check_a ? check_a : "(null)", check_b ? check_b : "(null)");                              \
            check_current_failures++;                                                                        \
        }                                                                                                    \
    } while (0)

#define CHECK_NEAR(a, b, tol)                                                                                \
    do {                                                                                                     \
        double check_a = (double)(a), check_b = (double)(b);                                                 \
        if (!(fabs(check_a - check_b) <= (tol))) {                                                           \
            printf("  %s:%d: check failed: %s ~ %s (%.9g vs %.9g, tol %g)\n", __FILE__, __LINE__, #a, #b,    \
                   check_a, check_b, (double)(tol));                                                         \
            check_current_failures++;                                                                        \
        }                                                                                                    \
    } while (0)

/* Ends the current test as skipped, with a one-line reason. */
#define SKIP_IF(cond, reason)                                                                                \
    do {                                                                                                     \
        if (cond) {                                                                                          \
            printf("  skip: %s\n", reason);                                                                  \
            check_current_skipped = 1;                                                                       \
            return;                                                                                          \
        }                                                                                                    \
    } while (0)

#define RUN(fn)                                                                                              \
    do {                                                                                                     \
        check_current_failures = 0;                                                                          \
        check_current_skipped = 0;                                                                           \
        fn();                                                                                                \
        if (check_current_failures) {                                                                        \
            printf("FAIL %s\n", #fn);                                                                        \
            check_failed++;                                                                                  \
        } else if (check_current_skipped) {                                                                  \
            printf("SKIP %s\n", #fn);                                                                        \
            check_skipped++;                                                                                 \
        } else {                                                                                             \
            check_passed++;                                                                                  \
        }                                                                                                    \
    } while (0)

static inline int check_done(void) {
    printf("%d passed, %d failed, %d skipped\n", check_passed, check_failed, check_skipped);
    return check_failed ? 1 : 0;
}

/* Deterministic pseudo-random numbers for tests (xorshift64*). */
static unsigned long long check_rng_state = 0x9E3779B97F4A7C15ull;
static inline unsigned long long check_rand(void) {
    check_rng_state ^= check_rng_state >> 12;
    check_rng_state ^= check_rng_state << 25;
    check_rng_state ^= check_rng_state >> 27;
    return check_rng_state * 0x2545F4914F6CDD1Dull;
}
/* Uniform in [lo, hi). */
static inline float check_randf(float lo, float hi) {
    return lo + (hi - lo) * (float)((check_rand() >> 40) / (double)(1ull << 24));
}

/* 512 fixed slopes, negative to positive, for activation loops that reach EMBER_ACT_PRELU (one per row). */
static inline const float *check_slopes(void) {
    static float s[512];
    for (int i = 0; i < 512; i++) s[i] = 0.1f * (float)(i % 7) - 0.25f;
    return s;
}

/* Largest |a[i] - b[i]|; a NaN anywhere counts as infinitely far. (Written as a plain loop: an fmax reduction
 * crashes Debian's aarch64 gcc 12 vectorizer.) */
static inline double check_max_abs_diff(const float *a, const float *b, long long n) {
    double d = 0;
    for (long long i = 0; i < n; i++) {
        double e = fabs((double)a[i] - (double)b[i]);
        if (!(e <= d)) d = e != e ? INFINITY : e;
    }
    return d;
}

/* Whether the tests run under an emulator: scripts/run-tests exports $EMBER_TEST_RUNNER, empty for native
 * runs (so "set" is not enough). */
static inline bool check_emulated(void) {
    const char *r = getenv("EMBER_TEST_RUNNER");
    return r && *r;
}

/* Under an emulator or in a sanitizer build (make test-asan sets $EMBER_SANITIZE): heavy tests shrink. */
static inline bool check_slow(void) {
    const char *s = getenv("EMBER_SANITIZE");
    return check_emulated() || (s && *s);
}

/* Path of a file under ../shared, or NULL when ../shared is absent (tests then skip). */
static inline const char *check_shared(const char *rel, char *buf, size_t cap) {
    const char *root = getenv("EMBER_SHARED");
    snprintf(buf, cap, "%s/%s", root ? root : "../shared", rel);
    FILE *f = fopen(buf, "rb");
    if (!f) return NULL;
    fclose(f);
    return buf;
}

#endif
