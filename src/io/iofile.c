/* File helpers for the tensor-file formats: checked writes that never leave half-written files behind. */
#include "io/iofile.h"

#include "ember/tensor.h"

#include <errno.h>
#include <string.h>

ember_status io_writer_open(io_writer *w, const char *path) {
    *w = (io_writer){NULL, path, 0, 0};
    if (!(w->f = fopen(path, "wb"))) return ember_fail(EMBER_ERR_IO, "%s: cannot create: %s", path, strerror(errno));
    return EMBER_OK;
}

void io_write(io_writer *w, const void *data, size_t len) {
    if (w->err || !len) return;
    if (fwrite(data, 1, len, w->f) != len) w->err = errno ? errno : EIO;
    else w->pos += len;
}

ember_status io_writer_close(io_writer *w, bool failed) {
    if (fclose(w->f) != 0 && !w->err) w->err = errno ? errno : EIO;
    w->f = NULL;
    if (!w->err && !failed) return EMBER_OK;
    remove(w->path);
    if (failed) return EMBER_ERR_IO; /* the caller's message stands */
    return ember_fail(EMBER_ERR_IO, "%s: cannot write: %s", w->path, strerror(w->err));
}

ember_status io_write_file(const char *path, const void *data, size_t len) {
    io_writer w;
    ember_status s = io_writer_open(&w, path);
    if (s) return s;
    io_write(&w, data, len);
    return io_writer_close(&w, false);
}

void io_stem(const char *path, char *buf, size_t cap) {
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    const char *dot = strrchr(base, '.');
    size_t n = dot && dot != base ? (size_t)(dot - base) : strlen(base);
    if (n >= cap) n = cap - 1;
    memcpy(buf, base, n);
    buf[n] = 0;
}

ember_status io_default_name(ember_tensor *t, const char *path) {
    if (t->name) return EMBER_OK;
    char stem[256];
    io_stem(path, stem, sizeof stem);
    return ember_tensor_set_name(t, stem[0] ? stem : NULL);
}
