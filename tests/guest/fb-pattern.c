/*
 * fb-pattern: the guest side of tests/integration/display.sh. Runs inside the default guest
 * (installed as /usr/bin/fb-pattern):
 *
 *     fb-pattern draw            draws the test pattern on /dev/fb0, prints the mode
 *     fb-pattern mode            prints the current mode of /dev/fb0
 *     fb-pattern events N [S]    reads N events (EV_SYN left out) from every
 *                                /dev/input/event*, one line each, within S seconds (30)
 *
 * The pattern on a W x H screen, as 0xRRGGBB, is what fb_pattern_pixel() below returns; the
 * host's checker (tests/tools/vnc-check.c) computes the same function:
 *   top left quadrant red, top right green, bottom left blue, bottom right a gradient with
 *   red = x & 255, green = y & 255, blue = (x ^ y) & 255.
 *
 * Output lines:
 *   mode W H BPP STRIDE                      (draw and mode)
 *   device eventK NAME                       (events: one per device, then `ready`)
 *   eventK TYPE CODE VALUE                   (events: decimal, one per event, in order)
 * Exit status 0, or 1 with one line on stderr (no framebuffer, timeout, ...).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/fb.h>
#include <linux/input.h>
#include <linux/kd.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#define MAX_DEVS 32

static uint32_t fb_pattern_pixel(uint32_t x, uint32_t y, uint32_t w, uint32_t h)
{
    int right = x >= w / 2, bottom = y >= h / 2;
    if (!right && !bottom)
        return 0xff0000;
    if (right && !bottom)
        return 0x00ff00;
    if (!right && bottom)
        return 0x0000ff;
    return (x & 255) << 16 | (y & 255) << 8 | ((x ^ y) & 255);
}

static int die(const char *what)
{
    fprintf(stderr, "fb-pattern: %s: %s\n", what, strerror(errno));
    return 1;
}

static int open_fb(struct fb_var_screeninfo *var, struct fb_fix_screeninfo *fix)
{
    int fd = open("/dev/fb0", O_RDWR | O_CLOEXEC);
    if (fd < 0)
        return -1;
    if (ioctl(fd, FBIOGET_VSCREENINFO, var) < 0 || ioctl(fd, FBIOGET_FSCREENINFO, fix) < 0) {
        close(fd);
        return -1;
    }
    printf("mode %u %u %u %u\n", var->xres, var->yres, var->bits_per_pixel, fix->line_length);
    fflush(stdout);
    return fd;
}

static uint32_t field(uint32_t v8, const struct fb_bitfield *f)
{
    if (f->length == 0)
        return 0;
    uint32_t v = f->length >= 8 ? v8 << (f->length - 8) : v8 >> (8 - f->length);
    return v << f->offset;
}

static int draw(void)
{
    struct fb_var_screeninfo var;
    struct fb_fix_screeninfo fix;
    /* fbcon must not draw its cursor over the pattern: the VT goes to graphics mode. */
    int tty = open("/dev/tty0", O_RDWR | O_CLOEXEC);
    if (tty >= 0) {
        ioctl(tty, KDSETMODE, KD_GRAPHICS);
        close(tty);
    }
    int fd = open_fb(&var, &fix);
    if (fd < 0)
        return die("/dev/fb0");
    if (var.bits_per_pixel != 32) {
        fprintf(stderr, "fb-pattern: %u bits per pixel; only 32 is drawn\n", var.bits_per_pixel);
        return 1;
    }
    size_t stride = fix.line_length, len = stride * var.yres;
    uint8_t *buf = calloc(1, len);
    if (!buf)
        return die("calloc");
    for (uint32_t y = 0; y < var.yres; y++)
        for (uint32_t x = 0; x < var.xres; x++) {
            uint32_t p = fb_pattern_pixel(x, y, var.xres, var.yres);
            uint32_t v = field(p >> 16 & 255, &var.red) | field(p >> 8 & 255, &var.green) |
                         field(p & 255, &var.blue);
            memcpy(buf + y * stride + x * 4, &v, 4);
        }
    /* write(), not a mapping: the fbdev emulation's write marks the damage at once. */
    size_t done = 0;
    while (done < len) {
        ssize_t n = pwrite(fd, buf + done, len - done, (off_t)done);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return die("write /dev/fb0");
        done += (size_t)n;
    }
    fsync(fd);
    free(buf);
    close(fd);
    return 0;
}

static int mode(void)
{
    struct fb_var_screeninfo var;
    struct fb_fix_screeninfo fix;
    int fd = open_fb(&var, &fix);
    if (fd < 0)
        return die("/dev/fb0");
    close(fd);
    return 0;
}

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int events(long want, long seconds)
{
    struct pollfd pfd[MAX_DEVS];
    int idx[MAX_DEVS], n = 0;
    for (int i = 0; i < MAX_DEVS; i++) {
        char path[32], name[128] = "?";
        snprintf(path, sizeof path, "/dev/input/event%d", i);
        int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
        if (fd < 0)
            continue;
        ioctl(fd, EVIOCGNAME(sizeof name - 1), name);
        printf("device event%d %s\n", i, name);
        pfd[n] = (struct pollfd){.fd = fd, .events = POLLIN};
        idx[n++] = i;
    }
    if (n == 0) {
        fprintf(stderr, "fb-pattern: no /dev/input/event* device\n");
        return 1;
    }
    printf("ready\n");
    fflush(stdout);
    int64_t end = now_ms() + seconds * 1000;
    long got = 0;
    while (got < want) {
        int64_t left = end - now_ms();
        if (left <= 0) {
            fprintf(stderr, "fb-pattern: %ld of %ld events within %ld s\n", got, want, seconds);
            return 1;
        }
        int r = poll(pfd, (nfds_t)n, (int)left);
        if (r < 0 && errno != EINTR)
            return die("poll");
        for (int i = 0; i < n && got < want; i++) {
            if (!(pfd[i].revents & POLLIN))
                continue;
            struct input_event ev;
            while (got < want && read(pfd[i].fd, &ev, sizeof ev) == (ssize_t)sizeof ev) {
                if (ev.type == EV_SYN)
                    continue;
                printf("event%d %u %u %d\n", idx[i], ev.type, ev.code, ev.value);
                fflush(stdout);
                got++;
            }
        }
    }
    return 0;
}

int main(int argc, char **argv)
{
    if (argc == 2 && !strcmp(argv[1], "draw"))
        return draw();
    if (argc == 2 && !strcmp(argv[1], "mode"))
        return mode();
    if ((argc == 3 || argc == 4) && !strcmp(argv[1], "events")) {
        long want = strtol(argv[2], NULL, 10), s = argc == 4 ? strtol(argv[3], NULL, 10) : 30;
        if (want > 0 && s > 0)
            return events(want, s);
    }
    fprintf(stderr, "usage: fb-pattern draw | mode | events N [SECONDS]\n");
    return 2;
}
