/* NVMe commands: the admin command set (5) and the NVM command set's I/O commands
 * (NVM Command Set 1.4: read, write, flush, write zeroes, dataset management), with data
 * described by PRP entries (4.3). Runs under the controller's lock. */
#include <endian.h>
#include <stdio.h>
#include <string.h>

#include "devices/iov.h"
#include "devices/nvme/nvme_internal.h"
#include "util/log.h"

/* Admin opcodes. */
#define ADM_DELETE_SQ 0x00
#define ADM_CREATE_SQ 0x01
#define ADM_GET_LOG_PAGE 0x02
#define ADM_DELETE_CQ 0x04
#define ADM_CREATE_CQ 0x05
#define ADM_IDENTIFY 0x06
#define ADM_ABORT 0x08
#define ADM_SET_FEATURES 0x09
#define ADM_GET_FEATURES 0x0a
#define ADM_ASYNC_EVENT 0x0c

/* NVM opcodes. */
#define NVM_FLUSH 0x00
#define NVM_WRITE 0x01
#define NVM_READ 0x02
#define NVM_WRITE_ZEROES 0x08
#define NVM_DSM 0x09

#define NSID_ALL 0xffffffffu
#define DSM_MAX_RANGES 256

/* --- PRP lists ------------------------------------------------------------------------ */

static uint16_t add_segment(struct nvme_ctrl *c, unsigned *n, uint64_t gpa, uint64_t len)
{
    uint8_t *p = guest_ram_ptr(c->ram, gpa, len);
    if (!p)
        return NVME_SC_DATA_XFER_ERROR | NVME_DNR;
    if (*n && (uint8_t *)c->iov[*n - 1].iov_base + c->iov[*n - 1].iov_len == p) {
        c->iov[*n - 1].iov_len += len; /* contiguous with the previous page */
        return NVME_SC_SUCCESS;
    }
    if (*n == sizeof c->iov / sizeof c->iov[0])
        return NVME_SC_INTERNAL | NVME_DNR; /* cannot happen below MDTS */
    c->iov[(*n)++] = (struct iovec){p, len};
    return NVME_SC_SUCCESS;
}

/* Maps len bytes (at most NVME_MAX_XFER) described by PRP1 and PRP2 into c->iov. PRP1
 * may start anywhere dword aligned; every later entry is a page; when more than two
 * pages are needed PRP2 points to a list whose last entry chains to the next list page. */
static uint16_t map_prps(struct nvme_ctrl *c, uint64_t prp1, uint64_t prp2, uint64_t len,
                         unsigned *n)
{
    *n = 0;
    if (prp1 & 3)
        return NVME_SC_PRP_OFFSET_INVALID | NVME_DNR;
    uint64_t first = NVME_PAGE - (prp1 % NVME_PAGE);
    if (first > len)
        first = len;
    uint16_t st = add_segment(c, n, prp1, first);
    len -= first;
    if (st || !len)
        return st;
    if (len <= NVME_PAGE) {
        if (prp2 % NVME_PAGE)
            return NVME_SC_PRP_OFFSET_INVALID | NVME_DNR;
        return add_segment(c, n, prp2, len);
    }
    uint64_t list = prp2;
    if (list & 7)
        return NVME_SC_PRP_OFFSET_INVALID | NVME_DNR;
    while (len) {
        uint64_t count = (NVME_PAGE - list % NVME_PAGE) / 8;
        const uint64_t *entries = guest_ram_ptr(c->ram, list, count * 8);
        if (!entries)
            return NVME_SC_DATA_XFER_ERROR | NVME_DNR;
        for (uint64_t i = 0; i < count && len; i++) {
            uint64_t e = le64toh(__atomic_load_n(&entries[i], __ATOMIC_RELAXED));
            if (e % NVME_PAGE)
                return NVME_SC_PRP_OFFSET_INVALID | NVME_DNR;
            if (i == count - 1 && len > NVME_PAGE) {
                list = e; /* the last entry of a full list page chains to the next */
                break;
            }
            uint64_t chunk = len < NVME_PAGE ? len : NVME_PAGE;
            if ((st = add_segment(c, n, e, chunk)))
                return st;
            len -= chunk;
        }
    }
    return NVME_SC_SUCCESS;
}

/* Copies a buffer of the controller's to the host (Identify, Get Log Page). */
static uint16_t copy_to_host(struct nvme_ctrl *c, const struct nvme_sqe *e, const void *buf,
                             size_t len)
{
    unsigned n;
    uint16_t st = map_prps(c, e->prp1, e->prp2, len, &n);
    if (st == NVME_SC_SUCCESS)
        iov_from_buf(c->iov, n, 0, buf, len);
    return st;
}

/* --- Identify (5.15) ------------------------------------------------------------------- */

static void put16(uint8_t *p, uint16_t v) { v = htole16(v); memcpy(p, &v, 2); }
static void put32(uint8_t *p, uint32_t v) { v = htole32(v); memcpy(p, &v, 4); }
static void put64(uint8_t *p, uint64_t v) { v = htole64(v); memcpy(p, &v, 8); }

/* An ASCII field, padded with spaces as the spec wants. */
static void put_str(uint8_t *p, size_t width, const char *s)
{
    memset(p, ' ', width);
    size_t len = strnlen(s, width);
    memcpy(p, s, len);
}

static void identify_controller(struct nvme_ctrl *c, uint8_t *d)
{
    const char *serial = c->ns[0]->serial[0] ? c->ns[0]->serial : "cove-nvme";
    put16(d + 0, 0x1b36);                 /* VID */
    put16(d + 2, 0x1af4);                 /* SSVID */
    put_str(d + 4, 20, serial);           /* SN */
    put_str(d + 24, 40, "cove NVMe disk"); /* MN */
    put_str(d + 64, 8, "1.0");            /* FR */
    d[72] = 6;                            /* RAB */
    d[77] = NVME_MDTS;
    put32(d + 80, 0x00010400);            /* VER */
    d[111] = 1;                           /* CNTRLTYPE: I/O controller */
    d[258] = 3;                           /* ACL: 4 Aborts */
    d[259] = NVME_AERL;
    d[260] = 1 << 1 | 1;                  /* FRMW: one slot, slot 1 read-only */
    d[512] = 6 << 4 | 6;                  /* SQES: 64 bytes */
    d[513] = 4 << 4 | 4;                  /* CQES: 16 bytes */
    put32(d + 516, c->nns);               /* NN: namespaces 1..NN, all active */
    put16(d + 520, 1 << 2 | 1 << 3);      /* ONCS: Dataset Management, Write Zeroes */
    d[525] = 1;                           /* VWC: a volatile write cache (flush works) */
    char nqn[256];
    snprintf(nqn, sizeof nqn, "nqn.2026-12.dev.cove:nvme:%.*s", 20, serial);
    memcpy(d + 768, nqn, strlen(nqn));    /* SUBNQN, NUL padded */
}

static void identify_namespace(const struct block_attachment *disk, uint8_t *d)
{
    uint64_t blocks = disk->size >> NVME_LBA_SHIFT;
    put64(d + 0, blocks);                 /* NSZE */
    put64(d + 8, blocks);                 /* NCAP */
    put64(d + 16, blocks);                /* NUSE */
    d[25] = 0;                            /* NLBAF: one format */
    d[26] = 0;                            /* FLBAS: format 0 */
    d[99] = disk->read_only ? 1 : 0;      /* NSATTR: write protected */
    d[128 + 2] = NVME_LBA_SHIFT;          /* LBAF0: 512-byte blocks, no metadata */
}

static uint16_t identify(struct nvme_ctrl *c, const struct nvme_sqe *e)
{
    uint8_t d[4096] = {0};
    switch (e->cdw10 & 0xff) {
    case 0x00: { /* namespace (no common capabilities for NSID 0xffffffff) */
        const struct block_attachment *disk = nvme_ns(c, e->nsid);
        if (!disk)
            return NVME_SC_INVALID_NS | NVME_DNR;
        identify_namespace(disk, d);
        break;
    }
    case 0x01: identify_controller(c, d); break;
    case 0x02: /* active namespace IDs above nsid */
        if (e->nsid >= 0xfffffffeu)
            return NVME_SC_INVALID_NS | NVME_DNR;
        for (uint32_t nsid = e->nsid + 1, i = 0; nsid <= c->nns; nsid++, i++)
            put32(d + 4 * i, nsid); /* ascending, zero terminated (at most 8 of 1024) */
        break;
    case 0x03: /* namespace identification descriptors: none */
        if (!nvme_ns(c, e->nsid))
            return NVME_SC_INVALID_NS | NVME_DNR;
        break;
    default: return NVME_SC_INVALID_FIELD | NVME_DNR;
    }
    return copy_to_host(c, e, d, sizeof d);
}

/* --- features and logs ----------------------------------------------------------------- */

#define FEAT_ARBITRATION 0x01
#define FEAT_POWER 0x02
#define FEAT_TEMP 0x04
#define FEAT_ERR_RECOVERY 0x05
#define FEAT_WRITE_CACHE 0x06
#define FEAT_NUM_QUEUES 0x07
#define FEAT_IRQ_COALESCING 0x08
#define FEAT_IRQ_CONFIG 0x09
#define FEAT_WRITE_ATOMICITY 0x0a
#define FEAT_ASYNC_EVENT 0x0b

static uint32_t *feature(struct nvme_ctrl *c, unsigned fid)
{
    switch (fid) {
    case FEAT_ARBITRATION: return &c->feat_arbitration;
    case FEAT_POWER: return &c->feat_power;
    case FEAT_TEMP: return &c->feat_temp;
    case FEAT_ERR_RECOVERY: return &c->feat_err_recovery;
    case FEAT_IRQ_COALESCING: return &c->feat_coalescing;
    case FEAT_ASYNC_EVENT: return &c->feat_async_config;
    default: return NULL;
    }
}

static uint16_t get_features(struct nvme_ctrl *c, const struct nvme_sqe *e, uint32_t *dw0)
{
    unsigned fid = e->cdw10 & 0xff;
    uint32_t *f = feature(c, fid);
    if (f) {
        *dw0 = *f;
        return NVME_SC_SUCCESS;
    }
    switch (fid) {
    case FEAT_WRITE_CACHE: *dw0 = c->write_cache; return NVME_SC_SUCCESS;
    case FEAT_NUM_QUEUES:
        *dw0 = (uint32_t)(NVME_MAX_IO_QUEUES - 1) * 0x10001u;
        return NVME_SC_SUCCESS;
    case FEAT_IRQ_CONFIG: *dw0 = e->cdw11 & 0xffff; return NVME_SC_SUCCESS;
    case FEAT_WRITE_ATOMICITY: *dw0 = 0; return NVME_SC_SUCCESS;
    default: return NVME_SC_INVALID_FIELD | NVME_DNR;
    }
}

static uint16_t set_features(struct nvme_ctrl *c, const struct nvme_sqe *e, uint32_t *dw0)
{
    unsigned fid = e->cdw10 & 0xff;
    if (e->cdw10 >> 31)
        return NVME_SC_FEATURE_NOT_SAVEABLE | NVME_DNR;
    uint32_t *f = feature(c, fid);
    if (f) {
        *f = e->cdw11;
        return NVME_SC_SUCCESS;
    }
    switch (fid) {
    case FEAT_WRITE_CACHE: c->write_cache = e->cdw11 & 1; return NVME_SC_SUCCESS;
    case FEAT_NUM_QUEUES: {
        unsigned nsq = (e->cdw11 & 0xffff) + 1u, ncq = (e->cdw11 >> 16) + 1u;
        if (nsq > 0xffff || ncq > 0xffff)
            return NVME_SC_INVALID_FIELD | NVME_DNR;
        unsigned n = nsq < ncq ? nsq : ncq;
        c->io_queues = (uint16_t)(n < NVME_MAX_IO_QUEUES ? n : NVME_MAX_IO_QUEUES);
        *dw0 = (uint32_t)(c->io_queues - 1u) * 0x10001u;
        return NVME_SC_SUCCESS;
    }
    case FEAT_IRQ_CONFIG:
    case FEAT_WRITE_ATOMICITY: return NVME_SC_SUCCESS;
    default: return NVME_SC_INVALID_FIELD | NVME_DNR;
    }
}

/* Error information, SMART / health and firmware slot logs: all zeros (no errors logged,
 * no wear, no firmware slots to report). */
static uint16_t get_log_page(struct nvme_ctrl *c, const struct nvme_sqe *e)
{
    static const uint8_t zeros[4096];
    unsigned lid = e->cdw10 & 0xff;
    uint64_t dwords = ((e->cdw10 >> 16) | (uint64_t)(e->cdw11 & 0xffff) << 16) + 1;
    if (lid < 1 || lid > 3)
        return NVME_SC_INVALID_LOG_PAGE | NVME_DNR;
    /* SMART / health: for the controller (NSID 0 or 0xffffffff) or an active namespace,
     * the same zeros. The other logs are the controller's whatever the NSID. */
    if (lid == 2 && e->nsid && e->nsid != NSID_ALL && !nvme_ns(c, e->nsid))
        return NVME_SC_INVALID_NS | NVME_DNR;
    if (dwords * 4 > sizeof zeros)
        return NVME_SC_INVALID_FIELD | NVME_DNR;
    return copy_to_host(c, e, zeros, dwords * 4);
}

/* --- the admin command set ------------------------------------------------------------- */

uint16_t nvme_admin_command(struct nvme_ctrl *c, const struct nvme_sqe *e, uint32_t *dw0,
                            bool *defer)
{
    if (e->flags & 0xc0) /* PSDT: SGLs are not offered */
        return NVME_SC_INVALID_FIELD | NVME_DNR;
    uint16_t qid = (uint16_t)e->cdw10, qsize = (uint16_t)((e->cdw10 >> 16) + 1u);
    switch (e->opcode) {
    case ADM_CREATE_CQ:
        if (!(e->cdw11 & 1))
            return NVME_SC_INVALID_FIELD | NVME_DNR; /* CAP.CQR: contiguous only */
        if (e->cdw11 >> 16)
            return NVME_SC_INVALID_VECTOR | NVME_DNR; /* INTx: vector 0 only */
        return qid == 0 ? NVME_SC_QID_INVALID | NVME_DNR
                        : nvme_create_cq(c, qid, e->prp1, qsize, e->cdw11 & 2);
    case ADM_CREATE_SQ:
        if (!(e->cdw11 & 1))
            return NVME_SC_INVALID_FIELD | NVME_DNR;
        return qid == 0 ? NVME_SC_QID_INVALID | NVME_DNR
                        : nvme_create_sq(c, qid, e->prp1, qsize, (uint16_t)(e->cdw11 >> 16));
    case ADM_DELETE_SQ: return nvme_delete_sq(c, qid);
    case ADM_DELETE_CQ: return nvme_delete_cq(c, qid);
    case ADM_IDENTIFY: return identify(c, e);
    case ADM_GET_FEATURES: return get_features(c, e, dw0);
    case ADM_SET_FEATURES: return set_features(c, e, dw0);
    case ADM_GET_LOG_PAGE: return get_log_page(c, e);
    case ADM_ABORT:
        *dw0 = 1; /* commands finish as they are fetched: nothing left to abort */
        return NVME_SC_SUCCESS;
    case ADM_ASYNC_EVENT:
        if (c->aer_pending > NVME_AERL)
            return NVME_SC_AER_LIMIT | NVME_DNR;
        c->aer_pending++; /* no events to report: held until a reset */
        *defer = true;
        return NVME_SC_SUCCESS;
    default: return NVME_SC_INVALID_OPCODE | NVME_DNR;
    }
}

/* --- the NVM command set --------------------------------------------------------------- */

static bool blocks_inside(const struct block_attachment *disk, uint64_t slba, uint64_t nlb)
{
    uint64_t blocks = disk->size >> NVME_LBA_SHIFT;
    return slba <= blocks && nlb <= blocks - slba;
}

/* A host-side failure is the user's to fix: say so once; the guest sees an error. */
static uint16_t host_error(struct nvme_ctrl *c, const struct block_attachment *disk,
                           const char *what, int r)
{
    static const char fmt[] = "nvme disk %s: %s failed on the host: %s; the guest sees I/O errors";
    if (!c->host_error_told) {
        c->host_error_told = true;
        log_warn(fmt, disk->name[0] ? disk->name : "(memory)", what, strerror(-r));
    } else {
        log_debug(fmt, disk->name[0] ? disk->name : "(memory)", what, strerror(-r));
    }
    return NVME_SC_INTERNAL;
}

static uint16_t read_write(struct nvme_ctrl *c, struct block_attachment *disk,
                           const struct nvme_sqe *e, bool write)
{
    uint64_t slba = e->cdw10 | (uint64_t)e->cdw11 << 32, nlb = (e->cdw12 & 0xffff) + 1u;
    uint64_t len = nlb << NVME_LBA_SHIFT;
    if (len > NVME_MAX_XFER)
        return NVME_SC_INVALID_FIELD | NVME_DNR;
    if (!blocks_inside(disk, slba, nlb))
        return NVME_SC_LBA_RANGE | NVME_DNR;
    if (write && disk->read_only)
        return NVME_SC_NS_WRITE_PROTECTED | NVME_DNR;
    unsigned n;
    uint16_t st = map_prps(c, e->prp1, e->prp2, len, &n);
    if (st)
        return st;
    uint64_t off = slba << NVME_LBA_SHIFT;
    int r = write ? disk->ops->writev(disk, c->iov, n, off) : disk->ops->readv(disk, c->iov, n, off);
    if (r == 0 && write && (e->cdw12 & (1u << 30)) && c->write_cache) /* FUA */
        r = disk->ops->flush(disk);
    return r < 0 ? host_error(c, disk, write ? "a write" : "a read", r) : NVME_SC_SUCCESS;
}

static uint16_t write_zeroes(struct nvme_ctrl *c, struct block_attachment *disk,
                             const struct nvme_sqe *e)
{
    uint64_t slba = e->cdw10 | (uint64_t)e->cdw11 << 32, nlb = (e->cdw12 & 0xffff) + 1u;
    if (!blocks_inside(disk, slba, nlb))
        return NVME_SC_LBA_RANGE | NVME_DNR;
    if (disk->read_only)
        return NVME_SC_NS_WRITE_PROTECTED | NVME_DNR;
    bool deallocate = e->cdw12 & (1u << 25);
    int r = disk->ops->write_zeroes(disk, slba << NVME_LBA_SHIFT, nlb << NVME_LBA_SHIFT,
                                    deallocate);
    return r < 0 ? host_error(c, disk, "write-zeroes", r) : NVME_SC_SUCCESS;
}

struct dsm_range {
    uint32_t attributes, nlb;
    uint64_t slba;
};

/* Dataset Management: only Deallocate does anything (a discard); every range is checked
 * before any is carried out. */
static uint16_t dataset_management(struct nvme_ctrl *c, struct block_attachment *disk,
                                   const struct nvme_sqe *e)
{
    unsigned nr = (e->cdw10 & 0xff) + 1u;
    if (!(e->cdw11 & (1u << 2)))
        return NVME_SC_SUCCESS; /* hints only */
    if (disk->read_only)
        return NVME_SC_NS_WRITE_PROTECTED | NVME_DNR;
    struct dsm_range r[DSM_MAX_RANGES];
    unsigned n;
    uint16_t st = map_prps(c, e->prp1, e->prp2, nr * sizeof r[0], &n);
    if (st)
        return st;
    iov_to_buf(c->iov, n, 0, r, nr * sizeof r[0]);
    for (unsigned i = 0; i < nr; i++)
        if (!blocks_inside(disk, le64toh(r[i].slba), le32toh(r[i].nlb)))
            return NVME_SC_LBA_RANGE | NVME_DNR;
    for (unsigned i = 0; i < nr; i++) {
        uint64_t len = (uint64_t)le32toh(r[i].nlb) << NVME_LBA_SHIFT;
        if (len == 0)
            continue;
        int rc = disk->ops->discard(disk, le64toh(r[i].slba) << NVME_LBA_SHIFT, len);
        if (rc < 0)
            return host_error(c, disk, "discard", rc);
    }
    return NVME_SC_SUCCESS;
}

static uint16_t flush(struct nvme_ctrl *c, struct block_attachment *disk)
{
    int r = disk->read_only ? 0 : disk->ops->flush(disk);
    return r < 0 ? host_error(c, disk, "a flush", r) : NVME_SC_SUCCESS;
}

uint16_t nvme_flush_all(struct nvme_ctrl *c)
{
    uint16_t st = NVME_SC_SUCCESS;
    for (unsigned i = 0; i < c->nns; i++) {
        uint16_t one = flush(c, c->ns[i]);
        st = st ? st : one;
    }
    return st;
}

/* Routed by NSID: an active namespace, or for Flush also 0xffffffff (every namespace);
 * anything else is Invalid Namespace or Format. */
uint16_t nvme_io_command(struct nvme_ctrl *c, const struct nvme_sqe *e, uint32_t *dw0)
{
    (void)dw0;
    if (e->flags & 0xc0)
        return NVME_SC_INVALID_FIELD | NVME_DNR;
    if (e->opcode == NVM_FLUSH && e->nsid == NSID_ALL)
        return nvme_flush_all(c);
    struct block_attachment *disk = nvme_ns(c, e->nsid);
    if (!disk)
        return NVME_SC_INVALID_NS | NVME_DNR;
    switch (e->opcode) {
    case NVM_FLUSH: return flush(c, disk);
    case NVM_WRITE: return read_write(c, disk, e, true);
    case NVM_READ: return read_write(c, disk, e, false);
    case NVM_WRITE_ZEROES: return write_zeroes(c, disk, e);
    case NVM_DSM: return dataset_management(c, disk, e);
    default: return NVME_SC_INVALID_OPCODE | NVME_DNR;
    }
}
