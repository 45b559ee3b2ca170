/*
 * iov.h — copying between iovec arrays and flat buffers, and cutting byte ranges out of
 * them. Device request parsers use these so a header or status byte may straddle guest
 * buffers in any way the driver chose. Every function stops at the end of the array.
 */
#ifndef COVE_DEVICES_IOV_H
#define COVE_DEVICES_IOV_H

#include <stddef.h>
#include <sys/uio.h>

/* Copies up to len bytes starting at byte off of the iovecs into buf; returns the count. */
size_t iov_to_buf(const struct iovec *iov, unsigned n, size_t off, void *buf, size_t len);
/* Copies up to len bytes of buf into the iovecs starting at byte off; returns the count. */
size_t iov_from_buf(const struct iovec *iov, unsigned n, size_t off, const void *buf, size_t len);
/* Fills dst (at most max entries) with the bytes [off, off+len) of iov; returns the number
 * of entries, with *got set to the bytes covered (less than len at the array's end). */
unsigned iov_slice(const struct iovec *iov, unsigned n, size_t off, size_t len,
                   struct iovec *dst, unsigned max, size_t *got);

#endif
