/* A bump allocator over one MAP_NORESERVE range, advised MADV_HUGEPAGE (see pagestore.h). */
#include "core/pagestore.h"

#include "core/mapfile.h"
#include "ember/status.h"

#include <stdatomic.h>
#include <stdint.h>
#include <sys/mman.h>
#include <unistd.h>

#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#define EMBER_ASAN 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__)
#define EMBER_ASAN 1
#endif

#if defined(MAP_ANONYMOUS) && defined(MAP_NORESERVE) && defined(MADV_DONTNEED) && !defined(EMBER_ASAN)
#define PAGESTORE_ON 1
#endif

enum { HUGE = 2 << 20, ALIGN = 64 };

struct ember_pagestore {
    uint8_t *base;      /* HUGE-aligned */
    size_t cap;         /* bytes reserved from base */
    _Atomic size_t used; /* bytes handed out */
};

#if defined(PAGESTORE_ON)
/* cap bytes (a multiple of HUGE) at a HUGE-aligned address, reserved only: one huge page more is mapped and
 * the unaligned head and tail unmapped. The whole pages of the first `advise` bytes are advised
 * MADV_HUGEPAGE (a hint: without it the range still works, on 4 KB pages). */
static uint8_t *map_huge(size_t cap, size_t advise) {
    uint8_t *raw =
        mmap(NULL, cap + HUGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (raw == MAP_FAILED) return NULL;
    uint8_t *base = (uint8_t *)(((uintptr_t)raw + HUGE - 1) & ~(uintptr_t)(HUGE - 1));
    if (base > raw) munmap(raw, (size_t)(base - raw));
    munmap(base + cap, (size_t)(raw + HUGE - base));
#if defined(MADV_HUGEPAGE)
    if (advise >= HUGE) madvise(base, advise & ~(size_t)(HUGE - 1), MADV_HUGEPAGE);
#else
    (void)advise;
#endif
    return base;
}
#endif

ember_pagestore *ember_pagestore_create(size_t reserve, size_t huge) {
#if defined(PAGESTORE_ON)
    if (!reserve || reserve > SIZE_MAX / 2 - HUGE) return NULL;
    size_t cap = (reserve + HUGE - 1) & ~(size_t)(HUGE - 1);
    ember_pagestore *ps = ember_calloc(1, sizeof *ps);
    if (!ps) return NULL;
    /* only whole huge pages of what will be used: a 2.4 MB store is not made 4 MB resident */
    ps->base = map_huge(cap, huge < reserve ? huge : reserve);
    if (!ps->base) {
        ember_free(ps);
        return NULL;
    }
    ps->cap = cap;
    atomic_init(&ps->used, 0);
    return ps;
#else
    (void)reserve, (void)huge;
    return NULL;
#endif
}

void *ember_pagestore_alloc(ember_pagestore *ps, size_t bytes) {
    if (!ps || bytes > ps->cap) return NULL;
    size_t n = (bytes + ALIGN - 1) & ~(size_t)(ALIGN - 1);
    size_t at = atomic_load(&ps->used);
    do {
        if (n > ps->cap - at) return NULL;
    } while (!atomic_compare_exchange_weak(&ps->used, &at, at + n));
    return ps->base + at;
}

void *ember_pagestore_keep(ember_pagestore *ps, size_t bytes, bool *heap) {
    void *p = ember_pagestore_alloc(ps, bytes);
    *heap = !p;
    if (!p) p = ember_malloc_aligned(bytes);
    ember_prefault(p, bytes); /* the caller writes it all next (packing) */
    return p;
}

void ember_pagestore_trim(ember_pagestore *ps) {
#if defined(PAGESTORE_ON)
    if (!ps) return;
    long pg = sysconf(_SC_PAGESIZE);
    size_t used = atomic_load(&ps->used), page = pg > 0 ? (size_t)pg : HUGE;
    size_t from = (used + page - 1) & ~(page - 1), to = (used + HUGE - 1) & ~(size_t)(HUGE - 1);
    if (to > from) madvise(ps->base + from, to - from, MADV_DONTNEED); /* splits the last huge page */
#else
    (void)ps;
#endif
}

void ember_pagestore_reset(ember_pagestore *ps) {
#if defined(PAGESTORE_ON)
    if (!ps) return;
    size_t used = atomic_exchange(&ps->used, 0);
    if (used) madvise(ps->base, (used + HUGE - 1) & ~(size_t)(HUGE - 1), MADV_DONTNEED);
#else
    (void)ps;
#endif
}

void ember_pagestore_destroy(ember_pagestore *ps) {
#if defined(PAGESTORE_ON)
    if (!ps) return;
    munmap(ps->base, ps->cap);
    ember_free(ps);
#else
    (void)ps;
#endif
}

#if defined(PAGESTORE_ON)
/* The bytes a huge buffer of `bytes` maps: whole 2 MB pages, the last one only when at least three
 * quarters of it are used (a smaller tail stays on 4 KB pages, so a 2.2 MB buffer is not made 4 MB
 * resident, nor MiniLM's 1.2 MB arena 2 MB). */
static size_t huge_cap(size_t bytes, size_t *advise) {
    size_t whole = bytes & ~(size_t)(HUGE - 1), tail = bytes - whole;
    *advise = tail >= HUGE / 4 * 3 ? whole + HUGE : whole;
    return (bytes + HUGE - 1) & ~(size_t)(HUGE - 1);
}
#endif

void *ember_huge_alloc(size_t bytes, bool *huge) {
    *huge = false;
#if defined(PAGESTORE_ON)
    if (bytes >= HUGE / 2 && bytes <= SIZE_MAX / 2 - HUGE) {
        size_t advise, cap = huge_cap(bytes, &advise);
        void *p = map_huge(cap, advise);
        if (p) {
            *huge = true;
            return p;
        }
    }
#endif
    return ember_malloc_aligned(bytes);
}

size_t ember_huge_room(size_t bytes, bool huge) {
#if defined(PAGESTORE_ON)
    size_t advise;
    if (huge) return huge_cap(bytes, &advise);
#endif
    (void)huge;
    return bytes;
}

void ember_huge_free(void *p, size_t bytes, bool huge) {
#if defined(PAGESTORE_ON)
    size_t advise;
    if (huge) {
        munmap(p, huge_cap(bytes, &advise));
        return;
    }
#endif
    (void)bytes, (void)huge;
    ember_free_aligned(p);
}
