"""Benchmark: BMP Route Monitoring decoding rate on one core.

Builds a synthetic session with the builder (one IPv4 prefix per Route
Monitoring message, typical attributes: ORIGIN, AS_PATH of 4-6 ASNs, NEXT_HOP,
MED, 2-3 communities), feeds it to BmpDecoder in 64 KiB chunks like a socket
reader would, and prints messages/s. The collector needs >= 150,000 prefixes/s.

    python3 -m bench.bmp_decode [--messages N] [--attribute-sets K] [--ipv6]

`--attribute-sets` is the number of distinct attribute sets in the stream (a
table dump repeats a few thousand of them); 0 makes every message distinct,
i.e. the attribute cache never hits.
"""

from __future__ import annotations

import argparse
import random
import time

from nxthdr.bmp import builder as b
from nxthdr.bmp.decoder import BmpDecoder
from nxthdr.bmp.events import NEED_DATA


def build_stream(messages: int, attribute_sets: int, ipv6: bool, seed: int = 1) -> bytes:


    def attributes(i: int) -> list[b.Attribute]:
        r = random.Random(i)
        path = [65001] + [r.randrange(1, 400000) for _ in range(r.randint(3, 5))]
        attrs = [b.origin(r.choice(["IGP", "INCOMPLETE"])), b.as_path(path)]
        if not ipv6:
            attrs.append(b.next_hop("192.0.2.1"))
        attrs.append(b.med(r.randrange(0, 1000)))
        attrs.append(b.communities(*[(65001, r.randrange(0, 65536)) for _ in range(r.randint(2, 3))]))
        return attrs

    out = [b.bmp_initiation("bench", "synthetic table dump")]
    t0 = 1_700_000_000 * 10**9
    for i in range(messages):
        peer = b.per_peer_header("192.0.2.1", 65001, timestamp_ns=t0 + (i // 5000) * 10**9)
        key = i % attribute_sets if attribute_sets else i + 1_000_000
        if ipv6:
            p = f"2001:db8:{i >> 16:x}:{i & 0xFFFF:x}::/64"
            upd = b.bgp_update(attributes=attributes(key), mp_reach=b.mp_reach([p], "2001:db8::1"))
        else:
            p = f"{10 + (i >> 16) % 200}.{(i >> 8) & 255}.{i & 255}.0/24"
            upd = b.bgp_update(attributes=attributes(key), nlri=[p])
        out.append(b.bmp_route_monitoring(peer, upd))

    return b"".join(out)


def run(stream: bytes, chunk: int = 65536) -> tuple[int, float]:
    decoder = BmpDecoder()
    count = 0
    start = time.perf_counter()
    for offset in range(0, len(stream), chunk):
        decoder.receive_data(stream[offset : offset + chunk])
        next_event = decoder.next_event
        while next_event() is not NEED_DATA:
            count += 1
    return count, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--messages", type=int, default=200_000)
    parser.add_argument("--attribute-sets", type=int, default=2000)
    parser.add_argument("--ipv6", action="store_true")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    stream = build_stream(args.messages, args.attribute_sets, args.ipv6)
    best = None
    for _ in range(args.repeat):
        count, elapsed = run(stream)
        best = elapsed if best is None else min(best, elapsed)
    rate = count / best
    family = "IPv6 (MP_REACH)" if args.ipv6 else "IPv4"
    print(
        f"{count} messages ({family}, {args.attribute_sets or 'all distinct'} attribute sets, "
        f"{len(stream) / count:.0f} B/message): {rate:,.0f} messages/s, {1e6 / rate:.2f} µs/message"
    )


if __name__ == "__main__":
    main()
