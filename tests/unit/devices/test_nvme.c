/* The NVMe controller driven directly, as a driver would: PCI config space (IDs, BAR
 * sizing, the PCIe capability, INTx), enable and the admin queue, Identify, I/O queues,
 * reads and writes through PRP lists, flush, write zeroes, deallocate, reset in the
 * middle of the queue, and the hostile cases (queues and PRPs outside RAM, unaligned PRPs,
 * bogus sizes, doorbells for missing queues, bad admin queue registers); two namespaces
 * of different sizes (Identify per NSID, I/O routed by NSID, bad NSIDs, a read-only one).
 * Commands run synchronously (no I/O thread) but in io_thread_batch_and_reset. */
#include <endian.h>
#include <errno.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "../test.h"
#include "devices/iothread.h"
#include "devices/nvme/nvme.h"
#include "util/log.h"

#define RAM_BASE 0x80000000ull
#define RAM_SIZE (4u << 20)
#define DISK_SIZE (1u << 20)
#define ASQ (RAM_BASE + 0x0000)
#define ACQ (RAM_BASE + 0x1000)
#define IOSQ (RAM_BASE + 0x2000)
#define IOCQ (RAM_BASE + 0x3000)
#define DATA (RAM_BASE + 0x10000)
#define LIST (RAM_BASE + 0x8000)
#define QSIZE 16

static uint8_t *ram_host;
static struct guest_ram ram;
static struct block_attachment *disk;  /* namespace 1 */
static struct block_attachment *disk2; /* namespace 2, when fresh_two() made one */
static struct nvme_ctrl *ctrl;
static struct pci_function *fn;
static bool irq;
static uint16_t sq_tail[2], cq_head[2];
static bool cq_phase[2];

static void *gp(uint64_t gpa) { return ram_host + (gpa - RAM_BASE); }
static void set_intx(void *opaque, bool level) { irq = level; }

static uint64_t reg_read(uint64_t off, unsigned len)
{
    uint64_t v = 0;
    fn->ops->bar_read(fn->dev, 0, off, len, &v);
    return v;
}
static void reg_write(uint64_t off, unsigned len, uint64_t v) { fn->ops->bar_write(fn->dev, 0, off, len, v); }

struct sqe {
    uint8_t opcode, flags;
    uint16_t cid;
    uint32_t nsid;
    uint64_t rsvd, mptr, prp1, prp2;
    uint32_t cdw[6]; /* cdw10..15 */
};

/* Submits one command on queue q and returns its completion's status (SC | SCT << 8,
 * DNR dropped), or 0xffff if no completion was posted; *dw0 gets the result. */
static unsigned submit(unsigned q, struct sqe e, uint32_t *dw0)
{
    uint64_t sq = q ? IOSQ : ASQ, cq = q ? IOCQ : ACQ;
    memcpy(gp(sq + sq_tail[q] * 64u), &e, 64);
    sq_tail[q] = (sq_tail[q] + 1) % QSIZE;
    reg_write(0x1000 + 8u * q, 4, sq_tail[q]);
    uint32_t *c = gp(cq + cq_head[q] * 16u);
    bool phase = (le32toh(c[3]) >> 16) & 1;
    if (phase != cq_phase[q])
        return 0xffff;
    CHECK_EQ_U64(le32toh(c[3]) & 0xffff, e.cid);
    CHECK_EQ_U64(le32toh(c[2]) >> 16, q);
    if (dw0)
        *dw0 = le32toh(c[0]);
    if (++cq_head[q] == QSIZE) {
        cq_head[q] = 0;
        cq_phase[q] = !cq_phase[q];
    }
    CHECK(irq);
    reg_write(0x1000 + 8u * q + 4, 4, cq_head[q]);
    CHECK(!irq);
    return (le32toh(c[3]) >> 17) & 0x3fff;
}

/* A controller over one namespace of DISK_SIZE, or (size2 != 0) a second one of size2. */
static void fresh_ns(struct iothread *io, bool read_only, uint64_t size2, bool read_only2)
{
    log_set_level(LOG_LEVEL_ERROR);
    if (!ram_host && !(ram_host = aligned_alloc(4096, RAM_SIZE)))
        abort();
    memset(ram_host, 0, RAM_SIZE);
    ram = (struct guest_ram){ram_host, RAM_BASE, RAM_SIZE};
    if (ctrl)
        nvme_destroy(ctrl);
    disk2 = NULL;
    if (block_mem_create(DISK_SIZE, read_only, &disk) < 0 ||
        (size2 && block_mem_create(size2, read_only2, &disk2) < 0) ||
        nvme_create(&ram, io, (struct block_attachment *[]){disk, disk2}, size2 ? 2 : 1, &ctrl,
                    NULL) < 0)
        abort();
    fn = nvme_pci_function(ctrl);
    fn->set_intx = set_intx;
    irq = false;
    memset(sq_tail, 0, sizeof sq_tail);
    memset(cq_head, 0, sizeof cq_head);
    cq_phase[0] = cq_phase[1] = true;
}

static void fresh_on(struct iothread *io, bool read_only) { fresh_ns(io, read_only, 0, false); }
static void fresh(bool read_only) { fresh_on(NULL, read_only); }

/* PCI setup and CC.EN: true when the controller reports ready. */
static bool enable(void)
{
    pci_function_config_write(fn, 0x10, 4, 0x40000000);
    pci_function_config_write(fn, 0x14, 4, 0);
    pci_function_config_write(fn, PCI_COMMAND, 2, PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER);
    reg_write(0x24, 4, (QSIZE - 1) << 16 | (QSIZE - 1));
    reg_write(0x28, 8, ASQ);
    reg_write(0x30, 8, ACQ);
    reg_write(0x14, 4, 1 | 6 << 16 | 4 << 20);
    return reg_read(0x1c, 4) == 1;
}

/* Number of Queues, then I/O CQ 1 and SQ 1 with QSIZE entries. */
static bool io_queues(void)
{
    uint32_t dw0 = 0;
    return submit(0, (struct sqe){.opcode = 0x09, .cid = 1, .cdw = {7, 0x00030003}}, &dw0) == 0 && dw0 == 0x00030003 &&
           submit(0, (struct sqe){.opcode = 0x05, .cid = 2, .prp1 = IOCQ,
                                  .cdw = {(QSIZE - 1) << 16 | 1, 3}}, NULL) == 0 &&
           submit(0, (struct sqe){.opcode = 0x01, .cid = 3, .prp1 = IOSQ,
                                  .cdw = {(QSIZE - 1) << 16 | 1, 1 << 16 | 1}}, NULL) == 0;
}

TEST(config_space)
{
    fresh(false);
    CHECK_EQ_U64(pci_function_config_read(fn, 0, 4), 0x00101b36);
    CHECK_EQ_U64(pci_function_config_read(fn, 8, 4) >> 8, 0x010802);
    CHECK(pci_function_config_read(fn, PCI_STATUS, 2) & PCI_STATUS_CAP_LIST);
    unsigned cap = pci_function_config_read(fn, 0x34, 1);
    CHECK_EQ_U64(pci_function_config_read(fn, cap, 1), 0x10); /* PCI Express */
    CHECK_EQ_U64(pci_function_config_read(fn, cap + 1, 1), 0);
    CHECK_EQ_U64(pci_function_config_read(fn, PCI_INTERRUPT_PIN, 1), 1);
    /* BAR sizing: all ones in, ~(size - 1) | flags out, both halves of the 64-bit BAR. */
    pci_function_config_write(fn, 0x10, 4, 0xffffffff);
    pci_function_config_write(fn, 0x14, 4, 0xffffffff);
    CHECK_EQ_U64(pci_function_config_read(fn, 0x10, 4), 0xffffc004);
    CHECK_EQ_U64(pci_function_config_read(fn, 0x14, 4), 0xffffffff);
    CHECK_EQ_U64(pci_function_config_read(fn, 0x18, 4), 0); /* no BAR2 */
    pci_function_config_write(fn, 0x10, 4, 0x40004000);
    pci_function_config_write(fn, 0x14, 4, 0);
    uint64_t base;
    CHECK(!pci_function_bar_base(fn, 0, &base)); /* memory decoding off */
    pci_function_config_write(fn, PCI_COMMAND, 2, PCI_COMMAND_MEMORY);
    CHECK(pci_function_bar_base(fn, 0, &base));
    CHECK_EQ_U64(base, 0x40004000);
    /* Read-only fields stay; misaligned and extended-space accesses are harmless. */
    pci_function_config_write(fn, 0, 4, 0);
    CHECK_EQ_U64(pci_function_config_read(fn, 0, 4), 0x00101b36);
    CHECK_EQ_U64(pci_function_config_read(fn, 0x101, 2), 0xffffffff);
    CHECK_EQ_U64(pci_function_config_read(fn, 0x100, 4), 0);
    pci_function_config_write(fn, 0xffc, 4, 0xffffffff);
    /* INTx: Status.Interrupt follows the pin, Command.InterruptDisable masks the line. */
    pci_function_set_intx(fn, true);
    CHECK(irq);
    CHECK(pci_function_config_read(fn, PCI_STATUS, 2) & PCI_STATUS_INTERRUPT);
    pci_function_config_write(fn, PCI_COMMAND, 2, PCI_COMMAND_MEMORY | PCI_COMMAND_INTX_DISABLE);
    CHECK(!irq);
    pci_function_config_write(fn, PCI_COMMAND, 2, PCI_COMMAND_MEMORY);
    CHECK(irq);
    pci_function_set_intx(fn, false);
    CHECK(!irq);
}

TEST(enable_identify)
{
    fresh(false);
    CHECK_EQ_U64(reg_read(0x08, 4), 0x00010400);
    CHECK_EQ_U64(reg_read(0x00, 8) & 0xffff, 1023); /* MQES */
    CHECK_EQ_U64((reg_read(0x00, 8) >> 37) & 1, 1);  /* NVM command set */
    REQUIRE(enable());
    CHECK_EQ_U64(reg_read(0x28, 8), ASQ);
    CHECK_EQ_U64(reg_read(0x2c, 4), ASQ >> 32);
    REQUIRE(submit(0, (struct sqe){.opcode = 0x06, .cid = 7, .prp1 = DATA, .cdw = {1}}, NULL) == 0);
    uint8_t *id = gp(DATA);
    CHECK_EQ_U64(id[0] | id[1] << 8, 0x1b36);
    CHECK_EQ_U64(id[77], 8);   /* MDTS */
    CHECK_EQ_U64(id[516], 1);  /* NN */
    CHECK(!memcmp(id + 768, "nqn.", 4));
    REQUIRE(submit(0, (struct sqe){.opcode = 0x06, .cid = 8, .nsid = 1, .prp1 = DATA, .cdw = {0}}, NULL) == 0);
    uint64_t nsze;
    memcpy(&nsze, id, 8);
    CHECK_EQ_U64(le64toh(nsze), DISK_SIZE / 512);
    CHECK_EQ_U64(id[130], 9); /* LBAF0: 512-byte blocks */
    REQUIRE(submit(0, (struct sqe){.opcode = 0x06, .cid = 9, .prp1 = DATA, .cdw = {2}}, NULL) == 0);
    CHECK_EQ_U64(id[0], 1);
    CHECK_EQ_U64(id[4], 0);
    CHECK_EQ_U64(submit(0, (struct sqe){.opcode = 0x06, .cid = 10, .nsid = 2, .prp1 = DATA}, NULL), 0xb);
    CHECK_EQ_U64(submit(0, (struct sqe){.opcode = 0x06, .cid = 11, .prp1 = DATA, .cdw = {0x55}}, NULL), 0x2);
    CHECK_EQ_U64(submit(0, (struct sqe){.opcode = 0x7f, .cid = 12}, NULL), 0x1);
    uint32_t dw0 = 0;
    CHECK_EQ_U64(submit(0, (struct sqe){.opcode = 0x09, .cid = 13, .cdw = {7, 0x00ff00ff}}, &dw0), 0);
    CHECK_EQ_U64(dw0, (NVME_MAX_IO_QUEUES - 1) * 0x10001u);
    CHECK_EQ_U64(submit(0, (struct sqe){.opcode = 0x02, .cid = 14, .prp1 = DATA, .cdw = {2 | 127u << 16}}, NULL), 0);
    CHECK_EQ_U64(submit(0, (struct sqe){.opcode = 0x02, .cid = 15, .prp1 = DATA, .cdw = {0x80}}, NULL), 0x109);
    /* An Asynchronous Event Request stays outstanding: no completion. */
    CHECK_EQ_U64(submit(0, (struct sqe){.opcode = 0x0c, .cid = 16}, NULL), 0xffff);
}

/* Writes 12 KiB starting 512 bytes into a page (PRP1 with an offset, PRP2 a list), reads it
 * back through two pages (PRP2 a page), and checks the disk between. */
TEST(read_write_prp_list)
{
    fresh(false);
    REQUIRE(enable());
    REQUIRE(io_queues());
    uint8_t *src = gp(DATA + 512);
    for (unsigned i = 0; i < 12288; i++)
        src[i] = (uint8_t)(i * 7 + 3);
    uint64_t *list = gp(LIST);
    for (unsigned i = 0; i < 3; i++)
        list[i] = htole64(DATA + 0x1000 * (i + 1));
    CHECK_EQ_U64(submit(1, (struct sqe){.opcode = 0x01, .cid = 1, .nsid = 1, .prp1 = DATA + 512,
                                        .prp2 = LIST, .cdw = {8, 0, 24 - 1}}, NULL), 0);
    uint8_t back[12288];
    struct iovec iov = {back, sizeof back};
    REQUIRE(disk->ops->readv(disk, &iov, 1, 8 * 512) == 0);
    CHECK(!memcmp(back, src, sizeof back));
    uint8_t *dst = gp(DATA + 0x40000);
    CHECK_EQ_U64(submit(1, (struct sqe){.opcode = 0x02, .cid = 2, .nsid = 1, .prp1 = DATA + 0x40000,
                                        .prp2 = DATA + 0x41000, .cdw = {8, 0, 16 - 1}}, NULL), 0);
    CHECK(!memcmp(dst, src, 8192));
    CHECK_EQ_U64(submit(1, (struct sqe){.opcode = 0x00, .cid = 3, .nsid = 1}, NULL), 0);
    /* Write zeroes over the first block, deallocate the second (both in bounds). */
    CHECK_EQ_U64(submit(1, (struct sqe){.opcode = 0x08, .cid = 4, .nsid = 1, .cdw = {8, 0, 0}}, NULL), 0);
    REQUIRE(disk->ops->readv(disk, &iov, 1, 8 * 512) == 0);
    CHECK(back[0] == 0 && back[511] == 0 && back[512] == src[512]);
    uint32_t *range = gp(LIST);
    range[0] = 0;
    range[1] = htole32(1);
    memcpy(&range[2], &(uint64_t){htole64(9)}, 8);
    CHECK_EQ_U64(submit(1, (struct sqe){.opcode = 0x09, .cid = 5, .nsid = 1, .prp1 = LIST, .cdw = {0, 4}}, NULL), 0);
    /* Bounds and namespaces. */
    CHECK_EQ_U64(submit(1, (struct sqe){.opcode = 0x02, .cid = 6, .nsid = 1, .prp1 = DATA,
                                        .cdw = {DISK_SIZE / 512, 0, 0}}, NULL), 0x80);
    CHECK_EQ_U64(submit(1, (struct sqe){.opcode = 0x02, .cid = 7, .nsid = 2, .prp1 = DATA}, NULL), 0xb);
    CHECK_EQ_U64(submit(1, (struct sqe){.opcode = 0x02, .cid = 8, .nsid = 1, .prp1 = DATA,
                                        .cdw = {0, 0, 0xffff}}, NULL), 0x2); /* > MDTS */
    range[1] = htole32(DISK_SIZE / 512);
    CHECK_EQ_U64(submit(1, (struct sqe){.opcode = 0x09, .cid = 9, .nsid = 1, .prp1 = LIST, .cdw = {0, 4}}, NULL), 0x80);
}

TEST(hostile_guest)
{
    fresh(false);
    REQUIRE(enable());
    REQUIRE(io_queues());
    /* PRPs outside RAM, unaligned, a list pointing outside RAM, a list entry with an offset. */
    CHECK_EQ_U64(submit(1, (struct sqe){.opcode = 0x02, .cid = 1, .nsid = 1, .prp1 = 0x1000}, NULL), 0x4);
    CHECK_EQ_U64(submit(1, (struct sqe){.opcode = 0x02, .cid = 2, .nsid = 1, .prp1 = DATA + 2}, NULL), 0x13);
    CHECK_EQ_U64(submit(1, (struct sqe){.opcode = 0x02, .cid = 3, .nsid = 1, .prp1 = DATA,
                                        .prp2 = RAM_BASE + RAM_SIZE - 8, .cdw = {0, 0, 23}}, NULL), 0x4);
    uint64_t *list = gp(LIST);
    list[0] = htole64(DATA + 0x1000);
    list[1] = htole64(DATA + 0x2010);
    CHECK_EQ_U64(submit(1, (struct sqe){.opcode = 0x02, .cid = 4, .nsid = 1, .prp1 = DATA,
                                        .prp2 = LIST, .cdw = {0, 0, 23}}, NULL), 0x13);
    /* The last page of RAM: the transfer would run past its end. */
    CHECK_EQ_U64(submit(1, (struct sqe){.opcode = 0x02, .cid = 5, .nsid = 1,
                                        .prp1 = RAM_BASE + RAM_SIZE - 0x1000, .prp2 = RAM_BASE + RAM_SIZE,
                                        .cdw = {0, 0, 15}}, NULL), 0x4);
    /* CID reuse is the host's business: both complete. */
    CHECK_EQ_U64(submit(1, (struct sqe){.opcode = 0x00, .cid = 9, .nsid = 1}, NULL), 0);
    CHECK_EQ_U64(submit(1, (struct sqe){.opcode = 0x00, .cid = 9, .nsid = 1}, NULL), 0);
    /* Queues: outside RAM, unaligned, too big, a CQ that does not exist, QID out of range,
     * deleting a CQ an SQ still uses, MSI-X vectors. */
    CHECK_EQ_U64(submit(0, (struct sqe){.opcode = 0x05, .cid = 20, .prp1 = 0x10000000,
                                        .cdw = {15u << 16 | 2, 1}}, NULL), 0x2);
    CHECK_EQ_U64(submit(0, (struct sqe){.opcode = 0x05, .cid = 21, .prp1 = RAM_BASE + RAM_SIZE - 0x1000,
                                        .cdw = {1023u << 16 | 2, 1}}, NULL), 0x2);
    CHECK_EQ_U64(submit(0, (struct sqe){.opcode = 0x05, .cid = 22, .prp1 = DATA + 16,
                                        .cdw = {15u << 16 | 2, 1}}, NULL), 0x2);
    CHECK_EQ_U64(submit(0, (struct sqe){.opcode = 0x05, .cid = 23, .prp1 = DATA,
                                        .cdw = {4095u << 16 | 2, 1}}, NULL), 0x102);
    CHECK_EQ_U64(submit(0, (struct sqe){.opcode = 0x05, .cid = 24, .prp1 = DATA,
                                        .cdw = {0u << 16 | 2, 1}}, NULL), 0x102);
    CHECK_EQ_U64(submit(0, (struct sqe){.opcode = 0x05, .cid = 25, .prp1 = DATA,
                                        .cdw = {15u << 16 | 2, 1 | 3u << 16}}, NULL), 0x108);
    CHECK_EQ_U64(submit(0, (struct sqe){.opcode = 0x01, .cid = 26, .prp1 = DATA,
                                        .cdw = {15u << 16 | 2, 1 | 5u << 16}}, NULL), 0x100);
    CHECK_EQ_U64(submit(0, (struct sqe){.opcode = 0x01, .cid = 27, .prp1 = DATA,
                                        .cdw = {15u << 16 | 200, 1 | 1u << 16}}, NULL), 0x101);
    CHECK_EQ_U64(submit(0, (struct sqe){.opcode = 0x04, .cid = 28, .cdw = {1}}, NULL), 0x10c);
    CHECK_EQ_U64(submit(0, (struct sqe){.opcode = 0x04, .cid = 29, .cdw = {0}}, NULL), 0x101);
    /* Doorbells for queues that do not exist, and values past a queue's end: ignored. */
    reg_write(0x1000 + 8 * 5, 4, 3);
    reg_write(0x1000 + 8 * 200, 4, 3);
    reg_write(0x1000 + 8 * 1, 4, QSIZE + 5);
    reg_write(0x1000 + 8 * 1 + 4, 4, 0xffff);
    reg_write(0x1000 + 8 * 1, 4, sq_tail[1]);
    CHECK_EQ_U64(reg_read(0x1c, 4), 1); /* still ready */
    CHECK_EQ_U64(submit(1, (struct sqe){.opcode = 0x00, .cid = 30, .nsid = 1}, NULL), 0);
    /* Delete the I/O queues, then use the SQ doorbell of the gone queue. */
    CHECK_EQ_U64(submit(0, (struct sqe){.opcode = 0x00, .cid = 31, .cdw = {1}}, NULL), 0);
    CHECK_EQ_U64(submit(0, (struct sqe){.opcode = 0x04, .cid = 32, .cdw = {1}}, NULL), 0);
    reg_write(0x1000 + 8, 4, 1);
    CHECK(!irq);
}

TEST(bad_admin_queue_is_fatal)
{
    fresh(false);
    pci_function_config_write(fn, PCI_COMMAND, 2, PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER);
    reg_write(0x24, 4, 0x000f000f);
    reg_write(0x28, 8, 0x1000); /* not RAM */
    reg_write(0x30, 8, ACQ);
    reg_write(0x14, 4, 1);
    CHECK_EQ_U64(reg_read(0x1c, 4) & 3, 2); /* CFS, not RDY */
    reg_write(0x1000, 4, 1);                /* a doorbell on a dead controller */
    reg_write(0x14, 4, 0);                  /* reset clears CFS */
    CHECK_EQ_U64(reg_read(0x1c, 4), 0);
    reg_write(0x14, 4, 1 | 3 << 7);         /* 32 KiB pages: not offered */
    CHECK_EQ_U64(reg_read(0x1c, 4) & 3, 2);
    reg_write(0x14, 4, 0);
    REQUIRE(enable());
}

TEST(reset_mid_queue_and_shutdown)
{
    fresh(false);
    REQUIRE(enable());
    REQUIRE(io_queues());
    /* Fill the I/O SQ without ringing, then reset: the commands never run. */
    struct sqe e = {.opcode = 0x01, .cid = 1, .nsid = 1, .prp1 = DATA};
    memset(gp(DATA), 0xab, 512);
    memcpy(gp(IOSQ), &e, 64);
    reg_write(0x14, 4, 0);
    CHECK_EQ_U64(reg_read(0x1c, 4), 0);
    CHECK(!irq);
    reg_write(0x1000 + 8, 4, 1); /* the doorbell of a queue the reset deleted */
    uint8_t back[512];
    struct iovec iov = {back, sizeof back};
    REQUIRE(disk->ops->readv(disk, &iov, 1, 0) == 0);
    CHECK(back[0] == 0);
    /* Enable again from scratch: the queues start over. */
    memset(ram_host, 0, 0x4000);
    memset(sq_tail, 0, sizeof sq_tail);
    memset(cq_head, 0, sizeof cq_head);
    cq_phase[0] = cq_phase[1] = true;
    REQUIRE(enable());
    REQUIRE(io_queues());
    CHECK_EQ_U64(submit(1, e, NULL), 0);
    REQUIRE(disk->ops->readv(disk, &iov, 1, 0) == 0);
    CHECK(back[0] == 0xab);
    /* Shutdown notification: SHST says complete. */
    reg_write(0x14, 4, 1 | 6 << 16 | 4 << 20 | 1 << 14);
    CHECK_EQ_U64((reg_read(0x1c, 4) >> 2) & 3, 2);
    /* INTMS masks the line while completions wait. */
    reg_write(0x0c, 4, 1);
    CHECK_EQ_U64(reg_read(0x0c, 4), 1);
    reg_write(0x10, 4, 1);
    CHECK_EQ_U64(reg_read(0x0c, 4), 0);
}

/* A CQ of 2 entries holds one completion: the second command waits in its SQ until the
 * host consumes the first, then runs. A host that never consumes stalls only its queue. */
TEST(full_completion_queue_waits)
{
    fresh(false);
    REQUIRE(enable());
    uint32_t dw0;
    REQUIRE(submit(0, (struct sqe){.opcode = 0x09, .cid = 1, .cdw = {7, 0}}, &dw0) == 0);
    REQUIRE(submit(0, (struct sqe){.opcode = 0x05, .cid = 2, .prp1 = IOCQ, .cdw = {1u << 16 | 1, 3}}, NULL) == 0);
    REQUIRE(submit(0, (struct sqe){.opcode = 0x01, .cid = 3, .prp1 = IOSQ,
                                   .cdw = {(QSIZE - 1) << 16 | 1, 1 << 16 | 1}}, NULL) == 0);
    struct sqe flush = {.opcode = 0x00, .cid = 40, .nsid = 1};
    memcpy(gp(IOSQ), &flush, 64);
    flush.cid = 41;
    memcpy(gp(IOSQ + 64), &flush, 64);
    reg_write(0x1000 + 8, 4, 2);
    uint32_t *cqe = gp(IOCQ);
    CHECK_EQ_U64(le32toh(cqe[3]) & 0x1ffff, 0x10000 | 40); /* phase 1, CID 40 */
    CHECK_EQ_U64(le32toh(cqe[7]), 0);                       /* nothing in slot 1 */
    CHECK(irq);
    reg_write(0x1000 + 8 + 4, 4, 1); /* consumed: the second one runs */
    CHECK_EQ_U64(le32toh(cqe[7]) & 0x1ffff, 0x10000 | 41);
    CHECK_EQ_U64(le32toh(cqe[6]) & 0xffff, 2); /* SQ head after both */
    reg_write(0x1000 + 8 + 4, 4, 0);
    CHECK(!irq);
}

/* The phase-tag dword of CQE slot i of the I/O CQ, read as a driver polls it. */
static uint32_t cqe_dw3(unsigned i)
{
    return le32toh(__atomic_load_n((uint32_t *)gp(IOCQ + 16u * i) + 3, __ATOMIC_ACQUIRE));
}

static bool wait_phase(unsigned slot, unsigned phase)
{
    for (int spins = 0; spins < 5000; spins++) {
        if (((cqe_dw3(slot) >> 16) & 1) == phase)
            return true;
        usleep(1000);
    }
    return false;
}

/* On a real I/O thread: a full queue of writes completes in order of the CQ, each with its
 * CID and success; then a queue of writes is rung and the controller reset at once, from
 * this thread, while the I/O thread works: no hang, no crash, the controller comes back. */
TEST(io_thread_batch_and_reset)
{
    struct iothread *io;
    REQUIRE(iothread_create(&io, NULL) == 0);
    fresh_on(io, false);
    /* Admin commands through the I/O thread: submit() cannot wait, so enable and make
     * queues by hand, polling. */
    pci_function_config_write(fn, PCI_COMMAND, 2, PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER);
    reg_write(0x24, 4, (QSIZE - 1) << 16 | (QSIZE - 1));
    reg_write(0x28, 8, ASQ);
    reg_write(0x30, 8, ACQ);
    reg_write(0x14, 4, 1 | 6 << 16 | 4 << 20);
    REQUIRE(reg_read(0x1c, 4) == 1);
    struct sqe admin[3] = {
        {.opcode = 0x09, .cid = 1, .cdw = {7, 0}},
        {.opcode = 0x05, .cid = 2, .prp1 = IOCQ, .cdw = {(QSIZE - 1) << 16 | 1, 3}},
        {.opcode = 0x01, .cid = 3, .prp1 = IOSQ, .cdw = {(QSIZE - 1) << 16 | 1, 1 << 16 | 1}},
    };
    memcpy(gp(ASQ), admin, sizeof admin);
    reg_write(0x1000, 4, 3);
    uint32_t *acq = gp(ACQ);
    for (int spins = 0; spins < 5000 && !((le32toh(__atomic_load_n(&acq[2 * 4 + 3], __ATOMIC_ACQUIRE)) >> 16) & 1); spins++)
        usleep(1000);
    for (unsigned i = 0; i < 3; i++)
        CHECK_EQ_U64(le32toh(acq[4 * i + 3]), 0x10000u | (i + 1));
    reg_write(0x1004, 4, 3);
    /* QSIZE - 1 writes of one block each, to blocks 0.. with the CID as data. */
    for (unsigned i = 0; i < QSIZE - 1; i++) {
        memset(gp(DATA + 0x1000 * i), (int)i + 1, 512);
        struct sqe e = {.opcode = 0x01, .cid = (uint16_t)(100 + i), .nsid = 1,
                        .prp1 = DATA + 0x1000 * i, .cdw = {i}};
        memcpy(gp(IOSQ + 64 * i), &e, 64);
    }
    reg_write(0x1008, 4, QSIZE - 1);
    REQUIRE(wait_phase(QSIZE - 2, 1));
    for (unsigned i = 0; i < QSIZE - 1; i++)
        CHECK_EQ_U64(cqe_dw3(i), 0x10000u | (100 + i));
    uint8_t back[512];
    struct iovec iov = {back, sizeof back};
    REQUIRE(disk->ops->readv(disk, &iov, 1, 7 * 512) == 0);
    CHECK(back[0] == 8 && back[511] == 8);
    reg_write(0x100c, 4, QSIZE - 1);
    /* Ring a full round again and reset without waiting. */
    reg_write(0x1008, 4, (QSIZE - 1 + QSIZE - 2) % QSIZE);
    reg_write(0x14, 4, 0);
    CHECK_EQ_U64(reg_read(0x1c, 4), 0);
    REQUIRE(enable());
    nvme_destroy(ctrl);
    ctrl = NULL;
    iothread_destroy(io);
}

TEST(read_only_namespace)
{
    fresh(true);
    REQUIRE(enable());
    REQUIRE(io_queues());
    CHECK_EQ_U64(submit(1, (struct sqe){.opcode = 0x01, .cid = 1, .nsid = 1, .prp1 = DATA}, NULL), 0x20);
    CHECK_EQ_U64(submit(1, (struct sqe){.opcode = 0x08, .cid = 2, .nsid = 1}, NULL), 0x20);
    CHECK_EQ_U64(submit(1, (struct sqe){.opcode = 0x02, .cid = 3, .nsid = 1, .prp1 = DATA}, NULL), 0);
}

#define DISK2_SIZE (3u << 19) /* 1.5 MiB: a size of its own */

static uint64_t id_nsze(void)
{
    uint64_t v;
    memcpy(&v, gp(DATA), 8);
    return le64toh(v);
}

/* Two namespaces of different sizes on one controller: NN, the active list, Identify per
 * NSID, I/O routed to each disk by NSID, the LBA range of each, bad NSIDs everywhere. */
TEST(two_namespaces)
{
    fresh_ns(NULL, false, DISK2_SIZE, false);
    REQUIRE(enable());
    REQUIRE(io_queues());
    uint8_t *id = gp(DATA);
    REQUIRE(submit(0, (struct sqe){.opcode = 0x06, .cid = 1, .prp1 = DATA, .cdw = {1}}, NULL) == 0);
    CHECK_EQ_U64(id[516] | id[517] << 8, 2); /* NN */
    REQUIRE(submit(0, (struct sqe){.opcode = 0x06, .cid = 2, .nsid = 1, .prp1 = DATA}, NULL) == 0);
    CHECK_EQ_U64(id_nsze(), DISK_SIZE / 512);
    REQUIRE(submit(0, (struct sqe){.opcode = 0x06, .cid = 3, .nsid = 2, .prp1 = DATA}, NULL) == 0);
    CHECK_EQ_U64(id_nsze(), DISK2_SIZE / 512);
    CHECK_EQ_U64(id[99], 0); /* not write protected */
    /* Active namespace list: above 0 both, above 1 only 2, above 2 none. */
    uint32_t list[3];
    REQUIRE(submit(0, (struct sqe){.opcode = 0x06, .cid = 4, .prp1 = DATA, .cdw = {2}}, NULL) == 0);
    memcpy(list, id, sizeof list);
    CHECK(le32toh(list[0]) == 1 && le32toh(list[1]) == 2 && list[2] == 0);
    REQUIRE(submit(0, (struct sqe){.opcode = 0x06, .cid = 5, .nsid = 1, .prp1 = DATA, .cdw = {2}}, NULL) == 0);
    memcpy(list, id, sizeof list);
    CHECK(le32toh(list[0]) == 2 && list[1] == 0);
    REQUIRE(submit(0, (struct sqe){.opcode = 0x06, .cid = 6, .nsid = 2, .prp1 = DATA, .cdw = {2}}, NULL) == 0);
    CHECK_EQ_U64(id[0], 0);
    CHECK_EQ_U64(submit(0, (struct sqe){.opcode = 0x06, .cid = 7, .nsid = 0xfffffffe, .prp1 = DATA, .cdw = {2}}, NULL), 0xb);
    /* Descriptors: each active NSID; Identify and descriptors for 0, 3, all ones: invalid. */
    CHECK_EQ_U64(submit(0, (struct sqe){.opcode = 0x06, .cid = 8, .nsid = 2, .prp1 = DATA, .cdw = {3}}, NULL), 0);
    static const uint32_t bad[] = {0, 3, 9, 0xffffffff};
    for (unsigned i = 0; i < 4; i++) {
        CHECK_EQ_U64(submit(0, (struct sqe){.opcode = 0x06, .cid = 9, .nsid = bad[i], .prp1 = DATA}, NULL), 0xb);
        CHECK_EQ_U64(submit(0, (struct sqe){.opcode = 0x06, .cid = 10, .nsid = bad[i], .prp1 = DATA, .cdw = {3}}, NULL), 0xb);
        CHECK_EQ_U64(submit(1, (struct sqe){.opcode = 0x02, .cid = 11, .nsid = bad[i], .prp1 = DATA}, NULL), 0xb);
        CHECK_EQ_U64(submit(1, (struct sqe){.opcode = 0x01, .cid = 12, .nsid = bad[i], .prp1 = DATA}, NULL), 0xb);
        CHECK_EQ_U64(submit(1, (struct sqe){.opcode = 0x08, .cid = 13, .nsid = bad[i]}, NULL), 0xb);
        CHECK_EQ_U64(submit(1, (struct sqe){.opcode = 0x09, .cid = 14, .nsid = bad[i], .prp1 = LIST, .cdw = {0, 4}}, NULL), 0xb);
    }
    /* Flush: each namespace, all of them (0xffffffff); not 0 or 3. SMART log per NSID. */
    CHECK_EQ_U64(submit(1, (struct sqe){.opcode = 0x00, .cid = 15, .nsid = 2}, NULL), 0);
    CHECK_EQ_U64(submit(1, (struct sqe){.opcode = 0x00, .cid = 16, .nsid = 0xffffffff}, NULL), 0);
    CHECK_EQ_U64(submit(1, (struct sqe){.opcode = 0x00, .cid = 17, .nsid = 0}, NULL), 0xb);
    CHECK_EQ_U64(submit(1, (struct sqe){.opcode = 0x00, .cid = 18, .nsid = 3}, NULL), 0xb);
    CHECK_EQ_U64(submit(0, (struct sqe){.opcode = 0x02, .cid = 19, .nsid = 2, .prp1 = DATA, .cdw = {2 | 127u << 16}}, NULL), 0);
    CHECK_EQ_U64(submit(0, (struct sqe){.opcode = 0x02, .cid = 20, .nsid = 0xffffffff, .prp1 = DATA, .cdw = {2 | 127u << 16}}, NULL), 0);
    CHECK_EQ_U64(submit(0, (struct sqe){.opcode = 0x02, .cid = 21, .nsid = 3, .prp1 = DATA, .cdw = {2 | 127u << 16}}, NULL), 0xb);
    /* The same LBA on each namespace: each disk gets its own data. */
    memset(gp(DATA), 0x11, 512);
    CHECK_EQ_U64(submit(1, (struct sqe){.opcode = 0x01, .cid = 22, .nsid = 1, .prp1 = DATA, .cdw = {5}}, NULL), 0);
    memset(gp(DATA), 0x22, 512);
    CHECK_EQ_U64(submit(1, (struct sqe){.opcode = 0x01, .cid = 23, .nsid = 2, .prp1 = DATA, .cdw = {5}}, NULL), 0);
    uint8_t back[512];
    struct iovec iov = {back, sizeof back};
    REQUIRE(disk->ops->readv(disk, &iov, 1, 5 * 512) == 0);
    CHECK(back[0] == 0x11 && back[511] == 0x11);
    REQUIRE(disk2->ops->readv(disk2, &iov, 1, 5 * 512) == 0);
    CHECK(back[0] == 0x22 && back[511] == 0x22);
    memset(gp(DATA), 0, 512);
    CHECK_EQ_U64(submit(1, (struct sqe){.opcode = 0x02, .cid = 24, .nsid = 1, .prp1 = DATA, .cdw = {5}}, NULL), 0);
    CHECK_EQ_U64(*(uint8_t *)gp(DATA), 0x11);
    CHECK_EQ_U64(submit(1, (struct sqe){.opcode = 0x02, .cid = 25, .nsid = 2, .prp1 = DATA, .cdw = {5}}, NULL), 0);
    CHECK_EQ_U64(*(uint8_t *)gp(DATA), 0x22);
    /* Each namespace's own end: the last block of namespace 2 is past namespace 1's end,
     * and reads there work on 2 only. */
    CHECK_EQ_U64(submit(1, (struct sqe){.opcode = 0x02, .cid = 26, .nsid = 2, .prp1 = DATA,
                                        .cdw = {DISK2_SIZE / 512 - 1}}, NULL), 0);
    CHECK_EQ_U64(submit(1, (struct sqe){.opcode = 0x02, .cid = 27, .nsid = 1, .prp1 = DATA,
                                        .cdw = {DISK2_SIZE / 512 - 1}}, NULL), 0x80);
    CHECK_EQ_U64(submit(1, (struct sqe){.opcode = 0x02, .cid = 28, .nsid = 2, .prp1 = DATA,
                                        .cdw = {DISK2_SIZE / 512}}, NULL), 0x80);
    CHECK_EQ_U64(submit(1, (struct sqe){.opcode = 0x08, .cid = 29, .nsid = 2, .cdw = {DISK2_SIZE / 512 - 1, 0, 1}}, NULL), 0x80);
    CHECK_EQ_U64(submit(1, (struct sqe){.opcode = 0x08, .cid = 30, .nsid = 2, .cdw = {5}}, NULL), 0);
    REQUIRE(disk2->ops->readv(disk2, &iov, 1, 5 * 512) == 0);
    CHECK(back[0] == 0 && back[511] == 0);
    REQUIRE(disk->ops->readv(disk, &iov, 1, 5 * 512) == 0);
    CHECK(back[0] == 0x11);
    /* Shutdown flushes both: SHST complete. */
    reg_write(0x14, 4, 1 | 6 << 16 | 4 << 20 | 1 << 14);
    CHECK_EQ_U64((reg_read(0x1c, 4) >> 2) & 3, 2);
}

/* A read-only namespace beside a writable one: writes, write zeroes and deallocate to the
 * read-only one are refused (its disk unchanged), the other takes them; Identify says
 * which is write protected; flushing all namespaces succeeds. */
TEST(read_only_second_namespace)
{
    fresh_ns(NULL, false, DISK2_SIZE, true);
    REQUIRE(enable());
    REQUIRE(io_queues());
    uint8_t *id = gp(DATA);
    REQUIRE(submit(0, (struct sqe){.opcode = 0x06, .cid = 1, .nsid = 2, .prp1 = DATA}, NULL) == 0);
    CHECK_EQ_U64(id[99], 1);
    REQUIRE(submit(0, (struct sqe){.opcode = 0x06, .cid = 2, .nsid = 1, .prp1 = DATA}, NULL) == 0);
    CHECK_EQ_U64(id[99], 0);
    memset(gp(DATA), 0x33, 512);
    uint32_t *range = gp(LIST);
    memset(range, 0, 16);
    range[1] = htole32(1);
    CHECK_EQ_U64(submit(1, (struct sqe){.opcode = 0x01, .cid = 3, .nsid = 2, .prp1 = DATA}, NULL), 0x20);
    CHECK_EQ_U64(submit(1, (struct sqe){.opcode = 0x08, .cid = 4, .nsid = 2}, NULL), 0x20);
    CHECK_EQ_U64(submit(1, (struct sqe){.opcode = 0x09, .cid = 5, .nsid = 2, .prp1 = LIST, .cdw = {0, 4}}, NULL), 0x20);
    CHECK_EQ_U64(submit(1, (struct sqe){.opcode = 0x02, .cid = 6, .nsid = 2, .prp1 = DATA}, NULL), 0);
    CHECK_EQ_U64(*(uint8_t *)gp(DATA), 0);
    memset(gp(DATA), 0x33, 512);
    CHECK_EQ_U64(submit(1, (struct sqe){.opcode = 0x01, .cid = 7, .nsid = 1, .prp1 = DATA}, NULL), 0);
    CHECK_EQ_U64(submit(1, (struct sqe){.opcode = 0x00, .cid = 8, .nsid = 0xffffffff}, NULL), 0);
    CHECK_EQ_U64(submit(1, (struct sqe){.opcode = 0x00, .cid = 9, .nsid = 2}, NULL), 0);
    uint8_t back[512];
    struct iovec iov = {back, sizeof back};
    REQUIRE(disk->ops->readv(disk, &iov, 1, 0) == 0);
    CHECK(back[0] == 0x33);
    REQUIRE(disk2->ops->readv(disk2, &iov, 1, 0) == 0);
    CHECK(back[0] == 0);
}

/* nvme_create refuses no namespaces and more than NVME_MAX_NAMESPACES, closing what it
 * was given either way. */
TEST(namespace_count_limits)
{
    struct nvme_ctrl *c = NULL;
    CHECK(nvme_create(&ram, NULL, NULL, 0, &c, NULL) == -EINVAL);
    CHECK(c == NULL);
    struct block_attachment *d[NVME_MAX_NAMESPACES + 1];
    for (unsigned i = 0; i <= NVME_MAX_NAMESPACES; i++)
        REQUIRE(block_mem_create(4096, false, &d[i]) == 0);
    CHECK(nvme_create(&ram, NULL, d, NVME_MAX_NAMESPACES + 1, &c, NULL) == -EINVAL);
    for (unsigned i = 0; i < NVME_MAX_NAMESPACES; i++)
        REQUIRE(block_mem_create(4096, false, &d[i]) == 0);
    REQUIRE(nvme_create(&ram, NULL, d, NVME_MAX_NAMESPACES, &c, NULL) == 0);
    nvme_destroy(c);
}

int main(void)
{
    RUN(config_space);
    RUN(enable_identify);
    RUN(read_write_prp_list);
    RUN(hostile_guest);
    RUN(bad_admin_queue_is_fatal);
    RUN(reset_mid_queue_and_shutdown);
    RUN(full_completion_queue_waits);
    RUN(io_thread_batch_and_reset);
    RUN(read_only_namespace);
    RUN(two_namespaces);
    RUN(read_only_second_namespace);
    RUN(namespace_count_limits);
    nvme_destroy(ctrl);
    free(ram_host);
    return test_summary();
}
