/* Face app images and geometry: JPEG/PNG decode and encode, EXIF orientation, corrupt and truncated files,
 * resizing and warps, the similarity transform and ArcFace alignment. */
#include "apps/face/face.h"
#include "check.h"

#include <math.h>
#include <stdlib.h>

static const uint8_t RED[3] = {220, 30, 30}, GREEN[3] = {30, 200, 40}, BLUE[3] = {20, 40, 210},
                     WHITE[3] = {240, 240, 240};

/* w x h image with four coloured quadrants: top-left red, top-right green, bottom-left blue, bottom-right white. */
static ember_face_image quadrants(int w, int h) {
    ember_face_image img;
    CHECK(ember_face_image_alloc(w, h, &img) == EMBER_OK);
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            const uint8_t *c = y < h / 2 ? (x < w / 2 ? RED : GREEN) : (x < w / 2 ? BLUE : WHITE);
            memcpy(img.rgb + ((size_t)y * w + x) * 3, c, 3);
        }
    return img;
}

static bool near_color(const uint8_t *p, const uint8_t *c, int tol) {
    for (int k = 0; k < 3; k++)
        if (abs((int)p[k] - (int)c[k]) > tol) return false;
    return true;
}

static const uint8_t *px(const ember_face_image *img, int x, int y) { return img->rgb + ((size_t)y * img->w + x) * 3; }

static void test_png_roundtrip(void) {
    ember_face_image img;
    CHECK(ember_face_image_alloc(37, 19, &img) == EMBER_OK);
    for (size_t i = 0; i < (size_t)37 * 19 * 3; i++) img.rgb[i] = (uint8_t)(check_rand() & 255);
    uint8_t *png;
    size_t n;
    CHECK(ember_face_image_encode_png(&img, &png, &n) == EMBER_OK);
    ember_face_image back;
    CHECK(ember_face_image_decode(png, n, "t.png", &back) == EMBER_OK);
    CHECK_EQ(back.w, 37);
    CHECK_EQ(back.h, 19);
    CHECK(back.rgb && !memcmp(back.rgb, img.rgb, (size_t)37 * 19 * 3));
    /* Every truncation is refused with a message, never a crash. */
    for (size_t cut = 0; cut < n; cut += 1 + cut / 8) {
        ember_face_image t;
        CHECK(ember_face_image_decode(png, cut, "cut.png", &t) == EMBER_ERR_FORMAT);
        CHECK(t.rgb == NULL);
    }
    CHECK(strstr(ember_last_error(), "cut.png") != NULL);
    ember_free(png);
    ember_face_image_free(&back);
    ember_face_image_free(&img);
}

static void test_jpeg_roundtrip(void) {
    ember_face_image img = quadrants(48, 32);
    uint8_t *jpg;
    size_t n;
    CHECK(ember_face_image_encode_jpeg(&img, 95, &jpg, &n) == EMBER_OK);
    ember_face_image back;
    CHECK(ember_face_image_decode(jpg, n, "t.jpg", &back) == EMBER_OK);
    CHECK_EQ(back.w, 48);
    CHECK_EQ(back.h, 32);
    CHECK(near_color(px(&back, 5, 5), RED, 12));
    CHECK(near_color(px(&back, 42, 28), WHITE, 12));
    ember_face_image_free(&back);
    /* Truncated in the headers or in the scan: refused as truncated (libjpeg would pad the scan with grey). */
    for (size_t cut = 4; cut < n - 1; cut += 1 + cut / 16) {
        CHECK(ember_face_image_decode(jpg, cut, "cut.jpg", &back) == EMBER_ERR_FORMAT);
        CHECK_MSG(strstr(ember_last_error(), "truncated") != NULL, "%zu of %zu: %s", cut, n, ember_last_error());
    }
    CHECK(ember_face_image_decode(jpg, 40, "head.jpg", &back) == EMBER_ERR_FORMAT);
    /* Random corruption anywhere: an error or an image, never a crash. */
    uint8_t *bad = ember_malloc(n);
    for (int trial = 0; trial < 200; trial++) {
        memcpy(bad, jpg, n);
        for (int k = 0; k < 4; k++) bad[2 + check_rand() % (n - 2)] = (uint8_t)check_rand();
        ember_status s = ember_face_image_decode(bad, n, "bad.jpg", &back);
        CHECK(s == EMBER_OK || s == EMBER_ERR_FORMAT || s == EMBER_ERR_ARG);
        ember_face_image_free(&back);
    }
    ember_free(bad);
    ember_free(jpg);
    ember_face_image_free(&img);
}

static void test_not_an_image(void) {
    ember_face_image img;
    const uint8_t text[] = "hello, world";
    CHECK(ember_face_image_decode(text, sizeof text, "x.txt", &img) == EMBER_ERR_FORMAT);
    CHECK(strstr(ember_last_error(), "not a JPEG or PNG") != NULL);
    CHECK(ember_face_image_load("/nonexistent/x.jpg", &img) == EMBER_ERR_IO);
}

/* A JPEG with an APP1 Exif segment (IFD0 holding only the orientation) right after SOI. */
static uint8_t *with_exif(const uint8_t *jpg, size_t n, int orientation, bool little, size_t *out_n) {
    uint8_t tiff[26] = {0};
    if (little) {
        memcpy(tiff, "II\x2a\x00\x08\x00\x00\x00", 8);
        uint8_t ifd[18] = {1, 0, 0x12, 0x01, 3, 0, 1, 0, 0, 0, (uint8_t)orientation, 0, 0, 0, 0, 0, 0, 0};
        memcpy(tiff + 8, ifd, 18);
    } else {
        memcpy(tiff, "MM\x00\x2a\x00\x00\x00\x08", 8);
        uint8_t ifd[18] = {0, 1, 0x01, 0x12, 0, 3, 0, 0, 0, 1, 0, (uint8_t)orientation, 0, 0, 0, 0, 0, 0};
        memcpy(tiff + 8, ifd, 18);
    }
    size_t seg = 2 + 6 + sizeof tiff;
    uint8_t *out = ember_malloc(n + 2 + seg);
    out[0] = 0xFF, out[1] = 0xD8, out[2] = 0xFF, out[3] = 0xE1;
    out[4] = (uint8_t)(seg >> 8), out[5] = (uint8_t)seg;
    memcpy(out + 6, "Exif\0\0", 6);
    memcpy(out + 12, tiff, sizeof tiff);
    memcpy(out + 12 + sizeof tiff, jpg + 2, n - 2);
    *out_n = n + 2 + seg;
    return out;
}

static void test_exif_orientation(void) {
    ember_face_image img = quadrants(48, 32);
    uint8_t *jpg;
    size_t n;
    CHECK(ember_face_image_encode_jpeg(&img, 95, &jpg, &n) == EMBER_OK);
    CHECK_EQ(ember_face_exif_orientation(jpg, n), 1);
    /* Expected colour of the output's top-left and top-right corners for orientations 1..8. */
    const uint8_t *tl[9] = {0, RED, GREEN, WHITE, BLUE, RED, BLUE, WHITE, GREEN};
    const uint8_t *tr[9] = {0, GREEN, RED, BLUE, WHITE, BLUE, RED, GREEN, WHITE};
    for (int o = 1; o <= 8; o++)
        for (int le = 0; le < 2; le++) {
            size_t m;
            uint8_t *e = with_exif(jpg, n, o, le, &m);
            CHECK_EQ(ember_face_exif_orientation(e, m), o);
            ember_face_image out;
            CHECK(ember_face_image_decode(e, m, "exif.jpg", &out) == EMBER_OK);
            CHECK_EQ(out.w, o >= 5 ? 32 : 48);
            CHECK_EQ(out.h, o >= 5 ? 48 : 32);
            CHECK_MSG(near_color(px(&out, 2, 2), tl[o], 14), "orientation %d top-left", o);
            CHECK_MSG(near_color(px(&out, out.w - 3, 2), tr[o], 14), "orientation %d top-right", o);
            ember_face_image_free(&out);
            /* A truncated Exif segment is ignored, not trusted. */
            CHECK_EQ(ember_face_exif_orientation(e, 20), 1);
            ember_free(e);
        }
    ember_free(jpg);
    ember_face_image_free(&img);
}

static void test_real_files(void) {
    char buf[512];
    SKIP_IF(!check_shared("data/faces/faceapi_bbt/bbt1.jpg", buf, sizeof buf), "../shared is absent");
    ember_face_image img;
    CHECK(ember_face_image_load(buf, &img) == EMBER_OK);
    CHECK(img.w > 100 && img.h > 100);
    ember_face_image_free(&img);
    CHECK(check_shared("data/faces/faceapi_bbt/amy/amy1.png", buf, sizeof buf) != NULL);
    CHECK(ember_face_image_load(buf, &img) == EMBER_OK);
    CHECK(img.w > 20 && img.h > 20);
    ember_face_image_free(&img);
}

static void test_resize(void) {
    ember_face_image img = quadrants(64, 48), out;
    CHECK(ember_face_image_resize(&img, 16, 12, &out) == EMBER_OK);
    CHECK(near_color(px(&out, 0, 0), RED, 0));
    CHECK(near_color(px(&out, 15, 11), WHITE, 0));
    CHECK(near_color(px(&out, 15, 0), GREEN, 0));
    ember_face_image_free(&out);
    CHECK(ember_face_image_resize(&img, 200, 150, &out) == EMBER_OK);
    CHECK(near_color(px(&out, 0, 0), RED, 0));
    CHECK(near_color(px(&out, 199, 149), WHITE, 0));
    ember_face_image_free(&out);
    /* A uniform image stays uniform through any resize (edges replicate, no dark border). */
    memset(img.rgb, 77, (size_t)64 * 48 * 3);
    CHECK(ember_face_image_resize(&img, 23, 31, &out) == EMBER_OK);
    bool uniform = true;
    for (size_t i = 0; i < (size_t)23 * 31 * 3; i++) uniform &= out.rgb[i] == 77;
    CHECK(uniform);
    ember_face_image_free(&out);
    ember_face_image_free(&img);
    CHECK(ember_face_image_alloc(0, 10, &out) == EMBER_ERR_ARG);
    CHECK(ember_face_image_alloc(1 << 16, 1 << 16, &out) == EMBER_ERR_ARG);
}

static void test_planes(void) {
    ember_face_image img;
    CHECK(ember_face_image_alloc(2, 1, &img) == EMBER_OK);
    uint8_t v[6] = {10, 20, 30, 40, 50, 60};
    memcpy(img.rgb, v, 6);
    float out[6], mean[3] = {0, 10, 20}, sd[3] = {1, 2, 4};
    ember_face_image_to_planes(&img, false, mean, sd, out);
    CHECK_NEAR(out[0], 10, 1e-6);
    CHECK_NEAR(out[1], 40, 1e-6);
    CHECK_NEAR(out[2], 5, 1e-6);
    CHECK_NEAR(out[5], 10, 1e-6);
    ember_face_image_to_planes(&img, true, mean, sd, out); /* BGR: plane 0 is blue */
    CHECK_NEAR(out[0], 30, 1e-6);
    CHECK_NEAR(out[4], -2.5, 1e-6); /* red plane, (10 - 20) / 4 */
    ember_face_image_free(&img);
}

static ember_face_image random_image(int w, int h) {
    ember_face_image img;
    CHECK(ember_face_image_alloc(w, h, &img) == EMBER_OK);
    /* smooth ramps plus noise: both flat areas and sharp steps */
    int kind = (int)(check_rand() % 3);
    for (size_t i = 0; i < (size_t)w * h * 3; i++)
        img.rgb[i] = kind == 0 ? (uint8_t)(check_rand() & 255)
                     : kind == 1 ? (uint8_t)(i * 7 + (check_rand() & 15))
                                 : (uint8_t)((check_rand() & 1) ? 255 : 0);
    return img;
}

/* The separable axis-aligned warp against the per-pixel reference: any byte within 1 (rounding order), and
 * almost all equal. Random sizes (up and down scaling, odd sizes), offsets that leave part of the output
 * outside the source (letterbox borders), flips, border colours, replicate; a pool for the bigger ones. */
static void test_warp_axis_differential(void) {
    ember_pool *pool = NULL;
    CHECK(ember_pool_create(3, &pool) == EMBER_OK);
    bool slow = check_slow();
    int cases = slow ? 40 : 300;
    long long bytes = 0, differ = 0;
    int worst = 0;
    for (int t = 0; t < cases; t++) {
        bool big = t % 25 == 0; /* over the pool's threshold */
        int sw = 1 + (int)(check_rand() % (big ? 400 : 70)), sh = 1 + (int)(check_rand() % (big ? 300 : 70));
        int dw = 1 + (int)(check_rand() % (big ? 420 : 90)), dh = 1 + (int)(check_rand() % (big ? 330 : 90));
        if (big) dw = dw < 260 ? 260 : dw, dh = dh < 260 ? 260 : dh;
        ember_face_image src = random_image(sw, sh), ref, fast;
        CHECK(ember_face_image_alloc(dw, dh, &ref) == EMBER_OK);
        CHECK(ember_face_image_alloc(dw, dh, &fast) == EMBER_OK);
        float m[6] = {0};
        int mode = (int)(check_rand() % 4);
        if (mode == 0) { /* a resize map */
            m[0] = (float)sw / dw, m[4] = (float)sh / dh;
            m[2] = 0.5f * m[0] - 0.5f, m[5] = 0.5f * m[4] - 0.5f;
        } else { /* any scale, offsets reaching outside, sometimes a flip */
            m[0] = check_randf(0.1f, 3.0f) * (mode == 3 && (t & 1) ? -1 : 1);
            m[4] = check_randf(0.1f, 3.0f) * (mode == 3 && (t & 2) ? -1 : 1);
            m[2] = check_randf(-0.3f, 0.3f) * sw + (m[0] < 0 ? sw : 0);
            m[5] = check_randf(-0.3f, 0.3f) * sh + (m[4] < 0 ? sh : 0);
        }
        uint8_t border = (uint8_t)(check_rand() & 255);
        bool replicate = check_rand() & 1;
        ember_face_warp_reference(&src, m, border, replicate, &ref);
        CHECK(ember_face_warp_axis(&src, m, border, replicate, big ? pool : NULL, &fast) == EMBER_OK);
        int bad = 0;
        for (size_t i = 0; i < (size_t)dw * dh * 3; i++) {
            int d = abs((int)ref.rgb[i] - (int)fast.rgb[i]);
            differ += d != 0;
            if (d > worst) worst = d;
            if (d > 1 && !bad++)
                CHECK_MSG(false, "case %d: %dx%d -> %dx%d map (%g, %g; %g, %g) border %d%s: pixel %zu byte %zu is %d, "
                          "reference %d", t, sw, sh, dw, dh, m[0], m[2], m[4], m[5], border,
                          replicate ? " replicate" : "", i / 3, i % 3, fast.rgb[i], ref.rgb[i]);
        }
        bytes += (long long)dw * dh * 3;
        ember_face_image_free(&src);
        ember_face_image_free(&ref);
        ember_face_image_free(&fast);
    }
    CHECK_MSG(worst <= 1, "worst byte difference %d", worst);
    CHECK_MSG(differ * 100 < bytes, "%lld of %lld bytes differ from the reference", differ, bytes);
    /* A rotating map is refused. */
    ember_face_image a = random_image(8, 8), b;
    CHECK(ember_face_image_alloc(8, 8, &b) == EMBER_OK);
    float rot[6] = {1, 0.1f, 0, 0, 1, 0};
    CHECK(ember_face_warp_axis(&a, rot, 0, false, NULL, &b) == EMBER_ERR_ARG);
    ember_face_image_free(&a);
    ember_face_image_free(&b);
    ember_pool_destroy(pool);
}

/* ember_face_image_resize against its definition: kx x ky block averages (rounded) when shrinking by 2x or
 * more, then the per-pixel reference warp with pixel centres aligned and edges replicated. */
static void test_resize_reference(void) {
    int cases = check_slow() ? 15 : 80;
    for (int t = 0; t < cases; t++) {
        int sw = 1 + (int)(check_rand() % 300), sh = 1 + (int)(check_rand() % 200);
        int w = 1 + (int)(check_rand() % (t & 1 ? 40 : 320)), h = 1 + (int)(check_rand() % (t & 2 ? 30 : 240));
        ember_face_image src = random_image(sw, sh), got, box, want;
        int kx = sw / w < 1 ? 1 : sw / w, ky = sh / h < 1 ? 1 : sh / h;
        CHECK(ember_face_image_alloc((sw + kx - 1) / kx, (sh + ky - 1) / ky, &box) == EMBER_OK);
        for (int y = 0; y < box.h; y++)
            for (int x = 0; x < box.w; x++)
                for (int c = 0; c < 3; c++) {
                    unsigned sum = 0, n = 0;
                    for (int yy = y * ky; yy < (y + 1) * ky && yy < sh; yy++)
                        for (int xx = x * kx; xx < (x + 1) * kx && xx < sw; xx++, n++) sum += px(&src, xx, yy)[c];
                    box.rgb[((size_t)y * box.w + x) * 3 + c] = (uint8_t)((sum + n / 2) / n);
                }
        float fx = (float)sw / (float)w / (float)kx, fy = (float)sh / (float)h / (float)ky;
        float m[6] = {fx, 0, 0.5f * fx - 0.5f, 0, fy, 0.5f * fy - 0.5f};
        CHECK(ember_face_image_alloc(w, h, &want) == EMBER_OK);
        ember_face_warp_reference(&box, m, 0, true, &want);
        CHECK(ember_face_image_resize(&src, w, h, &got) == EMBER_OK);
        int worst = 0;
        for (size_t i = 0; i < (size_t)w * h * 3; i++) {
            int d = abs((int)got.rgb[i] - (int)want.rgb[i]);
            worst = d > worst ? d : worst;
        }
        CHECK_MSG(worst <= 1, "resize %dx%d -> %dx%d (blocks %dx%d): a byte differs by %d", sw, sh, w, h, kx, ky,
                  worst);
        ember_face_image_free(&src);
        ember_face_image_free(&box);
        ember_face_image_free(&want);
        ember_face_image_free(&got);
    }
}

/* Resizing on a pool gives the same bytes as on one thread; resize_planes equals resize, pasted on a black
 * canvas, to_planes (also on a pool); ember_face_warp of an axis-aligned map stays near the reference. */
static void test_resize_pool_and_planes(void) {
    ember_pool *pool = NULL;
    CHECK(ember_pool_create(2, &pool) == EMBER_OK);
    static const int sizes[][6] = {/* src w, h, dst w, h, canvas w, h */
                                   {512, 512, 640, 640, 640, 640},  {710, 473, 640, 426, 640, 640},
                                   {1000, 700, 320, 240, 320, 240}, {1300, 900, 400, 150, 416, 160},
                                   {37, 23, 300, 251, 320, 256},    {64, 64, 17, 9, 17, 9},
                                   {5, 3, 1, 1, 2, 1}};
    int n = check_slow() ? 3 : 7;
    for (int t = 0; t < n; t++) {
        const int *z = sizes[t];
        ember_face_image src = random_image(z[0], z[1]), one, par;
        CHECK(ember_face_image_resize(&src, z[2], z[3], &one) == EMBER_OK);
        CHECK(ember_face_image_resize_pool(&src, z[2], z[3], pool, &par) == EMBER_OK);
        CHECK_MSG(!memcmp(one.rgb, par.rgb, (size_t)z[2] * z[3] * 3), "resize %dx%d -> %dx%d on a pool", z[0],
                  z[1], z[2], z[3]);
        ember_face_image canvas;
        CHECK(ember_face_image_alloc(z[4], z[5], &canvas) == EMBER_OK);
        for (int y = 0; y < z[3]; y++)
            memcpy(canvas.rgb + (size_t)y * z[4] * 3, one.rgb + (size_t)y * z[2] * 3, (size_t)z[2] * 3);
        size_t nf = (size_t)3 * z[4] * z[5];
        float *want = malloc(nf * sizeof *want), *got = malloc(nf * sizeof *got);
        const float mean[3] = {127, 120, 110}, sd[3] = {128, 64, 1};
        for (int bgr = 0; bgr < 2; bgr++) {
            ember_face_image_to_planes_pool(&canvas, bgr, mean, sd, t & 1 ? pool : NULL, want);
            for (size_t i = 0; i < nf; i++) got[i] = NAN;
            CHECK(ember_face_image_resize_planes(&src, z[2], z[3], z[4], z[5], bgr, mean, sd, pool, got) ==
                  EMBER_OK);
            CHECK_MSG(!memcmp(want, got, nf * sizeof *got), "resize_planes %dx%d -> %dx%d on %dx%d, bgr %d", z[0],
                      z[1], z[2], z[3], z[4], z[5], bgr);
        }
        CHECK(ember_face_image_resize_planes(&src, z[4] + 1, z[3], z[4], z[5], false, mean, sd, NULL, got) ==
              EMBER_ERR_ARG);
        free(want);
        free(got);
        ember_face_image_free(&canvas);
        ember_face_image_free(&one);
        ember_face_image_free(&par);
        ember_face_image_free(&src);
    }
    ember_pool_destroy(pool);
}

static void apply(const float m[6], float x, float y, float *ox, float *oy) {
    *ox = m[0] * x + m[1] * y + m[2];
    *oy = m[3] * x + m[4] * y + m[5];
}

static void test_similarity(void) {
    /* A known similarity is recovered exactly from five points. */
    float th = 0.5f, sc = 1.7f, tx = 12.5f, ty = -3.25f;
    float truth[6] = {sc * cosf(th), -sc * sinf(th), tx, sc * sinf(th), sc * cosf(th), ty};
    float src[10] = {30, 40, 70, 41, 50, 60, 35, 80, 66, 79}, dst[10], m[6];
    for (int i = 0; i < 5; i++) apply(truth, src[2 * i], src[2 * i + 1], &dst[2 * i], &dst[2 * i + 1]);
    CHECK(ember_face_similarity(src, dst, 5, m) == EMBER_OK);
    for (int k = 0; k < 6; k++) CHECK_NEAR(m[k], truth[k], 1e-4);
    /* Least squares with noise: the residual is no larger than the true map's. */
    float noisy[10];
    for (int i = 0; i < 10; i++) noisy[i] = dst[i] + check_randf(-2, 2);
    CHECK(ember_face_similarity(src, noisy, 5, m) == EMBER_OK);
    double r_fit = 0, r_true = 0;
    for (int i = 0; i < 5; i++) {
        float a, b;
        apply(m, src[2 * i], src[2 * i + 1], &a, &b);
        r_fit += (a - noisy[2 * i]) * (a - noisy[2 * i]) + (b - noisy[2 * i + 1]) * (b - noisy[2 * i + 1]);
        apply(truth, src[2 * i], src[2 * i + 1], &a, &b);
        r_true += (a - noisy[2 * i]) * (a - noisy[2 * i]) + (b - noisy[2 * i + 1]) * (b - noisy[2 * i + 1]);
    }
    CHECK(r_fit <= r_true + 1e-6);
    /* Inverse round trip. */
    float inv[6];
    CHECK(ember_face_affine_invert(truth, inv) == EMBER_OK);
    float a, b, c, d;
    apply(truth, 3, 4, &a, &b);
    apply(inv, a, b, &c, &d);
    CHECK_NEAR(c, 3, 1e-4);
    CHECK_NEAR(d, 4, 1e-4);
    float same[10] = {5, 5, 5, 5, 5, 5, 5, 5, 5, 5};
    CHECK(ember_face_similarity(same, dst, 5, m) == EMBER_ERR_ARG);
    float zero[6] = {0};
    CHECK(ember_face_affine_invert(zero, inv) == EMBER_ERR_ARG);
}

/* Landmarks that are the template scaled by 2 and shifted: the aligned crop is the image resampled at half size. */
static void test_align(void) {
    ember_face_image img;
    CHECK(ember_face_image_alloc(300, 300, &img) == EMBER_OK);
    for (int y = 0; y < 300; y++)
        for (int x = 0; x < 300; x++) {
            uint8_t *p = img.rgb + ((size_t)y * 300 + x) * 3;
            p[0] = (uint8_t)x, p[1] = (uint8_t)y, p[2] = 100;
        }
    float lm[10];
    for (int i = 0; i < 5; i++) {
        lm[2 * i] = 2 * ember_face_arcface_template[2 * i] + 20;
        lm[2 * i + 1] = 2 * ember_face_arcface_template[2 * i + 1] + 10;
    }
    ember_face_image out;
    CHECK(ember_face_align(&img, lm, 112, &out) == EMBER_OK);
    CHECK_EQ(out.w, 112);
    /* Output (x, y) samples source (2x + 20, 2y + 10). */
    CHECK_NEAR(px(&out, 0, 0)[0], 20, 1);
    CHECK_NEAR(px(&out, 0, 0)[1], 10, 1);
    CHECK_NEAR(px(&out, 100, 50)[0], 220, 1);
    CHECK_NEAR(px(&out, 100, 50)[1], 110, 1);
    ember_face_image_free(&out);
    ember_face_image_free(&img);
}

int main(void) {
    RUN(test_png_roundtrip);
    RUN(test_jpeg_roundtrip);
    RUN(test_not_an_image);
    RUN(test_exif_orientation);
    RUN(test_real_files);
    RUN(test_resize);
    RUN(test_planes);
    RUN(test_warp_axis_differential);
    RUN(test_resize_reference);
    RUN(test_resize_pool_and_planes);
    RUN(test_similarity);
    RUN(test_align);
    return check_done();
}
