/*
 * rtc-alarm: checks the RTC's alarm interrupt end to end in the default guest (installed
 * as /usr/bin/rtc-alarm). Sets an alarm SECONDS (default 1) ahead on /dev/rtc0 with
 * RTC_ALM_SET, enables it with RTC_AIE_ON and blocks in read() until the interrupt
 * arrives, at most 10 s (select). Prints `rtc-alarm: fired after N ms` and exits 0, or
 * one line saying what failed and exits 1.
 */
#include <fcntl.h>
#include <linux/rtc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/select.h>
#include <time.h>
#include <unistd.h>

static int fail(const char *what)
{
    printf("rtc-alarm: FAIL: %s\n", what);
    return 1;
}

int main(int argc, char **argv)
{
    int secs = argc > 1 ? atoi(argv[1]) : 1;
    int fd = open("/dev/rtc0", O_RDONLY);
    if (fd < 0)
        return fail("cannot open /dev/rtc0");
    struct rtc_time tm;
    if (ioctl(fd, RTC_RD_TIME, &tm) < 0)
        return fail("RTC_RD_TIME");
    /* RTC time is UTC: timegm/gmtime do the carry across minutes, hours and days */
    time_t t = timegm(&(struct tm){.tm_sec = tm.tm_sec, .tm_min = tm.tm_min,
                                   .tm_hour = tm.tm_hour, .tm_mday = tm.tm_mday,
                                   .tm_mon = tm.tm_mon, .tm_year = tm.tm_year}) + secs;
    struct tm at;
    gmtime_r(&t, &at);
    struct rtc_time alarm = {.tm_sec = at.tm_sec, .tm_min = at.tm_min, .tm_hour = at.tm_hour,
                             .tm_mday = at.tm_mday, .tm_mon = at.tm_mon,
                             .tm_year = at.tm_year};
    if (ioctl(fd, RTC_ALM_SET, &alarm) < 0)
        return fail("RTC_ALM_SET");
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    if (ioctl(fd, RTC_AIE_ON, 0) < 0)
        return fail("RTC_AIE_ON");
    fd_set set;
    FD_ZERO(&set);
    FD_SET(fd, &set);
    struct timeval limit = {10, 0};
    if (select(fd + 1, &set, NULL, NULL, &limit) != 1)
        return fail("no alarm interrupt within 10 s");
    unsigned long data;
    if (read(fd, &data, sizeof data) != sizeof data)
        return fail("read");
    clock_gettime(CLOCK_MONOTONIC, &t1);
    ioctl(fd, RTC_AIE_OFF, 0);
    if (!(data & RTC_AF))
        return fail("the event is not an alarm");
    long ms = (t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000;
    printf("rtc-alarm: fired after %ld ms\n", ms);
    return 0;
}
