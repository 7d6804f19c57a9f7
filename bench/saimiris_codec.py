"""Throughput of the saimiris sans-I/O codecs: probes built, replies parsed and encoded per second.

Run from the repository root: `python3 bench/saimiris_codec.py [--runs N] [--count N]`.
Each figure is the median of several runs over the same mixed workload, so a
noisy neighbour during one run does not move it much.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from nxthdr.saimiris.probe import Probe, build_probe_packet, ip16  # noqa: E402
from nxthdr.saimiris.reply import encode_reply, parse_reply  # noqa: E402

SRC4, SRC6 = ip16("192.0.2.1"), ip16("2001:db8:1::1")
ROUTER4, ROUTER6 = ip16("198.51.100.1"), ip16("2001:db8:ffff::1")


def _probes(count: int) -> list[tuple[Probe, bytes]]:
    kinds = [("udp", "8.8.8.8", SRC4), ("icmp", "8.8.8.8", SRC4), ("udp", "2001:4860:4860::8888", SRC6),
             ("icmpv6", "2001:4860:4860::8888", SRC6)]
    out = []
    for i in range(count):
        protocol, dst, src = kinds[i % 4]
        out.append((Probe(ip16(dst), 24000 + i % 1000, 33434, 1 + i % 32, protocol), src))
    return out


def _time_exceeded(packet: bytes) -> bytes:
    # A router's time exceeded quoting the probe (checksums left at 0: the parser does not verify them).
    if packet[0] >> 4 == 4:
        icmp = bytes((11, 0, 0, 0, 0, 0, 0, 0)) + packet[:28]
        total = 20 + len(icmp)
        return bytes((0x45, 0)) + total.to_bytes(2, "big") + bytes(4) + bytes((250, 1, 0, 0)) + ROUTER4[12:] \
            + packet[12:16] + icmp
    icmp = bytes((3, 0, 0, 0, 0, 0, 0, 0)) + packet
    return bytes((0x60, 0, 0, 0)) + len(icmp).to_bytes(2, "big") + bytes((58, 60)) + ROUTER6 + packet[8:24] + icmp


def _rate(fn, items) -> float:
    start = time.perf_counter()
    fn(items)
    return len(items) / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--count", type=int, default=50_000)
    args = parser.parse_args()

    probes = _probes(args.count)
    now = time.time_ns() // 100_000

    def build(items):
        for probe, src in items:
            build_probe_packet(probe, src, 1, now)

    packets = [_time_exceeded(build_probe_packet(p, s, 1, now)) for p, s in probes]

    def parse(items):
        for packet in items:
            parse_reply(packet, now_01ms=now, time_received_ns=0, agent_id="bench")

    replies = [parse_reply(p, now_01ms=now, time_received_ns=0, agent_id="bench") for p in packets]

    def encode(items):
        for reply in items:
            encode_reply(reply)

    for name, fn, items in (("probes built", build, probes), ("replies parsed", parse, packets),
                            ("replies encoded (capnp)", encode, replies)):
        rates = [_rate(fn, items) for _ in range(args.runs)]
        print(f"{name:>24}: {statistics.median(rates):>10,.0f} /s  (median of {args.runs} runs of {len(items):,})")


if __name__ == "__main__":
    main()
