#include "util/crc32c.h"

/* Reflected polynomial 0x82f63b78; the table is built at compile time by the macros. */
#define C1(c) (((c) >> 1) ^ (0x82f63b78u & (0u - ((c) & 1u))))
#define C8(c) C1(C1(C1(C1(C1(C1(C1(C1(c))))))))
#define R4(n) C8(n), C8(n + 1u), C8(n + 2u), C8(n + 3u)
#define R16(n) R4(n), R4(n + 4u), R4(n + 8u), R4(n + 12u)
#define R64(n) R16(n), R16(n + 16u), R16(n + 32u), R16(n + 48u)

static const uint32_t table[256] = {R64(0u), R64(64u), R64(128u), R64(192u)};

uint32_t crc32c_extend(uint32_t crc, const void *buf, size_t len)
{
    const unsigned char *p = buf;
    crc = ~crc;
    while (len--)
        crc = (crc >> 8) ^ table[(crc ^ *p++) & 0xffu];
    return ~crc;
}

uint32_t crc32c(const void *buf, size_t len)
{
    return crc32c_extend(0, buf, len);
}
