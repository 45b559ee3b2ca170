/*
 * pci_function.h — one PCI Express function's configuration space, as a device sees it.
 *
 * The 256-byte type 0 header and capability area live in cfg[]; wmask[] says which bits
 * the driver may write, so that BAR sizing (write all-ones, read back ~(size-1) | flags)
 * falls out of the mask. The extended space (0x100..0xfff) reads as zeros: no extended
 * capabilities. A PCI Express capability (Root Complex Integrated Endpoint) at 0x40 makes
 * Linux treat the function as PCIe. Interrupts are INTx only: the device raises its pin
 * level; the function masks it with Command.InterruptDisable, reports it in
 * Status.InterruptStatus and forwards it to the host bridge's line.
 *
 * Threads: config accesses come from vCPUs (the host bridge serialises them); the device
 * calls pci_function_set_intx from any thread.
 */
#ifndef COVE_DEVICES_PCI_FUNCTION_H
#define COVE_DEVICES_PCI_FUNCTION_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#define PCI_CONFIG_SIZE 0x1000u  /* per function in ECAM */
#define PCI_HEADER_SIZE 0x100u
#define PCI_NUM_BARS 6

#define PCI_COMMAND 0x04
#define PCI_COMMAND_MEMORY 0x2
#define PCI_COMMAND_MASTER 0x4
#define PCI_COMMAND_INTX_DISABLE 0x400
#define PCI_STATUS 0x06
#define PCI_STATUS_INTERRUPT 0x8
#define PCI_STATUS_CAP_LIST 0x10
#define PCI_BAR0 0x10
#define PCI_INTERRUPT_PIN 0x3d

struct pci_function_ops {
    /* Accesses inside BAR bar (offset from its start, len 1/2/4/8); 0 or -errno (fault). */
    int (*bar_read)(void *dev, unsigned bar, uint64_t offset, unsigned len, uint64_t *value);
    int (*bar_write)(void *dev, unsigned bar, uint64_t offset, unsigned len, uint64_t value);
};

struct pci_function {
    uint8_t cfg[PCI_HEADER_SIZE];
    uint8_t wmask[PCI_HEADER_SIZE];
    uint64_t bar_size[PCI_NUM_BARS]; /* 0: no BAR */
    bool bar64[PCI_NUM_BARS];
    const struct pci_function_ops *ops;
    void *dev;
    /* INTx: set by the host bridge when it plugs the function in. */
    void (*set_intx)(void *opaque, bool level);
    void *intx_opaque;
    pthread_mutex_t intx_lock;
    bool intx_pin, intx_out; /* the device's level; what the bridge was last told */
};

struct pci_id {
    uint16_t vendor, device, subsystem_vendor, subsystem;
    uint32_t class_code; /* class << 16 | subclass << 8 | programming interface */
    uint8_t revision;
};

/* A function with INTA, the PCIe capability and no BARs yet. */
void pci_function_init(struct pci_function *f, const struct pci_id *id,
                       const struct pci_function_ops *ops, void *dev);
void pci_function_fini(struct pci_function *f);
/* A memory BAR of size bytes (a power of two, at least 16); 64-bit BARs take bar+1 too. */
int pci_function_add_bar(struct pci_function *f, unsigned bar, uint64_t size, bool is64);

/* Config space at offset (0..0xfff), len 1, 2 or 4, naturally aligned (else ignored / all
 * ones, as hardware that drops a malformed request). */
uint32_t pci_function_config_read(struct pci_function *f, unsigned offset, unsigned len);
void pci_function_config_write(struct pci_function *f, unsigned offset, unsigned len,
                               uint32_t value);

/* The guest-physical base of a BAR the driver has enabled (Command.Memory set, an address
 * programmed); false otherwise. */
bool pci_function_bar_base(const struct pci_function *f, unsigned bar, uint64_t *base);

/* Whether the driver lets the device master the bus (DMA into guest memory). */
bool pci_function_bus_master(const struct pci_function *f);

/* The device's INTx pin level (level-triggered). */
void pci_function_set_intx(struct pci_function *f, bool level);

#endif
