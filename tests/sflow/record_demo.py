"""Record the sFlow capture of `nxthdr demo` from a real agent: pmacctd's sfprobe
sampling a traffic mix between network namespaces.

Run by hand, as root:

    python3 -m tests.sflow.record_demo

Several client and server addresses on each side (IPv4 and IPv6) exchange real
kernel traffic: TCP transfers of different sizes, UDP bursts of different
datagram sizes, ICMP and ICMPv6 echo. While pmacctd samples the sink end of
the veth (1 in 1), an AF_PACKET socket on the same interface counts every IP
packet itself (IP header only, no sFlow involved); those counts go to the
manifest as the ground truth the demo's summaries are checked against.

Writes nxthdr/data/sflow/lab-mix.sflow (each datagram prefixed by its length,
4 bytes big endian) and nxthdr/data/sflow/manifest.json.
"""

from __future__ import annotations

import collections
import ipaddress
import json
import socket
import struct
import subprocess
import sys
import threading
import time
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests.sflow.agent import SINK4, SRC4, SfprobeLab, available, ns_socket  # noqa: E402
from tests.sflow.pcap import frame_datagrams  # noqa: E402

OUT = Path(__file__).resolve().parents[2] / "nxthdr" / "data" / "sflow"
NAME = "lab-mix.sflow"
CLIENTS4 = ["10.77.0.11", "10.77.0.12", "10.77.0.13"]
CLIENTS6 = ["fd77::11", "fd77::12", "fd77::13"]
SERVERS4 = ["10.77.0.2", "10.77.0.21"]
SERVERS6 = ["fd77::2", "fd77::21"]
ETH_P_ALL = 0x0003


class WireCounter:
    """Every IP packet on one interface, counted from its IP header: (src, dst, protocol) → [packets, bytes]."""

    def __init__(self, lab: SfprobeLab) -> None:
        self.sock = ns_socket(lab.sink, socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
        self.sock.bind((lab.sink_if, 0))
        self.sock.settimeout(0.2)
        self.flows: dict[tuple, list[int]] = collections.defaultdict(lambda: [0, 0])
        self.running = True
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while self.running:
            try:
                frame = self.sock.recv(65535)
            except TimeoutError:
                continue
            etype, off = struct.unpack_from("!H", frame, 12)[0], 14
            while etype == 0x8100:
                etype, off = struct.unpack_from("!H", frame, off + 2)[0], off + 4
            if etype == 0x0800:
                length, proto = struct.unpack_from("!H", frame, off + 2)[0], frame[off + 9]
                src, dst = frame[off + 12:off + 16], frame[off + 16:off + 20]
            elif etype == 0x86DD:
                length, proto = 40 + struct.unpack_from("!H", frame, off + 4)[0], frame[off + 6]
                src, dst = frame[off + 8:off + 24], frame[off + 24:off + 40]
            else:
                continue
            f = self.flows[(str(ipaddress.ip_address(src)), str(ipaddress.ip_address(dst)), proto)]
            f[0] += 1
            f[1] += length

    def stop(self) -> list[dict]:
        self.running = False
        self.thread.join()
        self.sock.close()
        return [{"src": s, "dst": d, "protocol": p, "packets": v[0], "bytes": v[1]}
                for (s, d, p), v in sorted(self.flows.items())]


def add_hosts(lab: SfprobeLab) -> None:
    """Extra addresses on both ends of the veth, with static neighbours (no ARP/NDP in the capture)."""
    for ns, ifname in ((lab.src, lab.src_if), (lab.sink, lab.sink_if)):
        # Router solicitations would put link-local noise in the capture.
        ns.run("sysctl", "-qw", f"net.ipv6.conf.{ifname}.router_solicitations=0")
    for ns, ifname, addrs, peer, peer_if, peer_mac in (
            (lab.src, lab.src_if, CLIENTS4 + CLIENTS6, lab.sink, lab.sink_if, lab.src_mac),
            (lab.sink, lab.sink_if, SERVERS4[1:] + SERVERS6[1:], lab.src, lab.src_if, lab.sink_mac)):
        for a in addrs:
            fam = "-6" if ":" in a else "-4"
            ns.run("ip", fam, "addr", "add", a + ("/64" if ":" in a else "/24"), "dev", ifname,
                   *(["nodad"] if ":" in a else []))
            peer.run("ip", fam, "neigh", "replace", a, "lladdr", peer_mac.hex(":"), "dev", peer_if, "nud",
                     "permanent")


def tcp_transfer(lab, family, client, server, port, size) -> dict:
    lsock = ns_socket(lab.sink, family, socket.SOCK_STREAM)
    csock = ns_socket(lab.src, family, socket.SOCK_STREAM)
    try:
        lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        lsock.bind((server, port))
        lsock.listen(1)
        csock.bind((client, 0))
        csock.connect((server, port))
        conn, _ = lsock.accept()
        data, got = b"x" * size, 0
        sender = threading.Thread(target=csock.sendall, args=(data,))
        sender.start()
        while got < size:
            chunk = conn.recv(65536)
            if not chunk:
                break
            got += len(chunk)
        sender.join()
        csock.close()
        conn.close()
        time.sleep(0.2)
    finally:
        lsock.close()
        csock.close()
    return {"kind": "tcp", "client": client, "server": server, "dst_port": port, "payload_bytes": size}


def udp_burst(lab, family, client, server, port, size, count) -> dict:
    rsock = ns_socket(lab.sink, family, socket.SOCK_DGRAM)
    ssock = ns_socket(lab.src, family, socket.SOCK_DGRAM)
    try:
        rsock.bind((server, port))
        ssock.bind((client, 0))
        for _ in range(count):
            ssock.sendto(b"u" * size, (server, port))
            time.sleep(0.005)
    finally:
        rsock.close()
        ssock.close()
    return {"kind": "udp", "client": client, "server": server, "dst_port": port, "payload_bytes": size,
            "datagrams": count}


def ping(lab, client, server, count, size) -> dict:
    six = ":" in client
    lab.src.run("ping", *(["-6"] if six else []), "-c", str(count), "-i", "0.05", "-s", str(size), "-I", client,
                server)
    return {"kind": "icmpv6" if six else "icmp", "client": client, "server": server, "echo_requests": count,
            "payload_bytes": size}


def generate(lab: SfprobeLab) -> list[dict]:
    sent = []
    v4, v6 = socket.AF_INET, socket.AF_INET6
    # Heavy hitters first: bulk TCP of decreasing sizes, so top talkers are clear.
    for (fam, clients, servers) in ((v4, CLIENTS4, SERVERS4), (v6, CLIENTS6, SERVERS6)):
        for i, (client, size) in enumerate(zip(clients, (120_000, 60_000, 20_000))):
            sent.append(tcp_transfer(lab, fam, client, servers[i % 2], 8443 + i, size if fam == v4 else size // 2))
    for (fam, clients, servers) in ((v4, CLIENTS4, SERVERS4), (v6, CLIENTS6, SERVERS6)):
        for i, client in enumerate(clients):
            sent.append(udp_burst(lab, fam, client, servers[(i + 1) % 2], 5353 + i, (64, 512, 1200)[i], 30 - 8 * i))
    for client, server in zip(CLIENTS4 + CLIENTS6, SERVERS4 + SERVERS4[:1] + SERVERS6 + SERVERS6[:1]):
        sent.append(ping(lab, client, server, 10, 56))
    return sent


def _ip(b: bytes) -> str:
    a = ipaddress.IPv6Address(bytes(b))
    return str(a.ipv4_mapped or a)


def record() -> None:
    reason = available()
    if reason:
        sys.exit(f"cannot record: {reason}")
    from nxthdr.sflow import decode_datagram

    with SfprobeLab() as lab:
        # Datagrams wait in the collector socket until the traffic is over: room for all of them.
        lab.collector.setsockopt(socket.SOL_SOCKET, 33, 32 << 20)  # SO_RCVBUFFORCE (root)
        add_hosts(lab)
        lab.drain(quiet=3.0)
        counter = WireCounter(lab)
        time.sleep(0.5)
        sent = generate(lab)
        time.sleep(1.0)
        flows = counter.stop()
        # sfprobe checks its flush timer only when it samples a packet: the last batch waits
        # for one more. One packet after the timer expired flushes it and stays unsent itself
        # (the check below would catch it otherwise), so the capture ends with the counted traffic.
        time.sleep(2.0)
        udp_burst(lab, socket.AF_INET, SRC4, SINK4, 9999, 8, 1)
        datagrams = lab.drain(quiet=5.0, total=90.0)
        agent_ip = lab.agent_ip
    from nxthdr.sflow import encode_datagram
    from nxthdr.core.capnp_codec import load_schema

    rec = load_schema("sflow.capnp").SFlowFlowRecord
    sampled: collections.Counter = collections.Counter()
    for d in datagrams:
        for m in encode_datagram(decode_datagram(d), 0, "127.0.0.1", 1):
            with rec.from_bytes(m) as r:
                sampled[(_ip(r.srcIp), _ip(r.dstIp), r.protocol)] += 1
    samples = sum(sampled.values())
    packets = sum(f["packets"] for f in flows)
    wire = {(f["src"], f["dst"], f["protocol"]): f["packets"] for f in flows}
    version = subprocess.run(["pmacctd", "-V"], capture_output=True, text=True).stdout.splitlines()[0]
    if sampled != wire:
        for k in sorted(set(sampled) | set(wire)):
            if sampled.get(k, 0) != wire.get(k, 0):
                print(f"  {k}: sampled {sampled.get(k, 0)}, on the wire {wire.get(k, 0)}", file=sys.stderr)
        sys.exit(f"the agent sampled {samples} packets but {packets} crossed the wire: record again")
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / NAME).write_bytes(frame_datagrams(datagrams))
    manifest = {
        NAME: {
            "agent": version,
            "agent_address": agent_ip,
            "sampling_rate": 1,
            "format": "each sFlow v5 datagram prefixed by its length (4 bytes, big endian)",
            "datagrams": len(datagrams),
            "flow_samples": samples,
            "sent": sent,
            "wire": flows,
            "notes": [
                "`wire` counts every IP packet that crossed the sampled interface, read from the IP header by an "
                "AF_PACKET socket beside the agent (not by the sFlow decoder): bytes are IP lengths.",
                "With 1-in-1 sampling every packet is one flow sample, so the estimated traffic of the records "
                "(length x sampling rate) adds up to `wire` exactly.",
            ],
        }
    }
    (OUT / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n")
    print(f"{len(datagrams)} datagrams, {samples} samples, {packets} packets on the wire, "
          f"{(OUT / NAME).stat().st_size} bytes")


if __name__ == "__main__":
    record()
