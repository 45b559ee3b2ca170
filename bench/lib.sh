# Shared helpers of the bench/ scripts (sourced).

# median: the middle line of numbers on stdin (the upper one of two); nothing for none.
median() { sort -n | awk '{a[NR]=$1} END {if (NR) print a[int((NR+1)/2)]}'; }

# free_port: a free TCP port on 127.0.0.1.
free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# tcp_sink PORT BYTES [ADDR]: accepts one connection on ADDR:PORT (127.0.0.1 unless given;
# 5 minutes at most), reads BYTES and prints the MiB/s from the first byte to the last
# (nothing when fewer came).
tcp_sink() {
    python3 - "$1" "$2" "${3:-127.0.0.1}" <<'EOF'
import socket, sys, time
port, want, addr = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
srv = socket.socket()
srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind((addr, port))
srv.listen(1)
srv.settimeout(300)
conn, _ = srv.accept()
got, t0 = 0, None
while got < want:
    b = conn.recv(1 << 20)
    if not b:
        break
    if t0 is None:
        t0 = time.monotonic()
    got += len(b)
t1 = time.monotonic()
conn.close()
if got >= want and t1 > t0:
    print("%.2f" % (got / (1 << 20) / (t1 - t0)))
EOF
}

# cove_builds SCRIPT: the cove binaries to compare, from COVES (each `--cove [LABEL=]PATH`;
# none: ${COVE:-build/cove} as "cove") into LABELS (in order) and BIN[LABEL] (declare -A BIN
# first); a missing binary or a label given twice (or "qemu") ends SCRIPT with one line.
cove_builds() {
    [ ${#COVES[@]} -gt 0 ] || COVES=("cove=${COVE:-build/cove}")
    LABELS=()
    local c l p
    for c in "${COVES[@]}"; do
        case $c in
        *=*) l=${c%%=*} p=${c#*=} ;;
        *) l=cove; [ ${#LABELS[@]} -gt 0 ] && l=cove${#LABELS[@]}; p=$c ;;
        esac
        [ -x "$p" ] || { echo "$1: no cove binary at $p (build it: make all)" >&2; exit 1; }
        [ -z "${BIN[$l]:-}" ] && [ "$l" != qemu ] ||
            { echo "$1: the label '$l' is given twice or is 'qemu'; name each --cove LABEL=PATH" >&2; exit 2; }
        LABELS+=("$l") BIN[$l]=$p
    done
}
