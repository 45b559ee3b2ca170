/*
 * nvme_internal.h — the controller's state as nvme.c (registers, queues, threads) and
 * nvme_cmd.c (admin and NVM command sets, PRP walking) share it.
 *
 * Locks: lock guards the registers' writers, the submission queues and command
 * execution (the I/O thread holds it for one command at a time, so a reset waits for at
 * most one command); cq_lock, taken inside lock or alone by a CQ head doorbell, guards
 * the completion queues and the interrupt level. Doorbell tails are atomics.
 */
#ifndef COVE_DEVICES_NVME_INTERNAL_H
#define COVE_DEVICES_NVME_INTERNAL_H

#include <pthread.h>
#include <stdint.h>
#include <sys/uio.h>

#include "devices/nvme/nvme.h"

#define NVME_NQ (NVME_MAX_IO_QUEUES + 1) /* queue 0 is the admin queue */
#define NVME_QUEUE_MAX 1024u             /* CAP.MQES + 1 */
#define NVME_PAGE 4096u                  /* CAP.MPSMIN = MPSMAX: 4 KiB pages only */
#define NVME_MDTS 8                      /* 2^8 pages: 1 MiB per command */
#define NVME_MAX_XFER (NVME_PAGE << NVME_MDTS)
#define NVME_LBA_SHIFT 9
#define NVME_SQE_SIZE 64
#define NVME_CQE_SIZE 16
#define NVME_AERL 3 /* at most 4 outstanding Asynchronous Event Requests */

/* Status codes: SC | SCT << 8, with DNR (do not retry) << 14. */
#define NVME_SC_SUCCESS 0x0
#define NVME_SC_INVALID_OPCODE 0x1
#define NVME_SC_INVALID_FIELD 0x2
#define NVME_SC_DATA_XFER_ERROR 0x4
#define NVME_SC_INVALID_NS 0xb
#define NVME_SC_PRP_OFFSET_INVALID 0x13
#define NVME_SC_NS_WRITE_PROTECTED 0x20
#define NVME_SC_LBA_RANGE 0x80
#define NVME_SC_INTERNAL 0x6
#define NVME_SC_CQ_INVALID 0x100
#define NVME_SC_QID_INVALID 0x101
#define NVME_SC_QUEUE_SIZE 0x102
#define NVME_SC_AER_LIMIT 0x105
#define NVME_SC_INVALID_VECTOR 0x108
#define NVME_SC_INVALID_LOG_PAGE 0x109
#define NVME_SC_INVALID_QUEUE_DELETION 0x10c
#define NVME_SC_FEATURE_NOT_SAVEABLE 0x10d
#define NVME_DNR 0x4000

struct nvme_sqe {
    uint8_t opcode, flags;
    uint16_t cid;
    uint32_t nsid;
    uint64_t rsvd, mptr, prp1, prp2;
    uint32_t cdw10, cdw11, cdw12, cdw13, cdw14, cdw15;
};
_Static_assert(sizeof(struct nvme_sqe) == NVME_SQE_SIZE, "SQE layout");

struct nvme_sq {
    bool present;
    uint8_t *host;   /* size entries, checked inside guest RAM when created */
    uint16_t size, head, cqid;
};

struct nvme_cq {
    bool present, ien, phase;
    uint8_t *host;
    uint16_t size, head, tail;
};

struct nvme_ctrl {
    struct pci_function pci;
    const struct guest_ram *ram;
    struct iothread *io;
    struct block_attachment *ns[NVME_MAX_NAMESPACES]; /* NSID i + 1 */
    unsigned nns;
    int efd;
    struct iothread_watch *watch;

    pthread_mutex_t lock;
    uint32_t cc, aqa;     /* written under lock, read with atomics */
    uint64_t asq, acq;
    uint32_t csts;        /* atomic */
    uint32_t sq_tail[NVME_NQ]; /* doorbells, atomic */
    struct nvme_sq sq[NVME_NQ];
    uint16_t aer_pending; /* outstanding Asynchronous Event Requests (never completed) */
    uint16_t io_queues;   /* granted by Set Features Number of Queues */
    uint32_t feat_arbitration, feat_power, feat_temp, feat_err_recovery, feat_coalescing,
             feat_async_config;
    bool write_cache;
    bool doorbell_told;   /* a bad doorbell was logged */
    bool host_error_told; /* a host I/O error was logged */

    pthread_mutex_t cq_lock;
    struct nvme_cq cq[NVME_NQ];
    uint32_t intms;       /* bit 0: INTx masked */

    struct iovec iov[(NVME_MAX_XFER / NVME_PAGE) + 2];
};

/* The namespace nsid names, or NULL for an NSID that is not active (0, past the last,
 * 0xffffffff). Every guest-supplied NSID goes through here. */
static inline struct block_attachment *nvme_ns(const struct nvme_ctrl *c, uint32_t nsid)
{
    return nsid >= 1 && nsid <= c->nns ? c->ns[nsid - 1] : NULL;
}

/* nvme_cmd.c: runs one command; returns the status, *dw0 the result dword. A command
 * that must not complete now (AER) sets *defer. */
uint16_t nvme_admin_command(struct nvme_ctrl *c, const struct nvme_sqe *e, uint32_t *dw0,
                            bool *defer);
uint16_t nvme_io_command(struct nvme_ctrl *c, const struct nvme_sqe *e, uint32_t *dw0);
/* Flushes every writable namespace (Flush to NSID 0xffffffff, shutdown): the status. */
uint16_t nvme_flush_all(struct nvme_ctrl *c);

/* nvme.c: queue creation and deletion for the admin commands (under lock). */
uint16_t nvme_create_cq(struct nvme_ctrl *c, uint16_t qid, uint64_t base, uint16_t size,
                        bool ien);
uint16_t nvme_create_sq(struct nvme_ctrl *c, uint16_t qid, uint64_t base, uint16_t size,
                        uint16_t cqid);
uint16_t nvme_delete_cq(struct nvme_ctrl *c, uint16_t qid);
uint16_t nvme_delete_sq(struct nvme_ctrl *c, uint16_t qid);

#endif
