/* Bump allocation in chained blocks. */
#include "core/arena.h"

#include <string.h>

struct ember_arena_block {
    ember_arena_block *next;
    size_t size, used;
    _Alignas(64) unsigned char data[];
};

void ember_arena_init(ember_arena *a, size_t block_size) {
    a->head = NULL;
    a->block_size = block_size ? block_size : 65536;
    a->used = 0;
}

static ember_arena_block *new_block(size_t size) {
    ember_arena_block *b = ember_malloc_aligned(sizeof *b + size);
    if (!b) return NULL;
    b->next = NULL;
    b->size = size;
    b->used = 0;
    memset(b->data, 0, size);
    return b;
}

void *ember_arena_alloc(ember_arena *a, size_t size, size_t align) {
    if (align == 0) align = 1;
    if (align > 4096 || (align & (align - 1))) return NULL;
    ember_arena_block *b = a->head;
    if (b) {
        size_t at = (b->used + align - 1) & ~(align - 1);
        if (at <= b->size && size <= b->size - at) {
            b->used = at + size;
            a->used += size;
            return b->data + at;
        }
    }
    if (size > SIZE_MAX - align - sizeof *b) return NULL;
    size_t want = size + align > a->block_size ? size + align : a->block_size;
    ember_arena_block *nb = new_block(want);
    if (!nb) return NULL;
    nb->next = a->head;
    a->head = nb;
    size_t at = align <= 64 ? 0 : (align - ((uintptr_t)nb->data & (align - 1))) & (align - 1);
    nb->used = at + size;
    a->used += size;
    return nb->data + at;
}

char *ember_arena_strdup(ember_arena *a, const char *s, size_t len) {
    char *d = ember_arena_alloc(a, len + 1, 1);
    if (d) {
        memcpy(d, s, len);
        d[len] = 0;
    }
    return d;
}

void ember_arena_reset(ember_arena *a) {
    if (!a->head) return;
    while (a->head->next) { /* keep the oldest block, free the newer ones */
        ember_arena_block *n = a->head->next;
        ember_free_aligned(a->head);
        a->head = n;
    }
    memset(a->head->data, 0, a->head->used);
    a->head->used = 0;
    a->used = 0;
}

void ember_arena_free(ember_arena *a) {
    while (a->head) {
        ember_arena_block *n = a->head->next;
        ember_free_aligned(a->head);
        a->head = n;
    }
    a->used = 0;
}
