/*
 * log.h — the one logger of cove.
 *
 * libcove never prints on its own except through here. Messages go to stderr prefixed
 * with "cove: "; the CLI sets the level (--verbose). The level is the only process-wide
 * mutable state outside a VM object: it is configuration of the process, not of a VM.
 */
#ifndef COVE_LOG_H
#define COVE_LOG_H

#include <stdbool.h>

enum log_level { LOG_LEVEL_ERROR, LOG_LEVEL_WARN, LOG_LEVEL_INFO, LOG_LEVEL_DEBUG };

void log_set_level(enum log_level level);
enum log_level log_get_level(void);
void log_msg(enum log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define log_error(...) log_msg(LOG_LEVEL_ERROR, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_LEVEL_WARN, __VA_ARGS__)
#define log_info(...) log_msg(LOG_LEVEL_INFO, __VA_ARGS__)
#define log_debug(...)                                                                    \
    do {                                                                                  \
        if (log_get_level() >= LOG_LEVEL_DEBUG)                                           \
            log_msg(LOG_LEVEL_DEBUG, __VA_ARGS__);                                        \
    } while (0)

/* At most one message per interval for a message that a guest or a client can repeat at
 * will. The state lives with whatever logs (a device of a VM), zeroed to start. */
struct log_ratelimit {
    long long next_ms;
    unsigned suppressed;
};

/* Whether a message may go out now; if so, *suppressed says how many were held back
 * since the last one that did. */
bool log_ratelimit(struct log_ratelimit *rl, unsigned interval_ms, unsigned *suppressed);

#endif
