/* NVMe controller: registers, doorbells, queues, the interrupt and the command loop
 * (nvme_cmd.c runs the commands themselves). NVM Express Base Specification 1.4. */
#include "devices/nvme/nvme_internal.h"

#include <endian.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "devices/iothread.h"
#include "util/log.h"

/* Controller registers (3.1). */
#define REG_CAP 0x00
#define REG_VS 0x08
#define REG_INTMS 0x0c
#define REG_INTMC 0x10
#define REG_CC 0x14
#define REG_CSTS 0x1c
#define REG_AQA 0x24
#define REG_ASQ 0x28
#define REG_ACQ 0x30
#define DOORBELL_BASE 0x1000

#define CC_EN 0x1u
#define CC_SHN(cc) (((cc) >> 14) & 3)
#define CSTS_RDY 0x1u
#define CSTS_CFS 0x2u
#define CSTS_SHST_DONE (2u << 2)

#define NVME_VERSION 0x00010400u

static const uint64_t CAP = (NVME_QUEUE_MAX - 1) |   /* MQES */
                            1ull << 16 |             /* CQR: queues physically contiguous */
                            20ull << 24 |            /* TO: 10 s to become ready */
                            1ull << 37;              /* CSS: the NVM command set */

static uint32_t load32(const uint32_t *p) { return __atomic_load_n(p, __ATOMIC_ACQUIRE); }
static void store32(uint32_t *p, uint32_t v) { __atomic_store_n(p, v, __ATOMIC_RELEASE); }
static uint64_t load64(const uint64_t *p) { return __atomic_load_n(p, __ATOMIC_RELAXED); }

/* --- completion queues and the interrupt (under cq_lock) ----------------------------- */

static void update_irq_locked(struct nvme_ctrl *c)
{
    bool level = false;
    for (unsigned q = 0; q < NVME_NQ && !(c->intms & 1); q++) {
        const struct nvme_cq *cq = &c->cq[q];
        if (cq->present && cq->ien && cq->head != cq->tail)
            level = true;
    }
    pci_function_set_intx(&c->pci, level);
}

static bool cq_has_room(struct nvme_ctrl *c, uint16_t cqid)
{
    pthread_mutex_lock(&c->cq_lock);
    const struct nvme_cq *cq = &c->cq[cqid];
    bool room = cq->present && (cq->tail + 1u) % cq->size != cq->head;
    pthread_mutex_unlock(&c->cq_lock);
    return room;
}

/* Posts a completion entry (4.6): the dword with the phase tag goes last, so the host
 * never sees a new phase on a half-written entry. */
static void post(struct nvme_ctrl *c, uint16_t cqid, uint16_t sqid, uint16_t sq_head,
                 uint16_t cid, uint16_t status, uint32_t dw0)
{
    pthread_mutex_lock(&c->cq_lock);
    struct nvme_cq *cq = &c->cq[cqid];
    if (cq->present && (cq->tail + 1u) % cq->size != cq->head) {
        uint32_t *e = (uint32_t *)(cq->host + (size_t)cq->tail * NVME_CQE_SIZE);
        e[0] = htole32(dw0);
        e[1] = 0;
        e[2] = htole32((uint32_t)sq_head | (uint32_t)sqid << 16);
        /* The phase tag flips on every pass over the queue; the first pass writes 1. */
        uint32_t dw3 = (uint32_t)cid | (uint32_t)cq->phase << 16 | (uint32_t)status << 17;
        __atomic_store_n(&e[3], htole32(dw3), __ATOMIC_RELEASE);
        if (++cq->tail == cq->size) {
            cq->tail = 0;
            cq->phase = !cq->phase;
        }
        update_irq_locked(c);
    }
    pthread_mutex_unlock(&c->cq_lock);
}

/* --- queue creation and deletion (under lock) ------------------------------------------ */

static uint8_t *queue_memory(struct nvme_ctrl *c, uint64_t base, uint32_t entries,
                             unsigned entry_size)
{
    if (base % NVME_PAGE)
        return NULL;
    return guest_ram_ptr(c->ram, base, (uint64_t)entries * entry_size);
}

uint16_t nvme_create_cq(struct nvme_ctrl *c, uint16_t qid, uint64_t base, uint16_t size,
                        bool ien)
{
    if (qid >= NVME_NQ || (qid && qid > c->io_queues) || c->cq[qid].present)
        return NVME_SC_QID_INVALID | NVME_DNR;
    if (size < 2 || size > NVME_QUEUE_MAX)
        return NVME_SC_QUEUE_SIZE | NVME_DNR;
    uint8_t *host = queue_memory(c, base, size, NVME_CQE_SIZE);
    if (!host)
        return NVME_SC_INVALID_FIELD | NVME_DNR;
    pthread_mutex_lock(&c->cq_lock);
    c->cq[qid] = (struct nvme_cq){.present = true, .ien = ien, .phase = true, .host = host,
                                  .size = size};
    pthread_mutex_unlock(&c->cq_lock);
    return NVME_SC_SUCCESS;
}

uint16_t nvme_create_sq(struct nvme_ctrl *c, uint16_t qid, uint64_t base, uint16_t size,
                        uint16_t cqid)
{
    if (qid >= NVME_NQ || (qid && qid > c->io_queues) || c->sq[qid].present)
        return NVME_SC_QID_INVALID | NVME_DNR;
    if (size < 2 || size > NVME_QUEUE_MAX)
        return NVME_SC_QUEUE_SIZE | NVME_DNR;
    if (cqid >= NVME_NQ || (qid && cqid == 0) || !c->cq[cqid].present)
        return NVME_SC_CQ_INVALID | NVME_DNR;
    uint8_t *host = queue_memory(c, base, size, NVME_SQE_SIZE);
    if (!host)
        return NVME_SC_INVALID_FIELD | NVME_DNR;
    c->sq[qid] = (struct nvme_sq){.present = true, .host = host, .size = size, .cqid = cqid};
    store32(&c->sq_tail[qid], 0);
    return NVME_SC_SUCCESS;
}

uint16_t nvme_delete_sq(struct nvme_ctrl *c, uint16_t qid)
{
    if (qid == 0 || qid >= NVME_NQ || !c->sq[qid].present)
        return NVME_SC_QID_INVALID | NVME_DNR;
    c->sq[qid].present = false;
    return NVME_SC_SUCCESS;
}

uint16_t nvme_delete_cq(struct nvme_ctrl *c, uint16_t qid)
{
    if (qid == 0 || qid >= NVME_NQ || !c->cq[qid].present)
        return NVME_SC_QID_INVALID | NVME_DNR;
    for (unsigned q = 1; q < NVME_NQ; q++)
        if (c->sq[q].present && c->sq[q].cqid == qid)
            return NVME_SC_INVALID_QUEUE_DELETION | NVME_DNR;
    pthread_mutex_lock(&c->cq_lock);
    c->cq[qid].present = false;
    update_irq_locked(c);
    pthread_mutex_unlock(&c->cq_lock);
    return NVME_SC_SUCCESS;
}

/* --- enable, reset, shutdown (under lock) ----------------------------------------------- */

static void fatal(struct nvme_ctrl *c, const char *why)
{
    store32(&c->csts, load32(&c->csts) | CSTS_CFS);
    log_warn("nvme: guest error: %s; controller fatal status until reset", why);
}

/* Controller reset (CC.EN 1 -> 0, 7.3.2): queues deleted, outstanding commands dropped,
 * registers but the admin queue attributes back to their defaults. */
static void reset(struct nvme_ctrl *c)
{
    pthread_mutex_lock(&c->cq_lock);
    memset(c->cq, 0, sizeof c->cq);
    c->intms = 0;
    update_irq_locked(c);
    pthread_mutex_unlock(&c->cq_lock);
    memset(c->sq, 0, sizeof c->sq);
    for (unsigned q = 0; q < NVME_NQ; q++)
        store32(&c->sq_tail[q], 0);
    c->aer_pending = 0;
    c->io_queues = 0;
    store32(&c->csts, 0);
}

static void enable(struct nvme_ctrl *c, uint32_t cc)
{
    uint32_t aqa = c->aqa;
    uint16_t sq_size = (uint16_t)((aqa & 0xfff) + 1), cq_size = (uint16_t)(((aqa >> 16) & 0xfff) + 1);
    if ((cc >> 4) & 7 || (cc >> 7) & 0xf || (cc >> 11) & 7)
        return fatal(c, "CC asks for a command set, page size or arbitration it lacks");
    if (nvme_create_cq(c, 0, c->acq, cq_size, true) != NVME_SC_SUCCESS ||
        nvme_create_sq(c, 0, c->asq, sq_size, 0) != NVME_SC_SUCCESS) {
        reset(c);
        return fatal(c, "the admin queues (AQA, ASQ, ACQ) are not inside guest memory");
    }
    store32(&c->csts, CSTS_RDY);
}

static void write_cc(struct nvme_ctrl *c, uint32_t cc)
{
    uint32_t old = c->cc;
    store32(&c->cc, cc);
    if ((old & CC_EN) && !(cc & CC_EN))
        reset(c);
    else if (!(old & CC_EN) && (cc & CC_EN) && !(load32(&c->csts) & CSTS_CFS))
        enable(c, cc);
    if (CC_SHN(cc) && !CC_SHN(old)) {
        /* Shutdown notification: what is written is on the host's disk when SHST says so. */
        nvme_flush_all(c);
        store32(&c->csts, load32(&c->csts) | CSTS_SHST_DONE);
    } else if (!CC_SHN(cc)) {
        store32(&c->csts, load32(&c->csts) & ~(3u << 2));
    }
}

/* --- the command loop ------------------------------------------------------------------- */

static void sqe_from_le(struct nvme_sqe *e)
{
    e->cid = le16toh(e->cid);
    e->nsid = le32toh(e->nsid);
    e->prp1 = le64toh(e->prp1);
    e->prp2 = le64toh(e->prp2);
    e->cdw10 = le32toh(e->cdw10);
    e->cdw11 = le32toh(e->cdw11);
    e->cdw12 = le32toh(e->cdw12);
    e->cdw13 = le32toh(e->cdw13);
    e->cdw14 = le32toh(e->cdw14);
    e->cdw15 = le32toh(e->cdw15);
}

/* Runs the next command of submission queue qid, if it has one and its completion queue
 * has room. Under lock. */
static bool run_one(struct nvme_ctrl *c, unsigned qid)
{
    struct nvme_sq *sq = &c->sq[qid];
    if (!sq->present)
        return false;
    uint32_t tail = load32(&c->sq_tail[qid]);
    if (tail >= sq->size) {
        if (!c->doorbell_told) {
            c->doorbell_told = true;
            log_warn("nvme: guest error: SQ %u tail doorbell %u beyond the queue's %u "
                     "entries; ignored", qid, tail, sq->size);
        }
        return false;
    }
    if (sq->head == tail || !cq_has_room(c, sq->cqid))
        return false;
    struct nvme_sqe e;
    memcpy(&e, sq->host + (size_t)sq->head * NVME_SQE_SIZE, sizeof e);
    sqe_from_le(&e);
    sq->head = (uint16_t)((sq->head + 1u) % sq->size);
    uint32_t dw0 = 0;
    bool defer = false;
    uint16_t status = qid == 0 ? nvme_admin_command(c, &e, &dw0, &defer)
                               : nvme_io_command(c, &e, &dw0);
    /* An admin command may have deleted this queue; its completion still goes out. */
    if (!defer)
        post(c, sq->cqid, (uint16_t)qid, sq->head, e.cid, status, dw0);
    return true;
}

static void process(struct nvme_ctrl *c)
{
    bool progress = true;
    while (progress) {
        progress = false;
        pthread_mutex_lock(&c->lock);
        if (load32(&c->csts) == CSTS_RDY && pci_function_bus_master(&c->pci))
            for (unsigned q = 0; q < NVME_NQ; q++)
                progress |= run_one(c, q);
        pthread_mutex_unlock(&c->lock);
    }
}

static void on_doorbell(void *opaque, uint32_t events)
{
    struct nvme_ctrl *c = opaque;
    uint64_t n;
    if (read(c->efd, &n, sizeof n) < 0) {
        /* EAGAIN: another wake-up drained it; process anyway. */
    }
    process(c);
}

static void kick(struct nvme_ctrl *c)
{
    if (!c->io) {
        process(c);
        return;
    }
    uint64_t one = 1;
    if (write(c->efd, &one, sizeof one) < 0 && errno != EAGAIN)
        log_warn("nvme: doorbell: %s", strerror(errno));
}

static void ring(struct nvme_ctrl *c, uint64_t offset, uint32_t value)
{
    unsigned idx = (unsigned)((offset - DOORBELL_BASE) / 4), qid = idx / 2;
    if (qid >= NVME_NQ || value >= NVME_QUEUE_MAX) {
        log_debug("nvme: guest error: doorbell %u = %u for a queue it lacks; ignored", idx, value);
        return;
    }
    if (idx % 2 == 0) {
        store32(&c->sq_tail[qid], value);
        kick(c);
        return;
    }
    pthread_mutex_lock(&c->cq_lock);
    struct nvme_cq *cq = &c->cq[qid];
    bool was_full = false;
    if (cq->present && value < cq->size) {
        was_full = (cq->tail + 1u) % cq->size == cq->head;
        cq->head = (uint16_t)value;
        update_irq_locked(c);
    }
    pthread_mutex_unlock(&c->cq_lock);
    if (was_full) /* submissions waited for room */
        kick(c);
}

/* --- BAR0 ------------------------------------------------------------------------------ */

static uint32_t reg32(struct nvme_ctrl *c, uint64_t off)
{
    switch (off) {
    case REG_CAP: return (uint32_t)CAP;
    case REG_CAP + 4: return (uint32_t)(CAP >> 32);
    case REG_VS: return NVME_VERSION;
    case REG_INTMS:
    case REG_INTMC: return __atomic_load_n(&c->intms, __ATOMIC_RELAXED);
    case REG_CC: return load32(&c->cc);
    case REG_CSTS: return load32(&c->csts);
    case REG_AQA: return load32(&c->aqa);
    case REG_ASQ: return (uint32_t)load64(&c->asq);
    case REG_ASQ + 4: return (uint32_t)(load64(&c->asq) >> 32);
    case REG_ACQ: return (uint32_t)load64(&c->acq);
    case REG_ACQ + 4: return (uint32_t)(load64(&c->acq) >> 32);
    default: return 0;
    }
}

static bool valid_len(unsigned len) { return len == 1 || len == 2 || len == 4 || len == 8; }

static int bar_read(void *dev, unsigned bar, uint64_t offset, unsigned len, uint64_t *value)
{
    struct nvme_ctrl *c = dev;
    if (bar != 0 || !valid_len(len) || offset % len)
        return -EINVAL;
    uint64_t base = offset & ~3ull;
    uint64_t v = reg32(c, base);
    if (len == 8)
        v |= (uint64_t)reg32(c, base + 4) << 32;
    else
        v = (v >> (8 * (offset - base))) & (len == 4 ? 0xffffffffull : (1ull << (8 * len)) - 1);
    *value = v;
    return 0;
}

/* ASQ and ACQ, written as one 64-bit access or two 32-bit halves; bits 11:0 are reserved
 * (page aligned). */
static void set_half(uint64_t *reg, uint64_t off, uint64_t base, uint32_t v)
{
    uint64_t r = *reg;
    r = off == base ? (r & ~0xffffffffull) | v : (r & 0xffffffffull) | (uint64_t)v << 32;
    __atomic_store_n(reg, r & ~0xfffull, __ATOMIC_RELAXED);
}

static void write_reg(struct nvme_ctrl *c, uint64_t off, uint32_t v)
{
    switch (off) {
    case REG_INTMS:
    case REG_INTMC:
        pthread_mutex_lock(&c->cq_lock);
        c->intms = off == REG_INTMS ? c->intms | (v & 1) : c->intms & ~(v & 1);
        update_irq_locked(c);
        pthread_mutex_unlock(&c->cq_lock);
        break;
    case REG_CC: write_cc(c, v); break;
    case REG_AQA: store32(&c->aqa, v & 0x0fff0fff); break;
    case REG_ASQ: case REG_ASQ + 4: set_half(&c->asq, off, REG_ASQ, v); break;
    case REG_ACQ: case REG_ACQ + 4: set_half(&c->acq, off, REG_ACQ, v); break;
    default: break; /* read-only or reserved */
    }
}

static int bar_write(void *dev, unsigned bar, uint64_t offset, unsigned len, uint64_t value)
{
    struct nvme_ctrl *c = dev;
    if (bar != 0 || !valid_len(len) || offset % len || len < 4)
        return -EINVAL;
    if (offset >= DOORBELL_BASE) {
        if (len == 4)
            ring(c, offset, (uint32_t)value);
        return 0;
    }
    pthread_mutex_lock(&c->lock);
    write_reg(c, offset, (uint32_t)value);
    if (len == 8)
        write_reg(c, offset + 4, (uint32_t)(value >> 32));
    pthread_mutex_unlock(&c->lock);
    return 0;
}

/* --- life cycle -------------------------------------------------------------------------- */

static const struct pci_function_ops nvme_pci_ops = {bar_read, bar_write};

/* QEMU's NVMe IDs (Red Hat's range for emulated devices): guests already know them. */
static const struct pci_id nvme_id = {
    .vendor = 0x1b36, .device = 0x0010, .subsystem_vendor = 0x1af4, .subsystem = 0x1100,
    .class_code = 0x010802, /* mass storage, non-volatile memory, NVM Express */
    .revision = 2,
};

struct pci_function *nvme_pci_function(struct nvme_ctrl *c) { return &c->pci; }

int nvme_create(const struct guest_ram *ram, struct iothread *io,
                struct block_attachment *const *disks, unsigned ndisks, struct nvme_ctrl **out,
                struct cove_error *err)
{
    bool fits = ndisks >= 1 && ndisks <= NVME_MAX_NAMESPACES;
    struct nvme_ctrl *c = fits ? calloc(1, sizeof *c) : NULL;
    if (!c) {
        for (unsigned i = 0; i < ndisks; i++)
            block_close(disks[i]);
        return fits ? cove_error_set(err, -ENOMEM, "nvme: out of memory")
                    : cove_error_set(err, -EINVAL, "nvme: %u namespaces; a controller has 1 to %u",
                                     ndisks, NVME_MAX_NAMESPACES);
    }
    c->ram = ram;
    c->io = io;
    memcpy(c->ns, disks, ndisks * sizeof disks[0]);
    c->nns = ndisks;
    c->efd = -1;
    c->write_cache = true;
    pthread_mutex_init(&c->lock, NULL);
    pthread_mutex_init(&c->cq_lock, NULL);
    pci_function_init(&c->pci, &nvme_id, &nvme_pci_ops, c);
    int rc = pci_function_add_bar(&c->pci, 0, NVME_BAR0_SIZE, true);
    if (rc == 0 && io) {
        c->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        rc = c->efd < 0 ? -errno : iothread_watch(io, c->efd, EPOLLIN, on_doorbell, c, &c->watch);
    }
    if (rc < 0) {
        nvme_destroy(c);
        return cove_error_set(err, rc, "nvme: cannot set up the controller: %s", strerror(-rc));
    }
    *out = c;
    return 0;
}

void nvme_destroy(struct nvme_ctrl *c)
{
    if (!c)
        return;
    if (c->watch)
        iothread_unwatch(c->watch);
    if (c->efd >= 0)
        close(c->efd);
    for (unsigned i = 0; i < c->nns; i++)
        block_close(c->ns[i]);
    pci_function_fini(&c->pci);
    pthread_mutex_destroy(&c->lock);
    pthread_mutex_destroy(&c->cq_lock);
    free(c);
}
