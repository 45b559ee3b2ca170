/*
 * The first-boot settings of a VM made from a distribution image: cloud-init's NoCloud seed
 * (seed.img in the bundle, a read-only second disk; src/image/seed.c writes it) and the
 * login user in config.json (guest.user, for `cove ssh`).
 */
#include "store/bundle.h"

#include "image/seed.h"

#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#define USER_DATA_MAX (1u << 20) /* cloud-init's own limit on a NoCloud seed is larger; a
                                    cloud-config of a megabyte is already a mistake */
#define FALLBACK_USER "cove"

/* The host user's name when it makes a good guest user; else "cove" (root, or a name that
 * is not a Linux user name). */
static void default_user(char *buf, size_t n)
{
    struct passwd *pw = getpwuid(getuid());
    const char *name = pw ? pw->pw_name : NULL;
    if (!name || !strcmp(name, "root") || !cove_guest_user_valid(name))
        name = FALLBACK_USER;
    snprintf(buf, n, "%s", name);
}

static int read_user_data(const char *file, char **text, struct cove_error *err)
{
    int fd = open(file, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return cove_error_set(err, -errno, "--user-data %s: %s", file, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_size > USER_DATA_MAX) {
        close(fd);
        return cove_error_set(err, -EINVAL, "--user-data %s: not a regular file of at most "
                              "1 MiB", file);
    }
    char *buf = malloc((size_t)st.st_size + 1);
    ssize_t got = buf ? read(fd, buf, (size_t)st.st_size) : -1;
    close(fd);
    if (got != st.st_size) {
        free(buf);
        return cove_error_set(err, -EIO, "--user-data %s: cannot read it", file);
    }
    buf[got] = 0;
    int rc = seed_check_user_data(file, buf, err);
    if (rc < 0) {
        free(buf);
        return rc;
    }
    *text = buf;
    return 0;
}

int store_add_seed(const char *tmp, const char *name, const struct cove_create_options *o,
                   struct cove_config *cfg, struct cove_error *err)
{
    char user[COVE_GUEST_USER_MAX + 1];
    if (o->user) {
        if (!cove_guest_user_valid(o->user))
            return cove_error_set(err, -EINVAL, "user '%s' is not a Linux user name "
                                  "([a-z_][a-z0-9_-]{0,31})", o->user);
        if (!strcmp(o->user, "root"))
            return cove_error_set(err, -EINVAL, "the login user cannot be root; pick a name "
                                  "of your own (it gets passwordless sudo)");
        snprintf(user, sizeof user, "%s", o->user);
    } else {
        default_user(user, sizeof user);
    }
    struct seed_host h;
    int rc = seed_host_defaults(NULL, NULL, &h, err);
    /* --ssh-key files replace the keys of ~/.ssh; without them, no key is an error */
    if (o->nssh_key_files) {
        for (unsigned i = 0; i < h.nkeys; i++)
            free(h.keys[i]);
        h.nkeys = 0;
        rc = 0;
        for (unsigned i = 0; i < o->nssh_key_files && rc == 0; i++)
            rc = seed_host_add_keys(&h, o->ssh_key_files[i], err);
    }
    char *user_data = NULL;
    if (rc == 0 && o->user_data_file)
        rc = read_user_data(o->user_data_file, &user_data, err);
    uint8_t id[6];
    char instance[128], path[PATH_MAX];
    if (rc == 0 && getrandom(id, sizeof id, 0) != (ssize_t)sizeof id)
        rc = cove_error_set(err, -EIO, "getrandom failed");
    if (rc == 0) {
        snprintf(instance, sizeof instance, "cove-%s-%02x%02x%02x%02x%02x%02x", name, id[0],
                 id[1], id[2], id[3], id[4], id[5]);
        if (store_path(path, sizeof path, "%s/" BUNDLE_SEED, tmp) < 0)
            rc = cove_error_set(err, -ENAMETOOLONG, "%s: path too long", tmp);
    }
    if (rc == 0) {
        struct seed_options so = {
            .hostname = name,
            .instance_id = instance,
            .user = user,
            .ssh_keys = (const char *const *)h.keys,
            .nkeys = h.nkeys,
            .timezone = *h.timezone ? h.timezone : NULL,
            .locale = *h.locale ? h.locale : NULL,
            .user_data = user_data,
        };
        rc = seed_write(path, &so, err);
    }
    free(user_data);
    seed_host_free(&h);
    if (rc < 0)
        return rc;
    if (chmod(path, 0600) < 0)
        return cove_error_set(err, -errno, "%s: %s", path, strerror(errno));
    unsigned d = cfg->ndisks;
    if (d >= COVE_MAX_DISKS)
        return cove_error_set(err, -EINVAL, "no disk slot left for the seed");
    if (!(cfg->disks[d].file = strdup(BUNDLE_SEED)) || !(cfg->guest_user = strdup(user)))
        return cove_error_set(err, -ENOMEM, "out of memory");
    cfg->disks[d].read_only = true;
    cfg->ndisks = d + 1;
    return 0;
}
