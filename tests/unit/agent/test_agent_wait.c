/*
 * cove_agent_wait against a fake VM: a bundle whose run/lock a thread takes and whose
 * run/vsock.sock it serves after a delay, as `cove run` does once the VM is up, with an
 * agent that answers pings, refuses connections, or never answers (a paused VM).
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <cove/agent.h>

#include "../test.h"
#include "agent/agent_internal.h"

enum agent_mode { AGENT_ANSWERS, AGENT_NONE, AGENT_SILENT };

struct fake_vm {
    char bundle[PATH_MAX];
    int start_ms, stop_ms;   /* when it takes the lock and listens; when it stops (0: never) */
    enum agent_mode mode;
    atomic_bool quit;
    pthread_t thread;
};

static long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

/* One connection: "CONNECT 1024\n", then what the mode says. */
static void serve(int c, enum agent_mode mode, atomic_bool *quit)
{
    char line[32];
    size_t n = 0;
    while (n < sizeof line - 1 && read(c, line + n, 1) == 1 && line[n] != '\n')
        n++;
    if (mode == AGENT_NONE)
        return; /* closed without a line: nothing listens on the port */
    if (mode == AGENT_SILENT) {
        while (!*quit) /* holds the connection, as a paused guest does */
            usleep(5000);
        return;
    }
    if (write(c, "OK 1\n", 5) != 5)
        return;
    static uint8_t buf[AGENT_FRAME_MAX];
    struct agent_frame f;
    if (recv_frame(c, &f, buf, 1000, AGENT_NEVER, NULL) == 0 && f.type == AGENT_T_REQUEST) {
        uint8_t exit_ok[5] = {AGENT_EXITED, 0, 0, 0, 0};
        send_frame(c, AGENT_T_EXIT, 0, exit_ok, sizeof exit_ok, AGENT_NEVER);
    }
}

static void *fake_vm_run(void *opaque)
{
    struct fake_vm *vm = opaque;
    char path[PATH_MAX + 32];
    long t0 = now_ms();
    usleep((useconds_t)vm->start_ms * 1000);
    snprintf(path, sizeof path, "%s/run", vm->bundle);
    mkdir(path, 0755);
    snprintf(path, sizeof path, "%s/run/lock", vm->bundle);
    int lock = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    flock(lock, LOCK_EX);
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    snprintf(path, sizeof path, "%s/run/vsock.sock", vm->bundle);
    if (strlen(path) >= sizeof sa.sun_path)
        return NULL;
    memcpy(sa.sun_path, path, strlen(path) + 1);
    int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    bind(s, (struct sockaddr *)&sa, sizeof sa);
    listen(s, 8);
    while (!vm->quit && (!vm->stop_ms || now_ms() - t0 < vm->stop_ms)) {
        int c = accept4(s, NULL, NULL, SOCK_CLOEXEC);
        if (c < 0) {
            usleep(5000);
            continue;
        }
        serve(c, vm->mode, &vm->quit);
        close(c);
    }
    close(s);
    unlink(sa.sun_path);
    close(lock); /* the VM stopped */
    return NULL;
}

static char home[] = "/tmp/cove-test-agent-XXXXXX";

static void fake_vm_start(struct fake_vm *vm, const char *name, int start_ms, int stop_ms,
                          enum agent_mode mode)
{
    snprintf(vm->bundle, sizeof vm->bundle, "%s/vms/%s", home, name);
    mkdir(vm->bundle, 0755);
    vm->start_ms = start_ms;
    vm->stop_ms = stop_ms;
    vm->mode = mode;
    vm->quit = false;
    pthread_create(&vm->thread, NULL, fake_vm_run, vm);
}

static void fake_vm_end(struct fake_vm *vm)
{
    vm->quit = true;
    pthread_join(vm->thread, NULL);
}

TEST(answers_once_the_vm_is_up)
{
    struct fake_vm vm;
    fake_vm_start(&vm, "boots", 200, 0, AGENT_ANSWERS);
    struct cove_error err = {0};
    long t0 = now_ms();
    int rc = cove_agent_wait("boots", 5000, &err);
    long took = now_ms() - t0;
    CHECK(rc == 0);
    CHECK(took >= 190 && took < 2000);
    fake_vm_end(&vm);
}

TEST(never_running_waits_the_timeout_then_says_so)
{
    struct cove_error err = {0};
    char bundle[PATH_MAX + 16];
    snprintf(bundle, sizeof bundle, "%s/vms/off", home);
    mkdir(bundle, 0755);
    long t0 = now_ms();
    int rc = cove_agent_wait("off", 300, &err);
    long took = now_ms() - t0;
    CHECK(rc == -ESRCH);
    CHECK(took >= 290 && took < 1500);
    CHECK(strstr(err.message, "is not running") != NULL);
}

TEST(a_vm_that_stops_ends_the_wait_at_once)
{
    struct fake_vm vm;
    fake_vm_start(&vm, "dies", 0, 300, AGENT_NONE);
    struct cove_error err = {0};
    long t0 = now_ms();
    int rc = cove_agent_wait("dies", 10000, &err);
    long took = now_ms() - t0;
    CHECK(rc == -ESRCH);
    CHECK(took >= 250 && took < 2000);
    CHECK(strstr(err.message, "stopped") != NULL);
    fake_vm_end(&vm);
}

TEST(no_agent_until_the_deadline)
{
    struct fake_vm vm;
    fake_vm_start(&vm, "noagent", 0, 0, AGENT_NONE);
    struct cove_error err = {0};
    int rc = cove_agent_wait("noagent", 300, &err);
    CHECK(rc == -ECONNREFUSED);
    CHECK(cove_agent_exit_code(rc) == COVE_EXIT_UNREACHABLE);
    fake_vm_end(&vm);
}

TEST(a_silent_guest_times_out_with_the_real_timeout)
{
    struct fake_vm vm;
    fake_vm_start(&vm, "silent", 0, 0, AGENT_SILENT);
    struct cove_error err = {0};
    int fd;
    usleep(50 * 1000);
    long t0 = now_ms();
    int rc = cove_agent_open("silent", 250, &fd, &err);
    long took = now_ms() - t0;
    CHECK(rc == -ETIMEDOUT);
    CHECK(took >= 240 && took < 1500);
    CHECK(strstr(err.message, "within 0.25 s") != NULL);
    CHECK(cove_agent_exit_code(rc) == COVE_EXIT_TIMEOUT);
    rc = cove_agent_wait("silent", 400, &err);
    CHECK(rc == -ETIMEDOUT);
    CHECK(strstr(err.message, "did not answer within 0.4 s") != NULL);
    fake_vm_end(&vm);
}

TEST(no_such_vm_is_not_waited_for)
{
    struct cove_error err = {0};
    long t0 = now_ms();
    int rc = cove_agent_wait("nosuchvm", 5000, &err);
    CHECK(rc == -ENOENT);
    CHECK(now_ms() - t0 < 500);
}

int main(void)
{
    if (!mkdtemp(home))
        return 1;
    setenv("COVE_HOME", home, 1);
    char vms[PATH_MAX];
    snprintf(vms, sizeof vms, "%s/vms", home);
    mkdir(vms, 0755);
    RUN(answers_once_the_vm_is_up);
    RUN(never_running_waits_the_timeout_then_says_so);
    RUN(a_vm_that_stops_ends_the_wait_at_once);
    RUN(no_agent_until_the_deadline);
    RUN(a_silent_guest_times_out_with_the_real_timeout);
    RUN(no_such_vm_is_not_waited_for);
    char cmd[PATH_MAX + 16];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", home);
    if (system(cmd) != 0)
        printf("  could not remove %s\n", home);
    return test_summary();
}
