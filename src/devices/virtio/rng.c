/* virtio-rng (virtio 1.2, 5.4): the guest's entropy comes from the host's getrandom(2). */
#include <errno.h>
#include <stdlib.h>
#include <sys/random.h>

#include "devices/virtio/virtio_devices.h"

/* A request is filled up to this much; the driver asks again for more. */
#define RNG_MAX_PER_REQUEST 65536

struct vrng {
    struct virtq_chain chain;
};

static size_t fill_random(const struct iovec *iov, unsigned n)
{
    size_t total = 0;
    for (unsigned i = 0; i < n && total < RNG_MAX_PER_REQUEST; i++) {
        size_t want = iov[i].iov_len;
        if (want > RNG_MAX_PER_REQUEST - total)
            want = RNG_MAX_PER_REQUEST - total;
        size_t got = 0;
        while (got < want) {
            ssize_t r = getrandom((char *)iov[i].iov_base + got, want - got, 0);
            if (r < 0) {
                if (errno == EINTR)
                    continue;
                return total + got;
            }
            got += (size_t)r;
        }
        total += got;
    }
    return total;
}

static int rng_serve(void *dev, struct virtq *vq, struct virtq_chain *c)
{
    size_t n = fill_random(c->iov + c->n_out, c->n_in);
    virtq_push(vq, c->head, (uint32_t)n);
    return 0;
}

static int rng_queue(void *dev, unsigned q, struct virtq *vq)
{
    struct vrng *rng = dev;
    return virtio_queue_serve(vq, &rng->chain, NULL, rng_serve, rng);
}

static void rng_config_read(void *dev, uint8_t *buf) {}

static void rng_destroy(void *dev) { free(dev); }

static const struct virtio_device_ops rng_ops = {
    .name = "rng",
    .device_id = VIRTIO_ID_RNG,
    .num_queues = 1,
    .queue_max = 64,
    .config_size = 0,
    .config_read = rng_config_read,
    .queue_handler = rng_queue,
    .destroy = rng_destroy,
    .save = virtio_save_nothing,
    .load = virtio_load_nothing,
};

int virtio_rng_create(const struct virtio_mmio_params *p, struct virtio_mmio **out,
                      struct cove_error *err)
{
    struct vrng *rng = calloc(1, sizeof *rng);
    if (!rng)
        return cove_error_set(err, -ENOMEM, "virtio-rng: out of memory");
    return virtio_mmio_create(p, &rng_ops, rng, out, err);
}
