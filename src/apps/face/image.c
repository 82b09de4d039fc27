/* Images for the face app: JPEG (libjpeg-turbo) and PNG (libpng) decoding to RGB8 and encoding, EXIF
 * orientation, and the allocation helpers. Library errors longjmp back to us: nothing here exits. */
#include "apps/face/face.h"

#include <errno.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jerror.h>
#include <jpeglib.h>
#include <png.h>
#include <strings.h>

ember_status ember_face_image_alloc(int w, int h, ember_face_image *out) {
    out->w = out->h = 0;
    out->rgb = NULL;
    if (w <= 0 || h <= 0 || (int64_t)w * h > EMBER_FACE_MAX_PIXELS)
        return ember_fail(EMBER_ERR_ARG, "image size %dx%d is out of range (1..%d pixels)", w, h,
                          EMBER_FACE_MAX_PIXELS);
    out->rgb = ember_calloc((size_t)w * (size_t)h, 3);
    if (!out->rgb) return ember_fail(EMBER_ERR_NOMEM, "out of memory for a %dx%d image", w, h);
    out->w = w;
    out->h = h;
    return EMBER_OK;
}

void ember_face_image_free(ember_face_image *img) {
    if (!img) return;
    ember_free(img->rgb);
    img->rgb = NULL;
    img->w = img->h = 0;
}

/* --- EXIF orientation ----------------------------------------------------------------------------------- */
static unsigned rd16(const uint8_t *p, bool le) { return le ? p[0] | p[1] << 8 : p[0] << 8 | p[1]; }
static uint32_t rd32(const uint8_t *p, bool le) {
    return le ? (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24
              : (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

/* Orientation tag (0x0112) of the TIFF structure at t (n bytes); 1 when absent. */
static int tiff_orientation(const uint8_t *t, size_t n) {
    if (n < 8) return 1;
    bool le;
    if (t[0] == 'I' && t[1] == 'I') le = true;
    else if (t[0] == 'M' && t[1] == 'M') le = false;
    else return 1;
    if (rd16(t + 2, le) != 42) return 1;
    uint32_t ifd = rd32(t + 4, le);
    if (ifd > n - 2) return 1;
    unsigned count = rd16(t + ifd, le);
    for (unsigned i = 0; i < count; i++) {
        size_t e = (size_t)ifd + 2 + (size_t)i * 12;
        if (e + 12 > n) return 1;
        if (rd16(t + e, le) != 0x0112) continue;
        if (rd16(t + e + 2, le) != 3 || rd32(t + e + 4, le) != 1) return 1; /* SHORT, one value */
        unsigned o = rd16(t + e + 8, le);
        return o >= 1 && o <= 8 ? (int)o : 1;
    }
    return 1;
}

int ember_face_exif_orientation(const uint8_t *p, size_t n) {
    if (n < 4 || p[0] != 0xFF || p[1] != 0xD8) return 1;
    size_t i = 2;
    while (i + 4 <= n) {
        if (p[i] != 0xFF) return 1;
        unsigned marker = p[i + 1];
        if (marker == 0xFF) { /* fill byte */
            i++;
            continue;
        }
        if (marker == 0xD9 || marker == 0xDA) return 1; /* end of image / start of scan: no Exif before */
        size_t len = rd16(p + i + 2, false);
        if (len < 2 || i + 2 + len > n) return 1;
        const uint8_t *seg = p + i + 4;
        size_t seglen = len - 2;
        if (marker == 0xE1 && seglen >= 6 && !memcmp(seg, "Exif\0\0", 6))
            return tiff_orientation(seg + 6, seglen - 6);
        i += 2 + len;
    }
    return 1;
}

/* Source pixel of destination (x, y) for orientation o; the source is sw x sh. */
static void orient_source(int o, int x, int y, int sw, int sh, int *sx, int *sy) {
    switch (o) {
    case 2: *sx = sw - 1 - x, *sy = y; break;
    case 3: *sx = sw - 1 - x, *sy = sh - 1 - y; break;
    case 4: *sx = x, *sy = sh - 1 - y; break;
    case 5: *sx = y, *sy = x; break;
    case 6: *sx = y, *sy = sh - 1 - x; break;
    case 7: *sx = sw - 1 - y, *sy = sh - 1 - x; break;
    case 8: *sx = sw - 1 - y, *sy = x; break;
    default: *sx = x, *sy = y; break;
    }
}

ember_status ember_face_image_orient(ember_face_image *img, int o) {
    if (o <= 1 || o > 8) return EMBER_OK;
    bool swap = o >= 5;
    ember_face_image out;
    ember_status s = ember_face_image_alloc(swap ? img->h : img->w, swap ? img->w : img->h, &out);
    if (s) return s;
    for (int y = 0; y < out.h; y++)
        for (int x = 0; x < out.w; x++) {
            int sx, sy;
            orient_source(o, x, y, img->w, img->h, &sx, &sy);
            memcpy(out.rgb + ((size_t)y * out.w + x) * 3, img->rgb + ((size_t)sy * img->w + sx) * 3, 3);
        }
    ember_face_image_free(img);
    *img = out;
    return EMBER_OK;
}

/* --- JPEG ----------------------------------------------------------------------------------------------- */
typedef struct jpeg_err {
    struct jpeg_error_mgr mgr;
    jmp_buf jump;
    char message[JMSG_LENGTH_MAX];
    bool truncated;
    ember_face_image img; /* what is being decoded, and a CMYK row: kept here so longjmp can free them */
    uint8_t *row;
} jpeg_err;

static void jpeg_on_error(j_common_ptr c) {
    jpeg_err *e = (jpeg_err *)c->err;
    c->err->format_message(c, e->message);
    longjmp(e->jump, 1);
}

/* Warnings (level -1) about corrupt data: a premature end of data is a truncated file, which we refuse. */
static void jpeg_on_message(j_common_ptr c, int level) {
    jpeg_err *e = (jpeg_err *)c->err;
    if (level >= 0) return;
    c->err->num_warnings++;
    if (c->err->msg_code == JWRN_JPEG_EOF) e->truncated = true;
    if (!e->message[0]) c->err->format_message(c, e->message);
}

static void jpeg_err_init(jpeg_err *e, struct jpeg_common_struct *c) {
    memset(e, 0, sizeof *e);
    c->err = jpeg_std_error(&e->mgr);
    e->mgr.error_exit = jpeg_on_error;
    e->mgr.emit_message = jpeg_on_message;
}

/* CMYK (Adobe, inverted) scanline to RGB. */
static void cmyk_to_rgb(const uint8_t *in, uint8_t *out, int w) {
    for (int x = 0; x < w; x++, in += 4, out += 3) {
        unsigned k = in[3];
        for (int c = 0; c < 3; c++) out[c] = (uint8_t)((in[c] * k + 127) / 255);
    }
}

static ember_status decode_jpeg(const uint8_t *data, size_t size, const char *name, ember_face_image *out) {
    struct jpeg_decompress_struct cinfo;
    jpeg_err err;
    jpeg_err_init(&err, (struct jpeg_common_struct *)&cinfo);
    if (setjmp(err.jump)) {
        jpeg_destroy_decompress(&cinfo);
        ember_free(err.row);
        ember_face_image_free(&err.img);
        bool ended = size >= 2 && data[size - 2] == 0xFF && data[size - 1] == 0xD9;
        return ember_fail(EMBER_ERR_FORMAT, "%s: %s JPEG: %s", name, ended ? "corrupt" : "truncated or corrupt",
                          err.message);
    }
    jpeg_create_decompress(&cinfo);
    jpeg_mem_src(&cinfo, data, (unsigned long)size);
    jpeg_read_header(&cinfo, TRUE);
    bool cmyk = cinfo.jpeg_color_space == JCS_CMYK || cinfo.jpeg_color_space == JCS_YCCK;
    cinfo.out_color_space = cmyk ? JCS_CMYK : JCS_RGB;
    jpeg_start_decompress(&cinfo);
    ember_status s = ember_face_image_alloc((int)cinfo.output_width, (int)cinfo.output_height, &err.img);
    if (s == EMBER_OK && cmyk && !(err.row = ember_malloc((size_t)cinfo.output_width * 4)))
        s = ember_fail(EMBER_ERR_NOMEM, "out of memory");
    if (s) {
        jpeg_destroy_decompress(&cinfo);
        ember_face_image_free(&err.img);
        return ember_fail_context(s, "%s: ", name);
    }
    ember_face_image *img = &err.img;
    while (cinfo.output_scanline < cinfo.output_height) {
        uint8_t *dst = img->rgb + (size_t)cinfo.output_scanline * img->w * 3;
        JSAMPROW r = cmyk ? err.row : dst;
        jpeg_read_scanlines(&cinfo, &r, 1);
        if (cmyk) cmyk_to_rgb(err.row, dst, img->w);
    }
    jpeg_finish_decompress(&cinfo);
    jpeg_destroy_decompress(&cinfo);
    ember_free(err.row);
    if (err.truncated) {
        ember_face_image_free(img);
        return ember_fail(EMBER_ERR_FORMAT, "%s: truncated JPEG (%zu bytes): the image data ends early", name,
                          size);
    }
    if ((s = ember_face_image_orient(img, ember_face_exif_orientation(data, size)))) {
        ember_face_image_free(img);
        return s;
    }
    *out = *img;
    return EMBER_OK;
}

ember_status ember_face_image_encode_jpeg(const ember_face_image *img, int quality, uint8_t **out, size_t *size) {
    struct jpeg_compress_struct cinfo;
    jpeg_err err;
    unsigned char *volatile buf = NULL;
    unsigned long n = 0;
    *out = NULL;
    *size = 0;
    jpeg_err_init(&err, (struct jpeg_common_struct *)&cinfo);
    if (setjmp(err.jump)) {
        jpeg_destroy_compress(&cinfo);
        free(buf);
        return ember_fail(EMBER_ERR_INTERNAL, "JPEG encoding failed: %s", err.message);
    }
    jpeg_create_compress(&cinfo);
    jpeg_mem_dest(&cinfo, (unsigned char **)&buf, &n);
    cinfo.image_width = (JDIMENSION)img->w;
    cinfo.image_height = (JDIMENSION)img->h;
    cinfo.input_components = 3;
    cinfo.in_color_space = JCS_RGB;
    jpeg_set_defaults(&cinfo);
    jpeg_set_quality(&cinfo, quality < 1 ? 1 : quality > 100 ? 100 : quality, TRUE);
    jpeg_start_compress(&cinfo, TRUE);
    while (cinfo.next_scanline < cinfo.image_height) {
        JSAMPROW r = img->rgb + (size_t)cinfo.next_scanline * img->w * 3;
        jpeg_write_scanlines(&cinfo, &r, 1);
    }
    jpeg_finish_compress(&cinfo);
    jpeg_destroy_compress(&cinfo);
    /* libjpeg allocated buf with malloc: hand the caller an ember_malloc copy. */
    *out = ember_malloc(n);
    if (!*out) {
        free(buf);
        return ember_fail(EMBER_ERR_NOMEM, "out of memory");
    }
    memcpy(*out, buf, n);
    free(buf);
    *size = n;
    return EMBER_OK;
}

/* --- PNG ------------------------------------------------------------------------------------------------ */
typedef struct png_io {
    const uint8_t *data;
    size_t size, pos;       /* reading */
    uint8_t *out;           /* writing: ember_malloc'd, grows */
    size_t out_len, out_cap;
    bool nomem;
    char message[256];
    ember_face_image img; /* being decoded, and its row pointers: kept here so longjmp can free them */
    png_bytep *rows;
} png_io;

static void png_on_error(png_structp png, png_const_charp msg) {
    png_io *io = png_get_error_ptr(png);
    snprintf(io->message, sizeof io->message, "%s", msg);
    png_longjmp(png, 1);
}
static void png_on_warning(png_structp png, png_const_charp msg) { (void)png, (void)msg; }

static void png_read_mem(png_structp png, png_bytep dst, png_size_t n) {
    png_io *io = png_get_io_ptr(png);
    if (n > io->size - io->pos) png_error(png, "truncated PNG: the data ends early");
    memcpy(dst, io->data + io->pos, n);
    io->pos += n;
}

static void png_write_mem(png_structp png, png_bytep src, png_size_t n) {
    png_io *io = png_get_io_ptr(png);
    if (n > io->out_cap - io->out_len) {
        size_t cap = io->out_cap ? io->out_cap : 4096;
        while (cap - io->out_len < n) cap *= 2;
        uint8_t *p = ember_realloc(io->out, cap);
        if (!p) {
            io->nomem = true;
            png_error(png, "out of memory");
        }
        io->out = p;
        io->out_cap = cap;
    }
    memcpy(io->out + io->out_len, src, n);
    io->out_len += n;
}
static void png_flush_mem(png_structp png) { (void)png; }

static ember_status decode_png(const uint8_t *data, size_t size, const char *name, ember_face_image *out) {
    png_io io = {.data = data, .size = size};
    png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &io, png_on_error, png_on_warning);
    png_infop info = png ? png_create_info_struct(png) : NULL;
    if (!info) {
        png_destroy_read_struct(&png, NULL, NULL);
        return ember_fail(EMBER_ERR_NOMEM, "%s: out of memory", name);
    }
    if (setjmp(png_jmpbuf(png))) {
        png_destroy_read_struct(&png, &info, NULL);
        ember_free(io.rows);
        ember_face_image_free(&io.img);
        return ember_fail(EMBER_ERR_FORMAT, "%s: corrupt PNG: %s", name, io.message);
    }
    png_set_read_fn(png, &io, png_read_mem);
    png_set_user_limits(png, 1u << 20, 1u << 20);
    png_read_info(png, info);
    int ct = png_get_color_type(png, info);
    png_set_expand(png);
    png_set_strip_16(png);
    if (ct == PNG_COLOR_TYPE_GRAY || ct == PNG_COLOR_TYPE_GRAY_ALPHA) png_set_gray_to_rgb(png);
    if (ct & PNG_COLOR_MASK_ALPHA || png_get_valid(png, info, PNG_INFO_tRNS)) {
        png_color_16 white = {0, 255, 255, 255, 255};
        png_set_background(png, &white, PNG_BACKGROUND_GAMMA_SCREEN, 0, 1.0); /* composite onto white */
    }
    png_set_interlace_handling(png);
    png_read_update_info(png, info);
    int w = (int)png_get_image_width(png, info), h = (int)png_get_image_height(png, info);
    if (png_get_rowbytes(png, info) != (size_t)w * 3) png_error(png, "unexpected pixel layout after conversion");
    ember_status s = ember_face_image_alloc(w, h, &io.img);
    if (s == EMBER_OK && !(io.rows = ember_malloc((size_t)h * sizeof *io.rows)))
        s = ember_fail(EMBER_ERR_NOMEM, "out of memory");
    if (s) {
        png_destroy_read_struct(&png, &info, NULL);
        ember_face_image_free(&io.img);
        return ember_fail_context(s, "%s: ", name);
    }
    for (int y = 0; y < h; y++) io.rows[y] = io.img.rgb + (size_t)y * w * 3;
    png_read_image(png, io.rows);
    png_read_end(png, NULL);
    png_destroy_read_struct(&png, &info, NULL);
    ember_free(io.rows);
    *out = io.img;
    return EMBER_OK;
}

ember_status ember_face_image_encode_png(const ember_face_image *img, uint8_t **out, size_t *size) {
    png_io io = {0};
    *out = NULL;
    *size = 0;
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, &io, png_on_error, png_on_warning);
    png_infop info = png ? png_create_info_struct(png) : NULL;
    if (!info) {
        png_destroy_write_struct(&png, NULL);
        return ember_fail(EMBER_ERR_NOMEM, "out of memory");
    }
    if (setjmp(png_jmpbuf(png))) {
        png_destroy_write_struct(&png, &info);
        ember_free(io.out);
        return ember_fail(io.nomem ? EMBER_ERR_NOMEM : EMBER_ERR_INTERNAL, "PNG encoding failed: %s", io.message);
    }
    png_set_write_fn(png, &io, png_write_mem, png_flush_mem);
    png_set_IHDR(png, info, (png_uint_32)img->w, (png_uint_32)img->h, 8, PNG_COLOR_TYPE_RGB, PNG_INTERLACE_NONE,
                 PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    png_write_info(png, info);
    for (int y = 0; y < img->h; y++) png_write_row(png, img->rgb + (size_t)y * img->w * 3);
    png_write_end(png, NULL);
    png_destroy_write_struct(&png, &info);
    *out = io.out;
    *size = io.out_len;
    return EMBER_OK;
}

/* --- files ---------------------------------------------------------------------------------------------- */
ember_status ember_face_image_decode(const uint8_t *data, size_t size, const char *name, ember_face_image *out) {
    out->w = out->h = 0;
    out->rgb = NULL;
    if (!name) name = "image";
    if (size >= 3 && data[0] == 0xFF && data[1] == 0xD8 && data[2] == 0xFF) return decode_jpeg(data, size, name, out);
    if (size >= 8 && !png_sig_cmp(data, 0, 8)) return decode_png(data, size, name, out);
    return ember_fail(EMBER_ERR_FORMAT, "%s: not a JPEG or PNG image (%zu bytes, unknown signature)", name, size);
}

/* Read a whole file into an ember_malloc'd buffer. */
static ember_status read_file(const char *path, uint8_t **out, size_t *size) {
    FILE *f = fopen(path, "rb");
    if (!f) return ember_fail(EMBER_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    uint8_t *buf = NULL;
    size_t n = 0, cap = 0;
    for (;;) {
        if (n == cap) {
            cap = cap ? cap * 2 : 1 << 16;
            uint8_t *p = cap > ((size_t)1 << 31) ? NULL : ember_realloc(buf, cap);
            if (!p) {
                ember_free(buf);
                fclose(f);
                return ember_fail(EMBER_ERR_NOMEM, "%s: file too large or out of memory", path);
            }
            buf = p;
        }
        size_t got = fread(buf + n, 1, cap - n, f);
        n += got;
        if (got == 0) break;
    }
    bool bad = ferror(f);
    fclose(f);
    if (bad) {
        ember_free(buf);
        return ember_fail(EMBER_ERR_IO, "%s: read error", path);
    }
    *out = buf;
    *size = n;
    return EMBER_OK;
}

ember_status ember_face_image_load(const char *path, ember_face_image *out) {
    uint8_t *data;
    size_t size;
    ember_status s = read_file(path, &data, &size);
    if (s) return s;
    s = ember_face_image_decode(data, size, path, out);
    ember_free(data);
    return s;
}

ember_status ember_face_file_read(const char *path, uint8_t **out, size_t *size) { return read_file(path, out, size); }

static bool ends_with(const char *s, const char *suffix) {
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && !strcasecmp(s + n - k, suffix);
}

ember_status ember_face_image_save(const char *path, const ember_face_image *img) {
    uint8_t *data;
    size_t size;
    ember_status s = ends_with(path, ".png") ? ember_face_image_encode_png(img, &data, &size)
                                             : ember_face_image_encode_jpeg(img, 90, &data, &size);
    if (s) return s;
    FILE *f = fopen(path, "wb");
    if (!f) {
        ember_free(data);
        return ember_fail(EMBER_ERR_IO, "%s: cannot create: %s", path, strerror(errno));
    }
    bool ok = fwrite(data, 1, size, f) == size;
    ok = fclose(f) == 0 && ok;
    ember_free(data);
    return ok ? EMBER_OK : ember_fail(EMBER_ERR_IO, "%s: write failed", path);
}
