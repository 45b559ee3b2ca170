/*
 * Save and restore of a whole machine (machine.h; the file format is docs/STATE-FORMAT.md).
 *
 * The state file is written in one piece after everything is collected, and read and
 * checked in one piece (every checksum, then the configuration) before anything in the
 * machine changes. Guest memory goes to its own file: holes where the guest has nothing
 * (or zeros), so a 1 GiB guest that uses 100 MiB writes 100 MiB, and a restore maps the
 * file MAP_PRIVATE, as Firecracker does, so pages are read when the guest first touches
 * them and a fork can later share the same file. A VM with shares reads it instead: its
 * RAM stays the memfd the file servers map.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "devices/virtio/virtio_mmio.h"
#include "machine/machine_internal.h"
#include "machine/uart.h"
#include "util/fdio.h"
#include "util/log.h"
#include "util/state_format.h"

#define STATE_FILE MACHINE_STATE_FILE
#define MEMORY_FILE MACHINE_MEMORY_FILE
#define SECTION_VERSION 1u
#define PAGE 4096ull
#define VCPU_WORDS (sizeof(struct hv_vcpu_state) / sizeof(uint64_t))

_Static_assert(sizeof(struct hv_vcpu_state) % sizeof(uint64_t) == 0,
               "hv_vcpu_state is a list of 64-bit words");

static int path_in(char *buf, size_t n, const char *dir, const char *file, struct cove_error *err)
{
    if (snprintf(buf, n, "%s/%s", dir, file) >= (int)n)
        return cove_error_set(err, -ENAMETOOLONG, "state directory path too long: %s", dir);
    return 0;
}

/* --- what is saved ------------------------------------------------------------------- */

static uint32_t slot_device(struct machine *m, unsigned slot, const char **name)
{
    struct virtio_mmio *t = m->virtio[slot];
    *name = t ? virtio_mmio_name(t) : "";
    return t ? virtio_mmio_device_id(t) : 0;
}

static void save_machine(struct machine *m, struct state_writer *w)
{
    state_writer_section(w, "machine", SECTION_VERSION);
    state_put_u32(w, m->ncpus);
    state_put_u64(w, m->ram.base);
    state_put_u64(w, m->ram.size);
    state_put_u8(w, m->firmware_mode);
    state_put_u64(w, hv_vm_get_time(m->vm));
    /* QEMU virt's eight slots: the extra one holds only the display's mouse, which
     * cannot be saved (machine_can_save refuses), so it never reaches a state file. */
    state_put_u32(w, MACHINE_MAX_VIRTIO);
    for (unsigned i = 0; i < MACHINE_MAX_VIRTIO; i++) {
        const char *name;
        state_put_u32(w, slot_device(m, i, &name));
    }
}

static int save_hart(struct machine *m, unsigned i, struct state_writer *w,
                     struct cove_error *err)
{
    struct hart *h = &m->harts[i];
    char name[16];
    snprintf(name, sizeof name, "hart.%u", i);
    pthread_mutex_lock(&m->hsm_lock);
    uint32_t hsm = h->state;
    uint64_t addr = h->start_addr, arg = h->start_arg;
    pthread_mutex_unlock(&m->hsm_lock);
    struct hv_vcpu_state s;
    /* A stopped hart's registers do not matter: starting it sets them. */
    bool has_vcpu = hsm != HART_STOPPED && hsm != HART_START_PENDING;
    if (has_vcpu) {
        int rc = hv_vcpu_get_state(h->vcpu, &s);
        if (rc < 0)
            return cove_error_set(err, rc, "cannot read the state of vCPU %u: %s", i,
                                  strerror(-rc));
    }
    state_writer_section(w, name, SECTION_VERSION);
    state_put_u32(w, hsm);
    state_put_u64(w, addr);
    state_put_u64(w, arg);
    state_put_u8(w, has_vcpu);
    if (has_vcpu) {
        uint64_t words[VCPU_WORDS];
        memcpy(words, &s, sizeof words);
        state_put_u32(w, (uint32_t)VCPU_WORDS);
        for (size_t k = 0; k < VCPU_WORDS; k++)
            state_put_u64(w, words[k]);
    }
    return 0;
}

static int save_devices(struct machine *m, struct state_writer *w, struct cove_error *err)
{
    state_writer_section(w, "plic", SECTION_VERSION);
    plic_save(m->plic, w);
    state_writer_section(w, "uart", SECTION_VERSION);
    uart_save(m->uart, w);
    state_writer_section(w, "rtc", SECTION_VERSION);
    rtc_save(&m->rtc, w);
    for (unsigned i = 0; i < MACHINE_VIRTIO_SLOTS; i++) {
        if (!m->virtio[i])
            continue;
        char name[16];
        snprintf(name, sizeof name, "virtio.%u", i);
        state_writer_section(w, name, SECTION_VERSION);
        int rc = virtio_mmio_save(m->virtio[i], w);
        if (rc < 0)
            return cove_error_set(err, rc, "cannot save virtio-%s: %s",
                                  virtio_mmio_name(m->virtio[i]), strerror(-rc));
    }
    return 0;
}

/* --- guest memory -------------------------------------------------------------------- */

static bool page_is_zero(const uint8_t *p)
{
    const uint64_t *q = (const uint64_t *)p;
    uint64_t any = 0;
    for (size_t i = 0; i < PAGE / 8; i++)
        any |= q[i];
    return any == 0;
}

/* Where data may be in RAM from off on: [*start, *end), or *start = size for none. With
 * the memfd behind RAM its holes are exact. A restored machine maps the saved file
 * privately: data is where that file has data, or where the guest has touched a page
 * since (the page table says present or swapped; /proc/self/pagemap). */
struct ram_scan {
    struct machine *m;
    int pagemap_fd;
    uint64_t file_data, file_hole; /* the saved file's data range around the cursor */
};

static void seek_range(int fd, uint64_t off, uint64_t size, uint64_t *start, uint64_t *end)
{
    off_t d = lseek(fd, (off_t)off, SEEK_DATA);
    if (d < 0) { /* ENXIO: no data after off; other errors: treat everything as data */
        *start = errno == ENXIO ? size : off;
        *end = errno == ENXIO ? size : size;
        return;
    }
    off_t h = lseek(fd, d, SEEK_HOLE);
    *start = (uint64_t)d;
    *end = h < 0 ? size : (uint64_t)h;
}

static bool touched(struct ram_scan *s, uint64_t off)
{
    uint64_t entry = 0;
    uint64_t vpn = ((uintptr_t)s->m->ram.host + off) / PAGE;
    if (s->pagemap_fd < 0 || pread(s->pagemap_fd, &entry, 8, (off_t)(vpn * 8)) != 8)
        return true; /* cannot tell: look at the page */
    return (entry >> 63) & 1 || (entry >> 62) & 1;
}

static bool may_have_data(struct ram_scan *s, uint64_t off)
{
    uint64_t size = s->m->ram.size;
    if (off >= s->file_hole)
        seek_range(s->m->ram_file_fd, off, size, &s->file_data, &s->file_hole);
    if (off >= s->file_data && off < s->file_hole)
        return true;
    return touched(s, off);
}

static int write_run(int fd, const uint8_t *p, uint64_t off, uint64_t len)
{
    while (len) {
        ssize_t n = pwrite(fd, p, len > (1u << 30) ? (1u << 30) : len, (off_t)off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return n < 0 ? -errno : -EIO;
        p += n, off += (uint64_t)n, len -= (uint64_t)n;
    }
    return 0;
}

/* Writes the non-zero pages of [start, end) at their offsets; counts them. */
static int write_range(struct machine *m, int fd, uint64_t start, uint64_t end,
                       struct ram_scan *scan, uint64_t *pages)
{
    uint64_t run = 0, run_len = 0;
    for (uint64_t off = start; off < end; off += PAGE) {
        bool data = (!scan || may_have_data(scan, off)) && !page_is_zero(m->ram.host + off);
        if (data) {
            if (!run_len)
                run = off;
            run_len += PAGE;
            (*pages)++;
        }
        if ((!data || off + PAGE >= end) && run_len) {
            int rc = write_run(fd, m->ram.host + run, run, run_len);
            if (rc < 0)
                return rc;
            run_len = 0;
        }
    }
    return 0;
}

static int write_memory(struct machine *m, int fd, const char *path, uint64_t *pages,
                        struct cove_error *err)
{
    int rc = ftruncate(fd, (off_t)m->ram.size) < 0 ? -errno : 0;
    uint64_t size = m->ram.size;
    *pages = 0;
    if (rc == 0 && m->ram_file_fd < 0 && m->ram_fd >= 0) {
        for (uint64_t off = 0, start, end; rc == 0 && off < size; off = end) {
            seek_range(m->ram_fd, off, size, &start, &end);
            if (start >= size)
                break;
            rc = write_range(m, fd, start & ~(PAGE - 1), (end + PAGE - 1) & ~(PAGE - 1), NULL,
                             pages);
        }
    } else if (rc == 0) {
        struct ram_scan scan = {m, open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC), 0, 0};
        rc = write_range(m, fd, 0, size, m->ram_file_fd >= 0 ? &scan : NULL, pages);
        if (scan.pagemap_fd >= 0)
            close(scan.pagemap_fd);
    }
    if (rc == 0 && fsync(fd) < 0)
        rc = -errno;
    /* never written again: forks share it (hard links, store/clone.c). A jailed VMM (another
     * uid) writes into the suspend helper's file, which that helper makes read-only as it
     * commits the state (vm/state_helper.c). */
    if (rc == 0 && fchmod(fd, 0400) < 0 && errno != EPERM)
        rc = -errno;
    if (rc < 0)
        return cove_error_set(err, rc, "cannot write guest memory to %s: %s", path,
                              strerror(-rc));
    return 0;
}

/* --- save ---------------------------------------------------------------------------- */

int machine_can_save(struct machine *m, struct cove_error *err)
{
    for (unsigned i = 0; i < MACHINE_VIRTIO_SLOTS; i++)
        if (m->virtio[i] && !virtio_mmio_can_save(m->virtio[i]))
            return cove_error_set(err, -ENOTSUP, "this VM has a virtio-%s device, which "
                                  "cannot be saved yet", virtio_mmio_name(m->virtio[i]));
    if (m->pcie)
        return cove_error_set(err, -ENOTSUP, "this VM has an NVMe disk (PCIe), which cannot "
                              "be saved yet");
    return 0;
}

static int write_state_file(int fd, const char *path, const struct state_writer *w,
                            struct cove_error *err)
{
    int rc = fd_write_all(fd, w->data, w->len);
    if (rc == 0 && fsync(fd) < 0)
        rc = -errno;
    if (rc < 0)
        return cove_error_set(err, rc, "cannot write %s: %s", path, strerror(-rc));
    return 0;
}

static void quiesce_all(struct machine *m, bool on)
{
    for (unsigned i = 0; i < MACHINE_VIRTIO_SLOTS; i++)
        if (m->virtio[i])
            (on ? virtio_mmio_quiesce : virtio_mmio_unquiesce)(m->virtio[i]);
}

int machine_save(struct machine *m, const struct machine_save_files *f, struct cove_error *err)
{
    const char *dir = f->dir;
    char state_path[4096], mem_path[4096];
    int rc = machine_can_save(m, err);
    if (rc < 0 || (rc = path_in(state_path, sizeof state_path, dir, STATE_FILE, err)) < 0 ||
        (rc = path_in(mem_path, sizeof mem_path, dir, MEMORY_FILE, err)) < 0)
        return rc;
    if ((rc = machine_pause_parked(m)) < 0)
        return cove_error_set(err, rc, "the vCPUs did not stop: %s", strerror(-rc));
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    struct state_writer w;
    state_writer_init(&w);
    quiesce_all(m, true);
    save_machine(m, &w);
    for (unsigned i = 0; rc == 0 && i < m->ncpus; i++)
        rc = save_hart(m, i, &w, err);
    if (rc == 0)
        rc = save_devices(m, &w, err);
    uint64_t pages = 0;
    if (rc == 0)
        rc = write_memory(m, f->memory_fd, mem_path, &pages, err);
    quiesce_all(m, false);
    if (rc == 0 && state_writer_finish(&w) < 0)
        rc = cove_error_set(err, -ENOMEM, "out of memory while saving the machine state");
    if (rc == 0)
        rc = write_state_file(f->state_fd, state_path, &w, err);
    state_writer_free(&w);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    if (rc == 0)
        log_info("saved the machine: %" PRIu64 " MiB of guest memory in %.0f ms", pages >> 8,
                 (double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6);
    return rc;
}

/* --- load ---------------------------------------------------------------------------- */

/* Reads fd (path for messages) whole and closes it. */
static int read_state_file(int fd, const char *path, uint8_t **data, size_t *len,
                           struct cove_error *err)
{
    struct stat st;
    int rc = 0;
    if (fstat(fd, &st) < 0)
        rc = cove_error_set(err, -errno, "%s: %s", path, strerror(errno));
    else if (!S_ISREG(st.st_mode) || st.st_size > STATE_FILE_MAX)
        rc = cove_error_set(err, -EINVAL, "%s is not a machine state file", path);
    uint8_t *buf = rc == 0 ? malloc(st.st_size ? (size_t)st.st_size : 1) : NULL;
    if (rc == 0 && !buf)
        rc = cove_error_set(err, -ENOMEM, "out of memory");
    size_t got = 0;
    while (rc == 0 && got < (size_t)st.st_size) {
        ssize_t n = pread(fd, buf + got, (size_t)st.st_size - got, (off_t)got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            rc = cove_error_set(err, n < 0 ? -errno : -EIO, "cannot read %s", path);
        else
            got += (size_t)n;
    }
    close(fd);
    if (rc < 0) {
        free(buf);
        return rc;
    }
    *data = buf;
    *len = got;
    return 0;
}

static int section(const struct state_file *f, const char *name, struct state_reader *r,
                   struct cove_error *err)
{
    uint32_t version;
    if (state_file_section(f, name, &version, r) < 0)
        return cove_error_set(err, -EINVAL, "the saved state has no '%s' section", name);
    if (version != SECTION_VERSION)
        return cove_error_set(err, -ENOTSUP, "the saved '%s' has version %u; this cove reads "
                              "version %u", name, version, SECTION_VERSION);
    return 0;
}

/* The configuration must be the one that was saved. */
static int check_machine(struct machine *m, const struct state_file *f, uint64_t *time,
                         struct cove_error *err)
{
    struct state_reader r;
    int rc = section(f, "machine", &r, err);
    if (rc < 0)
        return rc;
    uint32_t cpus = state_get_u32(&r);
    uint64_t base = state_get_u64(&r), size = state_get_u64(&r);
    bool firmware = state_get_u8(&r) != 0;
    *time = state_get_u64(&r);
    uint32_t slots = state_get_u32(&r);
    if (r.bad || slots != MACHINE_MAX_VIRTIO)
        return cove_error_set(err, -EINVAL, "the saved 'machine' section is malformed");
    if (cpus != m->ncpus)
        return cove_error_set(err, -EINVAL, "the VM had %u CPUs when it was suspended and "
                              "has %u now; change it back to %u in config.json to resume it", cpus, m->ncpus,
                              cpus);
    if (size != m->ram.size || base != m->ram.base)
        return cove_error_set(err, -EINVAL, "the VM had %" PRIu64 " MiB of memory when it was "
                              "suspended and has %" PRIu64 " MiB now; change it back to "
                              "%" PRIu64 " MiB in config.json to resume it", size >> 20, m->ram.size >> 20,
                              size >> 20);
    if (firmware != m->firmware_mode)
        return cove_error_set(err, -EINVAL, "the VM's boot firmware changed since it was "
                              "suspended");
    for (unsigned i = 0; i < MACHINE_MAX_VIRTIO; i++) {
        const char *name;
        uint32_t then = state_get_u32(&r), now = slot_device(m, i, &name);
        if (then != now)
            return cove_error_set(err, -EINVAL, "the VM's devices changed since it was "
                                  "suspended (virtio slot %u: device %u then, %s now); undo "
                                  "the change (disks, network, --dir) to resume it", i, then,
                                  now ? name : "none");
    }
    if (!state_reader_done(&r))
        return cove_error_set(err, -EINVAL, "the saved 'machine' section has the wrong length");
    return 0;
}

static int load_hart(struct machine *m, unsigned i, const struct state_file *f,
                     struct cove_error *err)
{
    char name[16];
    snprintf(name, sizeof name, "hart.%u", i);
    struct state_reader r;
    int rc = section(f, name, &r, err);
    if (rc < 0)
        return rc;
    uint32_t hsm = state_get_u32(&r);
    uint64_t addr = state_get_u64(&r), arg = state_get_u64(&r);
    bool has_vcpu = state_get_u8(&r) != 0;
    struct hv_vcpu_state s;
    if (has_vcpu) {
        uint64_t words[VCPU_WORDS];
        if (state_get_u32(&r) != VCPU_WORDS)
            return cove_error_set(err, -EINVAL, "the saved vCPU %u has another layout", i);
        for (size_t k = 0; k < VCPU_WORDS; k++)
            words[k] = state_get_u64(&r);
        memcpy(&s, words, sizeof s);
    }
    bool stopped = hsm == HART_STOPPED || hsm == HART_START_PENDING;
    if (!state_reader_done(&r) || hsm > HART_SUSPENDED || has_vcpu == stopped)
        return cove_error_set(err, -EINVAL, "the saved '%s' section is malformed", name);
    if (has_vcpu && (rc = hv_vcpu_set_state(m->harts[i].vcpu, &s)) < 0)
        return cove_error_set(err, rc, "the saved vCPU %u state is not valid", i);
    struct hart *h = &m->harts[i];
    pthread_mutex_lock(&m->hsm_lock);
    h->state = hsm;
    h->start_addr = addr;
    h->start_arg = arg;
    pthread_mutex_unlock(&m->hsm_lock);
    return 0;
}

static int load_devices(struct machine *m, const struct state_file *f, struct cove_error *err)
{
    struct state_reader r;
    int rc;
    if ((rc = section(f, "plic", &r, err)) < 0)
        return rc;
    if (plic_load(m->plic, &r) < 0)
        return cove_error_set(err, -EINVAL, "the saved 'plic' section is malformed");
    if ((rc = section(f, "uart", &r, err)) < 0)
        return rc;
    if (uart_load(m->uart, &r) < 0)
        return cove_error_set(err, -EINVAL, "the saved 'uart' section is malformed");
    if ((rc = section(f, "rtc", &r, err)) < 0)
        return rc;
    if (rtc_load(&m->rtc, &r) < 0)
        return cove_error_set(err, -EINVAL, "the saved 'rtc' section is malformed");
    for (unsigned i = 0; i < MACHINE_VIRTIO_SLOTS; i++) {
        if (!m->virtio[i])
            continue;
        char name[16];
        snprintf(name, sizeof name, "virtio.%u", i);
        if ((rc = section(f, name, &r, err)) < 0 ||
            (rc = virtio_mmio_load(m->virtio[i], &r, err)) < 0)
            return rc;
    }
    return 0;
}

/* A vhost-user daemon (virtiofsd, for a share) maps guest RAM from the memfd: it must
 * stay the memfd, so the saved memory is read into it rather than mapped. */
static bool ram_is_shared(struct machine *m)
{
    for (unsigned i = 0; i < MACHINE_VIRTIO_SLOTS; i++)
        if (m->virtio[i] && virtio_mmio_device_id(m->virtio[i]) == VIRTIO_ID_FS)
            return true;
    return false;
}

/* Reads the data of the memory file (its holes are zeros) into the memfd behind RAM. */
static int read_memory(struct machine *m, int fd)
{
    uint64_t size = m->ram.size;
    for (uint64_t off = 0, start, end; off < size; off = end) {
        seek_range(fd, off, size, &start, &end);
        if (start >= size)
            break;
        for (uint64_t at = start; at < end;) {
            ssize_t n = pread(fd, m->ram.host + at, end - at > (1u << 30) ? (1u << 30) : end - at,
                              (off_t)at);
            if (n < 0 && errno == EINTR)
                continue;
            if (n <= 0)
                return n < 0 ? -errno : -EIO;
            at += (uint64_t)n;
        }
    }
    return 0;
}

/* Replaces guest RAM by the memory file fd (path for messages): a private mapping of it,
 * which the machine keeps, or its contents read into the memfd when a daemon shares RAM;
 * fd is the machine's or closed. */
static int map_memory(struct machine *m, int fd, const char *path, struct cove_error *err)
{
    struct stat st;
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || (uint64_t)st.st_size != m->ram.size) {
        close(fd);
        return cove_error_set(err, -EINVAL, "%s is not the saved guest memory (%lld bytes, "
                              "expected %" PRIu64 "): it is truncated or from another VM",
                              path, (long long)st.st_size, m->ram.size);
    }
    /* What the boot loader put in the memfd is not guest memory any more. */
    if (m->ram_fd >= 0 &&
        fallocate(m->ram_fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 0,
                  (off_t)m->ram.size) < 0)
        log_debug("cannot free the boot memory: %s", strerror(errno));
    if (m->ram_fd >= 0 && ram_is_shared(m)) {
        int rc = read_memory(m, fd);
        close(fd);
        if (rc < 0)
            return cove_error_set(err, rc, "cannot read %s: %s", path, strerror(-rc));
        return 0;
    }
    void *p = mmap(m->ram.host, m->ram.size, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_FIXED | MAP_NORESERVE, fd, 0);
    if (p == MAP_FAILED) {
        int e = errno;
        close(fd);
        return cove_error_set(err, -e, "cannot map %s: %s", path, strerror(e));
    }
    madvise(p, m->ram.size, MADV_DONTFORK); /* a new mapping: as map_memory's */
    if (m->ram_file_fd >= 0)
        close(m->ram_file_fd);
    m->ram_file_fd = fd;
    return 0;
}

int machine_load_files(struct machine *m, const struct machine_save_files *f,
                       struct cove_error *err)
{
    char state_path[4096], mem_path[4096];
    int rc = 0;
    if ((rc = path_in(state_path, sizeof state_path, f->dir, STATE_FILE, err)) < 0 ||
        (rc = path_in(mem_path, sizeof mem_path, f->dir, MEMORY_FILE, err)) < 0 ||
        (atomic_load(&m->running) &&
         (rc = cove_error_set(err, -EBUSY, "cannot restore into a machine that has run")) < 0)) {
        close(f->state_fd);
        close(f->memory_fd);
        return rc;
    }
    uint8_t *data = NULL;
    size_t len = 0;
    if ((rc = read_state_file(f->state_fd, state_path, &data, &len, err)) < 0) {
        close(f->memory_fd);
        return rc;
    }
    struct state_file sf;
    uint64_t time = 0;
    if ((rc = state_file_parse(data, len, state_path, &sf, err)) == 0 &&
        (rc = check_machine(m, &sf, &time, err)) == 0)
        rc = map_memory(m, f->memory_fd, mem_path, err);
    else
        close(f->memory_fd);
    for (unsigned i = 0; rc == 0 && i < m->ncpus; i++)
        rc = load_hart(m, i, &sf, err);
    if (rc == 0)
        rc = load_devices(m, &sf, err);
    if (rc == 0)
        hv_vm_set_time(m->vm, time);
    free(data);
    return rc;
}

int machine_load(struct machine *m, const char *dir, struct cove_error *err)
{
    char path[4096];
    struct machine_save_files f = {-1, -1, dir};
    const char *names[2] = {STATE_FILE, MEMORY_FILE};
    int *fds[2] = {&f.state_fd, &f.memory_fd};
    for (unsigned i = 0; i < 2; i++) {
        int rc = path_in(path, sizeof path, dir, names[i], err);
        if (rc == 0 && (*fds[i] = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)) < 0)
            rc = cove_error_set(err, -errno, "cannot open %s: %s", path, strerror(errno));
        if (rc < 0) {
            if (i)
                close(f.state_fd);
            return rc;
        }
    }
    return machine_load_files(m, &f, err);
}
