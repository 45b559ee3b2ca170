/*
 * rtc.h — the goldfish RTC (Linux's rtc-goldfish, QEMU virt's "google,goldfish-rtc").
 *
 * TIME_LOW/TIME_HIGH give nanoseconds since the epoch; reading TIME_LOW latches the
 * high half so that the pair is consistent. Writing TIME_HIGH then TIME_LOW sets the
 * guest's clock (an offset from the host's). Alarm registers are accepted and read back,
 * but no alarm interrupt is raised yet.
 */
#ifndef COVE_MACHINE_RTC_H
#define COVE_MACHINE_RTC_H

#include <pthread.h>
#include <stdint.h>

struct goldfish_rtc {
    pthread_mutex_t lock;
    int64_t offset_ns;      /* guest time minus host CLOCK_REALTIME */
    uint32_t time_high_latch;
    uint32_t time_high_set;
    uint64_t alarm;
    uint32_t irq_enabled;
};

void rtc_init(struct goldfish_rtc *rtc);
void rtc_fini(struct goldfish_rtc *rtc);
int rtc_mmio_read(void *opaque, uint64_t offset, unsigned len, uint64_t *value);
int rtc_mmio_write(void *opaque, uint64_t offset, unsigned len, uint64_t value);

#endif
