#!/bin/bash
# mmdebstrap's customize hook for the Debian template (images/build.sh): runs on the host with
# the new root file system in $1, its riscv64 programs through qemu-user (binfmt). Environment
# from build.sh: COVE_ROOT_UUID, COVE_ESP_UUID, COVE_CMDLINE, COVE_DEBS (the agent package).
set -euo pipefail
R=$1
in_root() { chroot "$R" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin LC_ALL=C.UTF-8 "$@"; }

# The cove agent (exec, cp, ip, clean stop) and ssh over vsock: cove-agent.deb.
for d in $COVE_DEBS; do in_root dpkg -i "/tmp/cove-debs/$d"; done

# Every VM gets its own identity on first boot: machine-id (systemd), SSH host keys
# (cloud-init's ssh module), hostname (cloud-init, from the seed cove makes).
: >"$R/etc/machine-id"
rm -f "$R/var/lib/dbus/machine-id" "$R"/etc/ssh/ssh_host_*
echo debian >"$R/etc/hostname"
printf '127.0.0.1\tlocalhost\n::1\t\tlocalhost ip6-localhost ip6-loopback\n' >"$R/etc/hosts"

cat >"$R/etc/fstab" <<FSTAB
# <file system>          <mount point>  <type>  <options>              <dump> <pass>
UUID=$COVE_ROOT_UUID  /          ext4  defaults,errors=remount-ro  0  1
UUID=$COVE_ESP_UUID             /boot/efi  vfat  umask=0077,nofail       0  2
FSTAB

# Network: DHCP on every Ethernet link (cove's NAT), names through systemd-resolved.
mkdir -p "$R/etc/systemd/network"
cat >"$R/etc/systemd/network/80-cove-dhcp.network" <<NET
[Match]
Type=ether

[Network]
DHCP=yes
NET
in_root systemctl enable systemd-networkd.service systemd-resolved.service >/dev/null 2>&1
ln -sf ../run/systemd/resolve/stub-resolv.conf "$R/etc/resolv.conf"
# network-online.target: one link up is enough, and a VM without a network (--net none) does
# not wait for one without end.
mkdir -p "$R/etc/systemd/system/systemd-networkd-wait-online.service.d"
cat >"$R/etc/systemd/system/systemd-networkd-wait-online.service.d/cove.conf" <<'WAIT'
[Service]
ExecStart=
ExecStart=/usr/lib/systemd/systemd-networkd-wait-online --any --timeout=30
WAIT

# cloud-init: only the NoCloud seed cove attaches (else "None"); the network is the one above.
cat >"$R/etc/cloud/cloud.cfg.d/90-cove.cfg" <<'CLOUD'
# cove: the seed is a disk labelled cidata (cove create); networking is systemd-networkd's.
datasource_list: [NoCloud, None]
network: {config: disabled}
# The image has no SSH host keys: cloud-init or the first `cove ssh` makes them, and neither
# replaces the other's (the host's ssh_known_hosts would see a new key).
ssh_deletekeys: false
CLOUD

# GRUB: an EFI image at the removable-media path (no NVRAM entry needed) that finds the root
# by UUID; grub.cfg as update-grub would write it. Inside the VM, Debian's own hooks take over:
# a kernel installed with apt runs update-grub (grub-probe works there).
mkdir -p "$R/boot/efi/EFI/BOOT" "$R/boot/grub"
cat >"$R/tmp/grub-early.cfg" <<EARLY
search --no-floppy --fs-uuid --set=root $COVE_ROOT_UUID
set prefix=(\$root)/boot/grub
EARLY
in_root grub-mkimage -O riscv64-efi -o /boot/efi/EFI/BOOT/BOOTRISCV64.EFI -p /boot/grub \
    -c /tmp/grub-early.cfg part_gpt part_msdos ext2 fat normal linux search search_fs_uuid \
    configfile echo ls cat test gzio zstd reboot halt loadenv true
rm -f "$R/tmp/grub-early.cfg"
cp -r "$R/usr/lib/grub/riscv64-efi" "$R/boot/grub/"
sed -i -e 's/^GRUB_TIMEOUT=.*/GRUB_TIMEOUT=1/' \
    -e "s|^GRUB_CMDLINE_LINUX_DEFAULT=.*|GRUB_CMDLINE_LINUX_DEFAULT=\"\"|" \
    -e "s|^GRUB_CMDLINE_LINUX=.*|GRUB_CMDLINE_LINUX=\"${COVE_CMDLINE% ro}\"|" "$R/etc/default/grub"
grep -q '^GRUB_DISABLE_OS_PROBER' "$R/etc/default/grub" || echo 'GRUB_DISABLE_OS_PROBER=true' >>"$R/etc/default/grub"
# grub-efi's own upgrades: no NVRAM writes, keep the removable path current.
in_root debconf-set-selections <<DEBCONF
grub-efi-riscv64 grub2/update_nvram boolean false
grub-efi-riscv64 grub2/force_efi_extra_removable boolean true
DEBCONF

KVER=$(cd "$R/boot" && ls vmlinu[xz]-* | sed "s/^vmlinu[xz]-//" | sort -V | tail -n 1)
[ -n "$KVER" ] || { echo "no kernel in /boot" >&2; exit 1; }
# Debian's riscv64 kernel is vmlinux-VERSION (an uncompressed Image with an EFI stub)
KIMG=vmlinux
[ -e "$R/boot/vmlinux-$KVER" ] || KIMG=vmlinuz
cat >"$R/boot/grub/grub.cfg" <<GRUB
# Written by cove's image build; update-grub in the VM replaces it.
set default=0
set timeout=1
insmod part_gpt
insmod ext2
search --no-floppy --fs-uuid --set=root $COVE_ROOT_UUID
menuentry 'Debian GNU/Linux' {
    linux /boot/$KIMG-$KVER root=UUID=$COVE_ROOT_UUID $COVE_CMDLINE
    initrd /boot/initrd.img-$KVER
}
GRUB
echo "$KIMG-$KVER" >"$R/boot/.cove-kernel-version"

# Where the archive stood: recorded in the image's description.
sed -n 's/^Date: //p' "$R"/var/lib/apt/lists/*_InRelease 2>/dev/null | head -n 1 >"$R/boot/.cove-archive-date" || true
apt_clean() { rm -rf "$R"/var/cache/apt/*.bin "$R"/var/cache/apt/archives/*.deb; }
apt_clean
