/*
 * cove/config.h — a VM bundle's configuration (config.json), version 1.
 *
 *   {"version": 1, "cpus": 2, "memory": 1024,
 *    "disks": [{"file": "disk.img", "read_only": false},
 *              {"nbd": "nbd://host/export", "read_only": true, "sync": "none"}],
 *              (+ "interface": "nvme")
 *    "network": {"mode": "nat", "mac": "52:54:00:12:34:56", "forwards": ["tcp:2222:22"],
 *                "allow": ["192.168.1.0/24:443"], "block": ["10.0.0.0/8"],
 *                "auto_forward": "off"},
 *    "boot": {"kernel": "kernel", "initrd": "initrd", "cmdline": "cove.root=/dev/vda"},
 *    "guest": {"user": "alice"},
 *    "display": {"type": "vnc", "vnc_port": 5901}}
 *
 * memory is in MiB. In a bundle's config.json every file is a plain file name in the bundle
 * directory (cove_config_load refuses absolute paths, '/' and ".."); a configuration
 * built in memory for an ephemeral VM (cove_run_config) names files as it likes. "network",
 * "guest", "display" and "initrd"/"cmdline"/"firmware" may be left out; every other key is required, and a key
 * the schema does not know is an error (a typo must not be silently ignored). Parsing
 * fills a cove_error whose message names the key and the problem, e.g.
 *   config.json: key 'cpus': must be an integer 1..32, got "two"
 * Specified in docs/BUNDLES.md.
 */
#ifndef COVE_CONFIG_H
#define COVE_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cove/error.h>

#define COVE_CONFIG_VERSION 1
#define COVE_MAX_CPUS 32
#define COVE_MIN_MEMORY_MIB 16
#define COVE_MAX_MEMORY_MIB (64 * 1024)
#define COVE_MAX_DISKS 8
#define COVE_MAX_FORWARDS 64 /* stored ones, and again as many added by a run */
#define COVE_MAC_LEN 17 /* "52:54:00:12:34:56" */

/* What a guest's flush does on the host (docs/CLI.md, "Disk modes"), as Apple's
 * VZDiskImageSynchronizationMode: FSYNC (the default) makes every completed write durable
 * (fdatasync; a cdisk's map too; an NBD flush); FULL also fsyncs the image file's inode;
 * NONE does nothing (the host writes back when it likes: a host crash loses data). */
enum cove_disk_sync { COVE_DISK_SYNC_FSYNC = 0, COVE_DISK_SYNC_FULL, COVE_DISK_SYNC_NONE };
/* The host's page cache: WRITEBACK (the default) uses it; NONE moves the guest's data
 * with O_DIRECT (image files; not NBD). */
enum cove_disk_cache { COVE_DISK_CACHE_WRITEBACK = 0, COVE_DISK_CACHE_NONE };

/* A rate limit (token buckets, as Firecracker's; docs/SECURITY.md, "Rate limits"): a
 * bucket of size tokens refilled evenly over refill_ms, plus one_time_burst tokens spent
 * first. bandwidth counts bytes, ops requests (a disk) or frames (a NIC). size 0: no limit.
 * Text: `rate=SIZE/TIME,ops=N/TIME[,burst=SIZE][,ops-burst=N]` (TIME: s, ms, Ns, Nms;
 * "rate=50M/s" is a bucket of 50 MiB refilled each second), or "none". */
struct cove_bucket_config {
    uint64_t size;
    uint32_t refill_ms;
    uint64_t one_time_burst;
};
struct cove_rate_limit {
    struct cove_bucket_config bandwidth, ops;
};
#define COVE_RATE_MAX_REFILL_MS 3600000u
#define COVE_RATE_TEXT_MAX 96
static inline bool cove_rate_limit_on(const struct cove_rate_limit *r)
{
    return r->bandwidth.size || r->ops.size;
}
/* One option of a rate limit ("rate=50M/s", "ops=2000/s", "burst=1G", "ops-burst=500")
 * into out: 1 taken, 0 when opt is not one of these, -EINVAL with one line naming it
 * (what: where it came from, "--net-rate"). */
int cove_rate_option_parse(const char *opt, const char *what, struct cove_rate_limit *out,
                           struct cove_error *err);
/* A whole rate limit: comma-separated options or "none" (cut in place); options not given
 * are unlimited. 0, or -EINVAL with one line. */
int cove_rate_limit_parse(char *text, const char *what, struct cove_rate_limit *out,
                          struct cove_error *err);
/* Checks values from elsewhere (config.json): 0, or -EINVAL naming the field. */
int cove_rate_limit_check(const struct cove_rate_limit *r, struct cove_error *err);
/* The text form ("rate=50M/s,ops=2000/s"; "none"); buf of COVE_RATE_TEXT_MAX bytes. */
const char *cove_rate_limit_text(const struct cove_rate_limit *r, char *buf, size_t len);

/* A disk: an image file, or an NBD export when file is an NBD URI (cove_disk_is_nbd;
 * config.json's key "nbd" instead of "file"); on virtio-blk (/dev/vdX, the default), or
 * with "interface": "nvme" in config.json a namespace of the VM's one NVMe controller on
 * the PCIe bus (/dev/nvme0nN, N counting the NVMe disks in order). */
struct cove_disk_config {
    char *file;
    bool read_only;
    enum cove_disk_cache cache;
    enum cove_disk_sync sync;
    bool nvme;
    struct cove_rate_limit rate; /* "rate_limit"; `--disk PATH,rate=50M/s,ops=2000/s` */
};

/* Whether file names an NBD export: nbd://, nbds://, nbd+unix://, nbds+unix://. */
bool cove_disk_is_nbd(const char *file);

/* The query parameter of an NBD URI that names a host file libnbd would read
 * (tls-psk-file, tls-certificates), or NULL. Fine on a user's own command line; a bundle's
 * config.json may not (docs/BUNDLES.md): it would lead cove to files outside the bundle. */
const char *cove_disk_nbd_host_file(const char *uri);

/* Checks an NBD URI's form (scheme, host or socket, port, export) without connecting:
 * 0, or -EINVAL with one line naming the problem. */
int cove_disk_check_nbd_uri(const char *uri, struct cove_error *err);

/* `--disk PATH|URI[,ro|rw][,cache=writeback|none][,sync=full|fsync|none]`: the one parser
 * of a disk's text. Splits spec in place (out->file points into it); 0, or -EINVAL with one
 * line naming the problem. */
int cove_disk_spec_parse(char *spec, struct cove_disk_config *out, struct cove_error *err);
/* The options alone, "ro,cache=none,sync=full" (cut in place), as the spec takes them: they
 * replace out's read_only, cache and sync (those not given: the defaults); out->file (an
 * NBD disk refuses cache=none) stays. 0, or -EINVAL with one line. */
int cove_disk_options_parse(char *opts, struct cove_disk_config *out, struct cove_error *err);

/* The names of the modes ("writeback", "none"; "fsync", "full", "none") and their parsers
 * (-EINVAL for an unknown name). */
const char *cove_disk_cache_name(enum cove_disk_cache cache);
const char *cove_disk_sync_name(enum cove_disk_sync sync);
int cove_disk_cache_parse(const char *name, enum cove_disk_cache *out);
int cove_disk_sync_parse(const char *name, enum cove_disk_sync *out);

/* A shared directory (virtio-fs): the guest sees host directory path as the file system
 * tagged name, mounted by the default guest (and cove-shares.service of the images) at
 * /mnt/cove/NAME. Given per run (`cove run --dir`), or stored in config.json ("shares")
 * with a grant: a bundle's file may come from elsewhere, so a stored host path is used only
 * when this COVE_HOME sealed it (docs/BUNDLES.md, "What cove trusts in a bundle"). */
#define COVE_MAX_SHARES 4
#define COVE_SHARE_NAME_MAX 36
struct cove_share_config {
    char *name;     /* 1..36 of [A-Za-z0-9._-], not starting with '.' or '-' */
    char *path;     /* a host directory */
    bool read_only; /* enforced on the host: every write fails with EROFS */
    char *grant;    /* stored shares: 64 hex digits, HMAC-SHA256 of name, path and
                       read_only under this COVE_HOME's key; NULL when not granted */
};

/* A VM's network attachment: `--net nat|none|tap:IFNAME|bridge:BRIDGE|network:NAME`,
 * config.json's network.mode (docs/NETWORK.md). One parser: cove_net_spec_parse. */
enum cove_net_mode {
    COVE_NET_DEFAULT = 0, /* not said (create: NAT; set: unchanged) */
    COVE_NET_NAT,         /* user-mode NAT (libslirp) */
    COVE_NET_NONE,        /* no network device */
    COVE_NET_TAP,         /* an existing TAP interface, name */
    COVE_NET_BRIDGE,      /* a TAP cove creates and adds to the Linux bridge name */
    COVE_NET_NETWORK,     /* the cove network name (`cove network`) */
};
#define COVE_NET_NAME_MAX 63 /* interfaces: 15 (IFNAMSIZ - 1) */
struct cove_net_spec {
    enum cove_net_mode mode;
    char name[COVE_NET_NAME_MAX + 1]; /* TAP, BRIDGE, NETWORK; empty otherwise */
};
/* Parses the text of --net into *out: 0, or -EINVAL with one line naming the value. */
int cove_net_spec_parse(const char *text, struct cove_net_spec *out, struct cove_error *err);
/* The text form ("nat", "bridge:br0"); buf of at least COVE_NET_NAME_MAX + 9 bytes. */
const char *cove_net_spec_text(const struct cove_net_spec *spec, char *buf, size_t len);

/* An egress rule of a NAT network: --net-allow CIDR[:PORT] or --net-block CIDR. */
#define COVE_MAX_NET_RULES 32
#define COVE_NET_RULE_LEN 31 /* "255.255.255.255/32:65535" */
struct cove_net_rule {
    bool allow;
    char spec[COVE_NET_RULE_LEN + 1];
};
/* Checks spec as an allow rule (CIDR[:PORT]) or a block rule (CIDR) and fills *out:
 * 0, or -EINVAL with one line naming the value. */
int cove_net_rule_make(const char *spec, bool allow, struct cove_net_rule *out,
                       struct cove_error *err);

/* Automatic port forwarding on NAT (docs/NETWORK.md): the guest's listening ports are
 * forwarded from 127.0.0.1 while they listen. config.json's network.auto_forward: "on"
 * (the default, left out), "off", or "all" (ports below 1024 too). */
enum cove_auto_forward {
    COVE_AUTOFWD_DEFAULT = 0, /* not said: on (settings: unchanged) */
    COVE_AUTOFWD_ON,          /* ports 1024..65535 */
    COVE_AUTOFWD_OFF,
    COVE_AUTOFWD_ALL,         /* every port, 1..65535 */
};
/* "on", "off", "all" (DEFAULT is "on"); and back: -1 for another word. */
const char *cove_auto_forward_name(enum cove_auto_forward a);
int cove_auto_forward_parse(const char *s);

/* A VM's CPU limit (cgroup v2 cpu.max), in thousandths of a CPU: 0.01 to 1024 CPUs. */
#define COVE_MIN_CPU_LIMIT_MILLI 10
#define COVE_MAX_CPU_LIMIT_MILLI 1024000

struct cove_config {
    unsigned cpus;
    uint64_t memory_mib;
    unsigned cpu_limit_milli; /* "cpu_limit": the CPUs' time the VM may use; 0: no limit */
    struct cove_disk_config disks[COVE_MAX_DISKS];
    unsigned ndisks;
    bool has_network;
    struct cove_net_spec net;   /* with has_network: mode NAT, NONE, TAP, BRIDGE or NETWORK */
    char mac[COVE_MAC_LEN + 1]; /* empty: none */
    char *forwards[COVE_MAX_FORWARDS]; /* "tcp|udp:[ADDR:]HOSTPORT:GUESTPORT" */
    unsigned nforwards;
    struct cove_net_rule net_rules[COVE_MAX_NET_RULES]; /* egress rules; NAT only */
    unsigned nnet_rules;
    enum cove_auto_forward auto_forward; /* NAT only */
    struct cove_rate_limit net_rate; /* network.rate_limit: each direction of the NIC */
    char *kernel;   /* required */
    char *initrd;   /* NULL: none */
    char *cmdline;  /* NULL: none */
    char *firmware; /* NULL: direct boot */
    char *guest_user; /* the guest's login user (`cove ssh`), a Linux user name; NULL: none
                         (a VM not created from an image) */
    struct cove_share_config shares[COVE_MAX_SHARES]; /* stored shares (strings owned) */
    unsigned nshares;
    /* The display `cove run` gives the VM unless told otherwise (config.json "display",
     * left out for none): virtio-gpu and virtio-input served over VNC (docs/DISPLAY.md),
     * also on 127.0.0.1:vnc_port when vnc_port is not 0. */
    bool display_vnc;
    int vnc_port;
};

/* Whether cfg has a network device (a "network" whose mode is not none). */
static inline bool cove_config_has_net(const struct cove_config *cfg)
{
    return cfg->has_network && cfg->net.mode != COVE_NET_NONE && cfg->net.mode != COVE_NET_DEFAULT;
}

/* Parses and validates JSON text. `what` names the source in messages ("config.json").
 * On success *out owns its strings (cove_config_free). */
int cove_config_parse(const char *text, size_t len, const char *what, struct cove_config *out,
                      struct cove_error *err);

/* Reads and parses a bundle's config.json: also refuses a file that is a symbolic link
 * and a file name outside the bundle ("key 'disks[0].file': must be a file name in the
 * bundle, got "/x" (an absolute path); ..."). */
int cove_config_load(const char *path, struct cove_config *out, struct cove_error *err);

/* Checks the values of a configuration built in memory (parse does this itself). */
int cove_config_validate(const struct cove_config *cfg, const char *what,
                         struct cove_error *err);

/* The JSON text of cfg (malloc'd, ends with a newline), or NULL when out of memory. */
char *cove_config_to_json(const struct cove_config *cfg);

/* A deep copy; -ENOMEM. */
int cove_config_copy(const struct cove_config *src, struct cove_config *dst);

void cove_config_free(struct cove_config *cfg);

/* The checks config.json's "network" gets, one value at a time (the parsers `cove run`
 * uses): 0, or -EINVAL with a line naming the value ("forward 'tcp:80': use ..."). */
int cove_config_check_forward(const char *spec, struct cove_error *err);
int cove_config_check_mac(const char *mac, struct cove_error *err);

/* `--dir [NAME:]PATH[:ro]` (also ":rw"): splits spec in place into *out (pointers into
 * spec). Without NAME the name is PATH's last component. 0, or -EINVAL with one line
 * naming the problem. */
int cove_share_parse(char *spec, struct cove_share_config *out, struct cove_error *err);
/* The name rule of a share (see struct cove_share_config). */
bool cove_share_name_valid(const char *name);

/* `--display none|vnc` (create, set, run; config.json's display.type): *vnc says which.
 * `--vnc-port PORT`: 1..65535. Both: 0, or -EINVAL with one line naming the value. The one
 * parser of each. */
int cove_display_parse(const char *text, bool *vnc, struct cove_error *err);
int cove_vnc_port_parse(const char *text, int *port, struct cove_error *err);

/* A Linux user name as guest.user takes it: [a-z_][a-z0-9_-]{0,31}. */
#define COVE_GUEST_USER_MAX 32
bool cove_guest_user_valid(const char *name);

/* "52:54:00:xx:xx:xx" with random low bytes (QEMU's prefix), the text of the one
 * generator the run path uses too. */
void cove_config_random_mac(char out[COVE_MAC_LEN + 1]);

#endif
