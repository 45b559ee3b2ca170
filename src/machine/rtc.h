/*
 * rtc.h — the goldfish RTC (Linux's rtc-goldfish, QEMU virt's "google,goldfish-rtc").
 *
 * TIME_LOW/TIME_HIGH give nanoseconds since the epoch; reading TIME_LOW latches the
 * high half so that the pair is consistent. Writing TIME_HIGH then TIME_LOW sets the
 * guest's clock (an offset from the host's). The alarm: ALARM_HIGH then ALARM_LOW arm it
 * for that guest time (one already past fires at once); when it fires ALARM_STATUS drops
 * to 0 and the interrupt is pending, raised on the irq line while IRQ_ENABLED, until
 * CLEAR_INTERRUPT. CLEAR_ALARM disarms. A thread of its own, started with the first
 * alarm, sleeps until the deadline.
 */
#ifndef COVE_MACHINE_RTC_H
#define COVE_MACHINE_RTC_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

struct goldfish_rtc {
    pthread_mutex_t lock;
    pthread_cond_t cond;    /* the timer thread waits on it for the deadline or a change */
    int64_t offset_ns;      /* guest time minus host CLOCK_REALTIME */
    uint32_t time_high_latch;
    uint32_t time_high_set;
    uint64_t alarm;         /* guest time of the alarm, ns */
    bool alarm_armed;
    bool irq_pending;
    uint32_t irq_enabled;
    void (*set_irq)(void *opaque, bool level); /* may be NULL */
    void *irq_opaque;
    pthread_t thread;
    bool thread_started, quit;
};

/* set_irq is called with the RTC's lock held, from an MMIO access or the timer thread. */
void rtc_init(struct goldfish_rtc *rtc, void (*set_irq)(void *, bool), void *irq_opaque);
void rtc_fini(struct goldfish_rtc *rtc); /* stops the timer thread */
int rtc_mmio_read(void *opaque, uint64_t offset, unsigned len, uint64_t *value);
int rtc_mmio_write(void *opaque, uint64_t offset, unsigned len, uint64_t value);

/* Save and restore (machine_state.c); rtc_load re-arms the alarm and re-drives the line. */
struct state_writer;
struct state_reader;
void rtc_save(struct goldfish_rtc *rtc, struct state_writer *w);
int rtc_load(struct goldfish_rtc *rtc, struct state_reader *r);

#endif
