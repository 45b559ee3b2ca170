#!/bin/bash
# The cove-agent Debian package (images/debian/agent/build-deb.sh) for distribution images:
# its control fields, its files and their modes, a static riscv64 agent, systemd units that
# systemd-analyze accepts, maintainer scripts that enable the units in a root without a
# running systemd, and the same bytes from a second build in another directory.
# The package at work in a Debian VM is the image test's (the lead's).
. "$(dirname "$0")/lib.sh"
SRC=$(cd "$(dirname "$0")/../.." && pwd)
BUILD_DEB=$SRC/images/debian/agent/build-deb.sh
for t in riscv64-linux-gnu-gcc dpkg-deb readelf; do
    command -v $t >/dev/null || { echo "no $t (scripts/install-deps.sh)"; exit 77; }
done

deb=$("$BUILD_DEB" "$TMP/a" 2>"$TMP/err") || { cat "$TMP/err"; fail "build-deb.sh failed"; }
[ -f "$deb" ] && [ "$(dirname "$deb")" = "$TMP/a" ] || fail "build-deb.sh printed '$deb'"
[ "$(ls "$TMP/a")" = "$(basename "$deb")" ] || fail "OUTDIR holds more than the .deb: $(ls "$TMP/a")"
echo "ok: built $(basename "$deb")"

# --- control ---------------------------------------------------------------------------------
field() { dpkg-deb -f "$deb" "$1"; }
[ "$(field Package)" = cove-agent ] || fail "Package: $(field Package)"
[ "$(field Architecture)" = riscv64 ] || fail "Architecture: $(field Architecture)"
[[ "$(field Version)" =~ ^1\.0\+[0-9a-f]{12}$ ]] || fail "Version: $(field Version)"
[ "$(basename "$deb")" = "cove-agent_$(field Version)_riscv64.deb" ] || fail "file name $deb"
[ "$(field Recommends)" = openssh-server ] || fail "Recommends: $(field Recommends)"
[ -z "$(field Depends)" ] && [ -z "$(field Pre-Depends)" ] || fail "it depends on something"
dpkg-deb -I "$deb" >"$TMP/info"
for s in postinst prerm postrm; do
    grep -qE "^ +[0-9]+ bytes, +[0-9]+ lines +\* +$s +#!/bin/sh" "$TMP/info" ||
        { cat "$TMP/info"; fail "no executable $s"; }
done
echo "ok: control: $(field Package) $(field Version) $(field Architecture), Recommends openssh-server"

# --- contents: every path, its mode and owner, one mtime ------------------------------------
dpkg-deb -c "$deb" | awk '{print $1, $2, $6}' >"$TMP/list"
cat >"$TMP/want" <<'LIST'
drwxr-xr-x root/root ./
drwxr-xr-x root/root ./usr/
drwxr-xr-x root/root ./usr/lib/
drwxr-xr-x root/root ./usr/lib/cove/
-rwxr-xr-x root/root ./usr/lib/cove/cove-shares
drwxr-xr-x root/root ./usr/lib/modules-load.d/
-rw-r--r-- root/root ./usr/lib/modules-load.d/cove-agent.conf
drwxr-xr-x root/root ./usr/lib/systemd/
drwxr-xr-x root/root ./usr/lib/systemd/system/
-rw-r--r-- root/root ./usr/lib/systemd/system/cove-agent.service
-rw-r--r-- root/root ./usr/lib/systemd/system/cove-shares.service
-rw-r--r-- root/root ./usr/lib/systemd/system/cove-ssh.socket
-rw-r--r-- root/root ./usr/lib/systemd/system/cove-ssh@.service
drwxr-xr-x root/root ./usr/sbin/
-rwxr-xr-x root/root ./usr/sbin/cove-agent
LIST
diff "$TMP/want" "$TMP/list" || fail "the package's contents differ (above)"
mtimes=$(dpkg-deb -c "$deb" | awk '{print $4, $5}' | sort -u)
[ "$mtimes" = "$(TZ=UTC0 date -d @1700000000 '+%Y-%m-%d %H:%M')" ] ||
    [ "$mtimes" = "$(date -d @1700000000 '+%Y-%m-%d %H:%M')" ] || fail "mtimes: $mtimes"
echo "ok: contents, modes, root/root, one fixed mtime"

# --- the agent: a static riscv64 ELF, stripped -----------------------------------------------
R=$TMP/root
dpkg-deb -x "$deb" "$R"
readelf -h "$R/usr/sbin/cove-agent" >"$TMP/elf" || fail "cove-agent is not an ELF file"
expect_in "$TMP/elf" 'Class: +ELF64'
expect_in "$TMP/elf" 'Machine: +RISC-V'
expect_in "$TMP/elf" 'Type: +EXEC'
readelf -lW "$R/usr/sbin/cove-agent" >"$TMP/phdr"
! grep -qE 'INTERP|DYNAMIC' "$TMP/phdr" || fail "cove-agent is dynamically linked"
! readelf -SW "$R/usr/sbin/cove-agent" | grep -q '\.symtab' || fail "cove-agent is not stripped"
echo "ok: /usr/sbin/cove-agent is a static, stripped riscv64 ELF"

# --- the units -------------------------------------------------------------------------------
U=$R/usr/lib/systemd/system
has() { grep -qxF -- "$2" "$U/$1" || fail "$1 lacks '$2'"; }
has cove-agent.service 'ExecStart=/usr/sbin/cove-agent'
has cove-agent.service 'ExecStartPre=-/sbin/modprobe vmw_vsock_virtio_transport'
has cove-agent.service 'DefaultDependencies=no'
has cove-agent.service 'Restart=always'
has cove-agent.service 'KillMode=process'
has cove-ssh.socket 'ListenStream=vsock::22'
has cove-ssh.socket 'Accept=yes'
has cove-ssh.socket 'WantedBy=multi-user.target'
has cove-ssh@.service 'ExecStart=-/usr/sbin/sshd -i'
has cove-ssh@.service 'StandardInput=socket'
has cove-ssh@.service 'RuntimeDirectory=sshd'
has cove-shares.service 'ExecStart=/usr/lib/cove/cove-shares'
has cove-shares.service 'WantedBy=multi-user.target'
sh -n "$R/usr/lib/cove/cove-shares" || fail "cove-shares is not a valid shell script"
# it mounts what the kernel lists, each tag checked: run it against a fake /sys with a mount
# that records its arguments
mkdir -p "$TMP/fake/bin" "$TMP/fake/sys/0" "$TMP/fake/sys/1" "$TMP/fake/sys/2"
printf 'src\n' >"$TMP/fake/sys/0/tag"
printf '../etc\n' >"$TMP/fake/sys/1/tag"
printf 'data.1\n' >"$TMP/fake/sys/2/tag"
printf '#!/bin/sh\necho "$*" >>%s\n' "$TMP/fake/mounts" >"$TMP/fake/bin/mount"
printf '#!/bin/sh\nexit 1\n' >"$TMP/fake/bin/mountpoint"
printf '#!/bin/sh\nexit 0\n' >"$TMP/fake/bin/modprobe"
printf '#!/bin/sh\nexit 0\n' >"$TMP/fake/bin/mkdir"
chmod +x "$TMP/fake/bin/"*
sed "s|/sys/fs/virtiofs|$TMP/fake/sys|" "$R/usr/lib/cove/cove-shares" >"$TMP/fake/cove-shares"
PATH=$TMP/fake/bin:$PATH sh "$TMP/fake/cove-shares" || fail "cove-shares failed"
printf -- '-t virtiofs src /mnt/cove/src\n-t virtiofs data.1 /mnt/cove/data.1\n' >"$TMP/fake/want"
diff "$TMP/fake/want" "$TMP/fake/mounts" || fail "cove-shares mounted other than src and data.1 (above)"
grep -qx vmw_vsock_virtio_transport "$R/usr/lib/modules-load.d/cove-agent.conf" ||
    fail "modules-load.d does not load vmw_vsock_virtio_transport"
if command -v systemd-analyze >/dev/null; then
    # verify checks that ExecStart= exists here: point it at the extracted agent
    mkdir "$TMP/units"
    cp "$U"/* "$TMP/units/"
    sed -i "s|^ExecStart=/usr/sbin/cove-agent|ExecStart=$R/usr/sbin/cove-agent|" \
        "$TMP/units/cove-agent.service"
    sed -i "s|^ExecStart=/usr/lib/cove/cove-shares|ExecStart=$R/usr/lib/cove/cove-shares|" \
        "$TMP/units/cove-shares.service"
    (cd "$TMP/units" && systemd-analyze verify --man=no ./cove-agent.service \
        ./cove-ssh.socket ./cove-ssh@1.service ./cove-shares.service) >"$TMP/verify" 2>&1 ||
        { cat "$TMP/verify"; fail "systemd-analyze verify"; }
    # and it does complain about a bad unit here (the check is not a no-op)
    sed 's/^ListenStream=.*/ListenStream=vsock:x:22/' "$TMP/units/cove-ssh.socket" >"$TMP/units/bad.socket"
    ! (cd "$TMP/units" && systemd-analyze verify --man=no ./bad.socket) >/dev/null 2>&1 ||
        fail "systemd-analyze verify accepts a bad socket"
    echo "ok: systemd-analyze verify accepts the units"
else
    echo "skip: no systemd-analyze here"
fi

# --- maintainer scripts, in a root without a running systemd (as in the image build); dpkg
# would set DPKG_MAINTSCRIPT_PACKAGE, which deb-systemd-helper wants ---------------------------
if command -v deb-systemd-helper >/dev/null; then
    ctl=$TMP/control
    dpkg-deb -e "$deb" "$ctl"
    DPKG_ROOT=$R DPKG_MAINTSCRIPT_PACKAGE=cove-agent "$ctl/postinst" configure "" || fail "postinst configure failed"
    [ "$(readlink "$R/etc/systemd/system/sysinit.target.wants/cove-agent.service")" = \
        /usr/lib/systemd/system/cove-agent.service ] || fail "postinst did not enable cove-agent.service"
    [ "$(readlink "$R/etc/systemd/system/multi-user.target.wants/cove-ssh.socket")" = \
        /usr/lib/systemd/system/cove-ssh.socket ] || fail "postinst did not enable cove-ssh.socket"
    [ "$(readlink "$R/etc/systemd/system/sshd-vsock.socket")" = /dev/null ] ||
        fail "postinst did not mask systemd's sshd-vsock.socket"
    # an admin's disable survives an upgrade
    rm "$R/etc/systemd/system/multi-user.target.wants/cove-ssh.socket"
    DPKG_ROOT=$R DPKG_MAINTSCRIPT_PACKAGE=cove-agent "$ctl/postinst" configure 1.0+000000000000 || fail "postinst (upgrade) failed"
    [ ! -e "$R/etc/systemd/system/multi-user.target.wants/cove-ssh.socket" ] ||
        fail "an upgrade enabled a unit the admin disabled"
    DPKG_ROOT=$R DPKG_MAINTSCRIPT_PACKAGE=cove-agent "$ctl/prerm" remove || fail "prerm remove failed"
    DPKG_ROOT=$R DPKG_MAINTSCRIPT_PACKAGE=cove-agent "$ctl/postrm" purge || fail "postrm purge failed"
    left=$(cd "$R" && find etc var -type l 2>/dev/null)
    [ -z "$left" ] || fail "purge left links: $left"
    echo "ok: postinst enables the units and masks sshd-vsock.socket; purge removes them"
else
    echo "skip: no deb-systemd-helper here"
fi

# --- reproducible: a second build, from a copy of the sources elsewhere, the same bytes -----
mkdir -p "$TMP/src/images/debian" "$TMP/src/guest" "$TMP/src/debian"
cp -r "$SRC/images/debian/agent" "$TMP/src/images/debian/"
cp -r "$SRC/guest/agent" "$TMP/src/guest/"
cp "$SRC/debian/control" "$TMP/src/debian/"
deb2=$("$TMP/src/images/debian/agent/build-deb.sh" "$TMP/b" 2>"$TMP/err") ||
    { cat "$TMP/err"; fail "the second build failed"; }
cmp "$deb" "$deb2" || fail "two builds differ: $(sha256sum "$deb" "$deb2")"
echo "ok: reproducible ($(sha256sum <"$deb" | cut -c1-16))"

# a change to the agent is a new version
echo "/* changed */" >>"$TMP/src/guest/agent/agent.c"
deb3=$("$TMP/src/images/debian/agent/build-deb.sh" "$TMP/c" 2>"$TMP/err") ||
    { cat "$TMP/err"; fail "the third build failed"; }
[ "$(basename "$deb3")" != "$(basename "$deb")" ] || fail "a changed agent kept the version"
echo "ok: a changed agent gets a new version"

# bad use: one line, non-zero, nothing left
! "$BUILD_DEB" >/dev/null 2>"$TMP/err" || fail "build-deb.sh without OUTDIR succeeded"
[ "$(wc -l <"$TMP/err")" = 1 ] && grep -q usage "$TMP/err" || fail "usage message: $(cat "$TMP/err")"
echo "ok: usage"
echo "PASS"
