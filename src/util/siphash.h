/*
 * siphash.h — SipHash-2-4 (Aumasson and Bernstein, 2012): a keyed 64-bit hash that an
 * adversary who does not know the key cannot make collide.
 *
 * For hashes of data a guest controls where a collision would be an attack. (The soft
 * CPU used it to keep decoded code across fence.i; it now compares a copy of the page,
 * exact and cheaper: src/hv/soft/dcache.c. No caller is left.) siphash_key_random()
 * gives a key from getrandom, one per process, made the first time it is asked for.
 */
#ifndef COVE_UTIL_SIPHASH_H
#define COVE_UTIL_SIPHASH_H

#include <stddef.h>
#include <stdint.h>

struct siphash_key {
    uint64_t k0, k1;
};

uint64_t siphash24(const struct siphash_key *key, const void *data, size_t len);

/* The same for n 64-bit little-endian words read one at a time with relaxed atomic loads:
 * for memory another thread may be writing (guest RAM under other vCPUs). Equals
 * siphash24 of the same 8*n bytes on a little-endian host. */
uint64_t siphash24_words(const struct siphash_key *key, const uint64_t *words, size_t n);

/* This process's random key (getrandom; made once, thread-safe). */
const struct siphash_key *siphash_key_random(void);

#endif
