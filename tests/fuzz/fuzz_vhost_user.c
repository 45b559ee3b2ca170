/* The vhost-user front-end against a back-end that says anything: the input is the byte
 * stream the "daemon" sends, then it hangs up. The handshake, memory table and ring calls
 * must end with 0 or a negative errno, never crash, hang or read past a reply. */
#include <errno.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include "devices/vhost_user.h"
#include "fuzz.h"

static uint8_t ram_buf[4096] __attribute__((aligned(4096)));

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int sv[2];
    if (size > 16384 || socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
        return 0;
    /* Room for the whole input and for what the front-end sends (the peer never reads). */
    int buf = 1 << 18;
    setsockopt(sv[1], SOL_SOCKET, SO_SNDBUF, &buf, sizeof buf);
    setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &buf, sizeof buf);
    if (size && write(sv[1], data, size) != (ssize_t)size) {
        close(sv[0]);
        close(sv[1]);
        return 0;
    }
    shutdown(sv[1], SHUT_WR);
    struct vhost_user *vu;
    if (vhost_user_open(sv[0], 100, &vu) < 0) {
        close(sv[1]);
        return 0;
    }
    uint64_t features = 0;
    int r = vhost_user_handshake(vu, &features);
    if (r > 0)
        abort();
    if (r == 0) {
        struct vhost_user_region reg = {.guest_phys_addr = FUZZ_RAM_BASE, .size = sizeof ram_buf,
                                        .host = ram_buf, .fd = sv[1]};
        struct vhost_user_ring ring = {.num = 16, .desc = ram_buf, .avail = ram_buf + 256,
                                       .used = ram_buf + 512, .kick_fd = sv[1], .call_fd = sv[1]};
        uint32_t base;
        if (vhost_user_set_features(vu, features) > 0 ||
            vhost_user_set_mem_table(vu, &reg, 1) > 0 || vhost_user_start_ring(vu, 1, &ring) > 0 ||
            vhost_user_stop_ring(vu, 1, &base) > 0)
            abort();
    }
    vhost_user_close(vu);
    close(sv[1]);
    return 0;
}
