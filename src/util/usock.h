/*
 * usock.h — listening Unix sockets that only their owner can connect to.
 *
 * A socket that controls a VM (its API, the guest agent's vsock) must never be open to
 * other local users, whatever the umask: the mode is set on the socket before bind, so
 * the path is created 0600 with no window in which it is wider.
 */
#ifndef COVE_USOCK_H
#define COVE_USOCK_H

#include <sys/socket.h>
#include <sys/un.h>

/* A SOCK_STREAM socket (type_flags: SOCK_NONBLOCK, SOCK_CLOEXEC) bound to addr with mode
 * 0600 and listening. Returns the fd or a negative errno. */
int usock_listen_private(const struct sockaddr_un *addr, int type_flags, int backlog);

#endif
