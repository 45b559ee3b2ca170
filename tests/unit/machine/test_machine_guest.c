/* Boots guest_smp.S on the real soft CPU: SBI, HSM, MMIO and the Sstc timer end to end. */
#include "test.h"

#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

#include "machine/machine.h"
#include "machine_guest_programs.h"

static void run_guest(unsigned cpus)
{
    char out_path[] = "/tmp/cove-test-guest-XXXXXX";
    int out = mkstemp(out_path);
    CHECK(out >= 0);
    struct machine_config cfg = {
        .cpus = cpus, .memory_bytes = 64ull << 20, .kernel_path = GUEST_SMP_ELF,
        .console_in_fd = -1, .console_out_fd = out,
    };
    struct machine *m = NULL;
    struct cove_error err = {0};
    int rc = machine_create(&cfg, &m, &err);
    CHECK(rc == 0);
    if (rc) {
        printf("  %s\n", err.message);
        return;
    }
    enum machine_stop_reason why = 0;
    CHECK(machine_run(m, &why, &err) == 0);
    machine_destroy(m);
    CHECK_EQ_U64(why, MACHINE_STOP_POWEROFF);
    char buf[256] = {0};
    CHECK(pread(out, buf, sizeof buf - 1, 0) >= 0);
    CHECK_STR(buf, "hello from hart 0\nhart 1\nU\ntimer\n");
    close(out);
    unlink(out_path);
}

TEST(guest_two_harts) { run_guest(2); }
TEST(guest_four_harts) { run_guest(4); }

int main(void)
{
    RUN(guest_two_harts);
    RUN(guest_four_harts);
    return test_summary();
}
