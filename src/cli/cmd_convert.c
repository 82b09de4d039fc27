/* `ember convert IN... OUT`: tensor files between .npy, .npz and .pb, the output format from OUT's extension;
 * several inputs gather into one .npz. */
#include "cli/cli.h"
#include "ember/tensorio.h"

#include <string.h>

enum { OPT_COMPRESS = 'z', OPT_TENSOR = 256 };

static const cli_opt opts[] = {
    {"compress", OPT_COMPRESS, NULL, "deflate the members of an .npz (like np.savez_compressed)"},
    {"tensor", OPT_TENSOR, "NAME", "convert only the tensor NAME (e.g. one member of an .npz)"},
    {0},
};
static const cli_help help = {
    "convert", "IN... OUT", "Convert tensor files between .npy, .npz and ONNX TensorProto (.pb).", opts, 0,
    "Inputs are recognised by their content; OUT's format comes from its extension (.npy, .npz or .pb).\n"
    ".npy and .pb files hold one tensor: an .npz with several needs --tensor NAME, or an .npz OUT.\n"
    "Several inputs go into one .npz, each tensor under its name (input_0.pb's TensorProto name, x.npy -> x).",
};

/* Keep only the tensor called name; an error listing the names there are when none is. */
static ember_status select_tensor(ember_tensor **ts, size_t *n, const char *name) {
    for (size_t i = 0; i < *n; i++) {
        if (!ts[i]->name || strcmp(ts[i]->name, name)) continue;
        ember_tensor *keep = ts[i];
        for (size_t j = 0; j < *n; j++)
            if (j != i) ember_tensor_destroy(ts[j]);
        ts[0] = keep;
        *n = 1;
        return EMBER_OK;
    }
    char names[512] = "";
    for (size_t i = 0, used = 0; i < *n && used < sizeof names; i++)
        used += (size_t)snprintf(names + used, sizeof names - used, "%s%s", i ? ", " : "",
                                 ts[i]->name ? ts[i]->name : "?");
    return ember_fail(EMBER_ERR_ARG, "no tensor named '%s' in the input (it has: %s)", name, names);
}

/* Read every input and gather their tensors into one list (*all, *n; freed with ember_tensor_list_free). */
static ember_status read_inputs(char **paths, int npaths, ember_tensor ***all, size_t *n) {
    *all = NULL;
    *n = 0;
    for (int i = 0; i < npaths; i++) {
        ember_tensor **ts = NULL;
        size_t m = 0;
        ember_status s = ember_tensor_file_read(paths[i], &ts, &m);
        ember_tensor **grown = s ? NULL : ember_realloc(*all, (*n + m + 1) * sizeof **all);
        if (!s && !grown) s = ember_fail(EMBER_ERR_NOMEM, "out of memory");
        if (s) {
            ember_tensor_list_free(ts, m);
            return s;
        }
        *all = grown;
        memcpy(*all + *n, ts, m * sizeof *ts);
        *n += m;
        ember_free(ts);
    }
    return EMBER_OK;
}

int cmd_convert(int argc, char **argv) {
    cli_parser p;
    cli_begin(&p, &help, argc, argv);
    ember_tensor_write_options wo = {0};
    const char *only = NULL;
    int k;
    while ((k = cli_next(&p)) > 0) {
        if (k == OPT_COMPRESS) wo.compress = true;
        if (k == OPT_TENSOR) only = p.arg;
    }
    if (k < 0) return cli_stop(k);
    if (p.npos < 2) return cli_usage(&p, "expected IN... OUT");
    const char *out = p.pos[p.npos - 1];
    ember_tensor_format f = ember_tensor_format_from_path(out);
    if (f == EMBER_TENSOR_FORMAT_AUTO) return cli_usage(&p, "OUT '%s' must end in .npy, .npz or .pb", out);
    ember_tensor **ts = NULL;
    size_t n = 0;
    ember_status s = read_inputs(p.pos, p.npos - 1, &ts, &n);
    if (!s && only) s = select_tensor(ts, &n, only);
    if (!s && f != EMBER_TENSOR_FORMAT_NPZ && n != 1)
        s = ember_fail(EMBER_ERR_ARG, "the input holds %zu tensors, but a .%s file holds exactly one: pick one "
                       "with --tensor NAME, or write an .npz", n, ember_tensor_format_name(f));
    if (!s) s = ember_tensor_file_write(out, (const ember_tensor *const *)ts, n, &wo);
    if (!s && p.verbose) fprintf(stderr, "ember convert: wrote %zu tensor%s to %s\n", n, n == 1 ? "" : "s", out);
    ember_tensor_list_free(ts, n);
    return s ? cli_fail(s) : CLI_OK;
}
