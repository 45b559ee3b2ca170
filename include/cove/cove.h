/*
 * cove/cove.h — libcove: named VMs stored as bundles, and their lifecycle.
 *
 * A VM is a bundle directory $COVE_HOME/vms/NAME (COVE_HOME defaults to ~/.cove; layout
 * in docs/BUNDLES.md). Every function returns 0 or a negative errno and, given a non-NULL
 * struct cove_error, fills it with one line a user can read ("VM 'x' does not exist").
 * Changes are crash-safe: a process killed at any moment leaves the old state or the new
 * one, never half a bundle. Operations that change a bundle are refused while it runs
 * (-EBUSY, "VM 'x' is running; stop it first").
 *
 * A running VM (cove_vm_run) serves a control socket, run/api.sock (docs/API.md);
 * cove_vm_stop/pause/resume and the state in cove_vm_get/list are its clients.
 */
#ifndef COVE_COVE_H
#define COVE_COVE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cove/config.h>
#include <cove/error.h>

#define COVE_NAME_MAX 64

/* How much libcove says on stderr: 0 warnings and errors (the default), 1 also what it is
 * doing, 2 debugging detail. Process-wide. */
void cove_set_verbosity(int level);

enum cove_vm_state {
    COVE_VM_STOPPED = 0,
    COVE_VM_RUNNING,
    COVE_VM_PAUSED,
    COVE_VM_SUSPENDED, /* stopped with a saved state (state/) that `cove run` resumes */
};

/* "stopped", "running", "paused", "suspended" */
const char *cove_vm_state_name(enum cove_vm_state state);

/* A running VM's memory, from its control socket (docs/API.md, GET /vm/memory). The VM
 * has `size` bytes of RAM (its configured memory); with a balloon, the guest can be asked
 * to keep less (cove_vm_set_memory) and gives back what it frees. */
struct cove_vm_memory {
    bool known;            /* the VM runs and answered */
    bool balloon;          /* it has a virtio-balloon; else only size and target count */
    uint64_t size;         /* bytes of RAM it booted with */
    uint64_t target;       /* bytes the guest is asked to keep (size unless set lower) */
    uint64_t balloon_size; /* bytes the guest's driver holds in the balloon now */
    uint64_t returned;     /* bytes given back to the host this boot: the balloon's pages
                              and the free pages the guest reported */
    /* The guest's own figures from its last statistics; 0 where it reported none. */
    uint64_t guest_total, guest_free, guest_available, guest_cached;
};

#define COVE_MAX_AUTO_FORWARDS 256
struct cove_vm_info {
    char name[COVE_NAME_MAX + 1];
    enum cove_vm_state state;
    int pid;               /* of the `cove run` process; 0 when stopped */
    struct cove_config config;
    uint64_t disk_size;    /* virtual size of the first disk, bytes (0: no disk) */
    uint64_t disk_used;    /* host bytes its disks take: the bundle's own files plus the
                              clone bases they read through (bases/) */
    uint64_t disk_shared;  /* the part of disk_used in bases, shared with other clones */
    /* While it runs with a network: the MAC and port forwards in use (the stored ones and
     * those the run added); empty otherwise. */
    char run_mac[COVE_MAC_LEN + 1];
    char *run_forwards[COVE_MAX_FORWARDS];
    unsigned nrun_forwards;
    /* While it runs on NAT: the ports forwarded automatically right now (docs/NETWORK.md),
     * 127.0.0.1:host_port -> the guest's guest_port. */
    struct cove_auto_forward_info {
        bool udp;
        uint16_t host_port, guest_port;
    } run_auto_forwards[COVE_MAX_AUTO_FORWARDS];
    unsigned nrun_auto_forwards;
    struct cove_vm_memory memory; /* get only, while it runs (list leaves it empty) */
    /* get only, while it runs with --display vnc: its VNC Unix socket (else empty) and
     * loopback TCP port (0: none; the password is the bundle's vnc-password) */
    char vnc_socket[108];
    int vnc_port;
    bool broken;           /* list only: the bundle cannot be read; problem says why */
    char problem[COVE_ERROR_MAX];
};
void cove_vm_info_free(struct cove_vm_info *info);

/* Checks a VM name: [A-Za-z0-9][A-Za-z0-9._-]{0,63}. */
int cove_name_check(const char *name, struct cove_error *err);

/* How a created VM boots (docs/BUNDLES.md "Boot"). */
enum cove_boot {
    COVE_BOOT_DEFAULT = 0, /* FIRMWARE for from_disk, else DIRECT */
    COVE_BOOT_DIRECT,      /* cove loads the kernel and initrd and implements SBI itself */
    COVE_BOOT_FIRMWARE,    /* OpenSBI -> U-Boot -> the disk's boot loader (copies of Debian's
                              opensbi and u-boot-qemu files in the bundle); the disk's boot
                              configuration chooses kernel and command line */
};

struct cove_create_options {
    unsigned cpus;          /* 0: 1 */
    uint64_t memory_mib;    /* 0: 512 */
    unsigned cpu_limit_milli; /* cgroup cpu.max at each run, thousandths of a CPU; 0: none */
    uint64_t disk_size;     /* bytes; 0: 8 GiB */
    /* Either the default guest, whose initrd's contents become an ext4 root file system
     * on the disk (booted with cove.root=/dev/vda) ... */
    const char *guest_dir;  /* a directory with Image and initrd */
    /* ... or a kernel (initrd, command line) of one's own with an empty disk ... */
    const char *kernel;     /* a RISC-V Linux Image or ELF, checked here */
    const char *initrd;
    const char *cmdline;
    /* ... or a distribution image (a directory cove_image_build gave, cove/image.h): the
     * disk is a copy-on-write overlay over the image's disk (disk_size 0: the image's size,
     * else at least that), booted with the image's kernel, initrd and command line. */
    const char *image_dir;
    /* First boot of a distribution image's VM (cloud-init's NoCloud seed, docs/IMAGES.md):
     * the login user (NULL: the host user's name, or "cove" for root), public key files
     * (none: the .pub files of the host user's ~/.ssh) and the user's own cloud-config file. */
    const char *user;
    const char *const *ssh_key_files;
    unsigned nssh_key_files;
    const char *user_data_file;
    /* ... or an existing disk image, copied into the bundle (with a kernel: booted
     * directly with that kernel; without one: through firmware). disk_size 0 keeps the
     * image's size; a larger one grows it; a smaller one is refused. */
    const char *from_disk;
    const char *disk_format; /* "raw", "qcow2" (through qemu-img), "cdisk"; NULL: from
                                the file's header */
    enum cove_boot boot;
    struct cove_net_spec net;    /* mode DEFAULT: NAT */
    const char *const *forwards; /* "tcp|udp:[ADDR:]HOSTPORT:GUESTPORT", stored; need NAT */
    unsigned nforwards;          /* at most COVE_MAX_FORWARDS */
    const char *mac;             /* NULL: a random 52:54:00:xx:xx:xx */
    const struct cove_net_rule *net_rules; /* egress rules (--net-allow/--net-block); NAT */
    unsigned nnet_rules;                   /* at most COVE_MAX_NET_RULES */
    enum cove_auto_forward auto_forward;   /* DEFAULT: on; NAT */
    const struct cove_share_config *shares; /* stored shared directories (granted here) */
    unsigned nshares;                       /* at most COVE_MAX_SHARES */
    bool display_vnc;            /* stored display: VNC (docs/DISPLAY.md); else none */
    int vnc_port;                /* with display_vnc: also on 127.0.0.1:vnc_port; 0: none */
    struct cove_rate_limit net_rate; /* the NIC's rate limit, each direction; zero: none */
};
int cove_vm_create(const char *name, const struct cove_create_options *opts,
                   struct cove_error *err);

/* Copy-on-write: instant, whatever the disk size. A suspended src gives a suspended dst
 * that shares src's saved memory file (a fork: docs/STATE-FORMAT.md). */
int cove_vm_clone(const char *src, const char *dst, struct cove_error *err);
int cove_vm_delete(const char *name, struct cove_error *err);
int cove_vm_rename(const char *old_name, const char *new_name, struct cove_error *err);

int cove_vm_get(const char *name, struct cove_vm_info *out, struct cove_error *err);
/* All VMs, sorted by name; free with cove_vm_list_free. */
int cove_vm_list(struct cove_vm_info **out, size_t *count, struct cove_error *err);
void cove_vm_list_free(struct cove_vm_info *list, size_t count);

struct cove_vm_settings {
    unsigned cpus;          /* 0: unchanged */
    uint64_t memory_mib;    /* 0: unchanged */
    bool set_cpu_limit;     /* replace the CPU limit by cpu_limit_milli (0: no limit) */
    unsigned cpu_limit_milli;
    bool set_net_rate;      /* replace the NIC's rate limit by net_rate (zero: none) */
    struct cove_rate_limit net_rate;
    uint64_t disk_size;     /* 0: unchanged; growing only */
    struct cove_net_spec net; /* mode DEFAULT: unchanged; NONE keeps the MAC for later */
    bool set_forwards;      /* replace the stored forwards by these (none: an empty list) */
    const char *const *forwards;
    unsigned nforwards;
    const char *mac;        /* NULL: unchanged */
    bool set_net_rules;     /* replace the stored egress rules by these (none: no rules) */
    const struct cove_net_rule *net_rules;
    unsigned nnet_rules;
    enum cove_auto_forward auto_forward; /* DEFAULT: unchanged */
    bool set_shares;        /* replace the stored shares by these (none: an empty list) */
    const struct cove_share_config *shares;
    unsigned nshares;
    /* Disks, in this order: disk_options replaces the options of disks[disk_options - 1]
     * (0: none) by those of disk_modes (read_only, cache, sync); remove_disk removes
     * disks[remove_disk - 1] (0: none), an NBD disk (a bundle's images are its own);
     * add_disks are appended: NBD exports only. */
    unsigned disk_options;
    struct cove_disk_config disk_modes;
    unsigned remove_disk;
    const struct cove_disk_config *add_disks;
    unsigned nadd_disks;
    /* The stored display: set_display replaces it by display_vnc (none drops the port; vnc
     * keeps it); vnc_port (0: unchanged) sets the port of a VNC display. */
    bool set_display;
    bool display_vnc;
    int vnc_port;
};
int cove_vm_set(const char *name, const struct cove_vm_settings *s, struct cove_error *err);

/* A running VM's memory use (asks the guest for fresh statistics: up to half a second). */
int cove_vm_get_memory(const char *name, struct cove_vm_memory *out, struct cove_error *err);
/* Changes how much of its RAM a running VM's guest keeps, through its balloon ("current
 * memory"; the configured memory is the most it can have): memory_mib from 16 MiB up to
 * the configured memory, which gives everything back. Applies to this run (a guest
 * reboot included), not to the next boot; cove_vm_set changes the configured size of a
 * stopped VM. -ESRCH when the VM is not running; -EPROTO when it refuses (out of range,
 * or no balloon: the message says which). The guest inflates the balloon at its own pace
 * (seconds). */
int cove_vm_set_memory(const char *name, uint64_t memory_mib, struct cove_error *err);

/* The web console of a running VM with a display (`cove console NAME --web`, docs/
 * DISPLAY.md): serves Debian's noVNC (novnc_dir; NULL: $COVE_NOVNC, else /usr/share/novnc)
 * with the VM's screen (a WebSocket to its run/vnc.sock) and its serial console (run/
 * console.log, read-only; page /console) on 127.0.0.1:port (0: a free port), every request
 * checked against a random token, in this process, until *stop is non-zero or the VM
 * stops. on_ready gets the URL to open, http://127.0.0.1:PORT/?token=HEX, once it listens.
 * -ESRCH: not running; -ENODEV: no display; -ENOENT: no noVNC; -EADDRINUSE: port taken. */
struct cove_web_console_options {
    int port;
    const char *novnc_dir;
    volatile int *stop;
    void (*on_ready)(void *opaque, const char *url);
    void *opaque;
};
int cove_vm_web_console(const char *name, const struct cove_web_console_options *o,
                        struct cove_error *err);

/* Asks the guest to power off, waits up to timeout_ms, then stops it by force. */
int cove_vm_stop(const char *name, int timeout_ms, struct cove_error *err);
int cove_vm_pause(const char *name, struct cove_error *err);
/* Saves a running VM's whole machine into its bundle (state/) and stops it; the VM is
 * then COVE_VM_SUSPENDED and cove_vm_run resumes it. On failure the VM keeps running. */
int cove_vm_suspend(const char *name, struct cove_error *err);
int cove_vm_resume(const char *name, struct cove_error *err);

/* Snapshots (docs/BUNDLES.md, snapshots/TAG/): the disks as copy-on-write layers (never
 * copied), and for a running or suspended VM its whole machine as cove_vm_suspend saves
 * it. Tags are named as VMs are. A running VM keeps running through a save (paused
 * meanwhile). Restoring a running snapshot into a running VM restarts its machine in
 * place from the snapshot; into a VM that is not running leaves it suspended at the
 * snapshot. A stopped snapshot (disks only) restored into a running VM reboots it on the
 * restored disks. Refused: a tag that exists (save), an unknown tag, a snapshot of
 * another VM, a VM whose disks (for a running snapshot also CPUs, memory, network,
 * shares) changed since. */
struct cove_snapshot_info {
    char tag[COVE_NAME_MAX + 1];
    bool running;          /* holds a saved machine (memory and devices), not only disks */
    int64_t created;       /* Unix time of the save */
    uint64_t memory_bytes; /* bytes its memory file takes on disk (running ones) */
};
int cove_snapshot_save(const char *name, const char *tag, struct cove_error *err);
struct cove_snapshot_restored {
    bool vm_running;       /* the VM was running: it runs on from the snapshot */
    bool running;          /* the snapshot held a machine (else: disks only) */
    double ms;             /* a running VM's restart: machine stopped to restored */
};
int cove_snapshot_restore(const char *name, const char *tag, struct cove_snapshot_restored *out,
                          struct cove_error *err);
/* Sorted by tag; free(*out). */
int cove_snapshot_list(const char *name, struct cove_snapshot_info **out, size_t *count,
                       struct cove_error *err);
/* Removes the record; disk layers other snapshots or the VM still read stay. */
int cove_snapshot_delete(const char *name, const char *tag, struct cove_error *err);

/* Stops a running VM from outside its run: from a signal handler, another thread, the
 * callback below. One runner serves one run; create it before (so that a signal handler
 * may use it at any moment) and free it after. */
struct cove_vm_runner;
struct cove_vm_runner *cove_vm_runner_new(struct cove_error *err);
void cove_vm_runner_free(struct cove_vm_runner *runner);
/* Asks the guest to power off (through its agent, else the console's SysRq) and stops it
 * by force when it has not within the shutdown timeout, or when asked again. The run
 * ends with COVE_RUN_STOPPED. Async-signal-safe: for SIGINT and SIGTERM. */
void cove_vm_runner_shutdown(struct cove_vm_runner *runner);
/* Stops the VM at once, as pulling the plug would (async-signal-safe). */
void cove_vm_runner_stop(struct cove_vm_runner *runner);

struct cove_run_options {
    const char *append;          /* added to the kernel command line */
    bool console_to_log;         /* bundles: console to run/console.log (no input), not the fds */
    int console_in_fd;           /* -1: none */
    int console_out_fd;
    bool console_escape;         /* Ctrl-A x quits (at once, like cove_vm_runner_stop) */
    bool virtio_console;         /* the console on virtio-console (hvc0), not the UART */
    bool no_rng;                 /* no virtio-rng */
    bool no_balloon;             /* no virtio-balloon (free page reporting, cove_vm_set_memory) */
    /* A display (virtio-gpu, virtio-input keyboard and tablet) served over VNC on the Unix
     * socket run/vnc.sock of a bundle, or vnc_socket for an ephemeral VM (required then);
     * with vnc_port also on 127.0.0.1:vnc_port with VNC authentication, the password in
     * the bundle's vnc-password (made on first use; bundles only). See docs/DISPLAY.md. */
    bool display_vnc;
    const char *vnc_socket;
    int vnc_port;                /* 0: no TCP port */
    /* A bundle's stored display (config.json) applies unless display_set: then display_vnc
     * says (none turns a stored display off). vnc_port 0 takes the stored port. */
    bool display_set;
    const struct cove_disk_config *extra_disks; /* attached after the configuration's own */
    unsigned nextra_disks;
    const char *const *forwards; /* added to the configuration's ones */
    unsigned nforwards;
    enum cove_auto_forward auto_forward; /* DEFAULT: the configuration's (NAT only) */
    const struct cove_share_config *shares; /* shared directories for this run */
    unsigned nshares;
    /* The guest agent's hybrid-vsock socket of an ephemeral VM (cove_run_config); NULL:
     * none. A bundle's is always run/vsock.sock. */
    const char *vsock_path;
    int shutdown_timeout_ms;     /* how long cove_vm_runner_shutdown waits; 0: 20 s */
    struct cove_vm_runner *runner; /* NULL: the run makes its own */
    /* Called once the VM is up (lock held, pid written, socket served), e.g. to put the
     * terminal in raw mode. */
    int (*on_started)(void *opaque, struct cove_vm_runner *runner);
    void *opaque;
    /* Confine the process once the first machine is set up, right before its vCPUs run:
     * no_new_privs and a seccomp allow-list of system calls on every thread (docs/
     * SECURITY.md), for good, also after the run: a call outside it kills the process.
     * `cove run` sets it unless --no-seccomp or COVE_SECCOMP=0. */
    bool seccomp;
    /* Jail the VMM of a bundle once it is set up, before the filter (docs/SECURITY.md,
     * "The jail"): only the bundle visible (own mount, IPC and UTS namespaces), an
     * unprivileged uid, no capabilities. Needs cove_jail_prepare() first. With jail_auto a
     * VM the jail cannot serve (an ephemeral one, one on a cove network) runs without it
     * and says so in a log line; without it such a run is refused. `cove run` sets both
     * when run as root, jail alone with --jail. */
    bool jail;
    bool jail_auto;
    /* The VM's own cgroup v2 (docs/SECURITY.md, "Limits"): cpu.max of cpu_limit_milli
     * thousandths of a CPU (0: the configuration's cpu_limit_milli; a limit fails where
     * cgroup v2 is not available), memory.max of the guest's RAM plus a bounded overhead
     * (where available, else a log line). */
    unsigned cpu_limit_milli;
    /* The NIC's rate limit for this run instead of the configuration's (set_net_rate;
     * net_rate zero: none). */
    bool set_net_rate;
    struct cove_rate_limit net_rate;
};

/* The first step of the jail: its own mount, IPC and UTS namespaces for this process,
 * which must have one thread (call it before cove_vm_runner_new). Needs root. */
int cove_jail_prepare(struct cove_error *err);

enum cove_run_result {
    COVE_RUN_POWEROFF = 1, /* the guest powered off */
    COVE_RUN_STOPPED,      /* stopped from outside (control socket, signal, console) */
    COVE_RUN_GUEST_ERROR,  /* a trap nothing in the guest could take */
    COVE_RUN_GUEST_PANIC,  /* the guest kernel panicked (pvpanic) */
    COVE_RUN_SUSPENDED,    /* saved to the bundle's state/ and stopped (cove suspend) */
};

/* Boots the bundle and runs it until it stops; a guest reboot restarts it in place. The
 * guest finds the VM's name on its command line as cove.hostname=NAME. */
int cove_vm_run(const char *name, const struct cove_run_options *opts,
                enum cove_run_result *result, struct cove_error *err);

/* The same for a VM that has no bundle (`cove run --kernel`): cfg is validated as
 * config.json would be, and its paths are used as they are. */
int cove_run_config(const struct cove_config *cfg, const struct cove_run_options *opts,
                    enum cove_run_result *result, struct cove_error *err);

#endif
