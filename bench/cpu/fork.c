/*
 * fork.c — fork-heavy: 200 fork()s of a process with 1 MiB of touched memory, each child
 * dirtying 16 of its pages (copy-on-write faults) before _exit(); the parent waits for
 * each in turn.
 */
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cpu.h"

int main(void)
{
    enum { FORKS = 200, PAGES = 256, DIRTY = 16, PAGE = 4096 };
    volatile uint8_t *m = malloc(PAGES * PAGE);
    if (!m)
        return 1;
    for (unsigned i = 0; i < PAGES * PAGE; i += PAGE)
        m[i] = 1;
    uint64_t sum = 0;
    double t0 = now_ms();
    for (unsigned i = 0; i < FORKS; i++) {
        pid_t pid = fork();
        if (pid < 0)
            return 1;
        if (pid == 0) {
            unsigned bad = 0;
            for (unsigned k = 0; k < DIRTY; k++)
                m[((i + k * 16) % PAGES) * PAGE] = (uint8_t)k;
            for (unsigned k = 0; k < DIRTY; k++)
                bad += m[((i + k * 16) % PAGES) * PAGE] != (uint8_t)k;
            _exit(bad ? 1 : 0);
        }
        int st;
        if (waitpid(pid, &st, 0) != pid || !WIFEXITED(st) || WEXITSTATUS(st))
            return 1;
        sum += (unsigned)pid & 1;
    }
    report("fork", t0, FORKS);
    (void)sum;
    return 0;
}
