/* The text forms of network settings: port forwards and MAC addresses. The one parser of
 * each: `cove run`, config.json (src/store/config.c) and `cove create/set` all call these,
 * so what one accepts the others accept, with the same message. Messages name the value,
 * not the option, since a value may come from a file. */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "backends/net.h"

#define FORWARD_SYNTAX "use tcp:HOSTPORT:GUESTPORT, udp:HOSTPORT:GUESTPORT or tcp:ADDR:HOSTPORT:GUESTPORT"

static int parse_port(const char *text, uint16_t *out)
{
    unsigned long v = 0;
    if (!*text || strlen(text) > 5)
        return -EINVAL;
    for (const char *p = text; *p; p++) {
        if (!isdigit((unsigned char)*p))
            return -EINVAL;
        v = v * 10 + (unsigned long)(*p - '0');
    }
    if (v < 1 || v > 65535)
        return -EINVAL;
    *out = (uint16_t)v;
    return 0;
}

int net_forward_parse(const char *spec, struct net_forward *out, struct cove_error *err)
{
    char buf[128];
    if (strlen(spec) >= sizeof buf)
        return cove_error_set(err, -EINVAL, "forward '%.40s...' is too long; " FORWARD_SYNTAX,
                              spec);
    strcpy(buf, spec);
    char *field[5];
    unsigned n = 0;
    for (char *p = buf, *colon;; p = colon + 1) {
        if (n == 5)
            return cove_error_set(err, -EINVAL, "forward '%s': too many fields; " FORWARD_SYNTAX,
                                  spec);
        field[n++] = p;
        colon = strchr(p, ':');
        if (!colon)
            break;
        *colon = 0;
    }
    struct net_forward f = {.host_addr = INADDR_LOOPBACK};
    if (n < 3 || n > 4)
        return cove_error_set(err, -EINVAL, "forward '%s': " FORWARD_SYNTAX, spec);
    if (!strcmp(field[0], "udp"))
        f.udp = true;
    else if (strcmp(field[0], "tcp") != 0)
        return cove_error_set(err, -EINVAL, "forward '%s': unknown protocol '%s'; " FORWARD_SYNTAX,
                              spec, field[0]);
    if (n == 4) {
        struct in_addr a;
        if (inet_pton(AF_INET, field[1], &a) != 1)
            return cove_error_set(err, -EINVAL,
                                  "forward '%s': '%s' is not an IPv4 address; " FORWARD_SYNTAX,
                                  spec, field[1]);
        f.host_addr = ntohl(a.s_addr);
    }
    const char *hp = field[n - 2], *gp = field[n - 1];
    if (parse_port(hp, &f.host_port) < 0 || parse_port(gp, &f.guest_port) < 0)
        return cove_error_set(err, -EINVAL,
                              "forward '%s': ports are numbers from 1 to 65535; " FORWARD_SYNTAX,
                              spec);
    *out = f;
    return 0;
}

int net_mac_parse(const char *text, uint8_t mac[NET_MAC_LEN], struct cove_error *err)
{
    bool ok = strlen(text) == 17;
    for (unsigned i = 0; ok && i < 17; i++)
        ok = i % 3 == 2 ? text[i] == ':' : isxdigit((unsigned char)text[i]);
    if (!ok)
        return cove_error_set(err, -EINVAL,
                              "'%s' is not a MAC address; use six hex bytes such as "
                              "52:54:00:12:34:56", text);
    uint8_t m[NET_MAC_LEN];
    for (unsigned i = 0; i < NET_MAC_LEN; i++)
        m[i] = (uint8_t)strtoul((char[3]){text[3 * i], text[3 * i + 1], 0}, NULL, 16);
    if (m[0] & 1)
        return cove_error_set(err, -EINVAL,
                              "'%s' is a multicast MAC address; the first byte must be even "
                              "(e.g. 52:54:00:12:34:56)", text);
    memcpy(mac, m, NET_MAC_LEN);
    return 0;
}

void net_mac_random(uint8_t mac[NET_MAC_LEN])
{
    uint8_t r[3];
    if (getrandom(r, sizeof r, GRND_NONBLOCK) != (ssize_t)sizeof r) {
        /* No entropy this early: the clock still tells two VMs apart in practice. */
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        uint32_t v = (uint32_t)ts.tv_nsec ^ (uint32_t)ts.tv_sec * 2654435761u;
        r[0] = (uint8_t)v;
        r[1] = (uint8_t)(v >> 8);
        r[2] = (uint8_t)(v >> 16);
    }
    mac[0] = 0x52;
    mac[1] = 0x54;
    mac[2] = 0x00;
    memcpy(mac + 3, r, 3);
}
