#include "iov.h"

#include <stdint.h>
#include <string.h>

unsigned iov_slice(const struct iovec *iov, unsigned n, size_t off, size_t len,
                   struct iovec *dst, unsigned max, size_t *got)
{
    unsigned k = 0;
    size_t done = 0;
    for (unsigned i = 0; i < n && done < len && k < max; i++) {
        size_t l = iov[i].iov_len;
        if (off >= l) {
            off -= l;
            continue;
        }
        size_t take = l - off;
        if (take > len - done)
            take = len - done;
        dst[k].iov_base = (uint8_t *)iov[i].iov_base + off;
        dst[k].iov_len = take;
        k++;
        done += take;
        off = 0;
    }
    *got = done;
    return k;
}

size_t iov_to_buf(const struct iovec *iov, unsigned n, size_t off, void *buf, size_t len)
{
    size_t done = 0;
    for (unsigned i = 0; i < n && done < len; i++) {
        size_t l = iov[i].iov_len;
        if (off >= l) {
            off -= l;
            continue;
        }
        size_t take = l - off < len - done ? l - off : len - done;
        memcpy((uint8_t *)buf + done, (uint8_t *)iov[i].iov_base + off, take);
        done += take;
        off = 0;
    }
    return done;
}

size_t iov_from_buf(const struct iovec *iov, unsigned n, size_t off, const void *buf, size_t len)
{
    size_t done = 0;
    for (unsigned i = 0; i < n && done < len; i++) {
        size_t l = iov[i].iov_len;
        if (off >= l) {
            off -= l;
            continue;
        }
        size_t take = l - off < len - done ? l - off : len - done;
        memcpy((uint8_t *)iov[i].iov_base + off, (const uint8_t *)buf + done, take);
        done += take;
        off = 0;
    }
    return done;
}
