/*
 * cove-sigdfl CMD [ARGS...]: runs CMD with every signal at its default disposition and
 * none blocked. A shell without job control (the guest's /init) starts `&` jobs with
 * SIGINT and SIGQUIT ignored, and no shell can undo an ignore it inherited: without this
 * the console's shell and everything it runs could not be stopped with ^C.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

int main(int argc, char **argv)
{
    if (argc < 2) {
        fputs("usage: cove-sigdfl CMD [ARGS...]\n", stderr);
        return 2;
    }
    struct sigaction sa = {.sa_handler = SIG_DFL};
    sigemptyset(&sa.sa_mask);
    for (int sig = 1; sig < NSIG; sig++)
        sigaction(sig, &sa, NULL); /* fails harmlessly for KILL, STOP and libc's own */
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    execvp(argv[1], argv + 1);
    fprintf(stderr, "cove-sigdfl: %s: %s\n", argv[1], strerror(errno));
    return 127;
}
