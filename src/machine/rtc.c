#include "machine/rtc.h"

#include <string.h>
#include <time.h>

#define RTC_TIME_LOW 0x00
#define RTC_TIME_HIGH 0x04
#define RTC_ALARM_LOW 0x08
#define RTC_ALARM_HIGH 0x0c
#define RTC_IRQ_ENABLED 0x10
#define RTC_CLEAR_ALARM 0x14
#define RTC_ALARM_STATUS 0x18
#define RTC_CLEAR_INTERRUPT 0x1c

void rtc_init(struct goldfish_rtc *rtc)
{
    memset(rtc, 0, sizeof *rtc);
    pthread_mutex_init(&rtc->lock, NULL);
}

void rtc_fini(struct goldfish_rtc *rtc)
{
    pthread_mutex_destroy(&rtc->lock);
}

static int64_t host_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int rtc_mmio_read(void *opaque, uint64_t offset, unsigned len, uint64_t *value)
{
    struct goldfish_rtc *rtc = opaque;
    pthread_mutex_lock(&rtc->lock);
    switch (offset) {
    case RTC_TIME_LOW: {
        uint64_t now = (uint64_t)(host_ns() + rtc->offset_ns);
        rtc->time_high_latch = (uint32_t)(now >> 32);
        *value = (uint32_t)now;
        break;
    }
    case RTC_TIME_HIGH: *value = rtc->time_high_latch; break;
    case RTC_ALARM_LOW: *value = (uint32_t)rtc->alarm; break;
    case RTC_ALARM_HIGH: *value = (uint32_t)(rtc->alarm >> 32); break;
    case RTC_IRQ_ENABLED: *value = rtc->irq_enabled; break;
    default: *value = 0; break; /* ALARM_STATUS: no alarm is ever armed */
    }
    pthread_mutex_unlock(&rtc->lock);
    return 0;
}

int rtc_mmio_write(void *opaque, uint64_t offset, unsigned len, uint64_t value)
{
    struct goldfish_rtc *rtc = opaque;
    uint32_t v = (uint32_t)value;
    pthread_mutex_lock(&rtc->lock);
    switch (offset) {
    case RTC_TIME_HIGH: rtc->time_high_set = v; break;
    case RTC_TIME_LOW: {
        uint64_t want = ((uint64_t)rtc->time_high_set << 32) | v;
        rtc->offset_ns = (int64_t)(want - (uint64_t)host_ns());
        break;
    }
    case RTC_ALARM_LOW: rtc->alarm = (rtc->alarm & ~0xffffffffull) | v; break;
    case RTC_ALARM_HIGH: rtc->alarm = (rtc->alarm & 0xffffffffull) | ((uint64_t)v << 32); break;
    case RTC_IRQ_ENABLED: rtc->irq_enabled = v & 1; break;
    default: break; /* CLEAR_ALARM, CLEAR_INTERRUPT: nothing is pending */
    }
    pthread_mutex_unlock(&rtc->lock);
    return 0;
}
