/* `ember face SUBCOMMAND`: detect, enroll, identify, verify, list, remove, watch, calibrate — face recognition
 * on photos and camera frames, with an SQLite gallery. Thin: the work is in src/apps/face. */
#include "apps/face/face.h"
#include "cli/cli.h"

#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

enum {
    OPT_DB = 256, OPT_NAME, OPT_ANNOTATE, OPT_THRESHOLD, OPT_DETECTOR, OPT_EMBEDDER, OPT_LANDMARKER, OPT_SCORE,
    OPT_CAMERA, OPT_FRAMES, OPT_MAX_FRAMES, OPT_GONE, OPT_SIZE, OPT_TOP,
};
enum { MAX_TOP = 16 };

#define O_MODELS                                                                                             \
    {"detector", OPT_DETECTOR, "NAME|FILE", "detector: yunet (default), ultraface, ultraface-slim, fr_detect"}, \
    {"landmarker", OPT_LANDMARKER, "FILE", "fr_landmark model for detectors without landmarks"},            \
    {"score", OPT_SCORE, "S", "detection score threshold (default: the detector's)"}
#define O_EMBEDDER {"embedder", OPT_EMBEDDER, "NAME|FILE", "embedder: mobilefacenet (default), fr_feature, or an ONNX file"}
#define O_DB {"db", OPT_DB, "GALLERY", "gallery file (SQLite)"}
#define O_ANNOTATE {"annotate", OPT_ANNOTATE, "OUT", "write annotated image(s): a file for one image, else a folder"}
#define O_THRESHOLD {"threshold", OPT_THRESHOLD, "T", "cosine similarity for a match (default: the embedder's)"}

static const char MODELS_HELP[] =
    "Models are named or given as files. Named models are looked for in $EMBER_FACE_MODELS, models/face next to\n"
    "the ember binary, ../share/ember/models/face from it, and the repository's ../shared/models/face. See\n"
    "docs/face.md.";

/* --- shared state --------------------------------------------------------------------------------------- */
typedef struct face_cli {
    cli_parser p;
    const char *db, *name, *annotate, *detector, *embedder, *landmarker, *camera, *frames;
    float threshold, score;
    long max_frames, gone, top;
    int cam_w, cam_h;
    char exe[1024];
    ember_face_pipeline *pipe;
    ember_face_gallery *gallery;
    int failures; /* files that could not be read */
} face_cli;

static int parse_common(face_cli *c, int k) {
    const char *a = c->p.arg;
    char *end;
    switch (k) {
    case OPT_DB: c->db = a; return 0;
    case OPT_NAME: c->name = a; return 0;
    case OPT_ANNOTATE: c->annotate = a; return 0;
    case OPT_DETECTOR: c->detector = a; return 0;
    case OPT_EMBEDDER: c->embedder = a; return 0;
    case OPT_LANDMARKER: c->landmarker = a; return 0;
    case OPT_CAMERA: c->camera = a; return 0;
    case OPT_FRAMES: c->frames = a; return 0;
    case OPT_THRESHOLD:
    case OPT_SCORE: {
        float v = strtof(a, &end);
        if (end == a || *end || !(v >= -1 && v <= 1)) return cli_usage(&c->p, "'%s' is not a number from -1 to 1", a);
        if (k == OPT_THRESHOLD) c->threshold = v;
        else c->score = v;
        return 0;
    }
    case OPT_MAX_FRAMES: return cli_int(&c->p, a, 1, 2000000000L, &c->max_frames) ? 0 : CLI_EXIT_USAGE;
    case OPT_GONE: return cli_int(&c->p, a, 1, 100000, &c->gone) ? 0 : CLI_EXIT_USAGE;
    case OPT_TOP: return cli_int(&c->p, a, 1, MAX_TOP, &c->top) ? 0 : CLI_EXIT_USAGE;
    case OPT_SIZE:
        if (sscanf(a, "%dx%d", &c->cam_w, &c->cam_h) != 2 || c->cam_w < 16 || c->cam_h < 16)
            return cli_usage(&c->p, "--size wants WxH, e.g. 640x480");
        return 0;
    }
    return cli_usage(&c->p, "unexpected option");
}

/* Parse the sub-command's options; returns -1 to go on, else the exit code. */
static int parse(face_cli *c, const cli_help *help, int argc, char **argv) {
    memset(c, 0, sizeof *c);
    c->threshold = NAN;
    c->score = -1;
    c->cam_w = 640, c->cam_h = 480;
    c->top = 1;
    ssize_t n = readlink("/proc/self/exe", c->exe, sizeof c->exe - 1);
    if (n > 0) c->exe[n] = 0;
    cli_begin(&c->p, help, argc, argv);
    int k;
    while ((k = cli_next(&c->p)) > 0) {
        int rc = parse_common(c, k);
        if (rc) return rc;
    }
    if (k < 0) return cli_stop(k);
    return -1;
}

static void cleanup(face_cli *c) {
    ember_face_pipeline_close(c->pipe);
    ember_face_gallery_close(c->gallery);
    c->pipe = NULL;
    c->gallery = NULL;
}

/* The default match threshold of an embedder (see docs/face.md, "Thresholds"). */
static float default_threshold(const char *embedder) {
    if (!strcmp(embedder, "mobilefacenet")) return 0.25f;
    if (!strcmp(embedder, "fr_feature")) return 0.32f;
    return 0.363f; /* OpenCV SFace's cosine threshold, for ArcFace-style models we have not calibrated */
}

/* Open models. want_embedder: also the embedder (and the landmarker a box-only detector needs). When a gallery
 * is open and no --embedder was given, the gallery's embedder is used. */
static ember_status open_pipeline(face_cli *c, bool want_embedder) {
    char det[1024], lmk[1024], emb[1024];
    static const char *const det_defaults[] = {"yunet", "fr_detect"};
    static const char *const emb_defaults[] = {"mobilefacenet", "fr_feature"};
    ember_status s = c->detector ? ember_face_model_find(c->detector, c->exe, det, sizeof det)
                                 : ember_face_model_find_first(det_defaults, 2, c->exe, det, sizeof det, NULL);
    if (s) return s;
    ember_face_pipeline_config cfg = {.detector = det, .threads = c->p.threads, .threshold = c->score};
    if (want_embedder) {
        const char *stored = c->gallery ? ember_face_gallery_embedder(c->gallery) : NULL;
        char stored_name[128] = "";
        if (stored) snprintf(stored_name, sizeof stored_name, "%s", stored);
        if (c->embedder) s = ember_face_model_find(c->embedder, c->exe, emb, sizeof emb);
        else if (stored_name[0]) {
            s = ember_face_model_find(stored_name, c->exe, emb, sizeof emb);
            if (s) s = ember_fail_context(s, "the gallery holds '%s' embeddings: ", stored_name);
        } else s = ember_face_model_find_first(emb_defaults, 2, c->exe, emb, sizeof emb, NULL);
        if (s) return s;
        ember_face_embedder_desc d;
        if ((s = ember_face_embedder_describe(emb, &d))) return s;
        if (stored_name[0] && strcmp(stored_name, d.name))
            return ember_fail(EMBER_ERR_FORMAT,
                              "gallery %s holds embeddings from '%s', not '%s': mixing embedders is refused (use "
                              "--embedder %s, or another gallery)",
                              c->db, stored_name, d.name, stored_name);
        cfg.embedder = emb;
        if (c->landmarker) s = ember_face_model_find(c->landmarker, c->exe, lmk, sizeof lmk);
        else if (ember_face_model_find("fr_landmark", c->exe, lmk, sizeof lmk)) lmk[0] = 0;
        if (s) return s;
        cfg.landmarker = lmk[0] ? lmk : NULL;
    }
    return ember_face_pipeline_open(&cfg, &c->pipe);
}

static float match_threshold(face_cli *c) {
    if (!isnan(c->threshold)) return c->threshold;
    ember_face_embedder *e = ember_face_pipeline_embedder(c->pipe);
    return e ? default_threshold(ember_face_embedder_info(e)->name) : 0.4f;
}

/* --- inputs: files and folders of images -------------------------------------------------------------- */
typedef struct file_list {
    char **v;
    int n, cap;
} file_list;

static bool is_image_name(const char *name) {
    const char *dot = strrchr(name, '.');
    return dot && (!strcasecmp(dot, ".jpg") || !strcasecmp(dot, ".jpeg") || !strcasecmp(dot, ".png"));
}

static ember_status list_push(file_list *l, const char *s) {
    if (l->n == l->cap) {
        int cap = l->cap ? 2 * l->cap : 16;
        char **v = realloc(l->v, (size_t)cap * sizeof *v);
        if (!v) return ember_fail(EMBER_ERR_NOMEM, "out of memory");
        l->v = v, l->cap = cap;
    }
    if (!(l->v[l->n] = strdup(s))) return ember_fail(EMBER_ERR_NOMEM, "out of memory");
    l->n++;
    return EMBER_OK;
}

static void list_free(file_list *l) {
    for (int i = 0; i < l->n; i++) free(l->v[i]);
    free(l->v);
    memset(l, 0, sizeof *l);
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

static bool is_dir(const char *p) {
    struct stat st;
    return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

/* Images directly in dir (sorted); with subdirs, the sub-folders instead. */
static ember_status list_dir(const char *dir, bool subdirs, file_list *out) {
    DIR *d = opendir(dir);
    if (!d) return ember_fail(EMBER_ERR_IO, "%s: %s", dir, strerror(errno));
    int first = out->n;
    ember_status s = EMBER_OK;
    struct dirent *e;
    while (!s && (e = readdir(d))) {
        if (e->d_name[0] == '.') continue;
        char path[2048];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        if (subdirs ? is_dir(path) : is_image_name(e->d_name) && !is_dir(path)) s = list_push(out, path);
    }
    closedir(d);
    qsort(out->v + first, (size_t)(out->n - first), sizeof *out->v, cmp_str);
    return s;
}

/* Positional arguments: files as given, folders expanded to their images. */
static ember_status gather(char **args, int n, file_list *out, bool *had_dir) {
    ember_status s = EMBER_OK;
    for (int i = 0; i < n && !s; i++) {
        if (is_dir(args[i])) {
            if (had_dir) *had_dir = true;
            s = list_dir(args[i], false, out);
        } else {
            s = list_push(out, args[i]);
        }
    }
    return s;
}

static const char *base_name(const char *path) {
    const char *b = strrchr(path, '/');
    return b ? b + 1 : path;
}

/* Where the annotated copy of `file` goes: OUT itself for a single image (unless OUT is a folder). */
static ember_status annotate_path(const char *out, const char *file, int nfiles, char *buf, size_t cap) {
    if (nfiles == 1 && !is_dir(out)) {
        snprintf(buf, cap, "%s", out);
        return EMBER_OK;
    }
    if (!is_dir(out) && mkdir(out, 0755) != 0)
        return ember_fail(EMBER_ERR_IO, "--annotate %s: cannot create the folder: %s", out, strerror(errno));
    snprintf(buf, cap, "%s/%s", out, base_name(file));
    return EMBER_OK;
}

/* Per-file failure: print, count, go on with the next file. */
static void file_error(face_cli *c, ember_status s) {
    fprintf(stderr, "ember: error: %s\n", ember_last_error());
    c->failures++;
    (void)s;
}

/* Index of the largest face (by box area); -1 when none. */
static int largest(const ember_face_dets *d) {
    int best = -1;
    float area = -1;
    for (int i = 0; i < d->n; i++) {
        float a = (d->v[i].x1 - d->v[i].x0) * (d->v[i].y1 - d->v[i].y0);
        if (a > area) area = a, best = i;
    }
    return best;
}

static void print_box_json(const ember_face_det *d) {
    printf("\"box\": [%.1f, %.1f, %.1f, %.1f], \"score\": %.4f", d->x0, d->y0, d->x1, d->y1, d->score);
    if (d->has_lm) {
        printf(", \"landmarks\": [");
        for (int k = 0; k < 10; k++) printf("%s%.1f", k ? ", " : "", d->lm[k]);
        printf("]");
    }
}

/* --- detect -------------------------------------------------------------------------------------------- */
static const cli_opt detect_opts[] = {O_MODELS, O_ANNOTATE, {0}};
static const cli_help detect_help = {
    "face detect", "IMG|DIR...", "Find faces: one line per face (file, score, box x0,y0,x1,y1).", detect_opts,
    CLI_THREADS | CLI_JSON, MODELS_HELP};

static int face_detect(int argc, char **argv) {
    face_cli c;
    int rc = parse(&c, &detect_help, argc, argv);
    if (rc >= 0) return rc;
    if (c.p.npos < 1) return cli_usage(&c.p, "expected at least one image");
    file_list files = {0};
    ember_status s = gather(c.p.pos, c.p.npos, &files, NULL);
    if (!s) s = open_pipeline(&c, false);
    if (s) {
        list_free(&files);
        cleanup(&c);
        return cli_fail(s);
    }
    if (c.p.json) printf("[");
    int shown = 0;
    for (int f = 0; f < files.n; f++) {
        ember_face_image img = {0};
        ember_face_dets d = {0};
        s = ember_face_image_load(files.v[f], &img);
        if (!s) s = ember_face_pipeline_detect(c.pipe, &img, &d);
        if (s) {
            file_error(&c, s);
        } else {
            if (c.p.json) {
                printf("%s\n  {\"file\": ", shown++ ? "," : "");
                cli_json_string(stdout, files.v[f]);
                printf(", \"width\": %d, \"height\": %d, \"faces\": [", img.w, img.h);
            }
            for (int i = 0; i < d.n; i++) {
                const ember_face_det *x = &d.v[i];
                if (c.p.json) {
                    printf("%s{", i ? ", " : "");
                    print_box_json(x);
                    printf("}");
                } else {
                    printf("%s\t%.3f\t%d,%d,%d,%d\n", files.v[f], x->score, (int)lroundf(x->x0), (int)lroundf(x->y0),
                           (int)lroundf(x->x1), (int)lroundf(x->y1));
                }
            }
            if (c.p.json) printf("]}");
            else if (d.n == 0) printf("%s\tno_face\n", files.v[f]);
            if (c.annotate) {
                char out[2048];
                for (int i = 0; i < d.n; i++) {
                    char label[32];
                    snprintf(label, sizeof label, "%.2f", d.v[i].score);
                    ember_face_draw_face(&img, &d.v[i], label, (ember_face_rgb){255, 200, 0});
                }
                s = annotate_path(c.annotate, files.v[f], files.n, out, sizeof out);
                if (!s) s = ember_face_image_save(out, &img);
                if (s) file_error(&c, s);
            }
        }
        ember_face_dets_free(&d);
        ember_face_image_free(&img);
    }
    if (c.p.json) printf("\n]\n");
    list_free(&files);
    cleanup(&c);
    return c.failures ? CLI_EXIT_INPUT : CLI_OK;
}

/* --- enroll -------------------------------------------------------------------------------------------- */
static const cli_opt enroll_opts[] = {O_DB, {"name", OPT_NAME, "NAME", "the person's name"}, O_MODELS, O_EMBEDDER, {0}};
static const cli_help enroll_help = {
    "face enroll", "--db GALLERY --name NAME IMG|DIR...",
    "Add a person's photos to a gallery (created, mode 0600). Each photo gives its largest face; photos already\n"
    "enrolled for this person (same SHA-256) are skipped. All or nothing: one transaction.",
    enroll_opts, CLI_THREADS, MODELS_HELP};

static int face_enroll(int argc, char **argv) {
    face_cli c;
    int rc = parse(&c, &enroll_help, argc, argv);
    if (rc >= 0) return rc;
    if (!c.db) return cli_usage(&c.p, "--db GALLERY is required");
    if (!c.name || !*c.name) return cli_usage(&c.p, "--name NAME is required");
    if (strlen(c.name) >= sizeof(((ember_face_person *)0)->name)) return cli_usage(&c.p, "--name is too long");
    for (const unsigned char *ch = (const unsigned char *)c.name; *ch; ch++)
        if (*ch < 0x20 || *ch == 0x7f) return cli_usage(&c.p, "--name must not hold control characters (tabs, newlines)");
    if (!strcmp(c.name, "unknown")) return cli_usage(&c.p, "'unknown' is what unmatched faces are called; pick another name");
    if (c.p.npos < 1) return cli_usage(&c.p, "expected at least one image or folder");
    file_list files = {0};
    bool had_dir = false;
    ember_status s = gather(c.p.pos, c.p.npos, &files, &had_dir);
    if (!s && files.n == 0) s = ember_fail(EMBER_ERR_IO, "no .jpg/.jpeg/.png images in %s", c.p.pos[0]);
    if (!s) s = ember_face_gallery_open(c.db, EMBER_FACE_GALLERY_CREATE, &c.gallery);
    if (!s) s = open_pipeline(&c, true);
    if (s) {
        list_free(&files);
        cleanup(&c);
        return cli_fail(s);
    }
    ember_face_embedder *e = ember_face_pipeline_embedder(c.pipe);
    int dim = ember_face_embedder_dim(e);
    float *embs = malloc((size_t)files.n * dim * sizeof *embs);
    uint8_t(*hashes)[32] = malloc((size_t)files.n * 32);
    ember_face_sample *samples = calloc((size_t)files.n, sizeof *samples);
    int n = 0;
    if (!embs || !hashes || !samples) s = ember_fail(EMBER_ERR_NOMEM, "out of memory");
    cli_progress pr = {0}; /* a bar only for folder enrollments (cli_progress_begin draws when on a terminal) */
    if (had_dir) cli_progress_begin(&pr, "enrolling", files.n);
    for (int f = 0; f < files.n && !s; f++) {
        cli_progress_step(&pr, f);
        uint8_t *data = NULL;
        size_t size = 0;
        ember_face_image img = {0};
        ember_face_dets d = {0};
        ember_status fs = ember_face_file_read(files.v[f], &data, &size);
        if (!fs) fs = ember_face_image_decode(data, size, files.v[f], &img);
        if (!fs) fs = ember_face_pipeline_detect(c.pipe, &img, &d);
        if (!fs && d.n == 0) fs = ember_fail(EMBER_ERR_FORMAT, "%s: no face found", files.v[f]);
        if (!fs) {
            if (d.n > 1)
                fprintf(stderr, "%sember: note: %s has %d faces; enrolling the largest\n", pr.active ? "\n" : "",
                        files.v[f], d.n);
            fs = ember_face_pipeline_embed(c.pipe, &img, &d.v[largest(&d)], embs + (size_t)n * dim);
        }
        if (!fs) {
            ember_face_sha256(data, size, hashes[n]);
            samples[n] = (ember_face_sample){embs + (size_t)n * dim, files.v[f], hashes[n]};
            n++;
        } else {
            if (pr.active) fputc('\n', stderr);
            file_error(&c, fs);
        }
        ember_free(data);
        ember_face_dets_free(&d);
        ember_face_image_free(&img);
    }
    cli_progress_step(&pr, files.n);
    cli_progress_end(&pr);
    int added = 0;
    if (!s && n == 0) s = ember_fail(EMBER_ERR_FORMAT, "no face to enroll for '%s'", c.name);
    if (!s) s = ember_face_gallery_enroll(c.gallery, c.name, ember_face_embedder_info(e)->name, dim, samples, n, &added);
    if (!s)
        printf("enrolled %s: %d new embedding%s (%d already there, %d file%s failed) with %s\n", c.name, added,
               added == 1 ? "" : "s", n - added, c.failures, c.failures == 1 ? "" : "s", ember_face_embedder_info(e)->name);
    free(embs);
    free(hashes);
    free(samples);
    list_free(&files);
    cleanup(&c);
    if (s) return s == EMBER_ERR_ARG ? (fprintf(stderr, "ember: error: %s\n", ember_last_error()), CLI_EXIT_INPUT)
                                     : cli_fail(s);
    return c.failures ? CLI_EXIT_INPUT : CLI_OK;
}

/* --- identify ------------------------------------------------------------------------------------------ */
static const cli_opt identify_opts[] = {
    O_DB, O_THRESHOLD, O_ANNOTATE, {"top", OPT_TOP, "K", "with --json: the K most similar people per face (default 1)"},
    O_MODELS, O_EMBEDDER, {0}};
static const cli_help identify_help = {
    "face identify", "--db GALLERY IMG|DIR...",
    "Name the faces in photos: one line per face — file, name (or unknown), similarity, box x0,y0,x1,y1.",
    identify_opts, CLI_THREADS | CLI_JSON, MODELS_HELP};

typedef struct identified {
    char name[128];
    float score; /* best similarity (also when below the threshold) */
    bool known;
    ember_face_match top[MAX_TOP]; /* best first */
    int ntop;
} identified;

/* Embed every face of an image (in parallel across the pipeline's threads) into *embs, grown as needed. */
static ember_status embed_faces(face_cli *c, const ember_face_image *img, const ember_face_dets *d, float **embs,
                                int *cap) {
    if (d->n > *cap) {
        int dim = ember_face_embedder_dim(ember_face_pipeline_embedder(c->pipe));
        float *v = realloc(*embs, (size_t)d->n * dim * sizeof *v);
        if (!v) return ember_fail(EMBER_ERR_NOMEM, "out of memory for %d embeddings", d->n);
        *embs = v, *cap = d->n;
    }
    return ember_face_pipeline_embed_all(c->pipe, img, d, *embs);
}

/* Look an embedding up in the gallery. */
static ember_status identify_face(face_cli *c, const float *emb, float thr, identified *out) {
    ember_face_embedder *e = ember_face_pipeline_embedder(c->pipe);
    int n = 0, k = c->top > 1 ? (int)c->top : 1;
    ember_status s = ember_face_gallery_search(c->gallery, ember_face_embedder_info(e)->name, emb, ember_face_embedder_dim(e), out->top,
                                  k, &n);
    if (s) return s;
    out->ntop = n;
    out->score = n ? out->top[0].score : 0;
    out->known = n && out->top[0].score >= thr;
    snprintf(out->name, sizeof out->name, "%.127s", out->known ? out->top[0].name : "unknown");
    return EMBER_OK;
}

static ember_status open_gallery_for_reading(face_cli *c) {
    if (access(c->db, F_OK) != 0) return ember_fail(EMBER_ERR_IO, "gallery %s: %s", c->db, strerror(errno));
    ember_status s = ember_face_gallery_open(c->db, 0, &c->gallery);
    if (s) return s;
    if (!ember_face_gallery_embedder(c->gallery))
        return ember_fail(EMBER_ERR_FORMAT, "gallery %s is empty: enroll someone first", c->db);
    return EMBER_OK;
}

static int face_identify(int argc, char **argv) {
    face_cli c;
    int rc = parse(&c, &identify_help, argc, argv);
    if (rc >= 0) return rc;
    if (!c.db) return cli_usage(&c.p, "--db GALLERY is required");
    if (c.p.npos < 1) return cli_usage(&c.p, "expected at least one image or folder");
    file_list files = {0};
    ember_status s = gather(c.p.pos, c.p.npos, &files, NULL);
    if (!s) s = open_gallery_for_reading(&c);
    if (!s) s = open_pipeline(&c, true);
    if (s) {
        list_free(&files);
        cleanup(&c);
        return cli_fail(s);
    }
    float thr = match_threshold(&c);
    int dim = ember_face_embedder_dim(ember_face_pipeline_embedder(c.pipe)), cap = 0;
    float *embs = NULL;
    if (c.p.json) printf("[");
    int shown = 0;
    for (int f = 0; f < files.n && !s; f++) {
        ember_face_image img = {0};
        ember_face_dets d = {0};
        ember_status fs = ember_face_image_load(files.v[f], &img);
        if (!fs) fs = ember_face_pipeline_detect(c.pipe, &img, &d);
        if (!fs) fs = embed_faces(&c, &img, &d, &embs, &cap);
        if (fs) {
            file_error(&c, fs);
            ember_face_dets_free(&d);
            ember_face_image_free(&img);
            continue;
        }
        if (c.p.json) {
            printf("%s\n  {\"file\": ", shown++ ? "," : "");
            cli_json_string(stdout, files.v[f]);
            printf(", \"faces\": [");
        }
        for (int i = 0; i < d.n && !fs; i++) {
            identified who;
            const ember_face_det *x = &d.v[i];
            fs = identify_face(&c, embs + (size_t)i * dim, thr, &who);
            if (fs) break;
            if (c.p.json) {
                printf("%s{\"name\": ", i ? ", " : "");
                cli_json_string(stdout, who.name);
                printf(", \"similarity\": %.4f, ", who.score);
                print_box_json(x);
                if (c.top > 1) {
                    printf(", \"candidates\": [");
                    for (int t = 0; t < who.ntop; t++) {
                        printf("%s{\"name\": ", t ? ", " : "");
                        cli_json_string(stdout, who.top[t].name);
                        printf(", \"similarity\": %.4f}", who.top[t].score);
                    }
                    printf("]");
                }
                printf("}");
            } else {
                printf("%s\t%s\t%.3f\t%d,%d,%d,%d\n", files.v[f], who.name, who.score, (int)lroundf(x->x0),
                       (int)lroundf(x->y0), (int)lroundf(x->x1), (int)lroundf(x->y1));
            }
            if (c.annotate) {
                char label[160];
                snprintf(label, sizeof label, "%s %.2f", who.name, who.score);
                ember_face_draw_face(&img, x, label, who.known ? (ember_face_rgb){40, 220, 60} : (ember_face_rgb){230, 40, 40});
            }
        }
        if (c.p.json) printf("]}");
        else if (!fs && d.n == 0) printf("%s\tno_face\n", files.v[f]);
        if (!fs && c.annotate) {
            char out[2048];
            fs = annotate_path(c.annotate, files.v[f], files.n, out, sizeof out);
            if (!fs) fs = ember_face_image_save(out, &img);
        }
        if (fs) file_error(&c, fs);
        ember_face_dets_free(&d);
        ember_face_image_free(&img);
    }
    if (c.p.json) printf("\n]\n");
    free(embs);
    list_free(&files);
    cleanup(&c);
    if (s) return cli_fail(s);
    return c.failures ? CLI_EXIT_INPUT : CLI_OK;
}

/* --- verify -------------------------------------------------------------------------------------------- */
static const cli_opt verify_opts[] = {O_THRESHOLD, O_MODELS, O_EMBEDDER, {0}};
static const cli_help verify_help = {
    "face verify", "IMG_A IMG_B",
    "Are the largest faces of two photos the same person? Prints 'same' or 'different' and the similarity.",
    verify_opts, CLI_THREADS | CLI_JSON, MODELS_HELP};

static ember_status embed_largest(face_cli *c, const char *file, float *emb) {
    ember_face_image img = {0};
    ember_face_dets d = {0};
    ember_status s = ember_face_image_load(file, &img);
    if (!s) s = ember_face_pipeline_detect(c->pipe, &img, &d);
    if (!s && d.n == 0) s = ember_fail(EMBER_ERR_FORMAT, "%s: no face found", file);
    if (!s) s = ember_face_pipeline_embed(c->pipe, &img, &d.v[largest(&d)], emb);
    ember_face_dets_free(&d);
    ember_face_image_free(&img);
    return s;
}

static int face_verify(int argc, char **argv) {
    face_cli c;
    int rc = parse(&c, &verify_help, argc, argv);
    if (rc >= 0) return rc;
    if (c.p.npos != 2) return cli_usage(&c.p, "expected two images");
    ember_status s = open_pipeline(&c, true);
    float *a = NULL, *b = NULL;
    int dim = 0;
    if (!s) {
        dim = ember_face_embedder_dim(ember_face_pipeline_embedder(c.pipe));
        a = malloc((size_t)dim * sizeof *a), b = malloc((size_t)dim * sizeof *b);
        if (!a || !b) s = ember_fail(EMBER_ERR_NOMEM, "out of memory");
    }
    if (!s) s = embed_largest(&c, c.p.pos[0], a);
    if (!s) s = embed_largest(&c, c.p.pos[1], b);
    if (!s) {
        float sim = ember_face_cosine(a, b, dim), thr = match_threshold(&c);
        const char *verdict = sim >= thr ? "same" : "different";
        if (c.p.json) printf("{\"verdict\": \"%s\", \"similarity\": %.4f, \"threshold\": %.4f}\n", verdict, sim, thr);
        else printf("%s\t%.3f\t(threshold %.3f)\n", verdict, sim, thr);
    }
    free(a);
    free(b);
    cleanup(&c);
    return s ? cli_fail(s) : CLI_OK;
}

/* --- list / remove ------------------------------------------------------------------------------------- */
static const cli_opt db_opts[] = {O_DB, {0}};
static const cli_help list_help = {"face list", "--db GALLERY", "List the people in a gallery.", db_opts, CLI_JSON, NULL};
static const cli_help remove_help = {"face remove", "--db GALLERY NAME...",
                                     "Delete people and their embeddings from a gallery (the file is vacuumed).",
                                     db_opts, 0, NULL};

static int face_list(int argc, char **argv) {
    face_cli c;
    int rc = parse(&c, &list_help, argc, argv);
    if (rc >= 0) return rc;
    if (!c.db) return cli_usage(&c.p, "--db GALLERY is required");
    if (c.p.npos) return cli_usage(&c.p, "unexpected argument '%s'", c.p.pos[0]);
    ember_face_person *people = NULL;
    int n = 0;
    ember_status s = access(c.db, F_OK) ? ember_fail(EMBER_ERR_IO, "gallery %s: %s", c.db, strerror(errno))
                                        : ember_face_gallery_open(c.db, 0, &c.gallery);
    if (!s) s = ember_face_gallery_list(c.gallery, &people, &n);
    if (!s) {
        const char *emb = ember_face_gallery_embedder(c.gallery);
        if (c.p.json) {
            printf("{\"embedder\": ");
            cli_json_string(stdout, emb ? emb : "");
            printf(", \"people\": [");
            for (int i = 0; i < n; i++) {
                printf("%s{\"name\": ", i ? ", " : "");
                cli_json_string(stdout, people[i].name);
                printf(", \"embeddings\": %d, \"created\": %lld, \"updated\": %lld}", people[i].embeddings,
                       (long long)people[i].created, (long long)people[i].updated);
            }
            printf("]}\n");
        } else {
            printf("# %d %s, embedder %s\n", n, n == 1 ? "person" : "people", emb ? emb : "(none)");
            for (int i = 0; i < n; i++) {
                char when[32];
                time_t t = (time_t)people[i].updated;
                struct tm tm;
                strftime(when, sizeof when, "%Y-%m-%d %H:%M:%S", gmtime_r(&t, &tm));
                printf("%s\t%d\t%s\n", people[i].name, people[i].embeddings, when);
            }
        }
    }
    ember_free(people);
    cleanup(&c);
    return s ? cli_fail(s) : CLI_OK;
}

static int face_remove(int argc, char **argv) {
    face_cli c;
    int rc = parse(&c, &remove_help, argc, argv);
    if (rc >= 0) return rc;
    if (!c.db) return cli_usage(&c.p, "--db GALLERY is required");
    if (c.p.npos < 1) return cli_usage(&c.p, "expected a NAME to remove");
    ember_status s = access(c.db, F_OK) ? ember_fail(EMBER_ERR_IO, "gallery %s: %s", c.db, strerror(errno))
                                        : ember_face_gallery_open(c.db, 0, &c.gallery);
    for (int i = 0; i < c.p.npos && !s; i++) {
        s = ember_face_gallery_remove(c.gallery, c.p.pos[i]);
        if (!s) printf("removed %s\n", c.p.pos[i]);
    }
    cleanup(&c);
    if (s == EMBER_ERR_ARG) return fprintf(stderr, "ember: error: %s\n", ember_last_error()), CLI_EXIT_INPUT;
    return s ? cli_fail(s) : CLI_OK;
}

/* --- watch --------------------------------------------------------------------------------------------- */
static const cli_opt watch_opts[] = {
    O_DB, O_THRESHOLD,
    {"camera", OPT_CAMERA, "DEV", "V4L2 device (default /dev/video0)"},
    {"size", OPT_SIZE, "WxH", "camera frame size to ask for (default 640x480)"},
    {"frames", OPT_FRAMES, "DIR", "replay the images in DIR (sorted by name) instead of a camera"},
    {"max-frames", OPT_MAX_FRAMES, "N", "stop after N frames"},
    {"gone", OPT_GONE, "N", "frames without a person before 'leaves' (default 5; 1 with --frames)"},
    O_ANNOTATE, O_MODELS, O_EMBEDDER, {0}};
static const cli_help watch_help = {
    "face watch", "--db GALLERY [--camera DEV | --frames DIR]",
    "Identify faces live and print an event line when a known person (or an unknown face) appears or leaves:\n"
    "  TIME  FRAME  appears|leaves  NAME  SIMILARITY\n"
    "Ctrl-C stops; everyone still present then leaves. --annotate DIR saves each annotated frame.",
    watch_opts, CLI_THREADS | CLI_JSON, MODELS_HELP};

static volatile sig_atomic_t stop_watch;
static void on_sigint(int sig) { (void)sig, stop_watch = 1; }

typedef struct presence {
    char name[128];
    long last_seen;
    float score;
} presence;

static void event(face_cli *c, long frame, const char *what, const char *name, float score) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm;
    char when[32];
    strftime(when, sizeof when, "%H:%M:%S", localtime_r(&ts.tv_sec, &tm));
    if (c->p.json) {
        printf("{\"time\": %.3f, \"frame\": %ld, \"event\": \"%s\", \"name\": ", ts.tv_sec + ts.tv_nsec / 1e9, frame, what);
        cli_json_string(stdout, name);
        printf(", \"similarity\": %.4f}\n", score);
    } else {
        printf("%s.%03ld\t%ld\t%s\t%s\t%.3f\n", when, ts.tv_nsec / 1000000, frame, what, name, score);
    }
    fflush(stdout);
}

static int face_watch(int argc, char **argv) {
    face_cli c;
    int rc = parse(&c, &watch_help, argc, argv);
    if (rc >= 0) return rc;
    if (!c.db) return cli_usage(&c.p, "--db GALLERY is required");
    if (c.camera && c.frames) return cli_usage(&c.p, "--camera and --frames exclude each other");
    if (c.p.npos) return cli_usage(&c.p, "unexpected argument '%s'", c.p.pos[0]);
    if (!c.gone) c.gone = c.frames ? 1 : 5;
    file_list frames = {0};
    ember_face_camera *cam = NULL;
    ember_status s = c.frames ? list_dir(c.frames, false, &frames) : EMBER_OK;
    if (!s && c.frames && frames.n == 0) s = ember_fail(EMBER_ERR_IO, "--frames %s: no images", c.frames);
    if (!s) s = open_gallery_for_reading(&c);
    if (!s) s = open_pipeline(&c, true);
    if (!s && !c.frames) s = ember_face_camera_open(c.camera ? c.camera : "/dev/video0", c.cam_w, c.cam_h, &cam);
    int dim = s ? 0 : ember_face_embedder_dim(ember_face_pipeline_embedder(c.pipe)), cap = 0;
    float *embs = NULL;
    presence present[64];
    int npresent = 0;
    float thr = s ? 0 : match_threshold(&c);
    stop_watch = 0;
    struct sigaction sa = {0}, old_int, old_term;
    sa.sa_handler = on_sigint;
    sigaction(SIGINT, &sa, &old_int);
    sigaction(SIGTERM, &sa, &old_term);
    long frame = 0;
    for (; !s && !stop_watch && (!c.max_frames || frame < c.max_frames); frame++) {
        ember_face_image img = {0};
        ember_face_dets d = {0};
        if (c.frames) {
            if (frame >= frames.n) break;
            s = ember_face_image_load(frames.v[frame], &img);
            if (s) { /* a bad frame file: report it and go on */
                file_error(&c, s);
                s = EMBER_OK;
                continue;
            }
        } else {
            s = ember_face_camera_read(cam, &img);
            if (s) break;
        }
        s = ember_face_pipeline_detect(c.pipe, &img, &d);
        if (!s) s = embed_faces(&c, &img, &d, &embs, &cap);
        for (int i = 0; i < d.n && !s; i++) {
            identified who;
            s = identify_face(&c, embs + (size_t)i * dim, thr, &who);
            if (s) break;
            int k = 0;
            while (k < npresent && strcmp(present[k].name, who.name)) k++;
            if (k == npresent && npresent < 64) {
                present[npresent++] = (presence){.last_seen = frame, .score = who.score};
                snprintf(present[k].name, sizeof present[k].name, "%s", who.name);
                event(&c, frame, "appears", who.name, who.score);
            } else if (k < npresent) {
                present[k].last_seen = frame, present[k].score = who.score;
            }
            if (c.annotate) {
                char label[160];
                snprintf(label, sizeof label, "%s %.2f", who.name, who.score);
                ember_face_draw_face(&img, &d.v[i], label, who.known ? (ember_face_rgb){40, 220, 60} : (ember_face_rgb){230, 40, 40});
            }
        }
        for (int k = 0; k < npresent && !s; k++)
            if (frame - present[k].last_seen >= c.gone) {
                event(&c, frame, "leaves", present[k].name, present[k].score);
                present[k--] = present[--npresent];
            }
        if (!s && c.annotate) {
            char out[2048];
            if (!is_dir(c.annotate) && mkdir(c.annotate, 0755) != 0)
                s = ember_fail(EMBER_ERR_IO, "--annotate %s: %s", c.annotate, strerror(errno));
            snprintf(out, sizeof out, "%s/frame%06ld.jpg", c.annotate, frame);
            if (!s) s = ember_face_image_save(out, &img);
        }
        ember_face_dets_free(&d);
        ember_face_image_free(&img);
    }
    for (int k = 0; k < npresent; k++) event(&c, frame, "leaves", present[k].name, present[k].score);
    sigaction(SIGINT, &old_int, NULL);
    sigaction(SIGTERM, &old_term, NULL);
    free(embs);
    ember_face_camera_close(cam);
    list_free(&frames);
    cleanup(&c);
    if (s) return cli_fail(s);
    return c.failures ? CLI_EXIT_INPUT : CLI_OK;
}

/* --- calibrate ----------------------------------------------------------------------------------------- */
static const cli_opt calibrate_opts[] = {O_MODELS, O_EMBEDDER, {0}};
static const cli_help calibrate_help = {
    "face calibrate", "DIR",
    "Choose a match threshold on a labelled folder (DIR/PERSON/*.jpg|png): embeds every photo's largest face,\n"
    "scores every pair, and prints the genuine (same person) and impostor (different people) similarities, the\n"
    "threshold with the fewest errors (the middle of the widest such interval), the equal error rate, and the\n"
    "rank-1 accuracy of enrolling each person's first photo and identifying the others.",
    calibrate_opts, CLI_THREADS | CLI_JSON, MODELS_HELP};

static int face_calibrate(int argc, char **argv) {
    face_cli c;
    int rc = parse(&c, &calibrate_help, argc, argv);
    if (rc >= 0) return rc;
    if (c.p.npos != 1) return cli_usage(&c.p, "expected one folder of per-person folders");
    file_list people = {0}, files = {0};
    ember_status s = list_dir(c.p.pos[0], true, &people);
    int *label = NULL, n = 0, dim = 0;
    float *embs = NULL;
    if (!s && people.n < 2) s = ember_fail(EMBER_ERR_ARG, "%s: needs at least two person folders", c.p.pos[0]);
    if (!s) s = open_pipeline(&c, true);
    for (int pi = 0; pi < people.n && !s; pi++) {
        int before = files.n;
        s = list_dir(people.v[pi], false, &files);
        int *nl = realloc(label, (size_t)(files.n ? files.n : 1) * sizeof *nl);
        if (!nl) s = ember_fail(EMBER_ERR_NOMEM, "out of memory");
        else label = nl;
        for (int f = before; f < files.n && !s; f++) label[f] = pi;
    }
    if (!s) {
        dim = ember_face_embedder_dim(ember_face_pipeline_embedder(c.pipe));
        embs = malloc((size_t)(files.n ? files.n : 1) * dim * sizeof *embs);
        if (!embs) s = ember_fail(EMBER_ERR_NOMEM, "out of memory");
    }
    cli_progress pr;
    cli_progress_begin(&pr, "embedding", s ? 0 : files.n);
    for (int f = 0; f < files.n && !s; f++) {
        cli_progress_step(&pr, f);
        ember_status fs = embed_largest(&c, files.v[f], embs + (size_t)n * dim);
        if (fs) {
            if (pr.active) fputc('\n', stderr);
            file_error(&c, fs);
            continue;
        }
        label[n++] = label[f]; /* n <= f: compacts the labels of the photos that gave a face */
    }
    cli_progress_end(&pr);
    /* Pair scores. */
    float gmin = 2, imax = -2;
    double gsum = 0, isum = 0;
    long ng = 0, ni = 0;
    float *gen = NULL, *imp = NULL;
    if (!s) {
        gen = malloc((size_t)n * n * sizeof *gen), imp = malloc((size_t)n * n * sizeof *imp);
        if (!gen || !imp) s = ember_fail(EMBER_ERR_NOMEM, "out of memory");
    }
    for (int i = 0; i < n && !s; i++)
        for (int j = i + 1; j < n; j++) {
            float v = ember_face_cosine(embs + (size_t)i * dim, embs + (size_t)j * dim, dim);
            if (label[i] == label[j]) gen[ng++] = v, gsum += v, gmin = fminf(gmin, v);
            else imp[ni++] = v, isum += v, imax = fmaxf(imax, v);
        }
    if (!s && (!ng || !ni)) s = ember_fail(EMBER_ERR_ARG, "calibrate: needs two photos of someone and two people");
    if (!s) {
        /* Threshold sweep over every score boundary: errors = genuine below + impostors at or above. */
        float best_t = 0, eer_gap = 2, eer_t = 0;
        long best_err = ng + ni + 1;
        int lo_best = 0, hi_best = 0;
        for (int step = 0; step <= 2000; step++) {
            float t = -1 + step * 0.001f;
            long fr = 0, fa = 0;
            for (long k = 0; k < ng; k++) fr += gen[k] < t;
            for (long k = 0; k < ni; k++) fa += imp[k] >= t;
            long err = fr + fa;
            if (err < best_err) best_err = err, lo_best = hi_best = step;
            else if (err == best_err && hi_best == step - 1) hi_best = step;
            float frr = (float)fr / ng, far = (float)fa / ni;
            if (fabsf(frr - far) < eer_gap) eer_gap = fabsf(frr - far), eer_t = t;
        }
        best_t = -1 + (lo_best + hi_best) * 0.0005f;
        long fr = 0, fa = 0;
        for (long k = 0; k < ng; k++) fr += gen[k] < eer_t;
        for (long k = 0; k < ni; k++) fa += imp[k] >= eer_t;
        /* Rank-1: enroll the first photo of each person, identify the rest. */
        int first[4096], nfirst = 0, correct = 0, trials = 0;
        for (int i = 0; i < n && nfirst < 4096; i++)
            if (i == 0 || label[i] != label[i - 1]) first[nfirst++] = i;
        for (int i = 0; i < n; i++) {
            bool is_first = false;
            for (int k = 0; k < nfirst; k++) is_first |= first[k] == i;
            if (is_first) continue;
            int best = -1;
            float bs = -2;
            for (int k = 0; k < nfirst; k++) {
                float v = ember_face_cosine(embs + (size_t)i * dim, embs + (size_t)first[k] * dim, dim);
                if (v > bs) bs = v, best = first[k];
            }
            trials++;
            correct += best >= 0 && label[best] == label[i];
        }
        const char *name = ember_face_embedder_info(ember_face_pipeline_embedder(c.pipe))->name;
        if (c.p.json) {
            printf("{\"embedder\": \"%s\", \"photos\": %d, \"people\": %d, \"genuine_pairs\": %ld, \"impostor_pairs\": %ld, "
                   "\"genuine_min\": %.4f, \"genuine_mean\": %.4f, \"impostor_max\": %.4f, \"impostor_mean\": %.4f, "
                   "\"threshold\": %.3f, \"errors_at_threshold\": %ld, \"eer_threshold\": %.3f, \"rank1\": %.4f}\n",
                   name, n, people.n, ng, ni, gmin, gsum / ng, imax, isum / ni, best_t, best_err, eer_t,
                   trials ? (double)correct / trials : 0.0);
        } else {
            printf("embedder            %s (%d photos of %d people)\n", name, n, people.n);
            printf("genuine pairs       %ld: min %.3f, mean %.3f\n", ng, gmin, gsum / ng);
            printf("impostor pairs      %ld: max %.3f, mean %.3f\n", ni, imax, isum / ni);
            printf("best threshold      %.3f (%ld errors; %s)\n", best_t, best_err,
                   gmin > imax ? "the classes separate" : "the classes overlap");
            printf("equal error rate    at %.3f: %ld false rejects, %ld false accepts\n", eer_t, fr, fa);
            printf("rank-1 (first photo enrolled)  %d/%d = %.1f%%\n", correct, trials, trials ? 100.0 * correct / trials : 0.0);
        }
    }
    free(gen);
    free(imp);
    free(embs);
    free(label);
    list_free(&people);
    list_free(&files);
    cleanup(&c);
    if (s) return cli_fail(s);
    return c.failures ? CLI_EXIT_INPUT : CLI_OK;
}

/* --- dispatch ------------------------------------------------------------------------------------------ */
static const struct {
    const char *name, *summary;
    int (*run)(int, char **);
} SUBS[] = {
    {"detect", "find faces in photos (boxes, scores, landmarks)", face_detect},
    {"enroll", "add a person's photos to a gallery", face_enroll},
    {"identify", "name the faces in photos from a gallery", face_identify},
    {"verify", "are two photos the same person?", face_verify},
    {"list", "list a gallery's people", face_list},
    {"remove", "delete people from a gallery", face_remove},
    {"watch", "identify faces from a camera (or replayed frames), with appear/leave events", face_watch},
    {"calibrate", "choose a match threshold on a labelled folder", face_calibrate},
};

static void face_usage(FILE *f) {
    fprintf(f, "usage: ember face <command> [options]\n\nFace recognition, offline: detect, align, embed, match against"
               " an SQLite gallery.\n\ncommands:\n");
    for (size_t i = 0; i < sizeof SUBS / sizeof *SUBS; i++) fprintf(f, "  %-10s %s\n", SUBS[i].name, SUBS[i].summary);
    fprintf(f, "\n'ember face <command> --help' tells more. Models: docs/face.md.\n");
}

int cmd_face(int argc, char **argv) {
    if (argc < 2) {
        face_usage(stderr);
        return CLI_EXIT_USAGE;
    }
    if (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help") || !strcmp(argv[1], "help")) {
        face_usage(stdout);
        return CLI_OK;
    }
    for (size_t i = 0; i < sizeof SUBS / sizeof *SUBS; i++)
        if (!strcmp(argv[1], SUBS[i].name)) return SUBS[i].run(argc - 1, argv + 1);
    fprintf(stderr, "ember face: unknown command '%s' (see 'ember face --help')\n", argv[1]);
    return CLI_EXIT_USAGE;
}
