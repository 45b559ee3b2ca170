#!/bin/bash
# An installed cove stands on its own: `meson install` into a DESTDIR puts the binary,
# libcove (shared, with headers and cove.pc), the man page, bash completion and the default
# guest in place; the installed binary, run outside the source tree with COVE_GUEST_DIR
# unset, finds the guest under its own prefix and boots a VM that answers `uname -a`; with
# that guest removed it says so instead of reaching back into the source tree. A program
# of our own builds against the installed headers and library through pkg-config. Then the
# same from the Debian packages of scripts/build-deb.sh (about 90 s), unpacked with dpkg-deb
# into a directory (not installed into this machine), when debhelper is there.
. "$(dirname "$0")/lib.sh"
need_guest
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BUILD_DIR=$(cd "$(dirname "$COVE")" && pwd)
[ -f "$BUILD_DIR/build.ninja" ] || { echo "skip: $COVE is not in a Meson build directory"; exit 77; }
runner=""
trap '[ -n "$runner" ] && kill -9 $runner 2>/dev/null; rm -rf "$TMP"' EXIT
GUEST=$COVE_GUEST_DIR

# boots BIN VMNAME: with COVE_GUEST_DIR unset and the working directory out of the source
# tree, BIN creates VMNAME from the default guest and runs `uname -a` in it.
boots() {
    local bin=$1 vm=$2 out
    (
        cd "$TMP"
        unset COVE_GUEST_DIR
        export COVE_HOME=$TMP/home
        "$bin" create "$vm" --memory 256M --disk-size 1G >/dev/null || fail "$bin: create"
        if "$bin" run --help 2>&1 | grep -q -- '-- CMD'; then
            out=$(timeout 300 "$bin" run "$vm" -- uname -a </dev/null 2>"$TMP/run.err") ||
                { cat "$TMP/run.err"; fail "$bin: run $vm -- uname -a"; }
        else
            # until `cove run NAME -- CMD` exists: run, exec, stop
            "$bin" run "$vm" --no-console </dev/null >"$TMP/run.out" 2>&1 &
            local pid=$!
            echo $pid >"$TMP/runner"
            for _ in $(seq 300); do
                "$bin" exec "$vm" -- true 2>/dev/null && break
                kill -0 $pid 2>/dev/null || break
                sleep 0.5
            done
            out=$("$bin" exec "$vm" -- uname -a) ||
                { cat "$TMP/run.out" "$COVE_HOME/vms/$vm/run/console.log"; fail "$bin: exec"; }
            "$bin" stop "$vm" --timeout 30 >/dev/null || fail "$bin: stop"
            wait $pid || fail "$bin: run exited $?"
        fi
        [[ $out == Linux*riscv64* ]] || fail "$bin: uname -a said: $out"
        echo "ok: $bin, COVE_GUEST_DIR unset, in $PWD: $out"
    ) || { runner=$(cat "$TMP/runner" 2>/dev/null); exit 1; }
}

# --- meson install into a DESTDIR --------------------------------------------------------
DEST=$TMP/dest
# COVE_GUEST_DIR is what the install copies when the build has no -Dguest_dir
COVE_GUEST_DIR=$GUEST meson install -C "$BUILD_DIR" --no-rebuild --destdir "$DEST" \
    >"$TMP/install.log" 2>&1 || { cat "$TMP/install.log"; fail "meson install"; }
BIN=$(find "$DEST" -path '*/bin/cove' -type f)
[ -n "$BIN" ] && [ -x "$BIN" ] || fail "no bin/cove installed"
PREFIX=$(dirname "$(dirname "$BIN")")
for f in share/cove/guest/Image share/cove/guest/initrd share/man/man1/cove.1 \
         share/bash-completion/completions/cove include/cove/cove.h include/cove/config.h \
         include/cove/error.h; do
    [ -f "$PREFIX/$f" ] || fail "not installed: $f"
done
cmp -s "$PREFIX/share/cove/guest/Image" "$KERNEL" || fail "the installed Image is not the guest's"
LIBDIR=$(dirname "$(find "$PREFIX" -name libcove.so.0 | head -n 1)")
[ -f "$LIBDIR/pkgconfig/cove.pc" ] || fail "no libcove.so.0 with a pkgconfig/cove.pc beside it"
echo "ok: installed under $PREFIX (binary, library, headers, cove.pc, man page, completion, guest)"

# --- the installed cove, away from the source tree ---------------------------------------
boots "$BIN" dev
cd "$TMP"
unset COVE_GUEST_DIR
export COVE_HOME=$TMP/home
cove() { "$BIN" "$@"; }

# Without its installed guest it fails in one line; it does not build one from the sources.
mv "$PREFIX/share/cove/guest" "$TMP/guest.moved"
cove create other >"$TMP/out" 2>"$TMP/err" && fail "create without an installed guest succeeded"
[ "$(wc -l <"$TMP/err")" -eq 1 ] && grep -q 'default guest is not installed' "$TMP/err" ||
    { cat "$TMP/err"; fail "create without an installed guest: wrong message"; }
[ ! -e "$COVE_HOME/vms/other" ] || fail "a failed create left a bundle"
echo "ok: no installed guest: $(cat "$TMP/err")"

# --- a program of our own against the installed library --------------------------------
cat >"$TMP/use.c" <<'C'
#include <cove/cove.h>
#include <stdio.h>
int main(void)
{
    struct cove_error err = {0};
    if (cove_name_check("dev", &err) < 0 || cove_name_check("a/b", &err) == 0)
        return 1;
    puts(err.message);
    return 0;
}
C
flags=$(PKG_CONFIG_PATH=$LIBDIR/pkgconfig PKG_CONFIG_SYSROOT_DIR=$DEST pkg-config --cflags --libs cove) ||
    fail "pkg-config cove"
cc -Wall -Werror -o "$TMP/use" "$TMP/use.c" $flags || fail "cannot build against libcove: $flags"
LD_LIBRARY_PATH=$LIBDIR ldd "$TMP/use" | grep -q "$LIBDIR/libcove.so.0" || fail "not linked to libcove.so.0"
msg=$(LD_LIBRARY_PATH=$LIBDIR "$TMP/use") || fail "the program against libcove.so failed"
echo "ok: a program built with pkg-config against libcove.so.0: $msg"

# --- the Debian packages -----------------------------------------------------------------
if ! command -v dpkg-buildpackage >/dev/null || ! command -v dh >/dev/null; then
    echo "skip: the .deb (no dpkg-buildpackage or debhelper: scripts/install-deps.sh)"
    exit 0
fi
"$ROOT/scripts/build-deb.sh" "$TMP/debs" >"$TMP/debs.list" 2>"$TMP/deb.log" ||
    { tail -n 40 "$TMP/deb.log"; fail "scripts/build-deb.sh"; }
for pkg in cove libcove-dev; do
    deb=$(grep "/${pkg}_[^/]*_amd64\.deb\$" "$TMP/debs.list") || fail "no $pkg .deb"
    dpkg-deb -x "$deb" "$TMP/deb-root" || fail "dpkg-deb -x $deb"
done
R=$TMP/deb-root/usr
for f in bin/cove share/cove/guest/Image share/cove/guest/initrd share/man/man1/cove.1.gz \
         share/bash-completion/completions/cove include/cove/cove.h; do
    [ -f "$R/$f" ] || fail "not in the packages: /usr/$f"
done
ls "$R"/lib/*/libcove.so.0 "$R"/lib/*/pkgconfig/cove.pc >/dev/null || fail "no libcove.so.0 or cove.pc"
echo "ok: the .debs hold the binary, library, headers, cove.pc, man page, completion, guest"
boots "$R/bin/cove" deb
