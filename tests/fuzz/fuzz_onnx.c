/* libFuzzer target for the ONNX importer: the bytes are a model file. Opening must either succeed or fail
 * with a message; on success the description calls and a session plan must not crash either.
 * Build and run: `make fuzz` then  build/fuzz/fuzz_onnx -max_total_time=60 CORPUS_DIR
 * (`make fuzz-smoke` seeds a corpus with the node tests' models from ../shared). Not part of `make test`. */
#define _GNU_SOURCE
#include "ember/onnx.h"

#include <stdio.h>
#include <sys/mman.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size);

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size) {
    static int fd = -1;
    if (fd < 0) fd = memfd_create("fuzz.onnx", 0); /* the importer maps files: give it one in memory */
    if (fd < 0 || ftruncate(fd, 0) || pwrite(fd, data, size, 0) != (ssize_t)size) return 0;
    char path[64];
    snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    ember_onnx_model *m = NULL;
    if (ember_onnx_open(path, &m) != EMBER_OK) return 0;
    ember_onnx_info info;
    ember_onnx_get_info(m, &info);
    ember_onnx_io io;
    for (int i = 0; i < ember_onnx_input_count(m); i++) ember_onnx_input(m, i, &io);
    for (int i = 0; i < ember_onnx_output_count(m); i++) ember_onnx_output(m, i, &io);
    ember_onnx_options opt = {.threads = 1};
    ember_onnx_session *s = NULL;
    if (ember_onnx_session_create(m, &opt, &s) == EMBER_OK) ember_onnx_session_destroy(s);
    ember_onnx_close(m);
    return 0;
}
