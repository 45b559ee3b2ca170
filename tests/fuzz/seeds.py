#!/usr/bin/env python3
"""Writes the seed inputs of the fuzz targets into tests/fuzz/corpus/<target>/: valid
requests a driver would post, so fuzzing starts from inputs that reach deep code."""
import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))
RAM = 0x80000000


def save(target, name, data):
    d = os.path.join(HERE, "corpus", target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "seed-" + name), "wb") as f:
        f.write(data)


def desc(addr, length, flags, nxt):
    return struct.pack("<QIHH", addr, length, flags, nxt)


def virtq_seed(indirect):
    # cfg: size 8 (3), event idx (8), indirect (16); start index 0
    cfg = 3 | 8 | (16 if indirect else 0)
    ram = bytearray(0x2000)
    if indirect:
        ram[0:16] = desc(RAM + 0x1000, 32, 4, 0)
        ram[0x1000:0x1020] = desc(RAM + 0x1800, 16, 1, 1) + desc(RAM + 0x1900, 16, 2, 0)
    else:
        ram[0:16] = desc(RAM + 0x1800, 16, 1, 1)
        ram[16:32] = desc(RAM + 0x1900, 16, 2, 0)
    ram[0x800:0x806] = struct.pack("<HHH", 0, 1, 0)  # flags, idx, ring[0]
    return bytes([cfg]) + struct.pack("<H", 0) + bytes(ram)


save("virtq", "direct", virtq_seed(False))
save("virtq", "indirect", virtq_seed(True))


def blk_seed(typ, sector, data_len, writable, payload=b""):
    # cfg: n_out, n_in in bits 0-2 / 3-5
    hdr = struct.pack("<IIQ", typ, 0, sector)
    if writable:
        cfg, lens, body = 1 | (2 << 3), [16, data_len, 1], hdr + bytes(data_len) + b"\xff"
    else:
        cfg, lens, body = 2 | (1 << 3), [16, data_len, 1], hdr + payload.ljust(data_len, b"\0") + b"\xff"
    return bytes([cfg]) + b"".join(struct.pack("<H", l) for l in lens) + body


save("blk", "read", blk_seed(0, 2, 1024, True))
save("blk", "write", blk_seed(1, 4, 512, False, b"hello"))
save("blk", "discard", blk_seed(11, 0, 16, False, struct.pack("<QII", 8, 8, 0)))
save("blk", "zeroes", blk_seed(13, 0, 16, False, struct.pack("<QII", 8, 8, 1)))
save("blk", "getid", blk_seed(8, 0, 20, True))
save("blk", "flush", bytes([1 | (1 << 3)]) + struct.pack("<HH", 16, 1) + struct.pack("<IIQ", 4, 0, 0) + b"\xff")


def mmio_seed(rng):
    """Handshake, queue 0 at RAM+0/0x800/0xc00 with 8 entries, one request, notify."""
    ram = bytearray(0x2000)
    if rng:
        ram[0:16] = desc(RAM + 0x1000, 64, 2, 0)
    else:
        ram[0:48] = (desc(RAM + 0x1000, 16, 1, 1) + desc(RAM + 0x1100, 512, 3, 2) +
                     desc(RAM + 0x1400, 1, 2, 0))
        ram[0x1000:0x1010] = struct.pack("<IIQ", 0, 0, 1)
    ram[0x800:0x806] = struct.pack("<HHH", 0, 1, 0)
    ops = b""

    def w(off, val):
        nonlocal ops
        ops += bytes([1 | 8 | 4]) + struct.pack("<HI", off, val)  # write, aligned, 4 bytes

    w(0x70, 0); w(0x70, 1); w(0x70, 3)
    w(0x24, 1); w(0x20, 1)                       # VERSION_1
    w(0x24, 0); w(0x20, (1 << 28) | (1 << 29))
    w(0x70, 11)
    w(0x30, 0); w(0x38, 8)
    w(0x80, RAM); w(0x84, 0); w(0x90, RAM + 0x800); w(0x94, 0); w(0xa0, RAM + 0xc00); w(0xa4, 0)
    w(0x44, 1); w(0x70, 15); w(0x50, 0)
    ops += bytes([8]) + struct.pack("<HI", 0x60, 0)  # read InterruptStatus
    w(0x64, 1)
    ops += bytes([2]) + struct.pack("<HI", 0x100, 0)  # read config
    return bytes([1 if rng else 0]) + struct.pack("<H", len(ram)) + bytes(ram) + ops


save("mmio", "blk", mmio_seed(False))
save("mmio", "rng", mmio_seed(True))


def nvme_sqe(opcode, cid, nsid=0, prp1=0, prp2=0, cdw=()):
    cdw = list(cdw) + [0] * (6 - len(cdw))
    return struct.pack("<BBHIQQQQ6I", opcode, 0, cid, nsid, 0, 0, prp1, prp2, *cdw)


def nvme_seed(io, two_ns=False):
    """Prelude-enabled controller (admin SQ at RAM, CQ at RAM+0x1000); admin commands:
    Identify controller, Set Features queues, create CQ 1 (RAM+0x3000) and SQ 1
    (RAM+0x2000); with io, a write through a PRP list (RAM+0x4000) and a read on SQ 1.
    two_ns: a second, read-only namespace (cfg bits 2 and 3); Identify of NSID 2 and the
    active namespace list, I/O to NSIDs 2 and 3 and a flush of all (0xffffffff)."""
    ram = bytearray(0x8000)
    admin = [nvme_sqe(6, 1, prp1=RAM + 0x5000, cdw=[1]),
             nvme_sqe(9, 2, cdw=[7, 0x00010001]),
             nvme_sqe(5, 3, prp1=RAM + 0x3000, cdw=[(15 << 16) | 1, 3]),
             nvme_sqe(1, 4, prp1=RAM + 0x2000, cdw=[(15 << 16) | 1, (1 << 16) | 1])]
    if two_ns:
        admin += [nvme_sqe(6, 9, 2, prp1=RAM + 0x5000, cdw=[0]),
                  nvme_sqe(6, 10, 0, prp1=RAM + 0x5000, cdw=[2])]
    ram[0:len(b"".join(admin))] = b"".join(admin)
    ops = b""

    def doorbell(idx, val):
        nonlocal ops
        ops += bytes([1 | 64]) + struct.pack("<HI", idx, val)

    doorbell(0, len(admin))
    doorbell(1, len(admin))
    if io:
        ram[0x4000:0x4010] = struct.pack("<QQ", RAM + 0x6000, RAM + 0x7000)
        cmds = [nvme_sqe(1, 5, 1, RAM + 0x5200, RAM + 0x4000, [0, 0, 23]),
                nvme_sqe(2, 6, 1, RAM + 0x5000, RAM + 0x6000, [0, 0, 15]),
                nvme_sqe(9, 7, 1, RAM + 0x4000, 0, [0, 4]),
                nvme_sqe(8, 8, 1, 0, 0, [2, 0, 3])]
        if two_ns:
            cmds = [nvme_sqe(2, 11, 2, RAM + 0x5000, RAM + 0x6000, [0, 0, 15]),
                    nvme_sqe(1, 12, 2, RAM + 0x5000, 0, [0, 0, 0]),
                    nvme_sqe(2, 13, 3, RAM + 0x5000, 0, [0, 0, 0]),
                    nvme_sqe(0, 14, 0xffffffff)] + cmds
        ram[0x2000:0x2000 + 64 * len(cmds)] = b"".join(cmds)
        doorbell(2, len(cmds))
        doorbell(3, len(cmds))
        ops += bytes([0]) + struct.pack("<HI", 0x14, 0)  # reset
    cfg = 2 | (4 | 8 if two_ns else 0)
    return bytes([cfg]) + struct.pack("<H", len(ram)) + bytes(ram) + ops


save("nvme", "admin", nvme_seed(False))
save("nvme", "io", nvme_seed(True))
save("nvme", "two-ns", nvme_seed(True, True))


def net_seed(csum):
    """TX queue 1 (descriptors at 0x1000, avail 0x1800) with header + a 60-byte frame; RX
    queue 0 with one 2 KiB writable buffer; ops: notify TX, inject a frame, notify RX."""
    ram = bytearray(0x3800)
    hdr = struct.pack("<BBHHHHH", 1 if csum else 0, 0, 0, 0, 34 if csum else 0, 6 if csum else 0, 0)
    ram[0x2000:0x200c] = hdr
    frame = bytearray(60)
    frame[12:14] = b"\x08\x00"
    frame[14] = 0x45
    frame[23] = 17
    ram[0x2100:0x2100 + 60] = frame
    ram[0x1000:0x1020] = desc(RAM + 0x2000, 12, 1, 1) + desc(RAM + 0x2100, 60, 0, 0)
    ram[0x1800:0x1806] = struct.pack("<HHH", 0, 1, 0)
    ram[0:16] = desc(RAM + 0x3000, 2048, 2, 0)
    ram[0x800:0x806] = struct.pack("<HHH", 0, 1, 0)
    ops = bytes([0]) + bytes([2]) + struct.pack("<H", 60) + bytes([1])
    return bytes([4 if csum else 1]) + struct.pack("<H", len(ram)) + bytes(ram) + ops


save("net", "tx-rx", net_seed(False))
save("net", "tx-csum", net_seed(True))


def vsock_seed(op):
    """TX queue 1 (descriptors at 0x1000, avail 0x1800): a 44-byte header (REQUEST to host
    port 1024, or RW with 8 bytes) in two descriptors; RX queue 0: a header + 4 KiB
    writable buffer; ops: notify TX, notify RX."""
    ram = bytearray(0x3800)
    length = 8 if op == 5 else 0
    ram[0x2000:0x202c] = struct.pack("<QQIIIHHIII", 3, 2, 40000, 1024, length, 1, op, 0,
                                     262144, 0)
    ram[0x2100:0x2108] = b"payload!"
    ram[0x1000:0x1020] = desc(RAM + 0x2000, 44, 1 if length else 0, 1) + \
        desc(RAM + 0x2100, length, 0, 0)
    ram[0x1800:0x1806] = struct.pack("<HHH", 0, 1, 0)
    ram[0:32] = desc(RAM + 0x3000, 44, 3, 1) + desc(RAM + 0x3100, 1024, 2, 0)
    ram[0x800:0x806] = struct.pack("<HHH", 0, 1, 0)
    ops = bytes([0, 1])
    return bytes([1]) + struct.pack("<H", len(ram)) + bytes(ram) + ops


save("vsock", "request", vsock_seed(1))
save("vsock", "rw", vsock_seed(5))


# http: one settings byte (bit 0: a response; the rest seeds the piece sizes), the message.
save("http", "get", b"\x00GET /vm HTTP/1.1\r\nHost: localhost\r\nAccept: application/json\r\n\r\n")
save("http", "put-last", b"\x10PUT /vm/state HTTP/1.1\r\nHost: localhost\r\n"
     b"Content-Length: 18\r\n\r\n{\"state\":\"paused\"}")
save("http", "put-first", b"\x22PUT /vm/stop HTTP/1.1\r\nContent-Length: 15\r\n"
     b"Connection: close\r\n\r\n{\"force\":false}")
save("http", "response", b"\x01HTTP/1.1 202 Accepted\r\nContent-Type: application/json\r\n"
     b"Content-Length: 20\r\nConnection: close\r\n\r\n{\"state\":\"stopping\"}")


# fwd_syn: slirp's SYN to the guest, the guest's SYN-ACK with an MSS option twice (the
# repeated one is rewritten), then its ACK; records of (kind, length, frame).
def tcp_frame(src, dst, sport, dport, seq, ack, flags, options=b""):
    tcp_len = 20 + len(options)
    tcp = struct.pack("!HHIIBBHHH", sport, dport, seq, ack, (tcp_len // 4) << 4, flags,
                      65535, 0, 0) + options
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + tcp_len, 1, 0, 64, 6, 0, bytes(src),
                     bytes(dst))
    eth = b"\x52\x54\x00\x12\x34\x56" + b"\x52\x55\x0a\x00\x02\x02" + b"\x08\x00"
    return eth + ip + tcp


def fwd_record(to_guest, step, frame):
    return bytes([(0x80 if to_guest else 0) | step, len(frame)]) + frame


HOST, GUEST = (10, 0, 2, 2), (10, 0, 2, 15)
MSS = b"\x02\x04\x05\xb4"
syn = tcp_frame(HOST, GUEST, 40000, 80, 1000, 0, 0x02, MSS)
synack = tcp_frame(GUEST, HOST, 80, 40000, 5000, 1001, 0x12, MSS)
ack = tcp_frame(GUEST, HOST, 80, 40000, 5001, 1001, 0x10)
save("fwd_syn", "handshake", fwd_record(True, 0, syn) + fwd_record(False, 1, synack) +
     fwd_record(False, 5, synack) + fwd_record(False, 1, ack))
save("fwd_syn", "dropped-syn", fwd_record(True, 0, syn) + fwd_record(False, 15, b"") +
     fwd_record(False, 15, synack))


def frame(typ, stream, payload):
    return struct.pack("<BBI", ord(typ), stream, len(payload)) + payload


def agent_exit(how, value):
    return frame("X", 0, struct.pack("<BI", how, value))


# agent: the first byte picks the answer's kind (0 plain, 1 ip, 2 get, 0x40 getdir, 0x80 exec)
save("agent", "ping", b"\x00" + agent_exit(0, 0))
save("agent", "ip", b"\x01" + frame("R", 0, b"if\0eth0\0addr\00010.0.2.15/24\0") + agent_exit(0, 0))
save("agent", "get", b"\x02" + frame("R", 0, b"mode\0644\0size\0005\0") + frame("D", 1, b"he")
     + frame("D", 1, b"llo") + frame("D", 1, b"") + agent_exit(0, 0))
save("agent", "get-error", b"\x02" + frame("E", 0, b"\x04/x: No such file") + agent_exit(0, 1))
save("agent", "exec", b"\x80" + frame("D", 1, b"out") + frame("D", 2, b"err") + agent_exit(1, 9))
save("agent", "getdir", b"\x40" + frame("R", 0, b"mode\0755\0")
     + frame("F", 1, b"type\0d\0name\0sub\0mode\0700\0")
     + frame("F", 1, b"type\0f\0name\0a\0mode\0644\0size\0003\0") + frame("D", 1, b"abc")
     + frame("F", 1, b"type\0l\0name\0up\0link\0../x\0") + frame("F", 1, b"type\0u\0")
     + frame("D", 1, b"") + agent_exit(0, 0))
save("agent", "exec-127", b"\x80" + frame("E", 0, b"\x01x: command not found") + agent_exit(0, 127))


def balloon_seed(cfg):
    """Inflate queue 0 with three PFNs (two in RAM, one far outside), the stats queue 2
    with two entries, the reporting queue 3 with an 8 KiB free range; ops: notify each,
    read the statistics, move the target, read and write config space."""
    ram = bytearray(0xb000)
    ram[0:16] = desc(RAM + 0x8000, 12, 0, 0)
    ram[0x800:0x806] = struct.pack("<HHH", 0, 1, 0)
    ram[0x8000:0x800c] = struct.pack("<III", RAM // 4096 + 9, RAM // 4096 + 10, 0xffffffff)
    ram[0x2000:0x2010] = desc(RAM + 0x9000, 20, 0, 0)
    ram[0x2800:0x2806] = struct.pack("<HHH", 0, 1, 0)
    ram[0x9000:0x9014] = struct.pack("<HQHQ", 4, 100 << 20, 5, 512 << 20)
    ram[0x3000:0x3010] = desc(RAM + 0xa000 - 0x1000, 0x2000, 2, 0)
    ram[0x3800:0x3806] = struct.pack("<HHH", 0, 1, 0)
    ops = b""
    for op, val in ((0, 0), (2 << 3, 0), (3 << 3, 0), (4, 0), (3, 4), (6, 0),
                    (5 | (4 << 3) | (2 << 6), 4), (4, 0)):
        ops += bytes([op]) + struct.pack("<I", val)
    return bytes([cfg]) + struct.pack("<H", len(ram)) + bytes(ram) + ops


save("balloon", "all-queues", balloon_seed(1 | 2 | 4))
save("balloon", "reporting-at-2", balloon_seed(2 | 32))

# oci: one byte (bit 0: a config blob, else a manifest), then the JSON a registry sends: a
# manifest and a config blob as cove push made them.
save("oci", "manifest", b"\x00" + b'{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","artifactType":"application/vnd.cove.vm.v1","config":{"mediaType":"application/vnd.cove.vm.config.v1+json","digest":"sha256:6b0defddeb69c324f2d43d1a8626795c84d8a508bad93c4315bed761695f468c","size":683},"layers":[{"mediaType":"application/vnd.cove.disk.chunk.v1+zstd","digest":"sha256:599859c203667bafc6e11d9c0658d16e47022e0d4be16721ceac839431af54ea","size":3002183,"annotations":{"vnd.cove.file":"disk.img","vnd.cove.offset":"0","vnd.cove.length":"67108864","vnd.cove.digest":"sha256:6fc7f5f166293c3fb0c72935caa448fbdcf5c4e89ae039f66ea540b9fddca659"}},{"mediaType":"application/vnd.cove.disk.chunk.v1+zstd","digest":"sha256:072fbc23ac5fd88cae35ee2c597bc935b4236c4b4c569ace00b6354bc0fb8cda","size":2135,"annotations":{"vnd.cove.file":"disk.img","vnd.cove.offset":"134217728","vnd.cove.length":"67108864","vnd.cove.digest":"sha256:f6d9b528879d69029a46735e7ed1d1d2d59325c4a246e5bde224a74b4ec7a10f"}},{"mediaType":"application/vnd.cove.file.v1+zstd","digest":"sha256:1b44f5741922bd6eb401d5c4d6c10866ab0e3f3f52668679b272bec83f9e19e8","size":343770,"annotations":{"vnd.cove.file":"u-boot","vnd.cove.offset":"0","vnd.cove.length":"648896","vnd.cove.digest":"sha256:a1abdfc422af527cfea178ad62dad31a15b3bdd07fc4d55586d131a63d394b57"}},{"mediaType":"application/vnd.cove.file.v1+zstd","digest":"sha256:7e42ac3b4b70125ba867815ac12b85526ab60e06e21f4cc2db4009b4de1e6754","size":61784,"annotations":{"vnd.cove.file":"firmware","vnd.cove.offset":"0","vnd.cove.length":"115328","vnd.cove.digest":"sha256:88e76ec1a9e2e5f3ecfc2d8892b923fddc9a3974e63f4190dbcab56b4909fb2f"}}],"annotations":{"org.opencontainers.image.created":"2026-12-05T14:13:09Z"}}')
save("oci", "state-manifest", b"\x00" + b'{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","artifactType":"application/vnd.cove.vm.v1","config":{"mediaType":"application/vnd.cove.vm.config.v1+json","digest":"sha256:6b0defddeb69c324f2d43d1a8626795c84d8a508bad93c4315bed761695f468c","size":683},"layers":[{"mediaType":"application/vnd.cove.state.machine.v1+zstd","digest":"sha256:599859c203667bafc6e11d9c0658d16e47022e0d4be16721ceac839431af54ea","size":2002,"annotations":{"vnd.cove.file":"state/machine","vnd.cove.offset":"0","vnd.cove.length":"8192","vnd.cove.digest":"sha256:6fc7f5f166293c3fb0c72935caa448fbdcf5c4e89ae039f66ea540b9fddca659"}},{"mediaType":"application/vnd.cove.state.memory.chunk.v1+zstd","digest":"sha256:072fbc23ac5fd88cae35ee2c597bc935b4236c4b4c569ace00b6354bc0fb8cda","size":2135,"annotations":{"vnd.cove.file":"state/memory","vnd.cove.offset":"134217728","vnd.cove.length":"67108864","vnd.cove.digest":"sha256:f6d9b528879d69029a46735e7ed1d1d2d59325c4a246e5bde224a74b4ec7a10f"}}],"annotations":{"org.opencontainers.image.created":"2026-12-05T14:13:09Z"}}')
save("oci", "config", b"\x01" + b'{"version":1,"architecture":"riscv64","os":"linux","chunk_size":67108864,"vm":{"version":1,"cpus":1,"memory":512,"disks":[{"file":"disk.img","read_only":false}],"network":{"nat":true,"mac":"52:54:00:fb:72:b1","forwards":[]},"boot":{"firmware":"firmware","kernel":"u-boot"}},"files":[{"name":"disk.img","size":209715200,"disk":true},{"name":"u-boot","size":648896,"disk":false},{"name":"firmware","size":115328,"disk":false}]}')

def state_seed(rng):
    """A restored virtio-rng (or blk) transport, DRIVER_OK, queue 0 of size 8 (descriptors at
    0x0, avail 0x800, used 0x1000) with one chain posted that the device has not taken."""
    ram = bytearray(0x2000)
    if rng:
        ram[0:16] = desc(RAM + 0x1800, 64, 2, 0)
    else:
        ram[0:16] = desc(RAM + 0x1800, 16, 1, 1)
        ram[16:32] = desc(RAM + 0x1900, 512, 2, 2)
        ram[32:48] = desc(RAM + 0x1c00, 1, 2, 0)
        ram[0x1800:0x1810] = struct.pack("<IIQ", 0, 0, 1)  # read sector 1
    ram[0x800:0x806] = struct.pack("<HHH", 0, 1, 0)
    features = (1 << 32) | (1 << 29) | (1 << 28)
    state = struct.pack("<IIIIIIIQQBI", 4 if rng else 2, 1, 15, 0, 0, 0, 0, features, features, 0, 0)
    state += struct.pack("<IBQQQIIIB", 8, 1, RAM, RAM + 0x800, RAM + 0x1000, 0, 0, 0, 0)
    if not rng:
        state += struct.pack("<Q", 16 * 1024)  # the disk's size
    return bytes([1 if rng else 0]) + struct.pack("<H", len(ram)) + bytes(ram) + state


save("state", "rng", state_seed(True))
save("state", "blk", state_seed(False))


# netsvc: a guest's DHCP DISCOVER and REQUEST (with a host name), its DNS query for
# "alpha" and a ping of the gateway; records of (port, length, frame).
def netsvc_record(port, frame):
    return bytes([port]) + struct.pack("<H", len(frame)) + frame


def netsvc_udp_frame(mac, src, dst, sport, dport, payload, dst_mac=b"\xff" * 6):
    udp = struct.pack("!HHHH", sport, dport, 8 + len(payload), 0) + payload
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), 1, 0, 64, 17, 0, bytes(src),
                     bytes(dst))
    return dst_mac + mac + b"\x08\x00" + ip + udp


def dhcp_msg(mac, typ, options=b""):
    fixed = struct.pack("!BBBBIHH4s4s4s4s16s64s128s", 1, 1, 6, 0, 0x1234, 0, 0x8000,
                        b"\0" * 4, b"\0" * 4, b"\0" * 4, b"\0" * 4, mac + b"\0" * 10,
                        b"\0" * 64, b"\0" * 128)
    return fixed + b"\x63\x82\x53\x63" + bytes([53, 1, typ]) + options + b"\xff"


NS_MAC = b"\x52\x54\x00\x00\x00\x02"
GW_MAC = b"\x02\xc0\x7e\x58\x00\x01"
discover = netsvc_udp_frame(NS_MAC, (0, 0, 0, 0), (255, 255, 255, 255), 68, 67,
                     dhcp_msg(NS_MAC, 1, bytes([12, 4]) + b"beta"))
request = netsvc_udp_frame(NS_MAC, (0, 0, 0, 0), (255, 255, 255, 255), 68, 67,
                    dhcp_msg(NS_MAC, 3, bytes([50, 4, 10, 88, 0, 10, 54, 4, 10, 88, 0, 1])))
query = struct.pack("!HHHHHH", 0xabcd, 0x0100, 1, 0, 0, 0) + b"\x05alpha\x00" + \
    struct.pack("!HH", 1, 1)
dns = netsvc_udp_frame(NS_MAC, (10, 88, 0, 10), (10, 88, 0, 1), 40000, 53, query, GW_MAC)
icmp = b"\x08\x00\xf7\xff\x00\x00\x00\x00"
ping = GW_MAC + NS_MAC + b"\x08\x00" + struct.pack("!BBHHHBBH4s4s", 0x45, 0, 28, 1, 0, 64, 1,
                                                   0, bytes((10, 88, 0, 10)),
                                                   bytes((10, 88, 0, 1))) + icmp
arp = b"\xff" * 6 + NS_MAC + b"\x08\x06" + struct.pack("!HHBBH6s4s6s4s", 1, 0x0800, 6, 4, 1,
                                                       NS_MAC, bytes((10, 88, 0, 10)),
                                                       b"\0" * 6, bytes((10, 88, 0, 1)))
save("netsvc", "dhcp-dns-ping", netsvc_record(1, discover) + netsvc_record(1, request) +
     netsvc_record(1, arp) + netsvc_record(1, dns) + netsvc_record(1, ping))


# egress: rule text, the rule-set choice, then a frame from the guest (a SYN to
# 10.0.2.2:8080, allowed by the fixed rules; a UDP DNS query to 10.0.2.3; an ARP request).
def egress_seed(text, choice, frame):
    return bytes([len(text)]) + text + bytes([choice]) + frame


def udp_frame(src, dst, sport, dport, payload):
    udp = struct.pack("!HHHH", sport, dport, 8 + len(payload), 0) + payload
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), 1, 0, 64, 17, 0, bytes(src),
                     bytes(dst))
    return b"\xff" * 6 + b"\x52\x54\x00\x12\x34\x56" + b"\x08\x00" + ip + udp


save("egress", "tcp-allowed", egress_seed(b"10.0.2.2/32:8080", 3,
                                          tcp_frame(GUEST, HOST, 40000, 8080, 1, 0, 0x02)))
save("egress", "tcp-parsed", egress_seed(b"10.0.0.0/8:80", 4,
                                         tcp_frame(GUEST, HOST, 40000, 80, 1, 0, 0x02)))
save("egress", "dns", egress_seed(b"bridge:br0", 1,
                                  udp_frame(GUEST, (10, 0, 2, 3), 5353, 53, b"\0" * 12)))
save("egress", "arp", egress_seed(b"tap:tap0", 3, b"\xff" * 6 + b"\x52\x54\x00\x12\x34\x56" +
                                  b"\x08\x06" + bytes(28)))
# a forwarded connection: slirp's SYN from 10.0.2.2:40000 to the guest's port 22, then the
# guest's SYN-ACK from port 22, with an allow list that does not name 10.0.2.2
fwd_in = tcp_frame(HOST, GUEST, 40000, 22, 1, 0, 0x02)
save("egress", "forward-answer", egress_seed(b"1.2.3.4", 1 | 8, struct.pack("<H", len(fwd_in)) +
                                             fwd_in + tcp_frame(GUEST, HOST, 22, 40000, 9, 2, 0x12)))


def gpu_seed():
    """The gpu's control queue (0) with four commands a driver sends to show a picture:
    create an 8x8 resource, attach 256 bytes of backing, transfer, set the scanout; the
    tablet's event queue (at 0x2000) with two 8-byte buffers; ops: notify both, send an
    event, ask for 800x600, read config space."""
    ram = bytearray(0xc000)

    def hdr(t):
        return struct.pack("<IIQIB3x", t, 0, 0, 0, 0)

    cmds = [hdr(0x101) + struct.pack("<IIII", 1, 2, 8, 8),
            hdr(0x106) + struct.pack("<II", 1, 1) + struct.pack("<QII", RAM + 0xa000, 256, 0),
            hdr(0x105) + struct.pack("<IIIIQII", 0, 0, 8, 8, 0, 1, 0),
            hdr(0x103) + struct.pack("<IIIIII", 0, 0, 8, 8, 0, 1)]
    for k, c in enumerate(cmds):
        a = 0x8000 + 0x100 * k
        ram[a:a + len(c)] = c
        ram[32 * k:32 * k + 16] = desc(RAM + a, len(c), 1, 2 * k + 1)
        ram[32 * k + 16:32 * k + 32] = desc(RAM + 0x9000 + 0x100 * k, 0x100, 2, 0)
    ram[0xa000:0xa100] = bytes(range(256))
    ram[0x800:0x80c] = struct.pack("<HHHHHH", 0, 4, 0, 2, 4, 6)
    for k in range(2):
        ram[0x2000 + 16 * k:0x2010 + 16 * k] = desc(RAM + 0xb000 + 8 * k, 8, 2, 0)
    ram[0x2800:0x2808] = struct.pack("<HHHH", 0, 2, 0, 1)
    ops = b""
    for op, val in ((0, 0), (3, 0), (4, (1 << 11) | (0x10 << 2) | 1), (5, (600 << 16) | 800),
                    (7, 0)):
        ops += bytes([op]) + struct.pack("<I", val)
    return bytes([0]) + struct.pack("<H", len(ram)) + bytes(ram) + ops


save("gpu", "draw-and-events", gpu_seed())


# web: a 2-byte length, that many bytes of HTTP request (the web console's), then the
# client's WebSocket frames (masked).
def ws_frame(opcode, payload, fin=True):
    mask = b"\x11\x22\x33\x44"
    n = len(payload)
    head = bytes([(0x80 if fin else 0) | opcode])
    head += bytes([0x80 | n]) if n < 126 else bytes([0x80 | 126]) + struct.pack(">H", n)
    return head + mask + bytes(b ^ mask[i & 3] for i, b in enumerate(payload))


TOKEN = b"0123456789abcdef0123456789abcdef"
for name, req, frames in (
        ("page", b"GET /vnc.html?token=" + TOKEN + b"&autoconnect=true HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", b""),
        ("file-cookie", b"GET /app/ui.js HTTP/1.1\r\nCookie: a=b; cove_token=" + TOKEN + b"\r\n\r\n", b""),
        ("websocket", b"GET /websockify?token=" + TOKEN + b" HTTP/1.1\r\nUpgrade: websocket\r\n"
         b"Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
         b"Sec-WebSocket-Version: 13\r\nOrigin: http://127.0.0.1:5000\r\n\r\n",
         ws_frame(2, b"RFB 003.008\n") + ws_frame(2, b"\x01", fin=False) + ws_frame(9, b"hi") +
         ws_frame(0, b"\x02" * 300) + ws_frame(8, b"\x03\xe8")),
        ("no-token", b"GET /../etc/passwd HTTP/1.1\r\n\r\n", ws_frame(1, b"x")),
):
    save("web", name, struct.pack("<H", len(req)) + req + frames)


# cuttext: any bytes, as the guest's clipboard or a client's cut text
for name, text in (
        ("ascii", b"hello from the guest\n"),
        ("utf8", "café € grüße 😀".encode()),
        ("malformed", b"\xc3(\xc0\xaf\xe0\x80\xaf\xed\xa0\x80\xf4\x90\x80\x80\xff\xe2\x82"),
):
    save("cuttext", name, text)
