/* The text forms of network settings: the attachment (--net), port forwards, egress rules
 * and MAC addresses. The one parser of
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

#define NET_SYNTAX "use nat, none, tap:IFNAME, bridge:BRIDGE or network:NAME"

static const char *const mode_names[] = {
    [COVE_NET_NAT] = "nat", [COVE_NET_NONE] = "none", [COVE_NET_TAP] = "tap",
    [COVE_NET_BRIDGE] = "bridge", [COVE_NET_NETWORK] = "network",
};

/* A Linux interface name as the kernel takes it (dev_valid_name). */
static bool ifname_valid(const char *name)
{
    size_t n = strlen(name);
    if (n == 0 || n > 15 || !strcmp(name, ".") || !strcmp(name, ".."))
        return false;
    for (const char *p = name; *p; p++)
        if (*p == '/' || *p == ':' || isspace((unsigned char)*p) || !isprint((unsigned char)*p))
            return false;
    return true;
}

static bool network_name_valid(const char *name)
{
    size_t n = strlen(name);
    if (n == 0 || n > COVE_NET_NAME_MAX || name[0] == '.' || name[0] == '-')
        return false;
    for (const char *p = name; *p; p++)
        if (!isalnum((unsigned char)*p) && !strchr("._-", *p))
            return false;
    return true;
}

int net_spec_parse(const char *text, struct cove_net_spec *out, struct cove_error *err)
{
    struct cove_net_spec s = {0};
    const char *colon = strchr(text, ':');
    size_t kind_len = colon ? (size_t)(colon - text) : strlen(text);
    for (unsigned m = COVE_NET_NAT; m <= COVE_NET_NETWORK; m++)
        if (strlen(mode_names[m]) == kind_len && !strncmp(text, mode_names[m], kind_len))
            s.mode = (enum cove_net_mode)m;
    if (!s.mode)
        return cove_error_set(err, -EINVAL, "network '%.80s': unknown mode; " NET_SYNTAX, text);
    bool named = s.mode == COVE_NET_TAP || s.mode == COVE_NET_BRIDGE || s.mode == COVE_NET_NETWORK;
    if (!named && colon)
        return cove_error_set(err, -EINVAL, "network '%.80s': %s takes no name; " NET_SYNTAX,
                              text, mode_names[s.mode]);
    if (named) {
        const char *name = colon ? colon + 1 : "";
        if (s.mode == COVE_NET_NETWORK ? !network_name_valid(name) : !ifname_valid(name))
            return cove_error_set(err, -EINVAL, "network '%.80s': %s", text,
                                  s.mode == COVE_NET_NETWORK
                                      ? "a network name is 1 to 63 letters, digits, '.', '_' "
                                        "or '-', not starting with '.' or '-'"
                                      : "an interface name is 1 to 15 characters without '/', "
                                        "':' or spaces");
        snprintf(s.name, sizeof s.name, "%s", name);
    }
    *out = s;
    return 0;
}

const char *net_spec_text(const struct cove_net_spec *spec, char *buf, size_t len)
{
    enum cove_net_mode m = spec->mode == COVE_NET_DEFAULT ? COVE_NET_NAT : spec->mode;
    if (m > COVE_NET_NETWORK)
        m = COVE_NET_NONE;
    if (m == COVE_NET_NAT || m == COVE_NET_NONE)
        snprintf(buf, len, "%s", mode_names[m]);
    else
        snprintf(buf, len, "%s:%s", mode_names[m], spec->name);
    return buf;
}

int net_rule_parse(const char *spec, bool with_port, struct net_rule *out,
                   struct cove_error *err)
{
    const char *syntax = with_port ? "use an IPv4 address or CIDR with an optional port, "
                                     "e.g. 192.168.1.0/24 or 10.0.2.2:8080"
                                   : "use an IPv4 address or CIDR, e.g. 10.0.0.0/8";
    char buf[COVE_NET_RULE_LEN + 1];
    if (strlen(spec) >= sizeof buf)
        return cove_error_set(err, -EINVAL, "rule '%.40s...' is too long; %s", spec, syntax);
    strcpy(buf, spec);
    struct net_rule r = {.mask = 0xffffffffu};
    char *port = strchr(buf, ':');
    if (port) {
        *port++ = 0;
        if (!with_port)
            return cove_error_set(err, -EINVAL, "rule '%s': a block rule takes no port; %s",
                                  spec, syntax);
        if (parse_port(port, &r.port) < 0)
            return cove_error_set(err, -EINVAL,
                                  "rule '%s': a port is a number from 1 to 65535; %s", spec,
                                  syntax);
    }
    char *slash = strchr(buf, '/');
    if (slash) {
        *slash++ = 0;
        unsigned long bits = 0;
        bool ok = *slash && strlen(slash) <= 2;
        for (const char *p = slash; ok && *p; p++)
            ok = isdigit((unsigned char)*p);
        if (ok)
            bits = strtoul(slash, NULL, 10);
        if (!ok || bits > 32)
            return cove_error_set(err, -EINVAL, "rule '%s': a prefix length is 0 to 32; %s",
                                  spec, syntax);
        r.mask = bits ? 0xffffffffu << (32 - bits) : 0;
    }
    struct in_addr a;
    if (inet_pton(AF_INET, buf, &a) != 1)
        return cove_error_set(err, -EINVAL, "rule '%s': '%s' is not an IPv4 address; %s", spec,
                              buf, syntax);
    r.addr = ntohl(a.s_addr);
    if (r.addr & ~r.mask)
        return cove_error_set(err, -EINVAL,
                              "rule '%s': the address has bits set past the prefix length; "
                              "write the network's own address (e.g. 10.0.0.0/8)", spec);
    *out = r;
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
