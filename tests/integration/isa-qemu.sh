#!/bin/bash
# The ISA test programs are themselves checked against the reference peer
# (qemu-system-riscv64), so that an expectation that is wrong fails here, not only in cove.
. "$(dirname "$0")/lib.sh"
exec "$(dirname "$0")/../unit/isa/run-qemu.sh" "${BUILD_DIR:-$(dirname "$0")/../../build}"
