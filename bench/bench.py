#!/usr/bin/env python3
"""Boot and compute benchmark: cove vs qemu-system-riscv64 on the same guest.

Both boot the default guest's kernel and initrd with a cove.exec command that prints a
marker as soon as init runs, runs a fixed compute loop (cove-loop), and prints a second
marker. For each VMM we take the median of several runs of:
  boot   wall time from starting the VMM to the first marker (process start to init)
  loop   wall time between the markers (the compute loop in guest user space)
  total  wall time until the VMM exits after the guest powers off
and print the ratio cove/qemu (lower is better for cove; < 1.0 means cove is faster).
QEMU boots through its default OpenSBI firmware (it cannot boot Linux without one); cove
boots directly with its built-in SBI, which is how users run it.
"""
import argparse
import os
import shutil
import statistics
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
START, DONE = "BENCH-BOOT", "BENCH-LOOP-DONE"


def run_once(cmd, timeout):
    t0 = time.monotonic()
    p = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT)
    t_boot = t_loop = None
    tail = []
    for raw in p.stdout:
        now = time.monotonic()
        line = raw.decode(errors="replace").strip()
        tail = (tail + [line])[-20:]
        if line == START and t_boot is None:
            t_boot = now - t0
        elif line == DONE and t_boot is not None and t_loop is None:
            t_loop = now - t0 - t_boot
        if now - t0 > timeout:
            p.kill()
            break
    p.wait()
    total = time.monotonic() - t0
    if t_boot is None or t_loop is None:
        sys.stderr.write("bench: run failed: %s\n%s\n" % (" ".join(cmd), "\n".join(tail)))
        return None
    return t_boot, t_loop, total


def median_of(cmd, runs, timeout):
    results = [r for r in (run_once(cmd, timeout) for _ in range(runs)) if r]
    if not results:
        return None
    return tuple(statistics.median(x[i] for x in results) for i in range(3))


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--cpus", type=int, default=1)
    ap.add_argument("--loop", type=int, default=1, help="cove-loop rounds")
    ap.add_argument("--append", default="quiet", help="extra kernel arguments (both VMMs)")
    ap.add_argument("--cove", default=os.path.join(ROOT, "build", "cove"))
    ap.add_argument("--timeout", type=float, default=300)
    args = ap.parse_args()

    guest = subprocess.run([os.path.join(ROOT, "guest", "build.sh")], check=True,
                           stdout=subprocess.PIPE, text=True).stdout.strip()
    kernel, initrd = os.path.join(guest, "Image"), os.path.join(guest, "initrd")
    append = '%s cove.exec="echo %s; cove-loop %d; echo %s"' % (args.append, START, args.loop, DONE)
    mem = "256M"

    cove = [args.cove, "run", "--cpus", str(args.cpus), "--memory", mem,
            "--kernel", kernel, "--initrd", initrd, "--append", append]
    qemu = ["qemu-system-riscv64", "-M", "virt", "-m", mem, "-smp", str(args.cpus),
            "-nographic", "-kernel", kernel, "-initrd", initrd, "-append", append]

    rows = {"cove": median_of(cove, args.runs, args.timeout)}
    if shutil.which("qemu-system-riscv64"):
        rows["qemu"] = median_of(qemu, args.runs, args.timeout)

    print("guest: %s (cpus=%d, memory=%s, append=%r, median of %d runs)"
          % (guest, args.cpus, mem, args.append, args.runs))
    print("%-6s %10s %10s %10s" % ("", "boot s", "loop s", "total s"))
    for name, r in rows.items():
        if r:
            print("%-6s %10.3f %10.3f %10.3f" % (name, *r))
        else:
            print("%-6s %10s" % (name, "failed"))
    if rows.get("cove") and rows.get("qemu"):
        c, q = rows["cove"], rows["qemu"]
        print("%-6s %10.2f %10.2f %10.2f   (cove/qemu, lower is better)"
              % ("ratio", c[0] / q[0], c[1] / q[1], c[2] / q[2]))
    return 0 if rows.get("cove") else 1


if __name__ == "__main__":
    sys.exit(main())
