/* Helpers shared by the disk tests: a scratch directory and deterministic patterns. */
#ifndef COVE_DISK_TEST_UTIL_H
#define COVE_DISK_TEST_UTIL_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char scratch_dir[256];

static inline void scratch_init(void)
{
    const char *base = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
    snprintf(scratch_dir, sizeof scratch_dir, "%s/cove-disk-test-XXXXXX", base);
    if (!mkdtemp(scratch_dir)) {
        perror("mkdtemp");
        scratch_dir[0] = 0;
    }
}

static inline void scratch_cleanup(void)
{
    char cmd[400];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", scratch_dir);
    if (scratch_dir[0] && system(cmd) != 0)
        fprintf(stderr, "cannot remove %s\n", scratch_dir);
}

/* Fills a path under the scratch directory (a static buffer per call slot). */
static inline const char *scratch_path(const char *name)
{
    static char bufs[8][512];
    static unsigned slot;
    char *b = bufs[slot++ % 8];
    snprintf(b, 512, "%s/%s", scratch_dir, name);
    return b;
}

static inline uint64_t host_bytes(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 ? (uint64_t)st.st_blocks * 512 : UINT64_MAX;
}

/* Bytes depending on the absolute offset and a seed: misplaced data shows. */
static inline void fill_pattern(void *buf, size_t len, uint64_t off, uint32_t seed)
{
    unsigned char *p = buf;
    for (size_t i = 0; i < len; i++) {
        uint64_t x = (off + i) * 0x9e3779b97f4a7c15ull + seed;
        p[i] = (unsigned char)((x >> 29) ^ (x >> 47) ^ 1); /* rarely zero runs */
    }
}

static inline uint64_t rng_next(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

static inline int buf_zero(const void *buf, size_t len)
{
    const unsigned char *p = buf;
    for (size_t i = 0; i < len; i++)
        if (p[i])
            return 0;
    return 1;
}

#endif
