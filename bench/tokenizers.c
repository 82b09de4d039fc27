/* Tokenizer throughput: encode a text file with an Ember tokenizer, print MB/s (median of runs) and the
 * token count. Mode "whole": one call on the whole text; "para": one call per paragraph (split at blank
 * lines), in order, on one thread; "batch": the paragraphs as one batch (ember_tokenizer_encode_batch) on
 * THREADS threads. Usage: tokenizers TOKENIZER TEXTFILE RUNS whole|para|batch [THREADS] */
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
    bool para = argc > 4 && !strcmp(argv[4], "para"), batch = argc > 4 && !strcmp(argv[4], "batch");
    if (batch) {
        int threads = argc > 5 ? atoi(argv[5]) : 2;
        size_t count = 0, cap = 1024;
        const char **texts = malloc(cap * sizeof *texts);
        size_t *lens = malloc(cap * sizeof *lens);
        for (const char *p = text, *end = text + len; p < end && texts && lens;) {
            const char *q = strstr(p, "\n\n");
            q = q ? q + 2 : end;
            if (count == cap) {
                cap *= 2;
                texts = realloc(texts, cap * sizeof *texts), lens = realloc(lens, cap * sizeof *lens);
                if (!texts || !lens) break;
            }
            texts[count] = p, lens[count++] = (size_t)(q - p), p = q;
        }
        int32_t **ids = calloc(count + 1, sizeof *ids);
        size_t *ns = calloc(count + 1, sizeof *ns);
        ember_pool *pool = NULL;
        if (!texts || !lens || !ids || !ns || ember_pool_create(threads, &pool)) return fprintf(stderr, "out of memory\n"), 2;
        for (int r = 0; r < runs; r++) {
            double s = now();
            if (ember_tokenizer_encode_batch(tok, pool, texts, lens, count, false, ids, ns)) return fprintf(stderr, "%s\n", ember_last_error()), 2;
            times[r] = now() - s;
            n = 0;
            for (size_t i = 0; i < count; i++) n += ns[i], ember_free(ids[i]);
        }
        ember_pool_destroy(pool);
        free(texts), free(lens), free(ids), free(ns);
    }
    for (int r = 0; r < runs && !batch; r++) {
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
