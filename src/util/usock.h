/*
 * usock.h — listening Unix sockets that only their owner can connect to.
 *
 * A socket that controls a VM (its API, the guest agent's vsock) must never be open to
 * other local users, whatever the umask: the mode is set on the socket before bind, so
 * the path is created 0600 with no window in which it is wider. Root passes file modes,
 * so each accepted peer is also checked by its credentials (usock_peer_is_owner).
 */
#ifndef COVE_USOCK_H
#define COVE_USOCK_H

#include <stdbool.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/un.h>

/* A SOCK_STREAM socket (type_flags: SOCK_NONBLOCK, SOCK_CLOEXEC) bound to addr with mode
 * 0600 and listening. Returns the fd or a negative errno. */
int usock_listen_private(const struct sockaddr_un *addr, int type_flags, int backlog);

/* Whether the peer of the connected Unix socket fd runs as the VM's owner (SO_PEERCRED):
 * this process's effective uid, or the uid it had before a jail dropped it
 * (process_owner, util/confined.h); or is this very process (a jailed VMM's own threads
 * reach its sockets). Only the owner is served, root included: a VM run by a user is not
 * reachable by root through its sockets, nor a root-run VM by a user. *peer_uid gets the
 * peer's uid when known, else (uid_t)-1. */
bool usock_peer_is_owner(int fd, uid_t *peer_uid);

/* One message on a SOCK_SEQPACKET (or datagram) Unix socket with nfds descriptors
 * (SCM_RIGHTS, at most USOCK_MAX_FDS) / its receipt: *nfds gets how many came (close-on-
 * exec; extra ones are closed). Both retry on EINTR; return the bytes, or a negative
 * errno (recv: 0 when the peer is gone). */
#define USOCK_MAX_FDS 20 /* a disk's whole backing chain and its O_DIRECT descriptor */
ssize_t usock_send_fds(int sock, const void *buf, size_t len, const int *fds, unsigned nfds);
ssize_t usock_recv_fds(int sock, void *buf, size_t len, int *fds, unsigned *nfds,
                       unsigned max);

#endif
