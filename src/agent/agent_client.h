/*
 * agent_client.h — the host side of the cove guest agent (protocol: docs/AGENT.md,
 * guest/agent/protocol.h), reached through a VM's hybrid-vsock Unix socket.
 *
 * Each call opens one connection ("CONNECT 1024\n", "OK <port>\n") and carries one
 * request. Errors a user can act on are told apart by their code:
 *   -ESRCH      the VM is not running (no vsock socket, or nobody listening on it)
 *   -ECONNREFUSED  the VM runs but no agent answers (the guest reset the connection)
 *   -ETIMEDOUT  nothing answered within the timeout
 *   -ECONNRESET the connection broke before the request finished
 * and agent_exit_code() maps them to the CLI's exit codes. Nothing here keeps more than a
 * few hundred KiB per connection in memory, whatever the size of the data streamed.
 */
#ifndef COVE_AGENT_CLIENT_H
#define COVE_AGENT_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <cove/error.h>

/* Exit codes of cove exec/ip/cp (docs/AGENT.md, docs/CLI.md). */
#define AGENT_EXIT_LOST 123        /* the connection broke mid-request */
#define AGENT_EXIT_TIMEOUT 124     /* the agent did not answer in time */
#define AGENT_EXIT_UNREACHABLE 125 /* the VM is not running, or it has no agent */
#define AGENT_EXIT_CANNOT_RUN 126  /* the command exists but cannot be run */
#define AGENT_EXIT_NOT_FOUND 127   /* no such command in the guest */

/* How long a request waits for the agent to accept the connection. */
#define AGENT_CONNECT_TIMEOUT_MS 10000

/* The exit code for a negative errno returned by the functions below. */
int agent_exit_code(int rc);

/* NAME's vsock socket (run/vsock.sock in its bundle); -ESRCH when NAME is not running. */
int agent_vsock_path(const char *name, char *out, size_t n, struct cove_error *err);

/* Connects to the agent behind a hybrid-vsock socket; *fd is the stream afterwards. */
int agent_connect(const char *vsock_path, int timeout_ms, int *fd, struct cove_error *err);

struct agent_exec_options {
    const char *const *argv;   /* the command, NULL-terminated */
    const char *const *env;    /* "K=V" strings to add, NULL-terminated (may be NULL) */
    const char *cwd;           /* NULL: / */
    bool tty;                  /* a pseudo-terminal in the guest (stdout carries both) */
    bool stdin_open;           /* forward in_fd; else the command's stdin is /dev/null */
    int in_fd, out_fd, err_fd;
    unsigned rows, cols;       /* the terminal's size with tty */
    int signal_fd;             /* -1, or a pipe the caller writes signal numbers into
                                  (one byte each) to forward them; SIGWINCH resends the
                                  size of winsize_fd */
    int winsize_fd;
};

/* Runs a command; *status is its exit status, or 128 + N when signal N killed it, or 126
 * or 127 (with *message saying why) when it could not be started. */
int agent_exec(int fd, const struct agent_exec_options *o, int *status, char *message,
               size_t message_len, struct cove_error *err);

/* The guest's non-loopback IPv4 addresses, "IF ADDR/PREFIX" lines into out. */
int agent_ip(int fd, char *out, size_t n, struct cove_error *err);

/* Copies local_path into the guest at remote_path (a directory takes the local name),
 * keeping the mode; the guest renames it into place only once it is whole. */
int agent_put(int fd, const char *local_path, const char *remote_path, struct cove_error *err);
/* Copies the guest's remote_path to local_path (a directory takes the remote name),
 * through a temporary file renamed into place, keeping the mode. */
int agent_get(int fd, const char *remote_path, const char *local_path, struct cove_error *err);

/* Asks the guest to sync and power off (or reboot); returns once the agent accepted. */
int agent_poweroff(int fd, bool reboot, struct cove_error *err);
/* Sets the guest's clock to the host's. */
int agent_set_clock(int fd, struct cove_error *err);
/* Whether the agent answers at all. */
int agent_ping(int fd, struct cove_error *err);

/* One call for stop and resume: connect to NAME's agent and power it off / set its clock.
 * Returns -ESRCH/-ECONNREFUSED/-ETIMEDOUT when there is no agent to ask. */
int agent_request_poweroff(const char *name, int timeout_ms, struct cove_error *err);
int agent_request_set_clock(const char *name, int timeout_ms, struct cove_error *err);

#endif
