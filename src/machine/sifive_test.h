/*
 * sifive_test.h — the SiFive test device ("sifive,test0"): the syscon that firmware and
 * Linux write to power off (0x5555), reboot (0x7777) or report a failure
 * (0x3333 | code << 16, which powers off too).
 */
#ifndef COVE_MACHINE_SIFIVE_TEST_H
#define COVE_MACHINE_SIFIVE_TEST_H

#include <stdint.h>

#define SIFIVE_TEST_FAIL 0x3333
#define SIFIVE_TEST_PASS 0x5555
#define SIFIVE_TEST_RESET 0x7777

enum sifive_test_action { SIFIVE_TEST_POWEROFF = 1, SIFIVE_TEST_REBOOT };

struct sifive_test {
    /* Called on the vCPU thread that wrote; code is the failure code (0 on success). */
    void (*action)(void *opaque, enum sifive_test_action what, unsigned code);
    void *opaque;
};

int sifive_test_mmio_read(void *opaque, uint64_t offset, unsigned len, uint64_t *value);
int sifive_test_mmio_write(void *opaque, uint64_t offset, unsigned len, uint64_t value);

#endif
