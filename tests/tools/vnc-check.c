/*
 * vnc-check: a small VNC client (libvncclient) for tests/integration/display.sh.
 *
 *     vnc-check SERVER [-p PASSWORD] STEP...
 *
 * SERVER is a Unix socket path or HOST:PORT. Steps, in order:
 *   pattern        waits (30 s) until the screen shows tests/guest/fb-pattern's pattern,
 *                  every pixel; prints "pattern ok WxH", else the first wrong pixels
 *   size W H       waits (30 s) until the screen is W x H; prints "size ok WxH"
 *   key KEYSYM     presses and releases KEYSYM (hex 0x..., or one character)
 *   pointer X Y B  moves the pointer to X,Y with button mask B
 *   resize W H     asks for a W x H desktop (ExtendedDesktopSize)
 *   sleep MS       keeps serving the connection for MS milliseconds
 *   cut TEXT       sends TEXT as the client's cut text (ClientCutText)
 *   servercut TEXT waits (S seconds, default 30, VNC_CHECK_CUT_WAIT) until the server's cut
 *                  text (ServerCutText, Latin-1: TEXT's bytes as given) is TEXT; prints
 *                  "servercut ok", else what came last
 *   save FILE      writes the screen to FILE (binary PPM)
 *   rate S         counts the updates of S seconds; prints "rate F screens/s U updates/s",
 *                  F the pixels updated per second in full screens (bench/display.sh)
 *   latency N      N times: presses and releases 'a' and times until the pixel at (0,0)
 *                  changes (fb-pattern keyflip in the guest); prints "latency MEDIAN MIN
 *                  MAX ms" (bench/display.sh)
 * Exit 0 when every step did what it says; 1 with a line on stderr otherwise.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <rfb/rfbclient.h>

static const char *password;

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

static void quiet(const char *fmt, ...) {}

/* what the server has sent, for rate */
static double updated_pixels;
static long updates;

static void got_update(rfbClient *cl, int x, int y, int w, int h)
{
    updated_pixels += (double)w * h;
}

static void finished_update(rfbClient *cl) { updates++; }

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* the server's last cut text, for servercut */
static char *server_cut;
static int server_cut_len = -1;

static void got_cut_text(rfbClient *cl, const char *text, int len)
{
    free(server_cut);
    server_cut = malloc((size_t)len + 1);
    if (server_cut) {
        memcpy(server_cut, text, (size_t)len);
        server_cut[len] = 0;
    }
    server_cut_len = server_cut ? len : -1;
}

static char *get_password(rfbClient *cl) { return strdup(password ? password : ""); }

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static int pump(rfbClient *cl, int usec)
{
    int r = WaitForMessage(cl, (unsigned)usec);
    if (r < 0)
        return -1;
    if (r > 0 && !HandleRFBServerMessage(cl))
        return -1;
    return 0;
}

/* mismatches of the pattern; the first few into msg */
static long check_pattern(rfbClient *cl, char *msg, size_t n)
{
    uint32_t w = (uint32_t)cl->width, h = (uint32_t)cl->height;
    const uint32_t *fb = (const uint32_t *)cl->frameBuffer;
    long bad = 0;
    uint32_t bx0 = w, by0 = h, bx1 = 0, by1 = 0;
    msg[0] = 0;
    for (uint32_t y = 0; y < h; y++)
        for (uint32_t x = 0; x < w; x++) {
            uint32_t got = fb[(size_t)y * w + x] & 0xffffff, want = fb_pattern_pixel(x, y, w, h);
            if (got != want) {
                bx0 = x < bx0 ? x : bx0, by0 = y < by0 ? y : by0;
                bx1 = x > bx1 ? x : bx1, by1 = y > by1 ? y : by1;
            }
            if (got != want && bad++ < 3) {
                size_t l = strlen(msg);
                snprintf(msg + l, n - l, " (%u,%u)=%06x want %06x", x, y, got, want);
            }
        }
    if (bad) {
        size_t l = strlen(msg);
        snprintf(msg + l, n - l, "; all in (%u,%u)-(%u,%u)", bx0, by0, bx1, by1);
    }
    return bad;
}

static rfbBool resize_fb(rfbClient *cl)
{
    free(cl->frameBuffer);
    cl->frameBuffer = calloc((size_t)cl->width * cl->height, 4);
    SendFramebufferUpdateRequest(cl, 0, 0, cl->width, cl->height, FALSE);
    return cl->frameBuffer != NULL;
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: vnc-check SERVER [-p PASSWORD] STEP...\n");
        return 2;
    }
    int i = 2;
    if (!strcmp(argv[i], "-p") && i + 1 < argc) {
        password = argv[i + 1];
        i += 2;
    }
    rfbClientLog = quiet;
    rfbClientErr = getenv("VNC_CHECK_DEBUG") ? rfbClientErr : quiet;
    rfbClient *cl = rfbGetClient(8, 3, 4);
    cl->format.redShift = 16, cl->format.greenShift = 8, cl->format.blueShift = 0;
    cl->format.redMax = cl->format.greenMax = cl->format.blueMax = 255;
    cl->appData.encodingsString = "zrle zlib hextile copyrect raw"; /* lossless only */
    cl->appData.enableJPEG = FALSE;
    cl->GetPassword = get_password;
    cl->MallocFrameBuffer = resize_fb;
    cl->canHandleNewFBSize = TRUE;
    cl->GotFrameBufferUpdate = got_update;
    cl->FinishedFrameBufferUpdate = finished_update;
    cl->GotXCutText = got_cut_text;
    free(cl->serverHost); /* rfbGetClient's "" */
    char *colon = strrchr(argv[1], ':');
    if (argv[1][0] != '/' && colon) {
        *colon = 0;
        cl->serverHost = strdup(argv[1]);
        cl->serverPort = atoi(colon + 1);
    } else {
        cl->serverHost = strdup(argv[1]);
    }
    int cargc = 1;
    char *cargv[] = {"vnc-check", NULL};
    if (!rfbInitClient(cl, &cargc, cargv)) {
        fprintf(stderr, "vnc-check: cannot connect to %s (or refused)\n", argv[1]);
        return 1;
    }
    for (; i < argc; i++) {
        const char *s = argv[i];
        if (!strcmp(s, "pattern") || (!strcmp(s, "size") && i + 2 < argc)) {
            bool pat = !strcmp(s, "pattern");
            int w = pat ? 0 : atoi(argv[i + 1]), h = pat ? 0 : atoi(argv[i + 2]);
            char msg[256] = "";
            long bad = -1;
            double end = now_s() + 30;
            SendFramebufferUpdateRequest(cl, 0, 0, cl->width, cl->height, FALSE);
            while (now_s() < end) {
                if (pump(cl, 100000) < 0) {
                    fprintf(stderr, "vnc-check: the server went away\n");
                    return 1;
                }
                if (pat ? (bad = check_pattern(cl, msg, sizeof msg)) == 0
                        : cl->width == w && cl->height == h)
                    break;
            }
            if (pat && bad != 0) {
                fprintf(stderr, "vnc-check: %ld pixels differ from the pattern on %dx%d:%s\n", bad,
                        cl->width, cl->height, msg);
                return 1;
            }
            if (!pat && (cl->width != w || cl->height != h)) {
                fprintf(stderr, "vnc-check: the screen is %dx%d, not %dx%d\n", cl->width,
                        cl->height, w, h);
                return 1;
            }
            printf("%s ok %dx%d\n", s, cl->width, cl->height);
            fflush(stdout);
            if (!pat)
                i += 2;
        } else if (!strcmp(s, "key") && i + 1 < argc) {
            const char *k = argv[++i];
            uint32_t sym = strncmp(k, "0x", 2) ? (uint8_t)k[0] : (uint32_t)strtoul(k, NULL, 16);
            if (!SendKeyEvent(cl, sym, TRUE) || !SendKeyEvent(cl, sym, FALSE))
                return 1;
        } else if (!strcmp(s, "pointer") && i + 3 < argc) {
            if (!SendPointerEvent(cl, atoi(argv[i + 1]), atoi(argv[i + 2]), atoi(argv[i + 3])))
                return 1;
            i += 3;
        } else if (!strcmp(s, "resize") && i + 2 < argc) {
            /* the server says it takes SetDesktopSize in its first update */
            double end = now_s() + 10;
            SendFramebufferUpdateRequest(cl, 0, 0, cl->width, cl->height, FALSE);
            while (!SupportsClient2Server(cl, rfbSetDesktopSize) && now_s() < end)
                if (pump(cl, 50000) < 0)
                    return 1;
            if (!SupportsClient2Server(cl, rfbSetDesktopSize) ||
                !SendExtDesktopSize(cl, (uint16_t)atoi(argv[i + 1]), (uint16_t)atoi(argv[i + 2]))) {
                fprintf(stderr, "vnc-check: the server does not take ExtendedDesktopSize\n");
                return 1;
            }
            i += 2;
        } else if (!strcmp(s, "save") && i + 1 < argc) {
            /* the screen as a binary PPM, for a person to look at */
            FILE *f = fopen(argv[++i], "wb");
            if (!f)
                return 1;
            fprintf(f, "P6\n%d %d\n255\n", cl->width, cl->height);
            const uint32_t *fb = (const uint32_t *)cl->frameBuffer;
            for (long k = 0; k < (long)cl->width * cl->height; k++) {
                uint8_t rgb[3] = {(uint8_t)(fb[k] >> 16), (uint8_t)(fb[k] >> 8), (uint8_t)fb[k]};
                fwrite(rgb, 1, 3, f);
            }
            fclose(f);
        } else if (!strcmp(s, "rate") && i + 1 < argc) {
            double t0 = now_s(), end = t0 + atof(argv[++i]);
            updated_pixels = 0, updates = 0;
            while (now_s() < end)
                if (pump(cl, 10000) < 0)
                    return 1;
            double dt = now_s() - t0, screen = (double)cl->width * cl->height;
            printf("rate %.2f screens/s %.2f updates/s\n", updated_pixels / screen / dt,
                   updates / dt);
            fflush(stdout);
        } else if (!strcmp(s, "latency") && i + 1 < argc) {
            int n = atoi(argv[++i]);
            if (n < 1 || n > 10000)
                return 2;
            double *ms = calloc((size_t)n, sizeof *ms);
            if (!ms)
                return 1;
            for (int k = 0; k < n; k++) {
                /* settle: nothing changes for 200 ms */
                double quiet_until = now_s() + 0.2;
                long seen = updates;
                while (now_s() < quiet_until) {
                    if (pump(cl, 10000) < 0)
                        return 1;
                    if (updates != seen)
                        seen = updates, quiet_until = now_s() + 0.2;
                }
                uint32_t before = ((const uint32_t *)cl->frameBuffer)[0] & 0xffffff;
                double t0 = now_s(), end = t0 + 10;
                if (!SendKeyEvent(cl, 'a', TRUE) || !SendKeyEvent(cl, 'a', FALSE))
                    return 1;
                while ((((const uint32_t *)cl->frameBuffer)[0] & 0xffffff) == before) {
                    if (now_s() > end) {
                        fprintf(stderr, "vnc-check: key %d: the screen did not change in 10 s\n",
                                k + 1);
                        return 1;
                    }
                    if (pump(cl, 1000) < 0)
                        return 1;
                }
                ms[k] = (now_s() - t0) * 1000;
            }
            qsort(ms, (size_t)n, sizeof *ms, cmp_double);
            printf("latency %.1f %.1f %.1f ms\n", ms[(n - 1) / 2], ms[0], ms[n - 1]);
            fflush(stdout);
            free(ms);
        } else if (!strcmp(s, "cut") && i + 1 < argc) {
            char *text = argv[++i];
            if (!SendClientCutText(cl, text, (int)strlen(text)))
                return 1;
        } else if (!strcmp(s, "servercut") && i + 1 < argc) {
            const char *want = argv[++i], *w = getenv("VNC_CHECK_CUT_WAIT");
            double end = now_s() + (w ? atof(w) : 30);
            while (!(server_cut_len == (int)strlen(want) && !memcmp(server_cut, want, strlen(want)))) {
                if (now_s() > end) {
                    fprintf(stderr, "vnc-check: the server's cut text is %s%s%s, not '%s'\n",
                            server_cut_len < 0 ? "" : "'", server_cut_len < 0 ? "none" : server_cut,
                            server_cut_len < 0 ? "" : "'", want);
                    return 1;
                }
                if (pump(cl, 50000) < 0) {
                    fprintf(stderr, "vnc-check: the server went away\n");
                    return 1;
                }
            }
            printf("servercut ok\n");
            fflush(stdout);
        } else if (!strcmp(s, "sleep") && i + 1 < argc) {
            double end = now_s() + atoi(argv[++i]) / 1000.0;
            while (now_s() < end)
                if (pump(cl, 50000) < 0)
                    return 1;
        } else {
            fprintf(stderr, "vnc-check: unknown step '%s'\n", s);
            return 2;
        }
    }
    free(cl->frameBuffer); /* ours (resize_fb), not the library's to free */
    cl->frameBuffer = NULL;
    rfbClientCleanup(cl);
    return 0;
}
