/*
 * par.c — parallel: two processes each run the same integer work (a bitwise CRC-32 over
 * a private 256 KiB buffer, 24 passes), side by side; the time is the wall time until
 * both are done. On 2 vCPUs it should take about half as long as on 1 (bench/smp.sh).
 */
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cpu.h"

enum { WORKERS = 2, BYTES = 256u << 10, PASSES = 24 };

static uint64_t work(unsigned seed)
{
    uint8_t *buf = malloc(BYTES);
    if (!buf)
        return 0;
    uint64_t s = 1 + seed;
    for (unsigned i = 0; i < BYTES; i++)
        buf[i] = (uint8_t)rnd64(&s);
    uint32_t crc = ~0u;
    for (unsigned p = 0; p < PASSES; p++)
        for (unsigned i = 0; i < BYTES; i++) {
            crc ^= buf[i];
            for (unsigned k = 0; k < 8; k++)
                crc = (crc >> 1) ^ (0xedb88320u & -(crc & 1));
        }
    free(buf);
    return crc;
}

int main(void)
{
    int fds[2];
    if (pipe(fds))
        return 1;
    double t0 = now_ms();
    for (unsigned w = 0; w < WORKERS; w++) {
        pid_t pid = fork();
        if (pid < 0)
            return 1;
        if (pid == 0) {
            uint64_t r = work(w);
            _exit(write(fds[1], &r, sizeof(r)) == sizeof(r) ? 0 : 1);
        }
    }
    uint64_t sum = 0;
    for (unsigned w = 0; w < WORKERS; w++) {
        int st;
        if (wait(&st) < 0 || !WIFEXITED(st) || WEXITSTATUS(st))
            return 1;
        uint64_t r;
        if (read(fds[0], &r, sizeof(r)) != sizeof(r))
            return 1;
        sum += r;
    }
    report("par", t0, sum);
    return 0;
}
