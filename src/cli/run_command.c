/*
 * cove run NAME -- CMD [ARGS...]: what a CI job wants from a VM. The VM boots on this
 * thread (its console in run/console.log); another thread waits for the guest agent, runs
 * CMD with its output on this terminal, then asks the guest to power off cleanly. The
 * exit status is CMD's.
 *
 * Signals: the first SIGINT/TERM/HUP/QUIT goes to CMD in the guest (as cove exec does); a
 * second one asks the guest to power off, a third stops it by force.
 */
#include "cli.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <cove/agent.h>
#include <cove/cove.h>

struct command {
    const char *name;
    char **argv;
    bool interactive;
    int agent_timeout_ms;
    struct cove_vm_runner *runner;
    pthread_t thread;
    bool thread_started;
    int status;             /* CMD's, or an agent exit code */
    char message[512];      /* why CMD did not run, or what it said on failing to start */
    char path[4096];        /* the agent's socket, found before the VMM is confined */
};

static int signal_pipe[2] = {-1, -1};
static atomic_int signals_seen;
static struct cove_vm_runner *signal_runner;

static void on_signal(int sig)
{
    int saved = errno;
    int n = atomic_fetch_add(&signals_seen, 1);
    if (n == 0) {
        uint8_t b = (uint8_t)sig;
        if (write(signal_pipe[1], &b, 1) < 0) {
            /* cannot happen on an empty pipe; the next signal shuts down */
        }
    } else if (signal_runner) {
        cove_vm_runner_shutdown(signal_runner); /* the second time it forces */
    }
    errno = saved;
}

static void *command_main(void *opaque)
{
    struct command *c = opaque;
    struct cove_error err = {0};
    int fd = -1;
    int rc = cove_agent_wait_at(c->name, c->path, c->agent_timeout_ms, &err);
    if (rc == 0)
        rc = cove_agent_connect(c->path, c->agent_timeout_ms, &fd, &err);
    if (rc == 0) {
        struct cove_exec_options o = {
            .argv = (const char *const *)c->argv,
            .stdin_open = c->interactive,
            .in_fd = STDIN_FILENO,
            .out_fd = STDOUT_FILENO,
            .err_fd = STDERR_FILENO,
            .signal_fd = signal_pipe[0],
            .winsize_fd = -1,
        };
        rc = cove_agent_exec(fd, &o, &c->status, c->message, sizeof c->message, &err);
        close(fd);
    }
    if (rc == -EPIPE) {
        c->status = 128 + SIGPIPE; /* as the command itself would have died */
    } else if (rc < 0) {
        c->status = cove_agent_exit_code(rc);
        snprintf(c->message, sizeof c->message, "%s", err.message);
    }
    cove_vm_runner_shutdown(c->runner);
    return NULL;
}

static int start_command(void *opaque, struct cove_vm_runner *runner)
{
    struct command *c = opaque;
    (void)runner;
    struct cove_error err = {0};
    /* here, before the VMM is confined: the thread may not look in the store */
    int rc = cove_agent_path(c->name, c->path, sizeof c->path, &err);
    if (rc < 0)
        return rc;
    rc = pthread_create(&c->thread, NULL, command_main, c);
    if (rc != 0)
        return -rc;
    c->thread_started = true;
    return 0;
}

int run_command(const char *name, char **argv, bool interactive, double agent_timeout_s,
                struct cove_run_options *o)
{
    struct cove_error err = {0};
    struct command c = {
        .name = name,
        .argv = argv,
        .interactive = interactive,
        .agent_timeout_ms = (int)(agent_timeout_s * 1000),
        .status = COVE_EXIT_LOST,
    };
    if (pipe2(signal_pipe, O_CLOEXEC | O_NONBLOCK) < 0) {
        cli_error("cannot create a pipe: %s", strerror(errno));
        return CLI_EXIT_FAILURE;
    }
    c.runner = cove_vm_runner_new(&err);
    if (!c.runner) {
        cli_error("%s", err.message);
        return CLI_EXIT_FAILURE;
    }
    signal_runner = c.runner;
    struct sigaction sa = {.sa_handler = on_signal, .sa_flags = SA_RESTART};
    sigemptyset(&sa.sa_mask);
    int sigs[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT};
    for (unsigned i = 0; i < sizeof sigs / sizeof sigs[0]; i++)
        sigaction(sigs[i], &sa, NULL);

    o->console_to_log = true;
    o->console_in_fd = -1;
    o->console_out_fd = -1;
    o->console_escape = false;
    o->runner = c.runner;
    o->on_started = start_command;
    o->opaque = &c;
    enum cove_run_result result = 0;
    int rc = cove_vm_run(name, o, &result, &err);
    if (c.thread_started)
        pthread_join(c.thread, NULL); /* the VM is gone: the agent's connection is too */
    signal_runner = NULL;
    cove_vm_runner_free(c.runner);
    if (rc < 0) {
        cli_error("%s", err.message);
        return CLI_EXIT_FAILURE;
    }
    if (result == COVE_RUN_GUEST_PANIC || result == COVE_RUN_GUEST_ERROR) {
        cli_error("the guest %s while running the command (see run/console.log)",
                  result == COVE_RUN_GUEST_PANIC ? "kernel panicked" : "stopped on a fatal trap");
        return result == COVE_RUN_GUEST_PANIC ? CLI_EXIT_GUEST_PANIC : CLI_EXIT_GUEST_ERROR;
    }
    if (c.message[0])
        cli_error("%s", c.message);
    return c.status;
}
