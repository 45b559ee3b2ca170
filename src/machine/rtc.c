#include "machine/rtc.h"

#include <errno.h>
#include <string.h>
#include <time.h>

#include "util/log.h"
#include "util/state_format.h"

#define RTC_TIME_LOW 0x00
#define RTC_TIME_HIGH 0x04
#define RTC_ALARM_LOW 0x08
#define RTC_ALARM_HIGH 0x0c
#define RTC_IRQ_ENABLED 0x10
#define RTC_CLEAR_ALARM 0x14
#define RTC_ALARM_STATUS 0x18
#define RTC_CLEAR_INTERRUPT 0x1c

void rtc_init(struct goldfish_rtc *rtc, void (*set_irq)(void *, bool), void *irq_opaque)
{
    memset(rtc, 0, sizeof *rtc);
    pthread_mutex_init(&rtc->lock, NULL);
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_REALTIME);
    pthread_cond_init(&rtc->cond, &attr);
    pthread_condattr_destroy(&attr);
    rtc->set_irq = set_irq;
    rtc->irq_opaque = irq_opaque;
}

void rtc_fini(struct goldfish_rtc *rtc)
{
    pthread_mutex_lock(&rtc->lock);
    rtc->quit = true;
    pthread_cond_signal(&rtc->cond);
    pthread_mutex_unlock(&rtc->lock);
    if (rtc->thread_started)
        pthread_join(rtc->thread, NULL);
    pthread_cond_destroy(&rtc->cond);
    pthread_mutex_destroy(&rtc->lock);
}

static int64_t host_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Lock held. */
static void update_irq(struct goldfish_rtc *rtc)
{
    if (rtc->set_irq)
        rtc->set_irq(rtc->irq_opaque, rtc->irq_pending && rtc->irq_enabled);
}

/* Lock held: fires the alarm if its time has come; else returns its host deadline. */
static bool alarm_due(struct goldfish_rtc *rtc, int64_t *deadline)
{
    *deadline = (int64_t)(rtc->alarm - (uint64_t)rtc->offset_ns);
    if (host_ns() < *deadline)
        return false;
    rtc->alarm_armed = false;
    rtc->irq_pending = true;
    update_irq(rtc);
    return true;
}

static void *timer_main(void *arg)
{
    struct goldfish_rtc *rtc = arg;
    pthread_mutex_lock(&rtc->lock);
    while (!rtc->quit) {
        int64_t deadline;
        if (!rtc->alarm_armed || alarm_due(rtc, &deadline)) {
            pthread_cond_wait(&rtc->cond, &rtc->lock);
            continue;
        }
        struct timespec ts = {deadline / 1000000000, deadline % 1000000000};
        pthread_cond_timedwait(&rtc->cond, &rtc->lock, &ts);
    }
    pthread_mutex_unlock(&rtc->lock);
    return NULL;
}

/* Lock held: arms the alarm for rtc->alarm. */
static void arm(struct goldfish_rtc *rtc)
{
    int64_t deadline;
    rtc->alarm_armed = true;
    if (alarm_due(rtc, &deadline))
        return;
    if (!rtc->thread_started) {
        int rc = pthread_create(&rtc->thread, NULL, timer_main, rtc);
        if (rc) {
            log_warn("goldfish RTC: cannot start the alarm thread: %s", strerror(rc));
            return;
        }
        rtc->thread_started = true;
    }
    pthread_cond_signal(&rtc->cond);
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
    case RTC_ALARM_STATUS: *value = rtc->alarm_armed; break;
    default: *value = 0; break;
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
        if (rtc->alarm_armed)
            arm(rtc); /* the deadline moved with the clock */
        break;
    }
    /* As QEMU's model: the high half is stored at once, the low half arms. */
    case RTC_ALARM_HIGH: rtc->alarm = (rtc->alarm & 0xffffffffull) | ((uint64_t)v << 32); break;
    case RTC_ALARM_LOW:
        rtc->alarm = (rtc->alarm & ~0xffffffffull) | v;
        arm(rtc);
        break;
    case RTC_IRQ_ENABLED:
        rtc->irq_enabled = v & 1;
        update_irq(rtc);
        break;
    case RTC_CLEAR_ALARM:
        rtc->alarm_armed = false;
        pthread_cond_signal(&rtc->cond);
        break;
    case RTC_CLEAR_INTERRUPT:
        rtc->irq_pending = false;
        update_irq(rtc);
        break;
    default: break;
    }
    pthread_mutex_unlock(&rtc->lock);
    return 0;
}

/* --- save and restore ---------------------------------------------------------------- */

void rtc_save(struct goldfish_rtc *rtc, struct state_writer *w)
{
    pthread_mutex_lock(&rtc->lock);
    state_put_u64(w, (uint64_t)rtc->offset_ns);
    state_put_u32(w, rtc->time_high_latch);
    state_put_u32(w, rtc->time_high_set);
    state_put_u64(w, rtc->alarm);
    state_put_u8(w, rtc->alarm_armed);
    state_put_u8(w, rtc->irq_pending);
    state_put_u32(w, rtc->irq_enabled);
    pthread_mutex_unlock(&rtc->lock);
}

int rtc_load(struct goldfish_rtc *rtc, struct state_reader *r)
{
    int64_t offset = (int64_t)state_get_u64(r);
    uint32_t latch = state_get_u32(r), high_set = state_get_u32(r);
    uint64_t alarm = state_get_u64(r);
    bool armed = state_get_u8(r) != 0, pending = state_get_u8(r) != 0;
    uint32_t enabled = state_get_u32(r) & 1;
    if (!state_reader_done(r))
        return -EINVAL;
    pthread_mutex_lock(&rtc->lock);
    rtc->offset_ns = offset;
    rtc->time_high_latch = latch;
    rtc->time_high_set = high_set;
    rtc->alarm = alarm;
    rtc->irq_pending = pending;
    rtc->irq_enabled = enabled;
    update_irq(rtc);
    if (armed)
        arm(rtc);
    pthread_mutex_unlock(&rtc->lock);
    return 0;
}
