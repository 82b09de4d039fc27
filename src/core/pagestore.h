/* Long-lived buffers (pre-packed weights) cut from one reserved address range whose 2 MB pages are
 * transparent huge pages: making them resident costs a fifth of what 4 KB pages cost here (5 MB: 0.8 ms
 * against 2.1), and the runs that stream the weights take fewer TLB misses.
 *
 *     ember_pagestore *ps = ember_pagestore_create(64 << 20, 40 << 20);  // address space only
 *     bool heap;
 *     float *w = ember_pagestore_keep(ps, bytes, &heap);  // resident, 64-byte aligned; NULL: out of memory
 *     ...
 *     if (heap) ember_free_aligned(w);   // the store was full (or NULL): w came from the heap
 *     ember_pagestore_reset(ps);    // every buffer gone at once, its pages returned
 *     ember_pagestore_destroy(ps);
 *
 * Buffers are never freed one by one. Only the first `huge` bytes are advised 2 MB pages (whole pages of
 * them: what the buffers are known to fill), the rest stays on 4 KB pages; of a 2 MB page, all of it is
 * resident once a buffer reaches into it, until ember_pagestore_trim returns what is past the last buffer.
 * create returns NULL where the system has no anonymous mappings, under AddressSanitizer (so that it keeps
 * checking the bounds of every buffer on the heap), or when the range cannot be reserved: callers then use
 * the heap. alloc is safe to call from several threads. */
#ifndef EMBER_CORE_PAGESTORE_H
#define EMBER_CORE_PAGESTORE_H

#include <stdbool.h>
#include <stddef.h>

typedef struct ember_pagestore ember_pagestore;

ember_pagestore *ember_pagestore_create(size_t reserve, size_t huge);
/* NULL when the reserved range has no room left for `bytes`. */
void *ember_pagestore_alloc(ember_pagestore *ps, size_t bytes);
/* ember_pagestore_alloc, or when that fails ember_malloc_aligned (then *heap = true), made resident in one
 * call (ember_prefault). ps may be NULL. */
void *ember_pagestore_keep(ember_pagestore *ps, size_t bytes, bool *heap);
/* Returns the pages past the last buffer handed out (the rest of the last 2 MB page) to the system; a later
 * buffer there becomes resident again as it is written. */
void ember_pagestore_trim(ember_pagestore *ps);
void ember_pagestore_reset(ember_pagestore *ps);
void ember_pagestore_destroy(ember_pagestore *ps);

/* One buffer of its own on 2 MB pages, for memory every run walks (an executor's arena, a thread's scratch):
 * its first run faults in a few huge pages instead of hundreds of 4 KB ones. Buffers under 1 MB, builds
 * under AddressSanitizer and systems without anonymous mappings get ember_malloc_aligned instead (*huge is
 * false then). 64-byte aligned, not resident until written; NULL when out of memory.
 *
 *     bool huge;
 *     void *a = ember_huge_alloc(bytes, &huge);
 *     ...
 *     ember_huge_free(a, bytes, huge);   // the same size and flag */
void *ember_huge_alloc(size_t bytes, bool *huge);
void ember_huge_free(void *p, size_t bytes, bool huge);
/* The bytes such a buffer holds: `bytes` rounded up to whole 2 MB pages when huge. */
size_t ember_huge_room(size_t bytes, bool huge);

#endif
