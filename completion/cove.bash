# bash completion for cove(1): commands, their options, option values, VM names (the
# bundles in $COVE_HOME/vms, default ~/.cove/vms) and files where a path is expected.
# Installed as share/bash-completion/completions/cove; to try it from a source tree:
#   source completion/cove.bash

# VM names: the bundle directories, read directly (no cove process per key press).
_cove_vms()
{
    local dir=${COVE_HOME:-$HOME/.cove}/vms d
    [ -d "$dir" ] || return 0
    for d in "$dir"/*/; do
        [ -d "$d" ] || continue
        d=${d%/}
        printf '%s\n' "${d##*/}"
    done
}

# Image templates: the debian of images/debian.conf (the installed share, else none known).
_cove_templates()
{
    local d f
    for d in /usr/share/cove/images /usr/local/share/cove/images; do
        for f in "$d"/*.conf; do [ -f "$f" ] && { f=${f##*/}; printf '%s\n' "${f%.conf}"; }; done
    done | sort -u
    printf 'debian\n'
}

# Images in the store: NAME and NAME:SUITE of its directories NAME-SUITE.
_cove_images()
{
    local dir=${COVE_IMAGES:-${COVE_HOME:-$HOME/.cove}/images} d n
    [ -d "$dir" ] || return 0
    for d in "$dir"/*/; do
        [ -f "$d/image.json" ] || continue
        d=${d%/}; d=${d##*/}
        n=${d%%-*}
        printf '%s\n%s:%s\n' "$n" "$n" "${d#*-}"
    done | sort -u
}

# cove networks: NAME of $COVE_HOME/networks/NAME.json.
_cove_networks()
{
    local dir=${COVE_HOME:-$HOME/.cove}/networks f
    [ -d "$dir" ] || return 0
    for f in "$dir"/*.json; do
        [ -f "$f" ] || continue
        f=${f##*/}
        printf '%s\n' "${f%.json}"
    done
}

_cove_reply_words()
{
    mapfile -t COMPREPLY < <(compgen -W "$1" -- "$2")
}

_cove_reply_files()
{
    compopt -o filenames 2>/dev/null
    mapfile -t COMPREPLY < <(compgen -f -- "$1")
}

# The snapshot tags of VM $1 (directories of vms/NAME/snapshots/ with a snapshot.json).
_cove_snapshots()
{
    local dir=${COVE_HOME:-$HOME/.cove}/vms/$1/snapshots d
    [ -d "$dir" ] || return 0
    for d in "$dir"/*/; do
        [ -f "$d/snapshot.json" ] || continue
        d=${d%/}
        printf '%s\n' "${d##*/}"
    done
}

_cove_reply_vms()
{
    mapfile -t COMPREPLY < <(compgen -W "$(_cove_vms)" -- "$1")
}

_cove()
{
    local cur=${COMP_WORDS[COMP_CWORD]} prev=${COMP_WORDS[COMP_CWORD-1]}
    local commands="create clone run list get set stop suspend snapshot delete rename pause resume disk exec ip cp clipboard
        ssh ssh-config connect console image network push pull login logout prune"
    # options whose value is the next word
    local with_value=" --kernel --initrd --append --cpus --memory --firmware --disk --net
        --net-allow --net-block --forward --mac --vsock --console --format --backing --to --disk-size --from-guest
        --timeout --wait -e --env -w --workdir --from-disk --boot --from
        --user --identity --suite --ssh-key --user-data --wait --dir --add-disk --remove-disk
        --disk-options -u --username --older-than --space-budget --subnet --display --vnc-port
        --vnc-socket --port --cpu-limit --net-rate "
    local i cmd="" cmd_i=0 w
    COMPREPLY=()

    for ((i = 1; i < COMP_CWORD; i++)); do
        case ${COMP_WORDS[i]} in
        -*) ;;
        *) cmd=${COMP_WORDS[i]}; cmd_i=$i; break ;;
        esac
    done
    # -l and -i take a value in ssh and ssh-config only (exec's -i is a flag)
    case $cmd in ssh | ssh-config) with_value+=" -l -i " ;; esac
    if [ -z "$cmd" ]; then
        if [[ $cur == -* ]]; then
            _cove_reply_words "-v --verbose --help --version" "$cur"
        else
            _cove_reply_words "$commands" "$cur"
        fi
        return 0
    fi

    # The positional words before the cursor (option values skipped); after `--` comes the
    # guest's command line, which is not ours to complete.
    local -a pos=()
    for ((i = cmd_i + 1; i < COMP_CWORD; i++)); do
        w=${COMP_WORDS[i]}
        [ "$w" = -- ] && return 0
        if [[ $with_value == *" $w "* ]]; then
            ((i++))
        elif [[ $w != -* ]]; then
            pos+=("$w")
        fi
    done

    case $prev in
    --disk)
        if [[ $cur == *,* ]]; then # PATH,OPTION: the options after the comma
            _cove_reply_words "${cur%,*},ro ${cur%,*},rw ${cur%,*},if=virtio ${cur%,*},if=nvme
                ${cur%,*},cache=writeback ${cur%,*},cache=none ${cur%,*},sync=full
                ${cur%,*},sync=fsync ${cur%,*},sync=none ${cur%,*},rate= ${cur%,*},ops=
                ${cur%,*},burst= ${cur%,*},ops-burst=" "$cur"
        else
            _cove_reply_files "$cur"
        fi
        return 0 ;;
    --kernel | --initrd | --firmware | --backing | --vsock | --from-disk | --ssh-key | \
    --user-data | --dir)
        _cove_reply_files "$cur"; return 0 ;;
    --identity) _cove_reply_files "$cur"; return 0 ;;
    --console) _cove_reply_words "serial virtio" "$cur"; return 0 ;;
    --display) _cove_reply_words "none vnc" "$cur"; return 0 ;;
    --net-rate) # rate=SIZE/TIME,ops=N/TIME,... (after a comma: the next option)
        if [[ $cur == *,* ]]; then
            _cove_reply_words "${cur%,*},rate= ${cur%,*},ops= ${cur%,*},burst= ${cur%,*},ops-burst=" "$cur"
        else
            _cove_reply_words "none rate= ops=" "$cur"
        fi
        return 0 ;;
    --cpu-limit) _cove_reply_words "none" "$cur"; return 0 ;;
    --vnc-socket) _cove_reply_files "$cur"; return 0 ;;
    --vnc-port) return 0 ;;
    --net) # MODE, or MODE:NAME with the host's bridges and TAPs (cove networks: cove network list)
        local nets="nat none tap: bridge: network:" d
        for d in /sys/class/net/*/bridge; do [ -e "$d" ] && d=${d%/bridge} && nets+=" bridge:${d##*/}"; done
        for d in /sys/class/net/*/tun_flags; do [ -e "$d" ] && d=${d%/tun_flags} && nets+=" tap:${d##*/}"; done
        _cove_reply_words "$nets" "$cur"; return 0 ;;
    --to) _cove_reply_words "raw cdisk" "$cur"; return 0 ;;
    --from-guest) _cove_reply_words "default" "$cur"; return 0 ;;
    --boot) _cove_reply_words "firmware direct" "$cur"; return 0 ;;
    --from) _cove_reply_words "$(_cove_templates)" "$cur"; return 0 ;;
    --format)
        case "$cmd ${pos[0]:-}" in
        "disk create") _cove_reply_words "cdisk raw" "$cur" ;;
        create*) _cove_reply_words "raw qcow2 cdisk" "$cur" ;;
        "disk info" | "disk check") _cove_reply_words "text json" "$cur" ;;
        *) _cove_reply_words "json" "$cur" ;;
        esac
        return 0 ;;
    esac
    [[ $prev = -i && $with_value == *" -i "* ]] && { _cove_reply_files "$cur"; return 0; }
    # any other option with a value: a number, size or text of the user's
    [[ $with_value == *" $prev "* ]] && return 0

    local opts names=0 files=0
    case $cmd in
    create)
        opts="--cpus --memory --cpu-limit --disk-size --from-guest --from --kernel --initrd --append
              --from-disk --format --boot --net --forward --mac --net-allow --net-block --user
              --ssh-key --user-data --dir --no-auto-forward --auto-forward-privileged
              --display --vnc-port --net-rate" ;;
    run)
        local kernel=0
        for w in "${COMP_WORDS[@]:cmd_i+1:COMP_CWORD-cmd_i-1}"; do
            [ "$w" = --kernel ] && kernel=1
        done
        if [ $kernel = 1 ]; then
            opts="--kernel --initrd --append --cpus --memory --firmware --disk --no-rng --net
                  --forward --mac --net-allow --net-block --vsock --console --no-balloon --no-seccomp --dir --display --vnc-socket --auto-forward --no-auto-forward --auto-forward-privileged
                  --jail --no-jail --cpu-limit --net-rate"
        elif [ ${#pos[@]} -gt 0 ]; then
            opts="--no-console --rm --append --disk --forward --console --no-balloon
                  --no-seccomp --dir --display --vnc-port --auto-forward --no-auto-forward --auto-forward-privileged
                  --jail --no-jail --cpu-limit --net-rate"
        else
            opts="--kernel --initrd --append --cpus --memory --firmware --disk --no-rng --net
                  --forward --mac --net-allow --net-block --vsock --console --no-console --rm
                  --no-balloon --no-seccomp --dir --display --vnc-port --vnc-socket --auto-forward --no-auto-forward --auto-forward-privileged
                  --jail --no-jail --cpu-limit --net-rate"
            names=1
        fi ;;
    clone) opts="--lazy --insecure"; [ ${#pos[@]} = 0 ] && names=1 ;;
    rename) opts=""; [ ${#pos[@]} = 0 ] && names=1 ;;
    # registries: push NAME REF..., pull REF, login/logout REGISTRY (clone REF NAME above)
    push) opts="--insecure"; [ ${#pos[@]} = 0 ] && names=1 ;;
    pull) opts="--insecure" ;;
    login) opts="-u --username --password-stdin --insecure" ;;
    logout) opts="" ;;
    prune) opts="--older-than --space-budget" ;;
    list) opts="--format" ;;
    get) opts="--format"; [ ${#pos[@]} = 0 ] && names=1 ;;
    set)
        opts="--cpus --memory --disk-size --net --forward --no-forwards --mac --net-allow
              --net-block --no-net-rules --dir --no-dirs --disk-options --remove-disk --add-disk
              --auto-forward --no-auto-forward --auto-forward-privileged --display --vnc-port --cpu-limit
              --net-rate"
        [ ${#pos[@]} = 0 ] && names=1 ;;
    console) opts="--web --port"; [ ${#pos[@]} = 0 ] && names=1 ;;
    stop) opts="--timeout --suspend"; names=1 ;;
    delete | pause | resume | suspend) opts=""; names=1 ;;
    snapshot)
        # snapshot NAME save|restore|list|delete [TAG]
        opts=""
        if [ ${#pos[@]} = 0 ]; then
            names=1
        elif [ ${#pos[@]} = 1 ]; then
            [[ $cur == -* ]] && _cove_reply_words "--help" "$cur" ||
                _cove_reply_words "save restore list delete" "$cur"
            return 0
        else
            case ${pos[1]} in
            list) opts="--format" ;;
            restore | delete)
                [[ $cur != -* && ${#pos[@]} = 2 ]] &&
                    { _cove_reply_words "$(_cove_snapshots "${pos[0]}")" "$cur"; return 0; } ;;
            esac
        fi ;;
    exec)
        opts="-i -t -e -w --interactive --tty --env --workdir --timeout --exec-timeout --vsock"
        [ ${#pos[@]} = 0 ] && names=1 ;;
    ip) opts="--wait --all --vsock"; [ ${#pos[@]} = 0 ] && names=1 ;;
    clipboard)
        opts="--timeout"
        [ ${#pos[@]} = 0 ] && names=1
        [[ ${#pos[@]} = 1 && $cur != -* ]] && { _cove_reply_words "get set" "$cur"; return 0; } ;;
    ssh | ssh-config) opts="-l -i --user --identity --wait"; [ ${#pos[@]} = 0 ] && names=1 ;;
    connect)
        opts="--timeout --vsock --wait"
        local vs=0
        for w in "${COMP_WORDS[@]:cmd_i+1:COMP_CWORD-cmd_i-1}"; do
            [ "$w" = --vsock ] && vs=1
        done
        [ ${#pos[@]} = 0 ] && [ $vs = 0 ] && names=1 ;;
    cp)
        opts="-r --recursive --vsock --timeout"
        if [[ $cur != -* && $cur != *:* && ${#pos[@]} -lt 2 ]]; then
            # NAME:PATH on either side, or a local file
            compopt -o nospace 2>/dev/null
            mapfile -t COMPREPLY < <(compgen -W "$(_cove_vms | sed 's/$/:/')" -- "$cur";
                                      compgen -f -- "$cur")
            return 0
        fi ;;
    disk)
        if [ ${#pos[@]} = 0 ]; then
            [[ $cur == -* ]] && _cove_reply_words "--help" "$cur" ||
                _cove_reply_words "create info resize convert" "$cur"
            return 0
        fi
        case ${pos[0]} in
        create) opts="--backing --format" ;;
        info) opts="--format" ;;
        convert) opts="--to" ;;
        *) opts="" ;;
        esac
        files=1 ;;
    image)
        if [ ${#pos[@]} = 0 ]; then
            [[ $cur == -* ]] && _cove_reply_words "--help" "$cur" ||
                _cove_reply_words "build update list rm" "$cur"
            return 0
        fi
        case ${pos[0]} in
        build | update)
            opts="--suite"
            [[ $cur != -* && ${#pos[@]} = 1 ]] && { _cove_reply_words "$(_cove_templates)" "$cur"; return 0; } ;;
        list) opts="--format" ;;
        rm)
            opts=""
            [[ $cur != -* && ${#pos[@]} = 1 ]] && { _cove_reply_words "$(_cove_images)" "$cur"; return 0; } ;;
        *) opts="" ;;
        esac ;;
    network)
        if [ ${#pos[@]} = 0 ]; then
            [[ $cur == -* ]] && _cove_reply_words "--help" "$cur" ||
                _cove_reply_words "create list get delete" "$cur"
            return 0
        fi
        case ${pos[0]} in
        create) opts="--subnet --nat --net-allow --net-block" ;;
        list) opts="--format" ;;
        get | delete)
            [ "${pos[0]}" = get ] && opts="--format" || opts=""
            [[ $cur != -* && ${#pos[@]} = 1 ]] && { _cove_reply_words "$(_cove_networks)" "$cur"; return 0; } ;;
        *) opts="" ;;
        esac ;;
    *) return 0 ;;
    esac

    if [[ $cur == -* ]]; then
        _cove_reply_words "$opts --help" "$cur"
    elif [ $names = 1 ]; then
        _cove_reply_vms "$cur"
    elif [ $files = 1 ]; then
        _cove_reply_files "$cur"
    fi
    return 0
}

complete -F _cove cove
