#!/bin/sh
# Run as root by images/derive.sh in a chroot on the base image's root file system, after the
# template's packages: the display logs in by itself, then the build's traces go (a build
# user if one is named, cloud-init's state, SSH host keys, machine-id, apt's lists and
# archives) so every VM's first boot is its own.
#   setup.sh [BUILD_USER]
set -eu
build_user=${1:-}

# --- the display: tty1 logs in the first user (uid 1000: the VM's cloud-init user), whose
# login shell on tty1 starts X (startx: Xorg's modesetting driver on virtio-gpu's DRM
# device, rootless through logind), Openbox and an xterm.
install -d /usr/local/lib/cove
cat >/usr/local/lib/cove/autologin <<'SH'
#!/bin/sh
# getty on tty1: the first user (uid 1000) logs in without a password; none yet: a prompt
user=$(getent passwd 1000 | cut -d: -f1)
[ -n "$user" ] && exec /sbin/agetty --autologin "$user" --noclear "$1" "$2"
exec /sbin/agetty --noclear "$1" "$2"
SH
chmod 0755 /usr/local/lib/cove/autologin
install -d /etc/systemd/system/getty@tty1.service.d
cat >/etc/systemd/system/getty@tty1.service.d/cove-autologin.conf <<'UNIT'
[Unit]
# cloud-init makes the user on the first boot
After=cloud-init.service
[Service]
ExecStart=
ExecStart=-/usr/local/lib/cove/autologin %I $TERM
UNIT
systemctl enable getty@tty1.service
cat >/etc/profile.d/cove-desktop.sh <<'SH'
# cove desktop image: the login on tty1 starts the X session (once)
if [ -z "${DISPLAY:-}" ] && [ "$(tty 2>/dev/null)" = /dev/tty1 ] && [ "$(id -u)" -ne 0 ]; then
    exec startx -- -nolisten tcp >"$HOME/.xsession-errors" 2>&1
fi
SH
# Xorg's modesetting driver without glamor: virtio-gpu here is 2D (no virgl), so glamor's
# EGL would be Mesa's llvmpipe, LLVM compiling shaders on the soft CPU (Xorg spent minutes
# of CPU in it before its first frame, and every drawing would go through it). The
# shadow framebuffer instead: plain stores, flushed to the display's resource by damage.
install -d /etc/X11/xorg.conf.d
cat >/etc/X11/xorg.conf.d/20-cove-display.conf <<'CONF'
Section "Device"
    Identifier "cove display (virtio-gpu)"
    Driver "modesetting"
    Option "AccelMethod" "none"
EndSection
CONF
install -d /etc/xdg/openbox
grep -q '^xterm' /etc/xdg/openbox/autostart 2>/dev/null ||
    echo 'xterm -geometry 100x30+40+40 &' >>/etc/xdg/openbox/autostart
# `cove clipboard`: X's CLIPBOARD of the display through xclip, as its user
cat >/usr/local/bin/cove-clipboard <<'SH'
#!/bin/sh
# cove-clipboard get|set: prints or sets (from stdin) the display's CLIPBOARD selection
user=$(getent passwd 1000 | cut -d: -f1)
home=$(getent passwd 1000 | cut -d: -f6)
[ -n "$user" ] && [ -S /tmp/.X11-unix/X0 ] || { echo "cove-clipboard: no X display :0 yet" >&2; exit 3; }
case ${1:-} in
get) exec runuser -u "$user" -- env DISPLAY=:0 XAUTHORITY="$home/.Xauthority" xclip -o -selection clipboard ;;
set) exec runuser -u "$user" -- env DISPLAY=:0 XAUTHORITY="$home/.Xauthority" setsid xclip -i -selection clipboard >/dev/null 2>&1 ;;
*) echo "usage: cove-clipboard get|set" >&2; exit 2 ;;
esac
SH
chmod 0755 /usr/local/bin/cove-clipboard

# --- what the first boot would otherwise do under the soft CPU: packages were installed in
# /usr since the base was made, so systemd's update units (ConditionNeedsUpdate: ldconfig,
# the hwdb, the journal's catalog) would run on every VM's first boot, minutes before udev
# starts (a first boot under load timed out waiting for /dev/ttyS0). apt's triggers made the
# linker cache and udev's hwdb (in /usr) already; the catalog is made here, then
# systemd-update-done's stamps say they are all current.
ldconfig
journalctl --update-catalog
/usr/lib/systemd/systemd-update-done

# --- the build's traces
[ -z "$build_user" ] || userdel -r "$build_user" 2>/dev/null || true
rm -f "/etc/sudoers.d/90-cloud-init-users"
apt-get clean
rm -rf /var/lib/apt/lists/*
rm -f /etc/ssh/ssh_host_*
cloud-init clean --logs --seed
truncate -s 0 /etc/machine-id
rm -f /var/lib/dbus/machine-id
rm -f "$0"
sync
