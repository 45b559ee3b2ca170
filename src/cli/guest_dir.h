/*
 * guest_dir.h — where the cove command finds the default guest (Image and initrd).
 */
#ifndef COVE_CLI_GUEST_DIR_H
#define COVE_CLI_GUEST_DIR_H

#include <stddef.h>

/*
 * Writes the default guest's directory into buf: $COVE_GUEST_DIR when set; else the one
 * installed beside this binary (PREFIX/share/cove/guest, found from /proc/self/exe); else,
 * for the cove of a Meson build tree only, what its source tree's guest/build.sh prints
 * (built once, then cached). Returns 0, or -1 after one line on stderr saying what to do.
 */
int cli_default_guest_dir(char *buf, size_t n);

/*
 * A file of cove's data (REL: e.g. "images/build.sh") into buf: DATADIR/cove/REL of the
 * installed cove, else REL in the source tree of a Meson build tree's cove. Returns 0, or -1
 * after one line on stderr.
 */
int cli_data_path(const char *rel, char *buf, size_t n);

#endif
