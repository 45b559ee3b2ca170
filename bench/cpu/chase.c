/*
 * chase.c — memory-bound: a random pointer chase through 64 MiB (a single cycle over
 * 8 Mi slots made with Sattolo's shuffle), 2 Mi dependent loads. Only the chase is
 * timed; building the cycle (and faulting the memory in) is not.
 */
#include <stdlib.h>

#include "cpu.h"

int main(void)
{
    enum { SLOTS = 8u << 20, STEPS = 2u << 20 };
    uint64_t *next = malloc(SLOTS * sizeof(*next));
    if (!next)
        return 1;
    for (uint64_t i = 0; i < SLOTS; i++)
        next[i] = i;
    uint64_t s = 7;
    for (uint64_t i = SLOTS - 1; i > 0; i--) {
        uint64_t j = rnd64(&s) % i, tmp = next[i];
        next[i] = next[j];
        next[j] = tmp;
    }
    double t0 = now_ms();
    uint64_t p = 0, sum = 0;
    for (uint64_t i = 0; i < STEPS; i++) {
        p = next[p];
        sum += p;
    }
    report("chase", t0, sum);
    return 0;
}
