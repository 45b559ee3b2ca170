#include "size.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

int size_parse(const char *text, uint64_t default_unit, uint64_t *out)
{
    if (!text || !isdigit((unsigned char)text[0]))
        return -EINVAL;
    errno = 0;
    char *end;
    unsigned long long n = strtoull(text, &end, 10);
    if (errno)
        return -ERANGE;
    uint64_t unit = default_unit;
    if (*end) {
        switch (toupper((unsigned char)*end)) {
        case 'B': unit = 1; break;
        case 'K': unit = 1ull << 10; break;
        case 'M': unit = 1ull << 20; break;
        case 'G': unit = 1ull << 30; break;
        case 'T': unit = 1ull << 40; break;
        default: return -EINVAL;
        }
        end++;
        if (unit != 1 && *end && strcasecmp(end, "iB") != 0 && strcasecmp(end, "B") != 0)
            return -EINVAL;
        if (unit == 1 && *end)
            return -EINVAL;
    }
    if (n && unit > UINT64_MAX / n)
        return -ERANGE;
    *out = (uint64_t)n * unit;
    return 0;
}
