/*
 * Crash consistency of cdisk. A child process writes whole-cluster records
 * (cluster, generation) with random flushes, and dies: at the fault-hook points between
 * the data write and the map writes, or by SIGKILL at a random moment. The parent then
 * reopens the image and checks every sector: it must hold a record of its own cluster
 * (or zeros for a cluster never written), at least as new as the last flush the child
 * completed. Stale or garbage data, or a record of another cluster, fails.
 *
 * A killed process keeps what it wrote in the page cache, so this tests process crashes;
 * power loss ordering rests on the fdatasync ordering reviewed in cdisk_map.c.
 */
#include "../test.h"
#include "disk_test_util.h"

#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>

#include "disk_internal.h"

#define CLUSTER 4096u
#define NCLUSTERS 2048u /* 8 MiB, four L2 tables of 512 entries */
#define SECTOR 512u

struct shared {
    uint32_t flushed_gen[NCLUSTERS]; /* generation durable after the last flush */
    uint32_t written_gen[NCLUSTERS]; /* newest generation written (maybe not flushed) */
    volatile int hook_calls;
};

static void make_record(unsigned char *buf, uint32_t cluster, uint32_t gen)
{
    for (unsigned s = 0; s < CLUSTER / SECTOR; s++) {
        uint32_t *w = (uint32_t *)(void *)(buf + s * SECTOR);
        for (unsigned i = 0; i < SECTOR / 4; i += 4) {
            w[i] = 0xc0ffee00u;
            w[i + 1] = cluster;
            w[i + 2] = gen;
            w[i + 3] = cluster * 2654435761u ^ gen;
        }
    }
}

/* 0 when the sector is valid for cluster with generation >= min_gen (and <= max_gen). */
static int check_sector(const unsigned char *sec, uint32_t cluster, uint32_t min_gen,
                        uint32_t max_gen)
{
    const uint32_t *w = (const uint32_t *)(const void *)sec;
    if (buf_zero(sec, SECTOR))
        return min_gen == 0 ? 0 : -1;
    uint32_t gen = w[2];
    if (gen < min_gen || gen > max_gen || gen == 0)
        return -2;
    for (unsigned i = 0; i < SECTOR / 4; i += 4)
        if (w[i] != 0xc0ffee00u || w[i + 1] != cluster || w[i + 2] != gen ||
            w[i + 3] != (cluster * 2654435761u ^ gen))
            return -3;
    return 0;
}

static int hook_exit_at(const char *point, void *opaque)
{
    const char *want = opaque;
    if (!strcmp(point, want))
        _exit(0); /* the crash: nothing after this point reaches the file */
    return 0;
}

/* Writes generation after generation; flushes now and then. Never returns. */
static void child_run(const char *path, struct shared *sh, uint64_t seed, const char *hook,
                      int ops_before_hook)
{
    struct disk *d = NULL;
    struct cove_error err;
    if (disk_open(path, false, &d, &err) < 0)
        _exit(2);
    unsigned char *buf = malloc(CLUSTER * 8);
    uint32_t gen = 1;
    for (unsigned i = 0; i < NCLUSTERS; i++)
        if (sh->written_gen[i] >= gen)
            gen = sh->written_gen[i] + 1;
    for (int op = 0;; op++) {
        if (!hook && ops_before_hook && op == ops_before_hook)
            _exit(0); /* exit_without_close */
        if (hook && op == ops_before_hook)
            disk_set_fault_hook(d, hook_exit_at, (void *)hook);
        unsigned n = 1 + (unsigned)(rng_next(&seed) % 8);
        uint32_t first = (uint32_t)(rng_next(&seed) % (NCLUSTERS - n));
        for (unsigned k = 0; k < n; k++)
            make_record(buf + k * CLUSTER, first + k, gen);
        for (unsigned k = 0; k < n; k++)
            sh->written_gen[first + k] = gen;
        if (disk_write(d, buf, n * CLUSTER, (uint64_t)first * CLUSTER) < 0)
            _exit(3);
        gen++;
        if (rng_next(&seed) % 4 == 0) {
            uint32_t snap[NCLUSTERS];
            memcpy(snap, sh->written_gen, sizeof snap);
            if (disk_flush(d) < 0)
                _exit(4);
            memcpy(sh->flushed_gen, snap, sizeof snap);
        }
        if (rng_next(&seed) % 16 == 0) {
            uint32_t c = (uint32_t)(rng_next(&seed) % NCLUSTERS);
            /* A discarded cluster may read zeros from the moment the discard starts. */
            sh->written_gen[c] = 0;
            uint32_t snap[NCLUSTERS];
            memcpy(snap, sh->written_gen, sizeof snap);
            if (disk_discard(d, (uint64_t)c * CLUSTER, CLUSTER) < 0 || disk_flush(d) < 0)
                _exit(5);
            memcpy(sh->flushed_gen, snap, sizeof snap);
        }
    }
}

/* Every sector of every cluster is a valid record no older than its last flush. Then
 * what the image holds becomes the baseline for the next child: writes that were lost
 * in the crash must not count as flushed by the next child's first flush. */
static int verify(const char *path, struct shared *sh)
{
    struct disk *d = NULL;
    struct cove_error err;
    if (disk_open(path, false, &d, &err) < 0) {
        printf("  reopen: %s\n", err.message);
        return -1;
    }
    unsigned char buf[CLUSTER];
    int bad = 0;
    for (uint32_t c = 0; c < NCLUSTERS; c++) {
        if (disk_read(d, buf, CLUSTER, (uint64_t)c * CLUSTER) < 0) {
            bad++;
            continue;
        }
        uint32_t lo = UINT32_MAX, hi = 0;
        for (unsigned s = 0; s < CLUSTER / SECTOR; s++) {
            const unsigned char *sec = buf + s * SECTOR;
            int r = check_sector(sec, c, sh->flushed_gen[c], UINT32_MAX);
            if (r < 0 && !(r == -1 && sh->written_gen[c] == 0)) {
                if (bad++ < 5)
                    printf("  cluster %u sector %u: error %d (flushed gen %u, written %u)\n",
                           c, s, r, sh->flushed_gen[c], sh->written_gen[c]);
                break;
            }
            uint32_t gen = buf_zero(sec, SECTOR) ? 0 : ((const uint32_t *)(const void *)sec)[2];
            lo = gen < lo ? gen : lo;
            hi = gen > hi ? gen : hi;
        }
        sh->flushed_gen[c] = lo == UINT32_MAX ? 0 : lo;
        sh->written_gen[c] = hi;
    }
    disk_close(d);
    return bad ? -1 : 0;
}

static struct shared *shared_new(void)
{
    void *p = mmap(NULL, sizeof(struct shared), PROT_READ | PROT_WRITE,
                   MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    return p == MAP_FAILED ? NULL : p;
}

static const char *fresh_image(const char *name)
{
    const char *p = scratch_path(name);
    unlink(p);
    struct disk_create_options o = {.format = DISK_FORMAT_CDISK,
                                    .size = (uint64_t)NCLUSTERS * CLUSTER,
                                    .cluster_size = CLUSTER};
    struct cove_error err;
    return disk_create_ex(p, &o, &err) == 0 ? p : NULL;
}

static void crash_at_hook(const char *point)
{
    struct shared *sh = shared_new();
    const char *p = fresh_image("hook.cdisk");
    CHECK(sh && p);
    if (!sh || !p)
        return;
    for (int round = 0; round < 12; round++) {
        pid_t pid = fork();
        if (pid == 0)
            child_run(p, sh, 1234567 + (uint64_t)round * 77, point, 20 + round * 7);
        int status;
        CHECK(waitpid(pid, &status, 0) == pid);
        CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
        CHECK(verify(p, sh) == 0);
    }
    munmap(sh, sizeof *sh);
}

TEST(crash_between_data_and_map_write)
{
    crash_at_hook("data-written");
}

TEST(crash_between_l2_and_l1_write)
{
    crash_at_hook("map-written");
}

TEST(sigkill_at_random_moments)
{
    struct shared *sh = shared_new();
    const char *p = fresh_image("kill.cdisk");
    CHECK(sh && p);
    if (!sh || !p)
        return;
    uint64_t seed = (uint64_t)time(NULL) | 1;
    printf("  seed %llu\n", (unsigned long long)seed);
    for (int round = 0; round < 20; round++) {
        pid_t pid = fork();
        if (pid == 0)
            child_run(p, sh, seed + (uint64_t)round, NULL, 0);
        struct timespec ts = {0, (long)(1 + rng_next(&seed) % 40) * 1000000L};
        nanosleep(&ts, NULL);
        kill(pid, SIGKILL);
        int status;
        CHECK(waitpid(pid, &status, 0) == pid);
        if (WIFEXITED(status))
            printf("  child exited early: %d\n", WEXITSTATUS(status));
        CHECK(WIFSIGNALED(status));
        CHECK(verify(p, sh) == 0);
    }
    munmap(sh, sizeof *sh);
}

/* The process ends without disk_close after n operations: unflushed writes may be lost,
 * flushed ones never. */
TEST(exit_without_close)
{
    struct shared *sh = shared_new();
    const char *p = fresh_image("exit.cdisk");
    CHECK(sh && p);
    if (!sh || !p)
        return;
    for (int round = 0; round < 30; round++) {
        pid_t pid = fork();
        if (pid == 0)
            child_run(p, sh, 99 + (uint64_t)round, NULL, 1 + round % 7);
        int status;
        CHECK(waitpid(pid, &status, 0) == pid && WIFEXITED(status) && !WEXITSTATUS(status));
        CHECK(verify(p, sh) == 0);
    }
    munmap(sh, sizeof *sh);
}

int main(void)
{
    scratch_init();
    RUN(crash_between_data_and_map_write);
    RUN(crash_between_l2_and_l1_write);
    RUN(exit_without_close);
    RUN(sigkill_at_random_moments);
    scratch_cleanup();
    return test_summary();
}
