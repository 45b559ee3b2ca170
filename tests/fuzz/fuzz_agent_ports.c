/* The host's parser of the guest agent's "ports" answer (agent_ports_parse in
 * src/agent/agent_frame.c) on arbitrary bytes. Properties: an accepted answer has only ports
 * 1..65535, none twice, at most AGENT_PORTS_MAX of each protocol; a refused one leaves
 * nothing (n is 0) and a message without control bytes. */
#include <errno.h>

#include "agent/agent_frame.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct agent_port out[AGENT_PORTS_OUT_MAX];
    struct cove_error err = {0};
    unsigned n = 12345;
    int rc = agent_ports_parse(data, size, out, &n, &err);
    if (rc < 0) {
        if (n != 0 || rc != -EPROTO)
            __builtin_trap();
        for (const char *s = err.message; *s; s++)
            if ((unsigned char)*s < 0x20)
                __builtin_trap();
        return 0;
    }
    if (rc != 0 || n > AGENT_PORTS_OUT_MAX)
        __builtin_trap();
    unsigned count[2] = {0, 0};
    for (unsigned i = 0; i < n; i++) {
        if (out[i].port == 0 || ++count[out[i].udp] > AGENT_PORTS_MAX)
            __builtin_trap();
        for (unsigned j = 0; j < i; j++)
            if (out[j].port == out[i].port && out[j].udp == out[i].udp)
                __builtin_trap();
    }
    return 0;
}
