/* Read-only memory mapping of whole files (model weights are used in place, never copied).
 *
 *     ember_map m;
 *     if (ember_map_open("model.onnx", &m)) return -1;   // message names the file and the OS error
 *     parse(m.data, m.size);
 *     ember_map_close(&m);
 */
#ifndef EMBER_CORE_MAPFILE_H
#define EMBER_CORE_MAPFILE_H

#include "ember/status.h"

typedef struct ember_map {
    const uint8_t *data; /* NULL for an empty file */
    size_t size;
} ember_map;

ember_status ember_map_open(const char *path, ember_map *m);
void ember_map_close(ember_map *m);
/* The bytes [p, p + n) of the mapping are not needed for now (weights already repacked elsewhere): the
 * whole pages inside that range leave the resident set and are read from the file again if touched.
 * A hint: does nothing for ranges outside the mapping or where the system has no such call. */
void ember_map_drop(const ember_map *m, const void *p, size_t n);
/* The caller is about to write every byte of [p, p + n) (freshly allocated: packed weights): the whole
 * pages inside are made resident in one call rather than one page fault each (a quarter less time on
 * the machines measured). A hint: does nothing below 64 KB or where the system has no such call. */
void ember_prefault(void *p, size_t n);
/* The caller's private memory [p, p + n) is not needed for now (a copy buffer that the next copies do not
 * reach): its whole pages leave the resident set and read as zeros if touched again. A hint. */
void ember_release(void *p, size_t n);

#endif
