/*
 * cove/agent.h — talking to the guest agent of a running VM (cove-agent in the default
 * guest; protocol and exit codes: docs/AGENT.md).
 *
 * The agent is reached through the VM's hybrid-vsock Unix socket: run/vsock.sock in a
 * bundle (cove_agent_path), or the PATH of `cove run --vsock PATH`. Each request takes a
 * connection of its own: cove_agent_connect (or cove_agent_open by name), then one of
 * cove_agent_exec/ip/put/get, then close(fd).
 * The same socket reaches any vsock port of the guest (cove_vsock_connect/open, with
 * cove_vsock_proxy to pipe it: `cove connect`, ssh's ProxyCommand).
 *
 * Every function returns 0 or a negative errno and fills the struct cove_error it is
 * given. The errors a user can act on are told apart by their code, and
 * cove_agent_exit_code maps them to the exit codes of `cove exec/ip/cp`:
 *   -ESRCH         the VM is not running (no vsock socket, or nobody listening on it)
 *   -ECONNREFUSED  the VM runs but no agent answers (the guest refused the connection)
 *   -ETIMEDOUT     nothing answered within the timeout (the guest is booting, or paused)
 *   -ECONNRESET    the connection broke before the request finished
 *   -EPROTO        the agent broke the protocol (the guest is not trusted: an unknown
 *                  frame, more data than announced, an impossible exit value...)
 * Every wait on the agent has a deadline (docs/AGENT.md, "What the host trusts"); a
 * deadline missed is -ETIMEDOUT. Text from the guest in messages has its control bytes
 * escaped (\xNN).
 * Memory stays at a few hundred KiB per connection whatever the size of the data streamed.
 */
#ifndef COVE_AGENT_H
#define COVE_AGENT_H

#include <stdbool.h>
#include <stddef.h>

#include <cove/error.h>

/* Exit codes of cove exec/ip/cp (docs/AGENT.md, docs/CLI.md). */
#define COVE_EXIT_LOST 123        /* the connection broke mid-request, or the agent broke
                                     the protocol */
#define COVE_EXIT_TIMEOUT 124     /* the agent did not answer in time */
#define COVE_EXIT_UNREACHABLE 125 /* the VM is not running, or it has no agent */
#define COVE_EXIT_CANNOT_RUN 126  /* the command exists but cannot be run */
#define COVE_EXIT_NOT_FOUND 127   /* no such command in the guest */

/* How long `cove exec/cp` wait for the agent to accept a connection by default. */
#define COVE_AGENT_TIMEOUT_MS 10000

/* The exit code for a negative errno returned by the functions below (1 for others). */
int cove_agent_exit_code(int rc);

/* NAME's vsock socket (run/vsock.sock in its bundle) into out; -ESRCH when NAME is not
 * running. */
int cove_agent_path(const char *name, char *out, size_t n, struct cove_error *err);

/* Connects to the agent behind a hybrid-vsock socket, waiting up to timeout_ms for the
 * guest to accept; *fd is the connection afterwards (close it when done). */
int cove_agent_connect(const char *vsock_path, int timeout_ms, int *fd,
                       struct cove_error *err);

/* cove_agent_path + cove_agent_connect; when the agent did not answer in time because the
 * VM is paused, the error says so (still -ETIMEDOUT). */
int cove_agent_open(const char *name, int timeout_ms, int *fd, struct cove_error *err);

/* Any vsock port of the guest, the same way (`cove connect`, ssh's ProxyCommand): the
 * stream is the guest program's once *fd is set. -ECONNREFUSED when nothing listens on
 * port (the guest refused), the other errors as above. */
int cove_vsock_connect(const char *vsock_path, unsigned port, int timeout_ms, int *fd,
                       struct cove_error *err);
int cove_vsock_open(const char *name, unsigned port, int timeout_ms, int *fd,
                    struct cove_error *err);

/* Copies in_fd to the connection sock and sock to out_fd until both directions ended:
 * the end of in_fd is passed on as shutdown(SHUT_WR), so the guest sees the end of its
 * input and may still answer; the end of the guest's output ends the other direction.
 * A guest that closes the whole connection ends both. 0, or a negative errno: -EPIPE
 * when out_fd's reader went away (SIGPIPE is the caller's to ignore). Bounded memory. */
int cove_vsock_proxy(int in_fd, int out_fd, int sock, struct cove_error *err);

/* NAME's ssh known-hosts file (ssh_known_hosts in its bundle, `cove ssh`) into out,
 * created empty and 0600 when missing; a symbolic link there is refused (-ELOOP). */
int cove_ssh_known_hosts(const char *name, char *out, size_t n, struct cove_error *err);

/* Waits until the agent of NAME answers a ping, for up to timeout_ms. The VM may still be
 * starting (its socket appears once it runs: not running yet is retried until the
 * deadline); -ESRCH as soon as a VM seen running stops, -ETIMEDOUT at the deadline. */
int cove_agent_wait(const char *name, int timeout_ms, struct cove_error *err);
/* The same on NAME's agent socket found before (cove_agent_path): it looks nothing up in
 * the store, for the thread of a confined `cove run NAME -- CMD` (docs/SECURITY.md). */
int cove_agent_wait_at(const char *name, const char *path, int timeout_ms,
                       struct cove_error *err);

struct cove_exec_options {
    const char *const *argv;   /* the command, NULL-terminated */
    const char *const *env;    /* "K=V" strings to add, NULL-terminated (may be NULL) */
    const char *cwd;           /* NULL: / */
    bool tty;                  /* a pseudo-terminal in the guest (stdout carries both) */
    bool stdin_open;           /* forward in_fd; else the command's stdin is /dev/null */
    int in_fd, out_fd, err_fd; /* out_fd, err_fd -1: that output is dropped */
    unsigned rows, cols;       /* the terminal's size with tty */
    int signal_fd;             /* -1, or a pipe the caller writes signal numbers into
                                  (one byte each) to forward them; SIGWINCH resends the
                                  size of winsize_fd */
    int winsize_fd;            /* -1, or the terminal whose size follows SIGWINCH */
    int timeout_ms;            /* > 0: give up (-ETIMEDOUT, the connection closed, so the
                                  agent ends the command) after this long; 0: no limit */
};

/* Runs a command on the connection fd; *status is its exit status, or 128 + N when signal
 * N killed it, or 126 or 127 (with *message saying why) when it could not be started.
 * -EPIPE: out_fd went away, and the command was stopped. The command may run for ever
 * (unless o->timeout_ms), but each frame the agent begins must be whole within 10 s. */
int cove_agent_exec(int fd, const struct cove_exec_options *o, int *status, char *message,
                    size_t message_len, struct cove_error *err);

/* The guest's non-loopback IPv4 addresses, "IF ADDR/PREFIX\n" lines into out. */
int cove_agent_ip(int fd, char *out, size_t n, struct cove_error *err);

/* Copies local_path into the guest at remote_path (a directory takes the local name),
 * keeping the mode; the guest renames it into place only once it is whole. */
int cove_agent_put(int fd, const char *local_path, const char *remote_path,
                   struct cove_error *err);

/* Copies the guest's remote_path to local_path (a directory takes the remote name),
 * through a temporary file renamed into place (removed on any error), with the guest's
 * permission bits as the umask lets them (never setuid, setgid or sticky); exactly the
 * size the agent announced, or -EPROTO. */
int cove_agent_get(int fd, const char *remote_path, const char *local_path,
                   struct cove_error *err);

/* cove cp -r: copies the directory local_path into the guest at remote_path (an existing
 * directory takes the local name; nothing may exist at the final path), as one stream of
 * entries; files, directories and symbolic links (as links, never followed) keep their
 * permission bits. The guest builds it in a temporary directory that it renames into place
 * only when whole and removes on any failure. At most AGENT_TREE_MAX_ENTRIES entries and
 * AGENT_TREE_MAX_BYTES bytes (guest/agent/protocol.h). */
int cove_agent_put_tree(int fd, const char *local_path, const char *remote_path,
                        struct cove_error *err);

/* The other way: the guest's directory remote_path to local_path, by the same rules, into
 * a temporary directory beside the target, renamed into place when whole (removed on any
 * error). The guest is not trusted: a name that is not a single file name, a link that
 * points out of the tree, more entries, bytes or depth than the bounds are -EPROTO;
 * permission bits only, under the umask. */
int cove_agent_get_tree(int fd, const char *remote_path, const char *local_path,
                        struct cove_error *err);

#endif
