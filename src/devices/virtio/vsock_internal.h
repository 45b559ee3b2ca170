/*
 * vsock_internal.h — the virtio-vsock device's shared state: vsock.c has the device, its
 * queues and packets; vsock_conn.c the connections, their flow control and the host Unix
 * sockets. Everything named here runs with the device lock held unless it says otherwise.
 */
#ifndef COVE_DEVICES_VIRTIO_VSOCK_INTERNAL_H
#define COVE_DEVICES_VIRTIO_VSOCK_INTERNAL_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/un.h>

#include "devices/virtio/virtio_devices.h"
#include "util/log.h"

#define VIRTIO_ID_VSOCK 19
#define VSOCK_RX 0
#define VSOCK_TX 1
#define VSOCK_EVENT 2
#define VSOCK_QUEUE_SIZE 256
#define VSOCK_CONFIG_SIZE 8

#define VSOCK_HOST_CID 2
#define VSOCK_HDR_SIZE 44
#define VSOCK_TYPE_STREAM 1
#define VSOCK_SHUTDOWN_RCV 1
#define VSOCK_SHUTDOWN_SEND 2
/* The largest payload a packet may carry (Linux's VIRTIO_VSOCK_MAX_PKT_BUF_SIZE). */
#define VSOCK_MAX_PAYLOAD (64u << 10)

enum vsock_op {
    OP_REQUEST = 1,
    OP_RESPONSE = 2,
    OP_RST = 3,
    OP_SHUTDOWN = 4,
    OP_RW = 5,
    OP_CREDIT_UPDATE = 6,
    OP_CREDIT_REQUEST = 7,
};

/* What the guest may have in flight towards one host socket: our buf_alloc. */
#define HOST_BUF_ALLOC (256u << 10)
/* Tell the guest about freed space once its view of it falls below this. */
#define CREDIT_LOW_WATER (64u << 10)
#define MAX_CONNS 128
#define RST_RING 256
#define CONNECT_LINE_MAX 64
/* Host ports of host-initiated connections, far from the guest's usual listeners. */
#define HOST_PORT_FIRST (1u << 30)
#define UDS_PATH_MAX sizeof(((struct sockaddr_un *)0)->sun_path)

struct vsock_hdr {
    uint64_t src_cid, dst_cid;
    uint32_t src_port, dst_port, len;
    uint16_t type, op;
    uint32_t flags, buf_alloc, fwd_cnt;
};

enum conn_state {
    C_LINE,        /* host connection reading its "CONNECT <port>\n" */
    C_CONNECTING,  /* host connection: REQUEST queued or sent, awaiting RESPONSE */
    C_ESTABLISHED,
};

/* Control packets a connection owes the guest (bits of conn->pending). */
#define P_REQUEST 1u
#define P_RESPONSE 2u
#define P_CREDIT_UPDATE 4u

struct conn {
    struct vsock_dev *v;
    int fd;
    struct iothread_watch *w;
    uint32_t events;
    enum conn_state state;
    bool dead;                 /* left the table (reset): its handler must not touch it */
    bool request_sent;
    uint32_t host_port, guest_port;
    unsigned pending;
    char line[CONNECT_LINE_MAX];
    unsigned line_len;

    /* guest -> host: a ring of what the socket did not take yet */
    uint8_t *buf;
    uint32_t buf_head, buf_len;
    uint32_t rx_cnt;           /* bytes received from the guest */
    uint32_t fwd_cnt;          /* of those, written to the socket */
    uint32_t fwd_cnt_told;     /* fwd_cnt in the last header sent to the guest */
    bool guest_shut_send, guest_shut_rcv, shut_wr_done;

    /* host -> guest */
    uint32_t peer_buf_alloc, peer_fwd_cnt;
    uint32_t tx_cnt;           /* bytes sent to the guest */
    bool readable;             /* the socket signalled input not read yet */
    bool host_eof;             /* the socket will give nothing more */
};

struct rst_entry {
    uint32_t host_port, guest_port;
};

struct vsock_dev {
    struct virtio_mmio *t;
    struct iothread *io;
    uint64_t guest_cid;
    char path[UDS_PATH_MAX];
    int listen_fd;
    struct iothread_watch *listen_w;

    pthread_mutex_t lock;
    struct conn *conns[MAX_CONNS];
    unsigned nconns, rr;
    struct rst_entry rst[RST_RING];
    unsigned rst_head, rst_count;
    uint32_t next_host_port;
    bool kick;                 /* the receive queue has new work (set under lock) */
    bool reset_event;          /* restored: tell the driver its connections are gone */
    /* Restored: host-initiated connections wait (their REQUEST unsent) until the driver
     * has taken the transport reset, or the hold timer fires (vsock.c). */
    bool hold_requests;
    uint16_t ev_avail;         /* the event queue's avail index when the reset was sent */
    int hold_timer;            /* timerfd; -1 without an I/O thread */
    struct iothread_watch *hold_w;
    struct conn *rx_conn;      /* what the receive chain being filled is for; NULL: a reset */
    struct log_ratelimit refusal_log; /* a full table: one warning a second */
    struct log_ratelimit peer_refusal_log; /* another uid's connect: one warning a second */

    struct virtq_chain rx_chain, tx_chain, ev_chain;
    struct iovec tx_part[VIRTQ_MAX_SIZE], rx_part[VIRTQ_MAX_SIZE];
};

struct conn *vsock_conn_find(struct vsock_dev *v, uint32_t host_port, uint32_t guest_port);
/* NULL when the table is full or the socket cannot be watched (fd stays the caller's). */
struct conn *vsock_conn_new(struct vsock_dev *v, int fd, enum conn_state state);
/* Takes c out of the table and frees it; with rst the guest is told. On the I/O thread. */
void vsock_conn_close(struct conn *c, bool rst);
void vsock_conn_update_watch(struct conn *c);
void vsock_queue_rst(struct vsock_dev *v, uint32_t host_port, uint32_t guest_port);
uint32_t vsock_peer_credit(const struct conn *c);
/* Guest data for the host socket; false when c had to be closed. */
bool vsock_guest_data(struct conn *c, const struct iovec *iov, unsigned n, size_t len);
/* Half-close or close once the guest's data is out; false when c is gone. */
bool vsock_after_flush(struct conn *c);
void vsock_flush_quietly(struct conn *c);
/* A non-blocking connection to "<path>_<port>", or -1. */
int vsock_connect_host_port(struct vsock_dev *v, uint32_t port);
/* The listening socket's watch handler (I/O thread, takes the lock itself). */
void vsock_listen_handler(void *opaque, uint32_t events);
/* Closes every connection; from any thread, without the lock held. */
void vsock_drop_all(struct vsock_dev *v);
/* vsock.c: runs the receive queue if something set v->kick; without the lock held. */
void vsock_kick_rx(struct vsock_dev *v);

#endif
