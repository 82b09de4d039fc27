/* Read-only mmap of a file; an empty file maps to (NULL, 0). */
#include "core/mapfile.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

ember_status ember_map_open(const char *path, ember_map *m) {
    m->data = NULL;
    m->size = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return ember_fail(EMBER_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0) {
        int e = errno;
        close(fd);
        return ember_fail(EMBER_ERR_IO, "%s: cannot stat: %s", path, strerror(e));
    }
    if (!S_ISREG(st.st_mode)) {
        close(fd);
        return ember_fail(EMBER_ERR_IO, "%s: not a regular file", path);
    }
    if ((uint64_t)st.st_size > SIZE_MAX) {
        close(fd);
        return ember_fail(EMBER_ERR_IO, "%s: too large to map on this system", path);
    }
    if (st.st_size > 0) {
        void *p = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
        if (p == MAP_FAILED) {
            int e = errno;
            close(fd);
            return ember_fail(EMBER_ERR_IO, "%s: cannot map: %s", path, strerror(e));
        }
        m->data = p;
        m->size = (size_t)st.st_size;
    }
    close(fd);
    return EMBER_OK;
}

void ember_map_close(ember_map *m) {
    if (m->data) munmap((void *)m->data, m->size);
    m->data = NULL;
    m->size = 0;
}

#if defined(MADV_DONTNEED)
/* madvise on the whole pages inside [p, p + n). */
static void advise_pages(const void *p, size_t n, int advice) {
    long pg = sysconf(_SC_PAGESIZE);
    if (pg <= 0) return;
    uintptr_t start = ((uintptr_t)p + (uintptr_t)pg - 1) & ~(uintptr_t)(pg - 1);
    uintptr_t end = ((uintptr_t)p + n) & ~(uintptr_t)(pg - 1);
    if (end > start) madvise((void *)start, end - start, advice);
}
#endif

void ember_map_drop(const ember_map *m, const void *p, size_t n) {
#if defined(MADV_DONTNEED)
    const uint8_t *b = p;
    if (!m->data || !b || b < m->data || n > m->size || (size_t)(b - m->data) > m->size - n) return;
    advise_pages(b, n, MADV_DONTNEED); /* read-only private pages: only dropped */
#else
    (void)m, (void)p, (void)n;
#endif
}

void ember_release(void *p, size_t n) {
#if defined(MADV_DONTNEED)
    if (p) advise_pages(p, n, MADV_DONTNEED);
#else
    (void)p, (void)n;
#endif
}

void ember_prefault(void *p, size_t n) {
#if defined(MADV_POPULATE_WRITE) && defined(MADV_DONTNEED) /* Linux 5.14; older kernels answer EINVAL */
    if (p && n >= 64 * 1024) advise_pages(p, n, MADV_POPULATE_WRITE);
#else
    (void)p, (void)n;
#endif
}
