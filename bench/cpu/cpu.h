/*
 * cpu.h — what the bench/cpu.sh workloads share: a monotonic clock in milliseconds and
 * the result line "CPU-RESULT NAME MS CHECKSUM" that bench/cpu.sh reads. The time is
 * taken inside the program (the guest's clock under a VMM), so boot is excluded; the
 * checksum lets the script see that cove and QEMU computed the same thing.
 */
#ifndef COVE_BENCH_CPU_H
#define COVE_BENCH_CPU_H

#include <stdint.h>
#include <stdio.h>
#include <time.h>

static inline double now_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec * 1e3 + (double)t.tv_nsec / 1e6;
}

static inline void report(const char *name, double t0, uint64_t checksum)
{
    printf("CPU-RESULT %s %.1f %016llx\n", name, now_ms() - t0, (unsigned long long)checksum);
    fflush(stdout);
}

/* xorshift64*: the same pseudo-random sequence on every machine. */
static inline uint64_t rnd64(uint64_t *s)
{
    *s ^= *s >> 12;
    *s ^= *s << 25;
    *s ^= *s >> 27;
    return *s * 0x2545f4914f6cdd1dull;
}

#endif
