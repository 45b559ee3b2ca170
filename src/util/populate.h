/*
 * populate.h — mapping pages ahead of their first touch.
 *
 * On a virtualised host a page fault is a trap that costs ~30-60 us, where
 * MADV_POPULATE_* maps the same pages for ~1-10 us each, with no trap (docs/PERFORMANCE.md,
 * "A fork's start, cut"). Used where the VMM knows a whole range is about to be touched:
 * the JIT's code buffer, a decoded-cache slot entered the first time, the saved pages of
 * a resumed guest's memory. Best effort everywhere: on a kernel without MADV_POPULATE_*
 * (Linux < 5.14) the madvise fails and the pages simply fault as before.
 */
#ifndef COVE_UTIL_POPULATE_H
#define COVE_UTIL_POPULATE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/mman.h>

#ifndef MADV_POPULATE_WRITE /* C libraries older than the kernel feature (glibc < 2.35) */
#define MADV_POPULATE_READ 22
#define MADV_POPULATE_WRITE 23
#endif

#define POPULATE_PAGE ((uintptr_t)4096)

/* Maps the host pages spanning [p, p + n) writable in one call, before a first write:
 * only for memory that is written anyway (it commits every page of the range). */
static inline void populate_write(void *p, size_t n)
{
    uintptr_t from = (uintptr_t)p & ~(POPULATE_PAGE - 1);
    uintptr_t to = ((uintptr_t)p + n + POPULATE_PAGE - 1) & ~(POPULATE_PAGE - 1);
    madvise((void *)from, to - from, MADV_POPULATE_WRITE);
}

#endif
