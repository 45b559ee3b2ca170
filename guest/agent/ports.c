/*
 * The `ports` request: the guest's listening sockets, for the host's automatic port
 * forwarding (docs/NETWORK.md). Read from /proc/net/tcp, tcp6, udp and udp6: TCP sockets in
 * LISTEN, UDP sockets bound and not connected, on any address but a loopback one (127/8,
 * ::1, ::ffff:127.0.0.0/104). The NAT reaches the guest at its own address (10.0.2.15), where
 * a loopback-only listener is not reachable, so those are left out. Each protocol's ports
 * are reported once (a server on 0.0.0.0 and :: is one port), at most AGENT_PORTS_MAX.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent.h"

#define TCP_LISTEN 0x0a
#define UDP_UNCONNECTED 0x07 /* TCP_CLOSE: bound, no peer */

struct port_set {
    uint16_t tcp[AGENT_PORTS_MAX], udp[AGENT_PORTS_MAX];
    unsigned ntcp, nudp;
};

static void add_port(uint16_t *set, unsigned *n, uint16_t port)
{
    for (unsigned i = 0; i < *n; i++)
        if (set[i] == port)
            return;
    if (*n < AGENT_PORTS_MAX)
        set[(*n)++] = port;
}

/* The local address of a /proc/net line ("0100007F" or 32 hex digits; each group of 8 is a
 * 32-bit word printed in the kernel's byte order): whether it is a loopback address. */
static bool loopback(const char *hex, size_t len)
{
    uint8_t b[16];
    if (len != 8 && len != 32)
        return false;
    for (size_t w = 0; w < len / 8; w++) {
        char word[9];
        memcpy(word, hex + w * 8, 8);
        word[8] = 0;
        uint32_t v = (uint32_t)strtoul(word, NULL, 16);
        memcpy(b + w * 4, &v, 4);
    }
    if (len == 8)
        return b[0] == 127;
    struct in6_addr a;
    memcpy(&a, b, 16);
    return IN6_IS_ADDR_LOOPBACK(&a) || (IN6_IS_ADDR_V4MAPPED(&a) && a.s6_addr[12] == 127);
}

static void scan(const char *path, bool udp, struct port_set *s)
{
    FILE *f = fopen(path, "re");
    if (!f)
        return; /* no IPv6 in this kernel: nothing there */
    char line[512];
    if (!fgets(line, sizeof line, f)) { /* the header */
        fclose(f);
        return;
    }
    while (fgets(line, sizeof line, f)) {
        char local[64], remote[64];
        unsigned state;
        /* "  0: 00000000:1F90 00000000:0000 0A ..." */
        if (sscanf(line, " %*u: %63s %63s %x", local, remote, &state) != 3)
            continue;
        char *colon = strchr(local, ':');
        if (!colon)
            continue;
        unsigned long port = strtoul(colon + 1, NULL, 16);
        if (port == 0 || port > 65535 || loopback(local, (size_t)(colon - local)))
            continue;
        if (udp) {
            char *rc = strchr(remote, ':');
            if (state != UDP_UNCONNECTED || !rc || strtoul(rc + 1, NULL, 16) != 0)
                continue;
            add_port(s->udp, &s->nudp, (uint16_t)port);
        } else if (state == TCP_LISTEN) {
            add_port(s->tcp, &s->ntcp, (uint16_t)port);
        }
    }
    fclose(f);
}

void do_ports(int fd)
{
    static struct port_set s;
    static char out[AGENT_PORTS_MAX * 2 * 10];
    memset(&s, 0, sizeof s);
    scan("/proc/net/tcp", false, &s);
    scan("/proc/net/tcp6", false, &s);
    scan("/proc/net/udp", true, &s);
    scan("/proc/net/udp6", true, &s);
    size_t n = 0;
    for (unsigned i = 0; i < s.ntcp; i++)
        n += (size_t)snprintf(out + n, sizeof out - n, "tcp%c%u%c", 0, s.tcp[i], 0);
    for (unsigned i = 0; i < s.nudp; i++)
        n += (size_t)snprintf(out + n, sizeof out - n, "udp%c%u%c", 0, s.udp[i], 0);
    send_frame(fd, AGENT_T_RESULT, 0, out, (uint32_t)n);
    send_exit(fd, AGENT_EXITED, 0);
}
