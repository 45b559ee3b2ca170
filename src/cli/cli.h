/*
 * cli.h — shared pieces of the cove command. The CLI is a thin client of libcove: it parses
 * arguments, prints results and errors (one line, "cove: ..."), and maps failures to exit
 * codes. Nothing below it exits the process.
 */
#ifndef COVE_CLI_H
#define COVE_CLI_H

#include <stdbool.h>

/* Exit codes of the cove command (documented in docs/CLI.md). */
#define CLI_EXIT_OK 0
#define CLI_EXIT_FAILURE 1     /* the operation failed (bad input, missing file, ...) */
#define CLI_EXIT_USAGE 2       /* the command line could not be parsed */
#define CLI_EXIT_GUEST_ERROR 3 /* the guest stopped on a trap nothing could take */

int cmd_run(int argc, char **argv);

/* Prints "cove: <message>" on stderr (one line). */
void cli_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Terminal handling for the serial console (console.c). */
bool console_is_terminal(int fd);
int console_raw_enter(int fd); /* puts fd in raw mode; restored by console_raw_leave/atexit */
void console_raw_leave(void);

#endif
