/*
 * NBD disks through libnbd: the export of an NBD server (nbd://, nbds:// with TLS,
 * nbd+unix://; libnbd reads the URI, TLS included) as a block attachment.
 *
 * Calls come from the I/O thread (never a vCPU's), one at a time, and never wait on the
 * network without a bound: every command goes out through libnbd's asynchronous API and
 * this thread polls the socket until it completes or the server has made no progress for
 * BLOCK_NBD_TIMEOUT_MS. A connection that broke or timed out is dropped: the request
 * fails with -EIO (the guest sees an I/O error) and a later request connects again, at
 * most once a second, so a server that comes back is used again without a restart. An
 * export that comes back smaller than the guest was told stays refused.
 */
#include "block.h"

#include <errno.h>
#include <libnbd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "devices/iov.h"
#include "util/fdio.h"
#include "util/log.h"

#define RECONNECT_INTERVAL_MS 1000
#define NBD_CHUNK (4u << 20)       /* per command: under every server's limit */
#define NBD_ZERO_CHUNK (1u << 30)  /* trim/zero lengths: 32-bit in the protocol */

struct block_nbd {
    struct block_attachment base;
    char *uri;
    struct nbd_handle *h; /* NULL while disconnected */
    enum cove_disk_sync sync;
    bool host_files; /* the URI may name host files (block_options.nbd_host_files) */
    bool can_flush, can_trim, can_zero;
    char *bounce; /* NBD_CHUNK bytes, for requests in many buffers */
    long long next_connect_ms;
    struct log_ratelimit rl;
};

/* What a request waits for: its commands' completions. */
struct pending {
    unsigned issued, done;
    int error; /* the first command's errno */
};

static int on_complete(void *opaque, int *error)
{
    struct pending *p = opaque;
    p->done++;
    if (*error && !p->error)
        p->error = *error;
    return 1; /* retire the command */
}

static nbd_completion_callback completion(struct pending *p)
{
    return (nbd_completion_callback){.callback = on_complete, .user_data = p};
}

static void drop(struct block_nbd *b, const char *why)
{
    unsigned suppressed;
    if (b->base.size && log_ratelimit(&b->rl, 5000, &suppressed)) /* not while opening */
        log_warn("disk %s: %s; guest I/O fails until the server is back", b->uri, why);
    nbd_close(b->h);
    b->h = NULL;
    b->next_connect_ms = monotonic_ms() + RECONNECT_INTERVAL_MS;
}

/* Polls until done() or no progress for the timeout. 0, or -EIO (connection dropped). */
static int wait_for(struct block_nbd *b, bool (*done)(struct nbd_handle *, void *), void *opaque)
{
    long long deadline = monotonic_ms() + BLOCK_NBD_TIMEOUT_MS;
    while (!done(b->h, opaque)) {
        if (nbd_aio_is_dead(b->h) || nbd_aio_is_closed(b->h)) {
            drop(b, nbd_get_error() ? nbd_get_error() : "the connection was lost");
            return -EIO;
        }
        long long left = deadline - monotonic_ms();
        if (left <= 0) {
            drop(b, "the server did not answer for 5 s");
            return -EIO;
        }
        int r = nbd_poll(b->h, (int)left);
        if (r < 0) {
            drop(b, nbd_get_error() ? nbd_get_error() : "poll failed");
            return -EIO;
        }
        if (r > 0)
            deadline = monotonic_ms() + BLOCK_NBD_TIMEOUT_MS;
    }
    return 0;
}

static bool connected(struct nbd_handle *h, void *opaque)
{
    (void)opaque;
    return !nbd_aio_is_connecting(h);
}

static bool all_done(struct nbd_handle *h, void *opaque)
{
    (void)h;
    const struct pending *p = opaque;
    return p->done == p->issued;
}

/* A new connection, its export checked against what the guest was told. */
static int connect_export(struct block_nbd *b, struct cove_error *err)
{
    b->h = nbd_create();
    if (!b->h)
        return cove_error_set(err, -ENOMEM, "disk %s: %s", b->uri, nbd_get_error());
    /* A URI from a bundle someone else wrote reads no host files (tls-psk-file= and the
     * like); the user's own command line may. */
    nbd_set_uri_allow_local_file(b->h, b->host_files);
    if (nbd_aio_connect_uri(b->h, b->uri) < 0) {
        cove_error_set(err, -EHOSTUNREACH, "disk %s: cannot connect to the NBD server: %s",
                       b->uri, nbd_get_error());
        nbd_close(b->h);
        b->h = NULL;
        return -EHOSTUNREACH;
    }
    if (wait_for(b, connected, NULL) < 0 || !nbd_aio_is_ready(b->h)) {
        cove_error_set(err, -EHOSTUNREACH, "disk %s: cannot connect to the NBD server%s%s",
                       b->uri, nbd_get_error() ? ": " : "",
                       nbd_get_error() ? nbd_get_error() : "");
        if (b->h)
            nbd_close(b->h);
        b->h = NULL;
        return -EHOSTUNREACH;
    }
    int64_t size = nbd_get_size(b->h);
    if (size < 0 || (b->base.size && (uint64_t)size < b->base.size)) {
        cove_error_set(err, -EIO, "disk %s: the export has %lld bytes, the guest was given "
                       "%llu", b->uri, (long long)size, (unsigned long long)b->base.size);
        nbd_close(b->h);
        b->h = NULL;
        return -EIO;
    }
    if (!b->base.size)
        b->base.size = (uint64_t)size / 512 * 512; /* virtio-blk counts sectors */
    b->can_flush = nbd_can_flush(b->h) == 1;
    b->can_trim = nbd_can_trim(b->h) == 1;
    b->can_zero = nbd_can_zero(b->h) == 1;
    if (!b->base.read_only && nbd_is_read_only(b->h) == 1) {
        cove_error_set(err, -EROFS, "disk %s: the export became read-only", b->uri);
        nbd_close(b->h);
        b->h = NULL;
        return -EROFS;
    }
    return 0;
}

/* The connection for a request: the one there is, or a new one when it is time to try. */
static int ready(struct block_nbd *b)
{
    if (b->h && (nbd_aio_is_dead(b->h) || nbd_aio_is_closed(b->h)))
        drop(b, "the connection was lost");
    if (b->h)
        return 0;
    if (monotonic_ms() < b->next_connect_ms)
        return -EIO;
    struct cove_error err = {0};
    if (connect_export(b, &err) < 0) {
        b->next_connect_ms = monotonic_ms() + RECONNECT_INTERVAL_MS;
        unsigned suppressed;
        if (log_ratelimit(&b->rl, 5000, &suppressed))
            log_warn("%s", err.message);
        return -EIO;
    }
    log_warn("disk %s: the server is back; guest I/O works again", b->uri);
    return 0;
}

/* Waits for p's commands; the error the request gets. */
static int finish(struct block_nbd *b, struct pending *p, int issue_rc)
{
    int rc = p->issued ? wait_for(b, all_done, p) : 0;
    if (rc == 0 && issue_rc < 0) { /* libnbd refused to queue one: the handle is unusable */
        drop(b, nbd_get_error() ? nbd_get_error() : "a command was refused");
        rc = -EIO;
    }
    if (rc == 0 && p->error)
        rc = p->error == EROFS || p->error == ENOSPC ? -p->error : -EIO;
    if (b->h && (nbd_aio_is_dead(b->h) || nbd_aio_is_closed(b->h)))
        drop(b, "the connection was lost");
    return rc;
}

/* A request in many buffers (a guest's pages): NBD commands take one buffer each, and one
 * command per 4 KiB page would cost a round trip each, so the pages go through a bounce
 * buffer, one command per NBD_CHUNK. */
static int transfer_bounced(struct block_nbd *b, const struct iovec *iov, unsigned n,
                            uint64_t off, bool write)
{
    if (!b->bounce && !(b->bounce = malloc(NBD_CHUNK)))
        return -ENOMEM;
    size_t total = 0;
    for (unsigned i = 0; i < n; i++)
        total += iov[i].iov_len;
    for (size_t done = 0; done < total;) {
        size_t len = total - done < NBD_CHUNK ? total - done : NBD_CHUNK;
        if (write)
            iov_to_buf(iov, n, done, b->bounce, len);
        struct pending p = {0};
        int64_t cookie = write ? nbd_aio_pwrite(b->h, b->bounce, len, off, completion(&p), 0)
                               : nbd_aio_pread(b->h, b->bounce, len, off, completion(&p), 0);
        p.issued = cookie >= 0;
        int rc = finish(b, &p, cookie < 0 ? -1 : 0);
        if (rc < 0)
            return rc;
        if (!write)
            iov_from_buf(iov, n, done, b->bounce, len);
        done += len;
        off += len;
    }
    return 0;
}

static int transfer(struct block_attachment *ba, struct iovec *iov, unsigned n, uint64_t off,
                    bool write)
{
    struct block_nbd *b = (struct block_nbd *)ba;
    int rc = ready(b);
    if (rc < 0)
        return rc;
    if (n > 1)
        return transfer_bounced(b, iov, n, off, write);
    struct pending p = {0};
    int64_t cookie = 0;
    for (unsigned i = 0; i < n && cookie >= 0; i++) {
        for (size_t at = 0; at < iov[i].iov_len && cookie >= 0;) {
            size_t len = iov[i].iov_len - at < NBD_CHUNK ? iov[i].iov_len - at : NBD_CHUNK;
            char *buf = (char *)iov[i].iov_base + at;
            cookie = write ? nbd_aio_pwrite(b->h, buf, len, off, completion(&p), 0)
                           : nbd_aio_pread(b->h, buf, len, off, completion(&p), 0);
            p.issued += cookie >= 0;
            at += len;
            off += len;
        }
    }
    return finish(b, &p, cookie < 0 ? -1 : 0);
}

static int nbd_readv(struct block_attachment *b, struct iovec *iov, unsigned n, uint64_t off)
{
    return transfer(b, iov, n, off, false);
}

static int nbd_writev(struct block_attachment *b, struct iovec *iov, unsigned n, uint64_t off)
{
    return transfer(b, iov, n, off, true);
}

static int nbd_flush_disk(struct block_attachment *ba)
{
    struct block_nbd *b = (struct block_nbd *)ba;
    if (b->sync == COVE_DISK_SYNC_NONE)
        return 0;
    int rc = ready(b);
    if (rc < 0 || !b->can_flush) /* no flush: the server writes through */
        return rc;
    struct pending p = {0};
    int64_t cookie = nbd_aio_flush(b->h, completion(&p), 0);
    p.issued = cookie >= 0;
    return finish(b, &p, cookie < 0 ? -1 : 0);
}

/* Trim (a hint: skipped when the export has none) or zero a range, in chunks. */
static int ranges(struct block_nbd *b, uint64_t off, uint64_t len, bool zero, uint32_t flags)
{
    int rc = ready(b);
    if (rc < 0)
        return rc;
    struct pending p = {0};
    int64_t cookie = 0;
    while (len && cookie >= 0) {
        uint64_t n = len < NBD_ZERO_CHUNK ? len : NBD_ZERO_CHUNK;
        cookie = zero ? nbd_aio_zero(b->h, n, off, completion(&p), flags)
                      : nbd_aio_trim(b->h, n, off, completion(&p), 0);
        p.issued += cookie >= 0;
        off += n;
        len -= n;
    }
    return finish(b, &p, cookie < 0 ? -1 : 0);
}

static int nbd_discard(struct block_attachment *ba, uint64_t off, uint64_t len)
{
    struct block_nbd *b = (struct block_nbd *)ba;
    return b->can_trim ? ranges(b, off, len, false, 0) : 0;
}

static int nbd_write_zeroes(struct block_attachment *ba, uint64_t off, uint64_t len, bool unmap)
{
    struct block_nbd *b = (struct block_nbd *)ba;
    if (b->can_zero)
        return ranges(b, off, len, true, unmap ? 0 : LIBNBD_CMD_FLAG_NO_HOLE);
    /* No zero command: write zeros, a chunk at a time. */
    static const char zeros[65536];
    while (len) {
        size_t n = len < sizeof zeros ? (size_t)len : sizeof zeros;
        struct iovec v = {(void *)zeros, n};
        int rc = transfer(ba, &v, 1, off, true);
        if (rc < 0)
            return rc;
        off += n;
        len -= n;
    }
    return 0;
}

static void nbd_close_disk(struct block_attachment *ba)
{
    struct block_nbd *b = (struct block_nbd *)ba;
    if (b->h && !b->base.read_only && b->sync != COVE_DISK_SYNC_NONE)
        nbd_flush_disk(ba);
    if (b->h) {
        nbd_shutdown(b->h, 0);
        nbd_close(b->h);
    }
    free(b->bounce);
    free(b->uri);
    free(b);
}

static const struct block_attachment_ops block_nbd_ops = {
    nbd_readv, nbd_writev, nbd_flush_disk, nbd_discard, nbd_write_zeroes, nbd_close_disk,
};

int block_nbd_open(const char *uri, const struct block_options *o,
                   struct block_attachment **out, struct cove_error *err)
{
    int rc = cove_disk_check_nbd_uri(uri, err);
    if (rc < 0)
        return rc;
    struct block_nbd *b = calloc(1, sizeof *b);
    if (!b || !(b->uri = strdup(uri))) {
        free(b);
        return cove_error_set(err, -ENOMEM, "out of memory");
    }
    b->base.ops = &block_nbd_ops;
    b->sync = o->sync;
    b->host_files = o->nbd_host_files;
    b->base.read_only = true; /* until the export says it takes writes */
    if ((rc = connect_export(b, err)) < 0) {
        free(b->uri);
        free(b);
        return rc;
    }
    b->base.read_only = o->read_only || nbd_is_read_only(b->h) == 1;
    if (b->base.size == 0) {
        nbd_close_disk(&b->base);
        return cove_error_set(err, -EINVAL, "disk %s: the export is empty", uri);
    }
    snprintf(b->base.name, sizeof b->base.name, "%s", uri);
    /* GET_ID's serial: the export's name, else "nbd" */
    const char *name = nbd_get_export_name(b->h);
    snprintf(b->base.serial, sizeof b->base.serial, "%s", name && *name ? name : "nbd");
    free((void *)name);
    *out = &b->base;
    return 0;
}

int block_open(const char *path, const struct block_options *o, struct block_attachment **out,
               struct cove_error *err)
{
    if (cove_disk_is_nbd(path))
        return block_nbd_open(path, o, out, err);
    return block_disk_open(path, o, out, err);
}
