/* Stored shared directories and their grants (shares.c). */
#ifndef COVE_STORE_SHARES_H
#define COVE_STORE_SHARES_H
#include <cove/config.h>
#include <cove/error.h>

#include "store/store.h"

#define STORE_GRANT_LEN 64

/* Replaces cfg's shares by these (`--dir` as parsed: relative paths are resolved, each must
 * be a directory), each sealed with this COVE_HOME's key. 0 or <0 with one line; cfg is
 * unchanged on failure. */
int store_set_shares(const struct store *s, struct cove_config *cfg,
                     const struct cove_share_config *shares, unsigned n, struct cove_error *err);

/* 0 when sh's grant is this COVE_HOME's seal of it; -EPERM with a line naming VM `vm` and
 * how to grant it otherwise. */
int store_share_check(const struct store *s, const char *vm, const struct cove_share_config *sh,
                      struct cove_error *err);
/* Removes cfg's stored shares (a configuration that came from elsewhere). */
void store_drop_shares(struct cove_config *cfg);
#endif
