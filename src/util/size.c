/* Sizes as people write and read them (see <cove/size.h>). */
#include <cove/size.h>

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

int cove_size_parse(const char *text, uint64_t default_unit, uint64_t *out)
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

/* bytes in the largest binary unit that leaves a value of at least 1 (index into
 * "BKMGTPE"), and that value. */
static unsigned scale(uint64_t bytes, double *value)
{
    double v = (double)bytes;
    unsigned u = 0;
    while (v >= 1024 && u < 6) {
        v /= 1024;
        u++;
    }
    *value = v;
    return u;
}

void cove_size_format(uint64_t bytes, char *buf, size_t len)
{
    static const char *const units[] = {"bytes", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
    double v;
    unsigned u = scale(bytes, &v);
    if (u == 0)
        snprintf(buf, len, "%" PRIu64 " bytes", bytes);
    else if (bytes % (1ull << (10 * u)) == 0)
        snprintf(buf, len, "%" PRIu64 " %s", bytes >> (10 * u), units[u]);
    else
        snprintf(buf, len, "%.1f %s", v, units[u]);
}

void cove_size_format_short(uint64_t bytes, char *buf, size_t len)
{
    static const char units[] = "BKMGTPE";
    double v;
    unsigned u = scale(bytes, &v);
    if (u == 0)
        snprintf(buf, len, "%" PRIu64 "B", bytes);
    else
        snprintf(buf, len, v < 10 ? "%.1f%c" : "%.0f%c", v, units[u]);
}
