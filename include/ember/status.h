/* Ember status codes, error messages, allocation hook and logging.
 *
 * Usage:
 *
 *     ember_tensor *t = NULL;
 *     ember_status s = ember_npy_read("in.npy", &t);
 *     if (s != EMBER_OK) {
 *         fprintf(stderr, "error: %s\n", ember_last_error());   // names the file and what was wrong
 *         return 2;
 *     }
 *
 * Every fallible call returns an ember_status (0 = ok, negative = error) and leaves a human message,
 * retrievable on the same thread with ember_last_error() until the next failing call. Handles that live
 * long (sessions, models, tokenizers) also keep a copy of their own last message.
 * The library never prints and never exits; what it logs goes to the sink set with ember_log_set_sink.
 */
#ifndef EMBER_STATUS_H
#define EMBER_STATUS_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__)
#define EMBER_API __attribute__((visibility("default"))) /* the library builds with -fvisibility=hidden */
#else
#define EMBER_API
#endif

typedef enum ember_status {
    EMBER_OK = 0,
    EMBER_ERR_ARG = -1,         /* the caller passed something invalid (a usage error) */
    EMBER_ERR_IO = -2,          /* a file could not be opened, read or written */
    EMBER_ERR_FORMAT = -3,      /* input is malformed: truncated, corrupted, not what it claims to be */
    EMBER_ERR_UNSUPPORTED = -4, /* input is valid but uses something Ember does not implement */
    EMBER_ERR_SHAPE = -5,       /* shapes or types do not fit together */
    EMBER_ERR_NOMEM = -6,       /* out of memory */
    EMBER_ERR_INTERNAL = -7,    /* a bug in Ember */
} ember_status;

/* Short name of a status code, e.g. "format error". Never NULL. */
EMBER_API const char *ember_status_str(ember_status s);

/* The message of the last failing call on this thread ("" when none). Owned by the library. */
EMBER_API const char *ember_last_error(void);

/* Record a failure: formats the message, stores it as this thread's last error, returns s.
 * For library code and for apps that want the same convention:  return ember_fail(EMBER_ERR_IO, "...", ...); */
EMBER_API ember_status ember_fail(ember_status s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Prefix this thread's last error with more context ("model.onnx: " + old message); returns s. */
EMBER_API ember_status ember_fail_context(ember_status s, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* --- allocation: every allocation in the library goes through these ---------------------------------- */
typedef struct ember_allocator {
    void *(*alloc)(void *user, size_t size);              /* like malloc */
    void *(*resize)(void *user, void *ptr, size_t size);  /* like realloc */
    void (*release)(void *user, void *ptr);               /* like free */
    void *user;
} ember_allocator;

/* Replace the allocator (NULL restores malloc/realloc/free). Call before creating anything. */
EMBER_API void ember_set_allocator(const ember_allocator *a);
EMBER_API void *ember_malloc(size_t size);
EMBER_API void *ember_calloc(size_t count, size_t size); /* zeroed; checks count*size overflow */
EMBER_API void *ember_realloc(void *ptr, size_t size);
EMBER_API void ember_free(void *ptr);
EMBER_API char *ember_strdup(const char *s);
/* 64-byte aligned allocation (for SIMD); free with ember_free_aligned. */
EMBER_API void *ember_malloc_aligned(size_t size);
EMBER_API void ember_free_aligned(void *ptr);

/* --- logging: quiet by default ------------------------------------------------------------------------ */
typedef enum ember_log_level {
    EMBER_LOG_ERROR = 0,
    EMBER_LOG_WARN = 1,
    EMBER_LOG_INFO = 2,
    EMBER_LOG_DEBUG = 3,
} ember_log_level;

typedef void (*ember_log_sink)(void *user, ember_log_level level, const char *message);

/* Messages at or below `level` reach the sink (default: EMBER_LOG_ERROR, i.e. nearly silent). */
EMBER_API void ember_log_set_level(ember_log_level level);
EMBER_API ember_log_level ember_log_get_level(void);
/* Default sink writes "ember: <message>\n" to stderr. NULL restores it. */
EMBER_API void ember_log_set_sink(ember_log_sink sink, void *user);
EMBER_API void ember_log(ember_log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* --- progress of long operations ----------------------------------------------------------------------- */
/* Called by long library calls that take one (e.g. ember_llm_quantize) as work completes: `done` of
 * `total` units, from the calling thread. The library never draws anything itself. */
typedef void (*ember_progress_fn)(void *user, int64_t done, int64_t total);

#ifdef __cplusplus
}
#endif
#endif
