#include "log.h"

#include <cove/cove.h>

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

static enum log_level current_level = LOG_LEVEL_WARN;

void log_set_level(enum log_level level) { current_level = level; }

enum log_level log_get_level(void) { return current_level; }

void cove_set_verbosity(int level)
{
    log_set_level(level <= 0 ? LOG_LEVEL_WARN : level == 1 ? LOG_LEVEL_INFO : LOG_LEVEL_DEBUG);
}

void log_msg(enum log_level level, const char *fmt, ...)
{
    if (level > current_level)
        return;
    static const char *const names[] = {"error", "warning", "info", "debug"};
    char line[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    /* One write per line so lines from several threads do not interleave; \r\n because
     * the console may be in raw mode. */
    fprintf(stderr, "cove: %s: %s\r\n", names[level], line);
}

bool log_ratelimit(struct log_ratelimit *rl, unsigned interval_ms, unsigned *suppressed)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    long long now = (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
    if (rl->next_ms && now < rl->next_ms) {
        rl->suppressed++;
        return false;
    }
    rl->next_ms = now + interval_ms;
    *suppressed = rl->suppressed;
    rl->suppressed = 0;
    return true;
}
