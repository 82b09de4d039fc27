/* Tokenizer throughput: encode a text file with an Ember tokenizer, print MB/s (median of runs) and the
 * token count. Mode "whole": one call on the whole text; "para": one call per paragraph (split at blank
 * lines), in order, on one thread. Usage: tokenizers TOKENIZER TEXTFILE RUNS whole|para */
#include "ember/tokenizer.h"

#include <stdio.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int cmp(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: %s TOKENIZER TEXTFILE [RUNS]\n", argv[0]);
        return 1;
    }
    int runs = argc > 3 ? atoi(argv[3]) : 5;
    if (runs < 1 || runs > 100) runs = 5;
    FILE *f = fopen(argv[2], "rb");
    if (!f) return perror(argv[2]), 2;
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *text = malloc((size_t)len + 1);
    if (!text || fread(text, 1, (size_t)len, f) != (size_t)len) return fprintf(stderr, "cannot read %s\n", argv[2]), 2;
    fclose(f);
    ember_tokenizer *tok = NULL;
    double t0 = now();
    if (ember_tokenizer_open(argv[1], &tok)) return fprintf(stderr, "%s\n", ember_last_error()), 2;
    double load = now() - t0;
    double times[100];
    size_t n = 0;
    bool para = argc > 4 && !strcmp(argv[4], "para");
    for (int r = 0; r < runs; r++) {
        double s = now();
        n = 0;
        for (const char *p = text, *end = text + len; p < end;) {
            const char *q = para ? strstr(p, "\n\n") : NULL;
            q = q ? q + 2 : end;
            int32_t *ids = NULL;
            size_t k = 0;
            if (ember_tokenizer_encode(tok, p, (size_t)(q - p), false, &ids, &k)) return fprintf(stderr, "%s\n", ember_last_error()), 2;
            ember_free(ids);
            n += k, p = q;
        }
        times[r] = now() - s;
    }
    qsort(times, (size_t)runs, sizeof *times, cmp);
    printf("{\"mbps\": %.3f, \"tokens\": %zu, \"load_ms\": %.1f}\n", (double)len / 1e6 / times[runs / 2], n, load * 1e3);
    ember_tokenizer_close(tok);
    free(text);
    return 0;
}
