/*
 * virtio-gpu, 2D only (virtio 1.2, 5.7): one scanout, resources in host memory, backing
 * pages in guest RAM, EDID, a cursor queue whose commands are checked and remembered.
 *
 * Every command is checked before it acts: a short command, an unknown type, a resource
 * id that is 0 or unknown (or already in use, on create), an unknown format, a rectangle
 * outside its resource (computed in 64 bits, so x + width cannot wrap), backing entries
 * outside guest RAM or more of them than the chain carries, a scanout id other than 0,
 * all get the matching VIRTIO_GPU_RESP_ERR_* and change nothing. Resources together may
 * hold at most VIRTIO_GPU_MAX_HOST_BYTES of host memory (ERR_OUT_OF_MEMORY beyond). Only
 * a chain without room for a response header is a protocol error (NEEDS_RESET).
 *
 * What the guest shows: a flush of (part of) the resource on scanout 0 converts those
 * pixels into the display surface (0x00RRGGBB words, width * height) and tells the
 * listener which rectangle changed; a set_scanout that changes the size gives the listener
 * a new surface. The host asks for another size with virtio_gpu_request_size(): display
 * info and EDID then report it, and a VIRTIO_GPU_EVENT_DISPLAY config event tells the
 * driver to look.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "devices/iov.h"
#include "devices/virtio/virtio_devices.h"
#include "util/log.h"

/* Commands and responses (5.7.6.7) */
enum {
    CMD_GET_DISPLAY_INFO = 0x0100,
    CMD_RESOURCE_CREATE_2D,
    CMD_RESOURCE_UNREF,
    CMD_SET_SCANOUT,
    CMD_RESOURCE_FLUSH,
    CMD_TRANSFER_TO_HOST_2D,
    CMD_RESOURCE_ATTACH_BACKING,
    CMD_RESOURCE_DETACH_BACKING,
    CMD_GET_CAPSET_INFO,
    CMD_GET_CAPSET,
    CMD_GET_EDID,
    CMD_UPDATE_CURSOR = 0x0300,
    CMD_MOVE_CURSOR,
    RESP_OK_NODATA = 0x1100,
    RESP_OK_DISPLAY_INFO,
    RESP_OK_CAPSET_INFO,
    RESP_OK_CAPSET,
    RESP_OK_EDID,
    RESP_ERR_UNSPEC = 0x1200,
    RESP_ERR_OUT_OF_MEMORY,
    RESP_ERR_INVALID_SCANOUT_ID,
    RESP_ERR_INVALID_RESOURCE_ID,
    RESP_ERR_INVALID_CONTEXT_ID,
    RESP_ERR_INVALID_PARAMETER,
};

#define GPU_F_EDID 1
#define GPU_FLAG_FENCE 1u
#define GPU_EVENT_DISPLAY 1u
#define HDR_SIZE 24
#define MAX_SCANOUTS 16           /* the display info response always has 16 entries */
#define DISPLAY_INFO_SIZE (HDR_SIZE + MAX_SCANOUTS * 24)
#define EDID_BLOCK 128
#define EDID_RESP_SIZE (HDR_SIZE + 8 + 1024)
#define MAX_DIM 16384u
#define MAX_BACKING_ENTRIES 16384u
#define CONFIG_SIZE 16

struct backing {
    uint64_t gpa;
    uint32_t len;
};

struct resource {
    uint32_t id, format, width, height;
    uint8_t *pixels;            /* width * height * 4, the guest's format */
    struct backing *backing;
    uint32_t nbacking;
    struct resource *next;
};

struct virtio_gpu {
    pthread_mutex_t lock;
    const struct guest_ram *ram;
    struct virtio_mmio *t;
    struct resource *resources;
    uint64_t host_bytes;
    /* scanout 0 */
    uint32_t scanout_res;       /* 0: disabled */
    struct virtio_gpu_rect scanout;
    uint32_t *surface, *retired; /* retired: the surface before the last resize */
    uint32_t sw, sh;
    /* what the display reports to the driver */
    uint32_t want_w, want_h;
    uint32_t events_read;
    struct virtio_gpu_cursor cursor;
    struct virtio_gpu_listener listener;
    void *listener_opaque;
    struct virtq_chain chain;
};

static uint32_t le32_at(const uint8_t *p)
{
    uint32_t v;
    memcpy(&v, p, 4);
    return v;
}

static struct resource *find(struct virtio_gpu *g, uint32_t id)
{
    for (struct resource *r = g->resources; r; r = r->next)
        if (r->id == id)
            return r;
    return NULL;
}

/* Byte positions of red, green and blue in a pixel of each format; false if unknown. */
static bool format_layout(uint32_t format, unsigned *r, unsigned *gr, unsigned *b)
{
    switch (format) {
    case 1: case 2: /* B8G8R8A8, B8G8R8X8 */
        *r = 2, *gr = 1, *b = 0;
        return true;
    case 3: case 4: /* A8R8G8B8, X8R8G8B8 */
        *r = 1, *gr = 2, *b = 3;
        return true;
    case 67: case 134: /* R8G8B8A8, R8G8B8X8 */
        *r = 0, *gr = 1, *b = 2;
        return true;
    case 68: case 121: /* X8B8G8R8, A8B8G8R8 */
        *r = 3, *gr = 2, *b = 1;
        return true;
    }
    return false;
}

/* The rectangle lies inside w x h (64-bit sums: nothing wraps). */
static bool rect_inside(const struct virtio_gpu_rect *r, uint32_t w, uint32_t h)
{
    return (uint64_t)r->x + r->width <= w && (uint64_t)r->y + r->height <= h;
}

static void read_rect(const uint8_t *p, struct virtio_gpu_rect *r)
{
    r->x = le32_at(p), r->y = le32_at(p + 4), r->width = le32_at(p + 8),
    r->height = le32_at(p + 12);
}

static void free_resource(struct virtio_gpu *g, struct resource *r)
{
    g->host_bytes -= (uint64_t)r->width * r->height * 4;
    free(r->pixels);
    free(r->backing);
    free(r);
}

/* Called with g->lock; the listener hears of the new surface. */
static void set_surface(struct virtio_gpu *g, uint32_t w, uint32_t h)
{
    if (g->surface && w == g->sw && h == g->sh)
        return;
    uint32_t *s = w && h ? calloc((size_t)w * h, 4) : NULL;
    if (w && h && !s)
        w = h = 0;
    free(g->retired);
    g->retired = g->surface;
    g->surface = s;
    g->sw = w, g->sh = h;
    if (g->listener.resize)
        g->listener.resize(g->listener_opaque, s, w, h);
}

/* Converts the resource's rectangle (resource coordinates) into the surface. */
static void blit(struct virtio_gpu *g, struct resource *res, const struct virtio_gpu_rect *r)
{
    unsigned ro, go, bo;
    if (!g->surface || !format_layout(res->format, &ro, &go, &bo))
        return;
    /* the part of r inside the scanout, in resource coordinates */
    uint64_t x0 = r->x > g->scanout.x ? r->x : g->scanout.x;
    uint64_t y0 = r->y > g->scanout.y ? r->y : g->scanout.y;
    uint64_t x1 = (uint64_t)r->x + r->width, y1 = (uint64_t)r->y + r->height;
    uint64_t sx1 = (uint64_t)g->scanout.x + g->sw, sy1 = (uint64_t)g->scanout.y + g->sh;
    if (x1 > sx1)
        x1 = sx1;
    if (y1 > sy1)
        y1 = sy1;
    if (x0 >= x1 || y0 >= y1)
        return;
    for (uint64_t y = y0; y < y1; y++) {
        const uint8_t *src = res->pixels + (y * res->width + x0) * 4;
        uint32_t *dst = g->surface + (y - g->scanout.y) * g->sw + (x0 - g->scanout.x);
        for (uint64_t x = x0; x < x1; x++, src += 4)
            *dst++ = (uint32_t)src[ro] << 16 | (uint32_t)src[go] << 8 | src[bo];
    }
    if (g->listener.update)
        g->listener.update(g->listener_opaque, (uint32_t)(x0 - g->scanout.x),
                           (uint32_t)(y0 - g->scanout.y), (uint32_t)(x1 - x0),
                           (uint32_t)(y1 - y0));
}

/* Copies len bytes at offset off of the resource's backing into dst; false if the
 * backing does not hold them all. */
static bool backing_read(struct virtio_gpu *g, struct resource *res, uint64_t off, uint8_t *dst,
                         uint64_t len)
{
    for (uint32_t i = 0; i < res->nbacking && len; i++) {
        const struct backing *b = &res->backing[i];
        if (off >= b->len) {
            off -= b->len;
            continue;
        }
        uint64_t n = b->len - off < len ? b->len - off : len;
        const uint8_t *src = guest_ram_ptr(g->ram, b->gpa + off, n);
        if (!src)
            return false;
        memcpy(dst, src, n);
        dst += n, len -= n, off = 0;
    }
    return len == 0;
}

static void make_edid(uint32_t w, uint32_t h, uint8_t *e)
{
    static const uint8_t header[8] = {0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0};
    memset(e, 0, EDID_BLOCK);
    memcpy(e, header, 8);
    /* manufacturer "CVE": 5-bit letters, big endian */
    uint16_t m = (uint16_t)(('C' - '@') << 10 | ('V' - '@') << 5 | ('E' - '@'));
    e[8] = (uint8_t)(m >> 8), e[9] = (uint8_t)m;
    e[10] = 1;              /* product */
    e[16] = 1, e[17] = 34;  /* week 1, 1990 + 34 */
    e[18] = 1, e[19] = 4;   /* EDID 1.4 */
    e[20] = 0xa5;           /* digital, 8 bits per colour, DisplayPort */
    e[21] = (uint8_t)(w / 40 > 255 ? 255 : w / 40); /* cm, about 100 dpi */
    e[22] = (uint8_t)(h / 40 > 255 ? 255 : h / 40);
    e[23] = 120;            /* gamma 2.2 */
    e[24] = 0x06;           /* sRGB, preferred timing is native */
    for (int i = 38; i < 54; i++)
        e[i] = 1;           /* no standard timings */
    /* detailed timing: the preferred mode, 60 Hz with small blanking */
    uint32_t hb = 160, vb = 30;
    uint64_t clock = ((uint64_t)(w + hb) * (h + vb) * 60 + 5000) / 10000; /* 10 kHz units */
    if (clock > 0xffff)
        clock = 0xffff;
    uint8_t *d = e + 54;
    d[0] = (uint8_t)clock, d[1] = (uint8_t)(clock >> 8);
    d[2] = (uint8_t)w, d[3] = (uint8_t)hb, d[4] = (uint8_t)((w >> 8 & 0xf) << 4 | (hb >> 8 & 0xf));
    d[5] = (uint8_t)h, d[6] = (uint8_t)vb, d[7] = (uint8_t)((h >> 8 & 0xf) << 4 | (vb >> 8 & 0xf));
    d[8] = 48, d[9] = 32, d[10] = 3 << 4 | 5, d[11] = 0;
    d[12] = (uint8_t)(w / 4), d[13] = (uint8_t)(h / 4), d[14] = (uint8_t)((w / 4 >> 8 & 0xf) << 4 | (h / 4 >> 8 & 0xf));
    d[17] = 0x1e;           /* digital separate sync, both positive */
    /* display name */
    static const uint8_t name[18] = {0, 0, 0, 0xfc, 0, 'c', 'o', 'v', 'e', '\n', ' ', ' ', ' ',
                                     ' ', ' ', ' ', ' ', ' '};
    memcpy(e + 72, name, 18);
    for (int k = 90; k < 126; k += 18)
        e[k + 3] = 0x10;    /* dummy descriptors */
    uint8_t sum = 0;
    for (int i = 0; i < 127; i++)
        sum = (uint8_t)(sum + e[i]);
    e[127] = (uint8_t)(0x100 - sum);
}

/* One control command: cmd/len are the readable bytes (len >= HDR_SIZE), resp gets the
 * response; returns its size. Called with g->lock. */
static size_t control(struct virtio_gpu *g, const struct virtq_chain *c, const uint8_t *cmd,
                      size_t len, uint8_t *resp)
{
    uint32_t type = le32_at(cmd), rtype = RESP_OK_NODATA;
    size_t rsize = HDR_SIZE;
    static const size_t need[] = {
        [CMD_GET_DISPLAY_INFO - 0x100] = HDR_SIZE, [CMD_RESOURCE_CREATE_2D - 0x100] = 40,
        [CMD_RESOURCE_UNREF - 0x100] = 32,         [CMD_SET_SCANOUT - 0x100] = 48,
        [CMD_RESOURCE_FLUSH - 0x100] = 48,         [CMD_TRANSFER_TO_HOST_2D - 0x100] = 56,
        [CMD_RESOURCE_ATTACH_BACKING - 0x100] = 32, [CMD_RESOURCE_DETACH_BACKING - 0x100] = 32,
        [CMD_GET_CAPSET_INFO - 0x100] = 32,        [CMD_GET_CAPSET - 0x100] = 32,
        [CMD_GET_EDID - 0x100] = 32,
    };
    if (type < 0x100 || type > CMD_GET_EDID || len < need[type - 0x100]) {
        rtype = RESP_ERR_UNSPEC;
        goto out;
    }
    const uint8_t *a = cmd + HDR_SIZE;
    switch (type) {
    case CMD_GET_DISPLAY_INFO: {
        rtype = RESP_OK_DISPLAY_INFO;
        rsize = DISPLAY_INFO_SIZE;
        memset(resp + HDR_SIZE, 0, DISPLAY_INFO_SIZE - HDR_SIZE);
        uint32_t pm[6] = {0, 0, g->want_w, g->want_h, 1, 0};
        memcpy(resp + HDR_SIZE, pm, sizeof pm);
        break;
    }
    case CMD_GET_EDID:
        if (le32_at(a) != 0) {
            rtype = RESP_ERR_INVALID_PARAMETER;
            break;
        }
        rtype = RESP_OK_EDID;
        rsize = EDID_RESP_SIZE;
        memset(resp + HDR_SIZE, 0, EDID_RESP_SIZE - HDR_SIZE);
        uint32_t size = EDID_BLOCK;
        memcpy(resp + HDR_SIZE, &size, 4);
        make_edid(g->want_w, g->want_h, resp + HDR_SIZE + 8);
        break;
    case CMD_RESOURCE_CREATE_2D: {
        uint32_t id = le32_at(a), format = le32_at(a + 4), w = le32_at(a + 8), h = le32_at(a + 12);
        unsigned x;
        if (id == 0 || find(g, id)) {
            rtype = RESP_ERR_INVALID_RESOURCE_ID;
        } else if (!format_layout(format, &x, &x, &x) || w == 0 || h == 0) {
            rtype = RESP_ERR_INVALID_PARAMETER;
        } else if (w > MAX_DIM || h > MAX_DIM ||
                   (uint64_t)w * h * 4 > VIRTIO_GPU_MAX_HOST_BYTES - g->host_bytes) {
            rtype = RESP_ERR_OUT_OF_MEMORY;
        } else {
            struct resource *r = calloc(1, sizeof *r);
            uint8_t *px = r ? calloc((size_t)w * h, 4) : NULL;
            if (!px) {
                free(r);
                rtype = RESP_ERR_OUT_OF_MEMORY;
                break;
            }
            *r = (struct resource){id, format, w, h, px, NULL, 0, g->resources};
            g->resources = r;
            g->host_bytes += (uint64_t)w * h * 4;
        }
        break;
    }
    case CMD_RESOURCE_UNREF: {
        uint32_t id = le32_at(a);
        struct resource **pp = &g->resources;
        while (*pp && (*pp)->id != id)
            pp = &(*pp)->next;
        if (id == 0 || !*pp) {
            rtype = RESP_ERR_INVALID_RESOURCE_ID;
            break;
        }
        struct resource *r = *pp;
        *pp = r->next;
        if (g->scanout_res == id)
            g->scanout_res = 0;
        free_resource(g, r);
        break;
    }
    case CMD_SET_SCANOUT: {
        struct virtio_gpu_rect rect;
        read_rect(a, &rect);
        uint32_t sid = le32_at(a + 16), id = le32_at(a + 20);
        struct resource *r = find(g, id);
        if (sid != 0) {
            rtype = RESP_ERR_INVALID_SCANOUT_ID;
        } else if (id == 0 || rect.width == 0 || rect.height == 0) {
            g->scanout_res = 0; /* disabled */
        } else if (!r) {
            rtype = RESP_ERR_INVALID_RESOURCE_ID;
        } else if (!rect_inside(&rect, r->width, r->height)) {
            rtype = RESP_ERR_INVALID_PARAMETER;
        } else {
            g->scanout_res = id;
            g->scanout = rect;
            set_surface(g, rect.width, rect.height);
            struct virtio_gpu_rect all = {0, 0, r->width, r->height};
            blit(g, r, &all);
        }
        break;
    }
    case CMD_RESOURCE_FLUSH: {
        struct virtio_gpu_rect rect;
        read_rect(a, &rect);
        struct resource *r = find(g, le32_at(a + 16));
        if (!r)
            rtype = RESP_ERR_INVALID_RESOURCE_ID;
        else if (!rect_inside(&rect, r->width, r->height))
            rtype = RESP_ERR_INVALID_PARAMETER;
        else if (r->id == g->scanout_res)
            blit(g, r, &rect);
        break;
    }
    case CMD_TRANSFER_TO_HOST_2D: {
        struct virtio_gpu_rect rect;
        read_rect(a, &rect);
        uint64_t off;
        memcpy(&off, a + 16, 8);
        struct resource *r = find(g, le32_at(a + 24));
        if (!r) {
            rtype = RESP_ERR_INVALID_RESOURCE_ID;
        } else if (!rect_inside(&rect, r->width, r->height)) {
            rtype = RESP_ERR_INVALID_PARAMETER;
        } else if (!r->backing) {
            rtype = RESP_ERR_UNSPEC;
        } else {
            uint64_t stride = (uint64_t)r->width * 4;
            for (uint32_t row = 0; row < rect.height; row++) {
                uint8_t *dst = r->pixels + (rect.y + row) * stride + (uint64_t)rect.x * 4;
                if (off > UINT64_MAX - stride * row ||
                    !backing_read(g, r, off + stride * row, dst, (uint64_t)rect.width * 4)) {
                    rtype = RESP_ERR_INVALID_PARAMETER;
                    break;
                }
            }
        }
        break;
    }
    case CMD_RESOURCE_ATTACH_BACKING: {
        struct resource *r = find(g, le32_at(a));
        uint32_t n = le32_at(a + 4);
        if (!r) {
            rtype = RESP_ERR_INVALID_RESOURCE_ID;
            break;
        }
        /* the entries follow the command in the readable part of the chain */
        if (r->backing || n == 0 || n > MAX_BACKING_ENTRIES ||
            c->out_len < 32 + (size_t)n * 16) {
            rtype = RESP_ERR_INVALID_PARAMETER;
            break;
        }
        struct backing *b = calloc(n, sizeof *b);
        if (!b) {
            rtype = RESP_ERR_OUT_OF_MEMORY;
            break;
        }
        for (uint32_t i = 0; i < n; i++) {
            uint8_t e[16];
            iov_to_buf(c->iov, c->n_out, 32 + (size_t)i * 16, e, 16);
            memcpy(&b[i].gpa, e, 8);
            b[i].len = le32_at(e + 8);
            if (!guest_ram_contains(g->ram, b[i].gpa, b[i].len)) {
                rtype = RESP_ERR_INVALID_PARAMETER;
                break;
            }
        }
        if (rtype != RESP_OK_NODATA) {
            free(b);
            break;
        }
        r->backing = b;
        r->nbacking = n;
        break;
    }
    case CMD_RESOURCE_DETACH_BACKING: {
        struct resource *r = find(g, le32_at(a));
        if (!r) {
            rtype = RESP_ERR_INVALID_RESOURCE_ID;
            break;
        }
        free(r->backing);
        r->backing = NULL;
        r->nbacking = 0;
        break;
    }
    default: /* capsets: there are none */
        rtype = RESP_ERR_INVALID_PARAMETER;
        break;
    }
out:
    memset(resp, 0, HDR_SIZE);
    memcpy(resp, &rtype, 4);
    uint32_t flags = le32_at(cmd + 4);
    if (len >= HDR_SIZE && (flags & GPU_FLAG_FENCE)) {
        memcpy(resp + 4, &flags, 4);
        memcpy(resp + 8, cmd + 8, 12); /* fence id, ctx id */
        resp[20] = cmd[20];            /* ring index */
    }
    return rsize;
}

static int gpu_serve_control(void *dev, struct virtq *vq, struct virtq_chain *c)
{
    struct virtio_gpu *g = dev;
    if (c->in_len < HDR_SIZE)
        return virtq_fail(vq, "virtio-gpu: a command without room for its response");
    static __thread uint8_t cmd[56], resp[EDID_RESP_SIZE];
    size_t len = iov_to_buf(c->iov, c->n_out, 0, cmd, sizeof cmd);
    memset(cmd + len, 0, sizeof cmd - len);
    size_t rsize;
    if (len < HDR_SIZE) {
        uint32_t t = RESP_ERR_UNSPEC;
        memset(resp, 0, HDR_SIZE);
        memcpy(resp, &t, 4);
        rsize = HDR_SIZE;
    } else {
        pthread_mutex_lock(&g->lock);
        rsize = control(g, c, cmd, c->out_len, resp);
        pthread_mutex_unlock(&g->lock);
    }
    if (rsize > c->in_len) { /* a response that does not fit: say so in the header */
        uint32_t t = RESP_ERR_UNSPEC;
        memcpy(resp, &t, 4);
        rsize = HDR_SIZE;
    }
    size_t n = iov_from_buf(c->iov + c->n_out, c->n_in, 0, resp, rsize);
    virtq_push(vq, c->head, (uint32_t)n);
    return 0;
}

/* Cursor commands have no response; each is checked and remembered. */
static int gpu_serve_cursor(void *dev, struct virtq *vq, struct virtq_chain *c)
{
    struct virtio_gpu *g = dev;
    uint8_t cmd[56] = {0};
    if (iov_to_buf(c->iov, c->n_out, 0, cmd, sizeof cmd) == sizeof cmd) {
        uint32_t type = le32_at(cmd), sid = le32_at(cmd + 24);
        pthread_mutex_lock(&g->lock);
        if ((type == CMD_UPDATE_CURSOR || type == CMD_MOVE_CURSOR) && sid == 0) {
            g->cursor.x = le32_at(cmd + 28);
            g->cursor.y = le32_at(cmd + 32);
            if (type == CMD_UPDATE_CURSOR) {
                uint32_t id = le32_at(cmd + 40);
                g->cursor.resource_id = id && find(g, id) ? id : 0;
                g->cursor.hot_x = le32_at(cmd + 44);
                g->cursor.hot_y = le32_at(cmd + 48);
            }
            g->cursor.updates++;
        }
        pthread_mutex_unlock(&g->lock);
    }
    virtq_push(vq, c->head, 0);
    return 0;
}

static int gpu_queue(void *dev, unsigned q, struct virtq *vq)
{
    struct virtio_gpu *g = dev;
    return virtio_queue_serve(vq, &g->chain, NULL, q == 0 ? gpu_serve_control : gpu_serve_cursor,
                              g);
}

static void gpu_config_read(void *dev, uint8_t *buf)
{
    struct virtio_gpu *g = dev;
    pthread_mutex_lock(&g->lock);
    uint32_t cfg[4] = {g->events_read, 0, 1, 0}; /* events_read, events_clear, scanouts, capsets */
    pthread_mutex_unlock(&g->lock);
    memcpy(buf, cfg, CONFIG_SIZE);
}

/* events_clear (bytes 4..7) clears the events the driver has seen. */
static void gpu_config_write(void *dev, uint64_t offset, unsigned len, uint64_t value)
{
    struct virtio_gpu *g = dev;
    uint32_t clear = 0;
    for (unsigned i = 0; i < len; i++)
        if (offset + i >= 4 && offset + i < 8)
            clear |= (uint32_t)(uint8_t)(value >> (8 * i)) << (8 * (offset + i - 4));
    pthread_mutex_lock(&g->lock);
    g->events_read &= ~clear;
    pthread_mutex_unlock(&g->lock);
}

static void drop_resources(struct virtio_gpu *g)
{
    while (g->resources) {
        struct resource *r = g->resources;
        g->resources = r->next;
        free_resource(g, r);
    }
    g->scanout_res = 0;
}

static void gpu_reset(void *dev)
{
    struct virtio_gpu *g = dev;
    pthread_mutex_lock(&g->lock);
    drop_resources(g);
    g->events_read = 0;
    memset(&g->cursor, 0, sizeof g->cursor);
    pthread_mutex_unlock(&g->lock);
}

static void gpu_destroy(void *dev)
{
    struct virtio_gpu *g = dev;
    drop_resources(g);
    free(g->surface);
    free(g->retired);
    pthread_mutex_destroy(&g->lock);
    free(g);
}

static const struct virtio_device_ops gpu_ops = {
    .name = "gpu",
    .device_id = VIRTIO_ID_GPU,
    .features = 1ull << GPU_F_EDID,
    .num_queues = 2,
    .queue_max = 256,
    .config_size = CONFIG_SIZE,
    .config_read = gpu_config_read,
    .config_write = gpu_config_write,
    .queue_handler = gpu_queue,
    .reset = gpu_reset,
    .destroy = gpu_destroy,
};

int virtio_gpu_create(const struct virtio_mmio_params *p, uint32_t width, uint32_t height,
                      struct virtio_mmio **out, struct virtio_gpu **dev_out,
                      struct cove_error *err)
{
    if (width == 0 || height == 0 || width > MAX_DIM || height > MAX_DIM)
        return cove_error_set(err, -EINVAL, "virtio-gpu: a display of %ux%u; give 1..%u each",
                              width, height, MAX_DIM);
    struct virtio_gpu *g = calloc(1, sizeof *g);
    if (!g)
        return cove_error_set(err, -ENOMEM, "virtio-gpu: out of memory");
    pthread_mutex_init(&g->lock, NULL);
    g->ram = p->ram;
    g->want_w = width, g->want_h = height;
    int rc = virtio_mmio_create(p, &gpu_ops, g, out, err);
    if (rc < 0)
        return rc;
    g->t = *out;
    if (dev_out)
        *dev_out = g;
    return 0;
}

void virtio_gpu_set_listener(struct virtio_gpu *g, const struct virtio_gpu_listener *l,
                             void *opaque)
{
    pthread_mutex_lock(&g->lock);
    g->listener = *l;
    g->listener_opaque = opaque;
    if (l->resize && g->surface)
        l->resize(opaque, g->surface, g->sw, g->sh);
    pthread_mutex_unlock(&g->lock);
}

void virtio_gpu_request_size(struct virtio_gpu *g, uint32_t width, uint32_t height)
{
    if (width == 0 || height == 0 || width > MAX_DIM || height > MAX_DIM)
        return;
    pthread_mutex_lock(&g->lock);
    g->want_w = width, g->want_h = height;
    g->events_read |= GPU_EVENT_DISPLAY;
    pthread_mutex_unlock(&g->lock);
    virtio_mmio_config_changed(g->t);
}

void virtio_gpu_get_state(struct virtio_gpu *g, struct virtio_gpu_state *out)
{
    pthread_mutex_lock(&g->lock);
    out->width = g->sw;
    out->height = g->sh;
    out->scanout_resource = g->scanout_res;
    out->host_bytes = g->host_bytes;
    out->cursor = g->cursor;
    pthread_mutex_unlock(&g->lock);
}

bool virtio_gpu_pixel(struct virtio_gpu *g, uint32_t x, uint32_t y, uint32_t *rgb)
{
    pthread_mutex_lock(&g->lock);
    bool ok = g->surface && x < g->sw && y < g->sh;
    if (ok)
        *rgb = g->surface[(size_t)y * g->sw + x];
    pthread_mutex_unlock(&g->lock);
    return ok;
}

bool virtio_gpu_copy_surface(struct virtio_gpu *g, uint32_t *dst, uint32_t width, uint32_t height)
{
    pthread_mutex_lock(&g->lock);
    bool same = g->surface && g->sw == width && g->sh == height;
    if (same)
        memcpy(dst, g->surface, (size_t)width * height * 4);
    pthread_mutex_unlock(&g->lock);
    return same;
}
