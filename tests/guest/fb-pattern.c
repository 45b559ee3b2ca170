/*
 * fb-pattern: the guest side of tests/integration/display.sh. Runs inside the default guest
 * (installed as /usr/bin/fb-pattern):
 *
 *     fb-pattern draw            draws the test pattern on /dev/fb0, prints the mode
 *     fb-pattern mode            prints the current mode of /dev/fb0
 *     fb-pattern events N [S]    reads N events (EV_SYN left out) from every
 *                                /dev/input/event*, one line each, within S seconds (30)
 *     fb-pattern flood S         for S seconds, redraws the whole screen, a new colour
 *                                each frame, as fast as it can (bench/display.sh)
 *     fb-pattern keyflip N [S]   on each key press (any /dev/input/event*), fills the
 *                                top left 128 x 128 with the next colour; stops after N
 *                                presses or S seconds (60) (bench/display.sh)
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
 *   flood start / flood N frames in MS ms    (flood)
 *   keyflip ready / keyflip N presses        (keyflip)
 * Exit status 0, or 1 with one line on stderr (no framebuffer, timeout, ...).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/fb.h>
#include <linux/input.h>
#include <linux/kd.h>
#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
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

/* Opens every /dev/input/event* into pfd (idx: its number); prints "device eventK NAME"
 * for each when say is set. The count, or -1 with a line on stderr for none. */
static int open_inputs(struct pollfd *pfd, int *idx, bool say)
{
    int n = 0;
    for (int i = 0; i < MAX_DEVS; i++) {
        char path[32], name[128] = "?";
        snprintf(path, sizeof path, "/dev/input/event%d", i);
        int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
        if (fd < 0)
            continue;
        ioctl(fd, EVIOCGNAME(sizeof name - 1), name);
        if (say)
            printf("device event%d %s\n", i, name);
        pfd[n] = (struct pollfd){.fd = fd, .events = POLLIN};
        idx[n++] = i;
    }
    if (n == 0) {
        fprintf(stderr, "fb-pattern: no /dev/input/event* device\n");
        return -1;
    }
    return n;
}

static int events(long want, long seconds)
{
    struct pollfd pfd[MAX_DEVS];
    int idx[MAX_DEVS], n = open_inputs(pfd, idx, true);
    if (n < 0)
        return 1;
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

/* /dev/fb0 mapped, in graphics mode (no fbcon cursor); NULL with a line on stderr. */
static uint32_t *map_fb(struct fb_var_screeninfo *var, struct fb_fix_screeninfo *fix, int *fd)
{
    int tty = open("/dev/tty0", O_RDWR | O_CLOEXEC);
    if (tty >= 0) {
        ioctl(tty, KDSETMODE, KD_GRAPHICS);
        close(tty);
    }
    if ((*fd = open_fb(var, fix)) < 0 || var->bits_per_pixel != 32) {
        fprintf(stderr, "fb-pattern: no 32-bit /dev/fb0\n");
        return NULL;
    }
    void *p = mmap(NULL, (size_t)fix->line_length * var->yres, PROT_READ | PROT_WRITE,
                   MAP_SHARED, *fd, 0);
    if (p == MAP_FAILED) {
        die("mmap /dev/fb0");
        return NULL;
    }
    return p;
}

/* Fills w x h at the top left with colour c, then has the fbdev emulation flush the
 * damage at once (fsync: no wait for its deferred-I/O delay). */
static void fill(uint32_t *fb, const struct fb_fix_screeninfo *fix, int fd, uint32_t w,
                 uint32_t h, uint32_t c)
{
    for (uint32_t y = 0; y < h; y++) {
        uint32_t *row = fb + (size_t)y * (fix->line_length / 4);
        for (uint32_t x = 0; x < w; x++)
            row[x] = c;
    }
    fsync(fd);
}

static uint32_t colour(long i)
{
    static const uint32_t c[] = {0xff0000, 0x00ff00, 0x0000ff, 0xffff00, 0x00ffff, 0xff00ff};
    return c[i % 6];
}

static int flood(long seconds)
{
    struct fb_var_screeninfo var;
    struct fb_fix_screeninfo fix;
    int fd;
    uint32_t *fb = map_fb(&var, &fix, &fd);
    if (!fb)
        return 1;
    printf("flood start\n");
    fflush(stdout);
    int64_t t0 = now_ms(), end = t0 + seconds * 1000;
    long frames = 0;
    while (now_ms() < end)
        fill(fb, &fix, fd, var.xres, var.yres, colour(frames++));
    printf("flood %ld frames in %lld ms\n", frames, (long long)(now_ms() - t0));
    return 0;
}

static int keyflip(long presses, long seconds)
{
    struct fb_var_screeninfo var;
    struct fb_fix_screeninfo fix;
    struct pollfd pfd[MAX_DEVS];
    int idx[MAX_DEVS], fd, n = open_inputs(pfd, idx, false);
    uint32_t *fb = n < 0 ? NULL : map_fb(&var, &fix, &fd);
    if (!fb)
        return 1;
    uint32_t side = var.xres < 128 || var.yres < 128 ? 1 : 128;
    long got = 0;
    fill(fb, &fix, fd, side, side, 0);
    printf("keyflip ready\n");
    fflush(stdout);
    int64_t end = now_ms() + seconds * 1000;
    while (got < presses && now_ms() < end) {
        int r = poll(pfd, (nfds_t)n, (int)(end - now_ms()));
        if (r < 0 && errno != EINTR)
            return die("poll");
        for (int i = 0; i < n; i++) {
            struct input_event ev;
            while ((pfd[i].revents & POLLIN) && read(pfd[i].fd, &ev, sizeof ev) == sizeof ev)
                if (ev.type == EV_KEY && ev.value == 1)
                    fill(fb, &fix, fd, side, side, colour(++got));
        }
    }
    printf("keyflip %ld presses\n", got);
    return got == presses ? 0 : 1;
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
    if (argc == 3 && !strcmp(argv[1], "flood") && strtol(argv[2], NULL, 10) > 0)
        return flood(strtol(argv[2], NULL, 10));
    if ((argc == 3 || argc == 4) && !strcmp(argv[1], "keyflip")) {
        long want = strtol(argv[2], NULL, 10), s = argc == 4 ? strtol(argv[3], NULL, 10) : 60;
        if (want > 0 && s > 0)
            return keyflip(want, s);
    }
    fprintf(stderr, "usage: fb-pattern draw | mode | events N [SECONDS] | flood SECONDS | "
                    "keyflip N [SECONDS]\n");
    return 2;
}
