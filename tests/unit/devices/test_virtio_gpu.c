/* virtio-gpu and virtio-input driven through real virtqueues in a RAM buffer (vdriver.h):
 * a 2D resource with backing in guest RAM goes through transfer, scanout and flush to the
 * display surface pixel for pixel, the listener hears of the size and the flushed
 * rectangle; bogus commands get the virtio-gpu error responses and change nothing; a
 * command without room for its response needs a reset; display info, EDID and a display
 * change; the input devices answer config queries and deliver host events in order. */
#include <errno.h>
#include <stdio.h>

#include "../test.h"
#include "devices/virtio/virtio_devices.h"
#include "vdriver.h"

#define OK_NODATA 0x1100
#define OK_DISPLAY_INFO 0x1101
#define OK_EDID 0x1104
#define ERR_UNSPEC 0x1200
#define ERR_OUT_OF_MEMORY 0x1201
#define ERR_INVALID_SCANOUT_ID 0x1202
#define ERR_INVALID_RESOURCE_ID 0x1203
#define ERR_INVALID_PARAMETER 0x1205
#define H(t) t, 0, 0, 0, 0, 0

struct env {
    struct vdriver d;
    struct virtio_gpu *g;
    uint64_t cmd, resp;
    unsigned resizes, updates;
    uint32_t rw, rh, ux, uy, uw, uh;
};

static void on_resize(void *o, const uint32_t *s, uint32_t w, uint32_t h)
{
    struct env *e = o;
    e->resizes++, e->rw = w, e->rh = h;
}

static void on_update(void *o, uint32_t x, uint32_t y, uint32_t w, uint32_t h)
{
    struct env *e = o;
    e->updates++, e->ux = x, e->uy = y, e->uw = w, e->uh = h;
}

static void setup(struct env *e)
{
    struct cove_error err;
    memset(e, 0, sizeof *e);
    vd_ram_init(&e->d);
    struct virtio_mmio_params p = vd_params(&e->d, NULL);
    if (virtio_gpu_create(&p, 640, 480, &e->d.t, &e->g, &err) < 0) {
        printf("  %s\n", err.message);
        exit(1);
    }
    static const struct virtio_gpu_listener l = {on_resize, on_update};
    virtio_gpu_set_listener(e->g, &l, e);
    vd_negotiate(&e->d, VD_BASE_FEATURES | 2 /* EDID */);
    vd_queue_setup(&e->d, 0, 16);
    vd_queue_setup(&e->d, 1, 16);
    vd_driver_ok(&e->d);
    e->cmd = vd_alloc(&e->d, 4096);
    e->resp = vd_alloc(&e->d, 2048);
}

/* Posts words as a command (plus extra bytes after it), returns the response type. */
static uint32_t cmd(struct env *e, const uint32_t *w, uint32_t len, const void *extra,
                    uint32_t extra_len)
{
    memcpy(vd_ptr(&e->d, e->cmd), w, len);
    if (extra_len)
        memcpy(vd_ptr(&e->d, e->cmd + len), extra, extra_len);
    memset(vd_ptr(&e->d, e->resp), 0xee, 2048);
    struct vd_buf b[2] = {{e->cmd, len + extra_len, false}, {e->resp, 2048, true}};
    vd_post(&e->d, 0, b, 2);
    vd_notify(&e->d, 0);
    uint32_t id, n, t;
    if (!vd_get_used(&e->d, 0, &id, &n, 2000))
        return 0;
    memcpy(&t, vd_ptr(&e->d, e->resp), 4);
    return t;
}

#define CMD(e, ...)                                                                        \
    ({                                                                                      \
        const uint32_t w_[] = {__VA_ARGS__};                                                \
        cmd(e, w_, sizeof w_, NULL, 0);                                                     \
    })

/* A 64x32 B8G8R8X8 resource (id 5) whose backing is two guest buffers. */
static uint64_t make_resource(struct env *e)
{
    CHECK_EQ_U64(CMD(e, H(0x101), 5, 2, 64, 32), OK_NODATA);
    uint64_t px = vd_alloc(&e->d, 64 * 32 * 4);
    uint8_t *p = vd_ptr(&e->d, px);
    for (unsigned y = 0; y < 32; y++)
        for (unsigned x = 0; x < 64; x++) {
            uint8_t *q = p + (y * 64 + x) * 4;
            q[0] = (uint8_t)x, q[1] = (uint8_t)y, q[2] = 0x80, q[3] = 0; /* B G R X */
        }
    uint32_t entries[8] = {(uint32_t)px, (uint32_t)(px >> 32), 4096, 0,
                           (uint32_t)(px + 4096), (uint32_t)((px + 4096) >> 32), 64 * 32 * 4 - 4096, 0};
    const uint32_t attach[] = {H(0x106), 5, 2};
    CHECK_EQ_U64(cmd(e, attach, sizeof attach, entries, sizeof entries), OK_NODATA);
    return px;
}

TEST(draw_and_flush)
{
    struct env e;
    setup(&e);
    make_resource(&e);
    CHECK_EQ_U64(CMD(&e, H(0x105), 0, 0, 64, 32, 0, 0, 5, 0), OK_NODATA); /* transfer */
    CHECK_EQ_U64(CMD(&e, H(0x103), 0, 0, 64, 32, 0, 5), OK_NODATA);       /* scanout */
    CHECK_EQ_U64(e.resizes, 1);
    CHECK_EQ_U64(e.rw, 64);
    CHECK_EQ_U64(e.rh, 32);
    CHECK_EQ_U64(CMD(&e, H(0x104), 8, 4, 16, 8, 5, 0), OK_NODATA); /* flush */
    CHECK_EQ_U64(e.ux, 8);
    CHECK_EQ_U64(e.uy, 4);
    CHECK_EQ_U64(e.uw, 16);
    CHECK_EQ_U64(e.uh, 8);
    uint32_t rgb = 0;
    CHECK(virtio_gpu_pixel(e.g, 10, 20, &rgb));
    CHECK_EQ_U64(rgb, 0x80140a); /* R 0x80, G y=20, B x=10 */
    CHECK(virtio_gpu_pixel(e.g, 63, 31, &rgb));
    CHECK_EQ_U64(rgb, 0x801f3f);
    CHECK(!virtio_gpu_pixel(e.g, 64, 0, &rgb));
    /* a transfer of part of a row, from an offset, as Linux sends it */
    uint8_t *p = vd_ptr(&e.d, e.d.heap - 64 * 32 * 4);
    p[(2 * 64 + 3) * 4 + 2] = 0x11;
    CHECK_EQ_U64(CMD(&e, H(0x105), 3, 2, 1, 1, (2 * 64 + 3) * 4, 0, 5, 0), OK_NODATA);
    CHECK_EQ_U64(CMD(&e, H(0x104), 3, 2, 1, 1, 5, 0), OK_NODATA);
    CHECK(virtio_gpu_pixel(e.g, 3, 2, &rgb));
    CHECK_EQ_U64(rgb, 0x110203);
    struct virtio_gpu_state st;
    virtio_gpu_get_state(e.g, &st);
    CHECK_EQ_U64(st.host_bytes, 64 * 32 * 4);
    CHECK_EQ_U64(st.scanout_resource, 5);
    /* unref of the scanout's resource disables it */
    CHECK_EQ_U64(CMD(&e, H(0x102), 5, 0), OK_NODATA);
    virtio_gpu_get_state(e.g, &st);
    CHECK_EQ_U64(st.host_bytes, 0);
    CHECK_EQ_U64(st.scanout_resource, 0);
    CHECK(!vd_needs_reset(&e.d));
    vd_free(&e.d);
}

TEST(bogus_commands)
{
    struct env e;
    setup(&e);
    uint64_t end = VD_RAM_BASE + VD_RAM_SIZE;
    CHECK_EQ_U64(CMD(&e, H(0x999)), ERR_UNSPEC);
    CHECK_EQ_U64(CMD(&e, 0x101, 0, 0, 0), ERR_UNSPEC);     /* short header */
    CHECK_EQ_U64(CMD(&e, H(0x101), 1), ERR_UNSPEC);        /* short create */
    CHECK_EQ_U64(CMD(&e, H(0x101), 0, 2, 8, 8), ERR_INVALID_RESOURCE_ID);
    CHECK_EQ_U64(CMD(&e, H(0x101), 1, 999, 8, 8), ERR_INVALID_PARAMETER);
    CHECK_EQ_U64(CMD(&e, H(0x101), 1, 2, 0, 8), ERR_INVALID_PARAMETER);
    CHECK_EQ_U64(CMD(&e, H(0x101), 1, 2, 16384, 16384), ERR_OUT_OF_MEMORY);
    CHECK_EQ_U64(CMD(&e, H(0x101), 1, 2, 0xffffffffu, 0xffffffffu), ERR_OUT_OF_MEMORY);
    /* 200 MiB is fine, the next 100 MiB is not */
    CHECK_EQ_U64(CMD(&e, H(0x101), 1, 2, 10240, 5120), OK_NODATA);
    CHECK_EQ_U64(CMD(&e, H(0x101), 2, 2, 10240, 2560), ERR_OUT_OF_MEMORY);
    CHECK_EQ_U64(CMD(&e, H(0x101), 1, 2, 8, 8), ERR_INVALID_RESOURCE_ID); /* in use */
    CHECK_EQ_U64(CMD(&e, H(0x102), 1, 0), OK_NODATA);
    make_resource(&e);
    uint32_t outside[4] = {(uint32_t)end, (uint32_t)(end >> 32), 4096, 0};
    const uint32_t attach6[] = {H(0x106), 6, 1};
    CHECK_EQ_U64(CMD(&e, H(0x101), 6, 2, 8, 8), OK_NODATA);
    CHECK_EQ_U64(cmd(&e, attach6, sizeof attach6, outside, sizeof outside), ERR_INVALID_PARAMETER);
    uint32_t below[4] = {0x1000, 0, 4096, 0};
    CHECK_EQ_U64(cmd(&e, attach6, sizeof attach6, below, sizeof below), ERR_INVALID_PARAMETER);
    const uint32_t many[] = {H(0x106), 6, 0x80000000u};
    CHECK_EQ_U64(cmd(&e, many, sizeof many, below, sizeof below), ERR_INVALID_PARAMETER);
    const uint32_t missing[] = {H(0x106), 6, 3}; /* says 3, carries 1 */
    uint32_t one[4] = {(uint32_t)VD_RAM_BASE, 0, 4096, 0};
    CHECK_EQ_U64(cmd(&e, missing, sizeof missing, one, sizeof one), ERR_INVALID_PARAMETER);
    CHECK_EQ_U64(cmd(&e, attach6, sizeof attach6, one, sizeof one), OK_NODATA);
    CHECK_EQ_U64(cmd(&e, attach6, sizeof attach6, one, sizeof one), ERR_INVALID_PARAMETER); /* twice */
    CHECK_EQ_U64(CMD(&e, H(0x106), 42, 1), ERR_INVALID_RESOURCE_ID);
    /* rectangles */
    CHECK_EQ_U64(CMD(&e, H(0x105), 0, 0, 65, 32, 0, 0, 5, 0), ERR_INVALID_PARAMETER);
    CHECK_EQ_U64(CMD(&e, H(0x105), 0xffffffffu, 0, 2, 1, 0, 0, 5, 0), ERR_INVALID_PARAMETER);
    CHECK_EQ_U64(CMD(&e, H(0x105), 0, 0, 64, 32, 0xfffff000u, 0xffffffffu, 5, 0),
                 ERR_INVALID_PARAMETER); /* offset past the backing */
    CHECK_EQ_U64(CMD(&e, H(0x105), 0, 0, 8, 8, 0, 0, 77, 0), ERR_INVALID_RESOURCE_ID);
    CHECK_EQ_U64(CMD(&e, H(0x104), 0, 0, 64, 33, 5, 0), ERR_INVALID_PARAMETER);
    CHECK_EQ_U64(CMD(&e, H(0x104), 0, 0, 8, 8, 77, 0), ERR_INVALID_RESOURCE_ID);
    CHECK_EQ_U64(CMD(&e, H(0x103), 0, 0, 64, 32, 5, 5), ERR_INVALID_SCANOUT_ID);
    CHECK_EQ_U64(CMD(&e, H(0x103), 0, 0, 64, 32, 0, 99), ERR_INVALID_RESOURCE_ID);
    CHECK_EQ_U64(CMD(&e, H(0x103), 1, 1, 64, 32, 0, 5), ERR_INVALID_PARAMETER);
    /* a scanout of a freed resource */
    CHECK_EQ_U64(CMD(&e, H(0x102), 5, 0), OK_NODATA);
    CHECK_EQ_U64(CMD(&e, H(0x102), 5, 0), ERR_INVALID_RESOURCE_ID);
    CHECK_EQ_U64(CMD(&e, H(0x103), 0, 0, 64, 32, 0, 5), ERR_INVALID_RESOURCE_ID);
    CHECK_EQ_U64(CMD(&e, H(0x108), 0, 0), ERR_INVALID_PARAMETER); /* capset info */
    CHECK_EQ_U64(e.resizes, 0);
    CHECK(!vd_needs_reset(&e.d));
    vd_free(&e.d);
}

TEST(no_room_for_response)
{
    struct env e;
    setup(&e);
    uint32_t c[6] = {H(0x100)};
    memcpy(vd_ptr(&e.d, e.cmd), c, sizeof c);
    struct vd_buf b[2] = {{e.cmd, 24, false}, {e.resp, 16, true}};
    vd_post(&e.d, 0, b, 2);
    vd_notify(&e.d, 0);
    CHECK(vd_needs_reset(&e.d));
    vd_free(&e.d);
}

TEST(display_info_edid_and_change)
{
    struct env e;
    setup(&e);
    CHECK_EQ_U64(CMD(&e, H(0x100)), OK_DISPLAY_INFO);
    uint32_t pm[6];
    memcpy(pm, vd_ptr(&e.d, e.resp + 24), sizeof pm);
    CHECK_EQ_U64(pm[2], 640);
    CHECK_EQ_U64(pm[3], 480);
    CHECK_EQ_U64(pm[4], 1);
    CHECK_EQ_U64(CMD(&e, H(0x10a), 0, 0), OK_EDID);
    const uint8_t *edid = vd_ptr(&e.d, e.resp + 32);
    uint8_t sum = 0;
    for (int i = 0; i < 128; i++)
        sum = (uint8_t)(sum + edid[i]);
    CHECK_EQ_U64(sum, 0);
    CHECK_EQ_U64(edid[56] | (edid[58] >> 4) << 8, 640); /* preferred mode's width */
    CHECK_EQ_U64(CMD(&e, H(0x10a), 3, 0), ERR_INVALID_PARAMETER);
    vd_wr(&e.d, VIRTIO_MMIO_INTERRUPT_ACK, vd_rd(&e.d, VIRTIO_MMIO_INTERRUPT_STATUS));
    virtio_gpu_request_size(e.g, 800, 600);
    CHECK(vd_rd(&e.d, VIRTIO_MMIO_INTERRUPT_STATUS) & VIRTIO_MMIO_INT_CONFIG);
    CHECK_EQ_U64(vd_rd(&e.d, VIRTIO_MMIO_CONFIG), 1); /* events_read: display */
    vd_wr(&e.d, VIRTIO_MMIO_CONFIG + 4, 1);           /* events_clear */
    CHECK_EQ_U64(vd_rd(&e.d, VIRTIO_MMIO_CONFIG), 0);
    CHECK_EQ_U64(vd_rd(&e.d, VIRTIO_MMIO_CONFIG + 8), 1); /* one scanout */
    CHECK_EQ_U64(CMD(&e, H(0x100)), OK_DISPLAY_INFO);
    memcpy(pm, vd_ptr(&e.d, e.resp + 24), sizeof pm);
    CHECK_EQ_U64(pm[2], 800);
    CHECK_EQ_U64(pm[3], 600);
    vd_free(&e.d);
}

TEST(cursor)
{
    struct env e;
    setup(&e);
    make_resource(&e);
    uint32_t c[14] = {H(0x300), 0, 12, 34, 0, 5, 1, 2, 0};
    memcpy(vd_ptr(&e.d, e.cmd), c, sizeof c);
    struct vd_buf b[1] = {{e.cmd, sizeof c, false}};
    vd_post(&e.d, 1, b, 1);
    vd_notify(&e.d, 1);
    uint32_t id, n;
    CHECK(vd_get_used(&e.d, 1, &id, &n, 2000));
    struct virtio_gpu_state st;
    virtio_gpu_get_state(e.g, &st);
    CHECK_EQ_U64(st.cursor.x, 12);
    CHECK_EQ_U64(st.cursor.y, 34);
    CHECK_EQ_U64(st.cursor.resource_id, 5);
    CHECK_EQ_U64(st.cursor.updates, 1);
    vd_free(&e.d);
}

static void input_query(struct vdriver *d, uint8_t sel, uint8_t sub, uint8_t *size, uint8_t *u)
{
    virtio_mmio_write(d->t, VIRTIO_MMIO_CONFIG, 1, sel);
    virtio_mmio_write(d->t, VIRTIO_MMIO_CONFIG + 1, 1, sub);
    uint64_t v;
    virtio_mmio_read(d->t, VIRTIO_MMIO_CONFIG + 2, 1, &v);
    *size = (uint8_t)v;
    for (unsigned i = 0; i < 128; i++) {
        virtio_mmio_read(d->t, VIRTIO_MMIO_CONFIG + 8 + i, 1, &v);
        u[i] = (uint8_t)v;
    }
}

TEST(input_devices)
{
    struct cove_error err;
    struct vdriver d;
    vd_ram_init(&d);
    struct virtio_mmio_params p = vd_params(&d, NULL);
    struct virtio_input *in;
    REQUIRE(virtio_input_create(&p, VIRTIO_INPUT_TABLET, &d.t, &in, &err) == 0);
    uint8_t size, u[128];
    input_query(&d, 1, 0, &size, u);
    CHECK_EQ_U64(size, 11);
    CHECK(!memcmp(u, "cove tablet", 11));
    input_query(&d, 0x11, 3, &size, u); /* EV_ABS bits */
    CHECK_EQ_U64(size, 1);
    CHECK_EQ_U64(u[0], 3);
    input_query(&d, 0x12, 0, &size, u); /* ABS_X */
    uint32_t info[2];
    memcpy(info, u, 8);
    CHECK_EQ_U64(size, 20);
    CHECK_EQ_U64(info[1], VIRTIO_INPUT_ABS_MAX);
    input_query(&d, 0x11, 1, &size, u); /* EV_KEY: the buttons */
    CHECK(u[0x110 / 8] & 1);
    input_query(&d, 0x77, 0, &size, u);
    CHECK_EQ_U64(size, 0);
    vd_negotiate(&d, VD_BASE_FEATURES);
    vd_queue_setup(&d, 0, 8);
    vd_queue_setup(&d, 1, 8);
    vd_driver_ok(&d);
    /* events before any buffer wait; then arrive in order */
    struct virtio_input_event ev[3] = {{3, 0, 100}, {3, 1, 200}, {0, 0, 0}};
    CHECK(virtio_input_send(in, ev, 3) == 0);
    uint64_t bufs = vd_alloc(&d, 8 * 4);
    for (unsigned i = 0; i < 4; i++) {
        struct vd_buf b = {bufs + 8 * i, 8, true};
        vd_post(&d, 0, &b, 1);
    }
    vd_notify(&d, 0);
    for (unsigned i = 0; i < 3; i++) {
        uint32_t id, n;
        REQUIRE(vd_get_used(&d, 0, &id, &n, 2000));
        CHECK_EQ_U64(n, 8);
        uint16_t t, c;
        int32_t v;
        memcpy(&t, vd_ptr(&d, bufs + 8 * id), 2);
        memcpy(&c, vd_ptr(&d, bufs + 8 * id + 2), 2);
        memcpy(&v, vd_ptr(&d, bufs + 8 * id + 4), 4);
        CHECK_EQ_U64(t, ev[i].type);
        CHECK_EQ_U64(c, ev[i].code);
        CHECK_EQ_U64((uint64_t)v, (uint64_t)ev[i].value);
    }
    /* the pending ring is bounded: all or nothing */
    static struct virtio_input_event flood[VIRTIO_INPUT_PENDING_MAX + 1];
    CHECK(virtio_input_send(in, flood, VIRTIO_INPUT_PENDING_MAX + 1) == -ENOSPC);
    CHECK_EQ_U64(virtio_input_dropped(in), VIRTIO_INPUT_PENDING_MAX + 1);
    /* a buffer shorter than an event is a protocol error */
    struct vd_buf small = {bufs, 4, true};
    vd_post(&d, 0, &small, 1);
    vd_notify(&d, 0);
    CHECK(virtio_input_send(in, ev, 1) == 0);
    CHECK(!vd_needs_reset(&d)); /* the fourth buffer took it */
    CHECK(virtio_input_send(in, ev, 1) == 0);
    CHECK(vd_needs_reset(&d));
    vd_free(&d);
}

/* the relative mouse: REL_X, REL_Y and the wheel, three buttons, no absolute axes */
TEST(input_mouse)
{
    struct cove_error err;
    struct vdriver d;
    vd_ram_init(&d);
    struct virtio_mmio_params p = vd_params(&d, NULL);
    struct virtio_input *in;
    REQUIRE(virtio_input_create(&p, VIRTIO_INPUT_MOUSE, &d.t, &in, &err) == 0);
    uint8_t size, u[128];
    input_query(&d, 1, 0, &size, u);
    CHECK_EQ_U64(size, 10);
    CHECK(!memcmp(u, "cove mouse", 10));
    input_query(&d, 0x11, 2, &size, u); /* EV_REL bits */
    CHECK_EQ_U64(size, 2);
    CHECK_EQ_U64(u[0], 3); /* REL_X, REL_Y */
    CHECK_EQ_U64(u[1], 1); /* REL_WHEEL (8) */
    input_query(&d, 0x11, 3, &size, u); /* EV_ABS: none */
    CHECK_EQ_U64(size, 0);
    input_query(&d, 0x12, 0, &size, u); /* no ABS_X info */
    CHECK_EQ_U64(size, 0);
    input_query(&d, 0x11, 1, &size, u); /* EV_KEY: left, right, middle */
    CHECK_EQ_U64(u[0x110 / 8], 7);
    struct cove_error e2;
    CHECK(virtio_input_create(&p, (enum virtio_input_kind)3, &d.t, &in, &e2) == -EINVAL);
    vd_free(&d);
}

int main(void)
{
    RUN(draw_and_flush);
    RUN(bogus_commands);
    RUN(no_room_for_response);
    RUN(display_info_edid_and_change);
    RUN(cursor);
    RUN(input_devices);
    RUN(input_mouse);
    return test_summary();
}
