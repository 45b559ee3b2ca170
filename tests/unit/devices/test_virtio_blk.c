/* virtio-blk on the production attachment (block_disk_open over src/disk) against
 * temporary raw and cdisk images: data round trips, flush, discard, write-zeroes, GET_ID,
 * bounds, read-only, malformed chains, the format-probing guard; and open errors and
 * locking. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "../test.h"
#include "devices/virtio/blk_request.h"
#include "disk/disk.h"
#include "devices/virtio/virtio_devices.h"
#include "vdriver.h"

#define DISK_SIZE (1u << 20)
#define VIRTIO_BLK_F_RO 5
#define VIRTIO_BLK_F_FLUSH 9
#define VIRTIO_BLK_F_DISCARD 13
#define VIRTIO_BLK_F_WRITE_ZEROES 14

static char image[64];

static void make_image(void)
{
    snprintf(image, sizeof image, "/tmp/cove-test-blk-XXXXXX");
    int fd = mkstemp(image);
    uint8_t buf[4096];
    for (unsigned i = 0; i < DISK_SIZE; i += sizeof buf) {
        memset(buf, (int)(i / 4096) + 1, sizeof buf);
        if (write(fd, buf, sizeof buf) != (ssize_t)sizeof buf)
            exit(1);
    }
    close(fd);
}

static uint8_t file_byte(uint64_t off)
{
    uint8_t b = 0xee;
    int fd = open(image, O_RDONLY);
    if (pread(fd, &b, 1, (off_t)off) != 1)
        b = 0xee;
    close(fd);
    return b;
}

/* A driven virtio-blk device on PATH, features negotiated, queue 0 ready; SERIAL (20
 * characters at most) replaces the file-name serial when given. */
static void blk_running_on(struct vdriver *d, const char *path, bool ro, const char *serial)
{
    vd_ram_init(d);
    struct block_attachment *disk;
    struct cove_error err;
    if (block_disk_open(path, &(struct block_options){.read_only = ro}, &disk, &err) < 0) {
        printf("  %s\n", err.message);
        exit(1);
    }
    if (serial)
        snprintf(disk->serial, sizeof disk->serial, "%s", serial);
    struct virtio_mmio_params p = vd_params(d, NULL);
    if (virtio_blk_create(&p, disk, &d->t, &err) < 0) {
        printf("  %s\n", err.message);
        exit(1);
    }
    uint64_t f = vd_device_features(d);
    vd_negotiate(d, f);
    vd_queue_setup(d, 0, 64);
    vd_driver_ok(d);
}

static void blk_running(struct vdriver *d, bool ro)
{
    blk_running_on(d, image, ro, "cove-serial-01234567"); /* exactly 20 characters */
}

/* One request: header, data (readable for OUT, writable otherwise), status. Returns the
 * status byte, or 0xff when nothing came back. */
static uint8_t blk_req(struct vdriver *d, uint32_t type, uint64_t sector, uint64_t data,
                       uint32_t len, bool data_writable)
{
    uint64_t hdr = vd_alloc(d, 16), status = vd_alloc(d, 1);
    uint32_t h[4] = {type, 0, (uint32_t)sector, (uint32_t)(sector >> 32)};
    memcpy(vd_ptr(d, hdr), h, 16);
    *(uint8_t *)vd_ptr(d, status) = 0xff;
    struct vd_buf bufs[3] = {{hdr, 16, false}, {data, len, data_writable}, {status, 1, true}};
    if (len) {
        vd_post(d, 0, bufs, 3);
    } else {
        bufs[1] = bufs[2];
        vd_post(d, 0, bufs, 2);
    }
    vd_notify(d, 0);
    uint32_t id, used;
    if (!vd_get_used(d, 0, &id, &used, 0))
        return 0xff;
    return *(uint8_t *)vd_ptr(d, status);
}

TEST(config_space)
{
    struct vdriver d;
    blk_running(&d, false);
    uint64_t cap = 0, v;
    for (unsigned i = 0; i < 8; i++) { /* byte-granular reads */
        virtio_mmio_read(d.t, VIRTIO_MMIO_CONFIG + i, 1, &v);
        cap |= v << (8 * i);
    }
    CHECK_EQ_U64(cap, DISK_SIZE / 512);
    virtio_mmio_read(d.t, VIRTIO_MMIO_CONFIG, 8, &v);
    CHECK_EQ_U64(v, DISK_SIZE / 512);
    virtio_mmio_read(d.t, VIRTIO_MMIO_CONFIG + 20, 4, &v);
    CHECK_EQ_U64(v, 512); /* blk_size */
    uint64_t qmax;
    virtio_mmio_write(d.t, VIRTIO_MMIO_QUEUE_SEL, 4, 0);
    virtio_mmio_read(d.t, VIRTIO_MMIO_QUEUE_NUM_MAX, 4, &qmax);
    CHECK_EQ_U64(qmax, 1024);
    virtio_mmio_read(d.t, VIRTIO_MMIO_CONFIG + 12, 4, &v);
    CHECK_EQ_U64(v, qmax - 2); /* seg_max: all but the header and the status */
    virtio_mmio_read(d.t, VIRTIO_MMIO_CONFIG + 0x200, 4, &v);
    CHECK_EQ_U64(v, 0);
    uint64_t f = vd_device_features(&d);
    CHECK(f & (1ull << VIRTIO_BLK_F_FLUSH));
    CHECK(f & (1ull << VIRTIO_BLK_F_DISCARD));
    CHECK(f & (1ull << VIRTIO_BLK_F_WRITE_ZEROES));
    CHECK(!(f & (1ull << VIRTIO_BLK_F_RO)));
    vd_free(&d);
}

TEST(read_write_flush)
{
    struct vdriver d;
    blk_running(&d, false);
    uint64_t buf = vd_alloc(&d, 2048);
    CHECK_EQ_U64(blk_req(&d, VIRTIO_BLK_T_IN, 8, buf, 1024, true), VIRTIO_BLK_S_OK);
    CHECK_EQ_U64(*(uint8_t *)vd_ptr(&d, buf), 2); /* sector 8 is in the file's second 4K */
    for (unsigned i = 0; i < 1024; i++)
        ((uint8_t *)vd_ptr(&d, buf))[i] = (uint8_t)(i * 7);
    CHECK_EQ_U64(blk_req(&d, VIRTIO_BLK_T_OUT, 3, buf, 1024, false), VIRTIO_BLK_S_OK);
    CHECK_EQ_U64(blk_req(&d, VIRTIO_BLK_T_FLUSH, 0, 0, 0, false), VIRTIO_BLK_S_OK);
    CHECK_EQ_U64(file_byte(3 * 512 + 5), 35);
    CHECK_EQ_U64(file_byte(3 * 512 + 1023), (uint8_t)(1023 * 7));
    CHECK_EQ_U64(file_byte(3 * 512 + 1024), 1); /* untouched after the write */
    uint64_t back = vd_alloc(&d, 1024);
    CHECK_EQ_U64(blk_req(&d, VIRTIO_BLK_T_IN, 3, back, 1024, true), VIRTIO_BLK_S_OK);
    CHECK(memcmp(vd_ptr(&d, back), vd_ptr(&d, buf), 1024) == 0);
    /* Last sector of the disk is fine; one past it is not. */
    CHECK_EQ_U64(blk_req(&d, VIRTIO_BLK_T_IN, DISK_SIZE / 512 - 1, buf, 512, true),
                 VIRTIO_BLK_S_OK);
    CHECK_EQ_U64(blk_req(&d, VIRTIO_BLK_T_IN, DISK_SIZE / 512 - 1, buf, 1024, true),
                 VIRTIO_BLK_S_IOERR);
    CHECK_EQ_U64(blk_req(&d, VIRTIO_BLK_T_OUT, DISK_SIZE / 512, buf, 512, false),
                 VIRTIO_BLK_S_IOERR);
    CHECK_EQ_U64(blk_req(&d, VIRTIO_BLK_T_IN, ~0ull, buf, 512, true), VIRTIO_BLK_S_IOERR);
    /* Lengths must be whole sectors. */
    CHECK_EQ_U64(blk_req(&d, VIRTIO_BLK_T_IN, 0, buf, 100, true), VIRTIO_BLK_S_IOERR);
    CHECK_EQ_U64(blk_req(&d, 99, 0, buf, 512, true), VIRTIO_BLK_S_UNSUPP);
    CHECK(!vd_needs_reset(&d));
    vd_free(&d);
}

TEST(get_id)
{
    struct vdriver d;
    blk_running(&d, false);
    uint64_t buf = vd_alloc(&d, 20);
    CHECK_EQ_U64(blk_req(&d, VIRTIO_BLK_T_GET_ID, 0, buf, 20, true), VIRTIO_BLK_S_OK);
    CHECK(memcmp(vd_ptr(&d, buf), "cove-serial-01234567", 20) == 0);
    vd_free(&d);
}

static uint8_t discard_req(struct vdriver *d, uint32_t type, uint64_t sector, uint32_t n,
                           uint32_t flags)
{
    uint64_t seg = vd_alloc(d, 16);
    uint32_t s[4] = {(uint32_t)sector, (uint32_t)(sector >> 32), n, flags};
    memcpy(vd_ptr(d, seg), s, 16);
    return blk_req(d, type, 0, seg, 16, false);
}

TEST(discard_and_write_zeroes)
{
    struct vdriver d;
    blk_running(&d, false);
    CHECK_EQ_U64(file_byte(16 * 512), 3);
    CHECK_EQ_U64(discard_req(&d, VIRTIO_BLK_T_DISCARD, 16, 8, 0), VIRTIO_BLK_S_OK);
    CHECK_EQ_U64(file_byte(16 * 512), 0); /* tmpfs and ext4 punch holes */
    CHECK_EQ_U64(file_byte(24 * 512), 4);
    CHECK_EQ_U64(discard_req(&d, VIRTIO_BLK_T_WRITE_ZEROES, 25, 2, 0), VIRTIO_BLK_S_OK);
    CHECK_EQ_U64(file_byte(25 * 512), 0);
    CHECK_EQ_U64(file_byte(26 * 512 + 511), 0);
    CHECK_EQ_U64(file_byte(27 * 512), 4);
    CHECK_EQ_U64(discard_req(&d, VIRTIO_BLK_T_WRITE_ZEROES, 40, 1, 1), VIRTIO_BLK_S_OK);
    CHECK_EQ_U64(file_byte(40 * 512), 0);
    /* Unmap is not a discard flag; unknown flags; past the end. */
    CHECK_EQ_U64(discard_req(&d, VIRTIO_BLK_T_DISCARD, 48, 1, 1), VIRTIO_BLK_S_UNSUPP);
    CHECK_EQ_U64(discard_req(&d, VIRTIO_BLK_T_WRITE_ZEROES, 48, 1, 4), VIRTIO_BLK_S_UNSUPP);
    CHECK_EQ_U64(discard_req(&d, VIRTIO_BLK_T_DISCARD, DISK_SIZE / 512 - 1, 2, 0),
                 VIRTIO_BLK_S_IOERR);
    CHECK_EQ_U64(file_byte(DISK_SIZE - 1), 0xff & (DISK_SIZE / 4096));
    vd_free(&d);
}

TEST(read_only_refuses_writes)
{
    struct vdriver d;
    blk_running(&d, true);
    CHECK(vd_device_features(&d) & (1ull << VIRTIO_BLK_F_RO));
    uint64_t buf = vd_alloc(&d, 512);
    memset(vd_ptr(&d, buf), 0xab, 512);
    uint8_t before = file_byte(0);
    CHECK_EQ_U64(blk_req(&d, VIRTIO_BLK_T_OUT, 0, buf, 512, false), VIRTIO_BLK_S_IOERR);
    CHECK_EQ_U64(discard_req(&d, VIRTIO_BLK_T_DISCARD, 0, 1, 0), VIRTIO_BLK_S_IOERR);
    CHECK_EQ_U64(discard_req(&d, VIRTIO_BLK_T_WRITE_ZEROES, 0, 1, 0), VIRTIO_BLK_S_IOERR);
    CHECK_EQ_U64(file_byte(0), before);
    CHECK_EQ_U64(blk_req(&d, VIRTIO_BLK_T_IN, 0, buf, 512, true), VIRTIO_BLK_S_OK);
    CHECK_EQ_U64(*(uint8_t *)vd_ptr(&d, buf), before);
    CHECK_EQ_U64(blk_req(&d, VIRTIO_BLK_T_FLUSH, 0, 0, 0, false), VIRTIO_BLK_S_OK);
    vd_free(&d);
}

TEST(malformed_requests_need_reset)
{
    struct vdriver d;
    blk_running(&d, false);
    /* No status byte: only a readable header. */
    struct vd_buf b = {vd_alloc(&d, 16), 16, false};
    vd_post(&d, 0, &b, 1);
    vd_notify(&d, 0);
    CHECK(vd_needs_reset(&d));
    vd_free(&d);

    blk_running(&d, false);
    /* A header shorter than 16 bytes. */
    struct vd_buf b2[2] = {{vd_alloc(&d, 8), 8, false}, {vd_alloc(&d, 1), 1, true}};
    vd_post(&d, 0, b2, 2);
    vd_notify(&d, 0);
    CHECK(vd_needs_reset(&d));
    vd_free(&d);
}

TEST(header_split_across_buffers)
{
    struct vdriver d;
    blk_running(&d, false);
    uint64_t h = vd_alloc(&d, 16), data = vd_alloc(&d, 512), st = vd_alloc(&d, 1);
    uint32_t hdr[4] = {VIRTIO_BLK_T_IN, 0, 1, 0};
    memcpy(vd_ptr(&d, h), hdr, 16);
    struct vd_buf bufs[5] = {{h, 5, false}, {h + 5, 11, false}, {data, 300, true},
                             {data + 300, 212, true}, {st, 1, true}};
    vd_post(&d, 0, bufs, 5);
    vd_notify(&d, 0);
    uint32_t id, len;
    CHECK(vd_get_used(&d, 0, &id, &len, 0));
    CHECK_EQ_U64(len, 513);
    CHECK_EQ_U64(*(uint8_t *)vd_ptr(&d, st), VIRTIO_BLK_S_OK);
    CHECK_EQ_U64(*(uint8_t *)vd_ptr(&d, data + 511), 1);
    vd_free(&d);
}

/* A guest writing the cdisk magic into a probed raw image would then pick its backing
 * file (any host file); the production path must refuse, also on the writev path. */
TEST(probed_raw_refuses_cdisk_magic)
{
    struct vdriver d;
    blk_running(&d, false);
    uint64_t buf = vd_alloc(&d, 1024);
    memset(vd_ptr(&d, buf), 0, 1024);
    memcpy(vd_ptr(&d, buf), "CoveDisk", 8);
    uint8_t before = file_byte(0);
    CHECK_EQ_U64(blk_req(&d, VIRTIO_BLK_T_OUT, 0, buf, 1024, false), VIRTIO_BLK_S_IOERR);
    CHECK_EQ_U64(file_byte(0), before);
    memcpy(vd_ptr(&d, buf), "NotADisk", 8);
    CHECK_EQ_U64(blk_req(&d, VIRTIO_BLK_T_OUT, 0, buf, 1024, false), VIRTIO_BLK_S_OK);
    CHECK_EQ_U64(file_byte(0), 'N');
    vd_free(&d);
}

/* The same device on a cdisk: data written through the queue is in the image afterwards. */
TEST(cdisk_round_trip)
{
    char path[64];
    snprintf(path, sizeof path, "/tmp/cove-test-blk-%d.cdisk", (int)getpid());
    unlink(path);
    struct cove_error err;
    REQUIRE(disk_create(path, DISK_SIZE, NULL, &err) == 0);
    struct vdriver d;
    blk_running_on(&d, path, false, NULL);
    uint64_t buf = vd_alloc(&d, 4096), back = vd_alloc(&d, 4096);
    CHECK_EQ_U64(blk_req(&d, VIRTIO_BLK_T_IN, 8, back, 4096, true), VIRTIO_BLK_S_OK);
    CHECK_EQ_U64(*(uint8_t *)vd_ptr(&d, back), 0); /* unallocated clusters read zeros */
    for (unsigned i = 0; i < 4096; i++)
        ((uint8_t *)vd_ptr(&d, buf))[i] = (uint8_t)(i * 13 + 1);
    CHECK_EQ_U64(blk_req(&d, VIRTIO_BLK_T_OUT, 7, buf, 4096, false), VIRTIO_BLK_S_OK);
    CHECK_EQ_U64(blk_req(&d, VIRTIO_BLK_T_FLUSH, 0, 0, 0, false), VIRTIO_BLK_S_OK);
    CHECK_EQ_U64(blk_req(&d, VIRTIO_BLK_T_IN, 7, back, 4096, true), VIRTIO_BLK_S_OK);
    CHECK(memcmp(vd_ptr(&d, back), vd_ptr(&d, buf), 4096) == 0);
    CHECK_EQ_U64(discard_req(&d, VIRTIO_BLK_T_WRITE_ZEROES, 8, 1, 0), VIRTIO_BLK_S_OK);
    uint64_t id = vd_alloc(&d, 20);
    CHECK_EQ_U64(blk_req(&d, VIRTIO_BLK_T_GET_ID, 0, id, 20, true), VIRTIO_BLK_S_OK);
    CHECK(memcmp(vd_ptr(&d, id), path + 5, strlen(path + 5) < 20 ? strlen(path + 5) : 20) == 0);
    vd_free(&d);

    struct disk *disk;
    REQUIRE(disk_open(path, true, &disk, &err) == 0);
    CHECK(disk_get_format(disk) == DISK_FORMAT_CDISK);
    uint8_t got[4096];
    CHECK(disk_read(disk, got, sizeof got, 7 * 512) == 0);
    CHECK_EQ_U64(got[0], 1);
    CHECK_EQ_U64(got[511], (uint8_t)(511 * 13 + 1));
    CHECK_EQ_U64(got[512], 0); /* sector 8 zeroed */
    CHECK_EQ_U64(got[1023], 0);
    CHECK_EQ_U64(got[1024], (uint8_t)(1024 * 13 + 1));
    disk_close(disk);
    unlink(path);
}

TEST(open_errors_and_locks)
{
    struct block_attachment *a, *b;
    struct cove_error err;
    CHECK(block_disk_open("/nonexistent/disk.img", &(struct block_options){.read_only = false}, &a, &err) == -ENOENT);
    CHECK(strstr(err.message, "/nonexistent/disk.img") && strstr(err.message, "no such file"));
    CHECK(block_disk_open("/tmp", &(struct block_options){.read_only = true}, &a, &err) == -EISDIR);
    CHECK(strstr(err.message, "is a directory") != NULL);
    CHECK(block_disk_open("/tmp", &(struct block_options){.read_only = false}, &a, &err) == -EISDIR);

    REQUIRE(block_disk_open(image, &(struct block_options){.read_only = false}, &a, &err) == 0);
    CHECK(block_disk_open(image, &(struct block_options){.read_only = false}, &b, &err) == -EBUSY);
    CHECK(strstr(err.message, "is in use by another VM") != NULL);
    CHECK(block_disk_open(image, &(struct block_options){.read_only = true}, &b, &err) == -EBUSY);
    block_close(a);
    REQUIRE(block_disk_open(image, &(struct block_options){.read_only = true}, &a, &err) == 0);
    REQUIRE(block_disk_open(image, &(struct block_options){.read_only = true}, &b, &err) == 0); /* readers share */
    CHECK(block_disk_open(image, &(struct block_options){.read_only = false}, &b, &err) == -EBUSY);
    block_close(a);
    block_close(b);
    REQUIRE(block_disk_open(image, &(struct block_options){.read_only = false}, &a, &err) == 0);
    CHECK_EQ_U64(a->size, DISK_SIZE);
    CHECK(!a->read_only);
    block_close(a);
}

/* A rate-limited disk on an I/O thread (throttle.c): 12 reads posted at once under ops=4 per
 * 100 ms all complete, whole and OK, none dropped; the last ones wait for the timer, so
 * the batch takes at least 2 refills (a lower bound only: a loaded host is slower). */
TEST(rate_limit_waits_for_tokens)
{
    struct iothread *io;
    struct cove_error err;
    REQUIRE(iothread_create(&io, &err) == 0);
    struct vdriver d;
    vd_ram_init(&d);
    struct block_attachment *disk;
    REQUIRE(block_disk_open(image, &(struct block_options){.read_only = true}, &disk, &err) == 0);
    struct virtio_mmio_params p = vd_params(&d, io);
    REQUIRE(virtio_blk_create(&p, disk, &d.t, &err) == 0);
    struct cove_rate_limit rate = {.ops = {4, 100, 0}};
    REQUIRE(virtio_blk_set_rate(d.t, &rate, &err) == 0);
    vd_negotiate(&d, vd_device_features(&d));
    vd_queue_setup(&d, 0, 64);
    vd_driver_ok(&d);
    uint64_t data[12], status[12];
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (unsigned i = 0; i < 12; i++) {
        uint64_t hdr = vd_alloc(&d, 16);
        data[i] = vd_alloc(&d, 4096);
        status[i] = vd_alloc(&d, 1);
        uint32_t h[4] = {0 /* IN */, 0, i * 8, 0};
        memcpy(vd_ptr(&d, hdr), h, 16);
        *(uint8_t *)vd_ptr(&d, status[i]) = 0xff;
        struct vd_buf bufs[3] = {{hdr, 16, false}, {data[i], 4096, true}, {status[i], 1, true}};
        vd_post(&d, 0, bufs, 3);
    }
    vd_notify(&d, 0);
    unsigned done = 0;
    uint32_t id, len;
    while (done < 12 && vd_get_used(&d, 0, &id, &len, 10000))
        done++;
    clock_gettime(CLOCK_MONOTONIC, &t1);
    CHECK(done == 12);
    for (unsigned i = 0; i < 12; i++) {
        CHECK(*(uint8_t *)vd_ptr(&d, status[i]) == 0);
        CHECK(*(uint8_t *)vd_ptr(&d, data[i]) == file_byte(i * 4096ull));
    }
    double ms = (double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6;
    CHECK(ms >= 190); /* 4 at once, then 4 per 100 ms: the 12th after 200 ms */
    CHECK(!vd_needs_reset(&d));
    vd_free(&d);
    iothread_destroy(io);
}

int main(void)
{
    make_image();
    RUN(config_space);
    RUN(read_write_flush);
    RUN(get_id);
    RUN(discard_and_write_zeroes);
    RUN(read_only_refuses_writes);
    RUN(malformed_requests_need_reset);
    RUN(header_split_across_buffers);
    RUN(probed_raw_refuses_cdisk_magic);
    RUN(cdisk_round_trip);
    RUN(open_errors_and_locks);
    RUN(rate_limit_waits_for_tokens);
    unlink(image);
    return test_summary();
}
