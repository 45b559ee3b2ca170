/*
 * Stored shared directories (config.json "shares") and their grants.
 *
 * A share stored in a bundle names a host directory, and whoever wrote the bundle need not
 * be whoever runs it (a bundle copied from elsewhere, pulled, or in a shared directory):
 * such a file must not open the user's home to a guest. So `cove create/set --dir` seals
 * each share with an HMAC-SHA256 under a key only this COVE_HOME holds ($COVE_HOME/share.key,
 * 32 random bytes, 0600, made on first use), and `cove run` uses a stored share only when
 * its grant verifies. Any other share -- edited, copied from another machine, made by hand --
 * is refused with a line that says how to grant it. The seal covers the name, the path and
 * read_only: widening a read-only share or pointing it elsewhere breaks it.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "store/store.h"
#include "store/shares.h"

#define KEY_FILE "share.key"
#define KEY_LEN 32

static int read_key(int fd, unsigned char key[KEY_LEN])
{
    struct stat st;
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_size != KEY_LEN)
        return -EINVAL;
    size_t got = 0;
    while (got < KEY_LEN) {
        ssize_t n = read(fd, key + got, KEY_LEN - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -EIO;
        got += (size_t)n;
    }
    return 0;
}

/* The key, made when missing: written under a temporary name and linked into place, so
 * that of two first uses at once both end with the one key that won. */
static int load_key(const struct store *s, unsigned char key[KEY_LEN], struct cove_error *err)
{
    char path[PATH_MAX], tmp[PATH_MAX];
    if (store_path(path, sizeof path, "%s/" KEY_FILE, s->home) < 0 ||
        store_temp_path(s->home, "key", tmp, sizeof tmp) < 0)
        return cove_error_set(err, -ENAMETOOLONG, "COVE_HOME path is too long");
    for (int attempt = 0; attempt < 2; attempt++) {
        int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
        if (fd >= 0) {
            int rc = read_key(fd, key);
            close(fd);
            if (rc < 0)
                return cove_error_set(err, rc, "%s is not a key of %d bytes; remove it (the "
                                      "stored shares must then be granted again with `cove set "
                                      "NAME --dir`)", path, KEY_LEN);
            return 0;
        }
        if (errno != ENOENT)
            return cove_error_set(err, -errno, "%s: %s", path, strerror(errno));
        unsigned char fresh[KEY_LEN];
        if (getrandom(fresh, sizeof fresh, 0) != (ssize_t)sizeof fresh)
            return cove_error_set(err, -EIO, "getrandom failed: %s", strerror(errno));
        fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
        if (fd < 0)
            return cove_error_set(err, -errno, "cannot create %s: %s", tmp, strerror(errno));
        bool ok = write(fd, fresh, sizeof fresh) == (ssize_t)sizeof fresh && fsync(fd) == 0;
        close(fd);
        int rc = ok && link(tmp, path) == 0 ? 0 : -errno;
        unlink(tmp);
        if (rc < 0 && rc != -EEXIST)
            return cove_error_set(err, ok ? rc : -EIO, "cannot write %s: %s", path,
                                  strerror(ok ? -rc : EIO));
        store_sync_dir(s->home);
    }
    return cove_error_set(err, -EIO, "%s: cannot read the key", path);
}

/* HMAC-SHA256 over "cove-share-v1", name, path and ro|rw, each ended by a NUL (no part
 * can hold one), as 64 hex digits. */
static int seal(const unsigned char key[KEY_LEN], const struct cove_share_config *sh,
                char out[STORE_GRANT_LEN + 1])
{
    static const char tag[] = "cove-share-v1";
    size_t nl = strlen(sh->name), pl = strlen(sh->path);
    size_t len = sizeof tag + nl + 1 + pl + 1 + 3;
    unsigned char *msg = malloc(len), md[EVP_MAX_MD_SIZE];
    unsigned mdlen = 0;
    if (!msg)
        return -ENOMEM;
    unsigned char *p = msg;
    memcpy(p, tag, sizeof tag);
    p += sizeof tag;
    memcpy(p, sh->name, nl + 1);
    p += nl + 1;
    memcpy(p, sh->path, pl + 1);
    p += pl + 1;
    memcpy(p, sh->read_only ? "ro" : "rw", 3);
    bool ok = HMAC(EVP_sha256(), key, KEY_LEN, msg, len, md, &mdlen) && mdlen == 32;
    free(msg);
    if (!ok)
        return -EIO;
    for (unsigned i = 0; i < 32; i++)
        snprintf(out + 2 * i, 3, "%02x", md[i]);
    return 0;
}

int store_share_check(const struct store *s, const char *vm, const struct cove_share_config *sh,
                      struct cove_error *err)
{
    unsigned char key[KEY_LEN];
    char want[STORE_GRANT_LEN + 1];
    int rc = load_key(s, key, err);
    if (rc < 0)
        return rc;
    rc = seal(key, sh, want);
    OPENSSL_cleanse(key, sizeof key);
    if (rc < 0)
        return cove_error_set(err, rc, "cannot compute a share's grant");
    if (sh->grant && strlen(sh->grant) == STORE_GRANT_LEN &&
        CRYPTO_memcmp(want, sh->grant, STORE_GRANT_LEN) == 0)
        return 0;
    return cove_error_set(err, -EPERM,
                          "VM '%s': the shared directory '%s' (%s%s) in config.json was not "
                          "granted by this cove (a bundle from elsewhere, or edited); grant it "
                          "with `cove set %s --dir %s:%s%s` or drop the stored shares with "
                          "`cove set %s --no-dirs`", vm, sh->name, sh->path,
                          sh->read_only ? ", read-only" : "", vm, sh->name, sh->path,
                          sh->read_only ? ":ro" : "", vm);
}

/* One share as given (`--dir [NAME:]PATH[:ro]`, parsed): the directory must exist; its
 * real path is what is stored and sealed. */
static int make_share(const unsigned char key[KEY_LEN], const struct cove_share_config *in,
                      struct cove_share_config *out, struct cove_error *err)
{
    char real[PATH_MAX];
    struct stat st;
    *out = (struct cove_share_config){.read_only = in->read_only};
    if (!in->name || !cove_share_name_valid(in->name))
        return cove_error_set(err, -EINVAL, "--dir: '%s' is not a share name (1-36 of "
                              "[A-Za-z0-9._-], not starting with '.' or '-')",
                              in->name ? in->name : "");
    if (!in->path || !realpath(in->path, real))
        return cove_error_set(err, in->path ? -errno : -EINVAL, "--dir %s: %s",
                              in->path ? in->path : "", strerror(in->path ? errno : EINVAL));
    if (stat(real, &st) < 0 || !S_ISDIR(st.st_mode))
        return cove_error_set(err, -ENOTDIR, "--dir %s: not a directory; share a directory",
                              in->path);
    if (!(out->name = strdup(in->name)) || !(out->path = strdup(real)) ||
        !(out->grant = malloc(STORE_GRANT_LEN + 1)))
        return cove_error_set(err, -ENOMEM, "out of memory");
    if (seal(key, out, out->grant) < 0)
        return cove_error_set(err, -EIO, "cannot compute a share's grant");
    return 0;
}

static void free_share(struct cove_share_config *sh)
{
    free(sh->name);
    free(sh->path);
    free(sh->grant);
    *sh = (struct cove_share_config){0};
}

void store_drop_shares(struct cove_config *cfg)
{
    for (unsigned i = 0; i < COVE_MAX_SHARES; i++)
        free_share(&cfg->shares[i]);
    cfg->nshares = 0;
}

int store_set_shares(const struct store *s, struct cove_config *cfg,
                     const struct cove_share_config *shares, unsigned n, struct cove_error *err)
{
    if (n > COVE_MAX_SHARES)
        return cove_error_set(err, -EINVAL, "%u shared directories; a VM has at most %d", n,
                              COVE_MAX_SHARES);
    for (unsigned i = 0; i < n; i++)
        for (unsigned j = 0; j < i; j++)
            if (shares[i].name && shares[j].name && !strcmp(shares[i].name, shares[j].name))
                return cove_error_set(err, -EINVAL, "two shared directories are named '%s'; "
                                      "give each its own: --dir NAME:PATH", shares[i].name);
    unsigned char key[KEY_LEN];
    int rc = n ? load_key(s, key, err) : 0;
    if (rc < 0)
        return rc;
    struct cove_share_config made[COVE_MAX_SHARES] = {{0}};
    for (unsigned i = 0; i < n && rc == 0; i++)
        rc = make_share(key, &shares[i], &made[i], err);
    OPENSSL_cleanse(key, sizeof key);
    if (rc < 0) {
        for (unsigned i = 0; i < n; i++)
            free_share(&made[i]);
        return rc;
    }
    for (unsigned i = 0; i < COVE_MAX_SHARES; i++)
        free_share(&cfg->shares[i]);
    memcpy(cfg->shares, made, sizeof made);
    cfg->nshares = n;
    return 0;
}
