/*
 * libnbd, loaded when the first NBD disk is opened (util/lazy_lib.h): these are the
 * functions block_nbd.c calls, with libnbd's prototypes. All but nbd_create and
 * nbd_get_error take a handle, which only exists once the library loaded.
 */
#include <libnbd.h>

#include "util/lazy_lib.h"

#define NBD_FUNCTIONS(X)                                                                    \
    X(nbd_create) X(nbd_close) X(nbd_get_error) X(nbd_set_uri_allow_local_file)            \
    X(nbd_aio_connect_uri) X(nbd_aio_is_connecting) X(nbd_aio_is_ready) X(nbd_aio_is_dead) \
    X(nbd_aio_is_closed) X(nbd_poll) X(nbd_shutdown) X(nbd_get_size) X(nbd_is_read_only)   \
    X(nbd_get_export_name) X(nbd_can_flush) X(nbd_can_trim) X(nbd_can_zero)               \
    X(nbd_aio_pread) X(nbd_aio_pwrite) X(nbd_aio_flush) X(nbd_aio_trim) X(nbd_aio_zero)

#define AS_INDEX(f) I_##f,
enum { NBD_FUNCTIONS(AS_INDEX) N_FUNCTIONS };
static const char *const names[] = {NBD_FUNCTIONS(LAZY_LIB_NAME) NULL};
static void *fns[N_FUNCTIONS];
static struct lazy_lib lib = LAZY_LIB("libnbd.so.0", "libnbd0", names, fns);

#define F(f) ((__typeof__(&f))fns[I_##f])

struct nbd_handle *nbd_create(void)
{
    return lazy_lib_load(&lib) ? F(nbd_create)() : NULL;
}

const char *nbd_get_error(void)
{
    return lazy_lib_load(&lib) ? F(nbd_get_error)() : lib.error;
}

void nbd_close(struct nbd_handle *h)
{
    if (h)
        F(nbd_close)(h);
}

int nbd_set_uri_allow_local_file(struct nbd_handle *h, bool allow)
{
    return F(nbd_set_uri_allow_local_file)(h, allow);
}

int nbd_aio_connect_uri(struct nbd_handle *h, const char *uri)
{
    return F(nbd_aio_connect_uri)(h, uri);
}

/* The one-argument questions about a handle. */
#define ASK(type, f) \
    type f(struct nbd_handle *h) { return F(f)(h); }
ASK(int, nbd_aio_is_connecting)
ASK(int, nbd_aio_is_ready)
ASK(int, nbd_aio_is_dead)
ASK(int, nbd_aio_is_closed)
ASK(int64_t, nbd_get_size)
ASK(int, nbd_is_read_only)
ASK(char *, nbd_get_export_name)
ASK(int, nbd_can_flush)
ASK(int, nbd_can_trim)
ASK(int, nbd_can_zero)

int nbd_poll(struct nbd_handle *h, int timeout)
{
    return F(nbd_poll)(h, timeout);
}

int nbd_shutdown(struct nbd_handle *h, uint32_t flags)
{
    return F(nbd_shutdown)(h, flags);
}

int64_t nbd_aio_pread(struct nbd_handle *h, void *buf, size_t count, uint64_t offset,
                      nbd_completion_callback cb, uint32_t flags)
{
    return F(nbd_aio_pread)(h, buf, count, offset, cb, flags);
}

int64_t nbd_aio_pwrite(struct nbd_handle *h, const void *buf, size_t count, uint64_t offset,
                       nbd_completion_callback cb, uint32_t flags)
{
    return F(nbd_aio_pwrite)(h, buf, count, offset, cb, flags);
}

int64_t nbd_aio_flush(struct nbd_handle *h, nbd_completion_callback cb, uint32_t flags)
{
    return F(nbd_aio_flush)(h, cb, flags);
}

int64_t nbd_aio_trim(struct nbd_handle *h, uint64_t count, uint64_t offset,
                     nbd_completion_callback cb, uint32_t flags)
{
    return F(nbd_aio_trim)(h, count, offset, cb, flags);
}

int64_t nbd_aio_zero(struct nbd_handle *h, uint64_t count, uint64_t offset,
                     nbd_completion_callback cb, uint32_t flags)
{
    return F(nbd_aio_zero)(h, count, offset, cb, flags);
}
