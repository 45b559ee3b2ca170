/*
 * The Internet checksum (RFC 1071) of IPv4, TCP and UDP: a one's-complement sum of 16-bit
 * big-endian words, folded and inverted. One implementation for the virtio-net device's
 * checksum offload (and a cove network's switch and ports, which carry partial ones), the forwarded-handshake rewrite and the egress filter's resets.
 */
#ifndef COVE_UTIL_INET_CSUM_H
#define COVE_UTIL_INET_CSUM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Adds len bytes at p to sum (an odd last byte as the high half of a word). Does not
 * overflow for any frame up to 64 KiB added to a small starting sum. */
static inline uint32_t inet_csum_add(uint32_t sum, const uint8_t *p, size_t len)
{
    size_t i = 0;
    for (; i + 1 < len; i += 2)
        sum += (uint32_t)p[i] << 8 | p[i + 1];
    if (i < len)
        sum += (uint32_t)p[i] << 8;
    return sum;
}

/* The checksum field's value for sum. */
static inline uint16_t inet_csum_fold(uint32_t sum)
{
    while (sum >> 16)
        sum = (sum & 0xffff) + (sum >> 16);
    return (uint16_t)~sum;
}

/* Finishes a partial checksum (virtio-net's NEEDS_CSUM): the sum from start to the end of
 * the frame, seeded with the pseudo-header sum the sender left in the checksum field at
 * start + offset, written into that field. false (nothing written) when the offsets do
 * not fit the frame. */
static inline bool inet_csum_finish(uint8_t *frame, size_t len, size_t start, size_t offset)
{
    size_t field = start + offset;
    if (start >= len || field + 2 > len)
        return false;
    uint16_t csum = inet_csum_fold(inet_csum_add(0, frame + start, len - start));
    if (csum == 0)
        csum = 0xffff; /* the same value in one's complement; UDP reserves 0 for "none" */
    frame[field] = (uint8_t)(csum >> 8);
    frame[field + 1] = (uint8_t)csum;
    return true;
}

#endif
