#!/bin/bash
# Bad input to `cove run` (or to the command in CMD): each case must print exactly one line on stderr that names the
# problem, and exit non-zero without starting a guest.
. "$(dirname "$0")/lib.sh"

printf 'not a kernel at all\n' > "$TMP/garbage"
truncate -s 64M "$TMP/big.initrd"
# A minimal valid-looking RISC-V Image header so that the failure under test is the one
# we aim at (the initrd, the memory size), not the kernel.
python3 - "$TMP/Image" <<'PY'
import struct, sys
hdr = bytearray(64)
struct.pack_into('<IIQQQIIQQ', hdr, 0, 0x0000006f, 0, 0x200000, 4096, 0, 2, 0, 0, 0)
hdr[0x30:0x38] = b'RISCV\0\0\0'
hdr[0x38:0x3c] = b'RSC\x05'
open(sys.argv[1], 'wb').write(bytes(hdr) + bytes(4096 - 64))
PY

check() { # check "description" PATTERN -- args...
    local what=$1 pattern=$2; shift 3
    "$COVE" ${CMD:-run} "$@" </dev/null >"$TMP/out" 2>"$TMP/err"
    local rc=$?
    [ $rc -ne 0 ] || fail "$what: exit status 0"
    [ -z "${WANT_RC:-}" ] || [ $rc -eq "$WANT_RC" ] || fail "$what: exit status $rc, not $WANT_RC"
    [ "$(wc -l < "$TMP/err")" -eq 1 ] || { cat "$TMP/err"; fail "$what: not exactly one line on stderr"; }
    grep -qiE -- "$pattern" "$TMP/err" || { cat "$TMP/err"; fail "$what: message does not match '$pattern'"; }
    echo "ok: $what: $(cat "$TMP/err")"
}

check "no kernel"            'kernel'                  -- --memory 256M
check "missing kernel"       'no such file'            -- --kernel "$TMP/nope"
check "kernel is a dir"      'directory|not a regular' -- --kernel "$TMP"
check "kernel is a device"   'not a regular file'      -- --kernel /dev/zero
check "x86 kernel"           'not a RISC-V'            -- --kernel /bin/true
check "garbage kernel"       'not a RISC-V'            -- --kernel "$TMP/garbage"
check "missing initrd"       'no such file'            -- --kernel "$TMP/Image" --initrd "$TMP/nope"
check "initrd too large"     'does not fit|too large'  -- --kernel "$TMP/Image" --initrd "$TMP/big.initrd" --memory 32M
check "memory garbage"       'memory'                  -- --kernel "$TMP/Image" --memory lots
check "memory too small"     'memory'                  -- --kernel "$TMP/Image" --memory 1M
check "memory too large"     'memory'                  -- --kernel "$TMP/Image" --memory 100T
check "cpus zero"            'cpus'                    -- --kernel "$TMP/Image" --cpus 0
check "cpus above limit"     'cpus'                    -- --kernel "$TMP/Image" --cpus 33
check "cpus garbage"         'cpus'                    -- --kernel "$TMP/Image" --cpus two
check "missing firmware"     'no such file'            -- --kernel "$TMP/Image" --firmware "$TMP/nope"
check "unknown option"       'unknown option'          -- --kernel "$TMP/Image" --frobnicate
check "option without value" "'--kernel' needs a value" -- --kernel
check "unknown console"      'unknown console'         -- --kernel "$TMP/Image" --console tty0

# Both forms of cove run read their options alike: bad usage exits 2 whichever the form.
export COVE_HOME=$TMP/home
WANT_RC=2
check "forward garbage, kernel" "forward 'garbage'"  -- --kernel "$TMP/Image" --forward garbage
check "forward garbage, named"  "forward 'garbage'"  -- dev --forward garbage
check "forward leading zeros"   "127.000.0.1"          -- dev --forward tcp:127.000.0.1:80:80
check "disk option, named"      "unknown option 'rx'"  -- dev --disk "$TMP/x,rx"
check "disk interface"          "unknown interface 'ide'" -- --kernel "$TMP/Image" --disk "$TMP/x,if=ide,ro"
check "disk options twice"      "'if=virtio' given twice" -- dev --disk "$TMP/x,if=nvme,if=virtio"
check "kernel with a name"      'without a name'       -- dev --kernel "$TMP/Image"
check "cpus with a name"        'cove set'             -- dev --cpus 2
check "rm without a name"       'needs a VM name'      -- --kernel "$TMP/Image" --rm
check "neither name nor kernel" 'no VM given'          -- --append quiet
check "bad VM name"             'name'                 -- 'no/such'
check "unknown option, named"   'unknown option'       -- dev --frobnicate
CMD=create check "short options, create" "'-r' in '-rf'" -- -rf dev
CMD=create check "short options after"   "'-r' in '-rf'" -- dev -rf
CMD=get    check "short option, get"     "option '-x';"  -- -x dev
CMD=exec   check "missing value in cluster" "'-e' in '-ie' needs a value" -- dev -ie
WANT_RC=1
check "no such VM"              "does not exist"       -- dev
exit 0
