/*
 * agent_client.h — the parts of the guest agent client that libcove keeps to itself
 * (cove_vm_stop's clean poweroff, the clock after a resume); the public side is
 * <cove/agent.h>. Same conventions: one connection per request, 0 or a negative errno.
 */
#ifndef COVE_AGENT_CLIENT_H
#define COVE_AGENT_CLIENT_H

#include <stdbool.h>

#include <cove/agent.h>
#include <cove/error.h>

/* Asks the guest to sync and power off (or reboot); returns once the agent accepted. */
int agent_poweroff(int fd, bool reboot, struct cove_error *err);
/* Sets the guest's clock to the host's. */
int agent_set_clock(int fd, struct cove_error *err);
/* Whether the agent answers at all, within timeout_ms. */
int agent_ping(int fd, int timeout_ms, struct cove_error *err);

/* The guest's listening ports (the request "ports", protocol version 2; agent_frame.h):
 * out has room for AGENT_PORTS_OUT_MAX. -EINVAL when the agent does not know the request
 * (version 1), -EPROTO for an answer outside the rules. The whole answer within
 * timeout_ms. */
struct agent_port;
int agent_ports(int fd, struct agent_port *out, unsigned *n, int timeout_ms,
                struct cove_error *err);

/* One call for stop and resume: connect to NAME's agent and power it off / set its clock.
 * Returns -ESRCH/-ECONNREFUSED/-ETIMEDOUT when there is no agent to ask. */
int agent_request_poweroff(const char *name, int timeout_ms, struct cove_error *err);
int agent_request_set_clock(const char *name, int timeout_ms, struct cove_error *err);

#endif
