/* Where face models are found: names ("yunet", "mobilefacenet", ...) map to file names, looked for in a few
 * directories (see ember_face_model_find in face.h). */
#include "apps/face/face.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

typedef struct known_model {
    const char *name, *sub, *files[4];
} known_model;

static const known_model KNOWN[] = {
    {"yunet", "yunet", {"yunet_s_dynamic.onnx", "yunet_n_dynamic.onnx", "face_detection_yunet_2023mar.onnx",
                        "yunet_s_640_640.onnx"}},
    {"ultraface", "ultraface", {"version-RFB-320.onnx", "version-RFB-320_simplified.onnx"}},
    {"ultraface-slim", "ultraface", {"version-slim-320.onnx", "version-slim-320_simplified.onnx"}},
    {"fr_detect", "faceplugin", {"fr_detect.onnx"}},
    {"fr_landmark", "faceplugin", {"fr_landmark.onnx"}},
    {"mobilefacenet", "mobilefacenet", {"mobilefacenet.onnx"}},
    {"fr_feature", "faceplugin", {"fr_feature.onnx"}},
};

static bool is_file(const char *p) {
    struct stat st;
    return stat(p, &st) == 0 && S_ISREG(st.st_mode);
}

/* The search directories, in order; returns how many (each up to 1024 bytes in dirs). */
static int search_dirs(const char *exe, char dirs[][1024]) {
    int n = 0;
    const char *env = getenv("EMBER_FACE_MODELS");
    if (env && *env) snprintf(dirs[n++], 1024, "%s", env);
    if (exe && *exe) {
        char d[900];
        snprintf(d, sizeof d, "%s", exe);
        char *slash = strrchr(d, '/');
        if (slash) *slash = 0;
        else snprintf(d, sizeof d, ".");
        snprintf(dirs[n++], 1024, "%s/models/face", d);
        snprintf(dirs[n++], 1024, "%s/../share/ember/models/face", d);
        snprintf(dirs[n++], 1024, "%s/../../shared/models/face", d);    /* build/ember */
        snprintf(dirs[n++], 1024, "%s/../../../shared/models/face", d); /* build/<name>/ember */
    }
    snprintf(dirs[n++], 1024, "../shared/models/face");
    return n;
}

static bool find_known(const known_model *k, const char *exe, char *out, size_t cap) {
    char dirs[8][1024];
    int nd = search_dirs(exe, dirs);
    for (int i = 0; i < nd; i++)
        for (int f = 0; f < 4 && k->files[f]; f++) {
            snprintf(out, cap, "%s/%s/%s", dirs[i], k->sub, k->files[f]);
            if (is_file(out)) return true;
            snprintf(out, cap, "%s/%s", dirs[i], k->files[f]);
            if (is_file(out)) return true;
        }
    return false;
}

static const known_model *known(const char *name) {
    for (size_t i = 0; i < sizeof KNOWN / sizeof *KNOWN; i++)
        if (!strcmp(KNOWN[i].name, name)) return &KNOWN[i];
    return NULL;
}

ember_status ember_face_model_find(const char *name, const char *exe, char *out, size_t cap) {
    const known_model *k = known(name);
    if (!k || strchr(name, '/')) {
        if (!is_file(name))
            return ember_fail(EMBER_ERR_IO, "face model '%s': no such file%s", name,
                              k ? "" : " (known names: yunet, ultraface, ultraface-slim, fr_detect, fr_landmark, "
                                       "mobilefacenet, fr_feature)");
        snprintf(out, cap, "%s", name);
        return EMBER_OK;
    }
    if (find_known(k, exe, out, cap)) return EMBER_OK;
    char dirs[8][1024], list[8 * 1030] = "";
    int nd = search_dirs(exe, dirs);
    for (int i = 0; i < nd; i++) {
        size_t l = strlen(list);
        snprintf(list + l, sizeof list - l, "%s%s", i ? ", " : "", dirs[i]);
    }
    return ember_fail(EMBER_ERR_IO, "face model '%s' (%s/%s) not found in: %s; set EMBER_FACE_MODELS to a folder "
                                    "holding it or give a path",
                      name, k->sub, k->files[0], list);
}

ember_status ember_face_model_find_first(const char *const *names, int n, const char *exe, char *out, size_t cap,
                                         const char **chosen) {
    for (int i = 0; i < n; i++) {
        const known_model *k = known(names[i]);
        if (k && find_known(k, exe, out, cap)) {
            if (chosen) *chosen = names[i];
            return EMBER_OK;
        }
    }
    return ember_face_model_find(names[0], exe, out, cap);
}
