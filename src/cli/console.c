/*
 * The host side of the serial console: puts the terminal in raw mode while a VM runs so
 * that every key (Ctrl-C included) reaches the guest, and puts it back however cove ends.
 */
#include "cli.h"

#include <signal.h>
#include <stdlib.h>
#include <termios.h>
#include <unistd.h>

static struct termios saved_termios;
static int raw_fd = -1;

bool console_is_terminal(int fd) { return isatty(fd) == 1; }

void console_raw_leave(void)
{
    if (raw_fd < 0)
        return;
    tcsetattr(raw_fd, TCSADRAIN, &saved_termios);
    raw_fd = -1;
}

static void restore_on_fatal_signal(int sig)
{
    console_raw_leave();
    signal(sig, SIG_DFL);
    raise(sig);
}

int console_raw_enter(int fd)
{
    if (tcgetattr(fd, &saved_termios) < 0)
        return -1;
    struct termios raw = saved_termios;
    cfmakeraw(&raw);
    /* Keep output post-processing off too: the guest sends \r\n itself. */
    if (tcsetattr(fd, TCSADRAIN, &raw) < 0)
        return -1;
    raw_fd = fd;
    static bool registered;
    if (!registered)
        atexit(console_raw_leave);
    registered = true;
    /* SIGINT/SIGTERM stop the VM through the normal exit path (cmd_run), which restores
     * the terminal; these others would otherwise leave it raw. */
    signal(SIGHUP, restore_on_fatal_signal);
    signal(SIGSEGV, restore_on_fatal_signal);
    signal(SIGABRT, restore_on_fatal_signal);
    return 0;
}
