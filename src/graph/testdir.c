/* ONNX test directories: read .pb values (TensorProto, SequenceProto, OptionalProto), run the model on
 * every test_data_set_N, compare with the expected outputs. */
#include "core/mapfile.h"
#include "core/pbwire.h"
#include "core/tensorproto.h"
#include "ember/onnx.h"

#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

enum { SEQ_ELEM_TYPE = 2, SEQ_TENSORS = 3, SEQ_SEQUENCES = 5, OPT_ELEM_TYPE = 2, OPT_TENSOR = 3, OPT_SEQUENCE = 5 };
enum { ELEM_TENSOR = 1, ELEM_SEQUENCE = 3 };

static ember_status tensor_from_pb(const uint8_t *data, size_t len, ember_tensor **out) {
    ember_tp tp;
    ember_status s = ember_tp_parse(data, len, &tp);
    if (!s) s = ember_tp_to_tensor(&tp, NULL, out);
    return s;
}

static ember_status value_new(ember_value_kind kind, ember_value **out) {
    *out = ember_calloc(1, sizeof **out);
    if (!*out) return ember_fail(EMBER_ERR_NOMEM, "out of memory");
    (*out)->kind = kind;
    return EMBER_OK;
}

static ember_status seq_push(ember_value *seq, ember_value *item) {
    ember_value **items = ember_realloc(seq->items, sizeof *items * (size_t)(seq->count + 1));
    if (!items) {
        ember_value_destroy(item);
        return ember_fail(EMBER_ERR_NOMEM, "out of memory");
    }
    seq->items = items;
    seq->items[seq->count++] = item;
    return EMBER_OK;
}

static ember_status parse_value(const uint8_t *data, size_t len, ember_value_kind kind, int depth, ember_value **out);

static ember_status parse_sequence(const uint8_t *data, size_t len, int depth, ember_value **out) {
    ember_status s = value_new(EMBER_VALUE_SEQUENCE, out);
    if (s) return s;
    ember_pb r = ember_pb_reader(data, len);
    ember_pb_field f;
    int rc;
    while (!s && (rc = ember_pb_next(&r, &f)) > 0) {
        if (f.number != SEQ_TENSORS || f.wire != EMBER_PB_LEN) continue;
        ember_tensor *t = NULL;
        ember_value *item = NULL;
        if ((s = tensor_from_pb(f.data, f.len, &t))) break;
        if ((s = ember_value_from_tensor(t, &item))) {
            ember_tensor_destroy(t);
            break;
        }
        (*out)->elem_dtype = t->dtype;
        s = seq_push(*out, item);
    }
    if (!s && rc < 0) s = ember_fail(EMBER_ERR_FORMAT, "malformed SequenceProto: %s", r.error);
    (void)depth;
    if (s) {
        ember_value_destroy(*out);
        *out = NULL;
    }
    return s;
}

static ember_status parse_optional(const uint8_t *data, size_t len, int depth, ember_value **out) {
    ember_pb r = ember_pb_reader(data, len);
    ember_pb_field f;
    int rc;
    while ((rc = ember_pb_next(&r, &f)) > 0) {
        if (f.wire != EMBER_PB_LEN) continue;
        if (f.number == OPT_TENSOR) return parse_value(f.data, f.len, EMBER_VALUE_TENSOR, depth + 1, out);
        if (f.number == OPT_SEQUENCE) return parse_value(f.data, f.len, EMBER_VALUE_SEQUENCE, depth + 1, out);
    }
    if (rc < 0) return ember_fail(EMBER_ERR_FORMAT, "malformed OptionalProto: %s", r.error);
    return value_new(EMBER_VALUE_NONE, out);
}

static ember_status parse_value(const uint8_t *data, size_t len, ember_value_kind kind, int depth, ember_value **out) {
    *out = NULL;
    if (depth > 8) return ember_fail(EMBER_ERR_FORMAT, "values nested too deeply");
    if (kind == EMBER_VALUE_SEQUENCE) return parse_sequence(data, len, depth, out);
    if (kind == EMBER_VALUE_NONE) return parse_optional(data, len, depth, out);
    ember_tensor *t = NULL;
    ember_status s = tensor_from_pb(data, len, &t);
    if (!s && (s = ember_value_from_tensor(t, out))) ember_tensor_destroy(t);
    return s;
}

ember_status ember_onnx_read_pb(const char *path, ember_value_kind kind, ember_value **out) {
    ember_map m;
    *out = NULL;
    ember_status s = ember_map_open(path, &m);
    if (s) return s;
    static const uint8_t empty[1];
    s = parse_value(m.data ? m.data : empty, m.size, kind, 0, out);
    ember_map_close(&m);
    if (s) return ember_fail_context(s, "%s: ", path);
    return EMBER_OK;
}

/* --- comparison --------------------------------------------------------------------------------------- */
static bool close_enough(double got, double exp) {
    if (isnan(exp) || isnan(got)) return isnan(exp) && isnan(got);
    if (isinf(exp) || isinf(got)) return got == exp;
    return fabs(got - exp) <= 1e-5 + 1e-3 * fabs(exp);
}

static bool compare_tensor(const ember_tensor *got, const ember_tensor *exp, const char *what, char *why, size_t cap) {
    if (got->dtype != exp->dtype) {
        snprintf(why, cap, "%s: dtype %s, expected %s", what, ember_dtype_name(got->dtype), ember_dtype_name(exp->dtype));
        return false;
    }
    bool shape_ok = got->ndim == exp->ndim;
    for (int d = 0; shape_ok && d < got->ndim; d++) shape_ok = got->shape[d] == exp->shape[d];
    if (!shape_ok) {
        char a[128], b[128];
        ember_shape_format(a, sizeof a, got->ndim, got->shape);
        ember_shape_format(b, sizeof b, exp->ndim, exp->shape);
        snprintf(why, cap, "%s: shape %s, expected %s", what, a, b);
        return false;
    }
    int64_t n = ember_tensor_count(exp);
    if (exp->dtype == EMBER_DTYPE_STRING) {
        char *const *g = got->data, *const *e = exp->data;
        for (int64_t i = 0; i < n; i++)
            if (strcmp(g[i], e[i])) {
                snprintf(why, cap, "%s[%lld]: \"%.60s\", expected \"%.60s\"", what, (long long)i, g[i], e[i]);
                return false;
            }
        return true;
    }
    bool exact = !ember_dtype_is_float(exp->dtype);
    if (exact || ember_dtype_bits(exp->dtype) < 16 || exp->dtype == EMBER_DTYPE_F64) {
        if (exact && ember_dtype_bits(exp->dtype) >= 8) {
            if (!memcmp(got->data, exp->data, exp->nbytes)) return true;
            size_t es = (size_t)ember_dtype_bits(exp->dtype) / 8;
            for (int64_t i = 0; i < n; i++)
                if (memcmp((const char *)got->data + i * (int64_t)es, (const char *)exp->data + i * (int64_t)es, es)) {
                    snprintf(why, cap, "%s[%lld]: %.9g, expected %.9g", what, (long long)i, ember_tensor_get_f64(got, i),
                             ember_tensor_get_f64(exp, i));
                    return false;
                }
            return true;
        }
        if (ember_dtype_bits(exp->dtype) < 8 || (ember_dtype_bits(exp->dtype) == 8 && !exact)) {
            if (!memcmp(got->data, exp->data, exp->nbytes)) return true; /* packed / 8-bit float types: bits */
            snprintf(why, cap, "%s: values differ (%s compared bit for bit)", what, ember_dtype_name(exp->dtype));
            return false;
        }
    }
    for (int64_t i = 0; i < n; i++) {
        double g = ember_tensor_get_f64(got, i), e = ember_tensor_get_f64(exp, i);
        if (!close_enough(g, e)) {
            snprintf(why, cap, "%s[%lld]: %.9g, expected %.9g", what, (long long)i, g, e);
            return false;
        }
    }
    return true;
}

static bool compare_value(const ember_value *got, const ember_value *exp, const char *what, char *why, size_t cap) {
    static const char *kinds[] = {"?", "tensor", "sequence", "none"};
    if (got->kind != exp->kind) {
        snprintf(why, cap, "%s: a %s, expected a %s", what, kinds[got->kind & 3], kinds[exp->kind & 3]);
        return false;
    }
    if (exp->kind == EMBER_VALUE_TENSOR) return compare_tensor(got->tensor, exp->tensor, what, why, cap);
    if (exp->kind == EMBER_VALUE_SEQUENCE) {
        if (got->count != exp->count) {
            snprintf(why, cap, "%s: %d items, expected %d", what, got->count, exp->count);
            return false;
        }
        for (int i = 0; i < exp->count; i++) {
            char item[160];
            snprintf(item, sizeof item, "%s item %d", what, i);
            if (!compare_value(got->items[i], exp->items[i], item, why, cap)) return false;
        }
    }
    return true;
}

/* --- running a test directory ------------------------------------------------------------------------- */
static bool is_file(const char *path) {
    struct stat st;
    return !stat(path, &st) && S_ISREG(st.st_mode);
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* Names of dir's test_data_set_* subdirectories, sorted. */
static int list_datasets(const char *dir, char names[][64], int cap) {
    DIR *d = opendir(dir);
    if (!d) return 0;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) && n < cap) {
        size_t len = strlen(e->d_name);
        if (!strncmp(e->d_name, "test_data_set_", 14) && len < 64) memcpy(names[n++], e->d_name, len + 1);
    }
    closedir(d);
    char *ptrs[64];
    for (int i = 0; i < n; i++) ptrs[i] = names[i];
    qsort(ptrs, (size_t)n, sizeof *ptrs, cmp_str);
    char sorted[64][64];
    for (int i = 0; i < n; i++) memcpy(sorted[i], ptrs[i], strlen(ptrs[i]) + 1);
    memcpy(names, sorted, sizeof(sorted[0]) * (size_t)n);
    return n;
}

static ember_value_kind io_kind(const ember_onnx_io *io) { return io->kind; }


typedef struct dataset_io {
    ember_value **in, **exp, **got;
    int nin, nout;
} dataset_io;

static void dataset_free(dataset_io *d) {
    for (int i = 0; i < d->nin; i++) ember_value_destroy(d->in[i]);
    for (int i = 0; i < d->nout; i++) {
        ember_value_destroy(d->exp[i]);
        ember_value_destroy(d->got[i]);
    }
    ember_free(d->in);
    ember_free(d->exp);
    ember_free(d->got);
}

static ember_status load_dataset(ember_onnx_model *m, const char *path, dataset_io *d) {
    char file[4400];
    ember_onnx_io io;
    ember_status s = EMBER_OK;
    for (int i = 0; i < d->nin && !s; i++) {
        snprintf(file, sizeof file, "%s/input_%d.pb", path, i);
        ember_onnx_input(m, i, &io);
        if (!is_file(file)) return ember_fail(EMBER_ERR_FORMAT, "%s is missing (the model has %d inputs)", file, d->nin);
        s = ember_onnx_read_pb(file, io_kind(&io), &d->in[i]);
    }
    for (int i = 0; i < d->nout && !s; i++) {
        snprintf(file, sizeof file, "%s/output_%d.pb", path, i);
        ember_onnx_output(m, i, &io);
        if (!is_file(file)) return ember_fail(EMBER_ERR_FORMAT, "%s is missing", file);
        s = ember_onnx_read_pb(file, io_kind(&io), &d->exp[i]);
    }
    return s;
}

static void verdict(ember_onnx_test_result *r, ember_onnx_verdict v, const char *why) {
    r->verdict = v;
    snprintf(r->reason, sizeof r->reason, "%s", why);
}

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void run_datasets(ember_onnx_model *m, ember_onnx_session *s, const char *dir, char names[][64], int nsets,
                         ember_onnx_test_result *r) {
    for (int k = 0; k < nsets; k++) {
        char path[4200];
        snprintf(path, sizeof path, "%s/%s", dir, names[k]);
        dataset_io d = {.nin = ember_onnx_input_count(m), .nout = ember_onnx_output_count(m)};
        d.in = ember_calloc((size_t)d.nin + 1, sizeof *d.in);
        d.exp = ember_calloc((size_t)d.nout + 1, sizeof *d.exp);
        d.got = ember_calloc((size_t)d.nout + 1, sizeof *d.got);
        ember_status st = d.in && d.exp && d.got ? load_dataset(m, path, &d) : ember_fail(EMBER_ERR_NOMEM, "out of memory");
        if (st) {
            verdict(r, EMBER_TEST_FAIL, ember_last_error());
            dataset_free(&d);
            return;
        }
        if ((st = ember_onnx_run(s, d.in, d.got))) {
            verdict(r, EMBER_TEST_FAIL, ember_last_error());
            dataset_free(&d);
            return;
        }
        for (int i = 0; i < d.nout; i++) {
            ember_onnx_io io;
            ember_onnx_output(m, i, &io);
            char what[200], why[400];
            snprintf(what, sizeof what, "output '%s'", io.name);
            if (!compare_value(d.got[i], d.exp[i], what, why, sizeof why)) {
                verdict(r, EMBER_TEST_FAIL, why);
                dataset_free(&d);
                return;
            }
        }
        r->datasets++;
        dataset_free(&d);
    }
}

ember_status ember_onnx_test_dir(const char *dir, const ember_onnx_options *opt, ember_onnx_test_result *r) {
    memset(r, 0, sizeof *r);
    double t0 = now_s();
    char model[4200];
    snprintf(model, sizeof model, "%s/model.onnx", dir);
    if (!is_file(model)) {
        verdict(r, EMBER_TEST_SKIP, "no model.onnx");
        return EMBER_OK;
    }
    char names[64][64];
    int nsets = list_datasets(dir, names, 64);
    if (!nsets) {
        verdict(r, EMBER_TEST_SKIP, "no test_data_set_* directory");
        return EMBER_OK;
    }
    ember_onnx_model *m = NULL;
    ember_onnx_session *s = NULL;
    ember_status st = ember_onnx_open(model, &m);
    if (!st) st = ember_onnx_session_create(m, opt, &s);
    if (st) {
        verdict(r, EMBER_TEST_FAIL, ember_last_error());
    } else {
        r->verdict = EMBER_TEST_PASS;
        run_datasets(m, s, dir, names, nsets, r);
    }
    ember_onnx_session_destroy(s);
    ember_onnx_close(m);
    r->seconds = now_s() - t0;
    return EMBER_OK;
}
