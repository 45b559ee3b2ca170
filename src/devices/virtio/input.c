/*
 * virtio-input (virtio 1.2, 5.8): a keyboard, an absolute tablet or a relative mouse fed by
 * the host (the VNC server). Config space answers the driver's select/subsel queries (name,
 * serial, device ids, property and event bits, absolute axis ranges); anything else reads
 * as size 0. Host events wait in a bounded ring (VIRTIO_INPUT_PENDING_MAX; more are
 * dropped and counted) until the driver posts buffers on the event queue; a buffer shorter
 * than an event is a protocol error. The status queue (LEDs) is consumed and ignored.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "devices/iov.h"
#include "devices/virtio/virtio_devices.h"

enum {
    CFG_UNSET = 0x00,
    CFG_ID_NAME = 0x01,
    CFG_ID_SERIAL = 0x02,
    CFG_ID_DEVIDS = 0x03,
    CFG_PROP_BITS = 0x10,
    CFG_EV_BITS = 0x11,
    CFG_ABS_INFO = 0x12,
};

#define CONFIG_SIZE 136
#define EV_KEY 0x01
#define EV_REL 0x02
#define EV_ABS 0x03
#define BTN_LEFT 0x110
#define BTN_RIGHT 0x111
#define BTN_MIDDLE 0x112
#define REL_X 0
#define REL_Y 1
#define REL_WHEEL 8
#define ABS_X 0
#define ABS_Y 1
#define EVENT_SIZE 8

struct virtio_input {
    pthread_mutex_t lock;
    enum virtio_input_kind kind;
    struct virtio_mmio *t;
    uint8_t select, subsel;
    struct virtio_input_event pending[VIRTIO_INPUT_PENDING_MAX];
    unsigned head, count;
    uint64_t dropped;
    struct virtq_chain chain;
};

static const char *const names[] = {"cove keyboard", "cove tablet", "cove mouse"};

static void set_bit(uint8_t *bits, unsigned n) { bits[n / 8] |= (uint8_t)(1u << (n % 8)); }

/* The answer to (select, subsel): its bytes in u (128), the size returned. */
static uint8_t answer(const struct virtio_input *in, uint8_t *u)
{
    memset(u, 0, 128);
    switch (in->select) {
    case CFG_ID_NAME:
        if (in->subsel)
            return 0;
        memcpy(u, names[in->kind], strlen(names[in->kind]));
        return (uint8_t)strlen(names[in->kind]);
    case CFG_ID_SERIAL:
        if (in->subsel)
            return 0;
        memcpy(u, "cove-0", 6);
        u[5] = (uint8_t)('0' + in->kind);
        return 6;
    case CFG_ID_DEVIDS: {
        if (in->subsel)
            return 0;
        uint16_t ids[4] = {0x06 /* BUS_VIRTUAL */, 0x0627, (uint16_t)(1 + in->kind), 1};
        memcpy(u, ids, sizeof ids);
        return sizeof ids;
    }
    case CFG_PROP_BITS:
        return 0;
    case CFG_EV_BITS: {
        uint8_t size = 0;
        if (in->subsel == EV_KEY) {
            if (in->kind == VIRTIO_INPUT_KEYBOARD) {
                for (unsigned k = 1; k < 256; k++)
                    set_bit(u, k);
                size = 32;
            } else {
                set_bit(u, BTN_LEFT), set_bit(u, BTN_RIGHT), set_bit(u, BTN_MIDDLE);
                size = BTN_MIDDLE / 8 + 1;
            }
        } else if (in->subsel == EV_REL && in->kind != VIRTIO_INPUT_KEYBOARD) {
            if (in->kind == VIRTIO_INPUT_MOUSE)
                set_bit(u, REL_X), set_bit(u, REL_Y);
            set_bit(u, REL_WHEEL);
            size = 2;
        } else if (in->subsel == EV_ABS && in->kind == VIRTIO_INPUT_TABLET) {
            set_bit(u, ABS_X), set_bit(u, ABS_Y);
            size = 1;
        }
        return size;
    }
    case CFG_ABS_INFO:
        if (in->kind == VIRTIO_INPUT_TABLET && (in->subsel == ABS_X || in->subsel == ABS_Y)) {
            uint32_t info[5] = {0, VIRTIO_INPUT_ABS_MAX, 0, 0, 0}; /* min max fuzz flat res */
            memcpy(u, info, sizeof info);
            return sizeof info;
        }
        return 0;
    }
    return 0;
}

static void input_config_read(void *dev, uint8_t *buf)
{
    struct virtio_input *in = dev;
    pthread_mutex_lock(&in->lock);
    memset(buf, 0, CONFIG_SIZE);
    buf[0] = in->select;
    buf[1] = in->subsel;
    buf[2] = answer(in, buf + 8);
    pthread_mutex_unlock(&in->lock);
}

/* Only select (byte 0) and subsel (byte 1) are the driver's to write. */
static void input_config_write(void *dev, uint64_t offset, unsigned len, uint64_t value)
{
    struct virtio_input *in = dev;
    pthread_mutex_lock(&in->lock);
    for (unsigned i = 0; i < len; i++) {
        uint8_t b = (uint8_t)(value >> (8 * i));
        if (offset + i == 0)
            in->select = b;
        else if (offset + i == 1)
            in->subsel = b;
    }
    pthread_mutex_unlock(&in->lock);
}

static bool has_events(void *dev)
{
    struct virtio_input *in = dev;
    pthread_mutex_lock(&in->lock);
    bool any = in->count > 0;
    pthread_mutex_unlock(&in->lock);
    return any;
}

static int serve_event(void *dev, struct virtq *vq, struct virtq_chain *c)
{
    struct virtio_input *in = dev;
    if (c->n_out || c->in_len < EVENT_SIZE)
        return virtq_fail(vq, "virtio-input: an event buffer that is not 8 writable bytes");
    pthread_mutex_lock(&in->lock);
    struct virtio_input_event e = in->pending[in->head];
    in->head = (in->head + 1) % VIRTIO_INPUT_PENDING_MAX;
    in->count--;
    pthread_mutex_unlock(&in->lock);
    uint8_t b[EVENT_SIZE];
    memcpy(b, &e.type, 2);
    memcpy(b + 2, &e.code, 2);
    memcpy(b + 4, &e.value, 4);
    virtq_push(vq, c->head, (uint32_t)iov_from_buf(c->iov, c->n_in, 0, b, EVENT_SIZE));
    return 0;
}

static int consume_status(void *dev, struct virtq *vq, struct virtq_chain *c)
{
    virtq_push(vq, c->head, 0);
    return 0;
}

static int input_queue(void *dev, unsigned q, struct virtq *vq)
{
    struct virtio_input *in = dev;
    if (q == 0)
        return virtio_queue_serve(vq, &in->chain, has_events, serve_event, in);
    return virtio_queue_serve(vq, &in->chain, NULL, consume_status, in);
}

static void input_reset(void *dev)
{
    struct virtio_input *in = dev;
    pthread_mutex_lock(&in->lock);
    in->head = in->count = 0;
    in->select = in->subsel = 0;
    pthread_mutex_unlock(&in->lock);
}

static void input_destroy(void *dev)
{
    struct virtio_input *in = dev;
    pthread_mutex_destroy(&in->lock);
    free(in);
}

static const struct virtio_device_ops input_ops = {
    .name = "input",
    .device_id = VIRTIO_ID_INPUT,
    .num_queues = 2,
    .queue_max = 64,
    .config_size = CONFIG_SIZE,
    .config_read = input_config_read,
    .config_write = input_config_write,
    .queue_handler = input_queue,
    .reset = input_reset,
    .destroy = input_destroy,
};

int virtio_input_create(const struct virtio_mmio_params *p, enum virtio_input_kind kind,
                        struct virtio_mmio **out, struct virtio_input **dev_out,
                        struct cove_error *err)
{
    if ((unsigned)kind > VIRTIO_INPUT_MOUSE)
        return cove_error_set(err, -EINVAL, "virtio-input: unknown kind %d", (int)kind);
    struct virtio_input *in = calloc(1, sizeof *in);
    if (!in)
        return cove_error_set(err, -ENOMEM, "virtio-input: out of memory");
    pthread_mutex_init(&in->lock, NULL);
    in->kind = kind;
    int rc = virtio_mmio_create(p, &input_ops, in, out, err);
    if (rc < 0)
        return rc;
    in->t = *out;
    if (dev_out)
        *dev_out = in;
    return 0;
}

int virtio_input_send(struct virtio_input *in, const struct virtio_input_event *ev, unsigned n)
{
    pthread_mutex_lock(&in->lock);
    int rc = 0;
    if (n > VIRTIO_INPUT_PENDING_MAX - in->count) {
        in->dropped += n;
        rc = -ENOSPC; /* all or nothing: half a key press is worse than none */
    } else {
        for (unsigned i = 0; i < n; i++)
            in->pending[(in->head + in->count++) % VIRTIO_INPUT_PENDING_MAX] = ev[i];
    }
    pthread_mutex_unlock(&in->lock);
    if (rc == 0)
        virtio_mmio_process_queue(in->t, 0);
    return rc;
}

uint64_t virtio_input_dropped(struct virtio_input *in)
{
    pthread_mutex_lock(&in->lock);
    uint64_t d = in->dropped;
    pthread_mutex_unlock(&in->lock);
    return d;
}
