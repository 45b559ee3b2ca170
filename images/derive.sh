#!/bin/bash
# The image builder `cove image build` runs: a template with a `base` (images/desktop.conf) is
# derived here from that base image; any other template goes to images/build.sh (mmdebstrap)
# unchanged. Prints the image's directory on stdout and nothing else; progress on stderr
# ("image: ..."), the log in build.log of the image (or .failed-NAME-SUITE.log in the store).
#
#   images/derive.sh [--update] [--suite SUITE] NAME
#
# A derived image: the base is built (or found) by images/build.sh; a VM of it is created and
# booted in cove with NAT (COVE_HOME in the work directory, the build's own SSH key and user),
# the template's `packages` are installed with apt-get through the agent, images/NAME/setup.sh
# runs as root (it removes the build's user, cloud-init's state, SSH host keys, machine-id),
# the VM stops cleanly and its disk is flattened (`cove disk convert --to raw`) into the
# image's disk.img; kernel and initrd are the base's. Keyed by the template, this script,
# images/NAME/ and the base's key, so a new base makes a new derived image. Needs what `cove
# run` needs (no root beyond the base's build).
set -euo pipefail
main() {

IMAGES=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
SRC=$(cd "$IMAGES/.." && pwd)
say() { echo "image: $*" >&2; }
die() { echo "image: error: $*" >&2; exit 1; }

args=("$@")
update=0 suite=""
while [ $# -gt 0 ]; do
    case $1 in
    --update) update=1; shift ;;
    --suite) [ $# -ge 2 ] || die "--suite needs a value"; suite=$2; shift 2 ;;
    --suite=*) suite=${1#--suite=}; shift ;;
    -*) die "unknown option $1" ;;
    *) break ;;
    esac
done
[ $# -eq 1 ] || die "usage: derive.sh [--update] [--suite SUITE] NAME"
NAME=$1
case $NAME in *[!a-z0-9-]* | "" | -*) die "'$NAME' is not a template name" ;; esac
TEMPLATE=$IMAGES/$NAME.conf
# Not a derived template (or none at all): the distribution builder says what is wrong.
grep -q '^base[[:space:]]*=' "$TEMPLATE" 2>/dev/null || exec "$IMAGES/build.sh" "${args[@]}"

# --- the template: "key = value", continuation lines start with blanks (as build.sh reads it)
trim() { local v=$1; v=${v#"${v%%[![:space:]]*}"}; v=${v%"${v##*[![:space:]]}"}; printf '%s' "$v"; }
declare -A T
local key="" line
while IFS= read -r line || [ -n "$line" ]; do
    case $line in
    '#'* | '') continue ;;
    [[:space:]]*)
        [ -n "$key" ] || die "$TEMPLATE: a continuation line before any key"
        T[$key]="${T[$key]} $(trim "$line")"
        continue ;;
    esac
    [[ $line == *=* ]] || die "$TEMPLATE: '$line' is not 'key = value'"
    key=$(trim "${line%%=*}")
    T[$key]=$(trim "${line#*=}")
done <"$TEMPLATE"
for k in base packages disk_size memory cpus boot_timeout install_timeout; do
    [ -n "${T[$k]:-}" ] || die "$TEMPLATE: no '$k'"
done
BASE=${T[base]}
case $BASE in *[!a-z0-9-]* | "" | -*) die "$TEMPLATE: '$BASE' is not a template name" ;; esac
[ "$BASE" != "$NAME" ] || die "$TEMPLATE: an image cannot be its own base"
grep -q '^base[[:space:]]*=' "$IMAGES/$BASE.conf" 2>/dev/null &&
    die "$TEMPLATE: the base '$BASE' is derived itself; derive from a distribution template"
[ -x "$IMAGES/$NAME/setup.sh" ] || die "no $IMAGES/$NAME/setup.sh"

COVE=${COVE:-$SRC/build/cove}
[ -x "$COVE" ] || COVE=$(command -v cove) || die "no cove to boot the base with"

# --- the base, built first when missing ---------------------------------------------------------
sargs=()
[ -n "$suite" ] && sargs=(--suite "$suite")
say "the base image '$BASE'"
BASE_DIR=$("$IMAGES/build.sh" "${sargs[@]}" "$BASE") || die "building the base image '$BASE' failed"
BASE_KEY=$(sed -n 's/^ *"key": "\([0-9a-f]*\)".*/\1/p' "$BASE_DIR/image.json")
suite=$(sed -n 's/^ *"suite": "\([a-z0-9.-]*\)".*/\1/p' "$BASE_DIR/image.json")
[ -n "$BASE_KEY" ] && [ -n "$suite" ] || die "$BASE_DIR/image.json has no key or suite"

STORE=$(dirname "$BASE_DIR")
OUT=$STORE/$NAME-$suite
inputs() {
    echo "template $NAME base $BASE key $BASE_KEY suite $suite"
    cat "$TEMPLATE"
    (cd "$SRC" && find images/derive.sh "images/$NAME" -type f ! -name '*.md' -print0 |
        LC_ALL=C sort -z | xargs -0 sha256sum)
}
KEY=$(inputs | sha256sum | cut -c1-16)
fresh() { [ $update = 0 ] && [ -f "$OUT/image.json" ] && grep -q "\"key\": \"$KEY\"" "$OUT/image.json"; }
if fresh; then
    echo "$OUT"
    exit 0
fi
exec 9>"$STORE/.lock-$NAME-$suite"
flock 9
if fresh; then
    echo "$OUT"
    exit 0
fi

WORK=$STORE/.tmp-$$-$NAME-$suite
LOG=$STORE/.failed-$NAME-$suite.log
BLOG=$WORK/build.log
runner=""
cleanup() {
    local rc=$?
    if [ -n "$runner" ]; then
        COVE_HOME=$WORK/home timeout 120 "$COVE" stop b >/dev/null 2>&1 || kill "$runner" 2>/dev/null
        wait "$runner" 2>/dev/null || true
    fi
    if [ -d "$WORK" ]; then
        [ -f "$BLOG" ] && cp "$BLOG" "$LOG"
        rm -rf "${WORK:?}"
        [ $rc = 0 ] || say "failed; the log is $LOG"
    fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
rm -f "$LOG"
mkdir -p "$WORK/out" "$WORK/ssh"
inputs >"$WORK/inputs"
step() { say "$*"; echo "=== $*" >>"$BLOG"; }
export COVE_HOME=$WORK/home COVE_IMAGES=$STORE
vm() { "$COVE" "$@" >>"$BLOG" 2>&1; }

step "[1/4] booting the base '$BASE' ($suite) with NAT"
ssh-keygen -q -t ed25519 -N '' -C cove-image-build -f "$WORK/ssh/key" >>"$BLOG" 2>&1 ||
    die "ssh-keygen failed"
vm create b --from "$BASE:$suite" --user cove-build --ssh-key "$WORK/ssh/key.pub" \
    --disk-size "${T[disk_size]}" --memory "${T[memory]}" --cpus "${T[cpus]}" ||
    die "cove create failed (log: $LOG)"
"$COVE" run b --no-console </dev/null >>"$BLOG" 2>&1 &
runner=$!
end=$((SECONDS + ${T[boot_timeout]}))
until "$COVE" exec b --timeout 10 -- true >>"$BLOG" 2>&1; do
    kill -0 "$runner" 2>/dev/null || die "the base VM stopped while it booted (log: $LOG)"
    [ $SECONDS -lt $end ] || die "the base VM did not answer within ${T[boot_timeout]} s (log: $LOG)"
    sleep 5
done
# cloud-init's first boot done (its user, apt sources); a degraded status (2) is no failure
"$COVE" exec b --exec-timeout "${T[boot_timeout]}" -- cloud-init status --wait >>"$BLOG" 2>&1 ||
    [ $? = 2 ] || die "cloud-init failed in the base VM (log: $LOG)"

step "[2/4] installing $(echo ${T[packages]} | wc -w) packages and their dependencies with apt"
vm exec b --exec-timeout "${T[install_timeout]}" -e DEBIAN_FRONTEND=noninteractive -- \
    sh -c "apt-get update && apt-get install -y --no-install-recommends ${T[packages]}" ||
    die "apt-get install failed: $(grep -E '^E: ' "$BLOG" | head -n 1) (log: $LOG)"

step "[3/4] images/$NAME/setup.sh, then a clean stop"
vm cp "$IMAGES/$NAME/setup.sh" b:/root/cove-setup.sh || die "cove cp failed (log: $LOG)"
vm exec b --exec-timeout 600 -- sh /root/cove-setup.sh cove-build ||
    die "images/$NAME/setup.sh failed (log: $LOG)"
vm stop b || die "cove stop failed (log: $LOG)"
wait "$runner" || true
runner=""

step "[4/4] the disk, flattened"
vm disk convert "$COVE_HOME/vms/b/disk.img" "$WORK/out/disk.img" --to raw ||
    die "cove disk convert failed (log: $LOG)"
cp "$BASE_DIR/kernel" "$BASE_DIR/initrd" "$WORK/out/"
disk_bytes=$(stat -c %s "$WORK/out/disk.img")
sed -e "s/^\( *\"name\": \)\"[^\"]*\"/\1\"$NAME\"/" \
    -e "s/^\( *\"key\": \)\"[^\"]*\"/\1\"$KEY\"/" \
    -e "s/^\( *\"built\": \)\"[^\"]*\"/\1\"$(date -u +%Y-%m-%dT%H:%M:%SZ)\"/" \
    -e "s/^\( *\"disk_size\": \)[0-9]*/\1$disk_bytes/" \
    "$BASE_DIR/image.json" >"$WORK/out/image.json"
cp "$WORK/inputs" "$WORK/out/inputs"
cp "$BLOG" "$WORK/out/build.log"
chmod 0400 "$WORK/out/disk.img"
[ -e "$OUT" ] && mv "$OUT" "$WORK/old"
mv "$WORK/out" "$OUT"
echo "$OUT"
}
main "$@"
