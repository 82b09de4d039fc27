/* Face pipeline timing for `make bench` (bench/face.sh): detect + align + embed every face of an image (the faces
 * in parallel across the threads: ember_face_pipeline_embed_all, what the CLI runs), the median of N runs after
 * one warm-up, in milliseconds. Decoding the file is not timed.
 *   build/bench/face DETECTOR.onnx EMBEDDER.onnx [LANDMARKER.onnx|-] IMAGE THREADS RUNS
 * prints: faces=N median_ms=M min_ms=M */
#include "apps/face/face.h"

#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static double now_ms(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}

static int cmp_d(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv) {
    if (argc != 7) {
        fprintf(stderr, "usage: %s DETECTOR EMBEDDER LANDMARKER|- IMAGE THREADS RUNS\n", argv[0]);
        return 1;
    }
    int threads = atoi(argv[5]), runs = atoi(argv[6]);
    if (runs < 1 || runs > 1000) runs = 10;
    ember_face_pipeline_config cfg = {.detector = argv[1], .embedder = argv[2],
                                      .landmarker = argv[3][0] == '-' ? NULL : argv[3], .threads = threads,
                                      .threshold = -1};
    ember_face_pipeline *p = NULL;
    ember_face_image img = {0};
    ember_status s = ember_face_pipeline_open(&cfg, &p);
    if (!s) s = ember_face_image_load(argv[4], &img);
    if (s) {
        fprintf(stderr, "bench/face: %s\n", ember_last_error());
        return 2;
    }
    int dim = ember_face_embedder_dim(ember_face_pipeline_embedder(p));
    float *emb = NULL;
    double *t = malloc(sizeof(double) * (size_t)runs);
    int faces = 0, cap = 0;
    for (int r = -1; r < runs && !s; r++) {
        ember_face_dets d = {0};
        double t0 = now_ms();
        s = ember_face_pipeline_detect(p, &img, &d);
        if (!s && d.n > cap) { /* grown on the warm-up run only: the same photo gives the same faces */
            float *more = realloc(emb, (size_t)d.n * dim * sizeof *emb);
            if (more) emb = more, cap = d.n;
            else s = ember_fail(EMBER_ERR_NOMEM, "out of memory");
        }
        if (!s) s = ember_face_pipeline_embed_all(p, &img, &d, emb);
        if (r >= 0) t[r] = now_ms() - t0;
        faces = d.n;
        ember_face_dets_free(&d);
    }
    if (s) {
        fprintf(stderr, "bench/face: %s\n", ember_last_error());
        return 2;
    }
    qsort(t, (size_t)runs, sizeof *t, cmp_d);
    printf("faces=%d median_ms=%.2f min_ms=%.2f\n", faces, t[runs / 2], t[0]);
    free(t);
    free(emb);
    ember_face_image_free(&img);
    ember_face_pipeline_close(p);
    return 0;
}
