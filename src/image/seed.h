/*
 * seed.h — the NoCloud seed of a distribution VM: the small FAT disk labelled CIDATA that
 * cloud-init reads on first boot (its "meta-data" and "user-data" files).
 *
 * cove's own user-data is a #cloud-config that names the host, makes one user with
 * passwordless sudo and the host user's SSH keys, and sets the timezone and locale. A
 * user's own cloud-config (--user-data FILE) goes with it as a second part of a multi-part
 * MIME message, which cloud-init merges after cove's: where both set a key, the user's wins.
 *
 * Every value is written as a YAML double-quoted scalar in plain ASCII (anything else
 * escaped), so no value -- a key's comment, a hostname -- can end its string or start a
 * line of its own. The image is made by mkfs.vfat and mcopy (dosfstools, mtools), run
 * without a shell and with a deadline, under a temporary name renamed into place.
 */
#ifndef COVE_IMAGE_SEED_H
#define COVE_IMAGE_SEED_H

#include <cove/error.h>

struct seed_options {
    const char *hostname;        /* local-hostname and hostname */
    const char *instance_id;     /* a new one makes cloud-init run its first boot again */
    const char *user;            /* [a-z_][a-z0-9_-]{0,31} */
    const char *const *ssh_keys; /* authorized keys, one line each */
    unsigned nkeys;
    const char *timezone;        /* "Europe/Paris", or NULL */
    const char *locale;          /* "fr_FR.UTF-8"; NULL, C, POSIX and C.*: none set */
    const char *user_data;       /* the user's own cloud-config text, or NULL */
};

/* Writes the seed image to path (replacing it only once whole). 0 or a negative errno. */
int seed_write(const char *path, const struct seed_options *o, struct cove_error *err);

/* The text of cove's own #cloud-config and of meta-data (malloc'd; NULL and err set on a
 * value seed_write would refuse). seed_write writes these; tests read them. */
char *seed_cloud_config(const struct seed_options *o, struct cove_error *err);
char *seed_meta_data(const struct seed_options *o, struct cove_error *err);

/* A --user-data file's text must be cloud-config: 0, or -EINVAL with "FILE is not
 * cloud-config: its first line must be #cloud-config" (name is FILE in the message). */
int seed_check_user_data(const char *name, const char *text, struct cove_error *err);

/* What the host offers as first-boot settings. */
struct seed_host {
    char timezone[128]; /* "" when the host's is unknown */
    char locale[64];    /* "" for C/POSIX or unset */
    char **keys;        /* malloc'd lines */
    unsigned nkeys;
};

/* Fills h from the host: the timezone (root/etc/timezone, else the root/etc/localtime link;
 * root NULL is "/"), the locale (LC_ALL, else LANG) and the public keys in the .pub files of
 * home/.ssh (home NULL: $HOME), in name order. No key: -ENOENT, "no SSH public key in ~/.ssh; make
 * one with ssh-keygen or pass --ssh-key FILE". seed_host_free(h) after, whatever it returns. */
int seed_host_defaults(const char *root, const char *home, struct seed_host *h,
                       struct cove_error *err);

/* Adds the keys of one public key file (--ssh-key FILE): each line that is not empty or a
 * # comment. A file with none is -EINVAL. */
int seed_host_add_keys(struct seed_host *h, const char *file, struct cove_error *err);

void seed_host_free(struct seed_host *h);

#endif
