/* Face recognition app: images, detection decoders, alignment, embeddings, an SQLite gallery, drawing.
 *
 * Usage (the whole pipeline, as `ember face identify` does it):
 *
 *     ember_face_image img = {0};
 *     if (ember_face_image_load("group.jpg", &img) != EMBER_OK) { puts(ember_last_error()); return 2; }
 *     ember_face_gallery *g = NULL;
 *     ember_face_gallery_open("people.db", EMBER_FACE_GALLERY_CREATE, &g);
 *     // ... detect faces (ember_face_detector), align each to 112x112 (ember_face_align),
 *     // embed it (ember_face_embedder; ember_face_pipeline_embed_all does every face of a photo at once, in
 *     // parallel), then look the embedding up:
 *     ember_face_match m[3];
 *     int n = 0;
 *     ember_face_gallery_search(g, "mobilefacenet", emb, 128, m, 3, &n);
 *     ember_face_gallery_close(g);
 *     ember_face_image_free(&img);
 *
 * Built on Ember's public API only (the headers in include/ember/) plus libjpeg, libpng and SQLite. Nothing here opens a
 * socket. Fallible calls return ember_status and leave a message in ember_last_error().
 */
#ifndef EMBER_APPS_FACE_H
#define EMBER_APPS_FACE_H

#include "ember/ember.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* --- images: 8-bit RGB, row-major, no padding ------------------------------------------------------------ */
typedef struct ember_face_image {
    int w, h;
    uint8_t *rgb; /* w*h*3 bytes, owned (free with ember_face_image_free) */
} ember_face_image;

/* Largest image accepted, in pixels (guards against decompression bombs). */
#define EMBER_FACE_MAX_PIXELS (1 << 27)

/* Allocate a w x h image filled with zero (black). Free with ember_face_image_free. */
ember_status ember_face_image_alloc(int w, int h, ember_face_image *out);
void ember_face_image_free(ember_face_image *img);
/* Decode JPEG or PNG (chosen by the first bytes) from memory; `name` labels error messages. JPEGs are turned
 * upright by their EXIF orientation. *out is allocated (free with ember_face_image_free). */
ember_status ember_face_image_decode(const uint8_t *data, size_t size, const char *name, ember_face_image *out);
/* Read and decode a file. */
ember_status ember_face_image_load(const char *path, ember_face_image *out);
/* Encode to JPEG (quality 1..100) or PNG. *out is allocated with ember_malloc; the caller frees it. */
ember_status ember_face_image_encode_jpeg(const ember_face_image *img, int quality, uint8_t **out, size_t *size);
ember_status ember_face_image_encode_png(const ember_face_image *img, uint8_t **out, size_t *size);
/* Read a whole file into memory. *out is ember_malloc'd (the caller frees it). */
ember_status ember_face_file_read(const char *path, uint8_t **out, size_t *size);
/* Write PNG when the path ends in .png, JPEG (quality 90) otherwise. */
ember_status ember_face_image_save(const char *path, const ember_face_image *img);

/* EXIF orientation (1..8) of a JPEG's APP1 Exif IFD0; 1 when absent or unreadable. */
int ember_face_exif_orientation(const uint8_t *jpeg, size_t size);
/* Turn pixels stored with EXIF orientation `o` upright (in place: the buffer is replaced). */
ember_status ember_face_image_orient(ember_face_image *img, int o);

/* floor for the finite, int-range coordinates the warps compute (floorf is a libm call without SSE4.1). */
static inline int ember_face_floor(float v) {
    int i = (int)v;
    return (float)i > v ? i - 1 : i;
}

/* Bilinear resampling through an affine map from destination to source pixel coordinates:
 * src = (m[0]*x + m[1]*y + m[2], m[3]*x + m[4]*y + m[5]). Pixels that fall outside are `border` (0..255).
 * dst must be allocated (its size is the output size). Maps without rotation take ember_face_warp_axis. */
void ember_face_warp(const ember_face_image *src, const float m[6], uint8_t border, ember_face_image *dst);
/* The same pixel by pixel, the definition the fast paths follow; `replicate` clamps outside coordinates to the
 * edge instead of using the border colour (OpenCV's BORDER_REPLICATE). */
void ember_face_warp_reference(const ember_face_image *src, const float m[6], uint8_t border, bool replicate,
                               ember_face_image *dst);
/* ember_face_warp_reference for an axis-aligned map (m[1] == m[3] == 0, all finite; else EMBER_ERR_ARG), done
 * separably: each source row is filtered horizontally once, output rows blend two of them, in bands of rows on
 * `pool` (borrowed; NULL or a small output: the calling thread). Bytes may differ from the reference by 1 (the
 * sum is taken in another order). EMBER_ERR_NOMEM when its tables do not fit. */
ember_status ember_face_warp_axis(const ember_face_image *src, const float m[6], uint8_t border, bool replicate,
                                  ember_pool *pool, ember_face_image *dst);
/* Resize to w x h (no aspect keep), pixel centres aligned like OpenCV's INTER_LINEAR; area-averages first
 * when shrinking by 2x or more. *out is allocated. The _pool form runs on `pool` (borrowed, may be NULL). */
ember_status ember_face_image_resize(const ember_face_image *src, int w, int h, ember_face_image *out);
ember_status ember_face_image_resize_pool(const ember_face_image *src, int w, int h, ember_pool *pool,
                                          ember_face_image *out);

/* Image -> NCHW float32 planes: out[c][y][x] = (pixel[c'] - mean[c]) / std[c], where c' is c for RGB order
 * and 2-c for BGR. out holds 3*w*h floats. The _pool form runs big images on `pool` (borrowed, may be NULL). */
void ember_face_image_to_planes(const ember_face_image *img, bool bgr, const float mean[3], const float std[3],
                                float *out);
void ember_face_image_to_planes_pool(const ember_face_image *img, bool bgr, const float mean[3], const float std[3],
                                     ember_pool *pool, float *out);
/* Resize and convert in one pass, what a detector's input needs: ember_face_image_resize to w x h, placed at the
 * top left of a canvas_w x canvas_h black canvas, then ember_face_image_to_planes of the canvas. out holds
 * 3 * canvas_w * canvas_h floats. EMBER_ERR_ARG when w x h does not fit the canvas. */
ember_status ember_face_image_resize_planes(const ember_face_image *src, int w, int h, int canvas_w, int canvas_h,
                                            bool bgr, const float mean[3], const float std[3], ember_pool *pool,
                                            float *out);

/* --- geometry ------------------------------------------------------------------------------------------- */
/* Least-squares similarity transform (rotation, uniform scale, translation; Umeyama 1991) taking the n points
 * src[2i],src[2i+1] onto dst. m is the 2x3 matrix: dst ~ (m[0]x + m[1]y + m[2], m[3]x + m[4]y + m[5]).
 * EMBER_ERR_ARG when the source points are degenerate (all equal). */
ember_status ember_face_similarity(const float *src, const float *dst, int n, float m[6]);
/* Inverse of a 2x3 affine map. EMBER_ERR_ARG when singular. */
ember_status ember_face_affine_invert(const float m[6], float inv[6]);

/* The ArcFace 112x112 template: left eye, right eye, nose tip, left and right mouth corners (x, y). */
extern const float ember_face_arcface_template[10];
/* Crop the face with five landmarks (image coordinates) to size x size aligned on the ArcFace template (scaled
 * by size/112). *out is allocated. */
ember_status ember_face_align(const ember_face_image *img, const float landmarks[10], int size,
                              ember_face_image *out);

/* --- detections ----------------------------------------------------------------------------------------- */
typedef struct ember_face_det {
    float x0, y0, x1, y1; /* box corners, image pixels */
    float score;          /* 0..1 */
    float lm[10];         /* eyes, nose, mouth corners (x, y) when has_lm */
    bool has_lm;
} ember_face_det;

/* A growable list of detections. */
typedef struct ember_face_dets {
    ember_face_det *v; /* owned */
    int n, cap;
} ember_face_dets;
ember_status ember_face_dets_push(ember_face_dets *d, const ember_face_det *x);
void ember_face_dets_free(ember_face_dets *d);

/* Intersection over union of two boxes. */
float ember_face_iou(const ember_face_det *a, const ember_face_det *b);
/* Sort by score (highest first) and drop every box overlapping a better one by more than `iou`; keep at most
 * `top_k` (0 = all). */
void ember_face_nms(ember_face_dets *d, float iou, int top_k);

/* A view of one raw model output: float32 data and its shape. */
typedef struct ember_face_blob {
    const float *data;
    int64_t count; /* elements */
} ember_face_blob;

/* YuNet (libfacedetection 2023): outputs cls/obj/bbox/kps at strides 8, 16, 32, in that order in each array
 * (cls[i], obj[i]: rows*cols values, bbox[i]: 4 per cell, kps[i]: 10 per cell). The network saw an in_w x in_h
 * input; sx, sy scale network pixels back to image pixels. Adds the faces scoring >= thr to *out. */
ember_status ember_face_decode_yunet(const ember_face_blob cls[3], const ember_face_blob obj[3],
                                     const ember_face_blob bbox[3], const ember_face_blob kps[3], int in_w,
                                     int in_h, float sx, float sy, float thr, ember_face_dets *out);

/* UltraFace (and faceplugin fr_detect, the same network family): scores [N,2] (softmaxed; column 1 = face),
 * boxes [N,4]. `raw` boxes are SSD regressions against UltraFace's priors (the `_simplified` exports);
 * otherwise they are corners normalised to 0..1. The input was in_w x in_h; the image is img_w x img_h. */
ember_status ember_face_decode_ultraface(const ember_face_blob *scores, const ember_face_blob *boxes, bool raw,
                                         int in_w, int in_h, int img_w, int img_h, float thr,
                                         ember_face_dets *out);
/* Number of UltraFace priors for an input size (4420 for 320x240). */
int64_t ember_face_ultraface_priors(int in_w, int in_h);

/* Landmarks from faceplugin fr_landmark's 68 points (x, y normalised to the crop box) -> five points in image
 * coordinates for the crop box (x0, y0, w, h). */
void ember_face_landmarks68_to5(const float *pts68, float x0, float y0, float w, float h, float lm[10]);

/* --- embeddings ----------------------------------------------------------------------------------------- */
/* Scale v to unit length (left as is when it is all zero). */
void ember_face_l2_normalize(float *v, int n);
/* Cosine similarity of two vectors. */
float ember_face_cosine(const float *a, const float *b, int n);

/* --- SHA-256 -------------------------------------------------------------------------------------------- */
void ember_face_sha256(const void *data, size_t size, uint8_t digest[32]);
/* Lower-case hex of a digest into hex[65]. */
void ember_face_sha256_hex(const uint8_t digest[32], char hex[65]);

/* --- gallery: people and their embeddings in SQLite ----------------------------------------------------- */
typedef struct ember_face_gallery ember_face_gallery;

enum { EMBER_FACE_GALLERY_CREATE = 1 }; /* create the file (mode 0600) when it does not exist */

/* Open a gallery file (WAL mode). Close with ember_face_gallery_close. */
ember_status ember_face_gallery_open(const char *path, int flags, ember_face_gallery **out);
void ember_face_gallery_close(ember_face_gallery *g);

/* One embedding to enroll. */
typedef struct ember_face_sample {
    const float *emb;     /* dim floats, L2-normalised */
    const char *source;   /* file it came from (may be NULL) */
    const uint8_t *sha256; /* 32 bytes: hash of that file (may be NULL) */
} ember_face_sample;

/* Add a person (created if new) with n embeddings from `embedder` (dim floats each), all in one transaction:
 * either everything is stored or nothing. Refuses (EMBER_ERR_ARG) an embedder other than the one the gallery
 * already holds. Samples whose source hash is already stored for this person are skipped; *added counts the
 * others (may be NULL). */
ember_status ember_face_gallery_enroll(ember_face_gallery *g, const char *name, const char *embedder, int dim,
                                       const ember_face_sample *s, int n, int *added);
/* The embedder the gallery holds (NULL when empty). Owned by g, valid until the next call on g. */
const char *ember_face_gallery_embedder(ember_face_gallery *g);

/* One person as listed. */
typedef struct ember_face_person {
    char name[128];
    int embeddings;
    int64_t created, updated; /* Unix seconds */
} ember_face_person;
/* All people, sorted by name. *out is allocated (ember_free); *n counts them. */
ember_status ember_face_gallery_list(ember_face_gallery *g, ember_face_person **out, int *n);
/* Delete a person and their embeddings, then vacuum so nothing remains in the file. EMBER_ERR_ARG when absent. */
ember_status ember_face_gallery_remove(ember_face_gallery *g, const char *name);

typedef struct ember_face_match {
    char name[128];
    float score; /* best cosine similarity among the person's embeddings */
} ember_face_match;
/* The k people most similar to emb (best first; one entry per person). Refuses an embedder or dim other than
 * the gallery's. *n is how many were found (<= k). */
ember_status ember_face_gallery_search(ember_face_gallery *g, const char *embedder, const float *emb, int dim,
                                       ember_face_match *out, int k, int *n);

/* --- drawing -------------------------------------------------------------------------------------------- */
typedef struct ember_face_rgb {
    uint8_t r, g, b;
} ember_face_rgb;
void ember_face_draw_rect(ember_face_image *img, int x0, int y0, int x1, int y1, int thick, ember_face_rgb c);
void ember_face_fill_rect(ember_face_image *img, int x0, int y0, int x1, int y1, ember_face_rgb c);
void ember_face_draw_dot(ember_face_image *img, int x, int y, int radius, ember_face_rgb c);
/* Text in the built-in 5x7 font (printable ASCII; any other character, UTF-8 included, draws as one ?), each dot `scale` pixels square;
 * (x, y) is the top-left corner. Returns the width drawn. */
int ember_face_draw_text(ember_face_image *img, int x, int y, int scale, const char *text, ember_face_rgb c);
int ember_face_text_width(const char *text, int scale);
/* A face: box, landmarks, and a label on a filled tag above the box (or inside when at the top edge). */
void ember_face_draw_face(ember_face_image *img, const ember_face_det *d, const char *label, ember_face_rgb c);

/* --- models: detector, landmarker, embedder (ONNX through Ember's public API) ------------------------- */
typedef enum ember_face_detector_kind {
    EMBER_FACE_DET_YUNET = 1,     /* libfacedetection YuNet: boxes + five landmarks; fixed or dynamic input */
    EMBER_FACE_DET_ULTRAFACE = 2, /* UltraFace RFB/slim and faceplugin fr_detect: boxes only */
} ember_face_detector_kind;

typedef struct ember_face_detector ember_face_detector;
/* Open a detector model; its family is recognised from its outputs (cls_8... for YuNet; scores + boxes for
 * UltraFace, whose boxes are prior regressions when the graph has no decoding step). `pool` (borrowed, may be
 * NULL for one thread) runs the model. */
ember_status ember_face_detector_open(const char *path, ember_pool *pool, ember_face_detector **out);
void ember_face_detector_close(ember_face_detector *d);
ember_face_detector_kind ember_face_detector_family(const ember_face_detector *d);
/* The family's default score threshold (YuNet 0.6, UltraFace 0.7, fr_detect 0.65). */
float ember_face_detector_default_threshold(const ember_face_detector *d);
/* Largest side the image is scaled to for a dynamic-input model (default 640). */
void ember_face_detector_set_max_side(ember_face_detector *d, int max_side);
/* Detect faces scoring >= thr (a negative thr means the default), after NMS, best first, into *out (cleared
 * first). Boxes and landmarks are in image pixels. */
ember_status ember_face_detect(ember_face_detector *d, const ember_face_image *img, float thr, ember_face_dets *out);
/* Run the model on a prepared NCHW input and return its raw outputs in model output order (for golden tests);
 * outs[i] are new tensors the caller destroys. */
ember_status ember_face_detector_run_raw(ember_face_detector *d, ember_tensor *input, ember_tensor **outs, int nouts);

/* faceplugin fr_landmark: 68 points from a 64x64 grey crop of the box, reduced to the five alignment points. */
typedef struct ember_face_landmarker ember_face_landmarker;
ember_status ember_face_landmarker_open(const char *path, ember_pool *pool, ember_face_landmarker **out);
void ember_face_landmarker_close(ember_face_landmarker *l);
/* Fill d->lm (and set d->has_lm) from the box d. */
ember_status ember_face_landmarks(ember_face_landmarker *l, const ember_face_image *img, ember_face_det *d);

/* How an embedder wants its 112x112-style input: the aligned crop's size, per-channel mean and std, order. */
typedef struct ember_face_embedder_desc {
    char name[64]; /* stored with every embedding in a gallery: models differ, so must their names */
    int size;      /* 0: from the model's input shape */
    float mean[3], std[3];
    bool bgr;
} ember_face_embedder_desc;
/* The descriptor for a model file: built in for mobilefacenet*.onnx and fr_feature*.onnx; otherwise an
 * ArcFace-style default (RGB, (x-127.5)/127.5, name = file name without .onnx) which a sidecar text file
 * MODEL.face (lines name=..., mean=R,G,B, std=R,G,B, order=rgb|bgr, size=N) overrides. */
ember_status ember_face_embedder_describe(const char *path, ember_face_embedder_desc *desc);

typedef struct ember_face_embedder ember_face_embedder;
/* desc may be NULL (ember_face_embedder_describe is used). */
ember_status ember_face_embedder_open(const char *path, const ember_face_embedder_desc *desc, ember_pool *pool,
                                      ember_face_embedder **out);
void ember_face_embedder_close(ember_face_embedder *e);
const ember_face_embedder_desc *ember_face_embedder_info(const ember_face_embedder *e);
int ember_face_embedder_dim(const ember_face_embedder *e);
int ember_face_embedder_size(const ember_face_embedder *e); /* aligned crop side in pixels */
/* Embed an aligned crop (size x size); emb receives dim floats, L2-normalised. */
ember_status ember_face_embed(ember_face_embedder *e, const ember_face_image *aligned, float *emb);

/* --- the pipeline: detect -> (landmarks) -> align -> embed ---------------------------------------------- */
typedef struct ember_face_pipeline_config {
    const char *detector, *landmarker, *embedder; /* model paths; landmarker only for detectors without
                                                     landmarks; embedder may be NULL for detection only */
    int threads;                                  /* 0: one per core */
    float threshold;                              /* detection score; < 0: the detector's default */
} ember_face_pipeline_config;

typedef struct ember_face_pipeline ember_face_pipeline;
ember_status ember_face_pipeline_open(const ember_face_pipeline_config *cfg, ember_face_pipeline **out);
void ember_face_pipeline_close(ember_face_pipeline *p);
ember_face_embedder *ember_face_pipeline_embedder(ember_face_pipeline *p); /* NULL when not opened with one */
/* Faces with landmarks, best first. A photo that is all face (a tight crop, where detectors see no face) is
 * tried again inside a border of a quarter of its size. */
ember_status ember_face_pipeline_detect(ember_face_pipeline *p, const ember_face_image *img, ember_face_dets *out);
/* Align face d and embed it into emb (ember_face_embedder_dim floats). */
ember_status ember_face_pipeline_embed(ember_face_pipeline *p, const ember_face_image *img, const ember_face_det *d,
                                       float *emb);
/* Align and embed every face of dets into embs (dets->n x ember_face_embedder_dim floats, face i at i * dim).
 * With a pool of two or more threads and two or more faces, faces run in parallel, one per thread, each on its
 * own single-threaded copy of the embedder; otherwise one after the other like ember_face_pipeline_embed (the
 * embedder then uses all threads inside each face). The results are the same either way (within rounding).
 * Memory: the copies are opened on first use, up to min(faces, threads) - 1 of them, and kept until
 * ember_face_pipeline_close; each holds one more copy of the embedder's weights (the model file is mapped
 * once per copy; packed weights and activations are per copy). On failure (a face without landmarks, ...)
 * the first failing face's error is returned, its message naming the face index; embs is then unspecified. */
ember_status ember_face_pipeline_embed_all(ember_face_pipeline *p, const ember_face_image *img,
                                           const ember_face_dets *dets, float *embs);

/* --- model lookup ------------------------------------------------------------------------------------- */
/* Resolve a model given by name ("yunet", "ultraface", "ultraface-slim", "fr_detect", "fr_landmark",
 * "mobilefacenet", "fr_feature") or by path into out (cap bytes). Names are looked for in, in order:
 * $EMBER_FACE_MODELS, `models/face` next to the executable, `../share/ember/models/face` from it, the
 * repository's ../shared/models/face (from the executable's build folder, then from the current folder);
 * in each directory both under the family's sub-folder and directly. EMBER_ERR_IO naming the places looked
 * when it is nowhere. `exe` is argv[0]'s resolved path (may be NULL). */
ember_status ember_face_model_find(const char *name_or_path, const char *exe, char *out, size_t cap);
/* The first existing of a list of names (default choices), or EMBER_ERR_IO. */
ember_status ember_face_model_find_first(const char *const *names, int n, const char *exe, char *out, size_t cap,
                                         const char **chosen);

/* --- V4L2 camera ---------------------------------------------------------------------------------------- */
typedef struct ember_face_camera ember_face_camera;
/* Open a V4L2 capture device, asking for MJPEG (else YUYV) at about w x h. */
ember_status ember_face_camera_open(const char *dev, int w, int h, ember_face_camera **out);
void ember_face_camera_close(ember_face_camera *c);
/* Next frame as RGB (*out allocated; free with ember_face_image_free). */
ember_status ember_face_camera_read(ember_face_camera *c, ember_face_image *out);
/* YUYV (4:2:2) -> RGB8, BT.601 limited range. */
void ember_face_yuyv_to_rgb(const uint8_t *yuyv, int w, int h, size_t stride, uint8_t *rgb);

#endif
