/*
 * fault.c — page-faulting 64 MiB in: an anonymous mapping touched once per 4 KiB page
 * (16384 faults, each a zeroed page from the guest kernel), then unmapped.
 */
#include <sys/mman.h>

#include "cpu.h"

int main(void)
{
    enum { SIZE = 64u << 20, PAGE = 4096 };
    uint64_t sum = 0;
    double t0 = now_ms();
    volatile uint8_t *m = mmap(NULL, SIZE, PROT_READ | PROT_WRITE,
                               MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (m == MAP_FAILED)
        return 1;
    for (uint64_t off = 0; off < SIZE; off += PAGE)
        m[off] = (uint8_t)(off >> 12);
    for (uint64_t off = 0; off < SIZE; off += 64 * PAGE)
        sum += m[off];
    munmap((void *)m, SIZE);
    report("fault", t0, sum);
    return 0;
}
