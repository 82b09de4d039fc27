/* V4L2 camera capture: MJPEG (decoded with the JPEG path) or YUYV (converted here), memory-mapped buffers;
 * each read returns the newest frame (older queued ones are dropped, so a slow consumer sees no lag). Every
 * ioctl failure comes back as an error naming the device and the call. */
#include "apps/face/face.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/videodev2.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/select.h>
#include <unistd.h>

enum { NBUF = 4 };

struct ember_face_camera {
    int fd;
    char dev[256];
    uint32_t fourcc;
    int w, h;
    size_t stride;
    void *mem[NBUF];
    size_t len[NBUF];
    int nbuf;
    bool streaming;
};

static int xioctl(int fd, unsigned long req, void *arg) {
    int r;
    do r = ioctl(fd, req, arg);
    while (r < 0 && errno == EINTR);
    return r;
}

static ember_status cam_fail(ember_face_camera *c, const char *what) {
    return ember_fail(EMBER_ERR_IO, "camera %s: %s: %s", c->dev, what, strerror(errno));
}

ember_status ember_face_camera_open(const char *dev, int w, int h, ember_face_camera **out) {
    *out = NULL;
    ember_face_camera *c = ember_calloc(1, sizeof *c);
    if (!c) return ember_fail(EMBER_ERR_NOMEM, "out of memory for a camera");
    snprintf(c->dev, sizeof c->dev, "%s", dev);
    ember_status s = EMBER_OK;
    c->fd = open(dev, O_RDWR | O_NONBLOCK | O_CLOEXEC);
    if (c->fd < 0) {
        s = cam_fail(c, "open");
        ember_free(c);
        return s;
    }
    struct v4l2_capability cap;
    memset(&cap, 0, sizeof cap);
    if (xioctl(c->fd, VIDIOC_QUERYCAP, &cap) < 0) {
        s = cam_fail(c, "VIDIOC_QUERYCAP (not a V4L2 device?)");
        goto fail;
    }
    uint32_t caps = (cap.capabilities & V4L2_CAP_DEVICE_CAPS) ? cap.device_caps : cap.capabilities;
    if (!(caps & V4L2_CAP_VIDEO_CAPTURE) || !(caps & V4L2_CAP_STREAMING)) {
        s = ember_fail(EMBER_ERR_UNSUPPORTED, "camera %s: no video capture with streaming", dev);
        goto fail;
    }
    static const uint32_t formats[2] = {V4L2_PIX_FMT_MJPEG, V4L2_PIX_FMT_YUYV};
    bool ok = false;
    for (int i = 0; i < 2 && !ok; i++) {
        struct v4l2_format f;
        memset(&f, 0, sizeof f);
        f.type = V4L2_BUF_TYPE_VIDEO_CAPTURE;
        f.fmt.pix.width = (uint32_t)w;
        f.fmt.pix.height = (uint32_t)h;
        f.fmt.pix.pixelformat = formats[i];
        f.fmt.pix.field = V4L2_FIELD_ANY;
        if (xioctl(c->fd, VIDIOC_S_FMT, &f) == 0 && f.fmt.pix.pixelformat == formats[i]) {
            ok = true;
            c->fourcc = formats[i];
            c->w = (int)f.fmt.pix.width, c->h = (int)f.fmt.pix.height;
            c->stride = f.fmt.pix.bytesperline ? f.fmt.pix.bytesperline : (size_t)c->w * 2;
        }
    }
    if (!ok) {
        s = ember_fail(EMBER_ERR_UNSUPPORTED, "camera %s: offers neither MJPEG nor YUYV", dev);
        goto fail;
    }
    struct v4l2_requestbuffers rb;
    memset(&rb, 0, sizeof rb);
    rb.count = NBUF;
    rb.type = V4L2_BUF_TYPE_VIDEO_CAPTURE;
    rb.memory = V4L2_MEMORY_MMAP;
    if (xioctl(c->fd, VIDIOC_REQBUFS, &rb) < 0 || rb.count < 1) {
        s = cam_fail(c, "VIDIOC_REQBUFS");
        goto fail;
    }
    c->nbuf = rb.count > NBUF ? NBUF : (int)rb.count;
    for (int i = 0; i < c->nbuf; i++) {
        struct v4l2_buffer b;
        memset(&b, 0, sizeof b);
        b.type = V4L2_BUF_TYPE_VIDEO_CAPTURE;
        b.memory = V4L2_MEMORY_MMAP;
        b.index = (uint32_t)i;
        if (xioctl(c->fd, VIDIOC_QUERYBUF, &b) < 0) {
            s = cam_fail(c, "VIDIOC_QUERYBUF");
            goto fail;
        }
        c->mem[i] = mmap(NULL, b.length, PROT_READ | PROT_WRITE, MAP_SHARED, c->fd, b.m.offset);
        if (c->mem[i] == MAP_FAILED) {
            c->mem[i] = NULL;
            s = cam_fail(c, "mmap");
            goto fail;
        }
        c->len[i] = b.length;
        if (xioctl(c->fd, VIDIOC_QBUF, &b) < 0) {
            s = cam_fail(c, "VIDIOC_QBUF");
            goto fail;
        }
    }
    enum v4l2_buf_type type = V4L2_BUF_TYPE_VIDEO_CAPTURE;
    if (xioctl(c->fd, VIDIOC_STREAMON, &type) < 0) {
        s = cam_fail(c, "VIDIOC_STREAMON");
        goto fail;
    }
    c->streaming = true;
    *out = c;
    return EMBER_OK;
fail:
    ember_face_camera_close(c);
    return s;
}

void ember_face_camera_close(ember_face_camera *c) {
    if (!c) return;
    if (c->streaming) {
        enum v4l2_buf_type type = V4L2_BUF_TYPE_VIDEO_CAPTURE;
        xioctl(c->fd, VIDIOC_STREAMOFF, &type);
    }
    for (int i = 0; i < c->nbuf; i++)
        if (c->mem[i]) munmap(c->mem[i], c->len[i]);
    if (c->fd >= 0) close(c->fd);
    ember_free(c);
}

static uint8_t clamp8(int v) { return (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v); }

void ember_face_yuyv_to_rgb(const uint8_t *yuyv, int w, int h, size_t stride, uint8_t *rgb) {
    for (int y = 0; y < h; y++) {
        const uint8_t *p = yuyv + (size_t)y * stride;
        uint8_t *o = rgb + (size_t)y * w * 3;
        for (int x = 0; x < w; x += 2, p += 4) {
            int u = p[1] - 128, v = p[3] - 128;
            for (int k = 0; k < 2 && x + k < w; k++) {
                int c = 298 * ((k ? p[2] : p[0]) - 16);
                o[(x + k) * 3 + 0] = clamp8((c + 409 * v + 128) >> 8);
                o[(x + k) * 3 + 1] = clamp8((c - 100 * u - 208 * v + 128) >> 8);
                o[(x + k) * 3 + 2] = clamp8((c + 516 * u + 128) >> 8);
            }
        }
    }
}

ember_status ember_face_camera_read(ember_face_camera *c, ember_face_image *out) {
    for (int bad = 0;;) {
        fd_set fds;
        FD_ZERO(&fds);
        FD_SET(c->fd, &fds);
        struct timeval tv = {5, 0};
        int r = select(c->fd + 1, &fds, NULL, NULL, &tv);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) return cam_fail(c, "select");
        if (r == 0) return ember_fail(EMBER_ERR_IO, "camera %s: no frame in 5 seconds", c->dev);
        struct v4l2_buffer b;
        memset(&b, 0, sizeof b);
        b.type = V4L2_BUF_TYPE_VIDEO_CAPTURE;
        b.memory = V4L2_MEMORY_MMAP;
        if (xioctl(c->fd, VIDIOC_DQBUF, &b) < 0) {
            if (errno == EAGAIN) continue;
            return cam_fail(c, "VIDIOC_DQBUF");
        }
        /* Frames that queued up while the caller was busy are stale: keep only the newest, hand the others
         * back to the driver (the fd is non-blocking, so this stops at EAGAIN). */
        for (int k = 0; k < c->nbuf; k++) {
            struct v4l2_buffer newer;
            memset(&newer, 0, sizeof newer);
            newer.type = V4L2_BUF_TYPE_VIDEO_CAPTURE;
            newer.memory = V4L2_MEMORY_MMAP;
            if (xioctl(c->fd, VIDIOC_DQBUF, &newer) < 0) break;
            if (xioctl(c->fd, VIDIOC_QBUF, &b) < 0) return cam_fail(c, "VIDIOC_QBUF");
            b = newer;
        }
        ember_status s;
        if (b.index >= (uint32_t)c->nbuf || b.bytesused > c->len[b.index]) {
            s = ember_fail(EMBER_ERR_IO, "camera %s: bad buffer from the driver", c->dev);
        } else if (c->fourcc == V4L2_PIX_FMT_MJPEG) {
            s = ember_face_image_decode(c->mem[b.index], b.bytesused, c->dev, out);
        } else if (c->stride * (size_t)c->h > b.bytesused) {
            s = ember_fail(EMBER_ERR_IO, "camera %s: short YUYV frame (%u bytes)", c->dev, b.bytesused);
        } else {
            s = ember_face_image_alloc(c->w, c->h, out);
            if (!s) ember_face_yuyv_to_rgb(c->mem[b.index], c->w, c->h, c->stride, out->rgb);
        }
        if (xioctl(c->fd, VIDIOC_QBUF, &b) < 0 && !s) {
            ember_face_image_free(out);
            return cam_fail(c, "VIDIOC_QBUF");
        }
        if (s && c->fourcc == V4L2_PIX_FMT_MJPEG && ++bad < 10) continue; /* a damaged frame: take the next */
        return s;
    }
}
