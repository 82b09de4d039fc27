/* Arena allocator: many allocations, one free. Blocks are chained; nothing moves once allocated.
 *
 *     ember_arena a;
 *     ember_arena_init(&a, 1 << 16);
 *     float *x = ember_arena_alloc(&a, 1024 * sizeof(float), 64);   // NULL only when out of memory
 *     ember_arena_free(&a);                                          // releases everything at once
 */
#ifndef EMBER_CORE_ARENA_H
#define EMBER_CORE_ARENA_H

#include "ember/status.h"

typedef struct ember_arena_block ember_arena_block;

typedef struct ember_arena {
    ember_arena_block *head;
    size_t block_size; /* default size of a new block */
    size_t used;       /* bytes handed out, for statistics */
} ember_arena;

void ember_arena_init(ember_arena *a, size_t block_size);
/* `align` is a power of two up to 4096. Memory is zero-filled. */
void *ember_arena_alloc(ember_arena *a, size_t size, size_t align);
char *ember_arena_strdup(ember_arena *a, const char *s, size_t len); /* copies len bytes, adds NUL */
/* Forget all allocations but keep the first block for reuse. */
void ember_arena_reset(ember_arena *a);
void ember_arena_free(ember_arena *a);

#endif
