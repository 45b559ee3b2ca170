/*
 * A bundle's network as create and set change it (config.json's "network"): NAT or none,
 * the stored port forwards, the MAC. Values go through the parsers `cove run` uses, so a
 * bundle these write always runs; two forwards of one host port are refused here rather
 * than when the second fails to bind at boot.
 */
#include "store/bundle.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backends/net.h"

static int check_forwards(const char *const *specs, unsigned n, struct cove_error *err)
{
    if (n > COVE_MAX_FORWARDS)
        return cove_error_set(err, -EINVAL, "%u forwards; a VM stores at most %d", n,
                              COVE_MAX_FORWARDS);
    struct net_forward f[COVE_MAX_FORWARDS];
    for (unsigned i = 0; i < n; i++) {
        int rc = net_forward_parse(specs[i], &f[i], err);
        if (rc < 0)
            return rc;
        for (unsigned j = 0; j < i; j++)
            if (f[j].udp == f[i].udp && f[j].host_port == f[i].host_port &&
                (f[j].host_addr == f[i].host_addr || !f[j].host_addr || !f[i].host_addr))
                return cove_error_set(err, -EINVAL, "forwards '%s' and '%s' use the same host "
                                      "port; give each its own", specs[j], specs[i]);
    }
    return 0;
}

static int replace_forwards(struct cove_config *cfg, const char *const *specs, unsigned n,
                            struct cove_error *err)
{
    char *copy[COVE_MAX_FORWARDS];
    for (unsigned i = 0; i < n; i++) {
        if (!(copy[i] = strdup(specs[i]))) {
            while (i--)
                free(copy[i]);
            return cove_error_set(err, -ENOMEM, "out of memory");
        }
    }
    for (unsigned i = 0; i < cfg->nforwards; i++)
        free(cfg->forwards[i]);
    memset(cfg->forwards, 0, sizeof cfg->forwards);
    memcpy(cfg->forwards, copy, n * sizeof *copy);
    cfg->nforwards = n;
    return 0;
}

int store_set_network(struct cove_config *cfg, enum cove_net_mode net, bool set_forwards,
                      const char *const *forwards, unsigned nforwards, const char *mac,
                      struct cove_error *err)
{
    int rc;
    if (mac && (rc = cove_config_check_mac(mac, err)) < 0)
        return rc;
    if (set_forwards && (rc = check_forwards(forwards, nforwards, err)) < 0)
        return rc;
    bool had = cfg->has_network && cfg->nat;
    /* as `cove run`: a forward or a MAC asks for NAT unless none is said */
    bool nat = net == COVE_NET_NAT ||
               (net == COVE_NET_DEFAULT && (had || (set_forwards && nforwards) || mac));
    if (!nat && set_forwards && nforwards)
        return cove_error_set(err, -EINVAL, "forwards need a network; drop --net none");
    if (!nat && mac)
        return cove_error_set(err, -EINVAL, "a MAC needs a network; drop --net none");
    if (!nat && !set_forwards && cfg->nforwards)
        return cove_error_set(err, -EINVAL, "the VM has %u forward(s), which need a network; "
                              "pass --no-forwards with --net none", cfg->nforwards);
    if (set_forwards && (rc = replace_forwards(cfg, forwards, nforwards, err)) < 0)
        return rc;
    if (!nat) {
        cfg->nat = false; /* the MAC stays for a later --net nat */
        return 0;
    }
    cfg->has_network = true;
    cfg->nat = true;
    if (mac)
        snprintf(cfg->mac, sizeof cfg->mac, "%s", mac);
    else if (!cfg->mac[0])
        cove_config_random_mac(cfg->mac);
    return 0;
}
