#!/bin/bash
# Bash completion (completion/cove.bash): commands, each command's options, option values,
# VM names from the bundles in $COVE_HOME/vms, files where a path goes, nothing after `--`.
# Drives the completion function as bash would: COMP_WORDS, COMP_CWORD, then COMPREPLY.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/../../completion/cove.bash"
complete -p cove | grep -q -- '-F _cove cove' || fail "cove.bash does not register _cove for cove"

export COVE_HOME=$TMP/home
mkdir -p "$COVE_HOME/vms/alpha" "$COVE_HOME/vms/beta" "$TMP/files"
mkdir -p "$COVE_HOME/vms/alpha/snapshots/lesson-3" "$COVE_HOME/vms/alpha/snapshots/.tmp-1-x" && touch "$COVE_HOME/vms/alpha/snapshots/lesson-3/snapshot.json" "$COVE_HOME/vms/alpha/snapshots/id"
touch "$TMP/files/vmlinux" "$TMP/files/disk.img"

# comp WORD... : the completions offered for the last WORD (the one under the cursor)
comp() {
    local COMP_WORDS=("$@") COMP_CWORD=$(($# - 1)) COMPREPLY=()
    COMP_LINE="$*"
    COMP_POINT=${#COMP_LINE}
    _cove cove "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD - 1]}"
    printf '%s\n' "${COMPREPLY[@]}" | LC_ALL=C sort
}
# offers "WANTED..." -- WORD...: every one of WANTED is among the completions
offers() {
    local want=() w got
    while [ "$1" != -- ]; do want+=("$1"); shift; done
    shift
    got=$(comp "$@")
    for w in "${want[@]}"; do
        grep -qxF -- "$w" <<<"$got" || fail "'$*': '$w' not offered (got: $(echo $got))"
    done
    echo "ok: '$*' offers ${want[*]}"
}
# exactly "WORDS" -- WORD...: the completions are exactly WORDS (sorted; "" for none)
exactly() {
    local want=$1 got
    shift 2
    got=$(comp "$@" | tr '\n' ' ' | sed 's/ $//')
    [ "$got" = "$want" ] || fail "'$*': got '$got', want '$want'"
    echo "ok: '$*' -> '$got'"
}

offers create run list get set stop delete rename pause resume disk exec ip cp ssh ssh-config connect image -- cove ""
offers --disk-options --add-disk --remove-disk -- cove set alpha --
exactly "" -- cove set alpha --add-disk ""
offers push pull login logout prune -- cove ""
exactly "--help --older-than --space-budget" -- cove prune -
exactly "--help --insecure" -- cove push --
offers alpha beta -- cove push ""
exactly "" -- cove push alpha ""
exactly "--help --insecure" -- cove pull -
exactly "--help --insecure --password-stdin --username -u" -- cove login localhost:5000 -
exactly "" -- cove login localhost:5000 -u ""
exactly "clipboard clone connect console cp create" -- cove c
exactly "--verbose --version" -- cove --v
offers create -- cove -v cr

offers --cpus --memory --cpu-limit --net-rate --disk-size --from-guest --kernel --initrd --append --help -- cove create dev --
offers --from-disk --format --boot --net --forward --mac --dir -- cove create dev --
offers --cpus --cpu-limit --forward --no-forwards --dir --no-dirs -- cove set alpha --
exactly "$TMP/files" -- cove set alpha --dir "$TMP/fi"
exactly "direct firmware" -- cove create dev --boot ""
exactly "cdisk qcow2 raw" -- cove create dev --from-disk x --format ""
exactly "$TMP/files/disk.img" -- cove create dev --from-disk "$TMP/files/d"
offers --kernel --no-console --rm --firmware --net -- cove run --
exactly "--append --auto-forward --auto-forward-privileged --console --cpu-limit --dir --disk --display --forward --help --jail --net-rate --no-auto-forward --no-balloon --no-console --no-jail --no-seccomp --rm --vnc-port" -- cove run alpha --
offers --initrd --firmware --no-rng --no-balloon --no-seccomp --jail --cpu-limit --vsock -- cove run --kernel "$TMP/files/vmlinux" --
offers --no-auto-forward --auto-forward-privileged -- cove create x --
offers --auto-forward --no-auto-forward --auto-forward-privileged -- cove set alpha --
offers -i -t -e -w --timeout --exec-timeout --vsock -- cove exec alpha -
offers alpha beta -- cove clipboard ""
offers get set -- cove clipboard alpha ""
offers --timeout -- cove clipboard alpha -
exactly "--all --help --vsock --wait" -- cove ip alpha --
exactly "--format --help" -- cove list --
exactly "none ops= rate=" -- cove set alpha --net-rate ""
exactly "rate=1M/s,burst= rate=1M/s,ops-burst= rate=1M/s,ops= rate=1M/s,rate=" -- cove run alpha --net-rate rate=1M/s,
exactly "--help --suspend --timeout" -- cove stop alpha --
offers suspend -- cove sus
offers alpha beta -- cove suspend ""
exactly "alpha beta" -- cove snapshot ""
exactly "delete list restore save" -- cove snapshot alpha ""
exactly "--format --help" -- cove snapshot alpha list --
exactly "lesson-3" -- cove snapshot alpha restore ""
exactly "lesson-3" -- cove snapshot alpha delete l
exactly "--help --identity --user --wait -i -l" -- cove ssh alpha -
exactly "--help --identity --user --wait -i -l" -- cove ssh-config -
exactly "--help --timeout --vsock --wait" -- cove connect alpha --
exactly "alpha beta" -- cove ssh ""
exactly "alpha beta" -- cove ssh -l bob ""
exactly "alpha beta" -- cove ssh-config ""
exactly "alpha beta" -- cove connect ""
exactly "build list rm update" -- cove image ""
mkdir -p "$COVE_HOME/networks" && echo '{}' >"$COVE_HOME/networks/lab.json"
exactly "create delete get list" -- cove network ""
exactly "lab" -- cove network delete ""
exactly "--format --help" -- cove network get lab -
exactly "--help --nat --net-allow --net-block --subnet" -- cove network create lab2 -
exactly "--help --suite" -- cove image build debian -
exactly "debian" -- cove create x --from d
exactly "" -- cove connect alpha ""
exactly "" -- cove connect --vsock "$TMP/files/disk.img" ""
exactly "$TMP/files/disk.img" -- cove ssh alpha -i "$TMP/files/di"
exactly "$TMP/files/disk.img" -- cove ssh-config alpha --identity "$TMP/files/di"
exactly "" -- cove ssh alpha -- ""
exactly "alpha beta" -- cove exec -i ""

exactly "alpha beta" -- cove stop ""
exactly "alpha" -- cove get a
exactly "alpha beta" -- cove run ""
exactly "alpha beta" -- cove exec ""
exactly "" -- cove clone alpha ""
offers --lazy --insecure -- cove clone 127.0.0.1:5000/team/vm:1 dev --
exactly "" -- cove exec alpha -- ""
exactly "" -- cove run alpha -- un
exactly "" -- cove create dev --cpus ""
offers alpha: beta: -- cove cp ""
exactly "" -- cove cp alpha:/etc/x

exactly "serial virtio" -- cove run alpha --console ""
offers nat none tap: bridge: network: -- cove run --kernel k --net ""
exactly "network:" -- cove run --kernel k --net netw
offers --net-allow --net-block -- cove set alpha --net-
offers --no-net-rules --no-forwards -- cove set alpha --no-
exactly "none vnc" -- cove run alpha --display ""
exactly "none vnc" -- cove create dev --display ""
offers --display --vnc-port -- cove set alpha --
exactly "--help --port --web" -- cove console alpha --
offers alpha beta -- cove console ""
exactly "" -- cove console alpha --port ""
exactly "json" -- cove get alpha --format ""
exactly "convert create info resize" -- cove disk ""
exactly "cdisk raw" -- cove disk create x --format ""
exactly "json text" -- cove disk info x --format ""
exactly "cdisk raw" -- cove disk convert a b --to ""

exactly "$TMP/files/vmlinux" -- cove run --kernel "$TMP/files/vm"
exactly "$TMP/files/disk.img" -- cove run alpha --disk "$TMP/files/di"
exactly "x.img,if=nvme x.img,if=virtio" -- cove run alpha --disk "x.img,if"
exactly "x.img,ro,burst= x.img,ro,cache=none x.img,ro,cache=writeback x.img,ro,if=nvme x.img,ro,if=virtio x.img,ro,ops-burst= x.img,ro,ops= x.img,ro,rate= x.img,ro,ro x.img,ro,rw x.img,ro,sync=fsync x.img,ro,sync=full x.img,ro,sync=none" -- cove run --kernel k --disk "x.img,ro,"
exactly "$TMP/files/disk.img" -- cove disk info "$TMP/files/di"
exactly "$TMP/files/vmlinux" -- cove create dev --kernel "$TMP/files/v"

rm -rf "$COVE_HOME"
exactly "" -- cove stop ""
echo "ok: no bundles, no names, no error"
