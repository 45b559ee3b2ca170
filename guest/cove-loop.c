/*
 * cove-loop N: the benchmark's guest workload. Runs N rounds of a fixed, deterministic
 * integer loop and prints a checksum that depends on every step, so the same N gives the
 * same line on every correct CPU and a miscomputing one is caught as well as timed.
 *
 * A round mixes what a CPU emulator spends its time on: ALU work, multiply and divide,
 * data-dependent branches, sequential and scattered loads/stores over a 1 MiB array (past
 * small caches and TLB reach), and calls. One round is sized to take about 1 s under QEMU
 * TCG on a current x86 host.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#define ARRAY_WORDS (1u << 18)        /* 1 MiB of uint32_t */
#define STEPS_PER_ROUND (5u << 20)    /* calibrated: one round ~ 1 s under QEMU TCG */

static uint32_t array[ARRAY_WORDS];

/* Kept out of line so that the loop also exercises call/return. */
static __attribute__((noinline)) uint64_t mix(uint64_t h, uint64_t v)
{
    h ^= v + 0x9e3779b97f4a7c15ull + (h << 6) + (h >> 2);
    return h * 0xff51afd7ed558ccdull;
}

static uint64_t run_round(uint64_t seed)
{
    uint64_t x = seed | 1, h = seed;
    uint32_t i;

    for (i = 0; i < ARRAY_WORDS; i++)
        array[i] = (uint32_t)(i * 2654435761u) ^ (uint32_t)seed;

    for (i = 0; i < STEPS_PER_ROUND; i++) {
        /* xorshift64: the scattered index and the branch outcomes */
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        uint32_t k = (uint32_t)x & (ARRAY_WORDS - 1);
        uint32_t v = array[k];

        switch (v & 3) {
        case 0:
            v = v * 31 + i;
            break;
        case 1:
            v = v / ((i & 0xff) | 1) + (uint32_t)(x >> 40);
            break;
        case 2:
            v = (v >> 3) ^ (v << 5) ^ (uint32_t)h;
            break;
        default:
            v = v % 1000003u + array[i & (ARRAY_WORDS - 1)];
            break;
        }
        array[k] = v;
        array[i & (ARRAY_WORDS - 1)] += v;
        if ((i & 0xfff) == 0)
            h = mix(h, v);
        else
            h += v;
    }
    for (i = 0; i < ARRAY_WORDS; i += 64)
        h = mix(h, array[i]);
    return h;
}

int main(int argc, char **argv)
{
    unsigned long rounds = 1, r;
    uint64_t sum = 0;
    char *end;

    if (argc > 2) {
        fprintf(stderr, "usage: cove-loop [ROUNDS]\n");
        return 2;
    }
    if (argc == 2) {
        rounds = strtoul(argv[1], &end, 10);
        if (*argv[1] == '\0' || *end != '\0' || *argv[1] == '-') {
            fprintf(stderr, "cove-loop: bad round count '%s'\n", argv[1]);
            return 2;
        }
    }
    for (r = 0; r < rounds; r++)
        sum = mix(sum, run_round(r + 1));
    printf("cove-loop: rounds=%lu checksum=%016llx\n", rounds, (unsigned long long)sum);
    return 0;
}
