#include "machine/console.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#include "machine/machine_internal.h"
#include "machine/uart.h"
#include "util/fdio.h"
#include "util/log.h"

#define READ_CHUNK 256

/* A pipe of 64 KiB feeds a virtio console: input is read only while this much is free. */
#define VCON_PIPE_LIMIT (60u << 10)

static void push(struct machine *m, const uint8_t *buf, size_t len)
{
    if (!len)
        return;
    if (m->console_virtio) {
        ssize_t n = write(m->vcon_pipe[1], buf, len);
        if (n < (ssize_t)len)
            log_debug("console input overrun");
        return;
    }
    /* The ring has room: the thread reads only when READ_CHUNK + 1 bytes fit. The UART's
     * loopback mode may fill it meanwhile; console bytes then get lost as on a real line. */
    if (uart_push_input(m->uart, buf, len) < len)
        log_debug("console input overrun");
}

void console_input(struct machine *m, const uint8_t *buf, size_t len)
{
    uint8_t out[2 * READ_CHUNK];
    size_t o = 0;
    for (size_t i = 0; i < len; i++) {
        uint8_t c = buf[i];
        if (o + 2 > sizeof out) {
            push(m, out, o);
            o = 0;
        }
        if (!m->console_escape) {
            out[o++] = c;
        } else if (m->escape_armed) {
            m->escape_armed = false;
            if (c == 'x') {
                push(m, out, o);
                machine_stop(m, MACHINE_STOP_REQUESTED);
                return;
            }
            if (c != CONSOLE_ESCAPE_CHAR)
                out[o++] = CONSOLE_ESCAPE_CHAR; /* not a command: both bytes go through */
            out[o++] = c;
        } else if (c == CONSOLE_ESCAPE_CHAR) {
            m->escape_armed = true;
        } else {
            out[o++] = c;
        }
    }
    push(m, out, o);
}

/* Whether a whole READ_CHUNK (after escapes: twice that) fits where input goes. */
static bool input_room(struct machine *m)
{
    if (!m->console_virtio)
        return uart_rx_space(m->uart) > READ_CHUNK;
    int queued = 0;
    return ioctl(m->vcon_pipe[0], FIONREAD, &queued) == 0 &&
           (unsigned)queued + 2 * READ_CHUNK <= VCON_PIPE_LIMIT;
}

static bool read_input(struct machine *m)
{
    uint8_t buf[READ_CHUNK];
    ssize_t n = read(m->console_in_fd, buf, sizeof buf);
    if (n < 0 && (errno == EINTR || errno == EAGAIN))
        return true;
    if (n <= 0) {
        log_debug("console input closed (%s)", n < 0 ? strerror(errno) : "EOF");
        return false;
    }
    console_input(m, buf, (size_t)n);
    return true;
}

static void *console_main(void *arg)
{
    struct machine *m = arg;
    bool input_open = m->console_in_fd >= 0;
    int64_t flush_due = -1; /* when the buffered output must go out, or -1 */
    while (!machine_stopping(m)) {
        bool room = input_open && input_room(m);
        struct pollfd fds[2] = {{m->wake_fd, POLLIN, 0}, {m->console_in_fd, POLLIN, 0}};
        int timeout = -1;
        if (flush_due >= 0) {
            int64_t left = flush_due - monotonic_ms();
            timeout = left > 0 ? (int)left : 0;
        } else if (input_open && !room) {
            timeout = 10; /* the guest drains the ring without telling us */
        }
        int n = poll(fds, room ? 2 : 1, timeout);
        if (n < 0 && errno != EINTR) {
            log_error("console thread: poll: %s", strerror(errno));
            break;
        }
        if (n > 0 && (fds[0].revents & POLLIN)) {
            uint64_t v;
            if (read(m->wake_fd, &v, sizeof v) < 0) {
                /* EAGAIN: another reader won the race; nothing to do. */
            }
        }
        if (room && n > 0 && (fds[1].revents & (POLLIN | POLLHUP | POLLERR)))
            input_open = read_input(m);
        if (flush_due < 0 && uart_output_pending(m->uart))
            flush_due = monotonic_ms() + CONSOLE_FLUSH_MS;
        if (flush_due >= 0 && monotonic_ms() >= flush_due) {
            uart_flush(m->uart);
            flush_due = -1;
        }
    }
    return NULL;
}

int console_start(struct machine *m)
{
    int rc = -pthread_create(&m->io_thread, NULL, console_main, m);
    if (rc == 0)
        m->io_started = true;
    return rc;
}

void console_stop(struct machine *m)
{
    if (!m->io_started)
        return;
    uint64_t one = 1;
    if (write(m->wake_fd, &one, sizeof one) < 0) {
        /* The counter is saturated: the thread is being woken anyway. */
    }
    pthread_join(m->io_thread, NULL);
    m->io_started = false;
}
