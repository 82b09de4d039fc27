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

#endif
