/*
 * virtio-attack: a hostile virtio driver in guest user space. Runs as root inside the
 * default guest (installed as /usr/bin/virtio-attack):
 *
 *     virtio-attack rng        the first virtio-rng device
 *     virtio-attack balloon    the first virtio-balloon device
 *     virtio-attack blk vdb    the virtio-blk device behind /dev/vdb (must not be mounted)
 *     virtio-attack gpu        the first virtio-gpu device (`cove run --display vnc`)
 *
 * For each device it takes the device away from the kernel (unbinds the virtio-mmio
 * platform driver), maps its register window through /dev/mem, builds virtqueues in
 * mlock()ed user memory whose physical addresses come from /proc/self/pagemap, does the
 * virtio handshake itself and posts well-formed and malformed requests. A malformed chain
 * must leave the device with DEVICE_NEEDS_RESET set, nothing completed, and a device that
 * comes back after a reset; a request that is well formed but wrong (a sector beyond the
 * end, an unknown type) must complete with the matching virtio-blk status. At the end the
 * kernel driver is bound again. One line per case, then `virtio-attack: N passed, M failed`;
 * the exit status is 0 only when nothing failed. The balloon gets the common cases on its
 * inflate queue, then page numbers outside RAM (ignored, the chain completes), a page of
 * the program's own given back (it reads zero afterwards), and free page reports of a
 * range past the end of RAM or below it (NEEDS_RESET) and of one of its pages (zeroed).
 * The gpu gets the common cases on its control queue, then commands that are well formed
 * but wrong (resource id 0, a huge resource, backing outside RAM, rectangles past the
 * resource or wrapping, a scanout of a freed resource, ...): each must be answered with the
 * matching VIRTIO_GPU_RESP_ERR_*, and a command without room for its response must give
 * NEEDS_RESET.
 *
 * The program never writes data to a disk: its only write requests lie beyond the end, or
 * go to a read-only disk, which must refuse them.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#define PAGE 4096u

/* virtio-mmio registers (virtio 1.2, 4.2.2) */
#define R_MAGIC 0x000
#define R_VERSION 0x004
#define R_DEVICE_ID 0x008
#define R_DEV_FEATURES 0x010
#define R_DEV_FEATURES_SEL 0x014
#define R_DRV_FEATURES 0x020
#define R_DRV_FEATURES_SEL 0x024
#define R_QUEUE_SEL 0x030
#define R_QUEUE_NUM_MAX 0x034
#define R_QUEUE_NUM 0x038
#define R_QUEUE_READY 0x044
#define R_QUEUE_NOTIFY 0x050
#define R_INT_STATUS 0x060
#define R_INT_ACK 0x064
#define R_STATUS 0x070
#define R_DESC_LO 0x080
#define R_DESC_HI 0x084
#define R_DRIVER_LO 0x090
#define R_DRIVER_HI 0x094
#define R_DEVICE_LO 0x0a0
#define R_DEVICE_HI 0x0a4
#define R_CONFIG 0x100

#define S_ACK 1u
#define S_DRIVER 2u
#define S_DRIVER_OK 4u
#define S_FEATURES_OK 8u
#define S_NEEDS_RESET 0x40u

#define F_INDIRECT (1ull << 28)
#define F_EVENT_IDX (1ull << 29)
#define F_VERSION_1 (1ull << 32)

#define D_NEXT 1
#define D_WRITE 2
#define D_INDIRECT 4

#define ID_BLOCK 2
#define ID_RNG 4
#define ID_BALLOON 5
#define ID_GPU 16
#define BALLOON_Q_INFLATE 0
#define BALLOON_Q_REPORTING 3 /* after the stats queue: every feature is negotiated */

#define BLK_F_RO (1u << 5)
#define BLK_T_IN 0
#define BLK_T_OUT 1
#define BLK_T_DISCARD 11
#define BLK_S_OK 0
#define BLK_S_IOERR 1
#define BLK_S_UNSUPP 2

/* virtio-gpu (virtio 1.2, 5.7) */
#define GPU_GET_DISPLAY_INFO 0x0100
#define GPU_CREATE_2D 0x0101
#define GPU_UNREF 0x0102
#define GPU_SET_SCANOUT 0x0103
#define GPU_FLUSH 0x0104
#define GPU_TRANSFER_2D 0x0105
#define GPU_ATTACH_BACKING 0x0106
#define GPU_OK_NODATA 0x1100
#define GPU_OK_DISPLAY_INFO 0x1101
#define GPU_ERR_UNSPEC 0x1200
#define GPU_ERR_OUT_OF_MEMORY 0x1201
#define GPU_ERR_INVALID_SCANOUT_ID 0x1202
#define GPU_ERR_INVALID_RESOURCE_ID 0x1203
#define GPU_ERR_INVALID_PARAMETER 0x1205
#define GPU_FORMAT_B8G8R8X8 2

#define QSIZE 8u
/* Pages of the attack's memory: each ring and buffer lies inside one page, so one
 * pagemap lookup per page gives every physical address needed. */
enum { P_DESC, P_AVAIL, P_USED, P_INDIRECT, P_HEADER, P_DATA, P_STATUS, P_DATA2, NPAGES };

/* How long the device (an I/O thread on the host) gets to react. */
#define WAIT_NS (5ll * 1000000000ll)

struct ctx {
    volatile uint32_t *regs;
    uint32_t id;
    unsigned queue;        /* the queue set up and notified (0 but for the balloon's cases) */
    const char *what;
    uint8_t *mem;
    uint64_t phys[NPAGES];
    uint64_t ram_end;      /* first byte after guest RAM */
    uint64_t capacity;     /* blk: sectors */
    uint16_t avail_idx;
    int passed, failed;
};

static int fail_line(struct ctx *c, const char *name, const char *fmt, ...)
{
    va_list ap;
    printf("virtio-attack: %s: %s: FAIL: ", c->what, name);
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    printf("\n");
    fflush(stdout);
    c->failed++;
    return -1;
}

static void pass_line(struct ctx *c, const char *name, const char *how)
{
    printf("virtio-attack: %s: %s: ok (%s)\n", c->what, name, how);
    fflush(stdout);
    c->passed++;
}

static uint32_t rd(struct ctx *c, unsigned off)
{
    return c->regs[off / 4];
}

static void wr(struct ctx *c, unsigned off, uint32_t v)
{
    __sync_synchronize();
    c->regs[off / 4] = v;
    __sync_synchronize();
}

static uint8_t *page(struct ctx *c, unsigned p) { return c->mem + (size_t)p * PAGE; }
static uint64_t pa(struct ctx *c, unsigned p, unsigned off) { return c->phys[p] + off; }

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000ll + ts.tv_nsec;
}

static void pause_briefly(void)
{
    struct timespec ts = {0, 200000};
    nanosleep(&ts, NULL);
}

/* --- finding the device and taking it from the kernel --------------------------------- */

static int write_file(const char *path, const char *s)
{
    int fd = open(path, O_WRONLY);
    if (fd < 0)
        return -errno;
    ssize_t n = write(fd, s, strlen(s));
    int e = n < 0 ? -errno : 0;
    close(fd);
    return e;
}

static int read_line(const char *path, char *buf, size_t len)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return -errno;
    if (!fgets(buf, (int)len, f)) {
        fclose(f);
        return -EIO;
    }
    fclose(f);
    buf[strcspn(buf, "\n")] = 0;
    return 0;
}

/* The platform device (e.g. "10008000.virtio_mmio") behind a virtio device's sysfs path. */
static int platform_name(const char *virtio_path, char *name, size_t len)
{
    char real[PATH_MAX];
    if (!realpath(virtio_path, real))
        return -errno;
    char *slash = strrchr(real, '/');
    if (!slash)
        return -EINVAL;
    *slash = 0;
    slash = strrchr(real, '/');
    if (!slash || !strstr(slash, "virtio_mmio"))
        return -ENODEV;
    snprintf(name, len, "%s", slash + 1);
    return 0;
}

static int find_device(uint32_t want, char *name, size_t len)
{
    for (int i = 0; i < 64; i++) {
        char path[128], id[32];
        snprintf(path, sizeof path, "/sys/bus/virtio/devices/virtio%d/device", i);
        if (read_line(path, id, sizeof id) == 0 && strtoul(id, NULL, 0) == want) {
            snprintf(path, sizeof path, "/sys/bus/virtio/devices/virtio%d", i);
            return platform_name(path, name, len);
        }
    }
    return -ENODEV;
}

static int find_disk(const char *disk, char *name, size_t len)
{
    char path[128], line[512], dev[64];
    snprintf(dev, sizeof dev, "/dev/%s", disk);
    FILE *m = fopen("/proc/mounts", "r");
    if (m) {
        while (fgets(line, sizeof line, m))
            if (!strncmp(line, dev, strlen(dev)) && strchr(" 0123456789", line[strlen(dev)])) {
                fclose(m);
                return -EBUSY;
            }
        fclose(m);
    }
    snprintf(path, sizeof path, "/sys/block/%s/device", disk);
    return platform_name(path, name, len);
}

/* The first byte after guest RAM, from /proc/iomem's "System RAM" lines. */
static uint64_t ram_end(void)
{
    FILE *f = fopen("/proc/iomem", "r");
    char line[256];
    uint64_t end = 0;
    if (!f)
        return 0;
    while (fgets(line, sizeof line, f)) {
        uint64_t a, b;
        if (strstr(line, "System RAM") && sscanf(line, " %" SCNx64 "-%" SCNx64, &a, &b) == 2 &&
            b + 1 > end)
            end = b + 1;
    }
    fclose(f);
    return end;
}

static int map_memory(struct ctx *c)
{
    c->mem = mmap(NULL, (size_t)NPAGES * PAGE, PROT_READ | PROT_WRITE,
                  MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
    if (c->mem == MAP_FAILED)
        return -errno;
    /* The device writes these pages behind the kernel's back: they must stay put. */
    if (mlock(c->mem, (size_t)NPAGES * PAGE) < 0)
        return -errno;
    memset(c->mem, 0, (size_t)NPAGES * PAGE);
    int fd = open("/proc/self/pagemap", O_RDONLY);
    if (fd < 0)
        return -errno;
    for (unsigned i = 0; i < NPAGES; i++) {
        uint64_t e;
        off_t off = (off_t)((uintptr_t)page(c, i) / PAGE) * 8;
        if (pread(fd, &e, 8, off) != 8 || !(e & (1ull << 63)) || !(e & ((1ull << 55) - 1))) {
            close(fd);
            return -EPERM; /* not present, or no PFNs without CAP_SYS_ADMIN */
        }
        c->phys[i] = (e & ((1ull << 55) - 1)) * PAGE;
    }
    close(fd);
    return 0;
}

static int map_device(struct ctx *c, const char *name)
{
    uint64_t base = strtoull(name, NULL, 16);
    int fd = open("/dev/mem", O_RDWR | O_SYNC);
    if (fd < 0)
        return -errno;
    void *p = mmap(NULL, PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, (off_t)base);
    close(fd);
    if (p == MAP_FAILED)
        return -errno;
    c->regs = p;
    return 0;
}

/* --- the driver side of the protocol ---------------------------------------------------- */

static int reset_device(struct ctx *c)
{
    wr(c, R_STATUS, 0);
    int64_t end = now_ns() + WAIT_NS;
    while (rd(c, R_STATUS) != 0 || rd(c, R_QUEUE_READY) != 0) {
        if (now_ns() > end)
            return -ETIMEDOUT;
        pause_briefly();
    }
    wr(c, R_INT_ACK, rd(c, R_INT_STATUS));
    memset(c->mem, 0, (size_t)NPAGES * PAGE);
    c->avail_idx = 0;
    return 0;
}

/* The handshake (3.1.1) with a queue of QSIZE at desc/avail/used; 0 or a reason. */
static const char *setup_device(struct ctx *c, uint64_t desc, uint64_t avail, uint64_t used,
                                bool driver_ok)
{
    if (reset_device(c) < 0)
        return "reset did not complete";
    wr(c, R_STATUS, S_ACK);
    wr(c, R_STATUS, S_ACK | S_DRIVER);
    wr(c, R_DEV_FEATURES_SEL, 0);
    uint64_t f = rd(c, R_DEV_FEATURES);
    wr(c, R_DEV_FEATURES_SEL, 1);
    f |= (uint64_t)rd(c, R_DEV_FEATURES) << 32;
    if (!(f & F_VERSION_1) || !(f & F_INDIRECT))
        return "device offers no VERSION_1 or INDIRECT_DESC";
    /* Everything but EVENT_IDX: this driver polls and never waits for an interrupt. */
    uint64_t want = f & ~F_EVENT_IDX;
    wr(c, R_DRV_FEATURES_SEL, 0);
    wr(c, R_DRV_FEATURES, (uint32_t)want);
    wr(c, R_DRV_FEATURES_SEL, 1);
    wr(c, R_DRV_FEATURES, (uint32_t)(want >> 32));
    wr(c, R_STATUS, S_ACK | S_DRIVER | S_FEATURES_OK);
    if (!(rd(c, R_STATUS) & S_FEATURES_OK))
        return "FEATURES_OK refused";
    wr(c, R_QUEUE_SEL, c->queue);
    if (rd(c, R_QUEUE_NUM_MAX) < QSIZE)
        return "queue too small";
    wr(c, R_QUEUE_NUM, QSIZE);
    wr(c, R_DESC_LO, (uint32_t)desc);
    wr(c, R_DESC_HI, (uint32_t)(desc >> 32));
    wr(c, R_DRIVER_LO, (uint32_t)avail);
    wr(c, R_DRIVER_HI, (uint32_t)(avail >> 32));
    wr(c, R_DEVICE_LO, (uint32_t)used);
    wr(c, R_DEVICE_HI, (uint32_t)(used >> 32));
    wr(c, R_QUEUE_READY, 1);
    if (driver_ok)
        wr(c, R_STATUS, S_ACK | S_DRIVER | S_FEATURES_OK | S_DRIVER_OK);
    return NULL;
}

static const char *setup_queue(struct ctx *c)
{
    const char *why = setup_device(c, pa(c, P_DESC, 0), pa(c, P_AVAIL, 0), pa(c, P_USED, 0), true);
    if (!why && (rd(c, R_STATUS) & (S_NEEDS_RESET | S_DRIVER_OK)) != S_DRIVER_OK)
        why = "device not running after a correct handshake";
    return why;
}

static void set_desc(uint8_t *table, unsigned i, uint64_t addr, uint32_t len, uint16_t flags,
                     uint16_t next)
{
    uint8_t *d = table + 16 * i;
    memcpy(d, &addr, 8);
    memcpy(d + 8, &len, 4);
    memcpy(d + 12, &flags, 2);
    memcpy(d + 14, &next, 2);
}

static volatile uint16_t *avail_idx(struct ctx *c) { return (uint16_t *)(page(c, P_AVAIL) + 2); }
static volatile uint16_t *used_idx(struct ctx *c) { return (uint16_t *)(page(c, P_USED) + 2); }

static void post_at(struct ctx *c, uint16_t head, uint16_t new_idx)
{
    uint16_t *ring = (uint16_t *)(page(c, P_AVAIL) + 4);
    ring[c->avail_idx % QSIZE] = head;
    __sync_synchronize();
    *avail_idx(c) = new_idx;
    c->avail_idx = new_idx;
    wr(c, R_QUEUE_NOTIFY, c->queue);
}

static void post(struct ctx *c, uint16_t head) { post_at(c, head, (uint16_t)(c->avail_idx + 1)); }

static bool wait_for(struct ctx *c, bool (*done)(struct ctx *))
{
    int64_t end = now_ns() + WAIT_NS;
    while (!done(c)) {
        if (now_ns() > end)
            return false;
        pause_briefly();
    }
    return true;
}

static bool needs_reset(struct ctx *c) { return rd(c, R_STATUS) & S_NEEDS_RESET; }
static bool used_one(struct ctx *c) { return *used_idx(c) != 0; }

/* --- the cases -------------------------------------------------------------------------- */

/* Fills the descriptor table for a malformed chain; returns the head to post. */
typedef int (*build_fn)(struct ctx *c);

/* A chain the device may not complete: it must say NEEDS_RESET (with a configuration
 * interrupt, since the driver is running), complete nothing, and be usable after a reset. */
static void expect_violation(struct ctx *c, const char *name, build_fn build)
{
    const char *why = setup_queue(c);
    if (why) {
        fail_line(c, name, "setup: %s", why);
        return;
    }
    int head = build(c);
    if (head >= 0)
        post(c, (uint16_t)head);
    if (!wait_for(c, needs_reset)) {
        fail_line(c, name, "no NEEDS_RESET (status 0x%x, used idx %u)", rd(c, R_STATUS),
                  *used_idx(c));
        return;
    }
    if (*used_idx(c) != 0) {
        fail_line(c, name, "the device completed %u malformed chain(s)", *used_idx(c));
        return;
    }
    if (!(rd(c, R_INT_STATUS) & 2)) {
        fail_line(c, name, "NEEDS_RESET without a configuration interrupt");
        return;
    }
    if (reset_device(c) < 0) {
        fail_line(c, name, "status stays 0x%x after a reset", rd(c, R_STATUS));
        return;
    }
    pass_line(c, name, "NEEDS_RESET, nothing completed, reset clears it");
}

static int loop2(struct ctx *c)
{
    set_desc(page(c, P_DESC), 0, pa(c, P_DATA, 0), 64, D_WRITE | D_NEXT, 1);
    set_desc(page(c, P_DESC), 1, pa(c, P_DATA, 64), 64, D_WRITE | D_NEXT, 0);
    return 0;
}

static int loop_self(struct ctx *c)
{
    set_desc(page(c, P_DESC), 3, pa(c, P_DATA, 0), 64, D_WRITE | D_NEXT, 3);
    return 3;
}

static int head_out_of_range(struct ctx *c)
{
    set_desc(page(c, P_DESC), 0, pa(c, P_DATA, 0), 64, D_WRITE, 0);
    return QSIZE + 5;
}

static int next_out_of_range(struct ctx *c)
{
    set_desc(page(c, P_DESC), 0, pa(c, P_DATA, 0), 64, D_WRITE | D_NEXT, 0xfff0);
    return 0;
}

static int addr_beyond_ram(struct ctx *c)
{
    set_desc(page(c, P_DESC), 0, c->ram_end, 64, D_WRITE, 0);
    return 0;
}

static int addr_mmio(struct ctx *c)
{
    /* the device's own register window: writes there must never happen */
    set_desc(page(c, P_DESC), 0, 0x10001000, 64, D_WRITE, 0);
    return 0;
}

static int addr_wraps(struct ctx *c)
{
    set_desc(page(c, P_DESC), 0, UINT64_MAX - 15, 64, D_WRITE, 0);
    return 0;
}

static int addr_below_ram(struct ctx *c)
{
    /* starts below DRAM (0x80000000) and ends inside it */
    set_desc(page(c, P_DESC), 0, 0x80000000ull - 2048, 4096, D_WRITE, 0);
    return 0;
}

static int len_past_ram_end(struct ctx *c)
{
    uint64_t a = pa(c, P_DATA, 0);
    set_desc(page(c, P_DESC), 0, a, (uint32_t)(c->ram_end - a + 1), D_WRITE, 0);
    return 0;
}

static int len_huge(struct ctx *c)
{
    set_desc(page(c, P_DESC), 0, pa(c, P_DATA, 0), 0xffffffffu, D_WRITE, 0);
    return 0;
}

static int indirect_bad_len(struct ctx *c)
{
    set_desc(page(c, P_INDIRECT), 0, pa(c, P_DATA, 0), 64, D_WRITE, 0);
    set_desc(page(c, P_DESC), 0, pa(c, P_INDIRECT, 0), 24, D_INDIRECT, 0);
    return 0;
}

static int indirect_zero_len(struct ctx *c)
{
    set_desc(page(c, P_DESC), 0, pa(c, P_INDIRECT, 0), 0, D_INDIRECT, 0);
    return 0;
}

static int indirect_outside_ram(struct ctx *c)
{
    set_desc(page(c, P_DESC), 0, c->ram_end - 32, 64, D_INDIRECT, 0);
    return 0;
}

static int indirect_nested(struct ctx *c)
{
    set_desc(page(c, P_INDIRECT), 0, pa(c, P_INDIRECT, 64), 16, D_INDIRECT, 0);
    set_desc(page(c, P_DESC), 0, pa(c, P_INDIRECT, 0), 16, D_INDIRECT, 0);
    return 0;
}

static int indirect_with_next(struct ctx *c)
{
    set_desc(page(c, P_INDIRECT), 0, pa(c, P_DATA, 0), 64, D_WRITE, 0);
    set_desc(page(c, P_DESC), 0, pa(c, P_INDIRECT, 0), 16, D_INDIRECT | D_NEXT, 1);
    set_desc(page(c, P_DESC), 1, pa(c, P_DATA, 64), 64, D_WRITE, 0);
    return 0;
}

static int indirect_loop(struct ctx *c)
{
    uint8_t *t = page(c, P_INDIRECT);
    for (unsigned i = 0; i < 4; i++)
        set_desc(t, i, pa(c, P_DATA, 64 * i), 64, D_WRITE | D_NEXT, (uint16_t)((i + 1) % 4));
    set_desc(page(c, P_DESC), 0, pa(c, P_INDIRECT, 0), 64, D_INDIRECT, 0);
    return 0;
}

static int indirect_next_out_of_table(struct ctx *c)
{
    set_desc(page(c, P_INDIRECT), 0, pa(c, P_DATA, 0), 64, D_WRITE | D_NEXT, 1);
    set_desc(page(c, P_DESC), 0, pa(c, P_INDIRECT, 0), 16, D_INDIRECT, 0);
    return 0;
}

static int readable_after_writable(struct ctx *c)
{
    set_desc(page(c, P_DESC), 0, pa(c, P_DATA, 0), 64, D_WRITE | D_NEXT, 1);
    set_desc(page(c, P_DESC), 1, pa(c, P_DATA, 64), 64, 0, 0);
    return 0;
}

static int avail_jump(struct ctx *c)
{
    set_desc(page(c, P_DESC), 0, pa(c, P_DATA, 0), 64, D_WRITE, 0);
    uint16_t *ring = (uint16_t *)(page(c, P_AVAIL) + 4);
    ring[0] = 0;
    __sync_synchronize();
    post_at(c, 0, QSIZE + 7);
    return -1; /* already posted */
}

static int avail_wrap(struct ctx *c)
{
    /* an index far behind ours is just as impossible as one far ahead */
    set_desc(page(c, P_DESC), 0, pa(c, P_DATA, 0), 64, D_WRITE, 0);
    post_at(c, 0, 0xfff0);
    return -1;
}

/* virtio-blk chains: header, then data, then the status byte. */
static void blk_header(struct ctx *c, uint32_t type, uint64_t sector)
{
    uint8_t *h = page(c, P_HEADER);
    memset(h, 0, 16);
    memcpy(h, &type, 4);
    memcpy(h + 8, &sector, 8);
    page(c, P_STATUS)[0] = 0xee;
}

static int blk_short_header(struct ctx *c)
{
    blk_header(c, BLK_T_IN, 0);
    set_desc(page(c, P_DESC), 0, pa(c, P_HEADER, 0), 8, D_NEXT, 1);
    set_desc(page(c, P_DESC), 1, pa(c, P_STATUS, 0), 1, D_WRITE, 0);
    return 0;
}

static int blk_no_status(struct ctx *c)
{
    blk_header(c, BLK_T_IN, 0);
    set_desc(page(c, P_DESC), 0, pa(c, P_HEADER, 0), 16, 0, 0);
    return 0;
}

static int blk_header_only_writable(struct ctx *c)
{
    /* the header in a device-writable buffer: there are no readable bytes */
    blk_header(c, BLK_T_IN, 0);
    set_desc(page(c, P_DESC), 0, pa(c, P_HEADER, 0), 16, D_WRITE | D_NEXT, 1);
    set_desc(page(c, P_DESC), 1, pa(c, P_STATUS, 0), 1, D_WRITE, 0);
    return 0;
}

/* A request the device must complete, with status `want` (and NEEDS_RESET clear). */
static void expect_blk_status(struct ctx *c, const char *name, uint32_t type, uint64_t sector,
                              uint32_t data_len, uint8_t want)
{
    const char *why = setup_queue(c);
    if (why) {
        fail_line(c, name, "setup: %s", why);
        return;
    }
    blk_header(c, type, sector);
    set_desc(page(c, P_DESC), 0, pa(c, P_HEADER, 0), 16, D_NEXT, 1);
    unsigned st = 1;
    if (data_len) {
        uint16_t fl = type == BLK_T_IN ? D_WRITE : 0;
        uint8_t *d = page(c, P_DATA);
        if (type == BLK_T_DISCARD) {
            /* one segment: {sector, num_sectors, flags} */
            uint64_t s = sector;
            uint32_t n = 8, flags = 0;
            memcpy(d, &s, 8);
            memcpy(d + 8, &n, 4);
            memcpy(d + 12, &flags, 4);
        }
        set_desc(page(c, P_DESC), 1, pa(c, P_DATA, 0), data_len, fl | D_NEXT, 2);
        st = 2;
    }
    set_desc(page(c, P_DESC), st, pa(c, P_STATUS, 0), 1, D_WRITE, 0);
    post(c, 0);
    if (!wait_for(c, used_one)) {
        fail_line(c, name, "not completed (status 0x%x)", rd(c, R_STATUS));
        return;
    }
    uint8_t got = page(c, P_STATUS)[0];
    if (rd(c, R_STATUS) & S_NEEDS_RESET) {
        fail_line(c, name, "NEEDS_RESET for a well-formed request");
    } else if (got != want) {
        fail_line(c, name, "status %u, want %u", got, want);
    } else {
        char how[64];
        snprintf(how, sizeof how, "completed, status %s",
                 want == BLK_S_OK ? "OK" : want == BLK_S_IOERR ? "IOERR" : "UNSUPP");
        pass_line(c, name, how);
    }
    reset_device(c);
}

static void expect_rng_works(struct ctx *c, const char *name)
{
    const char *why = setup_queue(c);
    if (why) {
        fail_line(c, name, "setup: %s", why);
        return;
    }
    set_desc(page(c, P_DESC), 0, pa(c, P_DATA, 0), 64, D_WRITE, 0);
    post(c, 0);
    if (!wait_for(c, used_one)) {
        fail_line(c, name, "not completed (status 0x%x)", rd(c, R_STATUS));
        return;
    }
    uint32_t len;
    memcpy(&len, page(c, P_USED) + 8, 4);
    static const uint8_t zero[64];
    if (len != 64 || !memcmp(page(c, P_DATA), zero, 64))
        fail_line(c, name, "used len %u, buffer %s", len,
                  memcmp(page(c, P_DATA), zero, 64) ? "filled" : "still zero");
    else
        pass_line(c, name, "64 random bytes");
    reset_device(c);
}

/* Queue rings that are not in RAM are refused when the queue is enabled. */
static void expect_bad_ring(struct ctx *c, const char *name, uint64_t desc)
{
    const char *why = setup_device(c, desc, pa(c, P_AVAIL, 0), pa(c, P_USED, 0), false);
    if (why) {
        fail_line(c, name, "setup: %s", why);
        return;
    }
    if (!(rd(c, R_STATUS) & S_NEEDS_RESET) || rd(c, R_QUEUE_READY)) {
        fail_line(c, name, "queue accepted (status 0x%x, ready %u)", rd(c, R_STATUS),
                  rd(c, R_QUEUE_READY));
        return;
    }
    if (reset_device(c) < 0) {
        fail_line(c, name, "status stays 0x%x after a reset", rd(c, R_STATUS));
        return;
    }
    pass_line(c, name, "NEEDS_RESET, queue not enabled");
}

static void run_common(struct ctx *c)
{
    expect_bad_ring(c, "descriptor table outside RAM", c->ram_end);
    expect_bad_ring(c, "descriptor table misaligned", pa(c, P_DESC, 8));
    expect_violation(c, "descriptor loop (0 -> 1 -> 0)", loop2);
    expect_violation(c, "descriptor loop (3 -> 3)", loop_self);
    expect_violation(c, "avail head index out of range", head_out_of_range);
    expect_violation(c, "next index out of range", next_out_of_range);
    expect_violation(c, "address beyond the end of RAM", addr_beyond_ram);
    expect_violation(c, "address in MMIO space", addr_mmio);
    expect_violation(c, "address + length wraps around", addr_wraps);
    expect_violation(c, "buffer starting below RAM", addr_below_ram);
    expect_violation(c, "length one byte past the end of RAM", len_past_ram_end);
    expect_violation(c, "oversize length (4 GiB - 1)", len_huge);
    expect_violation(c, "indirect table length not a multiple of 16", indirect_bad_len);
    expect_violation(c, "indirect table of length 0", indirect_zero_len);
    expect_violation(c, "indirect table outside RAM", indirect_outside_ram);
    expect_violation(c, "nested indirect table", indirect_nested);
    expect_violation(c, "indirect descriptor with NEXT", indirect_with_next);
    expect_violation(c, "loop inside an indirect table", indirect_loop);
    expect_violation(c, "next index beyond the indirect table", indirect_next_out_of_table);
    expect_violation(c, "readable buffer after a writable one", readable_after_writable);
    expect_violation(c, "avail idx jumps past the queue size", avail_jump);
    expect_violation(c, "avail idx jumps backwards", avail_wrap);
}

/* --- virtio-balloon -------------------------------------------------------------------- */

static int report_past_end(struct ctx *c)
{
    set_desc(page(c, P_DESC), 0, c->ram_end - PAGE, 2 * PAGE, D_WRITE, 0);
    return 0;
}

static int report_below_ram(struct ctx *c)
{
    set_desc(page(c, P_DESC), 0, 0x1000, 16 * PAGE, D_WRITE, 0);
    return 0;
}

static bool all_zero(const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (p[i])
            return false;
    return true;
}

/* Gives one page of ours (P_DATA2, filled with a pattern) to the device on queue q: as an
 * inflated PFN (q 0, the PFN list in P_DATA, with PFNs outside RAM around it) or as a
 * reported free range. The chain must complete, the device stay well, and the page read
 * zero: the host let it go. */
static void expect_page_given_back(struct ctx *c, const char *name, unsigned q)
{
    c->queue = q;
    const char *why = setup_queue(c);
    if (why) {
        fail_line(c, name, "setup: %s", why);
        c->queue = 0;
        return;
    }
    memset(page(c, P_DATA2), 0x5a, PAGE);
    if (q == BALLOON_Q_INFLATE) {
        uint32_t pfns[6] = {(uint32_t)(c->ram_end / PAGE), 0, 0xffffffffu, 0x10001,
                            (uint32_t)(pa(c, P_DATA2, 0) / PAGE), (uint32_t)(c->ram_end / PAGE) + 1};
        memcpy(page(c, P_DATA), pfns, sizeof pfns);
        set_desc(page(c, P_DESC), 0, pa(c, P_DATA, 0), sizeof pfns, 0, 0);
    } else {
        set_desc(page(c, P_DESC), 0, pa(c, P_DATA2, 0), PAGE, D_WRITE, 0);
    }
    post(c, 0);
    if (!wait_for(c, used_one))
        fail_line(c, name, "not completed (status 0x%x)", rd(c, R_STATUS));
    else if (needs_reset(c))
        fail_line(c, name, "NEEDS_RESET for a well-formed request");
    else if (!all_zero(page(c, P_DATA2), PAGE))
        fail_line(c, name, "the page still holds its data: not given back");
    else
        pass_line(c, name, q == BALLOON_Q_INFLATE ? "completed, page zeroed, PFNs outside RAM ignored"
                                                  : "completed, page zeroed");
    reset_device(c);
    c->queue = 0;
}

static void run_balloon(struct ctx *c)
{
    expect_page_given_back(c, "inflate: our page and PFNs outside RAM", BALLOON_Q_INFLATE);
    run_common(c); /* on the inflate queue */
    c->queue = BALLOON_Q_REPORTING;
    expect_violation(c, "free page report past the end of RAM", report_past_end);
    expect_violation(c, "free page report below RAM", report_below_ram);
    c->queue = 0;
    expect_page_given_back(c, "free page report of our page", BALLOON_Q_REPORTING);
}

static void run_rng(struct ctx *c)
{
    expect_rng_works(c, "well-formed request");
    run_common(c);
    expect_rng_works(c, "well-formed request after the attacks");
}

static void run_blk(struct ctx *c)
{
    wr(c, R_STATUS, 0);
    c->capacity = rd(c, R_CONFIG) | (uint64_t)rd(c, R_CONFIG + 4) << 32;
    expect_blk_status(c, "read sector 0", BLK_T_IN, 0, 512, BLK_S_OK);
    run_common(c);
    expect_violation(c, "request header shorter than 16 bytes", blk_short_header);
    expect_violation(c, "request without a status byte", blk_no_status);
    expect_violation(c, "header in a device-writable buffer", blk_header_only_writable);
    expect_blk_status(c, "unknown request type", 0xdead, 0, 512, BLK_S_UNSUPP);
    expect_blk_status(c, "read past the last sector", BLK_T_IN, c->capacity, 512, BLK_S_IOERR);
    expect_blk_status(c, "read straddling the end", BLK_T_IN, c->capacity - 1, 1024, BLK_S_IOERR);
    expect_blk_status(c, "read at sector 2^64-1", BLK_T_IN, UINT64_MAX, 512, BLK_S_IOERR);
    expect_blk_status(c, "read of a partial sector", BLK_T_IN, 0, 100, BLK_S_IOERR);
    expect_blk_status(c, "write past the last sector", BLK_T_OUT, c->capacity, 512, BLK_S_IOERR);
    expect_blk_status(c, "write at sector 2^55", BLK_T_OUT, 1ull << 55, 512, BLK_S_IOERR);
    expect_blk_status(c, "discard past the last sector", BLK_T_DISCARD, c->capacity, 16,
                      BLK_S_IOERR);
    wr(c, R_DEV_FEATURES_SEL, 0);
    if (rd(c, R_DEV_FEATURES) & BLK_F_RO) {
        /* the kernel refuses these itself: this is the device's own answer */
        expect_blk_status(c, "write to a read-only disk", BLK_T_OUT, 0, 512, BLK_S_IOERR);
        expect_blk_status(c, "discard on a read-only disk", BLK_T_DISCARD, 0, 16, BLK_S_IOERR);
    }
    expect_blk_status(c, "read sector 0 after the attacks", BLK_T_IN, 0, 512, BLK_S_OK);
}

/* --- virtio-gpu ------------------------------------------------------------------------- */

/* Posts one command (len bytes of le32 words, the 24-byte header first) with a writable
 * response buffer and checks the response type; 0 when it matched. */
static int gpu_cmd(struct ctx *c, const char *name, const uint32_t *cmd, uint32_t len,
                   uint32_t want)
{
    memset(page(c, P_STATUS), 0, PAGE);
    memcpy(page(c, P_HEADER), cmd, len);
    set_desc(page(c, P_DESC), 0, pa(c, P_HEADER, 0), len, D_NEXT, 1);
    set_desc(page(c, P_DESC), 1, pa(c, P_STATUS, 0), 1024, D_WRITE, 0);
    uint16_t before = *used_idx(c);
    post(c, 0);
    int64_t end = now_ns() + WAIT_NS;
    while (*used_idx(c) == before) {
        if (now_ns() > end)
            return fail_line(c, name, "not completed (status 0x%x)", rd(c, R_STATUS));
        pause_briefly();
    }
    uint32_t got;
    memcpy(&got, page(c, P_STATUS), 4);
    if (rd(c, R_STATUS) & S_NEEDS_RESET)
        return fail_line(c, name, "NEEDS_RESET for a well-formed command");
    if (got != want)
        return fail_line(c, name, "response 0x%x, want 0x%x", got, want);
    return 0;
}

/* A command sequence on a fresh device: every step's response as given, the last named. */
struct gpu_step {
    uint32_t w[16];
    uint32_t len, want;
};

static void expect_gpu(struct ctx *c, const char *name, const struct gpu_step *steps, int n)
{
    const char *why = setup_queue(c);
    if (why) {
        fail_line(c, name, "setup: %s", why);
        return;
    }
    for (int i = 0; i < n; i++)
        if (gpu_cmd(c, name, steps[i].w, steps[i].len, steps[i].want) < 0) {
            reset_device(c);
            return;
        }
    char how[64];
    snprintf(how, sizeof how, "answered 0x%x", steps[n - 1].want);
    pass_line(c, name, how);
    reset_device(c);
}

/* header words: type, flags, fence lo, fence hi, ctx, ring */
#define H(t) t, 0, 0, 0, 0, 0
#define CREATE(id, fmt, w, h) {{H(GPU_CREATE_2D), id, fmt, w, h}, 40, GPU_OK_NODATA}

static int gpu_no_response(struct ctx *c)
{
    uint32_t cmd[6] = {H(GPU_GET_DISPLAY_INFO)};
    memcpy(page(c, P_HEADER), cmd, sizeof cmd);
    set_desc(page(c, P_DESC), 0, pa(c, P_HEADER, 0), sizeof cmd, 0, 0);
    return 0;
}

static void run_gpu(struct ctx *c)
{
    uint32_t end_lo = (uint32_t)c->ram_end, end_hi = (uint32_t)(c->ram_end >> 32);
    const struct gpu_step info[] = {{{H(GPU_GET_DISPLAY_INFO)}, 24, GPU_OK_DISPLAY_INFO}};
    expect_gpu(c, "display info", info, 1);
    run_common(c);
    expect_violation(c, "command without a response buffer", gpu_no_response);
    const struct gpu_step short_hdr[] = {{{H(GPU_GET_DISPLAY_INFO)}, 16, GPU_ERR_UNSPEC}};
    expect_gpu(c, "header shorter than 24 bytes", short_hdr, 1);
    const struct gpu_step short_cmd[] = {{{H(GPU_CREATE_2D), 1}, 28, GPU_ERR_UNSPEC}};
    expect_gpu(c, "create 2D cut short", short_cmd, 1);
    const struct gpu_step unknown[] = {{{H(0x0999)}, 24, GPU_ERR_UNSPEC}};
    expect_gpu(c, "unknown command", unknown, 1);
    const struct gpu_step id0[] = {{{H(GPU_CREATE_2D), 0, GPU_FORMAT_B8G8R8X8, 64, 64}, 40,
                                    GPU_ERR_INVALID_RESOURCE_ID}};
    expect_gpu(c, "create 2D with resource id 0", id0, 1);
    const struct gpu_step huge[] = {{{H(GPU_CREATE_2D), 1, GPU_FORMAT_B8G8R8X8, 16384, 16384}, 40,
                                     GPU_ERR_OUT_OF_MEMORY}};
    expect_gpu(c, "create 2D of 16384x16384 (1 GiB)", huge, 1);
    const struct gpu_step fmt[] = {{{H(GPU_CREATE_2D), 1, 999, 64, 64}, 40,
                                    GPU_ERR_INVALID_PARAMETER}};
    expect_gpu(c, "create 2D of an unknown format", fmt, 1);
    const struct gpu_step twice[] = {CREATE(1, GPU_FORMAT_B8G8R8X8, 64, 64),
                                     {{H(GPU_CREATE_2D), 1, GPU_FORMAT_B8G8R8X8, 64, 64}, 40,
                                      GPU_ERR_INVALID_RESOURCE_ID}};
    expect_gpu(c, "create 2D of an id in use", twice, 2);
    const struct gpu_step outside[] = {CREATE(1, GPU_FORMAT_B8G8R8X8, 64, 64),
                                       {{H(GPU_ATTACH_BACKING), 1, 1, end_lo, end_hi, 16384, 0},
                                        48, GPU_ERR_INVALID_PARAMETER}};
    expect_gpu(c, "backing outside RAM", outside, 2);
    const struct gpu_step many[] = {CREATE(1, GPU_FORMAT_B8G8R8X8, 64, 64),
                                    {{H(GPU_ATTACH_BACKING), 1, 0x80000000u, end_lo, end_hi, 16384, 0},
                                     48, GPU_ERR_INVALID_PARAMETER}};
    expect_gpu(c, "backing of 2^31 entries", many, 2);
    const struct gpu_step nores[] = {{{H(GPU_ATTACH_BACKING), 42, 1, end_lo, end_hi, 4096, 0},
                                      48, GPU_ERR_INVALID_RESOURCE_ID}};
    expect_gpu(c, "backing for an unknown resource", nores, 1);
    const struct gpu_step big_rect[] = {CREATE(1, GPU_FORMAT_B8G8R8X8, 64, 64),
                                        {{H(GPU_TRANSFER_2D), 0, 0, 65, 64, 0, 0, 1, 0}, 56,
                                         GPU_ERR_INVALID_PARAMETER}};
    expect_gpu(c, "transfer of a rectangle past the resource", big_rect, 2);
    const struct gpu_step wrap[] = {CREATE(1, GPU_FORMAT_B8G8R8X8, 64, 64),
                                    {{H(GPU_TRANSFER_2D), 0xffffffffu, 0, 2, 1, 0, 0, 1, 0}, 56,
                                     GPU_ERR_INVALID_PARAMETER}};
    expect_gpu(c, "transfer of a rectangle whose x + width wraps", wrap, 2);
    const struct gpu_step scan_unknown[] = {{{H(GPU_SET_SCANOUT), 0, 0, 64, 64, 0, 99}, 48,
                                             GPU_ERR_INVALID_RESOURCE_ID}};
    expect_gpu(c, "scanout of an unknown resource", scan_unknown, 1);
    const struct gpu_step scan_id[] = {CREATE(1, GPU_FORMAT_B8G8R8X8, 64, 64),
                                       {{H(GPU_SET_SCANOUT), 0, 0, 64, 64, 5, 1}, 48,
                                        GPU_ERR_INVALID_SCANOUT_ID}};
    expect_gpu(c, "scanout 5 (there is one)", scan_id, 2);
    const struct gpu_step freed[] = {CREATE(1, GPU_FORMAT_B8G8R8X8, 64, 64),
                                     {{H(GPU_UNREF), 1, 0}, 32, GPU_OK_NODATA},
                                     {{H(GPU_SET_SCANOUT), 0, 0, 64, 64, 0, 1}, 48,
                                      GPU_ERR_INVALID_RESOURCE_ID}};
    expect_gpu(c, "scanout of a freed resource", freed, 3);
    const struct gpu_step flush[] = {{{H(GPU_FLUSH), 0, 0, 64, 64, 77, 0}, 48,
                                      GPU_ERR_INVALID_RESOURCE_ID}};
    expect_gpu(c, "flush of an unknown resource", flush, 1);
    expect_gpu(c, "display info after the attacks", info, 1);
}

static int attack(const char *kind, const char *disk, struct ctx *c)
{
    char name[128], bind[160];
    uint32_t id = !strcmp(kind, "rng")       ? ID_RNG
                  : !strcmp(kind, "balloon") ? ID_BALLOON
                  : !strcmp(kind, "gpu")     ? ID_GPU
                                             : ID_BLOCK;
    int r = id != ID_BLOCK ? find_device(id, name, sizeof name) : find_disk(disk, name, sizeof name);
    if (r < 0) {
        fprintf(stderr, "virtio-attack: %s%s%s: %s\n", kind, disk ? " " : "", disk ? disk : "",
                r == -EBUSY ? "mounted; refusing" : "no such virtio device");
        return r;
    }
    c->what = disk ? disk : kind;
    c->id = id;
    snprintf(bind, sizeof bind, "%s", name);
    r = write_file("/sys/bus/platform/drivers/virtio-mmio/unbind", bind);
    if (r < 0) {
        fprintf(stderr, "virtio-attack: unbind %s: %s\n", name, strerror(-r));
        return r;
    }
    r = map_device(c, name);
    if (r < 0) {
        fprintf(stderr, "virtio-attack: /dev/mem at %s: %s\n", name, strerror(-r));
        return r;
    }
    if (rd(c, R_MAGIC) != 0x74726976u || rd(c, R_VERSION) != 2 || rd(c, R_DEVICE_ID) != c->id) {
        fprintf(stderr, "virtio-attack: %s: not a modern virtio device of type %u\n", name, c->id);
        return -ENODEV;
    }
    printf("virtio-attack: %s: device at %s, RAM ends at 0x%" PRIx64 "\n", c->what, name,
           c->ram_end);
    if (c->id == ID_RNG)
        run_rng(c);
    else if (c->id == ID_BALLOON)
        run_balloon(c);
    else if (c->id == ID_GPU)
        run_gpu(c);
    else
        run_blk(c);
    reset_device(c);
    munmap((void *)c->regs, PAGE);
    /* The kernel driver takes the device back: it must work after all this. */
    r = write_file("/sys/bus/platform/drivers/virtio-mmio/bind", bind);
    if (r < 0) {
        fprintf(stderr, "virtio-attack: bind %s: %s\n", name, strerror(-r));
        c->failed++;
    }
    return 0;
}

static int usage(void)
{
    fprintf(stderr, "usage: virtio-attack rng | balloon | gpu | blk DISK  (repeatable: rng blk vdb ...)\n");
    return 2;
}

int main(int argc, char **argv)
{
    struct ctx c = {0};
    if (argc < 2)
        return usage();
    alarm(600); /* whatever happens, this program ends */
    c.ram_end = ram_end();
    int r = map_memory(&c);
    if (r < 0 || c.ram_end == 0) {
        fprintf(stderr, "virtio-attack: cannot set up DMA memory: %s\n",
                r < 0 ? strerror(-r) : "no System RAM in /proc/iomem");
        return 1;
    }
    for (int i = 1; i < argc; i++) {
        const char *disk = NULL;
        if (!strcmp(argv[i], "blk")) {
            if (++i == argc)
                return usage();
            disk = argv[i];
        } else if (strcmp(argv[i], "rng") && strcmp(argv[i], "balloon") && strcmp(argv[i], "gpu")) {
            return usage();
        }
        if (attack(disk ? "blk" : argv[i], disk, &c) < 0)
            c.failed++;
    }
    printf("virtio-attack: %d passed, %d failed\n", c.passed, c.failed);
    return c.failed ? 1 : 0;
}
