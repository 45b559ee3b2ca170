#!/bin/sh
# Meson install script (meson.build): copies the default guest's Image and initrd into
# $DESTDIR$PREFIX/DATADIR/cove/guest, where an installed cove finds it.
#   install-guest.sh DATADIR/cove/guest [GUEST_DIR]
# GUEST_DIR empty: the default guest as this tree's own cove finds it, $COVE_GUEST_DIR, else
# guest/build.sh's (built once, then cached).
set -eu
dest=$1
src=${2:-}
case $dest in
/*) dest=${DESTDIR:-}$dest ;;
*) dest=$MESON_INSTALL_DESTDIR_PREFIX/$dest ;;
esac
[ -n "$src" ] || src=${COVE_GUEST_DIR:-}
if [ -z "$src" ]; then
    src=$("$MESON_SOURCE_ROOT/guest/build.sh") || {
        echo "cove: cannot build the default guest; install with -Dguest_dir=PATH or -Dguest=false" >&2
        exit 1
    }
fi
for f in Image initrd; do
    [ -f "$src/$f" ] || {
        echo "cove: $src/$f: no such file; -Dguest_dir must name a directory with Image and initrd" >&2
        exit 1
    }
done
echo "Installing the default guest from $src to $dest"
install -d "$dest"
install -m 0644 "$src/Image" "$src/initrd" "$dest/"
