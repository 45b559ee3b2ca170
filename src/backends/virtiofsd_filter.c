/* The seccomp filter a share's virtiofsd runs under (see virtiofsd_filter.h). */
#include "backends/virtiofsd_filter.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/seccomp.h>
#include <seccomp.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <unistd.h>

/* The calls that take a mode, and which argument holds it. */
static const struct {
    const char *name;
    unsigned arg;
    bool node; /* mknod: also refuse block and character devices */
} mode_calls[] = {
    {"chmod", 1, false},  {"fchmod", 1, false}, {"fchmodat", 2, false},
    {"open", 2, false},   {"openat", 3, false}, {"creat", 1, false},
    {"mknod", 1, true},   {"mknodat", 2, true},
};

static int add_rules(scmp_filter_ctx f)
{
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < sizeof mode_calls / sizeof mode_calls[0]; i++) {
        int nr = seccomp_syscall_resolve_name(mode_calls[i].name);
        if (nr == __NR_SCMP_ERROR)
            continue; /* not on this architecture */
        unsigned a = mode_calls[i].arg;
        const scmp_datum_t bits[] = {S_ISUID, S_ISGID};
        for (size_t b = 0; rc == 0 && b < 2; b++)
            rc = seccomp_rule_add(f, SCMP_ACT_ERRNO(EPERM), nr, 1,
                                  SCMP_CMP(a, SCMP_CMP_MASKED_EQ, bits[b], bits[b]));
        if (mode_calls[i].node) {
            const scmp_datum_t types[] = {S_IFBLK, S_IFCHR};
            for (size_t t = 0; rc == 0 && t < 2; t++)
                rc = seccomp_rule_add(f, SCMP_ACT_ERRNO(EPERM), nr, 1,
                                      SCMP_CMP(a, SCMP_CMP_MASKED_EQ, S_IFMT, types[t]));
        }
    }
    const char *opaque[] = {"openat2", "fchmodat2"};
    for (size_t i = 0; rc == 0 && i < 2; i++) {
        int nr = seccomp_syscall_resolve_name(opaque[i]);
        if (nr != __NR_SCMP_ERROR)
            rc = seccomp_rule_add(f, SCMP_ACT_ERRNO(ENOSYS), nr, 0);
    }
    return rc;
}

int virtiofsd_filter_make(struct sock_fprog *prog, struct cove_error *err)
{
    memset(prog, 0, sizeof *prog);
    scmp_filter_ctx f = seccomp_init(SCMP_ACT_ALLOW);
    if (!f)
        return cove_error_set(err, -ENOMEM, "out of memory");
    int rc = add_rules(f), fd = -1;
    if (rc == 0)
        rc = seccomp_attr_set(f, SCMP_FLTATR_CTL_NNP, 1);
    /* libseccomp 2.5 exports BPF only to a descriptor */
    if (rc == 0 && (fd = memfd_create("cove-virtiofsd-filter", MFD_CLOEXEC)) < 0)
        rc = -errno;
    if (rc == 0)
        rc = seccomp_export_bpf(f, fd);
    seccomp_release(f);
    off_t size = rc == 0 ? lseek(fd, 0, SEEK_END) : -1;
    if (rc == 0 && (size <= 0 || size % sizeof(struct sock_filter) ||
                    size / sizeof(struct sock_filter) > BPF_MAXINSNS))
        rc = -EINVAL;
    if (rc == 0 && !(prog->filter = malloc(size)))
        rc = -ENOMEM;
    if (rc == 0 && pread(fd, prog->filter, size, 0) != size)
        rc = -EIO;
    if (fd >= 0)
        close(fd);
    if (rc < 0) {
        virtiofsd_filter_free(prog);
        return cove_error_set(err, rc, "cannot make the shares' file-system filter: %s",
                              strerror(-rc));
    }
    prog->len = (unsigned short)(size / sizeof(struct sock_filter));
    return 0;
}

void virtiofsd_filter_free(struct sock_fprog *prog)
{
    free(prog->filter);
    prog->filter = NULL;
    prog->len = 0;
}

int virtiofsd_filter_install(const struct sock_fprog *prog)
{
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0 ||
        prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, prog) < 0)
        return -errno;
    return 0;
}
