/*
 * A bundle's network as create and set change it (config.json's "network"): its mode
 * (nat, none, tap:, bridge:, network:), the stored port forwards and egress rules (NAT
 * only), the MAC. Values go through the parsers `cove run` uses, so a
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

int store_set_network(struct cove_config *cfg, const struct store_net_change *ch,
                      struct cove_error *err)
{
    int rc;
    if (ch->mac && (rc = cove_config_check_mac(ch->mac, err)) < 0)
        return rc;
    if (ch->set_forwards && (rc = check_forwards(ch->forwards, ch->nforwards, err)) < 0)
        return rc;
    if (ch->set_rules && ch->nrules > COVE_MAX_NET_RULES)
        return cove_error_set(err, -EINVAL, "%u egress rules; a VM stores at most %d",
                              ch->nrules, COVE_MAX_NET_RULES);
    /* as `cove run`: a forward, a rule or a MAC asks for a network unless none is said */
    struct cove_net_spec net = ch->net;
    if (net.mode == COVE_NET_DEFAULT) {
        if (cfg->has_network && cfg->net.mode != COVE_NET_NONE && cfg->net.mode)
            net = cfg->net;
        else if ((ch->set_forwards && ch->nforwards) || ch->mac || (ch->set_rules && ch->nrules))
            net.mode = COVE_NET_NAT;
        else
            net.mode = COVE_NET_NONE;
    }
    unsigned nforwards = ch->set_forwards ? ch->nforwards : cfg->nforwards;
    unsigned nrules = ch->set_rules ? ch->nrules : cfg->nnet_rules;
    char text[COVE_NET_NAME_MAX + 16];
    cove_net_spec_text(&net, text, sizeof text);
    if (net.mode == COVE_NET_NONE && ch->mac)
        return cove_error_set(err, -EINVAL, "a MAC needs a network; drop --net none");
    if (net.mode != COVE_NET_NAT && net.mode != COVE_NET_NETWORK && nforwards)
        return ch->set_forwards
                   ? cove_error_set(err, -EINVAL, "forwards need a network on NAT, not %s; drop "
                                    "--forward", text)
                   : cove_error_set(err, -EINVAL, "the VM has %u forward(s), which need a "
                                    "network; pass --no-forwards with --net %s (forwards "
                                    "are for --net nat and --nat networks)", nforwards, text);
    if (net.mode == COVE_NET_NETWORK && nrules)
        return cove_error_set(err, -EINVAL, "a cove network's egress rules are the network's: "
                              "set them with `cove network create NAME --nat --net-allow ...`; "
                              "drop --net-allow and --net-block%s",
                              ch->set_rules ? "" : " (or pass --no-net-rules)");
    if (net.mode != COVE_NET_NAT && nrules)
        return ch->set_rules
                   ? cove_error_set(err, -EINVAL, "egress rules need a network on NAT, not %s; "
                                    "drop --net-allow and --net-block", text)
                   : cove_error_set(err, -EINVAL, "the VM has %u egress rule(s), which need a "
                                    "network; pass --no-net-rules with --net %s (rules are "
                                    "for --net nat)", nrules, text);
    if ((ch->auto_forward == COVE_AUTOFWD_ON || ch->auto_forward == COVE_AUTOFWD_ALL) &&
        net.mode != COVE_NET_NAT)
        return cove_error_set(err, -EINVAL, "automatic port forwarding needs a network on NAT, "
                              "not %s (other modes reach the guest at its own address); drop "
                              "--auto-forward%s", text,
                              ch->auto_forward == COVE_AUTOFWD_ALL ? "-privileged" : "");
    if (ch->set_forwards && (rc = replace_forwards(cfg, ch->forwards, ch->nforwards, err)) < 0)
        return rc;
    if (ch->set_rules) {
        memcpy(cfg->net_rules, ch->rules, ch->nrules * sizeof *ch->rules);
        cfg->nnet_rules = ch->nrules;
    }
    if (ch->auto_forward)
        cfg->auto_forward = ch->auto_forward;
    cfg->has_network = true;
    cfg->net = net;
    if (net.mode == COVE_NET_NONE)
        return 0; /* the MAC stays for a later --net */
    if (ch->mac)
        snprintf(cfg->mac, sizeof cfg->mac, "%s", ch->mac);
    else if (!cfg->mac[0])
        cove_config_random_mac(cfg->mac);
    return 0;
}
