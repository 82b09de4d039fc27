/* Drawing for annotated images: the built-in font, rectangles and clipping at the image edges. */
#include "apps/face/face.h"
#include "check.h"

static int lit(const ember_face_image *img, int x0, int y0, int x1, int y1) {
    int n = 0;
    for (int y = y0; y < y1; y++)
        for (int x = x0; x < x1; x++) n += img->rgb[((size_t)y * img->w + x) * 3] != 0;
    return n;
}

static void test_text(void) {
    ember_face_image img;
    CHECK(ember_face_image_alloc(64, 16, &img) == EMBER_OK);
    ember_face_rgb white = {255, 255, 255};
    CHECK_EQ(ember_face_draw_text(&img, 1, 1, 1, "T", white), 5);
    /* 'T': a full top bar and a one-pixel stem: 5 + 6 dots. */
    CHECK_EQ(lit(&img, 0, 0, 64, 16), 11);
    CHECK_EQ(lit(&img, 1, 1, 6, 2), 5);
    CHECK_EQ(lit(&img, 3, 2, 4, 8), 6);
    CHECK_EQ(ember_face_text_width("Amy", 2), (3 * 6 - 1) * 2);
    CHECK_EQ(ember_face_text_width("\xc3\xa9t\xc3\xa9", 1), 3 * 6 - 1); /* "été": three glyphs */
    CHECK_EQ(ember_face_text_width("", 3), 0);
    /* Scale 2 doubles each dot. */
    memset(img.rgb, 0, (size_t)64 * 16 * 3);
    ember_face_draw_text(&img, 0, 0, 2, "T", white);
    CHECK_EQ(lit(&img, 0, 0, 64, 16), 44);
    /* Off the edges: clipped, no writes outside (ASan watches). */
    ember_face_draw_text(&img, 60, 12, 3, "clipped", white);
    ember_face_draw_text(&img, -20, -5, 2, "neg", white);
    ember_face_image_free(&img);
}

static void test_shapes(void) {
    ember_face_image img;
    CHECK(ember_face_image_alloc(40, 30, &img) == EMBER_OK);
    ember_face_rgb red = {255, 0, 0};
    ember_face_draw_rect(&img, 5, 5, 14, 14, 1, red); /* 10x10 outline: 36 pixels */
    CHECK_EQ(lit(&img, 0, 0, 40, 30), 36);
    CHECK_EQ(lit(&img, 6, 6, 14, 14), 0);
    ember_face_det d = {-10, -10, 100, 100, 0.9f, {1, 1, 39, 29, 20, 15, -5, 50, 45, 2}, true};
    ember_face_draw_face(&img, &d, "somebody with a long name", red);
    ember_face_det tiny = {39, 29, 39, 29, 0.9f, {0}, false};
    ember_face_draw_face(&img, &tiny, "x", red);
    ember_face_image_free(&img);
}

int main(void) {
    RUN(test_text);
    RUN(test_shapes);
    return check_done();
}
