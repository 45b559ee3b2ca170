/* `--net network:NAME`: a cove network's switch. Not in this build yet. */
#include <errno.h>

#include "backends/net.h"

int net_network_open(const char *name, const uint8_t mac[NET_MAC_LEN],
                     struct net_attachment **out, struct cove_error *err)
{
    (void)name;
    (void)mac;
    (void)out;
    return cove_error_set(err, -ENOTSUP, "cove networks are not available in this build");
}
