/* Status codes, the per-thread last-error message, the allocation hook and the log sink. */
#include "ember/status.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { ERROR_CAP = 1024 };
static _Thread_local char last_error[ERROR_CAP];

const char *ember_status_str(ember_status s) {
    switch (s) {
    case EMBER_OK: return "ok";
    case EMBER_ERR_ARG: return "invalid argument";
    case EMBER_ERR_IO: return "i/o error";
    case EMBER_ERR_FORMAT: return "format error";
    case EMBER_ERR_UNSUPPORTED: return "unsupported";
    case EMBER_ERR_SHAPE: return "shape error";
    case EMBER_ERR_NOMEM: return "out of memory";
    case EMBER_ERR_INTERNAL: return "internal error";
    }
    return "unknown status";
}

const char *ember_last_error(void) { return last_error; }

ember_status ember_fail(ember_status s, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(last_error, sizeof last_error, fmt, ap);
    va_end(ap);
    return s;
}

ember_status ember_fail_context(ember_status s, const char *fmt, ...) {
    char old[ERROR_CAP];
    memcpy(old, last_error, sizeof old);
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(last_error, sizeof last_error, fmt, ap);
    va_end(ap);
    if (n >= 0 && (size_t)n < sizeof last_error)
        snprintf(last_error + n, sizeof last_error - (size_t)n, "%s", old);
    return s;
}

/* --- allocation --------------------------------------------------------------------------------------- */
static void *std_alloc(void *u, size_t n) { (void)u; return malloc(n ? n : 1); }
static void *std_resize(void *u, void *p, size_t n) { (void)u; return realloc(p, n ? n : 1); }
static void std_release(void *u, void *p) { (void)u; free(p); }
static ember_allocator allocator = {std_alloc, std_resize, std_release, NULL};

void ember_set_allocator(const ember_allocator *a) {
    if (a) allocator = *a;
    else allocator = (ember_allocator){std_alloc, std_resize, std_release, NULL};
}

void *ember_malloc(size_t size) { return allocator.alloc(allocator.user, size); }
void *ember_realloc(void *ptr, size_t size) { return allocator.resize(allocator.user, ptr, size); }
void ember_free(void *ptr) {
    if (ptr) allocator.release(allocator.user, ptr);
}

void *ember_calloc(size_t count, size_t size) {
    if (size && count > SIZE_MAX / size) return NULL;
    void *p = ember_malloc(count * size);
    if (p) memset(p, 0, count * size);
    return p;
}

char *ember_strdup(const char *s) {
    size_t n = strlen(s) + 1;
    char *d = ember_malloc(n);
    if (d) memcpy(d, s, n);
    return d;
}

/* Aligned blocks keep the offset to the raw pointer just before the aligned address. */
void *ember_malloc_aligned(size_t size) {
    const size_t align = 64;
    if (size > SIZE_MAX - align - sizeof(void *)) return NULL;
    unsigned char *raw = ember_malloc(size + align + sizeof(void *));
    if (!raw) return NULL;
    uintptr_t start = (uintptr_t)(raw + sizeof(void *));
    unsigned char *aligned = (unsigned char *)((start + align - 1) & ~(uintptr_t)(align - 1));
    memcpy(aligned - sizeof(void *), &raw, sizeof raw);
    return aligned;
}

void ember_free_aligned(void *ptr) {
    if (!ptr) return;
    void *raw;
    memcpy(&raw, (unsigned char *)ptr - sizeof(void *), sizeof raw);
    ember_free(raw);
}

/* --- logging ------------------------------------------------------------------------------------------ */
static void stderr_sink(void *u, ember_log_level level, const char *msg) {
    (void)u;
    static const char *names[] = {"error", "warning", "info", "debug"};
    fprintf(stderr, "ember: %s: %s\n", names[level], msg);
}

static ember_log_level log_level = EMBER_LOG_ERROR;
static ember_log_sink log_sink = stderr_sink;
static void *log_user;

void ember_log_set_level(ember_log_level level) { log_level = level; }
ember_log_level ember_log_get_level(void) { return log_level; }

void ember_log_set_sink(ember_log_sink sink, void *user) {
    log_sink = sink ? sink : stderr_sink;
    log_user = sink ? user : NULL;
}

void ember_log(ember_log_level level, const char *fmt, ...) {
    if (level > log_level) return;
    char buf[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    log_sink(log_user, level, buf);
}
