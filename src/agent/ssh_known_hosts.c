/*
 * The host keys `cove ssh` has seen for a VM: ssh_known_hosts in its bundle, so they go
 * with the VM (a VM deleted and made again under the same name starts with none, and no
 * stale key in ~/.ssh/known_hosts trips the user) and stay apart from the user's own.
 * cove only makes the file, 0600, and never follows a link there (docs/BUNDLES.md); ssh
 * writes the keys (StrictHostKeyChecking=accept-new).
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cove/agent.h>

#include "store/store.h"

#define KNOWN_HOSTS "ssh_known_hosts"

int cove_ssh_known_hosts(const char *name, char *out, size_t n, struct cove_error *err)
{
    struct store s;
    char bundle[PATH_MAX];
    int rc = store_check_name(name, err);
    if (rc < 0 || (rc = store_open(&s, err)) < 0 ||
        (rc = store_find(&s, name, bundle, sizeof bundle, err)) < 0)
        return rc;
    if (store_path(out, n, "%s/" KNOWN_HOSTS, bundle) < 0)
        return cove_error_set(err, -ENAMETOOLONG, "COVE_HOME path is too long");
    int fd = open(out, O_WRONLY | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0 && errno == ELOOP)
        return cove_error_set(err, -ELOOP, "VM '%s': " KNOWN_HOSTS " is a symbolic link; cove "
                              "does not follow links in a bundle", name);
    if (fd < 0)
        return cove_error_set(err, -errno, "VM '%s': " KNOWN_HOSTS ": %s", name,
                              strerror(errno));
    struct stat st;
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode))
        rc = cove_error_set(err, -EINVAL, "VM '%s': " KNOWN_HOSTS " is not a regular file",
                            name);
    else if ((st.st_mode & 07777) != 0600 && fchmod(fd, 0600) < 0)
        rc = cove_error_set(err, -errno, "VM '%s': " KNOWN_HOSTS ": %s", name,
                            strerror(errno));
    close(fd);
    return rc;
}
