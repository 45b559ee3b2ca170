/* virtio-balloon driven through its queues (handlers run in the notifying thread): pages
 * the driver inflates or reports read as zero afterwards and leave the memfd behind guest
 * RAM (its blocks go), page numbers outside RAM are counted and ignored, ranges outside
 * RAM and buffers on queues that were not negotiated make the device need a reset, the
 * queue layout follows the features, statistics come and go as 5.5.6.3 says, the target
 * reaches the config space. */
#include <errno.h>
#include <sys/mman.h>
#include <stdio.h>
#include <unistd.h>

#include "../test.h"
#include "devices/virtio/virtio_devices.h"
#include "vdriver.h"

#define F_STATS (1ull << 1)
#define F_OOM (1ull << 2)
#define F_REPORTING (1ull << 5)
#define PAGE 4096ull
/* Pages the tests give back: above the rings and the buffers vd_alloc hands out. */
#define VICTIM (VD_RAM_BASE + (2ull << 20))

struct env {
    struct vdriver d;
    struct virtio_balloon *b;
    int memfd; /* -1: RAM is vdriver's private allocation */
};

static void setup(struct env *e, uint64_t features, bool memfd)
{
    vd_ram_init(&e->d);
    e->memfd = -1;
    if (memfd) { /* guest RAM as the machine makes it: a memfd mapped shared */
        free(e->d.ram.host);
        e->memfd = memfd_create("test-ram", MFD_CLOEXEC);
        if (e->memfd < 0 || ftruncate(e->memfd, VD_RAM_SIZE) < 0)
            exit(1);
        e->d.ram.host = mmap(NULL, VD_RAM_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, e->memfd, 0);
        if (e->d.ram.host == MAP_FAILED)
            exit(1);
        memset(e->d.ram.host, 0, VICTIM - VD_RAM_BASE); /* rings and buffers: allocated */
    }
    struct virtio_mmio_params p = vd_params(&e->d, NULL);
    struct cove_error err;
    if (virtio_balloon_create(&p, &e->d.t, &e->b, &err) < 0) {
        printf("  %s\n", err.message);
        exit(1);
    }
    vd_negotiate(&e->d, VD_BASE_FEATURES | features);
    for (unsigned q = 0; q < 4; q++) /* all four, whatever exists (a driver may) */
        vd_queue_setup(&e->d, q, 16);
    vd_driver_ok(&e->d);
}

static void teardown(struct env *e)
{
    virtio_mmio_destroy(e->d.t);
    if (e->memfd >= 0) {
        munmap(e->d.ram.host, VD_RAM_SIZE);
        close(e->memfd);
    } else {
        free(e->d.ram.host);
    }
}

static struct virtio_balloon_stats stats(struct env *e)
{
    struct virtio_balloon_stats st;
    virtio_balloon_get_stats(e->b, false, &st);
    return st;
}

/* Shared memory this process has mapped: where guest RAM's pages show. */
static uint64_t memfd_bytes(struct env *e)
{
    (void)e;
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    unsigned long long kb = 0;
    while (f && fgets(line, sizeof line, f))
        if (sscanf(line, "RssShmem: %llu kB", &kb) == 1)
            break;
    if (f)
        fclose(f);
    return kb * 1024;
}

static bool all_bytes(struct env *e, uint64_t gpa, uint64_t len, uint8_t v)
{
    const uint8_t *p = vd_ptr(&e->d, gpa);
    for (uint64_t i = 0; i < len; i++)
        if (p[i] != v)
            return false;
    return true;
}

/* Posts a buffer of PFNs on queue q (0 inflate, 1 deflate) and waits for it back. */
static bool post_pfns(struct env *e, unsigned q, const uint32_t *pfns, unsigned n)
{
    uint64_t buf = vd_alloc(&e->d, 4ull * n);
    memcpy(vd_ptr(&e->d, buf), pfns, 4ull * n);
    struct vd_buf b = {buf, 4 * n, false};
    vd_post(&e->d, q, &b, 1);
    vd_notify(&e->d, q);
    uint32_t id, len;
    return vd_get_used(&e->d, q, &id, &len, 1000);
}

TEST(offers_stats_reporting_and_deflate_on_oom)
{
    struct env e;
    setup(&e, 0, false);
    uint64_t f = vd_device_features(&e.d);
    CHECK((f & (F_STATS | F_OOM | F_REPORTING)) == (F_STATS | F_OOM | F_REPORTING));
    CHECK_EQ_U64(vd_rd(&e.d, VIRTIO_MMIO_DEVICE_ID), VIRTIO_ID_BALLOON);
    teardown(&e);
}

TEST(inflate_gives_pages_back_and_ignores_pfns_outside_ram)
{
    struct env e;
    setup(&e, F_STATS | F_REPORTING, true);
    memset(vd_ptr(&e.d, VICTIM), 0xaa, 8 * PAGE);
    uint64_t before = memfd_bytes(&e);
    uint32_t first = (uint32_t)(VICTIM / PAGE);
    uint32_t pfns[] = {first, first + 1, first + 3, 0, 0xffffffffu,
                       (uint32_t)((VD_RAM_BASE + VD_RAM_SIZE) / PAGE),
                       (uint32_t)(VD_RAM_BASE / PAGE) - 1};
    CHECK(post_pfns(&e, 0, pfns, 7));
    /* Before anything reads them: a read fault on a hole allocates shmem pages anew. */
    CHECK_EQ_U64(before - memfd_bytes(&e), 3 * PAGE);
    CHECK(all_bytes(&e, VICTIM, 2 * PAGE, 0));
    CHECK(all_bytes(&e, VICTIM + 2 * PAGE, PAGE, 0xaa)); /* not in the list */
    CHECK(all_bytes(&e, VICTIM + 3 * PAGE, PAGE, 0));
    CHECK(all_bytes(&e, VICTIM + 4 * PAGE, 4 * PAGE, 0xaa));
    struct virtio_balloon_stats st = stats(&e);
    CHECK_EQ_U64(st.inflated_pages, 3);
    CHECK_EQ_U64(st.bad_pfns, 4);
    CHECK_EQ_U64(st.freed_bytes, 3 * PAGE);
    CHECK(!vd_needs_reset(&e.d));
    /* Deflating needs nothing from the host: the pages fault back in when touched. */
    CHECK(post_pfns(&e, 1, pfns, 2));
    CHECK_EQ_U64(stats(&e).deflated_pages, 2);
    teardown(&e);
}

TEST(odd_lengths_and_empty_buffers)
{
    struct env e;
    setup(&e, F_STATS, false);
    memset(vd_ptr(&e.d, VICTIM), 0x55, 2 * PAGE);
    uint64_t buf = vd_alloc(&e.d, 8);
    uint32_t pfn = (uint32_t)(VICTIM / PAGE);
    memcpy(vd_ptr(&e.d, buf), &pfn, 4);
    struct vd_buf bufs[3] = {{buf, 0, false}, {buf, 3, false}, {buf, 7, false}};
    vd_post(&e.d, 0, bufs, 3); /* 0 bytes, a partial PFN, one PFN and 3 bytes more */
    vd_notify(&e.d, 0);
    uint32_t id, len;
    CHECK(vd_get_used(&e.d, 0, &id, &len, 1000));
    CHECK_EQ_U64(stats(&e).inflated_pages, 1);
    CHECK(all_bytes(&e, VICTIM, PAGE, 0));
    CHECK(all_bytes(&e, VICTIM + PAGE, PAGE, 0x55));
    CHECK(!vd_needs_reset(&e.d));
    teardown(&e);
}

/* With stats, reporting is queue 3; without, it takes the stats queue's index 2. */
static void report_on(unsigned q, uint64_t features)
{
    struct env e;
    setup(&e, features, true);
    memset(vd_ptr(&e.d, VICTIM), 0x11, 64 * PAGE);
    uint64_t before = memfd_bytes(&e);
    struct vd_buf bufs[2] = {{VICTIM, 32 * PAGE, true}, {VICTIM + 40 * PAGE, 8 * PAGE + 100, true}};
    vd_post(&e.d, q, bufs, 2);
    vd_notify(&e.d, q);
    uint32_t id, len;
    CHECK(vd_get_used(&e.d, q, &id, &len, 1000));
    CHECK_EQ_U64(before - memfd_bytes(&e), 40 * PAGE);
    CHECK(all_bytes(&e, VICTIM, 32 * PAGE, 0));
    CHECK(all_bytes(&e, VICTIM + 32 * PAGE, 8 * PAGE, 0x11));
    CHECK(all_bytes(&e, VICTIM + 40 * PAGE, 8 * PAGE, 0));
    CHECK(all_bytes(&e, VICTIM + 48 * PAGE, 100, 0x11)); /* a partial page stays */
    struct virtio_balloon_stats st = stats(&e);
    CHECK_EQ_U64(st.reported_bytes, 40 * PAGE + 100);
    CHECK_EQ_U64(st.freed_bytes, 40 * PAGE);
    CHECK(!vd_needs_reset(&e.d));
    teardown(&e);
}

TEST(free_page_reporting_queue_follows_the_features)
{
    report_on(3, F_STATS | F_REPORTING);
    report_on(2, F_REPORTING);
}

TEST(reported_range_outside_ram_needs_reset)
{
    struct env e;
    setup(&e, F_STATS | F_REPORTING, false);
    memset(vd_ptr(&e.d, VD_RAM_BASE + VD_RAM_SIZE - PAGE), 0x22, PAGE);
    /* The last page of RAM and 4 GiB beyond it; then a range below RAM. */
    struct vd_buf b = {VD_RAM_BASE + VD_RAM_SIZE - PAGE, 0xffffffffu, true};
    vd_post(&e.d, 3, &b, 1);
    vd_notify(&e.d, 3);
    CHECK(vd_needs_reset(&e.d));
    CHECK(all_bytes(&e, VD_RAM_BASE + VD_RAM_SIZE - PAGE, PAGE, 0x22));
    CHECK_EQ_U64(stats(&e).freed_bytes, 0);
    teardown(&e);
}

TEST(buffers_on_a_queue_not_negotiated_need_reset)
{
    struct env e;
    setup(&e, F_STATS, false);
    struct vd_buf b = {VICTIM, PAGE, true};
    vd_post(&e.d, 3, &b, 1);
    vd_notify(&e.d, 3);
    uint32_t id, len;
    CHECK(!vd_get_used(&e.d, 3, &id, &len, 50));
    CHECK(vd_needs_reset(&e.d));
    CHECK_EQ_U64(stats(&e).freed_bytes, 0);
    teardown(&e);
}

static uint64_t post_stats(struct env *e, uint64_t memfree, uint64_t memtot, bool junk)
{
    uint64_t buf = vd_alloc(&e->d, 64);
    uint8_t *p = vd_ptr(&e->d, buf);
    uint16_t tags[3] = {VIRTIO_BALLOON_S_MEMFREE, VIRTIO_BALLOON_S_MEMTOT, junk ? 999 : 7};
    uint64_t vals[3] = {memfree, memtot, 12345};
    for (int i = 0; i < 3; i++) {
        memcpy(p + 10 * i, &tags[i], 2);
        memcpy(p + 10 * i + 2, &vals[i], 8);
    }
    /* Entries straddle the two buffers: split at byte 15. */
    struct vd_buf bufs[2] = {{buf, 15, false}, {buf + 15, 15, false}};
    vd_post(&e->d, 2, bufs, 2);
    vd_notify(&e->d, 2);
    return buf;
}

TEST(stats_are_kept_until_fresh_ones_are_wanted)
{
    struct env e;
    setup(&e, F_STATS | F_REPORTING, false);
    post_stats(&e, 100 << 20, 512 << 20, true);
    uint32_t id, len;
    CHECK(!vd_get_used(&e.d, 2, &id, &len, 20)); /* the device holds the buffer */
    struct virtio_balloon_stats st = stats(&e);
    CHECK_EQ_U64(st.stat[VIRTIO_BALLOON_S_MEMFREE], 100 << 20);
    CHECK_EQ_U64(st.stat[VIRTIO_BALLOON_S_MEMTOT], 512 << 20);
    CHECK_EQ_U64(st.stat_valid, (1u << VIRTIO_BALLOON_S_MEMFREE) | (1u << VIRTIO_BALLOON_S_MEMTOT));
    CHECK_EQ_U64(st.stats_updates, 1);
    /* A refresh returns the buffer (the driver's cue); nothing new comes here, so it
     * gives up after its wait with the old numbers. */
    virtio_balloon_get_stats(e.b, true, &st);
    CHECK(vd_get_used(&e.d, 2, &id, &len, 100));
    CHECK_EQ_U64(st.stat[VIRTIO_BALLOON_S_MEMFREE], 100 << 20);
    post_stats(&e, 200 << 20, 512 << 20, false);
    st = stats(&e);
    CHECK_EQ_U64(st.stat[VIRTIO_BALLOON_S_MEMFREE], 200 << 20);
    CHECK_EQ_U64(st.stat[VIRTIO_BALLOON_S_CACHES], 12345);
    CHECK_EQ_U64(st.stats_updates, 2);
    /* A second buffer while one is held: the old one goes back. */
    post_stats(&e, 300 << 20, 512 << 20, false);
    CHECK(vd_get_used(&e.d, 2, &id, &len, 100));
    CHECK_EQ_U64(stats(&e).stat[VIRTIO_BALLOON_S_MEMFREE], 300 << 20);
    teardown(&e);
}

TEST(target_reaches_config_space_and_actual_comes_back)
{
    struct env e;
    setup(&e, F_STATS, false);
    int raises = e.d.irq_raises;
    CHECK_EQ_U64(virtio_balloon_set_target(e.b, VD_RAM_SIZE - (1 << 20)), 0);
    CHECK_EQ_U64(vd_rd(&e.d, VIRTIO_MMIO_CONFIG), 256); /* num_pages */
    CHECK(e.d.irq_raises > raises);
    CHECK(vd_rd(&e.d, VIRTIO_MMIO_INTERRUPT_STATUS) & VIRTIO_MMIO_INT_CONFIG);
    vd_wr(&e.d, VIRTIO_MMIO_CONFIG + 4, 200);
    virtio_mmio_write(e.d.t, VIRTIO_MMIO_CONFIG + 0, 4, 7); /* num_pages is the device's */
    virtio_mmio_write(e.d.t, VIRTIO_MMIO_CONFIG + 12, 8, ~0ull); /* past the end */
    struct virtio_balloon_stats st = stats(&e);
    CHECK_EQ_U64(st.target_bytes, 1 << 20);
    CHECK_EQ_U64(st.actual_bytes, 200 * PAGE);
    CHECK_EQ_U64(st.ram_bytes, VD_RAM_SIZE);
    CHECK_EQ_U64(vd_rd(&e.d, VIRTIO_MMIO_CONFIG), 256);
    CHECK_EQ_U64(virtio_balloon_set_target(e.b, VD_RAM_SIZE + 1), -ERANGE);
    CHECK_EQ_U64(virtio_balloon_set_target(e.b, VD_RAM_SIZE), 0);
    CHECK_EQ_U64(vd_rd(&e.d, VIRTIO_MMIO_CONFIG), 0);
    /* A reset forgets the driver's balloon, not the host's target. */
    virtio_balloon_set_target(e.b, 0);
    vd_wr(&e.d, VIRTIO_MMIO_STATUS, 0);
    CHECK_EQ_U64(stats(&e).actual_bytes, 0);
    CHECK_EQ_U64(vd_rd(&e.d, VIRTIO_MMIO_CONFIG), VD_RAM_SIZE / PAGE);
    teardown(&e);
}

int main(void)
{
    RUN(offers_stats_reporting_and_deflate_on_oom);
    RUN(inflate_gives_pages_back_and_ignores_pfns_outside_ram);
    RUN(odd_lengths_and_empty_buffers);
    RUN(free_page_reporting_queue_follows_the_features);
    RUN(reported_range_outside_ram_needs_reset);
    RUN(buffers_on_a_queue_not_negotiated_need_reset);
    RUN(stats_are_kept_until_fresh_ones_are_wanted);
    RUN(target_reaches_config_space_and_actual_comes_back);
    return test_summary();
}
