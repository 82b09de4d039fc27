/* Small file helpers shared by the tensor-file formats: a checked sequential writer, whole-file writes,
 * and the name a tensor takes from its file.
 *
 *     io_writer w;
 *     if (io_writer_open(&w, "out.npz")) return s;
 *     io_write(&w, header, n);                   // errors are sticky: check once at the end
 *     return io_writer_close(&w);                // reports the first error; removes the file on failure
 */
#ifndef EMBER_IO_IOFILE_H
#define EMBER_IO_IOFILE_H

#include "ember/tensor.h"

#include <stdbool.h>
#include <stdio.h>

typedef struct io_writer {
    FILE *f;
    const char *path;
    uint64_t pos; /* bytes written so far */
    int err;      /* errno of the first failure, 0 if none */
} io_writer;

ember_status io_writer_open(io_writer *w, const char *path);
void io_write(io_writer *w, const void *data, size_t len);
/* Close; if anything failed (or `failed` is set by the caller), remove the partial file. */
ember_status io_writer_close(io_writer *w, bool failed);

/* Write a whole buffer to path (replacing it). */
ember_status io_write_file(const char *path, const void *data, size_t len);

/* The file name without folders and without its last extension ("dir/x.npy" -> "x"), into buf. */
void io_stem(const char *path, char *buf, size_t cap);

/* The same as ember_tensor_set_name, but a name is only set when the tensor has none. */
ember_status io_default_name(ember_tensor *t, const char *path);

#endif
