#!/bin/bash
# A Debian VM from Debian's own archive, end to end (docs/IMAGES.md): the image built by
# images/build.sh (cached across runs), `cove create --from debian`, booted through OpenSBI ->
# U-Boot -> GRUB -> Debian's kernel, systemd, cloud-init's user with the host user's key, the
# agent (exec, stop), ssh over vsock, apt through NAT, a grown root, a kernel installed with apt
# booting on the next start, a clean e2fsck after `cove stop`, a second create in constant
# time; the host's locale, a shared directory at /mnt/cove/src, virtio-balloon (memory
# figures, a target met); and --boot direct from an NVMe disk with an NBD export attached.
# timeout: 2400
. "$(dirname "$0")/lib.sh"
need_image debian
export COVE_HOME=$TMP/home
# The "host user" of this test: a HOME of its own with its own key (cove reads $HOME/.ssh).
export HOME=$TMP/user
mkdir -p "$HOME/.ssh"
ssh-keygen -q -t ed25519 -N '' -C cove-test -f "$HOME/.ssh/id_ed25519" || fail "ssh-keygen"

pids=()
cleanup_vms() {
    local p
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
    for p in "${pids[@]}"; do wait "$p" 2>/dev/null; done
}
trap 'cleanup_vms; rm -rf "$TMP"' EXIT

# wait_agent NAME: until the guest agent answers (the first boot runs cloud-init: minutes on
# a loaded machine).
wait_agent() {
    local i
    for i in $(seq 300); do
        "$COVE" exec "$1" --timeout 10 -- true 2>/dev/null && return 0
        kill -0 "${pids[-1]}" 2>/dev/null || break
        sleep 2
    done
    tail -n 40 "$COVE_HOME/vms/$1/run/console.log"
    fail "the agent of $1 never answered"
}

# the host's locale goes into the seed (set here, so the check holds on any machine)
LANG=de_DE.UTF-8 LC_ALL= "$COVE" create d --from debian --disk-size 6G --cpus 2 --memory 1G \
    >"$TMP/create" 2>&1 ||
    { cat "$TMP/create"; fail "create --from debian"; }
# a second VM of the same image: an overlay over the same base, in constant time
start=$(date +%s%N)
"$COVE" create d2 --from debian >/dev/null || fail "second create --from debian"
ms=$((($(date +%s%N) - start) / 1000000))
echo "second create: $ms ms"
# constant time is the overlay's: d2 holds no copy of the image's data (the figure above is
# printed, not judged: a busy host stretches it; bench/clone.sh measures it)
kib=$(du -sk "$COVE_HOME/vms/d2" | cut -f1)
[ "$kib" -lt 65536 ] || fail "the second VM takes $kib KiB: the image was copied, not overlaid"
[ $ms -lt 30000 ] || fail "a second create --from debian took $ms ms"
"$COVE" get d2 --format json | grep -q '"user": "cove"' || fail "guest.user not stored"
"$COVE" delete d2 || fail "delete d2"
echo "ok: create --from debian; a second one in $ms ms"

LOG=$COVE_HOME/vms/d/run/console.log
# with a shared directory: the image's cove-shares.service mounts it at /mnt/cove/src
mkdir "$TMP/share"
echo "from the host" >"$TMP/share/hello"
"$COVE" run d --no-console --dir "src:$TMP/share" >"$TMP/run.out" 2>&1 &
pids+=($!)
wait_agent d
expect_in "$LOG" 'OpenSBI v'
expect_in "$LOG" 'U-Boot 20'
expect_in "$LOG" 'BOOTRISCV64|bootriscv64'
expect_in "$LOG" 'GNU GRUB'
expect_in "$LOG" 'Linux version .*deb'
echo "ok: OpenSBI -> U-Boot -> GRUB -> Debian's kernel"

state=$("$COVE" exec d -- systemctl is-system-running --wait) || true
echo "system: $state"
if [ "$state" != running ]; then
    "$COVE" exec d -- systemctl --failed --no-legend
    [ "$state" = degraded ] || fail "systemctl is-system-running: $state"
fi
"$COVE" exec d -- cloud-init status --wait >/dev/null || fail "cloud-init did not finish"
[ "$("$COVE" exec d -- hostname)" = d ] || fail "hostname is not d"
echo "ok: systemd $state, cloud-init done, hostname d"
"$COVE" exec d -- cat /etc/default/locale | grep -q '^LANG="\?de_DE.UTF-8' ||
    fail "the host's locale (de_DE.UTF-8) is not the VM's: $("$COVE" exec d -- cat /etc/default/locale)"
"$COVE" exec d -- locale -a | grep -qx 'de_DE.utf8' ||
    fail "de_DE.UTF-8 was not generated: $("$COVE" exec d -- locale -a | tr '\n' ' ')"
echo "ok: locale de_DE.UTF-8 from the host, generated on the first boot"
[ "$("$COVE" exec d -- cat /mnt/cove/src/hello)" = "from the host" ] ||
    fail "the shared directory is not at /mnt/cove/src: $("$COVE" exec d -- systemctl status cove-shares 2>&1 | tail -n 5)"
"$COVE" exec d -- sh -c 'echo from the guest >/mnt/cove/src/back' || fail "write to the share"
[ "$(cat "$TMP/share/back")" = "from the guest" ] || fail "the guest's file is not on the host"
echo "ok: the shared directory at /mnt/cove/src, both ways"
# Debian's virtio_balloon (a module, loaded by its modalias): the guest's own memory figures
# reach `cove get`, and a smaller target is met (then given back)
use() {
    "$COVE" get d --format json | python3 -c "import json, sys
m = json.load(sys.stdin)['memory_use']
v = m['guest'][sys.argv[2]] if sys.argv[1] == 'guest' else m[sys.argv[1]]
print('' if v is None else v)" "$@"
}
for _ in $(seq 60); do [ -n "$(use guest total)" ] && break; sleep 1; done
[ -n "$(use guest total)" ] || fail "no memory figures from the Debian guest's virtio_balloon"
"$COVE" set d --memory 768M || fail "cove set --memory on the running Debian VM"
for _ in $(seq 60); do [ "$(use balloon_size)" = $((256 << 20)) ] && break; sleep 1; done
[ "$(use balloon_size)" = $((256 << 20)) ] || fail "the balloon holds $(use balloon_size) bytes, not 256 MiB"
"$COVE" set d --memory 1G || fail "cove set --memory 1G"
echo "ok: virtio-balloon in Debian: guest memory figures, a 256 MiB balloon and back"
size=$("$COVE" exec d -- df -B1 --output=size / | tail -n 1)
[ "$size" -gt $((5 * 1024 * 1024 * 1024)) ] || fail "root is $size bytes, not grown to ~6G"
echo "ok: root grown to $size bytes"

# ssh as the user cloud-init made, with this test's key, over vsock
out=$("$COVE" ssh d -- id) || fail "cove ssh d -- id"
echo "ssh: $out"
[[ $out == "uid=1000(cove) "* ]] || fail "cove ssh logged in as something else: $out"
[ "$("$COVE" ssh d -- sudo -n id -u)" = 0 ] || fail "no passwordless sudo"
echo "ok: cove ssh as cove, sudo"

# the agent's other commands, as on the default guest
ip=$("$COVE" ip d --wait 60) || fail "cove ip d"
[[ $ip =~ ^10\.0\.2\.[0-9]+$ ]] || fail "cove ip d: '$ip'"
echo "cove data $$" >"$TMP/in.txt"
"$COVE" cp "$TMP/in.txt" d:/home/cove/in.txt || fail "cove cp into d"
"$COVE" cp d:/home/cove/in.txt "$TMP/out.txt" || fail "cove cp out of d"
cmp -s "$TMP/in.txt" "$TMP/out.txt" || fail "cove cp: the file changed on the way"
echo "ok: cove ip ($ip), cove cp both ways"

# apt through NAT: Debian's archive
"$COVE" exec d -- sh -c 'apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q hello' \
    >"$TMP/apt" 2>&1 || { tail -n 20 "$TMP/apt"; fail "apt-get install hello"; }
[ "$("$COVE" exec d -- hello)" = "Hello, world!" ] || fail "hello does not run"
echo "ok: apt-get install hello"

# A kernel installed with apt boots on the next start: forky's (another version than sid's),
# made GRUB's default; Debian's hooks build its initramfs and run update-grub in the VM.
"$COVE" exec d -- sh -c '
    set -e
    echo "deb http://deb.debian.org/debian forky main" >/etc/apt/sources.list.d/forky.list
    apt-get update -q
    k=$(apt-cache search --names-only "^linux-image-[0-9].*-riscv64\$" | cut -d" " -f1 |
        grep -vx "linux-image-$(uname -r)" | sort -V | tail -n 1)
    echo "kernel package: $k"
    [ -n "$k" ]
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q -t forky "$k"
    v=${k#linux-image-}
    sed -i "s|^GRUB_DEFAULT=.*|GRUB_DEFAULT=\"Advanced options for Debian GNU/Linux>Debian GNU/Linux, with Linux $v\"|" /etc/default/grub
    update-grub
    echo "$v" >/root/want-kernel' >"$TMP/kernel" 2>&1 || { tail -n 30 "$TMP/kernel"; fail "installing a kernel with apt"; }
want=$("$COVE" exec d -- cat /root/want-kernel)
echo "installed kernel $want; rebooting"
"$COVE" exec d -- systemctl reboot >/dev/null 2>&1 || true
sleep 5
for i in $(seq 150); do
    [ "$("$COVE" exec d --timeout 10 -- uname -r 2>/dev/null)" = "$want" ] && break
    sleep 2
done
[ "$("$COVE" exec d -- uname -r)" = "$want" ] || fail "the VM did not come back with kernel $want"
echo "ok: the kernel installed with apt ($want) boots on the next start"

# a clean stop: systemd shuts down, the root file system is clean
"$COVE" stop d --timeout 120 || fail "cove stop d"
wait "${pids[-1]}" || fail "cove run d exited $?"
expect_in "$LOG" 'reboot: Power down'
"$COVE" disk convert "$COVE_HOME/vms/d/disk.img" "$TMP/d.raw" --to raw >/dev/null || fail "convert"
start=$(sfdisk -d "$TMP/d.raw" | sed -n 's/.*start= *\([0-9]*\),.*name="root".*/\1/p')
[ -n "$start" ] || fail "no root partition in the VM's disk"
e2fsck -fn "$TMP/d.raw?offset=$((start * 512))" >"$TMP/fsck" 2>&1 || { cat "$TMP/fsck"; fail "e2fsck"; }
rm -f "$TMP/d.raw"
echo "ok: cove stop, e2fsck clean"

# --boot direct: the image's kernel and initrd, no firmware
"$COVE" create d3 --from debian --boot direct >/dev/null || fail "create --boot direct"
# ... from NVMe: its disk on an NVMe controller (U-Boot has no NVMe driver: direct boot)
"$COVE" set d3 --disk-options 0:if=nvme || fail "set --disk-options 0:if=nvme"
# ... with an NBD export (nbdkit over a Unix socket) as one more disk
truncate -s 64M "$TMP/nbd.img"
nbdkit -f --exit-with-parent -U "$TMP/nbd.sock" file "$TMP/nbd.img" &
pids+=($!)
for _ in $(seq 50); do [ -S "$TMP/nbd.sock" ] && break; sleep 0.1; done
"$COVE" run d3 --no-console --disk "nbd+unix:///?socket=$TMP/nbd.sock" >/dev/null 2>&1 &
pids+=($!)
wait_agent d3
"$COVE" exec d3 -- cat /proc/cmdline | grep -q 'root=UUID=' || fail "direct boot: no root=UUID"
root=$("$COVE" exec d3 -- findmnt -no SOURCE /)
[[ $root == /dev/nvme0n1p* ]] || fail "the Debian VM's root is $root, not on /dev/nvme0n1"
[ "$("$COVE" exec d3 -- blockdev --getsize64 /dev/vdb)" = $((64 << 20)) ] ||
    fail "the NBD disk is not /dev/vdb of 64 MiB: $("$COVE" exec d3 -- lsblk 2>&1)"
"$COVE" exec d3 -- sh -c 'printf cove-nbd | dd of=/dev/vdb conv=fsync 2>/dev/null' ||
    fail "writing to the NBD disk"
[ "$(head -c 8 "$TMP/nbd.img")" = cove-nbd ] || fail "the guest's write is not in nbdkit's file"
grep -q 'U-Boot' "$COVE_HOME/vms/d3/run/console.log" && fail "direct boot went through U-Boot"
"$COVE" stop d3 --timeout 120 || fail "cove stop d3"
wait "${pids[-1]}"
echo "ok: --boot direct, from NVMe ($root), an NBD export as /dev/vdb"
